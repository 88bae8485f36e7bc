//! The access policy file: TOML, one `[[identity]]` table per identity.
//!
//! ```toml
//! [[identity]]
//! name = "checkout-web"
//! key = "<40-character Z85 public key>"
//! call = ["orders", "payments.*"]
//!
//! [[identity]]
//! name = "orders-svc"
//! key = "..."
//! serve = ["orders"]
//! ```
//!
//! `name` and `key` are required; `call` and `serve` are lists of patterns
//! (see [`policy`](super::policy)), and an identity must grant at least one
//! pattern between them (one that grants nothing is a mistake, such as a
//! misspelt list, never a way to revoke: remove the entry instead). Every
//! error names the file, the line and the entry: a bad key, a duplicate key
//! or name, an unknown field, an empty pattern, a `*` not at the end, an
//! identity that grants nothing, or TOML that does not parse. A file with
//! no identity is valid and refuses everyone.
//!
//! Parsing needs the `config-file` feature (serde and toml); without it,
//! [`AccessPolicy::load`] fails with [`AccessFileError::Unsupported`].

use std::fmt;
use std::path::{Path, PathBuf};

use super::policy::AccessPolicy;

/// The entry an error is about: its position among the `[[identity]]`
/// tables (from 1) and its name, when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the file, from 1.
    pub index: usize,
    /// The `name` field, when readable.
    pub name: Option<String>,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "identity #{}", self.index)?;
        if let Some(name) = &self.name {
            write!(f, " ({name:?})")?;
        }
        Ok(())
    }
}

/// Why an access file cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessFileError {
    /// The file cannot be read.
    #[error("cannot read access file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("access file {}, line {line}{}: {reason}", path.display(), entry.as_ref().map(|e| format!(", {e}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The entry, when the error is inside one.
        entry: Option<Entry>,
        /// What is wrong.
        reason: String,
    },
    /// This build cannot read policy files (no `config-file` feature).
    #[error("access file {}: reading it needs reqrep-broker's config-file feature", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
    },
}

impl AccessPolicy {
    /// Reads the policy file at `path`.
    ///
    /// # Errors
    /// [`AccessFileError`] naming the file (and the line and entry of what
    /// is wrong).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, AccessFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| AccessFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses policy file text; `path` names it in errors.
    ///
    /// # Errors
    /// [`AccessFileError::Invalid`] naming the line and entry.
    #[cfg(feature = "config-file")]
    pub fn parse(text: &str, path: &Path) -> Result<Self, AccessFileError> {
        parse::parse(text, path)
    }

    /// Parses policy file text; `path` names it in errors.
    ///
    /// # Errors
    /// Always [`AccessFileError::Unsupported`]: this build has no
    /// `config-file` feature.
    #[cfg(not(feature = "config-file"))]
    pub fn parse(_text: &str, path: &Path) -> Result<Self, AccessFileError> {
        Err(AccessFileError::Unsupported {
            path: path.to_owned(),
        })
    }
}

#[cfg(feature = "config-file")]
mod parse {
    use std::ops::Range;
    use std::path::Path;

    use reqrep_core::curve::CurveKey;
    use serde::Deserialize;
    use toml::Spanned;

    use super::{AccessFileError, Entry};
    use crate::access::policy::{AccessPolicy, Identity, Pattern};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawFile {
        #[serde(default)]
        identity: Vec<Spanned<RawIdentity>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawIdentity {
        name: Spanned<String>,
        key: Spanned<String>,
        #[serde(default)]
        call: Vec<Spanned<String>>,
        #[serde(default)]
        serve: Vec<Spanned<String>>,
    }

    /// The same file read without the schema, to name the entry a schema
    /// error is in.
    #[derive(Deserialize)]
    struct Lenient {
        #[serde(default)]
        identity: Vec<Spanned<toml::Table>>,
    }

    /// The line (from 1) of byte `offset` in `text`.
    fn line_of(text: &str, offset: usize) -> usize {
        let end = offset.min(text.len());
        text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub(super) fn parse(text: &str, path: &Path) -> Result<AccessPolicy, AccessFileError> {
        let invalid =
            |span: Range<usize>, entry: Option<Entry>, reason: String| AccessFileError::Invalid {
                path: path.to_owned(),
                line: line_of(text, span.start),
                entry,
                reason,
            };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            invalid(
                span.clone(),
                entry_at(text, span.start),
                e.message().to_owned(),
            )
        })?;
        let mut identities: Vec<Identity> = Vec::with_capacity(raw.identity.len());
        let mut lines: Vec<usize> = Vec::with_capacity(raw.identity.len());
        for (index, spanned) in raw.identity.into_iter().enumerate() {
            let entry_span = spanned.span();
            let raw = spanned.into_inner();
            let entry = Entry {
                index: index + 1,
                name: Some(raw.name.get_ref().clone()),
            };
            let at =
                |span: Range<usize>, reason: String| invalid(span, Some(entry.clone()), reason);
            if raw.name.get_ref().trim().is_empty() {
                return Err(at(raw.name.span(), "empty name".into()));
            }
            let key: CurveKey = raw
                .key
                .get_ref()
                .parse()
                .map_err(|e| at(raw.key.span(), format!("bad key: {e}")))?;
            if let Some(first) = identities.iter().position(|i| i.key == key) {
                return Err(at(
                    raw.key.span(),
                    format!(
                        "duplicate key: identity {:?} on line {} has it already",
                        identities[first].name, lines[first]
                    ),
                ));
            }
            if let Some(first) = identities
                .iter()
                .position(|i| &i.name == raw.name.get_ref())
            {
                return Err(at(
                    raw.name.span(),
                    format!(
                        "duplicate name: identity #{} on line {} has it already",
                        first + 1,
                        lines[first]
                    ),
                ));
            }
            let patterns = |list: Vec<Spanned<String>>, what: &str| {
                list.into_iter()
                    .map(|p| {
                        p.get_ref()
                            .parse::<Pattern>()
                            .map_err(|e| at(p.span(), format!("{what} pattern: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            let call = patterns(raw.call, "call")?;
            let serve = patterns(raw.serve, "serve")?;
            if call.is_empty() && serve.is_empty() {
                return Err(at(
                    entry_span.clone(),
                    "grants nothing: give it call or serve patterns, or remove it".into(),
                ));
            }
            lines.push(line_of(text, entry_span.start));
            identities.push(Identity {
                name: raw.name.into_inner(),
                key,
                call,
                serve,
            });
        }
        // Duplicates were refused above, with their lines.
        AccessPolicy::new(identities).map_err(|e| invalid(0..0, None, e.to_string()))
    }

    /// The entry holding byte `offset`, from a schema-less reading of the
    /// file (`None` when the offset is in no entry or the file is not
    /// TOML at all).
    fn entry_at(text: &str, offset: usize) -> Option<Entry> {
        let lenient: Lenient = toml::from_str(text).ok()?;
        // An entry's span may start at its header or at its first key;
        // the entry holding `offset` is the last one starting before it.
        let index = lenient
            .identity
            .iter()
            .rposition(|e| e.span().start <= offset)?;
        let table = lenient.identity[index].get_ref();
        Some(Entry {
            index: index + 1,
            name: table
                .get("name")
                .and_then(toml::Value::as_str)
                .map(str::to_owned),
        })
    }
}

#[cfg(all(test, feature = "config-file"))]
mod tests {
    use super::*;
    use crate::access::policy::tests::key;

    const FILE: &str = "/etc/reqrep/access.toml";

    fn parse(text: &str) -> Result<AccessPolicy, AccessFileError> {
        AccessPolicy::parse(text, Path::new(FILE))
    }

    /// The error's line, entry and reason, and its text.
    fn error(text: &str) -> (usize, Option<Entry>, String, String) {
        match parse(text) {
            Err(e @ AccessFileError::Invalid { .. }) => {
                let shown = e.to_string();
                let AccessFileError::Invalid {
                    line,
                    entry,
                    reason,
                    ..
                } = e
                else {
                    unreachable!()
                };
                assert!(
                    shown.starts_with(&format!("access file {FILE}, line {line}")),
                    "{shown}"
                );
                (line, entry, reason, shown)
            }
            other => panic!("expected an invalid file, got {other:?}"),
        }
    }

    fn entry(index: usize, name: &str) -> Option<Entry> {
        Some(Entry {
            index,
            name: Some(name.into()),
        })
    }

    #[test]
    fn the_example_policy_parses() {
        let text = format!(
            "# identities\n[[identity]]\nname = \"checkout-web\"\nkey = \"{}\"\ncall = [\"orders\", \"payments.*\"]\n\n\
             [[identity]]\nname = \"orders-svc\"\nkey = \"{}\"\nserve = [\"orders\"]\ncall = [\"billing\"]\n",
            key(1).to_z85(),
            key(2).to_z85()
        );
        let policy = parse(&text).unwrap();
        assert_eq!(policy.len(), 2);
        let web = policy.by_key(&key(1)).unwrap();
        assert_eq!(web.name, "checkout-web");
        assert!(web.may_call("payments.eu") && !web.may_call("payments"));
        let svc = policy.by_key(&key(2)).unwrap();
        assert!(svc.may_serve("orders") && svc.may_call("billing"));
        assert!(
            parse("").unwrap().is_empty(),
            "no identity: everyone refused"
        );
    }

    #[test]
    fn each_malformed_entry_is_named_with_its_line() {
        let k1 = key(1).to_z85();
        let k2 = key(2).to_z85();
        let head =
            |name: &str, k: &str| format!("[[identity]]\nname = \"{name}\"\nkey = \"{k}\"\n");

        let (line, at, reason, _) = error(&format!(
            "{}call = [\"a\"]\n{}",
            head("a", &k1),
            head("b", "short")
        ));
        assert_eq!((line, at), (7, entry(2, "b")));
        assert!(
            reason.starts_with("bad key: a CURVE key is 40 Z85 characters"),
            "{reason}"
        );

        let (line, at, reason, _) = error(&format!(
            "{}call = [\"a\"]\n\n{}call = [\"b\"]\n",
            head("a", &k1),
            head("b", &k1)
        ));
        assert_eq!((line, at), (8, entry(2, "b")));
        assert_eq!(
            reason,
            "duplicate key: identity \"a\" on line 1 has it already"
        );

        let (line, at, reason, _) = error(&format!(
            "{}call = [\"a\"]\n{}call = [\"b\"]\n",
            head("a", &k1),
            head("a", &k2)
        ));
        assert_eq!((line, at), (6, entry(2, "a")));
        assert_eq!(
            reason,
            "duplicate name: identity #1 on line 1 has it already"
        );

        let (line, at, reason, shown) = error(&format!(
            "{}call = [\"a\"]\ncalls = [\"b\"]\n",
            head("a", &k1)
        ));
        assert_eq!((line, at), (5, entry(1, "a")));
        assert!(reason.contains("unknown field `calls`"), "{reason}");
        assert!(shown.contains("identity #1 (\"a\")"), "{shown}");

        let (line, at, reason, _) = error(&format!("{}call = [\"a\", \"\"]\n", head("a", &k1)));
        assert_eq!((line, at), (4, entry(1, "a")));
        assert_eq!(reason, "call pattern: empty pattern");

        let (line, _, reason, _) = error(&format!(
            "{}serve = [\n  \"pay*ments\",\n]\n",
            head("a", &k1)
        ));
        assert_eq!(line, 5);
        assert!(
            reason.starts_with("serve pattern: pattern \"pay*ments\" has a `*`"),
            "{reason}"
        );

        let (line, at, reason, _) = error(&format!("# x\n{}call = []\n", head("idle", &k1)));
        assert_eq!((line, at), (2, entry(1, "idle")));
        assert!(reason.starts_with("grants nothing"), "{reason}");

        let (line, at, reason, _) = error(&format!(
            "{}call = [\"a\"]\n[[identity]]\nname = \"b\"\n",
            head("a", &k1)
        ));
        assert_eq!(at, entry(2, "b"), "line {line}: {reason}");
        assert!(reason.contains("missing field `key`"), "{reason}");

        let (line, at, reason, _) = error("[[identity]\nname = 1\n");
        assert_eq!((line, at), (1, None));
        assert!(!reason.is_empty());

        let (_, at, reason, _) = error(&format!("{}call = \"orders\"\n", head("a", &k1)));
        assert_eq!(at, entry(1, "a"));
        assert!(reason.contains("invalid type"), "{reason}");

        let (line, at, reason, _) = error("[[identities]]\nname = \"a\"\n");
        assert_eq!((line, at), (1, None));
        assert!(reason.contains("unknown field `identities`"), "{reason}");
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let err = AccessPolicy::load("/nonexistent/reqrep-access.toml").unwrap_err();
        assert!(matches!(err, AccessFileError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with("cannot read access file /nonexistent/reqrep-access.toml: "),
            "{err}"
        );
    }
}
