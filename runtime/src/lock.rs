//! Runtime locks and notes on Linux futexes (Go's lock_futex.go).
//!
//! # Mutex
//!
//! The runtime lock protects short critical sections inside the scheduler
//! (the global run queue, idle lists, timer heaps, channel state). It blocks
//! the *thread* (M), not the goroutine, so it must never be held across a
//! park. The key word has three states:
//!
//! * `UNLOCKED` (0): free;
//! * `LOCKED` (1): held, nobody sleeping;
//! * `SLEEPING` (2): held, and some thread may be asleep in `futex_wait`.
//!
//! `lock` first tries a CAS 0→1, then spins a little (the holder is expected
//! to release quickly), then swaps in `SLEEPING` and sleeps on the futex while
//! the old value was not `UNLOCKED`. `unlock` swaps in 0; only if the old
//! value was `SLEEPING` does it pay for a `futex_wake`. A woken thread
//! re-takes the lock with `SLEEPING` (it cannot know whether others still
//! sleep), which may cost one spurious wake - the classic Drepper mutex.
//!
//! # Note
//!
//! A one-shot event (Go's `note`): `notesleep` blocks until `notewakeup`;
//! `noteclear` re-arms it. The key is 0 (not signalled) or 1 (signalled);
//! sleepers wait in `futex_wait(key, 0)`, so a wakeup between the check and
//! the sleep is not lost (the kernel re-checks the value atomically).
//! `notetsleep` sleeps at most a given time; it is how an idle M waits for
//! its next timer.

use core::sync::atomic::{AtomicU32, Ordering};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const SLEEPING: u32 = 2;
const ACTIVE_SPIN: u32 = 4;
const ACTIVE_SPIN_CNT: u32 = 30;

/// `futex(FUTEX_WAIT_PRIVATE)`: sleep while `*addr == val`, at most `ns`
/// nanoseconds if `ns >= 0`.
pub fn futexsleep(addr: &AtomicU32, val: u32, ns: i64) {
    let ts;
    let tsp = if ns >= 0 {
        ts = libc::timespec {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as libc::c_long,
        };
        &ts as *const libc::timespec
    } else {
        core::ptr::null()
    };
    // SAFETY: addr is a valid futex word for the duration of the call; the
    // timespec lives on this frame.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            val,
            tsp,
            core::ptr::null::<u32>(),
            0,
        );
    }
}

/// `futex(FUTEX_WAKE_PRIVATE)`: wake up to `cnt` threads sleeping on `addr`.
pub fn futexwakeup(addr: &AtomicU32, cnt: u32) {
    // SAFETY: waking never touches memory besides the kernel's futex table.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            cnt,
            core::ptr::null::<libc::timespec>(),
            core::ptr::null::<u32>(),
            0,
        );
    }
}

thread_local! {
    /// Runtime locks this thread holds or is acquiring (Go's `m.locks`).
    /// A lock is released on the thread that took it (a park's unlock
    /// function runs on the same M), so a per-thread count is exact; if it
    /// ever were not, the count would stay non-zero, the safe direction.
    static LOCKS: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// Number of runtime locks held by this thread (async-signal-safe: a
/// const thread-local without destructor).
#[inline]
pub fn locks_held() -> u32 {
    LOCKS.with(|c| c.get())
}

/// A runtime mutex (blocks the thread). `#[repr(C)]`: a debugger sees `key`.
#[repr(C)]
pub struct Mutex {
    /// 0 unlocked, 1 locked, 2 locked with possible sleepers.
    pub key: AtomicU32,
}

impl Default for Mutex {
    fn default() -> Self {
        Self::new()
    }
}

impl Mutex {
    /// An unlocked mutex.
    pub const fn new() -> Mutex {
        Mutex {
            key: AtomicU32::new(UNLOCKED),
        }
    }

    #[inline(always)]
    fn key(&self) -> &AtomicU32 {
        &self.key
    }

    /// Acquire the lock (spins briefly, then sleeps on the futex).
    #[inline]
    pub fn lock(&self) {
        // Counted before acquiring (and uncounted after releasing), so the
        // count is never 0 while the lock is held (asyncpreempt.rs).
        LOCKS.with(|c| c.set(c.get().wrapping_add(1)));
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        if self
            .key()
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        self.lock_slow();
    }

    #[cold]
    fn lock_slow(&self) {
        let k = self.key();
        // Once we sleep we must leave SLEEPING behind us, or an unlock
        // could miss the other sleepers.
        let mut wait = k.swap(LOCKED, Ordering::Acquire);
        if wait == UNLOCKED {
            return;
        }
        loop {
            for _ in 0..ACTIVE_SPIN {
                while k.load(Ordering::Relaxed) == UNLOCKED {
                    if k.compare_exchange(UNLOCKED, wait, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return;
                    }
                }
                for _ in 0..ACTIVE_SPIN_CNT {
                    core::hint::spin_loop();
                }
            }
            // One round of yielding the CPU (Go's passive spin).
            while k.load(Ordering::Relaxed) == UNLOCKED {
                if k.compare_exchange(UNLOCKED, wait, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
            // SAFETY: sched_yield has no memory effects.
            unsafe { libc::sched_yield() };
            if k.swap(SLEEPING, Ordering::Acquire) == UNLOCKED {
                return;
            }
            wait = SLEEPING;
            futexsleep(k, SLEEPING, -1);
        }
    }

    /// Release the lock; wakes one sleeper if there may be one.
    #[inline]
    pub fn unlock(&self) {
        let v = self.key().swap(UNLOCKED, Ordering::Release);
        if v == UNLOCKED {
            crate::signal::throw("unlock of unlocked lock");
        }
        if v == SLEEPING {
            futexwakeup(self.key(), 1);
        }
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        LOCKS.with(|c| c.set(c.get().wrapping_sub(1)));
    }
}

/// A one-shot sleep/wakeup event (Go's `note`).
#[repr(C)]
pub struct Note {
    /// 0 not signalled, 1 signalled.
    pub key: AtomicU32,
}

impl Default for Note {
    fn default() -> Self {
        Self::new()
    }
}

impl Note {
    /// A cleared note.
    pub const fn new() -> Note {
        Note {
            key: AtomicU32::new(0),
        }
    }

    #[inline(always)]
    fn key(&self) -> &AtomicU32 {
        &self.key
    }

    /// Re-arm the note. Only when no one sleeps on it.
    pub fn clear(&self) {
        self.key().store(0, Ordering::Relaxed);
    }

    /// Signal the note (at most once per clear), waking its sleeper.
    pub fn wakeup(&self) {
        let old = self.key().swap(1, Ordering::Release);
        if old != 0 {
            crate::signal::throw("notewakeup - double wakeup");
        }
        futexwakeup(self.key(), 1);
    }

    /// Sleep until the note is signalled.
    pub fn sleep(&self) {
        while self.key().load(Ordering::Acquire) == 0 {
            futexsleep(self.key(), 0, -1);
        }
    }

    /// Sleep until signalled or `ns` nanoseconds passed; true if signalled.
    pub fn tsleep(&self, ns: i64) -> bool {
        if ns < 0 {
            self.sleep();
            return true;
        }
        let deadline = crate::time::nanotime() + ns;
        loop {
            if self.key().load(Ordering::Acquire) != 0 {
                return true;
            }
            let left = deadline - crate::time::nanotime();
            if left <= 0 {
                return self.key().load(Ordering::Acquire) != 0;
            }
            futexsleep(self.key(), 0, left);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Shared {
        mu: Mutex,
        v: std::cell::UnsafeCell<u64>,
    }
    // SAFETY: `v` is only touched with `mu` held.
    unsafe impl Sync for Shared {}

    #[test]
    fn mutex_excludes() {
        let s = Arc::new(Shared {
            mu: Mutex::new(),
            v: std::cell::UnsafeCell::new(0),
        });
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        s.mu.lock();
                        // SAFETY: lock held.
                        unsafe { *s.v.get() += 1 };
                        s.mu.unlock();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        // SAFETY: all threads joined.
        assert_eq!(unsafe { *s.v.get() }, 400_000);
    }

    #[test]
    fn note_wakes_sleeper() {
        let n = Arc::new(Note::new());
        let n2 = n.clone();
        let h = std::thread::spawn(move || n2.sleep());
        n.wakeup();
        h.join().unwrap();
        assert!(n.tsleep(0));
        n.clear();
        assert!(!n.tsleep(1_000_000));
    }
}
