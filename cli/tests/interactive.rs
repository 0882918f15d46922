//! `gdbx gdb BINARY`: trust only the binary itself and python/, put
//! python/ on gdb's Python path.

mod common;

use common::*;
use gdbx_tests::{Variant, example_bin, go_hello, scratch, workspace_root};
use std::ffi::OsStr;
use std::path::Path;

/// `gdbx gdb BIN -- -batch -ex 'show auto-load safe-path' [-ex CMD]...`:
/// gdb's whole output and its safe-path line.
fn show_safe_path(bin: &Path, commands: &[&str]) -> (String, String) {
    let mut args: Vec<&OsStr> = vec![
        "gdb".as_ref(),
        bin.as_os_str(),
        "--".as_ref(),
        "-batch".as_ref(),
        "-ex".as_ref(),
        "show auto-load safe-path".as_ref(),
    ];
    for c in commands {
        args.extend([OsStr::new("-ex"), OsStr::new(c)]);
    }
    let out = gdbx(&args);
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
    let (text, safe) = show_safe_path(&bin, &["python print('PATH0=' + sys.path[0])"]);
    let ws = workspace_root().canonicalize().unwrap();
    assert!(safe.contains(&bin.display().to_string()), "{safe}");
    assert!(
        !safe.contains(&format!("{}:", bin.parent().unwrap().display())),
        "the binary's directory is not trusted: {safe}"
    );
    assert!(
        safe.contains(&ws.join("python").display().to_string()),
        "{safe}"
    );
    assert!(
        !safe.contains(" /.") && !safe.ends_with(" /") && !safe.contains(":/:"),
        "{safe}"
    );
    assert!(
        text.contains(&format!("PATH0={}", ws.join("python").display())),
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
    assert!(safe.contains(&format!(":{}:", bin.display())), "{safe}");
    assert!(!safe.contains(&format!(":{}:", dir.display())), "{safe}");
}

#[test]
fn gdb_rejects_bad_binaries_before_starting_gdb() {
    let out = gdbx(["gdb", "/nonexistent/prog"]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out).trim_end(),
        "gdbx: /nonexistent/prog: no such file"
    );
}
