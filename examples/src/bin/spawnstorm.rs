//! 1,000,000 goroutines spawned and completed (by default), checked by
//! count and checksum.
//!
//! Usage: `spawnstorm [N]`. The main goroutine spawns N goroutines; each adds
//! its index to a shared sum and marks a WaitGroup done. Half of them also
//! spawn a child of their own (so spawns come from many Ps, not only the
//! main goroutine's). Prints `spawned N sum S`; a mismatch panics.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use runtime::sync::WaitGroup;

#[runtime::main]
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("usage: spawnstorm [N]"))
        .unwrap_or(1_000_000);
    let parents = n.div_ceil(2);
    let children = n - parents;
    let sum = Arc::new(AtomicU64::new(0));
    let count = Arc::new(AtomicU64::new(0));
    let wg = WaitGroup::new();
    wg.add(n as isize);
    for i in 0..parents {
        let (sum, count, wg) = (sum.clone(), count.clone(), wg.clone());
        runtime::go(move || {
            sum.fetch_add(i, Ordering::Relaxed);
            count.fetch_add(1, Ordering::Relaxed);
            if i < children {
                let (sum, count, wg) = (sum.clone(), count.clone(), wg.clone());
                let j = parents + i;
                runtime::go(move || {
                    sum.fetch_add(j, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.done();
        });
    }
    wg.wait();
    let (got_n, got_sum) = (count.load(Ordering::Relaxed), sum.load(Ordering::Relaxed));
    let want_sum = n * n.saturating_sub(1) / 2;
    assert_eq!((got_n, got_sum), (n, want_sum), "goroutines lost");
    println!("spawned {got_n} sum {got_sum}");
}
