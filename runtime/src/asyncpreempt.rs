//! Asynchronous preemption by signal, opt-in (`GODEBUG=asyncpreempt=1`)
//! and only at points the runtime can prove safe (Go's preempt.go
//! `asyncPreempt`, `isAsyncSafePoint`).
//!
//! # Why it is opt-in twice
//!
//! Cooperative preemption (sysmon.rs) only works where the code calls a
//! safe point. A tight loop that never does can be stopped only by a
//! signal - but a signal lands on an arbitrary instruction. Go makes that
//! safe with compiler-generated metadata; Rust has none, and an arbitrary
//! instruction of a Rust program may be holding a `std::sync::Mutex` (a
//! second goroutine on the same thread would then block the whole thread
//! on it), be inside glibc's `malloc` (per-thread arena lock), hold one of
//! the runtime's own futex locks, or hold a reference into a
//! `thread_local!` (the goroutine may resume on another thread). So:
//!
//! 1. the mechanism is off unless `GODEBUG=asyncpreempt=1`;
//! 2. a goroutine is eligible only while it runs inside
//!    [`async_preemptible`]`(|| ...)`: the *program* declares that this code
//!    takes no std/libc locks and keeps no thread-local borrows (typically
//!    a pure computation loop);
//!
//! and the signal handler additionally *proves*, for the interrupted
//! instruction:
//!
//! 3. it is in the program's own code: the PC lies in a function of the
//!    executable's symbol table whose demangled name belongs to the
//!    program's crate (`<crate>::...`, `<<crate>::T as ...>::...` or
//!    `main.main`). Never in libc, ld.so or the vDSO, never in the runtime,
//!    std, core or alloc;
//! 4. the thread holds no runtime lock (`lock::locks_held() == 0`, a
//!    per-thread count kept by `lock::Mutex`, counted before acquiring and
//!    uncounted after releasing);
//! 5. the goroutine is `Grunning` with a P, was asked to yield by sysmon
//!    (`G.preempt`), and is on its own stack with ≥ 16 KiB to spare.
//!
//! If any check fails the signal is ignored; sysmon asks again 10 ms later.
//!
//! # The switch
//!
//! The handler edits the signal context so that, on return, the thread
//! "calls" `runtime.asyncPreempt` from the interrupted PC: it stores the PC
//! 136 bytes below the interrupted rsp (skipping the 128-byte red zone of
//! the System V ABI that leaf functions may use without moving rsp) and
//! points rsp there. `runtime.asyncPreempt` saves rbp (making a normal frame,
//! so frame-pointer backtraces walk through it), the flags, every other
//! general register and the SSE state (`fxsave64`: the program is compiled
//! for baseline x86-64; AVX state is not used by code rule 3 admits), calls
//! `asyncPreempt2` (which parks the goroutine on the global run queue like
//! a cooperative preemption), and when the goroutine runs again restores
//! everything and returns with `ret $128`, which pops the PC and skips the
//! red zone: the interrupted code continues with every register intact.
//!
//! # State words
//!
//! * [`ENABLED`]: set once at start from GODEBUG; read by sysmon and the
//!   handler.
//! * The symbol table is built before `ENABLED` is set (release/acquire)
//!   and never changes afterwards, so the handler reads it without locks.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::asm::getg;
use crate::runtime2::*;

/// Asynchronous preemption is on (GODEBUG=asyncpreempt=1).
pub static ENABLED: AtomicBool = AtomicBool::new(false);
/// Goroutines preempted by signal so far.
pub(crate) static ASYNC_PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
/// Signals sent by sysmon so far.
pub static SIGNALS: AtomicU64 = AtomicU64::new(0);

/// A function of the executable: `[start, end)` and whether its code may be
/// interrupted (rule 3).
#[derive(Clone, Copy, Debug)]
struct Range {
    start: usize,
    end: usize,
    ok: bool,
}

static TABLE: AtomicPtr<Range> = AtomicPtr::new(core::ptr::null_mut());
static TABLE_LEN: AtomicUsize = AtomicUsize::new(0);

global_asm!(
    r#"
    .pushsection .text.runtime.asyncPreempt,"ax",@progbits
    .globl runtime.asyncPreempt
    .type runtime.asyncPreempt,@function
    .p2align 4
runtime.asyncPreempt:
    .cfi_startproc
    // Entered with [rsp] = interrupted pc and the caller's rsp 128 bytes
    // above that slot (red zone): CFA = rsp + 136.
    .cfi_def_cfa rsp, 136
    .cfi_offset rip, -136
    pushq %rbp
    .cfi_def_cfa_offset 144
    .cfi_offset rbp, -144
    movq %rsp, %rbp
    .cfi_def_cfa_register rbp
    pushfq
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rbx
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $512, %rsp
    andq $-64, %rsp
    fxsave64 (%rsp)
    cld
    call {preempt2}
    fxrstor64 (%rsp)
    leaq -120(%rbp), %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rbx
    popq %rdx
    popq %rcx
    popq %rax
    popfq
    popq %rbp
    .cfi_def_cfa rsp, 136
    ret $128
    .cfi_endproc
    .size runtime.asyncPreempt, .-runtime.asyncPreempt
    .popsection
"#,
    preempt2 = sym async_preempt2,
    options(att_syntax)
);

unsafe extern "C" {
    #[link_name = "runtime.asyncPreempt"]
    fn async_preempt_trampoline();
}

/// Called by `runtime.asyncPreempt` on the interrupted goroutine's stack:
/// yield exactly like a cooperative preemption.
#[unsafe(export_name = "runtime.asyncPreempt2")]
extern "C" fn async_preempt2() {
    let gp = getg();
    // SAFETY: the handler checked gp is the running user G of this M.
    unsafe { atomic_u32(&raw mut (*gp).preempt).store(0, Ordering::Relaxed) };
    ASYNC_PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
    crate::sysmon::PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: on a user goroutine (not g0), no runtime lock held.
    unsafe { crate::asm::mcall(crate::sysmon::gopreempt_m) };
}

/// Run `f` with the current goroutine eligible for asynchronous
/// preemption (when GODEBUG=asyncpreempt=1). `f` must take no locks (std,
/// libc, runtime), do no I/O and keep no thread-local borrows: typically a
/// pure computation loop. See the module docs for why.
pub fn async_preemptible<R>(f: impl FnOnce() -> R) -> R {
    let gp = getg();
    // SAFETY: gp is null or this thread's live g.
    let user = !gp.is_null() && unsafe { !(*gp).m.is_null() && (*(*gp).m).g0 != gp };
    if user {
        // SAFETY: the G's own field; the handler runs on this thread only
        // while this G runs, so a relaxed atomic is enough.
        unsafe { atomic_u32(&raw mut (*gp).asyncsafe).fetch_add(1, Ordering::Relaxed) };
    }
    let r = f();
    if user {
        // The G may have moved to another thread; getg() is the same G.
        let gp = getg();
        // SAFETY: as above.
        unsafe { atomic_u32(&raw mut (*gp).asyncsafe).fetch_sub(1, Ordering::Relaxed) };
    }
    r
}

fn crate_name() -> String {
    let a0 = crate::runtime1::os_args()
        .first()
        .cloned()
        .unwrap_or_default();
    let base = a0.rsplit('/').next().unwrap_or("").to_string();
    base.replace('-', "_")
}

fn rd<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off + N)?.try_into().ok()
}

/// Function symbols of an ELF64 little-endian file: (start, size, name).
fn elf_functions(b: &[u8]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let u16_at = |o: usize| rd::<2>(b, o).map(u16::from_le_bytes);
    let u32_at = |o: usize| rd::<4>(b, o).map(u32::from_le_bytes);
    let u64_at = |o: usize| rd::<8>(b, o).map(u64::from_le_bytes);
    if b.get(0..4) != Some(b"\x7fELF") || b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return out;
    }
    let (Some(shoff), Some(shentsize), Some(shnum)) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c))
    else {
        return out;
    };
    let sh = |i: usize| shoff as usize + i * shentsize as usize;
    for i in 0..shnum as usize {
        if u32_at(sh(i) + 4) != Some(2) {
            continue; // not SHT_SYMTAB
        }
        let (Some(off), Some(size), Some(link), Some(ent)) = (
            u64_at(sh(i) + 0x18),
            u64_at(sh(i) + 0x20),
            u32_at(sh(i) + 0x28),
            u64_at(sh(i) + 0x38),
        ) else {
            continue;
        };
        let Some(stroff) = u64_at(sh(link as usize) + 0x18) else {
            continue;
        };
        let ent = (ent as usize).max(24);
        for k in 0..size as usize / ent {
            let s = off as usize + k * ent;
            let (Some(name), Some(info), Some(value), Some(sz)) =
                (u32_at(s), b.get(s + 4), u64_at(s + 8), u64_at(s + 16))
            else {
                continue;
            };
            if info & 0xf != 2 || sz == 0 || value == 0 {
                continue; // not a sized STT_FUNC
            }
            let n0 = stroff as usize + name as usize;
            let Some(rest) = b.get(n0..) else { continue };
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            let raw = String::from_utf8_lossy(&rest[..end]).into_owned();
            out.push((value as usize, sz as usize, raw));
        }
    }
    out
}

/// Run-time address minus file address of the executable (non-zero for a
/// PIE): `AT_ENTRY` minus the ELF header's `e_entry`.
pub(crate) fn load_bias(b: &[u8]) -> usize {
    let e_entry = rd::<8>(b, 0x18).map_or(0, u64::from_le_bytes) as usize;
    // SAFETY: getauxval only reads the auxiliary vector.
    let at_entry = unsafe { libc::getauxval(libc::AT_ENTRY) } as usize;
    at_entry.wrapping_sub(e_entry)
}

/// Whether a function (demangled name) belongs to the program (rule 3).
pub fn program_code(name: &str, krate: &str) -> bool {
    if krate.is_empty() {
        return false;
    }
    let p = format!("{krate}::");
    name == "main.main"
        || name.starts_with(&p)
        || name.strip_prefix('<').is_some_and(|r| r.starts_with(&p))
}

/// Turn asynchronous preemption on: build the PC table, install the
/// SIGURG handler. Called once at start when GODEBUG asks for it.
pub fn enable() {
    let Ok(bytes) = std::fs::read("/proc/self/exe") else {
        return;
    };
    let krate = crate_name();
    let bias = load_bias(&bytes);
    let mut v: Vec<Range> = elf_functions(&bytes)
        .into_iter()
        .map(|(start, size, raw)| {
            let name = addr2line::demangle_auto(raw.as_str().into(), None);
            let name = crate::traceback::strip_hash(&name).to_string();
            Range {
                start: start.wrapping_add(bias),
                end: start.wrapping_add(bias) + size,
                ok: program_code(&name, &krate),
            }
        })
        .collect();
    v.sort_unstable_by_key(|r| r.start);
    let len = v.len();
    let p = Box::leak(v.into_boxed_slice()).as_mut_ptr();
    TABLE.store(p, Ordering::Release);
    TABLE_LEN.store(len, Ordering::Release);
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let sa = SigAction::new(
        SigHandler::SigAction(sigurg),
        SaFlags::SA_SIGINFO | SaFlags::SA_ONSTACK | SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only reads runtime state and edits its own
    // signal context (async-signal-safe).
    if unsafe { sigaction(Signal::SIGURG, &sa) }.is_ok() {
        ENABLED.store(true, Ordering::Release);
    }
}

/// Whether asynchronous preemption is on.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Ask `mp`'s thread to look at its goroutine now (sysmon, after setting
/// `G.preempt`).
///
/// # Safety
/// `mp` is a live M (Ms are never freed).
pub unsafe fn signal(mp: *mut M) {
    // SAFETY: tgkill to a thread of this process; a stale tid at worst
    // targets an exited thread (ESRCH).
    unsafe {
        let tid = (*mp).procid as libc::pid_t;
        if tid != 0 {
            libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGURG);
            SIGNALS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn pc_ok(pc: usize) -> bool {
    let p = TABLE.load(Ordering::Acquire);
    let n = TABLE_LEN.load(Ordering::Acquire);
    if p.is_null() {
        return false;
    }
    // SAFETY: the table is leaked and immutable once published.
    let t = unsafe { core::slice::from_raw_parts(p, n) };
    let i = t.partition_point(|r| r.start <= pc);
    i > 0 && pc < t[i - 1].end && t[i - 1].ok
}

extern "C" fn sigurg(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if !ENABLED.load(Ordering::Acquire) {
        return;
    }
    let gp = getg();
    if gp.is_null() {
        return;
    }
    // SAFETY: gp is this thread's g; ctx is the kernel's ucontext for this
    // signal, which we may edit before returning (rules in the module docs).
    unsafe {
        let mp = (*gp).m;
        if mp.is_null() || (*mp).g0 == gp || (*mp).p.is_null() {
            return;
        }
        if crate::proc::readgstatus(gp) != GRUNNING
            || atomic_u32(&raw mut (*gp).asyncsafe).load(Ordering::Relaxed) == 0
            || atomic_u32(&raw mut (*gp).preempt).load(Ordering::Relaxed) == 0
            || crate::lock::locks_held() != 0
        {
            return;
        }
        let uc = ctx as *mut libc::ucontext_t;
        let g = &mut (*uc).uc_mcontext.gregs;
        let pc = g[libc::REG_RIP as usize] as usize;
        let sp = g[libc::REG_RSP as usize] as usize;
        let st = (*gp).stack;
        if sp > st.hi || sp < st.lo + (16 << 10) || !pc_ok(pc) {
            return;
        }
        let nsp = sp - 128 - 8;
        core::ptr::write(nsp as *mut usize, pc);
        g[libc::REG_RSP as usize] = nsp as i64;
        g[libc::REG_RIP as usize] = async_preempt_trampoline as *const () as usize as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_code_allow_list() {
        assert!(program_code("asyncpreempt::spin", "asyncpreempt"));
        assert!(program_code(
            "asyncpreempt::main::{{closure}}",
            "asyncpreempt"
        ));
        assert!(program_code(
            "<asyncpreempt::S as core::fmt::Debug>::fmt",
            "asyncpreempt"
        ));
        assert!(program_code("main.main", "asyncpreempt"));
        assert!(!program_code(
            "runtime::chan::Chan<T>::send",
            "asyncpreempt"
        ));
        assert!(!program_code("std::io::stdio::_print", "asyncpreempt"));
        assert!(!program_code(
            "<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop",
            "x"
        ));
        assert!(!program_code("malloc", "asyncpreempt"));
        assert!(!program_code("anything", ""));
    }

    #[test]
    fn reads_own_function_symbols() {
        let b = std::fs::read("/proc/self/exe").unwrap();
        let f = elf_functions(&b);
        assert!(f.len() > 100, "{}", f.len());
        let me = (reads_own_function_symbols as *const () as usize).wrapping_sub(load_bias(&b));
        assert!(f.iter().any(|(s, n, _)| *s <= me && me < s + n));
    }
}
