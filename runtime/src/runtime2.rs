//! The runtime's data structures: G, M, P, the scheduler (`Sched`) and the
//! statics a debugger reads (the runtime's debugger-visible state).
//!
//! # Why these types look like this
//!
//! A debugger (gdb with the gdb-ext module, or `gdbx`) finds every piece of
//! runtime state by ELF symbol and DWARF type/field name, never by a
//! hard-coded offset. So:
//!
//! * every type here is `#[repr(C)]` and its field names are a contract
//!   (`G.goid`, `G.atomicstatus`, `M.procid`, `P.runq`, `Sched.runq`...);
//! * fields that are accessed atomically are declared with their *plain*
//!   type (`u32`, `usize`, `*mut G`) so that DWARF shows a base type, and all
//!   code accesses them through [`atomic_u32`] / [`atomic_usize`] /
//!   [`atomic_ptr`] (`Atomic*::from_ptr`), never with a plain load or store
//!   while other threads may touch them;
//! * the statics are exported under Go's names (`runtime.allgs`,
//!   `runtime.allglen`, `runtime.allm`, `runtime.allp`, `runtime.gomaxprocs`,
//!   `runtime.sched`, `runtime.m0`, `runtime.g0`).
//!
//! # Ownership
//!
//! G, M and P objects are allocated once and never freed (Go does the same
//! for M and P; for G it keeps dead Gs on free lists and reuses them), so a
//! pointer read from `runtime.allgs` by another thread or by a debugger
//! always points at a valid object. `allgs` only grows.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

use crate::lock::{Mutex, Note};

/// G status: just allocated, not yet initialised.
pub const GIDLE: u32 = 0;
/// G status: on a run queue, not executing user code; stack not owned.
pub const GRUNNABLE: u32 = 1;
/// G status: executing user code on an M that has a P; `G.m` is that M.
pub const GRUNNING: u32 = 2;
/// G status: executing a system call: `entersyscall` (syscall.rs) moves a
/// running G here and `exitsyscall` moves it back; `G.syscallsp/pc/bp` hold
/// where it entered, for tracebacks.
pub const GSYSCALL: u32 = 3;
/// G status: blocked in the runtime (channel, sleep, mutex...), parked by
/// [`crate::proc::gopark`]; it is on some wait structure and `G.sched` holds
/// its saved context. `G.waitreason` says why.
pub const GWAITING: u32 = 4;
/// G status: finished (or never started); on a free list, ready for reuse.
pub const GDEAD: u32 = 6;

/// Name of a G status as Go prints it.
pub fn gstatus_str(s: u32) -> &'static str {
    match s {
        GIDLE => "idle",
        GRUNNABLE => "runnable",
        GRUNNING => "running",
        GSYSCALL => "syscall",
        GWAITING => "waiting",
        GDEAD => "dead",
        _ => "???",
    }
}

/// P status: not running user code; on the idle list `Sched.pidle`.
pub const PIDLE: u32 = 0;
/// P status: owned by an M and running user code or the scheduler.
pub const PRUNNING: u32 = 1;
/// P status: owned by an M that is in a system call (`entersyscall`);
/// sysmon's `retake` may take it (`PSYSCALL -> PIDLE` by CAS) and hand it
/// to another M.
pub const PSYSCALL: u32 = 2;
/// P status: halted for a stop-the-world (see [`crate::proc::gomaxprocs`]).
pub const PGCSTOP: u32 = 3;
/// P status: no longer used (GOMAXPROCS shrank).
pub const PDEAD: u32 = 4;

/// Why a G is in status `GWAITING`. The names (`as_str`) are Go's.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaitReason {
    /// Not waiting.
    Zero = 0,
    /// Blocked receiving from a channel.
    ChanReceive = 1,
    /// Blocked sending on a channel.
    ChanSend = 2,
    /// Blocked in a select with several cases.
    Select = 3,
    /// `select {}`: blocked forever.
    SelectNoCases = 4,
    /// In [`crate::sleep`].
    Sleep = 5,
    /// Blocked on a runtime semaphore.
    Semacquire = 6,
    /// Blocked in `sync::Mutex::lock`.
    SyncMutexLock = 7,
    /// Blocked in `sync::WaitGroup::wait`.
    SyncWaitGroupWait = 8,
    /// Receiving from a nil channel.
    ChanReceiveNilChan = 9,
    /// Sending on a nil channel.
    ChanSendNilChan = 10,
    /// Blocked in a condition variable wait.
    SyncCondWait = 11,
    /// Waiting for I/O readiness (the netpoller).
    IoWait = 12,
    /// The scavenger goroutine waiting for work.
    GcScavengeWait = 13,
    /// Parked while the world is stopped.
    StoppingTheWorld = 14,
    /// Preempted (reserved).
    Preempted = 15,
    /// Blocked in `sync::RwMutex::read` (a writer holds or waits for it).
    SyncRwMutexRLock = 16,
    /// Blocked in `sync::RwMutex::write`.
    SyncRwMutexLock = 17,
}

/// Go's strings for the wait reasons, indexed by `WaitReason as u8`. Exported
/// so that a debugger reads the exact strings from the binary.
#[unsafe(export_name = "runtime.waitReasonStrings")]
pub static WAIT_REASON_STRINGS: [&str; 18] = [
    "",
    "chan receive",
    "chan send",
    "select",
    "select (no cases)",
    "sleep",
    "semacquire",
    "sync.Mutex.Lock",
    "sync.WaitGroup.Wait",
    "chan receive (nil chan)",
    "chan send (nil chan)",
    "sync.Cond.Wait",
    "IO wait",
    "GC scavenge wait",
    "stopping the world",
    "preempted",
    "sync.RWMutex.RLock",
    "sync.RWMutex.Lock",
];

impl WaitReason {
    /// Go's string for this wait reason (what `goroutine N [chan receive]:` shows).
    pub fn as_str(self) -> &'static str {
        WAIT_REASON_STRINGS[self as usize]
    }
}

/// Bounds of a goroutine stack: `[lo, hi)`. The guard page is `[lo - page, lo)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Stack {
    /// Lowest usable address.
    pub lo: usize,
    /// One past the highest usable address (stacks grow down from here).
    pub hi: usize,
}

/// Saved execution context of a G that is not running.
///
/// `sp`, `pc`, `bp` are exactly what a debugger unwinds from: the state as
/// if the switching call (`runtime.mcall`) had just returned into its caller
/// (pc = return address, sp = the caller's sp after the return, bp = the
/// caller's frame pointer), so the ordinary DWARF CFI of the caller unwinds
/// the parked G back to its entry. The callee-saved registers follow; they
/// are restored by `runtime.gogo`. For a G that has never run, `pc` is
/// `runtime.goexit` (the entry trampoline) and `r12`/`r13` hold the entry
/// function and its argument. `gogo` zeroes `sp`/`pc`/`bp` when it resumes
/// a G (as Go does): a running G's context is in the thread's registers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Gobuf {
    /// Saved stack pointer.
    pub sp: usize,
    /// Saved program counter (where execution resumes).
    pub pc: usize,
    /// Saved frame pointer (rbp).
    pub bp: usize,
    /// Saved rbx.
    pub rbx: usize,
    /// Saved r12 (entry function for a new G).
    pub r12: usize,
    /// Saved r13 (entry argument for a new G).
    pub r13: usize,
    /// Saved r14.
    pub r14: usize,
    /// Saved r15.
    pub r15: usize,
}

/// A goroutine.
#[repr(C)]
pub struct G {
    /// Stack bounds (for g0: the thread's own stack).
    pub stack: Stack,
    /// Saved context while not running (see [`Gobuf`]).
    pub sched: Gobuf,
    /// Goroutine id (1 = the main goroutine; 0 = a g0). Unique for the
    /// lifetime of this G incarnation; a reused G gets a new id.
    pub goid: i64,
    /// Status (`GIDLE`..`GDEAD`); accessed atomically.
    pub atomicstatus: u32,
    /// Why the G waits (valid when status is `GWAITING`).
    pub waitreason: WaitReason,
    /// Set while the G sits in a select (channels' business, Go's `selectDone`
    /// is next to it); kept here to keep G small.
    pub parkingonchan: u8,
    /// The M running this G (null unless running).
    pub m: *mut M,
    /// Address of the entry function (the monomorphised closure trampoline).
    pub startpc: usize,
    /// Go's `gopc`: the return address into the function whose `go` call
    /// created this G (0 for the main goroutine, which the bootstrap makes).
    /// Tracebacks and debuggers name the creator from it.
    pub gopc: usize,
    /// The stack pointer the G started with: its frames all lie below it
    /// (above it: the closure's bytes and the cache-colour gap up to
    /// `stack.hi`). A debugger copies only `[sched.sp, startsp)`.
    pub startsp: usize,
    /// File of the `go` call that created this G (`#[track_caller]`), UTF-8, not NUL-terminated.
    pub created_file: *const u8,
    /// Length of `created_file` in bytes.
    pub created_file_len: usize,
    /// Line of the `go` call that created this G.
    pub created_line: u32,
    /// Go's `selectDone`: set by the first case that wins a select (atomic).
    pub selectdone: u32,
    /// Goid of the goroutine that created this one (0 for runtime-created).
    pub parent_goid: i64,
    /// Link in a run queue or free list.
    pub schedlink: *mut G,
    /// Go's `g.param`: a value passed by the waker to the parked G (channels).
    pub param: *mut u8,
    /// Go's `g.waiting`: the wait records (sudogs) this G is blocked on (channels).
    pub waiting: *mut u8,
    /// For a sleeping G: when it wakes (nanotime).
    pub timer_when: i64,
    /// About when the G entered its current wait (nanotime; 0 if unknown).
    /// As Go's, approximate: sysmon stamps every waiting G that has none,
    /// at most once a second (Go's garbage collector does it), and
    /// `execute` clears it. Accessed atomically (sysmon and the G's M).
    pub waitsince: i64,
    /// Preemption request (Go's `g.preempt`), set by sysmon when the G has
    /// run for more than 10 ms, honoured (and cleared) at the next safe point
    /// (see sysmon.rs). Accessed atomically; a stale request only costs one
    /// extra yield.
    pub preempt: u32,
    /// While the G is in a system call (`Gsyscall`): the stack pointer,
    /// program counter and frame pointer of the `runtime::syscall` frame
    /// (Go's `syscallsp`/`syscallpc`), so tracebacks can walk its stack
    /// without its thread's registers. Zero otherwise.
    pub syscallsp: usize,
    /// See `syscallsp`.
    pub syscallpc: usize,
    /// See `syscallsp`.
    pub syscallbp: usize,
    /// Non-zero while the G runs inside `runtime::async_preemptible` (the
    /// program declared that code free of locks and thread-local borrows):
    /// only then may GODEBUG=asyncpreempt=1 preempt it by signal
    /// (asyncpreempt.rs).
    pub asyncsafe: u32,
    /// The last panic of this G (Go's `g._panic`): its message and stack,
    /// recorded by the panic hook, reported if the panic reaches the G's
    /// entry uncaught, freed when the G exits (signal.rs).
    pub panic: *mut crate::signal::PanicRecord,
    /// The M this G is wired to by `lock_os_thread` (Go's `g.lockedm`), or
    /// null. Only the G itself sets and clears it, while running on that M;
    /// the schedulers of other Ms read it when they pick the G (under the
    /// run queue's hand-over, which orders it).
    pub lockedm: *mut M,
}

impl G {
    /// An all-zero G (status `GIDLE`).
    pub const fn zeroed() -> G {
        // SAFETY: every field of G is valid when zero (integers, raw
        // pointers, and WaitReason::Zero = 0).
        unsafe { core::mem::zeroed() }
    }

    /// The spawn site as `file:line`, or None.
    pub fn created_at(&self) -> Option<(&'static str, u32)> {
        if self.created_file.is_null() {
            return None;
        }
        // SAFETY: created_file/len come from a `&'static str` (Location::file).
        let f = unsafe {
            core::str::from_utf8_unchecked(core::slice::from_raw_parts(
                self.created_file,
                self.created_file_len,
            ))
        };
        Some((f, self.created_line))
    }
}

/// Machine: an OS thread that runs Gs when it holds a P.
#[repr(C)]
pub struct M {
    /// M id (m0 = 0).
    pub id: i64,
    /// OS thread id (gettid) of this M's thread, so a debugger maps LWP → M.
    pub procid: u64,
    /// The scheduling goroutine: this M runs the scheduler on g0's stack (the
    /// thread's own stack).
    pub g0: *mut G,
    /// The user G currently running on this M (null when in the scheduler).
    pub curg: *mut G,
    /// The P this M holds (null when idle).
    pub p: *mut P,
    /// P handed to this M when it is woken/started (consumed by the M).
    pub nextp: *mut P,
    /// The M is out of work and actively looking for some (counted in
    /// `Sched.nmspinning`).
    pub spinning: bool,
    /// The M is blocked on its `park` note (idle, on `Sched.midle`).
    pub blocked: bool,
    /// Woken by its timer timeout: run all Ps' timers before looking for work.
    pub timerwake: bool,
    /// Link in `runtime.allm`.
    pub alllink: *mut M,
    /// Link in `Sched.midle`.
    pub schedlink: *mut M,
    /// Idle Ms sleep on this futex word.
    pub park: Note,
    /// State of the per-M random generator (steal order).
    pub fastrand: u64,
    /// Function and argument of a pending `gopark` (run on g0 after the G's
    /// context is saved).
    pub waitunlockf: Option<unsafe fn(*mut G, *mut u8) -> bool>,
    /// Argument of `waitunlockf`.
    pub waitlock: *mut u8,
    /// Alternate signal stack of this thread (SIGSEGV on a guard page).
    pub gsignal: Stack,
    /// pthread handle (0 for m0).
    pub thread: u64,
    /// If set, run on g0 by `mstart` instead of the scheduler (sysmon).
    pub mstartfn: Option<fn()>,
    /// The G wired to this M by `lock_os_thread` (Go's `m.lockedg`), or
    /// null: while set, this M runs no other G. Written only by that G on
    /// this M.
    pub lockedg: *mut G,
    /// Nesting depth of `lock_os_thread` calls (Go's `m.lockedExt`).
    pub lockedext: u32,
}

impl M {
    /// An all-zero M.
    pub const fn zeroed() -> M {
        // SAFETY: all fields are valid when zero (None for the Option<fn>s).
        unsafe { core::mem::zeroed() }
    }
}

/// Capacity of a P's local run queue (Go's 256).
pub const RUNQ_SIZE: usize = 256;

/// A list of Gs linked through `G.schedlink` (free lists).
#[repr(C)]
pub struct GList {
    /// First G.
    pub head: *mut G,
    /// Number of Gs on the list.
    pub n: i32,
}

/// A FIFO of Gs linked through `G.schedlink` (the global run queue).
#[repr(C)]
pub struct GQueue {
    /// First G (dequeued next).
    pub head: *mut G,
    /// Last G.
    pub tail: *mut G,
}

/// One entry of a P's timer heap: what to do when `when` has passed.
/// Ordered by `when` alone (the heap is a min-heap through `Reverse`).
pub struct TimerEntry {
    /// Due time (nanotime).
    pub when: i64,
    /// What fires.
    pub what: TimerWhat,
}

/// What a [`TimerEntry`] does when it fires.
pub enum TimerWhat {
    /// Ready this G, parked in `sleep`.
    Wake(*mut G),
    /// Fire a channel timer, ticker or `after_func` timer, if it is still
    /// armed with this sequence number (an entry whose timer was stopped or
    /// reset since is stale and is dropped; see time.rs).
    Timer(std::sync::Arc<crate::time::TimerShared>, u64),
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        self.when == other.when
    }
}

impl Eq for TimerEntry {}

impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TimerEntry {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.when.cmp(&other.when)
    }
}

/// Processor: the resources needed to run Go code; an M must hold a P to run
/// user Gs. GOMAXPROCS is the number of Ps.
#[repr(C)]
pub struct P {
    /// Index in `runtime.allp`.
    pub id: i32,
    /// Status (`PIDLE`..`PDEAD`); accessed atomically.
    pub status: u32,
    /// The M holding this P (null if idle).
    pub m: *mut M,
    /// Link in `Sched.pidle`.
    pub link: *mut P,
    /// Incremented on every scheduler call that does not inherit a time slice.
    pub schedtick: u32,
    /// Local run queue head index (consumers: the owner and thieves, by CAS).
    pub runqhead: u32,
    /// Local run queue tail index (written only by the owner, store-release).
    pub runqtail: u32,
    /// Local run queue ring (slots accessed atomically, relaxed; see runq.rs).
    pub runq: [*mut G; RUNQ_SIZE],
    /// A G readied by the running G that runs next, inheriting the time slice
    /// (an atomic `*mut G` stored as usize; 0 = none).
    pub runnext: usize,
    /// Dead Gs (with their stacks) for reuse by this P.
    pub gfree: GList,
    /// Cache of goroutine ids `[goidcache, goidcacheend)` taken from `Sched.goidgen`.
    pub goidcache: u64,
    /// End of the goid cache.
    pub goidcacheend: u64,
    /// Earliest `when` in `timers` (0 = none); atomic, read without the lock.
    pub timer0when: i64,
    /// Protects `timers`.
    pub timerslock: Mutex,
    /// Timers of this P (sleeping Gs, channel timers, tickers, `after_func`)
    /// as a min-heap on `when` (Go's per-P timer heap).
    pub timers: std::collections::BinaryHeap<core::cmp::Reverse<TimerEntry>>,
    /// Entries of `timers` that went stale since the last clean-up (their
    /// timer was stopped or reset; Go's `deletedTimers`); atomic, a hint for
    /// when to sweep them out.
    pub deletedtimers: u32,
}

/// The scheduler's global state (`runtime.sched`).
#[repr(C)]
pub struct Sched {
    /// Protects most fields below (idle lists, global run queue, free list).
    pub lock: Mutex,
    /// Idle Ms waiting for work, linked through `M.schedlink`.
    pub midle: *mut M,
    /// Number of idle Ms.
    pub nmidle: i32,
    /// Number of system Ms (sysmon) not counted by deadlock detection.
    pub nmsys: i32,
    /// Number of Ms sleeping while their locked G cannot run (Go's
    /// `nmidlelocked`; under `lock`): idle for deadlock detection. sysmon
    /// takes one off while it holds a P retaken from a system call.
    pub nmidlelocked: i32,
    /// Number of spinning Ms (atomic).
    pub nmspinning: u32,
    /// Idle Ps, linked through `P.link`.
    pub pidle: *mut P,
    /// Number of idle Ps (atomic).
    pub npidle: u32,
    /// Global run queue.
    pub runq: GQueue,
    /// Length of the global run queue.
    pub runqsize: i32,
    /// Last goroutine id handed out (atomic; Ps take batches).
    pub goidgen: u64,
    /// Id of the next M, and so the number of Ms created.
    pub mnext: i64,
    /// Maximum number of Ms (Go's 10000).
    pub maxmcount: i32,
    /// Global free list of dead Gs with stacks (under `gflock`).
    pub gfree: GList,
    /// Protects `gfree`.
    pub gflock: Mutex,
    /// A stop-the-world is in progress: Ms give up their P at the next schedule (atomic).
    pub gcwaiting: u32,
    /// Ps still to stop before the world is stopped.
    pub stopwait: i32,
    /// Wakes the goroutine that stops the world.
    pub stopnote: Note,
    /// Number of system goroutines (not counted by `num_goroutine`).
    pub ngsys: i32,
    /// `runtime.main` has started: new goroutines may wake idle Ps.
    pub main_started: u32,
}

/// Atomic view of a `u32` field.
///
/// # Safety
/// `p` must be valid and 4-aligned, and all concurrent accesses to it atomic.
#[inline(always)]
pub unsafe fn atomic_u32<'a>(p: *mut u32) -> &'a AtomicU32 {
    // SAFETY: this function's contract: the caller guarantees `p` is valid,
    // aligned, and accessed only atomically while shared.
    unsafe { AtomicU32::from_ptr(p) }
}

/// Atomic view of a `usize` field. Same contract as [`atomic_u32`].
///
/// # Safety
/// See [`atomic_u32`].
#[inline(always)]
pub unsafe fn atomic_usize<'a>(p: *mut usize) -> &'a AtomicUsize {
    // SAFETY: this function's contract: the caller guarantees `p` is valid,
    // aligned, and accessed only atomically while shared.
    unsafe { AtomicUsize::from_ptr(p) }
}

/// Atomic view of an `i64` field. Same contract as [`atomic_u32`].
///
/// # Safety
/// See [`atomic_u32`].
#[inline(always)]
pub unsafe fn atomic_i64<'a>(p: *mut i64) -> &'a core::sync::atomic::AtomicI64 {
    // SAFETY: this function's contract: the caller guarantees `p` is valid,
    // aligned, and accessed only atomically while shared.
    unsafe { core::sync::atomic::AtomicI64::from_ptr(p) }
}

/// Atomic view of a `u64` field. Same contract as [`atomic_u32`].
///
/// # Safety
/// See [`atomic_u32`].
#[inline(always)]
pub unsafe fn atomic_u64<'a>(p: *mut u64) -> &'a AtomicU64 {
    // SAFETY: this function's contract: the caller guarantees `p` is valid,
    // aligned, and accessed only atomically while shared.
    unsafe { AtomicU64::from_ptr(p) }
}

/// Atomic view of a pointer field. Same contract as [`atomic_u32`].
///
/// # Safety
/// See [`atomic_u32`].
#[inline(always)]
pub unsafe fn atomic_ptr<'a, T>(p: *mut *mut T) -> &'a AtomicPtr<T> {
    // SAFETY: this function's contract: the caller guarantees `p` is valid,
    // aligned, and accessed only atomically while shared.
    unsafe { AtomicPtr::from_ptr(p) }
}

/// Maximum GOMAXPROCS (Go's `_MaxGomaxprocs`); `runtime.allp` has this capacity.
pub const MAX_GOMAXPROCS: usize = 1024;

/// Every G ever created (array of `allglen` pointers; grows, never shrinks;
/// replaced by a bigger copy when full, old copies are kept alive).
#[unsafe(export_name = "runtime.allgs")]
pub static mut ALLGS: *mut *mut G = core::ptr::null_mut();
/// Number of valid entries of `runtime.allgs`.
#[unsafe(export_name = "runtime.allglen")]
pub static mut ALLGLEN: usize = 0;
/// Capacity of the current `runtime.allgs` array.
pub static mut ALLGCAP: usize = 0;
/// Protects appends to `allgs`.
pub static ALLGLOCK: Mutex = Mutex::new();
/// All Ms, linked through `M.alllink` (newest first).
#[unsafe(export_name = "runtime.allm")]
pub static mut ALLM: *mut M = core::ptr::null_mut();
/// Array of `MAX_GOMAXPROCS` P pointers; entries `[0, gomaxprocs)` are live.
#[unsafe(export_name = "runtime.allp")]
pub static mut ALLP: *mut *mut P = core::ptr::null_mut();
/// The number of Ps (`GOMAXPROCS`).
#[unsafe(export_name = "runtime.gomaxprocs")]
pub static mut GOMAXPROCS: i32 = 0;
/// The scheduler.
#[unsafe(export_name = "runtime.sched")]
pub static mut SCHED: Sched = Sched {
    lock: Mutex::new(),
    midle: core::ptr::null_mut(),
    nmidle: 0,
    nmsys: 0,
    nmidlelocked: 0,
    nmspinning: 0,
    pidle: core::ptr::null_mut(),
    npidle: 0,
    runq: GQueue {
        head: core::ptr::null_mut(),
        tail: core::ptr::null_mut(),
    },
    runqsize: 0,
    goidgen: 0,
    mnext: 0,
    maxmcount: 10000,
    gfree: GList {
        head: core::ptr::null_mut(),
        n: 0,
    },
    gflock: Mutex::new(),
    gcwaiting: 0,
    stopwait: 0,
    stopnote: Note::new(),
    ngsys: 0,
    main_started: 0,
};
/// The first M: the program's main thread.
#[unsafe(export_name = "runtime.m0")]
pub static mut M0: M = M::zeroed();
/// m0's g0: runs the bootstrap and m0's scheduler on the main thread's stack.
#[unsafe(export_name = "runtime.g0")]
pub static mut G0: G = G::zeroed();

/// `&raw mut SCHED`.
#[inline(always)]
pub fn sched() -> *mut Sched {
    &raw mut SCHED
}

/// Live GOMAXPROCS (atomic read).
#[inline(always)]
pub fn gomaxprocs_now() -> i32 {
    // SAFETY: GOMAXPROCS is a valid aligned static, only accessed atomically
    // after start-up.
    unsafe {
        atomic_u32((&raw mut GOMAXPROCS).cast()).load(core::sync::atomic::Ordering::Acquire) as i32
    }
}

/// `allp[i]`.
///
/// # Safety
/// `i < MAX_GOMAXPROCS` and `allp` initialised.
#[inline(always)]
pub unsafe fn allp(i: usize) -> *mut P {
    // SAFETY: caller guarantees bounds; entries are published before use.
    unsafe { atomic_ptr(ALLP.add(i)).load(core::sync::atomic::Ordering::Acquire) }
}
