//! `burst N [--handshake] [--sleep SECS]`: start N goroutines that each use
//! some stack (8 KiB), keep them all alive at once, let them finish, then
//! sleep (default 10 s) so the scavenger's work can be watched from outside
//! (RSS in /proc). Prints `runtime::memstats()` at each step.
//!
//! With `--handshake` it waits for a line on stdin before the burst and
//! again before releasing the goroutines, so a test can read the RSS at the
//! baseline and at the peak (the reads run inside `runtime::syscall`).
#![no_main]

use std::sync::Arc;

use runtime::chan::channel;
use runtime::sync::WaitGroup;

/// Touch `kib` KiB of this goroutine's stack.
#[inline(never)]
fn use_stack(kib: usize) -> u64 {
    let buf = core::hint::black_box([kib as u8; 1024]);
    if kib <= 1 {
        return buf[3] as u64;
    }
    use_stack(kib - 1) + buf[5] as u64
}

fn stats(what: &str) {
    let m = runtime::memstats();
    println!(
        "{what}: goroutines={} stack_inuse_pages={} stack_free_pages={} stack_released_pages={} released_total_bytes={} heap_inuse_bytes={}",
        runtime::num_goroutine(),
        m.stack_inuse_pages,
        m.stack_free_pages,
        m.stack_released_pages,
        m.released_total_bytes,
        m.heap_inuse_bytes
    );
}

fn handshake(on: bool) {
    if on {
        let mut line = String::new();
        let _ = runtime::syscall(|| std::io::stdin().read_line(&mut line));
    }
}

#[runtime::main]
fn main() {
    let args = runtime::args();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let hs = args.iter().any(|a| a == "--handshake");
    let secs: u64 = args
        .iter()
        .position(|a| a == "--sleep")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    stats("before");
    handshake(hs);
    let started = Arc::new(WaitGroup::new());
    let finished = Arc::new(WaitGroup::new());
    let gate = channel::<()>(0);
    started.add(n as isize);
    finished.add(n as isize);
    for _ in 0..n {
        let (s, f, g) = (started.clone(), finished.clone(), gate.clone());
        runtime::go(move || {
            core::hint::black_box(use_stack(8));
            s.done();
            let _ = g.recv();
            f.done();
        });
    }
    started.wait();
    stats("peak");
    handshake(hs);
    gate.close();
    finished.wait();
    stats("done");
    for _ in 0..secs {
        runtime::sleep(std::time::Duration::from_secs(1));
        stats("sleep");
    }
}
