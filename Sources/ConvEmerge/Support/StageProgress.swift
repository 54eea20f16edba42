import Foundation

/// The callbacks of work done in stages, handed down together: `stage` starts one, with an
/// estimate in seconds when its progress cannot be observed; `fraction` (in [0, 1]) is how far
/// the current one is.
struct StageProgress {
    var stage: ((String, Double?) -> Void)?
    var fraction: ((Double) -> Void)?
}

/// Seconds per n^3 of the dense GSL routines on an n x n matrix. They run to the end without a
/// word, so their stage is announced with this estimate instead. Measured with GSL 2.7.1 and its
/// reference CBLAS on one core of a 2-core x86-64 machine at n = 512 ... 2048 (eigensystem 20 s
/// and SVD 25 s at n = 1024, Cholesky 3 s at 2048); the cost per n^3 creeps up with n as the
/// matrix outgrows the caches, and other machines differ by a small factor.
enum DenseCost: Double {
    case eigensystem = 2e-8
    case singularValues = 2.5e-8
    case cholesky = 3.5e-10

    func seconds(_ n: Int) -> Double { rawValue * pow(Double(n), 3) }
}
