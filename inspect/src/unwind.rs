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
//!    recognises these frames by the same bytes.
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
    /// started), not a return address; symbolise `pc`, else `pc - 1`.
    pub exact: bool,
    /// How this frame was reached from the one below it.
    pub step: Step,
    /// `pc` is the signal-return trampoline (`rt_sigreturn`) the kernel
    /// made a signal handler return to: the handler's frames are below
    /// this one, the interrupted frame above it (gdb's `<signal handler
    /// called>`). `exact`: no call instruction precedes it.
    pub sigreturn: bool,
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
struct Rule {
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

/// The unwinder over one binary.
pub struct Unwinder {
    eh_frame: Vec<u8>,
    eh_frame_addr: u64,
    debug_frame: Vec<u8>,
    text_addr: u64,
    /// Sorted by start.
    fdes: Vec<Fde>,
    /// (file start, file end) of Go's top frames.
    top_frames: Vec<(u64, u64)>,
    bias: u64,
    /// Rules by file probe address (None: no CFI covers it, or CFI the
    /// unwinder does not evaluate).
    rules: RefCell<FastMap<u64, Option<Rule>>>,
}

impl std::fmt::Debug for Unwinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unwinder")
            .field("fdes", &self.fdes.len())
            .field("bias", &self.bias)
            .finish()
    }
}

impl Unwinder {
    /// Indexes the CFI of `bin` (which has none for a stripped binary: the
    /// frame pointers then do all the work).
    pub fn new(bin: &Rc<debuginfo::Binary>, flavour: Flavour) -> Unwinder {
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
        let top_frames = match flavour {
            Flavour::Go119 => GO_TOP_FRAMES
                .iter()
                .filter_map(|n| bin.symbol(n).or_else(|| bin.symbol(&format!("{n}.abi0"))))
                .map(|s| (s.address, s.address + s.size.max(1)))
                .collect(),
            Flavour::Ours => Vec::new(),
        };
        let mut u = Unwinder {
            eh_frame,
            eh_frame_addr,
            debug_frame,
            text_addr,
            fdes: Vec::new(),
            top_frames,
            bias: 0,
            rules: RefCell::new(FastMap::default()),
        };
        u.index();
        u
    }

    /// Run-time minus file addresses (0 unless PIE).
    pub fn set_bias(&mut self, bias: u64) {
        if bias != self.bias {
            self.bias = bias;
            self.rules.borrow_mut().clear();
        }
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

    fn rule(&self, probe: u64) -> Option<Rule> {
        let addr = probe.wrapping_sub(self.bias);
        if let Some(r) = self.rules.borrow().get(&addr) {
            return *r;
        }
        let r = self
            .fdes_at(addr)
            .find_map(|f| self.evaluate(f, addr))
            .flatten();
        self.rules.borrow_mut().insert(addr, r);
        r
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

    fn is_top_frame(&self, pc: u64) -> bool {
        let a = pc.wrapping_sub(self.bias);
        self.top_frames.iter().any(|&(lo, hi)| a >= lo && a < hi)
    }

    /// The frames from the registers (`pc`, `sp`, `bp`), innermost first;
    /// `exact` says whether `pc` is an instruction the frame is at (a
    /// thread's registers, a goroutine that has not started) or a return
    /// address (a parked goroutine's saved context). At most `max` frames.
    pub fn unwind(
        &self,
        mem: &dyn Memory,
        pc: u64,
        sp: u64,
        bp: u64,
        exact: bool,
        max: usize,
    ) -> Vec<RawFrame> {
        let mut out = Vec::new();
        let (mut pc, mut sp, mut bp, mut exact, mut step) = (pc, sp, bp, exact, Step::Start);
        while pc != 0 && out.len() < max {
            let sigreturn = self.is_sigreturn(mem, pc);
            out.push(RawFrame {
                pc,
                sp,
                exact: exact || sigreturn,
                step,
                sigreturn,
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
            let probe = if exact { pc } else { pc.wrapping_sub(1) };
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

    fn is_sigreturn(&self, mem: &dyn Memory, pc: u64) -> bool {
        let mut b = [0u8; 9];
        mem.read(pc, &mut b).is_ok() && b == SIGRETURN
    }
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
