//! `gdbx break-bootstrap` on the runtime's hello (debug and release):
//! every step of the runtime's bootstrap sequence, in order, on the main
//! thread.

mod common;

use common::*;
use gdbx_tests::{Variant, example_bin, fixtures_dir};

fn check_ours(variant: Variant) {
    let sequence = debuginfo::plan::Plan::ours().chain();
    let doc = bootstrap_json(&example_bin("hello", variant), &[], 0);
    assert_eq!(doc["plan"]["plan"], "ours");
    assert_eq!(doc["plan"]["flavor"]["kind"], "ours");
    let hits = hit_steps(&doc);
    let chain: Vec<&str> = hits
        .iter()
        .map(String::as_str)
        .filter(|h| sequence.contains(h))
        .collect();
    assert_eq!(chain, sequence, "all hits: {hits:?}");
    assert_plan_followed(&doc);
    assert_eq!(doc["program"]["exit_code"], 0);
    assert_eq!(doc["program"]["output"], "hello world!\n");
    // Times grow with the order.
    let times: Vec<f64> = doc["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["time_ms"].as_f64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // Threads named as the runtime knows them: read from the process.
    let thread_of = |step: &str| {
        doc["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["step"] == step)
            .map(|h| h["runtime_thread"].clone())
    };
    assert_eq!(thread_of("_rt0_amd64_linux"), Some(serde_json::Value::Null));
    assert_eq!(thread_of("runtime.main").unwrap(), "g1 on M0 (P0)");
    if let Some(t) = thread_of("runtime.sysmon") {
        assert_eq!(t, "M1 (no P)");
    }
    if let Some(t) = thread_of("runtime.scavenger") {
        assert!(t.as_str().unwrap().starts_with("g2 on M"), "{t}");
    }
}

#[test]
fn hello_debug_hits_the_bootstrap_sequence_in_order() {
    gdbx_tests::require_gdb!();
    check_ours(Variant::Debug);
}

#[test]
fn hello_release_hits_the_bootstrap_sequence_in_order() {
    gdbx_tests::require_gdb!();
    check_ours(Variant::Release);
}

#[test]
fn human_output_has_plan_output_hits_and_verdict() {
    gdbx_tests::require_gdb!();
    let out = gdbx([
        std::ffi::OsStr::new("break-bootstrap"),
        example_bin("hello", Variant::Debug).as_os_str(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let plan_at = text.find("plan:   ours").expect("plan header");
    let output_at = text.find("hello world!").expect("program output");
    let hits_at = text.find("hits:").expect("hits");
    let verdict_at = text
        .find("PASS all 14 required steps hit in order")
        .expect("verdict");
    assert!(
        plan_at < output_at && output_at < hits_at && hits_at < verdict_at,
        "{text}"
    );
    assert!(text.contains("runtime.schedinit"), "{text}");
    // What each step is for, under its hit.
    assert!(
        text.contains("heap, m0, args/env, GOMAXPROCS -> Ps"),
        "{text}"
    );
    // Threads as the runtime knows them, once it has given them a g.
    assert!(text.contains("g1 on M0 (P0), LWP "), "{text}");
    assert!(!text.contains('\x1b'), "colour with NO_COLOR set");
}

#[test]
fn no_binary_runs_the_bundled_hello() {
    gdbx_tests::require_gdb!();
    // The bundled hello is built by cargo into CARGO_TARGET_DIR; point it
    // at the fixtures directory so the nested build never waits for the
    // outer `cargo test`.
    example_bin("hello", Variant::Debug);
    let out = watched(
        std::process::Command::new(env!("CARGO_BIN_EXE_gdbx"))
            .args(["break-bootstrap", "--format", "json"])
            .env("CARGO_TARGET_DIR", fixtures_dir()),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["plan"]["binary"]
            .as_str()
            .unwrap()
            .ends_with("fixtures/debug/hello"),
        "{}",
        doc["plan"]["binary"]
    );
    assert_plan_followed(&doc);
}

/// A crash program: exit status 2 after main.main, one problem for it.
fn crashes_once(name: &str, variant: Variant) -> serde_json::Value {
    let doc = bootstrap_json(&example_bin(name, variant), &[], 3);
    assert_eq!(doc["program"]["exit_code"], 2);
    assert!(hit_steps(&doc).contains(&"main.main".to_string()));
    assert_eq!(only_problem(&doc)["kind"], "exit_status");
    doc
}

#[test]
fn runtime_panic_is_status_3_after_main_main() {
    gdbx_tests::require_gdb!();
    let doc = crashes_once("crash_panic", Variant::Debug);
    assert!(
        doc["program"]["output"]
            .as_str()
            .unwrap()
            .starts_with("panic: ")
    );
}

#[test]
fn runtime_panic_release() {
    gdbx_tests::require_gdb!();
    crashes_once("crash_panic", Variant::Release);
}

#[test]
fn deadlock_is_one_problem() {
    gdbx_tests::require_gdb!();
    let doc = crashes_once("crash_deadlock", Variant::Debug);
    assert!(
        doc["program"]["output"]
            .as_str()
            .unwrap()
            .contains("deadlock")
    );
}

#[test]
fn stack_overflow_crash_is_status_3_and_says_where() {
    gdbx_tests::require_gdb!();
    let doc = crashes_once("crash_overflow", Variant::Debug);
    let msg = only_problem(&doc)["message"].as_str().unwrap();
    assert!(
        msg.contains("after #")
            && msg.contains("it had received SIGSEGV in")
            && msg.contains("recurse"),
        "{msg}"
    );
}

#[test]
fn stdin_reaches_wordcount() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("wordcount", Variant::Debug);
    let doc = bootstrap_json_with_input(&bin, b"a b c\nb c\n", 0);
    assert_plan_followed(&doc);
    let output = doc["program"]["output"].as_str().unwrap();
    assert!(
        output.starts_with("lines 2\nwords 5\ndistinct 3\n"),
        "{output}"
    );
}

/// gdb starts the program through `$SHELL`. gdbx's arguments and stdin
/// redirection are POSIX sh, so a user whose SHELL is not (csh, fish, or
/// here one that cannot run anything) still gets the run and the stdin.
#[test]
fn stdin_reaches_wordcount_whatever_the_users_shell() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("wordcount", Variant::Debug);
    let out = gdbx_tests::watchdog::output_with_input(
        gdbx_command()
            .env("SHELL", "/bin/false")
            .args(["break-bootstrap", "--format", "json"])
            .arg(&bin),
        b"x y\n",
        WATCHDOG,
    );
    let doc = json_with_status(&out, 0);
    assert_plan_followed(&doc);
    let output = doc["program"]["output"].as_str().unwrap();
    assert!(output.starts_with("lines 1\nwords 2\n"), "{output}");
}

#[test]
fn stripped_debug_info_still_runs_from_the_symbol_table() {
    gdbx_tests::require_gdb!();
    let f = strip_debug("ours-stripdebug", &example_bin("hello", Variant::Debug));
    let out = gdbx([
        "break-bootstrap".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        f.as_os_str(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no DWARF debug info"),
        "{}",
        stderr(&out)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["plan"]["dwarf"], false);
    assert_plan_followed(&doc);
}

#[test]
fn hello_relinked_as_pie_hits_in_order_at_file_address_plus_bias() {
    gdbx_tests::require_gdb!();
    let bin = example_bin("hello", Variant::Pie);
    let doc = bootstrap_json(&bin, &[], 0);
    assert_eq!(doc["plan"]["pie"], true);
    assert_plan_followed(&doc);
    let hex = |v: &serde_json::Value| {
        u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    };
    let bias = hex(&doc["program"]["load_bias"]);
    assert_ne!(bias, 0);
    let steps = doc["plan"]["steps"].as_array().unwrap();
    for h in doc["hits"].as_array().unwrap() {
        let step = steps.iter().find(|s| s["name"] == h["step"]).unwrap();
        assert_eq!(
            hex(&h["address"]),
            hex(&step["address"]) + bias,
            "{}",
            h["step"]
        );
    }
}
