//! `break-bootstrap`'s engine: run the program under gdb/MI with a one-shot
//! breakpoint at every resolved step and record each hit.
//!
//! The sequence: `starti` (the program exists, nothing of it has run), the
//! load bias for a PIE from `/proc/PID/auxv` (`AT_ENTRY - e_entry`), one
//! `-break-insert -t *ADDR` per step at its entry address, then
//! `-exec-continue` until the program exits. One-shot breakpoints mean each
//! step is recorded at its first call (later `newproc`s or Go's restart of a
//! function after stack growth do not stop the program again).
//!
//! [`Session`] is that sequence as a value: [`Session::start`] gets the
//! program to its first instruction, [`Session::break_at_steps`] places the
//! breakpoints, [`Session::next_event`] runs to the next step, signal or
//! exit. [`launch`] is how every run starts (the program's terminal, the
//! session and the runtime's layouts); [`run`] drives it to the end for
//! `break-bootstrap`, [`crate::tour`](mod@crate::tour) tours it; the judgement is
//! [`crate::verdict`]'s.

use crate::gdb::{Gdb, GdbError};
use crate::mi::{Kind, Record, Stream, Value, quote};
use crate::outcome::{Fault, Hit, MAX_FAULTS, RunOutcome};
use crate::pty::{Pty, Sink};
use crate::runtime_thread::RuntimeThread;
use debuginfo::plan::Resolution;
use inspect::{LiveProcess, Program};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to run.
pub struct RunOptions {
    /// The program.
    pub binary: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The gdb to use.
    pub gdb: PathBuf,
    /// Kill everything after this long.
    pub timeout: Duration,
}

const QUIET_SIGNALS: &str =
    "SIGURG SIGPIPE SIGPROF SIGALRM SIGCHLD SIGWINCH SIGUSR1 SIGUSR2 SIGXCPU";
const FATAL_SIGNALS: &[&str] = &[
    "SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGSYS", "SIGTRAP",
];

/// A program under gdb, stopped between events, and what it has done so far.
pub struct Session<'a> {
    /// The gdb driving it.
    pub gdb: Gdb,
    /// The plan's steps, resolved against the binary.
    pub res: &'a Resolution,
    /// Every wait gives up at this instant.
    pub deadline: Instant,
    /// The load bias: run-time address = file address + bias.
    pub bias: u64,
    /// The hits and the ending, as far as they go.
    pub out: RunOutcome,
    /// When the program reached its first instruction (hit times count from here).
    t0: Instant,
    /// Breakpoint number -> step index.
    by_bkpt: HashMap<String, usize>,
    /// The stop at the first instruction, until the breakpoints are placed.
    first_stop: Option<Value>,
}

/// What the program did when it last stopped.
pub enum Event {
    /// It reached step `index` (of the plan); the hit is recorded.
    Step {
        /// Index into the resolution's steps.
        index: usize,
    },
    /// It received a signal (a crash one is noted in the outcome).
    Signal,
    /// It is gone: exited, or killed by a signal.
    Exited,
}

impl<'a> Session<'a> {
    /// Starts gdb on `opts.binary` with the program's terminal `tty` and
    /// runs the program to its first instruction (`starti`), learning its
    /// pid and load bias. On failure, the outcome says why (`gdb_error` or
    /// `timed_out`) and both gdb and the program are gone.
    pub fn start(
        res: &'a Resolution,
        opts: &RunOptions,
        tty: &str,
        deadline: Instant,
    ) -> Result<Session<'a>, Box<RunOutcome>> {
        let stdin = ProgramStdin::inherit();
        let gdb = Gdb::spawn(&opts.gdb, &opts.binary).map_err(|e| {
            Box::new(RunOutcome {
                gdb_error: Some(format!("cannot start {}: {e}", opts.gdb.display())),
                ..RunOutcome::default()
            })
        })?;
        if let Err(e) = crate::interrupt::on_interrupt(gdb.interrupter()) {
            eprintln!("gdbx: warning: Ctrl-C will not keep the report: {e}");
        }
        let mut s = Session {
            gdb,
            res,
            deadline,
            bias: 0,
            out: RunOutcome::default(),
            t0: Instant::now(),
            by_bkpt: HashMap::new(),
            first_stop: None,
        };
        // gdb has its copy of our stdin now; the program gets it from gdb.
        let stdin_fd = stdin.as_ref().map(ProgramStdin::fd);
        drop(stdin);
        match s.run_to_first_instruction(&opts.args, stdin_fd, tty) {
            Ok(()) => Ok(s),
            Err(e) => Err(Box::new(s.finish(Err(e)))),
        }
    }

    fn run_to_first_instruction(
        &mut self,
        args: &[String],
        stdin_fd: Option<i32>,
        tty: &str,
    ) -> Result<(), GdbError> {
        let deadline = self.deadline;
        for cmd in [
            "-gdb-set confirm off",
            "-gdb-set pagination off",
            "-gdb-set auto-load off",
            "-gdb-set startup-with-shell on",
        ] {
            self.gdb.command(cmd, deadline)?;
        }
        // Not every gdb build has debuginfod; it must never prompt.
        let _ = self
            .gdb
            .command("-gdb-set debuginfod enabled off", deadline);
        self.gdb
            .command(&format!("-inferior-tty-set {}", quote(tty)), deadline)?;
        // gdb starts the program with POSIX sh (see `Gdb::spawn`); the
        // program sees the user's own SHELL.
        match std::env::var_os("SHELL") {
            Some(shell) => self.console(&format!(
                "set environment SHELL={}",
                shell.to_string_lossy()
            ))?,
            None => self.console("unset environment SHELL")?,
        };
        // gdb starts the program through the shell: the arguments are
        // quoted for it, and the shell gives the program gdbx's stdin (the
        // terminal stays its stdout and stderr).
        let mut words: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        if let Some(fd) = stdin_fd {
            words.push(format!("0<&{fd} {fd}<&-"));
        }
        if !words.is_empty() {
            self.gdb
                .command(&format!("-exec-arguments {}", words.join(" ")), deadline)?;
        }
        self.console(&format!("handle {QUIET_SIGNALS} nostop noprint pass"))?;

        match self.console("starti") {
            Err(GdbError::Command(_, msg)) => {
                return Err(GdbError::Exited(format!(
                    ": gdb could not start the program: {msg}"
                )));
            }
            other => other?,
        };
        let stop = self.wait_stop()?;
        self.t0 = Instant::now();
        if self.exit_of(&stop) {
            return Ok(());
        }
        if self.res.pie {
            let pid = self
                .out
                .exit
                .pid
                .ok_or(GdbError::Exited(": no inferior pid".into()))?;
            let at_entry = read_at_entry(pid)
                .ok_or(GdbError::Exited(": cannot read the program's auxv".into()))?;
            self.bias = at_entry.wrapping_sub(self.res.entry);
        }
        self.out.exit.load_bias = format!("{:#x}", self.bias);
        self.first_stop = Some(stop);
        Ok(())
    }

    /// The thread pointer (`$fs_base`) of gdb's thread `tid`, stopped now.
    fn fs_base(&mut self, tid: u32) -> Result<u64, GdbError> {
        let (_, r) = self.gdb.command(
            &format!("-data-evaluate-expression --thread {tid} $fs_base"),
            self.deadline,
        )?;
        Ok(r.str("value").and_then(parse_number).unwrap_or(0))
    }

    /// Runs a gdb CLI command through MI.
    pub fn console(&mut self, cmd: &str) -> Result<(String, Value), GdbError> {
        self.gdb.command(
            &format!("-interpreter-exec console {}", quote(cmd)),
            self.deadline,
        )
    }

    /// Whether the program is gone (exited, or killed by a signal).
    pub fn ended(&self) -> bool {
        self.out.exit.exit_code.is_some() || self.out.exit.signal.is_some()
    }

    /// Places a one-shot breakpoint at every present step; a step the
    /// program is stopped on right now (a static binary's entry point) is
    /// recorded as hit instead.
    pub fn break_at_steps(&mut self) -> Result<(), GdbError> {
        let Some(stop) = self.first_stop.take() else {
            return Ok(());
        };
        let pc = stop
            .get("frame")
            .and_then(|f| f.str("addr"))
            .and_then(parse_hex);
        for (i, step) in self.res.steps.iter().enumerate() {
            let Some(addr) = step.address else { continue };
            let addr = addr.wrapping_add(self.bias);
            if Some(addr) == pc {
                let tid = stop
                    .str("thread-id")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(1);
                self.record_hit(i, tid, &stop)?;
                continue;
            }
            let (_, r) = self
                .gdb
                .command(&format!("-break-insert -t *{addr:#x}"), self.deadline)?;
            if let Some(n) = r.get("bkpt").and_then(|b| b.str("number")) {
                self.by_bkpt.insert(n.to_string(), i);
            }
        }
        Ok(())
    }

    /// Continues the program to its next event, recording step hits and
    /// crashes in the outcome.
    pub fn next_event(&mut self) -> Result<Event, GdbError> {
        loop {
            self.gdb.command("-exec-continue", self.deadline)?;
            let stop = self.wait_stop()?;
            if self.exit_of(&stop) {
                return Ok(Event::Exited);
            }
            match stop.str("reason") {
                Some("breakpoint-hit") => {
                    let Some(&i) = stop.str("bkptno").and_then(|n| self.by_bkpt.get(n)) else {
                        continue;
                    };
                    let tid = stop
                        .str("thread-id")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    self.record_hit(i, tid, &stop)?;
                    return Ok(Event::Step { index: i });
                }
                Some("signal-received") => {
                    self.note_signal(&stop);
                    return Ok(Event::Signal);
                }
                _ => {}
            }
        }
    }

    /// Notes a signal of the kind that kills, with where it arrived: if
    /// the program then dies of it, that is the crash.
    fn note_signal(&mut self, stop: &Value) {
        let sig = stop.str("signal-name").unwrap_or("?");
        if FATAL_SIGNALS.contains(&sig) && self.out.exit.faults.len() < MAX_FAULTS {
            let frame = stop.get("frame");
            let func = frame.and_then(|f| f.str("func")).unwrap_or("??");
            let at = match (
                frame.and_then(|f| f.str("file")),
                frame.and_then(|f| f.str("line")),
            ) {
                (Some(f), Some(l)) => format!("{func} ({f}:{l})"),
                _ => func.to_string(),
            };
            self.out.exit.faults.push(Fault {
                signal: sig.to_string(),
                at,
                after_hits: self.out.hits.len(),
            });
        }
    }

    /// Waits for `*stopped`, noting the inferior's pid on the way.
    fn wait_stop(&mut self) -> Result<Value, GdbError> {
        loop {
            match self.gdb.next_async(self.deadline)? {
                Record::Class {
                    kind: Kind::Exec,
                    class,
                    results,
                    ..
                } if class == "stopped" => return Ok(results),
                Record::Class {
                    kind: Kind::Notify,
                    class,
                    results,
                    ..
                } if class == "thread-group-started" => {
                    self.out.exit.pid = results.str("pid").and_then(|p| p.parse().ok());
                }
                Record::Stream(Stream::Log, _)
                | Record::Stream(..)
                | Record::Class { .. }
                | Record::Prompt => {}
            }
        }
    }

    /// Whether the stop says the program is gone (and how it ended).
    fn exit_of(&mut self, stop: &Value) -> bool {
        let exit = &mut self.out.exit;
        match stop.str("reason") {
            Some("exited-normally") => exit.exit_code = Some(0),
            // MI reports the exit code in octal.
            Some("exited") => {
                exit.exit_code = stop
                    .str("exit-code")
                    .and_then(|c| i32::from_str_radix(c, 8).ok())
            }
            Some("exited-signalled") => {
                let sig = stop.str("signal-name").unwrap_or("?").to_string();
                // Where the killing signal arrived, when gdb saw it arrive.
                if let Some(f) = exit.faults.iter().rev().find(|f| f.signal == sig) {
                    exit.crash = Some(format!("{sig} in {}", f.at));
                    exit.crash_after = Some(f.after_hits);
                }
                exit.signal = Some(sig);
            }
            _ => return false,
        }
        true
    }

    fn record_hit(&mut self, i: usize, tid: u32, stop: &Value) -> Result<(), GdbError> {
        let time_ms = self.t0.elapsed().as_secs_f64() * 1000.0;
        let (_, info) = self
            .gdb
            .command(&format!("-thread-info {tid}"), self.deadline)?;
        let lwp = info
            .get("threads")
            .and_then(|t| t.items().first())
            .and_then(|t| t.str("target-id"))
            .and_then(parse_lwp);
        let frame = stop.get("frame");
        let step = &self.res.steps[i];
        let (file, line) = match (
            frame.and_then(|f| f.str("file")),
            frame.and_then(|f| f.str("line")),
        ) {
            (Some(f), l) => (Some(f.to_string()), l.and_then(|l| l.parse().ok())),
            _ => (
                step.location.as_ref().map(|l| l.file.clone()),
                step.location.as_ref().map(|l| l.line),
            ),
        };
        let addr = step.address.unwrap_or(0).wrapping_add(self.bias);
        let fs_base = self.fs_base(tid)?;
        let out = &mut self.out;
        out.hits.push(Hit {
            order: out.hits.len() + 1,
            step: step.name.clone(),
            thread: tid,
            lwp,
            main_thread: lwp.is_some() && lwp == out.exit.pid,
            runtime_thread: None,
            fs_base,
            func: frame
                .and_then(|f| f.str("func"))
                .filter(|f| *f != "??")
                .map(str::to_string),
            file,
            line,
            address: format!("{addr:#x}"),
            time_ms,
        });
        Ok(())
    }

    /// Ends the session: gdb is asked to quit after a clean end; after an
    /// error the program and gdb are killed (a timeout is noted as such,
    /// anything else becomes the outcome's `gdb_error`).
    pub fn finish(self, result: Result<(), GdbError>) -> RunOutcome {
        match result {
            Ok(()) => {
                let Session { gdb, out, .. } = self;
                gdb.quit(Instant::now() + Duration::from_secs(5));
                out
            }
            Err(GdbError::Timeout) => {
                let mut out = self.abandon();
                out.exit.timed_out = true;
                out
            }
            Err(GdbError::Interrupted) => {
                let mut out = self.abandon();
                out.exit.interrupted = true;
                out
            }
            Err(e) => {
                let mut out = self.abandon();
                out.gdb_error = Some(e.to_string());
                out
            }
        }
    }

    /// Kills the program and gdb, keeping what was recorded.
    fn abandon(self) -> RunOutcome {
        kill_inferior(self.out.exit.pid);
        self.gdb.kill();
        self.out
    }
}

/// The program's terminal and the run's clock, from [`launch`] to
/// [`Launch::finish`].
pub struct Launch {
    pty: Pty,
    started: Instant,
}

impl Launch {
    /// `out` completed with the program's output and the run's wall time.
    pub fn finish(self, mut out: RunOutcome) -> RunOutcome {
        out.program_output = self.pty.finish();
        out.elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        out
    }
}

/// What [`launch`] started.
pub struct Launched<'a> {
    /// The terminal and the clock, for [`Launch::finish`].
    pub launch: Launch,
    /// The program at its first instruction under gdb, or the outcome
    /// saying why it is not (gdb and the program are then gone).
    pub session: Result<Session<'a>, Box<RunOutcome>>,
    /// The runtime's layouts read from the binary, or why they could not be.
    pub runtime: Result<Program, String>,
}

/// How every run starts (`break-bootstrap`'s and the tour's): a
/// pseudo-terminal for the program's output (to `sink`), then gdb getting
/// the program to its first instruction on one thread while
/// `open_runtime` reads the runtime's layouts from the binary on this one
/// (each takes a few hundred ms). The clock for `opts.timeout` starts
/// here. When no pseudo-terminal can be had, the outcome says so and
/// nothing was started.
pub fn launch<'a>(
    res: &'a Resolution,
    opts: &RunOptions,
    sink: Sink,
    open_runtime: impl FnOnce() -> Result<Program, String>,
) -> Result<Launched<'a>, Box<RunOutcome>> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let pty = Pty::open(sink).map_err(|e| {
        Box::new(RunOutcome {
            gdb_error: Some(format!(
                "cannot open a pseudo-terminal for the program: {e}"
            )),
            ..RunOutcome::default()
        })
    })?;
    let (session, runtime) = std::thread::scope(|s| {
        let starting = s.spawn(|| Session::start(res, opts, &pty.path, deadline));
        let runtime = open_runtime();
        let session = starting
            .join()
            .expect("the gdb session's thread does not panic");
        (session, runtime)
    });
    Ok(Launched {
        launch: Launch { pty, started },
        session,
        runtime,
    })
}

/// Runs the program to its end with a breakpoint on every step, its
/// output going to `sink`; never panics on gdb misbehaviour (it becomes
/// `gdb_error`). `open_runtime` reads the runtime's layouts from the
/// binary (while gdb starts) to name the hits' threads; when it fails, the
/// hits keep gdb's thread numbers.
pub fn run(
    res: &Resolution,
    opts: &RunOptions,
    sink: Sink,
    open_runtime: impl FnOnce() -> Result<Program, String>,
) -> RunOutcome {
    let Launched {
        launch,
        session,
        runtime,
    } = match launch(res, opts, sink, open_runtime) {
        Ok(l) => l,
        Err(out) => return *out,
    };
    let out = match session {
        Ok(mut session) => {
            let runtime = runtime.ok().and_then(|mut prog| {
                let mem = LiveProcess::open(session.out.exit.pid?).ok()?;
                prog.set_bias(session.bias, &mem);
                Some((prog, mem))
            });
            let result = drive(&mut session, runtime.as_ref());
            session.finish(result)
        }
        Err(out) => *out,
    };
    launch.finish(out)
}

/// Every step's breakpoint, then continue until the program is gone. With
/// the program's `runtime` (its layouts and memory), each hit's thread is
/// named as the runtime knows it, read while the program is stopped there.
fn drive(session: &mut Session, runtime: Option<&(Program, LiveProcess)>) -> Result<(), GdbError> {
    if session.ended() {
        return Ok(());
    }
    session.break_at_steps()?;
    loop {
        let event = session.next_event()?;
        if let (Event::Step { .. }, Some((prog, mem))) = (&event, runtime)
            && let Some(hit) = session.out.hits.last_mut()
        {
            hit.runtime_thread = RuntimeThread::read(prog, mem, hit.fs_base).map(|t| t.name());
        }
        if let Event::Exited = event {
            return Ok(());
        }
    }
}

/// A copy of gdbx's stdin that gdb and then the program inherit (not
/// close-on-exec). It sits at the lowest free fd from 3 up, and must be
/// below 10: POSIX sh (dash) reads `0<&10` as a syntax error.
struct ProgramStdin(std::os::fd::OwnedFd);

impl ProgramStdin {
    /// None when gdbx has no stdin (fd 0 closed), or, with a warning, when
    /// fds 3 to 9 are all taken.
    fn inherit() -> Option<ProgramStdin> {
        use std::os::fd::FromRawFd;
        // SAFETY: F_DUPFD duplicates fd 0 (if open) to the lowest free fd
        // >= 3, without FD_CLOEXEC; the new fd is ours to own.
        let fd = unsafe { libc::fcntl(0, libc::F_DUPFD, 3) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fcntl just returned this fd.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        if fd > 9 {
            eprintln!(
                "gdbx: warning: the program gets no stdin: fds 3 to 9 of gdbx are all open, \
                 and the shell that starts the program can only pass one of those"
            );
            return None;
        }
        Some(ProgramStdin(owned))
    }

    fn fd(&self) -> i32 {
        std::os::fd::AsRawFd::as_raw_fd(&self.0)
    }
}

fn kill_inferior(pid: Option<u32>) {
    if let Some(pid) = pid {
        // SAFETY: sending SIGKILL to the program we started under gdb.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// gdb's value of an integer: decimal, or hex with `0x`.
fn parse_number(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s
            .parse::<u64>()
            .ok()
            .or_else(|| s.parse::<i64>().ok().map(|v| v as u64)),
    }
}

/// The OS thread id in gdb's `target-id`: `Thread 0x7f.. (LWP 42)`, `LWP 42`, `process 42`.
pub fn parse_lwp(target_id: &str) -> Option<u32> {
    for key in ["LWP ", "process "] {
        if let Some(at) = target_id.find(key) {
            let digits: String = target_id[at + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            return digits.parse().ok();
        }
    }
    None
}

/// `AT_ENTRY` from `/proc/PID/auxv` (pairs of native u64).
fn read_at_entry(pid: u32) -> Option<u64> {
    let auxv = std::fs::read(format!("/proc/{pid}/auxv")).ok()?;
    auxv.chunks_exact(16).find_map(|c| {
        let key = u64::from_ne_bytes(c[..8].try_into().ok()?);
        if key == libc::AT_ENTRY {
            Some(u64::from_ne_bytes(c[8..].try_into().ok()?))
        } else {
            None
        }
    })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lwp_from_target_ids() {
        assert_eq!(parse_lwp("Thread 0x7ffff7d8a740 (LWP 4242)"), Some(4242));
        assert_eq!(parse_lwp("LWP 17"), Some(17));
        assert_eq!(parse_lwp("process 99"), Some(99));
        assert_eq!(parse_lwp("Thread 1"), None);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
