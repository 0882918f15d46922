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
