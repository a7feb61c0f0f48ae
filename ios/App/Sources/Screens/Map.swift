// A project's home screen: its observations on the device's offline map (MapLibre Native for
// iOS), coloured by category with the category's icon, current as sync brings observations in;
// the phone's position and accuracy with a button to centre on it; tap a point to open it,
// long-press to place a new observation there; the list one tap away; tracks drawn (tap one
// for distance and duration); and recording a patrol, which goes on in the background.
// Every decision is in MapeoViewLogic (MapLogic.swift), tested on Linux; this file is the view.
import CoreLocation
import MapLibre
import MapeoKit
import MapeoViewLogic
import SwiftUI

/// The map seams over the open device (DeviceMaps.swift), set by AppModel when the device
/// opens: the local server (`mapStyleUrl`, `iconUrl`), the device's maps and map sharing.
enum MapServers {
    static var current: MapServer?
    static var library: MapLibrary?
    static var shares: MapShares?
}

/// The device's maps (import from Files, default, remove) and map-share offers to accept or
/// decline, over the `MapLibrary` / `MapShares` seams.
struct MapsView: View {
    @EnvironmentObject var model: AppModel
    @State private var screen = MapsScreen(maps: [], offers: [])
    @State private var importing = false
    /// The offers as last pushed by the core, and the subscription while the screen shows.
    @State private var offers: [MapShareOffer] = []
    @State private var watching: TaskHandle?

    var body: some View {
        List {
            if let empty = screen.empty, MapServers.library != nil { Text(empty).foregroundColor(.secondary) }
            ForEach(screen.offers) { o in
                VStack(alignment: .leading) {
                    Text(o.title).font(.headline)
                    ProgressView(value: o.fraction) { Text(o.progress).font(.caption) }
                    HStack {
                        if o.accepted {
                            Button("Stop", role: .destructive) { share { try await $0.decline(shareId: o.id) } }
                        } else {
                            Button("Accept") { share { try await $0.accept(shareId: o.id) } }
                            Button("Decline", role: .destructive) { share { try await $0.decline(shareId: o.id) } }
                        }
                    }.buttonStyle(.borderless)
                }
            }
            ForEach(screen.maps) { m in
                VStack(alignment: .leading) {
                    Text(m.title).font(.headline)
                    Text(m.detail).font(.caption).foregroundColor(.secondary)
                }
                .swipeActions {
                    Button("Remove", role: .destructive) { act { try MapServers.library?.removeMap(mapId: m.id) } }
                    if !m.isDefault { Button("Default") { act { try MapServers.library?.setDefaultMap(mapId: m.id) } } }
                }
            }
        }
        .navigationTitle("Maps")
        .toolbar { Button("Import") { importing = true } }
        .fileImporter(isPresented: $importing, allowedContentTypes: [.data]) { result in
            guard case .success(let url) = result else { return }
            act {
                let scoped = url.startAccessingSecurityScopedResource()
                defer { if scoped { url.stopAccessingSecurityScopedResource() } }
                _ = try MapServers.library?.importMap(path: url.path)
            }
        }
        .onAppear {
            // Each push (an offer, progress, a map installed, a share ended) reloads the list:
            // the core throttles them, and the maps read is a small local query.
            watching = model.run {
                try MapServers.shares?.watch { now in DispatchQueue.main.async { offers = now; load() } }
            } ?? nil
            load()
        }
        .onDisappear {
            watching?.cancel()
            watching = nil
        }
    }

    private func load() {
        guard let library = MapServers.library else { return }
        screen = model.run { MapsScreen(maps: try library.maps(), offers: offers) } ?? screen
    }

    private func share(_ body: @escaping (MapShares) async throws -> Void) {
        guard let shares = MapServers.shares else { return }
        Task {
            await model.attempt { try await body(shares) }
            load()
        }
    }

    private func act(_ body: () throws -> Void) {
        _ = model.run(body)
        load()
    }
}

struct ProjectMapScreen: View {
    @EnvironmentObject var model: AppModel
    let project: Project
    let projectId: String
    @StateObject private var patrol = PatrolRecorder()
    @State private var openObservation: String?
    @State private var placed: PlacedPoint?
    @State private var adding = false
    @State private var track: Tracks.Detail?
    @State private var centreRequest = 0

    var body: some View {
        ZStack(alignment: .bottom) {
            ProjectMapView(
                project: project, centreRequest: centreRequest, patrolLine: patrol.line,
                onOpen: { openObservation = $0 },
                onPlace: { placed = $0; adding = true },
                onTrack: { id in track = model.run { Tracks.detail(try project.getTrack(docId: id)) } })
            .ignoresSafeArea(edges: .top)
            if let banner = patrol.banner {
                Text(banner).padding(8).background(.thinMaterial).cornerRadius(8).padding(.bottom, 56)
            }
        }
        .toolbar {
            ToolbarItemGroup(placement: .bottomBar) {
                NavigationLink("List", destination: ObservationListView(project: project))
                Spacer()
                Button("New") { placed = nil; adding = true }
                Spacer()
                Button { centreRequest += 1 } label: { Image(systemName: "location") }
                Spacer()
                Button(patrol.recording ? "Stop patrol" : "Patrol") {
                    if patrol.recording {
                        model.notice = patrol.stop(save: true)
                    } else {
                        patrol.start(project: project) { model.notice = $0 }
                    }
                }
                Spacer()
                NavigationLink("Exchange", destination: ExchangeView(projectId: projectId))
            }
            ToolbarItem(placement: .navigationBarLeading) {
                NavigationLink("Maps", destination: MapsView())
            }
        }
        .sheet(isPresented: $adding) { NewObservationView(project: project, placed: placed) }
        .background(
            NavigationLink(
                destination: openObservation.map { ObservationDetailView(project: project, docId: $0) },
                isActive: Binding(get: { openObservation != nil }, set: { if !$0 { openObservation = nil } })
            ) { EmptyView() }
        )
        .alert(item: Binding(get: { track.map(IdentifiedDetail.init) }, set: { track = $0?.detail })) { t in
            Alert(
                title: Text("Patrol"),
                message: Text(
                    ["\(t.detail.distance) · \(t.detail.duration)", t.detail.notes, "\(t.detail.observationIds.count) observations"]
                        .compactMap { $0 }.joined(separator: "\n")))
        }
        .onAppear { patrol.resumeIfRecording(project: project) }
    }
}

private struct IdentifiedDetail: Identifiable {
    let detail: Tracks.Detail
    var id: String { detail.distance + detail.duration }
}

/// MLNMapView with the observation, track, patrol layers.
struct ProjectMapView: UIViewRepresentable {
    let project: Project
    let centreRequest: Int
    let patrolLine: [(Double, Double)]
    let onOpen: (String) -> Void
    let onPlace: (PlacedPoint) -> Void
    let onTrack: (String) -> Void

    func makeCoordinator() -> Coordinator { Coordinator(self) }

    func makeUIView(context: Context) -> MLNMapView {
        let view = MLNMapView(frame: .zero, styleURL: Self.fallbackStyleURL())
        // The style URL comes from the local server, which may be starting: asked off the view.
        Task { @MainActor in view.styleURL = await Self.styleURL() }
        view.delegate = context.coordinator
        view.showsUserLocation = true
        view.addGestureRecognizer(UITapGestureRecognizer(target: context.coordinator, action: #selector(Coordinator.tap(_:))))
        view.addGestureRecognizer(UILongPressGestureRecognizer(target: context.coordinator, action: #selector(Coordinator.longPress(_:))))
        return view
    }

    func updateUIView(_ view: MLNMapView, context: Context) {
        context.coordinator.parent = self
        if centreRequest != context.coordinator.centred, let here = view.userLocation?.location {
            context.coordinator.centred = centreRequest
            view.setCenter(here.coordinate, zoomLevel: 16, animated: true)
        }
        context.coordinator.setShape(MapLayers.patrolSource, Tracks.lineGeoJSON(patrolLine), in: view.style)
    }

    /// The server's default map, or the fallback style written to a file (MLNMapView loads
    /// styles by URL).
    static func styleURL() async -> URL? {
        switch await MapLayers.style(server: MapServers.current) {
        case .url(let url): return url
        case .json: return fallbackStyleURL()
        }
    }

    /// The inline fallback style as a file, shown until the server's style URL is known.
    static func fallbackStyleURL() -> URL? {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("mapeo-fallback-style.json")
        try? Data(MapLayers.fallbackStyleJSON.utf8).write(to: file)
        return file
    }

    final class Coordinator: NSObject, MLNMapViewDelegate {
        var parent: ProjectMapView
        var centred = 0
        private var feed: MapPointsFeed?

        init(_ parent: ProjectMapView) { self.parent = parent }

        func mapView(_ view: MLNMapView, didFinishLoading style: MLNStyle) {
            let tracks = MLNShapeSource(identifier: MapLayers.tracksSource, shape: nil)
            style.addSource(tracks)
            let trackLine = MLNLineStyleLayer(identifier: MapLayers.tracksLayer, source: tracks)
            trackLine.lineColor = NSExpression(forConstantValue: UIColor(red: 0.89, green: 0.34, blue: 0.18, alpha: 1))
            trackLine.lineWidth = NSExpression(forConstantValue: 3)
            style.addLayer(trackLine)

            let patrolSource = MLNShapeSource(identifier: MapLayers.patrolSource, shape: nil)
            style.addSource(patrolSource)
            let patrolLine = MLNLineStyleLayer(identifier: MapLayers.patrolLayer, source: patrolSource)
            patrolLine.lineColor = NSExpression(forConstantValue: UIColor.systemBlue)
            patrolLine.lineWidth = NSExpression(forConstantValue: 4)
            style.addLayer(patrolLine)

            let points = MLNShapeSource(identifier: MapLayers.pointsSource, shape: nil)
            style.addSource(points)
            let circles = MLNCircleStyleLayer(identifier: MapLayers.pointsCircleLayer, source: points)
            circles.circleColor = NSExpression(mglJSONObject: ["to-color", ["get", MapLayers.colorProperty]])
            circles.circleOpacity = NSExpression(mglJSONObject: ["to-number", ["get", MapLayers.opacityProperty]])
            circles.circleRadius = NSExpression(forConstantValue: MapLayers.pointRadius)
            circles.circleStrokeColor = NSExpression(forConstantValue: UIColor.white)
            circles.circleStrokeWidth = NSExpression(forConstantValue: 2)
            style.addLayer(circles)
            let icons = MLNSymbolStyleLayer(identifier: MapLayers.pointsIconLayer, source: points)
            icons.predicate = NSPredicate(format: "%K != nil", MapLayers.iconIdProperty)
            icons.iconImageName = NSExpression(mglJSONObject: ["concat", "mapeo-icon-", ["get", MapLayers.iconIdProperty]])
            icons.iconScale = NSExpression(forConstantValue: 0.5)
            icons.iconAllowsOverlap = NSExpression(forConstantValue: true)
            style.addLayer(icons)

            let project = parent.project
            let density = Int(UIScreen.main.scale.rounded())
            Task.detached(priority: .userInitiated) {
                let presets = (try? project.listPresets(query: Query())) ?? []
                let icons = await MapLayers.categoryIcons(
                    projectId: project.projectId(), presets, server: MapServers.current, pixelDensity: density)
                // UIImage reads PNG; a categories file with SVG icons only shows colours.
                let images = icons.compactMap { icon in
                    (try? Data(contentsOf: icon.url)).flatMap(UIImage.init(data:)).map { (icon.name, $0) }
                }
                let tracks = Tracks.geoJSON((try? project.listTracks(query: Query())) ?? [])
                let camera = cameraFor(places((try? project.listObservations(query: Query())) ?? []))
                DispatchQueue.main.async {
                    for (name, image) in images { style.setImage(image, forName: name) }
                    self.setShape(MapLayers.tracksSource, tracks, in: style)
                    self.move(view, to: camera)
                    self.startFeed(view)
                }
            }
        }

        private func move(_ view: MLNMapView, to camera: CameraTarget) {
            switch camera {
            case .nothing: break
            case .point(let lat, let lon, let zoom):
                view.setCenter(CLLocationCoordinate2D(latitude: lat, longitude: lon), zoomLevel: zoom, animated: false)
            case .box(let b):
                // MapLibre takes a box across the antimeridian as an east edge past 180.
                let east = b.east < b.west ? b.east + 360 : b.east
                let bounds = MLNCoordinateBounds(
                    sw: CLLocationCoordinate2D(latitude: b.south, longitude: b.west),
                    ne: CLLocationCoordinate2D(latitude: b.north, longitude: east))
                view.setVisibleCoordinateBounds(bounds, edgePadding: UIEdgeInsets(top: 48, left: 48, bottom: 48, right: 48), animated: false, completionHandler: nil)
            }
        }

        private func startFeed(_ view: MLNMapView) {
            feed?.close()
            feed = try? MapPointsFeed(project: parent.project) { [weak self, weak view] points in
                DispatchQueue.main.async {
                    guard let self, let view else { return }
                    self.setShape(MapLayers.pointsSource, points.geojson, in: view.style)
                }
            }
            askForVisiblePoints(view)
        }

        private func askForVisiblePoints(_ view: MLNMapView) {
            guard let feed else { return }
            let b = view.visibleCoordinateBounds
            let box = visibleBox(south: b.sw.latitude, west: b.sw.longitude, north: b.ne.latitude, east: b.ne.longitude)
            DispatchQueue.global(qos: .userInitiated).async { try? feed.show(box) }
        }

        func mapView(_ view: MLNMapView, regionDidChangeAnimated animated: Bool) {
            askForVisiblePoints(view)
        }

        func setShape(_ sourceId: String, _ geojson: String, in style: MLNStyle?) {
            guard let source = style?.source(withIdentifier: sourceId) as? MLNShapeSource,
                let shape = try? MLNShape(data: Data(geojson.utf8), encoding: String.Encoding.utf8.rawValue)
            else { return }
            source.shape = shape
        }

        @objc func tap(_ g: UITapGestureRecognizer) {
            guard let view = g.view as? MLNMapView else { return }
            let at = g.location(in: view)
            let layers: Set<String> = [MapLayers.pointsCircleLayer, MapLayers.pointsIconLayer]
            if let id = view.visibleFeatures(at: at, styleLayerIdentifiers: layers).first?
                .attribute(forKey: MapLayers.docIdProperty) as? String
            {
                parent.onOpen(id)
            } else if let id = view.visibleFeatures(at: at, styleLayerIdentifiers: [MapLayers.tracksLayer]).first?
                .attribute(forKey: MapLayers.docIdProperty) as? String
            {
                parent.onTrack(id)
            }
        }

        @objc func longPress(_ g: UILongPressGestureRecognizer) {
            guard g.state == .began, let view = g.view as? MLNMapView else { return }
            let c = view.convert(g.location(in: view), toCoordinateFrom: view)
            parent.onPlace(PlacedPoint(latitude: c.latitude, longitude: wrapLongitude(c.longitude)))
        }

        deinit { feed?.close() }
    }
}

/// Records a patrol with background location: positions go to the core (which filters them
/// and writes each kept one to disk at once); after the app is killed, the map screen finds the
/// patrol under way and goes on recording.
@MainActor
final class PatrolRecorder: NSObject, ObservableObject, CLLocationManagerDelegate {
    @Published private(set) var recording = false
    @Published private(set) var banner: String?
    @Published private(set) var line: [(Double, Double)] = []
    private let manager = CLLocationManager()
    private var session: PatrolSession?
    private var timer: Timer?
    private let queue = DispatchQueue(label: "org.mapeo.patrol")

    override init() {
        super.init()
        manager.delegate = self
        manager.desiredAccuracy = kCLLocationAccuracyBest
        manager.activityType = .fitness
        manager.pausesLocationUpdatesAutomatically = false
    }

    func start(project: Project, failed: @escaping (String) -> Void) {
        do {
            begin(try PatrolSession.resumeOrStart(project))
        } catch {
            failed(AppModel.describe(error))
        }
    }

    func resumeIfRecording(project: Project) {
        guard session == nil, let s = try? PatrolSession.resume(project) else { return }
        begin(s)
    }

    private func begin(_ s: PatrolSession) {
        session = s
        recording = true
        manager.requestAlwaysAuthorization()
        manager.allowsBackgroundLocationUpdates = true
        manager.showsBackgroundLocationIndicator = true
        manager.startUpdatingLocation()
        timer = Timer.scheduledTimer(withTimeInterval: 1, repeats: true) { [weak self] _ in
            Task { @MainActor in self?.refresh() }
        }
    }

    /// Stops recording; saves (or discards) the patrol, and says what happened.
    func stop(save: Bool) -> String {
        manager.stopUpdatingLocation()
        manager.allowsBackgroundLocationUpdates = false
        timer?.invalidate()
        recording = false
        banner = nil
        line = []
        guard let s = session else { return "No patrol was being recorded" }
        session = nil
        do {
            if save {
                _ = try s.save(notes: nil)
                return "Patrol saved"
            }
            try s.discard()
            return "Patrol discarded"
        } catch MapeoError.Patrol {
            try? s.discard()
            return "Patrol too short to save: discarded"
        } catch {
            return AppModel.describe(error)
        }
    }

    private func refresh() {
        guard let s = session else { return }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if let summary = try? s.summary() { banner = PatrolText.recording(summary, nowMs: now) }
        if let l = try? s.line() { line = l }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        let fixes = locations.map { l in
            LocationFix(
                latitude: l.coordinate.latitude, longitude: l.coordinate.longitude,
                altitude: l.verticalAccuracy >= 0 ? l.altitude : nil,
                accuracy: l.horizontalAccuracy >= 0 ? l.horizontalAccuracy : nil,
                timestampMs: Int64(l.timestamp.timeIntervalSince1970 * 1000))
        }
        Task { @MainActor in
            guard let s = self.session else { return }
            // Each kept point is a synced disk write: off the main thread.
            self.queue.async { for f in fixes { _ = try? s.offer(f) } }
        }
    }
}
