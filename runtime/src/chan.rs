//! Channels (Go's chan.go): typed, optionally buffered, closable queues that
//! goroutines block on.
//!
//! # Design
//!
//! A [`Chan<T>`] is a cloneable handle (an `Arc`) to one [`Hchan`], the
//! channel object, laid out as Go's `hchan` so a debugger can read it. All of
//! a channel's state is protected by one runtime lock, [`Hchan::lock`] (a
//! futex mutex that blocks the thread, held only for a few dozen
//! instructions and never across a park).
//!
//! A goroutine that cannot proceed (a send to a full channel, a receive from
//! an empty one) builds a [`Sudog`] - a wait record - **on its own stack**,
//! links it into the channel's `sendq` or `recvq` while still holding the
//! lock, and parks with [`goparkunlock`], which releases the lock only
//! after the goroutine's context is saved on g0 (Go's `chanparkcommit`). Go
//! allocates sudogs from a cache because its stacks move; ours never move
//! (fixed-size stacks), so a sudog on the parked G's stack stays valid until
//! the G runs again, and a channel operation allocates nothing.
//!
//! Whoever completes the operation later (the peer sender or receiver, or
//! `close`) does it entirely under the channel lock: it dequeues the sudog,
//! moves the element directly between the two goroutines' stacks (*direct
//! handoff*: an unbuffered send never touches a buffer; a receiver that finds
//! a sender waiting on a full buffer takes the head of the buffer and puts
//! the sender's element at the tail), records the outcome in
//! `sudog.success`, and then - after releasing the lock - calls [`goready`]
//! on the parked G. Because the parked G is `GWAITING` and only `goready`
//! makes it runnable, its stack (and so the sudog) cannot change between the
//! dequeue and the `goready`.
//!
//! ## Why no wakeup is lost
//!
//! A waiter enqueues itself and releases the lock in the same critical
//! section as its check ("the channel is empty"), and the lock is released
//! only after the G is parked (`gopark`'s commit function runs on g0). A
//! peer that takes the lock afterwards therefore always finds the sudog in
//! the queue, and finds the G already parked, so `goready` is legal.
//!
//! ## Invariants (all under `lock`)
//!
//! * `recvq` non-empty ⇒ the buffer is empty (`qcount == 0`): receivers only
//!   wait when there is nothing to take, and a sender serves a waiting
//!   receiver before it would fill the buffer.
//! * `sendq` non-empty ⇒ the buffer is full (`qcount == dataqsiz`).
//! * `closed != 0` ⇒ `sendq` is empty (close wakes every sender, and sends
//!   after close panic) and `recvq` is empty (close wakes every receiver;
//!   receivers of a closed channel never wait).
//! * `qcount <= dataqsiz`; the live elements are the `qcount` slots starting
//!   at `recvx` (mod `dataqsiz`); `sendx == (recvx + qcount) % dataqsiz`.
//!
//! ## Lock-free fast paths
//!
//! As Go, a *failing* non-blocking operation (`try_send` on a full channel,
//! `try_recv` on an empty one) is decided without the lock, from atomic
//! loads of `closed`, `qcount` and the queues' `first` pointers; the
//! arguments for why the answer is linearisable are next to the code
//! (`chansend`, `chanrecv`). For those loads to be data-race free, every
//! write of these four words is an atomic store (made under the lock);
//! reads under the lock stay plain. Anything that might succeed takes the
//! lock. `select` always takes the locks.
//!
//! ## Select
//!
//! `select` (select.rs) puts one sudog per case, with `is_select` set, on
//! several channels at once. The first peer to dequeue one of them must win
//! the whole select: [`WaitQ::dequeue`] CASes the G's `selectdone` word from
//! 0 to 1 and skips (drops from the queue) a select sudog whose G already
//! won elsewhere - exactly Go's `waitq.dequeue`. The winner stores its sudog
//! in `G.param`, so the woken select knows which case fired.
//!
//! ## What programs see
//!
//! Go's semantics, Rust's types: a [`Chan`] is Go's `chan T`; its
//! [`Sender`] and [`Receiver`] handles are `chan<- T` and `<-chan T`.
//! `send` blocks until a receiver took the value (unbuffered) or it is in
//! the buffer; `recv` returns `Some(v)`, or
//! `None` when the channel is closed and drained (Go's `v, ok := <-c` with
//! `ok == false`); a send on a closed channel and a second close panic with
//! Go's messages. Go's nil channel is `None` of an `Option<Chan<T>>`
//! (or of a `Sender`/`Receiver`): `select!` leaves such a case out, as Go's
//! select leaves out nil channels.
//! Channel operations must be called from a goroutine (any code running under
//! `runtime::main!` or `runtime::go`).

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::Ordering;
use std::sync::Arc;

use crate::lock::Mutex;
use crate::proc::{getg, goparkunlock, goready};
use crate::runtime2::{G, WaitReason, atomic_ptr, atomic_u32, atomic_usize};

/// A wait record: one goroutine waiting on one channel (Go's `sudog`).
///
/// Lives on the waiting goroutine's stack. `next`/`prev` link it into a
/// [`WaitQ`] and are protected by that channel's lock; `elem`, `success` and
/// `ticket` are written by the waker under the lock before it readies `g`.
#[repr(C)]
pub(crate) struct Sudog {
    /// The waiting goroutine.
    pub(crate) g: *mut G,
    /// Next waiter in the channel's queue.
    pub(crate) next: *mut Sudog,
    /// Previous waiter in the channel's queue.
    pub(crate) prev: *mut Sudog,
    /// Data element: for a sender, the value to send (a `MaybeUninit<T>` on
    /// its stack); for a receiver, the slot to receive into. Null when no
    /// element moves (semaphores).
    pub(crate) elem: *mut u8,
    /// The channel (its `Hchan` address) or semaphore this record waits on.
    pub(crate) c: *const u8,
    /// Next record of the same G (a select waits on several: Go's `waitlink`).
    pub(crate) waitlink: *mut Sudog,
    /// Semaphores: 1 when the releaser handed its ticket straight to us.
    pub(crate) ticket: u32,
    /// This record belongs to a select (the dequeue must win `g.selectdone`).
    pub(crate) is_select: bool,
    /// Set by the waker: true if the operation completed by a peer moving
    /// data, false if the G was woken because the channel was closed.
    pub(crate) success: bool,
}

impl Sudog {
    /// A record for the current goroutine `g` waiting on `c`.
    pub(crate) fn new(g: *mut G, elem: *mut u8, c: *const u8) -> Sudog {
        Sudog {
            g,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            elem,
            c,
            waitlink: ptr::null_mut(),
            ticket: 0,
            is_select: false,
            success: false,
        }
    }
}

/// A FIFO of waiting goroutines (Go's `waitq`), doubly linked through the
/// sudogs themselves. Protected by the lock of the object that owns it.
#[repr(C)]
pub(crate) struct WaitQ {
    /// Oldest waiter (dequeued first).
    pub(crate) first: *mut Sudog,
    /// Newest waiter.
    pub(crate) last: *mut Sudog,
}

impl Default for WaitQ {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQ {
    /// An empty queue.
    pub(crate) const fn new() -> WaitQ {
        WaitQ {
            first: ptr::null_mut(),
            last: ptr::null_mut(),
        }
    }

    /// Whether no one waits.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_null()
    }

    /// Writes `first`. Every write is atomic (Release) because the
    /// non-blocking fast paths of [`Chan::try_send`] / [`Chan::try_recv`]
    /// read it without the lock; reads under the lock stay plain (no write
    /// can race with them).
    fn set_first(&mut self, sgp: *mut Sudog) {
        // SAFETY: `first` is a valid, aligned pointer-sized field.
        unsafe { atomic_ptr(&raw mut self.first) }.store(sgp, Ordering::Release);
    }

    /// Reads `first` without the lock (fast paths only).
    ///
    /// # Safety
    /// `q` points to a live queue.
    unsafe fn first_unlocked(q: *const WaitQ) -> *mut Sudog {
        // SAFETY: as set_first; concurrent writers use atomic stores.
        unsafe { atomic_ptr(&raw const (*q).first as *mut *mut Sudog) }.load(Ordering::SeqCst)
    }

    /// Appends `sgp` at the tail.
    ///
    /// # Safety
    /// `sgp` is valid, in no queue, and stays valid until dequeued.
    pub(crate) unsafe fn enqueue(&mut self, sgp: *mut Sudog) {
        // SAFETY: the caller guarantees sgp and every queued record are valid.
        unsafe {
            (*sgp).next = ptr::null_mut();
            let x = self.last;
            if x.is_null() {
                (*sgp).prev = ptr::null_mut();
                self.set_first(sgp);
                self.last = sgp;
                return;
            }
            (*sgp).prev = x;
            (*x).next = sgp;
            self.last = sgp;
        }
    }

    /// Inserts `sgp` at the head (semaphores' LIFO mode).
    ///
    /// # Safety
    /// As [`WaitQ::enqueue`].
    pub(crate) unsafe fn push_front(&mut self, sgp: *mut Sudog) {
        // SAFETY: the caller guarantees sgp and every queued record are valid.
        unsafe {
            (*sgp).prev = ptr::null_mut();
            let y = self.first;
            (*sgp).next = y;
            if y.is_null() {
                self.last = sgp;
            } else {
                (*y).prev = sgp;
            }
            self.set_first(sgp);
        }
    }

    /// Removes and returns the oldest waiter that can still be woken, or
    /// null. A select's record is skipped (and dropped from the queue) when
    /// its goroutine was already won by another case: winning means CASing
    /// `g.selectdone` 0 → 1, so exactly one peer completes a select. On a
    /// win, `g.param` records which sudog fired.
    ///
    /// # Safety
    /// Every queued record is valid (the owner's lock is held).
    pub(crate) unsafe fn dequeue(&mut self) -> *mut Sudog {
        // SAFETY: the caller holds the lock that protects this queue, and
        // every record in it is on the stack of a parked (or parking) G.
        unsafe {
            loop {
                let sgp = self.first;
                if sgp.is_null() {
                    return ptr::null_mut();
                }
                let y = (*sgp).next;
                if y.is_null() {
                    self.set_first(ptr::null_mut());
                    self.last = ptr::null_mut();
                } else {
                    (*y).prev = ptr::null_mut();
                    self.set_first(y);
                    (*sgp).next = ptr::null_mut();
                }
                if (*sgp).is_select {
                    let gp = (*sgp).g;
                    let done = atomic_u32(&raw mut (*gp).selectdone);
                    if done
                        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                        .is_err()
                    {
                        continue;
                    }
                    (*gp).param = sgp as *mut u8;
                }
                return sgp;
            }
        }
    }

    /// Unlinks `sgp` if it is still in the queue (Go's `dequeueSudoG`); a
    /// record that a peer already dequeued is left alone.
    ///
    /// # Safety
    /// `sgp` is valid, and is in this queue or in none.
    pub(crate) unsafe fn remove(&mut self, sgp: *mut Sudog) {
        // SAFETY: the caller holds the queue's lock; sgp's neighbours are
        // valid queued records.
        unsafe {
            let x = (*sgp).prev;
            let y = (*sgp).next;
            if !x.is_null() {
                if !y.is_null() {
                    (*x).next = y;
                    (*y).prev = x;
                    (*sgp).next = ptr::null_mut();
                    (*sgp).prev = ptr::null_mut();
                    return;
                }
                (*x).next = ptr::null_mut();
                self.last = x;
                (*sgp).prev = ptr::null_mut();
                return;
            }
            if !y.is_null() {
                (*y).prev = ptr::null_mut();
                self.set_first(y);
                (*sgp).next = ptr::null_mut();
                return;
            }
            // x == y == null: either the only element or already removed.
            if self.first == sgp {
                self.set_first(ptr::null_mut());
                self.last = ptr::null_mut();
            }
        }
    }
}

/// The lock-protected state of a channel, with Go's `hchan` field names.
#[repr(C)]
pub(crate) struct HchanState {
    /// Elements in the buffer.
    pub(crate) qcount: usize,
    /// Buffer capacity (0: unbuffered).
    pub(crate) dataqsiz: usize,
    /// The ring buffer: `dataqsiz` slots of `elemsize` bytes.
    pub(crate) buf: *mut u8,
    /// Size of one element.
    pub(crate) elemsize: usize,
    /// Nonzero once closed.
    pub(crate) closed: u32,
    /// Next slot a send fills.
    pub(crate) sendx: usize,
    /// Next slot a receive takes.
    pub(crate) recvx: usize,
    /// Blocked receivers.
    pub(crate) recvq: WaitQ,
    /// Blocked senders.
    pub(crate) sendq: WaitQ,
}

/// A channel object (Go's `hchan`): the state above plus its lock. The
/// element type only decides how `buf` and sudog elements are moved.
///
/// Opaque outside the crate: no public field or method.
// Why `pub` (hidden): `SelectRecv::recv_chan` / `SelectSend::send_chan`,
// the traits of `select!`'s operands, hand it to the macro's cases, so it
// must be nameable there. Debuggers read it by its DWARF name
// `runtime::chan::Hchan<T>` and its field names (python/gdbx/printers.py),
// which visibility does not change.
#[doc(hidden)]
#[repr(C)]
pub struct Hchan<T> {
    /// The state; every access holds `lock`.
    pub(crate) st: UnsafeCell<HchanState>,
    /// Protects `st` and the buffer's slots.
    pub(crate) lock: Mutex,
    /// `st.dataqsiz`, readable without the lock (it never changes).
    pub(crate) cap: usize,
    _elem: PhantomData<T>,
}

// SAFETY: all shared state is behind `lock`; elements of type T move between
// goroutines (threads), so T must be Send.
unsafe impl<T: Send> Send for Hchan<T> {}
// SAFETY: as above; &Hchan only gives locked access.
unsafe impl<T: Send> Sync for Hchan<T> {}

/// What a non-blocking attempt under the lock found.
pub(crate) enum Attempt {
    /// Done; ready this G (a parked peer) once the lock is released.
    Done(*mut G),
    /// Cannot proceed now (buffer full / empty, nobody waiting).
    WouldBlock,
    /// The channel is closed (a send must panic; a receive got nothing).
    Closed,
}

impl<T> Hchan<T> {
    fn new(cap: usize) -> Hchan<T> {
        let mut v: Vec<MaybeUninit<T>> = Vec::with_capacity(cap);
        // SAFETY: MaybeUninit needs no initialisation.
        unsafe { v.set_len(cap) };
        let buf = Box::into_raw(v.into_boxed_slice()) as *mut MaybeUninit<T> as *mut u8;
        Hchan {
            st: UnsafeCell::new(HchanState {
                qcount: 0,
                dataqsiz: cap,
                buf,
                elemsize: size_of::<T>(),
                closed: 0,
                sendx: 0,
                recvx: 0,
                recvq: WaitQ::new(),
                sendq: WaitQ::new(),
            }),
            lock: Mutex::new(),
            cap,
            _elem: PhantomData,
        }
    }

    /// The state. Only with `lock` held.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn st(&self) -> &mut HchanState {
        // SAFETY: the caller holds `lock`, so no one else accesses `st`.
        unsafe { &mut *self.st.get() }
    }

    /// Slot `i` of the buffer `st.buf`.
    ///
    /// # Safety
    /// `i < st.dataqsiz`; the lock is held.
    unsafe fn slot(st: &HchanState, i: usize) -> *mut MaybeUninit<T> {
        // SAFETY: i < dataqsiz and buf has dataqsiz slots.
        unsafe { (st.buf as *mut MaybeUninit<T>).add(i) }
    }

    /// The channel's address, its identity (lock order in select).
    pub(crate) fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Tries to send `*ep` without blocking. Lock held. On `Done` the value
    /// was moved out of `ep`; otherwise it is still there.
    ///
    /// Order of checks (Go's chansend): closed → a waiting receiver gets the
    /// value directly → room in the buffer.
    ///
    /// # Safety
    /// The caller holds `self.lock`; `ep` points to an initialised `T` that
    /// the caller owns (moved out only on `Done`).
    pub(crate) unsafe fn try_send_locked(&self, ep: *mut MaybeUninit<T>) -> Attempt {
        // SAFETY: the caller holds the lock; ep points to an initialised value.
        unsafe {
            let st = self.st();
            if st.closed != 0 {
                return Attempt::Closed;
            }
            let sg = st.recvq.dequeue();
            if !sg.is_null() {
                // Direct handoff: recvq non-empty means the buffer is empty.
                ptr::copy_nonoverlapping(ep, (*sg).elem as *mut MaybeUninit<T>, 1);
                (*sg).elem = ptr::null_mut();
                (*sg).success = true;
                return Attempt::Done((*sg).g);
            }
            if st.qcount < st.dataqsiz {
                ptr::copy_nonoverlapping(ep, Self::slot(st, st.sendx), 1);
                st.sendx += 1;
                if st.sendx == st.dataqsiz {
                    st.sendx = 0;
                }
                // Atomic: read by the lock-free fast paths.
                atomic_usize(&raw mut st.qcount).store(st.qcount + 1, Ordering::Release);
                return Attempt::Done(ptr::null_mut());
            }
            Attempt::WouldBlock
        }
    }

    /// Tries to receive into `*ep` without blocking. Lock held. On `Done` an
    /// element was written to `ep`; `Closed` means closed and drained.
    ///
    /// Order (Go's chanrecv/recv): a waiting sender (unbuffered: take its
    /// value; buffered and so full: take the head, put its value at the
    /// tail) → an element in the buffer → closed.
    ///
    /// # Safety
    /// The caller holds `self.lock`; `ep` is valid for a write of one `T`.
    pub(crate) unsafe fn try_recv_locked(&self, ep: *mut MaybeUninit<T>) -> Attempt {
        // SAFETY: the caller holds the lock; ep is writable.
        unsafe {
            let st = self.st();
            let sg = st.sendq.dequeue();
            if !sg.is_null() {
                let src = (*sg).elem as *mut MaybeUninit<T>;
                if st.dataqsiz == 0 {
                    ptr::copy_nonoverlapping(src, ep, 1);
                } else {
                    // The buffer is full: take its head, and the sender's
                    // element takes the freed slot, which is the new tail.
                    let head = Self::slot(st, st.recvx);
                    ptr::copy_nonoverlapping(head, ep, 1);
                    ptr::copy_nonoverlapping(src, head, 1);
                    st.recvx += 1;
                    if st.recvx == st.dataqsiz {
                        st.recvx = 0;
                    }
                    st.sendx = st.recvx;
                }
                (*sg).elem = ptr::null_mut();
                (*sg).success = true;
                return Attempt::Done((*sg).g);
            }
            if st.qcount > 0 {
                ptr::copy_nonoverlapping(Self::slot(st, st.recvx), ep, 1);
                st.recvx += 1;
                if st.recvx == st.dataqsiz {
                    st.recvx = 0;
                }
                atomic_usize(&raw mut st.qcount).store(st.qcount - 1, Ordering::Release);
                return Attempt::Done(ptr::null_mut());
            }
            if st.closed != 0 {
                return Attempt::Closed;
            }
            Attempt::WouldBlock
        }
    }

    /// Go's `full`, read without the lock: a send could not proceed now
    /// (unbuffered: no receiver waits; buffered: the buffer is full). The
    /// answer may be stale by the time it is used; see the fast paths.
    fn full_unlocked(&self) -> bool {
        let st = self.st.get();
        // SAFETY: atomic reads of fields whose writers all store atomically
        // (under the lock); st points into this live channel.
        unsafe {
            if self.cap == 0 {
                WaitQ::first_unlocked(&raw const (*st).recvq).is_null()
            } else {
                atomic_usize(&raw mut (*st).qcount).load(Ordering::SeqCst) == self.cap
            }
        }
    }

    /// Go's `empty`, read without the lock: a receive could not proceed now
    /// from data (unbuffered: no sender waits; buffered: nothing buffered).
    fn empty_unlocked(&self) -> bool {
        let st = self.st.get();
        // SAFETY: as full_unlocked.
        unsafe {
            if self.cap == 0 {
                WaitQ::first_unlocked(&raw const (*st).sendq).is_null()
            } else {
                atomic_usize(&raw mut (*st).qcount).load(Ordering::SeqCst) == 0
            }
        }
    }

    /// `closed`, read without the lock.
    fn closed_unlocked(&self) -> bool {
        // SAFETY: as full_unlocked.
        unsafe { atomic_u32(&raw mut (*self.st.get()).closed).load(Ordering::SeqCst) != 0 }
    }

    /// Sends; blocks if `block`. Returns `WouldBlock` (value still in `ep`)
    /// only when not blocking; `Closed` (value still in `ep`) when the
    /// channel is or becomes closed.
    unsafe fn chansend(&self, ep: *mut MaybeUninit<T>, block: bool) -> Attempt {
        // Preemption safe point (sysmon.rs): no lock held yet.
        crate::sysmon::preempt_check();
        // Fast path (Go's chansend): a failing non-blocking send without the
        // lock. We observe "not closed", then "full". A channel never goes
        // from closed back to open, so it was not closed at the moment we
        // saw it full: reporting "would block" is linearisable at that
        // moment. (A closed channel falls through and panics under the lock.)
        if !block && !self.closed_unlocked() && self.full_unlocked() {
            return Attempt::WouldBlock;
        }
        // SAFETY: ep is valid for the whole call (the caller's stack).
        unsafe {
            self.lock.lock();
            let attempt = self.try_send_locked(ep);
            let sendq = &raw mut self.st().sendq;
            self.finish_or_park(attempt, block, ep as *mut u8, sendq, WaitReason::ChanSend)
        }
    }

    /// Receives into `ep`; blocks if `block`.
    unsafe fn chanrecv(&self, ep: *mut MaybeUninit<T>, block: bool) -> Attempt {
        // Preemption safe point (sysmon.rs): no lock held yet.
        crate::sysmon::preempt_check();
        // Fast path (Go's chanrecv): a non-blocking receive from an empty
        // channel without the lock. Seen empty, then not closed: it was
        // empty and open at the moment of the first load (closing is
        // permanent), so "would block" is linearisable there. Seen empty,
        // closed, and empty again: closed and drained (a closed channel
        // gains no data), so "closed" is linearisable at the second check.
        if !block && self.empty_unlocked() {
            if !self.closed_unlocked() {
                return Attempt::WouldBlock;
            }
            if self.empty_unlocked() {
                return Attempt::Closed;
            }
        }
        // SAFETY: ep is valid for the whole call (the caller's stack).
        unsafe {
            self.lock.lock();
            let attempt = self.try_recv_locked(ep);
            let recvq = &raw mut self.st().recvq;
            self.finish_or_park(
                attempt,
                block,
                ep as *mut u8,
                recvq,
                WaitReason::ChanReceive,
            )
        }
    }

    /// The locked half shared by `chansend` and `chanrecv`. Called with
    /// `self.lock` held and the `attempt` made under it: a completed or
    /// failed attempt unlocks (and readies the partner it completed with);
    /// one that would block, when `block`, queues a sudog for `ep` on
    /// `queue` and parks. `goparkunlock` releases the lock only after the
    /// G's context is saved, so a partner that dequeues the sudog and calls
    /// `goready` at once cannot lose the wake-up. The partner fills in
    /// `sg.success` before readying us: true when it completed the
    /// exchange, false when `close` woke us.
    ///
    /// # Safety
    /// `self.lock` is held; `ep` and `queue` are valid for the whole call.
    unsafe fn finish_or_park(
        &self,
        attempt: Attempt,
        block: bool,
        ep: *mut u8,
        queue: *mut WaitQ,
        reason: WaitReason,
    ) -> Attempt {
        match attempt {
            Attempt::Done(gp) => {
                self.lock.unlock();
                if !gp.is_null() {
                    goready(gp);
                }
                return Attempt::Done(ptr::null_mut());
            }
            Attempt::Closed => {
                self.lock.unlock();
                return Attempt::Closed;
            }
            Attempt::WouldBlock if !block => {
                self.lock.unlock();
                return Attempt::WouldBlock;
            }
            Attempt::WouldBlock => {}
        }
        // SAFETY: the lock is held while the sudog is queued; the sudog lives
        // on this G's stack, which stays put until the partner readies us.
        unsafe {
            let gp = getg();
            let mut sg = Sudog::new(gp, ep, self.addr() as *const u8);
            (*queue).enqueue(&mut sg);
            (*gp).waiting = &raw mut sg as *mut u8;
            goparkunlock(&self.lock, reason);
            (*gp).waiting = ptr::null_mut();
            if sg.success {
                Attempt::Done(ptr::null_mut())
            } else {
                Attempt::Closed
            }
        }
    }

    /// Go's closechan: marks the channel closed and wakes every waiter
    /// (receivers get "closed", senders will panic). Returns false if it was
    /// already closed.
    fn closechan(&self) -> bool {
        self.lock.lock();
        // SAFETY: lock held; queued sudogs are valid (their Gs are parked).
        unsafe {
            let st = self.st();
            if st.closed != 0 {
                self.lock.unlock();
                return false;
            }
            atomic_u32(&raw mut st.closed).store(1, Ordering::SeqCst);
            // Collect every waiter into a private list linked through
            // `next` (a dequeued sudog is in no queue, so the field is free),
            // then ready them after unlocking, as Go does with a gList.
            let mut list: *mut Sudog = ptr::null_mut();
            for q in [&raw mut st.recvq, &raw mut st.sendq] {
                loop {
                    let sg = (*q).dequeue();
                    if sg.is_null() {
                        break;
                    }
                    (*sg).elem = ptr::null_mut();
                    (*sg).success = false;
                    (*sg).next = list;
                    list = sg;
                }
            }
            self.lock.unlock();
            while !list.is_null() {
                // Read the link before readying: once ready, the G may run
                // and its stack (this sudog) may change.
                let next = (*list).next;
                goready((*list).g);
                list = next;
            }
        }
        true
    }
}

impl<T> Drop for Hchan<T> {
    fn drop(&mut self) {
        let st = self.st.get_mut();
        // The last handle is gone, so no goroutine waits here (a waiter holds
        // a handle); drop the elements still buffered, then the buffer.
        // SAFETY: the live slots are qcount slots from recvx; buf came from a
        // boxed slice of dataqsiz MaybeUninit<T>.
        unsafe {
            let base = st.buf as *mut MaybeUninit<T>;
            for k in 0..st.qcount {
                let i = (st.recvx + k) % st.dataqsiz;
                (*base.add(i)).assume_init_drop();
            }
            drop(Box::from_raw(ptr::slice_from_raw_parts_mut(
                base,
                st.dataqsiz,
            )));
        }
    }
}

/// A channel: a cloneable handle, like Go's `chan T` value. Every clone
/// refers to the same channel.
///
/// ```
/// # #![no_main]
/// # #[runtime::main]
/// # fn main() {
/// let c = runtime::chan::channel::<i32>(0);
/// let c2 = c.clone();
/// runtime::go(move || c2.send(42));
/// assert_eq!(c.recv(), Some(42));
/// # }
/// ```
pub struct Chan<T> {
    h: Arc<Hchan<T>>,
}

impl<T> Clone for Chan<T> {
    fn clone(&self) -> Self {
        Chan { h: self.h.clone() }
    }
}

/// A channel handle that does not keep the channel alive: a timer's own
/// reference to its channel (time.rs), so that a timer nobody can receive
/// from any more stops sending.
pub(crate) struct WeakChan<T> {
    h: std::sync::Weak<Hchan<T>>,
}

impl<T> WeakChan<T> {
    /// The channel, if some handle still refers to it.
    pub(crate) fn upgrade(&self) -> Option<Chan<T>> {
        self.h.upgrade().map(|h| Chan { h })
    }
}

impl<T> Chan<T> {
    /// A weak handle to this channel.
    pub(crate) fn downgrade(&self) -> WeakChan<T> {
        WeakChan {
            h: Arc::downgrade(&self.h),
        }
    }
}

impl<T> core::fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Chan({:#x})", self.h.addr())
    }
}

impl<T> PartialEq for Chan<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.h, &other.h)
    }
}

impl<T> Eq for Chan<T> {}

/// Creates a channel with room for `cap` buffered elements (`make(chan T,
/// cap)`); `cap == 0` is unbuffered (every send waits for its receiver).
pub fn channel<T: Send>(cap: usize) -> Chan<T> {
    Chan {
        h: Arc::new(Hchan::new(cap)),
    }
}

/// Why [`Chan::try_recv`] got nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing buffered and no sender waiting.
    Empty,
    /// Closed and drained.
    Closed,
}

impl<T: Send> Chan<T> {
    /// The channel object (for select).
    pub(crate) fn hchan(&self) -> &Hchan<T> {
        &self.h
    }

    /// Sends `v` (`c <- v`), blocking until a receiver takes it or it fits
    /// in the buffer. Panics with "send on closed channel" if the channel
    /// is closed, or closed while we wait.
    pub fn send(&self, v: T) {
        let mut slot = MaybeUninit::new(v);
        // SAFETY: slot lives on this frame across the (possibly parked) call.
        match unsafe { self.h.chansend(&mut slot, true) } {
            Attempt::Done(_) => {}
            Attempt::Closed => {
                // SAFETY: not consumed: the value is still ours.
                unsafe { slot.assume_init_drop() };
                panic!("send on closed channel");
            }
            Attempt::WouldBlock => unreachable!("a blocking send returned WouldBlock"),
        }
    }

    /// Sends without blocking (`select { case c <- v: default: }`): `Err(v)`
    /// gives the value back when no receiver waits and the buffer is full.
    /// Panics if the channel is closed, as Go's select does.
    pub fn try_send(&self, v: T) -> Result<(), T> {
        let mut slot = MaybeUninit::new(v);
        // SAFETY: slot lives on this frame.
        match unsafe { self.h.chansend(&mut slot, false) } {
            Attempt::Done(_) => Ok(()),
            // SAFETY: not consumed: the value is still ours.
            Attempt::WouldBlock => Err(unsafe { slot.assume_init() }),
            Attempt::Closed => {
                // SAFETY: not consumed.
                unsafe { slot.assume_init_drop() };
                panic!("send on closed channel");
            }
        }
    }

    /// Receives (`v, ok := <-c`): blocks until a value arrives; `None` once
    /// the channel is closed and every buffered value was received.
    pub fn recv(&self) -> Option<T> {
        let mut slot = MaybeUninit::<T>::uninit();
        // SAFETY: slot lives on this frame across the (possibly parked) call.
        match unsafe { self.h.chanrecv(&mut slot, true) } {
            // SAFETY: Done means a value was moved into slot.
            Attempt::Done(_) => Some(unsafe { slot.assume_init() }),
            Attempt::Closed => None,
            Attempt::WouldBlock => unreachable!("a blocking receive returned WouldBlock"),
        }
    }

    /// Receives without blocking.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut slot = MaybeUninit::<T>::uninit();
        // SAFETY: slot lives on this frame.
        match unsafe { self.h.chanrecv(&mut slot, false) } {
            // SAFETY: Done means a value was moved into slot.
            Attempt::Done(_) => Ok(unsafe { slot.assume_init() }),
            Attempt::Closed => Err(TryRecvError::Closed),
            Attempt::WouldBlock => Err(TryRecvError::Empty),
        }
    }

    /// Closes the channel (`close(c)`): waiting and later receivers drain
    /// the buffer and then get `None`; waiting senders panic. Panics with
    /// "close of closed channel" if already closed.
    pub fn close(&self) {
        if !self.h.closechan() {
            panic!("close of closed channel");
        }
    }

    /// Elements buffered now (`len(c)`).
    pub fn len(&self) -> usize {
        self.h.lock.lock();
        // SAFETY: lock held.
        let n = unsafe { self.h.st().qcount };
        self.h.lock.unlock();
        n
    }

    /// Whether nothing is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Buffer capacity (`cap(c)`).
    pub fn cap(&self) -> usize {
        self.h.cap
    }

    /// Whether the channel was closed (buffered values may remain).
    pub fn is_closed(&self) -> bool {
        self.h.lock.lock();
        // SAFETY: lock held.
        let c = unsafe { self.h.st().closed != 0 };
        self.h.lock.unlock();
        c
    }

    /// A send-only handle to this channel (Go's implicit `chan T` to
    /// `chan<- T`); the same as `Sender::from(c.clone())`.
    pub fn sender(&self) -> Sender<T> {
        Sender(self.clone())
    }

    /// A receive-only handle to this channel (`chan T` to `<-chan T`).
    pub fn receiver(&self) -> Receiver<T> {
        Receiver(self.clone())
    }

    /// An iterator that receives until the channel is closed and drained
    /// (`for v := range c`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { c: self }
    }
}

/// A send-only handle to a channel (Go's `chan<- T`): it sends and closes,
/// and does not receive. Made from a [`Chan`] by [`Chan::sender`] or
/// `From`/`into()` (Go converts `chan T` to `chan<- T` implicitly), so a
/// function can take the direction it needs and misuse does not compile:
///
/// ```compile_fail,E0599
/// fn drain(results: runtime::chan::Sender<u32>) -> Option<u32> {
///     results.recv() // Go: "invalid operation: cannot receive from send-only channel"
/// }
/// ```
pub struct Sender<T>(Chan<T>);

/// A receive-only handle to a channel (Go's `<-chan T`): it receives, and
/// neither sends nor closes (closing is the sender's business, as in Go).
/// Made from a [`Chan`] by [`Chan::receiver`] or `From`/`into()`:
///
/// ```compile_fail,E0599
/// fn produce(jobs: runtime::chan::Receiver<u32>) {
///     jobs.send(1); // Go: "invalid operation: cannot send to receive-only channel"
/// }
/// ```
///
/// ```compile_fail,E0599
/// fn stop(jobs: runtime::chan::Receiver<u32>) {
///     jobs.close(); // Go: "invalid operation: cannot close receive-only channel"
/// }
/// ```
pub struct Receiver<T>(Chan<T>);

impl<T> From<Chan<T>> for Sender<T> {
    fn from(c: Chan<T>) -> Self {
        Sender(c)
    }
}

impl<T> From<Chan<T>> for Receiver<T> {
    fn from(c: Chan<T>) -> Self {
        Receiver(c)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender(self.0.clone())
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver(self.0.clone())
    }
}

impl<T> core::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Sender({:#x})", self.0.h.addr())
    }
}

impl<T> core::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Receiver({:#x})", self.0.h.addr())
    }
}

impl<T> PartialEq for Sender<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<T> Eq for Sender<T> {}

impl<T> PartialEq for Receiver<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<T> Eq for Receiver<T> {}

impl<T: Send> Sender<T> {
    /// The channel object (for select).
    pub(crate) fn hchan(&self) -> &Hchan<T> {
        self.0.hchan()
    }

    /// [`Chan::send`].
    pub fn send(&self, v: T) {
        self.0.send(v)
    }

    /// [`Chan::try_send`].
    pub fn try_send(&self, v: T) -> Result<(), T> {
        self.0.try_send(v)
    }

    /// [`Chan::close`].
    pub fn close(&self) {
        self.0.close()
    }

    /// [`Chan::len`].
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// [`Chan::is_empty`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// [`Chan::cap`].
    pub fn cap(&self) -> usize {
        self.0.cap()
    }
}

impl<T: Send> Receiver<T> {
    /// The channel object (for select).
    pub(crate) fn hchan(&self) -> &Hchan<T> {
        self.0.hchan()
    }

    /// [`Chan::recv`].
    pub fn recv(&self) -> Option<T> {
        self.0.recv()
    }

    /// [`Chan::try_recv`].
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.0.try_recv()
    }

    /// [`Chan::len`].
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// [`Chan::is_empty`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// [`Chan::cap`].
    pub fn cap(&self) -> usize {
        self.0.cap()
    }

    /// [`Chan::is_closed`].
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// [`Chan::iter`] (`for v := range c`).
    pub fn iter(&self) -> Iter<'_, T> {
        self.0.iter()
    }
}

impl<'a, T: Send> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Receives until closed; see [`Chan::iter`].
pub struct Iter<'a, T> {
    c: &'a Chan<T>,
}

impl<T: Send> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.c.recv()
    }
}

impl<'a, T: Send> IntoIterator for &'a Chan<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> Sudog {
        Sudog::new(ptr::null_mut(), ptr::null_mut(), ptr::null())
    }

    #[test]
    fn waitq_fifo_and_remove() {
        let mut q = WaitQ::new();
        let (mut a, mut b, mut c) = (rec(), rec(), rec());
        // SAFETY: the records outlive the queue operations.
        unsafe {
            q.enqueue(&mut a);
            q.enqueue(&mut b);
            q.enqueue(&mut c);
            q.remove(&mut b);
            // Removing again is a no-op.
            q.remove(&mut b);
            assert_eq!(q.dequeue(), &raw mut a);
            assert_eq!(q.dequeue(), &raw mut c);
            assert!(q.dequeue().is_null());
            assert!(q.is_empty());
            q.enqueue(&mut a);
            q.remove(&mut a);
            assert!(q.is_empty());
            q.enqueue(&mut a);
            q.push_front(&mut b);
            q.enqueue(&mut c);
            q.remove(&mut c);
            assert_eq!(q.last, &raw mut a);
            assert_eq!(q.dequeue(), &raw mut b);
            assert_eq!(q.dequeue(), &raw mut a);
            assert!(q.is_empty());
        }
    }

    #[test]
    fn waitq_skips_select_records_already_won() {
        let mut g1 = G::zeroed();
        let mut g2 = G::zeroed();
        g1.selectdone = 1; // g1's select was already won elsewhere
        let mut a = Sudog::new(&mut g1, ptr::null_mut(), ptr::null());
        a.is_select = true;
        let mut b = Sudog::new(&mut g2, ptr::null_mut(), ptr::null());
        b.is_select = true;
        let mut q = WaitQ::new();
        // SAFETY: the records and Gs outlive the queue operations.
        unsafe {
            q.enqueue(&mut a);
            q.enqueue(&mut b);
            assert_eq!(q.dequeue(), &raw mut b);
        }
        assert_eq!(g2.selectdone, 1);
        assert_eq!(g2.param, &raw mut b as *mut u8);
        assert!(q.is_empty());
    }

    #[test]
    fn nonblocking_fast_paths() {
        // No goroutine needed: nothing here parks or readies anyone.
        let c = channel::<u32>(1);
        assert_eq!(c.try_recv(), Err(TryRecvError::Empty)); // empty: lock-free
        assert_eq!(c.try_send(1), Ok(()));
        assert_eq!(c.try_send(2), Err(2)); // full: lock-free
        assert_eq!((c.len(), c.cap()), (1, 1));
        assert_eq!(c.try_recv(), Ok(1));
        assert_eq!(c.try_send(3), Ok(()));
        c.close();
        assert!(c.is_closed());
        assert_eq!(c.try_recv(), Ok(3)); // buffered data survives close
        assert_eq!(c.try_recv(), Err(TryRecvError::Closed)); // closed + drained: lock-free
        let u = channel::<String>(0);
        assert_eq!(u.try_send("x".into()), Err("x".to_string())); // no receiver
        assert_eq!(u.try_recv(), Err(TryRecvError::Empty)); // no sender
        u.close();
        assert_eq!(u.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(u.recv(), None); // closed: never blocks
    }

    #[test]
    #[should_panic(expected = "send on closed channel")]
    fn try_send_on_closed_panics() {
        let c = channel::<u8>(4);
        c.close();
        let _ = c.try_send(1);
    }

    #[test]
    fn buffer_ring_without_waiters() {
        // Exercise the lock-held paths directly (no goroutines: nothing
        // parks because nothing would block).
        let h: Hchan<String> = Hchan::new(2);
        let send = |s: &str| {
            let mut v = MaybeUninit::new(s.to_string());
            h.lock.lock();
            // SAFETY: lock held, v initialised.
            let r = unsafe { h.try_send_locked(&mut v) };
            h.lock.unlock();
            match r {
                Attempt::Done(g) => {
                    assert!(g.is_null());
                    true
                }
                Attempt::WouldBlock => {
                    // SAFETY: not consumed.
                    unsafe { v.assume_init_drop() };
                    false
                }
                Attempt::Closed => panic!("closed"),
            }
        };
        let recv = || {
            let mut v = MaybeUninit::<String>::uninit();
            h.lock.lock();
            // SAFETY: lock held.
            let r = unsafe { h.try_recv_locked(&mut v) };
            h.lock.unlock();
            match r {
                // SAFETY: Done wrote the value.
                Attempt::Done(_) => Some(unsafe { v.assume_init() }),
                _ => None,
            }
        };
        for round in 0..5 {
            assert!(send(&format!("a{round}")));
            assert!(send(&format!("b{round}")));
            assert!(!send("overflow"));
            assert_eq!(recv().as_deref(), Some(format!("a{round}").as_str()));
            assert_eq!(recv().as_deref(), Some(format!("b{round}").as_str()));
            assert_eq!(recv(), None);
        }
        assert!(send("left in the buffer"));
        assert!(h.closechan());
        assert!(!h.closechan());
        assert_eq!(recv().as_deref(), Some("left in the buffer"));
        let mut v = MaybeUninit::new(String::from("after close"));
        h.lock.lock();
        // SAFETY: lock held, v initialised.
        let closed = matches!(unsafe { h.try_send_locked(&mut v) }, Attempt::Closed);
        h.lock.unlock();
        assert!(closed);
        // SAFETY: not consumed.
        unsafe { v.assume_init_drop() };
        let mut r = MaybeUninit::<String>::uninit();
        h.lock.lock();
        // SAFETY: lock held.
        let drained = matches!(unsafe { h.try_recv_locked(&mut r) }, Attempt::Closed);
        h.lock.unlock();
        assert!(drained);
    }
}
