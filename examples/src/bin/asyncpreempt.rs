//! `asyncpreempt`: a goroutine spins in a pure loop with NO safe point
//! inside `runtime::async_preemptible`; at GOMAXPROCS=1 the others still
//! run only if sysmon preempts it by signal (`GODEBUG=asyncpreempt=1`,
//! asyncpreempt.rs). The spinner gives up after 20 s (prints `starved`, exit 1).
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use runtime::sync::WaitGroup;

/// Spin until `stop` is set or `budget` rounds of 2^20 iterations passed;
/// no calls, no locks: an async safe region. Returns rounds left.
#[inline(never)]
fn spin(stop: &AtomicBool, mut budget: u64, acc: &AtomicU64) -> u64 {
    let mut x = 1u64;
    while !stop.load(Ordering::Relaxed) && budget > 0 {
        for i in 0..(1u64 << 20) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        budget -= 1;
    }
    acc.store(x, Ordering::Relaxed);
    budget
}

/// A deterministic integer + floating-point computation (uses general and
/// SSE registers and flags): if a preemption by signal lost any register,
/// its result would differ from a run that was not preempted.
#[inline(never)]
fn work(n: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut f = 1.0f64;
    for i in 0..n {
        x = (x ^ (x >> 29))
            .wrapping_mul(0xbf58_476d_1ce4_e5b9)
            .wrapping_add(i);
        f = f * 1.000_000_1 + (x & 0xff) as f64 * 1e-9;
        if f > 1e6 {
            f -= 1e6;
        }
    }
    x ^ f.to_bits()
}

const WORK_N: u64 = 20_000_000;

#[runtime::main]
fn main() {
    let sum = Arc::new(AtomicU64::new(0));
    let sum2 = sum.clone();
    let started = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let acc = Arc::new(AtomicU64::new(0));
    let wg = WaitGroup::new();
    wg.add(2);
    let (s, st, a, w) = (started.clone(), stop.clone(), acc.clone(), wg.clone());
    runtime::go(move || {
        s.store(true, Ordering::Release);
        sum2.store(
            runtime::async_preemptible(|| work(WORK_N)),
            Ordering::Release,
        );
        let t0 = Instant::now();
        loop {
            // Each region: ~2^26 iterations; between regions check the bound.
            let left = runtime::async_preemptible(|| spin(&st, 64, &a));
            if left > 0 {
                break;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                println!("starved");
                runtime::exit(1);
            }
        }
        w.done();
    });
    while !started.load(Ordering::Acquire) {
        runtime::gosched();
    }
    println!("main: ran while the spinner spins");
    let (st, w) = (stop.clone(), wg.clone());
    runtime::go(move || {
        println!("other: ran");
        st.store(true, Ordering::Release);
        w.done();
    });
    wg.wait();
    let n = runtime::async_preemptions();
    let same = sum.load(Ordering::Acquire) == work(WORK_N);
    println!("checksum same={same}");
    eprintln!("async preemptions: {n}");
    println!("ok async_preempted={}", n > 0);
}
