//! The benchmark driver: `cargo run --release -p bench` prints ONE table.
//!
//! Our runtime owns its process (it brings its own C `main` and ELF entry),
//! so every runtime under test is a separate child binary and every figure is
//! measured in a fresh child process:
//!
//! | child | what it is |
//! |---|---|
//! | `bench-ours`  | examples/src/bin/bench-ours.rs, a `#![no_main]` program on the gdbx runtime; the driver builds it with `cargo build --release -p examples --bin bench-ours` into the same target dir |
//! | `bench-may`   | the `may` crate (stackful coroutines), N workers |
//! | `bench-tokio` | tokio's multi-thread runtime with N worker threads |
//! | `go-bench`    | bench/go/bench.go built here with Go when a `go` command exists |
//!
//! Each child is run as `<child> <metric> <procs>` (Go and ours also get
//! `GOMAXPROCS=<procs>`), prints `<metric> <value>`, and the driver keeps the
//! median of `BENCH_REPEAT` runs (default 3). Arguments: names of runtimes
//! to run (`ours go may tokio`, default all); `BENCH_METRICS=spawn,rss`
//! restricts the metrics.
//!
//! Ratios are ours / peer: below 1.00 means our runtime is faster (or smaller).

use std::path::{Path, PathBuf};
use std::process::Command;

use bench::{median, metric_named, parse_child_line};

/// A runtime under test: its column name and how to start its child.
struct Peer {
    name: &'static str,
    exe: Option<PathBuf>,
    /// Why there is no executable (shown under the table).
    missing: Option<String>,
}

/// The rows of the table: (metric, procs).
const ROWS: [(&str, usize); 12] = [
    ("spawn", 1),
    ("spawn", 2),
    ("pingpong", 1),
    ("pingpong", 2),
    ("switch", 1),
    ("switch", 2),
    ("rss", 2),
    ("selectstress", 2),
    ("selectstress", 10),
    ("selectfast", 1),
    ("timerlate", 1),
    ("timerlate", 2),
];

/// Finds Go: `go` on PATH, else Debian's golang-1.19 location.
fn find_go() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("go"))
            .find(|c| c.is_file())
    });
    on_path.or_else(|| {
        let debian = PathBuf::from("/usr/lib/go-1.19/bin/go");
        debian.is_file().then_some(debian)
    })
}

/// Builds bench/go/bench.go into `dir/go-bench` (Go's build cache in
/// `dir/go-build-cache`, so the run leaves nothing outside target/).
fn build_go(dir: &Path) -> Result<PathBuf, String> {
    let go = find_go().ok_or("no `go` command installed")?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("go/bench.go");
    let out = dir.join("go-bench");
    let status = Command::new(&go)
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .env("GOCACHE", dir.join("go-build-cache"))
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .status()
        .map_err(|e| format!("{}: {e}", go.display()))?;
    if !status.success() {
        return Err(format!("`go build` of {} failed: {status}", src.display()));
    }
    let version = Command::new(&go).arg("version").output().ok();
    if let Some(v) = version {
        eprintln!(
            "bench: built go-bench with {}",
            String::from_utf8_lossy(&v.stdout).trim()
        );
    }
    Ok(out)
}

/// Builds examples/src/bin/bench-ours.rs in release into the target dir
/// this driver runs from (`<target>/release/bench`), so `cargo run
/// --release -p bench` alone is enough. Cargo does not hold its build lock
/// while `cargo run` runs us, so the nested build is fine.
fn build_ours(dir: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace dir")?;
    let target_dir = dir.parent().ok_or("no target dir")?;
    let status = Command::new(&cargo)
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "-p",
            "examples",
            "--bin",
            "bench-ours",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .map_err(|e| format!("{}: {e}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!("cargo build of bench-ours failed: {status}"));
    }
    let exe = dir.join("bench-ours");
    if exe.is_file() {
        Ok(exe)
    } else {
        Err(format!("{} missing after the build", exe.display()))
    }
}

/// Runs one child once; the value it printed.
fn run_once(
    peer: &Peer,
    metric: &str,
    procs: usize,
    notes: &mut Vec<String>,
) -> Result<f64, String> {
    let exe = peer.exe.as_ref().ok_or("not built")?;
    let mut cmd = Command::new(exe);
    if peer.name == "go" {
        cmd.arg(metric);
    } else {
        cmd.arg(metric).arg(procs.to_string());
    }
    cmd.env("GOMAXPROCS", procs.to_string());
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} {metric} (P={procs}) failed: {}: {}",
            peer.name,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    for n in stdout.lines().filter_map(|l| l.strip_prefix("note: ")) {
        let n = format!("{}: {n}", peer.name);
        if !notes.contains(&n) {
            notes.push(n);
        }
    }
    parse_child_line(&stdout, metric)
        .ok_or_else(|| format!("{} {metric}: unexpected output {stdout:?}", peer.name))
}

fn fmt_val(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "n/a".into(),
    }
}

fn fmt_ratio(ours: Option<f64>, peer: Option<f64>) -> String {
    match (ours, peer) {
        (Some(o), Some(p)) if p > 0.0 => format!("{:.2}", o / p),
        _ => "-".into(),
    }
}

/// The target of a row: faster than Go; TestSelectStress at least as fast;
/// a timer at most 1 ms later than Go's; at most 4.5 KiB per parked
/// goroutine.
fn target(metric: &str, ours: Option<f64>, go: Option<f64>) -> String {
    let verdict = |ok: bool| if ok { "yes" } else { "NO" };
    match (metric, ours, go) {
        ("rss", Some(o), _) => format!("<=4608 {}", verdict(o <= 4608.0)),
        ("rss", None, _) => "<=4608 ?".into(),
        ("timerlate", Some(o), Some(g)) => format!("<=go+1ms {}", verdict(o <= g + 1000.0)),
        ("timerlate", _, _) => "<=go+1ms ?".into(),
        ("selectstress" | "selectfast", Some(o), Some(g)) => format!("<=go {}", verdict(o <= g)),
        ("selectstress" | "selectfast", _, _) => "<=go ?".into(),
        (_, Some(o), Some(g)) => format!("<go {}", verdict(o < g)),
        _ => "<go ?".into(),
    }
}

fn main() {
    let want: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |n: &str| want.is_empty() || want.iter().any(|w| w == n);
    let repeat: usize = std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    let metric_filter: Option<Vec<String>> = std::env::var("BENCH_METRICS")
        .ok()
        .map(|s| s.split(',').map(str::to_owned).collect());

    let me = std::env::current_exe().expect("current_exe");
    let dir = me.parent().expect("exe dir").to_path_buf();
    let sibling = |name: &str| -> (Option<PathBuf>, Option<String>) {
        let p = dir.join(name);
        if p.is_file() {
            (Some(p), None)
        } else {
            (None, Some(format!("{} not built", p.display())))
        }
    };

    let mut peers = Vec::new();
    for name in ["ours", "go", "may", "tokio"] {
        if !wanted(name) {
            peers.push(Peer {
                name,
                exe: None,
                missing: Some("not requested".into()),
            });
            continue;
        }
        let (exe, missing) = match name {
            "go" => match build_go(&dir) {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(e)),
            },
            "ours" => match build_ours(&dir) {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(e)),
            },
            other => sibling(&format!("bench-{other}")),
        };
        peers.push(Peer { name, exe, missing });
    }

    let ncpu = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut notes: Vec<String> = peers
        .iter()
        .filter_map(|p| p.missing.as_ref().map(|m| format!("{}: {m}", p.name)))
        .collect();

    // results[row][peer]
    let mut results: Vec<Vec<Option<f64>>> = Vec::new();
    for (metric, procs) in ROWS {
        let skip = metric_filter
            .as_ref()
            .is_some_and(|f| !f.iter().any(|m| m == metric));
        // Runs are interleaved (ours, go, may, tokio, ours, ...) so that a
        // change in machine load affects every column alike.
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
        let mut failed = vec![skip; peers.len()];
        for _ in 0..repeat {
            for (k, peer) in peers.iter().enumerate() {
                let has = metric_named(metric).is_some_and(|m| m.peers.contains(&peer.name));
                if failed[k] || peer.exe.is_none() || !has {
                    continue;
                }
                match run_once(peer, metric, procs, &mut notes) {
                    Ok(v) => samples[k].push(v),
                    Err(e) => {
                        notes.push(e);
                        failed[k] = true;
                    }
                }
            }
        }
        let mut row = Vec::new();
        for (k, peer) in peers.iter().enumerate() {
            let m = if failed[k] {
                None
            } else {
                median(std::mem::take(&mut samples[k]))
            };
            let has = metric_named(metric).is_some_and(|m| m.peers.contains(&peer.name));
            if !skip && peer.exe.is_some() && has {
                eprintln!(
                    "bench: {:<6} {metric:<8} P={procs}: {}",
                    peer.name,
                    fmt_val(m)
                );
            }
            row.push(m);
        }
        results.push(row);
    }

    println!(
        "gdbx runtime vs peers: release build, {ncpu} CPUs, median of {repeat} runs, one process per figure; \
         ratio = ours/peer (below 1.00: ours is faster/smaller)"
    );
    println!(
        "| {:<49} | {:>2} | {:>7} | {:>7} | {:>7} | {:>7} | {:>7} | {:>8} | {:>10} | {:<10} |",
        "measurement",
        "P",
        "ours",
        "go 1.19",
        "may",
        "tokio",
        "ours/go",
        "ours/may",
        "ours/tokio",
        "target"
    );
    println!(
        "|{:-<51}|{:-<4}|{:-<9}|{:-<9}|{:-<9}|{:-<9}|{:-<9}|{:-<10}|{:-<12}|{:-<12}|",
        "", "", "", "", "", "", "", "", "", ""
    );
    for ((metric, procs), row) in ROWS.iter().zip(&results) {
        let what = metric_named(metric).map_or("", |m| m.what);
        let (ours, go, may, tokio) = (row[0], row[1], row[2], row[3]);
        println!(
            "| {:<49} | {:>2} | {:>7} | {:>7} | {:>7} | {:>7} | {:>7} | {:>8} | {:>10} | {:<10} |",
            what,
            procs,
            fmt_val(ours),
            fmt_val(go),
            fmt_val(may),
            fmt_val(tokio),
            fmt_ratio(ours, go),
            fmt_ratio(ours, may),
            fmt_ratio(ours, tokio),
            target(metric, ours, go),
        );
    }
    for n in notes {
        println!("note: {n}");
    }
}
