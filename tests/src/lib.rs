//! Fixtures for gdbx's tests: real binaries, built once per test process.
//!
//! - [`example_bin`]: a program from the `examples` package, built by a
//!   nested `cargo build -p examples --bin NAME [--release] --target-dir
//!   <workspace>/target/fixtures` (its own target directory, so it never waits
//!   for the outer `cargo test`'s lock). Each (program, variant) is built once
//!   per process; cargo's own lock serialises concurrent test processes.
//! - [`go_hello`]: Go's hello world, `go build -gcflags "-N -l"`
//!   (optionally `-buildmode=pie`) into `target/fixtures/go`; `go` is found on
//!   PATH or at `/usr/lib/go-1.19/bin/go` (Debian's golang-1.19-go).
//! - [`scratch`]: a fresh per-test directory for derived files (stripped,
//!   truncated, compressed copies).
//!
//! - [`gdb`]: the one gdb test harness (batch runs, BEGIN/END blocks,
//!   breakpoint hits, the extension, a watchdog on every run).
//! - [`watchdog`]: run any child so that a stuck one fails its test.
//! - [`golden`]: golden files and their one normaliser.
//!
//! Builds that fail panic with the tool's output: a test that needs a
//! fixture cannot silently pass without it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

pub mod gdb;
pub mod golden;
pub mod watchdog;

/// `gdbx_tests::require_gdb!();` as the first line of every test that needs
/// gdb (directly or through `gdbx`): the test returns early, passing, only
/// when gdb is missing and `GDBX_SKIP_GDB_TESTS=1` is set; a missing gdb
/// fails it otherwise. See [`gdb::require`].
#[macro_export]
macro_rules! require_gdb {
    () => {
        if !$crate::gdb::require() {
            return;
        }
    };
}

/// How long a nested `cargo build` or `go build` of a fixture may take (a
/// cold build on a loaded 2-core machine) before its watchdog kills it.
pub(crate) const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The 1-based number of the one line of `source` that contains `needle`
/// (a test names a place in a program by its text, so that editing the
/// program does not silently move it).
pub fn line_of(source: &str, needle: &str) -> u32 {
    let found: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{needle:?} must be on one line of the source"
    );
    found[0] as u32
}

/// `<workspace>/target/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("target").join("fixtures")
}

/// How an example program is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `cargo build` (the workspace's dev profile: no optimisation, full debug info).
    Debug,
    /// `cargo build --release` (optimised, symbols and debug info kept).
    Release,
    /// The dev profile with `-C dwarf-version=5` (in `target/fixtures/dwarf5`).
    Dwarf5,
    /// The dev profile re-linked as a PIE (in `target/fixtures/pie`): the
    /// examples' build.rs asks for `-no-pie`, so a linker wrapper drops it
    /// and links with `-pie` (rustc's objects are position independent).
    Pie,
}

/// (program, variant) -> the built binary or cargo's error output.
type Built = ((String, Variant), Result<PathBuf, String>);

static BUILDS: Mutex<Vec<Built>> = Mutex::new(Vec::new());

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Builds the example program `name` for `variant` (once per process) and
/// returns its path. Panics with cargo's output when the build fails.
pub fn example_bin(name: &str, variant: Variant) -> PathBuf {
    let mut builds = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    let key = (name.to_string(), variant);
    let result = match builds.iter().find(|(k, _)| *k == key) {
        Some((_, r)) => r.clone(),
        None => {
            let r = build_example(name, variant);
            builds.push((key, r.clone()));
            r
        }
    };
    match result {
        Ok(bin) => bin,
        Err(e) => panic!("building examples/{name} ({variant:?}) failed:\n{e}"),
    }
}

fn build_example(name: &str, variant: Variant) -> Result<PathBuf, String> {
    let ws = workspace_root();
    let (target, profile_dir) = match variant {
        Variant::Debug => (fixtures_dir(), "debug"),
        Variant::Release => (fixtures_dir(), "release"),
        Variant::Dwarf5 => (fixtures_dir().join("dwarf5"), "debug"),
        Variant::Pie => (fixtures_dir().join("pie"), "debug"),
    };
    let mut cmd = Command::new(cargo());
    cmd.current_dir(&ws)
        .args([
            "build",
            "-q",
            "-p",
            "examples",
            "--bin",
            name,
            "--target-dir",
        ])
        .arg(&target);
    if variant == Variant::Release {
        cmd.arg("--release");
    }
    // The outer build's variables must not leak into the nested one.
    cmd.env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    // RUSTFLAGS replaces .cargo/config.toml's rustflags: repeat them.
    match variant {
        Variant::Dwarf5 => {
            cmd.env(
                "RUSTFLAGS",
                "-C force-frame-pointers=yes -C dwarf-version=5",
            );
        }
        Variant::Pie => {
            let linker = pie_linker()?;
            cmd.env(
                "RUSTFLAGS",
                format!("-C force-frame-pointers=yes -C linker={}", linker.display()),
            );
        }
        Variant::Debug | Variant::Release => {}
    }
    let out = watchdog::output(&mut cmd, BUILD_TIMEOUT);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let bin = target.join(profile_dir).join(name);
    if !bin.is_file() {
        return Err(format!("{} was not built", bin.display()));
    }
    Ok(bin)
}

/// Writes `target/fixtures/pie-cc`: `cc` without `-no-pie`, with `-pie`.
fn pie_linker() -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let path = fixtures_dir().join("pie-cc");
    let script = "#!/bin/sh\n# Link as a PIE: drop -no-pie, add -pie.\nfor a in \"$@\"; do\n  shift\n  [ \"$a\" = \"-no-pie\" ] || set -- \"$@\" \"$a\"\ndone\nexec cc -pie \"$@\"\n";
    std::fs::create_dir_all(fixtures_dir()).map_err(|e| e.to_string())?;
    write_if_changed(&path, script);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    Ok(path)
}

/// The `go` tool: `go` on PATH, else Debian's `/usr/lib/go-1.19/bin/go`.
pub fn go_tool() -> Option<PathBuf> {
    if let Some(paths) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&paths) {
            let p = d.join("go");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let debian = PathBuf::from("/usr/lib/go-1.19/bin/go");
    debian.is_file().then_some(debian)
}

/// Go's hello world, the program of the walkthrough of how a Go program
/// boots under gdb.
pub const GO_HELLO: &str =
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello world!\")\n}\n";

/// A hello world that calls into C, so that the go tool links it with the
/// system linker (`-linkmode external` is then the default); it prints
/// `hello world! 3`.
pub const GO_CGO_HELLO: &str = "package main\n\n// #include <stdlib.h>\nimport \"C\"\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello world!\", C.abs(-3))\n}\n";

static GO_BUILDS: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());

/// Go's hello world built with `go build -gcflags "-N -l"`
/// (`pie`: `-buildmode=pie`).
pub fn go_hello(pie: bool) -> PathBuf {
    go_program(if pie { "hello-pie" } else { "hello" }, GO_HELLO, pie)
}

/// Builds the Go program `source` (package main, one file) as
/// `target/fixtures/go/<name>` with `go build -gcflags "-N -l"`
/// (`pie`: `-buildmode=pie`), once per process. Panics when Go is missing
/// or the build fails (.ci/run installs golang-1.19-go).
pub fn go_program(name: &str, source: &str, pie: bool) -> PathBuf {
    let mut flags = vec!["-gcflags", "-N -l"];
    if pie {
        flags.push("-buildmode=pie");
    }
    go_build(name, source, &flags)
}

/// Builds the Go program `source` (package main, one file, module `hello`)
/// as `target/fixtures/go/<name>` with `go build FLAGS`, once per process:
/// the build matrix (`-race`, cgo with `-linkmode external`, `-trimpath`,
/// ...). Panics as [`go_program`] does.
pub fn go_build(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    build_go(name, source, GoLayout::Module, flags)
}

/// The walkthrough's own recipe, to the letter: `helloworld_gdb.go` alone
/// in a directory, `go build -gcflags "-N -l" helloworld_gdb.go` (a file
/// outside any module, not a package).
pub fn go_seed_hello() -> PathBuf {
    build_go(
        "helloworld_gdb",
        GO_HELLO,
        GoLayout::File,
        &["-gcflags", "-N -l"],
    )
}

/// How the sources of a Go fixture are laid out and named to `go build`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GoLayout {
    /// `go.mod` + `main.go`, built as `.`.
    Module,
    /// `<name>.go` without a module, built by its file name.
    File,
}

fn build_go(name: &str, source: &str, layout: GoLayout, flags: &[&str]) -> PathBuf {
    let mut built = GO_BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let go = go_tool()
        .expect("no Go toolchain: install golang-1.19-go (apt-get install golang-1.19-go)");
    let dir = fixtures_dir().join("go");
    let src = dir.join("src").join(name);
    std::fs::create_dir_all(&src).expect("create target/fixtures/go/src");
    let file = match layout {
        GoLayout::Module => {
            write_if_changed(&src.join("go.mod"), "module hello\n\ngo 1.19\n");
            "main.go".to_string()
        }
        GoLayout::File => format!("{name}.go"),
    };
    write_if_changed(&src.join(&file), source);
    // Build beside the final name, then rename: a process running the old
    // file is never disturbed.
    let out = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let mut cmd = Command::new(&go);
    cmd.current_dir(&src).arg("build").args(flags);
    cmd.arg("-o").arg(&tmp);
    match layout {
        GoLayout::Module => cmd.arg("."),
        GoLayout::File => cmd.arg(&file),
    };
    if std::env::var_os("HOME").is_none() && std::env::var_os("GOCACHE").is_none() {
        cmd.env("GOCACHE", dir.join("cache"));
    }
    let res = watchdog::output(&mut cmd, BUILD_TIMEOUT);
    assert!(
        res.status.success(),
        "go build {flags:?} failed:\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    put_go_build_in_place(&tmp, &out);
    built.push((name.to_string(), out.clone()));
    out
}

/// Moves the fresh Go build `tmp` to `out`, unless `out` already holds the
/// same bytes (Go's builds are reproducible): then `out` and its mtime stay,
/// and the cores written from it ([`cores::gcore_at`]) stay fresh instead
/// of being written again by every test process.
pub(crate) fn put_go_build_in_place(tmp: &Path, out: &Path) {
    let same = match (std::fs::read(tmp), std::fs::read(out)) {
        (Ok(new), Ok(old)) => new == old,
        _ => false,
    };
    if same {
        let _ = std::fs::remove_file(tmp);
    } else {
        std::fs::rename(tmp, out).expect("rename the Go fixture into place");
    }
}

pub(crate) fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).expect("write fixture source");
    }
}

/// A fresh, empty directory `target/fixtures/scratch/<name>-<pid>` for
/// files a test derives (stripped or truncated copies).
pub fn scratch(name: &str) -> PathBuf {
    let dir = fixtures_dir()
        .join("scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs a tool (objcopy, strip, ...) and panics with its stderr on failure.
pub fn run_tool(program: &str, args: &[&std::ffi::OsStr]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_has_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn scratch_dirs_are_fresh() {
        let d = scratch("selftest");
        std::fs::write(d.join("f"), "x").unwrap();
        let d2 = scratch("selftest");
        assert_eq!(d, d2);
        assert!(!d2.join("f").exists());
    }
}

pub mod cores;
