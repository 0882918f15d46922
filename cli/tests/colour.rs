//! Colour only on a terminal, and never with NO_COLOR (the terminal is a
//! pty from util-linux's `script`).

mod common;

use gdbx_tests::go_hello;
use std::process::Command;

fn under_pty(no_color: bool) -> String {
    let cmd = format!(
        "{} break-bootstrap {}",
        env!("CARGO_BIN_EXE_gdbx"),
        go_hello(false).display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let out = common::watched(&mut c);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn terminal_gets_colour() {
    gdbx_tests::require_gdb!();
    let text = under_pty(false);
    assert!(text.contains("\x1b[32m\x1b[1mPASS\x1b[0m\x1b[0m"), "{text}");
}

#[test]
fn no_color_on_a_terminal_means_none() {
    gdbx_tests::require_gdb!();
    let text = under_pty(true);
    assert!(text.contains("PASS all 13 required steps"), "{text}");
    assert!(!text.contains('\x1b'), "{text}");
}

#[test]
fn pipe_gets_no_colour() {
    gdbx_tests::require_gdb!();
    let out = common::watched(
        Command::new(env!("CARGO_BIN_EXE_gdbx"))
            .arg("break-bootstrap")
            .arg(go_hello(false))
            .env_remove("NO_COLOR"),
    );
    assert_eq!(out.status.code(), Some(0));
    let text = common::stdout(&out);
    assert!(text.contains("PASS") && !text.contains('\x1b'), "{text}");
}
