//! Our runtime's side of the benchmark (bench/src/main.rs drives it): a
//! program on the gdbx runtime, so it lives here with the other `#![no_main]`
//! programs. (It cannot be a bin of the `bench` package: rustc links every
//! crate of a package's graph into each of its binaries, and the runtime's C
//! `main` would then clash with the `main` of the may and tokio children.)
//!
//! Usage: `GOMAXPROCS=P bench-ours <spawn|pingpong|switch|rss> P`; prints one
//! line `<metric> <value>`. The shapes are those of bench/go/bench.go, line
//! for line: the body runs in the main goroutine, spawns with `runtime::go`,
//! waits with `sync::WaitGroup`, ping-pongs over two unbuffered channels,
//! switches with `gosched`, and parks goroutines on one channel receive.
#![no_main]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use runtime::chan::{Chan, channel};
use runtime::sync::WaitGroup;

const SPAWN_N: usize = 1_000_000;
const PINGPONG_N: usize = 200_000;
const SWITCH_N: usize = 1_000_000;
const RSS_N: usize = 100_000;

fn spawn() -> f64 {
    // Go's closure captures a pointer to the WaitGroup; so does ours (a
    // leaked one, so no reference count is touched per goroutine).
    let wg: &'static WaitGroup = Box::leak(Box::new(WaitGroup::new()));
    wg.add(SPAWN_N as isize);
    let start = Instant::now();
    for _ in 0..SPAWN_N {
        runtime::go(move || wg.done());
    }
    wg.wait();
    start.elapsed().as_nanos() as f64 / SPAWN_N as f64
}

fn pingpong() -> f64 {
    let ping: Chan<usize> = channel(0);
    let pong: Chan<usize> = channel(0);
    let done: Chan<()> = channel(0);
    {
        let (ping, pong, done) = (ping.clone(), pong.clone(), done.clone());
        runtime::go(move || {
            while let Some(v) = ping.recv() {
                pong.send(v + 1);
            }
            done.close();
        });
    }
    let start = Instant::now();
    for i in 0..PINGPONG_N {
        ping.send(i);
        assert_eq!(pong.recv(), Some(i + 1));
    }
    let el = start.elapsed();
    ping.close();
    assert_eq!(done.recv(), None);
    el.as_nanos() as f64 / PINGPONG_N as f64
}

fn switch() -> f64 {
    let wg = WaitGroup::new();
    wg.add(2);
    let start = Instant::now();
    for _ in 0..2 {
        let wg = wg.clone();
        runtime::go(move || {
            for _ in 0..SWITCH_N {
                runtime::gosched();
            }
            wg.done();
        });
    }
    wg.wait();
    start.elapsed().as_nanos() as f64 / (2 * SWITCH_N) as f64
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

fn rss() -> f64 {
    let release: Chan<()> = channel(0);
    let wg = WaitGroup::new();
    wg.add(RSS_N as isize);
    let before = vm_rss();
    for _ in 0..RSS_N {
        let (release, wg) = (release.clone(), wg.clone());
        runtime::go(move || {
            STARTED.fetch_add(1, Ordering::AcqRel);
            release.recv();
            wg.done();
        });
    }
    while STARTED.load(Ordering::Acquire) < RSS_N {
        runtime::gosched();
    }
    for _ in 0..100 {
        runtime::gosched();
    }
    let after = vm_rss();
    release.close();
    wg.wait();
    (after - before) as f64 / RSS_N as f64
}

/// Resident set size of this process in bytes (VmRSS of /proc/self/status).
fn vm_rss() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kb: i64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kb * 1024
}

#[runtime::main]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 || args[2].parse::<usize>().is_err() {
        eprintln!("usage: bench-ours spawn|pingpong|switch|rss PROCS (and GOMAXPROCS=PROCS)");
        runtime::exit(2);
    }
    let metric = args[1].clone();
    let v = match metric.as_str() {
        "spawn" => spawn(),
        "pingpong" => pingpong(),
        "switch" => switch(),
        "rss" => rss(),
        other => {
            eprintln!("bench-ours: unknown metric {other}");
            runtime::exit(2);
        }
    };
    println!("{metric} {v:.1}");
}
