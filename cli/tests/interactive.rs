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
}

/// `gdbx gdb` with no arguments is gdb with the extension, as `rust-gdb`
/// with none is gdb: it reads commands from its stdin.
#[test]
fn gdb_with_no_arguments_starts_gdb_with_the_extension() {
    gdbx_tests::require_gdb!();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gdbx"));
    cmd.arg("gdb")
        .env("GDBX_EXT_PATH", gdbx_tests::gdb::ext_module())
        .env_remove("GDBX_GDB");
    let input = "python import gdbx; print('GDBX=' + gdbx.__file__)\n";
    let out = gdbx_tests::watchdog::output_with_input(&mut cmd, input.as_bytes(), WATCHDOG);
    let text = stdout(&out) + &stderr(&out);
    assert_eq!(code(&out), 0, "{text}");
    let ws = workspace_root().canonicalize().unwrap();
    assert!(
        text.contains(&format!(
            "GDBX={}",
            ws.join("python/gdbx/__init__.py").display()
        )),
        "{text}"
    );
}

/// What gdb can run but the extension cannot read still starts gdb, after
/// one line saying why gdbx's commands are not there: a Go binary linked
/// with `-ldflags "-s -w"` (what it lacks and how to rebuild, not
/// break-bootstrap's recipe), a C program.
#[test]
fn gdb_runs_what_the_extension_cannot_read_and_says_why_in_one_line() {
    gdbx_tests::require_gdb!();
    let stripped = gdbx_tests::go_build("hello-s-w", gdbx_tests::GO_HELLO, &["-ldflags", "-s -w"]);
    let d = scratch("gdb-cprog");
    let src = d.join("c.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void) { puts(\"C ran\"); return 0; }\n",
    )
    .unwrap();
    let cbin = d.join("c");
    gdbx_tests::run_tool(
        "cc",
        &[
            "-g".as_ref(),
            "-o".as_ref(),
            cbin.as_os_str(),
            src.as_os_str(),
        ],
    );
    for (bin, ran, want) in [
        (&stripped, "hello world!", "a Go binary (go1.19"),
        (
            &cbin,
            "C ran",
            "neither a program on the gdbx runtime nor a Go binary (no Go runtime symbols): gdbx's commands (info goroutines, goroutine, $g(), ...) are not installed",
        ),
    ] {
        let out = gdbx_with_ext(&[
            "gdb".as_ref(),
            "-nx".as_ref(),
            "-batch".as_ref(),
            "-ex".as_ref(),
            "run".as_ref(),
            bin.as_os_str(),
        ]);
        let (text, err) = (stdout(&out), stderr(&out));
        assert_eq!(code(&out), 0, "{text}\n{err}");
        assert!(text.contains(ran), "gdb did not run it:\n{text}\n{err}");
        let all = text.clone() + &err;
        let lines: Vec<&str> = all.lines().filter(|l| l.starts_with("gdbx:")).collect();
        assert_eq!(lines.len(), 1, "{text}\n{err}");
        assert!(lines[0].contains(want), "{}", lines[0]);
    }
    let out = gdbx_with_ext(&[
        "gdb".as_ref(),
        "-nx".as_ref(),
        "-batch".as_ref(),
        stripped.as_os_str(),
    ]);
    let err = stderr(&out);
    assert!(
        err.contains(
            "linked with -ldflags=\"-s -w\": gdb runs it, but the goroutine commands need the symbol table and DWARF that -s -w left out; rebuild it without -s -w (plain `go build`)"
        ),
        "{err}"
    );
    assert!(
        !err.contains("breakpoints") && !err.contains("-N -l"),
        "break-bootstrap's wording: {err}"
    );
}
