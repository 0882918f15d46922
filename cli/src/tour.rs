//! `gdbx tour`: the bootstrap walkthrough, live. The program runs under gdb
//! with a breakpoint on every step of its plan (the break-bootstrap
//! session); at each stop the tour reads the runtime's state from the
//! stopped process and says what the step before did, with its values:
//! g0's stack and the thread-local g, argc/argv, ncpu, the hash seed,
//! GOMAXPROCS and the Ps, the first G, sysmon's M and the scavenger's G.
//!
//! What a step did is visible only once it has finished, so each step's
//! values are read at a later stop: the next step of the chain, or for a
//! step that calls later steps (Go's `schedinit` calls `alginit`) the first
//! step after it returns ([`ReadAt`]). Sysmon and the scavenger are read at
//! their own stops, on their own thread or goroutine, and reported under
//! `runtime.main`, which started them. A step is printed once its values
//! are in, and steps are printed in plan order.
//!
//! Values come from the process's memory (`/proc/PID/mem` while gdb holds
//! it stopped) through the inspection core: statics by their ELF symbols
//! (`runtime.ncpu`, `runtime.argv`, ...), G, M and P through the layouts
//! read from DWARF. Only the stopped thread's `$fs_base` (its thread
//! pointer, for the thread-local g) comes from gdb: the session records it
//! with every hit.

use crate::gdb::GdbError;
use crate::outcome::RunOutcome;
use crate::pty::Sink;
use crate::run::{self, Event, Launched, RunOptions, Session};
use crate::runtime_thread::{self, RuntimeThread};
use crate::verdict::Verdict;
use debuginfo::plan::{Plan, PlanKind, Resolution};
use inspect::{G, LiveProcess, M, Memory, P, Program};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::time::Instant;

/// The tour's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// English.
    En,
    /// Chinese (the language of the walkthrough the tour follows).
    Zh,
}

/// `say!(lang, "english {x}", "中文 {x}")`: the text in the tour's language.
macro_rules! say {
    ($lang:expr, $en:literal, $zh:literal $(,)?) => {
        match $lang {
            Lang::En => format!($en),
            Lang::Zh => format!($zh),
        }
    };
}

/// One step of the tour, as printed and as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct TourStep {
    /// 1-based position in the plan.
    pub index: usize,
    /// The step's function.
    pub name: String,
    /// What the step is for (the plan's text).
    pub what: String,
    /// The program stopped there.
    pub hit: bool,
    /// file:line of the stop.
    pub at: Option<String>,
    /// The thread it ran on, as the runtime knows it (`g1 on M0 (P0), LWP 42`).
    pub thread: Option<String>,
    /// What it did, one line each, with the values read.
    pub did: Vec<String>,
    /// Where this runtime differs from the walkthrough's older Go.
    pub notes: Vec<String>,
    /// The values, for machines (`--format json`).
    pub values: Map<String, Value>,
}

/// When a step's values can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadAt {
    /// At the stop of the next chain step (it has returned, or jumped on).
    Next,
    /// At the stop of the first chain step from this one on (the step
    /// calls the ones in between).
    After(&'static str),
    /// When the program has exited.
    Exit,
}

/// What the tour reads for a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// Nothing of its own (an entry stub, a program function).
    Nothing,
    /// Jumped on to the next function without setting anything up.
    JumpsOn,
    /// g0's stack bounds and the thread-local g.
    G0Tls,
    /// The checks passed (the program went on).
    Check,
    /// argc and argv.
    Args,
    /// ncpu and the physical page size.
    OsInit,
    /// The hash seed.
    Seed,
    /// GOMAXPROCS and its source, the Ps, m0.
    SchedInit,
    /// The new G in P0's runnext.
    NewProc,
    /// The G that schedule picked.
    MStart,
    /// sysmon's M and the scavenger's G (read at their own stops).
    RuntimeMain,
    /// It returned.
    Returned,
    /// The exit status.
    Exit,
}

/// The reader and read point of each step, by name (one table for every
/// plan: the names are the runtime's).
fn reader_of(plan: PlanKind, name: &str) -> (Reader, ReadAt) {
    let go = plan.is_go();
    match name {
        "_rt0_amd64" if go => (Reader::JumpsOn, ReadAt::Next),
        "_rt0_amd64" | "runtime.rt0_go" => (Reader::G0Tls, ReadAt::Next),
        "runtime.check" => (Reader::Check, ReadAt::Next),
        "runtime.args" => (Reader::Args, ReadAt::Next),
        "runtime.osinit" => (Reader::OsInit, ReadAt::Next),
        "runtime.hashinit" => (Reader::Seed, ReadAt::Next),
        // Go's schedinit calls alginit; both are done at newproc.
        "runtime.alginit" => (Reader::Seed, ReadAt::After("runtime.newproc")),
        "runtime.schedinit" => (Reader::SchedInit, ReadAt::After("runtime.newproc")),
        "runtime.newproc" => (Reader::NewProc, ReadAt::Next),
        "runtime.mstart" => (Reader::MStart, ReadAt::Next),
        "runtime.main" => (Reader::RuntimeMain, ReadAt::Next),
        "main.init" | "main.main" => (Reader::Returned, ReadAt::Next),
        // A -race build leaves through racefini (then libc's exit).
        "runtime.exit" | "runtime.racefini" => (Reader::Exit, ReadAt::Exit),
        _ => (Reader::Nothing, ReadAt::Next),
    }
}

/// A chain step of the tour and where its reading stands.
struct Entry {
    step: TourStep,
    reader: Reader,
    /// Position in the chain at whose stop the values are read (`usize::MAX`: at exit).
    read_at: usize,
    /// The values are in.
    read: bool,
    /// Background steps (by plan index) still to be heard from.
    waiting_for: Vec<usize>,
}

/// The state read at one stop: the stopped thread and the program's memory.
pub struct Stop<'a> {
    /// The program's memory.
    pub mem: &'a dyn Memory,
    /// The stopped thread's thread pointer (`$fs_base`; 0 unknown).
    pub fs_base: u64,
    /// Its OS thread id.
    pub lwp: Option<u32>,
    /// The process id (its main thread's LWP).
    pub pid: Option<u32>,
}

/// The tour's state: the steps so far and what is still to be read.
pub struct Tour<'a> {
    res: &'a Resolution,
    prog: &'a Program,
    lang: Lang,
    entries: Vec<Entry>,
    /// Plan index -> chain position.
    chain_pos: Vec<Option<usize>>,
    /// Entries printed so far.
    printed: usize,
    /// The highest chain position stopped at so far.
    reached: Option<usize>,
}

impl<'a> Tour<'a> {
    /// A tour of `res` (the plan resolved against the program `prog`).
    pub fn new(res: &'a Resolution, prog: &'a Program, lang: Lang) -> Tour<'a> {
        let plan = Plan::of(res.plan);
        let zh = lang == Lang::Zh;
        let chain: Vec<usize> = res
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.after.is_none())
            .map(|(i, _)| i)
            .collect();
        let mut chain_pos = vec![None; res.steps.len()];
        for (pos, &i) in chain.iter().enumerate() {
            chain_pos[i] = Some(pos);
        }
        let pos_of = |name: &str| {
            chain
                .iter()
                .position(|&i| res.steps[i].name == name)
                .unwrap_or(usize::MAX)
        };
        let entries = chain
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                let s = &res.steps[i];
                let (reader, at) = reader_of(res.plan, &s.name);
                let read_at = match at {
                    ReadAt::Next => pos + 1,
                    ReadAt::After(name) => pos_of(name),
                    ReadAt::Exit => usize::MAX,
                };
                let what = plan
                    .steps
                    .iter()
                    .find(|p| p.name == s.name)
                    .map_or(s.what.clone(), |p| p.what_in(zh).to_string());
                let waiting_for = res
                    .steps
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.after.as_deref() == Some(&s.name) && b.present)
                    .map(|(b, _)| b)
                    .collect();
                Entry {
                    step: TourStep {
                        index: s.index,
                        name: s.name.clone(),
                        what,
                        hit: false,
                        at: None,
                        thread: None,
                        did: Vec::new(),
                        notes: notes(res.plan, &s.name, lang),
                        values: Map::new(),
                    },
                    reader,
                    read_at,
                    read: reader == Reader::Nothing && !s.present,
                    waiting_for,
                }
            })
            .collect();
        Tour {
            res,
            prog,
            lang,
            entries,
            chain_pos,
            printed: 0,
            reached: None,
        }
    }

    /// The program stopped at plan step `index`, at `at` (file:line).
    pub fn on_step(&mut self, index: usize, at: Option<String>, stop: &Stop) {
        let probe = Probe {
            prog: self.prog,
            mem: stop.mem,
        };
        let thread = probe.thread_name(stop, self.lang);
        match self.chain_pos[index] {
            Some(pos) => {
                // What the earlier steps did, now that they are done.
                for k in 0..self.entries.len() {
                    let e = &self.entries[k];
                    if !e.read && e.read_at <= pos && e.read_at != usize::MAX {
                        self.read(k, &probe, stop);
                    }
                }
                let e = &mut self.entries[pos];
                e.step.hit = true;
                e.step.at = at;
                e.step.thread = Some(thread);
                if e.reader == Reader::Nothing {
                    e.read = true;
                }
                self.reached = Some(pos);
            }
            None => self.on_background(index, &probe, stop, thread),
        }
    }

    /// A background step (sysmon, the scavenger) reached its own stop: it
    /// is described under the step that started it.
    fn on_background(&mut self, index: usize, probe: &Probe, stop: &Stop, thread: String) {
        let lang = self.lang;
        let step = &self.res.steps[index];
        let Some(owner) = self
            .entries
            .iter()
            .position(|e| e.waiting_for.contains(&index))
        else {
            return;
        };
        let e = &mut self.entries[owner];
        e.waiting_for.retain(|&b| b != index);
        let name = step.name.clone();
        let g = probe.current_g(stop.fs_base);
        let m = g.as_ref().and_then(|g| probe.m(g.m));
        let line = if step.name == "runtime.sysmon" {
            let (mid, has_p) = m.as_ref().map_or((None, false), |m| (Some(m.id), m.p != 0));
            e.step.values.insert("sysmon_m".into(), json!(mid));
            e.step.values.insert("sysmon_lwp".into(), json!(stop.lwp));
            e.step
                .values
                .insert("sysmon_procid".into(), json!(m.as_ref().map(|m| m.procid)));
            e.step.values.insert("sysmon_has_p".into(), json!(has_p));
            let p = if has_p {
                say!(lang, "with a P", "有 P")
            } else {
                say!(lang, "no P", "没有 P")
            };
            let mid = mid.map_or("M?".into(), |id| format!("M{id}"));
            let lwp = stop.lwp.map_or("?".into(), |l| l.to_string());
            say!(
                lang,
                "{name}: on {mid}, its own thread (LWP {lwp}), {p}",
                "{name}：在 {mid} 上，它自己的线程（LWP {lwp}），{p}"
            )
        } else {
            let goid = g.as_ref().filter(|g| g.goid != 0).map(|g| g.goid);
            e.step.values.insert("scavenger_goid".into(), json!(goid));
            let gname = goid.map_or("g?".into(), |id| format!("g{id}"));
            say!(
                lang,
                "{name}: goroutine {gname} ({thread})",
                "{name}：goroutine {gname}（{thread}）"
            )
        };
        e.step.did.push(line);
    }

    /// Reads entry `k`'s values at this stop.
    fn read(&mut self, k: usize, probe: &Probe, stop: &Stop) {
        let lang = self.lang;
        let e = &mut self.entries[k];
        e.read = true;
        if !e.step.hit {
            return;
        }
        let mut v = Map::new();
        let did = match e.reader {
            Reader::Nothing | Reader::Exit => Vec::new(),
            Reader::JumpsOn => vec![say!(
                lang,
                "jumped on to the next function: nothing to see yet",
                "直接跳到下一个函数：还没有做什么"
            )],
            Reader::G0Tls => probe.g0_tls(stop, lang, &mut v),
            Reader::Check => probe.check(stop, lang, &mut v),
            Reader::Args => probe.args(lang, &mut v),
            Reader::OsInit => probe.osinit(self.res.plan, lang, &mut v),
            Reader::Seed => probe.seed(lang, &mut v),
            Reader::SchedInit => probe.schedinit(stop, lang, &mut v),
            Reader::NewProc => probe.newproc(self.res.plan, lang, &mut v),
            Reader::MStart => probe.mstart(stop, lang, &mut v),
            Reader::RuntimeMain | Reader::Returned => {
                vec![say!(lang, "returned", "已返回")]
            }
        };
        // runtime.main never returns; its lines come from sysmon and the scavenger.
        if e.reader != Reader::RuntimeMain {
            e.step.did.extend(did);
        }
        e.step.values.extend(v);
    }

    /// The program exited with `code` (or was killed by `signal`): the
    /// steps still waiting are completed with what is known.
    pub fn on_exit(&mut self, code: Option<i32>, signal: Option<&str>) {
        let lang = self.lang;
        for e in &mut self.entries {
            if e.reader == Reader::Exit || !e.read {
                e.read = true;
                if e.reader == Reader::Exit && e.step.hit {
                    e.step.values.insert("exit_code".into(), json!(code));
                    let line = match (code, signal) {
                        (Some(c), _) => say!(lang, "exit status {c}", "退出状态 {c}"),
                        (None, Some(s)) => say!(lang, "killed by {s}", "被 {s} 杀死"),
                        (None, None) => say!(lang, "no exit status", "没有退出状态"),
                    };
                    e.step.did.push(line);
                }
            }
            for b in std::mem::take(&mut e.waiting_for) {
                let name = &self.res.steps[b].name;
                e.step.did.push(say!(
                    lang,
                    "{name}: not reached before the program ended",
                    "{name}：程序结束前没有运行到"
                ));
            }
        }
    }

    /// Steps whose values are all in and not yet taken, in plan order.
    pub fn take_ready(&mut self) -> Vec<TourStep> {
        let mut out = Vec::new();
        while let Some(e) = self.entries.get(self.printed) {
            let done = e.read && e.waiting_for.is_empty();
            let skipped = !e.step.hit && self.reached.is_some_and(|r| r > self.printed);
            if !(done || skipped) {
                break;
            }
            out.push(e.step.clone());
            self.printed += 1;
        }
        out
    }

    /// Every step, as far as the tour got.
    pub fn steps(&self) -> Vec<TourStep> {
        self.entries.iter().map(|e| e.step.clone()).collect()
    }
}

/// Notes on where the program's runtime differs from the walkthrough's
/// older Go (the walkthrough shows Go before 1.5: C runtime, hashinit).
fn notes(plan: PlanKind, name: &str, lang: Lang) -> Vec<String> {
    if !plan.is_go() {
        return Vec::new();
    }
    let n = match name {
        "_rt0_amd64_linux" => say!(
            lang,
            "Go 1.19 has no C main: the entry point jumps straight to _rt0_amd64",
            "Go 1.19 没有 C 的 main：入口直接跳到 _rt0_amd64"
        ),
        "_rt0_amd64" => say!(
            lang,
            "Go 1.19: _rt0_amd64 jumps on to runtime.rt0_go, which does the set-up the walkthrough describes",
            "Go 1.19：_rt0_amd64 接着跳到 runtime.rt0_go，由它做文中描述的初始化"
        ),
        "runtime.osinit" => say!(
            lang,
            "Go 1.19 reads the page size earlier, in runtime.args (the auxiliary vector)",
            "Go 1.19 更早在 runtime.args 里（从辅助向量）读取页大小"
        ),
        "runtime.alginit" => say!(
            lang,
            "Go 1.19: hashinit became alginit, and schedinit calls it",
            "Go 1.19：hashinit 改名为 alginit，由 schedinit 调用"
        ),
        "runtime.schedinit" => say!(
            lang,
            "Go 1.19: the scheduler's proc.c became proc.go (schedinit, newproc, schedule)",
            "Go 1.19：调度器的 proc.c 变成了 proc.go（schedinit、newproc、schedule）"
        ),
        _ => return Vec::new(),
    };
    vec![n]
}

/// Reads the runtime's state from a stopped process.
struct Probe<'a> {
    prog: &'a Program,
    mem: &'a dyn Memory,
}

impl Probe<'_> {
    /// Run-time address and size of a data symbol.
    fn sym(&self, name: &str) -> Option<(u64, u64)> {
        let s = self.prog.binary().symbol(name)?;
        Some((s.address.wrapping_add(self.prog.bias()), s.size))
    }

    /// A signed integer static, read at its symbol's size (1, 2, 4 or 8
    /// bytes; 8 when the symbol has no size).
    fn int(&self, name: &str) -> Option<i64> {
        let (addr, size) = self.sym(name)?;
        let n = match size {
            1 | 2 | 4 => size as usize,
            _ => 8,
        };
        let b = self.mem.bytes(addr, n).ok()?;
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(&b);
        let shift = 64 - 8 * n as u32;
        Some((i64::from_le_bytes(w) << shift) >> shift)
    }

    fn g(&self, addr: u64) -> Option<G> {
        runtime_thread::read_g(self.prog, self.mem, addr)
    }

    fn m(&self, addr: u64) -> Option<M> {
        runtime_thread::read_m(self.prog, self.mem, addr)
    }

    fn p(&self, addr: u64) -> Option<P> {
        runtime_thread::read_p(self.prog, self.mem, addr)
    }

    fn ps(&self) -> Vec<P> {
        self.prog
            .decoder()
            .read_ps(self.mem)
            .map(|r| r.0)
            .unwrap_or_default()
    }

    /// The stopped thread's current g, when it has one.
    fn current_g(&self, fs_base: u64) -> Option<G> {
        let addr = self.prog.decoder().thread_g(self.mem, fs_base)?;
        self.g(addr)
    }

    /// The function at a run-time pc.
    fn func(&self, pc: u64) -> String {
        self.prog
            .symbols()
            .elf_symbol(pc)
            .map_or_else(|| format!("{pc:#x}"), str::to_string)
    }

    /// The stopped thread as the runtime knows it: `g1 on M0 (P0), LWP 42`,
    /// `g0 of M1 (no P), LWP 43`, or `LWP 42, no g yet`.
    fn thread_name(&self, stop: &Stop, lang: Lang) -> String {
        let lwp = stop.lwp.map_or("?".into(), |l| l.to_string());
        let main = if stop.lwp.is_some() && stop.lwp == stop.pid {
            say!(lang, ", the main thread", "，主线程")
        } else {
            String::new()
        };
        let Some(t) = RuntimeThread::read(self.prog, self.mem, stop.fs_base) else {
            return say!(
                lang,
                "LWP {lwp}{main}, no g yet",
                "LWP {lwp}{main}，还没有 g"
            );
        };
        let mid = t.m.map_or("M?".into(), |id| format!("M{id}"));
        let p = match (t.has_p, t.p) {
            (false, _) => say!(lang, "no P", "没有 P"),
            (true, Some(id)) => format!("P{id}"),
            (true, None) => "P?".into(),
        };
        match t.goid {
            None => say!(
                lang,
                "g0 of {mid} ({p}), LWP {lwp}{main}",
                "{mid} 的 g0（{p}），LWP {lwp}{main}"
            ),
            Some(goid) => say!(
                lang,
                "g{goid} on {mid} ({p}), LWP {lwp}{main}",
                "g{goid} 在 {mid} 上（{p}），LWP {lwp}{main}"
            ),
        }
    }

    fn g0_tls(&self, stop: &Stop, lang: Lang, v: &mut Map<String, Value>) -> Vec<String> {
        let mut did = Vec::new();
        let g0 = self.sym("runtime.g0").map(|s| s.0);
        if let Some(g) = g0.and_then(|a| self.g(a)) {
            let (lo, hi) = (g.lo, g.hi);
            let kib = hi.saturating_sub(lo) / 1024;
            v.insert("g0_stack_lo".into(), json!(lo));
            v.insert("g0_stack_hi".into(), json!(hi));
            did.push(say!(
                lang,
                "g0's stack: [{lo:#x}, {hi:#x}), {kib} KiB",
                "g0 的栈：[{lo:#x}, {hi:#x})，{kib} KiB"
            ));
        }
        let tls = self.prog.decoder().thread_g(self.mem, stop.fs_base);
        v.insert("tls_g".into(), json!(tls));
        v.insert("tls_g_is_g0".into(), json!(tls.is_some() && tls == g0));
        did.push(match (tls, g0) {
            (Some(t), Some(g0)) if t == g0 => say!(
                lang,
                "thread-local g = {t:#x}: g0 (written, read back)",
                "本地线程存储里的 g = {t:#x}：g0（写入后读回）"
            ),
            (Some(t), _) => say!(
                lang,
                "thread-local g = {t:#x}, not g0",
                "本地线程存储里的 g = {t:#x}，不是 g0"
            ),
            (None, _) => say!(
                lang,
                "thread-local g: unreadable",
                "本地线程存储里的 g：读不到"
            ),
        });
        did
    }

    fn check(&self, stop: &Stop, lang: Lang, v: &mut Map<String, Value>) -> Vec<String> {
        let g0 = self.sym("runtime.g0").map(|s| s.0);
        let tls = self.prog.decoder().thread_g(self.mem, stop.fs_base);
        v.insert("check_returned".into(), json!(true));
        v.insert("tls_g_is_g0".into(), json!(tls.is_some() && tls == g0));
        vec![say!(
            lang,
            "returned: the sizes of int8..uintptr, compare-and-swap and TLS are as the runtime expects (a failed check is a fatal error, exit status 2)",
            "已返回：int8 到 uintptr 的大小、CAS 和 TLS 都符合运行时的预期（检查失败会是 fatal error，退出状态 2）"
        )]
    }

    fn args(&self, lang: Lang, v: &mut Map<String, Value>) -> Vec<String> {
        let (Some(argc), Some(argv)) = (self.int("runtime.argc"), self.int("runtime.argv")) else {
            return vec![say!(lang, "argc/argv: unreadable", "argc/argv：读不到")];
        };
        let args: Vec<String> = (0..argc.clamp(0, 4096) as u64)
            .map_while(|i| {
                let p = self.mem.u64(argv as u64 + 8 * i).ok()?;
                self.c_string(p)
            })
            .collect();
        v.insert("argc".into(), json!(argc));
        v.insert("argv".into(), json!(args));
        let argv = format!("{args:?}");
        vec![
            say!(lang, "runtime.argc = {argc}", "runtime.argc = {argc}"),
            say!(lang, "runtime.argv = {argv}", "runtime.argv = {argv}"),
        ]
    }

    /// A NUL-terminated string at `addr` (at most 64 KiB).
    fn c_string(&self, addr: u64) -> Option<String> {
        let mut out = Vec::new();
        let mut a = addr;
        while out.len() < 1 << 16 {
            // Up to the end of the page, so a read never crosses into an unmapped one.
            let n = (4096 - (a % 4096)) as usize;
            let chunk = self.mem.bytes(a, n.min(256)).ok()?;
            if let Some(end) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..end]);
                return Some(String::from_utf8_lossy(&out).into_owned());
            }
            out.extend_from_slice(&chunk);
            a += chunk.len() as u64;
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    fn osinit(&self, plan: PlanKind, lang: Lang, v: &mut Map<String, Value>) -> Vec<String> {
        let ncpu = self.int("runtime.ncpu");
        let page = self.int("runtime.physPageSize");
        v.insert("ncpu".into(), json!(ncpu));
        v.insert("phys_page_size".into(), json!(page));
        let ncpu = ncpu.map_or("?".into(), |n| n.to_string());
        let page = page.map_or("?".into(), |n| n.to_string());
        let how = if plan.is_go() {
            "getproccount"
        } else {
            "sched_getaffinity"
        };
        vec![
            say!(
                lang,
                "runtime.ncpu = {ncpu}: the CPUs this process may run on ({how})",
                "runtime.ncpu = {ncpu}：这个进程可以使用的 CPU 个数（{how}）"
            ),
            say!(
                lang,
                "runtime.physPageSize = {page} bytes (AT_PAGESZ of the auxiliary vector)",
                "runtime.physPageSize = {page} 字节（辅助向量的 AT_PAGESZ）"
            ),
        ]
    }

    fn words(&self, name: &str) -> Option<Vec<u64>> {
        let (addr, size) = self.sym(name)?;
        let b = self.mem.bytes(addr, size.min(256) as usize).ok()?;
        Some(
            b.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        )
    }

    fn seed(&self, lang: Lang, v: &mut Map<String, Value>) -> Vec<String> {
        // Go 1.19 on a CPU with AES: 128 random bytes in aeskeysched; else hashkey.
        let aes = self.int("runtime.useAeshash").is_some_and(|b| b != 0);
        let (name, words) = if aes {
            ("runtime.aeskeysched", self.words("runtime.aeskeysched"))
        } else {
            ("runtime.hashkey", self.words("runtime.hashkey"))
        };
        let Some(words) = words.filter(|w| !w.is_empty()) else {
            return vec![say!(lang, "{name}: unreadable", "{name}：读不到")];
        };
        v.insert("seed_symbol".into(), json!(name));
        v.insert("seed".into(), json!(words));
        let shown: Vec<String> = words.iter().take(2).map(|w| format!("{w:#018x}")).collect();
        let shown = shown.join(", ");
        let more = if words.len() > 2 { ", …" } else { "" };
        let bytes = words.len() * 8;
        vec![say!(
            lang,
            "{name} = [{shown}{more}] ({bytes} random bytes from the kernel)",
            "{name} = [{shown}{more}]（来自内核的 {bytes} 个随机字节）"
        )]
    }

    fn schedinit(&self, stop: &Stop, lang: Lang, v: &mut Map<String, Value>) -> Vec<String> {
        let mut did = Vec::new();
        let procs = self.int("runtime.gomaxprocs");
        let ncpu = self.int("runtime.ncpu");
        let env = stop.pid.and_then(|pid| environ_var(pid, "GOMAXPROCS"));
        let from_env = env
            .as_deref()
            .and_then(|e| e.parse::<i64>().ok())
            .filter(|&n| n > 0);
        let source = match (procs, from_env) {
            // A value above the runtime's limit is capped to it.
            (Some(p), Some(n)) if p == n || (p < n && Some(p) != ncpu) => "env",
            (Some(p), _) if Some(p) == ncpu => "ncpu",
            _ => "unknown",
        };
        v.insert("gomaxprocs".into(), json!(procs));
        v.insert("gomaxprocs_source".into(), json!(source));
        v.insert("gomaxprocs_env".into(), json!(env));
        let p = procs.map_or("?".into(), |p| p.to_string());
        let n = ncpu.map_or("?".into(), |n| n.to_string());
        let e = env.clone().unwrap_or_default();
        did.push(match (source, env.is_some()) {
            ("env", _) if from_env != procs => say!(
                lang,
                "GOMAXPROCS = {p}: GOMAXPROCS={e} in the environment, capped",
                "GOMAXPROCS = {p}：来自环境变量 GOMAXPROCS={e}，有上限"
            ),
            ("env", _) => say!(
                lang,
                "GOMAXPROCS = {p}: from GOMAXPROCS={e} in the environment",
                "GOMAXPROCS = {p}：来自环境变量 GOMAXPROCS={e}"
            ),
            ("ncpu", true) => say!(
                lang,
                "GOMAXPROCS = {p} = ncpu: GOMAXPROCS={e} in the environment is not a positive number, so it was ignored",
                "GOMAXPROCS = {p} = ncpu：环境变量 GOMAXPROCS={e} 不是正整数，被忽略"
            ),
            ("ncpu", false) => say!(
                lang,
                "GOMAXPROCS = {p} = ncpu (no GOMAXPROCS in the environment)",
                "GOMAXPROCS = {p} = ncpu（环境变量里没有 GOMAXPROCS）"
            ),
            _ => say!(
                lang,
                "GOMAXPROCS = {p} (ncpu = {n})",
                "GOMAXPROCS = {p}（ncpu = {n}）"
            ),
        });
        let ps = self.ps();
        let layout = self.prog.layout();
        let list: Vec<String> = ps
            .iter()
            .map(|p| format!("P{} {}", p.id, layout.pstatus_name(p.status)))
            .collect();
        v.insert(
            "ps".into(),
            json!(
                ps.iter()
                    .map(|p| json!({"id": p.id, "status": layout.pstatus_name(p.status)}))
                    .collect::<Vec<_>>()
            ),
        );
        let count = ps.len();
        let list = list.join(", ");
        did.push(say!(
            lang,
            "{count} Ps made (runtime.allp): {list}",
            "建了 {count} 个 P（runtime.allp）：{list}"
        ));
        let m0 = self.sym("runtime.m0").and_then(|s| self.m(s.0));
        if let Some(m0) = m0 {
            let p = self.p(m0.p).map(|p| p.id);
            v.insert("m0_id".into(), json!(m0.id));
            v.insert("m0_p".into(), json!(p));
            let id = m0.id;
            let lwp = stop.pid.map_or("?".into(), |l| l.to_string());
            let p = p.map_or(say!(lang, "no P", "没有 P"), |p| format!("P{p}"));
            did.push(say!(
                lang,
                "m0 is M{id}, the main thread (LWP {lwp}), holding {p}",
                "m0 就是 M{id}，主线程（LWP {lwp}），持有 {p}"
            ));
        }
        did
    }

    /// The G newproc made: `runqput(pp, newg, true)` puts it in P0's
    /// runnext, except in a -race build, where Go randomises the scheduler
    /// (`randomizeScheduler`) and runqput puts it at the tail of P0's run
    /// queue half the time.
    fn newproc(&self, plan: PlanKind, lang: Lang, v: &mut Map<String, Value>) -> Vec<String> {
        let ps = self.ps();
        let Some(p0) = ps.first() else {
            return vec![say!(lang, "no P to read", "没有可读的 P")];
        };
        let (g, in_runnext) = match self.g(p0.runnext) {
            Some(g) => (g, true),
            None => match p0.runq.last().and_then(|&g| self.g(g)) {
                Some(g) => (g, false),
                None => {
                    return vec![say!(
                        lang,
                        "P0's runnext and run queue are empty",
                        "P0 的 runnext 和就绪队列都是空的"
                    )];
                }
            },
        };
        let entry = self.func(g.startpc);
        let status = self
            .prog
            .layout()
            .status_name(g.status)
            .unwrap_or("?")
            .to_string();
        v.insert("new_goid".into(), json!(g.goid));
        v.insert("new_entry".into(), json!(entry));
        v.insert("new_status".into(), json!(status));
        v.insert("in_p0_runnext".into(), json!(in_runnext));
        v.insert("in_p0_runq".into(), json!(!in_runnext));
        let goid = g.goid;
        let race = matches!(plan, PlanKind::GoRace | PlanKind::GoCgoRace);
        let place = match (in_runnext, race) {
            (true, _) => say!(lang, "in P0's runnext", "在 P0 的 runnext 里"),
            (false, true) => say!(
                lang,
                "in P0's run queue (a -race build randomises the scheduler: runqput puts a new G in runnext or the queue at random)",
                "在 P0 的就绪队列里（-race 编译的调度器是随机化的：runqput 随机把新的 G 放进 runnext 或就绪队列）"
            ),
            (false, false) => say!(lang, "in P0's run queue", "在 P0 的就绪队列里"),
        };
        vec![say!(
            lang,
            "a new G: g{goid}, entry {entry}, {status}, {place}",
            "新的 G：g{goid}，入口 {entry}，{status}，{place}"
        )]
    }

    fn mstart(&self, stop: &Stop, lang: Lang, v: &mut Map<String, Value>) -> Vec<String> {
        let Some(g) = self.current_g(stop.fs_base) else {
            return vec![say!(lang, "current g: unreadable", "当前的 g：读不到")];
        };
        let m = self.m(g.m).map(|m| m.id);
        let runnext = self.ps().first().map(|p| p.runnext);
        v.insert("running_goid".into(), json!(g.goid));
        v.insert("running_m".into(), json!(m));
        v.insert("p0_runnext_empty".into(), json!(runnext == Some(0)));
        let goid = g.goid;
        let m = m.map_or("M?".into(), |m| format!("M{m}"));
        let entry = self.func(g.startpc);
        let now = if runnext == Some(0) {
            say!(lang, "P0's runnext is empty now", "P0 的 runnext 现在空了")
        } else {
            say!(
                lang,
                "P0's runnext is not empty",
                "P0 的 runnext 还不是空的"
            )
        };
        vec![say!(
            lang,
            "mstart -> schedule picked g{goid} and runs {entry} on it, on {m}; {now}",
            "mstart -> schedule 选中了 g{goid}，在 {m} 上运行 {entry}；{now}"
        )]
    }
}

/// `KEY`'s value in the process's initial environment (`/proc/PID/environ`,
/// which is what the runtime reads).
fn environ_var(pid: u32, key: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|&b| b == 0).find_map(|kv| {
        let kv = std::str::from_utf8(kv).ok()?;
        kv.strip_prefix(key)?.strip_prefix('=').map(str::to_string)
    })
}

/// The tour as text: one block per step.
pub fn render(steps: &[TourStep], lang: Lang) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for t in steps {
        let at = t.at.as_deref().map(crate::report::short_path);
        let at = at.map_or(String::new(), |a| format!("  {a}"));
        let _ = writeln!(s, "{:>2}. {}{at}", t.index, t.name);
        if let Some(th) = &t.thread {
            let _ = writeln!(s, "    [{th}]");
        }
        if !t.hit {
            let _ = writeln!(s, "    {}", say!(lang, "(not reached)", "（没有运行到）"));
        }
        let _ = writeln!(s, "    {}", t.what);
        for d in &t.did {
            let _ = writeln!(s, "    -> {d}");
        }
        for n in &t.notes {
            let _ = writeln!(s, "    * {n}");
        }
    }
    s
}

/// What a tour run produced.
pub struct TourRun {
    /// Every step, as far as the tour got.
    pub steps: Vec<TourStep>,
    /// The session's record (hits, how the program ended), for the verdict.
    pub outcome: RunOutcome,
}

/// Runs the program under gdb and tours its bootstrap. Text goes to
/// stdout step by step as the values come in (`print`); the program's
/// output goes to `sink`. With `step`, the gdb prompt is the user's at
/// each stop ([`prompt`]). `open` reads the runtime's layout from the
/// binary; it runs while gdb starts (each takes a few hundred ms), and its
/// error (a runtime the tour cannot read) ends the run before the program
/// has run any of its code.
pub fn run(
    res: &Resolution,
    open: impl FnOnce() -> Result<Program, String>,
    opts: &RunOptions,
    sink: Sink,
    lang: Lang,
    print: bool,
    step: bool,
) -> Result<TourRun, String> {
    let Launched {
        launch,
        session,
        runtime,
    } = match run::launch(res, opts, sink, open) {
        Ok(l) => l,
        Err(outcome) => {
            return Ok(TourRun {
                steps: Vec::new(),
                outcome: *outcome,
            });
        }
    };
    let (steps, outcome) = match (session, runtime) {
        (Ok(session), Err(e)) => {
            session.finish(Err(GdbError::Exited(String::new())));
            return Err(e);
        }
        (Err(out), _) => (Vec::new(), *out),
        (Ok(mut session), Ok(mut prog)) => {
            match session
                .out
                .exit
                .pid
                .and_then(|pid| LiveProcess::open(pid).ok())
            {
                Some(mem) => {
                    prog.set_bias(session.bias, &mem);
                    let mut tour = Tour::new(res, &prog, lang);
                    let result = drive(&mut session, &mut tour, &mem, print, lang, step);
                    if result.is_err() {
                        // Interrupted, timed out or gdb failed: what was seen so far.
                        tour.on_exit(None, None);
                        if print {
                            print!("{}", render(&tour.take_ready(), lang));
                        }
                    }
                    let outcome = session.finish(result);
                    (tour.steps(), outcome)
                }
                None => {
                    let why = ": gdbx cannot read the program's memory (/proc/PID/mem)";
                    (
                        Vec::new(),
                        session.finish(Err(GdbError::Exited(why.into()))),
                    )
                }
            }
        }
    };
    Ok(TourRun {
        steps,
        outcome: launch.finish(outcome),
    })
}

/// Breakpoints on every step, then at each stop: read, print what is ready.
/// With `step`, the prompt comes after the steps just printed, so that
/// every step shows what it is for and what it did before the user is
/// handed gdb: a step whose values are read at a later stop (what it did
/// is visible once it is done) gets its prompt there, and a stop that
/// completes no step has none.
fn drive(
    session: &mut Session,
    tour: &mut Tour,
    mem: &LiveProcess,
    print: bool,
    lang: Lang,
    mut step: bool,
) -> Result<(), GdbError> {
    // Prints the steps whose values are in; the last one's plan index.
    let flush = |tour: &mut Tour| -> Option<usize> {
        let ready = tour.take_ready();
        if print && !ready.is_empty() {
            use std::io::Write as _;
            print!("{}", render(&ready, lang));
            let _ = std::io::stdout().flush();
        }
        ready.last().map(|t| t.index)
    };
    let mut ext_loaded = false;
    if !session.ended() {
        session.break_at_steps()?;
        // A step the program was stopped on at its first instruction.
        let first = session
            .out
            .hits
            .first()
            .and_then(|h| session.res.steps.iter().position(|s| s.name == h.step));
        let mut stop = first;
        if let Some(index) = first {
            on_stop(session, tour, mem, index);
        }
        loop {
            if let Some(index) = stop.take() {
                let printed = flush(tour);
                if step && let Some(last) = printed {
                    step = prompt(session, index, last, lang, &mut ext_loaded)?;
                }
            }
            match session.next_event()? {
                Event::Step { index } => {
                    on_stop(session, tour, mem, index);
                    stop = Some(index);
                }
                Event::Signal => {}
                Event::Exited => break,
            }
        }
    }
    let exit = &session.out.exit;
    tour.on_exit(exit.exit_code, exit.signal.as_deref());
    flush(tour);
    Ok(())
}

/// gdb commands that would move the program on behind the tour's back.
const RESUMING: &[&str] = &[
    "run", "r", "start", "starti", "kill", "k", "step", "s", "stepi", "si", "nexti", "ni",
    "finish", "fin", "until", "u", "advance", "jump", "j", "signal", "detach", "attach", "quit",
    "q",
];

/// `--step`: the gdb prompt at the stop of plan step `index`, after the
/// step printed last (1-based plan index `last`): when that is an earlier
/// step, whose values were read at this stop, the prompt says so. A gdb
/// command runs and its output is shown; an empty line, `next` or
/// `continue` goes on to the next step; end of input runs the rest of the
/// tour without stopping (the result). The time spent here does not count
/// against `--timeout`.
fn prompt(
    session: &mut Session,
    index: usize,
    last: usize,
    lang: Lang,
    ext_loaded: &mut bool,
) -> Result<bool, GdbError> {
    use std::io::{BufRead as _, Write as _};
    let began = Instant::now();
    if !*ext_loaded {
        // The gdb extension's commands (info goroutines, $g(), ...), loaded
        // as `gdbx gdb` loads them; its one line says what it loaded or why not.
        *ext_loaded = true;
        let load = crate::interactive::load_extension(&crate::interactive::workspace());
        match session.console(&load) {
            Ok(_) | Err(GdbError::Command(..)) => print!("{}", session.gdb.take_console()),
            Err(e) => return Err(e),
        }
    }
    let step = &session.res.steps[index];
    let name = &step.name;
    let at = session
        .out
        .hits
        .last()
        .and_then(|h| h.file.as_deref().zip(h.line))
        .map_or(String::new(), |(f, l)| {
            format!(" ({}:{l})", crate::report::short_path(f))
        });
    let line = if last == step.index {
        say!(
            lang,
            "-- stopped at {name}{at}; gdb commands, Enter for the next step --",
            "-- 停在 {name}{at}；可以输入 gdb 命令，回车进入下一步 --"
        )
    } else {
        say!(
            lang,
            "-- stopped at {name}{at}, where the values above were read; gdb commands, Enter for the next step --",
            "-- 停在 {name}{at}，上面的值是在这里读到的；可以输入 gdb 命令，回车进入下一步 --"
        )
    };
    println!("{line}");
    let stdin = std::io::stdin();
    let mut go_on = true;
    loop {
        print!("(gdbx tour) ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
            println!();
            go_on = false;
            break;
        }
        let cmd = line.trim();
        let word = cmd.split_whitespace().next().unwrap_or("");
        if matches!(word, "" | "next" | "n" | "continue" | "c") {
            break;
        }
        if RESUMING.contains(&word) {
            println!(
                "{}",
                say!(
                    lang,
                    "the tour drives the program: Enter goes on to the next step, end of input (Ctrl-D) runs it to its end",
                    "程序由 tour 控制：回车进入下一步，输入结束（Ctrl-D）则一直运行到结束"
                )
            );
            continue;
        }
        match session.console(cmd) {
            Ok(_) => print!("{}", session.gdb.take_console()),
            Err(GdbError::Command(_, msg)) => {
                print!("{}", session.gdb.take_console());
                println!("{msg}");
            }
            Err(e) => return Err(e),
        }
    }
    session.deadline += began.elapsed();
    Ok(go_on)
}

/// The program stopped at step `index`: the stopped thread, as the
/// session recorded it with the hit, then the tour.
fn on_stop(session: &Session, tour: &mut Tour, mem: &LiveProcess, index: usize) {
    let hit = session.out.hits.last();
    let at = hit.and_then(|h| match (&h.file, h.line) {
        (Some(f), Some(l)) => Some(format!("{f}:{l}")),
        (Some(f), None) => Some(f.clone()),
        _ => None,
    });
    let stop = Stop {
        mem,
        fs_base: hit.map_or(0, |h| h.fs_base),
        lwp: hit.and_then(|h| h.lwp),
        pid: session.out.exit.pid,
    };
    tour.on_step(index, at, &stop);
}

/// The first lines of the text tour.
pub fn heading(res: &Resolution, lang: Lang) -> String {
    let binary = crate::report::short_path(&res.binary);
    let runtime = match (lang, &res.flavor) {
        (Lang::Zh, debuginfo::Flavor::Ours) => "gdbx 运行时上的程序".to_string(),
        (Lang::Zh, debuginfo::Flavor::Go { version: Some(v) }) => format!("Go 程序（{v}）"),
        (_, flavor) => flavor.describe(),
    };
    let n = res.steps.iter().filter(|s| s.after.is_none()).count();
    say!(
        lang,
        "gdbx tour of {binary} ({runtime}): {n} steps from the first instruction to exit\n\n",
        "gdbx tour：{binary}（{runtime}），从第一条指令到退出共 {n} 步\n\n"
    )
}

/// The last lines of the text tour: what went wrong, how the program ended.
pub fn ending(run: &TourRun, verdict: &Verdict, lang: Lang) -> String {
    let mut s = String::from("\n");
    for p in &verdict.problems {
        s.push_str(&say!(lang, "problem: ", "问题："));
        s.push_str(&p.message);
        s.push('\n');
    }
    let ms = run.outcome.elapsed_ms.round();
    let exit = &run.outcome.exit;
    s.push_str(&match (exit.exit_code, &exit.signal) {
        (Some(c), _) => say!(
            lang,
            "the program exited with status {c}; the tour took {ms} ms\n",
            "程序以状态 {c} 退出；整个过程用了 {ms} 毫秒\n"
        ),
        (None, Some(sig)) => say!(
            lang,
            "the program was killed by {sig}; the tour took {ms} ms\n",
            "程序被 {sig} 杀死；整个过程用了 {ms} 毫秒\n"
        ),
        (None, None) => say!(
            lang,
            "the program did not run to its end; the tour took {ms} ms\n",
            "程序没有运行到结束；整个过程用了 {ms} 毫秒\n"
        ),
    });
    s
}

/// The tour as one JSON document.
pub fn json(res: &Resolution, run: &TourRun, verdict: &Verdict, lang: Lang) -> String {
    let exit = &run.outcome.exit;
    let doc = json!({
        "binary": res.binary,
        "plan": res.plan,
        "flavor": res.flavor,
        "lang": lang,
        "steps": run.steps,
        "program": {
            "pid": exit.pid,
            "exit_code": exit.exit_code,
            "signal": exit.signal,
            "crash": exit.crash,
            "timed_out": exit.timed_out,
            "load_bias": exit.load_bias,
            "output": run.outcome.program_output,
            "elapsed_ms": run.outcome.elapsed_ms,
        },
        "status": verdict.status,
        "problems": verdict.problems,
    });
    serde_json::to_string_pretty(&doc).expect("serialisable")
}
