//! sysmon, preemption requests, GODEBUG and the scheduler trace (Go's
//! `sysmon`, `retake`, `preemptone`, `schedtrace` in proc.go).
//!
//! # Design
//!
//! `runtime.main` starts **sysmon** with `newm(sysmon)`: its own M and OS
//! thread, *without a P*, so it runs no goroutines and is never blocked by
//! one. It is counted in `Sched.nmsys`, so deadlock detection (`checkdead`)
//! does not mistake the always-alive monitor for a running M. Its loop:
//!
//! 1. sleep: 20 µs while it keeps finding work; after 50 idle rounds the
//!    delay doubles each round up to 10 ms (Go's numbers). The sleep is a
//!    `futex` wait on `WAKE` with that timeout, so it can be cut short;
//! 2. if *every* P is idle there is nothing to watch: sysmon announces
//!    `sysmonwait` (under `sched.lock`) and sleeps on `WAKE` with no
//!    timeout. The only way a P stops being idle is `pidleget` (also under
//!    `sched.lock`), which calls [`pidleget_hook`] and wakes sysmon: no
//!    sleep-and-hope, no lost wake-up (the flag and the P list change
//!    under the same lock; the futex re-checks `WAKE` atomically);
//! 3. polls the network if nobody polled for 10 ms (netpoll.rs);
//! 4. `retake`: a P in a system call for at least one sysmon round
//!    (≥ 20 µs) whose run queue has work - or that has been there for
//!    10 ms, or when no M is spinning or idle - is taken away (`Psyscall →
//!    Pidle` by CAS, so it races safely with `exitsyscall`) and handed to
//!    another M (`handoffp`); a G that has been running for 10 ms on one P
//!    (the P's `schedtick` did not move) gets a preemption request;
//! 5. prints the scheduler trace when `GODEBUG=schedtrace=MS` is due.
//!
//! Entering a system call with work queued also wakes sysmon (see
//! [`wake_for_syscall`]), so the hand-off latency does not depend on how
//! deep into its idle back-off sysmon was.
//!
//! # Preemption
//!
//! Preemption is **cooperative**: sysmon sets `G.preempt`; the G honours it
//! at its next *safe point* ([`preempt_check`]): spawning (`go`), channel
//! operations and `sync::Mutex::lock` (CHANNELS' files call it), `sleep`
//! and `gosched` (they switch anyway), and the explicit
//! [`preempt_point`] a long loop can call. Honouring it = `mcall` to g0,
//! `Grunning → Grunnable`, put the G on the *global* run queue (as Go's
//! `gopreempt_m`, so it goes behind every other runnable G, also those of
//! other Ps), `schedule()`.
//!
//! A safe point is a place where the G holds no runtime lock and no
//! thread-bound state (Rust `thread_local!` borrows, the stdout lock...):
//! after resuming it may run on another thread. That is why [`preempt_check`]
//! must only be called at the top of a runtime operation, before any lock
//! is taken.
//!
//! ## Asynchronous preemption (GODEBUG=asyncpreempt=1)
//!
//! Opt-in, and only for goroutines inside `runtime::async_preemptible`,
//! at instructions the signal handler proves safe (program code, no runtime
//! lock held, ...): sysmon sends SIGURG with each request. The rules and
//! why they are needed are in asyncpreempt.rs.
//!
//! # GODEBUG
//!
//! Comma-separated `key=value` pairs read once at start (parsed in
//! runtime1.rs); unknown keys and values that are not integers are ignored
//! (Go's `parsedebugvars`):
//! `schedtrace=MS` prints Go's `SCHED` line every MS ms (to stderr),
//! `scheddetail=1` adds Go's per-P, per-M and per-G lines.

use core::fmt::Write as _;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};

use crate::asm::{getg, mcall};
use crate::lock::{futexsleep, futexwakeup};
use crate::proc::{casgstatus, readgstatus};
use crate::runq::{globrunqput, runqempty};
use crate::runtime2::*;
use crate::time::nanotime;

static SCHEDTRACE: AtomicI32 = AtomicI32::new(0);
static SCHEDDETAIL: AtomicI32 = AtomicI32::new(0);

// ---------------------------------------------------------------------------
// State words.

/// sysmon's futex word. 0 = no wake-up pending; 1 = someone asked sysmon to
/// wake up (a P left the idle list while it waited, a syscall entered with
/// work queued, SIGQUIT). sysmon sleeps with `futex_wait(WAKE, 0)`, so a
/// wake-up between its decision to sleep and the sleep itself is not lost,
/// and stores 0 after each sleep (a spurious early round is harmless).
static WAKE: AtomicU32 = AtomicU32::new(0);

/// Go's `sched.sysmonwait`: sysmon sleeps until a P stops being idle.
/// Written only with `sched.lock` held (by sysmon and by [`pidleget_hook`],
/// which runs inside `pidleget`), so it never misses the P it waits for.
static SYSMONWAIT: AtomicBool = AtomicBool::new(false);

/// sysmon's current sleep in µs (`u64::MAX` = waiting for a P). Read by
/// [`wake_for_syscall`] to decide whether a wake-up is worth a futex call.
static DELAY_US: AtomicU64 = AtomicU64::new(0);

/// sysmon is running (its thread started).
static STARTED: AtomicBool = AtomicBool::new(false);

/// Number of preemption requests sysmon made / honoured (statistics).
pub static PREEMPT_REQUESTS: AtomicU64 = AtomicU64::new(0);
/// See [`PREEMPT_REQUESTS`].
pub(crate) static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
/// Number of Ps sysmon took from system calls (statistics).
pub static SYSCALL_RETAKES: AtomicU64 = AtomicU64::new(0);

/// How long a G may run before sysmon asks it to yield (Go's forcePreemptNS).
pub const FORCE_PREEMPT_NS: i64 = 10_000_000;

/// sysmon's view of one P (Go's `sysmontick`); only sysmon touches it.
#[derive(Clone, Copy, Default)]
struct SysmonTick {
    schedtick: u32,
    schedwhen: i64,
    syscalltick: u32,
    syscallwhen: i64,
}

fn wake() {
    WAKE.store(1, Ordering::Release);
    futexwakeup(&WAKE, 1);
}

/// Sleep up to `ns` (< 0: until woken); true if woken by [`wake`].
fn sleep_ns(ns: i64) -> bool {
    futexsleep(&WAKE, 0, ns);
    WAKE.swap(0, Ordering::Relaxed) != 0
}

/// Called by `pidleget` (with `sched.lock` held) when a P leaves the idle
/// list: wakes sysmon if it waits for that.
#[inline]
pub fn pidleget_hook() {
    if SYSMONWAIT.load(Ordering::Relaxed) {
        SYSMONWAIT.store(false, Ordering::Relaxed);
        wake();
    }
}

/// Called by `entersyscall` when the P it leaves has queued work: wakes
/// sysmon if it is in a long back-off sleep, so the P is handed off after
/// ~20 µs rather than up to 10 ms.
#[inline]
pub fn wake_for_syscall() {
    if DELAY_US.load(Ordering::Relaxed) > 20 && WAKE.load(Ordering::Relaxed) == 0 {
        wake();
    }
}

/// Wake sysmon now (used by the SIGQUIT handler: async-signal-safe, it is
/// one atomic store and one futex syscall).
pub fn wake_now() {
    wake();
}

/// Start sysmon on its own M (thread, no P). Called once by `runtime.main`.
pub fn start() {
    let d = crate::runtime1::parse_godebug(crate::runtime1::gogetenv("GODEBUG").unwrap_or(""));
    SCHEDTRACE.store(d.schedtrace, Ordering::Relaxed);
    SCHEDDETAIL.store(d.scheddetail, Ordering::Relaxed);
    crate::traceback::install_sigquit();
    if d.asyncpreempt > 0 {
        // Reading and demangling the symbol table needs more stack than a
        // goroutine has: run it on g0.
        crate::asm::systemstack(crate::asyncpreempt::enable);
    }
    fn sysmon_entry() {
        sysmon()
    }
    crate::proc::newm(Some(sysmon_entry), null_mut(), false);
}

unsafe fn gcwaiting() -> bool {
    // SAFETY: gcwaiting is only accessed atomically.
    unsafe { atomic_u32(&raw mut (*sched()).gcwaiting).load(Ordering::Acquire) != 0 }
}

unsafe fn npidle() -> u32 {
    // SAFETY: npidle is only accessed atomically.
    unsafe { atomic_u32(&raw mut (*sched()).npidle).load(Ordering::Acquire) }
}

unsafe fn nmspinning() -> u32 {
    // SAFETY: nmspinning is only accessed atomically.
    unsafe { atomic_u32(&raw mut (*sched()).nmspinning).load(Ordering::Acquire) }
}

/// The system monitor: runs forever on its own thread without a P (see
/// the module docs).
#[unsafe(export_name = "runtime.sysmon")]
#[inline(never)]
pub extern "C" fn sysmon() -> ! {
    // From here sysmon's M has started: runtime.exit may end the process.
    crate::proc::mstarted();
    // SAFETY: sched.lock protects nmsys; checkdead runs under it (Go does
    // the same: until this point sysmon counted as a running M).
    unsafe {
        let sch = sched();
        (*sch).lock.lock();
        (*sch).nmsys += 1;
        crate::proc::checkdead();
        (*sch).lock.unlock();
    }
    // 1 µs timer slack (default 50 µs): sysmon's 20 µs naps are its
    // resolution for syscall hand-off.
    // SAFETY: prctl on the calling thread only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000u64, 0u64, 0u64, 0u64) };
    STARTED.store(true, Ordering::Release);
    let mut ticks = vec![SysmonTick::default(); MAX_GOMAXPROCS];
    let mut lasttrace = 0i64;
    let mut idle = 0u32;
    let mut delay: u64 = 0;
    let mut laststamp = 0i64;
    loop {
        if idle == 0 {
            delay = 20;
        } else if idle > 50 {
            delay *= 2;
        }
        delay = delay.min(10_000);
        DELAY_US.store(delay, Ordering::Relaxed);
        if sleep_ns(delay as i64 * 1000) {
            // Woken because work appeared: watch closely again.
            idle = 0;
            delay = 20;
        }
        crate::traceback::check_sigquit();
        let now = nanotime();
        let schedtrace = SCHEDTRACE.load(Ordering::Relaxed);
        // SAFETY: counters are read atomically; SYSMONWAIT under sched.lock.
        unsafe {
            if schedtrace <= 0 && npidle() == gomaxprocs_now() as u32 && !gcwaiting() {
                // About to sleep until woken: stamp the waits first (not
                // under sched.lock: it walks every G).
                stamp_waiting(now);
                laststamp = now;
                let sch = sched();
                (*sch).lock.lock();
                if npidle() == gomaxprocs_now() as u32 && !gcwaiting() {
                    SYSMONWAIT.store(true, Ordering::Relaxed);
                    DELAY_US.store(u64::MAX, Ordering::Relaxed);
                    (*sch).lock.unlock();
                    sleep_ns(-1);
                    (*sch).lock.lock();
                    SYSMONWAIT.store(false, Ordering::Relaxed);
                    idle = 0;
                    delay = 20;
                }
                (*sch).lock.unlock();
                crate::traceback::check_sigquit();
            }
        }
        let now = now.max(nanotime());
        crate::netpoll::sysmon_poll(now);
        if retake(now, &mut ticks) != 0 {
            idle = 0;
        } else {
            idle += 1;
        }
        if laststamp + STAMP_EVERY_NS <= now {
            laststamp = now;
            stamp_waiting(now);
        }
        if schedtrace > 0 && lasttrace + schedtrace as i64 * 1_000_000 <= now {
            lasttrace = now;
            schedtrace_print(SCHEDDETAIL.load(Ordering::Relaxed) > 0);
        }
    }
}

/// How often sysmon stamps the waiting goroutines (`stamp_waiting`).
const STAMP_EVERY_NS: i64 = 1_000_000_000;

/// Sets `G.waitsince` of every waiting G that has none to `now`: the
/// approximate start of its wait that tracebacks (`[chan receive, 5
/// minutes]`) and debuggers show. Go's garbage collector does this when it
/// finds a G blocked; the runtime has no collector, so sysmon does it once
/// a second and before it sleeps with nothing to do. A wait is stamped at
/// most a second late, so it only ever looks shorter than it is.
///
/// A G that wakes between the status check and the store: `execute`
/// clears `waitsince` when the G runs, and if that clear came first, the
/// second check sees the G no longer waiting and takes the stamp back
/// (compare-and-swap, so a newer stamp or clear stays). Gs come from
/// allgs and are never freed.
fn stamp_waiting(now: i64) {
    crate::proc::for_each_g(|gp| {
        // SAFETY: gp is from allgs (never freed); waitsince is accessed
        // atomically by sysmon and by execute.
        unsafe {
            let ws = atomic_i64(&raw mut (*gp).waitsince);
            if readgstatus(gp) == GWAITING && ws.load(Ordering::Relaxed) == 0 {
                ws.store(now, Ordering::Relaxed);
                if readgstatus(gp) != GWAITING {
                    let _ = ws.compare_exchange(now, 0, Ordering::Relaxed, Ordering::Relaxed);
                }
            }
        }
    });
}

/// Go's `retake`: take Ps from long system calls, ask long-running Gs to
/// yield. Returns how many Ps were retaken.
fn retake(now: i64, ticks: &mut [SysmonTick]) -> u32 {
    let mut n = 0;
    let procs = gomaxprocs_now() as usize;
    for (i, pd) in ticks.iter_mut().enumerate().take(procs) {
        // SAFETY: allp entries below gomaxprocs are live Ps, never freed;
        // their status and schedtick are read atomically.
        unsafe {
            let pp = allp(i);
            if pp.is_null() {
                continue;
            }
            let s = atomic_u32(&raw mut (*pp).status).load(Ordering::Acquire);
            let mut sysretake = false;
            if s == PRUNNING || s == PSYSCALL {
                let t = atomic_u32(&raw mut (*pp).schedtick).load(Ordering::Relaxed);
                if pd.schedtick != t {
                    pd.schedtick = t;
                    pd.schedwhen = now;
                } else if pd.schedwhen + FORCE_PREEMPT_NS <= now {
                    preemptone(pp);
                    // Re-arm: ask again only after another 10 ms.
                    pd.schedwhen = now;
                    sysretake = true;
                }
            }
            if s == PSYSCALL {
                let t = crate::syscall::syscalltick(i);
                if !sysretake && pd.syscalltick != t {
                    pd.syscalltick = t;
                    pd.syscallwhen = now;
                    continue;
                }
                // Leave the P alone if it has nothing to do and others are
                // looking for work anyway - for up to 10 ms.
                if runqempty(pp) && nmspinning() + npidle() > 0 && pd.syscallwhen + 10_000_000 > now
                {
                    continue;
                }
                // While the P is in our hands (taken, not yet handed off),
                // count one more M as running (Go's retake does the same):
                // else the M in the system call can leave it, find no idle
                // P, queue its G globally, go idle as the last M, and have
                // checkdead report "runnable g on the global queue" - seen
                // about once in 60 runs of gochan at GOMAXPROCS=1.
                crate::proc::incidlelocked(-1);
                if atomic_u32(&raw mut (*pp).status)
                    .compare_exchange(PSYSCALL, PIDLE, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    n += 1;
                    crate::syscall::bump_syscalltick(i);
                    SYSCALL_RETAKES.fetch_add(1, Ordering::Relaxed);
                    crate::proc::handoffp(pp);
                }
                crate::proc::incidlelocked(1);
            }
        }
    }
    n
}

/// Ask the G running on `pp` to yield at its next safe point.
///
/// # Safety
/// `pp` is a live P. M and G objects are never freed, so the racy reads of
/// `pp.m` and `m.curg` at worst hit the wrong (live) G, which then yields
/// once too often.
unsafe fn preemptone(pp: *mut P) -> bool {
    // SAFETY: pp is live (this function's contract), and every M and G read
    // through it is an object that is never freed (see # Safety).
    unsafe {
        let mp = atomic_ptr(&raw mut (*pp).m).load(Ordering::Relaxed);
        if mp.is_null() {
            return false;
        }
        let gp = atomic_ptr(&raw mut (*mp).curg).load(Ordering::Relaxed);
        if gp.is_null() || gp == (*mp).g0 {
            return false;
        }
        atomic_u32(&raw mut (*gp).preempt).store(1, Ordering::Relaxed);
        PREEMPT_REQUESTS.fetch_add(1, Ordering::Relaxed);
        if crate::asyncpreempt::enabled() {
            crate::asyncpreempt::signal(mp);
        }
        true
    }
}

/// A preemption safe point: if sysmon asked the current goroutine to yield,
/// yield now (to the back of the global run queue). Cheap otherwise (one
/// relaxed load). Must not be called with a runtime lock held or while a
/// thread-local is borrowed; a no-op on g0, outside the runtime, and in a
/// system call.
#[inline]
pub fn preempt_check() {
    let gp = getg();
    if gp.is_null() {
        return;
    }
    // SAFETY: gp is this thread's live g.
    if unsafe { atomic_u32(&raw mut (*gp).preempt).load(Ordering::Relaxed) } == 0 {
        return;
    }
    preempt_slow(gp);
}

#[cold]
#[inline(never)]
fn preempt_slow(gp: *mut G) {
    // SAFETY: gp is the running g of this thread.
    unsafe {
        let mp = (*gp).m;
        // Never yield holding a runtime lock (a safe point reached from
        // inside the runtime by mistake): the request stays pending.
        if mp.is_null() || (*mp).g0 == gp || (*mp).p.is_null() || crate::lock::locks_held() != 0 {
            return;
        }
        atomic_u32(&raw mut (*gp).preempt).store(0, Ordering::Relaxed);
        PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
        mcall(gopreempt_m);
    }
}

/// An explicit preemption point for long-running loops (Go inserts these
/// checks in function prologues; this runtime cannot): yields if sysmon
/// asked the goroutine to, so one busy goroutine cannot starve the others
/// on its P, even at GOMAXPROCS=1.
#[inline]
pub fn preempt_point() {
    preempt_check();
}

/// Yield the preempted `gp` (on g0 via `mcall`): to the global run queue.
pub(crate) extern "C" fn gopreempt_m(gp: *mut G) -> ! {
    // SAFETY: on g0; gp's context was saved by mcall and it is ours.
    unsafe {
        let mp = (*getg()).m;
        casgstatus(gp, GRUNNING, GRUNNABLE);
        (*mp).curg = null_mut();
        (*gp).m = null_mut();
        let sch = sched();
        (*sch).lock.lock();
        globrunqput(sch, gp);
        (*sch).lock.unlock();
    }
    crate::proc::schedule()
}

// ---------------------------------------------------------------------------
// The scheduler trace.

static STARTTIME: AtomicI64 = AtomicI64::new(0);

/// Go's `startpanic_m`: a fatal error (a panic nobody recovered, a
/// deadlock) prints the detailed scheduler trace when `GODEBUG` asks for
/// traces (`schedtrace` or `scheddetail`). Takes sched.lock: the caller
/// must not hold it.
pub fn schedtrace_on_fatal() {
    if SCHEDTRACE.load(Ordering::Relaxed) > 0 || SCHEDDETAIL.load(Ordering::Relaxed) > 0 {
        schedtrace_print(true);
    }
}

/// Print Go's scheduler trace (`GODEBUG=schedtrace`): one `SCHED` line, and
/// with `detailed` one line per P, M and G, exactly in Go 1.19's format.
pub fn schedtrace_print(detailed: bool) {
    let now = nanotime();
    let _ = STARTTIME.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    let start = STARTTIME.load(Ordering::Relaxed);
    let mut w = crate::signal::ErrWriter::new();
    let procs = gomaxprocs_now().max(0) as usize;
    // Timer heap sizes are read before sched.lock (timerslock may be taken
    // before sched.lock elsewhere, never after it).
    let mut timerslen = vec![0usize; procs];
    for (i, t) in timerslen.iter_mut().enumerate() {
        // SAFETY: live P; its heap is only read under its lock.
        unsafe {
            let pp = allp(i);
            (*pp).timerslock.lock();
            *t = (*pp).timers.len();
            (*pp).timerslock.unlock();
        }
    }
    // SAFETY: under sched.lock, as Go; P/M/G fields that change without it
    // are read atomically or are plain words read racily (diagnostics).
    unsafe {
        let sch = sched();
        (*sch).lock.lock();
        let _ = write!(
            w,
            "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} idlethreads={} runqueue={}",
            (now - start) / 1_000_000,
            procs,
            npidle(),
            (*sch).mnext,
            nmspinning(),
            (*sch).nmidle,
            (*sch).runqsize
        );
        if detailed {
            let _ = writeln!(
                w,
                " gcwaiting={} nmidlelocked={} stopwait={} sysmonwait={}",
                gcwaiting() as u32,
                (*sch).nmidlelocked,
                (*sch).stopwait,
                SYSMONWAIT.load(Ordering::Relaxed) as u32
            );
        }
        for (i, &tl) in timerslen.iter().enumerate() {
            let pp = allp(i);
            let mp = atomic_ptr(&raw mut (*pp).m).load(Ordering::Relaxed);
            let h = atomic_u32(&raw mut (*pp).runqhead).load(Ordering::Acquire);
            let t = atomic_u32(&raw mut (*pp).runqtail).load(Ordering::Acquire);
            if detailed {
                let id = if mp.is_null() { -1 } else { (*mp).id };
                let _ = writeln!(
                    w,
                    "  P{}: status={} schedtick={} syscalltick={} m={} runqsize={} gfreecnt={} timerslen={}",
                    i,
                    atomic_u32(&raw mut (*pp).status).load(Ordering::Relaxed),
                    atomic_u32(&raw mut (*pp).schedtick).load(Ordering::Relaxed),
                    crate::syscall::syscalltick(i),
                    id,
                    t.wrapping_sub(h),
                    core::sync::atomic::AtomicI32::from_ptr(&raw mut (*pp).gfree.n)
                        .load(Ordering::Relaxed),
                    tl
                );
            } else {
                let _ = w.write_str(" ");
                if i == 0 {
                    let _ = w.write_str("[");
                }
                let _ = write!(w, "{}", t.wrapping_sub(h));
                if i == procs - 1 {
                    let _ = w.write_str("]\n");
                }
            }
        }
        if !detailed {
            (*sch).lock.unlock();
            return;
        }
        let mut mp = atomic_ptr(&raw mut ALLM).load(Ordering::Acquire);
        while !mp.is_null() {
            let pp = (*mp).p;
            let gp = (*mp).curg;
            let _ = writeln!(
                w,
                "  M{}: p={} curg={} mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning={} blocked={} lockedg={}",
                (*mp).id,
                if pp.is_null() { -1 } else { (*pp).id },
                if gp.is_null() { -1 } else { (*gp).goid },
                (*mp).spinning,
                (*mp).blocked,
                if (*mp).lockedg.is_null() {
                    -1
                } else {
                    (*(*mp).lockedg).goid
                }
            );
            mp = (*mp).alllink;
        }
        crate::proc::for_each_g(|gp| {
            let m = (*gp).m;
            let _ = writeln!(
                w,
                "  G{}: status={}({}) m={} lockedm={}",
                (*gp).goid,
                readgstatus(gp),
                (*gp).waitreason.as_str(),
                if m.is_null() { -1 } else { (*m).id },
                if (*gp).lockedm.is_null() {
                    -1
                } else {
                    (*(*gp).lockedm).id
                }
            );
        });
        (*sch).lock.unlock();
    }
}
