// The new/edit observation form: categories (presets) to choose from, the questions (fields)
// a category asks, what the user answered, its validation, and the observation it becomes.
// The core validates again on write; this gives the user a message per question first.
package org.mapeo.app.logic

import java.time.LocalDate
import java.time.format.DateTimeParseException
import uniffi.mapeo_ffi.Attachment
import uniffi.mapeo_ffi.DocRef
import uniffi.mapeo_ffi.FieldDoc
import uniffi.mapeo_ffi.FieldType
import uniffi.mapeo_ffi.Geometry
import uniffi.mapeo_ffi.Observation
import uniffi.mapeo_ffi.ObservationDoc
import uniffi.mapeo_ffi.PresetDoc
import uniffi.mapeo_ffi.Project
import uniffi.mapeo_ffi.Query
import uniffi.mapeo_ffi.TagPrimitive
import uniffi.mapeo_ffi.TagValue

/** The tag notes are kept in. */
const val NOTES_TAG = "notes"

/** Longest free text answer or note accepted (the core's own limit is larger). */
const val MAX_ANSWER_CHARS = 10_000

/** Categories a point observation can have, by name. */
fun pointPresets(project: Project): List<PresetDoc> =
    project.listPresets(Query()).filter { Geometry.POINT in it.value.geometry }
        .sortedWith(compareBy({ it.value.name.lowercase() }, { it.meta.docId }))

/** The questions [preset] asks, in its order; fields not (yet) on this device are skipped. */
fun presetFields(project: Project, preset: PresetDoc): List<FieldDoc> =
    preset.value.fieldRefs.mapNotNull { ref ->
        runCatching { project.getField(ref.docId) }.getOrNull()
    }

/** One answer as the form holds it. */
sealed interface Answer {
    /** Typed text (text, number and date fields). */
    data class Typed(val text: String) : Answer

    /** Indexes of the options chosen (select fields). */
    data class Chosen(val options: Set<Int>) : Answer
}

/** A problem with one question ([tagKey]) or with the whole form (null), for the user. */
data class FormError(val tagKey: String?, val message: String)

/** The form being filled in. Immutable: each edit makes a new draft. */
data class ObservationDraft(
    val preset: PresetDoc? = null,
    val fields: List<FieldDoc> = emptyList(),
    val answers: Map<String, Answer> = emptyMap(),
    val notes: String = "",
    val fix: LocationFix? = null,
    /** A point the user placed on the map (latitude, longitude): wins over [fix]. */
    val placed: Pair<Double, Double>? = null,
    /** Set when the user saves without a location on purpose. */
    val withoutLocation: Boolean = false,
    val attachments: List<Attachment> = emptyList(),
    /** The observation being edited, if any. */
    val editing: ObservationDoc? = null,
    /** Tags the edited observation's category added: removed if the category changes. */
    val previousPresetTags: Map<String, TagValue> = emptyMap(),
    /** The tags the edited observation's category asked: cleared unless answered now. */
    val previousFieldKeys: Set<String> = emptySet(),
) {
    /** The form with another category; answers to questions it no longer asks are dropped. */
    fun withPreset(preset: PresetDoc?, fields: List<FieldDoc>): ObservationDraft {
        val keys = fields.map { it.value.tagKey }.toSet()
        return copy(preset = preset, fields = fields, answers = answers.filterKeys { it in keys })
    }

    fun answer(tagKey: String, answer: Answer?): ObservationDraft =
        copy(answers = if (answer == null) answers - tagKey else answers + (tagKey to answer))

    /** Every problem; empty when the draft can be saved. */
    fun validate(): List<FormError> {
        val errors = mutableListOf<FormError>()
        if (preset == null) errors += FormError(null, "Choose a category")
        if (fix == null && placed == null && !withoutLocation && editing?.value?.lat == null) {
            errors += FormError(null, "Waiting for a GPS fix (or save without a location)")
        }
        if (notes.length > MAX_ANSWER_CHARS) errors += FormError(NOTES_TAG, "Notes are too long")
        for (field in fields) {
            val f = field.value
            val a = answers[f.tagKey] ?: continue
            tagValue(f, a).exceptionOrNull()?.let { errors += FormError(f.tagKey, it.message ?: "Invalid answer") }
        }
        return errors
    }

    /** The observation to write; fails with the first problem if [validate] finds any. */
    fun toObservation(): Result<Observation> {
        validate().firstOrNull()?.let { return Result.failure(IllegalArgumentException(it.message)) }
        val p = preset!!
        val tags = LinkedHashMap<String, TagValue>()
        val old = editing?.value
        if (old != null) {
            tags.putAll(old.tags)
            // The category changed: the old one's own tags go.
            if (old.presetRef?.docId != p.meta.docId) {
                previousPresetTags.keys.forEach(tags::remove)
            }
            // Questions answered before but cleared now, or no longer asked.
            (previousFieldKeys + fields.map { it.value.tagKey }).forEach { if (it !in answers) tags.remove(it) }
        }
        tags.putAll(p.value.tags)
        tags.putAll(p.value.addTags)
        for (field in fields) {
            val a = answers[field.value.tagKey] ?: continue
            val v = tagValue(field.value, a).getOrThrow() ?: continue
            tags[field.value.tagKey] = v
        }
        if (notes.isBlank()) tags.remove(NOTES_TAG) else tags[NOTES_TAG] = TagValue.Text(notes.trim())
        // A placed point wins, then a new fix; an edit keeps its place unless saved without one.
        val keepOld = fix == null && placed == null && !withoutLocation
        return Result.success(
            Observation(
                lat = placed?.first ?: fix?.latitude ?: if (keepOld) old?.lat else null,
                lon = placed?.second ?: fix?.longitude ?: if (keepOld) old?.lon else null,
                attachments = attachments,
                tags = tags,
                metadata = placed?.let { placedMetadata(fix) } ?: fix?.toMetadata() ?: if (keepOld) old?.metadata else null,
                presetRef = DocRef(p.meta.docId, p.meta.versionId),
            ),
        )
    }
}

/**
 * The metadata of an observation placed by hand: `manualLocation`, with the phone's own fix
 * (if it had one) kept as the position reading, so a reviewer sees where the phone was.
 */
fun placedMetadata(fix: LocationFix?): uniffi.mapeo_ffi.ObservationMetadata =
    fix?.toMetadata()?.copy(manualLocation = true)
        ?: uniffi.mapeo_ffi.ObservationMetadata(manualLocation = true, position = null, positionProvider = null)

/** A blank form with a category chosen. */
fun newDraft(project: Project, preset: PresetDoc?): ObservationDraft =
    ObservationDraft().withPreset(preset, preset?.let { presetFields(project, it) }.orEmpty())

/** The form for editing [doc], its answers read back from its tags. */
fun editDraft(project: Project, doc: ObservationDoc): ObservationDraft {
    val preset = doc.value.presetRef?.let { runCatching { project.getPreset(it.docId) }.getOrNull() }
    val fields = preset?.let { presetFields(project, it) }.orEmpty()
    val answers = fields.mapNotNull { f ->
        doc.value.tags[f.value.tagKey]?.let { v -> answerOf(f.value, v)?.let { f.value.tagKey to it } }
    }.toMap()
    val notes = (doc.value.tags[NOTES_TAG] as? TagValue.Text)?.value.orEmpty()
    return ObservationDraft(
        preset = preset,
        fields = fields,
        answers = answers,
        notes = notes,
        attachments = doc.value.attachments,
        editing = doc,
        previousPresetTags = preset?.let { it.value.tags + it.value.addTags }.orEmpty(),
        previousFieldKeys = fields.map { it.value.tagKey }.toSet(),
    )
}

/** Writes the draft: a new observation, or a new version of the one edited. */
fun save(project: Project, draft: ObservationDraft): Result<ObservationDoc> = draft.toObservation().mapCatching { obs ->
    val editing = draft.editing
    if (editing == null) {
        project.createObservation(obs)
    } else {
        // Links: the version edited and any forks it had, so the edit merges them.
        project.updateObservation(listOf(editing.meta.versionId) + editing.meta.forks, obs)
    }
}

/** The tag value an answer stands for; null for an empty answer (nothing stored). */
fun tagValue(field: uniffi.mapeo_ffi.Field, answer: Answer): Result<TagValue?> = runCatching {
    when (field.fieldType) {
        FieldType.TEXT -> {
            val t = (answer as? Answer.Typed)?.text?.trim() ?: throw IllegalArgumentException("Type an answer")
            require(t.length <= MAX_ANSWER_CHARS) { "This answer is too long" }
            if (t.isEmpty()) null else TagValue.Text(t)
        }
        FieldType.NUMBER -> {
            val t = (answer as? Answer.Typed)?.text?.trim() ?: throw IllegalArgumentException("Type a number")
            if (t.isEmpty()) {
                null
            } else {
                // Phones in many languages type a decimal comma.
                val n = t.replace(',', '.').toDoubleOrNull()
                require(n != null && n.isFinite()) { "“$t” is not a number" }
                TagValue.Number(n)
            }
        }
        FieldType.DATE -> {
            val t = (answer as? Answer.Typed)?.text?.trim() ?: throw IllegalArgumentException("Type a date")
            if (t.isEmpty()) {
                null
            } else {
                try {
                    LocalDate.parse(t)
                } catch (e: DateTimeParseException) {
                    throw IllegalArgumentException("Write the date as year-month-day, e.g. 2025-03-31")
                }
                TagValue.Text(t)
            }
        }
        FieldType.SELECT_ONE -> {
            val chosen = (answer as? Answer.Chosen)?.options ?: throw IllegalArgumentException("Choose an option")
            require(chosen.size <= 1) { "Choose only one option" }
            chosen.firstOrNull()?.let { i ->
                require(i in field.options.indices) { "Choose one of the options shown" }
                primitiveToTag(field.options[i].value)
            }
        }
        FieldType.SELECT_MULTIPLE -> {
            val chosen = (answer as? Answer.Chosen)?.options ?: throw IllegalArgumentException("Choose options")
            require(chosen.all { it in field.options.indices }) { "Choose among the options shown" }
            if (chosen.isEmpty()) null else TagValue.ListOf(chosen.sorted().map { field.options[it].value })
        }
    }
}

/** The answer a stored tag value reads back as, or null when it fits no option. */
fun answerOf(field: uniffi.mapeo_ffi.Field, value: TagValue): Answer? = when (field.fieldType) {
    FieldType.TEXT, FieldType.DATE -> (value as? TagValue.Text)?.let { Answer.Typed(it.value) }
    FieldType.NUMBER -> (value as? TagValue.Number)?.let { Answer.Typed(formatNumber(it.value)) }
    FieldType.SELECT_ONE -> field.options.indexOfFirst { primitiveToTag(it.value) == value }
        .takeIf { it >= 0 }?.let { Answer.Chosen(setOf(it)) }
    FieldType.SELECT_MULTIPLE -> (value as? TagValue.ListOf)?.items?.mapNotNull { item ->
        field.options.indexOfFirst { it.value == item }.takeIf { it >= 0 }
    }?.let { Answer.Chosen(it.toSet()) }
}

/** A number as typed back: no ".0" on whole numbers. */
fun formatNumber(n: Double): String =
    if (n == Math.floor(n) && kotlin.math.abs(n) < 1e15) n.toLong().toString() else n.toString()

private fun primitiveToTag(p: TagPrimitive): TagValue = when (p) {
    is TagPrimitive.Null -> TagValue.Null
    is TagPrimitive.Bool -> TagValue.Bool(p.value)
    is TagPrimitive.Number -> TagValue.Number(p.value)
    is TagPrimitive.Text -> TagValue.Text(p.value)
}
