#![no_main]
// Seeds: fixtures/rotation/*.yaml
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(t) = std::str::from_utf8(data) {
        let _ = atrest::rotation::doc::parse(t).map(|d| atrest::rotation::stage::derive(&d, None));
    }
});
