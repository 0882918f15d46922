//! The runtime's state as the debugger sees it: G, M, P and the scheduler
//! decoded from raw bytes with offsets taken from the DWARF
//! ([`debuginfo::layout`]), never hard-coded.

use std::collections::{HashMap, HashSet};

use debuginfo::layout::{Kind, Layouts, RUNTIME_FIELDS, RUNTIME_SYMBOLS, TypeInfo};

use crate::mem::{MemError, Memory};

/// A field: where it is in its struct and how many bytes it has.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fld {
    pub off: usize,
    pub size: usize,
}

impl Fld {
    /// The field as an unsigned little-endian integer (0 when out of range).
    pub fn u(self, b: &[u8]) -> u64 {
        let n = self.size.min(8);
        if n == 0 || self.off + n > b.len() {
            return 0;
        }
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(&b[self.off..self.off + n]);
        u64::from_le_bytes(a)
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
}

macro_rules! fields {
    ($name:ident { $($f:ident = $path:literal),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name { $(pub $f: Fld),* }
        impl $name {
            fn resolve(ty: Option<&TypeInfo>, tyname: &str, missing: &mut Vec<String>) -> Self {
                let mut out = Self::default();
                $(
                    match ty.and_then(|t| t.field($path)) {
                        Some((off, fty)) => out.$f = Fld { off: off as usize, size: fty.size as usize },
                        None => if ty.is_some() { missing.push(format!("{}.{}", tyname, $path)) },
                    }
                )*
                out
            }
        }
    };
}

fields!(GF {
    stack_lo = "stack.lo",
    stack_hi = "stack.hi",
    sp = "sched.sp",
    pc = "sched.pc",
    bp = "sched.bp",
    goid = "goid",
    status = "atomicstatus",
    reason = "waitreason",
    m = "m",
    startpc = "startpc",
    cfile = "created_file",
    cfile_len = "created_file_len",
    cline = "created_line",
    parent = "parent_goid",
    schedlink = "schedlink",
});

fields!(MF {
    id = "id",
    procid = "procid",
    g0 = "g0",
    curg = "curg",
    p = "p",
    spinning = "spinning",
    blocked = "blocked",
    alllink = "alllink",
    schedlink = "schedlink",
});

fields!(PF {
    id = "id",
    status = "status",
    m = "m",
    runqhead = "runqhead",
    runqtail = "runqtail",
    runq = "runq",
    runnext = "runnext",
    link = "link",
});

fields!(SF {
    midle = "midle",
    nmidle = "nmidle",
    nmspinning = "nmspinning",
    pidle = "pidle",
    npidle = "npidle",
    runq_head = "runq.head",
    runq_tail = "runq.tail",
    runqsize = "runqsize",
    goidgen = "goidgen",
    mnext = "mnext",
});

/// Everything the extension knows about the runtime of one binary.
#[derive(Debug, Default)]
pub struct Runtime {
    pub g_size: usize,
    pub m_size: usize,
    pub p_size: usize,
    pub sched_size: usize,
    pub g: GF,
    pub m: MF,
    pub p: PF,
    pub s: SF,
    /// Capacity of `P.runq`.
    pub runq_cap: u64,
    /// Wait reason value -> Go's string.
    pub reasons: HashMap<u64, String>,
    /// Full DWARF names of G, M, P, Sched (for gdb type lookups).
    pub type_names: HashMap<String, String>,
    /// Symbol file addresses: `runtime.allgs` etc.
    pub syms: HashMap<String, u64>,
    /// `runtime.tlsg`'s offset from the thread pointer.
    pub tpoff: Option<i64>,
    /// Items of the debugger-visible layout the binary lacks (`G.goid`, `symbol runtime.allm`).
    pub missing: Vec<String>,
    /// Load bias of a PIE (run-time minus file addresses; 0 otherwise).
    pub bias: u64,
}

/// CamelCase enumerator name -> Go-style words (`ChanReceive` -> `chan receive`).
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

impl Runtime {
    /// Reads layouts and symbols from `bin`.
    pub fn load(bin: &debuginfo::Binary) -> Result<Runtime, String> {
        let layouts = Layouts::runtime(bin).map_err(|e| e.to_string())?;
        let mut rt = Runtime::default();
        let mut missing = Vec::new();
        for (ty, _) in RUNTIME_FIELDS {
            match layouts.get(ty) {
                Some(t) => {
                    rt.type_names.insert((*ty).to_string(), t.name.clone());
                }
                None => missing.push(format!("type runtime::{ty}")),
            }
        }
        let g = layouts.get("G");
        let m = layouts.get("M");
        let p = layouts.get("P");
        let s = layouts.get("Sched");
        rt.g_size = g.map_or(0, |t| t.size as usize);
        rt.m_size = m.map_or(0, |t| t.size as usize);
        rt.p_size = p.map_or(0, |t| t.size as usize);
        rt.sched_size = s.map_or(0, |t| t.size as usize);
        rt.g = GF::resolve(g, "G", &mut missing);
        rt.m = MF::resolve(m, "M", &mut missing);
        rt.p = PF::resolve(p, "P", &mut missing);
        rt.s = SF::resolve(s, "Sched", &mut missing);
        if let Some((_, runq)) = p.and_then(|t| t.field("runq"))
            && let Kind::Array { count, .. } = runq.kind
        {
            rt.runq_cap = count;
        }
        if let Some(w) = layouts.get("WaitReason") {
            for (v, name) in w.enumerators() {
                let go = if name == "Zero" {
                    String::new()
                } else {
                    words(name)
                };
                rt.reasons.insert(*v as u64, go);
            }
        }
        for name in RUNTIME_SYMBOLS {
            if *name == "runtime.tlsg" {
                rt.tpoff = bin.tls_tpoff(name);
                if rt.tpoff.is_none() {
                    missing.push(format!("TLS symbol {name}"));
                }
                continue;
            }
            match bin.symbol(name) {
                Some(sym) => {
                    rt.syms.insert((*name).to_string(), sym.address);
                }
                None => missing.push(format!("symbol {name}")),
            }
        }
        rt.read_reason_strings(bin);
        rt.missing = missing;
        Ok(rt)
    }

    /// When the runtime exports its wait-reason strings
    /// (`runtime.waitReasonStrings: [&str; N]`), take Go's exact strings
    /// from the binary instead of the enumerator names.
    fn read_reason_strings(&mut self, bin: &debuginfo::Binary) {
        let Some(sym) = bin.symbol("runtime.waitReasonStrings") else {
            return;
        };
        let n = sym.size / 16;
        let Some(table) = bin.read_at(sym.address, n * 16) else {
            return;
        };
        for i in 0..n as usize {
            let ptr = u64::from_le_bytes(table[i * 16..i * 16 + 8].try_into().unwrap());
            let len = u64::from_le_bytes(table[i * 16 + 8..i * 16 + 16].try_into().unwrap());
            if len > 256 {
                continue;
            }
            let s = if len == 0 {
                Some(Vec::new())
            } else {
                bin.read_at(ptr, len)
            };
            if let Some(s) = s.and_then(|s| String::from_utf8(s).ok()) {
                self.reasons.insert(i as u64, s);
            }
        }
    }

    /// As [`Runtime::read_reason_strings`], from the inferior's memory (a
    /// PIE's table is only right once relocated).
    pub fn read_reason_strings_mem(&mut self, bin: &debuginfo::Binary, mem: &Memory) {
        let Some(sym) = bin.symbol("runtime.waitReasonStrings") else {
            return;
        };
        let n = (sym.size / 16) as usize;
        let Ok(table) = mem.bytes(sym.address.wrapping_add(self.bias), n * 16) else {
            return;
        };
        for i in 0..n {
            let ptr = u64::from_le_bytes(table[i * 16..i * 16 + 8].try_into().unwrap());
            let len = u64::from_le_bytes(table[i * 16 + 8..i * 16 + 16].try_into().unwrap());
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

    /// Run-time address of a contract symbol.
    pub fn sym(&self, name: &str) -> Option<u64> {
        self.syms.get(name).map(|a| a.wrapping_add(self.bias))
    }

    pub fn reason(&self, v: u64) -> String {
        self.reasons
            .get(&v)
            .cloned()
            .unwrap_or_else(|| format!("reason {v}"))
    }
}

/// Go's G status names (the scan bit 0x1000 stripped).
pub fn status_name(s: u32) -> &'static str {
    match s & !0x1000 {
        0 => "idle",
        1 => "runnable",
        2 => "running",
        3 => "syscall",
        4 => "waiting",
        5 => "moribund",
        6 => "dead",
        7 => "enqueue",
        8 => "copystack",
        9 => "preempted",
        _ => "???",
    }
}

pub const GRUNNING: u32 = 2;
pub const GSYSCALL: u32 = 3;
pub const GWAITING: u32 = 4;
pub const GDEAD: u32 = 6;

/// P status names.
pub fn pstatus_name(s: u32) -> &'static str {
    match s {
        0 => "idle",
        1 => "running",
        2 => "syscall",
        3 => "gcstop",
        4 => "dead",
        _ => "???",
    }
}

/// One decoded G.
#[derive(Debug, Clone, Default)]
pub struct GInfo {
    pub addr: u64,
    pub goid: i64,
    pub status: u32,
    pub reason: u64,
    pub m: u64,
    pub sp: u64,
    pub pc: u64,
    pub bp: u64,
    pub lo: u64,
    pub hi: u64,
    pub startpc: u64,
    pub cfile: u64,
    pub cfile_len: u64,
    pub cline: u32,
    pub parent: i64,
}

/// One decoded M.
#[derive(Debug, Clone, Default)]
pub struct MInfo {
    pub addr: u64,
    pub id: i64,
    pub procid: u64,
    pub g0: u64,
    pub curg: u64,
    pub p: u64,
    pub spinning: bool,
    pub blocked: bool,
    pub schedlink: u64,
}

/// One decoded P.
#[derive(Debug, Clone, Default)]
pub struct PInfo {
    pub addr: u64,
    pub id: i32,
    pub status: u32,
    pub m: u64,
    pub runqhead: u32,
    pub runqtail: u32,
    pub runnext: u64,
    pub link: u64,
    /// The queued Gs, oldest first.
    pub runq: Vec<u64>,
}

/// Why the state could not be read at all.
#[derive(Debug)]
pub enum ReadError {
    /// Stopped before the runtime created its first G/M/P.
    NotInitialised(&'static str),
    /// The binary lacks what is needed.
    Missing(String),
    /// A root (allgs, allm, allp) could not be read.
    Mem(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotInitialised(what) => write!(
                f,
                "the runtime is not initialised yet ({what}): no G, M or P exists before runtime.schedinit"
            ),
            ReadError::Missing(m) => {
                write!(f, "this binary lacks {m}; is it built on the gdbx runtime?")
            }
            ReadError::Mem(m) => write!(f, "{m}"),
        }
    }
}

/// Sanity bound for the number of Gs (garbage `allglen`).
const MAX_GS: u64 = 50_000_000;
/// Sanity bound for the number of Ms and Ps.
const MAX_MS: usize = 100_000;

impl Runtime {
    fn need(&self, name: &str) -> Result<u64, ReadError> {
        self.sym(name)
            .ok_or_else(|| ReadError::Missing(format!("symbol {name}")))
    }

    pub fn decode_g(&self, addr: u64, b: &[u8]) -> GInfo {
        let g = &self.g;
        GInfo {
            addr,
            goid: g.goid.i(b),
            status: g.status.u(b) as u32,
            reason: g.reason.u(b),
            m: g.m.u(b),
            sp: g.sp.u(b),
            pc: g.pc.u(b),
            bp: g.bp.u(b),
            lo: g.stack_lo.u(b),
            hi: g.stack_hi.u(b),
            startpc: g.startpc.u(b),
            cfile: g.cfile.u(b),
            cfile_len: g.cfile_len.u(b),
            cline: g.cline.u(b) as u32,
            parent: g.parent.i(b),
        }
    }

    pub fn read_g(&self, mem: &Memory, addr: u64) -> Result<GInfo, MemError> {
        let b = mem.bytes(addr, self.g_size)?;
        Ok(self.decode_g(addr, &b))
    }

    /// Every G of `runtime.allgs`, plus one line per entry that could not be
    /// decoded (unreadable, or not a goroutine).
    pub fn read_gs(&self, mem: &Memory) -> Result<(Vec<GInfo>, Vec<String>), ReadError> {
        let allgs_sym = self.need("runtime.allgs")?;
        let allglen_sym = self.need("runtime.allglen")?;
        let rd = |what: &str, e: MemError| ReadError::Mem(format!("cannot read {what}: {e}"));
        let allgs = mem.u64(allgs_sym).map_err(|e| rd("runtime.allgs", e))?;
        let n = mem.u64(allglen_sym).map_err(|e| rd("runtime.allglen", e))?;
        if allgs == 0 || n == 0 {
            return Err(ReadError::NotInitialised("runtime.allgs is empty"));
        }
        if n > MAX_GS {
            return Err(ReadError::Mem(format!(
                "runtime.allglen is {n}: garbage (memory corrupted?)"
            )));
        }
        let raw = mem
            .bytes(allgs, n as usize * 8)
            .map_err(|e| rd("the runtime.allgs array", e))?;
        let ptrs: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let mut gs = Vec::with_capacity(ptrs.len());
        let mut bad = Vec::new();
        let good: Vec<(usize, u64)> = ptrs
            .iter()
            .copied()
            .enumerate()
            .filter(|&(i, p)| {
                if p == 0 || !p.is_multiple_of(8) {
                    bad.push(format!("allgs[{i}] = {p:#x}: not a G pointer"));
                    false
                } else {
                    true
                }
            })
            .collect();
        let addrs: Vec<u64> = good.iter().map(|&(_, p)| p).collect();
        let batch = mem.many(&addrs, self.g_size);
        for (k, &(i, p)) in good.iter().enumerate() {
            match batch.get(k) {
                Some(b) => {
                    let g = self.decode_g(p, b);
                    if let Some(why) = self.g_is_garbage(&g) {
                        bad.push(format!("allgs[{i}] = G at {p:#x}: {why}"));
                    } else {
                        gs.push(g);
                    }
                }
                None => bad.push(format!(
                    "allgs[{i}] = G at {p:#x}: {}",
                    MemError {
                        addr: p,
                        len: self.g_size
                    }
                )),
            }
        }
        gs.sort_by_key(|g| g.goid);
        Ok((gs, bad))
    }

    /// Why a decoded G cannot be a goroutine, if it cannot.
    pub fn g_is_garbage(&self, g: &GInfo) -> Option<String> {
        if status_name(g.status) == "???" {
            return Some(format!(
                "status {} is not a goroutine status (garbage?)",
                g.status
            ));
        }
        if g.goid < 0 {
            return Some(format!("goid {} is negative (garbage?)", g.goid));
        }
        if g.status & !0x1000 != GDEAD && g.lo > g.hi {
            return Some(format!(
                "stack [{:#x}, {:#x}) is inverted (garbage?)",
                g.lo, g.hi
            ));
        }
        None
    }

    pub fn decode_m(&self, addr: u64, b: &[u8]) -> MInfo {
        let m = &self.m;
        MInfo {
            addr,
            id: m.id.i(b),
            procid: m.procid.u(b),
            g0: m.g0.u(b),
            curg: m.curg.u(b),
            p: m.p.u(b),
            spinning: m.spinning.u(b) != 0,
            blocked: m.blocked.u(b) != 0,
            schedlink: m.schedlink.u(b),
        }
    }

    /// Every M of `runtime.allm` (a list: cycles and bad links are reported).
    pub fn read_ms(&self, mem: &Memory) -> Result<(Vec<MInfo>, Vec<String>), ReadError> {
        let allm_sym = self.need("runtime.allm")?;
        let head = mem
            .u64(allm_sym)
            .map_err(|e| ReadError::Mem(format!("cannot read runtime.allm: {e}")))?;
        if head == 0 {
            return Err(ReadError::NotInitialised("runtime.allm is empty"));
        }
        let mut ms = Vec::new();
        let mut bad = Vec::new();
        let mut seen = HashSet::new();
        let mut cur = head;
        while cur != 0 {
            if !seen.insert(cur) {
                bad.push(format!(
                    "runtime.allm list loops back to M at {cur:#x}; stopped there"
                ));
                break;
            }
            if ms.len() >= MAX_MS {
                bad.push(format!("runtime.allm has more than {MAX_MS} Ms; stopped"));
                break;
            }
            match mem.bytes(cur, self.m_size) {
                Ok(b) => {
                    ms.push(self.decode_m(cur, &b));
                    cur = self.m.alllink.u(&b);
                }
                Err(e) => {
                    bad.push(format!(
                        "M at {cur:#x} (in runtime.allm): {e}; the rest of the list is lost"
                    ));
                    break;
                }
            }
        }
        ms.sort_by_key(|m| m.id);
        Ok((ms, bad))
    }

    pub fn decode_p(&self, addr: u64, b: &[u8]) -> PInfo {
        let p = &self.p;
        let head = p.runqhead.u(b) as u32;
        let tail = p.runqtail.u(b) as u32;
        let mut runq = Vec::new();
        let cap = self.runq_cap.max(1) as u32;
        let n = tail.wrapping_sub(head);
        if n <= cap {
            for k in 0..n {
                let slot = (head.wrapping_add(k) % cap) as usize;
                let f = Fld {
                    off: p.runq.off + slot * 8,
                    size: 8,
                };
                runq.push(f.u(b));
            }
        }
        PInfo {
            addr,
            id: p.id.i(b) as i32,
            status: p.status.u(b) as u32,
            m: p.m.u(b),
            runqhead: head,
            runqtail: tail,
            runnext: p.runnext.u(b),
            link: p.link.u(b),
            runq,
        }
    }

    /// `allp[0..gomaxprocs]`.
    pub fn read_ps(&self, mem: &Memory) -> Result<(Vec<PInfo>, Vec<String>), ReadError> {
        let allp_sym = self.need("runtime.allp")?;
        let n_sym = self.need("runtime.gomaxprocs")?;
        let rd = |what: &str, e: MemError| ReadError::Mem(format!("cannot read {what}: {e}"));
        let allp = mem.u64(allp_sym).map_err(|e| rd("runtime.allp", e))?;
        let mut nb = [0u8; 4];
        mem.read(n_sym, &mut nb)
            .map_err(|e| rd("runtime.gomaxprocs", e))?;
        let n = i32::from_le_bytes(nb);
        if allp == 0 || n <= 0 {
            return Err(ReadError::NotInitialised("runtime.allp is empty"));
        }
        if n as usize > MAX_MS {
            return Err(ReadError::Mem(format!(
                "runtime.gomaxprocs is {n}: garbage"
            )));
        }
        let raw = mem
            .bytes(allp, n as usize * 8)
            .map_err(|e| rd("the runtime.allp array", e))?;
        let mut ps = Vec::new();
        let mut bad = Vec::new();
        for (i, c) in raw.chunks_exact(8).enumerate() {
            let a = u64::from_le_bytes(c.try_into().unwrap());
            if a == 0 {
                bad.push(format!("allp[{i}] is null"));
                continue;
            }
            match mem.bytes(a, self.p_size) {
                Ok(b) => ps.push(self.decode_p(a, &b)),
                Err(e) => bad.push(format!("allp[{i}] = P at {a:#x}: {e}")),
            }
        }
        Ok((ps, bad))
    }

    /// `runtime.sched`, raw.
    pub fn read_sched(&self, mem: &Memory) -> Result<Vec<u8>, ReadError> {
        let a = self.need("runtime.sched")?;
        mem.bytes(a, self.sched_size)
            .map_err(|e| ReadError::Mem(format!("cannot read runtime.sched: {e}")))
    }

    /// The current g of a thread, from its thread-local slot.
    pub fn thread_g(&self, mem: &Memory, fs_base: u64) -> Option<u64> {
        let tp = self.tpoff?;
        if fs_base == 0 {
            return None;
        }
        mem.u64(fs_base.wrapping_add(tp as u64)).ok()
    }
}
