#![no_main]
// Classification, plausibility and Secret/ConfigMap decoding of a plaintext value.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (atrest::kube::is_plausible(data), atrest::kube::extract(data, atrest::kube::RenderOptions { show_managed_fields: true }));
});
