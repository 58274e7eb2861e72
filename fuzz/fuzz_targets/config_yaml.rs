//! The EncryptionConfiguration loader and lint on arbitrary bytes: must return, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = atrest::config::lint::lint_bytes("fuzz", data, &Default::default(), None);
});
