//! `gdbx gdb [GDB-ARGS...] [BINARY [CORE]]` and `gdbx gdb [GDB-ARGS...] --args
//! BINARY ARGS...`: gdb with the project's extension — a pass-through
//! wrapper, as rust-gdb is for Rust.
//!
//! Every argument goes to gdb unchanged, after a few `-iex` of our own:
//! `source <workspace>/python/gdbx-gdb.py` (the one line a plain-gdb user
//! puts in `~/.gdbinit`), which loads the extension for every Go 1.19
//! program and every program on the gdbx runtime that gdb opens, and rustc's
//! pretty printers for the latter.
//!
//! With no arguments it starts gdb with the extension, as rust-gdb does. A
//! binary gdb can run but the extension cannot read (a Go binary linked
//! with `-ldflags "-s -w"`, a C program) still starts gdb, after one line
//! saying why gdbx's commands will not be there ([`binary_note`]).
//!
//! Trust: the binary file itself gets `add-auto-load-safe-path` (so that
//! gdb runs its `.debug_gdb_scripts` entry rather than warning about it;
//! gdb matches a safe-path entry against the objfile's own name). Its
//! *directory* is not trusted: for a program in `/`, `/tmp` or `/usr/bin`
//! that would trust every script (and `.gdbinit`) there. gdbx never says
//! `set auto-load safe-path /`.

use crate::{Fail, WORKSPACE, find_gdb};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// gdb's options that take a value (short and long spellings; gdb accepts
/// one or two dashes and `--opt=value`).
const WITH_VALUE: &[&str] = &[
    "c",
    "core",
    "e",
    "exec",
    "p",
    "pid",
    "d",
    "directory",
    "se",
    "s",
    "symbols",
    "x",
    "command",
    "ix",
    "init-command",
    "ex",
    "eval-command",
    "iex",
    "init-eval-command",
    "eix",
    "early-init-command",
    "eiex",
    "early-init-eval-command",
    "i",
    "interpreter",
    "t",
    "tty",
    "b",
    "l",
    "cd",
    "D",
    "data-directory",
];

/// What gdb will open, read from its arguments as gdb reads them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Operands {
    /// The program (`BINARY`, `--args BINARY`, `-e`/`--exec`, `--se`).
    pub binary: Option<PathBuf>,
    /// The core file (`CORE` or `-c`/`--core`), or a PID as second operand.
    pub core: Option<PathBuf>,
}

/// Finds the program and core among gdb's arguments.
pub fn operands(args: &[String]) -> Operands {
    let mut ops = Operands::default();
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(opt) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            positional.push(a.clone());
            continue;
        };
        if opt.is_empty() {
            // `--`: the rest are operands.
            positional.extend(it.by_ref().cloned());
            break;
        }
        if opt == "args" {
            // `--args BINARY ARGS...`: the program's own arguments follow.
            if let Some(b) = it.next() {
                ops.binary.get_or_insert_with(|| PathBuf::from(b));
            }
            break;
        }
        let (name, inline) = match opt.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (opt, None),
        };
        if !WITH_VALUE.contains(&name) {
            continue;
        }
        let value = inline.or_else(|| it.next().cloned());
        match (name, value) {
            ("e" | "exec" | "se", Some(v)) => ops.binary = Some(PathBuf::from(v)),
            ("c" | "core", Some(v)) => ops.core = Some(PathBuf::from(v)),
            _ => {}
        }
    }
    let mut positional = positional.into_iter();
    if ops.binary.is_none() {
        ops.binary = positional.next().map(PathBuf::from);
    }
    if ops.core.is_none() {
        ops.core = positional.next().map(PathBuf::from);
    }
    ops
}

/// The workspace this gdbx was built in, made absolute where it can be
/// (gdb and the extension are handed paths inside it).
pub fn workspace() -> PathBuf {
    Path::new(WORKSPACE)
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(WORKSPACE))
}

/// The gdb command that loads the extension: `source` of the workspace's
/// `python/gdbx-gdb.py`, the one way in (`gdbx gdb`, `gdbx tour --step`,
/// the test harness, a plain-gdb user's `~/.gdbinit`). It loads the
/// extension for the program gdb has open and every Go 1.19 or
/// gdbx-runtime program it opens later, printing one line that says what
/// it loaded or why not.
pub fn load_extension(ws: &Path) -> String {
    format!("source {}", ws.join("python").join("gdbx-gdb.py").display())
}

/// Our `-iex` arguments, which go before the user's: trust `binary` (when
/// known) and source the loader.
pub fn our_args(binary: Option<&Path>, ws: &Path) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(b) = binary {
        let trusted = b.canonicalize().unwrap_or_else(|_| b.to_path_buf());
        args.push("-iex".to_string());
        args.push(format!("add-auto-load-safe-path {}", trusted.display()));
    }
    args.push("-iex".to_string());
    args.push(load_extension(ws));
    args
}

/// The newest `libgdbx_ext.so` under the workspace's target directory.
pub fn ext_module(ws: &Path) -> Option<PathBuf> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| ws.join("target"), PathBuf::from);
    ["debug", "release"]
        .iter()
        .map(|p| target.join(p).join("libgdbx_ext.so"))
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
}

/// What `gdbx gdb` says about the program before gdb starts: an error
/// (exit 2) for a file gdb cannot open at all (missing, a directory), one
/// line when gdb can run it but the extension cannot read it, where the
/// extension itself stays silent (it says nothing about programs it does
/// not recognise as Go's or the gdbx runtime's), nothing otherwise.
pub fn binary_note(binary: &Path) -> Result<Option<String>, Fail> {
    use debuginfo::Error;
    let bin = match debuginfo::Binary::open(binary) {
        Ok(bin) => bin,
        Err(e @ (Error::Io(..) | Error::IsDirectory(_))) => return Err(Fail(2, e.to_string())),
        Err(Error::GoNoSymbols {
            path,
            version,
            ldflags,
        }) => {
            let go = version.as_deref().unwrap_or("version unknown");
            let flag = |f: &str| {
                ldflags
                    .as_deref()
                    .is_some_and(|l| l.split_whitespace().any(|w| w.trim_matches('"') == f))
            };
            let line = match (flag("-s"), flag("-w"), ldflags.as_deref()) {
                (true, w, Some(flags)) => {
                    let (what, removed) = if w {
                        ("the symbol table and DWARF", "-s -w")
                    } else {
                        ("the symbol table", "-s")
                    };
                    format!(
                        "{}: a Go binary ({go}) linked with -ldflags={flags}: gdb runs it, but the goroutine commands need {what} that {removed} left out; rebuild it without {removed} (plain `go build`)",
                        path.display()
                    )
                }
                _ => format!(
                    "{}: a Go binary ({go}) stripped of its symbol table after the build (strip --strip-all?): gdb runs it, but the goroutine commands need the symbol table and DWARF; use the binary as `go build` wrote it",
                    path.display()
                ),
            };
            return Ok(Some(line));
        }
        // Not a program at all: gdb says so itself ("not in executable format").
        Err(Error::NotElf(_)) => return Ok(None),
        // gdb may still load it (another machine, no symbols); gdbx says
        // why its commands will not be there.
        Err(e) => return Ok(Some(format!("{e}; gdbx's commands are not installed"))),
    };
    if *bin.flavor() != debuginfo::Flavor::Other {
        // Ours or Go: the extension says what it loaded, or what is missing.
        return Ok(None);
    }
    let why = inspect::Flavour::detect(&bin).err().unwrap_or_default();
    Ok(Some(format!(
        "{}: {why}: gdbx's commands (info goroutines, goroutine, $g(), ...) are not installed",
        binary.display()
    )))
}

/// Replaces gdbx with gdb (returns only on failure).
pub fn exec_gdb(gdb: Option<PathBuf>, args: &[String]) -> Result<u8, Fail> {
    let ops = operands(args);
    // What gdb cannot open is refused (a clear error beats gdb's); what
    // gdb can run without the extension gets one line, then gdb.
    let note = match &ops.binary {
        Some(b) => binary_note(b)?,
        None => None,
    };
    if let Some(c) = &ops.core {
        // A second operand that is a number is a PID for gdb.
        let is_pid = c.to_str().is_some_and(|s| s.parse::<u32>().is_ok());
        if !is_pid && !c.is_file() {
            return Err(Fail(
                2,
                format!(
                    "{}: no such core file (usage: gdbx gdb [GDB-ARGS...] BINARY [CORE], or --args BINARY ARGS...)",
                    c.display()
                ),
            ));
        }
    }
    let gdb = find_gdb(gdb)?;
    if let Some(note) = note {
        eprintln!("gdbx: {note}");
    }
    let ws = workspace();
    let mut cmd = std::process::Command::new(&gdb);
    cmd.args(our_args(ops.binary.as_deref(), &ws))
        .args(args)
        .env("GDBX_WORKSPACE", &ws);
    // A module the user (or a test) names in GDBX_EXT_PATH wins over the
    // newest one found in the workspace's target folder.
    if std::env::var_os("GDBX_EXT_PATH").is_none()
        && let Some(ext) = ext_module(&ws)
    {
        cmd.env("GDBX_EXT_PATH", ext);
    }
    let err = cmd.exec();
    Err(Fail(3, format!("cannot run {}: {err}", gdb.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(args: &[&str]) -> Operands {
        operands(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn some(p: &str) -> Option<PathBuf> {
        Some(PathBuf::from(p))
    }

    #[test]
    fn finds_the_program_and_core_as_gdb_does() {
        assert_eq!(
            ops(&["-q", "-ex", "run", "prog", "core.1"]),
            Operands {
                binary: some("prog"),
                core: some("core.1")
            }
        );
        assert_eq!(
            ops(&["-batch", "--args", "prog", "10", "core-looking-arg"]),
            Operands {
                binary: some("prog"),
                core: None
            }
        );
        assert_eq!(
            ops(&["--eval-command=bt", "-c", "core", "prog"]),
            Operands {
                binary: some("prog"),
                core: some("core")
            }
        );
        assert_eq!(
            ops(&["-iex", "set x 1", "--se=prog"]),
            Operands {
                binary: some("prog"),
                core: None
            }
        );
        assert_eq!(ops(&["-p", "123"]), Operands::default());
        assert_eq!(
            ops(&["--", "-odd-name"]),
            Operands {
                binary: some("-odd-name"),
                core: None
            }
        );
    }

    #[test]
    fn trusts_only_the_binary() {
        let args = our_args(Some(Path::new("/nonexistent/dir/hello")), Path::new("/ws"));
        assert_eq!(
            args,
            [
                "-iex",
                "add-auto-load-safe-path /nonexistent/dir/hello",
                "-iex",
                "source /ws/python/gdbx-gdb.py"
            ]
        );
        // A program in `/` must not make gdb trust `/`.
        let args = our_args(Some(Path::new("/hello")), Path::new("/ws"));
        assert!(args.contains(&"add-auto-load-safe-path /hello".to_string()));
        assert!(!args.iter().any(|a| a.ends_with("safe-path /")));
        assert_eq!(our_args(None, Path::new("/ws")).len(), 2);
    }
}
