//! `nettest`: the netpoller's deadlines and UDP. A read with a
//! timeout on a silent connection fails with TimedOut while the other
//! goroutines keep running; the same connection then reads data normally;
//! UDP datagrams go back and forth; a receive with a deadline times out;
//! connecting to a closed port fails. Prints `ok` and exits 0.
#![no_main]

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use runtime::chan::channel;
use runtime::net::{TcpListener, TcpStream, UdpSocket};

#[runtime::main]
fn main() {
    let ln = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = ln.local_addr().expect("addr");
    let go_on = channel::<()>(0);
    let g2 = go_on.clone();
    runtime::go(move || {
        let c = TcpStream::connect(addr).expect("connect");
        let _ = g2.recv();
        c.write_all(b"late data").expect("write");
        let _ = g2.recv();
    });
    let (c, _) = ln.accept().expect("accept");
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 64];
    let e = c.read(&mut buf).expect_err("must time out");
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    println!("tcp read timeout: {e}");
    c.set_read_timeout(None).unwrap();
    go_on.send(());
    let mut got = [0u8; 9];
    c.read_exact(&mut got).expect("read after timeout");
    assert_eq!(&got, b"late data");
    println!("tcp read after timeout: {}", String::from_utf8_lossy(&got));
    go_on.send(());

    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let baddr = b.local_addr().unwrap();
    runtime::go(move || {
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        b.send_to(&buf[..n], from).unwrap();
    });
    a.send_to(b"ping", baddr).unwrap();
    let (n, from) = a.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"ping"[..], baddr));
    println!("udp echo: {}", String::from_utf8_lossy(&buf[..n]));
    a.set_read_deadline(Some(Instant::now() + Duration::from_millis(20)));
    let e = a.recv_from(&mut buf).expect_err("must time out");
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    println!("udp deadline: {e}");

    drop(ln);
    let e = TcpStream::connect(addr).err().expect("closed port");
    println!("connect to closed port: {:?}", e.kind());
    println!("ok");
}
