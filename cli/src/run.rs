//! `break-bootstrap`'s engine: run the program under gdb/MI with a one-shot
//! breakpoint at every resolved step, record each hit, then judge the order.
//!
//! The sequence: `starti` (the program exists, nothing of it has run), the
//! load bias for a PIE from `/proc/PID/auxv` (`AT_ENTRY - e_entry`), one
//! `-break-insert -t *ADDR` per step at its entry address, then
//! `-exec-continue` until the program exits. One-shot breakpoints mean each
//! step is recorded at its first call (later `newproc`s or Go's restart of a
//! function after stack growth do not stop the program again).

use crate::gdb::{Gdb, GdbError};
use crate::mi::{Kind, Record, Stream, Value, quote};
use crate::pty::{Pty, Sink};
use debuginfo::plan::{Resolution, ThreadReq};
use serde::Serialize;
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
    /// Where the program's output goes.
    pub sink: Sink,
}

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

/// How the program ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProgramExit {
    /// Its pid.
    pub pid: Option<u32>,
    /// Exit status, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<String>,
    /// A fatal signal it received (crash), and where.
    pub crash: Option<String>,
    /// How many steps had been hit when that signal arrived (None: all).
    #[serde(skip)]
    pub crash_after: Option<usize>,
    /// gdbx's timeout killed it.
    pub timed_out: bool,
    /// The load bias applied to the plan's addresses (PIE).
    pub load_bias: String,
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

const QUIET_SIGNALS: &str =
    "SIGURG SIGPIPE SIGPROF SIGALRM SIGCHLD SIGWINCH SIGUSR1 SIGUSR2 SIGXCPU";
const FATAL_SIGNALS: &[&str] = &[
    "SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGSYS", "SIGTRAP",
];

/// Runs the program; never panics on gdb misbehaviour (it becomes `gdb_error`).
pub fn run(res: &Resolution, entry: u64, pie: bool, opts: RunOptions) -> RunOutcome {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let mut out = RunOutcome::default();
    let pty = match Pty::open(opts.sink) {
        Ok(p) => p,
        Err(e) => {
            out.gdb_error = Some(format!(
                "cannot open a pseudo-terminal for the program: {e}"
            ));
            return out;
        }
    };
    let mut gdb = match Gdb::spawn(&opts.gdb, &opts.binary) {
        Ok(g) => g,
        Err(e) => {
            out.gdb_error = Some(format!("cannot start {}: {e}", opts.gdb.display()));
            out.program_output = pty.finish();
            return out;
        }
    };
    let result = drive(
        &mut gdb, res, entry, pie, &opts.args, &pty.path, deadline, &mut out,
    );
    match result {
        Ok(()) => gdb.quit(Instant::now() + Duration::from_secs(5)),
        Err(GdbError::Timeout) => {
            out.exit.timed_out = true;
            kill_inferior(out.exit.pid);
            gdb.kill();
        }
        Err(e) => {
            out.gdb_error = Some(e.to_string());
            kill_inferior(out.exit.pid);
            gdb.kill();
        }
    }
    out.program_output = pty.finish();
    out.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    out
}

fn kill_inferior(pid: Option<u32>) {
    if let Some(pid) = pid {
        // SAFETY: sending SIGKILL to the program we started under gdb.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn drive(
    gdb: &mut Gdb,
    res: &Resolution,
    entry: u64,
    pie: bool,
    args: &[String],
    tty: &str,
    deadline: Instant,
    out: &mut RunOutcome,
) -> Result<(), GdbError> {
    for cmd in [
        "-gdb-set confirm off",
        "-gdb-set pagination off",
        "-gdb-set auto-load off",
        "-gdb-set startup-with-shell on",
    ] {
        gdb.command(cmd, deadline)?;
    }
    // Not every gdb build has debuginfod; it must never prompt.
    let _ = gdb.command("-gdb-set debuginfod enabled off", deadline);
    gdb.command(&format!("-inferior-tty-set {}", quote(tty)), deadline)?;
    if !args.is_empty() {
        let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        gdb.command(&format!("-exec-arguments {}", quoted.join(" ")), deadline)?;
    }
    gdb.command(
        &format!(
            "-interpreter-exec console {}",
            quote(&format!("handle {QUIET_SIGNALS} nostop noprint pass"))
        ),
        deadline,
    )?;

    match gdb.command(
        &format!("-interpreter-exec console {}", quote("starti")),
        deadline,
    ) {
        Err(GdbError::Command(_, msg)) => {
            return Err(GdbError::Exited(format!(
                ": gdb could not start the program: {msg}"
            )));
        }
        other => other?,
    };
    let stop = wait_stop(gdb, deadline, out)?;
    let t0 = Instant::now();
    let pc = stop
        .get("frame")
        .and_then(|f| f.str("addr"))
        .and_then(parse_hex);
    if exit_of(&stop, out).is_some() {
        return Ok(());
    }

    let bias = if pie {
        let pid = out
            .exit
            .pid
            .ok_or(GdbError::Exited(": no inferior pid".into()))?;
        let at_entry = read_at_entry(pid)
            .ok_or(GdbError::Exited(": cannot read the program's auxv".into()))?;
        at_entry.wrapping_sub(entry)
    } else {
        0
    };
    out.exit.load_bias = format!("{bias:#x}");

    let mut by_bkpt: HashMap<String, usize> = HashMap::new();
    for (i, step) in res.steps.iter().enumerate() {
        let Some(addr) = step.address else { continue };
        let addr = addr.wrapping_add(bias);
        if Some(addr) == pc {
            // starti stopped right on it (a static binary's entry point).
            let tid = stop
                .str("thread-id")
                .and_then(|t| t.parse().ok())
                .unwrap_or(1);
            record_hit(gdb, res, i, tid, &stop, addr, t0, deadline, out)?;
            continue;
        }
        let (_, r) = gdb.command(&format!("-break-insert -t *{addr:#x}"), deadline)?;
        if let Some(n) = r.get("bkpt").and_then(|b| b.str("number")) {
            by_bkpt.insert(n.to_string(), i);
        }
    }

    loop {
        gdb.command("-exec-continue", deadline)?;
        let stop = wait_stop(gdb, deadline, out)?;
        if exit_of(&stop, out).is_some() {
            return Ok(());
        }
        match stop.str("reason") {
            Some("breakpoint-hit") => {
                let Some(&i) = stop.str("bkptno").and_then(|n| by_bkpt.get(n)) else {
                    continue;
                };
                let tid = stop
                    .str("thread-id")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let addr = res.steps[i].address.unwrap_or(0).wrapping_add(bias);
                record_hit(gdb, res, i, tid, &stop, addr, t0, deadline, out)?;
            }
            Some("signal-received") => {
                let sig = stop.str("signal-name").unwrap_or("?");
                if FATAL_SIGNALS.contains(&sig) && out.exit.crash.is_none() {
                    let frame = stop.get("frame");
                    let func = frame.and_then(|f| f.str("func")).unwrap_or("??");
                    let at = match (
                        frame.and_then(|f| f.str("file")),
                        frame.and_then(|f| f.str("line")),
                    ) {
                        (Some(f), Some(l)) => format!(" ({f}:{l})"),
                        _ => String::new(),
                    };
                    out.exit.crash = Some(format!("{sig} in {func}{at}"));
                    out.exit.crash_after = Some(out.hits.len());
                }
            }
            _ => {}
        }
    }
}

/// Waits for `*stopped`, noting the inferior's pid on the way.
fn wait_stop(gdb: &mut Gdb, deadline: Instant, out: &mut RunOutcome) -> Result<Value, GdbError> {
    loop {
        match gdb.next_async(deadline)? {
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
                out.exit.pid = results.str("pid").and_then(|p| p.parse().ok());
            }
            Record::Stream(Stream::Log, _)
            | Record::Stream(..)
            | Record::Class { .. }
            | Record::Prompt => {}
        }
    }
}

/// `Some(())` when the stop says the program is gone.
fn exit_of(stop: &Value, out: &mut RunOutcome) -> Option<()> {
    match stop.str("reason")? {
        "exited-normally" => out.exit.exit_code = Some(0),
        // MI reports the exit code in octal.
        "exited" => {
            out.exit.exit_code = stop
                .str("exit-code")
                .and_then(|c| i32::from_str_radix(c, 8).ok())
        }
        "exited-signalled" => out.exit.signal = stop.str("signal-name").map(str::to_string),
        _ => return None,
    }
    Some(())
}

#[allow(clippy::too_many_arguments)]
fn record_hit(
    gdb: &mut Gdb,
    res: &Resolution,
    i: usize,
    tid: u32,
    stop: &Value,
    addr: u64,
    t0: Instant,
    deadline: Instant,
    out: &mut RunOutcome,
) -> Result<(), GdbError> {
    let time_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (_, info) = gdb.command(&format!("-thread-info {tid}"), deadline)?;
    let lwp = info
        .get("threads")
        .and_then(|t| t.items().first())
        .and_then(|t| t.str("target-id"))
        .and_then(parse_lwp);
    let frame = stop.get("frame");
    let step = &res.steps[i];
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
    out.hits.push(Hit {
        order: out.hits.len() + 1,
        step: step.name.clone(),
        thread: tid,
        lwp,
        main_thread: lwp.is_some() && lwp == out.exit.pid,
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

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
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

/// One problem the verdict found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The step concerned, if any.
    pub step: Option<String>,
    /// `missing`, `not_in_binary`, `out_of_order` (status 1); `crash`,
    /// `timeout`, `gdb`, `exit_status` (status 3).
    pub kind: &'static str,
    /// One line for a person.
    pub message: String,
}

/// The judgement of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// All required steps hit in order and the program ran to completion.
    pub ok: bool,
    /// gdbx's exit status: 0 in order, 1 missing/out of order, 3 gdb or the
    /// program failed (crash, timeout, non-zero exit status).
    pub status: i32,
    /// Required steps hit / required steps.
    pub required_hit: usize,
    /// Number of required steps.
    pub required: usize,
    /// What went wrong.
    pub problems: Vec<Problem>,
    /// Observations that do not fail the run (optional steps, threads).
    pub notes: Vec<String>,
}

/// Checks the partial order: chain steps in order, `after` steps after
/// their anchor, required steps present. The run itself failing — gdb
/// error, timeout, a fatal signal, a non-zero exit status — is status 3.
pub fn judge(res: &Resolution, out: &RunOutcome) -> Verdict {
    let first: HashMap<&str, &Hit> = out
        .hits
        .iter()
        .rev()
        .map(|h| (h.step.as_str(), h))
        .collect();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let last_hit = |before: usize| -> String {
        match out.hits.iter().take_while(|h| h.order < before).last() {
            Some(h) => format!("last hit before it: #{} {}", h.order, h.step),
            None => "no step was hit before it".into(),
        }
    };
    let mut prev: Option<&Hit> = None;
    let mut required = 0;
    let mut required_hit = 0;
    for step in &res.steps {
        if !step.optional {
            required += 1;
        }
        let hit = first.get(step.name.as_str()).copied();
        match (hit, step.present, step.optional) {
            (Some(_), _, false) => required_hit += 1,
            (None, false, false) => problems.push(Problem {
                step: Some(step.name.clone()),
                kind: "not_in_binary",
                message: format!(
                    "step {} `{}` is not in the binary (no such symbol)",
                    step.index, step.name
                ),
            }),
            // gdb never got the program going: the run problem says it all.
            (None, true, false) if out.gdb_error.is_some() && out.hits.is_empty() => {}
            (None, true, false) => {
                let after = prev.map_or(String::new(), |p| {
                    format!("; last step hit before it: #{} {}", p.order, p.step)
                });
                problems.push(Problem {
                    step: Some(step.name.clone()),
                    kind: "missing",
                    message: format!(
                        "step {} `{}` was never hit (breakpoint at {}){after}",
                        step.index,
                        step.name,
                        step.address.map_or("?".into(), |a| format!("{a:#x}"))
                    ),
                });
            }
            (None, _, true) => notes.push(format!("optional step `{}` not hit", step.name)),
            (Some(_), _, true) => {}
        }
        let Some(hit) = hit else { continue };
        match &step.after {
            None => {
                if let Some(p) = prev
                    && hit.order < p.order
                {
                    problems.push(Problem {
                        step: Some(step.name.clone()),
                        kind: "out_of_order",
                        message: format!(
                            "step {} `{}` was hit as #{} on thread {}, before `{}` (#{}); {}",
                            step.index,
                            step.name,
                            hit.order,
                            hit.thread,
                            p.step,
                            p.order,
                            last_hit(hit.order)
                        ),
                    });
                }
                if step.thread == ThreadReq::Main && !hit.main_thread && hit.lwp.is_some() {
                    notes.push(format!(
                        "`{}` ran on thread {} (LWP {}), not the main thread",
                        step.name,
                        hit.thread,
                        hit.lwp.unwrap_or(0)
                    ));
                }
                prev = Some(hit);
            }
            Some(anchor) => match first.get(anchor.as_str()) {
                Some(a) if hit.order < a.order => problems.push(Problem {
                    step: Some(step.name.clone()),
                    kind: "out_of_order",
                    message: format!(
                        "step {} `{}` was hit as #{}, before `{anchor}` (#{})",
                        step.index, step.name, hit.order, a.order
                    ),
                }),
                Some(_) => {
                    if step.thread == ThreadReq::Own && hit.main_thread {
                        notes.push(format!("`{}` ran on the main thread", step.name));
                    }
                }
                None => problems.push(Problem {
                    step: Some(step.name.clone()),
                    kind: "out_of_order",
                    message: format!(
                        "step {} `{}` was hit (#{}) but `{anchor}` never was",
                        step.index, step.name, hit.order
                    ),
                }),
            },
        }
    }
    // The run's own failures (status 3), each saying how far it got.
    let after = |hits: &[Hit]| {
        hits.last().map_or("before any step".into(), |h| {
            format!("after #{} {}", h.order, h.step)
        })
    };
    let mut run_problems: Vec<(&'static str, String)> = Vec::new();
    if let Some(e) = &out.gdb_error {
        run_problems.push(("gdb", e.clone()));
    }
    if out.exit.timed_out {
        let last = out.hits.last().map_or("no step was hit".into(), |h| {
            format!("last hit: #{} {}", h.order, h.step)
        });
        let message = format!("the program was killed by gdbx's timeout; {last}");
        run_problems.push(("timeout", message));
    }
    if let Some(c) = &out.exit.crash {
        // The last step hit before the signal, not the last of the run (a
        // program that handles the fault may still reach runtime.exit).
        let before = out.exit.crash_after.unwrap_or(out.hits.len());
        let last = after(&out.hits[..before.min(out.hits.len())]);
        run_problems.push(("crash", format!("the program crashed: {c}, {last}")));
    } else if let Some(sig) = &out.exit.signal {
        run_problems.push(("crash", format!("the program was killed by {sig}")));
    }
    if let Some(code) = out.exit.exit_code.filter(|&c| c != 0) {
        let last = after(&out.hits);
        let message = format!("the program failed: it exited with status {code}, {last}");
        run_problems.push(("exit_status", message));
    }
    let failed = !run_problems.is_empty();
    problems.extend(run_problems.into_iter().map(|(kind, message)| Problem {
        step: None,
        kind,
        message,
    }));
    let status = if failed {
        3
    } else if problems.is_empty() {
        0
    } else {
        1
    };
    Verdict {
        ok: status == 0,
        status,
        required_hit,
        required,
        problems,
        notes,
    }
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

    fn resolution(steps: &[(&str, Option<&str>, bool)]) -> Resolution {
        Resolution {
            binary: "hello".into(),
            flavor: debuginfo::Flavor::Ours,
            plan: debuginfo::plan::PlanKind::Ours,
            pie: false,
            entry: 0x1000,
            dwarf: true,
            dwarf_versions: vec![4],
            warnings: vec![],
            steps: steps
                .iter()
                .enumerate()
                .map(
                    |(i, &(name, after, optional))| debuginfo::plan::ResolvedStep {
                        index: i + 1,
                        name: name.into(),
                        thread: if after.is_some() {
                            ThreadReq::Own
                        } else {
                            ThreadReq::Main
                        },
                        after: after.map(str::to_string),
                        optional,
                        what: String::new(),
                        present: true,
                        symbol: Some(name.into()),
                        address: Some(0x1000 + i as u64 * 16),
                        size: 16,
                        location: None,
                        post_prologue: None,
                        post_prologue_source: None,
                        post_prologue_location: None,
                        wrapper: None,
                    },
                )
                .collect(),
        }
    }

    fn outcome(hits: &[&str]) -> RunOutcome {
        RunOutcome {
            hits: hits
                .iter()
                .enumerate()
                .map(|(i, &step)| Hit {
                    order: i + 1,
                    step: step.into(),
                    thread: if step == "sysmon" { 2 } else { 1 },
                    lwp: Some(if step == "sysmon" { 11 } else { 10 }),
                    main_thread: step != "sysmon",
                    func: None,
                    file: None,
                    line: None,
                    address: String::new(),
                    time_ms: i as f64,
                })
                .collect(),
            exit: ProgramExit {
                pid: Some(10),
                exit_code: Some(0),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn plan() -> Resolution {
        resolution(&[
            ("a", None, false),
            ("b", None, false),
            ("c", None, false),
            ("sysmon", Some("b"), true),
        ])
    }

    #[test]
    fn in_order_passes_and_optional_may_be_absent() {
        let v = judge(&plan(), &outcome(&["a", "b", "sysmon", "c"]));
        assert!(v.ok && v.status == 0, "{v:?}");
        let v = judge(&plan(), &outcome(&["a", "b", "c"]));
        assert_eq!(v.status, 0, "{v:?}");
        assert_eq!(v.notes, ["optional step `sysmon` not hit"]);
    }

    #[test]
    fn out_of_order_chain_is_status_1_and_says_where() {
        let v = judge(&plan(), &outcome(&["a", "c", "b"]));
        assert_eq!(v.status, 1);
        assert_eq!(v.problems.len(), 1, "{v:?}");
        assert_eq!(v.problems[0].kind, "out_of_order");
        assert_eq!(v.problems[0].step.as_deref(), Some("c"));
        assert!(
            v.problems[0].message.contains("before `b` (#3)"),
            "{}",
            v.problems[0].message
        );
    }

    #[test]
    fn background_step_before_its_anchor_is_out_of_order() {
        let v = judge(&plan(), &outcome(&["a", "sysmon", "b", "c"]));
        assert_eq!(v.status, 1);
        assert_eq!(v.problems[0].step.as_deref(), Some("sysmon"));
    }

    #[test]
    fn missing_required_step_is_status_1() {
        let v = judge(&plan(), &outcome(&["a", "c"]));
        assert_eq!(v.status, 1);
        assert_eq!(v.problems[0].kind, "missing");
        assert!(
            v.problems[0]
                .message
                .contains("last step hit before it: #1 a"),
            "{}",
            v.problems[0].message
        );
    }

    #[test]
    fn crash_and_timeout_are_status_3() {
        let mut o = outcome(&["a", "b"]);
        o.exit.crash = Some("SIGSEGV in f".into());
        o.exit.exit_code = None;
        let v = judge(&plan(), &o);
        assert_eq!(v.status, 3);
        assert!(
            v.problems
                .iter()
                .any(|p| p.kind == "crash" && p.message.contains("after #2 b")),
            "{v:?}"
        );
        // The signal came after the first hit; the second came later.
        o.exit.crash_after = Some(1);
        let v = judge(&plan(), &o);
        assert!(
            v.problems
                .iter()
                .any(|p| p.kind == "crash" && p.message.contains("after #1 a")),
            "{v:?}"
        );
        let mut o = outcome(&["a"]);
        o.exit.timed_out = true;
        let v = judge(&plan(), &o);
        assert_eq!(v.status, 3);
        assert!(
            v.problems
                .iter()
                .any(|p| p.kind == "timeout" && p.message.contains("last hit: #1 a"))
        );
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
