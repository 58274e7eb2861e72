#![no_main]
// Seeds: fixtures/rotation/archive-*.json
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = atrest::rotation::archive::decode_archive(data, None);
});
