//! The scavenger: a goroutine that gives unused memory back to the OS
//! (Go's mgcscavenge.go `bgscavenge`), and [`memstats`].
//!
//! # What is returned
//!
//! Goroutine stacks are the runtime's big memory user. A dead G keeps its
//! stack for reuse (the G free lists of proc.rs, as Go keeps dead Gs): after
//! a burst of 100,000 goroutines, 100,000 stacks stay dirty although nothing
//! runs on them. The scavenger `madvise(MADV_DONTNEED)`s the stacks of dead
//! Gs on the **global** free list (`sched.gfree`) once they have stayed
//! there for [`SCAV_AGE_NS`]: the pages go back to the kernel, the address
//! range stays mapped (reusing the G later just faults fresh zero pages in),
//! and the guard page stays a guard (guard regions survive `MADV_DONTNEED`;
//! the `mprotect` fallback is a separate mapping that DONTNEED does not
//! change). The small per-P free lists (< 64 Gs each) are left alone: they
//! are the hot cache. Heap pages freed by `malloc` are returned with
//! `malloc_trim(0)` after each round that released stacks.
//!
//! # Safety of releasing a stack
//!
//! A stack may only be zapped while no one can start running on it. The
//! scavenger therefore *unlinks* the Gs it is about to release from the
//! global free list (under `sched.gflock`), releases them outside the lock,
//! and links them back. While unlinked they are invisible to `gfget`.
//!
//! # Which Gs are already released
//!
//! A released G is recorded as `(G address → goid)`. Every reuse of a G
//! gives it a new goid (proc.rs `newproc1`), so "still released" is exactly
//! "on the free list with the recorded goid" - no hook in the hot path.
//! "Free for a while" is recorded the same way: `(G → goid, first seen)`.
//!
//! # Pacing and sleeping (state words)
//!
//! * [`STATE`]: `RUNNING` (0) or `PARKED` (1, wait reason "GC scavenge
//!   wait", no timer - so deadlock detection is not delayed by it).
//! * [`PENDING`]: bumped by `gfput` (via [`wake`]) each time dead Gs spill
//!   to the global list. The waker bumps PENDING then reads STATE; the
//!   scavenger, in its park commit (on g0, after its context is saved),
//!   stores STATE = PARKED then reads PENDING (both SeqCst): at least one
//!   of them sees the other, and the CAS `PARKED → RUNNING` picks exactly
//!   one to ready or resume it. No lost wake-up, no double ready.
//! * While releasing, the scavenger works in batches of [`BATCH`] stacks and
//!   sleeps three times as long as each batch took when every P is busy
//!   (≤ 25% of one CPU), a quarter of that when some P is idle (spare CPU:
//!   ≤ 80%), and
//!   at least 50 µs per batch, so it does not fight a busy program.
//!   Adjacent stacks are returned with one `madvise` call.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::collections::HashMap;
use std::time::Duration;

use crate::chan::Chan;
use crate::lock::Mutex;
use crate::proc::{getg, gopark, readgstatus, ready};
use crate::runtime2::*;
use crate::time::nanotime;

/// How long a dead G must stay on the global free list before its stack
/// is returned.
pub const SCAV_AGE_NS: i64 = 100_000_000;
/// Stacks released between two pacing sleeps.
pub const BATCH: usize = 1024;
/// Most Gs unlinked from the free list at once.
const UNLINK_MAX: usize = 4096;

const RUNNING: u32 = 0;
const PARKED: u32 = 1;

/// The scavenger's state word (see the module docs).
pub static STATE: AtomicU32 = AtomicU32::new(RUNNING);
/// Spills to the global free list since the scavenger last looked.
pub static PENDING: AtomicU64 = AtomicU64::new(0);
static SCAVG: AtomicPtr<G> = AtomicPtr::new(null_mut());
/// Total bytes returned with MADV_DONTNEED (cumulative).
pub static RELEASED_BYTES: AtomicU64 = AtomicU64::new(0);
/// Scavenger rounds that released something.
pub static ROUNDS: AtomicU64 = AtomicU64::new(0);

/// A multiplicative hash for G addresses (std's SipHash is needlessly
/// slow for pointer keys the program does not choose).
#[derive(Default, Clone, Copy)]
struct PtrHasher(u64);

impl core::hash::Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_usize(&mut self, v: usize) {
        self.0 = (v as u64 ^ (v as u64 >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type PtrMap<V> = HashMap<usize, V, core::hash::BuildHasherDefault<PtrHasher>>;

struct Books {
    /// G → goid when its stack was released.
    released: PtrMap<i64>,
    /// G → (goid, nanotime first seen dead on the global list).
    seen: PtrMap<(i64, i64)>,
}

/// Protects BOOKS. Lock order: `sched.gflock` → SCAV_LOCK → ALLGLOCK.
static SCAV_LOCK: Mutex = Mutex::new();

/// The books, only accessed with SCAV_LOCK held.
struct Guarded(core::cell::UnsafeCell<Option<Books>>);
// SAFETY: every access holds SCAV_LOCK.
unsafe impl Sync for Guarded {}
static BOOKS: Guarded = Guarded(core::cell::UnsafeCell::new(None));

fn books() -> &'static mut Books {
    // SAFETY: only called with SCAV_LOCK held.
    unsafe {
        (*BOOKS.0.get()).get_or_insert_with(|| Books {
            released: PtrMap::default(),
            seen: PtrMap::default(),
        })
    }
}

/// Dead Gs reached the global free list: wake the scavenger if it sleeps.
/// Called by `gfput` on g0 (no runtime lock held).
pub fn wake() {
    PENDING.fetch_add(1, Ordering::SeqCst);
    if STATE.load(Ordering::SeqCst) == PARKED
        && STATE
            .compare_exchange(PARKED, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        let gp = SCAVG.load(Ordering::Acquire);
        if !gp.is_null() {
            ready(gp, false);
        }
    }
}

unsafe fn park_commit(_gp: *mut G, _: *mut u8) -> bool {
    STATE.store(PARKED, Ordering::SeqCst);
    if PENDING.load(Ordering::SeqCst) > 0
        && STATE
            .compare_exchange(PARKED, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        return false;
    }
    true
}

/// Whether `gp` is the scavenger goroutine (a system goroutine, which
/// failure reports leave out below GOTRACEBACK=system).
pub(crate) fn is_scavenger(gp: *mut G) -> bool {
    !gp.is_null() && SCAVG.load(Ordering::Acquire) == gp
}

/// Start the scavenger goroutine (a system goroutine: not counted by
/// `num_goroutine`) and wait until it runs, as Go's `gcenable` waits for
/// `bgscavenge`: it is up before `main.init`, so a breakpoint on it is
/// reached before the program can do anything else, exit included. Called
/// once by `runtime.main`.
pub fn start() {
    // SAFETY: ngsys is protected by sched.lock.
    unsafe {
        let sch = sched();
        (*sch).lock.lock();
        (*sch).ngsys += 1;
        (*sch).lock.unlock();
    }
    let c = crate::chan::channel::<i32>(1);
    let started = c.clone();
    crate::proc::go(move || scavenger(&started));
    c.recv();
}

/// The scavenger goroutine (see the module docs): release the stacks of
/// Gs that stayed dead for a while, paced; park when there is nothing.
/// It sends on `c` once it runs (Go's `bgscavenge(c chan int)`).
#[unsafe(export_name = "runtime.scavenger")]
#[inline(never)]
pub extern "C" fn scavenger(c: &Chan<i32>) {
    SCAVG.store(getg(), Ordering::Release);
    c.send(1);
    loop {
        PENDING.store(0, Ordering::SeqCst);
        let (released, young) = scavenge_round();
        if released > 0 {
            ROUNDS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: malloc_trim is thread-safe. It may walk the whole
            // heap: run it as a system call so the P keeps working.
            crate::syscall::syscall(|| unsafe { libc::malloc_trim(0) });
            continue;
        }
        if young {
            crate::time::sleep(Duration::from_nanos(SCAV_AGE_NS as u64));
            continue;
        }
        gopark(Some(park_commit), null_mut(), WaitReason::GcScavengeWait);
    }
}

#[inline(always)]
unsafe fn gfree_n<'a>() -> &'a AtomicI32 {
    // SAFETY: GList.n is read racily elsewhere, so it is accessed atomically.
    unsafe { AtomicI32::from_ptr(&raw mut (*sched()).gfree.n) }
}

/// One round: unlink up to UNLINK_MAX old-enough dead Gs, release their
/// stacks in paced batches, link them back. Returns (stacks released,
/// whether some dead Gs are not old enough yet).
fn scavenge_round() -> (usize, bool) {
    let now = nanotime();
    let mut young = false;
    let mut cand: Vec<*mut G> = Vec::new();
    // SAFETY: the list is walked and edited under gflock; the books under
    // SCAV_LOCK (taken inside, see the lock order).
    unsafe {
        let sch = sched();
        (*sch).gflock.lock();
        SCAV_LOCK.lock();
        let b = books();
        let mut link: *mut *mut G = &raw mut (*sch).gfree.head;
        while !(*link).is_null() && cand.len() < UNLINK_MAX {
            let g = *link;
            let goid = (*g).goid;
            if b.released.get(&(g as usize)) == Some(&goid) {
                link = &raw mut (*g).schedlink;
                continue;
            }
            match b.seen.get(&(g as usize)) {
                Some(&(sg, t)) if sg == goid => {
                    if now - t >= SCAV_AGE_NS {
                        // Unlink g.
                        *link = (*g).schedlink;
                        (*g).schedlink = null_mut();
                        gfree_n().store((*sch).gfree.n - 1, Ordering::Relaxed);
                        cand.push(g);
                        continue;
                    }
                    young = true;
                }
                _ => {
                    b.seen.insert(g as usize, (goid, now));
                    young = true;
                }
            }
            link = &raw mut (*g).schedlink;
        }
        SCAV_LOCK.unlock();
        (*sch).gflock.unlock();
    }
    let n = cand.len();
    // Address order, so that stacks carved next to each other from one
    // chunk go back in one madvise (one TLB shoot-down instead of 64).
    // SAFETY: unlinked dead Gs are ours.
    cand.sort_unstable_by_key(|&g| unsafe { (*g).stack.lo });
    let guard = crate::stack::guard_size();
    for batch in cand.chunks(BATCH) {
        let t0 = nanotime();
        let mut bytes = 0u64;
        let mut run: Option<(usize, usize)> = None;
        let flush = |r: (usize, usize), bytes: &mut u64| {
            // SAFETY: [lo, hi) covers only stacks of dead, unlinked Gs and
            // the guard pages between them (guards survive DONTNEED, see
            // the test below).
            if unsafe { libc::madvise(r.0 as *mut libc::c_void, r.1 - r.0, libc::MADV_DONTNEED) }
                == 0
            {
                *bytes += (r.1 - r.0) as u64;
            }
        };
        // The madvise calls of one batch run as a system call (they may
        // take a millisecond): the P is lent to others meanwhile.
        crate::syscall::syscall(|| {
            for &g in batch {
                // SAFETY: g is dead and unlinked: nobody can run on its stack.
                let st = unsafe { (*g).stack };
                run = match run {
                    Some((lo, hi)) if hi + guard == st.lo => Some((lo, st.hi)),
                    Some(r) => {
                        flush(r, &mut bytes);
                        Some((st.lo, st.hi))
                    }
                    None => Some((st.lo, st.hi)),
                };
            }
            if let Some(r) = run {
                flush(r, &mut bytes);
            }
        });
        // SAFETY: link the batch back (gflock) and record it (SCAV_LOCK).
        unsafe {
            let sch = sched();
            (*sch).gflock.lock();
            SCAV_LOCK.lock();
            let b = books();
            for &g in batch {
                b.released.insert(g as usize, (*g).goid);
                b.seen.remove(&(g as usize));
                (*g).schedlink = (*sch).gfree.head;
                (*sch).gfree.head = g;
                gfree_n().store((*sch).gfree.n + 1, Ordering::Relaxed);
            }
            SCAV_LOCK.unlock();
            (*sch).gflock.unlock();
        }
        RELEASED_BYTES.fetch_add(bytes, Ordering::Relaxed);
        let took = nanotime() - t0;
        // Pace: 25% of a CPU when every P is busy, 50% when some P idles.
        // SAFETY: npidle is only accessed atomically.
        let idle = unsafe { atomic_u32(&raw mut (*sched()).npidle).load(Ordering::Relaxed) } > 0;
        let pause = if idle { took / 4 } else { 3 * took };
        crate::time::sleep(Duration::from_nanos(pause.max(50_000) as u64));
    }
    (n, young)
}

/// Memory statistics (Go's `runtime.ReadMemStats`, reduced to what this
/// runtime manages). Stack figures are in pages of `page_size` bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemStats {
    /// Physical page size.
    pub page_size: usize,
    /// Goroutine stack size in bytes.
    pub stack_size: usize,
    /// Stack pages of goroutines that exist (running, runnable, waiting).
    pub stack_inuse_pages: usize,
    /// Stack pages of dead goroutines kept for reuse, not yet returned.
    pub stack_free_pages: usize,
    /// Stack pages of dead goroutines returned to the OS (MADV_DONTNEED).
    pub stack_released_pages: usize,
    /// Bytes in use in the malloc heap (`mallinfo2().uordblks`).
    pub heap_inuse_bytes: usize,
    /// Free bytes held by the malloc heap (`mallinfo2().fordblks`).
    pub heap_free_bytes: usize,
    /// Bytes returned to the OS by the scavenger since start (cumulative).
    pub released_total_bytes: u64,
    /// Scavenger rounds that released memory.
    pub scavenger_rounds: u64,
}

/// Current memory statistics (walks every G: O(number of Gs)).
pub fn memstats() -> MemStats {
    let page = crate::rt0::PHYS_PAGE_SIZE.load(Ordering::Relaxed).max(1);
    let size = crate::stack::stack_size();
    let pages = size / page;
    let mut m = MemStats {
        page_size: page,
        stack_size: size,
        released_total_bytes: RELEASED_BYTES.load(Ordering::Relaxed),
        scavenger_rounds: ROUNDS.load(Ordering::Relaxed),
        ..MemStats::default()
    };
    SCAV_LOCK.lock();
    let b = books();
    crate::proc::for_each_g(|gp| {
        // SAFETY: Gs are never freed; goid/status read racily (statistics).
        unsafe {
            if readgstatus(gp) == GDEAD {
                if b.released.get(&(gp as usize)) == Some(&(*gp).goid) {
                    m.stack_released_pages += pages;
                } else {
                    m.stack_free_pages += pages;
                }
            } else {
                m.stack_inuse_pages += pages;
            }
        }
    });
    SCAV_LOCK.unlock();
    // SAFETY: mallinfo2 only reads allocator statistics.
    let mi = unsafe { libc::mallinfo2() };
    m.heap_inuse_bytes = mi.uordblks;
    m.heap_free_bytes = mi.fordblks;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The park/wake protocol of the module docs (no scavenger goroutine in
    /// unit tests: SCAVG is null, so a successful wake readies nobody).
    #[test]
    fn park_and_wake_protocol() {
        STATE.store(RUNNING, Ordering::SeqCst);
        PENDING.store(0, Ordering::SeqCst);
        // Work appeared before the scavenger parks: the park is refused.
        wake();
        assert_eq!(STATE.load(Ordering::SeqCst), RUNNING);
        // SAFETY: park_commit only touches the state words.
        assert!(!unsafe { park_commit(null_mut(), null_mut()) });
        assert_eq!(STATE.load(Ordering::SeqCst), RUNNING);
        // Nothing pending: it parks; the next wake flips it back exactly once.
        PENDING.store(0, Ordering::SeqCst);
        // SAFETY: as above.
        assert!(unsafe { park_commit(null_mut(), null_mut()) });
        assert_eq!(STATE.load(Ordering::SeqCst), PARKED);
        wake();
        assert_eq!(STATE.load(Ordering::SeqCst), RUNNING);
        wake();
        assert_eq!(STATE.load(Ordering::SeqCst), RUNNING);
        PENDING.store(0, Ordering::SeqCst);
    }

    /// Returning a run of adjacent stacks with one madvise also zaps the
    /// guard pages between them: the guards must survive (guard regions
    /// persist across MADV_DONTNEED; mprotect guards are separate VMAs).
    #[test]
    fn dontneed_keeps_guards() {
        let a = crate::stack::stackalloc();
        let b = crate::stack::stackalloc();
        if b.lo != a.hi + crate::stack::guard_size() {
            return; // not adjacent (pool reuse): nothing to check
        }
        // SAFETY: both stacks are ours.
        unsafe {
            *((a.hi - 1) as *mut u8) = 1;
            *(b.lo as *mut u8) = 2;
            assert_eq!(
                libc::madvise(a.lo as *mut libc::c_void, b.hi - a.lo, libc::MADV_DONTNEED),
                0
            );
            assert_eq!(*(b.lo as *const u8), 0, "pages are zero after DONTNEED");
        }
        let mut buf = [0u8; 1];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let remote = libc::iovec {
            iov_base: (b.lo - 1) as *mut libc::c_void,
            iov_len: 1,
        };
        // SAFETY: the kernel reports a fault as an error.
        let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
        assert_eq!(n, -1, "guard page must stay a guard after MADV_DONTNEED");
    }
}
