//! Server configuration: a TOML file, overridden by environment variables and flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where the SQLite file, the audit signing key and data files live.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; empty for the SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Policy profile: a built-in name (`national`, `wuxi`, …) or a path to a TOML file.
    pub profile: String,
    /// Extra calendar years or overrides, loaded over the shipped years.
    pub calendar_dir: Option<PathBuf>,
    /// Path of the Ed25519 key that signs audit tree heads (PKCS#8 PEM); created when missing.
    pub audit_key: Option<PathBuf>,
    /// Path of the Ed25519 key that signs registration certificates; created when missing.
    pub certificate_key: Option<PathBuf>,
    /// Mark session cookies `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// The address the public reaches this server at, for links in exports (DCAT) and on
    /// certificates (the verification URL in the QR code).
    pub public_url: String,
    /// Enables `POST /api/v1/admin/test-clock`. Never set in production.
    pub test_clock: bool,
    /// Seconds between scheduler runs (deadlines, periodic tree heads).
    pub scheduler_interval_secs: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Requests running longer than this are answered with a timeout error.
    pub request_timeout_secs: u64,
    /// Keep a data interface's governed result for the same parameters until the next state
    /// change (or 2 s); every call is still checked, counted, metered and audited.
    pub interface_result_cache: bool,
    /// Milliseconds between the monitor's reads of the audit log (JS §24); 0 turns it off.
    pub monitor_interval_ms: u64,
    /// Seconds between a follower's requests for the scheduler lead and the leader's checks
    /// that it still holds it (several processes on one PostgreSQL database).
    pub leader_check_secs: u64,
    /// Address for the Arrow Flight SQL endpoint (operators' ADBC and JDBC tools), e.g.
    /// `127.0.0.1:50051`; port 0 picks a free port; unset, there is none.
    pub flight_listen: Option<SocketAddr>,
    /// Where approved exports are kept: `[objects]` with `url = "s3://bucket/prefix"`,
    /// `endpoint`, `region`, `allow_http`; unset, `<data_dir>/objects`.
    pub objects: crate::objects::ObjectsConfig,
    /// Rehearsals only (`shuyu demo` sets it): a year without its State Council notice (this
    /// year and the next two) gets a provisional calendar instead of refusing its deadlines.
    pub provisional_calendar_years: bool,
    /// `df://host:port` of an Apache Ballista scheduler (started with `shuyu cluster
    /// scheduler`): governed plans run there instead of in this process. Unset, in process.
    pub query_cluster: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            profile: "national".into(),
            calendar_dir: None,
            audit_key: None,
            certificate_key: None,
            secure_cookies: false,
            public_url: "http://127.0.0.1:8080".into(),
            test_clock: false,
            scheduler_interval_secs: 30,
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout_secs: 30,
            interface_result_cache: true,
            monitor_interval_ms: 1000,
            leader_check_secs: 5,
            flight_listen: None,
            objects: Default::default(),
            query_cluster: None,
            provisional_calendar_years: false,
        }
    }
}

impl ServerConfig {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!("sqlite://{}?mode=rwc", self.data_dir.join("shuyu.db").display()),
        }
    }

    pub fn certificate_key_path(&self) -> PathBuf {
        self.certificate_key.clone().unwrap_or_else(|| self.data_dir.join("certificate-signing-key.pem"))
    }

    pub fn audit_key_path(&self) -> PathBuf {
        self.audit_key.clone().unwrap_or_else(|| self.data_dir.join("audit-signing-key.pem"))
    }
}
