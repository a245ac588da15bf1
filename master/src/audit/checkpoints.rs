//! The checkpoints the master signed, and where each was anchored.
//!
//! `audit-checkpoints.jsonl` in the state directory holds one JSON line
//! per change: a signed checkpoint, then the same checkpoint again with
//! its anchor once the chain took it. Read back at start, the last line of
//! a tree size wins. Checkpoints a previous boot signed but never anchored
//! are dropped then: their key died with that boot, and the new boot's
//! first checkpoint covers their events.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use daas_core::api::audit::{AnchorRecord, AuditCheckpoint};

use super::store::StoreError;

/// The checkpoint file's name in the state directory.
pub const CHECKPOINTS_FILE: &str = "audit-checkpoints.jsonl";

/// Signed checkpoints by tree size, with their anchors.
#[derive(Debug)]
pub struct CheckpointLog {
    path: PathBuf,
    file: File,
    by_size: BTreeMap<u64, AuditCheckpoint>,
}

impl CheckpointLog {
    /// Opens (or creates) the file in `state_dir`, keeping anchored
    /// checkpoints and rewriting the file without the others.
    ///
    /// # Errors
    /// The file cannot be read or written.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join(CHECKPOINTS_FILE);
        let io = |action| {
            let path = path.clone();
            move |source| StoreError::Io {
                action,
                path,
                source,
            }
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(io("reading")(error)),
        };
        let mut by_size = BTreeMap::new();
        for line in text.lines() {
            // A torn last line (a crash mid-write) does not parse: skip it.
            if let Ok(checkpoint) = serde_json::from_str::<AuditCheckpoint>(line) {
                by_size.insert(checkpoint.tree_size, checkpoint);
            }
        }
        by_size.retain(|_, checkpoint| checkpoint.anchor.is_some());
        let mut kept = String::new();
        for checkpoint in by_size.values() {
            kept.push_str(&line_of(checkpoint));
        }
        daas_core::private_file::write_atomic(&path, kept.as_bytes()).map_err(|error| {
            StoreError::Io {
                action: "rewriting",
                path: path.clone(),
                source: std::io::Error::other(error),
            }
        })?;
        let file = OpenOptions::new()
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io("opening"))?;
        Ok(Self {
            path,
            file,
            by_size,
        })
    }

    /// Records a newly signed or newly anchored checkpoint durably.
    ///
    /// # Errors
    /// The write or the sync failed.
    pub fn record(&mut self, checkpoint: AuditCheckpoint) -> Result<(), StoreError> {
        self.file
            .write_all(line_of(&checkpoint).as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|source| StoreError::Io {
                action: "appending to",
                path: self.path.clone(),
                source,
            })?;
        self.by_size.insert(checkpoint.tree_size, checkpoint);
        Ok(())
    }

    /// Marks the checkpoint of `tree_size` anchored.
    ///
    /// # Errors
    /// As [`CheckpointLog::record`].
    pub fn anchored(&mut self, tree_size: u64, anchor: AnchorRecord) -> Result<(), StoreError> {
        if let Some(mut checkpoint) = self.by_size.get(&tree_size).cloned() {
            checkpoint.anchor = Some(anchor);
            self.record(checkpoint)?;
        }
        Ok(())
    }

    /// Forgets an unanchored checkpoint the chain will never take.
    pub fn drop_pending(&mut self, tree_size: u64) {
        if self
            .by_size
            .get(&tree_size)
            .is_some_and(|checkpoint| checkpoint.anchor.is_none())
        {
            self.by_size.remove(&tree_size);
        }
    }

    /// Every checkpoint, oldest first.
    pub fn all(&self) -> impl DoubleEndedIterator<Item = &AuditCheckpoint> {
        self.by_size.values()
    }

    /// The newest checkpoint.
    pub fn latest(&self) -> Option<&AuditCheckpoint> {
        self.by_size.values().next_back()
    }

    /// The oldest checkpoint not yet anchored.
    pub fn first_pending(&self) -> Option<&AuditCheckpoint> {
        self.by_size.values().find(|c| c.anchor.is_none())
    }

    /// The checkpoint to prove leaf `index` against: the first anchored
    /// one covering it, else the newest covering it.
    pub fn covering(&self, index: u64) -> Option<&AuditCheckpoint> {
        let mut covering = self.by_size.range(index.saturating_add(1)..);
        let anchored = covering
            .clone()
            .map(|(_, checkpoint)| checkpoint)
            .find(|checkpoint| checkpoint.anchor.is_some());
        anchored.or_else(|| covering.next_back().map(|(_, checkpoint)| checkpoint))
    }
}

fn line_of(checkpoint: &AuditCheckpoint) -> String {
    // Strings, numbers and options always serialize.
    let mut line = serde_json::to_string(checkpoint).unwrap_or_default();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn checkpoint(size: u64, anchored: bool) -> AuditCheckpoint {
        AuditCheckpoint {
            tree_size: size,
            root: "00".repeat(32),
            timestamp_ms: size,
            note: String::new(),
            signature: String::new(),
            anchor: anchored.then(|| AnchorRecord {
                log_id: "0x1".into(),
                enclave_id: "0x2".into(),
                tx_digest: format!("tx{size}"),
            }),
        }
    }

    #[test]
    fn anchored_checkpoints_survive_a_restart_and_pending_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = CheckpointLog::open(dir.path()).unwrap();
        log.record(checkpoint(5, false)).unwrap();
        log.record(checkpoint(9, false)).unwrap();
        log.anchored(5, checkpoint(5, true).anchor.unwrap())
            .unwrap();
        assert_eq!(log.first_pending().unwrap().tree_size, 9);
        assert_eq!(log.covering(3).unwrap().tree_size, 5);
        assert_eq!(log.covering(6).unwrap().tree_size, 9);
        assert!(log.covering(9).is_none());
        drop(log);
        let log = CheckpointLog::open(dir.path()).unwrap();
        let sizes: Vec<u64> = log.all().map(|c| c.tree_size).collect();
        assert_eq!(sizes, [5]);
        assert!(log.first_pending().is_none());
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = CheckpointLog::open(dir.path()).unwrap();
        log.record(checkpoint(5, true)).unwrap();
        drop(log);
        let path = dir.path().join(CHECKPOINTS_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"tree_size\": 9, \"ro").unwrap();
        drop(file);
        let log = CheckpointLog::open(dir.path()).unwrap();
        assert_eq!(log.latest().unwrap().tree_size, 5);
    }
}
