//! Version facts: which Kubernetes release the file is checked against and
//! which feature gates are set.
//!
//! kube-apiserver's behaviour changes between releases (wildcard resources
//! from 1.27, KMS v2 from 1.25/1.27, KMS v1 disabled by default from 1.29).
//! This module holds the release number and the gates and answers those
//! questions; it knows nothing about YAML.

use std::fmt;
use std::str::FromStr;

/// A Kubernetes minor release, e.g. `1.36`. Patch levels are accepted when
/// parsing and ignored: none of the facts here change within a minor release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    /// Major version (always 1 today).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl KubeVersion {
    /// The release atrest checks against by default (the source read for
    /// `k8s-format.md` is 1.36).
    pub const DEFAULT: KubeVersion = KubeVersion { major: 1, minor: 36 };

    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// Whether this release is at least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= Self::new(major, minor)
    }
}

impl Default for KubeVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A `--kube-version` that is not `MAJOR.MINOR[.PATCH]`.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid Kubernetes version {0:?}: expected MAJOR.MINOR such as 1.36 (a leading v and a .PATCH are accepted)"
)]
pub struct BadVersion(String);

impl FromStr for KubeVersion {
    type Err = BadVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadVersion(s.to_string());
        let t = s.trim().trim_start_matches('v');
        let mut parts = t.split('.');
        let major = parts.next().and_then(|p| p.parse::<u32>().ok()).ok_or_else(bad)?;
        let minor_part = parts.next().ok_or_else(bad)?;
        // Accept suffixes such as `1.30.2-gke.100` on the patch part only.
        let minor = minor_part.parse::<u32>().map_err(|_| bad())?;
        if let Some(patch) = parts.next() {
            let digits: String = patch.chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.is_empty() {
                return Err(bad());
            }
        }
        Ok(Self { major, minor })
    }
}

/// The feature gates that change how the encryption config loads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureGates {
    /// `--feature-gates=KMSv1=...`; `None` means the release's default.
    pub kms_v1: Option<bool>,
    /// `--feature-gates=KMSv2=...`; `None` means the release's default.
    pub kms_v2: Option<bool>,
}

/// A `--feature-gates` value that cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid --feature-gates entry {0:?}: expected NAME=true|false, e.g. KMSv1=true")]
pub struct BadGate(String);

impl FromStr for FeatureGates {
    type Err = BadGate;

    /// Parses `KMSv1=true,KMSv2=false`. Gates other than KMSv1/KMSv2 are
    /// accepted and ignored (they do not affect the encryption config).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut gates = FeatureGates::default();
        gates.merge(s)?;
        Ok(gates)
    }
}

impl FeatureGates {
    /// Adds the gates of one `--feature-gates` value (later values win).
    pub fn merge(&mut self, s: &str) -> Result<(), BadGate> {
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item.split_once('=').ok_or_else(|| BadGate(item.to_string()))?;
            let value = match value.trim() {
                "true" | "True" | "TRUE" | "1" => true,
                "false" | "False" | "FALSE" | "0" => false,
                _ => return Err(BadGate(item.to_string())),
            };
            match name.trim() {
                "KMSv1" => self.kms_v1 = Some(value),
                "KMSv2" => self.kms_v2 = Some(value),
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether KMS v1 providers load on `v`: on by default up to 1.28, off by
    /// default from 1.29 (deprecated in 1.28).
    pub fn kms_v1_enabled(&self, v: KubeVersion) -> bool {
        self.kms_v1.unwrap_or(!v.at_least(1, 29))
    }

    /// Whether KMS v2 providers load on `v`: absent before 1.25, alpha (off by
    /// default) in 1.25 and 1.26, beta (on) in 1.27–1.28, GA from 1.29.
    pub fn kms_v2_enabled(&self, v: KubeVersion) -> bool {
        if !v.at_least(1, 25) {
            return false;
        }
        if v.at_least(1, 29) {
            return true;
        }
        self.kms_v2.unwrap_or(v.at_least(1, 27))
    }
}

/// What the file is checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The kube-apiserver release.
    pub kube_version: KubeVersion,
    /// Feature gates set on that kube-apiserver.
    pub gates: FeatureGates,
    /// `--encryption-provider-config-automatic-reload`: also requires unique
    /// KMS v1 names.
    pub reload: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!("1.29".parse::<KubeVersion>().unwrap(), KubeVersion::new(1, 29));
        assert_eq!("v1.30.2".parse::<KubeVersion>().unwrap(), KubeVersion::new(1, 30));
        assert!("1".parse::<KubeVersion>().is_err());
        assert!("one.two".parse::<KubeVersion>().is_err());
        assert!(KubeVersion::new(1, 36).at_least(1, 29));
        assert!(!KubeVersion::new(1, 26).at_least(1, 27));
    }

    #[test]
    fn kms_gates_follow_the_release_defaults() {
        let g = FeatureGates::default();
        assert!(g.kms_v1_enabled(KubeVersion::new(1, 28)));
        assert!(!g.kms_v1_enabled(KubeVersion::new(1, 29)));
        let on: FeatureGates = "KMSv1=true,Other=false".parse().unwrap();
        assert!(on.kms_v1_enabled(KubeVersion::new(1, 36)));
        assert!(!g.kms_v2_enabled(KubeVersion::new(1, 26)));
        assert!(g.kms_v2_enabled(KubeVersion::new(1, 27)));
        assert!("KMSv1".parse::<FeatureGates>().is_err());
    }
}
