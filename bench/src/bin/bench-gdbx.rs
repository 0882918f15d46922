//! Benchmarks for gdbx against plain gdb (run: `bench/run gdbx`, which
//! builds `gdbx` and this program in release and runs this program; it
//! uses the `gdbx` beside its own executable).
//!
//! 1. `gdbx break-bootstrap` against a hand-written gdb batch script that
//!    sets the same breakpoints by name (`tbreak`) and continues through
//!    them, on the same binary: target overhead <= 1.3x.
//! 2. Resolving the plan (`gdbx symbols`) against gdb loading the same
//!    binary and setting the same breakpoints by name (`gdb -batch -ex
//!    'break NAME'`), on the largest debug binary: target >= 5x faster.
//!
//! 3. `gdbx tour` against `gdbx break-bootstrap` on the same binary (our
//!    hello and Go's): the tour stops at the same breakpoints and reads
//!    the process at each; target <= 1.5x. The two are run alternately, so
//!    a change in the machine's load hits both.
//!
//! Each measurement is the median wall time of `GDBX_BENCH_RUNS` runs
//! (default 7) after one warm-up run. Prints a table.

use gdbx_tests::{Variant, example_bin};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The medians of `a` and `b`, run alternately (after one warm-up each).
fn median_pair_ms(runs: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    a();
    b();
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1000.0
    };
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ta.push(time(&mut a));
        tb.push(time(&mut b));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(ta), median(tb))
}

fn run_ok(cmd: &mut Command) {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `gdbx symbols --format json [extra] BINARY`, parsed.
fn symbols_doc(gdbx: &Path, bin: &Path, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(gdbx)
        .args(["symbols", "--format", "json"])
        .args(extra)
        .arg(bin)
        .output()
        .expect("gdbx symbols");
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The plan's present steps, as gdbx resolves them.
fn step_symbols(gdbx: &Path, bin: &Path) -> Vec<String> {
    let doc = symbols_doc(gdbx, bin, &["--plan", "ours"]);
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["present"] == true)
        .map(|s| s["symbol"].as_str().unwrap().to_string())
        .collect()
}

/// How many steps of the plan are required (not optional).
fn required_steps(gdbx: &Path, bin: &Path) -> usize {
    let doc = symbols_doc(gdbx, bin, &[]);
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["optional"] == false)
        .count()
}

fn gdb_script_run(bin: &Path, symbols: &[String]) -> Command {
    let mut cmd = Command::new("gdb");
    cmd.args([
        "-batch",
        "-nx",
        "-q",
        "-ex",
        "set auto-load off",
        "-ex",
        "set confirm off",
    ]);
    cmd.args(["-ex", "handle SIGURG SIGPIPE SIGPROF SIGALRM SIGCHLD SIGWINCH SIGUSR1 SIGUSR2 SIGXCPU nostop noprint pass"]);
    for s in symbols {
        cmd.arg("-ex").arg(format!("tbreak '{s}'"));
    }
    cmd.args(["-ex", "run > /dev/null"]);
    for _ in symbols {
        cmd.args(["-ex", "continue"]);
    }
    cmd.arg(bin);
    cmd
}

/// The largest ELF file with DWARF under target/ (dev and release builds
/// both keep full debug info: top-level binaries, test executables, fixtures).
fn largest_debug_binary(ws: &Path) -> Option<PathBuf> {
    let mut best: Option<(u64, PathBuf)> = None;
    let target = ws.join("target");
    let dirs = [
        "debug",
        "debug/deps",
        "fixtures/debug",
        "release",
        "release/deps",
        "fixtures/release",
    ];
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(target.join(d)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = e.metadata() else { continue };
            if !m.is_file() || p.extension().is_some() {
                continue;
            }
            let Ok(bin) = debuginfo::Binary::open(&p) else {
                continue;
            };
            if bin.has_dwarf() && best.as_ref().is_none_or(|(s, _)| m.len() > *s) {
                best = Some((m.len(), p));
            }
        }
    }
    best.map(|(_, p)| p)
}

fn main() {
    let runs: usize = std::env::var("GDBX_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
        .max(1);
    let gdbx = match std::env::current_exe().map(|e| e.with_file_name("gdbx")) {
        Ok(p) if p.is_file() => p,
        _ => {
            eprintln!(
                "bench-gdbx: no gdbx beside this program: build both with `cargo build --release -p gdbx -p bench` (bench/run gdbx does)"
            );
            std::process::exit(2);
        }
    };
    let ws = gdbx_tests::workspace_root();
    let mut rows: Vec<(String, f64, f64, String)> = Vec::new();

    for (label, variant) in [
        ("hello (debug)", Variant::Debug),
        ("hello (release)", Variant::Release),
    ] {
        let bin = example_bin("hello", variant);
        let symbols = step_symbols(&gdbx, &bin);
        let ours = median_ms(runs, || {
            run_ok(
                Command::new(&gdbx)
                    .args(["break-bootstrap", "--format", "json"])
                    .arg(&bin),
            );
        });
        // gdb's batch status reflects its last command (a `continue` after
        // the exit fails), so judge the script by its breakpoint hits.
        let required = required_steps(&gdbx, &bin);
        let script = median_ms(runs, || {
            let out = gdb_script_run(&bin, &symbols)
                .stderr(Stdio::null())
                .output()
                .expect("gdb");
            let text = String::from_utf8_lossy(&out.stdout);
            let hits = text
                .lines()
                .filter(|l| l.contains("Temporary breakpoint ") && l.contains(", "))
                .count();
            assert!(
                hits >= required,
                "the gdb script hit {hits} of {required} steps:\n{text}"
            );
        });
        rows.push((
            format!("break-bootstrap {label}, {} breakpoints", symbols.len()),
            ours,
            script,
            "<= 1.3x".into(),
        ));
    }

    for (label, bin) in [
        ("hello (debug)", example_bin("hello", Variant::Debug)),
        ("Go hello", gdbx_tests::go_hello(false)),
    ] {
        let run = |cmd: &str| {
            run_ok(
                Command::new(&gdbx)
                    .args([cmd, "--format", "json"])
                    .arg(&bin)
                    .env_remove("GOMAXPROCS"),
            )
        };
        let (tour, bootstrap) = median_pair_ms(runs, || run("tour"), || run("break-bootstrap"));
        rows.push((
            format!("tour {label} vs break-bootstrap on it"),
            tour,
            bootstrap,
            "<= 1.5x".into(),
        ));
    }

    let mut candidates = vec![example_bin("hello", Variant::Debug)];
    candidates.extend(largest_debug_binary(&ws));
    for bin in candidates {
        let symbols = step_symbols(&gdbx, &bin);
        let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
        let ours = median_ms(runs, || {
            run_ok(
                Command::new(&gdbx)
                    .args(["symbols", "--plan", "ours", "--format", "json"])
                    .arg(&bin),
            );
        });
        let gdb = median_ms(runs, || {
            let mut cmd = Command::new("gdb");
            cmd.args(["-batch", "-nx", "-q", "-ex", "set auto-load off"]);
            for s in &symbols {
                cmd.arg("-ex").arg(format!("break '{s}'"));
            }
            run_ok(cmd.arg(&bin));
        });
        let name = bin.strip_prefix(&ws).unwrap_or(&bin).display().to_string();
        rows.push((
            format!(
                "resolve plan: {name} ({:.1} MB, {} steps)",
                size as f64 / 1e6,
                symbols.len()
            ),
            ours,
            gdb,
            ">= 5x faster".into(),
        ));
    }

    println!(
        "\n{:<78} {:>10} {:>10} {:>7}  target",
        "benchmark (median of runs)", "gdbx ms", "peer ms", "ratio"
    );
    for (name, ours, other, target) in &rows {
        let ratio = if target.starts_with("<=") {
            ours / other
        } else {
            other / ours
        };
        let label = if target.starts_with("<=") {
            format!("{ratio:.2}x")
        } else {
            format!("{ratio:.1}x")
        };
        println!("{name:<78} {ours:>10.1} {other:>10.1} {label:>7}  {target}");
    }
    println!(
        "(peer: the gdb script, gdb, or break-bootstrap as named; ratio: gdbx/peer for overheads, peer/gdbx for plan resolution speed-up; {runs} runs each)"
    );
}
