//! Owner-only files written atomically: temp file, fsync, rename, fsync dir.
//! Used for everything secret or trusted on disk: the wallet's key file and
//! index, the master's webhook key and the API server's webhook files.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A private file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct PrivateFileError {
    /// What was being done.
    pub action: &'static str,
    /// The file or directory concerned.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

/// Reads a file, or `None` if it does not exist.
///
/// # Errors
/// Any read error but "not found".
pub fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, PrivateFileError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PrivateFileError {
            action: "cannot read",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Replaces `path` with `bytes`, readable and writable by the owner only,
/// so that a crash leaves either the old or the new content. A missing
/// directory is created owner-only.
///
/// # Errors
/// The step that failed, with its path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PrivateFileError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| PrivateFileError {
            action,
            path,
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(io("cannot create directory", dir))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(io("cannot create a file in", dir))?;
    set_owner_only(tmp.as_file()).map_err(io("cannot set permissions of", tmp.path()))?;
    tmp.write_all(bytes)
        .map_err(io("cannot write", tmp.path()))?;
    tmp.as_file()
        .sync_all()
        .map_err(io("cannot sync", tmp.path()))?;
    tmp.persist(path).map_err(|e| PrivateFileError {
        action: "cannot replace",
        path: path.to_owned(),
        source: e.error,
    })?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot sync directory", dir))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn set_owner_only(file: &fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_owner_only(_file: &fs::File) -> std::io::Result<()> {
    Ok(())
}
