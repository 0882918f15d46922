//! The inspection core without gdb, on core files that the fixture builder
//! writes once: `parked 20` of our runtime (debug and release builds) and
//! its Go twin (the `-N -l` debugging build, a plain optimised build, a PIE and
//! a cgo program), each stopped in `main.ready` with 20 goroutines parked in
//! a channel receive.

use std::path::Path;

use gdbx_tests::cores::{GoBuild, gcore_at, go_parked};
use gdbx_tests::{Variant, example_bin, workspace_root};
use inspect::{Chain, CoreFile, Program, Snapshot, Thread};

const N: usize = 20;

/// `bin ARGS`' core at main.ready (written once by the fixture builder),
/// the program with its load bias set, and the core's threads.
fn core_of(bin: &Path, args: &[&str], name: &str) -> (Program, CoreFile, Vec<Thread>) {
    let core_path = gcore_at(bin, args, "main.ready", name);
    let mut prog = Program::open(bin, &workspace_root().display().to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let core = CoreFile::open(&core_path).expect("open the core");
    let bias = prog.bias_for_entry(core.entry());
    assert_eq!(
        bias != 0,
        prog.binary().is_pie(),
        "{name}: load bias {bias:#x}"
    );
    prog.set_bias(bias, &core);
    let threads: Vec<Thread> = core
        .threads()
        .iter()
        .enumerate()
        .map(|(i, t)| Thread::from_regs(i as i64 + 1, t.lwp, &t.regs))
        .collect();
    assert!(!threads.is_empty(), "{name}: the core has threads");
    (prog, core, threads)
}

/// The snapshot of `bin`'s core at main.ready, and the program.
fn snapshot_of(bin: &Path, name: &str) -> (Program, Snapshot) {
    let (prog, core, threads) = core_of(bin, &[&N.to_string()], name);
    let image = prog.image();
    let snap = prog
        .snapshot(&Chain(&core, &image), &threads)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (prog, snap)
}

fn check(snap: &Snapshot, worker: &str, file: &str, name: &str) {
    let dump = || format!("{name}:\n{snap:#?}");
    assert!(snap.bad.is_empty(), "{}", dump());
    let waiting: Vec<_> = snap
        .goroutines
        .iter()
        .filter(|g| g.status == "waiting (chan receive)" && g.location.starts_with(worker))
        .collect();
    assert_eq!(waiting.len(), N, "{}", dump());
    for g in &waiting {
        assert!(
            g.location.contains(file),
            "{name}: {} is at {}",
            g.goid,
            g.location
        );
        assert!(g.started && !g.on_cpu && g.thread.is_none(), "{}", dump());
        assert!(g.created.contains(':'), "{name}: created at {}", g.created);
    }
    let main = snap
        .goroutines
        .iter()
        .find(|g| g.goid == 1)
        .expect("goroutine 1");
    assert!(main.on_cpu && main.thread.is_some(), "{}", dump());
    assert!(main.status == "running", "{}", dump());
    assert!(main.location.starts_with("main.ready"), "{}", dump());
    assert!(
        !snap.ms.is_empty() && snap.ps.len() == 2,
        "GOMAXPROCS=2: {}",
        dump()
    );
    let runner = snap
        .threads
        .iter()
        .find(|t| Some(t.num) == main.thread)
        .unwrap();
    assert!(runner.m_id.is_some() && !runner.on_g0, "{}", dump());
    assert!(snap.sched.is_some());
}

#[test]
fn ours_debug_and_release() {
    gdbx_tests::require_gdb!();
    for (variant, name) in [
        (Variant::Debug, "parked-debug"),
        (Variant::Release, "parked-release"),
    ] {
        let bin = example_bin("parked", variant);
        let (prog, snap) = snapshot_of(&bin, name);
        assert_eq!(prog.flavour(), inspect::Flavour::Ours);
        check(&snap, "parked::waiter", "examples/src/bin/parked.rs:", name);
        let w = snap
            .goroutines
            .iter()
            .find(|g| g.location.starts_with("parked::waiter"))
            .unwrap();
        assert!(w.created.contains(" by g1"), "{name}: {}", w.created);
    }
}

#[test]
fn go_every_build() {
    gdbx_tests::require_gdb!();
    for build in [GoBuild::NoOpt, GoBuild::Plain, GoBuild::Pie, GoBuild::Cgo] {
        let bin = go_parked(build);
        let name = format!("go-parked-{build:?}");
        let (prog, snap) = snapshot_of(&bin, &name);
        assert_eq!(prog.flavour(), inspect::Flavour::Go119);
        check(&snap, "main.worker", "main.go:", &name);
        let w = snap
            .goroutines
            .iter()
            .find(|g| g.location.starts_with("main.worker"))
            .unwrap();
        assert!(w.created.starts_with("main.main"), "{name}: {}", w.created);
    }
}

/// `info goroutines` in pieces (as gdb is handed it) is the table in one
/// string, cut after whole lines; a sink that says stop gets no more.
#[test]
fn the_table_in_pieces() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("parked", Variant::Debug);
    let (prog, core, threads) = core_of(&bin, &[&N.to_string()], "parked-debug");
    let image = prog.image();
    let mem = Chain(&core, &image);
    let view = prog.view(&mem, &threads);
    let f = inspect::Filter::default();
    let whole = view.info_goroutines(&f).unwrap();
    assert!(whole.lines().count() > N, "{whole}");
    for piece in [1, 200] {
        let mut pieces: Vec<String> = Vec::new();
        view.info_goroutines_to(&f, piece, &mut |p| {
            pieces.push(p.to_string());
            true
        })
        .unwrap();
        assert!(pieces.len() > 1, "pieces of {piece} bytes: {pieces:?}");
        assert!(pieces.iter().all(|p| p.ends_with('\n')), "{pieces:?}");
        assert_eq!(pieces.concat(), whole, "pieces of {piece} bytes");
    }
    let mut calls = 0;
    view.info_goroutines_to(&f, 1, &mut |_| {
        calls += 1;
        false
    })
    .unwrap();
    assert_eq!(calls, 1, "a sink that says stop is called once");
}

/// Goroutines whose stacks have the same shape (parked at the same pc, as
/// deep) with different user functions in them - `parked --twins` - are
/// each placed at their own function: the walk that one of them leaves for
/// the others of its shape is not taken for theirs. Debug and release.
#[test]
fn same_shape_other_function() {
    gdbx_tests::require_gdb!();
    // 96: every stack offset (goid modulo 32) has goroutines of both kinds.
    const TWINS: usize = 96;
    for (variant, name) in [
        (Variant::Debug, "parked-twins-debug"),
        (Variant::Release, "parked-twins-release"),
    ] {
        let bin = example_bin("parked", variant);
        let (prog, core, threads) = core_of(&bin, &[&TWINS.to_string(), "--twins"], name);
        let image = prog.image();
        let mem = Chain(&core, &image);
        let view = prog.view(&mem, &threads);
        let (rows, bad) = view.rows(|g| !prog.decoder().is_dead(g)).unwrap();
        assert!(bad.is_empty(), "{name}: {bad:?}");
        let at = |f: &str| -> Vec<&inspect::view::Row> {
            rows.iter()
                .filter(|r| r.loc.starts_with(&format!("parked::{f} ")))
                .collect()
        };
        let (waiters, twins) = (at("waiter"), at("waiter_twin"));
        assert_eq!(
            (waiters.len(), twins.len()),
            (TWINS - TWINS / 3, TWINS / 3),
            "{name}: {:#?}",
            rows.iter().map(|r| (r.g.goid, &*r.loc)).collect::<Vec<_>>()
        );
        // And they do share shapes: the same saved pc and depths.
        let shape = |r: &inspect::view::Row| (r.g.pc, r.g.hi - r.g.sp, r.g.hi - r.g.bp);
        assert!(
            twins
                .iter()
                .any(|t| waiters.iter().any(|w| shape(w) == shape(t))),
            "{name}: no waiter has a twin's shape"
        );
    }
}

/// No frame is shown at line 0: where the line table of our release build
/// says 0 (code the compiler gives no line), the symboliser shows the
/// nearest real line of the function, as gdb and addr2line do (checked at
/// every such row of the table, in every function that has a real line).
#[test]
fn rows_at_line_0_show_a_real_line() {
    let bin = example_bin("parked", Variant::Release);
    let prog = Program::open(&bin, "").unwrap_or_else(|e| panic!("{e}"));
    let info = prog.binary().debug_info().expect("DWARF");
    let ctx = info.context();
    let text = prog
        .binary()
        .symbols()
        .iter()
        .filter(|s| s.size > 0)
        .map(|s| (s.address, s.address + s.size))
        .fold((u64::MAX, 0), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)));
    let mut zero = 0;
    for (addr, _, loc) in ctx.find_location_range(text.0, text.1).unwrap() {
        // addr2line reads line 0 as no line.
        if loc.line.is_some_and(|n| n != 0) {
            continue;
        }
        let Some(sym) = prog.binary().symbol_at(addr) else {
            continue;
        };
        let real = ctx
            .find_location_range(sym.address, sym.address + sym.size.max(1))
            .unwrap()
            .any(|(_, _, l)| l.line.is_some_and(|n| n != 0));
        if !real {
            continue;
        }
        zero += 1;
        let frames = prog.symbols().frames(addr);
        let f = frames.first().expect("a frame");
        assert_ne!(f.line, 0, "{addr:#x} in {}: {frames:?}", sym.name);
        assert!(!f.describe().contains(":0)"), "{}", f.describe());
    }
    assert!(zero > 0, "the release build has rows at line 0");
}

/// A kernel core of a Go program killed by SIGQUIT under GOTRACEBACK=crash:
/// every thread is in Go's signal handler on its gsignal stack. The
/// spinning goroutine runs on its thread (its context is the thread's
/// registers, through the signal frame), and is placed at main.spinner,
/// not at its stale G.sched.
#[test]
fn go_crash_core_running_goroutine_is_placed_through_the_signal_frame() {
    let bin = gdbx_tests::go_program("crasher", gdbx_tests::cores::GO_CRASHER, false);
    let core_path = gdbx_tests::cores::crash_core(
        &bin,
        &["quit"],
        &[("GOMAXPROCS", "2"), ("GODEBUG", "asyncpreemptoff=1")],
        "go-crasher-quit",
    );
    let mut prog = Program::open(&bin, "").unwrap_or_else(|e| panic!("{e}"));
    let core = CoreFile::open(&core_path).expect("open the core");
    prog.set_bias(prog.bias_for_entry(core.entry()), &core);
    prog.set_libraries(core.files().to_vec(), None, &core);
    let image = prog.image();
    let mem = Chain(&core, &image);
    let threads: Vec<Thread> = core
        .threads()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut th = Thread::from_regs(i as i64 + 1, t.lwp, &t.regs);
            let r = &t.regs;
            th.pcs = prog
                .unwinder()
                .unwind(&mem, r.rip, r.rsp, r.rbp, true, 64)
                .iter()
                .map(|f| f.pc)
                .collect();
            th
        })
        .collect();
    let snap = prog.snapshot(&mem, &threads).unwrap();
    let spinner = snap
        .goroutines
        .iter()
        .find(|g| g.status == "running")
        .unwrap_or_else(|| panic!("{snap:#?}"));
    assert!(spinner.on_cpu && spinner.thread.is_some(), "{spinner:#?}");
    assert!(
        spinner.location.starts_with("main.spinner ("),
        "{spinner:#?}"
    );
}
