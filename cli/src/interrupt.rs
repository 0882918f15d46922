//! Ctrl-C during a run: the SIGINT handler only writes a byte to a pipe
//! (all a signal handler may safely do); a thread of ours reads it and
//! calls the run's callback, which ends the wait for gdb in progress. The
//! run then kills the program and gdb and reports the hits so far.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The pipe's write end, for the handler; -1 until [`on_interrupt`].
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigint(_: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the buffer is a static byte.
        unsafe {
            libc::write(fd, b"i".as_ptr().cast(), 1);
        }
    }
}

/// From now on, SIGINT calls `f` on a thread of its own (once per signal).
/// Meant to be called once per process, by the one run it makes.
pub fn on_interrupt(f: impl Fn() + Send + 'static) -> io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these fds; we own them from here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        loop {
            // SAFETY: reading one byte into our buffer from our fd.
            let n = unsafe { libc::read(read.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
            match n {
                1 => f(),
                _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                _ => return,
            }
        }
    });
    // The write end lives as long as the process: the handler may run at any time.
    WRITE_FD.store(
        std::os::fd::IntoRawFd::into_raw_fd(write),
        Ordering::Relaxed,
    );
    // SAFETY: installing a handler that only does async-signal-safe work;
    // the sigaction struct is zeroed then filled.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
