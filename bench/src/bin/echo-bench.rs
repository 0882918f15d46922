//! Echo benchmark of the netpoller: the runtime's `examples/echo` against the
//! tokio echo server (`echo-tokio`), driven by the same client load (a
//! single-threaded tokio client in this process), over loopback only; then
//! the cost of `GODEBUG=schedtrace` and the syscall hand-off latency
//! (`examples/syscallblock`). Prints one Markdown table.
//!
//! ```text
//! cargo build --release -p examples -p bench
//! target/release/echo-bench [--secs 3]
//! ```
//!
//! Loads: "pingpong" = 64 connections each sending a 64-byte message and
//! waiting for its echo, in a loop (messages/s, round-trip p50/p99);
//! "stream" = 8 connections each writing 64 KiB and reading it back, in a
//! loop (MB/s of echoed data). Both servers get GOMAXPROCS / worker
//! threads = 2 on this 2-core machine; the client shares the same cores.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// (label, server binary, environment).
type Run<'a> = (&'a str, &'a Path, Vec<(&'a str, &'a str)>);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bin: &Path, env: &[(&str, &str)]) -> (Server, SocketAddr) {
    let mut c = Command::new(bin);
    c.stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let out = child.stdout.take().unwrap();
    let s = Server(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    (s, line.trim().parse().expect("address line"))
}

struct Result {
    msgs_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    stream_mb_s: f64,
}

async fn pingpong(addr: SocketAddr, conns: usize, secs: f64) -> (f64, Vec<u32>) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut hs = Vec::new();
    for _ in 0..conns {
        hs.push(tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.set_nodelay(true).unwrap();
            let msg = [42u8; 64];
            let mut back = [0u8; 64];
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                c.write_all(&msg).await.unwrap();
                c.read_exact(&mut back).await.unwrap();
                lat.push(t.elapsed().as_nanos() as u32);
            }
            lat
        }));
    }
    let t0 = Instant::now();
    let mut all = Vec::new();
    for h in hs {
        all.extend(h.await.unwrap());
    }
    let rate = all.len() as f64 / t0.elapsed().as_secs_f64();
    all.sort_unstable();
    (rate, all)
}

async fn stream(addr: SocketAddr, conns: usize, secs: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut hs = Vec::new();
    for _ in 0..conns {
        hs.push(tokio::spawn(async move {
            let c = TcpStream::connect(addr).await.unwrap();
            c.set_nodelay(true).unwrap();
            let (mut r, mut w) = c.into_split();
            let block = vec![7u8; 64 << 10];
            let writer = tokio::spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    w.write_all(&block).await.unwrap();
                    sent += block.len() as u64;
                }
                w.shutdown().await.unwrap();
                sent
            });
            let mut buf = vec![0u8; 64 << 10];
            let mut got = 0u64;
            loop {
                let n = r.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            let sent = writer.await.unwrap();
            assert_eq!(sent, got, "echo lost data");
            got
        }));
    }
    let t0 = Instant::now();
    let mut total = 0u64;
    for h in hs {
        total += h.await.unwrap();
    }
    total as f64 / t0.elapsed().as_secs_f64() / 1e6
}

fn measure(bin: &Path, env: &[(&str, &str)], secs: f64) -> Result {
    let (_s, addr) = start(bin, env);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (rate, lat) = pingpong(addr, 64, secs).await;
        let mb = stream(addr, 8, secs).await;
        let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1000.0;
        Result {
            msgs_per_s: rate,
            p50_us: q(0.50),
            p99_us: q(0.99),
            stream_mb_s: mb,
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: f64 = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let dir: PathBuf = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let ours = dir.join("echo");
    let tokio_bin = dir.join("echo-tokio");
    for b in [&ours, &tokio_bin] {
        assert!(
            b.exists(),
            "{} missing: cargo build --release -p examples -p bench",
            b.display()
        );
    }
    println!(
        "| server | pingpong msgs/s (64 conns x 64 B) | RTT p50 us | RTT p99 us | stream MB/s (8 conns x 64 KiB) |"
    );
    println!("|---|---|---|---|---|");
    let runs: [Run; 4] = [
        (
            "gdbx runtime echo (GOMAXPROCS=2)",
            &ours,
            vec![("GOMAXPROCS", "2")],
        ),
        ("tokio echo (2 workers)", &tokio_bin, vec![]),
        (
            "gdbx runtime echo, GODEBUG=schedtrace=1000",
            &ours,
            vec![("GOMAXPROCS", "2"), ("GODEBUG", "schedtrace=1000")],
        ),
        (
            "gdbx runtime echo, GODEBUG=schedtrace=10",
            &ours,
            vec![("GOMAXPROCS", "2"), ("GODEBUG", "schedtrace=10")],
        ),
    ];
    for (name, bin, env) in runs.iter() {
        let r = measure(bin, env, secs);
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {:.0} |",
            r.msgs_per_s, r.p50_us, r.p99_us, r.stream_mb_s
        );
    }
    let sb = dir.join("syscallblock");
    if sb.exists() {
        println!();
        // GOMAXPROCS=1: the queued goroutine can only run once sysmon hands
        // the P of the blocked goroutine to another thread, so this is the
        // hand-off latency (syscall entered -> queued goroutine running).
        println!("| syscall hand-off (examples/syscallblock 2000) | result |");
        println!("|---|---|");
        let out = Command::new(&sb)
            .arg("2000")
            .env("GOMAXPROCS", "1")
            .output()
            .expect("syscallblock");
        println!(
            "| GOMAXPROCS=1 | {} |",
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
}
