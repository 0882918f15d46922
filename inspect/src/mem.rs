//! Reading the inspected program's memory: one trait, several backends.
//!
//! Decoding 100,000 goroutines means reading 100,000 Gs and as many stack
//! windows; one small read per object is what makes debugger scripts slow
//! (inside gdb one 16 MiB read costs ~10 ms, 100,000 small ones ~150 ms). So
//! every backend serves [`Memory::read_pieces`]: many pieces in one call,
//! each filled whole or marked failed, and the helpers
//! [`Memory::each_piece`] and [`Memory::each_object`] build on it. A
//! failed piece never hides the others.
//!
//! The backends:
//! * [`LiveProcess`]: a stopped process, `process_vm_readv` with up to 1024
//!   pieces per system call (on two threads for big batches), and
//!   `/proc/PID/mem` for single reads;
//! * [`CoreFile`]: an ELF core file, mapped; its `PT_LOAD` segments (the one
//!   reader of them in the workspace) and its threads' registers
//!   (`NT_PRSTATUS`);
//! * [`Image`]: the executable's own file-backed sections, for what a core
//!   leaves out (read-only data such as wait-reason strings);
//! * [`Callback`]: any `Fn(addr, buf) -> bool`, e.g. gdb's own memory for
//!   targets the others cannot reach (gdbserver, remote);
//! * [`Chain`]: one backend, then another for what the first cannot serve.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use object::read::elf::{FileHeader, ProgramHeader};

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

impl std::error::Error for MemError {}

/// The inspected program's address space.
pub trait Memory {
    /// Fills `buf` from `addr`, whole, or fails.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError>;

    /// Reads `reqs[i] = (addr, len)` into `buf[offs[i]..offs[i] + len]` and
    /// sets `ok[i]` for each piece read whole; `ok` starts all false and
    /// pieces already true may be skipped. The default reads one by one;
    /// backends that can do better (one system call for many pieces)
    /// override it.
    fn read_pieces(&self, reqs: &[(u64, usize)], offs: &[usize], buf: &mut [u8], ok: &mut [bool]) {
        read_each(self, reqs, offs, buf, ok);
    }

    /// `len` bytes at `addr`.
    fn bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemError> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }

    /// A little-endian u64 at `addr`.
    fn u64(&self, addr: u64) -> Result<u64, MemError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A little-endian u32 at `addr`.
    fn u32(&self, addr: u64) -> Result<u32, MemError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// This backend, when other threads may read through it (a live
    /// process, a core file): [`Memory::each_piece_ahead`] then reads on a
    /// second thread.
    fn shared(&self) -> Option<&(dyn Memory + Sync)> {
        None
    }

    /// [`Memory::each_piece`] with the reading a chunk ahead of `f`, on a
    /// second thread, when the backend is [`Memory::shared`] (else
    /// `each_piece`). For an `f` that costs as much as the reading (gdb
    /// writing each row as it is located): the two then overlap, where
    /// `each_piece` splits the reading itself over two threads and runs
    /// `f` after it.
    fn each_piece_ahead(&self, reqs: &[(u64, usize)], f: &mut dyn FnMut(usize, Option<&[u8]>)) {
        match self.shared() {
            Some(ahead) => read_ahead(self, ahead, reqs, f),
            None => self.each_piece(reqs, f),
        }
    }

    /// Reads `reqs` in order, a few MiB at a time into one buffer that is
    /// reused (from call to call on a thread), and hands each piece to `f`
    /// with its index (None when it could not be read whole). Streaming rather than one buffer for all:
    /// at 100,000 goroutines the pieces are tens of MB, and a fresh buffer
    /// that size costs a page fault (and the kernel's zeroing) per 4 KiB,
    /// more than the reads themselves; a reused one stays mapped and
    /// mostly in cache.
    fn each_piece(&self, reqs: &[(u64, usize)], f: &mut dyn FnMut(usize, Option<&[u8]>)) {
        const CHUNK: usize = 4 << 20;
        // The chunk of the last call on this thread (or a new one, when a
        // call is inside another's `f`), given back at the end.
        let mut c = SPARE_CHUNK.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let mut start = 0;
        while start < reqs.len() {
            c.lay_out(reqs, start, CHUNK);
            c.read_with(self, reqs);
            for k in c.start..c.end {
                f(k, c.piece(reqs, k));
            }
            start = c.end;
        }
        SPARE_CHUNK.with(|s| *s.borrow_mut() = c);
    }

    /// Reads `addrs.len()` objects of `len` bytes each and hands each to
    /// `f` with its index in `addrs` (None when it could not be read), in
    /// address order, streamed as [`Memory::each_piece`] streams.
    /// Neighbours (objects allocated together sit together) are read as
    /// one piece, which costs the kernel one page walk instead of one per
    /// object; when a run of neighbours fails, its objects are read one by
    /// one.
    fn each_object(&self, addrs: &[u64], len: usize, f: &mut dyn FnMut(usize, Option<&[u8]>)) {
        let mut order: Vec<usize> = (0..addrs.len()).collect();
        order.sort_unstable_by_key(|&i| addrs[i]);
        let runs = neighbour_runs(order.iter().map(|&i| addrs[i]), len);
        let reqs: Vec<(u64, usize)> = runs.iter().map(|r| (r.0, (r.1 - r.0) as usize)).collect();
        let mut one = vec![0u8; len];
        self.each_piece(&reqs, &mut |ri, run| {
            let r = &runs[ri];
            for &i in &order[r.2..r.3] {
                match run {
                    // Objects point into their run's bytes: no copy.
                    Some(b) => {
                        let o = (addrs[i] - r.0) as usize;
                        f(i, Some(&b[o..o + len]));
                    }
                    None => {
                        let got = self.read(addrs[i], &mut one).is_ok();
                        f(i, got.then_some(&one[..]));
                    }
                }
            }
        });
    }
}

/// How many bytes [`Memory::each_piece_ahead`] reads ahead at a time.
const AHEAD_CHUNK: usize = 1 << 20;

/// One chunk of [`Memory::each_piece`] or [`read_ahead`]: pieces
/// `start..end` of its requests, their offsets in `buf` (and the end),
/// and which were read whole.
#[derive(Default)]
struct Chunk {
    start: usize,
    end: usize,
    offs: Vec<usize>,
    buf: Vec<u8>,
    ok: Vec<bool>,
}

impl Chunk {
    /// Makes it the pieces from `start` that fit in `limit` bytes (at
    /// least one). The buffer grows and is never cleared: a piece is
    /// shown only when it was read whole, so what an earlier chunk left in
    /// it is never seen.
    fn lay_out(&mut self, reqs: &[(u64, usize)], start: usize, limit: usize) {
        self.offs.clear();
        let mut total = 0usize;
        let mut end = start;
        while end < reqs.len() && (end == start || total + reqs[end].1 <= limit) {
            self.offs.push(total);
            total += reqs[end].1;
            end += 1;
        }
        self.offs.push(total);
        if self.buf.len() < total {
            self.buf.resize(total, 0);
        }
        self.ok.clear();
        self.ok.resize(end - start, false);
        (self.start, self.end) = (start, end);
    }

    /// Reads its pieces through `mem`.
    fn read_with<M: Memory + ?Sized>(&mut self, mem: &M, reqs: &[(u64, usize)]) {
        let total = self.offs[self.offs.len() - 1];
        mem.read_pieces(
            &reqs[self.start..self.end],
            &self.offs,
            &mut self.buf[..total],
            &mut self.ok,
        );
    }

    /// Reads piece `k` (of `reqs`) through `mem` if it was not read.
    fn read_again<M: Memory + ?Sized>(&mut self, mem: &M, reqs: &[(u64, usize)], k: usize) {
        let i = k - self.start;
        if !self.ok[i] {
            let (addr, len) = reqs[k];
            let o = self.offs[i];
            self.ok[i] = mem.read(addr, &mut self.buf[o..o + len]).is_ok();
        }
    }

    /// Piece `k` of `reqs`, when it was read whole.
    fn piece(&self, reqs: &[(u64, usize)], k: usize) -> Option<&[u8]> {
        let i = k - self.start;
        let o = self.offs[i];
        self.ok[i].then(|| &self.buf[o..o + reqs[k].1])
    }
}

/// [`Memory::each_piece_ahead`] on a shared backend: a reader thread reads
/// each chunk through `ahead` (the part of `mem` that threads may share),
/// and the calling thread reads what that could not serve through the
/// whole of `mem` (which may need the calling thread: gdb's memory), then
/// runs `f` on it.
///
/// Two [`Chunk`]s circulate between the threads over two queues. `free`
/// holds the chunks nobody is using; the reader takes one from it, fills
/// it and sends it on `full`; the caller hands its pieces to `f` and sends
/// it back on `free`. A chunk is owned by one thread at a time (it moves
/// through the queues by value), so no memory is shared while it is
/// written. Both queues are FIFO with one sender each, so chunks reach `f`
/// in order. The reader stops after the last chunk, or when the caller has
/// gone (a closed queue: `f` panicked); the caller stops when the reader
/// closes `full`: neither waits for the other forever.
fn read_ahead<M: Memory + ?Sized>(
    mem: &M,
    ahead: &(dyn Memory + Sync),
    reqs: &[(u64, usize)],
    f: &mut dyn FnMut(usize, Option<&[u8]>),
) {
    use std::sync::mpsc;
    let (free_tx, free_rx) = mpsc::channel::<Chunk>();
    let (full_tx, full_rx) = mpsc::channel::<Chunk>();
    for _ in 0..2 {
        let _ = free_tx.send(Chunk::default());
    }
    std::thread::scope(|s| {
        s.spawn(move || {
            // This thread is the second one: its reads stay on it.
            READING_AHEAD.set(true);
            let mut start = 0;
            while start < reqs.len() {
                let Ok(mut c) = free_rx.recv() else { return };
                c.lay_out(reqs, start, AHEAD_CHUNK);
                c.read_with(ahead, reqs);
                start = c.end;
                if full_tx.send(c).is_err() {
                    return;
                }
            }
        });
        for mut c in full_rx {
            for k in c.start..c.end {
                c.read_again(mem, reqs, k);
                f(k, c.piece(reqs, k));
            }
            let _ = free_tx.send(c);
        }
    });
}

thread_local! {
    /// Set on the reader thread of [`Memory::each_piece_ahead`]: it is the
    /// second thread, so [`in_two_halves`] does not split its reads again.
    static READING_AHEAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };

    /// The chunk of [`Memory::each_piece`], kept for its next call on the
    /// thread: a fresh 4 MiB buffer is a thousand page faults (and as many
    /// zeroed pages) per call, and a command makes two calls.
    static SPARE_CHUNK: std::cell::RefCell<Chunk> = std::cell::RefCell::new(Chunk::default());
}

/// Objects of `len` bytes at the addresses `sorted` (ascending) grouped
/// into runs of neighbours (less than 1 KiB apart, at most 1 MiB a run),
/// each read as one piece: `(start, end, first, last + 1)`, the last two
/// indexes into `sorted`. [`Memory::each_object`] and the capture group
/// alike, so the capture's pieces are the pieces `each_object` asks for.
pub(crate) fn neighbour_runs(
    sorted: impl IntoIterator<Item = u64>,
    len: usize,
) -> Vec<(u64, u64, usize, usize)> {
    const GAP: u64 = 1024;
    const MAX_RUN: u64 = 1 << 20;
    let mut runs: Vec<(u64, u64, usize, usize)> = Vec::new();
    for (k, a) in sorted.into_iter().enumerate() {
        let e = a.saturating_add(len as u64);
        match runs.last_mut() {
            Some(r) if a <= r.1.saturating_add(GAP) && e - r.0 <= MAX_RUN => {
                r.1 = r.1.max(e);
                r.3 = k + 1;
            }
            _ => runs.push((a, e, k, k + 1)),
        }
    }
    runs
}

fn check_range(addr: u64, len: usize) -> Result<(), MemError> {
    if addr == 0 || addr.checked_add(len as u64).is_none() {
        return Err(MemError { addr, len });
    }
    Ok(())
}

/// A live process, read while it is stopped (by a debugger that traces it,
/// or by `gdbx goroutines` after freezing its threads). Root, the tracer or
/// a process of the same user under yama `ptrace_scope` 0 may read it.
pub struct LiveProcess {
    pid: libc::pid_t,
    mem: File,
}

impl LiveProcess {
    /// Opens `/proc/PID/mem`.
    pub fn open(pid: u32) -> std::io::Result<LiveProcess> {
        let mem = File::open(format!("/proc/{pid}/mem"))?;
        Ok(LiveProcess {
            pid: pid as libc::pid_t,
            mem,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// The process's clock now, as its runtime reads it (`nanotime`:
    /// CLOCK_MONOTONIC, which every process on this machine shares).
    pub fn now(&self) -> i64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid out-pointer for the call.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }

    /// The process's entry point (`AT_ENTRY` of `/proc/PID/auxv`).
    pub fn entry(&self) -> Option<u64> {
        auxv_entry(&std::fs::read(format!("/proc/{}/auxv", self.pid)).ok()?)
    }

    /// Where the process has its vDSO (`AT_SYSINFO_EHDR` of
    /// `/proc/PID/auxv`).
    pub fn vdso(&self) -> Option<u64> {
        auxv_value(
            &std::fs::read(format!("/proc/{}/auxv", self.pid)).ok()?,
            AT_SYSINFO_EHDR,
        )
    }

    /// `/proc/PID/mem`, opened.
    pub fn mem_file(&self) -> &File {
        &self.mem
    }
}

impl Memory for LiveProcess {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        if buf.is_empty() {
            return Ok(());
        }
        check_range(addr, buf.len())?;
        self.mem.read_exact_at(buf, addr).map_err(|_| MemError {
            addr,
            len: buf.len(),
        })
    }

    fn read_pieces(&self, reqs: &[(u64, usize)], offs: &[usize], buf: &mut [u8], ok: &mut [bool]) {
        let pid = self.pid;
        in_two_halves(reqs, offs, buf, ok, |r, o, b, k| vm_read(pid, r, o, b, k));
        // What process_vm_readv could not serve (or was not permitted to):
        // one by one through /proc/PID/mem.
        read_each(self, reqs, offs, buf, ok);
    }

    fn shared(&self) -> Option<&(dyn Memory + Sync)> {
        Some(self)
    }
}

/// [`Memory::read_pieces`] one piece at a time.
fn read_each<M: Memory + ?Sized>(
    mem: &M,
    reqs: &[(u64, usize)],
    offs: &[usize],
    buf: &mut [u8],
    ok: &mut [bool],
) {
    for (i, &(addr, len)) in reqs.iter().enumerate() {
        if !ok[i] {
            let o = offs[i];
            ok[i] = mem.read(addr, &mut buf[o..o + len]).is_ok();
        }
    }
}

/// `read` over `reqs` (as [`Memory::read_pieces`] takes them) split over
/// two threads for big batches (100,000 goroutine stacks): the per-piece
/// work that costs (the kernel's page walk, pin and copy for a live
/// process; the page fault of a core's mapped page) then runs on two
/// cores. The threads touch disjoint parts of `buf` and `ok`.
fn in_two_halves<F>(reqs: &[(u64, usize)], offs: &[usize], buf: &mut [u8], ok: &mut [bool], read: F)
where
    F: Fn(&[(u64, usize)], &[usize], &mut [u8], &mut [bool]) + Sync,
{
    // Below this many bytes the second thread costs more than it saves.
    const SPLIT_ABOVE: usize = 256 * 1024;
    let threads = if READING_AHEAD.get() {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
    };
    if reqs.len() < 2 || buf.len() < SPLIT_ABOVE || threads < 2 {
        read(reqs, offs, buf, ok);
        return;
    }
    let k = reqs.len() / 2;
    let (buf_a, buf_b) = buf.split_at_mut(offs[k]);
    let (ok_a, ok_b) = ok.split_at_mut(k);
    let offs_b: Vec<usize> = offs[k..].iter().map(|o| o - offs[k]).collect();
    std::thread::scope(|s| {
        s.spawn(|| read(&reqs[k..], &offs_b, buf_b, ok_b));
        read(&reqs[..k], &offs[..=k], buf_a, ok_a);
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

/// One loaded segment of a core file.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    /// Virtual address in the dumped process.
    pub vaddr: u64,
    /// Bytes present in the file (may be less than the mapping's size:
    /// the rest was not dumped).
    pub filesz: u64,
    /// Size of the mapping.
    pub memsz: u64,
    /// Offset of the bytes in the core file.
    pub offset: u64,
}

/// The registers of one thread of a core file (`NT_PRSTATUS`), in the
/// order of the kernel's `user_regs_struct` for x86-64.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreThread {
    /// The thread id (LWP).
    pub lwp: u64,
    /// The signal that stopped it (0 when none).
    pub signal: u32,
    pub regs: Regs,
}

/// The x86-64 registers the inspection needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Regs {
    pub rip: u64,
    pub rsp: u64,
    pub rbp: u64,
    /// In Go's ABIInternal code, the current g.
    pub r14: u64,
    /// The thread pointer (`%fs` base): thread-local storage.
    pub fs_base: u64,
}

/// An ELF core file: its loaded segments (mapped, so a read is a copy) and
/// its threads.
pub struct CoreFile {
    map: memmap2::Mmap,
    /// Sorted by address.
    segments: Vec<Segment>,
    threads: Vec<CoreThread>,
    /// `AT_ENTRY` of the dumped process (`NT_AUXV`).
    entry: Option<u64>,
    /// `AT_SYSINFO_EHDR` of the dumped process: its vDSO.
    vdso: Option<u64>,
    /// `AT_PHDR` of the dumped process: where its executable's program
    /// headers were.
    phdr: Option<u64>,
    /// The files the process had mapped (`NT_FILE`).
    files: Vec<crate::libs::FileMap>,
}

/// Why a core file cannot be used.
#[derive(Debug)]
pub enum CoreError {
    Io(std::io::Error),
    /// Not an ELF core file, or a truncated or garbage one.
    Bad(String),
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CoreError::Io(e) => write!(f, "{e}"),
            CoreError::Bad(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for CoreError {}

/// Offsets in the x86-64 `elf_prstatus`: `pr_cursig`, `pr_pid` and
/// `pr_reg` (the `user_regs_struct`, 27 registers of 8 bytes).
const PR_CURSIG: usize = 12;
const PR_PID: usize = 32;
const PR_REG: usize = 112;
/// Indexes in `user_regs_struct`.
const REG_R14: usize = 1;
const REG_RBP: usize = 4;
const REG_RIP: usize = 16;
const REG_RSP: usize = 19;
const REG_FS_BASE: usize = 21;

impl CoreFile {
    /// Maps the core file at `path` and reads its program headers and notes.
    pub fn open(path: impl AsRef<Path>) -> Result<CoreFile, CoreError> {
        let path = path.as_ref();
        let bad = |why: &str| CoreError::Bad(format!("{}: {why}", path.display()));
        let file = File::open(path).map_err(CoreError::Io)?;
        // SAFETY: the core file is not modified while it is inspected; a
        // file truncated under us would fault, as it would for gdb.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(CoreError::Io)?;
        let data: &[u8] = &map;
        let elf = object::elf::FileHeader64::<object::Endianness>::parse(data)
            .map_err(|_| bad("not an ELF file"))?;
        let endian = elf.endian().map_err(|_| bad("bad ELF endianness"))?;
        if elf.e_type(endian) != object::elf::ET_CORE {
            return Err(bad("an ELF file, but not a core file"));
        }
        let phdrs = elf
            .program_headers(endian, data)
            .map_err(|_| bad("truncated program headers"))?;
        let mut segments = Vec::new();
        let mut threads = Vec::new();
        let mut entry = None;
        let mut vdso = None;
        let mut phdr = None;
        let mut files = Vec::new();
        for ph in phdrs {
            match ph.p_type(endian) {
                object::elf::PT_LOAD => {
                    let seg = Segment {
                        vaddr: ph.p_vaddr(endian),
                        filesz: ph.p_filesz(endian),
                        memsz: ph.p_memsz(endian),
                        offset: ph.p_offset(endian),
                    };
                    if seg.offset.saturating_add(seg.filesz) > data.len() as u64 {
                        return Err(bad(&format!(
                            "truncated: a segment at {:#x} ends at byte {}, the file has {}",
                            seg.vaddr,
                            seg.offset + seg.filesz,
                            data.len()
                        )));
                    }
                    segments.push(seg);
                }
                object::elf::PT_NOTE => {
                    let Ok(Some(mut notes)) = ph.notes(endian, data) else {
                        return Err(bad("truncated notes"));
                    };
                    while let Ok(Some(note)) = notes.next() {
                        if note.name() != b"CORE" {
                            continue;
                        }
                        let ty = note.n_type(endian);
                        if ty == object::elf::NT_PRSTATUS
                            && let Some(t) = parse_prstatus(note.desc())
                        {
                            threads.push(t);
                        } else if ty == object::elf::NT_AUXV {
                            entry = auxv_entry(note.desc());
                            vdso = auxv_value(note.desc(), AT_SYSINFO_EHDR);
                            phdr = auxv_value(note.desc(), AT_PHDR);
                        } else if ty == object::elf::NT_FILE {
                            files = crate::libs::parse_nt_file(note.desc());
                        }
                    }
                }
                _ => {}
            }
        }
        segments.sort_by_key(|s| s.vaddr);
        Ok(CoreFile {
            map,
            segments,
            threads,
            entry,
            vdso,
            phdr,
            files,
        })
    }

    /// Where the dumped process had its vDSO (`AT_SYSINFO_EHDR`).
    pub fn vdso(&self) -> Option<u64> {
        self.vdso
    }

    /// The files the dumped process had mapped (its `NT_FILE` note; empty
    /// when the dumper wrote none).
    pub fn files(&self) -> &[crate::libs::FileMap] {
        &self.files
    }

    /// The `PT_LOAD` segments, sorted by address.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The threads, in the order of the notes (the thread that stopped the
    /// process first, for a kernel core).
    pub fn threads(&self) -> &[CoreThread] {
        &self.threads
    }

    /// The dumped process's entry point (`AT_ENTRY`): minus the ELF's
    /// `e_entry`, a PIE's load bias.
    pub fn entry(&self) -> Option<u64> {
        self.entry
    }

    /// Where the dumped process had its executable's program headers
    /// (`AT_PHDR`).
    pub fn phdr(&self) -> Option<u64> {
        self.phdr
    }

    /// Whether the file holds any byte of `[lo, hi)`: a segment that was
    /// dumped (not only described, as a kernel's `coredump_filter` leaves
    /// the mappings it excludes) overlaps it.
    pub fn holds_any(&self, lo: u64, hi: u64) -> bool {
        self.segments
            .iter()
            .any(|s| s.filesz > 0 && s.vaddr < hi && lo < s.vaddr.saturating_add(s.filesz))
    }

    /// Whether `[addr, addr + len)` lies in a segment of the file but was
    /// not dumped (beyond the segment's `filesz`).
    pub fn is_omitted(&self, addr: u64, len: u64) -> bool {
        let i = self.segments.partition_point(|s| s.vaddr <= addr);
        i > 0 && {
            let s = self.segments[i - 1];
            addr.saturating_add(len) <= s.vaddr + s.memsz && addr + len > s.vaddr + s.filesz
        }
    }
}

/// `AT_ENTRY` in an auxiliary vector ((type, value) pairs of u64).
pub fn auxv_entry(auxv: &[u8]) -> Option<u64> {
    auxv_value(auxv, AT_ENTRY)
}

/// `AT_PHDR`: where the program's program headers are mapped.
const AT_PHDR: u64 = 3;
/// `AT_ENTRY`: the program's entry point.
const AT_ENTRY: u64 = 9;
/// `AT_SYSINFO_EHDR`: where the kernel mapped the vDSO's ELF image.
const AT_SYSINFO_EHDR: u64 = 33;

/// The value of `key` in an auxiliary vector (pairs of words).
fn auxv_value(auxv: &[u8], key: u64) -> Option<u64> {
    auxv.chunks_exact(16).find_map(|c| {
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap());
        (word(&c[..8]) == key).then(|| word(&c[8..]))
    })
}

/// The vDSO's ELF image in `mem`, at `base` (from `AT_SYSINFO_EHDR`):
/// its size is where its section headers end. The vDSO is no file (it is
/// in no mapping list as one), so its symbols (`__vdso_clock_gettime`)
/// are read from memory.
pub fn vdso_image(mem: &dyn Memory, base: u64) -> Option<Vec<u8>> {
    let head = mem.bytes(base, 64).ok()?;
    if &head[..4] != b"\x7fELF" {
        return None;
    }
    let u = |o: usize, n: usize| -> u64 {
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(&head[o..o + n]);
        u64::from_le_bytes(a)
    };
    // e_shoff + e_shnum * e_shentsize: the section headers come last.
    let end = u(0x28, 8) + u(0x3c, 2) * u(0x3a, 2);
    (end <= 1 << 20).then(|| mem.bytes(base, end as usize).ok())?
}

fn parse_prstatus(desc: &[u8]) -> Option<CoreThread> {
    let word = |i: usize| -> Option<u64> {
        let o = PR_REG + i * 8;
        Some(u64::from_le_bytes(desc.get(o..o + 8)?.try_into().ok()?))
    };
    let pid = u32::from_le_bytes(desc.get(PR_PID..PR_PID + 4)?.try_into().ok()?);
    let sig = u16::from_le_bytes(desc.get(PR_CURSIG..PR_CURSIG + 2)?.try_into().ok()?);
    Some(CoreThread {
        lwp: u64::from(pid),
        signal: u32::from(sig),
        regs: Regs {
            rip: word(REG_RIP)?,
            rsp: word(REG_RSP)?,
            rbp: word(REG_RBP)?,
            r14: word(REG_R14)?,
            fs_base: word(REG_FS_BASE)?,
        },
    })
}

impl Memory for CoreFile {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let err = MemError {
            addr,
            len: buf.len(),
        };
        if buf.is_empty() {
            return Ok(());
        }
        check_range(addr, buf.len())?;
        // A read may span adjacent segments (the kernel and gdb split one
        // mapping where its protections or its backing change).
        let mut i = self.segments.partition_point(|s| s.vaddr <= addr);
        if i == 0 {
            return Err(err);
        }
        i -= 1;
        let mut at = addr;
        let mut done = 0;
        while done < buf.len() {
            let s = self.segments.get(i).ok_or(err)?;
            if at < s.vaddr || at >= s.vaddr + s.filesz {
                return Err(err);
            }
            let n = ((s.vaddr + s.filesz - at) as usize).min(buf.len() - done);
            let off = (s.offset + (at - s.vaddr)) as usize;
            let src = self.map.get(off..off + n).ok_or(err)?;
            buf[done..done + n].copy_from_slice(src);
            done += n;
            at += n as u64;
            i += 1;
        }
        Ok(())
    }

    /// One by one, on two threads for big batches: each piece of a
    /// goroutine's stack is a page of the core touched for the first time,
    /// and the page faults are most of the cost.
    fn read_pieces(&self, reqs: &[(u64, usize)], offs: &[usize], buf: &mut [u8], ok: &mut [bool]) {
        in_two_halves(reqs, offs, buf, ok, |r, o, b, k| {
            read_each(self, r, o, b, k)
        });
    }

    fn shared(&self) -> Option<&(dyn Memory + Sync)> {
        Some(self)
    }
}

/// The executable's file-backed sections as memory (their run-time
/// addresses are the file's plus `bias` for a PIE): text and read-only
/// data that a core file may leave out. Data that the program writes
/// (`.data`, `.bss`) is never served from here, so nothing stale is read.
pub struct Image {
    bin: std::rc::Rc<debuginfo::Binary>,
    bias: u64,
    /// (start, end, offset in the file) of the read-only allocated sections.
    ranges: Vec<(u64, u64, u64)>,
}

impl Image {
    pub fn new(bin: std::rc::Rc<debuginfo::Binary>, bias: u64) -> Image {
        use object::read::elf::SectionHeader;
        let elf = bin.object();
        let endian = elf.endian();
        let mut ranges = Vec::new();
        for sh in elf.elf_section_table().iter() {
            let flags = sh.sh_flags(endian);
            let alloc = flags.0 & object::elf::SHF_ALLOC.0 != 0;
            let write = flags.0 & object::elf::SHF_WRITE.0 != 0;
            if !alloc || write || sh.sh_type(endian) == object::elf::SHT_NOBITS {
                continue;
            }
            let addr = sh.sh_addr(endian);
            if addr != 0 {
                ranges.push((addr, addr + sh.sh_size(endian), sh.sh_offset(endian)));
            }
        }
        ranges.sort_unstable();
        Image { bin, bias, ranges }
    }
}

impl Memory for Image {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let err = MemError {
            addr,
            len: buf.len(),
        };
        let file_addr = addr.wrapping_sub(self.bias);
        let i = self.ranges.partition_point(|r| r.0 <= file_addr);
        let &(lo, hi, off) = self.ranges[..i].last().ok_or(err)?;
        if file_addr
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > hi)
        {
            return Err(err);
        }
        let start = (off + (file_addr - lo)) as usize;
        let src = self.bin.data().get(start..start + buf.len()).ok_or(err)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Memory read by a function: `f(addr, buf)` fills `buf` whole and returns
/// true, or returns false.
pub struct Callback<F>(pub F);

impl<F: Fn(u64, &mut [u8]) -> bool> Memory for Callback<F> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        if buf.is_empty() {
            return Ok(());
        }
        check_range(addr, buf.len())?;
        if (self.0)(addr, buf) {
            Ok(())
        } else {
            Err(MemError {
                addr,
                len: buf.len(),
            })
        }
    }
}

/// `first`, then `second` for what `first` cannot serve.
pub struct Chain<'a>(pub &'a dyn Memory, pub &'a dyn Memory);

impl Memory for Chain<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.0.read(addr, buf).or_else(|_| self.1.read(addr, buf))
    }

    fn read_pieces(&self, reqs: &[(u64, usize)], offs: &[usize], buf: &mut [u8], ok: &mut [bool]) {
        self.0.read_pieces(reqs, offs, buf, ok);
        self.1.read_pieces(reqs, offs, buf, ok);
    }

    /// The first backend, when it is shared: what it cannot serve is read
    /// through the chain on the calling thread.
    fn shared(&self) -> Option<&(dyn Memory + Sync)> {
        self.0.shared()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory of 4 KiB at 0x1000 holding its own address bytes' low byte.
    struct Fake;
    impl Memory for Fake {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
            if addr < 0x1000 || addr + buf.len() as u64 > 0x2000 {
                return Err(MemError {
                    addr,
                    len: buf.len(),
                });
            }
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (addr as usize + i) as u8;
            }
            Ok(())
        }
    }

    /// Every piece `each_piece` or `each_object` hands over, by index.
    fn collect(each: impl FnOnce(&mut dyn FnMut(usize, Option<&[u8]>))) -> Vec<Option<Vec<u8>>> {
        let mut got: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
        each(&mut |i, b| got.push((i, b.map(<[u8]>::to_vec))));
        got.sort_by_key(|g| g.0);
        got.into_iter().map(|g| g.1).collect()
    }

    #[test]
    fn each_object_reads_neighbours_together_and_fails_only_the_bad_ones() {
        let addrs = [0x1010, 0x1000, 0x5000, 0x1ffc, 0x1020];
        let b = collect(|f| Fake.each_object(&addrs, 8, f));
        assert_eq!(b.len(), addrs.len());
        assert_eq!(b[0].as_deref().unwrap()[0], 0x10);
        assert_eq!(b[1].as_deref().unwrap()[0], 0x00);
        assert!(b[2].is_none());
        assert!(b[3].is_none(), "crosses the end");
        assert_eq!(b[4].as_deref().unwrap()[7], 0x27);
    }

    #[test]
    fn chain_falls_back_piece_by_piece() {
        let other = Callback(|addr: u64, buf: &mut [u8]| {
            buf.fill(0xee);
            addr == 0x5000
        });
        let c = Chain(&Fake, &other);
        let b = collect(|f| c.each_piece(&[(0x1000, 4), (0x5000, 4), (0x6000, 4)], f));
        assert_eq!(b[0].as_deref().unwrap(), &[0, 1, 2, 3]);
        assert_eq!(b[1].as_deref().unwrap(), &[0xee; 4]);
        assert!(b[2].is_none());
        assert!(c.u64(0).is_err(), "address 0 is never read");
    }

    #[test]
    fn live_process_reads_itself() {
        let me = LiveProcess::open(std::process::id()).expect("/proc/self/mem");
        let data: Vec<u64> = (0..4096u64).collect();
        let addrs: Vec<u64> = (0..4096)
            .step_by(7)
            .map(|i| &data[i] as *const u64 as u64)
            .collect();
        let b = collect(|f| me.each_object(&addrs, 8, f));
        for (k, i) in (0..4096).step_by(7).enumerate() {
            assert_eq!(b[k].as_deref().unwrap(), &(i as u64).to_le_bytes());
        }
        assert!(me.u64(8).is_err());
    }

    /// 12 MiB of this process in pieces of 3000 bytes, one of them at an
    /// address nobody can read and one only the chain's second backend
    /// serves: several chunks, pieces across chunk ends, the reused
    /// buffer's old bytes never shown; in order, with `each_piece` and with
    /// `each_piece_ahead` (its reader thread, and what that cannot serve
    /// read again on the calling thread).
    #[test]
    fn each_piece_and_each_piece_ahead_stream_over_many_chunks_in_order() {
        let me = LiveProcess::open(std::process::id()).expect("/proc/self/mem");
        let data: Vec<u8> = (0..12usize << 20).map(|i| (i % 251) as u8).collect();
        let base = data.as_ptr() as u64;
        let mut reqs: Vec<(u64, usize)> = (0..data.len() / 3000)
            .map(|k| (base + 3000 * k as u64, 3000))
            .collect();
        reqs[2000] = (8, 3000);
        reqs[3000] = (16, 3000);
        let second = Callback(|addr: u64, buf: &mut [u8]| {
            buf.fill(0xab);
            addr == 16
        });
        let chain = Chain(&me, &second);
        type Each<'a> = &'a dyn Fn(&mut dyn FnMut(usize, Option<&[u8]>));
        let ways: [(&str, Each); 3] = [
            ("each_piece", &|f| chain.each_piece(&reqs, f)),
            ("each_piece_ahead", &|f| chain.each_piece_ahead(&reqs, f)),
            ("each_piece_ahead, live process alone", &|f| {
                me.each_piece_ahead(&reqs, f)
            }),
        ];
        assert!(chain.shared().is_some(), "a live process reads ahead");
        for (way, each) in ways {
            let alone = way.ends_with("alone");
            let mut seen = 0;
            each(&mut |i, b| {
                assert_eq!(i, seen, "{way}: in order");
                seen += 1;
                match (i, b) {
                    (2000, b) => assert!(b.is_none(), "{way}"),
                    (3000, None) => assert!(alone, "{way}: the second backend serves it"),
                    (3000, Some(b)) => assert!(!alone && b == [0xab; 3000], "{way}"),
                    (i, Some(b)) => assert_eq!(b, &data[3000 * i..3000 * (i + 1)], "{way}"),
                    (i, None) => panic!("{way}: piece {i} unread"),
                }
            });
            assert_eq!(seen, reqs.len(), "{way}");
        }
    }
}
