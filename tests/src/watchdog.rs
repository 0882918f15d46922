//! Running a child process under a watchdog: when it has not finished after
//! its limit, the watchdog kills it and every process it started (gdb and
//! its inferior, gdbx and its gdb), so a stuck child fails its test instead
//! of hanging the suite.
//!
//! ```no_run
//! use std::process::Command;
//! use std::time::Duration;
//! let out = gdbx_tests::watchdog::output(Command::new("true").arg("x"), Duration::from_secs(60));
//! assert!(out.status.success());
//! ```

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// An armed watchdog on one child; [`Watchdog::disarm`] it once the child
/// has been waited for.
pub struct Watchdog {
    stop: mpsc::Sender<()>,
    fired: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Watchdog {
    /// Starts watching `child`: after `limit` it and its descendants are
    /// killed with SIGKILL.
    pub fn arm(child: &Child, limit: Duration) -> Watchdog {
        let pid = child.id() as i32;
        let (stop, stopped) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let thread = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(limit) {
                flag.store(true, Ordering::SeqCst);
                kill_tree(pid);
            }
        });
        Watchdog {
            stop,
            fired,
            thread,
        }
    }

    /// Stops the watchdog; true if it had fired (the child was killed).
    pub fn disarm(self) -> bool {
        let _ = self.stop.send(());
        let _ = self.thread.join();
        self.fired.load(Ordering::SeqCst)
    }
}

/// Runs `cmd` with stdout and stderr captured and stdin closed, killing it
/// (and what it started) after `limit`. Panics, with what the child printed,
/// when the watchdog fired or the program cannot be started.
pub fn output(cmd: &mut Command, limit: Duration) -> Output {
    let (out, fired) = output_or_killed(cmd, limit);
    if fired {
        panic!(
            "{cmd:?} did not finish within {} s and was killed by the test watchdog\n\
             --- stdout ---\n{}\n--- stderr ---\n{}",
            limit.as_secs(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// As [`output`], but returns whether the watchdog fired instead of
/// panicking.
pub fn output_or_killed(cmd: &mut Command, limit: Duration) -> (Output, bool) {
    let child = spawn(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let dog = Watchdog::arm(&child, limit);
    let out = child.wait_with_output();
    let fired = dog.disarm();
    (
        out.unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}")),
        fired,
    )
}

/// As [`output`], with `input` written to the child's stdin (then closed).
pub fn output_with_input(cmd: &mut Command, input: &[u8], limit: Duration) -> Output {
    let mut child = spawn(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let dog = Watchdog::arm(&child, limit);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    // A writer thread: the child may fill its stdout before reading all
    // of its input.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output();
    let _ = writer.join();
    if dog.disarm() {
        panic!(
            "{cmd:?} did not finish within {} s and was killed by the test watchdog",
            limit.as_secs()
        );
    }
    out.unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"))
}

/// Runs `cmd` with the stdio it was given; `(status, fired)`.
pub fn status(cmd: &mut Command, limit: Duration) -> (ExitStatus, bool) {
    let mut child = spawn(cmd);
    let dog = Watchdog::arm(&child, limit);
    let status = child.wait();
    let fired = dog.disarm();
    (
        status.unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}")),
        fired,
    )
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program().to_string_lossy()))
}

/// SIGKILL `root` (if it is still our child) and every process below it.
/// Each process is stopped (SIGSTOP) before its children are listed, so
/// none forks behind the walk or sees a child die and exits on its own
/// (a shell's `wait` returns 0 when its child is killed: the shell would
/// then exit successfully); then all are killed bottom-up, so that none
/// is re-parented and missed.
fn kill_tree(root: i32) {
    if parent_of(root) != Some(std::process::id() as i32) {
        return; // already reaped; the pid may belong to someone else now
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        // SAFETY: kill(2) has no memory-safety preconditions; every pid here
        // was read from /proc as a descendant of our own child.
        unsafe { libc::kill(parent, libc::SIGSTOP) };
        tree.extend(children_of(parent));
        i += 1;
    }
    for pid in tree.iter().rev() {
        // SAFETY: as above.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
}

fn children_of(parent: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == Some(parent))
        .collect()
}

/// The parent pid from /proc/PID/stat (after the command name, which may
/// itself contain spaces and parentheses).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_child_and_its_children_are_killed() {
        // sh starts a sleeping grandchild and waits for it.
        let (out, fired) = output_or_killed(
            Command::new("sh").args(["-c", "sleep 1000 & echo started; wait"]),
            Duration::from_millis(300),
        );
        assert!(fired);
        assert!(!out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "started\n");
    }

    #[test]
    fn a_finished_child_is_left_alone() {
        let out = output(
            Command::new("sh").args(["-c", "echo ok"]),
            Duration::from_secs(600),
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    }
}
