//! Arbitrary bytes as a stored value: the prefix parser, and the transformer
//! chain's read path with a fixed config (every local provider, a key name
//! with a colon, identity). Must never panic.
#![no_main]

use std::sync::OnceLock;

use atrest::config::{KeySet, NamedKey, ProviderConfig};
use atrest::crypto::Chain;
use atrest::secret::SecretBytes;
use libfuzzer_sys::fuzz_target;

fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let keys = |spec: &[(&str, u8, usize)]| KeySet {
            keys: spec
                .iter()
                .map(|(n, b, l)| NamedKey { name: (*n).into(), secret: SecretBytes::new(vec![*b; *l]) })
                .collect(),
        };
        let providers = [
            ProviderConfig::AesGcm(keys(&[("k1", 1, 32), ("k:2", 2, 16)])),
            ProviderConfig::AesCbc(keys(&[("k1", 3, 24)])),
            ProviderConfig::Secretbox(keys(&[("k1", 4, 32)])),
            ProviderConfig::Identity,
        ];
        Chain::new(&providers.iter().collect::<Vec<_>>()).expect("fixed config")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = atrest::format::prefix::parse(data);
    let _ = chain().open(data, b"/registry/secrets/default/s1");
});
