//! Console screens for supervision (SPEC §6): the authority's alert queue with its evidence and
//! one-action suspension, and the data quality loop (scores, issues, answers). Pages read through
//! the API handlers, so they show exactly what the API would.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;
use shuyu_authz::{Action, Resource};

use super::html::esc;
use super::{internal, page, signed_in};
use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::i18n::{t, Lang};
use crate::routes::{quality, supervision};
use crate::state::AppState;

fn tr(lang: Lang, key: &str) -> String {
    esc(&t(lang, key))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// The measured values, one `key: value` each.
fn observed(v: &Value) -> String {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("<span class=\"mono\">{}: {}</span>", esc(k), esc(&v.to_string())))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn evidence_table(lang: Lang, events: &Value) -> String {
    let rows: String = events
        .as_array()
        .into_iter()
        .flatten()
        .take(50)
        .map(|e| {
            format!(
                "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
                e["seq"],
                esc(s(e, "time")),
                esc(s(e, "actor")),
                esc(s(e, "action")),
                esc(s(e, "resource")),
                esc(s(e, "outcome")),
            )
        })
        .collect();
    let head: String = ["field.seq", "field.time", "field.actor", "field.action", "field.resource", "field.outcome"]
        .iter()
        .map(|k| format!("<th>{}</th>", tr(lang, k)))
        .collect();
    format!("<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
}

pub async fn alerts_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list =
        match supervision::list(State(app.clone()), caller.clone(), ApiQuery(supervision::AlertQuery { state: None }))
            .await
        {
            Ok(Json(v)) => v,
            Err(e) => return internal(&app, &caller, e),
        };
    let status = match supervision::status(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let may_act = app.authz.authorize(&caller.principal, Action::AlertAct, &Resource::new("Alert", "any")).is_ok();
    let mut open = String::new();
    let mut handled = String::new();
    for a in list["items"].as_array().into_iter().flatten() {
        let id = s(a, "id");
        if s(a, "state") != "open" {
            handled.push_str(&format!(
                "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
                tr(lang, &format!("rule.{}", s(a, "rule"))),
                esc(s(a, "subject")),
                tr(lang, &format!("alert_state.{}", s(a, "state"))),
                esc(&format!("{} {}", s(&a["resolution"], "action"), s(&a["resolution"], "reason"))),
                esc(s(a, "handled_at")),
            ));
            continue;
        }
        let full = match supervision::get(State(app.clone()), caller.clone(), Path(id.to_string())).await {
            Ok(Json(v)) => v,
            Err(e) => return internal(&app, &caller, e),
        };
        let actions: String = if may_act {
            full["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|action| {
                    format!(
                        "<form class=\"api-action inline\" data-url=\"/api/v1/alerts/{id}/actions/{action}\" data-action=\"{action}\">\
                         <input name=\"reason\" required placeholder=\"{reason}\"><button type=\"submit\"{danger}>{label}</button>\
                         <span class=\"error\"></span></form>",
                        id = esc(id),
                        reason = tr(lang, "sandbox.reason"),
                        danger = if action == "dismiss" { "" } else { " class=\"primary\"" },
                        label = tr(lang, &format!("alert.{action}")),
                    )
                })
                .collect()
        } else {
            String::new()
        };
        open.push_str(&format!(
            "<div class=\"card\" id=\"alert-{id}\"><h3>{rule}</h3>\
             <p>{subject_l}：<span class=\"mono\">{subject}</span> · {at_l}：<span class=\"mono\">{at}</span></p>\
             <p class=\"muted\">{obs_l}：{obs}</p>\
             <details><summary>{ev_l}（{n}）</summary>{evidence}</details>{actions}</div>",
            id = esc(id),
            rule = tr(lang, &format!("rule.{}", s(a, "rule"))),
            subject_l = tr(lang, "alert.subject"),
            subject = esc(s(a, "subject")),
            at_l = tr(lang, "alert.raised_at"),
            at = esc(s(a, "raised_at")),
            obs_l = tr(lang, "alert.observed"),
            obs = observed(&a["observed"]),
            ev_l = tr(lang, "alert.evidence"),
            n = a["evidence_count"],
            evidence = evidence_table(lang, &full["evidence"]),
        ));
    }
    if open.is_empty() {
        open = format!("<p class=\"muted\" id=\"no-alerts\">{}</p>", tr(lang, "alert.none"));
    }
    let st = &status["status"];
    let body = format!(
        "<h1>{title}</h1><p class=\"muted\">{intro}</p>\
         <p id=\"monitor-status\">{mon}：{pos_l} {pos} · {behind_l} {behind} · {rate_l} {rate:.0}</p>\
         <div id=\"open-alerts\">{open}</div><h2>{handled_l}</h2>\
         <table><thead><tr><th>{rule_l}</th><th>{subject_l}</th><th>{state_l}</th><th>{res_l}</th><th>{time_l}</th></tr></thead><tbody>{handled}</tbody></table>",
        title = tr(lang, "alert.title"),
        intro = tr(lang, "alert.intro"),
        mon = tr(lang, "alert.monitor"),
        pos_l = tr(lang, "alert.position"),
        pos = st["position"],
        behind_l = tr(lang, "alert.behind"),
        behind = status["behind"],
        rate_l = tr(lang, "alert.rate"),
        rate = st["events_per_second"].as_f64().unwrap_or(0.0),
        handled_l = tr(lang, "alert.handled"),
        rule_l = tr(lang, "field.action"),
        subject_l = tr(lang, "alert.subject"),
        state_l = tr(lang, "field.status"),
        res_l = tr(lang, "alert.resolution"),
        time_l = tr(lang, "field.time"),
    );
    page(&app, &caller, "/console/alerts", "nav.alerts", body)
}

pub async fn quality_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let table = match quality::score_table(&app).await {
        Ok(v) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let issues = match quality::list(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let org = caller.user.as_ref().map(|u| u.org_id.to_string()).unwrap_or_default();
    let closer = app.authz.authorize(&caller.principal, Action::QualityIssueListAll, &Resource::platform()).is_ok();
    let score = |v: &Value| v.as_i64().map(|n| n.to_string()).unwrap_or_else(|| "—".into());
    let departments: String = table["departments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(d["holder"].as_str().unwrap_or(s(d, "holder_org"))),
                d["datasets"],
                score(&d["score"]),
                d["open_issues"],
                d["overdue_issues"]
            )
        })
        .collect();
    let datasets: String = table["datasets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(s(d, "name")),
                esc(d["holder"].as_str().unwrap_or("")),
                d["version"],
                score(&d["score"])
            )
        })
        .collect();
    let rows: String = issues["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| {
            let id = s(q, "id");
            let mut act = String::new();
            if s(q, "state") == "open" && s(q, "holder_org") == org {
                act.push_str(&format!(
                    "<form class=\"api-action inline\" id=\"answer-{id}\" data-url=\"/api/v1/quality-issues/{id}/answer\" data-action=\"answer\">\
                     <input name=\"answer\" required placeholder=\"{a}\"><button type=\"submit\" class=\"primary\">{a}</button><span class=\"error\"></span></form>",
                    id = esc(id),
                    a = tr(lang, "quality.answer"),
                ));
            }
            if closer && s(q, "state") != "closed" {
                act.push_str(&format!(
                    "<form class=\"api-action inline\" data-url=\"/api/v1/quality-issues/{id}/close\" data-action=\"close\">\
                     <button type=\"submit\">{c}</button><span class=\"error\"></span></form>",
                    id = esc(id),
                    c = tr(lang, "quality.close"),
                ));
            }
            let dimension = q["dimension"].as_str().map(|d| t(lang, &format!("dimension.{d}"))).unwrap_or_default();
            format!(
                "<tr id=\"issue-{id}\"><td>{origin}</td><td>{kind}</td><td>{dimension}</td><td>{desc}</td><td>{due}{overdue}</td><td>{state}</td><td>{answer}</td><td>{act}</td></tr>",
                id = esc(id),
                origin = tr(lang, &format!("quality.origin_{}", s(q, "origin"))),
                kind = tr(lang, &format!("quality.kind_{}", s(q, "kind"))),
                dimension = esc(&dimension),
                desc = esc(s(q, "description")),
                due = esc(s(q, "due_on")),
                overdue = if q["overdue"] == true { format!(" <strong class=\"error\">{}</strong>", tr(lang, "quality.overdue")) } else { String::new() },
                state = tr(lang, &format!("quality.state_{}", s(q, "state"))),
                answer = esc(q["answer"].as_str().unwrap_or("")),
            )
        })
        .collect();
    let head = |keys: &[&str]| keys.iter().map(|k| format!("<th>{}</th>", tr(lang, k))).collect::<String>();
    let body = format!(
        "<h1>{title}</h1><p class=\"muted\">{intro}</p>\
         <h2>{dep_l}</h2><table id=\"quality-departments\"><thead><tr>{dep_h}</tr></thead><tbody>{departments}</tbody></table>\
         <h2>{ds_l}</h2><table><thead><tr>{ds_h}</tr></thead><tbody>{datasets}</tbody></table>\
         <h2>{is_l}</h2><table id=\"quality-issues\"><thead><tr>{is_h}</tr></thead><tbody>{rows}</tbody></table>",
        title = tr(lang, "quality.title"),
        intro = tr(lang, "quality.intro"),
        dep_l = tr(lang, "quality.departments"),
        dep_h = head(&["field.organisation", "quality.datasets", "quality.score", "quality.open_issues", "quality.overdue_issues"]),
        ds_l = tr(lang, "quality.datasets"),
        ds_h = head(&["field.name", "field.organisation", "product.version", "quality.score"]),
        is_l = tr(lang, "quality.issues"),
        is_h = head(&["quality.origin", "field.kind", "field.dimension", "field.description", "quality.due_on", "field.status", "quality.answer", "field.actions"]),
    );
    page(&app, &caller, "/console/quality", "nav.quality", body)
}
