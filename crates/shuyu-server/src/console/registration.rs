//! Console screens for registration (登记): the list, the application form, one registration
//! with the forms for the actions the caller may take, and the registry's certificate list.
//! Pages read through the API handlers, so authorization and audit are the API's own.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use shuyu_authz::{Action, Resource};
use shuyu_core::registration::{required_materials, RefusalGround, RegistrationType};

use super::html::esc;
use super::{internal, page, signed_in};
use crate::auth::Caller;
use crate::extract::{ApiPath, ApiQuery};
use crate::i18n::{t, Lang};
use crate::routes::registrations::{self, ListParams, ObjectionView, RegistrationView};
use crate::state::AppState;

fn label(lang: Lang, section: &str, value: &str) -> String {
    esc(&t(lang, &format!("{section}.{value}")))
}

pub async fn list_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let params = ListParams { state: None, overdue: None, limit: Some(200) };
    let regs = match registrations::list(State(app.clone()), caller.clone(), ApiQuery(params)).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let rows: String = regs
        .iter()
        .map(|r| {
            format!(
                "<tr><td><a href=\"/console/registrations/{id}\">{name}</a></td><td>{kind}</td><td>{state}</td>\
                 <td>{deadline}</td><td>{awaiting}</td><td>{overdue}</td></tr>",
                id = esc(&r.id),
                name = esc(&r.subject_name),
                kind = label(lang, "reg_type", &r.kind),
                state = label(lang, "reg_state", &r.state),
                deadline = esc(r.deadline.as_deref().unwrap_or("—")),
                awaiting = r.awaiting.as_deref().map(|a| label(lang, "awaiting", a)).unwrap_or_default(),
                overdue = r
                    .overdue_since
                    .as_deref()
                    .map(|d| format!("<span class=\"error\">{} {}</span>", esc(&t(lang, "reg.overdue")), esc(d)))
                    .unwrap_or_default(),
            )
        })
        .collect();
    let can_apply = app.authz.authorize(&caller.principal, Action::RegistrationApply, &Resource::platform()).is_ok();
    let new = if can_apply {
        format!("<p><a class=\"button\" href=\"/console/registrations/new\">{}</a></p>", esc(&t(lang, "reg.new")))
    } else {
        String::new()
    };
    // YXR §24: statistics are the authority's alone; the policy decides who sees the card.
    let sees_stats =
        app.authz.authorize(&caller.principal, Action::RegistrationStatistics, &Resource::platform()).is_ok();
    let stats = match sees_stats {
        false => Ok(Json(Vec::new())),
        true => crate::routes::registrations::statistics(State(app.clone()), caller.clone()).await,
    };
    let stats = match stats {
        Ok(Json(rows)) if !rows.is_empty() => {
            let cells: String = rows
                .iter()
                .map(|r| {
                    format!(
                        "<div class=\"card\"><div class=\"label\">{} · {}</div><div class=\"value\">{}</div></div>",
                        label(lang, "reg_type", &r.kind),
                        label(lang, "reg_state", &r.state),
                        r.count
                    )
                })
                .collect();
            format!("<div class=\"cards\" id=\"statistics\">{cells}</div>")
        }
        _ => String::new(),
    };
    let body = format!(
        "<h1>{title}</h1>{new}{stats}<table id=\"registrations\"><thead><tr><th>{c1}</th><th>{c2}</th><th>{c3}</th><th>{c4}</th>\
         <th>{c5}</th><th></th></tr></thead><tbody>{rows}</tbody></table>",
        title = esc(&t(lang, "nav.registrations")),
        c1 = esc(&t(lang, "reg.subject_name")),
        c2 = esc(&t(lang, "reg.type")),
        c3 = esc(&t(lang, "reg.state")),
        c4 = esc(&t(lang, "reg.deadline")),
        c5 = esc(&t(lang, "reg.awaiting")),
    );
    page(&app, &caller, "/console/registrations", "nav.registrations", body)
}

fn input(lang: Lang, name: &str, key: &str, value: &str) -> String {
    format!("<label>{}<input name=\"{name}\" value=\"{}\" required></label>", esc(&t(lang, key)), esc(value))
}

fn textarea(lang: Lang, name: &str, key: &str, extra: &str) -> String {
    format!("<label>{}<textarea name=\"{name}\" rows=\"3\"{extra}></textarea></label>", esc(&t(lang, key)))
}

pub async fn new_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    if let Err(e) = app.authorize(&caller, Action::RegistrationApply, &Resource::platform()).await {
        return internal(&app, &caller, e);
    }
    let lang = caller.lang;
    let files: String = required_materials(RegistrationType::First)
        .iter()
        .map(|k| {
            format!("<label>{}<input type=\"file\" data-material=\"{k}\" required></label>", label(lang, "material", k))
        })
        .collect();
    let body = format!(
        "<h1>{title}</h1><form class=\"api-action card stack\" id=\"new-registration\" data-url=\"/api/v1/registrations\" \
         data-redirect=\"/console/registrations/\">\
         <input type=\"hidden\" name=\"type\" value=\"first\"><input type=\"hidden\" name=\"subject_kind\" value=\"data_resource\">\
         {name}{summary}{industry}{region}<fieldset><legend>{materials}</legend>{files}</fieldset>\
         <button class=\"primary\" type=\"submit\">{submit}</button><p class=\"error\"></p></form>",
        title = esc(&t(lang, "reg.new")),
        name = input(lang, "subject_name", "reg.subject_name", ""),
        summary = textarea(lang, "summary", "reg.summary", " required"),
        industry = input(lang, "industry", "reg.industry", "S92"),
        region = input(lang, "region", "reg.region", &app.profile.certificate.region_code),
        materials = esc(&t(lang, "reg.materials")),
        submit = esc(&t(lang, "reg.new")),
    );
    page(&app, &caller, "/console/registrations", "reg.new", body)
}

/// One form per action: posts JSON to the workflow endpoint and reloads.
fn action_form(lang: Lang, id: &str, action: &str, fields: &str) -> String {
    format!(
        "<form class=\"api-action card stack\" data-url=\"/api/v1/registrations/{id}/actions/{action}\" data-action=\"{action}\">\
         {fields}<button class=\"primary\" type=\"submit\">{label}</button><p class=\"error\"></p></form>",
        id = esc(id),
        label = label(lang, "action", action),
    )
}

fn registration_form(lang: Lang, r: &RegistrationView, action: &str) -> Option<String> {
    let fields = match action {
        "accept" | "start_publicity" | "complete_cancellation" => String::new(),
        "not_accept" => textarea(lang, "reason", "reg.reason", " required"),
        "withdraw" => textarea(lang, "reason", "reg.reason", ""),
        "request_supplement" => textarea(lang, "missing", "reg.missing_list", " required data-list"),
        "supplement" => r
            .missing_materials
            .iter()
            .map(|k| {
                format!("<label>{}<input type=\"file\" data-material=\"{k}\"></label>", label(lang, "material", k))
            })
            .collect::<String>(),
        "refuse" => {
            let options: String = RefusalGround::ALL
                .iter()
                .map(|g| format!("<option value=\"{}\">{}</option>", g.as_str(), label(lang, "ground", g.as_str())))
                .collect();
            format!(
                "<label>{}<select name=\"ground\">{options}</select></label>{}",
                esc(&t(lang, "reg.ground")),
                textarea(lang, "reason", "reg.reason", " required")
            )
        }
        "object" => textarea(lang, "statement", "reg.statement", " required"),
        // Objection actions are rendered with their objection.
        _ => return None,
    };
    Some(action_form(lang, &r.id, action, &fields))
}

fn objection_block(lang: Lang, r: &RegistrationView, o: &ObjectionView) -> String {
    let hidden = format!("<input type=\"hidden\" name=\"objection_id\" value=\"{}\">", esc(&o.id));
    let forms: String = o
        .allowed_actions
        .iter()
        .map(|a| {
            let extra = match a.as_str() {
                "answer_objection" => textarea(lang, "answer", "reg.answer", " required"),
                "decide_objection" => format!(
                    "<label class=\"check\"><input type=\"checkbox\" name=\"upheld\"> {}</label>{}",
                    esc(&t(lang, "reg.upheld")),
                    textarea(lang, "reason", "reg.reason", " required")
                ),
                _ => String::new(),
            };
            action_form(lang, &r.id, a, &format!("{hidden}{extra}"))
        })
        .collect();
    format!(
        "<div class=\"card\"><p><strong>{name}</strong> · {state} · {filed}{deadline}</p><p>{statement}</p>{answer}{forms}</div>",
        name = esc(&o.objector_name),
        state = label(lang, "objection_state", &o.state),
        filed = esc(&o.filed_on),
        deadline = o.deadline.as_deref().map(|d| format!(" · {} {}", esc(&t(lang, "reg.deadline")), esc(d))).unwrap_or_default(),
        statement = esc(&o.statement),
        answer = o.answer.as_deref().map(|a| format!("<p class=\"muted\">{}</p>", esc(a))).unwrap_or_default(),
    )
}

pub async fn detail_page(State(app): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let Ok(rid) = id.parse::<shuyu_core::ids::RegistrationId>() else {
        return internal(&app, &caller, crate::error::ApiError::not_found("registration"));
    };
    let r = match registrations::get(State(app.clone()), caller.clone(), ApiPath(rid)).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let row = |key: &str, value: String| format!("<tr><th>{}</th><td>{value}</td></tr>", esc(&t(lang, key)));
    let mut facts = String::new();
    facts.push_str(&row("reg.type", label(lang, "reg_type", &r.kind)));
    facts.push_str(&row("reg.state", format!("<span id=\"reg-state\">{}</span>", label(lang, "reg_state", &r.state))));
    facts.push_str(&row("reg.deadline", esc(r.deadline.as_deref().unwrap_or("—"))));
    if let Some(a) = &r.awaiting {
        facts.push_str(&row("reg.awaiting", label(lang, "awaiting", a)));
    }
    if let Some(d) = &r.overdue_since {
        facts.push_str(&row("reg.overdue", format!("<span class=\"error\">{}</span>", esc(d))));
    }
    facts.push_str(&row("reg.summary", esc(&r.summary)));
    facts.push_str(&row("reg.industry", esc(&r.industry)));
    facts.push_str(&row("reg.region", esc(&r.region)));
    if let Some(q) = &r.query_code {
        facts.push_str(&row("reg.query_code", format!("<span class=\"mono\">{}</span>", esc(q))));
    }
    if let (Some(from), Some(until)) = (&r.publicity_from, &r.publicity_until) {
        facts.push_str(&row("reg.publicity_period", format!("{} — {}", esc(from), esc(until))));
    }
    if let Some(code) = &r.certificate_code {
        facts.push_str(&row(
            "reg.certificate",
            format!(
                "<a id=\"certificate-link\" class=\"mono\" href=\"/public/certificates/{c}\">{c}</a>",
                c = esc(code)
            ),
        ));
    }
    if let Some(g) = &r.decision_ground {
        facts.push_str(&row("reg.ground", label(lang, "ground", g)));
    }
    if let Some(reason) = &r.decision_reason {
        facts.push_str(&row("reg.reason", esc(reason)));
    }
    let materials =
        serde_json::from_value::<Vec<shuyu_store::registrations::Material>>(r.materials.clone()).unwrap_or_default();
    let material_rows: String = materials
        .iter()
        .map(|m| {
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
                label(lang, "material", &m.key),
                esc(&m.filename),
                esc(&m.sha256)
            )
        })
        .collect();
    let missing: String = r
        .missing_materials
        .iter()
        .map(|k| format!("<span class=\"tag\">{}</span>", label(lang, "material", k)))
        .collect();
    let notice: String = r.supplement_notice.iter().map(|m| format!("<li>{}</li>", esc(m))).collect();
    let forms: String = r.allowed_actions.iter().filter_map(|a| registration_form(lang, &r, a)).collect();
    let objections: String = r.objections.iter().map(|o| objection_block(lang, &r, o)).collect();
    let body = format!(
        "<h1>{name}</h1><div class=\"grid2\"><div><table class=\"facts\">{facts}</table>\
         <h2>{m_title}</h2><table><tbody>{material_rows}</tbody></table>{missing_block}{notice_block}</div>\
         <div><h2>{a_title}</h2><div id=\"actions\">{forms}</div>{o_block}</div></div>",
        name = esc(&r.subject_name),
        m_title = esc(&t(lang, "reg.materials")),
        missing_block = if missing.is_empty() {
            String::new()
        } else {
            format!("<p>{}：{missing}</p>", esc(&t(lang, "reg.missing")))
        },
        notice_block = if notice.is_empty() {
            String::new()
        } else {
            format!("<h2>{}</h2><ul>{notice}</ul>", esc(&t(lang, "reg.notice")))
        },
        a_title = esc(&t(lang, "reg.actions")),
        forms = if forms.is_empty() { format!("<p class=\"muted\">{}</p>", esc(&t(lang, "reg.none"))) } else { forms },
        o_block = if objections.is_empty() {
            String::new()
        } else {
            format!("<h2>{}</h2>{objections}", esc(&t(lang, "reg.objections")))
        },
    );
    page(&app, &caller, "/console/registrations", "nav.registrations", body)
}

pub async fn certificates_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let certs = match crate::routes::certificates::list(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let rows: String = certs
        .iter()
        .map(|c| {
            let f = &c.verification.facts;
            format!(
                "<tr><td><a class=\"mono\" href=\"/public/certificates/{code}\">{code}</a></td><td>{name}</td><td>{holder}</td>\
                 <td>{state}</td><td>{until}</td></tr>",
                code = esc(&c.code),
                name = esc(f["subject_name"].as_str().unwrap_or("")),
                holder = esc(f["holder"].as_str().unwrap_or("")),
                state = label(lang, "cert", &c.state),
                until = esc(&c.deadline),
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table>",
        esc(&t(lang, "nav.certificates")),
        esc(&t(lang, "cert.code")),
        esc(&t(lang, "reg.subject_name")),
        esc(&t(lang, "cert.holder")),
        esc(&t(lang, "cert.status")),
        esc(&t(lang, "cert.valid_until")),
    );
    page(&app, &caller, "/console/certificates", "nav.certificates", body)
}
