//! Runtime flavours: what each runtime's state looks like to a debugger.
//!
//! A flavour declares, once, every type, field and symbol the decoder reads
//! ([`Spec`]). [`Layout::resolve`] turns that list into offsets and sizes
//! read from the binary's DWARF (nothing is hard-coded), and the contract
//! tests check the same list against freshly built binaries and Go's
//! sources: a field renamed in the runtime fails there, by name. This is
//! Delve's idea (its `rtype` comments checked by a script) with the list as
//! data.
//!
//! The two flavours share one model on purpose: our runtime follows Go's
//! names (`G.goid`, `G.atomicstatus`, `M.procid`, `P.runq`, `sched.midle`),
//! its statics are exported under Go's names (`runtime.allgs`, ...), and its
//! status values are Go's. They differ in where types live in DWARF (Rust
//! paths `runtime::runtime2::G` vs Go's `runtime.g`), in what is recorded
//! of a goroutine's creator (both keep Go's `gopc`; ours also the `go`
//! call's `created_file`/`created_line` and the creating `parent_goid`,
//! which Go 1.19 does not keep) and in how a thread finds its g (our `runtime.tlsg` TLS
//! symbol vs Go's fixed slot at `%fs:-8`).

use std::collections::HashMap;

use crate::fastmap::FastMap;

use debuginfo::layout::{Kind as TypeKind, Layouts, TypeInfo};

/// Which runtime a binary is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// This project's runtime.
    Ours,
    /// Go 1.19 (linux/amd64).
    Go119,
}

impl Flavour {
    /// How to get a core that holds the goroutine stacks, for this runtime.
    pub fn missing_stacks_advice(self) -> &'static str {
        match self {
            Flavour::Go119 => {
                "take the core with GOTRACEBACK=crash, with the stacks' mappings in its coredump_filter"
            }
            Flavour::Ours => {
                "take the core with `gcore` in gdbx's gdb, or with GOTRACEBACK=crash, or run the program \
                 with GOSTACKGUARD=mprotect before plain gcore"
            }
        }
    }

    /// The flavour of `bin`, or why it has none: one line naming what the
    /// binary is and what is supported.
    pub fn detect(bin: &debuginfo::Binary) -> Result<Flavour, String> {
        match bin.flavor() {
            debuginfo::Flavor::Ours => Ok(Flavour::Ours),
            debuginfo::Flavor::Go { version } => match version.as_deref() {
                Some(v) if v == "go1.19" || v.starts_with("go1.19.") => Ok(Flavour::Go119),
                Some(v) => Err(format!(
                    "a Go binary built by {v}: gdbx reads the runtime of Go 1.19 only"
                )),
                None => Err(
                    "a Go binary of unknown version: gdbx reads the runtime of Go 1.19 only".into(),
                ),
            },
            debuginfo::Flavor::Other => Err(
                "neither a program on the gdbx runtime nor a Go binary (no Go runtime symbols)"
                    .into(),
            ),
        }
    }

    /// The flavour's declaration of what it reads.
    pub fn spec(self) -> &'static Spec {
        match self {
            Flavour::Ours => &OURS,
            Flavour::Go119 => &GO119,
        }
    }

    /// "gdbx runtime" or "Go 1.19".
    pub fn describe(self) -> &'static str {
        match self {
            Flavour::Ours => "gdbx runtime",
            Flavour::Go119 => "Go 1.19",
        }
    }
}

/// The role of a type in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    G,
    M,
    P,
    Sched,
}

/// One field the decoder reads: `key` is its name in the model
/// ([`GFields`] etc.), `path` the dotted DWARF path in the runtime's type.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub key: &'static str,
    pub path: &'static str,
}

/// One type the decoder reads.
#[derive(Debug)]
pub struct TypeSpec {
    pub role: Role,
    /// The DWARF name: for our runtime the last path component under the
    /// `runtime` crate (`G` of `runtime::runtime2::G`), for Go the whole
    /// name (`runtime.g`).
    pub name: &'static str,
    pub fields: &'static [FieldSpec],
}

/// How a thread's current g is found.
#[derive(Debug, Clone, Copy)]
pub enum ThreadG {
    /// In the thread-local symbol named here (local-exec TLS).
    TlsSymbol(&'static str),
    /// In the TLS symbol named here when the binary has one (Go programs
    /// linked externally, cgo), else at this offset from `%fs` (Go's
    /// linux/amd64 slot, `-8(FS)`).
    TlsSymbolOr(&'static str, i64),
}

/// Everything a flavour reads: the one list.
#[derive(Debug)]
pub struct Spec {
    pub flavour: Flavour,
    /// The namespace of the runtime's types (`runtime`), or "" when the
    /// type names are whole (Go).
    pub crate_name: &'static str,
    pub types: &'static [TypeSpec],
    /// Data symbols, all required: every root of the state.
    pub symbols: &'static [&'static str],
    /// Symbols read when present (names of wait reasons).
    pub optional_symbols: &'static [&'static str],
    pub thread_g: ThreadG,
    /// The type whose enumerators name the wait reasons, when the flavour
    /// has one (ours: `WaitReason`; Go has `runtime.waitReason*` constants).
    pub wait_reason_enum: Option<&'static str>,
    /// Prefixes of the DWARF constants naming G and P statuses and wait
    /// reasons (Go's `runtime._Grunning`, `runtime._Pidle`,
    /// `runtime.waitReasonChanReceive`); empty when the DWARF has none.
    pub constant_prefixes: &'static [&'static str],
}

macro_rules! f {
    ($key:literal) => {
        FieldSpec {
            key: $key,
            path: $key,
        }
    };
    ($key:literal = $path:literal) => {
        FieldSpec {
            key: $key,
            path: $path,
        }
    };
}

/// Fields of M, P and the scheduler: the same names in both runtimes.
const M_FIELDS: &[FieldSpec] = &[
    f!("id"),
    f!("procid"),
    f!("g0"),
    f!("curg"),
    f!("p"),
    f!("spinning"),
    f!("blocked"),
    f!("alllink"),
    f!("schedlink"),
];
const P_FIELDS: &[FieldSpec] = &[
    f!("id"),
    f!("status"),
    f!("m"),
    f!("runqhead"),
    f!("runqtail"),
    f!("runq"),
    f!("runnext"),
    f!("link"),
];
const SCHED_FIELDS: &[FieldSpec] = &[
    f!("midle"),
    f!("nmidle"),
    f!("nmspinning"),
    f!("pidle"),
    f!("npidle"),
    f!("runq_head" = "runq.head"),
    f!("runq_tail" = "runq.tail"),
    f!("runqsize"),
    f!("goidgen"),
    f!("mnext"),
];
/// The roots of the state: `allgs` and `allp` are a pointer to an array in
/// our runtime and a slice in Go, whose first word is that pointer.
const SYMBOLS: &[&str] = &[
    "runtime.allgs",
    "runtime.allglen",
    "runtime.allm",
    "runtime.allp",
    "runtime.gomaxprocs",
    "runtime.sched",
];

static OURS: Spec = Spec {
    flavour: Flavour::Ours,
    crate_name: "runtime",
    types: &[
        TypeSpec {
            role: Role::G,
            name: "G",
            fields: &[
                f!("stack_lo" = "stack.lo"),
                f!("stack_hi" = "stack.hi"),
                f!("sp" = "sched.sp"),
                f!("pc" = "sched.pc"),
                f!("bp" = "sched.bp"),
                f!("goid"),
                f!("status" = "atomicstatus"),
                f!("reason" = "waitreason"),
                f!("waitsince"),
                f!("m"),
                f!("startpc"),
                f!("gopc"),
                f!("startsp"),
                f!("cfile" = "created_file"),
                f!("cfile_len" = "created_file_len"),
                f!("cline" = "created_line"),
                f!("parent" = "parent_goid"),
                f!("syscallsp"),
                f!("syscallpc"),
                f!("syscallbp"),
                f!("schedlink"),
                f!("lockedm"),
            ],
        },
        TypeSpec {
            role: Role::M,
            name: "M",
            fields: M_FIELDS,
        },
        TypeSpec {
            role: Role::P,
            name: "P",
            fields: P_FIELDS,
        },
        TypeSpec {
            role: Role::Sched,
            name: "Sched",
            fields: SCHED_FIELDS,
        },
    ],
    symbols: SYMBOLS,
    optional_symbols: &["runtime.waitReasonStrings"],
    thread_g: ThreadG::TlsSymbol("runtime.tlsg"),
    wait_reason_enum: Some("WaitReason"),
    constant_prefixes: &[],
};

static GO119: Spec = Spec {
    flavour: Flavour::Go119,
    crate_name: "",
    types: &[
        TypeSpec {
            role: Role::G,
            name: "runtime.g",
            fields: &[
                f!("stack_lo" = "stack.lo"),
                f!("stack_hi" = "stack.hi"),
                f!("sp" = "sched.sp"),
                f!("pc" = "sched.pc"),
                f!("bp" = "sched.bp"),
                f!("goid"),
                f!("status" = "atomicstatus"),
                f!("reason" = "waitreason"),
                f!("waitsince"),
                f!("m"),
                f!("startpc"),
                f!("gopc"),
                f!("syscallsp"),
                f!("syscallpc"),
                f!("schedlink"),
                f!("lockedm"),
            ],
        },
        TypeSpec {
            role: Role::M,
            name: "runtime.m",
            fields: M_FIELDS,
        },
        TypeSpec {
            role: Role::P,
            name: "runtime.p",
            fields: P_FIELDS,
        },
        TypeSpec {
            role: Role::Sched,
            name: "runtime.schedt",
            fields: SCHED_FIELDS,
        },
    ],
    symbols: SYMBOLS,
    optional_symbols: &["runtime.waitReasonStrings"],
    thread_g: ThreadG::TlsSymbolOr("runtime.tlsg", -8),
    wait_reason_enum: None,
    constant_prefixes: &["runtime._G", "runtime._P", "runtime.waitReason"],
};

/// A field: where it is in its struct and how many bytes it has
/// (`size` 0: the flavour does not have it; it reads as 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fld {
    pub off: usize,
    pub size: usize,
}

impl Fld {
    /// The field as an unsigned little-endian integer (0 when absent or out
    /// of range).
    pub fn u(self, b: &[u8]) -> u64 {
        let Some(s) = b.get(self.off..self.off + self.size.min(8)) else {
            return 0;
        };
        // The common sizes without a copy of variable length (a call to
        // memcpy each): a G is twenty such fields, and there may be 100,000.
        match s.len() {
            8 => u64::from_le_bytes(s.try_into().unwrap()),
            4 => u32::from_le_bytes(s.try_into().unwrap()).into(),
            n => {
                let mut a = [0u8; 8];
                a[..n].copy_from_slice(s);
                u64::from_le_bytes(a)
            }
        }
    }

    /// The field as a signed integer (sign-extended from its size).
    pub fn i(self, b: &[u8]) -> i64 {
        let v = self.u(b);
        let bits = (self.size.min(8) * 8) as u32;
        if bits == 0 || bits == 64 {
            return v as i64;
        }
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    }

    /// Whether the flavour has this field.
    pub fn present(self) -> bool {
        self.size != 0
    }
}

macro_rules! fields {
    ($(#[$doc:meta])* $name:ident { $($f:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name { $(pub $f: Fld),* }
        impl $name {
            /// The field called `key` in the flavours' lists.
            pub fn slot(&mut self, key: &str) -> Option<&mut Fld> {
                match key {
                    $(stringify!($f) => Some(&mut self.$f),)*
                    _ => None,
                }
            }
        }
    };
}

fields!(
    /// The fields of a G the decoder reads.
    GFields {
        stack_lo, stack_hi, sp, pc, bp, goid, status, reason, waitsince, m, startpc, gopc,
        cfile, cfile_len, cline, parent, syscallsp, syscallpc, syscallbp, schedlink, lockedm,
        startsp,
    }
);
fields!(
    /// The fields of an M the decoder reads.
    MFields { id, procid, g0, curg, p, spinning, blocked, alllink, schedlink }
);
fields!(
    /// The fields of a P the decoder reads.
    PFields { id, status, m, runqhead, runqtail, runq, runnext, link }
);
fields!(
    /// The fields of the scheduler the decoder reads.
    SchedFields { midle, nmidle, nmspinning, pidle, npidle, runq_head, runq_tail, runqsize, goidgen, mnext }
);

/// The scan bit of G statuses (Go's `_Gscan`, when the DWARF does not say).
const GSCAN: u32 = 0x1000;

/// Go's G status names by value, used when the binary's DWARF has no
/// `runtime._G*` constants (our runtime uses Go's values).
const GO_STATUSES: &[(u32, &str)] = &[
    (0, "idle"),
    (1, "runnable"),
    (2, "running"),
    (3, "syscall"),
    (4, "waiting"),
    (5, "moribund"),
    (6, "dead"),
    (7, "enqueue"),
    (8, "copystack"),
    (9, "preempted"),
];
/// Go's P status names by value (same rule).
const GO_PSTATUSES: &[(u32, &str)] = &[
    (0, "idle"),
    (1, "running"),
    (2, "syscall"),
    (3, "gcstop"),
    (4, "dead"),
];

/// The values of the statuses the commands test for.
#[derive(Debug, Clone, Copy)]
pub struct StatusValues {
    pub idle: u32,
    pub runnable: u32,
    pub running: u32,
    pub syscall: u32,
    pub waiting: u32,
    pub dead: u32,
    pub scan: u32,
}

/// A flavour's [`Spec`] resolved against one binary: offsets, sizes, names.
#[derive(Debug)]
pub struct Layout {
    pub flavour: Flavour,
    pub g: GFields,
    pub m: MFields,
    pub p: PFields,
    pub sched: SchedFields,
    pub g_size: usize,
    pub m_size: usize,
    pub p_size: usize,
    pub sched_size: usize,
    /// Capacity of `P.runq`.
    pub runq_cap: u64,
    /// Full DWARF names of the types by role (`runtime::runtime2::G`,
    /// `runtime.g`), for debugger type lookups.
    pub type_names: HashMap<Role, String>,
    /// G status value -> name (the scan bit stripped).
    pub statuses: FastMap<u32, String>,
    pub status: StatusValues,
    /// P status value -> name.
    pub pstatuses: FastMap<u32, String>,
    /// Wait reason value -> Go's string. Read from `runtime.waitReasonStrings`
    /// in memory once the program is known ([`Layout::read_reason_strings`]);
    /// until then from the DWARF enumerators or constants.
    pub reasons: FastMap<u64, String>,
    /// File addresses of the symbols read.
    pub syms: HashMap<&'static str, u64>,
    /// Size of each optional symbol found.
    pub sym_sizes: HashMap<&'static str, u64>,
    /// The current g's offset from the thread pointer.
    pub tpoff: Option<i64>,
    /// What the binary lacks of the spec (`G.goid`, `symbol runtime.allm`).
    /// Empty for a binary the flavour reads in full.
    pub missing: Vec<String>,
}

impl Layout {
    /// Resolves `flavour`'s spec against `bin`'s DWARF and symbols.
    pub fn resolve(bin: &debuginfo::Binary, flavour: Flavour) -> Result<Layout, String> {
        let spec = flavour.spec();
        let mut names: Vec<&str> = spec.types.iter().map(|t| t.name).collect();
        names.extend(spec.wait_reason_enum);
        let layouts = Layouts::from_binary(bin, spec.crate_name, &names)
            .map_err(|e| format!("cannot read the runtime's types from the DWARF: {e}"))?;
        let mut missing = Vec::new();
        let mut lay = Layout {
            flavour,
            g: GFields::default(),
            m: MFields::default(),
            p: PFields::default(),
            sched: SchedFields::default(),
            g_size: 0,
            m_size: 0,
            p_size: 0,
            sched_size: 0,
            runq_cap: 0,
            type_names: HashMap::new(),
            statuses: FastMap::default(),
            status: StatusValues {
                idle: 0,
                runnable: 1,
                running: 2,
                syscall: 3,
                waiting: 4,
                dead: 6,
                scan: GSCAN,
            },
            pstatuses: FastMap::default(),
            reasons: FastMap::default(),
            syms: HashMap::new(),
            sym_sizes: HashMap::new(),
            tpoff: None,
            missing: Vec::new(),
        };
        for t in spec.types {
            let Some(info) = layouts.get(t.name) else {
                missing.push(format!("type {}", t.name));
                continue;
            };
            lay.type_names.insert(t.role, info.name.clone());
            let size = info.size as usize;
            for fs in t.fields {
                let fld = match info.field(fs.path) {
                    Some((_, fty)) if fty.size == 0 => {
                        missing.push(format!("{}.{} (no size in the DWARF)", t.name, fs.path));
                        continue;
                    }
                    Some((off, fty)) => Fld {
                        off: off as usize,
                        size: fty.size as usize,
                    },
                    None => {
                        missing.push(format!("{}.{}", t.name, fs.path));
                        continue;
                    }
                };
                let slot = match t.role {
                    Role::G => lay.g.slot(fs.key),
                    Role::M => lay.m.slot(fs.key),
                    Role::P => lay.p.slot(fs.key),
                    Role::Sched => lay.sched.slot(fs.key),
                };
                *slot.expect("every key of a spec is a field of the model") = fld;
            }
            match t.role {
                Role::G => lay.g_size = size,
                Role::M => lay.m_size = size,
                Role::P => {
                    lay.p_size = size;
                    if let Some((_, runq)) = info.field("runq")
                        && let TypeKind::Array { count, .. } = runq.kind
                    {
                        lay.runq_cap = count;
                    }
                }
                Role::Sched => lay.sched_size = size,
            }
        }
        for name in spec.symbols {
            match bin.symbol(name) {
                Some(sym) => {
                    lay.syms.insert(name, sym.address);
                }
                None => missing.push(format!("symbol {name}")),
            }
        }
        for name in spec.optional_symbols {
            if let Some(sym) = bin.symbol(name) {
                lay.syms.insert(name, sym.address);
                lay.sym_sizes.insert(name, sym.size);
            }
        }
        lay.tpoff = match spec.thread_g {
            ThreadG::TlsSymbol(name) => {
                let off = bin.tls_tpoff(name);
                if off.is_none() {
                    missing.push(format!("TLS symbol {name}"));
                }
                off
            }
            ThreadG::TlsSymbolOr(name, fixed) => Some(bin.tls_tpoff(name).unwrap_or(fixed)),
        };
        if let Some(e) = spec.wait_reason_enum.and_then(|n| layouts.get(n)) {
            lay.reasons_from_enum(e);
        }
        if !spec.constant_prefixes.is_empty() {
            let consts = debuginfo::layout::constants(bin, spec.constant_prefixes)
                .map_err(|e| format!("cannot read the runtime's constants: {e}"))?;
            lay.names_from_constants(&consts);
        }
        for &(v, n) in GO_STATUSES {
            lay.statuses.entry(v).or_insert_with(|| n.to_string());
        }
        for &(v, n) in GO_PSTATUSES {
            lay.pstatuses.entry(v).or_insert_with(|| n.to_string());
        }
        lay.missing = missing;
        Ok(lay)
    }

    /// CamelCase enumerators (`ChanReceive`) as Go's words (`chan receive`).
    fn reasons_from_enum(&mut self, e: &TypeInfo) {
        for (v, name) in e.enumerators() {
            let go = if name == "Zero" {
                String::new()
            } else {
                words(name)
            };
            self.reasons.insert(*v as u64, go);
        }
    }

    /// Go's `runtime._Grunning = 2`, `runtime._Pidle = 0`,
    /// `runtime.waitReasonChanReceive = 14`.
    fn names_from_constants(&mut self, consts: &[(String, i64)]) {
        for (name, v) in consts {
            let v = *v;
            if let Some(s) = name.strip_prefix("runtime._G") {
                if s == "scan" {
                    self.status.scan = v as u32;
                } else if !s.starts_with("scan")
                    && v >= 0
                    && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                {
                    let word = s.trim_end_matches("_unused").to_lowercase();
                    let value = v as u32;
                    match word.as_str() {
                        "idle" => self.status.idle = value,
                        "runnable" => self.status.runnable = value,
                        "running" => self.status.running = value,
                        "syscall" => self.status.syscall = value,
                        "waiting" => self.status.waiting = value,
                        "dead" => self.status.dead = value,
                        _ => {}
                    }
                    self.statuses.insert(value, word);
                }
            } else if let Some(s) = name.strip_prefix("runtime._P") {
                if v >= 0 && s.chars().all(|c| c.is_ascii_lowercase()) {
                    self.pstatuses.insert(v as u32, s.to_lowercase());
                }
            } else if let Some(s) = name.strip_prefix("runtime.waitReason")
                && v >= 0
                && s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            {
                let go = if s == "Zero" { String::new() } else { words(s) };
                self.reasons.entry(v as u64).or_insert(go);
            }
        }
    }

    /// Run-time address of a symbol of the spec (`bias`: a PIE's load bias).
    pub fn sym(&self, name: &str, bias: u64) -> Option<u64> {
        self.syms.get(name).map(|a| a.wrapping_add(bias))
    }

    /// Takes Go's exact wait-reason strings from `runtime.waitReasonStrings`
    /// (`[N]string` in Go, `[&str; N]` in ours: both (pointer, length)
    /// pairs) in `mem`; a PIE's table holds relocated pointers, so it is
    /// read from the program's memory, not from the file.
    pub fn read_reason_strings(&mut self, mem: &dyn crate::mem::Memory, bias: u64) {
        const NAME: &str = "runtime.waitReasonStrings";
        let (Some(addr), Some(&size)) = (self.sym(NAME, bias), self.sym_sizes.get(NAME)) else {
            return;
        };
        let n = (size / 16) as usize;
        let Ok(table) = mem.bytes(addr, n * 16) else {
            return;
        };
        for i in 0..n {
            let word = |o: usize| u64::from_le_bytes(table[o..o + 8].try_into().unwrap());
            let (ptr, len) = (word(i * 16), word(i * 16 + 8));
            if len > 256 {
                continue;
            }
            let s = if len == 0 {
                Ok(Vec::new())
            } else {
                mem.bytes(ptr, len as usize)
            };
            if let Ok(s) = s
                && let Ok(s) = String::from_utf8(s)
            {
                self.reasons.insert(i as u64, s);
            }
        }
    }

    /// The status without its scan bit.
    pub fn base_status(&self, raw: u32) -> u32 {
        raw & !self.status.scan
    }

    /// The name of a G status (`waiting`), `None` for a value that is no
    /// status.
    pub fn status_name(&self, raw: u32) -> Option<&str> {
        self.statuses
            .get(&self.base_status(raw))
            .map(|s| s.as_str())
    }

    /// The name of a P status.
    pub fn pstatus_name(&self, raw: u32) -> &str {
        self.pstatuses.get(&raw).map_or("???", |s| s.as_str())
    }

    /// Go's string for a wait reason.
    pub fn reason(&self, v: u64) -> String {
        self.reasons
            .get(&v)
            .cloned()
            .unwrap_or_else(|| format!("reason {v}"))
    }
}

/// CamelCase name -> Go-style words (`ChanReceive` -> `chan receive`,
/// `IoWait` -> `io wait`, `GCAssistMarking` -> `GC assist marking`).
fn words(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    let mut word = String::new();
    let flush = |w: &mut String, out: &mut String| {
        if w.is_empty() {
            return;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        let acronym = w.len() > 1 && w.chars().all(|c| c.is_ascii_uppercase());
        if acronym {
            out.push_str(w);
        } else {
            out.push_str(&w.to_lowercase());
        }
        w.clear();
    };
    for (i, &c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev_lower = i > 0 && chars[i - 1].is_lowercase();
        if c.is_uppercase() && (prev_lower || (next_lower && !word.is_empty())) {
            flush(&mut word, &mut out);
        }
        word.push(c);
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_both_specs_is_a_model_field() {
        for spec in [&OURS, &GO119] {
            for t in spec.types {
                for fs in t.fields {
                    let found = match t.role {
                        Role::G => GFields::default().slot(fs.key).is_some(),
                        Role::M => MFields::default().slot(fs.key).is_some(),
                        Role::P => PFields::default().slot(fs.key).is_some(),
                        Role::Sched => SchedFields::default().slot(fs.key).is_some(),
                    };
                    assert!(
                        found,
                        "{:?} {}: no model field {}",
                        spec.flavour, t.name, fs.key
                    );
                }
            }
        }
    }

    #[test]
    fn words_as_go_writes_them() {
        assert_eq!(words("ChanReceive"), "chan receive");
        assert_eq!(words("GCAssistMarking"), "GC assist marking");
        assert_eq!(words("Sleep"), "sleep");
    }
}
