// First run: the device name, the root key (new, or restored from a backup code) and the
// wrapped form the Android Keystore's key turns it into for storage. The wrapping itself
// (AES-GCM with a key that never leaves the keystore) is in the app; this owns the format.
package org.mapeo.app.logic

import uniffi.mapeo_ffi.MapeoException
import uniffi.mapeo_ffi.rootKeyFromBackupCode

/** Bytes of a root key. */
const val ROOT_KEY_BYTES = 16

/** Longest device name accepted here (the core checks its own limit too). */
const val MAX_DEVICE_NAME_CHARS = 60

/** The device name to save, or the message to show. */
fun checkDeviceName(input: String): Result<String> {
    val name = input.trim().replace(Regex("\\s+"), " ")
    return when {
        name.isEmpty() -> Result.failure(IllegalArgumentException("Give this phone a name others will recognise"))
        name.length > MAX_DEVICE_NAME_CHARS -> Result.failure(IllegalArgumentException("Use at most $MAX_DEVICE_NAME_CHARS characters"))
        name.any { it.isISOControl() } -> Result.failure(IllegalArgumentException("The name has characters that cannot be shown"))
        else -> Result.success(name)
    }
}

/** The root key a typed backup code stands for, or a message (never the code itself). */
fun restoreFromBackupCode(code: String): Result<ByteArray> {
    if (code.isBlank()) return Result.failure(IllegalArgumentException("Type the backup code"))
    return try {
        Result.success(rootKeyFromBackupCode(code))
    } catch (e: MapeoException) {
        Result.failure(IllegalArgumentException("This backup code is not right: check each group of four"))
    }
}

/** A backup code split in lines of four groups, to write down. */
fun backupCodeLines(code: String): List<String> =
    code.split('-', ' ').filter { it.isNotEmpty() }.chunked(4).map { it.joinToString(" ") }

/** Version byte of [WrappedKey]'s format. */
const val WRAPPED_KEY_VERSION: Byte = 1

/** AES-GCM nonce length the keystore uses. */
const val GCM_IV_BYTES = 12

/** AES-GCM tag length. */
const val GCM_TAG_BYTES = 16

/**
 * A root key encrypted with the keystore's key, as stored in the app's preferences:
 * version, IV, ciphertext (16 bytes of key plus the 16-byte tag).
 */
class WrappedKey(val iv: ByteArray, val ciphertext: ByteArray) {
    init {
        require(iv.size == GCM_IV_BYTES) { "IV of ${iv.size} bytes" }
        require(ciphertext.size == ROOT_KEY_BYTES + GCM_TAG_BYTES) { "ciphertext of ${ciphertext.size} bytes" }
    }

    fun encode(): ByteArray = byteArrayOf(WRAPPED_KEY_VERSION) + iv + ciphertext

    companion object {
        /** Reads stored bytes; a damaged or foreign value fails (never a wrong key). */
        fun decode(bytes: ByteArray): Result<WrappedKey> = runCatching {
            require(bytes.size == 1 + GCM_IV_BYTES + ROOT_KEY_BYTES + GCM_TAG_BYTES) { "stored key has the wrong length" }
            require(bytes[0] == WRAPPED_KEY_VERSION) { "stored key of unknown version" }
            WrappedKey(bytes.copyOfRange(1, 1 + GCM_IV_BYTES), bytes.copyOfRange(1 + GCM_IV_BYTES, bytes.size))
        }
    }
}
