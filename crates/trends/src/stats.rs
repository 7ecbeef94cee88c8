//! Small numeric helpers with numpy semantics (population variance, linear percentiles,
//! first-index argmin/argmax) and the normal tail used by Mann-Kendall.

/// Arithmetic mean; NaN for an empty slice (as `np.mean`).
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Population variance (ddof = 0) ignoring NaNs, as `np.nanvar`; NaN if nothing is left.
pub fn nanvar(x: &[f64]) -> f64 {
    let v: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    let m = mean(&v);
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64
}

/// Population standard deviation (ddof = 0), as `np.std`; NaN for an empty slice.
pub fn std(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let m = mean(x);
    (x.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Median with numpy's averaging of the two middle values; NaN for an empty slice.
pub fn median(x: &[f64]) -> f64 {
    percentile_sorted(&sorted(x), 50.0)
}

/// `np.nanpercentile(x, q)` with the default linear interpolation.
pub fn nanpercentile(x: &[f64], q: f64) -> f64 {
    let v: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    percentile_sorted(&sorted(&v), q)
}

fn sorted(x: &[f64]) -> Vec<f64> {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn percentile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let frac = pos - lo as f64;
    // numpy's lerp: a + (b - a) * t, switched to b - (b - a) * (1 - t) for t >= 0.5 so that the
    // result matches its last bit.
    let (a, b) = (v[lo], v[hi]);
    let d = b - a;
    if frac >= 0.5 {
        b - d * (1.0 - frac)
    } else {
        a + d * frac
    }
}

/// Index of the first minimum, as `np.argmin` (first index wins ties).
pub fn argmin(x: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in x.iter().enumerate() {
        if *v < x[best] {
            best = i;
        }
    }
    best
}

/// Index of the first maximum, as `np.argmax` (first index wins ties).
pub fn argmax(x: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in x.iter().enumerate() {
        if *v > x[best] {
            best = i;
        }
    }
    best
}

/// Complementary error function, accurate to about 1e-15 absolute: a positive-term series
/// below 2.5 (no cancellation) and a Lentz continued fraction above.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.5 {
        // erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1))
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        while term > 1e-17 * sum {
            n += 1.0;
            term *= 2.0 * x * x / (2.0 * n + 1.0);
            sum += term;
        }
        1.0 - 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp() * sum
    } else {
        // erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
        let tiny = 1e-300;
        let mut f = x;
        let mut c = x;
        let mut d = 0.0;
        for k in 1..300 {
            let a = k as f64 / 2.0;
            d = x + a * d;
            if d.abs() < tiny {
                d = tiny;
            }
            c = x + a / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x * x).exp() / std::f64::consts::PI.sqrt() / f
    }
}

/// Standard normal upper tail 1 - Φ(z).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear() {
        let x = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(nanpercentile(&x, 25.0), 2.0);
        assert_eq!(nanpercentile(&x, 75.0), 4.0);
        let y = [1.0, f64::NAN, 2.0, 4.0, 3.0];
        assert!((nanpercentile(&y, 25.0) - 1.75).abs() < 1e-15);
        assert_eq!(median(&[3.0, 1.0]), 2.0);
    }

    #[test]
    fn erfc_known_values() {
        // scipy.special.erfc
        assert!((erfc(0.5) - 0.4795001221869535).abs() < 1e-15);
        assert!((erfc(1.0) - 0.15729920705028513).abs() < 1e-15);
        assert!((erfc(2.0) - 0.004677734981047266).abs() < 1e-15);
        assert!((erfc(3.0) - 2.209049699858544e-05).abs() < 1e-15);
        assert!((erfc(6.0) - 2.1519736712498913e-17).abs() < 1e-20);
        assert_eq!(erfc(0.0), 1.0);
    }

    #[test]
    fn argmin_first_on_ties() {
        assert_eq!(argmin(&[1.0, 0.0, 0.0]), 1);
        assert_eq!(argmax(&[2.0, 0.0, 2.0]), 0);
    }
}
