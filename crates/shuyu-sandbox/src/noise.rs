//! Exact samplers for differential privacy (SPEC §4.5): the discrete Laplace and discrete
//! Gaussian distributions, after Canonne, Kamath and Steinke, "The Discrete Gaussian for
//! Differential Privacy" (NeurIPS 2020), algorithms 1–3.
//!
//! Every step works on integers and rationals; no floating point touches a sample, so the
//! distribution is exactly the stated one (floating-point Laplace noise leaks through the gaps
//! between representable values, Mironov 2012). Randomness comes from a cryptographic RNG;
//! uniform integers are drawn by rejection, without modulo bias.
//!
//! - `discrete_laplace(num, den)`: P(y) ∝ exp(−|y|·den/num), scale num/den. For a count with
//!   sensitivity Δ and budget ε (as the rational ε = a/b), the scale is Δ/ε = Δ·b/a.
//! - `discrete_gaussian(σ² = n/d)`: P(y) ∝ exp(−y²/(2σ²)).
//!
//! Parameters are bounded (see [`MAX_PARAMETER`]) so that every intermediate product fits in
//! 128 bits; larger ones are an error, never a wrapped value.

use rand::{CryptoRng, RngCore};

use crate::error::{Result, SandboxError};

/// Upper bound on any numerator or denominator given to a sampler.
pub const MAX_PARAMETER: u64 = 1 << 30;

fn check(what: &str, v: u64) -> Result<u128> {
    if v == 0 || v > MAX_PARAMETER {
        return Err(SandboxError::Invalid(format!("{what} must be between 1 and {MAX_PARAMETER}, not {v}")));
    }
    Ok(u128::from(v))
}

/// A uniform integer in `[0, n)`, by rejection so that every value is equally likely.
fn uniform_below<R: RngCore + CryptoRng>(rng: &mut R, n: u128) -> u128 {
    if n <= 1 {
        return 0;
    }
    // The largest multiple of n that fits; draws at or above it are rejected.
    let zone = u128::MAX - (u128::MAX % n);
    loop {
        let v = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        if v < zone {
            return v % n;
        }
    }
}

/// True with probability `num/den` (`num ≤ den`).
fn bernoulli<R: RngCore + CryptoRng>(rng: &mut R, num: u128, den: u128) -> bool {
    uniform_below(rng, den) < num
}

/// True with probability exp(−num/den), for any `num/den ≥ 0` (CKS algorithm 1).
fn bernoulli_exp<R: RngCore + CryptoRng>(rng: &mut R, num: u128, den: u128) -> bool {
    if num > den {
        // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)).
        for _ in 0..num / den {
            if !bernoulli_exp(rng, 1, 1) {
                return false;
            }
        }
        return bernoulli_exp(rng, num % den, den);
    }
    // γ ∈ [0, 1]: count how long Bernoulli(γ/k) keeps succeeding; odd means true.
    let mut k: u128 = 1;
    while bernoulli(rng, num, den.saturating_mul(k)) {
        k += 1;
    }
    k % 2 == 1
}

/// A sample of the discrete Laplace distribution with scale `num/den` (CKS algorithm 2, with
/// t = `num` and s = `den`).
pub fn discrete_laplace<R: RngCore + CryptoRng>(rng: &mut R, num: u64, den: u64) -> Result<i64> {
    let (t, s) = (check("the scale's numerator", num)?, check("the scale's denominator", den)?);
    loop {
        let u = uniform_below(rng, t);
        if !bernoulli_exp(rng, u, t) {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp(rng, 1, 1) {
            v += 1;
        }
        let y = (u + t * v) / s;
        let negative = bernoulli(rng, 1, 2);
        if negative && y == 0 {
            continue;
        }
        let y = i64::try_from(y).map_err(|_| SandboxError::Invalid("noise out of range".into()))?;
        return Ok(if negative { -y } else { y });
    }
}

/// A sample of the discrete Gaussian distribution with variance parameter σ² = `num/den`
/// (CKS algorithm 3).
pub fn discrete_gaussian<R: RngCore + CryptoRng>(rng: &mut R, num: u64, den: u64) -> Result<i64> {
    let (n, d) = (check("σ²'s numerator", num)?, check("σ²'s denominator", den)?);
    // t = ⌊σ⌋ + 1, with ⌊σ⌋ the integer square root of ⌊σ²⌋.
    let t = isqrt(n / d) + 1;
    let t64 = u64::try_from(t).map_err(|_| SandboxError::Invalid("σ out of range".into()))?;
    loop {
        let y = discrete_laplace(rng, t64, 1)?;
        // Accept with probability exp(−(|y| − σ²/t)² / (2σ²)) = exp(−(|y|·t·d − n)² / (2·n·d·t²)).
        let a = u128::from(y.unsigned_abs()) * t * d;
        let diff = a.abs_diff(n);
        let Some(top) = diff.checked_mul(diff) else { continue };
        let bottom = 2 * n * d * t * t;
        if bernoulli_exp(rng, top, bottom) {
            return Ok(y);
        }
    }
}

fn isqrt(v: u128) -> u128 {
    let mut r = (v as f64).sqrt() as u128;
    while r * r > v {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= v {
        r += 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const SAMPLES: usize = 200_000;

    /// Pearson's χ² of observed counts against probabilities, pooling the tails beyond ±`cut`.
    fn chi_square(samples: &[i64], pmf: impl Fn(i64) -> f64, cut: i64) -> (f64, usize) {
        let norm: f64 = (-10 * cut..=10 * cut).map(&pmf).sum();
        let mut chi = 0.0;
        let mut cells = 0;
        let mut tail_expected = 1.0;
        for y in -cut..=cut {
            let expected = pmf(y) / norm * samples.len() as f64;
            tail_expected -= pmf(y) / norm;
            let observed = samples.iter().filter(|&&s| s == y).count() as f64;
            chi += (observed - expected).powi(2) / expected;
            cells += 1;
        }
        let tail_observed = samples.iter().filter(|&&s| s.abs() > cut).count() as f64;
        let tail_expected = tail_expected * samples.len() as f64;
        if tail_expected > 5.0 {
            chi += (tail_observed - tail_expected).powi(2) / tail_expected;
            cells += 1;
        }
        (chi, cells - 1)
    }

    /// The χ² value that a correct sampler exceeds with probability about 10⁻⁶, for `df` degrees
    /// of freedom (Wilson–Hilferty, z = 4.75).
    fn critical(df: usize) -> f64 {
        let k = df as f64;
        let z = 4.75;
        k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
    }

    #[test]
    fn discrete_laplace_has_the_stated_scale() {
        let mut rng = StdRng::seed_from_u64(20261123);
        for (num, den) in [(2u64, 1u64), (1, 2), (10, 3)] {
            let scale = num as f64 / den as f64;
            let samples: Vec<i64> = (0..SAMPLES).map(|_| discrete_laplace(&mut rng, num, den).unwrap()).collect();
            let cut = (4.0 * scale).ceil() as i64;
            let (chi, df) = chi_square(&samples, |y| (-(y.abs() as f64) / scale).exp(), cut);
            assert!(chi < critical(df), "scale {scale}: χ² {chi:.1} with {df} degrees of freedom");
            let mean = samples.iter().sum::<i64>() as f64 / SAMPLES as f64;
            assert!(mean.abs() < 0.05 * scale.max(1.0), "scale {scale}: mean {mean}");
        }
    }

    #[test]
    fn the_wrong_scale_is_detected() {
        // The test above can fail: samples of scale 2 do not pass as scale 2.5.
        let mut rng = StdRng::seed_from_u64(7);
        let samples: Vec<i64> = (0..SAMPLES).map(|_| discrete_laplace(&mut rng, 2, 1).unwrap()).collect();
        let (chi, df) = chi_square(&samples, |y| (-(y.abs() as f64) / 2.5).exp(), 10);
        assert!(chi > critical(df), "χ² {chi:.1}");
    }

    #[test]
    fn discrete_gaussian_has_the_stated_variance() {
        let mut rng = StdRng::seed_from_u64(42);
        for (num, den) in [(9u64, 1u64), (1, 4), (50, 1)] {
            let sigma2 = num as f64 / den as f64;
            let samples: Vec<i64> = (0..SAMPLES).map(|_| discrete_gaussian(&mut rng, num, den).unwrap()).collect();
            let cut = (3.0 * sigma2.sqrt()).ceil() as i64;
            let (chi, df) = chi_square(&samples, |y| (-((y * y) as f64) / (2.0 * sigma2)).exp(), cut);
            assert!(chi < critical(df), "σ² {sigma2}: χ² {chi:.1} with {df} degrees of freedom");
        }
    }

    #[test]
    fn bernoulli_exp_matches_exp() {
        let mut rng = StdRng::seed_from_u64(1);
        for (num, den) in [(1u128, 2u128), (3, 1), (7, 3)] {
            let hits = (0..SAMPLES).filter(|_| bernoulli_exp(&mut rng, num, den)).count() as f64;
            let p = (-(num as f64) / den as f64).exp();
            let sd = (p * (1.0 - p) / SAMPLES as f64).sqrt();
            assert!((hits / SAMPLES as f64 - p).abs() < 5.0 * sd, "exp(-{num}/{den})");
        }
    }

    #[test]
    fn parameters_out_of_range_are_errors() {
        let mut rng = StdRng::seed_from_u64(3);
        assert!(discrete_laplace(&mut rng, 0, 1).is_err());
        assert!(discrete_laplace(&mut rng, MAX_PARAMETER + 1, 1).is_err());
        assert!(discrete_gaussian(&mut rng, 1, 0).is_err());
        assert!(discrete_gaussian(&mut rng, MAX_PARAMETER, 1).is_ok());
    }
}
