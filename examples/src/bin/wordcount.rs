//! A parallel word count: the main goroutine reads the input (the files
//! named on the command line, or stdin) and sends it in chunks of lines over
//! a buffered channel to a pool of worker goroutines; each worker counts
//! words into its own map and sends the map back over a results channel,
//! which a closer goroutine closes once a WaitGroup says every worker is
//! done; main merges the maps. A `sync::Mutex` keeps the line total.
//!
//! Usage: `wordcount [-w WORKERS] [-n TOP] [FILE...]`. Prints
//! `lines N`, `words N`, `distinct N`, then the TOP (default 10) most
//! frequent words as `COUNT WORD`, by count then word. Words are maximal
//! runs of alphanumeric characters, lowercased.
#![no_main]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use runtime::chan::channel;
use runtime::sync::{Mutex, WaitGroup};

const CHUNK_LINES: usize = 512;

fn usage() -> ! {
    eprintln!("usage: wordcount [-w WORKERS] [-n TOP] [FILE...]");
    std::process::exit(2)
}

fn count_words(lines: &[String], counts: &mut HashMap<String, u64>) {
    for line in lines {
        for w in line
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            *counts.entry(w.to_lowercase()).or_insert(0) += 1;
        }
    }
}

#[runtime::main]
fn main() {
    let mut workers = 4 * runtime::gomaxprocs(0).max(1) as usize;
    let mut top = 10usize;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-w" => {
                workers = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "-n" => {
                top = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            _ => files.push(a),
        }
    }
    let workers = workers.max(1);

    let jobs = channel::<Vec<String>>(16);
    let results = channel::<HashMap<String, u64>>(workers);
    let lines_total = Arc::new(Mutex::new(0u64));
    let wg = WaitGroup::new();
    wg.add(workers as isize);
    for _ in 0..workers {
        let (jobs, results, wg, lines_total) = (
            jobs.clone(),
            results.clone(),
            wg.clone(),
            lines_total.clone(),
        );
        runtime::go(move || {
            let mut counts = HashMap::new();
            for chunk in &jobs {
                count_words(&chunk, &mut counts);
                *lines_total.lock() += chunk.len() as u64;
            }
            results.send(counts);
            wg.done();
        });
    }
    {
        let (results, wg) = (results.clone(), wg.clone());
        runtime::go(move || {
            wg.wait();
            results.close();
        });
    }

    let inputs: Vec<Box<dyn Read>> = if files.is_empty() {
        vec![Box::new(std::io::stdin())]
    } else {
        files
            .iter()
            .map(|f| -> Box<dyn Read> {
                match std::fs::File::open(f) {
                    Ok(file) => Box::new(file),
                    Err(e) => {
                        eprintln!("wordcount: {f}: {e}");
                        std::process::exit(1);
                    }
                }
            })
            .collect()
    };
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    for input in inputs {
        for line in BufReader::new(input).lines() {
            let line = line.unwrap_or_else(|e| {
                eprintln!("wordcount: read error: {e}");
                std::process::exit(1);
            });
            chunk.push(line);
            if chunk.len() == CHUNK_LINES {
                jobs.send(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(CHUNK_LINES),
                ));
            }
        }
    }
    if !chunk.is_empty() {
        jobs.send(chunk);
    }
    jobs.close();

    let mut total: HashMap<String, u64> = HashMap::new();
    for part in &results {
        for (w, c) in part {
            *total.entry(w).or_insert(0) += c;
        }
    }
    let words: u64 = total.values().sum();
    println!("lines {}", *lines_total.lock());
    println!("words {words}");
    println!("distinct {}", total.len());
    let mut by_count: Vec<(String, u64)> = total.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (w, c) in by_count.into_iter().take(top) {
        println!("{c} {w}");
    }
}
