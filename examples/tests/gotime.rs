//! Go's time package timers (examples/src/bin/gotime.rs: `after`, `tick`,
//! `Timer`, `Ticker`, `after_func`), run under GOMAXPROCS=1 and 2 and many
//! runtime seeds. One run takes about 0.3 s (most of it the timers' own
//! durations), 32 runs in all.

mod common;

use common::run_under_seeds;

/// Every test of the program, in one run per GOMAXPROCS and seed.
#[test]
fn go_time_tests_pass() {
    run_under_seeds(
        env!("CARGO_BIN_EXE_gotime"),
        "gotime",
        &[],
        &[
            "after ok",
            "after-queuing ok",
            "select-timeout ok",
            "stop-reset-results ok",
            "stop-stress ok",
            "after-func ok",
            "ticker ok",
            "tick ok",
            "ticker-zero ok",
            "many-timers ok",
        ],
    );
}
