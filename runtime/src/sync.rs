//! `sync.WaitGroup` and `sync.Mutex` for goroutines (Go's sync package):
//! waiting parks the goroutine, never the thread.
//!
//! # Design
//!
//! Both are a state word plus a [`Sema`] (sema.rs), ported from Go 1.19.
//!
//! ## WaitGroup: one 64-bit state word
//!
//! `state = counter << 32 | waiters`. `add(d)` adds `d << 32` atomically; a
//! waiter CASes `waiters + 1` only while the counter is non-zero, then
//! sleeps on the semaphore. The `add` that brings the counter to zero sees
//! the waiter count in the *same* atomic result, resets the word to 0 and
//! releases the semaphore once per waiter. Since the counter and the
//! waiter count change together, a waiter can never register after the
//! counter reached zero and miss its wakeup. Misuse panics with Go's
//! messages (negative counter; `add` racing with the last `wait`).
//!
//! [`WaitGroup`] is a cloneable handle (goroutine closures are `'static`,
//! so the group is shared by `Arc` where Go shares a pointer).
//!
//! ## Mutex: Go's state word with normal and starvation modes
//!
//! `state` bits: `LOCKED` (1), `WOKEN` (2: a woken waiter is on its way, so
//! unlock need not wake another), `STARVING` (4), and the number of waiters
//! above bit 3.
//!
//! * Normal mode: waiters queue FIFO, but a woken waiter competes with
//!   newcomers (who are already running and so usually win): good
//!   throughput. A newcomer may spin a few rounds when other CPUs run
//!   goroutines, betting the holder unlocks soon.
//! * A waiter that fails to get the lock for more than 1 ms switches the
//!   mutex to starvation mode: unlock hands ownership directly to the
//!   waiter at the head of the queue (semaphore handoff), newcomers queue at
//!   the tail without trying. The mutex returns to normal mode when the
//!   waiter that got it is the last one, or waited less than 1 ms.
//!
//! Waiting goroutines show wait reason "sync.Mutex.Lock"; WaitGroup
//! waiters show "semacquire" (Go 1.19's reason for `WaitGroup.Wait`).

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::runtime2::WaitReason;
use crate::sema::Sema;

/// WaitGroup state: counter in the high 32 bits, waiters in the low 32.
#[repr(C)]
pub struct WaitGroupState {
    /// `counter << 32 | waiters` (atomic).
    pub state: AtomicU64,
    /// Waiters sleep here.
    pub sema: Sema,
}

/// Waits for a collection of goroutines to finish (Go's `sync.WaitGroup`):
/// `add(n)` before starting them, `done()` in each, `wait()` to block until
/// the counter is zero. Clones share one group.
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<WaitGroupState>,
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitGroup {
    /// A group with counter 0.
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(WaitGroupState {
                state: AtomicU64::new(0),
                sema: Sema::new(0),
            }),
        }
    }

    /// Adds `delta` (may be negative) to the counter; at zero, releases all
    /// waiters. Panics if the counter goes negative.
    pub fn add(&self, delta: isize) {
        let wg = &*self.inner;
        let delta = i32::try_from(delta).expect("sync: WaitGroup delta out of range");
        let state = wg
            .state
            .fetch_add((delta as i64 as u64) << 32, Ordering::SeqCst)
            .wrapping_add((delta as i64 as u64) << 32);
        let v = (state >> 32) as i32;
        let w = state as u32;
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if w != 0 && delta > 0 && v == delta {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // Counter is 0 and there are waiters: nobody may change the state
        // now (adds from 0 with waiters are misuse), so reset it and wake
        // every waiter.
        if wg.state.load(Ordering::SeqCst) != state {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        wg.state.store(0, Ordering::SeqCst);
        for _ in 0..w {
            wg.sema.release(false);
        }
    }

    /// Decrements the counter by one.
    pub fn done(&self) {
        self.add(-1);
    }

    /// Blocks (parks) until the counter is zero.
    pub fn wait(&self) {
        let wg = &*self.inner;
        loop {
            let state = wg.state.load(Ordering::SeqCst);
            if (state >> 32) as i32 == 0 {
                return;
            }
            if wg
                .state
                .compare_exchange(state, state + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                wg.sema.acquire(false, WaitReason::Semacquire);
                if wg.state.load(Ordering::SeqCst) != 0 {
                    panic!("sync: WaitGroup is reused before previous Wait has returned");
                }
                return;
            }
        }
    }

    /// The counter now (diagnostics).
    pub fn count(&self) -> i32 {
        (self.inner.state.load(Ordering::SeqCst) >> 32) as i32
    }
}

const MUTEX_LOCKED: i32 = 1;
const MUTEX_WOKEN: i32 = 2;
const MUTEX_STARVING: i32 = 4;
const MUTEX_WAITER_SHIFT: u32 = 3;
/// A waiter that waited longer than this switches the mutex to starvation.
const STARVATION_THRESHOLD_NS: i64 = 1_000_000;
/// Spin rounds before queueing (Go's active_spin) and pauses per round.
const ACTIVE_SPIN: i32 = 4;
const ACTIVE_SPIN_CNT: u32 = 30;

/// A mutual-exclusion lock for goroutines (Go's `sync.Mutex`, with the
/// data it protects, as `std::sync::Mutex`): a goroutine that waits for it
/// parks, and its thread runs other goroutines meanwhile.
#[repr(C)]
pub struct Mutex<T: ?Sized> {
    /// LOCKED | WOKEN | STARVING | waiters << 3 (atomic).
    state: AtomicI32,
    /// Waiters park here.
    sema: Sema,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to T to one goroutine at a time.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: &Mutex only gives exclusive access through the lock.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Proof of holding a [`Mutex`]; unlocks when dropped.
pub struct MutexGuard<'a, T: ?Sized> {
    m: &'a Mutex<T>,
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `v`.
    pub const fn new(v: T) -> Mutex<T> {
        Mutex {
            state: AtomicI32::new(0),
            sema: Sema::new(0),
            data: UnsafeCell::new(v),
        }
    }

    /// The protected value (the mutex is consumed, so no one holds it).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

/// Whether a would-be locker should spin (Go's `sync_runtime_canSpin`,
/// without the run-queue check): only a few rounds, and only when another
/// P may be running the holder.
fn can_spin(iter: i32) -> bool {
    // SAFETY: a plain read of a word the scheduler sets at start-up and in
    // gomaxprocs(); a stale value only changes a spinning heuristic.
    let procs = unsafe { core::ptr::read_volatile(&raw const crate::runtime2::GOMAXPROCS) };
    iter < ACTIVE_SPIN && procs > 1
}

fn do_spin() {
    for _ in 0..ACTIVE_SPIN_CNT {
        core::hint::spin_loop();
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking the goroutine while another holds the lock.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // Preemption safe point (sysmon.rs).
        crate::sysmon::preempt_check();
        if self
            .state
            .compare_exchange(0, MUTEX_LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        MutexGuard { m: self }
    }

    /// Locks if free now (Go's `TryLock`).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let old = self.state.load(Ordering::Relaxed);
        if old & (MUTEX_LOCKED | MUTEX_STARVING) != 0 {
            return None;
        }
        self.state
            .compare_exchange(
                old,
                old | MUTEX_LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .ok()
            .map(|_| MutexGuard { m: self })
    }

    /// Mutable access without locking (we own the only reference).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Whether someone holds the lock now (diagnostics).
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & MUTEX_LOCKED != 0
    }

    /// Whether the mutex is in starvation mode now (diagnostics, tests).
    pub fn is_starving(&self) -> bool {
        self.state.load(Ordering::Relaxed) & MUTEX_STARVING != 0
    }

    #[cold]
    fn lock_slow(&self) {
        let mut wait_start: i64 = 0;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Spin only in normal mode while locked: in starvation mode
            // ownership goes to the waiters, spinning could not win.
            if old & (MUTEX_LOCKED | MUTEX_STARVING) == MUTEX_LOCKED && can_spin(iter) {
                // Tell unlock not to wake another waiter: we are awake.
                if !awoke
                    && old & MUTEX_WOKEN == 0
                    && old >> MUTEX_WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(
                            old,
                            old | MUTEX_WOKEN,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    awoke = true;
                }
                do_spin();
                iter += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            // Don't try to take a starving mutex: newcomers queue.
            if old & MUTEX_STARVING == 0 {
                new |= MUTEX_LOCKED;
            }
            if old & (MUTEX_LOCKED | MUTEX_STARVING) != 0 {
                new += 1 << MUTEX_WAITER_SHIFT;
            }
            // Switch to starvation mode, but only if still locked (an unlock
            // expects waiters in starvation mode).
            if starving && old & MUTEX_LOCKED != 0 {
                new |= MUTEX_STARVING;
            }
            if awoke {
                // We were woken (or set WOKEN ourselves): clear the flag.
                if new & MUTEX_WOKEN == 0 {
                    crate::signal::throw("sync: inconsistent mutex state");
                }
                new &= !MUTEX_WOKEN;
            }
            if self
                .state
                .compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                if old & (MUTEX_LOCKED | MUTEX_STARVING) == 0 {
                    return; // locked with the CAS
                }
                // Waited before: go to the front of the queue.
                let lifo = wait_start != 0;
                if wait_start == 0 {
                    wait_start = crate::time::nanotime();
                }
                self.sema.acquire(lifo, WaitReason::SyncMutexLock);
                starving =
                    starving || crate::time::nanotime() - wait_start > STARVATION_THRESHOLD_NS;
                old = self.state.load(Ordering::Relaxed);
                if old & MUTEX_STARVING != 0 {
                    // Ownership was handed to us, but the state still says
                    // unlocked with us counted as a waiter: fix it up.
                    if old & (MUTEX_LOCKED | MUTEX_WOKEN) != 0 || old >> MUTEX_WAITER_SHIFT == 0 {
                        crate::signal::throw("sync: inconsistent mutex state");
                    }
                    let mut delta = MUTEX_LOCKED - (1 << MUTEX_WAITER_SHIFT);
                    if !starving || old >> MUTEX_WAITER_SHIFT == 1 {
                        // Leave starvation mode: we waited little, or we are
                        // the last waiter.
                        delta -= MUTEX_STARVING;
                    }
                    self.state.fetch_add(delta, Ordering::Acquire);
                    return;
                }
                awoke = true;
                iter = 0;
            } else {
                old = self.state.load(Ordering::Relaxed);
            }
        }
    }

    fn unlock(&self) {
        let new = self.state.fetch_sub(MUTEX_LOCKED, Ordering::Release) - MUTEX_LOCKED;
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    #[cold]
    fn unlock_slow(&self, new: i32) {
        if (new + MUTEX_LOCKED) & MUTEX_LOCKED == 0 {
            crate::signal::throw("sync: unlock of unlocked mutex");
        }
        if new & MUTEX_STARVING == 0 {
            let mut old = new;
            loop {
                // No waiters, or someone already locked/woke/starves it:
                // nobody to wake.
                if old >> MUTEX_WAITER_SHIFT == 0
                    || old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING) != 0
                {
                    return;
                }
                // Take one waiter off the count and wake it.
                let n = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
                match self
                    .state
                    .compare_exchange(old, n, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => {
                        self.sema.release(false);
                        return;
                    }
                    Err(now) => old = now,
                }
            }
        } else {
            // Starvation mode: hand ownership to the next waiter, and yield
            // so it runs at once.
            self.sema.release(true);
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock.
        unsafe { &*self.m.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock, exclusively.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.m.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Only paths that never park can run outside the runtime.

    #[test]
    fn mutex_uncontended() {
        let m = Mutex::new(5);
        {
            let mut g = m.lock();
            *g += 1;
            assert!(m.is_locked());
            assert!(m.try_lock().is_none());
        }
        assert!(!m.is_locked());
        assert_eq!(*m.try_lock().unwrap(), 6);
        assert_eq!(m.into_inner(), 6);
    }

    #[test]
    fn waitgroup_counts_without_waiters() {
        let wg = WaitGroup::new();
        wg.add(3);
        wg.done();
        assert_eq!(wg.count(), 2);
        wg.add(-2);
        wg.wait(); // counter zero: returns at once
        assert_eq!(wg.count(), 0);
    }

    #[test]
    #[should_panic(expected = "sync: negative WaitGroup counter")]
    fn waitgroup_negative_panics() {
        WaitGroup::new().done();
    }

    #[test]
    fn sema_tickets_without_waiters() {
        let s = Sema::new(1);
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        s.release(false);
        assert!(s.try_acquire());
    }
}
