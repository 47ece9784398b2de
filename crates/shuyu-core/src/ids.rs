//! Identifiers. Each kind of object has its own type so that a user id can never be passed
//! where an organisation id is expected. Ids are UUIDv7: sortable by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The Cedar / audit resource name, e.g. `user:0191…`.
            pub fn resource(&self) -> String {
                format!(concat!($prefix, ":{}"), self.0)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::CoreError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| crate::CoreError::InvalidId {
                    kind: stringify!($name),
                    value: s.chars().take(64).collect(),
                })
            }
        }
    };
}

uuid_id!(
    /// An organisation (authority, source department, operator, …).
    OrgId,
    "organisation"
);
uuid_id!(
    /// A person's account.
    UserId,
    "user"
);
uuid_id!(
    /// A registration application (登记申请) of any type.
    RegistrationId,
    "registration"
);
uuid_id!(
    /// An objection (异议) raised against a registration in publicity.
    ObjectionId,
    "objection"
);
uuid_id!(
    /// An uploaded file (application material), stored with its SHA-256.
    AttachmentId,
    "attachment"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = UserId::new();
        let parsed: UserId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
        assert!("not-a-uuid".parse::<UserId>().is_err());
        assert!(id.resource().starts_with("user:"));
    }
}
