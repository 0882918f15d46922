//! Every kind of bad input: a clear one-line message, the documented exit
//! status, never a panic.

mod common;

use common::*;
use gdbx_tests::{GO_HELLO, go_build, go_hello, run_tool, scratch};
use std::path::Path;

fn symbols_fails(path: &Path, status: i32, message: &str) {
    let out = gdbx(["symbols".as_ref(), path.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(code(&out), status, "stderr: {err}");
    assert!(err.contains(message), "expected {message:?} in {err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    // break-bootstrap and the tour say the same before they start gdb.
    for cmd in ["break-bootstrap", "tour"] {
        let out = gdbx([cmd.as_ref(), path.as_os_str()]);
        assert_eq!(code(&out), status, "{cmd}");
        assert!(stderr(&out).contains(message), "{cmd}: {}", stderr(&out));
    }
}

/// `gdbx tour BINARY` fails before running with one line containing `message`.
fn tour_fails(path: &Path, message: &str) {
    let out = gdbx(["tour".as_ref(), path.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "stderr: {err}");
    assert!(err.contains(message), "expected {message:?} in {err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(
        stdout(&out).is_empty(),
        "the tour started: {}",
        stdout(&out)
    );
}

#[test]
fn nonexistent_path() {
    symbols_fails(
        Path::new("/nonexistent/gdbx/hello"),
        2,
        "/nonexistent/gdbx/hello: no such file",
    );
}

#[test]
fn directory() {
    symbols_fails(
        Path::new("/tmp"),
        2,
        "/tmp: is a directory, not an ELF binary",
    );
}

#[test]
fn not_elf() {
    let d = scratch("notelf");
    let f = d.join("script.sh");
    std::fs::write(&f, "#!/bin/sh\necho hi\n").unwrap();
    symbols_fails(&f, 2, "not an ELF file");
}

#[test]
fn truncated_elf() {
    let d = scratch("truncated");
    let f = d.join("hello");
    let bytes = std::fs::read(go_hello(false)).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    symbols_fails(&f, 2, "truncated or corrupt ELF");
}

#[test]
fn elf_32_bit() {
    // A minimal ELF32 header (i386 executable): e_ident, e_type, e_machine.
    let mut h = vec![0u8; 52];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 1; // ELFCLASS32
    h[5] = 1; // little endian
    h[6] = 1; // EV_CURRENT
    h[16] = 2; // ET_EXEC
    h[18] = 3; // EM_386
    let d = scratch("elf32");
    let f = d.join("hello32");
    std::fs::write(&f, &h).unwrap();
    symbols_fails(&f, 2, "32-bit ELF");
}

#[test]
fn non_x86_64_elf() {
    let d = scratch("aarch64");
    let f = d.join("hello-arm");
    let mut bytes = std::fs::read(go_hello(false)).unwrap();
    bytes[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    std::fs::write(&f, &bytes).unwrap();
    symbols_fails(&f, 2, "ELF for AArch64");
}

#[test]
fn no_symbols_at_all() {
    let d = scratch("stripall");
    let f = d.join("hello");
    run_tool(
        "strip",
        &[
            "--strip-all".as_ref(),
            "-o".as_ref(),
            f.as_os_str(),
            go_hello(false).as_os_str(),
        ],
    );
    symbols_fails(
        &f,
        2,
        "stripped of its symbol table after the build (strip --strip-all?)",
    );
}

#[test]
fn go_linked_without_symbols_says_what_go_did_and_how_to_build() {
    let bin = go_build("hello-s-w", GO_HELLO, &["-ldflags", "-s -w"]);
    symbols_fails(
        &bin,
        2,
        "linked with -ldflags=\"-s -w\": Go's linker left out the symbol table (-s)",
    );
    symbols_fails(
        &bin,
        2,
        "build it without -s and -w: go build -gcflags \"-N -l\"",
    );
}

#[test]
fn forced_plan_with_no_step_in_the_binary_is_refused_before_running() {
    let d = scratch("cprog-noplan");
    let src = d.join("c.c");
    // Would say so if it ran.
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void) { puts(\"ran\"); return 0; }\n",
    )
    .unwrap();
    let bin = d.join("c");
    run_tool("cc", &["-o".as_ref(), bin.as_os_str(), src.as_os_str()]);
    let out = gdbx([
        "break-bootstrap".as_ref(),
        "--plan".as_ref(),
        "go".as_ref(),
        bin.as_os_str(),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    let last = err.trim_end().lines().last().unwrap_or("");
    assert!(
        last.ends_with("plan's runtime steps is in the binary (neither a gdbx-runtime program nor a Go binary); there is nothing to break on"),
        "{err}"
    );
    assert!(!stdout(&out).contains("ran"), "it ran: {}", stdout(&out));
}

#[test]
fn neither_ours_nor_go_needs_a_plan() {
    let d = scratch("cprog");
    let src = d.join("c.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let bin = d.join("c");
    run_tool(
        "cc",
        &[
            "-g".as_ref(),
            "-o".as_ref(),
            bin.as_os_str(),
            src.as_os_str(),
        ],
    );
    let out = gdbx(["symbols".as_ref(), bin.as_os_str()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("choose a plan with --plan ours|go"));
    let out = gdbx(["break-bootstrap".as_ref(), bin.as_os_str()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("choose a plan with --plan ours|go"));
    // No plan makes a tour of a runtime that is not there.
    tour_fails(
        &bin,
        "the tour reads programs on the gdbx runtime and Go 1.19 binaries",
    );
}

#[test]
fn tour_needs_the_runtime_types_from_dwarf() {
    let f = strip_debug("tour-stripdebug", &go_hello(false));
    tour_fails(
        &f,
        "no DWARF debug info: the tour reads the runtime's types from it",
    );
}

#[test]
fn stripped_debug_info_warns_and_still_works() {
    gdbx_tests::require_gdb!();
    let f = strip_debug("stripdebug", &go_hello(false));
    let out = gdbx([
        "symbols".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        f.as_os_str(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: ") && err.contains("no DWARF debug info"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["dwarf"], false);
    for s in required_steps(&doc) {
        assert_eq!(s["present"], true, "{s}");
        assert!(s["location"].is_null());
    }
    // And the run works from the symbol table alone.
    let doc = bootstrap_json(&f, &[], 0);
    assert_plan_followed(&doc);
}

#[test]
fn bad_usage_is_status_2() {
    let out = gdbx(["symbols"]);
    assert_eq!(code(&out), 2);
    let out = gdbx(["break-bootstrap", "--format", "yaml", "x"]);
    assert_eq!(code(&out), 2);
    let out = gdbx(["break-bootstrap", "--timeout", "0", "x"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn missing_gdb_says_how_to_install_it() {
    let out = watched(
        std::process::Command::new(env!("CARGO_BIN_EXE_gdbx"))
            .args(["break-bootstrap".as_ref(), go_hello(false).as_os_str()])
            .env("PATH", "/nonexistent")
            .env_remove("GDBX_GDB"),
    );
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    assert_eq!(
        err.trim_end(),
        "gdbx: gdb not found on PATH; install it with `apt-get install gdb`"
    );

    let out = gdbx([
        "break-bootstrap".as_ref(),
        "--gdb".as_ref(),
        "/nonexistent/gdb".as_ref(),
        go_hello(false).as_os_str(),
    ]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("gdb not found at /nonexistent/gdb"));
}

#[test]
fn not_executable() {
    let d = scratch("noexec");
    let f = d.join("hello");
    std::fs::write(&f, std::fs::read(go_hello(false)).unwrap()).unwrap();
    let out = gdbx(["break-bootstrap".as_ref(), f.as_os_str()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not executable"), "{}", stderr(&out));
    tour_fails(&f, "not executable (chmod +x it)");
}

#[test]
fn program_that_cannot_start_is_status_3() {
    gdbx_tests::require_gdb!();
    // A PIE whose ELF interpreter does not exist: the kernel refuses to exec it.
    use std::os::unix::fs::PermissionsExt;
    let d = scratch("badinterp");
    let f = d.join("hello");
    let mut bytes = std::fs::read(go_hello(true)).unwrap();
    let interp = b"/lib64/ld-linux-x86-64.so.2";
    let at = bytes
        .windows(interp.len())
        .position(|w| w == interp)
        .expect("PT_INTERP string");
    bytes[at..at + interp.len()].copy_from_slice(b"/nonexist/ld-linux-x86-64.s");
    std::fs::write(&f, &bytes).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    let doc = bootstrap_json(&f, &[], 3);
    let problems = doc["verdict"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["kind"], "gdb");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("gdb could not start the program"),
        "{problems:?}"
    );
}
