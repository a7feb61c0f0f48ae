// What the user typed or scanned on the Exchange screen's "connect" sheet: a connection code
// (shown as a QR code or read out by the other device) or an `IP:port` address. This only
// sorts and tidies the text and catches what is plainly wrong, to say so before dialing; the
// core checks a code's checksum and the device that answers (`connectByCode`).
import Foundation

/// Where to connect, tidied for the core.
public enum ConnectionTarget: Equatable, Sendable {
    /// A connection code, upper case, without spaces or dashes: for `Mapeo.connectByCode`.
    case code(String)
    /// An `IPv4:port` or `[IPv6]:port` address: for `Mapeo.connect`.
    case address(String)
}

/// Why a text is not something to connect to.
public enum ConnectionInputError: Error, Equatable, Sendable {
    /// Nothing was entered.
    case empty
    /// Longer than any connection code.
    case tooLong
    /// A connection code of a version this app does not read (from a newer app).
    case unsupportedCodeVersion
    /// A character no connection code has.
    case badCharacter
    /// An address without a usable port (1 to 65535).
    case badPort
    /// Neither a connection code nor an address.
    case notACodeOrAddress

    /// What to tell the user.
    public var message: String {
        switch self {
        case .empty: return "Enter or scan a connection code."
        case .tooLong: return "That is longer than a connection code."
        case .unsupportedCodeVersion: return "This code comes from a newer Mapeo. Update the app on this device."
        case .badCharacter: return "A connection code has only letters and digits. Check for typos."
        case .badPort: return "An address needs a port from 1 to 65535, like 192.168.1.20:47380."
        case .notACodeOrAddress: return "This is not a Mapeo connection code or an address."
        }
    }
}

/// Reads connection codes and addresses typed or scanned by the user.
public enum ConnectionInput {
    /// What every connection code starts with (core `CODE_FAMILY`).
    public static let codeFamily = "MP"
    /// What this version's codes start with (core `CODE_PREFIX`).
    public static let codePrefix = "MP1"
    /// The longest text the core reads as a code, separators included (core `MAX_CODE_CHARS`).
    public static let maxCodeChars = 256
    /// Crockford base32, plus the look-alikes it reads as digits (I, L → 1; O → 0).
    private static let codeAlphabet = Set("0123456789ABCDEFGHIJKLMNOPQRSTVWXYZ")

    /// Sorts `text` into a code or an address, or says what is wrong with it.
    public static func parse(_ text: String) -> Result<ConnectionTarget, ConnectionInputError> {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return .failure(.empty) }
        if trimmed.count > maxCodeChars { return .failure(.tooLong) }
        if let address = address(trimmed) { return address }

        let compact = String(trimmed.filter { !$0.isWhitespace && $0 != "-" }).uppercased()
        guard compact.hasPrefix(codeFamily) else { return .failure(.notACodeOrAddress) }
        guard compact.hasPrefix(codePrefix) else { return .failure(.unsupportedCodeVersion) }
        let body = compact.dropFirst(codePrefix.count)
        if body.isEmpty { return .failure(.notACodeOrAddress) }
        guard body.allSatisfy({ codeAlphabet.contains($0) }) else { return .failure(.badCharacter) }
        return .success(.code(compact))
    }

    /// `a.b.c.d:port` or `[v6]:port`; `nil` if the text does not look like an address at all.
    private static func address(_ text: String) -> Result<ConnectionTarget, ConnectionInputError>? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = text[text.index(after: text.startIndex)..<close]
            guard isIPv6(host) else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = port(rest.dropFirst()) else { return .failure(.badPort) }
            return .success(.address("[\(host.lowercased())]:\(port)"))
        }
        let pieces = text.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = pieces.first, isIPv4(host) else { return nil }
        guard pieces.count == 2, let port = port(pieces[1]) else { return .failure(.badPort) }
        return .success(.address("\(host):\(port)"))
    }

    private static func port(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy(\.isASCIIDigit), let n = Int(text),
            (1...65535).contains(n)
        else { return nil }
        return n
    }

    private static func isIPv4(_ text: Substring) -> Bool {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4
            && octets.allSatisfy { o in
                !o.isEmpty && o.count <= 3 && o.allSatisfy(\.isASCIIDigit) && (Int(o) ?? 256) <= 255
                    && (o.count == 1 || o.first != "0")
            }
    }

    private static func isIPv6(_ text: Substring) -> Bool {
        // Hex groups and colons, with at most one `::`; enough to tell an address from a code.
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        let compressed = text.components(separatedBy: "::").count - 1
        return text.contains(":") && compressed <= 1 && groups.count <= 8
            && groups.allSatisfy { $0.count <= 4 && $0.allSatisfy(\.isHexDigit) }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
