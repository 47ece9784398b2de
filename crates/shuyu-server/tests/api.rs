//! Integration tests: the real server on a random port, against a temporary SQLite file and,
//! when `SHUYU_TEST_DATABASE_URL` is set (CI sets it), against a fresh PostgreSQL database.

mod kit;

use kit::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Runs one scenario function `async fn name(backend: Backend)` on both backends.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    };
}

/// Runs one scenario on both backends.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = TestApp::spawn(Backend::Sqlite, false).await;
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = TestApp::try_spawn_postgres(false).await else { return };
                ($body)(app).await;
            }
        }
    };
}

both!(health_metrics_and_openapi, |app: TestApp| async move {
    let r = app.get_anon("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get_anon("/readyz").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let doc: Value = app.get_anon("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/v1/auth/login"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/audit/events/{seq}/proof"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/products/{id}/versions/{version}/reviews"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/contracts/{id}/keys"]["post"].is_object());
    let metrics = app.get_anon("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("shuyu_http_requests_total"));
    assert!(metrics.contains("shuyu_audit_events"));
    // A sign-in goes through the group writer, and its counters show it.
    app.login("admin").await;
    let metrics = app.get_anon("/metrics").await.text().await.unwrap();
    let records = metrics
        .lines()
        .find_map(|l| l.strip_prefix("shuyu_group_commit_records_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(records.is_some_and(|n| n >= 1), "{metrics}");
});

both!(login_sets_a_strict_httponly_cookie_and_bearer_token, |app: TestApp| async move {
    let r = app.post_anon("/api/v1/auth/login", &json!({"username": "admin", "password": "admin-demo-2026"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Strict"));
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    let me: Value =
        app.client.get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["username"], "admin");
    // Logout ends the session.
    let r = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.client.get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["code"], "unauthenticated");
    assert!(!err["message_zh"].as_str().unwrap().is_empty());
});

both!(repeated_failures_lock_the_account, |app: TestApp| async move {
    let threshold = app.state().security().lockout_threshold;
    for i in 1..threshold {
        let r =
            app.post_anon("/api/v1/auth/login", &json!({"username": "analyst", "password": "wrong-password-1"})).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["code"], "invalid_credentials");
    }
    let r = app.post_anon("/api/v1/auth/login", &json!({"username": "analyst", "password": "wrong-password-1"})).await;
    assert_eq!(r.status(), StatusCode::LOCKED);
    // Even the right password is refused while locked.
    let r = app.post_anon("/api/v1/auth/login", &json!({"username": "analyst", "password": "analyst-demo-2026"})).await;
    assert_eq!(r.status(), StatusCode::LOCKED);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["code"], "account_locked");
    // The administrator unlocks; then the right password works.
    let admin = app.login("admin").await;
    let analyst_id = app.user_id(&admin, "analyst").await;
    let r = app
        .client
        .post(app.url(&format!("/api/v1/users/{analyst_id}/unlock")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.login("analyst").await;
    // Every attempt is in the audit log.
    let events: Value = app
        .client
        .get(app.url(&format!("/api/v1/audit/events?action=session.login&resource=user:{analyst_id}&limit=100")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> =
        events["events"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.iter().filter(|o| **o == "failure").count() >= (threshold as usize));
    assert_eq!(outcomes.last(), Some(&"success"));
});

both!(every_endpoint_refuses_anonymous_and_wrong_roles, |app: TestApp| async move {
    kit::role_matrix(&app).await;
});

both!(validation_names_each_bad_field, |app: TestApp| async move {
    let admin = app.login("admin").await;
    let r = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"username": "X", "display_name": "", "password": "short", "org_id": "nope", "roles": ["wizard"],
            "resident_id": "110105199001011234", "phone": "12345"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["code"], "validation");
    let fields: Vec<&str> =
        err["details"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    for f in ["username", "display_name", "password", "roles[0]", "resident_id", "phone", "org_id"] {
        assert!(fields.contains(&f), "{f} not named in {fields:?}");
    }
    // A role that does not fit the organisation's kind is refused.
    let orgs: Value = app
        .client
        .get(app.url("/api/v1/organisations"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operator_org =
        orgs.as_array().unwrap().iter().find(|o| o["kind"] == "operator").unwrap()["id"].as_str().unwrap().to_string();
    let r = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"username": "newbie", "display_name": "新人", "password": "long-enough-pass-1", "org_id": operator_org, "roles": ["registrar"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A good one is created; a second with the same username conflicts.
    let good = json!({"username": "newbie", "display_name": "新人", "password": "long-enough-pass-1", "org_id": operator_org, "roles": ["operator_analyst"]});
    let r = app.client.post(app.url("/api/v1/users")).bearer_auth(&admin).json(&good).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app.client.post(app.url("/api/v1/users")).bearer_auth(&admin).json(&good).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    app.login_with("newbie", "long-enough-pass-1").await;
});

both!(malformed_requests_get_json_errors, |app: TestApp| async move {
    let admin = app.login("admin").await;
    let r = app.client.get(app.url("/api/v1/no-such-thing")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
    let r = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "bad_request");
    let r = app.client.delete(app.url("/api/v1/me")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.json::<Value>().await.unwrap()["message_zh"].is_string());
    let r = app.client.get(app.url("/api/v1/users/not-a-uuid")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.client.get(app.url("/api/v1/calendar/add?date=2031-01-01&n=3")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "calendar_year_missing");
});

both!(personal_identifiers_are_masked_except_for_roles_that_need_them, |app: TestApp| async move {
    let auditor = app.login("auditor").await;
    let analyst = app.login("analyst").await;
    let analyst_id = app.user_id(&auditor, "analyst").await;
    let full: Value = app
        .client
        .get(app.url(&format!("/api/v1/users/{analyst_id}")))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rid = full["resident_id"].as_str().unwrap();
    assert_eq!(rid.len(), 18);
    assert!(!rid.contains('*'));
    let own: Value =
        app.client.get(app.url("/api/v1/me")).bearer_auth(&analyst).send().await.unwrap().json().await.unwrap();
    assert_eq!(own["resident_id"], full["resident_id"]);
    // The list the administrator sees masks nobody, but a masked view exists for others:
    let admin = app.login("admin").await;
    let list: Value =
        app.client.get(app.url("/api/v1/users")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert!(list.as_array().unwrap().iter().all(|u| u["identifiers_masked"] == false));
    let view = shuyu_server::routes::users::UserView::of(&app.user_record("analyst").await, false);
    let masked = view.resident_id.unwrap();
    assert!(masked.contains("********"), "{masked}");
    assert_eq!(&masked[..6], &rid[..6]);
    assert!(view.phone.unwrap().contains("****"));
});

both!(audit_events_have_inclusion_and_consistency_proofs, |app: TestApp| async move {
    let admin = app.login("admin").await;
    let first: Value = app.client.get(app.url("/api/v1/audit/tree-head")).send().await.unwrap().json().await.unwrap();
    // Make more events, then sign a new head.
    for name in ["测试机构甲", "测试机构乙"] {
        let r = app
            .client
            .post(app.url("/api/v1/organisations"))
            .bearer_auth(&admin)
            .json(&json!({"name": name, "kind": "operator"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = app.client.post(app.url("/api/v1/audit/tree-head")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let second: Value = r.json().await.unwrap();
    let (n1, n2) = (first["size"].as_u64().unwrap(), second["size"].as_u64().unwrap());
    assert!(n2 > n1);
    // The signature verifies with the published key.
    let key: Value = app.client.get(app.url("/api/v1/audit/public-key")).send().await.unwrap().json().await.unwrap();
    kit::verify_tree_head(&key, &second);
    // The organisation creation is in the log, and provably so.
    let events: Value = app
        .client
        .get(app.url("/api/v1/audit/events?action=organisation.create&limit=1000"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event =
        events["events"].as_array().unwrap().iter().find(|e| e["details"]["name"] == "测试机构乙").unwrap().clone();
    let seq = event["seq"].as_u64().unwrap();
    let proof: Value = app
        .client
        .get(app.url(&format!("/api/v1/audit/events/{seq}/proof")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(proof["leaf_hash"], event["leaf_hash"]);
    kit::verify_inclusion(&proof);
    assert_eq!(proof["root"], second["root"]);
    let cons: Value = app
        .client
        .get(app.url(&format!("/api/v1/audit/consistency?first={n1}&second={n2}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cons["first_root"], first["root"]);
    kit::verify_consistency(&cons);
    // Refusals are audited too.
    let analyst = app.login("analyst").await;
    let r = app.client.get(app.url("/api/v1/users")).bearer_auth(&analyst).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let denied: Value = app
        .client
        .get(app.url("/api/v1/audit/events?action=user.list&limit=1000"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(denied["events"].as_array().unwrap().iter().any(|e| e["outcome"] == "denied"));
});

both!(password_change_ends_other_sessions, |app: TestApp| async move {
    let a = app.login("expert").await;
    let b = app.login("expert").await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/password"))
        .bearer_auth(&a)
        .json(&json!({"current_password": "expert-demo-2026", "new_password": "a-much-better-secret-9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.client.get(app.url("/api/v1/me")).bearer_auth(&a).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        app.client.get(app.url("/api/v1/me")).bearer_auth(&b).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    app.login_with("expert", "a-much-better-secret-9").await;
});

both!(calendar_api_counts_working_days, |app: TestApp| async move {
    let r: Value =
        app.client.get(app.url("/api/v1/calendar/add?date=2025-09-30&n=1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["result"], "2025-10-09");
    let r: Value = app
        .client
        .get(app.url("/api/v1/calendar/is-workday?date=2026-02-14"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["workday"], true);
});

both!(console_shows_the_menu_for_the_role, |app: TestApp| async move {
    let r = app.client.get(app.url("/console")).send().await.unwrap();
    assert!(r.url().path().ends_with("/console/login"));
    let login_html = r.text().await.unwrap();
    assert!(login_html.contains("登录"));
    let admin = app.cookie_client("admin").await;
    let html = admin.get(app.url("/console")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("用户与角色"));
    assert!(html.contains("审计日志"));
    let analyst = app.cookie_client("analyst").await;
    let html = analyst.get(app.url("/console")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("工作日历"));
    assert!(!html.contains("用户与角色"));
    assert!(!html.contains("审计日志"));
    let r = analyst.get(app.url("/console/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = analyst.get(app.url("/console/lang/en?next=/console")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Working-day calendar"));
});

/// A body over the limit is refused with the JSON error. The limit is lowered so the whole
/// body fits in the socket buffers: the server answers without reading it and closes the
/// connection, and a large upload would see the close as a broken pipe instead of the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_with_json() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.max_body_bytes = 16 * 1024).await;
    let admin = app.login("admin").await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/organisations"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("x".repeat(32 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "payload_too_large");
}

mod test_clock {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn absent_without_the_flag() {
        let app = TestApp::spawn(Backend::Sqlite, false).await;
        let admin = app.login("admin").await;
        let r = app
            .client
            .post(app.url("/api/v1/admin/test-clock"))
            .bearer_auth(&admin)
            .json(&json!({"advance_days": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moves_time_for_the_administrator_only() {
        let app = TestApp::spawn(Backend::Sqlite, true).await;
        let admin = app.login("admin").await;
        let analyst = app.login("analyst").await;
        let r = app
            .client
            .post(app.url("/api/v1/admin/test-clock"))
            .bearer_auth(&analyst)
            .json(&json!({"advance_days": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r: Value = app
            .client
            .post(app.url("/api/v1/admin/test-clock"))
            .bearer_auth(&admin)
            .json(&json!({"set": "2026-02-13T02:00:00Z"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["today"], "2026-02-13");
        let r: Value = app
            .client
            .post(app.url("/api/v1/admin/test-clock"))
            .bearer_auth(&admin)
            .json(&json!({"advance_days": 365}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["today"], "2027-02-13");
        // Sessions expire by the platform's clock: a year later both logins are gone.
        let r = app.client.get(app.url("/api/v1/me")).bearer_auth(&analyst).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let admin = app.login("admin").await;
        let r = app
            .client
            .post(app.url("/api/v1/admin/test-clock"))
            .bearer_auth(&admin)
            .json(&json!({"advance_days": 1, "set": "2026-01-01T00:00:00Z"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

mod browser {
    use super::*;
    use kit::browser::{chromium_path, Browser};

    /// Signs in through the real login form in headless Chromium and reads the menu.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn login_form_leads_to_the_roles_menu() {
        let Some(chromium) = chromium_path() else {
            // CI installs Chromium, so there a missing browser is a failure, not a skip.
            assert!(std::env::var("CI").is_err(), "Chromium is required in CI");
            eprintln!("Chromium not installed: browser test not run here");
            return;
        };
        let app = TestApp::spawn(Backend::Sqlite, false).await;
        let browser = Browser::launch(&chromium).await;
        for (username, sees, hidden) in [
            ("admin", vec!["用户与角色", "审计日志", "组织机构"], vec![]),
            ("analyst", vec!["组织机构", "工作日历"], vec!["用户与角色", "审计日志"]),
        ] {
            let mut page = browser.page().await;
            page.goto(&app.url("/console/login")).await;
            page.wait_for("document.readyState === 'complete' && !!document.getElementById('login-form')").await;
            let js = format!(
                "(() => {{ const f = document.getElementById('login-form'); f.username.value = '{username}'; \
                 f.password.value = '{username}-demo-2026'; f.requestSubmit(); return true; }})()"
            );
            page.eval(&js).await;
            page.wait_for("document.readyState === 'complete' && location.pathname === '/console' && !!document.getElementById('menu')").await;
            let menu = page.eval("document.getElementById('menu').innerText").await;
            let menu = menu.as_str().unwrap_or_default().to_string();
            for item in sees {
                assert!(menu.contains(item), "{username} should see {item} in {menu:?}");
            }
            for item in hidden {
                assert!(!menu.contains(item), "{username} should not see {item} in {menu:?}");
            }
            // Sign out so the next person starts at the login page.
            page.eval("document.getElementById('logout').click(); true").await;
            page.wait_for("document.readyState === 'complete' && location.pathname === '/console/login'").await;
        }
    }

    async fn sign_in(page: &mut kit::browser::Page, app: &TestApp, username: &str) {
        page.goto(&app.url("/console/login")).await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('login-form')").await;
        let js = format!(
            "(() => {{ const f = document.getElementById('login-form'); f.username.value = '{username}'; \
             f.password.value = '{username}-demo-2026'; f.requestSubmit(); return true; }})()"
        );
        page.eval(&js).await;
        page.wait_for("document.readyState === 'complete' && location.pathname === '/console'").await;
    }

    async fn click_action(page: &mut kit::browser::Page, action: &str, state_after: &str) {
        page.wait_for(&format!(
            "document.readyState === 'complete' && !!document.querySelector('form[data-action={action}]')"
        ))
        .await;
        page.eval(&format!("document.querySelector('form[data-action={action}]').requestSubmit(); true")).await;
        page.wait_for(&format!(
            "document.readyState === 'complete' && (document.getElementById('reg-state') || {{}}).innerText === '{state_after}'"
        ))
        .await;
    }

    /// A source department drafts a catalogue entry in the console, field list included.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_catalogue_entry_drafted_in_the_console() {
        let Some(chromium) = chromium_path() else {
            assert!(std::env::var("CI").is_err(), "Chromium is required in CI");
            return;
        };
        let app = TestApp::spawn(Backend::Sqlite, false).await;
        let browser = Browser::launch(&chromium).await;
        let mut page = browser.page().await;
        sign_in(&mut page, &app, "steward").await;
        page.goto(&app.url("/console/catalogue")).await;
        page.eval(
            "(() => { const f = document.getElementById('new-entry'); f.name.value = '城市供水水质监测'; \
             f.description.value = '出厂水与管网水水质指标'; f.tags.value = '水务, 水质'; f.industry.value = 'D46'; \
             f.source.value = '水务集团监测系统'; f.storage.value = '政务云'; f.records.value = '52000'; \
             f.fields.value = 'station|string|1|监测点\\nturbidity|decimal|1|浑浊度'; f.requestSubmit(); return true; })()",
        )
        .await;
        page.wait_for("document.readyState === 'complete' && document.getElementById('entries').innerText.includes('城市供水水质监测')")
            .await;
        let steward = app.login("steward").await;
        let list: Value = app
            .client
            .get(app.url("/api/v1/catalogue"))
            .bearer_auth(steward)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entry =
            list.as_array().unwrap().iter().find(|e| e["pending"]["name"] == "城市供水水质监测").unwrap().clone();
        assert_eq!(entry["state"], "draft");
        assert_eq!(entry["pending"]["fields"][1]["name"], "turbidity");
        assert_eq!(entry["pending"]["tags"], json!(["水务", "水质"]));
        assert_eq!(entry["pending"]["records"], 52000);
    }

    /// One operator from its application to a filed agreement, through the console.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_operator_from_application_to_filed_agreement() {
        let Some(chromium) = chromium_path() else {
            assert!(std::env::var("CI").is_err(), "Chromium is required in CI");
            return;
        };
        let o = super::operators::O::spawn(Backend::Sqlite, "wuxi").await.unwrap();
        let entry = o.published_entry("conditional").await;
        let programme = o.approved_programme(&entry).await;
        let (s, a) = o
            .call("implementer", "POST", "/api/v1/announcements",
                  json!({"programme_id": programme, "title": "普惠金融领域运营单位征集", "opens_on": "2026-10-12", "closes_on": "2026-10-30"}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let ann = a["id"].as_str().unwrap().to_string();
        let app = &o.app;
        let browser = Browser::launch(&chromium).await;
        let mut page = browser.page().await;

        // The operator applies with its materials.
        sign_in(&mut page, app, "operator").await;
        page.goto(&app.url("/console/announcements")).await;
        page.eval(&format!(
            "(() => {{ const f = document.getElementById('apply-{ann}'); f.security_officer.value = '王安全'; \
             f.mlps_level3_experience.checked = true; \
             f.querySelectorAll('input[type=file]').forEach((input, i) => {{ const dt = new DataTransfer(); \
               dt.items.add(new File(['%PDF ' + i], 'm' + i + '.pdf', {{type: 'application/pdf'}})); input.files = dt.files; }}); \
             f.requestSubmit(); return true; }})()"
        ))
        .await;
        let (_, list) = loop {
            let r = o.call("authority", "GET", &format!("/api/v1/announcements/{ann}/applications"), json!({})).await;
            if r.1.as_array().is_some_and(|l| !l.is_empty()) {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(list[0]["state"], "eligible");

        // An expert scores it.
        sign_in(&mut page, app, "expert").await;
        page.goto(&app.url("/console/announcements")).await;
        page.eval(
            "(() => { const f = document.querySelector('form[data-action=score]'); f.score.value = '85'; \
             f.comments.value = '方案可行'; f.no_conflict_of_interest.checked = true; f.requestSubmit(); return true; })()",
        )
        .await;
        page.wait_for("document.readyState === 'complete' && document.body.innerText.includes('85.0')").await;

        // After the deadline the agency publishes the result and drafts the agreement.
        o.go_to("2026-10-31").await;
        let application = list[0]["id"].as_str().unwrap().to_string();
        let (s, _) = o
            .call(
                "implementer",
                "POST",
                &format!("/api/v1/announcements/{ann}/results"),
                json!({"selected": [application]}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        o.go_to("2026-11-09").await;
        let (s, ag) = o.agreement(&programme, 2, "2026-11-10").await;
        assert_eq!(s, StatusCode::CREATED);
        let id = ag["id"].as_str().unwrap().to_string();

        // Both sides sign and the authority files it, each in the console.
        for (who, action, state) in [
            ("operator", "sign", "待签署"),
            ("implementer", "sign", "已签署待备案"),
            ("authority", "file", "已备案生效"),
        ] {
            sign_in(&mut page, app, who).await;
            page.goto(&app.url("/console/agreements")).await;
            page.wait_for(&format!(
                "document.readyState === 'complete' && !!document.querySelector('form[data-action={action}]')"
            ))
            .await;
            page.eval(&format!("document.querySelector('form[data-action={action}]').requestSubmit(); true")).await;
            page.wait_for(&format!(
                "document.readyState === 'complete' && (document.getElementById('agreement-{id}') || {{}}).innerText === '{state}' \
                 && !document.querySelector('form[data-action={action}]')"
            ))
            .await;
        }
        let (_, a) = o.call("authority", "GET", &format!("/api/v1/agreements/{id}"), json!({})).await;
        assert_eq!(a["state"], "filed");
        assert!(a["agency_signed_on"].is_string() && a["operator_signed_on"].is_string());
    }

    /// One registration from the application form to a certificate that verifies publicly,
    /// entirely through the console and the public portal.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_registration_from_application_to_verified_certificate() {
        let Some(chromium) = chromium_path() else {
            assert!(std::env::var("CI").is_err(), "Chromium is required in CI");
            eprintln!("Chromium not installed: browser test not run here");
            return;
        };
        let app = TestApp::spawn(Backend::Sqlite, true).await;
        let admin = app.login("admin").await;
        let clock = |set: &str| {
            let req =
                app.client.post(app.url("/api/v1/admin/test-clock")).bearer_auth(&admin).json(&json!({"set": set}));
            async move { assert_eq!(req.send().await.unwrap().status(), StatusCode::OK) }
        };
        clock("2026-10-12T01:00:00Z").await;
        let browser = Browser::launch(&chromium).await;
        let mut page = browser.page().await;

        // The source department applies, attaching every material.
        sign_in(&mut page, &app, "steward").await;
        page.goto(&app.url("/console/registrations/new")).await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('new-registration')").await;
        page.eval(
            "(() => { const f = document.getElementById('new-registration'); \
             f.subject_name.value = '城市公交运行数据'; f.summary.value = '公交线路、站点与到站时间'; f.industry.value = 'G54'; \
             f.querySelectorAll('input[type=file]').forEach((input, i) => { const dt = new DataTransfer(); \
               dt.items.add(new File(['%PDF-1.4 material ' + i], 'material-' + i + '.pdf', {type: 'application/pdf'})); \
               input.files = dt.files; }); \
             f.requestSubmit(); return true; })()",
        )
        .await;
        page.wait_for(
            "document.readyState === 'complete' && location.pathname.startsWith('/console/registrations/0') \
             && !!document.getElementById('reg-state')",
        )
        .await;
        assert_eq!(page.eval("document.getElementById('reg-state').innerText").await, "待受理");
        let path = page.eval("location.pathname").await.as_str().unwrap().to_string();
        page.eval("document.getElementById('logout').click(); true").await;
        page.wait_for("document.readyState === 'complete' && location.pathname === '/console/login'").await;

        // The registry accepts and, after review, starts publicity.
        sign_in(&mut page, &app, "registrar").await;
        page.goto(&app.url(&path)).await;
        click_action(&mut page, "accept", "审查中").await;
        click_action(&mut page, "start_publicity", "公示中").await;
        // Anyone reads the publicity notice.
        let mut public = browser.page().await;
        public.goto(&app.url("/public/publicity")).await;
        public.wait_for("document.readyState === 'complete'").await;
        assert!(public.eval("document.body.innerText").await.as_str().unwrap().contains("城市公交运行数据"));

        // Ten working days of publicity without objection: approved, certificate issued.
        clock("2026-10-27T01:00:00Z").await;
        // Sessions expire by the platform's clock: two weeks later the registrar signs in again.
        sign_in(&mut page, &app, "registrar").await;
        page.goto(&app.url(&path)).await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('certificate-link')").await;
        assert_eq!(page.eval("document.getElementById('reg-state').innerText").await, "已核准");
        page.eval("document.getElementById('certificate-link').click(); true").await;
        page.wait_for(
            "document.readyState === 'complete' && location.pathname.startsWith('/public/certificates/') \
             && !!document.getElementById('cert-status')",
        )
        .await;
        assert_eq!(page.eval("document.getElementById('cert-status').innerText").await, "有效");
        assert!(page.eval("document.getElementById('signature').className").await == "ok");
        assert_eq!(page.eval("!!document.querySelector('.qr svg')").await, true, "a QR code of the verification URL");
    }
}

/// The content security policy forbids inline styles and scripts; the pages must not need them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_need_no_inline_styles_or_scripts() {
    let app = TestApp::spawn(Backend::Sqlite, false).await;
    let admin = app.cookie_client("admin").await;
    for path in [
        "/console/login",
        "/console",
        "/console/users",
        "/console/audit",
        "/console/calendar",
        "/console/profile",
        "/console/account",
        "/console/organisations",
        "/console/registrations",
        "/console/registrations/new",
        "/console/certificates",
        "/console/catalogue",
        "/console/sharing",
        "/console/programmes",
        "/console/announcements",
        "/console/agreements",
        "/console/personnel",
        "/console/products",
        "/console/market",
        "/console/contracts",
        "/public/catalogue",
        "/public/publicity",
        "/public/verify",
        "/public/market",
        "/public/disclosure",
    ] {
        let r = admin.get(app.url(path)).send().await.unwrap();
        let csp = r.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
        assert!(csp.contains("default-src 'self'"));
        let html = r.text().await.unwrap();
        assert!(!html.contains("style=\""), "{path} has an inline style");
        assert!(!html.contains("<script>"), "{path} has an inline script");
    }
}

/// Registration (YXR §14–§23) driven through the API with the test clock: every deadline
/// lands on the working day the calendar and the profile predict, across the 2026 National
/// Day holiday and its make-up Saturday (10 October).
mod registration {
    use super::*;

    struct Flow {
        app: TestApp,
    }

    impl Flow {
        async fn new(backend: Backend) -> Option<Flow> {
            let app = match backend {
                Backend::Sqlite => TestApp::spawn(Backend::Sqlite, true).await,
                Backend::Postgres => TestApp::try_spawn_postgres(true).await?,
            };
            let flow = Flow { app };
            // Monday 28 September 2026, 09:00 in Beijing.
            flow.set_clock(json!({"set": "2026-09-28T01:00:00Z"})).await;
            Some(flow)
        }

        async fn set_clock(&self, body: Value) -> Value {
            let admin = self.app.login("admin").await;
            let r = self.app.client.post(self.app.url("/api/v1/admin/test-clock")).bearer_auth(admin).json(&body);
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json().await.unwrap()
        }

        /// Moves the clock to 09:00 Beijing time on `date`; the scheduler runs at once.
        async fn go_to(&self, date: &str) {
            let v = self.set_clock(json!({"set": format!("{date}T01:00:00Z")})).await;
            assert_eq!(v["today"], date);
        }

        async fn get(&self, who: &str, path: &str) -> (StatusCode, Value) {
            let token = self.app.login(who).await;
            let r = self.app.client.get(self.app.url(path)).bearer_auth(token).send().await.unwrap();
            let status = r.status();
            (status, r.json().await.unwrap_or(Value::Null))
        }

        async fn reg(&self, id: &str) -> Value {
            let (s, v) = self.get("registrar", &format!("/api/v1/registrations/{id}")).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v
        }

        async fn act(&self, who: &str, id: &str, action: &str, body: Value) -> (StatusCode, Value) {
            let token = self.app.login(who).await;
            let url = self.app.url(&format!("/api/v1/registrations/{id}/actions/{action}"));
            let r = self.app.client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            let status = r.status();
            (status, r.json().await.unwrap())
        }

        async fn ok(&self, who: &str, id: &str, action: &str, body: Value) -> Value {
            let (s, v) = self.act(who, id, action, body).await;
            assert_eq!(s, StatusCode::OK, "{who} {action}: {v}");
            v
        }

        async fn submit(&self, skip: Option<&str>) -> (String, String) {
            let steward = self.app.login("steward").await;
            self.app.submit_registration(&steward, "first", skip).await
        }
    }

    async fn supplement_then_silence_withdraws(backend: Backend) {
        let Some(f) = Flow::new(backend).await else { return };
        let (id, query) = f.submit(Some("identity_proof")).await;
        let v = f.reg(&id).await;
        assert_eq!(v["state"], "submitted");
        // Three working days from Monday 28 September: 29, 30 September, then 8 October.
        assert_eq!(v["deadline"], "2026-10-08");
        assert_eq!(v["missing_materials"], json!(["identity_proof"]));
        assert_eq!(v["allowed_actions"], json!(["accept", "not_accept", "request_supplement"]));
        f.go_to("2026-10-08").await;
        let v =
            f.ok("registrar", &id, "request_supplement", json!({"missing": ["identity_proof: 身份证明材料"]})).await;
        assert_eq!(v["state"], "supplement_requested");
        // Ten working days, the make-up Saturday 10 October among them.
        assert_eq!(v["deadline"], "2026-10-21");
        assert_eq!(v["awaiting"], "applicant");
        let steward = f.get("steward", &format!("/api/v1/registrations/{id}")).await.1;
        assert_eq!(steward["allowed_actions"], json!(["supplement", "withdraw"]));
        assert_eq!(steward["supplement_notice"], json!(["identity_proof: 身份证明材料"]));
        f.go_to("2026-10-21").await;
        assert_eq!(f.reg(&id).await["state"], "supplement_requested");
        // The eleventh working day: withdrawn by the scheduler.
        f.go_to("2026-10-22").await;
        let v = f.reg(&id).await;
        assert_eq!(v["state"], "withdrawn");
        assert_eq!(v["deadline"], Value::Null);
        assert_eq!(v["allowed_actions"], json!([]));
        let r = f.app.get_anon(&format!("/api/v1/public/registrations/status?query_code={query}")).await;
        assert_eq!(r.json::<Value>().await.unwrap()["state"], "withdrawn");
        // The audit log shows who did it: the scheduler, as `system`.
        let (_, events) = f.get("auditor", &format!("/api/v1/audit/events?resource=registration:{id}")).await;
        let events = events["events"].as_array().unwrap().clone();
        let last = events.iter().find(|e| e["action"] == "registration.withdrawn_unsupplemented").unwrap();
        assert_eq!(last["actor"], "system");
    }

    async fn objection_upheld_ends_the_registration(backend: Backend) {
        let Some(f) = Flow::new(backend).await else { return };
        let (id, _) = f.submit(None).await;
        // The registry lets the acceptance deadline pass: the registration is flagged overdue
        // and the authority sees it.
        f.go_to("2026-10-09").await;
        let v = f.reg(&id).await;
        assert_eq!(v["overdue_since"], "2026-10-09");
        let (_, overdue) = f.get("authority", "/api/v1/registrations?overdue=true").await;
        assert!(overdue.as_array().unwrap().iter().any(|r| r["id"] == id.as_str()));
        f.ok("registrar", &id, "accept", json!({})).await;
        f.go_to("2026-10-12").await;
        let v = f.ok("registrar", &id, "start_publicity", json!({})).await;
        assert_eq!(v["state"], "publicity");
        assert_eq!(v["publicity_until"], "2026-10-26");
        let public: Value = f.app.get_anon("/api/v1/public/publicity").await.json().await.unwrap();
        let notice = public.as_array().unwrap().iter().find(|n| n["registration_id"] == id.as_str()).unwrap().clone();
        assert_eq!(notice["subject_name"], "市场主体登记信息");
        assert!(notice["applicant"].as_str().unwrap().len() > 1);
        // No withdrawal once publicity has started (YXR §18).
        let (s, e) = f.act("steward", &id, "withdraw", json!({})).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(e["basis"], "YXR §18");
        // An objection under a real name suspends the registration.
        f.go_to("2026-10-13").await;
        let consumer = f.app.login("consumer").await;
        let evidence = f.app.upload(&consumer, "contract.pdf", b"%PDF evidence").await;
        let v = f
            .ok(
                "consumer",
                &id,
                "object",
                json!({"statement": "该数据含本公司提供的数据，未经授权。", "evidence": [evidence]}),
            )
            .await;
        assert_eq!(v["state"], "suspended");
        let objection = v["objections"][0].clone();
        assert_eq!(objection["deadline"], "2026-10-16");
        let oid = objection["id"].as_str().unwrap().to_string();
        f.go_to("2026-10-14").await;
        let v = f.ok("registrar", &id, "forward_objection", json!({"objection_id": oid})).await;
        assert_eq!(v["objections"][0]["deadline"], "2026-10-28");
        let (s, _) = f
            .act("registrar", &id, "decide_objection", json!({"objection_id": oid, "upheld": true, "reason": "x"}))
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "the applicant has not answered and its time has not run out");
        f.ok("steward", &id, "answer_objection", json!({"objection_id": oid, "answer": "已取得授权，附协议。"})).await;
        // While suspended the publicity period ends but nothing is approved.
        f.go_to("2026-10-27").await;
        assert_eq!(f.reg(&id).await["state"], "suspended");
        let v = f
            .ok(
                "registrar",
                &id,
                "decide_objection",
                json!({"objection_id": oid, "upheld": true, "reason": "授权协议不覆盖该数据"}),
            )
            .await;
        assert_eq!(v["state"], "terminated");
        assert_eq!(v["decision_ground"], "objection_upheld");
        assert_eq!(v["certificate_code"], Value::Null);
    }

    async fn clean_run_ends_in_a_certificate_that_verifies(backend: Backend) {
        let Some(f) = Flow::new(backend).await else { return };
        let (id, _) = f.submit(None).await;
        // Acceptance on day 3 is on time.
        f.go_to("2026-10-08").await;
        let v = f.ok("registrar", &id, "accept", json!({})).await;
        assert_eq!(v["overdue_since"], Value::Null);
        assert_eq!(v["deadline"], "2026-11-04", "20 working days for the review, 10 October among them");
        f.go_to("2026-10-09").await;
        let v = f.ok("registrar", &id, "start_publicity", json!({})).await;
        assert_eq!(v["publicity_until"], "2026-10-22");
        f.go_to("2026-10-22").await;
        assert_eq!(f.reg(&id).await["state"], "publicity");
        f.go_to("2026-10-23").await;
        let v = f.reg(&id).await;
        assert_eq!(v["state"], "approved");
        let code = v["certificate_code"].as_str().unwrap().to_string();
        assert!(code.starts_with("320200-2026-D-000001-"), "{code}");

        let check = || async {
            let r = f.app.get_anon(&format!("/api/v1/public/certificates/{code}")).await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        };
        let c = check().await;
        assert_eq!(c["status"], "valid");
        assert_eq!(c["verified"], true);
        // The synchronisation export carries the certificate with what a receiving platform
        // needs to verify it itself.
        let (s, sync) = f.get("registrar", "/api/v1/registrations/export").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(sync["format"], "shuyu-registration-sync/1");
        let exported = sync["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["facts"]["code"] == code.as_str())
            .unwrap()
            .clone();
        let facts: shuyu_core::certificate::CertificateFacts =
            serde_json::from_value(exported["facts"].clone()).unwrap();
        let key_bytes: [u8; 32] =
            hex::decode(sync["registry"]["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes).unwrap();
        assert!(facts.verify(&key, exported["signature"].as_str().unwrap()), "verifiable offline");
        assert_eq!(c["facts"]["valid_from"], "2026-10-23");
        assert_eq!(c["facts"]["valid_until"], "2029-10-22");
        assert_eq!(c["facts"]["subject_name"], "市场主体登记信息");
        // The signature verifies offline with the published key.
        let key: Value = f.app.get_anon("/api/v1/public/certificate-key").await.json().await.unwrap();
        assert_eq!(key["public_key"], c["public_key"]);
        // A mistyped code is caught by its check character.
        let mut typo = code.clone();
        let last = typo.pop().unwrap();
        typo.push(if last == '0' { '1' } else { '0' });
        assert_eq!(
            f.app.get_anon(&format!("/api/v1/public/certificates/{typo}")).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );

        // Holders and the registry read it; other organisations and anonymous callers do not.
        assert_eq!(f.get("steward", &format!("/api/v1/certificates/{code}")).await.0, StatusCode::OK);
        assert_eq!(f.get("operator", &format!("/api/v1/certificates/{code}")).await.0, StatusCode::FORBIDDEN);
        assert_eq!(f.app.get_anon(&format!("/api/v1/certificates/{code}")).await.status(), StatusCode::UNAUTHORIZED);
        // Statistics are the authority's alone (YXR §24).
        assert_eq!(f.get("registrar", "/api/v1/registrations/statistics").await.0, StatusCode::FORBIDDEN);
        let (s, stats) = f.get("authority", "/api/v1/registrations/statistics").await;
        assert_eq!(s, StatusCode::OK);
        assert!(stats.as_array().unwrap().iter().any(|r| r["state"] == "approved" && r["count"] == 1));

        // Renewal only in the 60 days before expiry.
        let token = f.app.login("steward").await;
        let renew = |token: String| {
            let url = f.app.url(&format!("/api/v1/certificates/{code}/actions/renew"));
            let req = f.app.client.post(url).bearer_auth(token).json(&json!({"years": 3}));
            async move { req.send().await.unwrap() }
        };
        let r = renew(token).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["code"], "renewal_window_closed");
        assert_eq!(e["basis"], "YXR §23");
        assert_eq!(e["details"]["opens_on"], "2029-08-24");
        f.go_to("2029-08-24").await;
        let r = renew(f.app.login("steward").await).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["deadline"], "2032-10-22");
        assert_eq!(v["versions"].as_array().unwrap().len(), 2);
        assert_eq!(check().await["verified"], true);

        // Unrenewed past its last day: cancelled by the scheduler and announced.
        f.go_to("2032-10-23").await;
        let c = check().await;
        assert_eq!(c["status"], "cancelled");
        assert_eq!(c["verified"], false);
        let notices: Value = f.app.get_anon("/api/v1/public/announcements").await.json().await.unwrap();
        assert!(notices.as_array().unwrap().iter().any(|n| n["certificate_code"] == code.as_str()));

        // Facts edited in the database no longer carry the signature.
        let pool = f.app.state().store.pool().clone();
        sqlx::query("UPDATE certificates SET valid_until = '2099-12-31' WHERE code = $1")
            .bind(&code)
            .execute(&pool)
            .await
            .unwrap();
        let c = check().await;
        assert_eq!(c["signature_valid"], false);
        assert_eq!(c["verified"], false);
    }

    /// Drives a first registration to its certificate; returns the registration id and code.
    async fn certified(f: &Flow) -> (String, String) {
        let (id, _) = f.submit(None).await;
        f.ok("registrar", &id, "accept", json!({})).await;
        f.ok("registrar", &id, "start_publicity", json!({})).await;
        f.go_to("2026-10-23").await;
        let v = f.reg(&id).await;
        assert_eq!(v["state"], "approved");
        (id, v["certificate_code"].as_str().unwrap().to_string())
    }

    async fn change_cancellation_and_revocation(backend: Backend) {
        let Some(f) = Flow::new(backend).await else { return };
        f.go_to("2026-10-08").await;
        f.go_to("2026-10-09").await;
        let (_, code) = certified(&f).await;
        let verify = || async {
            let r = f.app.get_anon(&format!("/api/v1/public/certificates/{code}")).await;
            r.json::<Value>().await.unwrap()
        };
        // A change registration: same flow, then the certificate's facts change, its version
        // rises, it is signed again, and the history keeps both versions.
        let steward = f.app.login("steward").await;
        let mut materials = Vec::new();
        for key in ["change_application", "identity_proof"] {
            let aid = f.app.upload(&steward, &format!("{key}.pdf"), b"%PDF change").await;
            materials.push(json!({"key": key, "attachment_id": aid}));
        }
        let r = f
            .app
            .client
            .post(f.app.url("/api/v1/registrations"))
            .bearer_auth(&steward)
            .json(&json!({
                "type": "change", "subject_kind": "data_resource", "certificate_code": code,
                "subject_name": "市场主体登记信息（含个体工商户）", "summary": "新增个体工商户登记信息",
                "industry": "L7212", "region": "320200", "materials": materials
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let change: Value = r.json().await.unwrap();
        let cid = change["id"].as_str().unwrap().to_string();
        assert_eq!(change["missing_materials"], json!([]));
        f.ok("registrar", &cid, "accept", json!({})).await;
        f.ok("registrar", &cid, "start_publicity", json!({})).await;
        f.go_to("2026-11-07").await;
        assert_eq!(f.reg(&cid).await["state"], "approved");
        let c = verify().await;
        assert_eq!(c["facts"]["subject_name"], "市场主体登记信息（含个体工商户）");
        assert_eq!(c["facts"]["version"], 2);
        assert_eq!(c["verified"], true);
        let (_, full) = f.get("steward", &format!("/api/v1/certificates/{code}")).await;
        assert_eq!(full["versions"].as_array().unwrap().len(), 2);

        // Cancellation (YXR §21): a reason from the list, completed within 10 working days of
        // acceptance, no publicity; the certificate is cancelled and announced.
        let steward = f.app.login("steward").await;
        let mut materials = Vec::new();
        for key in ["cancellation_application", "identity_proof"] {
            let aid = f.app.upload(&steward, &format!("{key}.pdf"), b"%PDF cancel").await;
            materials.push(json!({"key": key, "attachment_id": aid}));
        }
        let body = json!({
            "type": "cancellation", "subject_kind": "data_resource", "certificate_code": code,
            "subject_name": "市场主体登记信息", "summary": "权益期限届满", "industry": "L7212", "region": "320200",
            "materials": materials
        });
        let r = f
            .app
            .client
            .post(f.app.url("/api/v1/registrations"))
            .bearer_auth(&steward)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a cancellation names its YXR §21 reason");
        let mut body = body;
        body["cancellation_reason"] = json!("rights_waived_or_expired");
        let r = f
            .app
            .client
            .post(f.app.url("/api/v1/registrations"))
            .bearer_auth(&steward)
            .json(&body)
            .send()
            .await
            .unwrap();
        let cancel: Value = r.json().await.unwrap();
        let xid = cancel["id"].as_str().unwrap().to_string();
        let v = f.ok("registrar", &xid, "accept", json!({})).await;
        assert_eq!(v["allowed_actions"], json!(["complete_cancellation", "refuse"]));
        assert_eq!(v["deadline"], "2026-11-20", "10 working days from Saturday 7 November");
        f.ok("registrar", &xid, "complete_cancellation", json!({})).await;
        let c = verify().await;
        assert_eq!(c["status"], "cancelled");
        assert_eq!(c["signature_valid"], true, "cancellation changes the status, not the signed facts");
        let notices: Value = f.app.get_anon("/api/v1/public/announcements").await.json().await.unwrap();
        assert!(notices.as_array().unwrap().iter().any(|n| n["certificate_code"] == code.as_str()));
        // A cancelled certificate cannot be changed, renewed or revoked.
        let (s, _) = f.get("steward", &format!("/api/v1/certificates/{code}")).await;
        assert_eq!(s, StatusCode::OK);
        let r = f
            .app
            .client
            .post(f.app.url(&format!("/api/v1/certificates/{code}/actions/revoke")))
            .bearer_auth(f.app.login("registrar").await)
            .json(&json!({"ground": "false_material", "reason": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
    }

    async fn revocation_for_false_material(backend: Backend) {
        let Some(f) = Flow::new(backend).await else { return };
        f.go_to("2026-10-09").await;
        let (_, code) = certified(&f).await;
        let app = &f.app;
        let revoke = |who: &'static str, body: Value| {
            let url = app.url(&format!("/api/v1/certificates/{code}/actions/revoke"));
            async move {
                let token = app.login(who).await;
                let r = app.client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
                let status = r.status();
                (status, r.json::<Value>().await.unwrap())
            }
        };
        assert_eq!(revoke("steward", json!({"ground": "misuse", "reason": "x"})).await.0, StatusCode::FORBIDDEN);
        let (s, e) = revoke("registrar", json!({"ground": "dislike", "reason": "x"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e["basis"], "YXR §27");
        let (s, v) = revoke("registrar", json!({"ground": "false_material", "reason": "来源证明系伪造"})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["state"], "revoked");
        let c: Value = f.app.get_anon(&format!("/api/v1/public/certificates/{code}")).await.json().await.unwrap();
        assert_eq!(c["status"], "revoked");
        assert_eq!(c["verified"], false);
    }

    on_both!(supplement_then_silence_withdraws);
    on_both!(objection_upheld_ends_the_registration);
    on_both!(clean_run_ends_in_a_certificate_that_verifies);
    on_both!(change_cancellation_and_revocation);
    on_both!(revocation_for_false_material);
}

/// The catalogue (WH §10–§26) through the API with the test clock.
mod catalogue {
    use super::*;
    use kit::entry_metadata;

    struct C {
        app: TestApp,
    }

    impl C {
        async fn call(&self, who: Option<&str>, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
            let url = self.app.url(path);
            let mut req = match method {
                "GET" => self.app.client.get(url),
                _ => self.app.client.post(url),
            };
            if let Some(who) = who {
                req = req.bearer_auth(self.app.login(who).await);
            }
            if let Some(b) = body {
                req = req.json(&b);
            }
            let r = req.send().await.unwrap();
            let status = r.status();
            (status, r.json().await.unwrap_or(Value::Null))
        }

        async fn act(&self, who: &str, id: &str, action: &str, body: Value) -> (StatusCode, Value) {
            self.call(Some(who), "POST", &format!("/api/v1/catalogue/{id}/actions/{action}"), Some(body)).await
        }

        async fn go_to(&self, date: &str) {
            let (s, v) = self
                .call(
                    Some("admin"),
                    "POST",
                    "/api/v1/admin/test-clock",
                    Some(json!({"set": format!("{date}T01:00:00Z")})),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(v["today"], date);
        }

        async fn public_names(&self, query: &str) -> Vec<String> {
            let (s, v) = self.call(None, "GET", &format!("/api/v1/public/catalogue?{query}"), None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect()
        }

        /// Creates, submits and has the authority approve an entry; returns its id.
        async fn publish(&self, metadata: Value) -> String {
            let steward = self.app.login("steward").await;
            let id = self.app.create_entry(&steward, &metadata).await;
            assert_eq!(self.act("steward", &id, "submit", json!({})).await.0, StatusCode::OK);
            let (s, v) = self.act("authority", &id, "approve", json!({})).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            id
        }
    }

    async fn review_restriction_search_sharing_and_export(backend: Backend) {
        let app = match backend {
            Backend::Sqlite => TestApp::spawn(Backend::Sqlite, true).await,
            Backend::Postgres => match TestApp::try_spawn_postgres(true).await {
                Some(app) => app,
                None => return,
            },
        };
        let c = C { app };
        c.go_to("2026-09-30").await;
        let steward = c.app.login("steward").await;
        let id =
            c.app.create_entry(&steward, &entry_metadata("市场主体企业登记信息", "unconditional", "conditional")).await;
        // Drafts are never public.
        assert!(c.public_names("q=企业登记").await.is_empty());
        assert_eq!(c.call(None, "GET", &format!("/api/v1/public/catalogue/{id}"), None).await.0, StatusCode::NOT_FOUND);
        let (_, v) = c.act("steward", &id, "submit", json!({})).await;
        assert_eq!(v["state"], "under_review");
        assert_eq!(v["deadline"], "2026-10-09", "2 working days across National Day (WH §10)");
        // The authority lets it pass: flagged overdue.
        c.go_to("2026-10-12").await;
        let (_, v) = c.call(Some("authority"), "GET", &format!("/api/v1/catalogue/{id}"), None).await;
        assert_eq!(v["overdue_since"], "2026-10-12");
        assert_eq!(v["allowed_actions"], json!(["approve", "reject"]));
        let (s, v) = c.act("authority", &id, "approve", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["state"], "published");
        assert_eq!(v["authorizable"], true);

        // Public search finds it by a sub-word, in Chinese and English, without restricted details.
        assert_eq!(c.public_names("q=企业登记").await, vec!["市场主体企业登记信息"]);
        assert_eq!(c.public_names("q=market&industry=S").await.len(), 1);
        assert!(c.public_names("q=企业登记&open_class=unconditional").await.is_empty());
        let (_, p) = c.call(None, "GET", &format!("/api/v1/public/catalogue/{id}"), None).await;
        assert_eq!(p["sensitive_fields"], 1);
        assert!(!p.to_string().contains("legal_rep_id"), "sensitive field names stay private");
        assert!(p.get("storage").is_none());
        assert_eq!(p["industry_name"], "国家机构");

        // Restricting a class without a reason is refused, and nothing changes.
        let mut restricted = entry_metadata("市场主体企业登记信息", "conditional", "conditional");
        let (s, e) = c.act("steward", &id, "edit", json!({"metadata": restricted})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e["basis"], "WH §17");
        restricted["restriction_reason"] = json!("含法定代表人身份信息，须按需共享");
        let (s, v) = c.act("steward", &id, "edit", json!({"metadata": restricted})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["restricts_class"], true);
        assert_eq!(v["published"]["share_class"], "unconditional", "not effective before approval");
        assert_eq!(v["change_due"], "2026-11-02", "15 working days to submit the change");
        c.act("steward", &id, "submit", json!({})).await;
        let (_, v) = c.act("authority", &id, "approve", json!({})).await;
        assert_eq!(v["published"]["share_class"], "conditional");
        assert_eq!(v["published_version"], 2);

        // Sharing a conditional entry: the authority, then the provider; a refusal states its reason.
        let (s, r) = c
            .call(
                Some("industry"),
                "POST",
                "/api/v1/sharing-requests",
                Some(json!({"entry_id": id, "purpose": "行业监管执法核查", "fields": ["uscc"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let rid = r["id"].as_str().unwrap().to_string();
        assert_eq!(r["state"], "authority_review");
        assert_eq!(r["deadline"], "2026-10-13");
        let path = |a: &str| format!("/api/v1/sharing-requests/{rid}/actions/{a}");
        assert_eq!(c.call(Some("steward"), "POST", &path("approve"), Some(json!({}))).await.0, StatusCode::FORBIDDEN);
        let (_, r) = c.call(Some("authority"), "POST", &path("approve"), Some(json!({}))).await;
        assert_eq!(r["state"], "provider_review");
        assert_eq!(r["deadline"], "2026-10-14");
        c.go_to("2026-10-15").await;
        let (_, r) = c.call(Some("authority"), "GET", &format!("/api/v1/sharing-requests/{rid}"), None).await;
        assert_eq!(r["overdue_since"], "2026-10-15", "a missed deadline is visible to the authority");
        let (s, e) = c.call(Some("steward"), "POST", &path("refuse"), Some(json!({}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e["basis"], "WH §18");
        let (_, r) = c.call(Some("steward"), "POST", &path("refuse"), Some(json!({"reason": "超出履职范围"}))).await;
        assert_eq!(r["state"], "refused");
        assert_eq!(r["decision_reason"], "超出履职范围");

        // Not-open data can never be authorized for operation (WX §2).
        let closed = c.publish(entry_metadata("不动产登记信息", "conditional", "not_allowed")).await;
        let (s, e) = c.call(None, "GET", &format!("/api/v1/public/catalogue/{closed}/authorizable"), None).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(e["basis"], "WX §2");
        let steward = c.app.login("steward").await;
        let draft = c.app.create_entry(&steward, &entry_metadata("草稿", "unconditional", "unconditional")).await;
        assert_eq!(
            c.call(None, "GET", &format!("/api/v1/public/catalogue/{draft}/authorizable"), None).await.0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            c.call(None, "GET", &format!("/api/v1/public/catalogue/{id}/authorizable"), None).await.0,
            StatusCode::OK
        );

        // Unconditional open data is downloadable by anyone, with its source and retrieval date.
        let open = c.publish(entry_metadata("公交线路站点", "unconditional", "unconditional")).await;
        let file = c.app.upload(&steward, "stops.csv", b"line,stop\n1,Xihu\n").await;
        let (s, v) = c.act("steward", &open, "attach_open_data", json!({"attachment_id": file})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let r = c.app.get_anon(&format!("/api/v1/public/catalogue/{open}/download")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-shuyu-retrieved-on"], "2026-10-15");
        assert_eq!(r.text().await.unwrap(), "line,stop\n1,Xihu\n");
        let (s, e) = c.call(None, "GET", &format!("/api/v1/public/catalogue/{id}/download"), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(e["basis"], "WH §24");

        // Conditional open data is applied for; the holder decides; the applicant downloads.
        let (s, e) = c
            .call(
                Some("consumer"),
                "POST",
                &format!("/api/v1/public/catalogue/{open}/applications"),
                Some(json!({"purpose": "研究"})),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "unconditional data needs no application");
        assert_eq!(e["basis"], "WH §24");
        let (s, a) = c
            .call(
                Some("consumer"),
                "POST",
                &format!("/api/v1/public/catalogue/{id}/applications"),
                Some(json!({"purpose": "小微企业信用评价模型研究"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        assert_eq!(a["deadline"], "2026-11-12", "20 working days to decide");
        let aid = a["id"].as_str().unwrap().to_string();
        let apath = |x: &str| format!("/api/v1/open-data-applications/{aid}{x}");
        assert_eq!(c.call(Some("consumer"), "GET", &apath("/download"), None).await.0, StatusCode::CONFLICT);
        assert_eq!(
            c.call(Some("consumer"), "POST", &apath("/actions/approve"), Some(json!({}))).await.0,
            StatusCode::FORBIDDEN
        );
        let (s, e) = c.call(Some("steward"), "POST", &apath("/actions/refuse"), Some(json!({}))).await;
        assert_eq!((s, e["basis"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("WH §24")));
        let data = c.app.upload(&c.app.login("steward").await, "registry.csv", b"uscc,company_name\n").await;
        c.act("steward", &id, "attach_open_data", json!({"attachment_id": data})).await;
        let (_, a) = c.call(Some("steward"), "POST", &apath("/actions/approve"), Some(json!({}))).await;
        assert_eq!(a["state"], "granted");
        let r = c
            .app
            .client
            .get(c.app.url(&apath("/download")))
            .bearer_auth(c.app.login("consumer").await)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "uscc,company_name\n");
        assert_eq!(c.call(Some("operator"), "GET", &apath(""), None).await.0, StatusCode::FORBIDDEN);

        // DCAT-AP 3: the whole catalogue and one dataset, as JSON-LD.
        let r = c.app.get_anon("/api/v1/public/dcat").await;
        assert_eq!(r.headers()["content-type"], "application/ld+json");
        let cat: Value = r.json().await.unwrap();
        assert_eq!(cat["@type"], "dcat:Catalog");
        let datasets = cat["dcat:dataset"].as_array().unwrap();
        assert_eq!(datasets.len(), 3, "published entries only");
        let ds = datasets.iter().find(|d| d["dct:identifier"] == open.as_str()).unwrap();
        assert!(ds["dcat:distribution"][0]["dcat:downloadURL"]["@id"].as_str().unwrap().ends_with("/download"));
        assert!(ds["dct:accrualPeriodicity"]["@id"].as_str().unwrap().ends_with("/DAILY"));
        let one: Value = c.app.get_anon(&format!("/api/v1/public/catalogue/{id}/dcat")).await.json().await.unwrap();
        assert_eq!(one["@type"], "dcat:Dataset");
        assert!(one["@context"]["dcat"].is_string());

        // A registration names one of the holder's published entries as its subject, never a draft.
        let steward = c.app.login("steward").await;
        let body = |entry: &str| {
            json!({"type": "first", "subject_kind": "data_resource", "subject_name": "x", "summary": "y",
                   "industry": "S92", "region": "320200", "catalogue_entry_id": entry})
        };
        let post =
            |b: Value| c.app.client.post(c.app.url("/api/v1/registrations")).bearer_auth(&steward).json(&b).send();
        let r = post(body(&draft)).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["details"]["fields"][0]["field"], "catalogue_entry_id");
        assert_eq!(post(body(&id)).await.unwrap().status(), StatusCode::CREATED);

        // Retiring takes it out of public search.
        let (s, _) = c.act("steward", &open, "retire", json!({"reason": "线路调整，数据停止更新"})).await;
        assert_eq!(s, StatusCode::OK);
        assert!(c.public_names("q=公交").await.is_empty());
    }

    mod review_restriction_search_sharing_and_export {
        use super::*;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            super::review_restriction_search_sharing_and_export(Backend::Sqlite).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            super::review_restriction_search_sharing_and_export(Backend::Postgres).await;
        }
    }
}

/// Operators and authorization (SPEC §3) through the API with the test clock.
pub(crate) mod operators {
    use super::*;
    use kit::entry_metadata;

    pub(crate) struct O {
        pub(crate) app: TestApp,
    }

    impl O {
        /// A Wuxi server on SQLite with Chromium to drive its console, or `None` where Chromium
        /// is missing (never in CI).
        pub(crate) async fn with_browser() -> Option<(O, kit::browser::Browser)> {
            let Some(chromium) = kit::browser::chromium_path() else {
                assert!(std::env::var("CI").is_err(), "Chromium is required in CI");
                return None;
            };
            let o = O::spawn(Backend::Sqlite, "wuxi").await?;
            let browser = kit::browser::Browser::launch(&chromium).await;
            Some((o, browser))
        }

        pub(crate) async fn spawn(backend: Backend, profile: &str) -> Option<O> {
            Self::spawn_with(backend, profile, |_| {}).await
        }

        /// As [`O::spawn`], with the configuration changed by `adjust`.
        pub(crate) async fn spawn_with(
            backend: Backend,
            profile: &str,
            adjust: impl FnOnce(&mut shuyu_server::ServerConfig),
        ) -> Option<O> {
            let profile = profile.to_string();
            if backend == Backend::Postgres {
                std::env::var("SHUYU_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty())?;
            }
            let app = TestApp::spawn_with(backend, |c| {
                c.test_clock = true;
                c.profile = profile;
                adjust(c);
            })
            .await;
            let o = O { app };
            o.go_to("2026-10-12").await;
            Some(o)
        }

        /// An export's file, fetched as `who`.
        pub(crate) async fn download(&self, who: &str, export: &str) -> reqwest::Response {
            let token = self.app.login(who).await;
            let url = self.app.url(&format!("/api/v1/exports/{export}/download"));
            self.app.client.get(url).bearer_auth(token).send().await.unwrap()
        }

        pub(crate) async fn call(&self, who: &str, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
            let url = self.app.url(path);
            let token = self.app.login(who).await;
            let req = match method {
                "GET" => self.app.client.get(url).bearer_auth(token),
                _ => self.app.client.post(url).bearer_auth(token).json(&body),
            };
            let r = req.send().await.unwrap();
            let status = r.status();
            (status, r.json().await.unwrap_or(Value::Null))
        }

        pub(crate) async fn go_to(&self, date: &str) {
            let (s, v) = self
                .call("admin", "POST", "/api/v1/admin/test-clock", json!({"set": format!("{date}T01:00:00Z")}))
                .await;
            assert_eq!((s, v["today"].clone()), (StatusCode::OK, json!(date)));
        }

        pub(crate) async fn published_entry(&self, open: &str) -> String {
            self.publish_entry(&entry_metadata(&format!("数据{open}"), "conditional", open)).await
        }

        /// Drafts an entry with `meta` as the steward, submits it and has the authority approve it.
        pub(crate) async fn publish_entry(&self, meta: &Value) -> String {
            let steward = self.app.login("steward").await;
            let id = self.app.create_entry(&steward, meta).await;
            assert_eq!(
                self.call("steward", "POST", &format!("/api/v1/catalogue/{id}/actions/submit"), json!({})).await.0,
                StatusCode::OK
            );
            assert_eq!(
                self.call("authority", "POST", &format!("/api/v1/catalogue/{id}/actions/approve"), json!({})).await.0,
                StatusCode::OK
            );
            id
        }

        pub(crate) async fn approved_programme(&self, scope: &str) -> String {
            let (s, p) = self.call("implementer", "POST", "/api/v1/programmes", programme(scope)).await;
            assert_eq!(s, StatusCode::CREATED, "{p}");
            let id = p["id"].as_str().unwrap().to_string();
            let act = |a: &'static str, who: &'static str, body: Value| {
                let path = format!("/api/v1/programmes/{id}/actions/{a}");
                async move { self.call(who, "POST", &path, body).await }
            };
            assert_eq!(act("submit", "implementer", json!({})).await.0, StatusCode::OK);
            assert_eq!(act("approve", "implementer", json!({})).await.1["state"], "authority_review");
            let (s, e) = act("approve", "authority", json!({})).await;
            assert_eq!((s, e["basis"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("YXO §15")));
            let (_, p) =
                act("approve", "authority", json!({"decision_record": "市政府常务会议纪要〔2026〕18号"})).await;
            assert_eq!(p["state"], "approved");
            id
        }

        /// Runs a one-day announcement for `programme` on `day`, the operator's application, an
        /// expert's score and the results' publicity; the clock ends on `after_publicity`.
        pub(crate) async fn select_operator(&self, programme: &str, day: &str, after_publicity: &str) {
            let (s, a) = self
                .call(
                    "implementer",
                    "POST",
                    "/api/v1/announcements",
                    json!({"programme_id": programme, "title": "征集", "opens_on": day, "closes_on": day}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{a}");
            let ann = a["id"].as_str().unwrap().to_string();
            let (s, v) = apply(self, &ann).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            let application = v["id"].as_str().unwrap().to_string();
            self.call(
                "expert",
                "POST",
                &format!("/api/v1/operator-applications/{application}/scores"),
                json!({"score": 80, "comments": "可行", "no_conflict_of_interest": true}),
            )
            .await;
            let next = (day.parse::<chrono::NaiveDate>().unwrap() + chrono::Days::new(1)).to_string();
            self.go_to(&next).await;
            let (s, r) = self
                .call(
                    "implementer",
                    "POST",
                    &format!("/api/v1/announcements/{ann}/results"),
                    json!({"selected": [application]}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{r}");
            self.go_to(after_publicity).await;
        }

        pub(crate) async fn agreement(&self, programme: &str, years: u32, from: &str) -> (StatusCode, Value) {
            let operator = self.app.user_record("operator").await.org_id.to_string();
            self.call(
                "implementer",
                "POST",
                "/api/v1/agreements",
                json!({"programme_id": programme, "operator_org": operator, "term_years": years, "valid_from": from,
                       "content": agreement_content()}),
            )
            .await
        }
    }

    fn programme(scope: &str) -> Value {
        json!({
            "name": "普惠金融公共数据授权运营实施方案",
            "operator_criteria": "具备金融科技服务能力，符合第七条要求",
            "mode": "domain",
            "data_scope": [scope],
            "term_years": 2,
            "public_products": ["小微企业信用报告（公益）"],
            "industry_products": ["企业授信评分接口"],
            "cost_accounting": "按数据治理与平台运维成本核算",
            "revenue_split": {"owner": 30, "operator": 60, "processor": 10},
            "security_measures": "授权运营域内加工，原始数据不出域",
            "evaluation_rules": "年度第三方评估",
            "exit_arrangements": "到期关闭权限、删除数据、移交成果",
            "feasibility": {"lifecycle_services": "全流程", "social_demand": "小微融资难", "market_size": "全市十万户",
                            "expected_outcomes": "授信效率提升", "benefits": "降低融资成本", "risk_control": "分级分类管控"}
        })
    }

    fn agreement_content() -> Value {
        json!({
            "scope": "普惠金融领域", "catalogue_entries": [], "products": ["企业授信评分接口"],
            "product_review": "上线前经安全审查", "platform": "市授权运营平台", "asset_ownership": "数据资产归属按约定",
            "disclosure": "年度公开运营情况", "revenue_split": {"owner": 30, "operator": 60, "processor": 10},
            "cost_accounting": "成本加合理收益", "security_duties": "落实三级等保", "evaluation": "年度评估",
            "renewal_and_exit": "期满前三个月内申请续期", "liability": "违约责任", "disputes": "仲裁",
            "change_and_termination": "重大变更须重新审批"
        })
    }

    fn declarations() -> Value {
        json!({"security_officer": "王安全", "mlps_level3_experience": true, "major_violations": false})
    }

    async fn apply(o: &O, announcement: &str) -> (StatusCode, Value) {
        let token = o.app.login("operator").await;
        let mut materials = Vec::new();
        for key in
            ["application_form", "audit_report", "financial_report", "security_commitment", "risk_self_assessment"]
        {
            let id = o.app.upload(&token, &format!("{key}.pdf"), b"%PDF application").await;
            materials.push(json!({"key": key, "attachment_id": id}));
        }
        o.call(
            "operator",
            "POST",
            &format!("/api/v1/announcements/{announcement}/applications"),
            json!({"declarations": declarations(), "materials": materials}),
        )
        .await
    }

    async fn from_programme_to_termination(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let open = o.published_entry("conditional").await;
        let closed = o.published_entry("not_allowed").await;
        // Not-open data is refused in a programme's scope (WX §2).
        let (s, e) = o.call("implementer", "POST", "/api/v1/programmes", programme(&closed)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e["basis"], "WX §2");
        let programme_id = o.approved_programme(&open).await;
        // An approved programme never changes; a material change is a new version.
        let (s, v2) = o
            .call(
                "implementer",
                "POST",
                &format!("/api/v1/programmes/{programme_id}/actions/amend"),
                json!({"content": programme(&open)}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!((v2["version"].clone(), v2["state"].clone()), (json!(2), json!("draft")));
        let (_, v1) = o.call("implementer", "GET", &format!("/api/v1/programmes/{programme_id}"), json!({})).await;
        assert_eq!(v1["state"], "approved");

        // An announcement opens applications until its deadline.
        let (s, a) = o
            .call("implementer", "POST", "/api/v1/announcements",
                  json!({"programme_id": programme_id, "title": "普惠金融领域授权运营单位征集", "opens_on": "2026-10-12", "closes_on": "2026-10-30"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let ann = a["id"].as_str().unwrap().to_string();
        let (s, v) = apply(&o, &ann).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let application = v["id"].as_str().unwrap().to_string();
        // Experts score, each once, after declaring no conflict of interest.
        let score = |body: Value| {
            let path = format!("/api/v1/operator-applications/{application}/scores");
            let o = &o;
            async move { o.call("expert", "POST", &path, body).await }
        };
        let (s, e) = score(json!({"score": 88, "comments": "方案完整", "no_conflict_of_interest": false})).await;
        assert_eq!((s, e["code"].clone()), (StatusCode::CONFLICT, json!("conflict_of_interest")));
        assert_eq!(
            score(json!({"score": 88, "comments": "方案完整", "no_conflict_of_interest": true})).await.0,
            StatusCode::CREATED
        );
        assert_eq!(
            score(json!({"score": 90, "comments": "再评", "no_conflict_of_interest": true})).await.0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            o.call(
                "operator",
                "POST",
                &format!("/api/v1/operator-applications/{application}/scores"),
                json!({"score": 100, "comments": "自评", "no_conflict_of_interest": true})
            )
            .await
            .0,
            StatusCode::FORBIDDEN
        );
        // Results cannot be published while applications are open.
        let (s, _) = o
            .call(
                "implementer",
                "POST",
                &format!("/api/v1/announcements/{ann}/results"),
                json!({"selected": [application]}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        // A barred organisation is refused with the rule named (WX §10: 3 years).
        let operator_org = o.app.user_record("operator").await.org_id.to_string();
        let (s, _) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/organisations/{operator_org}/revocations"),
                json!({"revoked_on": "2024-05-01", "reason": "违规对外提供数据"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, e) = apply(&o, &ann).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e["code"], "ineligible");
        assert_eq!(e["details"]["failed"][0]["rule"], "revocation_bar");
        assert_eq!(e["basis"], "WX §10");
        // After the deadline, refused.
        o.go_to("2026-10-31").await;
        let (s, e) = apply(&o, &ann).await;
        assert_eq!((s, e["code"].clone()), (StatusCode::CONFLICT, json!("applications_closed")));
        let (s, r) = o
            .call(
                "implementer",
                "POST",
                &format!("/api/v1/announcements/{ann}/results"),
                json!({"selected": [application]}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["publicity_until"], "2026-11-06", "5 working days of publicity from Saturday 31 October");
        let (_, list) =
            o.call("authority", "GET", &format!("/api/v1/announcements/{ann}/applications"), json!({})).await;
        assert_eq!(list[0]["state"], "selected");
        assert_eq!(list[0]["average"], 88.0);

        // No agreement while the selection is in publicity; an objection is heard and decided.
        let (s, e) = o.agreement(&programme_id, 2, "2026-11-10").await;
        assert_eq!((s, e["code"].clone()), (StatusCode::CONFLICT, json!("selection_not_final")));
        o.go_to("2026-11-02").await;
        let (s, obj) = o
            .call(
                "consumer",
                "POST",
                &format!("/api/v1/announcements/{ann}/objections"),
                json!({"application_id": application, "statement": "该单位数据安全负责人未到岗"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{obj}");
        let oid = obj["id"].as_str().unwrap().to_string();
        o.go_to("2026-11-09").await;
        let (s, e) = o.agreement(&programme_id, 2, "2026-11-10").await;
        assert_eq!(
            (s, e["code"].clone()),
            (StatusCode::CONFLICT, json!("selection_not_final")),
            "an objection is open"
        );
        let (s, d) = o
            .call(
                "implementer",
                "POST",
                &format!("/api/v1/selection-objections/{oid}/decide"),
                json!({"upheld": false, "reason": "经核实负责人已到岗"}),
            )
            .await;
        assert_eq!((s, d["state"].clone()), (StatusCode::OK, json!("rejected")));
        // The agreement: Wuxi caps the term at 2 years.
        let (s, e) = o.agreement(&programme_id, 3, "2026-11-10").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e["basis"], "WX §11");
        let (s, a) = o.agreement(&programme_id, 2, "2026-11-10").await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        assert_eq!(a["deadline"], "2028-11-09");
        let aid = a["id"].as_str().unwrap().to_string();
        let act = |who: &'static str, action: &'static str, body: Value| {
            let path = format!("/api/v1/agreements/{aid}/actions/{action}");
            let o = &o;
            async move { o.call(who, "POST", &path, body).await }
        };
        assert_eq!(act("operator", "file", json!({})).await.0, StatusCode::FORBIDDEN);
        act("implementer", "sign", json!({})).await;
        let (_, a) = act("operator", "sign", json!({})).await;
        assert_eq!(a["state"], "signed");
        let (_, a) = act("authority", "file", json!({})).await;
        assert_eq!(a["state"], "filed");
        // Renewal opens 3 months before expiry and not before.
        o.go_to("2028-07-09").await;
        let (s, e) = act("operator", "renew", json!({"years": 2})).await;
        assert_eq!((s, e["code"].clone()), (StatusCode::CONFLICT, json!("renewal_window_closed")));
        assert_eq!(e["details"]["opens_on"], "2028-08-10");
        o.go_to("2028-09-09").await;
        let (s, a) = act("operator", "renew", json!({"years": 2})).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!(a["deadline"], "2030-11-09");

        // Suspension stops the operator's next call at once; rectification restores it.
        let path = format!("/api/v1/agreements/{aid}");
        let token = o.app.login("operator").await;
        let (s, _) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/organisations/{operator_org}/actions/suspend"),
                json!({"reason": "未按要求报送年度运营报告", "rectify_by": "2028-09-30"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let r = o.app.client.get(o.app.url(&path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let e: Value = r.json().await.unwrap();
        assert_eq!((e["code"].clone(), e["basis"].clone()), (json!("organisation_suspended"), json!("WX §10")));
        let (s, _) = o
            .call(
                "operator",
                "POST",
                &format!("/api/v1/organisations/{operator_org}/actions/submit_rectification"),
                json!({"rectification": "已补报并建立报送机制"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        o.call(
            "authority",
            "POST",
            &format!("/api/v1/organisations/{operator_org}/actions/accept_rectification"),
            json!({}),
        )
        .await;
        let r = o.app.client.get(o.app.url(&path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        // Termination ends every session and agreement; the audit trail stays.
        let (s, t) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/organisations/{operator_org}/actions/terminate"),
                json!({"reason": "发生数据泄露事件"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let r = o.app.client.get(o.app.url(&path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the operator's session ended");
        let (s, e) = o.call("operator", "GET", &path, json!({})).await;
        assert_eq!((s, e["code"].clone()), (StatusCode::FORBIDDEN, json!("organisation_terminated")));
        let (_, a) = o.call("authority", "GET", &path, json!({})).await;
        assert_eq!(a["state"], "terminated");
        let (_, events) =
            o.call("auditor", "GET", &format!("/api/v1/audit/events?organisation={operator_org}"), json!({})).await;
        assert!(events["events"].as_array().unwrap().iter().any(|e| e["action"] == "agreement.sign"));
    }

    async fn yuxi_allows_five_years_and_agreements_expire(backend: Backend) {
        let Some(o) = O::spawn(backend, "yuxi").await else { return };
        let open = o.published_entry("conditional").await;
        let programme_id = o.approved_programme(&open).await;
        o.select_operator(&programme_id, "2026-10-12", "2026-10-21").await;
        let (s, a) = o.agreement(&programme_id, 5, "2026-11-01").await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        assert_eq!(a["deadline"], "2031-10-31");
        let (s, a) = o.agreement(&programme_id, 1, "2026-11-01").await;
        assert_eq!(s, StatusCode::CREATED);
        let aid = a["id"].as_str().unwrap().to_string();
        for (who, action) in [("implementer", "sign"), ("operator", "sign"), ("authority", "file")] {
            let (s, v) = o.call(who, "POST", &format!("/api/v1/agreements/{aid}/actions/{action}"), json!({})).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        o.go_to("2027-11-01").await;
        let (_, a) = o.call("authority", "GET", &format!("/api/v1/agreements/{aid}"), json!({})).await;
        assert_eq!(a["state"], "expired", "an agreement past its last day ends by itself");
    }

    async fn personnel_clearance_lapses_with_the_confidentiality_agreement(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let analyst = o.app.user_record("analyst").await.id.to_string();
        let path = |a: &str| format!("/api/v1/personnel/{analyst}{a}");
        let (s, v) = o.call("operator", "GET", &path(""), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["cleared"], false);
        let items: Vec<_> =
            v["missing"].as_array().unwrap().iter().map(|m| m["item"].as_str().unwrap().to_string()).collect();
        assert_eq!(items, vec!["filing", "review", "training", "confidentiality"]);
        let (_, list) = o.call("operator", "GET", "/api/v1/personnel", json!({})).await;
        assert!(list.as_array().unwrap().iter().any(|p| p["user_id"] == analyst.as_str()));
        let (_, list) = o.call("processor", "GET", "/api/v1/personnel", json!({})).await;
        assert!(list.is_null() || list.as_array().is_none_or(|l| l.is_empty()), "no personnel rights: {list}");
        // Other organisations cannot see or manage them; the operator cannot review its own.
        assert_eq!(o.call("processor", "GET", &path(""), json!({})).await.0, StatusCode::FORBIDDEN);
        assert_eq!(
            o.call("operator", "POST", &path("/actions/review"), json!({"passed": true})).await.0,
            StatusCode::FORBIDDEN
        );
        o.call("operator", "POST", &path("/actions/file"), json!({})).await;
        o.call("auditor", "POST", &path("/actions/review"), json!({"passed": true, "note": "背景审查通过"})).await;
        o.call(
            "operator",
            "POST",
            &path("/actions/record_training"),
            json!({"course": "数据安全与保密培训", "completed_on": "2026-10-10"}),
        )
        .await;
        let token = o.app.login("operator").await;
        let nda = o.app.upload(&token, "nda.pdf", b"%PDF nda").await;
        let (s, e) = o
            .call("operator", "POST", &path("/actions/sign_confidentiality"),
                  json!({"signed_on": "2026-10-12", "valid_until": "2027-01-31", "liability_clause": " ", "attachment_id": nda}))
            .await;
        assert_eq!((s, e["basis"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("YXO §22")));
        let (_, v) = o
            .call("operator", "POST", &path("/actions/sign_confidentiality"),
                  json!({"signed_on": "2026-10-12", "valid_until": "2027-01-31", "liability_clause": "违约泄露数据的，依法承担赔偿责任", "attachment_id": nda}))
            .await;
        assert_eq!(v["cleared"], true, "{v}");
        let user: shuyu_core::ids::UserId = analyst.parse().unwrap();
        assert!(shuyu_server::routes::personnel::check_clearance(o.app.state(), user).await.is_ok());
        // The day after the agreement ends, the clearance is gone by itself.
        o.go_to("2027-02-01").await;
        let (_, v) = o.call("operator", "GET", &path(""), json!({})).await;
        assert_eq!(v["cleared"], false);
        assert_eq!(v["missing"][0]["item"], "confidentiality");
        let e = shuyu_server::routes::personnel::check_clearance(o.app.state(), user).await.unwrap_err();
        assert_eq!(e.body.code, "not_cleared");
        assert_eq!(e.body.basis.as_deref(), Some("YXO §22"));
    }

    async fn oversight_reports_evaluations_processors_and_plans(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let operator = o.app.user_record("operator").await.org_id.to_string();
        let processor = o.app.user_record("processor").await.org_id.to_string();
        let status = |who: &'static str| {
            let path = format!("/api/v1/organisations/{operator}/operating-status");
            let o = &o;
            async move { o.call(who, "GET", &path, json!({})).await.1 }
        };
        let st = status("operator").await;
        assert_eq!(st["can_operate"], false);
        let missing: Vec<_> =
            st["missing"].as_array().unwrap().iter().map(|m| m["item"].as_str().unwrap().to_string()).collect();
        assert_eq!(missing, vec!["agreement", "emergency_plan"]);
        // A filed agreement in force and an approved emergency plan (WX §26) let it operate.
        let entry = o.published_entry("conditional").await;
        let programme = o.approved_programme(&entry).await;
        o.select_operator(&programme, "2026-10-12", "2026-10-21").await;
        let (_, a) = o.agreement(&programme, 2, "2026-10-12").await;
        let aid = a["id"].as_str().unwrap().to_string();
        for (who, action) in [("implementer", "sign"), ("operator", "sign"), ("authority", "file")] {
            o.call(who, "POST", &format!("/api/v1/agreements/{aid}/actions/{action}"), json!({})).await;
        }
        assert_eq!(status("authority").await["missing"][0]["item"], "emergency_plan");
        let token = o.app.login("operator").await;
        let plan = o.app.upload(&token, "plan.pdf", b"%PDF emergency plan").await;
        o.call(
            "operator",
            "POST",
            &format!("/api/v1/organisations/{operator}/emergency-plan"),
            json!({"attachment_id": plan}),
        )
        .await;
        assert_eq!(status("operator").await["can_operate"], false, "submitted is not approved");
        o.call("authority", "POST", &format!("/api/v1/organisations/{operator}/emergency-plan/approve"), json!({}))
            .await;
        assert_eq!(status("operator").await["can_operate"], true);

        // The annual report (WX §18) with the platform's own figures.
        let (_, draft) = o
            .call(
                "operator",
                "GET",
                &format!("/api/v1/organisations/{operator}/operation-reports/draft?year=2026"),
                json!({}),
            )
            .await;
        assert!(draft["platform_figures"]["audit_events"].as_i64().unwrap() > 0, "{draft}");
        let path = format!("/api/v1/organisations/{operator}/operation-reports");
        let (s, e) = o.call("operator", "POST", &path, json!({"year": 2026, "content": {"storage": "x"}})).await;
        assert_eq!((s, e["basis"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("WX §18")));
        let full = json!({"year": 2026, "content": {"storage": "政务云", "processing": "域内加工", "use": "授信评分",
                          "security": "无安全事件", "market_operation": "服务客户120家"}});
        assert_eq!(o.call("operator", "POST", &path, full.clone()).await.0, StatusCode::CREATED);
        assert_eq!(o.call("operator", "POST", &path, full).await.0, StatusCode::CONFLICT, "one report per year");

        // A processor bound for the selection period; two failed years disqualify it (CS §19).
        let (s, p) = o
            .call(
                "implementer",
                "POST",
                &format!("/api/v1/agreements/{aid}/processors"),
                json!({"processor_org": processor}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        assert_eq!(p["valid_until"], "2029-10-20", "3 years from the selection on 21 October");
        let evaluate = |org: &str, year: i32, grade: &str| {
            let path = format!("/api/v1/organisations/{org}/evaluations");
            let body = json!({"year": year, "grade": grade, "evaluator": "第三方评估中心", "report": "评估报告"});
            let o = &o;
            async move { o.call("authority", "POST", &path, body).await }
        };
        assert_eq!(
            evaluate(&processor, 2026, "poor").await.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "processors pass or fail"
        );
        assert_eq!(evaluate(&processor, 2026, "fail").await.1["consequence"], Value::Null);
        let (_, r) = evaluate(&processor, 2027, "fail").await;
        assert_eq!(
            (r["consequence"]["disqualified"].clone(), r["consequence"]["basis"].clone()),
            (json!(true), json!("CS §19"))
        );
        let (_, list) = o.call("authority", "GET", &format!("/api/v1/agreements/{aid}/processors"), json!({})).await;
        assert_eq!(list[0]["status"], "disqualified");
        // Two consecutive poor grades terminate the operator (JS §17).
        assert_eq!(evaluate(&operator, 2026, "poor").await.1["consequence"], Value::Null);
        let (_, r) = evaluate(&operator, 2027, "poor").await;
        assert_eq!(
            (r["consequence"]["terminated"].clone(), r["consequence"]["basis"].clone()),
            (json!(true), json!("JS §17"))
        );
        assert_eq!(status("authority").await["can_operate"], false);
        let (s, e) = o.call("operator", "GET", &format!("/api/v1/agreements/{aid}"), json!({})).await;
        assert_eq!((s, e["code"].clone()), (StatusCode::FORBIDDEN, json!("organisation_terminated")));
    }

    on_both!(oversight_reports_evaluations_processors_and_plans);
    on_both!(from_programme_to_termination);
    on_both!(personnel_clearance_lapses_with_the_confidentiality_agreement);
    on_both!(yuxi_allows_five_years_and_agreements_expire);
}

mod sandbox {
    use super::operators::O;
    use super::*;

    pub(crate) async fn ingest(o: &O, entry: &str, body: &str, format: &str) -> (StatusCode, Value) {
        let token = o.app.login("steward").await;
        let r = o
            .app
            .client
            .post(o.app.url(&format!("/api/v1/catalogue/{entry}/datasets?format={format}")))
            .bearer_auth(token)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn clear(o: &O, who: &str) -> String {
        let id = o.app.user_record(who).await.id.to_string();
        let path = |a: &str| format!("/api/v1/personnel/{id}/actions/{a}");
        o.call("operator", "POST", &path("file"), json!({})).await;
        o.call("auditor", "POST", &path("review"), json!({"passed": true, "note": "背景审查通过"})).await;
        o.call(
            "operator",
            "POST",
            &path("record_training"),
            json!({"course": "数据安全培训", "completed_on": "2026-10-10"}),
        )
        .await;
        let token = o.app.login("operator").await;
        let nda = o.app.upload(&token, "nda.pdf", b"%PDF nda").await;
        let (_, v) = o
            .call("operator", "POST", &path("sign_confidentiality"),
                  json!({"signed_on": "2026-10-12", "valid_until": "2028-01-31", "liability_clause": "违约泄露数据的，依法承担赔偿责任", "attachment_id": nda}))
            .await;
        assert_eq!(v["cleared"], true, "{v}");
        id
    }

    pub(crate) async fn filed_agreement(o: &O, entry: &str) -> String {
        let programme = o.approved_programme(entry).await;
        o.select_operator(&programme, "2026-10-12", "2026-10-21").await;
        let (s, a) = o.agreement(&programme, 2, "2026-10-21").await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let aid = a["id"].as_str().unwrap().to_string();
        for (who, action) in [("implementer", "sign"), ("operator", "sign"), ("authority", "file")] {
            let (s, v) = o.call(who, "POST", &format!("/api/v1/agreements/{aid}/actions/{action}"), json!({})).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        aid
    }

    pub(crate) fn request(aid: &str, entry: &str, id_mode: &str) -> Value {
        json!({
            "agreement_id": aid, "scenario": "普惠金融授信", "purpose": "评估小微企业法人关联风险",
            "valid_from": "2026-10-21", "valid_until": "2027-06-30",
            "tables": [{"entry_id": entry, "table": "enterprises", "row_filter": "uscc <> '91320200000000003X'", "columns": [
                {"name": "uscc", "mode": "plain", "necessity": "关联企业"},
                {"name": "company_name", "mode": "masked", "necessity": "展示企业"},
                {"name": "legal_rep_id", "mode": id_mode, "necessity": "关联法定代表人"}
            ]}]
        })
    }

    pub(crate) fn approve_all(reason: &str) -> Value {
        let d = |c: &str| json!({"table": "enterprises", "column": c, "approved": true, "reason": reason});
        json!({"decisions": [d("uscc"), d("company_name"), d("legal_rep_id")]})
    }

    pub(crate) async fn query(o: &O, who: &str, ws: &str, sql: &str) -> (StatusCode, Value) {
        o.call(who, "POST", &format!("/api/v1/workspaces/{ws}/queries"), json!({ "sql": sql })).await
    }

    async fn from_ingestion_to_sealed_workspace(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let entry = o.published_entry("conditional").await;

        // Ingestion: drift names the columns; a good file leaves evidence.
        let (s, e) = ingest(&o, &entry, "uscc,name\n1,2\n", "csv").await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("schema_drift")), "{e}");
        let reason = e["details"]["reason"].as_str().unwrap();
        assert!(reason.contains("company_name, legal_rep_id") && reason.contains("name"), "{reason}");
        let csv = "uscc,company_name,legal_rep_id\n\
                   913202000000000011,无锡甲科技有限公司,110101199003071234\n\
                   913202000000000022,无锡乙贸易有限公司,110101198512122345\n\
                   91320200000000003X,无锡丙制造有限公司,320102197705053456\n";
        let (s, d) = ingest(&o, &entry, csv, "csv").await;
        assert_eq!(s, StatusCode::CREATED, "{d}");
        assert_eq!((d["version"].as_i64(), d["evidence"]["rows"].as_u64()), (Some(1), Some(3)));
        assert_eq!(d["evidence"]["original_sha256"].as_str().unwrap().len(), 64);
        assert_eq!(ingest(&o, &entry, csv, "csv").await.1["version"], 2, "a new load is a new version");
        assert_eq!(
            o.call("operator", "GET", &format!("/api/v1/catalogue/{entry}/datasets"), json!({})).await.0,
            StatusCode::FORBIDDEN
        );

        // The request: sensitive data is never plain (JS §13); reviewers decide every column.
        let aid = filed_agreement(&o, &entry).await;
        let analyst = clear(&o, "analyst").await;
        let (s, e) = o.call("operator", "POST", "/api/v1/grants", request(&aid, &entry, "plain")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.to_string().contains("JS §13"), "{e}");
        let (s, g) = o.call("operator", "POST", "/api/v1/grants", request(&aid, &entry, "invisible")).await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        let gid = g["id"].as_str().unwrap().to_string();
        assert_eq!(g["awaiting"], json!(["authority", "industry_department", "source_department"]));
        assert_eq!(g["review_due_on"], "2026-11-04", "10 working days (wuxi profile)");
        let o = &o;
        let review = |who: &'static str| {
            let path = format!("/api/v1/grants/{gid}/reviews");
            async move { o.call(who, "POST", &path, approve_all("符合最小必要")).await }
        };
        assert_eq!(
            o.call("operator", "POST", &format!("/api/v1/grants/{gid}/reviews"), approve_all("x")).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(review("authority").await.0, StatusCode::OK);
        assert_eq!(review("authority").await.0, StatusCode::CONFLICT, "one review per reviewer");
        assert_eq!(review("industry").await.0, StatusCode::OK);
        let (s, g) = review("steward").await;
        assert_eq!((s, g["state"].as_str()), (StatusCode::OK, Some("approved")), "{g}");

        // The workspace: members must be cleared personnel (YXO §22).
        let operator_admin = o.app.user_record("operator").await.id.to_string();
        let (s, e) = o
            .call(
                "operator",
                "POST",
                "/api/v1/workspaces",
                json!({"agreement_id": aid, "name": "授信模型", "members": [operator_admin]}),
            )
            .await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("not_cleared")), "{e}");
        let (s, w) = o
            .call(
                "operator",
                "POST",
                "/api/v1/workspaces",
                json!({"agreement_id": aid, "name": "授信模型", "members": [analyst]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{w}");
        assert!(w.get("masking_key").is_none() && !w.to_string().contains(&"0".repeat(64)));
        let ws = w["id"].as_str().unwrap().to_string();
        let (s, w) =
            o.call("operator", "POST", &format!("/api/v1/workspaces/{ws}/grants"), json!({"grant_id": gid})).await;
        assert_eq!((s, w["grants"][0]["state"].as_str()), (StatusCode::OK, Some("provisioned")), "{w}");

        // Governed SQL: masked names, the row filter, invisible keys counted but never shown.
        let (s, r) = query(o, "analyst", &ws, "SELECT uscc, company_name FROM enterprises ORDER BY uscc").await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["rows"], json!([["913202000000000011", "无*******司"], ["913202000000000022", "无*******司"]]));
        let (_, r) = query(o, "analyst", &ws, "SELECT count(DISTINCT legal_rep_id) AS n FROM enterprises").await;
        assert_eq!(r["rows"], json!([[2]]));
        for sql in [
            "SELECT legal_rep_id FROM enterprises",
            "SELECT count(*) FROM enterprises WHERE legal_rep_id > '2'",
            "SELECT max(legal_rep_id) FROM enterprises",
        ] {
            let (s, e) = query(o, "analyst", &ws, sql).await;
            assert_eq!(
                (s, e["code"].as_str(), e["basis"].as_str()),
                (StatusCode::FORBIDDEN, Some("query_refused"), Some("JS §13")),
                "{sql}: {e}"
            );
            assert!(e["details"]["column"].as_str().unwrap().contains("legal_rep_id"));
        }
        let (s, e) = query(o, "analyst", &ws, "SELECT * FROM other_workspace_table").await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::NOT_FOUND, Some("query_not_found")));
        let (s, c) =
            query(o, "analyst", &ws, "CREATE TABLE linked AS SELECT legal_rep_id, uscc FROM enterprises").await;
        assert_eq!((s, c["created"].as_str(), c["level"].as_u64()), (StatusCode::OK, Some("linked"), Some(4)), "{c}");
        let (_, w) = o.call("operator", "GET", &format!("/api/v1/workspaces/{ws}"), json!({})).await;
        assert_eq!(w["scratch_tables"][0]["columns"][0]["invisible"], true, "{w}");
        assert!(w["metering"]["queries"].as_i64().unwrap() >= 7);
        assert!(w["metering"]["refused"].as_i64().unwrap() >= 3);
        // The operator's own data (WX §16.3): readable only after review, then joinable on the
        // invisible key.
        let upload = |table: &str, body: &str| {
            let url = o.app.url(&format!(
                "/api/v1/workspaces/{ws}/uploads?table={table}&format=csv&source=本机构信贷系统，经借款人授权"
            ));
            let body = body.to_string();
            async move {
                let token = o.app.login("analyst").await;
                let r = o.app.client.post(url).bearer_auth(token).body(body).send().await.unwrap();
                (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        assert_eq!(upload("loans", "Person ID,amount\n1,2\n").await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let (s, u) = upload("loans", "person_id,amount\n110101199003071234,500000\n999999199001011234,1\n").await;
        assert_eq!((s, u["state"].as_str()), (StatusCode::CREATED, Some("pending")), "{u}");
        let join = "SELECT count(*) AS n FROM enterprises e JOIN loans l ON e.legal_rep_id = l.person_id";
        assert_eq!(query(o, "analyst", &ws, join).await.0, StatusCode::NOT_FOUND, "not before review");
        let review = format!("/api/v1/uploads/{}/review", u["id"].as_str().unwrap());
        assert_eq!(
            o.call("operator", "POST", &review, json!({"approved": true, "reason": "x"})).await.0,
            StatusCode::FORBIDDEN
        );
        let (s, u) = o.call("authority", "POST", &review, json!({"approved": true, "reason": "来源合法"})).await;
        assert_eq!((s, u["state"].as_str()), (StatusCode::OK, Some("approved")), "{u}");
        let (s, r) = query(o, "analyst", &ws, join).await;
        assert_eq!((s, r["rows"].clone()), (StatusCode::OK, json!([[1]])), "{r}");
        // A runaway query is cancelled by its author and recorded as cancelled.
        // Thirty-two copies of a two-row table: four billion rows to count.
        let runaway = format!(
            "SELECT count(*) FROM {}",
            (0..32).map(|i| format!("enterprises t{i}")).collect::<Vec<_>>().join(", ")
        );
        let qid = "0190a5c4-1f1e-7c3a-9f00-00000000c0de";
        let running = {
            let ws = ws.clone();
            let token = o.app.login("analyst").await;
            let url = o.app.url(&format!("/api/v1/workspaces/{ws}/queries"));
            let client = o.app.client.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"sql": runaway.clone(), "query_id": qid}))
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
            })
        };
        let cancel = format!("/api/v1/workspaces/{ws}/queries/{qid}/cancel");
        let mut cancelled = false;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if o.call("analyst", "POST", &cancel, json!({})).await.0 == StatusCode::OK {
                cancelled = true;
                break;
            }
        }
        assert!(cancelled, "the running query could be cancelled");
        let (s, e) = running.await.unwrap();
        assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("query_cancelled")), "{e}");
        // Only members query; no one outside the operator does.
        assert_eq!(query(o, "operator", &ws, "SELECT 1").await.1["code"], "not_a_member");
        assert_eq!(query(o, "processor", &ws, "SELECT 1").await.0, StatusCode::FORBIDDEN);

        // Every query, refused ones included, is in the audit log with what it touched.
        let (_, events) = o.call("auditor", "GET", "/api/v1/audit/events?action=workspace.query", json!({})).await;
        let events = events["events"].as_array().unwrap();
        assert!(
            events.iter().any(|e| e["outcome"] == "denied" && e["details"]["code"] == "not_a_member"),
            "a refused non-member is audited too"
        );
        assert!(
            events.iter().any(|e| e["outcome"] == "denied"
                && e["details"]["sql"].as_str().is_some_and(|s| s.contains("max(legal_rep_id)"))),
            "{events:?}"
        );
        assert!(events
            .iter()
            .any(|e| e["outcome"] == "success" && e["details"]["touched"].to_string().contains("enterprises.uscc")));

        // Sealing stops queries; only the authority unseals (WX §19). A risk report seals (WX §15).
        let seal = format!("/api/v1/workspaces/{ws}/seal");
        let unseal = format!("/api/v1/workspaces/{ws}/unseal");
        assert_eq!(o.call("operator", "POST", &seal, json!({"reason": "x"})).await.0, StatusCode::FORBIDDEN);
        assert_eq!(o.call("authority", "POST", &seal, json!({"reason": "检查"})).await.1["state"], "sealed");
        let (s, e) = query(o, "analyst", &ws, "SELECT uscc FROM enterprises").await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::FORBIDDEN, Some("WX §19")), "{e}");
        assert_eq!(o.call("operator", "POST", &unseal, json!({"reason": "x"})).await.0, StatusCode::FORBIDDEN);
        assert_eq!(o.call("authority", "POST", &unseal, json!({"reason": "检查完毕"})).await.1["state"], "active");
        assert_eq!(query(o, "analyst", &ws, "SELECT uscc FROM enterprises").await.0, StatusCode::OK);
        let (s, w) = o
            .call(
                "analyst",
                "POST",
                &format!("/api/v1/workspaces/{ws}/risk-reports"),
                json!({"description": "发现异常批量查询"}),
            )
            .await;
        assert_eq!((s, w["state"].as_str()), (StatusCode::OK, Some("sealed")));
        o.call("authority", "POST", &unseal, json!({"reason": "风险已处置"})).await;

        // Revocation ends access at once: the table no longer exists for the workspace.
        let (s, g) =
            o.call("authority", "POST", &format!("/api/v1/grants/{gid}/revoke"), json!({"reason": "超范围使用"})).await;
        assert_eq!((s, g["state"].as_str()), (StatusCode::OK, Some("revoked")));
        assert_eq!(query(o, "analyst", &ws, "SELECT uscc FROM enterprises").await.0, StatusCode::NOT_FOUND);

        // Destruction when the purpose is fulfilled (WX §19): no file of the workspace is left,
        // and the signed certificate lists what went, by hash.
        let dir = o.app.state().config.data_dir.join("workspaces").join(&ws);
        assert!(dir.join("scratch/linked/data.parquet").exists());
        let destroy = format!("/api/v1/workspaces/{ws}/destroy");
        assert_eq!(o.call("analyst", "POST", &destroy, json!({"reason": "x"})).await.0, StatusCode::FORBIDDEN);
        let (s, c) = o.call("operator", "POST", &destroy, json!({"reason": "项目目的已实现"})).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert!(!dir.exists(), "no file of the workspace is left");
        let objects = c["certificate"]["objects"].as_array().unwrap();
        assert!(objects
            .iter()
            .any(|o| o["path"] == "scratch/linked/data.parquet" && o["sha256"].as_str().unwrap().len() == 64));
        assert!(!c["certificate"]["audit_events"].as_array().unwrap().is_empty());
        let cid = c["certificate"]["id"].as_str().unwrap();
        let v: Value =
            o.app.get_anon(&format!("/api/v1/public/destruction-certificates/{cid}")).await.json().await.unwrap();
        assert_eq!(v["valid"], true, "{v}");
        let (s, e) = query(o, "analyst", &ws, "SELECT 1").await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::CONFLICT, Some("WX §19")));
        assert_eq!(o.call("operator", "POST", &destroy, json!({"reason": "again"})).await.0, StatusCode::CONFLICT);
    }

    /// The scheduler: a grant past its last day expires and what was computed from it is
    /// destroyed; a suspended operator's workspace is sealed.
    async fn expiry_and_suspension(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let o = &o;
        let entry = o.published_entry("conditional").await;
        let csv = "uscc,company_name,legal_rep_id\n913202000000000011,无锡甲科技有限公司,110101199003071234\n";
        assert_eq!(ingest(o, &entry, csv, "csv").await.0, StatusCode::CREATED);
        let aid = filed_agreement(o, &entry).await;
        let analyst = clear(o, "analyst").await;
        let mut req = request(&aid, &entry, "invisible");
        req["valid_until"] = json!("2026-11-30");
        let (_, g) = o.call("operator", "POST", "/api/v1/grants", req).await;
        let gid = g["id"].as_str().unwrap().to_string();
        for who in ["authority", "industry", "steward"] {
            o.call(who, "POST", &format!("/api/v1/grants/{gid}/reviews"), approve_all("同意")).await;
        }
        let ws = open_workspace(o, &aid, &analyst, &gid, "短期项目").await;
        let names = "CREATE TABLE names AS SELECT company_name FROM enterprises";
        assert_eq!(query(o, "analyst", &ws, names).await.0, StatusCode::OK);
        assert_eq!(query(o, "analyst", &ws, "CREATE TABLE constants AS SELECT 1 AS one").await.0, StatusCode::OK);
        // A second request that nobody reviews: flagged overdue when the deadline passes.
        let (_, pending) = o.call("operator", "POST", "/api/v1/grants", request(&aid, &entry, "masked")).await;
        let pending = pending["id"].as_str().unwrap().to_string();
        o.go_to("2026-12-01").await;
        let (_, g) = o.call("operator", "GET", &format!("/api/v1/grants/{gid}"), json!({})).await;
        assert_eq!(g["state"], "expired");
        let (_, events) = o.call("auditor", "GET", "/api/v1/audit/events?action=grant.review_overdue", json!({})).await;
        let flagged: Vec<_> =
            events["events"].as_array().unwrap().iter().map(|e| e["resource"].as_str().unwrap().to_string()).collect();
        assert_eq!(flagged, vec![format!("grant:{pending}")]);
        let (_, p) = o.call("operator", "GET", &format!("/api/v1/grants/{pending}"), json!({})).await;
        assert_eq!(p["state"], "pending", "silence is neither approval nor refusal");
        let (_, w) = o.call("operator", "GET", &format!("/api/v1/workspaces/{ws}"), json!({})).await;
        let names: Vec<_> =
            w["scratch_tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["constants"], "only what derived from the expired grant is destroyed");
        assert_eq!(w["destruction_certificates"].as_array().unwrap().len(), 1);
        let operator = o.app.user_record("operator").await.org_id.to_string();
        let (s, v) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/organisations/{operator}/actions/suspend"),
                json!({"reason": "未按要求报送年度报告", "rectify_by": "2027-01-31"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        o.go_to("2026-12-02").await;
        let (_, w) = o.call("authority", "GET", &format!("/api/v1/workspaces/{ws}"), json!({})).await;
        assert_eq!(w["state"], "sealed");
        // Termination destroys the workspace and cuts its key (issue 4, WX §19).
        let dir = o.app.state().config.data_dir.join("workspaces").join(&ws);
        assert!(dir.join("scratch/constants/data.parquet").exists());
        let (s, v) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/organisations/{operator}/actions/terminate"),
                json!({"reason": "整改期满仍未达标"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // At once, not at the next scheduler run; the audit trail stays.
        let (_, w) = o.call("authority", "GET", &format!("/api/v1/workspaces/{ws}"), json!({})).await;
        assert_eq!(w["state"], "destroyed");
        let (_, events) =
            o.call("auditor", "GET", &format!("/api/v1/audit/events?resource=workspace:{ws}"), json!({})).await;
        let actions: Vec<_> =
            events["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
        assert!(
            actions.contains(&"workspace.created".to_string()) && actions.contains(&"workspace.destroyed".to_string()),
            "{actions:?}"
        );
        assert_eq!(w["destruction_certificates"].as_array().unwrap().len(), 2);
        assert!(!dir.exists());
    }

    pub(crate) async fn workspace_with_grant(o: &O, entry: &str, valid_until: &str) -> (String, String) {
        let aid = filed_agreement(o, entry).await;
        let analyst = clear(o, "analyst").await;
        let mut req = request(&aid, entry, "invisible");
        req["valid_until"] = json!(valid_until);
        let (s, g) = o.call("operator", "POST", "/api/v1/grants", req).await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        let gid = g["id"].as_str().unwrap().to_string();
        for who in ["authority", "industry", "steward"] {
            o.call(who, "POST", &format!("/api/v1/grants/{gid}/reviews"), approve_all("同意")).await;
        }
        let ws = open_workspace(o, &aid, &analyst, &gid, "项目").await;
        (gid, ws)
    }

    /// Opens a workspace for `analyst` under the agreement and attaches the grant; returns its id.
    pub(crate) async fn open_workspace(o: &O, aid: &str, analyst: &str, gid: &str, name: &str) -> String {
        let (s, w) = o
            .call(
                "operator",
                "POST",
                "/api/v1/workspaces",
                json!({"agreement_id": aid, "name": name, "members": [analyst]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{w}");
        let ws = w["id"].as_str().unwrap().to_string();
        let (s, w) =
            o.call("operator", "POST", &format!("/api/v1/workspaces/{ws}/grants"), json!({"grant_id": gid})).await;
        assert_eq!(s, StatusCode::OK, "{w}");
        ws
    }

    async fn checked_reviewed_watermarked_and_traced(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let o = &o;
        let entry = o.published_entry("conditional").await;
        let mut csv = String::from("uscc,company_name,legal_rep_id\n");
        for i in 0..600u64 {
            csv.push_str(&format!("9132020{:011},无锡第{i}号有限公司,110101199003071234\n", i * 7919 + 104729));
        }
        assert_eq!(ingest(o, &entry, &csv, "csv").await.0, StatusCode::CREATED);
        let (gid, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let _ = gid;
        let sql = "CREATE TABLE scores AS SELECT uscc, CAST(substr(uscc, 8, 11) AS BIGINT) * 3 + 1000 AS score FROM enterprises";
        assert_eq!(query(o, "analyst", &ws, sql).await.0, StatusCode::OK);
        let sql = "CREATE TABLE keys AS SELECT legal_rep_id, uscc FROM enterprises";
        assert_eq!(query(o, "analyst", &ws, sql).await.0, StatusCode::OK);
        let export = |table: &str| {
            let path = format!("/api/v1/workspaces/{ws}/exports");
            let body = json!({"table": table, "purpose": "向银行提供授信评分"});
            async move { o.call("analyst", "POST", &path, body).await }
        };
        // The automatic checks: an invisible column never leaves (JS §13).
        let (s, e) = export("keys").await;
        assert_eq!((s, e["state"].as_str()), (StatusCode::CREATED, Some("checks_failed")), "{e}");
        assert!(e["checks"][0]["detail"].as_str().unwrap().contains("enterprises.legal_rep_id"));
        let eid = e["id"].as_str().unwrap().to_string();
        let review = |id: String, approved: bool| {
            let path = format!("/api/v1/exports/{id}/review");
            async move {
                o.call("authority", "POST", &path, json!({"approved": approved, "reason": "符合授权用途"})).await
            }
        };
        assert_eq!(review(eid.clone(), true).await.0, StatusCode::CONFLICT, "a failed check is not reviewed");
        let (s, e) = export("scores").await;
        assert_eq!((s, e["state"].as_str()), (StatusCode::CREATED, Some("pending_review")), "{e}");
        let eid = e["id"].as_str().unwrap().to_string();
        assert_eq!(
            o.call("analyst", "GET", &format!("/api/v1/exports/{eid}/download"), json!({})).await.0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            o.call(
                "operator",
                "POST",
                &format!("/api/v1/exports/{eid}/review"),
                json!({"approved": true, "reason": "x"})
            )
            .await
            .0,
            StatusCode::FORBIDDEN
        );
        let (s, e) = review(eid.clone(), true).await;
        assert_eq!((s, e["state"].as_str()), (StatusCode::OK, Some("approved")), "{e}");
        assert!(e.get("watermark_key").is_none());
        let r = o.download("analyst", &eid).await;
        assert_eq!(r.status(), StatusCode::OK);
        let file = r.text().await.unwrap();
        assert_eq!(file.lines().count(), 601);

        // A leaked copy: every fifth row, shuffled, only the score column left.
        let mut leaked: Vec<String> =
            file.lines().skip(1).step_by(5).map(|l| l.split(',').nth(1).unwrap().to_string()).collect();
        leaked.reverse();
        let leaked = format!("评分\n{}\n", leaked.join("\n"));
        let trace = |body: String, who: &'static str| {
            let url = o.app.url("/api/v1/exports/trace");
            async move {
                let token = o.app.login(who).await;
                let r = o.app.client.post(url).bearer_auth(token).body(body).send().await.unwrap();
                (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        assert_eq!(trace(leaked.clone(), "analyst").await.0, StatusCode::FORBIDDEN);
        let (s, t) = trace(leaked, "auditor").await;
        assert_eq!((s, t["attributed"].as_bool()), (StatusCode::OK, Some(true)), "{t}");
        assert_eq!(t["export"]["id"], eid.as_str());
        assert_eq!(t["export"]["workspace_id"], ws.as_str());
        // A file from no export is attributed to none.
        let independent: String = (0..200).map(|i| format!("{}\n", 5_000_000 + i * 7_777)).collect();
        let (_, t) = trace(format!("评分\n{independent}"), "auditor").await;
        assert_eq!(t["attributed"], false, "{t}");
        let (_, w) = o.call("operator", "GET", &format!("/api/v1/workspaces/{ws}"), json!({})).await;
        assert_eq!(w["metering"]["rows_exported"], 600);
    }

    /// In the console: an analyst runs a governed query in the SQL editor, saves a result as a
    /// scratch table, and requests its export; the export is then under review.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sql_editor_runs_a_query_and_requests_an_export() {
        let Some((o, browser)) = O::with_browser().await else { return };
        let o = &o;
        let entry = o.published_entry("conditional").await;
        let csv = "uscc,company_name,legal_rep_id\n913202000000000011,无锡甲科技有限公司,110101199003071234\n";
        assert_eq!(ingest(o, &entry, csv, "csv").await.0, StatusCode::CREATED);
        let (_, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let mut page = browser.page().await;
        page.goto(&o.app.url("/console/login")).await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('login-form')").await;
        page.eval(
            "(() => { const f = document.getElementById('login-form'); f.username.value = 'analyst'; \
             f.password.value = 'analyst-demo-2026'; f.requestSubmit(); return true; })()",
        )
        .await;
        page.wait_for("document.readyState === 'complete' && location.pathname === '/console'").await;
        let menu = page.eval("document.getElementById('menu').innerText").await;
        assert!(menu.as_str().unwrap_or_default().contains("授权运营域工作空间"), "{menu}");
        page.goto(&o.app.url(&format!("/console/workspaces/{ws}"))).await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('sql-editor')").await;
        let run = |sql: &str| {
            format!(
                "(() => {{ const f = document.getElementById('sql-editor'); f.querySelector('textarea').value = {sql:?}; \
                 document.getElementById('results').textContent = ''; f.requestSubmit(); return true; }})()"
            )
        };
        page.eval(&run("SELECT uscc, company_name FROM enterprises ORDER BY uscc")).await;
        page.wait_for("!!document.getElementById('result-table')").await;
        let text = page.eval("document.getElementById('result-table').innerText").await;
        assert!(text.as_str().unwrap_or_default().contains("无*******司"), "{text}");
        page.eval(&run("SELECT legal_rep_id FROM enterprises")).await;
        page.wait_for("document.getElementById('results').innerText.length > 0").await;
        let refused = page.eval("document.getElementById('results').innerText").await;
        assert!(refused.as_str().unwrap_or_default().contains("legal_rep_id"), "{refused}");
        page.eval(&run("CREATE TABLE summary AS SELECT count(*) AS n FROM enterprises")).await;
        page.wait_for("document.getElementById('results').innerText.includes('summary')").await;
        page.eval(
            "(() => { const f = document.getElementById('export-form'); f.table.value = 'summary'; \
             f.purpose.value = '统计企业数量'; f.requestSubmit(); return true; })()",
        )
        .await;
        page.wait_for(
            "document.readyState === 'complete' && !!document.getElementById('export-form') \
             && document.getElementById('export-form').purpose.value === ''",
        )
        .await;
        page.goto(&o.app.url("/console/exports")).await;
        page.wait_for("document.readyState === 'complete' && !!document.querySelector('main table')").await;
        let exports = page.eval("document.querySelector('main table').innerText").await;
        let exports = exports.as_str().unwrap_or_default().to_string();
        assert!(exports.contains("summary") && exports.contains("待审核"), "{exports}");
    }

    /// Derived data is graded again (GB/T 43697 annex I): a scratch table carries the highest level
    /// it was computed from until a reviewer re-grades it; tables computed from it inherit the new
    /// level; replacing the table drops the grading.
    async fn derived_tables_are_graded_again(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let o = &o;
        let entry = o.published_entry("conditional").await;
        let csv = "uscc,company_name,legal_rep_id\n\
                   913202000000000011,无锡甲科技有限公司,110101199003071234\n\
                   913202000000000022,无锡乙贸易有限公司,110101198512122345\n";
        assert_eq!(ingest(o, &entry, csv, "csv").await.0, StatusCode::CREATED);
        let (_, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let per_company = "CREATE OR REPLACE TABLE per_company AS \
                           SELECT company_name, count(legal_rep_id) AS people FROM enterprises GROUP BY company_name";
        let (s, v) = query(o, "analyst", &ws, per_company).await;
        assert_eq!((s, v["level"].as_u64()), (StatusCode::OK, Some(4)), "就高从严: the invisible ID is level 4: {v}");
        let grade = format!("/api/v1/workspaces/{ws}/tables/per_company/grade");
        let body = json!({"level": 2, "reason": "按企业汇总的人数，不含个人信息"});
        let (s, _) = o.call("operator", "POST", &grade, body.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "the operator does not grade its own results");
        let (s, e) = o.call("authority", "POST", &grade, json!({"level": 9, "reason": "x"})).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")), "{e}");
        let (s, _) = o.call("authority", "POST", &grade, json!({"level": 2, "reason": " "})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let missing = format!("/api/v1/workspaces/{ws}/tables/nothing_here/grade");
        assert_eq!(o.call("authority", "POST", &missing, body.clone()).await.0, StatusCode::NOT_FOUND);
        let (s, g) = o.call("authority", "POST", &grade, body.clone()).await;
        assert_eq!((s, g["from_level"].as_u64(), g["to_level"].as_u64()), (StatusCode::OK, Some(4), Some(2)), "{g}");

        let table = |w: &Value, name: &str| {
            w["scratch_tables"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap()
        };
        let (_, w) = o.call("analyst", "GET", &format!("/api/v1/workspaces/{ws}"), json!({})).await;
        let t = table(&w, "per_company");
        assert_eq!((t["level"].as_u64(), t["computed_level"].as_u64()), (Some(2), Some(4)), "{t}");
        assert_eq!(t["grading"]["reason"], "按企业汇总的人数，不含个人信息");
        // What is computed from a graded table inherits its grade.
        let (s, v) = query(o, "analyst", &ws, "CREATE TABLE top AS SELECT * FROM per_company WHERE people > 0").await;
        assert_eq!((s, v["level"].as_u64()), (StatusCode::OK, Some(2)), "{v}");
        // A replacement is new data: the grading does not carry over.
        assert_eq!(query(o, "analyst", &ws, per_company).await.0, StatusCode::OK);
        let (_, w) = o.call("analyst", "GET", &format!("/api/v1/workspaces/{ws}"), json!({})).await;
        let t = table(&w, "per_company");
        assert_eq!((t["level"].as_u64(), t["grading"].is_null()), (Some(4), true), "{t}");
        let (_, events) = o
            .call(
                "auditor",
                "GET",
                &format!("/api/v1/audit/events?action=workspace.table_graded&resource=workspace:{ws}"),
                json!({}),
            )
            .await;
        let events = events["events"].as_array().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["details"]["to"], 2);
        // A table written before tables had versions could never match a grading: refused, not
        // silently recorded.
        let meta = o.app.state().config.data_dir.join(format!("workspaces/{ws}/scratch/top/meta.json"));
        let mut m: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        m.as_object_mut().unwrap().remove("version");
        std::fs::write(&meta, serde_json::to_vec(&m).unwrap()).unwrap();
        let top = format!("/api/v1/workspaces/{ws}/tables/top/grade");
        let (s, e) = o.call("authority", "POST", &top, body.clone()).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("action_not_allowed")), "{e}");
        // A sealed workspace is read-only: no grading until the authority unseals it.
        let (s, _) =
            o.call("authority", "POST", &format!("/api/v1/workspaces/{ws}/seal"), json!({"reason": "检查"})).await;
        assert_eq!(s, StatusCode::OK);
        let (s, e) = o.call("authority", "POST", &grade, body).await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::CONFLICT, Some("WX §19")), "{e}");
    }

    /// A differential-privacy grant, from review to an exhausted budget: settings tightened at
    /// review, shown to the operator; 64 concurrent queries never overspend a budget that fits 10;
    /// the authority adds more with a reason; the ledger and the audit log show it all.
    async fn privacy_budget_is_never_overspent(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let entry = o.published_entry("conditional").await;
        let mut csv = String::from("uscc,company_name,legal_rep_id\n");
        for i in 0..40 {
            csv.push_str(&format!("9132020000000{i:05},无锡{i}号有限公司,11010119900307{i:04}\n"));
        }
        assert_eq!(ingest(&o, &entry, &csv, "csv").await.0, StatusCode::CREATED);
        let aid = filed_agreement(&o, &entry).await;
        let analyst = clear(&o, "analyst").await;
        // The operator asks for aggregation-only; the authority requires differential privacy.
        let mut req = request(&aid, &entry, "invisible");
        req["tables"][0]["row_filter"] = Value::Null;
        req["tables"][0]["subject_key"] = json!("uscc");
        req["privacy"] = json!({"mode": "aggregation_only", "k": 5});
        let (s, g) = o.call("operator", "POST", "/api/v1/grants", req).await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        let gid = g["id"].as_str().unwrap().to_string();
        let reviews = format!("/api/v1/grants/{gid}/reviews");
        let mut strict = approve_all("需差分隐私保护");
        strict["privacy"] = json!({"mode": "differential_privacy", "epsilon": 1.0, "query_epsilon": 0.1});
        assert_eq!(o.call("authority", "POST", &reviews, strict).await.0, StatusCode::OK);
        assert_eq!(o.call("industry", "POST", &reviews, approve_all("同意")).await.0, StatusCode::OK);
        let (s, g) = o.call("steward", "POST", &reviews, approve_all("同意")).await;
        assert_eq!((s, g["state"].as_str()), (StatusCode::OK, Some("approved")), "{g}");
        let budget = format!("/api/v1/grants/{gid}/privacy-budget");
        let (s, b) = o.call("operator", "GET", &budget, json!({})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["privacy"]["mode"], "differential_privacy", "the stricter setting wins: {b}");
        assert_eq!(b["budget"]["epsilon_total"], 1.0);
        let ws = open_workspace(&o, &aid, &analyst, &gid, "隐私统计").await;

        // Rows never come out.
        let (s, e) = query(&o, "analyst", &ws, "SELECT uscc FROM enterprises").await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::FORBIDDEN, Some("SPEC §4.5")), "{e}");

        // 64 at once against a budget of ten queries.
        let token = o.app.login("analyst").await;
        let url = o.app.url(&format!("/api/v1/workspaces/{ws}/queries"));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (client, url, token) = (o.app.client.clone(), url.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"sql": "SELECT count(*) AS n FROM enterprises"}))
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
            }));
        }
        let mut answered = 0;
        for t in tasks {
            let (s, v) = t.await.unwrap();
            match s {
                StatusCode::OK => {
                    answered += 1;
                    assert_eq!(v["privacy"]["epsilon"], 0.1, "{v}");
                    assert_eq!(v["privacy"]["mechanism"], "laplace");
                    assert_eq!(v["privacy"]["noise"][0]["scale"], 10.0, "b = 1/ε: {v}");
                    assert!(v["rows"][0][0].as_i64().is_some(), "{v}");
                }
                StatusCode::FORBIDDEN => {
                    assert_eq!(v["code"], "privacy_budget_exhausted", "{v}");
                    assert_eq!(v["basis"], "SPEC §4.5");
                    assert!(v["details"]["budget"]["epsilon_left"].as_f64().unwrap() < 0.1, "{v}");
                }
                other => panic!("{other}: {v}"),
            }
        }
        assert_eq!(answered, 10, "exactly the ten queries the budget pays for");
        let (_, b) = o.call("operator", "GET", &budget, json!({})).await;
        assert!((b["budget"]["epsilon_spent"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{b}");
        let ledger = b["ledger"].as_array().unwrap();
        assert_eq!(ledger.iter().filter(|e| e["kind"] == "spend").count(), 10, "{b}");

        // Only the authority adds budget, with a reason; then queries are answered again.
        let more = json!({"epsilon": 0.2, "reason": "第二阶段评估经审批追加"});
        assert_eq!(o.call("operator", "POST", &budget, more.clone()).await.0, StatusCode::FORBIDDEN);
        let (s, e) = o.call("authority", "POST", &budget, json!({"epsilon": 0.2, "reason": " "})).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")), "{e}");
        let (s, b) = o.call("authority", "POST", &budget, more).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(query(&o, "analyst", &ws, "SELECT count(*) AS n FROM enterprises").await.0, StatusCode::OK);
        let (_, b) = o.call("operator", "GET", &budget, json!({})).await;
        assert!(b["ledger"].to_string().contains("第二阶段评估经审批追加"), "{b}");

        // The console shows the mode and what is left beside the SQL editor.
        let page = o.app.cookie_client("analyst").await;
        let html =
            page.get(o.app.url(&format!("/console/workspaces/{ws}"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("id=\"privacy-panel\"") && html.contains("差分隐私"), "{html}");
        assert!(html.contains("剩余隐私预算 ε：0.1 / 1.2"), "{html}");
        // The operator sees the settings the reviewers set on the grant.
        let operator = o.app.cookie_client("operator").await;
        let html = operator.get(o.app.url("/console/grants")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("差分隐私（隐私预算总额 ε：1.0；每次查询 ε：0.1）"), "{html}");

        // The audit log holds the settings, each payment and each refusal.
        let (_, ev) = o.call("auditor", "GET", "/api/v1/audit/events?action=workspace.query", json!({})).await;
        let ev = ev["events"].as_array().unwrap();
        assert_eq!(ev.iter().filter(|e| e["details"]["privacy"]["paid"] == true).count(), 11);
        assert!(
            ev.iter().filter(|e| e["outcome"] == "denied" && e["details"]["privacy"]["paid"] == false).count() >= 54
        );
        let (_, ev) = o.call("auditor", "GET", "/api/v1/audit/events?action=grant.budget_allotted", json!({})).await;
        assert_eq!(ev["events"].as_array().unwrap().len(), 2, "{ev}");
    }

    /// In-domain modelling (算法建模): a member trains on a governed query, the model scores in
    /// SQL, the console lists it with its metrics, and its parameters table goes to export review.
    /// A workspace with a grant on one enterprise and an approved upload `points` (y = 3x + 7,
    /// 40 points) to train on; returns the entry and the workspace.
    pub(crate) async fn workspace_with_points(o: &O) -> (String, String) {
        let entry = o.published_entry("conditional").await;
        let csv = "uscc,company_name,legal_rep_id\n913202000000000011,无锡甲科技有限公司,110101199003071234\n";
        assert_eq!(ingest(o, &entry, csv, "csv").await.0, StatusCode::CREATED);
        let (_, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let mut points = String::from("x,y\n");
        for i in 0..40 {
            points.push_str(&format!("{i},{}\n", 3 * i + 7));
        }
        let token = o.app.login("analyst").await;
        let url = o.app.url(&format!("/api/v1/workspaces/{ws}/uploads?table=points&format=csv&source=本机构观测数据"));
        let r = o.app.client.post(url).bearer_auth(token).body(points).send().await.unwrap();
        let u: Value = r.json().await.unwrap();
        let review = format!("/api/v1/uploads/{}/review", u["id"].as_str().unwrap());
        assert_eq!(
            o.call("authority", "POST", &review, json!({"approved": true, "reason": "来源合法"})).await.0,
            StatusCode::OK
        );
        (entry, ws)
    }

    async fn models_are_trained_scored_and_reviewed_in_the_domain(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let o = &o;
        let (_, ws) = workspace_with_points(o).await;

        let models = format!("/api/v1/workspaces/{ws}/models");
        let spec = json!({"name": "trend", "kind": "linear_regression",
            "sql": "SELECT CAST(x AS DOUBLE) AS x, CAST(y AS DOUBLE) AS y FROM points", "features": ["x"], "target": "y"});
        assert_eq!(o.call("operator", "POST", &models, spec.clone()).await.1["code"], "not_a_member");
        let (s, m) = o.call("analyst", "POST", &models, spec).await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        assert!(m["metrics"]["r2"].as_f64().unwrap() > 0.999, "{m}");
        assert_eq!((m["function"].as_str(), m["parameters_may_leave"].as_bool()), (Some("model_trend"), Some(true)));
        let (s, e) = o
            .call("analyst", "POST", &models, json!({"name": "ids", "kind": "kmeans", "sql": "SELECT legal_rep_id FROM enterprises", "features": ["legal_rep_id"]}))
            .await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::FORBIDDEN, Some("JS §13")), "{e}");
        let (s, r) =
            query(o, "analyst", &ws, "SELECT round(model_trend(CAST(x AS DOUBLE))) AS p FROM points WHERE x = '10'")
                .await;
        assert_eq!((s, r["rows"].clone()), (StatusCode::OK, json!([[37.0]])), "{r}");

        let page = o.app.cookie_client("analyst").await;
        let html =
            page.get(o.app.url(&format!("/console/workspaces/{ws}"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("id=\"models\"") && html.contains("线性回归") && html.contains("model_trend"), "{html}");
        assert!(html.contains("id=\"training-form\""));

        // The parameters leave only through the export review.
        let (s, x) = o
            .call(
                "analyst",
                "POST",
                &format!("/api/v1/workspaces/{ws}/exports"),
                json!({"table": "trend_parameters", "purpose": "模型参数报送"}),
            )
            .await;
        assert_eq!((s, x["state"].as_str()), (StatusCode::CREATED, Some("pending_review")), "{x}");
        assert!(x["checks"].to_string().contains("model_parameters"), "{x}");
        let (_, ev) = o.call("auditor", "GET", "/api/v1/audit/events?action=workspace.model_trained", json!({})).await;
        let ev = ev["events"].as_array().unwrap();
        assert!(ev.iter().any(|e| e["outcome"] == "success" && e["details"]["model"] == "trend"), "{ev:?}");
        assert!(ev.iter().any(|e| e["outcome"] == "denied" && e["details"]["model"] == "ids"), "{ev:?}");
    }

    /// An operator's standard tool (the Python ADBC Flight SQL driver) in a workspace: it sees
    /// the granted table and its columns and nothing else, gets governed answers (row filter,
    /// masking), is refused what HTTP refuses with the same article, and every statement is
    /// audited. A stranger, an anonymous caller and a call naming no workspace are refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flight_sql_client_sees_exactly_its_grants() {
        let Some(python) = kit::python_with("adbc_driver_flightsql.dbapi, pyarrow", "adbc-driver-flightsql") else {
            return;
        };
        let Some(o) =
            O::spawn_with(Backend::Sqlite, "wuxi", |c| c.flight_listen = Some("127.0.0.1:0".parse().unwrap())).await
        else {
            return;
        };
        let o = &o;
        let entry = o.published_entry("conditional").await;
        let csv = "uscc,company_name,legal_rep_id\n\
                   913202000000000011,无锡甲科技有限公司,110101199003071234\n\
                   913202000000000022,无锡乙贸易有限公司,110101199003071234\n\
                   91320200000000003X,无锡丙物流有限公司,110101199003071234\n";
        assert_eq!(ingest(o, &entry, csv, "csv").await.0, StatusCode::CREATED);
        let (_, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let flight = o.app.server.flight_addr.expect("Flight SQL is configured");
        let tokens = json!({ "member": o.app.login("analyst").await, "stranger": o.app.login("operator").await });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/flight/client.py");
        let sql = "SELECT uscc, company_name FROM enterprises ORDER BY uscc";
        let refused = "SELECT legal_rep_id FROM enterprises";
        let out = tokio::process::Command::new(&python)
            .args([script, &format!("grpc://{flight}"), &ws, sql, refused, &tokens.to_string()])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();

        // The catalogue: the one granted table, with the grant's columns.
        let tables = seen["catalogue"]["ok"].as_object().unwrap_or_else(|| panic!("{seen}"));
        assert_eq!(tables.keys().collect::<Vec<_>>(), vec!["enterprises"], "{seen}");
        let columns: Vec<&str> = tables["enterprises"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let mut expected = ["uscc", "company_name", "legal_rep_id"];
        let mut got = columns.clone();
        got.sort_unstable();
        expected.sort_unstable();
        assert_eq!(got, expected, "the grant's columns and no others: {seen}");

        // The answer is the governed one: the row filter drops the third company, names are masked.
        let q = &seen["query"]["ok"];
        assert_eq!(q["columns"], json!(["uscc", "company_name"]), "{seen}");
        let rows = q["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "the grant's row filter applies: {seen}");
        assert_eq!(rows[0][0], "913202000000000011");
        let name = rows[0][1].as_str().unwrap();
        assert!(!name.contains("甲科技"), "a masked column never shows its value: {name}");
        // The same refusal as over HTTP, with its article.
        let (_, http) = query(o, "analyst", &ws, refused).await;
        let err = seen["refused"]["error"].as_str().unwrap_or_else(|| panic!("{seen}"));
        assert!(err.contains(http["code"].as_str().unwrap()) && err.contains("JS §13"), "{err} vs {http}");
        // Strangers get nothing, not even the list of tables.
        assert!(seen["stranger"]["error"].as_str().is_some_and(|e| e.contains("not_a_member")), "{seen}");
        assert!(seen["stranger_catalogue"]["error"].as_str().is_some_and(|e| e.contains("not_a_member")), "{seen}");
        assert!(seen["anonymous"]["error"].as_str().is_some_and(|e| e.contains("unauthenticated")), "{seen}");
        assert!(seen["no_workspace"]["error"].as_str().is_some_and(|e| e.contains("x-shuyu-workspace")), "{seen}");

        // Each statement is a workspace query in the audit log, by the analyst.
        let (_, events) = o
            .call(
                "auditor",
                "GET",
                &format!("/api/v1/audit/events?action=workspace.query&resource=workspace:{ws}"),
                json!({}),
            )
            .await;
        let events = events["events"].as_array().unwrap();
        let analyst = o.app.user_record("analyst").await.id.to_string();
        for (statement, outcome) in [(sql, "success"), (refused, "denied")] {
            assert!(
                events
                    .iter()
                    .any(|e| e["details"]["sql"] == statement && e["outcome"] == outcome && e["actor"] == analyst),
                "{statement} audited as {outcome}: {events:?}"
            );
        }
    }

    on_both!(from_ingestion_to_sealed_workspace);
    on_both!(models_are_trained_scored_and_reviewed_in_the_domain);
    on_both!(derived_tables_are_graded_again);
    on_both!(privacy_budget_is_never_overspent);
    on_both!(expiry_and_suspension);
    on_both!(checked_reviewed_watermarked_and_traced);
}

mod products {
    use super::operators::O;
    use super::sandbox::{ingest, workspace_with_grant};
    use super::*;

    pub(crate) fn definition(entry: &str, sql: &str) -> Value {
        json!({
            "description": "按统一社会信用代码查询企业名录（名称脱敏）",
            "scenarios": [
                {"name": "普惠金融授信", "category": "industry"},
                {"name": "社会信用监管", "category": "public_governance"}
            ],
            "usage_scope": "仅限授信前核验企业存续，不得转售",
            "sources": [{"entry_id": entry, "retrieved_on": "2026-10-21"}],
            "pricing_basis": "按调用量计费，成本加合理利润",
            "interface": {
                "sql": sql,
                "parameters": [{"name": "from", "type": "string", "default": "9132020000000", "max_length": 18,
                                "description": "起始信用代码"}],
                "max_rows": 30, "page_size": 10
            }
        })
    }

    pub(crate) const SQL: &str = "SELECT uscc, company_name FROM enterprises WHERE uscc >= $from ORDER BY uscc";

    /// A call of the interface with `key`; returns status, headers and body.
    pub(crate) async fn call(o: &O, path: &str, key: Option<&str>) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = o.app.client.get(o.app.url(path));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let r = req.send().await.unwrap();
        let (s, h) = (r.status(), r.headers().clone());
        (s, h, r.json().await.unwrap_or(Value::Null))
    }

    /// Takes a reviewed version through registration to its certificate (YXO §25): the
    /// registry accepts, publicity runs ten working days, the scheduler approves.
    async fn register(o: &O, product: &str, version: i64) -> String {
        let token = o.app.login("operator").await;
        let mut materials = Vec::new();
        use shuyu_core::registration::{required_materials, RegistrationType};
        for key in required_materials(RegistrationType::First) {
            let id = o.app.upload(&token, &format!("{key}.pdf"), format!("%PDF {key}").as_bytes()).await;
            materials.push(json!({"key": key, "attachment_id": id}));
        }
        let (s, r) = o
            .call(
                "operator",
                "POST",
                "/api/v1/registrations",
                json!({
                    "type": "first", "subject_kind": "product", "subject_name": "企业名录核验接口",
                    "summary": "按信用代码核验企业存续，名称脱敏。", "industry": "L7212", "region": "320200",
                    "facts": {"scenarios": "普惠金融授信"}, "materials": materials,
                    "product_id": product, "product_version": version,
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let id = r["id"].as_str().unwrap().to_string();
        for a in ["accept", "start_publicity"] {
            let (s, v) =
                o.call("registrar", "POST", &format!("/api/v1/registrations/{id}/actions/{a}"), json!({})).await;
            assert_eq!(s, StatusCode::OK, "{a}: {v}");
        }
        o.go_to("2026-11-09").await;
        let (_, r) = o.call("registrar", "GET", &format!("/api/v1/registrations/{id}"), json!({})).await;
        assert_eq!(r["state"], "approved", "{r}");
        r["certificate_code"].as_str().unwrap().to_string()
    }

    async fn from_definition_to_paid_statement(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let entry = o.published_entry("conditional").await;
        let mut csv = String::from("uscc,company_name,legal_rep_id\n");
        for i in 0..40 {
            csv.push_str(&format!("9132020000000{i:05},无锡{i}号有限公司,11010119900307{i:04}\n"));
        }
        assert_eq!(ingest(&o, &entry, &csv, "csv").await.0, StatusCode::CREATED);
        let (_, ws) = workspace_with_grant(&o, &entry, "2027-06-30").await;

        // An interface over an invisible column is refused when it is defined.
        let body = |sql: &str| {
            json!({"workspace_id": ws, "name": "企业名录核验", "kind": "data_interface",
                                     "definition": definition(&entry, sql)})
        };
        let (s, e) = o
            .call(
                "operator",
                "POST",
                "/api/v1/products",
                body("SELECT legal_rep_id FROM enterprises WHERE uscc >= $from"),
            )
            .await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("query_refused")), "{e}");
        let (s, e) = o
            .call(
                "operator",
                "POST",
                "/api/v1/products",
                body("SELECT uscc FROM enterprises WHERE uscc >= $from AND uscc <> $other"),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "undeclared placeholder: {e}");
        let mut no_source = body(SQL);
        no_source["definition"]["sources"] = json!([]);
        let (s, e) = o.call("operator", "POST", "/api/v1/products", no_source).await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("WH §26")), "{e}");

        let (s, p) = o.call("operator", "POST", "/api/v1/products", body(SQL)).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pid = p["id"].as_str().unwrap().to_string();
        assert_eq!(p["versions"][0]["prepared"]["columns"][1][0], "company_name");
        assert_eq!(
            p["versions"][0]["definition"]["sources"][0]["name"], "数据conditional",
            "filled from the catalogue"
        );
        let v1 = format!("/api/v1/products/{pid}/versions/1");

        // WX §17: the security auditor and the authority review; the stricter grade stands.
        assert_eq!(o.call("operator", "POST", &format!("{v1}/actions/submit"), json!({})).await.0, StatusCode::OK);
        let review = |grade: Option<u8>| {
            json!({"passed": true, "compliance": "来源合法", "security": "名称已脱敏",
                                                "scenario": "场景明确", "grade": grade})
        };
        let (s, e) = o.call("operator", "POST", &format!("{v1}/reviews"), review(None)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "the operator does not review its own product: {e}");
        assert_eq!(o.call("auditor", "POST", &format!("{v1}/reviews"), review(None)).await.0, StatusCode::OK);
        let (s, p) = o.call("authority", "POST", &format!("{v1}/reviews"), review(Some(2))).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(
            (p["versions"][0]["state"].as_str(), p["versions"][0]["grade"].as_u64()),
            (Some("approved"), Some(2))
        );
        let (s, e) = o.call("operator", "POST", &format!("{v1}/actions/publish"), json!({})).await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::CONFLICT, Some("YXO §25")), "registered first: {e}");
        let code = register(&o, &pid, 1).await;
        assert!(code.contains("-P-"), "a product certificate: {code}");
        let (s, p) = o.call("operator", "POST", &format!("{v1}/actions/publish"), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(p["published_version"], 1);

        // The public marketplace shows it with its certificate; the listing package carries the
        // signed certificate and the review record.
        let market: Value = o.app.get_anon("/api/v1/market/products").await.json().await.unwrap();
        let listed = market["products"].as_array().unwrap().iter().find(|x| x["id"] == pid.as_str()).unwrap().clone();
        assert_eq!(listed["certificate_code"], code.as_str());
        assert_eq!(listed["grade"], 2);
        let (_, seen) = o.call("consumer", "GET", "/api/v1/products", json!({})).await;
        assert!(seen["products"].as_array().is_some_and(|p| !p.is_empty()), "{seen}");
        assert!(!seen.to_string().contains("SELECT"), "a consumer never sees the query or the workspace: {seen}");
        let (s, pkg) = o.call("operator", "GET", &format!("/api/v1/products/{pid}/listing"), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{pkg}");
        assert_eq!(
            (pkg["format"].as_str(), pkg["certificate"]["facts"]["code"].as_str()),
            (Some("shuyu-listing/1"), Some(code.as_str()))
        );
        assert_eq!(pkg["review"]["reviews"].as_array().unwrap().len(), 2);
        let doc: Value = o.app.get_anon(&format!("/data-api/v1/{pid}/1/openapi.json")).await.json().await.unwrap();
        let params = &doc["paths"][format!("/data-api/v1/{pid}/1")]["get"]["parameters"];
        assert_eq!(params[0]["name"], "from", "{doc}");
        assert_eq!(params[0]["schema"]["maxLength"], 18);

        // Pricing: a cap from the authority; a plan above it, or a charge for public governance,
        // is refused; an unreviewed scenario is refused (WX §17).
        let cap = json!({"cap": {"unit": "call_volume", "unit_fen": 10, "monthly_fen": 100000}, "reason": "成本加合理利润核定"});
        assert_eq!(
            o.call("authority", "POST", &format!("/api/v1/products/{pid}/price-cap"), cap).await.0,
            StatusCode::OK
        );
        let plan = |unit_fen: u64| {
            json!({"plan": "per_use", "unit": "call_volume",
            "tiers": [{"up_to": 3, "unit_fen": unit_fen}, {"up_to": null, "unit_fen": 5}]})
        };
        let apply = |scenario: &str, plan: Value| {
            json!({"product_id": pid, "scenario": scenario, "purpose": "授信前核验",
            "terms": {"plan": plan, "quota_per_day": 1000, "quota_per_minute": 4, "valid_from": "2026-11-09", "valid_until": "2027-06-30"}})
        };
        let (s, e) = o.call("consumer", "POST", "/api/v1/consumer-applications", apply("普惠金融授信", plan(12))).await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("YXO §27")), "{e}");
        let (s, e) = o.call("consumer", "POST", "/api/v1/consumer-applications", apply("社会信用监管", plan(10))).await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("WX §23")), "{e}");
        let (s, e) = o.call("consumer", "POST", "/api/v1/consumer-applications", apply("精准营销", plan(10))).await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("WX §17")), "{e}");
        let (s, a) = o.call("consumer", "POST", "/api/v1/consumer-applications", apply("普惠金融授信", plan(10))).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let aid = a["id"].as_str().unwrap().to_string();
        let (s, e) = o
            .call(
                "consumer",
                "POST",
                &format!("/api/v1/consumer-applications/{aid}/decision"),
                json!({"approved": true, "reason": "自批"}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "the consumer does not approve itself: {e}");
        let (s, d) = o
            .call(
                "operator",
                "POST",
                &format!("/api/v1/consumer-applications/{aid}/decision"),
                json!({"approved": true, "reason": "用途与场景一致"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{d}");
        let contract = d["contract_id"].as_str().unwrap().to_string();
        let (s, k) = o.call("consumer", "POST", &format!("/api/v1/contracts/{contract}/keys"), json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{k}");
        let key = k["key"].as_str().unwrap().to_string();
        let (_, c) = o.call("consumer", "GET", &format!("/api/v1/contracts/{contract}"), json!({})).await;
        assert!(!c.to_string().contains(&key), "the key is shown once, never again");

        // Calls.
        let url = format!("/data-api/v1/{pid}/1");
        let (s, _, e) = call(&o, &url, None).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("api_key_missing")));
        let (s, _, e) = call(&o, &url, Some("sk_not-a-key")).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("api_key_invalid")));
        let (s, h, page) = call(&o, &url, Some(&key)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(h["content-range"], "rows 0-9/*", "30 of 39 rows reachable: the total is not told");
        let rows = page["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 10);
        for r in rows {
            let name = r[1].as_str().unwrap();
            assert!(!name.contains("号有限公司") || name.contains('*'), "masked: {name}");
            assert!(!csv.contains(&format!(",{name},")), "never the raw value: {name}");
        }
        let (s, h, _) = call(&o, &format!("{url}?offset=20&limit=10"), Some(&key)).await;
        assert_eq!((s, h["content-range"].to_str().unwrap()), (StatusCode::OK, "rows 20-29/*"));
        let (s, _, e) = call(&o, &format!("{url}?from=9132020000000000001"), Some(&key)).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")), "too long: {e}");
        let (s, _, e) = call(&o, &format!("{url}?from=x%27%20OR%201%3D1&sort=uscc"), Some(&key)).await;
        assert_eq!(
            (s, e["details"]["fields"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("sort")),
            "{e}"
        );
        let (s, _, page) = call(&o, &format!("{url}?from=x%27%20OR%201%3D1"), Some(&key)).await;
        assert_eq!((s, page["rows"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "a value, never SQL: {page}");
        // Three answered this minute; the quota is four.
        let (s, _, _) = call(&o, &url, Some(&key)).await;
        assert_eq!(s, StatusCode::OK);
        let (s, h, e) = call(&o, &url, Some(&key)).await;
        assert_eq!((s, e["details"]["per"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("minute")), "{e}");
        assert!(h.contains_key("retry-after"));

        // A revoked key stops at once.
        let (_, k2) = o.call("consumer", "POST", &format!("/api/v1/contracts/{contract}/keys"), json!({})).await;
        let second = k2["key"].as_str().unwrap().to_string();
        let (s, _) = o
            .call("consumer", "POST", &format!("/api/v1/api-keys/{}/revoke", k2["id"].as_str().unwrap()), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK);
        o.go_to("2026-11-10").await;
        let (s, _, e) = call(&o, &url, Some(&second)).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("api_key_revoked")));
        let (s, _, _) = call(&o, &url, Some(&key)).await;
        assert_eq!(s, StatusCode::OK, "a new day, a new minute");

        // The authority suspends the product: every key stops.
        let (s, _) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/products/{pid}/suspend"),
                json!({"reason": "接到投诉，核查期间暂停"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _, e) = call(&o, &url, Some(&key)).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("product_suspended")));
        o.call("authority", "POST", &format!("/api/v1/products/{pid}/reinstate"), json!({"reason": "核查无问题"}))
            .await;

        // November's statement: 5 answered calls; 3 at 10 fen and 2 at 5 fen.
        o.go_to("2026-12-01").await;
        let (s, st) = o
            .call("operator", "POST", &format!("/api/v1/contracts/{contract}/statements"), json!({"period": "2026-11"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{st}");
        assert_eq!((st["units"].as_i64(), st["amount_fen"].as_i64()), (Some(5), Some(40)), "{st}");
        let (s, paid) = o
            .call("consumer", "POST", &format!("/api/v1/statements/{}/pay", st["id"].as_str().unwrap()), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{paid}");
        let (s, again) = o
            .call("consumer", "POST", &format!("/api/v1/statements/{}/pay", st["id"].as_str().unwrap()), json!({}))
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "paid once: {again}");
        let (_, ledger) = o.call("authority", "GET", "/api/v1/ledger", json!({})).await;
        assert_eq!(ledger["balanced"], true, "{ledger}");
        assert_eq!(ledger["non_tax_revenue_fen"], 12, "30% of 40 fen to the government: {ledger}");
        let operator_share: i64 = ledger["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["account"].as_str().unwrap().starts_with("revenue:operator:"))
            .map(|a| a["balance_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(operator_share, -28, "60% + the absent processor's 10%");
        // Each party reads its own month: the agency sees the government's share only.
        let (s, mine) = o.call("implementer", "GET", "/api/v1/ledger?period=2026-11", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{mine}");
        let accounts = mine["accounts"].as_array().unwrap();
        assert_eq!(accounts.len(), 1, "{mine}");
        assert!(accounts[0]["account"].as_str().unwrap().starts_with("non_tax_revenue:"));
        assert_eq!((accounts[0]["balance_fen"].as_i64(), mine["balanced"].as_bool()), (Some(-12), Some(true)));

        // The operator is suspended: its interfaces stop at once.
        let operator = o.app.user_record("operator").await.org_id.to_string();
        let (s, v) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/organisations/{operator}/actions/suspend"),
                json!({"reason": "未按要求报送年度报告", "rectify_by": "2027-01-31"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, _, e) = call(&o, &url, Some(&key)).await;
        assert_eq!(
            (s, e["code"].as_str(), e["basis"].as_str()),
            (StatusCode::FORBIDDEN, Some("operator_suspended"), Some("WX §10"))
        );

        // Every call, answered or refused, is in the audit log with its outcome.
        let (_, events) = o
            .call(
                "auditor",
                "GET",
                &format!("/api/v1/audit/events?action=interface.call&resource=product:{pid}&limit=100"),
                json!({}),
            )
            .await;
        let events = events["events"].as_array().unwrap();
        let codes: Vec<&str> = events.iter().filter_map(|e| e["details"]["detail"]["code"].as_str()).collect();
        for code in [
            "api_key_invalid",
            "validation",
            "quota_exceeded",
            "api_key_revoked",
            "product_suspended",
            "operator_suspended",
        ] {
            assert!(codes.contains(&code), "{code} audited: {codes:?}");
        }
        assert_eq!(events.iter().filter(|e| e["outcome"] == "success").count(), 5, "every answered call");
        assert!(events.iter().all(|e| !e.to_string().contains(&key)), "the key never reaches the log");
    }

    on_both!(from_definition_to_paid_statement);

    /// Review, registration, publication, a free contract for the consumer and its key.
    async fn on_the_market(o: &O, pid: &str) -> String {
        on_the_market_with(o, pid, 100, 10).await.1
    }

    /// As [`on_the_market`], with the contract's quotas; returns the contract and its key.
    pub(crate) async fn on_the_market_with(o: &O, pid: &str, per_day: u64, per_minute: u64) -> (String, String) {
        let v1 = format!("/api/v1/products/{pid}/versions/1");
        assert_eq!(o.call("operator", "POST", &format!("{v1}/actions/submit"), json!({})).await.0, StatusCode::OK);
        let review =
            json!({"passed": true, "compliance": "来源合法", "security": "仅输出预测值", "scenario": "场景明确"});
        o.call("auditor", "POST", &format!("{v1}/reviews"), review.clone()).await;
        let (_, p) = o.call("authority", "POST", &format!("{v1}/reviews"), review).await;
        assert_eq!(p["versions"][0]["state"], "approved", "{p}");
        register(o, pid, 1).await;
        let (s, p) = o.call("operator", "POST", &format!("{v1}/actions/publish"), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let (s, a) = o
            .call(
                "consumer",
                "POST",
                "/api/v1/consumer-applications",
                json!({"product_id": pid, "scenario": "普惠金融授信",
                "purpose": "授信评估", "terms": {"plan": {"plan": "free"}, "quota_per_day": per_day, "quota_per_minute": per_minute,
                "valid_from": "2026-11-09", "valid_until": "2027-06-30"}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let (_, d) = o
            .call(
                "operator",
                "POST",
                &format!("/api/v1/consumer-applications/{}/decision", a["id"].as_str().unwrap()),
                json!({"approved": true, "reason": "同意"}),
            )
            .await;
        let contract = d["contract_id"].as_str().unwrap().to_string();
        let (_, k) = o.call("consumer", "POST", &format!("/api/v1/contracts/{contract}/keys"), json!({})).await;
        (contract, k["key"].as_str().unwrap().to_string())
    }

    /// A dataset product delivers its approved, watermarked export to a contracted consumer, under
    /// the same checks and records as a call.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dataset_product_delivers_its_export() {
        let Some(o) = O::spawn(Backend::Sqlite, "wuxi").await else { return };
        let o = &o;
        let entry = o.published_entry("conditional").await;
        let mut csv = String::from("uscc,company_name,legal_rep_id\n");
        for i in 0..600u64 {
            csv.push_str(&format!("9132020{:011},无锡第{i}号有限公司,110101199003071234\n", i * 7919 + 104729));
        }
        assert_eq!(ingest(o, &entry, &csv, "csv").await.0, StatusCode::CREATED);
        let (_, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let sql = "CREATE TABLE scores AS SELECT uscc, CAST(substr(uscc, 8, 11) AS BIGINT) * 3 + 1000 AS score FROM enterprises";
        assert_eq!(super::sandbox::query(o, "analyst", &ws, sql).await.0, StatusCode::OK);
        let (_, e) = o
            .call(
                "analyst",
                "POST",
                &format!("/api/v1/workspaces/{ws}/exports"),
                json!({"table": "scores", "purpose": "授信评分数据集"}),
            )
            .await;
        let eid = e["id"].as_str().unwrap().to_string();
        let (s, e) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/exports/{eid}/review"),
                json!({"approved": true, "reason": "符合授权用途"}),
            )
            .await;
        assert_eq!((s, e["state"].as_str()), (StatusCode::OK, Some("approved")), "{e}");
        let mut d = definition(&entry, SQL);
        d["interface"] = Value::Null;
        d["export_id"] = json!(eid);
        let (s, p) = o
            .call(
                "operator",
                "POST",
                "/api/v1/products",
                json!({"workspace_id": ws, "name": "企业授信评分数据集", "kind": "dataset", "definition": d}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pid = p["id"].as_str().unwrap().to_string();
        let key = on_the_market(o, &pid).await;
        let url = format!("/data-api/v1/{pid}/1/file");
        let (s, _, e) = call(o, &url, None).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("api_key_missing")));
        let r = o.app.client.get(o.app.url(&url)).header("x-api-key", &key).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let delivered = r.bytes().await.unwrap();
        let original = o.download("analyst", &eid).await.bytes().await.unwrap();
        assert_eq!(delivered, original, "the reviewed, watermarked file and nothing else");
        let (_, events) = o
            .call(
                "auditor",
                "GET",
                &format!("/api/v1/audit/events?action=interface.call&resource=product:{pid}"),
                json!({}),
            )
            .await;
        let outcomes: Vec<&str> =
            events["events"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["denied", "success"], "both calls are in the log");
    }

    /// A model trained in the domain becomes a scoring endpoint: callers send features and get
    /// predictions; the model and its training rows stay inside.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_model_scores_through_its_interface() {
        let Some(o) = O::spawn(Backend::Sqlite, "wuxi").await else { return };
        let o = &o;
        let (entry, ws) = super::sandbox::workspace_with_points(o).await;
        let (s, m) = o
            .call("analyst", "POST", &format!("/api/v1/workspaces/{ws}/models"), json!({"name": "trend", "kind": "linear_regression",
                "sql": "SELECT CAST(x AS DOUBLE) AS x, CAST(y AS DOUBLE) AS y FROM points", "features": ["x"], "target": "y"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        let mut d = definition(&entry, "SELECT round(model_trend($x)) AS prediction");
        d["interface"]["parameters"] = json!([{"name": "x", "type": "number", "default": "1", "min": 0, "max": 1000}]);
        d["model"] = json!("trend");
        let (s, p) = o
            .call(
                "operator",
                "POST",
                "/api/v1/products",
                json!({"workspace_id": ws, "name": "趋势评分", "kind": "algorithm_model", "definition": d}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        assert_eq!(p["versions"][0]["prepared"]["columns"][0][0], "prediction");
        let pid = p["id"].as_str().unwrap().to_string();
        let key = on_the_market(o, &pid).await;
        let (s, _, r) = call(o, &format!("/data-api/v1/{pid}/1?x=10"), Some(&key)).await;
        assert_eq!((s, r["rows"].clone()), (StatusCode::OK, json!([[37.0]])), "{r}");
        let (s, _, e) = call(o, &format!("/data-api/v1/{pid}/1?x=-1"), Some(&key)).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")), "below min: {e}");
        // The annual disclosure covers a year that has ended, and says by when.
        let (s, _) = o.call("consumer", "GET", "/api/v1/public/disclosure?year=2026", json!({})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let r: Value = o.app.get_anon("/api/v1/public/disclosure?year=2025").await.json().await.unwrap();
        assert_eq!((r["due_by"].as_str(), r["columns"][0].as_str()), (Some("2026-03-31"), Some("resource")), "{r}");
    }

    pub(crate) async fn sign_in(page: &mut kit::browser::Page, o: &O, username: &str) {
        page.goto(&o.app.url("/console/login")).await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('login-form')").await;
        page.eval(&format!(
            "(() => {{ const f = document.getElementById('login-form'); f.username.value = '{username}'; \
             f.password.value = '{username}-demo-2026'; f.requestSubmit(); return true; }})()"
        ))
        .await;
        page.wait_for("document.readyState === 'complete' && location.pathname === '/console'").await;
    }

    /// The console: the operator publishes a registered product, the consumer applies in the
    /// marketplace, the operator approves, the consumer takes a key and calls the interface.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_console_publishes_a_product_and_calls_its_interface() {
        let Some((o, browser)) = O::with_browser().await else { return };
        let o = &o;
        let entry = o.published_entry("conditional").await;
        let mut csv = String::from("uscc,company_name,legal_rep_id\n");
        for i in 0..12 {
            csv.push_str(&format!("9132020000000{i:05},无锡{i}号有限公司,11010119900307{i:04}\n"));
        }
        assert_eq!(ingest(o, &entry, &csv, "csv").await.0, StatusCode::CREATED);
        let (_, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let (s, p) = o
            .call(
                "operator",
                "POST",
                "/api/v1/products",
                json!({"workspace_id": ws, "name": "企业名录核验",
                "kind": "data_interface", "definition": definition(&entry, SQL)}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pid = p["id"].as_str().unwrap().to_string();
        let v1 = format!("/api/v1/products/{pid}/versions/1");
        o.call("operator", "POST", &format!("{v1}/actions/submit"), json!({})).await;
        let review =
            json!({"passed": true, "compliance": "来源合法", "security": "名称已脱敏", "scenario": "场景明确"});
        o.call("auditor", "POST", &format!("{v1}/reviews"), review.clone()).await;
        o.call("authority", "POST", &format!("{v1}/reviews"), review).await;
        register(o, &pid, 1).await;

        let mut page = browser.page().await;
        sign_in(&mut page, o, "operator").await;
        let menu = page.eval("document.getElementById('menu').innerText").await;
        assert!(menu.as_str().unwrap_or_default().contains("数据产品"), "{menu}");
        page.goto(&o.app.url("/console/products")).await;
        let card = format!("version-{pid}-1");
        page.wait_for(&format!("document.readyState === 'complete' && !!document.getElementById('{card}')")).await;
        page.eval(&format!(
            "(() => {{ document.querySelector('#{card} form[data-action=publish]').requestSubmit(); return true; }})()"
        ))
        .await;
        page.wait_for(&format!(
            "document.readyState === 'complete' && !!document.getElementById('{card}') && \
             document.querySelector('#{card} .state').innerText.includes('已发布')"
        ))
        .await;

        // The consumer applies in the marketplace for an industry scenario, free of charge.
        sign_in(&mut page, o, "consumer").await;
        page.goto(&o.app.url("/console/market")).await;
        page.wait_for(&format!("document.readyState === 'complete' && !!document.getElementById('apply-{pid}')")).await;
        page.eval(&format!(
            "(() => {{ const f = document.getElementById('apply-{pid}'); f.purpose.value = '授信前核验'; \
             f.querySelector('[name=\"terms.plan.plan\"]').value = 'free'; \
             f.querySelector('[name=\"terms.valid_from\"]').value = '2026-11-09'; \
             f.querySelector('[name=\"terms.valid_until\"]').value = '2027-06-30'; f.requestSubmit(); return true; }})()"
        ))
        .await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('menu')").await;
        let (_, apps) = o.call("operator", "GET", "/api/v1/consumer-applications", json!({})).await;
        let aid = apps["applications"][0]["id"].as_str().expect("the application arrived").to_string();

        // The operator approves on its contracts page.
        sign_in(&mut page, o, "operator").await;
        page.goto(&o.app.url("/console/contracts")).await;
        page.wait_for(&format!("document.readyState === 'complete' && !!document.getElementById('decide-{aid}')"))
            .await;
        page.eval(&format!(
            "(() => {{ const f = document.getElementById('decide-{aid}'); f.reason.value = '用途与场景一致'; \
             f.requestSubmit(); return true; }})()"
        ))
        .await;
        page.wait_for("document.readyState === 'complete' && !!document.querySelector('[id^=contract-]')").await;

        // The consumer takes a key (shown once) and calls the interface from the page.
        sign_in(&mut page, o, "consumer").await;
        page.goto(&o.app.url("/console/contracts")).await;
        page.wait_for("document.readyState === 'complete' && !!document.querySelector('form[id^=new-key-]')").await;
        page.eval("(() => { document.querySelector('form[id^=new-key-]').requestSubmit(); return true; })()").await;
        page.wait_for("!!document.querySelector('code.shown-once')").await;
        page.eval(
            "(() => { const f = document.querySelector('form.try-interface'); \
             f.key.value = document.querySelector('code.shown-once').innerText; f.requestSubmit(); return true; })()",
        )
        .await;
        page.wait_for("!!document.querySelector('table.call-result')").await;
        let result = page.eval("document.querySelector('form.try-interface .result').innerText").await;
        let result = result.as_str().unwrap_or_default().to_string();
        assert!(result.contains("rows 0-9/12") || result.contains("rows 0-9/11"), "{result}");
        assert!(!result.contains("号有限公司") || result.contains('*'), "masked: {result}");
    }
}

/// Supervision (SPEC §6): the monitor's alerts and suspension from them, the audit log's
/// retention, the data quality loop.
mod supervision {
    use super::operators::O;
    use super::products::{call, definition, on_the_market_with, SQL};
    use super::sandbox::{ingest, workspace_with_grant};
    use super::*;
    use kit::entry_metadata;

    async fn set_clock(o: &O, instant: &str) {
        let (s, v) = o.call("admin", "POST", "/api/v1/admin/test-clock", json!({"set": instant})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    struct Inflated {
        pid: String,
        contract: String,
        key: String,
        url: String,
        alert: Value,
    }

    /// A published interface whose consumer calls once a minute for an hour, then fifty times in
    /// one minute; returns the alert the monitor raised (within a minute, or the test fails).
    async fn inflated(o: &O) -> Inflated {
        let entry = o.published_entry("conditional").await;
        let mut csv = String::from("uscc,company_name,legal_rep_id\n");
        for i in 0..40 {
            csv.push_str(&format!("9132020000000{i:05},无锡{i}号有限公司,11010119900307{i:04}\n"));
        }
        assert_eq!(ingest(o, &entry, &csv, "csv").await.0, StatusCode::CREATED);
        let (_, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let (s, p) = o
            .call(
                "operator",
                "POST",
                "/api/v1/products",
                json!({"workspace_id": ws, "name": "企业名录核验", "kind": "data_interface", "definition": definition(&entry, SQL)}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pid = p["id"].as_str().unwrap().to_string();
        let (contract, key) = on_the_market_with(o, &pid, 100_000, 1000).await;
        let url = format!("/data-api/v1/{pid}/1");

        // Its usual rate: one call a minute for an hour (Tuesday morning, China time).
        for m in 0..60 {
            set_clock(o, &format!("2026-11-10T01:{m:02}:00Z")).await;
            assert_eq!(call(o, &url, Some(&key)).await.0, StatusCode::OK);
        }
        // Then fifty in one minute.
        set_clock(o, "2026-11-10T02:01:00Z").await;
        for i in 0..50 {
            let (s, _, _) = call(o, &format!("{url}?offset={}", i % 3 * 10), Some(&key)).await;
            assert_eq!(s, StatusCode::OK);
        }
        let started = std::time::Instant::now();
        let alert = loop {
            let (s, list) = o.call("authority", "GET", "/api/v1/alerts?state=open", json!({})).await;
            assert_eq!(s, StatusCode::OK, "{list}");
            let found = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["rule"] == "inflated_calls" && a["subject"] == format!("contract:{contract}").as_str())
                .cloned();
            if let Some(a) = found {
                break a;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(60), "no alert within a minute: {list}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        Inflated { pid, contract, key, url, alert }
    }

    /// JS §24: a consumer calling 50× its usual rate raises an alert within a minute, with the
    /// calls as evidence; suspending its contract from the alert stops the next call.
    async fn an_inflated_consumer_is_alerted_and_suspended(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let Inflated { pid, contract, key, url, alert } = inflated(&o).await;
        assert!(alert["observed"]["calls_last_minute"].as_u64().unwrap() >= 10, "{alert}");
        assert!(alert["observed"]["usual_per_minute"].as_f64().unwrap() <= 1.1, "{alert}");

        // The evidence is the burst's calls, each an audited interface call of this product.
        let id = alert["id"].as_str().unwrap().to_string();
        let (s, full) = o.call("authority", "GET", &format!("/api/v1/alerts/{id}"), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{full}");
        let evidence = full["evidence"].as_array().unwrap();
        assert!(evidence.len() >= 10, "{full}");
        for e in evidence {
            assert_eq!(
                (e["action"].as_str(), e["resource"].as_str()),
                (Some("interface.call"), Some(format!("product:{pid}").as_str()))
            );
            assert_eq!(e["details"]["contract"], contract.as_str());
            assert!(e["time"].as_str().unwrap().starts_with("2026-11-10T02:01"), "only the burst: {e}");
        }
        assert!(!full.to_string().contains(&key), "the key never appears in evidence");
        let actions: Vec<&str> = full["actions"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(actions.contains(&"suspend_contract") && actions.contains(&"suspend_product"), "{actions:?}");

        // Only the authority acts; the consumer and the operator do not even see the queue.
        for who in ["consumer", "operator"] {
            let (s, _) = o.call(who, "GET", "/api/v1/alerts", json!({})).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{who}");
        }
        let body = json!({"reason": "调用量异常激增，暂停核查"});
        let (s, _) =
            o.call("auditor", "POST", &format!("/api/v1/alerts/{id}/actions/suspend_contract"), body.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, acted) =
            o.call("authority", "POST", &format!("/api/v1/alerts/{id}/actions/suspend_contract"), body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{acted}");
        assert_eq!(
            (acted["state"].as_str(), acted["resolution"]["target"].as_str()),
            (Some("acted"), Some("contract"))
        );
        let (s, again) = o.call("authority", "POST", &format!("/api/v1/alerts/{id}/actions/dismiss"), body).await;
        assert_eq!(s, StatusCode::CONFLICT, "handled once: {again}");

        // The next call stops.
        let (s, _, e) = call(&o, &url, Some(&key)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        let (_, c) = o.call("consumer", "GET", &format!("/api/v1/contracts/{contract}"), json!({})).await;
        assert_eq!(c["state"], "suspended", "{c}");
        let (_, events) =
            o.call("auditor", "GET", &format!("/api/v1/audit/events?resource=contract:{contract}"), json!({})).await;
        let suspended = &events["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (suspended["action"].as_str(), suspended["details"]["alert"].as_str()),
            (Some("contract.suspended"), Some(id.as_str()))
        );

        // WX §24: the analytics show the calls per product and per day, and download as CSV.
        let (s, report) =
            o.call("authority", "GET", "/api/v1/analytics?from=2026-11-09&to=2026-11-10", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{report}");
        let day = report["series"].as_array().unwrap().iter().find(|d| d["day"] == "2026-11-10").unwrap().clone();
        assert!(day["calls"].as_i64().unwrap() >= 110, "{day}");
        let calls =
            report["tables"].as_array().unwrap().iter().find(|t| t["name"] == "calls_by_product").unwrap().clone();
        let answered: i64 = calls["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r[0] == "企业名录核验" && r[2] == "answered")
            .map(|r| r[3].as_i64().unwrap())
            .sum();
        assert_eq!(answered, 110, "{calls}");
        let token = o.app.login("authority").await;
        let r = o
            .app
            .client
            .get(o.app.url("/api/v1/analytics/calls_by_product.csv?from=2026-11-09&to=2026-11-10"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = r.text().await.unwrap();
        assert!(text.starts_with('\u{feff}') && text.contains("产品") && text.contains("企业名录核验,"), "{text}");
        let (s, _) = o.call("consumer", "GET", "/api/v1/analytics", json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }

    on_both!(an_inflated_consumer_is_alerted_and_suspended);

    /// The same from the console: the authority opens the alert queue, sees the evidence and
    /// suspends the contract with one action; the consumer's next call is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_console_suspends_from_an_alert() {
        let Some((o, browser)) = O::with_browser().await else { return };
        let Inflated { contract, key, url, alert, .. } = inflated(&o).await;
        let id = alert["id"].as_str().unwrap().to_string();

        let mut page = browser.page().await;
        super::products::sign_in(&mut page, &o, "authority").await;
        let menu = page.eval("document.getElementById('menu').innerText").await;
        assert!(menu.as_str().unwrap_or_default().contains("监测预警"), "{menu}");
        page.goto(&o.app.url("/console/alerts")).await;
        page.wait_for(&format!("document.readyState === 'complete' && !!document.getElementById('alert-{id}')")).await;
        let card = page.eval(&format!("document.getElementById('alert-{id}').textContent")).await;
        let card = card.as_str().unwrap_or_default().to_string();
        assert!(card.contains("刷接口调用量") && card.contains(&contract), "{card}");
        assert!(card.contains("interface.call"), "the evidence is on the page: {card}");
        page.eval(&format!(
            "(() => {{ const f = document.querySelector('#alert-{id} form[data-action=suspend_contract]');              f.reason.value = '调用量异常激增，暂停核查'; f.requestSubmit(); return true; }})()"
        ))
        .await;
        page.wait_for(&format!(
            "document.readyState === 'complete' && !!document.getElementById('open-alerts') && !document.getElementById('alert-{id}')"
        ))
        .await;
        let (s, _, e) = call(&o, &url, Some(&key)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        let (_, a) = o.call("authority", "GET", &format!("/api/v1/alerts/{id}"), json!({})).await;
        assert_eq!((a["state"].as_str(), a["resolution"]["target"].as_str()), (Some("acted"), Some("contract")), "{a}");

        // The analytics page charts the day's calls and lists them per product.
        page.goto(&o.app.url("/console/analytics?from=2026-11-09&to=2026-11-10")).await;
        page.wait_for("document.readyState === 'complete' && !!document.querySelector('#analytics-charts svg rect')")
            .await;
        let table = page.eval("document.getElementById('analytics-calls_by_product').innerText").await;
        assert!(table.as_str().unwrap_or_default().contains("企业名录核验"), "{table}");
    }

    /// YXO §19: deleting an audit event younger than the retention period is refused for every
    /// role, through the API and by the database itself; the log still verifies.
    async fn young_audit_events_cannot_be_deleted(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let users = [
            "admin",
            "authority",
            "steward",
            "industry",
            "implementer",
            "registrar",
            "operator",
            "analyst",
            "processor",
            "auditor",
            "expert",
            "consumer",
        ];
        for who in users {
            let token = o.app.login(who).await;
            let r = o.app.client.delete(o.app.url("/api/v1/audit/events/3")).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who}");
            let e: Value = r.json().await.unwrap();
            assert_eq!(
                (e["code"].as_str(), e["basis"].as_str()),
                (Some("retention_period"), Some("YXO §19")),
                "{who}: {e}"
            );
            assert!(e["message_zh"].as_str().unwrap().contains("留存期"), "{e}");
        }
        let r = o.app.client.delete(o.app.url("/api/v1/audit/events/3")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "anonymous");

        // Not through SQL either: the database's own triggers refuse.
        let pool = o.app.state().store.pool();
        let deleted = sqlx::query("DELETE FROM audit_events WHERE seq = 3").execute(pool).await;
        assert!(deleted.is_err(), "the database refuses to delete a young event");
        let changed = sqlx::query("UPDATE audit_events SET action = 'x' WHERE seq = 3").execute(pool).await;
        assert!(changed.is_err(), "the database refuses to change an event");
        let shortened = sqlx::query("UPDATE audit_retention SET years = 1").execute(pool).await;
        assert!(shortened.is_err(), "and to shorten the retention");

        // Each attempt is itself in the log, and event 3 is still there with a valid proof.
        let (_, events) =
            o.call("auditor", "GET", "/api/v1/audit/events?action=audit.delete&limit=100", json!({})).await;
        let attempts = events["events"].as_array().unwrap();
        assert_eq!(attempts.len(), users.len() + 1, "{events}");
        assert!(attempts.iter().all(|e| e["outcome"] == "denied"));
        let (s, proof) = o.call("auditor", "GET", "/api/v1/audit/events/3/proof", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{proof}");
        kit::verify_inclusion(&proof);

        // The audit viewer shows the log's verification status and proves the event.
        let token = o.app.login("auditor").await;
        let html = o
            .app
            .client
            .get(o.app.url("/console/audit"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("签名有效，日志与签名树头一致"), "{html}");
        let html = o
            .app
            .client
            .get(o.app.url("/console/audit/events/3"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("已验证：该事件包含在签名树头所承诺的日志中"), "{html}");
    }

    on_both!(young_audit_events_cannot_be_deleted);

    fn valid_uscc(i: u32) -> String {
        let body = format!("91320200MA{i:07}");
        let c = shuyu_core::validators::uscc_check_char(&body).unwrap();
        format!("{body}{c}")
    }

    fn valid_resident_id(i: u32) -> String {
        let body = format!("3202031990{:02}{:02}{:03}", i % 12 + 1, i % 28 + 1, i % 1000);
        let c = shuyu_core::validators::resident_id_check_char(&body).unwrap();
        format!("{body}{c}")
    }

    /// A different check character: the same number with a typo in its last place.
    fn broken(id: &str) -> String {
        let last = id.chars().last().unwrap();
        let other = if last == '0' { '1' } else { '0' };
        format!("{}{other}", &id[..id.len() - 1])
    }

    /// JS §20, YXO §23: a version with broken identifier check characters scores lower and
    /// opens a finding for its department, due in the profile's working days; the department
    /// answers, the authority closes; users and the public file issues too.
    async fn broken_check_characters_lower_the_score_and_reach_the_department(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let entry = o.published_entry("conditional").await;
        let rows = |broken_every: Option<u32>| {
            let mut csv = String::from("uscc,company_name,legal_rep_id\n");
            for i in 0..100u32 {
                let (mut u, mut r) = (valid_uscc(i), valid_resident_id(i));
                if broken_every.is_some_and(|n| i % n == 0) {
                    u = broken(&u);
                    r = broken(&r);
                }
                csv.push_str(&format!("{u},无锡{i}号有限公司,{r}\n"));
            }
            csv
        };
        let (s, v1) = ingest(&o, &entry, &rows(None), "csv").await;
        assert_eq!(s, StatusCode::CREATED, "{v1}");
        assert_eq!(v1["quality"]["score"], 100, "{v1}");
        assert!(v1["quality"]["findings"].as_array().unwrap().is_empty());

        o.go_to("2026-10-13").await;
        let (s, v2) = ingest(&o, &entry, &rows(Some(5)), "csv").await;
        assert_eq!(s, StatusCode::CREATED, "{v2}");
        let score = v2["quality"]["score"].as_u64().unwrap();
        assert!(score < 100, "{v2}");
        let validity = v2["quality"]["dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["dimension"] == "validity")
            .unwrap()
            .clone();
        assert_eq!((validity["checked"].as_u64(), validity["passed"].as_u64()), (Some(200), Some(160)), "{validity}");
        assert_eq!(validity["columns"][0]["failing_rows"][0], 1, "row numbers, never the values: {validity}");
        assert!(!v2.to_string().contains(&broken(&valid_resident_id(0))), "no identifier is copied into the report");
        let findings = v2["quality"]["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1, "{v2}");
        assert_eq!(findings[0]["dimension"], "validity");
        // Ten working days (wuxi's quality_answer_days) from Tuesday 2026-10-13.
        let cal = shuyu_core::calendar::WorkingCalendar::shipped().unwrap();
        let due = cal.add_working_days("2026-10-13".parse().unwrap(), 10).unwrap().to_string();
        assert_eq!(findings[0]["due_on"], due.as_str());

        // The catalogue shows the score per version; the department's score is the latest.
        let q: Value = o.app.get_anon(&format!("/api/v1/public/catalogue/{entry}/quality")).await.json().await.unwrap();
        assert_eq!((q["score"].as_u64(), q["versions"].as_array().unwrap().len()), (Some(score), 2), "{q}");
        let table: Value = o.app.get_anon("/api/v1/public/quality").await.json().await.unwrap();
        let steward_org = o.app.user_record("steward").await.org_id.to_string();
        let dept = table["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["holder_org"] == steward_org.as_str())
            .unwrap()
            .clone();
        assert_eq!((dept["score"].as_u64(), dept["open_issues"].as_u64()), (Some(score), Some(1)), "{table}");

        // Routed to the holding department: its steward sees and answers it; the operator does not.
        let (_, list) = o.call("steward", "GET", "/api/v1/quality-issues", json!({})).await;
        let issue = list["items"].as_array().unwrap().iter().find(|i| i["origin"] == "check").unwrap().clone();
        assert_eq!(
            (issue["holder_org"].as_str(), issue["due_on"].as_str()),
            (Some(steward_org.as_str()), Some(due.as_str()))
        );
        let iid = issue["id"].as_str().unwrap().to_string();
        let (s, _) = o.call("operator", "GET", &format!("/api/v1/quality-issues/{iid}"), json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) =
            o.call("operator", "POST", &format!("/api/v1/quality-issues/{iid}/answer"), json!({"answer": "x"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // An operator reports a problem; the public objects (a contact is required).
        let (s, mine) = o
            .call(
                "analyst",
                "POST",
                &format!("/api/v1/catalogue/{entry}/quality-issues"),
                json!({"kind": "issue", "description": "部分企业名称与营业执照不一致", "dimension": "consistency"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{mine}");
        let r = o
            .app
            .post_anon(
                &format!("/api/v1/public/catalogue/{entry}/quality-issues"),
                &json!({"kind": "objection", "description": "我公司的登记状态有误"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let r = o
            .app
            .post_anon(
                &format!("/api/v1/public/catalogue/{entry}/quality-issues"),
                &json!({"kind": "objection", "description": "我公司的登记状态有误", "contact": "0510-12345678"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let receipt: Value = r.json().await.unwrap();
        assert_eq!(receipt["due_on"], due.as_str(), "{receipt}");
        let (_, theirs) = o.call("analyst", "GET", "/api/v1/quality-issues", json!({})).await;
        assert_eq!(theirs["items"].as_array().unwrap().len(), 1, "the operator sees what it filed only: {theirs}");
        assert!(theirs["items"][0]["contact"].is_null());

        // Answered late is still answered, but the scheduler escalates the unanswered ones.
        let (s, a) = o
            .call(
                "steward",
                "POST",
                &format!("/api/v1/quality-issues/{iid}/answer"),
                json!({"answer": "源系统录入错误，已更正并重新汇聚"}),
            )
            .await;
        assert_eq!((s, a["state"].as_str()), (StatusCode::OK, Some("answered")), "{a}");
        let later = cal.add_working_days("2026-10-13".parse().unwrap(), 11).unwrap().to_string();
        o.go_to(&later).await;
        let (_, list) = o.call("authority", "GET", "/api/v1/quality-issues", json!({})).await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.iter().filter(|i| i["overdue"] == true).count(), 2, "the two unanswered: {list}");
        assert!(items.iter().any(|i| i["contact"] == "0510-12345678"), "the authority sees the public's contact");
        let (s, c) = o
            .call("authority", "POST", &format!("/api/v1/quality-issues/{iid}/close"), json!({"note": "已核实"}))
            .await;
        assert_eq!((s, c["state"].as_str()), (StatusCode::OK, Some("closed")), "{c}");
    }

    on_both!(broken_check_characters_lower_the_score_and_reach_the_department);

    /// JS §20: a field declared `ref:<entry>/<field>` is checked against the other department's
    /// current version; legal representatives missing from it lower the consistency score and
    /// open a finding naming the rows.
    async fn a_reference_to_another_dataset_is_checked_for_consistency(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        reference_is_checked(&o).await;
    }

    pub(crate) async fn reference_is_checked(o: &O) {
        let register = o.published_entry("conditional").await;
        let mut csv = String::from("uscc,company_name,legal_rep_id\n");
        for i in 0..100u32 {
            csv.push_str(&format!("{},无锡{i}号有限公司,{}\n", valid_uscc(i), valid_resident_id(i)));
        }
        assert_eq!(ingest(o, &register, &csv, "csv").await.0, StatusCode::CREATED);

        let mut meta = entry_metadata("企业年报（引用法定代表人）", "conditional", "conditional");
        meta["fields"][2]["format"] = json!(format!("GB 11643, ref:{register}/legal_rep_id"));
        let entry = o.publish_entry(&meta).await;
        let mut csv = String::from("uscc,company_name,legal_rep_id\n");
        for i in 0..100u32 {
            // Every tenth representative is a valid ID that the register does not hold.
            let rep = if i % 10 == 3 { valid_resident_id(i + 500) } else { valid_resident_id(i) };
            csv.push_str(&format!("{},无锡{i}号有限公司,{rep}\n", valid_uscc(i)));
        }
        let (s, v) = ingest(o, &entry, &csv, "csv").await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let dims = v["quality"]["dimensions"].as_array().unwrap();
        let c = dims.iter().find(|d| d["dimension"] == "consistency").unwrap();
        assert_eq!((c["checked"].as_u64(), c["passed"].as_u64()), (Some(100), Some(90)), "{c}");
        assert_eq!(c["columns"][0]["failing_rows"][0], 4, "{c}");
        assert!(c["note"].as_str().unwrap().contains("v1 / legal_rep_id"), "{c}");
        let validity = dims.iter().find(|d| d["dimension"] == "validity").unwrap();
        assert_eq!(validity["passed"], validity["checked"], "the IDs themselves are valid");
        let findings = v["quality"]["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1, "{v}");
        assert_eq!(findings[0]["dimension"], "consistency");
    }

    on_both!(a_reference_to_another_dataset_is_checked_for_consistency);

    /// JS §21, YXO §34, CS §24: an inspection with a finding; the operator rectifies late, the
    /// scheduler escalates, the authority rejects once and accepts, and the inspection closes.
    /// A processor's quarterly security report starts from the platform's own figures.
    async fn inspections_rectification_and_security_reports(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let operator = o.app.user_record("operator").await.org_id.to_string();
        let steward_org = o.app.user_record("steward").await.org_id.to_string();
        let (s, e) = o
            .call(
                "authority",
                "POST",
                "/api/v1/inspections",
                json!({"subject_org": steward_org, "title": "x", "scope": "y", "planned_on": "2026-10-20"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "only operators and processors: {e}");
        let (s, i) = o
            .call("authority", "POST", "/api/v1/inspections",
                  json!({"subject_org": operator, "title": "2026年度数据安全检查", "scope": "授权运营域访问控制与日志", "planned_on": "2026-10-20"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{i}");
        let iid = i["id"].as_str().unwrap().to_string();
        let (s, _) = o
            .call(
                "operator",
                "POST",
                &format!("/api/v1/inspections/{iid}/findings"),
                json!({"description": "x", "rectify_by": "2026-11-30"}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "the inspected do not record findings");
        let (s, f) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/inspections/{iid}/findings"),
                json!({"description": "运维账号未启用双因素认证", "severity": "major", "rectify_by": "2026-10-30"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        let fid = f["id"].as_str().unwrap().to_string();
        let (_, mine) = o.call("operator", "GET", "/api/v1/inspections", json!({})).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
        assert_eq!(mine["items"][0]["state"], "conducted");
        let (_, other) = o.call("processor", "GET", "/api/v1/inspections", json!({})).await;
        assert!(other["items"].as_array().unwrap().is_empty(), "another organisation sees none: {other}");

        // Past the deadline without a rectification: escalated.
        o.go_to("2026-11-02").await;
        let (_, got) = o.call("authority", "GET", &format!("/api/v1/inspections/{iid}"), json!({})).await;
        assert_eq!(got["findings"][0]["overdue"], true, "{got}");
        let (s, r) = o
            .call(
                "operator",
                "POST",
                &format!("/api/v1/inspection-findings/{fid}/rectification"),
                json!({"rectification": "已为全部运维账号启用双因素认证"}),
            )
            .await;
        assert_eq!((s, r["state"].as_str()), (StatusCode::OK, Some("submitted")), "{r}");
        let (s, r) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/inspection-findings/{fid}/decision"),
                json!({"accepted": false, "reason": "缺少配置截图", "rectify_by": "2026-11-20"}),
            )
            .await;
        assert_eq!(
            (s, r["state"].as_str(), r["rectify_by"].as_str()),
            (StatusCode::OK, Some("open"), Some("2026-11-20")),
            "{r}"
        );
        o.call(
            "operator",
            "POST",
            &format!("/api/v1/inspection-findings/{fid}/rectification"),
            json!({"rectification": "补充配置截图与登录日志"}),
        )
        .await;
        let (s, r) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/inspection-findings/{fid}/decision"),
                json!({"accepted": true, "reason": "整改到位"}),
            )
            .await;
        assert_eq!((s, r["state"].as_str()), (StatusCode::OK, Some("accepted")), "{r}");
        let (_, got) = o.call("authority", "GET", &format!("/api/v1/inspections/{iid}"), json!({})).await;
        assert_eq!(got["state"], "closed", "{got}");

        // CS §24: the processor's report for the last quarter, figures filled in by the platform.
        let processor = o.app.user_record("processor").await.org_id.to_string();
        let (s, draft) = o
            .call(
                "processor",
                "GET",
                &format!("/api/v1/organisations/{processor}/security-reports/draft?quarter=2026-Q3"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{draft}");
        assert!(draft["figures"]["events"].is_i64() && draft["figures"]["queries"].is_i64(), "{draft}");
        let (s, _) = o
            .call("processor", "GET", &format!("/api/v1/organisations/{operator}/security-reports/draft"), json!({}))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "only its own");
        let report = |content: Value| json!({"quarter": "2026-Q3", "content": content});
        let (s, e) = o
            .call(
                "processor",
                "POST",
                &format!("/api/v1/organisations/{processor}/security-reports"),
                report(json!({"measures": "访问控制"})),
            )
            .await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("CS §24")), "{e}");
        let full = json!({"measures": "访问控制、日志审计", "incidents": "无", "risks": "弱口令风险已排查", "plans": "四季度开展应急演练"});
        let (s, r) = o
            .call(
                "processor",
                "POST",
                &format!("/api/v1/organisations/{processor}/security-reports"),
                report(full.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let (s, _) = o
            .call("processor", "POST", &format!("/api/v1/organisations/{processor}/security-reports"), report(full))
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "one report a quarter");
        let (_, list) =
            o.call("authority", "GET", &format!("/api/v1/organisations/{processor}/security-reports"), json!({})).await;
        assert_eq!(list["items"][0]["quarter"], "2026-Q3", "{list}");

        // The console's supervision pages render for the people who use them.
        for (who, path, expect) in [
            ("operator", "/console/inspections", "2026年度数据安全检查"),
            ("authority", "/console/inspections", "整改到位"),
            ("authority", "/console/alerts", "监测进度"),
            ("authority", "/console/quality", "部门质量评分"),
            ("authority", "/console/analytics", "各运营机构的查询与扫描量"),
            ("steward", "/console/data-requests", "公众数据需求"),
        ] {
            let token = o.app.login(who).await;
            let r = o.app.client.get(o.app.url(path)).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{who} {path}");
            let html = r.text().await.unwrap();
            assert!(html.contains(expect), "{who} {path}: {expect}");
        }
    }

    on_both!(inspections_rectification_and_security_reports);

    /// The public asks for data not in the catalogue; the authority routes it; the department
    /// answers within the deadline (or is marked overdue); statistics and the annual report show it.
    async fn public_data_requests_statistics_and_annual_report(backend: Backend) {
        let Some(o) = O::spawn(backend, "wuxi").await else { return };
        let ask = |title: &str| {
            json!({"title": title, "description": "按月统计的公交刷卡客流", "purpose": "交通出行研究",
                                       "requester": "某大学交通学院", "contact": "research@example.edu.cn"})
        };
        let r = o.app.post_anon("/api/v1/public/data-requests", &json!({"title": "公交客流"})).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let r = o.app.post_anon("/api/v1/public/data-requests", &ask("公交客流月度统计")).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let receipt: Value = r.json().await.unwrap();
        let cal = shuyu_core::calendar::WorkingCalendar::shipped().unwrap();
        let due = cal.add_working_days("2026-10-12".parse().unwrap(), 20).unwrap().to_string();
        assert_eq!(receipt["due_on"], due.as_str(), "{receipt}");
        let first = receipt["id"].as_str().unwrap().to_string();
        let r: Value = o.app.post_anon("/api/v1/public/data-requests", &ask("出租车订单")).await.json().await.unwrap();
        let second = r["id"].as_str().unwrap().to_string();

        let steward_org = o.app.user_record("steward").await.org_id.to_string();
        let (s, _) = o
            .call(
                "steward",
                "POST",
                &format!("/api/v1/data-requests/{first}/assign"),
                json!({"department_org": steward_org}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "the authority routes");
        for id in [&first, &second] {
            let (s, v) = o
                .call(
                    "authority",
                    "POST",
                    &format!("/api/v1/data-requests/{id}/assign"),
                    json!({"department_org": steward_org}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        let (_, list) = o.call("steward", "GET", "/api/v1/data-requests", json!({})).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        o.go_to("2026-10-16").await;
        let (s, a) = o
            .call(
                "steward",
                "POST",
                &format!("/api/v1/data-requests/{first}/answer"),
                json!({"outcome": "will_catalogue", "answer": "已列入下季度目录编制计划"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{a}");
        let status: Value =
            o.app.get_anon(&format!("/api/v1/public/data-requests/{first}")).await.json().await.unwrap();
        assert_eq!((status["state"].as_str(), status["outcome"].as_str()), (Some("answered"), Some("will_catalogue")));
        assert!(status["contact"].is_null() && !status.to_string().contains("example.edu.cn"), "{status}");

        // The second is left unanswered past its deadline.
        let after = cal.add_working_days("2026-10-12".parse().unwrap(), 21).unwrap().to_string();
        o.go_to(&after).await;
        let stats: Value = o.app.get_anon("/api/v1/public/access-statistics?year=2026").await.json().await.unwrap();
        let dept = stats["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["department_org"] == steward_org.as_str())
            .unwrap()
            .clone();
        assert_eq!(
            (dept["requests_received"].as_i64(), dept["requests_answered"].as_i64(), dept["requests_overdue"].as_i64()),
            (Some(2), Some(1), Some(1)),
            "{stats}"
        );
        assert_eq!(dept["average_working_days"], 4.0, "Monday to Friday: {dept}");

        let (s, report) = o.call("authority", "GET", "/api/v1/annual-report?year=2026", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{report}");
        assert_eq!(report["year"], 2026);
        assert!(report["access"]["departments"].as_array().is_some_and(|d| !d.is_empty()));
        assert!(report["analytics"]["tables"].is_array() && report["activity"].is_array(), "{report}");
        let (s, _) = o.call("operator", "GET", "/api/v1/annual-report?year=2026", json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }

    on_both!(public_data_requests_statistics_and_annual_report);

    /// The public asks from the portal, the authority routes from the console, the department
    /// answers from the console, and the public reads the answer; the annual report prints.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_console_routes_and_answers_a_public_request() {
        let Some((o, browser)) = O::with_browser().await else { return };
        let mut page = browser.page().await;
        page.goto(&o.app.url("/public/data-requests")).await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('public-request-form')").await;
        page.eval(
            "(() => { const f = document.getElementById('public-request-form'); f.title.value = '公交客流月度统计'; \
             f.description.value = '按线路按月的刷卡客流'; f.purpose.value = '交通研究'; f.requester.value = '某大学'; \
             f.contact.value = 'a@example.edu.cn'; f.requestSubmit(); return true; })()",
        )
        .await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('request-status')").await;
        let card = page.eval("document.getElementById('request-status').innerText").await;
        assert!(card.as_str().unwrap_or_default().contains("已受理"), "{card}");
        let id = page.eval("new URLSearchParams(location.search).get('id')").await.as_str().unwrap().to_string();

        super::products::sign_in(&mut page, &o, "authority").await;
        page.goto(&o.app.url("/console/data-requests")).await;
        page.wait_for(&format!("document.readyState === 'complete' && !!document.getElementById('assign-{id}')")).await;
        page.eval(&format!("(() => {{ document.getElementById('assign-{id}').requestSubmit(); return true; }})()"))
            .await;
        page.wait_for(&format!("document.readyState === 'complete' && !document.getElementById('assign-{id}') && !!document.getElementById('request-{id}')")).await;

        super::products::sign_in(&mut page, &o, "steward").await;
        page.goto(&o.app.url("/console/data-requests")).await;
        page.wait_for(&format!("document.readyState === 'complete' && !!document.getElementById('answer-{id}')")).await;
        page.eval(&format!(
            "(() => {{ const f = document.getElementById('answer-{id}'); f.answer.value = '已列入下季度编目计划'; f.requestSubmit(); return true; }})()"
        ))
        .await;
        page.wait_for(&format!("document.readyState === 'complete' && !document.getElementById('answer-{id}') && !!document.getElementById('request-{id}')")).await;

        page.goto(&o.app.url(&format!("/public/data-requests?id={id}"))).await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('request-status')").await;
        let card = page.eval("document.getElementById('request-status').innerText").await;
        let card = card.as_str().unwrap_or_default().to_string();
        assert!(card.contains("已答复") && card.contains("已列入下季度编目计划"), "{card}");
        assert!(!card.contains("example.edu.cn"), "the contact stays private: {card}");

        super::products::sign_in(&mut page, &o, "authority").await;
        page.goto(&o.app.url("/console/annual-report?year=2026")).await;
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('access-statistics')").await;
        let stats = page.eval("document.getElementById('access-statistics').innerText").await;
        assert!(stats.as_str().unwrap_or_default().contains("公安局"), "{stats}");
    }
}

/// Issue 9: object storage. A local directory by default; S3-compatible storage (here moto's
/// S3 server, started by the test) by configuration.
mod objects {
    use super::operators::O;
    use super::sandbox::{ingest, query, workspace_with_grant};
    use super::*;
    use shuyu_server::objects::{Objects, ObjectsConfig};

    /// A moto S3 server on a free port with one bucket; `None` where moto is not installed
    /// (never in CI). Stops when dropped.
    struct S3 {
        child: std::process::Child,
        endpoint: String,
    }

    impl Drop for S3 {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    async fn s3(bucket: &str) -> Option<S3> {
        let python = kit::python_with("moto.server", "moto[server]")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let s3 = S3 { child, endpoint: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.put(format!("{}/{bucket}", s3.endpoint)).send().await.is_ok_and(|r| r.status().is_success()) {
                // Credentials come from the environment, as in production; moto accepts any.
                static CREDENTIALS: std::sync::Once = std::sync::Once::new();
                CREDENTIALS.call_once(|| {
                    std::env::set_var("AWS_ACCESS_KEY_ID", "shuyu-test");
                    std::env::set_var("AWS_SECRET_ACCESS_KEY", "shuyu-test-secret");
                });
                return Some(s3);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("moto's S3 server did not start");
    }

    fn config(s3: &S3, url: &str) -> ObjectsConfig {
        ObjectsConfig {
            url: Some(url.into()),
            endpoint: Some(s3.endpoint.clone()),
            region: Some("us-east-1".into()),
            allow_http: true,
        }
    }

    /// Whole objects in several parts come back as written; an upload that never completes (the
    /// process was killed) leaves nothing anyone can see or read.
    async fn round_trip_and_abandoned_upload(objects: Objects) {
        let big: Vec<u8> = (0..(12 * 1024 * 1024 + 17)).map(|i| (i % 251) as u8).collect();
        objects.put("exports/w1/e1.csv", big.clone().into()).await.unwrap();
        assert_eq!(objects.get("exports/w1/e1.csv").await.unwrap().unwrap().to_vec(), big);
        objects.begin_and_abandon("exports/w1/e2.csv", vec![7u8; 5 * 1024 * 1024].into()).await.unwrap();
        assert_eq!(objects.get("exports/w1/e2.csv").await.unwrap(), None, "no partial object is readable");
        let listed = objects.list("exports/w1/").await.unwrap();
        assert_eq!(listed, vec![("exports/w1/e1.csv".to_string(), big.len() as u64)], "nor listed");
        assert_eq!(objects.delete_under("exports/w1/").await.unwrap(), 1);
        assert_eq!(objects.get("exports/w1/e1.csv").await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_objects_keep_whole_objects_only() {
        let dir = tempfile::tempdir().unwrap();
        round_trip_and_abandoned_upload(Objects::open(&ObjectsConfig::default(), dir.path()).unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_objects_keep_whole_objects_only() {
        let Some(s3) = s3("shuyu-unit").await else { return };
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::open(&config(&s3, "s3://shuyu-unit/city-a"), dir.path()).unwrap();
        round_trip_and_abandoned_upload(objects).await;
        // A bucket that does not exist is an error, not an empty answer.
        let missing = Objects::open(&config(&s3, "s3://no-such-bucket"), dir.path()).unwrap();
        assert!(missing.put("x", vec![1u8].into()).await.is_err());
    }

    /// An approved export is stored in the S3 bucket (nowhere on local disk), downloaded from
    /// there byte for byte, listed on the destruction certificate and deleted with the workspace.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn approved_exports_live_in_s3() {
        let Some(s3) = s3("shuyu-exports").await else { return };
        let cfg = config(&s3, "s3://shuyu-exports/prod");
        let Some(o) = O::spawn_with(Backend::Sqlite, "wuxi", |c| c.objects = cfg).await else { return };
        let o = &o;
        let entry = o.published_entry("conditional").await;
        let csv = "uscc,company_name,legal_rep_id\n913202000000000011,无锡甲科技有限公司,110101199003071234\n";
        assert_eq!(ingest(o, &entry, csv, "csv").await.0, StatusCode::CREATED);
        let (_, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let sql = "CREATE TABLE scores AS SELECT uscc, CAST(substr(uscc, 8, 11) AS BIGINT) * 3 + 1000 AS score FROM enterprises";
        assert_eq!(query(o, "analyst", &ws, sql).await.0, StatusCode::OK);
        let (s, e) = o
            .call(
                "analyst",
                "POST",
                &format!("/api/v1/workspaces/{ws}/exports"),
                json!({"table": "scores", "purpose": "授信评分"}),
            )
            .await;
        assert_eq!((s, e["state"].as_str()), (StatusCode::CREATED, Some("pending_review")), "{e}");
        let eid = e["id"].as_str().unwrap().to_string();
        let (s, e) = o
            .call(
                "authority",
                "POST",
                &format!("/api/v1/exports/{eid}/review"),
                json!({"approved": true, "reason": "符合授权用途"}),
            )
            .await;
        assert_eq!((s, e["state"].as_str()), (StatusCode::OK, Some("approved")), "{e}");

        let key = format!("exports/{ws}/{eid}.csv");
        let bucket =
            Objects::open(&config(&s3, "s3://shuyu-exports/prod"), o.app.state().config.data_dir.as_path()).unwrap();
        let stored = bucket.get(&key).await.unwrap().expect("the export is in the bucket");
        assert!(!o.app.state().config.data_dir.join("objects").join(&key).exists(), "and not on local disk");
        let r = o.download("analyst", &eid).await;
        assert_eq!(r.status(), StatusCode::OK);
        let downloaded = r.bytes().await.unwrap();
        assert_eq!(downloaded.to_vec(), stored.to_vec());
        use sha2::Digest;
        assert_eq!(e["sha256"].as_str().unwrap(), hex::encode(sha2::Sha256::digest(&stored)));

        let (s, c) = o
            .call("operator", "POST", &format!("/api/v1/workspaces/{ws}/destroy"), json!({"reason": "项目目的已实现"}))
            .await;
        assert_eq!(s, StatusCode::OK, "{c}");
        let listed = c["certificate"]["objects"].as_array().unwrap();
        assert!(listed.iter().any(|x| x["path"] == format!("objects:{key}")), "{c}");
        assert_eq!(bucket.get(&key).await.unwrap(), None, "destroyed with its workspace");
    }

    /// With S3-compatible storage a loaded dataset version is in the bucket and not on the
    /// server's disk; governed queries read it there with the grant's row filter and masks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn datasets_live_in_s3_and_are_queried_there() {
        let Some(s3) = s3("shuyu-data").await else { return };
        let cfg = config(&s3, "s3://shuyu-data/city");
        let Some(o) = O::spawn_with(Backend::Sqlite, "wuxi", |c| c.objects = cfg).await else { return };
        let o = &o;
        let entry = o.published_entry("conditional").await;
        let csv = "uscc,company_name,legal_rep_id\n\
                   913202000000000011,无锡甲科技有限公司,110101199003071234\n\
                   91320200000000003X,无锡乙贸易有限公司,110101199003071234\n\
                   913202000000000054,无锡丙制造有限公司,320102197705053456\n";
        let (s, d) = ingest(o, &entry, csv, "csv").await;
        assert_eq!(s, StatusCode::CREATED, "{d}");
        let bucket =
            Objects::open(&config(&s3, "s3://shuyu-data/city"), o.app.state().config.data_dir.as_path()).unwrap();
        let listed = bucket.list(&format!("datasets/{entry}/")).await.unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].0.ends_with("/v1/data.parquet"), "{listed:?}");
        assert!(!o.app.state().config.data_dir.join("datasets").join(&entry).exists(), "nothing on local disk");

        let (_, ws) = workspace_with_grant(o, &entry, "2027-06-30").await;
        let (s, v) = query(o, "analyst", &ws, "SELECT uscc, company_name FROM enterprises ORDER BY uscc").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            v["rows"],
            json!([["913202000000000011", "无*******司"], ["913202000000000054", "无*******司"]]),
            "the row filter and the mask apply to data read from the bucket"
        );
        let (s, e) = query(o, "analyst", &ws, "SELECT legal_rep_id FROM enterprises").await;
        assert_eq!((s, e["basis"].as_str()), (StatusCode::FORBIDDEN, Some("JS §13")), "{e}");
        let (s, v) = query(o, "analyst", &ws, "SELECT count(DISTINCT legal_rep_id) AS people FROM enterprises").await;
        assert_eq!((s, v["rows"].clone()), (StatusCode::OK, json!([[2]])), "{v}");

        // A second version is a new prefix; the first stays as it was.
        let (s, _) = ingest(o, &entry, csv, "csv").await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(bucket.list(&format!("datasets/{entry}/")).await.unwrap().len(), 2);
    }

    /// JS §20's consistency check reads the referenced department's current version when that
    /// version is in the bucket, exactly as when it is on disk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reference_to_a_dataset_in_s3_is_checked() {
        let Some(s3) = s3("shuyu-refs").await else { return };
        let cfg = config(&s3, "s3://shuyu-refs");
        let Some(o) = O::spawn_with(Backend::Sqlite, "wuxi", |c| c.objects = cfg).await else { return };
        super::supervision::reference_is_checked(&o).await;
        let local = std::fs::read_dir(o.app.state().config.data_dir.join("datasets")).map_or(0, |d| d.count());
        assert_eq!(local, 0, "both versions are in the bucket");
    }

    /// An uploaded attachment's bytes are in the bucket, not in the database; the public download
    /// of open data serves them from there; bytes altered in storage are withheld, not served.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attachments_live_in_s3_and_altered_bytes_are_withheld() {
        let Some(s3) = s3("shuyu-files").await else { return };
        let cfg = config(&s3, "s3://shuyu-files/city");
        let Some(o) = O::spawn_with(Backend::Sqlite, "wuxi", |c| c.objects = cfg).await else { return };
        let steward = o.app.login("steward").await;
        let content = b"line,stop,lng,lat\n1,Xihu Road,120.31,31.58\n".to_vec();
        let file = o.app.upload(&steward, "stops.csv", &content).await;
        let bucket =
            Objects::open(&config(&s3, "s3://shuyu-files/city"), o.app.state().config.data_dir.as_path()).unwrap();
        let listed = bucket.list("attachments/").await.unwrap();
        let key =
            listed.iter().map(|(k, _)| k.clone()).find(|k| k.ends_with(&format!("/{file}"))).expect("in the bucket");
        assert_eq!(bucket.get(&key).await.unwrap().unwrap().to_vec(), content);
        let mut db = o.app.state().store.acquire().await.unwrap();
        let inline: Vec<u8> = sqlx::query_scalar("SELECT content FROM attachments WHERE id = $1")
            .bind(&file)
            .fetch_one(&mut *db)
            .await
            .unwrap();
        drop(db);
        assert!(inline.is_empty(), "the database keeps the digest, not the bytes");

        let open = o.publish_entry(&kit::entry_metadata("公交站点", "unconditional", "unconditional")).await;
        let (s, v) = o
            .call(
                "steward",
                "POST",
                &format!("/api/v1/catalogue/{open}/actions/attach_open_data"),
                json!({"attachment_id": file}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let r = o.app.get_anon(&format!("/api/v1/public/catalogue/{open}/download")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().to_vec(), content);

        // Someone with access to the bucket swaps the file: the digest no longer matches.
        bucket.put(&key, b"line,stop\n1,Fake\n".to_vec().into()).await.unwrap();
        let r = o.app.get_anon(&format!("/api/v1/public/catalogue/{open}/download")).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["code"], "attachment_altered", "{e}");
    }
}

/// Issue 9: several servers on one PostgreSQL database.
mod scale {
    use super::*;

    async fn admin_post(app: &TestApp, path: &str, body: Value) -> Value {
        let token = app.login("admin").await;
        let r = app.client.post(app.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    async fn leads(app: &TestApp) -> bool {
        let v: Value = app.get_anon("/readyz").await.json().await.unwrap();
        v["scheduler_leader"].as_bool().unwrap()
    }

    /// Two servers on one database: one leads; a deadline that both see fall due at once is
    /// transitioned once; when the leader stops the other leads within seconds, and the log the
    /// two wrote is one append-only log.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_servers_share_one_database_and_one_scheduler() {
        let Some(a) = TestApp::try_spawn_postgres(true).await else { return };
        let b = a.spawn_beside(|c| c.leader_check_secs = 1).await;
        assert!(leads(&a).await && !leads(&b).await, "the first server leads, the second follows");
        let first_head = admin_post(&a, "/api/v1/audit/tree-head", json!({})).await;

        for app in [&a, &b] {
            admin_post(app, "/api/v1/admin/test-clock", json!({"set": "2026-09-30T01:00:00Z"})).await;
        }
        let steward = b.login("steward").await;
        let id =
            b.create_entry(&steward, &kit::entry_metadata("两台服务器共享的目录", "conditional", "conditional")).await;
        let r = b
            .client
            .post(b.url(&format!("/api/v1/catalogue/{id}/actions/submit")))
            .bearer_auth(&steward)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // Both processes see the review deadline pass at the same moment and both run what fell
        // due: the escalation happens once.
        let later = json!({"set": "2026-10-12T01:00:00Z"});
        tokio::join!(
            admin_post(&a, "/api/v1/admin/test-clock", later.clone()),
            admin_post(&b, "/api/v1/admin/test-clock", later.clone())
        );
        let auditor = a.login("auditor").await;
        let events = a
            .get_json(&auditor, &format!("/api/v1/audit/events?action=catalogue.overdue&resource=catalogue_entry:{id}"))
            .await;
        assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");

        let _dir = a.stop().await;
        let stopped = std::time::Instant::now();
        while !leads(&b).await {
            assert!(stopped.elapsed() < std::time::Duration::from_secs(30), "no failover within 30 s");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // The log the two wrote extends the first tree head.
        let second_head = admin_post(&b, "/api/v1/audit/tree-head", json!({})).await;
        let key: Value = b.get_anon("/api/v1/audit/public-key").await.json().await.unwrap();
        kit::verify_tree_head(&key, &second_head);
        let (m, n) = (first_head["size"].as_u64().unwrap(), second_head["size"].as_u64().unwrap());
        assert!(n > m);
        let c: Value =
            b.get_anon(&format!("/api/v1/audit/consistency?first={m}&second={n}")).await.json().await.unwrap();
        assert_eq!(c["first_root"], first_head["root"]);
        kit::verify_consistency(&c);
    }
}
