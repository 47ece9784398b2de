//! Test kit: a real server on a random port with the demo accounts, and helpers to call it.

pub mod browser;

use std::collections::HashSet;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use shuyu_server::{AppState, RunningServer, ServerConfig};
use shuyu_store::users::UserRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub server: RunningServer,
    pub client: Client,
    _dir: tempfile::TempDir,
}

async fn fresh_postgres_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("shuyu_t_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("connect to SHUYU_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let (base, _) = admin_url.rsplit_once('/').expect("database URL with a path");
    format!("{base}/{name}")
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl TestApp {
    pub async fn try_spawn_postgres(test_clock: bool) -> Option<TestApp> {
        if std::env::var("SHUYU_TEST_DATABASE_URL").map(|v| v.is_empty()).unwrap_or(true) {
            eprintln!("SHUYU_TEST_DATABASE_URL is not set: PostgreSQL variant not run here (CI runs it)");
            return None;
        }
        Some(Self::spawn(Backend::Postgres, test_clock).await)
    }

    pub async fn spawn(backend: Backend, test_clock: bool) -> TestApp {
        Self::spawn_with(backend, |c| c.test_clock = test_clock).await
    }

    /// A server whose configuration `adjust` changes from the test default.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut ServerConfig)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let admin = std::env::var("SHUYU_TEST_DATABASE_URL").unwrap();
                Some(fresh_postgres_database(&admin).await)
            }
        };
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            database_url,
            profile: "wuxi".into(),
            scheduler_interval_secs: 3600,
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let state = shuyu_server::build_state(config).await.unwrap();
        shuyu_server::demo::seed(&state).await.unwrap();
        let server = shuyu_server::start(state, false).await.unwrap();
        let client = Client::builder().redirect(reqwest::redirect::Policy::limited(5)).build().unwrap();
        TestApp { server, client, _dir: dir }
    }

    /// A second server process's worth of state on this server's database and data directory
    /// (as on a shared volume), not seeded again: for tests of several servers on one database.
    pub async fn spawn_beside(&self, adjust: impl FnOnce(&mut ServerConfig)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = self.state().config.clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        adjust(&mut config);
        let state = shuyu_server::build_state(config).await.unwrap();
        let server = shuyu_server::start(state, false).await.unwrap();
        let client = Client::builder().redirect(reqwest::redirect::Policy::limited(5)).build().unwrap();
        TestApp { server, client, _dir: dir }
    }

    /// Stops the server: its tasks end and its database sessions close, as when a process dies.
    /// Returns its data directory, which a server beside it may still use.
    pub async fn stop(self) -> tempfile::TempDir {
        let _ = self.server.shutdown().await;
        self._dir
    }

    pub fn state(&self) -> &AppState {
        &self.server.state
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path)
    }

    pub async fn get_anon(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GETs `path` as `token` and reads the JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap().json().await.unwrap()
    }

    pub async fn post_anon(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn login_with(&self, username: &str, password: &str) -> String {
        let r = self.post_anon("/api/v1/auth/login", &json!({"username": username, "password": password})).await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        let body: Value = r.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// Signs in a demo account; returns its bearer token.
    pub async fn login(&self, username: &str) -> String {
        self.login_with(username, &format!("{username}-demo-2026")).await
    }

    /// A client holding the session cookie, as a browser would.
    pub async fn cookie_client(&self, username: &str) -> Client {
        let client = Client::builder().cookie_store(true).build().unwrap();
        let r = client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": format!("{username}-demo-2026")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        client
    }

    /// Uploads one file as `token`; returns its attachment id.
    pub async fn upload(&self, token: &str, filename: &str, content: &[u8]) -> String {
        let r = self
            .client
            .post(self.url(&format!("/api/v1/attachments?filename={filename}")))
            .bearer_auth(token)
            .header("content-type", "application/pdf")
            .body(content.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    /// Submits a registration with every required material but `skip`; returns its id and
    /// status query code.
    pub async fn submit_registration(&self, token: &str, kind: &str, skip: Option<&str>) -> (String, String) {
        let keys: &[&str] = match kind {
            "first" => &[
                "application_form",
                "basic_information",
                "source_compliance_proof",
                "products_scenarios_risk_assessment",
                "no_dispute_commitment",
                "identity_proof",
            ],
            _ => &["change_application", "identity_proof"],
        };
        let mut materials = Vec::new();
        for key in keys.iter().filter(|k| Some(**k) != skip) {
            let id = self.upload(token, &format!("{key}.pdf"), format!("%PDF {key}").as_bytes()).await;
            materials.push(json!({"key": key, "attachment_id": id}));
        }
        let r = self
            .client
            .post(self.url("/api/v1/registrations"))
            .bearer_auth(token)
            .json(&json!({
                "type": kind,
                "subject_kind": "data_resource",
                "subject_name": "市场主体登记信息",
                "summary": "全市市场主体的登记、变更、注销信息，按日更新。",
                "industry": "L7212",
                "region": "320200",
                "facts": {"scenarios": "普惠金融授信", "update_frequency": "daily", "records": 1200000},
                "materials": materials,
            }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{v}");
        (v["id"].as_str().unwrap().to_string(), v["query_code"].as_str().unwrap().to_string())
    }

    /// Creates a catalogue entry draft as `token`; returns its id.
    pub async fn create_entry(&self, token: &str, metadata: &Value) -> String {
        let r = self.client.post(self.url("/api/v1/catalogue")).bearer_auth(token).json(metadata).send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    pub async fn user_record(&self, username: &str) -> UserRecord {
        let mut conn = self.state().store.pool().acquire().await.unwrap();
        shuyu_store::users::find_by_username(&mut conn, username).await.unwrap().unwrap()
    }

    pub async fn user_id(&self, _token: &str, username: &str) -> String {
        self.user_record(username).await.id.to_string()
    }
}

/// Catalogue metadata with every SPEC §1.1 field; `name` and classes vary per test.
/// The Python that can `import` what a test drives the server with (`SHUYU_TEST_PYTHON`, by
/// default `python3`), or `None` where it cannot; CI installs it, so there that is a failure.
pub fn python_with(imports: &str, package: &str) -> Option<String> {
    let python = std::env::var("SHUYU_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {imports}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("CI").is_err(), "CI installs {package}");
        eprintln!("{package} is not installed: its test is not run here");
        return None;
    }
    Some(python)
}

pub fn entry_metadata(name: &str, share: &str, open: &str) -> Value {
    json!({
        "name": name,
        "description": "全市市场主体的登记、变更、注销信息，按日更新",
        "tags": ["市场监管", "Market Supervision"],
        "industry": "S92",
        "scenarios": ["普惠金融授信"],
        "source": "市场监督管理局登记业务系统",
        "compliance_proof": "《市场主体登记管理条例》第三十五条",
        "fields": [
            {"name": "uscc", "type": "string", "format": "GB 32100", "description": "统一社会信用代码", "sensitivity": 1},
            {"name": "company_name", "type": "string", "description": "企业名称", "sensitivity": 1},
            {"name": "legal_rep_id", "type": "string", "format": "GB 11643", "description": "法定代表人身份证号", "sensitivity": 4, "pii": "resident_id"}
        ],
        "records": 1200000,
        "bytes": 800000000,
        "region": "320200",
        "co_owners": [],
        "update_frequency": "daily",
        "share_class": share,
        "open_class": open,
        "acquisition_mode": "authorized_operation",
        "storage": "市政务云 PostgreSQL 集群",
        "grade": "general"
    })
}

pub fn hash(v: &Value) -> shuyu_audit::Hash {
    v.as_str().unwrap().parse().unwrap()
}

pub fn verify_inclusion(proof: &Value) {
    let path: Vec<_> = proof["audit_path"].as_array().unwrap().iter().map(hash).collect();
    shuyu_audit::verify_inclusion(
        &hash(&proof["leaf_hash"]),
        proof["leaf_index"].as_u64().unwrap(),
        proof["tree_size"].as_u64().unwrap(),
        &path,
        &hash(&proof["root"]),
    )
    .expect("inclusion proof verifies");
}

pub fn verify_consistency(c: &Value) {
    let proof: Vec<_> = c["proof"].as_array().unwrap().iter().map(hash).collect();
    shuyu_audit::verify_consistency(
        c["first"].as_u64().unwrap(),
        c["second"].as_u64().unwrap(),
        &hash(&c["first_root"]),
        &hash(&c["second_root"]),
        &proof,
    )
    .expect("consistency proof verifies");
}

pub fn verify_tree_head(key: &Value, sth: &Value) {
    let sth: shuyu_audit::SignedTreeHead = serde_json::from_value(sth.clone()).unwrap();
    let key = shuyu_audit::verifying_key_from_pem(key["public_key_pem"].as_str().unwrap()).unwrap();
    shuyu_audit::verify_tree_head(&key, &sth).expect("tree head signature verifies");
}

/// Who may call what. `None` = the public (anyone, signed in or not); otherwise the roles
/// allowed (`"*"` = every signed-in person).
struct Endpoint {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    allowed: Option<&'static [&'static str]>,
}

const EVERYONE: &[&str] = &["*"];
const ADMIN: &[&str] = &["admin"];
const PEOPLE_READERS: &[&str] = &["admin", "security_auditor"];
const AUDIT_READERS: &[&str] = &["admin", "security_auditor", "authority_officer"];
const APPLICANTS_AND_SUPERVISORS: &[&str] = &["source_steward", "operator_admin", "registrar", "authority_officer"];
const APPLICANTS: &[&str] = &["source_steward", "operator_admin"];
const REGISTRY_AND_AUTHORITY: &[&str] = &["registrar", "authority_officer"];
/// The steward's own registration: its organisation, the registry and the authority.
const REGISTRATION_READERS: &[&str] = &["source_steward", "registrar", "authority_officer"];

fn endpoints() -> Vec<Endpoint> {
    let e = |method, path, body: Option<Value>, allowed| Endpoint { method, path, body, allowed };
    vec![
        e("GET", "/api/v1/me", None, Some(EVERYONE)),
        e(
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": "wrong", "new_password": "x"})),
            Some(EVERYONE),
        ),
        e("GET", "/api/v1/organisations", None, Some(EVERYONE)),
        e("GET", "/api/v1/organisations/{org}", None, Some(EVERYONE)),
        e("POST", "/api/v1/organisations", Some(json!({"name": "", "kind": "nope"})), Some(ADMIN)),
        e("GET", "/api/v1/users", None, Some(PEOPLE_READERS)),
        e("GET", "/api/v1/users/{self}", None, Some(EVERYONE)),
        e("GET", "/api/v1/users/{other}", None, Some(PEOPLE_READERS)),
        e(
            "POST",
            "/api/v1/users",
            Some(json!({"username": "", "display_name": "", "password": "", "org_id": "", "roles": []})),
            Some(ADMIN),
        ),
        e("POST", "/api/v1/users/{other}/unlock", None, Some(ADMIN)),
        e("GET", "/api/v1/audit/events", None, Some(AUDIT_READERS)),
        e("GET", "/api/v1/audit/events/0/proof", None, Some(AUDIT_READERS)),
        e("POST", "/api/v1/audit/tree-head", None, Some(AUDIT_READERS)),
        e("GET", "/api/v1/audit/tree-head", None, None),
        e("GET", "/api/v1/audit/consistency?first=1&second=1", None, None),
        e("GET", "/api/v1/audit/public-key", None, None),
        e("GET", "/api/v1/audit/archives", None, Some(AUDIT_READERS)),
        e("GET", "/api/v1/calendar/add?date=2025-01-02&n=1", None, None),
        e("GET", "/api/v1/calendar/is-workday?date=2025-01-02", None, None),
        e("GET", "/api/v1/profile", None, Some(EVERYONE)),
        e("GET", "/api/v1/clock", None, Some(EVERYONE)),
        e("POST", "/api/v1/attachments?filename=a.pdf", None, Some(EVERYONE)),
        e("GET", "/api/v1/registrations", None, Some(APPLICANTS_AND_SUPERVISORS)),
        e("POST", "/api/v1/registrations", Some(json!({"type": "nope"})), Some(APPLICANTS)),
        e("GET", "/api/v1/registrations/statistics", None, Some(&["authority_officer"])),
        e("GET", "/api/v1/registrations/export", None, Some(&["registrar"])),
        e("GET", "/api/v1/registrations/{reg}", None, Some(REGISTRATION_READERS)),
        e("POST", "/api/v1/registrations/{reg}/actions/not_accept", None, Some(&["registrar"])),
        e(
            "POST",
            "/api/v1/registrations/{reg}/actions/withdraw",
            Some(json!({"reason": 5})),
            Some(&["source_steward"]),
        ),
        e("POST", "/api/v1/registrations/{reg}/actions/object", Some(json!({"statement": ""})), Some(EVERYONE)),
        e("GET", "/api/v1/certificates", None, Some(REGISTRY_AND_AUTHORITY)),
        e("GET", "/api/v1/public/publicity", None, None),
        e("GET", "/api/v1/public/registrations/status?query_code={query}", None, None),
        e("GET", "/api/v1/public/announcements", None, None),
        e("GET", "/api/v1/public/certificate-key", None, None),
        e("POST", "/api/v1/catalogue", Some(json!({"name": 1})), Some(&["source_steward"])),
        e("GET", "/api/v1/catalogue", None, Some(&["source_steward", "authority_officer"])),
        e("GET", "/api/v1/catalogue/{entry}", None, Some(&["source_steward", "authority_officer"])),
        e("POST", "/api/v1/catalogue/{entry}/actions/edit", Some(json!({"metadata": 1})), Some(&["source_steward"])),
        e("POST", "/api/v1/catalogue/{entry}/actions/approve", None, Some(&["authority_officer"])),
        e(
            "POST",
            "/api/v1/sharing-requests",
            Some(json!({"entry_id": 1})),
            Some(&["source_steward", "industry_officer"]),
        ),
        e("GET", "/api/v1/sharing-requests", None, Some(&["source_steward", "industry_officer", "authority_officer"])),
        e("GET", "/api/v1/public/catalogue?q=登记", None, None),
        e("GET", "/api/v1/public/dcat", None, None),
        e("POST", "/api/v1/public/catalogue/{entry}/applications", None, Some(EVERYONE)),
        e("GET", "/api/v1/open-data-applications", None, Some(EVERYONE)),
        e("GET", "/api/v1/programmes", None, Some(EVERYONE)),
        e("POST", "/api/v1/programmes", Some(json!({"name": 1})), Some(&["implementing_officer"])),
        e("POST", "/api/v1/announcements", None, Some(&["implementing_officer"])),
        e("GET", "/api/v1/public/announcements/operators", None, None),
        e("POST", "/api/v1/announcements/none/applications", None, Some(&["operator_admin"])),
        e(
            "GET",
            "/api/v1/announcements/none/applications",
            None,
            Some(&["expert", "implementing_officer", "authority_officer"]),
        ),
        e("POST", "/api/v1/operator-applications/none/scores", None, Some(&["expert"])),
        e("POST", "/api/v1/operator-lists", None, Some(&["authority_officer"])),
        e("POST", "/api/v1/organisations/{org}/revocations", None, Some(&["authority_officer"])),
        e("POST", "/api/v1/organisations/{org}/actions/suspend", None, Some(&["authority_officer"])),
        e("POST", "/api/v1/agreements", None, Some(&["implementing_officer"])),
        e("GET", "/api/v1/programmes/none", None, Some(EVERYONE)),
        e("POST", "/api/v1/announcements/none/results", None, Some(&["implementing_officer"])),
        // The administrator's organisation is the authority: no operator administrator owns it.
        e("GET", "/api/v1/organisations/{org}/operation-reports/draft?year=2026", None, Some(&[])),
        e("POST", "/api/v1/organisations/{org}/emergency-plan", None, Some(&[])),
        e("POST", "/api/v1/organisations/{org}/emergency-plan/approve", None, Some(&["authority_officer"])),
        e("GET", "/api/v1/agreements", None, Some(EVERYONE)),
        e(
            "GET",
            "/api/v1/announcements/none/objections",
            None,
            Some(&["expert", "implementing_officer", "authority_officer"]),
        ),
        e("POST", "/api/v1/selection-objections/none/decide", None, Some(&["implementing_officer"])),
        e("POST", "/api/v1/organisations/{org}/evaluations", None, Some(&["authority_officer"])),
        e("GET", "/api/v1/organisations/{org}/operating-status", None, Some(&["authority_officer"])),
        e(
            "GET",
            "/api/v1/personnel/{analyst}",
            None,
            Some(&["operator_admin", "authority_officer", "security_auditor"]),
        ),
        e(
            "POST",
            "/api/v1/personnel/{analyst}/actions/review",
            Some(json!({"passed": "x"})),
            Some(&["authority_officer", "security_auditor"]),
        ),
        e("GET", "/api/v1/catalogue/{entry}/datasets", None, Some(&["source_steward", "authority_officer"])),
        e("POST", "/api/v1/catalogue/{entry}/datasets?format=csv", None, Some(&["source_steward"])),
        e("POST", "/api/v1/grants", Some(json!({"agreement_id": 1})), Some(&["operator_admin"])),
        e(
            "GET",
            "/api/v1/grants",
            None,
            Some(&["operator_admin", "operator_analyst", "authority_officer", "industry_officer", "source_steward"]),
        ),
        e("POST", "/api/v1/workspaces", Some(json!({"agreement_id": 1})), Some(&["operator_admin"])),
        e(
            "GET",
            "/api/v1/workspaces",
            None,
            Some(&["operator_admin", "operator_analyst", "authority_officer", "security_auditor"]),
        ),
        e(
            "GET",
            "/api/v1/exports",
            None,
            Some(&["operator_admin", "operator_analyst", "authority_officer", "security_auditor"]),
        ),
        e("POST", "/api/v1/exports/trace", None, Some(&["authority_officer", "security_auditor"])),
        e(
            "GET",
            "/api/v1/products",
            None,
            Some(&["operator_admin", "operator_analyst", "authority_officer", "security_auditor", "consumer"]),
        ),
        e("POST", "/api/v1/products", None, Some(&["operator_admin"])),
        e("GET", "/api/v1/market/products", None, None),
        e("GET", "/api/v1/public/disclosure", None, None),
        e("POST", "/api/v1/consumer-applications", None, Some(&["consumer"])),
        e(
            "GET",
            "/api/v1/consumer-applications",
            None,
            Some(&["operator_admin", "operator_analyst", "authority_officer", "security_auditor", "consumer"]),
        ),
        e(
            "GET",
            "/api/v1/contracts",
            None,
            Some(&["operator_admin", "operator_analyst", "authority_officer", "security_auditor", "consumer"]),
        ),
        e(
            "GET",
            "/api/v1/ledger",
            None,
            Some(&["authority_officer", "operator_admin", "processor_analyst", "implementing_officer"]),
        ),
        e("POST", "/api/v1/organisations/{org}/allowed-revenue", None, Some(&["authority_officer"])),
        // Last: it ends the sessions the rows above use.
        e("POST", "/api/v1/auth/logout", None, Some(EVERYONE)),
    ]
}

/// Every endpoint, for anonymous callers and for one person in every role.
pub async fn role_matrix(app: &TestApp) {
    let people = [
        ("admin", "admin"),
        ("authority", "authority_officer"),
        ("steward", "source_steward"),
        ("industry", "industry_officer"),
        ("implementer", "implementing_officer"),
        ("registrar", "registrar"),
        ("operator", "operator_admin"),
        ("analyst", "operator_analyst"),
        ("processor", "processor_analyst"),
        ("auditor", "security_auditor"),
        ("expert", "expert"),
        ("consumer", "consumer"),
    ];
    let org = app.user_record("admin").await.org_id.to_string();
    let steward = app.login("steward").await;
    let (reg, query) = app.submit_registration(&steward, "first", None).await;
    let entry = app.create_entry(&steward, &entry_metadata("企业登记信息", "unconditional", "conditional")).await;
    let analyst = app.user_id("", "analyst").await;
    let fill = |p: &str| {
        p.replace("{reg}", &reg)
            .replace("{query}", &query)
            .replace("{org}", &org)
            .replace("{entry}", &entry)
            .replace("{analyst}", &analyst)
    };
    let mut tokens = Vec::new();
    for (username, _) in people {
        tokens.push(app.login(username).await);
    }
    let mut checked = HashSet::new();
    for ep in endpoints() {
        // Anonymous.
        let path = fill(ep.path)
            .replace("{self}", &app.user_id("", "admin").await)
            .replace("{other}", &app.user_id("", "expert").await);
        let status = send(app, ep.method, &path, ep.body.as_ref(), None).await;
        match ep.allowed {
            None => assert!(status.is_success(), "anonymous {} {path}: {status}", ep.method),
            Some(_) => assert_eq!(status, StatusCode::UNAUTHORIZED, "anonymous {} {path}", ep.method),
        }
        for ((username, role), token) in people.iter().zip(&tokens) {
            let (username, role) = (*username, *role);
            let me = app.user_id("", username).await;
            let other = app.user_id("", if username == "expert" { "admin" } else { "expert" }).await;
            let path = fill(ep.path).replace("{self}", &me).replace("{other}", &other);
            let status = send(app, ep.method, &path, ep.body.as_ref(), Some(token)).await;
            let allowed = match ep.allowed {
                None => true,
                Some(roles) => roles.contains(&"*") || roles.contains(&role),
            };
            if allowed {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{role} {} {path} should be allowed, got {status}",
                    ep.method
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} {} {path} should be refused", ep.method);
            }
            checked.insert((ep.method, ep.path, role));
        }
    }
    assert_eq!(checked.len(), endpoints().len() * people.len());
}

async fn send(app: &TestApp, method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> StatusCode {
    let url = app.url(path);
    let mut req = match method {
        "GET" => app.client.get(url),
        "POST" => app.client.post(url),
        other => panic!("method {other}"),
    };
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req = match body {
        Some(b) => req.json(b),
        None if method == "POST" => req.json(&json!({})),
        None => req,
    };
    req.send().await.unwrap().status()
}
