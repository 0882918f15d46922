//! What a `break-bootstrap` run produced: the hits and how the program
//! ended. Written by the engine ([`crate::run`]), read by the verdict
//! ([`crate::verdict`]) and the reports ([`crate::report`]).

use serde::Serialize;

/// One breakpoint hit.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// 1-based order of the hit.
    pub order: usize,
    /// The plan step.
    pub step: String,
    /// gdb's thread number.
    pub thread: u32,
    /// The OS thread id.
    pub lwp: Option<u32>,
    /// Whether it is the process's main thread.
    pub main_thread: bool,
    /// The thread as the runtime knows it (`M1 (no P)`, `g2 on M0 (P0)`),
    /// when the runtime has given it a g and gdbx could read it.
    pub runtime_thread: Option<String>,
    /// Its thread pointer (`$fs_base`; 0 unknown), where the runtime keeps
    /// the thread's g.
    #[serde(skip)]
    pub fs_base: u64,
    /// The function gdb reports.
    pub func: Option<String>,
    /// file:line gdb reports (or the resolved one for code without line info).
    pub file: Option<String>,
    /// The line.
    pub line: Option<u32>,
    /// The run-time address (file address + bias).
    pub address: String,
    /// Milliseconds since the program started.
    pub time_ms: f64,
}

impl Hit {
    /// The thread it was hit on: as the runtime knows it (`g1 on M2 (P1),
    /// LWP 42`, `M1 (no P), LWP 43`) once the runtime has given it a g,
    /// else as gdb numbers it (`thread 1 (LWP 42, main)`). The hit table
    /// and the verdict's notes name threads this one way.
    pub fn thread_name(&self) -> String {
        let main = if self.main_thread { ", main" } else { "" };
        match (&self.runtime_thread, self.lwp) {
            (Some(rt), Some(l)) => format!("{rt}, LWP {l}{main}"),
            (Some(rt), None) => rt.clone(),
            (None, Some(l)) => format!("thread {} (LWP {l}{main})", self.thread),
            (None, None) => format!("thread {}", self.thread),
        }
    }
}

/// How the program ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProgramExit {
    /// Its pid.
    pub pid: Option<u32>,
    /// Exit status, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<String>,
    /// When a signal killed it: the signal and where it arrived.
    pub crash: Option<String>,
    /// How many steps had been hit when that signal arrived (None: all).
    #[serde(skip)]
    pub crash_after: Option<usize>,
    /// The signals of the kind that kill (SIGSEGV, SIGBUS, ...) it
    /// received, handled or not, the first [`MAX_FAULTS`].
    pub faults: Vec<Fault>,
    /// gdbx's timeout killed it.
    pub timed_out: bool,
    /// Ctrl-C stopped gdbx, which killed it.
    pub interrupted: bool,
    /// The load bias applied to the plan's addresses (PIE).
    pub load_bias: String,
}

/// How many faults a run keeps.
pub const MAX_FAULTS: usize = 16;

/// A signal of the kind that kills, as it arrived; the program may have
/// handled it (Go turns SIGSEGV into a panic that can be recovered).
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// `SIGSEGV`, ...
    pub signal: String,
    /// `func (file:line)` where it arrived.
    pub at: String,
    /// How many steps had been hit when it arrived.
    pub after_hits: usize,
}

/// Everything a run produced.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// The hits, in order.
    pub hits: Vec<Hit>,
    /// How it ended.
    pub exit: ProgramExit,
    /// gdb failed (could not start, rejected a command, died).
    pub gdb_error: Option<String>,
    /// The program's output (last 64 KiB).
    pub program_output: String,
    /// Wall time of the whole run.
    pub elapsed_ms: f64,
}
