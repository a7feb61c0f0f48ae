// The emergency wipe screen, reached from Settings: hold the button for 3 seconds (progress
// shown; letting go early cancels), then type the word and erase. While the wipe runs, and if
// it fails, this screen is the whole app (AppModel's `.wiping` phase). The gesture and the
// steps are MapeoViewLogic's (Wipe.swift); this file is the view.
import MapeoViewLogic
import SwiftUI

struct WipeView: View {
    @EnvironmentObject var model: AppModel
    @State private var typed = ""
    /// Whether a finger is on the hold button; back to false when the finger lifts or the
    /// system cancels the touch (a scroll taking over), which lets go as lifting does.
    @GestureState private var pressed = false
    @State private var ticker: Timer?

    var body: some View {
        Form {
            Section {
                Text(WipeText.describe(model.wipeState))
            }
            switch model.wipeState {
            case .idle, .holding, .failed:
                Section { holdButton }
            case .confirm(_, let canWipe):
                Section {
                    TextField(defaultWipeWord, text: $typed)
                        .textInputAutocapitalization(.characters)
                        .autocorrectionDisabled()
                        .onChange(of: typed) { model.wipeType($0) }
                    Button("Erase this phone now", role: .destructive) {
                        Task { await model.wipeNow() }
                    }
                    .disabled(!canWipe)
                    Button("Cancel") {
                        typed = ""
                        model.wipeCancel()
                    }
                }
            case .wiping:
                Section { ProgressView() }
            case .wiped:
                EmptyView()
            }
        }
        .navigationTitle("Emergency wipe")
        .navigationBarBackButtonHidden(model.wipeState == .wiping)
        .onChange(of: model.wipeState) { state in
            if case .confirm = state { return }
            typed = ""
        }
        .onDisappear {
            stopTicker()
            // Leaving the screen before the wipe runs cancels it; a running one goes on.
            model.wipeCancel()
        }
    }

    private var progress: Double {
        if case .holding(_, let p) = model.wipeState { return p }
        return 0
    }

    private var holdButton: some View {
        ZStack {
            GeometryReader { geo in
                ZStack(alignment: .leading) {
                    RoundedRectangle(cornerRadius: 10).fill(Color.red.opacity(0.25))
                    RoundedRectangle(cornerRadius: 10).fill(Color.red).frame(width: geo.size.width * progress)
                }
            }
            Text(pressed ? "Keep holding…" : "Hold to erase this phone")
                .bold()
                .foregroundColor(.white)
        }
        .frame(height: 56)
        .contentShape(Rectangle())
        .gesture(DragGesture(minimumDistance: 0).updating($pressed) { _, down, _ in down = true })
        .onChange(of: pressed) { down in
            if down {
                model.wipePress()
                startTicker()
            } else {
                stopTicker()
                model.wipeRelease()
            }
        }
        .accessibilityLabel("Hold to erase this phone")
    }

    /// Moves the progress while the button is held; stops once the word is asked. In the
    /// common run loop modes: a touch in a scrolling form puts the run loop in tracking mode,
    /// where a default-mode timer would not fire.
    private func startTicker() {
        stopTicker()
        let model = self.model
        let timer = Timer(timeInterval: 0.05, repeats: true) { timer in
            Task { @MainActor in
                model.wipeTick()
                if case .holding = model.wipeState { return }
                timer.invalidate()
            }
        }
        RunLoop.main.add(timer, forMode: .common)
        ticker = timer
    }

    private func stopTicker() {
        ticker?.invalidate()
        ticker = nil
    }
}
