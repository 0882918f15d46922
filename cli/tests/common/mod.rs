//! Helpers shared by gdbx's integration tests.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// How long one gdbx run may take before the test watchdog kills it (and
/// its gdb and program). Longer than break-bootstrap's own `--timeout`
/// (60 s), so that one is what a test sees.
pub const WATCHDOG: Duration = Duration::from_secs(300);

/// Runs the built `gdbx` with `args` (no colour, stdin closed) under the
/// test watchdog, returning its output.
pub fn gdbx<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    gdbx_env(args, &[])
}

/// [`gdbx`] with `env` added to its environment (and its program's).
pub fn gdbx_env<I, S>(args: I, env: &[(String, String)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    watched(
        gdbx_command()
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v))),
    )
}

/// The built `gdbx`, without colour and with the default gdb.
pub fn gdbx_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gdbx"));
    cmd.env("NO_COLOR", "1").env_remove("GDBX_GDB");
    cmd
}

/// `gdbx break-bootstrap --format json BINARY` with `input` on its stdin
/// (then closed), parsed; asserts the exit status.
pub fn bootstrap_json_with_input(
    binary: &Path,
    input: &[u8],
    want_status: i32,
) -> serde_json::Value {
    let out = gdbx_tests::watchdog::output_with_input(
        gdbx_command()
            .args(["break-bootstrap", "--format", "json"])
            .arg(binary),
        input,
        WATCHDOG,
    );
    json_with_status(&out, want_status)
}

/// gdbx's JSON document on stdout, parsed; asserts the exit status first.
pub fn json_with_status(out: &Output, want_status: i32) -> serde_json::Value {
    assert_eq!(
        code(out),
        want_status,
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(out)))
}

/// The one problem of a failed run, asserting there is exactly one.
pub fn only_problem(doc: &serde_json::Value) -> &serde_json::Value {
    let problems = doc["verdict"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "one failure, one problem: {problems:?}");
    &problems[0]
}

/// Runs `cmd` (gdbx with its own environment, or a wrapper around it)
/// under the test watchdog, stdin closed.
pub fn watched(cmd: &mut Command) -> Output {
    gdbx_tests::watchdog::output(cmd, WATCHDOG)
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit status (panics if killed by a signal).
pub fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("gdbx was killed: {o:?}"))
}

/// `gdbx break-bootstrap --format json BINARY [extra]`, parsed; asserts the exit status.
pub fn bootstrap_json(binary: &Path, extra: &[&str], want_status: i32) -> serde_json::Value {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("break-bootstrap"),
        OsStr::new("--format"),
        OsStr::new("json"),
    ];
    args.extend(extra.iter().map(OsStr::new));
    args.push(binary.as_os_str());
    json_with_status(&gdbx(&args), want_status)
}

/// The steps hit, in order.
pub fn hit_steps(doc: &serde_json::Value) -> Vec<String> {
    doc["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["step"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts that every required step of the plan was hit and that the
/// main-thread chain steps appear in plan order on the main thread.
pub fn assert_plan_followed(doc: &serde_json::Value) {
    let hits = hit_steps(doc);
    let steps = doc["plan"]["steps"].as_array().unwrap();
    let chain: Vec<&str> = steps
        .iter()
        .filter(|s| s["after"].is_null() && !s["optional"].as_bool().unwrap())
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let chain_hits: Vec<&str> = hits
        .iter()
        .map(String::as_str)
        .filter(|h| chain.contains(h))
        .collect();
    assert_eq!(
        chain_hits, chain,
        "chain steps out of order or missing; hits: {hits:?}"
    );
    // Up to runtime.main the bootstrap is single-threaded; after it the main
    // goroutine may in principle be moved to another thread (after a
    // blocking syscall), so only the bootstrap is pinned to the main thread.
    let bootstrap = &chain[..=chain
        .iter()
        .position(|s| *s == "runtime.main")
        .expect("runtime.main in plan")];
    for h in doc["hits"].as_array().unwrap() {
        let name = h["step"].as_str().unwrap();
        assert!(h["lwp"].as_u64().is_some(), "{name} has no LWP: {h}");
        if bootstrap.contains(&name) {
            assert_eq!(h["main_thread"], true, "{name} not on the main thread: {h}");
        }
    }
    let main_at = hits
        .iter()
        .position(|h| h == "runtime.main")
        .expect("runtime.main hit");
    for s in steps.iter().filter(|s| !s["after"].is_null()) {
        if let Some(p) = hits.iter().position(|h| h == s["name"].as_str().unwrap()) {
            assert!(p > main_at, "{} before runtime.main: {hits:?}", s["name"]);
        }
    }
    assert_eq!(doc["verdict"]["ok"], true, "{}", doc["verdict"]);
    assert_eq!(doc["verdict"]["status"], 0);
}

/// The first problem of `kind` in a `break-bootstrap --format json` document.
pub fn problem<'a>(doc: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    let problems = doc["verdict"]["problems"].as_array().unwrap();
    problems
        .iter()
        .find(|p| p["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} problem in {problems:?}"))
}

/// The required (not optional) steps of a `symbols --format json` document.
pub fn required_steps(doc: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["optional"] == false)
}

/// `objcopy --strip-debug BINARY` into a fresh scratch directory `name`.
pub fn strip_debug(name: &str, binary: &Path) -> std::path::PathBuf {
    let f = gdbx_tests::scratch(name).join("hello");
    gdbx_tests::run_tool(
        "objcopy",
        &["--strip-debug".as_ref(), binary.as_os_str(), f.as_os_str()],
    );
    f
}

/// Starts `cmd` (gdbx) with piped stdin, stdout and stderr, waits until its
/// stdout ends with `marker` (a handshake: the program said it is waiting),
/// sends it SIGINT as from the terminal, and returns its exit status and
/// everything it printed on stdout. Fails if it ends before the marker or
/// the watchdog fires.
pub fn interrupt_after(cmd: &mut Command, marker: &str) -> (std::process::ExitStatus, String) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gdbx");
    let dog = gdbx_tests::watchdog::Watchdog::arm(&child, WATCHDOG);
    let _stdin = child.stdin.take();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    while !text.ends_with(marker) {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!("gdbx ended before {marker:?}: {text}");
        }
        text.push_str(&line);
    }
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    stdout.read_to_string(&mut text).unwrap();
    let status = child.wait().unwrap();
    assert!(!dog.disarm(), "the watchdog fired: {text}");
    (status, text)
}
