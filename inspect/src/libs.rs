//! The other files a process has mapped (libc, the dynamic loader, a cgo
//! program's shared libraries): which one holds a code address, and the
//! symbol there, so that a frame in C code outside the binary is named
//! (`read` in `libc.so.6`) instead of `??`.
//!
//! The mappings come from `/proc/PID/maps` for a live process and from the
//! `NT_FILE` note for a core (the kernel and gdb's `gcore` both write it).
//! Each library is opened from its path on this machine the first time one
//! of its addresses is asked about; its symbols are read with the same ELF
//! reader (and the same sorted lookup) as the binary's own, and its call
//! frame information serves the unwinder ([`crate::unwind`]) for the C
//! frames in it. A library whose build id differs from the one its mapping
//! in the process or core shows ([`Libraries::check_build_ids`]: another
//! version installed since) is not used.

use std::cell::{OnceCell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use object::Object;
use object::read::elf::{FileHeader, ProgramHeader};

use crate::fastmap::FastMap;
use crate::mem::Memory;
use crate::unwind::Cfi;

/// One file-backed mapping: `[lo, hi)` shows the file from byte `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMap {
    pub lo: u64,
    pub hi: u64,
    pub offset: u64,
    pub path: String,
}

/// The mappings of `/proc/PID/maps` text that show a file (a path that
/// starts with `/`), executable or not.
pub fn parse_proc_maps(text: &str) -> Vec<FileMap> {
    text.lines()
        .filter_map(|l| {
            // lo-hi perms offset dev inode path
            let mut f = l.splitn(6, ' ');
            let (range, _perms, offset, _dev, _inode) =
                (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
            let path = f.next()?.trim_start();
            let (lo, hi) = range.split_once('-')?;
            if !path.starts_with('/') {
                return None;
            }
            Some(FileMap {
                lo: u64::from_str_radix(lo, 16).ok()?,
                hi: u64::from_str_radix(hi, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
                path: path.trim_end_matches(" (deleted)").to_string(),
            })
        })
        .collect()
}

/// The mappings of a core's `NT_FILE` note: a count and the page size,
/// then (start, end, offset in pages) for each, then the file names, each
/// ending in a NUL.
pub fn parse_nt_file(desc: &[u8]) -> Vec<FileMap> {
    let word = |i: usize| -> Option<u64> {
        desc.get(i * 8..i * 8 + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    let (Some(count), Some(page)) = (word(0), word(1)) else {
        return Vec::new();
    };
    let count = count as usize;
    let Some(names) = desc.get((2 + 3 * count) * 8..) else {
        return Vec::new();
    };
    names
        .split(|&b| b == 0)
        .take(count)
        .enumerate()
        .filter_map(|(i, name)| {
            Some(FileMap {
                lo: word(2 + 3 * i)?,
                hi: word(3 + 3 * i)?,
                offset: word(4 + 3 * i)?.checked_mul(page)?,
                path: String::from_utf8_lossy(name).into_owned(),
            })
        })
        .collect()
}

/// A function in a library: its name (as its ELF writes it), its run-time
/// start and the library's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibSymbol {
    pub name: Rc<str>,
    pub start: u64,
    pub path: Rc<str>,
}

/// One opened library: its symbols and the program headers that turn a
/// file offset into its addresses.
pub(crate) struct Opened {
    bin: debuginfo::Binary,
    /// (p_offset, p_filesz, p_vaddr) of each PT_LOAD.
    loads: Vec<(u64, u64, u64)>,
    path: Rc<str>,
    /// Its call frame information, indexed on first use.
    cfi: OnceCell<Cfi>,
}

impl Opened {
    fn new(bin: debuginfo::Binary, path: &str) -> Opened {
        Opened {
            loads: load_segments(bin.data()),
            bin,
            path: Rc::from(path),
            cfi: OnceCell::new(),
        }
    }

    /// Its `.eh_frame` and `.debug_frame`, in its own (file) addresses.
    pub(crate) fn cfi(&self) -> &Cfi {
        self.cfi.get_or_init(|| Cfi::of(&self.bin))
    }

    /// Reads its bytes at the file address `addr` from the file (the code a
    /// core file leaves out); false where no PT_LOAD holds them all.
    pub(crate) fn read_file(&self, addr: u64, buf: &mut [u8]) -> bool {
        let n = buf.len() as u64;
        let Some(&(off, _, vaddr)) = self
            .loads
            .iter()
            .find(|&&(_, sz, v)| v <= addr && addr + n <= v + sz)
        else {
            return false;
        };
        let start = (off + (addr - vaddr)) as usize;
        match self.bin.data().get(start..start + buf.len()) {
            Some(b) => {
                buf.copy_from_slice(b);
                true
            }
            None => false,
        }
    }
}

/// The files mapped into a process, other than its binary.
#[derive(Default)]
pub struct Libraries {
    /// Sorted by `lo`.
    maps: Vec<FileMap>,
    /// By path; None: it could not be opened (gone, not an ELF, another
    /// build than the one mapped).
    opened: RefCell<FastMap<String, Option<Rc<Opened>>>>,
    /// By path: the build id the process's (or core's) copy of its ELF
    /// header shows, where it could be read.
    build_ids: FastMap<String, Vec<u8>>,
}

impl Libraries {
    /// The mappings `maps`, leaving out those of the program's own binary
    /// `exe` (its symbols are the main symboliser's).
    pub fn new(mut maps: Vec<FileMap>, exe: &Path) -> Libraries {
        let exe = std::fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
        maps.retain(|m| {
            let p = PathBuf::from(&m.path);
            p != exe && std::fs::canonicalize(&p).map_or(true, |c| c != exe)
        });
        maps.sort_by_key(|m| m.lo);
        Libraries {
            maps,
            opened: RefCell::new(FastMap::default()),
            build_ids: FastMap::default(),
        }
    }

    /// Reads the build id of each library from its ELF header as mapped in
    /// `mem` (a live process, or a core: the kernel and gdb's gcore write
    /// the first page of each file mapping): a file on this machine with
    /// another build id is then not used (its symbols and call frame
    /// information would be another version's). A library whose header is
    /// not in `mem` is used unchecked.
    pub fn check_build_ids(mut self, mem: &dyn Memory) -> Libraries {
        for m in self.maps.iter().filter(|m| m.offset == 0) {
            if self.build_ids.contains_key(&m.path) {
                continue;
            }
            let len = (m.hi - m.lo).min(4096) as usize;
            if let Ok(page) = mem.bytes(m.lo, len)
                && let Some(id) = header_build_id(&page)
            {
                self.build_ids.insert(m.path.clone(), id);
            }
        }
        self
    }

    /// Whether no file is mapped (the libraries are not known).
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Adds the vDSO, whose ELF `image` the kernel mapped at `base` (read
    /// from the process's memory: it is no file).
    pub fn with_vdso(mut self, base: u64, image: Vec<u8>) -> Libraries {
        const NAME: &str = "[vdso]";
        let len = image.len() as u64;
        let Ok(bin) = debuginfo::Binary::from_bytes(PathBuf::from(NAME), image) else {
            return self;
        };
        self.opened
            .borrow_mut()
            .insert(NAME.to_string(), Some(Rc::new(Opened::new(bin, NAME))));
        self.maps.push(FileMap {
            lo: base,
            hi: base + len,
            offset: 0,
            path: NAME.to_string(),
        });
        self.maps.sort_by_key(|m| m.lo);
        self
    }

    /// The path of the mapped file that holds the run-time address `pc`.
    pub fn path_of(&self, pc: u64) -> Option<Rc<str>> {
        self.map_of(pc).map(|m| Rc::from(m.path.as_str()))
    }

    fn map_of(&self, pc: u64) -> Option<&FileMap> {
        let i = self.maps.partition_point(|m| m.lo <= pc).checked_sub(1)?;
        let m = &self.maps[i];
        (pc < m.hi).then_some(m)
    }

    /// The function of a mapped library that holds the run-time address
    /// `pc`; None also where the library's symbols do not cover it (a
    /// local function of a stripped libc: only [`Libraries::path_of`]).
    pub fn symbol(&self, pc: u64) -> Option<LibSymbol> {
        let (lib, file_addr) = self.locate(pc)?;
        let s = lib.bin.symbol_at(file_addr)?;
        Some(LibSymbol {
            name: Rc::from(s.name.as_str()),
            start: pc - (file_addr - s.address),
            path: lib.path.clone(),
        })
    }

    /// The library that holds the run-time address `pc`, and `pc` as an
    /// address of that file.
    pub(crate) fn locate(&self, pc: u64) -> Option<(Rc<Opened>, u64)> {
        let m = self.map_of(pc)?;
        let lib = self.open(&m.path)?;
        // The file offset of `pc`, then its address in the file's own terms.
        let off = pc - m.lo + m.offset;
        let &(p_off, _, p_vaddr) = lib
            .loads
            .iter()
            .find(|&&(o, sz, _)| o <= off && off < o + sz.max(1))?;
        Some((lib, p_vaddr + (off - p_off)))
    }

    fn open(&self, path: &str) -> Option<Rc<Opened>> {
        if let Some(o) = self.opened.borrow().get(path) {
            return o.clone();
        }
        let want = self.build_ids.get(path);
        let opened = debuginfo::Binary::open(path)
            .ok()
            .filter(|bin| {
                want.is_none_or(|w| bin.object().build_id().ok().flatten() == Some(w.as_slice()))
            })
            .map(|bin| Rc::new(Opened::new(bin, path)));
        self.opened
            .borrow_mut()
            .insert(path.to_string(), opened.clone());
        opened
    }
}

/// (p_offset, p_filesz, p_vaddr) of the PT_LOAD segments of an ELF file.
fn load_segments(data: &[u8]) -> Vec<(u64, u64, u64)> {
    pt_loads(data)
        .into_iter()
        .map(|ph| (ph.offset, ph.filesz, ph.vaddr))
        .collect()
}

/// One PT_LOAD program header of an ELF file.
pub(crate) struct PtLoad {
    pub(crate) offset: u64,
    pub(crate) filesz: u64,
    pub(crate) vaddr: u64,
    pub(crate) memsz: u64,
    /// PF_X: the segment holds code.
    pub(crate) exec: bool,
}

/// The PT_LOAD segments of an ELF file (none when it cannot be parsed):
/// the one reader of program headers for the libraries and the unwinder.
pub(crate) fn pt_loads(data: &[u8]) -> Vec<PtLoad> {
    let Ok(elf) = object::elf::FileHeader64::<object::Endianness>::parse(data) else {
        return Vec::new();
    };
    let Ok(endian) = elf.endian() else {
        return Vec::new();
    };
    let Ok(phdrs) = elf.program_headers(endian, data) else {
        return Vec::new();
    };
    phdrs
        .iter()
        .filter(|ph| ph.p_type(endian) == object::elf::PT_LOAD)
        .map(|ph| PtLoad {
            offset: ph.p_offset(endian),
            filesz: ph.p_filesz(endian),
            vaddr: ph.p_vaddr(endian),
            memsz: ph.p_memsz(endian),
            exec: ph.p_flags(endian).0 & object::elf::PF_X.0 != 0,
        })
        .collect()
}

/// The GNU build id in the notes of an ELF file's first bytes `page`.
fn header_build_id(page: &[u8]) -> Option<Vec<u8>> {
    let elf = object::elf::FileHeader64::<object::Endianness>::parse(page).ok()?;
    let endian = elf.endian().ok()?;
    for ph in elf.program_headers(endian, page).ok()? {
        let Ok(Some(mut notes)) = ph.notes(endian, page) else {
            continue;
        };
        while let Ok(Some(n)) = notes.next() {
            if n.name() == b"GNU" && n.n_type(endian) == object::elf::NT_GNU_BUILD_ID {
                return Some(n.desc().to_vec());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test process's own maps name libc, and the address of a libc
    /// function resolves to its name.
    #[test]
    fn a_libc_function_of_this_process_is_named() {
        let maps = parse_proc_maps(&std::fs::read_to_string("/proc/self/maps").unwrap());
        assert!(maps.iter().any(|m| m.path.contains("libc")), "{maps:?}");
        let libs = Libraries::new(maps, &std::env::current_exe().unwrap());
        let pc = libc::getpid as *const () as u64;
        let s = libs.symbol(pc + 1).expect("getpid in libc");
        assert!(s.name.contains("getpid"), "{s:?}");
        assert!(s.path.contains("libc"), "{s:?}");
        assert_eq!(s.start, pc, "{s:?}");
        assert_eq!(libs.path_of(pc).as_deref(), Some(&*s.path));
        assert_eq!(libs.path_of(8), None);
    }

    /// This process's vDSO, read from its own memory, names its functions
    /// at their run-time addresses.
    #[test]
    fn the_vdso_is_read_from_memory_and_named() {
        let me = crate::mem::LiveProcess::open(std::process::id()).unwrap();
        let base = me.vdso().expect("AT_SYSINFO_EHDR");
        // SAFETY: getauxval has no preconditions.
        assert_eq!(base, unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) });
        let image = crate::mem::vdso_image(&me, base).expect("the vDSO's ELF image");
        let bin = debuginfo::Binary::from_bytes(PathBuf::from("[vdso]"), image.clone()).unwrap();
        let f = bin
            .symbol("__vdso_clock_gettime")
            .or_else(|| bin.symbol("clock_gettime"))
            .expect("clock_gettime in the vDSO");
        let pc = base + f.address + 1;
        let libs = Libraries::new(Vec::new(), Path::new("/nonexistent")).with_vdso(base, image);
        let s = libs.symbol(pc).expect("named");
        assert!(s.name.contains("clock_gettime"), "{s:?}");
        assert_eq!((s.start, &*s.path), (pc - 1, "[vdso]"));
    }

    /// A library whose mapping shows another build id than its file on
    /// this machine (upgraded since the core was written) is not used:
    /// its path only, no symbols. With the build id it was mapped with, it
    /// is.
    #[test]
    fn a_library_of_another_build_is_not_used() {
        let maps = parse_proc_maps(&std::fs::read_to_string("/proc/self/maps").unwrap());
        let exe = std::env::current_exe().unwrap();
        let pc = libc::getpid as *const () as u64 + 1;
        let me = crate::mem::LiveProcess::open(std::process::id()).unwrap();
        let libs = Libraries::new(maps.clone(), &exe).check_build_ids(&me);
        assert!(libs.symbol(pc).is_some(), "the same build is used");
        // The same memory, with the build id of each ELF header changed.
        let changed = crate::mem::Callback(|addr: u64, buf: &mut [u8]| {
            if me.read(addr, buf).is_err() {
                return false;
            }
            if buf.len() == 4096
                && let Some(id) = header_build_id(buf)
                && let Some(at) = buf.windows(id.len()).position(|w| w == id)
            {
                buf[at] ^= 0xff;
            }
            true
        });
        let libs = Libraries::new(maps, &exe).check_build_ids(&changed);
        assert!(libs.symbol(pc).is_none(), "another build is not used");
        assert!(libs.path_of(pc).is_some_and(|p| p.contains("libc")));
    }

    #[test]
    fn nt_file_notes_are_read() {
        let mut d = Vec::new();
        for w in [2u64, 4096, 0x1000, 0x3000, 0, 0x7000, 0x8000, 5] {
            d.extend_from_slice(&w.to_le_bytes());
        }
        d.extend_from_slice(b"/bin/a\0/lib/b.so\0");
        assert_eq!(
            parse_nt_file(&d),
            vec![
                FileMap {
                    lo: 0x1000,
                    hi: 0x3000,
                    offset: 0,
                    path: "/bin/a".into()
                },
                FileMap {
                    lo: 0x7000,
                    hi: 0x8000,
                    offset: 5 * 4096,
                    path: "/lib/b.so".into()
                },
            ]
        );
        // Truncated: nothing, no panic.
        assert!(parse_nt_file(&d[..20]).is_empty());
    }
}
