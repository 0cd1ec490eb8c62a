//! The A/B statistics against independently computed values: numpy/scipy
//! fixtures committed in tests/data (generator: scripts/gen_ab_fixtures.py).

use promptc::ab::paired;
use promptc::config::AbConfig;
use serde_json::Value;

fn fixtures() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ab_fixtures.json"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn lift_p_values_and_intervals_match_numpy_and_scipy() {
    let policy = AbConfig::default();
    assert_eq!(policy.bootstrap_resamples, 10_000);
    for case in fixtures() {
        let name = case["name"].as_str().unwrap();
        let (base, cand) = (floats(&case["base"]), floats(&case["candidate"]));
        let s = paired(&base, &cand, &policy);
        let want_lift = case["lift"].as_f64().unwrap();
        assert!(
            (s.lift - want_lift).abs() < 1e-9,
            "{name}: lift {} vs {want_lift}",
            s.lift
        );

        let want_p = case["p_value"].as_f64().unwrap();
        if case["p_exact"].as_bool().unwrap() {
            assert!(s.p_exact, "{name}");
            assert!(
                (s.p_value - want_p).abs() < 1e-12,
                "{name}: exact p {} vs {want_p}",
                s.p_value
            );
        } else {
            // Monte Carlo on both sides: ours with 10,000 sign patterns.
            let se = (want_p * (1.0 - want_p) / 10_000.0).sqrt().max(1e-4);
            assert!(
                (s.p_value - want_p).abs() < 4.0 * se + 2e-4,
                "{name}: p {} vs scipy {want_p}",
                s.p_value
            );
        }

        let ci = floats(&case["ci95"]);
        let width = ci[1] - ci[0];
        for (ours, theirs, end) in [(s.ci.0, ci[0], "low"), (s.ci.1, ci[1], "high")] {
            assert!(
                (ours - theirs).abs() < 0.04 * width,
                "{name}: CI {end} {ours} vs scipy {theirs} (width {width})"
            );
        }
        assert_eq!(s.wins + s.ties + s.losses, base.len());
    }
}

#[test]
fn the_bootstrap_is_seeded() {
    let case = &fixtures()[3];
    let (base, cand) = (floats(&case["base"]), floats(&case["candidate"]));
    let a = paired(&base, &cand, &AbConfig::default());
    let b = paired(&base, &cand, &AbConfig::default());
    assert_eq!(a, b);
    let c = paired(
        &base,
        &cand,
        &AbConfig {
            seed: 8,
            ..Default::default()
        },
    );
    assert_ne!(a.ci, c.ci);
}
