//! The scheduler (Go's proc.go).
//!
//! # Design
//!
//! Three kinds of object:
//!
//! * **G** - a goroutine: a stack, a saved context, a status;
//! * **M** - a worker thread; runs Gs, or the scheduler on its own stack (g0);
//! * **P** - a processor: the right to run Gs. There are exactly GOMAXPROCS
//!   Ps; an M must hold one to run user code. Each P has a local run queue,
//!   so most scheduling touches no shared lock.
//!
//! An M runs `schedule()` on g0: `findrunnable` runs the P's due timers,
//! then takes a G (the global queue one time in 61 for fairness; the local
//! runnext/ring; the global queue; the poller; other Ps), switch to it
//! with `gogo`. The G runs until it parks (`gopark`, e.g. on a channel),
//! yields (`gosched`) or finishes (`goexit`); each of these goes back to g0
//! through `mcall` and calls `schedule()` again. A G that runs for 10 ms
//! without doing any of these is asked to yield by sysmon (`G.preempt`),
//! honoured at its next safe point; opt-in asynchronous preemption by
//! signal exists too (sysmon.rs, asyncpreempt.rs).
//!
//! ## Worker parking and unparking (Go's essay, condensed)
//!
//! We want enough running Ms to use the available Ps, but we do not want to
//! burn CPU with idle Ms, and waking a thread is expensive. The policy:
//!
//! * an M with no work **spins** for a while (looks at the global queue,
//!   steals from other Ps' queues in a random order, runs due timers) before
//!   giving its P back and sleeping on its futex note (`stopm`);
//! * when work is made ready (`newproc`, `ready`), the producer calls
//!   `wakep`: *if there is an idle P and no M is spinning*, it wakes (or
//!   creates) one M and marks it spinning. `Sched.nmspinning` counts spinning
//!   Ms; at most one M is woken per burst of work, and a spinning M that
//!   finds work calls `wakep` again before running it (so work spreads);
//! * the subtle race is an M that stops spinning just as work appears: the
//!   producer saw `nmspinning > 0` and woke nobody. So the last spinning M,
//!   after decrementing `nmspinning` and giving up its P, looks at every
//!   run queue once more and re-acquires a P if it finds work.
//! * at most half of the busy Ps may have a spinning M (`2*nmspinning <
//!   gomaxprocs - npidle`), which keeps spinning from eating a big machine.
//!
//! An idle M sleeps until it is given a P by `startm` (`M.nextp` +
//! `notewakeup`), or until the earliest pending timer is due (then it takes
//! an idle P itself and runs timers, see time.rs).
//!
//! ## Stealing order
//!
//! Thieves visit the Ps in a random order: a random start and a random
//! stride coprime with GOMAXPROCS (Go's `randomOrder`), so every P is
//! visited once per round and thieves do not all hit the same victim. The
//! randomness is a per-M wyrand seeded from the kernel seed of `hashinit`.
//!
//! ## States
//!
//! G status transitions (atomic, `casgstatus` checks the old value):
//! `Gidle → Gdead` (allocated, in allgs) `→ Grunnable` (newproc: on a queue)
//! `→ Grunning` (execute) `→ Gwaiting` (gopark) `→ Grunnable` (ready)
//! ... `→ Gdead` (goexit: back on a free list with its stack).
//! P status: `Pidle` (on sched.pidle) `↔ Prunning` (held by an M);
//! `Pgcstop` during stop-the-world; `Pdead` after GOMAXPROCS shrank.
//!
//! ## Locked threads
//!
//! `lock_os_thread` wires the calling G to its M (`G.lockedm` and
//! `M.lockedg`, set and cleared only by that G while it runs there): the G
//! then runs only on that M, and the M runs no other G. When the G stops
//! running (parks, yields, is preempted, or leaves a system call with no P
//! free), its M enters `schedule` with `lockedg` set and calls
//! `stoplockedm`: it hands its P off (`handoffp`) and sleeps on its `park`
//! note, off the idle list, so that only `startlockedm` can wake it. When
//! another M's scheduler picks the G (it was made ready onto some queue as
//! usual), it sees `G.lockedm`, gives its own P to the locked M
//! (`M.nextp` + wakeup, the same hand-over as `startm`) and stops itself.
//! A sleeping locked M counts as idle for deadlock detection
//! (`Sched.nmidlelocked`). Go terminates the thread of a G that exits
//! locked; our Ms never exit, so the M is unwired and returns to the pool.
//!
//! ## Deadlock detection
//!
//! `checkdead` runs whenever an M goes idle (`mput`, under sched.lock). If
//! no M is running (`mcount - nmidle - nmidlelocked - nmsys == 0`), no G is runnable, and
//! no timer is pending, nothing can ever run again: `fatal error: all
//! goroutines are asleep - deadlock!`, exit status 2.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

pub use crate::asm::getg;
use crate::asm::{gogo, mcall, setg};
use crate::lock::Mutex;
use crate::runq::{globrunqget, globrunqput, runqdrain, runqempty, runqget, runqput, runqsteal};
use crate::runtime2::*;

const GOIDCACHE: u64 = 16;
/// Number of cache-line offsets new goroutines' stacks start at (see newproc1).
const STACK_COLORS: usize = 32;

/// Abort: `mcall` called on g0.
#[unsafe(export_name = "runtime.badmcall")]
pub extern "C" fn badmcall() -> ! {
    crate::signal::throw("runtime: mcall called on m->g0 stack")
}

#[inline(always)]
fn s() -> *mut Sched {
    sched()
}

#[inline(always)]
unsafe fn nmspinning<'a>() -> &'a core::sync::atomic::AtomicU32 {
    // SAFETY: nmspinning is only accessed atomically.
    unsafe { atomic_u32(&raw mut (*s()).nmspinning) }
}

#[inline(always)]
unsafe fn npidle<'a>() -> &'a core::sync::atomic::AtomicU32 {
    // SAFETY: npidle is only accessed atomically.
    unsafe { atomic_u32(&raw mut (*s()).npidle) }
}

#[inline(always)]
unsafe fn gcwaiting() -> bool {
    // SAFETY: gcwaiting is only accessed atomically.
    unsafe { atomic_u32(&raw mut (*s()).gcwaiting).load(Ordering::Acquire) != 0 }
}

#[inline(always)]
unsafe fn glist_n<'a>(l: *mut GList) -> &'a AtomicI32 {
    // SAFETY: GList.n is read racily by num_goroutine, so it is atomic.
    unsafe { AtomicI32::from_ptr(&raw mut (*l).n) }
}

/// Read a G's status.
///
/// # Safety
/// `gp` is a live G.
#[inline(always)]
pub unsafe fn readgstatus(gp: *mut G) -> u32 {
    // SAFETY: atomicstatus is only accessed atomically.
    unsafe { atomic_u32(&raw mut (*gp).atomicstatus).load(Ordering::Acquire) }
}

/// Change a G's status from `old` to `new`; throws if it was not `old`.
///
/// # Safety
/// `gp` is a live G.
#[inline(always)]
pub unsafe fn casgstatus(gp: *mut G, old: u32, new: u32) {
    // SAFETY: atomicstatus is only accessed atomically.
    let r = unsafe {
        atomic_u32(&raw mut (*gp).atomicstatus).compare_exchange(
            old,
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
    };
    if let Err(cur) = r {
        bad_status(gp, old, new, cur);
    }
}

#[cold]
#[inline(never)]
fn bad_status(gp: *mut G, old: u32, new: u32, cur: u32) -> ! {
    // SAFETY: gp is live (diagnostics only).
    let goid = unsafe { (*gp).goid };
    crate::signal::throw_fmt(format_args!(
        "casgstatus: goroutine {goid}: bad transition {} -> {} (status is {})",
        gstatus_str(old),
        gstatus_str(new),
        gstatus_str(cur)
    ))
}

// ---------------------------------------------------------------------------
// Randomness (steal order).

/// Process-wide seed from the kernel (`runtime.hashinit`).
pub static HASHSEED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// A fast per-M random number (wyrand step).
///
/// # Safety
/// `mp` is the current M.
#[inline]
pub unsafe fn fastrand(mp: *mut M) -> u32 {
    // SAFETY: the M's own field, only touched by its thread.
    unsafe {
        (*mp).fastrand = (*mp).fastrand.wrapping_add(0xa076_1d64_78bd_642f);
        let x = (*mp).fastrand;
        let t = (x as u128).wrapping_mul((x ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) ^ t) as u32
    }
}

/// A fast random number from the current M's generator (seeded from
/// `runtime.hashinit`; `GDBX_SEED` makes it reproducible). On a thread the
/// runtime does not run, a process-wide generator is used.
pub fn cheaprand() -> u32 {
    let gp = getg();
    // SAFETY: a non-null g has a valid m while it runs on this thread.
    unsafe {
        if !gp.is_null() && !(*gp).m.is_null() {
            return fastrand((*gp).m);
        }
    }
    static FALLBACK: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
    let x = FALLBACK
        .fetch_add(0xa076_1d64_78bd_642f, Ordering::Relaxed)
        .wrapping_add(0xa076_1d64_78bd_642f)
        ^ HASHSEED.load(Ordering::Relaxed);
    let t = (x as u128).wrapping_mul((x ^ 0xe703_7ed1_a0b4_28db) as u128);
    ((t >> 64) ^ t) as u32
}

/// A random number in `[0, n)` (Go's fastrandn; n > 0).
pub fn fastrandn(n: u32) -> u32 {
    ((cheaprand() as u64 * n as u64) >> 32) as u32
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Visit `0..count` in a random order: random start, random stride coprime
/// with count (Go's randomOrder/randomEnum).
struct RandomEnum {
    i: u32,
    count: u32,
    pos: u32,
    inc: u32,
}

impl RandomEnum {
    fn new(count: u32, r: u32) -> RandomEnum {
        let count = count.max(1);
        let mut inc = if count == 1 { 1 } else { r % (count - 1) + 1 };
        while gcd(inc, count) != 1 {
            inc = if inc + 1 >= count { 1 } else { inc + 1 };
        }
        RandomEnum {
            i: 0,
            count,
            pos: (r >> 16) % count,
            inc,
        }
    }
}

impl Iterator for RandomEnum {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.i == self.count {
            return None;
        }
        let p = self.pos;
        self.i += 1;
        self.pos = (self.pos + self.inc) % self.count;
        Some(p)
    }
}

// ---------------------------------------------------------------------------
// G allocation, allgs, free lists.

/// Allocate a new G with a stack (status Gidle).
pub fn malg() -> *mut G {
    let mut g = Box::new(G::zeroed());
    g.stack = crate::stack::stackalloc();
    Box::into_raw(g)
}

/// Append `gp` to `runtime.allgs` (which only grows).
pub fn allgadd(gp: *mut G) {
    ALLGLOCK.lock();
    // SAFETY: allgs is only appended under ALLGLOCK; readers read allglen
    // (acquire) and then at most that many entries of the current array.
    // Old arrays are never freed, so a reader holding one stays valid.
    unsafe {
        let len = ALLGLEN;
        if len == ALLGCAP {
            let ncap = (ALLGCAP * 2).max(64);
            let mut v: Vec<*mut G> = Vec::with_capacity(ncap);
            if len > 0 {
                v.extend_from_slice(core::slice::from_raw_parts(ALLGS, len));
            }
            v.resize(ncap, null_mut());
            let p = Box::leak(v.into_boxed_slice()).as_mut_ptr();
            atomic_ptr(&raw mut ALLGS).store(p, Ordering::Release);
            ALLGCAP = ncap;
        }
        *ALLGS.add(len) = gp;
        atomic_usize(&raw mut ALLGLEN).store(len + 1, Ordering::Release);
    }
    ALLGLOCK.unlock();
}

/// Call `f` on every G ever created.
pub fn for_each_g(mut f: impl FnMut(*mut G)) {
    // SAFETY: see allgadd: (array, len) read consistently under the lock.
    let (arr, n) = unsafe {
        ALLGLOCK.lock();
        let r = (ALLGS, ALLGLEN);
        ALLGLOCK.unlock();
        r
    };
    for i in 0..n {
        // SAFETY: i < len of a never-freed array.
        f(unsafe { *arr.add(i) });
    }
}

/// Put a dead G on `pp`'s free list (spilling half to the global list).
unsafe fn gfput(pp: *mut P, gp: *mut G) {
    // SAFETY: pp is owned by the current M; the global list is under gflock.
    unsafe {
        (*gp).schedlink = (*pp).gfree.head;
        (*pp).gfree.head = gp;
        let n = glist_n(&raw mut (*pp).gfree).load(Ordering::Relaxed) + 1;
        glist_n(&raw mut (*pp).gfree).store(n, Ordering::Relaxed);
        if n >= 64 {
            let sch = s();
            (*sch).gflock.lock();
            let mut n = n;
            while n >= 32 {
                let g = (*pp).gfree.head;
                (*pp).gfree.head = (*g).schedlink;
                n -= 1;
                (*g).schedlink = (*sch).gfree.head;
                (*sch).gfree.head = g;
                glist_n(&raw mut (*sch).gfree).store((*sch).gfree.n + 1, Ordering::Relaxed);
            }
            glist_n(&raw mut (*pp).gfree).store(n, Ordering::Relaxed);
            (*sch).gflock.unlock();
            // Dead stacks reached the global list: the scavenger may return them.
            crate::scavenge::wake();
        }
    }
}

/// Take a dead G (with its stack) from `pp`'s free list, refilling it from
/// the global list. None if there is none.
unsafe fn gfget(pp: *mut P) -> Option<*mut G> {
    // SAFETY: as gfput.
    unsafe {
        if (*pp).gfree.head.is_null()
            && !atomic_ptr(&raw mut (*s()).gfree.head)
                .load(Ordering::Relaxed)
                .is_null()
        {
            let sch = s();
            (*sch).gflock.lock();
            let mut n = (*pp).gfree.n;
            while n < 32 && !(*sch).gfree.head.is_null() {
                let g = (*sch).gfree.head;
                (*sch).gfree.head = (*g).schedlink;
                glist_n(&raw mut (*sch).gfree).store((*sch).gfree.n - 1, Ordering::Relaxed);
                (*g).schedlink = (*pp).gfree.head;
                (*pp).gfree.head = g;
                n += 1;
            }
            glist_n(&raw mut (*pp).gfree).store(n, Ordering::Relaxed);
            (*sch).gflock.unlock();
        }
        let gp = (*pp).gfree.head;
        if gp.is_null() {
            return None;
        }
        (*pp).gfree.head = (*gp).schedlink;
        (*gp).schedlink = null_mut();
        glist_n(&raw mut (*pp).gfree).store((*pp).gfree.n - 1, Ordering::Relaxed);
        Some(gp)
    }
}

// ---------------------------------------------------------------------------
// Creating goroutines.

/// What `runtime.newproc` needs to start a goroutine: the entry function,
/// the bytes of its argument (copied to the top of the new G's stack, so a
/// spawn allocates nothing on the heap), and the spawn site.
#[repr(C)]
pub struct NewProc {
    /// Entry: called with a pointer to the copied argument bytes.
    pub entry: unsafe extern "C" fn(*mut u8),
    /// Argument bytes to copy (the closure), may be dangling if `size` is 0.
    pub data: *const u8,
    /// Size of the argument.
    pub size: usize,
    /// Alignment of the argument (power of two, at most 4096).
    pub align: usize,
    /// Spawn site file (UTF-8 bytes, 'static).
    pub file: *const u8,
    /// Length of `file`.
    pub file_len: usize,
    /// Spawn site line.
    pub line: u32,
    /// Return address into the spawning function (G.gopc), or 0.
    pub pc: usize,
}

/// Create a goroutine running `np.entry(copy of np.data)` and put it in
/// the current P's `runnext` (Go's newproc). Returns the new G (which may
/// already have run - and finished - when this returns to a goroutine).
///
/// When the spawn overflows the P's local run queue (a goroutine spawning
/// in a loop: 256 queued goroutines have not run yet), the spawner yields
/// (`gosched`: to the back of the global queue, behind the goroutines it
/// just created). The spawned goroutines then run while their Gs and stacks
/// are still in cache, and dead Gs are reused hot, instead of tens of
/// thousands of stacks piling up until the spawner blocks or is preempted.
/// This is a scheduling point like any other (Go may preempt anywhere).
#[unsafe(export_name = "runtime.newproc")]
#[inline(never)]
pub extern "C" fn newproc(np: &NewProc) -> *mut G {
    let gp = getg();
    // SAFETY: the runtime is running: gp is a G whose M holds a P.
    unsafe {
        if gp.is_null() || (*gp).m.is_null() || (*(*gp).m).p.is_null() {
            crate::signal::throw("go: called from a thread not run by the runtime");
        }
        let pp = (*(*gp).m).p;
        let newg = newproc1(np, gp, pp);
        let spilled = runqput(pp, newg, true);
        if atomic_u32(&raw mut (*s()).main_started).load(Ordering::Relaxed) != 0 {
            wakep();
        }
        if spilled && (*(*gp).m).g0 != gp {
            gosched();
        }
        newg
    }
}

unsafe fn newproc1(np: &NewProc, callergp: *mut G, pp: *mut P) -> *mut G {
    // SAFETY: pp is owned by the current M; newg is dead/fresh, owned by us.
    unsafe {
        let newg = match gfget(pp) {
            Some(g) => g,
            None => {
                let g = malg();
                casgstatus(g, GIDLE, GDEAD);
                allgadd(g);
                g
            }
        };
        // Cache colouring: every stack top sits at the same offset in its
        // page, so without this the first frames of all goroutines compete
        // for the same few L1/L2 sets. Shift the start by 0..31 cache lines
        // (at most 1984 bytes: the first frames stay in the top page, so
        // RSS per goroutine does not change).
        let color = ((*pp).goidcache as usize % STACK_COLORS) * 64;
        let hi = (*newg).stack.hi;
        let mut sp = hi - color;
        let arg = if np.size > 0 {
            sp = (sp - np.size) & !(np.align.max(16) - 1);
            core::ptr::copy_nonoverlapping(np.data, sp as *mut u8, np.size);
            sp as *mut u8
        } else {
            sp as *mut u8
        };
        sp &= !15;
        (*newg).sched = Gobuf {
            sp,
            pc: crate::asm::goexit_trampoline as *const () as usize,
            bp: 0,
            rbx: 0,
            r12: np.entry as usize,
            r13: arg as usize,
            r14: 0,
            r15: 0,
        };
        (*newg).startpc = np.entry as usize;
        (*newg).gopc = np.pc;
        (*newg).startsp = sp;
        (*newg).created_file = np.file;
        (*newg).created_file_len = np.file_len;
        (*newg).created_line = np.line;
        (*newg).parent_goid = if (*(*callergp).m).g0 == callergp {
            0
        } else {
            (*callergp).goid
        };
        (*newg).waitreason = WaitReason::Zero;
        (*newg).param = null_mut();
        (*newg).waiting = null_mut();
        (*newg).selectdone = 0;
        (*newg).parkingonchan = 0;
        (*newg).m = null_mut();
        if (*pp).goidcache == (*pp).goidcacheend {
            let base = atomic_u64(&raw mut (*s()).goidgen).fetch_add(GOIDCACHE, Ordering::Relaxed);
            (*pp).goidcache = base + 1;
            (*pp).goidcacheend = base + 1 + GOIDCACHE;
        }
        (*newg).goid = (*pp).goidcache as i64;
        (*pp).goidcache += 1;
        casgstatus(newg, GDEAD, GRUNNABLE);
        newg
    }
}

/// Closures up to this size are copied onto the new goroutine's stack;
/// bigger ones are boxed first.
const MAX_INLINE_CLOSURE: usize = 1024;

/// Start a goroutine running `f` (Go's `go f()`). The spawn site is
/// recorded for debuggers (`#[track_caller]`).
///
/// `go` is a scheduling point: the caller may yield to the goroutines it
/// created (see [`newproc`]), so it must not be called while holding a
/// runtime lock ([`crate::lock::Mutex`]); goroutine-level locks are fine.
///
/// Never inlined: its return address is the pc of the `go` call in its
/// caller, which the new G records as Go records `gopc`.
#[track_caller]
#[inline(never)]
pub fn go<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    let loc = core::panic::Location::caller();
    let pc: usize;
    // SAFETY: every function is built with frame pointers
    // (.cargo/config.toml: force-frame-pointers), so after this function's
    // prologue rbp points at its frame record: the caller's rbp, then the
    // return address into the caller. Reading it touches only our stack.
    unsafe {
        core::arch::asm!(
            "mov {pc}, qword ptr [rbp + 8]",
            pc = out(reg) pc,
            options(nostack, readonly, preserves_flags)
        );
    }
    if size_of::<F>() > MAX_INLINE_CLOSURE || align_of::<F>() > 4096 {
        let b: Box<dyn FnOnce() + Send> = Box::new(f);
        spawn_at(b, loc, pc);
    } else {
        spawn_at(f, loc, pc);
    }
}

fn spawn_at<F>(f: F, loc: &'static core::panic::Location<'static>, pc: usize)
where
    F: FnOnce() + Send + 'static,
{
    unsafe extern "C" fn entry<F: FnOnce()>(p: *mut u8) {
        // SAFETY: p points at the closure bytes newproc copied to the top
        // of this G's stack; they are read (moved out) exactly once.
        let f = unsafe { core::ptr::read(p as *mut F) };
        // An uncaught panic ends the program here (signal.rs).
        crate::signal::run_goroutine(f);
    }
    let f = core::mem::ManuallyDrop::new(f);
    let np = NewProc {
        entry: entry::<F>,
        data: (&raw const *f).cast(),
        size: size_of::<F>(),
        align: align_of::<F>(),
        file: loc.file().as_ptr(),
        file_len: loc.file().len(),
        line: loc.line(),
        pc,
    };
    newproc(&np);
    // Spawning is a preemption safe point (sysmon.rs).
    crate::sysmon::preempt_check();
}

// ---------------------------------------------------------------------------
// Ms.

/// Initialise `mp` and link it into `runtime.allm` (Go's mcommoninit).
///
/// # Safety
/// `mp` is a new M not yet visible to other threads.
pub unsafe fn mcommoninit(mp: *mut M) {
    // SAFETY: under sched.lock; allm is published with a release store.
    unsafe {
        let sch = s();
        (*sch).lock.lock();
        let id = (*sch).mnext;
        if id >= (*sch).maxmcount as i64 {
            crate::signal::throw_fmt(format_args!(
                "thread exhaustion: program exceeds {}-thread limit",
                (*sch).maxmcount
            ));
        }
        (*sch).mnext += 1;
        (*mp).id = id;
        let seed = HASHSEED.load(Ordering::Relaxed);
        (*mp).fastrand =
            seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
        (*mp).alllink = ALLM;
        atomic_ptr(&raw mut ALLM).store(mp, Ordering::Release);
        (*sch).lock.unlock();
    }
}

/// Per-thread initialisation on the new thread (Go's minit): record the OS
/// thread id, install the signal stack.
///
/// # Safety
/// Called once on the M's own thread.
pub unsafe fn minit(mp: *mut M) {
    // SAFETY: the current thread's M.
    unsafe {
        (*mp).procid = libc::gettid() as u64;
        crate::signal::minit_signals(mp);
    }
}

// ---------------------------------------------------------------------------
// Starting Ms and exit.
//
// An M is *starting* from the moment `newm` decides to create its thread
// until the new thread reaches the first line of its work: `schedule` for an
// ordinary M, its start function for an M that has one (sysmon). In between
// it runs `runtime.mstart`, `mstart1` and `minit`, and then the first line of
// sysmon: places where a debugger user breaks to watch an M come up.
//
// `runtime.exit` does not end the process while an M is starting. Without
// this a short program (hello) exits while its sysmon and scavenger Ms are
// still coming up, and gdb 13 loses the run whenever that lands in the
// window between a starting M's breakpoint stop (or step over it) and gdb
// stopping the other threads: libthread_db cannot read the dead thread
// ("Cannot find user-level thread for LWP N: generic error", "Couldn't get
// registers: No such process"), the command fails and gdb leaves the thread
// marked running. A C program whose main exits while its new threads hit
// breakpoints fails the same way; README.md, "Plain gdb and threads", has
// the measurements. Go's exit does not wait (its start-up is long enough for
// sysmon to be up by then); the wait here costs a few system calls per
// starting M, and nothing when none is.
//
// Two words, both accessed sequentially consistently:
//
// * `STARTING_MS` - Ms that are starting. `newm` adds 1 before it creates the
//   thread; the new thread subtracts 1 (`mstarted`) and wakes the futex when
//   the count reaches 0.
// * `EXITING` - set once by `runtime.exit`, never cleared.
//
// `newm` adds 1 and then reads `EXITING`; exit sets `EXITING` and then reads
// `STARTING_MS`. In the single order of SC operations one of the two writes
// comes first, so either `newm` sees `EXITING` (it takes its 1 back and
// creates no thread: the process is going) or exit sees the M counted and
// sleeps until it has started. So no M is starting when the process exits.
// A starting M holds no lock the exiting goroutine could wait for, and exit
// holds none a starting M needs, so the wait ends.

/// Ms between `newm` and the first line of their work (see above).
static STARTING_MS: AtomicU32 = AtomicU32::new(0);
/// Set by `runtime.exit`: no new M is started (see above).
static EXITING: AtomicBool = AtomicBool::new(false);

/// Count one more starting M, unless the process is exiting (then false:
/// create no thread).
fn mstarting() -> bool {
    STARTING_MS.fetch_add(1, Ordering::SeqCst);
    if EXITING.load(Ordering::SeqCst) {
        mstarted();
        return false;
    }
    true
}

/// The calling M has reached the first line of its work: it no longer
/// holds up `runtime.exit`. Ordinary Ms call it in `mstart1`; an M with a
/// start function calls it at the top of that function (sysmon), so a
/// breakpoint there is always reported before the process can exit.
///
/// Never inlined: the decrement that lets the process exit must not be the
/// instruction a breakpoint on the caller's first line sits on. Inlined, it
/// was (release builds: `break runtime.sysmon` lands on the `lock decl`), so
/// gdb's step over that breakpoint released `runtime.exit`, and the process
/// could end while gdb still held the step's stop of this thread as a pending
/// event. gdb 13 then fails the command ("Cannot find user-level thread for
/// LWP N"). As a call, the step over the breakpoint only enters this
/// function, and the decrement runs once gdb has handled that stop and
/// resumed the thread.
#[inline(never)]
pub(crate) fn mstarted() {
    if STARTING_MS.fetch_sub(1, Ordering::SeqCst) == 1 {
        crate::lock::futexwakeup(&STARTING_MS, i32::MAX as u32);
    }
}

/// Called by `runtime.exit` before the process ends: start no new M, and
/// wait until every starting M has started.
pub(crate) fn stop_starting_ms() {
    EXITING.store(true, Ordering::SeqCst);
    loop {
        let n = STARTING_MS.load(Ordering::SeqCst);
        if n == 0 {
            return;
        }
        crate::lock::futexsleep(&STARTING_MS, n, -1);
    }
}

/// Create a new M (OS thread) that will run `f` or the scheduler with `pp`.
/// Once `runtime.exit` has begun it creates nothing (the process is ending).
pub(crate) fn newm(f: Option<fn()>, pp: *mut P, spinning: bool) {
    if !mstarting() {
        return;
    }
    let mp = Box::into_raw(Box::new(M::zeroed()));
    let g0 = Box::into_raw(Box::new(G::zeroed()));
    // SAFETY: mp and g0 are fresh and private until the thread starts.
    unsafe {
        (*g0).m = mp;
        (*g0).atomicstatus = GRUNNING;
        (*mp).g0 = g0;
        (*mp).nextp = pp;
        (*mp).spinning = spinning;
        (*mp).mstartfn = f;
        mcommoninit(mp);
        newosproc(mp);
    }
}

/// Start `mp`'s thread (pthread) at `runtime.mstart`.
unsafe fn newosproc(mp: *mut M) {
    extern "C" fn thread_start(arg: *mut libc::c_void) -> *mut libc::c_void {
        let mp = arg as *mut M;
        // SAFETY: mp was fully initialised before the thread was created.
        unsafe { setg((*mp).g0) };
        mstart()
    }
    // SAFETY: plain pthread_create with default attributes (8 MiB g0 stack,
    // reserved lazily); signals are blocked while creating so the new
    // thread starts with none delivered before minit.
    unsafe {
        let mut th: libc::pthread_t = 0;
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let r = libc::pthread_create(&mut th, core::ptr::null(), thread_start, mp.cast());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        if r != 0 {
            crate::signal::throw_fmt(format_args!(
                "runtime: failed to create new OS thread (errno {r})"
            ));
        }
        (*mp).thread = th as u64;
    }
}

/// Bounds of the current thread's stack (pthread_getattr_np).
pub fn thread_stack_bounds() -> Stack {
    // SAFETY: pthread_getattr_np fills attr for the calling thread.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return Stack::default();
        }
        let mut addr: *mut libc::c_void = null_mut();
        let mut size: libc::size_t = 0;
        libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        Stack {
            lo: addr as usize,
            hi: addr as usize + size,
        }
    }
}

/// Start an M on the current thread: g0 stack bounds, `minit`, then the
/// scheduler (never returns). m0 enters here from `_rt0_amd64`; every other
/// M from its new thread.
#[unsafe(export_name = "runtime.mstart")]
#[inline(never)]
pub extern "C" fn mstart() -> ! {
    let gp = getg();
    // SAFETY: gp is this thread's g0.
    unsafe {
        if (*gp).stack.lo == 0 {
            (*gp).stack = thread_stack_bounds();
        }
    }
    mstart1()
}

#[inline(never)]
fn mstart1() -> ! {
    let gp = getg();
    // SAFETY: gp is this thread's g0, mp its M.
    unsafe {
        let mp = (*gp).m;
        // Every later mcall/systemstack restarts g0's stack from here; the
        // frames of this function and above stay intact.
        (*gp).sched.sp = (crate::asm::getsp() - 256) & !15;
        (*gp).sched.pc = mstart1 as *const () as usize;
        minit(mp);
        if let Some(f) = (*mp).mstartfn {
            // f calls mstarted itself, after its first line.
            f();
        } else if mp != &raw mut M0 {
            mstarted();
        }
        if mp != &raw mut M0 {
            let pp = (*mp).nextp;
            (*mp).nextp = null_mut();
            acquirep(pp);
        }
    }
    schedule()
}

// ---------------------------------------------------------------------------
// Ps.

/// Allocate a P with id `id` (status Pgcstop until procresize places it).
pub fn new_p(id: i32) -> *mut P {
    Box::into_raw(Box::new(P {
        id,
        status: PGCSTOP,
        m: null_mut(),
        link: null_mut(),
        schedtick: 0,
        runqhead: 0,
        runqtail: 0,
        runq: [null_mut(); RUNQ_SIZE],
        runnext: 0,
        gfree: GList {
            head: null_mut(),
            n: 0,
        },
        goidcache: 0,
        goidcacheend: 0,
        timer0when: 0,
        timerslock: Mutex::new(),
        timers: std::collections::BinaryHeap::new(),
        deletedtimers: 0,
    }))
}

/// A P for unit tests of the run queue.
#[cfg(test)]
pub fn new_p_for_test(id: i32) -> *mut P {
    new_p(id)
}

/// Associate `pp` (idle) with the current M.
///
/// # Safety
/// On an M without a P; `pp` is idle and taken off the idle list.
pub unsafe fn acquirep(pp: *mut P) {
    // SAFETY: pp is handed to this M exclusively.
    unsafe {
        let mp = (*getg()).m;
        if !(*mp).p.is_null() || !(*pp).m.is_null() {
            crate::signal::throw("acquirep: invalid p state");
        }
        let st = atomic_u32(&raw mut (*pp).status);
        if st.load(Ordering::Relaxed) != PIDLE {
            crate::signal::throw("acquirep: p is not idle");
        }
        (*mp).p = pp;
        (*pp).m = mp;
        st.store(PRUNNING, Ordering::Release);
    }
}

/// Disassociate the current M from its P and return the P (now Pidle).
///
/// # Safety
/// The current M holds a P.
pub unsafe fn releasep() -> *mut P {
    // SAFETY: the P is ours until released.
    unsafe {
        let mp = (*getg()).m;
        let pp = (*mp).p;
        if pp.is_null() || (*pp).m != mp {
            crate::signal::throw("releasep: invalid p state");
        }
        (*mp).p = null_mut();
        (*pp).m = null_mut();
        atomic_u32(&raw mut (*pp).status).store(PIDLE, Ordering::Release);
        pp
    }
}

/// Put `pp` on the idle list. sched.lock held.
unsafe fn pidleput(pp: *mut P) {
    // SAFETY: under sched.lock.
    unsafe {
        if !runqempty(pp) {
            crate::signal::throw("pidleput: P has non-empty run queue");
        }
        (*pp).link = (*s()).pidle;
        (*s()).pidle = pp;
        npidle().fetch_add(1, Ordering::AcqRel);
    }
}

/// Take a P from the idle list. sched.lock held.
pub(crate) unsafe fn pidleget() -> *mut P {
    // SAFETY: under sched.lock.
    unsafe {
        let pp = (*s()).pidle;
        if !pp.is_null() {
            (*s()).pidle = (*pp).link;
            (*pp).link = null_mut();
            npidle().fetch_sub(1, Ordering::AcqRel);
            // A P leaves the idle list: sysmon may be asleep waiting for
            // exactly this (sysmon.rs `sysmonwait`).
            crate::sysmon::pidleget_hook();
        }
        pp
    }
}

/// Put `mp` on the idle M list and check for deadlock. sched.lock held.
unsafe fn mput(mp: *mut M) {
    // SAFETY: under sched.lock.
    unsafe {
        (*mp).schedlink = (*s()).midle;
        (*s()).midle = mp;
        (*s()).nmidle += 1;
        checkdead();
    }
}

/// Take an idle M. sched.lock held.
unsafe fn mget() -> *mut M {
    // SAFETY: under sched.lock.
    unsafe {
        let mp = (*s()).midle;
        if !mp.is_null() {
            (*s()).midle = (*mp).schedlink;
            (*mp).schedlink = null_mut();
            (*s()).nmidle -= 1;
        }
        mp
    }
}

/// Remove `mp` from the idle list if it is there. sched.lock held.
unsafe fn mremove(mp: *mut M) -> bool {
    // SAFETY: under sched.lock.
    unsafe {
        let mut pp: *mut *mut M = &raw mut (*s()).midle;
        while !(*pp).is_null() {
            if *pp == mp {
                *pp = (*mp).schedlink;
                (*mp).schedlink = null_mut();
                (*s()).nmidle -= 1;
                return true;
            }
            pp = &raw mut (**pp).schedlink;
        }
        false
    }
}

/// Stop the current M until it is given a P (or, with `until` > 0, until
/// that nanotime passes and it can take an idle P itself to run timers).
pub(crate) unsafe fn stopm(until: i64) {
    // SAFETY: called on g0 of an M without a P.
    unsafe {
        let mp = (*getg()).m;
        if !(*mp).p.is_null() {
            crate::signal::throw("stopm holding p");
        }
        if (*mp).spinning {
            crate::signal::throw("stopm spinning");
        }
        let sch = s();
        (*sch).lock.lock();
        mput(mp);
        (*sch).lock.unlock();
        (*mp).blocked = true;
        let woken = if until > 0 {
            (*mp).park.tsleep((until - crate::time::nanotime()).max(0))
        } else {
            (*mp).park.sleep();
            true
        };
        if !woken {
            (*sch).lock.lock();
            if mremove(mp) {
                // Timed out while still idle: take a P and run the timers.
                let pp = pidleget();
                if !pp.is_null() {
                    (*sch).lock.unlock();
                    (*mp).blocked = false;
                    acquirep(pp);
                    (*mp).timerwake = true;
                    return;
                }
                mput(mp);
            }
            (*sch).lock.unlock();
            // Someone took us off the idle list (or no P was free): wait
            // for the wakeup that hands us a P.
            (*mp).park.sleep();
        }
        (*mp).blocked = false;
        (*mp).park.clear();
        let pp = (*mp).nextp;
        (*mp).nextp = null_mut();
        acquirep(pp);
    }
}

/// Schedule some M to run `pp` (or any idle P if null). With `spinning`,
/// the caller incremented nmspinning and the M starts spinning.
pub(crate) unsafe fn startm(mut pp: *mut P, spinning: bool) {
    // SAFETY: idle lists under sched.lock; nextp is handed over before the
    // wakeup (release/acquire through the note's futex word).
    unsafe {
        let sch = s();
        (*sch).lock.lock();
        if pp.is_null() {
            pp = pidleget();
            if pp.is_null() {
                (*sch).lock.unlock();
                if spinning {
                    // The caller counted a spinning M that will not exist.
                    nmspinning().fetch_sub(1, Ordering::AcqRel);
                }
                return;
            }
        }
        let nmp = mget();
        (*sch).lock.unlock();
        if nmp.is_null() {
            newm(None, pp, spinning);
            return;
        }
        if !(*nmp).nextp.is_null() || (*nmp).spinning {
            crate::signal::throw("startm: m has p or is spinning");
        }
        (*nmp).spinning = spinning;
        (*nmp).nextp = pp;
        (*nmp).park.wakeup();
    }
}

/// Try to get one more M running Gs: if there is an idle P and no M is
/// spinning, start a spinning M.
pub fn wakep() {
    // SAFETY: atomic counters; startm handles the rest.
    unsafe {
        if npidle().load(Ordering::Acquire) == 0 {
            return;
        }
        let ns = nmspinning();
        if ns.load(Ordering::Acquire) != 0
            || ns
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        startm(null_mut(), true);
    }
}

/// Hand off `pp` from an M that cannot use it (Go's handoffp): start an M
/// for it if it has work or nobody is looking for work, else make it idle.
///
/// # Safety
/// `pp` was just released by the current M.
pub unsafe fn handoffp(pp: *mut P) {
    // SAFETY: pp is ours to give away.
    unsafe {
        if !runqempty(pp) || (*s()).runqsize != 0 {
            startm(pp, false);
            return;
        }
        if nmspinning().load(Ordering::Acquire) + npidle().load(Ordering::Acquire) == 0
            && nmspinning()
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            startm(pp, true);
            return;
        }
        let sch = s();
        (*sch).lock.lock();
        if gcwaiting() {
            atomic_u32(&raw mut (*pp).status).store(PGCSTOP, Ordering::Release);
            (*sch).stopwait -= 1;
            if (*sch).stopwait == 0 {
                (*sch).stopnote.wakeup();
            }
            (*sch).lock.unlock();
            return;
        }
        if (*sch).runqsize != 0 {
            (*sch).lock.unlock();
            startm(pp, false);
            return;
        }
        pidleput(pp);
        (*sch).lock.unlock();
    }
}

// ---------------------------------------------------------------------------
// The scheduler loop.

/// One round of the scheduler: find a runnable G and run it. Runs on g0,
/// never returns.
#[unsafe(export_name = "runtime.schedule")]
#[inline(never)]
pub extern "C" fn schedule() -> ! {
    // SAFETY: runs on g0 of an M that holds a P (or gets one in findrunnable).
    unsafe {
        let mp = (*getg()).m;
        if !(*mp).lockedg.is_null() {
            stoplockedm();
            execute((*mp).lockedg, false);
        }
        loop {
            let Some((gp, inherit)) = findrunnable() else {
                continue;
            };
            if (*mp).spinning {
                resetspinning();
            }
            if !(*gp).lockedm.is_null() {
                // Its own M must run it: hand that M our P and wait.
                startlockedm(gp);
                continue;
            }
            execute(gp, inherit);
        }
    }
}

/// Stop the current M, whose locked G cannot run now, until that G is
/// runnable again and another M hands this one a P (`startlockedm`). Go's
/// stoplockedm.
///
/// # Safety
/// On g0 of an M with `lockedg` set.
pub(crate) unsafe fn stoplockedm() {
    // SAFETY: our own M; the P is ours to give away; nmidlelocked under
    // sched.lock.
    unsafe {
        let mp = (*getg()).m;
        let gp = (*mp).lockedg;
        if gp.is_null() || (*gp).lockedm != mp {
            crate::signal::throw("stoplockedm: inconsistent locking");
        }
        if !(*mp).p.is_null() {
            handoffp(releasep());
        }
        incidlelocked(1);
        (*mp).blocked = true;
        (*mp).park.sleep();
        (*mp).blocked = false;
        (*mp).park.clear();
        if readgstatus(gp) != GRUNNABLE {
            crate::signal::throw("stoplockedm: locked g is not runnable");
        }
        let pp = (*mp).nextp;
        (*mp).nextp = null_mut();
        acquirep(pp);
    }
}

/// Hand the current M's P to `gp`'s locked M, which sleeps in
/// `stoplockedm`, and wake it to run `gp`; then stop the current M (Go's
/// startlockedm).
///
/// # Safety
/// On g0 of an M holding a P; `gp` is runnable, taken off a queue by us.
unsafe fn startlockedm(gp: *mut G) {
    // SAFETY: the locked M sleeps on its note and takes nextp after the
    // wakeup (release/acquire through the futex word, as in startm).
    unsafe {
        let lmp = (*gp).lockedm;
        if lmp == (*getg()).m {
            crate::signal::throw("startlockedm: locked to me");
        }
        if !(*lmp).nextp.is_null() {
            crate::signal::throw("startlockedm: m has p");
        }
        incidlelocked(-1);
        (*lmp).nextp = releasep();
        (*lmp).park.wakeup();
        stopm(0);
    }
}

/// Count an M going to sleep (`v` = 1) or woken (-1) while locked to its
/// G; a sleep may be the moment nothing can run any more. sysmon also
/// counts -1 then 1 around retaking a P from a system call (see retake).
pub(crate) unsafe fn incidlelocked(v: i32) {
    // SAFETY: sched.lock protects nmidlelocked; checkdead runs under it.
    unsafe {
        let sch = s();
        (*sch).lock.lock();
        (*sch).nmidlelocked += v;
        if v > 0 {
            checkdead();
        }
        (*sch).lock.unlock();
    }
}

/// Wire the calling goroutine to the thread it runs on: until as many
/// `unlock_os_thread` calls, it runs only on this thread and no other
/// goroutine runs there (Go's `runtime.LockOSThread`; calls nest). For
/// code that needs thread state: thread-local storage of a C library, a
/// changed signal mask, namespaces, `prctl`. Outside a goroutine it does
/// nothing.
#[unsafe(export_name = "runtime.LockOSThread")]
#[inline(never)]
pub extern "C" fn lock_os_thread() {
    let gp = getg();
    // SAFETY: our own G and M; only this G writes these fields.
    unsafe {
        let mp = (*gp).m;
        if mp.is_null() || gp == (*mp).g0 {
            return;
        }
        (*mp).lockedext = (*mp)
            .lockedext
            .checked_add(1)
            .unwrap_or_else(|| crate::signal::throw("LockOSThread nesting overflow"));
        (*mp).lockedg = gp;
        (*gp).lockedm = mp;
    }
}

/// Undo one `lock_os_thread`; after the last, the goroutine may run on any
/// thread again (Go's `runtime.UnlockOSThread`). Without a matching lock
/// it does nothing.
#[unsafe(export_name = "runtime.UnlockOSThread")]
#[inline(never)]
pub extern "C" fn unlock_os_thread() {
    let gp = getg();
    // SAFETY: as lock_os_thread.
    unsafe {
        let mp = (*gp).m;
        if mp.is_null() || gp == (*mp).g0 || (*mp).lockedext == 0 {
            return;
        }
        (*mp).lockedext -= 1;
        if (*mp).lockedext == 0 {
            (*mp).lockedg = null_mut();
            (*gp).lockedm = null_mut();
        }
    }
}

/// Run `gp` on the current M. Never returns.
pub(crate) unsafe fn execute(gp: *mut G, inherit: bool) -> ! {
    // SAFETY: gp is runnable and was just taken off a queue by us.
    unsafe {
        let mp = (*getg()).m;
        let pp = (*mp).p;
        (*mp).curg = gp;
        (*gp).m = mp;
        casgstatus(gp, GRUNNABLE, GRUNNING);
        atomic_i64(&raw mut (*gp).waitsince).store(0, Ordering::Relaxed);
        if !inherit {
            let t = atomic_u32(&raw mut (*pp).schedtick);
            t.store(t.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
        gogo(gp)
    }
}

unsafe fn resetspinning() {
    // SAFETY: current M is spinning and counted.
    unsafe {
        let mp = (*getg()).m;
        (*mp).spinning = false;
        let prev = nmspinning().fetch_sub(1, Ordering::AcqRel);
        if prev == 0 {
            crate::signal::throw("findrunnable: negative nmspinning");
        }
    }
    // We found work: if Ps are idle and nobody spins, get another M going.
    wakep();
}

/// Find a runnable G (Go's findRunnable): due timers first, then the
/// global queue one time in 61, local queue, global queue, poller,
/// stealing; if there is none, give up the P and sleep until woken. Returns None when the
/// caller should re-check (stop-the-world).
unsafe fn findrunnable() -> Option<(*mut G, bool)> {
    // SAFETY: runs on g0 of the current M.
    unsafe {
        let mp = (*getg()).m;
        'top: loop {
            let pp = (*mp).p;
            if gcwaiting() {
                gcstopm();
                continue 'top;
            }
            if (*mp).timerwake {
                (*mp).timerwake = false;
                let n = gomaxprocs_now() as usize;
                for i in 0..n {
                    crate::time::check_timers(allp(i), 0);
                }
            }
            // The P's due timers run on every round, before any G is
            // taken (Go's checkTimers at the top of findRunnable): a P
            // whose queue never empties (two goroutines readying each
            // other) still wakes its sleepers on time, and a woken sleeper
            // takes `runnext`, so it runs next.
            let (now, mut poll_until, _) = crate::time::check_timers(pp, 0);

            // Every 61st schedule look at the global queue first, so it
            // cannot starve behind two goroutines that keep readying each other.
            if (*pp).schedtick.is_multiple_of(61) && (*s()).runqsize > 0 {
                (*s()).lock.lock();
                let gp = globrunqget(s(), pp, 1, gomaxprocs_now());
                (*s()).lock.unlock();
                if !gp.is_null() {
                    return Some((gp, false));
                }
            }
            if let Some(x) = runqget(pp) {
                return Some(x);
            }
            if (*s()).runqsize != 0 {
                (*s()).lock.lock();
                let gp = globrunqget(s(), pp, 0, gomaxprocs_now());
                (*s()).lock.unlock();
                if !gp.is_null() {
                    return Some((gp, false));
                }
            }
            // Non-blocking netpoll (netpoll.rs): readied Gs go to
            // our run queue.
            if crate::netpoll::findrunnable_poll() {
                continue 'top;
            }

            // Spin: steal from other Ps (limit spinning Ms to half the busy Ps).
            let procs = gomaxprocs_now() as u32;
            if (*mp).spinning
                || 2 * nmspinning().load(Ordering::Acquire)
                    < procs.saturating_sub(npidle().load(Ordering::Acquire))
            {
                if !(*mp).spinning {
                    (*mp).spinning = true;
                    nmspinning().fetch_add(1, Ordering::AcqRel);
                }
                let (gp, new_work, w) = steal_work(mp, pp, now);
                if !gp.is_null() {
                    return Some((gp, false));
                }
                if new_work {
                    continue 'top;
                }
                if w != 0 && (poll_until == 0 || w < poll_until) {
                    poll_until = w;
                }
            }

            // Nothing to do: give up the P.
            let sch = s();
            (*sch).lock.lock();
            if gcwaiting() {
                (*sch).lock.unlock();
                continue 'top;
            }
            if (*sch).runqsize != 0 {
                let gp = globrunqget(sch, pp, 0, gomaxprocs_now());
                (*sch).lock.unlock();
                return Some((gp, false));
            }
            if releasep() != pp {
                crate::signal::throw("findrunnable: wrong p");
            }
            pidleput(pp);
            (*sch).lock.unlock();

            if (*mp).spinning {
                (*mp).spinning = false;
                if nmspinning().fetch_sub(1, Ordering::AcqRel) == 0 {
                    crate::signal::throw("findrunnable: negative nmspinning");
                }
                // A producer may have seen nmspinning > 0 and woken nobody:
                // look at every queue once more now that we are not counted.
                let n = gomaxprocs_now() as usize;
                for i in 0..n {
                    let p2 = allp(i);
                    if !runqempty(p2) {
                        (*sch).lock.lock();
                        let pp2 = pidleget();
                        (*sch).lock.unlock();
                        if !pp2.is_null() {
                            acquirep(pp2);
                            (*mp).spinning = true;
                            nmspinning().fetch_add(1, Ordering::AcqRel);
                            continue 'top;
                        }
                        break;
                    }
                }
            }
            let w = crate::time::earliest_timer();
            if w != 0 && (poll_until == 0 || w < poll_until) {
                poll_until = w;
            }
            // Block in the netpoller instead of sleeping if goroutines wait
            // for I/O (netpoll.rs); true = we hold a P again.
            if crate::netpoll::findrunnable_block(&mut poll_until) {
                continue 'top;
            }
            stopm(poll_until);
        }
    }
}

/// Try to steal a G (or run a timer) from another P. Returns (G or null,
/// whether new work may have appeared, earliest timer seen).
unsafe fn steal_work(mp: *mut M, pp: *mut P, now: i64) -> (*mut G, bool, i64) {
    let mut ran_timer = false;
    let mut poll_until = 0i64;
    let procs = gomaxprocs_now() as u32;
    for round in 0..4 {
        let last = round == 3;
        // SAFETY: mp is the current M.
        let r = unsafe { fastrand(mp) };
        for i in RandomEnum::new(procs, r) {
            // SAFETY: allp entries are live Ps; runqsteal is called by pp's owner.
            unsafe {
                if gcwaiting() {
                    return (null_mut(), true, 0);
                }
                let p2 = allp(i as usize);
                if p2 == pp {
                    continue;
                }
                if last && crate::time::timer0when(p2) != 0 {
                    let (_, w, ran) = crate::time::check_timers(p2, now);
                    if w != 0 && (poll_until == 0 || w < poll_until) {
                        poll_until = w;
                    }
                    if ran {
                        if let Some((gp, _)) = runqget(pp) {
                            return (gp, false, 0);
                        }
                        ran_timer = true;
                    }
                }
                let gp = runqsteal(pp, p2, last);
                if !gp.is_null() {
                    return (gp, false, 0);
                }
            }
        }
    }
    (null_mut(), ran_timer, poll_until)
}

// ---------------------------------------------------------------------------
// Parking, readying, yielding, exiting.

/// Park the current goroutine (Go's gopark): its context is saved, its
/// status becomes `Gwaiting` with `reason`, then - on g0, so no wakeup can
/// be lost - `unlockf(gp, lock)` runs; if it returns false the G is resumed
/// at once. Typically `unlockf` releases the lock protecting the wait queue
/// the G was put on; whoever later takes the G off that queue calls
/// [`goready`]. Must be called on a user goroutine.
pub fn gopark(
    unlockf: Option<unsafe fn(*mut G, *mut u8) -> bool>,
    lock: *mut u8,
    reason: WaitReason,
) {
    let gp = getg();
    // SAFETY: gp is the running user G; its M is ours until mcall.
    unsafe {
        let mp = (*gp).m;
        if mp.is_null() || (*mp).g0 == gp {
            crate::signal::throw("gopark: not on a goroutine");
        }
        (*mp).waitlock = lock;
        (*mp).waitunlockf = unlockf;
        (*gp).waitreason = reason;
        mcall(park_m);
    }
}

/// `gopark` that releases the runtime mutex `lock` once the G is parked.
pub fn goparkunlock(lock: &Mutex, reason: WaitReason) {
    unsafe fn unlock_it(_: *mut G, l: *mut u8) -> bool {
        // SAFETY: l is the &Mutex passed below, still alive (its owner is
        // the structure the G waits on).
        unsafe { (*(l as *const Mutex)).unlock() };
        true
    }
    gopark(
        Some(unlock_it),
        (lock as *const Mutex).cast_mut().cast(),
        reason,
    );
}

extern "C" fn park_m(gp: *mut G) -> ! {
    // SAFETY: on g0; gp's context was saved by mcall.
    unsafe {
        let mp = (*getg()).m;
        casgstatus(gp, GRUNNING, GWAITING);
        (*mp).curg = null_mut();
        (*gp).m = null_mut();
        if let Some(f) = (*mp).waitunlockf.take() {
            let lock = core::mem::replace(&mut (*mp).waitlock, null_mut());
            if !f(gp, lock) {
                casgstatus(gp, GWAITING, GRUNNABLE);
                (*gp).waitreason = WaitReason::Zero;
                execute(gp, true);
            }
        }
    }
    schedule()
}

/// Make a parked goroutine runnable (Go's goready): it goes to the current
/// P's `runnext`, so it runs soon, on this P.
pub fn goready(gp: *mut G) {
    ready(gp, true);
}

/// Make `gp` (Gwaiting) runnable; `next` puts it in runnext.
///
/// Safe to call (Go's API shape, used by channels and timers) but `gp` must
/// be a parked G that the caller has just taken off a wait structure.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn ready(gp: *mut G, next: bool) {
    // SAFETY: gp is a parked G that the caller just took off a wait queue.
    unsafe {
        casgstatus(gp, GWAITING, GRUNNABLE);
        (*gp).waitreason = WaitReason::Zero;
        let me = getg();
        let pp = if me.is_null() || (*me).m.is_null() {
            null_mut()
        } else {
            (*(*me).m).p
        };
        if pp.is_null() {
            // A thread without a P (foreign thread): global queue.
            (*s()).lock.lock();
            globrunqput(s(), gp);
            (*s()).lock.unlock();
        } else {
            let _ = runqput(pp, gp, next);
        }
    }
    wakep();
}

/// Yield the processor (Go's Gosched): the current goroutine goes to the
/// back of the *global* run queue, as in Go, so a goroutine that yields in
/// a loop cannot starve the Gs waiting there (the local queue would be
/// picked first every time). On a thread the runtime does not manage this
/// yields the thread.
pub fn gosched() {
    let gp = getg();
    // SAFETY: checks that we are on a user G before switching.
    unsafe {
        if gp.is_null() || (*gp).m.is_null() || (*(*gp).m).g0 == gp {
            libc::sched_yield();
            return;
        }
        mcall(gosched_m);
    }
}

extern "C" fn gosched_m(gp: *mut G) -> ! {
    // SAFETY: on g0; gp's context saved.
    unsafe {
        let mp = (*getg()).m;
        casgstatus(gp, GRUNNING, GRUNNABLE);
        (*mp).curg = null_mut();
        (*gp).m = null_mut();
        (*s()).lock.lock();
        globrunqput(s(), gp);
        (*s()).lock.unlock();
    }
    schedule()
}

/// Called by `runtime.goexit` when a goroutine's entry function returns.
#[unsafe(export_name = "runtime.goexit1")]
pub extern "C" fn goexit1() -> ! {
    // SAFETY: on the finishing G.
    unsafe { mcall(goexit0) };
    crate::signal::throw("goexit1: returned")
}

extern "C" fn goexit0(gp: *mut G) -> ! {
    // SAFETY: on g0; gp is finished and owned by us.
    unsafe {
        let mp = (*getg()).m;
        casgstatus(gp, GRUNNING, GDEAD);
        (*gp).m = null_mut();
        (*gp).waitreason = WaitReason::Zero;
        (*gp).param = null_mut();
        (*gp).waiting = null_mut();
        (*gp).sched = Gobuf::default();
        crate::signal::drop_panic_record(gp);
        // Exiting while locked: Go kills the thread; ours return to the pool.
        (*gp).lockedm = null_mut();
        (*mp).lockedg = null_mut();
        (*mp).lockedext = 0;
        (*mp).curg = null_mut();
        gfput((*mp).p, gp);
    }
    schedule()
}

// ---------------------------------------------------------------------------
// Deadlock detection.

/// Detect "no goroutine can ever run again". sched.lock held.
pub(crate) unsafe fn checkdead() {
    // SAFETY: under sched.lock; allgs read consistently.
    unsafe {
        let sch = s();
        let run = (*sch).mnext as i32 - (*sch).nmidle - (*sch).nmidlelocked - (*sch).nmsys;
        if run > 0 {
            return;
        }
        if run < 0 {
            crate::signal::throw_fmt(format_args!(
                "checkdead: inconsistent counts run={run} nmidle={} mcount={}",
                (*sch).nmidle,
                (*sch).mnext
            ));
        }
        // Pending timers will wake someone up: checked before walking every
        // G (O(allglen)), which would otherwise run each time the last M
        // idles while a goroutine sleeps (e.g. the paced scavenger).
        let n = gomaxprocs_now() as usize;
        for i in 0..n {
            if crate::time::timer0when(allp(i)) != 0 {
                return;
            }
        }
        let mut waiting = 0;
        let mut runnable = 0;
        for_each_g(|gp| match readgstatus(gp) {
            GWAITING => waiting += 1,
            GRUNNABLE | GRUNNING | GSYSCALL => runnable += 1,
            _ => {}
        });
        if runnable > 0 {
            // Some Ps may hold work that a starting M will pick up; only a
            // G on a queue with every M idle would be a lost wakeup.
            if (*sch).runqsize > 0 {
                crate::signal::throw("checkdead: runnable g on the global queue");
            }
            return;
        }
        if waiting == 0 {
            // As Go's checkdead: the report takes sched.lock itself (its
            // scheduler trace), and no goroutine can run meanwhile.
            (*sch).lock.unlock();
            crate::signal::fatal_deadlock("no goroutines (main called runtime.Goexit) - deadlock!");
        }
        // Pending timers will wake someone up.
        let n = gomaxprocs_now() as usize;
        for i in 0..n {
            if crate::time::timer0when(allp(i)) != 0 {
                return;
            }
        }
        (*sch).lock.unlock();
        crate::signal::fatal_deadlock("all goroutines are asleep - deadlock!");
    }
}

// ---------------------------------------------------------------------------
// GOMAXPROCS and stop-the-world.

/// Change the number of Ps to `nprocs`. sched.lock held; world stopped (or
/// start-up). Returns the list (through `P.link`) of Ps with local work
/// that need an M.
///
/// # Safety
/// See above; runs on an M.
pub unsafe fn procresize(nprocs: i32) -> *mut P {
    // SAFETY: world stopped: no other M touches the Ps' queues.
    unsafe {
        let old = GOMAXPROCS;
        if ALLP.is_null() {
            let v: Vec<*mut P> = vec![null_mut(); MAX_GOMAXPROCS];
            ALLP = Box::leak(v.into_boxed_slice()).as_mut_ptr();
        }
        for i in 0..nprocs as usize {
            if (*ALLP.add(i)).is_null() {
                atomic_ptr(ALLP.add(i)).store(new_p(i as i32), Ordering::Release);
            }
        }
        let mp = (*getg()).m;
        let cur = (*mp).p;
        if !cur.is_null() && (*cur).id < nprocs {
            atomic_u32(&raw mut (*cur).status).store(PRUNNING, Ordering::Release);
        } else {
            if !cur.is_null() {
                (*cur).m = null_mut();
                (*mp).p = null_mut();
            }
            let p0 = *ALLP;
            (*p0).m = null_mut();
            atomic_u32(&raw mut (*p0).status).store(PIDLE, Ordering::Release);
            acquirep(p0);
        }
        let here = (*mp).p;
        // Destroy the Ps that are no longer needed.
        for i in nprocs.max(0) as usize..old.max(0) as usize {
            let p = *ALLP.add(i);
            for gp in runqdrain(p) {
                globrunqput(s(), gp);
            }
            crate::time::movetimers(p, here);
            // Its dead Gs go to the global free list (not through gfget,
            // which would refill the local list from the global one).
            (*s()).gflock.lock();
            while !(*p).gfree.head.is_null() {
                let gp = (*p).gfree.head;
                (*p).gfree.head = (*gp).schedlink;
                (*gp).schedlink = (*s()).gfree.head;
                (*s()).gfree.head = gp;
                glist_n(&raw mut (*s()).gfree).store((*s()).gfree.n + 1, Ordering::Relaxed);
            }
            glist_n(&raw mut (*p).gfree).store(0, Ordering::Relaxed);
            (*s()).gflock.unlock();
            (*p).m = null_mut();
            atomic_u32(&raw mut (*p).status).store(PDEAD, Ordering::Release);
        }
        // Rebuild the idle list.
        (*s()).pidle = null_mut();
        npidle().store(0, Ordering::Release);
        let mut runnable: *mut P = null_mut();
        for i in (0..nprocs as usize).rev() {
            let p = *ALLP.add(i);
            if p == here {
                continue;
            }
            (*p).m = null_mut();
            atomic_u32(&raw mut (*p).status).store(PIDLE, Ordering::Release);
            if runqempty(p) {
                pidleput(p);
            } else {
                (*p).link = runnable;
                runnable = p;
            }
        }
        atomic_u32((&raw mut GOMAXPROCS).cast()).store(nprocs as u32, Ordering::Release);
        runnable
    }
}

/// Go's `worldsema`: the right to stop the world. One ticket; whoever
/// stops the world holds it until the world runs again, so two
/// stop-the-worlds never overlap. Without it two goroutines that stop the
/// world at once (two `GOMAXPROCS` calls) each stop their own P and then
/// wait forever for the other's. A goroutine that waits for it parks
/// (wait reason "semacquire"), so its P can be stopped by the holder.
#[unsafe(export_name = "runtime.worldsema")]
pub static WORLDSEMA: crate::sema::Sema = crate::sema::Sema::new(1);

/// Stop all Ps but the caller's (Go's `stopTheWorld`): takes
/// [`WORLDSEMA`], then waits until every other P is stopped. Running
/// goroutines stop at their next park, yield, exit or preemption point;
/// Ps in system calls and idle Ps are taken at once. Undone by
/// [`start_the_world`].
///
/// # Safety
/// Called on a user goroutine holding a P, not already holding the world.
pub(crate) unsafe fn stop_the_world() {
    WORLDSEMA.acquire(false, WaitReason::Semacquire);
    // SAFETY: called on a user G holding a P.
    unsafe {
        let sch = s();
        let mp = (*getg()).m;
        (*sch).lock.lock();
        (*sch).stopwait = gomaxprocs_now();
        atomic_u32(&raw mut (*sch).gcwaiting).store(1, Ordering::Release);
        atomic_u32(&raw mut (*(*mp).p).status).store(PGCSTOP, Ordering::Release);
        (*sch).stopwait -= 1;
        // Ps lent out by Ms in system calls: take them (the returning M's
        // CAS Psyscall -> Pidle fails and it sees gcwaiting).
        for i in 0..gomaxprocs_now() as usize {
            let pp = allp(i);
            if atomic_u32(&raw mut (*pp).status)
                .compare_exchange(PSYSCALL, PGCSTOP, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                crate::syscall::bump_syscalltick(i);
                (*sch).stopwait -= 1;
            }
        }
        loop {
            let pp = pidleget();
            if pp.is_null() {
                break;
            }
            atomic_u32(&raw mut (*pp).status).store(PGCSTOP, Ordering::Release);
            (*sch).stopwait -= 1;
        }
        let wait = (*sch).stopwait > 0;
        (*sch).lock.unlock();
        if wait {
            (*sch).stopnote.sleep();
            (*sch).stopnote.clear();
        }
    }
}

/// Restart the world stopped by [`stop_the_world`] with `nprocs` Ps (Go's
/// `startTheWorld`; pass `gomaxprocs_now()` to keep the number), then give
/// up [`WORLDSEMA`].
///
/// # Safety
/// The caller stopped the world.
pub(crate) unsafe fn start_the_world(nprocs: i32) {
    // SAFETY: the world is stopped by us.
    unsafe {
        let sch = s();
        (*sch).lock.lock();
        let mut p1 = procresize(nprocs);
        atomic_u32(&raw mut (*sch).gcwaiting).store(0, Ordering::Release);
        (*sch).lock.unlock();
        while !p1.is_null() {
            let p = p1;
            p1 = (*p).link;
            (*p).link = null_mut();
            startm(p, false);
        }
    }
    wakep();
    WORLDSEMA.release(false);
}

/// An M noticed a pending stop-the-world: give up the P and sleep.
unsafe fn gcstopm() {
    // SAFETY: on g0 of an M holding a P.
    unsafe {
        let mp = (*getg()).m;
        if (*mp).spinning {
            (*mp).spinning = false;
            nmspinning().fetch_sub(1, Ordering::AcqRel);
        }
        let pp = releasep();
        let sch = s();
        (*sch).lock.lock();
        atomic_u32(&raw mut (*pp).status).store(PGCSTOP, Ordering::Release);
        (*sch).stopwait -= 1;
        if (*sch).stopwait == 0 {
            (*sch).stopnote.wakeup();
        }
        (*sch).lock.unlock();
        stopm(0);
    }
}

/// Go's `runtime.GOMAXPROCS(n)`: returns the previous setting; `n <= 0`
/// only queries. Changing it stops the world (cooperatively: it waits until
/// every other P's goroutine parks, yields or exits; concurrent changes
/// take turns on `worldsema`), resizes the set of Ps (Gs and timers of
/// removed Ps move to the global queue / a live P), and restarts the world.
pub fn gomaxprocs(n: i32) -> i32 {
    let ret = gomaxprocs_now();
    if n <= 0 || n == ret {
        return ret;
    }
    let n = n.min(MAX_GOMAXPROCS as i32);
    let gp = getg();
    // SAFETY: only on a user goroutine (which holds a P).
    unsafe {
        if gp.is_null() || (*gp).m.is_null() || (*(*gp).m).g0 == gp {
            crate::signal::throw("GOMAXPROCS: not on a goroutine");
        }
        stop_the_world();
        start_the_world(n);
    }
    ret
}

/// Number of goroutines that exist (running, runnable or waiting), not
/// counting runtime-internal ones (Go's NumGoroutine).
pub fn num_goroutine() -> usize {
    // SAFETY: atomic reads of counters; approximate under concurrency.
    unsafe {
        let all = atomic_usize(&raw mut ALLGLEN).load(Ordering::Acquire) as i64;
        let mut free = glist_n(&raw mut (*s()).gfree).load(Ordering::Relaxed) as i64;
        let n = gomaxprocs_now() as usize;
        for i in 0..n {
            let p = allp(i);
            free += glist_n(&raw mut (*p).gfree).load(Ordering::Relaxed) as i64;
        }
        (all - free - (*s()).ngsys as i64).max(0) as usize
    }
}

/// Count the goroutines currently parked with wait reason `reason`.
pub(crate) fn count_waiting(reason: WaitReason) -> usize {
    let mut n = 0;
    for_each_g(|gp| {
        // SAFETY: Gs are never freed; waitreason is a byte written before
        // the status store (release) that we read with acquire.
        unsafe {
            if readgstatus(gp) == GWAITING && (*gp).waitreason == reason {
                n += 1;
            }
        }
    });
    n
}

/// Mark `runtime.main` as started (new goroutines may now wake Ps).
pub(crate) fn set_main_started() {
    // SAFETY: s() is the static Sched, alive for the whole process, and
    // main_started is only ever accessed atomically.
    unsafe { atomic_u32(&raw mut (*s()).main_started).store(1, Ordering::Release) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_enum_visits_all_once() {
        for count in 1..=17u32 {
            for r in [0u32, 1, 7, 12345, 0xffff_ffff, 0x1234_5678] {
                let mut seen: Vec<u32> = RandomEnum::new(count, r).collect();
                assert_eq!(seen.len(), count as usize);
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), count as usize);
            }
        }
    }

    #[test]
    fn fastrand_spreads() {
        let mut m = M::zeroed();
        let mut buckets = [0u32; 4];
        for _ in 0..4000 {
            // SAFETY: a private M.
            buckets[(unsafe { fastrand(&mut m) } % 4) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| b > 800), "{buckets:?}");
    }

    #[test]
    fn gstatus_transitions() {
        let g = Box::into_raw(Box::new(G::zeroed()));
        // SAFETY: a private G.
        unsafe {
            casgstatus(g, GIDLE, GDEAD);
            casgstatus(g, GDEAD, GRUNNABLE);
            casgstatus(g, GRUNNABLE, GRUNNING);
            casgstatus(g, GRUNNING, GWAITING);
            assert_eq!(readgstatus(g), GWAITING);
            drop(Box::from_raw(g));
        }
    }
}
