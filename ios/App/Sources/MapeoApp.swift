// The app's entry: opens the device, shows first run or the projects (or the emergency wipe
// while it runs), and pauses the core's network work when the app leaves the foreground.
import MapeoViewLogic
import SwiftUI

@main
struct MapeoApp: App {
    @StateObject private var model = AppModel()
    @Environment(\.scenePhase) private var scenePhase

    var body: some Scene {
        WindowGroup {
            RootView()
                .environmentObject(model)
                .onAppear { if case .loading = model.phase { model.start() } }
        }
        .onChange(of: scenePhase) { phase in
            switch phase {
            case .background: model.enterBackground()
            case .active: model.enterForeground()
            default: break
            }
        }
    }
}

struct RootView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        Group {
            switch model.phase {
            case .loading: ProgressView()
            case .firstRun: FirstRunView()
            case .ready: NavigationView { ProjectsView() }.navigationViewStyle(.stack)
            case .wiping: NavigationView { WipeView() }.navigationViewStyle(.stack)
            case .failed(let text): Text(text).padding()
            }
        }
        .alert(
            model.notice ?? "", isPresented: Binding(get: { model.notice != nil }, set: { if !$0 { model.notice = nil } })
        ) { Button("OK", role: .cancel) {} }
    }
}
