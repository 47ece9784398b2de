//! Background work that falls due with time: periodic signed tree heads now; workflow deadlines
//! (a deadline passing with no answer) as the workflows arrive. Every task is idempotent, so a
//! run after a crash, or two runs at once, do no harm.

use std::time::Duration;

use crate::state::AppState;

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(state.config.scheduler_interval_secs.max(1));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            run_due(&state).await;
        }
    })
}

/// Runs everything due at the clock's current time.
pub async fn run_due(state: &AppState) {
    match crate::registry::run_due(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(transitions = n, "deadlines fell due"),
        Err(e) => tracing::warn!(code = %e.body.code, "registration deadlines not processed"),
    }
    if let Err(e) = issue_tree_head_if_grown(state).await {
        tracing::warn!(error = %e, "could not issue a signed tree head");
    }
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
