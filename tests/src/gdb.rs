//! The one way tests drive gdb: in batch mode, output cut into named blocks,
//! under a watchdog. Modelled on Go's runtime-gdb_test.go.
//!
//! ```no_run
//! use gdbx_tests::gdb::{self, Gdb};
//! use gdbx_tests::{Variant, example_bin};
//!
//! # fn t() {
//! gdbx_tests::require_gdb!(); // returns only when GDBX_SKIP_GDB_TESTS=1 and gdb is missing
//! let out = Gdb::new(example_bin("parked", Variant::Debug))
//!     .extension()                        // load python/gdbx + the native module
//!     .env("GOMAXPROCS", "2")
//!     .hits(&["runtime.main"])            // `HIT runtime.main <thread>` at each hit
//!     .ex("break main.ready")
//!     .ex("run 20")
//!     .block("goroutines", &["info goroutines"])
//!     .block("bt", &["bt"])
//!     .run();
//! out.assert_no_python_errors();
//! assert!(out.block("goroutines").contains("chan receive"));
//! assert_eq!(out.hits()[0].symbol, "runtime.main");
//! # }
//! ```
//!
//! - **Commands** run in the order they are added. [`Gdb::ex`] is one gdb
//!   command (`-ex`); an error in it does not stop the ones after it.
//!   [`Gdb::script`] is a multi-line piece (breakpoint `commands ... end`,
//!   `while`), written to a file and sourced (`-x`) at that point.
//! - **Blocks**: [`Gdb::block`] wraps its commands' output in `echo BEGIN
//!   name` / `echo END` markers; [`GdbOutput::block`] returns it (and panics
//!   with gdb's whole output when the block is missing).
//! - **Hits**: [`Gdb::hits`] breaks on each symbol and prints `HIT <symbol>
//!   <gdb thread number>` at every hit, then continues;
//!   [`GdbOutput::hits`] parses them in order.
//! - **The extension**: [`Gdb::extension`] builds the native module once per
//!   test process (`cargo build -p gdb-ext` into target/fixtures), passes it
//!   in `GDBX_EXT_PATH`, sources `python/gdbx-gdb.py` (what `gdbx gdb` and a
//!   plain-gdb user's `~/.gdbinit` do: it loads the extension for Go
//!   programs and ours) and trusts the program's folder, so gdb also runs
//!   our programs' `.debug_gdb_scripts` entry.
//! - **The watchdog**: every run is killed (gdb and its inferior) after
//!   [`DEFAULT_TIMEOUT`], or `$GDBX_GDB_TIMEOUT` seconds, or
//!   [`Gdb::timeout`]; the test then fails with gdb's output so far.
//! - **gdb missing**: every test that needs gdb (directly or through
//!   `gdbx`) starts with `gdbx_tests::require_gdb!();`. Without gdb this
//!   fails the test, naming the package to install, unless
//!   `GDBX_SKIP_GDB_TESTS=1` is set: then the test prints `SKIPPED` and
//!   passes. CI never sets it.
//!
//! gdb runs with `-batch -nx`, pagination off and unlimited width, stdin
//! closed; stdout and stderr (gdb's and the inferior's) go to one log, in
//! the order they were written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{fixtures_dir, scratch, watchdog, workspace_root};

/// How long one gdb run may take before the watchdog kills it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The opt-out: set to `1` to skip (rather than fail) the tests that need
/// gdb on a machine without it.
pub const SKIP_ENV: &str = "GDBX_SKIP_GDB_TESTS";

/// Whether gdb can be run (`gdb --version` succeeds), asked once.
pub fn available() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        Command::new("gdb")
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// For the start of every test that needs gdb (directly or through
/// `gdbx`): true when gdb is installed; false, after printing `SKIPPED`,
/// when it is not and `GDBX_SKIP_GDB_TESTS=1` is set. Panics otherwise: a
/// machine without gdb does not pass the suite by accident.
#[track_caller]
pub fn require() -> bool {
    if available() {
        return true;
    }
    let caller = std::panic::Location::caller();
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED ({caller}): gdb is not installed and {SKIP_ENV}=1");
        return false;
    }
    panic!(
        "gdb is not installed: apt-get install gdb (or set {SKIP_ENV}=1 to skip the tests that need it)"
    );
}

/// The native module of the gdb extension, built once per test process
/// into target/fixtures (its own target directory: the nested build never
/// waits for the outer `cargo test`'s lock).
pub fn ext_module() -> &'static Path {
    static EXT: OnceLock<PathBuf> = OnceLock::new();
    EXT.get_or_init(|| {
        let target = fixtures_dir();
        let out = watchdog::output(
            Command::new(crate::cargo())
                .current_dir(workspace_root())
                .args(["build", "-q", "-p", "gdb-ext", "--target-dir"])
                .arg(&target)
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS"),
            crate::BUILD_TIMEOUT,
        );
        assert!(
            out.status.success(),
            "cargo build -p gdb-ext failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let so = target.join("debug").join("libgdbx_ext.so");
        assert!(so.is_file(), "{} was not built", so.display());
        so
    })
}

enum Step {
    /// One command, passed as `-ex`.
    Ex(String),
    /// A multi-line script, written to a file and passed as `-x`.
    Source(String),
}

/// One gdb batch run, built up command by command.
pub struct Gdb {
    program: PathBuf,
    program_args: Vec<String>,
    core: Option<PathBuf>,
    env: Vec<(String, String)>,
    init: Vec<String>,
    steps: Vec<Step>,
    cwd: Option<PathBuf>,
    core_dumps: bool,
    timeout: Duration,
}

impl Gdb {
    /// gdb on `program` (not started: add `run`, or [`Gdb::core`]).
    pub fn new(program: impl AsRef<Path>) -> Gdb {
        let timeout = std::env::var("GDBX_GDB_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TIMEOUT);
        Gdb {
            program: program.as_ref().to_path_buf(),
            program_args: Vec::new(),
            core: None,
            env: Vec::new(),
            init: vec!["set pagination off".into(), "set width 0".into()],
            steps: Vec::new(),
            cwd: None,
            core_dumps: false,
            timeout,
        }
    }

    /// The program's arguments (`gdb --args PROGRAM ARGS...`), for a plain
    /// `run`.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, args: I) -> &mut Self {
        self.program_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Examine this core file of the program instead of running it.
    pub fn core(&mut self, core: impl AsRef<Path>) -> &mut Self {
        self.core = Some(core.as_ref().to_path_buf());
        self
    }

    /// An environment variable for gdb and so for the program (a later
    /// value for the same name wins).
    pub fn env(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Run gdb (and so the program) in `dir`.
    pub fn cwd(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Run gdb under `ulimit -c unlimited`, so a crash of the program
    /// leaves a kernel core file (in [`Gdb::cwd`], with core_pattern `core`).
    pub fn core_dumps(&mut self) -> &mut Self {
        self.core_dumps = true;
        self
    }

    /// Load the gdb extension (see the module documentation). A program
    /// that does not carry the extension's auto-load entry (a Go binary)
    /// gets it by hand, first of the commands: python/gdbx on `sys.path`,
    /// then `gdbx.load()`.
    pub fn extension(&mut self) -> &mut Self {
        let trusted = self.program.parent().unwrap_or(Path::new("/nonexistent"));
        self.init
            .push(format!("add-auto-load-safe-path {}", trusted.display()));
        // The line a plain-gdb user adds: it loads the extension for Go
        // programs too (ours also load it from their `.debug_gdb_scripts`).
        self.init.push(format!(
            "source {}",
            workspace_root()
                .join("python")
                .join("gdbx-gdb.py")
                .display()
        ));
        self.env("GDBX_EXT_PATH", ext_module().display().to_string())
    }

    /// One command run before the program is loaded (`-iex`), after those
    /// of [`Gdb::extension`] when that came first.
    pub fn init(&mut self, command: impl Into<String>) -> &mut Self {
        self.init.push(command.into());
        self
    }

    /// Replace the watchdog's limit for this run.
    pub fn timeout(&mut self, limit: Duration) -> &mut Self {
        self.timeout = limit;
        self
    }

    /// One gdb command.
    pub fn ex(&mut self, command: impl Into<String>) -> &mut Self {
        self.steps.push(Step::Ex(command.into()));
        self
    }

    /// A multi-line gdb script, sourced at this point (an error stops the
    /// rest of this script, not the run).
    pub fn script(&mut self, text: impl Into<String>) -> &mut Self {
        self.steps.push(Step::Source(text.into()));
        self
    }

    /// A breakpoint on each of `symbols` that prints `HIT <symbol> <gdb
    /// thread number>` at every hit and continues (no pending breakpoints:
    /// a missing symbol is an error in gdb's output).
    pub fn hits(&mut self, symbols: &[&str]) -> &mut Self {
        let mut s = String::from("set confirm off\nset breakpoint pending off\n");
        for sym in symbols {
            s.push_str(&format!(
                "break {sym}\ncommands\nsilent\nprintf \"HIT {sym} %d\\n\", $_thread\ncontinue\nend\n"
            ));
        }
        self.script(s)
    }

    /// `commands`, their output between `BEGIN name` and `END`.
    pub fn block(&mut self, name: &str, commands: &[&str]) -> &mut Self {
        self.ex(format!("echo BEGIN {name}\\n"));
        for c in commands {
            self.ex(*c);
        }
        self.ex("echo END\\n")
    }

    /// Runs gdb to the end and panics, with its output, unless it exited
    /// with status 0 (in batch mode: its last command succeeded). The
    /// watchdog killing it fails the test with gdb's output so far.
    pub fn run(&self) -> GdbOutput {
        let out = self.run_unchecked();
        assert!(
            out.status.success(),
            "gdb failed ({}):\n{}",
            out.status,
            out.all
        );
        out
    }

    /// As [`Gdb::run`], whatever gdb's exit status.
    pub fn run_unchecked(&self) -> GdbOutput {
        // A directory per run: tests run in parallel threads and processes.
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let name = self
            .program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = scratch(&format!(
            "gdb-{name}-{}",
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let log = dir.join("gdb.log");
        let file = std::fs::File::create(&log).expect("create the gdb log");

        let mut cmd = if self.core_dumps {
            let mut c = Command::new("sh");
            c.args(["-c", "ulimit -c unlimited && exec \"$0\" \"$@\"", "gdb"]);
            c
        } else {
            Command::new("gdb")
        };
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        cmd.args(["-batch", "-nx"]);
        for c in &self.init {
            cmd.arg("-iex").arg(c);
        }
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Ex(c) => {
                    cmd.arg("-ex").arg(c);
                }
                Step::Source(text) => {
                    let path = dir.join(format!("script{i}.gdb"));
                    std::fs::write(&path, text).expect("write a gdb script");
                    cmd.arg("-x").arg(path);
                }
            }
        }
        if let Some(core) = &self.core {
            cmd.arg(&self.program).arg(core);
        } else {
            cmd.arg("--args")
                .arg(&self.program)
                .args(&self.program_args);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        // One file for stdout and stderr keeps their order.
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup the gdb log"))
            .stderr(file);
        if !available() {
            panic!(
                "gdb is not installed: apt-get install gdb (tests that need gdb start with gdbx_tests::require_gdb!())"
            );
        }
        let (status, killed) = watchdog::status(&mut cmd, self.timeout);
        let all = std::fs::read_to_string(&log).unwrap_or_default();
        if killed {
            panic!(
                "gdb did not finish within {} s and was killed by the test watchdog \
                 (GDBX_GDB_TIMEOUT=SECS raises the limit); its output so far ({}):\n{all}",
                self.timeout.as_secs(),
                log.display()
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
        GdbOutput {
            blocks: parse_blocks(&all),
            all,
            status,
        }
    }
}

/// What one gdb run printed.
pub struct GdbOutput {
    /// gdb's stdout and stderr (and the program's), interleaved as written.
    pub all: String,
    /// gdb's exit status (in batch mode: that of its last command).
    pub status: ExitStatus,
    blocks: HashMap<String, String>,
}

/// One `HIT <symbol> <thread>` line of [`Gdb::hits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The symbol whose breakpoint was hit.
    pub symbol: String,
    /// gdb's thread number (1 is the main thread).
    pub thread: u32,
}

impl GdbOutput {
    /// The output of block `name`; panics with gdb's whole output when
    /// there is no such block.
    pub fn block(&self, name: &str) -> &str {
        match self.blocks.get(name) {
            Some(b) => b,
            None => panic!("no block {name} in gdb's output:\n{}", self.all),
        }
    }

    /// The breakpoint hits of [`Gdb::hits`], in order.
    pub fn hits(&self) -> Vec<Hit> {
        self.all
            .lines()
            .filter_map(|l| l.strip_prefix("HIT "))
            .filter_map(|l| {
                let (s, t) = l.split_once(' ')?;
                Some(Hit {
                    symbol: s.to_string(),
                    thread: t.trim().parse().ok()?,
                })
            })
            .collect()
    }

    /// Panics (with the output) if a Python traceback or exception reached
    /// gdb's output.
    pub fn assert_no_python_errors(&self) -> &Self {
        for bad in ["Traceback", "Python Exception", "Error occurred in Python"] {
            assert!(
                !self.all.contains(bad),
                "{bad} in gdb's output:\n{}",
                self.all
            );
        }
        self
    }
}

/// `BEGIN name\n...END\n` pieces of `all`, by name.
fn parse_blocks(all: &str) -> HashMap<String, String> {
    let mut blocks = HashMap::new();
    let mut rest = all;
    while let Some(i) = rest.find("BEGIN ") {
        let after = &rest[i + 6..];
        let nl = after.find('\n').unwrap_or(after.len());
        let name = after[..nl].to_string();
        let body = &after[(nl + 1).min(after.len())..];
        let end = body.find("END\n").unwrap_or(body.len());
        blocks.insert(name, body[..end].to_string());
        rest = &body[end..];
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_cut_at_their_markers() {
        let b = parse_blocks("noise\nBEGIN a\none\ntwo\nEND\nBEGIN b\nEND\ntail\n");
        assert_eq!(b["a"], "one\ntwo\n");
        assert_eq!(b["b"], "");
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn commands_blocks_and_scripts_run_in_order_under_the_watchdog() {
        crate::require_gdb!();
        let out = Gdb::new("/bin/true")
            .ex("echo one\\n")
            .script("set $x = 0\nwhile $x < 2\n  echo loop\\n\n  set $x = $x + 1\nend\n")
            .block(
                "b",
                &["echo inside\\n", "this-is-not-a-command", "echo after\\n"],
            )
            .run();
        // An error in one command does not stop the next.
        let b = out.block("b");
        assert!(
            b.starts_with("inside\n") && b.ends_with("after\n"),
            "{}",
            out.all
        );
        assert!(b.contains("this-is-not-a-command"), "{}", out.all);
        let one = out.all.find("one").unwrap();
        let lp = out.all.find("loop\nloop\n").unwrap();
        assert!(
            one < lp && lp < out.all.find("BEGIN b").unwrap(),
            "{}",
            out.all
        );
    }

    #[test]
    fn a_stuck_gdb_fails_its_test() {
        crate::require_gdb!();
        let r = std::panic::catch_unwind(|| {
            Gdb::new("/bin/sleep")
                .args(["1000"])
                .ex("run")
                .timeout(Duration::from_secs(2))
                .run()
        });
        let msg = r.err().expect("the watchdog fired");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("killed by the test watchdog"), "{msg}");
    }
}
