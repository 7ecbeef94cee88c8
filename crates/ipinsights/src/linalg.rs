//! Hand-written f32 kernels.
//!
//! Every kernel fixes the order in which it adds things up (16 independent lanes for dot
//! products, a sequential sum over the inner dimension for matrix products) and never uses
//! fused multiply-add. The compiler may put the lanes in SSE, AVX2 or NEON registers, but it
//! cannot change the arithmetic, so a model scores bit-identically on every platform and a
//! seed trains the same weights whatever the number of threads.
//!
//! On x86_64 each kernel is compiled twice, for the baseline and for AVX2, and picked at run
//! time ([`multiversion!`]); both copies compute the same bits.

use rayon::prelude::*;

/// Lanes of the dot-product accumulators. Part of the numeric definition of a score.
pub(crate) const LANES: usize = 16;

/// Defines `$name` as a dispatcher over an `#[inline(always)]` body `$body`, compiled once
/// for the baseline target and once with AVX2 enabled.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$lt:lifetime>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:path) => {
        $(#[$m])*
        $vis fn $name $(<$lt>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2 $(<$lt>)? ($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Asks the CPU to start loading the cache line at `p`. A hint only: it never faults.
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint that cannot fault, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `prfm` is a hint that cannot fault and touches no register but its input.
    unsafe {
        core::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Prefetches every cache line of `s`.
#[inline(always)]
pub(crate) fn prefetch_slice(s: &[f32]) {
    let p = s.as_ptr().cast::<u8>();
    let bytes = std::mem::size_of_val(s);
    let mut off = 0;
    while off < bytes {
        prefetch(p.wrapping_add(off));
        off += 64;
    }
}

/// Sums the 16 lanes pairwise (a fixed tree).
#[inline(always)]
pub(crate) fn reduce_lanes(mut acc: [f32; LANES]) -> f32 {
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            acc[l] += acc[l + w];
        }
        w /= 2;
    }
    acc[0]
}

/// `Σ a[i]·b[i]` with 16 lane accumulators; element `i` goes to lane `i % 16`.
#[inline(always)]
pub(crate) fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ac, ar) = a[..n].as_chunks::<LANES>();
    let (bc, br) = b[..n].as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ar.iter().zip(br).enumerate() {
        acc[l] += x * y;
    }
    reduce_lanes(acc)
}

multiversion! {
    /// Dot product (see [`dot_body`] for the summation order).
    pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 => dot_body
}

/// `y += alpha·x`.
#[inline(always)]
pub(crate) fn axpy_body(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

multiversion! {
    /// `y += alpha·x`.
    pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) => axpy_body
}

/// `dst = Σ rows` (in order: `((r0 + r1) + r2) + …`).
#[inline(always)]
pub(crate) fn sum_rows_body(dst: &mut [f32], rows: &[&[f32]]) {
    let Some((first, rest)) = rows.split_first() else {
        dst.fill(0.0);
        return;
    };
    dst.copy_from_slice(&first[..dst.len()]);
    for r in rest {
        for (d, x) in dst.iter_mut().zip(r.iter()) {
            *d += x;
        }
    }
}

/// ReLU as used by the IP encoder. Written as a comparison so that -0.0 and NaN map to +0.0
/// the same way everywhere.
#[inline(always)]
pub(crate) fn relu(x: f32) -> f32 {
    if x > 0.0 { x } else { 0.0 }
}

/// `C (=|+=) A·B` for dense row-major `A: m×k`, `B: k×n`, `C: m×n`. Each element of `C` is
/// accumulated sequentially over `p = 0..k`, starting from 0 (or from `C`).
#[inline(always)]
pub(crate) fn gemm_body(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    const MR: usize = 4;
    const NR: usize = 16;
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let mut i = 0;
    while i < m {
        let mr = MR.min(m - i);
        let mut j = 0;
        while j < n {
            let nr = NR.min(n - j);
            if mr == MR && nr == NR {
                let mut acc = [[0f32; NR]; MR];
                if accumulate {
                    for (r, row) in acc.iter_mut().enumerate() {
                        row.copy_from_slice(&c[(i + r) * n + j..(i + r) * n + j + NR]);
                    }
                }
                let a0 = &a[i * k..(i + 1) * k];
                let a1 = &a[(i + 1) * k..(i + 2) * k];
                let a2 = &a[(i + 2) * k..(i + 3) * k];
                let a3 = &a[(i + 3) * k..(i + 4) * k];
                for p in 0..k {
                    let Some(bp) = b[p * n + j..].first_chunk::<NR>() else {
                        unreachable!("b has k×n elements")
                    };
                    let av = [a0[p], a1[p], a2[p], a3[p]];
                    for r in 0..MR {
                        for q in 0..NR {
                            acc[r][q] += av[r] * bp[q];
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    c[(i + r) * n + j..(i + r) * n + j + NR].copy_from_slice(row);
                }
            } else {
                for r in i..i + mr {
                    for q in j..j + nr {
                        let mut s = if accumulate { c[r * n + q] } else { 0.0 };
                        for p in 0..k {
                            s += a[r * k + p] * b[p * n + q];
                        }
                        c[r * n + q] = s;
                    }
                }
            }
            j += nr;
        }
        i += mr;
    }
}

multiversion! {
    /// Serial matrix product (see [`gemm_body`]).
    pub(crate) fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        accumulate: bool,
    ) => gemm_body
}

/// [`gemm`] with the rows of `C` split across the rayon pool. The result does not depend on
/// the split because rows are independent.
pub(crate) fn par_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    // Multiples of 4 rows keep the register-blocked path busy; ~4 tasks per thread balance
    // the load without too much scheduling overhead.
    let rows = m.div_ceil(threads * 4).next_multiple_of(4).max(4);
    if rows >= m || m * n * k < 1 << 16 {
        gemm(m, n, k, a, b, c, accumulate);
        return;
    }
    c[..m * n]
        .par_chunks_mut(rows * n)
        .enumerate()
        .for_each(|(t, cc)| {
            let i0 = t * rows;
            let mm = cc.len() / n;
            gemm(mm, n, k, &a[i0 * k..(i0 + mm) * k], b, cc, accumulate);
        });
}

/// Transpose of a dense row-major `m×n` matrix.
pub(crate) fn transpose(m: usize, n: usize, a: &[f32]) -> Vec<f32> {
    let mut t = vec![0f32; m * n];
    const T: usize = 32;
    for i0 in (0..m).step_by(T) {
        for j0 in (0..n).step_by(T) {
            for i in i0..(i0 + T).min(m) {
                for j in j0..(j0 + T).min(n) {
                    t[j * m + i] = a[i * n + j];
                }
            }
        }
    }
    t
}

/// Adam constants (MXNet's defaults).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamStep {
    /// Learning rate with the bias corrections of step `t` folded in.
    pub lr_t: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Coupled L2 weight decay: added to the gradient as `wd·w` (MXNet's Adam, not AdamW).
    pub wd: f32,
}

impl AdamStep {
    pub(crate) fn new(lr: f64, wd: f64, t: u64) -> Self {
        let (b1, b2) = (0.9f64, 0.999f64);
        let t = t.min(i32::MAX as u64) as i32;
        let lr_t = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        Self {
            lr_t: lr_t as f32,
            beta1: b1 as f32,
            beta2: b2 as f32,
            eps: 1e-8,
            wd: wd as f32,
        }
    }
}

/// One Adam update of `w` with gradient `g`.
#[inline(always)]
pub(crate) fn adam_body(w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: AdamStep) {
    let (b1, b2) = (s.beta1, s.beta2);
    let (c1, c2) = (1.0 - b1, 1.0 - b2);
    for (((wi, mi), vi), gi) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
        let g = gi + s.wd * *wi;
        *mi = b1 * *mi + c1 * g;
        *vi = b2 * *vi + c2 * g * g;
        *wi -= s.lr_t * *mi / (vi.sqrt() + s.eps);
    }
}

multiversion! {
    /// One Adam update (see [`adam_body`]).
    pub(crate) fn adam(w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: AdamStep) => adam_body
}

/// Adam over a whole dense tensor, split across the pool.
pub(crate) fn par_adam(w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: AdamStep) {
    const CHUNK: usize = 1 << 14;
    w.par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .zip(g.par_chunks(CHUNK))
        .for_each(|(((w, m), v), g)| adam(w, m, v, g, s));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f32;
                for p in 0..k {
                    s += a[i * k + p] * b[p * n + j];
                }
                c[i * n + j] = s;
            }
        }
        c
    }

    fn data(len: usize, salt: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(salt) % 1000) as f32 / 500.0
                    - 1.0
            })
            .collect()
    }

    #[test]
    fn gemm_is_bitwise_the_naive_sequential_sum() {
        for &(m, n, k) in &[
            (1, 16, 8),
            (5, 17, 3),
            (9, 33, 64),
            (64, 128, 128),
            (3, 5, 7),
        ] {
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let mut c = vec![0f32; m * n];
            gemm(m, n, k, &a, &b, &mut c, false);
            assert_eq!(c, naive(m, n, k, &a, &b), "{m}x{n}x{k}");
            let mut cp = vec![0f32; m * n];
            par_gemm(m, n, k, &a, &b, &mut cp, false);
            assert_eq!(cp, c);
            // Baseline and AVX2 copies agree bit for bit.
            let mut cb = vec![0f32; m * n];
            gemm_body(m, n, k, &a, &b, &mut cb, false);
            assert_eq!(cb, c);
        }
    }

    #[test]
    fn gemm_accumulates() {
        let (m, n, k) = (8, 32, 16);
        let a = data(m * k, 3);
        let b = data(k * n, 4);
        let mut c = vec![1f32; m * n];
        gemm(m, n, k, &a, &b, &mut c, true);
        let plain = naive(m, n, k, &a, &b);
        for (x, y) in c.iter().zip(&plain) {
            assert!((x - (y + 1.0)).abs() < 1e-5);
        }
    }

    #[test]
    fn dot_and_transpose() {
        let a = data(37, 5);
        let b = data(37, 6);
        let exact: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        assert!((f64::from(dot(&a, &b)) - exact).abs() < 1e-4);
        assert_eq!(dot(&a, &b), dot_body(&a, &b));
        let t = transpose(3, 37, &data(111, 7));
        let tt = transpose(37, 3, &t);
        assert_eq!(tt, data(111, 7));
    }

    #[test]
    fn adam_moves_against_the_gradient() {
        let mut w = vec![1.0f32; 4];
        let mut m = vec![0.0; 4];
        let mut v = vec![0.0; 4];
        adam(
            &mut w,
            &mut m,
            &mut v,
            &[1.0, -1.0, 0.0, 2.0],
            AdamStep::new(0.1, 0.0, 1),
        );
        // First Adam step moves each weight by ~lr in the sign of -g.
        assert!((w[0] - 0.9).abs() < 1e-4);
        assert!((w[1] - 1.1).abs() < 1e-4);
        assert_eq!(w[2], 1.0);
    }
}
