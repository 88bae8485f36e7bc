//! The macro that turns the settings table (`settings.rs`) into everything
//! each setting needs: its [`BrokerConfig`](super::BrokerConfig) field, its
//! [`PartialConfig`](super::PartialConfig) field (and so its TOML key), its
//! default, its check, its flag and `REQREP_*` variable, its line in
//! `--print-config`, and its entry in [`SETTINGS`](super::SETTINGS).
//!
//! One row of the table:
//!
//! ```text
//! /// Doc of the BrokerConfig field.
//! field: Type = default expression;
//!     key file_key: SourceType as Kind,
//!     flag "flag-name", env "REQREP_FILE_KEY", value "VALUE_NAME",
//!     check a_check(..),          (optional)
//!     unset "what none means",    (optional, for settings without a default)
//!     help "The flag's help; the default is appended.";
//! ```

/// Declares the broker settings; see the module docs for the row syntax.
macro_rules! settings {
    (@opt) => { None };
    (@opt $value:literal) => { Some($value) };
    ($(
        $(#[doc = $doc:literal])*
        $field:ident: $ty:ty = $default:expr;
            key $key:ident: $raw:ty as $kind:ty,
            flag $flag:literal, env $env:literal, value $value_name:literal,
            $(check $check:expr,)?
            $(unset $unset:literal,)?
            help $help:literal;
    )*) => {
        /// Every broker setting, resolved (flags > `REQREP_*` env > TOML file > defaults).
        #[derive(Debug, Clone, PartialEq)]
        pub struct BrokerConfig {
            $(
                $(#[doc = $doc])*
                #[doc = ""]
                #[doc = concat!("Default: `", stringify!($default), "`.")]
                pub $field: $ty,
            )*
        }

        impl Default for BrokerConfig {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        /// Settings from one source (flags and environment, or a file), each
        /// `None` when that source does not set it.
        ///
        /// As clap arguments every field is a `--kebab-case` flag with a
        /// `REQREP_SNAKE_CASE` environment variable; as TOML every field is a
        /// `snake_case` key. Durations are whole milliseconds.
        #[derive(Debug, Clone, Default, PartialEq)]
        #[cfg_attr(feature = "config-file", derive(serde::Deserialize))]
        #[cfg_attr(feature = "config-file", serde(deny_unknown_fields))]
        pub struct PartialConfig {
            $(
                #[doc = $help]
                pub $key: Option<$raw>,
            )*
        }

        impl PartialConfig {
            /// These settings, with those left unset taken from `lower`.
            pub fn or(self, lower: PartialConfig) -> PartialConfig {
                PartialConfig { $( $key: self.$key.or(lower.$key), )* }
            }
        }

        /// Every setting, in the order of `--help` and `--print-config`.
        pub const SETTINGS: &[Setting] = &[
            $(
                Setting {
                    key: stringify!($key),
                    flag: $flag,
                    env: $env,
                    help: $help,
                },
            )*
        ];

        impl BrokerConfig {
            /// `settings` over the defaults, unchecked.
            pub(super) fn over_defaults(settings: PartialConfig) -> BrokerConfig {
                let defaults = BrokerConfig::default();
                BrokerConfig {
                    $( $field: settings.$key.map_or(defaults.$field, <$kind as Kind>::decode), )*
                }
            }

            /// Runs each setting's check, in table order.
            pub(super) fn check_each(&self) -> Result<(), ConfigError> {
                $($(
                    if let Err(reason) = ($check)(&self.$field, self) {
                        return Err(ConfigError::invalid(stringify!($key), reason));
                    }
                )?)*
                Ok(())
            }

            /// Each setting as a file key and value (`None` when unset, with
            /// what that means).
            #[cfg(feature = "config-file")]
            pub(super) fn file_rows(&self) -> Vec<FileRow> {
                vec![$(
                    FileRow {
                        key: stringify!($key),
                        value: <$kind as Kind>::to_toml(&self.$field),
                        unset: settings!(@opt $($unset)?),
                    },
                )*]
            }
        }

        #[cfg(feature = "cli")]
        impl clap::Args for PartialConfig {
            fn augment_args(command: clap::Command) -> clap::Command {
                let defaults = BrokerConfig::default();
                command
                    .next_help_heading("Broker settings")
                    $(
                        .arg(cli::arg::<$kind>(
                            ArgSpec {
                                id: stringify!($key),
                                flag: $flag,
                                env: $env,
                                value_name: $value_name,
                                help: $help,
                                unset: settings!(@opt $($unset)?),
                            },
                            &defaults.$field,
                            clap::value_parser!(<$kind as Kind>::Arg).into(),
                        ))
                    )*
            }

            fn augment_args_for_update(command: clap::Command) -> clap::Command {
                Self::augment_args(command)
            }
        }

        #[cfg(feature = "cli")]
        impl clap::FromArgMatches for PartialConfig {
            fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
                Self::from_arg_matches_mut(&mut matches.clone())
            }

            fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
                Ok(PartialConfig {
                    $( $key: cli::take::<$kind>(matches, stringify!($key))?, )*
                })
            }

            fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
                let given = Self::from_arg_matches(matches)?;
                *self = given.or(std::mem::take(self));
                Ok(())
            }
        }
    };
}

pub(super) use settings;
