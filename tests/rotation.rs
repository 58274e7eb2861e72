//! Every rotation transition and refusal, through the library, on the
//! fixtures in `fixtures/rotation/` (configs and scan-JSON evidence).

use atrest::rotation::doc::{self, ProviderKind};
use atrest::rotation::plan::{self, Outcome, PrepareSpec, Request, Step};
use atrest::rotation::stage::{self, Stage};
use atrest::rotation::{CountingEntropy, Evidence, FixedClock};

const NOW: u64 = 1_795_885_800; // 2026-11-28T17:10:00Z
const NEW: &str = "key-20261128T171000Z";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/rotation/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
}

fn evidence(name: &str) -> Evidence {
    Evidence::from_scan_json(fixture(name).as_bytes()).unwrap()
}

fn run(text: &str, step: Step, req: &Request<'_>) -> Outcome {
    let d = doc::parse(text).unwrap();
    plan::plan(&d, step, req, &FixedClock(NOW), &mut CountingEntropy(0)).unwrap()
}

fn change(text: &str, step: Step, req: &Request<'_>) -> String {
    match run(text, step, req) {
        Outcome::Change(p) => {
            assert!(!p.diff.is_empty());
            let d = doc::parse(&p.new_text).unwrap();
            assert!(doc::check(&d).is_empty(), "planned file must validate");
            if let Err(e) = atrest::config::load_str(&p.new_text) {
                panic!("the config loader refuses the planned file: {e}");
            }
            assert!(!p.notes.iter().any(|n| n.contains("does not load")), "{:?}", p.notes);
            p.new_text.to_string()
        }
        Outcome::NoOp(m) => panic!("expected a change, got no-op: {m}"),
        Outcome::Refused(m) => panic!("expected a change, got refusal: {m}"),
    }
}

fn refused(text: &str, step: Step, req: &Request<'_>) -> String {
    match run(text, step, req) {
        Outcome::Refused(m) => m,
        Outcome::NoOp(m) => panic!("expected a refusal, got no-op: {m}"),
        Outcome::Change(p) => panic!("expected a refusal, got a plan:\n{}", p.diff),
    }
}

fn noop(text: &str, step: Step, req: &Request<'_>) -> String {
    match run(text, step, req) {
        Outcome::NoOp(m) => m,
        Outcome::Refused(m) => panic!("expected a no-op, got refusal: {m}"),
        Outcome::Change(p) => panic!("expected a no-op, got a plan:\n{}", p.diff),
    }
}

fn stages(text: &str, target: Option<&str>) -> Vec<(Stage, Option<String>, Vec<String>)> {
    stage::derive(&doc::parse(text).unwrap(), target)
        .into_iter()
        .map(|s| (s.stage, s.to, s.from))
        .collect()
}

fn req() -> Request<'static> {
    Request::default()
}

fn with_provider(p: &str) -> Request<'static> {
    Request {
        prepare: PrepareSpec { provider: Some(p.into()), ..Default::default() },
        ..Default::default()
    }
}

#[test]
fn key_rotation_full_cycle_for_every_local_provider() {
    for prov in ["aescbc", "aesgcm", "secretbox"] {
        let a = format!("{prov}/key1");
        let b = format!("{prov}/{NEW}");
        let steady = fixture(&format!("{prov}.yaml"));
        assert_eq!(stages(&steady, None)[0].0, Stage::Steady);
        refused(&steady, Step::Promote, &req());
        assert!(noop(&steady, Step::Prune, &req()).contains("nothing to prune"));

        let prepared = change(&steady, Step::Prepare, &req());
        assert_eq!(
            stages(&prepared, None)[0],
            (Stage::Prepared, Some(b.clone()), vec![a.clone()]),
            "{prov}"
        );
        assert!(prepared.contains("# the first key"), "comments survive");
        assert!(prepared.contains("# Encrypt secrets"));
        assert!(noop(&prepared, Step::Prepare, &req()).contains("already prepared"));
        assert!(
            refused(&prepared, Step::Prune, &Request { force: true, ..req() }).contains("promote")
        );

        let promoted = change(&prepared, Step::Promote, &req());
        assert_eq!(stages(&promoted, None)[0], (Stage::Promoted, Some(b.clone()), vec![a.clone()]));
        assert!(noop(&promoted, Step::Promote, &req()).contains("already promoted"));
        assert!(refused(&promoted, Step::Prepare, &req()).contains("not finished"));

        // Prune: refused without evidence, refused while A holds objects, allowed after re-encryption.
        assert!(refused(&promoted, Step::Prune, &req()).contains("no evidence"));
        let in_use = evidence("evidence-key1-in-use.json");
        if prov == "aescbc" {
            let m = refused(&promoted, Step::Prune, &Request { evidence: Some(&in_use), ..req() });
            assert!(m.contains("1 object(s) still stored as aescbc/key1"), "{m}");
        }
        let census_only = evidence("evidence-census-only.json");
        if prov == "aescbc" {
            refused(&promoted, Step::Prune, &Request { evidence: Some(&census_only), ..req() });
        }
        let clean = evidence("evidence-reencrypted.json");
        let d = doc::parse(&promoted).unwrap();
        let Outcome::Change(p) = plan::plan(
            &d,
            Step::Prune,
            &Request { evidence: Some(&clean), ..req() },
            &FixedClock(NOW),
            &mut CountingEntropy(0),
        )
        .unwrap() else {
            panic!("prune should be allowed")
        };
        assert_eq!(p.retired.len(), 1);
        assert_eq!((p.retired[0].provider.as_str(), p.retired[0].name.as_str()), (prov, "key1"));
        assert_eq!(p.retired[0].secret.expose(), &[1u8; 32][..]);
        assert!(p.warnings.is_empty());
        let pruned = p.new_text.to_string();
        let st = stages(&pruned, None);
        assert_eq!(st[0].0, Stage::Steady);
        assert!(!pruned.contains("name: key1"));
        assert!(pruned.contains("# Encrypt secrets"));
        assert!(
            noop(&pruned, Step::Prune, &Request { evidence: Some(&clean), ..req() })
                .contains("nothing to prune")
        );
    }
}

#[test]
fn the_new_key_is_random_per_run_and_redacted_in_the_plan() {
    let steady = fixture("aescbc.yaml");
    let d = doc::parse(&steady).unwrap();
    let p1 =
        plan::plan(&d, Step::Prepare, &req(), &FixedClock(NOW), &mut CountingEntropy(0)).unwrap();
    let p2 =
        plan::plan(&d, Step::Prepare, &req(), &FixedClock(NOW), &mut CountingEntropy(100)).unwrap();
    let (Outcome::Change(p1), Outcome::Change(p2)) = (p1, p2) else { panic!() };
    assert_ne!(p1.new_text.as_str(), p2.new_text.as_str(), "the key comes from the injected RNG");
    // CountingEntropy(0) yields bytes 1..=32.
    let expected: Vec<u8> = (1..=32).collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&expected);
    assert!(p1.new_text.contains(&b64));
    assert!(!p1.diff.contains(&b64), "the diff must not show the secret");
    assert!(!p1.diff.contains("AQEBAQEB"), "nor the old one");
    assert!(p1.diff.contains("<redacted>"));
}

#[test]
fn provider_migration_aescbc_to_secretbox_and_to_kms_v2() {
    let steady = fixture("aescbc.yaml");
    let prepared = change(&steady, Step::Prepare, &with_provider("secretbox"));
    assert_eq!(
        stages(&prepared, None)[0],
        (Stage::Prepared, Some(format!("secretbox/{NEW}")), vec!["aescbc/key1".into()])
    );
    let promoted = change(&prepared, Step::Promote, &req());
    let d = doc::parse(&promoted).unwrap();
    assert_eq!(d.entries[0].providers[0].type_name(), "secretbox");
    assert_eq!(d.entries[0].providers[1].type_name(), "aescbc");
    let clean = evidence("evidence-reencrypted.json");
    let pruned = change(&promoted, Step::Prune, &Request { evidence: Some(&clean), ..req() });
    let d = doc::parse(&pruned).unwrap();
    assert_eq!(d.entries[0].providers.len(), 1);
    assert_eq!(d.entries[0].providers[0].type_name(), "secretbox");

    let kms = Request {
        prepare: PrepareSpec {
            provider: Some("kms".into()),
            kms_name: Some("vault".into()),
            kms_endpoint: Some("unix:///var/run/kms/vault.sock".into()),
            ..Default::default()
        },
        ..req()
    };
    let prepared = change(&steady, Step::Prepare, &kms);
    assert!(prepared.contains("apiVersion: v2"), "kms v2 must be explicit (v1 is the default)");
    assert_eq!(stages(&prepared, None)[0].1.as_deref(), Some("kms-v2/vault"));
    assert!(noop(&prepared, Step::Prepare, &kms).contains("already prepared"));
    let promoted = change(&prepared, Step::Promote, &req());
    let pruned = change(&promoted, Step::Prune, &Request { evidence: Some(&clean), ..req() });
    assert_eq!(stages(&pruned, None)[0].0, Stage::Steady);
    let no_endpoint = Request {
        prepare: PrepareSpec { provider: Some("kms".into()), ..Default::default() },
        ..req()
    };
    let d = doc::parse(&steady).unwrap();
    assert!(
        plan::plan(&d, Step::Prepare, &no_endpoint, &FixedClock(NOW), &mut CountingEntropy(0))
            .is_err()
    );
}

#[test]
fn kms_to_kms_migration_and_prune_blocked_by_kms_objects() {
    let steady = fixture("kms.yaml");
    refused(&steady, Step::Promote, &req());
    let kms2 = Request {
        prepare: PrepareSpec {
            provider: Some("kms".into()),
            kms_name: Some("vault2".into()),
            kms_endpoint: Some("unix:///var/run/kms/vault2.sock".into()),
            ..Default::default()
        },
        ..req()
    };
    let prepared = change(&steady, Step::Prepare, &kms2);
    assert_eq!(
        stages(&prepared, None)[0],
        (Stage::Prepared, Some("kms-v2/vault2".into()), vec!["kms-v2/vault".into()])
    );
    let promoted = change(&prepared, Step::Promote, &req());
    let in_use = evidence("evidence-kms-vault-in-use.json");
    assert!(
        refused(&promoted, Step::Prune, &Request { evidence: Some(&in_use), ..req() })
            .contains("kms-v2/vault")
    );
    let clean = evidence("evidence-reencrypted.json");
    let pruned = change(&promoted, Step::Prune, &Request { evidence: Some(&clean), ..req() });
    assert!(pruned.contains("vault2") && !pruned.contains("name: vault\n"));
}

#[test]
fn enabling_from_identity_and_disabling_to_identity() {
    let plain = fixture("identity.yaml");
    // Without --provider atrest cannot guess which provider to enable.
    let d = doc::parse(&plain).unwrap();
    assert!(
        plan::plan(&d, Step::Prepare, &req(), &FixedClock(NOW), &mut CountingEntropy(0)).is_err()
    );
    let prepared = change(&plain, Step::Prepare, &with_provider("aesgcm"));
    assert_eq!(
        stages(&prepared, None)[0],
        (Stage::Prepared, Some(format!("aesgcm/{NEW}")), vec!["identity".into()])
    );
    let promoted = change(&prepared, Step::Promote, &req());
    assert_eq!(stages(&promoted, None)[0].2, vec!["identity".to_string()]);
    let plaintext_left = evidence("evidence-plaintext-secrets.json");
    assert!(
        refused(&promoted, Step::Prune, &Request { evidence: Some(&plaintext_left), ..req() })
            .contains("plaintext")
    );
    let clean = evidence("evidence-reencrypted.json");
    let enabled = change(&promoted, Step::Prune, &Request { evidence: Some(&clean), ..req() });
    assert!(!enabled.contains("identity"));

    // Disabling: B is identity; the file alone reads as "promoted enabling", so B is named with --to.
    let aes = fixture("aescbc.yaml");
    let prepared = change(&aes, Step::Prepare, &with_provider("identity"));
    assert!(prepared.contains("identity: {}"));
    let to = |extra: Request<'static>| Request { target: Some("identity".into()), ..extra };
    assert_eq!(stages(&prepared, Some("identity"))[0].0, Stage::Prepared);
    assert!(noop(&prepared, Step::Prepare, &with_provider("identity")).contains("already"));
    let promoted = change(&prepared, Step::Promote, &to(req()));
    let d = doc::parse(&promoted).unwrap();
    assert_eq!(d.entries[0].providers[0].type_name(), "identity");
    let in_use = evidence("evidence-key1-in-use.json");
    refused(
        &promoted,
        Step::Prune,
        &Request { evidence: Some(&in_use), target: Some("identity".into()), ..req() },
    );
    let clean = evidence("evidence-reencrypted.json");
    let disabled = change(
        &promoted,
        Step::Prune,
        &Request { evidence: Some(&clean), target: Some("identity".into()), ..req() },
    );
    let d = doc::parse(&disabled).unwrap();
    assert_eq!(d.entries[0].providers.len(), 1);
    assert!(matches!(d.entries[0].providers[0].kind, ProviderKind::Identity));
}

#[test]
fn multi_entry_config_with_wildcards() {
    let multi = fixture("multi.yaml");
    // Default selection: entries that encrypt (not the identity exemption for events).
    let prepared = change(&multi, Step::Prepare, &req());
    let st = stages(&prepared, None);
    assert_eq!(st[0], (Stage::Prepared, Some(format!("aescbc/{NEW}")), vec!["aescbc/key1".into()]));
    assert_eq!(st[1].0, Stage::Steady, "events (identity) untouched");
    assert_eq!(st[2], (Stage::Prepared, Some(format!("aesgcm/{NEW}")), vec!["aesgcm/gcm1".into()]));
    assert_eq!(
        st[3],
        (Stage::Prepared, Some(format!("secretbox/{NEW}")), vec!["secretbox/box1".into()])
    );
    // Different provider types never share key bytes.
    let d = doc::parse(&prepared).unwrap();
    let secret = |e: usize| match &d.entries[e].providers[0].kind {
        ProviderKind::Local { keys, .. } => keys[1].secret_b64.expose().to_vec(),
        _ => panic!(),
    };
    assert_ne!(secret(0), secret(2));
    assert_ne!(secret(2), secret(3));
    assert!(prepared.contains("# Specific resources first"));

    let promoted = change(&prepared, Step::Promote, &req());
    assert!(stages(&promoted, None).iter().filter(|s| s.0 == Stage::Promoted).count() == 3);
    // *.apps still holds a gcm1 object: the whole prune is refused and says which entry.
    let ev = evidence("evidence-multi.json");
    let m = refused(&promoted, Step::Prune, &Request { evidence: Some(&ev), ..req() });
    assert!(m.contains("entry 2") && m.contains("aesgcm/gcm1"), "{m}");
    assert!(!m.contains("entry 0"), "secrets are clean: {m}");
    // Selecting only the clean entries works (wildcard entry selected as written).
    let sel =
        Request { evidence: Some(&ev), resources: vec!["secrets".into(), "*.*".into()], ..req() };
    let partial = change(&promoted, Step::Prune, &sel);
    let st = stages(&partial, None);
    assert_eq!((st[0].0, st[2].0, st[3].0), (Stage::Steady, Stage::Promoted, Stage::Steady));
    // --force prunes *.apps anyway, with a loud warning.
    let d = doc::parse(&partial).unwrap();
    let Outcome::Change(p) = plan::plan(
        &d,
        Step::Prune,
        &Request { evidence: Some(&ev), force: true, ..req() },
        &FixedClock(NOW),
        &mut CountingEntropy(0),
    )
    .unwrap() else {
        panic!()
    };
    assert!(p.warnings.iter().any(|w| w.contains("UNREADABLE") && w.contains("gcm1")));
    // An unknown resource is refused with advice.
    assert!(
        refused(&multi, Step::Prepare, &Request { resources: vec!["pods".into()], ..req() })
            .contains("not listed")
    );
    // Enabling the identity exemption explicitly.
    let events = change(
        &multi,
        Step::Prepare,
        &Request { resources: vec!["events".into()], ..with_provider("secretbox") },
    );
    assert_eq!(stages(&events, None)[1].0, Stage::Prepared);
    assert_eq!(stages(&events, None)[0].0, Stage::Steady);
}

#[test]
fn flow_style_files_are_re_emitted_and_say_so() {
    let flow = fixture("flow.yaml");
    let d = doc::parse(&flow).unwrap();
    let Outcome::Change(p) =
        plan::plan(&d, Step::Prepare, &req(), &FixedClock(NOW), &mut CountingEntropy(0)).unwrap()
    else {
        panic!()
    };
    assert!(p.reemitted);
    assert!(p.notes.iter().any(|n| n.contains("RE-EMITTED")));
    let promoted = change(&p.new_text, Step::Promote, &req());
    assert_eq!(stages(&promoted, None)[0].0, Stage::Promoted);
}

#[test]
fn ambiguous_names_need_to() {
    let text = fixture("aescbc.yaml").replace("key1", "old");
    let prepared = change(
        &text,
        Step::Prepare,
        &Request {
            prepare: PrepareSpec { key_name: Some("new".into()), ..Default::default() },
            ..req()
        },
    );
    assert_eq!(stages(&prepared, None)[0].0, Stage::Irregular);
    assert!(refused(&prepared, Step::Promote, &req()).contains("--to"));
    let promoted =
        change(&prepared, Step::Promote, &Request { target: Some("aescbc/new".into()), ..req() });
    assert_eq!(stages(&promoted, Some("aescbc/new"))[0].0, Stage::Promoted);
    // A name with ':' would corrupt the stored prefix.
    let d = doc::parse(&text).unwrap();
    let bad = Request {
        prepare: PrepareSpec { key_name: Some("a:b".into()), ..Default::default() },
        ..req()
    };
    assert!(
        plan::plan(&d, Step::Prepare, &bad, &FixedClock(NOW), &mut CountingEntropy(0)).is_err()
    );
}

#[test]
fn evidence_from_another_config_is_flagged() {
    let steady = fixture("multi.yaml");
    let promoted = change(&change(&steady, Step::Prepare, &req()), Step::Promote, &req());
    let mut ev = evidence("evidence-reencrypted.json");
    ev.config_hash = Some("sha256:00".into());
    let d = doc::parse(&promoted).unwrap();
    let sel =
        Request { evidence: Some(&ev), resources: vec!["secrets".into(), "*.*".into()], ..req() };
    let Outcome::Change(p) =
        plan::plan(&d, Step::Prune, &sel, &FixedClock(NOW), &mut CountingEntropy(0)).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        p.warnings.iter().filter(|w| w.contains("different config")).count(),
        1,
        "{:?}",
        p.warnings
    );
    ev.config_hash = Some(atrest::rotation::file_hash(promoted.as_bytes()));
    let sel =
        Request { evidence: Some(&ev), resources: vec!["secrets".into(), "*.*".into()], ..req() };
    let Outcome::Change(p) =
        plan::plan(&d, Step::Prune, &sel, &FixedClock(NOW), &mut CountingEntropy(0)).unwrap()
    else {
        panic!()
    };
    assert!(p.warnings.is_empty());
}

#[test]
fn truncated_and_mangled_configs_never_panic() {
    for name in ["aescbc.yaml", "multi.yaml", "flow.yaml", "kms.yaml"] {
        let text = fixture(name);
        let mut cuts: Vec<String> = (0..text.len())
            .filter(|i| text.is_char_boundary(*i))
            .map(|i| text[..i].to_string())
            .collect();
        cuts.push(text.replace("  ", "\t"));
        cuts.push(text.replace(':', ""));
        cuts.push(text.replace("- ", "-- "));
        for t in cuts {
            if let Ok(d) = doc::parse(&t) {
                let _ = doc::check(&d);
                let _ = stage::derive(&d, None);
                for step in [Step::Prepare, Step::Promote, Step::Prune] {
                    let _ = plan::plan(
                        &d,
                        step,
                        &Request { force: true, ..with_provider("secretbox") },
                        &FixedClock(NOW),
                        &mut CountingEntropy(0),
                    );
                }
            }
        }
    }
}

#[test]
fn crlf_files_stay_crlf() {
    let text = fixture("aescbc.yaml").replace('\n', "\r\n");
    let prepared = change(&text, Step::Prepare, &req());
    let promoted = change(&prepared, Step::Promote, &req());
    for t in [&prepared, &promoted] {
        assert_eq!(t.matches('\n').count(), t.matches("\r\n").count(), "no bare LF: {t:?}");
    }
    assert_eq!(stages(&promoted, None)[0].0, Stage::Promoted);
}

#[test]
fn kms_names_stay_unique_across_entries() {
    let kms = |name: &str, resources: Vec<String>| Request {
        resources,
        prepare: PrepareSpec {
            provider: Some("kms".into()),
            kms_name: Some(name.into()),
            kms_endpoint: Some("unix:///var/run/kms/k.sock".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let multi = fixture("multi.yaml");
    assert!(refused(&multi, Step::Prepare, &kms("vault", vec![])).contains("unique"));
    let one = change(&multi, Step::Prepare, &kms("vault", vec!["secrets".into()]));
    assert!(
        refused(&one, Step::Prepare, &kms("vault", vec!["*.apps".into()]))
            .contains("already exists in entry 0")
    );
    let two = change(&one, Step::Prepare, &kms("vault-apps", vec!["*.apps".into()]));
    assert_eq!(stages(&two, None)[2].1.as_deref(), Some("kms-v2/vault-apps"));
    assert!(
        noop(&two, Step::Prepare, &kms("vault", vec!["secrets".into()]))
            .contains("already prepared")
    );
}

#[test]
fn every_valid_config_of_the_config_corpus_rotates() {
    let dir = format!("{}/fixtures/configs/valid", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    let mut reemitted = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = e.path();
        let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("");
        if ext != "yaml" && ext != "json" {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        let d = doc::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let loads = atrest::config::load_str(&text).is_ok();
        let _ = stage::derive(&d, None);
        // Move every entry to secretbox under a fresh key (a key rotation where it already is secretbox).
        let mut cur = text.clone();
        for step in [Step::Prepare, Step::Promote, Step::Prune] {
            let d = doc::parse(&cur).unwrap();
            let r = Request {
                force: true,
                resources: d.entries.iter().flat_map(|e| e.resources.clone()).collect(),
                ..with_provider("secretbox")
            };
            match plan::plan(&d, step, &r, &FixedClock(NOW), &mut CountingEntropy(0)) {
                Ok(Outcome::Change(p)) => {
                    reemitted += usize::from(p.reemitted);
                    if loads {
                        atrest::config::load_str(&p.new_text)
                            .unwrap_or_else(|e| panic!("{name} after {step:?}: {e}"));
                    }
                    cur = p.new_text.to_string();
                }
                Ok(Outcome::NoOp(_)) => {}
                Ok(Outcome::Refused(m)) => {
                    // Only configs that are mid-transition or ambiguous may refuse.
                    assert!(
                        m.contains("irregular")
                            || m.contains("not finished")
                            || m.contains("pending")
                            || m.contains("nothing is prepared"),
                        "{name} {step:?}: {m}"
                    );
                }
                Err(e) => panic!("{name} {step:?}: {e}"),
            }
        }
        let end = doc::parse(&cur).unwrap();
        let _ = stage::derive(&end, None);
    }
    assert!(seen >= 10, "corpus found: {seen}");
    assert!(reemitted >= 1, "the flow-style JSON and anchored configs are re-emitted");
}

/// Plans never show a key, however its value is written: on the line after
/// `secret:`, folded, tagged, anchored (and copied by an alias).
#[test]
fn plans_withhold_secrets_written_in_any_yaml_style() {
    const OLD: &str = "U0VDUkVUTUFSS0VSQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n    providers:\n      - aescbc:\n          keys:\n            - name: key1\n";
    let styles = [
        format!("              secret:\n                {OLD}\n"),
        format!("              secret: >-\n                {OLD}\n"),
        format!("              secret: !!str {OLD}\n"),
        format!(
            "              secret: &s {OLD}\n  - resources:\n      - configmaps\n    providers:\n      - aescbc:\n          keys:\n            - name: key1\n              secret: *s\n"
        ),
    ];
    for style in &styles {
        let text = format!("{head}{style}");
        let mut shown = Vec::new();
        match run(&text, Step::Prepare, &req()) {
            Outcome::Change(p) => {
                assert!(p.new_text.contains(OLD), "the planned file keeps the key");
                shown.push(p.diff.clone());
                // Promote the prepared file too: it moves the old key's lines.
                match run(&p.new_text, Step::Promote, &req()) {
                    Outcome::Change(q) => shown.push(q.diff.clone()),
                    other => panic!("{style}: expected a promotion: {}", describe(&other)),
                }
            }
            other => panic!("{style}: expected a change: {}", describe(&other)),
        }
        for diff in shown {
            for piece in OLD.as_bytes().windows(6) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(!diff.contains(piece), "{style}: the plan shows {piece:?}:\n{diff}");
            }
        }
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Change(p) => p.diff.clone(),
        Outcome::NoOp(m) | Outcome::Refused(m) => m.clone(),
    }
}
