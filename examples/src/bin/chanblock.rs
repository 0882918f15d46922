//! Channel and sync failure modes, for tests of what the runtime reports.
//!
//! Usage: `chanblock MODE`:
//!
//! * `deadlock` - one goroutine blocked in each way (chan receive, chan
//!   send, select, select with no cases, WaitGroup.Wait, Mutex.Lock), then
//!   main blocks on a receive too: the runtime reports the deadlock and
//!   every goroutine with its Go wait reason.
//! * `send-closed`, `close-closed`, `select-send-closed`, `wg-negative`,
//!   `send-closed-while-blocked` - the panics Go raises for these misuses.
#![no_main]

use std::sync::Arc;

use runtime::chan::channel;
use runtime::sync::{Mutex, WaitGroup};

fn deadlock() {
    let c = channel::<i32>(0);
    let c1 = c.clone();
    runtime::go(move || {
        c1.recv();
    });
    let c2 = channel::<i32>(0);
    runtime::go(move || c2.send(1));
    let (a, b) = (channel::<i32>(0), channel::<u8>(1));
    b.send(0); // b is full: the select's send cannot proceed
    runtime::go(move || {
        runtime::select! {
            recv(a) -> _v => {},
            send(b, 1) => {},
        }
    });
    runtime::go(|| runtime::select! {});
    let wg = WaitGroup::new();
    wg.add(1);
    let wg2 = wg.clone();
    runtime::go(move || wg2.wait());
    let m = Arc::new(Mutex::new(0));
    let guard = m.lock();
    let m2 = m.clone();
    runtime::go(move || {
        *m2.lock() += 1;
    });
    let never = channel::<()>(0);
    never.recv();
    drop(guard);
    drop(c);
}

#[runtime::main]
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "deadlock" => deadlock(),
        "send-closed" => {
            let c = channel::<i32>(1);
            c.close();
            c.send(1);
        }
        "close-closed" => {
            let c = channel::<i32>(0);
            c.close();
            c.close();
        }
        "select-send-closed" => {
            let c = channel::<i32>(0);
            let d = channel::<i32>(0);
            c.close();
            runtime::select! {
                send(c, 1) => {},
                recv(d) -> _v => {},
            }
        }
        "send-closed-while-blocked" => {
            let c = channel::<String>(0);
            let c2 = c.clone();
            runtime::go(move || {
                // Runs once main is parked in its send.
                c2.close();
            });
            c.send("never received".to_string());
        }
        "wg-negative" => {
            let wg = WaitGroup::new();
            wg.add(1);
            wg.add(-2);
        }
        _ => {
            eprintln!(
                "usage: chanblock deadlock|send-closed|close-closed|select-send-closed|send-closed-while-blocked|wg-negative"
            );
            runtime::exit(2);
        }
    }
}
