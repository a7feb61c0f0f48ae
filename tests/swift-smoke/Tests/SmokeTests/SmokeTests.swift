// Each test would fail if Swift could not reach the Rust library, or got its values, errors,
// memory or async wake-ups wrong.

import Foundation
import Smoke
import XCTest

/// How long an async call may take before its test fails (a lost wake-up would otherwise hang).
let asyncLimit: TimeInterval = 10

struct TimedOut: Error {}

/// The outcome of `body`, or `TimedOut` if it has not finished within `asyncLimit`. A call that
/// never finishes is left behind: a continuation nobody resumes cannot be cancelled.
func withinLimit<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let done = XCTestExpectation(description: "async call finished")
    let outcome = Outcome<T>()
    Task {
        do {
            outcome.set(.success(try await body()))
        } catch {
            outcome.set(.failure(error))
        }
        done.fulfill()
    }
    _ = await XCTWaiter.fulfillment(of: [done], timeout: asyncLimit)
    guard let result = outcome.get() else { throw TimedOut() }
    return try result.get()
}

final class Outcome<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, Error>?
    func set(_ r: Result<T, Error>) {
        lock.lock()
        defer { lock.unlock() }
        result = r
    }
    func get() -> Result<T, Error>? {
        lock.lock()
        defer { lock.unlock() }
        return result
    }
}

final class SmokeTests: XCTestCase {
    func testSumComesFromRust() {
        XCTAssertEqual(add(2, 3), 5)
        // Rust wraps where Swift's `+` would trap: the answer can only have come from Rust.
        XCTAssertEqual(add(UInt32.max, 2), 1)
    }

    func testStringsCrossBothWaysAsUtf8() throws {
        XCTAssertEqual(try greet("Wayúu 🌎"), "hello, Wayúu 🌎")
    }

    func testRustErrorBecomesSwiftError() {
        XCTAssertThrowsError(try greet("")) { error in
            XCTAssertEqual(error as? SmokeError, .rust("empty name"))
        }
    }

    func testAsyncCallIsResumedFromARustThread() async throws {
        let value = try await withinLimit { try await doubleLater(21, delayMs: 50) }
        XCTAssertEqual(value, 42)
    }

    func testAsyncRustErrorIsThrown() async {
        do {
            _ = try await withinLimit { try await doubleLater(UInt64.max, delayMs: 0) }
            XCTFail("doubling UInt64.max did not throw")
        } catch {
            XCTAssertEqual(error as? SmokeError, .rust("overflow"))
        }
    }

    func testManyConcurrentAsyncCallsEachGetTheirOwnResultAndAreFreed() async throws {
        let before = liveFutureCount()
        let results = try await withinLimit {
            try await withThrowingTaskGroup(of: (UInt64, UInt64).self) { group in
                for i in UInt64(0)..<64 {
                    group.addTask { (i, try await doubleLater(i, delayMs: UInt32(i % 7) * 5)) }
                }
                var results: [UInt64: UInt64] = [:]
                for try await (input, output) in group {
                    results[input] = output
                }
                return results
            }
        }
        XCTAssertEqual(results.count, 64)
        for (input, output) in results {
            XCTAssertEqual(output, input * 2)
        }
        XCTAssertEqual(liveFutureCount(), before)
    }
}
