//! Crash program: a goroutine (not the main one) panics. The runtime must
//! print `panic: <message>`, a blank line, `goroutine N [running]:` and a
//! backtrace, and exit 2.
#![no_main]

use runtime::chan::channel;

#[inline(never)]
fn boom(v: u32) {
    if core::hint::black_box(v) == 42 {
        panic!("boom in goroutine: value {v}");
    }
}

#[runtime::main]
fn main() {
    let done = channel::<()>(0);
    let d2 = done.clone();
    runtime::go(move || {
        boom(42);
        d2.send(());
    });
    let _ = done.recv();
    println!("unreachable: the panic must have exited the process");
}
