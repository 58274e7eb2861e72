//! KMS v1/v2 providers against a real gRPC plugin on a unix socket: upstream
//! vectors, independent Python vectors (both directions), failures, caching,
//! staleness on key rotation, and transport behaviour.

mod support {
    pub mod kms_plugin;
}

use std::process::Command;
use std::time::{Duration, Instant};

use atrest::config::{KmsApiVersion, KmsConfig};
use atrest::crypto::kms::{self, KmsV1Provider, KmsV2Provider};
use atrest::crypto::{CryptoError, KeyUsed, Provider};
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::kms_plugin::KmsPlugin;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vectors/kms");

fn cfg(api: KmsApiVersion, name: &str, endpoint: &str) -> KmsConfig {
    KmsConfig {
        api_version: api,
        name: name.into(),
        endpoint: endpoint.into(),
        cachesize: None,
        timeout: Duration::from_secs(3),
    }
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()).unwrap()
}

fn open(p: &dyn Provider, value: &[u8], aad: &str) -> Result<atrest::crypto::Opened, CryptoError> {
    let body = value.strip_prefix(p.prefix()).expect("value carries the provider prefix");
    p.open(body, aad.as_bytes())
}

#[test]
fn upstream_v2_values_decrypt_through_the_plugin() {
    let plugin = KmsPlugin::start();
    let p = kms::provider(&cfg(KmsApiVersion::V2, "kms-provider", &plugin.endpoint)).unwrap();
    let doc = fixture("upstream-v2.json");
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    for v in vectors {
        let value = hex::decode(v["value_hex"].as_str().unwrap()).unwrap();
        let aad = v["aad"].as_str().unwrap();
        let opened = open(p.as_ref(), &value, aad).unwrap();
        assert_eq!(opened.plaintext.len() as u64, v["plaintext_len"].as_u64().unwrap());
        assert_eq!(
            hex::encode(Sha256::digest(&opened.plaintext)),
            v["plaintext_sha256"].as_str().unwrap()
        );
        assert!(opened.plaintext.starts_with(b"k8s\x00"));
        assert_eq!(
            opened.key,
            KeyUsed::Kms { version: "v2", name: "kms-provider".into(), key_id: "1".into() }
        );
        // Same key ID as the plugin's Status: only the legacy DEK mode is stale.
        let seed_mode = v["source_type"] == "HKDF_SHA256_XNONCE_AES_GCM_SEED";
        assert_eq!(opened.stale, !seed_mode, "{}", v["name"]);
        let (key_id, ann) = plugin.state().last_decrypt.unwrap();
        assert_eq!(key_id, "1");
        assert_eq!(ann.get("local-kek.kms.kubernetes.io").unwrap(), b"encrypted-local-kek");
        // Another etcd key (AAD) must not open it.
        let other = aad.replace("kms-v2-legacy-data", "default");
        assert!(matches!(
            open(p.as_ref(), &value, &other),
            Err(CryptoError::DidNotDecrypt { provider: "kms v2", .. })
        ));
    }
    // Reading both values again (and the wrong-AAD attempts) hit the cache.
    let calls = plugin.state().decrypt_calls;
    assert_eq!(calls, 2);
    for v in vectors {
        let value = hex::decode(v["value_hex"].as_str().unwrap()).unwrap();
        open(p.as_ref(), &value, v["aad"].as_str().unwrap()).unwrap();
    }
    assert_eq!(plugin.state().decrypt_calls, 2);
}

#[test]
fn python_vectors_decrypt_or_fail_as_stated() {
    let plugin = KmsPlugin::start();
    let v1 = kms::provider(&cfg(KmsApiVersion::V1, "v1prov", &plugin.endpoint)).unwrap();
    let v2 = kms::provider(&cfg(KmsApiVersion::V2, "v2prov", &plugin.endpoint)).unwrap();
    let doc = fixture("generated.json");
    let mut seen = 0;
    for v in doc["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let p = if v["api_version"] == "v1" { v1.as_ref() } else { v2.as_ref() };
        let value = hex::decode(v["value_hex"].as_str().unwrap()).unwrap();
        let got = open(p, &value, v["aad"].as_str().unwrap());
        match v["expect"].as_str().unwrap() {
            "decrypts" => {
                let o = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    hex::encode(&o.plaintext),
                    v["plaintext_hex"].as_str().unwrap(),
                    "{name}"
                );
                assert_eq!(o.stale, v["stale"].as_bool().unwrap(), "{name}");
                let KeyUsed::Kms { key_id, .. } = o.key else { panic!("{name}: not kms") };
                assert_eq!(key_id, v["key_id"].as_str().unwrap(), "{name}");
            }
            "error" => {
                let err = got.err().unwrap_or_else(|| panic!("{name}: opened")).to_string();
                let want = v["error_contains"].as_str().unwrap();
                assert!(err.contains(want), "{name}: {err:?} lacks {want:?}");
            }
            other => panic!("unknown expectation {other}"),
        }
        seen += 1;
    }
    assert!(seen >= 17);
}

#[test]
fn values_we_seal_decrypt_in_python() {
    let plugin = KmsPlugin::start();
    let v1 = kms::provider(&cfg(KmsApiVersion::V1, "v1prov", &plugin.endpoint)).unwrap();
    let v2 = kms::provider(&cfg(KmsApiVersion::V2, "v2prov", &plugin.endpoint)).unwrap();
    let mut vectors = Vec::new();
    for (api, p) in [("v1", &v1), ("v2", &v2)] {
        for (i, pt) in
            [&b""[..], b"x", b"k8s\x00some protobuf object", &[7u8; 1000][..]].iter().enumerate()
        {
            let aad = format!("/registry/secrets/ns/{api}-{i}");
            let value = p.seal(pt, aad.as_bytes()).unwrap();
            assert!(value.starts_with(format!("k8s:enc:kms:{api}:{api}prov:").as_bytes()));
            // And we read back our own value, fresh (not stale).
            let o = open(p.as_ref(), &value, &aad).unwrap();
            assert_eq!(&o.plaintext, pt);
            assert!(!o.stale);
            vectors.push(serde_json::json!({
                "name": format!("atrest-{api}-{i}"), "api_version": api,
                "provider_name": format!("{api}prov"), "value_hex": hex::encode(&value),
                "aad": aad, "plaintext_hex": hex::encode(pt),
            }));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealed.json");
    std::fs::write(&path, serde_json::json!({ "vectors": vectors }).to_string()).unwrap();
    let out = Command::new("python3")
        .arg(format!("{FIXTURES}/generate.py"))
        .arg("verify")
        .arg(&path)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("8/8 values verified"), "{stdout}");
}

#[test]
fn v2_writes_seed_mode_reuses_the_seed_and_marks_old_key_ids_stale() {
    let plugin = KmsPlugin::start();
    let p = KmsV2Provider::new(&cfg(KmsApiVersion::V2, "kms", &plugin.endpoint)).unwrap();
    let values: Vec<Vec<u8>> = (0..50)
        .map(|i| p.seal(format!("obj{i}").as_bytes(), format!("/r/{i}").as_bytes()).unwrap())
        .collect();
    assert_eq!(plugin.state().encrypt_calls, 1, "one seed for all writes");
    let body = values[0].strip_prefix(b"k8s:enc:kms:v2:kms:".as_slice()).unwrap();
    let obj = atrest::format::kmsv2::decode_validated(body).unwrap();
    assert_eq!(obj.encrypted_dek_source_type, 1);
    assert_eq!(obj.key_id, "1");
    assert_eq!(obj.encrypted_data.len(), 32 + 12 + 4 + 16);
    assert_eq!(obj.annotations.get("local-kek.kms.kubernetes.io").unwrap(), b"encrypted-local-kek");

    // A fresh provider (cold cache) reads all 50 with a single plugin Decrypt.
    let reader = KmsV2Provider::new(&cfg(KmsApiVersion::V2, "kms", &plugin.endpoint)).unwrap();
    let before = plugin.state().decrypt_calls;
    for (i, v) in values.iter().enumerate() {
        let o = open(&reader, v, &format!("/r/{i}")).unwrap();
        assert_eq!(o.plaintext, format!("obj{i}").as_bytes());
        assert!(!o.stale);
    }
    assert_eq!(plugin.state().decrypt_calls - before, 1);
    assert_eq!(reader.cached_secrets(), 1);

    // Rotate the KEK: old values become stale, new writes use a new seed and key ID.
    plugin.update(|s| s.key_id = "2".into());
    let rotated = KmsV2Provider::new(&cfg(KmsApiVersion::V2, "kms", &plugin.endpoint)).unwrap();
    assert_eq!(rotated.status().unwrap().key_id, "2");
    let o = open(&rotated, &values[3], "/r/3").unwrap();
    assert!(o.stale);
    assert_eq!(o.key, KeyUsed::Kms { version: "v2", name: "kms".into(), key_id: "1".into() });
    let newer = rotated.seal(b"new", b"/r/new").unwrap();
    let o = open(&rotated, &newer, "/r/new").unwrap();
    assert!(!o.stale);
    assert_eq!(o.key, KeyUsed::Kms { version: "v2", name: "kms".into(), key_id: "2".into() });
}

#[test]
fn v1_round_trip_uses_a_fresh_dek_per_write_and_caches_unwraps() {
    let plugin = KmsPlugin::start();
    let p = KmsV1Provider::new(&cfg(KmsApiVersion::V1, "one", &plugin.endpoint)).unwrap();
    let a = p.seal(b"same", b"/registry/a").unwrap();
    let b = p.seal(b"same", b"/registry/a").unwrap();
    assert_ne!(a, b);
    let ea = atrest::format::kmsv1::decode(&a[p.prefix().len()..]).unwrap();
    let eb = atrest::format::kmsv1::decode(&b[p.prefix().len()..]).unwrap();
    assert_ne!(ea.encrypted_dek, eb.encrypted_dek, "one DEK per write");
    assert_eq!(ea.payload.len(), 12 + 4 + 16);
    assert_eq!(plugin.state().version_calls, 1, "version checked once");
    let o = open(&p, &a, "/registry/a").unwrap();
    assert_eq!(o.plaintext, b"same");
    assert_eq!(o.key, KeyUsed::Kms { version: "v1", name: "one".into(), key_id: String::new() });
    assert_eq!(plugin.state().decrypt_calls, 0, "the writer cached its own DEKs");
    // A disabled cache (negative cachesize) asks the plugin every time.
    let mut c = cfg(KmsApiVersion::V1, "one", &plugin.endpoint);
    c.cachesize = Some(-1);
    let nocache = KmsV1Provider::new(&c).unwrap();
    open(&nocache, &a, "/registry/a").unwrap();
    open(&nocache, &a, "/registry/a").unwrap();
    assert_eq!(plugin.state().decrypt_calls, 2);
    assert_eq!(nocache.cached_deks(), 0);
}

#[test]
fn tampering_and_truncation_fail_cleanly() {
    let plugin = KmsPlugin::start();
    for api in [KmsApiVersion::V1, KmsApiVersion::V2] {
        let p = kms::provider(&cfg(api, "t", &plugin.endpoint)).unwrap();
        // 5-byte plaintext: GCM payload lengths are never a multiple of 16, so
        // the v1 CBC fallback cannot accidentally "succeed".
        let value = p.seal(b"hello", b"/registry/x").unwrap();
        let body = &value[p.prefix().len()..];
        for n in 0..body.len() {
            assert!(p.open(&body[..n], b"/registry/x").is_err(), "{api:?} truncated to {n}");
        }
        // The AES-GCM region: every bit flip there must fail.
        let sealed = match api {
            KmsApiVersion::V1 => {
                let env = atrest::format::kmsv1::decode(body).unwrap();
                body.len() - env.payload.len()..body.len()
            }
            KmsApiVersion::V2 => 2..2 + 32 + 12 + 5 + 16,
        };
        for i in 0..body.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = body.to_vec();
                t[i] ^= bit;
                // Outside the sealed payload (keyID, annotations: metadata
                // handed to the plugin, not authenticated by AES-GCM) a flip
                // may still read, but never to other plaintext.
                if let Ok(o) = p.open(&t, b"/registry/x") {
                    assert!(!sealed.contains(&i), "{api:?}: flip at {i} opened");
                    assert_eq!(o.plaintext, b"hello", "{api:?}: flip at {i}");
                }
            }
        }
        assert!(p.open(body, b"/registry/y").is_err());
        assert_eq!(p.open(body, b"/registry/x").unwrap().plaintext, b"hello");
    }
}

#[test]
fn wrong_plugin_versions_are_refused() {
    let plugin = KmsPlugin::start();
    plugin.update(|s| s.v1_version = "v2".into());
    let v1 = KmsV1Provider::new(&cfg(KmsApiVersion::V1, "p", &plugin.endpoint)).unwrap();
    let err = v1.seal(b"x", b"/a").unwrap_err().to_string();
    assert!(
        err.contains("KMS provider api version v2 is not supported, only v1beta1 is supported now"),
        "{err}"
    );

    plugin.update(|s| s.v2_version = "v1beta1".into());
    let v2 = KmsV2Provider::new(&cfg(KmsApiVersion::V2, "p", &plugin.endpoint)).unwrap();
    let err = v2.seal(b"x", b"/a").unwrap_err().to_string();
    assert!(err.contains("expected KMSv2 API version v2, got v1beta1"), "{err}");

    plugin.update(|s| {
        s.v2_version = "v2beta1".into();
        s.healthz = "sick".into();
    });
    let err = v2.refresh_status().unwrap_err().to_string();
    assert!(err.contains("got unexpected healthz status: sick"), "{err}");

    plugin.update(|s| {
        s.healthz = "ok".into();
        s.key_id = String::new();
    });
    let err = v2.refresh_status().unwrap_err().to_string();
    assert!(err.contains("keyID is empty"), "{err}");

    plugin.update(|s| s.key_id = "k".into());
    assert_eq!(v2.refresh_status().unwrap().version, "v2beta1");
    plugin.update(|s| s.v2_version = "v2".into());
    let err = v2.refresh_status().unwrap_err().to_string();
    assert!(err.contains("version changed from v2beta1 to v2"), "{err}");
}

#[test]
fn unreachable_plugin_fails_clearly_and_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("unix://{}/nobody.sock", dir.path().display());
    let p = kms::provider(&cfg(KmsApiVersion::V2, "gone", &endpoint)).unwrap();
    let t = Instant::now();
    let err = p.seal(b"x", b"/a").unwrap_err().to_string();
    assert!(err.contains(&format!("cannot reach KMS plugin \"gone\" at {endpoint}")), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3));

    // A socket that accepts but never answers: bounded by the configured timeout.
    let path = dir.path().join("silent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut c = cfg(KmsApiVersion::V1, "silent", &format!("unix://{}", path.display()));
    c.timeout = Duration::from_millis(300);
    let p = kms::provider(&c).unwrap();
    let t = Instant::now();
    let err = p.seal(b"x", b"/a").unwrap_err().to_string();
    assert!(err.contains("cannot reach KMS plugin \"silent\""), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}", t.elapsed());

    let bad = kms::provider(&cfg(KmsApiVersion::V2, "tcp", "tcp://127.0.0.1:1")).err().unwrap();
    assert!(bad.to_string().contains("unsupported scheme \"tcp\""), "{bad}");
}

#[test]
fn abstract_sockets_threads_and_foreign_runtimes_work() {
    let plugin = KmsPlugin::start_abstract();
    assert!(plugin.endpoint.starts_with("unix:///@"));
    let p = kms::provider(&cfg(KmsApiVersion::V2, "abs", &plugin.endpoint)).unwrap();
    let value = p.seal(b"shared", b"/k").unwrap();
    // Many threads at once (as the scanner's workers would).
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10 {
                    assert_eq!(open(p.as_ref(), &value, "/k").unwrap().plaintext, b"shared");
                }
            });
        }
    });
    // From inside another tokio runtime: no nested-runtime panic.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let got = rt.block_on(async { open(p.as_ref(), &value, "/k").map(|o| o.plaintext) });
    assert_eq!(got.unwrap(), b"shared");
}
