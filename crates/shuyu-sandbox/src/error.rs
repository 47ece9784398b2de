use datafusion::error::DataFusionError;

/// Why the sandbox refused or failed. `Refused` and `NotFound` are the operator's to fix;
/// `Limit` is a profile limit; the rest are the platform's.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The query breaks a governance rule; `column` names the offending column when there is one.
    #[error("{reason}")]
    Refused { reason: String, column: Option<String>, basis: &'static str },
    /// A table or column the workspace does not have (whether or not it exists elsewhere).
    #[error("{0}")]
    NotFound(String),
    /// A profile limit was reached: time, memory or rows.
    #[error("{0}")]
    Limit(String),
    /// The query was cancelled by its author or an administrator.
    #[error("the query was cancelled")]
    Cancelled,
    /// The SQL does not parse or plan.
    #[error("{0}")]
    Sql(String),
    /// Ingested data does not match its catalogue entry.
    #[error("{0}")]
    SchemaDrift(String),
    #[error("{0}")]
    Invalid(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("engine: {0}")]
    Engine(String),
    /// The query cluster governed plans are sent to did not answer.
    #[error("{0}")]
    Unavailable(String),
}

impl SandboxError {
    pub fn refused(reason: impl Into<String>, column: Option<String>) -> Self {
        SandboxError::Refused { reason: reason.into(), column, basis: "JS §13" }
    }

    pub fn refused_with(reason: impl Into<String>, column: Option<String>, basis: &'static str) -> Self {
        SandboxError::Refused { reason: reason.into(), column, basis }
    }
}

impl From<DataFusionError> for SandboxError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(m) => SandboxError::Limit(format!("memory limit reached: {m}")),
            DataFusionError::SQL(..) | DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => {
                let text = e.find_root().to_string();
                // A missing table or column reads the same whether it exists elsewhere or not.
                if text.contains("not found") || text.contains("No field named") || text.contains("does not exist") {
                    SandboxError::NotFound(strip_suggestions(&text))
                } else {
                    SandboxError::Sql(text)
                }
            }
            DataFusionError::Execution(m) if m.contains("shuyu:") => SandboxError::Sql(m.clone()),
            other => SandboxError::Engine(other.to_string()),
        }
    }
}

/// DataFusion lists the valid field names when one is missing; keep only the first sentence so
/// the error names the missing column and nothing about the tables' other columns.
fn strip_suggestions(text: &str) -> String {
    let cut = text.find(". Valid fields").or_else(|| text.find(". Did you mean")).unwrap_or(text.len());
    text[..cut].to_string()
}

pub type Result<T, E = SandboxError> = std::result::Result<T, E>;
