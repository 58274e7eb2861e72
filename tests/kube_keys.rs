//! etcd key -> resource mapping against kube-apiserver's storage layout
//! (every example path of docs k8s-format §3.2, taken from upstream
//! `test/integration/etcd/data.go` `ExpectedEtcdPath`).

use atrest::config::GroupResource;
use atrest::kube::key::{
    DEFAULT_PREFIX, KeyError, Origin, object_key, parse_key, resource_for_key,
};

/// (key under /registry, group, resource, namespace, name)
const CASES: &[(&str, &str, &str, Option<&str>, &str)] = &[
    ("secrets/ns1/secret1", "", "secrets", Some("ns1"), "secret1"),
    ("configmaps/ns1/cm1", "", "configmaps", Some("ns1"), "cm1"),
    ("services/specs/ns1/service1", "", "services", Some("ns1"), "service1"),
    ("services/endpoints/ns1/ep1name", "", "endpoints", Some("ns1"), "ep1name"),
    ("minions/node1", "", "nodes", None, "node1"),
    ("controllers/ns1/rc1", "", "replicationcontrollers", Some("ns1"), "rc1"),
    ("ingress/ns1/ingress3", "networking.k8s.io", "ingresses", Some("ns1"), "ingress3"),
    ("namespaces/namespace1", "", "namespaces", None, "namespace1"),
    ("leases/ns1/leasev1", "coordination.k8s.io", "leases", Some("ns1"), "leasev1"),
    ("clusterroles/crole3", "rbac.authorization.k8s.io", "clusterroles", None, "crole3"),
    ("cr.bar.com/foos/ns1/cr1foo", "cr.bar.com", "foos", Some("ns1"), "cr1foo"),
    ("awesome.bears.com/pandas/cr3panda", "awesome.bears.com", "pandas", None, "cr3panda"),
    ("events/ns1/event3", "", "events", Some("ns1"), "event3"),
    ("deployments/ns1/deployment4", "apps", "deployments", Some("ns1"), "deployment4"),
    ("jobs/ns1/job1", "batch", "jobs", Some("ns1"), "job1"),
    ("cronjobs/ns1/cjv1", "batch", "cronjobs", Some("ns1"), "cjv1"),
    (
        "horizontalpodautoscalers/ns1/hpa2",
        "autoscaling",
        "horizontalpodautoscalers",
        Some("ns1"),
        "hpa2",
    ),
    (
        "certificatesigningrequests/csr2",
        "certificates.k8s.io",
        "certificatesigningrequests",
        None,
        "csr2",
    ),
    (
        "clustertrustbundles/example.com:signer:abc",
        "certificates.k8s.io",
        "clustertrustbundles",
        None,
        "example.com:signer:abc",
    ),
    ("endpointslices/ns1/slicev1", "discovery.k8s.io", "endpointslices", Some("ns1"), "slicev1"),
    ("ingressclasses/ingressclass3", "networking.k8s.io", "ingressclasses", None, "ingressclass3"),
    ("ipaddresses/192.168.2.3", "networking.k8s.io", "ipaddresses", None, "192.168.2.3"),
    ("poddisruptionbudgets/ns1/pdbv1", "policy", "poddisruptionbudgets", Some("ns1"), "pdbv1"),
    (
        "storageversionmigrations/test-migration",
        "storagemigration.k8s.io",
        "storageversionmigrations",
        None,
        "test-migration",
    ),
    ("flowschemas/fs-3", "flowcontrol.apiserver.k8s.io", "flowschemas", None, "fs-3"),
    (
        "csistoragecapacities/ns1/csc-12345-3",
        "storage.k8s.io",
        "csistoragecapacities",
        Some("ns1"),
        "csc-12345-3",
    ),
    ("storageclasses/sc2", "storage.k8s.io", "storageclasses", None, "sc2"),
    ("rolebindings/ns1/roleb3", "rbac.authorization.k8s.io", "rolebindings", Some("ns1"), "roleb3"),
    (
        "validatingadmissionpolicies/vap1",
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        None,
        "vap1",
    ),
    ("priorityclasses/pc3", "scheduling.k8s.io", "priorityclasses", None, "pc3"),
    ("workloads/ns1/w1", "scheduling.k8s.io", "workloads", Some("ns1"), "w1"),
    ("runtimeclasses/rc3", "node.k8s.io", "runtimeclasses", None, "rc3"),
    (
        "resourceclaims/ns1/claim4name",
        "resource.k8s.io",
        "resourceclaims",
        Some("ns1"),
        "claim4name",
    ),
    ("resourceslices/node4slice", "resource.k8s.io", "resourceslices", None, "node4slice"),
    ("storageversions/sv1.test", "internal.apiserver.k8s.io", "storageversions", None, "sv1.test"),
    ("csidrivers/csid2", "storage.k8s.io", "csidrivers", None, "csid2"),
    (
        "apiregistration.k8s.io/apiservices/as2.foo.com",
        "apiregistration.k8s.io",
        "apiservices",
        None,
        "as2.foo.com",
    ),
    (
        "apiextensions.k8s.io/customresourcedefinitions/openshiftwebconsoleconfigs.webconsole2.operator.openshift.io",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        None,
        "openshiftwebconsoleconfigs.webconsole2.operator.openshift.io",
    ),
    ("custom.fancy.com/pants/cr2pant", "custom.fancy.com", "pants", None, "cr2pant"),
];

#[test]
fn upstream_expected_etcd_paths_map_to_their_resources_and_back() {
    for prefix in [DEFAULT_PREFIX, "/43da1478-5c8f-4b1e-9a2f-0c0ffee00001/registry"] {
        for (rel, group, resource, ns, name) in CASES {
            let key = format!("{prefix}/{rel}");
            let r = parse_key(key.as_bytes(), prefix).unwrap_or_else(|e| panic!("{key}: {e}"));
            let gr = GroupResource::new(*group, *resource);
            assert_eq!(r.group_resource, gr, "{key}");
            assert_eq!(r.namespace.as_deref(), *ns, "{key}");
            assert_eq!(r.name, *name, "{key}");
            assert!(r.known, "{key}");
            assert_eq!(r.etcd_key(prefix), key);
            assert_eq!(object_key(prefix, &gr, *ns, name).unwrap(), key, "reverse of {key}");
            assert_eq!(resource_for_key(key.as_bytes(), prefix).unwrap(), r);
        }
    }
}

#[test]
fn storage_prefixes_and_origins() {
    let r = parse_key(b"/registry/services/specs/default/kubernetes", "/registry").unwrap();
    assert_eq!(r.storage_prefix, "services/specs");
    assert_eq!(r.origin, Origin::BuiltIn);
    let r = parse_key(b"/registry/cr.bar.com/foos/ns1/x", "/registry").unwrap();
    assert_eq!((r.storage_prefix.as_str(), r.origin), ("cr.bar.com/foos", Origin::Custom));
    let r =
        parse_key(b"/registry/apiregistration.k8s.io/apiservices/v1.apps", "/registry").unwrap();
    assert_eq!(r.origin, Origin::Extension);
}

#[test]
fn prefix_spelling_does_not_matter_but_membership_does() {
    for p in ["registry", "/registry/", "//registry"] {
        assert_eq!(parse_key(b"/registry/secrets/a/b", p).unwrap().name, "b");
    }
    let nd = "/43da1478-5c8f-4b1e-9a2f-0c0ffee00001/registry";
    // A default-prefix key is outside a non-default prefix, and vice versa.
    assert!(matches!(parse_key(b"/registry/secrets/a/b", nd), Err(KeyError::OutsidePrefix { .. })));
    let k = format!("{nd}/secrets/a/b");
    assert!(matches!(parse_key(k.as_bytes(), "/registry"), Err(KeyError::OutsidePrefix { .. })));
    // `/registryX/...` is not under `/registry`.
    assert!(matches!(
        parse_key(b"/registryX/secrets/a/b", "/registry"),
        Err(KeyError::OutsidePrefix { .. })
    ));
    assert!(matches!(
        parse_key(b"compact_rev_key", "/registry"),
        Err(KeyError::OutsidePrefix { .. })
    ));
}

#[test]
fn internal_keys_are_not_objects_but_have_a_storage_resource() {
    for (key, res) in [
        ("/registry/ranges/serviceips", Some("serviceipallocations")),
        ("/registry/ranges/secondaryserviceips", Some("serviceipallocations")),
        ("/registry/ranges/servicenodeports", Some("servicenodeportallocations")),
        ("/registry/masterleases/10.0.0.1", Some("apiServerIPInfo")),
        ("/registry/health", None),
    ] {
        match parse_key(key.as_bytes(), "/registry") {
            Err(KeyError::NotAnObject { storage_resource, .. }) => {
                assert_eq!(storage_resource.map(|g| g.resource).as_deref(), res, "{key}")
            }
            other => panic!("{key}: {other:?}"),
        }
        match (resource_for_key(key.as_bytes(), "/registry"), res) {
            (Ok(r), Some(res)) => {
                assert_eq!(r.group_resource, GroupResource::new("", res));
                assert_eq!(r.origin, Origin::Internal);
            }
            (Err(KeyError::NotAnObject { .. }), None) => {}
            (other, _) => panic!("{key}: {other:?}"),
        }
    }
}

#[test]
fn unknown_core_looking_resources_are_reported_as_is() {
    let r = parse_key(b"/registry/widgets/ns/w1", "/registry").unwrap();
    assert_eq!(r.group_resource, GroupResource::new("", "widgets"));
    assert_eq!((r.namespace.as_deref(), r.name.as_str(), r.known), (Some("ns"), "w1", false));
    assert_eq!(r.origin, Origin::Unknown);
    let r = parse_key(b"/registry/widgets/w1", "/registry").unwrap();
    assert_eq!((r.namespace, r.known), (None, false));
}

#[test]
fn malformed_keys_are_errors_not_guesses() {
    for key in [
        &b"/registry/secrets/onlyname"[..], // secrets are namespaced
        b"/registry/namespaces/a/b",        // namespaces are cluster-scoped
        b"/registry/secrets/ns/a/b",        // too many segments
        b"/registry/services/other/ns/x",   // not a services/* storage prefix
        b"/registry/secrets//x",            // empty segment
        b"/registry/secrets/ns/",           // trailing slash
        b"/registry/cr.bar.com/foos",       // no name
        b"/registry/cr.bar.com/foos/a/b/c", // too many
        b"/registry/apiextensions.k8s.io/customresourcedefinitions/ns/x", // CRDs are cluster-scoped
        b"/registry/secrets/ns/\xff\xfe",   // not UTF-8
        b"/registry/widgets",               // no name
        b"/registry/",
    ] {
        let e = parse_key(key, "/registry").unwrap_err();
        assert!(matches!(e, KeyError::Malformed { .. }), "{}: {e:?}", String::from_utf8_lossy(key));
    }
}

#[test]
fn reverse_mapping_follows_cohabitation_and_checks_scope() {
    let gr = |s: &str| GroupResource::parse(s);
    assert_eq!(
        object_key("/registry", &gr("events.events.k8s.io"), Some("ns"), "e").unwrap(),
        "/registry/events/ns/e"
    );
    assert_eq!(object_key("/registry", &gr("nodes"), None, "n1").unwrap(), "/registry/minions/n1");
    assert_eq!(
        object_key("/registry", &gr("ingresses.extensions"), Some("ns"), "i").unwrap(),
        "/registry/ingress/ns/i"
    );
    assert_eq!(
        object_key("/p/registry", &gr("pandas.awesome.bears.com"), None, "x").unwrap(),
        "/p/registry/awesome.bears.com/pandas/x"
    );
    assert!(matches!(
        object_key("/registry", &gr("secrets"), None, "s"),
        Err(KeyError::Scope { .. })
    ));
    assert!(matches!(
        object_key("/registry", &gr("nodes"), Some("ns"), "n"),
        Err(KeyError::Scope { .. })
    ));
}

#[test]
fn key_mapper_normalises_once_and_names_resources_like_the_config() {
    let m = atrest::kube::KeyMapper::new("43da/registry/");
    assert_eq!(m.prefix(), "/43da/registry");
    let r = m.parse(b"/43da/registry/deployments/ns/d").unwrap();
    assert_eq!(r.resource_name(), "deployments.apps");
    assert_eq!(m.parse(b"/43da/registry/secrets/ns/s").unwrap().resource_name(), "secrets");
    assert!(m.parse(b"/registry/secrets/ns/s").is_err());
    assert_eq!(
        m.resource_for(b"/43da/registry/ranges/servicenodeports").unwrap().resource_name(),
        "servicenodeportallocations"
    );
}

#[test]
fn removed_builtins_are_recognised_as_legacy() {
    let r = parse_key(b"/registry/podsecuritypolicy/restricted", "/registry").unwrap();
    assert_eq!(r.group_resource, GroupResource::new("policy", "podsecuritypolicies"));
    assert_eq!((r.origin, r.known, r.namespace), (Origin::Legacy, true, None));
    assert!(parse_key(b"/registry/podsecuritypolicy/ns/restricted", "/registry").is_err());
}

#[test]
fn legacy_reverse_mapping() {
    assert_eq!(
        object_key("/registry", &GroupResource::new("policy", "podsecuritypolicies"), None, "p")
            .unwrap(),
        "/registry/podsecuritypolicy/p"
    );
}
