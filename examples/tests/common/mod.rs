//! Helpers shared by the tests of built programs (`mod common;`): running a
//! child under a watchdog, and gdb in batch mode with breakpoints that print
//! `HIT <symbol> <gdb thread>` (Go's runtime-gdb_test.go style).
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a child may run before the watchdog kills it (a broken runtime
/// then fails the test instead of hanging it).
pub const WATCHDOG: Duration = Duration::from_secs(120);

/// Run a program to completion (stdout/stderr captured), killing it after
/// [`WATCHDOG`].
pub fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel::<()>();
    let dog = std::thread::spawn(move || {
        if rx.recv_timeout(WATCHDOG).is_err() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().expect("wait");
    let _ = tx.send(());
    dog.join().unwrap();
    out
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether a gdb is on PATH (tests that need it are skipped without; CI
/// installs it).
pub fn have_gdb() -> bool {
    Command::new("gdb")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A gdb script that breaks on each of `symbols`, prints
/// `HIT <symbol> <gdb thread number>` at every hit and continues, then runs
/// the program.
pub fn hit_script(symbols: &[&str]) -> String {
    let mut s = String::from("set pagination off\nset confirm off\nset breakpoint pending off\n");
    for sym in symbols {
        s.push_str(&format!(
            "break {sym}\ncommands\nsilent\nprintf \"HIT {sym} %d\\n\", $_thread\ncontinue\nend\n"
        ));
    }
    s.push_str("run\n");
    s
}

/// The `HIT <symbol> <thread>` lines of gdb's output, in order.
pub fn parse_hits(stdout: &str) -> Vec<(String, u32)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("HIT "))
        .map(|l| {
            let (s, t) = l.split_once(' ').unwrap();
            (s.to_string(), t.trim().parse().unwrap())
        })
        .collect()
}

/// `gdb -batch -nx -x SCRIPT --args PROGRAM...` under the watchdog, with
/// `env` set; the script lives in a temporary directory named after `name`
/// (and this process), removed afterwards.
pub fn gdb_batch(name: &str, script: &str, program: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!("{name}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("script.gdb");
    std::fs::write(&path, script).unwrap();
    let mut args = vec!["-batch", "-nx", "-x", path.to_str().unwrap(), "--args"];
    args.extend_from_slice(program);
    let out = run("gdb", &args, env);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// gdb's stdout, then its stderr under a `--- stderr ---` line (for
/// assertion messages).
pub fn gdb_log(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        text(&out.stdout),
        text(&out.stderr)
    )
}
