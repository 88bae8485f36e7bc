//! Plugins: resources an agent declares (sockets, connections), initialised
//! by the runtime before `setup` and finalised after `on_close`.

use crate::StopToken;

/// Why a plugin could not initialise (for example: address in use). The
/// agent that declared it fails with this cause.
#[derive(Debug, thiserror::Error)]
#[error("plugin {plugin} failed to initialise: {cause}")]
pub struct PluginError {
    /// The plugin's name.
    pub plugin: String,
    /// What went wrong.
    pub cause: String,
}

/// A resource with a lifecycle managed by the agent runtime.
///
/// Both methods must be idempotent: the runtime may call `finalize` on a
/// plugin whose `init` failed or never ran, and may call either twice.
pub trait Plugin: Send {
    /// A short name for logs and errors.
    fn name(&self) -> &str;

    /// Opens the resource. `stop` is the agent's stop token: blocking
    /// operations of the plugin return when it is stopped.
    ///
    /// # Errors
    /// [`PluginError`] naming the cause; the agent then fails with it.
    fn init(&mut self, stop: &StopToken) -> Result<(), PluginError>;

    /// Releases the resource.
    fn finalize(&mut self);
}
