//! The detectors against reference values from numpy, statsmodels, scipy, pymannkendall and a
//! Python port of Kats 0.1's CUSUM detector (`tests/reference/make_reference.py`, whose output
//! is committed so that CI needs no Python).

use serde_json::Value;
use trends::{
    CusumConfig, OutlierConfig, OutlierRule, detect_change_points, detect_outliers, mann_kendall,
    ols_slope, seasonal_decompose,
};

/// Absolute tolerance against the Python values.
const TOL: f64 = 1e-9;

fn reference() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/reference.json"
    ))
    .expect("reference.json is committed next to make_reference.py");
    serde_json::from_str(&text).expect("reference.json parses")
}

/// JSON null stands for NaN/inf, which JSON cannot carry.
fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

struct Checker {
    worst: f64,
}

impl Checker {
    fn close(&mut self, what: &str, got: f64, want: f64) {
        if want.is_nan() {
            assert!(got.is_nan(), "{what}: got {got}, want NaN");
            return;
        }
        let d = (got - want).abs();
        self.worst = self.worst.max(d);
        assert!(d <= TOL, "{what}: got {got}, want {want} (|diff| {d:e})");
    }

    fn all(&mut self, what: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            self.close(&format!("{what}[{i}]"), *g, *w);
        }
    }
}

#[test]
fn detectors_match_python_reference_values() {
    let r = reference();
    let mut c = Checker { worst: 0.0 };
    let cases = r["cases"].as_array().expect("cases");
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let y = nums(&case["y"]);

        c.close(
            &format!("{name} ols"),
            ols_slope(&y).expect("n >= 2"),
            num(&case["ols_slope"]),
        );

        let mk = mann_kendall(&y, 0.05).expect("n >= 3");
        let want = &case["mann_kendall"];
        c.close(&format!("{name} mk.s"), mk.s, num(&want["s"]));
        c.close(&format!("{name} mk.var_s"), mk.var_s, num(&want["var_s"]));
        c.close(&format!("{name} mk.z"), mk.z, num(&want["z"]));
        c.close(&format!("{name} mk.p"), mk.p, num(&want["p"]));
        c.close(&format!("{name} mk.tau"), mk.tau, num(&want["tau"]));
        c.close(
            &format!("{name} mk.sen"),
            mk.sen_slope,
            num(&want["sen_slope"]),
        );
        c.close(
            &format!("{name} mk.icpt"),
            mk.intercept,
            num(&want["intercept"]),
        );
        let trend = serde_json::to_value(mk.trend).expect("serialises");
        assert_eq!(trend, want["trend"], "{name} mk.trend");

        for (key, extrap) in [("decompose", None), ("decompose_extrapolated", Some(6))] {
            let want = &case[key];
            match seasonal_decompose(&y, 7, extrap) {
                Ok(d) => {
                    c.all(
                        &format!("{name} {key}.trend"),
                        &d.trend,
                        &nums(&want["trend"]),
                    );
                    c.all(
                        &format!("{name} {key}.seas"),
                        &d.seasonal,
                        &nums(&want["seasonal"]),
                    );
                    c.all(
                        &format!("{name} {key}.resid"),
                        &d.resid,
                        &nums(&want["resid"]),
                    );
                }
                Err(_) => assert!(want.is_null(), "{name}: statsmodels decomposed it"),
            }
        }

        for (key, rule, mult, extrapolate_trend) in [
            ("fences_3", OutlierRule::IqrFences, 3.0, false),
            ("fences_3_extrapolated", OutlierRule::IqrFences, 3.0, true),
            ("ratio_5", OutlierRule::IqrRatio, 5.0, false),
            ("ratio_5_extrapolated", OutlierRule::IqrRatio, 5.0, true),
        ] {
            let cfg = OutlierConfig {
                rule,
                mult,
                extrapolate_trend,
                ..OutlierConfig::default()
            };
            let got = detect_outliers(&y, &cfg);
            let want = &case["outliers"][key];
            let what = format!("{name} {key}");
            if want["skipped"].as_bool() == Some(true) {
                assert!(got.skipped.is_some(), "{what}: should be skipped");
                continue;
            }
            assert!(got.skipped.is_none(), "{what}: not skipped in Python");
            c.close(
                &format!("{what} strength"),
                got.seasonal_strength,
                num(&want["strength"]),
            );
            assert_eq!(
                Some(got.seasonal_removed),
                want["removed"].as_bool(),
                "{what}"
            );
            c.close(&format!("{what} q1"), got.q1, num(&want["q1"]));
            c.close(&format!("{what} q3"), got.q3, num(&want["q3"]));
            c.all(
                &format!("{what} resid"),
                &got.residual,
                &nums(&want["residual"]),
            );
            let idx: Vec<u64> = got.outliers.iter().map(|o| o.index as u64).collect();
            let want_idx: Vec<u64> = want["outliers"]
                .as_array()
                .expect("outliers")
                .iter()
                .map(|v| v.as_u64().expect("index"))
                .collect();
            assert_eq!(idx, want_idx, "{what}: flagged days");
            let scores: Vec<f64> = got.outliers.iter().map(|o| o.score).collect();
            c.all(&format!("{what} scores"), &scores, &nums(&want["scores"]));
        }

        let cfg = CusumConfig {
            return_all: true,
            ..CusumConfig::default()
        };
        let got = detect_change_points(&y, &cfg);
        let want = case["cusum"].as_array().expect("cusum");
        assert_eq!(got.len(), want.len(), "{name} cusum count");
        for (g, w) in got.iter().zip(want) {
            let what = format!("{name} cusum {:?}", g.direction);
            assert_eq!(
                serde_json::to_value(g.direction).expect("serialises"),
                w["direction"]
            );
            assert_eq!(Some(g.index as u64), w["index"].as_u64(), "{what} index");
            c.close(&format!("{what} mu0"), g.mu0, num(&w["mu0"]));
            c.close(&format!("{what} mu1"), g.mu1, num(&w["mu1"]));
            c.close(&format!("{what} delta"), g.delta, num(&w["delta"]));
            c.close(&format!("{what} llr"), g.llr, num(&w["llr"]));
            c.close(&format!("{what} p"), g.p_value, num(&w["p_value"]));
            c.close(&format!("{what} conf"), g.confidence, num(&w["confidence"]));
            assert_eq!(Some(g.stable), w["stable"].as_bool(), "{what} stable");
            assert_eq!(
                Some(g.regression_detected),
                w["regression_detected"].as_bool(),
                "{what} detected"
            );
        }
    }
    eprintln!("largest |rust - python| difference: {:e}", c.worst);
}
