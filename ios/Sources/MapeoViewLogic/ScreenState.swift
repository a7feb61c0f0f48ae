// What the list screens show, computed from the core's records: projects and invites,
// observation rows, nearby devices with their progress, members and what this device may do
// with them. Pure functions of their inputs, so each is tested without a device.
import Foundation
import MapeoKit

// MARK: Projects and invites

/// One row of the projects screen.
public struct ProjectRow: Equatable, Sendable, Identifiable {
    public let id: String
    public let name: String
    /// "Joining…" while the invite's join finishes, else `nil`.
    public let badge: String?
}

/// One pending invite on the projects screen.
public struct InviteRow: Equatable, Sendable, Identifiable {
    public let id: String
    /// "Ana invites you to River watch as Monitor".
    public let text: String
    public let description: String?
}

/// The projects screen.
public struct ProjectsScreen: Equatable, Sendable {
    /// Name shown for a project without one.
    public static let unnamed = "Unnamed project"

    /// Joined and joining projects by name (left ones are not shown).
    public let projects: [ProjectRow]
    /// Invites waiting for an answer, newest first.
    public let invites: [InviteRow]

    public init(projects: [ProjectSummary], invites: [ReceivedInvite]) {
        self.projects =
            projects
            .filter { $0.status != .left }
            .map { p in
                ProjectRow(
                    id: p.projectId, name: Self.name(p.settings.name),
                    badge: p.damaged ? "Damaged: repair" : (p.status == .joining ? "Joining…" : nil))
            }
            .sorted { ($0.name.lowercased(), $0.id) < ($1.name.lowercased(), $1.id) }
        self.invites =
            invites
            .filter { $0.state == .pending }
            .sorted { $0.receivedAt > $1.receivedAt }
            .map { i in
                let role = i.roleName ?? (i.role == .coordinator ? "coordinator" : "member")
                return InviteRow(
                    id: i.inviteId,
                    text: "\(i.inviterName) invites you to \(Self.name(i.projectName)) as \(role)",
                    description: i.projectDescription)
            }
    }

    static func name(_ name: String?) -> String {
        let trimmed = name?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return trimmed.isEmpty ? unnamed : trimmed
    }
}

/// What an invite's outcome means to the inviter.
public enum InviteOutcomeText {
    public static func describe(_ outcome: InviteOutcome, name: String) -> String {
        switch outcome {
        case .accepted: return "\(name) joined."
        case .rejected: return "\(name) declined the invite."
        case .already: return "\(name) is already in this project."
        case .canceled: return "Invite withdrawn."
        }
    }
}

// MARK: Observations

/// One row of the observation list.
public struct ObservationRow: Equatable, Sendable, Identifiable {
    public let id: String
    /// The preset's name, or "Observation".
    public let title: String
    /// Notes' first line, if any.
    public let subtitle: String?
    /// Creation time, ms since the epoch.
    public let createdAt: Int64
    /// The first photo's thumbnail (JPEG bytes, read through the core: media are encrypted
    /// on the phone, there is no file to open), if it is on this device.
    public let thumbnail: Data?
    /// Photos attached, and how many of their thumbnails are not here yet.
    public let photoCount: Int
    public let photosNotHere: Int
}

/// The observation list, newest first.
public enum ObservationList {
    /// Title of an observation without a known preset.
    public static let untitled = "Observation"

    /// Rows for `docs`. `presets` by doc id; `thumbnail` gives a photo's thumbnail bytes
    /// (`Project.attachmentBytes(…, .thumbnail)`), `nil` until it has arrived.
    public static func rows(
        _ docs: [ObservationDoc], presets: [String: PresetDoc], thumbnail: (Attachment) -> Data?
    ) -> [ObservationRow] {
        docs.filter { !$0.meta.deleted }
            .sorted { ($0.meta.createdAt, $0.meta.docId) > ($1.meta.createdAt, $1.meta.docId) }
            .map { doc in
                let photos = doc.value.attachments.filter { $0.kind == .photo }
                let thumbs = photos.map(thumbnail)
                let notes: String? =
                    if case .text(let t)? = doc.value.tags[ObservationForm.notesTag] {
                        t.split(whereSeparator: \.isNewline).first.map(String.init)
                    } else { nil }
                return ObservationRow(
                    id: doc.meta.docId,
                    title: doc.value.presetRef.flatMap { presets[$0.docId]?.value.name } ?? untitled,
                    subtitle: notes, createdAt: doc.meta.createdAt,
                    thumbnail: thumbs.compactMap { $0 }.first,
                    photoCount: photos.count, photosNotHere: thumbs.filter { $0 == nil }.count)
            }
    }
}

// MARK: Exchange

/// One nearby device on the Exchange screen, with its progress for the open project.
public struct PeerRow: Equatable, Sendable, Identifiable {
    public let id: String
    public let name: String
    public let connected: Bool
    /// `nil` when this device does not share the project with it (yet).
    public let progress: PeerProgress?
}

/// The Exchange screen.
public enum ExchangeScreen {
    /// Nearby devices (connected first, then by name) with their progress in the project.
    public static func rows(peers: [PeerInfo], states: [PeerSyncState]) -> [PeerRow] {
        let byPeer = Dictionary(states.map { ($0.peer, $0) }, uniquingKeysWith: { a, _ in a })
        return peers.map { p in
            PeerRow(
                id: p.deviceId, name: p.name.isEmpty ? "Unnamed device" : p.name,
                connected: p.connected, progress: byPeer[p.deviceId].map(SyncProgress.progress))
        }
        .sorted { a, b in
            a.connected != b.connected ? a.connected : (a.name.lowercased(), a.id) < (b.name.lowercased(), b.id)
        }
    }

    /// The summary line over the list: "Up to date with 2 devices", "Exchanging with 1 of 3
    /// devices", "No devices nearby". Up to date only when every connected sharing device is.
    public static func summary(_ rows: [PeerRow]) -> String {
        let sharing = rows.filter { $0.connected && $0.progress != nil }
        if rows.filter(\.connected).isEmpty { return "No devices connected" }
        if sharing.isEmpty { return "Connected devices do not share this project" }
        let done = sharing.filter { $0.progress?.stage == .upToDate }.count
        let n = sharing.count
        let devices = "\(n) device\(n == 1 ? "" : "s")"
        if done == n { return "Up to date with \(devices)" }
        return "Exchanging with \(n - done) of \(devices)"
    }
}

// MARK: Members

/// One member on the members screen.
public struct MemberRow: Equatable, Sendable, Identifiable {
    public let id: String
    public let name: String
    public let role: String
    public let isThisDevice: Bool
    /// Whether this device may remove it.
    public let canRemove: Bool
}

/// The members screen.
public enum MembersScreen {
    /// Whether a device with `role` may invite and remove (creator and coordinators).
    public static func canManage(_ role: Role) -> Bool { role == .creator || role == .coordinator }

    /// Words for a role.
    public static func label(_ role: Role) -> String {
        switch role {
        case .creator: return "Creator"
        case .coordinator: return "Coordinator"
        case .member: return "Member"
        case .blocked: return "Removed"
        case .left: return "Left"
        case .noRole: return "Not a member"
        }
    }

    private static func rank(_ role: Role) -> Int {
        switch role {
        case .creator: return 0
        case .coordinator: return 1
        case .member: return 2
        case .noRole: return 3
        case .left: return 4
        case .blocked: return 5
        }
    }

    /// Members by role (creator first), then name. The creator and this device cannot be
    /// removed; nothing can be removed unless this device manages the project.
    public static func rows(_ members: [Member], ownRole: Role, ownDeviceId: String) -> [MemberRow] {
        members.sorted { a, b in
            (rank(a.role), (a.name ?? "").lowercased(), a.deviceId) < (rank(b.role), (b.name ?? "").lowercased(), b.deviceId)
        }
        .map { m in
            let name = m.name.flatMap { $0.isEmpty ? nil : $0 } ?? "Device \(m.deviceId.prefix(8))"
            let me = m.deviceId == ownDeviceId
            return MemberRow(
                id: m.deviceId, name: me ? "\(name) (this device)" : name, role: label(m.role),
                isThisDevice: me,
                canRemove: canManage(ownRole) && !me && m.role != .creator && m.role != .blocked
                    && m.role != .left)
        }
    }

    /// Connected devices that may be invited: not already active members.
    public static func invitable(peers: [PeerInfo], members: [Member]) -> [PeerInfo] {
        let active = Set(members.filter { $0.role != .blocked && $0.role != .left }.map(\.deviceId))
        return peers.filter { $0.connected && !active.contains($0.deviceId) }
    }
}
