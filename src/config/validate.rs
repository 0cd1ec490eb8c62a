//! Every number and name in `promptc.yaml` checked against its range, with
//! the key that holds it: a config that loads is one promptc can run.

use super::*;

/// The most bootstrap resamples an A/B takes (8 MB of means).
pub const MAX_BOOTSTRAP_RESAMPLES: u32 = 1_000_000;
/// The most answers per held-out example and pack (`ab.task_samples`).
pub const MAX_TASK_SAMPLES: u32 = 16;
/// The most calls one role (or one evaluation) keeps in flight.
pub const MAX_CONCURRENCY: u64 = 1024;
/// The longest trace line promptc reads (256 MiB).
pub const MAX_LINE_BYTES: u64 = 256 << 20;
/// The longest per-call timeout (one hour).
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// The most retries after a first attempt.
pub const MAX_RETRIES: u32 = 20;
/// The longest wall-time cap (one week).
pub const MAX_WALL_MINUTES: f64 = 7.0 * 24.0 * 60.0;
/// The smallest tokens-per-minute limit: below one request's size it would
/// silently allow one call a minute.
pub const MIN_TPM: u32 = 1000;

impl Config {
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        if self.version != 1 {
            return Err((
                "version".into(),
                format!(
                    "version {} is not known; this promptc reads version 1",
                    self.version
                ),
            ));
        }
        self.validate_signatures()?;
        for name in self.optimizer.prompts.keys() {
            let known: Vec<&str> = crate::prompts::BUILT_IN.iter().map(|(n, _)| *n).collect();
            if !known.contains(&name.as_str()) {
                return Err((
                    format!("optimizer.prompts.{name}"),
                    format!(
                        "`{name}` is not one of promptc's prompts ({}){}",
                        known.join(", "),
                        yamlerr::suggest(name, known.iter().copied())
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        for (field, ptr) in self.traces.fields.entries() {
            if !ptr.is_empty() && !ptr.starts_with('/') {
                return Err((
                    format!("traces.fields.{field}"),
                    format!("`{ptr}` is not a JSON pointer (it must start with `/`)"),
                ));
            }
        }
        int_range(
            "traces.max_line_bytes",
            self.traces.max_line_bytes as u64,
            1024,
            MAX_LINE_BYTES,
        )?;
        for role in Role::ALL {
            validate_lm(&format!("lms.{role}"), self.lms.get(role))?;
        }
        for (label, p) in &self.prices {
            let key = format!("prices.{label}");
            float_range(&format!("{key}.input_per_mtok"), p.input_per_mtok, 0.0, 1e4)?;
            float_range(
                &format!("{key}.output_per_mtok"),
                p.output_per_mtok,
                0.0,
                1e4,
            )?;
            for (name, v) in [
                ("cached_input_per_mtok", p.cached_input_per_mtok),
                ("cache_write_per_mtok", p.cache_write_per_mtok),
            ] {
                if let Some(v) = v {
                    float_range(&format!("{key}.{name}"), v, 0.0, 1e4)?;
                }
            }
            if let Some(d) = p.batch_discount {
                float_range(&format!("{key}.batch_discount"), d, 0.0, 1.0)?;
            }
        }
        let b = &self.batch;
        float_range("batch.poll_secs", b.poll_secs, 0.01, 3600.0)?;
        float_range("batch.max_poll_secs", b.max_poll_secs, b.poll_secs, 3600.0)?;
        float_range("batch.deadline_minutes", b.deadline_minutes, 0.01, 1440.0)?;
        if !(1..=60_000).contains(&b.gather_ms) {
            return Err((
                "batch.gather_ms".into(),
                "must be between 1 and 60000".into(),
            ));
        }
        self.validate_runs()
    }

    fn validate_signatures(&self) -> Result<(), (String, String)> {
        if self.signatures.is_empty() {
            return Err(("signatures".into(), "name at least one signature".into()));
        }
        for (name, s) in &self.signatures {
            if s.traces.is_empty() {
                return Err((
                    format!("signatures.{name}.traces"),
                    "name at least one trace glob".into(),
                ));
            }
            for g in &s.traces {
                if let Err(e) = glob::Pattern::new(g) {
                    return Err((
                        format!("signatures.{name}.traces"),
                        format!("`{g}` is not a valid glob: {e}"),
                    ));
                }
            }
            if let Some(r) = &s.rollout
                && !(r.share.is_finite() && r.share > 0.0 && r.share < 1.0)
            {
                return Err((
                    format!("signatures.{name}.rollout.share"),
                    format!(
                        "{} is not strictly between 0 and 1 (the share of threads served the candidate)",
                        yamlerr::show_number(r.share)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Budget, split, A/B, eval and optimizer numbers: each in a range that
    /// cannot hang, wrap, overflow or size an allocation from a typo.
    fn validate_runs(&self) -> Result<(), (String, String)> {
        let b = &self.budget;
        opt_int("budget.max_calls", b.max_calls, 1, u64::MAX)?;
        opt_int("budget.max_tokens", b.max_tokens, 1, u64::MAX)?;
        if let Some(v) = b.max_cost_usd {
            positive("budget.max_cost_usd", v, 1e6)?;
        }
        if let Some(v) = b.max_wall_minutes {
            positive("budget.max_wall_minutes", v, MAX_WALL_MINUTES)?;
        }
        for (k, v) in [
            ("split.heldout_fraction", self.split.heldout_fraction),
            (
                "split.max_heldout_fraction",
                self.split.max_heldout_fraction,
            ),
            ("split.val_fraction", self.split.val_fraction),
        ] {
            if !(v > 0.0 && v < 1.0) {
                return Err((k.into(), format!("{v} is not strictly between 0 and 1")));
            }
        }
        for (k, v) in [
            ("split.max_train", self.split.max_train),
            ("split.max_val", self.split.max_val),
            ("split.max_heldout", self.split.max_heldout),
        ] {
            opt_int(k, v.map(|v| v as u64), 1, u64::MAX)?;
        }
        float_range("ab.min_lift", self.ab.min_lift, -100.0, 100.0)?;
        for (name, drop) in &self.ab.guards {
            float_range(&format!("ab.guards.{name}"), *drop, 0.0, 100.0)?;
        }
        if !(self.ab.confidence > 0.5 && self.ab.confidence < 1.0) {
            return Err(("ab.confidence".into(), "must be between 0.5 and 1".into()));
        }
        for (i, key) in self.realized.strata.iter().enumerate() {
            let known = key == "workspace"
                || key == "persona"
                || key.strip_prefix("inputs.").is_some_and(|n| !n.is_empty());
            if !known {
                return Err((
                    format!("realized.strata[{i}]"),
                    format!("`{key}` is not `workspace`, `persona` or `inputs.<name>`"),
                ));
            }
        }
        int_range(
            "realized.min_turns",
            self.realized.min_turns as u64,
            1,
            10_000_000,
        )?;
        float_range("realized.precision", self.realized.precision, 0.01, 100.0)?;
        int_range(
            "realized.max_turns",
            self.realized.max_turns as u64,
            10,
            1_000_000,
        )?;
        int_range(
            "ab.task_samples",
            u64::from(self.ab.task_samples),
            1,
            u64::from(MAX_TASK_SAMPLES),
        )?;
        int_range(
            "ab.bootstrap_resamples",
            u64::from(self.ab.bootstrap_resamples),
            1000,
            u64::from(MAX_BOOTSTRAP_RESAMPLES),
        )?;
        opt_int(
            "limits.max_in_flight",
            self.limits.max_in_flight.map(u64::from),
            1,
            MAX_CONCURRENCY,
        )?;
        float_range("eval.max_error_share", self.eval.max_error_share, 0.0, 1.0)?;
        int_range(
            "eval.concurrency",
            self.eval.concurrency as u64,
            1,
            MAX_CONCURRENCY,
        )?;
        let o = &self.optimizer;
        for (k, v, lo, hi) in [
            ("optimizer.num_candidates", o.num_candidates, 1, 200),
            ("optimizer.num_trials", o.num_trials, 1, 100_000),
            ("optimizer.num_demo_sets", o.num_demo_sets, 1, 200),
            ("optimizer.minibatch_size", o.minibatch_size, 1, 100_000),
            ("optimizer.full_eval_every", o.full_eval_every, 1, 100_000),
            ("optimizer.parallel_trials", o.parallel_trials, 1, 64),
            (
                "optimizer.max_bootstrapped_demos",
                o.max_bootstrapped_demos,
                0,
                64,
            ),
            ("optimizer.max_labeled_demos", o.max_labeled_demos, 0, 64),
        ] {
            int_range(k, u64::from(v), lo, hi)?;
        }
        Ok(())
    }
}

/// One role's LM settings, each number in its range.
fn validate_lm(key: &str, lm: &LmConfig) -> Result<(), (String, String)> {
    int_range(
        &format!("{key}.concurrency"),
        u64::from(lm.concurrency),
        1,
        MAX_CONCURRENCY,
    )?;
    if lm.provider == Provider::Command && lm.program.is_none() {
        return Err((
            format!("{key}.program"),
            "the command provider needs `program`".into(),
        ));
    }
    if lm.provider == Provider::Bridge && lm.base_url.is_none() {
        return Err((
            format!("{key}.base_url"),
            "the bridge provider needs `base_url`".into(),
        ));
    }
    if let Some(t) = lm.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err((format!("{key}.temperature"), "must be within 0..2".into()));
    }
    if lm.rpm == Some(0) {
        return Err((
            format!("{key}.rpm"),
            "0 would never start a call; leave `rpm` out for no limit".into(),
        ));
    }
    opt_int(&format!("{key}.rpm"), lm.rpm.map(u64::from), 1, 1_000_000)?;
    if let Some(t) = lm.tpm
        && t < MIN_TPM
    {
        return Err((
            format!("{key}.tpm"),
            format!(
                "{t} is below one request's size (at least {MIN_TPM}); leave `tpm` out for no limit"
            ),
        ));
    }
    opt_int(
        &format!("{key}.max_tokens"),
        lm.max_tokens.map(u64::from),
        1,
        1_000_000,
    )?;
    int_range(
        &format!("{key}.timeout_secs"),
        lm.timeout_secs,
        1,
        MAX_TIMEOUT_SECS,
    )?;
    opt_int(
        &format!("{key}.read_timeout_secs"),
        lm.read_timeout_secs,
        1,
        MAX_TIMEOUT_SECS,
    )?;
    int_range(
        &format!("{key}.max_retries"),
        u64::from(lm.max_retries),
        0,
        u64::from(MAX_RETRIES),
    )?;
    int_range(
        &format!("{key}.retry_backoff_ms"),
        lm.retry_backoff_ms,
        0,
        60_000,
    )
}

fn int_range(key: &str, v: u64, lo: u64, hi: u64) -> Result<(), (String, String)> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else if hi == u64::MAX {
        Err((key.into(), format!("{v} is below the minimum {lo}")))
    } else {
        Err((key.into(), format!("{v} is outside {lo}..={hi}")))
    }
}

fn opt_int(key: &str, v: Option<u64>, lo: u64, hi: u64) -> Result<(), (String, String)> {
    v.map_or(Ok(()), |v| int_range(key, v, lo, hi))
}

fn float_range(key: &str, v: f64, lo: f64, hi: f64) -> Result<(), (String, String)> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err((
            key.into(),
            format!(
                "{} is outside {}..={}",
                yamlerr::show_number(v),
                yamlerr::show_number(lo),
                yamlerr::show_number(hi)
            ),
        ))
    }
}

fn positive(key: &str, v: f64, hi: f64) -> Result<(), (String, String)> {
    if v.is_finite() && v > 0.0 && v <= hi {
        Ok(())
    } else {
        Err((
            key.into(),
            format!(
                "{} is not a positive number up to {}",
                yamlerr::show_number(v),
                yamlerr::show_number(hi)
            ),
        ))
    }
}
