// Which runtime permissions a feature needs on which Android version, and what to do about
// them: carry on, ask (with the explanation shown first), or send the user to the settings
// after a permanent "no". Permission names are plain strings: no android.* here.
package org.mapeo.app.logic

/** Android's permission names (the values of android.Manifest.permission). */
object Perm {
    const val FINE_LOCATION = "android.permission.ACCESS_FINE_LOCATION"
    const val COARSE_LOCATION = "android.permission.ACCESS_COARSE_LOCATION"
    const val CAMERA = "android.permission.CAMERA"
    const val NEARBY_WIFI_DEVICES = "android.permission.NEARBY_WIFI_DEVICES"
    const val POST_NOTIFICATIONS = "android.permission.POST_NOTIFICATIONS"
}

/** Android 13, where NEARBY_WIFI_DEVICES and POST_NOTIFICATIONS appeared. */
const val SDK_TIRAMISU = 33

/** What the app does that needs a permission. */
enum class Feature(
    /** Shown before asking, and with the button to the settings after a permanent "no". */
    val explanation: String,
    /** Whether the app goes on without it (with less). */
    val optional: Boolean,
) {
    LOCATION(
        "Mapeo uses GPS to place your observations on the map. It works without internet " +
            "and your location is never sent anywhere: it stays in the observation.",
        optional = false,
    ),
    CAMERA(
        "Mapeo uses the camera to attach photos to observations. Photos stay on this phone " +
            "and go only to the devices of your project when you exchange.",
        optional = false,
    ),
    NEARBY_DEVICES(
        "To exchange, Mapeo finds and connects to phones of your project on the same Wi-Fi " +
            "or hotspot. It does not use this to know where you are.",
        optional = false,
    ),
    NOTIFICATIONS(
        "While exchanging, Mapeo shows a notification so the exchange keeps going when the " +
            "screen is off. Without it the exchange still runs, but you will not see it.",
        optional = true,
    ),
}

/** The runtime permissions [feature] needs on Android [sdkInt]; empty: none. */
fun permissionsFor(feature: Feature, sdkInt: Int): List<String> = when (feature) {
    // Coarse with fine: Android 12+ lets the user grant only coarse, and both must be asked.
    Feature.LOCATION -> listOf(Perm.FINE_LOCATION, Perm.COARSE_LOCATION)
    Feature.CAMERA -> listOf(Perm.CAMERA)
    // Local-network discovery needs no runtime permission before 13; from 13 on, nearby
    // Wi-Fi devices (declared neverForLocation, so location is not needed for it).
    Feature.NEARBY_DEVICES -> if (sdkInt >= SDK_TIRAMISU) listOf(Perm.NEARBY_WIFI_DEVICES) else emptyList()
    Feature.NOTIFICATIONS -> if (sdkInt >= SDK_TIRAMISU) listOf(Perm.POST_NOTIFICATIONS) else emptyList()
}

/** What to do before using a feature. */
sealed interface PermissionDecision {
    /** Everything needed is granted (or nothing is needed). */
    data object Go : PermissionDecision

    /** Ask for [permissions]; show [explanation] first when [explainFirst]. */
    data class Ask(val permissions: List<String>, val explanation: String, val explainFirst: Boolean) : PermissionDecision

    /** The user said "don't ask again": only the app's settings page can grant it. */
    data class OpenSettings(val explanation: String) : PermissionDecision

    /** Optional and refused: go on without it. */
    data object GoWithout : PermissionDecision
}

/**
 * Decides for [feature]. [granted]: permissions held now. [askedBefore]: permissions the app
 * has asked for already (kept by the app). [showRationale]: Android's
 * shouldShowRequestPermissionRationale, which is false both before the first ask and after
 * "don't ask again" — [askedBefore] tells the two apart.
 */
fun decidePermission(
    feature: Feature,
    sdkInt: Int,
    granted: Set<String>,
    askedBefore: Set<String>,
    showRationale: (String) -> Boolean,
): PermissionDecision {
    val needed = permissionsFor(feature, sdkInt)
    val missing = if (feature == Feature.LOCATION) {
        // Fine location is what places an observation; coarse alone is not enough.
        if (Perm.FINE_LOCATION in granted) emptyList() else needed
    } else {
        needed.filter { it !in granted }
    }
    if (missing.isEmpty()) return PermissionDecision.Go
    val refusedForGood = missing.any { it in askedBefore && !showRationale(it) }
    return when {
        refusedForGood && feature.optional -> PermissionDecision.GoWithout
        refusedForGood -> PermissionDecision.OpenSettings(feature.explanation)
        else -> PermissionDecision.Ask(missing, feature.explanation, explainFirst = missing.any(showRationale) || !feature.optional)
    }
}
