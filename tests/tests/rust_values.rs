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
