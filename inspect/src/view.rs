//! The commands' work, shared by every front end (gdb's commands, `gdbx
//! goroutines`): place each goroutine on its thread, find its user-code
//! location, filter, group and format `info goroutines`, `info ms`, `info
//! ps`, `info sched` and the one-line descriptions of the G, M and P
//! printers.
//!
//! A [`View`] is one look at a stopped program: its memory and its threads
//! as the caller sees them. Building one costs nothing; each command reads
//! what it needs in bulk.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use crate::fastmap::FastMap;
use crate::flavour::{Flavour, Layout};
use crate::mem::Memory;
use crate::model::{Decoder, G as GInfo, M as MInfo, P as PInfo, ReadError};
use crate::sym::Symbols;

/// One thread of the inspected process as the caller sees it: its number
/// (gdb's thread number, or any id the caller shows), LWP, thread pointer
/// (`$fs_base`), `r14` (Go's g register in ABIInternal code; 0 when
/// unknown) and the pcs of its innermost frames as the caller unwound them
/// (frame 0 first; empty when not unwound).
#[derive(Debug, Clone, Default)]
pub struct Thread {
    pub num: i64,
    pub lwp: u64,
    pub fs_base: u64,
    pub r14: u64,
    pub pcs: Vec<u64>,
}

/// How many bytes of a parked goroutine's stack are read at once.
const STACK_WINDOW: u64 = 4096;
/// The inline-chain index under which [`View::loc_cache`] keeps the
/// location of a goroutine that has not started (its entry function).
const NOT_STARTED: usize = usize::MAX;
/// How many frames are walked looking for user code: on a parked G's
/// stack here, and (gdb-ext exports it) of gdb's frames of a thread running
/// one, so that both are placed at the same frame.
pub const MAX_FRAMES: usize = 64;

/// For the frames at a pc: the index of the first user-code frame, and of
/// the frame to show when there is none.
pub type Classified = (Option<usize>, Option<usize>);

/// What the status text of a row depends on: (status, wait reason, how
/// long it has waited in seconds, or -1 when unknown).
type StatusKey = (u32, u64, i64);

/// (file ptr, file len, line, parent goid) of a creation site.
pub type CreatedKey = (u64, u64, u32, i64);

thread_local! {
    /// The rows of the last `info goroutines`, emptied, for the next rows
    /// read ([`View::pending_rows`]): 100,000 rows are 25 MB, and a fresh vector that big
    /// costs ~6,000 page faults (glibc maps a new block for it on every
    /// other call), a tenth of the command's time.
    static SPARE_ROWS: RefCell<Vec<Row>> = const { RefCell::new(Vec::new()) };
}

/// Keeps the room of `rows` for the next [`View::rows`] on this thread.
fn recycle(mut rows: Vec<Row>) {
    rows.clear();
    SPARE_ROWS.with(|s| *s.borrow_mut() = rows);
}

/// The rows of [`View::rows`] before their stack windows are read: each
/// placed on its thread and with its creator; `reqs[k]` is the window of
/// row `row_of_req[k]` (in row order), of stack shape `shape_of_req[k]`.
struct Pending {
    rows: Vec<Row>,
    bad: Vec<String>,
    reqs: Vec<(u64, usize)>,
    row_of_req: Vec<usize>,
    shape_of_req: Vec<usize>,
    /// Per shape, the walk of its first G that reached user code (its
    /// probes) and its location ([`View::locate_window`]).
    walked: Vec<Option<(Vec<u64>, Rc<str>)>>,
    /// The location of a row until it is known; shared strings for the
    /// dead and for stacks that are not in memory.
    unset: Rc<str>,
    dash: Rc<str>,
    no_stack: Rc<str>,
    /// When the reading began, and how long until the Gs were decoded and
    /// the windows planned (`GDBX_PROFILE`).
    started: std::time::Instant,
    decoded: std::time::Duration,
    planned: std::time::Duration,
}

impl Pending {
    /// With `GDBX_PROFILE` set: the phases so far, `reqs` its windows.
    fn profile(&self, reqs: &[(u64, usize)]) {
        if std::env::var_os("GDBX_PROFILE").is_some() {
            let bytes: usize = reqs.iter().map(|r| r.1).sum();
            eprintln!(
                "gdbx profile: {} shapes, {} windows, {bytes} bytes; Gs read and decoded at {:?}, rows placed and their windows planned at {:?}, all located at {:?}",
                self.walked.len(),
                reqs.len(),
                self.decoded,
                self.planned,
                self.started.elapsed()
            );
        }
    }
}

/// The widest a Location column gets (a longer location overflows it).
const LOC_WIDTH: usize = 60;

/// From how many rows `info goroutines` writes its table while it reads
/// (see [`View::info_goroutines_to`]).
const STREAM_ROWS: usize = 10_000;

/// The columns of `info goroutines` and the text of its rows: each
/// column as wide as its widest cell (and its header).
struct Table {
    statuses: FastMap<StatusKey, String>,
    w_id: usize,
    w_st: usize,
    w_mt: usize,
    w_loc: usize,
    w_created: usize,
    /// Tails of rows on no M and no thread, by status and by which
    /// location and creator strings (shared `Rc`s) they show: most rows
    /// share theirs with many others, and each is formatted once.
    tails: FastMap<(StatusKey, *const u8, *const u8), String>,
    num: String,
}

impl Table {
    /// The columns for `rows`, in one pass (100,000 rows are tens of MB);
    /// a status or location shared with the row before is looked up and
    /// measured once. `w_loc`: the Location column's width when the
    /// locations are not known yet, else measured.
    fn new<'r>(
        view: &View,
        rows: impl IntoIterator<Item = &'r Row>,
        w_loc: Option<usize>,
    ) -> Table {
        let mut statuses: FastMap<StatusKey, String> = FastMap::default();
        let mut last_status = None;
        let (mut max_goid, mut w_mt, mut loc, mut w_created) = (0, 8, 0, 0);
        let mut last_loc: *const u8 = std::ptr::null();
        for r in rows {
            let k = view.status_key(&r.g);
            if last_status != Some(k) {
                statuses.entry(k).or_insert_with(|| view.status_text(&r.g));
                last_status = Some(k);
            }
            max_goid = max_goid.max(r.g.goid);
            if r.m_id.is_some() || r.thread.is_some() {
                w_mt = w_mt.max(m_thread(r).len());
            }
            if w_loc.is_none() && r.loc.as_ptr() != last_loc {
                loc = loc.max(width(&r.loc));
                last_loc = r.loc.as_ptr();
            }
            w_created = w_created.max(r.created.len());
        }
        let w_st = statuses
            .values()
            .map(|s| width(s))
            .max()
            .unwrap_or(0)
            .max(6);
        Table {
            statuses,
            w_id: max_goid.to_string().len().max(2),
            w_st,
            w_mt,
            w_loc: w_loc.unwrap_or_else(|| loc.clamp(8, LOC_WIDTH)),
            w_created,
            tails: FastMap::default(),
            num: String::new(),
        }
    }

    /// A buffer for pieces of about `piece` bytes of at most `rows` rows:
    /// room for a piece and the widest row, so that the text is never
    /// copied to grow.
    fn buffer(&self, piece: usize, rows: usize) -> String {
        let room = self.row_room();
        String::with_capacity(piece.min(rows.saturating_mul(room)) + room)
    }

    /// The most bytes a row takes (its cells at their widest, in UTF-8).
    fn row_room(&self) -> usize {
        2 + self.w_id
            + 1
            + self.w_st * 4
            + 1
            + self.w_mt
            + 1
            + self.w_loc * 4
            + 2
            + self.w_created
            + 1
    }

    fn header(&self, out: &mut String) {
        out.push_str("  ");
        pad(out, "Id", self.w_id);
        out.push(' ');
        pad(out, "Status", self.w_st);
        out.push(' ');
        pad(out, "M/thread", self.w_mt);
        out.push(' ');
        pad(out, "Location", self.w_loc);
        out.push_str("  Created at\n");
    }

    /// Writes the line of `r` (of `view`) into `out`.
    fn row(&mut self, view: &View, r: &Row, out: &mut String) {
        out.push(if r.on_cpu { '*' } else { ' ' });
        out.push(' ');
        self.num.clear();
        let _ = write!(self.num, "{}", r.g.goid);
        pad(out, &self.num, self.w_id);
        out.push(' ');
        let key = view.status_key(&r.g);
        if r.m_id.is_none() && r.thread.is_none() {
            let k = (key, r.loc.as_ptr(), r.created.as_ptr());
            match self.tails.get(&k) {
                Some(t) => out.push_str(t),
                None => {
                    let mut t = String::new();
                    self.tail(key, r, &mut t);
                    out.push_str(&t);
                    self.tails.insert(k, t);
                }
            }
        } else {
            self.tail(key, r, out);
        }
    }

    /// The cells of `r` after its id.
    fn tail(&self, key: StatusKey, r: &Row, out: &mut String) {
        pad(out, &self.statuses[&key], self.w_st);
        out.push(' ');
        pad(out, &m_thread(r), self.w_mt);
        out.push(' ');
        pad(out, &r.loc, self.w_loc);
        out.push_str("  ");
        out.push_str(&r.created);
        out.push('\n');
    }
}

/// The M/thread cell of a row.
fn m_thread(r: &Row) -> String {
    match (r.m_id, r.thread) {
        (Some(m), Some(t)) => format!("M{m} thread {t}"),
        (Some(m), None) => format!("M{m}"),
        (None, Some(t)) => format!("thread {t}"),
        (None, None) => "-".into(),
    }
}

/// Text handed to a sink in pieces of whole lines, each about `piece`
/// bytes, until the sink says stop.
struct Pieces<'s> {
    out: String,
    piece: usize,
    sink: &'s mut dyn FnMut(&str) -> bool,
    open: bool,
}

impl Pieces<'_> {
    /// Hands over what is written when it is a piece; false once the sink
    /// has said stop (write no more).
    fn line_done(&mut self) -> bool {
        if self.open && self.out.len() >= self.piece {
            self.open = (self.sink)(&self.out);
            self.out.clear();
        }
        self.open
    }

    /// Hands over the rest.
    fn finish(self) {
        if self.open && !self.out.is_empty() {
            (self.sink)(&self.out);
        }
    }
}

/// One look at a stopped program.
pub struct View<'a> {
    pub rt: Decoder<'a>,
    pub syms: &'a Symbols,
    pub mem: &'a dyn Memory,
    pub threads: &'a [Thread],
    /// Formatted locations by (probe pc, index in its inline chain), and
    /// `(entry pc, NOT_STARTED)` for goroutines that have not started.
    pub loc_cache: RefCell<FastMap<(u64, usize), Rc<str>>>,
    /// The results of `View::classify`, by probe pc.
    pub classify_cache: RefCell<FastMap<u64, Classified>>,
    /// Formatted creation sites by (file ptr, len, line, parent).
    pub created_cache: RefCell<FastMap<CreatedKey, Rc<str>>>,
    /// The program's clock (its `nanotime`, CLOCK_MONOTONIC) at this stop,
    /// when known: a live process on this machine shares the clock. With
    /// it, a waiting goroutine whose `G.waitsince` is set shows how long it
    /// has waited, as Go's tracebacks do. A core file does not record it.
    pub now: Option<i64>,
}

/// A goroutine with what the commands show about it.
pub struct Row {
    pub g: GInfo,
    pub thread: Option<i64>,
    /// True when the G is what its thread is running right now.
    pub on_cpu: bool,
    pub m_id: Option<i64>,
    pub loc: Rc<str>,
    pub created: Rc<str>,
    /// Unwound from its saved context, but its stack reads as zeros or not
    /// at all: a core that left the stacks out ([`View::stack_missing`]).
    pub stack_missing: bool,
}

/// The location of a goroutine whose stack is not in memory.
pub const NO_STACK: &str = "? (stack not in memory)";

/// Options of `info goroutines`.
#[derive(Debug, Default)]
pub struct Filter {
    pub status: Vec<String>,
    pub location: Option<String>,
    pub group: bool,
    pub limit: Option<usize>,
    pub dead: bool,
}

pub const USAGE: &str = "usage: info goroutines [-s|-status STATUS[,STATUS...]] [-l|-location SUBSTRING] [-g|-group] [-n|-limit N] [-a|-all]\n  STATUS: running runnable waiting syscall idle dead; -group counts goroutines per location; -all includes dead ones";

impl Filter {
    pub fn parse(args: &[String]) -> Result<Filter, String> {
        let mut f = Filter::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let flag = a.trim_start_matches('-');
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
            };
            match flag {
                "s" | "status" => {
                    for s in value(a)?.split(',') {
                        let s = s.trim().to_lowercase();
                        if !["running", "runnable", "waiting", "syscall", "idle", "dead"]
                            .contains(&s.as_str())
                        {
                            return Err(format!("unknown status {s:?}\n{USAGE}"));
                        }
                        if s == "dead" {
                            f.dead = true;
                        }
                        f.status.push(s);
                    }
                }
                "l" | "location" | "loc" => f.location = Some(value(a)?),
                "g" | "group" => f.group = true,
                "a" | "all" => f.dead = true,
                "n" | "limit" => {
                    let v = value(a)?;
                    f.limit = Some(
                        v.parse()
                            .map_err(|_| format!("-limit wants a number, not {v:?}\n{USAGE}"))?,
                    );
                }
                "h" | "help" => return Err(USAGE.to_string()),
                _ => return Err(format!("unknown option {a:?}\n{USAGE}")),
            }
        }
        Ok(f)
    }

    /// Whether `info goroutines` with these options shows `r`, whose
    /// status name (without a wait reason) is `st`.
    pub fn keep(&self, r: &Row, st: &str) -> bool {
        if !self.dead && st == "dead" {
            return false;
        }
        if !self.status.is_empty() && !self.status.iter().any(|s| s == st) {
            return false;
        }
        if let Some(l) = &self.location
            && !r.loc.contains(l.as_str())
        {
            return false;
        }
        true
    }
}

impl View<'_> {
    fn lay(&self) -> &Layout {
        self.rt.layout
    }

    pub fn flavour(&self) -> Flavour {
        self.rt.layout.flavour
    }

    /// A thread's current g: its thread-local slot; for Go, when that slot
    /// cannot be read, `r14` (ABIInternal code keeps g there).
    pub fn thread_g(&self, t: &Thread) -> Option<u64> {
        match self.rt.thread_g(self.mem, t.fs_base) {
            Some(g) => Some(g),
            None if self.flavour() == Flavour::Go119 && t.r14 != 0 => Some(t.r14),
            None => None,
        }
    }

    /// A runnable G that has never run: its saved pc is the start of a
    /// function (Go: the entry function itself; ours: the entry
    /// trampoline), never a return address.
    pub fn not_started(&self, g: &GInfo) -> bool {
        self.rt.status(g) == self.lay().status.runnable
            && g.pc != 0
            && self.syms.function_start(g.pc) == Some(g.pc)
    }

    /// The entry function of a G as a frame (`main.worker (main.go:12)`).
    pub fn entry(&self, g: &GInfo) -> String {
        match self.syms.frames(g.startpc).last() {
            Some(f) if g.startpc != 0 => f.describe(),
            _ => format!("{:#x}", g.startpc),
        }
    }

    /// Go's creator: the function and line of the `go` statement (`gopc`).
    fn created_go(&self, g: &GInfo, key: Option<CreatedKey>) -> Rc<str> {
        // The main goroutine is made by the bootstrap (through an ABI
        // wrapper at <autogenerated>:1): like Go's tracebacks, name no
        // creator for it.
        let Some(key) = key else {
            return Rc::from(if g.goid <= 1 { "-" } else { "runtime" });
        };
        if let Some(s) = self.created_cache.borrow().get(&key) {
            return s.clone();
        }
        let frames = self.syms.frames(g.gopc - 1);
        let s: Rc<str> = match frames.first() {
            Some(f) => Rc::from(f.describe()),
            None => Rc::from(format!("{:#x}", g.gopc)),
        };
        self.created_cache.borrow_mut().insert(key, s.clone());
        s
    }

    /// Reads a u64 from `window` (bytes from `base`) or from memory.
    fn word(&self, window: &[u8], base: u64, addr: u64) -> Option<u64> {
        if addr >= base && addr + 8 <= base + window.len() as u64 {
            let o = (addr - base) as usize;
            return Some(u64::from_le_bytes(window[o..o + 8].try_into().unwrap()));
        }
        self.mem.u64(addr).ok()
    }

    /// For the frames at `probe`: the index of the first user-code frame,
    /// and of the frame to show when there is none.
    fn classify(&self, probe: u64) -> Classified {
        if let Some(&c) = self.classify_cache.borrow().get(&probe) {
            return c;
        }
        let c = self.classify_uncached(probe);
        self.classify_cache.borrow_mut().insert(probe, c);
        c
    }

    fn classify_uncached(&self, probe: u64) -> Classified {
        let frames = self.syms.frames(probe);
        let user = frames.iter().position(|f| f.user);
        let fallback = frames
            .len()
            .checked_sub(1)
            .filter(|&i| !frames[i].func.is_empty() && !is_goexit(&frames[i].func));
        (user, fallback)
    }

    /// The first user-code frame among `pcs` (gdb's frames of a thread,
    /// innermost first: `pcs[0]` is a pc, the others return addresses) of
    /// `g`, running on that thread; else the frame that stands for it
    /// ([`View::stand_in`]). As (probe, index in its inline chain).
    fn pick_pcs(&self, g: &GInfo, pcs: &[u64]) -> Option<(u64, usize)> {
        let mut candidates = Vec::new();
        for (i, &pc) in pcs.iter().enumerate() {
            if pc == 0 {
                break;
            }
            // gdb lists an inlined frame as a frame of its own at the same
            // pc, which is no return address (pc - 1 may be another line,
            // or line 0): the inline chain at the pc already holds it.
            if i > 0 && pcs[i - 1] == pc {
                continue;
            }
            let probe = if i == 0 { pc } else { pc - 1 };
            let (user, fb) = self.classify(probe);
            if let Some(u) = user {
                return Some((probe, u));
            }
            if let Some(f) = fb {
                candidates.push((probe, f));
            }
        }
        self.stand_in(g, &candidates)
    }

    /// The frame that stands for a G with no user code on its stack, among
    /// the named frames of its stack (`candidates`, outermost last); the
    /// same whether the G is running or parked. Ours: the outermost
    /// function the runtime exports under a Go name (runtime.scavenger)
    /// rather than the closures around it, and never the entry trampoline
    /// (G.startpc). Go: the outermost function that is not a closure
    /// (runtime.bgsweep rather than the runtime.gcenable.func1 that starts
    /// it); Go's entry is a real function (runtime.forcegchelper), so it
    /// may be the one.
    fn stand_in(&self, g: &GInfo, candidates: &[(u64, usize)]) -> Option<(u64, usize)> {
        if self.flavour() == Flavour::Go119 {
            let named = |c: &&(u64, usize)| !is_closure(&self.syms.frames(c.0)[c.1].func);
            return candidates
                .iter()
                .rev()
                .find(named)
                .or(candidates.last())
                .copied();
        }
        let usable = || candidates.iter().rev().filter(|c| !self.is_entry(c.0, g));
        usable()
            .find(|c| self.syms.go_name(c.0).is_some())
            .or_else(|| usable().next())
            .copied()
    }

    /// Walks a parked G from its saved context (pc, bp) along the
    /// frame-pointer chain, bounded and checked against its stack, to its
    /// first user-code frame. `window` holds stack bytes from `base`.
    /// Returns that frame (as in [`View::pick_pcs`]) and the range of the
    /// stack the walk read, as offsets from its saved sp.
    fn walk_saved(
        &self,
        g: &GInfo,
        window: &[u8],
        base: u64,
    ) -> (Option<(u64, usize)>, (u64, u64)) {
        let mut found = None;
        let used = self.saved_probes(g, window, base, &mut |probe| {
            found = self.classify(probe).0.map(|u| (probe, u));
            found.is_none()
        });
        if found.is_some() {
            return (found, used);
        }
        // No user code on the stack: the frames that could stand for the G
        // (outermost last), gathered only now - the common walk above
        // allocates nothing.
        let mut candidates: Vec<(u64, usize)> = Vec::new();
        self.saved_probes(g, window, base, &mut |probe| {
            if let Some(f) = self.classify(probe).1 {
                candidates.push((probe, f));
            }
            true
        });
        (self.stand_in(g, &candidates), used)
    }

    /// The probes of the walk of a parked G ([`View::walk_saved`]) up to
    /// its first user-code frame (the last of them); None when it has none.
    fn user_probes(&self, g: &GInfo, window: &[u8], base: u64) -> Option<Vec<u64>> {
        let mut probes = Vec::new();
        let mut found = false;
        self.saved_probes(g, window, base, &mut |probe| {
            probes.push(probe);
            found = self.classify(probe).0.is_some();
            !found
        });
        found.then_some(probes)
    }

    /// Whether the walk of a parked G visits exactly `probes` (as
    /// [`View::user_probes`] gives them): then it ends at the same
    /// user-code frame.
    fn walks_like(&self, g: &GInfo, window: &[u8], base: u64, probes: &[u64]) -> bool {
        let mut same = 0;
        self.saved_probes(g, window, base, &mut |probe| {
            if probes.get(same) != Some(&probe) {
                same = usize::MAX;
                return false;
            }
            same += 1;
            same < probes.len()
        });
        same == probes.len()
    }

    /// Hands `visit` the probe pc (return address - 1) of each frame of a
    /// parked G, innermost first, along its frame-pointer chain (bounded,
    /// and checked against its stack), while `visit` returns true. Returns
    /// the range of the stack the walk read, as offsets from its saved sp.
    fn saved_probes(
        &self,
        g: &GInfo,
        window: &[u8],
        base: u64,
        visit: &mut dyn FnMut(u64) -> bool,
    ) -> (u64, u64) {
        let mut used = (u64::MAX, 0);
        if g.pc == 0 {
            return (0, 0);
        }
        let (lo, hi) = (g.sp, if g.hi > g.sp { g.hi } else { u64::MAX });
        let (mut pc, mut bp) = (g.pc, g.bp);
        let mut last = false;
        for _ in 0..MAX_FRAMES {
            // Every pc here is a return address: look up pc - 1.
            if !visit(pc - 1) {
                break;
            }
            if last || bp == 0 || !bp.is_multiple_of(8) || bp < lo || bp >= hi {
                break;
            }
            used = (used.0.min(bp - lo), used.1.max(bp + 16 - lo));
            let (Some(next), Some(ret)) =
                (self.word(window, base, bp), self.word(window, base, bp + 8))
            else {
                break;
            };
            if ret == 0 {
                break;
            }
            pc = ret;
            if next <= bp {
                last = true;
            } else {
                bp = next;
            }
        }
        if used.0 > used.1 { (0, 0) } else { used }
    }

    /// Whether a G unwound from its saved context has no stack in memory:
    /// the frame record its saved bp points at (caller's bp, return
    /// address) is unreadable or zero. A real parked G always has a return
    /// address there; a core whose dumper left the stacks out (gdb's gcore
    /// on our guarded stacks writes them as zeros, a `coredump_filter`
    /// drops them) has not. A G without a bp inside its stack is not judged.
    pub fn stack_missing(&self, g: &GInfo) -> bool {
        self.stack_missing_in(g, &[], 0)
    }

    fn stack_missing_in(&self, g: &GInfo, window: &[u8], base: u64) -> bool {
        let hi = if g.hi > g.sp { g.hi } else { u64::MAX };
        if g.pc == 0 || g.bp < g.sp || g.bp >= hi {
            return false;
        }
        matches!(
            (
                self.word(window, base, g.bp),
                self.word(window, base, g.bp + 8)
            ),
            (None, _) | (_, None) | (Some(0), Some(0))
        )
    }

    /// Is the function at `probe` the G's entry trampoline (`G.startpc`)?
    /// It is no place to show as the goroutine's location.
    fn is_entry(&self, probe: u64, g: &GInfo) -> bool {
        g.startpc != 0 && self.syms.same_function(probe, g.startpc)
    }

    /// The part of a parked G's stack its unwinding reads: from its saved
    /// sp up, at most [`STACK_WINDOW`] bytes, within its stack.
    fn window(g: &GInfo) -> (u64, usize) {
        let hi = if g.hi > g.sp { g.hi } else { u64::MAX };
        (g.sp, STACK_WINDOW.min(hi.saturating_sub(g.sp)) as usize)
    }

    fn thread_by_lwp(&self, lwp: u64) -> Option<&Thread> {
        self.threads.iter().find(|t| t.lwp == lwp && lwp != 0)
    }

    /// The M of a thread: by its OS thread id (`M.procid`), else through
    /// the thread's current g (an M's g0 or curg, or the g's `m`) - `procid`
    /// is set only once the M's thread has started.
    pub fn m_for_thread<'m>(&self, t: &Thread, ms: &'m [MInfo]) -> Option<&'m MInfo> {
        if let Some(m) = ms.iter().find(|m| m.procid == t.lwp && t.lwp != 0) {
            return Some(m);
        }
        let g = self.thread_g(t).filter(|&g| g != 0)?;
        if let Some(m) = ms.iter().find(|m| m.g0 == g || m.curg == g) {
            return Some(m);
        }
        let gm = self.rt.read_g(self.mem, g).ok()?.m;
        ms.iter().find(|m| m.addr == gm && gm != 0)
    }

    /// The thread of an M (the inverse of [`View::m_for_thread`]).
    fn thread_of_m(&self, m: &MInfo, ms: &[MInfo]) -> Option<&Thread> {
        self.thread_by_lwp(m.procid).or_else(|| {
            self.threads
                .iter()
                .find(|t| self.m_for_thread(t, ms).is_some_and(|x| x.addr == m.addr))
        })
    }

    /// Each thread's current g (thread-local slot).
    pub fn thread_gs(&self) -> FastMap<u64, i64> {
        let mut out = FastMap::default();
        for t in self.threads {
            if let Some(g) = self.thread_g(t)
                && g != 0
            {
                out.insert(g, t.num);
            }
        }
        out
    }

    /// What [`View::created`] shows for `g` depends on: the key of its
    /// creation site, or None when it names one without looking it up.
    fn created_key(&self, g: &GInfo) -> Option<CreatedKey> {
        if self.flavour() == Flavour::Go119 {
            return (g.goid > 1 && g.gopc != 0).then_some((g.gopc, 0, 0, 0));
        }
        (g.cfile != 0 && g.cfile_len != 0 && g.cfile_len <= 4096).then_some((
            g.cfile,
            g.cfile_len,
            g.cline,
            g.parent,
        ))
    }

    /// Where the G was created: ours records the `go` call's file:line and
    /// the creating goroutine, Go the pc of the `go` statement.
    fn created(&self, g: &GInfo) -> Rc<str> {
        self.created_by_key(g, self.created_key(g))
    }

    /// [`View::created`] with `key` = [`View::created_key`] of `g`.
    fn created_by_key(&self, g: &GInfo, key: Option<CreatedKey>) -> Rc<str> {
        if self.flavour() == Flavour::Go119 {
            return self.created_go(g, key);
        }
        let Some(key) = key else {
            return Rc::from(if g.goid == 0 { "-" } else { "runtime" });
        };
        if let Some(s) = self.created_cache.borrow().get(&key) {
            return s.clone();
        }
        let raw = self.mem.bytes(g.cfile, g.cfile_len as usize).ok();
        let file = match raw {
            Some(b) => String::from_utf8_lossy(&b).into_owned(),
            None => format!("<unreadable {:#x}>", g.cfile),
        };
        let s: Rc<str> = if g.parent > 0 {
            Rc::from(format!("{file}:{} by g{}", g.cline, g.parent))
        } else {
            Rc::from(format!("{file}:{}", g.cline))
        };
        self.created_cache.borrow_mut().insert(key, s.clone());
        s
    }

    /// Which thread runs `g`, and whether it is on that thread right now.
    fn placement(
        &self,
        g: &GInfo,
        tgs: &FastMap<u64, i64>,
        ms: &FastMap<u64, MInfo>,
    ) -> (Option<i64>, bool, Option<i64>) {
        let m = ms.get(&g.m);
        let m_id = m.map(|m| m.id);
        if let Some(&t) = tgs.get(&g.addr) {
            return (Some(t), true, m_id);
        }
        let st = self.rt.status(g);
        if (st == self.lay().status.running || st == self.lay().status.syscall)
            && let Some(m) = m
            && let Some(t) = self.thread_by_lwp(m.procid)
        {
            // A running G whose thread runs neither it nor its M's g0 is in
            // a signal handler (Go's gsignal, a crash's): its context is
            // the thread's registers, through the signal frame, not its
            // stale G.sched.
            let in_handler = st == self.lay().status.running
                && m.curg == g.addr
                && self.thread_g(t).is_some_and(|tg| tg != 0 && tg != m.g0);
            return (Some(t.num), in_handler, m_id);
        }
        (None, false, m_id)
    }

    /// Whether the G's location comes from its thread (else from its saved context).
    fn live_thread(&self, g: &GInfo, thread: Option<i64>, on_cpu: bool) -> Option<&Thread> {
        let t = self.threads.iter().find(|t| Some(t.num) == thread)?;
        (on_cpu || g.pc == 0).then_some(t)
    }

    fn location(
        &self,
        g: &GInfo,
        thread: Option<i64>,
        on_cpu: bool,
        window: Option<(&[u8], u64)>,
    ) -> Rc<str> {
        let frame = match self.live_thread(g, thread, on_cpu) {
            Some(t) => self.pick_pcs(g, &t.pcs),
            None if self.not_started(g) => None,
            None => {
                let owned;
                let (w, base) = match window {
                    Some(w) => w,
                    None => {
                        let (a, n) = Self::window(g);
                        owned = self.mem.bytes(a, n).unwrap_or_default();
                        (&owned[..], a)
                    }
                };
                self.walk_saved(g, w, base).0
            }
        };
        let mut cache = self.loc_cache.borrow_mut();
        match frame {
            Some(key) => cache
                .entry(key)
                .or_insert_with(|| Rc::from(self.syms.frames(key.0)[key.1].describe()))
                .clone(),
            None if g.startpc != 0 => cache
                .entry((g.startpc, NOT_STARTED))
                .or_insert_with(|| Rc::from(format!("{} (not started)", self.entry(g))))
                .clone(),
            None => cache
                .entry((0, NOT_STARTED))
                .or_insert_with(|| Rc::from("?"))
                .clone(),
        }
    }

    fn ms_by_addr(&self) -> FastMap<u64, MInfo> {
        match self.rt.read_ms(self.mem) {
            Ok((ms, _)) => ms.into_iter().map(|m| (m.addr, m)).collect(),
            Err(_) => FastMap::default(),
        }
    }

    /// Every G as a [`Row`] (locations computed only for those `want` keeps),
    /// plus the lines for entries that could not be decoded.
    pub fn rows(
        &self,
        want: impl Fn(&GInfo) -> bool,
    ) -> Result<(Vec<Row>, Vec<String>), ReadError> {
        let mut p = self.pending_rows(want)?;
        self.locate_all(&mut p);
        Ok((p.rows, p.bad))
    }

    /// Locates every row of `p`: the windows read in one batch, then the
    /// rows that have none.
    fn locate_all(&self, p: &mut Pending) {
        let reqs = std::mem::take(&mut p.reqs);
        self.mem.each_piece(&reqs, &mut |k, w| {
            self.locate_window(p, k, w, reqs[k].0);
        });
        for i in 0..p.rows.len() {
            self.locate_rest(p, i);
        }
        p.profile(&reqs);
    }

    /// The rows of every G `want` keeps, placed and with their creators,
    /// and the stack window each parked one is to be located from.
    fn pending_rows(&self, want: impl Fn(&GInfo) -> bool) -> Result<Pending, ReadError> {
        let t0 = std::time::Instant::now();
        let unset: Rc<str> = Rc::from("");
        // The rows are made as the Gs are decoded and filled in place: one
        // vector of 100,000 rows, not one of Gs and then another of rows.
        let row = |g| Row {
            g,
            thread: None,
            on_cpu: false,
            m_id: None,
            loc: unset.clone(),
            created: unset.clone(),
            stack_missing: false,
        };
        let spare = SPARE_ROWS.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let (mut rows, bad) = self.rt.read_gs_as(self.mem, spare, row, |r| &r.g)?;
        let decoded = t0.elapsed();
        let tgs = self.thread_gs();
        let ms = self.ms_by_addr();
        rows.retain(|r| want(&r.g));
        let mut last_created: Option<(Option<CreatedKey>, Rc<str>)> = None;
        for r in &mut rows {
            (r.thread, r.on_cpu, r.m_id) = self.placement(&r.g, &tgs, &ms);
            // Neighbours are mostly made by the same `go` statement.
            let key = self.created_key(&r.g);
            r.created = match &last_created {
                Some((k, c)) if key.is_some() && *k == key => c.clone(),
                _ => {
                    let c = self.created_by_key(&r.g, key);
                    last_created = Some((key, c.clone()));
                    c
                }
            };
        }
        // One batch for the stack windows of every goroutine unwound from
        // its saved context.
        // Goroutines parked at the same pc at the same depth have the same
        // frames: walk one of each such shape to learn how much of the
        // stack the walk needs, and read only that much of the others.
        let mut reqs = Vec::new();
        let mut row_of_req: Vec<usize> = Vec::new();
        // Each shape's index, by (pc, depth of sp, depth of bp), and the
        // part of the window (offset, length) its walk reads.
        let mut shape_of: FastMap<(u64, u64, u64), usize> = FastMap::default();
        let mut shapes: Vec<(u64, usize)> = Vec::new();
        let mut shape_of_req: Vec<usize> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let g = &r.g;
            if g.pc != 0
                && self.live_thread(g, r.thread, r.on_cpu).is_none()
                && !self.not_started(g)
            {
                let (a, n) = Self::window(g);
                let key = (g.pc, g.hi.wrapping_sub(g.sp), g.hi.wrapping_sub(g.bp));
                let shape = *shape_of.entry(key).or_insert_with(|| {
                    let w = self.mem.bytes(a, n).unwrap_or_default();
                    let (mut lo, mut hi) = self.walk_saved(g, &w, a).1;
                    // And the first frame record, which tells whether the
                    // stack is in memory at all (`stack_missing_in`).
                    let rec = g.bp.wrapping_sub(g.sp);
                    if g.bp >= g.sp && rec + 16 <= n as u64 {
                        (lo, hi) = if hi == 0 {
                            (rec, rec + 16)
                        } else {
                            (lo.min(rec), hi.max(rec + 16))
                        };
                    }
                    let lo = lo & !15;
                    let len = (hi.saturating_sub(lo) as usize).min(n.saturating_sub(lo as usize));
                    shapes.push((lo, len));
                    shapes.len() - 1
                });
                let (off, len) = shapes[shape];
                row_of_req.push(i);
                shape_of_req.push(shape);
                reqs.push((a + off, len));
            }
        }
        Ok(Pending {
            rows,
            bad,
            reqs,
            row_of_req,
            shape_of_req,
            walked: vec![None; shapes.len()],
            unset,
            dash: Rc::from("-"),
            no_stack: Rc::from(NO_STACK),
            started: t0,
            decoded,
            planned: t0.elapsed(),
        })
    }

    /// Locates the row of request `k` of `p` from its stack window `w`
    /// (read from `base`; None when it could not be read). The first G of
    /// a shape that reaches user code leaves its walk (the probes it
    /// visited) and location for the others: one that visits the same
    /// probes is at the same place, told without looking each probe up.
    fn locate_window(&self, p: &mut Pending, k: usize, w: Option<&[u8]>, base: u64) {
        let r = &mut p.rows[p.row_of_req[k]];
        let w = w.unwrap_or(&[]);
        r.stack_missing = self.stack_missing_in(&r.g, w, base);
        let memo = &mut p.walked[p.shape_of_req[k]];
        r.loc = if self.rt.is_dead(&r.g) {
            p.dash.clone()
        } else if r.stack_missing {
            p.no_stack.clone()
        } else if let Some((probes, loc)) = memo
            && self.walks_like(&r.g, w, base, probes)
        {
            loc.clone()
        } else {
            let loc = self.location(&r.g, r.thread, r.on_cpu, Some((w, base)));
            if memo.is_none() {
                *memo = self.user_probes(&r.g, w, base).map(|p| (p, loc.clone()));
            }
            loc
        };
    }

    /// Locates row `i` of `p` if no window did (a G on a thread, one that
    /// has not started, a dead one).
    fn locate_rest(&self, p: &mut Pending, i: usize) {
        let r = &mut p.rows[i];
        if Rc::ptr_eq(&r.loc, &p.unset) {
            r.loc = if self.rt.is_dead(&r.g) {
                p.dash.clone()
            } else {
                self.location(&r.g, r.thread, r.on_cpu, None)
            };
        }
    }

    /// `waiting (chan receive, 2m5s)`: the status, the wait reason and,
    /// when known ([`View::now`]), how long it has waited.
    pub fn status_text(&self, g: &GInfo) -> String {
        match self.waited(g) {
            Some(d) => {
                let mut s = self.status_reason(g);
                s.insert_str(s.len() - 1, &format!(", {d}"));
                s
            }
            None => self.status_reason(g),
        }
    }

    /// `waiting (chan receive)`: the status and the wait reason.
    pub fn status_reason(&self, g: &GInfo) -> String {
        let st = self.lay().status_name(g.status).unwrap_or("???");
        if self.rt.status(g) == self.lay().status.waiting {
            format!("{st} ({})", self.lay().reason(g.reason))
        } else {
            st.to_string()
        }
    }

    /// The status as Go's tracebacks print it (`goroutine 7 [chan
    /// receive]:`): the wait reason of a waiting G, else the status name,
    /// and ` (scan)` while the garbage collector scans it.
    pub fn traceback_status(&self, g: &GInfo) -> String {
        let lay = self.lay();
        let mut s = match lay.status_name(g.status) {
            Some(_) if self.rt.status(g) == lay.status.waiting && g.reason != 0 => {
                lay.reason(g.reason)
            }
            Some(name) => name.to_string(),
            None => "???".to_string(),
        };
        if lay.status.scan != 0 && g.status & lay.status.scan != 0 {
            s.push_str(" (scan)");
        }
        s
    }

    /// How long a waiting G has waited (`2m5s`), when both its
    /// `waitsince` and the clock now are known. Go sets `waitsince` when a
    /// garbage collection finds the G blocked (and clears it when the G
    /// runs), so it is approximate and absent before the first GC.
    pub fn waited(&self, g: &GInfo) -> Option<String> {
        let now = self.now?;
        if self.rt.status(g) != self.lay().status.waiting || g.waitsince <= 0 || now < g.waitsince {
            return None;
        }
        Some(duration((now - g.waitsince) as u64))
    }

    /// `info goroutines`: the table as one string.
    pub fn info_goroutines(&self, f: &Filter) -> Result<String, ReadError> {
        let mut text = String::new();
        self.info_goroutines_to(f, usize::MAX, &mut |piece| {
            text.push_str(piece);
            true
        })?;
        Ok(text)
    }

    /// `info goroutines`, its text handed to `sink` in pieces of whole
    /// lines, each about `piece` bytes (the last line that reaches it
    /// ends it), until `sink` returns false. At 100,000 goroutines the
    /// table is 13 MB: written a piece at a time (by gdb), each piece is
    /// still in the cache, and no 13 MB string is made twice (here and as
    /// gdb's Python string). From 10,000 rows (`STREAM_ROWS`), without a location
    /// filter or a limit, the rows are written as they are located, while
    /// the next stack windows are read ([`Memory::each_piece_ahead`]).
    pub fn info_goroutines_to(
        &self,
        f: &Filter,
        piece: usize,
        sink: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), ReadError> {
        let dead = f.dead;
        let mut p = self.pending_rows(|g| dead || !self.rt.is_dead(g))?;
        // The pending rows already leave out the dead unless asked for;
        // only a status or location filter has more to drop.
        let keep = |r: &Row| f.keep(r, self.lay().status_name(r.g.status).unwrap_or("???"));
        let mut text = Pieces {
            out: String::new(),
            piece,
            sink,
            open: true,
        };
        if !f.group && f.location.is_none() && f.limit.is_none() && p.rows.len() >= STREAM_ROWS {
            // A long table is written as its rows are located, while the
            // stack windows of the next ones are read on a second thread
            // (the reading and gdb's writing each take about half of the
            // time at 100,000). The Location column is then as wide as it
            // gets: the locations are not known when the header is written.
            let mut table = Table::new(self, p.rows.iter().filter(|r| keep(r)), Some(LOC_WIDTH));
            text.out = table.buffer(piece, p.rows.len() + 1);
            table.header(&mut text.out);
            let reqs = std::mem::take(&mut p.reqs);
            let mut next = 0;
            // Writes the rows before `end`, all located once their windows
            // are (the others are located here).
            let mut write_to = |p: &mut Pending, end: usize, text: &mut Pieces| {
                while next < end {
                    self.locate_rest(p, next);
                    let r = &p.rows[next];
                    if text.open && keep(r) {
                        table.row(self, r, &mut text.out);
                        text.line_done();
                    }
                    next += 1;
                }
            };
            self.mem.each_piece_ahead(&reqs, &mut |k, w| {
                self.locate_window(&mut p, k, w, reqs[k].0);
                let end = p.row_of_req[k] + 1;
                write_to(&mut p, end, &mut text);
            });
            let n = p.rows.len();
            write_to(&mut p, n, &mut text);
            p.profile(&reqs);
        } else {
            self.locate_all(&mut p);
            if !f.status.is_empty() || f.location.is_some() {
                // In place: a Row is a few hundred bytes.
                p.rows.retain(|r| keep(r));
            }
            let rows = &p.rows;
            if f.group {
                self.group_table(rows, f, &mut text.out);
            } else {
                let limit = f.limit.unwrap_or(usize::MAX);
                let shown = &rows[..rows.len().min(limit)];
                let mut table = Table::new(self, shown, None);
                text.out = table.buffer(piece, shown.len() + 1);
                table.header(&mut text.out);
                for r in shown {
                    table.row(self, r, &mut text.out);
                    if !text.line_done() {
                        break;
                    }
                }
                if rows.len() > limit {
                    let _ = writeln!(
                        text.out,
                        "({} more goroutines not shown; -limit N to change)",
                        rows.len() - limit
                    );
                }
            }
        }
        for b in &p.bad {
            let _ = writeln!(text.out, "  ?       {b}");
        }
        let missing = p.rows.iter().filter(|r| r.stack_missing).count();
        if missing > 0 {
            let _ = writeln!(
                text.out,
                "gdbx: {missing} goroutine stacks are not in memory (a core that left them out); {}",
                self.flavour().missing_stacks_advice()
            );
        }
        text.finish();
        recycle(p.rows);
        Ok(())
    }

    /// `info goroutines -group`: per location, how many goroutines, how
    /// many per (status, wait reason), the first goid first.
    fn group_table(&self, rows: &[Row], f: &Filter, out: &mut String) {
        // Per location: how many, how many per (status, wait reason) with
        // one G of each to name it by, and the first goid.
        type ByStatus<'r> = FastMap<(u32, u64), (usize, &'r GInfo)>;
        let mut groups: FastMap<&str, (usize, ByStatus, i64)> = FastMap::default();
        for r in rows {
            let e = groups
                .entry(&*r.loc)
                .or_insert((0, FastMap::default(), r.g.goid));
            e.0 += 1;
            e.1.entry((r.g.status, r.g.reason)).or_insert((0, &r.g)).0 += 1;
        }
        let mut gv: Vec<_> = groups.into_iter().collect();
        gv.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.2.cmp(&b.1.2)));
        let _ = writeln!(out, "{:>8}  {:<60}  Statuses", "Count", "Location");
        let total = gv.len();
        for (loc, (n, sts, _)) in gv.iter().take(f.limit.unwrap_or(usize::MAX)) {
            // Named once per kind; kinds that read alike are one.
            let mut named: std::collections::BTreeMap<String, usize> = Default::default();
            for (count, g) in sts.values() {
                *named.entry(self.status_reason(g)).or_insert(0) += count;
            }
            let s: Vec<String> = named.iter().map(|(k, v)| format!("{v} {k}")).collect();
            let _ = writeln!(out, "{n:>8}  {loc:<60}  {}", s.join(", "));
        }
        if total > f.limit.unwrap_or(usize::MAX) {
            let _ = writeln!(
                out,
                "({} more locations not shown; -limit N to change)",
                total - f.limit.unwrap_or(0)
            );
        }
        let _ = writeln!(out, "{} goroutines in {} locations", rows.len(), total);
    }

    /// What the status text of a row depends on ([`StatusKey`]): the
    /// wait is counted to the second.
    fn status_key(&self, g: &GInfo) -> StatusKey {
        let waited = self.now.map_or(0, |n| {
            if g.waitsince > 0 {
                (n - g.waitsince) / 1_000_000_000
            } else {
                -1
            }
        });
        (g.status, g.reason, waited)
    }

    pub fn info_ms(&self, selected: Option<i64>) -> Result<String, ReadError> {
        let (ms, bad) = self.rt.read_ms(self.mem)?;
        let goids = self.goids_of(ms.iter().flat_map(|m| [m.curg]));
        // Go's extra Ms for cgo callbacks wait with a dead curg and no
        // thread until C code calls into Go.
        let dead_curg: Vec<u64> = ms
            .iter()
            .filter(|m| m.curg != 0)
            .filter(|m| {
                self.rt
                    .read_g(self.mem, m.curg)
                    .is_ok_and(|g| self.rt.is_dead(&g))
            })
            .map(|m| m.curg)
            .collect();
        let pids = self.pids();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "  {:<5} {:<9} {:<8} {:<8} {:<5} State",
            "M", "LWP", "Thread", "curg", "P"
        );
        for m in &ms {
            let t = self.thread_of_m(m, &ms);
            let mark = if t.is_some_and(|t| Some(t.num) == selected) {
                '*'
            } else {
                ' '
            };
            let extra = dead_curg.contains(&m.curg);
            let curg = match m.curg {
                0 => "-".to_string(),
                _ if extra => "-".to_string(),
                a => goids
                    .get(&a)
                    .map_or(format!("{a:#x}"), |id| format!("g{id}")),
            };
            let p = match m.p {
                0 => "-".to_string(),
                a => pids
                    .get(&a)
                    .map_or(format!("{a:#x}"), |id| format!("P{id}")),
            };
            let state = if extra {
                "idle (extra M for cgo callbacks)"
            } else if m.curg != 0 {
                "running"
            } else if m.spinning {
                "spinning"
            } else if m.blocked {
                "idle (parked)"
            } else if m.p != 0 {
                "scheduling"
            } else {
                "no P"
            };
            let _ = writeln!(
                out,
                "{mark} {:<5} {:<9} {:<8} {:<8} {:<5} {state}",
                m.id,
                m.procid,
                t.map_or("-".to_string(), |t| t.num.to_string()),
                curg,
                p
            );
        }
        for b in bad {
            let _ = writeln!(out, "  ?     {b}");
        }
        Ok(out)
    }

    fn goids_of(&self, addrs: impl Iterator<Item = u64>) -> FastMap<u64, i64> {
        let mut out = FastMap::default();
        for a in addrs {
            if a != 0
                && !out.contains_key(&a)
                && let Ok(g) = self.rt.read_g(self.mem, a)
            {
                out.insert(a, g.goid);
            }
        }
        out
    }

    fn pids(&self) -> FastMap<u64, i32> {
        match self.rt.read_ps(self.mem) {
            Ok((ps, _)) => ps.into_iter().map(|p| (p.addr, p.id)).collect(),
            Err(_) => FastMap::default(),
        }
    }

    fn mids(&self) -> FastMap<u64, i64> {
        self.ms_by_addr()
            .into_iter()
            .map(|(a, m)| (a, m.id))
            .collect()
    }

    pub fn p_line(&self, p: &PInfo, mids: &FastMap<u64, i64>, goids: &FastMap<u64, i64>) -> String {
        let m = match p.m {
            0 => "-".to_string(),
            a => mids
                .get(&a)
                .map_or(format!("{a:#x}"), |id| format!("M{id}")),
        };
        let g = |a: u64| {
            goids
                .get(&a)
                .map_or(format!("{a:#x}"), |id| format!("g{id}"))
        };
        let runnext = match p.runnext {
            0 => "-".to_string(),
            a => g(a),
        };
        let n = p.runqtail.wrapping_sub(p.runqhead);
        let mut q: Vec<String> = p.runq.iter().take(8).map(|&a| g(a)).collect();
        if p.runq.len() > 8 {
            q.push("...".into());
        }
        format!(
            "{:<4} {:<9} {:<6} {:<9} {:<8} {}",
            p.id,
            self.lay().pstatus_name(p.status),
            m,
            n,
            runnext,
            if q.is_empty() {
                String::new()
            } else {
                format!("[{}]", q.join(" "))
            }
        )
    }

    pub fn info_ps(&self) -> Result<String, ReadError> {
        let (ps, bad) = self.rt.read_ps(self.mem)?;
        let mids = self.mids();
        let goids = self.goids_of(
            ps.iter()
                .flat_map(|p| std::iter::once(p.runnext).chain(p.runq.iter().take(8).copied())),
        );
        let mut out = String::new();
        let _ = writeln!(
            out,
            "  {:<4} {:<9} {:<6} {:<9} {:<8} Queued",
            "P", "Status", "M", "Run queue", "runnext"
        );
        for p in &ps {
            let _ = writeln!(out, "  {}", self.p_line(p, &mids, &goids));
        }
        for b in bad {
            let _ = writeln!(out, "  ?    {b}");
        }
        Ok(out)
    }

    pub fn info_sched(&self) -> Result<String, ReadError> {
        // Before schedinit there is no P: say so rather than print zeros.
        if let Err(e @ ReadError::NotInitialised(_)) = self.rt.read_ps(self.mem) {
            return Err(e);
        }
        let s = self.rt.read_sched(self.mem)?;
        let mut out = String::new();
        let mut bad = Vec::new();
        // Global run queue: follow G.schedlink from head, bounded.
        let mut q = Vec::new();
        let mut cur = s.runq_head;
        let qsize = s.runqsize;
        let mut seen = std::collections::HashSet::new();
        while cur != 0 && q.len() < 10_000 {
            if !seen.insert(cur) {
                bad.push(format!("global run queue loops back to G at {cur:#x}"));
                break;
            }
            match self.rt.read_g(self.mem, cur) {
                Ok(g) => {
                    q.push(g.goid);
                    cur = g.schedlink;
                }
                Err(e) => {
                    bad.push(format!("global run queue: G at {cur:#x}: {e}"));
                    break;
                }
            }
        }
        let ms = self.ms_by_addr();
        let mut midle = Vec::new();
        let mut cur = s.midle;
        let mut seen = std::collections::HashSet::new();
        while cur != 0 && midle.len() < 10_000 && seen.insert(cur) {
            match ms.get(&cur) {
                Some(m) => {
                    midle.push(format!("M{}", m.id));
                    cur = m.schedlink;
                }
                None => {
                    bad.push(format!("idle M list: {cur:#x} is not in runtime.allm"));
                    break;
                }
            }
        }
        let ps = self.rt.read_ps(self.mem).map(|r| r.0).unwrap_or_default();
        let by_addr: FastMap<u64, &PInfo> = ps.iter().map(|p| (p.addr, p)).collect();
        let mut pidle = Vec::new();
        let mut cur = s.pidle;
        let mut seen = std::collections::HashSet::new();
        while cur != 0 && pidle.len() < 10_000 && seen.insert(cur) {
            match by_addr.get(&cur) {
                Some(p) => {
                    pidle.push(format!("P{}", p.id));
                    cur = p.link;
                }
                None => {
                    bad.push(format!("idle P list: {cur:#x} is not in runtime.allp"));
                    break;
                }
            }
        }
        let show = |v: &[String]| {
            let mut s: Vec<String> = v.iter().take(16).cloned().collect();
            if v.len() > 16 {
                s.push("...".into());
            }
            s.join(" ")
        };
        let gq: Vec<String> = q.iter().map(|id| format!("g{id}")).collect();
        let _ = writeln!(out, "global run queue: {qsize} goroutines [{}]", show(&gq));
        let _ = writeln!(out, "idle Ms: {} [{}]", s.nmidle, show(&midle));
        let _ = writeln!(out, "idle Ps: {} [{}]", s.npidle, show(&pidle));
        let _ = writeln!(out, "spinning Ms: {}", s.nmspinning);
        let _ = writeln!(
            out,
            "Ms created: {}, goroutine ids handed out: {}, Ps: {}",
            s.mnext,
            s.goidgen,
            ps.len()
        );
        for x in bad {
            let _ = writeln!(out, "  ? {x}");
        }
        Ok(out)
    }

    /// One-line descriptions for the pretty printers.
    pub fn describe_g(&self, addr: u64) -> String {
        match self.rt.read_g(self.mem, addr) {
            Ok(g) => {
                if let Some(why) = self.rt.g_is_garbage(&g) {
                    return format!("G at {addr:#x}: {why}");
                }
                let tgs = self.thread_gs();
                let ms = self.ms_by_addr();
                if let Some(m) = ms.values().find(|m| m.g0 == addr) {
                    return format!(
                        "g0 of M{} (the scheduler's stack [{:#x}, {:#x}))",
                        m.id, g.lo, g.hi
                    );
                }
                let (thread, on_cpu, m_id) = self.placement(&g, &tgs, &ms);
                let loc: Rc<str> = if self.rt.is_dead(&g) {
                    Rc::from("-")
                } else {
                    self.location(&g, thread, on_cpu, None)
                };
                let mut s = format!("goroutine {} [{}] at {loc}", g.goid, self.status_text(&g));
                if let Some(m) = m_id {
                    let _ = write!(s, " on M{m}");
                }
                if let Some(t) = thread {
                    let _ = write!(s, " thread {t}");
                }
                let _ = write!(s, ", created at {}", self.created(&g));
                s
            }
            Err(e) => format!("G at {addr:#x}: {e}"),
        }
    }

    pub fn describe_m(&self, addr: u64) -> String {
        let b = match self.mem.bytes(addr, self.lay().m_size) {
            Ok(b) => b,
            Err(e) => return format!("M at {addr:#x}: {e}"),
        };
        let m = self.rt.decode_m(addr, &b);
        let goids = self.goids_of([m.curg].into_iter());
        let pids = self.pids();
        let mut s = format!("M{} LWP {}", m.id, m.procid);
        if let Some(t) = self.thread_by_lwp(m.procid) {
            let _ = write!(s, " thread {}", t.num);
        }
        match m.curg {
            0 => s.push_str(", curg -"),
            a => {
                let _ = write!(
                    s,
                    ", curg {}",
                    goids.get(&a).map_or(format!("{a:#x}"), |i| format!("g{i}"))
                );
            }
        }
        match m.p {
            0 => s.push_str(", no P"),
            a => {
                let _ = write!(
                    s,
                    ", P{}",
                    pids.get(&a).map_or(format!("{a:#x}"), |i| i.to_string())
                );
            }
        }
        if m.spinning {
            s.push_str(", spinning");
        }
        if m.blocked {
            s.push_str(", idle (parked)");
        }
        s
    }

    pub fn describe_p(&self, addr: u64) -> String {
        let b = match self.mem.bytes(addr, self.lay().p_size) {
            Ok(b) => b,
            Err(e) => return format!("P at {addr:#x}: {e}"),
        };
        let p = self.rt.decode_p(addr, &b);
        let mids = self.mids();
        let goids = self.goids_of(std::iter::once(p.runnext).chain(p.runq.iter().take(8).copied()));
        let n = p.runqtail.wrapping_sub(p.runqhead);
        let m = match p.m {
            0 => "no M".to_string(),
            a => mids
                .get(&a)
                .map_or(format!("M {a:#x}"), |id| format!("M{id}")),
        };
        let rn = match p.runnext {
            0 => "-".to_string(),
            a => goids
                .get(&a)
                .map_or(format!("{a:#x}"), |id| format!("g{id}")),
        };
        format!(
            "P{} {} {m}, run queue {n}, runnext {rn}",
            p.id,
            self.lay().pstatus_name(p.status)
        )
    }

    /// The goroutines `ids` (or every one not dead), with their placement.
    pub fn find_gs(
        &self,
        ids: Option<&[i64]>,
    ) -> Result<Vec<(GInfo, Option<i64>, bool)>, ReadError> {
        let (gs, _) = self.rt.read_gs(self.mem)?;
        let tgs = self.thread_gs();
        let ms = self.ms_by_addr();
        let mut out = Vec::new();
        for g in gs {
            let keep = match ids {
                Some(ids) => ids.contains(&g.goid),
                None => !self.rt.is_dead(&g),
            };
            if keep {
                let (thread, on_cpu, _) = self.placement(&g, &tgs, &ms);
                out.push((g, thread, on_cpu));
            }
        }
        Ok(out)
    }

    /// Live (not dead) goroutine ids, sorted.
    pub fn goids(&self) -> Result<Vec<i64>, ReadError> {
        let (gs, _) = self.rt.read_gs(self.mem)?;
        Ok(gs
            .iter()
            .filter(|g| !self.rt.is_dead(g))
            .map(|g| g.goid)
            .collect())
    }

    /// `M<id> g<goid>` for each thread.
    pub fn thread_names(&self) -> Vec<(i64, String)> {
        let ms: Vec<MInfo> = self.rt.read_ms(self.mem).map(|r| r.0).unwrap_or_default();
        let mut out = Vec::new();
        for t in self.threads {
            let m = self.m_for_thread(t, &ms);
            let g = self
                .rt
                .thread_g(self.mem, t.fs_base)
                .filter(|&g| g != 0)
                .and_then(|g| self.rt.read_g(self.mem, g).ok());
            let name = match (m, g) {
                (Some(m), Some(g)) => format!("M{} g{}", m.id, g.goid),
                (Some(m), None) => format!("M{}", m.id),
                (None, Some(g)) => format!("g{}", g.goid),
                (None, None) => continue,
            };
            out.push((t.num, name));
        }
        out
    }
}

/// A wait as Go words it, to the second (`350ms`, `12s`, `3m20s`, `2h5m`).
fn duration(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    match s {
        0 => format!("{}ms", ns / 1_000_000),
        1..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, s % 3600 / 60),
    }
}

/// The frame every goroutine's stack ends in (`runtime.goexit`, and Go's
/// ABI0 symbol of it, `runtime.goexit.abi0`): never a location.
fn is_goexit(func: &str) -> bool {
    func == "runtime.goexit" || func.starts_with("runtime.goexit.")
}

/// A Go function literal (`runtime.gcenable.func1`, `main.main.func1.2`).
fn is_closure(func: &str) -> bool {
    let Some(i) = func.rfind(".func") else {
        return false;
    };
    let rest = &func[i + 5..];
    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Appends `s` left-aligned in `width` columns (like `{:<width}`).
fn pad(out: &mut String, s: &str, w: usize) {
    out.push_str(s);
    for _ in width(s)..w {
        out.push(' ');
    }
}

/// How many columns `s` takes: its characters (its bytes when ASCII, which
/// is quicker to tell).
fn width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}
