//! The bootstrap plans and their resolution against a binary.
//!
//! A plan is the list of functions a program passes through from its first
//! instruction to `exit`, with the order they must be hit in:
//! - [`Plan::ours`]: the bootstrap sequence of the gdbx runtime (rt0.rs).
//! - [`Plan::go`]: Go 1.19 built with `-gcflags "-N -l"`, and its variants
//!   for the ways a Go build starts and leaves: Go's own linker starts at
//!   `_rt0_amd64_linux`, an external (cgo) link at libc's `_start`; a
//!   `-race` build leaves through the race runtime instead of `runtime.exit`.
//!   [`Plan::for_binary`] picks the one a binary was built for.
//!
//! Most steps form a *chain* on the main thread (each after the one before);
//! the background ones (sysmon on its own thread, the scavenger goroutine)
//! only have to come after `runtime.main` and are optional, because a short
//! program may exit before they run.
//!
//! [`resolve`] finds each step in the binary — symbol address, the address
//! after the prologue from the DWARF line program, file:line from
//! `addr2line` — without running anything.

use crate::dwarf::{Func, Location, PrologueSource};
use crate::elf::{Binary, Flavor, SymbolKind};
use serde::{Serialize, Serializer};

/// Which plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PlanKind {
    /// Programs on this project's runtime.
    #[serde(rename = "ours")]
    Ours,
    /// Go 1.19's bootstrap, linked by Go's own linker: the ELF entry point
    /// is `_rt0_amd64_linux`.
    #[serde(rename = "go")]
    Go,
    /// Go linked by the system linker (cgo, static or PIE included): libc's
    /// `_start` calls `main`, Go's C entry point, which jumps to `rt0_go`.
    #[serde(rename = "go-cgo")]
    GoCgo,
    /// Go built with `-race`: it leaves through the race runtime
    /// (`runtime.racefini` calls the race runtime's finish, which calls
    /// libc's `exit`), not through `runtime.exit`.
    #[serde(rename = "go-race")]
    GoRace,
    /// `-race` and linked by the system linker.
    #[serde(rename = "go-cgo-race")]
    GoCgoRace,
}

impl PlanKind {
    /// `"ours"`, `"go"`, `"go-cgo"`, `"go-race"`, `"go-cgo-race"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Ours => "ours",
            PlanKind::Go => "go",
            PlanKind::GoCgo => "go-cgo",
            PlanKind::GoRace => "go-race",
            PlanKind::GoCgoRace => "go-cgo-race",
        }
    }

    /// A plan for Go's runtime (any of its builds), not ours.
    pub fn is_go(self) -> bool {
        self != PlanKind::Ours
    }

    /// The Go plan for a build: started by libc (`libc_start`), built with `-race`.
    pub fn go_build(libc_start: bool, race: bool) -> PlanKind {
        match (libc_start, race) {
            (false, false) => PlanKind::Go,
            (true, false) => PlanKind::GoCgo,
            (false, true) => PlanKind::GoRace,
            (true, true) => PlanKind::GoCgoRace,
        }
    }
}

/// Where a step is expected to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadReq {
    /// The process's first thread.
    Main,
    /// A thread of its own (sysmon).
    Own,
    /// A goroutine, on whichever thread runs it.
    Goroutine,
}

/// One step of a plan, as specified.
#[derive(Debug, Clone, Serialize)]
pub struct StepSpec {
    /// The function's name (ELF symbol; Go's `.abi0` variants are found too).
    pub name: &'static str,
    /// Where it runs.
    pub thread: ThreadReq,
    /// `None`: part of the main-thread chain (after the previous chain step).
    /// `Some(step)`: only has to come after that step.
    pub after: Option<&'static str>,
    /// May be absent from the binary or from the run.
    pub optional: bool,
    /// What the step does.
    pub what: &'static str,
    /// The same in Chinese, for `gdbx tour --lang zh` ("" falls back to `what`).
    #[serde(skip)]
    pub what_zh: &'static str,
}

impl StepSpec {
    /// The step with its Chinese `what`.
    const fn zh(self, what_zh: &'static str) -> StepSpec {
        StepSpec { what_zh, ..self }
    }

    /// `what` in Chinese when `zh` and translated, else in English.
    pub fn what_in(&self, zh: bool) -> &'static str {
        if zh && !self.what_zh.is_empty() {
            self.what_zh
        } else {
            self.what
        }
    }
}

/// An ordered list of steps.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Which plan this is.
    pub kind: PlanKind,
    /// The steps, in order.
    pub steps: Vec<StepSpec>,
}

const fn chain(name: &'static str, what: &'static str) -> StepSpec {
    StepSpec {
        name,
        thread: ThreadReq::Main,
        after: None,
        optional: false,
        what,
        what_zh: "",
    }
}

/// An optional background step that runs after `runtime.main` (sysmon on
/// its own thread, the scavenger as a goroutine).
const fn background(name: &'static str, thread: ThreadReq, what: &'static str) -> StepSpec {
    StepSpec {
        name,
        thread,
        after: Some("runtime.main"),
        optional: true,
        what,
        what_zh: "",
    }
}

const SYSMON: StepSpec = background(
    "runtime.sysmon",
    ThreadReq::Own,
    "system monitor on its own thread (no P)",
)
.zh("系统监控，运行在自己的线程上（没有 P）");

// The steps both runtimes take under the same name and for the same purpose
// (Go's runtime and ours): written once, used by every plan.
const CHECK: StepSpec = chain("runtime.check", "sizes of primitive types, CAS, TLS work")
    .zh("检查基本类型的大小、CAS 操作和 TLS 是否正常");
const ARGS: StepSpec = chain("runtime.args", "saves argc/argv").zh("保存 argc/argv");
const OSINIT: StepSpec =
    chain("runtime.osinit", "ncpu, page size").zh("CPU 个数（ncpu）、物理页大小");
const SCHEDINIT: StepSpec = chain("runtime.schedinit", "heap, m0, args/env, GOMAXPROCS -> Ps")
    .zh("内存管理、m0、参数和环境变量、按 GOMAXPROCS 建 P");
const NEWPROC: StepSpec = chain("runtime.newproc", "queues the G that will run runtime.main")
    .zh("新建将运行 runtime.main 的 G，放入就绪队列");
const MAIN_MAIN: StepSpec = chain("main.main", "the program's main").zh("程序的 main");
const EXIT: StepSpec = chain("runtime.exit", "exit status to the kernel").zh("把退出状态交给内核");

impl Plan {
    /// The runtime's bootstrap sequence (14 steps) plus sysmon and the scavenger (optional, after `runtime.main`).
    pub fn ours() -> Plan {
        Plan {
            kind: PlanKind::Ours,
            steps: vec![
                chain(
                    "_rt0_amd64_linux",
                    "ELF entry point (asm); hands off to libc's start-up",
                )
                .zh("ELF 入口（汇编）；交给 libc 的启动代码"),
                chain("main", "the C main that libc calls; jumps to _rt0_amd64")
                    .zh("libc 调用的 C main；跳到 _rt0_amd64"),
                chain("_rt0_amd64", "g0's stack bounds, CPU info, TLS")
                    .zh("设置 g0 的栈边界、CPU 信息、本地线程存储（TLS）"),
                CHECK,
                ARGS,
                OSINIT,
                chain("runtime.hashinit", "random hash seed from the kernel")
                    .zh("从内核获得随机哈希种子"),
                SCHEDINIT,
                NEWPROC,
                chain("runtime.mstart", "starts this M; enters runtime.schedule")
                    .zh("启动本 M；进入 runtime.schedule"),
                chain(
                    "runtime.main",
                    "on the main G: starts sysmon and the scavenger",
                )
                .zh("在主 G 上：启动 sysmon 和 scavenger"),
                chain("main.init", "the program's init").zh("程序的 init"),
                MAIN_MAIN,
                EXIT,
                SYSMON,
                background(
                    "runtime.scavenger",
                    ThreadReq::Goroutine,
                    "returns unused memory to the OS (a goroutine)",
                )
                .zh("把不再使用的内存归还给操作系统（一个 goroutine）"),
            ],
        }
    }

    /// Go 1.19 (`go build -gcflags "-N -l"`) linked by Go's linker:
    /// `rt0_go`, no C `main`, `alginit` instead of `hashinit`; sysmon and
    /// bgscavenge optional.
    pub fn go() -> Plan {
        Plan::go_kind(PlanKind::Go)
    }

    /// The Go plan of `kind` (ours is [`Plan::ours`]): the start differs
    /// between Go's linker and the system linker, the end between plain
    /// and `-race` builds; the runtime's steps between are the same.
    fn go_kind(kind: PlanKind) -> Plan {
        let (libc_start, race) = match kind {
            PlanKind::Ours => return Plan::ours(),
            PlanKind::Go => (false, false),
            PlanKind::GoCgo => (true, false),
            PlanKind::GoRace => (false, true),
            PlanKind::GoCgoRace => (true, true),
        };
        let start = if libc_start {
            [
                chain(
                    "_start",
                    "libc's ELF entry point; __libc_start_main calls main",
                )
                .zh("libc 的 ELF 入口；__libc_start_main 调用 main"),
                chain("main", "Go's C entry point (asm); jumps to runtime.rt0_go")
                    .zh("Go 的 C 入口（汇编）；跳到 runtime.rt0_go"),
            ]
        } else {
            [
                chain("_rt0_amd64_linux", "ELF entry point (asm)").zh("ELF 入口（汇编）"),
                chain("_rt0_amd64", "common amd64 entry (asm)").zh("amd64 的公共入口（汇编）"),
            ]
        };
        let exit = if race {
            chain(
                "runtime.racefini",
                "the race detector's finish: reports races, then libc's exit",
            )
            .zh("竞态检测器收尾：报告数据竞争，然后调用 libc 的 exit")
        } else {
            EXIT
        };
        let mut steps = Vec::from(start);
        steps.extend([
            chain(
                "runtime.rt0_go",
                "g0's stack, CPU info, TLS; calls the steps below",
            )
            .zh("g0 的栈、CPU 信息、TLS；依次调用下面的步骤"),
            CHECK,
            ARGS,
            OSINIT,
            SCHEDINIT,
            chain(
                "runtime.alginit",
                "hash seeds (Go's hashinit became alginit), from schedinit",
            )
            .zh("哈希种子（hashinit 在 Go 1.19 中改名为 alginit），由 schedinit 调用"),
            NEWPROC,
            chain("runtime.mstart", "starts this M; enters schedule").zh("启动本 M；进入 schedule"),
            chain("runtime.main", "on the main G: starts sysmon, gcenable")
                .zh("在主 G 上：启动 sysmon，gcenable"),
            MAIN_MAIN,
            exit,
            SYSMON,
            background(
                "runtime.bgscavenge",
                ThreadReq::Goroutine,
                "background scavenger goroutine",
            )
            .zh("后台的 scavenger goroutine"),
        ]);
        Plan { kind, steps }
    }

    /// The required main-thread chain, in order: the steps every run hits
    /// one after the other (for ours, the 14 steps of the bootstrap
    /// sequence), without the optional background ones.
    pub fn chain(&self) -> Vec<&'static str> {
        self.steps
            .iter()
            .filter(|s| s.after.is_none() && !s.optional)
            .map(|s| s.name)
            .collect()
    }

    /// The plan for a kind.
    pub fn of(kind: PlanKind) -> Plan {
        match kind {
            PlanKind::Ours => Plan::ours(),
            go => Plan::go_kind(go),
        }
    }

    /// The Go plan for the way `bin` was built, read from the binary: the
    /// symbol at its entry point is libc's `_start` when the system linker
    /// linked it, and the race runtime's `__tsan_fini` is in every `-race`
    /// build.
    pub fn go_for(bin: &Binary) -> Plan {
        let libc_start = bin
            .symbol_at(bin.entry())
            .is_some_and(|s| s.name == "_start" && s.address == bin.entry());
        let race = bin
            .symbol("__tsan_fini")
            .is_some_and(|s| s.kind == SymbolKind::Text);
        Plan::of(PlanKind::go_build(libc_start, race))
    }

    /// The default plan for a binary: ours, the Go plan for its build, or
    /// none for other programs.
    pub fn for_binary(bin: &Binary) -> Option<Plan> {
        match bin.flavor() {
            Flavor::Ours => Some(Plan::ours()),
            Flavor::Go { .. } => Some(Plan::go_for(bin)),
            Flavor::Other => None,
        }
    }
}

/// A Go ABI0 wrapper (`<autogenerated>:1`) found beside the real function.
#[derive(Debug, Clone, Serialize)]
pub struct Wrapper {
    /// Its ELF symbol (`runtime.check.abi0`).
    pub symbol: String,
    /// Its file address.
    #[serde(serialize_with = "hex")]
    pub address: u64,
    /// Its file:line (Go says `<autogenerated>:1`).
    pub location: Option<Location>,
}

/// One step, resolved against a binary.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedStep {
    /// 1-based position in the plan.
    pub index: usize,
    /// The step's name.
    pub name: String,
    /// Where it runs.
    pub thread: ThreadReq,
    /// `None` for chain steps; else the step it must follow.
    pub after: Option<String>,
    /// May be absent.
    pub optional: bool,
    /// What it does.
    pub what: String,
    /// Found in the binary.
    pub present: bool,
    /// The ELF symbol used (may be `NAME.abi0` for Go assembly).
    pub symbol: Option<String>,
    /// Entry (symbol) address; breakpoints go here.
    #[serde(serialize_with = "hex_opt")]
    pub address: Option<u64>,
    /// `st_size`.
    pub size: u64,
    /// file:line of the entry.
    pub location: Option<Location>,
    /// The address after the prologue (the DWARF line program).
    #[serde(serialize_with = "hex_opt")]
    pub post_prologue: Option<u64>,
    /// How `post_prologue` was found.
    pub post_prologue_source: Option<PrologueSource>,
    /// file:line after the prologue.
    pub post_prologue_location: Option<Location>,
    /// Go's ABI0 wrapper, when the binary has one besides the real function.
    pub wrapper: Option<Wrapper>,
}

/// A plan resolved against a binary.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// The binary's path.
    pub binary: String,
    /// What the binary is.
    pub flavor: Flavor,
    /// Which plan was used.
    pub plan: PlanKind,
    /// Position independent (addresses are file addresses; add the load bias).
    pub pie: bool,
    /// `e_entry`.
    #[serde(serialize_with = "hex")]
    pub entry: u64,
    /// Has DWARF.
    pub dwarf: bool,
    /// DWARF versions of its units.
    pub dwarf_versions: Vec<u16>,
    /// One-line warnings (stripped binary, plan forced on another flavor, ...).
    pub warnings: Vec<String>,
    /// The steps.
    pub steps: Vec<ResolvedStep>,
}

impl Resolution {
    /// The step with this name.
    pub fn step(&self, name: &str) -> Option<&ResolvedStep> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// Resolves every step of `plan` in `bin`. Never fails: missing DWARF
/// becomes a warning and steps without symbols are `present: false`.
pub fn resolve(bin: &Binary, plan: &Plan) -> Resolution {
    let mut warnings = Vec::new();
    match (bin.flavor(), plan.kind) {
        (Flavor::Ours, PlanKind::Ours) => {}
        (Flavor::Go { .. }, kind) if kind.is_go() => {}
        (flavor, kind) => warnings.push(format!(
            "{}: {}, checking it against the {} plan",
            bin.path().display(),
            flavor.describe(),
            kind.as_str()
        )),
    }
    let debug = if bin.has_dwarf() {
        match bin.debug_info() {
            Ok(d) => Some(d),
            Err(e) => {
                warnings.push(format!(
                    "{}: {e}; using the symbol table only",
                    bin.path().display()
                ));
                None
            }
        }
    } else {
        warnings.push(format!(
            "{}: no DWARF debug info (stripped?); using the symbol table only, without file:line",
            bin.path().display()
        ));
        None
    };

    let mut steps: Vec<ResolvedStep> = Vec::with_capacity(plan.steps.len());
    for (i, spec) in plan.steps.iter().enumerate() {
        let text = |n: &str| {
            bin.symbol(n)
                .filter(|s| s.kind == SymbolKind::Text)
                .cloned()
        };
        let exact = text(spec.name);
        let abi0 = text(&format!("{}.abi0", spec.name));
        let (real, wrapper) = match (exact, abi0) {
            (Some(e), w) => (Some(e), w),
            (None, a) => (a, None),
        };
        let location = |addr: u64| debug.and_then(|d| d.location(addr));
        steps.push(ResolvedStep {
            index: i + 1,
            name: spec.name.to_string(),
            thread: spec.thread,
            after: spec.after.map(str::to_string),
            optional: spec.optional,
            what: spec.what.to_string(),
            present: real.is_some(),
            symbol: real.as_ref().map(|s| s.name.clone()),
            address: real.as_ref().map(|s| s.address),
            size: real.as_ref().map_or(0, |s| s.size),
            location: real.as_ref().and_then(|s| location(s.address)),
            post_prologue: None,
            post_prologue_source: None,
            post_prologue_location: None,
            wrapper: wrapper.map(|w| Wrapper {
                location: location(w.address),
                symbol: w.name,
                address: w.address,
            }),
        });
    }
    let mut dwarf_versions = Vec::new();
    if let Some(d) = debug {
        let funcs: Vec<Func> = steps
            .iter()
            .map(|s| match s.address {
                Some(a) => Func {
                    lo: a,
                    hi: a + s.size.max(1),
                    pushes_rbp: pushes_rbp(bin, a),
                },
                None => Func {
                    lo: 0,
                    hi: 0,
                    pushes_rbp: false,
                },
            })
            .collect();
        for (step, pp) in steps.iter_mut().zip(d.post_prologues(&funcs)) {
            if step.address.is_some()
                && let Some((addr, source)) = pp
            {
                step.post_prologue = Some(addr);
                step.post_prologue_source = Some(source);
                step.post_prologue_location = d.location(addr);
            }
        }
        dwarf_versions = d.versions().into_iter().collect();
    }
    Resolution {
        binary: bin.path().display().to_string(),
        flavor: bin.flavor().clone(),
        plan: plan.kind,
        pie: bin.is_pie(),
        entry: bin.entry(),
        dwarf: debug.is_some(),
        dwarf_versions,
        warnings,
        steps,
    }
}

/// `push %rbp` (0x55), possibly after `endbr64` (f3 0f 1e fa).
fn pushes_rbp(bin: &Binary, addr: u64) -> bool {
    match bin.read_at(addr, 5) {
        Some(b) => b[0] == 0x55 || (b[..4] == [0xf3, 0x0f, 0x1e, 0xfa] && b[4] == 0x55),
        None => false,
    }
}

fn hex<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

fn hex_opt<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => hex(v, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_is_the_runtime_bootstrap_sequence() {
        let names = Plan::ours().chain();
        assert_eq!(names.len(), 14);
        assert_eq!(names[0], "_rt0_amd64_linux");
        assert_eq!(names[6], "runtime.hashinit");
        assert_eq!(names[13], "runtime.exit");
    }

    #[test]
    fn every_step_says_what_it_does_in_english_and_chinese() {
        let kinds = [
            PlanKind::Ours,
            PlanKind::Go,
            PlanKind::GoCgo,
            PlanKind::GoRace,
            PlanKind::GoCgoRace,
        ];
        for plan in kinds.map(Plan::of) {
            for s in &plan.steps {
                assert!(!s.what.is_empty(), "{}: no what", s.name);
                assert!(!s.what_zh.is_empty(), "{}: no what_zh", s.name);
                assert_eq!(s.what_in(true), s.what_zh);
                assert_eq!(s.what_in(false), s.what);
            }
        }
    }

    #[test]
    fn go_has_no_c_main_nor_hashinit() {
        let plan = Plan::go();
        assert!(
            plan.steps
                .iter()
                .all(|s| s.name != "main" && s.name != "runtime.hashinit")
        );
        assert!(plan.steps.iter().any(|s| s.name == "runtime.rt0_go"));
        assert!(
            plan.steps
                .iter()
                .filter(|s| s.optional)
                .all(|s| s.after == Some("runtime.main"))
        );
    }

    #[test]
    fn go_builds_differ_only_in_how_they_start_and_leave() {
        let go = Plan::go().chain();
        let cgo = Plan::of(PlanKind::GoCgo).chain();
        let race = Plan::of(PlanKind::GoCgoRace).chain();
        assert_eq!(&cgo[..2], ["_start", "main"]);
        assert_eq!(&go[..2], ["_rt0_amd64_linux", "_rt0_amd64"]);
        assert_eq!(go[2..], cgo[2..]);
        assert_eq!(race.last(), Some(&"runtime.racefini"));
        assert_eq!(race[..race.len() - 1], cgo[..cgo.len() - 1]);
        for kind in [PlanKind::GoCgo, PlanKind::GoRace, PlanKind::GoCgoRace] {
            assert!(kind.is_go());
            assert_eq!(Plan::of(kind).kind, kind);
        }
        assert!(!PlanKind::Ours.is_go());
    }
}
