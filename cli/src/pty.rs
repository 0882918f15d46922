//! A pseudo-terminal for the program under gdb, so its stdout/stderr never
//! mix with the MI stream: gdb is told `-inferior-tty-set /dev/pts/N`, and a
//! thread copies whatever the program writes to gdbx's terminal, stderr or a
//! file (and keeps a bounded copy for the JSON report).

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Where the program's output goes.
pub enum Sink {
    /// gdbx's stdout (human output).
    Stdout,
    /// gdbx's stderr (so JSON/JUnit on stdout stays one document).
    Stderr,
    /// A file (`--program-output`).
    File(File),
}

/// Bytes of the program's output kept for the report.
const KEEP: usize = 64 * 1024;

/// The pty and its copying thread.
pub struct Pty {
    /// The slave's path, for `-inferior-tty-set`.
    pub path: String,
    _slave: OwnedFd,
    stop_w: OwnedFd,
    thread: Option<JoinHandle<()>>,
    captured: Arc<Mutex<Vec<u8>>>,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Pty {
    /// Opens a raw-mode pty and starts copying its output to `sink`.
    pub fn open(sink: Sink) -> io::Result<Pty> {
        // SAFETY: plain libc calls on fds we own; buffers are sized.
        unsafe {
            let master = OwnedFd::from_raw_fd(cvt(libc::posix_openpt(
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?);
            cvt(libc::grantpt(master.as_raw_fd()))?;
            cvt(libc::unlockpt(master.as_raw_fd()))?;
            let mut name = [0 as libc::c_char; 128];
            let r = libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len());
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
            let path = CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
            // Hold the slave open ourselves: the master never sees EOF/EIO
            // between the program closing it and us draining it.
            let slave = OwnedFd::from_raw_fd(cvt(libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?);
            let mut tio: libc::termios = std::mem::zeroed();
            cvt(libc::tcgetattr(slave.as_raw_fd(), &mut tio))?;
            libc::cfmakeraw(&mut tio);
            cvt(libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &tio))?;
            let flags = cvt(libc::fcntl(master.as_raw_fd(), libc::F_GETFL))?;
            cvt(libc::fcntl(
                master.as_raw_fd(),
                libc::F_SETFL,
                flags | libc::O_NONBLOCK,
            ))?;
            let mut fds = [0; 2];
            cvt(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC))?;
            let stop_r = OwnedFd::from_raw_fd(fds[0]);
            let stop_w = OwnedFd::from_raw_fd(fds[1]);
            let captured = Arc::new(Mutex::new(Vec::new()));
            let cap = captured.clone();
            let thread = std::thread::spawn(move || copy_loop(master, stop_r, sink, cap));
            Ok(Pty {
                path,
                _slave: slave,
                stop_w,
                thread: Some(thread),
                captured,
            })
        }
    }

    /// Stops the copier after draining what the program wrote, and returns
    /// the kept output (the last 64 KiB).
    pub fn finish(mut self) -> String {
        // SAFETY: writing one byte to our own pipe.
        unsafe {
            libc::write(self.stop_w.as_raw_fd(), b"x".as_ptr().cast(), 1);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let bytes = self.captured.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn copy_loop(master: OwnedFd, stop: OwnedFd, mut sink: Sink, captured: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 8192];
    let mut emit = |data: &[u8]| {
        let _ = match &mut sink {
            Sink::Stdout => {
                let mut o = io::stdout().lock();
                o.write_all(data).and_then(|_| o.flush())
            }
            Sink::Stderr => io::stderr().lock().write_all(data),
            Sink::File(f) => f.write_all(data),
        };
        let mut c = captured.lock().unwrap_or_else(|e| e.into_inner());
        c.extend_from_slice(data);
        if c.len() > KEEP {
            let cut = c.len() - KEEP;
            c.drain(..cut);
        }
    };
    let drain = |emit: &mut dyn FnMut(&[u8]), buf: &mut [u8]| loop {
        // SAFETY: reading into our buffer from our fd.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock;
        }
        emit(&buf[..n as usize]);
    };
    loop {
        let mut fds = [
            libc::pollfd {
                fd: master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[0].revents != 0 && drain(&mut emit, &mut buf) {
            return;
        }
        if fds[1].revents != 0 {
            drain(&mut emit, &mut buf);
            return;
        }
    }
}
