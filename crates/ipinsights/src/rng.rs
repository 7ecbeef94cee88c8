//! Samplers written on top of `RngCore` so that generated data and training are reproducible
//! for a seed regardless of how `rand`'s own distributions change between releases.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator used everywhere in this crate.
pub type Rng = ChaCha8Rng;

/// A generator for `seed`, on an independent stream per `stream` (e.g. one per user).
pub fn rng(seed: u64, stream: u64) -> Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Uniform integer in `0..n` (`n > 0`), by Lemire's multiply-shift with rejection.
pub fn below(r: &mut Rng, n: u64) -> u64 {
    debug_assert!(n > 0);
    let mut m = u128::from(r.next_u64()) * u128::from(n);
    if (m as u64) < n {
        // Reject the few low products that would bias the result.
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(r.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// Uniform `u32` (a uniformly random IPv4 address: every octet uniform on 0..=255).
pub fn u32(r: &mut Rng) -> u32 {
    r.next_u32()
}

/// Uniform float in `[0, 1)` with 53 random bits.
pub fn unit(r: &mut Rng) -> f64 {
    (r.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform float in `(0, 1]`, safe to take the logarithm of.
pub fn unit_open0(r: &mut Rng) -> f64 {
    1.0 - unit(r)
}

/// Standard normal by Box-Muller (one value per call; simplicity over speed).
pub fn normal(r: &mut Rng) -> f64 {
    let u1 = unit_open0(r);
    let u2 = unit(r);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Gamma(k, 1) for a positive integer shape `k`: a sum of `k` standard exponentials.
fn gamma_int(r: &mut Rng, k: u32) -> f64 {
    (0..k).map(|_| -unit_open0(r).ln()).sum()
}

/// Beta(a, b) for positive integer parameters, as `G_a / (G_a + G_b)`.
pub fn beta_int(r: &mut Rng, a: u32, b: u32) -> f64 {
    let x = gamma_int(r, a);
    let y = gamma_int(r, b);
    x / (x + y)
}

/// In-place Fisher-Yates shuffle.
pub fn shuffle<T>(r: &mut Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = below(r, i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_are_in_range_and_reproducible() {
        let mut a = rng(7, 1);
        let mut b = rng(7, 1);
        for _ in 0..1000 {
            let x = below(&mut a, 10);
            assert_eq!(x, below(&mut b, 10));
            assert!(x < 10);
            let u = unit(&mut a);
            assert_eq!(u, unit(&mut b));
            assert!((0.0..1.0).contains(&u));
        }
        let mut c = rng(7, 2);
        assert_ne!(below(&mut a, 1 << 40), below(&mut c, 1 << 40));
    }

    #[test]
    fn beta_has_the_right_mean() {
        let mut r = rng(1, 0);
        let n = 20_000;
        let m: f64 = (0..n).map(|_| beta_int(&mut r, 3, 5)).sum::<f64>() / n as f64;
        assert!((m - 0.375).abs() < 0.01, "{m}");
    }
}
