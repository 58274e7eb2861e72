//! The config corpus: every file under `fixtures/configs/valid/` must load
//! and lint to exactly the rule ids in its `.lint` sidecar; every file under
//! `fixtures/configs/invalid/` must fail with exactly the diagnostics in its
//! `.expect` sidecar (`LINE|apiserver text`, one per line, in report order).
//!
//! A file may start with directive comments: `# kube-version: 1.26`,
//! `# feature-gates: KMSv1=true`, `# reload: true`.
//! After a deliberate change, `ATREST_BLESS=1 cargo test --test config_corpus`
//! rewrites the sidecars; review the diff before committing.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use atrest::config::lint::lint_checked;
use atrest::config::load::{check_bytes, load_bytes_with};
use atrest::config::{FeatureGates, KubeVersion, LoadOptions};

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/configs").join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "json")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", root.display());
    files
}

fn name(p: &Path) -> String {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string()
}

fn options(bytes: &[u8]) -> LoadOptions {
    let mut opts = LoadOptions::default();
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let l = line.trim_start_matches('#').trim();
        if let Some(v) = l.strip_prefix("kube-version:") {
            opts.kube_version = v.trim().parse::<KubeVersion>().unwrap();
        } else if let Some(v) = l.strip_prefix("feature-gates:") {
            opts.gates = v.trim().parse::<FeatureGates>().unwrap();
        } else if let Some(v) = l.strip_prefix("reload:") {
            opts.reload = v.trim() == "true";
        }
    }
    opts
}

fn sidecar(p: &Path, ext: &str) -> PathBuf {
    p.with_extension(ext)
}

fn check_or_bless(path: &Path, actual: &str) {
    if std::env::var_os("ATREST_BLESS").is_some() {
        fs::write(path, actual).unwrap();
        return;
    }
    let expected =
        fs::read_to_string(path).unwrap_or_else(|_| panic!("missing {}", path.display()));
    assert_eq!(actual, expected, "mismatch for {}", path.display());
}

/// The base64 secrets written in a fixture (to prove none is ever printed).
fn secrets_in(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once("secret:").map(|(_, v)| v))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'' || c == '}').trim().to_string())
        .filter(|v| v.len() >= 8)
        .collect()
}

#[test]
fn valid_configs_load_and_lint_as_recorded() {
    for p in corpus("valid") {
        let bytes = fs::read(&p).unwrap();
        let opts = options(&bytes);
        let n = name(&p);
        if let Err(e) = load_bytes_with(&n, &bytes, &opts) {
            panic!("{n} should load: {e}");
        }
        let findings = lint_checked(&check_bytes(&n, &bytes, &opts), None);
        let ids: BTreeSet<&str> = findings.iter().map(|f| f.rule.id).collect();
        let actual: String = ids.iter().map(|id| format!("{id}\n")).collect();
        check_or_bless(&sidecar(&p, "lint"), &actual);
        let rendered: String =
            findings.iter().map(|f| format!("{} {}\n", f.path, f.message)).collect();
        for s in secrets_in(&String::from_utf8_lossy(&bytes)) {
            assert!(!rendered.contains(&s), "{n}: a secret appears in a finding");
        }
    }
}

#[test]
fn invalid_configs_fail_with_the_recorded_diagnostics() {
    for p in corpus("invalid") {
        let bytes = fs::read(&p).unwrap();
        let opts = options(&bytes);
        let n = name(&p);
        let checked = check_bytes(&n, &bytes, &opts);
        assert!(!checked.is_valid(), "{n} should be invalid");
        assert!(load_bytes_with(&n, &bytes, &opts).is_err(), "{n} should not load");
        let actual: String = checked
            .diagnostics
            .iter()
            .map(|d| format!("{}|{}\n", d.line().unwrap_or(0), d))
            .collect();
        for s in secrets_in(&String::from_utf8_lossy(&bytes)) {
            assert!(!actual.contains(&s), "{n}: a secret appears in a diagnostic");
        }
        check_or_bless(&sidecar(&p, "expect"), &actual);
    }
}

/// Every message of `ValidateEncryptionConfiguration` and of the load-time
/// checks appears in at least one `.expect` file.
#[test]
fn the_invalid_corpus_covers_every_rule() {
    let mut all = String::new();
    for p in corpus("invalid") {
        all.push_str(&fs::read_to_string(sidecar(&p, "expect")).unwrap_or_default());
    }
    let required = [
        "is empty",
        "Object 'Kind' is missing",
        "Object 'apiVersion' is missing",
        "no kind \"EncryptionConfigurations\" is registered",
        "got unexpected config type",
        "couldn't get version/kind",
        "strict decoding error: unknown field",
        "already set in map",
        "json: cannot unmarshal",
        "time: invalid duration",
        "time: missing unit",
        "time: unknown unit",
        "resources: Required value: at least one resources is required",
        "Required value: at least one resources[0].resources is required",
        "Required value: at least one resources[0].providers is required",
        "resource name should not contain capital letters",
        "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources",
        "resources which do not have REST API/s cannot be encrypted",
        "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file",
        "'extensions' group has been removed and cannot be used for encryption",
        "encrypting the same resource across groups is not supported",
        "the same resource cannot be specified multiple times",
        "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked",
        "is masked by earlier rule \"*.\"",
        "is masked by earlier rule \"*.*\"",
        "is masked by earlier rule \"*.apps\"",
        "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity",
        "more than one provider specified in a single element, should split into different list elements",
        "Required value: at least one keys is required",
        "name is a mandatory field for a key",
        "secret is a mandatory field for a key",
        "Invalid value: \"REDACTED\": secrets must be base64 encoded",
        "secret is not of the expected length, got 28, expected one of [16 24 32]",
        "secret is not of the expected length, got 16, expected one of [32]",
        "name is a mandatory field for a provider",
        "must not contain ':'",
        "names must be unique",
        "timeout should be a positive value",
        "endpoint is a mandatory field for a kms",
        "invalid endpoint for kms provider, error: parse",
        "for KMS provider, only unix is supported",
        "cachesize is not supported in v2",
        "cachesize should be a positive value, or negative to disable",
        "unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported",
        "KMSv1 is deprecated and will only receive security updates going forward. Use KMSv2 instead.  Set --feature-gates=KMSv1=true to use the deprecated KMSv1 feature.",
        "needs Kubernetes 1.27 or later",
        "KMS v2 provider \"a\" cannot load on Kubernetes 1.26",
        "invalid UTF-8",
        "yaml:",
    ];
    let missing: Vec<&str> = required.iter().copied().filter(|r| !all.contains(r)).collect();
    assert!(missing.is_empty(), "rules without a fixture: {missing:#?}");
}

mod generated {
    use atrest::config::LoadOptions;
    use atrest::config::generate::{Date, GenProvider, GenerateOptions, generate, os_random};
    use atrest::config::lint::{Severity, lint_bytes};
    use atrest::config::load::load_bytes_with;
    use proptest::prelude::*;

    fn encrypting() -> impl Strategy<Value = GenProvider> {
        prop_oneof![
            Just(GenProvider::AesGcm),
            Just(GenProvider::AesCbc),
            Just(GenProvider::Secretbox),
            Just(GenProvider::Kms),
        ]
    }

    /// An ordered list of distinct providers whose first one encrypts.
    fn providers() -> impl Strategy<Value = Vec<GenProvider>> {
        (
            encrypting(),
            proptest::collection::vec(prop_oneof![encrypting(), Just(GenProvider::Identity)], 0..4),
        )
            .prop_map(|(first, rest)| {
                let mut v = vec![first];
                for p in rest {
                    if !v.contains(&p) {
                        v.push(p);
                    }
                }
                v
            })
    }

    /// Resource lists that cover secrets and do not overlap.
    fn resources() -> impl Strategy<Value = Vec<String>> {
        let specific = proptest::sample::subsequence(
            vec![
                "configmaps",
                "deployments.apps",
                "pandas.awesome.bears.example",
                "events",
                "configmaps.",
            ],
            0..4,
        )
        .prop_map(|rest| {
            let mut v = vec!["secrets".to_string()];
            // `configmaps` and `configmaps.` are the same resource: keep one.
            for r in rest {
                if !(r == "configmaps." && v.iter().any(|x| x == "configmaps")) {
                    v.push(r.to_string());
                }
            }
            v
        });
        prop_oneof![specific, Just(vec!["*.".to_string()]), Just(vec!["*.*".to_string()])]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn every_generated_config_validates_and_lints_without_errors(
            providers in providers(),
            resources in resources(),
            key_name in proptest::option::of("[a-z][a-z0-9-]{0,20}"),
            kms_name in "[a-z][a-z0-9-]{0,12}",
            socket in "[a-z0-9/_-]{1,30}",
            identity_fallback in any::<bool>(),
            days in 0i64..40_000,
        ) {
            let mut opts = GenerateOptions::new(Date::from_unix(days * 86_400));
            opts.providers = providers;
            opts.resources = resources;
            opts.key_name = key_name;
            opts.kms_name = kms_name;
            opts.kms_endpoint = Some(format!("unix:///{socket}.sock"));
            opts.identity_fallback = identity_fallback;
            let text = match generate(&opts, &mut os_random) {
                Ok(t) => t,
                Err(e) => return Err(TestCaseError::fail(format!("generate refused {opts:?}: {e}"))),
            };
            let load = load_bytes_with("<generated>", text.expose(), &LoadOptions::default());
            prop_assert!(load.is_ok(), "{:?}", load.err().map(|e| e.to_string()));
            let findings = lint_bytes("<generated>", text.expose(), &LoadOptions::default(), None);
            let errors: Vec<_> = findings.iter().filter(|f| f.severity == Severity::Error).collect();
            prop_assert!(errors.is_empty(), "{errors:?}");
        }

        /// The loader and the lint never panic, whatever the bytes (mutated
        /// corpus files and raw bytes); the fuzz target `config_yaml` goes further.
        #[test]
        fn loader_and_lint_never_panic_on_mutated_input(
            file in 0usize..40,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            cut in any::<prop::sample::Index>(),
            raw in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut files = super::corpus("valid");
            files.extend(super::corpus("invalid"));
            let mut bytes = std::fs::read(&files[file % files.len()]).unwrap();
            if !bytes.is_empty() {
                for (i, b) in &edits {
                    let at = i.index(bytes.len());
                    bytes[at] = *b;
                }
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            let _ = lint_bytes("<mutated>", &bytes, &LoadOptions::default(), None);
            let _ = lint_bytes("<raw>", &raw, &LoadOptions::default(), None);
        }
    }

    #[test]
    fn identity_first_generation_is_valid_but_flagged() {
        let mut opts = GenerateOptions::new(Date::from_unix(0));
        opts.providers = vec![GenProvider::Identity, GenProvider::Secretbox];
        let text = generate(&opts, &mut os_random).map_err(|e| e.to_string()).unwrap();
        let findings = lint_bytes("<generated>", text.expose(), &LoadOptions::default(), None);
        let errors: Vec<&str> =
            findings.iter().filter(|f| f.severity == Severity::Error).map(|f| f.rule.id).collect();
        assert_eq!(errors, ["CFG001"]);
    }
}
