//! ELF + DWARF reading shared by `gdbx` (the command line) and the gdb
//! extension: one implementation of "open the binary, find the symbols,
//! read the line tables", built on [`object`], [`gimli`] and [`addr2line`]
//! (one version set for the whole workspace).
//!
//! The pieces:
//! - [`elf`]: open and validate an x86-64 ELF ([`Binary`]), its symbol table,
//!   what kind of program it is ([`Flavor`]: a program on this project's
//!   runtime, a Go binary with its version, or neither), PIE or not.
//! - [`dwarf`]: the DWARF sections (compressed or not, DWARF 4 or 5), the
//!   address after a function's prologue from the line program, file:line.
//! - [`plan`]: the bootstrap plans (the bootstrap sequence of our runtime, Go 1.19's
//!   for real Go binaries) and their resolution against a binary.
//!
//! ```no_run
//! use debuginfo::{Binary, plan::{Plan, resolve}};
//!
//! let bin = Binary::open("target/debug/hello").expect("readable ELF");
//! let plan = Plan::for_binary(&bin).expect("ours or Go");
//! let res = resolve(&bin, &plan);
//! for step in &res.steps {
//!     println!("{} {:?} {:?}", step.name, step.address, step.location);
//! }
//! ```
//!
//! All addresses are *file* addresses (the ELF's virtual addresses before any
//! load bias). For a PIE, add the bias (`AT_ENTRY - e_entry`) at run time.

pub mod dwarf;
pub mod elf;
pub mod layout;
pub mod plan;

pub use dwarf::{DebugInfo, Location, Reader, SectionBytes};
pub use elf::{Binary, FileBytes, Flavor, Symbol, SymbolKind};

use std::fmt;

/// Why a binary could not be used. Every variant renders as one line meant
/// for a person (the CLI prints it after `gdbx: `).
#[derive(Debug)]
pub enum Error {
    /// The path could not be read (does not exist, permission, ...).
    Io(std::path::PathBuf, std::io::Error),
    /// The path is a directory.
    IsDirectory(std::path::PathBuf),
    /// The file does not start with the ELF magic.
    NotElf(std::path::PathBuf),
    /// An ELF that gdbx cannot handle (32-bit, another machine, ...).
    Unsupported(std::path::PathBuf, String),
    /// A truncated or otherwise corrupt ELF.
    Corrupt(std::path::PathBuf, String),
    /// No symbol table at all (`strip --strip-all`).
    NoSymbols(std::path::PathBuf),
    /// A Go binary without a symbol table: linked with `-ldflags=-s`, or
    /// stripped afterwards. Its build information says which.
    GoNoSymbols {
        /// The binary.
        path: std::path::PathBuf,
        /// Its Go version.
        version: Option<String>,
        /// The `-ldflags` of its build, when it had any.
        ldflags: Option<String>,
    },
    /// Reading DWARF failed.
    Dwarf(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(p, e) if e.kind() == std::io::ErrorKind::NotFound => {
                write!(f, "{}: no such file", p.display())
            }
            Error::Io(p, e) => write!(f, "{}: cannot read: {e}", p.display()),
            Error::IsDirectory(p) => {
                write!(f, "{}: is a directory, not an ELF binary", p.display())
            }
            Error::NotElf(p) => write!(f, "{}: not an ELF file", p.display()),
            Error::Unsupported(p, why) => write!(f, "{}: unsupported ELF: {why}", p.display()),
            Error::Corrupt(p, why) => write!(f, "{}: truncated or corrupt ELF: {why}", p.display()),
            Error::NoSymbols(p) => write!(
                f,
                "{}: no symbol table (stripped with `strip --strip-all`?); rebuild it with symbols",
                p.display()
            ),
            Error::GoNoSymbols {
                path,
                version,
                ldflags,
            } => {
                let go = version.as_deref().unwrap_or("version unknown");
                let build = "go build -gcflags \"-N -l\"";
                match ldflags {
                    Some(flags)
                        if flags
                            .split_whitespace()
                            .any(|f| f.trim_matches('"') == "-s") =>
                    {
                        write!(
                            f,
                            "{}: a Go binary ({go}) linked with -ldflags={flags}: Go's linker left out the symbol table (-s) that gdbx places its breakpoints with; build it without -s and -w: {build}",
                            path.display()
                        )
                    }
                    _ => write!(
                        f,
                        "{}: a Go binary ({go}) stripped of its symbol table after the build (strip --strip-all?); use the binary as `go build` wrote it: {build}",
                        path.display()
                    ),
                }
            }
            Error::Dwarf(why) => write!(f, "reading DWARF: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
