//! The CI host's side channels, behind one seam: GitHub Actions is the
//! implementation (`crate::actions`); tests use one in memory.

use crate::actions::{Actions, Level};

/// Outputs, the job summary, annotations and log masks of the host a run is on.
pub trait CiHost: Send + Sync {
    /// Hides a secret in the host's log.
    fn mask(&self, secret: &str);
    /// Shows a message beside the run.
    fn annotate(&self, level: Level, title: &str, message: &str);
    /// Sets the step's outputs.
    fn set_outputs(&self, outputs: &[(&str, String)]) -> std::io::Result<()>;
    /// Appends to the job summary (markdown).
    fn summary(&self, markdown: &str) -> std::io::Result<()>;
}

impl CiHost for Actions {
    fn mask(&self, secret: &str) {
        Actions::mask(self, secret)
    }
    fn annotate(&self, level: Level, title: &str, message: &str) {
        Actions::annotate(self, level, title, message)
    }
    fn set_outputs(&self, outputs: &[(&str, String)]) -> std::io::Result<()> {
        Actions::set_outputs(self, outputs)
    }
    fn summary(&self, markdown: &str) -> std::io::Result<()> {
        Actions::summary(self, markdown)
    }
}
