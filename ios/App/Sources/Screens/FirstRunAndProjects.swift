// First run (device name; new identity or restore from a backup code) and the projects
// screen (projects; invites to accept or decline; create).
import MapeoKit
import MapeoViewLogic
import SwiftUI

struct FirstRunView: View {
    @EnvironmentObject var model: AppModel
    @State private var name = ""
    @State private var restoring = false
    @State private var code = ""
    @State private var problem: String?

    var body: some View {
        NavigationView {
            Form {
                Section(footer: Text("Your team sees this name when you exchange.")) {
                    TextField("Device name", text: $name)
                }
                Section {
                    Toggle("Restore from a backup code", isOn: $restoring)
                    if restoring {
                        TextField("XXXX XXXX …", text: $code)
                            .textInputAutocapitalization(.characters)
                            .autocorrectionDisabled()
                            .font(.system(.body, design: .monospaced))
                        Text("\(DeviceSetup.backupCodeCount(code)) of \(DeviceSetup.backupCodeChars) characters")
                            .font(.footnote).foregroundColor(.secondary)
                    }
                }
                if let problem { Text(problem).foregroundColor(.red) }
                Button(restoring ? "Restore" : "Start") {
                    do {
                        try model.firstRun(name: name, backupCode: restoring ? code : nil)
                    } catch {
                        problem = AppModel.describe(error)
                    }
                }
            }
            .navigationTitle("Welcome to Mapeo")
        }
        .navigationViewStyle(.stack)
    }
}

struct ProjectsView: View {
    @EnvironmentObject var model: AppModel
    @State private var creating = false
    @State private var newName = ""

    var body: some View {
        List {
            if !model.projectsScreen.invites.isEmpty {
                Section("Invites") {
                    ForEach(model.projectsScreen.invites) { invite in
                        VStack(alignment: .leading, spacing: 6) {
                            Text(invite.text)
                            if let d = invite.description { Text(d).font(.footnote).foregroundColor(.secondary) }
                            HStack {
                                Button("Join") { Task { await model.accept(invite.id) } }.buttonStyle(.borderedProminent)
                                Button("Decline") { model.reject(invite.id) }.buttonStyle(.bordered)
                            }
                        }
                    }
                }
            }
            Section("Projects") {
                ForEach(model.projectsScreen.projects) { row in
                    NavigationLink(destination: ProjectHome(projectId: row.id, name: row.name)) {
                        HStack {
                            Text(row.name)
                            Spacer()
                            if let badge = row.badge { Text(badge).foregroundColor(.secondary) }
                        }
                    }
                }
                if model.projectsScreen.projects.isEmpty {
                    Text("No projects yet. Create one, or exchange with a coordinator to be invited.")
                        .foregroundColor(.secondary)
                }
            }
        }
        .navigationTitle("Projects")
        .toolbar {
            ToolbarItem(placement: .navigationBarLeading) {
                NavigationLink("Settings", destination: SettingsView())
            }
            ToolbarItem(placement: .navigationBarTrailing) {
                Button("New") { creating = true }
            }
        }
        .refreshable { model.refreshProjects() }
        .alert("New project", isPresented: $creating) {
            TextField("Name", text: $newName)
            Button("Create") {
                model.createProject(name: newName)
                newName = ""
            }
            Button("Cancel", role: .cancel) {}
        }
    }
}

/// A project: its map of observations, with the way to the list, Exchange and Members.
struct ProjectHome: View {
    @EnvironmentObject var model: AppModel
    let projectId: String
    let name: String

    var body: some View {
        Group {
            if let project = model.project(projectId) {
                // The map is the project's home; the list, Exchange and Members are one tap away.
                ProjectMapScreen(project: project, projectId: projectId)
                    .toolbar {
                        ToolbarItem(placement: .navigationBarTrailing) {
                            NavigationLink("Members", destination: MembersView(project: project))
                        }
                    }
            } else {
                Text("This project cannot be opened.")
            }
        }
        .navigationTitle(name)
    }
}
