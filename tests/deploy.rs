//! The CronJob in `deploy/` parses, runs `atrest scan` with flags that exist,
//! and asks for no privilege beyond reading root-owned files.

use std::process::Command;

use saphyr::{LoadableYamlNode, YamlOwned};

fn manifest() -> YamlOwned {
    let text = std::fs::read_to_string("deploy/cronjob.yaml").expect("deploy/cronjob.yaml");
    let mut docs = YamlOwned::load_from_str(&text).expect("cronjob.yaml is YAML");
    assert_eq!(docs.len(), 1, "one document");
    docs.remove(0)
}

fn get<'a>(y: &'a YamlOwned, path: &[&str]) -> &'a YamlOwned {
    path.iter().fold(y, |node, k| {
        node.as_mapping_get(k).unwrap_or_else(|| panic!("missing {k} in {}", path.join(".")))
    })
}

fn str_of(y: &YamlOwned) -> &str {
    y.as_str().unwrap_or_else(|| panic!("not a string: {y:?}"))
}

fn seq(y: &YamlOwned) -> &Vec<YamlOwned> {
    y.as_vec().unwrap_or_else(|| panic!("not a sequence: {y:?}"))
}

fn pod_spec(m: &YamlOwned) -> &YamlOwned {
    get(m, &["spec", "jobTemplate", "spec", "template", "spec"])
}

#[test]
fn is_a_cronjob_on_control_plane_nodes_with_host_network() {
    let m = manifest();
    assert_eq!(str_of(get(&m, &["kind"])), "CronJob");
    assert_eq!(str_of(get(&m, &["apiVersion"])), "batch/v1");
    let pod = pod_spec(&m);
    assert_eq!(get(pod, &["hostNetwork"]).as_bool(), Some(true));
    assert_eq!(get(pod, &["automountServiceAccountToken"]).as_bool(), Some(false));
    assert!(
        get(pod, &["nodeSelector"])
            .as_mapping_get("node-role.kubernetes.io/control-plane")
            .is_some()
    );
    let tolerates = seq(get(pod, &["tolerations"]))
        .iter()
        .any(|t| str_of(get(t, &["key"])) == "node-role.kubernetes.io/control-plane");
    assert!(tolerates, "tolerates the control-plane taint");
}

#[test]
fn mounts_are_read_only_except_the_output_and_nothing_is_privileged() {
    let m = manifest();
    let pod = pod_spec(&m);
    for key in ["hostPID", "hostIPC"] {
        assert!(pod.as_mapping_get(key).and_then(YamlOwned::as_bool) != Some(true), "{key}");
    }
    let volumes = seq(get(pod, &["volumes"]));
    let containers = seq(get(pod, &["containers"]));
    assert!(pod.as_mapping_get("initContainers").is_none());
    let mut writable = Vec::new();
    for c in containers {
        let sc = get(c, &["securityContext"]);
        assert_ne!(sc.as_mapping_get("privileged").and_then(YamlOwned::as_bool), Some(true));
        assert_eq!(get(sc, &["allowPrivilegeEscalation"]).as_bool(), Some(false));
        assert_eq!(get(sc, &["readOnlyRootFilesystem"]).as_bool(), Some(true));
        let caps = get(sc, &["capabilities"]);
        assert!(caps.as_mapping_get("add").is_none(), "no added capabilities");
        let drop: Vec<&str> = seq(get(caps, &["drop"])).iter().map(str_of).collect();
        assert_eq!(drop, ["ALL"]);
        for mount in seq(get(c, &["volumeMounts"])) {
            let name = str_of(get(mount, &["name"]));
            let vol = volumes
                .iter()
                .find(|v| str_of(get(v, &["name"])) == name)
                .unwrap_or_else(|| panic!("volume {name} not declared"));
            assert!(vol.as_mapping_get("hostPath").is_some(), "{name} is a hostPath");
            if mount.as_mapping_get("readOnly").and_then(YamlOwned::as_bool) != Some(true) {
                writable.push(str_of(get(mount, &["mountPath"])).to_string());
            }
        }
    }
    assert_eq!(writable, ["/out"], "only the output directory is writable");
    // The output paths are inside the one writable mount.
    let args: Vec<&str> = seq(get(&containers[0], &["args"])).iter().map(str_of).collect();
    for flag in ["--output", "--metrics-file"] {
        let i = args.iter().position(|a| *a == flag).unwrap_or_else(|| panic!("{flag}"));
        assert!(args[i + 1].starts_with("/out/"), "{flag} {}", args[i + 1]);
    }
    // The certs and config the scan reads are mounted.
    let mounts: Vec<&str> = seq(get(&containers[0], &["volumeMounts"]))
        .iter()
        .map(|v| str_of(get(v, &["mountPath"])))
        .collect();
    for flag in ["--cacert", "--cert", "--key", "--config"] {
        let i = args.iter().position(|a| *a == flag).unwrap_or_else(|| panic!("{flag}"));
        let path = args[i + 1];
        assert!(mounts.iter().any(|m| path.starts_with(m)), "{flag} {path} is not mounted");
    }
}

#[test]
fn runs_as_root_only_with_every_capability_dropped() {
    let m = manifest();
    let pod = pod_spec(&m);
    let uid = get(pod, &["securityContext", "runAsUser"]).as_integer();
    // uid 0 is only there to read root:root 0600 key files as their owner; the
    // file must say why.
    if uid == Some(0) {
        let text = std::fs::read_to_string("deploy/cronjob.yaml").unwrap();
        assert!(text.contains("Why root"), "explain runAsUser: 0");
    }
}

#[test]
fn the_command_uses_only_flags_of_atrest_scan() {
    let m = manifest();
    let c = &seq(get(pod_spec(&m), &["containers"]))[0];
    let command: Vec<&str> = seq(get(c, &["command"])).iter().map(str_of).collect();
    assert!(command[0].ends_with("/atrest"), "{command:?}");
    let args: Vec<&str> = seq(get(c, &["args"])).iter().map(str_of).collect();
    assert_eq!(args[0], "scan");
    let help =
        Command::new(env!("CARGO_BIN_EXE_atrest")).args(["scan", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{flag} not in `atrest scan --help`"
        );
    }
    // And clap accepts the whole command line (up to the connection attempt):
    // a parse error would exit 2 with "error: unexpected argument".
    let out =
        Command::new(env!("CARGO_BIN_EXE_atrest")).args(&args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn dockerfile_builds_a_static_binary() {
    let d = std::fs::read_to_string("deploy/Dockerfile").unwrap();
    assert!(d.contains("x86_64-unknown-linux-musl"));
    assert!(d.contains("distroless/static"));
    assert!(d.contains("ENTRYPOINT [\"/usr/local/bin/atrest\"]"));
}
