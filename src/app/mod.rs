//! The application layer: the jobs the commands, `ci` and `review` share,
//! over the core, returning typed results. The CLI (`commands`) only turns
//! them into JSON and text; the CI shell (`ci`, `review`) only publishes them.

pub mod ab;
pub mod context;
pub mod data;
pub mod optimize;
pub mod power;
pub mod progress;
pub mod realized;

pub use context::{Context, Global, Output, UsageError, exit_code, lm_json};
