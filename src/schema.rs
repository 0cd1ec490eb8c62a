//! JSON Schemas of promptc's formats, generated from the Rust types.
//!
//! The committed copies under `packs/schema/` let editors complete configs and
//! packs; a test fails when they drift from the types.

use schemars::schema_for;

use crate::config::Config;
use crate::pack::Pack;
use crate::traces::TraceLine;

/// The formats that have a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// A pack file.
    Pack,
    /// `promptc.yaml`.
    Config,
    /// One trace line.
    Trace,
}

impl SchemaKind {
    /// Every kind.
    pub const ALL: [SchemaKind; 3] = [SchemaKind::Pack, SchemaKind::Config, SchemaKind::Trace];

    /// The committed file name under `packs/schema/`.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Pack => "pack.schema.json",
            SchemaKind::Config => "config.schema.json",
            SchemaKind::Trace => "trace.schema.json",
        }
    }
}

/// The schema as pretty JSON with a trailing newline.
pub fn generate(kind: SchemaKind) -> String {
    let schema = match kind {
        SchemaKind::Pack => schema_for!(Pack),
        SchemaKind::Config => schema_for!(Config),
        SchemaKind::Trace => schema_for!(TraceLine),
    };
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
