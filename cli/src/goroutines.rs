//! `gdbx goroutines PID` and `gdbx goroutines BINARY CORE`: every goroutine
//! of a live process or a core file, with its stack in Go's traceback
//! format, without gdb.
//!
//! A live process is frozen ([`inspect::freeze`]) only while its memory is
//! read: the goroutines, their stacks (raw frames) and the Ms and Ps are
//! read, the threads let go, and only then is anything symbolised or
//! printed. The pause is measured from the first thread stopped to the
//! last one let go and shown in the output. `--nonblocking` reads without
//! stopping anything (the dump may then be inconsistent: a goroutine may
//! move while its stack is read).
//!
//! Running goroutines are unwound from their thread's registers, the others
//! from their saved context (`G.sched`, or where they entered a system
//! call), by the native unwinder ([`inspect::unwind`]).
//!
//! Exit status: 0 dump printed (also when no goroutine matches the
//! filters); 2 bad usage or bad input (a binary that is neither Go 1.19
//! nor ours, a core of another binary, a truncated or garbage core); 3 the
//! runtime's state could not be read (not initialised yet, or corrupt); 4
//! ptrace refused; 5 no such process, or it exited during the dump; 6 the
//! core holds no goroutine stacks, or none of the process's private memory.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use inspect::freeze::{FreezeError, Frozen, process_alive, ptrace_hint};
use inspect::view::Row;
use inspect::{Chain, CoreFile, Filter, LiveProcess, Memory, Program, RawFrame, Regs, Thread};
use serde::Serialize;

use crate::Fail;

pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_UNREADABLE: u8 = 3;
pub const EXIT_PTRACE: u8 = 4;
pub const EXIT_GONE: u8 = 5;
pub const EXIT_NO_STACKS: u8 = 6;

/// The exit statuses, for `--help`.
pub const EXIT_HELP: &str = "Exit status: 0 dump printed (also when no goroutine matches the filters: a line says so); \
2 bad usage or bad input (neither a Go 1.19 program nor one on the gdbx runtime, a core of another \
binary, a truncated or garbage core); 3 the runtime's state could not be read (not initialised yet, \
or corrupt); 4 ptrace refused (another user's process, one not dumpable, yama ptrace_scope, another \
debugger attached, a security module: the message says which, and suggests --nonblocking only \
where it works); 5 no such process, or it exited during the dump; 6 the core holds no goroutine \
stacks, or none of the process's private memory (coredump_filter).\n\n\
JSON (--format json): one document with the target, the pause, total/matched/not_shown counts, \
goroutines (id, status, location, frames, created_by, thread, m; with --no-stacks no frames), or \
with --group groups (location, count, statuses, goroutine ids) instead, and threads, ms, ps; \
README.md lists every field.";

/// Go prints at most this many frames of a goroutine.
const MAX_FRAMES: usize = 100;

/// Testing seam: `GDBX_GOROUTINES_KILL_TARGET=1` makes the command
/// SIGKILL the process right after freezing it, so that the path of a
/// process exiting during the dump can be tested deterministically.
const KILL_SEAM: &str = "GDBX_GOROUTINES_KILL_TARGET";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The command line of `gdbx goroutines`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A process id, or the binary of CORE.
    pub target: String,
    /// A core file of BINARY.
    pub core: Option<PathBuf>,
    /// Only goroutines in these statuses (running, runnable, waiting, syscall, idle, dead).
    #[arg(long, value_delimiter = ',', value_name = "STATUS")]
    pub status: Vec<String>,
    /// Only goroutines whose location contains SUBSTRING.
    #[arg(long, value_name = "SUBSTRING")]
    pub location: Option<String>,
    /// Count goroutines per location instead of printing them (as `info goroutines -group`).
    #[arg(long)]
    pub group: bool,
    /// Print at most N goroutines (or N locations with --group).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// One line per goroutine (as `info goroutines`), no stacks.
    #[arg(long)]
    pub no_stacks: bool,
    /// Output format: Go's traceback text, or one JSON document (its
    /// goroutines with their frames; with --no-stacks without frames; with
    /// --group the groups instead: location, count, statuses, goroutine ids).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Read a live process without stopping it (the dump may be inconsistent).
    #[arg(long)]
    pub nonblocking: bool,
}

/// Where the state was read from.
enum Source {
    Live {
        pid: u32,
        /// The executable, as /proc/PID/exe names it.
        exe: PathBuf,
        /// None with --nonblocking.
        pause: Option<Duration>,
    },
    Core(PathBuf),
}

/// One frame as printed.
#[derive(Debug, Clone, Serialize)]
struct FrameOut {
    func: String,
    file: String,
    line: u32,
    pc: u64,
    /// The frame's stack pointer.
    sp: u64,
    /// pc minus the function's entry (None for inlined frames and when the
    /// function is unknown).
    offset: Option<u64>,
    inlined: bool,
}

#[derive(Debug, Clone, Serialize)]
struct CreatedOut {
    func: Option<String>,
    file: String,
    line: u32,
    offset: Option<u64>,
    goroutine: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
struct GoroutineOut {
    id: i64,
    /// As in Go's header: `chan receive`, `running`, ...
    status: String,
    /// The status without the wait reason.
    state: String,
    wait_minutes: Option<i64>,
    /// Wired to its thread (LockOSThread): `, locked to thread` in Go's header.
    locked_to_thread: bool,
    thread: Option<u64>,
    m: Option<i64>,
    location: String,
    /// How the stack was found: "registers", "saved", "syscall", "entry",
    /// or "unavailable"; None with --no-stacks (not unwound).
    unwound_from: Option<&'static str>,
    frames: Vec<FrameOut>,
    /// More frames than shown.
    elided: bool,
    /// The stack goes on past its last frame where the unwinder cannot
    /// follow (a switch to another stack).
    cut: bool,
    /// Why there are no frames.
    no_stack: Option<String>,
    created_by: Option<CreatedOut>,
}

#[derive(Debug, Clone, Serialize)]
struct ThreadOut {
    lwp: u64,
    m: Option<i64>,
    goroutine: Option<i64>,
    on_g0: bool,
    pc: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
struct MOut {
    id: i64,
    procid: u64,
    curg: Option<i64>,
    p: Option<i32>,
    spinning: bool,
    blocked: bool,
}

#[derive(Debug, Clone, Serialize)]
struct POut {
    id: i32,
    status: String,
    m: Option<i64>,
    runq: Vec<i64>,
    runnext: Option<i64>,
}

/// One location of `--group`, as a row of `info goroutines -group`.
#[derive(Debug, Clone, Serialize)]
struct GroupOut {
    location: String,
    count: usize,
    /// How many in each status (with its wait reason, as in Go's header).
    statuses: std::collections::BTreeMap<String, usize>,
    /// The goroutines there, by id.
    goroutines: Vec<i64>,
}

#[derive(Debug, Serialize)]
struct Document<'a> {
    target: String,
    binary: String,
    runtime: &'static str,
    /// "process" or "core".
    source: &'static str,
    pid: Option<u32>,
    core: Option<String>,
    /// How long the process was stopped, in milliseconds (None: not
    /// stopped).
    paused_ms: Option<f64>,
    /// False when read without stopping (--nonblocking).
    consistent: bool,
    /// The goroutines (without the dead unless asked for by --status).
    total: usize,
    /// Those that pass --status and --location.
    matched: usize,
    /// Of those, how many the document leaves out (--limit).
    not_shown: usize,
    /// The goroutines shown (absent with --group).
    #[serde(skip_serializing_if = "Option::is_none")]
    goroutines: Option<Vec<GoroutineOut>>,
    /// With --group, the locations shown, most goroutines first.
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<GroupOut>>,
    /// With --group, how many locations --limit leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    groups_not_shown: Option<usize>,
    threads: &'a [ThreadOut],
    ms: &'a [MOut],
    ps: &'a [POut],
    /// Entries that could not be decoded, one line each.
    bad: &'a [String],
}

/// A goroutine's stack as read (raw frames), before symbolising.
struct Read {
    row: Row,
    /// None: not unwound (--no-stacks, --group).
    from: Option<&'static str>,
    frames: Vec<RawFrame>,
    no_stack: Option<String>,
    created: Option<CreatedOut>,
}

/// Everything read while the process was stopped.
struct Dump {
    reads: Vec<Read>,
    /// The `info goroutines` text (--no-stacks, --group, in text).
    table: Option<String>,
    /// The goroutines that pass --status and --location.
    matched: usize,
    threads: Vec<ThreadOut>,
    ms: Vec<MOut>,
    ps: Vec<POut>,
    bad: Vec<String>,
    total: usize,
    /// Goroutines whose stack should be in memory but is not.
    stackless: usize,
    /// Goroutines unwound from a saved context or syscall entry.
    saved: usize,
}

pub fn run(a: Args) -> Result<u8, Fail> {
    let filter = filter(&a)?;
    if a.nonblocking && a.core.is_some() {
        return Err(Fail(
            EXIT_BAD_INPUT,
            "--nonblocking is for live processes; a core never changes".into(),
        ));
    }
    match &a.core {
        Some(core) => run_core(&a, &filter, Path::new(&a.target), core),
        None => {
            let pid: u32 = a.target.parse().map_err(|_| {
                Fail(
                    EXIT_BAD_INPUT,
                    format!(
                        "{:?} is not a process id; usage: gdbx goroutines PID | gdbx goroutines BINARY CORE",
                        a.target
                    ),
                )
            })?;
            run_live(&a, &filter, pid)
        }
    }
}

fn filter(a: &Args) -> Result<Filter, Fail> {
    let mut args = Vec::new();
    if !a.status.is_empty() {
        args.push("-status".to_string());
        args.push(a.status.join(","));
    }
    if let Some(l) = &a.location {
        args.push("-location".into());
        args.push(l.clone());
    }
    if a.group {
        args.push("-group".into());
    }
    if let Some(n) = a.limit {
        args.push("-limit".into());
        args.push(n.to_string());
    }
    // The one parser of `info goroutines`' options: its first line names
    // the problem.
    Filter::parse(&args).map_err(|e| {
        let first = e.lines().next().unwrap_or_default().replace('-', "--");
        Fail(EXIT_BAD_INPUT, first)
    })
}

fn open_program(path: &Path) -> Result<Program, String> {
    Program::open(path, "")
}

fn run_core(a: &Args, f: &Filter, binary: &Path, core_path: &Path) -> Result<u8, Fail> {
    let mut prog = open_program(binary).map_err(|e| Fail(EXIT_BAD_INPUT, e))?;
    let core = CoreFile::open(core_path).map_err(|e| match e {
        inspect::mem::CoreError::Io(e) => Fail(
            EXIT_BAD_INPUT,
            format!("{}: cannot read the core file: {e}", core_path.display()),
        ),
        inspect::mem::CoreError::Bad(why) => Fail(
            EXIT_BAD_INPUT,
            format!("{why}; expected an ELF core file of {}", binary.display()),
        ),
    })?;
    check_core_of(&prog, &core, binary, core_path)?;
    prog.set_bias(prog.bias_for_entry(core.entry()), &core);
    check_core_has_data(&prog, &core, core_path)?;
    let vdso = core
        .vdso()
        .and_then(|b| Some((b, inspect::mem::vdso_image(&core, b)?)));
    prog.set_libraries(core.files().to_vec(), vdso, &core);
    let image = prog.image();
    let mem = Chain(&core, &image);
    let regs: Vec<(u64, Option<Regs>)> = core
        .threads()
        .iter()
        .map(|t| (t.lwp, Some(t.regs)))
        .collect();
    let dump = read_all(&prog, &mem, &regs, a, f, false).map_err(|e| Fail(EXIT_UNREADABLE, e))?;
    // Stacks that are not in the core (they read from memory as nothing):
    // say so instead of printing plausible garbage.
    if dump.saved > 0 && dump.stackless == dump.saved {
        return Err(Fail(
            EXIT_NO_STACKS,
            format!(
                "{}: the core holds none of the {} goroutine stacks (the dumper left them out); {}",
                core_path.display(),
                dump.saved,
                prog.flavour().missing_stacks_advice()
            ),
        ));
    }
    if dump.stackless > 0 {
        eprintln!(
            "gdbx: warning: {} of {} goroutine stacks are not in the core; those goroutines show no frames",
            dump.stackless, dump.saved
        );
    }
    print(
        &prog,
        a,
        &Source::Core(core_path.to_path_buf()),
        &dump,
        None,
    );
    exit_without_freeing((dump, prog, core));
    Ok(0)
}

/// The dump is printed and gdbx exits next: its state (at 100,000
/// goroutines, millions of frames and strings, a mapped core of gigabytes
/// or a copy of a process's stacks) is left to the kernel to take down
/// with the process instead of being freed piece by piece first.
fn exit_without_freeing<T>(state: T) {
    std::mem::forget(state);
}

/// Refuses a core that was not dumped from `binary`. The core's copy of
/// its executable's first page (ELF headers and notes, which the kernel
/// dumps), found where the core's `NT_FILE` note maps the start of the file
/// that holds the entry point (else where the binary would be at the
/// entry's bias), must match the file's, build id included. Without that
/// page: the process's entry point (`AT_ENTRY`) must be the binary's — for
/// a PIE, at a page-aligned bias —, at the same offset of the file the
/// core maps there, and its program headers (`AT_PHDR`) where the binary
/// has them at that bias.
fn check_core_of(
    prog: &Program,
    core: &CoreFile,
    binary: &Path,
    core_path: &Path,
) -> Result<(), Fail> {
    let bin = prog.binary();
    let mismatch = |why: String| {
        Fail(
            EXIT_BAD_INPUT,
            format!(
                "{} was not dumped from {}: {why}; give the binary the process ran",
                core_path.display(),
                binary.display()
            ),
        )
    };
    let pie = |yes: bool| if yes { "a PIE" } else { "not a PIE" };
    let entry = core.entry();
    if let Some(e) = entry
        && !bin.is_pie()
        && e != bin.entry()
    {
        return Err(mismatch(format!(
            "its entry point is {e:#x}, the binary's {:#x}",
            bin.entry()
        )));
    }
    let bias = prog.bias_for_entry(entry);
    // The core's executable: the file it maps at the entry point.
    let exe = entry.and_then(|e| core.files().iter().find(|m| m.lo <= e && e < m.hi));
    let header = exe
        .and_then(|x| {
            core.files()
                .iter()
                .filter(|m| m.path == x.path && m.offset == 0)
                .map(|m| m.lo)
                .min()
        })
        .or_else(|| first_load_vaddr(bin).map(|v| v.wrapping_add(bias)));
    let file = bin.data();
    let n = file.len().min(4096);
    let mut page = vec![0u8; n];
    if let Some(base) = header
        && core.read(base, &mut page).is_ok()
        && page != file[..n]
    {
        let theirs = build_id(&page).map_or("none".to_string(), hex);
        let ours = build_id(file).map_or("none".to_string(), hex);
        // ELF's e_type: ET_DYN (3) is a PIE; said when that differs too.
        let dyn_ = |d: &[u8]| d.get(16..18) == Some(&[3, 0][..]);
        let (k1, k2) = if dyn_(&page) != bin.is_pie() {
            (
                format!(" ({})", pie(dyn_(&page))),
                format!(" ({})", pie(bin.is_pie())),
            )
        } else {
            Default::default()
        };
        return Err(mismatch(format!(
            "the core's build id is {theirs}{k1}, the binary's {ours}{k2}"
        )));
    }
    let Some(e) = entry else {
        return Ok(());
    };
    if bin.is_pie() && !bias.is_multiple_of(4096) {
        return Err(mismatch(format!(
            "its entry point {e:#x} is not where the binary (a PIE, entry +{:#x}) can be loaded: \
             the core is of another program, perhaps one that is not a PIE",
            bin.entry()
        )));
    }
    if let Some(x) = exe
        && let Some(at) = file_offset(bin, bin.entry())
        && e - x.lo + x.offset != at
    {
        return Err(mismatch(format!(
            "its entry point is at offset {:#x} of {}, the binary's at {at:#x}",
            e - x.lo + x.offset,
            x.path
        )));
    }
    if let Some(phdr) = core.phdr()
        && let Some(ours) = phdr_vaddr(bin).map(|v| v.wrapping_add(bias))
        && phdr != ours
    {
        return Err(mismatch(format!(
            "its program headers were at {phdr:#x}, the binary's would be at {ours:#x} ({})",
            pie(bin.is_pie())
        )));
    }
    Ok(())
}

/// The binary's `PT_LOAD` program headers, as (vaddr, file offset, file
/// size, memory size, writable).
fn loads(bin: &debuginfo::Binary) -> Vec<(u64, u64, u64, u64, bool)> {
    use object::read::elf::ProgramHeader;
    let elf = bin.object();
    let endian = elf.endian();
    elf.elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(endian) == object::elf::PT_LOAD)
        .map(|ph| {
            (
                ph.p_vaddr(endian),
                ph.p_offset(endian),
                ph.p_filesz(endian),
                ph.p_memsz(endian),
                ph.p_flags(endian).contains(object::elf::PF_W),
            )
        })
        .collect()
}

/// The address of the `PT_LOAD` that maps the file's start.
fn first_load_vaddr(bin: &debuginfo::Binary) -> Option<u64> {
    loads(bin).iter().find(|l| l.1 == 0).map(|l| l.0)
}

/// Where in the file the (link-time) address `addr` is.
fn file_offset(bin: &debuginfo::Binary, addr: u64) -> Option<u64> {
    loads(bin)
        .iter()
        .find(|l| l.0 <= addr && addr < l.0 + l.2)
        .map(|l| addr - l.0 + l.1)
}

/// The (link-time) address of the program headers: the `PT_LOAD` that
/// maps `e_phoff` (what the kernel puts in `AT_PHDR`, plus the bias).
fn phdr_vaddr(bin: &debuginfo::Binary) -> Option<u64> {
    let phoff = u64::from_le_bytes(bin.data().get(0x20..0x28)?.try_into().ok()?);
    loads(bin)
        .iter()
        .find(|l| l.1 <= phoff && phoff < l.1 + l.2)
        .map(|l| phoff - l.1 + l.0)
}

/// Refuses a core without the runtime's own state: when none of the
/// binary's writable segments (its `.data` and `.bss`, where the runtime
/// keeps `allgs`, `sched`, `allm`) has a byte in the core, the dumper left
/// out all the process's private memory — its heap and stacks with it.
fn check_core_has_data(prog: &Program, core: &CoreFile, core_path: &Path) -> Result<(), Fail> {
    let bias = prog.bias();
    let data: Vec<(u64, u64)> = loads(prog.binary())
        .iter()
        .filter(|l| l.4 && l.3 > 0)
        .map(|l| (l.0.wrapping_add(bias), l.0.wrapping_add(bias) + l.3))
        .collect();
    if data.is_empty() || data.iter().any(|&(lo, hi)| core.holds_any(lo, hi)) {
        return Ok(());
    }
    let (lo, hi) = data[0];
    Err(Fail(
        EXIT_NO_STACKS,
        format!(
            "{}: the core holds none of the process's private memory (its data at {lo:#x}..{hi:#x}, \
             its heap, the goroutine stacks): the dumper left it out, as the kernel does for a \
             process whose /proc/PID/coredump_filter clears bit 0 (anonymous private memory); \
             dump it with the default filter 0x33 (`echo 0x33 > /proc/PID/coredump_filter`, \
             inherited by its children), or take a core of the live process with \
             `gdbx gdb -p PID -batch -ex 'set use-coredump-filter off' -ex gcore`",
            core_path.display()
        ),
    ))
}

/// The GNU or Go build id in the notes of an ELF image that starts at
/// `data` (a file, or its first page as mapped).
fn build_id(data: &[u8]) -> Option<&[u8]> {
    let word = |o: usize, n: usize| -> Option<u64> {
        let b = data.get(o..o + n)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b);
        Some(u64::from_le_bytes(v))
    };
    let phoff = word(0x20, 8)? as usize;
    let phnum = word(0x38, 2)? as usize;
    for i in 0..phnum {
        let ph = phoff + i * 56;
        if word(ph, 4)? != 4
        /* PT_NOTE */
        {
            continue;
        }
        let (off, size) = (word(ph + 8, 8)? as usize, word(ph + 32, 8)? as usize);
        let mut o = off;
        while o + 12 <= off + size {
            let (namesz, descsz, ty) = (
                word(o, 4)? as usize,
                word(o + 4, 4)? as usize,
                word(o + 8, 4)?,
            );
            let name = data.get(o + 12..o + 12 + namesz)?;
            let desc_at = o + 12 + namesz.div_ceil(4) * 4;
            let desc = data.get(desc_at..desc_at + descsz)?;
            let gnu = name.starts_with(b"GNU") && ty == 3 /* NT_GNU_BUILD_ID */;
            let go = name.starts_with(b"Go") && ty == 4;
            if gnu || go {
                return Some(desc);
            }
            o = desc_at + descsz.div_ceil(4) * 4;
        }
    }
    None
}

fn hex(b: &[u8]) -> String {
    if b.iter().all(|c| c.is_ascii_graphic()) {
        return String::from_utf8_lossy(b).into_owned();
    }
    b.iter().map(|c| format!("{c:02x}")).collect()
}

fn run_live(a: &Args, f: &Filter, pid: u32) -> Result<u8, Fail> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !proc_dir.exists() || !process_alive(pid) {
        return Err(Fail(EXIT_GONE, format!("no process {pid}")));
    }
    let refused = |what: &str, e: &std::io::Error| {
        Fail(
            EXIT_PTRACE,
            format!("cannot {what} of process {pid} ({e}): {}", ptrace_hint(pid)),
        )
    };
    let exe = std::fs::read_link(proc_dir.join("exe")).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            refused("read the executable", &e)
        } else if !process_alive(pid) {
            Fail(EXIT_GONE, format!("process {pid} exited"))
        } else {
            Fail(
                EXIT_BAD_INPUT,
                format!("process {pid} has no executable to read ({e}): a kernel thread?"),
            )
        }
    })?;
    let mut prog = open_program(&proc_dir.join("exe")).map_err(|e| {
        let why = e.split_once(": ").map_or(e.as_str(), |x| x.1).to_string();
        Fail(
            EXIT_BAD_INPUT,
            format!("process {pid} ({}) cannot be read: {why}", exe.display()),
        )
    })?;
    let live = LiveProcess::open(pid).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            refused("read the memory", &e)
        } else {
            Fail(EXIT_GONE, format!("process {pid} exited ({e})"))
        }
    })?;
    let gone = || Fail(EXIT_GONE, format!("process {pid} exited during the dump"));
    prog.set_bias(prog.bias_for_entry(live.entry()), &live);
    // Unreadable maps only leave C frames in libraries unnamed.
    let maps = std::fs::read_to_string(proc_dir.join("maps")).unwrap_or_default();
    let vdso = live
        .vdso()
        .and_then(|b| Some((b, inspect::mem::vdso_image(&live, b)?)));
    prog.set_libraries(inspect::libs::parse_proc_maps(&maps), vdso, &live);
    // Stopped (unless --nonblocking) only while the state is copied; all
    // the decoding, unwinding and symbolising works on the copy.
    let (captured, regs, pause) = if a.nonblocking {
        let regs: Vec<(u64, Option<Regs>)> = std::fs::read_dir(proc_dir.join("task"))
            .map_err(|_| gone())?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .map(|tid| (tid, None))
            .collect();
        (prog.capture(&live, &[]), regs, None)
    } else {
        let freeze_at = std::time::Instant::now();
        let frozen = Frozen::freeze(pid).map_err(|e| match e {
            FreezeError::Refused { .. } => Fail(EXIT_PTRACE, e.to_string()),
            FreezeError::Gone { .. } => gone(),
            FreezeError::Os { .. } => Fail(EXIT_UNREADABLE, e.to_string()),
        })?;
        if std::env::var_os(KILL_SEAM).is_some_and(|v| v == "1") {
            // SAFETY: plain system call.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            // The seam stands for an exit that happened: wait until the
            // kernel has taken the process down (bounded).
            for _ in 0..1000 {
                if !process_alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let frozen_at = std::time::Instant::now();
        let captured = prog.capture(&live, frozen.threads());
        if std::env::var_os("GDBX_PROFILE").is_some() {
            eprintln!(
                "gdbx profile: {} threads stopped in {:?}, {} bytes copied in {:?}",
                frozen.threads().len(),
                frozen_at - freeze_at,
                captured.len(),
                frozen_at.elapsed()
            );
        }
        let regs: Vec<(u64, Option<Regs>)> = frozen
            .threads()
            .iter()
            .map(|t| (t.lwp, Some(t.regs)))
            .collect();
        let alive = frozen.alive();
        let pause = frozen.thaw();
        if !alive {
            return Err(gone());
        }
        (captured, regs, Some(pause))
    };
    let image = prog.image();
    let dump = read_all(&prog, &Chain(&captured, &image), &regs, a, f, true);
    let dump = dump.map_err(|e| {
        if process_alive(pid) {
            Fail(EXIT_UNREADABLE, format!("process {pid}: {e}"))
        } else {
            gone()
        }
    })?;
    if !process_alive(pid) && dump.total == 0 {
        return Err(gone());
    }
    // The process's clock, against which its goroutines' waits are measured.
    let now = live.now();
    print(
        &prog,
        a,
        &Source::Live { pid, exe, pause },
        &dump,
        Some(now),
    );
    exit_without_freeing((dump, prog, captured, live));
    Ok(0)
}

/// Reads everything the output needs (the only part done while a live
/// process is stopped).
fn read_all(
    prog: &Program,
    mem: &dyn Memory,
    regs: &[(u64, Option<Regs>)],
    a: &Args,
    f: &Filter,
    live: bool,
) -> Result<Dump, String> {
    let unw = prog.unwinder();
    // Each thread, unwound a little for the location of what it runs.
    let threads: Vec<Thread> = regs
        .iter()
        .enumerate()
        .map(|(i, (lwp, r))| match r {
            Some(r) => {
                let mut t = Thread::from_regs(i as i64 + 1, *lwp, r);
                t.pcs = unw
                    .unwind(mem, r.rip, r.rsp, r.rbp, true, 64)
                    .iter()
                    .map(|f| f.pc)
                    .collect();
                t
            }
            None => Thread {
                num: i as i64 + 1,
                lwp: *lwp,
                ..Thread::default()
            },
        })
        .collect();
    let view = prog.view(mem, &threads);
    let d = prog.decoder();
    let want_dead = f.dead;
    let (rows, bad) = view
        .rows(|g| want_dead || !d.is_dead(g))
        .map_err(|e| e.to_string())?;
    let total = rows.len();
    let lay = prog.layout();
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| f.keep(r, lay.status_name(r.g.status).unwrap_or("???")))
        .collect();
    let matched = rows.len();
    // Without stacks: the table of `info goroutines` for the text, the
    // rows themselves (without unwinding) for JSON.
    let stacks = !(a.no_stacks || a.group);
    let table = if !stacks && a.format == Format::Text {
        let t = view.info_goroutines(f).map_err(|e| e.to_string())?;
        // The table speaks gdb's option spelling; this is the CLI.
        Some(t.replace("; -limit N to change)", "; --limit N to change)"))
    } else {
        None
    };
    let (ms, _) = d.read_ms(mem).unwrap_or_default();
    let (ps, _) = d.read_ps(mem).unwrap_or_default();
    let goid_of: std::collections::HashMap<u64, i64> = rows_goids(&view, mem, &ms, &ps, &rows);
    let threads_out: Vec<ThreadOut> = threads
        .iter()
        .zip(regs)
        .map(|(t, (_, r))| {
            let g = view.thread_g(t).filter(|&g| g != 0);
            let m = view.m_for_thread(t, &ms);
            ThreadOut {
                lwp: t.lwp,
                m: m.map(|m| m.id),
                goroutine: g.and_then(|g| goid_of.get(&g).copied()),
                on_g0: g.is_some() && m.is_some_and(|m| Some(m.g0) == g),
                pc: r.map(|r| r.rip),
            }
        })
        .collect();
    let mids: std::collections::HashMap<u64, i64> = ms.iter().map(|m| (m.addr, m.id)).collect();
    let pids: std::collections::HashMap<u64, i32> = ps.iter().map(|p| (p.addr, p.id)).collect();
    let ms_out = ms
        .iter()
        .map(|m| MOut {
            id: m.id,
            procid: m.procid,
            curg: goid_of.get(&m.curg).copied(),
            p: pids.get(&m.p).copied(),
            spinning: m.spinning,
            blocked: m.blocked,
        })
        .collect();
    let ps_out = ps
        .iter()
        .map(|p| POut {
            id: p.id,
            status: lay.pstatus_name(p.status).to_string(),
            m: mids.get(&p.m).copied(),
            runq: p
                .runq
                .iter()
                .filter_map(|g| goid_of.get(g).copied())
                .collect(),
            runnext: goid_of.get(&p.runnext).copied(),
        })
        .collect();
    let mut reads = Vec::new();
    let (mut stackless, mut saved) = (0, 0);
    if !stacks && table.is_none() {
        for row in rows {
            let created = created(prog, &row.g, mem);
            reads.push(Read {
                row,
                from: None,
                frames: Vec::new(),
                no_stack: None,
                created,
            });
        }
    } else if table.is_none() {
        let regs_of = |num: i64| regs.get((num - 1) as usize).and_then(|r| r.1);
        // Where each goroutine's unwinding starts.
        let starts: Vec<Start> = rows
            .iter()
            .map(|r| start_of(&view, prog, r, regs_of))
            .collect();
        // The memory is a copy (a live process) or a mapped core: each
        // goroutine is unwound from it directly.
        for (row, (start, from, why)) in rows.into_iter().zip(starts) {
            let mut no_stack = why;
            let frames = match start {
                Some((pc, sp, bp, exact)) => {
                    if from != "registers" {
                        saved += 1;
                        if mem.u64(sp).is_err() || row.stack_missing {
                            stackless += 1;
                            no_stack = Some(format!(
                                "stack not in the {} (at sp={sp:#x})",
                                if live { "process" } else { "core" }
                            ));
                        }
                    }
                    if no_stack.is_some() {
                        Vec::new()
                    } else {
                        // Past a switch to g0 (a cgo call), from the
                        // goroutine's own context, as Go's traceback.
                        let resume = prog.decoder().resume(&row.g);
                        unw.unwind_resuming(mem, pc, sp, bp, exact, resume, MAX_FRAMES + 1)
                    }
                }
                None => Vec::new(),
            };
            let created = created(prog, &row.g, mem);
            reads.push(Read {
                row,
                from: Some(from),
                frames,
                no_stack,
                created,
            });
        }
    }
    Ok(Dump {
        reads,
        table,
        matched,
        threads: threads_out,
        ms: ms_out,
        ps: ps_out,
        bad,
        total,
        stackless,
        saved,
    })
}

/// The goroutine ids of the Gs the Ms and Ps name, and of the rows.
fn rows_goids(
    view: &inspect::View<'_>,
    mem: &dyn Memory,
    ms: &[inspect::M],
    ps: &[inspect::P],
    rows: &[Row],
) -> std::collections::HashMap<u64, i64> {
    let mut out: std::collections::HashMap<u64, i64> =
        rows.iter().map(|r| (r.g.addr, r.g.goid)).collect();
    let others = ms
        .iter()
        .flat_map(|m| [m.curg, m.g0])
        .chain(
            ps.iter()
                .flat_map(|p| std::iter::once(p.runnext).chain(p.runq.iter().copied())),
        )
        .chain(view.threads.iter().filter_map(|t| view.thread_g(t)));
    for a in others {
        if a != 0
            && !out.contains_key(&a)
            && let Ok(g) = view.rt.read_g(mem, a)
        {
            out.insert(a, g.goid);
        }
    }
    out
}

type Start = (Option<(u64, u64, u64, bool)>, &'static str, Option<String>);

/// Where a goroutine's unwinding starts: (pc, sp, bp, pc is exact), what
/// it starts from, and why it cannot when it cannot.
fn start_of(
    view: &inspect::View<'_>,
    prog: &Program,
    r: &Row,
    regs_of: impl Fn(i64) -> Option<Regs>,
) -> Start {
    let g = &r.g;
    let st = prog.layout().status;
    let status = prog.decoder().status(g);
    // A goroutine on its thread (running, or in a system call on it): the
    // thread's registers, also when the thread is in a signal handler or
    // on g0 (the unwinder follows the signal frame back).
    if let Some(num) = r.thread
        && (r.on_cpu || status == st.running || status == st.syscall)
        && let Some(regs) = regs_of(num)
    {
        return (
            Some((regs.rip, regs.rsp, regs.rbp, true)),
            "registers",
            None,
        );
    }
    if view.not_started(g) {
        return (Some((g.pc, g.sp, g.bp, true)), "entry", None);
    }
    if status == st.syscall && g.syscallsp != 0 && g.syscallpc != 0 {
        return (
            Some((g.syscallpc, g.syscallsp, g.syscallbp, false)),
            "syscall",
            None,
        );
    }
    if status == st.running || g.pc == 0 {
        return (
            None,
            "unavailable",
            Some("goroutine running on other thread; stack unavailable".into()),
        );
    }
    (Some((g.pc, g.sp, g.bp, false)), "saved", None)
}

/// The name of the frame of a signal-return trampoline (gdb's): a signal
/// handler's frames are below it, the frame the signal interrupted above.
const SIGNAL_FRAME: &str = "<signal handler called>";

/// Symbolises one raw frame into the frames Go prints for it (inlined
/// ones first).
fn symbolise(prog: &Program, f: &RawFrame) -> Vec<FrameOut> {
    let syms = prog.symbols();
    let chain = syms.frames(f.probe());
    let start = syms.function_start(f.probe());
    let offset = start.filter(|&s| f.pc > s).map(|s| f.pc - s);
    if f.sigreturn {
        // Named as gdb names it, whichever function holds the trampoline
        // (Go's runtime.sigreturn, libc's __restore_rt): it was never
        // called, the kernel returned the handler to it.
        let at = chain.first();
        return vec![FrameOut {
            func: SIGNAL_FRAME.into(),
            file: at
                .filter(|fr| !fr.file.is_empty())
                .map_or("?".into(), |fr| fr.file.to_string()),
            line: at.map_or(0, |fr| fr.line),
            pc: f.pc,
            sp: f.sp,
            offset: None,
            inlined: false,
        }];
    }
    if chain.is_empty() {
        return vec![FrameOut {
            func: "??".into(),
            file: "?".into(),
            line: 0,
            pc: f.pc,
            sp: f.sp,
            offset: None,
            inlined: false,
        }];
    }
    chain
        .iter()
        .map(|fr| FrameOut {
            func: fr.func.to_string(),
            file: if fr.file.is_empty() {
                "?".into()
            } else {
                fr.file.to_string()
            },
            line: fr.line,
            pc: f.pc,
            sp: f.sp,
            offset: if fr.inlined { None } else { offset },
            inlined: fr.inlined,
        })
        .collect()
}

/// Where `g` was created: the function that made it, named from the
/// return address of its `go` statement (`G.gopc`) as its runtime's own
/// tracebacks name it (Go 1.19: the real function, `created by main.main`;
/// ours: the innermost frame at the call, `created by main.main in
/// goroutine 1`, with the file:line our runtime records of the call).
fn created(prog: &Program, g: &inspect::G, mem: &dyn Memory) -> Option<CreatedOut> {
    let syms = prog.symbols();
    let chain = (g.gopc != 0).then(|| syms.frames(g.gopc - 1));
    let chain = chain.as_deref().map_or(&[][..], |c| &c[..]);
    let offset = syms
        .function_start(g.gopc.wrapping_sub(1))
        .filter(|&s| g.gopc > s)
        .map(|s| g.gopc - s);
    let named = |f: &inspect::Frame| (!f.func.is_empty()).then(|| f.func.to_string());
    match prog.flavour() {
        inspect::Flavour::Go119 => {
            // Go prints no creator for the main goroutine.
            if g.gopc == 0 || g.goid == 1 {
                return None;
            }
            let (inner, outer) = (chain.first()?, chain.last()?);
            Some(CreatedOut {
                func: named(outer),
                file: inner.file.to_string(),
                line: inner.line,
                offset,
                goroutine: None,
            })
        }
        inspect::Flavour::Ours => {
            if g.parent == 0 || g.cfile == 0 || g.cfile_len == 0 || g.cfile_len > 4096 {
                return None;
            }
            Some(CreatedOut {
                func: chain.first().and_then(named),
                file: mem
                    .bytes(g.cfile, g.cfile_len as usize)
                    .map_or("?".into(), |b| String::from_utf8_lossy(&b).into_owned()),
                line: g.cline,
                offset: chain.first().and(offset),
                goroutine: Some(g.parent),
            })
        }
    }
}

fn print(prog: &Program, a: &Args, source: &Source, dump: &Dump, now: Option<i64>) {
    let lay = prog.layout();
    let d = prog.decoder();
    let threads = &dump.threads;
    let view_status = |g: &inspect::G| {
        let threads: [Thread; 0] = [];
        // The status text needs no memory.
        let none = inspect::Callback(|_: u64, _: &mut [u8]| false);
        prog.view(&none, &threads).traceback_status(g)
    };
    let minutes = |g: &inspect::G| {
        let st = d.status(g);
        match now {
            Some(now)
                if (st == lay.status.waiting || st == lay.status.syscall) && g.waitsince != 0 =>
            {
                Some((now - g.waitsince) / 60_000_000_000).filter(|&m| m >= 1)
            }
            _ => None,
        }
    };
    let to_out = |r: &Read| {
        let g = &r.row.g;
        let mut frames = Vec::new();
        for f in r.frames.iter().take(MAX_FRAMES) {
            frames.extend(symbolise(prog, f));
        }
        GoroutineOut {
            id: g.goid,
            status: view_status(g),
            state: lay.status_name(g.status).unwrap_or("???").to_string(),
            wait_minutes: minutes(g),
            locked_to_thread: g.lockedm != 0,
            thread: r
                .row
                .thread
                .and_then(|n| threads.get((n - 1) as usize))
                .map(|t| t.lwp),
            m: r.row.m_id,
            location: r.row.loc.to_string(),
            unwound_from: r.from,
            elided: r.frames.len() > MAX_FRAMES,
            cut: r.frames.len() <= MAX_FRAMES && r.frames.last().is_some_and(|f| f.cut),
            frames,
            no_stack: r.no_stack.clone(),
            created_by: r.created.clone(),
        }
    };
    let shown = a.limit.unwrap_or(usize::MAX).min(dump.reads.len());
    let (target, pid, core, paused_ms, consistent) = match source {
        Source::Live { pid, pause, .. } => (
            format!("process {pid}"),
            Some(*pid),
            None,
            pause.map(|p| p.as_secs_f64() * 1e3),
            pause.is_some(),
        ),
        Source::Core(c) => (
            format!("core {}", c.display()),
            None,
            Some(c.display().to_string()),
            None,
            true,
        ),
    };
    let binary = match source {
        Source::Live { exe, .. } => exe.display().to_string(),
        Source::Core(_) => prog.binary().path().display().to_string(),
    };
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out.lock());
    if a.format == Format::Json {
        let (goroutines, groups, groups_not_shown, not_shown) = if a.group {
            let mut groups = group(&dump.reads, |g| view_status(g));
            let n = a.limit.unwrap_or(usize::MAX).min(groups.len());
            let hidden: usize = groups[n..].iter().map(|g| g.count).sum();
            let more = groups.len() - n;
            groups.truncate(n);
            (None, Some(groups), Some(more), hidden)
        } else {
            let gs = dump.reads.iter().take(shown).map(to_out).collect();
            (Some(gs), None, None, dump.reads.len() - shown)
        };
        let doc = Document {
            target,
            binary: binary.clone(),
            runtime: prog.flavour().describe(),
            source: if pid.is_some() { "process" } else { "core" },
            pid,
            core,
            paused_ms,
            consistent,
            total: dump.total,
            matched: dump.matched,
            not_shown,
            goroutines,
            groups,
            groups_not_shown,
            threads: &dump.threads,
            ms: &dump.ms,
            ps: &dump.ps,
            bad: &dump.bad,
        };
        let _ = serde_json::to_writer(&mut out, &doc);
        let _ = writeln!(out);
        return;
    }
    let pause = match (source, paused_ms) {
        (Source::Live { .. }, Some(ms)) => format!("; paused {ms:.3} ms"),
        (Source::Live { .. }, None) => {
            "; not paused (--nonblocking): read while running, the dump may be inconsistent"
                .to_string()
        }
        (Source::Core(_), _) => String::new(),
    };
    let _ = writeln!(
        out,
        "gdbx goroutines: {target} ({binary}, {}): {} goroutines, {} threads{pause}",
        prog.flavour().describe(),
        dump.total,
        dump.threads.len()
    );
    let none_matched =
        (dump.matched == 0 && (a.location.is_some() || !a.status.is_empty())).then(|| {
            let mut by = Vec::new();
            if !a.status.is_empty() {
                by.push(format!("--status {}", a.status.join(",")));
            }
            if let Some(l) = &a.location {
                by.push(format!("--location {l:?}"));
            }
            format!(
                "no goroutine matches {} (of {} goroutines)",
                by.join(" "),
                dump.total
            )
        });
    if let Some(table) = &dump.table {
        let _ = write!(out, "{table}");
        if let Some(l) = &none_matched {
            let _ = writeln!(out, "{l}");
        }
        return;
    }
    if let Some(l) = &none_matched {
        let _ = writeln!(out, "\n{l}");
    }
    // 100,000 goroutines share a few dozen pcs: each raw frame's lines
    // are formatted once.
    let mut frame_text: inspect::fastmap::FastMap<(u64, bool), String> = Default::default();
    let mut statuses: inspect::fastmap::FastMap<(u32, u64), String> = Default::default();
    let mut text = String::with_capacity(4096);
    for r in dump.reads.iter().take(shown) {
        let g = &r.row.g;
        text.clear();
        let status = statuses
            .entry((g.status, g.reason))
            .or_insert_with(|| view_status(g));
        let _ = write!(text, "\ngoroutine {} [{status}", g.goid);
        if let Some(m) = minutes(g) {
            let _ = write!(text, ", {m} minutes");
        }
        if g.lockedm != 0 {
            text.push_str(", locked to thread");
        }
        text.push_str("]:\n");
        if let Some(why) = &r.no_stack {
            let _ = writeln!(text, "\t{why}");
        }
        for f in r.frames.iter().take(MAX_FRAMES) {
            let lines = frame_text.entry((f.pc, f.exact)).or_insert_with(|| {
                let mut t = String::new();
                for f in symbolise(prog, f) {
                    if f.func == SIGNAL_FRAME {
                        t.push_str(SIGNAL_FRAME);
                        t.push('\n');
                        continue;
                    }
                    let _ = write!(t, "{}(...)\n\t{}", f.func, f.file);
                    // A library's C code has no lines: its path alone.
                    if f.line != 0 || f.file == "?" {
                        let _ = write!(t, ":{}", f.line);
                    }
                    if let Some(o) = f.offset {
                        let _ = write!(t, " +{o:#x}");
                    } else if f.func == "??" {
                        let _ = write!(t, " pc={:#x}", f.pc);
                    }
                    t.push('\n');
                }
                t
            });
            text.push_str(lines);
        }
        if r.frames.len() > MAX_FRAMES {
            text.push_str("...additional frames elided...\n");
        } else if r.frames.last().is_some_and(|f| f.cut) {
            text.push_str(inspect::unwind::CUT_MARKER);
            text.push('\n');
        }
        if let Some(c) = &r.created {
            match (&c.func, c.goroutine) {
                (Some(func), Some(p)) => {
                    let _ = writeln!(text, "created by {func} in goroutine {p}");
                }
                (Some(func), None) => {
                    let _ = writeln!(text, "created by {func}");
                }
                (None, Some(p)) => {
                    let _ = writeln!(text, "created by goroutine {p}");
                }
                (None, None) => text.push_str("created by ?\n"),
            }
            let _ = write!(text, "\t{}:{}", c.file, c.line);
            if let Some(o) = c.offset {
                let _ = write!(text, " +{o:#x}");
            }
            text.push('\n');
        }
        let _ = out.write_all(text.as_bytes());
    }
    if dump.reads.len() > shown {
        let _ = writeln!(
            out,
            "\n({} more goroutines not shown; --limit N to change)",
            dump.reads.len() - shown
        );
    }
    for b in &dump.bad {
        let _ = writeln!(out, "gdbx: could not decode: {b}");
    }
}

/// The goroutines of `reads` per location, as `info goroutines -group`
/// orders them: most goroutines first, then by the first goroutine's id;
/// `status` is a goroutine's status as Go's header writes it.
fn group(reads: &[Read], status: impl Fn(&inspect::G) -> String) -> Vec<GroupOut> {
    let mut at: std::collections::HashMap<&str, usize> = Default::default();
    let mut out: Vec<GroupOut> = Vec::new();
    let mut statuses: std::collections::HashMap<(u32, u64), String> = Default::default();
    for r in reads {
        let g = &r.row.g;
        let i = *at.entry(&r.row.loc).or_insert_with(|| {
            out.push(GroupOut {
                location: r.row.loc.to_string(),
                count: 0,
                statuses: Default::default(),
                goroutines: Vec::new(),
            });
            out.len() - 1
        });
        let st = statuses
            .entry((g.status, g.reason))
            .or_insert_with(|| status(g))
            .clone();
        let e = &mut out[i];
        e.count += 1;
        *e.statuses.entry(st).or_insert(0) += 1;
        e.goroutines.push(g.goid);
    }
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.goroutines.first().cmp(&b.goroutines.first()))
    });
    out
}
