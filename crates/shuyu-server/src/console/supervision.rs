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

/// A bar chart of one daily series, rendered on the server as SVG (no script, no styles).
fn bar_chart(lang: Lang, series: &[Value], key: &str, label_key: &str) -> String {
    const W: f64 = 720.0;
    const H: f64 = 180.0;
    const LEFT: f64 = 48.0;
    const BOTTOM: f64 = 24.0;
    let values: Vec<i64> = series.iter().map(|d| d[key].as_i64().unwrap_or(0)).collect();
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = values.len().max(1) as f64;
    let slot = (W - LEFT) / n;
    let bars: String = values
        .iter()
        .zip(series)
        .enumerate()
        .map(|(i, (v, d))| {
            let h = (*v as f64 / max as f64) * (H - BOTTOM - 8.0);
            format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#2f6fdb\"><title>{} {}</title></rect>",
                LEFT + i as f64 * slot + slot * 0.1,
                H - BOTTOM - h,
                (slot * 0.8).max(1.0),
                h,
                esc(s(d, "day")),
                v
            )
        })
        .collect();
    let first = series.first().map(|d| s(d, "day")).unwrap_or("");
    let last = series.last().map(|d| s(d, "day")).unwrap_or("");
    format!(
        "<figure class=\"chart\"><figcaption>{label}</figcaption>\
         <svg viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{W}\" y2=\"{base}\" stroke=\"#888\"/>\
         <text x=\"{tx}\" y=\"14\" font-size=\"11\" text-anchor=\"end\">{max}</text>\
         <text x=\"{tx}\" y=\"{base}\" font-size=\"11\" text-anchor=\"end\">0</text>{bars}\
         <text x=\"{LEFT}\" y=\"{H}\" font-size=\"11\">{first}</text>\
         <text x=\"{W}\" y=\"{H}\" font-size=\"11\" text-anchor=\"end\">{last}</text></svg></figure>",
        label = tr(lang, label_key),
        base = H - BOTTOM,
        tx = LEFT - 4.0,
        first = esc(first),
        last = esc(last),
    )
}

pub async fn analytics_page(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<crate::routes::analytics::PeriodQuery>,
) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let data = match crate::routes::analytics::overview(State(app.clone()), caller.clone(), ApiQuery(q.clone())).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let query = format!(
        "from={}&to={}{}{}",
        s(&data, "from"),
        s(&data, "to"),
        q.operator.as_deref().map(|o| format!("&operator={}", esc(o))).unwrap_or_default(),
        q.department.as_deref().map(|d| format!("&department={}", esc(d))).unwrap_or_default(),
    );
    let series = data["series"].as_array().cloned().unwrap_or_default();
    let mut body = format!(
        "<h1>{title}</h1><p class=\"muted\">{intro}</p>\
         <form class=\"inline\" method=\"get\"><label>{from_l}<input type=\"date\" name=\"from\" value=\"{from}\"></label>\
         <label>{to_l}<input type=\"date\" name=\"to\" value=\"{to}\"></label><button class=\"primary\" type=\"submit\">{show}</button></form>\
         <div id=\"analytics-charts\">{calls}{queries}</div><p><a href=\"/api/v1/analytics/daily.csv?{query}\">{daily} · {dl}</a></p>",
        title = tr(lang, "analytics.title"),
        intro = tr(lang, "analytics.intro"),
        from_l = tr(lang, "analytics.from"),
        to_l = tr(lang, "analytics.to"),
        from = esc(s(&data, "from")),
        to = esc(s(&data, "to")),
        show = tr(lang, "analytics.show"),
        calls = bar_chart(lang, &series, "calls", "analytics.calls"),
        queries = bar_chart(lang, &series, "queries", "analytics.queries"),
        daily = tr(lang, "analytics.daily"),
        dl = tr(lang, "analytics.download"),
    );
    for t in data["tables"].as_array().into_iter().flatten() {
        let name = s(t, "name");
        let head: String = t["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("<th>{}</th>", tr(lang, &format!("analytics.{}", c.as_str().unwrap_or("")))))
            .collect();
        let rows: String = t["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let cells: String = r
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let text = match c {
                            Value::String(x) => x.clone(),
                            Value::Null => "—".into(),
                            other => other.to_string(),
                        };
                        format!("<td>{}</td>", esc(&text))
                    })
                    .collect();
                format!("<tr>{cells}</tr>")
            })
            .collect();
        body.push_str(&format!(
            "<h2>{title}</h2><p><a href=\"/api/v1/analytics/{name}.csv?{query}\">{dl}</a></p>\
             <table id=\"analytics-{name}\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>",
            title = tr(lang, &format!("analytics.{name}")),
            name = esc(name),
            dl = tr(lang, "analytics.download"),
        ));
    }
    page(&app, &caller, "/console/analytics", "nav.analytics", body)
}

fn api_form(id: &str, url: &str, action: &str, fields: &str, submit: &str) -> String {
    format!(
        "<form class=\"api-action inline\" id=\"{id}\" data-url=\"{url}\" data-action=\"{action}\">{fields}\
         <button type=\"submit\">{submit}</button><span class=\"error\"></span></form>"
    )
}

async fn org_names(app: &AppState) -> Result<Vec<shuyu_store::organisations::Organisation>, crate::error::ApiError> {
    Ok(shuyu_store::organisations::list(&mut *app.store.acquire().await?).await?)
}

pub async fn inspections_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match crate::routes::inspections::list(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let orgs = match org_names(&app).await {
        Ok(o) => o,
        Err(e) => return internal(&app, &caller, e),
    };
    let name = |id: &str| orgs.iter().find(|o| o.id.to_string() == id).map(|o| o.name.clone()).unwrap_or_default();
    let authority = app.authz.authorize(&caller.principal, Action::InspectionCreate, &Resource::platform()).is_ok();
    let my_org = caller.user.as_ref().map(|u| u.org_id.to_string()).unwrap_or_default();
    let mut body =
        format!("<h1>{}</h1><p class=\"muted\">{}</p>", tr(lang, "inspection.title"), tr(lang, "inspection.intro"));
    if authority {
        let options: String = orgs
            .iter()
            .filter(|o| matches!(o.kind, shuyu_core::roles::OrgKind::Operator | shuyu_core::roles::OrgKind::Processor))
            .map(|o| format!("<option value=\"{}\">{}</option>", o.id, esc(&o.name)))
            .collect();
        body.push_str(&format!(
            "<details><summary>{plan}</summary><form class=\"api-action stack\" id=\"inspection-form\" data-url=\"/api/v1/inspections\" data-action=\"plan\">\
             <label>{subject}<select name=\"subject_org\">{options}</select></label><label>{title}<input name=\"title\" required></label>\
             <label>{scope}<textarea name=\"scope\" required></textarea></label><label>{date}<input type=\"date\" name=\"planned_on\" required></label>\
             <button class=\"primary\" type=\"submit\">{plan}</button><p class=\"error\"></p></form></details>",
            plan = tr(lang, "inspection.plan"),
            subject = tr(lang, "inspection.subject"),
            title = tr(lang, "field.name"),
            scope = tr(lang, "inspection.scope"),
            date = tr(lang, "inspection.planned_on"),
        ));
    }
    for i in list["items"].as_array().into_iter().flatten() {
        let id = s(i, "id");
        let mut findings = String::new();
        for f in i["findings"].as_array().into_iter().flatten() {
            let fid = s(f, "id");
            let mut act = String::new();
            if s(f, "state") == "open" && s(f, "subject_org") == my_org {
                act = api_form(
                    &format!("rectify-{fid}"),
                    &format!("/api/v1/inspection-findings/{fid}/rectification"),
                    "rectify",
                    &format!(
                        "<input name=\"rectification\" required placeholder=\"{}\">",
                        tr(lang, "inspection.rectification")
                    ),
                    &tr(lang, "inspection.submit_rectification"),
                );
            }
            if authority && s(f, "state") == "submitted" {
                act = format!(
                    "<form class=\"api-action inline\" id=\"decide-{fid}\" data-url=\"/api/v1/inspection-findings/{fid}/decision\" data-action=\"decide\">\
                     <select name=\"accepted\" data-bool><option value=\"true\">{yes}</option><option value=\"false\">{no}</option></select>\
                     <input name=\"reason\" required placeholder=\"{reason}\"><input type=\"date\" name=\"rectify_by\">\
                     <button type=\"submit\">{decide}</button><span class=\"error\"></span></form>",
                    yes = tr(lang, "inspection.accept"),
                    no = tr(lang, "inspection.reject"),
                    reason = tr(lang, "sandbox.reason"),
                    decide = tr(lang, "inspection.decide"),
                );
            }
            findings.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{act}</td></tr>",
                esc(s(f, "description")),
                tr(lang, &format!("inspection.severity_{}", s(f, "severity"))),
                esc(s(f, "rectify_by")),
                if f["overdue"] == true {
                    format!(" <strong class=\"error\">{}</strong>", tr(lang, "quality.overdue"))
                } else {
                    String::new()
                },
                tr(lang, &format!("inspection.finding_{}", s(f, "state"))),
                esc(&[f["rectification"].as_str(), f["decision"].as_str()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" — ")),
            ));
        }
        let add = if authority && s(i, "state") != "closed" {
            api_form(
                &format!("finding-{id}"),
                &format!("/api/v1/inspections/{id}/findings"),
                "finding",
                &format!(
                    "<input name=\"description\" required placeholder=\"{}\"><select name=\"severity\"><option value=\"minor\">{}</option>\
                     <option value=\"major\">{}</option></select><input type=\"date\" name=\"rectify_by\" required>",
                    tr(lang, "inspection.finding"),
                    tr(lang, "inspection.severity_minor"),
                    tr(lang, "inspection.severity_major"),
                ),
                &tr(lang, "inspection.add_finding"),
            )
        } else {
            String::new()
        };
        body.push_str(&format!(
            "<div class=\"card\" id=\"inspection-{id}\"><h3>{title} · {subject} · <span class=\"state\">{state}</span></h3>\
             <p class=\"muted\">{scope} · {planned}</p><table><thead><tr><th>{f_l}</th><th>{sev_l}</th><th>{by_l}</th><th>{st_l}</th><th>{rect_l}</th><th></th></tr></thead>\
             <tbody>{findings}</tbody></table>{add}</div>",
            id = esc(id),
            title = esc(s(i, "title")),
            subject = esc(&name(s(i, "subject_org"))),
            state = tr(lang, &format!("inspection.state_{}", s(i, "state"))),
            scope = esc(s(i, "scope")),
            planned = esc(s(i, "planned_on")),
            f_l = tr(lang, "inspection.finding"),
            sev_l = tr(lang, "inspection.severity"),
            by_l = tr(lang, "inspection.rectify_by"),
            st_l = tr(lang, "field.status"),
            rect_l = tr(lang, "inspection.rectification"),
        ));
    }
    page(&app, &caller, "/console/inspections", "nav.inspections", body)
}

pub async fn data_requests_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match crate::routes::transparency::list(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let orgs = match org_names(&app).await {
        Ok(o) => o,
        Err(e) => return internal(&app, &caller, e),
    };
    let assigner = app.authz.authorize(&caller.principal, Action::DataRequestListAll, &Resource::platform()).is_ok();
    let departments: String = orgs
        .iter()
        .filter(|o| o.kind == shuyu_core::roles::OrgKind::SourceDepartment)
        .map(|o| format!("<option value=\"{}\">{}</option>", o.id, esc(&o.name)))
        .collect();
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| {
            let id = s(q, "id");
            let act = match s(q, "state") {
                "received" | "assigned" if assigner && s(q, "state") == "received" => api_form(
                    &format!("assign-{id}"),
                    &format!("/api/v1/data-requests/{id}/assign"),
                    "assign",
                    &format!("<select name=\"department_org\">{departments}</select>"),
                    &tr(lang, "data_request.assign"),
                ),
                "assigned" => api_form(
                    &format!("answer-{id}"),
                    &format!("/api/v1/data-requests/{id}/answer"),
                    "answer",
                    &format!(
                        "<select name=\"outcome\"><option value=\"will_catalogue\">{}</option><option value=\"already_available\">{}</option>\
                         <option value=\"refused\">{}</option></select><input name=\"answer\" required placeholder=\"{}\">",
                        tr(lang, "data_request.will_catalogue"),
                        tr(lang, "data_request.already_available"),
                        tr(lang, "data_request.refused"),
                        tr(lang, "quality.answer"),
                    ),
                    &tr(lang, "quality.answer"),
                ),
                _ => String::new(),
            };
            format!(
                "<tr id=\"request-{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{act}</td></tr>",
                esc(s(q, "title")),
                esc(s(q, "purpose")),
                esc(&format!("{}（{}）", s(q, "requester"), s(q, "contact"))),
                esc(s(q, "received_on")),
                esc(s(q, "due_on")),
                if q["overdue"] == true { format!(" <strong class=\"error\">{}</strong>", tr(lang, "quality.overdue")) } else { String::new() },
                tr(lang, &format!("data_request.state_{}", s(q, "state"))),
                esc(q["answer"].as_str().unwrap_or("")),
            )
        })
        .collect();
    let head: String = [
        "field.name",
        "data_request.purpose",
        "data_request.requester",
        "data_request.received_on",
        "quality.due_on",
        "field.status",
        "quality.answer",
        "field.actions",
    ]
    .iter()
    .map(|k| format!("<th>{}</th>", tr(lang, k)))
    .collect();
    let body = format!(
        "<h1>{}</h1><p class=\"muted\">{}</p><table id=\"data-requests\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>",
        tr(lang, "data_request.title"),
        tr(lang, "data_request.intro"),
    );
    page(&app, &caller, "/console/data-requests", "nav.data_requests", body)
}

fn simple_table(lang: Lang, id: &str, heads: &[&str], rows: Vec<Vec<String>>) -> String {
    let head: String = heads.iter().map(|k| format!("<th>{}</th>", tr(lang, k))).collect();
    let body: String = rows
        .iter()
        .map(|r| format!("<tr>{}</tr>", r.iter().map(|c| format!("<td>{}</td>", esc(c))).collect::<String>()))
        .collect();
    format!("<table id=\"{id}\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

fn statistics_table(lang: Lang, stats: &Value) -> String {
    let rows = stats["departments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                cell(&d["department"]),
                cell(&d["requests_received"]),
                cell(&d["requests_answered"]),
                cell(&d["requests_granted"]),
                cell(&d["requests_overdue"]),
                cell(&d["average_working_days"]),
                cell(&d["open_data_applications"]),
                cell(&d["open_data_granted"]),
            ]
        })
        .collect();
    simple_table(
        lang,
        "access-statistics",
        &[
            "analytics.department",
            "access.received",
            "access.answered",
            "access.granted",
            "access.overdue",
            "access.average_days",
            "access.open_data_applications",
            "access.open_data_granted",
        ],
        rows,
    )
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearParam {
    pub year: Option<i32>,
}

/// The annual report as a printable page (print it to PDF from the browser: the menu and the
/// forms are hidden in print).
pub async fn annual_report_page(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<YearParam>,
) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let year = q.year.unwrap_or_else(|| chrono::Datelike::year(&app.clock.today()));
    let data = match crate::routes::transparency::annual(
        State(app.clone()),
        caller.clone(),
        ApiQuery(crate::routes::transparency::YearQuery { year: Some(year) }),
    )
    .await
    {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let supplied = data["data_supplied"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| vec![cell(&d["department"]), cell(&d["versions"]), cell(&d["rows"])])
        .collect();
    let activity = data["activity"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| vec![t(lang, &format!("annual.{}", s(a, "action").replace('.', "_"))), cell(&a["count"])])
        .collect();
    let evaluations = data["evaluations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| vec![cell(&e["organisation"]), cell(&e["grade"])])
        .collect();
    let mut tables = String::new();
    for tbl in data["analytics"]["tables"].as_array().into_iter().flatten() {
        let heads: Vec<String> = tbl["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("analytics.{}", c.as_str().unwrap_or("")))
            .collect();
        let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
        let rows = tbl["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r.as_array().into_iter().flatten().map(cell).collect())
            .collect();
        tables.push_str(&format!("<h3>{}</h3>", tr(lang, &format!("analytics.{}", s(tbl, "name")))));
        tables.push_str(&simple_table(lang, &format!("annual-{}", s(tbl, "name")), &heads, rows));
    }
    let body = format!(
        "<article class=\"report\" id=\"annual-report\"><h1>{title}</h1><p class=\"muted\">{profile} · {year} · {gen_l} {generated}</p>\
         <form class=\"inline\" method=\"get\"><label>{year_l}<input name=\"year\" type=\"number\" value=\"{year}\"></label><button type=\"submit\">{show}</button></form>\
         <h2>{s1}</h2>{supplied}<h2>{s2}</h2>{activity}<h2>{s3}</h2>{tables}<h2>{s4}</h2>{evaluations}<h2>{s5}</h2>{access}</article>",
        title = tr(lang, "annual.title"),
        profile = esc(s(&data, "profile")),
        gen_l = tr(lang, "annual.generated"),
        generated = esc(s(&data, "generated_at")),
        year_l = tr(lang, "annual.year"),
        show = tr(lang, "analytics.show"),
        s1 = tr(lang, "annual.data_supplied"),
        supplied = simple_table(lang, "annual-supplied", &["analytics.department", "annual.versions", "analytics.rows"], supplied),
        s2 = tr(lang, "annual.activity"),
        activity = simple_table(lang, "annual-activity", &["annual.item", "annual.count"], activity),
        s3 = tr(lang, "annual.operation"),
        s4 = tr(lang, "annual.evaluations"),
        evaluations = simple_table(lang, "annual-evaluations", &["analytics.organisation", "annual.grade"], evaluations),
        s5 = tr(lang, "annual.access"),
        access = statistics_table(lang, &data["access"]),
    );
    page(&app, &caller, "/console/annual-report", "nav.annual_report", body)
}

/// The public portal: ask for data not in the catalogue, follow a request by its number, and
/// read the access statistics.
pub async fn public_requests_page(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PublicRequestQuery>,
) -> Response {
    let lang = caller.lang;
    let year = chrono::Datelike::year(&app.clock.today());
    let stats = match crate::routes::transparency::access_statistics(&app, year).await {
        Ok(v) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let lookup = match q.id.as_deref().filter(|i| !i.is_empty()) {
        Some(id) => match crate::routes::transparency::status(State(app.clone()), axum::extract::Path(id.to_string())).await {
            Ok(Json(r)) => format!(
                "<div class=\"card\" id=\"request-status\"><h3>{}</h3><p class=\"mono\">{}：{}</p><p>{}：{} · {}：{}</p><p>{}</p></div>",
                esc(s(&r, "title")),
                tr(lang, "data_request.number"),
                esc(s(&r, "id")),
                tr(lang, "field.status"),
                tr(lang, &format!("data_request.state_{}", s(&r, "state"))),
                tr(lang, "quality.due_on"),
                esc(s(&r, "due_on")),
                esc(r["answer"].as_str().unwrap_or("")),
            ),
            Err(_) => format!("<p class=\"error\" id=\"request-status\">{}</p>", tr(lang, "error.not_found")),
        },
        None => String::new(),
    };
    let body = format!(
        "<h1>{title}</h1><p class=\"muted\">{intro}</p>\
         <form class=\"api-action stack\" id=\"public-request-form\" data-url=\"/api/v1/public/data-requests\" data-action=\"submit\" data-redirect=\"/public/data-requests?id=\">\
         <label>{name}<input name=\"title\" required></label><label>{desc}<textarea name=\"description\" required></textarea></label>\
         <label>{purpose}<input name=\"purpose\" required></label><label>{requester}<input name=\"requester\" required></label>\
         <label>{contact}<input name=\"contact\" required></label><button class=\"primary\" type=\"submit\">{submit}</button><p class=\"error\"></p></form>\
         <h2>{follow}</h2><form class=\"inline\" method=\"get\"><input name=\"id\" placeholder=\"{number}\"><button type=\"submit\">{show}</button></form>{lookup}\
         <h2>{stats_l}（{year}）</h2>{stats}",
        title = tr(lang, "data_request.public_title"),
        intro = tr(lang, "data_request.public_intro"),
        name = tr(lang, "field.name"),
        desc = tr(lang, "field.description"),
        purpose = tr(lang, "data_request.purpose"),
        requester = tr(lang, "data_request.requester"),
        contact = tr(lang, "data_request.contact"),
        submit = tr(lang, "data_request.submit"),
        follow = tr(lang, "data_request.follow"),
        number = tr(lang, "data_request.number"),
        show = tr(lang, "analytics.show"),
        stats_l = tr(lang, "access.title"),
        stats = statistics_table(lang, &stats),
    );
    super::html::public_page(lang, &t(lang, "data_request.public_title"), &body)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicRequestQuery {
    pub id: Option<String>,
}
