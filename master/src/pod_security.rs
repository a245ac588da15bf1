//! Pod Security for the stakers' workloads: a row of the tier table
//! ([`crate::tiers`], `pod-security`).
//!
//! Workers belong to other stakers, so no user pod may be privileged, share
//! a host namespace or mount a host path. Two things enforce the
//! `restricted` Pod Security Standard:
//!
//! - the developers' own namespaces carry the labels
//!   [`namespace_labels`] (`pod-security.kubernetes.io/enforce:
//!   restricted`), applied by the master whenever it provisions one;
//! - the API server's `AdmissionConfiguration`
//!   ([`admission_configuration`], written by `daas-master webhook-files`
//!   for `--admission-control-config-file`) makes `restricted` the default
//!   of every namespace without labels, exempting only the system
//!   namespaces.
//!
//! Only super may change a namespace's labels (the tier table's
//! `namespaces` row), so only super can relax either.

use std::path::{Path, PathBuf};

use daas_core::private_file::{PrivateFileError, write_atomic};

use crate::namespaces::SYSTEM_NAMESPACES;

/// The label that sets the enforced level.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";
/// The label that sets the enforced level's version.
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
/// The level enforced.
pub const LEVEL: &str = "restricted";
/// The level's version: the API server's own.
pub const VERSION: &str = "latest";
/// Name of the file [`write_admission_configuration`] writes.
pub const ADMISSION_CONFIG_FILE: &str = "admission-config.yaml";

/// The labels of a developer's namespace.
pub fn namespace_labels() -> [(String, String); 2] {
    [
        (ENFORCE_LABEL.to_owned(), LEVEL.to_owned()),
        (ENFORCE_VERSION_LABEL.to_owned(), VERSION.to_owned()),
    ]
}

/// The API server's `AdmissionConfiguration`: Pod Security enforces (and
/// warns and audits) `restricted` in every namespace that does not say
/// otherwise, the system namespaces exempted.
pub fn admission_configuration() -> String {
    let exempt: Vec<String> = SYSTEM_NAMESPACES
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect();
    let mut defaults = String::new();
    for mode in ["enforce", "audit", "warn"] {
        defaults.push_str(&format!(
            "      {mode}: \"{LEVEL}\"\n      {mode}-version: \"{VERSION}\"\n"
        ));
    }
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n\
         - name: PodSecurity\n  configuration:\n    \
         apiVersion: pod-security.admission.config.k8s.io/v1\n    \
         kind: PodSecurityConfiguration\n    defaults:\n{defaults}    exemptions:\n      \
         usernames: []\n      runtimeClasses: []\n      namespaces: [{}]\n",
        exempt.join(", ")
    )
}

/// Writes [`admission_configuration`] to [`ADMISSION_CONFIG_FILE`] in
/// `dir`, for `--admission-control-config-file`, and returns its path.
///
/// # Errors
/// The file cannot be written.
pub fn write_admission_configuration(dir: &Path) -> Result<PathBuf, PrivateFileError> {
    let path = dir.join(ADMISSION_CONFIG_FILE);
    write_atomic(&path, admission_configuration().as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_restricted_and_only_system_namespaces_are_exempt() {
        let text = admission_configuration();
        let value: serde_json::Value = daas_core::yaml::from_str(&text).unwrap();
        let plugin = &value["plugins"][0];
        assert_eq!(plugin["name"], "PodSecurity");
        let configuration = &plugin["configuration"];
        assert_eq!(configuration["kind"], "PodSecurityConfiguration");
        for mode in ["enforce", "audit", "warn"] {
            assert_eq!(configuration["defaults"][mode], LEVEL);
            assert_eq!(
                configuration["defaults"][format!("{mode}-version")],
                VERSION
            );
        }
        let exempt = &configuration["exemptions"];
        assert_eq!(exempt["namespaces"], serde_json::json!(SYSTEM_NAMESPACES));
        assert_eq!(exempt["usernames"], serde_json::json!([]));
        assert_eq!(exempt["runtimeClasses"], serde_json::json!([]));
    }

    #[test]
    fn the_file_is_written_where_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_admission_configuration(dir.path()).unwrap();
        assert_eq!(path, dir.path().join(ADMISSION_CONFIG_FILE));
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            admission_configuration()
        );
    }
}
