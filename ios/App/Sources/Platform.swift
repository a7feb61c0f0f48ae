// The iOS-only pieces behind the plain view logic: the Keychain that keeps the root key,
// CoreLocation for the GPS fix, the camera, and the listener objects the core calls from
// its own threads (they hop to the main actor before touching any view state).
import CoreImage
import CoreLocation
import Foundation
import MapeoKit
import MapeoViewLogic
import Security
import SwiftUI
import UIKit

/// The root key in the Keychain: a generic password readable after the first unlock, on this
/// device only (never in iCloud Keychain or a backup; the backup code is the way to move it).
/// The emergency wipe deletes it.
struct KeychainRootKeyStore: RootKeyStore {
    let service = "org.mapeo.root-key"
    let account = "root"

    private var query: [String: Any] {
        [kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: service,
         kSecAttrAccount as String: account]
    }

    struct KeychainError: Error { let status: OSStatus }

    func load() throws -> Data? {
        var q = query
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let data = item as? Data else { throw KeychainError(status: status) }
        return data
    }

    func save(_ key: Data) throws {
        SecItemDelete(query as CFDictionary)
        var q = query
        q[kSecValueData as String] = key
        q[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(q as CFDictionary, nil)
        guard status == errSecSuccess else { throw KeychainError(status: status) }
    }

    /// The emergency wipe: deletes the Keychain item. Nothing kept is not an error.
    func delete() throws {
        let status = SecItemDelete(query as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else { throw KeychainError(status: status) }
    }
}

/// Live GPS fixes while a screen needs them (CoreLocation works with no network).
@MainActor
final class LocationReader: NSObject, ObservableObject, CLLocationManagerDelegate {
    @Published private(set) var fix: LocationFix?
    @Published private(set) var denied = false
    private let manager = CLLocationManager()

    override init() {
        super.init()
        manager.delegate = self
        manager.desiredAccuracy = kCLLocationAccuracyBest
    }

    func start() {
        manager.requestWhenInUseAuthorization()
        manager.startUpdatingLocation()
    }

    func stop() { manager.stopUpdatingLocation() }

    nonisolated func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        guard let l = locations.last else { return }
        var mocked = false
        if #available(iOS 15.0, *) { mocked = l.sourceInformation?.isSimulatedBySoftware ?? false }
        let fix = LocationFix(
            latitude: l.coordinate.latitude, longitude: l.coordinate.longitude,
            altitude: l.verticalAccuracy >= 0 ? l.altitude : nil,
            accuracy: l.horizontalAccuracy >= 0 ? l.horizontalAccuracy : nil,
            altitudeAccuracy: l.verticalAccuracy >= 0 ? l.verticalAccuracy : nil,
            heading: l.course >= 0 ? l.course : nil, speed: l.speed >= 0 ? l.speed : nil,
            timestampMs: Int64(l.timestamp.timeIntervalSince1970 * 1000), mocked: mocked)
        Task { @MainActor in self.fix = fix }
    }

    nonisolated func locationManagerDidChangeAuthorization(_ manager: CLLocationManager) {
        let status = manager.authorizationStatus
        Task { @MainActor in self.denied = status == .denied || status == .restricted }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didFailWithError error: Error) {}
}

/// The camera (the photo library on a simulator, which has no camera): hands back the photo
/// written as a JPEG to a temporary file, for `Project.addAttachmentFromPath`.
struct CameraPicker: UIViewControllerRepresentable {
    let onPhoto: (URL) -> Void
    @Environment(\.dismiss) private var dismiss

    func makeUIViewController(context: Context) -> UIImagePickerController {
        let picker = UIImagePickerController()
        picker.sourceType = UIImagePickerController.isSourceTypeAvailable(.camera) ? .camera : .photoLibrary
        picker.delegate = context.coordinator
        return picker
    }

    func updateUIViewController(_ controller: UIImagePickerController, context: Context) {}

    func makeCoordinator() -> Coordinator { Coordinator(self) }

    final class Coordinator: NSObject, UIImagePickerControllerDelegate, UINavigationControllerDelegate {
        let parent: CameraPicker
        init(_ parent: CameraPicker) { self.parent = parent }

        func imagePickerController(
            _ picker: UIImagePickerController, didFinishPickingMediaWithInfo info: [UIImagePickerController.InfoKey: Any]
        ) {
            if let image = info[.originalImage] as? UIImage, let data = image.jpegData(compressionQuality: 0.9) {
                let url = FileManager.default.temporaryDirectory.appendingPathComponent("IMG_\(UUID().uuidString).jpg")
                if (try? data.write(to: url)) != nil { parent.onPhoto(url) }
            }
            parent.dismiss()
        }

        func imagePickerControllerDidCancel(_ picker: UIImagePickerController) { parent.dismiss() }
    }
}

/// A QR code of a connection code (CoreImage's generator), for the other phone to scan.
func qrImage(_ text: String) -> UIImage? {
    guard let filter = CIFilter(name: "CIQRCodeGenerator") else { return nil }
    filter.setValue(Data(text.utf8), forKey: "inputMessage")
    filter.setValue("M", forKey: "inputCorrectionLevel")
    guard let out = filter.outputImage?.transformed(by: CGAffineTransform(scaleX: 8, y: 8)),
        let cg = CIContext().createCGImage(out, from: out.extent)
    else { return nil }
    return UIImage(cgImage: cg)
}

// Listeners: the core calls them on its threads; each hops to the main actor.

final class PeersForwarder: PeerListener, @unchecked Sendable {
    let onChange: @MainActor ([PeerInfo]) -> Void
    init(_ onChange: @escaping @MainActor ([PeerInfo]) -> Void) { self.onChange = onChange }
    func onPeers(peers: [PeerInfo]) throws { Task { @MainActor in onChange(peers) } }
}

final class SyncForwarder: SyncListener, @unchecked Sendable {
    let onChange: @MainActor (String, [PeerSyncState]) -> Void
    init(_ onChange: @escaping @MainActor (String, [PeerSyncState]) -> Void) { self.onChange = onChange }
    func onSyncState(projectId: String, peers: [PeerSyncState]) throws {
        Task { @MainActor in onChange(projectId, peers) }
    }
}

final class InvitesForwarder: InviteListener, @unchecked Sendable {
    let onChange: @MainActor ([ReceivedInvite]) -> Void
    init(_ onChange: @escaping @MainActor ([ReceivedInvite]) -> Void) { self.onChange = onChange }
    func onInvites(invites: [ReceivedInvite]) throws { Task { @MainActor in onChange(invites) } }
}

final class RoleForwarder: RoleListener, @unchecked Sendable {
    let onChange: @MainActor (Role) -> Void
    init(_ onChange: @escaping @MainActor (Role) -> Void) { self.onChange = onChange }
    func onRole(role: Role) throws { Task { @MainActor in onChange(role) } }
}
