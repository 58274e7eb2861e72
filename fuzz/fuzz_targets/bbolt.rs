#![no_main]
// The bbolt page reader and etcd record walk on arbitrary bytes (seeds: fixtures/etcd/*.db).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = atrest::etcd::snapshot::walk_bytes(data);
});
