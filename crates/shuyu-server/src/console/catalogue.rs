//! Console screens for the catalogue: a holder's entries and the authority's review queue, with
//! the workflow actions the caller may take; sharing requests between agencies.

use axum::extract::State;
use axum::response::Response;
use axum::Json;

use super::html::esc;
use super::{internal, page, signed_in};
use crate::auth::Caller;
use crate::i18n::{t, Lang};
use crate::routes::catalogue;
use crate::state::AppState;

fn label(lang: Lang, section: &str, value: &str) -> String {
    esc(&t(lang, &format!("{section}.{value}")))
}

fn form(lang: Lang, url: &str, action: &str, needs_reason: bool) -> String {
    let reason = if needs_reason {
        format!("<input name=\"reason\" placeholder=\"{}\" required>", esc(&t(lang, "reg.reason")))
    } else {
        String::new()
    };
    format!(
        "<form class=\"api-action inline\" data-url=\"{url}/actions/{action}\">{reason}\
         <button type=\"submit\">{}</button><span class=\"error\"></span></form>",
        label(lang, "action", action)
    )
}

pub async fn catalogue_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let entries = match catalogue::list(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let rows: String = entries
        .iter()
        .map(|e| {
            let shown = e.pending.as_ref().or(e.published.as_ref());
            let name = shown.map(|m| m.name.as_str()).unwrap_or("");
            let url = format!("/api/v1/catalogue/{}", e.id);
            let forms: String = e
                .allowed_actions
                .iter()
                .filter(|a| a.as_str() != "edit")
                .map(|a| form(lang, &url, a, matches!(a.as_str(), "reject" | "retire")))
                .collect();
            let warn = if e.restricts_class {
                format!("<p class=\"error\">{}</p>", esc(&t(lang, "cat.restricts")))
            } else {
                String::new()
            };
            format!(
                "<tr><td>{name}{warn}</td><td>{state}</td><td>{share}</td><td>{open}</td><td>{deadline}{overdue}</td><td>{forms}</td></tr>",
                name = esc(name),
                state = label(lang, "entry_state", &e.state),
                share = shown.map(|m| label(lang, "class", m.share_class.as_str())).unwrap_or_default(),
                open = shown.map(|m| label(lang, "class", m.open_class.as_str())).unwrap_or_default(),
                deadline = esc(e.deadline.as_deref().unwrap_or("")),
                overdue = e
                    .overdue_since
                    .as_deref()
                    .map(|d| format!(" <span class=\"error\">{} {}</span>", esc(&t(lang, "reg.overdue")), esc(d)))
                    .unwrap_or_default(),
            )
        })
        .collect();
    let body = format!(
        "<h1>{title}</h1><table id=\"entries\"><thead><tr><th>{c1}</th><th>{c2}</th><th>{c3}</th><th>{c4}</th><th>{c5}</th><th>{c6}</th></tr></thead>\
         <tbody>{rows}</tbody></table>",
        title = esc(&t(lang, "nav.catalogue")),
        c1 = esc(&t(lang, "field.name")),
        c2 = esc(&t(lang, "reg.state")),
        c3 = esc(&t(lang, "cat.share_class")),
        c4 = esc(&t(lang, "cat.open_class")),
        c5 = esc(&t(lang, "reg.deadline")),
        c6 = esc(&t(lang, "reg.actions")),
    );
    page(&app, &caller, "/console/catalogue", "nav.catalogue", body)
}

pub async fn sharing_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let requests = match catalogue::list_sharing(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let rows: String = requests
        .iter()
        .map(|s| {
            let url = format!("/api/v1/sharing-requests/{}", s.id);
            let forms: String =
                s.allowed_actions.iter().map(|a| form(lang, &url, a, a == "refuse")).collect();
            format!(
                "<tr><td class=\"mono\">{entry}</td><td>{purpose}</td><td>{state}</td><td>{deadline}{overdue}</td><td>{reason}</td><td>{forms}</td></tr>",
                entry = esc(&s.entry_id),
                purpose = esc(&s.purpose),
                state = label(lang, "sharing_state", &s.state),
                deadline = esc(s.deadline.as_deref().unwrap_or("")),
                overdue = s
                    .overdue_since
                    .as_deref()
                    .map(|d| format!(" <span class=\"error\">{} {}</span>", esc(&t(lang, "reg.overdue")), esc(d)))
                    .unwrap_or_default(),
                reason = esc(s.decision_reason.as_deref().unwrap_or("")),
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table>",
        esc(&t(lang, "nav.sharing")),
        esc(&t(lang, "nav.catalogue")),
        esc(&t(lang, "cat.description")),
        esc(&t(lang, "reg.state")),
        esc(&t(lang, "reg.deadline")),
        esc(&t(lang, "reg.reason")),
        esc(&t(lang, "reg.actions")),
    );
    page(&app, &caller, "/console/sharing", "nav.sharing", body)
}
