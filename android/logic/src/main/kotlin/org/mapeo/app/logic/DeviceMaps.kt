// The map seams (MapSeams.kt) over one device's bindings: its local server's style and icon
// URLs, its map store, and map sharing with offers pushed by `MapShareListener` (no polling).
// Only conversions here: what a share may do and when a map is installed is the core's.
package org.mapeo.app.logic

import uniffi.mapeo_ffi.IconSize
import uniffi.mapeo_ffi.MapInfo
import uniffi.mapeo_ffi.MapShare
import uniffi.mapeo_ffi.MapShareDirection
import uniffi.mapeo_ffi.MapShareListener
import uniffi.mapeo_ffi.MapShareState
import uniffi.mapeo_ffi.Mapeo

/** Pixel densities the categories files carry PNGs for (`@1x`…`@3x`). */
val ICON_DENSITIES: IntRange = 1..3

/** The device's local server (started by the core on first use). */
class LocalMapServer(private val device: Mapeo) : MapServer {
    override suspend fun styleUrl(mapId: String?): String = device.mapStyleUrl(mapId)

    override suspend fun iconUrl(projectId: String, categoryId: String, size: IconSize, pixelDensity: Int?): String? =
        device.iconUrl(projectId, categoryId, size, pixelDensity?.coerceIn(ICON_DENSITIES)?.toUByte())
}

/** The device's map store. */
class DeviceMapLibrary(private val device: Mapeo) : MapLibrary {
    override fun maps(): List<MapPackage> = device.maps().map(::mapPackage)
    override fun importMap(path: String): MapPackage = mapPackage(device.importMap(path))
    override fun setDefaultMap(mapId: String) = device.setDefaultMap(mapId)
    override fun removeMap(mapId: String) = device.removeMap(mapId)
}

/** Map sharing of the device. */
class DeviceMapShares(private val device: Mapeo) : MapShares {
    override fun offers(): List<MapShareOffer> = mapShareOffers(device.mapShares())

    override fun watch(onChange: (List<MapShareOffer>) -> Unit): AutoCloseable {
        val handle = device.subscribeMapShares(object : MapShareListener {
            override fun onMapShares(shares: List<MapShare>) = onChange(mapShareOffers(shares))
        })
        return AutoCloseable { handle.close() }
    }

    override suspend fun accept(shareId: String) = device.acceptMapShare(shareId)
    override suspend fun decline(shareId: String) = device.declineMapShare(shareId)
    override suspend fun share(mapId: String, deviceId: String): String = device.shareMap(mapId, deviceId)
}

/** A map of the store as the maps screen lists it. */
fun mapPackage(m: MapInfo): MapPackage =
    MapPackage(m.id, m.name, m.isDefault, m.size.toLong(), m.minZoom.toInt(), m.maxZoom.toInt())

/**
 * The shares the maps screen shows as offers: those received and still open (waiting for an
 * answer, or accepted and arriving). Installed ones show as maps; declined, cancelled and
 * failed ones are gone.
 */
fun mapShareOffers(shares: List<MapShare>): List<MapShareOffer> = shares
    .filter { it.direction == MapShareDirection.RECEIVING }
    .filter { it.state == MapShareState.OFFERED || it.state == MapShareState.TRANSFERRING }
    .map {
        MapShareOffer(
            shareId = it.shareId,
            mapName = it.name,
            senderName = it.deviceName.ifBlank { null },
            sizeBytes = it.size.toLong(),
            receivedBytes = it.bytes.toLong(),
            accepted = it.state == MapShareState.TRANSFERRING,
        )
    }
