//! `ketang_process_cpu_seconds`: this process's CPU time at /proc's 10 ms resolution.
//! The prometheus crate's `process_cpu_seconds_total` is an integer counter (whole
//! seconds), too coarse to divide by a packet count over a 20-second benchmark.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, Opts};

/// Collector reading `/proc/self/stat` at scrape time.
pub struct CpuSeconds {
    gauge: Gauge,
}

impl CpuSeconds {
    /// A new collector.
    pub fn new() -> Self {
        let gauge = Gauge::with_opts(Opts::new(
            "ketang_process_cpu_seconds",
            "User + system CPU seconds of this process (10 ms resolution)",
        ))
        .expect("valid metric");
        Self { gauge }
    }
}

impl Default for CpuSeconds {
    fn default() -> Self {
        Self::new()
    }
}

/// utime + stime of `/proc/self/stat` in seconds (USER_HZ = 100 on Linux).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

impl Collector for CpuSeconds {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if let Some(s) = cpu_seconds() {
            self.gauge.set(s);
        }
        self.gauge.collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_growing_cpu_time() {
        let a = super::cpu_seconds().expect("linux /proc");
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(60) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let b = super::cpu_seconds().unwrap();
        assert!(b > a, "{a} → {b} ({x})");
    }
}
