//! The audit log over HTTP: search, inclusion and consistency proofs, signed tree heads.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_audit::{Outcome, SignedTreeHead, StoredEvent};
use shuyu_authz::{Action, Resource};
use shuyu_core::clock::{format_instant, parse_instant};
use shuyu_store::audit::{self, EventFilter};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub organisation: String,
    pub action: String,
    pub resource: String,
    pub outcome: String,
    pub request_id: String,
    pub client_addr: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub leaf_hash: String,
}

impl From<&StoredEvent> for EventView {
    fn from(s: &StoredEvent) -> Self {
        let e = &s.event;
        Self {
            seq: e.seq,
            time: format_instant(e.time),
            actor: e.actor.clone(),
            organisation: e.organisation.clone(),
            action: e.action.clone(),
            resource: e.resource.clone(),
            outcome: e.outcome.as_str().to_string(),
            request_id: e.request_id.clone(),
            client_addr: e.client_addr.clone(),
            details: e.details.clone(),
            leaf_hash: s.leaf_hash.to_string(),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    pub actor: Option<String>,
    pub organisation: Option<String>,
    pub resource: Option<String>,
    pub action: Option<String>,
    /// RFC 3339 instant, inclusive.
    pub from: Option<String>,
    /// RFC 3339 instant, exclusive.
    pub to: Option<String>,
    /// Return events after this sequence number (for the next page).
    pub after: Option<u64>,
    /// 1–1000, default 100.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<u64>,
}

pub fn parse_filter(q: &EventQuery) -> Result<EventFilter, ApiError> {
    let mut problems = Vec::new();
    let mut instant = |field: &str, v: &Option<String>| match v.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => match parse_instant(s) {
            Some(t) => Some(t),
            None => {
                problems.push(FieldProblem::new(
                    field,
                    "use an RFC 3339 instant, e.g. 2026-01-31T08:00:00+08:00",
                    "请使用 RFC 3339 时间格式",
                ));
                None
            }
        },
        None => None,
    };
    let from = instant("from", &q.from);
    let to = instant("to", &q.to);
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    Ok(EventFilter {
        actor: nonempty(&q.actor),
        organisation: nonempty(&q.organisation),
        resource: nonempty(&q.resource),
        action: nonempty(&q.action),
        from,
        to,
        after_seq: q.after,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    })
}

/// Searches the audit log by actor, organisation, resource, action and time.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(EventQuery),
    responses((status = 200, body = EventPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn query(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<EventPage>> {
    app.authorize(&caller, Action::AuditQuery, &Resource::audit_log()).await?;
    let filter = parse_filter(&q)?;
    let mut tx = app.begin().await?;
    let events = audit::query(tx.conn(), &filter).await?;
    // The search itself is a data access and is logged, with its criteria.
    tx.audit(
        &caller.ctx,
        Action::AuditQuery.as_str(),
        "audit_log:main",
        Outcome::Success,
        json!({"criteria": {"actor": q.actor, "organisation": q.organisation, "resource": q.resource,
            "action": q.action, "from": q.from, "to": q.to, "after": q.after}, "returned": events.len()}),
    )
    .await?;
    tx.commit().await?;
    let next_after = (events.len() == filter.limit as usize).then(|| events.last().map(|e| e.event.seq)).flatten();
    Ok(Json(EventPage { events: events.iter().map(EventView::from).collect(), next_after }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    /// Tree size to prove against; default: the latest signed tree head that contains the event.
    pub tree_size: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InclusionProofView {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub audit_path: Vec<String>,
    pub root: String,
    /// The signed tree head with this size and root, when one was issued.
    #[schema(value_type = Option<Object>)]
    pub tree_head: Option<SignedTreeHead>,
}

async fn signed_head_covering(app: &AppState, seq: u64) -> ApiResult<SignedTreeHead> {
    let mut conn = app.store.acquire().await?;
    match audit::latest_tree_head(&mut conn).await? {
        Some(sth) if sth.head.size > seq => Ok(sth),
        _ => {
            drop(conn);
            Ok(app.ledger.issue_tree_head(&app.store, &app.signer, app.clock.now()).await?)
        }
    }
}

/// Proves that an event is in the log (RFC 6962 audit path).
#[utoipa::path(get, path = "/api/v1/audit/events/{seq}/proof", tag = "audit",
    params(("seq" = u64, Path), ProofQuery),
    responses((status = 200, body = InclusionProofView), (status = 404, body = ErrorBody)))]
pub async fn inclusion_proof(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(seq): ApiPath<u64>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> ApiResult<Json<InclusionProofView>> {
    app.authorize(&caller, Action::AuditInclusionProof, &Resource::audit_log()).await?;
    let size = app.ledger.sync(&app.store).await?;
    if seq >= size {
        return Err(ApiError::not_found(&format!("audit event {seq}")));
    }
    let (tree_size, tree_head) = match q.tree_size {
        Some(n) if n > seq && n <= size => (n, None),
        Some(_) => {
            return Err(ApiError::validation(vec![FieldProblem::new(
                "tree_size",
                format!("must be greater than {seq} and at most {size}"),
                format!("须大于 {seq} 且不超过 {size}"),
            )]))
        }
        None => {
            let sth = signed_head_covering(&app, seq).await?;
            (sth.head.size, Some(sth))
        }
    };
    let (leaf, path, root) = app.ledger.inclusion_proof(seq, tree_size).await?;
    app.record_access(
        &caller,
        Action::AuditInclusionProof,
        &format!("audit_event:{seq}"),
        json!({"tree_size": tree_size}),
    )
    .await?;
    Ok(Json(InclusionProofView {
        leaf_index: seq,
        tree_size,
        leaf_hash: leaf.to_string(),
        audit_path: path.iter().map(|h| h.to_string()).collect(),
        root: root.to_string(),
        tree_head,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    pub first: u64,
    pub second: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsistencyProofView {
    pub first: u64,
    pub second: u64,
    pub first_root: String,
    pub second_root: String,
    pub proof: Vec<String>,
}

/// Proves that the log at size `second` extends the log at size `first` (nothing rewritten).
#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProofView), (status = 422, body = ErrorBody)))]
pub async fn consistency(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyProofView>> {
    app.authorize(&caller, Action::AuditConsistency, &Resource::audit_log()).await?;
    let size = app.ledger.sync(&app.store).await?;
    if q.first == 0 || q.first > q.second || q.second > size {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "first",
            format!("need 0 < first <= second <= {size}"),
            format!("须满足 0 < first <= second <= {size}"),
        )]));
    }
    let proof = app.ledger.consistency_proof(q.first, q.second).await?;
    Ok(Json(ConsistencyProofView {
        first: q.first,
        second: q.second,
        first_root: app.ledger.root_at(q.first).await?.to_string(),
        second_root: app.ledger.root_at(q.second).await?.to_string(),
        proof: proof.iter().map(|h| h.to_string()).collect(),
    }))
}

/// The latest signed tree head (public, so anyone can hold the platform to it).
#[utoipa::path(get, path = "/api/v1/audit/tree-head", tag = "audit",
    responses((status = 200, description = "signed tree head: size, root, timestamp, signature")))]
pub async fn latest_tree_head(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<SignedTreeHead>> {
    app.authorize(&caller, Action::AuditTreeHeadRead, &Resource::audit_log()).await?;
    let mut conn = app.store.acquire().await?;
    let latest = audit::latest_tree_head(&mut conn).await?;
    drop(conn);
    match latest {
        Some(sth) => Ok(Json(sth)),
        None => Ok(Json(app.ledger.issue_tree_head(&app.store, &app.signer, app.clock.now()).await?)),
    }
}

/// Signs a tree head over everything committed now.
#[utoipa::path(post, path = "/api/v1/audit/tree-head", tag = "audit",
    responses((status = 200, description = "the new signed tree head"), (status = 403, body = ErrorBody)))]
pub async fn issue_tree_head(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<SignedTreeHead>> {
    app.authorize(&caller, Action::AuditTreeHeadIssue, &Resource::audit_log()).await?;
    app.record_access(&caller, Action::AuditTreeHeadIssue, "audit_log:main", json!({})).await?;
    Ok(Json(app.ledger.issue_tree_head(&app.store, &app.signer, app.clock.now()).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicKeyView {
    pub algorithm: String,
    pub public_key_pem: String,
    pub public_key_hex: String,
}

/// The Ed25519 key that verifies tree-head signatures.
#[utoipa::path(get, path = "/api/v1/audit/public-key", tag = "audit", responses((status = 200, body = PublicKeyView)))]
pub async fn public_key(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<PublicKeyView>> {
    app.authorize(&caller, Action::AuditPublicKey, &Resource::audit_log()).await?;
    Ok(Json(PublicKeyView {
        algorithm: "Ed25519".into(),
        public_key_pem: app.signer.verifying_key_pem(),
        public_key_hex: app.signer.verifying_key_hex(),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArchiveView {
    /// Events `first_seq..end_seq` are in this file.
    pub first_seq: u64,
    pub end_seq: u64,
    pub file: String,
    /// SHA-256 of the compressed file, hex.
    pub sha256: String,
    pub bytes: u64,
    pub created_at: String,
}

/// Archives of events past the retention period (YXO §19), oldest first. Archived events keep
/// their leaf in the log, so their inclusion proofs still work; their contents are in the file
/// (`shuyu audit verify-archive` checks the files with the public key alone).
#[utoipa::path(get, path = "/api/v1/audit/archives", tag = "audit",
    responses((status = 200, body = [ArchiveView]), (status = 403, body = ErrorBody)))]
pub async fn archives(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ArchiveView>>> {
    app.authorize(&caller, Action::AuditQuery, &Resource::audit_log()).await?;
    let list = shuyu_store::audit_archive::archives(&mut *app.store.acquire().await?).await?;
    app.record_access(&caller, Action::AuditQuery, "audit_log:archives", json!({ "archives": list.len() })).await?;
    Ok(Json(
        list.into_iter()
            .map(|a| ArchiveView {
                first_seq: a.first_seq,
                end_seq: a.end_seq,
                file: a.file,
                sha256: a.sha256,
                bytes: a.bytes,
                created_at: a.created_at,
            })
            .collect(),
    ))
}
