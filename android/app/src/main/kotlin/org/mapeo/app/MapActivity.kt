// The project's home screen: its observations on the device's offline map (MapLibre Native),
// coloured by category with the category's icon, kept current as sync brings observations in;
// where the phone is, and a button to centre on it; tap a point to open it, long-press to
// place a new observation there; the list one tap away; tracks drawn, tap one for its
// distance and duration; and recording a patrol.
package org.mapeo.app

import android.Manifest
import android.app.AlertDialog
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.location.Location
import android.location.LocationListener
import android.location.LocationManager
import android.os.Bundle
import android.view.Gravity
import android.view.ViewGroup
import android.widget.FrameLayout
import java.net.HttpURLConnection
import java.net.URL
import kotlin.math.roundToInt
import org.maplibre.android.MapLibre
import org.maplibre.android.camera.CameraUpdateFactory
import org.maplibre.android.geometry.LatLng
import org.maplibre.android.geometry.LatLngBounds
import org.maplibre.android.maps.MapLibreMap
import org.maplibre.android.maps.MapView
import org.maplibre.android.maps.Style
import org.maplibre.android.style.expressions.Expression
import org.maplibre.android.style.layers.CircleLayer
import org.maplibre.android.style.layers.LineLayer
import org.maplibre.android.style.layers.PropertyFactory
import org.maplibre.android.style.layers.SymbolLayer
import org.maplibre.android.style.sources.GeoJsonSource
import org.mapeo.app.logic.CameraTarget
import org.mapeo.app.logic.CategoryIcon
import org.mapeo.app.logic.FALLBACK_STYLE_JSON
import org.mapeo.app.logic.Feature
import org.mapeo.app.logic.ICON_DENSITIES
import org.mapeo.app.logic.MapPointsFeed
import org.mapeo.app.logic.MapServer
import org.mapeo.app.logic.MapStyle
import org.mapeo.app.logic.PATROL_LAYER
import org.mapeo.app.logic.PATROL_SOURCE
import org.mapeo.app.logic.POINTS_CIRCLE_LAYER
import org.mapeo.app.logic.POINTS_ICON_LAYER
import org.mapeo.app.logic.POINTS_SOURCE
import org.mapeo.app.logic.POINT_RADIUS_DP
import org.mapeo.app.logic.PROP_COLOR
import org.mapeo.app.logic.PROP_DOC_ID
import org.mapeo.app.logic.PROP_ICON_ID
import org.mapeo.app.logic.PROP_OPACITY
import org.mapeo.app.logic.TRACKS_LAYER
import org.mapeo.app.logic.TRACKS_SOURCE
import org.mapeo.app.logic.TRACK_COLOR
import org.mapeo.app.logic.TRACK_WIDTH_DP
import org.mapeo.app.logic.cameraFor
import org.mapeo.app.logic.categoryIcons
import org.mapeo.app.logic.iconImageId
import org.mapeo.app.logic.lineGeoJson
import org.mapeo.app.logic.mapStyle
import org.mapeo.app.logic.places
import org.mapeo.app.logic.pointPresets
import org.mapeo.app.logic.trackDetail
import org.mapeo.app.logic.tracksGeoJson
import org.mapeo.app.logic.visibleBox
import uniffi.mapeo_ffi.MapPoints
import uniffi.mapeo_ffi.Query

/** The position layer: where the phone is, and how sure it is. */
private const val ME_SOURCE = "mapeo-me"
private const val ME_ACCURACY_LAYER = "mapeo-me-accuracy"
private const val ME_DOT_LAYER = "mapeo-me-dot"
private const val ME_COLOR = "#1A73E8"

/** Zoom when centring on the phone. */
private const val ME_ZOOM = 16.0

/** Padding around the observations when the camera fits them, dp. */
private const val FIT_PADDING_DP = 48

/** How often the line of the patrol being recorded is redrawn, ms. */
private const val PATROL_REDRAW_MS = 5_000L

/** Longest wait for an icon from the local server, ms. */
private const val ICON_TIMEOUT_MS = 5_000

class MapActivity : Screen() {
    private lateinit var mapView: MapView
    private lateinit var projectId: String
    private lateinit var patrolButton: android.widget.Button
    private var map: MapLibreMap? = null
    private var style: Style? = null
    private var feed: MapPointsFeed? = null
    private var me: Location? = null
    private var locationOk = false
    private var truncatedShown = false

    /** The local map/media server ([MapeoApp.mapServer]); without it, the fallback style. */
    private val server: MapServer? get() = app.mapServer

    private val gps = object : LocationListener {
        override fun onLocationChanged(location: Location) = showMe(location)
        override fun onProviderEnabled(provider: String) {}
        override fun onProviderDisabled(provider: String) {}

        @Deprecated("Called only before Android 10")
        override fun onStatusChanged(provider: String?, status: Int, extras: Bundle?) {}
    }

    private val patrolRedraw = object : Runnable {
        override fun run() {
            drawPatrol()
            MapeoApp.mainHandler.postDelayed(this, PATROL_REDRAW_MS)
        }
    }

    override fun create(state: Bundle?) {
        projectId = checkNotNull(intent.getStringExtra(EXTRA_PROJECT))
        MapLibre.getInstance(this)
        mapView = MapView(this)
        mapView.onCreate(state)
        val root = FrameLayout(this)
        root.addView(mapView, FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.MATCH_PARENT))

        val bar = row().apply { setPadding(dp(8), dp(8), dp(8), dp(8)); gravity = Gravity.CENTER_HORIZONTAL }
        bar.button("List") {
            startActivity(Intent(this, ObservationsActivity::class.java).putExtra(EXTRA_PROJECT, projectId))
        }
        bar.button("New") { newObservation(null) }
        bar.button("Me") { centreOnMe() }
        patrolButton = bar.button("Patrol") { togglePatrol() }
        root.addView(bar, FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.WRAP_CONTENT, Gravity.BOTTOM))
        val top = row().apply { setPadding(dp(8), dp(8), dp(8), dp(8)); gravity = Gravity.END }
        top.button("Maps") { startActivity(Intent(this, MapsActivity::class.java)) }
        top.button("Exchange") { startActivity(Intent(this, ExchangeActivity::class.java)) }
        top.button("Members") {
            startActivity(Intent(this, MembersActivity::class.java).putExtra(EXTRA_PROJECT, projectId))
        }
        root.addView(top, FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.WRAP_CONTENT, Gravity.TOP))
        setContentView(root)

        mapView.getMapAsync { m ->
            map = m
            // The style URL comes from the local server, which may be starting: off the main thread.
            work({ mapStyle(server) }) { r ->
                val builder = when (val s = r.getOrElse { MapStyle.Json(FALLBACK_STYLE_JSON) }) {
                    is MapStyle.Url -> Style.Builder().fromUri(s.url)
                    is MapStyle.Json -> Style.Builder().fromJson(s.json)
                }
                m.setStyle(builder) { loaded -> styleLoaded(m, loaded) }
            }
        }
        withPermission(Feature.LOCATION) { ok ->
            locationOk = ok
            if (ok) startGps()
        }
    }

    private fun styleLoaded(m: MapLibreMap, s: Style) {
        style = s
        s.addSource(GeoJsonSource(TRACKS_SOURCE, tracksGeoJson(emptyList())))
        s.addLayer(
            LineLayer(TRACKS_LAYER, TRACKS_SOURCE).withProperties(
                PropertyFactory.lineColor(TRACK_COLOR),
                PropertyFactory.lineWidth(TRACK_WIDTH_DP),
                PropertyFactory.lineOpacity(0.8f),
            ),
        )
        s.addSource(GeoJsonSource(PATROL_SOURCE, lineGeoJson(emptyList())))
        s.addLayer(
            LineLayer(PATROL_LAYER, PATROL_SOURCE).withProperties(
                PropertyFactory.lineColor(ME_COLOR),
                PropertyFactory.lineWidth(TRACK_WIDTH_DP + 1),
                PropertyFactory.lineDasharray(arrayOf(2f, 1f)),
            ),
        )
        s.addSource(GeoJsonSource(POINTS_SOURCE, "{\"type\":\"FeatureCollection\",\"features\":[]}"))
        s.addLayer(
            CircleLayer(POINTS_CIRCLE_LAYER, POINTS_SOURCE).withProperties(
                PropertyFactory.circleColor(Expression.toColor(Expression.get(PROP_COLOR))),
                PropertyFactory.circleOpacity(Expression.toNumber(Expression.get(PROP_OPACITY))),
                PropertyFactory.circleRadius(POINT_RADIUS_DP),
                PropertyFactory.circleStrokeColor("#FFFFFF"),
                PropertyFactory.circleStrokeWidth(2f),
            ),
        )
        s.addLayer(
            SymbolLayer(POINTS_ICON_LAYER, POINTS_SOURCE)
                .withFilter(Expression.toBool(Expression.get(PROP_ICON_ID)))
                .withProperties(
                    PropertyFactory.iconImage(Expression.concat(Expression.literal(iconImageId("")), Expression.get(PROP_ICON_ID))),
                    PropertyFactory.iconSize(0.5f),
                    PropertyFactory.iconAllowOverlap(true),
                    PropertyFactory.iconIgnorePlacement(true),
                ),
        )
        s.addSource(GeoJsonSource(ME_SOURCE, "{\"type\":\"FeatureCollection\",\"features\":[]}"))
        s.addLayer(
            CircleLayer(ME_ACCURACY_LAYER, ME_SOURCE).withProperties(
                PropertyFactory.circleColor(ME_COLOR),
                PropertyFactory.circleOpacity(0.15f),
                PropertyFactory.circleRadius(Expression.toNumber(Expression.get("radiusPx"))),
            ),
        )
        s.addLayer(
            CircleLayer(ME_DOT_LAYER, ME_SOURCE).withProperties(
                PropertyFactory.circleColor(ME_COLOR),
                PropertyFactory.circleRadius(7f),
                PropertyFactory.circleStrokeColor("#FFFFFF"),
                PropertyFactory.circleStrokeWidth(2f),
            ),
        )

        m.addOnCameraIdleListener { askForVisiblePoints(m); me?.let(::showMe) }
        m.addOnMapClickListener { at -> tapped(m, at) }
        m.addOnMapLongClickListener { at ->
            newObservation(at)
            true
        }
        loadProject(m, s)
    }

    /** The points, tracks and icons of the project, then the camera on its observations. */
    private fun loadProject(m: MapLibreMap, s: Style) {
        work({
            val p = project()
            val icons = categoryIcons(projectId, pointPresets(p), server, iconDensity()).mapNotNull { icon -> fetchIcon(icon)?.let { icon to it } }
            Triple(icons, tracksGeoJson(p.listTracks(Query())), cameraFor(places(p.listObservations(Query()))))
        }) { r ->
            val (icons, tracks, camera) = r.getOrElse { toast(message(it)); return@work }
            icons.forEach { (icon, bitmap) -> s.addImage(icon.imageId, bitmap) }
            (s.getSource(TRACKS_SOURCE) as? GeoJsonSource)?.setGeoJson(tracks)
            when (camera) {
                is CameraTarget.Box -> m.moveCamera(
                    CameraUpdateFactory.newLatLngBounds(
                        LatLngBounds.from(camera.box.north, camera.box.east, camera.box.south, camera.box.west),
                        dp(FIT_PADDING_DP),
                    ),
                )
                is CameraTarget.Point -> m.moveCamera(CameraUpdateFactory.newLatLngZoom(LatLng(camera.latitude, camera.longitude), camera.zoom))
                CameraTarget.Nothing -> me?.let { m.moveCamera(CameraUpdateFactory.newLatLngZoom(LatLng(it.latitude, it.longitude), ME_ZOOM)) }
            }
            startFeed(m)
        }
    }

    /** Keeps the points current: after the camera moves, and whenever sync brings changes. */
    private fun startFeed(m: MapLibreMap) {
        feed?.close()
        val f = MapPointsFeed(project(), onPoints = { points -> MapeoApp.mainHandler.post { showPoints(points) } })
        feed = f
        askForVisiblePoints(m)
    }

    private fun askForVisiblePoints(m: MapLibreMap) {
        val f = feed ?: return
        val b = m.projection.visibleRegion.latLngBounds
        val box = visibleBox(b.latitudeSouth, b.longitudeWest, b.latitudeNorth, b.longitudeEast)
        work({ f.show(box) }) { r -> r.exceptionOrNull()?.let { toast(message(it)) } }
    }

    private fun showPoints(points: MapPoints) {
        (style?.getSource(POINTS_SOURCE) as? GeoJsonSource)?.setGeoJson(points.geojson)
        // Said once when the view starts being cut, not at every refresh.
        if (points.truncated && !truncatedShown) toast("Zoom in to see every observation here")
        truncatedShown = points.truncated
    }

    private fun tapped(m: MapLibreMap, at: LatLng): Boolean {
        val screen = m.projection.toScreenLocation(at)
        val point = m.queryRenderedFeatures(screen, POINTS_CIRCLE_LAYER, POINTS_ICON_LAYER).firstOrNull()
        point?.getStringProperty(PROP_DOC_ID)?.let { id ->
            startActivity(
                Intent(this, ObservationDetailActivity::class.java).putExtra(EXTRA_PROJECT, projectId).putExtra(EXTRA_OBSERVATION, id),
            )
            return true
        }
        val track = m.queryRenderedFeatures(screen, TRACKS_LAYER).firstOrNull()?.getStringProperty(PROP_DOC_ID) ?: return false
        showTrack(track)
        return true
    }

    /** A track's detail: distance, duration, and its observations to open. */
    private fun showTrack(docId: String) {
        work({
            val p = project()
            val detail = trackDetail(p.getTrack(docId))
            detail to detail.observationIds.mapNotNull { id -> runCatching { p.getObservation(id) }.getOrNull() }
        }) { r ->
            val (detail, observations) = r.getOrElse { toast(message(it)); return@work }
            val names = observations.map { o -> o.value.tags["notes"]?.let { (it as? uniffi.mapeo_ffi.TagValue.Text)?.value } ?: "Observation" }
            AlertDialog.Builder(this)
                .setTitle(detail.title)
                .setMessage(
                    listOfNotNull("${detail.distance} · ${detail.duration}", detail.notes, "${observations.size} observations").joinToString("\n"),
                )
                .setItems(names.toTypedArray()) { _, i ->
                    startActivity(
                        Intent(this, ObservationDetailActivity::class.java)
                            .putExtra(EXTRA_PROJECT, projectId).putExtra(EXTRA_OBSERVATION, observations[i].meta.docId),
                    )
                }
                .setPositiveButton("Close", null)
                .show()
        }
    }

    private fun newObservation(placed: LatLng?) {
        val i = Intent(this, ObservationEditActivity::class.java).putExtra(EXTRA_PROJECT, projectId)
        if (placed != null) i.putExtra(EXTRA_PLACED_LAT, placed.latitude).putExtra(EXTRA_PLACED_LON, placed.longitude)
        startActivity(i)
    }

    // ---- where the phone is ----------------------------------------------------------------

    private fun startGps() {
        if (checkSelfPermission(Manifest.permission.ACCESS_FINE_LOCATION) != PackageManager.PERMISSION_GRANTED) return
        val lm = getSystemService(LOCATION_SERVICE) as LocationManager
        for (provider in listOf(LocationManager.GPS_PROVIDER, LocationManager.NETWORK_PROVIDER)) {
            if (lm.allProviders.contains(provider)) {
                lm.requestLocationUpdates(provider, 2_000L, 0f, gps, mainLooper)
                lm.getLastKnownLocation(provider)?.let(::showMe)
            }
        }
    }

    private fun showMe(location: Location) {
        if (me == null || location.accuracy <= (me?.accuracy ?: Float.MAX_VALUE) || location.time - (me?.time ?: 0) > 10_000) me = location
        val here = me ?: return
        val m = map ?: return
        // The accuracy circle in screen pixels at this zoom (MapLibre circles are sized in px).
        val metresPerPx = m.projection.getMetersPerPixelAtLatitude(here.latitude)
        val radius = if (here.hasAccuracy() && metresPerPx > 0) here.accuracy / metresPerPx else 0.0
        val json = "{\"type\":\"Feature\",\"properties\":{\"radiusPx\":$radius}," +
            "\"geometry\":{\"type\":\"Point\",\"coordinates\":[${here.longitude},${here.latitude}]}}"
        (style?.getSource(ME_SOURCE) as? GeoJsonSource)?.setGeoJson(json)
    }

    private fun centreOnMe() {
        val here = me
        if (!locationOk) {
            withPermission(Feature.LOCATION) { ok -> locationOk = ok; if (ok) startGps() }
            return
        }
        if (here == null) {
            toast("Looking for GPS…")
            return
        }
        map?.animateCamera(CameraUpdateFactory.newLatLngZoom(LatLng(here.latitude, here.longitude), ME_ZOOM))
    }

    // ---- patrol ----------------------------------------------------------------------------

    private fun togglePatrol() {
        if (PatrolService.running) {
            AlertDialog.Builder(this).setTitle("Stop the patrol?")
                .setPositiveButton("Save") { _, _ -> PatrolService.save(this); showPatrolState(false) }
                .setNeutralButton("Discard") { _, _ -> PatrolService.discard(this); showPatrolState(false) }
                .setNegativeButton("Keep recording", null)
                .show()
            return
        }
        withPermission(Feature.LOCATION) { ok ->
            if (!ok) return@withPermission
            withPermission(Feature.NOTIFICATIONS) {
                PatrolService.start(this, projectId)
                showPatrolState(true)
            }
        }
    }

    private fun showPatrolState(recording: Boolean) {
        patrolButton.text = if (recording) "Stop patrol" else "Patrol"
        MapeoApp.mainHandler.removeCallbacks(patrolRedraw)
        if (recording) MapeoApp.mainHandler.post(patrolRedraw) else drawPatrol()
    }

    private fun drawPatrol() {
        val session = PatrolService.current
        work({ lineGeoJson(session?.line().orEmpty()) }) { r ->
            r.getOrNull()?.let { (style?.getSource(PATROL_SOURCE) as? GeoJsonSource)?.setGeoJson(it) }
        }
    }

    /** The screen's density as the categories' PNGs come (1x–3x). */
    private fun iconDensity(): Int = resources.displayMetrics.density.roundToInt().coerceIn(ICON_DENSITIES)

    /** A category icon from the local server (off the main thread), or null. */
    private fun fetchIcon(icon: CategoryIcon): Bitmap? = runCatching {
        val c = URL(icon.url).openConnection() as HttpURLConnection
        c.connectTimeout = ICON_TIMEOUT_MS
        c.readTimeout = ICON_TIMEOUT_MS
        try {
            c.inputStream.use { BitmapFactory.decodeStream(it) }
        } finally {
            c.disconnect()
        }
    }.getOrNull()

    // ---- MapView lifecycle -----------------------------------------------------------------

    override fun onStart() {
        super.onStart()
        if (!::mapView.isInitialized) return
        mapView.onStart()
        if (locationOk) startGps()
        showPatrolState(PatrolService.running)
        // Back from an edit or the list: observations and tracks may have changed.
        val m = map
        val s = style
        if (m != null && s != null) {
            work({ tracksGeoJson(project().listTracks(Query())) }) { r ->
                r.getOrNull()?.let { (s.getSource(TRACKS_SOURCE) as? GeoJsonSource)?.setGeoJson(it) }
            }
        }
    }

    override fun onResume() {
        super.onResume()
        if (::mapView.isInitialized) mapView.onResume()
    }

    override fun onPause() {
        if (::mapView.isInitialized) mapView.onPause()
        super.onPause()
    }

    override fun onStop() {
        (getSystemService(LOCATION_SERVICE) as LocationManager).removeUpdates(gps)
        MapeoApp.mainHandler.removeCallbacks(patrolRedraw)
        if (::mapView.isInitialized) mapView.onStop()
        super.onStop()
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        if (::mapView.isInitialized) mapView.onSaveInstanceState(outState)
    }

    override fun onLowMemory() {
        super.onLowMemory()
        if (::mapView.isInitialized) mapView.onLowMemory()
    }

    override fun onDestroy() {
        feed?.close()
        feed = null
        if (::mapView.isInitialized) mapView.onDestroy()
        super.onDestroy()
    }
}
