//! The tier table's row that the authorization webhook cannot enforce:
//! `service-account-token-secrets` ([`crate::tiers`]).
//!
//! A Secret of type `kubernetes.io/service-account-token` makes the token
//! controller mint a token that never expires: a credential that would
//! outlive an unstake and that the `sui:` authorization webhook never sees.
//! Authorization sees only "create secrets", not the type, so the master
//! applies a ValidatingAdmissionPolicy ([`POLICY_NAME`]) and its binding
//! that refuse such Secrets to every `sui:` user outside the super tier.
//! Both are cluster-scoped admission configuration, which only super may
//! change; the master re-applies them at every start.

use daas_core::access::review::{USERNAME_PREFIX, tier_group};
use daas_core::package::Tier;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation,
};
use kube::api::{Api, ObjectMeta, Patch, PatchParams};

use crate::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};
use crate::tiers::{Enforcement, RESTRICTIONS, Restriction};

/// Name of the policy and of its binding.
pub const POLICY_NAME: &str = "k3s-daas-tier-limits";

/// The Secret type that mints a long-lived service-account token.
pub const SERVICE_ACCOUNT_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";

/// Who the policy binds: `sui:` users not in the super tier's group
/// (also those without groups: fail closed).
pub fn match_condition() -> String {
    format!(
        "request.userInfo.username.startsWith('{USERNAME_PREFIX}') && \
         !(has(request.userInfo.groups) && '{}' in request.userInfo.groups)",
        tier_group(Tier::Super)
    )
}

/// The tier table's rows this policy enforces.
fn rows() -> impl Iterator<Item = &'static Restriction> {
    RESTRICTIONS
        .iter()
        .filter(|row| matches!(row.enforcement, Enforcement::AdmissionPolicy))
}

/// The policy.
pub fn policy() -> ValidatingAdmissionPolicy {
    let validations = rows()
        .map(|row| Validation {
            expression: format!(
                "!has(object.type) || object.type != '{SERVICE_ACCOUNT_TOKEN_TYPE}'"
            ),
            message: Some(row.message_below_super()),
            reason: Some("Forbidden".to_owned()),
            ..Validation::default()
        })
        .collect();
    ValidatingAdmissionPolicy {
        metadata: metadata(),
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".to_owned()),
            match_constraints: Some(MatchResources {
                resource_rules: Some(vec![NamedRuleWithOperations {
                    api_groups: Some(vec![String::new()]),
                    api_versions: Some(vec!["v1".to_owned()]),
                    operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
                    resources: Some(vec!["secrets".to_owned()]),
                    ..NamedRuleWithOperations::default()
                }]),
                ..MatchResources::default()
            }),
            match_conditions: Some(vec![MatchCondition {
                name: "sui-users-below-super".to_owned(),
                expression: match_condition(),
            }]),
            validations: Some(validations),
            ..ValidatingAdmissionPolicySpec::default()
        }),
        ..ValidatingAdmissionPolicy::default()
    }
}

/// The binding that puts the policy into force (deny) everywhere.
pub fn binding() -> ValidatingAdmissionPolicyBinding {
    ValidatingAdmissionPolicyBinding {
        metadata: metadata(),
        spec: ValidatingAdmissionPolicyBindingSpec {
            policy_name: POLICY_NAME.to_owned(),
            validation_actions: vec!["Deny".to_owned()],
            ..ValidatingAdmissionPolicyBindingSpec::default()
        },
    }
}

fn metadata() -> ObjectMeta {
    ObjectMeta {
        name: Some(POLICY_NAME.to_owned()),
        labels: Some([(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned())].into()),
        ..ObjectMeta::default()
    }
}

/// Applies the policy and its binding (server-side apply: idempotent, and
/// undoes any change).
///
/// # Errors
/// The API server refused an apply.
pub async fn ensure_tier_policy(client: &kube::Client) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    Api::<ValidatingAdmissionPolicy>::all(client.clone())
        .patch(POLICY_NAME, &params, &Patch::Apply(&policy()))
        .await?;
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .patch(POLICY_NAME, &params, &Patch::Apply(&binding()))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_enforces_its_rows_for_every_tier_below_super() {
        let rows: Vec<&Restriction> = rows().collect();
        assert_eq!(rows.len(), 1);
        for row in &rows {
            assert_eq!(row.tiers, [Tier::Viewer, Tier::Developer, Tier::Admin]);
        }
        let spec = policy().spec.unwrap();
        let validation = &spec.validations.unwrap()[0];
        assert!(validation.expression.contains(SERVICE_ACCOUNT_TOKEN_TYPE));
        assert!(
            validation
                .message
                .as_deref()
                .unwrap()
                .ends_with("[service-account-token-secrets]")
        );
        assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
        let condition = match_condition();
        assert!(condition.contains("'sui:'") && condition.contains("'k3s-daas:super'"));
        assert_eq!(binding().spec.policy_name, POLICY_NAME);
    }
}
