//! `recover MODE`: panics that goroutines catch are not fatal (Go's
//! `recover`); only an uncaught one ends the program, with Go's report.
//!
//! * `caught N`: N goroutines each panic inside `catch_unwind` - some after
//!   parking (so the unwinding may run on another thread than the panic's
//!   start), some while holding a `sync::Mutex` guard (unwinding drops it:
//!   the mutex is free again), some twice in a row - and report over a
//!   channel. Prints `recovered N dropped N mutex free` and exits 0.
//! * `main`: main.main panics, uncaught: `panic: main panics`, goroutine 1.
//! * `again`: a goroutine recovers from one panic, then panics again
//!   uncaught: the report names the second panic only.
#![no_main]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use runtime::chan::channel;
use runtime::sync::Mutex;

/// Counts its drops: unwinding runs destructors, as Go runs deferred calls.
struct Deferred(Arc<AtomicUsize>);

impl Drop for Deferred {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[inline(never)]
fn fail(what: &str, i: usize) -> ! {
    panic!("{what} {i}")
}

fn caught(n: usize) {
    let done = channel::<usize>(0);
    let dropped = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(Mutex::new(0u64));
    let gate = channel::<()>(0);
    for i in 0..n {
        let (done, dropped, shared, gate) =
            (done.clone(), dropped.clone(), shared.clone(), gate.clone());
        runtime::go(move || {
            let r = catch_unwind(AssertUnwindSafe(|| {
                let _d = Deferred(dropped.clone());
                match i % 3 {
                    0 => {
                        // Park first: the panic may start on another thread.
                        gate.recv();
                        fail("after park", i)
                    }
                    1 => {
                        let mut g = shared.lock();
                        *g += 1;
                        fail("holding the mutex", i)
                    }
                    _ => {
                        let again = catch_unwind(|| fail("inner", i));
                        assert!(again.is_err());
                        fail("outer", i)
                    }
                }
            }));
            let msg = r.expect_err("the closure always panics");
            let text = msg.downcast_ref::<String>().expect("a formatted panic");
            assert!(text.ends_with(&format!(" {i}")), "{text}");
            done.send(i);
        });
    }
    for _ in (0..n).step_by(3) {
        gate.send(());
    }
    let mut sum = 0;
    for _ in 0..n {
        sum += done.recv().expect("open");
    }
    assert_eq!(sum, n * (n - 1) / 2);
    let holders = (0..n).filter(|i| i % 3 == 1).count() as u64;
    let free = shared.try_lock().is_some_and(|g| *g == holders);
    println!(
        "recovered {n} dropped {} mutex {}",
        dropped.load(Ordering::SeqCst),
        if free { "free" } else { "held" }
    );
}

#[runtime::main]
fn main() {
    let args = runtime::args();
    match args.get(1).map(String::as_str) {
        Some("caught") => caught(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(300)),
        Some("main") => fail("main panics", 1),
        Some("again") => {
            let done = channel::<()>(0);
            let d2 = done.clone();
            runtime::go(move || {
                let r = catch_unwind(|| fail("first", 1));
                assert!(r.is_err());
                fail("second", 2);
            });
            done.recv();
            let _ = d2;
        }
        _ => {
            eprintln!("usage: recover caught [N] | main | again");
            runtime::exit(2);
        }
    }
}
