//! Run queues: each P's local ring + `runnext`, and the global queue.
//!
//! # The local run queue (Go's runqput/runqget/runqgrab/runqsteal)
//!
//! A P's queue is a ring of [`RUNQ_SIZE`] slots indexed by two free-running
//! `u32` counters: `runqhead` (next to take) and `runqtail` (next free).
//! `tail - head` (wrapping) is the length, at most 256.
//!
//! * Only the P's owner **produces**: it writes `runq[tail % 256]` and then
//!   publishes it with a store-release of `runqtail`. Nobody else writes
//!   `runqtail`, so the owner may read it plainly.
//! * Anyone **consumes** (the owner in `runqget`, thieves in `runqgrab`) by
//!   reading slots `[head, tail)` and then claiming them with a CAS-release
//!   on `runqhead`. A consumer load-acquires `runqhead` and `runqtail`; the
//!   acquire of `runqtail` synchronises with the owner's release, so the slot
//!   contents it reads are the ones published. If the CAS fails someone else
//!   took (some of) those Gs, and what was read is discarded - never used.
//! * Why a slot read by a thief cannot be overwritten before its CAS
//!   succeeds: the owner only writes slot `t` when `t - head < 256`, with
//!   `head` load-acquired; the thief's CAS moves `head` past the slots it
//!   read, so until it succeeds those slots count as occupied. The owner may
//!   overwrite them only after a CAS that moved `head` - which makes the
//!   thief's CAS (expecting the old head) fail. The acquire on `head` by the
//!   owner (paired with the release CAS) orders the thief's reads before the
//!   owner's reuse of the slots.
//! * Slots are read racily by thieves while the owner writes other slots,
//!   so all slot accesses are atomic (relaxed); the publication order is
//!   carried by `runqtail`/`runqhead`.
//! * `runqgrab` takes half of the queue. Because `head` and `tail` are read
//!   at slightly different times, a thief can see an inconsistent pair with
//!   `tail - head > 256`; it then retries (Go's check).
//!
//! `runnext` holds one G that runs next, inheriting the current time slice
//! (a goroutine readied by the running one - e.g. the receiver of a channel
//! send - runs immediately on the same P: good locality for ping-pong). It
//! is an atomic pointer changed only by CAS/swap: the owner replaces it
//! (kicking the old one to the tail of the ring), consumers CAS it to 0.
//! Thieves take `runnext` only as a last resort (the fourth round of
//! stealing), and only after giving the owner a short window to run it
//! itself (Go sleeps 3 µs there; we spin-wait at most 3 µs by the clock,
//! watching `runnext` and `schedtick`, no syscall).
//!
//! When the ring is full, `runqputslow` moves half of it plus the new G to
//! the global queue in one batch (one lock acquisition for 129 Gs).
//!
//! # The global run queue
//!
//! `Sched.runq` is a FIFO linked through `G.schedlink`, protected by
//! `Sched.lock`, with its length in `Sched.runqsize`. It receives overflow
//! from local queues and Gs readied by threads that hold no P. Each P takes
//! a fair share (`runqsize / gomaxprocs + 1`, at most half a local queue)
//! when its local queue is empty, and one G every 61 schedule ticks even
//! when it is not, so the global queue cannot starve.

use core::sync::atomic::Ordering;

use crate::runtime2::{
    G, GQueue, P, PRUNNING, RUNQ_SIZE, Sched, atomic_ptr, atomic_u32, atomic_usize,
};

#[inline(always)]
unsafe fn head<'a>(pp: *mut P) -> &'a core::sync::atomic::AtomicU32 {
    // SAFETY: P is live; runqhead is only accessed atomically.
    unsafe { atomic_u32(&raw mut (*pp).runqhead) }
}

#[inline(always)]
unsafe fn tail<'a>(pp: *mut P) -> &'a core::sync::atomic::AtomicU32 {
    // SAFETY: P is live; runqtail is only accessed atomically.
    unsafe { atomic_u32(&raw mut (*pp).runqtail) }
}

#[inline(always)]
unsafe fn slot<'a>(pp: *mut P, i: u32) -> &'a core::sync::atomic::AtomicPtr<G> {
    // SAFETY: index reduced modulo the ring size; slots only accessed atomically.
    unsafe {
        atomic_ptr(
            (&raw mut (*pp).runq)
                .cast::<*mut G>()
                .add(i as usize % RUNQ_SIZE),
        )
    }
}

#[inline(always)]
unsafe fn runnext<'a>(pp: *mut P) -> &'a core::sync::atomic::AtomicUsize {
    // SAFETY: runnext is only accessed atomically.
    unsafe { atomic_usize(&raw mut (*pp).runnext) }
}

/// Whether `pp` has no local work (ring and runnext empty). Reads are
/// repeated until consistent (the ring may move between the loads).
///
/// # Safety
/// `pp` is a live P.
pub unsafe fn runqempty(pp: *mut P) -> bool {
    // SAFETY: pp is live (this function's contract; Ps are never freed) and
    // runqhead/runqtail/runnext are only ever accessed atomically.
    unsafe {
        loop {
            let h = head(pp).load(Ordering::Acquire);
            let t = tail(pp).load(Ordering::Acquire);
            let next = runnext(pp).load(Ordering::Acquire);
            if tail(pp).load(Ordering::Acquire) == t {
                return h == t && next == 0;
            }
        }
    }
}

#[cfg(test)]
/// Number of Gs in `pp`'s ring (not counting runnext); approximate if racing.
///
/// # Safety
/// `pp` is a live P.
pub unsafe fn runqlen(pp: *mut P) -> u32 {
    // SAFETY: as runqempty: pp is live and both counters are only ever
    // accessed atomically.
    unsafe {
        tail(pp)
            .load(Ordering::Acquire)
            .wrapping_sub(head(pp).load(Ordering::Acquire))
    }
}

/// Put `gp` on `pp`'s local queue; with `next`, into `runnext` (the old
/// runnext moves to the ring's tail). Overflow goes to the global queue;
/// returns true when that happened (the ring was full).
///
/// # Safety
/// Called only by `pp`'s owner; `gp` is runnable and on no queue.
pub unsafe fn runqput(pp: *mut P, mut gp: *mut G, next: bool) -> bool {
    // SAFETY: owner-side protocol described in the module docs.
    unsafe {
        if next {
            let rn = runnext(pp);
            let mut old = rn.load(Ordering::Relaxed);
            loop {
                match rn.compare_exchange_weak(
                    old,
                    gp as usize,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(o) => old = o,
                }
            }
            if old == 0 {
                return false;
            }
            gp = old as *mut G;
        }
        loop {
            let h = head(pp).load(Ordering::Acquire);
            let t = tail(pp).load(Ordering::Relaxed);
            if t.wrapping_sub(h) < RUNQ_SIZE as u32 {
                slot(pp, t).store(gp, Ordering::Relaxed);
                tail(pp).store(t.wrapping_add(1), Ordering::Release);
                return false;
            }
            if runqputslow(pp, gp, h, t) {
                return true;
            }
            // The queue is not full any more (a thief took some): retry.
        }
    }
}

/// Move half of the full local ring plus `gp` to the global queue.
unsafe fn runqputslow(pp: *mut P, gp: *mut G, h: u32, t: u32) -> bool {
    const HALF: usize = RUNQ_SIZE / 2;
    let mut batch: [*mut G; HALF + 1] = [core::ptr::null_mut(); HALF + 1];
    let n = t.wrapping_sub(h) / 2;
    if n as usize != HALF {
        crate::signal::throw("runqputslow: queue is not full");
    }
    // SAFETY: owner-side protocol; the CAS claims the slots read.
    unsafe {
        for (i, b) in batch.iter_mut().enumerate().take(n as usize) {
            *b = slot(pp, h.wrapping_add(i as u32)).load(Ordering::Relaxed);
        }
        if head(pp)
            .compare_exchange(h, h.wrapping_add(n), Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        batch[n as usize] = gp;
        for i in 0..n as usize {
            (*batch[i]).schedlink = batch[i + 1];
        }
        (*gp).schedlink = core::ptr::null_mut();
        let s = crate::runtime2::sched();
        (*s).lock.lock();
        globrunqputbatch(s, batch[0], gp, n as i32 + 1);
        (*s).lock.unlock();
    }
    true
}

/// Take a G from `pp`'s local queue: runnext first (returns inherit = true:
/// it runs in the current time slice), then the ring.
///
/// # Safety
/// Called only by `pp`'s owner.
pub unsafe fn runqget(pp: *mut P) -> Option<(*mut G, bool)> {
    // SAFETY: consumer protocol of the module docs.
    unsafe {
        let rn = runnext(pp);
        let next = rn.load(Ordering::Relaxed);
        if next != 0
            && rn
                .compare_exchange(next, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some((next as *mut G, true));
        }
        loop {
            let h = head(pp).load(Ordering::Acquire);
            let t = tail(pp).load(Ordering::Relaxed);
            if t == h {
                return None;
            }
            let gp = slot(pp, h).load(Ordering::Relaxed);
            if head(pp)
                .compare_exchange(h, h.wrapping_add(1), Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return Some((gp, false));
            }
        }
    }
}

/// Empty `pp`'s local queue into the returned list (used when a P dies).
///
/// # Safety
/// Called by the owner or with the world stopped.
pub unsafe fn runqdrain(pp: *mut P) -> Vec<*mut G> {
    let mut v = Vec::new();
    // SAFETY: runqget's contract is this function's: the caller owns pp or
    // has stopped the world.
    while let Some((gp, _)) = unsafe { runqget(pp) } {
        v.push(gp);
    }
    v
}

/// Grab about half of `pp`'s Gs into the ring `batch` starting at
/// `batch_head` (Go's runqgrab). With `steal_runnext`, take `pp`'s runnext
/// when the ring is empty. Returns how many were grabbed.
///
/// # Safety
/// `pp` is a live P; `batch` is the thief's own ring, slots from
/// `batch_head` free.
pub unsafe fn runqgrab(pp: *mut P, batch: *mut P, batch_head: u32, steal_runnext: bool) -> u32 {
    // SAFETY: consumer protocol of the module docs.
    unsafe {
        loop {
            let h = head(pp).load(Ordering::Acquire);
            let t = tail(pp).load(Ordering::Acquire);
            let mut n = t.wrapping_sub(h);
            n -= n / 2;
            if n == 0 {
                if steal_runnext {
                    let rn = runnext(pp);
                    let next = rn.load(Ordering::Acquire);
                    if next != 0 {
                        if atomic_u32(&raw mut (*pp).status).load(Ordering::Relaxed) == PRUNNING {
                            // The owner is about to run it (it was just
                            // readied by the running G): give it a moment
                            // instead of moving the G to another core -
                            // and give it the CPU: Go's usleep(3), which
                            // the kernel's timer slack stretches to tens of
                            // µs. A thief that spun here instead (3 µs by
                            // the clock) took the core the owner needed
                            // whenever threads outnumber cores: measured
                            // side by side on the 2-core machine at load 12,
                            // TestSelectStress at P=2 took 118-277 ms
                            // sleeping vs 203-420 spinning, ping-pong at
                            // P=2 135-384 ns vs 229-468.
                            libc::usleep(3);
                        }
                        if rn
                            .compare_exchange(next, 0, Ordering::AcqRel, Ordering::Relaxed)
                            .is_err()
                        {
                            continue;
                        }
                        slot(batch, batch_head).store(next as *mut G, Ordering::Relaxed);
                        return 1;
                    }
                }
                return 0;
            }
            if n > (RUNQ_SIZE / 2) as u32 {
                // Inconsistent read of h and t.
                continue;
            }
            for i in 0..n {
                let g = slot(pp, h.wrapping_add(i)).load(Ordering::Relaxed);
                slot(batch, batch_head.wrapping_add(i)).store(g, Ordering::Relaxed);
            }
            if head(pp)
                .compare_exchange(h, h.wrapping_add(n), Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }
}

/// Steal half of `p2`'s Gs into `pp`'s ring and return one of them.
///
/// # Safety
/// Called by `pp`'s owner; `p2` is a live P different from `pp`.
pub unsafe fn runqsteal(pp: *mut P, p2: *mut P, steal_runnext: bool) -> *mut G {
    // SAFETY: owner of pp publishes the grabbed Gs with a release store.
    unsafe {
        let t = tail(pp).load(Ordering::Relaxed);
        let mut n = runqgrab(p2, pp, t, steal_runnext);
        if n == 0 {
            return core::ptr::null_mut();
        }
        n -= 1;
        let gp = slot(pp, t.wrapping_add(n)).load(Ordering::Relaxed);
        if n == 0 {
            return gp;
        }
        let h = head(pp).load(Ordering::Acquire);
        if t.wrapping_sub(h).wrapping_add(n) >= RUNQ_SIZE as u32 {
            crate::signal::throw("runqsteal: runq overflow");
        }
        tail(pp).store(t.wrapping_add(n), Ordering::Release);
        gp
    }
}

/// Append `gp` to the global queue.
///
/// # Safety
/// `sched.lock` held; `gp` on no queue.
pub unsafe fn globrunqput(s: *mut Sched, gp: *mut G) {
    // SAFETY: under sched.lock.
    unsafe {
        (*gp).schedlink = core::ptr::null_mut();
        gqueue_push_back(&raw mut (*s).runq, gp, gp);
        (*s).runqsize += 1;
    }
}

/// Append a linked batch `head..=tail` of `n` Gs to the global queue.
///
/// # Safety
/// `sched.lock` held; the batch is linked through schedlink, tail's link null.
pub unsafe fn globrunqputbatch(s: *mut Sched, head: *mut G, tail: *mut G, n: i32) {
    // SAFETY: under sched.lock.
    unsafe {
        gqueue_push_back(&raw mut (*s).runq, head, tail);
        (*s).runqsize += n;
    }
}

unsafe fn gqueue_push_back(q: *mut GQueue, head: *mut G, tail: *mut G) {
    // SAFETY: caller holds the queue's lock.
    unsafe {
        (*tail).schedlink = core::ptr::null_mut();
        if (*q).tail.is_null() {
            (*q).head = head;
        } else {
            (*(*q).tail).schedlink = head;
        }
        (*q).tail = tail;
    }
}

unsafe fn gqueue_pop(q: *mut GQueue) -> *mut G {
    // SAFETY: caller holds the queue's lock.
    unsafe {
        let gp = (*q).head;
        if !gp.is_null() {
            (*q).head = (*gp).schedlink;
            if (*q).head.is_null() {
                (*q).tail = core::ptr::null_mut();
            }
            (*gp).schedlink = core::ptr::null_mut();
        }
        gp
    }
}

/// Take a batch from the global queue: one G to run and up to a fair share
/// more into `pp`'s local queue. `max` > 0 caps the batch.
///
/// # Safety
/// `sched.lock` held; called by `pp`'s owner.
pub unsafe fn globrunqget(s: *mut Sched, pp: *mut P, max: i32, gomaxprocs: i32) -> *mut G {
    // SAFETY: under sched.lock; runqput is called by the owner.
    unsafe {
        if (*s).runqsize == 0 {
            return core::ptr::null_mut();
        }
        let mut n = (*s).runqsize / gomaxprocs.max(1) + 1;
        if n > (*s).runqsize {
            n = (*s).runqsize;
        }
        if max > 0 && n > max {
            n = max;
        }
        if n > (RUNQ_SIZE / 2) as i32 {
            n = (RUNQ_SIZE / 2) as i32;
        }
        (*s).runqsize -= n;
        let gp = gqueue_pop(&raw mut (*s).runq);
        for _ in 1..n {
            let g1 = gqueue_pop(&raw mut (*s).runq);
            runqput(pp, g1, false);
        }
        gp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::new_p_for_test;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    fn fake_gs(n: usize) -> Vec<*mut G> {
        (0..n)
            .map(|i| {
                let mut g = Box::new(G::zeroed());
                g.goid = i as i64 + 1;
                Box::into_raw(g)
            })
            .collect()
    }

    #[test]
    fn put_get_fifo_and_runnext() {
        let pp = new_p_for_test(0);
        let gs = fake_gs(5);
        // SAFETY: single-threaded use of a private P.
        unsafe {
            assert!(runqempty(pp));
            runqput(pp, gs[0], false);
            runqput(pp, gs[1], false);
            runqput(pp, gs[2], true);
            runqput(pp, gs[3], true); // kicks gs[2] to the tail
            assert_eq!(runqlen(pp), 3);
            assert_eq!(runqget(pp), Some((gs[3], true)));
            assert_eq!(runqget(pp), Some((gs[0], false)));
            assert_eq!(runqget(pp), Some((gs[1], false)));
            assert_eq!(runqget(pp), Some((gs[2], false)));
            assert_eq!(runqget(pp), None);
            assert!(runqempty(pp));
        }
    }

    #[test]
    fn overflow_goes_global_and_steal_takes_half() {
        let pp = new_p_for_test(1);
        let p2 = new_p_for_test(2);
        let gs = fake_gs(300);
        let s = crate::runtime2::sched();
        // SAFETY: private Ps; the global queue is used under its lock (and
        // this is the only test that touches it).
        unsafe {
            for &g in &gs {
                runqput(pp, g, false);
            }
            (*s).lock.lock();
            let global = (*s).runqsize;
            (*s).lock.unlock();
            assert_eq!(global, 129);
            assert_eq!(runqlen(pp), 300 - 129);
            let got = runqsteal(p2, pp, false);
            assert!(!got.is_null());
            let stolen = runqlen(p2) + 1;
            assert_eq!(stolen, (300u32 - 129).div_ceil(2));
            // Drain everything and check each G appears once.
            let mut seen = std::collections::HashSet::new();
            seen.insert(got as usize);
            while let Some((g, _)) = runqget(pp) {
                assert!(seen.insert(g as usize));
            }
            while let Some((g, _)) = runqget(p2) {
                assert!(seen.insert(g as usize));
            }
            (*s).lock.lock();
            loop {
                let g = gqueue_pop(&raw mut (*s).runq);
                if g.is_null() {
                    break;
                }
                (*s).runqsize -= 1;
                assert!(seen.insert(g as usize));
            }
            (*s).lock.unlock();
            assert_eq!(seen.len(), 300);
        }
    }

    struct SendP(*mut P);
    // SAFETY: test Ps are shared on purpose; the runq protocol is the thing tested.
    unsafe impl Send for SendP {}
    // SAFETY: as Send: every access to the P goes through the runq protocol under test.
    unsafe impl Sync for SendP {}

    /// One owner produces and consumes, thieves steal concurrently; every G
    /// must be consumed exactly once (checked by a sum of ids and a count),
    /// under many seeds of the interleaving (producer batch sizes).
    #[test]
    fn concurrent_steal_checksum() {
        for seed in 0..20u64 {
            let owner = Arc::new(SendP(new_p_for_test(10)));
            let thieves: Vec<Arc<SendP>> = (0..2)
                .map(|i| Arc::new(SendP(new_p_for_test(11 + i))))
                .collect();
            const N: usize = 20_000;
            let gs = fake_gs(N);
            let expect: u64 = (1..=N as u64).sum();
            let sum = Arc::new(AtomicU64::new(0));
            let count = Arc::new(AtomicU64::new(0));
            let done = Arc::new(AtomicBool::new(false));
            let mut hs = Vec::new();
            for th in &thieves {
                let (owner, th, sum, count, done) = (
                    owner.clone(),
                    th.clone(),
                    sum.clone(),
                    count.clone(),
                    done.clone(),
                );
                hs.push(std::thread::spawn(move || {
                    loop {
                        // SAFETY: this thread owns `th`; owner.0 is a live P.
                        unsafe {
                            let g = runqsteal(th.0, owner.0, true);
                            if !g.is_null() {
                                sum.fetch_add((*g).goid as u64, Ordering::Relaxed);
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            while let Some((g, _)) = runqget(th.0) {
                                sum.fetch_add((*g).goid as u64, Ordering::Relaxed);
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if done.load(Ordering::Acquire) && count.load(Ordering::Acquire) == N as u64
                        {
                            break;
                        }
                        if done.load(Ordering::Acquire) {
                            // SAFETY: read-only check of a live P.
                            if unsafe { runqempty(owner.0) } {
                                break;
                            }
                        }
                    }
                }));
            }
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut i = 0;
            while i < N {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let batch = (rng % 200) as usize + 1;
                for _ in 0..batch.min(N - i) {
                    // SAFETY: this thread owns owner.0.
                    unsafe {
                        // Keep within the ring so nothing spills to the
                        // (shared) global queue.
                        while runqlen(owner.0) >= RUNQ_SIZE as u32 - 1 {
                            if let Some((g, _)) = runqget(owner.0) {
                                sum.fetch_add((*g).goid as u64, Ordering::Relaxed);
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        runqput(owner.0, gs[i], rng & 8 == 0);
                    }
                    i += 1;
                }
                if rng & 3 == 0 {
                    // SAFETY: owner.
                    if let Some((g, _)) = unsafe { runqget(owner.0) } {
                        // SAFETY: g is one of ours.
                        sum.fetch_add(unsafe { (*g).goid } as u64, Ordering::Relaxed);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // SAFETY: owner drains what is left.
            while let Some((g, _)) = unsafe { runqget(owner.0) } {
                // SAFETY: g is one of ours.
                sum.fetch_add(unsafe { (*g).goid } as u64, Ordering::Relaxed);
                count.fetch_add(1, Ordering::Relaxed);
            }
            done.store(true, Ordering::Release);
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(count.load(Ordering::Relaxed), N as u64, "seed {seed}");
            assert_eq!(sum.load(Ordering::Relaxed), expect, "seed {seed}");
        }
    }
}
