//! Golden files: a command's expected output, checked in and compared after
//! one normaliser, in the style of gimli's `testinput/` → `testoutput/`.
//!
//! ```no_run
//! # fn t(got: &str) {
//! let expected = std::path::Path::new("tests/testoutput/info-ps.out");
//! if let Err(diff) = gdbx_tests::golden::compare(expected, got) {
//!     panic!("{diff}");
//! }
//! # }
//! ```
//!
//! [`normalise`] replaces what changes from run to run or with unrelated
//! edits, and nothing else:
//!
//! - the workspace's path → `$WORKSPACE`;
//! - hexadecimal numbers (`0x…`: addresses) → `0xADDR`;
//! - line numbers in the runtime's sources (`runtime/src/NAME.rs:N`) →
//!   `runtime/src/NAME.rs:LINE`: they move with every edit of the runtime,
//!   while the lines of the example programs and of Go's sources are part of
//!   what a golden file checks;
//! - LWP numbers (`LWP 1234`) → `LWP N`;
//! - durations (`12.5 ms`, `0.3 s`) → `T ms`, `T s`.
//!
//! To accept new output, set `GDBX_BLESS=1`: [`compare`] then writes what it
//! got instead of comparing (CONTRIBUTING.md, "Golden files").

use std::path::Path;

use crate::workspace_root;

/// The environment variable that makes [`compare`] write the expected files.
pub const BLESS_ENV: &str = "GDBX_BLESS";

/// `text` with the parts that vary between runs replaced (see the module doc).
pub fn normalise(text: &str) -> String {
    let ws = workspace_root()
        .canonicalize()
        .unwrap_or_else(|_| workspace_root())
        .display()
        .to_string();
    let text = text.replace(&ws, "$WORKSPACE");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(ch) = rest.chars().next() {
        let replaced = hex_number(rest)
            .or_else(|| runtime_line(rest))
            .or_else(|| lwp(rest))
            .or_else(|| duration(rest, &out));
        match replaced {
            Some((consumed, with)) => {
                out.push_str(&with);
                rest = &rest[consumed..];
            }
            None => {
                out.push(ch);
                rest = &rest[ch.len_utf8()..];
            }
        }
    }
    out
}

/// Compares `got` (normalised here) with the file at `expected`; with
/// `GDBX_BLESS` set, writes it there instead. The error is a message
/// showing both texts and how to bless.
pub fn compare(expected: &Path, got: &str) -> Result<(), String> {
    let got = normalise(got);
    if std::env::var_os(BLESS_ENV).is_some() {
        if let Some(dir) = expected.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        return std::fs::write(expected, &got).map_err(|e| format!("{}: {e}", expected.display()));
    }
    let want = std::fs::read_to_string(expected).unwrap_or_default();
    if want == got {
        return Ok(());
    }
    Err(format!(
        "--- expected ({}):\n{want}\n--- got:\n{got}\n(rerun with {BLESS_ENV}=1 to accept)",
        expected.display()
    ))
}

fn digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

// Each matcher looks at the start of the remaining text and returns how
// many bytes it replaces, and with what.

/// `0x` and hex digits.
fn hex_number(s: &str) -> Option<(usize, String)> {
    let hex = s
        .strip_prefix("0x")?
        .bytes()
        .take_while(u8::is_ascii_hexdigit)
        .count();
    (hex > 0).then(|| (2 + hex, "0xADDR".to_string()))
}

/// `runtime/src/NAME.rs:N`.
fn runtime_line(s: &str) -> Option<(usize, String)> {
    const DIR: &str = "runtime/src/";
    let after = s.strip_prefix(DIR)?;
    let file_len = after.find(".rs:")?;
    let file = &after[..file_len];
    let is_path = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'/';
    if file.is_empty() || !file.bytes().all(is_path) {
        return None;
    }
    let n = digits(&after[file_len + 4..]);
    (n > 0).then(|| (DIR.len() + file_len + 4 + n, format!("{DIR}{file}.rs:LINE")))
}

/// `LWP N`.
fn lwp(s: &str) -> Option<(usize, String)> {
    let n = digits(s.strip_prefix("LWP ")?);
    (n > 0).then(|| (4 + n, "LWP N".to_string()))
}

/// A number followed by ` ms` or ` s`, not inside a longer number or word
/// (`before` is the text already written).
fn duration(s: &str, before: &str) -> Option<(usize, String)> {
    if before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
        return None;
    }
    let mut len = digits(s);
    if len == 0 {
        return None;
    }
    if let Some(frac) = s[len..].strip_prefix('.') {
        let f = digits(frac);
        if f == 0 {
            return None;
        }
        len += 1 + f;
    }
    let tail = s[len..].strip_prefix(' ')?;
    ["ms", "s"].into_iter().find_map(|unit| {
        let after = tail.strip_prefix(unit)?;
        (!after.starts_with(|c: char| c.is_ascii_alphanumeric()))
            .then(|| (len + 1 + unit.len(), format!("T {unit}")))
    })
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn normalises_only_what_varies() {
        let ws = crate::workspace_root().canonicalize().unwrap();
        let text = format!(
            "binary: {}/target/x at 0x45e500\n\
             #2  233.374 ms  thread 1 (LWP 22445, main)  runtime/src/rt0.rs:173\n\
             examples/src/bin/parked.rs:26 main.go:5 3 goroutines in 2 s; 12 ms; 7 steps\n",
            ws.display()
        );
        assert_eq!(
            normalise(&text),
            "binary: $WORKSPACE/target/x at 0xADDR\n\
             #2  T ms  thread 1 (LWP N, main)  runtime/src/rt0.rs:LINE\n\
             examples/src/bin/parked.rs:26 main.go:5 3 goroutines in T s; T ms; 7 steps\n"
        );
    }
}
