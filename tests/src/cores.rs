//! Fixture programs that need more than a build: the Go twin of `parked`
//! in each build mode the inspection core supports, and core files of
//! programs stopped at a known point, written once and reused by every test
//! (and rewritten when the program is rebuilt).
//!
//! [`crash_core`] is the kernel's core of a program that crashed under
//! `GOTRACEBACK=crash`, as a user gets it post mortem.
//!
//! [`gcore_at`]'s cores are written by plain gdb (`gcore` at a breakpoint), so their
//! content is exactly one consistent stop. Our runtime's stacks are guarded
//! with `MADV_GUARD_INSTALL`, which plain gdb's gcore cannot copy; the
//! programs run with `GOSTACKGUARD=mprotect` so that the core holds them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::{fixtures_dir, go_tool, write_if_changed};

/// The source of the Go twin of `parked`.
pub const GO_PARKED: &str = include_str!("go/parked.go");

/// The source of the Go twin of `stuck` (goroutines that stay parked,
/// asleep, spinning, while main reads stdin).
pub const GO_STUCK: &str = include_str!("go/stuck.go");

/// The source of a cgo program whose goroutines are in cgo calls: asleep
/// in libc, spinning in C, and called back from C into Go (asleep there);
/// main blocked reading stdin once they are all in place.
pub const GO_CGO_CALLS: &str = include_str!("go/cgocalls.go");

/// The source of a Go program that crashes under `GOTRACEBACK=crash` with
/// a goroutine spinning: `panic` (main panics) or `quit` (SIGQUIT: every
/// thread in Go's signal handler).
pub const GO_CRASHER: &str = include_str!("go/crasher.go");

/// How a Go fixture is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoBuild {
    /// `go build -gcflags "-N -l"`: the debugging build (no optimisation, no inlining).
    NoOpt,
    /// A plain `go build` (optimised, inlined).
    Plain,
    /// `-gcflags "-N -l" -buildmode=pie`.
    Pie,
    /// A cgo program (`import "C"`), linked by the external linker.
    Cgo,
}

impl GoBuild {
    fn suffix(self) -> &'static str {
        match self {
            GoBuild::NoOpt => "noopt",
            GoBuild::Plain => "plain",
            GoBuild::Pie => "pie",
            GoBuild::Cgo => "cgo",
        }
    }
}

static GO_BUILDS: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());

/// The Go twin of `parked`, built fresh (once per process) as
/// `target/fixtures/go/parked-<build>`.
pub fn go_parked(build: GoBuild) -> PathBuf {
    let name = format!("parked-{}", build.suffix());
    let mut built = GO_BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| *n == name) {
        return p.clone();
    }
    let go = go_tool()
        .expect("no Go toolchain: install golang-1.19-go (apt-get install golang-1.19-go)");
    let dir = fixtures_dir().join("go");
    let src = dir.join("src").join(&name);
    std::fs::create_dir_all(&src).expect("create the Go fixture's source folder");
    write_if_changed(&src.join("go.mod"), "module parked\n\ngo 1.19\n");
    write_if_changed(&src.join("main.go"), GO_PARKED);
    let cgo = src.join("cgo.go");
    if build == GoBuild::Cgo {
        write_if_changed(
            &cgo,
            "package main\n\n// int twice(int x) { return 2 * x; }\nimport \"C\"\n\nvar _ = C.twice(1)\n",
        );
    } else {
        let _ = std::fs::remove_file(&cgo);
    }
    let out = dir.join(&name);
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let mut cmd = Command::new(&go);
    cmd.current_dir(&src).arg("build");
    match build {
        GoBuild::NoOpt | GoBuild::Cgo => {
            cmd.args(["-gcflags", "-N -l"]);
        }
        GoBuild::Pie => {
            cmd.args(["-gcflags", "-N -l", "-buildmode=pie"]);
        }
        GoBuild::Plain => {}
    }
    cmd.env("CGO_ENABLED", if build == GoBuild::Cgo { "1" } else { "0" });
    cmd.arg("-o").arg(&tmp).arg(".");
    if std::env::var_os("HOME").is_none() && std::env::var_os("GOCACHE").is_none() {
        cmd.env("GOCACHE", dir.join("cache"));
    }
    let res = crate::watchdog::output(&mut cmd, crate::BUILD_TIMEOUT);
    assert!(
        res.status.success(),
        "go build of {name} failed:\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    crate::put_go_build_in_place(&tmp, &out);
    built.push((name, out.clone()));
    out
}

static CORES: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

/// A core file of `bin` run with `args` and stopped by gdb at the first hit
/// of `stop` (a function name), written by gdb's `gcore` into
/// `target/fixtures/cores/<name>.core`. Written once; written again when
/// `bin` is newer than the core. Panics with gdb's output when gdb fails.
pub fn gcore_at(bin: &Path, args: &[&str], stop: &str, name: &str) -> PathBuf {
    let mut cores = CORES.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fixtures_dir().join("cores");
    let core = dir.join(format!("{name}.core"));
    if cores.iter().any(|(c, _)| *c == core) {
        return core;
    }
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = matches!((mtime(&core), mtime(bin)), (Some(c), Some(b)) if c > b);
    if !fresh {
        std::fs::create_dir_all(&dir).expect("create target/fixtures/cores");
        let tmp = dir.join(format!(".{name}.{}.core", std::process::id()));
        let run = if args.is_empty() {
            "run".to_string()
        } else {
            format!("run {}", args.join(" "))
        };
        let out = crate::gdb::Gdb::new(bin)
            .env("GOSTACKGUARD", "mprotect")
            .env("GOMAXPROCS", "2")
            .ex(format!("break {stop}"))
            .ex(run)
            .ex(format!("gcore {}", tmp.display()))
            .ex("kill")
            .run_unchecked();
        assert!(
            tmp.is_file(),
            "gdb wrote no core of {} at {stop}:\n{}",
            bin.display(),
            out.all
        );
        std::fs::rename(&tmp, &core).expect("rename the core into place");
    }
    cores.push((core.clone(), bin.to_path_buf()));
    core
}

/// Lets the program `cmd` starts dump core: `RLIMIT_CORE` unlimited in
/// the child (`ulimit -c` starts at 0 here); the start fails if it cannot
/// be raised.
pub fn allow_core_dumps(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; the closure touches no
    // memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            let unlimited = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &unlimited) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A core file the kernel wrote when `bin` (with `args`, `env`) crashed
/// under `GOTRACEBACK=crash`: the runtime prints its report, then dies of
/// SIGABRT. The run gets `RLIMIT_CORE` unlimited and a scratch working
/// directory (the kernel's `core_pattern` must be a plain file name such as
/// `core`, possibly with `core_uses_pid`; a pipe to a crash collector is
/// refused with a message). The core is moved to
/// `target/fixtures/cores/<name>.core` and reused until `bin` is rebuilt.
/// Panics unless the program died of SIGABRT and left a core.
pub fn crash_core(bin: &Path, args: &[&str], env: &[(&str, &str)], name: &str) -> PathBuf {
    use std::os::unix::process::ExitStatusExt;
    let mut cores = CORES.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fixtures_dir().join("cores");
    let core = dir.join(format!("{name}.core"));
    if let Some((_, c)) = cores.iter().find(|(c, _)| *c == core) {
        return c.clone();
    }
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = matches!((mtime(&core), mtime(bin)), (Some(c), Some(b)) if c > b);
    if !fresh {
        let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
        assert!(
            !pattern.starts_with('|') && !pattern.contains('/'),
            "kernel.core_pattern is {:?}: cores do not land in the working directory; \
             set it to `core` (sysctl kernel.core_pattern=core)",
            pattern.trim()
        );
        let cwd = crate::scratch(&format!("crash-core-{name}"));
        let mut cmd = Command::new(bin);
        cmd.args(args).current_dir(&cwd).env("GOTRACEBACK", "crash");
        for (k, v) in env {
            cmd.env(k, v);
        }
        allow_core_dumps(&mut cmd);
        let out = crate::watchdog::output(&mut cmd, crate::BUILD_TIMEOUT);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{} under GOTRACEBACK=crash did not die of SIGABRT ({}):\n{}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let written = std::fs::read_dir(&cwd)
            .expect("read the scratch directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("core"))
            })
            .unwrap_or_else(|| {
                panic!(
                    "no core in {} (core_pattern {:?})",
                    cwd.display(),
                    pattern.trim()
                )
            });
        std::fs::create_dir_all(&dir).expect("create target/fixtures/cores");
        std::fs::rename(&written, &core).expect("move the core into place");
        let _ = std::fs::remove_dir_all(&cwd);
    }
    cores.push((core.clone(), bin.to_path_buf()));
    core
}
