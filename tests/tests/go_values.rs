//! Go's own TestGdbPython (src/runtime/runtime-gdb_test.go of the Go 1.19
//! that builds the fixtures) against the gdb extension: the same program
//! (read from that file), built the same way (a plain `go build`), the same
//! gdb commands, and the printouts Go's test expects — live, on a core of
//! the same stop, and with Go's runtime-gdb.py loaded too (ours takes over).
//! Each case is one short gdb run (about 1 s); the Go build is shared.

use std::path::{Path, PathBuf};

use gdbx_tests::cores::gcore_at;
use gdbx_tests::gdb::{Gdb, GdbOutput};
use gdbx_tests::{go_build, go_tool};

/// Go's installation (`go env GOROOT` of the fixtures' Go).
fn goroot() -> PathBuf {
    let go = go_tool().expect("no Go toolchain: apt-get install golang-1.19-go");
    let out = std::process::Command::new(go)
        .args(["env", "GOROOT"])
        .output()
        .expect("run go env GOROOT");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `helloSource` of Go's runtime-gdb_test.go, as a program (`cgo`: with
/// `import "C"`, as TestGdbPythonCgo builds it, linked by the external linker).
fn hello_source(cgo: bool) -> String {
    let test = goroot().join("src/runtime/runtime-gdb_test.go");
    let text = std::fs::read_to_string(&test).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (Go's sources come with golang-1.19-go)",
            test.display()
        )
    });
    let start = text
        .find("const helloSource = `")
        .expect("helloSource in runtime-gdb_test.go")
        + 21;
    let len = text[start..].find('`').expect("end of helloSource");
    let cgo = if cgo { "import \"C\"\n" } else { "" };
    format!("package main\n{cgo}{}", &text[start..start + len])
}

/// The program and the (1-based) lines Go's test breaks at: the line of
/// "breakpoint" (Go passes its 0-based index, so gdb stops a line early) and
/// the line of END_OF_PROGRAM, likewise.
fn program() -> (PathBuf, usize, usize) {
    program_of(false)
}

fn program_of(cgo: bool) -> (PathBuf, usize, usize) {
    let src = hello_source(cgo);
    let index = |needle: &str| {
        src.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in helloSource"))
    };
    let bin = go_build(if cgo { "gdb-python-cgo" } else { "gdb-python" }, &src, &[]);
    (bin, index("breakpoint"), index("END_OF_PROGRAM"))
}

/// TestGdbPython's commands at its first breakpoint.
fn at_breakpoint(g: &mut Gdb) -> &mut Gdb {
    for (name, cmd) in [
        ("info goroutines", "info goroutines"),
        ("print mapvar", "print mapvar"),
        ("print slicemap", "print slicemap"),
        ("print strvar", "print strvar"),
        ("print chanint", "print chanint"),
        ("print chanstr", "print chanstr"),
        ("info locals", "info locals"),
        ("goroutine 1 bt", "goroutine 1 bt"),
        ("goroutine all bt", "goroutine all bt"),
        (
            "len",
            "print $len(mapvar) + 100 * $len(chanint) + 10000 * $len(strvar)",
        ),
        ("cap", "print $cap(chanint)"),
    ] {
        g.block(name, &[cmd]);
    }
    g
}

fn without_history_number(block: &str) -> &str {
    let line = block.trim_end();
    match line.split_once(" = ") {
        Some((lhs, rhs)) if lhs.starts_with('$') => rhs,
        _ => line,
    }
}

/// Go's checks, made exact (ours prints no addresses before strings).
fn check_printouts(o: &GdbOutput) {
    o.assert_no_python_errors();
    let goroutines = o.block("info goroutines");
    assert!(
        goroutines.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() > 2 && w[0] == "*" && w[1].parse::<u64>().is_ok() && w[2] == "running"
        }),
        "info goroutines (`*  N  running`):\n{}",
        o.all
    );
    let map = without_history_number(o.block("print mapvar"));
    assert!(
        map == r#"map[string]string = {["abc"] = "def", ["ghi"] = "jkl"}"#
            || map == r#"map[string]string = {["ghi"] = "jkl", ["abc"] = "def"}"#,
        "print mapvar: {map}\n{}",
        o.all
    );
    let slicemap = without_history_number(o.block("print slicemap"));
    assert!(
        slicemap
            == r#"map[string][]string = {["e"] = []string = {"f", "g", "h"}, ["a"] = []string = {"b", "c", "d"}}"#
            || slicemap
                == r#"map[string][]string = {["a"] = []string = {"b", "c", "d"}, ["e"] = []string = {"f", "g", "h"}}"#,
        "print slicemap: {slicemap}\n{}",
        o.all
    );
    assert_eq!(
        without_history_number(o.block("print chanint")),
        "chan int = {99, 11}",
        "{}",
        o.all
    );
    assert_eq!(
        without_history_number(o.block("print chanstr")),
        r#"chan string = {"spongepants", "squarebob"}"#,
        "{}",
        o.all
    );
    assert_eq!(
        without_history_number(o.block("print strvar")),
        r#""abc""#,
        "{}",
        o.all
    );
    let locals = o.block("info locals");
    for v in ["slicevar", "mapvar", "strvar"] {
        assert!(locals.contains(v), "info locals lacks {v}:\n{}", o.all);
    }
    check_clean_backtrace(o.block("goroutine 1 bt"));
    for name in ["goroutine 1 bt", "goroutine all bt"] {
        assert!(
            o.block(name).lines().any(starts_in_main_main),
            "{name} has no `#0 main.main ... at`:\n{}",
            o.all
        );
    }
    // 2 map entries, 2 buffered values, 3 bytes; capacity 10.
    assert_eq!(without_history_number(o.block("len")), "30202", "{}", o.all);
    assert_eq!(without_history_number(o.block("cap")), "10", "{}", o.all);
}

/// `#0  main.main ... at` (Go: `^#0\s+(0x[0-9a-f]+\s+in\s+)?main\.main.+at`).
fn starts_in_main_main(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("#0") else {
        return false;
    };
    let rest = rest.trim_start();
    let rest = match rest.split_once(" in ") {
        Some((addr, r)) if addr.starts_with("0x") => r,
        _ => rest,
    };
    rest.starts_with("main.main") && rest.contains(" at ")
}

/// Go's checkCleanBacktrace: every line is `#i  ...`, numbered from 0.
fn check_clean_backtrace(bt: &str) {
    let lines: Vec<&str> = bt.trim().lines().collect();
    assert!(!lines.is_empty(), "empty backtrace");
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.starts_with(&format!("#{i}  ")),
            "malformed backtrace at line {i}: {l}\n{bt}"
        );
        assert!(!l.contains(" in  ("), "a frame without a name: {l}\n{bt}");
    }
}

fn gdb_on(bin: &Path) -> Gdb {
    let mut g = Gdb::new(bin);
    g.extension()
        .ex("set startup-with-shell off")
        .ex("set print thread-events off")
        .ex("set python print-stack full");
    g
}

#[test]
fn test_gdb_python_live() {
    gdbx_tests::require_gdb!();
    let (bin, bp, end) = program();
    let mut g = gdb_on(&bin);
    g.ex(format!("break main.go:{bp}")).ex("run");
    at_breakpoint(&mut g);
    g.ex(format!("break main.go:{end}"))
        .ex("continue")
        .block("goroutine 1 bt at the end", &["goroutine 1 bt"]);
    let o = g.run();
    check_printouts(&o);
    let at_end = o.block("goroutine 1 bt at the end");
    check_clean_backtrace(at_end);
    assert!(at_end.lines().any(starts_in_main_main), "{}", o.all);
    // Nothing of runtime-gdb.py was loaded, so nothing was taken over.
    assert!(!o.all.contains("takes over"), "{}", o.all);
}

/// TestGdbPythonCgo: the same program with `import "C"` (external linker,
/// libc, a pthread per M).
#[test]
fn test_gdb_python_cgo_live() {
    gdbx_tests::require_gdb!();
    let (bin, bp, _) = program_of(true);
    let mut g = gdb_on(&bin);
    g.ex(format!("break main.go:{bp}")).ex("run");
    let o = at_breakpoint(&mut g).run();
    check_printouts(&o);
}

#[test]
fn test_gdb_python_on_a_core() {
    gdbx_tests::require_gdb!();
    let (bin, bp, _) = program();
    let core = gcore_at(&bin, &[], &format!("main.go:{bp}"), "gdb-python");
    let mut g = gdb_on(&bin);
    g.core(&core);
    let o = at_breakpoint(&mut g).run();
    check_printouts(&o);
}

#[test]
fn runtime_gdb_py_loaded_too_is_taken_over_once() {
    gdbx_tests::require_gdb!();
    let (bin, bp, _) = program();
    let mut g = gdb_on(&bin);
    g.init(format!(
        "add-auto-load-safe-path {}",
        goroot().join("src/runtime").display()
    ));
    // As in Go's test: the script must really be loaded (its first line).
    g.ex("info auto-load python-scripts")
        .ex(format!("break main.go:{bp}"))
        .ex("run");
    let o = at_breakpoint(&mut g).run();
    assert!(o.all.contains("Loading Go Runtime support."), "{}", o.all);
    // Our table, not the script's `* 1 running syscall.Syscall`.
    assert!(o.block("info goroutines").contains("M/thread"), "{}", o.all);
    assert_eq!(
        o.all
            .matches("gdbx takes over `info goroutines` and `goroutine`")
            .count(),
        1,
        "{}",
        o.all
    );
    check_printouts(&o);
}

/// Interfaces by their dynamic type: a struct and an int boxed in an
/// `interface{}`, a pointer (stored in the data word itself), nil, and an
/// `error`; `iface` names the static and dynamic types, `$dtype` gives the
/// dynamic value. (runtime-gdb.py fails on all of these since Go 1.7: it
/// reads a `string` field that `runtime._type` no longer has.)
const IFACE_SOURCE: &str = r#"package main

import "fmt"

type point struct{ x, y int }

type myErr struct{ code int }

func (e *myErr) Error() string { return fmt.Sprint(e.code) }

//go:noinline
func stop(e, n, p, none interface{}, err error) {
	println("stop")
}

func main() {
	stop(point{1, 2}, 42, &point{3, 4}, nil, &myErr{7})
}
"#;

#[test]
fn interfaces_by_dynamic_type() {
    gdbx_tests::require_gdb!();
    let bin = go_build("ifaces", IFACE_SOURCE, &["-gcflags", "-N -l"]);
    let o = gdb_on(&bin)
        .ex("break main.stop")
        .ex("run")
        .block("e", &["print e"])
        .block("n", &["print n"])
        .block("p", &["print p"])
        .block("none", &["print none"])
        .block("err", &["print err"])
        .block("iface", &["iface e n p none err"])
        .block("dtype", &["print *$dtype(err)"])
        .block("notiface", &["iface n.data"])
        .run();
    o.assert_no_python_errors();
    let v = |b: &str| without_history_number(o.block(b)).to_string();
    assert_eq!(v("e"), "{x = 1, y = 2}", "{}", o.all);
    assert_eq!(v("n"), "42", "{}", o.all);
    assert!(
        v("p").starts_with("(*main.point) 0x") && v("p").ends_with(" -> {x = 3, y = 4}"),
        "{}",
        o.all
    );
    assert_eq!(v("none"), "nil", "{}", o.all);
    assert!(v("err").ends_with(" -> {code = 7}"), "{}", o.all);
    assert_eq!(
        o.block("iface"),
        "interface {}: main.point\ninterface {}: int\ninterface {}: *main.point\ninterface {}: nil\nerror: *main.myErr\n",
        "{}",
        o.all
    );
    assert_eq!(v("dtype"), "{code = 7}", "{}", o.all);
    assert!(
        o.block("notiface")
            .starts_with("iface: n.data is not an interface"),
        "{}",
        o.all
    );
}

/// Locals of every kind the value printers and functions meet, in
/// `main.main` (`-N -l`: all in memory) while it calls `stop`.
const LOCALS_SOURCE: &str = r#"package main

//go:noinline
func stop() {
	println("stop")
}

func main() {
	ch := make(chan int, 2)
	ch <- 5
	var nilch chan int
	m := map[string]int{"a": 1}
	arr := [3]int{1, 2, 3}
	stop()
	close(ch)
	println(len(ch), nilch == nil, len(m), arr[0])
}
"#;

fn at_locals() -> Gdb {
    let bin = go_build("locals", LOCALS_SOURCE, &["-gcflags", "-N -l"]);
    let mut g = gdb_on(&bin);
    g.ex("break main.stop").ex("run").ex("up");
    g
}

/// A pointer to a chan or a map is a pointer (as plain gdb and
/// runtime-gdb.py print it): the chan and map printers are for the value
/// itself. (They took `chan int *` for a chan: `p &nilch` read the hchan
/// at 0 + 8.)
#[test]
fn a_pointer_to_a_chan_or_map_prints_as_a_pointer() {
    gdbx_tests::require_gdb!();
    let o = at_locals()
        .block("&nilch", &["print &nilch"])
        .block("&ch", &["print &ch"])
        .block("&m", &["print &m"])
        .block("*&ch", &["print *&ch"])
        .block("nilch", &["print nilch"])
        .block("m", &["print m"])
        .block("len &ch", &["print $len(&ch)"])
        .run();
    o.assert_no_python_errors();
    let v = |b: &str| without_history_number(o.block(b)).to_string();
    for (name, ty) in [
        ("&nilch", "chan int"),
        ("&ch", "chan int"),
        ("&m", "map[string]int"),
    ] {
        let p = v(name);
        let addr = p.strip_prefix(&format!("({ty} *) 0x"));
        assert!(
            addr.is_some_and(|a| a.chars().all(|c| c.is_ascii_hexdigit())),
            "{name}: {p}\n{}",
            o.all
        );
    }
    assert_eq!(v("*&ch"), "chan int = {5}", "{}", o.all);
    assert_eq!(v("nilch"), "chan int nil", "{}", o.all);
    assert_eq!(v("m"), r#"map[string]int = {["a"] = 1}"#, "{}", o.all);
    assert_eq!(
        v("len &ch"),
        "$len: chan int * is not a Go string, slice, array, map or channel",
        "{}",
        o.all
    );
}

/// `$len`, `$cap`, `$dtype` called with the wrong number of arguments say
/// so in one line naming the usage (they raised a TypeError, shown with a
/// Python traceback line); `$len` of an array is its length, and of a
/// string literal the length Go gives it (not the NUL gdb adds).
#[test]
fn len_cap_dtype_usage_and_arrays() {
    gdbx_tests::require_gdb!();
    let o = at_locals()
        .block("len()", &["print $len()"])
        .block("len(m, m)", &["print $len(m, m)"])
        .block("cap()", &["print $cap()"])
        .block("dtype()", &["print $dtype()"])
        .block("len arr", &["print $len(arr)"])
        .block("cap arr", &["print $cap(arr)"])
        .block("len abc", &["print $len(\"abc\")"])
        .block("len ''", &["print $len(\"\")"])
        .block("len ch", &["print $len(ch) + 10 * $cap(ch)"])
        .run();
    o.assert_no_python_errors();
    let v = |b: &str| without_history_number(o.block(b)).to_string();
    let len = "$len(v), v a Go string, slice, array, map or channel";
    assert_eq!(
        v("len()"),
        format!("$len takes one argument (0 given): {len}"),
        "{}",
        o.all
    );
    assert_eq!(
        v("len(m, m)"),
        format!("$len takes one argument (2 given): {len}"),
        "{}",
        o.all
    );
    assert_eq!(
        v("cap()"),
        "$cap takes one argument (0 given): $cap(v), v a Go slice, array or channel",
        "{}",
        o.all
    );
    assert_eq!(
        v("dtype()"),
        "$dtype takes one argument (0 given): $dtype(v), v an interface value",
        "{}",
        o.all
    );
    assert_eq!(v("len arr"), "3", "{}", o.all);
    assert_eq!(v("cap arr"), "3", "{}", o.all);
    assert_eq!(v("len abc"), "3", "{}", o.all);
    assert_eq!(v("len ''"), "0", "{}", o.all);
    assert_eq!(v("len ch"), "21", "{}", o.all);
}

/// The G, M, P and Sched printers decode only the runtime's own objects:
/// a G of `allgs` (or an M's g0), an M of `allm`, a P of `allp`,
/// `runtime.sched` itself. Any other address (a cast of a garbage or
/// misaligned pointer) is one line saying so, where they printed
/// plausible rows (`goroutine 0 [idle] at ?`, `M0 LWP 6379672128588873728`,
/// and the real runtime.sched for any `*(runtime.schedt*)`).
#[test]
fn runtime_printers_refuse_what_is_not_the_runtimes() {
    gdbx_tests::require_gdb!();
    let o = at_locals()
        .ex("set language c")
        .block("g", &["print *$g()"])
        .block("m", &["print *$m()"])
        .block("p", &["print *$p()"])
        .block("g0", &["print *$m()->g0"])
        .block("sched", &["print 'runtime.sched'"])
        .block(
            "bad g",
            &["print *('runtime.g' *)((char *)&'runtime.sched' + 8)"],
        )
        .block(
            "odd g",
            &["print *('runtime.g' *)((char *)&'runtime.sched' + 3)"],
        )
        .block(
            "bad m",
            &["print *('runtime.m' *)((char *)&'runtime.sched' + 8)"],
        )
        .block(
            "bad p",
            &["print *('runtime.p' *)((char *)&'runtime.sched' + 8)"],
        )
        .block(
            "bad sched",
            &["print *('runtime.schedt' *)((char *)&'runtime.sched' + 8)"],
        )
        .run();
    o.assert_no_python_errors();
    check_refusals(&o);
    assert!(
        without_history_number(o.block("g")).starts_with("goroutine 1 [running] at main.stop "),
        "{}",
        o.all
    );
}

/// The checks of [`runtime_printers_refuse_what_is_not_the_runtimes`]
/// (tests/tests/rust_values.rs has the same for our runtime).
fn check_refusals(o: &GdbOutput) {
    let v = |b: &str| without_history_number(o.block(b)).to_string();
    let refused = |b: &str, what: &str, tail: &str| {
        let line = v(b);
        assert!(
            line.starts_with(&format!("<not {what}: 0x")) && line.ends_with(tail),
            "{b}: {line}\n{}",
            o.all
        );
    };
    assert!(
        v("m").starts_with('M') && v("m").contains(" curg g1"),
        "{}",
        o.all
    );
    assert!(
        v("p").starts_with('P') && v("p").contains(" running M"),
        "{}",
        o.all
    );
    assert!(v("g0").starts_with("g0 of M"), "{}", o.all);
    assert!(v("sched").starts_with("global run queue: "), "{}", o.all);
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
