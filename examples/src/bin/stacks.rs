//! `stacks MODE`: the goroutine dumps a program can ask for or cause.
//!
//! Starts three goroutines and waits (a handshake on the scheduler's
//! counts) until they are parked: one in a channel receive
//! (`stacks::parked_in_recv`), one on a `sync::Mutex` held by main, one in
//! a `Cond` wait. Then:
//!
//! * `dump`: prints `runtime::stack(false)`, a line `----`, and
//!   `runtime::stack(true)` (Go's `runtime.Stack(buf, all)`), exits 0;
//! * `quit`: prints `runtime::stack(true)`, then sends itself SIGQUIT
//!   (`kill`): the runtime's SIGQUIT dump follows on stderr, exit 2;
//! * `segv`: sends itself SIGSEGV with `kill` (si_code SI_USER, not a
//!   fault): Go's report on stderr, exit 2. The main goroutine is locked
//!   to the main thread (m0) first, before it can move: Linux gives a
//!   signal sent to the process to its main thread when that thread can
//!   take it, so the signal lands on the sending goroutine's own thread and
//!   the report shows it first, unwound from the signal, as Go's does.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use runtime::WaitReason;
use runtime::chan::{Chan, channel};
use runtime::num_waiting;
use runtime::sync::{Cond, Mutex};

#[inline(never)]
fn parked_in_recv(c: Chan<()>) {
    let _ = c.recv();
}

#[inline(never)]
fn parked_on_mutex(m: Arc<Mutex<()>>) {
    drop(m.lock());
}

#[inline(never)]
fn parked_in_cond(state: Arc<(Mutex<bool>, Cond)>) {
    let (m, cond) = &*state;
    let mut g = m.lock();
    while !*g {
        g = cond.wait(g);
    }
}

#[inline(never)]
fn dump(all: bool) -> String {
    runtime::stack(all)
}

#[runtime::main]
fn main() {
    let mode = runtime::args().get(1).cloned().unwrap_or_default();
    if mode == "segv" {
        runtime::lock_os_thread();
    }
    let c = channel::<()>(0);
    let c2 = c.clone();
    runtime::go(move || parked_in_recv(c2));
    let m = Arc::new(Mutex::new(()));
    let held = m.lock();
    let m2 = m.clone();
    runtime::go(move || parked_on_mutex(m2));
    let state = Arc::new((Mutex::new(false), Cond::new()));
    let s2 = state.clone();
    runtime::go(move || parked_in_cond(s2));
    while num_waiting(WaitReason::ChanReceive) < 1
        || num_waiting(WaitReason::SyncMutexLock) < 1
        || num_waiting(WaitReason::SyncCondWait) < 1
    {
        runtime::gosched();
    }
    match mode.as_str() {
        "dump" => {
            print!("{}", dump(false));
            println!("----");
            print!("{}", dump(true));
        }
        "quit" | "segv" => {
            if mode == "quit" {
                print!("{}", dump(true));
            }
            use std::io::Write;
            let _ = std::io::stdout().flush();
            let sig = if mode == "quit" {
                libc::SIGQUIT
            } else {
                libc::SIGSEGV
            };
            // SAFETY: kill(2) on our own pid.
            unsafe { libc::kill(libc::getpid(), sig) };
            // The dump ends the process; park meanwhile (a pending timer,
            // so this is no deadlock). Reaching the end is the failure.
            runtime::sleep(Duration::from_secs(20));
            eprintln!("stacks: no report after {mode}");
            runtime::exit(3);
        }
        _ => {
            eprintln!("usage: stacks dump|quit|segv");
            runtime::exit(2);
        }
    }
    drop(held);
    c.close();
    *state.0.lock() = true;
    state.1.broadcast();
}
