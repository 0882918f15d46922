//! The Go build matrix: `gdbx break-bootstrap` on the ways people build Go
//! programs, each checked for its right plan and verdict. Each variant is
//! built once (`go build` caches the rest) and run once under gdb; a run is
//! one to three seconds on an idle machine.

mod common;

use common::*;
use gdbx_tests::{GO_HELLO, go_build, go_seed_hello};
use std::path::Path;

/// A hello world that calls into C, so that the go tool links it with the
/// system linker (`-linkmode external` is then the default).
const CGO_HELLO: &str = "package main\n\n// #include <stdlib.h>\nimport \"C\"\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello world!\", C.abs(-3))\n}\n";

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
        &go_build("cgo", CGO_HELLO, NO_OPT),
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
    let bin = go_build("cgo-static", CGO_HELLO, &flags);
    let doc = passes_with_plan(&bin, "go-cgo", "hello world! 3\n");
    assert_eq!(doc["plan"]["pie"], false);
    assert_eq!(first_hits(&doc, 3), ["_start", "main", "runtime.rt0_go"]);
}

#[test]
fn cgo_pie() {
    gdbx_tests::require_gdb!();
    let flags = ["-gcflags", "-N -l", "-buildmode=pie"];
    let doc = passes_with_plan(
        &go_build("cgo-pie", CGO_HELLO, &flags),
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
