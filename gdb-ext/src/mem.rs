//! Reading the inferior's memory, fast.
//!
//! gdb's `Inferior.read_memory` costs ~1.5 µs per call from Python, too slow
//! for 100,000 goroutines. So the module reads directly where it can:
//!
//! * a live process: `process_vm_readv`, up to 1024 pieces per system call
//!   ([`Memory::batch`]), and `/proc/<pid>/mem` with `pread` for single reads
//!   (gdb is the tracer and the process is stopped, so the kernel lets gdb's
//!   own process read it);
//! * a core file: its `PT_LOAD` segments, mapped (`mmap`): a read is a copy;
//!
//! and falls back to gdb's reader (a Python callable `read(addr, len) -> bytes`)
//! for whatever those cannot serve (e.g. read-only text that `gcore` left out).
//! Every read either fills the whole buffer or fails with a [`MemError`]; a
//! failure is reported per object, so one bad pointer never hides the rest.

use std::fs::File;
use std::os::unix::fs::FileExt;

use object::read::elf::{FileHeader, ProgramHeader};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A failed read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemError {
    pub addr: u64,
    pub len: usize,
}

impl std::fmt::Display for MemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read {} bytes at {:#x}", self.len, self.addr)
    }
}

/// One loaded segment of a core file.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    vaddr: u64,
    filesz: u64,
    offset: u64,
}

/// Where memory comes from, besides gdb.
#[derive(Debug, Default)]
pub enum Backing {
    /// Only gdb's reader.
    #[default]
    Gdb,
    /// `/proc/<pid>/mem` of a stopped live process, and its pid.
    Proc(File, libc::pid_t),
    /// A core file (mapped) and its `PT_LOAD` segments, sorted by address.
    Core(memmap2::Mmap, Vec<Segment>),
}

impl Backing {
    /// `/proc/<pid>/mem`, or [`Backing::Gdb`] when it cannot be opened.
    pub fn live(pid: u32) -> Backing {
        match File::open(format!("/proc/{pid}/mem")) {
            Ok(f) => Backing::Proc(f, pid as libc::pid_t),
            Err(_) => Backing::Gdb,
        }
    }

    /// The `PT_LOAD` segments of the core file at `path`, or [`Backing::Gdb`].
    pub fn core(path: &str) -> Backing {
        let Ok(file) = File::open(path) else {
            return Backing::Gdb;
        };
        // Only the ELF and program headers are needed: read the first 1 MiB.
        let mut head = vec![0u8; 1 << 20];
        let n = file.read_at(&mut head, 0).unwrap_or(0);
        head.truncate(n);
        let Ok(elf) = object::elf::FileHeader64::<object::Endianness>::parse(&*head) else {
            return Backing::Gdb;
        };
        let Ok(endian) = elf.endian() else {
            return Backing::Gdb;
        };
        let Ok(phdrs) = elf.program_headers(endian, &*head) else {
            return Backing::Gdb;
        };
        let mut segs: Vec<Segment> = phdrs
            .iter()
            .filter(|p| p.p_type(endian) == object::elf::PT_LOAD && p.p_filesz(endian) > 0)
            .map(|p| Segment {
                vaddr: p.p_vaddr(endian),
                filesz: p.p_filesz(endian),
                offset: p.p_offset(endian),
            })
            .collect();
        segs.sort_by_key(|s| s.vaddr);
        // SAFETY: the core file is not modified while gdb debugs it; a
        // truncated file would fault, which gdb would not survive either.
        match unsafe { memmap2::Mmap::map(&file) } {
            Ok(map) => Backing::Core(map, segs),
            Err(_) => Backing::Gdb,
        }
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        match self {
            Backing::Gdb => false,
            Backing::Proc(f, _) => f.read_exact_at(buf, addr).is_ok(),
            Backing::Core(map, segs) => {
                let i = segs.partition_point(|s| s.vaddr <= addr);
                if i == 0 {
                    return false;
                }
                let s = segs[i - 1];
                let end = addr.saturating_add(buf.len() as u64);
                if end > s.vaddr + s.filesz {
                    return false;
                }
                let off = (s.offset + (addr - s.vaddr)) as usize;
                match map.get(off..off + buf.len()) {
                    Some(src) => {
                        buf.copy_from_slice(src);
                        true
                    }
                    None => false,
                }
            }
        }
    }
}

/// A memory reader for the duration of one command.
pub struct Memory<'a, 'py> {
    backing: &'a Backing,
    gdb_read: Option<Bound<'py, PyAny>>,
}

impl<'a, 'py> Memory<'a, 'py> {
    pub fn new(backing: &'a Backing, gdb_read: Option<Bound<'py, PyAny>>) -> Self {
        Memory { backing, gdb_read }
    }

    /// Fills `buf` from `addr`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let err = MemError {
            addr,
            len: buf.len(),
        };
        if buf.is_empty() {
            return Ok(());
        }
        if addr == 0 || addr.checked_add(buf.len() as u64).is_none() {
            return Err(err);
        }
        if self.backing.read(addr, buf) {
            return Ok(());
        }
        let Some(cb) = &self.gdb_read else {
            return Err(err);
        };
        let obj = cb.call1((addr, buf.len())).map_err(|_| err)?;
        let bytes = obj.cast::<PyBytes>().map_err(|_| err)?;
        let data = bytes.as_bytes();
        if data.len() != buf.len() {
            return Err(err);
        }
        buf.copy_from_slice(data);
        Ok(())
    }

    pub fn bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemError> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }

    pub fn u64(&self, addr: u64) -> Result<u64, MemError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads many pieces at once: `process_vm_readv` with up to 1024
    /// pieces per call for a live process; pieces that fail are retried one
    /// by one (so only the bad ones fail).
    pub fn batch(&self, reqs: &[(u64, usize)]) -> Batch {
        let mut offs = Vec::with_capacity(reqs.len() + 1);
        let mut total = 0usize;
        for &(_, len) in reqs {
            offs.push(total);
            total += len;
        }
        offs.push(total);
        let mut buf = vec![0u8; total];
        let mut ok = vec![false; reqs.len()];
        if let Backing::Proc(_, pid) = self.backing {
            vm_read_parallel(*pid, reqs, &offs, &mut buf, &mut ok);
        }
        for (i, &(addr, len)) in reqs.iter().enumerate() {
            if !ok[i] {
                let o = offs[i];
                ok[i] = self.read(addr, &mut buf[o..o + len]).is_ok();
            }
        }
        let spans = reqs.iter().zip(&offs).map(|(r, &o)| (o, r.1)).collect();
        Batch { buf, spans, ok }
    }

    /// Reads `addrs.len()` objects of `len` bytes each. Neighbours (objects
    /// allocated together sit together) are read as one piece, which costs
    /// the kernel one page walk instead of one per object.
    pub fn many(&self, addrs: &[u64], len: usize) -> Batch {
        const GAP: u64 = 1024;
        const MAX_RUN: u64 = 1 << 20;
        let mut order: Vec<usize> = (0..addrs.len()).collect();
        order.sort_unstable_by_key(|&i| addrs[i]);
        // Runs of neighbours: (start, end, first index in `order`, last+1).
        let mut runs: Vec<(u64, u64, usize, usize)> = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            let a = addrs[i];
            let e = a.saturating_add(len as u64);
            match runs.last_mut() {
                Some(r) if a <= r.1.saturating_add(GAP) && e - r.0 <= MAX_RUN => {
                    r.1 = r.1.max(e);
                    r.3 = k + 1;
                }
                _ => runs.push((a, e, k, k + 1)),
            }
        }
        let reqs: Vec<(u64, usize)> = runs.iter().map(|r| (r.0, (r.1 - r.0) as usize)).collect();
        // Objects point into their run's bytes: no copy.
        let Batch {
            mut buf,
            spans: run_spans,
            ok: run_ok,
        } = self.batch(&reqs);
        let mut spans = vec![(0, 0); addrs.len()];
        let mut ok = vec![false; addrs.len()];
        for (ri, r) in runs.iter().enumerate() {
            for &i in &order[r.2..r.3] {
                if run_ok[ri] {
                    spans[i] = (run_spans[ri].0 + (addrs[i] - r.0) as usize, len);
                    ok[i] = true;
                } else {
                    // The run failed: read its objects one by one.
                    let mut one = vec![0u8; len];
                    if self.read(addrs[i], &mut one).is_ok() {
                        spans[i] = (buf.len(), len);
                        buf.extend_from_slice(&one);
                        ok[i] = true;
                    }
                }
            }
        }
        Batch { buf, spans, ok }
    }
}

/// The result of [`Memory::batch`]: one buffer, one slice per piece.
pub struct Batch {
    buf: Vec<u8>,
    /// (offset in `buf`, length) of each piece.
    spans: Vec<(usize, usize)>,
    ok: Vec<bool>,
}

impl Batch {
    /// Piece `i`, or None when it could not be read.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if *self.ok.get(i)? {
            let (o, n) = self.spans[i];
            Some(&self.buf[o..o + n])
        } else {
            None
        }
    }
}

/// [`vm_read`] split over two threads for big batches (100,000 goroutine
/// stacks): the kernel's per-piece work (page walk, pin, copy) then runs on
/// two cores. The threads touch disjoint parts of `buf` and `ok`.
fn vm_read_parallel(
    pid: libc::pid_t,
    reqs: &[(u64, usize)],
    offs: &[usize],
    buf: &mut [u8],
    ok: &mut [bool],
) {
    const SPLIT_ABOVE: usize = 16 * 1024;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    if reqs.len() < SPLIT_ABOVE || threads < 2 {
        vm_read(pid, reqs, offs, buf, ok);
        return;
    }
    let k = reqs.len() / 2;
    let (buf_a, buf_b) = buf.split_at_mut(offs[k]);
    let (ok_a, ok_b) = ok.split_at_mut(k);
    let offs_b: Vec<usize> = offs[k..].iter().map(|o| o - offs[k]).collect();
    std::thread::scope(|s| {
        s.spawn(|| vm_read(pid, &reqs[k..], &offs_b, buf_b, ok_b));
        vm_read(pid, &reqs[..k], &offs[..=k], buf_a, ok_a);
    });
}

/// `process_vm_readv` over `reqs`, 1024 pieces per call. Marks the pieces
/// read in full in `ok`; a piece that faults ends a call, and the next call
/// starts after it.
fn vm_read(
    pid: libc::pid_t,
    reqs: &[(u64, usize)],
    offs: &[usize],
    buf: &mut [u8],
    ok: &mut [bool],
) {
    const IOV_MAX: usize = 1024;
    let base = buf.as_mut_ptr();
    let mut i = 0;
    while i < reqs.len() {
        let end = (i + IOV_MAX).min(reqs.len());
        let local: Vec<libc::iovec> = (i..end)
            .map(|k| libc::iovec {
                // SAFETY: offs[k] + len <= buf.len() by construction.
                iov_base: unsafe { base.add(offs[k]) }.cast(),
                iov_len: reqs[k].1,
            })
            .collect();
        let remote: Vec<libc::iovec> = (i..end)
            .map(|k| libc::iovec {
                iov_base: reqs[k].0 as *mut libc::c_void,
                iov_len: reqs[k].1,
            })
            .collect();
        // SAFETY: the local iovecs point into `buf`, which outlives the call;
        // the remote ones are only read by the kernel from the other process.
        let n = unsafe {
            libc::process_vm_readv(
                pid,
                local.as_ptr(),
                local.len() as libc::c_ulong,
                remote.as_ptr(),
                remote.len() as libc::c_ulong,
                0,
            )
        };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT) {
                // The first piece faults: skip it.
                i += 1;
                continue;
            }
            // Not permitted (or not supported): leave the rest to pread.
            return;
        }
        let mut got = n as usize;
        let mut k = i;
        while k < end && got >= reqs[k].1 {
            got -= reqs[k].1;
            ok[k] = true;
            k += 1;
        }
        // Piece k faulted (or was cut short): skip it, go on after it.
        i = k + 1;
    }
}
