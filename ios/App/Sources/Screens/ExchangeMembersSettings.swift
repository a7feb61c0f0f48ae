// Exchange (start/stop, nearby devices with per-device progress, this device's connection
// code as text and QR code, connecting by code or address, sync by file: SyncFile.swift), members (roles, invite a nearby
// device, remove) and settings (name, backup code, which photos to keep, the emergency wipe:
// Wipe.swift).
import MapeoKit
import MapeoViewLogic
import SwiftUI

struct ExchangeView: View {
    @EnvironmentObject var model: AppModel
    let projectId: String
    @State private var code: String?
    @State private var connectText = ""

    private var running: Bool { model.exchangingProject == projectId }
    private var rows: [PeerRow] {
        ExchangeScreen.rows(peers: model.peers, states: model.syncStates[projectId] ?? [])
    }

    var body: some View {
        List {
            Section {
                Toggle("Exchange", isOn: Binding(get: { running }, set: { on in
                    Task {
                        if on { await model.startExchange(projectId) } else { await model.stopExchange() }
                        code = model.connectionCode()
                    }
                }))
                if running { Text(ExchangeScreen.summary(rows)).font(.headline) }
            } footer: {
                Text("Keep Mapeo open while exchanging: iOS pauses it in the background.")
            }
            Section("Nearby devices") {
                ForEach(rows) { row in
                    VStack(alignment: .leading, spacing: 4) {
                        Text(row.name).font(.headline)
                        if let p = row.progress {
                            if let f = p.fraction { ProgressView(value: f) }
                            Text(p.text).font(.footnote).foregroundColor(.secondary)
                        } else {
                            Text(row.connected ? "Does not share this project" : "Not connected")
                                .font(.footnote).foregroundColor(.secondary)
                        }
                    }
                }
                if rows.isEmpty { Text("Looking for devices on this Wi-Fi…").foregroundColor(.secondary) }
            }
            if running {
                Section("Connect by code") {
                    if let code {
                        if let image = qrImage(code) {
                            Image(uiImage: image).interpolation(.none).resizable().scaledToFit().frame(maxWidth: 220)
                        }
                        Text(DeviceSetup.grouped(code)).font(.system(.footnote, design: .monospaced)).textSelection(.enabled)
                    }
                    TextField("Other device's code or IP:port", text: $connectText)
                        .textInputAutocapitalization(.characters).autocorrectionDisabled()
                    Button("Connect") { Task { await model.connect(connectText) } }
                        .disabled(connectText.isEmpty)
                }
            }
            Section("Sync by file") {
                NavigationLink("Save or open a sync file") { SyncFileView(projectId: projectId) }
            }
        }
        .navigationTitle("Exchange")
        .onAppear { code = model.connectionCode() }
    }
}

struct MembersView: View {
    @EnvironmentObject var model: AppModel
    let project: Project
    @State private var members: [Member] = []
    @State private var ownRole: Role = .noRole
    @State private var role: InviteRole = .member
    @State private var roleHandle: TaskHandle?

    var body: some View {
        let ownId = model.mapeo?.deviceId() ?? ""
        List {
            Section("Members") {
                ForEach(MembersScreen.rows(members, ownRole: ownRole, ownDeviceId: ownId)) { row in
                    HStack {
                        Text(row.name)
                        Spacer()
                        Text(row.role).foregroundColor(.secondary)
                    }
                    .swipeActions {
                        if row.canRemove {
                            Button("Remove", role: .destructive) {
                                model.run { try project.removeMember(deviceId: row.id, reason: nil) }
                                reload()
                            }
                        }
                        // Offer this phone's default map to the member's connected device.
                        if row.canRemove, let shares = MapServers.shares, let library = MapServers.library {
                            Button("Share map") {
                                Task {
                                    await model.attempt {
                                        guard let map = try library.maps().first(where: \.isDefault) else {
                                            model.notice = "Choose a default map to share first"
                                            return
                                        }
                                        _ = try await shares.share(mapId: map.mapId, deviceId: row.id)
                                        model.notice = "Map offered to \(row.name)"
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if MembersScreen.canManage(ownRole) {
                Section("Invite a nearby device") {
                    Picker("Role", selection: $role) {
                        Text("Member").tag(InviteRole.member)
                        Text("Coordinator").tag(InviteRole.coordinator)
                    }
                    let invitable = MembersScreen.invitable(peers: model.peers, members: members)
                    ForEach(invitable, id: \.deviceId) { peer in
                        Button("Invite \(peer.name)") {
                            Task {
                                await model.invite(projectId: project.projectId(), peer: peer, role: role)
                                reload()
                            }
                        }
                    }
                    if invitable.isEmpty { Text("Start Exchange to see nearby devices.").foregroundColor(.secondary) }
                }
            }
        }
        .navigationTitle("Members")
        .onAppear {
            reload()
            roleHandle = model.run {
                try project.subscribeOwnRole(listener: RoleForwarder { role in
                    ownRole = role
                })
            }
        }
        .onDisappear { roleHandle?.cancel() }
        .onReceive(model.$peers) { _ in reload() }
    }

    private func reload() {
        members = model.run { try project.members(includeInactive: false) } ?? []
        ownRole = model.run { try project.ownRole() } ?? .noRole
    }
}

struct SettingsView: View {
    @EnvironmentObject var model: AppModel
    @State private var name = ""
    @State private var showCode = false
    @State private var archive = false

    var body: some View {
        Form {
            Section("This device") {
                TextField("Device name", text: $name)
                Button("Save name") {
                    switch DeviceSetup.validName(name) {
                    case .success(let valid):
                        model.run {
                            let type = try model.mapeo?.deviceInfo()?.deviceType ?? .mobile
                            try model.mapeo?.setDeviceInfo(info: DeviceInfo(name: valid, deviceType: type))
                        }
                    case .failure(let problem):
                        model.notice = problem.message
                    }
                }
                if let id = model.mapeo?.deviceId() {
                    Text(id.prefix(16) + "…").font(.system(.footnote, design: .monospaced))
                }
            }
            Section {
                Toggle("Keep full-size photos", isOn: Binding(get: { archive }, set: { on in
                    archive = on
                    model.run { try model.mapeo?.setBlobPolicy(policy: on ? archiveBlobPolicy() : previewsOnlyBlobPolicy()) }
                }))
            } footer: {
                Text("Off: this phone keeps previews and thumbnails of others' photos, which saves space. On: it keeps every original, as an archive device.")
            }
            Section {
                Toggle("Show backup code", isOn: $showCode)
                if showCode, let key = try? model.store.load(), let code = try? backupCode(rootKey: key) {
                    Text(DeviceSetup.grouped(code)).font(.system(.body, design: .monospaced)).textSelection(.enabled)
                }
            } footer: {
                Text("Write this code down and keep it safe: it restores this identity on a new phone. Anyone with it can act as this device.")
            }
            Section {
                NavigationLink(destination: WipeView()) {
                    Text("Emergency wipe").foregroundColor(.red)
                }
            } footer: {
                Text("Erases this phone's projects, observations, photos and identity at once. The backup code restores the identity; the team gives its data back at the next exchange.")
            }
        }
        .navigationTitle("Settings")
        .onAppear {
            name = (try? model.mapeo?.deviceInfo()?.name) ?? ""
            if let policy = try? model.mapeo?.blobPolicy() { archive = policy == archiveBlobPolicy() }
        }
    }
}
