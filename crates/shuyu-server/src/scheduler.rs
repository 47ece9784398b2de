//! Background work that falls due with time: workflow deadlines that pass with no answer (each
//! workflow's own `fire` decides what that means), certificates and agreements past their last
//! day, the sandbox's grants, seals and destructions, and periodic signed tree heads. Every task is idempotent, so a run after a crash, or two
//! runs at once, do no harm.

use std::time::Duration;

use chrono::NaiveDate;
use shuyu_store::{timers, AuditContext};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::{catalogue, operators, registry};

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(state.config.scheduler_interval_secs.max(1));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            // One scheduler per database: the other processes only serve requests.
            if state.leadership.is_leader() {
                run_due(&state).await;
            }
        }
    })
}

/// Runs everything due at the clock's current time.
pub async fn run_due(state: &AppState) {
    let today = state.clock.today();
    let done = async {
        Ok::<_, ApiError>(
            fire_due_timers(state, today).await?
                + crate::registry::cancel_lapsed_certificates(state, today).await?
                + crate::operators::expire_agreements(state, today).await?
                + crate::sandbox::run(state, today).await?
                + crate::quality::escalate_overdue(state, today).await?
                + crate::routes::inspections::escalate_overdue(state, today).await?
                + crate::routes::transparency::escalate_overdue(state, today).await?,
        )
    };
    match done.await {
        Ok(0) => {}
        Ok(n) => tracing::info!(transitions = n, "deadlines fell due"),
        Err(e) => tracing::warn!(code = %e.body.code, "deadlines not processed"),
    }
    if let Err(e) = issue_tree_head_if_grown(state).await {
        tracing::warn!(error = %e, "could not issue a signed tree head");
    }
}

/// Fires every workflow timer whose deadline has passed, each in its own transaction. A timer
/// that changed since it was read (someone acted first, or another run did it) is skipped.
async fn fire_due_timers(app: &AppState, today: NaiveDate) -> ApiResult<usize> {
    let due = timers::due(&mut *app.store.acquire().await?, today, 1000).await?;
    let mut done = 0;
    for timer in due {
        let ctx = AuditContext::system(format!("scheduler:{}:{}", timer.kind, timer.action));
        let mut tx = app.begin().await?;
        if timers::get(tx.conn(), &timer.kind, &timer.object_id).await?.as_ref() != Some(&timer) {
            continue;
        }
        let fired = match timer.kind.as_str() {
            registry::REGISTRATION | registry::OBJECTION => registry::fire(app, &mut tx, &ctx, &timer, today).await,
            operators::ORGANISATION => operators::fire(&mut tx, &ctx, &timer).await,
            crate::sandbox::GRANT => crate::sandbox::fire(&mut tx, &ctx, &timer).await,
            _ => catalogue::fire(&mut tx, &ctx, &timer, today).await,
        };
        match fired {
            Ok(()) => {
                tx.commit().await?;
                done += 1;
            }
            Err(e) => tracing::warn!(kind = %timer.kind, id = %timer.object_id, code = %e.body.code, "timer not fired"),
        }
    }
    Ok(done)
}

async fn issue_tree_head_if_grown(state: &AppState) -> Result<(), shuyu_store::StoreError> {
    let size = state.ledger.sync(&state.store).await?;
    let mut conn = state.store.pool().acquire().await?;
    let latest = shuyu_store::audit::latest_tree_head(&mut conn).await?;
    drop(conn);
    if latest.map(|sth| sth.head.size) != Some(size) && size > 0 {
        state.ledger.issue_tree_head(&state.store, &state.signer, state.clock.now()).await?;
    }
    Ok(())
}
