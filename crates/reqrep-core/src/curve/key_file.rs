//! CURVE key files: a key pair (or a secret key alone) in a text file.
//!
//! The format, as `reqrep keygen --secret-file` writes it:
//!
//! ```text
//! # reqrep CURVE key pair: keep this file secret
//! public-key: <40 Z85 characters>
//! secret-key: <40 Z85 characters>
//! ```
//!
//! Blank lines and lines starting with `#` are ignored. A file holding a
//! single bare key (the older broker key file) is read as a secret key.
//! Whenever a secret key is read, its public key is derived from it, and a
//! `public-key` line that does not match is an error: a file cannot claim an
//! identity its secret does not prove.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{CurveKey, CurveKeyPair};

/// Why a key file cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file cannot be read.
    #[error("cannot read key file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not a key line, or holds no valid key.
    #[error("key file {}, line {line}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The file holds no secret key.
    #[error("key file {} holds no secret-key line", path.display())]
    NoSecret {
        /// The file.
        path: PathBuf,
    },
    /// The `public-key` line is not the public key of the `secret-key`.
    #[error("key file {}: its public-key is not the public key of its secret-key", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
    },
    /// The public key cannot be derived: the linked libzmq has no CURVE.
    #[error("key file {}: {source}", path.display())]
    Curve {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: crate::socket::SocketError,
    },
}

/// What a key file says, before its keys are checked against each other.
#[derive(Debug, Default, PartialEq, Eq)]
struct Parsed {
    public: Option<CurveKey>,
    secret: Option<CurveKey>,
}

/// Parses the text of a key file; errors carry the line number (from 1).
fn parse(text: &str) -> Result<Parsed, (usize, String)> {
    let mut parsed = Parsed::default();
    let mut bare = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let number = index + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Z85 has ':' in its alphabet: a line of exactly one key's length
        // is a bare key, anything else is `label: key`.
        let (label, value) = match line.split_once(':') {
            Some((label, value)) if line.chars().count() != 40 => {
                (Some(label.trim()), value.trim())
            }
            _ => (None, line),
        };
        let key: CurveKey = value
            .parse()
            .map_err(|e: super::CurveKeyError| (number, e.to_string()))?;
        let slot = match label {
            Some("public-key") => &mut parsed.public,
            Some("secret-key") => &mut parsed.secret,
            Some(other) => {
                return Err((
                    number,
                    format!("unknown label {other:?}: expected public-key or secret-key"),
                ));
            }
            None => {
                bare.push(number);
                &mut parsed.secret
            }
        };
        if slot.replace(key).is_some() {
            return Err((number, "a second key of the same kind".into()));
        }
    }
    if !bare.is_empty() && (bare.len() > 1 || parsed.public.is_some()) {
        return Err((
            bare[bare.len() - 1],
            "a bare key is only allowed alone (a secret key file)".into(),
        ));
    }
    Ok(parsed)
}

impl CurveKeyPair {
    /// Reads the key pair in the key file at `path` (see the module docs);
    /// a file holding only the secret key is completed with its derived
    /// public key.
    ///
    /// # Errors
    /// A [`KeyFileError`] naming the file (and the line, for a malformed
    /// one).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parsed = parse(&text).map_err(|(line, reason)| KeyFileError::Malformed {
            path: path.to_owned(),
            line,
            reason,
        })?;
        let secret = parsed.secret.ok_or_else(|| KeyFileError::NoSecret {
            path: path.to_owned(),
        })?;
        let pair = Self::from_secret(secret).map_err(|source| KeyFileError::Curve {
            path: path.to_owned(),
            source,
        })?;
        if parsed.public.is_some_and(|public| public != pair.public) {
            return Err(KeyFileError::Mismatch {
                path: path.to_owned(),
            });
        }
        Ok(pair)
    }

    /// The key file text for this pair.
    pub fn to_key_file(&self) -> String {
        format!(
            "# reqrep CURVE key pair: keep this file secret\npublic-key: {}\nsecret-key: {}\n",
            self.public.to_z85(),
            self.secret.to_z85()
        )
    }

    /// Writes this pair's key file to `path`, which must not exist yet, with
    /// permissions for its owner only (mode 0600 on Unix).
    ///
    /// # Errors
    /// The I/O error (an existing file is `AlreadyExists`).
    pub fn write_key_file(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        file.write_all(self.to_key_file().as_bytes())?;
        file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CurveKey {
        CurveKey([byte; 32])
    }

    #[test]
    fn labelled_lines_comments_and_blank_lines() {
        let text = format!(
            "# a comment\n\npublic-key: {}\n  secret-key:{}  \n",
            key(1).to_z85(),
            key(2).to_z85()
        );
        assert_eq!(
            parse(&text),
            Ok(Parsed {
                public: Some(key(1)),
                secret: Some(key(2)),
            })
        );
    }

    #[test]
    fn a_bare_key_alone_is_a_secret_key() {
        // One with a ':' (part of the Z85 alphabet) too.
        let colon: CurveKey = format!("{}:{}", "a".repeat(20), "b".repeat(19))
            .parse()
            .expect("a key with a colon");
        assert_eq!(parse(&colon.to_z85()).map(|p| p.secret), Ok(Some(colon)));
        let text = format!("{}\n", key(3).to_z85());
        assert_eq!(
            parse(&text),
            Ok(Parsed {
                public: None,
                secret: Some(key(3)),
            })
        );
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let bad_key = "secret-key: short\n";
        assert!(matches!(parse(bad_key), Err((1, reason)) if reason.contains("40 Z85")));
        let label = format!("# c\nprivate-key: {}\n", key(1).to_z85());
        assert!(matches!(parse(&label), Err((2, reason)) if reason.contains("private-key")));
        let twice = format!("secret-key: {0}\nsecret-key: {0}\n", key(1).to_z85());
        assert!(matches!(parse(&twice), Err((2, _))));
        let mixed = format!("public-key: {}\n{}\n", key(1).to_z85(), key(2).to_z85());
        assert!(matches!(parse(&mixed), Err((2, reason)) if reason.contains("bare")));
    }

    #[test]
    fn written_files_load_back_and_mismatches_are_refused() {
        let dir = std::env::temp_dir().join(format!("reqrep-key-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        match CurveKeyPair::generate() {
            Ok(pair) => {
                let path = dir.join("pair.key");
                pair.write_key_file(&path).expect("write");
                assert_eq!(CurveKeyPair::load(&path).expect("load"), pair);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
                    assert_eq!(mode & 0o777, 0o600);
                }
                let again = pair.write_key_file(&path).expect_err("never overwritten");
                assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);

                let secret_only = dir.join("secret.key");
                std::fs::write(&secret_only, format!("{}\n", pair.secret.to_z85())).expect("w");
                assert_eq!(CurveKeyPair::load(&secret_only).expect("derived"), pair);

                let other = CurveKeyPair::generate().expect("other");
                let lying = dir.join("lying.key");
                let text = format!(
                    "public-key: {}\nsecret-key: {}\n",
                    other.public.to_z85(),
                    pair.secret.to_z85()
                );
                std::fs::write(&lying, text).expect("w");
                assert!(matches!(
                    CurveKeyPair::load(&lying),
                    Err(KeyFileError::Mismatch { .. })
                ));
            }
            Err(_) => {
                let path = dir.join("secret.key");
                std::fs::write(&path, format!("{}\n", key(9).to_z85())).expect("w");
                let err = CurveKeyPair::load(&path).expect_err("no CURVE here");
                assert!(matches!(err, KeyFileError::Curve { .. }), "{err}");
            }
        }
        let missing = dir.join("missing.key");
        let err = CurveKeyPair::load(&missing).expect_err("missing");
        assert!(err.to_string().contains("missing.key"), "{err}");
        let empty = dir.join("empty.key");
        std::fs::write(&empty, "# nothing\n").expect("w");
        assert!(matches!(
            CurveKeyPair::load(&empty),
            Err(KeyFileError::NoSecret { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
