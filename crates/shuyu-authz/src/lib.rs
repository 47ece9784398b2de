//! Authorization. Every handler calls [`Authorizer::authorize`] with the caller, the action and
//! the resource; the Cedar policies under `policies/` decide, and anything they do not permit is
//! refused.

mod action;
mod error;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer as CedarAuthorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet,
    Request, RestrictedExpression,
};
use shuyu_core::ids::{OrgId, UserId};
use shuyu_core::roles::{OrgKind, Role};

pub use action::Action;
pub use error::AuthzError;

/// The policy files, compiled into the binary so a deployment cannot run with a missing file.
const POLICIES: &[(&str, &str)] = &[
    ("foundation.cedar", include_str!("../policies/foundation.cedar")),
    ("registration.cedar", include_str!("../policies/registration.cedar")),
    ("catalogue.cedar", include_str!("../policies/catalogue.cedar")),
    ("operators.cedar", include_str!("../policies/operators.cedar")),
    ("sandbox.cedar", include_str!("../policies/sandbox.cedar")),
    ("products.cedar", include_str!("../policies/products.cedar")),
    ("supervision.cedar", include_str!("../policies/supervision.cedar")),
];

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User { id: UserId, org: OrgId, org_kind: OrgKind, roles: Vec<Role> },
}

impl Principal {
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Principal::User { id, .. } => Some(*id),
            Principal::Anonymous => None,
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        matches!(self, Principal::User { roles, .. } if roles.contains(&role))
    }
}

/// What is being acted on: an entity type from the policies and an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    kind: &'static str,
    id: String,
    /// Organisations the resource belongs to or involves, as Cedar attributes: `owner` (an
    /// applicant's registration, a holder's certificate or entry), `provider` (the department
    /// asked to share). Policies compare them with the caller's organisation.
    orgs: Vec<(&'static str, OrgId)>,
}

impl Resource {
    /// The platform itself, for actions on collections (list, create) and global functions.
    pub fn platform() -> Self {
        Self { kind: "Platform", id: "shuyu".into(), orgs: Vec::new() }
    }

    pub fn user(id: UserId) -> Self {
        Self { kind: "User", id: id.to_string(), orgs: Vec::new() }
    }

    pub fn organisation(id: OrgId) -> Self {
        Self { kind: "Organisation", id: id.to_string(), orgs: Vec::new() }
    }

    pub fn audit_log() -> Self {
        Self { kind: "AuditLog", id: "main".into(), orgs: Vec::new() }
    }

    pub fn new(kind: &'static str, id: impl Into<String>) -> Self {
        Self { kind, id: id.into(), orgs: Vec::new() }
    }

    /// A resource that belongs to an organisation.
    pub fn owned(kind: &'static str, id: impl Into<String>, owner: OrgId) -> Self {
        Self { kind, id: id.into(), orgs: vec![("owner", owner)] }
    }

    /// Adds another organisation attribute, e.g. `provider`.
    pub fn with_org(mut self, attr: &'static str, org: OrgId) -> Self {
        self.orgs.push((attr, org));
        self
    }
}

/// Audit name of a resource: `user:<id>`, `audit_log:main`, `platform:shuyu`.
impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in self.kind.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    f.write_str("_")?;
                }
                write!(f, "{}", c.to_ascii_lowercase())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        write!(f, ":{}", self.id)
    }
}

#[derive(Debug)]
pub struct Authorizer {
    policies: PolicySet,
    cedar: CedarAuthorizer,
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, AuthzError> {
    let type_name = EntityTypeName::from_str(&format!("Shuyu::{kind}"))
        .map_err(|e| AuthzError::Internal(format!("entity type {kind}: {e}")))?;
    Ok(EntityUid::from_type_name_and_id(type_name, EntityId::new(id)))
}

impl Authorizer {
    pub fn new() -> Result<Self, AuthzError> {
        let mut source = String::new();
        for (_, text) in POLICIES {
            source.push_str(text);
            source.push('\n');
        }
        let policies = PolicySet::from_str(&source).map_err(|e| AuthzError::Policy(e.to_string()))?;
        Ok(Self { policies, cedar: CedarAuthorizer::new() })
    }

    /// Decides; `Ok(())` only when a policy permits and none forbids.
    pub fn authorize(&self, principal: &Principal, action: Action, resource: &Resource) -> Result<(), AuthzError> {
        let (principal_uid, principal_entity) = match principal {
            Principal::Anonymous => {
                let uid = uid("Anonymous", "public")?;
                (uid.clone(), Entity::new_no_attrs(uid, HashSet::new()))
            }
            Principal::User { id, org, roles, .. } => {
                let uid = uid("User", &id.to_string())?;
                let org_uid = self::uid("Organisation", &org.to_string())?;
                let mut parents = HashSet::new();
                parents.insert(org_uid.clone());
                for role in roles {
                    parents.insert(self::uid("Role", role.as_str())?);
                }
                let attrs = HashMap::from([("org".to_string(), RestrictedExpression::new_entity_uid(org_uid))]);
                let entity = Entity::new(uid.clone(), attrs, parents)
                    .map_err(|e| AuthzError::Internal(format!("entity: {e}")))?;
                (uid, entity)
            }
        };
        let action_uid = uid("Action", action.as_str())?;
        let resource_uid = uid(resource.kind, &resource.id)?;
        let mut entities = vec![principal_entity];
        if resource_uid != principal_uid {
            let mut attrs = HashMap::new();
            for (attr, org) in &resource.orgs {
                attrs.insert(
                    attr.to_string(),
                    RestrictedExpression::new_entity_uid(uid("Organisation", &org.to_string())?),
                );
            }
            let entity = Entity::new(resource_uid.clone(), attrs, HashSet::new())
                .map_err(|e| AuthzError::Internal(format!("entity: {e}")))?;
            entities.push(entity);
        }
        let entities =
            Entities::from_entities(entities, None).map_err(|e| AuthzError::Internal(format!("entities: {e}")))?;
        let request = Request::new(principal_uid, action_uid, resource_uid, Context::empty(), None)
            .map_err(|e| AuthzError::Internal(format!("request: {e}")))?;
        let response = self.cedar.is_authorized(&request, &self.policies, &entities);
        match response.decision() {
            Decision::Allow => Ok(()),
            Decision::Deny => Err(AuthzError::Denied { action }),
        }
    }

    /// Number of policies loaded, for the start-up log.
    pub fn policy_count(&self) -> usize {
        self.policies.policies().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[Role]) -> Principal {
        Principal::User { id: UserId::new(), org: OrgId::new(), org_kind: OrgKind::Authority, roles: roles.to_vec() }
    }

    #[test]
    fn resources_have_audit_names() {
        assert_eq!(Resource::audit_log().to_string(), "audit_log:main");
        let id = UserId::new();
        assert_eq!(Resource::user(id).to_string(), id.resource());
    }

    #[test]
    fn policies_parse() {
        let authz = Authorizer::new().unwrap();
        assert!(authz.policy_count() >= 5);
    }

    #[test]
    fn default_deny_for_anonymous() {
        let authz = Authorizer::new().unwrap();
        let p = Principal::Anonymous;
        assert!(authz.authorize(&p, Action::UserList, &Resource::platform()).is_err());
        assert!(authz.authorize(&p, Action::AuditTreeHeadRead, &Resource::audit_log()).is_ok());
    }

    #[test]
    fn admin_manages_users_but_analyst_does_not() {
        let authz = Authorizer::new().unwrap();
        let admin = user(&[Role::Admin]);
        let analyst = user(&[Role::OperatorAnalyst]);
        assert!(authz.authorize(&admin, Action::UserCreate, &Resource::platform()).is_ok());
        assert!(authz.authorize(&analyst, Action::UserCreate, &Resource::platform()).is_err());
    }

    #[test]
    fn a_person_reads_only_their_own_account() {
        let authz = Authorizer::new().unwrap();
        let me = user(&[Role::OperatorAnalyst]);
        let my_id = me.user_id().unwrap();
        assert!(authz.authorize(&me, Action::UserRead, &Resource::user(my_id)).is_ok());
        assert!(authz.authorize(&me, Action::UserRead, &Resource::user(UserId::new())).is_err());
    }

    #[test]
    fn applicants_reach_only_their_own_registrations() {
        let authz = Authorizer::new().unwrap();
        let org = OrgId::new();
        let steward = Principal::User {
            id: UserId::new(),
            org,
            org_kind: OrgKind::SourceDepartment,
            roles: vec![Role::SourceSteward],
        };
        let own = Resource::owned("Registration", "a", org);
        let theirs = Resource::owned("Registration", "b", OrgId::new());
        assert!(authz.authorize(&steward, Action::RegistrationApplicantAct, &own).is_ok());
        assert!(authz.authorize(&steward, Action::RegistrationApplicantAct, &theirs).is_err());
        assert!(authz.authorize(&steward, Action::RegistrationRead, &theirs).is_err());
        assert!(authz.authorize(&steward, Action::RegistrationReview, &own).is_err(), "no one reviews their own");
        let registrar = user(&[Role::Registrar]);
        assert!(authz.authorize(&registrar, Action::RegistrationReview, &theirs).is_ok());
        assert!(authz.authorize(&registrar, Action::RegistrationStatistics, &Resource::platform()).is_err());
        assert!(authz.authorize(&Principal::Anonymous, Action::CertificateVerify, &Resource::platform()).is_ok());
    }
}
