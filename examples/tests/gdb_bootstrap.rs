//! gdb watches `hello` boot: a breakpoint on every step of the runtime's
//! bootstrap sequence, each printing its name and thread, then `run`; the hits
//! must come in the bootstrap's order, on the main thread, and the program
//! must still print `hello world!` and exit normally. Modelled on Go's
//! runtime-gdb_test.go (gdb in batch mode, output matched).
//!
//! The steps are the bootstrap plan's own list (`debuginfo::plan`, which
//! `gdbx break-bootstrap` uses too): steps 1-14; sysmon and the scavenger
//! are checked in sysmon.rs.

use debuginfo::plan::Plan;
use gdbx_tests::gdb::Gdb;

fn hits(procs: &str, plan: &[&str]) -> (Vec<(String, u32)>, String) {
    let out = Gdb::new(env!("CARGO_BIN_EXE_hello"))
        .env("GOMAXPROCS", procs)
        .hits(plan)
        .ex("run")
        .run();
    let hits = out
        .hits()
        .into_iter()
        .map(|h| (h.symbol, h.thread))
        .collect();
    (hits, out.all)
}

fn check_order(procs: &str) {
    let plan = Plan::ours().chain();
    let plan = plan.as_slice();
    let (hits, log) = hits(procs, plan);
    // Every step is hit...
    for sym in plan {
        assert!(
            hits.iter().any(|(s, _)| s == sym),
            "GOMAXPROCS={procs}: {sym} was never hit\n{log}"
        );
    }
    // ...first hits in the bootstrap's order...
    let first: Vec<usize> = plan
        .iter()
        .map(|sym| hits.iter().position(|(s, _)| s == sym).unwrap())
        .collect();
    for w in first.windows(2) {
        assert!(
            w[0] < w[1],
            "GOMAXPROCS={procs}: {} hit after {}\n{log}",
            hits[w[0]].0,
            hits[w[1]].0
        );
    }
    // ...all on the main thread (gdb thread 1)...
    for &i in &first {
        assert_eq!(
            hits[i].1, 1,
            "GOMAXPROCS={procs}: {} not on the main thread\n{log}",
            hits[i].0
        );
    }
    // ...and the bootstrap itself runs once.
    for sym in &plan[..8] {
        assert_eq!(
            hits.iter().filter(|(s, _)| s == sym).count(),
            1,
            "GOMAXPROCS={procs}: {sym} hit more than once\n{log}"
        );
    }
    assert!(
        log.contains("hello world!"),
        "program output missing\n{log}"
    );
    assert!(
        log.contains("exited normally"),
        "program did not exit 0\n{log}"
    );
}

#[test]
fn gdb_sees_the_bootstrap_sequence_in_order() {
    gdbx_tests::require_gdb!();
    check_order("1");
    check_order("2");
}

/// A parked goroutine's saved context (`G.sched`: sp, pc, bp) is what a
/// debugger unwinds from: load it into the registers of a stopped thread
/// and gdb's ordinary DWARF unwinding walks from `gopark` back through the
/// channel receive and the goroutine's function to `runtime.goexit`, and
/// stops there cleanly.
#[test]
fn gdb_unwinds_a_parked_goroutine_from_its_gobuf() {
    gdbx_tests::require_gdb!();
    let script = "set confirm off\nset language c\n\
        break main.ready\nrun\n\
        set $n = 'runtime::runtime2::ALLGLEN'\nset $i = 0\nset $found = 0\n\
        while $i < $n && !$found\n\
          set $g = 'runtime::runtime2::ALLGS'[$i]\n\
          if $g->atomicstatus == 4 && $g->waitreason == 1\n\
            set $found = 1\n\
          else\n\
            set $i = $i + 1\n\
          end\n\
        end\n\
        printf \"FOUND %d goid=%d\\n\", $found, $g->goid\n\
        set $sp = $g->sched.sp\nset $rbp = $g->sched.bp\nset $pc = $g->sched.pc\n";
    let out = Gdb::new(env!("CARGO_BIN_EXE_parked"))
        .args(["3"])
        .env("GOMAXPROCS", "2")
        .script(script)
        .block("bt", &["bt"])
        .ex("kill")
        .run();
    let log = &out.all;
    assert!(
        log.contains("FOUND 1 goid="),
        "no goroutine parked in chan receive\n{log}"
    );
    let bt = out.block("bt");
    let frames: Vec<&str> = bt.lines().filter(|l| l.starts_with('#')).collect();
    assert!(frames.len() >= 3, "too few frames\n{log}");
    assert!(
        frames.last().unwrap().contains("goexit"),
        "unwinding must end at runtime.goexit\n{log}"
    );
    assert!(
        bt.contains("parked"),
        "the goroutine's own function is on the stack\n{log}"
    );
    if cfg!(debug_assertions) {
        assert!(
            frames[0].contains("gopark"),
            "innermost frame is gopark\n{log}"
        );
        assert!(bt.contains("waiter"), "{log}");
    }
    assert!(
        !bt.contains("Backtrace stopped") && !bt.contains("corrupt"),
        "unwinding must stop cleanly\n{log}"
    );
}
