//! Integration tests: the real server on a random port, against a temporary SQLite file and,
//! when `SHUYU_TEST_DATABASE_URL` is set (CI sets it), against a fresh PostgreSQL database.

mod kit;

use kit::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

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
    let metrics = app.get_anon("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("shuyu_http_requests_total"));
    assert!(metrics.contains("shuyu_audit_events"));
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
            page.wait_for("location.pathname === '/console' && !!document.getElementById('menu')").await;
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
            page.wait_for("location.pathname === '/console/login'").await;
        }
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
    ] {
        let r = admin.get(app.url(path)).send().await.unwrap();
        let csp = r.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
        assert!(csp.contains("default-src 'self'"));
        let html = r.text().await.unwrap();
        assert!(!html.contains("style=\""), "{path} has an inline style");
        assert!(!html.contains("<script>"), "{path} has an inline script");
    }
}
