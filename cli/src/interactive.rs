//! `gdbx gdb BINARY`: an interactive gdb with the project's extension on its
//! path — like rust-gdb, for this runtime.
//!
//! Trust is added for exactly two paths with `add-auto-load-safe-path`: the
//! binary file itself (its `.debug_gdb_scripts` entry loads the extension;
//! gdb matches a safe-path entry against the objfile's own name) and the
//! workspace's `python/` directory. The binary's *directory* is not trusted:
//! for a program in `/`, `/tmp` or `/usr/bin` that would trust every script
//! (and `.gdbinit`) there, or everything at all. gdbx never says
//! `set auto-load safe-path /`.

use crate::{Fail, WORKSPACE, find_gdb};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The gdb argument list (without the gdb path) for `binary`.
pub fn gdb_args(binary: &Path, ws: &Path, extra: &[String]) -> Vec<String> {
    let trusted = binary
        .canonicalize()
        .unwrap_or_else(|_| binary.to_path_buf());
    let python = ws.join("python");
    let py_str = python
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('\'', "\\'");
    let mut args = vec![
        "-iex".to_string(),
        format!("add-auto-load-safe-path {}", trusted.display()),
        "-iex".to_string(),
        format!("add-auto-load-safe-path {}", python.display()),
        "-iex".to_string(),
        format!("directory {}", python.display()),
        "-iex".to_string(),
        format!("python import sys; sys.path.insert(0, '{py_str}')"),
    ];
    args.extend(extra.iter().cloned());
    args.push(binary.display().to_string());
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

/// Replaces gdbx with gdb (returns only on failure).
pub fn exec_gdb(binary: &Path, gdb: Option<PathBuf>, extra: &[String]) -> Result<u8, Fail> {
    // Validate first: a clear error beats gdb's.
    debuginfo::Binary::open(binary).map_err(|e| Fail(2, e.to_string()))?;
    let gdb = find_gdb(gdb)?;
    let ws = Path::new(WORKSPACE)
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(WORKSPACE));
    let mut cmd = std::process::Command::new(&gdb);
    cmd.args(gdb_args(binary, &ws, extra))
        .env("GDBX_WORKSPACE", &ws);
    if let Some(ext) = ext_module(&ws) {
        cmd.env("GDBX_EXT_PATH", ext);
    }
    let err = cmd.exec();
    Err(Fail(3, format!("cannot run {}: {err}", gdb.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusts_only_the_binary_and_python() {
        let args = gdb_args(
            Path::new("/nonexistent/dir/hello"),
            Path::new("/ws"),
            &["-ex".into(), "run".into()],
        );
        assert!(args.contains(&"add-auto-load-safe-path /nonexistent/dir/hello".to_string()));
        assert!(args.contains(&"add-auto-load-safe-path /ws/python".to_string()));
        assert!(
            args.iter()
                .all(|a| !a.contains("safe-path /\"") && a != "set auto-load safe-path /")
        );
        assert_eq!(
            args.last().map(String::as_str),
            Some("/nonexistent/dir/hello")
        );
        assert_eq!(&args[args.len() - 3..args.len() - 1], ["-ex", "run"]);
        // A program in `/` must not make gdb trust `/`.
        let args = gdb_args(Path::new("/hello"), Path::new("/ws"), &[]);
        assert!(args.contains(&"add-auto-load-safe-path /hello".to_string()));
        assert!(!args.iter().any(|a| a == "add-auto-load-safe-path /"));
    }
}
