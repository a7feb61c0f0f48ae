//! Keys and the primitives over them: the root key and every key derived from it, project and
//! namespace keys, signing and payload encryption. Owns key newtypes (secrets redacted in
//! `Debug`, zeroized on drop); never stores or transmits anything itself.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::ids::{DeviceId, ProjectId};

/// Context strings for `blake3::derive_key`. Versioned: changing one changes every derived key.
mod context {
    pub const DEVICE_SIGNING: &str = "mapeo 2026-11 device identity ed25519 v1";
    pub const NOISE_STATIC: &str = "mapeo 2026-11 noise static x25519 v1";
    pub const STORAGE: &str = "mapeo 2026-11 stored project keys v1";
    pub const PROJECT_KEY: &str = "mapeo 2026-11 project key from creator proof v1";
    pub const PROJECT_ID: &str = "mapeo 2026-11 project id v1";
    pub const SYNC_TAG: &str = "mapeo 2026-11 sync project tag v1";
    pub const NS_AUTH: &str = "mapeo 2026-11 namespace key auth v1";
    pub const NS_CONFIG: &str = "mapeo 2026-11 namespace key config v1";
    pub const NS_DATA: &str = "mapeo 2026-11 namespace key data v1";
    pub const NS_BLOB_INDEX: &str = "mapeo 2026-11 namespace key blobIndex v1";
    pub const DATA_FOLDER: &str = "mapeo 2026-12 data folder key from root and salt v1";
    pub const DATA_FOLDER_CHECK: &str = "mapeo 2026-12 data folder key check value v1";
    pub const DATABASE: &str = "mapeo 2026-12 sqlcipher database key v1";
    pub const PAGE_CIPHER: &str = "mapeo 2026-12 database page cipher key v1";
    pub const PAGE_MAC: &str = "mapeo 2026-12 database page mac key v1";
    pub const PAGE_SALT: &str = "mapeo 2026-12 database file salt v1";
    pub const FILE: &str = "mapeo 2026-12 file encryption key v1";
    pub const EPOCH_ID: &str = "mapeo 2026-12 key epoch id v1";
    pub const EPOCH_MERGE_ID: &str = "mapeo 2026-12 merge epoch id v1";
    pub const EPOCH_MERGE_SECRET: &str = "mapeo 2026-12 merge epoch secret v1";
    pub const EPOCH_CHECK: &str = "mapeo 2026-12 epoch secret commitment v1";
    pub const EPOCH_NS_CONFIG: &str = "mapeo 2026-12 epoch namespace key config v1";
    pub const EPOCH_NS_DATA: &str = "mapeo 2026-12 epoch namespace key data v1";
    pub const EPOCH_NS_BLOB_INDEX: &str = "mapeo 2026-12 epoch namespace key blobIndex v1";
    pub const SEAL_TO_DEVICE: &str = "mapeo 2026-12 sealed to device x25519 v1";
}

/// Byte length of the random salt kept in a data folder, from which (with the root key) its
/// [`DataFolderKey`] derives.
pub const DATA_FOLDER_SALT_LEN: usize = 32;

/// Byte length of the root key.
pub const ROOT_KEY_LEN: usize = 16;
/// Byte length of the XChaCha20-Poly1305 nonce prefixed to every sealed payload.
pub const NONCE_LEN: usize = 24;
/// Byte length of the Poly1305 tag appended to every sealed payload.
pub const TAG_LEN: usize = 16;

/// A cryptographic operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// A sealed payload did not decrypt: wrong key, wrong context, or altered bytes.
    #[error("payload does not decrypt")]
    Decrypt,
    /// The operating system's random number generator failed.
    #[error("no randomness available from the operating system")]
    Randomness,
    /// Join details whose creator proof does not match the project key.
    #[error("join details do not prove the project's creator")]
    BadCreatorProof,
}

/// `N` bytes from the operating system's random number generator.
///
/// # Panics
/// Only if the OS has no random source at all, which no supported platform lacks.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut out).expect("the operating system provides randomness");
    out
}

macro_rules! secret {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
        pub struct $name([u8; $len]);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        impl $name {
            /// The secret bytes. Handle with care: never log them.
            pub fn expose_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }
    };
}

secret!(
    /// The 16 random bytes from which all of a device's keys derive. The app keeps it in the
    /// platform keystore; a person keeps its [backup code](crate::backup_code).
    RootKey,
    ROOT_KEY_LEN
);
secret!(
    /// A project's 32-byte secret, known only to members.
    ProjectKey,
    32
);
secret!(
    /// The key that encrypts one namespace's payloads in one project.
    NamespaceKey,
    32
);
secret!(
    /// The random secret of one key epoch (see [`crate::epochs`]): the payload keys of the
    /// `config`, `data` and `blob_index` namespaces in that epoch derive from it.
    EpochSecret,
    32
);
secret!(
    /// The key that encrypts project keys at rest in the device database.
    StorageKey,
    32
);
secret!(
    /// The key of one data folder: derived from the root key and a random salt kept in the
    /// folder, so that destroying the salt (a wipe) makes every key below it underivable,
    /// even with the root key. Every at-rest key of the folder derives from it.
    DataFolderKey,
    32
);
secret!(
    /// The raw SQLCipher key of one database of a data folder.
    DatabaseKey,
    32
);
secret!(
    /// A key for encrypting files at rest (media, map packages) in a data folder; see
    /// [`DataFolderKey::derive_file_key`]; used by [`crate::sealed_file`]. Never leaves the device.
    FileKey,
    32
);
secret!(
    /// This device's x25519 static key for Noise handshakes.
    NoiseStaticKey,
    32
);
secret!(
    /// The secret nonce that, with the creator's device id, derives a project key. Holding it
    /// proves who created the project.
    CreatorProof,
    32
);

impl RootKey {
    /// A new random root key.
    pub fn generate() -> Self {
        RootKey(random_bytes())
    }

    /// A root key from its bytes (from the keystore, a backup code or a test seed).
    pub fn from_bytes(bytes: [u8; ROOT_KEY_LEN]) -> Self {
        RootKey(bytes)
    }

    /// This device's signing identity.
    pub fn device_keys(&self) -> DeviceKeys {
        let secret = blake3::derive_key(context::DEVICE_SIGNING, &self.0);
        DeviceKeys::from_secret(secret)
    }

    /// This device's Noise static key.
    pub fn noise_static_key(&self) -> NoiseStaticKey {
        NoiseStaticKey(blake3::derive_key(context::NOISE_STATIC, &self.0))
    }

    /// The key that encrypts project keys stored on this device.
    pub fn storage_key(&self) -> StorageKey {
        StorageKey(blake3::derive_key(context::STORAGE, &self.0))
    }
}

impl DataFolderKey {
    /// The key of the data folder whose salt is `salt`, for this root key.
    pub fn derive(root: &RootKey, salt: &[u8; DATA_FOLDER_SALT_LEN]) -> Self {
        let mut input = [0u8; ROOT_KEY_LEN + DATA_FOLDER_SALT_LEN];
        input[..ROOT_KEY_LEN].copy_from_slice(&root.0);
        input[ROOT_KEY_LEN..].copy_from_slice(salt);
        let key = DataFolderKey(blake3::derive_key(context::DATA_FOLDER, &input));
        input.zeroize();
        key
    }

    /// A public value that tells whether a root key derives this folder key: stored beside
    /// the salt, so that a wrong root key is told apart from a damaged database. One-way:
    /// it reveals nothing of the key.
    pub fn check_value(&self) -> [u8; 32] {
        blake3::derive_key(context::DATA_FOLDER_CHECK, &self.0)
    }

    /// The SQLCipher key of the device database.
    pub fn device_database_key(&self) -> DatabaseKey {
        self.database_key(b"device")
    }

    /// The SQLCipher key of a project's database (also of its copies set aside by a repair).
    pub fn project_database_key(&self, project: &ProjectId) -> DatabaseKey {
        let mut name = Vec::with_capacity(8 + 32);
        name.extend_from_slice(b"project ");
        name.extend_from_slice(project.as_bytes());
        self.database_key(&name)
    }

    fn database_key(&self, name: &[u8]) -> DatabaseKey {
        DatabaseKey(self.derive_with(context::DATABASE, name))
    }

    /// The key that encrypts the files at rest of one `purpose` (e.g. `"blobs"`, `"maps"`):
    /// distinct purposes get independent keys, and every one of them dies with the folder's
    /// salt, so a wipe that destroys the salt makes the files unreadable at once whatever
    /// their size. `purpose` is a fixed name chosen by the code, never user input.
    pub fn derive_file_key(&self, purpose: &str) -> FileKey {
        FileKey(self.derive_with(context::FILE, purpose.as_bytes()))
    }

    /// `blake3::derive_key(ctx, folder key ‖ name)`.
    fn derive_with(&self, ctx: &str, name: &[u8]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_derive_key(ctx);
        hasher.update(&self.0);
        hasher.update(name);
        *hasher.finalize().as_bytes()
    }
}

impl DatabaseKey {
    /// The database's keys of the page format (`mapeo_page_cipher`): its cipher key and its
    /// MAC key, both derived from this key. Secret: pass them only to
    /// `mapeo_page_cipher::register`.
    pub fn page_keys(&self) -> zeroize::Zeroizing<([u8; 32], [u8; 32])> {
        zeroize::Zeroizing::new((
            blake3::derive_key(context::PAGE_CIPHER, &self.0),
            blake3::derive_key(context::PAGE_MAC, &self.0),
        ))
    }

    /// SQLCipher's raw-key literal of the page format, `x'<cipher key><MAC key><salt>'`: with
    /// both keys given, SQLCipher derives none (no PBKDF2 at open), and the 16-byte salt it
    /// writes at the head of the file is derived too, so it is the same at every open. Zeroized
    /// on drop. Secret: pass it only to `PRAGMA key` or `ATTACH … KEY`, after registering
    /// [`page_keys`](Self::page_keys).
    pub fn page_key_literal(&self) -> zeroize::Zeroizing<String> {
        let keys = self.page_keys();
        let salt = zeroize::Zeroizing::new(blake3::derive_key(context::PAGE_SALT, &self.0));
        let mut s = zeroize::Zeroizing::new(String::with_capacity(3 + 2 * (32 + 32 + 16)));
        s.push_str("x'");
        for part in [&keys.0[..], &keys.1[..], &salt[..16]] {
            s.push_str(&zeroize::Zeroizing::new(hex::encode(part)));
        }
        s.push('\'');
        s
    }

    /// The key as the raw-key literal `x'<64 hex>'` of the earlier format (SQLCipher's own
    /// AES-256-CBC and HMAC-SHA256, with the key used as it is), zeroized on drop: only to open
    /// a store written before the page format, to migrate it (`at_rest`). Secret.
    pub fn legacy_key_literal(&self) -> zeroize::Zeroizing<String> {
        let mut s = zeroize::Zeroizing::new(String::with_capacity(67));
        s.push_str("x'");
        let hex = zeroize::Zeroizing::new(hex::encode(self.0));
        s.push_str(&hex);
        s.push('\'');
        s
    }
}

impl FileKey {
    /// A file key from its 32 bytes, as derived by the device.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        FileKey(bytes)
    }
}

impl NoiseStaticKey {
    /// The public half, as peers see it in the handshake.
    pub fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(self.0)).to_bytes()
    }
}

/// This device's ed25519 signing key and its public [`DeviceId`].
#[derive(Clone)]
pub struct DeviceKeys {
    signing: SigningKey,
    id: DeviceId,
}

impl fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceKeys({:?}, SecretKey(..))", self.id)
    }
}

impl DeviceKeys {
    fn from_secret(mut secret: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&secret);
        secret.zeroize();
        let id = DeviceId(signing.verifying_key().to_bytes());
        DeviceKeys { signing, id }
    }

    /// The public identity.
    pub fn device_id(&self) -> DeviceId {
        self.id
    }

    /// This device's x25519 secret for keys sealed to it: the birational (Montgomery) form
    /// of its ed25519 identity, as libsodium's `crypto_sign_ed25519_sk_to_curve25519`, so
    /// the public half follows from the [`DeviceId`] and nothing new has to be published.
    fn exchange_secret(&self) -> x25519_dalek::StaticSecret {
        x25519_dalek::StaticSecret::from(self.signing.to_scalar_bytes())
    }

    /// Opens an epoch secret sealed to this device with [`seal_to_device`] under `aad`.
    pub fn open_sealed(&self, aad: &[u8], sealed: &[u8]) -> Result<EpochSecret, CryptoError> {
        let (ephemeral, boxed) = sealed.split_at_checked(32).ok_or(CryptoError::Decrypt)?;
        let ephemeral: [u8; 32] = ephemeral.try_into().map_err(|_| CryptoError::Decrypt)?;
        let ephemeral = x25519_dalek::PublicKey::from(ephemeral);
        let shared = self.exchange_secret().diffie_hellman(&ephemeral);
        if !shared.was_contributory() {
            return Err(CryptoError::Decrypt);
        }
        let recipient = exchange_public(&self.id).ok_or(CryptoError::Decrypt)?;
        let key = sealing_key(shared.as_bytes(), ephemeral.as_bytes(), &recipient);
        let plain = zeroize::Zeroizing::new(open(&key, aad, boxed)?);
        let bytes: [u8; 32] = plain[..].try_into().map_err(|_| CryptoError::Decrypt)?;
        Ok(EpochSecret(bytes))
    }

    /// Signs a message with this device's identity key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

/// A device's public x25519 key for sealing: the Montgomery form of its ed25519 key.
fn exchange_public(device: &DeviceId) -> Option<[u8; 32]> {
    Some(device.verifying_key().ok()?.to_montgomery().to_bytes())
}

fn sealing_key(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> [u8; 32] {
    let mut input = [0u8; 96];
    input[..32].copy_from_slice(shared);
    input[32..64].copy_from_slice(ephemeral);
    input[64..].copy_from_slice(recipient);
    let key = blake3::derive_key(context::SEAL_TO_DEVICE, &input);
    input.zeroize();
    key
}

/// Length of an epoch secret sealed to a device: ephemeral public key, nonce, secret, tag.
pub const SEALED_SECRET_LEN: usize = 32 + NONCE_LEN + 32 + TAG_LEN;

/// Seals an epoch secret so that only `device` can open it (an ECIES "sealed box": an
/// ephemeral x25519 key agreed with the device's key, then XChaCha20-Poly1305), bound to
/// `aad`. `None` if the device id is not a usable key.
pub fn seal_to_device(device: &DeviceId, aad: &[u8], secret: &EpochSecret) -> Option<Vec<u8>> {
    let recipient = exchange_public(device)?;
    let ephemeral = x25519_dalek::StaticSecret::from(random_bytes::<32>());
    let ephemeral_public = x25519_dalek::PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(&x25519_dalek::PublicKey::from(recipient));
    if !shared.was_contributory() {
        return None;
    }
    let key = sealing_key(shared.as_bytes(), ephemeral_public.as_bytes(), &recipient);
    let mut out = Vec::with_capacity(SEALED_SECRET_LEN);
    out.extend_from_slice(ephemeral_public.as_bytes());
    out.extend_from_slice(&seal(&key, aad, &secret.0));
    Some(out)
}

/// The id of a key epoch, named by the entries written in it. A started epoch's id is bound
/// to the position of the record that started it; a merge epoch's id to its parents.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EpochId(pub [u8; 32]);

impl fmt::Debug for EpochId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EpochId({})", hex::encode(&self.0[..4]))
    }
}

impl EpochId {
    /// The id of the epoch started by the `auth` entry at `seq` of `author`'s feed.
    pub fn started_at(project: &ProjectId, author: &DeviceId, seq: u64) -> Self {
        let mut input = [0u8; 72];
        input[..32].copy_from_slice(project.as_bytes());
        input[32..64].copy_from_slice(author.as_bytes());
        input[64..].copy_from_slice(&seq.to_be_bytes());
        EpochId(blake3::derive_key(context::EPOCH_ID, &input))
    }

    /// The id of the merge of `parents` (sorted, no repeats); a single parent is itself.
    pub fn merged(parents: &[EpochId]) -> Self {
        match parents {
            [one] => *one,
            _ => {
                let mut h = blake3::Hasher::new_derive_key(context::EPOCH_MERGE_ID);
                for p in parents {
                    h.update(&p.0);
                }
                EpochId(*h.finalize().as_bytes())
            }
        }
    }
}

impl EpochSecret {
    /// A fresh random secret for a new epoch.
    pub fn generate() -> Self {
        EpochSecret(random_bytes())
    }

    /// A public commitment to this secret, published in the epoch's record so that a
    /// sealed copy can be checked before it is used.
    pub fn commitment(&self) -> [u8; 32] {
        blake3::derive_key(context::EPOCH_CHECK, &self.0)
    }

    /// The secret of the merge of several epochs, from all of theirs (sorted by id, no
    /// repeats): whoever lacks any one of them cannot compute it. One part is itself.
    pub fn merged(parts: &[(EpochId, &EpochSecret)]) -> Self {
        match parts {
            [(_, one)] => (*one).clone(),
            _ => {
                let mut h = blake3::Hasher::new_derive_key(context::EPOCH_MERGE_SECRET);
                for (id, secret) in parts {
                    h.update(&id.0);
                    h.update(&secret.0);
                }
                EpochSecret(*h.finalize().as_bytes())
            }
        }
    }

    /// The payload key of a namespace in this epoch; `None` for `auth`, which stays under
    /// the project key (see [`crate::epochs`]).
    pub fn namespace_key(&self, ns: crate::ids::Namespace) -> Option<NamespaceKey> {
        use crate::ids::Namespace::*;
        let ctx = match ns {
            Auth => return None,
            Config => context::EPOCH_NS_CONFIG,
            Data => context::EPOCH_NS_DATA,
            BlobIndex => context::EPOCH_NS_BLOB_INDEX,
        };
        Some(NamespaceKey(blake3::derive_key(ctx, &self.0)))
    }
}

/// Verifies an ed25519 signature by `author` over `message` (strict: no malleable forms).
pub fn verify_signature(author: &DeviceId, message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = author.verifying_key() else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &sig).is_ok()
}

impl ProjectKey {
    /// A project key from its bytes, as received in join details.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ProjectKey(bytes)
    }

    /// The public project id: a one-way keyed hash of the key.
    pub fn project_id(&self) -> ProjectId {
        ProjectId(blake3::derive_key(context::PROJECT_ID, &self.0))
    }

    /// The key that MACs a connection's handshake hash into this project's sync tag.
    pub fn sync_tag_key(&self) -> [u8; 32] {
        blake3::derive_key(context::SYNC_TAG, &self.0)
    }

    /// The payload key of one namespace.
    pub fn namespace_key(&self, ns: crate::ids::Namespace) -> NamespaceKey {
        use crate::ids::Namespace::*;
        let ctx = match ns {
            Auth => context::NS_AUTH,
            Config => context::NS_CONFIG,
            Data => context::NS_DATA,
            BlobIndex => context::NS_BLOB_INDEX,
        };
        NamespaceKey(blake3::derive_key(ctx, &self.0))
    }
}

impl CreatorProof {
    /// A new random proof, made once when a project is created.
    pub fn generate() -> Self {
        CreatorProof(random_bytes())
    }

    /// A proof from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        CreatorProof(bytes)
    }
}

/// What a device needs to join a project: the creator's id and the secret proof. The project
/// key is derived from both, so the key itself commits to its creator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinDetails {
    /// The device that created the project.
    pub creator: DeviceId,
    /// The secret from which, with `creator`, the project key derives.
    pub creator_proof: CreatorProof,
}

impl JoinDetails {
    /// Fresh details for a project that `creator` is creating now.
    pub fn new_project(creator: DeviceId) -> Self {
        JoinDetails {
            creator,
            creator_proof: CreatorProof::generate(),
        }
    }

    /// The project key these details derive.
    pub fn project_key(&self) -> ProjectKey {
        let mut input = [0u8; 64];
        input[..32].copy_from_slice(self.creator.as_bytes());
        input[32..].copy_from_slice(&self.creator_proof.0);
        let key = ProjectKey(blake3::derive_key(context::PROJECT_KEY, &input));
        input.zeroize();
        key
    }

    /// Checks that these details derive the project with id `expected`.
    pub fn verify(&self, expected: &ProjectId) -> Result<(), CryptoError> {
        if self.project_key().project_id() == *expected {
            Ok(())
        } else {
            Err(CryptoError::BadCreatorProof)
        }
    }

    /// 64 bytes: creator id, then proof. Secret: store only sealed.
    pub fn to_secret_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(64));
        out.extend_from_slice(self.creator.as_bytes());
        out.extend_from_slice(&self.creator_proof.0);
        out
    }

    /// Parses the form of [`JoinDetails::to_secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8]) -> Option<Self> {
        let creator: [u8; 32] = bytes.get(..32)?.try_into().ok()?;
        let proof: [u8; 32] = bytes.get(32..64)?.try_into().ok()?;
        if bytes.len() != 64 {
            return None;
        }
        Some(JoinDetails {
            creator: DeviceId::from_bytes(creator).ok()?,
            creator_proof: CreatorProof(proof),
        })
    }
}

/// The ring ChaCha20-Poly1305 key that XChaCha20-Poly1305 derives from `key` and the first 16
/// bytes of its 24-byte nonce: HChaCha20 of the two (the subkey is zeroized once ring holds
/// it). Payloads here and sealed files' chunks both build on it.
pub(crate) fn hchacha_key(key: &[u8; 32], input: &[u8; 16]) -> Option<LessSafeKey> {
    let mut subkey = chacha20::hchacha::<chacha20::R20>(key.into(), input.into());
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &subkey);
    subkey.as_mut_slice().zeroize();
    unbound.ok().map(LessSafeKey::new)
}

/// The ChaCha20-Poly1305 key and nonce that make XChaCha20-Poly1305 under `key` and the
/// 24-byte `nonce`, as its definition builds them: [`hchacha_key`] of the nonce's first 16
/// bytes; 4 zero bytes and the nonce's last 8 are the nonce. ring then runs the AEAD: its
/// assembly is markedly faster than the portable crate on the small payloads every entry
/// carries (a test checks both give the same bytes).
fn xchacha(key: &[u8; 32], nonce: &[u8; NONCE_LEN]) -> Option<(LessSafeKey, Nonce)> {
    let mut input = [0u8; 16];
    input.copy_from_slice(&nonce[..16]);
    let mut short = [0u8; 12];
    short[4..].copy_from_slice(&nonce[16..]);
    Some((
        hchacha_key(key, &input)?,
        Nonce::assume_unique_for_key(short),
    ))
}

/// Encrypts `plaintext` under `key`, bound to `aad` (XChaCha20-Poly1305). Output: random
/// nonce, then ciphertext+tag.
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    // A 32-byte key is always accepted, and sealing only fails for plaintexts beyond 256 GiB,
    // far past every named size limit.
    let tag = xchacha(key, &nonce).and_then(|(cipher, nonce)| {
        cipher
            .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut out[NONCE_LEN..])
            .ok()
    });
    match tag {
        Some(tag) => out.extend_from_slice(tag.as_ref()),
        None => unreachable!("plaintext within XChaCha20-Poly1305 limits"),
    }
    out
}

/// Decrypts the output of [`seal`].
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Decrypt)?;
    let (cipher, nonce) = xchacha(key, &nonce).ok_or(CryptoError::Decrypt)?;
    let mut buf = ct.to_vec();
    let len = cipher
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

impl NamespaceKey {
    /// Encrypts a payload bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal(&self.0, aad, plaintext)
    }
    /// Decrypts a payload bound to `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open(&self.0, aad, sealed)
    }
}

impl StorageKey {
    /// Encrypts a secret for storage, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal(&self.0, aad, plaintext)
    }
    /// Decrypts a stored secret bound to `aad`.
    pub fn open(
        &self,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        open(&self.0, aad, sealed).map(zeroize::Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Namespace;

    #[test]
    fn derivations_are_deterministic_and_distinct() {
        let a = RootKey::from_bytes([7; 16]);
        let b = RootKey::from_bytes([8; 16]);
        assert_eq!(a.device_keys().device_id(), a.device_keys().device_id());
        assert_ne!(a.device_keys().device_id(), b.device_keys().device_id());
        assert_ne!(
            a.noise_static_key().expose_bytes(),
            a.storage_key().expose_bytes()
        );
        assert_ne!(
            a.noise_static_key().public_key(),
            b.noise_static_key().public_key()
        );
        let details = JoinDetails::new_project(a.device_keys().device_id());
        let key = details.project_key();
        assert_ne!(
            key.namespace_key(Namespace::Data).expose_bytes(),
            key.namespace_key(Namespace::Auth).expose_bytes()
        );
        assert_ne!(key.project_id().as_bytes(), key.expose_bytes());
    }

    #[test]
    fn data_folder_keys_depend_on_root_salt_and_name() {
        let a = RootKey::from_bytes([7; 16]);
        let b = RootKey::from_bytes([8; 16]);
        let fa = DataFolderKey::derive(&a, &[1; DATA_FOLDER_SALT_LEN]);
        let fa2 = DataFolderKey::derive(&a, &[2; DATA_FOLDER_SALT_LEN]);
        let fb = DataFolderKey::derive(&b, &[1; DATA_FOLDER_SALT_LEN]);
        assert_ne!(fa.check_value(), fa2.check_value());
        assert_ne!(fa.check_value(), fb.check_value());
        assert_ne!(fa.check_value(), *fa.expose_bytes());
        let p1 = ProjectId::from_bytes([1; 32]);
        let p2 = ProjectId::from_bytes([2; 32]);
        let keys = [
            *fa.device_database_key().expose_bytes(),
            *fa.project_database_key(&p1).expose_bytes(),
            *fa.project_database_key(&p2).expose_bytes(),
            *fa2.device_database_key().expose_bytes(),
            *fa.derive_file_key("blobs").expose_bytes(),
            *fa.derive_file_key("maps").expose_bytes(),
        ];
        for (i, x) in keys.iter().enumerate() {
            for y in &keys[i + 1..] {
                assert_ne!(x, y);
            }
        }
        let lit = fa.device_database_key().legacy_key_literal();
        assert_eq!(lit.len(), 67);
        assert!(lit.starts_with("x'") && lit.ends_with('\''));
        let dbk = fa.device_database_key();
        let page = dbk.page_key_literal();
        assert_eq!(page.len(), 3 + 2 * (32 + 32 + 16));
        let keys = dbk.page_keys();
        assert_ne!(keys.0, keys.1);
        assert!(
            !keys.0.iter().eq(dbk.expose_bytes().iter()),
            "not the earlier format's key"
        );
        assert!(page.starts_with(&format!("x'{}{}", hex::encode(keys.0), hex::encode(keys.1))));
    }

    #[test]
    fn secrets_never_print() {
        let root = RootKey::from_bytes([0xAB; 16]);
        let shown = format!("{root:?} {:?} {:?}", root.storage_key(), root.device_keys());
        assert!(!shown.contains("ab") && !shown.contains("AB") && !shown.contains("171"));
        assert!(shown.contains("RootKey(..)"));
    }

    #[test]
    fn creator_is_provable_from_the_project_key() {
        let creator = RootKey::from_bytes([1; 16]).device_keys().device_id();
        let other = RootKey::from_bytes([2; 16]).device_keys().device_id();
        let details = JoinDetails::new_project(creator);
        let id = details.project_key().project_id();
        assert!(details.verify(&id).is_ok());
        let forged = JoinDetails {
            creator: other,
            creator_proof: details.creator_proof.clone(),
        };
        assert_eq!(forged.verify(&id), Err(CryptoError::BadCreatorProof));
        let bytes = details.to_secret_bytes();
        assert_eq!(JoinDetails::from_secret_bytes(&bytes), Some(details));
        assert_eq!(JoinDetails::from_secret_bytes(&bytes[..63]), None);
    }

    #[test]
    fn sealed_payloads_are_bound_to_key_and_context() {
        let key = [3u8; 32];
        let sealed = seal(&key, b"ctx", b"hello");
        assert_eq!(open(&key, b"ctx", &sealed).unwrap(), b"hello");
        assert_eq!(open(&key, b"other", &sealed), Err(CryptoError::Decrypt));
        assert_eq!(open(&[4u8; 32], b"ctx", &sealed), Err(CryptoError::Decrypt));
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert_eq!(open(&key, b"ctx", &flipped), Err(CryptoError::Decrypt));
        assert_eq!(open(&key, b"ctx", &sealed[..10]), Err(CryptoError::Decrypt));
    }

    #[test]
    fn signatures_verify_only_for_the_signer_and_message() {
        let keys = RootKey::from_bytes([5; 16]).device_keys();
        let sig = keys.sign(b"msg");
        assert!(verify_signature(&keys.device_id(), b"msg", &sig));
        assert!(!verify_signature(&keys.device_id(), b"msh", &sig));
        let other = RootKey::from_bytes([6; 16]).device_keys().device_id();
        assert!(!verify_signature(&other, b"msg", &sig));
    }

    proptest::proptest! {
        /// `seal` and `open` are XChaCha20-Poly1305 exactly as the portable crate computes it
        /// (what stored and sent payloads were sealed with before ring ran the AEAD): each
        /// opens what the other sealed, and any changed byte or other associated data fails.
        #[test]
        fn sealing_matches_the_portable_xchacha20_poly1305(
            key in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            nonce in proptest::array::uniform24(proptest::prelude::any::<u8>()),
            aad in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            plaintext in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1500),
            flip in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            use chacha20poly1305::aead::{Aead, KeyInit, Payload};
            let reference = chacha20poly1305::XChaCha20Poly1305::new((&key).into());
            let mut theirs = nonce.to_vec();
            theirs.extend(
                reference
                    .encrypt((&nonce).into(), Payload { msg: &plaintext, aad: &aad })
                    .unwrap(),
            );
            proptest::prop_assert_eq!(open(&key, &aad, &theirs).unwrap(), plaintext.clone());

            let ours = seal(&key, &aad, &plaintext);
            let (our_nonce, our_ct) = ours.split_at(NONCE_LEN);
            let our_nonce: [u8; NONCE_LEN] = our_nonce.try_into().unwrap();
            let opened = reference
                .decrypt((&our_nonce).into(), Payload { msg: our_ct, aad: &aad })
                .unwrap();
            proptest::prop_assert_eq!(opened, plaintext);

            let mut damaged = ours.clone();
            damaged[flip.index(ours.len())] ^= 0x01;
            proptest::prop_assert!(open(&key, &aad, &damaged).is_err());
            let mut other_aad = aad.clone();
            other_aad.push(0);
            proptest::prop_assert!(open(&key, &other_aad, &ours).is_err());
            proptest::prop_assert!(open(&key, &aad, &ours[..ours.len() - 1]).is_err());
        }
    }
}
