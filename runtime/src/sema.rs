//! Goroutine semaphores (Go's sema.go): the parking primitive under
//! `sync::Mutex` and `sync::WaitGroup`.
//!
//! # Design
//!
//! A [`Sema`] is a count of tickets plus a queue of goroutines waiting for
//! one. `acquire` takes a ticket if there is one (a lock-free CAS: the
//! uncontended path never touches the lock), and otherwise parks in the
//! queue; `release` adds a ticket and wakes the oldest waiter (or, in Go's
//! *handoff* mode used by a starving mutex, gives the ticket straight to
//! that waiter so that no newcomer can steal it).
//!
//! Go hashes the semaphore's address into a global table of wait trees so
//! that `sync.Mutex` stays 8 bytes. Here every `Sema` carries its own
//! queue and lock (one [`WaitQ`] of [`Sudog`]s on the waiters' stacks, as
//! for channels): simpler, no table contention, a few more bytes per object.
//!
//! ## The two words and why no wakeup is lost
//!
//! * `count` - available tickets. Only changed atomically: `+1` by release,
//!   CAS `v → v-1` (v > 0) by acquire.
//! * `nwait` - waiters that are queued, or about to check `count` once more
//!   before queueing. Changed only under `lock`; read without it.
//!
//! The waiter does `nwait += 1` then re-checks `count` (both sequentially
//! consistent); the releaser does `count += 1` then reads `nwait`. In any
//! interleaving one of them sees the other's write: either the waiter finds
//! the ticket, or the releaser sees `nwait > 0`, takes the lock and (since
//! the waiter queues itself in the same critical section as its increment,
//! and parks before releasing the lock) finds it in the queue. Under the
//! lock, `nwait` equals the queue length.
//!
//! A woken waiter competes for the ticket again (a newcomer may have taken
//! it: "barging", which keeps throughput up) unless the ticket was handed
//! to it (`sudog.ticket == 1`).

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::Ordering;

use crate::chan::{Sudog, WaitQ};
use crate::lock::Mutex;
use crate::proc::{getg, goparkunlock, goready};
use crate::runtime2::{WaitReason, atomic_u32};

/// A counting semaphore that parks goroutines. `#[repr(C)]` with Go-like
/// field names so a debugger can read it.
#[repr(C)]
pub struct Sema {
    /// Available tickets (atomic).
    pub count: u32,
    /// Waiters queued or about to queue (atomic; written under `lock`).
    pub nwait: u32,
    /// Protects `waitq`.
    pub lock: Mutex,
    /// Parked waiters, oldest first (LIFO waiters are put at the front).
    pub waitq: UnsafeCell<WaitQ>,
}

// SAFETY: waitq is only touched with `lock` held; the counters are atomic.
unsafe impl Send for Sema {}
// SAFETY: as above.
unsafe impl Sync for Sema {}

impl Default for Sema {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Sema {
    /// A semaphore holding `count` tickets.
    pub const fn new(count: u32) -> Sema {
        Sema {
            count,
            nwait: 0,
            lock: Mutex::new(),
            waitq: UnsafeCell::new(WaitQ::new()),
        }
    }

    fn count(&self) -> &core::sync::atomic::AtomicU32 {
        // SAFETY: count is only accessed atomically.
        unsafe { atomic_u32(&self.count as *const u32 as *mut u32) }
    }

    fn nwait(&self) -> &core::sync::atomic::AtomicU32 {
        // SAFETY: nwait is only accessed atomically.
        unsafe { atomic_u32(&self.nwait as *const u32 as *mut u32) }
    }

    /// Takes a ticket without blocking (Go's `cansemacquire`).
    pub fn try_acquire(&self) -> bool {
        let c = self.count();
        let mut v = c.load(Ordering::SeqCst);
        loop {
            if v == 0 {
                return false;
            }
            match c.compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// Takes a ticket, parking the current goroutine (with `reason`) until
    /// one is available. `lifo` queues at the front (a mutex waiter that
    /// already waited once, as Go).
    pub fn acquire(&self, lifo: bool, reason: WaitReason) {
        if self.try_acquire() {
            return;
        }
        let gp = getg();
        let mut s = Sudog::new(gp, ptr::null_mut(), self as *const Sema as *const u8);
        loop {
            self.lock.lock();
            self.nwait().fetch_add(1, Ordering::SeqCst);
            if self.try_acquire() {
                self.nwait().fetch_sub(1, Ordering::SeqCst);
                self.lock.unlock();
                return;
            }
            s.ticket = 0;
            // SAFETY: lock held; s stays on this frame until dequeued (we are
            // parked until the releaser that dequeued it readies us).
            unsafe {
                let q = &mut *self.waitq.get();
                if lifo {
                    q.push_front(&mut s);
                } else {
                    q.enqueue(&mut s);
                }
                (*gp).waiting = &raw mut s as *mut u8;
            }
            goparkunlock(&self.lock, reason);
            // SAFETY: gp is the current G.
            unsafe { (*gp).waiting = ptr::null_mut() };
            if s.ticket != 0 || self.try_acquire() {
                return;
            }
        }
    }

    /// Adds a ticket and wakes the oldest waiter. With `handoff`, the ticket
    /// goes straight to that waiter and the caller yields so it runs next
    /// (starving mutex).
    pub fn release(&self, handoff: bool) {
        self.count().fetch_add(1, Ordering::SeqCst);
        if self.nwait().load(Ordering::SeqCst) == 0 {
            return;
        }
        self.lock.lock();
        if self.nwait().load(Ordering::SeqCst) == 0 {
            self.lock.unlock();
            return;
        }
        // SAFETY: lock held; queued records are on parked Gs' stacks.
        let s = unsafe { (*self.waitq.get()).dequeue() };
        if !s.is_null() {
            self.nwait().fetch_sub(1, Ordering::SeqCst);
        }
        self.lock.unlock();
        if s.is_null() {
            return;
        }
        let handed = handoff && self.try_acquire();
        // SAFETY: s was dequeued by us, its G is parked and stays parked
        // until goready; nothing reads s after that.
        unsafe {
            if handed {
                (*s).ticket = 1;
            }
            goready((*s).g);
        }
        if handed {
            crate::proc::gosched();
        }
    }
}
