//! `stuck [N] [nospin]`: a program that stays still for a goroutine dump to look at,
//! the twin of `tests/src/go/stuck.go`.
//!
//! N goroutines (default 100) block receiving from one channel, one sleeps
//! for an hour, one spins on its CPU (not with `nospin`: benchmarks). Once every one of them is where it
//! should be (the runtime's own counts of waiting goroutines: a handshake,
//! no sleeping), main calls `main.ready` (where a debugger stops), prints
//! `ready` and blocks reading its stdin in a system call; at end of input it
//! exits 0. SIGQUIT prints the runtime's own dump of every goroutine.
#![no_main]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use runtime::WaitReason;
use runtime::chan::{Chan, channel};

/// Where a debugger stops: every goroutine is in place.
#[unsafe(export_name = "main.ready")]
#[inline(never)]
pub extern "C" fn ready(n: usize) {
    core::hint::black_box(n);
}

#[inline(never)]
fn waiter(ch: Chan<()>) {
    let _ = ch.recv();
}

#[inline(never)]
fn sleeper() {
    runtime::time::sleep(Duration::from_secs(3600));
}

static SPINNING: AtomicBool = AtomicBool::new(false);

/// Runs on its CPU until the program exits.
#[inline(never)]
fn spinner() {
    SPINNING.store(true, Ordering::Release);
    let mut x = 0u64;
    loop {
        x = core::hint::black_box(x.wrapping_add(1));
    }
}

#[runtime::main]
fn main() {
    let n: usize = match runtime::args().get(1) {
        Some(a) => a.parse().expect("usage: stuck [N]"),
        None => 100,
    };
    let spin = runtime::args().get(2).map(String::as_str) != Some("nospin");
    let ch = channel::<()>(0);
    for _ in 0..n {
        let ch = ch.clone();
        runtime::go(move || waiter(ch));
    }
    runtime::go(sleeper);
    while runtime::num_waiting(WaitReason::ChanReceive) < n
        || runtime::num_waiting(WaitReason::Sleep) < 1
    {
        runtime::gosched();
    }
    // The spinner last: a goroutine that never yields may keep the others
    // in its P's run queue.
    if spin {
        runtime::go(spinner);
    }
    while spin && !SPINNING.load(Ordering::Acquire) {
        runtime::gosched();
    }
    ready(n);
    println!("ready");
    let mut b = [0u8; 64];
    // SAFETY: reads into a local buffer.
    while runtime::syscall(|| unsafe { libc::read(0, b.as_mut_ptr().cast(), b.len()) }) > 0 {}
    ch.close();
}
