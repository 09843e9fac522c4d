//! `uniffi-bindgen`, built from the same uniffi as `waybill-mobile`, so the
//! generated sources always match the library's scaffolding. See
//! `docs/mobile.md` for the command that generates them.

fn main() {
    uniffi::uniffi_bindgen_main()
}
