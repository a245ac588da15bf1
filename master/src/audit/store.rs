//! The append-only file of audit leaves and the Merkle tree over it.
//!
//! `audit-leaves.log` in the state directory holds one record per event:
//! `len: u32 LE ‖ leaf bytes ‖ first 4 bytes of the leaf hash`. A batch is
//! written with one `write` and made durable with `fsync` before it is
//! acknowledged, so a crash loses only unacknowledged events. At start the
//! file is read back: the tree and the `auditID` index are rebuilt, and a
//! torn last record (a crash mid-write) is cut off. A bad record that is
//! not the last one is corruption, and the master refuses to start on it
//! rather than silently dropping acknowledged events.
//!
//! The file may live on untrusted storage: the signed, anchored
//! checkpoints make any change evident.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use daas_core::audit::merkle::leaf_hash;
use daas_core::audit::{AuditLeaf, Hash, MerkleTree};

/// The leaf file's name in the state directory.
pub const LEAVES_FILE: &str = "audit-leaves.log";
/// Largest leaf accepted from the file (the parser bounds leaves well
/// below this).
const MAX_RECORD_LEN: u32 = 1 << 20;

/// Why the leaf file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A record before the end of the file is damaged.
    #[error(
        "{path} is corrupt at byte {offset} ({reason}), before its end; refusing to start \
         rather than drop acknowledged events"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// What [`LeafStore::append`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Appended {
    /// Events added to the tree.
    pub added: usize,
    /// Events already in the log (same `auditID`), skipped.
    pub duplicates: usize,
}

/// The leaf file, the tree over it and the `auditID` index.
#[derive(Debug)]
pub struct LeafStore {
    path: PathBuf,
    file: File,
    tree: MerkleTree,
    /// Byte offset of each record.
    offsets: Vec<u64>,
    /// `auditID` → leaf index.
    index: HashMap<String, u64>,
    end: u64,
}

impl LeafStore {
    /// Opens (or creates) the leaf file in `state_dir` and rebuilds the
    /// tree from it, cutting off a torn last record.
    ///
    /// # Errors
    /// The file cannot be read or written, or is corrupt before its end.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join(LEAVES_FILE);
        let io = |action| {
            let path = path.clone();
            move |source| StoreError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(state_dir).map_err(io("creating the directory of"))?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(io("opening"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("reading"))?;
        let mut store = Self {
            path: path.clone(),
            file,
            tree: MerkleTree::new(),
            offsets: Vec::new(),
            index: HashMap::new(),
            end: 0,
        };
        let good = store.replay(&bytes)?;
        if good < bytes.len() as u64 {
            tracing::warn!(
                path = %path.display(),
                kept = good,
                dropped = bytes.len() as u64 - good,
                "cutting off a torn last record (a crash during a write that was never acknowledged)"
            );
            store.file.set_len(good).map_err(io("truncating"))?;
            store.file.sync_all().map_err(io("syncing"))?;
        }
        store.end = good;
        Ok(store)
    }

    /// Rebuilds the tree from the file's bytes; returns the length of the
    /// good prefix.
    fn replay(&mut self, bytes: &[u8]) -> Result<u64, StoreError> {
        let mut at = 0usize;
        while at < bytes.len() {
            match parse_record(&bytes[at..]) {
                Ok((leaf, hash, len)) => {
                    self.insert(at as u64, &leaf.audit_id, hash);
                    at += len;
                }
                Err(RecordError::Torn) => break,
                Err(RecordError::Bad(reason)) => {
                    // Only the last record may be damaged by a crash.
                    let record_end = record_len(&bytes[at..]).map(|len| at + len);
                    if record_end.is_some_and(|end| end >= bytes.len()) {
                        break;
                    }
                    return Err(StoreError::Corrupt {
                        path: self.path.clone(),
                        offset: at as u64,
                        reason,
                    });
                }
            }
        }
        Ok(at as u64)
    }

    fn insert(&mut self, offset: u64, audit_id: &str, hash: Hash) {
        let index = self.tree.size();
        self.tree.push_hash(hash);
        self.offsets.push(offset);
        self.index.insert(audit_id.to_owned(), index);
    }

    /// Appends the events not yet in the log (by `auditID`, also within
    /// the batch) with one write and one `fsync`; returns once durable.
    ///
    /// # Errors
    /// The write or the sync failed; nothing of the batch is in the tree
    /// then, and the file is cut back to where it was.
    pub fn append(&mut self, leaves: &[AuditLeaf]) -> Result<Appended, StoreError> {
        let mut outcome = Appended::default();
        let mut buffer = Vec::new();
        let mut fresh: Vec<(u64, &str, Hash)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for leaf in leaves {
            if self.index.contains_key(&leaf.audit_id) || !seen.insert(leaf.audit_id.as_str()) {
                outcome.duplicates += 1;
                continue;
            }
            let bytes = leaf.to_bytes();
            let hash = leaf_hash(&bytes);
            fresh.push((self.end + buffer.len() as u64, &leaf.audit_id, hash));
            encode_record(&bytes, &hash, &mut buffer);
        }
        if fresh.is_empty() {
            return Ok(outcome);
        }
        let written = self
            .file
            .write_all(&buffer)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            // Leave no half batch behind: it was not acknowledged.
            let _ = self.file.set_len(self.end);
            return Err(StoreError::Io {
                action: "appending to",
                path: self.path.clone(),
                source,
            });
        }
        self.end += buffer.len() as u64;
        for (offset, audit_id, hash) in fresh {
            self.insert(offset, audit_id, hash);
            outcome.added += 1;
        }
        Ok(outcome)
    }

    /// Events stored.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The tree.
    pub fn tree(&self) -> &MerkleTree {
        &self.tree
    }

    /// The leaf index of `audit_id`, if stored.
    pub fn find(&self, audit_id: &str) -> Option<u64> {
        self.index.get(audit_id).copied()
    }

    /// Reads leaf `index` back from the file and checks it against the
    /// tree.
    ///
    /// # Errors
    /// The read failed, or the file no longer holds what the tree says
    /// (changed underneath the master).
    pub fn leaf(&self, index: u64) -> Result<Option<AuditLeaf>, StoreError> {
        let Some(&offset) = usize::try_from(index)
            .ok()
            .and_then(|i| self.offsets.get(i))
        else {
            return Ok(None);
        };
        let corrupt = |reason| StoreError::Corrupt {
            path: self.path.clone(),
            offset,
            reason,
        };
        let mut header = [0u8; 4];
        self.read_at(&mut header, offset)?;
        let len = u32::from_le_bytes(header);
        if len > MAX_RECORD_LEN {
            return Err(corrupt("record length out of range"));
        }
        let mut record = vec![0u8; len as usize + 4];
        self.read_at(&mut record, offset + 4)?;
        let (bytes, _) = record.split_at(len as usize);
        let leaf = AuditLeaf::from_bytes(bytes).map_err(|_| corrupt("leaf does not decode"))?;
        if Ok(leaf.hash()) != self.tree.leaf(index) {
            return Err(corrupt("leaf changed since it was stored"));
        }
        Ok(Some(leaf))
    }

    fn read_at(&self, buffer: &mut [u8], offset: u64) -> Result<(), StoreError> {
        self.file
            .read_exact_at(buffer, offset)
            .map_err(|source| StoreError::Io {
                action: "reading",
                path: self.path.clone(),
                source,
            })
    }
}

/// Appends the record of `leaf`, whose leaf hash is `hash`.
fn encode_record(leaf: &[u8], hash: &Hash, out: &mut Vec<u8>) {
    // The parser bounds leaves far below u32::MAX.
    let len = u32::try_from(leaf.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(leaf);
    out.extend_from_slice(&hash[..4]);
}

enum RecordError {
    /// The record runs past the end of the file.
    Torn,
    /// The record is complete but wrong.
    Bad(&'static str),
}

/// The whole record's length as its header says, if the header is there.
fn record_len(bytes: &[u8]) -> Option<usize> {
    let header: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some(4 + u32::from_le_bytes(header) as usize + 4)
}

/// The record at the start of `bytes`: its leaf, leaf hash and length.
fn parse_record(bytes: &[u8]) -> Result<(AuditLeaf, Hash, usize), RecordError> {
    let Some(len) = record_len(bytes) else {
        return Err(RecordError::Torn);
    };
    if len - 8 > MAX_RECORD_LEN as usize {
        return Err(RecordError::Bad("record length out of range"));
    }
    let Some(record) = bytes.get(..len) else {
        return Err(RecordError::Torn);
    };
    let leaf = &record[4..len - 4];
    let hash = leaf_hash(leaf);
    if record[len - 4..] != hash[..4] {
        return Err(RecordError::Bad("checksum mismatch"));
    }
    let leaf = AuditLeaf::from_bytes(leaf).map_err(|_| RecordError::Bad("leaf does not decode"))?;
    Ok((leaf, hash, len))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    pub(crate) fn leaf(id: &str) -> AuditLeaf {
        AuditLeaf {
            version: 1,
            audit_id: id.to_owned(),
            stage: "ResponseComplete".into(),
            stage_timestamp: "2026-12-04T13:00:00Z".into(),
            user: "sui:0xabc".into(),
            groups: vec!["daas:viewer".into()],
            impersonated_user: String::new(),
            verb: "get".into(),
            api_group: String::new(),
            resource: "pods".into(),
            subresource: String::new(),
            namespace: "default".into(),
            name: "p".into(),
            request_uri: "/api/v1/namespaces/default/pods/p".into(),
            response_code: 200,
        }
    }

    #[test]
    fn appended_events_survive_a_reopen_and_duplicates_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LeafStore::open(dir.path()).unwrap();
        let outcome = store.append(&[leaf("a"), leaf("b"), leaf("a")]).unwrap();
        assert_eq!(
            outcome,
            Appended {
                added: 2,
                duplicates: 1
            }
        );
        assert_eq!(store.append(&[leaf("b")]).unwrap().duplicates, 1);
        let root = store.tree().root();
        drop(store);
        let store = LeafStore::open(dir.path()).unwrap();
        assert_eq!(store.size(), 2);
        assert_eq!(store.tree().root(), root);
        assert_eq!(store.find("b"), Some(1));
        assert_eq!(store.leaf(1).unwrap().unwrap(), leaf("b"));
        assert_eq!(store.leaf(2).unwrap(), None);
    }

    #[test]
    fn a_torn_last_record_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LeafStore::open(dir.path()).unwrap();
        store.append(&[leaf("a"), leaf("b")]).unwrap();
        drop(store);
        let path = dir.path().join(LEAVES_FILE);
        let full = std::fs::metadata(&path).unwrap().len();
        // A crash in the middle of writing a third record.
        let mut torn = Vec::new();
        let bytes = leaf("c").to_bytes();
        encode_record(&bytes, &leaf_hash(&bytes), &mut torn);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(file);
        let mut store = LeafStore::open(dir.path()).unwrap();
        assert_eq!(store.size(), 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), full);
        store.append(&[leaf("c")]).unwrap();
        drop(store);
        assert_eq!(LeafStore::open(dir.path()).unwrap().size(), 3);
    }

    #[test]
    fn corruption_before_the_end_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LeafStore::open(dir.path()).unwrap();
        store.append(&[leaf("a"), leaf("b")]).unwrap();
        drop(store);
        let path = dir.path().join(LEAVES_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[6] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let error = LeafStore::open(dir.path()).unwrap_err();
        assert!(
            matches!(error, StoreError::Corrupt { offset: 0, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_leaf_changed_underneath_is_detected_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LeafStore::open(dir.path()).unwrap();
        store.append(&[leaf("a")]).unwrap();
        // Rewrite the record in place with another event of the same size.
        let path = dir.path().join(LEAVES_FILE);
        let mut other = leaf("a");
        other.verb = "put".into();
        let mut record = Vec::new();
        let bytes = other.to_bytes();
        encode_record(&bytes, &leaf_hash(&bytes), &mut record);
        std::fs::write(&path, record).unwrap();
        assert!(matches!(store.leaf(0), Err(StoreError::Corrupt { .. })));
    }
}
