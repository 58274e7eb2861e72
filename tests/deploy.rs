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

/// The one `cargo build` command of `file`, from `RUSTFLAGS=` to `--bin atrest`.
fn build_command(file: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("cargo build")).collect();
    assert_eq!(lines.len(), 1, "{file}: exactly one cargo build line: {lines:?}");
    let line = lines[0];
    let start = line.find("RUSTFLAGS=").unwrap_or_else(|| panic!("{file}: no RUSTFLAGS: {line}"));
    let end = line.find("--bin atrest").unwrap_or_else(|| panic!("{file}: no --bin atrest"));
    line[start..end + "--bin atrest".len()].to_string()
}

#[test]
fn dockerfile_builds_exactly_what_check_static_verified() {
    let docker = build_command("deploy/Dockerfile");
    assert_eq!(docker, build_command("deploy/check-static"), "the two must not drift");
    for part in ["-C target-feature=+crt-static", "--release", "--locked"] {
        assert!(docker.contains(part), "{part}: {docker}");
    }
    assert!(docker.contains("--target x86_64-unknown-linux-gnu"), "{docker}");
    let d = std::fs::read_to_string("deploy/Dockerfile").unwrap();
    let from: Vec<&str> = d.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 2, "{from:?}");
    // A glibc (Debian) build stage on the crate's minimum Rust version.
    let manifest = std::fs::read_to_string("Cargo.toml").unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"');
    assert_eq!(from[0], format!("FROM rust:{msrv}-bookworm AS build"));
    assert!(from[1].starts_with("FROM gcr.io/distroless/static-debian12"), "{}", from[1]);
    // The binary that command builds is the one the image runs.
    assert!(d.contains("strip -o /atrest target/x86_64-unknown-linux-gnu/release/atrest"));
    assert!(d.contains("COPY --from=build /atrest /usr/local/bin/atrest"));
    assert!(d.contains("ENTRYPOINT [\"/usr/local/bin/atrest\"]"));
    // check-static builds from the Dockerfile's own COPY lines, not a list of its own.
    let script = std::fs::read_to_string("deploy/check-static").unwrap();
    assert!(
        script.contains("/^COPY [^-]/p' deploy/Dockerfile"),
        "check-static reads the COPY lines"
    );
}

#[test]
fn the_cronjob_names_etcd_by_ip() {
    // deploy/README.md: a static glibc binary resolves names only through
    // /etc/hosts and DNS; kubeadm's etcd listens on 127.0.0.1, so no name is needed.
    let m = manifest();
    let c = &seq(get(pod_spec(&m), &["containers"]))[0];
    let args: Vec<&str> = seq(get(c, &["args"])).iter().map(str_of).collect();
    let i = args.iter().position(|a| *a == "--endpoints").expect("--endpoints");
    for endpoint in args[i + 1].split(',') {
        let host = endpoint.trim_start_matches("https://").rsplit_once(':').unwrap().0;
        assert!(host.parse::<std::net::IpAddr>().is_ok(), "{endpoint} is not an IP");
    }
}
