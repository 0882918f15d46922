//! The process's start-up state as the runtime keeps it (Go's runtime1.go):
//! the arguments and the environment, saved by `runtime.schedinit`
//! (`goargs`, `goenvs`), lookups in that environment (`gogetenv`), and the
//! GODEBUG settings parsed from it (`parse_godebug`, Go's
//! `parsedebugvars`). Programs read the arguments with [`crate::args`].

use core::sync::atomic::Ordering;

static ARGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
static ENVS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// The program's arguments (Go's os.Args), saved by `goargs`.
pub(crate) fn os_args() -> &'static [String] {
    ARGS.get().map_or(&[], |v| v.as_slice())
}

/// The environment at start-up (`KEY=value`), saved by `goenvs`.
pub(crate) fn os_envs() -> &'static [String] {
    ENVS.get().map_or(&[], |v| v.as_slice())
}

/// Look up `key` in the start-up environment (Go's gogetenv).
pub(crate) fn gogetenv(key: &str) -> Option<&'static str> {
    os_envs()
        .iter()
        .find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// Save the program's arguments (from `runtime.args`) as strings.
pub(crate) fn goargs() {
    let argc = crate::rt0::ARGC.load(Ordering::Relaxed);
    let argv = crate::rt0::ARGV.load(Ordering::Relaxed) as *const *const libc::c_char;
    let mut v = Vec::with_capacity(argc.max(0) as usize);
    for i in 0..argc.max(0) as usize {
        // SAFETY: argv has argc valid C strings.
        let s = unsafe { core::ffi::CStr::from_ptr(*argv.add(i)) };
        v.push(s.to_string_lossy().into_owned());
    }
    let _ = ARGS.set(v);
}

/// Save the start-up environment as `KEY=value` strings.
pub(crate) fn goenvs() {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    let mut v = Vec::new();
    // SAFETY: environ is the NUL-terminated environment array of the process.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            v.push(core::ffi::CStr::from_ptr(*p).to_string_lossy().into_owned());
            p = p.add(1);
        }
    }
    let _ = ENVS.set(v);
}

/// Parsed GODEBUG settings the runtime uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DebugVars {
    /// `schedtrace=MS`: print the scheduler trace every MS milliseconds (0 = off).
    pub schedtrace: i32,
    /// `scheddetail=1`: the trace also prints every P, M and G.
    pub scheddetail: i32,
    /// `asyncpreempt=1`: asynchronous preemption by signal for goroutines
    /// inside `runtime::async_preemptible` (asyncpreempt.rs).
    pub asyncpreempt: i32,
}

/// Parse a GODEBUG value (`key=value,key=value`). Unknown keys and
/// non-integer values are ignored, as Go does.
pub(crate) fn parse_godebug(s: &str) -> DebugVars {
    let mut d = DebugVars::default();
    for kv in s.split(',') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let Ok(n) = v.trim().parse::<i32>() else {
            continue;
        };
        match k.trim() {
            "schedtrace" => d.schedtrace = n,
            "scheddetail" => d.scheddetail = n,
            "asyncpreempt" => d.asyncpreempt = n,
            _ => {}
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn godebug_like_go() {
        assert_eq!(parse_godebug(""), DebugVars::default());
        let d = parse_godebug("schedtrace=1000,scheddetail=1");
        assert_eq!(d.schedtrace, 1000);
        assert_eq!(d.scheddetail, 1);
        // Unknown keys and bad values are ignored.
        let d = parse_godebug("gctrace=1,schedtrace=x,madvdontneed=1,scheddetail=1,junk");
        assert_eq!(d.schedtrace, 0);
        assert_eq!(d.scheddetail, 1);
        assert_eq!(parse_godebug("asyncpreempt=1").asyncpreempt, 1);
    }
}
