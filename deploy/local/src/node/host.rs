//! What a node takes from the machine, and gives back: a slot (addresses and
//! names no other node on the machine has), a cgroup root in every
//! hierarchy, a veth; the janitor's hook that removes them; and the
//! [`Footprint`] that lists whatever is left.

use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rand::Rng as _;

use super::Node;

/// The file in a node's directory that lists its namespaces, PID first (see
/// [`Footprint::namespaces`]), for the janitor's hook.
pub(super) const NAMESPACES_FILE: &str = "namespaces";
use crate::supervisor::CLEANUP_HOOK;

/// One of 256 node slots, claimed by a file in the system's temporary
/// directory so that nodes of concurrent test processes never share one.
/// Slot `i` has the veth subnet `10.200.i.0/30` (no default route: nothing
/// of a node talks beyond the host) and pods in `10.42.i.0/24`.
#[derive(Debug)]
pub(super) struct Slot {
    index: u8,
    pub(super) claim: PathBuf,
}

impl Slot {
    pub(super) fn claim() -> Result<Self> {
        let dir = std::env::temp_dir().join("daas-node-slots");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let start: u8 = rand::thread_rng().r#gen();
        for offset in 0..=255u8 {
            let index = start.wrapping_add(offset);
            let claim = dir.join(index.to_string());
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&claim)
            {
                Ok(_) => return Ok(Self { index, claim }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("claiming {}", claim.display())),
            }
        }
        bail!(
            "all 256 node slots in {} are taken: too many nodes run on this machine \
             (a claim whose node is gone can be deleted)",
            dir.display()
        )
    }

    /// `daas-node-<index>`: the node's cgroup root and host interface (at
    /// most 15 characters, as interface names must be).
    pub(super) fn name(&self) -> String {
        format!("daas-node-{}", self.index)
    }

    pub(super) fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.index, 1)
    }

    pub(super) fn node_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.index, 2)
    }

    pub(super) fn pod_cidr(&self) -> String {
        format!("10.42.{}.0/24", self.index)
    }
}

/// The mount points of the cgroup hierarchies (v1 and, in hybrid mode, v2).
pub(super) fn cgroup_mounts() -> Result<Vec<PathBuf>> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    Ok(parse_cgroup_mounts(&mountinfo))
}

/// The cgroup mount points of a `/proc/<pid>/mountinfo`.
fn parse_cgroup_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // `<id> <parent> <dev> <root> <mount point> <options> ... - <fstype> ...`
            let (fields, rest) = line.split_once(" - ")?;
            let fstype = rest.split(' ').next()?;
            let mount_point = fields.split(' ').nth(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .collect()
}

/// Whether a cgroup mount is a v1 hierarchy (where the kubelet needs the
/// cgroup root to exist).
fn is_cgroup_v1(mount_point: &Path) -> bool {
    mount_point.join("cgroup.clone_children").exists()
}

/// Quotes `value` for a POSIX shell.
fn sh_quote(value: &Path) -> String {
    format!("'{}'", value.to_string_lossy().replace('\'', r"'\''"))
}

/// What a node leaves on the machine while it runs; all of it is removed when
/// the node stops.
#[derive(Debug, Clone)]
pub struct Footprint {
    /// The node's data directory.
    pub dir: PathBuf,
    /// The node's cgroup root in every hierarchy.
    pub cgroups: Vec<PathBuf>,
    /// The host's end of the node's veth pair.
    pub host_interface: String,
    /// The node's slot claim.
    pub claim: PathBuf,
    /// The node's PID, mount and network namespaces, as `readlink
    /// /proc/<pid>/ns/...` shows them (e.g. `mnt:[4026532175]`); a namespace
    /// lives, with its mounts and interfaces, while a process is in it.
    pub namespaces: Vec<String>,
}

impl Footprint {
    /// The footprint as JSON, for a process that reports its node to another.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "dir": self.dir,
            "cgroups": self.cgroups,
            "host_interface": self.host_interface,
            "claim": self.claim,
            "namespaces": self.namespaces,
        })
    }

    /// Reads [`Self::to_json`]'s output.
    pub fn from_json(json: &serde_json::Value) -> Result<Self> {
        let field = |name: &str| {
            json.get(name)
                .cloned()
                .with_context(|| format!("a node footprint without {name:?}"))
        };
        Ok(Self {
            dir: serde_json::from_value(field("dir")?)?,
            cgroups: serde_json::from_value(field("cgroups")?)?,
            host_interface: serde_json::from_value(field("host_interface")?)?,
            claim: serde_json::from_value(field("claim")?)?,
            namespaces: serde_json::from_value(field("namespaces")?)?,
        })
    }

    /// What is left of the node: its directory, cgroups, veth, slot claim, a
    /// mount under its directory, a process in one of its namespaces (the
    /// containers' included) or whose command line names its directory.
    /// Empty once the node is fully gone.
    pub fn remaining(&self) -> Vec<String> {
        let mut left = Vec::new();
        let dir = self.dir.to_string_lossy().into_owned();
        if self.dir.exists() {
            left.push(format!("directory {dir}"));
        }
        left.extend(
            self.cgroups
                .iter()
                .filter(|c| c.exists())
                .map(|c| format!("cgroup {}", c.display())),
        );
        if Path::new("/sys/class/net")
            .join(&self.host_interface)
            .exists()
        {
            left.push(format!("interface {}", self.host_interface));
        }
        if self.claim.exists() {
            left.push(format!("slot claim {}", self.claim.display()));
        }
        if let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") {
            left.extend(
                mountinfo
                    .lines()
                    .filter(|l| l.contains(&dir))
                    .map(|l| format!("mount {l}")),
            );
        }
        if let Ok(entries) = fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
                    continue;
                };
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                let in_namespace = ["pid", "mnt", "net"].iter().any(|kind| {
                    fs::read_link(entry.path().join("ns").join(kind)).is_ok_and(|ns| {
                        self.namespaces.contains(&ns.to_string_lossy().into_owned())
                    })
                });
                if in_namespace || cmdline.contains(&dir) {
                    left.push(format!(
                        "process {}: {}",
                        entry.file_name().to_string_lossy(),
                        cmdline.trim()
                    ));
                }
            }
        }
        left
    }
}

impl Node {
    /// Writes the janitor's cleanup hook: wait until no process is left in
    /// the node's PID namespace (the kernel kills them all once its first
    /// process dies, shims included, which no cgroup of the node holds), then
    /// remove the node's cgroups (deepest first), its veth and its slot claim.
    /// The namespace is read from [`NAMESPACES_FILE`], written once the node's
    /// first process runs.
    pub(super) fn write_cleanup_hook(&self) -> Result<()> {
        let mut script = format!(
            "pid_ns=$(head -n 1 {} 2>/dev/null)\n\
             i=0\nwhile [ \"$i\" -lt 100 ]; do\n  left=\n\
             \x20 if [ -n \"$pid_ns\" ]; then for p in /proc/[0-9]*; do \
             [ \"$(readlink \"$p/ns/pid\" 2>/dev/null)\" = \"$pid_ns\" ] && left=1; done; fi\n",
            sh_quote(&self.path(NAMESPACES_FILE))
        );
        for cgroup in &self.footprint.cgroups {
            let _ = writeln!(
                script,
                "  if [ -z \"$left\" ] && [ -d {c} ]; then \
                 find {c} -depth -type d -exec rmdir {{}} + 2>/dev/null; [ -d {c} ] && left=1; fi",
                c = sh_quote(cgroup)
            );
        }
        script.push_str("  [ -z \"$left\" ] && break\n  sleep 0.1\n  i=$((i + 1))\ndone\n");
        let _ = writeln!(
            script,
            "ip link del {} 2>/dev/null\nrm -f {}",
            sh_quote(Path::new(&self.footprint.host_interface)),
            sh_quote(&self.footprint.claim)
        );
        let hook = self.path(CLEANUP_HOOK);
        fs::write(&hook, script).with_context(|| format!("writing {}", hook.display()))
    }

    /// Makes the node's cgroup root in every v1 hierarchy, which the kubelet
    /// insists on finding; a new cpuset gets its parent's CPUs and memory
    /// nodes, without which no process could join it.
    pub(super) fn create_cgroups(&self) -> Result<()> {
        for cgroup in &self.footprint.cgroups {
            let Some(parent) = cgroup.parent() else {
                continue;
            };
            if !is_cgroup_v1(parent) {
                continue;
            }
            fs::create_dir(cgroup).with_context(|| {
                format!(
                    "creating cgroup {} (if an earlier node left it, rmdir it)",
                    cgroup.display()
                )
            })?;
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(value) = fs::read_to_string(parent.join(file)) {
                    fs::write(cgroup.join(file), value.trim())
                        .with_context(|| format!("writing {}", cgroup.join(file).display()))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn cgroup_mounts_are_found_in_mountinfo() {
        let mountinfo = "\
22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/memory rw shared:12 - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw shared:13 - cgroup cgroup rw,cpu,cpuacct
not a mountinfo line
";
        assert_eq!(
            parse_cgroup_mounts(mountinfo),
            [
                "/sys/fs/cgroup/unified",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/cpu,cpuacct"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn shell_quoting_survives_a_quote() {
        assert_eq!(sh_quote(Path::new("/tmp/a b")), "'/tmp/a b'");
        assert_eq!(sh_quote(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }
}
