//! What every request handler shares.

use std::sync::Arc;

use serde_json::{json, Value};
use shuyu_audit::{Outcome, TreeSigner};
use shuyu_authz::{Action, Authorizer, Principal, Resource};
use shuyu_core::calendar::WorkingCalendar;
use shuyu_core::clock::{Clock, TestClock};
use shuyu_core::profile::PolicyProfile;
use shuyu_store::audit::Ledger;
use shuyu_store::{Store, WriteTx};

use crate::auth::Caller;
use crate::config::ServerConfig;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub config: ServerConfig,
    pub store: Store,
    pub authz: Authorizer,
    pub ledger: Ledger,
    pub signer: TreeSigner,
    /// Signs registration certificates; a key of its own, so rotating one never touches the other.
    pub certificate_signer: TreeSigner,
    pub clock: Arc<dyn Clock>,
    /// Present only when started with `--test-clock`.
    pub test_clock: Option<Arc<TestClock>>,
    pub profile: PolicyProfile,
    /// The public catalogue's search index, rebuilt from the database at start.
    pub catalogue_index: shuyu_search::CatalogueIndex,
    pub calendar: WorkingCalendar,
    pub metrics: Metrics,
    /// Workspace queries in progress, by query id: the author and how to stop it.
    pub running_queries: std::sync::Mutex<std::collections::HashMap<String, RunningQuery>>,
    /// Group commit for metered calls and their audit events.
    pub writer: shuyu_store::group::GroupWriter,
    /// Approved exports (local directory or S3-compatible storage).
    pub objects: crate::objects::Objects,
    /// The Ballista cluster governed plans run on; `None` runs them in this process.
    pub cluster: Option<shuyu_sandbox::distributed::Cluster>,
    /// The generated interfaces' caches and quota counters.
    pub interfaces: crate::interface::Interfaces,
    /// The monitoring rules' progress over the audit log.
    pub monitor: crate::monitor::Monitor,
    /// Whether this process runs the scheduler and the monitor (one process per database).
    pub leadership: crate::leader::Leadership,
}

/// A query that can be cancelled while it runs.
pub struct RunningQuery {
    pub workspace: String,
    pub user: String,
    pub abort: tokio::task::AbortHandle,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl AppState {
    /// Sign-in rules from the policy profile.
    pub fn security(&self) -> &shuyu_core::profile::Security {
        &self.profile.security
    }

    /// Asks the policies; a refusal is itself audited (who tried what) before it is returned.
    /// Anonymous callers get 401 so the console can send them to the login page.
    pub async fn authorize(&self, caller: &Caller, action: Action, resource: &Resource) -> ApiResult<()> {
        match self.authz.authorize(&caller.principal, action, resource) {
            Ok(()) => Ok(()),
            Err(shuyu_authz::AuthzError::Denied { .. }) => {
                self.store
                    .record(
                        self.clock.now(),
                        &caller.ctx,
                        action.as_str(),
                        &resource.to_string(),
                        Outcome::Denied,
                        json!({}),
                    )
                    .await?;
                self.metrics.denied();
                Err(match caller.principal {
                    Principal::Anonymous => ApiError::unauthenticated(),
                    Principal::User { .. } => ApiError::forbidden(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// For list endpoints: authorizes `list`, then returns `None` (everything) when the caller
    /// may also `list_all`, else the caller's own organisation to filter by.
    pub async fn list_scope(
        &self,
        caller: &Caller,
        list: Action,
        list_all: Action,
    ) -> ApiResult<Option<shuyu_core::ids::OrgId>> {
        self.authorize(caller, list, &Resource::platform()).await?;
        if self.authz.authorize(&caller.principal, list_all, &Resource::platform()).is_ok() {
            return Ok(None);
        }
        Ok(Some(caller.require_user()?.org_id))
    }

    /// Starts a state change at the clock's current time.
    pub async fn begin(&self) -> ApiResult<WriteTx> {
        Ok(self.store.begin_write(self.clock.now()).await?)
    }

    /// Records a successful data access in its own transaction.
    pub async fn record_access(
        &self,
        caller: &Caller,
        action: Action,
        resource: &str,
        details: Value,
    ) -> ApiResult<()> {
        self.store.record(self.clock.now(), &caller.ctx, action.as_str(), resource, Outcome::Success, details).await?;
        Ok(())
    }
}
