//! A concurrent prime sieve (Go's classic, from the Go tour and the Go
//! spec's examples): a generator goroutine sends 2, 3, 4, ... down an
//! unbuffered channel; each prime found starts one more filter goroutine
//! that drops multiples of that prime, chained in a pipeline. With
//! GOMAXPROCS > 1 the stages spread over the Ps by work stealing.
//!
//! Usage: `primes [N]` prints the first N primes (default 100), one a line.
#![no_main]

use runtime::chan::{Chan, channel};

/// Sends 2, 3, 4, ... to `ch` forever.
fn generate(ch: Chan<u64>) {
    let mut i = 2;
    loop {
        ch.send(i);
        i += 1;
    }
}

/// Copies from `input` to `output` the values not divisible by `prime`.
fn filter(input: Chan<u64>, output: Chan<u64>, prime: u64) {
    while let Some(i) = input.recv() {
        if i % prime != 0 {
            output.send(i);
        }
    }
}

#[runtime::main]
fn main() {
    let n: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 100,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("usage: primes [N]: {e}");
            std::process::exit(2);
        }
    };
    let mut ch = channel::<u64>(0);
    {
        let ch = ch.clone();
        runtime::go(move || generate(ch));
    }
    let mut out = String::new();
    for _ in 0..n {
        let prime = ch.recv().expect("the sieve never closes");
        out.push_str(&prime.to_string());
        out.push('\n');
        let ch1 = channel::<u64>(0);
        {
            let (ch, ch1) = (ch.clone(), ch1.clone());
            runtime::go(move || filter(ch, ch1, prime));
        }
        ch = ch1;
    }
    print!("{out}");
    // The pipeline's goroutines stay blocked; the program ends with main,
    // as in Go.
}
