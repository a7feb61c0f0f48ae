// One observation: its category, place, answers, notes and photos (the best file this phone
// has of each), with edit and delete.
package org.mapeo.app

import android.content.Intent
import android.graphics.Bitmap
import android.os.Bundle
import android.widget.ImageView
import android.widget.LinearLayout
import java.text.DateFormat
import java.util.Date
import org.mapeo.app.logic.NOTES_TAG
import org.mapeo.app.logic.answerOf
import org.mapeo.app.logic.formatCoordinates
import org.mapeo.app.logic.fullUrl
import org.mapeo.app.logic.photoFiles
import org.mapeo.app.logic.presetFields
import org.mapeo.app.logic.Answer
import uniffi.mapeo_ffi.AttachmentKind
import uniffi.mapeo_ffi.TagValue

/** Long side of a photo decoded for this screen. */
private const val PHOTO_PX = 1200

class ObservationDetailActivity : Screen() {
    private lateinit var box: LinearLayout

    override fun create(state: Bundle?) {
        box = column()
        show(box)
    }

    override fun onStart() {
        super.onStart()
        if (isFinishing) return
        val id = checkNotNull(intent.getStringExtra(EXTRA_OBSERVATION))
        work({
            val p = project()
            val doc = p.getObservation(id)
            val preset = doc.value.presetRef?.let { runCatching { p.getPreset(it.docId) }.getOrNull() }
            val answers = preset?.let { presetFields(p, it) }.orEmpty().mapNotNull { f ->
                val v = doc.value.tags[f.value.tagKey] ?: return@mapNotNull null
                val shown = when (val a = answerOf(f.value, v)) {
                    is Answer.Typed -> a.text
                    is Answer.Chosen -> a.options.sorted().joinToString(", ") { f.value.options[it].label }
                    null -> v.toString()
                }
                f.value.label to shown
            }
            val files = photoFiles(device, p)
            val photos = doc.value.attachments.filter { it.kind == AttachmentKind.PHOTO }
                .map { a -> fullUrl(a, files)?.let { loadBitmapFromUrl(it, PHOTO_PX) } }
            Details(doc.value.lat, doc.value.lon, doc.meta.createdAt, preset?.value?.name, answers,
                (doc.value.tags[NOTES_TAG] as? TagValue.Text)?.value, photos, doc.meta.forks.size)
        }) { r -> r.onSuccess { render(id, it) }.onFailure { toast(message(it)); finish() } }
    }

    private class Details(
        val lat: Double?, val lon: Double?, val createdAt: Long, val category: String?,
        val answers: List<Pair<String, String>>, val notes: String?, val photos: List<Bitmap?>, val forks: Int,
    )

    private fun render(id: String, d: Details) {
        box.removeAllViews()
        box.label(d.category ?: "Observation", 22f, bold = true)
        box.label(DateFormat.getDateTimeInstance().format(Date(d.createdAt)), 14f)
        box.label(if (d.lat != null && d.lon != null) formatCoordinates(d.lat, d.lon) else "No location")
        if (d.forks > 0) box.label("Edited on two devices at once: this is the latest edit. Saving an edit merges them.", 14f)
        for ((q, a) in d.answers) {
            box.label(q, bold = true)
            box.label(a)
        }
        d.notes?.let { box.label("Notes", bold = true); box.label(it) }
        for (photo in d.photos) {
            if (photo == null) {
                box.label("A photo not on this phone yet: it arrives with the next exchange.", 14f)
                continue
            }
            box.addView(ImageView(this).apply {
                setImageBitmap(photo)
                adjustViewBounds = true
                setPadding(0, dp(8), 0, dp(8))
            })
        }
        val actions = row().also { box.addView(it) }
        actions.button("Edit") {
            startActivity(
                Intent(this, ObservationEditActivity::class.java)
                    .putExtra(EXTRA_PROJECT, intent.getStringExtra(EXTRA_PROJECT)).putExtra(EXTRA_OBSERVATION, id),
            )
        }
        actions.button("Delete") {
            confirm("Delete this observation?", "It is deleted on every device of the project at the next exchange.", "Delete") {
                work({ project().deleteObservation(id) }) { r -> r.onSuccess { finish() }.onFailure { toast(message(it)) } }
            }
        }
    }
}
