//! System calls: `entersyscall` / `exitsyscall` and the public
//! [`syscall`] wrapper (Go's proc.go `entersyscall`, `exitsyscall`).
//!
//! # Design
//!
//! A goroutine about to block the thread in the kernel must not keep its P
//! busy: the other goroutines queued on that P would wait for the call.
//! Go's answer, reproduced here:
//!
//! * `entersyscall` leaves the P *attached but lendable*: the G becomes
//!   `Gsyscall`, the M drops its `p` (remembered as `oldp`), the P's `m` is
//!   cleared and its status becomes `Psyscall` (stored last, with release
//!   order, so whoever CASes it away sees a P without an M). Nothing else
//!   happens on the fast path: a short syscall costs two stores and two CAS.
//! * sysmon's `retake` CASes `Psyscall → Pidle` when the P has work waiting
//!   and the call has lasted at least one sysmon round (≥ 20 µs), and hands
//!   the P to another M (`handoffp`).
//! * `exitsyscall` tries to CAS its old P back `Psyscall → Pidle` and
//!   acquire it (fast path: nobody took it). Else it takes any idle P. Else
//!   (slow path, on g0 via `mcall`) the G becomes runnable on the global
//!   queue and the M goes idle (`stopm`).
//!
//! The CAS on `P.status` is the only arbitration between sysmon and the
//! returning M: exactly one of them wins the P.
//!
//! # State words
//!
//! * `P.status == PSYSCALL`: the P belongs to an M in a system call and may
//!   be taken by sysmon (by CAS only).
//! * [`SYSCALLTICK`]`[p.id]` (Go's `p.syscalltick`): incremented on every
//!   entry and every retake, so sysmon can tell "still the same syscall" from
//!   "a new one" between two of its rounds.
//! * `OLDP` (thread-local of the M): the P left by the current syscall. A G
//!   cannot move to another thread while it is in a syscall (it is running
//!   on this one), so a thread-local is exactly right.
//! * `G.syscallsp/pc/bp`: where the G entered the call, for tracebacks.

use core::cell::Cell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::asm::{getg, mcall};
use crate::proc::{acquirep, casgstatus};
use crate::runq::{globrunqput, runqempty};
use crate::runtime2::*;

/// Per-P syscall tick (see the module docs), indexed by `P.id`.
pub static SYSCALLTICK: [AtomicU32; MAX_GOMAXPROCS] = [const { AtomicU32::new(0) }; MAX_GOMAXPROCS];

thread_local! {
    static OLDP: Cell<*mut P> = const { Cell::new(null_mut()) };
}

/// `SYSCALLTICK[i]`.
pub fn syscalltick(i: usize) -> u32 {
    SYSCALLTICK[i].load(Ordering::Relaxed)
}

pub(crate) fn bump_syscalltick(i: usize) {
    SYSCALLTICK[i].fetch_add(1, Ordering::Relaxed);
}

/// The current goroutine is about to block in the kernel: lend its P (see
/// the module docs). Returns false (and does nothing) when not called on a
/// goroutine that holds a P.
#[unsafe(export_name = "runtime.entersyscall")]
#[inline(never)]
pub extern "C" fn entersyscall() -> bool {
    let gp = getg();
    if gp.is_null() {
        return false;
    }
    // SAFETY: gp is the running G; its M and P are ours until we lend the P.
    unsafe {
        let mp = (*gp).m;
        if mp.is_null() || (*mp).g0 == gp || (*mp).p.is_null() {
            return false;
        }
        // Where the caller is: our frame's saved rbp / return address
        // (frame pointers are always on in this workspace).
        let bp: usize;
        core::arch::asm!("mov {}, rbp", out(reg) bp, options(nomem, nostack, preserves_flags));
        if bp != 0 {
            (*gp).syscallbp = *(bp as *const usize);
            (*gp).syscallpc = *((bp + 8) as *const usize);
            (*gp).syscallsp = bp + 16;
        }
        let pp = (*mp).p;
        SYSCALLTICK[(*pp).id as usize].fetch_add(1, Ordering::Relaxed);
        OLDP.with(|c| c.set(pp));
        casgstatus(gp, GRUNNING, GSYSCALL);
        (*mp).p = null_mut();
        atomic_ptr(&raw mut (*pp).m).store(null_mut(), Ordering::Relaxed);
        atomic_u32(&raw mut (*pp).status).store(PSYSCALL, Ordering::Release);
        if !runqempty(pp) {
            crate::sysmon::wake_for_syscall();
        }
    }
    true
}

/// The current goroutine is back from the kernel: get a P again (its old
/// one if sysmon did not take it, else an idle one, else wait on the global
/// run queue). See the module docs.
#[unsafe(export_name = "runtime.exitsyscall")]
#[inline(never)]
pub extern "C" fn exitsyscall() {
    let gp = getg();
    // SAFETY: gp is in Gsyscall on this thread (entersyscall returned true).
    unsafe {
        let mp = (*gp).m;
        let oldp = OLDP.with(|c| c.replace(null_mut()));
        (*gp).syscallsp = 0;
        (*gp).syscallpc = 0;
        (*gp).syscallbp = 0;
        if !oldp.is_null()
            && atomic_u32(&raw mut (*oldp).status)
                .compare_exchange(PSYSCALL, PIDLE, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            acquirep(oldp);
            casgstatus(gp, GSYSCALL, GRUNNING);
            return;
        }
        let sch = sched();
        if atomic_u32(&raw mut (*sch).gcwaiting).load(Ordering::Acquire) == 0 {
            (*sch).lock.lock();
            let pp = crate::proc::pidleget();
            (*sch).lock.unlock();
            if !pp.is_null() {
                acquirep(pp);
                casgstatus(gp, GSYSCALL, GRUNNING);
                return;
            }
        }
        let _ = mp;
        mcall(exitsyscall0);
    }
}

extern "C" fn exitsyscall0(gp: *mut G) -> ! {
    // SAFETY: on g0 of an M without a P; gp's context was saved by mcall.
    unsafe {
        let mp = (*getg()).m;
        casgstatus(gp, GSYSCALL, GRUNNABLE);
        (*mp).curg = null_mut();
        (*gp).m = null_mut();
        let sch = sched();
        (*sch).lock.lock();
        let pp = if atomic_u32(&raw mut (*sch).gcwaiting).load(Ordering::Acquire) == 0 {
            crate::proc::pidleget()
        } else {
            null_mut()
        };
        // Whether gp is locked to this M, read before the unlock commits
        // handing gp to the queue: another M may run gp after it (and gp
        // may lock or unlock itself there).
        let mut locked = false;
        if pp.is_null() {
            globrunqput(sch, gp);
            locked = !(*gp).lockedm.is_null();
        }
        (*sch).lock.unlock();
        if !pp.is_null() {
            acquirep(pp);
            crate::proc::execute(gp, false);
        }
        if locked {
            // gp waits on the global queue for a P; it must run here, so
            // this M waits for whoever takes it to hand over a P.
            crate::proc::stoplockedm();
            crate::proc::execute(gp, false);
        }
        crate::proc::stopm(0);
    }
    crate::proc::schedule()
}

/// Run `f`, a call that may block the thread (a blocking system call, a
/// C library call, `std::fs` I/O...), without stalling the other
/// goroutines of this P: while `f` runs the P may be handed to another
/// thread (Go's `syscall.Syscall` / `entersyscall`).
///
/// `f` must not use the runtime (spawn, channels, sleep, runtime locks): the
/// goroutine holds no P while it runs. Outside a goroutine this just calls
/// `f`.
///
/// ```
/// # #![no_main]
/// # #[runtime::main]
/// # fn main() {
/// # let mut fds = [0; 2];
/// # // SAFETY: fds has room for the two descriptors.
/// # assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
/// # // SAFETY: writes two bytes of a static string.
/// # assert_eq!(unsafe { libc::write(fds[1], b"hi".as_ptr().cast(), 2) }, 2);
/// # let fd = fds[0];
/// let mut buf = [0u8; 64];
/// // SAFETY: buf is ours and outlives the call.
/// let n = runtime::syscall(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) });
/// # assert_eq!(n, 2);
/// # }
/// ```
#[inline(never)]
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    let entered = entersyscall();
    let r = f();
    if entered {
        exitsyscall();
        crate::sysmon::preempt_check();
    }
    r
}
