//! Freezing a live process just long enough to read it: `PTRACE_SEIZE`
//! then `PTRACE_INTERRUPT` on each of its threads, their registers, then
//! `PTRACE_DETACH` — the process goes on as if nothing happened (unlike
//! `PTRACE_ATTACH`, seizing sends no SIGSTOP that the program could see).
//!
//! # The thread list
//!
//! Threads come and go while we freeze the others: a thread that is not
//! yet stopped can create one. So the task list (`/proc/PID/task`) is read
//! again after every thread in it has stopped, until a pass finds no new
//! thread: then every thread that exists is stopped, and none can create
//! another. A thread that exits before it is seized (`ESRCH`, or `EPERM`
//! for one that is a zombie until its process reaps it), or while we wait
//! for it to stop, is left out.
//!
//! # Signals
//!
//! A thread that receives a signal while we interrupt it may report that
//! signal instead of the interrupt stop. The signal is then held by us; it
//! is handed back at `PTRACE_DETACH` so the program still receives it.
//!
//! Detaching happens in [`Frozen::thaw`], or on drop.

use std::time::{Duration, Instant};

use crate::mem::{CoreThread, Regs};

/// Why a process could not be frozen.
#[derive(Debug)]
pub enum FreezeError {
    /// `PTRACE_SEIZE` was refused (`EPERM`): another user's process, not
    /// root, yama's `ptrace_scope`, or another tracer (a debugger) has it.
    Refused { pid: u32, errno: i32 },
    /// The process does not exist, or exited while it was being frozen.
    Gone { pid: u32 },
    /// Any other failure of a system call.
    Os {
        pid: u32,
        what: &'static str,
        err: std::io::Error,
    },
}

impl std::fmt::Display for FreezeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FreezeError::Refused { pid, errno } => write!(
                f,
                "ptrace refused for process {pid} ({}): {}",
                std::io::Error::from_raw_os_error(*errno),
                ptrace_hint(*pid)
            ),
            FreezeError::Gone { pid } => write!(f, "process {pid} exited"),
            FreezeError::Os { pid, what, err } => write!(f, "process {pid}: {what}: {err}"),
        }
    }
}

impl std::error::Error for FreezeError {}

/// What to do about a refused ptrace (or a refused read of the memory or
/// the executable, which the kernel checks the same way) of process
/// `pid`, from what this machine says of it: its owner, whether it is
/// dumpable, its capabilities, its tracer, yama's `ptrace_scope`.
pub fn ptrace_hint(pid: u32) -> String {
    hint(&Access::of(pid))
}

/// What decides whether this process may trace `pid` and read its memory
/// (the kernel's `__ptrace_may_access`: the same user or
/// `CAP_SYS_PTRACE`, a dumpable process, its capabilities a subset of
/// ours or `CAP_SYS_PTRACE`, yama; and for ptrace alone, one tracer at a
/// time). `process_vm_readv` and `/proc/PID/mem` need the same
/// permission as `PTRACE_SEIZE`, so `--nonblocking` gets past nothing but
/// another tracer.
#[derive(Debug, Clone, Default)]
struct Access {
    /// The process's tracer (a debugger), as (pid, command name).
    tracer: Option<(u32, String)>,
    /// yama's `ptrace_scope` (None: no yama).
    scope: Option<u32>,
    /// Whether this process has `CAP_SYS_PTRACE` (root, usually).
    cap_ptrace: bool,
    /// Whether this process runs as root.
    root: bool,
    /// This process's (real) uid and gid.
    me: (u32, u32),
    /// The process's uids and gids (real, effective, saved), and its
    /// owner's name.
    owner: Option<([u32; 3], [u32; 3], String)>,
    /// Its `/proc/PID` belongs to root though it runs as another user:
    /// the kernel does that for a process that is not dumpable.
    not_dumpable: bool,
    /// It holds capabilities this process lacks.
    more_caps: bool,
    /// This process is its ancestor (what yama's scope 1 allows).
    ancestor: bool,
}

/// The field `key` of `/proc/PID/status` (`Uid:`, `CapPrm:`, ...).
fn status_field(status: &str, key: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
}

impl Access {
    fn of(pid: u32) -> Access {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let mine = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let ids = |key: &str| -> Option<[u32; 3]> {
            let v: Vec<u32> = status_field(&status, key)?
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            Some([*v.first()?, *v.get(1)?, *v.get(2)?])
        };
        let caps = |status: &str, key: &str| {
            status_field(status, key).and_then(|v| u64::from_str_radix(&v, 16).ok())
        };
        let (my_caps, their_caps) = (caps(&mine, "CapEff:"), caps(&status, "CapPrm:"));
        const CAP_SYS_PTRACE: u64 = 1 << 19;
        let owner = ids("Uid:")
            .zip(ids("Gid:"))
            .map(|(u, g)| (u, g, user_name(u[1])));
        let proc_uid = std::fs::metadata(format!("/proc/{pid}"))
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m));
        // SAFETY: getuid, getgid, geteuid and getpid have no preconditions.
        let (uid, gid, euid, me) = unsafe {
            (
                libc::getuid(),
                libc::getgid(),
                libc::geteuid(),
                libc::getpid() as u32,
            )
        };
        let mut ancestor = false;
        let mut p = pid;
        for _ in 0..64 {
            let st = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            match status_field(&st, "PPid:").and_then(|v| v.parse::<u32>().ok()) {
                Some(pp) if pp == me => {
                    ancestor = true;
                    break;
                }
                Some(pp) if pp > 1 => p = pp,
                _ => break,
            }
        }
        Access {
            tracer: tracer_of(pid),
            scope: std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok()),
            cap_ptrace: my_caps.is_some_and(|c| c & CAP_SYS_PTRACE != 0),
            root: euid == 0,
            me: (uid, gid),
            not_dumpable: owner
                .as_ref()
                .is_some_and(|(u, _, _)| u[1] != 0 && proc_uid == Some(0)),
            owner,
            more_caps: matches!((my_caps, their_caps), (Some(m), Some(t)) if t & !m != 0),
            ancestor,
        }
    }
}

/// The name of user `uid` (from /etc/passwd), or its number.
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let (name, _, id) = (f.next()?, f.next()?, f.next()?);
            (id.parse() == Ok(uid)).then(|| name.to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

/// The process that traces `pid` (a debugger), as (pid, command name).
fn tracer_of(pid: u32) -> Option<(u32, String)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let tracer: u32 = status_field(&status, "TracerPid:")?
        .parse()
        .ok()
        .filter(|&t| t != 0)?;
    let comm = std::fs::read_to_string(format!("/proc/{tracer}/comm"))
        .map_or_else(|_| "?".to_string(), |c| c.trim().to_string());
    Some((tracer, comm))
}

/// [`ptrace_hint`] from what [`Access::of`] found: each cause that applies
/// with its way out; `--nonblocking` only where it can work (another
/// tracer is the only cause, or the way out of the others is taken).
fn hint(a: &Access) -> String {
    let mut why: Vec<String> = Vec::new();
    // The way out of the causes other than a tracer.
    let mut way = "run as root";
    let other_user = !a.cap_ptrace
        && a.owner.as_ref().is_some_and(|(u, g, _)| {
            u.iter().any(|&u| u != a.me.0) || g.iter().any(|&g| g != a.me.1)
        });
    if other_user && let Some((u, _, name)) = &a.owner {
        why.push(format!(
            "it belongs to another user, {name} (uid {}; you are uid {})",
            u[1], a.me.0
        ));
        way = "run as root or as that user";
    } else if !a.cap_ptrace && a.not_dumpable {
        why.push(
            "it is not dumpable (a set-user-ID or set-capability program, or one that called \
             prctl(PR_SET_DUMPABLE, 0)), and only root (CAP_SYS_PTRACE) may look into such a process"
                .to_string(),
        );
    } else if !a.cap_ptrace && a.more_caps {
        why.push(
            "it holds capabilities you lack, and only root (CAP_SYS_PTRACE) may look into such a process"
                .to_string(),
        );
    }
    match a.scope {
        Some(3) => {
            why.push("yama ptrace_scope is 3 (no process may be traced until reboot)".into());
            way = "nothing gets past that until reboot";
        }
        Some(2) if !a.cap_ptrace => {
            why.push("yama ptrace_scope is 2 (only root, CAP_SYS_PTRACE, may trace)".into())
        }
        Some(1) if !a.cap_ptrace && !a.ancestor => {
            why.push("yama ptrace_scope is 1 (only an ancestor or root may trace)".into());
            if !other_user {
                way = "run as root, or `sysctl kernel.yama.ptrace_scope=0`";
            }
        }
        _ => {}
    }
    match (&a.tracer, why.is_empty()) {
        // Only one tracer at a time, and nothing else in the way: reading
        // without stopping works.
        (Some((t, comm)), true) => format!(
            "it is already traced by {comm} (pid {t}), and a process has one tracer at a time; \
             detach that debugger (gdb: `detach`), look from inside it (gdb with gdbx's \
             extension: `info goroutines`), or read it without stopping it with --nonblocking"
        ),
        (Some((t, comm)), false) => format!(
            "{}, and it is already traced by {comm} (pid {t}); {way} with --nonblocking, or \
             detach that debugger first",
            why.join(", and ")
        ),
        (None, false) => format!(
            "{}; {way} (--nonblocking needs the same permission)",
            why.join(", and ")
        ),
        (None, true) => format!(
            "no user, capability or yama rule forbids it ({}), so a security module refuses it \
             (SELinux, AppArmor, a BPF LSM) or the kernel is hardened; its policy has to allow it \
             (--nonblocking needs the same permission)",
            if a.root && a.cap_ptrace {
                "you are root with CAP_SYS_PTRACE".to_string()
            } else {
                format!("you are uid {}, as the process", a.me.0)
            }
        ),
    }
}

/// Testing seam: `GDBX_PTRACE_REFUSE=1` makes [`Frozen::freeze`] fail as
/// the kernel does when it refuses `PTRACE_SEIZE` (`EPERM`), so the
/// refusal path can be tested as root, where nothing is refused.
const REFUSE_SEAM: &str = "GDBX_PTRACE_REFUSE";

/// A process whose every thread is stopped under ptrace.
#[derive(Debug)]
pub struct Frozen {
    pid: u32,
    /// The stopped threads, leader first, with their registers.
    threads: Vec<CoreThread>,
    /// Seized threads, each with the signal to hand back at detach.
    seized: Vec<(i32, i32)>,
    started: Instant,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn tasks(pid: u32) -> Result<Vec<i32>, FreezeError> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            FreezeError::Gone { pid }
        } else {
            FreezeError::Os {
                pid,
                what: "cannot list its threads",
                err: e,
            }
        }
    })?;
    let mut out: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Whether thread `tid` of `pid` has exited: gone from `/proc`, or a
/// zombie (state `Z` or `X` in its `stat`, after the command's `)`).
fn exited(pid: u32, tid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next())
            .is_some_and(|state| matches!(state, 'Z' | 'X' | 'x')),
        Err(_) => true,
    }
}

impl Frozen {
    /// Stops every thread of `pid` and reads their registers. The pause
    /// starts with the first `PTRACE_INTERRUPT`.
    pub fn freeze(pid: u32) -> Result<Frozen, FreezeError> {
        if std::env::var_os(REFUSE_SEAM).is_some_and(|v| v == "1") {
            return Err(FreezeError::Refused {
                pid,
                errno: libc::EPERM,
            });
        }
        let mut f = Frozen {
            pid,
            threads: Vec::new(),
            seized: Vec::new(),
            started: Instant::now(),
        };
        loop {
            let new: Vec<i32> = tasks(pid)?
                .into_iter()
                .filter(|t| !f.seized.iter().any(|s| s.0 == *t))
                .collect();
            if new.is_empty() {
                break;
            }
            // Seize and interrupt them all first, then wait: the threads
            // stop in parallel.
            let mut pending = Vec::new();
            for &tid in &new {
                // SAFETY: plain system calls on a thread id; no memory is
                // passed.
                let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, 0usize, 0usize) };
                if r != 0 {
                    match errno() {
                        libc::ESRCH => continue,
                        // The kernel refuses a thread that has exited but
                        // is not yet reaped (a zombie) with EPERM too: that
                        // is a thread leaving, not a refusal.
                        libc::EPERM | libc::EACCES if exited(pid, tid) => continue,
                        e @ (libc::EPERM | libc::EACCES) => {
                            return Err(FreezeError::Refused { pid, errno: e });
                        }
                        e => {
                            return Err(FreezeError::Os {
                                pid,
                                what: "PTRACE_SEIZE",
                                err: std::io::Error::from_raw_os_error(e),
                            });
                        }
                    }
                }
                if f.seized.is_empty() {
                    f.started = Instant::now();
                }
                f.seized.push((tid, 0));
                // SAFETY: as above.
                if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0usize, 0usize) } == 0 {
                    pending.push(tid);
                }
            }
            for tid in pending {
                f.wait_stop(tid);
            }
        }
        if f.threads.is_empty() {
            return Err(FreezeError::Gone { pid });
        }
        // The leader (tid == pid) first, as in a core file's notes.
        f.threads.sort_by_key(|t| (t.lwp != u64::from(pid), t.lwp));
        Ok(f)
    }

    /// Waits until `tid` stops; records its registers, or forgets it if it
    /// exited.
    fn wait_stop(&mut self, tid: i32) {
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid out pointer.
            let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
            if r == tid || errno() != libc::EINTR {
                break;
            }
        }
        if !libc::WIFSTOPPED(status) {
            // Exited (or killed) before it stopped.
            self.seized.retain(|s| s.0 != tid);
            return;
        }
        let sig = libc::WSTOPSIG(status);
        let event = status >> 16;
        if event != libc::PTRACE_EVENT_STOP
            && sig != libc::SIGTRAP
            && let Some(s) = self.seized.iter_mut().find(|s| s.0 == tid)
        {
            // A signal-delivery stop: hand the signal back at detach.
            s.1 = sig;
        }
        // SAFETY: user_regs_struct is plain data the kernel fills.
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        // SAFETY: `regs` is a valid out buffer of the size the request writes.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GETREGS,
                tid,
                0usize,
                &mut regs as *mut libc::user_regs_struct,
            )
        };
        if r != 0 {
            return;
        }
        self.threads.push(CoreThread {
            lwp: tid as u64,
            signal: 0,
            regs: Regs {
                rip: regs.rip,
                rsp: regs.rsp,
                rbp: regs.rbp,
                r14: regs.r14,
                fs_base: regs.fs_base,
            },
        });
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The stopped threads, the leader first.
    pub fn threads(&self) -> &[CoreThread] {
        &self.threads
    }

    /// Lets every thread go on; returns how long the process was paused.
    pub fn thaw(mut self) -> Duration {
        self.detach_all();
        self.started.elapsed()
    }

    fn detach_all(&mut self) {
        for (tid, sig) in self.seized.drain(..) {
            // SAFETY: plain system call; `sig` is passed by value.
            unsafe {
                libc::ptrace(libc::PTRACE_DETACH, tid, 0usize, sig as usize);
            }
        }
    }

    /// Whether the process still exists (a zombie counts as gone).
    pub fn alive(&self) -> bool {
        process_alive(self.pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.detach_all();
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{Access, exited, hint};

    /// A zombie (a child that has exited, not yet reaped) and a thread
    /// that is gone count as exited; a running process does not.
    #[test]
    fn a_zombie_has_exited_and_a_running_process_has_not() {
        let mut running = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("start sleep");
        let pid = running.id();
        assert!(!exited(pid, pid as i32), "a sleeping process");
        let zombie = std::process::Command::new("true")
            .spawn()
            .expect("start true");
        let zpid = zombie.id();
        // SAFETY: waitid with WNOWAIT fills `info` and leaves the child a
        // zombie: it returns once the child has exited.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, zpid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        assert_eq!(r, 0, "waitid: {}", std::io::Error::last_os_error());
        assert!(exited(zpid, zpid as i32), "a zombie");
        assert!(exited(pid, i32::MAX), "a thread that does not exist");
        running.kill().unwrap();
        running.wait().unwrap();
        let mut zombie = zombie;
        zombie.wait().unwrap();
    }

    /// Each cause of a refused ptrace gets its own way out, and
    /// `--nonblocking` is suggested only where it gets past the refusal:
    /// when another tracer is all that is in the way.
    #[test]
    fn each_refusal_names_its_cause_and_the_way_out() {
        let me = Access {
            me: (1000, 1000),
            owner: Some(([1000; 3], [1000; 3], "me".into())),
            ..Access::default()
        };
        let traced = hint(&Access {
            tracer: Some((42, "gdb".into())),
            scope: Some(1),
            ancestor: true,
            ..me.clone()
        });
        assert!(
            traced.starts_with("it is already traced by gdb (pid 42)")
                && traced.contains("detach")
                && traced.ends_with("with --nonblocking"),
            "{traced}"
        );
        let scope1 = hint(&Access {
            scope: Some(1),
            ..me.clone()
        });
        assert!(
            scope1.contains("ptrace_scope is 1") && scope1.contains("kernel.yama.ptrace_scope=0"),
            "{scope1}"
        );
        assert!(
            hint(&Access {
                scope: Some(3),
                ..me.clone()
            })
            .contains("until reboot")
        );
        let root_owned = Access {
            owner: Some(([0; 3], [0; 3], "root".into())),
            ..me.clone()
        };
        let other = hint(&root_owned);
        assert!(
            other.contains("another user, root (uid 0; you are uid 1000)")
                && other.contains("run as root or as that user"),
            "{other}"
        );
        // Another user's process that a debugger traces: only root or its
        // user get in, and then without stopping it.
        let both = hint(&Access {
            tracer: Some((42, "gdb".into())),
            ..root_owned.clone()
        });
        assert!(
            both.contains("another user")
                && both.contains("run as root or as that user with --nonblocking"),
            "{both}"
        );
        let dumpable = hint(&Access {
            not_dumpable: true,
            ..me.clone()
        });
        assert!(dumpable.contains("not dumpable"), "{dumpable}");
        // Root, with CAP_SYS_PTRACE, refused all the same (PID 1 of a
        // sandbox): not another user; a security module.
        let lsm = hint(&Access {
            root: true,
            cap_ptrace: true,
            me: (0, 0),
            owner: Some(([0; 3], [0; 3], "root".into())),
            more_caps: true,
            ..Access::default()
        });
        assert!(
            !lsm.contains("another user") && lsm.contains("security module"),
            "{lsm}"
        );
        for h in [scope1, other, dumpable, lsm] {
            assert!(
                !h.contains("with --nonblocking")
                    && h.contains("--nonblocking needs the same permission"),
                "{h}"
            );
        }
    }
}
