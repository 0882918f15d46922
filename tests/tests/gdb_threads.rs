//! Plain gdb keeps the run when it breaks on the Ms and goroutines that
//! come up at start-up: `break runtime.sysmon`, `break runtime.scavenger`
//! (and `break runtime.mstart`), `run`, `continue`... on `hello`, 50 times
//! in a row for each set of commands and each build, with no gdb error.
//!
//! What it guards: gdb 13 loses the run ("Cannot find user-level thread for
//! LWP N: generic error", "Couldn't get registers: No such process") when
//! the process exits while gdb still holds a stop of another thread as a
//! pending event. hello exits right after its sysmon and scavenger are up,
//! so the runtime makes sure that their start can only release
//! `runtime.exit` after gdb has handled their breakpoint stops (see
//! "Starting Ms and exit" in runtime/src/proc.rs, and README.md, "Plain gdb
//! and threads").
//!
//! Cost: 300 short gdb runs of hello (6 tests of 50), about 0.3 s each;
//! the tests run two at a time, so about a minute on 2 cores.

use gdbx_tests::gdb::{Gdb, GdbOutput};
use gdbx_tests::{Variant, example_bin};

/// Runs in a row for each set of commands.
const RUNS: usize = 50;

/// What gdb prints when it loses the run.
const LOST_RUN: &[&str] = &[
    "Cannot find user-level thread",
    "Couldn't get registers",
    "Cannot execute this command while",
    "internal-error",
    "Remote connection closed",
];

/// One run: `breaks`, then `run` and `continues` times `continue`.
fn run_once(variant: Variant, breaks: &[&str], continues: usize, extension: bool) -> GdbOutput {
    let mut g = Gdb::new(example_bin("hello", variant));
    if extension {
        g.extension();
    }
    for b in breaks {
        g.ex(format!("break {b}"));
    }
    g.ex("run");
    for _ in 0..continues {
        g.ex("continue");
    }
    g.run_unchecked()
}

/// `RUNS` runs; each must report a stop at every breakpoint, let hello
/// print and exit normally, and show none of gdb's lost-run errors.
fn stress(variant: Variant, breaks: &[&str], continues: usize, extension: bool) {
    gdbx_tests::require_gdb!();
    for run in 1..=RUNS {
        let out = run_once(variant, breaks, continues, extension);
        let lost: Vec<&&str> = LOST_RUN.iter().filter(|e| out.all.contains(**e)).collect();
        assert!(
            lost.is_empty(),
            "{variant:?} run {run} of {RUNS} ({breaks:?}): gdb lost the run ({lost:?}):\n{}",
            out.all
        );
        for n in 1..=breaks.len() {
            assert!(
                out.all.contains(&format!("hit Breakpoint {n}, ")),
                "{variant:?} run {run}: breakpoint {n} ({}) was never reported:\n{}",
                breaks[n - 1],
                out.all
            );
        }
        assert!(
            out.all.contains("hello world!") && out.all.contains("exited normally"),
            "{variant:?} run {run} ({breaks:?}): hello did not run to its end:\n{}",
            out.all
        );
    }
}

const SYSMON_AND_SCAVENGER: &[&str] = &["runtime.sysmon", "runtime.scavenger"];
const WITH_MSTART: &[&str] = &["runtime.sysmon", "runtime.scavenger", "runtime.mstart"];

/// Enough `continue`s for every stop of `WITH_MSTART` (m0's mstart, one per
/// M started, sysmon, the scavenger); the ones after the exit only fail
/// with "The program is not being run.".
const MSTART_CONTINUES: usize = 10;

#[test]
fn debug_sysmon_and_scavenger() {
    stress(Variant::Debug, SYSMON_AND_SCAVENGER, 2, false);
}

#[test]
fn release_sysmon_and_scavenger() {
    stress(Variant::Release, SYSMON_AND_SCAVENGER, 2, false);
}

#[test]
fn debug_with_mstart() {
    stress(Variant::Debug, WITH_MSTART, MSTART_CONTINUES, false);
}

#[test]
fn release_with_mstart() {
    stress(Variant::Release, WITH_MSTART, MSTART_CONTINUES, false);
}

#[test]
fn debug_with_the_extension() {
    stress(Variant::Debug, SYSMON_AND_SCAVENGER, 2, true);
}

#[test]
fn release_with_the_extension() {
    stress(Variant::Release, SYSMON_AND_SCAVENGER, 2, true);
}
