//! reqrep-agents.
