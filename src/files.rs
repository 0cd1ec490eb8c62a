//! Every file promptc reads from a user or writes for one goes through here.
//!
//! Reads are bounded and refuse what is not a regular file (a FIFO would
//! block forever, a directory gives a baffling error). Writes are atomic: a
//! temporary file in the same folder, written, synced and renamed over the
//! target, so a full disk or a kill leaves the old file or the new one, never
//! half of one; the text is redacted of registered secrets on the way. Every
//! error names the file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A file that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {what}: {source}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// `cannot read`, `cannot write`, …
    pub what: &'static str,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    fn new(path: &Path, what: &'static str, source: std::io::Error) -> FileError {
        FileError {
            path: path.to_path_buf(),
            what,
            source,
        }
    }
}

/// Reads a regular file of at most `max` bytes.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let err = |e| FileError::new(path, "cannot read", e);
    let meta = std::fs::metadata(path).map_err(err)?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(err(std::io::Error::other(format!(
            "{kind}, expected a file"
        ))));
    }
    let file = std::fs::File::open(path).map_err(err)?;
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > max {
        return Err(err(std::io::Error::other(format!(
            "larger than {max} bytes, the most promptc reads of this kind of file"
        ))));
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file of at most `max` bytes.
pub fn read_text(path: &Path, max: u64) -> Result<String, FileError> {
    let bytes = read_bounded(path, max)?;
    String::from_utf8(bytes).map_err(|e| {
        FileError::new(
            path,
            "cannot read",
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            ),
        )
    })
}

/// Writes `text` to `path` atomically, creating missing folders, with every
/// registered secret redacted.
pub fn write_text(path: &Path, text: &str) -> Result<(), FileError> {
    write_bytes(path, crate::secret::redact(text).as_bytes())
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename), creating
/// missing folders. Text should go through [`write_text`].
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let err = |e| FileError::new(path, "cannot write", e);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    // The rename is durable once the folder is synced; where a folder cannot
    // be opened for syncing (some platforms), the rename still happened.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/pack.json");
        write_text(&p, "{\"a\": 1}\n").unwrap();
        write_text(&p, "{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{}\n");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("pack.json")]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_names_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pack.json");
        std::fs::write(&p, "old").unwrap();
        // A directory in the way of the rename: the write fails after the temp file.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), "").unwrap();
        let err = write_text(&blocked, "new").unwrap_err();
        assert_eq!(err.path, blocked);
        assert!(
            err.to_string()
                .starts_with(&format!("{}: cannot write", blocked.display()))
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn reads_refuse_directories_and_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_text(dir.path(), 10).unwrap_err().to_string();
        assert!(err.contains("a directory, expected a file"), "{err}");
        let p = dir.path().join("big");
        std::fs::write(&p, "0123456789A").unwrap();
        let err = read_text(&p, 10).unwrap_err().to_string();
        assert!(err.contains("larger than 10 bytes"), "{err}");
        assert_eq!(read_text(&p, 11).unwrap(), "0123456789A");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        let ok = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(ok.success());
        let err = read_text(&p, 10).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn written_text_never_carries_a_registered_secret() {
        crate::secret::register("sk-files-test-0123456789");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.md");
        write_text(&p, "key sk-files-test-0123456789 here").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "key *** here");
    }
}
