//! Where the inspection core places goroutines and starts their stacks, as
//! gdb with the extension shows them: a goroutine in a cgo call unwound
//! from where it entered the call, the crashing goroutine of a Go core
//! placed through Go's signal frame, and no location with line 0.
//!
//! Cost: a cgo build and a plain build of two small Go programs, two kernel
//! cores of one of them (GOTRACEBACK=crash), the release build of
//! `parked`, and four short gdb runs.

use gdbx_tests::cores::{GO_CGO_CALLS, GO_CRASHER, crash_core};
use gdbx_tests::gdb::Gdb;
use gdbx_tests::{Variant, example_bin, go_program};

/// The goroutine blocks of `goroutine all bt`: `goroutine N [...]:`
/// followed by its frames, as (header, frames).
fn goroutine_blocks(text: &str) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with("goroutine ") && line.ends_with("]:") {
            out.push((line, String::new()));
        } else if let Some((_, frames)) = out.last_mut() {
            frames.push_str(line);
            frames.push('\n');
        }
    }
    out
}

/// `goroutine N bt` of a goroutine in a cgo call (on g0 in C code, its
/// G.sched at Go's systemstack_switch) starts from where it entered the
/// call, G.syscallpc/sp, as Go's traceback does: runtime.cgocall, then its
/// caller, never `?? ()`.
#[test]
fn gdb_unwinds_a_goroutine_in_a_cgo_call_from_its_entry() {
    gdbx_tests::require_gdb!();
    let bin = go_program("cgocalls", GO_CGO_CALLS, false);
    let out = Gdb::new(&bin)
        .extension()
        .env("GOMAXPROCS", "2")
        .ex("break main.ready")
        .ex("run")
        .block("bt", &["goroutine all bt"])
        .run();
    out.assert_no_python_errors();
    let bt = out.block("bt");
    for (entry, caller) in [
        ("main._Cfunc_c_sleep", "main.main.func1"),
        ("main._Cfunc_c_spin", "main.main.func2"),
    ] {
        let (head, frames) = goroutine_blocks(bt)
            .into_iter()
            .find(|(_, f)| f.contains(&format!(" {entry} ")))
            .unwrap_or_else(|| panic!("no goroutine in {entry}:\n{bt}"));
        assert!(head.contains("[syscall]"), "{head}\n{frames}");
        assert!(
            frames.starts_with("#0 ")
                && frames.lines().next().unwrap().contains(" runtime.cgocall "),
            "{head}\n{frames}"
        );
        assert!(frames.contains(&format!(" {caller} ")), "{head}\n{frames}");
        assert!(!frames.contains("?? ("), "{head}\n{frames}");
    }
}

/// `info goroutines` on kernel cores of a Go program under
/// GOTRACEBACK=crash places the crashing goroutine through Go's signal
/// frame (gdb's own frames of the thread stop at runtime.sigtramp): the
/// panicking main goroutine at main.boom; and, after a SIGQUIT (every
/// thread in the signal handler on its gsignal stack), the spinning
/// goroutine at main.spinner.
#[test]
fn gdb_places_the_crashing_goroutine_of_a_go_core_through_the_signal_frame() {
    gdbx_tests::require_gdb!();
    let bin = go_program("crasher", GO_CRASHER, false);
    let env = [("GOMAXPROCS", "2"), ("GODEBUG", "asyncpreemptoff=1")];
    for (mode, goid, at) in [
        ("panic", "1", "main.boom ("),
        ("quit", "", "main.spinner ("),
    ] {
        let core = crash_core(&bin, &[mode], &env, &format!("go-crasher-{mode}"));
        let out = Gdb::new(&bin)
            .extension()
            .core(&core)
            .block("g", &["info goroutines"])
            .run();
        out.assert_no_python_errors();
        let table = out.block("g");
        let row = table
            .lines()
            .find(|l| {
                let mut cols = l.trim_start_matches('*').split_whitespace();
                let id = cols.next().unwrap_or("");
                let st = cols.next().unwrap_or("");
                st == "running" && (goid.is_empty() || id == goid)
            })
            .unwrap_or_else(|| panic!("{mode}: no running goroutine {goid}:\n{table}"));
        assert!(row.contains(at), "{mode}: {row}\n{table}");
    }
}

/// `info goroutines` at a breakpoint inside an inlined function of our
/// release build (newproc1 inlined into runtime.newproc): gdb lists the
/// inlined frame as a frame of its own at the same pc, which is no return
/// address; the location is at a real line (gdb's), never line 0.
#[test]
fn gdb_locations_never_show_line_0() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("parked", Variant::Release);
    let out = Gdb::new(&bin)
        .extension()
        .env("GOMAXPROCS", "2")
        .ex("break runtime::proc::newproc1")
        .ex("run 5")
        .ex("continue")
        .block("g", &["info goroutines"])
        .block("bt", &["bt 2"])
        .run();
    out.assert_no_python_errors();
    let table = out.block("g");
    assert!(!table.contains(":0)"), "{table}");
    let row = table
        .lines()
        .find(|l| l.contains(" running "))
        .unwrap_or_else(|| panic!("no running goroutine:\n{table}"));
    // The line gdb shows for the frame the location names.
    let bt = out.block("bt");
    let func = row[..row.find(" (").unwrap()].rsplit(' ').next().unwrap();
    let gdb_line = bt
        .lines()
        .find(|l| l.contains(&format!(" {func} (")))
        .and_then(|l| l.rsplit(':').next())
        .unwrap_or_else(|| panic!("{func} is not in gdb's frames:\n{bt}"));
    assert!(
        row.contains(&format!(".rs:{})", gdb_line.trim())),
        "{row}\n{bt}"
    );
}
