"""Reference values for the `trends` crate's detectors.

Run from the repository root:

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install numpy statsmodels scipy pymannkendall
    .venv-ref/bin/python crates/trends/tests/reference/make_reference.py

It writes `reference.json` next to this script; `tests/reference.rs` compares the Rust
detectors against it within 1e-9, so CI needs no Python.

What computes what:
- OLS slope: `numpy.polyfit(t, y, 1)[0]` (the AWS sample's `compute_timeseries_slope`).
- Mann-Kendall and Sen's slope: `pymannkendall.original_test(y, alpha=0.05)`; its S is
  cross-checked against `scipy.stats.kendalltau`.
- Decomposition: `statsmodels.tsa.seasonal.seasonal_decompose(y, model="additive", period=7,
  two_sided=True)` with `extrapolate_trend=0` and with `extrapolate_trend=6` (what "freq"
  means for period 7).
- Outliers: a port of Kats 0.1 `OutlierDetector.__clean_ts__` (seasonality strength >= 0.6
  removes the seasonal part) on top of statsmodels' decomposition, with the Kats fences
  (inclusive; strict when IQR = 0, as documented in the crate) and the AWS sample's
  |r| / IQR > k rule; quartiles from `numpy.nanpercentile`. Residuals below 1e-9 of the
  series scale are zeroed first (the crate's documented guard against rounding noise).
- Change points: a line-by-line port of Kats 0.1 `CUSUMDetector.detector()` (Kats itself does
  not install on current Python), with the LLR computed as Kats' sum of log-likelihood terms
  (the Rust side uses the closed form, so the two routes check each other) and p-values from
  `scipy.stats.chi2`.

The committed reference.json was produced with Python 3.11.7, numpy 2.4.6, scipy 1.17.1,
statsmodels 0.15.0 and pymannkendall 1.4.3 (also recorded in its "versions" field).
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pymannkendall
import scipy
import scipy.stats
import statsmodels
from statsmodels.tsa.seasonal import seasonal_decompose

PERIOD = 7


def series():
    """Fixed input series (integers where they stand for daily counts)."""
    rs = np.random.RandomState(20231)
    out = {}
    t = np.arange(42)
    out["trend"] = np.round(5 + 0.8 * t + rs.normal(0, 2, 42)).clip(0)
    week = np.array([3, 12, 14, 13, 15, 11, 2], dtype=float)
    out["weekly"] = np.round(np.tile(week, 5) + rs.normal(0, 1, 35)).clip(0)
    base = np.round(20 + rs.normal(0, 2, 42) + np.tile(week, 6) / 2)
    base[12] += 40
    base[25] -= 18
    base[40] += 45
    out["outliers"] = base.clip(0)
    out["shift_up"] = np.round(np.r_[rs.normal(10, 2, 30), rs.normal(25, 2, 30)]).clip(0)
    out["shift_down"] = np.round(np.r_[rs.normal(40, 3, 35), rs.normal(22, 3, 25)]).clip(0)
    out["flat"] = np.full(20, 4.0)
    out["short"] = np.array([3, 5, 4, 6, 5, 7, 6, 8, 7, 9], dtype=float)
    # Kats' own CUSUM test vector (tests/detectors/test_cusum_detection.py).
    np.random.seed(10)
    out["kats_increase"] = np.r_[np.random.normal(1, 0.2, 30), np.random.normal(1.5, 0.2, 30)]
    return out


def clean(v):
    """JSON has no NaN/inf: write them as null (the Rust side reads null as NaN)."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return [clean(x) for x in v]
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    return v


def mk(y):
    r = pymannkendall.original_test(y, alpha=0.05)
    n = len(y)
    # kendalltau against the index gives tau-b; S = sum of sgn over pairs, recomputed here
    # with numpy and checked against scipy's statistic when there are no ties in y.
    s = sum(np.sign(y[j] - y[i]) for i in range(n - 1) for j in range(i + 1, n))
    assert s == r.s, (s, r.s)
    if len(np.unique(y)) == n:
        tau = scipy.stats.kendalltau(np.arange(n), y).statistic
        assert abs(tau - s / (n * (n - 1) / 2)) < 1e-12
    return {
        "s": r.s, "var_s": r.var_s, "z": r.z, "p": r.p, "tau": r.Tau,
        "trend": r.trend, "sen_slope": r.slope, "intercept": r.intercept,
    }


def decomposition(y, extrapolate):
    d = seasonal_decompose(y, model="additive", period=PERIOD, two_sided=True,
                           extrapolate_trend=extrapolate)
    return np.asarray(d.trend), np.asarray(d.seasonal), np.asarray(d.resid)


def outliers(y, rule, mult, extrapolate):
    """Kats 0.1 OutlierDetector.__clean_ts__ with the chosen final rule."""
    if len(y) < 2 * PERIOD:
        return {"skipped": True}
    trend, seasonal, resid = decomposition(y, PERIOD - 1 if extrapolate else 0)
    # The crate's one documented deviation: moving-average rounding noise (|v| < 1e-9 of the
    # series scale) is zero, so that a flat series has a zero residual, not 1e-16 jitter that
    # the |r| / IQR rule would flag everywhere.
    eps = 1e-9 * max(1.0, float(np.max(np.abs(y))))

    def snap(v):
        v = v.copy()
        v[np.abs(v) < eps] = 0.0
        return v

    detrend = snap(y - trend)
    resid = snap(resid)
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = float(1 - np.nanvar(resid) / np.nanvar(detrend))
    yy = y - seasonal if strength >= 0.6 else y
    r = snap(yy - trend)
    q1, q3 = np.nanpercentile(r, [25, 75])
    iqr = q3 - q1
    lo, hi = q1 - mult * iqr, q3 + mult * iqr
    flagged, scores = [], []
    for i, ri in enumerate(r):
        if np.isnan(ri):
            continue
        if rule == "fences":
            hit = (ri >= hi or ri <= lo) if iqr > 0 else (ri > hi or ri < lo)
            score = (ri - lo) / (hi - lo) if hi != lo else float("nan")
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                score = abs(ri) / iqr
            hit = score > mult
        if hit:
            flagged.append(i)
            scores.append(score)
    return {"skipped": False, "strength": strength, "removed": bool(strength >= 0.6),
            "q1": q1, "q3": q3, "residual": r, "outliers": flagged, "scores": scores}


def cusum(ts, threshold=0.01, max_iter=10, delta_std_ratio=1.0, min_abs_change=0):
    """Port of Kats 0.1 CUSUMDetector.detector(return_all_changepoints=True), no interest
    window, no magnitude quantile."""
    out = []
    for direction in ["increase", "decrease"]:
        func = np.argmin if direction == "increase" else np.argmax
        cusum_ts = np.cumsum(ts - np.mean(ts))
        changepoint = min(func(cusum_ts), len(ts) - 2)
        n = 0
        while n < max_iter:
            n += 1
            mu0 = np.mean(ts[: changepoint + 1])
            mu1 = np.mean(ts[changepoint + 1:])
            mean = (mu0 + mu1) / 2
            cusum_ts = np.cumsum(ts - mean)
            next_cp = max(1, min(func(cusum_ts), len(ts) - 2))
            if next_cp == changepoint:
                break
            changepoint = next_cp
        stable = n != max_iter
        mu0 = np.mean(ts[: changepoint + 1])
        mu1 = np.mean(ts[changepoint + 1:])
        # _get_llr
        scale = np.sqrt((np.sum((ts[: changepoint + 1] - mu0) ** 2)
                         + np.sum((ts[changepoint + 1:] - mu1) ** 2)) / (len(ts) - 2))
        mu_tilde, sigma_tilde = np.mean(ts), np.std(ts)
        if scale == 0:
            scale = sigma_tilde  # Kats 0.1 (0.2.0 uses 0.01 * sigma_tilde)
        with np.errstate(divide="ignore", invalid="ignore"):
            seg = np.r_[np.full(changepoint + 1, mu0), np.full(len(ts) - changepoint - 1, mu1)]
            llr = -2 * np.sum(np.log(scale / sigma_tilde)
                              + 0.5 * (((ts - seg) / scale) ** 2 - ((ts - mu_tilde) / sigma_tilde) ** 2))
        p = 1 - scipy.stats.chi2.cdf(llr, 2)
        significant = llr > scipy.stats.chi2.ppf(1 - threshold, 2)
        if direction == "increase":
            dir_ok = mu0 + min_abs_change < mu1
        else:
            dir_ok = mu0 > mu1 + min_abs_change
        with np.errstate(invalid="ignore"):
            larger = abs(mu1 - mu0) > np.std(ts[:changepoint]) * delta_std_ratio
        out.append({"index": int(changepoint), "direction": direction, "mu0": mu0, "mu1": mu1,
                    "delta": mu1 - mu0, "llr": llr, "p_value": p, "confidence": 1 - p,
                    "stable": stable,
                    "regression_detected": bool(significant and dir_ok and larger)})
    return out


def main():
    versions = {"python": sys.version.split()[0], "numpy": np.__version__,
                "scipy": scipy.__version__, "statsmodels": statsmodels.__version__,
                "pymannkendall": getattr(pymannkendall, "__version__", "1.4.3")}
    cases = []
    for name, y in series().items():
        y = np.asarray(y, dtype=float)
        case = {"name": name, "y": y, "ols_slope": np.polyfit(np.arange(len(y)), y, 1)[0],
                "mann_kendall": mk(y)}
        if len(y) >= 2 * PERIOD:
            for key, ex in (("decompose", 0), ("decompose_extrapolated", PERIOD - 1)):
                tr, se, re = decomposition(y, ex)
                case[key] = {"trend": tr, "seasonal": se, "resid": re}
        case["outliers"] = {
            "fences_3": outliers(y, "fences", 3.0, False),
            "fences_3_extrapolated": outliers(y, "fences", 3.0, True),
            "ratio_5": outliers(y, "ratio", 5.0, False),
            "ratio_5_extrapolated": outliers(y, "ratio", 5.0, True),
        }
        case["cusum"] = cusum(y)
        cases.append(case)
    out = Path(__file__).with_name("reference.json")
    out.write_text(json.dumps(clean({"versions": versions, "cases": cases}), indent=1) + "\n")
    print(f"wrote {out} with {versions}")


if __name__ == "__main__":
    main()
