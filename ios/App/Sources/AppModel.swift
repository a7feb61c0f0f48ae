// The app's one model: opens the device, holds the subscriptions, and turns the core's
// answers into the view logic's screen state. Every call is a core call; the decisions
// (what a row says, whether a form may be saved, what progress reads) are MapeoViewLogic's.
import Foundation
import MapLibre
import MapeoKit
import MapeoViewLogic
import UIKit

@MainActor
final class AppModel: ObservableObject {
    enum Phase {
        case loading
        case firstRun
        case ready
        /// The emergency wipe runs or failed: the wipe screen is all there is (the device is
        /// let go of); a complete wipe goes on to `firstRun`.
        case wiping
        case failed(String)
    }

    @Published var phase: Phase = .loading
    @Published private(set) var projectsScreen = ProjectsScreen(projects: [], invites: [])
    @Published private(set) var peers: [PeerInfo] = []
    @Published private(set) var syncStates: [String: [PeerSyncState]] = [:]
    @Published private(set) var exchangingProject: String?
    /// The last error or outcome, for an alert.
    @Published var notice: String?
    /// Where the emergency wipe's gesture is (MapeoViewLogic's `WipeGesture`).
    @Published private(set) var wipeState: WipeState = .idle

    private(set) var mapeo: Mapeo?
    private var summaries: [ProjectSummary] = []
    private var invites: [ReceivedInvite] = []
    private var handles: [TaskHandle] = []
    private var syncHandle: TaskHandle?
    private var openProjects: [String: Project] = [:]
    private let wipeGesture = WipeGesture()
    /// The device being wiped, once the app let go of it: a failed wipe runs again on it.
    private var wipedDevice: Mapeo?
    let store: RootKeyStore = KeychainRootKeyStore()

    /// The data folder: Application Support/mapeo (backed up by neither iCloud nor iTunes).
    var dataDir: String {
        let base = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        var url = base.appendingPathComponent("mapeo", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try? url.setResourceValues(values)
        return url.path
    }

    func start() {
        do {
            if let m = try DeviceSetup.open(store: store, dataDir: dataDir) {
                ready(m)
            } else {
                phase = .firstRun
            }
        } catch {
            phase = .failed(Self.describe(error))
        }
    }

    func firstRun(name: String, backupCode: String?) throws {
        let m = try DeviceSetup.firstRun(
            store: store, dataDir: dataDir, name: name,
            deviceType: UIDevice.current.userInterfaceIdiom == .pad ? .tablet : .mobile, backupCode: backupCode)
        ready(m)
    }

    private func ready(_ m: Mapeo) {
        mapeo = m
        // The map seams over this device (MapeoViewLogic's DeviceMaps.swift).
        MapServers.current = LocalMapServer(m)
        MapServers.library = DeviceMapLibrary(m)
        MapServers.shares = DeviceMapShares(m)
        // Phones keep previews and thumbnails unless set otherwise in Settings.
        phase = .ready
        do {
            handles.append(try m.subscribeInvites(listener: InvitesForwarder { [weak self] list in self?.setInvites(list) }))
            handles.append(try m.subscribePeers(listener: PeersForwarder { [weak self] list in self?.peers = list }))
        } catch {
            notice = Self.describe(error)
        }
        refreshProjects()
    }

    private func setInvites(_ list: [ReceivedInvite]) {
        invites = list
        projectsScreen = ProjectsScreen(projects: summaries, invites: invites)
        refreshProjects()
    }

    func refreshProjects() {
        guard let mapeo else { return }
        run { summaries = try mapeo.listProjects() }
        projectsScreen = ProjectsScreen(projects: summaries, invites: invites)
    }

    func project(_ id: String) -> Project? {
        if let p = openProjects[id] { return p }
        guard let mapeo else { return nil }
        let p = run { try mapeo.openProject(projectId: id) }
        openProjects[id] = p
        return p
    }

    func createProject(name: String) {
        guard let mapeo else { return }
        run { _ = try mapeo.createProject(settings: ProjectSettings(name: name)) }
        refreshProjects()
    }

    func accept(_ inviteId: String) async {
        guard let mapeo else { return }
        do {
            let p = try await mapeo.acceptInvite(inviteId: inviteId)
            openProjects[p.projectId()] = p
        } catch {
            notice = Self.describe(error)
        }
        refreshProjects()
    }

    func reject(_ inviteId: String) {
        guard let mapeo else { return }
        run { try mapeo.rejectInvite(inviteId: inviteId) }
    }

    // MARK: Exchange

    /// Starts exchanging a project: listen on every interface, advertise and browse with
    /// Bonjour (`_mapeo._tcp`), turn data sync on, and follow progress.
    func startExchange(_ projectId: String) async {
        guard let mapeo else { return }
        do {
            if mapeo.listeningOn() == nil { _ = try await mapeo.startListening(address: "0.0.0.0:0") }
            if !mapeo.discoveryRunning() { try await mapeo.startDiscovery(options: DiscoveryOptions()) }
            try mapeo.startSync(projectId: projectId)
            syncHandle?.cancel()
            syncHandle = try mapeo.subscribeSync(
                projectId: projectId,
                listener: SyncForwarder { [weak self] id, states in self?.syncStates[id] = states })
            exchangingProject = projectId
            UIApplication.shared.isIdleTimerDisabled = true
        } catch {
            notice = Self.describe(error)
        }
    }

    func stopExchange() async {
        guard let mapeo, let id = exchangingProject else { return }
        run { try mapeo.stopSync(projectId: id) }
        syncHandle?.cancel()
        syncHandle = nil
        exchangingProject = nil
        UIApplication.shared.isIdleTimerDisabled = false
        do {
            try await mapeo.stopDiscovery()
        } catch {
            notice = Self.describe(error)
        }
    }

    func connectionCode() -> String? {
        guard let mapeo else { return nil }
        return try? mapeo.connectionCode()
    }

    /// Connects to what the user typed or scanned; the answer is shown as a notice.
    func connect(_ text: String) async {
        guard let mapeo else { return }
        switch ConnectionInput.parse(text) {
        case .failure(let problem):
            notice = problem.message
        case .success(let target):
            do {
                switch target {
                case .code(let code): _ = try await mapeo.connectByCode(code: code)
                case .address(let address): _ = try await mapeo.connect(address: address)
                }
            } catch {
                notice = Self.describe(error)
            }
        }
    }

    // MARK: Members

    func invite(projectId: String, peer: PeerInfo, role: InviteRole) async {
        guard let mapeo else { return }
        do {
            let outcome = try await mapeo.invite(
                projectId: projectId, deviceId: peer.deviceId, role: role, roleName: nil, roleDescription: nil)
            notice = InviteOutcomeText.describe(outcome, name: peer.name)
        } catch {
            notice = Self.describe(error)
        }
    }

    // MARK: Emergency wipe

    /// The wipe button went down, is held, came up; the word was typed; cancel. Times from
    /// the monotonic clock.
    func wipePress() { wipeState = wipeGesture.press(now: ProcessInfo.processInfo.systemUptime) }
    func wipeTick() { wipeState = wipeGesture.tick(now: ProcessInfo.processInfo.systemUptime) }
    func wipeRelease() { wipeState = wipeGesture.release(now: ProcessInfo.processInfo.systemUptime) }
    func wipeType(_ text: String) { wipeState = wipeGesture.type(text) }
    func wipeCancel() { wipeState = wipeGesture.cancel() }

    /// "Erase this phone now": when the word was typed, lets go of the device and runs the
    /// wipe's steps (MapeoViewLogic's `DeviceWipe`: the core's wipe, the Keychain's root key,
    /// the app's temporary files), then resets MapLibre's database; complete, the app is at
    /// its first run. Bounded
    /// (`WipeTimes`), and asks iOS for time to finish if the app leaves the foreground.
    func wipeNow() async {
        let outcome = await wipeGesture.wipeNow {
            wipeState = .wiping
            phase = .wiping
            let device = letGoOfDevice()
            let task = UIApplication.shared.beginBackgroundTask(withName: "mapeo-wipe")
            defer { UIApplication.shared.endBackgroundTask(task) }
            let wiped = await DeviceWipe(
                device: device, dataDir: dataDir, keys: store,
                appFolders: [FileManager.default.temporaryDirectory]
            ).run()
            // MapLibre's database (its ambient cache, in Application Support) keeps the tiles
            // the map screen showed, a picture of the territory: it goes with the app's files.
            let mapCache = await within(WipeTimes.coreWipe) {
                try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
                    MLNOfflineStorage.shared.resetDatabase { error in
                        if let error { done.resume(throwing: error) } else { done.resume() }
                    }
                }
            }
            return mapCache == .done ? wiped : WipeOutcome(failed: wiped.failed + [.appFiles])
        }
        wipeState = wipeGesture.state
        guard let outcome, outcome.complete else { return }
        notice = WipeText.describe(wipeState)
        wipedDevice = nil
        wipeState = wipeGesture.cancel()
        phase = .firstRun
    }

    /// Lets go of the device and of everything over it (subscriptions, the exchange, open
    /// projects, the map seams, the lists), so no screen reaches it once the wipe closed it.
    /// Returns it; a second call returns the same one.
    private func letGoOfDevice() -> Mapeo? {
        for h in handles { h.cancel() }
        handles = []
        syncHandle?.cancel()
        syncHandle = nil
        exchangingProject = nil
        UIApplication.shared.isIdleTimerDisabled = false
        openProjects = [:]
        MapServers.current = nil
        MapServers.library = nil
        MapServers.shares = nil
        summaries = []
        invites = []
        projectsScreen = ProjectsScreen(projects: [], invites: [])
        peers = []
        syncStates = [:]
        if let mapeo { wipedDevice = mapeo }
        mapeo = nil
        return wipedDevice
    }

    // MARK: Background

    /// The app went to the background: stop network work (iOS would suspend it anyway), with
    /// a little time granted to finish.
    func enterBackground() {
        guard let mapeo else { return }
        let task = UIApplication.shared.beginBackgroundTask(withName: "mapeo-pause")
        Task {
            try? await mapeo.pause()
            UIApplication.shared.endBackgroundTask(task)
        }
    }

    func enterForeground() {
        guard let mapeo else { return }
        Task { try? await mapeo.resume() }
    }

    // MARK: Errors

    /// Runs a throwing core call, showing its error instead of throwing.
    @discardableResult
    func run<T>(_ body: () throws -> T) -> T? {
        do {
            return try body()
        } catch {
            notice = Self.describe(error)
            return nil
        }
    }

    /// Runs an async core call, showing its error instead of throwing.
    func attempt(_ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            notice = Self.describe(error)
        }
    }

    /// Words for an error. The core's `reason` is for logs, not users; the kind decides.
    static func describe(_ error: Error) -> String {
        if let problem = error as? SetupProblem { return problem.message }
        if error is KeychainRootKeyStore.KeychainError {
            return "The phone's Keychain could not keep or forget this device's key. Restart the phone and try again."
        }
        guard let e = error as? MapeoError else { return "Something went wrong." }
        switch e {
        case .InvalidInput: return "That was not accepted. Check what you entered."
        case .NotFound: return "Not found on this device."
        case .NotAllowed: return "Your role in this project does not allow that."
        case .AwaitingOwnEntries: return "This phone's earlier records have not come back yet. Exchange with a member first."
        case .ProjectLeft: return "You have left this project."
        case .AlreadyJoined: return "You are already in this project."
        case .WrongRootKey: return "This phone's data belongs to another identity."
        case .WrongDevice: return "Another device answered than the one that showed the code."
        case .NotListening: return "Start Exchange first."
        case .Network: return "Could not reach the other device. Are you on the same Wi-Fi or hotspot?"
        case .Sync: return "The exchange stopped. Try again."
        case .Discovery: return "Could not look for nearby devices. Check local-network access in Settings."
        case .Storage: return "This phone's storage failed or is full."
        case .Invite: return "The invite could not go on. Is the other device still connected?"
        case .Attachment: return "This photo could not be added."
        case .Damaged: return "This project's data on the phone is damaged. Repair it, then exchange with a member."
        case .Closed: return "Mapeo was closed or wiped on this phone."
        case .FolderInUse: return "Mapeo's data is already open in another app or window."
        case .Patrol: return "The patrol could not go on."
        case .ListenerFailed, .Internal: return "Something went wrong."
        }
    }
}
