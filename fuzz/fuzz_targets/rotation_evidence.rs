#![no_main]
// Seeds: fixtures/rotation/evidence-*.json
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = atrest::rotation::Evidence::from_scan_json(data);
});
