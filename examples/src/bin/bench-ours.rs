//! Our runtime's side of the benchmark (bench/src/main.rs drives it): a
//! program on the gdbx runtime, so it lives here with the other `#![no_main]`
//! programs. (It cannot be a bin of the `bench` package: rustc links every
//! crate of a package's graph into each of its binaries, and the runtime's C
//! `main` would then clash with the `main` of the may and tokio children.)
//!
//! Usage: `GOMAXPROCS=P bench-ours <metric> P` (the metrics of
//! bench/src/lib.rs); prints one line `<metric> <value>`. The shapes are
//! those of bench/go/bench.go, line for line: the body runs in the main
//! goroutine, spawns with `runtime::go`, waits with `sync::WaitGroup`,
//! ping-pongs over two unbuffered channels, switches with `gosched`, parks
//! goroutines on one channel receive, runs Go's TestSelectStress with
//! `select!` and nil (`None`) channels, selects over two receive cases with
//! one ready, and sleeps next to a ping-pong pair.
#![no_main]

#[path = "../select_stress.rs"]
mod select_stress;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use runtime::chan::{Chan, channel};
use runtime::sync::WaitGroup;

const SPAWN_N: usize = 1_000_000;
const PINGPONG_N: usize = 200_000;
const SWITCH_N: usize = 1_000_000;
const RSS_N: usize = 100_000;
/// TestSelectStress's N without -short.
const SELECT_STRESS_N: usize = 100_000;
const SELECT_FAST_N: usize = 1_000_000;
const TIMER_SLEEPS: u32 = 10;
const TIMER_SLEEP: Duration = Duration::from_millis(20);

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

/// Go's TestSelectStress (examples/src/select_stress.rs) with its full N;
/// ms for the whole test.
fn select_stress() -> f64 {
    let start = Instant::now();
    select_stress::run(SELECT_STRESS_N);
    start.elapsed().as_nanos() as f64 / 1e6
}

/// A send on a buffered channel, then a select over two receive cases of
/// which that one is ready; ns per send + select.
fn select_fast() -> f64 {
    let a: Chan<usize> = channel(1);
    let b: Chan<usize> = channel(1);
    let start = Instant::now();
    for i in 0..SELECT_FAST_N {
        a.send(i);
        runtime::select! {
            recv(a) -> _ => {},
            recv(b) -> _ => {},
        }
    }
    start.elapsed().as_nanos() as f64 / SELECT_FAST_N as f64
}

/// A ping-pong pair keeps a P's run queue busy while the main goroutine
/// sleeps 20 ms, 10 times; median lateness of a sleep in µs.
fn timer_late() -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let (ping, pong) = (channel::<u32>(0), channel::<u32>(0));
    let done: Chan<()> = channel(0);
    {
        let (ping, pong) = (ping.clone(), pong.clone());
        runtime::go(move || {
            while let Some(v) = ping.recv() {
                pong.send(v);
            }
        });
    }
    {
        let (stop, done) = (stop.clone(), done.clone());
        runtime::go(move || {
            while !stop.load(Ordering::Relaxed) {
                ping.send(1);
                pong.recv();
            }
            ping.close();
            done.close();
        });
    }
    let mut late: Vec<Duration> = (0..TIMER_SLEEPS)
        .map(|_| {
            let t = Instant::now();
            runtime::sleep(TIMER_SLEEP);
            t.elapsed() - TIMER_SLEEP
        })
        .collect();
    stop.store(true, Ordering::Relaxed);
    done.recv();
    late.sort();
    let mid = TIMER_SLEEPS as usize / 2;
    let median = (late[mid - 1] + late[mid]) / 2;
    median.as_nanos() as f64 / 1e3
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
        eprintln!(
            "usage: bench-ours spawn|pingpong|switch|rss|selectstress|selectfast|timerlate PROCS (and GOMAXPROCS=PROCS)"
        );
        runtime::exit(2);
    }
    let metric = args[1].clone();
    let v = match metric.as_str() {
        "spawn" => spawn(),
        "pingpong" => pingpong(),
        "switch" => switch(),
        "rss" => rss(),
        "selectstress" => select_stress(),
        "selectfast" => select_fast(),
        "timerlate" => timer_late(),
        other => {
            eprintln!("bench-ours: unknown metric {other}");
            runtime::exit(2);
        }
    };
    println!("{metric} {v:.1}");
}
