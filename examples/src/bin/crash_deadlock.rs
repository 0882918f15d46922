//! Crash program: every goroutine blocks forever. The runtime must report
//! `fatal error: all goroutines are asleep - deadlock!` and exit 2.
//! `crash_deadlock locked`: the main goroutine locks its thread first (a
//! thread asleep with its locked goroutine counts as idle, as in Go).
#![no_main]

use runtime::chan::channel;

#[runtime::main]
fn main() {
    if std::env::args().nth(1).as_deref() == Some("locked") {
        runtime::lock_os_thread();
    }
    let ch = channel::<i32>(0);
    let c2 = ch.clone();
    runtime::go(move || {
        // Never sent to: blocks forever.
        let _ = c2.recv();
    });
    // Nobody receives on a second channel either.
    let other = channel::<i32>(0);
    other.send(1);
    drop(ch);
}
