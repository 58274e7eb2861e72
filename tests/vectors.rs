//! Every vector in `fixtures/vectors/vectors.json` (made by an independent
//! Python implementation) holds through atrest's providers and chain, and
//! values atrest seals decrypt with the Python implementation.

use std::io::Write;
use std::process::{Command, Stdio};

use atrest::config::{KeySet, NamedKey, ProviderConfig};
use atrest::crypto::aesgcm::{GcmBackend, GcmKey, NONCE_LEN};
use atrest::crypto::{Chain, CryptoError};
use atrest::secret::SecretBytes;
use base64::Engine;
use serde_json::Value;

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

struct Vector {
    id: String,
    provider: String,
    key_name: String,
    key: Vec<u8>,
    etcd_key: String,
    plaintext: Vec<u8>,
    value: Vec<u8>,
    expect: String,
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/vectors/vectors.json"
    ))
    .expect("fixtures/vectors/vectors.json");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_else(|| panic!("field {k}")).to_string();
    doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            id: s(v, "id"),
            provider: s(v, "provider"),
            key_name: s(v, "key_name"),
            key: B64.decode(s(v, "key_b64")).unwrap(),
            etcd_key: s(v, "etcd_key"),
            plaintext: hex::decode(s(v, "plaintext_hex")).unwrap(),
            value: hex::decode(s(v, "value_hex")).unwrap(),
            expect: s(v, "expect"),
        })
        .collect()
}

fn provider_config(provider: &str, name: &str, key: &[u8]) -> ProviderConfig {
    let keys =
        KeySet { keys: vec![NamedKey { name: name.into(), secret: SecretBytes::from_slice(key) }] };
    match provider {
        "aesgcm" => ProviderConfig::AesGcm(keys),
        "aescbc" => ProviderConfig::AesCbc(keys),
        "secretbox" => ProviderConfig::Secretbox(keys),
        p => panic!("unknown provider {p}"),
    }
}

fn chain_for(v: &Vector) -> Chain {
    Chain::new(&[&provider_config(&v.provider, &v.key_name, &v.key)]).unwrap()
}

/// Whether an error is an opaque "did not decrypt" (wrong key, tampering, AAD).
fn is_did_not_decrypt(e: &CryptoError) -> bool {
    matches!(e, CryptoError::DidNotDecrypt { .. } | CryptoError::BadPadding { .. })
}

fn is_truncation(e: &CryptoError) -> bool {
    matches!(e, CryptoError::TooShort { .. } | CryptoError::NotBlockMultiple { .. })
        || is_did_not_decrypt(e)
}

#[test]
fn every_vector_meets_its_expectation() {
    let all = vectors();
    assert!(all.len() > 100, "vectors.json looks incomplete");
    let mut seen = std::collections::BTreeSet::new();
    for v in &all {
        seen.insert(v.expect.clone());
        let got = chain_for(v).open(&v.value, v.etcd_key.as_bytes());
        let ok = match (v.expect.as_str(), &got) {
            ("decrypts", Ok(o)) => o.plaintext == v.plaintext && !o.stale,
            ("wrong-key" | "tampered" | "wrong-etcd-key", Err(e)) => is_did_not_decrypt(e),
            ("truncated", Err(e)) => is_truncation(e) || matches!(e, CryptoError::NoMatch(_)),
            ("unknown-key-name", Err(CryptoError::NoMatch(m))) => {
                m.starts_with("no matching key was found")
            }
            ("unknown-prefix", Err(CryptoError::NoMatch(m))) => m == "no matching prefix found",
            _ => false,
        };
        assert!(
            ok,
            "vector {} expected {}, got {:?}",
            v.id,
            v.expect,
            got.as_ref().map(|o| o.plaintext.len()).map_err(|e| e.to_string())
        );
    }
    for class in [
        "decrypts",
        "wrong-key",
        "tampered",
        "truncated",
        "wrong-etcd-key",
        "unknown-key-name",
        "unknown-prefix",
    ] {
        assert!(seen.contains(class), "no vector of class {class}");
    }
}

#[test]
fn every_truncation_length_fails() {
    for v in vectors().iter().filter(|v| v.expect == "decrypts" && v.value.len() < 400) {
        let chain = chain_for(v);
        for cut in 0..v.value.len() {
            match chain.open(&v.value[..cut], v.etcd_key.as_bytes()) {
                Err(_) => {}
                // aescbc: a cut at a block boundary leaves a well-formed shorter
                // ciphertext whose last byte may pass the padding check (~1/256);
                // it can never yield the original plaintext.
                Ok(o) => assert!(
                    v.provider == "aescbc" && o.plaintext != v.plaintext,
                    "{}: truncation to {cut} bytes decrypted",
                    v.id
                ),
            }
        }
    }
}

#[test]
fn every_single_bit_flip_fails_for_authenticated_providers() {
    for v in vectors()
        .iter()
        .filter(|v| v.expect == "decrypts" && v.provider != "aescbc" && v.value.len() < 200)
    {
        let chain = chain_for(v);
        for i in 0..v.value.len() {
            let mut t = v.value.clone();
            t[i] ^= 0x80;
            assert!(
                chain.open(&t, v.etcd_key.as_bytes()).is_err(),
                "{}: flip at {i} still decrypted",
                v.id
            );
        }
    }
}

#[test]
fn only_aesgcm_binds_the_value_to_its_etcd_key() {
    for v in
        vectors().iter().filter(|v| v.expect == "decrypts" && v.etcd_key.starts_with("/registry/"))
    {
        let moved = chain_for(v).open(&v.value, b"/registry/secrets/other-ns/s1");
        match v.provider.as_str() {
            "aesgcm" => {
                assert!(matches!(moved, Err(CryptoError::DidNotDecrypt { .. })), "{}", v.id)
            }
            _ => assert_eq!(moved.unwrap().plaintext, v.plaintext, "{}", v.id),
        }
    }
}

/// The aesgcm vectors hold on both of [`GcmKey`]'s backends, not only on the
/// one this machine picks: each body opens (or fails) as the vector says, and
/// sealing a plaintext again with the vector's nonce gives the vector's bytes.
#[test]
fn every_aesgcm_vector_holds_on_both_backends() {
    let mut checked = 0;
    for v in vectors().iter().filter(|v| v.provider == "aesgcm") {
        let prefix = format!("k8s:enc:aesgcm:v1:{}:", v.key_name);
        let Some(body) = v.value.strip_prefix(prefix.as_bytes()) else { continue };
        for backend in [GcmBackend::Accelerated, GcmBackend::Portable] {
            let key = GcmKey::with_backend("k", SecretBytes::from_slice(&v.key), backend).unwrap();
            let got = key.open(body, v.etcd_key.as_bytes(), &v.key_name);
            match v.expect.as_str() {
                "decrypts" => {
                    assert_eq!(got.unwrap(), v.plaintext, "vector {} on {backend:?}", v.id);
                    let nonce: [u8; NONCE_LEN] = body[..NONCE_LEN].try_into().unwrap();
                    let sealed =
                        key.seal_with_nonce(nonce, &v.plaintext, v.etcd_key.as_bytes()).unwrap();
                    assert_eq!(sealed, body, "vector {} re-sealed on {backend:?}", v.id);
                }
                _ => assert!(got.is_err(), "vector {} ({}) opened on {backend:?}", v.id, v.expect),
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} aesgcm checks: vectors.json looks incomplete");
}

/// What the portable aesgcm backend seals (AES-128/-256 seals in
/// [`python_decrypts_what_atrest_seals`] go through the accelerated one
/// where this CPU has it) decrypts with the Python implementation.
#[test]
fn python_decrypts_what_the_portable_aesgcm_backend_seals() {
    let mut items = Vec::new();
    let mut expected = Vec::new();
    for len in [16usize, 24, 32] {
        let key: Vec<u8> = (0..len).map(|j| (j * 13 + 5) as u8).collect();
        let gcm =
            GcmKey::with_backend("k", SecretBytes::from_slice(&key), GcmBackend::Portable).unwrap();
        for n in [0usize, 1, 16, 129, 3000] {
            let pt: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
            let etcd_key = format!("/registry/secrets/ns/portable-{len}-{n}");
            let mut value = b"k8s:enc:aesgcm:v1:k:".to_vec();
            let nonce = [(len + n) as u8; NONCE_LEN];
            value.extend(gcm.seal_with_nonce(nonce, &pt, etcd_key.as_bytes()).unwrap());
            items.push(serde_json::json!({
                "provider": "aesgcm", "key_name": "k", "key_b64": B64.encode(&key),
                "etcd_key": etcd_key, "value_hex": hex::encode(&value),
            }));
            expected.push(hex::encode(&pt));
        }
    }
    assert_eq!(python_verify(&items), expected);
}

/// Seals with atrest, decrypts with the Python implementation.
#[test]
fn python_decrypts_what_atrest_seals() {
    let cases: &[(&str, usize)] = &[
        ("aesgcm", 16),
        ("aesgcm", 24),
        ("aesgcm", 32),
        ("aescbc", 16),
        ("aescbc", 24),
        ("aescbc", 32),
        ("secretbox", 32),
    ];
    let plaintexts: Vec<Vec<u8>> =
        vec![vec![], b"x".to_vec(), vec![0x10; 16], (0..=255u8).cycle().take(3000).collect()];
    let mut items = Vec::new();
    let mut expected = Vec::new();
    for (i, (provider, len)) in cases.iter().enumerate() {
        let key: Vec<u8> = (0..*len).map(|j| (i * 31 + j * 7) as u8).collect();
        let name = format!("key-{i}:with:colons");
        let chain = Chain::new(&[&provider_config(provider, &name, &key)]).unwrap();
        for pt in &plaintexts {
            let etcd_key = format!("/registry/secrets/ns{i}/name-{}", pt.len());
            let value = chain.seal(pt, etcd_key.as_bytes()).unwrap();
            items.push(serde_json::json!({
                "provider": provider, "key_name": name, "key_b64": B64.encode(&key),
                "etcd_key": etcd_key, "value_hex": hex::encode(&value),
            }));
            expected.push(hex::encode(pt));
        }
    }
    assert_eq!(python_verify(&items), expected);
}

/// Runs `fixtures/vectors/verify.py` on `items` and returns the plaintext
/// (hex) it decrypted from each.
fn python_verify(items: &[Value]) -> Vec<String> {
    let probe = Command::new("python3").args(["-c", "import cryptography, nacl"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "python3 with the `cryptography` and `pynacl` modules is required for the \
             independent cross-check; run: python3 -m pip install cryptography pynacl \
             (scripts/test does this)"
        ),
    }
    let mut child = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vectors/verify.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(items).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "verify.py failed");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), items.len());
    results.iter().map(|r| r["plaintext_hex"].as_str().unwrap_or("<none>").to_string()).collect()
}
