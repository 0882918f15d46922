//! `echo [ADDR]`: a TCP echo server on the runtime's netpoller, one
//! goroutine per connection. Listens on ADDR (default `127.0.0.1:0`), prints
//! the bound address as its first line, and runs until killed.
#![no_main]

use runtime::net::{TcpListener, TcpStream};

#[runtime::main]
fn main() {
    let args = runtime::args();
    let addr = args.get(1).map_or("127.0.0.1:0", |s| s.as_str());
    let ln = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo: listen {addr}: {e}");
            runtime::exit(1);
        }
    };
    println!("{}", ln.local_addr().expect("local_addr"));
    loop {
        match ln.accept() {
            Ok((c, _)) => runtime::go(move || handle(c)),
            Err(e) => eprintln!("echo: accept: {e}"),
        }
    }
}

/// Echo everything back until the peer closes or resets; any error ends
/// only this connection's goroutine.
#[inline(never)]
fn handle(c: TcpStream) {
    let _ = c.set_nodelay(true);
    let mut buf = [0u8; 16 << 10];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if c.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
