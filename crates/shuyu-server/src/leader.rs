//! Leader election among server processes sharing one database (DESIGN: "Deploying at
//! scale"). Only the leader runs the scheduler and the monitor; every process serves requests.
//! Followers ask for the lead every `leader_check_secs`, so when the leader dies (its database
//! session ends and the advisory lock with it) another takes over within that interval.
//!
//! A leader that loses its lock connection steps down at its next check. Until then two
//! processes may briefly both run scheduled work; every scheduled task is idempotent (a timer
//! that changed since it was read is skipped), so this costs repeated reads, never a repeated
//! transition.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::state::AppState;

#[derive(Debug, Default)]
pub struct Leadership {
    leading: AtomicBool,
}

impl Leadership {
    /// Whether this process runs the scheduler and the monitor now.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    fn set(&self, leading: bool) {
        self.leading.store(leading, Ordering::Release);
    }
}

/// Asks for the lead once now (so a single process leads from its first scheduler run), then
/// keeps asking, or checking, in the background.
pub async fn start(app: AppState) -> tokio::task::JoinHandle<()> {
    let mut lease = None;
    step(&app, &mut lease).await;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(app.config.leader_check_secs.max(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            step(&app, &mut lease).await;
        }
    })
}

async fn step(app: &AppState, lease: &mut Option<shuyu_store::leader::Lease>) {
    match lease.as_mut() {
        Some(held) => {
            if !held.holds().await {
                *lease = None;
                app.leadership.set(false);
                tracing::warn!("lost the scheduler lead (database session ended); following");
            }
        }
        None => match app.store.try_lead().await {
            Ok(Some(l)) => {
                *lease = Some(l);
                app.leadership.set(true);
                tracing::info!(pid = std::process::id(), "this process leads: it runs the scheduler and the monitor");
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not ask for the scheduler lead"),
        },
    }
}
