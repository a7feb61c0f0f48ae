// swift-tools-version:6.0
// Checks the Swift toolchain against a Rust C-ABI library the way the generated Mapeo bindings
// will use it: a C module (header + module map) for the library, a Swift wrapper over it, XCTest.
// The library's folder is passed at build time (-Xlinker -L / -rpath): see README.md.
import PackageDescription

let package = Package(
    name: "SwiftSmoke",
    targets: [
        // Like UniFFI's `<name>FFI.h` + `<name>FFI.modulemap`, the modulemap renamed
        // module.modulemap, which is the name SwiftPM looks for.
        .systemLibrary(name: "SmokeFFI", path: "Sources/SmokeFFI"),
        // Like the generated `<name>.swift`. UniFFI's module map has no `link` line, so the
        // library is named here.
        .target(
            name: "Smoke",
            dependencies: ["SmokeFFI"],
            linkerSettings: [.linkedLibrary("mapeo_swift_smoke")]
        ),
        .testTarget(name: "SmokeTests", dependencies: ["Smoke"]),
    ]
)
