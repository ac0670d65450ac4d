//! The backend's kernels: multi-threaded `f32` GEMM and `i8` matmul over row bands of C.
//!
//! Both split C's rows into contiguous bands, one per thread (scoped threads, the
//! last band on the calling thread), and run a single-threaded kernel on each: the
//! `matrixmultiply` GEMM for `f32` ([`crate::sgemm`]); for `i8`, the same GEMM on
//! the values widened to `f32` while that is exact ([`EXACT_F32_DEPTH`]), else a
//! widening integer loop. A band is only worth a thread above [`MIN_MULTIPLY_ADDS_PER_THREAD`].

use std::thread;

use tensor_ring::reference::{Shape, ShapeMismatch};

use crate::sgemm::sgemm;

/// The least work (multiply-adds) given to one thread: below it, starting a thread
/// costs more than it saves.
pub const MIN_MULTIPLY_ADDS_PER_THREAD: usize = 1 << 20;

/// Returns how many row bands `shape` is split into with up to `threads` threads.
pub fn band_count(shape: Shape, threads: usize) -> usize {
    let work = shape.m.saturating_mul(shape.k).saturating_mul(shape.n);
    threads
        .min(shape.m)
        .min(work / MIN_MULTIPLY_ADDS_PER_THREAD)
        .max(1)
}

/// Runs `kernel` on row bands of `a` and `c` (see the module documentation).
fn in_bands<A: Sync, C: Send>(
    shape: Shape,
    threads: usize,
    a: &[A],
    c: &mut [C],
    kernel: impl Fn(Shape, &[A], &mut [C]) -> Result<(), ShapeMismatch> + Sync,
) -> Result<(), ShapeMismatch> {
    let Some([a_len, _, c_len]) = shape.lengths() else {
        return Err(ShapeMismatch);
    };
    if a.len() != a_len || c.len() != c_len {
        return Err(ShapeMismatch);
    }
    let bands = band_count(shape, threads);
    if bands == 1 || shape.k == 0 || shape.n == 0 {
        return kernel(shape, a, c);
    }
    let rows_per_band = shape.m.div_ceil(bands);
    let kernel = &kernel;
    thread::scope(|scope| {
        let mut pieces = a
            .chunks(rows_per_band * shape.k)
            .zip(c.chunks_mut(rows_per_band * shape.n))
            .map(|(a_rows, c_rows)| {
                let band = Shape {
                    m: a_rows.len() / shape.k,
                    ..shape
                };
                move || kernel(band, a_rows, c_rows)
            })
            .collect::<Vec<_>>();
        let last = pieces.pop();
        let handles: Vec<_> = pieces.into_iter().map(|piece| scope.spawn(piece)).collect();
        let mut result = last.map_or(Ok(()), |mut piece| piece());
        for handle in handles {
            // A kernel checks lengths instead of panicking; a panic would be a bug in
            // it, and is reported as a mismatch rather than taken down the backend.
            let band_result = handle.join().unwrap_or(Err(ShapeMismatch));
            result = result.and(band_result);
        }
        result
    })
}

/// Computes `c = a * b` in `f32` with up to `threads` threads.
pub fn matmul_f32(
    shape: Shape,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    threads: usize,
) -> Result<(), ShapeMismatch> {
    shape.check(a.len(), b.len(), c.len())?;
    in_bands(shape, threads, a, c, |band, a_rows, c_rows| {
        sgemm(band, a_rows, b, c_rows)
    })
}

/// Computes `c = a * b` with `i8` inputs and wrapping `i32` accumulation (the
/// reference's arithmetic, so the result is bit-exact) with up to `threads` threads.
pub fn matmul_i8(
    shape: Shape,
    a: &[i8],
    b: &[i8],
    c: &mut [i32],
    threads: usize,
) -> Result<(), ShapeMismatch> {
    shape.check(a.len(), b.len(), c.len())?;
    if shape.k <= EXACT_F32_DEPTH {
        let b_f32: Vec<f32> = b.iter().map(|&value| f32::from(value)).collect();
        return in_bands(shape, threads, a, c, |band, a_rows, c_rows| {
            matmul_i8_band_f32(band, a_rows, &b_f32, c_rows)
        });
    }
    in_bands(shape, threads, a, c, |band, a_rows, c_rows| {
        matmul_i8_band(band, a_rows, b, c_rows)
    })
}

/// The deepest inner dimension for which the `f32` GEMM computes an `i8` matmul
/// exactly: every product is an integer of magnitude at most 2^14, so every partial
/// sum, in whatever order the GEMM adds (and fuses) them, is an integer of magnitude
/// at most `k * 2^14 <= 2^24`, and `f32` holds every integer up to 2^24 exactly.
/// Deeper matmuls take the integer loop.
pub const EXACT_F32_DEPTH: usize = 1 << 10;

/// One band of an `i8` matmul through the `f32` GEMM (exact: see
/// [`EXACT_F32_DEPTH`]); `b` is already converted.
fn matmul_i8_band_f32(
    shape: Shape,
    a: &[i8],
    b: &[f32],
    c: &mut [i32],
) -> Result<(), ShapeMismatch> {
    if shape.k > EXACT_F32_DEPTH {
        return Err(ShapeMismatch);
    }
    let a: Vec<f32> = a.iter().map(|&value| f32::from(value)).collect();
    let mut sums = vec![0.0f32; c.len()];
    sgemm(shape, &a, b, &mut sums)?;
    for (out, sum) in c.iter_mut().zip(&sums) {
        // An integer of magnitude at most 2^24: the conversion is exact.
        *out = *sum as i32;
    }
    Ok(())
}

/// The single-threaded `i8` kernel: for each row of A, adds `a[i][p] * B[p]` row by
/// row into C's row, a loop over contiguous `i32`s the compiler vectorises.
fn matmul_i8_band(shape: Shape, a: &[i8], b: &[i8], c: &mut [i32]) -> Result<(), ShapeMismatch> {
    shape.check(a.len(), b.len(), c.len())?;
    let Shape { k, n, .. } = shape;
    c.fill(0);
    if k == 0 || n == 0 {
        return Ok(());
    }
    for (a_row, c_row) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)) {
        for (&a_value, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            let a_value = i32::from(a_value);
            for (out, &b_value) in c_row.iter_mut().zip(b_row) {
                *out = out.wrapping_add(a_value * i32::from(b_value));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensor_ring::reference::{self, first_f32_mismatch};

    fn inputs_i8(count: usize, salt: usize) -> Vec<i8> {
        (0..count)
            .map(|i| ((i * 37 + salt * 11) % 256) as u8 as i8)
            .collect()
    }

    #[test]
    fn bands_follow_work_and_threads() {
        let small = Shape { m: 8, k: 8, n: 8 };
        assert_eq!(band_count(small, 4), 1);
        let big = Shape {
            m: 256,
            k: 256,
            n: 256,
        };
        assert_eq!(band_count(big, 4), 4);
        assert_eq!(band_count(big, 64), 16);
        assert_eq!(
            band_count(
                Shape {
                    m: 2,
                    k: 4096,
                    n: 4096
                },
                8
            ),
            2
        );
        assert_eq!(band_count(big, 0), 1);
    }

    #[test]
    fn threaded_results_equal_the_reference() {
        for (m, k, n) in [(1, 1, 1), (7, 3, 5), (130, 67, 129), (256, 64, 256)] {
            let shape = Shape { m, k, n };
            let a = inputs_i8(m * k, 1);
            let b = inputs_i8(k * n, 2);
            let mut expected = vec![0; m * n];
            reference::matmul_i8(shape, &a, &b, &mut expected).unwrap();
            for threads in [1, 2, 3] {
                let mut c = vec![7; m * n];
                matmul_i8(shape, &a, &b, &mut c, threads).unwrap();
                assert_eq!(c, expected, "{shape:?} threads {threads}");

                let a_f32: Vec<f32> = a.iter().map(|&x| f32::from(x) / 16.0).collect();
                let b_f32: Vec<f32> = b.iter().map(|&x| f32::from(x) / 32.0).collect();
                let mut c_f32 = vec![f32::NAN; m * n];
                matmul_f32(shape, &a_f32, &b_f32, &mut c_f32, threads).unwrap();
                assert_eq!(first_f32_mismatch(shape, &a_f32, &b_f32, &c_f32), Ok(None));
            }
        }
    }

    #[test]
    fn extreme_int8_values_accumulate_exactly() {
        let shape = Shape {
            m: 2,
            k: 4096,
            n: 3,
        };
        let a = vec![-128i8; 2 * 4096];
        let b = vec![-128i8; 4096 * 3];
        let mut c = vec![0; 6];
        matmul_i8(shape, &a, &b, &mut c, 2).unwrap();
        assert_eq!(c, vec![4096 * 16384; 6]);
    }

    #[test]
    fn extreme_int8_values_are_exact_through_the_f32_gemm() {
        // The deepest matmul the f32 path takes, at the extremes: sums of exactly
        // +-2^24, and mixed signs that cancel to small values late in the sum.
        let k = EXACT_F32_DEPTH;
        let shape = Shape { m: 3, k, n: 5 };
        let mut a = vec![-128i8; 3 * k];
        for (index, value) in a[k..2 * k].iter_mut().enumerate() {
            *value = if index % 2 == 0 { 127 } else { -128 };
        }
        for (index, value) in a[2 * k..].iter_mut().enumerate() {
            *value = (index % 255) as u8 as i8;
        }
        let b: Vec<i8> = (0..k * 5)
            .map(|index| {
                if index % 5 == 4 {
                    (index % 7) as i8 - 3
                } else {
                    -128
                }
            })
            .collect();
        let mut expected = vec![0; 15];
        reference::matmul_i8(shape, &a, &b, &mut expected).unwrap();
        assert_eq!(expected[0], 1 << 24);
        for threads in [1, 2, 3] {
            let mut c = vec![0; 15];
            matmul_i8(shape, &a, &b, &mut c, threads).unwrap();
            assert_eq!(c, expected, "{threads} threads");
        }
    }

    #[test]
    fn mismatched_lengths_are_refused() {
        let shape = Shape { m: 2, k: 2, n: 2 };
        assert_eq!(
            matmul_i8(shape, &[0; 4], &[0; 3], &mut [0; 4], 2),
            Err(ShapeMismatch)
        );
        assert_eq!(
            matmul_f32(shape, &[0.0; 4], &[0.0; 4], &mut [0.0; 3], 2),
            Err(ShapeMismatch)
        );
    }
}
