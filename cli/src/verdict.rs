//! The verdict of a `break-bootstrap` run: pure, from the resolved plan
//! and what the run recorded, no gdb involved.
//!
//! The plan is a partial order: chain steps in plan order on the main
//! thread, background steps after their anchor, required steps present.
//! The run failing (gdb error, timeout, crash, non-zero exit status) is a
//! problem of its own, status 3.

use crate::outcome::{Hit, RunOutcome};
use debuginfo::plan::{Resolution, ThreadReq};
use serde::Serialize;
use std::collections::HashMap;

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
    /// program failed (crash, timeout, non-zero exit status), 130
    /// interrupted by Ctrl-C.
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
/// error, timeout, death by a signal, a non-zero exit status — is status
/// 3 and one problem: the steps it kept from being reached are notes.
pub fn judge(res: &Resolution, out: &RunOutcome) -> Verdict {
    let first: HashMap<&str, &Hit> = out
        .hits
        .iter()
        .rev()
        .map(|h| (h.step.as_str(), h))
        .collect();
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
    if out.exit.interrupted {
        let last = out.hits.last().map_or("no step was hit".into(), |h| {
            format!("last hit: #{} {}", h.order, h.step)
        });
        let message = format!("interrupted (Ctrl-C); the program was killed; {last}");
        run_problems.push(("interrupted", message));
    }
    // A crash is dying of a signal; a signal the program handled is not
    // one (Go turns SIGSEGV into a panic that may be recovered).
    if let Some(sig) = &out.exit.signal {
        let message = match &out.exit.crash {
            // The last step hit before the signal arrived, not the last of the run.
            Some(c) => {
                let before = out.exit.crash_after.unwrap_or(out.hits.len());
                let last = after(&out.hits[..before.min(out.hits.len())]);
                format!("the program died of {c}, {last}")
            }
            None => format!("the program was killed by {sig}, {}", after(&out.hits)),
        };
        run_problems.push(("crash", message));
    }
    if let Some(code) = out.exit.exit_code.filter(|&c| c != 0) {
        let last = after(&out.hits);
        // Go exits with status 2 after turning a fault into a panic: say where it came from.
        let fault = out.exit.faults.first().map_or(String::new(), |f| {
            format!("; it had received {} in {}", f.signal, f.at)
        });
        let message = format!("the program failed: it exited with status {code}, {last}{fault}");
        run_problems.push(("exit_status", message));
    }
    let failed = !run_problems.is_empty();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    if !failed {
        for f in &out.exit.faults {
            notes.push(format!(
                "the program received {} in {} and handled it",
                f.signal, f.at
            ));
        }
    }
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
            // One failure, one problem: the steps after it are its consequence.
            (None, true, false) if failed => notes.push(format!(
                "step {} `{}` was not reached: the run failed",
                step.index, step.name
            )),
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
                            "step {} `{}` was hit as #{} ({}), before `{}` (#{}); {}",
                            step.index,
                            step.name,
                            hit.order,
                            hit.thread_name(),
                            p.step,
                            p.order,
                            last_hit(hit.order)
                        ),
                    });
                }
                if step.thread == ThreadReq::Main && !hit.main_thread && hit.lwp.is_some() {
                    notes.push(format!(
                        "`{}` ran off the main thread: {}",
                        step.name,
                        hit.thread_name()
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
    problems.extend(run_problems.into_iter().map(|(kind, message)| Problem {
        step: None,
        kind,
        message,
    }));
    let status = if out.exit.interrupted {
        130
    } else if failed {
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
    use crate::outcome::{Fault, ProgramExit};

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
                    runtime_thread: None,
                    fs_base: 0,
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
    fn a_chain_step_off_the_main_thread_is_named_as_the_runtime_knows_it() {
        let mut o = outcome(&["a", "b", "c"]);
        let c = &mut o.hits[2];
        (c.thread, c.lwp, c.main_thread) = (3, Some(12), false);
        c.runtime_thread = Some("g1 on M2 (P1)".into());
        let v = judge(&plan(), &o);
        assert_eq!(v.status, 0, "{v:?}");
        assert_eq!(
            v.notes,
            [
                "`c` ran off the main thread: g1 on M2 (P1), LWP 12",
                "optional step `sysmon` not hit"
            ]
        );
        // Before the runtime has given the thread a g: gdb's number.
        o.hits[2].runtime_thread = None;
        let v = judge(&plan(), &o);
        assert_eq!(v.notes[0], "`c` ran off the main thread: thread 3 (LWP 12)");
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
        o.exit.signal = Some("SIGSEGV".into());
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

    fn fault(after_hits: usize) -> Fault {
        Fault {
            signal: "SIGSEGV".into(),
            at: "main.f (x.go:5)".into(),
            after_hits,
        }
    }

    #[test]
    fn a_handled_signal_is_not_a_crash() {
        let mut o = outcome(&["a", "b", "c"]);
        o.exit.faults.push(fault(2));
        let v = judge(&plan(), &o);
        assert_eq!(v.status, 0, "{v:?}");
        assert!(
            v.notes
                .contains(&"the program received SIGSEGV in main.f (x.go:5) and handled it".into()),
            "{v:?}"
        );
    }

    #[test]
    fn one_failure_is_one_problem_and_says_where_the_fault_came_from() {
        // Go's panic for a nil dereference: SIGSEGV, then exit status 2
        // before the last step.
        let mut o = outcome(&["a", "b"]);
        o.exit.faults.push(fault(2));
        o.exit.exit_code = Some(2);
        let v = judge(&plan(), &o);
        assert_eq!(v.status, 3);
        assert_eq!(v.problems.len(), 1, "{v:?}");
        assert_eq!(v.problems[0].kind, "exit_status");
        assert_eq!(
            v.problems[0].message,
            "the program failed: it exited with status 2, after #2 b; it had received SIGSEGV in main.f (x.go:5)"
        );
        assert!(
            v.notes
                .contains(&"step 3 `c` was not reached: the run failed".into()),
            "{v:?}"
        );
    }

    #[test]
    fn interrupted_is_status_130_with_the_hits_so_far() {
        let mut o = outcome(&["a"]);
        o.exit.exit_code = None;
        o.exit.interrupted = true;
        let v = judge(&plan(), &o);
        assert_eq!(v.status, 130);
        assert_eq!(v.problems.len(), 1, "{v:?}");
        assert_eq!(v.problems[0].kind, "interrupted");
        assert!(v.problems[0].message.ends_with("last hit: #1 a"), "{v:?}");
    }
}
