//! Temporary probe (RUNTIME helper), removed after measuring.
#![no_main]
use std::time::Instant;
use std::sync::atomic::{AtomicUsize, Ordering};
static DONE: AtomicUsize = AtomicUsize::new(0);
#[runtime::main]
fn main() {
    let batch: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let rounds = 1_000_000 / batch;
    let (mut tc, mut tr) = (0u128, 0u128);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..batch {
            runtime::go(move || { DONE.fetch_add(1, Ordering::Relaxed); });
        }
        let t2 = Instant::now();
        runtime::gosched();
        tc += (t2 - t).as_nanos();
        tr += t2.elapsed().as_nanos();
    }
    println!("batch {batch}: create {:.1} ns/G, run {:.1} ns/G, done {}", tc as f64 / 1e6, tr as f64 / 1e6, DONE.load(Ordering::Relaxed));
}
