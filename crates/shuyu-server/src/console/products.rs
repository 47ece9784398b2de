//! Console screens for products (SPEC §5): definition and review, the marketplace with the
//! consumer's application, applications and contracts with keys, usage, a trial call of the
//! interface, statements, and the authority's view of the ledger. Pages read through the API
//! handlers, so they show exactly what the API would.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde_json::Value;
use shuyu_authz::{Action, Resource};

use super::html::{esc, public_page};
use super::{internal, page, signed_in};
use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::i18n::{t, Lang};
use crate::routes::{consumers, products, sandbox};
use crate::state::AppState;

fn tr(lang: Lang, key: &str) -> String {
    esc(&t(lang, key))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn can(app: &AppState, caller: &Caller, action: Action) -> bool {
    let org = caller.user.as_ref().map(|u| u.org_id);
    let res = match org {
        Some(o) => Resource::owned("Product", "any", o).with_org("consumer", o),
        None => Resource::platform(),
    };
    app.authz.authorize(&caller.principal, action, &res).is_ok()
}

fn fen(v: &Value) -> String {
    v.as_i64().map(|f| format!("¥{}.{:02}", f / 100, (f % 100).abs())).unwrap_or_default()
}

fn action_button(lang: Lang, url: &str, action: &str, label_key: &str) -> String {
    format!(
        "<form class=\"api-action inline\" data-url=\"{url}\" data-action=\"{action}\"><button type=\"submit\">{}</button>\
         <span class=\"error\"></span></form>",
        tr(lang, label_key)
    )
}

fn reason_button(lang: Lang, url: &str, action: &str, label_key: &str) -> String {
    format!(
        "<form class=\"api-action inline\" data-url=\"{url}\" data-action=\"{action}\"><input name=\"reason\" required \
         placeholder=\"{}\"><button type=\"submit\">{}</button><span class=\"error\"></span></form>",
        tr(lang, "sandbox.reason"),
        tr(lang, label_key)
    )
}

fn scenarios(lang: Lang, v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|x| format!("{}（{}）", esc(s(x, "name")), tr(lang, &format!("scenario_category.{}", s(x, "category")))))
        .collect::<Vec<_>>()
        .join("、")
}

fn version_block(lang: Lang, p: &Value, v: &Value, operator: bool, reviewer: bool) -> String {
    let id = s(p, "id");
    let n = v["version"].as_i64().unwrap_or(0);
    let d = &v["definition"];
    let state = s(v, "state");
    let base = format!("/api/v1/products/{}/versions/{n}", esc(id));
    let reviews: String = v["reviews"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "<li>{}：{}（{}；{}；{}）</li>",
                tr(lang, &format!("org_kind.{}", s(r, "reviewer_kind"))),
                tr(lang, if r["passed"] == true { "product.passed" } else { "product.failed" }),
                esc(s(r, "compliance")),
                esc(s(r, "security")),
                esc(s(r, "scenario"))
            )
        })
        .collect();
    let sources: String = d["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            format!(
                "{}（{}，{} {}）",
                esc(s(x, "name")),
                esc(s(x, "holder")),
                tr(lang, "product.retrieved_on"),
                esc(s(x, "retrieved_on"))
            )
        })
        .collect::<Vec<_>>()
        .join("、");
    let mut actions = String::new();
    if operator {
        match state {
            "draft" => {
                actions.push_str(&action_button(lang, &format!("{base}/actions/submit"), "submit", "product.submit"))
            }
            "approved" if !v["certificate_code"].is_null() => {
                actions.push_str(&action_button(lang, &format!("{base}/actions/publish"), "publish", "product.publish"))
            }
            "approved" => actions.push_str(&format!(
                "<p class=\"muted\">{} <a href=\"/console/registrations/new\">{}</a></p>",
                tr(lang, "product.register_first"),
                tr(lang, "nav.registrations")
            )),
            _ => {}
        }
        if matches!(state, "draft" | "approved" | "published") {
            actions.push_str(&action_button(lang, &format!("{base}/actions/withdraw"), "withdraw", "product.withdraw"));
        }
    }
    if reviewer && state == "in_review" {
        actions.push_str(&format!(
            "<form class=\"api-action stack\" id=\"product-review-{id}-{n}\" data-url=\"{base}/reviews\" data-action=\"review\">\
             <label>{concl}<select name=\"passed\" data-bool><option value=\"true\">{pass}</option><option value=\"false\">{fail}</option></select></label>\
             <label>{comp}<input name=\"compliance\" required></label><label>{sec}<input name=\"security\" required></label>\
             <label>{scen}<input name=\"scenario\" required></label>\
             <label>{grade}<select name=\"grade\" data-number><option value=\"\"></option><option>1</option><option>2</option><option>3</option><option>4</option></select></label>\
             <button class=\"primary\" type=\"submit\">{submit}</button><p class=\"error\"></p></form>",
            id = esc(id),
            concl = tr(lang, "product.conclusion"),
            pass = tr(lang, "product.passed"),
            fail = tr(lang, "product.failed"),
            comp = tr(lang, "product.compliance"),
            sec = tr(lang, "product.security"),
            scen = tr(lang, "product.scenario_review"),
            grade = tr(lang, "product.grade"),
            submit = tr(lang, "product.review"),
        ));
    }
    let interface = d["interface"]
        .as_object()
        .map(|i| {
            format!(
                "<p>{}：<code>{}</code></p>",
                tr(lang, "product.query"),
                esc(i.get("sql").and_then(Value::as_str).unwrap_or(""))
            )
        })
        .unwrap_or_default();
    format!(
        "<div class=\"card\" id=\"version-{id}-{n}\"><h3>{vl} {n} · <span class=\"state\">{state_l}</span></h3>\
         <p>{desc}</p><p class=\"muted\">{scen_l}：{scen} · {scope_l}：{scope}</p><p class=\"muted\">{src_l}：{sources}</p>\
         <p class=\"muted\">{price_l}：{price} · {grade_l}：{grade} · {cert_l}：{cert}</p>{interface}<ul>{reviews}</ul>{actions}</div>",
        id = esc(id),
        vl = tr(lang, "product.version"),
        state_l = tr(lang, &format!("product_state.{state}")),
        desc = esc(s(d, "description")),
        scen_l = tr(lang, "product.scenarios"),
        scen = scenarios(lang, &d["scenarios"]),
        scope_l = tr(lang, "product.usage_scope"),
        scope = esc(s(d, "usage_scope")),
        src_l = tr(lang, "product.sources"),
        price_l = tr(lang, "product.pricing_basis"),
        price = esc(s(d, "pricing_basis")),
        grade_l = tr(lang, "product.grade"),
        grade = tr(lang, &format!("product.grade_{}", v["grade"].as_u64().unwrap_or(1))),
        cert_l = tr(lang, "product.certificate"),
        cert = esc(v["certificate_code"].as_str().unwrap_or("—")),
    )
}

fn new_product_form(lang: Lang, workspaces: &Value) -> String {
    let options: String = workspaces["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| s(w, "state") == "active")
        .map(|w| format!("<option value=\"{}\">{}</option>", esc(s(w, "id")), esc(s(w, "name"))))
        .collect();
    let kinds: String = [
        "data_interface",
        "dataset",
        "algorithm_model",
        "data_tool",
        "data_application",
        "data_service",
        "data_report",
    ]
    .iter()
    .map(|k| format!("<option value=\"{k}\">{}</option>", tr(lang, &format!("product_kind.{k}"))))
    .collect();
    format!(
        "<details><summary>{title}</summary><form class=\"api-action stack\" id=\"product-form\" data-url=\"/api/v1/products\" data-action=\"create\">\
         <label>{ws}<select name=\"workspace_id\" required>{options}</select></label>\
         <label>{name}<input name=\"name\" required></label><label>{kind}<select name=\"kind\">{kinds}</select></label>\
         <label>{desc}<textarea name=\"definition.description\" required></textarea></label>\
         <label>{scen}<textarea name=\"definition.scenarios\" data-rows=\"name|category\" placeholder=\"普惠金融授信|industry\"></textarea></label>\
         <label>{scope}<input name=\"definition.usage_scope\" required></label>\
         <label>{src}<textarea name=\"definition.sources\" data-rows=\"entry_id|retrieved_on\" placeholder=\"entry-id|2026-10-21\"></textarea></label>\
         <label>{basis}<input name=\"definition.pricing_basis\" required></label>\
         <label>{sql}<textarea name=\"definition.interface.sql\" placeholder=\"SELECT … WHERE uscc = $uscc\"></textarea></label>\
         <label>{params}<textarea name=\"definition.interface.parameters\" data-rows=\"name|type|default|max_length\" data-numeric=\"max_length\" placeholder=\"uscc|string|91320200000000001X|18\"></textarea></label>\
         <label>{max}<input name=\"definition.interface.max_rows\" type=\"number\" min=\"1\" max=\"10000\" value=\"1000\"></label>\
         <label>{page_l}<input name=\"definition.interface.page_size\" type=\"number\" min=\"1\" max=\"10000\" value=\"100\"></label>\
         <button class=\"primary\" type=\"submit\">{submit}</button><p class=\"error\"></p></form></details>",
        title = tr(lang, "product.new"),
        ws = tr(lang, "sandbox.workspace"),
        name = tr(lang, "product.name"),
        kind = tr(lang, "product.kind"),
        desc = tr(lang, "product.description"),
        scen = tr(lang, "product.scenarios_rows"),
        scope = tr(lang, "product.usage_scope"),
        src = tr(lang, "product.sources_rows"),
        basis = tr(lang, "product.pricing_basis"),
        sql = tr(lang, "product.query"),
        params = tr(lang, "product.parameters_rows"),
        max = tr(lang, "product.max_rows"),
        page_l = tr(lang, "product.page_size"),
        submit = tr(lang, "product.create"),
    )
}

pub async fn products_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match products::list(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let operator = can(&app, &caller, Action::ProductEdit);
    let reviewer = caller
        .user
        .as_ref()
        .and_then(|u| u.roles.first())
        .is_some_and(|r| app.profile.products.reviewers.contains(&r.org_kind()))
        && can(&app, &caller, Action::ProductReview);
    let authority = can(&app, &caller, Action::ProductSuspend);
    let mut body = format!("<h1>{}</h1>", tr(lang, "nav.products"));
    if can(&app, &caller, Action::ProductCreate) {
        let ws =
            sandbox::list_workspaces(State(app.clone()), caller.clone()).await.map(|Json(v)| v).unwrap_or_default();
        body.push_str(&new_product_form(lang, &ws));
    }
    for p in list["products"].as_array().into_iter().flatten() {
        let id = s(p, "id");
        let versions: String = p["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .rev()
            .map(|v| version_block(lang, p, v, operator, reviewer))
            .collect();
        let mut head_actions = String::new();
        if authority {
            let url = format!("/api/v1/products/{}", esc(id));
            if s(p, "status") == "active" {
                head_actions.push_str(&reason_button(lang, &format!("{url}/suspend"), "suspend", "product.suspend"));
            } else {
                head_actions.push_str(&reason_button(
                    lang,
                    &format!("{url}/reinstate"),
                    "reinstate",
                    "product.reinstate",
                ));
            }
            head_actions.push_str(&format!(
                "<form class=\"api-action inline\" data-url=\"{url}/price-cap\" data-action=\"price_cap\">\
                 <input type=\"hidden\" name=\"cap.unit\" value=\"call_volume\">\
                 <input name=\"cap.unit_fen\" type=\"number\" min=\"0\" required placeholder=\"{unit}\">\
                 <input name=\"cap.monthly_fen\" type=\"number\" min=\"0\" required placeholder=\"{monthly}\">\
                 <input name=\"reason\" required placeholder=\"{reason}\"><button type=\"submit\">{set}</button><span class=\"error\"></span></form>",
                unit = tr(lang, "product.cap_unit_fen"),
                monthly = tr(lang, "product.cap_monthly_fen"),
                reason = tr(lang, "product.cap_reason"),
                set = tr(lang, "product.set_cap"),
            ));
        }
        if operator && s(p, "status") == "active" && p["published_version"].is_number() {
            head_actions.push_str(&format!(
                " <a href=\"/api/v1/products/{}/listing\">{}</a>",
                esc(id),
                tr(lang, "product.listing")
            ));
        }
        let cap = &p["price_cap"];
        let cap_text = if cap.is_null() {
            tr(lang, "product.no_cap")
        } else {
            format!("{} / {}", fen(&cap["unit_fen"]), fen(&cap["monthly_fen"]))
        };
        body.push_str(&format!(
            "<section class=\"product\" id=\"product-{id}\"><h2>{name} <span class=\"tag\">{kind}</span> <span class=\"state\">{status}</span></h2>\
             <p class=\"muted\">{op} · {cap_l}：{cap_text}</p>{head_actions}{versions}</section>",
            id = esc(id),
            name = esc(s(p, "name")),
            kind = tr(lang, &format!("product_kind.{}", s(p, "kind"))),
            status = tr(lang, &format!("product_status.{}", s(p, "status"))),
            op = esc(s(p, "operator_name")),
            cap_l = tr(lang, "product.price_cap"),
        ));
    }
    page(&app, &caller, "/console/products", "nav.products", body)
}

fn market_cards(lang: Lang, list: &Value, apply: bool) -> String {
    list["products"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let id = s(p, "id");
            let options: String = p["scenarios"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| format!("<option value=\"{n}\">{n}</option>", n = esc(s(x, "name"))))
                .collect();
            let docs = p["interface"]["openapi"]
                .as_str()
                .map(|u| format!(" · <a href=\"{}\">{}</a>", esc(u), tr(lang, "product.api_doc")))
                .unwrap_or_default();
            let form = if apply {
                format!(
                    "<details><summary>{title}</summary><form class=\"api-action stack\" id=\"apply-{id}\" data-url=\"/api/v1/consumer-applications\" data-action=\"apply\">\
                     <input type=\"hidden\" name=\"product_id\" value=\"{id}\">\
                     <label>{scen}<select name=\"scenario\">{options}</select></label><label>{purpose}<input name=\"purpose\" required></label>\
                     <label>{plan}<select name=\"terms.plan.plan\"><option value=\"per_use\">{per_use}</option><option value=\"free\">{free}</option></select></label>\
                     <input type=\"hidden\" name=\"terms.plan.unit\" value=\"call_volume\">\
                     <label>{tiers}<textarea name=\"terms.plan.tiers\" data-rows=\"up_to|unit_fen\" data-numeric=\"up_to|unit_fen\" placeholder=\"|5\"></textarea></label>\
                     <label>{day}<input name=\"terms.quota_per_day\" type=\"number\" min=\"1\" value=\"10000\"></label>\
                     <label>{minute}<input name=\"terms.quota_per_minute\" type=\"number\" min=\"1\" value=\"600\"></label>\
                     <label>{from}<input name=\"terms.valid_from\" type=\"date\" required></label><label>{until}<input name=\"terms.valid_until\" type=\"date\" required></label>\
                     <button class=\"primary\" type=\"submit\">{submit}</button><p class=\"error\"></p></form></details>",
                    id = esc(id),
                    title = tr(lang, "product.apply"),
                    scen = tr(lang, "product.scenario"),
                    purpose = tr(lang, "sandbox.purpose"),
                    plan = tr(lang, "product.plan"),
                    per_use = tr(lang, "plan.per_use"),
                    free = tr(lang, "plan.free"),
                    tiers = tr(lang, "product.tiers_rows"),
                    day = tr(lang, "product.quota_per_day"),
                    minute = tr(lang, "product.quota_per_minute"),
                    from = tr(lang, "product.valid_from"),
                    until = tr(lang, "product.valid_until"),
                    submit = tr(lang, "product.submit_application"),
                )
            } else {
                String::new()
            };
            format!(
                "<div class=\"card\" id=\"market-{id}\"><h3>{name} <span class=\"tag\">{kind}</span></h3><p>{desc}</p>\
                 <p class=\"muted\">{op} · {cert_l} <a href=\"/public/certificates/{cert}\">{cert}</a> · {grade_l}：{grade}{docs}</p>\
                 <p class=\"muted\">{scen_l}：{scen}</p><p class=\"muted\">{scope_l}：{scope}</p>{form}</div>",
                id = esc(id),
                name = esc(s(p, "name")),
                kind = tr(lang, &format!("product_kind.{}", s(p, "kind"))),
                desc = esc(s(p, "description")),
                op = esc(s(p, "operator_name")),
                cert_l = tr(lang, "product.certificate"),
                cert = esc(s(p, "certificate_code")),
                grade_l = tr(lang, "product.grade"),
                grade = tr(lang, &format!("product.grade_{}", p["grade"].as_u64().unwrap_or(1))),
                scen_l = tr(lang, "product.scenarios"),
                scen = scenarios(lang, &p["scenarios"]),
                scope_l = tr(lang, "product.usage_scope"),
                scope = esc(s(p, "usage_scope")),
            )
        })
        .collect()
}

pub async fn market_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match products::market(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let apply =
        app.authz.authorize(&caller.principal, Action::ConsumerApplicationCreate, &Resource::platform()).is_ok();
    let body = format!("<h1>{}</h1>{}", tr(lang, "nav.market"), market_cards(lang, &list, apply));
    page(&app, &caller, "/console/market", "nav.market", body)
}

/// The marketplace for the public: no sign-in.
pub async fn public_market(State(app): State<AppState>, caller: Caller) -> Response {
    let lang = caller.lang;
    let body = match products::market(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => format!("<h1>{}</h1>{}", tr(lang, "nav.market"), market_cards(lang, &v, false)),
        Err(e) => format!(
            "<p class=\"error\">{}</p>",
            esc(if lang == Lang::En { &e.body.message } else { &e.body.message_zh })
        ),
    };
    public_page(lang, &t(lang, "nav.market"), &body)
}

#[derive(serde::Deserialize)]
pub struct DisclosureParams {
    year: Option<i32>,
}

/// The annual disclosure for the public (SPEC §7.4).
pub async fn public_disclosure(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DisclosureParams>,
) -> Response {
    let lang = caller.lang;
    let result =
        products::disclosure(State(app.clone()), caller.clone(), ApiQuery(products::DisclosureQuery { year: q.year }))
            .await;
    let body = match result {
        Ok(Json(v)) => {
            let head: String = [
                "resource",
                "registration_status",
                "authorization_mode",
                "price_cap",
                "operator",
                "authorization_term",
                "disclosure_date",
            ]
            .iter()
            .map(|c| format!("<th>{}</th>", tr(lang, &format!("disclosure.{c}"))))
            .collect();
            let rows: String = v["authorizations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>—</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(s(r, "resource")),
                        esc(s(r, "registration_status")),
                        esc(s(r, "authorization_mode")),
                        esc(s(r, "operator")),
                        esc(s(r, "authorization_term")),
                        esc(s(r, "disclosure_date"))
                    )
                })
                .collect();
            let products: String = v["products"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let cap = &p["price_cap"];
                    let cap = if cap.is_null() {
                        "—".to_string()
                    } else {
                        format!("{} / {}", fen(&cap["unit_fen"]), fen(&cap["monthly_fen"]))
                    };
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(s(p, "product")),
                        tr(lang, &format!("product_kind.{}", s(p, "kind"))),
                        esc(s(p, "operator")),
                        esc(&cap),
                        p["actual_prices"].as_array().map(|a| a.len()).unwrap_or(0)
                    )
                })
                .collect();
            format!(
                "<h1>{title} {year}</h1><p class=\"muted\">{due} {due_by}</p><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>\
                 <h2>{pl}</h2><table><thead><tr><th>{pn}</th><th>{pk}</th><th>{po}</th><th>{pc}</th><th>{pa}</th></tr></thead><tbody>{products}</tbody></table>",
                title = tr(lang, "disclosure.title"),
                year = v["year"],
                due = tr(lang, "disclosure.due_by"),
                due_by = esc(s(&v, "due_by")),
                pl = tr(lang, "nav.products"),
                pn = tr(lang, "product.name"),
                pk = tr(lang, "product.kind"),
                po = tr(lang, "disclosure.operator"),
                pc = tr(lang, "disclosure.price_cap"),
                pa = tr(lang, "disclosure.actual_prices"),
            )
        }
        Err(e) => format!(
            "<p class=\"error\">{}</p>",
            esc(if lang == Lang::En { &e.body.message } else { &e.body.message_zh })
        ),
    };
    public_page(lang, &t(lang, "disclosure.title"), &body)
}

fn contract_block(lang: Lang, c: &Value, consumer: bool, operator: bool) -> String {
    let id = s(c, "id");
    let keys: String = c["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            let revoke = if s(k, "state") == "active" && (consumer || operator) {
                action_button(
                    lang,
                    &format!("/api/v1/api-keys/{}/revoke", esc(s(k, "id"))),
                    "revoke",
                    "product.revoke_key",
                )
            } else {
                String::new()
            };
            format!(
                "<li><code>{}…</code> · {} · {}{revoke}</li>",
                esc(s(k, "prefix")),
                tr(lang, &format!("key_state.{}", s(k, "state"))),
                esc(s(k, "created_at"))
            )
        })
        .collect();
    let usage: String = c["usage"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(s(u, "day")),
                tr(lang, &format!("call_outcome.{}", s(u, "outcome"))),
                u["calls"]
            )
        })
        .collect();
    let statements: String = c["statements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|st| {
            let pay = if consumer && s(st, "state") == "issued" {
                action_button(lang, &format!("/api/v1/statements/{}/pay", esc(s(st, "id"))), "pay", "product.pay")
            } else {
                String::new()
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{pay}</td></tr>",
                esc(s(st, "period")),
                st["units"],
                fen(&st["charge_fen"]),
                fen(&st["deduction_fen"]),
                fen(&st["amount_fen"]),
                tr(lang, &format!("statement_state.{}", s(st, "state")))
            )
        })
        .collect();
    let mut tools = String::new();
    if consumer && s(c, "state") == "active" {
        tools.push_str(&format!(
            "<form class=\"api-action inline\" id=\"new-key-{id}\" data-url=\"/api/v1/contracts/{id}/keys\" data-action=\"key\" data-show=\"key\">\
             <button type=\"submit\">{new_key}</button><span class=\"error\"></span><p class=\"result\" data-note=\"{note}\"></p></form>",
            id = esc(id),
            new_key = tr(lang, "product.new_key"),
            note = tr(lang, "product.key_once"),
        ));
        if let Some(v) = c["published_version"].as_i64() {
            tools.push_str(&format!(
                "<form class=\"try-interface stack\" id=\"try-{id}\" data-url=\"/data-api/v1/{pid}/{v}\">\
                 <label>{key_l}<input name=\"key\" required autocomplete=\"off\"></label>\
                 <label>{params_l}<input name=\"query\" placeholder=\"uscc=91320200…&amp;offset=0\"></label>\
                 <button type=\"submit\">{call}</button><div class=\"result\"></div></form>",
                id = esc(id),
                pid = esc(s(c, "product_id")),
                key_l = tr(lang, "product.api_key"),
                params_l = tr(lang, "product.call_params"),
                call = tr(lang, "product.try_call"),
            ));
        }
    }
    if operator {
        tools.push_str(&format!(
            "<form class=\"api-action inline\" data-url=\"/api/v1/contracts/{id}/statements\" data-action=\"statement\">\
             <input name=\"period\" required placeholder=\"2026-11\"><button type=\"submit\">{}</button><span class=\"error\"></span></form>",
            tr(lang, "product.issue_statement"),
            id = esc(id),
        ));
    }
    format!(
        "<div class=\"card\" id=\"contract-{id}\"><h3>{name} · {scen} <span class=\"state\">{state}</span></h3>\
         <p class=\"muted\">{cat} · {term}：{from} – {until} · {quota}：{day}/{minute}{trial}</p>\
         <h4>{keys_l}</h4><ul>{keys}</ul>{tools}\
         <h4>{usage_l}</h4><table><tbody>{usage}</tbody></table>\
         <h4>{st_l}</h4><table><thead><tr><th>{period}</th><th>{units}</th><th>{charge}</th><th>{deduction}</th><th>{amount}</th><th></th></tr></thead><tbody>{statements}</tbody></table></div>",
        id = esc(id),
        name = esc(s(c, "product_name")),
        scen = esc(s(c, "scenario")),
        state = tr(lang, &format!("contract_state.{}", s(c, "state"))),
        cat = tr(lang, &format!("scenario_category.{}", s(c, "category"))),
        term = tr(lang, "product.term"),
        from = esc(s(&c["terms"], "valid_from")),
        until = esc(s(&c["terms"], "valid_until")),
        quota = tr(lang, "product.quota"),
        day = c["terms"]["quota_per_day"],
        minute = c["terms"]["quota_per_minute"],
        trial = if c["trial_price"] == true { format!(" · {}", tr(lang, "product.trial_price")) } else { String::new() },
        keys_l = tr(lang, "product.keys"),
        usage_l = tr(lang, "product.usage"),
        st_l = tr(lang, "product.statements"),
        period = tr(lang, "product.period"),
        units = tr(lang, "product.units"),
        charge = tr(lang, "product.charge"),
        deduction = tr(lang, "product.deduction"),
        amount = tr(lang, "product.amount"),
    )
}

pub async fn contracts_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let apps = match consumers::list_applications(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let contracts = match consumers::list_contracts(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let consumer = can(&app, &caller, Action::ApiKeyCreate);
    let operator = can(&app, &caller, Action::StatementIssue);
    let decider = can(&app, &caller, Action::ConsumerApplicationDecide);
    let rows: String = apps["applications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let decide = if decider && s(a, "state") == "submitted" {
                format!(
                    "<form class=\"api-action inline\" id=\"decide-{id}\" data-url=\"/api/v1/consumer-applications/{id}/decision\" data-action=\"decide\">\
                     <select name=\"approved\" data-bool><option value=\"true\">{yes}</option><option value=\"false\">{no}</option></select>\
                     <input name=\"reason\" required placeholder=\"{reason}\"><button type=\"submit\">{submit}</button><span class=\"error\"></span></form>",
                    id = esc(s(a, "id")),
                    yes = tr(lang, "product.approve"),
                    no = tr(lang, "product.refuse"),
                    reason = tr(lang, "sandbox.reason"),
                    submit = tr(lang, "product.decide"),
                )
            } else {
                String::new()
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{decide}</td></tr>",
                esc(s(a, "scenario")),
                esc(s(a, "purpose")),
                esc(&a["terms"]["plan"]["plan"].as_str().map(|p| t(lang, &format!("plan.{p}"))).unwrap_or_default()),
                tr(lang, &format!("application_state.{}", s(a, "state")))
            )
        })
        .collect();
    let blocks: String = contracts["contracts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| contract_block(lang, c, consumer, operator))
        .collect();
    let mut body = format!(
        "<h1>{}</h1><h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>{rows}</tbody></table>\
         <h2>{}</h2>{blocks}",
        tr(lang, "nav.contracts"),
        tr(lang, "product.applications"),
        tr(lang, "product.scenario"),
        tr(lang, "sandbox.purpose"),
        tr(lang, "product.plan"),
        tr(lang, "sandbox.state"),
        tr(lang, "product.contracts"),
    );
    if app.authz.authorize(&caller.principal, Action::LedgerRead, &Resource::platform()).is_ok() {
        if let Ok(Json(l)) =
            consumers::ledger(State(app.clone()), caller.clone(), ApiQuery(consumers::LedgerQuery::default())).await
        {
            let accounts: String = l["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    format!(
                        "<tr><td><code>{}</code></td><td>{}</td></tr>",
                        esc(s(a, "account")),
                        fen(&a["balance_fen"])
                    )
                })
                .collect();
            body.push_str(&format!(
                "<h2>{}</h2><p id=\"ledger-status\">{}：{} · {}：{}</p><table><tbody>{accounts}</tbody></table>",
                tr(lang, "product.ledger"),
                tr(lang, "product.balanced"),
                tr(lang, if l["balanced"] == true { "product.yes" } else { "product.no" }),
                tr(lang, "product.non_tax_revenue"),
                fen(&l["non_tax_revenue_fen"]),
            ));
        }
    }
    page(&app, &caller, "/console/contracts", "nav.contracts", body)
}
