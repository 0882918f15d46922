//! `gdbx gdb [GDB-ARGS...] BINARY [CORE]` and `gdbx gdb --args BINARY
//! ARGS...`: a pass-through wrapper that loads the extension (for Go
//! programs too) and trusts only the binary itself.

mod common;

use common::*;
use gdbx_tests::cores::{GoBuild, gcore_at, go_parked};
use gdbx_tests::{Variant, example_bin, go_hello, scratch, workspace_root};
use std::ffi::OsStr;
use std::path::Path;

/// `gdbx gdb -nx -batch -ex 'show auto-load safe-path' [-ex CMD]... BIN`:
/// gdb's whole output and its safe-path line.
/// `gdbx ARGS` with the native module built fresh for the tests, as the gdb
/// harness has it: `cargo test` does not build gdb-ext's cdylib into
/// target/debug, where `gdbx gdb` looks when `GDBX_EXT_PATH` is not set.
fn gdbx_with_ext(args: &[&OsStr]) -> std::process::Output {
    let ext = gdbx_tests::gdb::ext_module().display().to_string();
    gdbx_env(args, &[("GDBX_EXT_PATH".into(), ext)])
}

fn show_safe_path(bin: &Path, commands: &[&str]) -> (String, String) {
    let mut args: Vec<&OsStr> = vec![
        "gdb".as_ref(),
        "-nx".as_ref(),
        "-batch".as_ref(),
        "-ex".as_ref(),
        "show auto-load safe-path".as_ref(),
    ];
    for c in commands {
        args.extend([OsStr::new("-ex"), OsStr::new(c)]);
    }
    args.push(bin.as_os_str());
    let out = gdbx_with_ext(&args);
    let text = stdout(&out) + &stderr(&out);
    assert_eq!(code(&out), 0, "{text}");
    let safe = text
        .lines()
        .find(|l| l.contains("safe to auto-load"))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    (text, safe)
}

#[test]
fn gdb_trusts_only_what_it_needs() {
    gdbx_tests::require_gdb!();
    let bin = go_hello(false).canonicalize().unwrap();
    let (text, safe) = show_safe_path(
        &bin,
        &["python import gdbx; print('GDBX=' + gdbx.__file__)"],
    );
    let ws = workspace_root().canonicalize().unwrap();
    assert!(safe.contains(&bin.display().to_string()), "{safe}");
    assert!(
        !safe.contains(&format!("{}:", bin.parent().unwrap().display())),
        "the binary's directory is not trusted: {safe}"
    );
    assert!(
        !safe.contains(" /.") && !safe.ends_with(" /") && !safe.contains(":/:"),
        "{safe}"
    );
    // The extension was loaded for the Go program, from this workspace.
    assert!(
        text.contains(&format!(
            "GDBX={}",
            ws.join("python/gdbx/__init__.py").display()
        )),
        "{text}"
    );
    assert!(text.contains("gdbx: loaded runtime support for"), "{text}");
}

/// `gdbx gdb -nx -batch GDB-ARGS...`: stdout + stderr, asserting exit 0.
fn gdbx_gdb(args: &[&OsStr]) -> String {
    let mut all: Vec<&OsStr> = vec!["gdb".as_ref(), "-nx".as_ref(), "-batch".as_ref()];
    all.extend_from_slice(args);
    let out = gdbx_with_ext(&all);
    let text = stdout(&out) + &stderr(&out);
    assert_eq!(code(&out), 0, "{text}");
    text
}

#[test]
fn gdb_passes_program_arguments_after_args() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("parked", Variant::Debug);
    let text = gdbx_gdb(&[
        "-ex".as_ref(),
        "break main.ready".as_ref(),
        "-ex".as_ref(),
        "run".as_ref(),
        "-ex".as_ref(),
        "info goroutines -status waiting -location waiter -group".as_ref(),
        "--args".as_ref(),
        bin.as_os_str(),
        "7".as_ref(),
    ]);
    // `parked 7`: seven goroutines parked in the waiter, grouped on one line.
    assert!(text.contains("parked::ready (n=7)"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("7 ") && l.contains("waiter")),
        "{text}"
    );
}

#[test]
fn gdb_opens_a_core_given_after_the_binary() {
    gdbx_tests::require_gdb!();
    let bin = go_parked(GoBuild::NoOpt);
    let core = gcore_at(&bin, &["5"], "main.ready", "interactive-parked-go-5");
    let text = gdbx_gdb(&[
        "-ex".as_ref(),
        "info goroutines -location main.worker -group".as_ref(),
        bin.as_os_str(),
        core.as_os_str(),
    ]);
    assert!(text.contains("gdbx: loaded runtime support for"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("5 ") && l.contains("main.worker")),
        "{text}"
    );
}

#[test]
fn gdb_trusts_the_binary_file_not_its_directory() {
    gdbx_tests::require_gdb!();
    // A copy of hello in a scratch directory: gdb auto-loads its
    // `.debug_gdb_scripts` entry (the binary is trusted), and nothing else
    // in that directory is trusted.
    let dir = scratch("trust").canonicalize().unwrap();
    let bin = dir.join("hello");
    std::fs::copy(example_bin("hello", Variant::Debug), &bin).unwrap();
    let (text, safe) = show_safe_path(&bin, &[]);
    assert!(!text.contains("declined"), "{text}");
    let entries: Vec<&str> = safe
        .trim_end_matches('.')
        .rsplit(' ')
        .next()
        .unwrap_or("")
        .split(':')
        .collect();
    assert!(entries.contains(&bin.to_str().unwrap()), "{safe}");
    assert!(!entries.contains(&dir.to_str().unwrap()), "{safe}");
}

#[test]
fn gdb_rejects_bad_binaries_and_cores_before_starting_gdb() {
    let out = gdbx(["gdb", "-batch", "/nonexistent/prog"]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out).trim_end(),
        "gdbx: /nonexistent/prog: no such file"
    );
    let out = gdbx(["gdb", "--args", "/nonexistent/prog", "10"]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out).trim_end(),
        "gdbx: /nonexistent/prog: no such file"
    );
    let hello = go_hello(false);
    let out = gdbx([
        "gdb".as_ref(),
        hello.as_os_str(),
        OsStr::new("/nonexistent/core"),
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out).trim_end(),
        "gdbx: /nonexistent/core: no such core file (usage: gdbx gdb [GDB-ARGS...] BINARY [CORE], or --args BINARY ARGS...)"
    );
    let out = gdbx(["gdb"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}
