//! Go's context on this runtime (ported from Go's context_test.go), and
//! the blocking operations that honour it: a select on `done()`,
//! `context::sleep`, and the netpoller (`accept_context`, `read_context`,
//! `connect_context`, `recv_from_context`).
//!
//! A goroutine is cancelled only once it is parked (`runtime::num_waiting`): a
//! handshake, so each test shows that the cancel *wakes* the operation, not
//! that it was never entered.
//!
//! Usage: `gocontext [TEST...]` (default: every test). Each test prints
//! `<name> ok ...`; a failure panics (exit 2). examples/tests/gocontext.rs
//! runs it under GOMAXPROCS=1 and 2 and many `GDBX_SEED`s.
#![no_main]

#[path = "../selfcheck.rs"]
mod selfcheck;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use runtime::WaitReason;
use runtime::chan::channel;
use runtime::context::{
    self, CancelFunc, ContextError, background, with_cancel, with_deadline, with_timeout,
};
use runtime::net::{TcpListener, TcpStream, UdpSocket};

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

/// Waits until `n` goroutines are parked with `reason`.
fn until_parked(reason: WaitReason, n: usize) {
    while runtime::num_waiting(reason) < n {
        runtime::gosched();
    }
}

/// Cancels from another goroutine as soon as one more goroutine than now
/// is parked in the netpoller: the operation about to start is.
fn cancel_once_in_io_wait(cancel: CancelFunc) {
    let waiting = runtime::num_waiting(WaitReason::IoWait);
    runtime::go(move || {
        until_parked(WaitReason::IoWait, waiting + 1);
        cancel.cancel();
    });
}

/// The context error inside an `io::Error` from a `*_context` operation.
fn ctx_err(e: &std::io::Error) -> Option<ContextError> {
    e.get_ref()?.downcast_ref::<ContextError>().copied()
}

/// Go's TestBackground: never done, no deadline, nil Done channel.
fn background_ctx() {
    let bg = background();
    assert!(bg.done().is_none());
    assert_eq!(bg.err(), None);
    assert_eq!(bg.deadline(), None);
    // A nil done channel's case is left out of a select.
    let got = runtime::select! {
        recv(bg.done()) -> _ => "done",
        default => "not done",
    };
    assert_eq!(got, "not done");
    println!("background ok");
}

/// Go's TestWithCancel: cancelling a parent cancels its children and
/// grandchildren with the same error; cancelling a child leaves the parent
/// alone; a child of a cancelled parent is born cancelled; `done` closes
/// and wakes a select parked on it.
fn cancel_tree() {
    let (parent, cancel_parent) = with_cancel(&background());
    let (child, cancel_child) = with_cancel(&parent);
    let (grandchild, _keep) = with_cancel(&child);
    let (other, cancel_other) = with_cancel(&parent);
    cancel_other.cancel();
    assert_eq!(other.err(), Some(ContextError::Canceled));
    assert_eq!(parent.err(), None, "a child's cancel leaves the parent");

    let woke = channel::<Option<ContextError>>(1);
    {
        let (woke, grandchild) = (woke.clone(), grandchild.clone());
        let never = channel::<()>(0);
        runtime::go(move || {
            runtime::select! {
                recv(never) -> _ => unreachable!(),
                recv(grandchild.done()) -> v => {
                    assert_eq!(v, None, "done is closed, never sent on");
                    woke.send(grandchild.err());
                },
            }
        });
    }
    until_parked(WaitReason::Select, 1);
    cancel_parent.cancel();
    assert_eq!(woke.recv(), Some(Some(ContextError::Canceled)));
    for c in [&parent, &child, &grandchild] {
        assert_eq!(c.err(), Some(ContextError::Canceled));
        assert_eq!(c.done().unwrap().recv(), None);
    }
    cancel_child.cancel();
    cancel_parent.cancel();
    let (late, _c) = with_cancel(&child);
    assert_eq!(late.err(), Some(ContextError::Canceled), "born cancelled");
    println!("cancel-tree ok");
}

/// Go's TestDeadline / TestTimeout: done at the deadline, not before, with
/// DeadlineExceeded; a parent's earlier deadline wins; a deadline in the
/// past is done at once; a cancel before the deadline says Canceled.
fn deadlines() {
    let start = Instant::now();
    let (ctx, _c) = with_timeout(&background(), 10 * MS);
    assert!(ctx.deadline().is_some_and(|d| d >= start + 10 * MS));
    assert_eq!(ctx.done().unwrap().recv(), None);
    assert!(
        start.elapsed() >= 10 * MS,
        "done early: {:?}",
        start.elapsed()
    );
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));

    let (parent, _p) = with_timeout(&background(), 5 * MS);
    let (child, _c) = with_timeout(&parent, HOUR);
    assert_eq!(
        child.deadline(),
        parent.deadline(),
        "the earlier deadline wins"
    );
    let (cancel_child, _cc) = with_cancel(&parent);
    assert_eq!(cancel_child.deadline(), parent.deadline());
    // Siblings are cancelled one after the other (as in Go): wait for each.
    child.done().unwrap().recv();
    assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
    cancel_child.done().unwrap().recv();
    assert_eq!(cancel_child.err(), Some(ContextError::DeadlineExceeded));

    let (past, _p) = with_deadline(&background(), Instant::now() - MS);
    assert_eq!(past.err(), Some(ContextError::DeadlineExceeded));

    let (ctx, cancel) = with_timeout(&background(), HOUR);
    cancel.cancel();
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
    println!("deadlines ok");
}

/// `context::sleep`: sleeps the whole time when nothing happens; returns as
/// soon as the context is cancelled (by another goroutine, once we are
/// parked) or its deadline passes.
fn sleep_honours() {
    let start = Instant::now();
    assert_eq!(context::sleep(&background(), 2 * MS), Ok(()));
    let (ctx, cancel) = with_cancel(&background());
    assert_eq!(context::sleep(&ctx, 2 * MS), Ok(()));
    assert!(start.elapsed() >= 4 * MS);

    runtime::go(move || {
        until_parked(WaitReason::Select, 1);
        cancel.cancel();
    });
    assert_eq!(context::sleep(&ctx, HOUR), Err(ContextError::Canceled));
    assert_eq!(
        context::sleep(&ctx, HOUR),
        Err(ContextError::Canceled),
        "done already"
    );

    let (ctx, _c) = with_timeout(&background(), 5 * MS);
    assert_eq!(
        context::sleep(&ctx, HOUR),
        Err(ContextError::DeadlineExceeded)
    );
    assert!(
        Instant::now() >= ctx.deadline().unwrap(),
        "not before the deadline"
    );
    println!("sleep ok");
}

/// The netpoller honours contexts: an `accept` and a `read` parked in the
/// poller ("IO wait") return when their context is cancelled, a read gives
/// up at its context's deadline, a connect with a context that is done
/// fails at once, and one that is not connects; the socket's own
/// deadlines still apply, and one set while a read is parked ends it.
fn net_honours() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().unwrap();

    // accept, cancelled while parked.
    let (ctx, cancel) = with_cancel(&background());
    cancel_once_in_io_wait(cancel);
    let e = l.accept_context(&ctx).err().expect("accept is cancelled");
    assert_eq!(ctx_err(&e), Some(ContextError::Canceled), "{e}");

    // connect with a live context, then a read that times out.
    let client = TcpStream::connect_context(&background(), addr).expect("connect");
    let (server, _) = l.accept().expect("accept");
    let (ctx, _c) = with_timeout(&background(), 5 * MS);
    let mut buf = [0u8; 16];
    let e = server
        .read_context(&ctx, &mut buf)
        .expect_err("read times out");
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(ctx_err(&e), Some(ContextError::DeadlineExceeded), "{e}");
    assert!(
        Instant::now() >= ctx.deadline().unwrap(),
        "not before the deadline"
    );

    // read, cancelled while parked; then data still flows with a live one.
    let (ctx, cancel) = with_cancel(&background());
    cancel_once_in_io_wait(cancel);
    let e = server
        .read_context(&ctx, &mut buf)
        .expect_err("read is cancelled");
    assert_eq!(ctx_err(&e), Some(ContextError::Canceled), "{e}");
    let (ctx, cancel) = with_cancel(&background());
    client.write_context(&ctx, b"ping").expect("write");
    assert_eq!(server.read_context(&ctx, &mut buf).expect("read"), 4);
    assert_eq!(&buf[..4], b"ping");
    cancel.cancel();

    // connect with a context that is done already.
    let (done, cancel) = with_cancel(&background());
    cancel.cancel();
    let e = TcpStream::connect_context(&done, addr)
        .err()
        .expect("connect fails");
    assert_eq!(ctx_err(&e), Some(ContextError::Canceled), "{e}");

    // UDP: a receive cancelled while parked.
    let u = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
    let (ctx, cancel) = with_cancel(&background());
    cancel_once_in_io_wait(cancel);
    let e = u
        .recv_from_context(&ctx, &mut buf)
        .expect_err("recv is cancelled");
    assert_eq!(ctx_err(&e), Some(ContextError::Canceled), "{e}");

    // A read deadline set while a read is parked applies to it (Go's
    // SetReadDeadline): the reader wakes with a timeout.
    let waiting = runtime::num_waiting(WaitReason::IoWait);
    let server = std::sync::Arc::new(server);
    {
        let server = server.clone();
        runtime::go(move || {
            until_parked(WaitReason::IoWait, waiting + 1);
            server.set_read_deadline(Some(Instant::now()));
        });
    }
    let mut b2 = [0u8; 4];
    let e = server
        .read(&mut b2)
        .expect_err("the new deadline ends the read");
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert_eq!(ctx_err(&e), None);
    server.set_read_deadline(None);
    client.write_all(b"pong").expect("write");
    server
        .read_exact(&mut b2)
        .expect("read after clearing the deadline");
    assert_eq!(&b2, b"pong");

    // The shared descriptor's setters: a send past its write deadline
    // times out (with no context involved), and clearing it sends again.
    let me = u.local_addr().unwrap();
    u.set_write_deadline(Some(Instant::now() - MS));
    let e = u.send_to(b"x", me).expect_err("past the write deadline");
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(ctx_err(&e), None, "a deadline of the socket, not a context");
    u.set_write_deadline(None);
    assert_eq!(u.send_to(b"x", me).expect("send"), 1);
    assert_eq!(u.recv_from(&mut buf).expect("recv").0, 1);
    println!("net ok");
}

/// Many goroutines wait on one context's `done` in selects, over every P;
/// one cancel wakes them all, and concurrent cancels of a parent and its
/// children never lose a child.
fn cancel_stress() {
    const G: usize = 100;
    for round in 0..20 {
        let (root, cancel_root) = with_cancel(&background());
        let woke = channel::<()>(G);
        let mut cancels = Vec::new();
        for i in 0..G {
            let (ctx, cancel) = with_cancel(&root);
            cancels.push(cancel);
            let woke = woke.clone();
            runtime::go(move || {
                let d = ctx.done();
                let never = channel::<()>(0);
                runtime::select! {
                    recv(never) -> _ => unreachable!(),
                    recv(d) -> _ => woke.send(()),
                }
                assert!(ctx.err().is_some(), "round {round} child {i}");
            });
        }
        // Half the children are cancelled by their own cancel, racing the
        // root's cancel in another goroutine.
        let half: Vec<_> = cancels.drain(..G / 2).collect();
        runtime::go(move || {
            for c in half {
                c.cancel();
            }
        });
        if round % 2 == 0 {
            until_parked(WaitReason::Select, G / 2);
        }
        cancel_root.cancel();
        for _ in 0..G {
            woke.recv();
        }
    }
    println!("cancel-stress ok");
}

const TESTS: &[(&str, fn())] = &[
    ("background", background_ctx),
    ("cancel-tree", cancel_tree),
    ("deadlines", deadlines),
    ("sleep", sleep_honours),
    ("net", net_honours),
    ("cancel-stress", cancel_stress),
];

#[runtime::main]
fn main() {
    selfcheck::run("gocontext", TESTS);
}
