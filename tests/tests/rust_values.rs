//! Values of programs on the runtime as their users expect them in gdb:
//! `Chan<T>` by our printer (buffered values, waiting receivers and
//! senders), `String`, `Vec` and `HashMap` by rustc's own printers, which
//! the extension loads from the sysroot as rust-gdb does. One gdb run of
//! `examples/values` (about 2 s), live, and one on its core.

use gdbx_tests::cores::gcore_at;
use gdbx_tests::gdb::{Gdb, GdbOutput};
use gdbx_tests::{Variant, example_bin};

fn blocks(g: &mut Gdb) -> &mut Gdb {
    g.block("buffered", &["print *buffered"])
        .block("full", &["print *full"])
        .block("empty", &["print *empty"])
        .block("text", &["print *text"])
        .block("list", &["print *list"])
        .block("map", &["print *map"])
}

fn value(o: &GdbOutput, name: &str) -> String {
    let b = o.block(name).trim_end();
    b.split_once(" = ").map_or(b, |(_, v)| v).to_string()
}

fn check(o: &GdbOutput) {
    o.assert_no_python_errors();
    assert_eq!(
        value(o, "buffered"),
        "runtime::chan::Chan<u64> (3/4 buffered) = {3, 1, 4}",
        "{}",
        o.all
    );
    let full = value(o, "full");
    assert!(
        full.starts_with("runtime::chan::Chan<u64> (1/1 buffered; senders waiting: g")
            && full.ends_with(") = {9}"),
        "{full}\n{}",
        o.all
    );
    assert!(
        full.contains(" sending 7") && full.contains(" sending 8"),
        "{full}"
    );
    let empty = value(o, "empty");
    assert!(
        empty.starts_with("runtime::chan::Chan<u64> (0/0 buffered; receivers waiting: g")
            && empty.matches(", g").count() == 1,
        "two receivers: {empty}\n{}",
        o.all
    );
    assert_eq!(value(o, "text"), "\"hello, gdb\"", "{}", o.all);
    assert_eq!(value(o, "list"), "Vec(size=3) = {1, 2, 3}", "{}", o.all);
    assert_eq!(
        value(o, "map"),
        "HashMap(size=1) = {[\"one\"] = 1}",
        "{}",
        o.all
    );
}

#[test]
fn chan_and_std_values_live_and_on_a_core() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("values", Variant::Debug);
    let mut g = Gdb::new(&bin);
    g.extension().ex("break main.values").ex("run");
    let o = blocks(&mut g).run();
    check(&o);

    let core = gcore_at(&bin, &[], "main.values", "values");
    let mut g = Gdb::new(&bin);
    g.extension().core(&core);
    let o = blocks(&mut g).run();
    check(&o);
}

/// Without rustc's printers (a sysroot without them) one line says so and
/// what that means; everything else still loads.
#[test]
fn a_sysroot_without_printers_is_one_line() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("values", Variant::Debug);
    let o = Gdb::new(&bin)
        .extension()
        .env("RUSTC_SYSROOT", "/nonexistent")
        .ex("break main.values")
        .ex("run")
        .block("chan", &["print *buffered"])
        .run();
    o.assert_no_python_errors();
    let lines: Vec<&str> = o
        .all
        .lines()
        .filter(|l| l.contains("rustc's pretty printers"))
        .collect();
    assert_eq!(
        lines,
        [
            "gdbx: rustc's pretty printers not loaded: /nonexistent/lib/rustlib/etc has no gdb_lookup.py; \
          String and Vec print as raw structs (set RUSTC_SYSROOT)"
        ],
        "{}",
        o.all
    );
    assert!(
        o.block("chan").contains("(3/4 buffered) = {3, 1, 4}"),
        "{}",
        o.all
    );
}

/// The program itself runs to its end (its goroutines are all released).
#[test]
fn values_runs_to_completion() {
    let bin = example_bin("values", Variant::Debug);
    let out = gdbx_tests::watchdog::output(
        &mut std::process::Command::new(&bin),
        std::time::Duration::from_secs(60),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "values: done\n");
}

/// The G, M, P and Sched printers decode only the runtime's own objects
/// (a G of `allgs` or an M's g0, an M of `allm`, a P of `allp`,
/// `runtime.sched`): another address is one line saying so, where they
/// printed plausible rows (`goroutine 0 [idle] at ?`, the real
/// runtime.sched for any address). tests/tests/go_values.rs has the same
/// for Go.
#[test]
fn runtime_printers_refuse_what_is_not_the_runtimes() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("values", Variant::Debug);
    let at = |ty: &str, off: u32| {
        format!("print *('runtime::runtime2::{ty}' *)((char *)&'runtime.sched' + {off})")
    };
    let o = Gdb::new(&bin)
        .extension()
        .ex("break main.values")
        .ex("run")
        .ex("set language c")
        .block("g", &["print *$g()"])
        .block("m", &["print *$m()"])
        .block("p", &["print *$p()"])
        .block("g0", &["print *$m()->g0"])
        .block(
            "sched",
            &["print *('runtime::runtime2::Sched' *)&'runtime.sched'"],
        )
        .block("bad g", &[&at("G", 8)])
        .block("odd g", &[&at("G", 3)])
        .block("bad m", &[&at("M", 8)])
        .block("bad p", &[&at("P", 8)])
        .block("bad sched", &[&at("Sched", 8)])
        .run();
    o.assert_no_python_errors();
    let refused = |b: &str, what: &str, tail: &str| {
        let line = value(&o, b);
        assert!(
            line.starts_with(&format!("<not {what}: 0x")) && line.ends_with(tail),
            "{b}: {line}\n{}",
            o.all
        );
    };
    assert!(
        value(&o, "g").starts_with("goroutine 1 [running] at main.values"),
        "{}",
        o.all
    );
    assert!(
        value(&o, "m").starts_with("M0 ") && value(&o, "m").contains(" curg g1"),
        "{}",
        o.all
    );
    assert!(
        value(&o, "p").starts_with('P') && value(&o, "p").contains(" running M0"),
        "{}",
        o.all
    );
    assert!(value(&o, "g0").starts_with("g0 of M0"), "{}", o.all);
    assert!(
        value(&o, "sched").starts_with("global run queue: "),
        "{}",
        o.all
    );
    refused(
        "bad g",
        "a goroutine of this program",
        " is in no allgs entry>",
    );
    refused("odd g", "a goroutine of this program", " is misaligned>");
    refused("bad m", "an M of this program", " is in no allm entry>");
    refused("bad p", "a P of this program", " is in no allp entry>");
    refused("bad sched", "runtime.sched", ")>");
}

/// A Rust value optimised out in a release build prints as gdb and rust-gdb
/// print it, never as the contents of a string: `file` (a `&str`) in the
/// bootstrap frame has its pointer optimised out, and rustc's `&str` printer
/// fails; under its `string` hint that failure printed as
/// `"<value has been optimized out>"`, in quotes.
#[test]
fn optimised_out_values_are_not_strings() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("parked", Variant::Release);
    let o = Gdb::new(&bin)
        .extension()
        .args(["5"])
        .ex("break runtime::proc::execute")
        .ex("run")
        .ex("frame function runtime::rt0::rt0_amd64")
        .block("file", &["print file"])
        .block("locals", &["info locals"])
        .run();
    o.assert_no_python_errors();
    assert_eq!(
        value(&o, "file"),
        "<error reading variable: value has been optimized out>",
        "{}",
        o.all
    );
    assert!(
        o.block("locals")
            .lines()
            .any(|l| l == "file = <error reading variable: value has been optimized out>"),
        "{}",
        o.all
    );
}
