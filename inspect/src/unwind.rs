//! The native unwinder: from a set of registers (a thread's, or a parked
//! goroutine's saved context) to the chain of program counters of its
//! frames, without gdb.
//!
//! Each step finds the caller of the current frame in this order:
//!
//! 1. **Signal frames.** When the pc is at the kernel's return trampoline
//!    (`mov $15, %rax; syscall`: glibc's `__restore_rt`, Go's
//!    `runtime.sigreturn`), the interrupted context is the `ucontext` on the
//!    stack, and the interrupted pc is exact (not a return address). gdb
//!    recognises these frames by the same bytes; a core file leaves a
//!    library's code out, so they are then read from the library's file.
//! 2. **DWARF CFI** (`.eh_frame`, then `.debug_frame`) for the pc: the CFA,
//!    the return address and the caller's rbp. This is what makes the
//!    frames without a frame pointer right: Go's assembly (`runtime.futex`,
//!    `runtime.mcall`, syscall stubs), prologues and epilogues, C frames.
//!    Go's CFI describes only the CFA and the return address; for rbp the
//!    frame-pointer convention applies (a frame that saved rbp keeps it at
//!    CFA-16 and points rbp there).
//! 3. **Frame pointers** where no CFI covers the pc: `[rbp]` is the
//!    caller's rbp, `[rbp+8]` the return address.
//!
//! The CFI is the binary's and, for C code outside it (libc, a cgo
//! program's libraries), that library's own ([`crate::libs`]: read from the
//! file on this machine at its load bias, checked against the build id of
//! its mapping).
//!
//! **Stack switches.** Go's `runtime.asmcgocall`, `systemstack`, `mcall`
//! and `morestack` move the stack pointer to g0's stack (Go marks them
//! SPWRITE: its traceback never unwinds through them). A thread's unwinding
//! that reaches one of them on g0 continues, as Go's traceback does, from
//! the goroutine's own context when the caller gives it
//! ([`Unwinder::unwind_resuming`]: a goroutine in a cgo call from where it
//! entered the call, `G.syscallpc/sp`; one on g0 from `G.sched`), else
//! stops there with the frame marked [`RawFrame::cut`]. A return address
//! that is in no code (the binary's, a mapped file's) ends the walk the
//! same way: what lies past it is not a frame.
//!
//! The walk stops at a frame whose CFI says the return address is
//! undefined (the bottom of a stack: our runtime's `runtime.goexit`, the
//! entry trampolines), at the functions Go marks as top frames
//! (`runtime.goexit`, `runtime.mstart`, `runtime.rt0_go`), when the stack
//! pointer does not grow, when a read fails, or after `max` frames.
//!
//! Rules are looked up once per probe address and cached: 100,000 parked
//! goroutines share a handful of pcs, so unwinding them all costs a few
//! dozen CFI evaluations plus two stack reads per frame.

use std::cell::RefCell;
use std::rc::Rc;

use gimli::{
    BaseAddresses, CfaRule, CieOrFde, DebugFrame, EhFrame, EndianSlice, LittleEndian, Register,
    RegisterRule, UnwindContext, UnwindSection,
};
use object::{Object, ObjectSection};

use crate::fastmap::FastMap;
use crate::flavour::Flavour;
use crate::libs::Libraries;
use crate::mem::Memory;

/// DWARF register numbers on x86-64.
const RBP: Register = Register(6);
const RSP: Register = Register(7);
const RA: Register = Register(16);

/// `mov $15 (rt_sigreturn), %rax; syscall`.
const SIGRETURN: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
/// Offsets in the `ucontext_t` the kernel leaves at the trampoline's sp
/// (`uc_flags`, `uc_link`, `uc_stack` then `uc_mcontext.gregs`, in the
/// order of `REG_R8`..): rbp is `gregs[10]`, rsp `gregs[15]`, rip `gregs[16]`.
const UC_GREGS: u64 = 40;
const UC_RBP: u64 = UC_GREGS + 10 * 8;
const UC_RSP: u64 = UC_GREGS + 15 * 8;
const UC_RIP: u64 = UC_GREGS + 16 * 8;

/// Go's top frames: its traceback ends at them.
const GO_TOP_FRAMES: &[&str] = &["runtime.goexit", "runtime.mstart", "runtime.rt0_go"];

/// Go's functions that switch to g0's stack (SPWRITE): past them, the
/// goroutine's frames are on its own stack.
const GO_STACK_SWITCHES: &[&str] = &[
    "runtime.asmcgocall",
    "runtime.systemstack",
    "runtime.mcall",
    "runtime.morestack",
];

/// Go's `runtime.systemstack_switch`: its entry is the pc Go saves in
/// `G.sched` when it switches to g0 (and that `cgocallback` pushes as a
/// return address), although no call returns there.
const GO_SWITCH_PC: &str = "runtime.systemstack_switch";

/// What [`Unwinder::unwind_resuming`] prints where it stops at a stack
/// switch it cannot follow or at a return address in no code
/// ([`RawFrame::cut`]).
pub const CUT_MARKER: &str = "...the stack goes on where gdbx cannot follow it (another stack)...";

/// How the caller of a frame was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first frame: the registers it started from.
    Start,
    /// DWARF call frame information.
    Cfi,
    /// The frame-pointer chain.
    FramePointer,
    /// The context saved by the kernel when it delivered a signal.
    Signal,
    /// The goroutine's own context, where its thread's unwinding reached a
    /// switch to g0's stack ([`Resume`]).
    Switch,
}

/// One frame of an unwound stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFrame {
    /// The frame's pc: where it stopped (`exact`), else the return
    /// address of its callee's call.
    pub pc: u64,
    pub sp: u64,
    /// `pc` is the instruction the frame is at (the innermost frame of a
    /// thread, a frame interrupted by a signal, a goroutine that has not
    /// started, Go's `systemstack_switch`), not a return address;
    /// symbolise `pc`, else `pc - 1`.
    pub exact: bool,
    /// How this frame was reached from the one below it.
    pub step: Step,
    /// `pc` is the signal-return trampoline (`rt_sigreturn`) the kernel
    /// made a signal handler return to: the handler's frames are below
    /// this one, the interrupted frame above it (gdb's `<signal handler
    /// called>`). `exact`: no call instruction precedes it.
    pub sigreturn: bool,
    /// The walk stopped after this frame although the stack goes on: at a
    /// switch to g0's stack with no goroutine context to continue from, or
    /// before a return address in no code (print [`CUT_MARKER`]).
    pub cut: bool,
}

impl RawFrame {
    /// The address to symbolise: inside the call instruction for a return
    /// address.
    pub fn probe(&self) -> u64 {
        if self.exact {
            self.pc
        } else {
            self.pc.wrapping_sub(1)
        }
    }
}

/// Where a goroutine's frames go on when its thread's unwinding reaches a
/// switch to g0's stack: a return address (or Go's `systemstack_switch`)
/// with the sp and bp of the frame it returns into, and the goroutine's
/// stack, `[lo, hi)`: a frame whose sp is in it is not on g0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
    pub lo: u64,
    pub hi: u64,
}

impl Resume {
    fn holds(&self, sp: u64) -> bool {
        self.lo <= sp && sp < self.hi
    }
}

/// Where the registers of the next frame are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BpRule {
    /// Saved at CFA + offset.
    At(i64),
    /// Unchanged.
    Same,
    /// Not described: the frame-pointer convention.
    Convention,
}

/// The CFI rule at one pc, reduced to what x86-64 unwinding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    /// CFA = (rbp if `from_bp` else rsp) + `cfa_off`.
    from_bp: bool,
    cfa_off: i64,
    /// The return address is at CFA + `ra_off`; None: undefined (the
    /// bottom of the stack).
    ra_off: Option<i64>,
    bp: BpRule,
}

/// One FDE: its file address range and where it is.
#[derive(Debug, Clone, Copy)]
struct Fde {
    start: u64,
    end: u64,
    eh: bool,
    offset: usize,
}

/// The call frame information of one ELF file (the binary, or a shared
/// library), in its file addresses.
pub(crate) struct Cfi {
    eh_frame: Vec<u8>,
    eh_frame_addr: u64,
    debug_frame: Vec<u8>,
    text_addr: u64,
    /// Sorted by start.
    fdes: Vec<Fde>,
}

impl Cfi {
    /// Indexes the `.eh_frame` and `.debug_frame` of `bin` (none for a
    /// stripped binary: the frame pointers then do all the work).
    pub(crate) fn of(bin: &debuginfo::Binary) -> Cfi {
        let elf = bin.object();
        let section = |name: &str| {
            elf.section_by_name(name).map(|s| {
                let data = s
                    .uncompressed_data()
                    .map(|d| d.into_owned())
                    .unwrap_or_default();
                (data, s.address())
            })
        };
        let (eh_frame, eh_frame_addr) = section(".eh_frame").unwrap_or_default();
        let (debug_frame, _) = section(".debug_frame").unwrap_or_default();
        let text_addr = elf.section_by_name(".text").map_or(0, |s| s.address());
        let mut cfi = Cfi {
            eh_frame,
            eh_frame_addr,
            debug_frame,
            text_addr,
            fdes: Vec::new(),
        };
        cfi.index();
        cfi
    }

    fn bases(&self) -> BaseAddresses {
        BaseAddresses::default()
            .set_eh_frame(self.eh_frame_addr)
            .set_text(self.text_addr)
    }

    fn eh(&self) -> EhFrame<EndianSlice<'_, LittleEndian>> {
        let mut s = EhFrame::new(&self.eh_frame, LittleEndian);
        s.set_address_size(8);
        s
    }

    fn debug(&self) -> DebugFrame<EndianSlice<'_, LittleEndian>> {
        let mut s = DebugFrame::new(&self.debug_frame, LittleEndian);
        s.set_address_size(8);
        s
    }

    /// One sorted list of the FDEs of both sections; `.eh_frame` first
    /// where both cover an address.
    fn index(&mut self) {
        let bases = self.bases();
        let mut fdes = Vec::new();
        collect_fdes(&self.eh(), &bases, true, &mut fdes);
        collect_fdes(&self.debug(), &bases, false, &mut fdes);
        fdes.sort_by_key(|f| (f.start, !f.eh));
        self.fdes = fdes;
    }

    /// The FDEs covering the file address `addr`, `.eh_frame`'s first.
    fn fdes_at(&self, addr: u64) -> impl Iterator<Item = &Fde> {
        let end = self.fdes.partition_point(|f| f.start <= addr);
        // FDEs do not nest; a few may start at the same address.
        self.fdes[..end]
            .iter()
            .rev()
            .take(4)
            .filter(move |f| addr < f.end)
    }

    /// The rule at the file address `addr` (not cached).
    pub(crate) fn rule(&self, addr: u64) -> Option<Rule> {
        self.fdes_at(addr)
            .find_map(|f| self.evaluate(f, addr))
            .flatten()
    }

    /// The rule of FDE `f` at `addr`: None when the FDE cannot be read,
    /// Some(None) when it uses what this unwinder does not evaluate (DWARF
    /// expressions: PLT stubs), so the frame pointers take over.
    fn evaluate(&self, f: &Fde, addr: u64) -> Option<Option<Rule>> {
        let bases = self.bases();
        let row = if f.eh {
            row_at(&self.eh(), &bases, f.offset, addr)?
        } else {
            row_at(&self.debug(), &bases, f.offset, addr)?
        };
        let (from_bp, cfa_off) = match *row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } if register == RSP => (false, offset),
            CfaRule::RegisterAndOffset { register, offset } if register == RBP => (true, offset),
            _ => return Some(None),
        };
        let ra_off = match row.register(RA) {
            Some(RegisterRule::Offset(o)) => Some(o),
            Some(RegisterRule::Undefined) => None,
            // No rule for the return address: the x86-64 convention.
            None => Some(-8),
            Some(_) => return Some(None),
        };
        let bp = match row.register(RBP) {
            Some(RegisterRule::Offset(o)) => BpRule::At(o),
            Some(RegisterRule::SameValue) => BpRule::Same,
            None | Some(RegisterRule::Undefined) => BpRule::Convention,
            Some(_) => return Some(None),
        };
        Some(Some(Rule {
            from_bp,
            cfa_off,
            ra_off,
            bp,
        }))
    }
}

/// The unwinder over one binary and the libraries of its process.
pub struct Unwinder {
    cfi: Cfi,
    /// (file start, file end) of the binary's executable segments.
    code: Vec<(u64, u64)>,
    /// (file start, file end) of Go's top frames.
    top_frames: Vec<(u64, u64)>,
    /// (file start, file end) of Go's switches to g0's stack.
    switches: Vec<(u64, u64)>,
    /// The file address of Go's `systemstack_switch` (0: none).
    switch_pc: u64,
    bias: u64,
    /// The process's shared libraries (none until set).
    libs: Rc<Libraries>,
    /// Rules by run-time probe address (None: no CFI covers it, or CFI the
    /// unwinder does not evaluate).
    rules: RefCell<FastMap<u64, Option<Rule>>>,
}

impl std::fmt::Debug for Unwinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unwinder")
            .field("fdes", &self.cfi.fdes.len())
            .field("bias", &self.bias)
            .finish()
    }
}

impl Unwinder {
    /// Indexes the CFI of `bin` (which has none for a stripped binary: the
    /// frame pointers then do all the work).
    pub fn new(bin: &Rc<debuginfo::Binary>, flavour: Flavour) -> Unwinder {
        let range = |s: &debuginfo::Symbol| (s.address, s.address + s.size.max(1));
        let (top_frames, switches, switch_pc) = match flavour {
            Flavour::Go119 => {
                // Assembly functions are `NAME.abi0` in the ELF; a plain
                // NAME beside it is the ABI wrapper, an ordinary frame on
                // the goroutine's stack.
                let asm = |n: &str| bin.symbol(&format!("{n}.abi0")).or_else(|| bin.symbol(n));
                (
                    GO_TOP_FRAMES
                        .iter()
                        .filter_map(|n| bin.symbol(n).or_else(|| bin.symbol(&format!("{n}.abi0"))))
                        .map(range)
                        .collect(),
                    GO_STACK_SWITCHES
                        .iter()
                        .filter_map(|n| asm(n))
                        .map(range)
                        .collect(),
                    asm(GO_SWITCH_PC).map_or(0, |s| s.address),
                )
            }
            Flavour::Ours => (Vec::new(), Vec::new(), 0),
        };
        Unwinder {
            cfi: Cfi::of(bin),
            code: exec_segments(bin.data()),
            top_frames,
            switches,
            switch_pc,
            bias: 0,
            libs: Rc::new(Libraries::default()),
            rules: RefCell::new(FastMap::default()),
        }
    }

    /// Run-time minus file addresses (0 unless PIE).
    pub fn set_bias(&mut self, bias: u64) {
        if bias != self.bias {
            self.bias = bias;
            self.rules.borrow_mut().clear();
        }
    }

    /// The process's shared libraries: their CFI unwinds the C frames in
    /// them, their files show the code a core leaves out.
    pub fn set_libraries(&mut self, libs: Rc<Libraries>) {
        self.libs = libs;
        self.rules.borrow_mut().clear();
    }

    /// `pc` as a file address of the binary, when its code holds it.
    fn in_binary(&self, pc: u64) -> Option<u64> {
        let a = pc.wrapping_sub(self.bias);
        self.code
            .iter()
            .any(|&(lo, hi)| lo <= a && a < hi)
            .then_some(a)
    }

    /// Whether `pc` can be code: the binary's, or a mapped file's (when
    /// the mappings are known).
    fn is_code(&self, pc: u64) -> bool {
        self.in_binary(pc).is_some() || self.libs.is_empty() || self.libs.path_of(pc).is_some()
    }

    fn rule(&self, probe: u64) -> Option<Rule> {
        if let Some(r) = self.rules.borrow().get(&probe) {
            return *r;
        }
        let r = match self.in_binary(probe) {
            Some(addr) => self.cfi.rule(addr),
            None => self
                .libs
                .locate(probe)
                .and_then(|(lib, addr)| lib.cfi().rule(addr)),
        };
        self.rules.borrow_mut().insert(probe, r);
        r
    }

    fn in_ranges(&self, ranges: &[(u64, u64)], pc: u64) -> bool {
        let a = pc.wrapping_sub(self.bias);
        ranges.iter().any(|&(lo, hi)| a >= lo && a < hi)
    }

    fn is_top_frame(&self, pc: u64) -> bool {
        self.in_ranges(&self.top_frames, pc)
    }

    /// Is `pc` in one of Go's switches to g0's stack?
    pub fn is_stack_switch(&self, pc: u64) -> bool {
        self.in_ranges(&self.switches, pc)
    }

    /// Is `pc` the entry of Go's `systemstack_switch`, which Go saves as a
    /// goroutine's pc (and `cgocallback` as a return address) though no
    /// call returns there? Its frame is symbolised at `pc` itself, as Go's
    /// traceback does.
    pub fn is_switch_pc(&self, pc: u64) -> bool {
        self.switch_pc != 0 && pc.wrapping_sub(self.bias) == self.switch_pc
    }

    /// The frames from the registers (`pc`, `sp`, `bp`), innermost first;
    /// `exact` says whether `pc` is an instruction the frame is at (a
    /// thread's registers, a goroutine that has not started) or a return
    /// address (a parked goroutine's saved context). At most `max` frames.
    /// A switch to g0's stack ends the walk ([`RawFrame::cut`]).
    pub fn unwind(
        &self,
        mem: &dyn Memory,
        pc: u64,
        sp: u64,
        bp: u64,
        exact: bool,
        max: usize,
    ) -> Vec<RawFrame> {
        self.unwind_resuming(mem, pc, sp, bp, exact, None, max)
    }

    /// As [`Unwinder::unwind`], for a goroutine unwound from its thread's
    /// registers: where the walk reaches one of Go's switches to g0's
    /// stack on g0, it goes on from `resume` (once), as Go's traceback
    /// does; without one it stops there, the frame marked
    /// [`RawFrame::cut`].
    #[allow(clippy::too_many_arguments)]
    pub fn unwind_resuming(
        &self,
        mem: &dyn Memory,
        pc: u64,
        sp: u64,
        bp: u64,
        exact: bool,
        resume: Option<Resume>,
        max: usize,
    ) -> Vec<RawFrame> {
        let mut out: Vec<RawFrame> = Vec::new();
        let mut resume = resume;
        let (mut pc, mut sp, mut bp, mut exact, mut step) = (pc, sp, bp, exact, Step::Start);
        while pc != 0 && out.len() < max {
            if step != Step::Start && !self.is_code(pc) {
                // Not a return address: what lies past the last frame is
                // no frame (a stale word of g0's stack, a goroutine's
                // pointer).
                if let Some(last) = out.last_mut() {
                    last.cut = true;
                }
                break;
            }
            let sigreturn = self.is_sigreturn(mem, pc);
            let at_switch_pc = !exact && self.is_switch_pc(pc);
            out.push(RawFrame {
                pc,
                sp,
                exact: exact || sigreturn || at_switch_pc,
                step,
                sigreturn,
                cut: false,
            });
            if self.is_top_frame(pc) {
                break;
            }
            if sigreturn {
                let (Ok(npc), Ok(nsp), Ok(nbp)) = (
                    mem.u64(sp + UC_RIP),
                    mem.u64(sp + UC_RSP),
                    mem.u64(sp + UC_RBP),
                ) else {
                    break;
                };
                (pc, sp, bp, exact, step) = (npc, nsp, nbp, true, Step::Signal);
                continue;
            }
            if self.is_stack_switch(pc) {
                // Past the switch, on g0: the goroutine's frames are on its
                // own stack, which no CFI leads to. The innermost frame may
                // still be before the switch (on the goroutine's stack).
                let on_goroutine = resume.is_some_and(|r| r.holds(sp));
                if !on_goroutine && (step != Step::Start || resume.is_some()) {
                    match resume.take() {
                        Some(r) if r.pc != 0 && r.holds(r.sp) => {
                            (pc, sp, bp, exact, step) = (r.pc, r.sp, r.bp, false, Step::Switch);
                            continue;
                        }
                        _ => {
                            if let Some(last) = out.last_mut() {
                                last.cut = true;
                            }
                            break;
                        }
                    }
                }
            }
            let probe = if exact || at_switch_pc {
                pc
            } else {
                pc.wrapping_sub(1)
            };
            let next = match self.rule(probe) {
                Some(r) => {
                    let base = if r.from_bp { bp } else { sp };
                    let cfa = base.wrapping_add_signed(r.cfa_off);
                    let Some(ra_off) = r.ra_off else { break };
                    let Ok(ra) = mem.u64(cfa.wrapping_add_signed(ra_off)) else {
                        break;
                    };
                    let nbp = match r.bp {
                        BpRule::At(o) => match mem.u64(cfa.wrapping_add_signed(o)) {
                            Ok(v) => v,
                            Err(_) => break,
                        },
                        BpRule::Same => bp,
                        BpRule::Convention if bp == cfa.wrapping_sub(16) => match mem.u64(bp) {
                            Ok(v) => v,
                            Err(_) => break,
                        },
                        BpRule::Convention => bp,
                    };
                    (ra, cfa, nbp, Step::Cfi)
                }
                None => {
                    if bp == 0 || !bp.is_multiple_of(8) || bp < sp {
                        break;
                    }
                    let (Ok(nbp), Ok(ra)) = (mem.u64(bp), mem.u64(bp + 8)) else {
                        break;
                    };
                    (ra, bp + 16, nbp, Step::FramePointer)
                }
            };
            // The stack grows down: a caller's frame is above its callee's.
            if next.1 <= sp {
                break;
            }
            (pc, sp, bp, step) = next;
            exact = false;
        }
        out
    }

    /// Is `pc` the kernel's signal-return trampoline? By its bytes, from
    /// memory, else (a core leaves a library's code out) from the
    /// library's file.
    fn is_sigreturn(&self, mem: &dyn Memory, pc: u64) -> bool {
        let mut b = [0u8; 9];
        if mem.read(pc, &mut b).is_ok() {
            return b == SIGRETURN;
        }
        self.in_binary(pc).is_none()
            && self
                .libs
                .locate(pc)
                .is_some_and(|(lib, addr)| lib.read_file(addr, &mut b) && b == SIGRETURN)
    }
}

/// (start, end) addresses of the executable PT_LOAD segments of an ELF file.
fn exec_segments(data: &[u8]) -> Vec<(u64, u64)> {
    crate::libs::pt_loads(data)
        .into_iter()
        .filter(|ph| ph.exec)
        .map(|ph| (ph.vaddr, ph.vaddr + ph.memsz))
        .collect()
}

type Slice<'a> = EndianSlice<'a, LittleEndian>;

/// Appends the FDEs of `section` to `out`.
fn collect_fdes<'a, S: UnwindSection<Slice<'a>>>(
    section: &S,
    bases: &BaseAddresses,
    eh: bool,
    out: &mut Vec<Fde>,
) {
    let mut entries = section.entries(bases);
    while let Ok(Some(e)) = entries.next() {
        if let CieOrFde::Fde(partial) = e
            && let Ok(fde) = partial.parse(|s, b, o| s.cie_from_offset(b, o))
            && fde.len() > 0
        {
            out.push(Fde {
                start: fde.initial_address(),
                end: fde.initial_address().saturating_add(fde.len()),
                eh,
                offset: fde.offset(),
            });
        }
    }
}

/// The unwind row of the FDE at `offset` in `section` for `addr`.
fn row_at<'a, S: UnwindSection<Slice<'a>>>(
    section: &S,
    bases: &BaseAddresses,
    offset: usize,
    addr: u64,
) -> Option<gimli::UnwindTableRow<usize>>
where
    S::Offset: From<usize>,
{
    let fde = section
        .fde_from_offset(bases, offset.into(), |s, b, o| s.cie_from_offset(b, o))
        .ok()?;
    let mut ctx = UnwindContext::new();
    fde.unwind_info_for_address(section, bases, &mut ctx, addr)
        .ok()
        .cloned()
}
