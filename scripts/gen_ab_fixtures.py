#!/usr/bin/env python3
"""Independent reference values for promptc's A/B statistics.

    pip install numpy scipy
    python3 scripts/gen_ab_fixtures.py > tests/data/ab_fixtures.json

For each case: paired per-example scores on 0..100; the mean lift; the
two-sided paired sign-flip permutation p-value (exact by enumeration with
numpy for n <= 16, checked against scipy.stats.permutation_test; Monte Carlo
with scipy above that); and the 95% percentile bootstrap interval of the mean
difference from scipy.stats.bootstrap. promptc's tests compare against these
with tolerances that allow for Monte Carlo error only.
"""

import itertools
import json

import numpy as np
from scipy import stats

rng = np.random.default_rng(20261124)


def case(name, n, lift, noise, ties=0):
    base = np.round(rng.uniform(30, 90, n), 2)
    cand = np.round(np.clip(base + lift + rng.normal(0, noise, n), 0, 100), 2)
    cand[:ties] = base[:ties]
    d = cand - base
    out = {"name": name, "base": base.tolist(), "candidate": cand.tolist(), "lift": float(d.mean())}

    def stat(x, y, axis=-1):
        return np.mean(x - y, axis=axis)

    if n <= 16:
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=n)))
        means = (signs * d).mean(axis=1)
        obs = abs(d.mean())
        out["p_value"] = float(np.mean(np.abs(means) >= obs - 1e-9 * (1 + obs)))
        out["p_exact"] = True
        res = stats.permutation_test((cand, base), stat, permutation_type="samples", n_resamples=np.inf, alternative="two-sided")
        out["p_scipy"] = float(res.pvalue)
    else:
        res = stats.permutation_test((cand, base), stat, permutation_type="samples", n_resamples=200000, alternative="two-sided", random_state=rng)
        out["p_value"] = float(res.pvalue)
        out["p_exact"] = False
    boot = stats.bootstrap((d,), np.mean, confidence_level=0.95, n_resamples=200000, method="percentile", random_state=rng)
    out["ci95"] = [float(boot.confidence_interval.low), float(boot.confidence_interval.high)]
    return out


cases = [
    case("small-clear-win", 10, 6.0, 3.0),
    case("small-noise", 12, 0.5, 8.0),
    case("sixteen-with-ties", 16, 2.0, 4.0, ties=5),
    case("forty-modest", 40, 1.5, 5.0),
    case("sixty-four-null", 64, 0.0, 6.0),
    case("hundred-loss", 100, -2.0, 7.0),
]
print(json.dumps({"generator": "scripts/gen_ab_fixtures.py", "numpy": np.__version__, "scipy": __import__("scipy").__version__, "cases": cases}, indent=1))
