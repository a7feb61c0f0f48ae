//! The page cipher of Mapeo's encrypted stores, installed into SQLCipher as its crypto provider.
//!
//! SQLCipher lays out every page (the page's bytes, then a random IV and a MAC in the page's
//! reserved tail), checks MACs and manages keys; a provider supplies the primitives. Its
//! default provider (OpenSSL: AES-256-CBC and HMAC-SHA256) costs a third of the CPU of a small
//! write on a phone-class core, most of it in OpenSSL's per-call set-up. This provider gives the
//! stores whose keys are [`register`]ed the **page format** below instead, and hands every other
//! key to the provider that was installed before it, so stores of the earlier format still open
//! (to be migrated; see `mapeo_core::at_rest`).
//!
//! Page format, per page of a registered store (IV and MAC sizes are SQLCipher's settings of the
//! store: 16 and 32 bytes with `HMAC_SHA256`):
//! - the page's usable bytes are enciphered with XChaCha12 under the store's cipher key, with
//!   the nonce `IV ‖ 0⁸` (the IV is 16 fresh random bytes per write of the page). Twelve
//!   rounds, as Android's own storage encryption for phones without AES instructions
//!   (Adiantum) uses: the best known attacks reach seven, and every page read or written pays
//!   for the rounds (twenty cost 40% more here);
//! - the MAC is the tag of XChaCha20-Poly1305 under the store's MAC key, sealing nothing with
//!   `ciphertext ‖ IV` as associated data, with the nonce `IV ‖ page number ‖ 0⁴` (the page
//!   number 4 bytes little-endian): 16 bytes, then zeros to the MAC size. A page moved to
//!   another page number, or altered, fails its MAC.
//!
//! A store's cipher and MAC keys are two distinct keys the caller derives; registering them is
//! what marks the store as of this format. The registry keeps the keys themselves (SQLCipher
//! holds them too, for as long as the process runs): a page's lookup is a comparison, where
//! hashing the key first cost more than the lookup saves. The IVs are 128 random bits per write, so a page rewritten any number of times never
//! reuses a keystream or a one-time MAC key. They come from a ChaCha20 stream per thread, seeded
//! by the operating system (a system call per page cost as much as the MAC).

mod provider;

use std::sync::{OnceLock, RwLock};

/// Why the page cipher could not be installed or a key registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// SQLite did not initialise (its result code).
    SqliteInit(i32),
    /// SQLCipher has no crypto provider yet: it has not finished initialising.
    NoProvider,
    /// SQLCipher could not allocate or register the provider.
    Register(i32),
    /// [`install`] has not succeeded: a registered key would be read by the other provider.
    NotInstalled,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::SqliteInit(rc) => write!(f, "SQLite did not initialise (code {rc})"),
            Error::NoProvider => f.write_str("SQLCipher has no crypto provider yet"),
            Error::Register(rc) => write!(f, "SQLCipher refused the page cipher (code {rc})"),
            Error::NotInstalled => f.write_str("the page cipher is not installed"),
        }
    }
}

impl std::error::Error for Error {}

static INSTALLED: OnceLock<Result<(), Error>> = OnceLock::new();

/// Installs the page cipher as SQLCipher's provider, once per process; later calls return the
/// first one's outcome. Call it after SQLCipher finished initialising (a keyed connection was
/// opened and read): codec contexts made before keep the provider they were made with.
pub fn install() -> Result<(), Error> {
    *INSTALLED.get_or_init(provider::install)
}

/// Whether [`install`] succeeded in this process.
pub fn is_installed() -> bool {
    matches!(INSTALLED.get(), Some(Ok(())))
}

/// Registers a store's keys: from now on in this process, pages under `cipher_key` are
/// enciphered and MACs under `mac_key` computed in the page format. Registering the same keys
/// again changes nothing.
pub fn register(cipher_key: &[u8; 32], mac_key: &[u8; 32]) -> Result<(), Error> {
    if !is_installed() {
        return Err(Error::NotInstalled);
    }
    let mut guard = registry().write().unwrap_or_else(|e| e.into_inner());
    let keys = &mut *guard;
    for (set, key) in [(&mut keys.cipher, cipher_key), (&mut keys.mac, mac_key)] {
        if !set.contains(key) {
            set.push(*key);
        }
    }
    Ok(())
}

/// Forgets a store's keys (a wipe destroyed them): their registry entries are overwritten with
/// zeros and removed. A connection still keyed with them can no longer read or write its store.
pub fn forget(cipher_key: &[u8; 32], mac_key: &[u8; 32]) {
    let mut guard = registry().write().unwrap_or_else(|e| e.into_inner());
    let keys = &mut *guard;
    for (set, key) in [(&mut keys.cipher, cipher_key), (&mut keys.mac, mac_key)] {
        while let Some(at) = set.iter().position(|k| k == key) {
            set[at].fill(0);
            let last = set.len() - 1;
            set.swap(at, last);
            if let Some(mut gone) = set.pop() {
                gone.fill(0);
            }
        }
    }
}

/// The registered keys. A process has a few stores (its device and its projects), so a scan
/// of a short list is the cheapest lookup.
#[derive(Default)]
struct Registry {
    cipher: Vec<[u8; 32]>,
    mac: Vec<[u8; 32]>,
}

fn registry() -> &'static RwLock<Registry> {
    static REGISTRY: OnceLock<RwLock<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(Registry::default()))
}

fn is_cipher_key(key: &[u8; 32]) -> bool {
    let keys = registry().read().unwrap_or_else(|e| e.into_inner());
    keys.cipher.contains(key)
}

fn is_mac_key(key: &[u8; 32]) -> bool {
    let keys = registry().read().unwrap_or_else(|e| e.into_inner());
    keys.mac.contains(key)
}

/// XChaCha12 keystream applied in place: the page cipher's encryption and decryption.
fn apply_cipher(key: &[u8; 32], iv: &[u8; 16], buf: &mut [u8]) {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let mut nonce = [0u8; 24];
    nonce[..16].copy_from_slice(iv);
    chacha20::XChaCha12::new(key.into(), &nonce.into()).apply_keystream(buf);
}

/// Length of the Poly1305 tag at the head of the page MAC.
const TAG_LEN: usize = 16;

/// The page MAC of `data` (`ciphertext ‖ IV`, the IV its last 16 bytes) at page number
/// `pgno` (4 bytes, little-endian), filling `out` (at least [`TAG_LEN`] bytes). `None` if
/// the lengths are not those of a page.
fn mac(key: &[u8; 32], data: &[u8], pgno: &[u8], out: &mut [u8]) -> Option<()> {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    let iv: &[u8; 16] = data.get(data.len().checked_sub(16)?..)?.try_into().ok()?;
    let pgno: &[u8; 4] = pgno.try_into().ok()?;
    if out.len() < TAG_LEN {
        return None;
    }
    // XChaCha20-Poly1305 with the 24-byte nonce IV ‖ pgno ‖ 0⁴: HChaCha20 of the IV gives
    // the subkey, and 0⁴ ‖ pgno ‖ 0⁴ is ChaCha20-Poly1305's nonce.
    let mut subkey = chacha20::hchacha::<chacha20::R20>(key.into(), iv.into());
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &subkey);
    subkey.as_mut_slice().fill(0);
    let sealing = LessSafeKey::new(unbound.ok()?);
    let mut nonce = [0u8; 12];
    nonce[4..8].copy_from_slice(pgno);
    let tag = sealing
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(data),
            &mut [],
        )
        .ok()?;
    out[..TAG_LEN].copy_from_slice(tag.as_ref());
    out[TAG_LEN..].fill(0);
    Some(())
}

/// Fills `out` with random bytes: a ChaCha20 keystream per thread under a key from the
/// operating system (a new thread, a new key). `false` if the system gave no randomness.
fn random(out: &mut [u8]) -> bool {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    use std::cell::RefCell;
    thread_local! {
        static STREAM: RefCell<Option<chacha20::XChaCha20>> = const { RefCell::new(None) };
    }
    STREAM.with(|cell| {
        let Ok(mut cell) = cell.try_borrow_mut() else {
            return false;
        };
        if cell.is_none() {
            let mut seed = [0u8; 56];
            if getrandom::fill(&mut seed).is_err() {
                return false;
            }
            let (key, nonce) = seed.split_at(32);
            let (Ok(key), Ok(nonce)) = (<&[u8; 32]>::try_from(key), <&[u8; 24]>::try_from(nonce))
            else {
                return false;
            };
            *cell = Some(chacha20::XChaCha20::new(key.into(), nonce.into()));
            seed.fill(0);
        }
        let Some(stream) = cell.as_mut() else {
            return false;
        };
        out.fill(0);
        // A stream of 2^64 blocks per thread: it cannot run out in a thread's life.
        stream.try_apply_keystream(out).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_is_its_own_inverse_and_depends_on_key_and_iv() {
        let page: Vec<u8> = (0..4048u32).map(|i| (i % 251) as u8).collect();
        let mut a = page.clone();
        apply_cipher(&[1; 32], &[2; 16], &mut a);
        assert_ne!(a, page);
        let mut b = page.clone();
        apply_cipher(&[1; 32], &[3; 16], &mut b);
        assert_ne!(a, b, "another IV, another keystream");
        let mut c = page.clone();
        apply_cipher(&[4; 32], &[2; 16], &mut c);
        assert_ne!(a, c, "another key, another keystream");
        apply_cipher(&[1; 32], &[2; 16], &mut a);
        assert_eq!(a, page);
    }

    #[test]
    fn mac_covers_the_data_the_iv_and_the_page_number() {
        let data: Vec<u8> = (0..4064u32).map(|i| (i % 253) as u8).collect();
        let mut m = [0u8; 32];
        mac(&[9; 32], &data, &1u32.to_le_bytes(), &mut m).unwrap();
        assert_eq!(m[16..], [0u8; 16], "a 16-byte tag, then zeros");
        let mut other = [0u8; 32];
        mac(&[9; 32], &data, &2u32.to_le_bytes(), &mut other).unwrap();
        assert_ne!(m, other, "the page number is covered");
        let mut altered = data.clone();
        altered[4063] ^= 1; // the IV's last byte
        mac(&[9; 32], &altered, &1u32.to_le_bytes(), &mut other).unwrap();
        assert_ne!(m, other, "the IV is covered");
        altered = data.clone();
        altered[7] ^= 1;
        mac(&[9; 32], &altered, &1u32.to_le_bytes(), &mut other).unwrap();
        assert_ne!(m, other, "the ciphertext is covered");
        mac(&[8; 32], &data, &1u32.to_le_bytes(), &mut other).unwrap();
        assert_ne!(m, other, "the key is covered");
        assert!(mac(&[9; 32], &data, &[1, 0], &mut m).is_none());
        assert!(mac(&[9; 32], &data[..10], &[1, 0, 0, 0], &mut m).is_none());
    }

    #[test]
    fn random_bytes_differ_between_calls_and_threads() {
        let mut a = [0u8; 48];
        let mut b = [0u8; 48];
        assert!(random(&mut a) && random(&mut b));
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 48]);
        let c = std::thread::spawn(|| {
            let mut c = [0u8; 48];
            assert!(random(&mut c));
            c
        })
        .join()
        .unwrap();
        assert!(c != a && c != b);
    }

    #[test]
    fn forgetting_removes_only_the_given_keys() {
        // The registry is filled directly: registering needs the provider installed.
        {
            let mut keys = registry().write().unwrap();
            keys.cipher.extend([[11; 32], [12; 32]]);
            keys.mac.extend([[21; 32], [22; 32]]);
        }
        forget(&[11; 32], &[21; 32]);
        assert!(!is_cipher_key(&[11; 32]) && !is_mac_key(&[21; 32]));
        assert!(is_cipher_key(&[12; 32]) && is_mac_key(&[22; 32]));
        forget(&[12; 32], &[22; 32]);
        assert!(!is_cipher_key(&[12; 32]) && !is_mac_key(&[22; 32]));
    }

    #[test]
    fn registering_before_install_is_refused() {
        // No test in this binary installs the provider (that needs SQLCipher; core's tests do).
        assert_eq!(register(&[1; 32], &[2; 32]), Err(Error::NotInstalled));
        assert!(!is_cipher_key(&[1; 32]));
    }
}
