//! Go's own channel and select tests (runtime/chan_test.go, select
//! fairness), ported to this runtime, plus the statistics that pin down
//! select's fairness where several of its cases wait on one channel.
//!
//! Usage: `gochan [TEST...]` (default: every test). Each test prints
//! `<name> ok ...`; a failure panics (exit 2). examples/tests/gochan.rs runs
//! it under GOMAXPROCS=1 and 2 and many `GDBX_SEED`s.
//!
//! Fairness bounds: a fair select picks each of `k` ready cases with
//! probability `1/k`. Over `n` trials the count of one case is binomial; the
//! tests accept any count within 7 standard deviations of `n/k`, which a
//! fair select misses with probability below 1e-11 per test, while a select
//! biased towards source order (the count of the first case near `n`) fails
//! by hundreds of deviations.
#![no_main]

use runtime::chan::{Chan, channel};
use runtime::runtime2::WaitReason;

/// Panics unless `count` of `n` trials is within 7 standard deviations of
/// the `n * p` a fair choice gives.
fn check_fair(name: &str, counts: &[u64], n: u64) {
    let p = 1.0 / counts.len() as f64;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    for (i, &c) in counts.iter().enumerate() {
        let dev = (c as f64 - n as f64 * p).abs() / sd;
        assert!(
            dev <= 7.0,
            "{name}: unfair select: case {i} fired {c} times of {n} ({counts:?}, {dev:.1} sd)"
        );
    }
}

/// Waits (yielding) until `n` goroutines are parked in a select: the
/// handshake that makes the next channel operation find the select's
/// sudogs queued instead of racing with its first pass.
fn until_parked_in_select(n: usize) {
    while runtime::proc::count_waiting(WaitReason::Select) < n {
        runtime::gosched();
    }
}

/// A select parked with three receive cases on one channel: each send must
/// wake a case chosen at random (Go derives the lock order, and so the
/// order in which the cases are queued, from the random poll order).
fn select_fair_one_channel_recv() {
    const N: u64 = 1500;
    let c: Chan<u64> = channel(0);
    let other: Chan<u64> = channel(0);
    let counts: Chan<[u64; 3]> = channel(1);
    {
        let (c, counts) = (c.clone(), counts.clone());
        runtime::go(move || {
            let mut n = [0u64; 3];
            for i in 0..N {
                runtime::select! {
                    recv(c) -> v => { assert_eq!(v, Some(i)); n[0] += 1 },
                    recv(other) -> _ => unreachable!("nobody sends on other"),
                    recv(c) -> v => { assert_eq!(v, Some(i)); n[1] += 1 },
                    recv(c) -> v => { assert_eq!(v, Some(i)); n[2] += 1 },
                }
            }
            counts.send(n);
        });
    }
    for i in 0..N {
        until_parked_in_select(1);
        c.send(i);
    }
    let n = counts.recv().expect("counts");
    check_fair("select-fair-recv", &n, N);
    println!("select-fair-recv ok {n:?}");
}

/// The same for a select parked with two send cases on one channel.
fn select_fair_one_channel_send() {
    const N: u64 = 1000;
    let c: Chan<u64> = channel(0);
    {
        let c = c.clone();
        runtime::go(move || {
            for _ in 0..N {
                runtime::select! {
                    send(c, 0) => {},
                    send(c, 1) => {},
                }
            }
        });
    }
    let mut n = [0u64; 2];
    for _ in 0..N {
        until_parked_in_select(1);
        n[c.recv().expect("open") as usize] += 1;
    }
    check_fair("select-fair-send", &n, N);
    println!("select-fair-send ok {n:?}");
}

/// Go's TestSelectFairness: a select over two always-ready buffered
/// channels and two idle ones picks the ready two about equally.
fn select_fairness() {
    const TRIALS: u64 = 10_000;
    let c1: Chan<u8> = channel(TRIALS as usize + 1);
    let c2: Chan<u8> = channel(TRIALS as usize + 1);
    for _ in 0..=TRIALS {
        c1.send(1);
        c2.send(2);
    }
    let (c3, c4): (Chan<u8>, Chan<u8>) = (channel(0), channel(0));
    let out: Chan<u8> = channel(0);
    let done: Chan<()> = channel(0);
    let finished: Chan<()> = channel(0);
    {
        let (out, done, finished) = (out.clone(), done.clone(), finished.clone());
        runtime::go(move || {
            loop {
                let b = runtime::select! {
                    recv(c3) -> b => b,
                    recv(c4) -> b => b,
                    recv(c1) -> b => b,
                    recv(c2) -> b => b,
                }
                .expect("never closed");
                let stop = runtime::select! {
                    send(out, b) => false,
                    recv(done) -> _ => true,
                };
                if stop {
                    break;
                }
            }
            finished.close();
        });
    }
    let mut n = [0u64; 2];
    for _ in 0..TRIALS {
        match out.recv() {
            Some(b @ (1 | 2)) => n[b as usize - 1] += 1,
            other => panic!("unexpected value {other:?} on channel"),
        }
    }
    check_fair("select-fairness", &n, TRIALS);
    done.close();
    assert_eq!(finished.recv(), None);
    println!("select-fairness ok {n:?}");
}

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    ("select-fair-recv", select_fair_one_channel_recv),
    ("select-fair-send", select_fair_one_channel_send),
    ("select-fairness", select_fairness),
];

#[runtime::main]
fn main() {
    let want: Vec<String> = std::env::args().skip(1).collect();
    for name in &want {
        if !TESTS.iter().any(|(n, _)| n == name) {
            eprintln!(
                "gochan: unknown test {name:?}; tests: {}",
                TESTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" ")
            );
            runtime::exit(2);
        }
    }
    for (name, test) in TESTS {
        if want.is_empty() || want.iter().any(|w| w == name) {
            test();
        }
    }
    println!("gochan ok");
}
