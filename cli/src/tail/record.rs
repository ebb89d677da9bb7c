//! `--record F`: every message received, with its `target`, written to a temporary file beside
//! `F` and moved into place when tail ends, so `F` is never half-written.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// An NDJSON recording in progress.
pub(crate) struct Recording {
    path: PathBuf,
    out: BufWriter<NamedTempFile>,
}

impl Recording {
    pub(crate) fn create(path: &Path) -> Result<Recording, String> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let file = NamedTempFile::new_in(dir)
            .map_err(|e| format!("cannot record to {}: {e}", path.display()))?;
        Ok(Recording {
            path: path.to_owned(),
            out: BufWriter::with_capacity(256 * 1024, file),
        })
    }

    /// Appends one line (already carrying its target).
    pub(crate) fn write(&mut self, line: &[u8]) -> Result<(), String> {
        self.out
            .write_all(line)
            .map_err(|e| format!("recording to {}: {e}", self.path.display()))
    }

    /// Moves the recording into place, replacing a file of that name.
    pub(crate) fn finish(self) -> Result<PathBuf, String> {
        self.put(false)
    }

    /// Moves the recording into place unless a file of that name exists.
    pub(crate) fn finish_new(self) -> Result<PathBuf, String> {
        self.put(true)
    }

    fn put(self, no_clobber: bool) -> Result<PathBuf, String> {
        let path = self.path;
        let file = self
            .out
            .into_inner()
            .map_err(|e| format!("recording to {}: {}", path.display(), e.error()))?;
        file.as_file()
            .sync_all()
            .map_err(|e| format!("recording to {}: {e}", path.display()))?;
        let put = if no_clobber {
            file.persist_noclobber(&path)
        } else {
            file.persist(&path)
        };
        put.map_err(|e| format!("cannot write {}: {}", path.display(), e.error))?;
        Ok(path)
    }
}
