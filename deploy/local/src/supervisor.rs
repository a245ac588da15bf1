//! Processes that cannot outlive the test that started them.
//!
//! A [`Supervisor`] owns a data directory and the processes started into it.
//! Every process runs in its own process group. A *janitor* (`sh`, in its own
//! process group, so that a Ctrl-C to the test's group does not reach it)
//! blocks reading a pipe from the test process; when the pipe closes, because
//! the supervisor was dropped or the test process exited, panicked or was
//! killed, it terminates every process group, runs the directory's cleanup
//! hook ([`CLEANUP_HOOK`], for what is not a process: cgroups, claims) and
//! removes the directory. That is what cleans up a shared cluster, whose
//! `Drop` never runs.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result, anyhow, bail};

use crate::k3s::log_tail;

/// A shell script in the data directory that the janitor runs, if it exists,
/// after every process group is gone and before the directory is removed.
pub(crate) const CLEANUP_HOOK: &str = "janitor-cleanup.sh";

/// What the janitor runs: `$1` is the data directory, `$1/pids/*` hold the
/// process-group ids of the components, `$2` is [`CLEANUP_HOOK`], `$3` is
/// `keep` for a persistent directory. Blocks on stdin, then SIGTERMs every
/// group, gives them five seconds, SIGKILLs what is left, runs the cleanup
/// hook and (unless kept) removes the directory without crossing into other
/// file systems (a mount left under it is never emptied through); a kept
/// directory loses only its pid files. (dash's `kill` takes `-SIG -PGID`,
/// without `--`.)
const JANITOR_SCRIPT: &str = r#"dir="$1" hook="$1/$2" keep="$3"
read -r _ || :
for f in "$dir"/pids/*; do [ -f "$f" ] && kill -TERM "-$(cat "$f")" 2>/dev/null; done
i=0
while [ "$i" -lt 50 ]; do
  alive=
  for f in "$dir"/pids/*; do
    [ -f "$f" ] && kill -0 "-$(cat "$f")" 2>/dev/null && alive=1
  done
  [ -z "$alive" ] && break
  sleep 0.1
  i=$((i + 1))
done
for f in "$dir"/pids/*; do [ -f "$f" ] && kill -KILL "-$(cat "$f")" 2>/dev/null; done
[ -f "$hook" ] && sh "$hook" >"$hook.log" 2>&1
if [ "$keep" = keep ]; then rm -f -- "$dir"/pids/*; else rm -rf --one-file-system -- "$dir"; fi
"#;

/// What each component is started through: records its own pid (which is its
/// process-group id, as it is started in a new group) for the janitor, then
/// becomes the component.
const LAUNCH_SCRIPT: &str = r#"echo "$$" >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@""#;

/// A process the supervisor started.
struct Component {
    name: String,
    child: Child,
    log: PathBuf,
}

/// The janitor and the write end of its pipe.
struct Janitor {
    child: Child,
    stdin: Option<ChildStdin>,
}

#[derive(Default)]
struct Processes {
    components: Vec<Component>,
    janitor: Option<Janitor>,
}

/// A data directory and the process groups started into it, all stopped
/// when the supervisor is dropped or its process ends in any way; a
/// temporary directory is removed as well, a persistent one is kept.
pub(crate) struct Supervisor {
    dir: PathBuf,
    processes: Mutex<Processes>,
}

impl Supervisor {
    /// Makes a data directory `<tmp>/<prefix>XXXXXX` with `pids/` and `logs/`
    /// and starts the janitor that owns it. Nothing else runs yet.
    pub(crate) fn start(prefix: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .with_context(|| format!("creating a {prefix}* data directory"))?
            .keep();
        // From here on the janitor owns the directory; start it first so that
        // nothing below can leak it.
        Self::with_janitor(dir, false)
    }

    /// Uses `dir` (made if missing, kept with its contents when the
    /// supervisor stops) as the data directory and starts its janitor.
    ///
    /// The caller makes sure that no earlier supervisor's processes still
    /// run from `dir` (their pid files are overwritten).
    pub(crate) fn persistent(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Self::with_janitor(dir.to_owned(), true)
    }

    fn with_janitor(dir: PathBuf, keep: bool) -> Result<Self> {
        let janitor = Command::new("sh")
            .arg("-c")
            .arg(JANITOR_SCRIPT)
            .arg("daas-janitor")
            .arg(&dir)
            .arg(CLEANUP_HOOK)
            .arg(if keep { "keep" } else { "remove" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let mut janitor = match janitor {
            Ok(child) => child,
            Err(e) => {
                if !keep {
                    let _ = fs::remove_dir_all(&dir);
                }
                return Err(anyhow!("starting the cleanup watchdog (sh): {e}"));
            }
        };
        let stdin = janitor.stdin.take();
        let supervisor = Self {
            dir,
            processes: Mutex::new(Processes {
                components: Vec::new(),
                janitor: Some(Janitor {
                    child: janitor,
                    stdin,
                }),
            }),
        };
        // Keys, tokens and logs live here: owner-only, whatever the umask.
        fs::set_permissions(&supervisor.dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", supervisor.dir.display()))?;
        for sub in ["pids", "logs"] {
            let path = supervisor.dir.join(sub);
            fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        }
        Ok(supervisor)
    }

    /// The data directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a component's output goes.
    pub(crate) fn log_path(&self, component: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{component}.log"))
    }

    /// Starts `program` as a component named `name`: in its own process
    /// group, registered with the janitor, output appended to
    /// `logs/<name>.log`. Returns its pid (which is also its process-group
    /// id).
    pub(crate) fn spawn(
        &self,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &OsStr)],
    ) -> Result<u32> {
        let log = self.log_path(name);
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone().context("duplicating a log file handle")?;
        let pid_file = self.dir.join("pids").join(name);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(LAUNCH_SCRIPT)
            .arg(&pid_file)
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        let pid = child.id();
        tracing::debug!(name, pid, log = %log.display(), "started");
        self.lock()?.components.push(Component {
            name: name.to_owned(),
            child,
            log,
        });
        Ok(pid)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Processes>> {
        self.processes
            .lock()
            .map_err(|_| anyhow!("the process table was poisoned by a panic"))
    }

    /// Fails, quoting its log, if any component has exited.
    pub(crate) fn check_alive(&self) -> Result<()> {
        let mut processes = self.lock()?;
        for component in &mut processes.components {
            if let Ok(Some(status)) = component.child.try_wait() {
                bail!(
                    "{} exited ({status}); its log ({}) ends with:\n{}",
                    component.name,
                    component.log.display(),
                    log_tail(&component.log, 15)
                );
            }
        }
        Ok(())
    }

    /// Stops one component now (SIGKILL to its process group) and forgets it.
    pub(crate) fn stop(&self, name: &str) {
        let Ok(mut processes) = self.processes.lock() else {
            return;
        };
        if let Some(i) = processes.components.iter().position(|c| c.name == name) {
            let mut component = processes.components.remove(i);
            kill_group(&component.child);
            let _ = component.child.wait();
            let _ = fs::remove_file(self.dir.join("pids").join(name));
        }
    }
}

/// SIGKILLs the process group that `child` leads (`kill -KILL -PGID`), so
/// that what the component started goes too.
fn kill_group(child: &Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let processes = match self.processes.get_mut() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Kill and reap the components first, so the janitor finds no live
        // (or zombie) process group and cleans up at once.
        for component in &mut processes.components {
            kill_group(&component.child);
            let _ = component.child.wait();
        }
        if let Some(mut janitor) = processes.janitor.take() {
            drop(janitor.stdin.take());
            let _ = janitor.child.wait();
        }
    }
}
