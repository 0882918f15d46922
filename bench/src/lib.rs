//! Shared helpers of the benchmark children (`bench-ours`, `bench-may`,
//! `bench-tokio`) and the driver (`bench`).
//!
//! Each child is run as `bench-X <metric> <procs>` and prints one line
//! `<metric> <value>`; the driver (src/main.rs) runs every child once per
//! measurement, so every figure comes from a fresh process (the runtime under
//! test owns its process: ours has its own C `main`).

/// The measurements, in table order: name, what the value is.
pub const METRICS: [(&str, &str); 4] = [
    ("spawn", "spawn + complete 1,000,000 goroutines (ns each)"),
    ("pingpong", "channel ping-pong round trip (ns)"),
    ("switch", "Gosched / yield switch (ns)"),
    ("rss", "RSS per parked goroutine at 100,000 (bytes)"),
];

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

/// `<metric> <procs>` from the command line of a child; exits 2 on misuse.
pub fn child_args() -> (String, usize) {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: {} spawn|pingpong|switch|rss PROCS", args[0]);
        std::process::exit(2)
    };
    if args.len() != 3 || !METRICS.iter().any(|(m, _)| *m == args[1]) {
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
