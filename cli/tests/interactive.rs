//! `gdbx gdb BINARY`: trust only the binary's directory and python/, put
//! python/ on gdb's Python path.

mod common;

use common::*;
use gdbx_tests::{go_hello, workspace_root};

#[test]
fn gdb_trusts_only_what_it_needs() {
    let bin = go_hello(false).canonicalize().unwrap();
    let out = gdbx([
        "gdb".as_ref(),
        bin.as_os_str(),
        "--".as_ref(),
        "-batch".as_ref(),
        "-ex".as_ref(),
        "show auto-load safe-path".as_ref(),
        "-ex".as_ref(),
        "python print('PATH0=' + sys.path[0])".as_ref(),
    ]);
    let text = stdout(&out) + &stderr(&out);
    assert_eq!(code(&out), 0, "{text}");
    let ws = workspace_root().canonicalize().unwrap();
    let safe = text
        .lines()
        .find(|l| l.contains("safe to auto-load"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        safe.contains(&bin.parent().unwrap().display().to_string()),
        "{safe}"
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
fn gdb_rejects_bad_binaries_before_starting_gdb() {
    let out = gdbx(["gdb", "/nonexistent/prog"]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out).trim_end(),
        "gdbx: /nonexistent/prog: no such file"
    );
}
