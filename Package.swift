// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ConvEmerge",
    products: [
        .executable(name: "convemerge", targets: ["convemerge"]),
        .library(name: "ConvEmerge", targets: ["ConvEmerge"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CGSL", pkgConfig: "gsl",
                       providers: [.apt(["libgsl-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3",
                       providers: [.apt(["libfftw3-dev"])]),
        // renameat2(2) for atomic replacement of run directories (glibc hides it from Swift).
        .target(name: "CPosix"),
        // The SGD step's erf and ziggurat kernels, compiled for several ISAs, chosen at run time.
        .target(name: "CKernels"),
        .target(
            name: "ConvEmerge",
            dependencies: ["CGSL", "CFFTW", "CPosix", "CKernels"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "convemerge",
            dependencies: [
                "ConvEmerge",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "ConvEmergeTests", dependencies: ["ConvEmerge"]),
        // Runs the built `convemerge` binary (found next to the test bundle);
        // depending on the executable target makes `swift test` build it.
        .testTarget(name: "CLITests", dependencies: ["ConvEmerge", "convemerge"]),
    ]
)
