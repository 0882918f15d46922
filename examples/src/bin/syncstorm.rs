//! `syncstorm [ROUNDS]`: Go's semantics of `RwMutex`, `Once` and `Cond`,
//! checked by the program itself under whatever GOMAXPROCS and seed it
//! runs with. Each check prints one `NAME ok ...` line; any violation
//! panics (exit 2).
//!
//! * `rwmutex`: writers and readers hammer one `RwMutex`; a writer yields
//!   between two updates that readers must always see together, and no
//!   reader is ever inside with a writer.
//! * `writer-preference`: a reader holds the lock, a writer blocks; a new
//!   reader must then block too (Go: "a blocked Lock call excludes new
//!   readers") and get in only after the writer.
//! * `once`: 64 goroutines race into one `call_once`; `f` (which yields)
//!   runs once and every caller returns after it finished; a panicking `f`
//!   still counts as done.
//! * `cond-queue`: producers and consumers over a `Mutex` + `Cond` queue;
//!   every item consumed once, then `broadcast` ends the consumers.
//! * `cond-signal`: with K goroutines parked in `wait`, `signal` wakes
//!   exactly one and `broadcast` the rest.
#![no_main]

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use runtime::WaitReason;
use runtime::chan::channel;
use runtime::num_waiting;
use runtime::sync::{Cond, Mutex, Once, RwMutex, WaitGroup};

/// Yield until `n` goroutines are parked with `reason` (a handshake on the
/// scheduler's own state, no sleeping).
fn until_parked(reason: WaitReason, n: usize) {
    while num_waiting(reason) < n {
        runtime::gosched();
    }
}

fn rwmutex(rounds: usize) {
    const WRITERS: usize = 4;
    const READERS: usize = 16;
    let rw = Arc::new(RwMutex::new((0u64, 0u64)));
    let readers_in = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let wg = WaitGroup::new();
    wg.add((WRITERS + READERS) as isize);
    for _ in 0..WRITERS {
        let (rw, readers_in, wg) = (rw.clone(), readers_in.clone(), wg.clone());
        runtime::go(move || {
            for _ in 0..rounds {
                let mut g = rw.write();
                assert_eq!(
                    readers_in.load(Ordering::SeqCst),
                    0,
                    "reader inside with a writer"
                );
                g.0 += 1;
                runtime::gosched();
                g.1 += 1;
            }
            wg.done();
        });
    }
    for _ in 0..READERS {
        let (rw, readers_in, reads, wg) =
            (rw.clone(), readers_in.clone(), reads.clone(), wg.clone());
        runtime::go(move || {
            for i in 0..rounds {
                let g = rw.read();
                readers_in.fetch_add(1, Ordering::SeqCst);
                assert_eq!(g.0, g.1, "a reader saw half a write");
                if i % 8 == 0 {
                    runtime::gosched(); // stay inside while others come
                }
                readers_in.fetch_sub(1, Ordering::SeqCst);
                drop(g);
                reads.fetch_add(1, Ordering::Relaxed);
            }
            wg.done();
        });
    }
    wg.wait();
    let g = rw.read();
    assert_eq!(*g, ((WRITERS * rounds) as u64, (WRITERS * rounds) as u64));
    println!(
        "rwmutex ok writes={} reads={}",
        g.0,
        reads.load(Ordering::Relaxed)
    );
}

fn writer_preference() {
    let rw = Arc::new(RwMutex::new(Vec::<&'static str>::new()));
    let first = rw.read();
    let done = channel::<()>(2);
    let (rw_w, done_w) = (rw.clone(), done.clone());
    runtime::go(move || {
        rw_w.write().push("writer");
        done_w.send(());
    });
    until_parked(WaitReason::SyncRwMutexLock, 1);
    // A writer is waiting: a new reader may not get in, even though only
    // readers hold the lock.
    assert!(
        rw.try_read().is_none(),
        "try_read succeeded past a waiting writer"
    );
    assert!(rw.try_write().is_none());
    let (rw_r, done_r) = (rw.clone(), done.clone());
    runtime::go(move || {
        let g = rw_r.read();
        assert_eq!(*g, ["writer"], "the late reader got in before the writer");
        drop(g);
        rw_r.write().push("reader");
        done_r.send(());
    });
    until_parked(WaitReason::SyncRwMutexRLock, 1);
    drop(first);
    done.recv();
    done.recv();
    assert_eq!(*rw.read(), ["writer", "reader"]);
    assert!(rw.try_write().is_some());
    println!("writer-preference ok");
}

fn once() {
    const CALLERS: usize = 64;
    let once = Arc::new(Once::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let value = Arc::new(AtomicU64::new(0));
    let wg = WaitGroup::new();
    wg.add(CALLERS as isize);
    for _ in 0..CALLERS {
        let (once, runs, value, wg) = (once.clone(), runs.clone(), value.clone(), wg.clone());
        runtime::go(move || {
            once.call_once(|| {
                runs.fetch_add(1, Ordering::SeqCst);
                runtime::gosched(); // others pile up on the Once meanwhile
                value.store(42, Ordering::Relaxed);
            });
            assert_eq!(
                value.load(Ordering::Relaxed),
                42,
                "returned before f finished"
            );
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let panicky = Once::new();
    let r = std::panic::catch_unwind(|| panicky.call_once(|| panic!("f panics")));
    assert!(r.is_err() && panicky.is_done());
    panicky.call_once(|| unreachable!("a Once whose f panicked is done"));
    println!("once ok runs=1 callers={CALLERS}");
}

struct Queue {
    items: VecDeque<u64>,
    closed: bool,
}

fn cond_queue(rounds: usize) {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 6;
    let q = Arc::new((
        Mutex::new(Queue {
            items: VecDeque::new(),
            closed: false,
        }),
        Cond::new(),
    ));
    let sum = Arc::new(AtomicU64::new(0));
    let count = Arc::new(AtomicU64::new(0));
    let producers = WaitGroup::new();
    producers.add(PRODUCERS as isize);
    let consumers = WaitGroup::new();
    consumers.add(CONSUMERS as isize);
    for _ in 0..CONSUMERS {
        let (q, sum, count, consumers) = (q.clone(), sum.clone(), count.clone(), consumers.clone());
        runtime::go(move || {
            let (m, cond) = &*q;
            let mut g = m.lock();
            loop {
                if let Some(v) = g.items.pop_front() {
                    drop(g);
                    sum.fetch_add(v, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                    g = m.lock();
                } else if g.closed {
                    break;
                } else {
                    g = cond.wait(g);
                }
            }
            drop(g);
            consumers.done();
        });
    }
    for p in 0..PRODUCERS {
        let (q, producers) = (q.clone(), producers.clone());
        runtime::go(move || {
            let (m, cond) = &*q;
            for i in 0..rounds {
                m.lock().items.push_back((p * rounds + i) as u64);
                cond.signal();
                if i % 16 == 0 {
                    runtime::gosched();
                }
            }
            producers.done();
        });
    }
    producers.wait();
    q.0.lock().closed = true;
    q.1.broadcast();
    consumers.wait();
    let n = (PRODUCERS * rounds) as u64;
    assert_eq!(count.load(Ordering::Relaxed), n, "items lost or doubled");
    assert_eq!(sum.load(Ordering::Relaxed), n * (n - 1) / 2);
    println!("cond-queue ok count={n}");
}

fn cond_signal() {
    const K: usize = 8;
    let state = Arc::new((Mutex::new(0usize), Cond::new()));
    let woke = channel::<()>(K);
    for _ in 0..K {
        let (state, woke) = (state.clone(), woke.clone());
        runtime::go(move || {
            let (m, cond) = &*state;
            let mut tokens = m.lock();
            while *tokens == 0 {
                tokens = cond.wait(tokens);
            }
            *tokens -= 1;
            drop(tokens);
            woke.send(());
        });
    }
    until_parked(WaitReason::SyncCondWait, K);
    let (m, cond) = &*state;
    *m.lock() += 1;
    cond.signal();
    woke.recv();
    assert_eq!(
        num_waiting(WaitReason::SyncCondWait),
        K - 1,
        "signal woke more than one"
    );
    *m.lock() += K - 1;
    cond.broadcast();
    for _ in 1..K {
        woke.recv();
    }
    assert_eq!(*m.lock(), 0);
    println!("cond-signal ok waiters={K}");
}

#[runtime::main]
fn main() {
    let rounds: usize = match runtime::args().get(1) {
        Some(a) => a.parse().expect("usage: syncstorm [ROUNDS]"),
        None => 2000,
    };
    rwmutex(rounds);
    writer_preference();
    once();
    cond_queue(rounds);
    cond_signal();
}
