// The app's own PIN lock (opt-in): the PIN kept as a salted PBKDF2 hash, asked at start and
// after some minutes in the background, and the optional wipe after N wrong attempts. The
// attempt counter is written before each check, so killing the app during a check never
// gives a free attempt. Storage is behind [LockStore] (SharedPreferences on the phone).
package org.mapeo.app.logic

import java.security.MessageDigest
import java.security.SecureRandom
import java.util.Base64
import javax.crypto.SecretKeyFactory
import javax.crypto.spec.PBEKeySpec

/** PBKDF2-HMAC-SHA256 rounds for a new PIN: slow on purpose (a PIN has few possibilities). */
const val PIN_HASH_ITERATIONS = 120_000

/** Shortest and longest PIN, in digits. */
const val PIN_MIN_DIGITS = 4
const val PIN_MAX_DIGITS = 12

/** The wrong attempts the user may choose to wipe after. */
val WIPE_AFTER_CHOICES: List<Int> = listOf(5, 10, 15, 20)

/** Minutes in the background before the PIN is asked again: the choices, and the default. */
val LOCK_AFTER_MINUTES_CHOICES: List<Int> = listOf(0, 1, 5, 15)
const val DEFAULT_LOCK_AFTER_MINUTES = 5

private const val SALT_BYTES = 16
private const val HASH_BITS = 256
private const val MS_PER_MINUTE = 60_000L

/** Durable key-value storage: [put] returns once the changes are on disk (null removes). */
interface LockStore {
    fun get(key: String): String?
    fun put(changes: Map<String, String?>)
}

/** A [LockStore] in memory: for tests (a "restart" is a new [PinLock] on the same one). */
class MemoryLockStore : LockStore {
    private val values = mutableMapOf<String, String>()

    @Synchronized
    override fun get(key: String): String? = values[key]

    @Synchronized
    override fun put(changes: Map<String, String?>) {
        changes.forEach { (k, v) -> if (v == null) values.remove(k) else values[k] = v }
    }
}

/** Turns a PIN and salt into its stored hash. */
fun interface PinHasher {
    fun hash(pin: String, salt: ByteArray, iterations: Int): ByteArray
}

/** PBKDF2WithHmacSHA256 from the platform (Android 8+ and every JVM). */
val Pbkdf2Hasher = PinHasher { pin, salt, iterations ->
    val spec = PBEKeySpec(pin.toCharArray(), salt, iterations, HASH_BITS)
    try {
        SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).encoded
    } finally {
        spec.clearPassword()
    }
}

/** Why a PIN or a setting was refused, in words for the screen. */
class PinProblem(message: String) : Exception(message)

/** The answer to a typed PIN. */
sealed interface UnlockResult {
    /** Right: unlocked, the counter back to 0. */
    data object Unlocked : UnlockResult

    /** Wrong; [attemptsLeft] before the wipe, or null when no wipe is set. */
    data class Wrong(val attemptsLeft: Int?) : UnlockResult

    /** The wrong attempts reached the limit: the wipe was started. */
    data object Wiping : UnlockResult

    /** The attempt could not be counted (storage failed), so it was not checked. */
    data object NotCounted : UnlockResult
}

/** The PIN checked for a new PIN: digits only, [PIN_MIN_DIGITS]..[PIN_MAX_DIGITS] of them. */
fun checkNewPin(pin: String): Result<String> = when {
    pin.length < PIN_MIN_DIGITS || pin.length > PIN_MAX_DIGITS ->
        Result.failure(PinProblem("Use $PIN_MIN_DIGITS to $PIN_MAX_DIGITS digits"))
    !pin.all { it in '0'..'9' } -> Result.failure(PinProblem("Use digits only"))
    else -> Result.success(pin)
}

/**
 * The lock. [onWipe] is called (once per instance, on the calling thread) when the wrong
 * attempts reach the chosen limit; the app runs its wipe there and then calls [clear].
 */
class PinLock(
    private val store: LockStore,
    private val onWipe: () -> Unit,
    private val hasher: PinHasher = Pbkdf2Hasher,
    private val iterations: Int = PIN_HASH_ITERATIONS,
    private val random: SecureRandom = SecureRandom(),
) {
    private var wipeStarted = false
    private var backgroundedAtMs: Long? = null

    /** Whether the PIN must be typed before the app shows anything: true at start when enabled. */
    @Volatile
    var locked: Boolean = store.get(HASH) != null
        private set

    /** Whether a PIN is set. */
    val enabled: Boolean get() = store.get(HASH) != null

    /** Wrong attempts after which the app wipes, or null (never). */
    val wipeAfter: Int? get() = store.get(WIPE_AFTER)?.toIntOrNull()

    /** Wrong attempts since the last right one. */
    val failures: Int get() = store.get(FAILURES)?.toIntOrNull() ?: 0

    /** Minutes in the background before the PIN is asked again. */
    val lockAfterMinutes: Int get() = store.get(LOCK_AFTER)?.toIntOrNull() ?: DEFAULT_LOCK_AFTER_MINUTES

    /** Turns the lock on with [pin] (when it is off). */
    @Synchronized
    fun enable(pin: String): Result<Unit> = runCatching {
        if (enabled) throw PinProblem("A PIN is already set: change it instead")
        storePin(checkNewPin(pin).getOrThrow())
    }

    /** Replaces the PIN; [old] must be right (a wrong one counts as a wrong attempt). */
    @Synchronized
    fun change(old: String, new: String): Result<UnlockResult> = runCatching {
        val checked = checkNewPin(new).getOrThrow()
        val r = attempt(old)
        if (r == UnlockResult.Unlocked) storePin(checked)
        r
    }

    /** Turns the lock off; [old] must be right (a wrong one counts). */
    @Synchronized
    fun disable(old: String): UnlockResult {
        val r = attempt(old)
        if (r == UnlockResult.Unlocked) clear()
        return r
    }

    /** Wipe after [n] wrong attempts (one of [WIPE_AFTER_CHOICES]), or never (null). */
    @Synchronized
    fun setWipeAfter(n: Int?): Result<Unit> = runCatching {
        if (!enabled) throw PinProblem("Set a PIN first")
        if (n != null && n !in WIPE_AFTER_CHOICES) throw PinProblem("Choose one of ${WIPE_AFTER_CHOICES.joinToString()}")
        store.put(mapOf(WIPE_AFTER to n?.toString()))
    }

    /** Asks for the PIN after [minutes] in the background (one of [LOCK_AFTER_MINUTES_CHOICES]). */
    @Synchronized
    fun setLockAfterMinutes(minutes: Int): Result<Unit> = runCatching {
        if (minutes !in LOCK_AFTER_MINUTES_CHOICES) throw PinProblem("Choose one of ${LOCK_AFTER_MINUTES_CHOICES.joinToString()}")
        store.put(mapOf(LOCK_AFTER to minutes.toString()))
    }

    /** A typed PIN at the lock screen (slow: off the main thread). */
    @Synchronized
    fun unlock(pin: String): UnlockResult {
        if (!enabled) {
            locked = false
            return UnlockResult.Unlocked
        }
        val r = attempt(pin)
        if (r == UnlockResult.Unlocked) locked = false
        return r
    }

    /** The app went to the background at [nowMs] (a monotonic clock). */
    @Synchronized
    fun backgrounded(nowMs: Long) {
        backgroundedAtMs = nowMs
    }

    /** The app came back at [nowMs]: locked again if it was away long enough. */
    @Synchronized
    fun foregrounded(nowMs: Long) {
        val since = backgroundedAtMs ?: return
        backgroundedAtMs = null
        if (enabled && nowMs - since >= lockAfterMinutes * MS_PER_MINUTE) locked = true
    }

    /** Forgets the PIN and every setting of the lock (turned off, and after a wipe). */
    @Synchronized
    fun clear() {
        store.put(listOf(HASH, SALT, ROUNDS, FAILURES, WIPE_AFTER, LOCK_AFTER).associateWith { null })
        locked = false
    }

    private fun attempt(pin: String): UnlockResult {
        if (wipeStarted) return UnlockResult.Wiping
        val limit = wipeAfter
        val before = failures
        // A kill after the limit was counted but before the wipe finished: wipe now.
        if (limit != null && before >= limit) return startWipe()
        // Counted first: a kill during the slow check below cannot undo it.
        try {
            store.put(mapOf(FAILURES to (before + 1).toString()))
        } catch (e: Exception) {
            return UnlockResult.NotCounted
        }
        if (matches(pin)) {
            runCatching { store.put(mapOf(FAILURES to "0")) }
            return UnlockResult.Unlocked
        }
        val now = before + 1
        if (limit != null && now >= limit) return startWipe()
        return UnlockResult.Wrong(limit?.let { it - now })
    }

    private fun startWipe(): UnlockResult {
        wipeStarted = true
        locked = true
        onWipe()
        return UnlockResult.Wiping
    }

    private fun matches(pin: String): Boolean {
        val decoder = Base64.getDecoder()
        val stored = store.get(HASH)?.let { runCatching { decoder.decode(it) }.getOrNull() } ?: return false
        val salt = store.get(SALT)?.let { runCatching { decoder.decode(it) }.getOrNull() } ?: return false
        val rounds = store.get(ROUNDS)?.toIntOrNull()?.takeIf { it > 0 } ?: return false
        return MessageDigest.isEqual(stored, hasher.hash(pin, salt, rounds))
    }

    private fun storePin(pin: String) {
        val salt = ByteArray(SALT_BYTES).also(random::nextBytes)
        val encoder = Base64.getEncoder()
        store.put(
            mapOf(
                HASH to encoder.encodeToString(hasher.hash(pin, salt, iterations)),
                SALT to encoder.encodeToString(salt),
                ROUNDS to iterations.toString(),
                FAILURES to "0",
            ),
        )
    }

    private companion object {
        const val HASH = "pin.hash"
        const val SALT = "pin.salt"
        const val ROUNDS = "pin.rounds"
        const val FAILURES = "pin.failures"
        const val WIPE_AFTER = "pin.wipe-after"
        const val LOCK_AFTER = "pin.lock-after-minutes"
    }
}
