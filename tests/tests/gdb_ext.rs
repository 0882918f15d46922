//! The gdb extension, tested as Go's runtime-gdb_test.go tests
//! runtime-gdb.py: gdb runs in batch on example programs built fresh, the
//! commands' output is cut into `echo BEGIN name` / `echo END` blocks, and
//! each block is matched. The same stop is examined live and in a core file
//! written by `gcore`.
//!
//! The native module is built here too (`cargo build -p gdb-ext` into
//! target/fixtures) and handed to gdb with `GDBX_EXT_PATH`; gdb loads the
//! extension through the `.debug_gdb_scripts` entry of the program once its
//! folder is trusted (`-iex add-auto-load-safe-path`).

use std::path::{Path, PathBuf};

use gdbx_tests::gdb::{Gdb, GdbOutput as Output};
use gdbx_tests::{Variant, example_bin, line_of, scratch, workspace_root};

/// Parked goroutines in the programs under test.
const N: usize = 20;

/// gdb on `bin` with the extension loaded; the program at two Ps (and the
/// default stack guards, which gdb's own gcore cannot copy: the
/// extension's gcore does).
fn gdb_ext(bin: &Path) -> Gdb {
    let mut g = Gdb::new(bin);
    g.extension().env("GOMAXPROCS", "2");
    g
}

/// Stopped in `main.ready` of `parked N`.
fn at_ready(bin: &Path) -> Gdb {
    let mut g = gdb_ext(bin);
    g.ex("break main.ready").ex(format!("run {N}"));
    g
}

fn parked() -> PathBuf {
    example_bin("parked", Variant::Debug)
}

fn no_python_errors(o: &Output) {
    o.assert_no_python_errors();
}

/// Data rows of `info goroutines` (after the header, before notes).
fn goroutine_rows(block: &str) -> Vec<&str> {
    block
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Id"))
        .skip(1)
        .filter(|l| l.starts_with("* ") || l.starts_with("  ") && !l.trim_start().starts_with('?'))
        .collect()
}

fn goid_of(row: &str) -> i64 {
    row[2..]
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no goroutine id in {row:?}"))
}

/// The goroutine ids of the N parked waiters.
fn waiters(block: &str) -> Vec<i64> {
    goroutine_rows(block)
        .into_iter()
        .filter(|r| r.contains("parked::waiter"))
        .map(goid_of)
        .collect()
}

#[test]
fn loading_prints_one_line() {
    gdbx_tests::require_gdb!();
    let o = gdb_ext(&parked())
        .block("before", &["info goroutines"])
        .run();
    let loaded: Vec<&str> = o
        .all
        .lines()
        .filter(|l| l.starts_with("gdbx: loaded runtime support for"))
        .collect();
    assert_eq!(loaded.len(), 1, "one load line:\n{}", o.all);
    assert!(
        loaded[0].contains(&parked().display().to_string()),
        "{}",
        loaded[0]
    );
    assert!(!loaded[0].contains("MISSING"), "{}", loaded[0]);
    assert!(
        o.block("before").contains("not running"),
        "{}",
        o.block("before")
    );
    no_python_errors(&o);
}

#[test]
fn missing_native_module_says_how_to_build_it() {
    gdbx_tests::require_gdb!();
    let empty = scratch("gdb_ext_no_module");
    let o = gdb_ext(&parked())
        .env(
            "GDBX_EXT_PATH",
            empty.join("libgdbx_ext.so").display().to_string(),
        )
        .env("GDBX_WORKSPACE", empty.display().to_string())
        .run();
    let lines: Vec<&str> = o.all.lines().filter(|l| l.starts_with("gdbx:")).collect();
    assert_eq!(lines.len(), 1, "one line from gdbx:\n{}", o.all);
    assert!(lines[0].contains("cargo build -p gdb-ext"), "{}", lines[0]);
    no_python_errors(&o);
}

/// The blocks run on the stop in main.ready, live and on its core.
/// Sets the Python global W to the id of a goroutine in the middle of
/// those at `location` (`info goroutines -location`), in gdb, so that a
/// run's goroutine commands name one of its own goroutines (ids differ from
/// run to run), and prints it in block `w` (see [`worker_id`]).
fn pick_worker(g: &mut Gdb, location: &str) {
    g.ex(format!(
        "python W = [int(l[2:].split()[0]) for l in gdb.execute('info goroutines -location {location}', to_string=True).splitlines()[1:] if l.strip()][{}]",
        N / 2
    ))
    .block("w", &["python print(W)"]);
}

/// The W of [`pick_worker`].
fn worker_id(o: &Output) -> i64 {
    o.block("w").trim().parse().expect("W is a goroutine id")
}

/// `goroutine W COMMAND` for the Python global W.
fn on_w(command: &str) -> String {
    format!("python gdb.execute('goroutine %d {command}' % W)")
}

fn parked_blocks(g: &mut Gdb) {
    g.block("goroutines", &["info goroutines"])
        .block("group", &["info goroutines -group"])
        .block("running", &["info goroutines -status running"])
        .block("limit", &["info goroutines -s waiting -limit 5"])
        .block("location", &["info goroutines -location waiter"])
        .block("badopt", &["info goroutines -bogus"])
        .block("ms", &["info ms"])
        .block("ps", &["info ps"])
        .block("sched", &["info sched"])
        .block("threads", &["info threads"])
        // gdb stops a backtrace at main.main unless told otherwise (the
        // extension leaves that setting to the user).
        .block("bt", &["bt -past-main on"])
        .block(
            "funcs",
            &[
                "print $goid()",
                "print *$g()",
                "print *$m()",
                "print *$p()",
                "print $g()",
                "print $p()",
            ],
        )
        .block("gbyid", G_BY_ID)
        .block("all", &["goroutine all bt"])
        .block("unknown", &["goroutine 99999 bt"])
        .block(
            "printers",
            &[
                "print runtime::runtime2::ALLP",
                "print runtime::runtime2::SCHED",
                "print runtime::runtime2::M0",
            ],
        );
    g.block("gbt", &[&on_w("bt")])
        .block("glocals", &[&on_w("info frame")])
        .block(
            "gselect",
            &[
                "python gdb.execute('goroutine %d' % W)",
                "bt",
                "goroutine off",
                "bt 1",
            ],
        );
}

fn check_parked(o: &Output, w: i64) {
    no_python_errors(o);
    let rows = goroutine_rows(o.block("goroutines"));
    let ids: Vec<i64> = rows.iter().map(|r| goid_of(r)).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "sorted by id:\n{}", o.block("goroutines"));
    // On a thread now: goroutine 1 in main.ready (and, at most, a runtime
    // goroutine that another thread was running when gdb stopped them all).
    let running: Vec<&&str> = rows.iter().filter(|r| r.starts_with("* ")).collect();
    assert!(
        running
            .iter()
            .any(|r| goid_of(r) == 1 && r.contains("running") && r.contains("main.ready")),
        "{}",
        o.block("goroutines")
    );
    assert!(running.len() <= 2, "{}", o.block("goroutines"));
    let waiting: Vec<&&str> = rows
        .iter()
        .filter(|r| {
            // Live, a wait may carry its duration: `(chan receive, 1s)`.
            r.contains("waiting (chan receive")
                && r.contains("parked::waiter (examples/src/bin/parked.rs:")
        })
        .collect();
    assert_eq!(waiting.len(), N, "{}", o.block("goroutines"));
    assert!(
        waiting
            .iter()
            .all(|r| r.contains("examples/src/bin/parked.rs:") && r.contains(" by g1")),
        "created at the go call by g1:\n{}",
        o.block("goroutines")
    );

    let group = o.block("group");
    assert!(
        group
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{N} ")) && l.contains("parked::waiter")),
        "{group}"
    );
    assert!(
        group.contains(&format!("{} goroutines in", rows.len())),
        "{group}"
    );

    let r = goroutine_rows(o.block("running"));
    assert!(
        !r.is_empty() && r.iter().all(|r| r.contains(" running ")) && goid_of(r[0]) == 1,
        "{}",
        o.block("running")
    );
    let l = o.block("limit");
    assert_eq!(goroutine_rows(l).len(), 5, "{l}");
    let all_waiting = rows.iter().filter(|r| r.contains(" waiting ")).count();
    assert!(
        l.contains(&format!("({} more goroutines not shown", all_waiting - 5)),
        "{l}"
    );
    assert_eq!(goroutine_rows(o.block("location")).len(), N);
    assert!(
        o.block("badopt").contains("unknown option"),
        "{}",
        o.block("badopt")
    );
    assert!(o.block("badopt").contains("usage: info goroutines"));

    let ms = o.block("ms");
    assert!(
        ms.lines().any(|l| l.starts_with("* ") && l.contains("g1")),
        "{ms}"
    );
    let ps = o.block("ps");
    assert_eq!(
        ps.lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .count(),
        2,
        "GOMAXPROCS=2 Ps:\n{ps}"
    );
    assert!(ps.contains("running"), "{ps}");
    let sched = o.block("sched");
    for k in ["global run queue:", "idle Ms:", "idle Ps:", "spinning Ms:"] {
        assert!(sched.contains(k), "{k} in {sched}");
    }
    let threads = o.block("threads");
    assert!(
        threads
            .lines()
            .any(|l| l.contains("\"M") && l.contains(" g1\"")),
        "thread names M<id> g<goid>:\n{threads}"
    );
    let bt = o.block("bt");
    assert!(bt.contains("main.ready"), "{bt}");
    assert!(
        bt.contains("runtime.main") && bt.contains("runtime.goexit"),
        "Go names:\n{bt}"
    );
    // runtime.main under its Go name (the closure it runs the program's
    // main in keeps its Rust name).
    assert!(!bt.contains("runtime::rt0::runtime_main ("), "{bt}");

    check_g_by_id(o, w, "ours");
    let f = o.block("funcs");
    assert!(f.contains("= 1\n"), "$goid() of the main goroutine:\n{f}");
    assert!(f.contains("goroutine 1 [running] at main.ready"), "{f}");
    assert!(f.contains("(*G) 0x") && f.contains("(*P) 0x"), "{f}");
    assert!(
        f.contains(" = M") && f.contains(" = P") && f.contains(" running M"),
        "{f}"
    );

    let pr = o.block("printers");
    assert!(pr.contains("allp (2 Ps) = {P0 "), "{pr}");
    assert!(
        pr.contains("global run queue:") && pr.contains("= M0 LWP"),
        "{pr}"
    );

    let all = o.block("all");
    assert!(all.contains("goroutine 1 [running]:"), "{all}");
    assert_eq!(all.matches("[waiting (chan receive").count(), N, "{all}");
    assert!(all.matches("parked::waiter").count() >= N, "{all}");
    assert!(
        o.block("unknown").contains("no goroutine 99999"),
        "{}",
        o.block("unknown")
    );

    let gbt = o.block("gbt");
    assert!(gbt.starts_with("#0 "), "frames from #0:\n{gbt}");
    assert!(
        gbt.contains("parked::waiter") && gbt.contains("runtime.goexit"),
        "{gbt}"
    );
    assert!(
        !gbt.contains("main.ready"),
        "the thread's own frames are hidden:\n{gbt}"
    );
    let gl = o.block("glocals");
    assert!(gl.contains("Stack level"), "{gl}");
    let gs = o.block("gselect");
    assert!(
        gs.contains(&format!("[goroutine {w} (waiting (chan receive")),
        "{gs}"
    );
    assert!(gs.contains("parked::waiter"), "{gs}");
    assert!(
        gs.trim_end().lines().last().unwrap().contains("main.ready"),
        "after `goroutine off`:\n{gs}"
    );
}

#[test]
fn parked_live_and_core() {
    gdbx_tests::require_gdb!();
    let bin = parked();
    // Live, then gcore.
    let core = scratch("gdb_ext_core").join("parked.core");
    let mut g = at_ready(&bin);
    pick_worker(&mut g, "waiter");
    parked_blocks(&mut g);
    g.ex(format!("gcore {}", core.display()));
    let live = g.run();
    let w = worker_id(&live);
    check_parked(&live, w);

    // The core file of the same stop.
    let mut g = gdb_ext(&bin);
    g.core(&core).ex(format!("python W = {w}"));
    parked_blocks(&mut g);
    let dead = g.run();
    check_parked(&dead, w);
    // The same state, read from the core.
    assert_same_blocks(&live, &dead, &["goroutines", "group", "ps", "gbt"]);
    let _ = std::fs::remove_file(&core);
}

/// The `blocks` of a live run and of the run on its core are the same
/// state. gdb numbers a core's threads in the order of its notes (the
/// stopped thread first), not as the live session did, so `thread N` is
/// compared through the M's id and LWP.
fn assert_same_blocks(live: &Output, dead: &Output, blocks: &[&str]) {
    let unnumbered = |b: &str| -> String {
        // Live, waits carry their duration (`(chan receive, 5s)`), which a
        // core cannot know: compare without them, and without the padding
        // they widen.
        let b: Vec<String> = without_wait_durations(b)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let b = b.join("\n");
        b.split(' ')
            .scan(false, |after_thread, w| {
                let out = if *after_thread && w.parse::<u32>().is_ok() {
                    "N"
                } else {
                    w
                };
                *after_thread = w == "thread";
                Some(out)
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for b in blocks {
        assert_eq!(
            unnumbered(live.block(b)),
            unnumbered(dead.block(b)),
            "block {b}: live vs core"
        );
    }
}

/// `text` without the `, DURATION` of wait statuses (`(chan receive, 2m5s)`
/// becomes `(chan receive)`).
fn without_wait_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(", ") {
        let after = &rest[at + 2..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == 'µ'))
            .unwrap_or(after.len());
        let is_duration = len > 0
            && after.starts_with(|c: char| c.is_ascii_digit())
            && after[len..].starts_with(')');
        out.push_str(&rest[..at]);
        if !is_duration {
            out.push_str(", ");
        }
        rest = if is_duration { &after[len..] } else { after };
    }
    out.push_str(rest);
    out
}

fn release_blocks(g: &mut Gdb) {
    g.block("group", &["info goroutines -group"])
        .block("all", &["goroutine all bt"])
        .block("goroutines", &["info goroutines"])
        .block("scav", &["goroutine 2 bt"])
        .block("raw", &["goroutine 2 bt -no-filters"])
        .block("frame", &["goroutine 2 frame 1"]);
}

/// What `release_blocks` shows of the release build at main.ready.
fn check_release(o: &Output, what: &str) {
    no_python_errors(o);
    // Inlined frames: gopark, inlined into the scavenger, keeps its own
    // name (not the scavenger's Go name); the scavenger's row has a line.
    let scav = o.block("scav");
    let first = scav.lines().next().unwrap_or("");
    assert!(
        first.starts_with("#0 ") && first.contains("gopark") && !first.contains("scavenger"),
        "{what}:\n{scav}"
    );
    assert!(scav.contains("#1  runtime.scavenger ("), "{what}:\n{scav}");
    let row = goroutine_rows(o.block("goroutines"))
        .into_iter()
        .find(|r| goid_of(r) == 2)
        .unwrap_or_else(|| panic!("{what}:\n{}", o.block("goroutines")));
    assert!(
        row.contains("runtime.scavenger (") && !row.contains(":0)"),
        "{what}: {row}"
    );
    // -no-filters shows gdb's own names but still only the goroutine's
    // frames, from #0.
    let raw = o.block("raw");
    assert!(
        raw.starts_with("#0 ") && !raw.contains("#-"),
        "{what}:\n{raw}"
    );
    assert_frame_is_bt_line(o.block("frame"), scav, 1, &format!("{what} goroutine 2"));
    assert!(
        o.block("group")
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{N} ")) && l.contains("parked::waiter")),
        "{what}:\n{}",
        o.block("group")
    );
    assert_eq!(
        o.block("all").matches("parked::waiter").count(),
        N,
        "{what}:\n{}",
        o.block("all")
    );
}

/// The release build (optimised, inlined) at main.ready, live and then on
/// a core of the same stop written by the extension's gcore: the same
/// locations, inlined frames and backtraces from both. Costs two gdb runs
/// of about 2 s each and the release build of `parked` once per process.
#[test]
fn release_build_live_and_core() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("parked", Variant::Release);
    let core = scratch("gdb_ext_release_core").join("parked-release.core");
    let mut g = at_ready(&bin);
    release_blocks(&mut g);
    g.ex(format!("gcore {}", core.display()));
    let live = g.run();
    check_release(&live, "live");

    let mut g = gdb_ext(&bin);
    g.core(&core);
    release_blocks(&mut g);
    let dead = g.run();
    check_release(&dead, "core");
    assert_same_blocks(
        &live,
        &dead,
        &["group", "all", "goroutines", "scav", "raw", "frame"],
    );
    let _ = std::fs::remove_file(&core);
}

#[test]
fn not_initialised_before_schedinit() {
    gdbx_tests::require_gdb!();
    for stop in ["_rt0_amd64", "runtime.check"] {
        let mut g = gdb_ext(&parked());
        g.ex(format!("break {stop}")).ex("run 1");
        g.block("g", &["info goroutines"])
            .block("ms", &["info ms"])
            .block("ps", &["info ps"])
            .block("sched", &["info sched"])
            .block("all", &["goroutine all bt"]);
        let o = g.run();
        no_python_errors(&o);
        for b in ["g", "ms", "ps", "sched", "all"] {
            assert!(
                o.block(b).contains("not initialised yet"),
                "{stop}, {b}:\n{}",
                o.block(b)
            );
        }
    }
}

/// gdb's Python, run on the stop: corrupt allgs[1] (a wild pointer), the
/// status of allgs[2], and make the last M of runtime.allm point back to the
/// first (a cycle) - through gdb's view of the DWARF, so the test hard-codes
/// no offset either.
const CORRUPT: &str = "python exec(\"import struct\\ninf = gdb.selected_inferior()\\n\
allgs = gdb.parse_and_eval('runtime::runtime2::ALLGS')\\n\
inf.write_memory(int(allgs) + 8, struct.pack('<Q', 0x10))\\n\
g2 = (allgs + 2).dereference().dereference()\\n\
inf.write_memory(int(g2['atomicstatus'].address), struct.pack('<I', 777))\\n\
head = gdb.parse_and_eval('runtime::runtime2::ALLM')\\n\
m = head\\n\
while int(m.dereference()['alllink']) != 0: m = m.dereference()['alllink']\\n\
inf.write_memory(int(m.dereference()['alllink'].address), struct.pack('<Q', int(head)))\\n\")";

#[test]
fn garbage_memory_one_line_per_bad_entry() {
    gdbx_tests::require_gdb!();
    let mut g = at_ready(&parked());
    g.block("corrupt", &[CORRUPT])
        .block("goroutines", &["info goroutines"])
        .block("ms", &["info ms"]);
    let o = g.run();
    no_python_errors(&o);
    let gs = o.block("goroutines");
    let bad: Vec<&str> = gs
        .lines()
        .filter(|l| l.trim_start().starts_with('?'))
        .collect();
    assert_eq!(bad.len(), 2, "{gs}");
    assert!(
        bad.iter()
            .any(|l| l.contains("allgs[1]") && l.contains("cannot read")),
        "{gs}"
    );
    assert!(
        bad.iter()
            .any(|l| l.contains("allgs[2]") && l.contains("status 777")),
        "{gs}"
    );
    // The rest is still listed: every waiter but the one corrupted.
    let rows = goroutine_rows(gs);
    assert!(rows.len() >= N - 1, "{gs}");
    // Every M is still listed, then one line for the cycle.
    let ms = o.block("ms");
    assert!(ms.contains("loops back"), "{ms}");
    assert!(ms.lines().any(|l| l.contains("g1")), "{ms}");
    let listed = ms
        .lines()
        .filter(|l| !l.contains("LWP") && !l.trim_start().starts_with('?'))
        .count();
    assert!(listed >= 2, "every M listed before the cycle line:\n{ms}");
}

#[test]
fn inside_a_context_switch() {
    gdbx_tests::require_gdb!();
    // Stop in the context switch (runtime.mcall: the G's context is being
    // saved) and while goroutines are being created. Sysmon's thread may
    // first run after a short program has finished (a loaded machine), so
    // that stop is made in `echo`, which serves until gdb kills it.
    let parked = parked();
    let echo = example_bin("echo", Variant::Debug);
    let n = N.to_string();
    for (bin, stop, skip, arg) in [
        (&parked, "runtime.mcall", 7, n.as_str()),
        (&parked, "runtime.gogo", 11, &n),
        (&parked, "runtime.newproc", 5, &n),
        (&parked, "runtime.schedule", 3, &n),
        (&echo, "runtime.sysmon", 0, "127.0.0.1:0"),
    ] {
        let mut g = gdb_ext(bin);
        g.ex(format!("break {stop}"))
            .ex(format!("ignore 1 {skip}"))
            .ex(format!("run {arg}"));
        g.block("g", &["info goroutines"])
            .block("ms", &["info ms"])
            .block("all", &["goroutine all bt 3"])
            .block("bt", &["bt"]);
        let o = g.run();
        no_python_errors(&o);
        let gs = o.block("g");
        let rows = goroutine_rows(gs);
        assert!(
            rows.first().is_some_and(|r| goid_of(r) == 1),
            "{stop}: goroutine 1 listed:\n{gs}"
        );
        assert!(
            !gs.contains(" ?  "),
            "{stop}: no entry is garbage at a consistent stop:\n{gs}"
        );
        assert!(o.block("ms").contains("LWP"), "{stop}:\n{}", o.block("ms"));
        assert!(
            o.block("all").contains("goroutine 1 ["),
            "{stop}:\n{}",
            o.block("all")
        );
    }
}

#[test]
fn contract_fields_exist_in_the_runtime() {
    gdbx_tests::require_gdb!();
    // The extension loads with every field and symbol of our flavour's
    // list (the inspection core's contract tests check the list itself).
    let o = gdb_ext(&parked()).run();
    assert!(
        o.all.contains("gdbx: loaded runtime support") && !o.all.contains("MISSING"),
        "{}",
        o.all
    );
}

#[test]
fn inside_the_signal_handler() {
    gdbx_tests::require_gdb!();
    // crash_overflow overflows a goroutine stack: stop in the runtime's
    // SIGSEGV handler (on the thread's signal stack) and look around.
    let bin = example_bin("crash_overflow", Variant::Debug);
    let mut g = gdb_ext(&bin);
    g.ex("handle SIGSEGV nostop noprint pass")
        .ex("break runtime::signal::sighandler")
        .ex("run");
    g.block("g", &["info goroutines"])
        .block("ms", &["info ms"])
        .block("all", &["goroutine all bt 2"]);
    let o = g.run();
    no_python_errors(&o);
    let gs = o.block("g");
    let rows = goroutine_rows(gs);
    assert!(
        rows.iter()
            .any(|r| r.contains("running") && r.contains("crash_overflow::recurse")),
        "the overflowing goroutine, at its user frame:\n{gs}"
    );
    assert!(!gs.contains(" ?  "), "{gs}");
    assert!(o.block("ms").contains("running"), "{}", o.block("ms"));
    assert!(
        o.block("all").contains("goroutine 1 ["),
        "{}",
        o.block("all")
    );
}

#[test]
fn twenty_thousand_goroutines() {
    gdbx_tests::require_gdb!();
    // Big enough for the batched, two-thread stack reads of the native
    // module (more than 16,384 pieces), and for the table written while
    // the windows are read (from 10,000 rows); every third goroutine in
    // the twin of the others' function, the same stack shape.
    const MANY: usize = 20_000;
    let twins = (0..MANY).filter(|i| i % 3 == 1).count();
    let mut g = gdb_ext(&parked());
    g.ex("break main.ready").ex(format!("run {MANY} --twins"));
    g.block("group", &["info goroutines -group"])
        .block("limit", &["info goroutines -location waiter -limit 2"]);
    streamed_blocks(&mut g);
    let o = g.run();
    no_python_errors(&o);
    let group = o.block("group");
    for (n, at) in [
        (MANY - twins, "parked::waiter "),
        (twins, "parked::waiter_twin "),
    ] {
        assert!(
            group
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{n} ")) && l.contains(at)),
            "{n} at {at}:\n{group}"
        );
    }
    let l = o.block("limit");
    assert_eq!(goroutine_rows(l).len(), 2, "{l}");
    assert!(
        l.contains(&format!("({} more goroutines not shown", MANY - 2)),
        "{l}"
    );
    check_streamed(&o, MANY + 2, true, "ours, debug, live");
}

/// The whole table (from 10,000 rows: written while the stacks are read)
/// and the same table located first, then written (a location filter
/// that keeps every row): blocks "streamed" and "measured".
fn streamed_blocks(g: &mut Gdb) {
    g.block("streamed", &["info goroutines"])
        .block("measured", &["info goroutines -location ("]);
}

/// The two tables of [`streamed_blocks`] have the same `rows` rows, cell
/// for cell; the written-while-read one's Location column is as wide as
/// it gets (60), the measured one's as wide as its widest location:
/// narrower when `narrower` (ours: no location is 60 long; Go's runtime
/// has longer ones, so both are 60 wide).
fn check_streamed(o: &Output, rows: usize, narrower: bool, name: &str) {
    let (streamed, measured) = (o.block("streamed"), o.block("measured"));
    // Wait durations are left out: the clock moves between the two.
    let cells = |t: &str| -> Vec<String> {
        without_wait_durations(t)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        cells(streamed),
        cells(measured),
        "{name}: the same rows either way"
    );
    assert_eq!(
        goroutine_rows(streamed).len(),
        rows,
        "{name}: {streamed:.2000}"
    );
    let header = |t: &str| {
        t.lines()
            .find(|l| l.contains("Created at"))
            .unwrap_or("")
            .to_string()
    };
    let gap = |h: &str| h.find("Created at").unwrap_or(0) - h.find("Location").unwrap_or(0);
    assert_eq!(gap(&header(streamed)), 62, "{name}: {}", header(streamed));
    let measured_gap = gap(&header(measured));
    assert!(
        if narrower {
            measured_gap < 62
        } else {
            measured_gap == 62
        },
        "{name}: {}",
        header(measured)
    );
}

/// A long table written while it is read, on the other runtime and
/// build: our release build live, and a Go program (the `-N -l` build,
/// built fresh) live and on its core, which is read through the core
/// file on the second thread.
#[test]
fn long_tables_release_and_go_live_and_on_a_core() {
    use gdbx_tests::cores::{GoBuild, go_parked};
    gdbx_tests::require_gdb!();
    const MANY: usize = 10_000;
    let mut g = gdb_ext(&example_bin("parked", Variant::Release));
    g.ex("break main.ready").ex(format!("run {MANY} --twins"));
    streamed_blocks(&mut g);
    let o = g.run();
    no_python_errors(&o);
    check_streamed(&o, MANY + 2, true, "ours, release, live");

    let bin = go_parked(GoBuild::NoOpt);
    let core = scratch("gdb_ext_go_long").join("parked.core");
    let mut g = gdb_ext(&bin);
    g.ex("break main.ready").ex(format!("run {MANY}"));
    streamed_blocks(&mut g);
    g.ex(format!("gcore {}", core.display()));
    let live = g.run();
    no_python_errors(&live);
    // Go's own goroutines besides main and the workers (the collector's,
    // the finaliser's, ...): as many as the table shows beyond them.
    let rows = goroutine_rows(live.block("measured")).len();
    assert!(rows > MANY, "{}", live.block("measured"));
    check_streamed(&live, rows, false, "Go, live");
    let mut g = gdb_ext(&bin);
    g.core(&core);
    streamed_blocks(&mut g);
    let dead = g.run();
    let _ = std::fs::remove_file(&core);
    no_python_errors(&dead);
    check_streamed(&dead, rows, false, "Go, core");
}

#[test]
fn kernel_core_dump_with_default_stack_guards() {
    gdbx_tests::require_gdb!();
    // A crash: the kernel writes the core (it skips guard pages and keeps
    // the stacks), here of `parked` killed by SIGABRT at main.ready.
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    assert!(
        !pattern.starts_with('|'),
        "kernel.core_pattern pipes cores to {pattern:?}: this test needs a plain file pattern"
    );
    let dir = scratch("gdb_ext_kernel_core");
    let bin = parked();
    let o = at_ready(&bin)
        .cwd(&dir)
        .core_dumps()
        .ex("signal SIGABRT")
        .run();
    assert!(o.all.contains("SIGABRT"), "{}", o.all);
    let core = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("core"))
        .unwrap_or_else(|| {
            panic!(
                "no core file in {} (core_pattern {pattern:?})",
                dir.display()
            )
        });
    let mut g = gdb_ext(&bin);
    g.core(&core);
    g.block("goroutines", &["info goroutines"])
        .block("all", &["goroutine all bt"]);
    let o = g.run();
    no_python_errors(&o);
    let ws = waiters(o.block("goroutines"));
    assert_eq!(ws.len(), N, "{}", o.block("goroutines"));
    assert_eq!(
        o.block("all").matches("parked::waiter").count(),
        N,
        "{}",
        o.block("all")
    );
    let _ = std::fs::remove_file(&core);
}

/// A goroutine that has not started: g1 when m0 enters mstart, on P0's
/// runnext. Its saved context is its entry's first instruction and its
/// stack holds what the stack's last owner left, so `goroutine 1 bt` shows
/// the entry function and says that it has not started (not `?? ()` over
/// stale frames), on ours and on Go.
#[test]
fn goroutine_that_has_not_started_shows_its_entry() {
    use gdbx_tests::cores::{GoBuild, go_parked};
    gdbx_tests::require_gdb!();
    for bin in [parked(), go_parked(GoBuild::NoOpt)] {
        let mut g = gdb_ext(&bin);
        g.ex("break runtime.mstart").ex("run 1");
        g.block("bt", &["goroutine 1 bt"])
            .block("all", &["goroutine all bt"])
            .block("locals", &["goroutine 1 info locals"]);
        let o = g.run();
        no_python_errors(&o);
        for b in ["bt", "all"] {
            let text = o.block(b);
            assert!(
                text.contains("#0  runtime.main () at ")
                    && text.contains("goroutine 1 has not started: it will run runtime.main (")
                    && !text.contains("??")
                    && !text.contains("#1"),
                "{}, {b}:\n{text}",
                bin.display()
            );
        }
        let locals = o.block("locals");
        assert!(
            locals.contains("goroutine 1 has not started") && !locals.contains("#0"),
            "{}:\n{locals}",
            bin.display()
        );
    }
}

/// A core that gdb's own `generate-core-file` wrote (the extension's
/// `gcore` repairs it; gdb's does not): our guarded stack chunks are zeros
/// in it. `info goroutines` shows those goroutines without a location and
/// says how to get a core with the stacks; `goroutine N bt` says the same
/// instead of a gopark frame over zeros.
#[test]
fn core_from_plain_generate_core_file_says_the_stacks_are_missing() {
    gdbx_tests::require_gdb!();
    let bin = parked();
    let core = scratch("gdb_ext_plain_core").join("parked.core");
    let mut g = at_ready(&bin);
    g.ex(format!("generate-core-file {}", core.display()));
    let o = g.run();
    assert!(core.is_file(), "{}", o.all);
    let mut g = gdb_ext(&bin);
    g.core(&core);
    g.block("goroutines", &["info goroutines"])
        .block("all", &["goroutine all bt"]);
    let o = g.run();
    let _ = std::fs::remove_file(&core);
    no_python_errors(&o);
    let table = o.block("goroutines");
    let rows = goroutine_rows(table);
    let missing = rows
        .iter()
        .filter(|r| r.contains("? (stack not in memory)"))
        .count();
    // Every goroutine not on a thread when the core was taken (the
    // waiters, and the scavenger unless it was running then) has lost its
    // stack; those on a thread are unwound from its registers.
    let off_cpu = rows.iter().filter(|r| !r.starts_with("* ")).count();
    assert!(missing >= N && missing == off_cpu, "{table}");
    assert!(
        table.contains(&format!(
            "gdbx: {missing} goroutine stacks are not in memory"
        )) && table.contains("`gcore` in gdbx's gdb"),
        "{table}"
    );
    let all = o.block("all");
    assert_eq!(
        all.matches("its stack is not in memory").count(),
        missing,
        "{all}"
    );
    assert!(!all.contains("gopark"), "{all}");
}

/// A runtime goroutine caught running is placed at the function that
/// stands for it, as when it is parked: the scavenger at its own entry is
/// `runtime.scavenger`, not the closure or trampoline that called it.
#[test]
fn a_running_runtime_goroutine_is_placed_as_a_parked_one() {
    gdbx_tests::require_gdb!();
    let mut g = gdb_ext(&parked());
    g.ex("break runtime.scavenger").ex(format!("run {N}"));
    g.block("running", &["info goroutines -status running"]);
    let o = g.run();
    no_python_errors(&o);
    let running = o.block("running");
    let row = goroutine_rows(running)
        .into_iter()
        .find(|r| goid_of(r) == 2)
        .unwrap_or_else(|| panic!("the scavenger (g2) is not running:\n{running}"));
    assert!(
        row.starts_with("* ") && row.contains("runtime.scavenger ("),
        "{running}"
    );
}

#[test]
fn dead_goroutines() {
    gdbx_tests::require_gdb!();
    // At runtime.exit the waiters have finished (one may still be on its
    // way out after waking main: done, but not yet dead): dead Gs are
    // hidden unless asked for, and `goroutine ID` on one says it is dead.
    let mut g = gdb_ext(&parked());
    g.ex("break runtime.exit").ex(format!("run {N}"));
    g.block("live", &["info goroutines"])
        .block("dead", &["info goroutines -status dead"])
        // The first dead one (ids depend on which P made the goroutine).
        .ex("python D = [int(l[2:].split()[0]) for l in gdb.execute('info goroutines -status dead', to_string=True).splitlines()[1:] if l.strip()][0]")
        .block("d", &["python print(D)"])
        .block("gdead", &["python gdb.execute('goroutine %d bt' % D)"]);
    let o = g.run();
    no_python_errors(&o);
    assert!(!o.block("live").contains(" dead "), "{}", o.block("live"));
    let dead = goroutine_rows(o.block("dead"));
    // A waiter is known by its creator: parked.rs's `go` of the waiters.
    let source = std::fs::read_to_string(workspace_root().join("examples/src/bin/parked.rs"))
        .expect("parked.rs");
    let go_line = line_of(&source, "runtime::go(move || waiter(ch, wg))");
    let leaving = goroutine_rows(o.block("live"))
        .into_iter()
        .filter(|r| r.contains(&format!("examples/src/bin/parked.rs:{go_line} by g1")))
        .count();
    assert!(
        !dead.is_empty() && dead.len() + leaving >= N,
        "{}\n{}",
        o.block("dead"),
        o.block("live")
    );
    assert!(
        dead.iter()
            .all(|r| r.contains(" dead ") && r.contains(" - ")),
        "dead goroutines have no location:\n{}",
        o.block("dead")
    );
    let d: i64 = o.block("d").trim().parse().expect("D is a goroutine id");
    assert!(
        o.block("gdead").contains(&format!("goroutine {d} is dead")),
        "{}",
        o.block("gdead")
    );
}

/// The commands of the block that [`check_g_by_id`] checks.
const G_BY_ID: &[&str] = &[
    "python gdb.execute('print *$g(%d)' % W)",
    "print $g(99999)",
    "print $g(1, 2)",
    "print $goid(1)",
];

/// `$g(N)` is goroutine N's G; a wrong argument gets one line that says
/// what the function takes.
fn check_g_by_id(o: &Output, w: i64, name: &str) {
    let b = o.block("gbyid");
    assert!(
        b.contains(&format!("goroutine {w} [waiting")),
        "{name}:\n{b}"
    );
    assert!(
        b.contains("no goroutine 99999 (info goroutines lists them)"),
        "{name}:\n{b}"
    );
    assert!(
        b.contains("$g() takes at most one argument"),
        "{name}:\n{b}"
    );
    assert!(b.contains("$goid() takes no argument"), "{name}:\n{b}");
    assert!(!b.contains("Python Exception"), "{name}:\n{b}");
}

/// The blocks run on a Go program stopped in main.ready, live and on its
/// core; `w` is a parked worker's id.
fn go_blocks(g: &mut Gdb) {
    // W, a parked worker's id, was set by pick_worker (or by hand on the
    // core of the same stop).
    let bt = on_w("bt");
    let frame = on_w("frame 3");
    g.block("goroutines", &["info goroutines"])
        .block("group", &["info goroutines -group"])
        .block("running", &["info goroutines -status running"])
        .block("limit", &["info goroutines -s waiting -limit 5"])
        .block("location", &["info goroutines -location worker"])
        .block("ms", &["info ms"])
        .block("ps", &["info ps"])
        .block("sched", &["info sched"])
        .block("threads", &["info threads"])
        .block(
            "funcs",
            &["print $goid()", "print *$g()", "print *$m()", "print *$p()"],
        )
        .block("gbyid", G_BY_ID)
        .block("all", &["goroutine all bt"])
        .block("gbt", &[&bt])
        .block("gframe", &[&frame]);
}

/// What `go_blocks` shows of the Go twin of parked at main.ready.
fn check_go(o: &Output, w: i64, name: &str) {
    no_python_errors(o);
    let gs = o.block("goroutines");
    let rows = goroutine_rows(gs);
    let workers: Vec<&&str> = rows
        .iter()
        .filter(|r| r.contains("waiting (chan receive") && r.contains("main.worker ("))
        .collect();
    assert_eq!(workers.len(), N, "{name}:\n{gs}");
    assert!(
        workers
            .iter()
            .all(|r| r.contains("main.go:25)") && r.contains("main.main (")),
        "{name}: user-code line and creator:\n{gs}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("* ") && goid_of(r) == 1 && r.contains("main.ready (")),
        "{name}:\n{gs}"
    );
    // Runtime goroutines are shown at their own function, never at the
    // runtime.goexit every stack ends in.
    assert!(!gs.contains("goexit"), "{name}:\n{gs}");
    assert!(gs.contains("runtime.bgsweep ("), "{name}:\n{gs}");
    let group = o.block("group");
    assert!(
        group
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{N} ")) && l.contains("main.worker")),
        "{name}:\n{group}"
    );
    let r = goroutine_rows(o.block("running"));
    assert!(
        !r.is_empty() && r.iter().all(|r| r.contains(" running ")),
        "{name}:\n{}",
        o.block("running")
    );
    assert_eq!(goroutine_rows(o.block("limit")).len(), 5, "{name}");
    assert_eq!(goroutine_rows(o.block("location")).len(), N, "{name}");
    let ms = o.block("ms");
    assert!(
        ms.lines().any(|l| l.starts_with("* ") && l.contains("g1")),
        "{name}:\n{ms}"
    );
    let ps = o.block("ps");
    assert_eq!(
        ps.lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .count(),
        2,
        "{name}: GOMAXPROCS=2 Ps:\n{ps}"
    );
    for k in ["global run queue:", "idle Ms:", "idle Ps:", "spinning Ms:"] {
        assert!(o.block("sched").contains(k), "{name}: {k}");
    }
    let threads = o.block("threads");
    assert!(
        threads
            .lines()
            .any(|l| l.contains("\"M") && l.contains(" g1\"")),
        "{name}: thread names:\n{threads}"
    );
    check_g_by_id(o, w, name);
    let f = o.block("funcs");
    assert!(f.contains("= 1\n"), "{name}: $goid():\n{f}");
    assert!(
        f.contains("goroutine 1 [running] at main.ready"),
        "{name}:\n{f}"
    );
    assert!(
        f.contains(" = M") && f.contains(" LWP ") && f.contains(" running M"),
        "{name}:\n{f}"
    );
    let all = o.block("all");
    assert!(all.contains("goroutine 1 [running]:"), "{name}:\n{all}");
    assert_eq!(
        all.matches("[waiting (chan receive").count(),
        N,
        "{name}:\n{all}"
    );
    assert!(
        all.matches("in main.worker (").count() >= N,
        "{name}:\n{all}"
    );
    let gbt = o.block("gbt");
    assert!(
        gbt.starts_with("#0 ") && gbt.contains("main.worker") && !gbt.contains("main.ready"),
        "{name}: the goroutine's frames from #0, not the thread's:\n{gbt}"
    );
    assert!(
        gbt.trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("runtime.goexit"),
        "{name}: the stack ends at goexit:\n{gbt}"
    );
    // gdb names an inlined Go function after its caller; the frames here
    // carry their own names (runtime.goparkunlock in the runtime's own
    // goroutines, inlined in every build).
    assert!(
        o.block("all").contains("runtime.goparkunlock ("),
        "{name}:\n{}",
        o.block("all")
    );
    assert_frame_is_bt_line(o.block("gframe"), gbt, 3, &format!("{name} goroutine {w}"));
}

/// `goroutine W frame K` shows frame #K of `goroutine W bt`.
fn assert_frame_is_bt_line(frame: &str, bt: &str, k: usize, what: &str) {
    let want = bt
        .lines()
        .find(|l| l.starts_with(&format!("#{k} ")))
        .unwrap_or_else(|| panic!("{what}: no #{k} in\n{bt}"));
    assert_eq!(
        frame.lines().next().unwrap_or(""),
        want,
        "{what}: frame {k} vs its bt:\n{bt}"
    );
}

/// Every command on the Go twin of parked, in each build the inspection
/// core reads: live in main.ready, then on a core of the same stop written
/// by gdb's gcore (where Go's runtime-gdb.py cannot unwind a goroutine:
/// no register is written here). Costs 8 gdb runs of about 2 s each, plus
/// the four Go builds once per test process.
#[test]
fn go_live_and_core_every_build() {
    use gdbx_tests::cores::{GoBuild, go_parked};
    gdbx_tests::require_gdb!();
    for build in [GoBuild::NoOpt, GoBuild::Plain, GoBuild::Pie, GoBuild::Cgo] {
        let bin = go_parked(build);
        let name = format!("{build:?}");
        let core = scratch(&format!("gdb_ext_go_{name}")).join("parked.core");
        let mut g = at_ready(&bin);
        pick_worker(&mut g, "main.worker");
        go_blocks(&mut g);
        g.ex(format!("gcore {}", core.display()));
        let live = g.run();
        let w = worker_id(&live);
        check_go(&live, w, &name);
        // Live, the clock is known: two collections before main.ready set
        // G.waitsince, so each worker says how long it has waited.
        assert!(
            live.block("goroutines").contains("waiting (chan receive, "),
            "{name}: wait durations:\n{}",
            live.block("goroutines")
        );

        let mut g = gdb_ext(&bin);
        g.core(&core).ex(format!("python W = {w}"));
        go_blocks(&mut g);
        let dead = g.run();
        check_go(&dead, w, &name);
        let _ = std::fs::remove_file(&core);
    }
}

/// Go's installation (`go env GOROOT` of the fixtures' Go): where its
/// runtime-gdb.py is.
fn goroot() -> PathBuf {
    let go = gdbx_tests::go_tool().expect("no Go toolchain: apt-get install golang-1.19-go");
    let out = std::process::Command::new(go)
        .args(["env", "GOROOT"])
        .output()
        .expect("run go env GOROOT");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `goroutine %d COMMAND` for gdb's `$w` (set to W, the worker of
/// [`pick_worker`], by [`set_w`]), run through gdb's `eval`: its errors
/// reach the output as the command gave them (a `python gdb.execute`
/// wrapper would print them as its own Python exception).
fn eval_w(command: &str) -> String {
    format!("eval \"goroutine %d {command}\", $w")
}

/// `$w` = the Python global W.
fn set_w(g: &mut Gdb) -> &mut Gdb {
    g.ex("python gdb.set_convenience_variable('w', W)")
}

/// The frame lines (`#N ...`) of a block.
fn frame_lines(block: &str) -> Vec<&str> {
    block.lines().filter(|l| l.starts_with('#')).collect()
}

/// `goroutine W CMD` while the thread is in main.main, where gdb stops
/// every backtrace unless `backtrace past-main` is on: the commands run in
/// the goroutine's innermost frame (runtime.gopark), not in main.main; `up`
/// and `down` stay within its frames; `bt -N` counts its frames; selected
/// with `goroutine W`, its innermost frame is selected, a backtrace ends at
/// runtime.goexit, and a frame of the thread's own (below it) is left for
/// the goroutine's again before the prompt. One gdb run on the Go twin of
/// parked (-N -l), stopped in main.main after main.ready, about 2 s.
#[test]
fn goroutine_commands_in_main_main_run_in_the_goroutines_frames() {
    use gdbx_tests::cores::{GO_PARKED, GoBuild, go_parked};
    gdbx_tests::require_gdb!();
    let mut g = gdb_ext(&go_parked(GoBuild::NoOpt));
    g.ex(format!("break main.go:{}", line_of(GO_PARKED, "close(c)")))
        .ex(format!("run {N}"));
    pick_worker(&mut g, "main.worker");
    set_w(&mut g)
        .block("where", &["frame"])
        .block("pc", &[&eval_w("p $pc")])
        .block("info", &[&eval_w("info frame")])
        .block("up", &[&eval_w("up")])
        .block("down", &[&eval_w("down")])
        .block("bt", &[&eval_w("bt")])
        .block("last", &[&eval_w("bt -2")])
        .block("select", &[&eval_w(""), "frame"])
        .block("selbt", &["bt"])
        // What gdb runs before each prompt (batch mode has none).
        .block(
            "clamp",
            &[
                "frame 0",
                "python gdbx.unwind.clamp_to_goroutine()",
                "frame",
            ],
        )
        .block("off", &["goroutine off", "frame"]);
    let o = g.run();
    no_python_errors(&o);
    let w = worker_id(&o);
    assert!(o.block("where").contains("main.main"), "{}", o.all);
    let pc = o.block("pc");
    assert!(pc.contains("<runtime.gopark+"), "goroutine {w}'s pc:\n{pc}");
    let info = o.block("info");
    assert!(
        info.starts_with("Stack level 0, ") && info.contains("runtime.gopark"),
        "{info}"
    );
    let bt = o.block("bt");
    assert!(bt.contains("main.worker"), "{bt}");
    let up = o.block("up");
    assert!(
        up.starts_with("#1 ") && up.contains("runtime.chanrecv"),
        "{up}"
    );
    assert_eq!(
        o.block("down").trim(),
        "Bottom (innermost) frame selected; you cannot go down.",
        "{}",
        o.all
    );
    // The outermost two of the goroutine's frames (gdb's `bt -2` would
    // count what it unwinds past goexit).
    let frames = frame_lines(bt);
    let last = frame_lines(o.block("last"));
    assert_eq!(last, frames[frames.len() - 2..], "{}", o.all);
    let sel = o.block("select");
    assert!(
        sel.contains("start at frame #1")
            && sel
                .lines()
                .any(|l| l.starts_with("#1 ") && l.contains("runtime.gopark")),
        "the goroutine's innermost frame is selected:\n{sel}"
    );
    let selbt = o.block("selbt");
    assert!(
        frame_lines(selbt)
            .last()
            .is_some_and(|l| l.contains("runtime.goexit")),
        "the backtrace ends at goexit:\n{selbt}"
    );
    let clamp = o.block("clamp");
    assert!(
        clamp.contains("frame #0 is thread ")
            && clamp.contains(&format!("'s own frame, not goroutine {w}'s"))
            && frame_lines(clamp)
                .last()
                .is_some_and(|l| l.starts_with("#1 ") && l.contains("runtime.gopark")),
        "{clamp}"
    );
    assert!(o.block("off").contains("main.main"), "{}", o.block("off"));
}

/// `$g()` and `$goid()` are the goroutine `goroutine N` selected (as in
/// Delve), or that `goroutine N CMD` runs in; the thread's own otherwise.
#[test]
fn goid_follows_the_selected_goroutine() {
    use gdbx_tests::cores::{GoBuild, go_parked};
    gdbx_tests::require_gdb!();
    let mut g = at_ready(&go_parked(GoBuild::NoOpt));
    pick_worker(&mut g, "main.worker");
    set_w(&mut g)
        .block("in", &[&eval_w("print $goid()")])
        .block("selected", &[&eval_w(""), "print $goid()", "print $g()"])
        .block("off", &["goroutine off", "print $goid()"]);
    let o = g.run();
    no_python_errors(&o);
    let w = worker_id(&o);
    let value =
        |b: &str| without_history_number(o.block(b).lines().last().unwrap_or("")).to_string();
    assert_eq!(value("in"), w.to_string(), "{}", o.all);
    let sel = o.block("selected");
    assert!(
        sel.contains(&format!("= {w}\n")) && sel.contains(&format!("goroutine {w} [waiting")),
        "{sel}"
    );
    assert_eq!(value("off"), "1", "{}", o.all);
}

fn without_history_number(line: &str) -> &str {
    match line.split_once(" = ") {
        Some((lhs, rhs)) if lhs.starts_with('$') => rhs,
        _ => line,
    }
}

/// At main.ready of the Go twin: the user's frame selection outlives
/// `goroutine N CMD` and `goroutine all CMD`; wrong frames and unknown
/// functions get gdb's one error line, in the goroutine's numbering; the
/// commands that would resume the thread the goroutine is unwound on are
/// refused, and the program has not moved; a running goroutine's backtrace
/// ends at goexit; and Go's runtime-gdb.py, sourced, is taken over before
/// the next command. One gdb run, about 3 s.
#[test]
fn goroutine_commands_keep_the_frame_refuse_resuming_and_errors_are_one_line() {
    use gdbx_tests::cores::{GoBuild, go_parked};
    gdbx_tests::require_gdb!();
    let script = goroot().join("src/runtime/runtime-gdb.py");
    assert!(
        script.is_file(),
        "{} (comes with golang-1.19-go)",
        script.display()
    );
    let mut g = at_ready(&go_parked(GoBuild::NoOpt));
    pick_worker(&mut g, "main.worker");
    set_w(&mut g)
        .block("kept", &["frame 1", &eval_w("bt 1"), "frame"])
        .block("keptall", &["goroutine all bt 1", "frame"])
        .ex("frame 0")
        .block("level", &[&eval_w("frame 9")])
        .block("function", &[&eval_w("frame function main.ready")])
        .block("worker", &[&eval_w("frame function main.worker")])
        .block("address", &[&eval_w("frame address 0x1")])
        .block("finish", &[&eval_w("finish")])
        .block("cont", &[&eval_w("c")])
        .block("all", &["goroutine all next"])
        .block("still", &["frame", "info goroutines -location main.worker"])
        .block("g1", &["goroutine 1 bt"])
        .ex(format!("source {}", script.display()))
        .block("table", &["info goroutines -status running"]);
    let o = g.run();
    no_python_errors(&o);
    let w = worker_id(&o);
    for b in ["kept", "keptall"] {
        let last = frame_lines(o.block(b)).last().copied().unwrap_or("");
        assert!(
            last.starts_with("#1 ") && last.contains("main.main"),
            "{b}: frame 1 stays selected:\n{}",
            o.block(b)
        );
    }
    assert_eq!(o.block("level").trim(), "No frame at level 9.", "{}", o.all);
    assert_eq!(
        o.block("function").trim(),
        "No frame for function \"main.ready\".",
        "the thread's own frame is not the goroutine's:\n{}",
        o.all
    );
    assert!(
        o.block("worker").starts_with('#') && o.block("worker").contains("main.worker"),
        "{}",
        o.block("worker")
    );
    assert_eq!(
        o.block("address").trim(),
        "No frame at address 0x1.",
        "{}",
        o.all
    );
    for (b, cmd) in [("finish", "finish"), ("cont", "continue")] {
        let text = o.block(b).trim();
        assert!(
            text.starts_with(&format!("gdbx: goroutine {w} is not running on a thread"))
                && text.contains(&format!("`{cmd}` would resume thread "))
                && text.contains("break FILE:LINE")
                && text.lines().count() == 1,
            "{text}"
        );
    }
    assert!(
        o.block("all")
            .contains("`goroutine all next` would resume the program"),
        "{}",
        o.block("all")
    );
    let still = o.block("still");
    assert!(still.starts_with("#0  main.ready"), "{still}");
    assert_eq!(goroutine_rows(still).len(), N, "{still}");
    let g1 = o.block("g1");
    assert!(
        frame_lines(g1)
            .last()
            .is_some_and(|l| l.contains("runtime.goexit"))
            && !g1.contains("?? ()"),
        "a running goroutine's stack ends at goexit too:\n{g1}"
    );
    let table = o.block("table");
    assert!(
        table.contains("M/thread") && table.contains("main.ready ("),
        "ours, not runtime-gdb.py's:\n{}",
        o.all
    );
}

/// `gcore` without a process: gdb's one line, not a Python exception.
#[test]
fn gcore_without_a_process_is_one_error_line() {
    gdbx_tests::require_gdb!();
    let file = scratch("gdb_ext_gcore_none").join("core");
    let o = gdb_ext(&parked())
        .block("gcore", &[&format!("gcore {}", file.display())])
        .run_unchecked();
    no_python_errors(&o);
    assert_eq!(
        o.block("gcore").trim(),
        "You can't do that without a process to debug.",
        "{}",
        o.all
    );
}

/// `goroutine N bt` on our runtime leaves out the runtime's panic plumbing
/// (catch_unwind, __rust_try, run_goroutine) as plain `bt` does, counts
/// the frames it shows, and shows the plumbing with `-no-filters`.
#[test]
fn goroutine_bt_hides_the_panic_plumbing() {
    gdbx_tests::require_gdb!();
    let mut g = at_ready(&parked());
    pick_worker(&mut g, "waiter");
    set_w(&mut g)
        .block("bt", &[&eval_w("bt")])
        .block("count", &[&eval_w("bt 7")])
        .block("raw", &[&eval_w("bt -no-filters")])
        .block("plain", &["bt -past-main on"]);
    let o = g.run();
    no_python_errors(&o);
    let plumbing = ["__rust_try", "catch_unwind", "run_goroutine", "unwind_safe"];
    for b in ["bt", "count", "plain"] {
        let text = o.block(b);
        assert!(
            !plumbing.iter().any(|p| text.contains(p)),
            "{b}: no plumbing:\n{text}"
        );
    }
    let bt = o.block("bt");
    assert!(
        bt.contains("parked::waiter")
            && frame_lines(bt)
                .last()
                .is_some_and(|l| l.contains("runtime.goexit")),
        "{bt}"
    );
    assert_eq!(
        frame_lines(o.block("count")),
        frame_lines(bt)[..7],
        "{}",
        o.all
    );
    let raw = o.block("raw");
    assert!(
        plumbing.iter().all(|p| raw.contains(p)),
        "-no-filters shows gdb's frames:\n{raw}"
    );
}

/// A Go program that panics: under GOTRACEBACK=crash the runtime prints
/// its report and dies of SIGABRT, raised again inside its signal handler.
const GO_CRASH: &str = r#"package main

import "os"

func explode(n int) {
	if n > 0 {
		panic("boom")
	}
}

func main() {
	explode(len(os.Args))
}
"#;

/// The kernel's core of a Go program that crashed with GOTRACEBACK=crash:
/// the crashing goroutine's thread is in Go's signal handler, whose
/// restorer gdb does not know (`0x7 in ?? ()` after runtime.sigreturn).
/// gdb's backtrace goes on into the interrupted frame, and `goroutine 1 bt`
/// shows the goroutine's frames from where the signal interrupted it:
/// through gopanic to main.main and goexit, as Delve shows them.
#[test]
fn go_crash_core_unwinds_through_the_signal_handler() {
    use gdbx_tests::cores::crash_core;
    gdbx_tests::require_gdb!();
    let bin = gdbx_tests::go_program("crash", GO_CRASH, false);
    let core = crash_core(&bin, &[], &[], "go-crash");
    let mut g = gdb_ext(&bin);
    g.core(&core)
        .block("bt", &["bt"])
        .block("g1", &["goroutine 1 bt"])
        .block("all", &["goroutine all bt"]);
    let o = g.run();
    no_python_errors(&o);
    let bt = o.block("bt");
    assert!(
        bt.contains("runtime.sigtramp") && !bt.contains("?? ()"),
        "through the restorer:\n{bt}"
    );
    let sigreturn = bt
        .lines()
        .position(|l| l.contains("runtime.sigreturn"))
        .unwrap_or_else(|| panic!("{bt}"));
    assert!(
        bt.lines()
            .nth(sigreturn + 1)
            .is_some_and(|l| l.contains("in runtime.")),
        "the interrupted frame after the restorer:\n{bt}"
    );
    for b in ["g1", "all"] {
        let text = o.block(b);
        let names: Vec<&str> = frame_lines(text)
            .into_iter()
            .filter_map(|l| {
                l.split(" in ")
                    .nth(1)
                    .or_else(|| l.split_whitespace().nth(1))
            })
            .filter_map(|s| s.split(' ').next())
            .collect();
        let at = |f: &str| names.iter().position(|n| *n == f);
        let order = [
            at("runtime.gopanic"),
            at("main.explode"),
            at("main.main"),
            at("runtime.main"),
            at("runtime.goexit"),
        ];
        assert!(
            order.iter().all(Option::is_some) && order.windows(2).all(|p| p[0] < p[1]),
            "{b}: gopanic, main.explode, main.main, runtime.main, goexit:\n{text}"
        );
        assert!(text.contains("in Go's signal handler"), "{b}:\n{text}");
    }
}
