//! sysmon, preemption, system calls, the netpoller, the scavenger
//! and SIGQUIT dumps, checked on the runtime's programs run as child
//! processes. Every wait on a child is bounded by a watchdog that kills it
//! (a broken runtime fails the test instead of hanging it); nothing sleeps
//! to synchronise; nothing asserts on timing except the scavenger's documented
//! bound (the 5 s of the scavenger test, measured from outside).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

mod common;
use common::{run, text};
use gdbx_tests::gdb::Gdb;

/// Kills the child when dropped (also on a failed assertion).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `burst 1000 --sleep 0`: main parks (WaitGroup) and exits. Both
/// background steps are hit however short the program is: runtime.main
/// waits until the scavenger runs (as Go's gcenable waits for bgscavenge),
/// and runtime.exit waits until every M that is starting, sysmon's among
/// them, has reached its first line.
#[test]
fn gdb_sees_sysmon_on_its_own_thread_and_the_scavenger_after_runtime_main() {
    gdbx_tests::require_gdb!();
    for procs in ["1", "2"] {
        // Displaced stepping stays on (gdb's default): the runtime pads its
        // ELF entry point, which gdb uses as scratch space (asm.rs).
        let out = Gdb::new(env!("CARGO_BIN_EXE_burst"))
            .args(["1000", "--sleep", "0"])
            .env("GOMAXPROCS", procs)
            .hits(&["runtime.main", "runtime.sysmon", "runtime.scavenger"])
            .ex("run")
            .run();
        let o = &out.all;
        let hits: Vec<(String, u32)> = out
            .hits()
            .into_iter()
            .map(|h| (h.symbol, h.thread))
            .collect();
        let pos = |sym: &str| hits.iter().position(|(s, _)| s == sym);
        let main = pos("runtime.main").unwrap_or_else(|| panic!("runtime.main not hit: {o}"));
        let sysmon = pos("runtime.sysmon").unwrap_or_else(|| panic!("runtime.sysmon not hit: {o}"));
        let scav =
            pos("runtime.scavenger").unwrap_or_else(|| panic!("runtime.scavenger not hit: {o}"));
        assert!(main < sysmon && main < scav, "order: {hits:?}");
        assert_eq!(hits[main].1, 1, "runtime.main on the main thread: {hits:?}");
        assert_ne!(
            hits[sysmon].1, 1,
            "sysmon must run on its own thread: {hits:?}"
        );
        assert!(o.contains("\ndone: "), "program finished: {o}");
    }
}

fn parse_kv(s: &str) -> Vec<(String, String)> {
    s.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn is_int(s: &str) -> bool {
    s.strip_prefix('-').unwrap_or(s).parse::<u64>().is_ok()
}

/// `SCHED 12ms: gomaxprocs=1 idleprocs=0 threads=3 spinningthreads=0 idlethreads=1 runqueue=0 [0]`
fn check_sched_line(l: &str, procs: usize, detailed: bool) {
    let rest = l.strip_prefix("SCHED ").unwrap_or_else(|| panic!("{l}"));
    let (ms, rest) = rest.split_once("ms: ").unwrap_or_else(|| panic!("{l}"));
    assert!(is_int(ms), "{l}");
    let (kvs, tail) = match rest.split_once(" [") {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let kv = parse_kv(kvs);
    let mut keys = vec![
        "gomaxprocs",
        "idleprocs",
        "threads",
        "spinningthreads",
        "idlethreads",
        "runqueue",
    ];
    if detailed {
        keys.extend(["gcwaiting", "nmidlelocked", "stopwait", "sysmonwait"]);
    }
    assert_eq!(
        kv.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        keys,
        "{l}"
    );
    assert!(kv.iter().all(|(_, v)| is_int(v)), "{l}");
    assert_eq!(kv[0].1, procs.to_string(), "{l}");
    if detailed {
        assert!(tail.is_none(), "{l}");
    } else {
        let t = tail.unwrap_or_else(|| panic!("no per-P run queues: {l}"));
        let t = t.strip_suffix(']').unwrap_or_else(|| panic!("{l}"));
        let v: Vec<&str> = t.split(' ').collect();
        assert_eq!(v.len(), procs, "{l}");
        assert!(v.iter().all(|x| is_int(x)), "{l}");
    }
}

/// Runs `burst 100 --handshake --sleep 0` with `env` and lets it finish
/// only once its stderr has shown `sched_lines` SCHED lines (the burst waits
/// on stdin meanwhile): sysmon has traced, however slow the machine.
/// Returns the exit status and everything written to stderr.
fn burst_until_traced(env: &[(&str, &str)], sched_lines: usize) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_burst"))
        .args(["100", "--handshake", "--sleep", "0"])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start burst");
    let watchdog = gdbx_tests::watchdog::Watchdog::arm(&child, common::WATCHDOG);
    let mut stdin = child.stdin.take().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut text = String::new();
    let mut seen = 0;
    while seen < sched_lines {
        let start = text.len();
        if err.read_line(&mut text).unwrap() == 0 {
            break; // it exited early: the assertions show what it printed
        }
        if text[start..].starts_with("SCHED ") {
            seen += 1;
        }
    }
    // Before the burst, then before releasing its goroutines.
    let _ = stdin.write_all(b"\n\n");
    drop(stdin);
    err.read_to_string(&mut text).unwrap();
    let status = child.wait().unwrap();
    assert!(!watchdog.disarm(), "burst killed by the watchdog: {text}");
    (status.code(), text)
}

#[test]
fn schedtrace_lines_appear_and_parse() {
    for procs in [1usize, 2] {
        let p = procs.to_string();
        let (code, err) = burst_until_traced(
            &[
                ("GOMAXPROCS", &p),
                ("GODEBUG", "gctrace=1,schedtrace=100,bogus,madeup=7"),
            ],
            1,
        );
        assert_eq!(code, Some(0), "{err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("SCHED ")).collect();
        assert!(!lines.is_empty(), "no SCHED line: {err}");
        for l in &lines {
            check_sched_line(l, procs, false);
        }

        // Two SCHED lines: the first one's P, M and G lines are complete.
        let (code, err) = burst_until_traced(
            &[
                ("GOMAXPROCS", &p),
                ("GODEBUG", "schedtrace=100,scheddetail=1"),
            ],
            2,
        );
        assert_eq!(code, Some(0), "{err}");
        let (mut s, mut ps, mut ms, mut gs) = (0, 0, 0, 0);
        for l in err.lines() {
            if l.starts_with("SCHED ") {
                check_sched_line(l, procs, true);
                s += 1;
            } else if let Some(r) = l.strip_prefix("  P") {
                let (id, rest) = r.split_once(": ").unwrap();
                assert!(is_int(id), "{l}");
                let kv = parse_kv(rest);
                let keys: Vec<&str> = kv.iter().map(|(k, _)| k.as_str()).collect();
                assert_eq!(
                    keys,
                    [
                        "status",
                        "schedtick",
                        "syscalltick",
                        "m",
                        "runqsize",
                        "gfreecnt",
                        "timerslen"
                    ],
                    "{l}"
                );
                assert!(kv.iter().all(|(_, v)| is_int(v)), "{l}");
                ps += 1;
            } else if let Some(r) = l.strip_prefix("  M") {
                let (id, rest) = r.split_once(": ").unwrap();
                assert!(is_int(id), "{l}");
                let keys: Vec<String> = rest
                    .split_whitespace()
                    .map(|kv| kv.split('=').next().unwrap().to_string())
                    .collect();
                assert_eq!(
                    keys,
                    [
                        "p",
                        "curg",
                        "mallocing",
                        "throwing",
                        "preemptoff",
                        "locks",
                        "dying",
                        "spinning",
                        "blocked",
                        "lockedg"
                    ],
                    "{l}"
                );
                ms += 1;
            } else if let Some(r) = l.strip_prefix("  G") {
                // G1: status=4(chan receive) m=-1 lockedm=-1
                let (id, rest) = r.split_once(": status=").unwrap();
                assert!(is_int(id), "{l}");
                let (st, rest) = rest.split_once('(').unwrap();
                assert!(is_int(st), "{l}");
                let (_reason, rest) = rest.split_once(") m=").unwrap();
                let (m, rest) = rest.split_once(' ').unwrap();
                assert!(is_int(m), "{l}");
                assert_eq!(rest, "lockedm=-1", "{l}");
                gs += 1;
            }
        }
        assert!(
            s > 0 && ps >= procs && ms >= 2 && gs >= 1,
            "{s} {ps} {ms} {gs}: {err}"
        );
    }
}

#[test]
fn busy_goroutine_with_preemption_points_does_not_starve_others() {
    for (procs, args) in [("1", &[][..]), ("2", &[][..]), ("1", &["chan"][..])] {
        let out = run(
            env!("CARGO_BIN_EXE_preempt"),
            args,
            &[("GOMAXPROCS", procs)],
        );
        let o = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "P={procs}: {o} {}",
            text(&out.stderr)
        );
        assert!(o.contains("main: ran while the spinner spins\n"), "{o}");
        assert!(o.contains("other: ran\n"), "{o}");
        if procs == "1" {
            // At one P only a preemption can have let main run again.
            assert!(o.ends_with("ok preempted=true\n"), "{o}");
        }
    }
}

#[test]
fn goroutine_in_blocking_syscall_does_not_stall_its_p() {
    for procs in ["1", "2"] {
        let out = run(
            env!("CARGO_BIN_EXE_syscallblock"),
            &["20"],
            &[("GOMAXPROCS", procs)],
        );
        let o = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "P={procs}: {o} {}",
            text(&out.stderr)
        );
        assert!(o.starts_with("ok rounds=20 "), "{o}");
    }
}

#[test]
fn netpoller_deadlines_and_udp() {
    for procs in ["1", "2"] {
        let out = run(env!("CARGO_BIN_EXE_nettest"), &[], &[("GOMAXPROCS", procs)]);
        let o = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "P={procs}: {o} {}",
            text(&out.stderr)
        );
        assert!(o.ends_with("ok\n"), "{o}");
    }
}

/// Start `echo` and read the bound address from its first line.
fn start_echo(procs: &str) -> (Guard, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_echo"))
        .env("GOMAXPROCS", procs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo");
    let stdout = child.stdout.take().unwrap();
    let g = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let addr: SocketAddr = line
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert!(addr.ip().is_loopback(), "{addr}");
    (g, addr)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn exchange(
    addr: SocketAddr,
    seed: u64,
    rounds: usize,
    barrier: Option<&Barrier>,
) -> Result<usize, String> {
    let mut c = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    if let Some(b) = barrier {
        b.wait();
    }
    let mut rng = Rng(seed | 1);
    let mut total = 0;
    for _ in 0..rounds {
        let n = 1 + (rng.next() % 8192) as usize;
        let data: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        c.write_all(&data).map_err(|e| format!("write: {e}"))?;
        let mut back = vec![0u8; n];
        c.read_exact(&mut back).map_err(|e| format!("read: {e}"))?;
        if back != data {
            return Err("echo differs".into());
        }
        total += n;
    }
    Ok(total)
}

#[test]
fn echo_serves_1000_concurrent_connections_and_survives_a_reset() {
    for procs in ["1", "2"] {
        let (mut g, addr) = start_echo(procs);
        // A peer that resets mid-stream: send, read part of the echo, then
        // close with SO_LINGER 0 (RST) while the server still writes.
        {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            c.write_all(&vec![7u8; 256 << 10]).unwrap();
            let mut part = [0u8; 1000];
            c.read_exact(&mut part).unwrap();
            assert!(part.iter().all(|&b| b == 7));
            let l = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: setsockopt on our own socket with a valid linger.
            let r = unsafe {
                libc::setsockopt(
                    c.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&raw const l).cast(),
                    size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            assert_eq!(r, 0);
        }
        const N: usize = 1000;
        let barrier = Arc::new(Barrier::new(N));
        let hs: Vec<_> = (0..N)
            .map(|i| {
                let b = barrier.clone();
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn(move || exchange(addr, 0x9e37_79b9 * (i as u64 + 1), 6, Some(&b)))
                    .unwrap()
            })
            .collect();
        let mut bytes = 0;
        for (i, h) in hs.into_iter().enumerate() {
            match h.join().unwrap() {
                Ok(n) => bytes += n,
                Err(e) => panic!("P={procs} connection {i}: {e}"),
            }
        }
        assert!(bytes > N, "{bytes}");
        // The reset cost only its own goroutine: the server still serves.
        assert!(g.0.try_wait().unwrap().is_none(), "echo died");
        exchange(addr, 42, 3, None).unwrap();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn scavenger_returns_80_percent_of_a_burst_within_5s() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_burst"))
        .args(["100000", "--handshake", "--sleep", "10"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start burst");
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let _g = Guard(child);
    let mut line = String::new();
    let mut expect = |prefix: &str| {
        line.clear();
        out.read_line(&mut line).unwrap();
        assert!(line.starts_with(prefix), "{line:?}");
    };
    expect("before:");
    let base = rss_kib(pid);
    stdin.write_all(b"\n").unwrap();
    expect("peak:");
    let peak = rss_kib(pid);
    assert!(
        peak > base + 100_000,
        "burst added too little to measure: {base} -> {peak} KiB"
    );
    stdin.write_all(b"\n").unwrap();
    expect("done:");
    let done = Instant::now();
    let target = base + (peak - base) / 5;
    let mut rss;
    loop {
        rss = rss_kib(pid);
        if rss <= target || done.elapsed() > Duration::from_secs(5) {
            break;
        }
        // Poll interval (not a synchronisation): /proc is read from outside.
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        rss <= target,
        "RSS base {base} KiB, peak {peak} KiB, 5 s after the burst {rss} KiB (want <= {target})"
    );
    eprintln!(
        "scavenger: base {base} KiB, peak {peak} KiB, {rss} KiB after {:?}",
        done.elapsed()
    );
}

/// Waits until, at one look, every thread of `pid` sleeps (state S) and
/// none sleeps inside sendto(2) (44) or write(2) (1).
fn wait_all_threads_asleep_outside_send(pid: u32) {
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the program's threads");
        let quiet = tasks.flatten().all(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").map(|(_, r)| r.starts_with('S'));
            let sc = std::fs::read_to_string(t.path().join("syscall")).unwrap_or_default();
            state == Some(true) && !sc.starts_with("44 ") && !sc.starts_with("1 ")
        });
        if quiet {
            return;
        }
        std::thread::yield_now();
    }
}

#[test]
fn sigquit_dumps_every_goroutine_and_exits_2() {
    let (mut g, addr) = start_echo("2");
    // One connection: its goroutine parks in IO wait inside echo::handle.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    c.read_exact(&mut b).unwrap();
    // The echo can reach us before its send(2) has returned: the
    // connection's goroutine is parked only once every thread sleeps and
    // none is still in sendto or write (seen once in CI as `[running]`).
    wait_all_threads_asleep_outside_send(g.0.id());
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(g.0.id() as i32, libc::SIGQUIT) }, 0);
    let mut err = String::new();
    g.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let st = g.0.wait().unwrap();
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(err.starts_with("SIGQUIT: quit\nPC=0x"), "{err}");
    // Every goroutine, with its status or wait reason, frames and origin.
    let main = err
        .split("\n\n")
        .find(|b| b.starts_with("goroutine 1 ["))
        .expect(&err);
    assert!(main.starts_with("goroutine 1 [IO wait]:\n"), "{main}");
    assert!(
        main.contains("runtime::net::TcpListener::accept(...)\n"),
        "{main}"
    );
    assert!(main.contains("main.main(...)\n\t"), "{main}");
    assert!(main.contains("examples/src/bin/echo.rs:"), "{main}");
    let conn = err
        .split("\n\n")
        .find(|b| b.contains("echo::handle(...)"))
        .expect(&err);
    assert!(conn.contains(" [IO wait]:\n"), "{conn}");
    assert!(
        conn.contains("runtime::net::TcpStream::read(...)\n"),
        "{conn}"
    );
    assert!(
        conn.contains("\ncreated by main.main in goroutine 1\n\texamples/src/bin/echo.rs:"),
        "{conn}"
    );
    let scav = err
        .split("\n\n")
        .find(|b| b.contains("[GC scavenge wait]"))
        .expect(&err);
    assert!(scav.contains("runtime.scavenger(...)\n"), "{scav}");
    for block in err.split("\n\n").skip(1) {
        let header = block.lines().next().unwrap();
        assert!(
            header.starts_with("goroutine ") && header.ends_with("]:"),
            "{header}"
        );
        assert!(block.lines().count() >= 2, "{block}");
    }
}

#[test]
fn async_preemption_by_signal_is_opt_in_and_keeps_registers() {
    for procs in ["1", "2"] {
        let out = run(
            env!("CARGO_BIN_EXE_asyncpreempt"),
            &[],
            &[("GOMAXPROCS", procs), ("GODEBUG", "asyncpreempt=1")],
        );
        let o = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "P={procs}: {o} {}",
            text(&out.stderr)
        );
        // At one P main runs again only if the loop (which has no safe
        // point) was preempted by signal; the checksum proves every
        // register survived the preemptions.
        assert_eq!(
            o,
            "main: ran while the spinner spins\nother: ran\nchecksum same=true\nok async_preempted=true\n",
            "P={procs}"
        );
    }
}
