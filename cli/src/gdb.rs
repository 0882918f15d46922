//! A gdb/MI session: spawn gdb, send tokenised commands, read records.
//!
//! A reader thread parses gdb's stdout line by line ([`crate::mi`]) and
//! sends the records over a channel; every wait has a deadline, so a hung
//! gdb or program never hangs gdbx. Ctrl-C is one more message on that
//! channel ([`Gdb::interrupter`]), so a wait ends on it too.

use crate::mi::{self, Kind, Record, Stream, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Why talking to gdb failed.
#[derive(Debug)]
pub enum GdbError {
    /// The deadline passed.
    Timeout,
    /// gdb exited (or closed its output).
    Exited(String),
    /// A command answered `^error`.
    Command(String, String),
    /// Spawning or writing failed.
    Io(std::io::Error),
    /// The user pressed Ctrl-C.
    Interrupted,
}

impl std::fmt::Display for GdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GdbError::Timeout => write!(f, "timed out waiting for gdb"),
            GdbError::Exited(why) if why.starts_with(": gdb ") => write!(f, "{}", &why[2..]),
            GdbError::Exited(why) => write!(f, "gdb exited unexpectedly{why}"),
            GdbError::Command(cmd, msg) => write!(f, "gdb rejected `{cmd}`: {msg}"),
            GdbError::Io(e) => write!(f, "talking to gdb: {e}"),
            GdbError::Interrupted => write!(f, "interrupted"),
        }
    }
}

enum Line {
    Record(Record),
    Eof,
    Interrupt,
}

/// A running gdb in MI3 mode.
pub struct Gdb {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Line>,
    /// For [`Gdb::interrupter`].
    tx: Sender<Line>,
    token: u64,
    pending: VecDeque<Record>,
    stderr: Arc<Mutex<String>>,
    exited: bool,
}

impl Gdb {
    /// Starts `gdb --interpreter=mi3 -nx -q BINARY` in a process group of
    /// its own, so that the terminal's Ctrl-C reaches gdbx only.
    ///
    /// gdb starts the program through `$SHELL`; gdbx sets it to `/bin/sh`
    /// for gdb, because the arguments and the stdin redirection gdbx writes
    /// are POSIX sh (a user's csh or fish reads them otherwise).
    pub fn spawn(gdb: &Path, binary: &Path) -> std::io::Result<Gdb> {
        let mut child = Command::new(gdb)
            .args(["--interpreter=mi3", "-nx", "-q"])
            .arg(binary)
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let mut stderr_pipe = child.stderr.take().expect("piped");
        let (tx, rx) = channel();
        let interrupt_tx = tx.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Line::Eof);
                        return;
                    }
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let line = line.trim_end_matches(['\n', '\r']);
                        // A line that is not MI (it should not happen with an
                        // inferior tty set) is kept as console text.
                        let rec = mi::parse_line(line)
                            .unwrap_or_else(|_| Record::Stream(Stream::Target, line.to_string()));
                        if tx.send(Line::Record(rec)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr_pipe.read_to_string(&mut s);
            sink.lock().unwrap_or_else(|e| e.into_inner()).push_str(&s);
        });
        let stdin = child.stdin.take();
        Ok(Gdb {
            child,
            stdin,
            rx,
            tx: interrupt_tx,
            token: 0,
            pending: VecDeque::new(),
            stderr,
            exited: false,
        })
    }

    fn recv(&mut self, deadline: Instant) -> Result<Record, GdbError> {
        if self.exited {
            return Err(self.exit_error());
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(wait) {
            Ok(Line::Record(r)) => Ok(r),
            Ok(Line::Interrupt) => Err(GdbError::Interrupted),
            Ok(Line::Eof) | Err(RecvTimeoutError::Disconnected) => {
                self.exited = true;
                Err(self.exit_error())
            }
            Err(RecvTimeoutError::Timeout) => Err(GdbError::Timeout),
        }
    }

    fn exit_error(&self) -> GdbError {
        let err = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        match err.lines().rfind(|l| !l.trim().is_empty()) {
            Some(l) => GdbError::Exited(format!(": {}", l.trim())),
            None => GdbError::Exited(String::new()),
        }
    }

    /// A function that makes the wait in progress (or the next one) end
    /// with [`GdbError::Interrupted`]; callable from any thread.
    pub fn interrupter(&self) -> impl Fn() + Send + 'static {
        let tx = self.tx.clone();
        move || {
            let _ = tx.send(Line::Interrupt);
        }
    }

    /// Sends `cmd` and waits for its result record (`^done`, `^running`,
    /// ...); other records that arrive meanwhile are queued for
    /// [`Gdb::next_async`]. `^error` becomes [`GdbError::Command`].
    pub fn command(&mut self, cmd: &str, deadline: Instant) -> Result<(String, Value), GdbError> {
        self.token += 1;
        let token = self.token;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| GdbError::Exited(String::new()))?;
        writeln!(stdin, "{token}{cmd}")
            .and_then(|_| stdin.flush())
            .map_err(GdbError::Io)?;
        loop {
            match self.recv(deadline)? {
                Record::Class {
                    token: Some(t),
                    kind: Kind::Result,
                    class,
                    results,
                } if t == token => {
                    if class == "error" {
                        let msg = results.str("msg").unwrap_or("unknown error").to_string();
                        return Err(GdbError::Command(cmd.to_string(), msg));
                    }
                    return Ok((class, results));
                }
                Record::Prompt => {}
                other => self.pending.push_back(other),
            }
        }
    }

    /// The console text queued so far (what gdb's CLI would have printed
    /// for the commands sent), taken out of the queue; the other records
    /// stay queued, in order.
    pub fn take_console(&mut self) -> String {
        let mut text = String::new();
        self.pending.retain(|r| match r {
            Record::Stream(Stream::Console, s) => {
                text.push_str(s);
                false
            }
            _ => true,
        });
        text
    }

    /// The next out-of-band record (exec, notify, stream), queued or new.
    pub fn next_async(&mut self, deadline: Instant) -> Result<Record, GdbError> {
        if let Some(r) = self.pending.pop_front() {
            return Ok(r);
        }
        loop {
            match self.recv(deadline)? {
                Record::Prompt => {}
                r => return Ok(r),
            }
        }
    }

    /// Asks gdb to exit and reaps it; kills it if it is still there at `deadline`.
    pub fn quit(mut self, deadline: Instant) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "-gdb-exit");
        }
        while !self.exited {
            match self.recv(deadline) {
                Ok(_) => {}
                Err(GdbError::Timeout) => {
                    let _ = self.child.kill();
                    break;
                }
                Err(_) => break,
            }
        }
        let _ = self.child.wait();
    }

    /// Kills gdb now.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
