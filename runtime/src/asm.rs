//! Hand-written assembly (Go's asm_amd64.s): the ELF entry point, the
//! thread-local `g`, and the context switch.
//!
//! # Thread-local g
//!
//! `runtime.tlsg` is an 8-byte TLS variable in `.tbss`, accessed with the
//! local-exec model (`%fs:runtime.tlsg@tpoff`). It holds the G running on
//! this thread: the M's g0 while the scheduler runs, the user G otherwise.
//! A debugger reads it at `fs_base + tpoff(runtime.tlsg)` for any thread.
//!
//! # Context switch
//!
//! * `runtime.gogo(gp)` (never returns) installs `gp` as the thread's g and
//!   restores `gp.sched`: sp, bp, the callee-saved registers, then jumps to
//!   pc. It zeroes `sched.sp/pc/bp` (a running G's context is in registers).
//! * `runtime.mcall(fn)` runs on a user G: it saves the G's context into
//!   `g.sched` *as if mcall had just returned* (pc = mcall's return address,
//!   sp = the caller's sp after `ret`, bp = the caller's rbp, plus
//!   rbx/r12-r15), switches to the M's g0 and its stack (`g0.sched.sp`), and
//!   calls `fn(gp)`, which must not return. Resuming the G later with
//!   `gogo` therefore looks to the G exactly like `mcall` returning. Because
//!   the saved (pc, sp, bp) is a state inside the caller's body, the
//!   caller's ordinary DWARF CFI unwinds a parked G to its entry.
//!   After the stack switch the CFI marks the return address undefined, so
//!   a backtrace taken on g0 ends at `runtime.mcall`.
//! * `runtime.systemstack(fn, arg)` calls `fn(arg)` on the M's g0 stack and
//!   returns (used where a deep call - symbolising a backtrace - must not run
//!   on a small goroutine stack). It keeps an rbp-based CFA so unwinding
//!   continues from g0 back onto the goroutine's stack.
//! * `runtime.goexit` is the bottom frame of every goroutine: a new G's
//!   context starts there with r12 = entry function and r13 = its argument.
//!   It calls `entry(arg)` and then `goexit1` (the G is finished). Its CFI
//!   says the return address is undefined: gdb stops unwinding there cleanly.

use core::arch::{asm, global_asm};
use core::mem::offset_of;

use crate::runtime2::{G, Gobuf, M};

global_asm!(
    r#"
    .pushsection .tbss,"awT",@nobits
    .globl runtime.tlsg
    .type runtime.tlsg,@object
    .size runtime.tlsg,8
    .p2align 3
runtime.tlsg:
    .zero 8
    .popsection

    .pushsection .text._rt0_amd64_linux,"ax",@progbits
    .globl _rt0_amd64_linux
    .type _rt0_amd64_linux,@function
    .p2align 4
_rt0_amd64_linux:
    .cfi_startproc
    .cfi_undefined rip
    jmp _start
    // gdb uses the ELF entry point as its displaced-stepping scratch
    // buffer (it copies an instruction there to step a thread over a
    // breakpoint while others run): keep hot code (runtime.gogo) away.
    .fill 256, 1, 0xcc
    .cfi_endproc
    .size _rt0_amd64_linux, .-_rt0_amd64_linux
    .popsection

    .pushsection .text.runtime.gogo,"ax",@progbits
    .globl runtime.gogo
    .type runtime.gogo,@function
    .p2align 4
runtime.gogo:
    .cfi_startproc
    .cfi_undefined rip
    movq %rdi, %fs:runtime.tlsg@tpoff
    movq {sp}(%rdi), %rsp
    movq {bp}(%rdi), %rbp
    movq {rbx}(%rdi), %rbx
    movq {r12}(%rdi), %r12
    movq {r13}(%rdi), %r13
    movq {r14}(%rdi), %r14
    movq {r15}(%rdi), %r15
    movq {pc}(%rdi), %rax
    movq $0, {sp}(%rdi)
    movq $0, {pc}(%rdi)
    movq $0, {bp}(%rdi)
    jmp *%rax
    .cfi_endproc
    .size runtime.gogo, .-runtime.gogo
    .popsection

    .pushsection .text.runtime.mcall,"ax",@progbits
    .globl runtime.mcall
    .type runtime.mcall,@function
    .p2align 4
runtime.mcall:
    .cfi_startproc
    movq %fs:runtime.tlsg@tpoff, %rsi
    movq 0(%rsp), %rax
    leaq 8(%rsp), %rdx
    movq %rax, {pc}(%rsi)
    movq %rdx, {sp}(%rsi)
    movq %rbp, {bp}(%rsi)
    movq %rbx, {rbx}(%rsi)
    movq %r12, {r12}(%rsi)
    movq %r13, {r13}(%rsi)
    movq %r14, {r14}(%rsi)
    movq %r15, {r15}(%rsi)
    movq {gm}(%rsi), %rax
    movq {mg0}(%rax), %rax
    cmpq %rax, %rsi
    je 2f
    movq %rax, %fs:runtime.tlsg@tpoff
    movq {sp}(%rax), %rsp
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax
    ud2
2:
    call {badmcall}
    ud2
    .cfi_endproc
    .size runtime.mcall, .-runtime.mcall
    .popsection

    .pushsection .text.runtime.systemstack,"ax",@progbits
    .globl runtime.systemstack
    .type runtime.systemstack,@function
    .p2align 4
runtime.systemstack:
    .cfi_startproc
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_offset rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register rbp
    movq %fs:runtime.tlsg@tpoff, %rax
    movq {gm}(%rax), %rax
    movq {mg0}(%rax), %rax
    movq {sp}(%rax), %rsp
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax
    movq %rbp, %rsp
    popq %rbp
    .cfi_def_cfa rsp, 8
    ret
    .cfi_endproc
    .size runtime.systemstack, .-runtime.systemstack
    .popsection

    .pushsection .text.runtime.goexit,"ax",@progbits
    .globl runtime.goexit
    .type runtime.goexit,@function
    .p2align 4
runtime.goexit:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %r13, %rdi
    call *%r12
    call {goexit1}
    ud2
    .cfi_endproc
    .size runtime.goexit, .-runtime.goexit
    .popsection
"#,
    sp = const offset_of!(G, sched) + offset_of!(Gobuf, sp),
    pc = const offset_of!(G, sched) + offset_of!(Gobuf, pc),
    bp = const offset_of!(G, sched) + offset_of!(Gobuf, bp),
    rbx = const offset_of!(G, sched) + offset_of!(Gobuf, rbx),
    r12 = const offset_of!(G, sched) + offset_of!(Gobuf, r12),
    r13 = const offset_of!(G, sched) + offset_of!(Gobuf, r13),
    r14 = const offset_of!(G, sched) + offset_of!(Gobuf, r14),
    r15 = const offset_of!(G, sched) + offset_of!(Gobuf, r15),
    gm = const offset_of!(G, m),
    mg0 = const offset_of!(M, g0),
    badmcall = sym crate::proc::badmcall,
    goexit1 = sym crate::proc::goexit1,
    options(att_syntax)
);

// Only pointers cross this boundary; the pointees' layout is irrelevant to asm
// beyond the `#[repr(C)]` offsets passed as constants above.
#[allow(improper_ctypes)]
unsafe extern "C" {
    /// Restore `gp`'s context and run it (see module docs).
    #[link_name = "runtime.gogo"]
    pub fn gogo(gp: *mut G) -> !;
    /// Save the current G's context and call `f(gp)` on g0 (see module docs).
    #[link_name = "runtime.mcall"]
    pub fn mcall(f: extern "C" fn(*mut G) -> !);
    /// Call `f(arg)` on the M's g0 stack. Must not be called on g0.
    #[link_name = "runtime.systemstack"]
    fn systemstack_asm(f: extern "C" fn(*mut u8), arg: *mut u8);
    /// The entry trampoline (bottom frame) of every goroutine.
    #[link_name = "runtime.goexit"]
    pub fn goexit_trampoline();
}

/// The current thread's g (null on a thread the runtime did not start).
///
/// `#[inline]` rather than `always`: in the dev build it stays a call, so
/// the first line of a function that starts with `getg()` is the caller's
/// own line (gdb's `break runtime.newproc` stops in proc.rs, not here).
#[inline]
pub fn getg() -> *mut G {
    let g: *mut G;
    // SAFETY: reads this thread's TLS slot; no side effects.
    unsafe {
        asm!("movq %fs:runtime.tlsg@tpoff, {}", out(reg) g,
             options(att_syntax, nostack, preserves_flags, readonly, pure));
    }
    g
}

/// Install `gp` as this thread's g.
///
/// # Safety
/// `gp` must be this thread's g0 or a G about to run on this thread.
#[inline]
pub unsafe fn setg(gp: *mut G) {
    // SAFETY: writes this thread's TLS slot.
    unsafe {
        asm!("movq {}, %fs:runtime.tlsg@tpoff", in(reg) gp,
             options(att_syntax, nostack, preserves_flags));
    }
}

/// Current stack pointer.
#[inline(always)]
pub fn getsp() -> usize {
    let sp: usize;
    // SAFETY: reads rsp.
    unsafe {
        asm!("movq %rsp, {}", out(reg) sp, options(att_syntax, nomem, nostack, preserves_flags));
    }
    sp
}

/// Run `f` on the current M's g0 stack (directly if already on g0 or on a
/// thread without a g).
pub fn systemstack<F: FnOnce()>(f: F) {
    let gp = getg();
    // SAFETY: gp is null or a valid G; a G's m is valid while it runs.
    let on_g0 = gp.is_null() || unsafe { (*gp).m.is_null() || (*(*gp).m).g0 == gp };
    if on_g0 {
        f();
        return;
    }
    let mut slot = Some(f);
    extern "C" fn tramp<F: FnOnce()>(arg: *mut u8) {
        // SAFETY: arg is the &mut Option<F> below, alive for the call.
        let slot = unsafe { &mut *(arg as *mut Option<F>) };
        if let Some(f) = slot.take() {
            f();
        }
    }
    // SAFETY: we run on a user G, so g0's stack below g0.sched.sp is unused.
    unsafe { systemstack_asm(tramp::<F>, (&raw mut slot).cast()) };
}
