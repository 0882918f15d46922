//! `inspect`: the inspection core of gdbx. It reads the goroutines, Ms and
//! Ps of a stopped program — one built on the gdbx runtime or a Go 1.19
//! program — from a live process, a core file or a debugger's memory, and
//! says where each goroutine is. It has no PyO3 and needs no gdb: the gdb
//! extension (`gdb-ext`) is a thin adapter over it, and `gdbx goroutines`
//! uses it directly.
//!
//! Modelled on Delve's `pkg/proc`: one symbolic layer over several
//! backends.
//!
//! - [`mem`]: the [`Memory`] trait and its backends: [`LiveProcess`]
//!   (`process_vm_readv` in bulk, `/proc/PID/mem`), [`CoreFile`] (the one
//!   `PT_LOAD` reader, and the threads' registers), [`Image`] (the
//!   executable's read-only sections), [`Callback`] (a debugger's memory)
//!   and [`Chain`].
//! - [`flavour`]: the two runtimes, each declaring once the types, fields
//!   and symbols it reads; [`Layout`] resolves them against the binary's
//!   DWARF (no offset is hard-coded).
//! - [`model`]: the decoded [`G`], [`M`], [`P`] and [`Sched`], read
//!   defensively.
//! - [`sym`]: the symboliser (the binary's one addr2line context, inlined
//!   frames named correctly) and the user-code rule.
//! - [`unwind`]: the native unwinder (signal frames, DWARF CFI, frame
//!   pointers) from registers or a saved context to a stack's pcs.
//! - [`view`]: the commands' work (placement, locations, filters, the
//!   text of `info goroutines` and friends).
//! - [`capture`]: copying what decoding and unwinding read, so that a
//!   live program is stopped only for the copy.
//! - [`freeze`]: stopping a live process's threads just long enough to
//!   read it (`PTRACE_SEIZE` + `PTRACE_INTERRUPT`, then detach).
//! - [`gcore`]: completing a core file written by gdb.
//!
//! A [`Program`] is one binary; [`Program::snapshot`] reads everything at
//! once (what `gdbx goroutines` prints), [`Program::view`] serves the
//! commands.
//!
//! ```no_run
//! use inspect::{Chain, CoreFile, Program, Thread};
//!
//! let mut prog = Program::open("target/debug/parked", "").expect("a runtime gdbx reads");
//! let core = CoreFile::open("core.1234").expect("an ELF core file");
//! prog.set_bias(prog.bias_for_entry(core.entry()), &core);
//! // Read-only data a core leaves out comes from the executable itself.
//! let image = prog.image();
//! let mem = Chain(&core, &image);
//! let threads: Vec<Thread> = core
//!     .threads()
//!     .iter()
//!     .enumerate()
//!     .map(|(i, t)| Thread::from_regs(i as i64 + 1, t.lwp, &t.regs))
//!     .collect();
//! let snap = prog.snapshot(&mem, &threads).expect("an initialised runtime");
//! for g in &snap.goroutines {
//!     println!("{} [{}] at {}, created at {}", g.goid, g.status, g.location, g.created);
//! }
//! println!("{} Ms, {} Ps", snap.ms.len(), snap.ps.len());
//! ```
//!
//! All addresses a [`Program`] takes and returns are run-time addresses:
//! for a PIE, set the load bias first ([`Program::set_bias`]).

pub mod capture;
pub mod fastmap;
pub mod flavour;
pub mod freeze;
pub mod gcore;
pub mod libs;
pub mod mem;
pub mod model;
pub mod sym;
pub mod unwind;
pub mod view;

use std::path::Path;
use std::rc::Rc;

pub use flavour::{Flavour, Layout, Role};
pub use mem::{Callback, Chain, CoreFile, CoreThread, Image, LiveProcess, MemError, Memory, Regs};
pub use model::{Decoder, G, M, P, ReadError, Sched};
pub use sym::{Frame, Symbols};
pub use unwind::{RawFrame, Resume, Unwinder};
pub use view::{Filter, MAX_FRAMES, Thread, View};

/// A binary whose runtime the core reads, opened for a session.
pub struct Program {
    bin: Rc<debuginfo::Binary>,
    layout: Layout,
    syms: Symbols,
    unwinder: Unwinder,
    bias: u64,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("path", &self.bin.path())
            .field("flavour", &self.layout.flavour)
            .field("bias", &self.bias)
            .finish()
    }
}

impl Program {
    /// Opens `path` and resolves its runtime's layout. `source_root` is
    /// stripped from the file names shown (a workspace root). Fails with one
    /// line that names the problem: not an ELF, not a runtime the core
    /// knows, or what of the runtime is missing.
    pub fn open(path: impl AsRef<Path>, source_root: &str) -> Result<Program, String> {
        let bin = debuginfo::Binary::open(path.as_ref()).map_err(|e| e.to_string())?;
        Program::from_binary(bin, source_root)
    }

    /// As [`Program::open`], for a binary already opened.
    pub fn from_binary(bin: debuginfo::Binary, source_root: &str) -> Result<Program, String> {
        let flavour =
            Flavour::detect(&bin).map_err(|e| format!("{}: {e}", bin.path().display()))?;
        let layout =
            Layout::resolve(&bin, flavour).map_err(|e| format!("{}: {e}", bin.path().display()))?;
        if !layout.missing.is_empty() {
            return Err(format!(
                "{}: a {} binary, but it lacks {}: gdbx cannot read this runtime",
                bin.path().display(),
                flavour.describe(),
                layout.missing.join(", ")
            ));
        }
        let bin = Rc::new(bin);
        let syms = Symbols::new(bin.clone(), flavour, source_root);
        let unwinder = Unwinder::new(&bin, flavour);
        Ok(Program {
            bin,
            layout,
            syms,
            unwinder,
            bias: 0,
        })
    }

    pub fn binary(&self) -> &debuginfo::Binary {
        &self.bin
    }

    pub fn flavour(&self) -> Flavour {
        self.layout.flavour
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn symbols(&self) -> &Symbols {
        &self.syms
    }

    /// The native unwinder (at the current bias).
    pub fn unwinder(&self) -> &Unwinder {
        &self.unwinder
    }

    /// Run-time minus file addresses (0 unless PIE).
    pub fn bias(&self) -> u64 {
        self.bias
    }

    /// Sets the load bias of a PIE (`AT_ENTRY` minus the ELF's entry) and
    /// reads the names of the wait reasons from `mem` (a PIE's table holds
    /// relocated pointers). Call it once per process or core.
    pub fn set_bias(&mut self, bias: u64, mem: &dyn Memory) {
        self.bias = bias;
        self.syms.set_bias(bias);
        self.unwinder.set_bias(bias);
        let image = self.image();
        self.layout.read_reason_strings(&Chain(mem, &image), bias);
    }

    /// The other files the process has mapped (its shared libraries) and
    /// its vDSO (where the kernel mapped it, and its ELF image): frames in
    /// their code are named from their symbols and unwound with their call
    /// frame information. `mem` (the process or the core) shows the build
    /// id each library was mapped with: a file on this machine that is
    /// another build is not used.
    pub fn set_libraries(
        &mut self,
        maps: Vec<libs::FileMap>,
        vdso: Option<(u64, Vec<u8>)>,
        mem: &dyn Memory,
    ) {
        let mut libs = libs::Libraries::new(maps, self.bin.path()).check_build_ids(mem);
        if let Some((base, image)) = vdso {
            libs = libs.with_vdso(base, image);
        }
        let libs = Rc::new(libs);
        self.unwinder.set_libraries(libs.clone());
        self.syms.set_libraries(libs);
    }

    /// The load bias for a process whose entry point (`AT_ENTRY`, from
    /// [`CoreFile::entry`] or [`LiveProcess::entry`]) is `at_entry`: 0 for
    /// a binary that is not a PIE.
    pub fn bias_for_entry(&self, at_entry: Option<u64>) -> u64 {
        match at_entry {
            Some(e) if self.bin.is_pie() => e.wrapping_sub(self.bin.entry()),
            _ => 0,
        }
    }

    /// The executable's read-only sections at the current bias, as memory
    /// (what a core file leaves out).
    pub fn image(&self) -> Image {
        Image::new(self.bin.clone(), self.bias)
    }

    /// The decoder at the current bias.
    pub fn decoder(&self) -> Decoder<'_> {
        Decoder {
            layout: &self.layout,
            bias: self.bias,
        }
    }

    /// One look at the stopped program through `mem`, with its `threads`.
    pub fn view<'a>(&'a self, mem: &'a dyn Memory, threads: &'a [Thread]) -> View<'a> {
        View {
            rt: self.decoder(),
            syms: &self.syms,
            mem,
            threads,
            loc_cache: Default::default(),
            classify_cache: Default::default(),
            created_cache: Default::default(),
            now: None,
        }
    }

    /// Everything at once: every goroutine that is not dead with its
    /// placement and location, the Ms, the Ps, the scheduler and the
    /// threads. Entries that could not be decoded are in `bad`, one line
    /// each.
    pub fn snapshot(&self, mem: &dyn Memory, threads: &[Thread]) -> Result<Snapshot, ReadError> {
        let v = self.view(mem, threads);
        let d = self.decoder();
        let (rows, mut bad) = v.rows(|g| !d.is_dead(g))?;
        let goroutines = rows
            .into_iter()
            .map(|r| Goroutine {
                goid: r.g.goid,
                status: v.status_text(&r.g),
                started: !v.not_started(&r.g),
                thread: r.thread,
                on_cpu: r.on_cpu,
                m_id: r.m_id,
                location: r.loc.to_string(),
                created: r.created.to_string(),
                g: r.g,
            })
            .collect();
        let (ms, mbad) = d.read_ms(mem).unwrap_or_default();
        let (ps, pbad) = d.read_ps(mem).unwrap_or_default();
        bad.extend(mbad);
        bad.extend(pbad);
        let sched = d.read_sched(mem).ok();
        let threads = threads
            .iter()
            .map(|t| {
                let g = v.thread_g(t).filter(|&g| g != 0);
                let m = v.m_for_thread(t, &ms);
                ThreadState {
                    num: t.num,
                    lwp: t.lwp,
                    g,
                    m_id: m.map(|m| m.id),
                    on_g0: g.is_some() && m.is_some_and(|m| Some(m.g0) == g),
                }
            })
            .collect();
        Ok(Snapshot {
            goroutines,
            ms,
            ps,
            sched,
            threads,
            bad,
        })
    }
}

/// A goroutine as [`Program::snapshot`] sees it.
#[derive(Debug, Clone)]
pub struct Goroutine {
    pub goid: i64,
    /// `waiting (chan receive)`, `running`, ...
    pub status: String,
    /// False for a runnable goroutine that has never run.
    pub started: bool,
    /// The number of the thread running it.
    pub thread: Option<i64>,
    /// It is what its thread runs right now (its context is the thread's
    /// registers, not `G.sched`).
    pub on_cpu: bool,
    pub m_id: Option<i64>,
    /// The first user-code frame, `func (file:line)`; `entry (not
    /// started)`; `?` when unknown.
    pub location: String,
    /// Where it was created.
    pub created: String,
    /// The decoded G.
    pub g: G,
}

/// A thread as [`Program::snapshot`] sees it.
#[derive(Debug, Clone)]
pub struct ThreadState {
    pub num: i64,
    pub lwp: u64,
    /// Its current g (a goroutine, or its M's g0).
    pub g: Option<u64>,
    pub m_id: Option<i64>,
    /// It runs its M's g0 (the scheduler, or a system thread like sysmon).
    pub on_g0: bool,
}

/// The whole state at one stop.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Every goroutine that is not dead, by id.
    pub goroutines: Vec<Goroutine>,
    pub ms: Vec<M>,
    pub ps: Vec<P>,
    pub sched: Option<Sched>,
    pub threads: Vec<ThreadState>,
    /// One line per entry that could not be decoded.
    pub bad: Vec<String>,
}

impl Thread {
    /// A thread known by its registers (a core file's, or ptrace's), not
    /// yet unwound.
    pub fn from_regs(num: i64, lwp: u64, regs: &Regs) -> Thread {
        Thread {
            num,
            lwp,
            fs_base: regs.fs_base,
            r14: regs.r14,
            pcs: vec![regs.rip],
        }
    }
}
