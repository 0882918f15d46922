//! `gdbx_ext`: the native half of the gdb extension for programs on the
//! gdbx runtime (the Python half is `python/gdbx`).
//!
//! gdb's Python adapts gdb (threads, registers, commands, printers); this
//! module does the heavy work: it reads the layouts of `G`, `M`, `P` and
//! `Sched` from the binary's DWARF (no offset is hard-coded), reads the
//! inferior's memory in bulk (see [`mem`]), decodes, symbolises with
//! addr2line, filters and formats. One [`Program`] per binary:
//!
//! ```python
//! import gdbx_ext
//! prog = gdbx_ext.Program("/path/to/prog", "/path/to/source/root")
//! prog.attach("proc", pid)            # or ("core", "/path/core"), ("gdb", None)
//! print(prog.info_goroutines(read, threads, ["-group"]))
//! ```
//!
//! `read(addr, len) -> bytes` is gdb's memory reader (a fallback), and
//! `threads` a list of `(num, lwp, fs_base, [pc, ...])` for the inferior's
//! threads.

pub mod cmds;
pub mod fastmap;
pub mod gcore;
pub mod mem;
pub mod model;
pub mod sym;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use cmds::{Ctx, Filter, ThreadIn};
use mem::{Backing, Memory};
use model::{ReadError, Runtime, status_name};
use sym::Symbols;

/// A binary built on the gdbx runtime, opened for the session.
#[pyclass(unsendable)]
pub struct Program {
    bin: debuginfo::Binary,
    rt: Runtime,
    syms: Symbols,
    backing: Backing,
}

type PyThread = (i64, u64, u64, Vec<u64>);

fn threads_in(threads: Vec<PyThread>) -> Vec<ThreadIn> {
    threads
        .into_iter()
        .map(|(num, lwp, fs_base, pcs)| ThreadIn {
            num,
            lwp,
            fs_base,
            pcs,
        })
        .collect()
}

fn err(e: ReadError) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

impl Program {
    fn with<R>(
        &self,
        read: Option<Bound<'_, PyAny>>,
        threads: Vec<PyThread>,
        f: impl FnOnce(&Ctx) -> R,
    ) -> R {
        let mem = Memory::new(&self.backing, read);
        let threads = threads_in(threads);
        let ctx = Ctx {
            rt: &self.rt,
            syms: &self.syms,
            mem: &mem,
            bin: &self.bin,
            threads: &threads,
            loc_cache: Default::default(),
            classify_cache: Default::default(),
            created_cache: Default::default(),
        };
        f(&ctx)
    }
}

#[pymethods]
impl Program {
    /// Opens `path` and reads the runtime's layouts from its DWARF.
    /// `source_root` is stripped from file names shown to the user.
    #[new]
    #[pyo3(signature = (path, source_root = ""))]
    fn new(path: &str, source_root: &str) -> PyResult<Self> {
        let bin =
            debuginfo::Binary::open(path).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let rt = Runtime::load(&bin).map_err(PyValueError::new_err)?;
        let syms = Symbols::new(&bin, source_root);
        Ok(Program {
            bin,
            rt,
            syms,
            backing: Backing::Gdb,
        })
    }

    /// Items of the debugger-visible layout (types, fields, symbols) the binary lacks.
    fn missing(&self) -> Vec<String> {
        self.rt.missing.clone()
    }

    /// Sizes of the decoded types, for the load message.
    fn sizes(&self) -> Vec<(String, usize)> {
        vec![
            ("G".into(), self.rt.g_size),
            ("M".into(), self.rt.m_size),
            ("P".into(), self.rt.p_size),
            ("Sched".into(), self.rt.sched_size),
        ]
    }

    /// The full DWARF name of `G`, `M`, `P`, `Sched` (`runtime::runtime2::G`).
    fn type_name(&self, short: &str) -> Option<String> {
        self.rt.type_names.get(short).cloned()
    }

    /// File address of a contract symbol.
    fn symbol(&self, name: &str) -> Option<u64> {
        self.rt.sym(name)
    }

    /// `runtime.tlsg`'s offset from `$fs_base`.
    fn tls_offset(&self) -> Option<i64> {
        self.rt.tpoff
    }

    /// The ELF entry point (file address), to compute a PIE's load bias
    /// from the run-time `AT_ENTRY`.
    fn entry(&self) -> u64 {
        self.bin.entry()
    }

    /// Sets the load bias (run-time minus file addresses; 0 unless PIE).
    /// A PIE's wait-reason table holds relocated pointers: read it again
    /// from memory with `read`.
    #[pyo3(signature = (bias, read = None))]
    fn set_bias(&mut self, bias: u64, read: Option<Bound<'_, PyAny>>) {
        self.rt.bias = bias;
        self.syms.set_bias(bias);
        if bias != 0 {
            let mem = Memory::new(&self.backing, read);
            self.rt.read_reason_strings_mem(&self.bin, &mem);
        }
    }

    /// Where memory is read from besides gdb: `("proc", pid)`,
    /// `("core", path)` or `("gdb", None)`.
    #[pyo3(signature = (kind, arg = None))]
    fn attach(&mut self, kind: &str, arg: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        self.backing = match (kind, arg) {
            ("proc", Some(a)) => Backing::live(a.extract()?),
            ("core", Some(a)) => Backing::core(&a.extract::<String>()?),
            _ => Backing::Gdb,
        };
        Ok(match &self.backing {
            Backing::Gdb => "gdb".into(),
            Backing::Proc(..) => "proc".into(),
            Backing::Core(..) => "core".into(),
        })
    }

    /// After gdb's `gcore` wrote `path` from the live process: copy in the
    /// parts of mappings gdb skipped (see [`gcore`]). Returns (segments
    /// repaired, bytes copied, unreadable pages); (0, 0, 0) when the
    /// program is not a live process.
    fn repair_core(&self, path: &str) -> PyResult<(u64, u64, u64)> {
        let Backing::Proc(mem, _) = &self.backing else {
            return Ok((0, 0, 0));
        };
        let r = gcore::repair(path, mem).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok((r.segments, r.bytes, r.unreadable_pages))
    }

    /// `info goroutines ARGS`.
    fn info_goroutines(
        &self,
        read: Bound<'_, PyAny>,
        threads: Vec<PyThread>,
        args: Vec<String>,
    ) -> PyResult<String> {
        let f = Filter::parse(&args).map_err(PyValueError::new_err)?;
        self.with(Some(read), threads, |c| c.info_goroutines(&f))
            .map_err(err)
    }

    /// `info ms`; `selected` is the selected thread's number.
    #[pyo3(signature = (read, threads, selected = None))]
    fn info_ms(
        &self,
        read: Bound<'_, PyAny>,
        threads: Vec<PyThread>,
        selected: Option<i64>,
    ) -> PyResult<String> {
        self.with(Some(read), threads, |c| c.info_ms(selected))
            .map_err(err)
    }

    fn info_ps(&self, read: Bound<'_, PyAny>, threads: Vec<PyThread>) -> PyResult<String> {
        self.with(Some(read), threads, |c| c.info_ps()).map_err(err)
    }

    fn info_sched(&self, read: Bound<'_, PyAny>, threads: Vec<PyThread>) -> PyResult<String> {
        self.with(Some(read), threads, |c| c.info_sched())
            .map_err(err)
    }

    /// One line for a pretty printer: `kind` is `G`, `M` or `P`.
    fn describe(
        &self,
        read: Bound<'_, PyAny>,
        threads: Vec<PyThread>,
        kind: &str,
        addr: u64,
    ) -> PyResult<String> {
        self.with(Some(read), threads, |c| match kind {
            "G" => Ok(c.describe_g(addr)),
            "M" => Ok(c.describe_m(addr)),
            "P" => Ok(c.describe_p(addr)),
            "Sched" => c.info_sched().map_err(err),
            _ => Err(PyValueError::new_err(format!("unknown kind {kind}"))),
        })
    }

    /// For `goroutine`: one dict per goroutine (`ids` None: every one
    /// that is not dead, sorted by id; else those of `ids` that exist) with
    /// its status, saved context (`sp`, `pc`, `bp`), `thread` (the gdb
    /// thread running it, or None) and `on_cpu`.
    #[pyo3(signature = (read, threads, ids = None))]
    fn goroutines<'py>(
        &self,
        py: Python<'py>,
        read: Bound<'py, PyAny>,
        threads: Vec<PyThread>,
        ids: Option<Vec<i64>>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let found = self
            .with(Some(read), threads, |c| {
                c.find_gs(ids.as_deref()).map(|v| {
                    v.into_iter()
                        .map(|(g, t, on)| {
                            let s = c.status_text(&g);
                            (g, t, on, s)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .map_err(err)?;
        let mut out = Vec::with_capacity(found.len());
        for (g, thread, on_cpu, status) in found {
            let d = PyDict::new(py);
            d.set_item("goid", g.goid)?;
            d.set_item("addr", g.addr)?;
            d.set_item("status", status)?;
            d.set_item("state", status_name(g.status))?;
            d.set_item("sp", g.sp)?;
            d.set_item("pc", g.pc)?;
            d.set_item("bp", g.bp)?;
            d.set_item("thread", thread)?;
            d.set_item("on_cpu", on_cpu)?;
            out.push(d);
        }
        Ok(out)
    }

    /// Ids of the goroutines that are not dead, sorted.
    fn goids(&self, read: Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
        self.with(Some(read), Vec::new(), |c| c.goids())
            .map_err(err)
    }

    /// The g in a thread's thread-local slot (0 when none).
    fn thread_g(&self, read: Bound<'_, PyAny>, fs_base: u64) -> u64 {
        self.with(Some(read), Vec::new(), |c| {
            c.rt.thread_g(c.mem, fs_base).unwrap_or(0)
        })
    }

    /// The M of the thread with this LWP and `$fs_base` (its address; 0 when none).
    fn m_of_thread(&self, read: Bound<'_, PyAny>, lwp: u64, fs_base: u64) -> u64 {
        self.with(Some(read), Vec::new(), |c| {
            let ms = c.rt.read_ms(c.mem).map(|r| r.0).unwrap_or_default();
            let t = ThreadIn {
                num: 0,
                lwp,
                fs_base,
                pcs: Vec::new(),
            };
            c.m_for_thread(&t, &ms).map_or(0, |m| m.addr)
        })
    }

    /// The threads (numbers) whose current g is a goroutine rather than an
    /// M's g0: only their frames can hold a goroutine's location.
    fn user_threads(&self, read: Bound<'_, PyAny>, threads: Vec<PyThread>) -> Vec<i64> {
        self.with(Some(read), threads, |c| {
            let g0s: Vec<u64> =
                c.rt.read_ms(c.mem)
                    .map(|r| r.0.iter().map(|m| m.g0).collect())
                    .unwrap_or_default();
            c.threads
                .iter()
                .filter(|t| {
                    c.rt.thread_g(c.mem, t.fs_base)
                        .is_some_and(|g| g != 0 && !g0s.contains(&g))
                })
                .map(|t| t.num)
                .collect()
        })
    }

    /// `(thread number, "M<id> g<goid>")` for each thread.
    fn thread_names(&self, read: Bound<'_, PyAny>, threads: Vec<PyThread>) -> Vec<(i64, String)> {
        self.with(Some(read), threads, |c| c.thread_names())
    }

    /// The Go-style name of the function at `pc` (`runtime.schedule`),
    /// when the binary exports it under one.
    fn go_name(&self, pc: u64) -> Option<String> {
        self.syms.go_name(pc).map(str::to_string)
    }
}

/// The module gdb imports.
#[pymodule]
fn gdbx_ext(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Program>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
