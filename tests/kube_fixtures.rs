//! The kube decoders against values hand-encoded by an independent
//! implementation (`fixtures/kube/generate.py`, see its README).

use std::path::PathBuf;

use atrest::kube::object::{Encoding, classify};
use atrest::kube::secret::{Extracted, RenderOptions, extract};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/kube")
}

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join("vectors.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap().as_array().unwrap().clone()
}

#[test]
fn every_vector_classifies_as_the_generator_says() {
    let vs = vectors();
    assert!(vs.len() >= 10);
    for v in vs {
        let file = v["file"].as_str().unwrap();
        let bytes = std::fs::read(dir().join(file)).unwrap();
        let enc = classify(&bytes);
        assert_eq!(enc.name(), v["encoding"].as_str().unwrap(), "{file}: {enc:?}");
        assert_eq!(enc.is_plausible(), v["plausible"].as_bool().unwrap(), "{file}: {enc:?}");
        let want = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match enc {
            Encoding::Protobuf { api_version, kind } => {
                assert_eq!(Some(api_version.to_string()), want("apiVersion"), "{file}");
                assert_eq!(Some(kind.to_string()), want("kind"), "{file}");
            }
            Encoding::Json { api_version, kind, name, namespace } => {
                assert_eq!(api_version, want("apiVersion"), "{file}");
                assert_eq!(kind, want("kind"), "{file}");
                assert_eq!(name, want("name"), "{file}");
                assert_eq!(namespace, want("namespace"), "{file}");
            }
            Encoding::Cbor { api_version, kind } => {
                assert_eq!(api_version, want("apiVersion"), "{file}");
                assert_eq!(kind, want("kind"), "{file}");
            }
            Encoding::Malformed { .. } | Encoding::Unknown => {}
        }
    }
}

#[test]
fn secrets_and_configmaps_render_exactly_as_kubectl_shows_them() {
    let mut checked = 0;
    for v in vectors() {
        let Some(expected) = v.get("expected").and_then(Value::as_str) else { continue };
        let file = v["file"].as_str().unwrap();
        let bytes = std::fs::read(dir().join(file)).unwrap();
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(dir().join(expected)).unwrap()).unwrap();
        match extract(&bytes, RenderOptions::default()).unwrap() {
            Extracted::Decoded(got) => assert_eq!(got, want, "{file}"),
            other => panic!("{file}: {other:?}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn managed_fields_appear_only_on_request() {
    let bytes = std::fs::read(dir().join("secret.pb")).unwrap();
    let Extracted::Decoded(plain) = extract(&bytes, RenderOptions::default()).unwrap() else {
        panic!("not decoded")
    };
    assert!(plain["metadata"].get("managedFields").is_none());
    let Extracted::Decoded(v) =
        extract(&bytes, RenderOptions { show_managed_fields: true }).unwrap()
    else {
        panic!("not decoded")
    };
    let mf = &v["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "kubectl-client-side-apply");
    assert_eq!(mf["time"], "2023-11-14T22:13:20Z");
    assert_eq!(mf["fieldsV1"], serde_json::json!({"f:data": {}}));
}

#[test]
fn other_encodings_extract_as_stored() {
    let cr = std::fs::read(dir().join("cr.json")).unwrap();
    let Extracted::Json(v) = extract(&cr, RenderOptions::default()).unwrap() else { panic!() };
    assert_eq!(v["color"], "blue");
    let dep = std::fs::read(dir().join("deployment.pb")).unwrap();
    assert!(matches!(
        extract(&dep, RenderOptions::default()).unwrap(),
        Extracted::Raw(Encoding::Protobuf { ref kind, .. }) if kind == "Deployment"
    ));
    let trunc = std::fs::read(dir().join("truncated.pb")).unwrap();
    let err = extract(&trunc, RenderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("runtime.Unknown"), "{err}");
}

#[test]
fn object_meta_of_any_builtin_is_readable() {
    let dep = std::fs::read(dir().join("deployment.pb")).unwrap();
    let (_, unknown) = atrest::kube::object::decode_unknown(&dep).unwrap();
    let meta = atrest::kube::secret::object_meta(unknown.raw.as_deref().unwrap()).unwrap();
    assert_eq!(meta.name.as_deref(), Some("web"));
    assert_eq!(meta.namespace.as_deref(), Some("prod"));
}

#[test]
fn real_apiserver_secrets_decode_exactly() {
    // Plaintexts of upstream's recorded KMS v2 etcd values (kube-apiserver
    // 1.27/1.28), decrypted by fixtures/kube/upstream.py.
    for name in ["dek-source-aes-gcm-key", "dek-source-hkdf-sha256-xnonce-aes-gcm-seed"] {
        let bytes = std::fs::read(dir().join(format!("upstream-kmsv2-{name}.pb"))).unwrap();
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(dir().join(format!("upstream-kmsv2-{name}.expected.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            classify(&bytes),
            Encoding::Protobuf { api_version: "v1".into(), kind: "Secret".into() }
        );
        let Extracted::Decoded(got) = extract(&bytes, RenderOptions::default()).unwrap() else {
            panic!("{name}: not decoded")
        };
        assert_eq!(got, want, "{name}");
        // Upstream's value holds a managedFields entry written by the apiserver.
        let Extracted::Decoded(full) =
            extract(&bytes, RenderOptions { show_managed_fields: true }).unwrap()
        else {
            panic!()
        };
        let mf = &full["metadata"]["managedFields"][0];
        assert_eq!(
            (mf["operation"].as_str(), mf["fieldsType"].as_str()),
            (Some("Update"), Some("FieldsV1"))
        );
        assert!(mf["fieldsV1"]["f:data"]["f:api_key"].is_object(), "{mf}");
    }
}

#[test]
fn random_plaintexts_are_never_plausible() {
    // What a wrong aescbc key yields: uniformly random bytes. Also force the
    // first byte to each accepted lead byte, so the deeper checks are exercised.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..60_000usize {
        let len = 16 + (next() % 400) as usize;
        let mut v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        match i % 4 {
            0 => v[0] = b'{',
            1 => v[..4].copy_from_slice(b"k8s\x00"),
            2 => v[..3].copy_from_slice(&[0xd9, 0xd9, 0xf7]),
            _ => {}
        }
        assert!(!atrest::kube::is_plausible(&v), "sample {i} judged plausible: {v:02x?}");
    }
}
