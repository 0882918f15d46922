//! Channel storms checked by checksum: nothing lost, nothing duplicated.
//!
//! Usage: `chanstorm [SCALE]` (default 1). Runs, one after the other:
//!
//! * `unbuffered` / `buffered`: S senders each send a disjoint range of
//!   values to one channel, R receivers drain it until it is closed (the
//!   last sender's WaitGroup closes it); the receivers' counts and sums must
//!   equal the senders'.
//! * `select`: senders choose between two channels with `select!`,
//!   receivers select over both plus a third that is closed at the end,
//!   with try_send/try_recv + `default` spinners mixed in.
//! * `mutex`: G goroutines increment a `sync::Mutex<u64>` K times each.
//! * `mutex-starve`: the same with the holder sleeping 2 ms under the lock
//!   now and then, which drives the mutex into starvation (handoff) mode.
//! * `close`: many receivers and senders blocked on one channel are all
//!   woken by close (receivers get None, senders panic-free because they
//!   use a select with a done channel).
//! * `ring`: a token passed around a ring of goroutines, each adding one.
//! * `fair`: a select over two always-ready channels picks both often.
//!
//! Each storm prints `<name> ok count=N sum=S`; a mismatch panics (exit 2).
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use runtime::chan::{Chan, TryRecvError, channel};
use runtime::sync::{Mutex, WaitGroup};

/// Expected count and sum of the values `0..n`.
fn expect(n: u64) -> (u64, u64) {
    (n, n * (n.saturating_sub(1)) / 2)
}

/// Totals kept by the receivers.
#[derive(Default)]
struct Totals {
    count: AtomicU64,
    sum: AtomicU64,
}

impl Totals {
    fn add(&self, v: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }
    fn get(&self) -> (u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.sum.load(Ordering::Relaxed),
        )
    }
}

fn check(name: &str, got: (u64, u64), want: (u64, u64)) {
    if got != want {
        panic!(
            "{name}: got count={} sum={}, want count={} sum={}",
            got.0, got.1, want.0, want.1
        );
    }
    println!("{name} ok count={} sum={}", got.0, got.1);
}

/// S senders x per values over a channel of capacity `cap`, R receivers.
fn storm(name: &str, cap: usize, senders: u64, per: u64, receivers: usize) {
    let c: Chan<u64> = channel(cap);
    let totals = Arc::new(Totals::default());
    let sent = WaitGroup::new();
    let received = WaitGroup::new();
    sent.add(senders as isize);
    received.add(receivers as isize);
    for s in 0..senders {
        let (c, sent) = (c.clone(), sent.clone());
        runtime::go(move || {
            for v in s * per..(s + 1) * per {
                c.send(v);
            }
            sent.done();
        });
    }
    for _ in 0..receivers {
        let (c, totals, received) = (c.clone(), totals.clone(), received.clone());
        runtime::go(move || {
            for v in &c {
                totals.add(v);
            }
            received.done();
        });
    }
    sent.wait();
    c.close();
    received.wait();
    assert_eq!(c.try_recv(), Err(TryRecvError::Closed));
    check(name, totals.get(), expect(senders * per));
}

/// Senders pick one of two channels with select; receivers select over both
/// and a `quit` channel; a few goroutines use the non-blocking forms.
fn select_storm(senders: u64, per: u64, receivers: usize) {
    let a: Chan<u64> = channel(0);
    let b: Chan<u64> = channel(3);
    let quit: Chan<()> = channel(0);
    let totals = Arc::new(Totals::default());
    let sent = WaitGroup::new();
    let received = WaitGroup::new();
    sent.add(senders as isize);
    received.add(receivers as isize);
    for s in 0..senders {
        let (a, b, sent) = (a.clone(), b.clone(), sent.clone());
        runtime::go(move || {
            for v in s * per..(s + 1) * per {
                if s % 4 == 3 {
                    // Non-blocking sender: try both, else yield and retry.
                    let mut v = v;
                    loop {
                        match a.try_send(v) {
                            Ok(()) => break,
                            Err(back) => v = back,
                        }
                        match b.try_send(v) {
                            Ok(()) => break,
                            Err(back) => v = back,
                        }
                        runtime::gosched();
                    }
                } else if s % 4 == 1 {
                    runtime::select! {
                        send(b, v) => {},
                        send(a, v) => {},
                    }
                } else {
                    runtime::select! {
                        send(a, v) => {},
                        send(b, v) => {},
                    }
                }
            }
            sent.done();
        });
    }
    for r in 0..receivers {
        let (a, b, quit, totals, received) = (
            a.clone(),
            b.clone(),
            quit.clone(),
            totals.clone(),
            received.clone(),
        );
        runtime::go(move || {
            loop {
                if r % 3 == 2 {
                    // Polling receiver: select with default.
                    let stop = runtime::select! {
                        recv(a) -> v => { totals.add(v.expect("a is never closed")); false },
                        recv(b) -> v => { totals.add(v.expect("b is never closed")); false },
                        recv(quit) -> q => { assert!(q.is_none()); true },
                        default => { runtime::gosched(); false },
                    };
                    if stop {
                        break;
                    }
                } else if r % 3 == 1 {
                    // The same cases in the opposite source order: the lock
                    // order is by address, so no lock-order deadlock.
                    let stop = runtime::select! {
                        recv(quit) -> q => { assert!(q.is_none()); true },
                        recv(b) -> v => { totals.add(v.expect("b is never closed")); false },
                        recv(a) -> v => { totals.add(v.expect("a is never closed")); false },
                    };
                    if stop {
                        break;
                    }
                } else {
                    let stop = runtime::select! {
                        recv(a) -> v => { totals.add(v.expect("a is never closed")); false },
                        recv(b) -> v => { totals.add(v.expect("b is never closed")); false },
                        recv(quit) -> q => { assert!(q.is_none()); true },
                    };
                    if stop {
                        break;
                    }
                }
            }
            received.done();
        });
    }
    sent.wait();
    // Every value was handed to a receiver or sits in b's buffer. Receivers
    // may see `quit` before b's leftovers (select picks at random), so the
    // leftovers are drained here once every receiver is gone.
    quit.close();
    received.wait();
    while let Ok(v) = b.try_recv() {
        totals.add(v);
    }
    check("select", totals.get(), expect(senders * per));
}

fn mutex_storm(goroutines: u64, per: u64) {
    let m = Arc::new(Mutex::new(0u64));
    let wg = WaitGroup::new();
    wg.add(goroutines as isize);
    for _ in 0..goroutines {
        let (m, wg) = (m.clone(), wg.clone());
        runtime::go(move || {
            for i in 0..per {
                let mut g = m.lock();
                *g += 1;
                if i % 64 == 0 {
                    // Hold the lock across a reschedule now and then, so
                    // others queue on it and park.
                    runtime::gosched();
                }
                drop(g);
            }
            wg.done();
        });
    }
    wg.wait();
    let n = *m.lock();
    check("mutex", (n, 0), (goroutines * per, 0));
}

/// Drives the mutex into starvation mode: the holder sleeps 2 ms (more
/// than the 1 ms threshold) with the lock held now and then, so a woken
/// waiter that loses the race to the barging holder switches the mutex to
/// handoff mode. Checked by count; whether starvation mode was seen is
/// printed.
fn mutex_starve(goroutines: u64, per: u64) {
    let m = Arc::new(Mutex::new(0u64));
    let starved = Arc::new(AtomicU64::new(0));
    let wg = WaitGroup::new();
    wg.add(goroutines as isize);
    for _ in 0..goroutines {
        let (m, wg, starved) = (m.clone(), wg.clone(), starved.clone());
        runtime::go(move || {
            for i in 0..per {
                let mut g = m.lock();
                *g += 1;
                if i % 5 == 0 {
                    runtime::sleep(std::time::Duration::from_millis(2));
                }
                if m.is_starving() {
                    starved.fetch_add(1, Ordering::Relaxed);
                }
                drop(g);
            }
            wg.done();
        });
    }
    wg.wait();
    let n = *m.lock();
    check("mutex-starve", (n, 0), (goroutines * per, 0));
    println!(
        "mutex-starve: starvation mode seen {} times",
        starved.load(Ordering::Relaxed)
    );
}

/// Receivers and select-senders blocked on one channel, all woken by close.
fn close_storm(n: u64) {
    let c: Chan<u64> = channel(0);
    let done: Chan<()> = channel(0);
    let woken = Arc::new(Totals::default());
    let wg = WaitGroup::new();
    wg.add(2 * n as isize);
    for _ in 0..n {
        let (c, wg, woken) = (c.clone(), wg.clone(), woken.clone());
        runtime::go(move || {
            if c.recv().is_none() {
                woken.add(1);
            }
            wg.done();
        });
    }
    let stop = channel::<()>(0);
    for _ in 0..n {
        let (stop, done, wg, woken) = (stop.clone(), done.clone(), wg.clone(), woken.clone());
        runtime::go(move || {
            runtime::select! {
                send(done, ()) => panic!("nobody receives from done"),
                recv(stop) -> v => { assert!(v.is_none()); woken.add(1) },
            }
            wg.done();
        });
    }
    // Let them block (not needed for correctness: close wakes the blocked
    // ones, and later ones see the closed channel at once).
    runtime::gosched();
    c.close();
    stop.close();
    wg.wait();
    check("close", woken.get(), (2 * n, 2 * n));
}

/// Select's random poll order: with both channels always ready, each of
/// the two cases must be chosen often (Go picks uniformly; a fixed order
/// would always take the first). The bound is loose enough that a fair coin
/// misses it with probability far below 1e-30.
fn fairness(rounds: u64) {
    let (a, b): (Chan<u64>, Chan<u64>) = (channel(1), channel(1));
    // Select takes channels by reference too.
    let (a, b) = (&a, &b);
    let (mut na, mut nb) = (0u64, 0u64);
    for _ in 0..rounds {
        a.try_send(1).ok();
        b.try_send(2).ok();
        runtime::select! {
            recv(a) -> v => { assert_eq!(v, Some(1)); na += 1 },
            recv(b) -> v => { assert_eq!(v, Some(2)); nb += 1 },
        }
    }
    assert!(
        na > rounds / 4 && nb > rounds / 4,
        "select is not fair: a chosen {na} times, b {nb} times of {rounds}"
    );
    check("fair", (na + nb, 0), (rounds, 0));
}

/// A token goes `laps` times around a ring of `n` goroutines.
fn ring(n: usize, laps: u64) {
    let chans: Vec<Chan<u64>> = (0..n).map(|_| channel(0)).collect();
    let wg = WaitGroup::new();
    wg.add(n as isize - 1);
    for i in 1..n {
        let (inp, out, wg) = (chans[i].clone(), chans[(i + 1) % n].clone(), wg.clone());
        runtime::go(move || {
            for v in &inp {
                out.send(v + 1);
            }
            out.close();
            wg.done();
        });
    }
    let mut token = 0;
    for _ in 0..laps {
        chans[1].send(token);
        token = chans[0].recv().expect("ring open");
    }
    chans[1].close();
    assert_eq!(chans[0].recv(), None);
    wg.wait();
    check("ring", (token, 0), (laps * (n as u64 - 1), 0));
}

#[runtime::main]
fn main() {
    let scale: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("usage: chanstorm [SCALE]"))
        .unwrap_or(1);
    storm("unbuffered", 0, 16, 2000 * scale, 16);
    storm("buffered", 7, 16, 2000 * scale, 5);
    storm("buffered-big", 1024, 8, 4000 * scale, 3);
    select_storm(12, 1000 * scale, 9);
    mutex_storm(32, 500 * scale);
    mutex_starve(8, 20);
    close_storm(200 * scale);
    ring(64, 100 * scale);
    fairness(2000);
    println!("chanstorm ok");
}
