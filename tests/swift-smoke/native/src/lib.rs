//! A throwaway C-ABI library for tests/swift-smoke: the shapes UniFFI's generated Swift calls
//! (`RustBuffer`, `ForeignBytes`, `RustCallStatus`, a polled future that wakes its caller
//! through a continuation callback from another thread), written by hand so the Swift toolchain
//! can be checked before the real bindings exist. Nothing here is part of Mapeo.

use std::collections::BTreeMap;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

/// Bytes owned by Rust, handed to the caller, who gives them back to `smoke_rustbuffer_free`.
#[repr(C)]
pub struct RustBuffer {
    capacity: u64,
    len: u64,
    data: *mut u8,
}

/// Bytes owned by the caller, borrowed for the length of one call.
#[repr(C)]
pub struct ForeignBytes {
    len: i32,
    data: *const u8,
}

/// Outcome of a call: `code` 0 success, 1 an expected error (message in `error_buf`), 2 a bug.
#[repr(C)]
pub struct RustCallStatus {
    code: i8,
    error_buf: RustBuffer,
}

const CALL_ERROR: i8 = 1;
const CALL_UNEXPECTED: i8 = 2;

/// Polling outcomes, as UniFFI numbers them.
const POLL_READY: i8 = 0;
const POLL_WAKE: i8 = 1;

/// Called by Rust, from any thread, to resume the caller that polled: `(data, poll_result)`.
pub type ContinuationCallback = extern "C" fn(u64, i8);

impl RustBuffer {
    fn from_vec(bytes: Vec<u8>) -> Self {
        let mut bytes = ManuallyDrop::new(bytes);
        Self {
            capacity: bytes.capacity() as u64,
            len: bytes.len() as u64,
            data: bytes.as_mut_ptr(),
        }
    }
}

fn fail(status: &mut RustCallStatus, code: i8, message: &str) {
    status.code = code;
    status.error_buf = RustBuffer::from_vec(message.as_bytes().to_vec());
}

/// Adds with wrapping, so a caller can tell Rust did the sum (Swift's `+` would trap).
#[unsafe(no_mangle)]
pub extern "C" fn smoke_add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

/// Returns "hello, NAME" for UTF-8 `name`; an empty or non-UTF-8 name is an error.
///
/// # Safety
/// `name.data` points to `name.len` readable bytes (or is null with length 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn smoke_greet(
    name: ForeignBytes,
    status: &mut RustCallStatus,
) -> RustBuffer {
    let bytes: &[u8] = match usize::try_from(name.len) {
        Ok(len) if len > 0 && !name.data.is_null() => {
            // SAFETY: the caller promises `len` readable bytes at `data`.
            unsafe { std::slice::from_raw_parts(name.data, len) }
        }
        _ => &[],
    };
    match std::str::from_utf8(bytes) {
        Ok("") => fail(status, CALL_ERROR, "empty name"),
        Ok(name) => return RustBuffer::from_vec(format!("hello, {name}").into_bytes()),
        Err(_) => fail(status, CALL_ERROR, "name is not utf-8"),
    }
    RustBuffer::from_vec(Vec::new())
}

/// Frees a buffer this library returned.
///
/// # Safety
/// `buf` came from this library and is freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn smoke_rustbuffer_free(buf: RustBuffer, _status: &mut RustCallStatus) {
    if !buf.data.is_null() {
        // SAFETY: built by `RustBuffer::from_vec` from exactly these parts.
        drop(unsafe { Vec::from_raw_parts(buf.data, buf.len as usize, buf.capacity as usize) });
    }
}

/// One pending computation: its result once a worker thread finishes, and who to wake then.
#[derive(Default)]
struct FutureState {
    result: Option<Result<u64, String>>,
    waiting: Option<(ContinuationCallback, u64)>,
}

static FUTURES: Mutex<BTreeMap<u64, Arc<Mutex<FutureState>>>> = Mutex::new(BTreeMap::new());
static NEXT_FUTURE: AtomicU64 = AtomicU64::new(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn future(handle: u64) -> Option<Arc<Mutex<FutureState>>> {
    lock(&FUTURES).get(&handle).cloned()
}

/// Starts doubling `value` on another thread after `delay_ms`; overflow is an error. Returns a
/// handle for `smoke_future_poll`, `smoke_future_complete` and `smoke_future_free`.
#[unsafe(no_mangle)]
pub extern "C" fn smoke_future_double_later(value: u64, delay_ms: u32) -> u64 {
    let handle = NEXT_FUTURE.fetch_add(1, Ordering::Relaxed);
    let state = Arc::new(Mutex::new(FutureState::default()));
    lock(&FUTURES).insert(handle, state.clone());
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(delay_ms.into()));
        let result = value.checked_mul(2).ok_or_else(|| "overflow".to_owned());
        let waiting = {
            let mut state = lock(&state);
            state.result = Some(result);
            state.waiting.take()
        };
        // Outside the lock: the caller polls again from inside this call.
        if let Some((callback, data)) = waiting {
            callback(data, POLL_WAKE);
        }
    });
    handle
}

/// Calls `callback(data, READY)` now if the result is there (or the handle is unknown, which
/// `complete` then reports), else `callback(data, WAKE)` later from the worker thread.
#[unsafe(no_mangle)]
pub extern "C" fn smoke_future_poll(handle: u64, callback: ContinuationCallback, data: u64) {
    if let Some(state) = future(handle) {
        let mut state = lock(&state);
        if state.result.is_none() {
            state.waiting = Some((callback, data));
            return;
        }
    }
    callback(data, POLL_READY);
}

/// Takes the result of a ready future.
#[unsafe(no_mangle)]
pub extern "C" fn smoke_future_complete(handle: u64, status: &mut RustCallStatus) -> u64 {
    let result = future(handle).and_then(|state| lock(&state).result.take());
    match result {
        Some(Ok(value)) => return value,
        Some(Err(message)) => fail(status, CALL_ERROR, &message),
        None => fail(status, CALL_UNEXPECTED, "future not ready or unknown"),
    }
    0
}

/// Forgets a future; its worker, if still running, finishes into nothing.
#[unsafe(no_mangle)]
pub extern "C" fn smoke_future_free(handle: u64) {
    lock(&FUTURES).remove(&handle);
}

/// How many futures are not freed yet: lets the Swift tests check they free every one.
#[unsafe(no_mangle)]
pub extern "C" fn smoke_future_count() -> u64 {
    lock(&FUTURES).len() as u64
}
