//! The completion scripts of `atrest completions bash|zsh|fish`, checked by
//! the real shells: each script parses, loads, registers a completion for
//! `atrest`, and completes `atrest sc` to `scan`.
//!
//! The shells are required (scripts/test installs bash, zsh and fish): a
//! missing shell fails the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory holding the atrest binary under test (for `PATH`).
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_atrest")).parent().unwrap().to_path_buf()
}

/// Writes the script for `shell` into `dir` and returns its path.
fn script(shell: &str, dir: &Path, name: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["completions", shell])
        .output()
        .expect("run atrest");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Runs `shell` with `args` in `dir` (also HOME, so nothing touches the real
/// one), the binary's directory first on PATH, under a 60 s `timeout`.
fn run(shell: &str, args: &[&str], dir: &Path) -> Output {
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("timeout")
        .arg("60")
        .arg(shell)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("XDG_DATA_HOME", dir.join(".local/share"))
        .env("PATH", path)
        .env_remove("ZDOTDIR")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shell}: {e}"));
    // timeout(1) exits 127 when the command is missing, 124 when it hung.
    match out.status.code() {
        Some(127) => panic!(
            "{shell} is not installed; install it (scripts/test does: apt-get install {shell})"
        ),
        Some(124) => panic!("{shell} {args:?} hung: {}", String::from_utf8_lossy(&out.stdout)),
        _ => out,
    }
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_parses_registers_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let file = script("bash", dir.path(), "atrest.bash");
    let f = file.to_str().unwrap();
    ok(&run("bash", &["-n", f], dir.path()), "bash -n");
    let spec = ok(
        &run("bash", &["-c", &format!("source {f} && complete -p atrest")], dir.path()),
        "complete -p",
    );
    assert!(spec.contains("-F _atrest") && spec.trim_end().ends_with(" atrest"), "{spec}");
    // What bash's completion machinery does on TAB: call the function with
    // COMP_WORDS/COMP_CWORD set, read COMPREPLY.
    let complete = |words: &str, cword: usize, args: &str| {
        ok(
            &run(
                "bash",
                &[
                    "-c",
                    &format!(
                        "source {f}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
                         COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
                         _atrest {args}; printf '%s\\n' \"${{COMPREPLY[@]}}\""
                    ),
                ],
                dir.path(),
            ),
            words,
        )
    };
    assert_eq!(complete("atrest sc", 1, "atrest sc atrest"), "scan\n");
    let formats = complete("atrest scan --format ''", 3, "atrest '' --format");
    let formats: Vec<&str> = formats.lines().collect();
    assert_eq!(formats, ["text", "json", "jsonl", "sarif", "junit", "prometheus"]);
}

#[test]
fn zsh_parses_loads_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let file = script("zsh", dir.path(), "_atrest");
    let f = file.to_str().unwrap();
    ok(&run("zsh", &["-n", f], dir.path()), "zsh -n");
    // Loading it registers _atrest for atrest with compdef.
    let loaded = ok(
        &run(
            "zsh",
            &[
                "-f",
                "-c",
                &format!(
                    "autoload -U compinit && compinit -u -D && source {f} && print -r -- ${{_comps[atrest]}}"
                ),
            ],
            dir.path(),
        ),
        "zsh load",
    );
    assert_eq!(loaded, "_atrest\n");
    // And completes for real: an interactive zsh on a pseudo-terminal
    // (zsh/zpty) gets `atrest sc<TAB>` and must show `atrest scan`.
    let driver = dir.path().join("drive.zsh");
    std::fs::write(
        &driver,
        r#"zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PS1='> '; autoload -U compinit; compinit -u -D; source $1; print LOADED-\$((6*7))"
zpty -r -m z out '*LOADED-42*' || exit 4
zpty -w -n z $'atrest sc\t'
zpty -r -m z out '*atrest scan*' || exit 5
print -r -- "$out"
zpty -d z
"#,
    )
    .unwrap();
    let shown = ok(&run("zsh", &["-f", driver.to_str().unwrap(), f], dir.path()), "zsh TAB");
    assert!(shown.contains("atrest scan"), "{shown}");
}

#[test]
fn fish_parses_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let file = script("fish", dir.path(), "atrest.fish");
    let f = file.to_str().unwrap();
    ok(&run("fish", &["--no-execute", f], dir.path()), "fish --no-execute");
    let complete = |line: &str, source: bool| {
        let load = if source { format!("source {f}; ") } else { String::new() };
        ok(
            &run(
                "fish",
                &["--no-config", "-c", &format!("{load}complete -C '{line}'")],
                dir.path(),
            ),
            line,
        )
    };
    let sc = complete("atrest sc", true);
    assert!(sc.lines().any(|l| l.starts_with("scan\t")), "{sc}");
    assert_eq!(sc.lines().count(), 1, "{sc}");
    // Control: without the script, fish knows nothing of atrest's subcommands.
    assert_eq!(complete("atrest sc", false), "");
    let formats = complete("atrest scan --format ", true);
    let mut formats: Vec<&str> = formats.lines().collect();
    formats.sort_unstable();
    assert_eq!(formats, ["json", "jsonl", "junit", "prometheus", "sarif", "text"]);
}
