import CGSL

/// Dense D x D linear algebra through GSL (row-major `[Double]`, entry (i, j) at
/// i * n + j). The library's own paths are circulant and cost O(D log D); these
/// O(D^2)-O(D^3) routines exist as independent references for the tests and as
/// the baseline of the sampling benchmark (derivations/circulant-sampler.md).
public enum DenseLinearAlgebra {
    /// Eigenvalues of the symmetric n x n matrix `m`, ascending (gsl_eigen_symm).
    public static func symmetricEigenvalues(_ m: [Double], n: Int) throws -> [Double] {
        precondition(n > 0 && m.count == n * n, "matrix must have n * n entries")
        GSL.initialize()
        var copy = m  // gsl_eigen_symm destroys its input
        let values = gsl_vector_alloc(n)!
        let workspace = gsl_eigen_symm_alloc(n)!
        defer { gsl_vector_free(values); gsl_eigen_symm_free(workspace) }
        let status = copy.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var view = gsl_matrix_view_array(buffer.baseAddress!, n, n)
            return gsl_eigen_symm(&view.matrix, values, workspace)
        }
        try GSL.check(status, "gsl_eigen_symm")
        return (0..<n).map { gsl_vector_get(values, $0) }.sorted()
    }

    /// The lower-triangular L with L L^T = m (row-major, zeros above the
    /// diagonal), by gsl_linalg_cholesky_decomp1. Throws `ConvEmergeError.gsl`
    /// (status GSL_EDOM) when m is not numerically positive definite.
    public static func cholesky(_ m: [Double], n: Int) throws -> [Double] {
        precondition(n > 0 && m.count == n * n, "matrix must have n * n entries")
        GSL.initialize()
        var factor = m
        let status = factor.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var view = gsl_matrix_view_array(buffer.baseAddress!, n, n)
            return gsl_linalg_cholesky_decomp1(&view.matrix)
        }
        try GSL.check(status, "gsl_linalg_cholesky_decomp1")
        // decomp1 leaves the strict upper triangle untouched (it still holds m).
        for i in 0..<n { for j in (i + 1)..<n { factor[i * n + j] = 0 } }
        return factor
    }

    /// m v for a general n x n matrix (cblas_dgemv).
    public static func multiply(_ m: [Double], n: Int, _ v: [Double]) -> [Double] {
        precondition(m.count == n * n && v.count == n, "dimension mismatch")
        var out = [Double](repeating: 0, count: n)
        m.withUnsafeBufferPointer { a in
            v.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { y in
                    cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(n), 1, a.baseAddress!, Int32(n),
                                x.baseAddress!, 1, 0, y.baseAddress!, 1)
                }
            }
        }
        return out
    }

    /// out = m v for a symmetric n x n matrix (cblas_dsymv, upper triangle read).
    public static func symmetricMultiply(_ m: [Double], n: Int, _ v: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        precondition(m.count == n * n, "matrix must have n * n entries")
        m.withUnsafeBufferPointer { a in
            cblas_dsymv(CblasRowMajor, CblasUpper, Int32(n), 1, a.baseAddress!, Int32(n), v, 1, 0, out, 1)
        }
    }

    /// v <- L v in place for a lower-triangular row-major L (cblas_dtrmv):
    /// allocation-free, for the dense sampler's inner loop.
    @inline(__always)
    public static func multiplyLowerTriangular(_ lower: UnsafePointer<Double>, n: Int, _ v: UnsafeMutablePointer<Double>) {
        cblas_dtrmv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, Int32(n), lower, Int32(n), v, 1)
    }
}

extension DenseLinearAlgebra {
    /// The minimum-norm least-squares solution of m x = b by SVD (gsl_linalg_SV_decomp),
    /// singular values below `relativeCutoff` times the largest treated as zero.
    public static func leastSquaresSolve(_ m: [Double], n: Int, _ b: [Double], relativeCutoff: Double) throws -> [Double] {
        precondition(m.count == n * n && b.count == n, "dimension mismatch")
        GSL.initialize()
        var u = m
        let v = gsl_matrix_alloc(n, n)!, s = gsl_vector_alloc(n)!, work = gsl_vector_alloc(n)!
        let rhs = gsl_vector_alloc(n)!, x = gsl_vector_alloc(n)!
        defer { gsl_matrix_free(v); gsl_vector_free(s); gsl_vector_free(work); gsl_vector_free(rhs); gsl_vector_free(x) }
        for i in 0..<n { gsl_vector_set(rhs, i, b[i]) }
        let status = u.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var view = gsl_matrix_view_array(buffer.baseAddress!, n, n)
            let decomposed = gsl_linalg_SV_decomp(&view.matrix, v, s, work)
            guard decomposed == GSL_SUCCESS else { return decomposed }
            let largest = gsl_vector_get(s, 0)
            for i in 0..<n where gsl_vector_get(s, i) < relativeCutoff * largest { gsl_vector_set(s, i, 0) }
            return gsl_linalg_SV_solve(&view.matrix, v, s, rhs, x)
        }
        try GSL.check(status, "gsl_linalg_SV_solve")
        return (0..<n).map { gsl_vector_get(x, $0) }
    }
}

extension DenseLinearAlgebra {
    /// Eigenvalues and right eigenvectors of a general real n x n matrix (row-major) by
    /// gsl_eigen_nonsymmv; pair k is (lambda_k, v_k), both complex, in GSL's order.
    public static func nonsymmetricEigensystem(_ matrix: [Double], n: Int) throws
        -> [(value: (re: Double, im: Double), vector: (re: [Double], im: [Double]))] {
        GSL.initialize()
        var copy = matrix
        let values = gsl_vector_complex_alloc(n)!
        let vectors = gsl_matrix_complex_alloc(n, n)!
        let workspace = gsl_eigen_nonsymmv_alloc(n)!
        defer { gsl_vector_complex_free(values); gsl_matrix_complex_free(vectors); gsl_eigen_nonsymmv_free(workspace) }
        let status = copy.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var view = gsl_matrix_view_array(buffer.baseAddress!, n, n)
            return gsl_eigen_nonsymmv(&view.matrix, values, vectors, workspace)
        }
        try GSL.check(status, "gsl_eigen_nonsymmv")
        let valueData = values.pointee.data!, stride = values.pointee.stride
        let vectorData = vectors.pointee.data!, tda = vectors.pointee.tda
        return (0..<n).map { k in
            var re = [Double](repeating: 0, count: n), im = re
            for i in 0..<n {
                re[i] = vectorData[2 * (i * tda + k)]
                im[i] = vectorData[2 * (i * tda + k) + 1]
            }
            return ((valueData[2 * k * stride], valueData[2 * k * stride + 1]), (re, im))
        }
    }
}
