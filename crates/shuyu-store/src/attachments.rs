//! Uploaded files (application materials, objection evidence), described in the database with
//! their SHA-256 so a registration names exactly the bytes it was decided on. The bytes are in
//! object storage (the row names the object), or inline in rows written before that.

use chrono::{DateTime, Utc};
use shuyu_core::clock::{format_instant, parse_instant};
use shuyu_core::ids::{AttachmentId, OrgId, UserId};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::{int, text, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: AttachmentId,
    pub org_id: OrgId,
    pub uploaded_by: UserId,
    pub filename: String,
    pub media_type: String,
    pub size: i64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

impl Attachment {
    /// A new attachment for `content`, with its size and digest computed from it.
    pub fn for_content(
        org_id: OrgId,
        uploaded_by: UserId,
        filename: String,
        media_type: String,
        content: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Attachment> {
        use sha2::Digest;
        Ok(Attachment {
            id: AttachmentId::new(),
            org_id,
            uploaded_by,
            filename,
            media_type,
            size: i64::try_from(content.len())
                .map_err(|_| StoreError::Corrupt(format!("attachment of {} bytes", content.len())))?,
            sha256: hex::encode(sha2::Sha256::digest(content)),
            created_at: now,
        })
    }
}

fn from_row(r: &AnyRow) -> Result<Attachment> {
    Ok(Attachment {
        id: text(r, "id")?.parse()?,
        org_id: text(r, "org_id")?.parse()?,
        uploaded_by: text(r, "uploaded_by")?.parse()?,
        filename: text(r, "filename")?,
        media_type: text(r, "media_type")?,
        size: int(r, "size")?,
        sha256: text(r, "sha256")?,
        created_at: parse_instant(&text(r, "created_at")?)
            .ok_or_else(|| StoreError::Corrupt("attachments.created_at".into()))?,
    })
}

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// In the row itself (attachments written before object storage).
    Inline(Vec<u8>),
    /// In object storage under this key, written before the row was committed.
    Object(String),
}

pub async fn insert(conn: &mut AnyConnection, a: &Attachment, content: &Content) -> Result<()> {
    let (inline, key) = match content {
        Content::Inline(bytes) => (bytes.clone(), None),
        Content::Object(key) => (Vec::new(), Some(key.clone())),
    };
    sqlx::query(
        "INSERT INTO attachments (id, org_id, uploaded_by, filename, media_type, size, sha256, content, object_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(a.id.to_string())
    .bind(a.org_id.to_string())
    .bind(a.uploaded_by.to_string())
    .bind(&a.filename)
    .bind(&a.media_type)
    .bind(a.size)
    .bind(&a.sha256)
    .bind(inline)
    .bind(key)
    .bind(format_instant(a.created_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// The attachment's description, without its content.
pub async fn get(conn: &mut AnyConnection, id: AttachmentId) -> Result<Option<Attachment>> {
    let row = sqlx::query(
        "SELECT id, org_id, uploaded_by, filename, media_type, size, sha256, created_at FROM attachments WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Where the attachment's bytes are, or `None` when there is no such attachment.
pub async fn content(conn: &mut AnyConnection, id: AttachmentId) -> Result<Option<Content>> {
    use sqlx::Row;
    let row = sqlx::query("SELECT content, object_key FROM attachments WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(match r.try_get::<Option<String>, _>("object_key")? {
        Some(key) => Content::Object(key),
        None => Content::Inline(r.try_get::<Vec<u8>, _>("content")?),
    }))
}
