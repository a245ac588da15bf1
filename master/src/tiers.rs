//! The tier table: what each stake tier may and may not do. One table in
//! code, from which the README's table is rendered ([`markdown`], checked
//! by a test) and against which the master decides.
//!
//! - **Grants** ([`GRANTS`]) are RBAC bindings the master keeps
//!   ([`crate::rbac`]): `view`, `edit` in the developer's own namespace,
//!   `admin`, `cluster-admin`.
//! - **Restrictions** ([`RESTRICTIONS`]) are refusals by tier, enforced
//!   where Kubernetes lets the master enforce them: most by the master's
//!   authorization webhook, which the API server consults for every `sui:`
//!   user before RBAC ([`refusal`]), one by a ValidatingAdmissionPolicy the
//!   master applies ([`crate::tier_policy`]), one by Pod Security
//!   admission. Only super is `cluster-admin`; no restriction binds it.
//!
//! Rows are checked in order and the first that matches names the refusal,
//! so specific rows come before the general ones; every row's refusal
//! message ends with its name in brackets (`[system-namespace-writes]`).

use daas_core::package::staking::{
    DEFAULT_TIER_ADMIN, DEFAULT_TIER_DEVELOPER, DEFAULT_TIER_SUPER, DEFAULT_TIER_VIEWER,
};
use daas_core::package::{Mist, Tier};
use serde::{Deserialize, Serialize};

use crate::namespaces::is_system_namespace;

/// What one tier may do: its RBAC grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierGrant {
    /// The tier.
    pub tier: Tier,
    /// The stake that buys it with the pool's default thresholds.
    pub default_stake: Mist,
    /// What it may do, as the README says it.
    pub may: &'static str,
}

/// Every tier's grant, lowest first.
pub const GRANTS: [TierGrant; 4] = [
    TierGrant {
        tier: Tier::Viewer,
        default_stake: DEFAULT_TIER_VIEWER,
        may: "read workloads in every namespace, Secrets excepted (`view`)",
    },
    TierGrant {
        tier: Tier::Developer,
        default_stake: DEFAULT_TIER_DEVELOPER,
        may: "what a viewer may, and create, change and delete workloads and Secrets in \
              its own namespace `daas-u-<first 16 hex digits of the address>` (`edit` there), \
              which the master creates with Pod Security `restricted`",
    },
    TierGrant {
        tier: Tier::Admin,
        default_stake: DEFAULT_TIER_ADMIN,
        may: "administer workloads in every namespace but the system ones (`admin`)",
    },
    TierGrant {
        tier: Tier::Super,
        default_stake: DEFAULT_TIER_SUPER,
        may: "everything (`cluster-admin`): the only tier that changes the cluster itself, \
              its system namespaces and its RBAC",
    },
];

/// The tiers below super.
const BELOW_SUPER: &[Tier] = &[Tier::Viewer, Tier::Developer, Tier::Admin];

/// One refusal of the tier table.
#[derive(Debug, Clone, Copy)]
pub struct Restriction {
    /// A short name, ending every refusal message in brackets.
    pub name: &'static str,
    /// What is refused, as the README says it.
    pub refused: &'static str,
    /// The tiers refused (never super).
    pub tiers: &'static [Tier],
    /// Who enforces it.
    pub enforcement: Enforcement,
}

/// Who enforces a restriction.
#[derive(Debug, Clone, Copy)]
pub enum Enforcement {
    /// The master's authorization webhook, when the request matches.
    Webhook(fn(&Subject, &ResourceAttributes) -> bool),
    /// The webhook, for requests to non-resource URLs.
    WebhookNonResource(fn(&NonResourceAttributes) -> bool),
    /// The ValidatingAdmissionPolicy the master applies
    /// ([`crate::tier_policy`]).
    AdmissionPolicy,
    /// Pod Security admission: `restricted` enforced in the developers'
    /// namespaces and by the API server's cluster-wide default
    /// ([`crate::pod_security`]).
    PodSecurity,
}

impl Enforcement {
    /// The README's name for it.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Webhook(_) | Self::WebhookNonResource(_) => "authorization webhook",
            Self::AdmissionPolicy => "admission policy",
            Self::PodSecurity => "Pod Security admission",
        }
    }
}

impl Restriction {
    /// Whether the restriction refuses `tier`.
    pub fn refuses(&self, tier: Tier) -> bool {
        self.tiers.contains(&tier)
    }

    /// The text every refusal by this row carries: its name in brackets,
    /// or, for Pod Security, the admission plugin's own wording.
    pub fn marker(&self) -> String {
        match self.enforcement {
            Enforcement::PodSecurity => "violates PodSecurity".to_owned(),
            _ => format!("[{}]", self.name),
        }
    }

    /// The message of a refusal of `tier` by this row.
    pub fn message(&self, tier: Tier) -> String {
        self.message_for(&format!("the {tier} tier"))
    }

    /// The message of a refusal by this row where the tier is not known
    /// (an admission policy refuses every tier it names alike).
    pub fn message_below_super(&self) -> String {
        self.message_for("tiers below super")
    }

    fn message_for(&self, who: &str) -> String {
        format!(
            "k3s-daas: {who} may not do this: {} [{}]",
            self.refused, self.name
        )
    }
}

/// The tier table's restrictions, specific rows first.
pub const RESTRICTIONS: &[Restriction] = &[
    Restriction {
        name: "impersonation",
        refused: "impersonating users, groups, service accounts, uids or extras",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::Webhook(|_, r| r.verb.starts_with("impersonate")),
    },
    Restriction {
        name: "service-account-tokens",
        refused: "minting service-account tokens (`serviceaccounts/token`)",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::Webhook(|_, r| {
            r.is_core("serviceaccounts") && r.subresource == "token"
        }),
    },
    Restriction {
        name: "service-account-token-secrets",
        refused: "creating Secrets of type `kubernetes.io/service-account-token` \
                  (long-lived tokens that would outlive an unstake)",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::AdmissionPolicy,
    },
    Restriction {
        name: "rbac",
        refused: "changing RBAC: roles, role bindings, cluster roles and their bindings, \
                  `bind`, `escalate`",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::Webhook(|_, r| {
            r.group == "rbac.authorization.k8s.io" && r.is_write()
        }),
    },
    Restriction {
        name: "nodes-and-csrs",
        refused: "nodes (reading them included) and certificate signing requests \
                  (their approval and signing included)",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::Webhook(|_, r| {
            r.is_core("nodes")
                || (r.group == "certificates.k8s.io"
                    && matches!(
                        r.resource.as_str(),
                        "certificatesigningrequests" | "signers"
                    ))
        }),
    },
    Restriction {
        name: "namespaces",
        refused: "creating, changing (Pod Security labels included) or deleting namespaces",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::Webhook(|_, r| r.is_core("namespaces") && r.is_write()),
    },
    Restriction {
        name: "system-secrets",
        refused: "reading Secrets in the system namespaces (bootstrap tokens, the master's \
                  keys) or in all namespaces at once",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::Webhook(|_, r| {
            r.reads_secrets() && (r.namespace.is_empty() || is_system_namespace(&r.namespace))
        }),
    },
    Restriction {
        name: "system-namespace-writes",
        refused: "writing in the system namespaces `kube-system`, `kube-public`, \
                  `kube-node-lease` and `k3s-daas-system` (exec, attach, port-forward and \
                  proxy included)",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::Webhook(|_, r| r.is_write() && is_system_namespace(&r.namespace)),
    },
    Restriction {
        name: "cluster-scoped-writes",
        refused: "writing cluster-scoped objects (persistent volumes, storage classes, CRDs, \
                  admission and webhook configuration, API services, …), except the \
                  self-review APIs kubectl uses",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::Webhook(|_, r| {
            r.is_write() && r.namespace.is_empty() && !r.is_self_review()
        }),
    },
    Restriction {
        name: "non-resource-urls",
        refused: "non-resource URLs other than discovery, OpenAPI, version and health \
                  (`/logs`, `/metrics`, `/debug`, …)",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::WebhookNonResource(|r| !r.is_public_read()),
    },
    Restriction {
        name: "pod-security",
        refused: "privileged pods, host namespaces, `hostPath` volumes and the rest of what \
                  Pod Security `restricted` forbids, in every namespace but the system ones \
                  (super may relabel a namespace)",
        tiers: BELOW_SUPER,
        enforcement: Enforcement::PodSecurity,
    },
    Restriction {
        name: "viewer-secrets",
        refused: "reading Secrets",
        tiers: &[Tier::Viewer],
        enforcement: Enforcement::Webhook(|_, r| r.reads_secrets()),
    },
    Restriction {
        name: "developer-secrets",
        refused: "reading Secrets outside its own namespace",
        tiers: &[Tier::Developer],
        enforcement: Enforcement::Webhook(|s, r| r.reads_secrets() && !s.owns(r)),
    },
    Restriction {
        name: "viewer-writes",
        refused: "writing anything (exec, attach, port-forward and proxy included), \
                  except the self-review APIs kubectl uses",
        tiers: &[Tier::Viewer],
        enforcement: Enforcement::Webhook(|_, r| r.is_write() && !r.is_self_review()),
    },
    Restriction {
        name: "developer-writes",
        refused: "writing outside its own namespace, except the self-review APIs kubectl uses",
        tiers: &[Tier::Developer],
        enforcement: Enforcement::Webhook(|s, r| r.is_write() && !r.is_self_review() && !s.owns(r)),
    },
];

/// Who asks, as the webhook knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The tier the request was authenticated with.
    pub tier: Tier,
    /// The user's own namespace (`daas-u-…`; a developer's to write in).
    pub own_namespace: String,
}

impl Subject {
    /// Whether the request is in the user's own namespace.
    fn owns(&self, request: &ResourceAttributes) -> bool {
        request.namespace == self.own_namespace
    }
}

/// `resourceAttributes` of a SubjectAccessReview (the fields the tier table
/// reads; absent ones are empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    /// The namespace; empty for cluster-scoped objects and for lists
    /// across all namespaces. For a Namespace object, its own name.
    #[serde(default)]
    pub namespace: String,
    /// `get`, `list`, `create`, `impersonate`, …
    #[serde(default)]
    pub verb: String,
    /// The API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// The API version.
    #[serde(default)]
    pub version: String,
    /// The resource, e.g. `pods`.
    #[serde(default)]
    pub resource: String,
    /// The subresource, e.g. `exec`.
    #[serde(default)]
    pub subresource: String,
    /// The object's name, if the request names one.
    #[serde(default)]
    pub name: String,
}

/// Verbs that only read.
const READ_VERBS: [&str; 3] = ["get", "list", "watch"];
/// Subresources that reach into a running pod, node or service: writes
/// whatever the verb (exec used `get` over WebSockets).
const CONNECT_SUBRESOURCES: [&str; 4] = ["exec", "attach", "portforward", "proxy"];

impl ResourceAttributes {
    /// Whether the request may change anything: any verb but `get`,
    /// `list` and `watch`, and any connection into a pod, node or service.
    pub fn is_write(&self) -> bool {
        !READ_VERBS.contains(&self.verb.as_str())
            || CONNECT_SUBRESOURCES.contains(&self.subresource.as_str())
    }

    /// Whether this reads Secrets (writes are other rows' business).
    fn reads_secrets(&self) -> bool {
        self.is_core("secrets") && !self.is_write()
    }

    /// Whether this is core-group `resource`.
    fn is_core(&self, resource: &str) -> bool {
        self.group.is_empty() && self.resource == resource
    }

    /// Whether this creates a self-review (`kubectl auth can-i`,
    /// `kubectl auth whoami`), which only tells users about themselves.
    fn is_self_review(&self) -> bool {
        self.verb == "create"
            && self.subresource.is_empty()
            && matches!(
                (self.group.as_str(), self.resource.as_str()),
                (
                    "authorization.k8s.io",
                    "selfsubjectaccessreviews" | "selfsubjectrulesreviews"
                ) | ("authentication.k8s.io", "selfsubjectreviews")
            )
    }
}

/// `nonResourceAttributes` of a SubjectAccessReview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonResourceAttributes {
    /// The URL path.
    #[serde(default)]
    pub path: String,
    /// The lower-case HTTP verb.
    #[serde(default)]
    pub verb: String,
}

/// Non-resource paths every tier may read (with everything under them).
const PUBLIC_PATHS: [&str; 9] = [
    "/api",
    "/apis",
    "/openapi",
    "/version",
    "/healthz",
    "/livez",
    "/readyz",
    "/.well-known/openid-configuration",
    "/openid/v1/jwks",
];

impl NonResourceAttributes {
    /// Whether this reads discovery, OpenAPI, version or health.
    fn is_public_read(&self) -> bool {
        self.verb == "get"
            && PUBLIC_PATHS.iter().any(|public| {
                self.path
                    .strip_prefix(public)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    }
}

/// A request as the authorization webhook sees it.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// On an API resource.
    Resource(&'a ResourceAttributes),
    /// On a non-resource URL.
    NonResource(&'a NonResourceAttributes),
}

/// The first webhook-enforced restriction that refuses `subject` this
/// request, if any. Super is never refused.
pub fn refusal(subject: &Subject, request: Request<'_>) -> Option<&'static Restriction> {
    RESTRICTIONS.iter().find(|row| {
        row.refuses(subject.tier)
            && match (row.enforcement, request) {
                (Enforcement::Webhook(matches), Request::Resource(r)) => matches(subject, r),
                (Enforcement::WebhookNonResource(matches), Request::NonResource(r)) => matches(r),
                _ => false,
            }
    })
}

/// The README's tier table (Markdown): each tier's grant, then every
/// restriction with the tiers it refuses and who enforces it.
pub fn markdown() -> String {
    let mut text = String::from("| tier | stake (default) | may |\n|---|---|---|\n");
    for grant in GRANTS {
        text.push_str(&format!(
            "| {} | {} | {} |\n",
            grant.tier, grant.default_stake, grant.may
        ));
    }
    text.push_str("\n| may not | tiers | enforced by |\n|---|---|---|\n");
    for row in RESTRICTIONS {
        let tiers: Vec<&str> = row.tiers.iter().map(|t| t.as_str()).collect();
        text.push_str(&format!(
            "| {} `[{}]` | {} | {} |\n",
            capitalized(row.refused),
            row.name,
            tiers.join(", "),
            row.enforcement.label()
        ));
    }
    text
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac;

    fn resource(verb: &str, group: &str, resource: &str, namespace: &str) -> ResourceAttributes {
        ResourceAttributes {
            namespace: namespace.to_owned(),
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            ..ResourceAttributes::default()
        }
    }

    fn subject(tier: Tier) -> Subject {
        Subject {
            tier,
            own_namespace: "daas-u-0123456789abcdef".to_owned(),
        }
    }

    /// The name of the row refusing `tier` the request, if any.
    fn refused(tier: Tier, request: &ResourceAttributes) -> Option<&'static str> {
        refusal(&subject(tier), Request::Resource(request)).map(|row| row.name)
    }

    #[test]
    fn super_is_never_refused_and_no_row_names_it() {
        for row in RESTRICTIONS {
            assert!(!row.refuses(Tier::Super), "{}", row.name);
            assert!(!row.tiers.is_empty(), "{}", row.name);
        }
        let request = resource("create", "", "configmaps", "kube-system");
        assert_eq!(refused(Tier::Super, &request), None);
    }

    #[test]
    fn row_names_are_unique_kebab_case() {
        let mut names: Vec<&str> = RESTRICTIONS.iter().map(|r| r.name).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RESTRICTIONS.len());
    }

    #[test]
    fn system_namespaces_are_closed_to_admins() {
        let write = resource("create", "", "configmaps", "kube-system");
        assert_eq!(
            refused(Tier::Admin, &write),
            Some("system-namespace-writes")
        );
        let master = resource("delete", "", "secrets", "k3s-daas-system");
        assert_eq!(
            refused(Tier::Admin, &master),
            Some("system-namespace-writes")
        );
        let key = resource("get", "", "secrets", "k3s-daas-system");
        assert_eq!(refused(Tier::Admin, &key), Some("system-secrets"));
        let mut exec = resource("get", "", "pods", "kube-system");
        exec.subresource = "exec".to_owned();
        assert_eq!(refused(Tier::Admin, &exec), Some("system-namespace-writes"));
        let read = resource("list", "", "configmaps", "kube-system");
        assert_eq!(refused(Tier::Admin, &read), None);
        let elsewhere = resource("create", "", "configmaps", "default");
        assert_eq!(refused(Tier::Admin, &elsewhere), None);
    }

    #[test]
    fn secrets_by_tier() {
        let all = resource("list", "", "secrets", "");
        let default = resource("get", "", "secrets", "default");
        let own = resource("get", "", "secrets", "daas-u-0123456789abcdef");
        let bootstrap = resource("get", "", "secrets", "kube-system");
        for tier in BELOW_SUPER {
            assert_eq!(refused(*tier, &all), Some("system-secrets"));
            assert_eq!(refused(*tier, &bootstrap), Some("system-secrets"));
        }
        assert_eq!(refused(Tier::Viewer, &default), Some("viewer-secrets"));
        assert_eq!(refused(Tier::Viewer, &own), Some("viewer-secrets"));
        assert_eq!(
            refused(Tier::Developer, &default),
            Some("developer-secrets")
        );
        assert_eq!(refused(Tier::Developer, &own), None);
        assert_eq!(refused(Tier::Admin, &default), None);
        // Writing Secrets is a write, for the write rows to judge.
        let create = resource("create", "", "secrets", "default");
        assert_eq!(refused(Tier::Viewer, &create), Some("viewer-writes"));
        assert_eq!(refused(Tier::Admin, &create), None);
    }

    #[test]
    fn escalation_is_refused_below_super() {
        let cases = [
            (
                resource(
                    "create",
                    "rbac.authorization.k8s.io",
                    "rolebindings",
                    "default",
                ),
                "rbac",
            ),
            (
                resource("bind", "rbac.authorization.k8s.io", "clusterroles", ""),
                "rbac",
            ),
            (
                resource("escalate", "rbac.authorization.k8s.io", "roles", "default"),
                "rbac",
            ),
            (
                resource("impersonate", "", "serviceaccounts", "kube-system"),
                "impersonation",
            ),
            (resource("impersonate", "", "users", ""), "impersonation"),
            (
                resource("impersonate:user-info", "authentication.k8s.io", "uids", ""),
                "impersonation",
            ),
            (resource("get", "", "nodes", ""), "nodes-and-csrs"),
            (
                resource("approve", "certificates.k8s.io", "signers", ""),
                "nodes-and-csrs",
            ),
            (resource("patch", "", "namespaces", "default"), "namespaces"),
            (resource("create", "", "namespaces", ""), "namespaces"),
            (
                resource(
                    "create",
                    "admissionregistration.k8s.io",
                    "validatingwebhookconfigurations",
                    "",
                ),
                "cluster-scoped-writes",
            ),
            (
                resource("create", "authentication.k8s.io", "tokenreviews", ""),
                "cluster-scoped-writes",
            ),
        ];
        for (request, row) in &cases {
            for tier in BELOW_SUPER {
                assert_eq!(refused(*tier, request), Some(*row), "{tier} {request:?}");
            }
        }
        let mut token = resource("create", "", "serviceaccounts", "daas-u-0123456789abcdef");
        token.subresource = "token".to_owned();
        assert_eq!(
            refused(Tier::Developer, &token),
            Some("service-account-tokens")
        );
        // Reading roles is fine.
        let read = resource("list", "rbac.authorization.k8s.io", "roles", "default");
        assert_eq!(refused(Tier::Admin, &read), None);
    }

    #[test]
    fn viewers_and_developers_write_where_their_tier_allows() {
        let own = resource("create", "", "configmaps", "daas-u-0123456789abcdef");
        let default = resource("create", "", "configmaps", "default");
        let whoami = resource("create", "authentication.k8s.io", "selfsubjectreviews", "");
        let can_i = resource(
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
        );
        assert_eq!(refused(Tier::Viewer, &own), Some("viewer-writes"));
        assert_eq!(refused(Tier::Viewer, &default), Some("viewer-writes"));
        assert_eq!(refused(Tier::Developer, &own), None);
        assert_eq!(refused(Tier::Developer, &default), Some("developer-writes"));
        for tier in Tier::ALL {
            assert_eq!(refused(tier, &whoami), None);
            assert_eq!(refused(tier, &can_i), None);
        }
        let mut logs = resource("get", "", "pods", "default");
        logs.subresource = "log".to_owned();
        assert_eq!(refused(Tier::Viewer, &logs), None);
        logs.subresource = "portforward".to_owned();
        assert_eq!(refused(Tier::Viewer, &logs), Some("viewer-writes"));
    }

    #[test]
    fn non_resource_urls_are_discovery_only() {
        let url = |verb: &str, path: &str| NonResourceAttributes {
            path: path.to_owned(),
            verb: verb.to_owned(),
        };
        for path in [
            "/api",
            "/apis/apps/v1",
            "/openapi/v3",
            "/version",
            "/readyz",
            "/livez/ping",
        ] {
            let request = url("get", path);
            assert!(refusal(&subject(Tier::Viewer), Request::NonResource(&request)).is_none());
        }
        for (verb, path) in [
            ("get", "/logs/x"),
            ("get", "/metrics"),
            ("get", "/apisx"),
            ("post", "/api"),
        ] {
            let request = url(verb, path);
            let row = refusal(&subject(Tier::Admin), Request::NonResource(&request));
            assert_eq!(
                row.map(|r| r.name),
                Some("non-resource-urls"),
                "{verb} {path}"
            );
            assert!(refusal(&subject(Tier::Super), Request::NonResource(&request)).is_none());
        }
    }

    #[test]
    fn messages_end_with_the_row_name() {
        for row in RESTRICTIONS {
            let message = row.message(Tier::Admin);
            assert!(message.contains("admin tier"), "{message}");
            if !matches!(row.enforcement, Enforcement::PodSecurity) {
                assert!(message.ends_with(&row.marker()), "{message}");
            }
        }
    }

    #[test]
    fn grants_name_the_roles_rbac_binds() {
        for (grant, (_, role, _)) in GRANTS.iter().zip(rbac::tier_cluster_bindings()) {
            let shown = if grant.tier == Tier::Developer {
                rbac::DEVELOPER_NAMESPACE_ROLE
            } else {
                role
            };
            assert!(grant.may.contains(&format!("`{shown}`")), "{}", grant.may);
        }
    }

    #[test]
    fn the_readme_shows_this_table() {
        let readme = include_str!("../../README.md");
        let table = markdown();
        assert!(
            readme.contains(&table),
            "README.md must contain the tier table exactly as tiers::markdown() renders it:\n{table}"
        );
    }
}
