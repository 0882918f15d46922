//! Helpers shared by the tests of built programs (`mod common;`): running a
//! child under the test watchdog. gdb runs go through `gdbx_tests::gdb`.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::time::Duration;

/// How long a child may run before the watchdog kills it (a broken runtime
/// then fails the test instead of hanging it).
pub const WATCHDOG: Duration = Duration::from_secs(120);

/// Run a program to completion (stdout/stderr captured, stdin closed),
/// killing it after [`WATCHDOG`].
pub fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    gdbx_tests::watchdog::output_or_killed(&mut c, WATCHDOG).0
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Seeds for the runs of a self-checking program under every schedule:
/// enough that a fairness bound or a lost wake-up that shows up once in a
/// few dozen schedules is caught.
pub const SEEDS: std::ops::Range<u64> = 1..17;

/// Runs the self-checking program `bin ARGS` under GOMAXPROCS=1 and 2 and
/// every seed of [`SEEDS`] (`GDBX_SEED`: select's poll order and the steal
/// order come from it, so each seed is another schedule); each run must
/// succeed, end with the line `<name> ok` and print a line starting with
/// each of `want`.
pub fn run_under_seeds(bin: &str, name: &str, args: &[&str], want: &[&str]) {
    let last = format!("{name} ok");
    for procs in ["1", "2"] {
        for seed in SEEDS {
            let seed = seed.to_string();
            let out = run(bin, args, &[("GOMAXPROCS", procs), ("GDBX_SEED", &seed)]);
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            let ctx = format!("{name} {args:?} GOMAXPROCS={procs} GDBX_SEED={seed}");
            assert!(
                out.status.success(),
                "{ctx}: {}\n{stdout}\n{stderr}",
                out.status
            );
            for w in want.iter().copied().chain([last.as_str()]) {
                assert!(
                    stdout.lines().any(|l| l.starts_with(w)),
                    "{ctx}: no line starting {w:?} in\n{stdout}"
                );
            }
        }
    }
}
