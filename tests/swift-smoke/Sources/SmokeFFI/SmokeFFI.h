// The C side of native/src/lib.rs, laid out like the `*FFI.h` header UniFFI generates for
// Swift (same shared structs, same guard, same nullability annotations), so this package links
// the way the generated Mapeo bindings will.

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef UNIFFI_SHARED_H
    #ifndef UNIFFI_SHARED_HEADER_V4
        #error Combining helper code from multiple versions of uniffi is not supported
    #endif
#else
#define UNIFFI_SHARED_H
#define UNIFFI_SHARED_HEADER_V4

typedef struct RustBuffer
{
    uint64_t capacity;
    uint64_t len;
    uint8_t *_Nullable data;
} RustBuffer;

typedef struct ForeignBytes
{
    int32_t len;
    const uint8_t *_Nullable data;
} ForeignBytes;

typedef struct RustCallStatus {
    int8_t code;
    RustBuffer errorBuf;
} RustCallStatus;

#endif // def UNIFFI_SHARED_H

typedef void (*UniffiRustFutureContinuationCallback)(uint64_t, int8_t);

uint32_t smoke_add(uint32_t a, uint32_t b);
RustBuffer smoke_greet(ForeignBytes name, RustCallStatus *_Nonnull out_status);
void smoke_rustbuffer_free(RustBuffer buf, RustCallStatus *_Nonnull out_status);

uint64_t smoke_future_double_later(uint64_t value, uint32_t delay_ms);
void smoke_future_poll(uint64_t handle, UniffiRustFutureContinuationCallback _Nonnull callback, uint64_t callback_data);
uint64_t smoke_future_complete(uint64_t handle, RustCallStatus *_Nonnull out_status);
void smoke_future_free(uint64_t handle);
uint64_t smoke_future_count(void);
