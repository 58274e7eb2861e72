//! KMS provider throughput against the real test plugin on a unix socket:
//! warm reads (seed/DEK cached: HKDF + AES-GCM only), writes, and reads that
//! pay one plugin Decrypt round trip each (v1 with the cache disabled).

#[path = "../tests/support/kms_plugin.rs"]
mod kms_plugin;

use std::hint::black_box;
use std::time::Duration;

use atrest::config::{KmsApiVersion, KmsConfig};
use atrest::crypto::kms;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn cfg(api: KmsApiVersion, endpoint: &str, cachesize: Option<i32>) -> KmsConfig {
    KmsConfig {
        api_version: api,
        name: "bench".into(),
        endpoint: endpoint.into(),
        cachesize,
        timeout: Duration::from_secs(3),
    }
}

fn bench(c: &mut Criterion) {
    let plugin = kms_plugin::KmsPlugin::start();
    let plaintext = vec![0x5au8; 1024];
    let aad = b"/registry/secrets/default/bench";
    let mut g = c.benchmark_group("kms");
    g.throughput(Throughput::Elements(1));
    for (label, api, cachesize) in [
        ("v2", KmsApiVersion::V2, None),
        ("v1", KmsApiVersion::V1, None),
        ("v1-nocache", KmsApiVersion::V1, Some(-1)),
    ] {
        let p = kms::provider(&cfg(api, &plugin.endpoint, cachesize)).unwrap();
        let value = p.seal(&plaintext, aad).unwrap();
        let body = value[p.prefix().len()..].to_vec();
        p.open(&body, aad).unwrap();
        g.bench_function(format!("{label}/open-1KiB"), |b| {
            b.iter(|| black_box(p.open(black_box(&body), aad).unwrap()))
        });
        if label != "v1-nocache" {
            g.bench_function(format!("{label}/seal-1KiB"), |b| {
                b.iter(|| black_box(p.seal(black_box(&plaintext), aad).unwrap()))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
