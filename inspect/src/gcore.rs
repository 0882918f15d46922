//! Repairing a core file written by gdb's `gcore`.
//!
//! gdb copies each mapping of the process into the core in blocks of 1 MiB
//! and gives up on the rest of a mapping at the first block it cannot read
//! whole ("Memory read failed for corefile section, 1048576 bytes at ...").
//! The runtime's stacks are carved from big mappings with a guard page
//! before each stack (`MADV_GUARD_INSTALL`: the page faults, the mapping is
//! not split), so the very first block of every stack chunk fails and gdb
//! writes nothing for the whole chunk: every goroutine stack would read as
//! zeros in the core.
//!
//! [`repair`] redoes what gdb skipped: for each `PT_LOAD` segment of the
//! core, it walks the same 1 MiB blocks; from the first block the live
//! process cannot deliver whole, it copies the segment page by page, leaving
//! only the unreadable (guard) pages as zeros. Blocks gdb copied are only
//! read, not written.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use object::read::elf::{FileHeader, ProgramHeader};

/// gdb's block size (`MAX_COPY_BYTES` in gdb/gcore.c).
const BLOCK: u64 = 1 << 20;

/// What [`repair`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Repaired {
    /// Segments gdb had left (partly) unwritten.
    pub segments: u64,
    /// Bytes copied into the core.
    pub bytes: u64,
    /// Pages that could not be read (guard pages): left as zeros.
    pub unreadable_pages: u64,
}

/// Fills in what gdb's gcore skipped in `core`, reading the live process
/// it was written from.
pub fn repair(core: &str, live: &crate::mem::LiveProcess) -> std::io::Result<Repaired> {
    let mem = live.mem_file();
    let file = OpenOptions::new().read(true).write(true).open(core)?;
    let bad =
        |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{core}: {m}"));
    let mut head = vec![0u8; 64];
    file.read_exact_at(&mut head, 0)?;
    let hdr = object::elf::FileHeader64::<object::Endianness>::parse(&*head)
        .map_err(|_| bad("not an ELF core file"))?;
    let endian = hdr.endian().map_err(|_| bad("bad ELF endianness"))?;
    let phoff = hdr.e_phoff.get(endian);
    let phnum = u64::from(hdr.e_phnum.get(endian));
    let phentsize = u64::from(hdr.e_phentsize.get(endian));
    // Read the program headers, then parse them against a buffer that holds
    // the ELF header followed by them.
    let mut buf = vec![0u8; (phoff + phnum * phentsize) as usize];
    file.read_exact_at(&mut buf, 0)?;
    let hdr = object::elf::FileHeader64::<object::Endianness>::parse(&*buf)
        .map_err(|_| bad("not an ELF core file"))?;
    let phdrs = hdr
        .program_headers(endian, &*buf)
        .map_err(|_| bad("bad program headers"))?;
    let page = 4096u64;
    let mut out = Repaired::default();
    let mut block = vec![0u8; BLOCK as usize];
    for ph in phdrs {
        if ph.p_type(endian) != object::elf::PT_LOAD {
            continue;
        }
        let (vaddr, filesz, offset) =
            (ph.p_vaddr(endian), ph.p_filesz(endian), ph.p_offset(endian));
        let mut done = 0;
        // Blocks gdb could read: it wrote them.
        while done < filesz {
            let n = BLOCK.min(filesz - done) as usize;
            if mem.read_exact_at(&mut block[..n], vaddr + done).is_err() {
                break;
            }
            done += n as u64;
        }
        if done >= filesz {
            continue;
        }
        // gdb gave up here: copy the rest page by page.
        out.segments += 1;
        let mut at = done;
        while at < filesz {
            let n = page.min(filesz - at) as usize;
            if mem.read_exact_at(&mut block[..n], vaddr + at).is_ok() {
                file.write_all_at(&block[..n], offset + at)?;
                out.bytes += n as u64;
            } else {
                out.unreadable_pages += 1;
            }
            at += n as u64;
        }
    }
    Ok(out)
}
