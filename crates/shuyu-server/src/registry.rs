//! The registry's work (YXR §14–§27) on top of the core's pure transitions: one transition
//! persisted with its timer and audit event in one transaction, and its effects on
//! certificates (issue on approval, update on change or correction, cancel on cancellation).
//! Used by the API handlers and by the scheduler, which fires timers that fall due.

use chrono::{Datelike, NaiveDate};
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_core::certificate::{self, CertificateCode, CertificateFacts};
use shuyu_core::ids::{ObjectionId, RegistrationId};
use shuyu_core::registration::{Command, ObjectionCommand, RegistrationType};
use shuyu_core::roles::OrgKind;
use shuyu_core::workflow::{Timer, WorkflowError};
use shuyu_store::certificates::{self, Announcement, CertificateRecord, CertificateStatus};
use shuyu_store::registrations::{self, ObjectionRecord, RegistrationRecord};
use shuyu_store::{organisations, timers, AuditContext, WriteTx};

use crate::error::{ApiError, ApiResult, FieldProblem};
use crate::state::AppState;

pub const REGISTRATION: &str = "registration";
pub const OBJECTION: &str = "objection";

/// A workflow refusal as an API error; a regulation's refusal names its article.
pub fn workflow_error(e: WorkflowError) -> ApiError {
    match e {
        WorkflowError::NotAllowed { action, state, basis } => {
            let err = ApiError::new(axum::http::StatusCode::CONFLICT, "action_not_allowed")
                .with_details(json!({ "action": action, "state": state }));
            match basis {
                Some(b) => err.with_basis(b),
                None => err,
            }
        }
        WorkflowError::Invalid { field, problem } => {
            ApiError::validation(vec![FieldProblem::new(field, problem, "请按提示补充或更正该项")])
        }
        WorkflowError::Calendar(reason) => {
            ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "calendar_year_missing")
                .with_details(json!({ "reason": reason }))
        }
    }
}

/// The current timer of a registration, computed from its state and the profile.
pub fn registration_timer(app: &AppState, rec: &RegistrationRecord) -> ApiResult<Option<Timer>> {
    Ok(rec.workflow.timer(&app.calendar, &app.profile.registration)?)
}

/// Applies `command` to the registration in `tx` (read afresh inside the transaction), saves
/// it with its new timer, records `event` with `details`, and carries out the effects of an
/// approval. Returns the updated record.
pub async fn transition(
    app: &AppState,
    tx: &mut WriteTx,
    ctx: &AuditContext,
    id: RegistrationId,
    command: &Command,
    details: Value,
    edit: impl FnOnce(&mut RegistrationRecord),
) -> ApiResult<RegistrationRecord> {
    let today = app.clock.today();
    let mut rec = registrations::get(tx.conn(), id).await?.ok_or_else(|| ApiError::not_found("registration"))?;
    let step = rec.workflow.apply(command, today, &app.calendar, &app.profile.registration).map_err(workflow_error)?;
    rec.workflow = step.object;
    rec.overdue_since = None;
    edit(&mut rec);
    let approved = rec.workflow.state == shuyu_core::registration::RegistrationState::Approved;
    if approved {
        apply_approval(app, tx, ctx, &mut rec, today).await?;
    }
    let now = tx.now();
    registrations::update(tx.conn(), &mut rec, now).await?;
    timers::set(tx.conn(), REGISTRATION, &id.to_string(), step.timer.as_ref()).await?;
    let mut details = details;
    if let Value::Object(map) = &mut details {
        map.insert("state".into(), json!(rec.workflow.state.as_str()));
        map.insert("deadline".into(), json!(step.timer.map(|t| t.due_on.to_string())));
    }
    tx.audit(ctx, step.event, &id.resource(), Outcome::Success, details).await?;
    Ok(rec)
}

/// Applies an objection command; when the last open objection is decided, settles the
/// registration (an upheld objection ends it, YXR §22).
pub async fn objection_transition(
    app: &AppState,
    tx: &mut WriteTx,
    ctx: &AuditContext,
    objection_id: ObjectionId,
    command: ObjectionCommand,
    details: Value,
    edit: impl FnOnce(&mut ObjectionRecord),
) -> ApiResult<ObjectionRecord> {
    let today = app.clock.today();
    let rules = &app.profile.registration;
    let mut o =
        registrations::get_objection(tx.conn(), objection_id).await?.ok_or_else(|| ApiError::not_found("objection"))?;
    let step = o.workflow.apply(command, today, &app.calendar, rules).map_err(workflow_error)?;
    o.workflow = step.object;
    o.overdue_since = None;
    edit(&mut o);
    registrations::update_objection(tx.conn(), &o).await?;
    timers::set(tx.conn(), OBJECTION, &objection_id.to_string(), step.timer.as_ref()).await?;
    let mut d = details;
    if let Value::Object(map) = &mut d {
        map.insert("registration".into(), json!(o.registration_id.to_string()));
        map.insert("state".into(), json!(o.workflow.state.as_str()));
    }
    tx.audit(ctx, step.event, &objection_id.resource(), Outcome::Success, d).await?;

    if let ObjectionCommand::Decide { upheld } = command {
        let others = registrations::objections(tx.conn(), o.registration_id).await?;
        if upheld {
            for other in others.iter().filter(|x| x.id != o.id && x.workflow.state.is_open()) {
                let moot = other.workflow.apply(ObjectionCommand::Moot, today, &app.calendar, rules);
                let moot = moot.map_err(workflow_error)?;
                let mut other = other.clone();
                other.workflow = moot.object;
                registrations::update_objection(tx.conn(), &other).await?;
                timers::set(tx.conn(), OBJECTION, &other.id.to_string(), None).await?;
                tx.audit(ctx, moot.event, &other.id.resource(), Outcome::Success, json!({})).await?;
            }
            let reason = o.decision_reason.clone();
            transition(
                app,
                tx,
                ctx,
                o.registration_id,
                &Command::ObjectionsSettled { upheld: true },
                json!({ "objection": objection_id.to_string() }),
                |r| {
                    r.decision_ground = Some("objection_upheld".into());
                    r.decision_reason = reason;
                },
            )
            .await?;
        } else if !others.iter().any(|x| x.workflow.state.is_open()) {
            transition(
                app,
                tx,
                ctx,
                o.registration_id,
                &Command::ObjectionsSettled { upheld: false },
                json!({ "objection": objection_id.to_string() }),
                |_| {},
            )
            .await?;
        }
    }
    Ok(o)
}

/// The registry that signs certificates: the deployment's registry organisation.
async fn issuer_name(tx: &mut WriteTx) -> ApiResult<String> {
    let all = organisations::list(tx.conn()).await?;
    Ok(all.into_iter().find(|o| o.kind == OrgKind::Registry).map(|o| o.name).unwrap_or_else(|| "登记机构".into()))
}

fn sign(app: &AppState, facts: &CertificateFacts) -> String {
    app.certificate_signer.sign_message(&facts.canonical_bytes())
}

/// True when the stored facts still carry the registry's signature.
pub fn signature_holds(app: &AppState, c: &CertificateRecord) -> bool {
    c.facts.verify(&app.certificate_signer.verifying_key(), &c.signature)
}

async fn apply_approval(
    app: &AppState,
    tx: &mut WriteTx,
    ctx: &AuditContext,
    rec: &mut RegistrationRecord,
    today: NaiveDate,
) -> ApiResult<()> {
    let now = tx.now();
    match rec.workflow.kind {
        RegistrationType::First => {
            let region = app.profile.certificate.region_code.clone();
            let letter = rec.subject_kind.letter();
            let seq = certificates::next_sequence(tx.conn(), &region, today.year(), letter).await?;
            let code = CertificateCode::new(&region, today.year(), rec.subject_kind, seq)?;
            let until = certificate::valid_until(today, app.profile.certificate.validity_years, rec.operation_term_end)
                .ok_or_else(ApiError::internal)?;
            let holder = organisations::get(tx.conn(), rec.applicant_org).await?;
            let (holder, holder_uscc) = holder.map(|o| (o.name, o.uscc.unwrap_or_default())).unwrap_or_default();
            let facts = CertificateFacts {
                code: code.to_string(),
                version: 1,
                subject_kind: rec.subject_kind.as_str().into(),
                subject_name: rec.subject_name.clone(),
                summary: rec.summary.clone(),
                holder,
                holder_uscc,
                industry: rec.industry.clone(),
                region: rec.region.clone(),
                registration_id: rec.id.to_string(),
                issuer: issuer_name(tx).await?,
                issued_on: today,
                valid_from: today,
                valid_until: until,
            };
            let cert = CertificateRecord {
                signature: sign(app, &facts),
                facts,
                holder_org: rec.applicant_org,
                operation_term_end: rec.operation_term_end,
                status: CertificateStatus::Valid,
                status_reason: None,
                status_changed_on: None,
            };
            certificates::insert(tx.conn(), &cert, now).await?;
            certificates::add_version(tx.conn(), &cert, "first_registration", now).await?;
            rec.certificate_code = Some(cert.facts.code.clone());
            // A registered product version carries its certificate code and may be published.
            if let Some((product, version)) = &rec.product {
                shuyu_store::products::set_certificate(
                    tx.conn(),
                    product,
                    *version,
                    &cert.facts.code,
                    &shuyu_core::clock::format_instant(now),
                )
                .await?;
            }
            tx.audit(
                ctx,
                "certificate.issued",
                &format!("certificate:{}", cert.facts.code),
                Outcome::Success,
                json!({ "registration": rec.id.to_string(), "valid_until": until.to_string() }),
            )
            .await?;
        }
        RegistrationType::Change | RegistrationType::Correction => {
            let code = rec.certificate_code.clone().ok_or_else(ApiError::internal)?;
            let mut cert =
                certificates::get(tx.conn(), &code).await?.ok_or_else(|| ApiError::not_found("certificate"))?;
            cert.facts.version += 1;
            cert.facts.subject_name = rec.subject_name.clone();
            cert.facts.summary = rec.summary.clone();
            cert.facts.industry = rec.industry.clone();
            cert.facts.region = rec.region.clone();
            cert.facts.registration_id = rec.id.to_string();
            cert.signature = sign(app, &cert.facts);
            certificates::update(tx.conn(), &cert).await?;
            let cause = rec.workflow.kind.as_str();
            certificates::add_version(tx.conn(), &cert, cause, now).await?;
            tx.audit(
                ctx,
                "certificate.updated",
                &format!("certificate:{code}"),
                Outcome::Success,
                json!({ "registration": rec.id.to_string(), "cause": cause, "version": cert.facts.version }),
            )
            .await?;
        }
        RegistrationType::Cancellation => {
            let code = rec.certificate_code.clone().ok_or_else(ApiError::internal)?;
            let reason = rec.facts.get("cancellation_reason").and_then(Value::as_str).unwrap_or("").to_string();
            cancel_certificate(tx, ctx, &code, &reason, today, "registration.cancellation").await?;
        }
    }
    Ok(())
}

/// Cancels a certificate and announces it publicly (YXR §21, §23).
pub async fn cancel_certificate(
    tx: &mut WriteTx,
    ctx: &AuditContext,
    code: &str,
    reason: &str,
    today: NaiveDate,
    cause: &str,
) -> ApiResult<()> {
    let now = tx.now();
    let mut cert = certificates::get(tx.conn(), code).await?.ok_or_else(|| ApiError::not_found("certificate"))?;
    if cert.status != CertificateStatus::Valid {
        return Ok(());
    }
    cert.status = CertificateStatus::Cancelled;
    cert.status_reason = Some(reason.to_string());
    cert.status_changed_on = Some(today);
    certificates::update(tx.conn(), &cert).await?;
    let (title, body) = if cause == "expired" {
        (
            format!("电子凭证注销公告：{code}"),
            format!(
                "“{}”（持有主体：{}）的登记电子凭证 {code} 有效期至 {}，期满未续展，依法予以注销。",
                cert.facts.subject_name, cert.facts.holder, cert.facts.valid_until
            ),
        )
    } else {
        (
            format!("电子凭证注销公告：{code}"),
            format!(
                "“{}”（持有主体：{}）的登记电子凭证 {code} 已办理注销登记，自 {today} 起注销。",
                cert.facts.subject_name, cert.facts.holder
            ),
        )
    };
    let announcement = Announcement {
        id: uuid::Uuid::now_v7().to_string(),
        kind: "certificate_cancelled".into(),
        certificate_code: Some(code.to_string()),
        title,
        body,
        published_on: today.to_string(),
    };
    certificates::announce(tx.conn(), &announcement, now).await?;
    tx.audit(
        ctx,
        "certificate.cancelled",
        &format!("certificate:{code}"),
        Outcome::Success,
        json!({ "cause": cause, "reason": reason }),
    )
    .await?;
    Ok(())
}

/// Cancels every valid certificate past its last valid day and announces it (YXR §23); each in
/// its own transaction, so a run after a crash picks up where it stopped.
pub async fn cancel_lapsed_certificates(app: &AppState, today: NaiveDate) -> ApiResult<usize> {
    let lapsed = certificates::lapsed(&mut *app.store.acquire().await?, today).await?;
    for cert in &lapsed {
        let ctx = AuditContext::system("scheduler:certificate:expired");
        let mut tx = app.begin().await?;
        cancel_certificate(&mut tx, &ctx, &cert.facts.code, "期满未续展 / not renewed before expiry", today, "expired")
            .await?;
        tx.commit().await?;
    }
    Ok(lapsed.len())
}

/// Performs a due registration or objection timer inside `tx`.
pub async fn fire(
    app: &AppState,
    tx: &mut WriteTx,
    ctx: &AuditContext,
    timer: &timers::DueTimer,
    today: NaiveDate,
) -> ApiResult<()> {
    let details = json!({ "due_on": timer.due_on.to_string(), "awaiting": timer.awaiting });
    match (timer.kind.as_str(), timer.action.as_str()) {
        (REGISTRATION, "escalate") => {
            let id: RegistrationId = timer.object_id.parse()?;
            let mut rec =
                registrations::get(tx.conn(), id).await?.ok_or_else(|| ApiError::not_found("registration"))?;
            rec.overdue_since = Some(today);
            let now = tx.now();
            registrations::update(tx.conn(), &mut rec, now).await?;
            timers::set(tx.conn(), REGISTRATION, &timer.object_id, None).await?;
            tx.audit(ctx, "registration.overdue", &id.resource(), Outcome::Success, details).await?;
        }
        (REGISTRATION, action) => {
            let command = match action {
                "withdraw_unsupplemented" => Command::WithdrawUnsupplemented,
                "end_publicity" => Command::EndPublicity,
                other => return Err(ApiError::bad_request(&format!("unknown timer action {other}"))),
            };
            let id: RegistrationId = timer.object_id.parse()?;
            transition(app, tx, ctx, id, &command, details, |_| {}).await?;
        }
        (OBJECTION, "escalate") => {
            let id: ObjectionId = timer.object_id.parse()?;
            let mut o =
                registrations::get_objection(tx.conn(), id).await?.ok_or_else(|| ApiError::not_found("objection"))?;
            o.overdue_since = Some(today);
            registrations::update_objection(tx.conn(), &o).await?;
            timers::set(tx.conn(), OBJECTION, &timer.object_id, None).await?;
            tx.audit(ctx, "objection.overdue", &id.resource(), Outcome::Success, details).await?;
        }
        (OBJECTION, "answer_lapsed") => {
            let id: ObjectionId = timer.object_id.parse()?;
            objection_transition(app, tx, ctx, id, ObjectionCommand::AnswerLapsed, details, |_| {}).await?;
        }
        (kind, action) => return Err(ApiError::bad_request(&format!("unknown timer {kind}/{action}"))),
    }
    Ok(())
}
