//! How programs on the runtime fail, checked against Go's behaviour: a
//! panic a goroutine catches is not fatal (recover), an uncaught one is
//! reported as Go does; GOTRACEBACK decides how much a report shows; every
//! fatal path leaves through `runtime.exit(2)`.

mod common;

use std::os::unix::process::ExitStatusExt;

use common::{run, text};
use gdbx_tests::gdb::Gdb;

const RECOVER: &str = env!("CARGO_BIN_EXE_recover");
const CRASH_PANIC: &str = env!("CARGO_BIN_EXE_crash_panic");
const CRASH_DEADLOCK: &str = env!("CARGO_BIN_EXE_crash_deadlock");
const CRASH_OVERFLOW: &str = env!("CARGO_BIN_EXE_crash_overflow");

/// Runs `bin args` with `env`; returns (exit code or None if killed by a
/// signal, the signal, stdout, stderr).
fn outcome(
    bin: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, Option<i32>, String, String) {
    let out = run(bin, args, env);
    (
        out.status.code(),
        out.status.signal(),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn caught_panics_are_not_fatal() {
    for procs in ["1", "2"] {
        for seed in ["1", "2", "3"] {
            let env = [("GOMAXPROCS", procs), ("GDBX_SEED", seed)];
            let (code, _, out, err) = outcome(RECOVER, &["caught", "300"], &env);
            assert_eq!(code, Some(0), "{env:?}: {err}");
            assert_eq!(out, "recovered 300 dropped 300 mutex free\n", "{env:?}");
            assert_eq!(err, "", "a recovered panic prints nothing, as in Go");
        }
    }
}

#[test]
fn uncaught_panic_in_main_reports_goroutine_1() {
    let (code, _, _, err) = outcome(RECOVER, &["main"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("panic: main panics 1\n\ngoroutine 1 [running]:\nrecover::fail(...)\n\t"),
        "{err}"
    );
    assert!(err.contains("\nmain.main(...)\n\t"), "{err}");
    // Go hides the runtime's frames at the default level.
    assert!(
        !err.contains("runtime::") && !err.contains("std::panicking"),
        "{err}"
    );
}

#[test]
fn a_panic_after_a_recovered_one_reports_only_itself() {
    let (code, _, _, err) = outcome(RECOVER, &["again"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.starts_with("panic: second 2\n\ngoroutine "), "{err}");
    assert!(!err.contains("first"), "{err}");
    assert!(
        err.contains("created by main.main in goroutine 1\n\texamples/src/bin/recover.rs:"),
        "{err}"
    );
}

#[test]
fn gotraceback_levels_like_go() {
    let panic_env = |v| [("GOTRACEBACK", v)];
    // none: the message only.
    let (code, _, _, err) = outcome(CRASH_PANIC, &[], &panic_env("none"));
    assert_eq!(
        (code, err.as_str()),
        (Some(2), "panic: boom in goroutine: value 42\n")
    );
    // single (the default): the panicking goroutine, without runtime frames.
    for v in ["", "single"] {
        let (code, _, _, err) = outcome(CRASH_PANIC, &[], &panic_env(v));
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("crash_panic::boom(...)"), "{err}");
        assert!(
            !err.contains("goroutine 1 ["),
            "single: one goroutine: {err}"
        );
        assert!(!err.contains("runtime::"), "{err}");
    }
    // all: every user goroutine too, still no runtime frames or the
    // scavenger.
    let (_, _, _, err) = outcome(CRASH_PANIC, &[], &panic_env("all"));
    assert!(
        err.contains("\n\ngoroutine 1 [chan receive]:\nmain.main(...)\n"),
        "{err}"
    );
    assert!(
        !err.contains("GC scavenge wait") && !err.contains("runtime::"),
        "{err}"
    );
    // system: the runtime's frames and goroutines as well.
    let (_, _, _, err) = outcome(CRASH_PANIC, &[], &panic_env("system"));
    assert!(err.contains("runtime::proc::gopark(...)"), "{err}");
    assert!(err.contains("[GC scavenge wait]:"), "{err}");
    assert!(err.contains("runtime.goexit(...)"), "{err}");
    // crash: the same report, then death by SIGABRT (a core where enabled).
    let (code, sig, _, err) = outcome(CRASH_PANIC, &[], &panic_env("crash"));
    assert_eq!((code, sig), (None, Some(libc::SIGABRT)), "{err}");
    assert!(err.contains("runtime::proc::gopark(...)"), "{err}");

    // A deadlock is Go's `fatal`: every goroutine, at GOTRACEBACK's level.
    let (code, _, _, err) = outcome(CRASH_DEADLOCK, &[], &panic_env("none"));
    assert_eq!(
        (code, err.as_str()),
        (
            Some(2),
            "fatal error: all goroutines are asleep - deadlock!\n"
        )
    );
    // Also when the main goroutine sleeps locked to its thread.
    for procs in ["1", "2"] {
        let (code, _, _, err) = outcome(
            CRASH_DEADLOCK,
            &["locked"],
            &[("GOTRACEBACK", "none"), ("GOMAXPROCS", procs)],
        );
        assert_eq!(
            (code, err.as_str()),
            (
                Some(2),
                "fatal error: all goroutines are asleep - deadlock!\n"
            ),
            "GOMAXPROCS={procs}"
        );
    }
    let (_, _, _, err) = outcome(CRASH_DEADLOCK, &[], &[]);
    assert!(
        err.contains("goroutine 1 [chan send]:\nmain.main(...)\n"),
        "{err}"
    );
    assert!(!err.contains("runtime::"), "{err}");
    // A stack overflow is a runtime throw: the runtime's view whatever the
    // level, every goroutine.
    let (code, _, _, err) = outcome(CRASH_OVERFLOW, &[], &panic_env("none"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("fatal error: stack overflow"), "{err}");
    assert!(err.contains("\ngoroutine 1 [chan receive]:\n"), "{err}");
}

/// The ` fp=0x.. sp=0x.. pc=0x..` of a frame's file:line (Go's
/// `gentraceback` at level 2), parsed; None for a line without them.
fn frame_pointers(line: &str) -> Option<(u64, u64, u64)> {
    let (_, rest) = line.split_once(" fp=0x")?;
    let (fp, rest) = rest.split_once(" sp=0x")?;
    let (sp, pc) = rest.split_once(" pc=0x")?;
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    Some((hex(fp)?, hex(sp)?, hex(pc)?))
}

/// GOTRACEBACK=system (level 2) ends each frame's file:line with Go's
/// ` fp=0x.. sp=0x.. pc=0x..`, as Go 1.19's `gentraceback` prints them for
/// `level >= 2`: the frame's top (its caller's stack pointer), its stack
/// pointer, its pc. So within a goroutine a frame's `sp` is the `fp` of the
/// frame it called, `fp > sp`, and `pc` is at the printed offset into a
/// function. Inlined calls (no frame of their own) and `created by` lines
/// have none; below level 2 no line has them.
#[test]
fn gotraceback_system_prints_fp_sp_pc_like_go() {
    let (code, _, _, err) = outcome(CRASH_PANIC, &[], &[("GOTRACEBACK", "system")]);
    assert_eq!(code, Some(2), "{err}");
    let mut framed = 0;
    for (head, lines) in blocks(&err) {
        let mut callee: Option<u64> = None;
        for l in lines.iter().filter(|l| l.starts_with('\t')) {
            let Some((fp, sp, pc)) = frame_pointers(l) else {
                continue;
            };
            framed += 1;
            assert!(fp > sp, "{head} {l}");
            let off = l.split(" +0x").nth(1).and_then(|r| r.split(' ').next());
            let off = u64::from_str_radix(off.expect("an offset"), 16).unwrap();
            assert!(pc > off, "{head} {l}");
            if let Some(callee_fp) = callee {
                assert_eq!(sp, callee_fp, "{head}: sp is the callee's fp: {l}");
            }
            callee = Some(fp);
        }
        assert!(callee.is_some(), "{head}: no frame with fp/sp/pc:\n{err}");
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with("created by") && l.contains(" fp=")),
            "{err}"
        );
    }
    assert!(framed >= 10, "{err}");
    // The panicking goroutine's own frames have them too.
    let boom = err
        .lines()
        .position(|l| l == "crash_panic::boom(...)")
        .expect(&err);
    assert!(
        frame_pointers(err.lines().nth(boom + 1).unwrap()).is_some(),
        "{err}"
    );
    for level in ["single", "all"] {
        let (_, _, _, err) = outcome(CRASH_PANIC, &[], &[("GOTRACEBACK", level)]);
        assert!(err.contains("crash_panic::boom(...)"), "{err}");
        assert!(!err.contains(" fp=0x"), "GOTRACEBACK={level}: {err}");
    }
}

/// Every fatal path ends in `runtime.exit(2)`, the door a normal exit uses,
/// so a debugger sees the program leave the same way. One gdb run per
/// program (about a second each).
#[test]
fn fatal_exits_leave_through_runtime_exit() {
    gdbx_tests::require_gdb!();
    for bin in [CRASH_PANIC, CRASH_DEADLOCK, CRASH_OVERFLOW] {
        let out = Gdb::new(bin)
            .ex("handle SIGSEGV nostop noprint pass")
            .hits(&["runtime.exit"])
            .ex("run")
            .block("code", &["print $_exitcode"])
            .run();
        let hits = out.hits();
        assert_eq!(hits.len(), 1, "{bin}: {}", out.all);
        assert_eq!(hits[0].symbol, "runtime.exit");
        assert!(out.block("code").contains("= 2"), "{bin}: {}", out.all);
    }
}

/// A runtime throw (Go's `throw`): `fatal error: MSG`, the throwing
/// goroutine's frames from the throw outwards (the runtime's view, as Go
/// shows a throw whatever GOTRACEBACK says), every other goroutine, exit
/// status 2. No program can make the runtime throw on purpose, so gdb
/// sends `parked 3`, stopped in main.ready, into the runtime's throw.
///
/// Not with `call`: gdb 13 cannot make an inferior call on a CPU with AMX
/// (it fails to write the extended register state back: "Couldn't write
/// extended state status: Bad address"). Instead it does what a call
/// would, by hand with general registers and memory: the message's bytes
/// in main.ready's own frame (it never returns), the &str in rdi/rsi, a
/// return address pushed, and a jump to the function.
#[test]
fn throw_reports_its_frames_and_every_goroutine() {
    gdbx_tests::require_gdb!();
    let out = Gdb::new(env!("CARGO_BIN_EXE_parked"))
        .ex("break main.ready")
        .ex("run 3")
        .ex("set language c")
        // "boom", little-endian, at the bottom of main.ready's frame.
        .ex("set *(unsigned int *)$rsp = 0x6d6f6f62")
        .ex("set $rdi = $rsp")
        .ex("set $rsi = 4")
        .ex("set $rsp = $rsp - 8")
        .ex("set *(long *)$rsp = $pc")
        .ex("jump *'runtime::signal::throw'")
        .run_unchecked();
    let all = &out.all;
    assert!(
        all.contains(
            "fatal error: boom\n\ngoroutine 1 [running]:\nruntime::signal::throw_fmt(...)\n\t"
        ),
        "{all}"
    );
    assert!(all.contains("\nruntime::signal::throw(...)\n\t"), "{all}");
    assert_eq!(all.matches("\nparked::waiter(...)\n").count(), 3, "{all}");
    assert!(all.contains("exited with code 02"), "{all}");
}

const STACKS: &str = env!("CARGO_BIN_EXE_stacks");

/// The goroutine blocks of a dump: (header line, the lines after it).
fn blocks(dump: &str) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = Vec::new();
    for l in dump.lines() {
        if l.starts_with("goroutine ") && l.ends_with(':') {
            v.push((l.to_string(), Vec::new()));
        } else if let Some(b) = v.last_mut()
            && !l.is_empty()
        {
            b.1.push(l.to_string());
        }
    }
    v
}

#[test]
fn runtime_stack_is_go_runtime_stack() {
    for procs in ["1", "2"] {
        let (code, _, out, err) = outcome(STACKS, &["dump"], &[("GOMAXPROCS", procs)]);
        assert_eq!(code, Some(0), "{err}");
        let (own, all) = out.split_once("----\n").expect("two dumps");
        // stack(false): the caller only, from its own frame down.
        assert!(
            own.starts_with("goroutine 1 [running]:\nstacks::dump(...)\n\t"),
            "{own}"
        );
        assert!(own.contains("\nmain.main(...)\n\t"), "{own}");
        assert_eq!(blocks(own).len(), 1, "{own}");
        // stack(true): every user goroutine, parked ones with their frames
        // and creation site; no runtime frames, no scavenger.
        let b = blocks(all);
        let heads: Vec<&str> = b
            .iter()
            .map(|(h, _)| h.split_once(" [").unwrap().1)
            .collect();
        assert_eq!(
            heads,
            [
                "running]:",
                "chan receive]:",
                "sync.Mutex.Lock]:",
                "sync.Cond.Wait]:"
            ],
            "{all}"
        );
        for (f, (_, lines)) in ["parked_in_recv", "parked_on_mutex", "parked_in_cond"]
            .iter()
            .zip(&b[1..])
        {
            assert_eq!(lines[0], format!("stacks::{f}(...)"), "{all}");
            assert!(
                lines
                    .iter()
                    .any(|l| l == "created by main.main in goroutine 1"),
                "{all}"
            );
        }
        assert!(
            !all.contains("runtime::") && !all.contains("stack unavailable"),
            "{all}"
        );
    }
}

/// `runtime::stack(true)` and the SIGQUIT dump of the same moment come from
/// one formatter: each goroutine's block of the first is a subsequence of
/// its block in the second (which adds the runtime's frames).
#[test]
fn runtime_stack_matches_the_sigquit_dump() {
    for procs in ["1", "2"] {
        let (code, _, out, err) = outcome(STACKS, &["quit"], &[("GOMAXPROCS", procs)]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.starts_with("SIGQUIT: quit\nPC=0x"), "{err}");
        let quit = blocks(&err);
        let mine = blocks(&out);
        assert_eq!(mine.len(), 4, "{out}");
        for (head, lines) in &mine[1..] {
            let (_, theirs) = quit
                .iter()
                .find(|(h, _)| h == head)
                .unwrap_or_else(|| panic!("{head} missing from the SIGQUIT dump:\n{err}"));
            // The dump is at level 2: its frames' lines end with Go's
            // ` fp=.. sp=.. pc=..`, which runtime::stack (level 1) leaves out.
            let mut it = theirs.iter();
            for l in lines {
                assert!(
                    it.any(|t| t == l
                        || t.strip_prefix(l.as_str())
                            .is_some_and(|r| r.starts_with(" fp="))),
                    "{head}: {l:?} not in the SIGQUIT dump:\n{err}"
                );
            }
        }
    }
}

/// A SIGSEGV sent with kill is no fault: Go 1.19 prints the signal's name,
/// `PC=... m=N sigcode=0` and every goroutine (`sigcode=0` is SI_USER), not
/// a fault line with the sender's pid as `addr=`. The goroutine that sent
/// it (locked to the main thread, which takes the signal) comes first, as
/// it was at the signal: running, in libc's `kill`, called by main.main.
#[test]
fn kill_segv_is_reported_like_go() {
    for procs in ["1", "2"] {
        let (code, _, _, err) = outcome(STACKS, &["segv"], &[("GOMAXPROCS", procs)]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.starts_with("SIGSEGV: segmentation violation\nPC=0x"),
            "{err}"
        );
        let first = err.lines().nth(1).unwrap_or_default();
        assert!(
            first.contains(" m=") && first.ends_with(" sigcode=0"),
            "{err}"
        );
        assert!(
            !err.contains("addr=") && !err.contains("fatal error"),
            "{err}"
        );
        let first = err.split("\n\n").nth(1).unwrap_or_default();
        assert!(
            first.starts_with("goroutine 1 [running, locked to thread]:\n"),
            "{err}"
        );
        let top = first.lines().nth(1).unwrap_or_default();
        assert!(top.contains("kill") && top.ends_with("(...)"), "{err}");
        assert!(first.contains("\nmain.main(...)\n\t"), "{first}");
        assert!(first.contains("examples/src/bin/stacks.rs:"), "{first}");
        assert_eq!(err.matches("\ngoroutine 1 [").count(), 1, "{err}");
        assert!(err.contains("stacks::parked_in_recv(...)"), "{err}");
    }
}

const WORDCOUNT: &str = env!("CARGO_BIN_EXE_wordcount");

/// Waits until the main thread of `pid` (m0: its tid is the pid) is blocked
/// in `read(0, ...)`, as `/proc/PID/syscall` shows it (`0 0x0 ...`: read is
/// system call 0 on x86-64, fd 0). Fails at once should another thread of
/// the program be the one reading fd 0.
fn wait_main_thread_reading_stdin(pid: u32) {
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the program's threads");
        for t in tasks.flatten() {
            let sc = std::fs::read_to_string(t.path().join("syscall")).unwrap_or_default();
            if sc.starts_with("0 0x0 ") {
                assert_eq!(
                    t.file_name().to_string_lossy(),
                    pid.to_string(),
                    "the main goroutine reads its stdin on another thread than m0"
                );
                return;
            }
        }
        std::thread::yield_now();
    }
}

/// A user's SIGSEGV (tgkill, SI_TKILL) to a program's thread blocked
/// reading its stdin in libc's read(2) outside any runtime system call
/// (wordcount's main goroutine, on m0): as Go the report shows the
/// goroutine's whole stack from the signal's context - libc's `read`,
/// std's buffered reader, main.main - instead of `goroutine running on
/// other thread; stack unavailable`; every frame at level 2 with its
/// ` fp=.. sp=.. pc=..`. The handshake: the main thread is seen blocked in
/// read(0) before the signal is sent.
#[test]
fn kill_segv_traces_the_signalled_goroutine_from_the_signal() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    for procs in ["1", "2"] {
        let mut child = Command::new(WORDCOUNT)
            .env("GOMAXPROCS", procs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wordcount");
        let dog = gdbx_tests::watchdog::Watchdog::arm(&child, common::WATCHDOG);
        // Held open until the program is gone: its read blocks.
        let stdin = child.stdin.take();
        wait_main_thread_reading_stdin(child.id());
        // To the main thread itself: kill(2) lets the kernel pick any
        // thread that does not block the signal (another M took it once in
        // CI), tgkill(2) names the thread, and Go (sigFromUser) and the
        // runtime take its SI_TKILL as sent by a user, as SI_USER.
        let pid = child.id() as libc::c_long;
        // SAFETY: tgkill(2) on our own child's main thread.
        let sent = unsafe { libc::syscall(libc::SYS_tgkill, pid, pid, libc::SIGSEGV) };
        assert_eq!(sent, 0);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        drop(stdin);
        assert!(!dog.disarm(), "killed by the watchdog: {err}");
        assert_eq!(status.code(), Some(2), "GOMAXPROCS={procs}: {err}");
        assert!(
            err.starts_with("SIGSEGV: segmentation violation\nPC=0x"),
            "{err}"
        );
        assert!(err.lines().nth(1).unwrap().contains(" m=0 "), "{err}");
        let g1 = err.split("\n\n").nth(1).unwrap_or_default();
        let lines: Vec<&str> = g1.lines().collect();
        assert_eq!(lines[0], "goroutine 1 [running]:", "{err}");
        assert!(
            lines[1].contains("read") && lines[1].ends_with("(...)"),
            "the innermost frame is libc's read: {g1}"
        );
        assert!(lines[2].contains(" fp=0x"), "{g1}");
        assert!(g1.contains("std::io::BufRead::read_line(...)\n"), "{g1}");
        let main = lines
            .iter()
            .position(|l| *l == "main.main(...)")
            .unwrap_or_else(|| panic!("no main.main: {g1}"));
        assert!(
            lines[main + 1].contains("examples/src/bin/wordcount.rs:")
                && lines[main + 1].contains(" fp=0x"),
            "{g1}"
        );
        assert!(!err.contains("stack unavailable"), "{err}");
        assert_eq!(err.matches("\ngoroutine 1 [").count(), 1, "{err}");
    }
}

/// GOTRACEBACK=crash ends a fatal signal with SIGABRT raised inside the
/// runtime's handler, so the kernel's core shows the handler frame: gdb's
/// backtrace of the core runs from `raise` through the handler and
/// `<signal handler called>` into the overflowing goroutine's frames.
#[test]
fn crash_core_shows_the_signal_handler_frame() {
    gdbx_tests::require_gdb!();
    let bin = std::path::Path::new(CRASH_OVERFLOW);
    let core = gdbx_tests::cores::crash_core(bin, &[], &[], "crash_overflow-crash");
    let out = Gdb::new(bin).core(&core).block("bt", &["bt 12"]).run();
    let bt = out.block("bt");
    let handler = bt
        .lines()
        .position(|l| l.contains("runtime::signal::sighandler"))
        .unwrap_or_else(|| panic!("no handler frame:\n{bt}"));
    let lines: Vec<&str> = bt.lines().collect();
    assert!(
        lines[handler + 1].contains("<signal handler called>"),
        "{bt}"
    );
    assert!(
        lines[handler + 2].contains("crash_overflow::recurse"),
        "{bt}"
    );
}

/// Go's `startpanic_m`: with `GODEBUG=scheddetail=1` a fatal error prints
/// the detailed scheduler trace between its message and the goroutines.
/// In `crash_deadlock locked` the main goroutine sleeps wired to its
/// thread: the trace counts that M in `nmidlelocked`, its M line names
/// g1 as `lockedg`, g1's line names that M as `lockedm`, and g1's header
/// says `locked to thread` - Go 1.19's output for the same program.
#[test]
fn fatal_error_prints_the_scheduler_trace_with_the_locked_thread() {
    for procs in ["1", "2"] {
        let (code, _, _, err) = outcome(
            CRASH_DEADLOCK,
            &["locked"],
            &[("GODEBUG", "scheddetail=1"), ("GOMAXPROCS", procs)],
        );
        assert_eq!(code, Some(2), "{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines[0],
            "fatal error: all goroutines are asleep - deadlock!"
        );
        assert!(
            lines[1].starts_with("SCHED ") && lines[1].contains(" nmidlelocked=1 "),
            "{err}"
        );
        let m = lines
            .iter()
            .find_map(|l| {
                let (id, rest) = l.strip_prefix("  M")?.split_once(": ")?;
                rest.ends_with(" lockedg=1").then_some(id)
            })
            .unwrap_or_else(|| panic!("no M with lockedg=1:\n{err}"));
        assert!(
            lines.contains(&format!("  G1: status=4(chan send) m=-1 lockedm={m}").as_str()),
            "{err}"
        );
        let others = lines
            .iter()
            .filter(|l| l.starts_with("  G") && !l.starts_with("  G1:"));
        assert!(others.clone().count() >= 2, "{err}");
        assert!(others.clone().all(|l| l.ends_with(" lockedm=-1")), "{err}");
        // The trace comes before the goroutines.
        let first_g = lines
            .iter()
            .position(|l| l.starts_with("goroutine "))
            .unwrap();
        let last_trace = lines.iter().rposition(|l| l.starts_with("  G")).unwrap();
        assert!(last_trace < first_g, "{err}");
        assert!(
            err.contains("\ngoroutine 1 [chan send, locked to thread]:\n"),
            "{err}"
        );
    }
}
