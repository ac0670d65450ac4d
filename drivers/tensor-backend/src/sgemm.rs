//! A safe `f32` GEMM over slices: the one call into `matrixmultiply`'s pointer API.
//!
//! `matrixmultiply::sgemm` takes raw pointers and strides; [`sgemm`] takes row-major
//! slices, checks their lengths against the shape and only then calls it.

#![allow(unsafe_code)]

use tensor_ring::reference::{Shape, ShapeMismatch};

/// Computes `c = a * b` (row-major, `a` is `m x k`, `b` is `k x n`, `c` is `m x n`)
/// on the calling thread, with the SIMD kernel `matrixmultiply` picks for this CPU.
///
/// Returns [`ShapeMismatch`] if a slice's length is not the shape's, or a dimension
/// does not fit `isize` (a stride).
pub fn sgemm(shape: Shape, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<(), ShapeMismatch> {
    shape.check(a.len(), b.len(), c.len())?;
    let Shape { m, k, n } = shape;
    let (Ok(row_stride_a), Ok(row_stride_b), Ok(row_stride_c)) =
        (isize::try_from(k), isize::try_from(n), isize::try_from(n))
    else {
        return Err(ShapeMismatch);
    };
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        c.fill(0.0);
        return Ok(());
    }
    // SAFETY:
    // 1. `a` holds `m * k` elements (checked above), and with row stride `k` and
    //    column stride 1 the last element read is `(m - 1) * k + (k - 1) < m * k`;
    //    likewise `b` (`k * n`, strides `n`, 1) and `c` (`m * n`, strides `n`, 1).
    // 2. The strides fit `isize` (checked) and index offsets stay below the slices'
    //    lengths, which fit `isize` as every slice's byte length does.
    // 3. `c` is a unique borrow, so it aliases neither `a` nor `b`; its strides
    //    (`n >= 1`, 1) address each element once, as the function requires.
    // 4. With beta 0, `c` is only written, and it is initialised anyway.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            row_stride_a,
            1,
            b.as_ptr(),
            row_stride_b,
            1,
            0.0,
            c.as_mut_ptr(),
            row_stride_c,
            1,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensor_ring::reference::first_f32_mismatch;

    #[test]
    fn agrees_with_the_reference() {
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (17, 1, 9), (33, 64, 31)] {
            let shape = Shape { m, k, n };
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 4.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 8.0)
                .collect();
            let mut c = vec![f32::NAN; m * n];
            sgemm(shape, &a, &b, &mut c).unwrap();
            assert_eq!(first_f32_mismatch(shape, &a, &b, &c), Ok(None), "{shape:?}");
        }
    }

    #[test]
    fn wrong_lengths_and_empty_shapes() {
        let shape = Shape { m: 2, k: 2, n: 2 };
        assert_eq!(
            sgemm(shape, &[0.0; 3], &[0.0; 4], &mut [0.0; 4]),
            Err(ShapeMismatch)
        );
        assert_eq!(
            sgemm(shape, &[0.0; 4], &[0.0; 4], &mut [0.0; 5]),
            Err(ShapeMismatch)
        );
        let mut c = [5.0; 4];
        assert_eq!(sgemm(Shape { m: 2, k: 0, n: 2 }, &[], &[], &mut c), Ok(()));
        assert_eq!(c, [0.0; 4]);
        assert_eq!(
            sgemm(Shape { m: 0, k: 3, n: 2 }, &[], &[0.0; 6], &mut []),
            Ok(())
        );
    }
}
