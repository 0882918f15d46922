//! Every binary of this package is a `#![no_main]` program on the runtime:
//! the ELF entry point is the runtime's `_rt0_amd64_linux` (which hands off to
//! libc's `_start`, which calls the runtime's C `main`), and the binaries are
//! linked non-PIE so that file addresses are run-time addresses.

fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--entry=_rt0_amd64_linux");
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
