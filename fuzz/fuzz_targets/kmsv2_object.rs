#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| { let _ = atrest::format::kmsv2::decode_validated(data); });
