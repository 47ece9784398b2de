#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Writing or reading an audit archive file failed.
    #[error("audit archive: {0}")]
    Archive(String),
    #[error("a state change must record at least one audit event")]
    Unaudited,
    /// A group commit failed; every record in it was lost together and each caller hears why.
    #[error("recording failed: {0}")]
    Batch(String),
    #[error(transparent)]
    Core(#[from] shuyu_core::CoreError),
    #[error(transparent)]
    Audit(#[from] shuyu_audit::AuditError),
}

impl StoreError {
    /// Maps a unique-constraint violation to a conflict the caller can explain.
    pub(crate) fn conflict_or(e: sqlx::Error, what: &str) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Conflict { what: what.to_string() };
            }
        }
        StoreError::Database(e)
    }
}
