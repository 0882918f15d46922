//! The `may` crate's side of the benchmark (stackful coroutines, like ours).
//!
//! Usage: `bench-may <spawn|pingpong|switch|rss> <workers>`; prints one line
//! `<metric> <value>` (ns per operation, or bytes per parked coroutine for
//! `rss`). Same shapes as bench/go/bench.go; each run is its own process so
//! the RSS figure starts clean. The benchmark body runs inside a coroutine,
//! as Go's runs inside the main goroutine. Channels: may has no rendezvous
//! channel, so ping-pong uses two of its mpsc channels (one item in flight
//! each way, which is the same traffic as Go's unbuffered pair). See
//! `SPAWN_BATCH` for the one deviation: may cannot hold 1,000,000 (or
//! 100,000) live coroutines on a default kernel.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use may::sync::SyncFlag;

const SPAWN_N: usize = 1_000_000;
const PINGPONG_N: usize = 200_000;
const SWITCH_N: usize = 1_000_000;
/// may maps every coroutine stack separately (plus a guard page: two
/// mappings each), so more than ~32,000 live coroutines exceed the kernel's
/// vm.max_map_count (65530) and may aborts. Spawns therefore go in batches,
/// and the RSS figure is taken at 30,000 parked coroutines.
const SPAWN_BATCH: usize = 20_000;
const RSS_N: usize = 30_000;

fn spawn() -> f64 {
    let start = Instant::now();
    for _ in 0..SPAWN_N / SPAWN_BATCH {
        let left = Arc::new(AtomicUsize::new(SPAWN_BATCH));
        let done = Arc::new(SyncFlag::new());
        for _ in 0..SPAWN_BATCH {
            let left = left.clone();
            let done = done.clone();
            may::go!(move || {
                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    done.fire();
                }
            });
        }
        done.wait();
    }
    println!(
        "note: may spawns in batches of {SPAWN_BATCH} and parks {RSS_N} for RSS \
         (one mapping per stack; more hit vm.max_map_count)"
    );
    start.elapsed().as_nanos() as f64 / SPAWN_N as f64
}

fn pingpong() -> f64 {
    let (ping_tx, ping_rx) = may::sync::mpsc::channel::<usize>();
    let (pong_tx, pong_rx) = may::sync::mpsc::channel::<usize>();
    let echo = may::go!(move || {
        while let Ok(v) = ping_rx.recv() {
            if pong_tx.send(v + 1).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for i in 0..PINGPONG_N {
        ping_tx.send(i).expect("echo alive");
        pong_rx.recv().expect("echo alive");
    }
    let el = start.elapsed();
    drop(ping_tx);
    echo.join().expect("echo coroutine");
    el.as_nanos() as f64 / PINGPONG_N as f64
}

fn switch() -> f64 {
    let start = Instant::now();
    let hs: Vec<_> = (0..2)
        .map(|_| {
            may::go!(|| {
                for _ in 0..SWITCH_N {
                    may::coroutine::yield_now();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("yielder");
    }
    start.elapsed().as_nanos() as f64 / (2 * SWITCH_N) as f64
}

fn rss() -> f64 {
    let release = Arc::new(SyncFlag::new());
    let started = Arc::new(AtomicUsize::new(0));
    let left = Arc::new(AtomicUsize::new(RSS_N));
    let done = Arc::new(SyncFlag::new());
    let before = bench::vm_rss();
    for _ in 0..RSS_N {
        let (release, started, left, done) =
            (release.clone(), started.clone(), left.clone(), done.clone());
        may::go!(move || {
            started.fetch_add(1, Ordering::AcqRel);
            release.wait();
            if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                done.fire();
            }
        });
    }
    while started.load(Ordering::Acquire) < RSS_N {
        may::coroutine::yield_now();
    }
    for _ in 0..100 {
        may::coroutine::yield_now();
    }
    let after = bench::vm_rss();
    release.fire();
    done.wait();
    println!(
        "note: may spawns in batches of {SPAWN_BATCH} and parks {RSS_N} for RSS \
         (one mapping per stack; more hit vm.max_map_count)"
    );
    (after - before) as f64 / RSS_N as f64
}

fn main() {
    let (metric, procs) = bench::child_args("may");
    may::config().set_workers(procs);
    let m = metric.clone();
    let v = may::go!(move || match m.as_str() {
        "spawn" => spawn(),
        "pingpong" => pingpong(),
        "switch" => switch(),
        "rss" => rss(),
        other => panic!("unknown metric {other}"),
    })
    .join()
    .expect("benchmark coroutine");
    println!("{metric} {v:.1}");
}
