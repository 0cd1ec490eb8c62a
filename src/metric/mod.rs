//! The metric: judge dimensions, trace-derived dimensions and built-in checks,
//! combined into one weighted score on 0..100.

pub mod spec;

pub use spec::{DimensionKind, DimensionSpec, MetricSpec};
