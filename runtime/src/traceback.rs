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
//! created by goroutine 1
//!         examples/src/bin/echo.rs:25
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

/// 1 once SIGQUIT arrived (the dump is pending or running).
static QUIT: AtomicU32 = AtomicU32::new(0);
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

/// Symbolise `pcs` (the first is an exact pc, the others return addresses)
/// into Go's `function()\n\tfile:line +0xoff\n` lines.
pub fn format_frames(out: &mut String, pcs: &[usize], loader: Option<&addr2line::Loader>) {
    // Run-time minus file addresses (non-zero for a PIE).
    let bias = std::fs::File::open("/proc/self/exe")
        .and_then(|mut f| {
            let mut h = [0u8; 64];
            std::io::Read::read_exact(&mut f, &mut h).map(|_| h)
        })
        .map_or(0, |h| crate::asyncpreempt::load_bias(&h));
    for (i, &pc) in pcs.iter().enumerate() {
        let pc = pc.wrapping_sub(bias);
        let probe = if i == 0 { pc } else { pc - 1 } as u64;
        let mut printed = false;
        if let Some(l) = loader {
            let off = l
                .find_symbol_info(probe)
                .map(|s| pc as u64 - s.address())
                .unwrap_or(0);
            if let Ok(mut frames) = l.find_frames(probe) {
                while let Ok(Some(f)) = frames.next() {
                    let name = f
                        .function
                        .as_ref()
                        .and_then(|n| n.demangle().ok().map(|c| c.into_owned()))
                        .unwrap_or_else(|| "?".to_string());
                    let _ = writeln!(out, "{}(...)", strip_hash(&name));
                    match f.location {
                        Some(loc) => {
                            let _ = writeln!(
                                out,
                                "\t{}:{} +{:#x}",
                                loc.file.unwrap_or("?"),
                                loc.line.unwrap_or(0),
                                off
                            );
                        }
                        None => {
                            let _ = writeln!(out, "\t? +{off:#x}");
                        }
                    }
                    printed = true;
                }
            }
            if !printed && let Some(s) = l.find_symbol_info(probe) {
                let name = addr2line::demangle_auto(s.name().into(), None);
                let _ = writeln!(out, "{}(...)\n\t? +{:#x}", strip_hash(&name), off);
                printed = true;
            }
        }
        if !printed {
            let _ = writeln!(out, "?(...)\n\t? pc={pc:#x}");
        }
    }
}

/// The text Go prints for one goroutine (header, frames, creation site).
///
/// # Safety
/// `gp` is a G from `runtime.allgs` (never freed; read racily).
pub unsafe fn goroutine_text(gp: *mut G, loader: Option<&addr2line::Loader>) -> Option<String> {
    // SAFETY: Gs are never freed; their fields are read racily (a G may
    // change state while we look; see the module docs).
    unsafe {
        let st = readgstatus(gp);
        if st == GDEAD || st == GIDLE {
            return None;
        }
        let mut out = String::new();
        let what = match st {
            GWAITING => (*gp).waitreason.as_str(),
            _ => gstatus_str(st),
        };
        let mut mins = String::new();
        if st == GWAITING && (*gp).waitsince != 0 {
            let m = (crate::time::nanotime() - (*gp).waitsince) / 60_000_000_000;
            if m >= 1 {
                mins = format!(", {m} minutes");
            }
        }
        let _ = writeln!(out, "goroutine {} [{}{}]:", (*gp).goid, what, mins);
        let stack = (*gp).stack;
        let pcs = match st {
            GRUNNING => Vec::new(),
            GSYSCALL => frame_pcs((*gp).syscallpc, (*gp).syscallbp, stack, 64),
            _ => frame_pcs((*gp).sched.pc, (*gp).sched.bp, stack, 64),
        };
        if pcs.is_empty() {
            out.push_str("\tgoroutine running on other thread; stack unavailable\n");
        } else {
            format_frames(&mut out, &pcs, loader);
        }
        // The main goroutine (created by the runtime, parent 0) has no
        // creation site in Go's dumps.
        if let Some((f, l)) = (*gp).created_at().filter(|_| (*gp).parent_goid != 0) {
            let _ = writeln!(
                out,
                "created by goroutine {}\n\t{}:{}",
                (*gp).parent_goid,
                f,
                l
            );
        }
        Some(out)
    }
}

/// Print Go's SIGQUIT report (every goroutine) to stderr and exit 2.
pub fn dump_and_exit() -> ! {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "SIGQUIT: quit\nPC={:#x} m={} sigcode={}",
        QUIT_PC.load(Ordering::Relaxed),
        QUIT_M.load(Ordering::Relaxed),
        QUIT_CODE.load(Ordering::Relaxed)
    );
    let loader = addr2line::Loader::new("/proc/self/exe").ok();
    crate::proc::for_each_g(|gp| {
        // SAFETY: gp comes from allgs.
        if let Some(t) = unsafe { goroutine_text(gp, loader.as_ref()) } {
            out.push('\n');
            out.push_str(&t);
        }
    });
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
    crate::signal::exit_now(2)
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
