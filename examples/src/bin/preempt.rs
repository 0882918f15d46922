//! `preempt [chan]`: a goroutine spins in a long loop that only calls
//! `runtime::preempt_point()` (with `chan`: only non-blocking channel
//! operations); at GOMAXPROCS=1 the other goroutines still
//! run because sysmon asks the spinner to yield after 10 ms (sysmon.rs). The
//! spinner gives up after 30 s (prints `starved`, exit 1) so a broken
//! scheduler fails instead of hanging.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use runtime::sync::WaitGroup;

#[inline(never)]
fn work(n: u64) -> u64 {
    let mut x = 0u64;
    for i in 0..n {
        x = core::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    x
}

#[runtime::main]
fn main() {
    let started = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let wg = WaitGroup::new();
    wg.add(2);
    // `preempt chan`: the loop's only safe points are channel operations.
    let via_chan = runtime::args().get(1).is_some_and(|a| a == "chan");
    let c = runtime::chan::channel::<u64>(1);
    let (s, d, w) = (started.clone(), done.clone(), wg.clone());
    runtime::go(move || {
        s.store(true, Ordering::Release);
        let t0 = Instant::now();
        let mut iters = 0u64;
        while !d.load(Ordering::Acquire) {
            iters += 1;
            work(1000);
            if via_chan {
                // Only non-blocking channel operations: safe points too.
                let _ = c.try_send(iters);
                let _ = c.try_recv();
            } else {
                runtime::preempt_point();
            }
            if t0.elapsed() > Duration::from_secs(30) {
                println!("starved");
                runtime::exit(1);
            }
        }
        println!("spinner: stopped after {} iterations", iters.min(1));
        w.done();
    });
    // At GOMAXPROCS=1 main runs again only if the spinner is preempted.
    while !started.load(Ordering::Acquire) {
        runtime::gosched();
    }
    println!("main: ran while the spinner spins");
    let (d, w) = (done.clone(), wg.clone());
    runtime::go(move || {
        println!("other: ran");
        d.store(true, Ordering::Release);
        w.done();
    });
    wg.wait();
    let p = runtime::preemptions();
    println!("ok preempted={}", p > 0);
}
