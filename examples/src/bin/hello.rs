//! The seed's case: `fmt.Println("hello world!")` on the runtime.
#![no_main]

#[runtime::main]
fn main() {
    println!("hello world!");
}
