#![no_main]
// Classification, plausibility and Secret/ConfigMap decoding of a plaintext
// value; and the hand-read typeMeta agrees with prost wherever it answers.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let body = data.strip_prefix(atrest::kube::object::PROTOBUF_MAGIC).unwrap_or(data);
    assert!(atrest::kube::object::type_meta_readers_agree(body), "typeMeta readers disagree");
    let _ = (atrest::kube::is_plausible(data), atrest::kube::extract(data, atrest::kube::RenderOptions { show_managed_fields: true }));
});
