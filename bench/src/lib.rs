//! Shared helpers of the benchmark children (`bench-ours`, `bench-may`,
//! `bench-tokio`) and the driver (`bench`).
//!
//! Each child is run as `bench-X <metric> <procs>` and prints one line
//! `<metric> <value>`; the driver (src/main.rs) runs every child once per
//! measurement, so every figure comes from a fresh process (the runtime under
//! test owns its process: ours has its own C `main`).

/// A measurement: its name, what the value is, and which runtimes have it
/// (the last three are Go's own tests and timers; may and tokio are not
/// asked for them).
pub struct Metric {
    /// The child's argument and the first word of its output line.
    pub name: &'static str,
    /// What the value is, for the table.
    pub what: &'static str,
    /// The runtimes that implement it.
    pub peers: &'static [&'static str],
}

const ALL: &[&str] = &["ours", "go", "may", "tokio"];
const OURS_AND_GO: &[&str] = &["ours", "go"];

/// The measurements, in table order.
pub const METRICS: [Metric; 7] = [
    Metric {
        name: "spawn",
        what: "spawn + complete 1,000,000 goroutines (ns each)",
        peers: ALL,
    },
    Metric {
        name: "pingpong",
        what: "channel ping-pong round trip (ns)",
        peers: ALL,
    },
    Metric {
        name: "switch",
        what: "Gosched / yield switch (ns)",
        peers: ALL,
    },
    Metric {
        name: "rss",
        what: "RSS per parked goroutine at 100,000 (bytes)",
        peers: ALL,
    },
    Metric {
        name: "selectstress",
        what: "Go's TestSelectStress, N = 100,000 (ms)",
        peers: OURS_AND_GO,
    },
    Metric {
        name: "selectfast",
        what: "send + select of 2 receives, 1 ready (ns)",
        peers: OURS_AND_GO,
    },
    Metric {
        name: "timerlate",
        what: "20 ms sleep next to a ping-pong: median late (µs)",
        peers: OURS_AND_GO,
    },
];

/// The metric called `name`.
pub fn metric_named(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

/// Resident set size of this process in bytes (VmRSS of /proc/self/status).
pub fn vm_rss() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    parse_vm_rss(&status).expect("VmRSS line in /proc/self/status")
}

/// The VmRSS of a /proc/PID/status text, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `<metric> <procs>` from the command line of the child for runtime
/// `peer`; exits 2 on misuse (a metric that runtime does not have).
pub fn child_args(peer: &str) -> (String, usize) {
    let args: Vec<String> = std::env::args().collect();
    let mine: Vec<&str> = METRICS
        .iter()
        .filter(|m| m.peers.contains(&peer))
        .map(|m| m.name)
        .collect();
    let usage = || -> ! {
        eprintln!("usage: {} {} PROCS", args[0], mine.join("|"));
        std::process::exit(2)
    };
    if args.len() != 3 || !mine.contains(&args[1].as_str()) {
        usage();
    }
    let procs = match args[2].parse::<usize>() {
        Ok(p) if p > 0 => p,
        _ => usage(),
    };
    (args[1].clone(), procs)
}

/// Parses a child's output line `<metric> <value>`.
pub fn parse_child_line(out: &str, metric: &str) -> Option<f64> {
    out.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == metric).then_some(())?;
        it.next()?.parse().ok()
    })
}

/// The median of some samples (the mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_parses() {
        let s = "Name:\tx\nVmPeak:\t  10 kB\nVmRSS:\t    1234 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(s), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn child_line_parses() {
        assert_eq!(parse_child_line("spawn 450.5\n", "spawn"), Some(450.5));
        assert_eq!(parse_child_line("noise\nrss 2700.0\n", "rss"), Some(2700.0));
        assert_eq!(parse_child_line("spawn 1\n", "rss"), None);
    }

    #[test]
    fn median_works() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
