// The emergency wipe as the app runs it, as the Android app does (its Wipe.kt): the
// deliberate gesture that asks for it (press and hold, then type a word; cancellable until
// the wipe starts) and the steps, in their order: the core's wipe first (its destroyed keys
// make the data unreadable at once), then the Keychain's root key, then the app's own files,
// then waiting (bounded) for the core to finish deleting the data folder, so the first run
// that follows finds it empty. The screens render the state; they decide nothing.
import Foundation
import MapeoKit

/// The wipe's times, in seconds.
public enum WipeTimes {
    /// How long the wipe button must be held before the confirmation word is asked.
    public static let hold: TimeInterval = 3
    /// How long the core's wipe (and, when it fails, its close) is waited for. It destroys
    /// the keys first, then stops networking and closes the stores, which is quick.
    public static let coreWipe: TimeInterval = 20
    /// How long the core's background deletion of the data folder is waited for before the
    /// app deletes what is left itself.
    public static let deletion: TimeInterval = 30
    /// How often the data folder is looked at while the core deletes it.
    static let poll: TimeInterval = 0.02
}

/// The word typed to confirm, in English; a translation passes its own to `WipeGesture`.
public let defaultWipeWord = "WIPE"

/// Where the wipe gesture is.
public enum WipeState: Equatable, Sendable {
    /// Nothing under way: the button is shown.
    case idle
    /// The button is held since `startedAt`; `progress` goes from 0 to 1 over the hold time.
    case holding(startedAt: TimeInterval, progress: Double)
    /// Held long enough: the word is being typed; `canWipe` once it matches.
    case confirm(typed: String, canWipe: Bool)
    /// The steps are running; no longer cancellable (the keys may already be gone).
    case wiping
    /// Everything is gone: the app returns to its first run.
    case wiped
    /// Some steps failed; the others ran anyway. `failed` names them.
    case failed([WipeStep])
}

/// The gesture's state machine. Times come from the caller (a monotonic clock such as
/// `ProcessInfo.systemUptime`), so it is tested without waiting. Confined to one thread: the
/// main actor in the app.
public final class WipeGesture {
    /// The word to type.
    public let confirmWord: String
    /// How long the button must be held.
    public let hold: TimeInterval
    /// Where the gesture is.
    public private(set) var state: WipeState = .idle

    /// `confirmWord` comes from the app's translations, never from the user: an empty one is
    /// a bug.
    public init(confirmWord: String = defaultWipeWord, hold: TimeInterval = WipeTimes.hold) {
        precondition(!confirmWord.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "empty confirmation word")
        precondition(hold > 0, "hold time must be positive")
        self.confirmWord = confirmWord
        self.hold = hold
    }

    /// The button went down.
    @discardableResult
    public func press(now: TimeInterval) -> WipeState {
        switch state {
        case .idle, .failed: state = .holding(startedAt: now, progress: 0)
        default: break
        }
        return state
    }

    /// Time passed while held: progress, and the confirmation once held long enough.
    @discardableResult
    public func tick(now: TimeInterval) -> WipeState {
        guard case .holding(let startedAt, _) = state else { return state }
        let held = max(0, now - startedAt)
        state = held >= hold ? .confirm(typed: "", canWipe: false) : .holding(startedAt: startedAt, progress: held / hold)
        return state
    }

    /// The button came up: letting go before the end cancels.
    @discardableResult
    public func release(now: TimeInterval) -> WipeState {
        tick(now: now)
        if case .holding = state { state = .idle }
        return state
    }

    /// The confirmation field changed.
    @discardableResult
    public func type(_ text: String) -> WipeState {
        if case .confirm = state { state = .confirm(typed: text, canWipe: matches(text)) }
        return state
    }

    /// "Wipe now": true (and `.wiping`) only when the word was typed.
    public func confirm() -> Bool {
        guard case .confirm(_, true) = state else { return false }
        state = .wiping
        return true
    }

    /// Back to the start from any step before the wipe runs.
    @discardableResult
    public func cancel() -> WipeState {
        if state != .wiping { state = .idle }
        return state
    }

    /// The steps ended.
    @discardableResult
    public func finished(_ outcome: WipeOutcome) -> WipeState {
        if state == .wiping { state = outcome.complete ? .wiped : .failed(outcome.failed) }
        return state
    }

    /// "Wipe now" with the steps: runs `steps` only when the word was typed (otherwise does
    /// nothing and returns `nil`), and ends `.wiped` or `.failed` with their outcome. On the
    /// main actor, where the app's taps arrive: a second tap finds `.wiping` and runs nothing.
    @MainActor
    @discardableResult
    public func wipeNow(_ steps: () async -> WipeOutcome) async -> WipeOutcome? {
        guard confirm() else { return nil }
        let outcome = await steps()
        finished(outcome)
        return outcome
    }

    private func matches(_ text: String) -> Bool {
        normal(text) == normal(confirmWord)
    }

    /// Trimmed, composed (a typed "É" may arrive as E and an accent) and case-folded.
    private func normal(_ s: String) -> String {
        s.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping.lowercased()
    }
}

/// A step of the wipe, in the order they run.
public enum WipeStep: String, CaseIterable, Equatable, Sendable {
    /// The core's wipe (or, if it fails, deleting the data folder outright), and the data
    /// folder found empty at the end.
    case deviceData
    /// The root key kept in the Keychain.
    case rootKey
    /// The app's own files (camera photos and sync files in its temporary folder).
    case appFiles

    /// Its name in the words of the screen.
    public var label: String {
        switch self {
        case .deviceData: return "device data"
        case .rootKey: return "root key"
        case .appFiles: return "app files"
        }
    }
}

/// Which steps failed; none when complete.
public struct WipeOutcome: Equatable, Sendable {
    /// The failed steps, in their order.
    public let failed: [WipeStep]

    public init(failed: [WipeStep]) {
        self.failed = WipeStep.allCases.filter { failed.contains($0) }
    }

    /// Whether every step did its job.
    public var complete: Bool { failed.isEmpty }
}

/// The words of the wipe screen.
public enum WipeText {
    /// What the screen says in `state`; `word` is the confirmation word to type.
    public static func describe(_ state: WipeState, word: String = defaultWipeWord) -> String {
        switch state {
        case .idle:
            return "Hold the button for \(Int(WipeTimes.hold)) seconds to erase everything on this phone."
        case .holding: return "Keep holding… let go to cancel."
        case .confirm:
            return "Type \(word) to erase this phone's projects, observations, photos and identity. This cannot be undone."
        case .wiping: return "Erasing…"
        case .wiped: return "This phone was erased."
        case .failed(let steps):
            return "Erasing did not finish (\(steps.map(\.label).joined(separator: ", "))). Try again, or uninstall the app."
        }
    }
}

/// The app's wipe over the real device. `device` is the open device (`nil` when none is
/// open: then a data folder that is not empty is deleted outright, and the step fails);
/// `dataDir` is the core's data folder; `keys` is where the root key is kept;
/// `appFolders` are emptied (they stay: the temporary folder is the system's).
///
/// The app lets go of the device (and every project, listener and map seam over it) before
/// calling `run`: the device is closed by the wipe, and nothing may use it after.
public struct DeviceWipe: Sendable {
    private let wipeCore: (@Sendable () async throws -> Void)?
    private let closeCore: (@Sendable () async throws -> Void)?
    private let dataDir: URL
    private let keys: RootKeyStore
    private let appFolders: [URL]
    private let coreLimit: TimeInterval
    private let deletionLimit: TimeInterval

    public init(
        device: Mapeo?, dataDir: String, keys: RootKeyStore, appFolders: [URL] = [],
        coreLimit: TimeInterval = WipeTimes.coreWipe, deletionLimit: TimeInterval = WipeTimes.deletion
    ) {
        var wipeCore: (@Sendable () async throws -> Void)?
        var closeCore: (@Sendable () async throws -> Void)?
        if let device {
            wipeCore = { try await device.wipe() }
            closeCore = { try await device.close() }
        }
        self.init(
            wipeCore: wipeCore, closeCore: closeCore,
            dataDir: dataDir, keys: keys, appFolders: appFolders, coreLimit: coreLimit, deletionLimit: deletionLimit)
    }

    /// The core's calls as closures: tests stand in for a core that fails or never answers.
    init(
        wipeCore: (@Sendable () async throws -> Void)?, closeCore: (@Sendable () async throws -> Void)?,
        dataDir: String, keys: RootKeyStore, appFolders: [URL] = [],
        coreLimit: TimeInterval = WipeTimes.coreWipe, deletionLimit: TimeInterval = WipeTimes.deletion
    ) {
        self.wipeCore = wipeCore
        self.closeCore = closeCore
        self.dataDir = URL(fileURLWithPath: dataDir, isDirectory: true)
        self.keys = keys
        self.appFolders = appFolders
        self.coreLimit = coreLimit
        self.deletionLimit = deletionLimit
    }

    /// Runs every step in order; a failed step does not stop the next. Ends within about
    /// twice the core limit plus the deletion limit, whatever the core does: a core call
    /// still running then runs on by itself (Swift cannot cancel it).
    public func run() async -> WipeOutcome {
        var failed: [WipeStep] = []

        // 1. The core's wipe: the folder's keys are destroyed before anything else, so all
        // of it is unreadable at once, whatever its size.
        var coreWiped = false
        if let wipeCore {
            if case .done = await within(coreLimit, wipeCore) {
                coreWiped = true
            } else if let closeCore {
                // Failed or still running: free the folder (its lock, its stores) anyway.
                _ = await within(coreLimit, closeCore)
            }
        } else {
            coreWiped = Self.isEmpty(dataDir)
        }
        if !coreWiped {
            // Removing the files is what is left, but deleted files can be read back from
            // flash: only the core's destroyed keys make them unreadable, so it still failed.
            Self.deleteContents(of: dataDir)
            failed.append(.deviceData)
        }

        // 2. The root key: without it the identity is gone from this phone (its backup code
        // still restores it).
        do {
            try keys.delete()
            if try keys.load() != nil { failed.append(.rootKey) }
        } catch {
            failed.append(.rootKey)
        }

        // 3. The app's own files.
        var filesGone = true
        for folder in appFolders {
            Self.deleteContents(of: folder)
            filesGone = filesGone && Self.isEmpty(folder)
        }
        if !filesGone { failed.append(.appFiles) }

        // 4. The core deletes the data folder's files on a thread of its own. A first run
        // must not write there before it is done (the thread would delete the new files), and
        // a folder with leftovers but no keys does not open: wait, then delete what is left.
        if coreWiped, !(await Self.waitUntilEmpty(dataDir, limit: deletionLimit)) {
            Self.deleteContents(of: dataDir)
        }
        if !Self.isEmpty(dataDir) { failed.append(.deviceData) }
        return WipeOutcome(failed: failed)
    }

    /// Whether `folder` holds nothing (or does not exist).
    static func isEmpty(_ folder: URL) -> Bool {
        guard FileManager.default.fileExists(atPath: folder.path) else { return true }
        return (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?.isEmpty ?? false
    }

    /// Deletes everything in `folder`, keeping the folder.
    static func deleteContents(of folder: URL) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names { try? fm.removeItem(at: folder.appendingPathComponent(name)) }
    }

    /// Whether `folder` became empty within `limit` seconds.
    static func waitUntilEmpty(_ folder: URL, limit: TimeInterval) async -> Bool {
        let until = ProcessInfo.processInfo.systemUptime + limit
        while !isEmpty(folder) {
            if ProcessInfo.processInfo.systemUptime >= until { return false }
            try? await Task.sleep(nanoseconds: UInt64(WipeTimes.poll * 1e9))
        }
        return true
    }
}

/// How a call waited for with a limit ended.
public enum Ending: Equatable, Sendable {
    case done
    case failed
    /// Still running when the limit passed.
    case late
}

/// Runs `body`, waiting at most `limit` seconds for it. A body still running then runs on:
/// a core call cannot be cancelled from Swift (UniFFI's Swift bindings poll it to its end).
public func within(_ limit: TimeInterval, _ body: @escaping @Sendable () async throws -> Void) async -> Ending {
    let gate = FirstEnding()
    return await withCheckedContinuation { (continuation: CheckedContinuation<Ending, Never>) in
        gate.start(continuation)
        Task {
            do {
                try await body()
                gate.end(.done)
            } catch {
                gate.end(.failed)
            }
        }
        let timer = Task {
            try? await Task.sleep(nanoseconds: UInt64(max(0, limit) * 1e9))
            gate.end(.late)
        }
        gate.onEnd = { timer.cancel() }
    }
}

/// The first of the body's end and the timer's resumes the waiting caller; the other is
/// ignored.
private final class FirstEnding: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Ending, Never>?
    private var ended = false
    private var _onEnd: (() -> Void)?

    /// Called once the caller is resumed (stops the timer); at once if that already happened.
    var onEnd: (() -> Void)? {
        get { lock.lock(); defer { lock.unlock() }; return _onEnd }
        set {
            lock.lock()
            let run = ended
            if !run { _onEnd = newValue }
            lock.unlock()
            if run { newValue?() }
        }
    }

    func start(_ c: CheckedContinuation<Ending, Never>) {
        lock.lock()
        continuation = c
        lock.unlock()
    }

    func end(_ ending: Ending) {
        lock.lock()
        guard !ended, let c = continuation else {
            lock.unlock()
            return
        }
        ended = true
        continuation = nil
        let after = _onEnd
        _onEnd = nil
        lock.unlock()
        c.resume(returning: ending)
        after?()
    }
}
