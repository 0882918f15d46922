//! `syscallblock [ROUNDS]`: the main goroutine blocks in a system call
//! (`read` on a pipe, inside `runtime::syscall`) while the goroutine that
//! will write to that pipe sits in the same P's run queue. It can only run
//! if sysmon hands the P to another thread (sysmon's retake), so at GOMAXPROCS=1
//! this program finishes only when hand-off works. Prints the hand-off
//! latency of each round (syscall entered -> queued goroutine running).
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

fn now_ns() -> i64 {
    runtime::nanotime()
}

#[runtime::main]
fn main() {
    let rounds: usize = runtime::args()
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut lat = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let mut fds = [0i32; 2];
        // SAFETY: fds is a valid out-array of two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let ran_at = Arc::new(AtomicI64::new(0));
        let r2 = ran_at.clone();
        let wfd = fds[1];
        runtime::go(move || {
            r2.store(now_ns(), Ordering::Release);
            // SAFETY: writes one byte from a local to our pipe.
            unsafe { libc::write(wfd, b"x".as_ptr().cast(), 1) };
        });
        let t0 = now_ns();
        let mut b = [0u8; 1];
        // SAFETY: reads one byte into a local buffer.
        let n = runtime::syscall(|| unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) });
        assert_eq!(n, 1);
        lat.push(ran_at.load(Ordering::Acquire) - t0);
        // SAFETY: closing our own descriptors.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
    lat.sort();
    println!(
        "ok rounds={} handoff_ns_median={} handoff_ns_p90={} handoff_ns_max={}",
        rounds,
        lat[lat.len() / 2],
        lat[lat.len() * 9 / 10],
        lat[lat.len() - 1]
    );
}
