//! Console screens for the sandbox: data requests with the reviewers' column-by-column
//! decisions, workspaces with the SQL editor, exports with their checks and review, sealing.
//! Pages read through the API handlers, so they show exactly what the API would.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;
use shuyu_authz::{Action, Resource};

use super::html::esc;
use super::{internal, page, signed_in};
use crate::auth::Caller;
use crate::i18n::{t, Lang};
use crate::routes::sandbox;
use crate::state::AppState;

fn tr(lang: Lang, key: &str) -> String {
    esc(&t(lang, key))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn reason_form(lang: Lang, url: &str, action: &str, label_key: &str, field: &str) -> String {
    format!(
        "<form class=\"api-action inline\" data-url=\"{url}\" data-action=\"{action}\">\
         <input name=\"{field}\" required placeholder=\"{}\"><button type=\"submit\">{}</button><span class=\"error\"></span></form>",
        tr(lang, "sandbox.reason"),
        tr(lang, label_key)
    )
}

fn columns_text(lang: Lang, table: &Value) -> String {
    table["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}（{}）", esc(s(c, "name")), tr(lang, &format!("column_mode.{}", s(c, "mode")))))
        .collect::<Vec<_>>()
        .join("、")
}

pub async fn grants_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match sandbox::list_grants(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let can_review = app.authz.authorize(&caller.principal, Action::GrantReview, &Resource::platform()).is_ok();
    let mut blocks = String::new();
    for g in list["items"].as_array().into_iter().flatten() {
        let id = s(g, "id");
        let req = &g["request"];
        let tables: String = req["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                format!(
                    "<li><code>{}</code>：{}{}</li>",
                    esc(s(t, "table")),
                    columns_text(lang, t),
                    t["row_filter"]
                        .as_str()
                        .map(|f| format!("；{}：<code>{}</code>", tr(lang, "sandbox.row_filter"), esc(f)))
                        .unwrap_or_default()
                )
            })
            .collect();
        let awaiting: Vec<String> = g["awaiting"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str())
            .map(|k| esc(&t(lang, &format!("org_kind.{k}"))))
            .collect();
        let mut actions = String::new();
        if can_review && s(g, "state") == "pending" {
            let rows: String = req["tables"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|t| {
                    let table = s(t, "table").to_string();
                    t["columns"].as_array().cloned().unwrap_or_default().into_iter().map(move |c| (table.clone(), c))
                })
                .map(|(table, c)| {
                    let key = format!("{}.{}", table, s(&c, "name"));
                    format!(
                        "<tr><td><code>{k}</code></td><td>{mode}</td><td>{necessity}</td><td><select data-column=\"{k}\">\
                         <option value=\"approve\">{yes}</option><option value=\"refuse\">{no}</option></select></td>\
                         <td><input data-reason-for=\"{k}\" required placeholder=\"{reason}\"></td></tr>",
                        k = esc(&key),
                        mode = tr(lang, &format!("column_mode.{}", s(&c, "mode"))),
                        necessity = esc(s(&c, "necessity")),
                        yes = tr(lang, "sandbox.approve_column"),
                        no = tr(lang, "sandbox.refuse_column"),
                        reason = tr(lang, "sandbox.reason"),
                    )
                })
                .collect();
            actions.push_str(&format!(
                "<form class=\"api-action stack\" id=\"review-{id}\" data-url=\"/api/v1/grants/{id}/reviews\" data-action=\"review\">\
                 <table><tbody>{rows}</tbody></table>\
                 <fieldset><legend>{privacy}</legend><label>{mode}<select data-privacy=\"mode\"><option value=\"\">{asked}</option>\
                 <option value=\"aggregation_only\">{agg}</option><option value=\"differential_privacy\">{dp}</option></select></label>\
                 <label>{k}<input data-privacy=\"k\" type=\"number\" min=\"2\" max=\"10000\"></label>\
                 <label>{total}<input data-privacy=\"epsilon\" type=\"number\" step=\"0.01\" min=\"0.01\" max=\"100\"></label>\
                 <label>{per}<input data-privacy=\"query_epsilon\" type=\"number\" step=\"0.01\" min=\"0.01\" max=\"100\"></label></fieldset>\
                 <button class=\"primary\" type=\"submit\">{}</button><p class=\"error\"></p></form>",
                tr(lang, "sandbox.decide"),
                id = esc(id),
                privacy = tr(lang, "sandbox.privacy"),
                mode = tr(lang, "sandbox.privacy_mode"),
                asked = tr(lang, "sandbox.privacy_as_asked"),
                agg = tr(lang, "sandbox.privacy_aggregation"),
                dp = tr(lang, "sandbox.privacy_dp"),
                k = tr(lang, "sandbox.min_subjects"),
                total = tr(lang, "sandbox.budget_total"),
                per = tr(lang, "sandbox.query_epsilon"),
            ));
        }
        if can_review && matches!(s(g, "state"), "approved" | "provisioned") {
            actions.push_str(&reason_form(
                lang,
                &format!("/api/v1/grants/{}/revoke", esc(id)),
                "revoke",
                "sandbox.revoke",
                "reason",
            ));
        }
        let settings = g["granted"][0]["privacy"].clone();
        let settings = if settings.is_null() { req["privacy"].clone() } else { settings };
        let privacy = match settings["mode"].as_str() {
            Some("aggregation_only") => format!(
                "<p>{}：{}（{}：{}）</p>",
                tr(lang, "sandbox.privacy"),
                tr(lang, "sandbox.privacy_aggregation"),
                tr(lang, "sandbox.min_subjects"),
                settings["k"]
            ),
            Some("differential_privacy") => format!(
                "<p>{}：{}（{}：{}；{}：{}）</p>",
                tr(lang, "sandbox.privacy"),
                tr(lang, "sandbox.privacy_dp"),
                tr(lang, "sandbox.budget_total"),
                settings["epsilon"],
                tr(lang, "sandbox.query_epsilon"),
                settings["query_epsilon"]
            ),
            _ => String::new(),
        };
        blocks.push_str(&format!(
            "<section class=\"card\"><h2>{scenario}</h2><p>{purpose}</p><p>{state_label}：<strong id=\"grant-{id}\">{state}</strong>\
             {awaiting}</p><ul>{tables}</ul>{privacy}<p>{until_label}：{until}</p>{actions}</section>",
            scenario = esc(s(req, "scenario")),
            purpose = esc(s(req, "purpose")),
            state_label = tr(lang, "sandbox.state"),
            id = esc(id),
            state = tr(lang, &format!("grant_state.{}", s(g, "state"))),
            awaiting = if awaiting.is_empty() {
                String::new()
            } else {
                format!("；{}：{}", tr(lang, "sandbox.awaiting"), awaiting.join("、"))
            },
            until_label = tr(lang, "sandbox.valid_until"),
            until = esc(s(req, "valid_until")),
        ));
    }
    if blocks.is_empty() {
        blocks = format!("<p>{}</p>", tr(lang, "sandbox.none"));
    }
    page(&app, &caller, "/console/grants", "nav.grants", format!("<h1>{}</h1>{blocks}", tr(lang, "nav.grants")))
}

pub async fn workspaces_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match sandbox::list_workspaces(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            format!(
                "<tr><td><a href=\"/console/workspaces/{id}\">{name}</a></td><td>{state}</td><td>{members}</td></tr>",
                id = esc(s(w, "id")),
                name = esc(s(w, "name")),
                state = tr(lang, &format!("workspace_state.{}", s(w, "state"))),
                members = w["members"].as_array().map(|m| m.len()).unwrap_or(0),
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table>",
        tr(lang, "nav.workspaces"),
        tr(lang, "sandbox.workspace"),
        tr(lang, "sandbox.state"),
        tr(lang, "sandbox.members"),
    );
    page(&app, &caller, "/console/workspaces", "nav.workspaces", body)
}

/// The workspace's models with their test metrics and how each may be used.
fn models_panel(lang: Lang, models: &Value) -> String {
    let rows: String = models
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let metrics: Vec<String> = m["metrics"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{}={:.3}", esc(k), v.as_f64().unwrap_or_default()))
                .collect();
            let features: Vec<String> =
                m["features"].as_array().into_iter().flatten().filter_map(|f| f.as_str()).map(esc).collect();
            let leave = if m["parameters_may_leave"] == true { "sandbox.parameters_leave" } else { "sandbox.parameters_stay" };
            format!(
                "<tr><td><code>{name}</code></td><td>{kind}</td><td><code>{function}({features})</code></td><td>{metrics}</td><td>{level}</td><td>{leave}</td></tr>",
                name = esc(s(m, "name")),
                kind = tr(lang, &format!("model_kind.{}", s(m, "kind"))),
                function = esc(s(m, "function")),
                features = features.join(", "),
                metrics = metrics.join("；"),
                level = m["level"],
                leave = tr(lang, leave),
            )
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<h2>{}</h2><table id=\"models\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>{rows}</tbody></table>",
        tr(lang, "sandbox.models"),
        tr(lang, "sandbox.model_name"),
        tr(lang, "sandbox.model_kind"),
        tr(lang, "sandbox.scoring"),
        tr(lang, "sandbox.metrics"),
        tr(lang, "sandbox.level"),
    )
}

/// The form that trains a model on a governed query.
fn training_form(lang: Lang, wid: &str) -> String {
    let kinds: String = ["linear_regression", "logistic_regression", "decision_tree", "kmeans"]
        .iter()
        .map(|k| format!("<option value=\"{k}\">{}</option>", tr(lang, &format!("model_kind.{k}"))))
        .collect();
    format!(
        "<h2>{train}</h2><form class=\"api-action stack\" id=\"training-form\" data-url=\"/api/v1/workspaces/{wid}/models\" data-action=\"train\">\
         <label>{name}<input name=\"name\" required pattern=\"[a-z_][a-z0-9_]*\"></label>\
         <label>{kind}<select name=\"kind\">{kinds}</select></label>\
         <label>{sql}<textarea name=\"sql\" rows=\"3\" spellcheck=\"false\" required></textarea></label>\
         <label>{features}<input name=\"features\" data-split required></label>\
         <label>{target}<input name=\"target\"></label>\
         <label>{clusters}<input name=\"clusters\" type=\"number\" min=\"2\" max=\"50\"></label>\
         <label>{depth}<input name=\"max_depth\" type=\"number\" min=\"1\" max=\"20\"></label>\
         <button type=\"submit\">{train}</button><p class=\"error\"></p></form>",
        train = tr(lang, "sandbox.train"),
        name = tr(lang, "sandbox.model_name"),
        kind = tr(lang, "sandbox.model_kind"),
        sql = tr(lang, "sandbox.training_sql"),
        features = tr(lang, "sandbox.features"),
        target = tr(lang, "sandbox.target"),
        clusters = tr(lang, "sandbox.clusters"),
        depth = tr(lang, "sandbox.max_depth"),
    )
}

/// The grants' privacy settings, and what is left of each differential-privacy budget.
fn privacy_panel(lang: Lang, privacy: &Value) -> String {
    let items: String = privacy
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["settings"]["mode"] != "standard")
        .map(|p| {
            let tables: Vec<String> =
                p["tables"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).map(esc).collect();
            let settings = &p["settings"];
            let text = match settings["mode"].as_str() {
                Some("aggregation_only") => {
                    format!(
                        "{}（{}：{}）",
                        tr(lang, "sandbox.privacy_aggregation"),
                        tr(lang, "sandbox.min_subjects"),
                        settings["k"]
                    )
                }
                _ => format!(
                    "{}（{}：{} / {}；{}：{}）",
                    tr(lang, "sandbox.privacy_dp"),
                    tr(lang, "sandbox.budget_left"),
                    p["budget"]["epsilon_left"],
                    p["budget"]["epsilon_total"],
                    tr(lang, "sandbox.query_epsilon"),
                    settings["query_epsilon"],
                ),
            };
            format!("<li><code>{}</code>：{text}</li>", tables.join("、"))
        })
        .collect();
    if items.is_empty() {
        return String::new();
    }
    format!("<h2>{}</h2><ul id=\"privacy-panel\">{items}</ul>", tr(lang, "sandbox.privacy"))
}

pub async fn workspace_page(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let w = match sandbox::get_workspace(State(app.clone()), caller.clone(), Path(id.clone())).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let owner = w["operator_org"].as_str().and_then(|o| o.parse().ok());
    let allowed = |action: Action| {
        owner.is_some_and(|o| {
            app.authz.authorize(&caller.principal, action, &Resource::owned("Workspace", id.clone(), o)).is_ok()
        })
    };
    let member = caller.user.as_ref().is_some_and(|u| {
        w["members"].as_array().is_some_and(|m| m.iter().any(|x| x.as_str() == Some(&u.id.to_string())))
    });
    let state = s(&w, "state");
    let grants: String = w["grants"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| {
            let state = s(g, "state").to_string();
            let until = s(&g["request"], "valid_until").to_string();
            g["granted"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| (t, state.clone(), until.clone()))
        })
        .map(|(t, gstate, until)| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(s(&t, "table")),
                columns_text(lang, &t),
                esc(t["row_filter"].as_str().unwrap_or("—")),
                tr(lang, &format!("grant_state.{gstate}")),
                esc(&until)
            )
        })
        .collect();
    let can_grade = state == "active" && allowed(Action::TableGrade);
    let scratch: String = w["scratch_tables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let name = s(t, "name");
            let graded = match t["grading"].is_object() {
                true => format!(
                    "（{}：{} → {}，{}）",
                    tr(lang, "sandbox.regraded"),
                    t["grading"]["from_level"],
                    t["grading"]["to_level"],
                    esc(s(&t["grading"], "reason"))
                ),
                false => String::new(),
            };
            let form = match can_grade {
                true => format!(
                    "<td><form class=\"api-action inline\" data-url=\"/api/v1/workspaces/{wid}/tables/{table}/grade\" data-action=\"grade\">\
                     <input name=\"level\" type=\"number\" min=\"1\" max=\"4\" required aria-label=\"{level}\">\
                     <input name=\"reason\" required placeholder=\"{reason}\"><button type=\"submit\">{grade}</button><span class=\"error\"></span></form></td>",
                    wid = esc(&id),
                    table = esc(name),
                    level = tr(lang, "sandbox.level"),
                    reason = tr(lang, "sandbox.reason"),
                    grade = tr(lang, "sandbox.regrade"),
                ),
                false => String::new(),
            };
            format!("<tr><td><code>{}</code></td><td>{}</td><td>{}{graded}</td>{form}</tr>", esc(name), t["rows"], t["level"])
        })
        .collect();
    let grade_h = if can_grade { format!("<th>{}</th>", tr(lang, "sandbox.regrade")) } else { String::new() };
    let m = &w["metering"];
    let mut body = format!(
        "<h1>{name}</h1><p>{state_label}：<strong id=\"workspace-state\">{state_text}</strong></p>\
         <h2>{grants_h}</h2><table><thead><tr><th>{table}</th><th>{columns}</th><th>{filter}</th><th>{state_label}</th><th>{until}</th></tr></thead><tbody>{grants}</tbody></table>\
         <h2>{scratch_h}</h2><table><thead><tr><th>{table}</th><th>{rows}</th><th>{level}</th>{grade_h}</tr></thead><tbody>{scratch}</tbody></table>\
         <h2>{metering_h}</h2><p>{queries}：{q}；{refused}：{r}；{cpu}：{c}；{scanned}：{b}；{exported}：{e}</p>",
        name = esc(s(&w, "name")),
        state_label = tr(lang, "sandbox.state"),
        state_text = tr(lang, &format!("workspace_state.{state}")),
        grants_h = tr(lang, "sandbox.grants"),
        table = tr(lang, "sandbox.table"),
        columns = tr(lang, "sandbox.columns"),
        filter = tr(lang, "sandbox.row_filter"),
        until = tr(lang, "sandbox.valid_until"),
        scratch_h = tr(lang, "sandbox.scratch"),
        rows = tr(lang, "sandbox.rows"),
        level = tr(lang, "sandbox.level"),
        metering_h = tr(lang, "sandbox.metering"),
        queries = tr(lang, "sandbox.queries"),
        q = m["queries"],
        refused = tr(lang, "sandbox.refused"),
        r = m["refused"],
        cpu = tr(lang, "sandbox.cpu_ms"),
        c = m["cpu_ms"],
        scanned = tr(lang, "sandbox.bytes_scanned"),
        b = m["bytes_scanned"],
        exported = tr(lang, "sandbox.rows_exported"),
        e = m["rows_exported"],
    );
    let wid = esc(&id);
    let privacy = privacy_panel(lang, &w["privacy"]);
    if member && state == "active" {
        body.push_str(&privacy);
        body.push_str(&format!(
            "<h2>{sql}</h2><form id=\"sql-editor\" class=\"stack\" data-url=\"/api/v1/workspaces/{wid}/queries\" data-truncated=\"{trunc}\" \
             data-suppressed=\"{suppressed}\" data-noise=\"{noise}\" data-budget-left=\"{left}\">\
             <textarea name=\"sql\" rows=\"6\" spellcheck=\"false\">SELECT 1</textarea><button class=\"primary\" type=\"submit\">{run}</button></form>\
             <h2>{results}</h2><div id=\"results\"></div>\
             <h2>{export_h}</h2><form class=\"api-action stack\" id=\"export-form\" data-url=\"/api/v1/workspaces/{wid}/exports\" data-action=\"export\">\
             <label>{table}<input name=\"table\" required></label><label>{purpose}<input name=\"purpose\" required></label>\
             <label>{group}<input name=\"group_size_column\"></label><button type=\"submit\">{request}</button><p class=\"error\"></p></form>",
            sql = tr(lang, "sandbox.sql"),
            trunc = tr(lang, "sandbox.truncated"),
            suppressed = tr(lang, "sandbox.suppressed"),
            noise = tr(lang, "sandbox.noise"),
            left = tr(lang, "sandbox.budget_left"),
            run = tr(lang, "sandbox.run"),
            results = tr(lang, "sandbox.results"),
            export_h = tr(lang, "sandbox.export_table"),
            table = tr(lang, "sandbox.table"),
            purpose = tr(lang, "sandbox.purpose"),
            group = tr(lang, "sandbox.group_size_column"),
            request = tr(lang, "sandbox.request_export"),
        ));
    }
    body.push_str(&models_panel(lang, &w["models"]));
    if member && state == "active" {
        body.push_str(&training_form(lang, &wid));
    }
    let mut actions = String::new();
    if state == "active" && allowed(Action::WorkspaceSeal) {
        actions.push_str(&reason_form(
            lang,
            &format!("/api/v1/workspaces/{wid}/seal"),
            "seal",
            "sandbox.seal",
            "reason",
        ));
    }
    if state == "sealed" && allowed(Action::WorkspaceUnseal) {
        actions.push_str(&reason_form(
            lang,
            &format!("/api/v1/workspaces/{wid}/unseal"),
            "unseal",
            "sandbox.unseal",
            "reason",
        ));
    }
    if state == "active" && allowed(Action::WorkspaceReportRisk) {
        actions.push_str(&reason_form(
            lang,
            &format!("/api/v1/workspaces/{wid}/risk-reports"),
            "report_risk",
            "sandbox.report_risk",
            "description",
        ));
    }
    if state != "destroyed" && allowed(Action::WorkspaceDestroy) {
        actions.push_str(&reason_form(
            lang,
            &format!("/api/v1/workspaces/{wid}/destroy"),
            "destroy",
            "sandbox.destroy",
            "reason",
        ));
    }
    body.push_str(&actions);
    let certs: Vec<String> = w["destruction_certificates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str())
        .map(|c| format!("<a href=\"/api/v1/public/destruction-certificates/{0}\">{0}</a>", esc(c)))
        .collect();
    if !certs.is_empty() {
        body.push_str(&format!("<h2>{}</h2><p>{}</p>", tr(lang, "sandbox.certificates"), certs.join("<br>")));
    }
    page(&app, &caller, "/console/workspaces", "nav.workspaces", body)
}

pub async fn exports_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match sandbox::list_exports(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let can_review = app.authz.authorize(&caller.principal, Action::ExportReview, &Resource::platform()).is_ok();
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let id = esc(s(e, "id"));
            let checks: String = e["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{} {}：{}", if c["passed"] == true { "✓" } else { "✗" }, esc(s(c, "check")), esc(s(c, "detail"))))
                .collect::<Vec<_>>()
                .join("<br>");
            let action = match s(e, "state") {
                "pending_review" if can_review => format!(
                    "<form class=\"api-action inline\" data-url=\"/api/v1/exports/{id}/review\" data-action=\"review\">\
                     <label class=\"check\"><input type=\"checkbox\" name=\"approved\" checked> {}</label>\
                     <input name=\"reason\" required placeholder=\"{}\"><button type=\"submit\">{}</button><span class=\"error\"></span></form>",
                    tr(lang, "sandbox.approve"),
                    tr(lang, "sandbox.reason"),
                    tr(lang, "sandbox.review"),
                ),
                "approved" if !can_review => {
                    format!("<a href=\"/api/v1/exports/{id}/download\">{}</a>", tr(lang, "sandbox.download"))
                }
                _ => String::new(),
            };
            format!(
                "<tr><td><code>{table}</code></td><td>{purpose}</td><td>{rows}</td><td id=\"export-{id}\">{state}</td><td>{checks}</td><td>{action}</td></tr>",
                table = esc(s(e, "table")),
                purpose = esc(s(e, "purpose")),
                rows = e["rows"],
                state = tr(lang, &format!("export_state.{}", s(e, "state"))),
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>{rows}</tbody></table>",
        tr(lang, "nav.exports"),
        tr(lang, "sandbox.table"),
        tr(lang, "sandbox.purpose"),
        tr(lang, "sandbox.rows"),
        tr(lang, "sandbox.state"),
        tr(lang, "sandbox.checks"),
    );
    page(&app, &caller, "/console/exports", "nav.exports", body)
}
