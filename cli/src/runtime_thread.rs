//! A stopped thread as the runtime knows it: the G it runs (its
//! thread-local g), that G's M, and the M's P, read through the inspection
//! core from the stopped process. One reading for break-bootstrap's hits
//! and the tour's stops.

use inspect::{G, M, Memory, P, Program};

/// Who a stopped thread is to the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeThread {
    /// The goroutine it runs; None on the M's own stack (g0).
    pub goid: Option<i64>,
    /// Its M's id; None when the M could not be read.
    pub m: Option<i64>,
    /// Whether the M holds a P.
    pub has_p: bool,
    /// That P's id, when it could be read.
    pub p: Option<i64>,
}

impl RuntimeThread {
    /// The thread whose thread pointer is `fs_base`; None before the
    /// runtime has given it a g (the first steps of the bootstrap).
    pub fn read(prog: &Program, mem: &dyn Memory, fs_base: u64) -> Option<RuntimeThread> {
        let g = read_g(prog, mem, prog.decoder().thread_g(mem, fs_base)?)?;
        let m = read_m(prog, mem, g.m);
        let p = m.as_ref().map_or(0, |m| m.p);
        Some(RuntimeThread {
            goid: (g.goid != 0 && m.as_ref().is_none_or(|m| m.g0 != g.addr)).then_some(g.goid),
            m: m.as_ref().map(|m| m.id),
            has_p: p != 0,
            p: read_p(prog, mem, p).map(|p| i64::from(p.id)),
        })
    }

    /// `M0 (P0)`, `M1 (no P)`, or with a goroutine `g2 on M0 (P0)`.
    pub fn name(&self) -> String {
        let m = self.m.map_or("M?".into(), |id| format!("M{id}"));
        let p = match (self.has_p, self.p) {
            (false, _) => "no P".to_string(),
            (true, Some(id)) => format!("P{id}"),
            (true, None) => "P?".to_string(),
        };
        match self.goid {
            Some(goid) => format!("g{goid} on {m} ({p})"),
            None => format!("{m} ({p})"),
        }
    }
}

/// The G at `addr` (None for 0 or unreadable).
pub fn read_g(prog: &Program, mem: &dyn Memory, addr: u64) -> Option<G> {
    (addr != 0)
        .then(|| prog.decoder().read_g(mem, addr).ok())
        .flatten()
}

/// The M at `addr` (None for 0 or unreadable).
pub fn read_m(prog: &Program, mem: &dyn Memory, addr: u64) -> Option<M> {
    let size = prog.layout().m_size;
    let b = (addr != 0).then(|| mem.bytes(addr, size).ok())??;
    Some(prog.decoder().decode_m(addr, &b))
}

/// The P at `addr` (None for 0 or unreadable).
pub fn read_p(prog: &Program, mem: &dyn Memory, addr: u64) -> Option<P> {
    let size = prog.layout().p_size;
    let b = (addr != 0).then(|| mem.bytes(addr, size).ok())??;
    Some(prog.decoder().decode_p(addr, &b))
}
