//! tokio's side of the benchmark: the multi-thread runtime with N workers
//! (`bench-tokio <spawn|pingpong|switch|rss> <workers>`), printing one line
//! `<metric> <value>`. Same shapes as bench/go/bench.go. The body runs in a
//! spawned task (so spawns go to a worker's local queue, as Go's do from the
//! main goroutine). Ping-pong uses two bounded mpsc channels of capacity 1
//! (tokio has no rendezvous channel); parked tasks wait on one `Notify`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{Notify, mpsc};

const SPAWN_N: usize = 1_000_000;
const PINGPONG_N: usize = 200_000;
const SWITCH_N: usize = 1_000_000;
const RSS_N: usize = 100_000;

async fn spawn() -> f64 {
    let left = Arc::new(AtomicUsize::new(SPAWN_N));
    let done = Arc::new(Notify::new());
    let start = Instant::now();
    for _ in 0..SPAWN_N {
        let left = left.clone();
        let done = done.clone();
        tokio::spawn(async move {
            if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                done.notify_one();
            }
        });
    }
    done.notified().await;
    start.elapsed().as_nanos() as f64 / SPAWN_N as f64
}

async fn pingpong() -> f64 {
    let (ping_tx, mut ping_rx) = mpsc::channel::<usize>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<usize>(1);
    let echo = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for i in 0..PINGPONG_N {
        ping_tx.send(i).await.expect("echo alive");
        pong_rx.recv().await.expect("echo alive");
    }
    let el = start.elapsed();
    drop(ping_tx);
    echo.await.expect("echo task");
    el.as_nanos() as f64 / PINGPONG_N as f64
}

async fn switch() -> f64 {
    let start = Instant::now();
    let hs: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..SWITCH_N {
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for h in hs {
        h.await.expect("yielder");
    }
    start.elapsed().as_nanos() as f64 / (2 * SWITCH_N) as f64
}

async fn rss() -> f64 {
    let release = Arc::new(Notify::new());
    let started = Arc::new(AtomicUsize::new(0));
    let before = bench::vm_rss();
    let mut hs = Vec::with_capacity(RSS_N);
    for _ in 0..RSS_N {
        let (release, started) = (release.clone(), started.clone());
        hs.push(tokio::spawn(async move {
            // Register as a waiter before counting in, so notify_waiters
            // cannot miss a task that has been counted.
            let notified = release.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            started.fetch_add(1, Ordering::AcqRel);
            notified.await;
        }));
    }
    while started.load(Ordering::Acquire) < RSS_N {
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let after = bench::vm_rss();
    release.notify_waiters();
    for h in hs {
        h.await.expect("parked task");
    }
    (after - before) as f64 / RSS_N as f64
}

fn main() {
    let (metric, procs) = bench::child_args("tokio");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(procs)
        .build()
        .expect("tokio runtime");
    let m = metric.clone();
    let v = rt
        .block_on(rt.spawn(async move {
            match m.as_str() {
                "spawn" => spawn().await,
                "pingpong" => pingpong().await,
                "switch" => switch().await,
                "rss" => rss().await,
                other => panic!("unknown metric {other}"),
            }
        }))
        .expect("benchmark task");
    println!("{metric} {v:.1}");
}
