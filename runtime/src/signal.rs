//! Failing like Go: fatal errors, panics, signals.
//!
//! * [`throw`] prints `fatal error: <msg>` (Go's `throw`); deadlock
//!   detection prints Go's message and every goroutine ([`fatal_deadlock`]).
//! * A panic that the goroutine catches (`std::panic::catch_unwind` around
//!   the code, Go's `recover`) is not fatal: the program goes on. The panic
//!   hook only records the message and the program counters of the
//!   panicking stack in the G (`G.panic`); nothing is printed. Every
//!   goroutine's body (and `main.main`) runs inside [`run_goroutine`], which
//!   catches what nobody else did: an uncaught panic, after its unwinding
//!   ran every `Drop` (Go's deferred calls), prints `panic: <message>`, a
//!   blank line, `goroutine N [running]:` and the frames recorded by the
//!   hook (Go's `fatalpanic`). A panic on a g0 or on a thread the runtime
//!   does not run cannot be caught by a goroutine: it is reported at once.
//!   Unwinding works through goroutine stacks because every frame between
//!   the panic and the goroutine's entry is Rust code with unwind tables,
//!   and the entry (`runtime.goexit`'s callee) catches before the asm
//!   trampoline, whose CFI ends the stack.
//! * SIGSEGV/SIGBUS run on a per-M alternate signal stack (installed by
//!   `minit`). A fault in the guard page below the running goroutine's
//!   stack (or with the stack pointer below the stack) prints Go's
//!   `fatal error: stack overflow` naming the goroutine; any other fault
//!   prints `fatal error: unexpected signal during runtime execution` with
//!   Go's `[signal ...]` line. A SIGSEGV or SIGBUS sent by another process
//!   (`kill`, si_code `SI_USER`) is not a fault: as Go, the report is
//!   `SIGSEGV: segmentation violation` / `PC=... m=N sigcode=0`, the
//!   goroutine the signalled thread runs, unwound from the signal's
//!   context, and every other goroutine, printed by sysmon as for SIGQUIT
//!   (traceback.rs).
//! * How much each report shows follows GOTRACEBACK, as in Go (see
//!   traceback.rs): `none`, `single` (default), `all`, `system`, `crash`.
//! * Every fatal path leaves through the same door as a normal exit,
//!   `runtime.exit(2)` ([`fatal_exit`]); with GOTRACEBACK=crash it raises
//!   SIGABRT instead (default action, unblocked) so the kernel writes a
//!   core, as Go's `crash()` does. A crash from the signal handler raises
//!   it inside the handler, so the core's backtrace runs through the
//!   handler's frame and glibc's `__restore_rt` (`<signal handler called>`
//!   in gdb) into the faulting code.
//!
//! Everything printed from a signal handler or with locks held goes through
//! a small stack buffer and `write(2)`: no allocation, no std locks; reports
//! that symbolise (and so allocate) run on g0's stack under a 5 s alarm.

use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::asm::getg;
use crate::runtime2::{G, M, Stack};
use crate::traceback::RawFrame;

/// A fixed buffer that writes to fd 2 when full or dropped.
pub struct ErrWriter {
    buf: [u8; 512],
    n: usize,
}

impl Default for ErrWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrWriter {
    /// An empty writer.
    pub const fn new() -> ErrWriter {
        ErrWriter {
            buf: [0; 512],
            n: 0,
        }
    }

    /// Write the buffered bytes to stderr.
    pub fn flush(&mut self) {
        let mut off = 0;
        while off < self.n {
            // SAFETY: writing our own buffer to fd 2.
            let r = unsafe { libc::write(2, self.buf[off..].as_ptr().cast(), self.n - off) };
            if r <= 0 {
                break;
            }
            off += r as usize;
        }
        self.n = 0;
    }
}

impl core::fmt::Write for ErrWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.n == self.buf.len() {
                self.flush();
            }
            self.buf[self.n] = b;
            self.n += 1;
        }
        Ok(())
    }
}

impl Drop for ErrWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Exit the process now with `code` (no atexit handlers, like Go's exit).
/// Only `runtime.exit` calls it: every exit, fatal or not, goes through
/// that one door.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) takes any status and has no other precondition; it
    // ends the process without running atexit handlers.
    unsafe { libc::_exit(code) }
}

/// End the process after a failure report: `runtime.exit(2)`, or with
/// `crash` (GOTRACEBACK=crash) SIGABRT so the kernel writes a core (Go's
/// `crash()`). Async-signal-safe.
pub fn fatal_exit(crash: bool) -> ! {
    if crash {
        die_from_signal(libc::SIGABRT);
    }
    crate::rt0::exit_door(2)
}

/// Die of `sig` (Go's `dieFromSignal`): its default action, unblocked, on
/// this thread; `runtime.exit(2)` should the process survive it.
fn die_from_signal(sig: libc::c_int) {
    // SAFETY: async-signal-safe calls on this thread's own signal state.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut());
        libc::raise(sig);
    }
}

/// The current G if it is a user goroutine (not a g0), else null.
pub fn curg() -> *mut G {
    let gp = getg();
    if gp.is_null() {
        return gp;
    }
    // SAFETY: gp is this thread's g; its m is valid while it runs.
    unsafe {
        let mp = (*gp).m;
        if mp.is_null() {
            return core::ptr::null_mut();
        }
        if (*mp).g0 == gp { (*mp).curg } else { gp }
    }
}

/// Go's `throw`: print `fatal error: msg` and exit 2.
#[cold]
#[inline(never)]
pub fn throw(msg: &str) -> ! {
    throw_fmt(format_args!("{msg}"))
}

/// `throw` with a formatted message.
#[cold]
#[inline(never)]
pub fn throw_fmt(args: core::fmt::Arguments<'_>) -> ! {
    // A throw while a throw is being reported (the report itself failed)
    // prints its message only.
    static THROWING: AtomicBool = AtomicBool::new(false);
    let mut w = ErrWriter::new();
    let _ = w.write_str("fatal error: ");
    let _ = w.write_fmt(args);
    let _ = w.write_str("\n");
    let tb = crate::traceback::gotraceback(crate::traceback::Failure::Throw);
    let (gp, cg) = (getg(), curg());
    if !THROWING.swap(true, Ordering::AcqRel) && !gp.is_null() {
        // Where we are: this frame (its pc, rsp and rbp), so the report
        // starts at the throw and walks the frame-pointer chain outwards.
        let (pc, sp, bp): (usize, usize, usize);
        // SAFETY: reads three registers; frame pointers are forced on
        // (.cargo/config.toml), so rbp is this function's frame.
        unsafe {
            core::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                pc = out(reg) pc,
                sp = out(reg) sp,
                bp = out(reg) bp,
            );
        }
        // SAFETY: gp is this thread's g (not null, checked above); its
        // stack is the one we run on, and G objects are never freed.
        let st = unsafe { (*gp).stack };
        if gp == cg {
            // SAFETY: cg == gp, not null.
            let _ = write!(w, "\ngoroutine {} [running]:\n", unsafe { (*cg).goid });
        } else {
            // On g0 (the scheduler, a system call's hand-off): Go's
            // "runtime stack" of the system goroutine, then every goroutine.
            let _ = w.write_str("\nruntime stack:\n");
        }
        w.flush();
        fault_traceback(gp, pc, sp, bp, st);
    }
    w.flush();
    fatal_exit(tb.crash)
}

/// Deadlock: print `fatal error: <msg>` and every goroutine the way Go
/// does (`goroutine N [wait reason]:`, its frames unwound from the saved
/// context, `created by FUNC in goroutine P` and the spawn site; GOTRACEBACK's
/// level, as Go's `fatal`), then `runtime.exit(2)`; with `GODEBUG`
/// traces on, the detailed scheduler trace between the message and the
/// goroutines, as Go's `startpanic_m` prints it. Called as Go's checkdead
/// calls `fatal`: after it released sched.lock (no goroutine can run),
/// never from a signal handler (it allocates); the DWARF is read on g0's
/// stack.
#[cold]
#[inline(never)]
pub fn fatal_deadlock(msg: &str) -> ! {
    let tb = crate::traceback::gotraceback(crate::traceback::Failure::Fatal);
    let mut w = ErrWriter::new();
    let _ = writeln!(w, "fatal error: {msg}");
    w.flush();
    crate::sysmon::schedtrace_on_fatal();
    if tb.level > 0 {
        crate::asm::systemstack(|| {
            let loader = addr2line::Loader::new("/proc/self/exe").ok();
            let mut out = String::new();
            crate::traceback::goroutines_text(
                &mut out,
                core::ptr::null_mut(),
                tb.level,
                loader.as_ref(),
            );
            let _ = w.write_str(&out);
        });
    }
    w.flush();
    fatal_exit(tb.crash)
}

/// What a panicking goroutine leaves for [`run_goroutine`]: the panic's
/// message and the frames of its stack at the panic, innermost first.
/// Owned by the G (`G.panic`) until the G reports or dies.
pub struct PanicRecord {
    /// The payload as text (`&str` and `String` payloads; others are
    /// `Box<dyn Any>`, as std prints them).
    pub message: String,
    /// The frames from the hook up to the goroutine's entry.
    pub frames: Vec<RawFrame>,
}

/// Walk the calling thread's stack with the unwind tables
/// (`_Unwind_Backtrace`), innermost first, calling `push` with each frame
/// until it returns false. The frames before the one at `from_pc` are
/// skipped when `from_pc` is not 0: from a signal handler, the handler's
/// own frames and the kernel's signal frame, so that the walk starts at
/// the interrupted pc.
///
/// Stack pointers: while the unwinder calls back for a frame, its
/// `_Unwind_GetCFA` is still the CFA of the frame before (the callee's
/// CFA, which is this frame's stack pointer; for the interrupted frame,
/// the signal frame's CFA: the interrupted rsp). So a frame's `sp` is the
/// CFA seen at its own callback and its `fp` (its own CFA) the one seen at
/// the next callback: each frame is pushed one callback late, the last
/// with `fp` unknown.
///
/// Allocates nothing and takes no lock of ours, so a signal handler may
/// call it: the unwinder finds the tables with `_dl_find_object` or
/// `dl_iterate_phdr`, whose lock is recursive, and reads them in place
/// (Go's handler walks its own tables the same way). Stops at the
/// goroutine's entry trampoline, whose CFI ends the stack, or at the first
/// frame without tables.
pub(crate) fn unwind_with(from_pc: usize, push: &mut dyn FnMut(RawFrame) -> bool) {
    unsafe extern "C" {
        fn _Unwind_Backtrace(
            trace: extern "C" fn(*mut libc::c_void, *mut libc::c_void) -> libc::c_int,
            arg: *mut libc::c_void,
        ) -> libc::c_int;
        fn _Unwind_GetIP(ctx: *mut libc::c_void) -> usize;
        fn _Unwind_GetCFA(ctx: *mut libc::c_void) -> usize;
    }
    struct Walk<'a> {
        from_pc: usize,
        started: bool,
        /// The frame seen at the previous callback, waiting for its `fp`.
        pending: Option<RawFrame>,
        /// `push` said stop.
        done: bool,
        push: &'a mut dyn FnMut(RawFrame) -> bool,
    }
    extern "C" fn step(ctx: *mut libc::c_void, arg: *mut libc::c_void) -> libc::c_int {
        const STOP: libc::c_int = 5; // _URC_END_OF_STACK
        const GO_ON: libc::c_int = 0; // _URC_NO_REASON
        // SAFETY: arg is the &mut Walk below; ctx is the unwinder's context,
        // valid during the callback.
        let (w, ip, cfa) = unsafe {
            (
                &mut *(arg as *mut Walk<'_>),
                _Unwind_GetIP(ctx),
                _Unwind_GetCFA(ctx),
            )
        };
        if ip == 0 {
            return STOP;
        }
        if !w.started {
            if ip != w.from_pc {
                return GO_ON;
            }
            w.started = true;
        }
        if let Some(mut callee) = w.pending.take() {
            callee.fp = cfa;
            if !(w.push)(callee) {
                w.done = true;
                return STOP;
            }
        }
        w.pending = Some(RawFrame {
            pc: ip,
            sp: cfa,
            fp: 0,
        });
        GO_ON
    }
    let mut walk = Walk {
        from_pc,
        started: from_pc == 0,
        pending: None,
        done: false,
        push,
    };
    // SAFETY: the callback only touches walk, alive for the call.
    unsafe { _Unwind_Backtrace(step, (&raw mut walk).cast()) };
    if let Some(last) = walk.pending.take()
        && !walk.done
    {
        (walk.push)(last);
    }
}

/// The calling thread's frames, innermost first, at most `max` (see
/// [`unwind_with`]): the panicking frames are Rust code and std, whose
/// frame pointers are not guaranteed, but whose unwind tables are.
pub(crate) fn unwind_frames(max: usize) -> Vec<RawFrame> {
    let mut frames = Vec::with_capacity(64);
    unwind_with(0, &mut |f| {
        frames.push(f);
        frames.len() < max
    });
    frames
}

fn payload_message(payload: &(dyn core::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// Install the panic hook (see the module docs) - once, in schedinit.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let record = Box::new(PanicRecord {
            message: payload_message(info.payload()),
            frames: unwind_frames(128),
        });
        let gp = getg();
        // SAFETY: gp is this thread's g; its m is valid while it runs.
        let on_goroutine = !gp.is_null() && unsafe { !(*gp).m.is_null() && (*(*gp).m).g0 != gp };
        if !on_goroutine {
            // Nothing can catch a panic on g0 or a foreign thread.
            report_panic(curg(), &record)
        }
        // SAFETY: the G's own field, only touched by the G itself.
        unsafe {
            let old = core::mem::replace(&mut (*gp).panic, Box::into_raw(record));
            if !old.is_null() {
                drop(Box::from_raw(old));
            }
        }
    }));
}

/// Free the panic record a G left (it recovered, or it is dying).
///
/// # Safety
/// `gp` is the current G, or a dead one owned by the caller.
pub(crate) unsafe fn drop_panic_record(gp: *mut G) {
    // SAFETY: per the contract, nobody else touches gp.panic.
    unsafe {
        let old = core::mem::replace(&mut (*gp).panic, core::ptr::null_mut());
        if !old.is_null() {
            drop(Box::from_raw(old));
        }
    }
}

/// Run a goroutine's body (and `main.main`): a panic it does not catch
/// itself ends the program with Go's report (Go's `fatalpanic`).
pub fn run_goroutine<F: FnOnce()>(f: F) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let gp = getg();
        // SAFETY: gp is the current G; the hook left its record there.
        let record = unsafe { core::mem::replace(&mut (*gp).panic, core::ptr::null_mut()) };
        let record = if record.is_null() {
            PanicRecord {
                message: payload_message(&*payload),
                frames: Vec::new(),
            }
        } else {
            // SAFETY: made by Box::into_raw in the hook.
            *unsafe { Box::from_raw(record) }
        };
        // Dropping the payload could run user code that panics again.
        core::mem::forget(payload);
        report_panic(gp, &record)
    }
}

/// Whether `function` is the panic machinery between the panic hook and
/// the frame that panicked (the recorded stack starts with it).
fn is_panic_machinery(function: &str) -> bool {
    let f = function.trim_start_matches('<');
    [
        "std::panicking",
        "core::panicking",
        "std::sys::backtrace",
        "rust_begin_unwind",
        "__rustc::",
        "runtime::signal::",
        "_Unwind",
        "?pc=",
        "core::option::expect_failed",
        "core::option::unwrap_failed",
        "core::result::unwrap_failed",
    ]
    .iter()
    .any(|p| f.starts_with(p))
        // The call of the hook itself (through its Box<dyn Fn>).
        || f.contains("PanicHookInfo")
}

/// Go's `fatalpanic`: `panic: <message>`, the panicking goroutine's frames
/// (GOTRACEBACK decides how many, and whether the other goroutines
/// follow), then `runtime.exit(2)` (or SIGABRT with GOTRACEBACK=crash).
fn report_panic(gp: *mut G, record: &PanicRecord) -> ! {
    let tb = crate::traceback::gotraceback(crate::traceback::Failure::Panic);
    // Go's fatalpanic: startpanic_m (the scheduler trace, when GODEBUG
    // asks for traces), then the panic.
    crate::sysmon::schedtrace_on_fatal();
    crate::asm::systemstack(|| {
        let mut out = format!("panic: {}\n", record.message);
        if tb.level > 0 {
            let loader = addr2line::Loader::new("/proc/self/exe").ok();
            let mut frames = crate::traceback::symbolize(&record.frames, loader.as_ref());
            let start = frames
                .iter()
                .position(|f| !is_panic_machinery(&f.function))
                .unwrap_or(frames.len());
            frames.drain(..start);
            out.push('\n');
            if gp.is_null() {
                out.push_str("runtime stack:\n");
            } else {
                // SAFETY: gp is the panicking G (running, so live).
                unsafe { crate::traceback::goroutine_header(&mut out, gp) };
            }
            crate::traceback::write_frames(&mut out, &frames, tb.level);
            if !gp.is_null() {
                // SAFETY: as above.
                unsafe { crate::traceback::goroutine_creator(&mut out, gp, loader.as_ref()) };
            }
            if tb.all {
                crate::traceback::goroutines_text(&mut out, gp, tb.level, loader.as_ref());
            }
        }
        let mut w = ErrWriter::new();
        let _ = w.write_str(&out);
        w.flush();
    });
    fatal_exit(tb.crash)
}

/// The signal mask of the main thread at start-up (Go's initSigmask): new
/// Ms are created with all signals blocked and install this mask in minit.
static mut INIT_SIGMASK: core::mem::MaybeUninit<libc::sigset_t> = core::mem::MaybeUninit::zeroed();

/// Install SIGSEGV/SIGBUS handlers (process-wide). Called once in schedinit.
pub fn initsig() {
    // SAFETY: single-threaded start-up; INIT_SIGMASK is written once here.
    unsafe {
        libc::pthread_sigmask(
            libc::SIG_SETMASK,
            core::ptr::null(),
            (&raw mut INIT_SIGMASK).cast(),
        );
    }
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let sa = SigAction::new(
        SigHandler::SigAction(sighandler),
        SaFlags::SA_SIGINFO | SaFlags::SA_ONSTACK,
        SigSet::empty(),
    );
    for sig in [Signal::SIGSEGV, Signal::SIGBUS] {
        // SAFETY: the handler only uses async-signal-safe operations (reads
        // of runtime structures, write(2), _exit).
        if let Err(e) = unsafe { sigaction(sig, &sa) } {
            throw_fmt(format_args!("runtime: sigaction: {e}"));
        }
    }
}

const SIGSTACK_SIZE: usize = 64 << 10;

/// Give this thread (M) an alternate signal stack.
///
/// # Safety
/// Called on `mp`'s own thread, once.
pub unsafe fn minit_signals(mp: *mut M) {
    // SAFETY: a fresh private mapping becomes this thread's sigaltstack.
    unsafe {
        let p = libc::mmap(
            core::ptr::null_mut(),
            SIGSTACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            throw("runtime: cannot allocate signal stack");
        }
        let ss = libc::stack_t {
            ss_sp: p,
            ss_flags: 0,
            ss_size: SIGSTACK_SIZE,
        };
        if libc::sigaltstack(&ss, core::ptr::null_mut()) != 0 {
            throw("runtime: sigaltstack failed");
        }
        (*mp).gsignal = Stack {
            lo: p as usize,
            hi: p as usize + SIGSTACK_SIZE,
        };
        // The thread was created with every signal blocked (newosproc):
        // install the start-up mask, and never block the synchronous
        // signals the runtime handles (a blocked SIGSEGV kills silently).
        let mut mask: libc::sigset_t = *(&raw const INIT_SIGMASK).cast::<libc::sigset_t>();
        for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
            libc::sigdelset(&mut mask, sig);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &mask, core::ptr::null_mut());
    }
}

/// At most this many frames of a faulting goroutine are printed (Go
/// prints 100, then `...additional frames elided...`).
const FAULT_FRAMES: usize = 100;

/// Print the frames of the goroutine `gp` that faulted (from the faulting
/// `pc` and `sp` and the frame-pointer chain at `bp` within `st`), its
/// creation site, and every other goroutine: Go's report of a runtime
/// throw.
///
/// Called from the SIGSEGV handler. Symbolising allocates, so it runs on
/// g0's stack (the signal stack is small), under a 5 s alarm that exits 2:
/// should the fault have hit inside malloc, its lock is held by this very
/// thread and the report must not hang the process.
fn fault_traceback(gp: *mut G, pc: usize, sp: usize, bp: usize, st: Stack) {
    extern "C" fn alarm_exit(_: libc::c_int) {
        crate::rt0::exit_door(2)
    }
    // SAFETY: installing a handler that only exits; alarm(2).
    unsafe {
        libc::signal(libc::SIGALRM, alarm_exit as *const () as libc::sighandler_t);
        libc::alarm(5);
    }
    crate::asm::systemstack(|| {
        // SAFETY: st is the faulting goroutine's stack (never unmapped);
        // frame_walk checks every read against it.
        let walked = unsafe { crate::traceback::frame_walk(pc, sp, bp, st, FAULT_FRAMES) };
        let loader = addr2line::Loader::new("/proc/self/exe").ok();
        let mut out = String::new();
        crate::traceback::format_frames(&mut out, &walked, loader.as_ref());
        if walked.len() == FAULT_FRAMES {
            out.push_str("...additional frames elided...\n");
        }
        // SAFETY: gp is the faulting G (running on this thread).
        unsafe { crate::traceback::goroutine_creator(&mut out, gp, loader.as_ref()) };
        crate::traceback::goroutines_text(&mut out, gp, 2, loader.as_ref());
        let mut w = ErrWriter::new();
        let _ = w.write_str(&out);
        w.flush();
    });
    // SAFETY: alarm(2) cancels the pending alarm.
    unsafe { libc::alarm(0) };
}

extern "C" fn sighandler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext.
    let (addr, code, sp, pc, bp) = unsafe {
        let uc = ctx as *mut libc::ucontext_t;
        (
            (*info).si_addr() as usize,
            (*info).si_code,
            (*uc).uc_mcontext.gregs[libc::REG_RSP as usize] as usize,
            (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize,
            (*uc).uc_mcontext.gregs[libc::REG_RBP as usize] as usize,
        )
    };
    let gp = getg();
    if code == libc::SI_USER || code == libc::SI_TKILL {
        // Sent by kill(2) or tgkill(2), not a fault (Go's sigFromUser):
        // si_addr holds the sender's pid and uid, not an address. Reported like SIGQUIT (Go's sighandler for
        // a _SigPanic signal with SI_USER), the goroutine this thread runs
        // unwound from `ctx`.
        // SAFETY: ctx is the kernel's ucontext for this signal.
        unsafe { crate::traceback::report_signal(sig, code, ctx as *const libc::ucontext_t) };
        return;
    }
    let tb = crate::traceback::gotraceback(crate::traceback::Failure::Throw);
    let mut w = ErrWriter::new();
    if !gp.is_null() {
        // SAFETY: gp is this thread's g.
        let (st, is_g0, goid) = unsafe {
            let mp = (*gp).m;
            ((*gp).stack, !mp.is_null() && (*mp).g0 == gp, (*gp).goid)
        };
        let guard = crate::stack::guard_size().max(4096);
        let in_guard =
            st.lo != 0 && addr < st.lo && addr >= st.lo.saturating_sub(guard + (64 << 10));
        let sp_below = st.lo != 0 && sp < st.lo && sp >= st.lo.saturating_sub(1 << 20);
        if in_guard || sp_below {
            let limit = st.hi - st.lo;
            let _ = write!(
                w,
                "runtime: goroutine stack exceeds {limit}-byte limit\n\
                 runtime: sp={sp:#x} stack=[{:#x}, {:#x}]\n\
                 fatal error: stack overflow\n",
                st.lo, st.hi
            );
            if is_g0 {
                let _ = w.write_str("\nruntime stack (g0)\n");
            } else {
                let _ = write!(w, "\ngoroutine {goid} [running]:\n");
                w.flush();
                fault_traceback(gp, pc, sp, bp, st);
            }
            w.flush();
            fatal_exit(tb.crash);
        }
    }
    let (name, desc) = signame(sig);
    let _ = write!(
        w,
        "fatal error: unexpected signal during runtime execution\n\
         [signal {name}: {desc} code={code:#x} addr={addr:#x} pc={pc:#x}]\n"
    );
    let cg = curg();
    if !cg.is_null() {
        // SAFETY: cg is this thread's current G, not null (checked above),
        // and G objects are never freed.
        let _ = write!(w, "\ngoroutine {} [running]:\n", unsafe { (*cg).goid });
        w.flush();
        if cg == gp {
            // SAFETY: the stack of the G running on this thread.
            fault_traceback(gp, pc, sp, bp, unsafe { (*gp).stack });
        }
    }
    w.flush();
    fatal_exit(tb.crash)
}

/// Go's names for the signals the runtime reports.
pub fn signame(sig: libc::c_int) -> (&'static str, &'static str) {
    match sig {
        libc::SIGSEGV => ("SIGSEGV", "segmentation violation"),
        libc::SIGBUS => ("SIGBUS", "bus error"),
        libc::SIGQUIT => ("SIGQUIT", "quit"),
        _ => ("SIG?", "signal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceback::{Failure, Traceback, gotraceback, set_traceback};

    #[test]
    fn panic_machinery_is_recognised() {
        for f in [
            "std::panicking::begin_panic_handler::{{closure}}",
            "core::panicking::panic_fmt",
            "runtime::signal::install_panic_hook::{{closure}}",
            "<core::option::expect_failed>",
        ] {
            assert!(is_panic_machinery(f), "{f}");
        }
        assert!(!is_panic_machinery("crash_panic::boom"));
    }

    #[test]
    fn gotraceback_like_go() {
        let t = |level, all, crash| Traceback { level, all, crash };
        let cases = [
            (
                None,
                [t(1, false, false), t(1, true, false), t(2, true, false)],
            ),
            (
                Some("none"),
                [t(0, false, false), t(0, true, false), t(2, true, false)],
            ),
            (
                Some("all"),
                [t(1, true, false), t(1, true, false), t(2, true, false)],
            ),
            (
                Some("system"),
                [t(2, true, false), t(2, true, false), t(2, true, false)],
            ),
            (
                Some("crash"),
                [t(2, true, true), t(2, true, true), t(2, true, true)],
            ),
            (
                Some("bogus"),
                [t(0, true, false), t(0, true, false), t(2, true, false)],
            ),
        ];
        for (env, want) in cases {
            set_traceback(env);
            let got = [Failure::Panic, Failure::Fatal, Failure::Throw].map(gotraceback);
            assert_eq!(got, want, "GOTRACEBACK={env:?}");
        }
        set_traceback(None);
    }
}
