//! Crash program: a goroutine recurses without bound. It must hit the guard
//! page below its stack and the runtime must print `fatal error: stack
//! overflow` naming the goroutine, exit 2 - never a bare SIGSEGV.
#![no_main]

use runtime::chan::channel;

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let buf = core::hint::black_box([depth as u8; 512]);
    if core::hint::black_box(depth) == u64::MAX {
        return buf[0] as u64;
    }
    recurse(depth + 1) + buf[7] as u64
}

#[runtime::main]
fn main() {
    let done = channel::<u64>(0);
    let d2 = done.clone();
    runtime::go(move || {
        d2.send(recurse(0));
    });
    println!("unreachable: {}", done.recv().unwrap_or(0));
}
