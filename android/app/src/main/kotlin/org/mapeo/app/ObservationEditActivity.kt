// New observation, and editing one: category from the project's presets, a live GPS fix with
// its accuracy (LocationManager: GPS works with no network), photos from the camera, the
// category's questions, notes. Validation and the observation written come from the logic.
package org.mapeo.app

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.location.Location
import android.location.LocationListener
import android.location.LocationManager
import android.os.Build
import android.os.Bundle
import android.text.InputType
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.CheckBox
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.RadioButton
import android.widget.RadioGroup
import android.widget.Spinner
import android.widget.TextView
import java.io.File
import org.mapeo.app.logic.Answer
import org.mapeo.app.logic.Feature
import org.mapeo.app.logic.FixTracker
import org.mapeo.app.logic.LocationFix
import org.mapeo.app.logic.ObservationDraft
import org.mapeo.app.logic.describeFix
import org.mapeo.app.logic.editDraft
import org.mapeo.app.logic.formatCoordinates
import org.mapeo.app.logic.newDraft
import org.mapeo.app.logic.pointPresets
import org.mapeo.app.logic.presetFields
import org.mapeo.app.logic.save
import uniffi.mapeo_ffi.FieldDoc
import uniffi.mapeo_ffi.FieldType
import uniffi.mapeo_ffi.PresetDoc

/** How often GPS reports while the form is open. */
private const val GPS_INTERVAL_MS = 1_000L

private const val REQUEST_PHOTO = 2

class ObservationEditActivity : Screen() {
    private var draft = ObservationDraft()
    private var presets: List<PresetDoc> = emptyList()
    private val tracker = FixTracker()
    private val readers = mutableMapOf<String, () -> Answer?>()
    private val fieldViews = mutableMapOf<String, TextView>()
    private lateinit var gpsText: TextView
    private lateinit var fieldsBox: LinearLayout
    private lateinit var photosText: TextView
    private lateinit var notes: EditText
    private lateinit var errors: TextView
    private var pendingPhoto: File? = null
    private var locationOk = false

    /** All four methods: before Android 11 the others are abstract, and a lambda would crash there. */
    private val locationListener = object : LocationListener {
        override fun onLocationChanged(location: Location) = onLocation(location)
        override fun onProviderEnabled(provider: String) = showFix()
        override fun onProviderDisabled(provider: String) = showFix()

        @Deprecated("Called only before Android 10")
        override fun onStatusChanged(provider: String?, status: Int, extras: Bundle?) {}
    }

    override fun create(state: Bundle?) {
        val c = column()
        val editingId = intent.getStringExtra(EXTRA_OBSERVATION)
        c.label(if (editingId == null) "New observation" else "Edit observation", 22f, bold = true)
        c.label("Category", bold = true)
        val spinner = Spinner(this).also { c.addView(it) }
        gpsText = c.label("")
        c.button("Save without a location") {
            draft = draft.copy(withoutLocation = true)
            gpsText.text = "Will be saved without a location"
        }
        photosText = c.label("")
        c.button("Take a photo") { withPermission(Feature.CAMERA) { ok -> if (ok) takePhoto() } }
        fieldsBox = column().also { it.setPadding(0, 0, 0, 0); c.addView(it) }
        c.label("Notes", bold = true)
        notes = c.input("What did you see?", InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_MULTI_LINE or InputType.TYPE_TEXT_FLAG_CAP_SENTENCES)
        errors = c.label("").apply { setTextColor(0xFFB00020.toInt()) }
        c.button("Save") { saveDraft() }
        show(c)

        work({
            val p = project()
            val all = pointPresets(p)
            val d = if (editingId != null) editDraft(p, p.getObservation(editingId)) else newDraft(p, all.firstOrNull())
            Triple(all, d, d.preset?.let { presetFields(p, it) }.orEmpty())
        }) { r ->
            val (all, d, _) = r.getOrElse { toast(message(it)); finish(); return@work }
            presets = all
            draft = placedPoint()?.let { d.copy(placed = it) } ?: d
            notes.setText(d.notes)
            showPhotos()
            showFields(d.fields)
            spinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, all.map { it.value.name })
            all.indexOfFirst { it.meta.docId == d.preset?.meta?.docId }.takeIf { it >= 0 }?.let { spinner.setSelection(it) }
            spinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
                override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = choosePreset(all[position])
                override fun onNothingSelected(parent: AdapterView<*>?) {}
            }
            if (all.isEmpty()) errors.text = "This project has no categories yet: a coordinator adds them, and they arrive by exchange."
            showFix()
        }
        withPermission(Feature.LOCATION) { ok ->
            locationOk = ok
            if (ok) startGps() else gpsText.text = "Without location permission, observations are saved without a place."
        }
    }

    override fun onStart() {
        super.onStart()
        if (locationOk) startGps()
    }

    override fun onStop() {
        (getSystemService(LOCATION_SERVICE) as LocationManager).removeUpdates(locationListener)
        super.onStop()
    }

    private fun choosePreset(preset: PresetDoc) {
        if (preset.meta.docId == draft.preset?.meta?.docId) return
        collectAnswers()
        work({ presetFields(project(), preset) }) { r ->
            val fields = r.getOrElse { toast(message(it)); return@work }
            draft = draft.withPreset(preset, fields)
            showFields(fields)
        }
    }

    // ---- GPS -------------------------------------------------------------------------------

    private fun startGps() {
        if (checkSelfPermission(Manifest.permission.ACCESS_FINE_LOCATION) != PackageManager.PERMISSION_GRANTED) return
        val lm = getSystemService(LOCATION_SERVICE) as LocationManager
        for (provider in listOf(LocationManager.GPS_PROVIDER, LocationManager.NETWORK_PROVIDER)) {
            if (lm.allProviders.contains(provider)) {
                lm.requestLocationUpdates(provider, GPS_INTERVAL_MS, 0f, locationListener, mainLooper)
                lm.getLastKnownLocation(provider)?.let(::onLocation)
            }
        }
        showFix()
    }

    private fun onLocation(location: Location) {
        val mocked = if (Build.VERSION.SDK_INT >= 31) location.isMock else isMockBefore31(location)
        val fix = LocationFix(
            latitude = location.latitude,
            longitude = location.longitude,
            accuracyMeters = if (location.hasAccuracy()) location.accuracy.toDouble() else null,
            altitude = if (location.hasAltitude()) location.altitude else null,
            timeMs = location.time,
            provider = location.provider ?: "unknown",
            mocked = mocked,
        )
        if (tracker.offer(fix)) {
            draft = draft.copy(fix = tracker.best, withoutLocation = false)
        }
        showFix()
    }

    @Suppress("DEPRECATION")
    private fun isMockBefore31(location: Location): Boolean = location.isFromMockProvider

    /** The point placed on the map, when the map opened this screen with one. */
    private fun placedPoint(): Pair<Double, Double>? =
        if (intent.hasExtra(EXTRA_PLACED_LAT) && intent.hasExtra(EXTRA_PLACED_LON)) {
            intent.getDoubleExtra(EXTRA_PLACED_LAT, 0.0) to intent.getDoubleExtra(EXTRA_PLACED_LON, 0.0)
        } else {
            null
        }

    private fun showFix() {
        val lm = getSystemService(LOCATION_SERVICE) as LocationManager
        val fix = tracker.best
        draft.placed?.let { (lat, lon) ->
            gpsText.text = "Placed on the map at " + formatCoordinates(lat, lon)
            return
        }
        val where = fix?.let { formatCoordinates(it.latitude, it.longitude) + "\n" }
            ?: draft.editing?.value?.let { o -> if (o.lat != null && o.lon != null) "Saved at " + formatCoordinates(o.lat!!, o.lon!!) + "\n" else null }
            ?: ""
        gpsText.text = where + describeFix(fix, System.currentTimeMillis(), lm.isProviderEnabled(LocationManager.GPS_PROVIDER))
    }

    // ---- photos ----------------------------------------------------------------------------

    private fun takePhoto() {
        pendingPhoto = capturePhoto(REQUEST_PHOTO)
    }

    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        if (requestCode != REQUEST_PHOTO) return
        val file = pendingPhoto ?: return
        pendingPhoto = null
        if (resultCode != RESULT_OK || !file.isFile || file.length() == 0L) {
            file.delete()
            return
        }
        photosText.text = "Adding photo…"
        // The core stores the photo and makes its preview and thumbnail: off the main thread.
        work({ project().addAttachmentFromPath(file.path).also { file.delete() } }) { r ->
            r.onSuccess { draft = draft.copy(attachments = draft.attachments + it) }.onFailure { toast(message(it)) }
            showPhotos()
        }
    }

    private fun showPhotos() {
        photosText.text = when (val n = draft.attachments.size) {
            0 -> "No photos"
            1 -> "1 photo"
            else -> "$n photos"
        }
    }

    // ---- the category's questions ----------------------------------------------------------

    private fun showFields(fields: List<FieldDoc>) {
        fieldsBox.removeAllViews()
        readers.clear()
        fieldViews.clear()
        for (doc in fields) {
            val f = doc.value
            val title = fieldsBox.label(f.label, bold = true)
            fieldViews[f.tagKey] = title
            f.helperText?.let { fieldsBox.label(it, 14f) }
            val current = draft.answers[f.tagKey]
            when (f.fieldType) {
                FieldType.TEXT, FieldType.NUMBER, FieldType.DATE -> {
                    val type = when (f.fieldType) {
                        FieldType.NUMBER -> InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_FLAG_DECIMAL or InputType.TYPE_NUMBER_FLAG_SIGNED
                        FieldType.DATE -> InputType.TYPE_CLASS_DATETIME or InputType.TYPE_DATETIME_VARIATION_DATE
                        else -> InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_CAP_SENTENCES
                    }
                    val edit = fieldsBox.input(f.placeholder ?: if (f.fieldType == FieldType.DATE) "2025-03-31" else "", type)
                    (current as? Answer.Typed)?.let { edit.setText(it.text) }
                    readers[f.tagKey] = { edit.text.toString().let { if (it.isBlank()) null else Answer.Typed(it) } }
                }
                FieldType.SELECT_ONE -> {
                    val group = RadioGroup(this).also { fieldsBox.addView(it) }
                    val ids = f.options.mapIndexed { i, o ->
                        RadioButton(this).apply { text = o.label; id = View.generateViewId() }.also {
                            group.addView(it)
                            if ((current as? Answer.Chosen)?.options?.contains(i) == true) it.isChecked = true
                        }.id
                    }
                    readers[f.tagKey] = { ids.indexOf(group.checkedRadioButtonId).takeIf { it >= 0 }?.let { Answer.Chosen(setOf(it)) } }
                }
                FieldType.SELECT_MULTIPLE -> {
                    val boxes = f.options.mapIndexed { i, o ->
                        CheckBox(this).apply {
                            text = o.label
                            isChecked = (current as? Answer.Chosen)?.options?.contains(i) == true
                        }.also { fieldsBox.addView(it) }
                    }
                    readers[f.tagKey] = {
                        boxes.indices.filter { boxes[it].isChecked }.toSet().takeIf { it.isNotEmpty() }?.let { Answer.Chosen(it) }
                    }
                }
            }
        }
    }

    private fun collectAnswers() {
        draft = readers.entries.fold(draft) { d, (key, read) -> d.answer(key, read()) }.copy(notes = notes.text.toString())
    }

    private fun saveDraft() {
        collectAnswers()
        val problems = draft.validate()
        fieldViews.values.forEach { it.error = null }
        problems.forEach { p -> p.tagKey?.let { fieldViews[it]?.error = p.message } }
        if (problems.isNotEmpty()) {
            errors.text = problems.joinToString("\n") { it.message }
            return
        }
        val d = draft
        work({ save(project(), d).getOrThrow() }) { r ->
            r.onSuccess { finish() }.onFailure { errors.text = message(it) }
        }
    }
}
