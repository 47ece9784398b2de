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
    let can_create = app
        .authz
        .authorize(&caller.principal, shuyu_authz::Action::CatalogueCreate, &shuyu_authz::Resource::platform())
        .is_ok();
    let create = if can_create { new_entry_form(&app, lang) } else { String::new() };
    let body = format!(
        "<h1>{title}</h1>{create}<table id=\"entries\"><thead><tr><th>{c1}</th><th>{c2}</th><th>{c3}</th><th>{c4}</th><th>{c5}</th><th>{c6}</th></tr></thead>\
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

fn select(lang: Lang, name: &str, key: &str, section: &str, values: &[&str]) -> String {
    let options: String = values
        .iter()
        .map(|v| format!("<option value=\"{v}\">{}</option>", esc(&t(lang, &format!("{section}.{v}")))))
        .collect();
    format!("<label>{}<select name=\"{name}\">{options}</select></label>", esc(&t(lang, key)))
}

fn text_input(lang: Lang, name: &str, key: &str, value: &str, extra: &str) -> String {
    format!("<label>{}<input name=\"{name}\" value=\"{}\"{extra}></label>", esc(&t(lang, key)), esc(value))
}

/// The holder's form for a new entry: every SPEC §1.1 field; the structure one field per line.
fn new_entry_form(app: &AppState, lang: Lang) -> String {
    let classes = ["unconditional", "conditional", "not_allowed"];
    let records =
        format!("<label>{}<input type=\"number\" name=\"records\" min=\"0\"></label>", esc(&t(lang, "cat.records")));
    format!(
        "<details class=\"card\"><summary>{title}</summary><form class=\"api-action stack\" id=\"new-entry\" \
         data-url=\"/api/v1/catalogue\">{name}<label>{desc}<textarea name=\"description\" rows=\"2\" required></textarea></label>\
         {tags}{industry}{region}{scenarios}{source}{storage}{records}{freq}{share}{open}{mode}{grade}\
         <label>{fields}<textarea name=\"fields\" rows=\"4\" required data-rows=\"name|type|sensitivity|description|pii\" \
         data-numeric=\"sensitivity\" placeholder=\"uscc|string|1|统一社会信用代码\"></textarea></label>\
         <button class=\"primary\" type=\"submit\">{submit}</button><p class=\"error\"></p></form></details>",
        title = esc(&t(lang, "cat.new")),
        name = text_input(lang, "name", "field.name", "", " required"),
        desc = esc(&t(lang, "cat.description")),
        tags = text_input(lang, "tags", "cat.tags", "", " data-split"),
        industry = text_input(lang, "industry", "reg.industry", "", " required"),
        region = text_input(lang, "region", "reg.region", &app.profile.certificate.region_code, " required"),
        scenarios = text_input(lang, "scenarios", "cat.scenarios", "", " data-split"),
        source = text_input(lang, "source", "cat.source", "", " required"),
        storage = text_input(lang, "storage", "cat.storage", "", " required"),
        records = records,
        freq = select(lang, "update_frequency", "cat.update_frequency", "frequency",
            &["daily", "realtime", "weekly", "monthly", "quarterly", "yearly", "irregular"]),
        share = select(lang, "share_class", "cat.share_class", "class", &classes),
        open = select(lang, "open_class", "cat.open_class", "class", &classes),
        mode = select(lang, "acquisition_mode", "cat.acquisition_mode", "acquisition",
            &["authorized_operation", "open", "apply_to_use"]),
        grade = select(lang, "grade", "cat.grade", "grade", &["general", "important", "core"]),
        fields = esc(&t(lang, "cat.fields_help")),
        submit = esc(&t(lang, "cat.new")),
    )
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
