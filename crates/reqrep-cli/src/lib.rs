//! reqrep-cli.
