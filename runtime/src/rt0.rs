//! The bootstrap: from the ELF entry point to `main.main` (the bootstrap
//! sequence every program on this runtime passes through, in this order).
//!
//! ```text
//!  _rt0_amd64_linux   ELF entry (asm.rs): jmp _start (libc start-up)
//!  main               the C main libc calls: jumps to _rt0_amd64
//!  _rt0_amd64         g0 = the main thread's stack, cpuid, TLS g (write,
//!                     read back), then the calls below, in this order:
//!  runtime.check      primitive sizes, CAS, TLS
//!  runtime.args       save argc/argv
//!  runtime.osinit     ncpu (sched_getaffinity), physical page size (auxv)
//!  runtime.hashinit   random seed from the kernel (getrandom)
//!  runtime.schedinit  mallocinit, mcommoninit(m0), goargs, goenvs,
//!                     signals, GOMAXPROCS -> procresize (the Ps)
//!  runtime.newproc    queue the G that will run runtime.main
//!  runtime.mstart     start m0: runtime.schedule, which never returns
//!  runtime.main       (on G 1) starts sysmon + the scavenger, main.init,
//!                     main.main, runtime.exit(0)
//! ```
//!
//! Each step is a real, non-inlined function exported under its Go name, so
//! `break runtime.check` works in gdb on dev and release builds alike.
//!
//! The program supplies `main.main` (and optionally `main.init`), normally
//! through the attribute `#[runtime::main]`. They are referenced weakly: a binary without
//! `main.main` still links and fails at run time with a `fatal error`.

use core::arch::global_asm;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::asm::{getg, setg};
use crate::proc::{HASHSEED, NewProc};
use crate::runtime1::{goargs, goenvs, gogetenv};
use crate::runtime2::{G, G0, M0, sched};
use crate::signal::throw;

global_asm!(
    r#"
    .weak main.main
    .weak main.init
    .pushsection .data.runtime.mainPC,"aw",@progbits
    .p2align 3
    .globl runtime.mainPC
runtime.mainPC:
    .quad main.main
    .globl runtime.initPC
runtime.initPC:
    .quad main.init
    .popsection
"#
);

unsafe extern "C" {
    /// Address of `main.main` (0 if the program has none).
    #[link_name = "runtime.mainPC"]
    static MAIN_PC: usize;
    /// Address of `main.init` (0 if the program has none).
    #[link_name = "runtime.initPC"]
    static INIT_PC: usize;
}

/// argc as passed to C main.
#[unsafe(export_name = "runtime.argc")]
pub static ARGC: AtomicI32 = AtomicI32::new(0);
/// argv as passed to C main.
#[unsafe(export_name = "runtime.argv")]
pub static ARGV: AtomicUsize = AtomicUsize::new(0);
/// Number of CPUs this process may run on.
#[unsafe(export_name = "runtime.ncpu")]
pub static NCPU: AtomicI32 = AtomicI32::new(1);
/// Physical page size (from the auxiliary vector).
#[unsafe(export_name = "runtime.physPageSize")]
pub static PHYS_PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);
/// CPUID leaf 1 ECX (feature flags).
#[unsafe(export_name = "runtime.cpuid_ecx")]
pub static CPUID_ECX: AtomicU32 = AtomicU32::new(0);
/// CPUID leaf 1 EDX (feature flags).
#[unsafe(export_name = "runtime.cpuid_edx")]
pub static CPUID_EDX: AtomicU32 = AtomicU32::new(0);
/// CPU vendor string from CPUID leaf 0 (12 bytes, e.g. "GenuineIntel").
#[unsafe(export_name = "runtime.cpu_vendor")]
pub static mut CPU_VENDOR: [u8; 12] = [0; 12];
/// Random hash key from the kernel (`hashinit`).
#[unsafe(export_name = "runtime.hashkey")]
pub static HASHKEY: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// The C `main` that libc's start-up calls: hands over to `_rt0_amd64`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    rt0_amd64(argc, argv)
}

/// Set up g0 (the main thread's stack bounds), CPU information and the
/// thread-local g, then run the bootstrap steps. Never returns.
#[unsafe(export_name = "_rt0_amd64")]
#[inline(never)]
pub extern "C" fn rt0_amd64(argc: libc::c_int, argv: *const *const libc::c_char) -> ! {
    let g0 = &raw mut G0;
    let m0 = &raw mut M0;
    // SAFETY: single-threaded start-up; G0/M0 are ours.
    unsafe {
        (*g0).stack = crate::proc::thread_stack_bounds();
        if (*g0).stack.lo == 0 {
            // No pthread information: assume 64 KiB below the current sp,
            // as Go's rt0 does.
            let sp = crate::asm::getsp();
            (*g0).stack = crate::runtime2::Stack {
                lo: sp - (64 << 10),
                hi: sp + 1024,
            };
        }
        (*g0).m = m0;
        (*g0).atomicstatus = crate::runtime2::GRUNNING;
        (*m0).g0 = g0;

        // CPU information.
        let l0 = core::arch::x86_64::__cpuid(0);
        let mut vendor = [0u8; 12];
        vendor[0..4].copy_from_slice(&l0.ebx.to_le_bytes());
        vendor[4..8].copy_from_slice(&l0.edx.to_le_bytes());
        vendor[8..12].copy_from_slice(&l0.ecx.to_le_bytes());
        (&raw mut CPU_VENDOR).write(vendor);
        if l0.eax >= 1 {
            let l1 = core::arch::x86_64::__cpuid(1);
            CPUID_ECX.store(l1.ecx, Ordering::Relaxed);
            CPUID_EDX.store(l1.edx, Ordering::Relaxed);
        }

        // Thread-local g: write a value, read it back, then install g0.
        setg(0x123 as *mut G);
        if getg() as usize != 0x123 {
            throw("runtime: TLS setup failed");
        }
        setg(g0);
        if getg() != g0 {
            throw("runtime: TLS setup failed");
        }
    }
    check();
    args(argc, argv);
    osinit();
    hashinit();
    schedinit();
    let file = file!();
    crate::proc::newproc(&NewProc {
        entry: runtime_main,
        data: core::ptr::null(),
        size: 0,
        align: 1,
        file: file.as_ptr(),
        file_len: file.len(),
        line: line!(),
        pc: 0,
    });
    crate::proc::mstart()
}

/// Check the assumptions the runtime makes about the machine: sizes of the
/// primitive types, compare-and-swap, thread-local storage. Any failure is
/// a `fatal error` (exit 2).
#[unsafe(export_name = "runtime.check")]
#[inline(never)]
pub extern "C" fn check() {
    let sizes: [(&str, usize, usize); 9] = [
        ("int8", size_of::<i8>(), 1),
        ("int16", size_of::<i16>(), 2),
        ("int32", size_of::<i32>(), 4),
        ("int64", size_of::<i64>(), 8),
        ("float32", size_of::<f32>(), 4),
        ("float64", size_of::<f64>(), 8),
        ("uintptr", size_of::<usize>(), 8),
        ("pointer", size_of::<*const u8>(), 8),
        ("G.atomicstatus", size_of::<u32>(), 4),
    ];
    for (name, got, want) in sizes {
        if core::hint::black_box(got) != want {
            crate::signal::throw_fmt(format_args!("bad {name}: size {got}, want {want}"));
        }
    }
    let z = AtomicU32::new(1);
    if z.compare_exchange(1, 2, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
        || core::hint::black_box(&z).load(Ordering::SeqCst) != 2
    {
        throw("cas1");
    }
    if z.compare_exchange(5, 6, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        throw("cas2");
    }
    let z64 = AtomicU64::new(u64::MAX);
    if z64
        .compare_exchange(u64::MAX, 0, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        throw("cas64");
    }
    let nan = core::hint::black_box(f64::NAN);
    #[allow(clippy::eq_op)]
    if nan == nan {
        throw("float64nan");
    }
    if getg() != &raw mut G0 {
        throw("TLS: g is not g0");
    }
}

/// Save argc/argv.
#[unsafe(export_name = "runtime.args")]
#[inline(never)]
pub extern "C" fn args(argc: libc::c_int, argv: *const *const libc::c_char) {
    ARGC.store(argc, Ordering::Relaxed);
    ARGV.store(argv as usize, Ordering::Relaxed);
}

/// OS facts: the number of CPUs we may run on and the physical page size.
#[unsafe(export_name = "runtime.osinit")]
#[inline(never)]
pub extern "C" fn osinit() {
    let n = match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .count(),
        Err(_) => 1,
    };
    NCPU.store(n.max(1) as i32, Ordering::Relaxed);
    // SAFETY: getauxval only reads the auxiliary vector.
    let pg = unsafe { libc::getauxval(libc::AT_PAGESZ) } as usize;
    if pg != 0 {
        PHYS_PAGE_SIZE.store(pg, Ordering::Relaxed);
    }
}

/// Seed the runtime's randomness from the kernel (getrandom). The
/// environment variable `GDBX_SEED=<u64>` replaces the kernel's seed, so a
/// run's random choices (steal order, select order) can be reproduced by
/// stress tests.
#[unsafe(export_name = "runtime.hashinit")]
#[inline(never)]
pub extern "C" fn hashinit() {
    // SAFETY: getenv during single-threaded start-up.
    let seed_env = unsafe { libc::getenv(c"GDBX_SEED".as_ptr()) };
    if !seed_env.is_null() {
        // SAFETY: a valid C string from the environment.
        let s = unsafe { core::ffi::CStr::from_ptr(seed_env) };
        if let Some(v) = s.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            let k0 = v ^ 0x9e37_79b9_7f4a_7c15;
            let k1 = v.rotate_left(17) ^ 0xd1b5_4a32_d192_ed03;
            HASHKEY[0].store(k0, Ordering::Relaxed);
            HASHKEY[1].store(k1, Ordering::Relaxed);
            HASHSEED.store(k0 ^ k1.rotate_left(32), Ordering::Relaxed);
            return;
        }
    }
    let mut buf = [0u8; 16];
    // SAFETY: buf is a valid out-buffer.
    let r = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if r != buf.len() as isize {
        // Fall back to /dev/urandom, then to the clock.
        use std::io::Read;
        let ok = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut buf))
            .is_ok();
        if !ok {
            buf[..8].copy_from_slice(&crate::time::nanotime().to_le_bytes());
        }
    }
    let k0 = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
    let k1 = u64::from_le_bytes(buf[8..].try_into().expect("8 bytes"));
    HASHKEY[0].store(k0, Ordering::Relaxed);
    HASHKEY[1].store(k1, Ordering::Relaxed);
    HASHSEED.store(k0 ^ k1.rotate_left(32), Ordering::Relaxed);
}

/// GOMAXPROCS from the environment: a positive integer is used (capped at
/// 1024); anything else - unset, empty, zero, negative, not a number, a
/// sign or blanks around the digits, more than an int32 - is ignored and
/// `ncpu` is used, as Go's `atoi32` + `n > 0` do.
pub fn gomaxprocs_from_env(v: Option<&str>, ncpu: i32) -> i32 {
    // Rust's parse rejects blanks and overflow like atoi32, but takes '+'.
    match v
        .filter(|s| !s.starts_with('+'))
        .and_then(|s| s.parse::<i32>().ok())
    {
        Some(n) if n > 0 => n.min(crate::runtime2::MAX_GOMAXPROCS as i32),
        _ => ncpu,
    }
}

/// Initialise the scheduler: the page heap stacks come from (mallocinit),
/// m0 (mcommoninit), arguments and environment, signal handling, and the Ps
/// (GOMAXPROCS, see [`gomaxprocs_from_env`]).
#[unsafe(export_name = "runtime.schedinit")]
#[inline(never)]
pub extern "C" fn schedinit() {
    // SAFETY: single-threaded start-up.
    unsafe {
        (*sched()).maxmcount = 10000;
        crate::stack::mallocinit(PHYS_PAGE_SIZE.load(Ordering::Relaxed));
        crate::proc::mcommoninit(&raw mut M0);
    }
    goargs();
    goenvs();
    crate::traceback::set_traceback(gogetenv("GOTRACEBACK"));
    crate::signal::install_panic_hook();
    crate::signal::initsig();
    let procs = gomaxprocs_from_env(gogetenv("GOMAXPROCS"), NCPU.load(Ordering::Relaxed));
    // SAFETY: under sched.lock, single-threaded start-up.
    unsafe {
        (*sched()).lock.lock();
        let runnable = crate::proc::procresize(procs);
        (*sched()).lock.unlock();
        if !runnable.is_null() {
            throw("unknown runnable goroutine during bootstrap");
        }
    }
}

/// The main goroutine (G 1): starts the background workers, runs the
/// program's `main.init` and `main.main`, then exits with status 0.
#[unsafe(export_name = "runtime.main")]
#[inline(never)]
pub extern "C" fn runtime_main(_: *mut u8) {
    crate::proc::set_main_started();

    // sysmon on its own M (newm(sysmon), no P, counted in
    // sched.nmsys) and the scavenger goroutine, before main.init, as Go's
    // runtime.main does (sysmon.rs, scavenge.rs).
    crate::sysmon::start();
    crate::scavenge::start();

    // SAFETY: MAIN_PC/INIT_PC are the addresses of `extern "C-unwind"
    // fn()`s exported by the program (or 0 when it defines none).
    unsafe {
        let init = core::ptr::read_volatile(&raw const INIT_PC);
        if init != 0 {
            let f: extern "C-unwind" fn() = core::mem::transmute(init);
            crate::signal::run_goroutine(|| f());
        }
        let mainpc = core::ptr::read_volatile(&raw const MAIN_PC);
        if mainpc == 0 {
            throw("function main.main is undeclared in the main package");
        }
        let f: extern "C-unwind" fn() = core::mem::transmute(mainpc);
        // A panic main.main does not catch ends the program (signal.rs).
        crate::signal::run_goroutine(|| f());
    }
    exit(0)
}

/// Exit the process with `code` (Go's `os.Exit`): stdout is flushed, then
/// the process leaves through `runtime.exit`.
pub fn exit(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    exit_door(code)
}

/// `runtime.exit`: the one door every exit goes through, normal or fatal
/// (a panic, a deadlock, a stack overflow, a throw, a fatal signal all end
/// in `runtime.exit(2)`, as Go's do), so a debugger that breaks here sees
/// every end of the program. Waits for starting Ms (proc.rs, "Starting Ms
/// and exit"), then `_exit`: nothing else runs, no buffer is flushed (a
/// normal exit flushed stdout before, in [`exit`]). Async-signal-safe.
#[unsafe(export_name = "runtime.exit")]
#[inline(never)]
pub extern "C" fn exit_door(code: i32) -> ! {
    crate::proc::stop_starting_ms();
    crate::signal::exit_now(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gomaxprocs_env_like_go() {
        assert_eq!(gomaxprocs_from_env(None, 2), 2);
        assert_eq!(gomaxprocs_from_env(Some(""), 2), 2);
        assert_eq!(gomaxprocs_from_env(Some("0"), 2), 2);
        assert_eq!(gomaxprocs_from_env(Some("-3"), 2), 2);
        assert_eq!(gomaxprocs_from_env(Some("abc"), 2), 2);
        assert_eq!(gomaxprocs_from_env(Some("1.5"), 2), 2);
        assert_eq!(gomaxprocs_from_env(Some("1"), 2), 1);
        assert_eq!(gomaxprocs_from_env(Some("7"), 2), 7);
        assert_eq!(gomaxprocs_from_env(Some("100000"), 2), 1024);
        // Go's atoi32: no blanks, no '+', nothing past int32.
        assert_eq!(gomaxprocs_from_env(Some(" 1"), 2), 2);
        assert_eq!(gomaxprocs_from_env(Some("+1"), 2), 2);
        assert_eq!(gomaxprocs_from_env(Some("-"), 2), 2);
        assert_eq!(gomaxprocs_from_env(Some("4294967297"), 2), 2);
    }
}
