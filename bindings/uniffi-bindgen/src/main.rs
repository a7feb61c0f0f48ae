//! The workspace's `uniffi-bindgen`: the generator of the exact UniFFI version `mapeo-ffi` is
//! built with, so generated bindings and the library never disagree. `scripts/bindings.sh`
//! runs it in library mode.

fn main() {
    uniffi::uniffi_bindgen_main()
}
