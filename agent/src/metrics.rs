//! The seed's node metrics, read from `/proc`:
//!
//! - `cpu_usage`: busy share of all CPUs since the previous reading
//!   (`/proc/stat`; the first reading compares two samples 200 ms apart);
//! - `memory_usage`: `1 - MemAvailable / MemTotal` (`/proc/meminfo`);
//! - `network_rx`, `network_tx`: bytes over every interface but `lo`
//!   (`/proc/net/dev`);
//! - `pod_count`, `container_count`: the kubelet's pods and containerd's
//!   containers as the kernel sees them: processes in a `kubepods` cgroup,
//!   by pod UID and container id, the `pause` sandboxes counted as pods
//!   only. This needs no credential for the kubelet or containerd and
//!   works with the cgroupfs and systemd drivers alike.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use daas_core::access::unix_now_secs;
use daas_core::api::nodes::NodeMetrics;

/// Why the metrics could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {reason}")]
pub struct MetricsError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// Reads the metrics from a `/proc` tree.
#[derive(Debug)]
pub struct ProcMetrics {
    root: PathBuf,
    last_cpu: Mutex<Option<CpuTimes>>,
}

impl Default for ProcMetrics {
    fn default() -> Self {
        Self::new("/proc")
    }
}

impl ProcMetrics {
    /// Reads from `root` (normally `/proc`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            last_cpu: Mutex::new(None),
        }
    }

    /// The figures now.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, named.
    pub async fn read(&self) -> Result<NodeMetrics, MetricsError> {
        let cpu_usage = self.cpu_usage().await?;
        let memory_usage = memory_usage(&read(&self.root.join("meminfo"))?)
            .ok_or_else(|| malformed(&self.root.join("meminfo")))?;
        let (network_rx, network_tx) = network_bytes(&read(&self.root.join("net/dev"))?);
        let (pod_count, container_count) = kube_workloads(&self.root);
        Ok(NodeMetrics {
            cpu_usage,
            memory_usage,
            pod_count,
            container_count,
            network_rx,
            network_tx,
            timestamp: unix_now_secs(),
        })
    }

    async fn cpu_usage(&self) -> Result<f64, MetricsError> {
        let path = self.root.join("stat");
        let sample = || cpu_times(&read(&path)?).ok_or_else(|| malformed(&path));
        let now = sample()?;
        let previous = self
            .last_cpu
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(now);
        let (before, after) = match previous {
            Some(before) if now.total > before.total => (before, now),
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let after = sample()?;
                *self.last_cpu.lock().unwrap_or_else(PoisonError::into_inner) = Some(after);
                (now, after)
            }
        };
        Ok(after.busy_share_since(before))
    }
}

fn read(path: &Path) -> Result<String, MetricsError> {
    std::fs::read_to_string(path).map_err(|error| MetricsError {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

fn malformed(path: &Path) -> MetricsError {
    MetricsError {
        path: path.to_owned(),
        reason: "unexpected format".to_owned(),
    }
}

/// Jiffies of all CPUs: total and idle (idle + iowait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTimes {
    total: u64,
    idle: u64,
}

impl CpuTimes {
    /// Percent busy between `before` and `self`.
    fn busy_share_since(self, before: Self) -> f64 {
        let total = self.total.saturating_sub(before.total);
        let idle = self.idle.saturating_sub(before.idle);
        if total == 0 {
            return 0.0;
        }
        // Jiffy counts stay far below 2^52: exact in f64.
        #[allow(clippy::cast_precision_loss)]
        let share = total.saturating_sub(idle) as f64 / total as f64;
        (share * 100.0).clamp(0.0, 100.0)
    }
}

/// The aggregate `cpu` line of `/proc/stat`.
fn cpu_times(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest time is
    // already counted in user and nice).
    let total = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some(CpuTimes { total, idle })
}

/// Percent of memory in use, from `/proc/meminfo`.
fn memory_usage(meminfo: &str) -> Option<f64> {
    let field = |name: &str| {
        meminfo
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    if total == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let used = total.saturating_sub(available) as f64 / total as f64;
    Some(used * 100.0)
}

/// Bytes received and sent over every interface but loopback.
fn network_bytes(dev: &str) -> (u64, u64) {
    dev.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .filter_map(|(_, counters)| {
            let fields: Vec<&str> = counters.split_whitespace().collect();
            Some((
                fields.first()?.parse::<u64>().ok()?,
                fields.get(8)?.parse::<u64>().ok()?,
            ))
        })
        .fold((0, 0), |(rx, tx), (r, t)| {
            (rx.saturating_add(r), tx.saturating_add(t))
        })
}

/// Pods and containers with a live process, from every process's cgroup.
fn kube_workloads(root: &Path) -> (u32, u32) {
    let mut pods = HashSet::new();
    let mut containers = HashSet::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return (0, 0);
    };
    for entry in entries.flatten() {
        let pid_dir = entry.path();
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        // Processes come and go while we read: a vanished one is skipped.
        let Ok(cgroup) = std::fs::read_to_string(pid_dir.join("cgroup")) else {
            continue;
        };
        let Some((pod, container)) = cgroup.lines().find_map(kube_cgroup) else {
            continue;
        };
        pods.insert(pod);
        let comm = std::fs::read_to_string(pid_dir.join("comm")).unwrap_or_default();
        if comm.trim() != "pause" {
            containers.insert(container);
        }
    }
    let count = |set: HashSet<String>| u32::try_from(set.len()).unwrap_or(u32::MAX);
    (count(pods), count(containers))
}

/// The pod UID and container id of a `kubepods` cgroup line, cgroupfs
/// (`…/kubepods/burstable/pod<uid>/<id>`) or systemd
/// (`…/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope`).
fn kube_cgroup(line: &str) -> Option<(String, String)> {
    let path = line.splitn(3, ':').nth(2)?;
    if !path.contains("kubepods") {
        return None;
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = segments
        .iter()
        .position(|segment| segment.starts_with("pod") || segment.contains("-pod"))?;
    let pod = segments[at]
        .trim_end_matches(".slice")
        .rsplit_once("pod")
        .map(|(_, uid)| uid.replace('_', "-"))?;
    let container = segments.get(at + 1)?;
    let container = container
        .trim_end_matches(".scope")
        .rsplit('-')
        .next()
        .unwrap_or(container);
    (!pod.is_empty() && !container.is_empty()).then(|| (pod, container.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cpu_memory_and_network_parse() {
        let before = cpu_times("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        let after = cpu_times("cpu  150 0 150 900 0 0 0 0 0 0\n").unwrap();
        assert!((after.busy_share_since(before) - 50.0).abs() < 1e-9);
        assert_eq!(cpu_times("intr 1 2"), None);
        let meminfo = "MemTotal:       1000 kB\nMemFree:  10 kB\nMemAvailable:    250 kB\n";
        assert!((memory_usage(meminfo).unwrap() - 75.0).abs() < 1e-9);
        assert_eq!(memory_usage("MemTotal: 1 kB\n"), None);
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n  eth0: 100 1 0 0 0 0 0 0 40 1 0 0 0 0 0 0\n  eth1: 5 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0\n";
        assert_eq!(network_bytes(dev), (105, 42));
    }

    #[test]
    fn kube_cgroups_of_both_drivers_are_recognised() {
        assert_eq!(
            kube_cgroup("4:memory:/kubepods/besteffort/pod1234-ab/c0ffee"),
            Some(("1234-ab".to_owned(), "c0ffee".to_owned()))
        );
        assert_eq!(
            kube_cgroup(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice/cri-containerd-beef.scope"
            ),
            Some(("12-34".to_owned(), "beef".to_owned()))
        );
        assert_eq!(kube_cgroup("0::/user.slice/session-1.scope"), None);
        assert_eq!(kube_cgroup("4:memory:/kubepods/besteffort/pod1234"), None);
    }

    #[test]
    fn pods_and_containers_are_counted_from_a_proc_tree() {
        let root = tempfile::tempdir().unwrap();
        let process = |pid: &str, cgroup: &str, comm: &str| {
            let dir = root.path().join(pid);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cgroup"), cgroup).unwrap();
            std::fs::write(dir.join("comm"), comm).unwrap();
        };
        process("1", "0::/init.scope\n", "systemd\n");
        process("10", "4:memory:/kubepods/podA/sandboxA\n", "pause\n");
        process("11", "4:memory:/kubepods/podA/app1\n", "nginx\n");
        process("12", "4:memory:/kubepods/podA/app1\n", "nginx\n");
        process("13", "4:memory:/kubepods/podA/app2\n", "sidecar\n");
        process(
            "20",
            "4:memory:/kubepods/besteffort/podB/sandboxB\n",
            "pause\n",
        );
        std::fs::create_dir_all(root.path().join("self")).unwrap();
        assert_eq!(kube_workloads(root.path()), (2, 2));
    }

    #[tokio::test]
    async fn the_machine_s_own_proc_gives_every_field() {
        let metrics = ProcMetrics::default();
        let first = metrics.read().await.unwrap();
        assert!((0.0..=100.0).contains(&first.cpu_usage), "{first:?}");
        assert!(
            first.memory_usage > 0.0 && first.memory_usage <= 100.0,
            "{first:?}"
        );
        assert!(first.timestamp > 1_700_000_000);
        let second = metrics.read().await.unwrap();
        assert!(second.network_rx >= first.network_rx);
        let missing = ProcMetrics::new("/nonexistent-proc")
            .read()
            .await
            .unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent-proc/stat"),
            "{missing}"
        );
    }
}
