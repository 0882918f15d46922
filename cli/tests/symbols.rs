//! `gdbx symbols` against gdb's own answers, and across the ELF/DWARF
//! variants: compressed debug sections (SHF_COMPRESSED and .zdebug),
//! DWARF 4 and 5, PIE.

mod common;

use common::*;
use gdbx_tests::gdb::Gdb;
use gdbx_tests::{Variant, example_bin, go_hello, run_tool, scratch};
use serde_json::Value;
use std::path::Path;

fn symbols_json(bin: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["symbols".as_ref(), "--format".as_ref(), "json".as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.push(bin.as_os_str());
    let out = gdbx(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The steps with the binary-independent fields only.
fn steps(doc: &Value) -> Value {
    doc["steps"].clone()
}

fn hex(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// For every step gdb resolves to one location, `break NAME` must land on
/// our post-prologue address.
fn assert_matches_gdb(bin: &Path, doc: &Value) {
    gdbx_tests::require_gdb!();
    let steps: Vec<&Value> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["present"] == true && s["wrapper"].is_null() && !s["post_prologue"].is_null())
        .collect();
    let mut gdb = Gdb::new(bin);
    for s in &steps {
        gdb.ex(format!("break *{}", s["address"].as_str().unwrap()))
            .ex(format!("break '{}'", s["symbol"].as_str().unwrap()));
    }
    let text = gdb.run_unchecked().all;
    let addrs: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Breakpoint "))
        .filter_map(|l| l.split_once(" at 0x"))
        .map(|(_, rest)| u64::from_str_radix(rest.split([':', ' ']).next().unwrap(), 16).unwrap())
        .collect();
    assert_eq!(addrs.len(), 2 * steps.len(), "gdb said:\n{text}");
    let mut compared = 0;
    for (s, pair) in steps.iter().zip(addrs.chunks(2)) {
        assert_eq!(pair[0], hex(&s["address"]), "{}", s["name"]);
        assert_eq!(
            pair[1],
            hex(&s["post_prologue"]),
            "post-prologue of {} differs from gdb's; gdb:\n{text}",
            s["name"]
        );
        compared += 1;
    }
    assert!(compared >= 8, "only {compared} steps compared");
}

#[test]
fn go_post_prologue_matches_gdb() {
    let bin = go_hello(false);
    assert_matches_gdb(&bin, &symbols_json(&bin, &[]));
}

#[test]
fn ours_debug_post_prologue_matches_gdb() {
    let bin = example_bin("hello", Variant::Debug);
    let doc = symbols_json(&bin, &[]);
    assert_eq!(doc["flavor"]["kind"], "ours");
    assert_matches_gdb(&bin, &doc);
}

#[test]
fn ours_release_resolves_every_required_step() {
    let bin = example_bin("hello", Variant::Release);
    let doc = symbols_json(&bin, &[]);
    assert_eq!(doc["flavor"]["kind"], "ours");
    for s in required_steps(&doc) {
        assert_eq!(s["present"], true, "{s}");
    }
    assert_matches_gdb(&bin, &doc);
}

#[test]
fn go_pie_has_file_addresses_and_same_lines() {
    let plain = symbols_json(&go_hello(false), &[]);
    let pie = symbols_json(&go_hello(true), &[]);
    assert_eq!(pie["pie"], true);
    assert_eq!(plain["pie"], false);
    for (a, b) in plain["steps"]
        .as_array()
        .unwrap()
        .iter()
        .zip(pie["steps"].as_array().unwrap())
    {
        assert_eq!(a["name"], b["name"]);
        // Same lines (the program's own source sits in a per-fixture directory).
        assert_eq!(
            a["location"]["line"], b["location"]["line"],
            "{}",
            a["name"]
        );
        let base = |v: &Value| {
            v["location"]["file"]
                .as_str()
                .map(|f| f.rsplit('/').next().unwrap().to_string())
        };
        assert_eq!(base(a), base(b), "{}", a["name"]);
        assert_eq!(a["present"], b["present"]);
    }
}

/// The same resolution from compressed (zlib SHF_COMPRESSED, zlib-gnu
/// `.zdebug_*`) and uncompressed debug sections.
fn compression_roundtrip(bin: &Path, name: &str) {
    let d = scratch(name);
    let plain = d.join("plain");
    let zlib = d.join("zlib");
    let gnu = d.join("zlib-gnu");
    run_tool(
        "objcopy",
        &[
            "--decompress-debug-sections".as_ref(),
            bin.as_os_str(),
            plain.as_os_str(),
        ],
    );
    run_tool(
        "objcopy",
        &[
            "--compress-debug-sections=zlib".as_ref(),
            plain.as_os_str(),
            zlib.as_os_str(),
        ],
    );
    run_tool(
        "objcopy",
        &[
            "--compress-debug-sections=zlib-gnu".as_ref(),
            plain.as_os_str(),
            gnu.as_os_str(),
        ],
    );
    let names = std::process::Command::new("readelf")
        .arg("-SW")
        .arg(&gnu)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&names.stdout).contains(".zdebug_info"),
        "objcopy did not make .zdebug sections"
    );
    let want = symbols_json(&plain, &[]);
    assert_eq!(want["dwarf"], true);
    assert!(
        want["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| !s["location"].is_null())
    );
    for f in [&zlib, &gnu] {
        assert_eq!(
            steps(&symbols_json(f, &[])),
            steps(&want),
            "{}",
            f.display()
        );
    }
}

#[test]
fn go_compressed_debug_sections() {
    compression_roundtrip(&go_hello(false), "zgo");
}

#[test]
fn ours_compressed_debug_sections() {
    compression_roundtrip(&example_bin("hello", Variant::Debug), "zours");
}

#[test]
fn ours_dwarf5_same_lines_as_dwarf4() {
    let d4 = symbols_json(&example_bin("hello", Variant::Debug), &[]);
    let d5 = symbols_json(&example_bin("hello", Variant::Dwarf5), &[]);
    assert!(
        d5["dwarf_versions"]
            .as_array()
            .unwrap()
            .contains(&Value::from(5)),
        "{}",
        d5["dwarf_versions"]
    );
    for (a, b) in d4["steps"]
        .as_array()
        .unwrap()
        .iter()
        .zip(d5["steps"].as_array().unwrap())
    {
        assert_eq!(a["location"], b["location"], "{}", a["name"]);
        assert_eq!(
            a["post_prologue_location"], b["post_prologue_location"],
            "{}",
            a["name"]
        );
    }
}

#[test]
fn c_program_dwarf4_and_dwarf5() {
    // Same source, both DWARF versions: `main` resolves to the same line.
    let d = scratch("cdwarf");
    let src = d.join("m.c");
    std::fs::write(
        &src,
        "int x;\nint main(void)\n{\n  x = 1;\n  return x - 1;\n}\n",
    )
    .unwrap();
    let mut lines = Vec::new();
    for v in ["-gdwarf-4", "-gdwarf-5"] {
        let bin = d.join(v);
        run_tool(
            "cc",
            &[
                v.as_ref(),
                "-O0".as_ref(),
                "-o".as_ref(),
                bin.as_os_str(),
                src.as_os_str(),
            ],
        );
        let doc = symbols_json(&bin, &["--plan", "ours"]);
        let version: u64 = v[v.len() - 1..].parse().unwrap();
        assert!(
            doc["dwarf_versions"]
                .as_array()
                .unwrap()
                .contains(&Value::from(version))
        );
        let main = doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "main")
            .unwrap()
            .clone();
        assert_eq!(main["location"]["line"], 3, "{main}");
        assert_eq!(main["post_prologue_location"]["line"], 4, "{main}");
        lines.push(main["post_prologue"].clone());
    }
    assert_eq!(lines[0], lines[1]);
}

#[test]
fn ours_pie_same_lines_and_gdb_agrees() {
    let plain = symbols_json(&example_bin("hello", Variant::Debug), &[]);
    let bin = example_bin("hello", Variant::Pie);
    let pie = symbols_json(&bin, &[]);
    assert_eq!(
        (plain["pie"].clone(), pie["pie"].clone()),
        (Value::Bool(false), Value::Bool(true))
    );
    for (a, b) in plain["steps"]
        .as_array()
        .unwrap()
        .iter()
        .zip(pie["steps"].as_array().unwrap())
    {
        assert_eq!(a["location"], b["location"], "{}", a["name"]);
        assert_eq!(a["present"], b["present"], "{}", a["name"]);
    }
    assert_matches_gdb(&bin, &pie);
}
