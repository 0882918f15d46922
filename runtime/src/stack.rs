//! Goroutine stacks: the runtime's page heap (`mallocinit`) and the stack
//! allocator.
//!
//! # Design
//!
//! Stacks have a fixed size: [`DEFAULT_STACK_SIZE`] (64 KiB) unless the
//! environment variable `GOSTACKSIZE` says otherwise (read once at start-up;
//! bytes, with an optional `k`/`K` or `m`/`M` suffix; rounded up to the page
//! size; values outside 16 KiB..1 GiB or not numbers are ignored). Stacks do
//! not grow: a goroutine that needs more hits the guard page below its stack
//! and the runtime reports `fatal error: stack overflow` (see signal.rs).
//!
//! Memory comes from big anonymous mappings ("chunks") of
//! [`STACKS_PER_CHUNK`] stacks each, mapped `MAP_NORESERVE` so that only the
//! pages a goroutine touches use RAM. Each stack is preceded by one guard
//! page. The guard is installed with `madvise(MADV_GUARD_INSTALL)` (Linux
//! 6.13+), which marks the page as faulting *without splitting the mapping*:
//! a million stacks cost a few thousand mappings, far below
//! `vm.max_map_count` (65530). On older kernels `madvise` returns `EINVAL`
//! and the runtime falls back to `mprotect(PROT_NONE)` per guard page; each
//! guard then splits the mapping in two, so the fallback caps near 32,000
//! live stacks (65530 / 2) before `mmap`/`mprotect` fail with ENOMEM.
//!
//! `GOSTACKGUARD=mprotect` (read at start-up) forces the `mprotect`
//! fallback even where `MADV_GUARD_INSTALL` works: gdb's `gcore` cannot
//! read a block of memory that contains a guard-region page and writes
//! zeros for the whole block, so tests that take a core of a running
//! program with gcore use this knob (and stay under the ~32k stack cap).
//!
//! Setting up a chunk costs two system calls, not two per stack:
//! `process_madvise` on our own process (any advice is allowed there since
//! Linux 6.13) takes a vector of ranges, so one call installs the 64 guard
//! pages and a second pre-faults (`MADV_POPULATE_WRITE`) the 64 top pages -
//! the page each goroutine touches first (its closure and first frames go
//! there). Taking 64 page faults one trap at a time is what made spawning a
//! fresh goroutine slow; RSS is unchanged (that page is touched anyway).
//! Where `process_madvise` refuses, guards are installed one `madvise` at a
//! time, and the top pages fault in on first use.
//!
//! Freed stacks go back to a pool (a LIFO under a lock, so recently used -
//! still resident - stacks are reused first). Most stacks are never freed
//! at all: a dead G keeps its stack on the G free lists (proc.rs, Go's
//! gfput/gfget), so spawning a goroutine usually takes no stack work.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::lock::Mutex;
use crate::runtime2::Stack;

/// Default goroutine stack size in bytes (changed with `GOSTACKSIZE`).
pub const DEFAULT_STACK_SIZE: usize = 64 << 10;
/// Stacks carved from one mapping.
pub const STACKS_PER_CHUNK: usize = 64;
/// `MADV_GUARD_INSTALL` (Linux 6.13).
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// `MADV_POPULATE_WRITE` (Linux 5.14).
const MADV_POPULATE_WRITE: libc::c_int = 23;

struct Heap {
    lock: Mutex,
    /// pidfd of our own process for process_madvise (-1 = unusable, 0 = not opened yet).
    pidfd: i32,
    /// Next unused stack slot in the current chunk (address of its guard page).
    next: usize,
    /// Slots left in the current chunk.
    left: usize,
    /// Freed stacks (their `lo`).
    free: Vec<usize>,
}

static mut HEAP: Heap = Heap {
    lock: Mutex::new(),
    pidfd: 0,
    next: 0,
    left: 0,
    free: Vec::new(),
};
static STACK_SIZE: AtomicUsize = AtomicUsize::new(DEFAULT_STACK_SIZE);
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);
/// 1 = madvise guards, 2 = mprotect guards.
static GUARD: AtomicUsize = AtomicUsize::new(1);
static CHUNKS: AtomicUsize = AtomicUsize::new(0);
static STACKS: AtomicUsize = AtomicUsize::new(0);

/// Parse a `GOSTACKSIZE` value (see module docs). None if invalid.
pub fn parse_stack_size(s: &str, page: usize) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1usize << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1usize << 20),
        _ => (s, 1),
    };
    let n: usize = num.parse().ok()?;
    let n = n.checked_mul(mul)?;
    if !((16 << 10)..=(1 << 30)).contains(&n) {
        return None;
    }
    Some(n.div_ceil(page) * page)
}

/// Initialise the page heap stacks come from (Go's `mallocinit`): page size,
/// stack size (`GOSTACKSIZE`).
pub fn mallocinit(page: usize) {
    PAGE_SIZE.store(page, Ordering::Relaxed);
    // SAFETY: getenv during single-threaded start-up; the result is a
    // NUL-terminated string owned by the environment.
    let v = unsafe { libc::getenv(c"GOSTACKSIZE".as_ptr()) };
    let mut size = DEFAULT_STACK_SIZE.div_ceil(page) * page;
    if !v.is_null() {
        // SAFETY: v is a valid C string.
        let s = unsafe { core::ffi::CStr::from_ptr(v) };
        if let Some(n) = s.to_str().ok().and_then(|s| parse_stack_size(s, page)) {
            size = n;
        }
    }
    STACK_SIZE.store(size, Ordering::Relaxed);
    // SAFETY: as above.
    let g = unsafe { libc::getenv(c"GOSTACKGUARD".as_ptr()) };
    // SAFETY: g is a valid C string when not null.
    if !g.is_null() && unsafe { core::ffi::CStr::from_ptr(g) }.to_bytes() == b"mprotect" {
        GUARD.store(2, Ordering::Relaxed);
    }
}

/// The goroutine stack size in bytes.
pub fn stack_size() -> usize {
    STACK_SIZE.load(Ordering::Relaxed)
}

/// Size of the guard page below each stack.
pub fn guard_size() -> usize {
    PAGE_SIZE.load(Ordering::Relaxed)
}

fn map_chunk(slot: usize) -> usize {
    let len = slot * STACKS_PER_CHUNK;
    // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
    let p = unsafe {
        nix::sys::mman::mmap_anonymous(
            None,
            core::num::NonZeroUsize::new(len).expect("chunk size"),
            nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
            nix::sys::mman::MapFlags::MAP_PRIVATE | nix::sys::mman::MapFlags::MAP_NORESERVE,
        )
    };
    match p {
        Ok(p) => {
            CHUNKS.fetch_add(1, Ordering::Relaxed);
            p.as_ptr() as usize
        }
        Err(e) => {
            crate::signal::throw_fmt(format_args!("runtime: cannot allocate stack memory: {e}"))
        }
    }
}

/// `process_madvise(pidfd, ranges, advice)`; true if every byte was advised.
fn process_madvise(pidfd: i32, ranges: &[libc::iovec], advice: libc::c_int) -> bool {
    let want: usize = ranges.iter().map(|r| r.iov_len).sum();
    // SAFETY: the ranges lie in a chunk we mapped; the iovec array is valid.
    let r = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            pidfd,
            ranges.as_ptr(),
            ranges.len(),
            advice,
            0u32,
        )
    };
    r >= 0 && r as usize == want
}

/// Guard every stack slot of a new chunk and pre-fault each stack's top
/// page, in one system call each when the kernel allows (see module docs).
///
/// # Safety
/// Called with HEAP.lock held; `base` is a fresh chunk of `STACKS_PER_CHUNK` slots.
unsafe fn prepare_chunk(h: *mut Heap, base: usize, slot: usize) {
    let page = guard_size();
    let size = stack_size();
    // SAFETY: HEAP fields under its lock.
    unsafe {
        if (*h).pidfd == 0 {
            let fd = libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0u32);
            (*h).pidfd = if fd > 0 { fd as i32 } else { -1 };
        }
        let pidfd = (*h).pidfd;
        let mut guards = [libc::iovec {
            iov_base: core::ptr::null_mut(),
            iov_len: 0,
        }; STACKS_PER_CHUNK];
        let mut tops = guards;
        for i in 0..STACKS_PER_CHUNK {
            let g = base + i * slot;
            guards[i] = libc::iovec {
                iov_base: g as *mut libc::c_void,
                iov_len: page,
            };
            tops[i] = libc::iovec {
                iov_base: (g + page + size - page) as *mut libc::c_void,
                iov_len: page,
            };
        }
        let batched = GUARD.load(Ordering::Relaxed) == 1
            && pidfd > 0
            && process_madvise(pidfd, &guards, MADV_GUARD_INSTALL);
        if !batched {
            for g in &guards {
                install_guard(g.iov_base as usize);
            }
        }
        if pidfd > 0 {
            // Best effort: a failure only means the pages fault in later.
            let _ = process_madvise(pidfd, &tops, MADV_POPULATE_WRITE);
        }
    }
}

fn install_guard(addr: usize) {
    let page = guard_size();
    if GUARD.load(Ordering::Relaxed) == 1 {
        // SAFETY: addr..addr+page is inside a chunk we mapped and own.
        let r = unsafe { libc::madvise(addr as *mut libc::c_void, page, MADV_GUARD_INSTALL) };
        if r == 0 {
            return;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINVAL) {
            crate::signal::throw_fmt(format_args!("runtime: madvise(MADV_GUARD_INSTALL): {err}"));
        }
        // Kernel without guard regions: fall back to mprotect from now on.
        GUARD.store(2, Ordering::Relaxed);
    }
    // SAFETY: as above.
    let r = unsafe {
        nix::sys::mman::mprotect(
            core::ptr::NonNull::new(addr as *mut libc::c_void).expect("guard"),
            page,
            nix::sys::mman::ProtFlags::PROT_NONE,
        )
    };
    if let Err(e) = r {
        crate::signal::throw_fmt(format_args!(
            "runtime: mprotect of a stack guard page failed ({e}); the mprotect fallback \
             caps near 32k stacks (vm.max_map_count)"
        ));
    }
}

/// Allocate a stack (with its guard page installed).
pub fn stackalloc() -> Stack {
    let size = stack_size();
    let slot = size + guard_size();
    // SAFETY: HEAP is only accessed with HEAP.lock held.
    unsafe {
        let h = &raw mut HEAP;
        (*h).lock.lock();
        if let Some(lo) = (*h).free.pop() {
            (*h).lock.unlock();
            return Stack { lo, hi: lo + size };
        }
        if (*h).left == 0 {
            let base = map_chunk(slot);
            prepare_chunk(h, base, slot);
            (*h).next = base;
            (*h).left = STACKS_PER_CHUNK;
        }
        let guard = (*h).next;
        (*h).next += slot;
        (*h).left -= 1;
        (*h).lock.unlock();
        STACKS.fetch_add(1, Ordering::Relaxed);
        let lo = guard + guard_size();
        Stack { lo, hi: lo + size }
    }
}

#[cfg(test)]
/// Return a stack to the pool.
pub fn stackfree(s: Stack) {
    // SAFETY: HEAP is only accessed with HEAP.lock held.
    unsafe {
        let h = &raw mut HEAP;
        (*h).lock.lock();
        (*h).free.push(s.lo);
        (*h).lock.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sizes() {
        assert_eq!(parse_stack_size("65536", 4096), Some(65536));
        assert_eq!(parse_stack_size("20k", 4096), Some(20480));
        assert_eq!(parse_stack_size("17K", 4096), Some(20480));
        assert_eq!(parse_stack_size("1M", 4096), Some(1 << 20));
        assert_eq!(parse_stack_size("8k", 4096), None);
        assert_eq!(parse_stack_size("x", 4096), None);
        assert_eq!(parse_stack_size("", 4096), None);
        assert_eq!(parse_stack_size("-5", 4096), None);
    }

    #[test]
    fn stacks_are_usable_and_guarded() {
        let a = stackalloc();
        let b = stackalloc();
        assert_eq!(a.hi - a.lo, stack_size());
        assert_ne!(a.lo, b.lo);
        // SAFETY: the stack is ours; writing its first and last byte is fine.
        unsafe {
            *(a.lo as *mut u8) = 1;
            *((a.hi - 1) as *mut u8) = 2;
        }
        // The guard page is not accessible: mincore-free check via /proc is
        // heavy, so check that madvise/mprotect left the page non-readable
        // by asking the kernel with a read through process_vm_readv.
        let mut buf = [0u8; 1];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let remote = libc::iovec {
            iov_base: (a.lo - 1) as *mut libc::c_void,
            iov_len: 1,
        };
        // SAFETY: reading our own memory through the kernel; a fault is
        // reported as an error, not a signal.
        let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
        assert_eq!(n, -1, "guard page must not be readable");
        stackfree(b);
        let c = stackalloc();
        assert_eq!(c.lo, b.lo, "freed stacks are reused");
        stackfree(a);
        stackfree(c);
    }
}
