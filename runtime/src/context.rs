//! Cancellation and deadlines (Go's context package): [`background`],
//! [`with_cancel`], [`with_deadline`], [`with_timeout`]; a [`Context`]'s
//! [`done`](Context::done) channel closes when it is cancelled, and
//! [`err`](Context::err) says why.
//!
//! Blocking operations honour a context:
//! * channels: select on `ctx.done()` next to the operation (Go's idiom);
//!   a background context's `done()` is `None`, Go's nil channel, whose
//!   case `select!` leaves out;
//! * sleeping: [`sleep`];
//! * the netpoller: the `*_context` operations of net.rs (`accept_context`,
//!   `connect_context`, `read_context`, `write_context`, `recv_from_context`)
//!   give up at the context's deadline and return as soon as it is
//!   cancelled, with an `io::Error` whose inner error is the
//!   [`ContextError`].
//!
//! ```
//! # #![no_main]
//! use std::time::Duration;
//! use runtime::chan::Receiver;
//! use runtime::context::{ContextError, background, with_timeout};
//!
//! /// The first result, unless `d` passes first.
//! fn first(results: &Receiver<u32>, d: Duration) -> Result<Option<u32>, ContextError> {
//!     let (ctx, cancel) = with_timeout(&background(), d);
//!     let r = runtime::select! {
//!         recv(results) -> v => Ok(v),
//!         recv(ctx.done()) -> _ => Err(ctx.err().unwrap()),
//!     };
//!     cancel.cancel();
//!     r
//! }
//! # #[runtime::main]
//! # fn main() {
//! # let results = runtime::chan::channel::<u32>(0);
//! # let d = Duration::from_millis(20);
//! # assert_eq!(first(&results.receiver(), d), Err(ContextError::DeadlineExceeded));
//! # }
//! ```
//!
//! # Design and state words
//!
//! A cancellable context is a `Node`: its `done` channel (never sent on,
//! closed once), its deadline (its own or its parent's, whichever is
//! earlier), and under `Node.lock` its `State`: the error (set once) and
//! the *cancel targets* - child contexts (weak: a child dropped without
//! being cancelled does not stay alive) and hooks (functions the netpoller
//! registers to wake a blocked goroutine). `Node.err` mirrors the error for
//! lock-free reads.
//!
//! Cancelling sets the error under the lock and takes the targets out;
//! then, without the lock, it stores `Node.err`, closes `done` (waking every
//! receiver and select), cancels the children with the same error (Go: a
//! child's `Err` is its parent's), runs the hooks, stops the deadline timer
//! and leaves its parent's targets. Adding a target to a node that is
//! already cancelled runs it at once instead (Go's `propagateCancel`), so a
//! target added concurrently with a cancel is either taken out by it or
//! run by the adder: never lost. A deadline is an [`after_func`] timer that
//! cancels with `DeadlineExceeded`; it holds the node weakly.
//!
//! A waiter that must not miss a cancel (a netpoller wait) announces itself
//! first (its poll slot) and then reads `Node.err`, while the canceller
//! stores `Node.err` and then runs the hooks that look at the slot: both
//! sides are `SeqCst`, so at least one of them sees the other.
//!
//! [`after_func`]: crate::time::after_func

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::chan::{Chan, Receiver, channel};
use crate::lock::Mutex;
use crate::time::{FuncTimer, Timer, after_func};

/// Why a context is done (Go's `context.Canceled` and
/// `context.DeadlineExceeded`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextError {
    /// Its cancel function (or an ancestor's) was called.
    Canceled,
    /// Its deadline (or an ancestor's) passed.
    DeadlineExceeded,
}

impl core::fmt::Display for ContextError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ContextError::Canceled => "context canceled",
            ContextError::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for ContextError {}

impl ContextError {
    fn code(self) -> u8 {
        match self {
            ContextError::Canceled => 1,
            ContextError::DeadlineExceeded => 2,
        }
    }

    fn from_code(c: u8) -> Option<ContextError> {
        match c {
            1 => Some(ContextError::Canceled),
            2 => Some(ContextError::DeadlineExceeded),
            _ => None,
        }
    }
}

/// A cancel target of a node.
enum Target {
    Child(Weak<Node>),
    Hook(Box<dyn FnOnce() + Send>),
}

/// What `Node.lock` protects.
struct State {
    /// Set once, by the first cancel.
    err: Option<ContextError>,
    /// Cancel targets by id (ids are never reused).
    targets: Vec<(u64, Target)>,
    next_id: u64,
    /// The deadline timer, stopped by the cancel.
    timer: Option<FuncTimer>,
}

struct Node {
    parent: Option<Arc<Node>>,
    /// Our id among the parent's targets.
    id_in_parent: u64,
    deadline: Option<Instant>,
    done: Chan<()>,
    /// `State.err` as a code (0 = not done), for lock-free reads.
    err: AtomicU8,
    lock: Mutex,
    st: UnsafeCell<State>,
}

// SAFETY: `st` is only accessed under `lock`; everything else is immutable
// after construction or atomic.
unsafe impl Send for Node {}
// SAFETY: as above.
unsafe impl Sync for Node {}

impl Node {
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.lock.lock();
        // SAFETY: under the lock.
        let r = f(unsafe { &mut *self.st.get() });
        self.lock.unlock();
        r
    }

    fn err(&self) -> Option<ContextError> {
        ContextError::from_code(self.err.load(Ordering::SeqCst))
    }

    /// Add a target; if the node is already cancelled, returns it (with the
    /// error) for the caller to run instead.
    fn add(&self, t: Target) -> Result<u64, (Target, ContextError)> {
        self.with_state(|st| {
            if let Some(e) = st.err {
                return Err((t, e));
            }
            // Children dropped without a cancel leave dead weak entries:
            // drop them whenever the list doubles.
            if st.targets.len() >= 16 && st.targets.len().is_power_of_two() {
                st.targets
                    .retain(|(_, t)| !matches!(t, Target::Child(w) if w.strong_count() == 0));
            }
            let id = st.next_id;
            st.next_id += 1;
            st.targets.push((id, t));
            Ok(id)
        })
    }

    fn remove(&self, id: u64) {
        self.with_state(|st| st.targets.retain(|(i, _)| *i != id));
    }

    fn cancel(&self, e: ContextError, leave_parent: bool) {
        let taken = self.with_state(|st| {
            if st.err.is_some() {
                return None;
            }
            st.err = Some(e);
            Some((core::mem::take(&mut st.targets), st.timer.take()))
        });
        let Some((targets, timer)) = taken else {
            return;
        };
        self.err.store(e.code(), Ordering::SeqCst);
        self.done.close();
        for (_, t) in targets {
            run_target(t, e);
        }
        if let Some(t) = timer {
            t.stop();
        }
        if leave_parent && let Some(p) = &self.parent {
            p.remove(self.id_in_parent);
        }
    }
}

fn run_target(t: Target, e: ContextError) {
    match t {
        Target::Child(w) => {
            if let Some(child) = w.upgrade() {
                // The parent already dropped its entry.
                child.cancel(e, false);
            }
        }
        Target::Hook(f) => f(),
    }
}

/// A context: a cancellation signal and maybe a deadline, passed down to
/// the operations that should stop when it is done. Cloning is cheap and
/// every clone is the same context.
#[derive(Clone, Default)]
pub struct Context {
    /// None: the background context, never done.
    node: Option<Arc<Node>>,
}

impl core::fmt::Debug for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context")
            .field("deadline", &self.deadline())
            .field("err", &self.err())
            .finish()
    }
}

/// The root context: never cancelled, no deadline (Go's
/// `context.Background()`).
pub fn background() -> Context {
    Context { node: None }
}

/// Cancels its context (Go's `CancelFunc`). Cancelling twice does nothing;
/// dropping it does not cancel (as in Go, the context then lives until its
/// parent is done or its deadline passes).
pub struct CancelFunc {
    node: Arc<Node>,
}

impl CancelFunc {
    /// Cancels the context and its descendants with
    /// [`ContextError::Canceled`] (unless already done) and releases what
    /// they hold: the parent's reference, the deadline timer.
    pub fn cancel(&self) {
        self.node.cancel(ContextError::Canceled, true);
    }
}

impl Context {
    /// A channel that is closed when the context is done; `None` (Go's nil
    /// channel: a `select!` case on it is left out) for the background
    /// context, which never is.
    pub fn done(&self) -> Option<Receiver<()>> {
        self.node.as_ref().map(|n| n.done.receiver())
    }

    /// `None` while the context is not done; then why it is.
    pub fn err(&self) -> Option<ContextError> {
        self.node.as_ref().and_then(|n| n.err())
    }

    /// When the context will be done by itself, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.as_ref().and_then(|n| n.deadline)
    }

    /// Runs `hook` once when the context is done - at once, on this
    /// goroutine, if it already is. Returns an id for [`Self::remove_hook`]
    /// (None if it ran, or the context is never done).
    pub(crate) fn on_done(&self, hook: Box<dyn FnOnce() + Send>) -> Option<u64> {
        let n = self.node.as_ref()?;
        match n.add(Target::Hook(hook)) {
            Ok(id) => Some(id),
            Err((t, e)) => {
                run_target(t, e);
                None
            }
        }
    }

    /// Forgets a hook of [`Self::on_done`] (it may be running already).
    pub(crate) fn remove_hook(&self, id: Option<u64>) {
        if let (Some(n), Some(id)) = (&self.node, id) {
            n.remove(id);
        }
    }
}

/// A child node of `parent` with `deadline`, linked so that cancelling the
/// parent cancels it.
fn child(parent: &Context, deadline: Option<Instant>) -> (Context, CancelFunc) {
    // The parent's error if it was done before the link was made.
    let mut parent_done = None;
    let node = Arc::new_cyclic(|me: &Weak<Node>| {
        let id_in_parent = match &parent.node {
            None => 0,
            Some(p) => match p.add(Target::Child(me.clone())) {
                Ok(id) => id,
                Err((_, e)) => {
                    parent_done = Some(e);
                    u64::MAX
                }
            },
        };
        Node {
            parent: parent.node.clone(),
            id_in_parent,
            deadline,
            done: channel(0),
            err: AtomicU8::new(0),
            lock: Mutex::new(),
            st: UnsafeCell::new(State {
                err: None,
                targets: Vec::new(),
                next_id: 0,
                timer: None,
            }),
        }
    });
    // A parent cancelled after the link was made but before the node was
    // complete could not upgrade its weak link: it has stored its error by
    // then, so this read sees it (both SeqCst).
    if let Some(e) = parent_done.or_else(|| parent.err()) {
        node.cancel(e, false);
    }
    (
        Context {
            node: Some(node.clone()),
        },
        CancelFunc { node },
    )
}

/// A child of `parent` that is cancelled when `cancel` is called or the
/// parent is done (Go's `context.WithCancel`).
pub fn with_cancel(parent: &Context) -> (Context, CancelFunc) {
    child(parent, parent.deadline())
}

/// A child of `parent` that is also done at `deadline`, with
/// [`ContextError::DeadlineExceeded`] (Go's `context.WithDeadline`). A
/// parent's earlier deadline stays in force.
pub fn with_deadline(parent: &Context, deadline: Instant) -> (Context, CancelFunc) {
    if parent.deadline().is_some_and(|d| d <= deadline) {
        return with_cancel(parent);
    }
    let (ctx, cancel) = child(parent, Some(deadline));
    let node = &cancel.node;
    let now = Instant::now();
    if deadline <= now {
        node.cancel(ContextError::DeadlineExceeded, true);
        return (ctx, cancel);
    }
    let weak = Arc::downgrade(node);
    let timer = after_func(deadline - now, move || {
        if let Some(n) = weak.upgrade() {
            n.cancel(ContextError::DeadlineExceeded, true);
        }
    });
    let rejected = node.with_state(|st| {
        if st.err.is_none() {
            st.timer = Some(timer);
            None
        } else {
            Some(timer)
        }
    });
    // Cancelled while the timer was being made: nothing will stop it.
    if let Some(t) = rejected {
        t.stop();
    }
    (ctx, cancel)
}

/// [`with_deadline`] at now + `d` (Go's `context.WithTimeout`).
pub fn with_timeout(parent: &Context, d: Duration) -> (Context, CancelFunc) {
    with_deadline(parent, Instant::now() + d)
}

/// Sleeps for `d` unless `ctx` is done first: `Err` says why it is (and
/// it is returned at once if `ctx` is done already).
pub fn sleep(ctx: &Context, d: Duration) -> Result<(), ContextError> {
    if let Some(e) = ctx.err() {
        return Err(e);
    }
    let Some(done) = ctx.done() else {
        crate::time::sleep(d);
        return Ok(());
    };
    let t = Timer::new(d);
    crate::select! {
        recv(t.c) -> _ => Ok(()),
        recv(done) -> _ => {
            t.stop();
            Err(ctx.err().expect("done is closed only after err is set"))
        },
    }
}
