//! Organisation kinds and the roles people hold in them (SPEC glossary).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// Message-catalogue key for this value's label, e.g. `role.admin`; the labels
            /// themselves live in the console's one message catalogue.
            pub fn label_key(&self) -> String {
                format!("{}.{}", Self::CATALOGUE_PREFIX, self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = crate::CoreError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(crate::CoreError::UnknownName {
                        kind: stringify!($name),
                        value: s.chars().take(64).collect(),
                    }),
                }
            }
        }
    };
}

string_enum!(
    /// What an organisation is, from the SPEC glossary.
    OrgKind {
        Authority => "authority";
        SourceDepartment => "source_department";
        IndustryDepartment => "industry_department";
        ImplementingAgency => "implementing_agency";
        Registry => "registry";
        Operator => "operator";
        Processor => "processor";
        SecurityAuditor => "security_auditor";
        ExpertPanel => "expert_panel";
        Consumer => "consumer";
    }
);

impl OrgKind {
    const CATALOGUE_PREFIX: &'static str = "org_kind";
}

string_enum!(
    /// A role a person holds. Each role belongs to one organisation kind, except the platform
    /// administrator, who sits in the authority.
    Role {
        Admin => "admin";
        AuthorityOfficer => "authority_officer";
        SourceSteward => "source_steward";
        IndustryOfficer => "industry_officer";
        ImplementingOfficer => "implementing_officer";
        Registrar => "registrar";
        OperatorAdmin => "operator_admin";
        OperatorAnalyst => "operator_analyst";
        ProcessorAnalyst => "processor_analyst";
        SecurityAuditor => "security_auditor";
        Expert => "expert";
        Consumer => "consumer";
    }
);

impl Role {
    const CATALOGUE_PREFIX: &'static str = "role";

    /// The organisation kind a holder of this role must belong to.
    pub fn org_kind(&self) -> OrgKind {
        match self {
            Role::Admin | Role::AuthorityOfficer => OrgKind::Authority,
            Role::SourceSteward => OrgKind::SourceDepartment,
            Role::IndustryOfficer => OrgKind::IndustryDepartment,
            Role::ImplementingOfficer => OrgKind::ImplementingAgency,
            Role::Registrar => OrgKind::Registry,
            Role::OperatorAdmin | Role::OperatorAnalyst => OrgKind::Operator,
            Role::ProcessorAnalyst => OrgKind::Processor,
            Role::SecurityAuditor => OrgKind::SecurityAuditor,
            Role::Expert => OrgKind::ExpertPanel,
            Role::Consumer => OrgKind::Consumer,
        }
    }

    /// Roles that see personal identifiers unmasked: the administrator files personnel
    /// records (WX §16, YXO §22) and the security auditor investigates incidents.
    pub fn sees_personal_identifiers(&self) -> bool {
        matches!(self, Role::Admin | Role::SecurityAuditor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_parses_back() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), *role);
        }
        for kind in OrgKind::ALL {
            assert_eq!(kind.as_str().parse::<OrgKind>().unwrap(), *kind);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn roles_belong_to_their_organisations() {
        assert_eq!(Role::Registrar.org_kind(), OrgKind::Registry);
        assert_eq!(Role::Admin.org_kind(), OrgKind::Authority);
    }
}
