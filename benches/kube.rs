//! Throughput of the per-object kube work the scanner does: key mapping,
//! encoding classification / plausibility of a decrypted value, and the
//! Secret decode `extract` does.

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
