//! Opening an ELF: validation, symbols, classification.
//!
//! A [`Binary`] owns the file's bytes (`Arc<[u8]>`) and everything gdbx
//! needs from the ELF headers, parsed once. The DWARF is loaded lazily on
//! the first [`Binary::debug_info`] call, so tools that need only symbols
//! pay nothing for it.

use crate::dwarf::DebugInfo;
use crate::{Error, Result};
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, Object, ObjectSection, ObjectSymbol, SectionKind, SymbolSection};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// What a binary is, which decides the default bootstrap plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Flavor {
    /// A program on this project's runtime: `runtime.tlsg` or
    /// `_rt0_amd64`, plus `runtime.schedinit` and `main.main`, and no Go build info.
    Ours,
    /// A Go binary; `version` is read from the binary (`go1.19.8`), when found.
    Go { version: Option<String> },
    /// Neither.
    Other,
}

impl Flavor {
    /// A short human description.
    pub fn describe(&self) -> String {
        match self {
            Flavor::Ours => "program on the gdbx runtime".to_string(),
            Flavor::Go { version: Some(v) } => format!("Go binary ({v})"),
            Flavor::Go { version: None } => "Go binary (version unknown)".to_string(),
            Flavor::Other => "neither a gdbx-runtime program nor a Go binary".to_string(),
        }
    }
}

/// What kind of thing a symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolKind {
    /// Code.
    Text,
    /// Data (initialised or not).
    Data,
    /// A thread-local (its value is the offset in the TLS block).
    Tls,
    /// Anything else.
    Other,
}

/// One defined symbol from `.symtab` (or `.dynsym` when there is no `.symtab`).
#[derive(Debug, Clone, Serialize)]
pub struct Symbol {
    /// The name as written in the ELF (not demangled).
    pub name: String,
    /// File address (or TLS offset for [`SymbolKind::Tls`]).
    pub address: u64,
    /// `st_size`; 0 when the assembler did not record one.
    pub size: u64,
    /// What it names.
    pub kind: SymbolKind,
}

/// A file's bytes: memory-mapped when opened from a path (nothing is read
/// until touched, so a 40 MB binary costs only the pages gdbx looks at), or
/// owned. The file must not be rewritten while it is mapped.
pub struct FileBytes(Backing);

enum Backing {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Backing::Map(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

impl From<Vec<u8>> for FileBytes {
    fn from(v: Vec<u8>) -> FileBytes {
        FileBytes(Backing::Owned(v))
    }
}

/// An opened, validated x86-64 ELF binary.
pub struct Binary {
    path: PathBuf,
    data: Arc<FileBytes>,
    entry: u64,
    pie: bool,
    symbols: Vec<Symbol>,
    by_name: HashMap<String, usize>,
    /// The code symbols, sorted by (address, size descending): the one
    /// address-to-symbol lookup of the workspace ([`Binary::symbol_at`]).
    text_by_addr: Vec<usize>,
    flavor: Flavor,
    has_dwarf: bool,
    tls: Option<(u64, u64)>,
    debug: OnceLock<std::result::Result<DebugInfo, String>>,
}

impl std::fmt::Debug for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binary")
            .field("path", &self.path)
            .field("entry", &self.entry)
            .field("pie", &self.pie)
            .field("flavor", &self.flavor)
            .field("symbols", &self.symbols.len())
            .field("has_dwarf", &self.has_dwarf)
            .finish()
    }
}

const EM_X86_64: u16 = 62;

impl Binary {
    /// Reads and validates `path`: it must be a complete 64-bit x86-64 ELF
    /// executable with a symbol table. DWARF is optional (see
    /// [`Binary::has_dwarf`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Binary> {
        let path = path.as_ref().to_path_buf();
        let meta = std::fs::metadata(&path).map_err(|e| Error::Io(path.clone(), e))?;
        if meta.is_dir() {
            return Err(Error::IsDirectory(path));
        }
        let file = std::fs::File::open(&path).map_err(|e| Error::Io(path.clone(), e))?;
        let data = if meta.len() == 0 {
            FileBytes::from(Vec::new())
        } else {
            // SAFETY: the map is read-only; gdbx's contract (documented on
            // FileBytes) is that binaries are not rewritten while open.
            match unsafe { memmap2::Mmap::map(&file) } {
                Ok(m) => FileBytes(Backing::Map(m)),
                Err(_) => std::fs::read(&path)
                    .map_err(|e| Error::Io(path.clone(), e))?
                    .into(),
            }
        };
        Binary::from_bytes(path, data)
    }

    /// Like [`Binary::open`], for bytes already in memory; `path` is only
    /// used in messages.
    pub fn from_bytes(path: PathBuf, data: impl Into<FileBytes>) -> Result<Binary> {
        let data = Arc::new(data.into());
        check_ident(&path, &data)?;
        let elf = ElfFile64::<Endianness>::parse(&data[..])
            .map_err(|e| Error::Corrupt(path.clone(), e.to_string()))?;
        let endian = elf.endian();
        let header = elf.elf_header();
        let machine = header.e_machine(endian).0;
        if machine != EM_X86_64 {
            return Err(Error::Unsupported(
                path,
                format!(
                    "ELF for {} (e_machine {machine}), gdbx supports x86-64 only",
                    machine_name(machine)
                ),
            ));
        }
        check_extents(&path, &elf, data.len() as u64)?;
        let pie = header.e_type(endian) == object::elf::ET_DYN;
        let entry = header.e_entry(endian);

        let mut symbols = Vec::new();
        let mut source: Box<
            dyn Iterator<Item = object::read::elf::ElfSymbol64<'_, '_, Endianness>>,
        > = Box::new(elf.symbols());
        if elf.symbols().next().is_none() {
            source = Box::new(elf.dynamic_symbols());
        }
        for sym in source {
            let SymbolSection::Section(index) = sym.section() else {
                continue;
            };
            let Ok(name) = sym.name() else { continue };
            if name.is_empty() {
                continue;
            }
            let st_type = sym.elf_symbol().st_type();
            let kind = if st_type == object::elf::STT_TLS {
                SymbolKind::Tls
            } else {
                match elf.section_by_index(index).map(|s| s.kind()) {
                    Ok(SectionKind::Text) => SymbolKind::Text,
                    Ok(
                        SectionKind::Data
                        | SectionKind::ReadOnlyData
                        | SectionKind::ReadOnlyDataWithRel
                        | SectionKind::UninitializedData,
                    ) => SymbolKind::Data,
                    _ => SymbolKind::Other,
                }
            };
            symbols.push(Symbol {
                name: name.to_string(),
                address: sym.address(),
                size: sym.size(),
                kind,
            });
        }
        if symbols.is_empty() {
            if let Some(info) = go_build_info(&elf) {
                return Err(Error::GoNoSymbols {
                    version: go_version(&elf, &HashMap::new(), &[]),
                    ldflags: build_setting(info, "-ldflags"),
                    path,
                });
            }
            return Err(Error::NoSymbols(path));
        }
        symbols.extend(plt_symbols(&elf));
        let mut by_name: HashMap<String, usize> = HashMap::with_capacity(symbols.len());
        for (i, s) in symbols.iter().enumerate() {
            // Keep the first definition; prefer code over anything else.
            match by_name.get(&s.name) {
                Some(&j) if symbols[j].kind == SymbolKind::Text || s.kind != SymbolKind::Text => {}
                _ => {
                    by_name.insert(s.name.clone(), i);
                }
            }
        }
        let mut text_by_addr: Vec<usize> = (0..symbols.len())
            .filter(|&i| symbols[i].kind == SymbolKind::Text && symbols[i].address != 0)
            .collect();
        text_by_addr.sort_by_key(|&i| (symbols[i].address, std::cmp::Reverse(symbols[i].size)));
        let has_dwarf = elf
            .section_by_name(".debug_info")
            .is_some_and(|s| s.size() > 0);
        let tls = elf
            .elf_program_headers()
            .iter()
            .find(|ph| ph.p_type(endian) == object::elf::PT_TLS)
            .map(|ph| (ph.p_memsz(endian), ph.p_align(endian)));

        let go_version = if elf.section_by_name(".go.buildinfo").is_some()
            || by_name.contains_key("runtime.buildVersion")
        {
            Some(go_version(&elf, &by_name, &symbols))
        } else {
            None
        };
        let flavor = match go_version {
            Some(version) => Flavor::Go { version },
            None => {
                let has = |n: &str| by_name.contains_key(n);
                if (has("runtime.tlsg") || has("_rt0_amd64"))
                    && has("runtime.schedinit")
                    && has("main.main")
                {
                    Flavor::Ours
                } else {
                    Flavor::Other
                }
            }
        };
        drop(elf);
        Ok(Binary {
            path,
            data,
            entry,
            pie,
            symbols,
            by_name,
            text_by_addr,
            flavor,
            has_dwarf,
            tls,
            debug: OnceLock::new(),
        })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Parses the ELF again (cheap: headers only) for callers that need
    /// `object`'s full API.
    pub fn object(&self) -> ElfFile64<'_, Endianness> {
        ElfFile64::parse(&self.data[..]).expect("validated in Binary::open")
    }

    /// `e_entry`, a file address.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// `ET_DYN`: position independent, loaded at a bias chosen at run time.
    pub fn is_pie(&self) -> bool {
        self.pie
    }

    /// What kind of program this is.
    pub fn flavor(&self) -> &Flavor {
        &self.flavor
    }

    /// Whether the file has a non-empty `.debug_info` (compressed or not).
    pub fn has_dwarf(&self) -> bool {
        self.has_dwarf
    }

    /// Every defined symbol.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The symbol named exactly `name`.
    pub fn symbol(&self, name: &str) -> Option<&Symbol> {
        self.by_name.get(name).map(|&i| &self.symbols[i])
    }

    /// The code symbol containing the file address `addr` (by `st_size`;
    /// for a symbol without a size, the nearest one below that is not the
    /// last). A binary search
    /// over the sorted code symbols; among symbols that start at the same
    /// address, the largest.
    pub fn symbol_at(&self, addr: u64) -> Option<&Symbol> {
        let idx = &self.text_by_addr;
        let end = idx.partition_point(|&i| self.symbols[i].address <= addr);
        // Nested or aliased symbols: look back over a few that start at or
        // below `addr` for the nearest one that still covers it.
        // A symbol without a size (hand-written assembly) covers up to the
        // next symbol; the last one only its own address.
        let next = idx.get(end).map(|&n| self.symbols[n].address);
        let mut best: Option<&Symbol> = None;
        for &i in idx[..end].iter().rev().take(16) {
            let s = &self.symbols[i];
            if best.is_some_and(|b| b.address != s.address) {
                break;
            }
            let covers = if s.size == 0 {
                addr == s.address || next.is_some()
            } else {
                addr < s.address + s.size
            };
            if covers {
                best = Some(s);
            }
        }
        best
    }

    /// For a thread-local symbol, its offset from the thread pointer
    /// (`%fs` base) in the x86-64 local-exec model: `st_value - round_up(PT_TLS.p_memsz, p_align)`.
    pub fn tls_tpoff(&self, name: &str) -> Option<i64> {
        let sym = self.symbol(name).filter(|s| s.kind == SymbolKind::Tls)?;
        let (memsz, align) = self.tls?;
        let align = align.max(1);
        let block = memsz.div_ceil(align) * align;
        Some(sym.address as i64 - block as i64)
    }

    /// The DWARF, loaded (and decompressed) on first use.
    pub fn debug_info(&self) -> Result<&DebugInfo> {
        if !self.has_dwarf {
            return Err(Error::Dwarf(format!(
                "{}: no DWARF debug info",
                self.path.display()
            )));
        }
        self.debug
            .get_or_init(|| DebugInfo::load(&self.data, &self.object()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Dwarf(e.clone()))
    }

    /// Reads `len` bytes at file address `addr` from the section holding them.
    pub fn read_at(&self, addr: u64, len: u64) -> Option<Vec<u8>> {
        read_vaddr(&self.object(), addr, len)
    }
}

/// e_ident checks done before `object` parses anything, so the messages
/// are precise: not ELF, 32-bit, big-endian, too short.
fn check_ident(path: &Path, data: &[u8]) -> Result<()> {
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
        return Err(Error::NotElf(path.to_path_buf()));
    }
    if data.len() < 6 {
        return Err(Error::Corrupt(
            path.to_path_buf(),
            format!("only {} bytes, shorter than an ELF header", data.len()),
        ));
    }
    match data[4] {
        2 => {}
        1 => {
            return Err(Error::Unsupported(
                path.to_path_buf(),
                "32-bit ELF (ELFCLASS32), gdbx supports x86-64 ELF64 only".into(),
            ));
        }
        c => {
            return Err(Error::Corrupt(
                path.to_path_buf(),
                format!("bad ELF class {c}"),
            ));
        }
    }
    if data[5] != 1 {
        return Err(Error::Unsupported(
            path.to_path_buf(),
            "big-endian ELF, gdbx supports x86-64 only".into(),
        ));
    }
    if data.len() < 64 {
        return Err(Error::Corrupt(
            path.to_path_buf(),
            format!("only {} bytes, shorter than an ELF header", data.len()),
        ));
    }
    Ok(())
}

/// Every section and segment must lie inside the file: catches truncation
/// with a message naming what is cut off.
fn check_extents(path: &Path, elf: &ElfFile64<'_, Endianness>, len: u64) -> Result<()> {
    let endian = elf.endian();
    for ph in elf.elf_program_headers() {
        let end = ph.p_offset(endian).saturating_add(ph.p_filesz(endian));
        if end > len {
            return Err(Error::Corrupt(
                path.to_path_buf(),
                format!("a segment ends at byte {end}, the file has {len}"),
            ));
        }
    }
    let table = elf.elf_section_table();
    for sh in table.iter() {
        if sh.sh_type(endian) == object::elf::SHT_NOBITS {
            continue;
        }
        let end = sh.sh_offset(endian).saturating_add(sh.sh_size(endian));
        if end > len {
            let name = table
                .section_name(endian, sh)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default();
            return Err(Error::Corrupt(
                path.to_path_buf(),
                format!("section {name} ends at byte {end}, the file has {len}"),
            ));
        }
    }
    Ok(())
}

fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "i386",
        40 => "ARM",
        183 => "AArch64",
        243 => "RISC-V",
        8 => "MIPS",
        20 | 21 => "PowerPC",
        22 => "s390",
        _ => "other",
    }
}

fn read_vaddr(elf: &ElfFile64<'_, Endianness>, addr: u64, len: u64) -> Option<Vec<u8>> {
    for s in elf.sections() {
        let (lo, size) = (s.address(), s.size());
        if lo != 0 && addr >= lo && addr.checked_add(len)? <= lo + size {
            let data = s.uncompressed_data().ok()?;
            let off = (addr - lo) as usize;
            return data.get(off..off + len as usize).map(|b| b.to_vec());
        }
    }
    None
}

/// The Go version from `.go.buildinfo` (Go 1.13+ layout; inline strings
/// since 1.18), else from the `runtime.buildVersion` string header.
fn go_version(
    elf: &ElfFile64<'_, Endianness>,
    by_name: &HashMap<String, usize>,
    symbols: &[Symbol],
) -> Option<String> {
    if let Some(data) = go_build_info(elf) {
        let ptr_size = data[14] as usize;
        let flags = data[15];
        if flags & 2 != 0 {
            let (len, n) = uvarint(&data[32..])?;
            let start = 32 + n;
            let s = data.get(start..start + len as usize)?;
            return Some(String::from_utf8_lossy(s).into_owned());
        } else if ptr_size == 8 {
            let hdr = u64::from_le_bytes(data[16..24].try_into().ok()?);
            return read_go_string(elf, hdr);
        }
    }
    let sym = &symbols[*by_name.get("runtime.buildVersion")?];
    read_go_string(elf, sym.address)
}

/// The `.go.buildinfo` section, when it has Go's magic.
fn go_build_info<'a>(elf: &ElfFile64<'a, Endianness>) -> Option<&'a [u8]> {
    const MAGIC: &[u8] = b"\xff Go buildinf:";
    elf.section_by_name(".go.buildinfo")
        .and_then(|s| s.data().ok())
        .filter(|d| d.len() >= 32 && d.starts_with(MAGIC))
}

/// A `build\tKEY=VALUE` setting of the module information inside the
/// build info (what `go version -m` prints), e.g. `-ldflags`.
fn build_setting(info: &[u8], key: &str) -> Option<String> {
    let text = String::from_utf8_lossy(info);
    let prefix = format!("build\t{key}=");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
}

fn read_go_string(elf: &ElfFile64<'_, Endianness>, header_addr: u64) -> Option<String> {
    let hdr = read_vaddr(elf, header_addr, 16)?;
    let ptr = u64::from_le_bytes(hdr[..8].try_into().ok()?);
    let len = u64::from_le_bytes(hdr[8..].try_into().ok()?);
    if len == 0 || len > 256 {
        return None;
    }
    let s = read_vaddr(elf, ptr, len)?;
    Some(String::from_utf8_lossy(&s).into_owned())
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((x, i + 1));
        }
    }
    None
}

/// gdb's `NAME@plt` symbols: one per stub of the procedure linkage table,
/// which the symbol table leaves unnamed (a thread stopped on its way into
/// libc's `write` is in `write@plt`). As BFD finds them: each stub jumps
/// through a GOT slot (`jmp *disp32(%rip)`, `ff 25`, after an `endbr64`
/// or a `bnd` prefix in some layouts), and the dynamic relocation of that
/// slot (`R_X86_64_JUMP_SLOT` in `.rela.plt`, `R_X86_64_GLOB_DAT` in
/// `.rela.dyn` for `.plt.got`) names the symbol. The lazy-binding stub at
/// the head of `.plt` jumps through a slot no relocation names, and gets
/// no symbol.
fn plt_symbols(elf: &ElfFile64<'_, Endianness>) -> Vec<Symbol> {
    use object::ObjectSymbolTable;
    const R_X86_64_GLOB_DAT: u32 = 6;
    const R_X86_64_JUMP_SLOT: u32 = 7;
    let Some(dynsyms) = elf.dynamic_symbol_table() else {
        return Vec::new();
    };
    let mut slot_name: HashMap<u64, String> = HashMap::new();
    for name in [".rela.plt", ".rela.dyn"] {
        let Some(data) = elf.section_by_name(name).and_then(|s| s.data().ok()) else {
            continue;
        };
        for rela in data.chunks_exact(24) {
            let word = |i: usize| u64::from_le_bytes(rela[i..i + 8].try_into().unwrap());
            let (offset, info) = (word(0), word(8));
            let (kind, index) = (info as u32, (info >> 32) as usize);
            if kind != R_X86_64_JUMP_SLOT && kind != R_X86_64_GLOB_DAT || index == 0 {
                continue;
            }
            if let Ok(sym) = dynsyms.symbol_by_index(object::SymbolIndex(index))
                && let Ok(n) = sym.name()
                && !n.is_empty()
            {
                slot_name.insert(offset, n.to_string());
            }
        }
    }
    let mut out = Vec::new();
    if slot_name.is_empty() {
        return out;
    }
    for (name, default_size) in [(".plt", 16), (".plt.sec", 16), (".plt.got", 8)] {
        let Some(section) = elf.section_by_name(name) else {
            continue;
        };
        let Ok(code) = section.data() else { continue };
        let entsize = match section.elf_section_header().sh_entsize(elf.endian()) {
            n @ (8 | 16) => n as usize,
            _ => default_size,
        };
        for (k, stub) in code.chunks_exact(entsize).enumerate() {
            let addr = section.address() + (k * entsize) as u64;
            // The jump through the GOT within the stub's first bytes.
            let Some(at) = (0..stub.len().saturating_sub(5).min(9))
                .find(|&i| stub[i] == 0xff && stub[i + 1] == 0x25)
            else {
                continue;
            };
            let disp = i32::from_le_bytes(stub[at + 2..at + 6].try_into().unwrap());
            let slot = (addr + at as u64 + 6).wrapping_add_signed(disp as i64);
            if let Some(n) = slot_name.get(&slot) {
                out.push(Symbol {
                    name: format!("{n}@plt"),
                    address: addr,
                    size: entsize as u64,
                    kind: SymbolKind::Text,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8]) -> String {
        Binary::from_bytes("x".into(), bytes.to_vec())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn rejects_non_elf_and_short_files() {
        assert_eq!(err(b"#!/bin/sh\n"), "x: not an ELF file");
        assert_eq!(err(b""), "x: not an ELF file");
        assert!(err(b"\x7fELF\x02\x01\x01").contains("shorter than an ELF header"));
    }

    #[test]
    fn rejects_32_bit() {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1;
        h[5] = 1;
        assert!(err(&h).contains("32-bit ELF"), "{}", err(&h));
    }

    /// Truncations and corruptions of a real ELF (this test binary) give an
    /// error or a binary, never a panic; resolving a plan on whatever opens
    /// never panics either.
    #[test]
    fn corrupt_inputs_never_panic() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut opened = 0;
        for i in 0..64 {
            // Truncated at an arbitrary point (the headers, the middle, near the end).
            let cut = match i {
                0..=15 => i * 8,
                _ => (rand() % exe.len() as u64) as usize,
            };
            let r = Binary::from_bytes("cut".into(), exe[..cut].to_vec());
            assert!(
                r.is_err(),
                "a file cut at {cut} of {} bytes opened",
                exe.len()
            );
            // Random bytes overwritten in the first 4 KiB (headers, tables).
            let mut bytes = exe.clone();
            for _ in 0..8 {
                let at = 16 + (rand() % 4000) as usize;
                bytes[at] = rand() as u8;
            }
            if let Ok(bin) = Binary::from_bytes("flipped".into(), bytes) {
                // Resolving (DWARF included) is slow in a debug build: a few suffice.
                if opened < 3 {
                    let _ = crate::plan::resolve(&bin, &crate::plan::Plan::ours());
                }
                opened += 1;
            }
        }
    }

    #[test]
    fn uvarint_decodes() {
        assert_eq!(uvarint(&[0x08]), Some((8, 1)));
        assert_eq!(uvarint(&[0x80, 0x01]), Some((128, 2)));
        assert_eq!(uvarint(&[0x80]), None);
    }
}
