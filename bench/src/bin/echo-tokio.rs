//! The tokio peer of the echo benchmark: the same server as
//! `examples/echo` (one task per connection, 16 KiB buffer, TCP_NODELAY) on
//! tokio's multi-thread runtime with `WORKERS` workers (default 2, like
//! GOMAXPROCS on this machine). Prints the bound address first, runs until
//! killed. `echo-tokio [ADDR] [WORKERS]`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:0".into());
    let workers: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let ln = TcpListener::bind(&addr).await.expect("bind");
        println!("{}", ln.local_addr().expect("addr"));
        loop {
            let Ok((mut c, _)) = ln.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = c.set_nodelay(true);
                let mut buf = vec![0u8; 16 << 10];
                loop {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}
