//! The runtime's state decoded: G, M, P and the scheduler, read through a
//! [`Layout`] from any [`Memory`]. One model for both flavours.
//!
//! Reading is defensive: the program may be stopped anywhere (inside the
//! scheduler, half-way through creating a G) or its memory may be corrupt.
//! Each root (`runtime.allgs`, `allm`, `allp`) that cannot be read fails
//! the whole read with a [`ReadError`] that says why in one line; each
//! entry that cannot be read or is not plausibly what it should be becomes
//! one line in the "bad" list, and the rest is still decoded.

use std::collections::HashSet;

use crate::flavour::{Fld, Layout};
use crate::mem::{MemError, Memory};

/// One decoded G. Fields a flavour lacks read as 0.
#[derive(Debug, Clone, Default)]
pub struct G {
    pub addr: u64,
    pub goid: i64,
    /// The raw status (scan bit included).
    pub status: u32,
    pub reason: u64,
    /// When the G started waiting (the runtime's nanotime; 0: unknown).
    pub waitsince: i64,
    pub m: u64,
    /// Saved context (`G.sched`).
    pub sp: u64,
    pub pc: u64,
    pub bp: u64,
    /// Stack bounds `[lo, hi)`.
    pub lo: u64,
    pub hi: u64,
    /// The entry function.
    pub startpc: u64,
    /// Go: the pc of the `go` statement that created the G.
    pub gopc: u64,
    /// Ours: file and line of the `go` call, and the creating goroutine.
    pub cfile: u64,
    pub cfile_len: u64,
    pub cline: u32,
    pub parent: i64,
    /// Where the G entered a system call (0 unless in one).
    pub syscallsp: u64,
    pub syscallpc: u64,
    pub syscallbp: u64,
    pub schedlink: u64,
    /// The M the G is wired to by LockOSThread (0: none).
    pub lockedm: u64,
    /// Ours: the sp the G started with (its frames are all below it); 0
    /// when unknown (Go).
    pub startsp: u64,
}

/// One decoded M.
#[derive(Debug, Clone, Default)]
pub struct M {
    pub addr: u64,
    pub id: i64,
    /// The OS thread id.
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
pub struct P {
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

/// The scheduler's counters and list heads (`runtime.sched`).
#[derive(Debug, Clone, Default)]
pub struct Sched {
    pub midle: u64,
    pub nmidle: i64,
    pub nmspinning: u64,
    pub pidle: u64,
    pub npidle: u64,
    pub runq_head: u64,
    pub runq_tail: u64,
    pub runqsize: i64,
    pub goidgen: u64,
    pub mnext: i64,
}

/// Why the state could not be read at all.
#[derive(Debug, Clone)]
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
            ReadError::Missing(m) => write!(f, "this binary lacks {m}"),
            ReadError::Mem(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Sanity bound for the number of Gs (garbage `allglen`).
const MAX_GS: u64 = 50_000_000;
/// Sanity bound for the number of Ms and Ps.
const MAX_MS: usize = 100_000;

/// The decoder: a [`Layout`] at a load bias.
#[derive(Debug, Clone, Copy)]
pub struct Decoder<'a> {
    pub layout: &'a Layout,
    /// Run-time minus file addresses (0 unless PIE).
    pub bias: u64,
}

fn rd(what: &str, e: MemError) -> ReadError {
    ReadError::Mem(format!("cannot read {what}: {e}"))
}

impl Decoder<'_> {
    fn need(&self, name: &str) -> Result<u64, ReadError> {
        self.layout
            .sym(name, self.bias)
            .ok_or_else(|| ReadError::Missing(format!("symbol {name}")))
    }

    pub fn decode_g(&self, addr: u64, b: &[u8]) -> G {
        let g = &self.layout.g;
        G {
            addr,
            goid: g.goid.i(b),
            status: g.status.u(b) as u32,
            reason: g.reason.u(b),
            waitsince: g.waitsince.i(b),
            m: g.m.u(b),
            sp: g.sp.u(b),
            pc: g.pc.u(b),
            bp: g.bp.u(b),
            lo: g.stack_lo.u(b),
            hi: g.stack_hi.u(b),
            startpc: g.startpc.u(b),
            gopc: g.gopc.u(b),
            cfile: g.cfile.u(b),
            cfile_len: g.cfile_len.u(b),
            cline: g.cline.u(b) as u32,
            parent: g.parent.i(b),
            syscallsp: g.syscallsp.u(b),
            syscallpc: g.syscallpc.u(b),
            syscallbp: g.syscallbp.u(b),
            schedlink: g.schedlink.u(b),
            lockedm: g.lockedm.u(b),
            startsp: g.startsp.u(b),
        }
    }

    pub fn read_g(&self, mem: &dyn Memory, addr: u64) -> Result<G, MemError> {
        let b = mem.bytes(addr, self.layout.g_size)?;
        Ok(self.decode_g(addr, &b))
    }

    /// The addresses in `runtime.allgs[0..allglen]`. Both runtimes keep
    /// the array's address in the first word of `runtime.allgs` (ours: a
    /// pointer; Go: a slice).
    pub fn allgs(&self, mem: &dyn Memory) -> Result<Vec<u64>, ReadError> {
        let allgs = mem
            .u64(self.need("runtime.allgs")?)
            .map_err(|e| rd("runtime.allgs", e))?;
        let n = mem
            .u64(self.need("runtime.allglen")?)
            .map_err(|e| rd("runtime.allglen", e))?;
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
        Ok(raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }

    /// Every G of `runtime.allgs`, sorted by goid, plus one line per entry
    /// that could not be decoded (unreadable, or not a goroutine).
    pub fn read_gs(&self, mem: &dyn Memory) -> Result<(Vec<G>, Vec<String>), ReadError> {
        self.read_gs_as(mem, Vec::new(), |g| g, |g| g)
    }

    /// [`Decoder::read_gs`], each G handed to `wrap` as it is decoded and
    /// kept as what `wrap` makes of it (`g_of` gives the G back), in `into`
    /// (emptied first; its room is reused): so that a caller that adds to
    /// every G builds one vector, not a second one as big (100,000 Gs are
    /// tens of MB).
    pub fn read_gs_as<T>(
        &self,
        mem: &dyn Memory,
        into: Vec<T>,
        mut wrap: impl FnMut(G) -> T,
        g_of: impl Fn(&T) -> &G,
    ) -> Result<(Vec<T>, Vec<String>), ReadError> {
        let ptrs = self.allgs(mem)?;
        let mut gs = into;
        gs.clear();
        gs.reserve(ptrs.len());
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
        // Read in address order: the lines for bad entries are put back in
        // allgs order.
        let mut bad_at: Vec<(usize, String)> = Vec::new();
        mem.each_object(&addrs, self.layout.g_size, &mut |k, b| {
            let (i, p) = good[k];
            match b {
                Some(b) => {
                    let g = self.decode_g(p, b);
                    if let Some(why) = self.g_is_garbage(&g) {
                        bad_at.push((i, format!("allgs[{i}] = G at {p:#x}: {why}")));
                    } else {
                        gs.push(wrap(g));
                    }
                }
                None => bad_at.push((
                    i,
                    format!(
                        "allgs[{i}] = G at {p:#x}: {}",
                        MemError {
                            addr: p,
                            len: self.layout.g_size
                        }
                    ),
                )),
            }
        });
        bad_at.sort_by_key(|b| b.0);
        bad.extend(bad_at.into_iter().map(|b| b.1));
        sort_by_goid(&mut gs, g_of);
        Ok((gs, bad))
    }

    /// Why a decoded G cannot be a goroutine, if it cannot.
    pub fn g_is_garbage(&self, g: &G) -> Option<String> {
        if self.layout.status_name(g.status).is_none() {
            return Some(format!(
                "status {} is not a goroutine status (garbage?)",
                g.status
            ));
        }
        if g.goid < 0 {
            return Some(format!("goid {} is negative (garbage?)", g.goid));
        }
        if !self.is_dead(g) && g.lo > g.hi {
            return Some(format!(
                "stack [{:#x}, {:#x}) is inverted (garbage?)",
                g.lo, g.hi
            ));
        }
        None
    }

    /// The G's status without the scan bit.
    pub fn status(&self, g: &G) -> u32 {
        self.layout.base_status(g.status)
    }

    pub fn is_dead(&self, g: &G) -> bool {
        self.status(g) == self.layout.status.dead
    }

    /// Where a goroutine in a system call or a cgo call entered it, as
    /// (pc, sp, bp): what Go's traceback starts from for it
    /// (`G.syscallpc/sp`; Go saves no bp there, and takes `G.sched.bp`,
    /// which the cgo call's switch to g0 saved in the same frame; ours
    /// saves `G.syscallbp`). None unless in one.
    pub fn syscall_context(&self, g: &G) -> Option<(u64, u64, u64)> {
        if self.status(g) != self.layout.status.syscall || g.syscallsp == 0 || g.syscallpc == 0 {
            return None;
        }
        let bp = match self.layout.flavour {
            crate::Flavour::Go119 => g.bp,
            crate::Flavour::Ours => g.syscallbp,
        };
        Some((g.syscallpc, g.syscallsp, bp))
    }

    /// Where a goroutine's frames go on when its thread's unwinding
    /// reaches a switch to g0's stack ([`crate::unwind::Resume`]): where it
    /// entered its system call or cgo call, else its saved context
    /// (`G.sched`, which Go's switches to g0 set).
    pub fn resume(&self, g: &G) -> Option<crate::unwind::Resume> {
        let (pc, sp, bp) = self
            .syscall_context(g)
            .or((g.pc != 0).then_some((g.pc, g.sp, g.bp)))?;
        Some(crate::unwind::Resume {
            pc,
            sp,
            bp,
            lo: g.lo,
            hi: g.hi,
        })
    }

    pub fn decode_m(&self, addr: u64, b: &[u8]) -> M {
        let m = &self.layout.m;
        M {
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
    pub fn read_ms(&self, mem: &dyn Memory) -> Result<(Vec<M>, Vec<String>), ReadError> {
        let head = mem
            .u64(self.need("runtime.allm")?)
            .map_err(|e| rd("runtime.allm", e))?;
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
            match mem.bytes(cur, self.layout.m_size) {
                Ok(b) => {
                    ms.push(self.decode_m(cur, &b));
                    cur = self.layout.m.alllink.u(&b);
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

    pub fn decode_p(&self, addr: u64, b: &[u8]) -> P {
        let p = &self.layout.p;
        let head = p.runqhead.u(b) as u32;
        let tail = p.runqtail.u(b) as u32;
        let mut runq = Vec::new();
        let cap = self.layout.runq_cap.max(1) as u32;
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
        P {
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

    /// `allp[0..gomaxprocs]` (the array's address is the first word of
    /// `runtime.allp` in both runtimes).
    pub fn read_ps(&self, mem: &dyn Memory) -> Result<(Vec<P>, Vec<String>), ReadError> {
        let allp = mem
            .u64(self.need("runtime.allp")?)
            .map_err(|e| rd("runtime.allp", e))?;
        let n = mem
            .u32(self.need("runtime.gomaxprocs")?)
            .map_err(|e| rd("runtime.gomaxprocs", e))? as i32;
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
            match mem.bytes(a, self.layout.p_size) {
                Ok(b) => ps.push(self.decode_p(a, &b)),
                Err(e) => bad.push(format!("allp[{i}] = P at {a:#x}: {e}")),
            }
        }
        Ok((ps, bad))
    }

    /// `runtime.sched`.
    pub fn read_sched(&self, mem: &dyn Memory) -> Result<Sched, ReadError> {
        let a = self.need("runtime.sched")?;
        let b = mem
            .bytes(a, self.layout.sched_size)
            .map_err(|e| rd("runtime.sched", e))?;
        let s = &self.layout.sched;
        Ok(Sched {
            midle: s.midle.u(&b),
            nmidle: s.nmidle.i(&b),
            nmspinning: s.nmspinning.u(&b),
            pidle: s.pidle.u(&b),
            npidle: s.npidle.u(&b),
            runq_head: s.runq_head.u(&b),
            runq_tail: s.runq_tail.u(&b),
            runqsize: s.runqsize.i(&b),
            goidgen: s.goidgen.u(&b),
            mnext: s.mnext.i(&b),
        })
    }

    /// The current g of a thread, from its thread-local slot (`fs_base`:
    /// the thread pointer).
    pub fn thread_g(&self, mem: &dyn Memory, fs_base: u64) -> Option<u64> {
        let tp = self.layout.tpoff?;
        if fs_base == 0 {
            return None;
        }
        mem.u64(fs_base.wrapping_add(tp as u64)).ok()
    }
}

/// Sorts Gs (or what holds them: `g_of` gives the G) by goid (then
/// address), moving each at most a few times: they come in address order,
/// which for Go's heap is far from goid order, and a comparison sort of
/// 100,000 structs of 300 bytes spends most of its time moving them. The
/// order is sorted as indexes; then each G is swapped straight into its
/// place.
fn sort_by_goid<T>(gs: &mut [T], g_of: impl Fn(&T) -> &G) {
    let mut order: Vec<usize> = (0..gs.len()).collect();
    order.sort_unstable_by_key(|&i| (g_of(&gs[i]).goid, g_of(&gs[i]).addr));
    // place[i]: where the G now at i belongs.
    let mut place = vec![0; gs.len()];
    for (to, &from) in order.iter().enumerate() {
        place[from] = to;
    }
    for i in 0..gs.len() {
        while place[i] != i {
            let j = place[i];
            gs.swap(i, j);
            place.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_by_goid_puts_every_g_in_goid_order() {
        // A scrambled order (a multiplicative permutation of 0..n), with
        // equal goids told apart by address.
        let n = 1000u64;
        let mut gs: Vec<G> = (0..n)
            .map(|k| G {
                goid: ((k * 389) % n / 2) as i64,
                addr: k,
                ..G::default()
            })
            .collect();
        sort_by_goid(&mut gs, |g| g);
        let keys: Vec<(i64, u64)> = gs.iter().map(|g| (g.goid, g.addr)).collect();
        let mut want = keys.clone();
        want.sort();
        assert_eq!(keys, want);
        assert_eq!(gs.len(), n as usize);
    }
}
