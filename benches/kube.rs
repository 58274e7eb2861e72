//! Throughput of the per-object kube work the scanner does: key mapping,
//! encoding classification / plausibility of a decrypted value, and the
//! Secret decode `extract` does.
//!
//! Measured 2026-11-28 on the shared 2-core build machine under load
//! (load average ~13, so an upper bound): parse_key ~1.06 µs/key (0.94 M
//! keys/s); is_plausible on a real 366-byte apiserver Secret 1.09 µs
//! (320 MiB/s), on a 118-byte JSON CR 2.0 µs, on a 102-byte CBOR CR 1.6 µs;
//! extract (decode + JSON render) of that Secret 10.9 µs.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/kube/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn bench(c: &mut Criterion) {
    let secret = fixture("upstream-kmsv2-dek-source-aes-gcm-key.pb");
    let cr = fixture("cr.json");
    let cbor = fixture("cr.cbor");
    let mapper = atrest::kube::KeyMapper::default();
    let keys: Vec<Vec<u8>> = [
        "/registry/secrets/kube-system/bootstrap-token-abcdef",
        "/registry/services/specs/default/kubernetes",
        "/registry/deployments/prod/web",
        "/registry/cr.bar.com/foos/ns1/cr1foo",
        "/registry/minions/node-17",
        "/registry/ranges/serviceips",
    ]
    .iter()
    .map(|k| k.as_bytes().to_vec())
    .collect();

    let mut g = c.benchmark_group("kube");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("parse_key x6", |b| {
        b.iter(|| {
            for k in &keys {
                let _ = black_box(mapper.parse(black_box(k)));
            }
        })
    });
    for (name, v) in [("protobuf secret", &secret), ("json cr", &cr), ("cbor cr", &cbor)] {
        g.throughput(Throughput::Bytes(v.len() as u64));
        g.bench_function(format!("is_plausible {name}"), |b| {
            b.iter(|| atrest::kube::is_plausible(black_box(v)))
        });
    }
    g.throughput(Throughput::Bytes(secret.len() as u64));
    g.bench_function("extract protobuf secret", |b| {
        b.iter(|| atrest::kube::extract(black_box(&secret), atrest::kube::RenderOptions::default()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
