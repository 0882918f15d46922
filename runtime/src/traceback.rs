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
//! pc, bp) by following the frame-pointer chain (every frame of the
//! workspace keeps rbp), each frame pointer checked to lie inside the G's
//! stack and to grow upward, so a G that starts running while we walk can
//! at worst give a truncated or odd trace, never a fault. A G in a system
//! call is unwound from where it entered the call (`G.syscallpc/bp`). A G
//! running on another thread has no saved context; Go prints `goroutine
//! running on other thread; stack unavailable` for it, and so do we.
//! Symbols and file:line come from the binary's own DWARF (addr2line on
//! /proc/self/exe).

use core::fmt::Write as _;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicUsize, Ordering};

use crate::proc::readgstatus;
use crate::runtime2::*;

/// 1 once SIGQUIT (or a SIGSEGV/SIGBUS sent with kill) arrived: the dump
/// is pending or running.
static QUIT: AtomicU32 = AtomicU32::new(0);
/// The signal to report (SIGQUIT, or SIGSEGV/SIGBUS from kill).
static QUIT_SIG: AtomicI64 = AtomicI64::new(libc::SIGQUIT as i64);
/// Set once sysmon can dump (the SIGQUIT handler is installed just before
/// sysmon's thread starts).
static DUMPER_READY: AtomicU32 = AtomicU32::new(0);
static QUIT_PC: AtomicUsize = AtomicUsize::new(0);
static QUIT_M: AtomicI64 = AtomicI64::new(-1);
static QUIT_CODE: AtomicI64 = AtomicI64::new(0);

/// Install the SIGQUIT handler (called when sysmon starts).
pub fn install_sigquit() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
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
    DUMPER_READY.store(1, Ordering::Release);
}

/// A SIGSEGV or SIGBUS sent by another process (`kill`): report it like
/// SIGQUIT (`SIGSEGV: segmentation violation`, `PC=.. m=.. sigcode=0`,
/// every goroutine; Go's report of a signal with SI_USER), then exit 2.
/// Called from the signal handler: async-signal-safe.
pub(crate) fn user_signal(sig: libc::c_int, pc: usize, code: libc::c_int) {
    if QUIT.swap(1, Ordering::AcqRel) != 0 {
        return;
    }
    QUIT_SIG.store(sig as i64, Ordering::Relaxed);
    QUIT_PC.store(pc, Ordering::Relaxed);
    QUIT_CODE.store(code as i64, Ordering::Relaxed);
    let gp = crate::asm::getg();
    // SAFETY: gp is this thread's g (or null); its m is valid.
    unsafe {
        if !gp.is_null() && !(*gp).m.is_null() {
            QUIT_M.store((*(*gp).m).id, Ordering::Relaxed);
        }
    }
    if DUMPER_READY.load(Ordering::Acquire) == 0 {
        // Before sysmon: nobody to dump the goroutines, only the header.
        let mut w = crate::signal::ErrWriter::new();
        signal_header(&mut w);
        w.flush();
        crate::signal::fatal_exit(gotraceback(Failure::Throw).crash);
    }
    crate::sysmon::wake_now();
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

extern "C" fn sigquit(_sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if QUIT.swap(1, Ordering::AcqRel) != 0 {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo and ucontext.
    unsafe {
        let uc = ctx as *mut libc::ucontext_t;
        QUIT_PC.store(
            (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize,
            Ordering::Relaxed,
        );
        QUIT_CODE.store((*info).si_code as i64, Ordering::Relaxed);
        let gp = crate::asm::getg();
        if !gp.is_null() && !(*gp).m.is_null() {
            QUIT_M.store((*(*gp).m).id, Ordering::Relaxed);
        }
    }
    // The handler is installed by sysmon::start just before sysmon's thread
    // is created, so sysmon runs (or will run) and checks QUIT after every
    // sleep, including its first.
    crate::sysmon::wake_now();
}

/// Called by sysmon after each sleep: dump and exit if SIGQUIT arrived.
pub fn check_sigquit() {
    if QUIT.load(Ordering::Acquire) != 0 {
        dump_and_exit();
    }
}

/// Program counters of a G's stack, innermost first, from (pc, bp),
/// following saved frame pointers within `stack`.
///
/// # Safety
/// `stack` is mapped readable memory for the whole call (a goroutine stack:
/// never unmapped). Every read is checked to lie inside it.
pub unsafe fn frame_pcs(pc: usize, mut bp: usize, stack: Stack, max: usize) -> Vec<usize> {
    let mut v = Vec::new();
    if pc == 0 {
        return v;
    }
    v.push(pc);
    while v.len() < max {
        if bp == 0 || !bp.is_multiple_of(8) || bp < stack.lo || bp + 16 > stack.hi {
            break;
        }
        // SAFETY: bp..bp+16 lies inside the G's stack, which stays mapped.
        let (next_bp, ret) = unsafe {
            (
                core::ptr::read_volatile(bp as *const usize),
                core::ptr::read_volatile((bp + 8) as *const usize),
            )
        };
        if ret == 0 {
            break;
        }
        v.push(ret);
        if next_bp <= bp {
            break;
        }
        bp = next_bp;
    }
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
}

/// Symbolise `pcs` (the first is an exact pc, the others return
/// addresses) with the binary's DWARF.
pub fn symbolize(pcs: &[usize], loader: Option<&addr2line::Loader>) -> Vec<Frame> {
    let bias = self_bias();
    let mut frames = Vec::new();
    for (i, &pc) in pcs.iter().enumerate() {
        symbolize_one(&mut frames, pc.wrapping_sub(bias), i == 0, loader);
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
            });
        }
    }
    if frames.len() == before {
        frames.push(Frame {
            function: format!("?pc={pc:#x}"),
            location: None,
            offset: 0,
        });
    }
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
/// leaving out the runtime's frames below `level` 2.
pub fn write_frames(out: &mut String, frames: &[Frame], level: u8) {
    for f in frames {
        if level < 2 && is_runtime_frame(&f.function) {
            continue;
        }
        let _ = writeln!(out, "{}(...)", f.function);
        match &f.location {
            Some((file, line)) => {
                let _ = writeln!(out, "\t{file}:{line} +{:#x}", f.offset);
            }
            None => {
                let _ = writeln!(out, "\t? +{:#x}", f.offset);
            }
        }
    }
}

/// Symbolise `pcs` (see [`symbolize`]) and print every frame (level 2).
pub fn format_frames(out: &mut String, pcs: &[usize], loader: Option<&addr2line::Loader>) {
    write_frames(out, &symbolize(pcs, loader), 2);
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
    // SAFETY: Gs are never freed; fields read racily (see module docs).
    unsafe {
        let st = readgstatus(gp);
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
    /// Its frames' program counters (empty: running on another thread).
    pcs: Vec<usize>,
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
            let pcs = match st {
                GRUNNING => Vec::new(),
                GSYSCALL => frame_pcs((*gp).syscallpc, (*gp).syscallbp, stack, 64),
                _ => frame_pcs((*gp).sched.pc, (*gp).sched.bp, stack, 64),
            };
            let creator = Creator::of(gp);
            Some(GoroutineSnapshot { head, pcs, creator })
        }
    }

    /// Append Go's text for it: header, frames at `level`, creation site.
    pub fn write(&self, out: &mut String, level: u8, loader: Option<&addr2line::Loader>) {
        out.push_str(&self.head);
        if self.pcs.is_empty() {
            out.push_str("\tgoroutine running on other thread; stack unavailable\n");
        } else {
            write_frames(out, &symbolize(&self.pcs, loader), level);
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
    let pcs = crate::signal::unwind_pcs(100);
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
            write_frames(&mut out, &symbolize(&pcs, loader.as_ref()), 1);
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

/// Print Go's SIGQUIT report (every goroutine) to stderr and exit 2 (or
/// crash, with GOTRACEBACK=crash).
pub fn dump_and_exit() -> ! {
    let mut out = String::new();
    signal_header(&mut out);
    let loader = addr2line::Loader::new("/proc/self/exe").ok();
    goroutines_text(&mut out, core::ptr::null_mut(), 2, loader.as_ref());
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
        let pcs = unsafe { frame_pcs(0x1000, base + 10 * 8, st, 16) };
        assert_eq!(pcs, vec![0x1000, 0x1111, 0x2222]);
        assert_eq!(
            strip_hash("echo::handle::h0123456789abcdef"),
            "echo::handle"
        );
        assert_eq!(strip_hash("main.main"), "main.main");
    }
}
