//! One launcher per state directory, and what a dead one left behind.
//!
//! A running launcher holds an exclusive `flock` on `launcher.lock` (the
//! kernel drops it when the process dies, even by SIGKILL) and writes its
//! pid to `launcher.pid`. Each supervised process group has a pid file
//! (`run/pids/*`, `cluster/pids/*`) written by the process itself as it
//! starts. A group is ours only if its leader started within a few seconds
//! of its pid file being written: a reused pid is never signalled.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, flock};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};

use crate::launcher::LocalError;
use crate::launcher::layout::Layout;

/// How far a process's start may be from its pid file's time.
const START_SLACK_SECS: u64 = 5;

/// The held lock of a state directory; dropping it releases it.
#[derive(Debug)]
pub struct StackLock {
    _file: File,
    pid_file: PathBuf,
}

impl Drop for StackLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

/// Takes the lock of `layout`: `Ok(None)` when a launcher holds it.
/// Makes the state directory (owner only) if missing.
///
/// # Errors
/// The directory or lock file cannot be made or locked.
pub fn try_lock(layout: &Layout) -> Result<Option<StackLock>, LocalError> {
    let io = |source| LocalError::io(layout.root(), source);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(layout.root())
        .map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(layout.lock_file())
        .map_err(io)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(StackLock {
            _file: file,
            pid_file: layout.pid_file(),
        })),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(error) => Err(io(error.into())),
    }
}

impl StackLock {
    /// Records this process as the running launcher.
    ///
    /// # Errors
    /// The pid file cannot be written.
    pub fn record_self(&self) -> Result<(), LocalError> {
        std::fs::write(&self.pid_file, format!("{}\n", std::process::id()))
            .map_err(|source| LocalError::io(&self.pid_file, source))
    }
}

/// Whether a launcher holds the lock of `layout` (without taking it).
///
/// # Errors
/// The lock file cannot be opened.
pub fn is_running(layout: &Layout) -> Result<bool, LocalError> {
    if !layout.lock_file().exists() {
        return Ok(false);
    }
    Ok(try_lock_file(&layout.lock_file())?.is_none())
}

fn try_lock_file(path: &Path) -> Result<Option<File>, LocalError> {
    let file = File::open(path).map_err(|source| LocalError::io(path, source))?;
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(error) => Err(LocalError::io(path, error.into())),
    }
}

/// The running launcher's pid, if its pid file names a live process.
pub fn launcher_pid(layout: &Layout) -> Option<u32> {
    let pid = read_pid(&layout.pid_file())?;
    is_alive(pid).then_some(pid)
}

/// Asks the launcher `pid` to stop (SIGTERM, as `kill` does).
///
/// # Errors
/// The signal could not be sent.
pub fn terminate(pid: u32) -> Result<(), LocalError> {
    let pid = to_pid(pid)?;
    kill_process(pid, Signal::TERM).map_err(|e| LocalError::Signal {
        pid: pid.as_raw_nonzero().get().unsigned_abs(),
        source: e.into(),
    })
}

/// Kills the launcher `pid` (SIGKILL); its janitors then stop the rest.
///
/// # Errors
/// The signal could not be sent.
pub fn kill(pid: u32) -> Result<(), LocalError> {
    let pid = to_pid(pid)?;
    kill_process(pid, Signal::KILL).map_err(|e| LocalError::Signal {
        pid: pid.as_raw_nonzero().get().unsigned_abs(),
        source: e.into(),
    })
}

fn to_pid(pid: u32) -> Result<Pid, LocalError> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or(LocalError::BadPid(pid))
}

/// The process groups recorded in `layout`'s pid files that still run, by
/// name (for `status` and the check that nothing is left).
pub fn live_groups(layout: &Layout) -> Vec<(String, u32)> {
    recorded(layout)
        .into_iter()
        .filter_map(|(name, path)| {
            let pid = read_pid(&path)?;
            is_ours(pid, &path).then_some((name, pid))
        })
        .collect()
}

/// Stops what a dead launcher left: SIGKILLs every recorded process group
/// that is still ours and removes the pid files. Returns the names of the
/// groups it killed.
pub fn clean_stale(layout: &Layout) -> Vec<String> {
    let mut killed = Vec::new();
    for (name, path) in recorded(layout) {
        if let Some(pid) = read_pid(&path)
            && is_ours(pid, &path)
            && let Ok(group) = to_pid(pid)
            && kill_process_group(group, Signal::KILL).is_ok()
        {
            killed.push(name);
        }
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_file(layout.pid_file());
    killed
}

fn recorded(layout: &Layout) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for dir in layout.pid_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".tmp") {
                files.push((name, entry.path()));
            }
        }
    }
    files
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn is_alive(pid: u32) -> bool {
    // A zombie has given up everything but its pid: not alive.
    process_state(pid).is_some_and(|state| state != 'Z')
}

/// Whether `pid` runs and started when its pid file `path` was written.
fn is_ours(pid: u32, path: &Path) -> bool {
    let (Some(started), Ok(meta)) = (start_time(pid), std::fs::metadata(path)) else {
        return false;
    };
    let Ok(written) = meta.modified() else {
        return false;
    };
    let distance = match written.duration_since(started) {
        Ok(after) => after,
        Err(before) => before.duration(),
    };
    is_alive(pid) && distance <= Duration::from_secs(START_SLACK_SECS)
}

/// Fields of `/proc/<pid>/stat` after the command name (which may hold
/// spaces and parentheses).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn process_state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// When `pid` started, from its start time in clock ticks after boot.
fn start_time(pid: u32) -> Option<SystemTime> {
    // Field 22 of stat; the state (field 3) is index 0 here.
    let ticks: u64 = stat_fields(pid)?.get(19)?.parse().ok()?;
    let per_second = rustix::param::clock_ticks_per_second();
    let boot = boot_time()?;
    let offset = Duration::from_millis(ticks.saturating_mul(1000) / per_second.max(1));
    Some(UNIX_EPOCH + Duration::from_secs(boot) + offset)
}

fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn this_process_is_ours_only_with_a_pid_file_of_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_owned());
        let pids = layout.run_dir().join("pids");
        std::fs::create_dir_all(&pids).unwrap();
        let me = std::process::id();
        std::fs::write(pids.join("me"), format!("{me}\n")).unwrap();
        // Written now, long after this test process started: a reused pid.
        let started = start_time(me).unwrap();
        let age = SystemTime::now().duration_since(started).unwrap();
        assert_eq!(
            is_ours(me, &pids.join("me")),
            age <= Duration::from_secs(START_SLACK_SECS)
        );
        assert!(is_alive(me));
        assert!(!is_alive(u32::MAX / 2));
    }

    #[test]
    fn a_second_lock_of_one_state_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("state"));
        let held = try_lock(&layout).unwrap().unwrap();
        assert!(try_lock(&layout).unwrap().is_none());
        assert!(is_running(&layout).unwrap());
        drop(held);
        assert!(!is_running(&layout).unwrap());
    }
}
