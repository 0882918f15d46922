"""gdb support for programs built on the gdbx runtime.

The counterpart of Go's runtime-gdb.py. This package is thin: it adapts gdb
(threads, registers, commands, printers, the unwinder) and hands the heavy
work to the native module ``gdbx_ext`` (gdb-ext/, PyO3), which reads the
runtime's struct layouts from DWARF, reads memory in bulk and formats.

Loaded by the ``.debug_gdb_scripts`` entry every program on the runtime
carries (runtime/src/gdbscript.rs) once gdb trusts the binary's folder
(``-iex "add-auto-load-safe-path DIR"``), or by hand::

    (gdb) python import sys; sys.path.insert(0, "<workspace>/python")
    (gdb) python import gdbx; gdbx.load()

What it adds: ``info goroutines``, ``goroutine <id>|all [cmd]``, ``info ms``,
``info ps``, ``info sched``, pretty printers for G/M/P/Sched, ``$g()``,
``$goid()``, ``$m()``, ``$p()``, ``M<id> g<goid>`` thread names, and Go names
for the runtime's functions in ``bt``.
"""

import os
import re

import gdb

from . import native

_STATE = {}


class State:
    """Per-binary state: the native Program and the target it reads."""

    def __init__(self, mod, prog, objfile):
        self.mod = mod
        self.prog = prog
        self.objfile = objfile
        self.mtime = _mtime(objfile)
        self.target_key = None
        self.names = None
        # threads() of this stop, by (pcs, max_frames): printers reuse it.
        self.threads_seen = {}
        # What the Chan printer wrote for a wait queue in this stop, by the
        # queue's address: `goroutine all bt` prints the same channel in
        # every waiter's frame, and walking its queue each time is O(N^2).
        self.waitqs = {}

    # -- memory and target -------------------------------------------------

    def sync_target(self):
        """Points the native reader at /proc/PID/mem or the core file."""
        inf = gdb.selected_inferior()
        conn = getattr(inf, "connection", None)
        kind = conn.type if conn is not None else None
        key = (kind, inf.pid, getattr(conn, "num", None))
        if key == self.target_key:
            return
        self.target_key = key
        self.threads_seen = {}
        if kind == "native" and inf.pid:
            self.prog.attach("proc", inf.pid)
        elif kind == "core":
            self.prog.attach("core", core_path())
        else:
            self.prog.attach("gdb", None)
        self.prog.set_bias(load_bias(self.prog), self.reader())

    def reader(self):
        inf = gdb.selected_inferior()

        def read(addr, n):
            return inf.read_memory(addr, n).tobytes()

        return read

    # -- threads -----------------------------------------------------------

    def forget_stop(self):
        """The program may have moved on (it resumed, stopped, or memory was
        written): forget what was read of this stop."""
        self.target_key = None
        self.threads_seen = {}
        self.waitqs = {}

    def threads_for_printer(self):
        """What a pretty printer may know of the threads without switching
        to them or touching frames (gdb may be printing a frame): those of
        this stop that threads() already read, else each thread's number and
        LWP only."""
        for key in ((True, self.mod.MAX_FRAMES), (False, self.mod.MAX_FRAMES)):
            if key in self.threads_seen:
                return self.threads_seen[key]
        inf = gdb.selected_inferior()
        return [
            (t.num, t.ptid[1] or t.ptid[2], 0, [])
            for t in inf.threads()
            if t.is_valid() and not t.is_exited()
        ]

    def threads(self, pcs=True, max_frames=None):
        """[(num, lwp, fs_base, [pc...])] for every thread of the inferior;
        pcs (gdb's unwinding, innermost first) only for the threads running a
        goroutine. The selected thread and frame are restored. This switches
        threads: never call it from a pretty printer (threads_for_printer)."""
        # As many of gdb's frames as the native side walks on a parked
        # goroutine's stack, so that a running goroutine deep in the runtime
        # (a sort inside the scavenger) is placed at the same frame.
        max_frames = max_frames or self.mod.MAX_FRAMES
        seen = self.threads_seen.get((pcs, max_frames)) or self.threads_seen.get((True, max_frames))
        if seen is not None:
            return seen
        out = self._read_threads(pcs, max_frames)
        self.threads_seen[(pcs, max_frames)] = out
        return out

    def _read_threads(self, pcs, max_frames):
        inf = gdb.selected_inferior()
        out = []
        try:
            cur_thread = gdb.selected_thread()
        except gdb.error:
            cur_thread = None
        if cur_thread is None:
            return out
        try:
            cur_level = gdb.selected_frame().level()
        except gdb.error:
            cur_level = None
        from . import unwind

        unwind._SUSPENDED[0] += 1
        gdb.invalidate_cached_frames()
        try:
            live = [t for t in inf.threads() if t.is_valid() and not t.is_exited()]
            for t in live:
                try:
                    t.switch()
                    fs = int(gdb.newest_frame().read_register("fs_base"))
                except gdb.error:
                    fs = 0
                out.append((t.num, t.ptid[1] or t.ptid[2], fs, []))
            if pcs:
                want = set(self.prog.user_threads(self.reader(), out))
                for t, row in zip(live, out):
                    if t.num not in want:
                        continue
                    frames = row[3]
                    try:
                        t.switch()
                        f = gdb.newest_frame()
                        while f is not None and len(frames) < max_frames:
                            frames.append(int(f.pc()))
                            f = f.older()
                    except gdb.error:
                        pass
        finally:
            unwind._SUSPENDED[0] -= 1
            gdb.invalidate_cached_frames()
            cur_thread.switch()
            if cur_level is not None:
                select_level(cur_level)
        return out

    def refresh_thread_names(self):
        """Names every thread ``M<id> g<goid>`` (shown by ``info threads``).
        This reads the threads of the stop (with their frames), which the
        pretty printers then use."""
        try:
            self.sync_target()
            threads = self.threads()
            if not threads:
                return
            names = dict(self.prog.thread_names(self.reader(), threads))
            for t in gdb.selected_inferior().threads():
                if t.num in names:
                    t.name = names[t.num]
        except (gdb.error, RuntimeError, ValueError):
            pass


def select_level(level):
    f = gdb.newest_frame()
    while f is not None and f.level() < level:
        f = f.older()
    if f is not None:
        f.select()


_ENTRY_RE = re.compile(r"^\d+\s+AT_ENTRY\s.*?(0x[0-9a-fA-F]+)\s*$", re.M)


def load_bias(prog):
    """A PIE's load bias: the run-time entry point (AT_ENTRY, live or from
    the core) minus the ELF's. 0 for the non-PIE programs of examples/."""
    try:
        text = gdb.execute("info auxv", to_string=True)
    except gdb.error:
        return 0
    m = _ENTRY_RE.search(text)
    if not m:
        return 0
    return (int(m.group(1), 16) - prog.entry()) & 0xFFFFFFFFFFFFFFFF


_CORE_RE = re.compile(r"Local core dump file:\s*`(.*)', file type")


def core_path():
    try:
        text = gdb.execute("info target", to_string=True)
    except gdb.error:
        return None
    m = _CORE_RE.search(text)
    return m.group(1) if m else None


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def state():
    """The State of the program of the current program space, or None when
    it is neither a Go 1.19 program nor one on the gdbx runtime (or was not
    loaded)."""
    return _STATE.get(gdb.current_progspace().filename)


def require_state():
    """state(), or a gdb error saying that no program gdbx reads is loaded."""
    st = state()
    if st is None:
        name = gdb.current_progspace().filename or "no program"
        raise gdb.GdbError(
            "gdbx: %s is neither a Go 1.19 program nor one on the gdbx runtime "
            "(or gdbx did not load: see its first line)" % name
        )
    return st


def _describe_load(st, path):
    sizes = ", ".join("%s %d B" % (k, v) for k, v in st.prog.sizes())
    line = "gdbx: loaded runtime support for %s (%s; native module %s)" % (
        st.objfile,
        sizes,
        path,
    )
    missing = st.prog.missing()
    if missing:
        line += "; MISSING from the binary: " + ", ".join(missing)
    return line


def _is_main(objfile):
    prog = objfile.progspace
    return prog is not None and objfile.filename == prog.filename


_NATIVE_FAILED = []


def load(objfile=None, quiet_if_foreign=False):
    """Sets everything up for `objfile` (default: the main program). Prints
    one line saying what was loaded, or what is missing and how to get it.
    `quiet_if_foreign`: say nothing for a program that is neither Go nor on
    the gdbx runtime (what autoload does for every program gdb opens)."""
    if objfile is None:
        objfile = gdb.current_objfile() or (gdb.objfiles()[0] if gdb.objfiles() else None)
    if objfile is None:
        print("gdbx: no program loaded; use `file PROGRAM` first")
        return None
    filename = objfile.filename
    st = _STATE.get(filename)
    if st is not None and st.mtime == _mtime(filename):
        return st
    try:
        mod, path = native.load()
    except Exception as e:
        # Said once: the loader and the program's own script both get here.
        if not _NATIVE_FAILED:
            _NATIVE_FAILED.append(True)
            if isinstance(e, ImportError):
                print("gdbx: %s" % e)
            else:  # a stale or broken .so
                print("gdbx: cannot load the native module (%s); rebuild it with `%s`" % (e, native.BUILD_HINT))
        return None
    if quiet_if_foreign and mod.runtime_of(filename) is None:
        return None
    try:
        prog = mod.Program(filename, native.WORKSPACE)
    except Exception as e:
        print("gdbx: %s" % e)
        return None
    st = State(mod, prog, filename)
    _STATE[filename] = st
    from . import commands, printers, rust, unwind, values

    commands.register()
    printers.register()
    values.register(st, objfile)
    unwind.register()
    _install_hooks()
    print(_describe_load(st, path))
    if st.prog.flavour() == "ours":
        why = rust.load_printers(objfile)
        if why:
            print(why)
    commands.take_over_from_go_script()
    return st


def autoload():
    """Loads the extension for every Go 1.19 or gdbx-runtime program gdb
    opens from now on, and for the one it has open (`source gdbx-gdb.py`)."""
    _install_hooks()
    for objfile in gdb.objfiles():
        if _is_main(objfile):
            load(objfile, quiet_if_foreign=True)


_HOOKS = []


def _forget_thread_names():
    """Thread names say what ran at the last stop: drop them when they may
    be stale (the program resumes, another program is loaded)."""
    for inf in gdb.inferiors():
        for t in inf.threads():
            if t.is_valid() and t.name is not None:
                t.name = None


def _install_hooks():
    if _HOOKS:
        return
    _HOOKS.append(True)

    def take_over(*_):
        from . import commands

        commands.take_over_from_go_script()

    def on_stop(_ev):
        take_over()
        st = state()
        if st is not None:
            st.forget_stop()
            st.refresh_thread_names()

    def on_cont(_ev):
        _forget_thread_names()
        st = state()
        if st is not None:
            st.forget_stop()

    def on_exit(_ev):
        st = state()
        if st is not None:
            st.forget_stop()

    def on_memory_changed(_ev):
        st = state()
        if st is not None:
            st.waitqs = {}

    def on_new_objfile(ev):
        # `file OTHER`, a rebuilt binary, or the program of `gdb PROG`.
        if _is_main(ev.new_objfile):
            _forget_thread_names()
            load(ev.new_objfile, quiet_if_foreign=True)
        else:
            take_over()

    gdb.events.stop.connect(on_stop)
    gdb.events.cont.connect(on_cont)
    gdb.events.new_objfile.connect(on_new_objfile)
    gdb.events.exited.connect(on_exit)
    gdb.events.memory_changed.connect(on_memory_changed)
    def before_prompt():
        take_over()
        # A core never reports a stop: read its threads now, for printers.
        st = state()
        if st is not None and gdb.selected_inferior().pid and not st.threads_seen:
            st.refresh_thread_names()

    gdb.events.before_prompt.connect(before_prompt)
    # `info threads` shows the names: refresh them first (this also covers
    # core files, which never report a stop).
    gdb.execute("define info hook-threads\npython import gdbx; gdbx._refresh()\nend", to_string=True)


def _refresh():
    st = state()
    if st is not None:
        st.refresh_thread_names()
