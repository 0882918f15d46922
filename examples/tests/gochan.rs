//! Go's channel, select and scheduler tests, ported (examples/src/bin/
//! gochan.rs), run under GOMAXPROCS=1 and 2 and many runtime seeds
//! (`GDBX_SEED`: select's poll order and the steal order come from it, so
//! each seed is another schedule and another sequence of random choices).

mod common;

use common::run_under_seeds;

const GOCHAN: &str = env!("CARGO_BIN_EXE_gochan");

/// Runs `gochan ARGS` under every GOMAXPROCS and seed.
fn gochan(args: &[&str], want: &[&str]) {
    run_under_seeds(GOCHAN, "gochan", args, want);
}

/// Every test of the program, in one run per GOMAXPROCS and seed: Go's
/// TestChan, TestNonblockRecvRace, TestNonblockSelectRace(2),
/// TestSelfSelect, TestSelectStress (nil channels and case bodies that
/// reassign them), TestChanSendInterface, TestPseudoRandomSend,
/// TestMultiConsumer, TestSelectDuplicateChannel, TestSelectFairness; nil
/// channels, temporaries as operands, directional handles; and select's
/// fairness among cases on one channel (which failed 1500/0/0 when the lock
/// order ignored the poll order).
#[test]
fn go_channel_and_select_tests_pass() {
    gochan(
        &[],
        &[
            "chan ok",
            "nonblock-recv-race ok",
            "nonblock-select-race ok",
            "self-select ok",
            "select-stress ok",
            "chan-send-interface ok",
            "pseudo-random-send ok",
            "multi-consumer ok",
            "select-duplicate-channel ok",
            "select-nil ok",
            "select-operands ok",
            "directional ok",
            "select-fair-recv ok",
            "select-fair-send ok",
            "select-fairness ok",
            "lock-os-thread ok",
        ],
    );
}
