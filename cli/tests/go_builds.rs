//! The Go build matrix: `gdbx break-bootstrap` on the ways people build Go
//! programs, each checked for its right plan and verdict. Each variant is
//! built once (`go build` caches the rest) and run once under gdb; a run is
//! one to three seconds on an idle machine.

mod common;

use common::*;
use gdbx_tests::{GO_CGO_HELLO, GO_HELLO, go_build, go_seed_hello};
use std::path::Path;

const NO_OPT: &[&str] = &["-gcflags", "-N -l"];

/// Runs `bin`, expects `plan` followed in order and the output `output`.
fn passes_with_plan(bin: &Path, plan: &str, output: &str) -> serde_json::Value {
    let doc = bootstrap_json(bin, &[], 0);
    assert_eq!(doc["plan"]["plan"], plan, "{}", doc["plan"]);
    assert_eq!(doc["plan"]["flavor"]["kind"], "go");
    assert_plan_followed(&doc);
    assert_eq!(doc["program"]["exit_code"], 0);
    assert_eq!(doc["program"]["output"], output);
    doc
}

fn first_hits(doc: &serde_json::Value, n: usize) -> Vec<String> {
    hit_steps(doc).into_iter().take(n).collect()
}

#[test]
fn the_walkthroughs_recipe() {
    gdbx_tests::require_gdb!();
    passes_with_plan(&go_seed_hello(), "go", "hello world!\n");
}

#[test]
fn plain_go_build_optimised() {
    gdbx_tests::require_gdb!();
    passes_with_plan(&go_build("plain", GO_HELLO, &[]), "go", "hello world!\n");
}

#[test]
fn trimpath() {
    gdbx_tests::require_gdb!();
    let doc = passes_with_plan(
        &go_build("trimpath", GO_HELLO, &["-trimpath"]),
        "go",
        "hello world!\n",
    );
    // The runtime's files are named by import path, not by GOROOT.
    let check = doc["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "runtime.check")
        .unwrap();
    let file = check["location"]["file"].as_str().unwrap();
    assert!(
        file.ends_with("runtime/runtime1.go") && !file.contains("go-1.19"),
        "{check}"
    );
}

#[test]
fn without_dwarf_ldflags_w() {
    gdbx_tests::require_gdb!();
    let doc = passes_with_plan(
        &go_build("ldflags-w", GO_HELLO, &["-ldflags=-w"]),
        "go",
        "hello world!\n",
    );
    assert_eq!(doc["plan"]["dwarf"], false);
}

#[test]
fn cgo_starts_in_libc() {
    gdbx_tests::require_gdb!();
    let doc = passes_with_plan(
        &go_build("cgo", GO_CGO_HELLO, NO_OPT),
        "go-cgo",
        "hello world! 3\n",
    );
    assert_eq!(first_hits(&doc, 3), ["_start", "main", "runtime.rt0_go"]);
}

#[test]
fn cgo_static() {
    gdbx_tests::require_gdb!();
    let flags = [
        "-gcflags",
        "-N -l",
        "-ldflags",
        "-linkmode external -extldflags -static",
    ];
    let bin = go_build("cgo-static", GO_CGO_HELLO, &flags);
    let doc = passes_with_plan(&bin, "go-cgo", "hello world! 3\n");
    assert_eq!(doc["plan"]["pie"], false);
    assert_eq!(first_hits(&doc, 3), ["_start", "main", "runtime.rt0_go"]);
}

#[test]
fn cgo_pie() {
    gdbx_tests::require_gdb!();
    let flags = ["-gcflags", "-N -l", "-buildmode=pie"];
    let doc = passes_with_plan(
        &go_build("cgo-pie", GO_CGO_HELLO, &flags),
        "go-cgo",
        "hello world! 3\n",
    );
    assert_eq!(doc["plan"]["pie"], true);
    assert_ne!(doc["program"]["load_bias"], "0x0");
    assert_eq!(first_hits(&doc, 3), ["_start", "main", "runtime.rt0_go"]);
}

#[test]
fn race_leaves_through_the_race_runtime() {
    gdbx_tests::require_gdb!();
    let doc = passes_with_plan(
        &go_build("race", GO_HELLO, &["-race"]),
        "go-race",
        "hello world!\n",
    );
    let hits = hit_steps(&doc);
    assert!(!hits.iter().any(|h| h == "runtime.exit"), "{hits:?}");
    let chain_end = hits
        .iter()
        .rfind(|h| *h != "runtime.sysmon" && *h != "runtime.bgscavenge");
    assert_eq!(chain_end.map(String::as_str), Some("runtime.racefini"));
}

/// `package main` with `body` as main's body and `imports`.
fn go_main(imports: &[&str], body: &str) -> String {
    let imports: String = imports.iter().map(|i| format!("\t\"{i}\"\n")).collect();
    format!("package main\n\nimport (\n{imports})\n\nfunc main() {{\n{body}}}\n")
}

#[test]
fn a_go_panic_is_one_problem_and_go_leaves_through_runtime_exit() {
    gdbx_tests::require_gdb!();
    let src = go_main(&[], "\tpanic(\"boom\")\n");
    let doc = bootstrap_json(&go_build("panic", &src, NO_OPT), &[], 3);
    assert_eq!(doc["program"]["exit_code"], 2);
    let p = only_problem(&doc);
    assert_eq!(p["kind"], "exit_status");
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .starts_with("the program failed: it exited with status 2, after #"),
        "{p}"
    );
    assert!(hit_steps(&doc).contains(&"runtime.exit".to_string()));
    assert!(
        doc["program"]["output"]
            .as_str()
            .unwrap()
            .contains("panic: boom")
    );
}

#[test]
fn a_go_deadlock_is_one_problem() {
    gdbx_tests::require_gdb!();
    let src = go_main(&[], "\tc := make(chan int)\n\t<-c\n");
    let doc = bootstrap_json(&go_build("deadlock", &src, NO_OPT), &[], 3);
    assert_eq!(doc["program"]["exit_code"], 2);
    assert_eq!(only_problem(&doc)["kind"], "exit_status");
    assert!(
        doc["program"]["output"]
            .as_str()
            .unwrap()
            .contains("all goroutines are asleep - deadlock!")
    );
}

#[test]
fn a_recovered_nil_dereference_is_not_a_crash() {
    gdbx_tests::require_gdb!();
    let body = "\tdefer func() {\n\t\tfmt.Println(\"recovered:\", recover() != nil)\n\t}()\n\tvar p *int\n\t*p = 1\n";
    let bin = go_build("recover-nil", &go_main(&["fmt"], body), NO_OPT);
    let doc = passes_with_plan(&bin, "go", "recovered: true\n");
    let faults = doc["program"]["faults"].as_array().unwrap();
    assert_eq!(faults[0]["signal"], "SIGSEGV", "{faults:?}");
    assert!(
        faults[0]["at"].as_str().unwrap().contains("main.main"),
        "{faults:?}"
    );
    let notes = doc["verdict"]["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("the program received SIGSEGV in main.main")
            && n.as_str().unwrap().ends_with("and handled it")),
        "{notes:?}"
    );
}

#[test]
fn dying_of_a_signal_is_a_crash() {
    gdbx_tests::require_gdb!();
    // GOTRACEBACK=crash: after the panic report Go raises SIGABRT and dies of it.
    let body = "\tvar p *int\n\t*p = 1\n";
    let bin = go_build("nil-deref", &go_main(&[], body), NO_OPT);
    let out = watched(
        gdbx_command()
            .args(["break-bootstrap", "--format", "json"])
            .arg(&bin)
            .env("GOTRACEBACK", "crash"),
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["program"]["signal"], "SIGABRT");
    let p = only_problem(&doc);
    assert_eq!(p["kind"], "crash");
    let msg = p["message"].as_str().unwrap();
    assert!(msg.starts_with("the program died of SIGABRT in "), "{msg}");
    assert!(
        msg.contains(", after #") && msg.ends_with("main.main"),
        "{msg}"
    );
}

#[test]
fn stdin_reaches_the_program() {
    gdbx_tests::require_gdb!();
    let body = "\tb, _ := io.ReadAll(os.Stdin)\n\tfmt.Printf(\"%d words\\n\", len(strings.Fields(string(b))))\n";
    let bin = go_build(
        "read-stdin",
        &go_main(&["fmt", "io", "os", "strings"], body),
        NO_OPT,
    );
    let doc = bootstrap_json_with_input(&bin, b"a b c\n", 0);
    assert_plan_followed(&doc);
    assert_eq!(doc["program"]["output"], "3 words\n");
}

/// Ctrl-C in the middle of a run: the program blocks reading a stdin that
/// stays open; once it has said so (a handshake on gdbx's stdout, where the
/// program's output goes), gdbx gets SIGINT as from the terminal.
#[test]
fn ctrl_c_prints_the_hits_so_far_and_exits_130() {
    gdbx_tests::require_gdb!();
    let body = "\tfmt.Println(\"waiting for stdin\")\n\tio.ReadAll(os.Stdin)\n";
    let bin = go_build("wait-stdin", &go_main(&["fmt", "io", "os"], body), NO_OPT);
    let (status, text) = interrupt_after(
        gdbx_command().arg("break-bootstrap").arg(&bin),
        "waiting for stdin\n",
    );
    assert_eq!(status.code(), Some(130), "{text}");
    let hits_at = text.find("hits:").expect("the hits are printed");
    assert!(text[hits_at..].contains("main.main"), "{text}");
    assert!(
        text.contains("interrupted (Ctrl-C); the program was killed; last hit: #"),
        "{text}"
    );
    assert!(text.contains("program was killed after Ctrl-C"), "{text}");
}
