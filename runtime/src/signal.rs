//! Failing like Go: fatal errors, panics, signals.
//!
//! * [`throw`] prints `fatal error: <msg>` and exits with status 2 (Go's
//!   `throw`); deadlock detection uses it with Go's message.
//! * A panic in any goroutine prints `panic: <message>`, a blank line,
//!   `goroutine N [running]:` and a backtrace, then exits with status 2. It
//!   is a std panic hook that never returns, so no panic ever unwinds -
//!   in particular never across the `extern "C"` entry of a goroutine. The
//!   backtrace is captured on the goroutine's stack (cheap: program counters
//!   only) and symbolised on the M's g0 stack (`systemstack`), which is big.
//! * SIGSEGV/SIGBUS run on a per-M alternate signal stack (installed by
//!   `minit`). A fault in the guard page below the running goroutine's
//!   stack (or with the stack pointer below the stack) prints Go's
//!   `fatal error: stack overflow` naming the goroutine; any other fault
//!   prints `fatal error: unexpected signal during runtime execution` with
//!   Go's `[signal ...]` line. Both exit with status 2.
//!
//! Everything printed from a signal handler or with locks held goes through
//! a small stack buffer and `write(2)`: no allocation, no std locks.

use core::fmt::Write as _;

use crate::asm::getg;
use crate::runtime2::{G, M, Stack};

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
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns.
    unsafe { libc::_exit(code) }
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

fn goroutine_header(w: &mut ErrWriter, gp: *mut G, state: &str) {
    if gp.is_null() {
        return;
    }
    // SAFETY: gp is a live G.
    unsafe {
        let _ = write!(w, "\ngoroutine {} [{}]:\n", (*gp).goid, state);
        if let Some((f, l)) = (*gp).created_at() {
            let _ = write!(w, "created at {}:{}", f, l);
            if (*gp).parent_goid != 0 {
                let _ = write!(w, " by goroutine {}", (*gp).parent_goid);
            }
            let _ = w.write_str("\n");
        }
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
    let mut w = ErrWriter::new();
    let _ = w.write_str("fatal error: ");
    let _ = w.write_fmt(args);
    let _ = w.write_str("\n");
    goroutine_header(&mut w, curg(), "running");
    w.flush();
    exit_now(2)
}

/// Deadlock: print `fatal error: <msg>` and every goroutine the way Go
/// does (`goroutine N [wait reason]:`, its frames unwound from the saved
/// context, `created by goroutine P` and the spawn site), exit 2. Called
/// with sched.lock held, never from a signal handler (it allocates); the
/// DWARF is read on g0's stack.
#[cold]
#[inline(never)]
pub fn fatal_deadlock(msg: &str) -> ! {
    let mut w = ErrWriter::new();
    let _ = writeln!(w, "fatal error: {msg}");
    crate::asm::systemstack(|| {
        let loader = addr2line::Loader::new("/proc/self/exe").ok();
        crate::proc::for_each_g(|gp| {
            // SAFETY: gp comes from allgs (Gs are never freed).
            if let Some(t) = unsafe { crate::traceback::goroutine_text(gp, loader.as_ref()) } {
                let _ = w.write_str("\n");
                let _ = w.write_str(&t);
            }
        });
    });
    w.flush();
    exit_now(2)
}

/// Install the panic hook (Go's panic printing) - once, in schedinit.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg: &str = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.as_str()
        } else {
            "Box<dyn Any>"
        };
        let gp = curg();
        // Capture on this stack (program counters only), symbolise on g0's.
        let bt = std::backtrace::Backtrace::force_capture();
        let loc = info.location().map(|l| (l.file(), l.line()));
        crate::asm::systemstack(|| {
            let goid = if gp.is_null() {
                0
            } else {
                // SAFETY: a live G (the panicking one).
                unsafe { (*gp).goid }
            };
            let text = format_panic(msg, goid, loc, &bt.to_string());
            let mut w = ErrWriter::new();
            let _ = w.write_str(&text);
            w.flush();
        });
        exit_now(2)
    }));
}

/// Format a panic report the way Go does (`panic: msg`, blank line,
/// `goroutine N [running]:`, then one `function()` / `\tfile:line` pair per
/// frame of the panicking goroutine). `bt` is std's backtrace text.
pub fn format_panic(msg: &str, goid: i64, loc: Option<(&str, u32)>, bt: &str) -> String {
    let mut out = String::new();
    out.push_str("panic: ");
    out.push_str(msg);
    out.push('\n');
    // Go prints no location on the panic line; the first frame below
    // carries it. `loc` is used only when there is no backtrace.
    let mut loc = loc;
    out.push_str(&format!("\ngoroutine {goid} [running]:\n"));
    // Parse std's "  N: name\n      at file:line:col" lines.
    let mut frames: Vec<(String, Option<String>)> = Vec::new();
    for line in bt.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("at ") {
            if let Some(last) = frames.last_mut()
                && last.1.is_none()
            {
                let loc = match rest.rsplit_once(':') {
                    Some((fl, col)) if col.chars().all(|c| c.is_ascii_digit()) => fl,
                    _ => rest,
                };
                last.1 = Some(loc.to_string());
            }
            continue;
        }
        if let Some((num, name)) = t.split_once(": ")
            && num.chars().all(|c| c.is_ascii_digit())
        {
            frames.push((name.to_string(), None));
        }
    }
    // Drop the panic machinery (everything up to the last panicking frame)
    // and anything below the goroutine's entry trampoline.
    let start = frames
        .iter()
        .rposition(|(n, _)| {
            n.contains("panicking") || n.contains("rust_begin_unwind") || n.contains("panic_fmt")
        })
        .map_or(0, |i| i + 1);
    if frames.len() > start {
        loc = None;
    }
    if let Some((f, l)) = loc {
        out.push_str(&format!("panic()\n\t{f}:{l}\n"));
    }
    for (name, loc) in &frames[start..] {
        out.push_str(name);
        out.push_str("()\n");
        if let Some(l) = loc {
            out.push('\t');
            out.push_str(l);
            out.push('\n');
        }
        if name == "runtime.goexit" || name.ends_with("rt0_amd64") {
            break;
        }
    }
    out
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

fn signame(sig: libc::c_int) -> (&'static str, &'static str) {
    match sig {
        libc::SIGSEGV => ("SIGSEGV", "segmentation violation"),
        libc::SIGBUS => ("SIGBUS", "bus error"),
        _ => ("SIG?", "signal"),
    }
}

/// At most this many frames of an overflowing goroutine are printed (Go
/// prints 100, then `...additional frames elided...`).
const OVERFLOW_FRAMES: usize = 100;

/// Print the frames of the goroutine that overflowed its stack (from the
/// faulting `pc` and the frame-pointer chain at `bp`), as Go does.
///
/// Called from the SIGSEGV handler. Symbolising allocates, so it runs on
/// g0's stack (the signal stack is small), under a 5 s alarm that exits 2:
/// should the overflow have hit inside malloc, its lock is held by this
/// very thread and the report must not hang the process.
fn overflow_traceback(pc: usize, bp: usize, st: Stack) {
    extern "C" fn alarm_exit(_: libc::c_int) {
        exit_now(2)
    }
    // SAFETY: installing a handler that only calls _exit; alarm(2).
    unsafe {
        libc::signal(libc::SIGALRM, alarm_exit as *const () as libc::sighandler_t);
        libc::alarm(5);
    }
    crate::asm::systemstack(|| {
        // SAFETY: st is the faulting goroutine's stack (never unmapped);
        // frame_pcs checks every read against it.
        let pcs = unsafe { crate::traceback::frame_pcs(pc, bp, st, OVERFLOW_FRAMES) };
        let loader = addr2line::Loader::new("/proc/self/exe").ok();
        let mut out = String::new();
        crate::traceback::format_frames(&mut out, &pcs, loader.as_ref());
        if pcs.len() == OVERFLOW_FRAMES {
            out.push_str("...additional frames elided...\n");
        }
        let mut w = ErrWriter::new();
        let _ = w.write_str(&out);
        w.flush();
    });
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
                overflow_traceback(pc, bp, st);
                // SAFETY: gp live.
                unsafe {
                    if let Some((f, l)) = (*gp).created_at().filter(|_| (*gp).parent_goid != 0) {
                        let _ =
                            write!(w, "created by goroutine {}\n\t{f}:{l}\n", (*gp).parent_goid);
                    }
                }
            }
            w.flush();
            exit_now(2);
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
        // SAFETY: live G.
        let _ = write!(w, "\ngoroutine {} [running]:\n", unsafe { (*cg).goid });
    }
    w.flush();
    exit_now(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_format_is_go_like() {
        let bt = "   0: std::backtrace::Backtrace::force_capture\n             at /rustc/x/library/std/src/backtrace.rs:312:13\n   1: std::panicking::begin_panic_handler\n             at /rustc/x/std/src/panicking.rs:1:1\n   2: crash_panic::boom\n             at ./examples/src/bin/crash_panic.rs:7:5\n   3: main.main\n             at ./examples/src/bin/crash_panic.rs:12:5\n   4: runtime.goexit\n   5: whatever\n";
        let s = format_panic("boom", 7, None, bt);
        assert!(
            s.starts_with("panic: boom\n\ngoroutine 7 [running]:\n"),
            "{s}"
        );
        assert!(
            s.contains("crash_panic::boom()\n\t./examples/src/bin/crash_panic.rs:7\n"),
            "{s}"
        );
        assert!(s.contains("main.main()\n"), "{s}");
        assert!(!s.contains("whatever"), "{s}");
        assert!(!s.contains("force_capture"), "{s}");
    }
}
