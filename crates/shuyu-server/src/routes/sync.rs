//! Export of registrations and certificates for synchronisation with provincial and national
//! registration platforms (issue 3 item 10). Format: docs/registration-sync.md. Certificates carry
//! their signature and the registry's public key, so the receiving platform verifies every one
//! itself; codes start with the region, so they stay unique upward.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use shuyu_authz::{Action, Resource};
use shuyu_core::clock::format_instant;
use shuyu_store::registrations::{self, RegistrationFilter};
use shuyu_store::{certificates, organisations};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

pub const FORMAT: &str = "shuyu-registration-sync/1";

#[utoipa::path(get, path = "/api/v1/registrations/export", tag = "registration",
    responses((status = 200, description = "registrations and certificates as shuyu-registration-sync/1 JSON"), (status = 403, body = ErrorBody)))]
pub async fn export(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::RegistrationExport, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    let orgs = organisations::list(&mut conn).await?;
    let regs = registrations::list(&mut conn, &RegistrationFilter { limit: 1000, ..Default::default() }).await?;
    let certs = certificates::list(&mut conn, None).await?;
    drop(conn);
    let org = |id: shuyu_core::ids::OrgId| {
        orgs.iter().find(|o| o.id == id).map(|o| json!({ "name": o.name, "uscc": o.uscc })).unwrap_or(Value::Null)
    };
    let registry = orgs.iter().find(|o| o.kind == shuyu_core::roles::OrgKind::Registry);
    let registrations: Vec<Value> = regs
        .iter()
        .map(|r| {
            json!({
                "id": r.id.to_string(),
                "type": r.workflow.kind.as_str(),
                "state": r.workflow.state.as_str(),
                "subject_kind": r.subject_kind.as_str(),
                "subject_name": r.subject_name,
                "summary": r.summary,
                "industry": r.industry,
                "region": r.region,
                "applicant": org(r.applicant_org),
                "received_on": r.workflow.received_on.to_string(),
                "accepted_on": r.workflow.accepted_on.map(|d| d.to_string()),
                "publicity_from": r.workflow.publicity_from.map(|d| d.to_string()),
                "publicity_until": r.workflow.publicity_until.map(|d| d.to_string()),
                "decision_ground": r.decision_ground,
                "certificate_code": r.certificate_code,
                "materials": r.materials.iter().map(|m| json!({ "key": m.key, "sha256": m.sha256, "size": m.size })).collect::<Vec<_>>(),
                "updated_at": format_instant(r.updated_at),
            })
        })
        .collect();
    let certificates: Vec<Value> = certs
        .iter()
        .map(|c| {
            json!({
                "facts": c.facts,
                "signature": c.signature,
                "encoding": "shuyu-certificate-v1",
                "status": c.status.as_str(),
                "status_reason": c.status_reason,
                "status_changed_on": c.status_changed_on.map(|d| d.to_string()),
            })
        })
        .collect();
    app.record_access(
        &caller,
        Action::RegistrationExport,
        "platform:shuyu",
        json!({ "registrations": registrations.len(), "certificates": certificates.len() }),
    )
    .await?;
    Ok(Json(json!({
        "format": FORMAT,
        "generated_at": format_instant(app.clock.now()),
        "registry": {
            "name": registry.map(|o| o.name.clone()),
            "uscc": registry.and_then(|o| o.uscc.clone()),
            "region_code": app.profile.certificate.region_code,
            "public_key": hex::encode(app.certificate_signer.verifying_key().to_bytes()),
            "signature_algorithm": "Ed25519",
        },
        "registrations": registrations,
        "certificates": certificates,
    })))
}
