//! Console screens for operators and authorization: programmes with their approvals,
//! announcements with the operator's application form and the experts' scoring, and agreements
//! with signing, filing and renewal. Pages read through the API handlers.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use shuyu_authz::{Action, Resource};

use super::html::esc;
use super::{internal, page, signed_in};
use crate::auth::Caller;
use crate::i18n::{t, Lang};
use crate::routes::operators::{self, APPLICATION_MATERIALS};
use crate::state::AppState;

fn label(lang: Lang, section: &str, value: &str) -> String {
    esc(&t(lang, &format!("{section}.{value}")))
}

fn action_form(lang: Lang, url: &str, action: &str, fields: &str) -> String {
    format!(
        "<form class=\"api-action inline\" data-url=\"{url}\" data-action=\"{action}\">{fields}\
         <button type=\"submit\">{}</button><span class=\"error\"></span></form>",
        label(lang, "action", action)
    )
}

pub async fn programmes_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match operators::list_programmes(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let rows: String = list
        .iter()
        .map(|p| {
            let forms: String = p
                .allowed_actions
                .iter()
                .filter(|a| a.as_str() != "amend")
                .map(|a| {
                    let url = format!("/api/v1/programmes/{}/actions/{a}", p.id);
                    let fields = match (a.as_str(), p.state.as_str()) {
                        ("approve", "authority_review") => format!(
                            "<input name=\"decision_record\" required placeholder=\"{}\">",
                            esc(&t(lang, "op.decision_record"))
                        ),
                        ("reject", _) => {
                            format!("<input name=\"reason\" required placeholder=\"{}\">", esc(&t(lang, "reg.reason")))
                        }
                        _ => String::new(),
                    };
                    action_form(lang, &url, a, &fields)
                })
                .collect();
            format!(
                "<tr><td>{name}</td><td>{version}</td><td id=\"programme-{id}\">{state}</td><td>{forms}</td></tr>",
                name = esc(p.content["name"].as_str().unwrap_or("")),
                version = p.version,
                id = esc(&p.id),
                state = label(lang, "programme_state", &p.state),
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table>",
        esc(&t(lang, "nav.programmes")),
        esc(&t(lang, "field.name")),
        esc(&t(lang, "cert.version")),
        esc(&t(lang, "reg.state")),
        esc(&t(lang, "reg.actions")),
    );
    page(&app, &caller, "/console/programmes", "nav.programmes", body)
}

pub async fn announcements_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match operators::list_announcements(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let can_apply = app.authz.authorize(&caller.principal, Action::OperatorApply, &Resource::platform()).is_ok();
    let can_review = app.authz.authorize(&caller.principal, Action::OperatorReviewRead, &Resource::platform()).is_ok();
    let can_score = app.authz.authorize(&caller.principal, Action::OperatorScore, &Resource::platform()).is_ok();
    let today = app.clock.today();
    let mut blocks = String::new();
    for a in &list {
        let open = today >= a.opens_on && today <= a.closes_on;
        let mut inner = String::new();
        if can_apply && open {
            let files: String = APPLICATION_MATERIALS
                .iter()
                .map(|k| {
                    format!(
                        "<label>{}<input type=\"file\" data-material=\"{k}\" required></label>",
                        label(lang, "op_material", k)
                    )
                })
                .collect();
            inner.push_str(&format!(
                "<form class=\"api-action stack\" id=\"apply-{id}\" data-url=\"/api/v1/announcements/{id}/applications\" data-wrap=\"declarations\">\
                 <label>{officer}<input name=\"security_officer\" required></label>\
                 <label class=\"check\"><input type=\"checkbox\" name=\"mlps_level3_experience\"> {mlps}</label>\
                 <label class=\"check\"><input type=\"checkbox\" name=\"major_violations\"> {violations}</label>\
                 <label>{incident}<input type=\"date\" name=\"last_security_incident\"></label>{files}\
                 <button class=\"primary\" type=\"submit\">{apply}</button><p class=\"error\"></p></form>",
                id = esc(&a.id),
                officer = esc(&t(lang, "op.security_officer")),
                mlps = esc(&t(lang, "op.mlps")),
                violations = esc(&t(lang, "op.violations")),
                incident = esc(&t(lang, "op.incident")),
                apply = esc(&t(lang, "op.apply")),
            ));
        }
        if can_review {
            let apps = match operators::list_applications(
                State(app.clone()),
                caller.clone(),
                axum::extract::Path(a.id.clone()),
            )
            .await
            {
                Ok(Json(v)) => v,
                Err(e) => return internal(&app, &caller, e),
            };
            let rows: String = apps
                .iter()
                .map(|x| {
                    let form = if can_score && x.state == "eligible" {
                        action_form(
                            lang,
                            &format!("/api/v1/operator-applications/{}/scores", x.id),
                            "score",
                            &format!(
                                "<input type=\"number\" name=\"score\" min=\"0\" max=\"100\" required>\
                                 <input name=\"comments\" required placeholder=\"{}\">\
                                 <label class=\"check\"><input type=\"checkbox\" name=\"no_conflict_of_interest\"> {}</label>",
                                esc(&t(lang, "op.comments")),
                                esc(&t(lang, "op.no_conflict"))
                            ),
                        )
                    } else {
                        String::new()
                    };
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{form}</td></tr>",
                        esc(&x.applicant),
                        label(lang, "op_state", &x.state),
                        x.average.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into()),
                    )
                })
                .collect();
            inner.push_str(&format!("<table><tbody>{rows}</tbody></table>"));
        }
        blocks.push_str(&format!(
            "<div class=\"card\"><h2>{title}</h2><p class=\"muted\">{from} — {until}{results}</p>{inner}</div>",
            title = esc(&a.title),
            from = a.opens_on,
            until = a.closes_on,
            results =
                a.results_until.map(|u| format!(" · {} {u}", esc(&t(lang, "op.results_until")))).unwrap_or_default(),
        ));
    }
    let body = format!("<h1>{}</h1>{blocks}", esc(&t(lang, "nav.announcements")));
    page(&app, &caller, "/console/announcements", "nav.announcements", body)
}

pub async fn agreements_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list = match operators::list_agreements(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let rows: String = list
        .iter()
        .map(|a| {
            let forms: String = a
                .allowed_actions
                .iter()
                .map(|x| {
                    let fields = if x == "renew" {
                        "<input type=\"number\" name=\"years\" min=\"1\" required>".to_string()
                    } else {
                        String::new()
                    };
                    action_form(lang, &format!("/api/v1/agreements/{}/actions/{x}", a.id), x, &fields)
                })
                .collect();
            format!(
                "<tr><td class=\"mono\">{id}</td><td id=\"agreement-{id}\">{state}</td><td>{from} — {until}</td><td>{forms}</td></tr>",
                id = esc(&a.id),
                state = label(lang, "agreement_state", &a.state),
                from = esc(&a.valid_from),
                until = esc(&a.deadline),
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><table><thead><tr><th>ID</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table>",
        esc(&t(lang, "nav.agreements")),
        esc(&t(lang, "reg.state")),
        esc(&t(lang, "op.term")),
        esc(&t(lang, "reg.actions")),
    );
    page(&app, &caller, "/console/agreements", "nav.agreements", body)
}

pub async fn personnel_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let people = match crate::routes::personnel::list(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let mut rows = String::new();
    for p in &people {
        let Ok(org) = p.organisation.parse::<shuyu_core::ids::OrgId>() else { continue };
        let res = Resource::owned("Personnel", p.user_id.clone(), org);
        let manage = app.authz.authorize(&caller.principal, Action::PersonnelManage, &res).is_ok();
        let review = app.authz.authorize(&caller.principal, Action::PersonnelReview, &res).is_ok();
        let url = |a: &str| format!("/api/v1/personnel/{}/actions/{a}", p.user_id);
        let mut forms = String::new();
        if manage {
            forms.push_str(&action_form(lang, &url("file"), "file_person", ""));
            forms.push_str(&action_form(
                lang,
                &url("record_training"),
                "record_training",
                &format!(
                    "<input name=\"course\" required placeholder=\"{}\"><input type=\"date\" name=\"completed_on\" required>",
                    esc(&t(lang, "op.course"))
                ),
            ));
            forms.push_str(&action_form(
                lang,
                &url("sign_confidentiality"),
                "sign_confidentiality",
                &format!(
                    "<input type=\"date\" name=\"signed_on\" required><input type=\"date\" name=\"valid_until\" required>\
                     <input name=\"liability_clause\" required placeholder=\"{}\">\
                     <input type=\"file\" data-attachment-field=\"attachment_id\" required>",
                    esc(&t(lang, "op.liability"))
                ),
            ));
        }
        if review {
            forms.push_str(&action_form(
                lang,
                &url("review"),
                "review_person",
                &format!(
                    "<label class=\"check\"><input type=\"checkbox\" name=\"passed\"> {}</label>",
                    esc(&t(lang, "op.passed"))
                ),
            ));
        }
        let missing: String = p
            .missing
            .iter()
            .map(|m| format!("<span class=\"tag\">{}</span>", label(lang, "clearance", m.item)))
            .collect();
        rows.push_str(&format!(
            "<tr><td class=\"mono\">{id}</td><td>{status}</td><td>{missing}</td><td>{forms}</td></tr>",
            id = esc(&p.user_id),
            status = if p.cleared {
                format!("<span class=\"ok\">{}</span>", esc(&t(lang, "op.cleared")))
            } else {
                format!("<span class=\"error\">{}</span>", esc(&t(lang, "op.not_cleared")))
            },
        ));
    }
    let body = format!(
        "<h1>{}</h1><table><thead><tr><th>ID</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table>",
        esc(&t(lang, "nav.personnel")),
        esc(&t(lang, "reg.state")),
        esc(&t(lang, "reg.missing")),
        esc(&t(lang, "reg.actions")),
    );
    page(&app, &caller, "/console/personnel", "nav.personnel", body)
}
