//! `parked [N]`: N goroutines, each blocked receiving from one channel.
//!
//! The main goroutine starts N goroutines (default 1000) that each block in
//! a receive on the same unbuffered channel, waits until all N are really
//! parked (the runtime's count of goroutines waiting in "chan receive" -
//! no sleeping), then calls `main.ready`, a non-inlined function where a
//! debugger stops to look at N parked goroutines. Then it closes the
//! channel, which releases them all, waits for all of them with a
//! WaitGroup, prints `released N`, and exits 0.
#![no_main]

use runtime::WaitReason;
use runtime::chan::channel;
use runtime::sync::WaitGroup;

/// Where a debugger stops: all N goroutines are parked in "chan receive".
#[unsafe(export_name = "main.ready")]
#[inline(never)]
pub extern "C" fn ready(n: usize) {
    core::hint::black_box(n);
}

/// Each goroutine's body: block until the channel is closed, then report.
#[inline(never)]
fn waiter(ch: runtime::chan::Chan<()>, wg: WaitGroup) {
    let got = ch.recv();
    assert!(got.is_none(), "parked: nothing is ever sent");
    wg.done();
}

#[runtime::main]
fn main() {
    let n: usize = match std::env::args().nth(1) {
        Some(a) => a.parse().expect("usage: parked [N]"),
        None => 1000,
    };
    let ch = channel::<()>(0);
    let wg = WaitGroup::new();
    wg.add(n as isize);
    for _ in 0..n {
        let (ch, wg) = (ch.clone(), wg.clone());
        runtime::go(move || waiter(ch, wg));
    }
    // Let them run until every one of them is parked on the channel.
    while runtime::num_waiting(WaitReason::ChanReceive) < n {
        runtime::gosched();
    }
    ready(n);
    ch.close();
    wg.wait();
    println!("released {n}");
}
