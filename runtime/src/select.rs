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
//! ```
//! # #![no_main]
//! # #[runtime::main]
//! # fn main() {
//! let (c1, c2) = (runtime::chan::channel::<i32>(1), runtime::chan::channel::<i32>(0));
//! c1.send(7);
//! runtime::select! {
//!     recv(c1) -> v => println!("got {v:?}"),   // v: Option<T>; None = closed
//!     send(c2, 42) => println!("sent"),
//!     default => println!("nothing ready"),    // optional: makes it non-blocking
//! }
//! # }
//! ```
//!
//! * Operands are evaluated once, in source order (each channel, then a
//!   send's value), and may be temporaries. A receive takes a [`Chan`], a
//!   [`Receiver`], a reference to one or an `Option` of one; a send the
//!   same with [`Sender`] for `Receiver` ([`SelectRecv`], [`SelectSend`]).
//! * `None` is Go's nil channel: its case is left out, as Go leaves out nil
//!   channels (a blocking select whose channels are all nil parks forever).
//! * The cases are done with their operands before a body runs, so a body
//!   may reassign or move the channel variables (`c = None` to turn a case
//!   off, as Go's `c = nil`); `break`, `continue` and `return` in a body
//!   act on the code around the select.
//!
//! `select! {}` blocks forever (wait reason "select (no cases)"). Without a
//! `default`, the G waits with wait reason "select". The value of a `send`
//! case that does not fire is dropped, like Go's evaluated-but-unsent value.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::Ordering;

use crate::chan::{Attempt, Chan, Hchan, Receiver, Sender, Sudog};
use crate::lock::Mutex;
use crate::proc::{fastrandn, getg, gopark, goready};
use crate::runtime2::{G, WaitReason, atomic_u32};

/// What a `recv(...)` case of [`select!`](crate::select!) takes: a handle
/// that may be received from ([`Chan`], [`Receiver`]), a reference to one,
/// or an `Option` of one, where `None` is Go's nil channel (the case is
/// left out of the select). A send-only [`Sender`] is not one:
///
/// ```compile_fail,E0277
/// fn wait(tx: runtime::chan::Sender<i32>) {
///     runtime::select! { recv(tx) -> _ => {} }
/// }
/// ```
pub trait SelectRecv {
    /// The element type.
    type Elem: Send;
    /// The channel to receive from; `None` for a nil channel. The channel
    /// object is opaque: only the macro's cases use it.
    #[doc(hidden)]
    fn recv_chan(&self) -> Option<&Hchan<Self::Elem>>;
}

/// What a `send(...)` case of [`select!`](crate::select!) takes: a handle
/// that may be sent on ([`Chan`], [`Sender`]), a reference to one, or an
/// `Option` of one (`None`: Go's nil channel, the case is left out). A
/// receive-only [`Receiver`] is not one:
///
/// ```compile_fail,E0277
/// fn offer(rx: runtime::chan::Receiver<i32>) {
///     runtime::select! { send(rx, 1) => {} }
/// }
/// ```
pub trait SelectSend {
    /// The element type.
    type Elem: Send;
    /// The channel to send on; `None` for a nil channel. The channel
    /// object is opaque: only the macro's cases use it.
    #[doc(hidden)]
    fn send_chan(&self) -> Option<&Hchan<Self::Elem>>;
}

impl<T: Send> SelectRecv for Chan<T> {
    type Elem = T;
    fn recv_chan(&self) -> Option<&Hchan<T>> {
        Some(self.hchan())
    }
}

impl<T: Send> SelectRecv for Receiver<T> {
    type Elem = T;
    fn recv_chan(&self) -> Option<&Hchan<T>> {
        Some(self.hchan())
    }
}

impl<T: Send> SelectSend for Chan<T> {
    type Elem = T;
    fn send_chan(&self) -> Option<&Hchan<T>> {
        Some(self.hchan())
    }
}

impl<T: Send> SelectSend for Sender<T> {
    type Elem = T;
    fn send_chan(&self) -> Option<&Hchan<T>> {
        Some(self.hchan())
    }
}

impl<H: SelectRecv + ?Sized> SelectRecv for &H {
    type Elem = H::Elem;
    fn recv_chan(&self) -> Option<&Hchan<H::Elem>> {
        (**self).recv_chan()
    }
}

impl<H: SelectSend + ?Sized> SelectSend for &H {
    type Elem = H::Elem;
    fn send_chan(&self) -> Option<&Hchan<H::Elem>> {
        (**self).send_chan()
    }
}

impl<H: SelectRecv> SelectRecv for Option<H> {
    type Elem = H::Elem;
    fn recv_chan(&self) -> Option<&Hchan<H::Elem>> {
        self.as_ref().and_then(H::recv_chan)
    }
}

impl<H: SelectSend> SelectSend for Option<H> {
    type Elem = H::Elem;
    fn send_chan(&self) -> Option<&Hchan<H::Elem>> {
        self.as_ref().and_then(H::send_chan)
    }
}

/// One case of a select, type-erased so cases over channels of different
/// element types fit in one slice. Implemented by [`RecvCase`] and
/// [`SendCase`]; [`selectgo`] calls the `unsafe` methods only for cases
/// whose channel is not nil, with that channel's lock held.
pub(crate) trait SelectCase {
    /// The channel's lock, or null for a nil channel (whose case takes no
    /// part in the select). The lock is a field of the channel object, so
    /// its address orders channels as their own addresses do: it is the
    /// lock order key (Go sorts by the channel's address). Valid as long as
    /// the case (which borrows the channel) lives.
    fn lock(&self) -> *const Mutex;
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
    /// The address of this case's sudog (meaningful after `enqueue`).
    fn sudog_addr(&self) -> *mut Sudog;
}

/// The channel of a case that takes part in the select. Only called by
/// [`selectgo`], which leaves nil cases out.
#[inline(always)]
fn live<T>(c: Option<&Hchan<T>>) -> &Hchan<T> {
    match c {
        Some(c) => c,
        None => unreachable!("select: a nil case took part"),
    }
}

/// What a receive case got.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RecvState {
    Pending,
    Value,
    Closed,
    Taken,
}

/// One case as `select!` hands it to [`selectgo`]: a type-erased case
/// ([`SelectCase`]) that programs cannot look into.
// Why `pub` (hidden): the `select!` macro expands in the program's crate,
// where it builds the slice of cases; the trait behind it stays private.
#[doc(hidden)]
pub struct CaseRef<'a>(&'a mut (dyn SelectCase + 'a));

/// A receive case: `recv(c) -> v`. After the select, [`RecvCase::result`]
/// says whether it fired and what it got.
// Why `pub` (hidden): the `select!` macro builds its cases in the
// program's crate.
#[doc(hidden)]
pub struct RecvCase<'a, T: Send> {
    /// None: a nil channel.
    c: Option<&'a Hchan<T>>,
    /// Written by a peer (through the sudog's `elem`) while we are parked,
    /// hence in an UnsafeCell, as is the sudog the peer updates.
    slot: UnsafeCell<MaybeUninit<T>>,
    /// Initialised by `enqueue` (the fast path never builds it).
    sg: UnsafeCell<MaybeUninit<Sudog>>,
    state: RecvState,
}

impl<'a, T: Send> RecvCase<'a, T> {
    /// A receive from `h` (a nil channel if `h` gives none).
    #[inline]
    pub fn new<H: SelectRecv<Elem = T> + ?Sized>(h: &'a H) -> Self {
        RecvCase {
            c: h.recv_chan(),
            slot: UnsafeCell::new(MaybeUninit::uninit()),
            sg: UnsafeCell::new(MaybeUninit::uninit()),
            state: RecvState::Pending,
        }
    }

    /// This case for [`selectgo`].
    #[inline]
    pub fn case(&mut self) -> CaseRef<'_> {
        CaseRef(self)
    }

    /// `None` if this case did not fire; else `Some` of what it received:
    /// `Some(v)`, or `None` when the channel was closed (Go's `ok == false`).
    #[inline]
    pub fn result(&mut self) -> Option<Option<T>> {
        match self.state {
            RecvState::Pending | RecvState::Taken => None,
            RecvState::Value => {
                self.state = RecvState::Taken;
                // SAFETY: state Value means the slot holds a moved-in value,
                // now moved out exactly once.
                Some(Some(unsafe { self.slot.get_mut().assume_init_read() }))
            }
            RecvState::Closed => {
                self.state = RecvState::Taken;
                Some(None)
            }
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
    #[inline]
    fn lock(&self) -> *const Mutex {
        self.c.map_or(ptr::null(), |c| &c.lock)
    }
    fn is_send(&self) -> bool {
        false
    }
    unsafe fn try_locked(&mut self) -> Attempt {
        // SAFETY: the caller holds the channel lock; slot is ours.
        let r = unsafe { live(self.c).try_recv_locked(self.slot.get()) };
        match r {
            Attempt::Done(_) => self.state = RecvState::Value,
            Attempt::Closed => self.state = RecvState::Closed,
            Attempt::WouldBlock => {}
        }
        r
    }
    unsafe fn enqueue(&mut self, gp: *mut G) -> *mut Sudog {
        let c = live(self.c);
        let sg = self.sg.get() as *mut Sudog;
        // SAFETY: no one sees the sudog before it is queued; lock held; the
        // case (and so sg) stays put until unqueued.
        unsafe {
            sg.write(Sudog::new(
                gp,
                self.slot.get() as *mut u8,
                c.addr() as *const u8,
            ));
            (*sg).is_select = true;
            c.st().recvq.enqueue(sg);
        }
        sg
    }
    unsafe fn unqueue(&mut self) {
        // SAFETY: lock held; sg was built by enqueue and is in recvq or in
        // no queue.
        unsafe { live(self.c).st().recvq.remove(self.sg.get() as *mut Sudog) };
    }
    fn woken(&mut self, success: bool) {
        self.state = if success {
            RecvState::Value
        } else {
            RecvState::Closed
        };
    }
    fn sudog_addr(&self) -> *mut Sudog {
        self.sg.get() as *mut Sudog
    }
}

/// A send case: `send(c, v)`. If another case fires, `v` is dropped.
// Why `pub` (hidden): as `RecvCase`.
#[doc(hidden)]
pub struct SendCase<'a, T: Send> {
    /// None: a nil channel.
    c: Option<&'a Hchan<T>>,
    /// Read by a peer (through the sudog's `elem`) while we are parked.
    value: UnsafeCell<MaybeUninit<T>>,
    /// Initialised by `enqueue` (the fast path never builds it).
    sg: UnsafeCell<MaybeUninit<Sudog>>,
    /// The value is still ours (not sent).
    owned: bool,
    fired: bool,
}

impl<'a, T: Send> SendCase<'a, T> {
    /// A send of `v` on `h` (a nil channel if `h` gives none).
    #[inline]
    pub fn new<H: SelectSend<Elem = T> + ?Sized>(h: &'a H, v: T) -> Self {
        SendCase {
            c: h.send_chan(),
            value: UnsafeCell::new(MaybeUninit::new(v)),
            sg: UnsafeCell::new(MaybeUninit::uninit()),
            owned: true,
            fired: false,
        }
    }

    /// This case for [`selectgo`].
    #[inline]
    pub fn case(&mut self) -> CaseRef<'_> {
        CaseRef(self)
    }

    /// `Some(())` if this case fired (the value was sent).
    #[inline]
    pub fn result(&mut self) -> Option<()> {
        self.fired.then_some(())
    }
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
    #[inline]
    fn lock(&self) -> *const Mutex {
        self.c.map_or(ptr::null(), |c| &c.lock)
    }
    fn is_send(&self) -> bool {
        true
    }
    unsafe fn try_locked(&mut self) -> Attempt {
        // SAFETY: the caller holds the channel lock; the value is initialised.
        let r = unsafe { live(self.c).try_send_locked(self.value.get()) };
        if let Attempt::Done(_) = r {
            self.owned = false;
            self.fired = true;
        }
        r
    }
    unsafe fn enqueue(&mut self, gp: *mut G) -> *mut Sudog {
        let c = live(self.c);
        let sg = self.sg.get() as *mut Sudog;
        // SAFETY: no one sees the sudog before it is queued; lock held; the
        // case (and so sg) stays put until unqueued.
        unsafe {
            sg.write(Sudog::new(
                gp,
                self.value.get() as *mut u8,
                c.addr() as *const u8,
            ));
            (*sg).is_select = true;
            c.st().sendq.enqueue(sg);
        }
        sg
    }
    unsafe fn unqueue(&mut self) {
        // SAFETY: lock held; sg was built by enqueue and is in sendq or in
        // no queue.
        unsafe { live(self.c).st().sendq.remove(self.sg.get() as *mut Sudog) };
    }
    fn woken(&mut self, success: bool) {
        // success: a receiver moved the value out. Otherwise the channel was
        // closed and selectgo panics; the value is still ours (dropped).
        self.owned = !success;
        self.fired = true;
    }
    fn sudog_addr(&self) -> *mut Sudog {
        self.sg.get() as *mut Sudog
    }
}

/// Selects with at most this many cases keep their orders and locks on
/// the stack.
const INLINE_CASES: usize = 32;

/// Locks every case's channel in lock order, each channel once (a channel
/// named by several cases is adjacent to itself in lock order).
///
/// # Safety
/// `locks[i]` is the live lock of case `i`'s channel for every `i` in
/// `lockorder`.
unsafe fn sellock(locks: &[*const Mutex], lockorder: &[u16]) {
    let mut last: *const Mutex = ptr::null();
    for &o in lockorder {
        let l = locks[o as usize];
        if l != last {
            last = l;
            // SAFETY: live (the caller's contract).
            unsafe { (*l).lock() };
        }
    }
}

/// Unlocks in reverse lock order, each channel once.
///
/// # Safety
/// As [`sellock`], and every lock is held by us.
unsafe fn selunlock(locks: &[*const Mutex], lockorder: &[u16]) {
    let mut last: *const Mutex = ptr::null();
    for &o in lockorder.iter().rev() {
        let l = locks[o as usize];
        if l != last {
            last = l;
            // SAFETY: live and held (the caller's contract).
            unsafe { (*l).unlock() };
        }
    }
}

/// What `selparkcommit` needs, on the selecting G's stack.
struct SelPark<'s> {
    locks: &'s [*const Mutex],
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
        let sp = &*(arg as *const SelPark<'_>);
        let mut pending: *const Mutex = ptr::null();
        for &o in sp.lockorder.iter().rev() {
            let l = sp.locks[o as usize];
            if l == pending {
                continue;
            }
            if !pending.is_null() {
                (*pending).unlock();
            }
            pending = l;
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
/// `result()` is `Some`). Cases on nil channels take no part; a blocking
/// select with no cases, or only nil ones, parks forever.
///
/// Panics with "send on closed channel" if the chosen case is a send on a
/// closed channel.
// Why `pub` (hidden): the `select!` macro calls it from the program's
// crate; programs write `select!`, not this.
#[doc(hidden)]
pub fn selectgo(cases: &mut [CaseRef<'_>], block: bool) -> Option<usize> {
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

    let mut poll_inline = [0u16; INLINE_CASES];
    let mut lock_inline = [0u16; INLINE_CASES];
    let mut locks_inline = [ptr::null::<Mutex>(); INLINE_CASES];
    let (mut poll_heap, mut lock_heap, mut locks_heap);
    let (pollorder, lockorder, locks): (&mut [u16], &mut [u16], &mut [*const Mutex]) =
        if n <= INLINE_CASES {
            (
                &mut poll_inline[..n],
                &mut lock_inline[..n],
                &mut locks_inline[..n],
            )
        } else {
            poll_heap = vec![0u16; n];
            lock_heap = vec![0u16; n];
            locks_heap = vec![ptr::null::<Mutex>(); n];
            (&mut poll_heap[..], &mut lock_heap[..], &mut locks_heap[..])
        };

    // Random poll order (inside-out Fisher-Yates, as Go), leaving out the
    // cases on nil channels: they take no part in the select. Each case's
    // lock (its channel, its lock order key) is read once, here.
    let mut norder = 0;
    for (i, c) in cases.iter().enumerate() {
        let l = c.0.lock();
        if l.is_null() {
            continue;
        }
        locks[i] = l;
        let j = fastrandn(norder as u32 + 1) as usize;
        pollorder[norder] = pollorder[j];
        pollorder[j] = i as u16;
        norder += 1;
    }
    let (pollorder, lockorder) = (&pollorder[..norder], &mut lockorder[..norder]);
    let locks: &[*const Mutex] = locks;
    if norder == 0 {
        if !block {
            return None;
        }
        // Every channel is nil: nothing can ever fire (Go parks the same).
        gopark(None, ptr::null_mut(), WaitReason::Select);
        unreachable!("select over nil channels woke up");
    }
    // Lock order: by channel, starting from the poll order (as Go, "to
    // permute cases on the same channel"). Pass 2 queues the cases in lock
    // order, so the cases that share a channel are queued on it in a random
    // order and a peer wakes a random one of them; starting from the
    // identity would always wake the first in source order. The sort only
    // compares keys, so cases with equal keys end up in an order that is a
    // fixed function of their starting positions: uniformly random.
    lockorder.copy_from_slice(pollorder);
    if norder <= INLINE_CASES {
        // Insertion sort: no call, and few compares for the usual handful.
        for k in 1..norder {
            let o = lockorder[k];
            let key = locks[o as usize];
            let mut j = k;
            while j > 0 && locks[lockorder[j - 1] as usize] > key {
                lockorder[j] = lockorder[j - 1];
                j -= 1;
            }
            lockorder[j] = o;
        }
    } else {
        lockorder.sort_unstable_by_key(|&i| locks[i as usize]);
    }
    let lockorder: &[u16] = lockorder;

    // SAFETY: locks[i] for i in lockorder are the locks of the channels the
    // cases borrow, alive for this call (so for every sellock/selunlock below).
    unsafe { sellock(locks, lockorder) };

    // Pass 1: is any case ready?
    for &i in pollorder.iter() {
        let i = i as usize;
        // SAFETY: every channel lock is held.
        match unsafe { cases[i].0.try_locked() } {
            Attempt::WouldBlock => continue,
            Attempt::Done(gp) => {
                // SAFETY: as sellock above; we hold every lock.
                unsafe { selunlock(locks, lockorder) };
                if !gp.is_null() {
                    goready(gp);
                }
                return Some(i);
            }
            Attempt::Closed => {
                // SAFETY: as above.
                unsafe { selunlock(locks, lockorder) };
                if cases[i].0.is_send() {
                    panic!("send on closed channel");
                }
                return Some(i);
            }
        }
    }

    if !block {
        // SAFETY: as above.
        unsafe { selunlock(locks, lockorder) };
        return None;
    }

    // Pass 2: queue on every channel (in lock order, as Go) and park.
    let gp = getg();
    // SAFETY: gp is the current G; each enqueue holds its channel's lock;
    // the cases do not move while we are parked (they are borrowed by us).
    unsafe {
        let mut head: *mut Sudog = ptr::null_mut();
        for &o in lockorder.iter() {
            let sg = cases[o as usize].0.enqueue(gp);
            (*sg).waitlink = head;
            head = sg;
        }
        (*gp).param = ptr::null_mut();
        (*gp).waiting = head as *mut u8;
        let sp = SelPark { locks, lockorder };
        gopark(
            Some(selparkcommit),
            &sp as *const SelPark<'_> as *mut u8,
            WaitReason::Select,
        );
    }

    // Pass 3: woken by the peer that won `selectdone`.
    // SAFETY: as above.
    unsafe { sellock(locks, lockorder) };
    // SAFETY: gp is us; all locks held, so no peer touches our sudogs.
    let casi = unsafe {
        let fired = (*gp).param as *mut Sudog;
        (*gp).param = ptr::null_mut();
        (*gp).waiting = ptr::null_mut();
        atomic_u32(&raw mut (*gp).selectdone).store(0, Ordering::Release);
        let mut casi = None;
        for &o in lockorder.iter() {
            let c = &mut cases[o as usize].0;
            // The fired sudog is the one the winning peer dequeued.
            if casi.is_none() && c.sudog_addr() == fired {
                casi = Some((o as usize, (*fired).success));
            } else {
                c.unqueue();
            }
        }
        casi
    };
    // SAFETY: as above.
    unsafe { selunlock(locks, lockorder) };
    let (i, success) = casi.expect("select: woken with no case fired");
    cases[i].0.woken(success);
    if cases[i].0.is_send() && !success {
        panic!("send on closed channel");
    }
    Some(i)
}

/// Runs a select over channel operations; see the module docs of
/// `runtime::select`.
///
/// ```
/// # #![no_main]
/// # #[runtime::main]
/// # fn main() {
/// # let (jobs, results) = (runtime::chan::channel::<u32>(4), runtime::chan::channel::<u32>(64));
/// # (1..=4).for_each(|j| jobs.send(j));
/// # jobs.close();
/// # let mut done = 0;
/// # let mut work = |j: u32| done += j;
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
/// # assert_eq!(done, 10);
/// # }
/// ```
#[macro_export]
macro_rules! select {
    ($($t:tt)*) => {
        $crate::__select_munch!([] [] $($t)*)
    };
}

/// Parses `select!` cases one at a time. Each step mints fresh hygienic
/// identifiers for its case: `__chan` (a reference to the operand),
/// `__case` (the case object) and `__out` (what the case got).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_munch {
    ([$($c:tt)*] [$($d:tt)*]) => {
        $crate::__select_expand!([$($c)*] [$($d)*])
    };
    ([$($c:tt)*] [$($d:tt)*] recv($ch:expr) -> $p:pat => $body:block, $($rest:tt)*) => {
        $crate::__select_munch!([$($c)* [__chan __case __out (&$ch)
            ($crate::select::RecvCase::new(__chan)) ($p) $body]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] recv($ch:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select_munch!([$($c)* [__chan __case __out (&$ch)
            ($crate::select::RecvCase::new(__chan)) ($p) $body]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] recv($ch:expr) -> $p:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_munch!([$($c)* [__chan __case __out (&$ch)
            ($crate::select::RecvCase::new(__chan)) ($p) { $body }]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] recv($ch:expr) -> $p:pat => $body:expr) => {
        $crate::__select_munch!([$($c)* [__chan __case __out (&$ch)
            ($crate::select::RecvCase::new(__chan)) ($p) { $body }]] [$($d)*])
    };
    ([$($c:tt)*] [$($d:tt)*] send($ch:expr, $v:expr) => $body:block, $($rest:tt)*) => {
        $crate::__select_munch!([$($c)* [__chan __case __out (&$ch)
            ($crate::select::SendCase::new(__chan, $v)) (()) $body]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] send($ch:expr, $v:expr) => $body:block $($rest:tt)*) => {
        $crate::__select_munch!([$($c)* [__chan __case __out (&$ch)
            ($crate::select::SendCase::new(__chan, $v)) (()) $body]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] send($ch:expr, $v:expr) => $body:expr, $($rest:tt)*) => {
        $crate::__select_munch!([$($c)* [__chan __case __out (&$ch)
            ($crate::select::SendCase::new(__chan, $v)) (()) { $body }]] [$($d)*] $($rest)*)
    };
    ([$($c:tt)*] [$($d:tt)*] send($ch:expr, $v:expr) => $body:expr) => {
        $crate::__select_munch!([$($c)* [__chan __case __out (&$ch)
            ($crate::select::SendCase::new(__chan, $v)) (()) { $body }]] [$($d)*])
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

/// Expands the parsed cases of `select!`. The operands are evaluated once,
/// in source order (each channel, then a send's value), into the inner
/// block, which runs `selectgo` and moves each case's result out; the
/// operands' borrows and temporaries end with that block, so the bodies
/// may reassign the channel variables.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_expand {
    ([] []) => {{
        $crate::select::selectgo(&mut [], true);
        unreachable!("select (no cases) returned")
    }};
    ([] [$def:block]) => {{
        $crate::select::selectgo(&mut [], false);
        $def
    }};
    ([$([$chan:ident $case:ident $out:ident ($cref:expr) ($ctor:expr) ($p:pat) $body:block])*] []) => {{
        let ($($out,)*) = {
            $( let $chan = $cref; let mut $case = $ctor; )*
            let __cases: &mut [$crate::select::CaseRef<'_>] = &mut [$( $case.case() ),*];
            $crate::select::selectgo(__cases, true);
            ($( $case.result(), )*)
        };
        $( if let ::core::option::Option::Some(__v) = $out { let $p = __v; $body } else )*
        { unreachable!("select: no case fired") }
    }};
    ([$([$chan:ident $case:ident $out:ident ($cref:expr) ($ctor:expr) ($p:pat) $body:block])*] [$def:block]) => {{
        let ($($out,)*) = {
            $( let $chan = $cref; let mut $case = $ctor; )*
            let __cases: &mut [$crate::select::CaseRef<'_>] = &mut [$( $case.case() ),*];
            $crate::select::selectgo(__cases, false);
            ($( $case.result(), )*)
        };
        $( if let ::core::option::Option::Some(__v) = $out { let $p = __v; $body } else )*
        $def
    }};
}
