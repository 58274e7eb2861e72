//! No input panics the kube decoders; key mapping round-trips.

use atrest::config::GroupResource;
use atrest::kube::key::{object_key, parse_key};
use atrest::kube::object::classify;
use atrest::kube::secret::{RenderOptions, extract};
use proptest::prelude::*;

fn seeded() -> impl Strategy<Value = Vec<u8>> {
    let body = proptest::collection::vec(any::<u8>(), 0..512);
    (0..4usize, body).prop_map(|(which, body)| {
        let mut v: Vec<u8> = match which {
            0 => b"k8s\x00".to_vec(),
            1 => vec![0xd9, 0xd9, 0xf7],
            2 => b"{".to_vec(),
            _ => Vec::new(),
        };
        v.extend(body);
        v
    })
}

/// A real fixture with random bytes flipped: exercises deep decoder paths.
fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    let files = [
        "secret.pb",
        "configmap.pb",
        "cr.cbor",
        "deployment.pb",
        "upstream-kmsv2-dek-source-aes-gcm-key.pb",
    ];
    (0..files.len(), proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), any::<usize>())
        .prop_map(move |(i, flips, cut)| {
            let path = format!("{}/fixtures/kube/{}", env!("CARGO_MANIFEST_DIR"), files[i]);
            let mut v = std::fs::read(path).unwrap();
            for (at, b) in flips {
                let n = v.len();
                v[at % n] = b;
            }
            let keep = v.len() - cut % 8;
            v.truncate(keep);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic(v in prop_oneof![seeded(), mutated_fixture()]) {
        let enc = classify(&v);
        let _ = enc.is_plausible();
        let _ = extract(&v, RenderOptions { show_managed_fields: true });
    }

    #[test]
    fn key_parsing_never_panics(k in proptest::collection::vec(any::<u8>(), 0..128), p in "[a-z/]{0,12}") {
        let _ = parse_key(&k, &p);
        let mut full = b"/registry/".to_vec();
        full.extend(&k);
        let _ = parse_key(&full, "/registry");
    }

    #[test]
    fn custom_resource_keys_round_trip(
        group in "[a-z]{1,8}\\.[a-z]{1,8}",
        resource in "[a-z]{1,12}",
        ns in proptest::option::of("[a-z0-9-]{1,20}"),
        name in "[a-z0-9.:-]{1,30}",
    ) {
        let gr = GroupResource::new(group, resource);
        let key = object_key("/registry", &gr, ns.as_deref(), &name).unwrap();
        let r = parse_key(key.as_bytes(), "/registry").unwrap();
        prop_assert_eq!(r.group_resource, gr);
        prop_assert_eq!(r.namespace, ns);
        prop_assert_eq!(r.name, name);
    }
}
