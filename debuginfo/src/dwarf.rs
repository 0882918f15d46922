//! DWARF: loading (compressed or not, DWARF 4 or 5), file:line lookups and
//! the address after a function's prologue.
//!
//! Uncompressed sections are read in place from the mapped file;
//! compressed ones (`SHF_COMPRESSED` or `.zdebug_*` — `object`'s
//! `compression` feature does the work) are decompressed into `Arc<[u8]>`
//! buffers. Either way a [`DebugInfo`] owns its data and needs no lifetime:
//! the gdb extension keeps one for the whole session.

use crate::elf::FileBytes;
use gimli::Reader as _;
use object::read::elf::ElfFile64;
use object::{Endianness, Object, ObjectSection};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The `gimli` reader used everywhere in the workspace: a section's bytes,
/// borrowed from the mapped file when stored uncompressed, else owned.
pub type Reader = gimli::EndianReader<gimli::RunTimeEndian, SectionBytes>;

/// The bytes of one DWARF section (cheap to clone).
#[derive(Clone)]
pub struct SectionBytes(SectionInner);

#[derive(Clone)]
enum SectionInner {
    /// A range of the mapped file.
    InFile {
        file: Arc<FileBytes>,
        start: usize,
        len: usize,
    },
    /// Decompressed (or empty) data.
    Owned(Arc<[u8]>),
}

impl std::ops::Deref for SectionBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            SectionInner::InFile { file, start, len } => &file[*start..*start + *len],
            SectionInner::Owned(b) => b,
        }
    }
}

impl std::fmt::Debug for SectionBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SectionBytes({} bytes)", self.len())
    }
}

// SAFETY: the bytes live in an `Arc` (a mapping or a buffer) that never
// moves or changes while any clone exists, so derefs of clones agree and
// stay valid across moves.
unsafe impl gimli::StableDeref for SectionBytes {}
// SAFETY: as above; a clone shares the same `Arc`.
unsafe impl gimli::CloneStableDeref for SectionBytes {}

/// A source position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The path as recorded in the DWARF (joined with the compilation directory).
    pub file: String,
    /// 1-based; 0 when the line table says "no line".
    pub line: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// How [`DebugInfo::post_prologue`] found the address after the prologue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrologueSource {
    /// A line-table row with `prologue_end` set (what gdb 13+ uses first).
    PrologueEnd,
    /// No `prologue_end`, but an LLVM-produced unit or code that starts by
    /// pushing `%rbp`: the function's second line-table row, as gdb's
    /// `skip_prologue_using_sal` does.
    SecondRow,
    /// No `prologue_end` and a frameless start (Go assembly): the entry
    /// itself, as gdb's amd64 prologue analyser decides.
    Entry,
}

/// A function to find the prologue of: `[lo, hi)` and whether its code
/// starts with `push %rbp` (after an optional `endbr64`).
#[derive(Debug, Clone, Copy)]
pub struct Func {
    /// Entry address.
    pub lo: u64,
    /// End address (exclusive).
    pub hi: u64,
    /// Starts with `push %rbp`.
    pub pushes_rbp: bool,
}

/// The DWARF of one binary plus an `addr2line` context over it.
pub struct DebugInfo {
    /// The sections, for callers that walk DIEs themselves.
    pub dwarf: gimli::Dwarf<Reader>,
    ctx: addr2line::Context<Reader>,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    addr: u64,
    line: u64,
    prologue_end: bool,
}

impl DebugInfo {
    /// Loads every DWARF section of `elf`, decompressing as needed.
    pub fn load(
        file: &Arc<FileBytes>,
        elf: &ElfFile64<'_, Endianness>,
    ) -> Result<DebugInfo, crate::Error> {
        let endian = if elf.is_little_endian() {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        };
        let load = |id: gimli::SectionId| -> Result<Reader, crate::Error> {
            let bytes = match elf.section_by_name(id.name()) {
                Some(section) => {
                    let data = section
                        .uncompressed_data()
                        .map_err(|e| crate::Error::Dwarf(format!("section {}: {e}", id.name())))?;
                    match data {
                        Cow::Borrowed(b) => {
                            let start = (b.as_ptr() as usize).wrapping_sub(file.as_ptr() as usize);
                            if start <= file.len() && b.len() <= file.len() - start {
                                SectionInner::InFile {
                                    file: file.clone(),
                                    start,
                                    len: b.len(),
                                }
                            } else {
                                SectionInner::Owned(Arc::from(b))
                            }
                        }
                        Cow::Owned(v) => SectionInner::Owned(Arc::from(v)),
                    }
                }
                None => SectionInner::Owned(Arc::from(&[][..])),
            };
            Ok(gimli::EndianReader::new(SectionBytes(bytes), endian))
        };
        let sections = gimli::DwarfSections::load(load)?;
        let dwarf = sections.borrow(Reader::clone);
        let ctx = addr2line::Context::from_dwarf(sections.borrow(Reader::clone))
            .map_err(|e| crate::Error::Dwarf(e.to_string()))?;
        Ok(DebugInfo { dwarf, ctx })
    }

    /// The DWARF versions of the compilation units (e.g. `{4}` or `{4, 5}`:
    /// Rust's prebuilt std keeps its own).
    pub fn versions(&self) -> BTreeSet<u16> {
        let mut out = BTreeSet::new();
        let mut units = self.dwarf.units();
        while let Ok(Some(h)) = units.next() {
            out.insert(h.version());
        }
        out
    }

    /// file:line of `addr` from the line table.
    pub fn location(&self, addr: u64) -> Option<Location> {
        let loc = self.ctx.find_location(addr).ok()??;
        Some(Location {
            file: loc.file?.to_string(),
            line: loc.line.unwrap_or(0),
        })
    }

    /// The `addr2line` context over this DWARF: the workspace's one
    /// symboliser (inlined frames included) is built on it.
    pub fn context(&self) -> &addr2line::Context<Reader> {
        &self.ctx
    }

    /// The address after the prologue of the function `[lo, hi)`, from the
    /// line program (see [`PrologueSource`]); `None` when the line table has
    /// no row inside the function past its entry.
    pub fn post_prologue(&self, func: Func) -> Option<(u64, PrologueSource)> {
        self.post_prologues(&[func]).pop().flatten()
    }

    /// [`DebugInfo::post_prologue`] for many functions with one pass over
    /// the units: only the line programs of units that contain one of the
    /// functions are decoded.
    pub fn post_prologues(&self, funcs: &[Func]) -> Vec<Option<(u64, PrologueSource)>> {
        let mut rows: Vec<Vec<Row>> = vec![Vec::new(); funcs.len()];
        let mut llvm = vec![false; funcs.len()];
        let mut units = self.dwarf.units();
        while let Ok(Some(header)) = units.next() {
            let Ok(unit) = self.dwarf.unit(header) else {
                continue;
            };
            let wanted: Vec<usize> = match self.dwarf.unit_ranges(&unit) {
                Ok(mut ranges) => {
                    let mut wanted = Vec::new();
                    while let Ok(Some(r)) = ranges.next() {
                        for (i, f) in funcs.iter().enumerate() {
                            if r.begin <= f.lo && f.lo < r.end && !wanted.contains(&i) {
                                wanted.push(i);
                            }
                        }
                    }
                    wanted
                }
                Err(_) => continue,
            };
            if wanted.is_empty() {
                continue;
            }
            let is_llvm = self
                .producer(&unit)
                .is_some_and(|p| p.contains("LLVM") || p.contains("clang") || p.contains("rustc"));
            for &i in &wanted {
                llvm[i] = is_llvm;
            }
            let Some(program) = unit.line_program.clone() else {
                continue;
            };
            let mut it = program.rows();
            while let Ok(Some((_, row))) = it.next_row() {
                if row.end_sequence() {
                    continue;
                }
                let addr = row.address();
                for &i in &wanted {
                    if funcs[i].lo <= addr && addr < funcs[i].hi {
                        rows[i].push(Row {
                            addr,
                            line: row.line().map_or(0, |l| l.get()),
                            prologue_end: row.prologue_end(),
                        });
                    }
                }
            }
        }
        funcs
            .iter()
            .zip(rows)
            .zip(llvm)
            .map(|((f, rows), llvm)| choose_post_prologue(f.lo, &rows, llvm || f.pushes_rbp))
            .collect()
    }

    /// The unit's `DW_AT_producer`.
    fn producer(&self, unit: &gimli::Unit<Reader>) -> Option<String> {
        let mut entries = unit.entries();
        let root = entries.next_dfs().ok()??;
        let value = root.attr_value(gimli::DW_AT_producer)?;
        let s = self.dwarf.attr_string(unit, value).ok()?;
        Some(s.to_string_lossy().ok()?.into_owned())
    }
}

fn choose_post_prologue(
    lo: u64,
    rows: &[Row],
    has_prologue: bool,
) -> Option<(u64, PrologueSource)> {
    if let Some(r) = rows
        .iter()
        .filter(|r| r.prologue_end)
        .min_by_key(|r| r.addr)
    {
        return Some((r.addr, PrologueSource::PrologueEnd));
    }
    if rows.is_empty() {
        return None;
    }
    if !has_prologue {
        return Some((lo, PrologueSource::Entry));
    }
    rows.iter()
        .filter(|r| r.addr > lo && r.line != 0)
        .min_by_key(|r| r.addr)
        .map(|r| (r.addr, PrologueSource::SecondRow))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(addr: u64, line: u64, prologue_end: bool) -> Row {
        Row {
            addr,
            line,
            prologue_end,
        }
    }

    #[test]
    fn prologue_end_wins_over_second_row() {
        let rows = [row(0x10, 5, false), row(0x14, 6, false), row(0x18, 7, true)];
        assert_eq!(
            choose_post_prologue(0x10, &rows, false),
            Some((0x18, PrologueSource::PrologueEnd))
        );
    }

    #[test]
    fn second_row_skips_line_zero_and_entry() {
        let rows = [
            row(0x10, 5, false),
            row(0x12, 0, false),
            row(0x16, 6, false),
        ];
        assert_eq!(
            choose_post_prologue(0x10, &rows, true),
            Some((0x16, PrologueSource::SecondRow))
        );
        assert_eq!(choose_post_prologue(0x10, &rows[..1], true), None);
    }

    #[test]
    fn frameless_code_without_prologue_end_breaks_at_entry() {
        let rows = [row(0x10, 5, false), row(0x14, 6, false)];
        assert_eq!(
            choose_post_prologue(0x10, &rows, false),
            Some((0x10, PrologueSource::Entry))
        );
        assert_eq!(choose_post_prologue(0x10, &[], false), None);
    }
}
