//! Stubs of the procedure linkage table are named as gdb names them
//! (`write@plt`): a goroutine stopped on its way into libc is in one, and
//! a dump that calls it `??` says less than gdb does. Checked against gdb's
//! own `info symbol` for every stub, on our programs (non-PIE, `.plt`)
//! and on a system binary (PIE, `.plt` and `.plt.got`), and through the
//! symboliser that `gdbx goroutines` and the gdb extension use.

use gdbx_tests::gdb::Gdb;
use gdbx_tests::{Variant, example_bin};
use inspect::{Flavour, Symbols};
use std::path::Path;
use std::rc::Rc;

/// Every `@plt` symbol of `path` with gdb's name for its address.
fn compare_with_gdb(path: &Path) -> usize {
    let bin = debuginfo::Binary::open(path).unwrap();
    let stubs: Vec<_> = bin
        .symbols()
        .iter()
        .filter(|s| s.name.ends_with("@plt"))
        .collect();
    assert!(!stubs.is_empty(), "{}: no PLT stub found", path.display());
    let mut g = Gdb::new(path);
    for s in &stubs {
        g.ex(format!("info symbol {:#x}", s.address));
        // Inside the stub too, as a pc stopped in it is.
        g.ex(format!("info symbol {:#x}", s.address + 6));
    }
    let out = g.run();
    let answers: Vec<&str> = out
        .all
        .lines()
        .filter(|l| l.contains(" in section "))
        .collect();
    assert_eq!(answers.len(), 2 * stubs.len(), "{}", out.all);
    for (k, s) in stubs.iter().enumerate() {
        assert_eq!(bin.symbol_at(s.address).map(|x| &x.name), Some(&s.name));
        assert_eq!(bin.symbol_at(s.address + 6).map(|x| &x.name), Some(&s.name));
        let want = format!("{} in section ", s.name);
        assert!(
            answers[2 * k].starts_with(&want)
                && answers[2 * k + 1].starts_with(&format!("{} + 6 in section ", s.name)),
            "{}: ours {} at {:#x}, gdb says {:?} / {:?}",
            path.display(),
            s.name,
            s.address,
            answers[2 * k],
            answers[2 * k + 1]
        );
    }
    stubs.len()
}

#[test]
fn plt_stubs_are_named_as_gdb_names_them() {
    if !gdbx_tests::gdb::require() {
        return;
    }
    let ours = example_bin("chanstorm", Variant::Debug);
    assert!(compare_with_gdb(&ours) >= 1);
    let ls = Path::new("/bin/ls");
    if ls.exists() {
        assert!(compare_with_gdb(ls) >= 10);
    }
}

#[test]
fn a_pc_in_a_plt_stub_is_a_frame_of_that_name() {
    let path = example_bin("chanstorm", Variant::Debug);
    let bin = Rc::new(debuginfo::Binary::open(&path).unwrap());
    let stub = bin
        .symbols()
        .iter()
        .find(|s| s.name.ends_with("@plt"))
        .expect("chanstorm calls libc through its PLT")
        .clone();
    let syms = Symbols::new(bin, Flavour::Ours, "");
    let frames = syms.frames(stub.address + 4);
    assert_eq!(
        frames.first().map(|f| f.func.as_ref()),
        Some(stub.name.as_str())
    );
}
