use crate::Action;

#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error("not permitted: {}", action.as_str())]
    Denied { action: Action },
    #[error("policy file does not parse: {0}")]
    Policy(String),
    #[error("authorization failed internally: {0}")]
    Internal(String),
}
