//! Goroutine dumps without a debugger: SIGQUIT prints every goroutine and
//! exits with status 2, as Go does (Go's `sighandler` + `tracebackothers`).
//!
//! # Design
//!
//! The SIGQUIT handler does almost nothing - it cannot: symbolising a
//! backtrace reads DWARF and allocates, which is not async-signal-safe (the
//! interrupted thread may hold the malloc lock). It records the signal
//! (pc, M, code) in `QUIT` & co. and wakes **sysmon** (one atomic store +
//! one futex wake, both async-signal-safe). sysmon is the natural dumper: it
//! is a thread of its own, holds no P and no lock, and is always running.
//! It then prints, for every goroutine that is not dead:
//!
//! ```text
//! (tabs shown as spaces)
//! goroutine 7 [IO wait]:
//! runtime::netpoll::wait(...)
//!         /work/main/runtime/src/netpoll.rs:331 +0x8d
//! ...
//! created by echo::main in goroutine 1
//!         examples/src/bin/echo.rs:25 +0x1c5
//! ```
//!
//! A parked or runnable G is unwound from its saved context (`G.sched`:
//! pc, sp, bp) by following the frame-pointer chain (every frame of the
//! workspace keeps rbp), each frame pointer checked to lie inside the G's
//! stack and to grow upward, so a G that starts running while we walk can
//! at worst give a truncated or odd trace, never a fault. A G in a system
//! call is unwound from where it entered the call (`G.syscallsp/pc/bp`). A
//! G running on another thread has no saved context; Go prints `goroutine
//! running on other thread; stack unavailable` for it, and so do we.
//!
//! The goroutine that the signalled thread was running is different: as
//! Go's `sighandler` does, the report shows it first, as it was when the
//! signal arrived, unwound from the signal's context (the ucontext's rip,
//! rsp and rbp). The handler must take that walk itself - once it returns
//! the thread goes on (a `read(2)` it interrupted returns EINTR and is
//! retried) and its stack changes under sysmon - so it walks with the
//! unwind tables (`_Unwind_Backtrace` from the handler, through the
//! kernel's signal frame: C code such as libc's `read` keeps no frame
//! pointer, its CFI says where its caller is), or by frame pointers when
//! the tables give nothing, into static arrays: no allocation, no lock
//! (`SIGNALLED_*` below). A goroutine caught inside `runtime::syscall` is
//! walked from where it entered the call, as Go does for a goroutine in a
//! system call, so it reads the same whichever thread takes the signal.
//!
//! Symbols and file:line come from the binary's own DWARF (addr2line on
//! /proc/self/exe); a frame in a shared library (libc) is named by
//! `dladdr`.
//!
//! ## The signal's state words
//!
//! `QUIT` says who owns the report: `IDLE` until SIGQUIT (or a SIGSEGV or
//! SIGBUS sent with kill) arrives. The first handler to move it to
//! `CLAIMED` (a CAS) owns the report: it alone writes `QUIT_SIG`,
//! `QUIT_PC`, `QUIT_M`, `QUIT_CODE` and the `SIGNALLED_*` capture (plain
//! Relaxed stores), then stores `READY` with Release and wakes sysmon;
//! later signals find `QUIT` taken and return. sysmon prints only after it
//! loaded `READY` with Acquire, so it sees every word the handler wrote
//! (a sysmon that wakes on its own timer between the claim and `READY`
//! finds `CLAIMED` and goes back to sleep until the handler's wake). No
//! word is written again: the report ends the process.
//!
//! With GOTRACEBACK at level 2 (`system`, `crash`, and every runtime throw
//! and signal report, as in Go) each frame's file:line is followed by Go's
//! ` fp=0x.. sp=0x.. pc=0x..`: the frame's top (its caller's stack pointer,
//! just above the return address), its stack pointer and its pc.

use core::fmt::Write as _;
use core::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::proc::readgstatus;
use crate::runtime2::*;

/// Who owns the signal report (see "The signal's state words"): `IDLE`,
/// `CLAIMED` by the handler that captures, `READY` for sysmon to print.
static QUIT: AtomicU32 = AtomicU32::new(IDLE);
const IDLE: u32 = 0;
const CLAIMED: u32 = 1;
const READY: u32 = 2;
/// The signal to report (SIGQUIT, or SIGSEGV/SIGBUS from kill).
static QUIT_SIG: AtomicI64 = AtomicI64::new(libc::SIGQUIT as i64);
/// Set once sysmon can dump (the SIGQUIT handler is installed just before
/// sysmon's thread starts).
static DUMPER_READY: AtomicU32 = AtomicU32::new(0);
static QUIT_PC: AtomicUsize = AtomicUsize::new(0);
static QUIT_M: AtomicI64 = AtomicI64::new(-1);
static QUIT_CODE: AtomicI64 = AtomicI64::new(0);

/// At most this many frames of the signalled goroutine are captured (Go
/// prints 100).
const SIGNAL_FRAMES: usize = 100;
/// The goroutine the signalled thread was running (null: it ran the
/// scheduler, sysmon or no goroutine), its status then, and its frames
/// then: `SIGNALLED_LEN` entries of `SIGNALLED_PC/SP/FP`. Written by the
/// handler that claimed `QUIT`, read by sysmon after `READY`.
static SIGNALLED_G: AtomicPtr<G> = AtomicPtr::new(core::ptr::null_mut());
static SIGNALLED_STATUS: AtomicU32 = AtomicU32::new(0);
static SIGNALLED_LEN: AtomicUsize = AtomicUsize::new(0);
static SIGNALLED_PC: [AtomicUsize; SIGNAL_FRAMES] = [const { AtomicUsize::new(0) }; SIGNAL_FRAMES];
static SIGNALLED_SP: [AtomicUsize; SIGNAL_FRAMES] = [const { AtomicUsize::new(0) }; SIGNAL_FRAMES];
static SIGNALLED_FP: [AtomicUsize; SIGNAL_FRAMES] = [const { AtomicUsize::new(0) }; SIGNAL_FRAMES];

/// Install the SIGQUIT handler (called when sysmon starts).
pub fn install_sigquit() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    // sysmon's thread is started right after this, and checks `QUIT` after
    // every sleep, its first included: from here on a report has a
    // printer, so a SIGQUIT never finds `DUMPER_READY` unset.
    DUMPER_READY.store(1, Ordering::Release);
    let sa = SigAction::new(
        SigHandler::SigAction(sigquit),
        SaFlags::SA_SIGINFO | SaFlags::SA_ONSTACK | SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only does async-signal-safe work (atomics, futex
    // wake).
    if let Err(e) = unsafe { sigaction(Signal::SIGQUIT, &sa) } {
        crate::signal::throw_fmt(format_args!("runtime: sigaction(SIGQUIT): {e}"));
    }
}

/// A SIGQUIT, or a SIGSEGV or SIGBUS sent by another process (`kill`):
/// claim the report (`SIGQUIT: quit` / `SIGSEGV: segmentation violation`,
/// `PC=.. m=.. sigcode=..`, the signalled goroutine, every other
/// goroutine; Go's report of a `_SigThrow` signal and of a `_SigPanic` one
/// with SI_USER), capture the signalled goroutine from `uc`, and hand the
/// printing to sysmon, which exits 2. Called from the signal handlers:
/// async-signal-safe (atomics, a walk of the stack, a futex wake).
///
/// # Safety
/// `uc` is the ucontext the kernel passed to the handler that calls this.
pub(crate) unsafe fn report_signal(
    sig: libc::c_int,
    code: libc::c_int,
    uc: *const libc::ucontext_t,
) {
    if QUIT
        .compare_exchange(IDLE, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    // SAFETY: the kernel's ucontext (the caller's contract).
    let (pc, sp, bp) = unsafe {
        let g = &(*uc).uc_mcontext.gregs;
        (
            g[libc::REG_RIP as usize] as usize,
            g[libc::REG_RSP as usize] as usize,
            g[libc::REG_RBP as usize] as usize,
        )
    };
    QUIT_SIG.store(sig as i64, Ordering::Relaxed);
    QUIT_PC.store(pc, Ordering::Relaxed);
    QUIT_CODE.store(code as i64, Ordering::Relaxed);
    let gp = crate::asm::getg();
    // SAFETY: gp is this thread's g (or null); its m is valid.
    unsafe {
        if !gp.is_null() && !(*gp).m.is_null() {
            QUIT_M.store((*(*gp).m).id, Ordering::Relaxed);
        }
        capture_signalled(gp, pc, sp, bp);
    }
    QUIT.store(READY, Ordering::Release);
    if DUMPER_READY.load(Ordering::Acquire) == 0 {
        // Before sysmon: nobody to dump the goroutines, only the header.
        let mut w = crate::signal::ErrWriter::new();
        signal_header(&mut w);
        w.flush();
        crate::signal::fatal_exit(gotraceback(Failure::Throw).crash);
    }
    crate::sysmon::wake_now();
}

/// Record the goroutine `gp` that the signalled thread runs, as it is at
/// the signal's context (pc, sp, bp): its status and its frames, walked
/// with the unwind tables from the handler (through the kernel's signal
/// frame), or by frame pointers within its stack when the tables give
/// fewer than two frames. A goroutine in a system call is walked from
/// where it entered the call (`G.syscallsp/pc/bp`), as Go's `traceback1`
/// overrides the registers "if blocked in system call": the same frames
/// whichever thread the signal lands on. Nothing when the thread runs no
/// user goroutine (a g0: the scheduler, an idle M, sysmon). Allocates
/// nothing.
///
/// # Safety
/// Called from a signal handler on the signalled thread, which owns the
/// `SIGNALLED_*` words (it claimed `QUIT`); `gp` is that thread's g.
unsafe fn capture_signalled(gp: *mut G, pc: usize, sp: usize, bp: usize) {
    // SAFETY: gp is this thread's g; its m is valid while it runs.
    let user = !gp.is_null() && unsafe { !(*gp).m.is_null() && (*(*gp).m).g0 != gp };
    if !user {
        return;
    }
    // SAFETY: gp is a live G (this thread's).
    let status = unsafe { readgstatus(gp) };
    let record = |i: usize, f: RawFrame| {
        SIGNALLED_PC[i].store(f.pc, Ordering::Relaxed);
        SIGNALLED_SP[i].store(f.sp, Ordering::Relaxed);
        SIGNALLED_FP[i].store(f.fp, Ordering::Relaxed);
    };
    // By frame pointers from (pc, sp, bp) within gp's stack.
    let walk = |pc, sp, bp| {
        let mut n = 0;
        // SAFETY: gp's stack is mapped for the life of the process (stacks
        // are never unmapped); walk_frames checks every read against it.
        unsafe {
            walk_frames(pc, sp, bp, (*gp).stack, SIGNAL_FRAMES, |f| {
                record(n, f);
                n += 1;
            })
        }
    };
    let mut n = 0;
    if status == GSYSCALL {
        // SAFETY: gp is this thread's G, interrupted inside its system
        // call: its syscall context is set and only it changes it.
        let (spc, ssp, sbp) = unsafe { ((*gp).syscallpc, (*gp).syscallsp, (*gp).syscallbp) };
        n = walk(spc, ssp, sbp);
    }
    if n == 0 {
        crate::signal::unwind_with(pc, &mut |f| {
            if n == SIGNAL_FRAMES {
                return false;
            }
            record(n, f);
            n += 1;
            true
        });
    }
    if n < 2 {
        n = walk(pc, sp, bp);
    }
    SIGNALLED_LEN.store(n, Ordering::Relaxed);
    SIGNALLED_STATUS.store(status, Ordering::Relaxed);
    SIGNALLED_G.store(gp, Ordering::Relaxed);
}

/// `SIGQUIT: quit` / `PC=0x.. m=N sigcode=C`, Go's first lines.
fn signal_header(w: &mut impl core::fmt::Write) {
    let (name, desc) = crate::signal::signame(QUIT_SIG.load(Ordering::Relaxed) as libc::c_int);
    let _ = writeln!(
        w,
        "{name}: {desc}\nPC={:#x} m={} sigcode={}",
        QUIT_PC.load(Ordering::Relaxed),
        QUIT_M.load(Ordering::Relaxed),
        QUIT_CODE.load(Ordering::Relaxed)
    );
}

extern "C" fn sigquit(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext.
    unsafe { report_signal(sig, (*info).si_code, ctx as *const libc::ucontext_t) };
}

/// Called by sysmon after each sleep: dump and exit if SIGQUIT arrived.
pub fn check_sigquit() {
    if QUIT.load(Ordering::Acquire) == READY {
        dump_and_exit();
    }
}

/// One physical frame of a stack walk: its pc (exact for the innermost
/// frame, a return address for the others), its stack pointer, and `fp`,
/// Go's frame pointer: the top of the frame, which is the caller's stack
/// pointer just above the return address (for frames that keep rbp,
/// `rbp + 16`; for the unwind tables, the CFA). `sp`/`fp` are 0 where
/// the walk does not know them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawFrame {
    /// Program counter.
    pub pc: usize,
    /// Stack pointer in this frame.
    pub sp: usize,
    /// The frame's top (the caller's stack pointer).
    pub fp: usize,
}

/// Walk a stack by its saved frame pointers from the innermost frame's
/// context (pc, sp, bp), calling `push` with each frame, innermost first,
/// at most `max`; returns how many. Each frame pointer must lie inside
/// `stack` and above the previous one, else the walk ends there (that
/// frame's `fp` unknown). Allocates nothing: the signal handlers use it.
///
/// # Safety
/// `stack` is mapped readable memory for the whole call (a goroutine stack:
/// never unmapped). Every read is checked to lie inside it.
pub(crate) unsafe fn walk_frames(
    pc: usize,
    sp: usize,
    mut bp: usize,
    stack: Stack,
    max: usize,
    mut push: impl FnMut(RawFrame),
) -> usize {
    if pc == 0 || max == 0 {
        return 0;
    }
    let mut cur = RawFrame { pc, sp, fp: 0 };
    let mut last_bp = 0;
    let mut n = 0;
    loop {
        let known = bp > last_bp && bp.is_multiple_of(8) && bp >= stack.lo && bp + 16 <= stack.hi;
        if known {
            cur.fp = bp + 16;
        }
        push(cur);
        n += 1;
        if !known || n == max {
            return n;
        }
        // SAFETY: bp..bp+16 lies inside the G's stack, which stays mapped.
        let (next_bp, ret) = unsafe {
            (
                core::ptr::read_volatile(bp as *const usize),
                core::ptr::read_volatile((bp + 8) as *const usize),
            )
        };
        if ret == 0 {
            return n;
        }
        cur = RawFrame {
            pc: ret,
            sp: bp + 16,
            fp: 0,
        };
        last_bp = bp;
        bp = next_bp;
    }
}

/// The frames of a stack, innermost first, from (pc, sp, bp): see
/// [`walk_frames`].
///
/// # Safety
/// As [`walk_frames`].
pub unsafe fn frame_walk(
    pc: usize,
    sp: usize,
    bp: usize,
    stack: Stack,
    max: usize,
) -> Vec<RawFrame> {
    let mut v = Vec::new();
    // SAFETY: forwarded to the caller.
    unsafe { walk_frames(pc, sp, bp, stack, max, |f| v.push(f)) };
    v
}

/// `name` without rustc's `::h<16 hex>` hash suffix.
pub fn strip_hash(name: &str) -> &str {
    match name.rfind("::h") {
        Some(i) if name.len() - i == 19 && name[i + 3..].bytes().all(|b| b.is_ascii_hexdigit()) => {
            &name[..i]
        }
        _ => name,
    }
}

// ---------------------------------------------------------------------------
// GOTRACEBACK: how much a failure report shows (Go's gotraceback()).
//
// The setting is read once from the environment at start-up (`schedinit`)
// into one word, `TRACEBACK`: the level in the bits above 2, then `ALL` and
// `CRASH`. Go's values:
//
// | GOTRACEBACK      | level | all | crash |
// |------------------|-------|-----|-------|
// | `none`           | 0     |     |       |
// | `single`, unset  | 1     |     |       |
// | `all`            | 1     | yes |       |
// | `system`         | 2     | yes |       |
// | `crash`          | 2     | yes | yes   |
// | a number N       | N     | yes |       |
// | anything else    | 0     | yes |       |
//
// Level 0 prints no goroutine at all; level 1 hides the runtime's own frames
// and goroutines (the scavenger); level 2 shows everything. `all` adds every
// other goroutine after the failing one; `crash` ends the process with
// SIGABRT after the report so that the kernel writes a core. What a given
// failure shows also depends on its kind ([`Failure`]), as in Go.

const TRACEBACK_ALL: u32 = 1;
const TRACEBACK_CRASH: u32 = 2;
const TRACEBACK_SHIFT: u32 = 2;
/// The GOTRACEBACK setting (see above); `single` until `schedinit` reads
/// the environment.
static TRACEBACK: AtomicU32 = AtomicU32::new(1 << TRACEBACK_SHIFT);

/// Read GOTRACEBACK (Go's `setTraceback`). Called once in `schedinit`.
pub(crate) fn set_traceback(value: Option<&str>) {
    let t = match value.unwrap_or("") {
        "none" => 0,
        "single" | "" => 1 << TRACEBACK_SHIFT,
        "all" => 1 << TRACEBACK_SHIFT | TRACEBACK_ALL,
        "system" => 2 << TRACEBACK_SHIFT | TRACEBACK_ALL,
        "crash" => 2 << TRACEBACK_SHIFT | TRACEBACK_ALL | TRACEBACK_CRASH,
        other => match other.parse::<u8>() {
            Ok(n) => (n as u32) << TRACEBACK_SHIFT | TRACEBACK_ALL,
            Err(_) => TRACEBACK_ALL,
        },
    };
    TRACEBACK.store(t, Ordering::Relaxed);
}

/// What is being reported (Go's `m.throwing`): it decides, with
/// GOTRACEBACK, how much the report shows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Failure {
    /// An uncaught panic: GOTRACEBACK alone decides.
    Panic,
    /// A fatal error the program caused (deadlock): every goroutine, at
    /// GOTRACEBACK's level.
    Fatal,
    /// A fatal error inside the runtime (throw, stack overflow, a fatal
    /// signal, SIGQUIT): every goroutine with the runtime's frames.
    Throw,
}

/// How much a report of `kind` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traceback {
    /// 0: no goroutines; 1: the program's frames; 2: the runtime's too.
    pub level: u8,
    /// Print every goroutine, not only the failing one.
    pub all: bool,
    /// End with SIGABRT (a core) instead of exit status 2.
    pub crash: bool,
}

/// Go's `gotraceback()` for a failure of `kind`.
pub fn gotraceback(kind: Failure) -> Traceback {
    let t = TRACEBACK.load(Ordering::Relaxed);
    Traceback {
        level: if kind == Failure::Throw {
            2
        } else {
            (t >> TRACEBACK_SHIFT) as u8
        },
        all: kind >= Failure::Fatal || t & TRACEBACK_ALL != 0,
        crash: t & TRACEBACK_CRASH != 0,
    }
}

// ---------------------------------------------------------------------------
// Symbolising and printing frames: the one formatter of every report
// (panics, fatal errors, SIGQUIT, `runtime::stack`).

/// One symbolised frame (an inlined call is a frame of its own).
#[derive(Clone, Debug)]
pub struct Frame {
    /// Demangled function name without rustc's hash.
    pub function: String,
    /// Source file and line, if the DWARF has them.
    pub location: Option<(String, u32)>,
    /// Offset of the pc from the start of its (outer) function.
    pub offset: u64,
    /// The physical frame, on the outermost function of its pc (an
    /// inlined call has none, as in Go): what level 2 prints as
    /// ` fp=.. sp=.. pc=..`.
    pub at: Option<RawFrame>,
}

/// Symbolise `walked` (the first pc is exact, the others return
/// addresses) with the binary's DWARF.
pub fn symbolize(walked: &[RawFrame], loader: Option<&addr2line::Loader>) -> Vec<Frame> {
    let bias = self_bias();
    let mut frames = Vec::new();
    for (i, raw) in walked.iter().enumerate() {
        let before = frames.len();
        symbolize_one(&mut frames, raw.pc.wrapping_sub(bias), i == 0, loader);
        if let Some(outer) = frames[before..].last_mut() {
            outer.at = Some(*raw);
        }
    }
    frames
}

/// The load bias of this process's binary (run-time minus file addresses;
/// non-zero for a PIE). Read once: a report of 10,000 goroutines asks for
/// it once per goroutine.
fn self_bias() -> usize {
    static BIAS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BIAS.get_or_init(|| {
        std::fs::File::open("/proc/self/exe")
            .and_then(|mut f| {
                let mut h = [0u8; 64];
                std::io::Read::read_exact(&mut f, &mut h).map(|_| h)
            })
            .map_or(0, |h| crate::asyncpreempt::load_bias(&h))
    })
}

thread_local! {
    /// The frames of each (file pc, exact) symbolised with DWARF on this
    /// thread. Code does not move, so an entry stays true for the life of
    /// the process; a report of 10,000 goroutines parked at the same few
    /// places looks each place up once instead of once per goroutine.
    static SYMBOLIZED: std::cell::RefCell<std::collections::HashMap<(usize, bool), Vec<Frame>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Push the frames at file address `pc` (innermost inlined first): an
/// exact pc when `exact`, else a return address (looked up at `pc - 1`).
fn symbolize_one(
    frames: &mut Vec<Frame>,
    pc: usize,
    exact: bool,
    loader: Option<&addr2line::Loader>,
) {
    if loader.is_none() {
        symbolize_uncached(frames, pc, exact, None);
        return;
    }
    let hit = SYMBOLIZED.with(|c| {
        c.borrow()
            .get(&(pc, exact))
            .map(|f| frames.extend_from_slice(f))
    });
    if hit.is_none() {
        let before = frames.len();
        symbolize_uncached(frames, pc, exact, loader);
        let got = frames[before..].to_vec();
        SYMBOLIZED.with(|c| c.borrow_mut().insert((pc, exact), got));
    }
}

fn symbolize_uncached(
    frames: &mut Vec<Frame>,
    pc: usize,
    exact: bool,
    loader: Option<&addr2line::Loader>,
) {
    let probe = if exact { pc } else { pc - 1 } as u64;
    let before = frames.len();
    if let Some(l) = loader {
        let offset = l
            .find_symbol_info(probe)
            .map(|s| pc as u64 - s.address())
            .unwrap_or(0);
        if let Ok(mut fs) = l.find_frames(probe) {
            while let Ok(Some(f)) = fs.next() {
                let name = f
                    .function
                    .as_ref()
                    .and_then(|n| n.demangle().ok().map(|c| c.into_owned()))
                    .unwrap_or_else(|| "?".to_string());
                frames.push(Frame {
                    function: strip_hash(&name).to_string(),
                    location: f
                        .location
                        .map(|loc| (loc.file.unwrap_or("?").to_string(), loc.line.unwrap_or(0))),
                    offset,
                    at: None,
                });
            }
        }
        if frames.len() == before
            && let Some(s) = l.find_symbol_info(probe)
        {
            let name = addr2line::demangle_auto(s.name().into(), None);
            frames.push(Frame {
                function: strip_hash(&name).to_string(),
                location: None,
                offset,
                at: None,
            });
        }
    }
    if frames.len() == before
        && let Some((function, offset)) = shared_library_symbol(pc, exact)
    {
        frames.push(Frame {
            function,
            location: None,
            offset,
            at: None,
        });
    }
    if frames.len() == before {
        frames.push(Frame {
            function: format!("?pc={pc:#x}"),
            location: None,
            offset: 0,
            at: None,
        });
    }
}

/// The function of a shared library (libc's `read`, ...) at file address
/// `pc` of no function of the binary, and the pc's offset in it, from the
/// dynamic loader's symbols (`dladdr`).
fn shared_library_symbol(pc: usize, exact: bool) -> Option<(String, u64)> {
    let at = pc.wrapping_add(self_bias());
    let probe = if exact { at } else { at.wrapping_sub(1) };
    // SAFETY: an all-zero Dl_info is valid (null pointers); dladdr fills it.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables for this address.
    if unsafe { libc::dladdr(probe as *const libc::c_void, &mut info) } == 0
        || info.dli_sname.is_null()
        || info.dli_saddr.is_null()
    {
        return None;
    }
    // SAFETY: dladdr's name is a NUL-terminated string of the loader's.
    let name = unsafe { core::ffi::CStr::from_ptr(info.dli_sname) };
    let name = addr2line::demangle_auto(name.to_string_lossy(), None);
    Some((
        strip_hash(&name).to_string(),
        at.wrapping_sub(info.dli_saddr as usize) as u64,
    ))
}

/// Whether `function` belongs to the runtime or to Rust's panic and
/// closure machinery: hidden below GOTRACEBACK=system, as Go hides
/// `runtime.*` frames.
pub fn is_runtime_frame(function: &str) -> bool {
    let f = function.trim_start_matches('<');
    [
        "runtime::",
        "runtime.",
        "std::panicking",
        "std::panic::",
        "core::panic::",
        "core::panicking",
        "core::ops::function::",
        "std::sys::backtrace",
        "__rust",
        "rust_begin_unwind",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

/// Print `frames` in Go's `function(...)` / `\tfile:line +0xoff` form,
/// leaving out the runtime's frames below `level` 2; at level 2 a physical
/// frame's line ends with Go's ` fp=0x.. sp=0x.. pc=0x..` (Go's
/// `gentraceback` prints them for `level >= 2`; an inlined call has none).
pub fn write_frames(out: &mut String, frames: &[Frame], level: u8) {
    for f in frames {
        if level < 2 && is_runtime_frame(&f.function) {
            continue;
        }
        let _ = writeln!(out, "{}(...)", f.function);
        match &f.location {
            Some((file, line)) => {
                let _ = write!(out, "\t{file}:{line} +{:#x}", f.offset);
            }
            None => {
                let _ = write!(out, "\t? +{:#x}", f.offset);
            }
        }
        if let Some(r) = f.at
            && level >= 2
            && r.fp != 0
            && r.sp != 0
        {
            let _ = write!(out, " fp={:#x} sp={:#x} pc={:#x}", r.fp, r.sp, r.pc);
        }
        out.push('\n');
    }
}

/// Symbolise `walked` (see [`symbolize`]) and print every frame (level 2).
pub fn format_frames(out: &mut String, walked: &[RawFrame], loader: Option<&addr2line::Loader>) {
    write_frames(out, &symbolize(walked, loader), 2);
}

/// Whether `gp` is one of the runtime's own goroutines (Go's
/// `isSystemGoroutine`): left out of reports below GOTRACEBACK=system.
pub fn is_system_goroutine(gp: *mut G) -> bool {
    crate::scavenge::is_scavenger(gp)
}

/// Go's goroutine header: `goroutine 7 [chan receive, 3 minutes]:`, and
/// `, locked to thread` inside the brackets for a G wired to its thread.
///
/// # Safety
/// `gp` is a G from `runtime.allgs` (never freed; read racily).
pub unsafe fn goroutine_header(out: &mut String, gp: *mut G) {
    // SAFETY: forwarded to the caller.
    unsafe { goroutine_header_as(out, gp, readgstatus(gp)) }
}

/// [`goroutine_header`] with the status `st` the G had when it was seen
/// (the signalled goroutine: at the signal).
///
/// # Safety
/// As [`goroutine_header`].
unsafe fn goroutine_header_as(out: &mut String, gp: *mut G, st: u32) {
    // SAFETY: Gs are never freed; fields read racily (see module docs).
    unsafe {
        let what = match st {
            GWAITING => (*gp).waitreason.as_str(),
            _ => gstatus_str(st),
        };
        let mut mins = String::new();
        let since = atomic_i64(&raw mut (*gp).waitsince).load(Ordering::Relaxed);
        if st == GWAITING && since != 0 {
            let m = (crate::time::nanotime() - since) / 60_000_000_000;
            if m >= 1 {
                mins = format!(", {m} minutes");
            }
        }
        let locked = if (*gp).lockedm.is_null() {
            ""
        } else {
            ", locked to thread"
        };
        let _ = writeln!(
            out,
            "goroutine {} [{}{}{}]:",
            (*gp).goid,
            what,
            mins,
            locked
        );
    }
}

/// Where a goroutine was made, as read from its G: the creating
/// goroutine, the return address of the `go` call (`G.gopc`) and the
/// call's file:line. Read while the world may be stopped; symbolised when
/// written.
#[derive(Clone, Copy)]
pub struct Creator {
    parent: i64,
    pc: usize,
    file: &'static str,
    line: u32,
}

impl Creator {
    /// The creator of `gp`; None for the main goroutine, which the runtime
    /// creates.
    ///
    /// # Safety
    /// As [`goroutine_header`].
    pub unsafe fn of(gp: *mut G) -> Option<Creator> {
        // SAFETY: as goroutine_header.
        unsafe {
            let (file, line) = (*gp).created_at()?;
            let parent = (*gp).parent_goid;
            (parent != 0).then_some(Creator {
                parent,
                pc: (*gp).gopc,
                file,
                line,
            })
        }
    }

    /// Go's `created by main.main in goroutine 1` / `\tfile:line +0xoff`
    /// lines. The function is the one that holds the `go` call (the
    /// innermost frame at its return address); without symbols the line is
    /// `created by goroutine 1` and the file:line has no offset.
    pub fn write(&self, out: &mut String, loader: Option<&addr2line::Loader>) {
        let mut frames = Vec::new();
        if self.pc != 0 && loader.is_some() {
            symbolize_one(
                &mut frames,
                self.pc.wrapping_sub(self_bias()),
                false,
                loader,
            );
        }
        match frames.first().filter(|f| !f.function.starts_with("?pc=")) {
            Some(f) => {
                let _ = writeln!(
                    out,
                    "created by {} in goroutine {}\n\t{}:{} +{:#x}",
                    f.function, self.parent, self.file, self.line, f.offset
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "created by goroutine {}\n\t{}:{}",
                    self.parent, self.file, self.line
                );
            }
        }
    }
}

/// Go's `created by ...` lines for `gp` (nothing for the main goroutine):
/// [`Creator::write`].
///
/// # Safety
/// As [`goroutine_header`].
pub unsafe fn goroutine_creator(out: &mut String, gp: *mut G, loader: Option<&addr2line::Loader>) {
    // SAFETY: forwarded to the caller.
    if let Some(c) = unsafe { Creator::of(gp) } {
        c.write(out, loader);
    }
}

/// What a report shows of one goroutine that is not running on this
/// thread, read without symbolising (cheap: a stop-the-world report reads
/// every G while the world is stopped and symbolises after).
pub struct GoroutineSnapshot {
    /// `goroutine N [state]:` line.
    head: String,
    /// Its frames (empty: running on another thread).
    frames: Vec<RawFrame>,
    /// Where it was made (None: the main goroutine).
    creator: Option<Creator>,
}

impl GoroutineSnapshot {
    /// Read `gp` (None for a dead G, and for a system goroutine below
    /// `level` 2).
    ///
    /// # Safety
    /// `gp` is a G from `runtime.allgs` (never freed; read racily).
    pub unsafe fn read(gp: *mut G, level: u8) -> Option<GoroutineSnapshot> {
        // SAFETY: Gs are never freed; their fields are read racily (a G
        // may change state while we look; see the module docs).
        unsafe {
            let st = readgstatus(gp);
            if st == GDEAD || st == GIDLE || (level < 2 && is_system_goroutine(gp)) {
                return None;
            }
            let mut head = String::new();
            goroutine_header(&mut head, gp);
            let stack = (*gp).stack;
            let frames = match st {
                GRUNNING => Vec::new(),
                GSYSCALL => {
                    frame_walk((*gp).syscallpc, (*gp).syscallsp, (*gp).syscallbp, stack, 64)
                }
                _ => frame_walk((*gp).sched.pc, (*gp).sched.sp, (*gp).sched.bp, stack, 64),
            };
            let creator = Creator::of(gp);
            Some(GoroutineSnapshot {
                head,
                frames,
                creator,
            })
        }
    }

    /// Append Go's text for it: header, frames at `level`, creation site.
    pub fn write(&self, out: &mut String, level: u8, loader: Option<&addr2line::Loader>) {
        out.push_str(&self.head);
        if self.frames.is_empty() {
            out.push_str("\tgoroutine running on other thread; stack unavailable\n");
        } else {
            write_frames(out, &symbolize(&self.frames, loader), level);
        }
        if let Some(c) = &self.creator {
            c.write(out, loader);
        }
    }
}

/// The text Go prints for one goroutine that is not running on this
/// thread (see [`GoroutineSnapshot`]).
///
/// # Safety
/// `gp` is a G from `runtime.allgs` (never freed; read racily).
pub unsafe fn goroutine_text(
    gp: *mut G,
    level: u8,
    loader: Option<&addr2line::Loader>,
) -> Option<String> {
    // SAFETY: forwarded to the caller.
    let snap = unsafe { GoroutineSnapshot::read(gp, level) }?;
    let mut out = String::new();
    snap.write(&mut out, level, loader);
    Some(out)
}

/// Go's `runtime.Stack(buf, all)`: the calling goroutine's stack as text -
/// `goroutine N [running]:`, its frames, its creation site - and with
/// `all` every other goroutine after a blank line, in the format of the
/// SIGQUIT dump (the same formatter), without the runtime's frames and
/// goroutines (Go's level 1). With `all` the world is stopped while the
/// goroutines are read (as Go does), so none of them is caught running;
/// symbolising happens after the world runs again.
pub fn stack(all: bool) -> String {
    let me = crate::signal::curg();
    let walked = crate::signal::unwind_frames(100);
    // SAFETY: me is null or the running G of this thread.
    let on_goroutine = !me.is_null() && unsafe { !(*me).m.is_null() && !(*(*me).m).p.is_null() };
    let mut others = Vec::new();
    if all {
        if on_goroutine {
            // SAFETY: on a user goroutine holding a P.
            unsafe { crate::proc::stop_the_world() };
        }
        crate::proc::for_each_g(|gp| {
            if gp != me {
                // SAFETY: gp comes from allgs.
                others.extend(unsafe { GoroutineSnapshot::read(gp, 1) });
            }
        });
        if on_goroutine {
            // SAFETY: we stopped the world above.
            unsafe { crate::proc::start_the_world(gomaxprocs_now()) };
        }
    }
    let mut out = String::new();
    crate::asm::systemstack(|| {
        let loader = addr2line::Loader::new("/proc/self/exe").ok();
        if !me.is_null() {
            // SAFETY: me is the running G of this thread.
            unsafe { goroutine_header(&mut out, me) };
            write_frames(&mut out, &symbolize(&walked, loader.as_ref()), 1);
            // SAFETY: as above.
            unsafe { goroutine_creator(&mut out, me, loader.as_ref()) };
        }
        for snap in &others {
            out.push('\n');
            snap.write(&mut out, 1, loader.as_ref());
        }
    });
    out
}

/// Every goroutine but `except` (Go's `tracebackothers`), each preceded by
/// a blank line.
pub fn goroutines_text(
    out: &mut String,
    except: *mut G,
    level: u8,
    loader: Option<&addr2line::Loader>,
) {
    crate::proc::for_each_g(|gp| {
        if gp == except {
            return;
        }
        // SAFETY: gp comes from allgs (Gs are never freed).
        if let Some(t) = unsafe { goroutine_text(gp, level, loader) } {
            out.push('\n');
            out.push_str(&t);
        }
    });
}

/// The signalled goroutine's block of the report, as it was at the signal
/// (`goroutine N [running]:`, its frames from the signal's context, its
/// creator), and the G; None when the signalled thread ran no goroutine.
/// Only after `QUIT` was seen `READY`.
fn signalled_text(loader: Option<&addr2line::Loader>) -> Option<(*mut G, String)> {
    let gp = SIGNALLED_G.load(Ordering::Relaxed);
    if gp.is_null() {
        return None;
    }
    let n = SIGNALLED_LEN.load(Ordering::Relaxed);
    let walked: Vec<RawFrame> = (0..n)
        .map(|i| RawFrame {
            pc: SIGNALLED_PC[i].load(Ordering::Relaxed),
            sp: SIGNALLED_SP[i].load(Ordering::Relaxed),
            fp: SIGNALLED_FP[i].load(Ordering::Relaxed),
        })
        .collect();
    let mut out = String::new();
    // SAFETY: gp was the signalled thread's G, from allgs (never freed).
    unsafe { goroutine_header_as(&mut out, gp, SIGNALLED_STATUS.load(Ordering::Relaxed)) };
    write_frames(&mut out, &symbolize(&walked, loader), 2);
    if n == SIGNAL_FRAMES {
        out.push_str("...additional frames elided...\n");
    }
    // SAFETY: as above.
    unsafe { goroutine_creator(&mut out, gp, loader) };
    Some((gp, out))
}

/// Print Go's report of SIGQUIT (or of a SIGSEGV/SIGBUS sent with kill):
/// the header, the signalled goroutine as it was at the signal, then every
/// other goroutine; exit 2 (or crash, with GOTRACEBACK=crash).
pub fn dump_and_exit() -> ! {
    let mut out = String::new();
    signal_header(&mut out);
    let loader = addr2line::Loader::new("/proc/self/exe").ok();
    let mut except = core::ptr::null_mut();
    if let Some((gp, text)) = signalled_text(loader.as_ref()) {
        out.push('\n');
        out.push_str(&text);
        except = gp;
    }
    goroutines_text(&mut out, except, 2, loader.as_ref());
    let b = out.as_bytes();
    let mut off = 0;
    while off < b.len() {
        // SAFETY: writes our own buffer to fd 2.
        let r = unsafe { libc::write(2, b[off..].as_ptr().cast(), b.len() - off) };
        if r <= 0 {
            break;
        }
        off += r as usize;
    }
    crate::signal::fatal_exit(gotraceback(Failure::Throw).crash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_walk_stays_in_stack() {
        // A fake stack: two frames chained, then a bp outside the stack.
        let mut mem = vec![0usize; 64];
        let base = mem.as_mut_ptr() as usize;
        let st = Stack {
            lo: base,
            hi: base + 64 * 8,
        };
        mem[10] = base + 20 * 8; // frame 1: saved bp -> frame 2
        mem[11] = 0x1111; // return address
        mem[20] = 0xdead_0000; // frame 2: saved bp outside -> stop
        mem[21] = 0x2222;
        // SAFETY: st is our Vec's memory.
        let frames = unsafe { frame_walk(0x1000, base + 8 * 8, base + 10 * 8, st, 16) };
        let f = |pc, sp, fp| RawFrame { pc, sp, fp };
        assert_eq!(
            frames,
            vec![
                f(0x1000, base + 8 * 8, base + 12 * 8),
                f(0x1111, base + 12 * 8, base + 22 * 8),
                // Its frame pointer is outside the stack: top unknown.
                f(0x2222, base + 22 * 8, 0),
            ]
        );
        assert_eq!(
            strip_hash("echo::handle::h0123456789abcdef"),
            "echo::handle"
        );
        assert_eq!(strip_hash("main.main"), "main.main");
    }
}
