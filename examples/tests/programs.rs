//! The runtime's own programs run as child processes: `hello` prints exactly
//! `hello world!`; `parked N` parks N goroutines and releases them; the
//! crash programs fail the way Go programs fail (message + exit status 2).

mod common;

use common::{run, text};

/// The id N of the first `goroutine N [running]:` line (the first user
/// goroutine is 2, or later if the runtime starts goroutines of its own).
fn running_goroutine(err: &str) -> Option<u64> {
    err.lines().find_map(|l| {
        l.strip_prefix("goroutine ")?
            .strip_suffix(" [running]:")?
            .parse()
            .ok()
    })
}

#[test]
fn hello_prints_exactly_hello_world() {
    for procs in ["1", "2"] {
        let out = run(env!("CARGO_BIN_EXE_hello"), &[], &[("GOMAXPROCS", procs)]);
        assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "hello world!\n");
        assert_eq!(text(&out.stderr), "");
    }
}

#[test]
fn hello_ignores_bad_gomaxprocs_like_go() {
    for v in ["0", "-1", "abc", ""] {
        let out = run(env!("CARGO_BIN_EXE_hello"), &[], &[("GOMAXPROCS", v)]);
        assert_eq!(out.status.code(), Some(0), "GOMAXPROCS={v:?}");
        assert_eq!(text(&out.stdout), "hello world!\n");
    }
}

#[test]
fn parked_parks_and_releases() {
    for procs in ["1", "2"] {
        for n in ["1", "1000", "20000"] {
            let out = run(env!("CARGO_BIN_EXE_parked"), &[n], &[("GOMAXPROCS", procs)]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "parked {n} GOMAXPROCS={procs}: {}",
                text(&out.stderr)
            );
            assert_eq!(text(&out.stdout), format!("released {n}\n"));
        }
    }
}

/// Run a crash program with `env`; it must exit with status 2. Returns
/// (stdout, stderr).
fn crash(bin: &str, env: &[(&str, &str)]) -> (String, String) {
    let out = run(bin, &[], env);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{env:?} stderr: {err}");
    (text(&out.stdout), err)
}

#[test]
fn deadlock_is_fatal_like_go() {
    for procs in ["1", "2"] {
        let (out, err) = crash(
            env!("CARGO_BIN_EXE_crash_deadlock"),
            &[("GOMAXPROCS", procs)],
        );
        assert!(
            err.starts_with("fatal error: all goroutines are asleep - deadlock!\n"),
            "{err}"
        );
        assert!(err.contains("goroutine 1 [chan send]:"), "{err}");
        assert!(err.contains("[chan receive]:"), "{err}");
        // Go's dump: each goroutine's frames, then where it was created.
        assert!(err.contains("crash_deadlock.rs:22 +0x"), "{err}");
        assert!(
            err.contains(
                "created by main.main in goroutine 1\n\texamples/src/bin/crash_deadlock.rs:16 +0x"
            ),
            "{err}"
        );
        assert_eq!(out, "");
    }
}

#[test]
fn panic_in_goroutine_is_fatal_like_go() {
    for procs in ["1", "2"] {
        let (out, err) = crash(env!("CARGO_BIN_EXE_crash_panic"), &[("GOMAXPROCS", procs)]);
        assert!(
            err.starts_with("panic: boom in goroutine: value 42\n\ngoroutine "),
            "{err}"
        );
        assert!(running_goroutine(&err).is_some_and(|id| id >= 2), "{err}");
        assert!(
            err.contains("crash_panic::boom"),
            "backtrace names the panicking function: {err}"
        );
        assert!(
            err.contains("crash_panic.rs:"),
            "backtrace has file:line: {err}"
        );
        assert!(!out.contains("unreachable"));
    }
}

#[test]
fn stack_overflow_is_fatal_like_go() {
    for procs in ["1", "2"] {
        let (_, err) = crash(
            env!("CARGO_BIN_EXE_crash_overflow"),
            &[("GOMAXPROCS", procs)],
        );
        assert!(err.contains("fatal error: stack overflow\n"), "{err}");
        assert!(running_goroutine(&err).is_some_and(|id| id >= 2), "{err}");
        assert!(
            err.contains("goroutine stack exceeds 65536-byte limit"),
            "{err}"
        );
        // Go's dump: the overflowing goroutine's frames, then its creator.
        assert!(err.contains("crash_overflow::recurse(...)\n\t"), "{err}");
        assert!(
            err.contains(
                "created by main.main in goroutine 1\n\texamples/src/bin/crash_overflow.rs:"
            ),
            "{err}"
        );
    }
}

#[test]
fn stack_size_follows_gostacksize() {
    let (_, err) = crash(
        env!("CARGO_BIN_EXE_crash_overflow"),
        &[("GOSTACKSIZE", "256k")],
    );
    assert!(
        err.contains("goroutine stack exceeds 262144-byte limit"),
        "{err}"
    );
}

#[test]
fn scheduler_self_check_under_seeds() {
    for procs in ["1", "2"] {
        for seed in ["1", "7", "42", "1234567"] {
            let out = run(
                env!("CARGO_BIN_EXE_sched"),
                &[],
                &[("GOMAXPROCS", procs), ("GDBX_SEED", seed)],
            );
            let so = text(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(0),
                "sched GOMAXPROCS={procs} GDBX_SEED={seed}: {so}\n{}",
                text(&out.stderr)
            );
            assert!(so.ends_with("ok\n"), "{so}");
        }
    }
}

/// Every program in src/bin has its `[[bin]]` entry with `test = false`
/// in Cargo.toml: without it `cargo test` runs the program itself as the
/// bin's unit test (the runtime's C main replaces the test harness), with
/// the harness's arguments (`cargo test -q` passes `--quiet`).
#[test]
fn every_program_is_left_out_of_unit_tests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let entries: Vec<&str> = manifest.split("[[bin]]").skip(1).collect();
    for f in std::fs::read_dir(dir.join("src/bin")).unwrap() {
        let path = f.unwrap().path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        assert!(
            entries
                .iter()
                .any(|e| e.contains(&format!("name = \"{name}\"")) && e.contains("test = false")),
            "src/bin/{name}.rs has no [[bin]] entry with test = false in examples/Cargo.toml"
        );
    }
}
