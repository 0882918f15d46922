//! The `.debug_gdb_scripts` entry that loads the gdb extension.
//!
//! gdb reads this ELF section when it loads a program and runs each inline
//! script in it (entry kind 4: `\x04<name>\n<python source>\0`) — once the
//! program's path is trusted (`-iex "add-auto-load-safe-path DIR"`, or
//! `gdbx gdb PROGRAM`, which trusts just what it needs). The script puts the
//! workspace's `python/` folder (the `gdbx` package) on `sys.path` and calls
//! `gdbx.load()`, which prints one line naming what was loaded. `$GDBX_PYTHON`
//! overrides the folder (for a program built in one place and debugged in
//! another).
//!
//! The section is not referenced by any code: `#[used]` keeps the static in
//! the object file and the linker keeps `.debug_*` sections.

/// The inline script: `\x04`, a name, a newline, Python, and a NUL.
const SCRIPT: &str = concat!(
    "\x04gdbx-runtime\n",
    "import os, sys\n",
    "_gdbx_dir = os.environ.get('GDBX_PYTHON') or '",
    env!("CARGO_MANIFEST_DIR"),
    "/../python'\n",
    "_gdbx_dir = os.path.normpath(_gdbx_dir)\n",
    "if _gdbx_dir not in sys.path:\n",
    "    sys.path.insert(0, _gdbx_dir)\n",
    "try:\n",
    "    import gdbx\n",
    "except ImportError as e:\n",
    "    print('gdbx: cannot import the gdb extension from %s: %s' % (_gdbx_dir, e))\n",
    "else:\n",
    "    gdbx.load(gdb.current_objfile())\n",
    "\0"
);

const fn to_array<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = b[i];
        i += 1;
    }
    out
}

#[used]
#[unsafe(link_section = ".debug_gdb_scripts")]
static GDB_SCRIPTS: [u8; SCRIPT.len()] = to_array(SCRIPT);
