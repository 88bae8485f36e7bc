//! The settings as a TOML file: reading one (`--config`) and writing one
//! (`--print-config`). Keys are the `snake_case` names of the flags,
//! durations whole milliseconds, and unknown keys are errors.

use std::path::Path;

use super::{BrokerConfig, ConfigError, PartialConfig};

/// One line of `--print-config`: a key and its value, or a comment saying
/// the setting is unset and what that means.
pub(crate) struct FileRow {
    pub(crate) key: &'static str,
    pub(crate) value: Option<toml::Value>,
    pub(crate) unset: Option<&'static str>,
}

impl PartialConfig {
    /// Parses settings from TOML text (the config file schema).
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for invalid TOML, an unknown key or a value of
    /// the wrong type.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::parse_toml(text, Path::new("<string>"))
    }

    /// Reads and parses the config file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Parse`]
    /// when its content is rejected; both name the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_toml(&text, path)
    }

    fn parse_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }
}

impl BrokerConfig {
    /// Settings from TOML text (the config file schema) over the defaults.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for text that is not a valid config file,
    /// [`ConfigError::Invalid`] for a setting out of range.
    pub fn from_toml_str(text: &str) -> Result<BrokerConfig, ConfigError> {
        Self::resolve(
            PartialConfig::default(),
            Some(PartialConfig::from_toml_str(text)?),
        )
    }

    /// Layers `flags` over the config file at `file` (when given) over the
    /// defaults: what the `reqrep-broker` binary runs with.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`] for the file,
    /// [`ConfigError::Invalid`] for a setting out of range.
    pub fn load(flags: PartialConfig, file: Option<&Path>) -> Result<BrokerConfig, ConfigError> {
        let file = file.map(PartialConfig::from_file).transpose()?;
        Self::resolve(flags, file)
    }

    /// These settings as a config file (what `--print-config` prints): every
    /// key, in the schema [`PartialConfig::from_toml_str`] reads, so the text
    /// loads back to the same settings.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# reqrep-broker settings, resolved from flags, REQREP_* variables, \
             the config file and defaults.\n",
        );
        for row in self.file_rows() {
            match (row.value, row.unset) {
                (Some(value), _) => out.push_str(&format!("{} = {value}\n", row.key)),
                (None, Some(meaning)) => {
                    out.push_str(&format!("# {}: not set ({meaning})\n", row.key));
                }
                (None, None) => out.push_str(&format!("# {}: not set\n", row.key)),
            }
        }
        out
    }
}
