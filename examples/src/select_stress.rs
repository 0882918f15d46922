//! Go's TestSelectStress (runtime/chan_test.go), the one copy shared by
//! gochan (the test, small N) and bench-ours (the benchmark, Go's full N).
//! Included with `#[path = "../select_stress.rs"] mod select_stress;`.

use runtime::chan::{Chan, channel};
use runtime::sync::WaitGroup;

/// Four senders and four receivers, one per channel (two unbuffered,
/// capacities 2 and 3), plus a goroutine that sends `n` values on each
/// channel from one select and one that receives `n` from each in one
/// select. A channel whose `n` values are done is set to nil (`None`) by
/// the case's own body, which leaves its case out from then on: nil
/// channels, and case bodies that reassign the channels. Returns when
/// all ten goroutines are done.
pub fn run(n: usize) {
    let c: [Chan<i32>; 4] = [channel(0), channel(0), channel(2), channel(3)];
    let wg = WaitGroup::new();
    wg.add(10);
    for ck in &c {
        let (tx, wg2) = (ck.clone(), wg.clone());
        runtime::go(move || {
            for _ in 0..n {
                tx.send(0);
            }
            wg2.done();
        });
        let (rx, wg2) = (ck.clone(), wg.clone());
        runtime::go(move || {
            for _ in 0..n {
                rx.recv();
            }
            wg2.done();
        });
    }
    {
        let wg = wg.clone();
        let mut c1: [Option<Chan<i32>>; 4] = c.clone().map(Some);
        runtime::go(move || {
            let mut sent = [0usize; 4];
            for _ in 0..4 * n {
                runtime::select! {
                    send(c1[3], 0) => { sent[3] += 1; if sent[3] == n { c1[3] = None } },
                    send(c1[2], 0) => { sent[2] += 1; if sent[2] == n { c1[2] = None } },
                    send(c1[0], 0) => { sent[0] += 1; if sent[0] == n { c1[0] = None } },
                    send(c1[1], 0) => { sent[1] += 1; if sent[1] == n { c1[1] = None } },
                }
            }
            assert!(c1.iter().all(Option::is_none));
            wg.done();
        });
    }
    {
        let wg = wg.clone();
        let mut c1: [Option<Chan<i32>>; 4] = c.clone().map(Some);
        runtime::go(move || {
            let mut got = [0usize; 4];
            for _ in 0..4 * n {
                runtime::select! {
                    recv(c1[0]) -> v => { assert_eq!(v, Some(0)); got[0] += 1; if got[0] == n { c1[0] = None } },
                    recv(c1[1]) -> v => { assert_eq!(v, Some(0)); got[1] += 1; if got[1] == n { c1[1] = None } },
                    recv(c1[2]) -> v => { assert_eq!(v, Some(0)); got[2] += 1; if got[2] == n { c1[2] = None } },
                    recv(c1[3]) -> v => { assert_eq!(v, Some(0)); got[3] += 1; if got[3] == n { c1[3] = None } },
                }
            }
            assert!(c1.iter().all(Option::is_none));
            wg.done();
        });
    }
    wg.wait();
}
