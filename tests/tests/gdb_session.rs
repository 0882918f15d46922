//! What a gdb session with the extension must survive and how it must look:
//! backtraces on release builds (printers never switch threads), another
//! program loaded into the same session, thread names across resumes, the
//! runtime before schedinit, gdb's own settings left alone, unknown frames
//! and unreadable arguments printed as gdb prints them. Each test is one or
//! two short gdb runs (1-3 s each) on fixtures the other gdb tests share.

use std::path::PathBuf;

use gdbx_tests::cores::{GoBuild, go_parked};
use gdbx_tests::gdb::{Gdb, GdbOutput};
use gdbx_tests::{Variant, example_bin};

fn parked(variant: Variant) -> PathBuf {
    example_bin("parked", variant)
}

fn gdb_ext(bin: &std::path::Path) -> Gdb {
    let mut g = Gdb::new(bin);
    g.extension().env("GOMAXPROCS", "2");
    g
}

/// Neither a gdb abort nor a Python error text reached the output.
fn clean(o: &GdbOutput) {
    o.assert_no_python_errors();
    for bad in ["internal-error", "gdb.MemoryError", "gdb.error"] {
        assert!(!o.all.contains(bad), "{bad} in gdb's output:\n{}", o.all);
    }
}

/// A `bt` at the runtime's scheduler functions of a release build, where G
/// and P pointers are arguments in registers: gdb once aborted there
/// (`read_var_value: Assertion 'frame != NULL'`), because the G printer
/// switched threads while gdb printed the frame.
#[test]
fn release_backtraces_in_the_scheduler_do_not_abort_gdb() {
    gdbx_tests::require_gdb!();
    let mut g = gdb_ext(&parked(Variant::Release));
    g.ex("break runtime::proc::execute")
        .ex("break runtime::proc::newproc1")
        .ex("break runtime::runq::runqput")
        .ex("run 3");
    for i in 0..6 {
        g.block(&format!("stop{i}"), &["bt", "bt -full", "print *$g()"])
            .ex("continue");
    }
    let o = g.run();
    clean(&o);
    let mut seen = Vec::new();
    for i in 0..6 {
        let b = o.block(&format!("stop{i}"));
        assert!(b.starts_with("#0  "), "stop {i}:\n{}", o.all);
        for f in ["execute", "newproc1", "runqput"] {
            if b.lines().next().is_some_and(|l| l.contains(f)) {
                seen.push(f);
            }
        }
    }
    for f in ["execute", "newproc1", "runqput"] {
        assert!(seen.contains(&f), "no stop in {f}:\n{}", o.all);
    }
}

/// `file OTHER` in the same session: the commands read the new program
/// (ours, Go's), or say that it is neither, never the old layouts.
#[test]
fn another_program_in_the_same_session() {
    gdbx_tests::require_gdb!();
    let first = parked(Variant::Debug);
    let hello = example_bin("hello", Variant::Debug);
    let go = go_parked(GoBuild::NoOpt);
    let o = gdb_ext(&first)
        .ex("set confirm off")
        .ex("break main.ready")
        .ex("run 2")
        .block("first", &["info goroutines"])
        .ex("kill")
        .ex("delete")
        .ex(format!("file {}", hello.display()))
        .ex("break main.main")
        .ex("run")
        .block("hello", &["info goroutines", "info threads"])
        .ex("kill")
        .ex("delete")
        .ex(format!("file {}", go.display()))
        .ex("break main.ready")
        .ex("run 3")
        .block("go", &["info goroutines -location main.worker -group"])
        .ex("kill")
        .ex("file /bin/true")
        .block("foreign", &["info goroutines"])
        .run();
    clean(&o);
    assert!(o.block("first").contains("parked::waiter"), "{}", o.all);
    let hello_gs = o.block("hello");
    assert!(hello_gs.contains("main.main"), "{}", o.all);
    assert!(
        !hello_gs.contains("waiter") && !hello_gs.contains("cannot read"),
        "{}",
        o.all
    );
    let loaded = o.all.matches("gdbx: loaded runtime support for").count();
    assert_eq!(loaded, 3, "one load line per program:\n{}", o.all);
    assert!(
        o.block("go")
            .lines()
            .any(|l| l.trim_start().starts_with("3 ") && l.contains("main.worker")),
        "{}",
        o.all
    );
    assert!(
        o.block("foreign")
            .contains("/usr/bin/true is neither a Go 1.19 program nor one on the gdbx runtime"),
        "{}",
        o.all
    );
}

/// A Go program the core cannot read (here linked with `-ldflags=-w`: no
/// DWARF, so no layout of runtime.g): one line that says what is missing,
/// and no commands, so gdb's own "Undefined command" answers rather than
/// rows of garbage.
#[test]
fn unreadable_runtime_gets_one_line_and_no_commands() {
    gdbx_tests::require_gdb!();
    let src = "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n";
    let bin = gdbx_tests::go_build("nodwarf", src, &["-ldflags=-w"]);
    let o = gdb_ext(&bin)
        .ex("break main.main")
        .ex("run")
        .block("g", &["info goroutines"])
        .block("bt", &["goroutine 1 bt"])
        .block("ms", &["info ms"])
        .run_unchecked();
    o.assert_no_python_errors();
    let said: Vec<&str> = o.all.lines().filter(|l| l.starts_with("gdbx: ")).collect();
    assert_eq!(said.len(), 1, "{}", o.all);
    assert!(
        said[0].contains("cannot read the runtime's types from the DWARF")
            && said[0].contains("no DWARF debug info"),
        "{}",
        said[0]
    );
    assert!(
        o.block("g")
            .contains("Undefined info command: \"goroutines\""),
        "{}",
        o.all
    );
    assert!(
        o.block("bt").contains("Undefined command: \"goroutine\""),
        "{}",
        o.all
    );
    assert!(
        o.block("ms").contains("Undefined info command: \"ms\""),
        "{}",
        o.all
    );
}

/// The stop line (`Thread 2 "NAME" hit Breakpoint`) is printed before the
/// extension hears of the stop: thread names are dropped when the program
/// resumes (a `continue`, Ctrl-C's resume) so that the stop line never names
/// the goroutine a thread ran before; `info threads` names them afresh.
#[test]
fn thread_names_are_never_stale() {
    gdbx_tests::require_gdb!();
    let mut g = gdb_ext(&parked(Variant::Debug));
    g.ex("break parked::waiter").ex("run 4");
    for i in 0..4 {
        g.block(&format!("stop{i}"), &["info threads"])
            .ex("continue");
    }
    let o = g.run();
    clean(&o);
    let stop_lines: Vec<&str> = o
        .all
        .lines()
        .filter(|l| l.contains("hit Breakpoint"))
        .collect();
    assert!(stop_lines.len() >= 4, "{}", o.all);
    for l in &stop_lines {
        // The OS name, not "M<id> g<goid>".
        assert!(!l.contains("\"M"), "stale name in {l}\n{}", o.all);
    }
    for i in 0..4 {
        let b = o.block(&format!("stop{i}"));
        assert!(
            b.contains("\"M") && b.contains(" g"),
            "names after the stop:\n{b}"
        );
    }
}

/// Before schedinit no G exists: the functions say so, as the commands do.
#[test]
fn functions_before_schedinit_say_the_runtime_is_not_initialised() {
    gdbx_tests::require_gdb!();
    let o = gdb_ext(&parked(Variant::Debug))
        .ex("break runtime.check")
        .ex("run 1")
        .block("g", &["print *$g()"])
        .block("goid", &["print $goid()"])
        .block("m", &["print $m()"])
        .run();
    clean(&o);
    for b in ["g", "goid", "m"] {
        assert!(
            o.block(b).contains("the runtime is not initialised yet"),
            "{b}:\n{}",
            o.all
        );
        assert!(!o.block(b).contains("goroutine 0"), "{}", o.all);
    }
}

/// The extension leaves `backtrace past-main` to the user (goroutine
/// commands go past main only while they run); the runtime's allgs prints
/// as its goroutines; frames without a function print as `?? ()`.
#[test]
fn output_details() {
    gdbx_tests::require_gdb!();
    let o = gdb_ext(&parked(Variant::Debug))
        .ex("break main.ready")
        .ex("run 3")
        .block("before", &["show backtrace past-main"])
        .block("all", &["goroutine all bt"])
        .block("after", &["show backtrace past-main"])
        .block("allgs", &["print runtime::runtime2::ALLGS"])
        .run();
    clean(&o);
    for b in ["before", "after"] {
        assert!(o.block(b).contains("is off"), "{b}:\n{}", o.all);
    }
    assert!(o.block("all").contains("runtime.goexit"), "{}", o.all);
    let allgs = o.block("allgs");
    assert!(
        allgs.contains("allgs (") && allgs.contains("goroutine 1 [running]"),
        "{allgs}"
    );
    // Goroutine ids depend on which P made them (each P takes ids in
    // batches, as Go's do), so the waiters are found by where they wait.
    // (Live, a wait may carry its duration: `[waiting (chan receive, 1s)]`.)
    let waiters = allgs
        .split("goroutine ")
        .filter(|g| g.contains("[waiting (chan receive") && g.contains("] at parked::waiter"))
        .count();
    assert_eq!(waiters, 3, "{allgs}");

    // A thread's own Go stack, unwound past main, ends in a frame at pc 0:
    // `?? ()` through the frame filter (a goroutine's own backtrace stops
    // at runtime.goexit); an unknown function is never `in  (`.
    let go = go_parked(GoBuild::NoOpt);
    let o = gdb_ext(&go)
        .ex("break main.ready")
        .ex("run 2")
        .block("all", &["goroutine all bt", "bt -past-main on"])
        .run();
    clean(&o);
    let all = o.block("all");
    assert!(all.contains(" in ?? ()"), "{all}");
    assert!(!all.contains(" in  ("), "{all}");
}

/// `goroutine` alone shows the current goroutine (the selected one, else
/// the selected thread's); gdb's `complete` (what TAB shows) offers
/// goroutine ids, and `info goroutines` options and statuses.
#[test]
fn current_goroutine_and_completion() {
    gdbx_tests::require_gdb!();
    let o = gdb_ext(&parked(Variant::Debug))
        .ex("break main.ready")
        .ex("run 3")
        .block("current", &["goroutine"])
        // A waiter's id (ids depend on which P made the goroutine).
        .ex("python W = [int(l[2:].split()[0]) for l in gdb.execute('info goroutines -location parked::waiter', to_string=True).splitlines()[1:] if l.strip()][0]")
        .block("w", &["python print(W)"])
        .block(
            "selected",
            &[
                "python gdb.execute('goroutine %d' % W)",
                "goroutine",
                "goroutine off",
            ],
        )
        .block("ids", &["complete goroutine "])
        .block("cmd", &["complete goroutine 3 info lo"])
        .block("opts", &["complete info goroutines -st"])
        .block("statuses", &["complete info goroutines -status running,wa"])
        .run();
    clean(&o);
    // The thread that hit main.ready runs goroutine 1 (any M may).
    let current = o.block("current");
    assert!(
        current.starts_with("thread ") && current.contains(": goroutine 1 [running] at main.ready"),
        "{}",
        o.all
    );
    let w: i64 = o.block("w").trim().parse().expect("W is a goroutine id");
    assert!(
        o.block("selected").contains(&format!(
            "goroutine {w} selected (`goroutine off` to leave): goroutine {w} [waiting (chan receive"
        )),
        "{}",
        o.all
    );
    let ids: Vec<&str> = o.block("ids").lines().collect();
    let w = format!("goroutine {w}");
    for want in ["goroutine 1", &w, "goroutine all", "goroutine off"] {
        assert!(ids.contains(&want), "{want} in {ids:?}");
    }
    assert_eq!(ids.len(), 5 + 2, "three waiters, g1, g2, all, off: {ids:?}");
    assert!(
        o.block("cmd")
            .lines()
            .any(|l| l == "goroutine 3 info locals"),
        "{}",
        o.all
    );
    assert_eq!(
        o.block("opts").trim_end(),
        "info goroutines -status",
        "{}",
        o.all
    );
    assert_eq!(
        o.block("statuses").trim_end(),
        "info goroutines -status running,waiting",
        "{}",
        o.all
    );
}
