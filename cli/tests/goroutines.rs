//! `gdbx goroutines` on live processes and core files of both runtimes,
//! compared with each program's own view of its goroutines at the same
//! moment, and every bad input with its exit status.
//!
//! The programs are `stuck` (examples/src/bin/stuck.rs) and its Go twin
//! (tests/src/go/stuck.go, built fresh): goroutines parked in a channel
//! receive, one asleep, (Go) one waiting for a mutex, one spinning, main
//! blocked reading stdin. They say `ready` once everything is in place (a
//! handshake); closing stdin ends them. The other builds (our release
//! build, Go's plain, PIE and cgo builds) are dumped from the fixture cores
//! of `parked` stopped in main.ready. Cost: two Go builds of `stuck` and
//! three of `parked` (a few seconds each), the release build of `parked`,
//! one gdb run for each core older than its binary, a few short runs of
//! each program.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{code, stderr, stdout, watched};
use gdbx_tests::cores::{GO_PARKED, GO_STUCK, GoBuild, allow_core_dumps, gcore_at, go_parked};
use gdbx_tests::watchdog::Watchdog;
use gdbx_tests::{Variant, example_bin, go_program, line_of, scratch, workspace_root};

const LIMIT: Duration = Duration::from_secs(120);

/// `gdbx goroutines ARGS...`.
fn gdbx(args: &[&str]) -> std::process::Output {
    watched(goroutines().args(args))
}

fn goroutines() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gdbx"));
    c.arg("goroutines");
    c
}

fn go_stuck() -> PathBuf {
    go_program("stuck", GO_STUCK, false)
}

fn ours_stuck() -> PathBuf {
    example_bin("stuck", Variant::Debug)
}

/// A running `stuck`, ready; killed on drop.
struct Target {
    child: Child,
    dog: Option<Watchdog>,
    /// What the Go twin printed of its own runtime.Stack(buf, true) dump.
    own_dump: String,
    err: BufReader<std::process::ChildStderr>,
}

impl Target {
    /// Starts `bin` with `args` (in `cwd`, allowed to dump core, when given)
    /// and waits until it is ready; `go`: read the twin's own dump first.
    fn start(
        bin: &Path,
        go: bool,
        args: &[&str],
        cwd: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Target {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("GOMAXPROCS", "2");
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(d) = cwd {
            cmd.current_dir(d);
            allow_core_dumps(&mut cmd);
        }
        let mut child = cmd.spawn().expect("start stuck");
        let dog = Some(Watchdog::arm(&child, LIMIT));
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "{} did not get ready", bin.display());
        let mut own_dump = String::new();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        if go {
            let mut l = String::new();
            while err.read_line(&mut l).unwrap() > 0 && l != "END STACK\n" {
                own_dump.push_str(&l);
                l.clear();
            }
            wait_reading_stdin(child.id());
        }
        Target {
            child,
            dog,
            own_dump,
            err,
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends SIGQUIT and returns what the program printed on stderr until it died.
    fn quit(mut self) -> String {
        // SAFETY: plain system call on our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
        let mut err = String::new();
        let _ = self.err.read_to_string(&mut err);
        let _ = self.child.wait();
        err
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = self.dog.take() {
            d.disarm();
        }
    }
}

/// Waits until a thread of `pid` is blocked in `read(0, ...)`: the Go
/// twin's main goroutine, once it has printed "ready", waiting for its
/// stdin (Go reads a pipe with a blocking system call). Until then it may
/// be runnable, picked up by another M between the program's own dump and
/// its core, and the two would rightly differ.
fn wait_reading_stdin(pid: u32) {
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the program's threads");
        for t in tasks.flatten() {
            // `NR arg0 arg1 ...`: read is 0 on x86-64, fd 0 is `0x0`.
            let sc = std::fs::read_to_string(t.path().join("syscall")).unwrap_or_default();
            if sc.starts_with("0 0x0 ") {
                return;
            }
        }
        std::thread::yield_now();
    }
}

/// One goroutine of a Go-format dump: status, its first frame in the
/// program's own code, and its creator (what follows `created by `).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    status: String,
    user: Option<String>,
    frames: usize,
    created: Option<String>,
}

/// A function of the program itself (the Go twins' `main`, ours' `stuck`
/// and `parked` crates), whichever runtime printed it.
fn is_program_code(func: &str) -> bool {
    func.starts_with("main.") || func.starts_with("stuck::") || func.starts_with("parked::")
}

/// Parses the goroutines of a Go-format dump (Go's, our runtime's, or
/// gdbx's text).
fn parse_dump(text: &str) -> BTreeMap<i64, Seen> {
    let mut out = BTreeMap::new();
    let mut cur: Option<(i64, Seen)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("goroutine ")
            && let Some((id, st)) = rest.split_once(" [")
            && let Ok(id) = id.parse::<i64>()
            && line.ends_with("]:")
        {
            if let Some((i, s)) = cur.take() {
                out.insert(i, s);
            }
            let status = st
                .trim_end_matches("]:")
                .split(',')
                .next()
                .unwrap()
                .to_string();
            cur = Some((
                id,
                Seen {
                    status,
                    user: None,
                    frames: 0,
                    created: None,
                },
            ));
            continue;
        }
        let Some((_, s)) = cur.as_mut() else { continue };
        if line.is_empty() {
            let (i, s) = cur.take().unwrap();
            out.insert(i, s);
        } else if let Some(c) = line.strip_prefix("created by ") {
            s.created = Some(c.to_string());
        } else if !line.starts_with('\t') && line.contains('(') {
            let func = &line[..line.rfind('(').unwrap()];
            s.frames += 1;
            if s.user.is_none() && is_program_code(func) {
                s.user = Some(func.to_string());
            }
        }
    }
    if let Some((i, s)) = cur {
        out.insert(i, s);
    }
    out
}

/// The goroutines of gdbx's JSON document, as [`Seen`].
fn from_json(doc: &serde_json::Value) -> BTreeMap<i64, Seen> {
    doc["goroutines"]
        .as_array()
        .expect("goroutines")
        .iter()
        .map(|g| {
            let frames = g["frames"].as_array().unwrap();
            let user = frames
                .iter()
                .map(|f| f["func"].as_str().unwrap())
                .find(|f| is_program_code(f))
                .map(String::from);
            // As the text dump prints it.
            let c = &g["created_by"];
            let created =
                (!c.is_null()).then(|| match (c["func"].as_str(), c["goroutine"].as_i64()) {
                    (Some(f), Some(p)) => format!("{f} in goroutine {p}"),
                    (Some(f), None) => f.to_string(),
                    (None, Some(p)) => format!("goroutine {p}"),
                    (None, None) => "?".to_string(),
                });
            (
                g["id"].as_i64().unwrap(),
                Seen {
                    status: g["status"].as_str().unwrap().to_string(),
                    user,
                    frames: frames.len(),
                    created,
                },
            )
        })
        .collect()
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = gdbx(&all);
    assert_eq!(code(&out), 0, "gdbx {all:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// Every goroutine the program showed with frames is in gdbx's dump with
/// the same status, the same first frame of the program's own code and the
/// same creator;
/// `skip` are ids whose state legitimately changed (the one that printed
/// the dump). Returns how many were compared.
fn assert_agree(
    own: &BTreeMap<i64, Seen>,
    ours: &BTreeMap<i64, Seen>,
    skip: &[i64],
    what: &str,
) -> usize {
    let mut n = 0;
    for (id, theirs) in own {
        if skip.contains(id) || theirs.frames == 0 {
            continue;
        }
        let mine = ours
            .get(id)
            .unwrap_or_else(|| panic!("{what}: goroutine {id} missing from gdbx's dump"));
        assert_eq!(
            mine.status, theirs.status,
            "{what}: goroutine {id}'s status"
        );
        assert_eq!(
            mine.user, theirs.user,
            "{what}: goroutine {id}'s first user frame"
        );
        assert_eq!(
            mine.created, theirs.created,
            "{what}: goroutine {id}'s creator"
        );
        n += 1;
    }
    n
}

#[test]
fn go_live_dump_agrees_with_runtime_stack() {
    go_live_dump_agrees(&go_stuck(), "Go live");
}

/// The same on a position-independent build of the Go twin, where the
/// dump finds the load address of a running process (its auxv entry
/// point). Cost: one more Go build, one short run.
#[test]
fn go_pie_live_dump_agrees_with_runtime_stack() {
    go_live_dump_agrees(&go_program("stuck-pie", GO_STUCK, true), "Go PIE live");
}

/// gdbx's dump of the running Go twin `bin` agrees with the dump the
/// program printed of itself (runtime.Stack) once everything was in place.
fn go_live_dump_agrees(bin: &Path, what: &str) {
    let t = Target::start(bin, true, &["20"], None, &[]);
    let doc = json(&[&t.pid()]);
    let own = parse_dump(&t.own_dump);
    // runtime.Stack ran on main, which now reads stdin; it stopped the
    // world, so the spinner was runnable then, running now.
    let spinner = doc["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["location"].as_str().unwrap().starts_with("main.spinner"))
        .expect("the spinner")["id"]
        .as_i64()
        .unwrap();
    let n = assert_agree(&own, &from_json(&doc), &[1, spinner], what);
    assert!(n >= 22, "{what}: compared {n} goroutines:\n{}", t.own_dump);
    assert!(doc["paused_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(doc["consistent"], true);
    assert_eq!(doc["runtime"], "Go 1.19");
    let gs = doc["goroutines"].as_array().unwrap();
    // main is in a system call, unwound from its thread's registers.
    let main = gs.iter().find(|g| g["id"] == 1).unwrap();
    assert_eq!(main["status"], "syscall");
    assert_eq!(main["unwound_from"], "registers");
    assert!(
        main["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["func"] == "main.main"),
        "{main}"
    );
    // The spinner runs: its thread's registers say where.
    let spin = gs
        .iter()
        .find(|g| g["location"].as_str().unwrap().starts_with("main.spinner"))
        .expect("the spinner");
    assert_eq!(spin["status"], "running");
    assert_eq!(spin["unwound_from"], "registers");
    assert!(!doc["threads"].as_array().unwrap().is_empty());
    assert!(!doc["ms"].as_array().unwrap().is_empty());
    assert_eq!(doc["ps"].as_array().unwrap().len(), 2);
}

#[test]
fn go_text_is_go_traceback_format() {
    let bin = go_stuck();
    let t = Target::start(&bin, true, &["3"], None, &[]);
    let out = gdbx(&[&t.pid()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let head = text.lines().next().unwrap();
    assert!(
        head.contains("paused") && head.contains("Go 1.19"),
        "{head}"
    );
    let worker = text
        .split("\n\n")
        .find(|b| b.contains("[chan receive]:") && b.contains("main.worker(...)"))
        .unwrap_or_else(|| panic!("no parked worker:\n{text}"));
    let lines: Vec<&str> = worker.lines().collect();
    let at = lines.iter().position(|l| *l == "main.worker(...)").unwrap();
    assert!(
        lines[at + 1].starts_with('\t')
            && lines[at + 1].contains("main.go:")
            && lines[at + 1].contains(" +0x"),
        "{worker}"
    );
    assert!(worker.contains("\ncreated by main.main\n\t"), "{worker}");
    assert!(worker.contains("runtime.goexit(...)"), "{worker}");
}

#[test]
fn go_core_from_gotraceback_crash_agrees_with_its_own_dump() {
    let bin = go_stuck();
    let dir = scratch("goroutines-go-crash");
    let t = Target::start(&bin, true, &["10"], Some(&dir), &[("GOTRACEBACK", "crash")]);
    let err = t.quit();
    let core = dir.join("core");
    assert!(core.is_file(), "no core in {}:\n{err}", dir.display());
    let own = parse_dump(&err);
    let doc = json(&[bin.to_str().unwrap(), core.to_str().unwrap()]);
    assert_eq!(doc["source"], "core");
    let ours = from_json(&doc);
    // The goroutines that were running got the signal themselves; each
    // thread's g0 (goroutine 0) is no goroutine.
    let running: Vec<i64> = own
        .iter()
        .filter(|(_, s)| s.status == "running")
        .map(|(i, _)| *i)
        .chain([0])
        .collect();
    let n = assert_agree(&own, &ours, &running, "Go core");
    assert!(n >= 12, "compared {n}:\n{err}");
    // Every M ends in Go's crash handler (each is sent SIGQUIT in turn), so
    // the goroutines on them are unwound from their threads' registers in
    // the handler, through the signal frame, back to the code the signal
    // interrupted (a named frame: the kernel's saved context was read).
    let through_signal: Vec<Vec<&str>> = doc["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g["frames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["func"].as_str().unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|funcs| {
            funcs
                .iter()
                .position(|f| *f == "<signal handler called>")
                .is_some_and(|i| {
                    funcs[..i].contains(&"runtime.sigtramp")
                        && funcs.get(i + 1).is_some_and(|f| *f != "??")
                })
        })
        .collect();
    assert!(
        !through_signal.is_empty(),
        "no goroutine in the crash handler:\n{doc}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Where a parked worker of `parked` stands, in one build's text dump.
struct ParkedWorker<'a> {
    /// Its first frame in the program's own code.
    func: &'a str,
    /// The source file (a path ending in it) and the line of the receive.
    file: &'a str,
    line: u32,
    /// The `created by` line and the line of the `go` statement.
    created_by: &'a str,
    go_line: u32,
}

/// Every one of the `n` parked workers is in gdbx's text dump `text`:
/// status `chan receive`, its first user frame `w.func` at `w.file:w.line`
/// (with the pc offset of a real frame), and `created by` at the `go`
/// statement; goroutine 1 runs main.ready.
fn assert_parked_dump(text: &str, n: usize, w: &ParkedWorker, what: &str) {
    let workers: Vec<&str> = text
        .split("\n\n")
        .filter(|b| b.lines().any(|l| l == format!("{}(...)", w.func)))
        .collect();
    assert_eq!(workers.len(), n, "{what}: {} workers:\n{text}", w.func);
    // A frame's second line: `\tFILE:LINE`, and ` +0xOFFSET` for a frame
    // of a function (not inlined into it).
    let at_line = |l: &str, line: u32, offset: bool| {
        let Some(loc) = l.strip_prefix('\t') else {
            return false;
        };
        let (loc, off) = loc.split_once(" +0x").unwrap_or((loc, ""));
        loc.ends_with(&format!("{}:{line}", w.file)) && (!offset || !off.is_empty())
    };
    for b in &workers {
        let lines: Vec<&str> = b.lines().collect();
        assert!(
            lines[0].starts_with("goroutine ") && lines[0].ends_with(" [chan receive]:"),
            "{what}:\n{b}"
        );
        let at = lines
            .iter()
            .position(|l| *l == format!("{}(...)", w.func))
            .unwrap();
        assert!(
            at_line(lines[at + 1], w.line, true),
            "{what}: {} at {}:{}:\n{b}",
            w.func,
            w.file,
            w.line
        );
        let by = lines
            .iter()
            .position(|l| *l == w.created_by)
            .unwrap_or_else(|| panic!("{what}: no {:?}:\n{b}", w.created_by));
        assert!(
            by + 2 == lines.len() && at_line(lines[by + 1], w.go_line, false),
            "{what}: created at {}:{}, last:\n{b}",
            w.file,
            w.go_line
        );
    }
    let seen = parse_dump(text);
    let parked = seen
        .values()
        .filter(|s| s.status == "chan receive" && s.user.as_deref() == Some(w.func))
        .count();
    assert_eq!(parked, n, "{what}: {seen:?}");
    // The main goroutine runs main.ready on its thread (in the release
    // build under black_box, inlined into it).
    assert_eq!(
        seen.get(&1).map(|s| (s.status.as_str(), s.user.as_deref())),
        Some(("running", Some("main.ready"))),
        "{what}:\n{text}"
    );
}

/// `gdbx goroutines BINARY CORE` on the builds the other tests here do not
/// dump: our runtime's release build of `parked` and the Go twin's plain
/// (optimised, inlined), PIE and cgo builds, each stopped in main.ready
/// with 20 workers parked in a receive. The cores are the fixture cores the
/// inspection core's tests use (written by gdb's gcore, reused while the
/// binary is unchanged). Cost: the release build of `parked` and three Go
/// builds once per process, a gdb run for each core older than its binary
/// (about 10 s when all four are written, 3 s when they are reused), four
/// gdbx runs of a few milliseconds.
#[test]
fn cores_of_release_plain_pie_and_cgo_builds() {
    gdbx_tests::require_gdb!();
    const N: usize = 20;
    let ours_src = std::fs::read_to_string(workspace_root().join("examples/src/bin/parked.rs"))
        .expect("read parked.rs");
    let ours = ParkedWorker {
        func: "parked::waiter",
        file: "examples/src/bin/parked.rs",
        line: line_of(&ours_src, "ch.recv()"),
        created_by: "created by main.main in goroutine 1",
        go_line: line_of(&ours_src, "runtime::go(move || waiter(ch, wg))"),
    };
    let go = ParkedWorker {
        func: "main.worker",
        file: "main.go",
        line: line_of(GO_PARKED, "<-c"),
        created_by: "created by main.main",
        go_line: line_of(GO_PARKED, "go func()"),
    };
    let mut builds = vec![(
        example_bin("parked", Variant::Release),
        "parked-release".to_string(),
        &ours,
    )];
    for build in [GoBuild::Plain, GoBuild::Pie, GoBuild::Cgo] {
        builds.push((go_parked(build), format!("go-parked-{build:?}"), &go));
    }
    for (bin, name, worker) in builds {
        let core = gcore_at(&bin, &[&N.to_string()], "main.ready", &name);
        let out = gdbx(&[bin.to_str().unwrap(), core.to_str().unwrap()]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{name}: {}", stderr(&out));
        assert_parked_dump(&stdout(&out), N, worker, &name);
    }
}

#[test]
fn ours_live_dump_agrees_with_sigquit_dump() {
    let bin = ours_stuck();
    let t = Target::start(&bin, false, &["20"], None, &[]);
    let doc = json(&[&t.pid()]);
    let text = gdbx(&[&t.pid(), "--status", "waiting"]);
    let own = parse_dump(&t.quit());
    let ours = from_json(&doc);
    // Goroutine 1 is in a system call: the runtime's dump starts where it
    // entered it (as Go's), ours from its thread, whose first frame of
    // the program is the closure that called read(2) (compared below).
    let n = assert_agree(&own, &ours, &[1], "ours live");
    assert!(n >= 21, "compared {n}: {own:?}");
    let (own1, ours1) = (&own[&1], &ours[&1]);
    assert_eq!(
        (&ours1.status, &ours1.created),
        (&own1.status, &own1.created)
    );
    let waiters = ours
        .values()
        .filter(|s| s.status == "chan receive" && s.user.as_deref() == Some("stuck::waiter"))
        .count();
    assert_eq!(waiters, 20);
    let spin = doc["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["status"] == "running")
        .expect("the spinner runs");
    assert_eq!(spin["unwound_from"], "registers");
    assert_eq!(
        spin["location"].as_str().unwrap().split(' ').next(),
        Some("stuck::spinner")
    );
    // Main blocks reading its stdin, in libc's read(2): a C frame outside
    // the binary, named from the library's own symbols and unwound with
    // its CFI, then the closure that called it, the runtime's system call
    // wrapper and main (the runtime's own dump starts there).
    let main = doc["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == 1)
        .expect("goroutine 1");
    let f = |i: usize| &main["frames"][i];
    assert!(
        f(0)["func"].as_str().unwrap().ends_with("read")
            && f(0)["file"].as_str().unwrap().contains("libc.so")
            && f(1)["func"] == "stuck::main::{{closure}}"
            && f(2)["func"] == "runtime::syscall::syscall"
            && f(3)["func"].as_str() == own1.user.as_deref(),
        "{main}"
    );
    // The status filter, on the text.
    let text = stdout(&text);
    assert_eq!(parse_dump(&text).len(), 22, "{text}");
}

/// Dumps at random moments of a busy program: `chanstorm` (goroutines
/// created, parked, woken and exiting on two Ps all the time) is dumped
/// over and over while it runs, under both GOMAXPROCS=1 and 2. Each dump
/// stops every thread wherever it is - inside the scheduler, a context
/// switch, a futex, a system call - and must still be a whole, true
/// document: exit 0, no undecodable entry, every goroutine with a status
/// and either frames whose innermost one is named or the reason it has
/// none. And the program, stopped and let go each time, must still finish
/// with every checksum right.
#[test]
fn dumps_at_random_moments_of_a_busy_program_are_whole() {
    const DUMPS: usize = 8;
    let bin = example_bin("chanstorm", Variant::Debug);
    for procs in ["1", "2"] {
        let (mut dumps, mut runs, mut seen) = (0, 0, 0);
        // Run after run of it, dumped until it exits, until enough dumps.
        while dumps < DUMPS {
            assert!(runs < 4 * DUMPS, "{runs} runs ended before {DUMPS} dumps");
            let mut child = Command::new(&bin)
                .arg("10")
                .env("GOMAXPROCS", procs)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start chanstorm");
            let dog = Watchdog::arm(&child, LIMIT);
            let pid = child.id().to_string();
            // Its first storm done: the runtime is up (a dump before then
            // says it is not initialised yet, rightly).
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut text = String::new();
            stdout.read_line(&mut text).unwrap();
            // Until it exits: a dump that finds it gone says so (exit 5).
            loop {
                let out = watched(goroutines().args([pid.as_str(), "--format", "json"]));
                if code(&out) == 5 {
                    break;
                }
                assert_eq!(code(&out), 0, "dump {dumps}: {}", stderr(&out));
                let doc: serde_json::Value =
                    serde_json::from_slice(&out.stdout).expect("one JSON document");
                assert_eq!(doc["bad"], serde_json::json!([]), "dump {dumps}");
                for g in doc["goroutines"].as_array().unwrap() {
                    let frames = g["frames"].as_array().unwrap();
                    assert!(!g["status"].as_str().unwrap().is_empty(), "{g}");
                    assert!(
                        !frames.is_empty() || g["no_stack"].is_string(),
                        "dump {dumps}: no frames and no reason: {g}"
                    );
                    // Named, or at least placed in a library (a stripped
                    // libc's local functions have no symbol: `??` in
                    // libc.so.6, as gdb says); never nowhere.
                    if let Some(f) = frames.first() {
                        assert!(
                            f["func"] != "??" || f["file"].as_str().unwrap().starts_with('/'),
                            "dump {dumps}: {g}"
                        );
                    }
                    seen += 1;
                }
                dumps += 1;
            }
            stdout.read_to_string(&mut text).unwrap();
            let out = child.wait_with_output().unwrap();
            dog.disarm();
            assert!(
                out.status.success() && text.lines().any(|l| l == "chanstorm ok"),
                "GOMAXPROCS={procs}, run {runs}, after {dumps} dumps: {}\n{text}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            runs += 1;
        }
        eprintln!("GOMAXPROCS={procs}: {dumps} dumps in {runs} runs, {seen} goroutines");
    }
}

/// Our runtime's GOTRACEBACK=crash on a deadlock: its report, then SIGABRT
/// and a kernel core. gdbx's dump of that core agrees with the report
/// (statuses, first frames, creators), and the goroutine wired to its
/// thread (`crash_deadlock locked`) says so in its header in both, as Go's
/// `goroutine 1 [chan send, locked to thread]:` does.
#[test]
fn ours_kernel_core_of_a_deadlock_agrees_with_its_report() {
    let bin = example_bin("crash_deadlock", Variant::Debug);
    let dir = scratch("goroutines-ours-deadlock-core");
    let mut cmd = Command::new(&bin);
    cmd.arg("locked")
        .env("GOTRACEBACK", "crash")
        .current_dir(&dir);
    allow_core_dumps(&mut cmd);
    let out = watched(&mut cmd);
    let report = stderr(&out);
    let core = dir.join("core");
    assert!(core.is_file(), "no core in {}:\n{report}", dir.display());
    let locked = "goroutine 1 [chan send, locked to thread]:";
    assert!(report.contains(locked), "{report}");
    let doc = json(&[bin.to_str().unwrap(), core.to_str().unwrap()]);
    let n = assert_agree(
        &parse_dump(&report),
        &from_json(&doc),
        &[],
        "ours deadlock core",
    );
    assert!(n >= 2, "compared {n}:\n{report}");
    let text = gdbx(&[bin.to_str().unwrap(), core.to_str().unwrap()]);
    assert!(stdout(&text).contains(locked), "{}", stdout(&text));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ours_core_from_gcore_shows_every_goroutine() {
    gdbx_tests::require_gdb!();
    let bin = ours_stuck();
    let core = gdbx_tests::cores::gcore_at(&bin, &["7"], "main.ready", "stuck-ready");
    let doc = json(&[bin.to_str().unwrap(), core.to_str().unwrap()]);
    let ours = from_json(&doc);
    let waiters = ours
        .values()
        .filter(|s| s.status == "chan receive" && s.user.as_deref() == Some("stuck::waiter"))
        .count();
    assert_eq!(waiters, 7, "{ours:?}");
    // main stopped in main.ready, on its thread: unwound from the registers.
    let main = &doc["goroutines"][0];
    assert_eq!(main["unwound_from"], "registers", "{main}");
    assert_eq!(main["frames"][0]["func"], "main.ready", "{main}");
}

#[test]
fn filters_grouping_and_no_stacks() {
    let bin = ours_stuck();
    let t = Target::start(&bin, false, &["6"], None, &[]);
    let pid = t.pid();
    let out = gdbx(&[&pid, "--location", "waiter", "--limit", "2"]);
    let text = stdout(&out);
    assert_eq!(parse_dump(&text).len(), 2, "{text}");
    assert!(
        text.contains("(4 more goroutines not shown; --limit N to change)"),
        "{text}"
    );
    let out = gdbx(&[&pid, "--group"]);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("6 ") && l.contains("stuck::waiter")),
        "{text}"
    );
    let out = gdbx(&[&pid, "--no-stacks", "--status", "waiting"]);
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.contains("chan receive")).count(),
        6,
        "{text}"
    );
    let out = gdbx(&[&pid, "--nonblocking"]);
    let text = stdout(&out);
    assert!(
        text.lines().next().unwrap().contains("may be inconsistent"),
        "{text}"
    );
    assert_eq!(
        parse_dump(&text)
            .values()
            .filter(|s| s.user.as_deref() == Some("stuck::waiter"))
            .count(),
        6
    );
    let doc = json(&[&pid, "--nonblocking"]);
    assert_eq!(doc["consistent"], false);
    assert!(doc["paused_ms"].is_null());
    let out = gdbx(&[&pid, "--status", "sleepy"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("unknown status \"sleepy\""),
        "{}",
        stderr(&out)
    );
}

/// One line on stderr, naming the problem, and the documented status.
fn assert_fails(out: &std::process::Output, status: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(code(out), status, "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("gdbx: ") && err.contains(needle), "{err}");
    assert!(out.stdout.is_empty(), "{}", stdout(out));
}

/// Our runtime stamps `G.waitsince` as Go's does (approximately: sysmon,
/// at the latest when it goes idle or a second later), so a live program's
/// waiting goroutines say how long they have waited in `info goroutines`.
/// `stuck nospin` goes idle once ready; gdb attaches until the stamps are
/// there (each try is a fresh attach; the stamps come within a second).
#[test]
fn ours_waiting_goroutines_say_how_long_in_gdb() {
    gdbx_tests::require_gdb!();
    let bin = ours_stuck();
    let t = Target::start(&bin, false, &["5", "nospin"], None, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut g = gdbx_tests::gdb::Gdb::new(&bin);
        g.extension()
            .ex(format!("attach {}", t.pid()))
            .block("g", &["info goroutines -location stuck::"]);
        let o = g.run_unchecked();
        let table = o.block("g");
        let timed = table.matches("waiting (chan receive, ").count();
        if timed == 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no wait durations after 20 s:\n{}",
            o.all
        );
    }
}

#[test]
fn bad_processes() {
    assert_fails(&gdbx(&["4194999"]), 5, "no process 4194999");
    assert_fails(&gdbx(&["abc"]), 2, "is not a process id");
    // Neither Go nor ours.
    let mut sleep = Command::new("sleep").arg("100").spawn().unwrap();
    let out = gdbx(&[&sleep.id().to_string()]);
    let _ = sleep.kill();
    let _ = sleep.wait();
    assert_fails(&out, 2, "neither");
    let bin = ours_stuck();
    let t = Target::start(&bin, false, &["2"], None, &[]);
    // ptrace refused, as the kernel refuses it to another user (the seam
    // returns the kernel's EPERM).
    let out = watched(goroutines().arg(t.pid()).env("GDBX_PTRACE_REFUSE", "1"));
    assert_fails(&out, 4, "ptrace refused");
    assert!(stderr(&out).contains("--nonblocking"));
    // Already traced, as by a debugger: this thread seizes the program's
    // main thread, and the line names the tracer (its thread id).
    let pid: libc::pid_t = t.pid().parse().unwrap();
    // SAFETY: plain system calls on our own child; the seize is undone
    // below (interrupt, wait for the stop, detach) on this same thread.
    let (seized, me) = unsafe {
        (
            libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, 0usize) == 0,
            libc::gettid(),
        )
    };
    assert!(seized, "PTRACE_SEIZE: {}", std::io::Error::last_os_error());
    let out = watched(goroutines().arg(t.pid()));
    // SAFETY: as above.
    unsafe {
        libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0usize, 0usize);
        libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
        libc::ptrace(libc::PTRACE_DETACH, pid, 0usize, 0usize);
    }
    assert_fails(&out, 4, "it is already traced by ");
    assert!(
        stderr(&out).contains(&format!("(pid {me})")),
        "{}",
        stderr(&out)
    );
    // Really another user: nobody may not look at root's process.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // nobody runs a copy of gdbx in a folder it may enter: the build's
        // own target dir may sit below one only root can (a mktemp clone).
        let dir = std::env::temp_dir().join(format!("gdbx-as-nobody-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("gdbx");
        std::fs::copy(env!("CARGO_BIN_EXE_gdbx"), &copy).unwrap();
        for p in [&dir, &copy] {
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let mut cmd = Command::new(&copy);
        cmd.arg("goroutines").arg(t.pid());
        // SAFETY: setgid/setuid are async-signal-safe; in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = watched(&mut cmd);
        let _ = std::fs::remove_dir_all(&dir);
        assert_fails(&out, 4, "cannot read the executable");
    }
    // The process exits while it is being dumped (the seam kills it once
    // its threads are stopped).
    let out = watched(
        goroutines()
            .arg(t.pid())
            .env("GDBX_GOROUTINES_KILL_TARGET", "1"),
    );
    assert_fails(&out, 5, "exited during the dump");
}

#[test]
fn bad_cores() {
    gdbx_tests::require_gdb!();
    let ours = ours_stuck();
    let core = gdbx_tests::cores::gcore_at(&ours, &["7"], "main.ready", "stuck-ready");
    let dir = scratch("goroutines-bad-cores");
    // A core of another binary.
    let go = go_stuck();
    let out = gdbx(&[go.to_str().unwrap(), core.to_str().unwrap()]);
    assert_fails(&out, 2, "was not dumped from");
    // Truncated.
    let data = std::fs::read(&core).unwrap();
    let cut = dir.join("truncated.core");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    assert_fails(
        &gdbx(&[ours.to_str().unwrap(), cut.to_str().unwrap()]),
        2,
        "truncated",
    );
    // Garbage.
    let junk = dir.join("garbage.core");
    std::fs::write(
        &junk,
        (0..5000u32).map(|i| (i * 7919) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    assert_fails(
        &gdbx(&[ours.to_str().unwrap(), junk.to_str().unwrap()]),
        2,
        "not an ELF file",
    );
    let empty = dir.join("empty.core");
    std::fs::write(&empty, b"").unwrap();
    assert_fails(
        &gdbx(&[ours.to_str().unwrap(), empty.to_str().unwrap()]),
        2,
        "empty.core",
    );
    // Not a core at all: the binary itself.
    assert_fails(
        &gdbx(&[ours.to_str().unwrap(), ours.to_str().unwrap()]),
        2,
        "not a core file",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A core that plain gdb wrote (`generate-core-file`, no extension, the
/// default guard pages): gdb writes our guarded stack chunks as zeros. The
/// stacks read, but hold nothing: the dump refuses it as it refuses a core
/// that left the stacks out, and says how to get one that has them.
#[test]
fn core_from_plain_gdb_with_zeroed_stacks_is_refused() {
    gdbx_tests::require_gdb!();
    let bin = ours_stuck();
    let dir = scratch("goroutines-plain-gcore");
    let core = dir.join("plain.core");
    let out = gdbx_tests::gdb::Gdb::new(&bin)
        .env("GOMAXPROCS", "2")
        .ex("break main.ready")
        .ex("run 7")
        .ex(format!("generate-core-file {}", core.display()))
        .ex("kill")
        .run_unchecked();
    assert!(core.is_file(), "gdb wrote no core:\n{}", out.all);
    let out = gdbx(&[bin.to_str().unwrap(), core.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_fails(&out, 6, "holds none of the");
    assert!(
        stderr(&out).contains("`gcore` in gdbx's gdb"),
        "{}",
        stderr(&out)
    );
}

/// A core without the goroutine stacks (what a dumper writes when it
/// cannot copy the stacks' mappings: gdb's gcore on guarded stacks, a
/// kernel's coredump_filter): made from a good core by marking the
/// segments that hold the stacks as not dumped. The dump says so instead
/// of printing garbage.
#[test]
fn core_without_goroutine_stacks_is_refused() {
    gdbx_tests::require_gdb!();
    let bin = ours_stuck();
    let core = gdbx_tests::cores::gcore_at(&bin, &["7"], "main.ready", "stuck-ready");
    let doc = json(&[bin.to_str().unwrap(), core.to_str().unwrap()]);
    let sps: Vec<u64> = doc["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["unwound_from"] == "saved")
        .filter_map(|g| g["frames"][0]["sp"].as_u64())
        .collect();
    assert!(sps.len() >= 8, "{doc}");
    let mut data = std::fs::read(&core).unwrap();
    let word = |d: &[u8], o: usize, n: usize| {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&d[o..o + n]);
        u64::from_le_bytes(v)
    };
    let (phoff, phnum) = (word(&data, 0x20, 8) as usize, word(&data, 0x38, 2) as usize);
    let mut cut = 0;
    for i in 0..phnum {
        let ph = phoff + i * 56;
        let (vaddr, memsz) = (word(&data, ph + 16, 8), word(&data, ph + 40, 8));
        if word(&data, ph, 4) == 1 && sps.iter().any(|&sp| sp >= vaddr && sp < vaddr + memsz) {
            data[ph + 32..ph + 40].copy_from_slice(&0u64.to_le_bytes());
            cut += 1;
        }
    }
    assert!(cut > 0);
    let dir = scratch("goroutines-stackless");
    let stackless = dir.join("stackless.core");
    std::fs::write(&stackless, &data).unwrap();
    let out = gdbx(&[bin.to_str().unwrap(), stackless.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_fails(&out, 6, "holds none of the");
    assert!(stderr(&out).contains("GOTRACEBACK=crash"));
}

/// `--format json` with `--no-stacks` holds every goroutine that passes
/// the filters, each with its location and no frames (not unwound); with
/// `--group`, the groups (location, count, statuses, goroutine ids)
/// instead; with `--limit`, how many it leaves out. Cost: one short run
/// of `stuck`.
#[test]
fn json_without_stacks_or_grouped_holds_the_goroutines() {
    let bin = ours_stuck();
    let t = Target::start(&bin, false, &["6"], None, &[]);
    let pid = t.pid();
    let full = json(&[&pid]);
    let all: Vec<i64> = full["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    let doc = json(&[&pid, "--no-stacks"]);
    let gs = doc["goroutines"].as_array().expect("goroutines");
    let ids: Vec<i64> = gs.iter().map(|g| g["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, all, "{doc}");
    assert_eq!(doc["matched"], all.len());
    assert_eq!(doc["not_shown"], 0);
    for g in gs {
        assert!(
            !g["location"].as_str().unwrap().is_empty()
                && g["frames"].as_array().unwrap().is_empty()
                && g["unwound_from"].is_null(),
            "{g}"
        );
    }
    let waiters = |gs: &[serde_json::Value]| {
        gs.iter()
            .filter(|g| g["location"].as_str().unwrap().starts_with("stuck::waiter"))
            .count()
    };
    assert_eq!(waiters(gs), 6, "{doc}");
    // Limited: how many matched, how many were left out.
    let doc = json(&[&pid, "--no-stacks", "--location", "waiter", "--limit", "2"]);
    assert_eq!(doc["goroutines"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(
        (doc["matched"].as_u64(), doc["not_shown"].as_u64()),
        (Some(6), Some(4))
    );
    // Grouped: the six waiters are one location.
    let doc = json(&[&pid, "--group"]);
    assert!(doc.get("goroutines").is_none(), "{doc}");
    let groups = doc["groups"].as_array().expect("groups");
    let sum: u64 = groups.iter().map(|g| g["count"].as_u64().unwrap()).sum();
    assert_eq!(sum as usize, all.len(), "{doc}");
    let first = &groups[0];
    assert!(
        first["location"]
            .as_str()
            .unwrap()
            .starts_with("stuck::waiter"),
        "{doc}"
    );
    assert_eq!(first["count"], 6);
    assert_eq!(first["statuses"]["chan receive"], 6, "{first}");
    let mut gids: Vec<i64> = first["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_i64().unwrap())
        .collect();
    gids.sort_unstable();
    let mut want: Vec<i64> = full["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["location"].as_str().unwrap().starts_with("stuck::waiter"))
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    want.sort_unstable();
    assert_eq!(gids, want);
    let doc = json(&[&pid, "--group", "--limit", "1"]);
    assert_eq!(doc["groups"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["groups_not_shown"], groups.len() - 1);
    assert_eq!(doc["not_shown"], all.len() - 6);
}

/// Every hint of `gdbx goroutines` speaks the CLI's spelling (`--limit`,
/// not gdb's `-limit`), and a filter that matches nothing says so (exit
/// status 0, as for a dump). Cost: one short run of `stuck`.
#[test]
fn limit_hints_and_empty_matches_speak_the_cli() {
    let bin = ours_stuck();
    let t = Target::start(&bin, false, &["6"], None, &[]);
    let pid = t.pid();
    for args in [
        &[&pid, "--group", "--limit", "1"][..],
        &[&pid, "--no-stacks", "--limit", "2"][..],
        &[&pid, "--limit", "2"][..],
    ] {
        let out = gdbx(args);
        let text = stdout(&out);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(
            text.contains("not shown; --limit N to change)") && !text.contains("; -limit"),
            "{args:?}:\n{text}"
        );
    }
    for extra in [&[][..], &["--no-stacks"][..], &["--group"][..]] {
        let mut args = vec![pid.as_str(), "--location", "no-such-function"];
        args.extend(extra);
        let out = gdbx(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.lines()
                .any(|l| l.starts_with("no goroutine matches --location \"no-such-function\" (of ")),
            "{args:?}:\n{text}"
        );
    }
    let doc = json(&[&pid, "--location", "no-such-function"]);
    assert_eq!(doc["matched"], 0);
    assert!(doc["goroutines"].as_array().unwrap().is_empty());
}

/// A core of the non-PIE build of the Go twin given with its PIE build:
/// refused as a core of another binary (exit 2), as every other pairing
/// of the fixture cores and builds is, not read at the PIE's addresses.
/// Cost: the Plain and PIE builds of `parked` and their fixture cores
/// (shared with `cores_of_release_plain_pie_and_cgo_builds`).
#[test]
fn pie_binary_with_a_core_of_another_build_is_refused() {
    gdbx_tests::require_gdb!();
    const N: usize = 20;
    let builds = [GoBuild::Plain, GoBuild::Pie];
    let cores: Vec<(PathBuf, PathBuf)> = builds
        .iter()
        .map(|&b| {
            let bin = go_parked(b);
            let core = gcore_at(
                &bin,
                &[&N.to_string()],
                "main.ready",
                &format!("go-parked-{b:?}"),
            );
            (bin, core)
        })
        .collect();
    let (plain, plain_core) = &cores[0];
    let (pie, pie_core) = &cores[1];
    let out = gdbx(&[pie.to_str().unwrap(), plain_core.to_str().unwrap()]);
    assert_fails(&out, 2, "was not dumped from");
    assert!(
        stderr(&out).contains("(not a PIE), the binary's ") && stderr(&out).contains("(a PIE)"),
        "{}",
        stderr(&out)
    );
    let out = gdbx(&[plain.to_str().unwrap(), pie_core.to_str().unwrap()]);
    assert_fails(&out, 2, "was not dumped from");
}

/// A kernel core of a process whose `coredump_filter` was 0 (no private
/// memory dumped: not the runtime's data, heap or stacks) is refused with
/// the cause and the way out (exit 6), not as an unreadable runtime; and
/// given with the PIE build (no header page in that core to compare) it is
/// refused as a core of another binary, from its entry point. Cost: one
/// short run of the Go twin (a core of about 100 KB), the PIE build.
#[test]
fn go_core_with_coredump_filter_0_names_the_filter() {
    let bin = go_stuck();
    let dir = scratch("goroutines-coredump-filter");
    let t = Target::start(&bin, true, &["3"], Some(&dir), &[("GOTRACEBACK", "crash")]);
    std::fs::write(format!("/proc/{}/coredump_filter", t.pid()), "0").unwrap();
    let err = t.quit();
    let core = dir.join("core");
    assert!(core.is_file(), "no core in {}:\n{err}", dir.display());
    let out = gdbx(&[bin.to_str().unwrap(), core.to_str().unwrap()]);
    assert_fails(&out, 6, "holds none of the process's private memory");
    let e = stderr(&out);
    assert!(
        e.contains("coredump_filter") && e.contains("0x33") && e.contains("gcore"),
        "{e}"
    );
    let pie = go_program("stuck-pie", GO_STUCK, true);
    let out = gdbx(&[pie.to_str().unwrap(), core.to_str().unwrap()]);
    assert_fails(&out, 2, "was not dumped from");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `gdbx goroutines ARGS...` as user nobody (from a copy of gdbx in a
/// folder nobody may enter); None unless this test runs as root.
fn as_nobody(args: &[&str]) -> Option<std::process::Output> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("gdbx-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("gdbx");
    std::fs::copy(env!("CARGO_BIN_EXE_gdbx"), &copy).unwrap();
    for p in [&dir, &copy] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let mut cmd = Command::new(&copy);
    cmd.arg("goroutines").args(args);
    // SAFETY: setgid/setuid are async-signal-safe; in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = watched(&mut cmd);
    let _ = std::fs::remove_dir_all(&dir);
    Some(out)
}

/// A refused look into a process names its real cause, and suggests
/// `--nonblocking` only where that works (reading the memory needs the
/// same permission as ptrace, except for another tracer): another user's
/// process (root's, looked at as nobody) says run as root or as that user,
/// also with `--nonblocking`; a process already traced suggests it, and it
/// works; a process root may not look into (PID 1 of a sandbox) is not
/// called another user's. Cost: one short run of `stuck`.
#[test]
fn ptrace_refusals_name_the_cause_and_suggest_only_what_works() {
    let bin = ours_stuck();
    let t = Target::start(&bin, false, &["2"], None, &[]);
    let pid = t.pid();
    for extra in [&[][..], &["--nonblocking"][..]] {
        let mut args = vec![pid.as_str()];
        args.extend(extra);
        if let Some(out) = as_nobody(&args) {
            assert_fails(
                &out,
                4,
                "it belongs to another user, root (uid 0; you are uid 65534)",
            );
            let e = stderr(&out);
            assert!(
                e.contains("run as root or as that user") && !e.contains("with --nonblocking"),
                "{args:?}: {e}"
            );
        }
    }
    // Traced already (by this thread): the one refusal --nonblocking gets
    // past, and it does.
    let p: libc::pid_t = pid.parse().unwrap();
    // SAFETY: plain system calls on our own child; the seize is undone
    // below (interrupt, wait for the stop, detach) on this same thread.
    let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, p, 0usize, 0usize) == 0 };
    assert!(seized, "PTRACE_SEIZE: {}", std::io::Error::last_os_error());
    let refused = watched(goroutines().arg(&pid));
    let read = watched(goroutines().args([&pid, "--nonblocking"]));
    // SAFETY: as above.
    unsafe {
        libc::ptrace(libc::PTRACE_INTERRUPT, p, 0usize, 0usize);
        libc::waitpid(p, std::ptr::null_mut(), libc::__WALL);
        libc::ptrace(libc::PTRACE_DETACH, p, 0usize, 0usize);
    }
    assert_fails(&refused, 4, "it is already traced by ");
    assert!(
        stderr(&refused).ends_with("with --nonblocking\n"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(code(&read), 0, "{}", stderr(&read));
    assert!(
        parse_dump(&stdout(&read))
            .values()
            .any(|s| s.user.as_deref() == Some("stuck::waiter")),
        "{}",
        stdout(&read)
    );
    // PID 1: another user's unless we are root; refused to root all the
    // same where a security policy guards it, and then not called so.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let out = gdbx(&["1"]);
    if code(&out) == 4 {
        let e = stderr(&out);
        assert_eq!(root, !e.contains("another user"), "{e}");
        assert!(!e.contains("with --nonblocking"), "{e}");
    }
}

/// The function names of each goroutine's frames in a Go-format dump, by
/// goroutine id (`<signal handler called>` included, as printed).
fn frame_names(text: &str) -> BTreeMap<i64, Vec<String>> {
    let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut cur = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("goroutine ")
            && let Some((id, _)) = rest.split_once(" [")
            && let Ok(id) = id.parse::<i64>()
        {
            cur = Some(id);
            out.insert(id, Vec::new());
        } else if line.is_empty() || line.starts_with("created by ") {
            cur = None;
        } else if let Some(id) = cur
            && !line.starts_with('\t')
        {
            let name = line.strip_suffix("(...)").unwrap_or(line);
            out.get_mut(&id).unwrap().push(name.to_string());
        }
    }
    out
}

/// Whether `frames` holds `want` in this order (others may come between).
fn in_order(frames: &[String], want: &[&str]) -> bool {
    let mut it = frames.iter();
    want.iter().all(|w| it.any(|f| f == w))
}

/// The goroutine whose frames include `func`, as (id, frames).
fn goroutine_with<'a>(
    dump: &'a BTreeMap<i64, Vec<String>>,
    func: &str,
    text: &str,
) -> (i64, &'a Vec<String>) {
    dump.iter()
        .find(|(_, fs)| fs.iter().any(|f| f == func))
        .map(|(id, fs)| (*id, fs))
        .unwrap_or_else(|| panic!("no goroutine at {func}:\n{text}"))
}

/// Goroutines in cgo calls, live: each one's C frames are unwound with the
/// CFI of the file they are in (libc's own for `sleep`), and past
/// runtime.asmcgocall on g0 its Go frames follow from where it entered the
/// call (G.syscallpc/sp), as Go's traceback shows them; a Go function
/// called back from C goes on through runtime.cgocallback and
/// systemstack_switch into the cgo call that made it. No frame is garbage
/// (`??`), and no stack is cut short. Cost: one cgo build.
#[test]
fn cgo_calls_unwind_through_c_and_back_into_go() {
    let bin = go_program("cgocalls", gdbx_tests::cores::GO_CGO_CALLS, false);
    let t = Target::start(&bin, false, &[], None, &[]);
    let out = gdbx(&[&t.pid()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let dump = frame_names(&text);
    let (_, sleeping) = goroutine_with(&dump, "main._Cfunc_c_sleep", &text);
    assert!(
        in_order(
            sleeping,
            &[
                "clock_nanosleep",
                "sleep",
                "runtime.asmcgocall",
                "runtime.cgocall",
                "main._Cfunc_c_sleep",
                "main.main.func1",
                "runtime.goexit",
            ]
        ),
        "{text}"
    );
    let (_, spinning) = goroutine_with(&dump, "main._Cfunc_c_spin", &text);
    assert!(
        in_order(
            spinning,
            &[
                "c_spin",
                "runtime.asmcgocall",
                "runtime.cgocall",
                "main._Cfunc_c_spin",
                "main.main.func2",
                "runtime.goexit",
            ]
        ),
        "{text}"
    );
    let (_, called_back) = goroutine_with(&dump, "main.goCallback", &text);
    assert!(
        in_order(
            called_back,
            &[
                "time.Sleep",
                "main.goCallback",
                "runtime.cgocallback",
                "runtime.systemstack_switch",
                "runtime.cgocall",
                "main._Cfunc_c_calls_go",
                "main.main.func3",
                "runtime.goexit",
            ]
        ),
        "{text}"
    );
    assert!(!text.contains("??("), "a garbage frame:\n{text}");
    assert!(
        !text.contains(inspect::unwind::CUT_MARKER),
        "a stack cut short:\n{text}"
    );
}

/// Our runtime's goroutine blocked in libc's `read`: libc's CFI (read has
/// no frame pointer) gives its real caller, the closure handed to
/// runtime::syscall::syscall, not the frame-pointer chain's guess, which
/// skipped it.
#[test]
fn ours_libc_frames_unwind_with_libc_cfi() {
    let bin = ours_stuck();
    let t = Target::start(&bin, false, &["3"], None, &[]);
    wait_reading_stdin(t.child.id());
    let out = gdbx(&[&t.pid()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let dump = frame_names(&text);
    let (_, reading) = goroutine_with(&dump, "read", &text);
    let at = reading.iter().position(|f| f == "read").unwrap();
    assert_eq!(
        reading.get(at + 1).map(String::as_str),
        Some("stuck::main::{{closure}}"),
        "read's caller:\n{text}"
    );
    assert!(
        in_order(&reading[at..], &["runtime::syscall::syscall", "main.main"]),
        "{text}"
    );
}

/// A kernel core of our stack-overflow crash: the signal handler returns
/// through libc's `__restore_rt`, whose code the core leaves out; it is
/// read from libc's file, so the signal frame is recognised and the
/// faulting frame (recurse, at its first line) follows it.
#[test]
fn ours_core_signal_frame_through_libc_restorer() {
    let bin = example_bin("crash_overflow", Variant::Debug);
    let core = gdbx_tests::cores::crash_core(&bin, &[], &[], "crash-overflow-unwind");
    let out = gdbx(&[bin.to_str().unwrap(), core.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let src = std::fs::read_to_string(workspace_root().join("examples/src/bin/crash_overflow.rs"))
        .unwrap();
    // The fault is in recurse's prologue or its first statement, whichever
    // first touches the guard page.
    let (entry, first) = (
        line_of(&src, "fn recurse("),
        line_of(&src, "let buf = core::hint::black_box"),
    );
    let dump = frame_names(&text);
    let (id, frames) = goroutine_with(&dump, "crash_overflow::recurse", &text);
    let sig = frames
        .iter()
        .position(|f| f == "<signal handler called>")
        .unwrap_or_else(|| panic!("goroutine {id} has no signal frame:\n{text}"));
    assert_eq!(
        frames.get(sig + 1).map(String::as_str),
        Some("crash_overflow::recurse"),
        "{text}"
    );
    let block = &text[text.find(&format!("goroutine {id} [")).unwrap()..];
    let after = &block[block.find("<signal handler called>").unwrap()..];
    assert!(
        (entry..=first).any(|l| after
            .lines()
            .nth(2)
            .is_some_and(|at| at.contains(&format!("crash_overflow.rs:{l} ")))),
        "the faulting frame at lines {entry}-{first}:\n{text}"
    );
}

/// A Go core of SIGQUIT under GOTRACEBACK=crash: every thread is in Go's
/// signal handler on its gsignal stack, the spinning goroutine's too.
/// `--no-stacks` places it through the signal frame, as the full dump
/// does, at main.spinner: not at its stale G.sched, and with no warning
/// that stacks are missing.
#[test]
fn go_crash_core_no_stacks_places_the_running_goroutine() {
    let bin = go_program("crasher", gdbx_tests::cores::GO_CRASHER, false);
    let core = gdbx_tests::cores::crash_core(
        &bin,
        &["quit"],
        &[("GOMAXPROCS", "2"), ("GODEBUG", "asyncpreemptoff=1")],
        "go-crasher-quit",
    );
    let out = gdbx(&[bin.to_str().unwrap(), core.to_str().unwrap(), "--no-stacks"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let spinner = text
        .lines()
        .find(|l| l.contains(" running "))
        .unwrap_or_else(|| panic!("no running goroutine:\n{text}"));
    assert!(spinner.contains(" main.spinner ("), "{text}");
    assert!(!text.contains("not in memory"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
