// First run and every start after it: where the root key comes from (a new one, or one
// restored from its backup code), where it is kept (the Keychain on iOS, behind
// `RootKeyStore`, which also forgets it in the emergency wipe: Wipe.swift), and opening the
// device with it. The root key is the device's whole identity: it is written to the store
// before the data folder is first opened with it, so a crash in between never leaves data no
// kept key can open.
import Foundation
import MapeoKit

/// Where the root key is kept between starts. The app's is the Keychain
/// (`kSecClassGenericPassword`, this-device-only); tests use memory.
public protocol RootKeyStore: Sendable {
    /// The kept key, or `nil` on first run.
    func load() throws -> Data?
    /// Keeps `key`, replacing any other.
    func save(_ key: Data) throws
    /// Forgets the key for good (the emergency wipe), done when it returns; forgetting when
    /// no key is kept is not an error.
    func delete() throws
}

/// Why the first-run screen cannot go on, in words for it.
public enum SetupProblem: Error, Equatable, Sendable {
    /// The device name is empty.
    case emptyName
    /// The device name is longer than the core allows.
    case nameTooLong(max: Int)
    /// A backup code must have 32 letters and digits; so many were typed.
    case backupCodeLength(count: Int)
    /// The backup code does not check out (a typo): from the core's `InvalidInput`.
    case backupCodeInvalid

    public var message: String {
        switch self {
        case .emptyName: return "Give this device a name others will recognise."
        case .nameTooLong(let max): return "Use at most \(max) characters."
        case .backupCodeLength(let n): return "A backup code has 32 letters and digits; this has \(n)."
        case .backupCodeInvalid: return "This backup code has a typo. Check each group of four."
        }
    }
}

/// First run and start-up.
public enum DeviceSetup {
    /// Longest device name (core `schema::MAX_NAME_CHARS`).
    public static let maxNameChars = 100
    /// Letters and digits in a backup code (core: 32 Crockford base32 characters).
    public static let backupCodeChars = 32

    /// The trimmed device name, or what is wrong with it.
    public static func validName(_ name: String) -> Result<String, SetupProblem> {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return .failure(.emptyName) }
        if trimmed.count > maxNameChars { return .failure(.nameTooLong(max: maxNameChars)) }
        return .success(trimmed)
    }

    /// Letters and digits typed so far, ignoring the spaces and dashes the code is shown with.
    public static func backupCodeCount(_ text: String) -> Int {
        text.filter { $0.isLetter || $0.isNumber }.count
    }

    /// A backup code in groups of four for showing: `ABCD EFGH …`.
    public static func grouped(_ code: String) -> String {
        let chars = Array(code.filter { $0.isLetter || $0.isNumber })
        return stride(from: 0, to: chars.count, by: 4)
            .map { String(chars[$0..<min($0 + 4, chars.count)]) }
            .joined(separator: " ")
    }

    /// Whether this device has been set up (a root key is kept).
    public static func isSetUp(store: RootKeyStore) throws -> Bool {
        try store.load() != nil
    }

    /// First run: keeps a new root key, or the one `backupCode` restores, then opens the
    /// device in `dataDir` and names it. A mistyped code is `SetupProblem`, and nothing is
    /// kept or written.
    public static func firstRun(
        store: RootKeyStore, dataDir: String, name: String, deviceType: DeviceType = .mobile,
        backupCode: String? = nil
    ) throws -> Mapeo {
        let name = try validName(name).get()
        let key: Data
        if let backupCode, !backupCode.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let count = backupCodeCount(backupCode)
            guard count == backupCodeChars else { throw SetupProblem.backupCodeLength(count: count) }
            do {
                key = try rootKeyFromBackupCode(code: backupCode)
            } catch MapeoError.InvalidInput {
                throw SetupProblem.backupCodeInvalid
            }
        } else {
            key = generateRootKey()
        }
        try store.save(key)
        let mapeo = try Mapeo.open(dataDir: dataDir, rootKey: key)
        try mapeo.setDeviceInfo(info: DeviceInfo(name: name, deviceType: deviceType))
        return mapeo
    }

    /// Every later start: opens the device with the kept key; `nil` before the first run.
    public static func open(store: RootKeyStore, dataDir: String) throws -> Mapeo? {
        guard let key = try store.load() else { return nil }
        return try Mapeo.open(dataDir: dataDir, rootKey: key)
    }
}

/// A `RootKeyStore` in memory: for tests and previews, never for the app.
public final class MemoryRootKeyStore: RootKeyStore, @unchecked Sendable {
    private let lock = NSLock()
    private var key: Data?

    public init(key: Data? = nil) { self.key = key }

    public func load() throws -> Data? {
        lock.lock()
        defer { lock.unlock() }
        return key
    }

    public func save(_ key: Data) throws {
        lock.lock()
        defer { lock.unlock() }
        self.key = key
    }

    public func delete() throws {
        lock.lock()
        defer { lock.unlock() }
        key = nil
    }
}
