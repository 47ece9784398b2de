//! DCAT-AP 3 export of the published catalogue as JSON-LD (issue 3 item 6), so other open-data
//! portals can harvest it: one `dcat:Dataset` per entry, and the whole `dcat:Catalog`.
//! Controlled vocabularies are the EU Publications Office authority tables that DCAT-AP 3 names
//! (frequency, access right); the industry is a `dcat:theme` in GB/T 4754-2017.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use shuyu_authz::{Action, Resource};
use shuyu_core::catalogue::{AccessClass, EntryMetadata, UpdateFrequency};
use shuyu_core::clock::format_instant;
use shuyu_store::catalogue::{self, EntryRecord};
use shuyu_store::organisations;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const FREQUENCY: &str = "http://publications.europa.eu/resource/authority/frequency/";
const ACCESS_RIGHT: &str = "http://publications.europa.eu/resource/authority/access-right/";

fn context() -> Value {
    json!({
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "vcard": "http://www.w3.org/2006/vcard/ns#"
    })
}

fn frequency(f: UpdateFrequency) -> &'static str {
    match f {
        UpdateFrequency::Realtime => "UPDATE_CONT",
        UpdateFrequency::Daily => "DAILY",
        UpdateFrequency::Weekly => "WEEKLY",
        UpdateFrequency::Monthly => "MONTHLY",
        UpdateFrequency::Quarterly => "QUARTERLY",
        UpdateFrequency::Yearly => "ANNUAL",
        UpdateFrequency::Irregular => "IRREG",
    }
}

fn access_right(c: AccessClass) -> &'static str {
    match c {
        AccessClass::Unconditional => "PUBLIC",
        AccessClass::Conditional => "RESTRICTED",
        AccessClass::NotAllowed => "NON_PUBLIC",
    }
}

fn zh(text: &str) -> Value {
    json!({ "@value": text, "@language": "zh" })
}

/// One entry as a `dcat:Dataset`.
pub fn dataset(base: &str, e: &EntryRecord, m: &EntryMetadata, holder: &str) -> Value {
    let page = format!("{base}/api/v1/public/catalogue/{}", e.id);
    let mut distribution = json!({
        "@id": format!("{page}#distribution"),
        "@type": "dcat:Distribution",
        "dcat:accessURL": { "@id": page },
        "dct:rights": { "@id": format!("{ACCESS_RIGHT}{}", access_right(m.open_class)) },
    });
    if m.open_class == AccessClass::Unconditional && e.open_data.is_some() {
        distribution["dcat:downloadURL"] = json!({ "@id": format!("{page}/download") });
    }
    json!({
        "@id": page,
        "@type": "dcat:Dataset",
        "dct:identifier": e.id,
        "dct:title": zh(&m.name),
        "dct:description": zh(&m.description),
        "dcat:keyword": m.tags.iter().map(|t| zh(t)).collect::<Vec<_>>(),
        "dcat:theme": { "@id": format!("urn:gbt4754-2017:{}", m.industry) },
        "dct:publisher": { "@type": "foaf:Agent", "foaf:name": zh(holder) },
        "dct:spatial": { "@id": format!("urn:gbt2260:{}", m.region) },
        "dct:accrualPeriodicity": { "@id": format!("{FREQUENCY}{}", frequency(m.update_frequency)) },
        "dct:accessRights": { "@id": format!("{ACCESS_RIGHT}{}", access_right(m.open_class)) },
        "dct:modified": { "@value": format_instant(e.updated_at), "@type": "xsd:dateTime" },
        "dcat:version": e.published_version.to_string(),
        "dcat:distribution": [distribution],
    })
}

async fn published_entries(app: &AppState) -> ApiResult<(Vec<EntryRecord>, std::collections::HashMap<String, String>)> {
    let mut conn = app.store.acquire().await?;
    let entries = catalogue::list(&mut conn, None, true).await?;
    let names = organisations::list(&mut conn).await?.into_iter().map(|o| (o.id.to_string(), o.name)).collect();
    Ok((entries, names))
}

fn jsonld(v: Value) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/ld+json")], v.to_string())
}

#[utoipa::path(get, path = "/api/v1/public/dcat", tag = "catalogue",
    responses((status = 200, description = "the published catalogue as a DCAT-AP 3 dcat:Catalog (JSON-LD)")))]
pub async fn catalog(State(app): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    app.authorize(&caller, Action::CatalogueSearch, &Resource::platform()).await?;
    let base = app.config.public_url.trim_end_matches('/').to_string();
    let (entries, names) = published_entries(&app).await?;
    let datasets: Vec<Value> = entries
        .iter()
        .filter_map(|e| {
            let holder = names.get(&e.holder_org.to_string()).map(String::as_str).unwrap_or("");
            e.published.as_ref().map(|m| dataset(&base, e, m, holder))
        })
        .collect();
    Ok(jsonld(json!({
        "@context": context(),
        "@id": format!("{base}/api/v1/public/dcat"),
        "@type": "dcat:Catalog",
        "dct:title": zh(&format!("{}公共数据资源目录", app.profile.display_name_zh)),
        "dct:publisher": { "@type": "foaf:Agent", "foaf:name": zh(&app.profile.display_name_zh) },
        "dcat:dataset": datasets,
    })))
}

#[utoipa::path(get, path = "/api/v1/public/catalogue/{id}/dcat", tag = "catalogue", params(("id" = String, Path)),
    responses((status = 200, description = "one entry as a DCAT-AP 3 dcat:Dataset (JSON-LD)")))]
pub async fn entry(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    app.authorize(&caller, Action::CatalogueSearch, &Resource::platform()).await?;
    let base = app.config.public_url.trim_end_matches('/').to_string();
    let mut conn = app.store.acquire().await?;
    let e = catalogue::get(&mut conn, &id).await?.ok_or_else(|| ApiError::not_found("catalogue entry"))?;
    let holder = organisations::get(&mut conn, e.holder_org).await?.map(|o| o.name).unwrap_or_default();
    drop(conn);
    let m = e.public_metadata().ok_or_else(|| ApiError::not_found("catalogue entry"))?;
    let mut v = dataset(&base, &e, m, &holder);
    v["@context"] = context();
    Ok(jsonld(v))
}
