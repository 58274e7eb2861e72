//! The built-in resources kube-apiserver stores in etcd (Kubernetes ~1.36),
//! with the storage prefix each one lives under and whether it is namespaced.
//!
//! Sources (facts only): kubernetes/kubernetes
//! `pkg/kubeapiserver/default_storage_factory_builder.go`
//! (`SpecialDefaultResourcePrefixes`, cohabiting resources) and
//! `test/integration/etcd/data.go` (`ExpectedEtcdPath` of every persisted
//! resource) at commit `008b3652959ca58af8be3fb5b6ecfe9ae7638282`. Every other
//! built-in uses its lower-case plural resource name, without the group, as the
//! storage prefix (`DefaultStorageFactory.ResourcePrefix`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// Whether objects of a resource live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// `<prefix>/<storage prefix>/<namespace>/<name>`.
    Namespaced,
    /// `<prefix>/<storage prefix>/<name>`.
    Cluster,
}

/// One built-in resource of kube-apiserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltIn {
    /// Storage prefix under the etcd prefix, e.g. `services/specs`.
    pub storage_prefix: &'static str,
    /// API group as the `EncryptionConfiguration` names it (`""` = core).
    pub group: &'static str,
    /// Plural resource name.
    pub resource: &'static str,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
}

const fn ns(storage_prefix: &'static str, group: &'static str, resource: &'static str) -> BuiltIn {
    BuiltIn { storage_prefix, group, resource, scope: Scope::Namespaced }
}

const fn cl(storage_prefix: &'static str, group: &'static str, resource: &'static str) -> BuiltIn {
    BuiltIn { storage_prefix, group, resource, scope: Scope::Cluster }
}

/// Every built-in resource kube-apiserver persists under the etcd prefix
/// through the default storage factory (one entry per storage prefix).
///
/// Extension-server resources (`apiextensions.k8s.io/customresourcedefinitions`,
/// `apiregistration.k8s.io/apiservices`, custom resources) are not listed:
/// their storage prefix is `<group>/<resource>` and is parsed generically.
pub const BUILT_INS: &[BuiltIn] = &[
    // core ("")
    ns("configmaps", "", "configmaps"),
    ns("services/specs", "", "services"),
    ns("services/endpoints", "", "endpoints"),
    ns("podtemplates", "", "podtemplates"),
    ns("pods", "", "pods"),
    ns("resourcequotas", "", "resourcequotas"),
    ns("limitranges", "", "limitranges"),
    cl("namespaces", "", "namespaces"),
    cl("minions", "", "nodes"),
    cl("persistentvolumes", "", "persistentvolumes"),
    // events.k8s.io/events cohabits with core events and is stored (and
    // encrypted) as core `events`.
    ns("events", "", "events"),
    ns("persistentvolumeclaims", "", "persistentvolumeclaims"),
    ns("serviceaccounts", "", "serviceaccounts"),
    ns("secrets", "", "secrets"),
    ns("controllers", "", "replicationcontrollers"),
    // apps
    ns("daemonsets", "apps", "daemonsets"),
    ns("deployments", "apps", "deployments"),
    ns("statefulsets", "apps", "statefulsets"),
    ns("replicasets", "apps", "replicasets"),
    ns("controllerrevisions", "apps", "controllerrevisions"),
    // autoscaling
    ns("horizontalpodautoscalers", "autoscaling", "horizontalpodautoscalers"),
    // batch
    ns("jobs", "batch", "jobs"),
    ns("cronjobs", "batch", "cronjobs"),
    // certificates.k8s.io
    cl("certificatesigningrequests", "certificates.k8s.io", "certificatesigningrequests"),
    cl("clustertrustbundles", "certificates.k8s.io", "clustertrustbundles"),
    ns("podcertificaterequests", "certificates.k8s.io", "podcertificaterequests"),
    // coordination.k8s.io
    ns("leases", "coordination.k8s.io", "leases"),
    ns("leasecandidates", "coordination.k8s.io", "leasecandidates"),
    // discovery.k8s.io
    ns("endpointslices", "discovery.k8s.io", "endpointslices"),
    // networking.k8s.io (extensions/ingresses cohabits, same prefix)
    ns("ingress", "networking.k8s.io", "ingresses"),
    cl("ingressclasses", "networking.k8s.io", "ingressclasses"),
    ns("networkpolicies", "networking.k8s.io", "networkpolicies"),
    cl("ipaddresses", "networking.k8s.io", "ipaddresses"),
    cl("servicecidrs", "networking.k8s.io", "servicecidrs"),
    // policy
    ns("poddisruptionbudgets", "policy", "poddisruptionbudgets"),
    // storagemigration.k8s.io
    cl("storageversionmigrations", "storagemigration.k8s.io", "storageversionmigrations"),
    // flowcontrol.apiserver.k8s.io
    cl("flowschemas", "flowcontrol.apiserver.k8s.io", "flowschemas"),
    cl(
        "prioritylevelconfigurations",
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
    ),
    // storage.k8s.io
    cl("volumeattachments", "storage.k8s.io", "volumeattachments"),
    cl("volumeattributesclasses", "storage.k8s.io", "volumeattributesclasses"),
    cl("storageclasses", "storage.k8s.io", "storageclasses"),
    ns("csistoragecapacities", "storage.k8s.io", "csistoragecapacities"),
    cl("csinodes", "storage.k8s.io", "csinodes"),
    cl("csidrivers", "storage.k8s.io", "csidrivers"),
    // rbac.authorization.k8s.io
    ns("roles", "rbac.authorization.k8s.io", "roles"),
    cl("clusterroles", "rbac.authorization.k8s.io", "clusterroles"),
    ns("rolebindings", "rbac.authorization.k8s.io", "rolebindings"),
    cl("clusterrolebindings", "rbac.authorization.k8s.io", "clusterrolebindings"),
    // admissionregistration.k8s.io
    cl(
        "validatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    cl(
        "mutatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
    ),
    cl(
        "validatingadmissionpolicies",
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
    ),
    cl(
        "validatingadmissionpolicybindings",
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    cl("mutatingadmissionpolicies", "admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    cl(
        "mutatingadmissionpolicybindings",
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
    ),
    // scheduling.k8s.io
    cl("priorityclasses", "scheduling.k8s.io", "priorityclasses"),
    ns("workloads", "scheduling.k8s.io", "workloads"),
    ns("podgroups", "scheduling.k8s.io", "podgroups"),
    // node.k8s.io
    cl("runtimeclasses", "node.k8s.io", "runtimeclasses"),
    // resource.k8s.io
    cl("devicetaintrules", "resource.k8s.io", "devicetaintrules"),
    cl("resourcepoolstatusrequests", "resource.k8s.io", "resourcepoolstatusrequests"),
    cl("deviceclasses", "resource.k8s.io", "deviceclasses"),
    ns("resourceclaims", "resource.k8s.io", "resourceclaims"),
    ns("resourceclaimtemplates", "resource.k8s.io", "resourceclaimtemplates"),
    cl("resourceslices", "resource.k8s.io", "resourceslices"),
    // internal.apiserver.k8s.io
    cl("storageversions", "internal.apiserver.k8s.io", "storageversions"),
];

/// Built-ins removed from current Kubernetes whose objects can linger in
/// etcd after upgrades (the apiserver no longer reads or rewrites them).
/// `podsecuritypolicy` is from `SpecialDefaultResourcePrefixes` up to 1.24;
/// the others follow the default rule (plural name).
pub const LEGACY: &[BuiltIn] = &[
    cl("podsecuritypolicy", "policy", "podsecuritypolicies"), // removed in 1.25
    ns("podpresets", "settings.k8s.io", "podpresets"),        // removed in 1.20
    cl("clustercidrs", "networking.k8s.io", "clustercidrs"),  // alpha 1.25-1.28
    ns("podschedulingcontexts", "resource.k8s.io", "podschedulingcontexts"), // alpha, removed in 1.32
    cl("resourceclasses", "resource.k8s.io", "resourceclasses"), // alpha, removed in 1.31
];

/// The removed built-in stored under `storage_prefix`.
pub fn legacy_by_storage_prefix(storage_prefix: &str) -> Option<&'static BuiltIn> {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| index(LEGACY)).get(storage_prefix).copied()
}

/// A table by storage prefix, hashed with foldhash (the keys are ours, not
/// an attacker's).
type Index = HashMap<&'static str, &'static BuiltIn, foldhash::fast::RandomState>;

/// A table by storage prefix (the scanner looks one up per object). The
/// first entry of a prefix wins, as a linear search would have it.
fn index(table: &'static [BuiltIn]) -> Index {
    let mut map = Index::with_capacity_and_hasher(table.len(), Default::default());
    for b in table {
        map.entry(b.storage_prefix).or_insert(b);
    }
    map
}

/// Resources of other groups that share storage (and the encryption
/// transformer) with a built-in: `(group, resource) -> (group, resource)`.
const COHABITING: &[(&str, &str, &str, &str)] = &[
    ("events.k8s.io", "events", "", "events"),
    ("extensions", "ingresses", "networking.k8s.io", "ingresses"),
    ("extensions", "networkpolicies", "networking.k8s.io", "networkpolicies"),
    ("extensions", "deployments", "apps", "deployments"),
    ("extensions", "daemonsets", "apps", "daemonsets"),
    ("extensions", "replicasets", "apps", "replicasets"),
    ("extensions", "replicationcontrollers", "", "replicationcontrollers"),
];

/// The built-in stored under `storage_prefix` (e.g. `minions`, `services/specs`).
pub fn by_storage_prefix(storage_prefix: &str) -> Option<&'static BuiltIn> {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| index(BUILT_INS)).get(storage_prefix).copied()
}

/// The built-in (current, else [`LEGACY`]) for an API group and resource,
/// following cohabitation (`events.k8s.io/events` is core `events`).
pub fn by_group_resource(group: &str, resource: &str) -> Option<&'static BuiltIn> {
    let (group, resource) = COHABITING
        .iter()
        .find(|(g, r, _, _)| *g == group && *r == resource)
        .map(|(_, _, g, r)| (*g, *r))
        .unwrap_or((group, resource));
    BUILT_INS.iter().chain(LEGACY).find(|b| b.group == group && b.resource == resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_prefixes_and_group_resources_are_unique() {
        let all: Vec<_> = BUILT_INS.iter().chain(LEGACY).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.storage_prefix, b.storage_prefix);
                assert!(a.group != b.group || a.resource != b.resource, "{a:?} {b:?}");
            }
            // A dot in the first segment means "extension group"; built-ins never have one.
            assert!(!a.storage_prefix.contains('.'), "{a:?}");
            assert_eq!(a.resource, a.resource.to_ascii_lowercase());
        }
    }

    #[test]
    fn cohabiting_resources_resolve_to_their_storage() {
        assert_eq!(by_group_resource("events.k8s.io", "events").unwrap().storage_prefix, "events");
        assert_eq!(by_group_resource("extensions", "ingresses").unwrap().storage_prefix, "ingress");
        assert_eq!(by_group_resource("", "nodes").unwrap().storage_prefix, "minions");
        assert!(by_group_resource("apps", "secrets").is_none());
    }
}
