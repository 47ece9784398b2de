//! The catalogue's work beside its handlers: keeping the search index in step with what is
//! published, escalating review deadlines that pass (WH §10, §18), and the one check the
//! sandbox calls before authorizing anything (WX §2, YXO §18).

use chrono::NaiveDate;
use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_core::catalogue::{authorizable, EntryMetadata, NotAuthorizable};
use shuyu_search::EntryDoc;
use shuyu_store::catalogue::{self, EntryRecord};
use shuyu_store::{timers, AuditContext, WriteTx};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const ENTRY: &str = "catalogue";
pub const SHARING: &str = "sharing";
pub const OPEN_DATA: &str = "open_data";

/// What the index holds for a published entry.
pub fn index_doc(id: &str, holder: &str, m: &EntryMetadata) -> EntryDoc {
    EntryDoc {
        id: id.to_string(),
        name: m.name.clone(),
        description: m.description.clone(),
        fields: m.fields.iter().map(|f| format!("{} {}", f.name, f.description)).collect::<Vec<_>>().join(" "),
        tags: m.tags.join(" "),
        holder: holder.to_string(),
        industry: m.industry.clone(),
        region: m.region.clone(),
        share_class: m.share_class.as_str().into(),
        open_class: m.open_class.as_str().into(),
        level: u64::from(m.level()),
        update_frequency: m.update_frequency.as_str().into(),
    }
}

fn search_error(e: shuyu_search::SearchError) -> ApiError {
    tracing::error!(error = %e, "search index");
    ApiError::internal()
}

/// Puts the entry's published version in the index, or takes it out when nothing is public.
pub fn reindex(app: &AppState, e: &EntryRecord) -> ApiResult<()> {
    match e.public_metadata() {
        Some(m) => app.catalogue_index.upsert(&[index_doc(&e.id, &e.holder_org.to_string(), m)]),
        None => app.catalogue_index.remove(&e.id),
    }
    .map_err(search_error)
}

/// Builds the index from the database at start.
pub async fn rebuild_index(app: &AppState) -> ApiResult<usize> {
    let mut conn = app.store.acquire().await?;
    let entries = catalogue::list(&mut conn, None, true).await?;
    drop(conn);
    let docs: Vec<EntryDoc> = entries
        .iter()
        .filter_map(|e| e.published.as_ref().map(|m| index_doc(&e.id, &e.holder_org.to_string(), m)))
        .collect();
    app.catalogue_index.upsert(&docs).map_err(search_error)?;
    Ok(docs.len())
}

/// WX §2, YXO §18: may this entry be requested for authorized operation? The sandbox calls
/// this; a refusal names the article.
pub async fn check_authorizable(app: &AppState, entry_id: &str) -> ApiResult<()> {
    let mut conn = app.store.acquire().await?;
    let entry = catalogue::get(&mut conn, entry_id).await?;
    let basis = app.profile.citation("catalogue.outside_catalogue").unwrap_or("WX §2").to_string();
    let refuse = |why: NotAuthorizable| {
        ApiError::new(axum::http::StatusCode::CONFLICT, "not_authorizable")
            .with_details(json!({ "entry": entry_id, "reason": why.to_string() }))
            .with_basis(basis.clone())
    };
    match entry {
        None => Err(refuse(NotAuthorizable::NotInCatalogue)),
        Some(e) => authorizable(e.workflow.state, e.published.as_ref()).map_err(refuse),
    }
}

/// Escalates a catalogue review or sharing review whose deadline passed: the object is
/// flagged overdue for the authority and stays where it is.
pub async fn fire(tx: &mut WriteTx, ctx: &AuditContext, timer: &timers::DueTimer, today: NaiveDate) -> ApiResult<()> {
    let details = json!({ "due_on": timer.due_on.to_string(), "awaiting": timer.awaiting });
    let now = tx.now();
    match (timer.kind.as_str(), timer.action.as_str()) {
        (ENTRY, "escalate") => {
            let mut e = catalogue::get(tx.conn(), &timer.object_id)
                .await?
                .ok_or_else(|| ApiError::not_found("catalogue entry"))?;
            e.overdue_since = Some(today);
            catalogue::update(tx.conn(), &mut e, now).await?;
            timers::set(tx.conn(), ENTRY, &timer.object_id, None).await?;
            tx.audit(ctx, "catalogue.overdue", &format!("catalogue_entry:{}", e.id), Outcome::Success, details).await?;
        }
        (SHARING, "escalate") => {
            let mut s = catalogue::get_sharing(tx.conn(), &timer.object_id)
                .await?
                .ok_or_else(|| ApiError::not_found("sharing request"))?;
            s.overdue_since = Some(today);
            catalogue::update_sharing(tx.conn(), &mut s, now).await?;
            timers::set(tx.conn(), SHARING, &timer.object_id, None).await?;
            tx.audit(ctx, "sharing.overdue", &format!("sharing_request:{}", s.id), Outcome::Success, details).await?;
        }
        (OPEN_DATA, "escalate") => {
            let mut a = catalogue::get_application(tx.conn(), &timer.object_id)
                .await?
                .ok_or_else(|| ApiError::not_found("open data application"))?;
            a.overdue_since = Some(today);
            catalogue::update_application(tx.conn(), &a).await?;
            timers::set(tx.conn(), OPEN_DATA, &timer.object_id, None).await?;
            tx.audit(ctx, "open_data.overdue", &format!("open_data_application:{}", a.id), Outcome::Success, details)
                .await?;
        }
        (kind, action) => return Err(ApiError::bad_request(&format!("unknown timer {kind}/{action}"))),
    }
    Ok(())
}
