//! Judge templates checked before any LM is called: every variable a template
//! reads is one the judge context has (`inputs.<an input>`, `prediction.<an
//! output>`, `reference.<an output>`, `signature.name|description`), and the
//! template renders against a sample example (which catches unknown filters,
//! tests and functions). Each finding names the template file and line.

use std::path::{Path, PathBuf};

use minijinja::Environment;
use serde_json::{Map, Value};

use crate::metric::spec::{DimensionKind, MAX_TEMPLATE_BYTES, MetricSpec};
use crate::signature::Signature;

/// One problem in a judge template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateProblem {
    /// The template file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The metric key of the dimension (`dimensions.<name>.judge`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Checks every judge template of `spec` (read from `metric_path`) against
/// `signature`.
pub fn check_judges(
    metric_path: &Path,
    spec: &MetricSpec,
    signature: &Signature,
) -> Vec<TemplateProblem> {
    let base = metric_path.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    for (name, d) in &spec.dimensions {
        let Some(DimensionKind::Judge(p)) = d.kind() else {
            continue;
        };
        let file = base.join(&p);
        let key = format!("dimensions.{name}.judge");
        let problem = |line, message| TemplateProblem {
            file: file.clone(),
            line,
            key: key.clone(),
            message,
        };
        // Unreadable or uncompilable templates are reported by the spec's own checks.
        let Ok(text) = crate::files::read_text(&file, MAX_TEMPLATE_BYTES) else {
            continue;
        };
        let mut env = Environment::new();
        if env.add_template_owned("judge", text.clone()).is_err() {
            continue;
        }
        let Ok(tmpl) = env.get_template("judge") else {
            continue;
        };
        let mut vars: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
        vars.sort();
        for var in vars {
            if let Some(message) = unknown_variable(&var, signature) {
                problems.push(problem(line_of(&text, &var), message));
            }
        }
        if let Err(e) = tmpl.render(sample_context(signature)) {
            let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
            problems.push(problem(
                e.line(),
                format!("does not render on a sample example: {}{detail}", e.kind()),
            ));
        }
    }
    problems
}

/// Why `var` (a dotted path the template reads) is not in the judge context.
fn unknown_variable(var: &str, sig: &Signature) -> Option<String> {
    let mut parts = var.split('.');
    let root = parts.next().unwrap_or("");
    let field = parts.next();
    let known = |names: Vec<&str>, what: &str| -> Option<String> {
        let f = field?;
        if names.contains(&f) {
            return None;
        }
        let hint = crate::yamlerr::suggest(f, names.iter().copied())
            .map(|s| format!("; did you mean `{root}.{s}`?"))
            .unwrap_or_default();
        Some(format!(
            "`{root}.{f}` is not {what} of `{}` (known: {}){hint}",
            sig.name,
            names.join(", ")
        ))
    };
    match root {
        "inputs" => known(sig.inputs.keys().map(String::as_str).collect(), "an input"),
        "prediction" | "reference" => known(
            sig.outputs.keys().map(String::as_str).collect(),
            "an output",
        ),
        "signature" => known(vec!["name", "description"], "a field"),
        _ => Some(format!(
            "`{root}` is not defined; a judge template sees `inputs`, `prediction`, `reference` and `signature`"
        )),
    }
}

/// The first line of `text` that mentions `var`.
fn line_of(text: &str, var: &str) -> Option<usize> {
    let last = var.rsplit('.').next().unwrap_or(var);
    text.lines()
        .position(|l| l.contains(var))
        .or_else(|| text.lines().position(|l| l.contains(last)))
        .map(|i| i + 1)
}

/// A context with every input and output present: the first enum value for
/// an enum, otherwise a short string.
fn sample_context(sig: &Signature) -> minijinja::Value {
    let inputs: Map<String, Value> = sig
        .inputs
        .keys()
        .map(|k| (k.clone(), Value::String(format!("sample {k}"))))
        .collect();
    let outputs: Map<String, Value> = sig
        .outputs
        .iter()
        .map(|(k, f)| {
            let v = f
                .enum_values
                .as_ref()
                .and_then(|e| e.first().cloned())
                .unwrap_or_else(|| format!("sample {k}"));
            (k.clone(), Value::String(v))
        })
        .collect();
    minijinja::context! {
        inputs => minijinja::Value::from(minijinja::value::Serde(&inputs)),
        reference => minijinja::Value::from(minijinja::value::Serde(&outputs)),
        prediction => minijinja::Value::from(minijinja::value::Serde(&outputs)),
        signature => minijinja::context! { name => sig.name.clone(), description => sig.description.clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_variables_and_filters_are_found_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ok.md"),
            "{% for e in inputs.q %}{{ e.id }}{% endfor %}\n{{ prediction.a | upper }} {{ signature.name }}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("bad.md"),
            "Grade this.\n{{ inputs.qq }}\n{{ prediction.a | shout }}\n{{ answer }}\n",
        )
        .unwrap();
        let m = dir.path().join("m.yaml");
        std::fs::write(
            &m,
            "dimensions:\n  good: {judge: ok.md, weight: 1}\n  bad: {judge: bad.md, weight: 1}\n",
        )
        .unwrap();
        let spec = MetricSpec::load(&m).unwrap();
        let sig: Signature =
            serde_yaml::from_str("name: s\ninputs: {q: {}}\noutputs:\n  a: {}\n").unwrap();
        let problems = check_judges(&m, &spec, &sig);
        let bad = dir.path().join("bad.md");
        let summary: Vec<(Option<usize>, &str)> = problems
            .iter()
            .inspect(|p| assert_eq!(p.file, bad))
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(summary.len(), 3, "{problems:#?}");
        assert_eq!(summary[0].0, Some(4));
        assert!(
            summary[0].1.starts_with("`answer` is not defined"),
            "{}",
            summary[0].1
        );
        assert_eq!(summary[1].0, Some(2));
        assert!(
            summary[1].1.contains("did you mean `inputs.q`?"),
            "{}",
            summary[1].1
        );
        assert_eq!(summary[2].0, Some(3));
        assert!(summary[2].1.contains("unknown filter"), "{}", summary[2].1);
    }
}
