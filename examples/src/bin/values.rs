//! `values`: what gdb's pretty printers are tested on. At `main.values`
//! (where a debugger stops) main holds: `buffered`, a `Chan<u64>` of
//! capacity 4 holding 3, 1, 4; `full`, a `Chan<u64>` of capacity 1 holding
//! 9 with two goroutines waiting to send 7 and 8; `empty`, an unbuffered
//! `Chan<u64>` with two goroutines waiting to receive; and Rust's own
//! `String`, `Vec<u32>` and `HashMap<String, u32>`. The goroutines are
//! known to be parked by their wait reasons (a handshake, no sleeping).
#![no_main]

use std::collections::HashMap;

use runtime::WaitReason;
use runtime::chan::{Chan, channel};

/// Where a debugger stops, with every value in place (its arguments keep
/// them alive and in memory).
#[unsafe(export_name = "main.values")]
#[inline(never)]
pub fn values(
    buffered: &Chan<u64>,
    full: &Chan<u64>,
    empty: &Chan<u64>,
    text: &String,
    list: &Vec<u32>,
    map: &HashMap<String, u32>,
) {
    core::hint::black_box((buffered, full, empty, text, list, map));
}

#[runtime::main]
fn main() {
    let buffered = channel::<u64>(4);
    for v in [3, 1, 4] {
        buffered.send(v);
    }
    let full = channel::<u64>(1);
    full.send(9);
    for v in [7, 8] {
        let c = full.clone();
        runtime::go(move || c.send(v));
    }
    let empty = channel::<u64>(0);
    for _ in 0..2 {
        let c = empty.clone();
        runtime::go(move || {
            c.recv();
        });
    }
    while runtime::num_waiting(WaitReason::ChanSend) < 2
        || runtime::num_waiting(WaitReason::ChanReceive) < 2
    {
        runtime::gosched();
    }
    let text = String::from("hello, gdb");
    let list: Vec<u32> = vec![1, 2, 3];
    let map: HashMap<String, u32> = [("one".to_string(), 1)].into_iter().collect();
    values(&buffered, &full, &empty, &text, &list, &map);
    // Let everyone finish: take what the senders send, feed the receivers.
    for _ in 0..3 {
        full.recv();
    }
    for _ in 0..2 {
        empty.send(0);
    }
    println!("values: done");
}
