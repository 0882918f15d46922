//! Go's hello world, the program of the boot walkthrough: `fmt.Println("hello world!")` on the runtime.
#![no_main]

#[runtime::main]
fn main() {
    println!("hello world!");
}
