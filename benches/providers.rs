//! Seal and open throughput of each local provider through the chain, at
//! 256 B, 4 KiB and 64 KiB (typical Secret/ConfigMap sizes up to large ones).
//! Figures and the comparison with `openssl speed` are in docs/performance.md.

use std::hint::black_box;

use atrest::config::{KeySet, NamedKey, ProviderConfig};
use atrest::crypto::Chain;
use atrest::secret::SecretBytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const AAD: &[u8] = b"/registry/secrets/default/s1";

fn chain(provider: &str) -> Chain {
    let keys = KeySet {
        keys: vec![NamedKey { name: "key1".into(), secret: SecretBytes::new(vec![0x42; 32]) }],
    };
    let p = match provider {
        "aesgcm" => ProviderConfig::AesGcm(keys),
        "aescbc" => ProviderConfig::AesCbc(keys),
        _ => ProviderConfig::Secretbox(keys),
    };
    Chain::new(&[&p]).expect("chain")
}

fn providers(c: &mut Criterion) {
    for provider in ["aesgcm", "aescbc", "secretbox"] {
        let chain = chain(provider);
        let mut g = c.benchmark_group(provider);
        for size in [256usize, 4096, 65536] {
            let pt = vec![0xa5u8; size];
            let stored = chain.seal(&pt, AAD).expect("seal");
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new("seal", size), &pt, |b, pt| {
                b.iter(|| chain.seal(black_box(pt), AAD).expect("seal"))
            });
            g.bench_with_input(BenchmarkId::new("open", size), &stored, |b, v| {
                b.iter(|| chain.open(black_box(v), AAD).expect("open"))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, providers);
criterion_main!(benches);
