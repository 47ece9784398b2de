//! Supervision of operators over time: a rectification deadline that passes is flagged for the
//! authority (which then decides to terminate, WX §10); a filed agreement past its last day
//! expires, which ends the operator's authorization (SPEC §3.4).

use chrono::NaiveDate;
use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_store::{operators, timers, AuditContext, WriteTx};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const ORGANISATION: &str = "organisation";

pub async fn fire(tx: &mut WriteTx, ctx: &AuditContext, timer: &timers::DueTimer) -> ApiResult<()> {
    match timer.action.as_str() {
        "escalate" => {
            let org: shuyu_core::ids::OrgId = timer.object_id.parse()?;
            timers::set(tx.conn(), ORGANISATION, &timer.object_id, None).await?;
            tx.audit(
                ctx,
                "organisation.rectification_overdue",
                &org.resource(),
                Outcome::Success,
                json!({ "rectify_by": timer.due_on.to_string() }),
            )
            .await?;
            Ok(())
        }
        other => Err(ApiError::bad_request(&format!("unknown timer organisation/{other}"))),
    }
}

/// Expires every filed agreement past its last day; each in its own transaction.
pub async fn expire_agreements(app: &AppState, today: NaiveDate) -> ApiResult<usize> {
    let lapsed = operators::lapsed_agreements(&mut *app.store.acquire().await?, today).await?;
    let mut done = 0;
    for mut a in lapsed {
        let ctx = AuditContext::system("scheduler:agreement:expired");
        let mut tx = app.begin().await?;
        a.state = "expired".into();
        let now = tx.now();
        operators::update_agreement(tx.conn(), &a, now).await?;
        tx.audit(
            &ctx,
            "agreement.expired",
            &format!("agreement:{}", a.id),
            Outcome::Success,
            json!({ "valid_until": a.valid_until, "operator": a.operator_org.to_string() }),
        )
        .await?;
        tx.commit().await?;
        done += 1;
    }
    Ok(done)
}
