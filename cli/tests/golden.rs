//! Golden-file tests for `gdbx symbols`: each `testinput/NAME.args` holds a
//! command line (fixtures as `{go-hello}`, `{go-hello-pie}`), and
//! `testoutput/NAME.out` the expected stdout+stderr, with addresses and the
//! workspace path normalised. `GDBX_BLESS=1` rewrites the expected files.

mod common;

use common::*;
use std::path::Path;

fn normalise(text: &str, ws: &str) -> String {
    let text = text.replace(ws, "$WORKSPACE");
    // Addresses: 0x followed by hex digits -> 0xADDR.
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'0'
            && b.get(i + 1) == Some(&b'x')
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            out.push_str("0xADDR");
            i = j;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[test]
fn golden_symbols() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let ws = gdbx_tests::workspace_root()
        .canonicalize()
        .unwrap()
        .display()
        .to_string();
    let bless = std::env::var_os("GDBX_BLESS").is_some();
    let mut inputs: Vec<_> = std::fs::read_dir(dir.join("testinput"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty());
    let mut failures = Vec::new();
    for input in inputs {
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        let line = std::fs::read_to_string(&input).unwrap();
        let args: Vec<String> = line
            .split_whitespace()
            .map(|a| match a {
                "{go-hello}" => gdbx_tests::go_hello(false)
                    .canonicalize()
                    .unwrap()
                    .display()
                    .to_string(),
                "{go-hello-pie}" => gdbx_tests::go_hello(true)
                    .canonicalize()
                    .unwrap()
                    .display()
                    .to_string(),
                a => a.to_string(),
            })
            .collect();
        let out = gdbx(&args);
        let got = normalise(
            &format!(
                "{}{}exit status: {}\n",
                stdout(&out),
                stderr(&out),
                code(&out)
            ),
            &ws,
        );
        let expected_path = dir.join("testoutput").join(format!("{name}.out"));
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "--- {name}: expected ({}):\n{expected}\n--- got:\n{got}",
                expected_path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(rerun with GDBX_BLESS=1 to accept)",
        failures.join("\n")
    );
}
