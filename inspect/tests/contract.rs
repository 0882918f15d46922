//! The contract of both flavours: every type, field and symbol a flavour's
//! list names exists in a freshly built binary of that runtime (with a
//! size), and, for Go, in Go 1.19's own sources (runtime2.go). Renaming a
//! field in runtime/src/runtime2.rs, or a Go release moving one, fails here
//! by name.

use gdbx_tests::cores::{GoBuild, go_parked};
use gdbx_tests::{Variant, example_bin};
use inspect::{Flavour, Layout, Program};

#[test]
fn ours_list_matches_a_fresh_build() {
    let bin = debuginfo::Binary::open(example_bin("parked", Variant::Debug)).unwrap();
    let layout = Layout::resolve(&bin, Flavour::Ours).unwrap();
    assert!(layout.missing.is_empty(), "{:?}", layout.missing);
    assert!(layout.reasons.values().any(|r| r == "chan receive"));
}

#[test]
fn go_list_matches_a_fresh_build_and_go_sources() {
    let bin = debuginfo::Binary::open(go_parked(GoBuild::NoOpt)).unwrap();
    let layout = Layout::resolve(&bin, Flavour::Go119).unwrap();
    assert!(layout.missing.is_empty(), "{:?}", layout.missing);
    // Status names and values come from the binary's DWARF constants.
    assert_eq!(layout.status.waiting, 4);
    assert_eq!(layout.status_name(4 | 0x1000), Some("waiting"));
    assert_eq!(layout.pstatus_name(1), "running");

    let src = std::path::Path::new("/usr/lib/go-1.19/src/runtime/runtime2.go");
    let text = std::fs::read_to_string(src).expect("Go 1.19's sources (golang-1.19-go)");
    for t in Flavour::Go119.spec().types {
        let short = t.name.trim_start_matches("runtime.");
        let start = text
            .find(&format!("\ntype {short} struct {{"))
            .unwrap_or_else(|| panic!("no type {short} in runtime2.go"));
        let body = &text[start..start + text[start..].find("\n}\n").unwrap()];
        for f in t.fields {
            let first = f.path.split('.').next().unwrap();
            assert!(
                body.lines()
                    .any(|l| l.split_whitespace().next() == Some(first)),
                "Go 1.19's {short} has no field {first}"
            );
        }
    }
    let symbols = Flavour::Go119.spec().symbols;
    for s in symbols {
        let var = s.trim_start_matches("runtime.");
        assert!(
            std::fs::read_dir("/usr/lib/go-1.19/src/runtime")
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "go"))
                .any(|e| std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .lines()
                    .any(
                        |l| l.trim_start().starts_with(var) || l.starts_with(&format!("var {var}"))
                    )),
            "no {s} in Go 1.19's runtime"
        );
    }
}

#[test]
fn an_unknown_runtime_is_one_line_naming_it() {
    let e = Program::open("/bin/true", "").unwrap_err();
    assert!(
        !e.contains('\n') && e.contains("neither a program on the gdbx runtime nor a Go binary"),
        "{e}"
    );
    let e = Program::open("/nonexistent", "").unwrap_err();
    assert!(e.contains("no such file"), "{e}");
}
