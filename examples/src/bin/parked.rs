//! `parked [N] [--twins]`: N goroutines, each blocked receiving from one
//! channel.
//!
//! The main goroutine starts N goroutines (default 1000) that each block in
//! a receive on the same unbuffered channel, waits until all N are really
//! parked (the runtime's count of goroutines waiting in "chan receive" -
//! no sleeping), then calls `main.ready`, a non-inlined function where a
//! debugger stops to look at N parked goroutines. Then it closes the
//! channel, which releases them all, waits for all of them with a
//! WaitGroup, prints `released N`, and exits 0.
//!
//! With `--twins`, every third goroutine runs `waiter_twin` instead of
//! `waiter`: the same code under another name, so its stack has the same
//! shape (the same frames, the same sizes) with another user function in
//! it - what a debugger must not mistake for the first. (Every third, not
//! every second: the runtime offsets each stack's top by goid modulo 32,
//! and goroutines with the same offset then run both functions.)
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

/// `waiter` under another name (see the module's doc); the receive is
/// spelt out so that the text of waiter's receive is on one line only.
#[inline(never)]
fn waiter_twin(ch: runtime::chan::Chan<()>, wg: WaitGroup) {
    let got = runtime::chan::Chan::recv(&ch);
    assert!(got.is_none(), "parked: nothing is ever sent");
    wg.done();
}

#[runtime::main]
fn main() {
    const USAGE: &str = "usage: parked [N] [--twins]";
    let mut n: usize = 1000;
    let mut twins = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--twins" => twins = true,
            _ => n = a.parse().expect(USAGE),
        }
    }
    let ch = channel::<()>(0);
    let wg = WaitGroup::new();
    wg.add(n as isize);
    for i in 0..n {
        let (ch, wg) = (ch.clone(), wg.clone());
        if twins && i % 3 == 1 {
            runtime::go(move || waiter_twin(ch, wg));
        } else {
            runtime::go(move || waiter(ch, wg));
        }
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
