//! The examples a run scores and the program it scores them with.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::app::{Context, UsageError};
use crate::eval::Program;
use crate::pack;
use crate::traces::Turn;
use crate::traces::split::split;

/// Which examples to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitName {
    /// Optimizer training examples.
    Train,
    /// Optimizer selection examples.
    Val,
    /// Fresh held-out examples.
    Heldout,
    /// Every clean turn.
    All,
}

impl std::fmt::Display for SplitName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SplitName::Train => "train",
            SplitName::Val => "val",
            SplitName::Heldout => "heldout",
            SplitName::All => "all",
        })
    }
}

/// The examples of a split, `limit` first ones at most.
pub fn examples(
    ctx: &Context,
    which: SplitName,
    limit: Option<usize>,
) -> anyhow::Result<Vec<Turn>> {
    let files = ctx.trace_files(&[])?;
    let data = ctx.dataset(&files)?;
    data.report.check_strict(ctx.config.traces.strict)?;
    // The split follows the pack in production, whichever pack is being scored.
    let current = ctx.resolve(&ctx.sig_cfg.pack);
    let cutoff = if current.exists() {
        pack::load(&current, Some(&ctx.signature))?
            .pack
            .train_cutoff()
    } else {
        None
    };
    let mut turns = match which {
        SplitName::All => data.turns,
        _ => {
            let s = split(&data.turns, cutoff, &ctx.config.split)?;
            match which {
                SplitName::Train => s.train,
                SplitName::Val => s.val,
                _ => s.heldout,
            }
        }
    };
    if let Some(n) = limit {
        turns.truncate(n);
    }
    Ok(turns)
}

/// The program of a pack file (default: the signature's configured pack).
pub fn program(ctx: &Context, pack_path: Option<&Path>) -> anyhow::Result<(PathBuf, Program)> {
    let loaded = match pack_path {
        Some(p) => pack::load(p, Some(&ctx.signature))?,
        None => ctx.current_pack()?,
    };
    let path = loaded.path.clone();
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let program = Program::from_pack(&loaded.pack).ok_or_else(|| {
        UsageError(format!(
            "{}: a promptc.pack/v1 pack has voices only; there is no program to evaluate",
            path.display()
        ))
    })?;
    Ok((path, program))
}
