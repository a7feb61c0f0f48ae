// swift-tools-version:5.9
// Mapeo for Swift: the generated bindings over the Rust core (MapeoKit) and the app's view
// logic (MapeoViewLogic, Foundation and MapeoKit only). The SwiftUI app in App/ uses both.
//
// The generated code is build output, not committed: scripts/ios-xcframework.sh (macOS)
// and scripts/swift-test.sh (Linux) fill Generated/ from scripts/bindings.sh's output.
// - On Apple platforms the C side (header, module map, static library for device and
//   simulator) is the xcframework that scripts/ios-xcframework.sh builds.
// - On Linux (this repository's CI) it is the header and module map as a system library,
//   linked against the host build of libmapeo_ffi.so, whose folder is passed at build time
//   (-Xlinker -L ... -Xlinker -rpath ...): see scripts/swift-test.sh.
import PackageDescription

#if os(Linux)
let ffi: Target = .systemLibrary(name: "mapeo_ffiFFI", path: "Generated/mapeo_ffiFFI")
let nativeLinks: [LinkerSetting] = [.linkedLibrary("mapeo_ffi")]
#else
let ffi: Target = .binaryTarget(name: "mapeo_ffiFFI", path: "Generated/mapeo_ffiFFI.xcframework")
// The static library's system dependencies: `getrandom` 0.2 calls SecRandomCopyBytes.
let nativeLinks: [LinkerSetting] = [.linkedFramework("Security")]
#endif

let package = Package(
    name: "Mapeo",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "MapeoKit", targets: ["MapeoKit"]),
        .library(name: "MapeoViewLogic", targets: ["MapeoViewLogic"]),
    ],
    targets: [
        ffi,
        // UniFFI's generated mapeo_ffi.swift, as is.
        .target(
            name: "MapeoKit",
            dependencies: ["mapeo_ffiFFI"],
            path: "Generated/MapeoKit",
            linkerSettings: nativeLinks
        ),
        .target(name: "MapeoViewLogic", dependencies: ["MapeoKit"]),
        .testTarget(name: "MapeoViewLogicTests", dependencies: ["MapeoViewLogic"]),
        // Two devices through the bindings over 127.0.0.1 (needs MAPEO_TEST_JPEG: see the file).
        .testTarget(name: "MapeoKitTests", dependencies: ["MapeoKit", "MapeoViewLogic"]),
    ]
)
