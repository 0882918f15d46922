//! Go's sync package for goroutines: `WaitGroup`, `Mutex`, `RwMutex`,
//! `Once` and `Cond`. Waiting parks the goroutine, never the thread.
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
//! ## RwMutex: Go's reader count with writer preference
//!
//! Four words and an inner [`Mutex`] (`w`, held by the writer, so writers
//! queue on it one at a time):
//!
//! * `reader_count` - readers holding or waiting for the lock, minus
//!   `MAX_READERS` while a writer holds or waits for it. A reader adds 1:
//!   a result >= 0 means no writer, it holds the lock; a negative result
//!   means a writer is pending, and the reader parks on `reader_sem`.
//! * `reader_wait` - readers the pending writer still waits for: those
//!   that held the lock when the writer announced itself.
//! * `writer_sem`, `reader_sem` - where the writer and the blocked readers
//!   park ([`Sema`]).
//!
//! A writer takes `w`, then subtracts `MAX_READERS` from `reader_count`
//! in one atomic step: from then on every new reader sees a negative count
//! and parks - that is the writer preference (a blocked `write` blocks new
//! `read`s), and it is why writers cannot starve. The value before the
//! subtraction is the number `r` of active readers; the writer adds `r` to
//! `reader_wait` and parks on `writer_sem` unless that made it 0. Each
//! departing reader that sees a negative count (it was counted in `r`)
//! decrements `reader_wait`; the one that brings it to 0 releases
//! `writer_sem`. The writer's `+r` and the readers' `-1`s may come in any
//! order (the word may go negative first), but they sum to 0 exactly once,
//! so exactly one release happens, and only after every counted reader
//! left. Unlocking, the writer adds `MAX_READERS` back: the result is the
//! number of readers that arrived (and parked) meanwhile; it releases
//! `reader_sem` that many times (tickets are counted: a reader that has
//! not parked yet finds its ticket), then unlocks `w`.
//!
//! ## Once: a done word under a mutex
//!
//! `done` is set (release) only after `f` returned - or unwound, as Go's
//! deferred store - with the inner mutex held. The fast path reads `done`
//! (acquire): 1 means `f`'s effects are visible. Otherwise the caller
//! takes the mutex, checks `done` again and runs `f` if still 0; callers
//! that race with it wait on the mutex and then see `done == 1`.
//!
//! ## Cond: Go's ticket-based notify list
//!
//! * `wait` - the next ticket to hand out (atomic, only grows);
//! * `notify` - the next ticket to wake (atomic, written under `lock`).
//!
//! `wait(guard)` takes a ticket *before* unlocking the user's mutex, then
//! queues itself under `lock` unless `notify` already passed its ticket.
//! `signal` wakes the waiter holding ticket `notify` and advances it;
//! `broadcast` sets `notify = wait` and wakes everyone queued. A signal
//! that comes between the waiter's unlock and its queueing is not lost:
//! the ticket was counted in `wait`, so the signal advances `notify` past
//! it and the waiter, seeing that under `lock`, does not park. Waiters are
//! parked goroutines (`gopark`, reason "sync.Cond.Wait"), never threads.
//!
//! Waiting goroutines show wait reason "sync.Mutex.Lock",
//! "sync.RWMutex.RLock"/"sync.RWMutex.Lock" or "sync.Cond.Wait";
//! WaitGroup waiters show "semacquire" (Go 1.19's reason for
//! `WaitGroup.Wait`).

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::runtime2::WaitReason;
use crate::sema::Sema;

/// WaitGroup state: counter in the high 32 bits, waiters in the low 32.
#[repr(C)]
pub(crate) struct WaitGroupState {
    /// `counter << 32 | waiters` (atomic).
    pub(crate) state: AtomicU64,
    /// Waiters sleep here.
    pub(crate) sema: Sema,
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

// ---------------------------------------------------------------------------
// RwMutex (see the module docs for the state words).

/// Readers at most; `reader_count` goes this far negative while a writer
/// is pending (Go's `rwmutexMaxReaders`).
const MAX_READERS: i32 = 1 << 30;

/// A reader/writer lock for goroutines (Go's `sync.RWMutex`, holding its
/// data as `std::sync::RwLock`): any number of readers or one writer.
/// A writer waiting for the lock blocks new readers (writer preference),
/// so writers never starve. Waiting goroutines park.
#[repr(C)]
pub struct RwMutex<T: ?Sized> {
    /// Held by the writer (and by writers waiting their turn).
    w: Mutex<()>,
    /// Readers in or waiting, minus `MAX_READERS` if a writer is pending.
    reader_count: AtomicI32,
    /// Readers the pending writer still waits for.
    reader_wait: AtomicI32,
    /// The pending writer parks here until its readers left.
    writer_sem: Sema,
    /// Readers that came while a writer was pending park here.
    reader_sem: Sema,
    data: UnsafeCell<T>,
}

// SAFETY: access to T is handed out by the lock: shared to readers (so T
// must be Sync), exclusive to one writer.
unsafe impl<T: ?Sized + Send> Send for RwMutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwMutex<T> {}

/// Proof of holding an [`RwMutex`] for reading (Go's `RLock`); drop is
/// `RUnlock`.
pub struct RwMutexReadGuard<'a, T: ?Sized> {
    rw: &'a RwMutex<T>,
}

/// Proof of holding an [`RwMutex`] for writing (Go's `Lock`); drop is
/// `Unlock`.
pub struct RwMutexWriteGuard<'a, T: ?Sized> {
    rw: &'a RwMutex<T>,
    _w: MutexGuard<'a, ()>,
}

impl<T: Default> Default for RwMutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> RwMutex<T> {
    /// An unlocked RwMutex holding `v`.
    pub const fn new(v: T) -> RwMutex<T> {
        RwMutex {
            w: Mutex::new(()),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
            writer_sem: Sema::new(0),
            reader_sem: Sema::new(0),
            data: UnsafeCell::new(v),
        }
    }

    /// The protected value (consumed: nobody holds the lock).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwMutex<T> {
    /// Locks for reading (Go's `RLock`), parking while a writer holds the
    /// lock or waits for it.
    pub fn read(&self) -> RwMutexReadGuard<'_, T> {
        crate::sysmon::preempt_check();
        if self.reader_count.fetch_add(1, Ordering::SeqCst) + 1 < 0 {
            // A writer is pending: wait for it to finish.
            self.reader_sem.acquire(false, WaitReason::SyncRwMutexRLock);
        }
        RwMutexReadGuard { rw: self }
    }

    /// Locks for reading if no writer holds or waits for the lock (Go's
    /// `TryRLock`).
    pub fn try_read(&self) -> Option<RwMutexReadGuard<'_, T>> {
        let mut c = self.reader_count.load(Ordering::SeqCst);
        loop {
            if c < 0 {
                return None;
            }
            match self
                .reader_count
                .compare_exchange(c, c + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Some(RwMutexReadGuard { rw: self }),
                Err(now) => c = now,
            }
        }
    }

    fn read_unlock(&self) {
        let r = self.reader_count.fetch_sub(1, Ordering::SeqCst) - 1;
        if r < 0 {
            if r + 1 == 0 || r + 1 == -MAX_READERS {
                crate::signal::throw("sync: RUnlock of unlocked RWMutex");
            }
            // A writer is pending and counted us: the last such reader
            // lets it in.
            if self.reader_wait.fetch_sub(1, Ordering::SeqCst) - 1 == 0 {
                self.writer_sem.release(false);
            }
        }
    }

    /// Locks for writing (Go's `Lock`): waits for other writers, then
    /// blocks new readers and waits for the active ones to leave.
    pub fn write(&self) -> RwMutexWriteGuard<'_, T> {
        let w = self.w.lock();
        // Announce the writer: new readers park from here on.
        let r = self.reader_count.fetch_sub(MAX_READERS, Ordering::SeqCst);
        if r != 0 && self.reader_wait.fetch_add(r, Ordering::SeqCst) + r != 0 {
            self.writer_sem.acquire(false, WaitReason::SyncRwMutexLock);
        }
        RwMutexWriteGuard { rw: self, _w: w }
    }

    /// Locks for writing if nobody holds the lock (Go's `TryLock`).
    pub fn try_write(&self) -> Option<RwMutexWriteGuard<'_, T>> {
        let w = self.w.try_lock()?;
        if self
            .reader_count
            .compare_exchange(0, -MAX_READERS, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return None; // readers inside: w unlocks on return
        }
        Some(RwMutexWriteGuard { rw: self, _w: w })
    }

    fn write_unlock(&self) {
        // Let readers in again; r readers arrived (and parked) meanwhile.
        let r = self.reader_count.fetch_add(MAX_READERS, Ordering::SeqCst) + MAX_READERS;
        if r >= MAX_READERS {
            crate::signal::throw("sync: Unlock of unlocked RWMutex");
        }
        for _ in 0..r {
            self.reader_sem.release(false);
        }
        // The guard's `w` unlocks next (field drop), letting the next
        // writer announce itself.
    }

    /// Mutable access without locking (we own the only reference).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: ?Sized> Deref for RwMutexReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: readers only share the value; no writer is inside.
        unsafe { &*self.rw.data.get() }
    }
}

impl<T: ?Sized> Drop for RwMutexReadGuard<'_, T> {
    fn drop(&mut self) {
        self.rw.read_unlock();
    }
}

impl<T: ?Sized> Deref for RwMutexWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer is alone inside.
        unsafe { &*self.rw.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwMutexWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the writer is alone inside.
        unsafe { &mut *self.rw.data.get() }
    }
}

impl<T: ?Sized> Drop for RwMutexWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.rw.write_unlock();
    }
}

// ---------------------------------------------------------------------------
// Once.

/// Runs a function once (Go's `sync.Once`): the first `call_once` runs
/// `f`; every other call - concurrent or later - returns only after `f`
/// has finished, and does not run its own `f`. If `f` panics, the `Once`
/// counts as done, as in Go.
pub struct Once {
    /// 1 once `f` finished (see the module docs).
    done: AtomicU32,
    m: Mutex<()>,
}

// A panicking `f` leaves the Once done and its mutex unlocked (Go's
// semantics): nothing is left half-updated for a caller that recovers.
impl std::panic::UnwindSafe for Once {}
impl std::panic::RefUnwindSafe for Once {}

impl Default for Once {
    fn default() -> Self {
        Self::new()
    }
}

impl Once {
    /// A `Once` that has not run.
    pub const fn new() -> Once {
        Once {
            done: AtomicU32::new(0),
            m: Mutex::new(()),
        }
    }

    /// Go's `Do(f)`.
    pub fn call_once(&self, f: impl FnOnce()) {
        if self.done.load(Ordering::Acquire) == 0 {
            self.call_slow(f);
        }
    }

    #[cold]
    fn call_slow(&self, f: impl FnOnce()) {
        let _held = self.m.lock();
        if self.done.load(Ordering::Relaxed) == 0 {
            /// Go's `defer atomic.StoreUint32(&o.done, 1)`: also on unwind.
            struct SetDone<'a>(&'a AtomicU32);
            impl Drop for SetDone<'_> {
                fn drop(&mut self) {
                    self.0.store(1, Ordering::Release);
                }
            }
            let _set = SetDone(&self.done);
            f();
        }
    }

    /// Whether `f` has run (diagnostics).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire) != 0
    }
}

// ---------------------------------------------------------------------------
// Cond (see the module docs for the tickets).

/// A waiter parked in [`Cond::wait`]: lives on its goroutine's stack,
/// linked into the Cond's list under its lock.
struct CondWaiter {
    g: *mut crate::runtime2::G,
    ticket: u32,
    next: *mut CondWaiter,
}

/// A condition variable for goroutines (Go's `sync.Cond`, over this
/// module's [`Mutex`] as its Locker): `wait` unlocks the mutex and parks
/// until `signal` or `broadcast`, then locks it again.
pub struct Cond {
    /// The next ticket to hand out.
    wait: AtomicU32,
    /// The next ticket to wake (written under `lock`).
    notify: AtomicU32,
    /// Protects the list of waiters.
    lock: crate::lock::Mutex,
    head: UnsafeCell<*mut CondWaiter>,
    tail: UnsafeCell<*mut CondWaiter>,
}

// SAFETY: the list is only touched under `lock`; its nodes are on parked
// goroutines' stacks and stay there until dequeued.
unsafe impl Send for Cond {}
// SAFETY: as above.
unsafe impl Sync for Cond {}

impl Default for Cond {
    fn default() -> Self {
        Self::new()
    }
}

/// Ticket `a` comes before `b` (tickets wrap around).
fn ticket_less(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Cond {
    /// A Cond with no waiters.
    pub const fn new() -> Cond {
        Cond {
            wait: AtomicU32::new(0),
            notify: AtomicU32::new(0),
            lock: crate::lock::Mutex::new(),
            head: UnsafeCell::new(core::ptr::null_mut()),
            tail: UnsafeCell::new(core::ptr::null_mut()),
        }
    }

    /// Go's `c.Wait()`: unlock `guard`'s mutex, park until woken by
    /// [`signal`](Cond::signal) or [`broadcast`](Cond::broadcast), lock it
    /// again. As in Go, the condition may no longer hold when this returns
    /// (wait in a loop).
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let m = guard.m;
        let ticket = self.wait.fetch_add(1, Ordering::SeqCst);
        drop(guard);
        self.wait_ticket(ticket);
        m.lock()
    }

    fn wait_ticket(&self, ticket: u32) {
        self.lock.lock();
        if ticket_less(ticket, self.notify.load(Ordering::SeqCst)) {
            // Signalled between our unlock and now.
            self.lock.unlock();
            return;
        }
        let mut me = CondWaiter {
            g: crate::proc::getg(),
            ticket,
            next: core::ptr::null_mut(),
        };
        // SAFETY: under lock; `me` stays on this stack until a notifier
        // dequeues it and readies us (we are parked meanwhile).
        unsafe {
            let tail = *self.tail.get();
            if tail.is_null() {
                *self.head.get() = &raw mut me;
            } else {
                (*tail).next = &raw mut me;
            }
            *self.tail.get() = &raw mut me;
        }
        crate::proc::goparkunlock(&self.lock, WaitReason::SyncCondWait);
    }

    /// Go's `c.Signal()`: wake one waiter (the one waiting longest), if any.
    pub fn signal(&self) {
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return; // nobody took a ticket since the last wakeup
        }
        self.lock.lock();
        let t = self.notify.load(Ordering::SeqCst);
        if t == self.wait.load(Ordering::SeqCst) {
            self.lock.unlock();
            return;
        }
        self.notify.store(t.wrapping_add(1), Ordering::SeqCst);
        // SAFETY: under lock; nodes are parked waiters' stack records.
        unsafe {
            let mut prev: *mut CondWaiter = core::ptr::null_mut();
            let mut s = *self.head.get();
            while !s.is_null() {
                if (*s).ticket == t {
                    let next = (*s).next;
                    if prev.is_null() {
                        *self.head.get() = next;
                    } else {
                        (*prev).next = next;
                    }
                    if *self.tail.get() == s {
                        *self.tail.get() = prev;
                    }
                    let g = (*s).g;
                    self.lock.unlock();
                    crate::proc::goready(g);
                    return;
                }
                prev = s;
                s = (*s).next;
            }
        }
        // The holder of ticket t has not queued yet: it will see notify
        // past its ticket and not park.
        self.lock.unlock();
    }

    /// Go's `c.Broadcast()`: wake every waiter.
    pub fn broadcast(&self) {
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        self.lock.lock();
        // SAFETY: under lock: take the whole list.
        let mut s = unsafe {
            let h = *self.head.get();
            *self.head.get() = core::ptr::null_mut();
            *self.tail.get() = core::ptr::null_mut();
            h
        };
        self.notify
            .store(self.wait.load(Ordering::SeqCst), Ordering::SeqCst);
        self.lock.unlock();
        while !s.is_null() {
            // SAFETY: dequeued by us; read `next` before readying, after
            // which the record's stack frame may be gone.
            unsafe {
                let next = (*s).next;
                crate::proc::goready((*s).g);
                s = next;
            }
        }
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
    fn rwmutex_uncontended() {
        let rw = RwMutex::new(1);
        {
            let a = rw.read();
            let b = rw.try_read().expect("readers share");
            assert_eq!(*a + *b, 2);
            assert!(rw.try_write().is_none(), "no writer while readers are in");
        }
        {
            let mut w = rw.try_write().expect("free");
            *w += 1;
            assert!(rw.try_read().is_none() && rw.try_write().is_none());
        }
        *rw.write() += 1;
        assert_eq!(*rw.read(), 3);
        assert_eq!(rw.into_inner(), 3);
    }

    #[test]
    fn once_runs_once_and_cond_without_waiters() {
        let o = Once::new();
        let mut n = 0;
        o.call_once(|| n += 1);
        o.call_once(|| n += 1);
        assert_eq!(n, 1);
        assert!(o.is_done());
        let c = Cond::new();
        c.signal();
        c.broadcast();
        assert!(ticket_less(u32::MAX, 0) && !ticket_less(0, u32::MAX));
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
