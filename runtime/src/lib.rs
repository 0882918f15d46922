//! A Go-style M:N runtime: goroutines (G) multiplexed onto OS threads (M)
//! through GOMAXPROCS processors (P), with a bootstrap and state that a
//! debugger can watch by name.
//!
//! # Writing a program
//!
//! A program is a `#![no_main]` binary whose build script sets the entry
//! point (`-Wl,--entry=_rt0_amd64_linux`, see examples/build.rs) and that
//! marks its main function with [`main`] (`#[runtime::main]`):
//!
//! ```no_run
//! #![no_main]
//!
//! #[runtime::main]
//! fn main() {
//!     let c = runtime::chan::channel::<u64>(0);
//!     let tx = c.clone();
//!     runtime::go(move || tx.send(42));
//!     println!("{} from a goroutine; args {:?}", c.recv().unwrap(), runtime::args());
//! }
//! ```
//!
//! What programs get at the crate's root: [`go`], [`gosched`], [`sleep`],
//! [`exit`], [`args`], [`gomaxprocs`], [`num_goroutine`], [`num_waiting`],
//! [`preemptions`], [`async_preemptions`], [`nanotime`], [`syscall()`], [`memstats()`],
//! [`preempt_point`], [`async_preemptible`]; channels, `select!`, `sync`,
//! `time`, `context` and `net` live in their modules.
//!
//! The runtime provides the C `main` that libc calls and walks the
//! bootstrap sequence (rt0.rs) up to `main.main`, which runs on
//! goroutine 1; when it returns the process exits with status 0.
//!
//! # Map of the crate
//!
//! * [`rt0`] - the bootstrap chain, `runtime.main`, `runtime.exit`;
//! * `runtime1` - the saved arguments and environment, GODEBUG (Go's
//!   runtime1.go);
//! * [`runtime2`] - G, M, P, Sched and the statics a debugger reads;
//! * [`proc`] - the scheduler (Go's proc.go): newproc, schedule,
//!   findrunnable, stealing, spinning Ms, gopark/goready, GOMAXPROCS;
//! * [`runq`] - the lock-free per-P run queue and the global queue;
//! * [`asm`] - entry point, TLS g, gogo/mcall/systemstack/goexit;
//! * [`mod@stack`] - guarded fixed-size stacks from big mappings;
//! * [`time`] - per-P timers, `sleep`, and Go's timers: `after`, `tick`,
//!   `Timer`, `Ticker`, `after_func`;
//! * [`lock`] - futex mutex and notes;
//! * [`context`] - cancellation and deadlines (Go's context);
//! * [`chan`] - channels (Go's hchan, sudogs); [`mod@select`] - `select!`;
//! * [`sema`] - the semaphore goroutines park on; [`sync`] - `WaitGroup`,
//!   the parking `Mutex`, `RwMutex`, `Once`, `Cond`;
//! * [`signal`] - fatal errors, panics and recover, stack overflow, fatal
//!   signals, GOTRACEBACK=crash;
//! * [`sysmon`] - the system monitor thread: retake, preemption requests,
//!   `GODEBUG=schedtrace/scheddetail`; [`asyncpreempt`] - opt-in
//!   preemption by signal;
//! * [`mod@syscall`] - entersyscall/exitsyscall and [`syscall()`];
//! * [`netpoll`] / [`net`] - the epoll netpoller and sockets on it;
//! * [`scavenge`] - the scavenger goroutine and [`memstats()`];
//! * [`traceback`] - goroutine dumps: SIGQUIT, [`stack()`], GOTRACEBACK.
//!
//! # Caveat: thread-locals
//!
//! A goroutine may resume on another thread after it parks. Rust
//! `thread_local!` values (and anything caching a thread-local address) must
//! not be held across a park point (channel operation, `sleep`, `gosched`).

// The public docs point into the internals on purpose (the crate is read to
// learn how a Go-style runtime works); `cargo doc --document-private-items`
// renders those links, and CI builds the docs that way.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod asm;
pub(crate) mod asyncpreempt;
pub mod chan;
pub mod context;
mod gdbscript;
pub(crate) mod lock;
pub mod net;
pub(crate) mod netpoll;
pub(crate) mod proc;
pub(crate) mod rt0;
pub(crate) mod runq;
mod runtime1;
pub(crate) mod runtime2;
pub(crate) mod scavenge;
pub mod select;
pub(crate) mod sema;
pub(crate) mod signal;
pub(crate) mod stack;
pub mod sync;
pub(crate) mod syscall;
pub(crate) mod sysmon;
pub mod time;
pub(crate) mod traceback;

pub use asyncpreempt::async_preemptible;
pub use proc::{go, gosched, lock_os_thread, num_goroutine, unlock_os_thread};
pub use runtime2::WaitReason;
pub use scavenge::{MemStats, memstats};
pub use syscall::syscall;
pub use sysmon::preempt_point;
pub use time::{nanotime, sleep};
pub use traceback::stack;

/// The program's command-line arguments, its name first (Go's `os.Args`),
/// as saved at start-up.
pub fn args() -> &'static [String] {
    runtime1::os_args()
}

/// How many goroutines are parked now with wait reason `reason`: a test's
/// handshake ("wait until all N workers block in a receive") instead of
/// sleeping long enough.
pub fn num_waiting(reason: WaitReason) -> usize {
    proc::count_waiting(reason)
}

/// Preemptions so far: goroutines that yielded at a safe point after
/// sysmon asked them to (they ran for 10 ms), plus those preempted by
/// signal (`GODEBUG=asyncpreempt=1`).
pub fn preemptions() -> u64 {
    sysmon::PREEMPTIONS.load(core::sync::atomic::Ordering::Relaxed)
}

/// Of [`preemptions`], those by signal (`GODEBUG=asyncpreempt=1`, inside
/// [`async_preemptible`]).
pub fn async_preemptions() -> u64 {
    asyncpreempt::ASYNC_PREEMPTIONS.load(core::sync::atomic::Ordering::Relaxed)
}

/// Go's `runtime.GOMAXPROCS(n)`: sets the number of Ps if `n > 0` and
/// returns the previous value; `n <= 0` only queries. See
/// [`proc::gomaxprocs`] for how a change stops the world.
pub fn gomaxprocs(n: i32) -> i32 {
    proc::gomaxprocs(n)
}

/// Exit the process with `code` now (Go's `os.Exit`): other goroutines do
/// not run any more; stdout is flushed.
pub fn exit(code: i32) -> ! {
    rt0::exit(code)
}

/// `#[runtime::main]` / `#[runtime::main(init = path)]`: export the
/// program's main function as `main.main` (and emit `main.init`), the
/// symbols `runtime.main` calls. See the `runtime-macros` crate.
pub use runtime_macros::main;
