//! Stress tests of channels, select, sync and the scheduler, through built
//! programs (examples/src/bin/chanstorm.rs, spawnstorm.rs, syncstorm.rs): each run under
//! GOMAXPROCS=1 and 2 and several runtime seeds (`GDBX_SEED`, which
//! `runtime.hashinit` uses instead of the kernel's random seed; every run
//! without it gets a fresh kernel seed, so repeated runs vary as well).
//!
//! The programs check themselves by count and checksum and exit non-zero on
//! any loss; the tests also match their output. Nothing here waits on a
//! clock: a run that never ends is caught by the hang guard below (a
//! generous limit, for CI's sake), not by a timing assert.

use std::process::Command;
use std::time::Duration;

const CHANSTORM: &str = env!("CARGO_BIN_EXE_chanstorm");
const SPAWNSTORM: &str = env!("CARGO_BIN_EXE_spawnstorm");

/// Seeds for the runtime's randomised choices (steal order, select order).
const SEEDS: [u64; 4] = [1, 2, 0x5eed, 0xdead_beef];

/// A run that takes longer than this is reported as hung (and killed).
const HANG_GUARD: Duration = Duration::from_secs(600);

/// Runs `bin args` with GOMAXPROCS and GDBX_SEED; returns stdout, or panics
/// with the exit status and stderr.
fn run(bin: &str, args: &[&str], procs: u32, seed: u64) -> String {
    let (out, hung) = gdbx_tests::watchdog::output_or_killed(
        Command::new(bin)
            .args(args)
            .env("GOMAXPROCS", procs.to_string())
            .env("GDBX_SEED", seed.to_string()),
        HANG_GUARD,
    );
    assert!(
        !hung,
        "{bin} {args:?} GOMAXPROCS={procs} GDBX_SEED={seed}: hung (killed)"
    );
    let (status, out, err) = (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        status.success(),
        "{bin} {args:?} GOMAXPROCS={procs} GDBX_SEED={seed}: {status}\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

#[test]
fn chanstorm_no_value_lost() {
    for procs in [1, 2] {
        for seed in SEEDS {
            let out = run(CHANSTORM, &["1"], procs, seed);
            for storm in [
                "unbuffered ok count=32000 sum=511984000",
                "buffered ok count=32000 sum=511984000",
                "buffered-big ok count=32000 sum=511984000",
                "select ok count=12000 sum=71994000",
                "mutex ok count=16000 sum=0",
                "mutex-starve ok count=160 sum=0",
                "close ok count=400 sum=400",
                "ring ok count=6300 sum=0",
                "fair ok count=2000 sum=0",
                "chanstorm ok",
            ] {
                assert!(
                    out.lines().any(|l| l == storm),
                    "GOMAXPROCS={procs} seed={seed}: missing {storm:?} in\n{out}"
                );
            }
        }
    }
}

#[test]
fn one_million_goroutines_spawned_and_completed() {
    for procs in [1, 2] {
        for seed in &SEEDS[..2] {
            let out = run(SPAWNSTORM, &["1000000"], procs, *seed);
            assert_eq!(
                out.trim(),
                "spawned 1000000 sum 499999500000",
                "GOMAXPROCS={procs}"
            );
        }
    }
}

#[test]
fn small_spawn_storms_many_seeds() {
    for procs in [1, 2] {
        for seed in 10..26 {
            let out = run(SPAWNSTORM, &["20000"], procs, seed);
            assert_eq!(
                out.trim(),
                "spawned 20000 sum 199990000",
                "GOMAXPROCS={procs} seed={seed}"
            );
        }
    }
}

/// `RwMutex` (writer preference), `Once` and `Cond` (signal wakes one,
/// broadcast all) keep Go's semantics under 2 x 24 schedules; the program
/// checks itself (examples/src/bin/syncstorm.rs). About 50 ms a run.
#[test]
fn sync_rwmutex_once_cond_many_seeds() {
    for procs in [1, 2] {
        for seed in 100..124 {
            let out = run(env!("CARGO_BIN_EXE_syncstorm"), &["2000"], procs, seed);
            let lines: Vec<&str> = out
                .lines()
                .map(|l| l.split(" reads=").next().unwrap_or(l))
                .collect();
            assert_eq!(
                lines,
                [
                    "rwmutex ok writes=8000",
                    "writer-preference ok",
                    "once ok runs=1 callers=64",
                    "cond-queue ok count=8000",
                    "cond-signal ok waiters=8",
                ],
                "GOMAXPROCS={procs} seed={seed}"
            );
        }
    }
}
