//! The public portal (社会公众): the published catalogue with search, registration publicity,
//! and certificate verification with a QR code of the verification address. No sign-in.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;

use super::html::{esc, public_page};
use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::i18n::{t, Lang};
use crate::routes::catalogue::{self, SearchParams};
use crate::routes::{certificates, registrations};
use crate::state::AppState;

fn label(lang: Lang, section: &str, value: &str) -> String {
    esc(&t(lang, &format!("{section}.{value}")))
}

fn error_page(lang: Lang, e: crate::error::ApiError) -> Response {
    let msg = if lang == Lang::En { e.body.message.clone() } else { e.body.message_zh.clone() };
    (e.status, public_page(lang, &t(lang, "app.name"), &format!("<p class=\"error\">{}</p>", esc(&msg))))
        .into_response()
}

pub async fn catalogue_page(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Response {
    let lang = caller.lang;
    let q = p.q.clone().unwrap_or_default();
    let open = p.open_class.clone().unwrap_or_default();
    let result = match catalogue::search(State(app.clone()), caller.clone(), ApiQuery(p)).await {
        Ok(Json(r)) => r,
        Err(e) => return error_page(lang, e),
    };
    let options: String = ["", "unconditional", "conditional", "not_allowed"]
        .iter()
        .map(|c| {
            let text = if c.is_empty() { t(lang, "cat.any") } else { t(lang, &format!("class.{c}")) };
            let sel = if *c == open { " selected" } else { "" };
            format!("<option value=\"{c}\"{sel}>{}</option>", esc(&text))
        })
        .collect();
    let cards: String = result
        .entries
        .iter()
        .map(|e| {
            let tags: String = e.tags.iter().map(|t| format!("<span class=\"tag\">{}</span>", esc(t))).collect();
            let download = if e.downloadable {
                format!(" · <a href=\"/api/v1/public/catalogue/{}/download\">{}</a>", esc(&e.id), esc(&t(lang, "cat.download")))
            } else {
                String::new()
            };
            format!(
                "<div class=\"card entry\"><h3>{name}</h3><p>{desc}</p><p class=\"muted\">{holder} · {industry} {iname} · \
                 {share_l}：{share} · {open_l}：{open} · {level_l} {level}{download}</p><p>{tags}</p></div>",
                name = esc(&e.name),
                desc = esc(&e.description),
                holder = esc(&e.holder),
                industry = esc(&e.industry),
                iname = esc(&e.industry_name),
                share_l = esc(&t(lang, "cat.share_class")),
                share = label(lang, "class", &e.share_class),
                open_l = esc(&t(lang, "cat.open_class")),
                open = label(lang, "class", &e.open_class),
                level_l = esc(&t(lang, "cat.level")),
                level = e.level,
            )
        })
        .collect();
    let body = format!(
        "<h1>{title}</h1><form class=\"inline\" method=\"get\" action=\"/public/catalogue\">\
         <label>{search}<input name=\"q\" value=\"{q}\" placeholder=\"{ph}\"></label>\
         <label>{open_l}<select name=\"open_class\">{options}</select></label>\
         <button class=\"primary\" type=\"submit\">{search}</button></form>\
         <p class=\"muted\" id=\"total\">{total} {results}</p><div id=\"entries\">{cards}</div>",
        title = esc(&t(lang, "nav.public_catalogue")),
        search = esc(&t(lang, "cat.search")),
        q = esc(&q),
        ph = esc(&t(lang, "cat.search_placeholder")),
        open_l = esc(&t(lang, "cat.open_class")),
        total = result.total,
        results = esc(&t(lang, "cat.results")),
    );
    public_page(lang, &t(lang, "nav.public_catalogue"), &body)
}

pub async fn publicity_page(State(app): State<AppState>, caller: Caller) -> Response {
    let lang = caller.lang;
    let notices = match registrations::publicity(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return error_page(lang, e),
    };
    // YXR §22: anyone signed in under their real name may object, with the reason.
    let can_object = caller.user.as_ref().is_some_and(shuyu_store::users::UserRecord::has_real_name);
    let rows: String = notices
        .iter()
        .map(|n| {
            let object = if can_object {
                format!(
                    "<form class=\"api-action stack\" data-url=\"/api/v1/registrations/{id}/actions/object\">\
                     <textarea name=\"statement\" rows=\"2\" required placeholder=\"{ph}\"></textarea>\
                     <button type=\"submit\">{label}</button><p class=\"error\"></p></form>",
                    id = esc(&n.registration_id),
                    ph = esc(&t(lang, "reg.statement")),
                    label = esc(&t(lang, "action.object")),
                )
            } else {
                String::new()
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} — {}{}</td><td>{object}</td></tr>",
                esc(&n.applicant),
                label(lang, "reg_type", &n.kind),
                esc(&n.subject_name),
                esc(&n.summary),
                esc(n.publicity_from.as_deref().unwrap_or("")),
                esc(n.publicity_until.as_deref().unwrap_or("")),
                if n.suspended {
                    format!(" <span class=\"tag\">{}</span>", label(lang, "reg_state", "suspended"))
                } else {
                    String::new()
                },
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>{rows}</tbody></table>",
        esc(&t(lang, "nav.publicity")),
        esc(&t(lang, "reg.applicant")),
        esc(&t(lang, "reg.type")),
        esc(&t(lang, "reg.subject_name")),
        esc(&t(lang, "reg.summary")),
        esc(&t(lang, "reg.publicity_period")),
    );
    public_page(lang, &t(lang, "nav.publicity"), &body)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyForm {
    pub code: Option<String>,
}

pub async fn verify_form(caller: Caller, ApiQuery(f): ApiQuery<VerifyForm>) -> Response {
    let lang = caller.lang;
    if let Some(code) = f.code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()) {
        let path: String = code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        return Redirect::to(&format!("/public/certificates/{path}")).into_response();
    }
    let body = format!(
        "<h1>{title}</h1><form class=\"inline\" method=\"get\" action=\"/public/verify\"><label>{enter}\
         <input name=\"code\" placeholder=\"530400-2026-D-000001-X\" required></label>\
         <button class=\"primary\" type=\"submit\">{verify}</button></form>",
        title = esc(&t(lang, "nav.verify")),
        enter = esc(&t(lang, "cert.enter_code")),
        verify = esc(&t(lang, "cert.verify")),
    );
    public_page(lang, &t(lang, "nav.verify"), &body)
}

/// The QR code of `url` as inline SVG (no script, no style attribute).
fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(160, 160).quiet_zone(true).build(),
        Err(_) => String::new(),
    }
}

pub async fn certificate_page(State(app): State<AppState>, caller: Caller, Path(code): Path<String>) -> Response {
    let lang = caller.lang;
    let v = match certificates::verify(State(app.clone()), caller.clone(), Path(code)).await {
        Ok(Json(v)) => v,
        Err(e) => return error_page(lang, e),
    };
    let f = &v.facts;
    let s = |k: &str| esc(f[k].as_str().unwrap_or(""));
    let url = format!("{}/public/certificates/{}", app.config.public_url.trim_end_matches('/'), v.code);
    let status_class = if v.verified { "ok" } else { "error" };
    let signature = if v.signature_valid { t(lang, "cert.signature_ok") } else { t(lang, "cert.signature_bad") };
    let row = |key: &str, value: String| format!("<tr><th>{}</th><td>{value}</td></tr>", esc(&t(lang, key)));
    let rows = [
        row("cert.code", format!("<span class=\"mono\">{}</span>", esc(&v.code))),
        row(
            "cert.status",
            format!("<strong id=\"cert-status\" class=\"{status_class}\">{}</strong>", label(lang, "cert", &v.status)),
        ),
        row("reg.subject_name", s("subject_name")),
        row("reg.summary", s("summary")),
        row("cert.holder", format!("{} <span class=\"mono\">{}</span>", s("holder"), s("holder_uscc"))),
        row("reg.industry", s("industry")),
        row("reg.region", s("region")),
        row("cert.issuer", s("issuer")),
        row("cert.issued_on", s("issued_on")),
        row("cert.valid_until", format!("{} — {}", s("valid_from"), s("valid_until"))),
        row("cert.version", esc(&f["version"].to_string())),
        row("cert.checked_on", esc(&v.checked_on)),
    ]
    .concat();
    let body = format!(
        "<div class=\"certificate\"><h1>{title}</h1><div class=\"grid2\"><table class=\"facts\">{rows}</table>\
         <div class=\"qr\">{qr}<p class=\"muted\">{scan}</p><p class=\"mono small\">{url}</p></div></div>\
         <p id=\"signature\" class=\"{sig_class}\">{signature}</p>\
         <details><summary>{sig_label}</summary><pre>{signed}</pre><p class=\"mono small\">{sig}</p><p class=\"mono small\">Ed25519 {key}</p></details>\
         <p class=\"noprint\"><button id=\"print\" type=\"button\">{print}</button></p></div>",
        title = esc(&t(lang, "cert.title")),
        qr = qr_svg(&url),
        scan = esc(&t(lang, "cert.scan")),
        url = esc(&url),
        sig_class = if v.signature_valid { "ok" } else { "error" },
        signature = esc(&signature),
        sig_label = esc(&t(lang, "field.signature")),
        signed = esc(&v.signed_text),
        sig = esc(&v.signature),
        key = esc(&v.public_key),
        print = esc(&t(lang, "cert.print")),
    );
    public_page(lang, &t(lang, "cert.title"), &body)
}
