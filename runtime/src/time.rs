//! Time and per-P timers (`runtime::sleep`).
//!
//! # Design (Go's time.go, reduced to sleeping goroutines)
//!
//! Each P has a min-heap of `(when, G)` entries under its own `timerslock`,
//! and `P.timer0when`, the earliest `when` (0 = empty), readable without the
//! lock. `sleep(d)` parks the G with wait reason "sleep"; the entry is pushed
//! by the park's unlock function, i.e. *after* the G's context is saved and
//! its status is `Gwaiting`, so the timer can never fire (and `goready` the
//! G) before the G is really parked - no lost or early wake-up.
//!
//! Who runs timers:
//! * `findrunnable` runs the due timers of its own P on every scheduling
//!   round, before it takes a G (Go's checkTimers), and those of other Ps
//!   when it tries to steal (readying a G puts it on the running P's queue;
//!   the earliest woken G takes `runnext`, so it runs next even on a P
//!   whose queue never empties);
//! * an M that finds no work computes the earliest `timer0when` over all Ps
//!   and sleeps on its futex note *with that timeout* (never a blind sleep);
//!   when it times out it takes an idle P and runs every P's due timers;
//! * adding a timer calls `wakep` (Go's `wakeNetPoller` without a netpoller):
//!   if a P is idle, an M wakes, finds no work, and sleeps until the new
//!   timer. Deadlock detection treats pending timers as future work.
//!
//! A goroutine that never yields delays the timers of its own P only if no
//! other M is free to run them, until sysmon preempts it (as in Go).

use core::cmp::Reverse;
use core::sync::atomic::{AtomicI64, Ordering};
use core::time::Duration;

use crate::proc::{getg, gopark, ready};
use crate::runtime2::{G, P, TimerEntry, WaitReason};

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC, through the vDSO).
#[inline]
pub fn nanotime() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

fn timer0(pp: *mut P) -> &'static AtomicI64 {
    // SAFETY: P objects are never freed; timer0when is only accessed atomically.
    unsafe { AtomicI64::from_ptr(&raw mut (*pp).timer0when) }
}

/// Earliest timer of `pp` (0 = none), without locking.
#[inline]
pub fn timer0when(pp: *mut P) -> i64 {
    timer0(pp).load(Ordering::Acquire)
}

fn update_timer0(pp: *mut P) {
    // SAFETY: called with pp.timerslock held.
    let w = unsafe { (*pp).timers.peek().map_or(0, |Reverse(e)| e.when) };
    timer0(pp).store(w, Ordering::Release);
}

/// Add a wake-up of `gp` at `when` to `pp`'s heap.
///
/// # Safety
/// `pp` is a live P; `gp` is parked (Gwaiting) and not on any other timer.
pub unsafe fn addtimer(pp: *mut P, when: i64, gp: *mut G) {
    // SAFETY: heap only touched under its lock.
    unsafe {
        (*pp).timerslock.lock();
        (*pp).timers.push(Reverse(TimerEntry {
            when,
            gp: gp as usize,
        }));
        update_timer0(pp);
        (*pp).timerslock.unlock();
    }
}

/// Move all timers of `from` (a P being destroyed) to `to`.
///
/// # Safety
/// Both are live Ps; the world is stopped.
pub unsafe fn movetimers(from: *mut P, to: *mut P) {
    // SAFETY: world stopped; locks taken one at a time.
    unsafe {
        (*from).timerslock.lock();
        let v: Vec<_> = (*from).timers.drain().collect();
        update_timer0(from);
        (*from).timerslock.unlock();
        (*to).timerslock.lock();
        (*to).timers.extend(v);
        update_timer0(to);
        (*to).timerslock.unlock();
    }
}

/// Run the due timers of `pp` (readying their Gs onto the current M's P).
/// `now` = 0 means "read the clock if needed". Returns (now, earliest
/// pending when or 0, whether any timer ran).
///
/// # Safety
/// Must run on g0 of an M that holds a P; `pp` is a live P.
pub unsafe fn check_timers(pp: *mut P, mut now: i64) -> (i64, i64, bool) {
    let w = timer0when(pp);
    if w == 0 {
        return (now, 0, false);
    }
    if now == 0 {
        now = nanotime();
    }
    if w > now {
        return (now, w, false);
    }
    let mut ran = false;
    // The earliest sleeper goes to `runnext` (like Go's goroutineReady), so
    // it runs next even on a P whose queue never empties; the others of the
    // same round go to the queue's tail in deadline order before it (a
    // `runnext` each would run them latest-first).
    let mut first: *mut G = core::ptr::null_mut();
    // SAFETY: the heap is only touched with its lock held; Gs are readied
    // after the lock is released (ready may take other locks).
    unsafe {
        let mut due: [usize; 32] = [0; 32];
        loop {
            let mut n = 0;
            (*pp).timerslock.lock();
            while n < due.len() {
                match (*pp).timers.peek() {
                    Some(Reverse(e)) if e.when <= now => {
                        due[n] = e.gp;
                        n += 1;
                        (*pp).timers.pop();
                    }
                    _ => break,
                }
            }
            update_timer0(pp);
            (*pp).timerslock.unlock();
            for &g in &due[..n] {
                if first.is_null() {
                    first = g as *mut G;
                } else {
                    ready(g as *mut G, false);
                }
                ran = true;
            }
            if n < due.len() {
                break;
            }
        }
    }
    if !first.is_null() {
        ready(first, true);
    }
    (now, timer0when(pp), ran)
}

/// Earliest pending timer over all live Ps (0 = none).
pub fn earliest_timer() -> i64 {
    let mut best = 0i64;
    let n = crate::runtime2::gomaxprocs_now() as usize;
    for i in 0..n {
        // SAFETY: i < gomaxprocs <= MAX_GOMAXPROCS; allp entries are published.
        let pp = unsafe { crate::runtime2::allp(i) };
        if pp.is_null() {
            continue;
        }
        let w = timer0when(pp);
        if w != 0 && (best == 0 || w < best) {
            best = w;
        }
    }
    best
}

unsafe fn sleep_commit(gp: *mut G, _: *mut u8) -> bool {
    // SAFETY: runs on g0 of the M that parked gp; that M holds a P.
    unsafe {
        let pp = (*(*getg()).m).p;
        addtimer(pp, (*gp).timer_when, gp);
    }
    crate::proc::wakep();
    true
}

/// Pause the current goroutine for at least `d` (parks it; wait reason
/// "sleep"). `d` of zero returns at once, as Go's `time.Sleep(0)`.
pub fn sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    let gp = getg();
    // SAFETY: checked below that we are on a user goroutine.
    unsafe {
        if gp.is_null() || (*gp).m.is_null() || (*(*gp).m).g0 == gp {
            // Not on a goroutine (a plain thread or the scheduler): block the thread.
            std::thread::sleep(d);
            return;
        }
        let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX / 2);
        (*gp).timer_when = nanotime().saturating_add(ns);
        gopark(Some(sleep_commit), core::ptr::null_mut(), WaitReason::Sleep);
    }
}
