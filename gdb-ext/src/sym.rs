//! Program counters to functions and file:line, with a cache (100,000
//! parked goroutines share a handful of pcs), and the "is this user code?"
//! rule that picks a goroutine's location.

use std::cell::RefCell;
use std::rc::Rc;

use crate::fastmap::FastMap;

/// One (possibly inlined) function at a pc.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Go name for the runtime's exported functions (`runtime.schedule`),
    /// else the demangled DWARF name without hash.
    pub func: Rc<str>,
    /// File, relative to the source root when under it.
    pub file: Rc<str>,
    pub line: u32,
    /// Not the runtime, not Rust's standard library.
    pub user: bool,
}

impl Frame {
    pub fn describe(&self) -> String {
        if self.file.is_empty() {
            self.func.to_string()
        } else {
            format!("{} ({}:{})", self.func, self.file, self.line)
        }
    }
}

/// Symbolizer over one binary.
pub struct Symbols {
    loader: Option<addr2line::Loader>,
    /// Text symbols sorted by address: (start, end, name).
    text: Vec<(u64, u64, Rc<str>)>,
    root: String,
    cache: RefCell<FastMap<u64, Rc<Vec<Frame>>>>,
    /// Load bias of a PIE (run-time minus file addresses).
    bias: u64,
}

/// Name prefixes of non-user code.
const LIB_PREFIXES: &[&str] = &[
    "runtime::",
    "runtime.",
    "<runtime::",
    "core::",
    "<core::",
    "alloc::",
    "<alloc::",
    "std::",
    "<std::",
    "_rt0",
    "__",
    "<F as core::",
];

/// Is `name` a name the program exported on purpose (`runtime.schedule`,
/// `main.main`, `_rt0_amd64`, the C `main`) rather than a mangled Rust one?
fn is_go_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains("::")
        && !name.starts_with("_ZN")
        && !name.starts_with("_R")
        && !name.starts_with('.')
        && !name.starts_with('$')
}

impl Symbols {
    pub fn new(bin: &debuginfo::Binary, root: &str) -> Symbols {
        let mut text: Vec<(u64, u64, Rc<str>)> = bin
            .symbols()
            .iter()
            .filter(|s| s.kind == debuginfo::SymbolKind::Text && s.address != 0)
            .map(|s| {
                (
                    s.address,
                    s.address + s.size.max(1),
                    Rc::from(s.name.as_str()),
                )
            })
            .collect();
        text.sort_by_key(|t| (t.0, std::cmp::Reverse(t.1)));
        let mut root = root.trim_end_matches('/').to_string();
        if !root.is_empty() {
            root.push('/');
        }
        Symbols {
            loader: addr2line::Loader::new(bin.path()).ok(),
            text,
            root,
            cache: RefCell::new(FastMap::default()),
            bias: 0,
        }
    }

    /// Run-time addresses minus this are file addresses (0 unless PIE).
    pub fn set_bias(&mut self, bias: u64) {
        if bias != self.bias {
            self.bias = bias;
            self.cache.borrow_mut().clear();
        }
    }

    /// The ELF text symbol (start, end, name) containing the run-time
    /// address `pc`.
    fn text_symbol(&self, pc: u64) -> Option<&(u64, u64, Rc<str>)> {
        let pc = pc.wrapping_sub(self.bias);
        let i = self.text.partition_point(|t| t.0 <= pc);
        // Look back over a few symbols that start at or below pc.
        self.text[..i].iter().rev().take(4).find(|t| pc < t.1)
    }

    /// The ELF symbol containing the run-time address `pc`.
    pub fn elf_symbol(&self, pc: u64) -> Option<&str> {
        self.text_symbol(pc).map(|t| &*t.2)
    }

    /// Are `a` and `b` in the same function (ELF symbol)?
    pub fn same_function(&self, a: u64, b: u64) -> bool {
        let start = |pc| self.text_symbol(pc).map(|t| t.0);
        matches!((start(a), start(b)), (Some(x), Some(y)) if x == y)
    }

    /// The Go-style name of the function at `pc`, when the ELF exports it
    /// under one (`runtime.schedule` for `runtime::proc::schedule`).
    pub fn go_name(&self, pc: u64) -> Option<&str> {
        self.elf_symbol(pc).filter(|n| is_go_name(n))
    }

    fn short_file(&self, file: &str) -> Rc<str> {
        match file.strip_prefix(&self.root) {
            Some(rest) if !self.root.is_empty() => Rc::from(rest),
            _ => Rc::from(file),
        }
    }

    fn is_user(func: &str, file: &str) -> bool {
        if LIB_PREFIXES.iter().any(|p| func.starts_with(p)) {
            return false;
        }
        !(file.starts_with("/rustc/")
            || file.contains("/.cargo/registry/")
            || file.contains("/runtime/src/")
            || file.starts_with("runtime/src/"))
    }

    /// The frames at `probe` (innermost inlined first). `probe` is the pc
    /// for the innermost frame and return address - 1 for callers.
    pub fn frames(&self, probe: u64) -> Rc<Vec<Frame>> {
        if let Some(f) = self.cache.borrow().get(&probe) {
            return f.clone();
        }
        let mut out = Vec::new();
        if let Some(loader) = &self.loader
            && let Ok(mut it) = loader.find_frames(probe.wrapping_sub(self.bias))
        {
            while let Ok(Some(fr)) = it.next() {
                let func = fr
                    .function
                    .as_ref()
                    .and_then(|f| f.demangle().ok().map(|s| s.into_owned()))
                    .unwrap_or_default();
                let (file, line) = match &fr.location {
                    Some(l) => (l.file.unwrap_or(""), l.line.unwrap_or(0)),
                    None => ("", 0),
                };
                out.push(Frame {
                    user: !func.is_empty() && Self::is_user(&func, file),
                    func: Rc::from(func.as_str()),
                    file: self.short_file(file),
                    line,
                });
            }
        }
        // The outermost frame of the chain is the real function: prefer its
        // exported Go name; with no DWARF at all, use the ELF symbol.
        let elf = self.elf_symbol(probe).map(|s| s.to_string());
        match (out.last_mut(), elf) {
            (Some(last), Some(name)) if is_go_name(&name) => {
                last.user = Self::is_user(&name, &last.file);
                last.func = Rc::from(name.as_str());
            }
            (Some(last), Some(name)) if last.func.is_empty() => {
                last.user = Self::is_user(&name, &last.file);
                last.func = Rc::from(name.as_str());
            }
            (None, Some(name)) => out.push(Frame {
                user: Self::is_user(&name, ""),
                func: Rc::from(name.as_str()),
                file: Rc::from(""),
                line: 0,
            }),
            _ => {}
        }
        let rc = Rc::new(out);
        self.cache.borrow_mut().insert(probe, rc.clone());
        rc
    }
}
