// The root key at rest: encrypted (AES-GCM) with a key that lives in the Android Keystore and
// never leaves it; the wrapped bytes (format: logic's WrappedKey) sit in private preferences.
package org.mapeo.app

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.mapeo.app.logic.GCM_TAG_BYTES
import org.mapeo.app.logic.RootKeyKeeper
import org.mapeo.app.logic.WrappedKey

class KeyVault(context: Context) : RootKeyKeeper {
    private val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)

    /** Whether a root key is stored (the first run is over). */
    override fun hasKey(): Boolean = prefs.contains(ENTRY)

    /** Forgets the root key (the emergency wipe): the wrapped bytes, then the keystore key. */
    override fun delete() {
        check(prefs.edit().remove(ENTRY).commit()) { "could not remove the key" }
        KeyStore.getInstance(KEYSTORE).apply { load(null) }.deleteEntry(ALIAS)
    }

    /** The stored root key; fails if it was damaged or the keystore key is gone. */
    fun load(): ByteArray? {
        val stored = prefs.getString(ENTRY, null) ?: return null
        val wrapped = WrappedKey.decode(Base64.decode(stored, Base64.NO_WRAP)).getOrThrow()
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, keystoreKey(), GCMParameterSpec(GCM_TAG_BYTES * 8, wrapped.iv))
        return cipher.doFinal(wrapped.ciphertext)
    }

    /** Stores [rootKey] wrapped; written to disk before returning. */
    fun store(rootKey: ByteArray) {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, keystoreKey())
        val wrapped = WrappedKey(cipher.iv, cipher.doFinal(rootKey))
        check(prefs.edit().putString(ENTRY, Base64.encodeToString(wrapped.encode(), Base64.NO_WRAP)).commit()) {
            "could not save the key"
        }
    }

    private fun keystoreKey(): SecretKey {
        val store = KeyStore.getInstance(KEYSTORE).apply { load(null) }
        (store.getKey(ALIAS, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val KEYSTORE = "AndroidKeyStore"
        const val ALIAS = "mapeo-root-key-wrap"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val PREFS = "mapeo-keys"
        const val ENTRY = "root-key"
    }
}
