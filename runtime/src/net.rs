//! Goroutine-friendly sockets on the netpoller: [`TcpListener`],
//! [`TcpStream`], [`UdpSocket`] (Go's net package over internal/poll).
//!
//! # Design
//!
//! Every socket is created non-blocking and registered with the poller
//! (netpoll.rs). An operation tries the system call; on `EAGAIN` the
//! goroutine parks on the poller ("IO wait") and retries when the
//! descriptor is ready - the thread runs other goroutines meanwhile. So
//! 1,000 connections need 1,000 cheap goroutines, not 1,000 threads.
//!
//! Deadlines (Go's `SetReadDeadline`) are absolute; timeouts (std's
//! `set_read_timeout`) apply afresh to each operation; when both are set the
//! earlier wins. An operation past its deadline fails with
//! `io::ErrorKind::TimedOut`. The `*_context` operations also honour a
//! [`Context`]: its deadline counts as one more deadline, and its cancel
//! wakes the parked goroutine at once (a hook on the context); either way
//! the error's inner error is the [`ContextError`] (kind `TimedOut` for
//! the deadline, `Other` for a cancel).
//!
//! Rules: at most one goroutine reads and one writes a socket at a time
//! (share it with `Arc` to read in one goroutine and write in another);
//! writes use `MSG_NOSIGNAL`, so a peer that reset the connection gives
//! `EPIPE`/`ECONNRESET` errors, never a SIGPIPE. Name resolution of host
//! names (`getaddrinfo`) blocks, so it runs inside [`crate::syscall()`].
//!
//! # State words
//!
//! `NetFd.rdeadline/wdeadline` (nanotime, 0 = none) and
//! `NetFd.rtimeout/wtimeout` (ns, 0 = none) are atomics so they can be set
//! from another goroutine while one is blocked. A new deadline applies to
//! a pending operation too, as Go's `SetDeadline`: the setter stores it,
//! then wakes the goroutine parked in that direction (if any), which
//! re-reads it; the parking goroutine announces itself in its poll slot
//! before it reads the deadline (netpoll.rs), both `SeqCst`, so one of the
//! two sees the other. A timeout is read once, when the operation starts.

use core::sync::atomic::{AtomicI64, Ordering};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::context::{Context, ContextError};
use crate::netpoll::{self, Mode, PollDesc};
use crate::time::nanotime;

fn cvt_i(r: i32) -> io::Result<i32> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn to_sockaddr(a: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; zero is a valid value.
    let mut st: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and aligned for it.
            unsafe { core::ptr::write((&raw mut st).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above.
            unsafe { core::ptr::write((&raw mut st).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (st, len as libc::socklen_t)
}

fn from_sockaddr(st: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match st.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the kernel filled a sockaddr_in.
            let sin: libc::sockaddr_in =
                unsafe { core::ptr::read((st as *const libc::sockaddr_storage).cast()) };
            Ok(SocketAddr::new(
                std::net::IpAddr::V4(sin.sin_addr.s_addr.to_ne_bytes().into()),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel filled a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { core::ptr::read((st as *const libc::sockaddr_storage).cast()) };
            Ok(SocketAddr::V6(std::net::SocketAddrV6::new(
                sin6.sin6_addr.s6_addr.into(),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unsupported address family",
        )),
    }
}

fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    // getaddrinfo may block on DNS: lend the P meanwhile.
    let v: Vec<SocketAddr> = crate::syscall::syscall(|| addr.to_socket_addrs())?.collect();
    if v.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no addresses to use",
        ));
    }
    Ok(v)
}

fn deadline_from(d: Option<Instant>) -> i64 {
    match d {
        None => 0,
        Some(t) => {
            let now = Instant::now();
            if t <= now {
                nanotime().max(1)
            } else {
                nanotime()
                    .saturating_add(i64::try_from((t - now).as_nanos()).unwrap_or(i64::MAX / 4))
            }
        }
    }
}

fn timeout_ns(d: Option<Duration>) -> io::Result<i64> {
    match d {
        None => Ok(0),
        Some(d) if d.is_zero() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        )),
        Some(d) => Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX / 4)),
    }
}

/// A non-blocking socket registered with the poller.
struct NetFd {
    fd: i32,
    pd: *mut PollDesc,
    rdeadline: AtomicI64,
    wdeadline: AtomicI64,
    rtimeout: AtomicI64,
    wtimeout: AtomicI64,
}

// SAFETY: the descriptor and its PollDesc are safe to use from any thread;
// the poll state is atomic.
unsafe impl Send for NetFd {}
// SAFETY: as above.
unsafe impl Sync for NetFd {}

impl NetFd {
    fn socket(family: i32, ty: i32) -> io::Result<NetFd> {
        // SAFETY: creates a new descriptor.
        let fd = cvt_i(unsafe {
            libc::socket(family, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
        })?;
        NetFd::new(fd)
    }

    fn new(fd: i32) -> io::Result<NetFd> {
        match netpoll::open(fd) {
            Ok(pd) => Ok(NetFd {
                fd,
                pd,
                rdeadline: AtomicI64::new(0),
                wdeadline: AtomicI64::new(0),
                rtimeout: AtomicI64::new(0),
                wtimeout: AtomicI64::new(0),
            }),
            Err(e) => {
                // SAFETY: fd is ours.
                unsafe { libc::close(fd) };
                Err(e)
            }
        }
    }

    fn slots(&self, mode: Mode) -> (&AtomicI64, &AtomicI64) {
        match mode {
            Mode::Read => (&self.rdeadline, &self.rtimeout),
            Mode::Write => (&self.wdeadline, &self.wtimeout),
        }
    }

    /// The deadline that the timeout gives an operation starting now
    /// (nanotime, 0 = none).
    fn timeout_deadline(&self, mode: Mode) -> i64 {
        match self.slots(mode).1.load(Ordering::Relaxed) {
            0 => 0,
            t => nanotime().saturating_add(t),
        }
    }

    /// A timeout for each operation in `mode` from now on (None = none);
    /// zero is refused, as std does.
    fn set_timeout(&self, mode: Mode, d: Option<Duration>) -> io::Result<()> {
        self.slots(mode).1.store(timeout_ns(d)?, Ordering::Relaxed);
        Ok(())
    }

    /// An absolute deadline for operations in `mode` (None = none), pending
    /// ones included: a goroutine parked in `mode` is woken to re-check.
    fn set_deadline(&self, mode: Mode, d: Option<Instant>) {
        self.slots(mode).0.store(deadline_from(d), Ordering::SeqCst);
        netpoll::wake(self.pd, mode);
    }

    /// Run `f` until it does not return EAGAIN, parking on the poller in
    /// between. `f` returns the raw syscall result (-1 + errno on error).
    fn io(
        &self,
        mode: Mode,
        ctx: Option<&Context>,
        mut f: impl FnMut() -> isize,
    ) -> io::Result<usize> {
        crate::sysmon::preempt_check();
        let op = Op::new(self, mode, ctx);
        loop {
            op.check()?;
            let r = f();
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => {}
                _ => return Err(e),
            }
            // SAFETY: pd is live while self is.
            if unsafe { (*self.pd).closing.load(Ordering::Acquire) } {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "use of closed network connection",
                ));
            }
            op.wait();
        }
    }

    fn setsockopt<T>(&self, level: i32, name: i32, v: T) -> io::Result<()> {
        // SAFETY: v lives for the call; its size is passed.
        cvt_i(unsafe {
            libc::setsockopt(
                self.fd,
                level,
                name,
                (&raw const v).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    fn name(&self, peer: bool) -> io::Result<SocketAddr> {
        // SAFETY: plain data, filled by the kernel.
        let mut st: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: st/len are valid out-parameters.
        let r = unsafe {
            if peer {
                libc::getpeername(self.fd, (&raw mut st).cast(), &mut len)
            } else {
                libc::getsockname(self.fd, (&raw mut st).cast(), &mut len)
            }
        };
        cvt_i(r)?;
        from_sockaddr(&st)
    }

    fn bind(&self, a: &SocketAddr) -> io::Result<()> {
        let (st, len) = to_sockaddr(a);
        // SAFETY: st holds a valid address of length len.
        cvt_i(unsafe { libc::bind(self.fd, (&raw const st).cast(), len) }).map(|_| ())
    }

    fn connect(&self, a: &SocketAddr, ctx: Option<&Context>) -> io::Result<()> {
        let (st, len) = to_sockaddr(a);
        // SAFETY: as bind.
        let r = unsafe { libc::connect(self.fd, (&raw const st).cast(), len) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let op = Op::new(self, Mode::Write, ctx);
        loop {
            let mut err: i32 = 0;
            let mut l = size_of::<i32>() as libc::socklen_t;
            // SAFETY: err/l are valid out-parameters.
            cvt_i(unsafe {
                libc::getsockopt(
                    self.fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&raw mut err).cast(),
                    &mut l,
                )
            })?;
            match err {
                0 => {
                    // Writable without error and connected?
                    if self.name(true).is_ok() {
                        return Ok(());
                    }
                }
                libc::EINPROGRESS | libc::EALREADY | libc::EINTR => {}
                e => return Err(io::Error::from_raw_os_error(e)),
            }
            op.check()?;
            op.wait();
        }
    }
}

/// One blocking operation's limits: the descriptor's deadline or timeout
/// for its direction, and a context's deadline and cancellation (a hook on
/// the context wakes the parked goroutine; removed when the operation ends).
struct Op<'a> {
    fd: &'a NetFd,
    mode: Mode,
    ctx: Option<&'a Context>,
    /// From the descriptor's timeout at the start (0 = none).
    timeout_deadline: i64,
    /// The context's deadline (0 = none).
    ctx_deadline: i64,
    hook: Option<u64>,
}

/// The earliest of some deadlines, 0 meaning none.
fn earliest(deadlines: [i64; 3]) -> i64 {
    deadlines.into_iter().filter(|&d| d != 0).min().unwrap_or(0)
}

impl<'a> Op<'a> {
    fn new(fd: &'a NetFd, mode: Mode, ctx: Option<&'a Context>) -> Op<'a> {
        let pd = fd.pd as usize;
        let hook =
            ctx.and_then(|c| c.on_done(Box::new(move || netpoll::wake(pd as *mut PollDesc, mode))));
        Op {
            fd,
            mode,
            ctx,
            timeout_deadline: fd.timeout_deadline(mode),
            ctx_deadline: deadline_from(ctx.and_then(Context::deadline)),
            hook,
        }
    }

    /// The deadline now: the descriptor's (re-read: it may be set while we
    /// wait), the timeout's, the context's; 0 = none.
    fn deadline(&self) -> i64 {
        let own = self.fd.slots(self.mode).0.load(Ordering::SeqCst);
        earliest([own, self.timeout_deadline, self.ctx_deadline])
    }

    /// The error that ends the operation now: its context is done or a
    /// deadline passed.
    fn check(&self) -> io::Result<()> {
        if let Some(e) = self.ctx.and_then(Context::err) {
            return Err(context_error(e));
        }
        let deadline = self.deadline();
        if deadline != 0 && nanotime() >= deadline {
            if deadline == self.ctx_deadline {
                return Err(context_error(ContextError::DeadlineExceeded));
            }
            return Err(io::Error::new(io::ErrorKind::TimedOut, "i/o timeout"));
        }
        Ok(())
    }

    /// Park until the descriptor may be ready, a deadline passes, a new
    /// deadline is set or the context is done.
    fn wait(&self) {
        // What `wait` re-checks once it has announced itself: the deadline
        // to sleep until, or None when the operation must end now.
        let limit = || self.check().ok().map(|()| self.deadline());
        // SAFETY: pd is live while fd is; one waiter per direction is the
        // documented rule of this module.
        unsafe { netpoll::wait(self.fd.pd, self.mode, &limit) };
    }
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.ctx {
            c.remove_hook(self.hook);
        }
    }
}

/// The `io::Error` of an operation whose context is done: `TimedOut` for
/// a deadline, `Other` for a cancel; the inner error is the [`ContextError`].
fn context_error(e: ContextError) -> io::Error {
    let kind = match e {
        ContextError::DeadlineExceeded => io::ErrorKind::TimedOut,
        ContextError::Canceled => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl Drop for NetFd {
    fn drop(&mut self) {
        // SAFETY: pd came from netpoll::open and self is going away.
        unsafe { netpoll::close(self.pd) };
        // SAFETY: the descriptor is ours and no longer registered.
        unsafe { libc::close(self.fd) };
    }
}

fn family(a: &SocketAddr) -> i32 {
    if a.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    }
}

/// A TCP listening socket whose `accept` parks the goroutine.
pub struct TcpListener {
    fd: NetFd,
}

impl TcpListener {
    /// Bind and listen (backlog 4096, `SO_REUSEADDR`). Port 0 picks a free port.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let mut last = None;
        for a in resolve(addr)? {
            let r = (|| {
                let fd = NetFd::socket(family(&a), libc::SOCK_STREAM)?;
                fd.setsockopt(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1i32)?;
                fd.bind(&a)?;
                // SAFETY: listen on our socket.
                cvt_i(unsafe { libc::listen(fd.fd, 4096) })?;
                Ok(TcpListener { fd })
            })();
            match r {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("bind failed")))
    }

    /// Wait for a connection (parks the goroutine while none is pending).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_with(None)
    }

    /// [`Self::accept`] that gives up when `ctx` is done (the error's inner
    /// error is the [`ContextError`]).
    pub fn accept_context(&self, ctx: &Context) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_with(Some(ctx))
    }

    fn accept_with(&self, ctx: Option<&Context>) -> io::Result<(TcpStream, SocketAddr)> {
        // SAFETY: plain data, filled by accept4.
        let mut st: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
        let fd = self.fd.io(Mode::Read, ctx, || {
            let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: st/len are valid out-parameters.
            unsafe {
                libc::accept4(
                    self.fd.fd,
                    (&raw mut st).cast(),
                    &mut len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                ) as isize
            }
        })?;
        let addr = from_sockaddr(&st)?;
        Ok((
            TcpStream {
                fd: NetFd::new(fd as i32)?,
            },
            addr,
        ))
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.name(false)
    }

    /// Deadline for `accept` (None = none).
    pub fn set_deadline(&self, d: Option<Instant>) {
        self.fd.set_deadline(Mode::Read, d);
    }
}

/// A TCP connection whose reads and writes park the goroutine.
pub struct TcpStream {
    fd: NetFd,
}

impl TcpStream {
    /// Connect (parks while the handshake is in progress).
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        Self::connect_with(addr, None, None)
    }

    /// Connect, giving up after `timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        Self::connect_with(addr, Some(timeout), None)
    }

    /// Connect, giving up when `ctx` is done (Go's `DialContext`; the
    /// error's inner error is the [`ContextError`]).
    pub fn connect_context<A: ToSocketAddrs>(ctx: &Context, addr: A) -> io::Result<TcpStream> {
        Self::connect_with(addr, None, Some(ctx))
    }

    fn connect_with<A: ToSocketAddrs>(
        addr: A,
        timeout: Option<Duration>,
        ctx: Option<&Context>,
    ) -> io::Result<TcpStream> {
        // A loopback connect completes without waiting: look first (Go's
        // DialContext does too).
        if let Some(e) = ctx.and_then(Context::err) {
            return Err(context_error(e));
        }
        let mut last = None;
        for a in resolve(addr)? {
            let r = (|| {
                let fd = NetFd::socket(family(&a), libc::SOCK_STREAM)?;
                if timeout.is_some() {
                    fd.set_timeout(Mode::Write, timeout)?;
                }
                fd.connect(&a, ctx)?;
                fd.set_timeout(Mode::Write, None)?;
                Ok(TcpStream { fd })
            })();
            match r {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("connect failed")))
    }

    /// Read some bytes (0 = the peer closed its side).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(buf, None)
    }

    /// [`Self::read`] that gives up when `ctx` is done.
    pub fn read_context(&self, ctx: &Context, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(buf, Some(ctx))
    }

    fn read_with(&self, buf: &mut [u8], ctx: Option<&Context>) -> io::Result<usize> {
        let fd = self.fd.fd;
        self.fd.io(Mode::Read, ctx, || {
            // SAFETY: buf is a valid writable buffer.
            unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
        })
    }

    /// Write some bytes (never raises SIGPIPE).
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_with(buf, None)
    }

    /// [`Self::write`] that gives up when `ctx` is done.
    pub fn write_context(&self, ctx: &Context, buf: &[u8]) -> io::Result<usize> {
        self.write_with(buf, Some(ctx))
    }

    fn write_with(&self, buf: &[u8], ctx: Option<&Context>) -> io::Result<usize> {
        let fd = self.fd.fd;
        self.fd.io(Mode::Write, ctx, || {
            // SAFETY: buf is a valid readable buffer.
            unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) }
        })
    }

    /// Write all of `buf`.
    pub fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Fill all of `buf`.
    pub fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Shut down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let h = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: shutdown of our socket.
        cvt_i(unsafe { libc::shutdown(self.fd.fd, h) }).map(|_| ())
    }

    /// `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.fd
            .setsockopt(libc::IPPROTO_TCP, libc::TCP_NODELAY, on as i32)
    }

    /// `SO_LINGER`: `Some(ZERO)` makes close send a reset.
    pub fn set_linger(&self, d: Option<Duration>) -> io::Result<()> {
        let l = libc::linger {
            l_onoff: d.is_some() as i32,
            l_linger: d.map_or(0, |d| d.as_secs() as i32),
        };
        self.fd.setsockopt(libc::SOL_SOCKET, libc::SO_LINGER, l)
    }

    /// Per-read timeout (None = none).
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.fd.set_timeout(Mode::Read, d)
    }

    /// Per-write timeout (None = none).
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.fd.set_timeout(Mode::Write, d)
    }

    /// Absolute read deadline (Go's SetReadDeadline; None = none).
    pub fn set_read_deadline(&self, d: Option<Instant>) {
        self.fd.set_deadline(Mode::Read, d);
    }

    /// Absolute write deadline (None = none).
    pub fn set_write_deadline(&self, d: Option<Instant>) {
        self.fd.set_deadline(Mode::Write, d);
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.name(true)
    }

    /// Our address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.name(false)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::read(self, buf)
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::write(self, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::read(self, buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::write(self, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A UDP socket whose receives and sends park the goroutine.
pub struct UdpSocket {
    fd: NetFd,
}

impl UdpSocket {
    /// Bind to `addr` (port 0 picks a free port).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let mut last = None;
        for a in resolve(addr)? {
            let r = (|| {
                let fd = NetFd::socket(family(&a), libc::SOCK_DGRAM)?;
                fd.bind(&a)?;
                Ok(UdpSocket { fd })
            })();
            match r {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("bind failed")))
    }

    /// Set the default peer (for `send`/`recv`).
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let a = resolve(addr)?[0];
        let (st, len) = to_sockaddr(&a);
        // SAFETY: valid address.
        cvt_i(unsafe { libc::connect(self.fd.fd, (&raw const st).cast(), len) }).map(|_| ())
    }

    /// Send one datagram to `addr`.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let a = resolve(addr)?[0];
        let (st, len) = to_sockaddr(&a);
        let fd = self.fd.fd;
        self.fd.io(Mode::Write, None, || {
            // SAFETY: valid buffer and address.
            unsafe {
                libc::sendto(
                    fd,
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                    (&raw const st).cast(),
                    len,
                )
            }
        })
    }

    /// Receive one datagram and its sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_with(buf, None)
    }

    /// [`Self::recv_from`] that gives up when `ctx` is done.
    pub fn recv_from_context(
        &self,
        ctx: &Context,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_with(buf, Some(ctx))
    }

    fn recv_from_with(
        &self,
        buf: &mut [u8],
        ctx: Option<&Context>,
    ) -> io::Result<(usize, SocketAddr)> {
        // SAFETY: plain data.
        let mut st: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
        let fd = self.fd.fd;
        let n = self.fd.io(Mode::Read, ctx, || {
            let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: valid buffer and out-parameters.
            unsafe {
                libc::recvfrom(
                    fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&raw mut st).cast(),
                    &mut len,
                )
            }
        })?;
        Ok((n, from_sockaddr(&st)?))
    }

    /// Send to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.fd.fd;
        self.fd.io(Mode::Write, None, || {
            // SAFETY: valid buffer.
            unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) }
        })
    }

    /// Receive from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.fd.fd;
        self.fd.io(Mode::Read, None, || {
            // SAFETY: valid buffer.
            unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) }
        })
    }

    /// Our address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.name(false)
    }

    /// Per-receive timeout (None = none).
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.fd.set_timeout(Mode::Read, d)
    }

    /// Per-send timeout (None = none).
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.fd.set_timeout(Mode::Write, d)
    }

    /// Absolute receive deadline (None = none).
    pub fn set_read_deadline(&self, d: Option<Instant>) {
        self.fd.set_deadline(Mode::Read, d);
    }

    /// Absolute send deadline (None = none).
    pub fn set_write_deadline(&self, d: Option<Instant>) {
        self.fd.set_deadline(Mode::Write, d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_roundtrip() {
        for s in ["127.0.0.1:8080", "[::1]:443", "10.1.2.3:0"] {
            let a: SocketAddr = s.parse().unwrap();
            let (st, _) = to_sockaddr(&a);
            assert_eq!(from_sockaddr(&st).unwrap(), a);
        }
    }
}
