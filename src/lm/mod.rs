//! The LM layer: who serves each role (task, judge, proposer) and how.
//!
//! This module holds the provider specs that the config and `--lm ROLE=SPEC`
//! name; the clients themselves live beside them.

pub mod spec;

pub use spec::{LmSpec, Provider, Role};
