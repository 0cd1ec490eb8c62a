//! The trace types: a line as logged, and a turn as promptc uses it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A trace's id: the logged one, or `sha256:<hex>` of the canonical line.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct TraceId(pub String);

impl std::fmt::Display for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One trace line in promptc's own shape (other shapes map onto it with
/// `traces.fields` pointers). This type is the source of the trace JSON Schema.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TraceLine {
    /// Optional; default: sha256 of the canonical line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The signature this call belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The conversation thread; the unit of the train/val/held-out split.
    pub thread: String,
    /// The tenant or workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// When the call was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<DateTime<Utc>>,
    /// Which pack version produced the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<String>,
    /// The signature's inputs; non-string values are rendered as compact JSON.
    pub inputs: Map<String, Value>,
    /// The signature's outputs as the model returned them.
    pub outputs: Map<String, Value>,
    /// `ok` (or absent) for a successful call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Ratings people gave this answer, by name (`{"thumbs": 1}`): numbers,
    /// booleans or labels, read by `feedback` metric dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Map<String, Value>>,
    /// Anything else the application logs (model, latency); ignored by promptc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

/// One parsed turn of a signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The trace id.
    pub id: TraceId,
    /// The thread.
    pub thread: String,
    /// The workspace, when logged.
    pub workspace: Option<String>,
    /// When the call was made, when logged.
    pub ts: Option<DateTime<Utc>>,
    /// The persona input, when the config names a persona field.
    pub persona: Option<String>,
    /// The pack that served the call (its id, as the runtimes log it), when logged.
    pub pack: Option<String>,
    /// Status ok and every output present and valid.
    pub clean: bool,
    /// The inputs.
    pub inputs: Map<String, Value>,
    /// The outputs, enum values in their canonical spelling.
    pub outputs: Map<String, Value>,
    /// Ratings people gave the logged answer, by name (empty when none).
    pub feedback: Map<String, Value>,
}
