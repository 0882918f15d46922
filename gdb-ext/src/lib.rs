//! `gdbx_ext`: the native half of the gdb extension (the Python half is
//! `python/gdbx`), a thin PyO3 adapter over the inspection core
//! ([`inspect`]): it converts gdb's threads and memory reader into the
//! core's types and the core's results into Python values. Every decode,
//! placement, location and text is the core's.
//!
//! ```python
//! import gdbx_ext
//! prog = gdbx_ext.Program("/path/to/prog", "/path/to/source/root")
//! prog.attach("proc", pid)            # or ("core", "/path/core"), ("gdb", None)
//! prog.info_goroutines(read, threads, ["-group"], gdb.write)
//! ```
//!
//! `read(addr, len) -> bytes` is gdb's memory reader (used for what the
//! process or core reader cannot serve: gdbserver and remote targets), and
//! `threads` a list of `(num, lwp, fs_base, [pc, ...])` or `(num, lwp,
//! fs_base, [pc, ...], r14)` for the inferior's threads.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use inspect::{Callback, Chain, CoreFile, Filter, LiveProcess, ReadError, Role, Thread, View};

/// How much of a long text is handed to gdb.write at once: small enough
/// to stay in the cache while gdb copies it (twice), big enough that the
/// calls cost nothing (200 for 100,000 goroutines).
const WRITE_PIECE: usize = 64 << 10;

/// Where memory is read from besides gdb.
enum Backing {
    /// Only gdb's reader.
    Gdb,
    Proc(LiveProcess),
    Core(CoreFile),
}

/// A binary on the gdbx runtime or a Go 1.19 binary, opened for the session.
#[pyclass(unsendable)]
pub struct Program {
    prog: inspect::Program,
    backing: Backing,
}

/// A thread as Python passes it: without or with `r14`.
#[derive(FromPyObject)]
enum PyThread {
    Plain(i64, u64, u64, Vec<u64>),
    WithR14(i64, u64, u64, Vec<u64>, u64),
}

fn threads_in(threads: Vec<PyThread>) -> Vec<Thread> {
    threads
        .into_iter()
        .map(|t| {
            let (num, lwp, fs_base, pcs, r14) = match t {
                PyThread::Plain(n, l, f, p) => (n, l, f, p, 0),
                PyThread::WithR14(n, l, f, p, r) => (n, l, f, p, r),
            };
            Thread {
                num,
                lwp,
                fs_base,
                r14,
                pcs,
            }
        })
        .collect()
}

fn err(e: ReadError) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

/// gdb's memory reader as the core's [`inspect::Memory`].
fn gdb_reader<'py>(read: Option<Bound<'py, PyAny>>) -> impl Fn(u64, &mut [u8]) -> bool + 'py {
    move |addr, buf| {
        let Some(cb) = &read else {
            return false;
        };
        let Ok(obj) = cb.call1((addr, buf.len())) else {
            return false;
        };
        match obj.cast::<PyBytes>() {
            Ok(b) if b.as_bytes().len() == buf.len() => {
                buf.copy_from_slice(b.as_bytes());
                true
            }
            _ => false,
        }
    }
}

impl Program {
    /// Runs `f` on a view of the program through the backing, then the
    /// executable's read-only sections, then gdb's reader.
    fn with<R>(
        &self,
        read: Option<Bound<'_, PyAny>>,
        threads: Vec<PyThread>,
        f: impl FnOnce(&View) -> R,
    ) -> R {
        let gdb = Callback(gdb_reader(read));
        let image = self.prog.image();
        let fallback = Chain(&image, &gdb);
        let mut threads = threads_in(threads);
        if let Backing::Core(c) = &self.backing {
            // A core's threads are unwound from their registers by the
            // core's own unwinder, which goes through a signal frame (Go's
            // sigtramp) where gdb's frames stop: the crashing goroutine is
            // placed where the signal stopped it.
            let mem = Chain(c, &fallback);
            for t in threads.iter_mut().filter(|t| !t.pcs.is_empty()) {
                if let Some(ct) = c.threads().iter().find(|ct| ct.lwp == t.lwp) {
                    let r = &ct.regs;
                    t.pcs = self
                        .prog
                        .unwinder()
                        .unwind(&mem, r.rip, r.rsp, r.rbp, true, inspect::MAX_FRAMES)
                        .iter()
                        .map(|f| f.pc)
                        .collect();
                }
            }
        }
        match &self.backing {
            Backing::Gdb => f(&self.prog.view(&gdb, &threads)),
            Backing::Proc(p) => {
                let mem = Chain(p, &gdb);
                let mut view = self.prog.view(&mem, &threads);
                view.now = Some(p.now());
                f(&view)
            }
            Backing::Core(c) => f(&self.prog.view(&Chain(c, &fallback), &threads)),
        }
    }
}

fn role(short: &str) -> Option<Role> {
    match short {
        "G" => Some(Role::G),
        "M" => Some(Role::M),
        "P" => Some(Role::P),
        "Sched" => Some(Role::Sched),
        _ => None,
    }
}

#[pymethods]
impl Program {
    /// Opens `path` and reads its runtime's layouts from its DWARF. Fails
    /// (ValueError, one line) for a binary whose runtime the core does not
    /// read, naming what is missing. `source_root` is stripped from file
    /// names shown to the user.
    #[new]
    #[pyo3(signature = (path, source_root = ""))]
    fn new(path: &str, source_root: &str) -> PyResult<Self> {
        let prog = inspect::Program::open(path, source_root).map_err(PyValueError::new_err)?;
        Ok(Program {
            prog,
            backing: Backing::Gdb,
        })
    }

    /// `"ours"` or `"go"`.
    fn flavour(&self) -> &'static str {
        match self.prog.flavour() {
            inspect::Flavour::Ours => "ours",
            inspect::Flavour::Go119 => "go",
        }
    }

    /// What of the runtime the binary lacks: always empty, since a binary
    /// that lacks something does not open.
    fn missing(&self) -> Vec<String> {
        self.prog.layout().missing.clone()
    }

    /// Sizes of the decoded types, for the load message.
    fn sizes(&self) -> Vec<(String, usize)> {
        let l = self.prog.layout();
        vec![
            ("G".into(), l.g_size),
            ("M".into(), l.m_size),
            ("P".into(), l.p_size),
            ("Sched".into(), l.sched_size),
        ]
    }

    /// The full DWARF name of `G`, `M`, `P`, `Sched`
    /// (`runtime::runtime2::G`, `runtime.g`).
    fn type_name(&self, short: &str) -> Option<String> {
        self.prog.layout().type_names.get(&role(short)?).cloned()
    }

    /// Run-time address of a symbol the runtime's layout reads.
    fn symbol(&self, name: &str) -> Option<u64> {
        self.prog.layout().sym(name, self.prog.bias())
    }

    /// The current g's offset from `$fs_base`.
    fn tls_offset(&self) -> Option<i64> {
        self.prog.layout().tpoff
    }

    /// The ELF entry point (file address), to compute a PIE's load bias
    /// from the run-time `AT_ENTRY`.
    fn entry(&self) -> u64 {
        self.prog.binary().entry()
    }

    /// Sets the load bias (run-time minus file addresses; 0 unless PIE)
    /// and reads the wait-reason names from memory.
    #[pyo3(signature = (bias, read = None))]
    fn set_bias(&mut self, bias: u64, read: Option<Bound<'_, PyAny>>) {
        let gdb = Callback(gdb_reader(read));
        match &self.backing {
            Backing::Gdb => self.prog.set_bias(bias, &gdb),
            Backing::Proc(p) => self.prog.set_bias(bias, &Chain(p, &gdb)),
            Backing::Core(c) => self.prog.set_bias(bias, &Chain(c, &gdb)),
        }
    }

    /// Where memory is read from besides gdb: `("proc", pid)`,
    /// `("core", path)` or `("gdb", None)`. Returns the kind in use.
    #[pyo3(signature = (kind, arg = None))]
    fn attach(&mut self, kind: &str, arg: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        self.backing = match (kind, arg) {
            ("proc", Some(a)) => {
                LiveProcess::open(a.extract()?).map_or(Backing::Gdb, Backing::Proc)
            }
            ("core", Some(a)) => {
                CoreFile::open(a.extract::<String>()?).map_or(Backing::Gdb, Backing::Core)
            }
            _ => Backing::Gdb,
        };
        if let Backing::Core(c) = &self.backing {
            // The core's libraries: their symbols and call frame
            // information for the C frames of its threads.
            let vdso = c
                .vdso()
                .and_then(|b| Some((b, inspect::mem::vdso_image(c, b)?)));
            self.prog.set_libraries(c.files().to_vec(), vdso, c);
        }
        Ok(match &self.backing {
            Backing::Gdb => "gdb".into(),
            Backing::Proc(..) => "proc".into(),
            Backing::Core(..) => "core".into(),
        })
    }

    /// After gdb's `gcore` wrote `path` from the live process: copy in the
    /// parts of mappings gdb skipped. Returns (segments repaired, bytes
    /// copied, unreadable pages); (0, 0, 0) when not a live process.
    fn repair_core(&self, path: &str) -> PyResult<(u64, u64, u64)> {
        let Backing::Proc(live) = &self.backing else {
            return Ok((0, 0, 0));
        };
        let r = inspect::gcore::repair(path, live)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok((r.segments, r.bytes, r.unreadable_pages))
    }

    /// `info goroutines ARGS`, its text passed to `write` (gdb.write)
    /// [`WRITE_PIECE`] bytes at a time; an exception from `write` (the pager's quit) ends
    /// it and is raised.
    fn info_goroutines(
        &self,
        read: Bound<'_, PyAny>,
        threads: Vec<PyThread>,
        args: Vec<String>,
        write: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let f = Filter::parse(&args).map_err(PyValueError::new_err)?;
        let mut failed = None;
        self.with(Some(read), threads, |v| {
            v.info_goroutines_to(&f, WRITE_PIECE, &mut |piece| match write.call1((piece,)) {
                Ok(_) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })
        })
        .map_err(err)?;
        failed.map_or(Ok(()), Err)
    }

    /// `info ms`; `selected` is the selected thread's number.
    #[pyo3(signature = (read, threads, selected = None))]
    fn info_ms(
        &self,
        read: Bound<'_, PyAny>,
        threads: Vec<PyThread>,
        selected: Option<i64>,
    ) -> PyResult<String> {
        self.with(Some(read), threads, |v| v.info_ms(selected))
            .map_err(err)
    }

    fn info_ps(&self, read: Bound<'_, PyAny>, threads: Vec<PyThread>) -> PyResult<String> {
        self.with(Some(read), threads, |v| v.info_ps()).map_err(err)
    }

    fn info_sched(&self, read: Bound<'_, PyAny>, threads: Vec<PyThread>) -> PyResult<String> {
        self.with(Some(read), threads, |v| v.info_sched())
            .map_err(err)
    }

    /// One line for a pretty printer: `kind` is `G`, `M`, `P` or `Sched`.
    fn describe(
        &self,
        read: Bound<'_, PyAny>,
        threads: Vec<PyThread>,
        kind: &str,
        addr: u64,
    ) -> PyResult<String> {
        self.with(Some(read), threads, |v| match kind {
            "G" => Ok(v.describe_g(addr)),
            "M" => Ok(v.describe_m(addr)),
            "P" => Ok(v.describe_p(addr)),
            "Sched" => v.info_sched().map_err(err),
            _ => Err(PyValueError::new_err(format!("unknown kind {kind}"))),
        })
    }

    /// For `goroutine`: one dict per goroutine (`ids` None: every one
    /// that is not dead, sorted by id; else those of `ids` that exist) with
    /// its status, saved context (`sp`, `pc`, `bp`), `thread` (the gdb
    /// thread running it, or None), `on_cpu`, `started` (False for a
    /// runnable goroutine that never ran), `entry` (its entry function, as
    /// text) and `startpc`, and `stack_missing` (its stack is not in
    /// memory: see `View::stack_missing`).
    #[pyo3(signature = (read, threads, ids = None))]
    fn goroutines<'py>(
        &self,
        py: Python<'py>,
        read: Bound<'py, PyAny>,
        threads: Vec<PyThread>,
        ids: Option<Vec<i64>>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let found = self
            .with(Some(read), threads, |v| {
                v.find_gs(ids.as_deref()).map(|gs| {
                    gs.into_iter()
                        .map(|(g, t, on)| {
                            let status = v.status_text(&g);
                            let state =
                                v.rt.layout
                                    .status_name(g.status)
                                    .unwrap_or("???")
                                    .to_string();
                            let started = !v.not_started(&g);
                            let entry = v.entry(&g);
                            let stack_missing = started && !on && v.stack_missing(&g);
                            let ctx = v.rt.syscall_context(&g);
                            (g, t, on, status, state, started, entry, stack_missing, ctx)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .map_err(err)?;
        let mut out = Vec::with_capacity(found.len());
        for (g, thread, on_cpu, status, state, started, entry, stack_missing, ctx) in found {
            let d = PyDict::new(py);
            d.set_item("goid", g.goid)?;
            d.set_item("addr", g.addr)?;
            d.set_item("status", status)?;
            d.set_item("state", state)?;
            // A goroutine in a system call or a cgo call (on g0 in C code, its
            // G.sched at Go's systemstack_switch): from where it entered
            // the call, as Go's traceback.
            let (pc, sp, bp) = ctx.unwrap_or((g.pc, g.sp, g.bp));
            d.set_item("sp", sp)?;
            d.set_item("pc", pc)?;
            d.set_item("bp", bp)?;
            d.set_item("thread", thread)?;
            d.set_item("on_cpu", on_cpu)?;
            d.set_item("started", started)?;
            d.set_item("entry", entry)?;
            d.set_item("startpc", g.startpc)?;
            d.set_item("stack_missing", stack_missing)?;
            out.push(d);
        }
        Ok(out)
    }

    /// How to get a core that holds the goroutine stacks, for this runtime.
    fn missing_stacks_advice(&self, read: Bound<'_, PyAny>) -> PyResult<String> {
        self.with(Some(read), Vec::new(), |v| {
            Ok(v.flavour().missing_stacks_advice().to_string())
        })
        .map_err(err)
    }

    /// Ids of the goroutines that are not dead, sorted.
    fn goids(&self, read: Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
        self.with(Some(read), Vec::new(), |v| v.goids())
            .map_err(err)
    }

    /// The g in a thread's thread-local slot (0 when none); `r14` is used
    /// for Go when the slot cannot be read.
    #[pyo3(signature = (read, fs_base, r14 = 0))]
    fn thread_g(&self, read: Bound<'_, PyAny>, fs_base: u64, r14: u64) -> u64 {
        let t = Thread {
            fs_base,
            r14,
            ..Thread::default()
        };
        self.with(Some(read), Vec::new(), |v| v.thread_g(&t).unwrap_or(0))
    }

    /// The M of the thread with this LWP and `$fs_base` (its address; 0 when none).
    fn m_of_thread(&self, read: Bound<'_, PyAny>, lwp: u64, fs_base: u64) -> u64 {
        self.with(Some(read), Vec::new(), |v| {
            let ms = v.rt.read_ms(v.mem).map(|r| r.0).unwrap_or_default();
            let t = Thread {
                lwp,
                fs_base,
                ..Thread::default()
            };
            v.m_for_thread(&t, &ms).map_or(0, |m| m.addr)
        })
    }

    /// The threads (numbers) whose current g is a goroutine rather than an
    /// M's g0: only their frames can hold a goroutine's location.
    fn user_threads(&self, read: Bound<'_, PyAny>, threads: Vec<PyThread>) -> Vec<i64> {
        self.with(Some(read), threads, |v| {
            let g0s: Vec<u64> =
                v.rt.read_ms(v.mem)
                    .map(|r| r.0.iter().map(|m| m.g0).collect())
                    .unwrap_or_default();
            v.threads
                .iter()
                .filter(|t| v.thread_g(t).is_some_and(|g| g != 0 && !g0s.contains(&g)))
                .map(|t| t.num)
                .collect()
        })
    }

    /// `(thread number, "M<id> g<goid>")` for each thread.
    fn thread_names(&self, read: Bound<'_, PyAny>, threads: Vec<PyThread>) -> Vec<(i64, String)> {
        self.with(Some(read), threads, |v| v.thread_names())
    }

    /// The name to show for the frame `from_real` steps inward from the
    /// real function of the inline chain at `probe` (0: the real one), when
    /// it differs from what gdb knows: see [`inspect::Symbols::shown_name`].
    fn frame_name(&self, probe: u64, from_real: usize) -> Option<String> {
        self.prog
            .symbols()
            .shown_name(probe, from_real)
            .map(|s| s.to_string())
    }
}

/// What runtime the ELF file at `path` carries, in words (`program on
/// the gdbx runtime`, `Go binary (go1.19.8)`), or None for any other file:
/// how the loader tells a program it should speak up about (one that it
/// cannot read is still worth a line) from one it leaves alone.
#[pyfunction]
fn runtime_of(path: &str) -> Option<String> {
    let bin = debuginfo::Binary::open(path).ok()?;
    match bin.flavor() {
        debuginfo::Flavor::Other => None,
        f => Some(f.describe()),
    }
}

/// The module gdb imports.
#[pymodule]
fn gdbx_ext(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Program>()?;
    m.add_function(wrap_pyfunction!(runtime_of, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // How many of gdb's frames of a running goroutine the commands want.
    m.add("MAX_FRAMES", inspect::MAX_FRAMES)?;
    Ok(())
}
