//! Scheduler self-check: timers, GOMAXPROCS changes, NumGoroutine, Gosched.
//!
//! Prints one line per check and `ok` at the end; any failure panics
//! (exit 2). Run by examples/tests/programs.rs under GOMAXPROCS=1 and 2 and
//! several GDBX_SEED values.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use runtime::chan::channel;
use runtime::sync::WaitGroup;

/// Goroutines sleeping different times wake in order of their deadlines,
/// and not early; the main goroutine sleeps too while every other goroutine
/// is asleep (only a timer can wake anything: no deadlock may be reported).
///
/// The order is seen through the sleepers' sends, so an OS thread
/// descheduled for longer than the deadlines' spacing between a wake-up
/// and its send inverts two: as Go's TestAfterQueuing does, a failed
/// attempt is retried with the spacing doubled (10, 20, 40 ms).
fn timers() {
    let mut spacing = 10u64;
    for attempt in 1..=3 {
        let out = channel::<u64>(16);
        let start = Instant::now();
        for k in [4u64, 1, 3, 2] {
            let out = out.clone();
            runtime::go(move || {
                runtime::sleep(Duration::from_millis(k * spacing));
                out.send(k);
            });
        }
        runtime::sleep(Duration::from_millis(spacing / 2));
        let got: Vec<u64> = (0..4).map(|_| out.recv().expect("value")).collect();
        let el = start.elapsed();
        assert!(
            el >= Duration::from_millis(4 * spacing),
            "slept at least {} ms, took {el:?}",
            4 * spacing
        );
        if got == [1, 2, 3, 4] {
            println!(
                "timers: woke in order after {} ms (attempt {attempt})",
                el.as_millis()
            );
            return;
        }
        assert!(attempt < 3, "timers fire in deadline order: {got:?}");
        spacing *= 2;
    }
}

/// Timers fire on Ps that never run out of work: one pair of goroutines
/// per P ping-pongs over unbuffered channels (each readies the other, so a
/// P's run queue is never empty), and the main goroutine sleeps 1 ms, 40
/// times (or waits 1 ms on a `time::after` channel). Timers must run on every scheduling round, not only once a P's
/// queue drains: before that, every one of these wake-ups waited for sysmon
/// to preempt a busy goroutine (10 ms of the same time slice). So the check
/// counts the sleeps during which no goroutine was preempted; on a machine
/// so loaded that preemptions happen in most sleeps anyway, a quarter of
/// them is still plenty (none at all without timers on every round).
fn timers_on_busy_ps() {
    const SLEEPS: usize = 40;
    let procs = runtime::gomaxprocs(0) as usize;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trips = Arc::new(AtomicUsize::new(0));
    let wg = WaitGroup::new();
    wg.add(procs as isize);
    for _ in 0..procs {
        let (ping, pong) = (channel::<u32>(0), channel::<u32>(0));
        {
            let (ping, pong) = (ping.clone(), pong.clone());
            runtime::go(move || {
                while let Some(v) = ping.recv() {
                    pong.send(v);
                }
            });
        }
        let (stop, trips, wg) = (stop.clone(), trips.clone(), wg.clone());
        runtime::go(move || {
            while !stop.load(Ordering::Relaxed) {
                ping.send(1);
                pong.recv();
                trips.fetch_add(1, Ordering::Relaxed);
            }
            ping.close();
            wg.done();
        });
    }
    let mut unpreempted = 0;
    for _ in 0..SLEEPS {
        let before = runtime::preemptions();
        // Sleeps and channel timers share the P's timer heap: both count.
        if unpreempted % 2 == 0 {
            runtime::sleep(Duration::from_millis(1));
        } else {
            runtime::time::after(Duration::from_millis(1)).recv();
        }
        if runtime::preemptions() == before {
            unpreempted += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    wg.wait();
    let trips = trips.load(Ordering::Relaxed);
    assert!(trips > 0, "the ping-pong load never ran");
    assert!(
        unpreempted >= SLEEPS / 4,
        "timers on busy Ps: only {unpreempted} of {SLEEPS} sleeps woke without a preemption"
    );
    println!("timers: {unpreempted} of {SLEEPS} sleeps on busy Ps woke without a preemption");
}

/// Many short sleepers at once (timers spread over all Ps).
fn many_sleepers() {
    let wg = WaitGroup::new();
    let n = 2000;
    wg.add(n);
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..n {
        let (wg, done) = (wg.clone(), done.clone());
        runtime::go(move || {
            runtime::sleep(Duration::from_micros(100 + (i as u64 % 50) * 20));
            done.fetch_add(1, Ordering::Relaxed);
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(done.load(Ordering::Relaxed), n as usize);
    println!("sleepers: {n} woke");
}

/// GOMAXPROCS can be queried and changed while goroutines run.
fn gomaxprocs() {
    let start = runtime::gomaxprocs(0);
    assert!(start >= 1);
    for want in [1, 3, 2, start] {
        let prev = runtime::gomaxprocs(want);
        assert_eq!(runtime::gomaxprocs(0), want);
        let wg = WaitGroup::new();
        let sum = Arc::new(AtomicUsize::new(0));
        wg.add(100);
        for i in 0..100 {
            let (wg, sum) = (wg.clone(), sum.clone());
            runtime::go(move || {
                for _ in 0..10 {
                    runtime::gosched();
                }
                sum.fetch_add(i, Ordering::Relaxed);
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(
            sum.load(Ordering::Relaxed),
            4950,
            "after GOMAXPROCS {prev} -> {want}"
        );
    }
    assert_eq!(runtime::gomaxprocs(0), start);
    println!("gomaxprocs: {start} -> 1 -> 3 -> 2 -> {start}");
}

/// GOMAXPROCS changes while a goroutine blocks in a system call: the stop
/// takes the P it lent out, and the goroutine carries on afterwards.
///
/// Two handshakes, no timing: the goroutine's call blocks reading a pipe
/// that main writes only after both changes, so the changes happen while
/// it is in the call; and main changes GOMAXPROCS only once the goroutine
/// said, from inside the call (after `entersyscall` lent its P out), that
/// it is there.
fn gomaxprocs_during_syscall() {
    let start = runtime::gomaxprocs(0);
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let [rd, wr] = fds;
    let in_call = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = channel::<u32>(1);
    let (d2, in2) = (done.clone(), in_call.clone());
    runtime::go(move || {
        let v = runtime::syscall(|| {
            // Inside the call: no runtime here, only the flag and read(2).
            in2.store(true, Ordering::Release);
            let mut b = [0u8; 1];
            // SAFETY: reads one byte into our own buffer from our pipe.
            let n = unsafe { libc::read(rd, b.as_mut_ptr().cast(), 1) };
            assert_eq!(n, 1, "read the go-ahead");
            b[0] as u32
        });
        d2.send(v);
    });
    while !in_call.load(Ordering::Acquire) {
        runtime::gosched();
    }
    runtime::gomaxprocs(if start == 1 { 2 } else { 1 });
    runtime::gomaxprocs(start);
    // SAFETY: writes one byte of a static buffer to our pipe.
    assert_eq!(unsafe { libc::write(wr, [7u8].as_ptr().cast(), 1) }, 1);
    assert_eq!(done.recv(), Some(7));
    // SAFETY: both ends are ours and no longer used.
    unsafe {
        libc::close(rd);
        libc::close(wr);
    }
    println!("gomaxprocs: changed during a syscall");
}

/// Two goroutines change GOMAXPROCS at the same time, over and over, while
/// others keep the Ps busy: stops of the world are serialised (Go's
/// `worldsema`), so neither waits forever for a P the other one stopped.
fn gomaxprocs_race() {
    let start = runtime::gomaxprocs(0);
    let changers = WaitGroup::new();
    changers.add(2);
    for g in 0..2 {
        let changers = changers.clone();
        runtime::go(move || {
            for i in 0..300 {
                runtime::gomaxprocs(1 + (i + g) % 3);
            }
            changers.done();
        });
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = WaitGroup::new();
    busy.add(2);
    for _ in 0..2 {
        let (stop, busy) = (stop.clone(), busy.clone());
        runtime::go(move || {
            while !stop.load(Ordering::Relaxed) {
                runtime::gosched();
            }
            busy.done();
        });
    }
    changers.wait();
    stop.store(true, Ordering::Relaxed);
    busy.wait();
    runtime::gomaxprocs(start);
    assert_eq!(runtime::gomaxprocs(0), start);
    println!("gomaxprocs: 2 goroutines x 300 concurrent changes");
}

/// NumGoroutine counts live goroutines (ours: main + parked ones).
fn num_goroutine() {
    // Goroutines of the earlier checks may still be on their way out
    // (they signal before they return): wait until only main is left.
    while runtime::num_goroutine() != 1 {
        runtime::gosched();
    }
    let base = runtime::num_goroutine();
    let gate = channel::<()>(0);
    let wg = WaitGroup::new();
    wg.add(10);
    for _ in 0..10 {
        let (gate, wg) = (gate.clone(), wg.clone());
        runtime::go(move || {
            let _ = gate.recv();
            wg.done();
        });
    }
    while runtime::num_waiting(runtime::WaitReason::ChanReceive) < 10 {
        runtime::gosched();
    }
    assert_eq!(runtime::num_goroutine(), base + 10);
    gate.close();
    wg.wait();
    // The 10 exit right after wg.done(): wait until they are gone.
    while runtime::num_goroutine() != base {
        runtime::gosched();
    }
    println!("num_goroutine: {base} + 10 parked, back to {base}");
}

/// Two goroutines yielding to each other both make progress.
fn gosched_fairness() {
    let a = Arc::new(AtomicUsize::new(0));
    let wg = WaitGroup::new();
    wg.add(2);
    for _ in 0..2 {
        let (a, wg) = (a.clone(), wg.clone());
        runtime::go(move || {
            for _ in 0..10_000 {
                a.fetch_add(1, Ordering::Relaxed);
                runtime::gosched();
            }
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(a.load(Ordering::Relaxed), 20_000);
    println!("gosched: 20000 yields");
}

#[runtime::main]
fn main() {
    timers();
    timers_on_busy_ps();
    many_sleepers();
    gomaxprocs();
    gomaxprocs_during_syscall();
    gomaxprocs_race();
    num_goroutine();
    gosched_fairness();
    println!("ok");
}
