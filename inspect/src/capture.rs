//! Capturing a live program's runtime state in one short pause: copy the
//! memory that decoding and unwinding read, then let the program go on and
//! do all the decoding, unwinding and symbolising on the copy.
//!
//! What is copied ([`Program::capture`]):
//! - the executable's writable segments (the runtime's globals:
//!   `runtime.allgs`, `allm`, `allp`, `sched`, the wait-reason table);
//! - the `allgs` array and every G, each M of `allm` with its g0, the
//!   `allp` array and every P (neighbouring objects in one piece, as
//!   [`Memory::each_object`] reads them);
//! - each thread's thread-local g slot;
//! - the used part of every stack: a goroutine's from its saved sp (and
//!   its syscall sp) to its top, a thread's from its sp to the top of the
//!   stack of the g it runs.
//!
//! A read of anything else fails on the copy; callers chain the copy with
//! the live process or the executable ([`crate::Chain`]) for what is not
//! copied (text, read-only data).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Program;
use crate::mem::{CoreThread, MemError, Memory, neighbour_runs};

/// Stacks deeper than this are copied up to it (the unwinder then reads
/// the rest from what the copy is chained with).
const MAX_STACK: u64 = 1 << 20;
/// The x86-64 red zone below a thread's stack pointer.
const RED_ZONE: u64 = 128;

/// How many ranges below an address a read looks at.
const LOOK_BACK: usize = 8;

/// Copied ranges of another memory.
#[derive(Debug, Default)]
pub struct Captured {
    buf: Vec<u8>,
    /// (address, offset in `buf`, length), sorted by address after
    /// [`Captured::sort`]. Ranges may overlap (a stack copied from its sp
    /// and again from its syscall sp), never by much.
    ranges: Vec<(u64, usize, usize)>,
    /// See [`Captured::sort`].
    reach: Vec<usize>,
    /// The range the last read was served from: reads come in runs over
    /// one stack (an unwinding) or one object (a decoding), and checking
    /// it first saves the search over every range for most of them.
    last: AtomicUsize,
}

impl Captured {
    /// Bytes copied.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Copies `reqs` from `mem` in one batch; pieces that cannot be read
    /// are left out.
    fn copy(&mut self, mem: &dyn Memory, reqs: &[(u64, usize)]) {
        let reqs: Vec<(u64, usize)> = reqs.iter().copied().filter(|r| r.1 > 0).collect();
        // Read straight into `buf` (a failed piece leaves a hole).
        let mut offs = Vec::with_capacity(reqs.len() + 1);
        let mut total = self.buf.len();
        for &(_, len) in &reqs {
            offs.push(total);
            total += len;
        }
        offs.push(total);
        self.buf.resize(total, 0);
        let mut ok = vec![false; reqs.len()];
        mem.read_pieces(&reqs, &offs, &mut self.buf, &mut ok);
        for (i, &(addr, len)) in reqs.iter().enumerate() {
            if ok[i] {
                self.ranges.push((addr, offs[i], len));
            }
        }
    }

    /// Copies `addrs.len()` objects of `len` bytes, neighbours as one
    /// piece; a piece that fails is copied object by object.
    fn copy_objects(&mut self, mem: &dyn Memory, addrs: &[u64], len: usize) {
        let mut sorted: Vec<u64> = addrs.iter().copied().filter(|&a| a != 0).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let runs = neighbour_runs(sorted.iter().copied(), len);
        let reqs: Vec<(u64, usize)> = runs.iter().map(|r| (r.0, (r.1 - r.0) as usize)).collect();
        let before = self.ranges.len();
        self.copy(mem, &reqs);
        let got: std::collections::HashSet<u64> =
            self.ranges[before..].iter().map(|r| r.0).collect();
        let singles: Vec<(u64, usize)> = runs
            .iter()
            .filter(|r| !got.contains(&r.0))
            .flat_map(|r| sorted[r.2..r.3].iter().map(|&a| (a, len)))
            .collect();
        self.copy(mem, &singles);
    }

    /// Sorts the ranges by address (largest first among equal starts).
    /// Also notes, for each range, the one reaching furthest among it
    /// and those before it (a writable segment holding copied objects).
    fn sort(&mut self) {
        self.ranges
            .sort_unstable_by_key(|r| (r.0, std::cmp::Reverse(r.2)));
        self.reach.clear();
        let mut best = 0;
        for (i, r) in self.ranges.iter().enumerate() {
            let b = self.ranges[best];
            if r.0 + r.2 as u64 > b.0 + b.2 as u64 {
                best = i;
            }
            self.reach.push(best);
        }
    }
}

impl Memory for Captured {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let err = MemError {
            addr,
            len: buf.len(),
        };
        let end = addr.checked_add(buf.len() as u64).ok_or(err)?;
        let serve = |k: usize, buf: &mut [u8]| -> bool {
            let (a, off, len) = self.ranges[k];
            let hit = a <= addr && end <= a + len as u64;
            if hit {
                let o = off + (addr - a) as usize;
                buf.copy_from_slice(&self.buf[o..o + buf.len()]);
                self.last.store(k, Ordering::Relaxed);
            }
            hit
        };
        let last = self.last.load(Ordering::Relaxed);
        if last < self.ranges.len() && serve(last, buf) {
            return Ok(());
        }
        let i = self.ranges.partition_point(|r| r.0 <= addr);
        // The nearest ranges that start at or below `addr`; overlaps are
        // few, so a handful covers them.
        let far = i.checked_sub(1).map(|j| self.reach[j]);
        for k in (i.saturating_sub(LOOK_BACK)..i).rev().chain(far) {
            if serve(k, buf) {
                return Ok(());
            }
        }
        Err(err)
    }
}

impl Program {
    /// Copies what decoding and unwinding the runtime's state reads from
    /// `mem` (see the module docs). `threads` are the stopped threads
    /// with their registers.
    pub fn capture(&self, mem: &dyn Memory, threads: &[CoreThread]) -> Captured {
        use object::read::elf::ProgramHeader;
        let prof = std::env::var_os("GDBX_PROFILE").is_some();
        let t0 = std::time::Instant::now();
        let mut c = Captured::default();
        let d = self.decoder();
        let lay = self.layout();
        // The writable segments: the runtime's globals.
        let elf = self.binary().object();
        let endian = elf.endian();
        let segs: Vec<(u64, usize)> = elf
            .elf_program_headers()
            .iter()
            .filter(|ph| {
                ph.p_type(endian) == object::elf::PT_LOAD
                    && (ph.p_flags(endian) & object::elf::PF_W).0 != 0
            })
            .map(|ph| {
                let start = ph.p_vaddr(endian).wrapping_add(self.bias);
                let end = start + ph.p_memsz(endian);
                // Whole pages, as mapped.
                let start = start & !4095;
                (start, (end.div_ceil(4096) * 4096 - start) as usize)
            })
            .collect();
        c.copy(mem, &segs);
        // The Gs.
        let gptrs = d.allgs(mem).unwrap_or_default();
        if let Some(a) = lay.sym("runtime.allgs", self.bias)
            && let Ok(arr) = mem.u64(a)
        {
            c.copy(mem, &[(arr, gptrs.len() * 8)]);
        }
        let good: Vec<u64> = gptrs
            .iter()
            .copied()
            .filter(|&p| p != 0 && p.is_multiple_of(8))
            .collect();
        c.copy_objects(mem, &good, lay.g_size);
        // The Ms and their g0s, the Ps.
        let (ms, _) = d.read_ms(mem).unwrap_or_default();
        let maddrs: Vec<u64> = ms.iter().map(|m| m.addr).collect();
        c.copy_objects(mem, &maddrs, lay.m_size);
        let g0s: Vec<u64> = ms.iter().map(|m| m.g0).collect();
        c.copy_objects(mem, &g0s, lay.g_size);
        if let Some(a) = lay.sym("runtime.allp", self.bias)
            && let (Ok(arr), Some(n)) = (
                mem.u64(a),
                lay.sym("runtime.gomaxprocs", self.bias)
                    .and_then(|n| mem.u32(n).ok()),
            )
            && n as usize <= 100_000
        {
            c.copy(mem, &[(arr, n as usize * 8)]);
        }
        let (ps, _) = d.read_ps(mem).unwrap_or_default();
        let paddrs: Vec<u64> = ps.iter().map(|p| p.addr).collect();
        c.copy_objects(mem, &paddrs, lay.p_size);
        // Each thread's g slot; then the stacks, reading the Gs from the copy.
        if let Some(tp) = lay.tpoff {
            let slots: Vec<(u64, usize)> = threads
                .iter()
                .filter(|t| t.regs.fs_base != 0)
                .map(|t| (t.regs.fs_base.wrapping_add(tp as u64), 8))
                .collect();
            c.copy(mem, &slots);
        }
        c.sort();
        let mut stacks: Vec<(u64, usize)> = Vec::new();
        let used = |sp: u64, hi: u64| -> (u64, usize) {
            if sp == 0 {
                return (0, 0);
            }
            let hi = if hi > sp { hi } else { sp + 64 * 1024 };
            (sp, (hi - sp).min(MAX_STACK) as usize)
        };
        let mut gs = Vec::with_capacity(good.len());
        for &p in &good {
            if let Ok(g) = d.read_g(&c, p)
                && !d.is_dead(&g)
            {
                // Ours records where the G's frames end (G.startsp): above
                // it lie only its closure's bytes and the cache-colour gap,
                // two thirds of a parked G's used stack. A word of margin
                // for the entry trampoline's own slot.
                let top = if g.startsp > g.sp && g.startsp <= g.hi {
                    (g.startsp + 64).min(g.hi)
                } else {
                    g.hi
                };
                stacks.push(used(g.sp, top));
                stacks.push(used(g.syscallsp, top));
                gs.push(g);
            }
        }
        for t in threads {
            let hi = d
                .thread_g(&c, t.regs.fs_base)
                .and_then(|g| d.read_g(&c, g).ok())
                .map_or(0, |g| g.hi);
            // From the red zone up: the 128 bytes below rsp are the
            // running function's too (x86-64 ABI), and its CFI may still
            // name a saved register there (at `ret`, after `pop rbp`, the
            // rule for rbp is CFA-16, below rsp).
            let (sp, len) = used(t.regs.rsp.saturating_sub(RED_ZONE), hi);
            if hi > sp {
                stacks.push((sp, len));
            } else {
                // Unknown top: as much as can be read.
                let to_page_end = ((sp | 4095) + 1 - sp) as usize;
                for len in [64 * 1024, 16 * 1024, 4096, to_page_end] {
                    let before = c.ranges.len();
                    c.copy(mem, &[(sp, len)]);
                    if c.ranges.len() > before {
                        break;
                    }
                }
            }
        }
        let t1 = t0.elapsed();
        c.copy(mem, &stacks);
        let t2 = t0.elapsed();
        c.sort();
        if prof {
            eprintln!(
                "gdbx profile: capture: state {t1:?}, +{} stacks {t2:?}, +merge {:?}",
                stacks.len(),
                t0.elapsed()
            );
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::Callback;

    /// Memory at 0x10000..0x20000 whose bytes are their address's low byte.
    fn fake() -> impl Memory {
        Callback(|addr: u64, buf: &mut [u8]| {
            if addr < 0x10000 || addr + buf.len() as u64 > 0x20000 {
                return false;
            }
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (addr as usize + i) as u8;
            }
            true
        })
    }

    #[test]
    fn reads_inside_any_copied_range_and_nothing_else() {
        let mem = fake();
        let mut c = Captured::default();
        // A big range holding small ones (a segment and its objects), an
        // overlapping pair, and a piece that cannot be read.
        c.copy(&mem, &[(0x10000, 0x4000), (0x10100, 16), (0x11000, 8)]);
        c.copy(&mem, &[(0x18000, 0x100), (0x18080, 0x100), (0x30000, 8)]);
        c.copy_objects(&mem, &[0x1c000, 0x1c040, 0x1f000], 32);
        c.sort();
        let at = |a: u64, n: usize| c.bytes(a, n).ok();
        assert_eq!(
            at(0x13ff8, 8).unwrap()[0],
            0xf8,
            "in the big range, past the small ones"
        );
        assert_eq!(
            at(0x18150, 0x20).unwrap()[0],
            0x50,
            "in the second of an overlapping pair"
        );
        assert_eq!(at(0x1c040, 32).unwrap()[31], 0x5f);
        assert!(at(0x1f000, 32).is_some());
        assert!(
            at(0x13ffc, 8).is_none(),
            "runs past the end of the big range"
        );
        assert!(at(0x30000, 8).is_none(), "never copied");
        assert!(at(0x1c060, 0x100).is_none(), "between objects");
    }
}
