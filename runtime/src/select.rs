//! `select` over several channel operations (Go's select.go `selectgo`).
//!
//! # Design
//!
//! A select is a slice of cases, each a send or a receive on one channel,
//! plus whether there is a `default`. [`selectgo`] runs Go's algorithm:
//!
//! 1. **Orders.** `pollorder` is a random permutation of the cases (from the
//!    runtime's per-M `fastrand`), so that no case starves another when
//!    several are ready. `lockorder` is the cases sorted by channel address:
//!    every select locks its channels in the same global order, so two
//!    selects over the same channels cannot deadlock on their locks; a
//!    channel named by several cases is locked once (duplicates are
//!    adjacent in `lockorder`). The sort starts from `pollorder`, so cases
//!    on one channel appear in `lockorder` in a random order.
//! 2. **Pass 1**, all locks held: look at the cases in `pollorder` and
//!    complete the first one that can proceed (a waiting peer, buffer
//!    room/contents, or a closed channel), unlock, ready the peer, return.
//! 3. No case ready and a `default` exists: unlock and return `None`.
//! 4. **Pass 2**: enqueue one [`Sudog`] per case (`is_select` set) on its
//!    channel's `sendq`/`recvq`, in lock order (so a peer on a channel named
//!    by several cases wakes a random one of them), chained through `waitlink` into
//!    `G.waiting`, and park with `selparkcommit`, which releases every
//!    lock only after the G's context is saved.
//! 5. A peer that dequeues one of our sudogs must win `G.selectdone` (CAS 0
//!    → 1, in `WaitQ::dequeue`); losers skip the record. The winner does
//!    the data transfer under its channel's lock, stores its sudog in
//!    `G.param`, and readies us.
//! 6. **Pass 3**: relock everything, find the fired case (`G.param`),
//!    unlink the other sudogs from their queues (a peer may have dropped
//!    some already: `WaitQ::remove` tolerates that), reset `selectdone`,
//!    unlock, and report the case.
//!
//! # Why the stack is safe to use
//!
//! The sudogs and the cases live on the selecting G's stack. After a peer
//! readies the G it may run on another M at once, but its pass 3 must take
//! every channel lock first, in `lockorder`. `selparkcommit` releases them
//! in reverse `lockorder`, so the lowest (which the woken G needs first) is
//! released last, and after that last unlock `selparkcommit` touches
//! nothing on the G's stack. A losing peer reads a sudog only under its
//! channel's lock, which pass 3 also needs before the G can return.
//!
//! # Program API
//!
//! The [`select!`](crate::select!) macro:
//!
//! ```ignore
//! runtime::select! {
//!     recv(c1) -> v => println!("got {v:?}"),   // v: Option<T>; None = closed
//!     send(c2, 42) => println!("sent"),
//!     default => println!("nothing ready"),    // optional: makes it non-blocking
//! }
//! ```
//!
//! `select! {}` blocks forever (wait reason "select (no cases)"). Without a
//! `default`, the G waits with wait reason "select". The value of a `send`
//! case that does not fire is dropped, like Go's evaluated-but-unsent value.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::Ordering;

use crate::chan::{Attempt, Chan, Hchan, Sudog};
use crate::lock::Mutex;
use crate::proc::{fastrandn, getg, gopark, goready};
use crate::runtime2::{G, WaitReason, atomic_u32};

/// One case of a select, type-erased so cases over channels of different
/// element types fit in one slice. Implemented by [`RecvCase`] and
/// [`SendCase`]; the `unsafe` methods are called by [`selectgo`] with the
/// case's channel lock held.
pub trait SelectCase {
    /// The channel's lock.
    fn lock(&self) -> &Mutex;
    /// The channel's address (the lock order key).
    fn chan_addr(&self) -> usize;
    /// Whether this is a send.
    fn is_send(&self) -> bool;
    /// Tries to complete now; lock held. Records the outcome in the case.
    ///
    /// # Safety
    /// The channel lock is held by the caller.
    unsafe fn try_locked(&mut self) -> Attempt;
    /// Builds this case's sudog for `gp` and queues it; lock held. The case
    /// must not move until [`SelectCase::unqueue`] or it fires.
    ///
    /// # Safety
    /// The channel lock is held; `gp` is the current G.
    unsafe fn enqueue(&mut self, gp: *mut G) -> *mut Sudog;
    /// Unlinks this case's sudog if still queued; lock held.
    ///
    /// # Safety
    /// The channel lock is held; `enqueue` was called.
    unsafe fn unqueue(&mut self);
    /// The case fired through its sudog (after the wake-up): record the
    /// outcome (`success` false: the channel was closed).
    fn woken(&mut self, success: bool);
    /// Whether this case is the one the select chose.
    fn fired(&self) -> bool;
    /// The address of this case's sudog (valid after `enqueue`).
    fn sudog_addr(&self) -> *mut Sudog;
}

/// What a receive case got.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RecvState {
    Pending,
    Value,
    Closed,
    Taken,
}

/// A receive case: `recv(c) -> v`. After the select, [`RecvCase::take`]
/// gives `Some(v)` or `None` (closed and drained).
pub struct RecvCase<'a, T: Send> {
    c: &'a Hchan<T>,
    /// Written by a peer (through the sudog's `elem`) while we are parked,
    /// hence in an UnsafeCell, as is the sudog the peer updates.
    slot: UnsafeCell<MaybeUninit<T>>,
    sg: UnsafeCell<Sudog>,
    state: RecvState,
}

impl<'a, T: Send> RecvCase<'a, T> {
    /// A receive from `c`.
    pub fn new(c: &'a Chan<T>) -> Self {
        RecvCase {
            c: c.hchan(),
            slot: UnsafeCell::new(MaybeUninit::uninit()),
            sg: UnsafeCell::new(Sudog::new(ptr::null_mut(), ptr::null_mut(), ptr::null())),
            state: RecvState::Pending,
        }
    }

    /// The received value (`None`: the channel was closed). Panics if this
    /// case did not fire or was already taken.
    pub fn take(&mut self) -> Option<T> {
        match self.state {
            RecvState::Value => {
                self.state = RecvState::Taken;
                // SAFETY: state Value means the slot holds a moved-in value,
                // now moved out exactly once.
                Some(unsafe { self.slot.get_mut().assume_init_read() })
            }
            RecvState::Closed => None,
            s => panic!("select: take() on a receive case in state {s:?}"),
        }
    }
}

impl<T: Send> Drop for RecvCase<'_, T> {
    fn drop(&mut self) {
        if self.state == RecvState::Value {
            // SAFETY: a received value nobody took.
            unsafe { self.slot.get_mut().assume_init_drop() };
        }
    }
}

impl<T: Send> SelectCase for RecvCase<'_, T> {
    fn lock(&self) -> &Mutex {
        &self.c.lock
    }
    fn chan_addr(&self) -> usize {
        self.c.addr()
    }
    fn is_send(&self) -> bool {
        false
    }
    unsafe fn try_locked(&mut self) -> Attempt {
        // SAFETY: the caller holds the channel lock; slot is ours.
        let r = unsafe { self.c.try_recv_locked(self.slot.get()) };
        match r {
            Attempt::Done(_) => self.state = RecvState::Value,
            Attempt::Closed => self.state = RecvState::Closed,
            Attempt::WouldBlock => {}
        }
        r
    }
    unsafe fn enqueue(&mut self, gp: *mut G) -> *mut Sudog {
        let sg = self.sg.get();
        // SAFETY: no one sees the sudog before it is queued; lock held; the
        // case (and so sg) stays put until unqueued.
        unsafe {
            *sg = Sudog::new(gp, self.slot.get() as *mut u8, self.c.addr() as *const u8);
            (*sg).is_select = true;
            self.c.st().recvq.enqueue(sg);
        }
        sg
    }
    unsafe fn unqueue(&mut self) {
        // SAFETY: lock held; sg is in recvq or in no queue.
        unsafe { self.c.st().recvq.remove(self.sg.get()) };
    }
    fn woken(&mut self, success: bool) {
        self.state = if success {
            RecvState::Value
        } else {
            RecvState::Closed
        };
    }
    fn fired(&self) -> bool {
        self.state != RecvState::Pending
    }
    fn sudog_addr(&self) -> *mut Sudog {
        self.sg.get()
    }
}

/// A send case: `send(c, v)`. If another case fires, `v` is dropped.
pub struct SendCase<'a, T: Send> {
    c: &'a Hchan<T>,
    /// Read by a peer (through the sudog's `elem`) while we are parked.
    value: UnsafeCell<MaybeUninit<T>>,
    sg: UnsafeCell<Sudog>,
    /// The value is still ours (not sent).
    owned: bool,
    fired: bool,
}

impl<'a, T: Send> SendCase<'a, T> {
    /// A send of `v` on `c`.
    pub fn new(c: &'a Chan<T>, v: T) -> Self {
        SendCase {
            c: c.hchan(),
            value: UnsafeCell::new(MaybeUninit::new(v)),
            sg: UnsafeCell::new(Sudog::new(ptr::null_mut(), ptr::null_mut(), ptr::null())),
            owned: true,
            fired: false,
        }
    }

    /// Nothing to take from a send; here so that `select!` treats both
    /// kinds alike.
    pub fn take(&mut self) {}
}

impl<T: Send> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: the value was never moved out.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T: Send> SelectCase for SendCase<'_, T> {
    fn lock(&self) -> &Mutex {
        &self.c.lock
    }
    fn chan_addr(&self) -> usize {
        self.c.addr()
    }
    fn is_send(&self) -> bool {
        true
    }
    unsafe fn try_locked(&mut self) -> Attempt {
        // SAFETY: the caller holds the channel lock; the value is initialised.
        let r = unsafe { self.c.try_send_locked(self.value.get()) };
        if let Attempt::Done(_) = r {
            self.owned = false;
            self.fired = true;
        }
        r
    }
    unsafe fn enqueue(&mut self, gp: *mut G) -> *mut Sudog {
        let sg = self.sg.get();
        // SAFETY: no one sees the sudog before it is queued; lock held; the
        // case (and so sg) stays put until unqueued.
        unsafe {
            *sg = Sudog::new(gp, self.value.get() as *mut u8, self.c.addr() as *const u8);
            (*sg).is_select = true;
            self.c.st().sendq.enqueue(sg);
        }
        sg
    }
    unsafe fn unqueue(&mut self) {
        // SAFETY: lock held; sg is in sendq or in no queue.
        unsafe { self.c.st().sendq.remove(self.sg.get()) };
    }
    fn woken(&mut self, success: bool) {
        // success: a receiver moved the value out. Otherwise the channel was
        // closed and selectgo panics; the value is still ours (dropped).
        self.owned = !success;
        self.fired = true;
    }
    fn fired(&self) -> bool {
        self.fired
    }
    fn sudog_addr(&self) -> *mut Sudog {
        self.sg.get()
    }
}

/// Case indices for the two orders, on the stack for small selects.
const INLINE_CASES: usize = 32;

/// Locks every case's channel in lock order, each channel once.
fn sellock(cases: &[&mut dyn SelectCase], lockorder: &[u16]) {
    let mut last = 0usize;
    for &o in lockorder {
        let c = &cases[o as usize];
        if c.chan_addr() != last {
            last = c.chan_addr();
            c.lock().lock();
        }
    }
}

/// Unlocks in reverse lock order, each channel once.
fn selunlock(cases: &[&mut dyn SelectCase], lockorder: &[u16]) {
    for i in (0..lockorder.len()).rev() {
        let c = &cases[lockorder[i] as usize];
        if i > 0 && c.chan_addr() == cases[lockorder[i - 1] as usize].chan_addr() {
            continue;
        }
        c.lock().unlock();
    }
}

/// What `selparkcommit` needs, on the selecting G's stack.
struct SelPark<'s, 'c> {
    cases: &'s [&'c mut dyn SelectCase],
    lockorder: &'s [u16],
}

/// `gopark`'s commit for a select (Go's `selparkcommit`): on g0, once the G
/// is parked, release every channel lock in reverse lock order. After the
/// final unlock the G may run anywhere, so nothing on its stack is read
/// after it (the lock to release last is copied to this frame first).
unsafe fn selparkcommit(_gp: *mut G, arg: *mut u8) -> bool {
    // SAFETY: arg is the SelPark on the parked G's stack; it stays valid
    // until the G gets every lock back (see the module comment), which is
    // after our last unlock below.
    unsafe {
        let sp = &*(arg as *const SelPark<'_, '_>);
        let mut pending: *const Mutex = ptr::null();
        let mut pending_addr = 0usize;
        for i in (0..sp.lockorder.len()).rev() {
            let c = &sp.cases[sp.lockorder[i] as usize];
            if c.chan_addr() == pending_addr {
                continue;
            }
            if !pending.is_null() {
                (*pending).unlock();
            }
            pending = c.lock();
            pending_addr = c.chan_addr();
        }
        if !pending.is_null() {
            (*pending).unlock();
        }
    }
    true
}

/// Go's `selectgo`: runs the select over `cases`. With `block == false`
/// (there is a `default`) it returns `None` when no case is ready; otherwise
/// it waits, and returns the index of the case that fired (that case's
/// [`SelectCase::fired`] is true). An empty blocking select parks forever.
///
/// Panics with "send on closed channel" if the chosen case is a send on a
/// closed channel.
pub fn selectgo(cases: &mut [&mut dyn SelectCase], block: bool) -> Option<usize> {
    // Preemption safe point (sysmon.rs): no lock held yet.
    crate::sysmon::preempt_check();
    let n = cases.len();
    if n == 0 {
        if !block {
            return None;
        }
        // `select {}`: park forever (the deadlock detector sees us).
        gopark(None, ptr::null_mut(), WaitReason::SelectNoCases);
        unreachable!("select (no cases) woke up");
    }
    assert!(n <= u16::MAX as usize, "select: too many cases");

    let (mut poll_inline, mut lock_inline) = ([0u16; INLINE_CASES], [0u16; INLINE_CASES]);
    let (mut poll_heap, mut lock_heap);
    let (pollorder, lockorder): (&mut [u16], &mut [u16]) = if n <= INLINE_CASES {
        (&mut poll_inline[..n], &mut lock_inline[..n])
    } else {
        poll_heap = vec![0u16; n];
        lock_heap = vec![0u16; n];
        (&mut poll_heap[..], &mut lock_heap[..])
    };

    // Random poll order (inside-out Fisher-Yates, as Go).
    for i in 0..n {
        let j = fastrandn(i as u32 + 1) as usize;
        pollorder[i] = pollorder[j];
        pollorder[j] = i as u16;
    }
    // Lock order: by channel address, starting from the poll order (as Go,
    // "to permute cases on the same channel"). Pass 2 queues the cases in
    // lock order, so the cases that share a channel are queued on it in a
    // random order and a peer wakes a random one of them; starting from the
    // identity would always wake the first in source order. The sort only
    // compares keys, so cases with equal keys end up in an order that is a
    // fixed function of their starting positions: uniformly random.
    lockorder.copy_from_slice(pollorder);
    lockorder.sort_unstable_by_key(|&i| cases[i as usize].chan_addr());

    sellock(cases, lockorder);

    // Pass 1: is any case ready?
    for &i in pollorder.iter() {
        let i = i as usize;
        // SAFETY: every channel lock is held.
        match unsafe { cases[i].try_locked() } {
            Attempt::WouldBlock => continue,
            Attempt::Done(gp) => {
                selunlock(cases, lockorder);
                if !gp.is_null() {
                    goready(gp);
                }
                return Some(i);
            }
            Attempt::Closed => {
                selunlock(cases, lockorder);
                if cases[i].is_send() {
                    panic!("send on closed channel");
                }
                return Some(i);
            }
        }
    }

    if !block {
        selunlock(cases, lockorder);
        return None;
    }

    // Pass 2: queue on every channel (in lock order, as Go) and park.
    let gp = getg();
    // SAFETY: gp is the current G; each enqueue holds its channel's lock;
    // the cases do not move while we are parked (they are borrowed by us).
    unsafe {
        let mut head: *mut Sudog = ptr::null_mut();
        for &o in lockorder.iter() {
            let sg = cases[o as usize].enqueue(gp);
            (*sg).waitlink = head;
            head = sg;
        }
        (*gp).param = ptr::null_mut();
        (*gp).waiting = head as *mut u8;
        let sp = SelPark { cases, lockorder };
        gopark(
            Some(selparkcommit),
            &sp as *const SelPark<'_, '_> as *mut u8,
            WaitReason::Select,
        );
    }

    // Pass 3: woken by the peer that won `selectdone`.
    sellock(cases, lockorder);
    // SAFETY: gp is us; all locks held, so no peer touches our sudogs.
    let casi = unsafe {
        let fired = (*gp).param as *mut Sudog;
        (*gp).param = ptr::null_mut();
        (*gp).waiting = ptr::null_mut();
        atomic_u32(&raw mut (*gp).selectdone).store(0, Ordering::Release);
        let mut casi = None;
        for &o in lockorder.iter() {
            let c = &mut cases[o as usize];
            // The fired sudog is the one the winning peer dequeued.
            if casi.is_none() && c.sudog_addr() == fired {
                casi = Some((o as usize, (*fired).success));
            } else {
                c.unqueue();
            }
        }
        casi
    };
    selunlock(cases, lockorder);
    let (i, success) = casi.expect("select: woken with no case fired");
    cases[i].woken(success);
    if cases[i].is_send() && !success {
        panic!("send on closed channel");
    }
    Some(i)
}

/// Runs a select over channel operations; see the module docs of
/// `runtime::select`.
///
/// ```ignore
/// loop {
///     runtime::select! {
///         recv(jobs) -> j => match j {
///             Some(j) => work(j),
///             None => break,
///         },
///         send(results, 1) => {},
///         default => runtime::gosched(),
///     }
/// }
/// ```
#[macro_export]
macro_rules! select {
    ($($t:tt)*) => {
        $crate::__select_munch!([] [] $($t)*)
    };
}

/// Parses `select!` cases one at a time (each step mints a fresh hygienic
/// `__case` identifier for its case).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_munch {
    ([$($c:tt)*] [$($d:tt)*]) => {
        $crate::__select_expand!([$($c)*] [$($d)*])
    };
    ([$($c:tt)*] [$($d:tt)*] recv($ch:expr) -> $p:pat => $body:block, $($rest:tt)*) => {
        $crate::__select_munch!(
            [$($c)* [__case ($crate::select::RecvCase::new(&$ch)) ($p) $body]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] recv($ch:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select_munch!(
            [$($c)* [__case ($crate::select::RecvCase::new(&$ch)) ($p) $body]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] recv($ch:expr) -> $p:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_munch!(
            [$($c)* [__case ($crate::select::RecvCase::new(&$ch)) ($p) { $body }]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] recv($ch:expr) -> $p:pat => $body:expr) => {
        $crate::__select_munch!(
            [$($c)* [__case ($crate::select::RecvCase::new(&$ch)) ($p) { $body }]] [$($d)*])
    };
    ([$($c:tt)*] [$($d:tt)*] send($ch:expr, $v:expr) => $body:block, $($rest:tt)*) => {
        $crate::__select_munch!(
            [$($c)* [__case ($crate::select::SendCase::new(&$ch, $v)) (()) $body]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] send($ch:expr, $v:expr) => $body:block $($rest:tt)*) => {
        $crate::__select_munch!(
            [$($c)* [__case ($crate::select::SendCase::new(&$ch, $v)) (()) $body]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] send($ch:expr, $v:expr) => $body:expr, $($rest:tt)*) => {
        $crate::__select_munch!(
            [$($c)* [__case ($crate::select::SendCase::new(&$ch, $v)) (()) { $body }]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] send($ch:expr, $v:expr) => $body:expr) => {
        $crate::__select_munch!(
            [$($c)* [__case ($crate::select::SendCase::new(&$ch, $v)) (()) { $body }]] [$($d)*])
    };
    ([$($c:tt)*] [] default => $body:block, $($rest:tt)*) => {
        $crate::__select_munch!([$($c)*] [$body] $($rest)*)
    };
    ([$($c:tt)*] [] default => $body:block $($rest:tt)*) => {
        $crate::__select_munch!([$($c)*] [$body] $($rest)*)
    };
    ([$($c:tt)*] [] default => $body:expr, $($rest:tt)*) => {
        $crate::__select_munch!([$($c)*] [{ $body }] $($rest)*)
    };
    ([$($c:tt)*] [] default => $body:expr) => {
        $crate::__select_munch!([$($c)*] [{ $body }])
    };
}

/// Expands the parsed cases of `select!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_expand {
    ([$([$id:ident ($ctor:expr) ($p:pat) $body:block])*] []) => {{
        $( let mut $id = $ctor; )*
        {
            let __cases: &mut [&mut dyn $crate::select::SelectCase] =
                &mut [$( &mut $id as &mut dyn $crate::select::SelectCase ),*];
            $crate::select::selectgo(__cases, true);
        }
        $( if $crate::select::SelectCase::fired(&$id) { let $p = $id.take(); $body } else )*
        { unreachable!("select: no case fired") }
    }};
    ([$([$id:ident ($ctor:expr) ($p:pat) $body:block])*] [$def:block]) => {{
        $( let mut $id = $ctor; )*
        {
            let __cases: &mut [&mut dyn $crate::select::SelectCase] =
                &mut [$( &mut $id as &mut dyn $crate::select::SelectCase ),*];
            $crate::select::selectgo(__cases, false);
        }
        $( if $crate::select::SelectCase::fired(&$id) { let $p = $id.take(); $body } else )*
        $def
    }};
}
