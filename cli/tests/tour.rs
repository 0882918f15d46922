//! `gdbx tour` on our hello (debug and release) and on Go 1.19's (plain,
//! PIE, cgo, `-race`), its values checked against the truth: the CPUs this
//! process may run on (`nproc`, which counts the affinity mask), the page
//! size (`getconf`), a GOMAXPROCS given in the environment, the arguments
//! given.
//!
//! Each test is one tour: one run of the program under gdb (about as long
//! as one break-bootstrap run, 1-3 s).

mod common;

use common::*;
use gdbx_tests::{GO_CGO_HELLO, GO_HELLO, Variant, example_bin, go_build, go_hello};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The output of a command, trimmed, as a number.
fn number_from(cmd: &str, args: &[&str]) -> u64 {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// `[env] gdbx tour --format json BINARY -- ARGS`, parsed; status 0.
fn tour_json(binary: &Path, env: &[(&str, &str)], args: &[&str]) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gdbx"));
    cmd.args(["tour", "--format", "json"])
        .arg(binary)
        .arg("--")
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("GDBX_GDB")
        .env_remove("GOMAXPROCS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = watched(&mut cmd);
    assert_eq!(
        code(&out),
        0,
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(&out)))
}

/// The values of step `name`.
fn values<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let step = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {doc}"));
    assert_eq!(step["hit"], true, "{name} not hit: {step}");
    &step["values"]
}

/// The checks both runtimes pass: every value against the truth.
fn check_truth(doc: &Value, binary: &Path, gomaxprocs: Option<u64>, args: &[&str]) {
    let ncpu = number_from("nproc", &[]);
    for s in doc["steps"].as_array().unwrap() {
        assert_eq!(s["hit"], true, "step not reached: {s}");
    }
    let setup = if doc["plan"] != "ours" {
        "runtime.rt0_go"
    } else {
        "_rt0_amd64"
    };
    let v = values(doc, setup);
    assert_eq!(v["tls_g_is_g0"], true, "{v}");
    assert!(
        v["g0_stack_lo"].as_u64().unwrap() < v["g0_stack_hi"].as_u64().unwrap(),
        "{v}"
    );
    assert_eq!(values(doc, "runtime.check")["tls_g_is_g0"], true);

    let v = values(doc, "runtime.args");
    let mut argv = vec![binary.to_string_lossy().into_owned()];
    argv.extend(args.iter().map(|a| a.to_string()));
    assert_eq!(v["argc"], argv.len() as u64, "{v}");
    assert_eq!(v["argv"], serde_json::json!(argv));

    let v = values(doc, "runtime.osinit");
    assert_eq!(v["ncpu"], ncpu, "{v}");
    assert_eq!(v["phys_page_size"], number_from("getconf", &["PAGESIZE"]));

    let seed = if doc["plan"] != "ours" {
        "runtime.alginit"
    } else {
        "runtime.hashinit"
    };
    let v = values(doc, seed);
    let words = v["seed"].as_array().unwrap();
    assert!(words.iter().any(|w| w != 0), "an all-zero seed: {v}");

    let v = values(doc, "runtime.schedinit");
    let procs = gomaxprocs.unwrap_or(ncpu);
    assert_eq!(v["gomaxprocs"], procs, "{v}");
    let source = if gomaxprocs.is_some() { "env" } else { "ncpu" };
    assert_eq!(v["gomaxprocs_source"], source, "{v}");
    assert_eq!(v["ps"].as_array().unwrap().len() as u64, procs, "{v}");
    assert_eq!(v["ps"][0]["status"], "running", "{v}");
    assert_eq!(v["m0_id"], 0);
    assert_eq!(v["m0_p"], 0);

    let race = doc["plan"].as_str().unwrap().ends_with("-race");
    let v = values(doc, "runtime.newproc");
    assert_eq!(v["new_goid"], 1, "{v}");
    assert_eq!(v["new_entry"], "runtime.main");
    assert_eq!(v["new_status"], "runnable");
    if race {
        // Go's randomised scheduler puts it in runnext or the run queue.
        assert_ne!(v["in_p0_runnext"], v["in_p0_runq"], "{v}");
    } else {
        assert_eq!(v["in_p0_runnext"], true);
    }

    let v = values(doc, "runtime.mstart");
    assert_eq!(v["running_goid"], 1, "{v}");
    assert_eq!(v["running_m"], 0);
    assert_eq!(v["p0_runnext_empty"], true);

    // sysmon: its own M and thread (the M's procid is that thread), no P;
    // the scavenger: a goroutine other than main's.
    let v = values(doc, "runtime.main");
    if doc["plan"] == "ours" || !v["sysmon_lwp"].is_null() {
        assert!(v["sysmon_m"].as_i64().unwrap() > 0, "{v}");
        let lwp = v["sysmon_lwp"].as_u64().unwrap();
        assert_ne!(Some(lwp), doc["program"]["pid"].as_u64(), "{v}");
        assert_eq!(v["sysmon_procid"], lwp, "{v}");
        assert_eq!(v["sysmon_has_p"], false);
    }
    assert!(v["scavenger_goid"].as_i64().unwrap() > 1, "{v}");

    // A -race build leaves through the race runtime.
    let exit = if race {
        "runtime.racefini"
    } else {
        "runtime.exit"
    };
    assert_eq!(values(doc, exit)["exit_code"], 0);
    assert_eq!(doc["status"], 0, "{}", doc["problems"]);
}

#[test]
fn tour_of_our_debug_hello_reads_the_truth() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("hello", Variant::Debug);
    let args = ["one", "two words", "\u{4f60}\u{597d}"];
    let doc = tour_json(&bin, &[], &args);
    assert_eq!(doc["plan"], "ours");
    check_truth(&doc, &bin, None, &args);
    // Our scavenger is the second goroutine.
    assert_eq!(values(&doc, "runtime.main")["scavenger_goid"], 2);
}

#[test]
fn tour_of_our_release_hello_with_gomaxprocs_from_the_environment() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("hello", Variant::Release);
    let doc = tour_json(&bin, &[("GOMAXPROCS", "3")], &[]);
    check_truth(&doc, &bin, Some(3), &[]);
}

#[test]
fn tour_of_go_hello_reads_the_truth() {
    gdbx_tests::require_gdb!();
    let bin = go_hello(false);
    let doc = tour_json(&bin, &[("GOMAXPROCS", "5")], &["x"]);
    assert_eq!(doc["plan"], "go");
    check_truth(&doc, &bin, Some(5), &["x"]);
    let notes: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["notes"].as_array().unwrap())
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("hashinit became alginit")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n.contains("proc.c became proc.go")));
    assert!(notes.iter().any(|n| n.contains("runtime.rt0_go")));
}

#[test]
fn tour_of_go_pie_hello_is_relocated() {
    gdbx_tests::require_gdb!();
    let bin = go_hello(true);
    let doc = tour_json(&bin, &[], &[]);
    check_truth(&doc, &bin, None, &[]);
}

/// A cgo hello, linked by the system linker: the tour starts in libc
/// (`_start`, then Go's C `main`) and reads the same truth.
#[test]
fn tour_of_go_cgo_hello_reads_the_truth() {
    gdbx_tests::require_gdb!();
    let bin = go_build("cgo", GO_CGO_HELLO, &["-gcflags", "-N -l"]);
    let doc = tour_json(&bin, &[("GOMAXPROCS", "3")], &["a", "b c"]);
    assert_eq!(doc["plan"], "go-cgo");
    let names: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[..3], ["_start", "main", "runtime.rt0_go"]);
    check_truth(&doc, &bin, Some(3), &["a", "b c"]);
    assert_eq!(doc["program"]["output"], "hello world! 3\n");
}

/// A `-race` hello (built as the Go build matrix builds it, optimised).
/// Go's race runtime randomises the scheduler: newproc's G is in P0's
/// runnext or, half the runs, at the tail of its run queue, and the tour
/// finds it either way (one run here covers one of the two; the tour
/// says which).
#[test]
fn tour_of_go_race_hello_reads_the_truth() {
    gdbx_tests::require_gdb!();
    let bin = go_build("race", GO_HELLO, &["-race"]);
    let doc = tour_json(&bin, &[("GOMAXPROCS", "2")], &["x"]);
    assert_eq!(doc["plan"], "go-race");
    check_truth(&doc, &bin, Some(2), &["x"]);
    let newproc = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "runtime.newproc")
        .unwrap();
    let place = if newproc["values"]["in_p0_runq"] == true {
        "in P0's run queue (a -race build randomises the scheduler"
    } else {
        "in P0's runnext"
    };
    assert!(
        newproc["did"][0].as_str().unwrap().contains(place),
        "{newproc}"
    );
    assert_eq!(doc["program"]["output"], "hello world!\n");
}

/// The text tour, in English and in Chinese: each step with what it is for
/// and what it did.
#[test]
fn text_tour_in_english_and_chinese() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("hello", Variant::Debug);
    let ncpu = number_from("nproc", &[]);
    for (lang, no_p, want) in [
        (
            "en",
            "no P",
            [
                format!("runtime.ncpu = {ncpu}: the CPUs this process may run on"),
                format!("GOMAXPROCS = {ncpu} = ncpu (no GOMAXPROCS in the environment)"),
                "a new G: g1, entry runtime.main, runnable, in P0's runnext".into(),
                "heap, m0, args/env, GOMAXPROCS -> Ps".into(),
                "(program on the gdbx runtime): 14 steps from the first instruction to exit".into(),
            ],
        ),
        (
            "zh",
            "没有 P",
            [
                format!("runtime.ncpu = {ncpu}：这个进程可以使用的 CPU 个数"),
                format!("GOMAXPROCS = {ncpu} = ncpu（环境变量里没有 GOMAXPROCS）"),
                "新的 G：g1，入口 runtime.main，runnable，在 P0 的 runnext 里".into(),
                "内存管理、m0、参数和环境变量、按 GOMAXPROCS 建 P".into(),
                "（gdbx 运行时上的程序），从第一条指令到退出共 14 步".into(),
            ],
        ),
    ] {
        let out = watched(
            Command::new(env!("CARGO_BIN_EXE_gdbx"))
                .args(["tour", "--lang", lang])
                .arg(&bin)
                .env("NO_COLOR", "1")
                .env_remove("GDBX_GDB")
                .env_remove("GOMAXPROCS"),
        );
        let text = stdout(&out);
        assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
        for w in &want {
            assert!(text.contains(w.as_str()), "{lang}: no {w:?} in\n{text}");
        }
        assert!(text.contains("hello world!"), "{text}");
        // sysmon is named as the runtime knows it: its M, no P.
        let sysmon = text
            .lines()
            .find(|l| l.contains("runtime.sysmon"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(sysmon.contains("M1") && sysmon.contains(no_p), "{sysmon}");
    }
}

/// The step a line of the text tour heads (` 3. _rt0_amd64  file:line`),
/// after the `(gdbx tour) ` prompt the line may follow.
fn step_header(line: &str) -> Option<&str> {
    let line = line.trim_start_matches("(gdbx tour) ").trim_start();
    let (n, rest) = line.split_once(". ")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| rest.split_whitespace().next())
        .flatten()
}

/// `--step`: at each stop the gdb prompt is the user's, with the gdb
/// extension loaded; Enter goes on, commands that would move the program
/// are refused, end of input runs the rest of the tour without stopping.
/// Every prompt comes after the step it follows is printed whole, what it
/// is for and the values it set: `_rt0_amd64`'s g0 bounds and thread-local
/// g (read once it has jumped on) come before the prompt at runtime.check.
#[test]
fn step_hands_the_gdb_prompt_over_at_each_stop() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("hello", Variant::Debug);
    // Prompts 1-9 follow the steps up to newproc (at _rt0_amd64_linux, main,
    // then at check to mstart, each after the step before it: _rt0_amd64
    // has no prompt of its own); the 10th, after mstart, is at
    // runtime.main, on g1.
    let mut input = String::from("print 6*7\nstep\n");
    input.push_str(&"\n".repeat(9));
    input.push_str("info goroutines\n");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gdbx"));
    cmd.args(["tour", "--step"])
        .arg(&bin)
        .env("NO_COLOR", "1")
        .env("GDBX_EXT_PATH", gdbx_tests::gdb::ext_module())
        .env_remove("GDBX_GDB")
        .env_remove("GOMAXPROCS")
        .stdin(std::process::Stdio::piped());
    let out = gdbx_tests::watchdog::output_with_input(&mut cmd, input.as_bytes(), WATCHDOG);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
    assert!(text.contains("gdbx: loaded runtime support"), "{text}");
    assert!(
        text.contains("-- stopped at _rt0_amd64_linux; gdb commands, Enter for the next step --"),
        "{text}"
    );
    assert!(text.contains("$1 = 42"), "{text}");
    assert!(text.contains("the tour drives the program"), "{text}");
    assert!(
        text.contains("-- stopped at runtime.main (runtime/src/rt0.rs:"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("* 1 ") && l.contains("running")),
        "g1 is not running at runtime.main:\n{text}"
    );
    // Each prompt follows a step printed whole: no step's lines after it.
    let mut block: Vec<&str> = Vec::new();
    let mut prompts = 0;
    for line in text.lines() {
        let bare = line.trim_start_matches("(gdbx tour) ");
        if step_header(line).is_some() {
            block = vec![bare];
        } else if bare.starts_with("-- stopped at ") {
            assert!(
                !block.is_empty(),
                "a prompt with no step before it:\n{text}"
            );
            if block[0].contains(". _rt0_amd64 ") {
                let block = block.join("\n");
                assert!(
                    block.contains("-> g0's stack: [0x")
                        && block.contains("-> thread-local g = 0x"),
                    "_rt0_amd64's values are not before its prompt:\n{block}\n{text}"
                );
                assert!(bare.starts_with("-- stopped at runtime.check ("), "{text}");
            }
            block.clear();
            prompts += 1;
        } else if bare.starts_with("    ") && !block.is_empty() {
            block.push(bare);
        } else {
            assert!(
                !bare.starts_with("    -> "),
                "a step's values after the prompt:\n{text}"
            );
        }
    }
    assert_eq!(prompts, 10, "{text}");
    assert!(!text.contains("-- stopped at _rt0_amd64 ("), "{text}");
    // After the end of input the tour ran to the end, every step described.
    assert!(text.contains("-> exit status 0"), "{text}");
    assert!(text.contains("the program exited with status 0"), "{text}");
}

/// Ctrl-C during the tour: the steps seen so far are printed (the one the
/// program is in included, the rest "not reached") and gdbx exits 130. The
/// program blocks reading a stdin that stays open; once it has said so (a
/// handshake on gdbx's stdout), gdbx gets SIGINT as from the terminal.
#[test]
fn ctrl_c_prints_the_tour_so_far_and_exits_130() {
    gdbx_tests::require_gdb!();
    let source = "package main\n\nimport (\n\t\"fmt\"\n\t\"io\"\n\t\"os\"\n)\n\nfunc main() {\n\tfmt.Println(\"waiting for stdin\")\n\tio.ReadAll(os.Stdin)\n}\n";
    let bin = gdbx_tests::go_program("tour-wait-stdin", source, false);
    let (status, text) = interrupt_after(
        Command::new(env!("CARGO_BIN_EXE_gdbx"))
            .arg("tour")
            .arg(&bin)
            .env("NO_COLOR", "1")
            .env_remove("GDBX_GDB"),
        "waiting for stdin\n",
    );
    assert_eq!(status.code(), Some(130), "{text}");
    let main_at = text.find(". main.main").expect("main.main is printed");
    let exit = &text[text
        .find(". runtime.exit")
        .expect("runtime.exit is printed")..];
    assert!(exit.contains("(not reached)"), "{text}");
    assert!(main_at < text.len());
    assert!(text.contains("interrupted (Ctrl-C)"), "{text}");
}
