// A project's observations, newest first, each with the thumbnail of its first photo; the
// way to a new observation, the exchange, members and settings.
package org.mapeo.app

import android.content.Intent
import android.graphics.Bitmap
import android.os.Bundle
import android.view.Gravity
import android.widget.ImageView
import android.widget.LinearLayout
import org.mapeo.app.logic.ObservationRow
import org.mapeo.app.logic.observationRows
import org.mapeo.app.logic.photoFiles
import org.mapeo.app.logic.pointPresets
import uniffi.mapeo_ffi.Query

/** Long side of a list thumbnail, in pixels decoded. */
private const val THUMB_PX = 160

/** Most observations shown at once (the rest by searching, later). */
private const val LIST_LIMIT = 200u

class ObservationsActivity : Screen() {
    private lateinit var list: LinearLayout
    private lateinit var projectId: String

    override fun create(state: Bundle?) {
        projectId = checkNotNull(intent.getStringExtra(EXTRA_PROJECT))
        val c = column()
        val title = c.label("", 22f, bold = true)
        val actions = row().also { c.addView(it) }
        actions.button("New") {
            startActivity(Intent(this, ObservationEditActivity::class.java).putExtra(EXTRA_PROJECT, projectId))
        }
        actions.button("Exchange") { startActivity(Intent(this, ExchangeActivity::class.java)) }
        actions.button("Members") {
            startActivity(Intent(this, MembersActivity::class.java).putExtra(EXTRA_PROJECT, projectId))
        }
        list = column().also { it.setPadding(0, dp(8), 0, 0); c.addView(it) }
        show(c)
        work({ project().settings().name }) { r -> title.text = r.getOrNull() ?: "Project" }
    }

    override fun onStart() {
        super.onStart()
        if (isFinishing) return
        work({
            val p = project()
            val rows = observationRows(p.listObservations(Query(limit = LIST_LIMIT)), pointPresets(p), photoFiles(device, p))
            rows.map { it to it.thumbnailUrl?.let { url -> loadBitmapFromUrl(url, THUMB_PX) } }
        }) { r -> r.onSuccess(::showRows).onFailure { toast(message(it)) } }
    }

    private fun showRows(rows: List<Pair<ObservationRow, Bitmap?>>) {
        list.removeAllViews()
        if (rows.isEmpty()) list.label("No observations yet. Tap New to record one.")
        for ((item, thumb) in rows) {
            val line = row().apply {
                gravity = Gravity.CENTER_VERTICAL
                setPadding(0, dp(6), 0, dp(6))
                setOnClickListener {
                    startActivity(
                        Intent(this@ObservationsActivity, ObservationDetailActivity::class.java)
                            .putExtra(EXTRA_PROJECT, projectId).putExtra(EXTRA_OBSERVATION, item.docId),
                    )
                }
            }
            val image = ImageView(this).apply {
                layoutParams = LinearLayout.LayoutParams(dp(56), dp(56)).apply { marginEnd = dp(12) }
                scaleType = ImageView.ScaleType.CENTER_CROP
                if (thumb != null) setImageBitmap(thumb) else setImageResource(android.R.drawable.ic_menu_mapmode)
            }
            line.addView(image)
            val texts = column().apply { setPadding(0, 0, 0, 0) }
            texts.label(item.title + if (item.photoCount > 1) " · ${item.photoCount} photos" else "", bold = true)
            texts.label(item.subtitle, 14f)
            line.addView(texts)
            list.addView(line)
        }
    }
}
