//! The channel programs of examples/ run as child processes and their output
//! is checked: the concurrent prime sieve and the parallel word count, under
//! GOMAXPROCS=1 and 2.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use gdbx_tests::watchdog;

const PRIMES: &str = env!("CARGO_BIN_EXE_primes");
const WORDCOUNT: &str = env!("CARGO_BIN_EXE_wordcount");

fn first_primes(n: usize) -> Vec<u64> {
    let mut v = Vec::new();
    let mut i = 2u64;
    while v.len() < n {
        if (2..i)
            .take_while(|d| d * d <= i)
            .all(|d| !i.is_multiple_of(d))
        {
            v.push(i);
        }
        i += 1;
    }
    v
}

/// A run that takes longer than this is reported as hung (and killed).
const WATCHDOG: Duration = Duration::from_secs(120);

fn run(bin: &str, args: &[&str], procs: u32, stdin: Option<&str>) -> String {
    let mut cmd = Command::new(bin);
    cmd.args(args).env("GOMAXPROCS", procs.to_string());
    let out = match stdin {
        Some(text) => watchdog::output_with_input(&mut cmd, text.as_bytes(), WATCHDOG),
        None => watchdog::output(&mut cmd, WATCHDOG),
    };
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn prime_sieve_prints_the_first_primes() {
    let want: String = first_primes(300).iter().map(|p| format!("{p}\n")).collect();
    for procs in [1, 2] {
        assert_eq!(
            run(PRIMES, &["300"], procs, None),
            want,
            "GOMAXPROCS={procs}"
        );
    }
    // Default: 100 primes, the last being 541.
    let out = run(PRIMES, &[], 2, None);
    assert_eq!(out.lines().count(), 100);
    assert_eq!(out.lines().last(), Some("541"));
}

/// A deterministic text with a known word distribution.
fn corpus() -> (String, HashMap<String, u64>, u64) {
    let vocab = [
        "gopher", "Channel", "select", "park", "steal", "ready", "g0", "sudog",
    ];
    let mut text = String::new();
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut lines = 0;
    let mut x: u64 = 12345;
    for _ in 0..5000 {
        let words = (x % 9) as usize;
        let mut line = Vec::new();
        for _ in 0..words {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let w = vocab[(x >> 33) as usize % vocab.len()];
            *counts.entry(w.to_lowercase()).or_insert(0) += 1;
            line.push(w);
        }
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        text.push_str(&line.join(if x.is_multiple_of(2) { " " } else { ", " }));
        text.push('\n');
        lines += 1;
    }
    (text, counts, lines)
}

fn expected_report(counts: &HashMap<String, u64>, lines: u64, top: usize) -> String {
    let mut s = format!(
        "lines {lines}\nwords {}\ndistinct {}\n",
        counts.values().sum::<u64>(),
        counts.len()
    );
    let mut v: Vec<_> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (w, c) in v.into_iter().take(top) {
        s.push_str(&format!("{c} {w}\n"));
    }
    s
}

#[test]
fn word_count_matches_a_sequential_count() {
    let (text, counts, lines) = corpus();
    let want = expected_report(&counts, lines, 5);
    let dir = std::env::temp_dir().join(format!("gdbx-wordcount-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Two files, cut at a line boundary near the middle.
    let cut = text[..text.len() / 2].rfind('\n').map_or(0, |i| i + 1);
    let (a, b) = text.split_at(cut);
    let fa = dir.join("a.txt");
    let fb = dir.join("b.txt");
    std::fs::write(&fa, a).expect("write a");
    std::fs::write(&fb, b).expect("write b");
    for procs in [1, 2] {
        for workers in ["1", "3", "8"] {
            let out = run(
                WORDCOUNT,
                &[
                    "-w",
                    workers,
                    "-n",
                    "5",
                    fa.to_str().unwrap(),
                    fb.to_str().unwrap(),
                ],
                procs,
                None,
            );
            assert_eq!(out, want, "GOMAXPROCS={procs} workers={workers}");
        }
        let out = run(WORDCOUNT, &["-n", "5"], procs, Some(&text));
        assert_eq!(out, want, "stdin, GOMAXPROCS={procs}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const CHANBLOCK: &str = env!("CARGO_BIN_EXE_chanblock");

fn run_failing(mode: &str, procs: u32) -> String {
    let out = watchdog::output(
        Command::new(CHANBLOCK)
            .arg(mode)
            .env("GOMAXPROCS", procs.to_string()),
        WATCHDOG,
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{mode}: {err}");
    err
}

#[test]
fn blocked_goroutines_show_go_wait_reasons() {
    for procs in [1, 2] {
        let err = run_failing("deadlock", procs);
        assert!(
            err.starts_with("fatal error: all goroutines are asleep - deadlock!\n"),
            "{err}"
        );
        for reason in [
            "goroutine 1 [chan receive]:",
            "[chan send]:",
            "[select]:",
            "[select (no cases)]:",
            "[semacquire]:",
            "[sync.Mutex.Lock]:",
        ] {
            assert!(
                err.contains(reason),
                "GOMAXPROCS={procs}: no {reason:?} in\n{err}"
            );
        }
        // Two goroutines wait in a receive: main and the first one.
        assert_eq!(err.matches("[chan receive]:").count(), 2, "{err}");
    }
}

#[test]
fn channel_misuse_panics_like_go() {
    for (mode, msg) in [
        ("send-closed", "panic: send on closed channel"),
        ("close-closed", "panic: close of closed channel"),
        ("select-send-closed", "panic: send on closed channel"),
        ("send-closed-while-blocked", "panic: send on closed channel"),
        ("wg-negative", "panic: sync: negative WaitGroup counter"),
    ] {
        for procs in [1, 2] {
            let err = run_failing(mode, procs);
            assert!(err.starts_with(msg), "{mode} GOMAXPROCS={procs}: {err}");
            assert!(err.contains("goroutine 1 [running]:"), "{mode}: {err}");
        }
    }
}
