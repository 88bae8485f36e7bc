//! The settings as clap arguments: one `--flag` with a `REQREP_*` variable
//! per setting (clap lets the flag beat the variable). The table in
//! `settings.rs` calls these for each row.

use clap::builder::ValueParser;
use clap::{Arg, ArgAction, ArgMatches};

use super::values::Kind;

/// The names and help of one setting's argument.
pub(crate) struct ArgSpec {
    /// Argument id: the file key.
    pub(crate) id: &'static str,
    /// The long flag, without `--`.
    pub(crate) flag: &'static str,
    /// The environment variable.
    pub(crate) env: &'static str,
    /// What `--help` calls the value.
    pub(crate) value_name: &'static str,
    /// The help, to which the default is appended.
    pub(crate) help: &'static str,
    /// What an unset setting means, for settings without a default.
    pub(crate) unset: Option<&'static str>,
}

/// The argument for one setting, its help ending in `Default: ...`.
pub(crate) fn arg<K: Kind>(spec: ArgSpec, default: &K::Value, parser: ValueParser) -> Arg {
    let default = K::show(default).unwrap_or_else(|| match spec.unset {
        Some(meaning) => format!("none ({meaning})"),
        None => "none".to_owned(),
    });
    let arg = Arg::new(spec.id)
        .long(spec.flag)
        .env(spec.env)
        .value_name(spec.value_name)
        .help(format!("{} Default: {default}", spec.help))
        .value_parser(parser);
    if K::LIST {
        arg.action(ArgAction::Append).value_delimiter(',')
    } else {
        arg.action(ArgAction::Set)
    }
}

/// The value one setting's argument was given, if any.
///
/// # Errors
/// A clap error when the value is not of the argument's type (which the
/// table rules out).
pub(crate) fn take<K: Kind>(
    matches: &mut ArgMatches,
    id: &str,
) -> Result<Option<K::Raw>, clap::Error> {
    match matches.try_remove_many::<K::Arg>(id) {
        Ok(values) => Ok(values.and_then(|values| K::from_args(values.collect()))),
        Err(e) => Err(clap::Error::raw(
            clap::error::ErrorKind::InvalidValue,
            format!("setting {id}: {e}"),
        )),
    }
}
