//! Time: per-P timers, `sleep`, and Go's time package timers - [`after`],
//! [`tick`], [`Timer`], [`Ticker`], [`after_func`].
//!
//! # Design (Go's time.go)
//!
//! Each P has a min-heap of [`TimerEntry`]s under its own `timerslock`, and
//! `P.timer0when`, the earliest `when` (0 = empty), readable without the
//! lock. An entry either wakes a sleeping G or fires a timer:
//!
//! * `sleep(d)` parks the G with wait reason "sleep"; the entry is pushed
//!   by the park's unlock function, i.e. *after* the G's context is saved
//!   and its status is `Gwaiting`, so the timer can never fire (and
//!   `goready` the G) before the G is really parked - no lost or early
//!   wake-up. A sleep's entry is never stale.
//! * A [`Timer`], [`Ticker`] or [`after_func`] timer is a [`TimerShared`]:
//!   its state word (below) and what it does when it fires - send the time,
//!   without blocking, on its channel of capacity 1 (Go's `sendTime`: a
//!   receiver that is behind misses ticks instead of queueing them), or
//!   start its function in a new goroutine (Go's `goFunc`). Arming pushes an
//!   entry `(when, timer, seq)` on the heap of the P the caller runs on.
//!
//! ## The state word of a timer
//!
//! `TimerShared.lock` protects `armed`, `when`, `period`, `pp` (the P whose
//! heap holds the armed entry) and `seq`, which only changes under the lock
//! but is also read without it (atomic) when a heap is swept. Every arm and
//! every disarm (`stop`, `reset`, and a ticker's last tick once nobody can
//! receive any more) increments `seq`, so **exactly one heap entry - the one
//! carrying the current `seq` while `armed` - is live**; every other entry
//! of that timer is stale and is dropped when it reaches the top of its
//! heap, or earlier by a sweep. This is Go 1.19's `timerDeleted` status
//! without moving entries between heaps: `stop` and `reset` never touch a
//! heap they do not own, so they need no P's lock, only the timer's.
//!
//! Why it is correct:
//! * Firing pops an entry under the heap's lock, releases it, then takes the
//!   timer's lock and fires only if the entry's `seq` is current and the
//!   timer armed; a one-shot timer is disarmed in the same critical section.
//!   So a timer fires at most once per arm, and `stop` (which takes the same
//!   lock) returns `true` exactly when it prevented a firing - Go's contract
//!   ("true if the call stops the timer, false if it already expired or was
//!   stopped"); `reset` returns whether it was armed, like Go's.
//! * `reset` arms under the timer's lock and pushes its entry after
//!   releasing it; a `stop` in between makes that entry stale before it is
//!   pushed, which is harmless.
//! * A ticker re-arms in the firing critical section with the same `seq`
//!   (`when` moves to the first multiple of the period after now, so a late
//!   tick is followed by one on the period's grid, not by a burst) and pushes
//!   its next entry on the heap it came from.
//! * Locks are taken in the order heap lock, then timer lock (a sweep reads
//!   only the atomic `seq`), and no code holds a timer's lock while it takes
//!   a heap lock, so the two kinds of locks cannot deadlock.
//! * Stale entries are counted in `P.deletedtimers` (a hint: the P recorded
//!   in `pp` may have moved its timers since); when a quarter of a heap of 64
//!   or more is stale, the next push sweeps it (Go's `clearDeletedTimers`),
//!   so a timer reset in a loop does not grow a heap without bound.
//! * A channel timer holds its channel weakly: once the program dropped
//!   every handle that could receive from it, a firing sends nothing and a
//!   ticker stops re-arming (no one could tell the difference).
//!
//! Timers fire on g0 of an M that holds a P (sending on a channel of
//! capacity 1 without blocking and spawning a goroutine both work there).
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

use core::cell::UnsafeCell;
use core::cmp::Reverse;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use std::sync::Arc;
use std::time::Instant;

use crate::chan::{Receiver, WeakChan, channel};
use crate::lock::Mutex;
use crate::proc::{getg, gopark, ready};
use crate::runtime2::{G, P, TimerEntry, TimerWhat, WaitReason};

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

/// `pp.timer0when` as the atomic it is.
///
/// # Safety
/// `pp` is a live P (one of `allp`, or a test's own): P objects are never
/// freed, so the reference stays valid.
unsafe fn timer0(pp: *mut P) -> &'static AtomicI64 {
    // SAFETY: pp is live (the caller's contract) and never freed;
    // timer0when is only accessed atomically.
    unsafe { AtomicI64::from_ptr(&raw mut (*pp).timer0when) }
}

/// Earliest timer of `pp` (0 = none), without locking.
///
/// # Safety
/// `pp` is a live P.
#[inline]
pub(crate) unsafe fn timer0when(pp: *mut P) -> i64 {
    // SAFETY: pp is live (the caller's contract).
    unsafe { timer0(pp) }.load(Ordering::Acquire)
}

/// Publish the earliest entry of `pp`'s heap in `timer0when`.
///
/// # Safety
/// `pp` is a live P and the caller holds `pp.timerslock`.
unsafe fn update_timer0(pp: *mut P) {
    // SAFETY: pp is live and its heap is ours while the lock is held.
    unsafe {
        let w = (*pp).timers.peek().map_or(0, |Reverse(e)| e.when);
        timer0(pp).store(w, Ordering::Release);
    }
}

/// A heap of 64 entries or more is swept once a quarter of it is stale.
const SWEEP_MIN_LEN: usize = 64;

/// `pp.deletedtimers` as the atomic it is.
///
/// # Safety
/// `pp` is a live P (never freed, so the reference stays valid).
unsafe fn deleted(pp: *mut P) -> &'static AtomicU32 {
    // SAFETY: pp is live and never freed; deletedtimers is only accessed
    // atomically.
    unsafe { AtomicU32::from_ptr(&raw mut (*pp).deletedtimers) }
}

/// Push `e` on `pp`'s heap (sweeping stale entries first if many are).
///
/// # Safety
/// `pp` is a live P.
unsafe fn push_entry(pp: *mut P, e: TimerEntry) {
    // SAFETY: the heap is only touched under its lock.
    unsafe {
        (*pp).timerslock.lock();
        let heap = &mut (*pp).timers;
        let stale = deleted(pp).load(Ordering::Relaxed) as usize;
        if heap.len() >= SWEEP_MIN_LEN && stale * 4 >= heap.len() {
            heap.retain(|Reverse(e)| !e.is_stale());
            deleted(pp).store(0, Ordering::Relaxed);
        }
        heap.push(Reverse(e));
        update_timer0(pp);
        (*pp).timerslock.unlock();
    }
}

impl TimerEntry {
    /// The entry of a timer that was stopped or re-armed since it was pushed.
    fn is_stale(&self) -> bool {
        match &self.what {
            TimerWhat::Wake(_) => false,
            TimerWhat::Timer(t, seq) => t.seq.load(Ordering::Acquire) != *seq,
        }
    }
}

/// Add a wake-up of `gp` at `when` to `pp`'s heap.
///
/// # Safety
/// `pp` is a live P; `gp` is parked (Gwaiting) and not on any other timer.
pub(crate) unsafe fn addtimer(pp: *mut P, when: i64, gp: *mut G) {
    // SAFETY: as the caller promised.
    unsafe {
        push_entry(
            pp,
            TimerEntry {
                when,
                what: TimerWhat::Wake(gp),
            },
        )
    }
}

/// Move all timers of `from` (a P being destroyed) to `to`.
///
/// # Safety
/// Both are live Ps; the world is stopped.
pub(crate) unsafe fn movetimers(from: *mut P, to: *mut P) {
    // SAFETY: world stopped; locks taken one at a time.
    unsafe {
        (*from).timerslock.lock();
        let v: Vec<_> = (*from).timers.drain().collect();
        update_timer0(from);
        (*from).timerslock.unlock();
        (*to).timerslock.lock();
        (*to).timers.extend(v);
        let stale = deleted(from).swap(0, Ordering::Relaxed);
        deleted(to).fetch_add(stale, Ordering::Relaxed);
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
pub(crate) unsafe fn check_timers(pp: *mut P, mut now: i64) -> (i64, i64, bool) {
    // SAFETY: pp is live (the caller's contract).
    let w = unsafe { timer0when(pp) };
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
    loop {
        // SAFETY: the heap is only touched with its lock held; what fires
        // runs after the lock is released (it may take other locks, and a
        // ticker pushes its next entry on this heap).
        let e = unsafe {
            (*pp).timerslock.lock();
            let e = match (*pp).timers.peek() {
                Some(Reverse(e)) if e.when <= now => (*pp).timers.pop().map(|Reverse(e)| e),
                _ => None,
            };
            update_timer0(pp);
            (*pp).timerslock.unlock();
            e
        };
        let Some(e) = e else { break };
        match e.what {
            TimerWhat::Wake(g) => {
                if first.is_null() {
                    first = g;
                } else {
                    ready(g, false);
                }
                ran = true;
            }
            // SAFETY: pp is live; we run on g0 with a P.
            TimerWhat::Timer(t, seq) => ran |= unsafe { t.fire(seq, pp, now) },
        }
    }
    if !first.is_null() {
        ready(first, true);
    }
    // SAFETY: pp is live.
    (now, unsafe { timer0when(pp) }, ran)
}

/// Earliest pending timer over all live Ps (0 = none).
pub(crate) fn earliest_timer() -> i64 {
    let mut best = 0i64;
    let n = crate::runtime2::gomaxprocs_now() as usize;
    for i in 0..n {
        // SAFETY: i < gomaxprocs <= MAX_GOMAXPROCS; allp entries are published.
        let pp = unsafe { crate::runtime2::allp(i) };
        if pp.is_null() {
            continue;
        }
        // SAFETY: a published allp entry is a live P.
        let w = unsafe { timer0when(pp) };
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

// ---------------------------------------------------------------------------
// Go's time package timers.

/// What a timer does when it fires.
enum TimerAction {
    /// Send the time on this channel of capacity 1 without blocking.
    Send(WeakChan<Instant>),
    /// Run this function in a new goroutine.
    Func(Arc<dyn Fn() + Send + Sync>),
}

/// The fields of a timer's state word that its lock protects.
struct TimerState {
    /// An entry with the current `seq` is on a heap and will fire.
    armed: bool,
    /// Due time of the armed entry (nanotime).
    when: i64,
    /// A ticker's period in ns (0 = one-shot).
    period: i64,
    /// The P whose heap holds the armed entry (a hint for `deletedtimers`).
    pp: *mut P,
}

/// A channel timer, ticker or `after_func` timer: the state the handles and
/// the heap entries share (Go's runtime `timer`). See the module docs for
/// the state word and why it is correct.
pub(crate) struct TimerShared {
    lock: Mutex,
    st: UnsafeCell<TimerState>,
    /// Generation of the live heap entry; written under `lock`, read
    /// without it by sweeps.
    seq: AtomicU64,
    action: TimerAction,
}

// SAFETY: `st` is only accessed under `lock`; `pp` is a P, which is never
// freed and only used through its own locks and atomics.
unsafe impl Send for TimerShared {}
// SAFETY: as above.
unsafe impl Sync for TimerShared {}

/// The P of the calling goroutine, or P 0 (never destroyed) on a thread
/// that holds none: any live P's heap is correct, its lock protects it.
fn current_p() -> *mut P {
    let gp = getg();
    // SAFETY: gp is this thread's g; its M and P are live while it runs.
    unsafe {
        if !gp.is_null() && !(*gp).m.is_null() && !(*(*gp).m).p.is_null() {
            return (*(*gp).m).p;
        }
        crate::runtime2::allp(0)
    }
}

/// `nanotime() + d`, saturating.
fn when_after(now: i64, d: Duration) -> i64 {
    now.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl TimerShared {
    fn new(action: TimerAction) -> Arc<TimerShared> {
        Arc::new(TimerShared {
            lock: Mutex::new(),
            st: UnsafeCell::new(TimerState {
                armed: false,
                when: 0,
                period: 0,
                pp: core::ptr::null_mut(),
            }),
            seq: AtomicU64::new(0),
            action,
        })
    }

    /// Under `lock`: make the live entry (if any) stale. Returns whether
    /// the timer was armed.
    ///
    /// # Safety
    /// `self.lock` is held.
    unsafe fn disarm_locked(&self) -> bool {
        // SAFETY: the caller holds the lock.
        let st = unsafe { &mut *self.st.get() };
        let was = st.armed;
        if was {
            st.armed = false;
            self.seq.fetch_add(1, Ordering::AcqRel);
            // SAFETY: an armed timer's `pp` is the live P whose heap holds
            // its entry.
            unsafe { deleted(st.pp) }.fetch_add(1, Ordering::Relaxed);
        }
        was
    }

    /// Arm (or re-arm) to fire after `d`, then every `period` ns if not 0.
    /// Returns whether it was armed before (Go's `Reset` result).
    fn arm(self: &Arc<Self>, d: Duration, period: i64) -> bool {
        let pp = current_p();
        let when = when_after(nanotime(), d);
        self.lock.lock();
        // SAFETY: under the lock.
        let (was, seq) = unsafe {
            let was = self.disarm_locked();
            let st = &mut *self.st.get();
            *st = TimerState {
                armed: true,
                when,
                period,
                pp,
            };
            (was, self.seq.fetch_add(1, Ordering::AcqRel) + 1)
        };
        self.lock.unlock();
        // SAFETY: pp is live (our own P, or P 0).
        unsafe {
            push_entry(
                pp,
                TimerEntry {
                    when,
                    what: TimerWhat::Timer(self.clone(), seq),
                },
            )
        };
        crate::proc::wakep();
        was
    }

    /// Disarm; whether this call stopped an armed timer (Go's `Stop`).
    fn stop(&self) -> bool {
        self.lock.lock();
        // SAFETY: under the lock.
        let was = unsafe { self.disarm_locked() };
        self.lock.unlock();
        was
    }

    /// Fire the entry `seq` popped from `pp`'s heap at `now`, unless it is
    /// stale. Returns whether it fired.
    ///
    /// # Safety
    /// On g0 of an M that holds a P; `pp` is a live P.
    unsafe fn fire(self: Arc<Self>, seq: u64, pp: *mut P, now: i64) -> bool {
        // A channel nobody can receive from any more: a firing would send
        // nothing, and a ticker stops for good.
        let chan = match &self.action {
            TimerAction::Send(weak) => match weak.upgrade() {
                Some(c) => Some(c),
                None => {
                    self.lock.lock();
                    if self.seq.load(Ordering::Acquire) == seq {
                        // SAFETY: under the lock.
                        unsafe { (*self.st.get()).armed = false };
                        self.seq.fetch_add(1, Ordering::AcqRel);
                    }
                    self.lock.unlock();
                    return false;
                }
            },
            TimerAction::Func(_) => None,
        };
        self.lock.lock();
        // SAFETY: under the lock.
        let next = unsafe {
            let st = &mut *self.st.get();
            if !st.armed || self.seq.load(Ordering::Acquire) != seq {
                self.lock.unlock();
                return false;
            }
            if st.period > 0 {
                // The first tick on the period's grid after now (Go's
                // runOneTimer: `when += period * (1 + (now-when)/period)`).
                let behind = (now - st.when).max(0) / st.period;
                st.when = st.when.saturating_add(st.period.saturating_mul(behind + 1));
                st.pp = pp;
                Some(st.when)
            } else {
                st.armed = false;
                None
            }
        };
        self.lock.unlock();
        match (&self.action, chan) {
            (TimerAction::Send(_), Some(c)) => {
                // Capacity 1 and never closed (only its Receivers escape):
                // full means the receiver has not taken the last tick yet.
                let _ = c.try_send(Instant::now());
            }
            (TimerAction::Func(f), _) => {
                let f = f.clone();
                crate::proc::go(move || f());
            }
            (TimerAction::Send(_), None) => unreachable!("upgraded above"),
        }
        if let Some(when) = next {
            // SAFETY: pp is live.
            unsafe {
                push_entry(
                    pp,
                    TimerEntry {
                        when,
                        what: TimerWhat::Timer(self, seq),
                    },
                )
            };
        }
        true
    }
}

/// A single event in the future (Go's `time.Timer`): after its duration the
/// current time is sent on `c`, a channel of capacity 1. Dropping the
/// `Timer` does not stop it (its channel may live on, as [`after`]'s does).
///
/// ```
/// # #![no_main]
/// # use std::time::Duration;
/// # #[runtime::main]
/// # fn main() {
/// # let work = runtime::chan::channel::<u32>(0);
/// # let handle = |v: Option<u32>| unreachable!("nobody sends: {v:?}");
/// let t = runtime::time::Timer::new(Duration::from_millis(50));
/// runtime::select! {
///     recv(work) -> v => handle(v),
///     recv(t.c) -> _ => println!("timed out"),
/// }
/// t.stop();
/// # }
/// ```
pub struct Timer {
    /// Receives the time at which the timer fired.
    pub c: Receiver<Instant>,
    t: Arc<TimerShared>,
}

impl Timer {
    /// A timer that sends the current time on `c` after at least `d`
    /// (`time.NewTimer`; a zero `d` fires at once).
    pub fn new(d: Duration) -> Timer {
        let c = channel::<Instant>(1);
        let t = TimerShared::new(TimerAction::Send(c.downgrade()));
        t.arm(d, 0);
        Timer { c: c.receiver(), t }
    }

    /// Prevents the timer from firing (`Timer.Stop`): `true` if this call
    /// stopped it, `false` if it had already fired or been stopped. It does
    /// not drain `c`: a value sent before the stop is still there.
    pub fn stop(&self) -> bool {
        self.t.stop()
    }

    /// Re-arms the timer to fire after `d` (`Timer.Reset`): `true` if it
    /// was armed. As in Go, a value already in `c` stays there: stop the
    /// timer and drain `c` first when that matters.
    pub fn reset(&self, d: Duration) -> bool {
        self.t.arm(d, 0)
    }
}

/// The channel of a new [`Timer`] (`time.After`): receives the current
/// time once, after at least `d`. For a timeout case in `select!`, without
/// any helper goroutine: `recv(runtime::time::after(d)) -> _ => ...`.
pub fn after(d: Duration) -> Receiver<Instant> {
    Timer::new(d).c
}

/// Runs `f` in its own goroutine after at least `d` (`time.AfterFunc`).
/// The returned handle stops or re-arms it (each firing runs `f` once more).
pub fn after_func<F>(d: Duration, f: F) -> FuncTimer
where
    F: Fn() + Send + Sync + 'static,
{
    let t = TimerShared::new(TimerAction::Func(Arc::new(f)));
    t.arm(d, 0);
    FuncTimer { t }
}

/// The handle of an [`after_func`] timer (Go's `*Timer` from `AfterFunc`,
/// which has no channel).
pub struct FuncTimer {
    t: Arc<TimerShared>,
}

impl FuncTimer {
    /// Prevents the function from being started: `true` if this call did,
    /// `false` if it already started (it is not waited for) or the timer was
    /// stopped.
    pub fn stop(&self) -> bool {
        self.t.stop()
    }

    /// Re-arms the timer to start the function after `d`; `true` if it was
    /// armed.
    pub fn reset(&self, d: Duration) -> bool {
        self.t.arm(d, 0)
    }
}

/// Ticks at intervals (Go's `time.Ticker`): the time is sent on `c` every
/// period; a receiver that falls behind misses ticks (capacity 1), and a
/// late tick is followed by the next one on the period's grid. Dropping
/// the `Ticker` does not stop it while its channel can still be received
/// from.
pub struct Ticker {
    /// Receives the time of each tick.
    pub c: Receiver<Instant>,
    t: Arc<TimerShared>,
}

fn period_ns(d: Duration, what: &str) -> i64 {
    if d.is_zero() {
        panic!("non-positive interval for {what}");
    }
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Ticker {
    /// A ticker with period `d` (`time.NewTicker`). Panics if `d` is zero,
    /// as Go does ("non-positive interval for NewTicker").
    pub fn new(d: Duration) -> Ticker {
        let period = period_ns(d, "NewTicker");
        let c = channel::<Instant>(1);
        let t = TimerShared::new(TimerAction::Send(c.downgrade()));
        t.arm(d, period);
        Ticker { c: c.receiver(), t }
    }

    /// Turns the ticker off (`Ticker.Stop`); `c` is not closed.
    pub fn stop(&self) {
        self.t.stop();
    }

    /// Stops the ticker and restarts it with period `d`, the next tick `d`
    /// from now (`Ticker.Reset`). Panics if `d` is zero.
    pub fn reset(&self, d: Duration) {
        let period = period_ns(d, "Ticker.Reset");
        self.t.arm(d, period);
    }
}

/// The channel of a new [`Ticker`] that is never stopped (`time.Tick`);
/// `None` for a zero `d`, as Go's `Tick` returns nil (in `select!` a `None`
/// case is left out).
pub fn tick(d: Duration) -> Option<Receiver<Instant>> {
    (!d.is_zero()).then(|| Ticker::new(d).c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries of stopped or re-armed timers are swept out of a heap once
    /// a quarter of it is stale, so a timer reset in a loop cannot grow it.
    #[test]
    fn stale_entries_are_swept() {
        let pp = crate::proc::new_p_for_test(0);
        let t = TimerShared::new(TimerAction::Func(Arc::new(|| {})));
        t.seq.store(1, Ordering::Release);
        let entry = |when: i64, seq: u64| TimerEntry {
            when,
            what: TimerWhat::Timer(t.clone(), seq),
        };
        // SAFETY: pp is a fresh P owned by this test.
        unsafe {
            for i in 0..SWEEP_MIN_LEN as i64 {
                push_entry(pp, entry(100 + i, 0));
            }
            assert_eq!((*pp).timers.len(), SWEEP_MIN_LEN);
            assert_eq!(timer0when(pp), 100, "a stale entry is still the earliest");
            deleted(pp).store(SWEEP_MIN_LEN as u32, Ordering::Relaxed);
            push_entry(pp, entry(5000, 1));
            assert_eq!((*pp).timers.len(), 1, "stale entries swept");
            assert_eq!(timer0when(pp), 5000);
            assert_eq!(deleted(pp).load(Ordering::Relaxed), 0);
        }
    }
}
