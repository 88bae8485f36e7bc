//! Files in the temp directory for tests (key files, config files),
//! unique per process and test, removed on drop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A path in the temp directory, removed (if it exists) on drop.
#[derive(Debug)]
pub struct TempFile(PathBuf);

impl TempFile {
    /// A fresh path ending in `name`, not created.
    pub fn path(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Self(std::env::temp_dir().join(format!(
            "reqrep-test-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }

    /// A fresh file ending in `name` holding `text`.
    ///
    /// # Panics
    /// When it cannot be written.
    pub fn with_text(name: &str, text: &str) -> Self {
        let file = Self::path(name);
        std::fs::write(&file.0, text).expect("write temp file");
        file
    }

    /// The path as text (temp paths are UTF-8 in test environments).
    ///
    /// # Panics
    /// When it is not UTF-8.
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for TempFile {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
