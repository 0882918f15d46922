//! The network poller on epoll (Go's netpoll.go + netpoll_epoll.go).
//!
//! # Design
//!
//! Every network file descriptor is non-blocking and registered once with
//! one process-wide epoll instance, edge-triggered for read and write
//! (`EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET`), with a [`PollDesc`] as its
//! user data. A goroutine whose `read`/`write`/`accept` gets `EAGAIN` parks
//! on the PollDesc (wait reason "IO wait") instead of blocking its thread;
//! [`netpoll`] turns epoll events back into runnable goroutines.
//!
//! Who polls:
//! * `findrunnable` polls without blocking when its P has nothing to run
//!   (before stealing) - [`findrunnable_poll`];
//! * the last M to give up its P blocks in `epoll_wait` (instead of sleeping
//!   on its note) while some goroutine waits for I/O, with a timeout of the
//!   earliest timer or I/O deadline - [`findrunnable_block`]. Only one M
//!   blocks there at a time: it is the one that swaps `LASTPOLL` to 0;
//! * sysmon polls when nobody polled for 10 ms - [`sysmon_poll`];
//! * an `eventfd` registered with the instance interrupts the blocked
//!   poller ([`netpoll_break`]) when an earlier deadline appears or when the
//!   last I/O waiter went away (so the M can go idle and deadlock detection
//!   sees it).
//!
//! # State words (per PollDesc and direction: `rg` for reads, `wg` for writes)
//!
//! * `0` - nothing: no goroutine waits, no readiness is recorded;
//! * [`PD_READY`] - readiness arrived with nobody waiting: the next wait
//!   consumes it (CAS `READY → 0`) and returns at once;
//! * [`PD_WAIT`] - a goroutine committed to wait but has not parked yet;
//! * a `*mut G` - that goroutine is parked.
//!
//! The waiter goes `0 → WAIT` (CAS), then parks; the park's commit function
//! (on g0, after the G's context is saved) CASes `WAIT → G`. A waker (event
//! or expired deadline) swaps in `READY` (event) or `0` (deadline) and
//! readies the G if it found one. If the waker ran between the two CASes it
//! replaced `WAIT`, so the commit fails and the G does not park at all: no
//! lost wake-up, and a G is readied at most once (only the CAS that removes
//! the G pointer readies it). Go's `netpollblock`/`netpollunblock` exactly.
//!
//! Deadlines are absolute `nanotime`s kept by the caller (net.rs); a waiter
//! with a deadline also puts `(when, pd, mode, seq)` in a heap here; any
//! poll expires the due entries by waking the waiter with `0`, and the
//! waiter checks its deadline itself. A stale entry (the waiter already
//! left) at worst causes one spurious wake-up, which the I/O loop absorbs.
//!
//! PollDescs are never freed (epoll may still report an event for a closed
//! descriptor): closed ones are reused from a free list, and every reuse
//! bumps `seq`, whose low 16 bits travel in the epoll user data next to
//! the pointer, so a late event for the previous descriptor is ignored.

use core::cmp::Reverse;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicUsize, Ordering};
use std::collections::BinaryHeap;

use crate::lock::Mutex;
use crate::proc::{gopark, ready};
use crate::runtime2::{G, WaitReason};
use crate::time::nanotime;

/// `rg`/`wg`: readiness recorded, nobody waiting.
pub const PD_READY: usize = 1;
/// `rg`/`wg`: a goroutine is about to park.
pub const PD_WAIT: usize = 2;

/// Per-descriptor poll state (Go's pollDesc). See the module docs.
#[repr(C)]
pub struct PollDesc {
    /// The file descriptor.
    pub fd: i32,
    /// Reuse counter (low 16 bits are in the epoll user data).
    pub seq: AtomicU32,
    /// Read waiter state: 0, `PD_READY`, `PD_WAIT` or a `*mut G`.
    pub rg: AtomicUsize,
    /// Write waiter state, as `rg`.
    pub wg: AtomicUsize,
    /// The descriptor is being closed: waiters return an error.
    pub closing: AtomicBool,
    link: *mut PollDesc,
}

impl PollDesc {
    /// A descriptor bound to no fd: fresh from the allocator, before `open`.
    fn unused() -> PollDesc {
        PollDesc {
            fd: -1,
            seq: AtomicU32::new(0),
            rg: AtomicUsize::new(0),
            wg: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            link: null_mut(),
        }
    }
}

/// Direction of a wait.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Mode {
    /// Waiting to read (or accept).
    Read,
    /// Waiting to write (or for connect to complete).
    Write,
}

static EPFD: AtomicI32 = AtomicI32::new(-1);
static BREAKFD: AtomicI32 = AtomicI32::new(-1);
static INIT: std::sync::Once = std::sync::Once::new();
/// Goroutines parked in [`wait`] (Go's netpollWaiters).
static WAITERS: AtomicU32 = AtomicU32::new(0);
/// When the network was last polled (nanotime); 0 while an M is blocked in
/// `epoll_wait` (Go's sched.lastpoll).
static LASTPOLL: AtomicI64 = AtomicI64::new(0);
/// When the blocked poller will wake up by itself (i64::MAX = never).
static POLL_UNTIL: AtomicI64 = AtomicI64::new(0);
/// A break is written and not yet consumed.
static BREAK_PENDING: AtomicU32 = AtomicU32::new(0);

static CACHE_LOCK: Mutex = Mutex::new();
static mut CACHE: *mut PollDesc = null_mut();

type DeadlineEntry = Reverse<(i64, usize, Mode, u32)>;
static DEADLINE_LOCK: Mutex = Mutex::new();

/// A value only accessed with a given runtime lock held.
struct Guarded<T>(core::cell::UnsafeCell<T>);
// SAFETY: every access holds the lock named at the static.
unsafe impl<T> Sync for Guarded<T> {}

/// Pending I/O deadlines (min-heap), under DEADLINE_LOCK.
static DEADLINES: Guarded<BinaryHeap<DeadlineEntry>> =
    Guarded(core::cell::UnsafeCell::new(BinaryHeap::new()));

/// The deadline heap.
///
/// # Safety
/// DEADLINE_LOCK held (or a racy read-only peek that tolerates staleness).
unsafe fn deadlines() -> &'static mut BinaryHeap<DeadlineEntry> {
    // SAFETY: forwarded to the caller.
    unsafe { &mut *DEADLINES.0.get() }
}

const TAG_SHIFT: u32 = 48;
const PTR_MASK: u64 = (1 << TAG_SHIFT) - 1;

/// Whether the poller exists (some descriptor was registered).
pub fn inited() -> bool {
    EPFD.load(Ordering::Acquire) >= 0
}

fn init() {
    INIT.call_once(|| {
        // SAFETY: plain syscalls creating new descriptors.
        unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if ep < 0 {
                crate::signal::throw("runtime: netpollinit failed (epoll_create1)");
            }
            let bfd = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
            if bfd < 0 {
                crate::signal::throw("runtime: netpollinit failed (eventfd)");
            }
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 0,
            };
            if libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, bfd, &mut ev) != 0 {
                crate::signal::throw("runtime: netpollinit failed (epoll_ctl)");
            }
            BREAKFD.store(bfd, Ordering::Relaxed);
            LASTPOLL.store(nanotime(), Ordering::Relaxed);
            EPFD.store(ep, Ordering::Release);
        }
    });
}

/// Register `fd` (already non-blocking) with the poller.
pub fn open(fd: i32) -> std::io::Result<*mut PollDesc> {
    init();
    CACHE_LOCK.lock();
    // SAFETY: the free list is only touched under CACHE_LOCK.
    let pd = unsafe {
        let pd = CACHE;
        if pd.is_null() {
            Box::into_raw(Box::new(PollDesc::unused()))
        } else {
            CACHE = (*pd).link;
            pd
        }
    };
    CACHE_LOCK.unlock();
    // SAFETY: pd is ours until registered.
    unsafe {
        (*pd).fd = fd;
        (*pd).link = null_mut();
        (*pd).rg.store(0, Ordering::Relaxed);
        (*pd).wg.store(0, Ordering::Relaxed);
        (*pd).closing.store(false, Ordering::Relaxed);
        let seq = (*pd).seq.fetch_add(1, Ordering::AcqRel) + 1;
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: pd as u64 | ((seq as u64 & 0xffff) << TAG_SHIFT),
        };
        if libc::epoll_ctl(
            EPFD.load(Ordering::Acquire),
            libc::EPOLL_CTL_ADD,
            fd,
            &mut ev,
        ) != 0
        {
            let e = std::io::Error::last_os_error();
            release(pd);
            return Err(e);
        }
    }
    Ok(pd)
}

fn release(pd: *mut PollDesc) {
    CACHE_LOCK.lock();
    // SAFETY: free list under CACHE_LOCK.
    unsafe {
        (*pd).seq.fetch_add(1, Ordering::AcqRel);
        (*pd).link = CACHE;
        CACHE = pd;
    }
    CACHE_LOCK.unlock();
}

/// Unregister `pd` (wakes any waiter with an error); the caller closes the
/// descriptor afterwards.
///
/// # Safety
/// `pd` came from [`open`] and is not used by its owner any more.
pub unsafe fn close(pd: *mut PollDesc) {
    // SAFETY: see above.
    unsafe {
        (*pd).closing.store(true, Ordering::Release);
        for mode in [Mode::Read, Mode::Write] {
            let gp = unblock(pd, mode, false);
            if !gp.is_null() {
                ready(gp, false);
            }
        }
        libc::epoll_ctl(
            EPFD.load(Ordering::Acquire),
            libc::EPOLL_CTL_DEL,
            (*pd).fd,
            null_mut(),
        );
    }
    release(pd);
}

fn slot(pd: *mut PollDesc, mode: Mode) -> &'static AtomicUsize {
    // SAFETY: PollDescs are never freed.
    unsafe {
        match mode {
            Mode::Read => &(*pd).rg,
            Mode::Write => &(*pd).wg,
        }
    }
}

/// Go's netpollunblock: take the waiter of `pd`/`mode` (if any) off the
/// slot; with `ioready` record readiness for the next waiter.
fn unblock(pd: *mut PollDesc, mode: Mode, ioready: bool) -> *mut G {
    let s = slot(pd, mode);
    loop {
        let old = s.load(Ordering::Acquire);
        if old == PD_READY {
            return null_mut();
        }
        if old == 0 && !ioready {
            return null_mut();
        }
        let new = if ioready { PD_READY } else { 0 };
        if s.compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            if old == 0 || old == PD_WAIT {
                return null_mut();
            }
            let n = WAITERS.fetch_sub(1, Ordering::AcqRel);
            if n == 1 && LASTPOLL.load(Ordering::Acquire) == 0 {
                // The last I/O waiter left: let the blocked poller go idle.
                netpoll_break();
            }
            return old as *mut G;
        }
    }
}

unsafe fn commit(gp: *mut G, s: *mut u8) -> bool {
    // SAFETY: s is the &AtomicUsize slot passed by `wait`, alive (never freed).
    let s = unsafe { &*(s as *const AtomicUsize) };
    if s.compare_exchange(PD_WAIT, gp as usize, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        WAITERS.fetch_add(1, Ordering::AcqRel);
        return true;
    }
    false
}

/// Park the current goroutine until `pd` is ready for `mode`, the deadline
/// passes, it is closed, or [`wake`] is called (a new deadline, a context
/// that is done). `limit` is asked *after* the goroutine announced itself
/// in its slot: `None` means do not park (the operation ends now), else the
/// deadline to park until (nanotime, 0 = none). Whoever changes what
/// `limit` answers does it before calling [`wake`], so either `limit` sees
/// the change or `wake` sees the announced waiter. Returns true if
/// readiness was reported (the caller retries its I/O either way).
///
/// # Safety
/// `pd` came from [`open`] and is not closed; at most one goroutine waits
/// per direction; called on a goroutine (it parks).
pub unsafe fn wait(pd: *mut PollDesc, mode: Mode, limit: &dyn Fn() -> Option<i64>) -> bool {
    let s = slot(pd, mode);
    loop {
        if s.compare_exchange(PD_READY, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return true;
        }
        if s.compare_exchange(0, PD_WAIT, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            break;
        }
        let v = s.load(Ordering::Acquire);
        if v != PD_READY && v != 0 {
            crate::signal::throw(
                "runtime: netpoll: two goroutines wait on one descriptor in one direction",
            );
        }
    }
    // SAFETY: pd is live.
    let closing = unsafe { (*pd).closing.load(Ordering::Acquire) };
    // After the announcement above (a SeqCst CAS), as the doc says.
    core::sync::atomic::fence(Ordering::SeqCst);
    let deadline = if closing { None } else { limit() };
    if let Some(deadline) = deadline {
        if deadline != 0 {
            add_deadline(deadline, pd, mode);
        }
        gopark(
            Some(commit),
            (s as *const AtomicUsize).cast_mut().cast(),
            WaitReason::IoWait,
        );
    }
    s.swap(0, Ordering::AcqRel) == PD_READY
}

/// Wake the goroutine waiting on `pd` for `mode`, if any, without
/// recording readiness (it re-checks why it waits): how a cancelled context
/// interrupts a netpoller wait. On a descriptor reused since, this is one
/// spurious wake-up, which the I/O loop absorbs.
pub fn wake(pd: *mut PollDesc, mode: Mode) {
    // The caller's change (a deadline, a context's error) is ordered before
    // the look at the slot, as `wait` orders its announcement before `limit`.
    core::sync::atomic::fence(Ordering::SeqCst);
    let gp = unblock(pd, mode, false);
    if !gp.is_null() {
        ready(gp, true);
    }
}

fn add_deadline(when: i64, pd: *mut PollDesc, mode: Mode) {
    // SAFETY: pd is live.
    let seq = unsafe { (*pd).seq.load(Ordering::Acquire) };
    DEADLINE_LOCK.lock();
    // SAFETY: the heap is only touched under DEADLINE_LOCK.
    unsafe { deadlines().push(Reverse((when, pd as usize, mode, seq))) };
    DEADLINE_LOCK.unlock();
    if LASTPOLL.load(Ordering::Acquire) == 0 && when < POLL_UNTIL.load(Ordering::Acquire) {
        netpoll_break();
    }
}

fn earliest_deadline() -> i64 {
    DEADLINE_LOCK.lock();
    // SAFETY: under DEADLINE_LOCK.
    let w = unsafe { deadlines().peek().map_or(0, |Reverse(e)| e.0) };
    DEADLINE_LOCK.unlock();
    w
}

/// Interrupt an M blocked in `epoll_wait` (Go's netpollBreak).
pub fn netpoll_break() {
    if !inited() {
        return;
    }
    if BREAK_PENDING.swap(1, Ordering::AcqRel) == 0 {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local to our eventfd.
        unsafe { libc::write(BREAKFD.load(Ordering::Relaxed), (&raw const one).cast(), 8) };
    }
}

/// Poll the network: wait at most `delay` ns (< 0: forever, 0: do not
/// block) for events; returns the goroutines that became ready (not yet
/// made runnable) - including those whose deadline passed.
pub fn netpoll(delay: i64) -> Vec<*mut G> {
    let mut out = Vec::new();
    if !inited() {
        return out;
    }
    let ms: i32 = if delay < 0 {
        -1
    } else if delay == 0 {
        0
    } else if delay < 1_000_000 {
        1
    } else if delay < 1_000_000_000_000 {
        (delay / 1_000_000) as i32
    } else {
        1_000_000_000
    };
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 128];
    let ep = EPFD.load(Ordering::Acquire);
    let n = loop {
        // SAFETY: events is a valid buffer of 128 entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, ms) };
        if n >= 0 {
            break n as usize;
        }
        let e = std::io::Error::last_os_error().raw_os_error();
        if e != Some(libc::EINTR) {
            crate::signal::throw("runtime: netpoll: epoll_wait failed");
        }
        if delay > 0 {
            break 0;
        }
    };
    for ev in &events[..n] {
        let data = ev.u64;
        let evs = ev.events;
        if data == 0 {
            if delay != 0 {
                let mut v: u64 = 0;
                // SAFETY: reads 8 bytes into a local from our eventfd.
                unsafe { libc::read(BREAKFD.load(Ordering::Relaxed), (&raw mut v).cast(), 8) };
                BREAK_PENDING.store(0, Ordering::Release);
            }
            continue;
        }
        let pd = (data & PTR_MASK) as *mut PollDesc;
        let tag = (data >> TAG_SHIFT) as u32;
        // SAFETY: PollDescs are never freed.
        if unsafe { (*pd).seq.load(Ordering::Acquire) } & 0xffff != tag {
            continue;
        }
        let r = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        let w = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        if evs & r != 0 {
            let gp = unblock(pd, Mode::Read, true);
            if !gp.is_null() {
                out.push(gp);
            }
        }
        if evs & w != 0 {
            let gp = unblock(pd, Mode::Write, true);
            if !gp.is_null() {
                out.push(gp);
            }
        }
    }
    expire_deadlines(&mut out);
    out
}

fn expire_deadlines(out: &mut Vec<*mut G>) {
    // SAFETY: racy peek is fine: a stale 0 only delays to the next poll.
    if unsafe { (*DEADLINES.0.get()).is_empty() } {
        return;
    }
    let now = nanotime();
    let mut due = Vec::new();
    DEADLINE_LOCK.lock();
    // SAFETY: under DEADLINE_LOCK.
    unsafe {
        let h = deadlines();
        while let Some(Reverse(e)) = h.peek() {
            if e.0 > now {
                break;
            }
            due.push(*e);
            h.pop();
        }
    }
    DEADLINE_LOCK.unlock();
    for (_, pd, mode, seq) in due {
        let pd = pd as *mut PollDesc;
        // SAFETY: never freed.
        if unsafe { (*pd).seq.load(Ordering::Acquire) } != seq {
            continue;
        }
        let gp = unblock(pd, mode, false);
        if !gp.is_null() {
            out.push(gp);
        }
    }
}

fn inject(list: Vec<*mut G>) {
    for gp in list {
        ready(gp, false);
    }
}

/// `findrunnable`'s non-blocking poll (the M holds a P): readied
/// goroutines go to its run queue. True if any was readied.
pub fn findrunnable_poll() -> bool {
    if !inited() || WAITERS.load(Ordering::Acquire) == 0 || LASTPOLL.load(Ordering::Acquire) == 0 {
        return false;
    }
    let list = netpoll(0);
    let any = !list.is_empty();
    inject(list);
    any
}

/// `findrunnable` with nothing to run and no P: if goroutines wait for I/O
/// and no other M is blocked in the poller, block in `epoll_wait` until an
/// event, the earliest I/O deadline or `*poll_until` (timers; 0 = none).
/// Returns true if the M acquired a P (the caller restarts its search);
/// false if it should go idle, in which case `*poll_until` is kept in the
/// future.
pub fn findrunnable_block(poll_until: &mut i64) -> bool {
    if !inited() || WAITERS.load(Ordering::Acquire) == 0 {
        return false;
    }
    let last = LASTPOLL.swap(0, Ordering::AcqRel);
    if last == 0 {
        return false;
    }
    let now = nanotime();
    let mut until = *poll_until;
    let d = earliest_deadline();
    if d != 0 && (until == 0 || d < until) {
        until = d;
    }
    let delay = if until == 0 { -1 } else { (until - now).max(0) };
    POLL_UNTIL.store(if until == 0 { i64::MAX } else { until }, Ordering::Release);
    let list = netpoll(delay);
    POLL_UNTIL.store(0, Ordering::Release);
    LASTPOLL.store(nanotime(), Ordering::Release);
    // SAFETY: the idle P list is under sched.lock.
    let pp = unsafe {
        let sch = crate::runtime2::sched();
        (*sch).lock.lock();
        let pp = crate::proc::pidleget();
        (*sch).lock.unlock();
        pp
    };
    if pp.is_null() {
        inject(list);
        if *poll_until != 0 {
            *poll_until = (*poll_until).max(nanotime() + 1);
        }
        return false;
    }
    // SAFETY: pp was just taken off the idle list for this M.
    unsafe { crate::proc::acquirep(pp) };
    inject(list);
    true
}

/// sysmon's poll: if nobody polled for 10 ms, poll without blocking and
/// make the readied goroutines runnable (global queue; idle Ps get Ms).
pub fn sysmon_poll(now: i64) {
    if !inited() {
        return;
    }
    let last = LASTPOLL.load(Ordering::Acquire);
    if last != 0 && last + 10_000_000 < now {
        let _ = LASTPOLL.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed);
        inject(netpoll(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pd() -> *mut PollDesc {
        Box::into_raw(Box::new(PollDesc::unused()))
    }

    /// The rg/wg state machine of the module docs, transition by transition
    /// (no goroutines needed: a fake G address stands for a parked G).
    #[test]
    fn waiter_state_machine() {
        let p = pd();
        let s = slot(p, Mode::Read);
        // Nothing waits: a deadline wake-up changes nothing; an event is recorded.
        assert!(unblock(p, Mode::Read, false).is_null());
        assert_eq!(s.load(Ordering::Relaxed), 0);
        assert!(unblock(p, Mode::Read, true).is_null());
        assert_eq!(s.load(Ordering::Relaxed), PD_READY);
        // Readiness is sticky until consumed.
        assert!(unblock(p, Mode::Read, true).is_null());
        assert_eq!(s.load(Ordering::Relaxed), PD_READY);
        // A waiter committing (WAIT) loses the race to an event: its park
        // commit fails, so it never sleeps.
        s.store(PD_WAIT, Ordering::Relaxed);
        assert!(unblock(p, Mode::Read, true).is_null());
        assert_eq!(s.load(Ordering::Relaxed), PD_READY);
        let fake_g = 0x1000 as *mut G;
        // SAFETY: commit only touches the slot (fake_g is never dereferenced).
        assert!(!unsafe { commit(fake_g, (s as *const AtomicUsize).cast_mut().cast()) });
        // ... or to a deadline (slot back to 0): same.
        s.store(PD_WAIT, Ordering::Relaxed);
        assert!(unblock(p, Mode::Read, false).is_null());
        assert_eq!(s.load(Ordering::Relaxed), 0);
        // A committed waiter is parked: the waker takes it exactly once.
        s.store(PD_WAIT, Ordering::Relaxed);
        let before = WAITERS.load(Ordering::Relaxed);
        // SAFETY: as above.
        assert!(unsafe { commit(fake_g, (s as *const AtomicUsize).cast_mut().cast()) });
        assert_eq!(s.load(Ordering::Relaxed), fake_g as usize);
        assert_eq!(unblock(p, Mode::Read, true), fake_g);
        assert_eq!(s.load(Ordering::Relaxed), PD_READY);
        assert!(
            unblock(p, Mode::Read, true).is_null(),
            "readied at most once"
        );
        assert_eq!(WAITERS.load(Ordering::Relaxed), before);
        // The write direction is independent.
        assert_eq!(slot(p, Mode::Write).load(Ordering::Relaxed), 0);
        // SAFETY: from Box::into_raw above.
        drop(unsafe { Box::from_raw(p) });
    }
}
