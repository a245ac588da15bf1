//! A small `/proc` sampler for heartbeats: CPU and memory use in percent,
//! and bytes received and sent on every interface but loopback. Pod and
//! container counts are left at zero here (the local API's metrics count
//! them from the kubelet and containerd).

use daas_core::api::nodes::NodeMetrics;

/// Remembers the last CPU counters so each sample is a rate.
#[derive(Debug, Default)]
pub struct Sampler {
    last_cpu: Option<(u64, u64)>,
}

impl Sampler {
    /// A sampler with no history (the first CPU figure is since boot).
    pub fn new() -> Self {
        Self::default()
    }

    /// The figures now; what `/proc` does not give reads as zero.
    pub fn sample(&mut self) -> NodeMetrics {
        let cpu = read("/proc/stat").and_then(|text| cpu_counters(&text));
        let cpu_usage = match (self.last_cpu, cpu) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                percent(busy1.saturating_sub(busy0), total1 - total0)
            }
            (_, Some((busy, total))) => percent(busy, total),
            _ => 0.0,
        };
        if cpu.is_some() {
            self.last_cpu = cpu;
        }
        let (network_rx, network_tx) = read("/proc/net/dev").map_or((0, 0), |t| network(&t));
        NodeMetrics {
            cpu_usage,
            memory_usage: read("/proc/meminfo").map_or(0.0, |t| memory_percent(&t)),
            pod_count: 0,
            container_count: 0,
            network_rx,
            network_tx,
            timestamp: daas_core::access::unix_now_secs(),
        }
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[allow(clippy::cast_precision_loss)]
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 100.0 / whole as f64).clamp(0.0, 100.0)
}

/// (busy, total) jiffies of the `cpu` line.
fn cpu_counters(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

fn memory_percent(meminfo: &str) -> f64 {
    let field = |name: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    match (field("MemTotal:"), field("MemAvailable:")) {
        (Some(total), Some(available)) => percent(total.saturating_sub(available), total),
        _ => 0.0,
    }
}

fn network(dev: &str) -> (u64, u64) {
    dev.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .fold((0u64, 0u64), |(rx, tx), (_, counters)| {
            let fields: Vec<u64> = counters
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            (
                rx.saturating_add(fields.first().copied().unwrap_or(0)),
                tx.saturating_add(fields.get(8).copied().unwrap_or(0)),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        assert_eq!(
            cpu_counters("cpu  10 0 10 70 10 0 0 0 0 0\n"),
            Some((20, 100))
        );
        let mem = "MemTotal:       1000 kB\nMemFree: 1 kB\nMemAvailable:    250 kB\n";
        assert!((memory_percent(mem) - 75.0).abs() < f64::EPSILON);
        let dev = "Inter-|\n face |bytes\n    lo: 5 0 0 0 0 0 0 0 5 0 0 0 0 0 0 0\n  eth0: 100 1 0 0 0 0 0 0 40 1 0 0 0 0 0 0\n";
        assert_eq!(network(dev), (100, 40));
    }

    #[test]
    fn a_sample_of_this_machine_is_in_range() {
        let mut sampler = Sampler::new();
        let first = sampler.sample();
        let second = sampler.sample();
        for m in [first, second] {
            assert!((0.0..=100.0).contains(&m.cpu_usage));
            assert!((0.0..=100.0).contains(&m.memory_usage));
        }
    }
}
