//! Go's own channel and select tests (runtime/chan_test.go), ported to this
//! runtime, plus tests of what Go's select has and Rust needs spelled out
//! (nil channels, case bodies that reassign the channels, temporaries as
//! operands, directional channels) and the statistics that pin down
//! select's fairness where several of its cases wait on one channel; and
//! `lock_os_thread`, as Go's TestLockOSThread checks it.
//!
//! Where Go's tests sleep "long enough" for a goroutine to block, these
//! wait until it is parked (`runtime::num_waiting`): a handshake,
//! so a loaded machine makes them slower, never wrong. Go's tests of stack
//! shrinking and adjustment have no counterpart (stacks here never move).
//!
//! Usage: `gochan [TEST...]` (default: every test). Each test prints
//! `<name> ok ...`; a failure panics (exit 2). examples/tests/gochan.rs runs
//! it under GOMAXPROCS=1 and 2 and many `GDBX_SEED`s.
//!
//! Fairness bounds: a fair select picks each of `k` ready cases with
//! probability `1/k`. Over `n` trials the count of one case is binomial; the
//! tests accept any count within 7 standard deviations of `n/k`, which a
//! fair select misses with probability below 1e-11 per test, while a select
//! biased towards source order (the count of the first case near `n`) fails
//! by hundreds of deviations.
#![no_main]

#[path = "../select_stress.rs"]
mod select_stress;
#[path = "../selfcheck.rs"]
mod selfcheck;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use runtime::WaitReason;
use runtime::chan::{Chan, Receiver, Sender, TryRecvError, channel};
use runtime::sync::WaitGroup;

/// Panics unless `count` of `n` trials is within 7 standard deviations of
/// the `n * p` a fair choice gives.
fn check_fair(name: &str, counts: &[u64], n: u64) {
    let p = 1.0 / counts.len() as f64;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    for (i, &c) in counts.iter().enumerate() {
        let dev = (c as f64 - n as f64 * p).abs() / sd;
        assert!(
            dev <= 7.0,
            "{name}: unfair select: case {i} fired {c} times of {n} ({counts:?}, {dev:.1} sd)"
        );
    }
}

/// Waits (yielding) until at least `n` goroutines are parked with
/// `reason`: the handshake that replaces Go's tests' sleeps.
fn until_parked(reason: WaitReason, n: usize) {
    while runtime::num_waiting(reason) < n {
        runtime::gosched();
    }
}

/// Waits until `n` goroutines are parked in a select, so that the next
/// channel operation finds the select's sudogs queued instead of racing
/// with its first pass.
fn until_parked_in_select(n: usize) {
    until_parked(WaitReason::Select, n);
}

/// A select parked with three receive cases on one channel: each send must
/// wake a case chosen at random (Go derives the lock order, and so the
/// order in which the cases are queued, from the random poll order).
fn select_fair_one_channel_recv() {
    const N: u64 = 1500;
    let c: Chan<u64> = channel(0);
    let other: Chan<u64> = channel(0);
    let counts: Chan<[u64; 3]> = channel(1);
    {
        let (c, counts) = (c.clone(), counts.clone());
        runtime::go(move || {
            let mut n = [0u64; 3];
            for i in 0..N {
                runtime::select! {
                    recv(c) -> v => { assert_eq!(v, Some(i)); n[0] += 1 },
                    recv(other) -> _ => unreachable!("nobody sends on other"),
                    recv(c) -> v => { assert_eq!(v, Some(i)); n[1] += 1 },
                    recv(c) -> v => { assert_eq!(v, Some(i)); n[2] += 1 },
                }
            }
            counts.send(n);
        });
    }
    for i in 0..N {
        until_parked_in_select(1);
        c.send(i);
    }
    let n = counts.recv().expect("counts");
    check_fair("select-fair-recv", &n, N);
    println!("select-fair-recv ok {n:?}");
}

/// The same for a select parked with two send cases on one channel.
fn select_fair_one_channel_send() {
    const N: u64 = 1000;
    let c: Chan<u64> = channel(0);
    {
        let c = c.clone();
        runtime::go(move || {
            for _ in 0..N {
                runtime::select! {
                    send(c, 0) => {},
                    send(c, 1) => {},
                }
            }
        });
    }
    let mut n = [0u64; 2];
    for _ in 0..N {
        until_parked_in_select(1);
        n[c.recv().expect("open") as usize] += 1;
    }
    check_fair("select-fair-send", &n, N);
    println!("select-fair-send ok {n:?}");
}

/// Go's TestSelectFairness: a select over two always-ready buffered
/// channels and two idle ones picks the ready two about equally.
fn select_fairness() {
    const TRIALS: u64 = 10_000;
    let c1: Chan<u8> = channel(TRIALS as usize + 1);
    let c2: Chan<u8> = channel(TRIALS as usize + 1);
    for _ in 0..=TRIALS {
        c1.send(1);
        c2.send(2);
    }
    let (c3, c4): (Chan<u8>, Chan<u8>) = (channel(0), channel(0));
    let out: Chan<u8> = channel(0);
    let done: Chan<()> = channel(0);
    let finished: Chan<()> = channel(0);
    {
        let (out, done, finished) = (out.clone(), done.clone(), finished.clone());
        runtime::go(move || {
            loop {
                let b = runtime::select! {
                    recv(c3) -> b => b,
                    recv(c4) -> b => b,
                    recv(c1) -> b => b,
                    recv(c2) -> b => b,
                }
                .expect("never closed");
                let stop = runtime::select! {
                    send(out, b) => false,
                    recv(done) -> _ => true,
                };
                if stop {
                    break;
                }
            }
            finished.close();
        });
    }
    let mut n = [0u64; 2];
    for _ in 0..TRIALS {
        match out.recv() {
            Some(b @ (1 | 2)) => n[b as usize - 1] += 1,
            other => panic!("unexpected value {other:?} on channel"),
        }
    }
    check_fair("select-fairness", &n, TRIALS);
    done.close();
    assert_eq!(finished.recv(), None);
    println!("select-fairness ok {n:?}");
}

/// Go's TestChan, for capacities 0..20 (Go's -short range).
fn test_chan() {
    for cap in 0..20usize {
        {
            // A receive from an empty channel blocks.
            let c: Chan<i32> = channel(cap);
            let (recv1, recv2) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            );
            for flag in [&recv1, &recv2] {
                let (c, flag) = (c.clone(), flag.clone());
                runtime::go(move || {
                    c.recv();
                    flag.store(true, Ordering::SeqCst);
                });
            }
            until_parked(WaitReason::ChanReceive, 2);
            assert!(
                !recv1.load(Ordering::SeqCst) && !recv2.load(Ordering::SeqCst),
                "chan[{cap}]: receive from empty chan"
            );
            // A non-blocking receive does not block.
            runtime::select! {
                recv(c) -> _ => panic!("chan[{cap}]: receive from empty chan"),
                default => {},
            }
            c.send(0);
            c.send(0);
        }
        {
            // A send to a full channel blocks.
            let c: Chan<usize> = channel(cap);
            for i in 0..cap {
                c.send(i);
            }
            let sent = Arc::new(AtomicBool::new(false));
            {
                let (c, sent) = (c.clone(), sent.clone());
                runtime::go(move || {
                    c.send(0);
                    sent.store(true, Ordering::SeqCst);
                });
            }
            until_parked(WaitReason::ChanSend, 1);
            assert!(
                !sent.load(Ordering::SeqCst),
                "chan[{cap}]: send to full chan"
            );
            // A non-blocking send does not block.
            runtime::select! {
                send(c, 0) => panic!("chan[{cap}]: send to full chan"),
                default => {},
            }
            c.recv();
        }
        {
            // A closed channel gives its buffered values, then None.
            let c: Chan<usize> = channel(cap);
            for i in 0..cap {
                c.send(i);
            }
            c.close();
            for i in 0..cap {
                assert_eq!(c.recv(), Some(i), "chan[{cap}]");
            }
            assert_eq!(c.recv(), None, "chan[{cap}]");
            assert_eq!(c.recv(), None, "chan[{cap}]");
        }
        {
            // Close unblocks a receive.
            let c: Chan<i32> = channel(cap);
            let done: Chan<bool> = channel(0);
            {
                let (c, done) = (c.clone(), done.clone());
                runtime::go(move || done.send(c.recv().is_none()));
            }
            until_parked(WaitReason::ChanReceive, 1);
            c.close();
            assert_eq!(
                done.recv(),
                Some(true),
                "chan[{cap}]: received a value from a closed chan"
            );
        }
        {
            // 100 integers arrive uncorrupted and in FIFO order.
            let c: Chan<usize> = channel(cap);
            for _ in 0..2 {
                let c2 = c.clone();
                runtime::go(move || {
                    for i in 0..100 {
                        c2.send(i);
                    }
                });
                for i in 0..100 {
                    assert_eq!(c.recv(), Some(i), "chan[{cap}]");
                }
            }
            // 4 goroutines send 1000 integers each; 4 receive them all.
            const P: usize = 4;
            const L: usize = 1000;
            for _ in 0..P {
                let c = c.clone();
                runtime::go(move || {
                    for i in 0..L {
                        c.send(i);
                    }
                });
            }
            let done: Chan<Vec<usize>> = channel(0);
            for _ in 0..P {
                let (c, done) = (c.clone(), done.clone());
                runtime::go(move || {
                    let mut recv = vec![0usize; L];
                    for _ in 0..L {
                        recv[c.recv().expect("open")] += 1;
                    }
                    done.send(recv);
                });
            }
            let mut recv = vec![0usize; L];
            for _ in 0..P {
                for (k, n) in done.recv().expect("open").into_iter().enumerate() {
                    recv[k] += n;
                }
            }
            assert!(recv.iter().all(|&n| n == P), "chan[{cap}]: {recv:?}");
        }
        {
            // len and cap.
            let c: Chan<usize> = channel(cap);
            assert_eq!((c.len(), c.cap()), (0, cap));
            for i in 0..cap {
                c.send(i);
            }
            assert_eq!((c.len(), c.cap()), (cap, cap));
        }
    }
    println!("chan ok");
}

/// Go's TestNonblockRecvRace: a non-blocking receive from a channel that
/// holds a value succeeds even while the channel is being closed.
fn nonblock_recv_race() {
    let wg = WaitGroup::new();
    for _ in 0..2000 {
        let c: Chan<i32> = channel(1);
        c.send(1);
        wg.add(1);
        {
            let (c, wg) = (c.clone(), wg.clone());
            runtime::go(move || {
                runtime::select! {
                    recv(c) -> _ => {},
                    default => panic!("chan is not ready"),
                }
                wg.done();
            });
        }
        c.close();
        c.recv();
    }
    wg.wait();
    println!("nonblock-recv-race ok");
}

/// Go's TestNonblockSelectRace and TestNonblockSelectRace2: select acts on
/// the state of its channels at one moment. From the moment the goroutine
/// is created one of c1 and c2 is always ready, so its non-blocking select
/// never takes `default` (c2 is made ready by a send, then by a close).
fn nonblock_select_race() {
    for close_c2 in [false, true] {
        let done: Chan<bool> = channel(1);
        for _ in 0..5000 {
            let c1: Chan<i32> = channel(1);
            let c2: Chan<i32> = channel(if close_c2 { 0 } else { 1 });
            c1.send(1);
            {
                let (c1, c2, done) = (c1.clone(), c2.clone(), done.clone());
                runtime::go(move || {
                    let ok = runtime::select! {
                        recv(c1) -> _ => true,
                        recv(c2) -> _ => true,
                        default => false,
                    };
                    done.send(ok);
                });
            }
            if close_c2 {
                c2.close();
            } else {
                c2.send(1);
            }
            runtime::select! {
                recv(c1) -> _ => {},
                default => {},
            }
            assert_eq!(
                done.recv(),
                Some(true),
                "no chan is ready (close={close_c2})"
            );
        }
    }
    println!("nonblock-select-race ok");
}

/// Go's TestSelfSelect: a select that sends and receives on one channel
/// never receives its own value, and two such goroutines do not deadlock.
fn self_select() {
    for cap in [0usize, 10] {
        let c: Chan<usize> = channel(cap);
        let wg = WaitGroup::new();
        wg.add(2);
        for p in 0..2usize {
            let (c, wg) = (c.clone(), wg.clone());
            runtime::go(move || {
                for i in 0..1000 {
                    let got = if p == 0 || i % 2 == 0 {
                        runtime::select! {
                            send(c, p) => None,
                            recv(c) -> v => v,
                        }
                    } else {
                        runtime::select! {
                            recv(c) -> v => v,
                            send(c, p) => None,
                        }
                    };
                    assert!(!(cap == 0 && got == Some(p)), "self receive");
                }
                wg.done();
            });
        }
        wg.wait();
    }
    println!("self-select ok");
}

/// Go's TestSelectStress (examples/src/select_stress.rs): nil channels,
/// and case bodies that reassign the channels.
fn select_stress() {
    // Go's -short N is 10,000; a third of that keeps the 32 runs of the
    // test quick in a debug build (the benchmark runs the full 100,000).
    select_stress::run(3_000);
    println!("select-stress ok");
}

/// Go's TestChanSendInterface: send cases of a select evaluate their
/// values; a case that does not fire drops its value.
fn chan_send_interface() {
    let c: Chan<Box<u32>> = channel(1);
    c.send(Box::new(1));
    runtime::select! {
        send(c, Box::new(2)) => panic!("full"),
        default => {},
    }
    runtime::select! {
        send(c, Box::new(3)) => panic!("full"),
        send(c, Box::new(4)) => panic!("full"),
        default => {},
    }
    assert_eq!(c.recv().map(|b| *b), Some(1));
    println!("chan-send-interface ok");
}

/// Go's TestPseudoRandomSend: a select with two sends on one channel
/// sends both values, unbuffered and buffered.
fn pseudo_random_send() {
    const N: usize = 100;
    for cap in [0, N] {
        let c: Chan<usize> = channel(cap);
        let got: Chan<Vec<usize>> = channel(1);
        {
            let (c, got) = (c.clone(), got.clone());
            runtime::go(move || {
                let l: Vec<usize> = (0..N)
                    .map(|_| {
                        runtime::gosched();
                        c.recv().expect("open")
                    })
                    .collect();
                got.send(l);
            });
        }
        for _ in 0..N {
            runtime::select! {
                send(c, 1) => {},
                send(c, 0) => {},
            }
        }
        let l = got.recv().expect("values");
        let n1 = l.iter().sum::<usize>();
        let n0 = N - n1;
        assert!(
            n0 > N / 10 && n1 > N / 10,
            "want pseudorandom, got {n0} zeros and {n1} ones (chan cap {cap})"
        );
    }
    println!("pseudo-random-send ok");
}

/// Go's TestMultiConsumer: 23 workers range over one channel and forward
/// what they get; every value arrives once.
fn multi_consumer() {
    const NWORK: usize = 23;
    const NITER: usize = 27_182;
    const PN: [u64; 10] = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31];
    let q: Chan<u64> = channel(NWORK * 3);
    let r: Chan<u64> = channel(NWORK * 3);
    let wg = WaitGroup::new();
    for w in 0..NWORK {
        wg.add(1);
        let (q, r, wg) = (q.receiver(), r.sender(), wg.clone());
        runtime::go(move || {
            for v in &q {
                // Mess with the FIFO-ish nature of range.
                if PN[w % PN.len()] == v {
                    runtime::gosched();
                }
                r.send(v);
            }
            wg.done();
        });
    }
    let expect = Arc::new(AtomicU64::new(0));
    {
        let (q, r, expect) = (q.sender(), r.sender(), expect.clone());
        runtime::go(move || {
            for i in 0..NITER {
                let v = PN[i % PN.len()];
                expect.fetch_add(v, Ordering::Relaxed);
                q.send(v);
            }
            q.close(); // no more work
            wg.wait(); // workers done
            r.close(); // ... so there can be no more results
        });
    }
    let (mut n, mut s) = (0, 0);
    for v in &r {
        n += 1;
        s += v;
    }
    assert_eq!((n, s), (NITER, expect.load(Ordering::Relaxed)));
    println!("multi-consumer ok");
}

/// Go's TestSelectDuplicateChannel: a select queued twice on one channel
/// (and once on another) that fires elsewhere unlinks both records, so a
/// later receiver on that channel is the one woken.
fn select_duplicate_channel() {
    let (c, d, e): (Chan<i32>, Chan<i32>, Chan<i32>) = (channel(0), channel(0), channel(0));
    {
        let (c, d, e) = (c.clone(), d.clone(), e.clone());
        runtime::go(move || {
            runtime::select! {
                recv(c) -> _ => {},
                recv(c) -> _ => {},
                recv(d) -> _ => {},
            }
            e.send(9);
        });
    }
    until_parked_in_select(1); // A is queued on c first
    let b_done: Chan<Option<i32>> = channel(1);
    {
        let (c, b_done) = (c.clone(), b_done.clone());
        runtime::go(move || b_done.send(c.recv()));
    }
    until_parked(WaitReason::ChanReceive, 1); // then B
    d.send(7); // wakes A, which unlinks itself from c (twice)
    assert_eq!(e.recv(), Some(9));
    c.send(8); // must wake B
    assert_eq!(b_done.recv(), Some(Some(8)));
    println!("select-duplicate-channel ok");
}

/// Nil channels (`None`) are left out of a select: a ready channel beside
/// them always fires; only nil cases and a default take the default; a
/// send case on a nil channel never evaluates as ready.
fn select_nil() {
    let ready: Chan<i32> = channel(1);
    let nil_recv: Option<Chan<i32>> = None;
    let nil_send: Option<Sender<i32>> = None;
    for i in 0..200 {
        ready.send(i);
        runtime::select! {
            recv(nil_recv) -> _ => unreachable!("nil channel fired"),
            send(nil_send, 1) => unreachable!("nil channel fired"),
            recv(ready) -> v => assert_eq!(v, Some(i)),
        }
        let def = runtime::select! {
            recv(nil_recv) -> _ => false,
            send(nil_send, 1) => false,
            default => true,
        };
        assert!(def);
    }
    // A `Some` operand takes part like the channel itself.
    let some: Option<&Chan<i32>> = Some(&ready);
    ready.send(7);
    runtime::select! {
        recv(some) -> v => assert_eq!(v, Some(7)),
    }
    println!("select-nil ok");
}

/// Operands may be temporaries (a timer channel, a function's result),
/// and the bodies may move or reassign the channel variables.
fn select_operands() {
    fn ready_chan(v: u8) -> Chan<u8> {
        let c = channel(1);
        c.send(v);
        c
    }
    let got = runtime::select! {
        recv(ready_chan(5)) -> v => v,
        recv(channel::<u8>(0)) -> _ => unreachable!("nobody sends"),
    };
    assert_eq!(got, Some(5));
    let mut c: Chan<u8> = ready_chan(1);
    for round in 2..10 {
        runtime::select! {
            recv(c) -> v => {
                assert_eq!(v, Some(round - 1));
                c = ready_chan(round); // the case no longer borrows c
            },
        }
    }
    let old = c;
    runtime::select! {
        recv(old) -> v => { assert_eq!(v, Some(9)); drop(old) },
    }
    println!("select-operands ok");
}

/// Directional handles: a pipeline of send-only and receive-only ends,
/// through plain operations, `for in`, and select.
fn directional() {
    fn produce(out: Sender<u64>, n: u64) {
        for i in 0..n {
            out.send(i);
        }
        out.close();
    }
    fn square(inp: Receiver<u64>, out: Sender<u64>) {
        for v in &inp {
            runtime::select! {
                send(out, v * v) => {},
            }
        }
        out.close();
    }
    let (a, b): (Chan<u64>, Chan<u64>) = (channel(0), channel(4));
    {
        let a = a.sender();
        runtime::go(move || produce(a, 100));
    }
    {
        let (a, b) = (a.receiver(), b.sender());
        runtime::go(move || square(a, b));
    }
    let rx: Receiver<u64> = b.into();
    let mut sum = 0;
    loop {
        runtime::select! {
            recv(rx) -> v => match v {
                Some(v) => sum += v,
                None => break,
            },
        }
    }
    assert_eq!(sum, (0..100u64).map(|i| i * i).sum());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    println!("directional ok");
}

type Test = (&'static str, fn());

/// The OS thread the calling goroutine runs on.
fn gettid() -> i64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Go's TestLockOSThread and what LockOSThread promises: a locked goroutine
/// stays on its thread across every way of leaving the CPU (channel waits,
/// yields, sleeps, system calls, a system call that finds no P free at
/// GOMAXPROCS=1), and no other goroutine runs on that thread meanwhile;
/// the goroutines around it keep running, also at GOMAXPROCS=1 (each
/// switch is then a hand-over between two threads).
fn lock_os_thread() {
    const ROUNDS: u64 = 300;
    const OTHERS: usize = 4;
    let locked_tid = Arc::new(AtomicU64::new(0));
    let done = channel::<()>(0);
    let ping = channel::<u64>(0);
    let pong = channel::<u64>(0);
    let stop = Arc::new(AtomicBool::new(false));
    let wg = WaitGroup::new();
    // Goroutines that keep switching: none may ever run on the locked thread.
    for _ in 0..OTHERS {
        let (tid, stop, wg) = (locked_tid.clone(), stop.clone(), wg.clone());
        wg.add(1);
        runtime::go(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Acquire) {
                let me = gettid();
                assert_ne!(
                    me as u64,
                    tid.load(Ordering::Acquire),
                    "another goroutine ran on the locked thread"
                );
                n += 1;
                if n.is_multiple_of(3) {
                    runtime::sleep(std::time::Duration::from_micros(50));
                } else {
                    runtime::gosched();
                }
            }
            wg.done();
        });
    }
    // Its partner in a ping-pong.
    let (pi, po) = (ping.clone(), pong.clone());
    runtime::go(move || {
        while let Some(v) = pi.recv() {
            po.send(v + 1);
        }
    });
    let (d, tid) = (done.clone(), locked_tid.clone());
    runtime::go(move || {
        runtime::lock_os_thread();
        let mine = gettid();
        tid.store(mine as u64, Ordering::Release);
        for i in 0..ROUNDS {
            ping.send(i);
            assert_eq!(pong.recv(), Some(i + 1));
            match i % 4 {
                0 => runtime::gosched(),
                1 => runtime::sleep(std::time::Duration::from_micros(20)),
                2 => {
                    // A blocking system call: the P may be handed off.
                    runtime::syscall(|| std::thread::sleep(std::time::Duration::from_micros(200)));
                }
                _ => {}
            }
            assert_eq!(
                gettid(),
                mine,
                "the locked goroutine moved to another thread"
            );
        }
        // Nested: still locked after one of two unlocks.
        runtime::lock_os_thread();
        runtime::unlock_os_thread();
        for i in 0..20 {
            ping.send(i);
            assert_eq!(pong.recv(), Some(i + 1));
            runtime::gosched();
            assert_eq!(gettid(), mine, "unlocked by the inner unlock_os_thread");
        }
        runtime::unlock_os_thread();
        // Unmatched: nothing happens.
        runtime::unlock_os_thread();
        tid.store(0, Ordering::Release);
        ping.close();
        d.send(());
    });
    assert_eq!(done.recv(), Some(()));
    stop.store(true, Ordering::Release);
    wg.wait();
    // A goroutine that exits while locked gives its thread back: the
    // program goes on, and so do goroutines spawned after it.
    let exited = channel::<()>(0);
    let e = exited.clone();
    runtime::go(move || {
        runtime::lock_os_thread();
        e.send(());
    });
    assert_eq!(exited.recv(), Some(()));
    let after = WaitGroup::new();
    for _ in 0..8 {
        let w = after.clone();
        w.add(1);
        runtime::go(move || {
            runtime::gosched();
            w.done();
        });
    }
    after.wait();
    println!("lock-os-thread ok ({ROUNDS} rounds)");
}

const TESTS: &[Test] = &[
    ("chan", test_chan),
    ("nonblock-recv-race", nonblock_recv_race),
    ("nonblock-select-race", nonblock_select_race),
    ("self-select", self_select),
    ("select-stress", select_stress),
    ("chan-send-interface", chan_send_interface),
    ("pseudo-random-send", pseudo_random_send),
    ("multi-consumer", multi_consumer),
    ("select-duplicate-channel", select_duplicate_channel),
    ("select-nil", select_nil),
    ("select-operands", select_operands),
    ("directional", directional),
    ("select-fair-recv", select_fair_one_channel_recv),
    ("select-fair-send", select_fair_one_channel_send),
    ("select-fairness", select_fairness),
    ("lock-os-thread", lock_os_thread),
];

#[runtime::main]
fn main() {
    selfcheck::run("gochan", TESTS);
}
