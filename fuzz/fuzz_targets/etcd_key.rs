#![no_main]
// etcd keys from an untrusted source mapped to API objects: never a panic;
// a key that maps to an object is that object's key again (`etcd_key`), and
// the scanner's borrowed view agrees with the owned parse. Each line of the
// input is one key (seeds: fuzz/seeds/etcd_key).
use atrest::kube::{KeyMapper, parse_key, resource_for_key};

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    for data in input.split(|b| *b == b'\n') {
        check(data);
    }
});

fn check(data: &[u8]) {
    for prefix in ["/registry", "/"] {
        let parsed = parse_key(data, prefix);
        if let Ok(object) = &parsed {
            assert_eq!(object.etcd_key(prefix).as_bytes(), data, "round trip under {prefix}");
        }
        let mapper = KeyMapper::new(prefix);
        let viewed = mapper.view(data).map(|v| v.to_object_ref());
        assert_eq!(viewed.is_ok(), parsed.is_ok(), "view and parse disagree under {prefix}");
        if let (Ok(v), Ok(p)) = (&viewed, &parsed) {
            assert_eq!(v, p);
        }
        let _ = resource_for_key(data, prefix);
    }
}
