// Swift over the C module SmokeFFI, written the way UniFFI's generated Swift does it: calls
// with a RustCallStatus out-parameter become throwing calls, Rust-owned buffers are read then
// given back, and an async call polls a Rust future that resumes a continuation from a Rust
// thread through a C callback.

import Foundation

#if canImport(SmokeFFI)
    import SmokeFFI
#endif

/// An error reported by the Rust library.
public enum SmokeError: Error, Equatable {
    /// An expected error, with Rust's message.
    case rust(String)
    /// A bug on either side of the boundary.
    case unexpected(String)
}

/// Sum computed by Rust (wrapping on overflow).
public func add(_ a: UInt32, _ b: UInt32) -> UInt32 {
    smoke_add(a, b)
}

/// Rust's greeting for `name`; throws for an empty name.
public func greet(_ name: String) throws -> String {
    let bytes = Array(name.utf8)
    let buffer = try bytes.withUnsafeBufferPointer { pointer in
        try rustCall { status in
            smoke_greet(ForeignBytes(len: Int32(pointer.count), data: pointer.baseAddress), status)
        }
    }
    return takeString(buffer)
}

/// Twice `value`, computed on a Rust thread after `delayMs`; throws on overflow.
public func doubleLater(_ value: UInt64, delayMs: UInt32) async throws -> UInt64 {
    let future = smoke_future_double_later(value, delayMs)
    defer { smoke_future_free(future) }
    var poll: Int8
    repeat {
        poll = await withUnsafeContinuation { continuation in
            smoke_future_poll(
                future,
                { data, result in resumeContinuation(data: data, pollResult: result) },
                continuations.insert(continuation)
            )
        }
    } while poll != pollReady
    return try rustCall { smoke_future_complete(future, $0) }
}

/// Futures Rust has not forgotten yet.
public func liveFutureCount() -> UInt64 {
    smoke_future_count()
}

private let pollReady: Int8 = 0

private func rustCall<T>(_ body: (UnsafeMutablePointer<RustCallStatus>) -> T) throws -> T {
    var status = RustCallStatus(code: 0, errorBuf: RustBuffer(capacity: 0, len: 0, data: nil))
    let value = body(&status)
    switch status.code {
    case 0: return value
    case 1: throw SmokeError.rust(takeString(status.errorBuf))
    default: throw SmokeError.unexpected(takeString(status.errorBuf))
    }
}

/// Reads a Rust-owned UTF-8 buffer and gives it back to Rust.
private func takeString(_ buffer: RustBuffer) -> String {
    defer {
        var status = RustCallStatus(code: 0, errorBuf: RustBuffer(capacity: 0, len: 0, data: nil))
        smoke_rustbuffer_free(buffer, &status)
    }
    guard let data = buffer.data else { return "" }
    return String(decoding: UnsafeBufferPointer(start: data, count: Int(buffer.len)), as: UTF8.self)
}

/// Continuations waiting for Rust, by the number Rust hands back to the callback (a C function
/// pointer cannot capture them).
private final class ContinuationMap: @unchecked Sendable {
    private let lock = NSLock()
    private var next: UInt64 = 1
    private var waiting: [UInt64: UnsafeContinuation<Int8, Never>] = [:]

    func insert(_ continuation: UnsafeContinuation<Int8, Never>) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        let key = next
        next += 1
        waiting[key] = continuation
        return key
    }

    func remove(_ key: UInt64) -> UnsafeContinuation<Int8, Never>? {
        lock.lock()
        defer { lock.unlock() }
        return waiting.removeValue(forKey: key)
    }
}

private let continuations = ContinuationMap()

private func resumeContinuation(data: UInt64, pollResult: Int8) {
    continuations.remove(data)?.resume(returning: pollResult)
}
