//! `gdbx`: watch a Go-style runtime boot under gdb.
//!
//! - `gdbx symbols BINARY` — resolve the bootstrap plan (symbols, post-prologue
//!   addresses, file:line) without starting gdb.
//! - `gdbx break-bootstrap [BINARY] [-- ARGS]` — run the program under gdb/MI
//!   with a breakpoint on every step and check they are hit in order.
//! - `gdbx tour [BINARY] [-- ARGS]` — stop at each bootstrap step in turn
//!   and say what it did, with values read from the process (`--lang zh`:
//!   in Chinese; `--format json`: one document).
//! - `gdbx gdb [GDB-ARGS...] [BINARY [CORE]]` (or `--args BINARY ARGS...`) —
//!   gdb with the project's extension loaded, every argument passed through.
//!
//! - `gdbx goroutines PID | BINARY CORE` — every goroutine with its stack in
//!   Go's traceback format, without gdb (its own exit statuses: see
//!   `gdbx goroutines --help`).
//!
//! Exit status: 0 in order (or success), 1 a step missing or out of order,
//! 2 bad usage or an unreadable binary, 3 gdb or the program failed (no gdb,
//! gdb error, death by a signal, timeout, non-zero exit status), 130
//! interrupted by Ctrl-C.

mod gdb;
mod goroutines;
mod interactive;
mod interrupt;
mod mi;
mod outcome;
mod pty;
mod report;
mod run;
mod runtime_thread;
mod tour;
mod verdict;

use clap::{Parser, Subcommand, ValueEnum};
use debuginfo::Binary;
use debuginfo::plan::{Plan, PlanKind, Resolution, resolve};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The workspace this gdbx was built in (for the bundled hello and python/).
pub const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[derive(Parser)]
#[command(
    name = "gdbx",
    version,
    about = "Place the runtime's bootstrap breakpoints under gdb and check they are hit in order",
    after_help = "Exit status: 0 all required steps hit in order; 1 a step missing or out of order; \
2 bad usage or an unreadable binary; 3 gdb or the program failed (no gdb, death by a signal, timeout, \
non-zero exit); 130 interrupted by Ctrl-C."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum PlanArg {
    /// Programs on the gdbx runtime.
    Ours,
    /// Go 1.19's bootstrap.
    Go,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SymbolsFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum RunFormat {
    Text,
    Json,
    Junit,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the bootstrap plan resolved against BINARY (no gdb).
    Symbols {
        /// The ELF binary.
        binary: PathBuf,
        /// Force a plan instead of detecting it.
        #[arg(long, value_enum)]
        plan: Option<PlanArg>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: SymbolsFormat,
    },
    /// Run BINARY under gdb with a breakpoint on every bootstrap step; check the order.
    BreakBootstrap {
        /// The program (default: the workspace's bundled hello, built if needed).
        binary: Option<PathBuf>,
        /// Force a plan instead of detecting it.
        #[arg(long, value_enum)]
        plan: Option<PlanArg>,
        /// Output format (JSON and JUnit go to stdout; the program's output then goes to stderr).
        #[arg(long, value_enum, default_value = "text")]
        format: RunFormat,
        /// Kill the program after this many seconds.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        timeout: u64,
        /// The gdb to run.
        #[arg(long, env = "GDBX_GDB", value_name = "PATH")]
        gdb: Option<PathBuf>,
        /// Write the program's output to FILE instead of the terminal.
        #[arg(long, value_name = "FILE")]
        program_output: Option<PathBuf>,
        /// Arguments for the program.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Every goroutine of a live process (PID) or of a core (BINARY CORE), with its stack in Go's traceback format; no gdb.
    #[command(after_help = goroutines::EXIT_HELP)]
    Goroutines(goroutines::Args),
    /// Stop at each bootstrap step of BINARY in turn and say what it did, with values read from the process.
    Tour {
        /// The program (default: the workspace's bundled hello, built if needed).
        binary: Option<PathBuf>,
        /// The tour's language.
        #[arg(long, value_enum, default_value = "en")]
        lang: tour::Lang,
        /// Output format (JSON goes to stdout; the program's output then goes to stderr).
        #[arg(long, value_enum, default_value = "text")]
        format: SymbolsFormat,
        /// At each stop, a gdb prompt: run gdb commands, Enter goes on to the next step.
        #[arg(long)]
        step: bool,
        /// Kill the program after this many seconds (not counting time at the --step prompt).
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        timeout: u64,
        /// The gdb to run.
        #[arg(long, env = "GDBX_GDB", value_name = "PATH")]
        gdb: Option<PathBuf>,
        /// Arguments for the program.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run gdb with the gdbx extension loaded: `gdbx gdb [GDB-ARGS...] [BINARY [CORE]]`
    /// or `gdbx gdb [GDB-ARGS...] --args BINARY ARGS...` (every argument goes to gdb).
    #[command(
        override_usage = "gdbx gdb [--gdb PATH] [GDB-ARGS...] [BINARY [CORE]]\n       \
                          gdbx gdb [--gdb PATH] [GDB-ARGS...] --args BINARY ARGS..."
    )]
    Gdb {
        /// The gdb to run (only before gdb's own arguments).
        #[arg(long, env = "GDBX_GDB", value_name = "PATH")]
        gdb: Option<PathBuf>,
        /// gdb's arguments, passed through unchanged.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "GDB-ARGS"
        )]
        args: Vec<String>,
    },
}

/// A failure with its exit status and one-line message.
struct Fail(u8, String);

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        eprintln!("gdbx: internal error: {msg}{at} (a bug in gdbx; please report it)");
        std::process::exit(3);
    }));
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Symbols {
            binary,
            plan,
            format,
        } => symbols(&binary, plan, format),
        Cmd::BreakBootstrap {
            binary,
            plan,
            format,
            timeout,
            gdb,
            program_output,
            args,
        } => break_bootstrap(binary, plan, format, timeout, gdb, program_output, args),
        Cmd::Goroutines(a) => goroutines::run(a),
        Cmd::Tour {
            binary,
            lang,
            format,
            step,
            timeout,
            gdb,
            args,
        } => tour(binary, lang, format, step, timeout, gdb, args),
        Cmd::Gdb { gdb, args } => interactive::exec_gdb(gdb, &args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, msg)) => {
            eprintln!("gdbx: {msg}");
            ExitCode::from(code)
        }
    }
}

/// Opens the binary and resolves the plan: detected, or forced by `--plan`.
fn load(binary: &Path, plan: Option<PlanArg>) -> Result<(Binary, Resolution), Fail> {
    let bin = Binary::open(binary).map_err(|e| Fail(2, e.to_string()))?;
    let plan = match plan {
        Some(PlanArg::Ours) => Plan::of(PlanKind::Ours),
        Some(PlanArg::Go) => Plan::go_for(&bin),
        None => Plan::for_binary(&bin).ok_or_else(|| {
            Fail(
                2,
                format!(
                    "{}: {} (no runtime.schedinit/main.main, no Go build info); choose a plan with --plan ours|go",
                    binary.display(),
                    bin.flavor().describe()
                ),
            )
        })?,
    };
    let res = resolve(&bin, &plan);
    for w in &res.warnings {
        eprintln!("gdbx: warning: {w}");
    }
    Ok((bin, res))
}

fn symbols(binary: &Path, plan: Option<PlanArg>, format: SymbolsFormat) -> Result<u8, Fail> {
    let (_, res) = load(binary, plan)?;
    match format {
        SymbolsFormat::Text => print!("{}", report::plan_table(&res, report::Style::detect())),
        SymbolsFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&res).expect("serialisable")
        ),
    }
    Ok(0)
}

/// Finds gdb: `--gdb`/`GDBX_GDB`, else `gdb` on PATH.
pub(crate) fn find_gdb(gdb: Option<PathBuf>) -> Result<PathBuf, Fail> {
    if let Some(g) = gdb {
        if g.components().count() > 1 {
            return if g.is_file() {
                Ok(g)
            } else {
                Err(Fail(3, format!("gdb not found at {}", g.display())))
            };
        }
        return which(&g.to_string_lossy())
            .ok_or_else(|| Fail(3, format!("{} not found on PATH", g.display())));
    }
    which("gdb").ok_or_else(|| {
        Fail(
            3,
            "gdb not found on PATH; install it with `apt-get install gdb`".into(),
        )
    })
}

fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The bundled hello: `cargo build -p examples --bin hello` in the workspace
/// this gdbx was built from (cargo does nothing when it is up to date).
fn bundled_hello() -> Result<PathBuf, Fail> {
    let ws = Path::new(WORKSPACE);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("gdbx: building the bundled hello (cargo build -p examples --bin hello)");
    let status = std::process::Command::new(&cargo)
        .args(["build", "-q", "-p", "examples", "--bin", "hello"])
        .current_dir(ws)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            Fail(
                2,
                format!("cannot run cargo to build the bundled hello: {e}"),
            )
        })?;
    if !status.success() {
        return Err(Fail(
            2,
            "building the bundled hello failed (see cargo's output above)".into(),
        ));
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| ws.join("target"), PathBuf::from);
    Ok(target.join("debug").join("hello"))
}

/// The checks before a run (break-bootstrap's and the tour's): a timeout
/// of at least a second, the binary (the bundled hello by default) opened
/// and its plan resolved, and executable.
fn prepare(
    binary: Option<PathBuf>,
    plan: Option<PlanArg>,
    timeout: u64,
) -> Result<(PathBuf, Binary, Resolution), Fail> {
    if timeout == 0 {
        return Err(Fail(2, "--timeout must be at least 1 second".into()));
    }
    let binary = match binary {
        Some(b) => b,
        None => bundled_hello()?,
    };
    let (bin, res) = load(&binary, plan)?;
    // Without any of the runtime's functions the run could only fail.
    if !res
        .steps
        .iter()
        .any(|s| s.present && s.name.starts_with("runtime."))
    {
        return Err(Fail(
            2,
            format!(
                "{}: none of the {} plan's runtime steps is in the binary ({}); there is nothing to break on",
                binary.display(),
                res.plan.as_str(),
                res.flavor.describe()
            ),
        ));
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&binary)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o111 == 0 {
            return Err(Fail(
                2,
                format!("{}: not executable (chmod +x it)", binary.display()),
            ));
        }
    }
    Ok((binary, bin, res))
}

fn break_bootstrap(
    binary: Option<PathBuf>,
    plan: Option<PlanArg>,
    format: RunFormat,
    timeout: u64,
    gdb: Option<PathBuf>,
    program_output: Option<PathBuf>,
    args: Vec<String>,
) -> Result<u8, Fail> {
    let (binary, bin, res) = prepare(binary, plan, timeout)?;
    let gdb = find_gdb(gdb)?;
    let style = report::Style::detect();
    let sink = match (&program_output, format) {
        (Some(path), _) => pty::Sink::File(
            std::fs::File::create(path)
                .map_err(|e| Fail(2, format!("{}: cannot create: {e}", path.display())))?,
        ),
        (None, RunFormat::Text) => pty::Sink::Stdout,
        (None, _) => pty::Sink::Stderr,
    };
    if format == RunFormat::Text {
        print!("{}", report::plan_table(&res, style));
        // The program's output follows here, unless it goes to a file.
        if program_output.is_none() {
            println!("\n{}", style.bold("program output:"));
        }
    }
    let opts = run::RunOptions {
        binary: binary.clone(),
        args,
        gdb,
        timeout: Duration::from_secs(timeout),
    };
    let outcome = run::run(&res, &opts, sink, || inspect::Program::from_binary(bin, ""));
    let verdict = verdict::judge(&res, &outcome);
    match format {
        RunFormat::Text => {
            println!();
            print!(
                "{}",
                report::hits_and_verdict(&res, &outcome, &verdict, style)
            );
        }
        RunFormat::Json => println!("{}", report::json(&res, &outcome, &verdict)),
        RunFormat::Junit => print!("{}", report::junit(&res, &outcome, &verdict)),
    }
    if let Some(e) = &outcome.gdb_error {
        eprintln!("gdbx: {e}");
    }
    Ok(verdict.status as u8)
}

fn tour(
    binary: Option<PathBuf>,
    lang: tour::Lang,
    format: SymbolsFormat,
    step: bool,
    timeout: u64,
    gdb: Option<PathBuf>,
    args: Vec<String>,
) -> Result<u8, Fail> {
    // The tour reads a runtime: ours or Go 1.19, with its types in DWARF
    // (no plan can be forced on another program). What cannot be opened
    // at all is said by `prepare`, as for break-bootstrap.
    if let Some(b) = &binary
        && let Ok(bin) = Binary::open(b)
    {
        let fail = |why: String| Fail(2, format!("{}: {why}", b.display()));
        if *bin.flavor() == debuginfo::Flavor::Other {
            return Err(fail(format!(
                "{}: the tour reads programs on the gdbx runtime and Go 1.19 binaries",
                bin.flavor().describe()
            )));
        }
        inspect::Flavour::detect(&bin).map_err(fail)?;
        if !bin.has_dwarf() {
            return Err(fail(
                "no DWARF debug info: the tour reads the runtime's types from it; build without stripping (Go: without -ldflags=-w or -s)".into(),
            ));
        }
    }
    if step && format != SymbolsFormat::Text {
        return Err(Fail(
            2,
            "--step needs the text tour (the prompt and JSON cannot share stdout); drop --format json".into(),
        ));
    }
    let (binary, bin, res) = prepare(binary, None, timeout)?;
    let gdb = find_gdb(gdb)?;
    let text = format == SymbolsFormat::Text;
    if text {
        print!("{}", tour::heading(&res, lang));
    }
    let opts = run::RunOptions {
        binary,
        args,
        gdb,
        timeout: Duration::from_secs(timeout),
    };
    let sink = if text {
        pty::Sink::Stdout
    } else {
        pty::Sink::Stderr
    };
    let open = || inspect::Program::from_binary(bin, "");
    let run = tour::run(&res, open, &opts, sink, lang, text, step).map_err(|e| Fail(2, e))?;
    let verdict = verdict::judge(&res, &run.outcome);
    if text {
        print!("{}", tour::ending(&run, &verdict, lang));
    } else {
        println!("{}", tour::json(&res, &run, &verdict, lang));
    }
    if let Some(e) = &run.outcome.gdb_error {
        eprintln!("gdbx: {e}");
    }
    Ok(verdict.status as u8)
}
