//! One agent per state directory: an exclusive `flock` on
//! `<state_dir>/agent.lock`, held for the agent's life (the kernel drops it
//! when the process dies, even by kill -9).

use std::fs::File;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

/// The lock file's name.
pub const LOCK_FILE: &str = "agent.lock";

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct AgentLock {
    _file: File,
}

/// Takes the lock of `state_dir`: `Ok(None)` when another agent holds it.
///
/// # Errors
/// The directory or file cannot be made or opened.
pub fn try_lock(state_dir: &Path) -> std::io::Result<Option<AgentLock>> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(state_dir.join(LOCK_FILE))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(AgentLock { _file: file })),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_second_agent_does_not_get_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = try_lock(dir.path()).unwrap().unwrap();
        assert!(try_lock(dir.path()).unwrap().is_none());
        drop(held);
        assert!(try_lock(dir.path()).unwrap().is_some());
    }
}
