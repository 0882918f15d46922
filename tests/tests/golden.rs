//! Golden files for the gdb extension's commands: `info goroutines`, `info
//! goroutines -group` and `info ps` on `parked 5` stopped in `main.ready`,
//! compared with `tests/testoutput/NAME.out` after the one normaliser
//! (`gdbx_tests::golden`; `GDBX_BLESS=1` rewrites the files).
//!
//! The program runs at `GOMAXPROCS=1`: one P, so which M runs what and
//! which Ps are idle is fixed; at two Ps an M may still be spinning or
//! parked when the breakpoint stops the process. The commands read a core
//! of that stop (the extension's `gcore`): a core records no clock, so the
//! table has no wait durations, which live differ from run to run (and
//! change the columns' widths). Costs two gdb runs.

use std::path::Path;

use gdbx_tests::gdb::Gdb;
use gdbx_tests::{Variant, example_bin};

#[test]
fn golden_info_goroutines_and_info_ps() {
    gdbx_tests::require_gdb!();
    let commands = [
        ("info-goroutines", "info goroutines"),
        ("info-goroutines-group", "info goroutines -group"),
        ("info-ps", "info ps"),
    ];
    let bin = example_bin("parked", Variant::Debug);
    let core = gdbx_tests::scratch("golden").join("parked.core");
    let taken = Gdb::new(&bin)
        .extension()
        .env("GOMAXPROCS", "1")
        .ex("break main.ready")
        .ex("run 5")
        .ex(format!("gcore {}", core.display()))
        .run();
    assert!(core.is_file(), "no core:\n{}", taken.all);
    let mut gdb = Gdb::new(&bin);
    gdb.extension().core(&core);
    for (name, command) in commands {
        gdb.block(name, &[command]);
    }
    let out = gdb.run();
    let _ = std::fs::remove_file(&core);
    out.assert_no_python_errors();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testoutput");
    let failures: Vec<String> = commands
        .iter()
        .filter_map(|(name, _)| {
            gdbx_tests::golden::compare(&dir.join(format!("{name}.out")), out.block(name))
                .err()
                .map(|diff| format!("{name}: {diff}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
