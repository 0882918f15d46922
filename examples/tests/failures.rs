//! How programs on the runtime fail, checked against Go's behaviour: a
//! panic a goroutine catches is not fatal (recover), an uncaught one is
//! reported as Go does; GOTRACEBACK decides how much a report shows; every
//! fatal path leaves through `runtime.exit(2)`.

mod common;

use std::os::unix::process::ExitStatusExt;

use common::{run, text};
use gdbx_tests::gdb::Gdb;

const RECOVER: &str = env!("CARGO_BIN_EXE_recover");
const CRASH_PANIC: &str = env!("CARGO_BIN_EXE_crash_panic");
const CRASH_DEADLOCK: &str = env!("CARGO_BIN_EXE_crash_deadlock");
const CRASH_OVERFLOW: &str = env!("CARGO_BIN_EXE_crash_overflow");

/// Runs `bin args` with `env`; returns (exit code or None if killed by a
/// signal, the signal, stdout, stderr).
fn outcome(
    bin: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, Option<i32>, String, String) {
    let out = run(bin, args, env);
    (
        out.status.code(),
        out.status.signal(),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn caught_panics_are_not_fatal() {
    for procs in ["1", "2"] {
        for seed in ["1", "2", "3"] {
            let env = [("GOMAXPROCS", procs), ("GDBX_SEED", seed)];
            let (code, _, out, err) = outcome(RECOVER, &["caught", "300"], &env);
            assert_eq!(code, Some(0), "{env:?}: {err}");
            assert_eq!(out, "recovered 300 dropped 300 mutex free\n", "{env:?}");
            assert_eq!(err, "", "a recovered panic prints nothing, as in Go");
        }
    }
}

#[test]
fn uncaught_panic_in_main_reports_goroutine_1() {
    let (code, _, _, err) = outcome(RECOVER, &["main"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("panic: main panics 1\n\ngoroutine 1 [running]:\nrecover::fail(...)\n\t"),
        "{err}"
    );
    assert!(err.contains("\nmain.main(...)\n\t"), "{err}");
    // Go hides the runtime's frames at the default level.
    assert!(
        !err.contains("runtime::") && !err.contains("std::panicking"),
        "{err}"
    );
}

#[test]
fn a_panic_after_a_recovered_one_reports_only_itself() {
    let (code, _, _, err) = outcome(RECOVER, &["again"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.starts_with("panic: second 2\n\ngoroutine "), "{err}");
    assert!(!err.contains("first"), "{err}");
    assert!(
        err.contains("created by goroutine 1\n\texamples/src/bin/recover.rs:"),
        "{err}"
    );
}

#[test]
fn gotraceback_levels_like_go() {
    let panic_env = |v| [("GOTRACEBACK", v)];
    // none: the message only.
    let (code, _, _, err) = outcome(CRASH_PANIC, &[], &panic_env("none"));
    assert_eq!(
        (code, err.as_str()),
        (Some(2), "panic: boom in goroutine: value 42\n")
    );
    // single (the default): the panicking goroutine, without runtime frames.
    for v in ["", "single"] {
        let (code, _, _, err) = outcome(CRASH_PANIC, &[], &panic_env(v));
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("crash_panic::boom(...)"), "{err}");
        assert!(
            !err.contains("goroutine 1 ["),
            "single: one goroutine: {err}"
        );
        assert!(!err.contains("runtime::"), "{err}");
    }
    // all: every user goroutine too, still no runtime frames or the
    // scavenger.
    let (_, _, _, err) = outcome(CRASH_PANIC, &[], &panic_env("all"));
    assert!(
        err.contains("\n\ngoroutine 1 [chan receive]:\nmain.main(...)\n"),
        "{err}"
    );
    assert!(
        !err.contains("GC scavenge wait") && !err.contains("runtime::"),
        "{err}"
    );
    // system: the runtime's frames and goroutines as well.
    let (_, _, _, err) = outcome(CRASH_PANIC, &[], &panic_env("system"));
    assert!(err.contains("runtime::proc::gopark(...)"), "{err}");
    assert!(err.contains("[GC scavenge wait]:"), "{err}");
    assert!(err.contains("runtime.goexit(...)"), "{err}");
    // crash: the same report, then death by SIGABRT (a core where enabled).
    let (code, sig, _, err) = outcome(CRASH_PANIC, &[], &panic_env("crash"));
    assert_eq!((code, sig), (None, Some(libc::SIGABRT)), "{err}");
    assert!(err.contains("runtime::proc::gopark(...)"), "{err}");

    // A deadlock is Go's `fatal`: every goroutine, at GOTRACEBACK's level.
    let (code, _, _, err) = outcome(CRASH_DEADLOCK, &[], &panic_env("none"));
    assert_eq!(
        (code, err.as_str()),
        (
            Some(2),
            "fatal error: all goroutines are asleep - deadlock!\n"
        )
    );
    let (_, _, _, err) = outcome(CRASH_DEADLOCK, &[], &[]);
    assert!(
        err.contains("goroutine 1 [chan send]:\nmain.main(...)\n"),
        "{err}"
    );
    assert!(!err.contains("runtime::"), "{err}");
    // A stack overflow is a runtime throw: the runtime's view whatever the
    // level, every goroutine.
    let (code, _, _, err) = outcome(CRASH_OVERFLOW, &[], &panic_env("none"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("fatal error: stack overflow"), "{err}");
    assert!(err.contains("\ngoroutine 1 [chan receive]:\n"), "{err}");
}

/// Every fatal path ends in `runtime.exit(2)`, the door a normal exit uses,
/// so a debugger sees the program leave the same way. One gdb run per
/// program (about a second each).
#[test]
fn fatal_exits_leave_through_runtime_exit() {
    gdbx_tests::require_gdb!();
    for bin in [CRASH_PANIC, CRASH_DEADLOCK, CRASH_OVERFLOW] {
        let out = Gdb::new(bin)
            .ex("handle SIGSEGV nostop noprint pass")
            .hits(&["runtime.exit"])
            .ex("run")
            .block("code", &["print $_exitcode"])
            .run();
        let hits = out.hits();
        assert_eq!(hits.len(), 1, "{bin}: {}", out.all);
        assert_eq!(hits[0].symbol, "runtime.exit");
        assert!(out.block("code").contains("= 2"), "{bin}: {}", out.all);
    }
}
