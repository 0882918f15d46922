//! Go's time package timers on this runtime: `after`, `tick`, `Timer`,
//! `Ticker`, `after_func`, ported from Go's time/sleep_test.go and
//! tick_test.go, with Go 1.19's semantics for `stop` and `reset` results,
//! a capacity-1 channel and dropped ticks.
//!
//! Where a test must show that something did *not* happen (a stopped timer
//! never fires), it waits past the deadline that was cancelled - there is no
//! event to hand-shake on - and every such wait is many times the
//! cancelled duration. Everything else waits for events.
//!
//! Usage: `gotime [TEST...]` (default: every test). Each test prints
//! `<name> ok ...`; a failure panics (exit 2). examples/tests/gotime.rs runs
//! it under GOMAXPROCS=1 and 2 and many `GDBX_SEED`s.
#![no_main]

#[path = "../selfcheck.rs"]
mod selfcheck;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use runtime::chan::{TryRecvError, channel};
use runtime::sync::WaitGroup;
use runtime::time::{Ticker, Timer, after, after_func, tick};

const MS: Duration = Duration::from_millis(1);

/// Go's TestAfter: `after(d)` delivers once, not before `d`.
fn after_delivers() {
    let start = Instant::now();
    let fired = after(10 * MS)
        .recv()
        .expect("a timer channel is never closed");
    assert!(
        fired >= start + 10 * MS,
        "after fired early: {:?}",
        fired - start
    );
    assert!(start.elapsed() >= 10 * MS);
    println!("after ok: {:?}", start.elapsed());
}

/// Go's TestAfterQueuing: timers of different durations, armed at once,
/// fire in the order of their deadlines (the order of the times they
/// send). Only an OS thread descheduled for longer than the deadlines'
/// spacing between popping a timer and reading the clock could invert
/// two: as Go's test does, a failed attempt is retried with the spacing
/// doubled (10, 20, 40 ms).
fn after_queuing() {
    let order = [8u64, 2, 6, 4, 0, 9, 1];
    let mut spacing = 10 * MS;
    for attempt in 1..=3 {
        let out = channel::<(u64, Instant)>(order.len());
        let start = Instant::now();
        for &k in &order {
            let out = out.clone();
            let d = k as u32 * spacing;
            let c = after(d);
            runtime::go(move || {
                let fired = c.recv().expect("timer value");
                assert!(fired >= start + d, "fired early");
                out.send((k, fired));
            });
        }
        let mut got: Vec<(u64, Instant)> = (0..order.len()).map(|_| out.recv().unwrap()).collect();
        got.sort_by_key(|&(_, fired)| fired);
        let got: Vec<u64> = got.into_iter().map(|(k, _)| k).collect();
        let mut want = order.to_vec();
        want.sort();
        if got == want {
            println!("after-queuing ok: {got:?} (attempt {attempt})");
            return;
        }
        assert!(attempt < 3, "timers fired out of deadline order: {got:?}");
        spacing *= 2;
    }
}

/// A select with a timeout case, without a helper goroutine: the timeout
/// wins over a channel nobody sends on, and a ready channel wins over a
/// timeout far away.
fn select_timeout() {
    let never = channel::<u32>(0);
    let before = runtime::num_goroutine();
    let start = Instant::now();
    let timed_out = runtime::select! {
        recv(never) -> _ => false,
        recv(after(5 * MS)) -> t => {
            assert!(t.expect("timer value") >= start + 5 * MS);
            true
        },
    };
    assert!(timed_out, "the timeout case fired");
    // Goroutines of earlier tests may still be on their way out: the count
    // may drop, but a timeout must not have added one.
    assert!(
        runtime::num_goroutine() <= before,
        "a timeout needs no goroutine"
    );
    let ready = channel::<u32>(1);
    ready.send(7);
    let long = Timer::new(Duration::from_secs(3600));
    let got = runtime::select! {
        recv(ready) -> v => v,
        recv(long.c) -> _ => None,
    };
    assert_eq!(got, Some(7));
    assert!(long.stop(), "the long timer was still armed");
    println!("select-timeout ok");
}

/// Go's Stop and Reset results: `stop` is true only when it stopped an
/// armed timer; `reset` reports whether it was armed; neither drains `c`.
fn stop_reset_results() {
    let t = Timer::new(Duration::from_secs(3600));
    assert!(t.stop(), "stop of an armed timer");
    assert!(!t.stop(), "stop of a stopped timer");
    assert!(
        !t.reset(Duration::from_secs(3600)),
        "reset of a stopped timer"
    );
    let start = Instant::now();
    assert!(t.reset(MS), "reset of an armed timer");
    t.c.recv();
    assert!(
        start.elapsed() >= MS,
        "reset to 1ms fired after {:?}",
        start.elapsed()
    );
    assert!(!t.stop(), "stop of a fired timer");
    assert!(
        !t.reset(Duration::from_secs(3600)),
        "reset of a fired timer"
    );
    assert!(t.stop());

    // A value sent before a reset stays in the channel (Go 1.19).
    let t = Timer::new(Duration::ZERO);
    while t.c.is_empty() {
        runtime::sleep(MS);
    }
    assert!(!t.reset(Duration::from_secs(3600)), "it had fired");
    assert_eq!(t.c.len(), 1, "reset does not drain");
    assert!(t.c.try_recv().is_ok());
    assert!(t.stop());
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
    println!("stop-reset-results ok");
}

/// Go's TestTimerStopStress and TestAfterStop, counted: many `after_func`
/// and channel timers are stopped while they may be firing; every timer
/// whose `stop` returned true never fires, every other one fires exactly
/// once.
fn stop_stress() {
    const N: usize = 400;
    let fired = Arc::new(AtomicUsize::new(0));
    let fired_ch = channel::<()>(N);
    let mut stopped = 0;
    let mut timers = Vec::new();
    for i in 0..N {
        let (fired, fired_ch) = (fired.clone(), fired_ch.clone());
        timers.push(after_func(
            Duration::from_micros((i % 20) as u64 * 100),
            move || {
                fired.fetch_add(1, Ordering::AcqRel);
                fired_ch.send(());
            },
        ));
        if i % 3 == 0 {
            runtime::gosched();
        }
        if i % 2 == 0 && timers[i / 2].stop() {
            stopped += 1;
        }
    }
    for t in &timers {
        if t.stop() {
            stopped += 1;
        }
    }
    for _ in 0..N - stopped {
        fired_ch.recv();
    }
    // Nothing else may fire: every deadline was at most 2 ms; wait 20.
    runtime::sleep(20 * MS);
    assert_eq!(
        fired.load(Ordering::Acquire),
        N - stopped,
        "{stopped} of {N} stopped: the others fire exactly once"
    );
    assert!(fired_ch.is_empty());

    // Channel timers: a stopped one leaves its channel empty.
    let ts: Vec<Timer> = (0..N)
        .map(|i| Timer::new(Duration::from_micros(i as u64 * 5)))
        .collect();
    runtime::gosched();
    let stopped_c: Vec<bool> = ts.iter().map(Timer::stop).collect();
    // Every timer not stopped fires: wait for each (a timer that never
    // fires hangs here until the test's watchdog)...
    for (t, _) in ts.iter().zip(&stopped_c).filter(|(_, s)| !**s) {
        t.c.recv().expect("a timer that was not stopped fires");
    }
    // ...once, and a stopped one never: 10 ms after the last deadline
    // (5 * N µs) every channel is still empty.
    runtime::sleep(5 * N as u32 * Duration::from_micros(5) + 10 * MS);
    for (t, &s) in ts.iter().zip(&stopped_c) {
        assert_eq!(t.c.len(), 0, "stop returned {s}");
    }
    println!(
        "stop-stress ok: {stopped} of {N} func timers and {} of {N} channel timers stopped",
        stopped_c.iter().filter(|&&s| s).count()
    );
}

/// Go's AfterFunc: the function runs in its own goroutine (so it may
/// block), and a reset after it ran runs it again.
fn after_func_runs() {
    let out = channel::<u32>(0);
    let gate = channel::<()>(0);
    let (o, g) = (out.clone(), gate.clone());
    let t = after_func(MS, move || {
        // Blocks until main receives: would stall the scheduler if the
        // function ran on the timer's M instead of its own goroutine.
        g.recv();
        o.send(1);
    });
    gate.send(());
    assert_eq!(out.recv(), Some(1));
    assert!(!t.stop(), "the function already started");
    assert!(!t.reset(MS), "it was not armed");
    gate.send(());
    assert_eq!(out.recv(), Some(1), "reset runs the function again");
    println!("after-func ok");
}

/// Go's TestTicker: ticks arrive at the period, not faster; a receiver
/// that sleeps through many periods finds one tick buffered (capacity 1,
/// the others dropped); `reset` changes the period; after `stop` no tick
/// arrives.
fn ticker() {
    const TICKS: u32 = 10;
    let period = 2 * MS;
    let start = Instant::now();
    let t = Ticker::new(period);
    let mut last = start;
    for _ in 0..TICKS {
        last = t.c.recv().expect("tick");
    }
    assert!(
        last >= start + TICKS * period,
        "{TICKS} ticks of {period:?} came in {:?}",
        last - start
    );
    // A slow receiver: ten periods asleep, then exactly one tick waits.
    runtime::sleep(10 * period);
    assert_eq!(t.c.len(), 1, "one tick buffered, the others dropped");
    assert_eq!(t.c.cap(), 1);
    let buffered = t.c.recv().expect("tick");
    let next = t.c.recv().expect("tick");
    assert!(next > buffered, "ticks go forward");

    // After a reset, at most one tick of the old period is still on its
    // way (it was firing during the reset); the next one is of the new period.
    let _ = t.c.try_recv();
    let from = Instant::now();
    t.reset(4 * period);
    t.c.recv();
    let second = t.c.recv().expect("tick");
    assert!(
        second >= from + 4 * period - period / 2,
        "reset period: {:?}",
        second - from
    );
    t.stop();
    // A tick that was firing during the stop may still arrive; none after it.
    runtime::sleep(5 * period);
    let _ = t.c.try_recv();
    runtime::sleep(20 * period);
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty), "tick after stop");
    println!("ticker ok: {TICKS} ticks in {:?}", last - start);
}

/// Go's `Tick`: a never-stopped ticker's channel; nil (None) for a zero
/// period, and in a select a `None` case is left out.
fn tick_channel() {
    assert!(tick(Duration::ZERO).is_none(), "tick(0) is nil");
    let c = tick(MS).expect("tick channel");
    for _ in 0..3 {
        c.recv();
    }
    let got = runtime::select! {
        recv(tick(Duration::ZERO)) -> _ => "nil",
        recv(c) -> _ => "tick",
    };
    assert_eq!(got, "tick");
    println!("tick ok");
}

/// Many goroutines, each with its own timers and resets, over every P at
/// once: every timer delivers exactly once per arm.
fn many_timers() {
    const G: usize = 50;
    const PER: usize = 20;
    let wg = WaitGroup::new();
    wg.add(G as isize);
    let count = Arc::new(AtomicUsize::new(0));
    for g in 0..G {
        let (wg, count) = (wg.clone(), count.clone());
        runtime::go(move || {
            for i in 0..PER {
                let t = Timer::new(Duration::from_micros(((g * 7 + i * 13) % 500) as u64));
                if i % 4 == 0 {
                    t.stop();
                    t.reset(Duration::from_micros(50));
                }
                t.c.recv();
                count.fetch_add(1, Ordering::Relaxed);
            }
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(count.load(Ordering::Relaxed), G * PER);
    println!("many-timers ok: {}", G * PER);
}

/// Go panics on a zero ticker period, and so do we (a panic a goroutine
/// can catch: Go's `recover`).
fn ticker_zero_panics() {
    let message = |r: Result<(), Box<dyn std::any::Any + Send>>| -> String {
        let p = r.expect_err("a zero period panics");
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    let new = std::panic::catch_unwind(|| {
        Ticker::new(Duration::ZERO);
    });
    assert_eq!(message(new), "non-positive interval for NewTicker");
    let t = Ticker::new(Duration::from_secs(3600));
    let reset = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.reset(Duration::ZERO);
    }));
    assert_eq!(message(reset), "non-positive interval for Ticker.Reset");
    t.stop();
    println!("ticker-zero ok");
}

const TESTS: &[(&str, fn())] = &[
    ("after", after_delivers),
    ("after-queuing", after_queuing),
    ("select-timeout", select_timeout),
    ("stop-reset-results", stop_reset_results),
    ("stop-stress", stop_stress),
    ("after-func", after_func_runs),
    ("ticker", ticker),
    ("tick", tick_channel),
    ("ticker-zero", ticker_zero_panics),
    ("many-timers", many_timers),
];

#[runtime::main]
fn main() {
    selfcheck::run("gotime", TESTS);
}
