//! The FFI: SQLCipher's `sqlcipher_provider` (the layout of SQLCipher 4.20, the version
//! libsqlite3-sys 0.40 bundles), filled with the previous provider's functions except for the
//! four this crate overrides (name, random bytes, MAC, cipher). The overrides never panic and
//! never unwind: they check every length SQLCipher passes and answer `SQLITE_ERROR` otherwise.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uchar, c_void};
use std::sync::OnceLock;

use crate::Error;

const SQLITE_OK: c_int = 0;
const SQLITE_ERROR: c_int = 1;
/// The IV size this format reads from SQLCipher (the AES provider's, which sets the layout).
const IV_LEN: usize = 16;

type Hmac = unsafe extern "C" fn(
    ctx: *mut c_void,
    algorithm: c_int,
    key: *const c_uchar,
    key_sz: c_int,
    input: *const c_uchar,
    in_sz: c_int,
    in2: *const c_uchar,
    in2_sz: c_int,
    out: *mut c_uchar,
) -> c_int;
type Cipher = unsafe extern "C" fn(
    ctx: *mut c_void,
    mode: c_int,
    key: *const c_uchar,
    key_sz: c_int,
    iv: *const c_uchar,
    input: *const c_uchar,
    in_sz: c_int,
    out: *mut c_uchar,
) -> c_int;
type HmacSize = unsafe extern "C" fn(ctx: *mut c_void, algorithm: c_int) -> c_int;

/// `struct sqlcipher_provider` of SQLCipher 4.20 (sqlcipher.c, "provider interfaces").
#[repr(C)]
#[derive(Clone, Copy)]
struct Provider {
    init: Option<unsafe extern "C" fn() -> c_int>,
    shutdown: Option<unsafe extern "C" fn()>,
    get_provider_name: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    add_random: Option<unsafe extern "C" fn(*mut c_void, *const c_void, c_int) -> c_int>,
    random: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int>,
    hmac: Option<Hmac>,
    kdf: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const c_uchar,
            c_int,
            *const c_uchar,
            c_int,
            c_int,
            c_int,
            *mut c_uchar,
        ) -> c_int,
    >,
    cipher: Option<Cipher>,
    get_cipher: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    get_key_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_iv_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_block_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_hmac_sz: Option<HmacSize>,
    ctx_init: Option<unsafe extern "C" fn(*mut *mut c_void) -> c_int>,
    ctx_free: Option<unsafe extern "C" fn(*mut *mut c_void) -> c_int>,
    fips_status: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_provider_version: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    next: *mut Provider,
}

unsafe extern "C" {
    fn sqlcipher_get_provider() -> *mut Provider;
    fn sqlcipher_register_provider(p: *mut Provider) -> c_int;
    fn sqlcipher_malloc(size: u64) -> *mut c_void;
    fn sqlcipher_free(ptr: *mut c_void, size: u64);
}

/// The previous provider's functions this one falls back to.
#[derive(Clone, Copy)]
struct Previous {
    hmac: Hmac,
    cipher: Cipher,
    hmac_size: HmacSize,
}

// SAFETY: plain function pointers into SQLCipher, valid for the life of the process.
unsafe impl Send for Previous {}
unsafe impl Sync for Previous {}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();

const NAME: &std::ffi::CStr = c"mapeo-page-cipher";

pub(crate) fn install() -> Result<(), Error> {
    // SAFETY: sqlite3_initialize may be called any number of times from any thread.
    let rc = unsafe { libsqlite3_sys::sqlite3_initialize() };
    if rc != SQLITE_OK {
        return Err(Error::SqliteInit(rc));
    }
    // SAFETY: SQLCipher's own accessor; the provider it returns stays allocated (providers are
    // freed only by sqlite3_shutdown, which this process does not call).
    let current = unsafe { sqlcipher_get_provider() };
    if current.is_null() {
        return Err(Error::NoProvider);
    }
    // SAFETY: non-null, and laid out as `Provider` (SQLCipher 4.20, pinned in the workspace).
    let previous = unsafe { *current };
    let (Some(hmac), Some(cipher), Some(hmac_size)) =
        (previous.hmac, previous.cipher, previous.get_hmac_sz)
    else {
        return Err(Error::NoProvider);
    };
    let _ = PREVIOUS.set(Previous {
        hmac,
        cipher,
        hmac_size,
    });
    let ours = Provider {
        init: None,
        shutdown: None,
        get_provider_name: Some(provider_name),
        random: Some(random),
        hmac: Some(page_mac),
        cipher: Some(page_cipher),
        next: std::ptr::null_mut(),
        ..previous
    };
    let size = std::mem::size_of::<Provider>() as u64;
    // SAFETY: SQLCipher frees providers with sqlcipher_free, so ours comes from its allocator;
    // the write fills the whole allocation before SQLCipher sees it.
    unsafe {
        let p = sqlcipher_malloc(size).cast::<Provider>();
        if p.is_null() {
            return Err(Error::Register(7)); // SQLITE_NOMEM
        }
        p.write(ours);
        let rc = sqlcipher_register_provider(p);
        if rc != SQLITE_OK {
            sqlcipher_free(p.cast(), size);
            return Err(Error::Register(rc));
        }
    }
    Ok(())
}

unsafe extern "C" fn provider_name(_ctx: *mut c_void) -> *const c_char {
    NAME.as_ptr()
}

unsafe extern "C" fn random(_ctx: *mut c_void, buffer: *mut c_void, length: c_int) -> c_int {
    let Ok(len) = usize::try_from(length) else {
        return SQLITE_ERROR;
    };
    if len == 0 {
        return SQLITE_OK;
    }
    if buffer.is_null() {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher passes a writable buffer of `length` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(buffer.cast::<u8>(), len) };
    if crate::random(out) {
        SQLITE_OK
    } else {
        SQLITE_ERROR
    }
}

/// A 32-byte key SQLCipher passes, if it is one.
///
/// # Safety
/// `key` must be null or point to `key_sz` readable bytes.
unsafe fn key_of<'a>(key: *const c_uchar, key_sz: c_int) -> Option<&'a [u8; 32]> {
    if key.is_null() || key_sz != 32 {
        return None;
    }
    // SAFETY: per the function's contract, 32 readable bytes.
    Some(unsafe { &*key.cast::<[u8; 32]>() })
}

/// # Safety
/// `ptr` must be null (with `len` 0) or point to `len` readable bytes.
unsafe fn bytes<'a>(ptr: *const c_uchar, len: c_int) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: per the function's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

#[allow(clippy::too_many_arguments)] // SQLCipher's signature
unsafe extern "C" fn page_mac(
    ctx: *mut c_void,
    algorithm: c_int,
    key: *const c_uchar,
    key_sz: c_int,
    input: *const c_uchar,
    in_sz: c_int,
    in2: *const c_uchar,
    in2_sz: c_int,
    out: *mut c_uchar,
) -> c_int {
    let Some(previous) = PREVIOUS.get() else {
        return SQLITE_ERROR;
    };
    // SAFETY: SQLCipher passes its MAC key of `key_sz` bytes.
    match unsafe { key_of(key, key_sz) } {
        Some(k) if crate::is_mac_key(k) => {
            // SAFETY: the MAC size comes from the previous provider for the same setting,
            // which is the size of SQLCipher's output buffer.
            let size = unsafe { (previous.hmac_size)(ctx, algorithm) };
            let Ok(size) = usize::try_from(size) else {
                return SQLITE_ERROR;
            };
            // SAFETY: SQLCipher passes its inputs with their lengths.
            let (Some(a), Some(b)) = (unsafe { bytes(input, in_sz) }, unsafe {
                bytes(in2, in2_sz)
            }) else {
                return SQLITE_ERROR;
            };
            if out.is_null() || size == 0 {
                return SQLITE_ERROR;
            }
            // SAFETY: `out` has room for the MAC size (see above).
            let out = unsafe { std::slice::from_raw_parts_mut(out, size) };
            match crate::mac(k, a, b, out) {
                Some(()) => SQLITE_OK,
                None => SQLITE_ERROR,
            }
        }
        // SAFETY: the caller's arguments, unchanged, to the provider they were meant for.
        _ => unsafe {
            (previous.hmac)(ctx, algorithm, key, key_sz, input, in_sz, in2, in2_sz, out)
        },
    }
}

#[allow(clippy::too_many_arguments)] // SQLCipher's signature
unsafe extern "C" fn page_cipher(
    ctx: *mut c_void,
    mode: c_int,
    key: *const c_uchar,
    key_sz: c_int,
    iv: *const c_uchar,
    input: *const c_uchar,
    in_sz: c_int,
    out: *mut c_uchar,
) -> c_int {
    let Some(previous) = PREVIOUS.get() else {
        return SQLITE_ERROR;
    };
    // SAFETY: SQLCipher passes its cipher key of `key_sz` bytes.
    match unsafe { key_of(key, key_sz) } {
        Some(k) if crate::is_cipher_key(k) => {
            let Ok(len) = usize::try_from(in_sz) else {
                return SQLITE_ERROR;
            };
            if iv.is_null() || input.is_null() || out.is_null() {
                return SQLITE_ERROR;
            }
            // SAFETY: SQLCipher passes an IV of its IV size (16, the AES provider's), and
            // input and output buffers of `in_sz` bytes each. They may be the same buffer, so
            // the input is first moved into the output and enciphered there.
            unsafe {
                let iv = &*iv.cast::<[u8; IV_LEN]>();
                std::ptr::copy(input, out, len);
                let buf = std::slice::from_raw_parts_mut(out, len);
                crate::apply_cipher(k, iv, buf);
            }
            SQLITE_OK
        }
        // SAFETY: the caller's arguments, unchanged, to the provider they were meant for.
        _ => unsafe { (previous.cipher)(ctx, mode, key, key_sz, iv, input, in_sz, out) },
    }
}
