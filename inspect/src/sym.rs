//! The symboliser: program counters to functions and file:line, inlined
//! frames included, with a cache (100,000 parked goroutines share a handful
//! of pcs), and the "is this user code?" rule that picks a goroutine's
//! location.
//!
//! Built on the binary's one `addr2line` context
//! ([`debuginfo::DebugInfo::context`]) and its one sorted address-to-symbol
//! lookup ([`debuginfo::Binary::symbol_at`]).

use std::cell::RefCell;
use std::rc::Rc;

use crate::fastmap::FastMap;
use crate::flavour::Flavour;
use crate::libs::Libraries;

/// One (possibly inlined) function at a pc.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The function's name: the Go name for the functions our runtime
    /// exports under one (`runtime.schedule`), Go's own names for Go, else
    /// the demangled DWARF name without its hash.
    pub func: Rc<str>,
    /// File, relative to the source root when under it ("" when unknown).
    pub file: Rc<str>,
    pub line: u32,
    /// Not the runtime (nor, for ours, Rust's standard library).
    pub user: bool,
    /// This frame was inlined into the next one of its chain.
    pub inlined: bool,
}

impl Frame {
    /// `func (file:line)`, `func (file)` when the line is unknown (never
    /// `:0`), or `func` when the file is.
    pub fn describe(&self) -> String {
        if self.file.is_empty() {
            self.func.to_string()
        } else if self.line == 0 {
            format!("{} ({})", self.func, self.file)
        } else {
            format!("{} ({}:{})", self.func, self.file, self.line)
        }
    }
}

/// The symboliser over one binary.
pub struct Symbols {
    bin: Rc<debuginfo::Binary>,
    flavour: Flavour,
    root: String,
    cache: RefCell<FastMap<u64, Rc<Vec<Frame>>>>,
    /// Run-time minus file addresses (0 unless PIE).
    bias: u64,
    /// The process's shared libraries, for code outside the binary.
    libs: Rc<Libraries>,
}

/// Name prefixes of code that is not the program's own, for our runtime.
const OURS_LIB_PREFIXES: &[&str] = &[
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

/// Name prefixes of Go's runtime (Delve's "user location" rule: the first
/// frame outside the runtime).
const GO_LIB_PREFIXES: &[&str] = &["runtime.", "runtime/internal/", "internal/", "_rt0"];

/// Is `name` a name the program exported on purpose (`runtime.schedule`,
/// `main.main`, `_rt0_amd64`, the C `main`) rather than a mangled Rust one,
/// or a compiler's or libc's own (`__rust_try`, the frame of every
/// goroutine's `catch_unwind`)?
pub fn is_go_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains("::")
        && !name.starts_with("__")
        && !name.starts_with("_ZN")
        && !name.starts_with("_R")
        && !name.starts_with('.')
        && !name.starts_with('$')
}

impl Symbols {
    /// `root` is stripped from file names (a workspace or GOROOT prefix).
    pub fn new(bin: Rc<debuginfo::Binary>, flavour: Flavour, root: &str) -> Symbols {
        let mut root = root.trim_end_matches('/').to_string();
        if !root.is_empty() {
            root.push('/');
        }
        Symbols {
            bin,
            flavour,
            root,
            cache: RefCell::new(FastMap::default()),
            bias: 0,
            libs: Rc::new(Libraries::default()),
        }
    }

    /// The process's shared libraries (none until set): a pc in one of
    /// them is named from that library's symbols, its file being the
    /// library's path.
    pub fn set_libraries(&mut self, libs: Rc<Libraries>) {
        self.libs = libs;
        self.cache.borrow_mut().clear();
    }

    /// Run-time addresses minus this are file addresses (0 unless PIE).
    pub fn set_bias(&mut self, bias: u64) {
        if bias != self.bias {
            self.bias = bias;
            self.cache.borrow_mut().clear();
        }
    }

    pub fn bias(&self) -> u64 {
        self.bias
    }

    /// The ELF code symbol containing the run-time address `pc`.
    pub fn symbol(&self, pc: u64) -> Option<&debuginfo::Symbol> {
        self.bin.symbol_at(pc.wrapping_sub(self.bias))
    }

    /// The name of the ELF symbol containing the run-time address `pc`.
    pub fn elf_symbol(&self, pc: u64) -> Option<&str> {
        self.symbol(pc).map(|s| s.name.as_str())
    }

    /// The run-time start of the function (ELF symbol) containing `pc`,
    /// in the binary or in a shared library.
    pub fn function_start(&self, pc: u64) -> Option<u64> {
        match self.symbol(pc) {
            Some(s) => Some(s.address.wrapping_add(self.bias)),
            None => self.libs.symbol(pc).map(|s| s.start),
        }
    }

    /// Are `a` and `b` in the same function (ELF symbol)?
    pub fn same_function(&self, a: u64, b: u64) -> bool {
        matches!((self.function_start(a), self.function_start(b)), (Some(x), Some(y)) if x == y)
    }

    /// The Go-style name of the function at `pc`, when the ELF has one
    /// (`runtime.schedule` for `runtime::proc::schedule`).
    pub fn go_name(&self, pc: u64) -> Option<&str> {
        self.elf_symbol(pc).filter(|n| is_go_name(n))
    }

    fn short_file(&self, file: &str) -> Rc<str> {
        match file.strip_prefix(&self.root) {
            Some(rest) if !self.root.is_empty() => Rc::from(rest),
            _ => Rc::from(file),
        }
    }

    fn is_user(&self, func: &str, file: &str) -> bool {
        match self.flavour {
            Flavour::Ours => {
                if OURS_LIB_PREFIXES.iter().any(|p| func.starts_with(p)) {
                    return false;
                }
                !(file.starts_with("/rustc/")
                    || file.contains("/.cargo/registry/")
                    || file.contains("/runtime/src/")
                    || file.starts_with("runtime/src/"))
            }
            Flavour::Go119 => !GO_LIB_PREFIXES.iter().any(|p| func.starts_with(p)),
        }
    }

    /// The frames at `probe` (innermost inlined first, the real function
    /// last). `probe` is the pc for the innermost frame of a stack and the
    /// return address - 1 for the callers. Each inlined frame has its own
    /// name and line; only the real function takes the ELF symbol's Go
    /// name (the ELF knows nothing of inlining).
    pub fn frames(&self, probe: u64) -> Rc<Vec<Frame>> {
        if let Some(f) = self.cache.borrow().get(&probe) {
            return f.clone();
        }
        let mut out = Vec::new();
        let file_probe = probe.wrapping_sub(self.bias);
        if let Ok(info) = self.bin.debug_info()
            && let Ok(mut it) = info.context().find_frames(file_probe).skip_all_loads()
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
                    user: !func.is_empty() && self.is_user(&func, file),
                    func: Rc::from(func.as_str()),
                    file: self.short_file(file),
                    line,
                    inlined: true,
                });
            }
        }
        if let Some(last) = out.last_mut() {
            last.inlined = false;
        }
        // Line 0 (code the compiler attributes to no line): the nearest
        // real line of the function at or before the pc, as gdb and
        // addr2line show it; else the next one.
        if let Some(first) = out.first_mut()
            && first.line == 0
            && let Some((file, line)) = self.nearest_line(file_probe)
        {
            first.file = self.short_file(&file);
            first.line = line;
        }
        // The real function (the chain's last) takes its exported Go name;
        // with no DWARF at all, the ELF symbol stands alone.
        // Go's linker marks assembly functions `.abi0` in the ELF; Go's
        // tracebacks name them without it (`runtime.goexit`).
        let elf = self.elf_symbol(probe).map(|n| match self.flavour {
            Flavour::Go119 => n.strip_suffix(".abi0").unwrap_or(n),
            Flavour::Ours => n,
        });
        match (out.last_mut(), elf) {
            (Some(last), Some(name)) if is_go_name(name) || last.func.is_empty() => {
                last.user = self.is_user(name, &last.file);
                last.func = Rc::from(name);
            }
            (None, Some(name)) => out.push(Frame {
                user: self.is_user(name, ""),
                func: Rc::from(name),
                file: Rc::from(""),
                line: 0,
                inlined: false,
            }),
            // Outside the binary: a shared library's C code, never the
            // program's own.
            (None, None) => {
                if let Some(s) = self.libs.symbol(probe) {
                    out.push(Frame {
                        user: false,
                        func: s.name,
                        file: s.path,
                        line: 0,
                        inlined: false,
                    });
                } else if let Some(path) = self.libs.path_of(probe) {
                    // In a library, in code its symbols do not name (a
                    // stripped libc's local `__memmove_avx_unaligned_erms`):
                    // gdb's `?? () from libc.so.6`.
                    out.push(Frame {
                        user: false,
                        func: Rc::from("??"),
                        file: path,
                        line: 0,
                        inlined: false,
                    });
                }
            }
            _ => {}
        }
        let rc = Rc::new(out);
        self.cache.borrow_mut().insert(probe, rc.clone());
        rc
    }

    /// The nearest row of the line table with a real line (not 0) for the
    /// file address `addr`, within its function (ELF symbol): the last one
    /// at or before it, else the first after it.
    fn nearest_line(&self, addr: u64) -> Option<(String, u32)> {
        let sym = self.bin.symbol_at(addr)?;
        let (lo, hi) = (sym.address, sym.address + sym.size.max(1));
        let ctx = self.bin.debug_info().ok()?.context();
        let real = |l: &addr2line::Location<'_>| match (l.file, l.line) {
            (Some(f), Some(n)) if n != 0 => Some((f.to_string(), n)),
            _ => None,
        };
        let mut before = None;
        for (_, _, l) in ctx.find_location_range(lo, addr + 1).ok()? {
            before = real(&l).or(before);
        }
        before.or_else(|| {
            ctx.find_location_range(addr, hi.max(addr + 1))
                .ok()?
                .find_map(|(_, _, l)| real(&l))
        })
    }

    /// The name a debugger should show for the frame `from_real` steps
    /// inward from the real function of the inline chain at `probe` (0: the
    /// real function itself), or `None` to keep the debugger's own. Ours:
    /// the Go name of an exported function (`runtime.scavenger` for
    /// `runtime::scavenge::scavenger`); an inlined frame keeps its own
    /// Rust name, never its caller's Go name. Go: every frame's DWARF name
    /// (gdb names an inlined Go function after its caller).
    pub fn shown_name(&self, probe: u64, from_real: usize) -> Option<Rc<str>> {
        let frames = self.frames(probe);
        let i = frames.len().checked_sub(1 + from_real)?;
        let f = &frames[i];
        let named = !f.func.is_empty();
        match self.flavour {
            Flavour::Ours => {
                (from_real == 0 && named && self.go_name(probe).is_some()).then(|| f.func.clone())
            }
            Flavour::Go119 => named.then(|| f.func.clone()),
        }
    }

    /// file:line of `pc` (the innermost inlined frame's), relative to the root.
    pub fn location(&self, probe: u64) -> Option<(Rc<str>, u32)> {
        let frames = self.frames(probe);
        let f = frames.first()?;
        (!f.file.is_empty()).then(|| (f.file.clone(), f.line))
    }
}
