//! Go's context (examples/src/bin/gocontext.rs: cancel trees, deadlines,
//! and the operations that honour them - select on `done`, sleep, the
//! netpoller), run under GOMAXPROCS=1 and 2 and many runtime seeds. One run
//! takes about 0.1 s, 32 runs in all.

mod common;

use common::run_under_seeds;

/// Every test of the program, in one run per GOMAXPROCS and seed.
#[test]
fn go_context_tests_pass() {
    run_under_seeds(
        env!("CARGO_BIN_EXE_gocontext"),
        "gocontext",
        &[],
        &[
            "background ok",
            "cancel-tree ok",
            "deadlines ok",
            "sleep ok",
            "net ok",
            "cancel-stress ok",
        ],
    );
}
