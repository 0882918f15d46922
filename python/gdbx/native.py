"""Find and import the native module `gdbx_ext` (gdb-ext/, built by cargo).

cargo writes ``<target>/{debug,release}/libgdbx_ext.so``; Python wants a module
file named after the module. Rather than copying, this loader imports the file
under the name ``gdbx_ext`` with importlib's extension loader. Search order:

1. ``$GDBX_EXT_PATH`` or ``$GDBX_EXT`` (a path to the .so; `gdbx gdb` sets it),
2. ``$CARGO_TARGET_DIR/{release,debug}/libgdbx_ext.so``,
3. ``<workspace>/target/{release,debug}/libgdbx_ext.so`` (workspace = the
   folder holding ``python/``),
4. a plain ``import gdbx_ext`` (a copy on ``sys.path``).

The newest of the candidates found in 2-3 wins, so rebuilding either profile
is picked up.
"""

import importlib.machinery
import importlib.util
import os
import sys

MODULE = "gdbx_ext"
LIBNAME = "libgdbx_ext.so"
WORKSPACE = os.environ.get("GDBX_WORKSPACE") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
BUILD_HINT = "cargo build -p gdb-ext"


def candidates():
    env = os.environ.get("GDBX_EXT_PATH") or os.environ.get("GDBX_EXT")
    if env:
        return [env]
    dirs = []
    if os.environ.get("CARGO_TARGET_DIR"):
        dirs.append(os.environ["CARGO_TARGET_DIR"])
    dirs.append(os.path.join(WORKSPACE, "target"))
    found = []
    for d in dirs:
        for profile in ("release", "debug"):
            p = os.path.join(d, profile, LIBNAME)
            if os.path.isfile(p):
                found.append(p)
    found.sort(key=lambda p: os.path.getmtime(p), reverse=True)
    return found


def load():
    """Returns (module, path) or raises ImportError with a one-line message."""
    if MODULE in sys.modules:
        mod = sys.modules[MODULE]
        return mod, getattr(mod, "__file__", MODULE)
    for path in candidates():
        if not os.path.isfile(path):
            continue
        loader = importlib.machinery.ExtensionFileLoader(MODULE, path)
        spec = importlib.util.spec_from_file_location(MODULE, path, loader=loader)
        mod = importlib.util.module_from_spec(spec)
        loader.exec_module(mod)
        sys.modules[MODULE] = mod
        return mod, path
    try:
        import gdbx_ext  # noqa: F401  (a copy on sys.path)

        return gdbx_ext, getattr(gdbx_ext, "__file__", MODULE)
    except ImportError:
        pass
    raise ImportError(
        "native module %s not found (looked in %s/target/{release,debug}); build it with `%s` in %s"
        % (MODULE, WORKSPACE, BUILD_HINT, WORKSPACE)
    )
