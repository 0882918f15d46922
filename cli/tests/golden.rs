//! Golden-file tests for `gdbx symbols` and `gdbx break-bootstrap`: each
//! `testinput/NAME.args` holds a command line (fixtures as `{go-hello}`,
//! `{go-hello-pie}`, `{hello}`; leading `NAME=VALUE` words set the
//! environment), and `testoutput/NAME.out` the expected
//! stdout+stderr and exit status, after the one normaliser
//! (`gdbx_tests::golden`). `GDBX_BLESS=1` rewrites the expected files.
//!
//! `break-bootstrap` hits of the background steps (sysmon, the scavenger)
//! are left out of its golden files, and hits are not numbered there: their
//! place among the main thread's hits is not fixed (the plan's partial
//! order), and `ours_bootstrap.rs` / `go_bootstrap.rs` check them. The
//! `break-bootstrap` inputs run at `GOMAXPROCS=1`, so that nothing but the
//! main thread can run `main.main` (at two Ps its goroutine may resume on
//! another M after it parks).

mod common;

use common::*;
use debuginfo::plan::Plan;
use std::path::Path;

/// The environment and command line of a `testinput/NAME.args` file,
/// fixtures built.
fn command_line(line: &str) -> (Vec<(String, String)>, Vec<String>) {
    let path = |p: std::path::PathBuf| p.canonicalize().unwrap().display().to_string();
    let mut words = line.split_whitespace().peekable();
    let mut env = Vec::new();
    while let Some((name, value)) = words.peek().and_then(|w| w.split_once('=')) {
        env.push((name.to_string(), value.to_string()));
        words.next();
    }
    let args = words
        .map(|a| match a {
            "{go-hello}" => path(gdbx_tests::go_hello(false)),
            "{go-hello-pie}" => path(gdbx_tests::go_hello(true)),
            "{hello}" => path(gdbx_tests::example_bin("hello", gdbx_tests::Variant::Debug)),
            a => a.to_string(),
        })
        .collect();
    (env, args)
}

/// `break-bootstrap`'s report without the hits of background steps, and
/// its hit lines without numbers and padding (see the module doc).
fn main_thread_hits(report: &str) -> String {
    let background: Vec<&str> = [Plan::ours(), Plan::go()]
        .iter()
        .flat_map(|p| p.steps.iter())
        .filter(|s| s.after.is_some())
        .map(|s| s.name)
        .collect();
    let mut out = String::new();
    for line in report.lines() {
        if let Some(hit) = line.strip_prefix("  #") {
            if line.split_whitespace().any(|w| background.contains(&w)) {
                continue;
            }
            // The columns' widths follow the hit numbers and times.
            let number = hit.bytes().take_while(u8::is_ascii_digit).count();
            out.push_str("  # ");
            out.push_str(
                &hit[number..]
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Costs two gdb runs (break-bootstrap on our hello and on Go's hello) and
/// a few `gdbx symbols`: a few seconds.
#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut inputs: Vec<_> = std::fs::read_dir(dir.join("testinput"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty());
    let mut failures = Vec::new();
    for input in inputs {
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        let (env, args) = command_line(&std::fs::read_to_string(&input).unwrap());
        let runs_gdb = args.first().is_some_and(|a| a == "break-bootstrap");
        if runs_gdb && !gdbx_tests::gdb::require() {
            continue;
        }
        let out = gdbx_env(&args, &env);
        let mut got = format!(
            "{}{}exit status: {}\n",
            stdout(&out),
            stderr(&out),
            code(&out)
        );
        if runs_gdb {
            got = main_thread_hits(&got);
        }
        let expected = dir.join("testoutput").join(format!("{name}.out"));
        if let Err(diff) = gdbx_tests::golden::compare(&expected, &got) {
            failures.push(format!("{name}: {diff}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
