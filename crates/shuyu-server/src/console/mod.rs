//! The web console: server-rendered pages in Chinese (English on request), navigation by role.
//! A menu item shows only when the policies would allow its action, so the menu and the API
//! can never disagree. Every label comes from the message catalogue.

mod catalogue;
mod html;
mod operators;
mod products;
mod public;
mod registration;
mod sandbox;
mod supervision;

use axum::extract::State;
use axum::http::header::{self, SET_COOKIE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use shuyu_authz::{Action, Principal, Resource};
use shuyu_store::{audit, organisations, users};

use crate::auth::{Caller, LANG_COOKIE};
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::i18n::{t, Lang};
use crate::routes::audit::{parse_filter, EventQuery, EventView};
use crate::routes::users::UserView;
use crate::state::AppState;
use html::{esc, Page};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(home))
        .route("/console/login", get(login_page))
        .route("/console/lang/{lang}", get(set_lang))
        .route("/console/organisations", get(organisations_page))
        .route("/console/users", get(users_page))
        .route("/console/audit", get(audit_page))
        .route("/console/audit/events/{seq}", get(audit_event_page))
        .route("/console/calendar", get(calendar_page))
        .route("/console/profile", get(profile_page))
        .route("/console/account", get(account_page))
        .route("/console/registrations", get(registration::list_page))
        .route("/console/registrations/new", get(registration::new_page))
        .route("/console/registrations/{id}", get(registration::detail_page))
        .route("/console/certificates", get(registration::certificates_page))
        .route("/console/catalogue", get(catalogue::catalogue_page))
        .route("/console/programmes", get(operators::programmes_page))
        .route("/console/announcements", get(operators::announcements_page))
        .route("/console/agreements", get(operators::agreements_page))
        .route("/console/personnel", get(operators::personnel_page))
        .route("/console/sharing", get(catalogue::sharing_page))
        .route("/console/grants", get(sandbox::grants_page))
        .route("/console/workspaces", get(sandbox::workspaces_page))
        .route("/console/workspaces/{id}", get(sandbox::workspace_page))
        .route("/console/exports", get(sandbox::exports_page))
        .route("/console/products", get(products::products_page))
        .route("/console/market", get(products::market_page))
        .route("/console/contracts", get(products::contracts_page))
        .route("/console/alerts", get(supervision::alerts_page))
        .route("/console/analytics", get(supervision::analytics_page))
        .route("/console/inspections", get(supervision::inspections_page))
        .route("/console/data-requests", get(supervision::data_requests_page))
        .route("/console/annual-report", get(supervision::annual_report_page))
        .route("/public/data-requests", get(supervision::public_requests_page))
        .route("/console/quality", get(supervision::quality_page))
        .route("/public/market", get(products::public_market))
        .route("/public/disclosure", get(products::public_disclosure))
        .route("/public", get(|| async { Redirect::to("/public/catalogue") }))
        .route("/public/catalogue", get(public::catalogue_page))
        .route("/public/publicity", get(public::publicity_page))
        .route("/public/verify", get(public::verify_form))
        .route("/public/certificates/{code}", get(public::certificate_page))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
}

/// One menu entry: catalogue key, link, and the action whose permission shows it.
struct NavItem {
    key: &'static str,
    href: &'static str,
    action: Action,
    resource: fn() -> Resource,
}

const NAV: &[NavItem] = &[
    NavItem { key: "nav.home", href: "/console", action: Action::SessionMe, resource: Resource::platform },
    NavItem {
        key: "nav.organisations",
        href: "/console/organisations",
        action: Action::OrganisationList,
        resource: Resource::platform,
    },
    NavItem { key: "nav.users", href: "/console/users", action: Action::UserList, resource: Resource::platform },
    NavItem {
        key: "nav.catalogue",
        href: "/console/catalogue",
        action: Action::CatalogueList,
        resource: Resource::platform,
    },
    NavItem { key: "nav.sharing", href: "/console/sharing", action: Action::SharingList, resource: Resource::platform },
    NavItem {
        key: "nav.registrations",
        href: "/console/registrations",
        action: Action::RegistrationList,
        resource: Resource::platform,
    },
    NavItem {
        key: "nav.certificates",
        href: "/console/certificates",
        action: Action::CertificateList,
        resource: Resource::platform,
    },
    NavItem {
        key: "nav.programmes",
        href: "/console/programmes",
        action: Action::ProgrammeRead,
        resource: Resource::platform,
    },
    NavItem {
        key: "nav.announcements",
        href: "/console/announcements",
        action: Action::OperatorAnnouncementRead,
        resource: Resource::platform,
    },
    NavItem {
        key: "nav.agreements",
        href: "/console/agreements",
        action: Action::AgreementList,
        resource: Resource::platform,
    },
    NavItem {
        key: "nav.personnel",
        href: "/console/personnel",
        action: Action::PersonnelList,
        resource: Resource::platform,
    },
    NavItem { key: "nav.grants", href: "/console/grants", action: Action::GrantList, resource: Resource::platform },
    NavItem {
        key: "nav.workspaces",
        href: "/console/workspaces",
        action: Action::WorkspaceList,
        resource: Resource::platform,
    },
    NavItem { key: "nav.exports", href: "/console/exports", action: Action::ExportList, resource: Resource::platform },
    NavItem {
        key: "nav.products",
        href: "/console/products",
        action: Action::ProductList,
        resource: Resource::platform,
    },
    NavItem { key: "nav.market", href: "/console/market", action: Action::MarketRead, resource: Resource::platform },
    NavItem {
        key: "nav.contracts",
        href: "/console/contracts",
        action: Action::ContractList,
        resource: Resource::platform,
    },
    NavItem {
        key: "nav.analytics",
        href: "/console/analytics",
        action: Action::AnalyticsRead,
        resource: Resource::platform,
    },
    NavItem {
        key: "nav.annual_report",
        href: "/console/annual-report",
        action: Action::AnalyticsRead,
        resource: Resource::platform,
    },
    NavItem { key: "nav.alerts", href: "/console/alerts", action: Action::AlertList, resource: Resource::platform },
    NavItem {
        key: "nav.inspections",
        href: "/console/inspections",
        action: Action::InspectionList,
        resource: Resource::platform,
    },
    NavItem {
        key: "nav.data_requests",
        href: "/console/data-requests",
        action: Action::DataRequestList,
        resource: Resource::platform,
    },
    NavItem {
        key: "nav.quality",
        href: "/console/quality",
        action: Action::QualityIssueList,
        resource: Resource::platform,
    },
    NavItem { key: "nav.audit", href: "/console/audit", action: Action::AuditQuery, resource: Resource::audit_log },
    NavItem {
        key: "nav.calendar",
        href: "/console/calendar",
        action: Action::CalendarRead,
        resource: Resource::platform,
    },
    NavItem { key: "nav.profile", href: "/console/profile", action: Action::ProfileRead, resource: Resource::platform },
    NavItem { key: "nav.account", href: "/console/account", action: Action::SessionMe, resource: Resource::platform },
];

/// The menu the caller's roles allow, as (label, href).
pub fn menu(app: &AppState, caller: &Caller) -> Vec<(String, &'static str)> {
    NAV.iter()
        .filter(|item| app.authz.authorize(&caller.principal, item.action, &(item.resource)()).is_ok())
        .map(|item| (t(caller.lang, item.key), item.href))
        .collect()
}

fn page(app: &AppState, caller: &Caller, active: &str, title_key: &str, body: String) -> Response {
    let lang = caller.lang;
    let user = caller.user.as_ref();
    let roles = user
        .map(|u| u.roles.iter().map(|r| t(lang, &r.label_key())).collect::<Vec<_>>().join("、"))
        .unwrap_or_default();
    Page {
        lang,
        title: t(lang, title_key),
        user_line: user.map(|u| format!("{}（{}）", u.display_name, roles)),
        menu: menu(app, caller),
        active: active.to_string(),
        body,
    }
    .render()
}

fn signed_in(caller: &Caller) -> Option<Response> {
    match caller.principal {
        Principal::Anonymous => Some(Redirect::to("/console/login").into_response()),
        Principal::User { .. } => None,
    }
}

/// Renders a refusal as a page; the refusal was already audited by `authorize`.
async fn allowed(app: &AppState, caller: &Caller, action: Action, resource: &Resource) -> Result<(), Response> {
    app.authorize(caller, action, resource).await.map_err(|e| internal(app, caller, e))
}

/// An API error shown as a console page in the caller's language.
fn internal(app: &AppState, caller: &Caller, e: ApiError) -> Response {
    let msg = match caller.lang {
        Lang::Zh => &e.body.message_zh,
        Lang::En => &e.body.message,
    };
    (e.status, page(app, caller, "", "app.name", format!("<p class=\"error\">{}</p>", esc(msg)))).into_response()
}

async fn login_page(caller: Caller) -> Response {
    let lang = caller.lang;
    let body = format!(
        r#"<div class="login"><h1>{name} · {title}</h1>
<p class="muted center">{tagline}</p>
<form id="login-form" autocomplete="on">
<label>{username}<input name="username" autocomplete="username" required></label>
<label>{password}<input name="password" type="password" autocomplete="current-password" required></label>
<div id="login-error" class="error" role="alert"></div>
<button class="primary" type="submit">{submit}</button>
</form>
<p class="center"><a href="/console/lang/{other}?next=/console/login">{switch}</a></p></div>"#,
        name = esc(&t(lang, "app.name")),
        title = esc(&t(lang, "login.title")),
        tagline = esc(&t(lang, "app.tagline")),
        username = esc(&t(lang, "login.username")),
        password = esc(&t(lang, "login.password")),
        submit = esc(&t(lang, "login.submit")),
        other = lang.other().code(),
        switch = esc(&t(lang, "app.switch_language")),
    );
    html::bare(lang, &t(lang, "login.title"), &body)
}

#[derive(Debug, serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn set_lang(ApiPath(lang): ApiPath<String>, ApiQuery(q): ApiQuery<NextQuery>) -> Response {
    let lang = Lang::parse(&lang).unwrap_or_default();
    // Only local paths, so the switch cannot be used as an open redirect.
    let next = q.next.filter(|n| n.starts_with('/') && !n.starts_with("//")).unwrap_or_else(|| "/console".into());
    let cookie = format!("{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000", lang.code());
    let mut response = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}

async fn home(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let Some(user) = caller.user.as_ref() else { return Redirect::to("/console/login").into_response() };
    let mut conn = match app.store.pool().acquire().await {
        Ok(c) => c,
        Err(e) => return internal(&app, &caller, shuyu_store::StoreError::from(e).into()),
    };
    let org = organisations::get(&mut conn, user.org_id).await.ok().flatten();
    let sth = audit::latest_tree_head(&mut conn).await.ok().flatten();
    drop(conn);
    let size = app.ledger.sync(&app.store).await.unwrap_or(0);
    let roles = user
        .roles
        .iter()
        .map(|r| format!("<span class=\"tag\">{}</span>", esc(&t(lang, &r.label_key()))))
        .collect::<String>();
    let card = |label: &str, value: String| {
        format!(
            "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div></div>",
            esc(&t(lang, label)),
            value
        )
    };
    let mut body = format!("<h1>{}</h1><div class=\"cards\">", esc(&t(lang, "home.welcome")));
    body.push_str(&card("home.your_roles", roles));
    body.push_str(&card(
        "home.your_organisation",
        esc(&org.map(|o| format!("{}（{}）", o.name, t(lang, &o.kind.label_key()))).unwrap_or_default()),
    ));
    body.push_str(&card("home.today", esc(&app.clock.today().to_string())));
    body.push_str(&card("home.audit_size", size.to_string()));
    body.push_str("</div>");
    if let Some(sth) = sth {
        body.push_str(&format!(
            "<div class=\"card\"><div class=\"label\">{}</div><p class=\"mono\">size={} root={} {}</p></div>",
            esc(&t(lang, "home.tree_head")),
            sth.head.size,
            sth.head.root,
            esc(&shuyu_core::clock::format_instant(sth.head.timestamp))
        ));
    }
    page(&app, &caller, "/console", "nav.home", body)
}

async fn organisations_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    if let Err(r) = allowed(&app, &caller, Action::OrganisationList, &Resource::platform()).await {
        return r;
    }
    let lang = caller.lang;
    let orgs = match app.store.pool().acquire().await {
        Ok(mut conn) => organisations::list(&mut conn).await.map_err(ApiError::from),
        Err(e) => Err(shuyu_store::StoreError::from(e).into()),
    };
    let orgs = match orgs {
        Ok(o) => o,
        Err(e) => return internal(&app, &caller, e),
    };
    if let Err(e) = app
        .record_access(
            &caller,
            Action::OrganisationList,
            "platform:shuyu",
            json!({"count": orgs.len(), "via": "console"}),
        )
        .await
    {
        return internal(&app, &caller, e);
    }
    let rows = orgs
        .iter()
        .map(|o| {
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
                esc(&o.name),
                esc(&t(lang, &o.kind.label_key())),
                esc(o.uscc.as_deref().unwrap_or(""))
            )
        })
        .collect::<String>();
    let body = format!(
        "<h1>{}</h1><table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        esc(&t(lang, "nav.organisations")),
        esc(&t(lang, "field.name")),
        esc(&t(lang, "field.kind")),
        esc(&t(lang, "field.uscc")),
        rows
    );
    page(&app, &caller, "/console/organisations", "nav.organisations", body)
}

async fn users_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    if let Err(r) = allowed(&app, &caller, Action::UserList, &Resource::platform()).await {
        return r;
    }
    let lang = caller.lang;
    let (all, orgs) = match app.store.pool().acquire().await {
        Ok(mut conn) => {
            let all = users::list(&mut conn, None).await;
            let orgs = organisations::list(&mut conn).await;
            match (all, orgs) {
                (Ok(a), Ok(o)) => (a, o),
                (Err(e), _) | (_, Err(e)) => return internal(&app, &caller, e.into()),
            }
        }
        Err(e) => return internal(&app, &caller, shuyu_store::StoreError::from(e).into()),
    };
    if let Err(e) = app
        .record_access(&caller, Action::UserList, "platform:shuyu", json!({"count": all.len(), "via": "console"}))
        .await
    {
        return internal(&app, &caller, e);
    }
    let unmasked = caller.user.as_ref().is_some_and(|u| u.roles.iter().any(|r| r.sees_personal_identifiers()));
    let rows = all
        .iter()
        .map(|u| {
            let v = UserView::of(u, unmasked || caller.user.as_ref().is_some_and(|me| me.id == u.id));
            let org = orgs.iter().find(|o| o.id == u.org_id).map(|o| o.name.clone()).unwrap_or_default();
            let roles = u.roles.iter().map(|r| format!("<span class=\"tag\">{}</span>", esc(&t(lang, &r.label_key())))).collect::<String>();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
                esc(&v.username),
                esc(&v.display_name),
                esc(&org),
                roles,
                esc(v.real_name.as_deref().unwrap_or("")),
                esc(v.resident_id.as_deref().unwrap_or("")),
                esc(v.phone.as_deref().unwrap_or("")),
                esc(&t(lang, &format!("status.{}", v.status)))
            )
        })
        .collect::<String>();
    let head = [
        "field.username",
        "field.display_name",
        "field.organisation",
        "field.roles",
        "field.real_name",
        "field.resident_id",
        "field.phone",
        "field.status",
    ]
    .iter()
    .map(|k| format!("<th>{}</th>", esc(&t(lang, k))))
    .collect::<String>();
    let body = format!(
        "<h1>{}</h1><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>",
        esc(&t(lang, "nav.users"))
    );
    page(&app, &caller, "/console/users", "nav.users", body)
}

async fn audit_page(State(app): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<EventQuery>) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    if let Err(r) = allowed(&app, &caller, Action::AuditQuery, &Resource::audit_log()).await {
        return r;
    }
    let lang = caller.lang;
    let filter = match parse_filter(&q) {
        Ok(f) => f,
        Err(e) => return internal(&app, &caller, e),
    };
    let events = match app.store.pool().acquire().await {
        Ok(mut conn) => audit::query(&mut conn, &filter).await.map_err(ApiError::from),
        Err(e) => Err(shuyu_store::StoreError::from(e).into()),
    };
    let events = match events {
        Ok(e) => e,
        Err(e) => return internal(&app, &caller, e),
    };
    if let Err(e) = app
        .record_access(
            &caller,
            Action::AuditQuery,
            "audit_log:main",
            json!({"returned": events.len(), "via": "console"}),
        )
        .await
    {
        return internal(&app, &caller, e);
    }
    let input = |name: &str, key: &str, value: &Option<String>| {
        format!(
            "<label>{}<input name=\"{name}\" value=\"{}\"></label>",
            esc(&t(lang, key)),
            esc(value.as_deref().unwrap_or(""))
        )
    };
    let mut body = format!(
        "<h1>{}</h1><p class=\"muted\">{}</p><form class=\"inline\" method=\"get\">",
        esc(&t(lang, "nav.audit")),
        esc(&t(lang, "audit.verify_hint"))
    );
    body.push_str(&input("actor", "field.actor", &q.actor));
    body.push_str(&input("action", "field.action", &q.action));
    body.push_str(&input("resource", "field.resource", &q.resource));
    body.push_str(&format!(
        "<button class=\"primary\" type=\"submit\">{}</button></form>",
        esc(&t(lang, "audit.filter"))
    ));
    let head = [
        "field.seq",
        "field.time",
        "field.actor",
        "field.action",
        "field.resource",
        "field.outcome",
        "field.client_addr",
    ]
    .iter()
    .map(|k| format!("<th>{}</th>", esc(&t(lang, k))))
    .collect::<String>();
    let rows = events
        .iter()
        .map(EventView::from)
        .map(|e| {
            format!(
                "<tr><td><a href=\"/console/audit/events/{seq}\">{seq}</a></td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
                esc(&e.time),
                esc(&e.actor),
                esc(&e.action),
                esc(&e.resource),
                esc(&t(lang, &format!("outcome.{}", e.outcome))),
                esc(&e.client_addr),
                seq = e.seq,
            )
        })
        .collect::<String>();
    match log_status(&app).await {
        Ok(status) => body.push_str(&status_line(lang, &status)),
        Err(e) => return internal(&app, &caller, e),
    }
    body.push_str(&format!("<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"));
    if let Some(last) = events.last().filter(|_| events.len() == filter.limit as usize) {
        body.push_str(&format!(
            "<p><a href=\"/console/audit?after={}\">{}</a></p>",
            last.event.seq,
            esc(&t(lang, "audit.next_page"))
        ));
    }
    page(&app, &caller, "/console/audit", "nav.audit", body)
}

/// The log's verification status as the viewer shows it: its size, the latest signed tree head,
/// whether that head's signature verifies with the platform's key and whether the log the server
/// holds still has that root.
struct LogStatus {
    size: u64,
    head: Option<shuyu_audit::SignedTreeHead>,
    signature_ok: bool,
    root_ok: bool,
    /// Archive files holding events past the retention period (YXO §19), oldest first.
    archives: Vec<shuyu_store::audit_archive::ArchiveRecord>,
}

impl LogStatus {
    /// The archive holding event `seq`, if it left the database.
    fn archive_of(&self, seq: u64) -> Option<&shuyu_store::audit_archive::ArchiveRecord> {
        self.archives.iter().find(|a| a.first_seq <= seq && seq < a.end_seq)
    }
}

async fn log_status(app: &AppState) -> Result<LogStatus, ApiError> {
    let size = app.ledger.sync(&app.store).await?;
    let mut conn = app.store.acquire().await?;
    let head = audit::latest_tree_head(&mut conn).await?;
    let archives = shuyu_store::audit_archive::archives(&mut conn).await?;
    drop(conn);
    let (signature_ok, root_ok) = match &head {
        Some(h) => (
            shuyu_audit::verify_tree_head(&app.signer.verifying_key(), h).is_ok(),
            app.ledger.root_at(h.head.size).await.is_ok_and(|r| r == h.head.root),
        ),
        None => (false, false),
    };
    Ok(LogStatus { size, head, signature_ok, root_ok, archives })
}

fn status_line(lang: Lang, s: &LogStatus) -> String {
    let verdict = if s.head.is_some() && s.signature_ok && s.root_ok { "audit.verified" } else { "audit.not_verified" };
    let head = s
        .head
        .as_ref()
        .map(|h| format!("{} {} · {}", esc(&t(lang, "audit.signed_head")), h.head.size, esc(&h.timestamp_rfc3339())))
        .unwrap_or_default();
    let archived = match s.archives.last() {
        Some(last) => format!(
            "<p id=\"archive-status\" class=\"muted\">{} {} · {} {}</p>",
            esc(&t(lang, "audit.archived_events")),
            last.end_seq,
            esc(&t(lang, "audit.archive_files")),
            s.archives.len()
        ),
        None => String::new(),
    };
    format!(
        "<p id=\"log-status\" class=\"{cls}\">{size_l} {size} · {head} · <strong>{verdict}</strong></p>{archived}",
        cls = if verdict == "audit.verified" { "ok" } else { "error" },
        size_l = esc(&t(lang, "audit.log_size")),
        size = s.size,
        verdict = esc(&t(lang, verdict)),
    )
}

/// One event with its inclusion proof in the latest signed tree head, checked here (and
/// checkable by anyone with the public key and `GET /api/v1/audit/events/{seq}/proof`).
async fn audit_event_page(State(app): State<AppState>, caller: Caller, ApiPath(seq): ApiPath<u64>) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    if let Err(r) = allowed(&app, &caller, Action::AuditInclusionProof, &Resource::audit_log()).await {
        return r;
    }
    let lang = caller.lang;
    let status = match log_status(&app).await {
        Ok(s) => s,
        Err(e) => return internal(&app, &caller, e),
    };
    let event = match app.store.acquire().await {
        Ok(mut conn) => audit::get(&mut conn, seq).await.map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    let event = match event {
        Ok(Some(e)) => e,
        Ok(None) => {
            // An archived event left the database; its leaf, and so its proof, did not.
            let Some(archive) = status.archive_of(seq) else {
                return internal(&app, &caller, ApiError::not_found("audit event"));
            };
            let body = format!(
                "<h1>{title} {seq}</h1>{status}<p id=\"event-archived\">{archived} <span class=\"mono\">{file}</span> (SHA-256 <span class=\"mono\">{sha}</span>)</p>",
                title = esc(&t(lang, "nav.audit")),
                status = status_line(lang, &status),
                archived = esc(&t(lang, "audit.event_archived")),
                file = esc(&archive.file),
                sha = esc(&archive.sha256),
            );
            return page(&app, &caller, "/console/audit", "nav.audit", body);
        }
        Err(e) => return internal(&app, &caller, e),
    };
    let proof = match status.head.as_ref().filter(|h| h.head.size > seq) {
        Some(h) => match app.ledger.inclusion_proof(seq, h.head.size).await {
            Ok((leaf, path, root)) => {
                let ok = leaf == event.leaf_hash
                    && root == h.head.root
                    && shuyu_audit::verify_inclusion(&leaf, seq, h.head.size, &path, &root).is_ok();
                format!(
                    "<p id=\"proof-status\" class=\"{}\"><strong>{}</strong></p><p class=\"mono\">{} {} · root {}</p><ol class=\"mono\">{}</ol>",
                    if ok { "ok" } else { "error" },
                    esc(&t(lang, if ok { "audit.included" } else { "audit.not_included" })),
                    esc(&t(lang, "audit.signed_head")),
                    h.head.size,
                    root,
                    path.iter().map(|p| format!("<li>{p}</li>")).collect::<String>()
                )
            }
            Err(e) => return internal(&app, &caller, e.into()),
        },
        None => format!("<p id=\"proof-status\" class=\"muted\">{}</p>", esc(&t(lang, "audit.not_yet_signed"))),
    };
    if let Err(e) = app
        .record_access(&caller, Action::AuditInclusionProof, &format!("audit_event:{seq}"), json!({"via": "console"}))
        .await
    {
        return internal(&app, &caller, e);
    }
    let view = EventView::from(&event);
    let body = format!(
        "<h1>{title} {seq}</h1>{status}<table><tbody>\
         <tr><th>{time_l}</th><td class=\"mono\">{time}</td></tr><tr><th>{actor_l}</th><td class=\"mono\">{actor}</td></tr>\
         <tr><th>{action_l}</th><td>{action}</td></tr><tr><th>{res_l}</th><td class=\"mono\">{resource}</td></tr>\
         <tr><th>{out_l}</th><td>{outcome}</td></tr><tr><th>leaf</th><td class=\"mono\">{leaf}</td></tr></tbody></table>\
         <pre class=\"mono\">{details}</pre><h2>{proof_l}</h2>{proof}",
        title = esc(&t(lang, "nav.audit")),
        status = status_line(lang, &status),
        time_l = esc(&t(lang, "field.time")),
        time = esc(&view.time),
        actor_l = esc(&t(lang, "field.actor")),
        actor = esc(&view.actor),
        action_l = esc(&t(lang, "field.action")),
        action = esc(&view.action),
        res_l = esc(&t(lang, "field.resource")),
        resource = esc(&view.resource),
        out_l = esc(&t(lang, "field.outcome")),
        outcome = esc(&t(lang, &format!("outcome.{}", view.outcome))),
        leaf = esc(&view.leaf_hash),
        details = esc(&serde_json::to_string_pretty(&view.details).unwrap_or_default()),
        proof_l = esc(&t(lang, "audit.proof")),
    );
    page(&app, &caller, "/console/audit", "nav.audit", body)
}

#[derive(Debug, Default, serde::Deserialize)]
struct CalendarForm {
    date: Option<String>,
    n: Option<u32>,
}

async fn calendar_page(State(app): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<CalendarForm>) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    if let Err(r) = allowed(&app, &caller, Action::CalendarRead, &Resource::platform()).await {
        return r;
    }
    let lang = caller.lang;
    let date_text = q.date.clone().unwrap_or_else(|| app.clock.today().to_string());
    let n = q.n.unwrap_or(10);
    let result = match chrono::NaiveDate::parse_from_str(&date_text, "%Y-%m-%d") {
        Ok(date) => {
            let workday =
                app.calendar.is_workday(date).map(|w| t(lang, if w { "calendar.workday" } else { "calendar.holiday" }));
            let added = app.calendar.add_working_days(date, n.min(3650));
            match (workday, added) {
                (Ok(w), Ok(a)) => format!(
                    "<p>{date_text}：{}</p><p>{date_text} + {n} {} = <strong>{a}</strong></p>",
                    esc(&w),
                    esc(&t(lang, "field.working_days"))
                ),
                (Err(e), _) | (_, Err(e)) => format!("<p class=\"error\">{}</p>", esc(&e.to_string())),
            }
        }
        Err(_) => format!("<p class=\"error\">{}</p>", esc(&t(lang, "error.validation"))),
    };
    let body = format!(
        "<h1>{title}</h1><form class=\"inline\" method=\"get\"><label>{date}<input name=\"date\" type=\"date\" value=\"{dv}\"></label>\
         <label>{wd}<input name=\"n\" type=\"number\" min=\"0\" max=\"3650\" value=\"{n}\"></label>\
         <button class=\"primary\" type=\"submit\">{compute}</button></form><div class=\"card\">{result}</div>",
        title = esc(&t(lang, "nav.calendar")),
        date = esc(&t(lang, "field.date")),
        dv = esc(&date_text),
        wd = esc(&t(lang, "field.working_days")),
        compute = esc(&t(lang, "calendar.compute")),
    );
    page(&app, &caller, "/console/calendar", "nav.calendar", body)
}

async fn profile_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    if let Err(r) = allowed(&app, &caller, Action::ProfileRead, &Resource::platform()).await {
        return r;
    }
    let text = app.profile.to_toml_string();
    let body = format!("<h1>{}</h1><pre>{}</pre>", esc(&t(caller.lang, "nav.profile")), esc(&text));
    page(&app, &caller, "/console/profile", "nav.profile", body)
}

async fn account_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let Some(user) = caller.user.as_ref() else { return Redirect::to("/console/login").into_response() };
    let v = UserView::of(user, true);
    let body = format!(
        "<h1>{title}</h1><div class=\"card\"><p>{un}：{u}</p><p>{rn}：{r}</p><p>{ph}：<span class=\"mono\">{p}</span></p></div>\
         <div class=\"card\"><h2>{cp}</h2><form id=\"password-form\" data-done=\"{done}\">\
         <label>{cur}<input name=\"current_password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <label>{new}<input name=\"new_password\" type=\"password\" autocomplete=\"new-password\" required></label>\
         <p id=\"password-result\" role=\"status\"></p><button class=\"primary\" type=\"submit\">{cp}</button></form></div>",
        title = esc(&t(lang, "nav.account")),
        un = esc(&t(lang, "field.username")),
        u = esc(&v.username),
        rn = esc(&t(lang, "field.real_name")),
        r = esc(v.real_name.as_deref().unwrap_or("")),
        ph = esc(&t(lang, "field.phone")),
        p = esc(v.phone.as_deref().unwrap_or("")),
        cp = esc(&t(lang, "account.change_password")),
        done = esc(&t(lang, "account.password_changed")),
        cur = esc(&t(lang, "field.current_password")),
        new = esc(&t(lang, "field.new_password")),
    );
    page(&app, &caller, "/console/account", "nav.account", body)
}

async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../assets/console.css"))
}

async fn js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../assets/console.js"))
}
