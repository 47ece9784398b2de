//! `shuyu ingest FILE --entry ID --as STEWARD`: loads a file into a published entry's dataset
//! from the command line, streaming it with a progress bar; the same path as the API's upload,
//! with the same evidence and audit event, for files too large to send over HTTP.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use shuyu_core::roles::Role;
use shuyu_sandbox::ingest::Format;
use shuyu_server::ServerConfig;
use shuyu_store::{catalogue, users, AuditContext};

pub async fn run(
    config: ServerConfig,
    file: &Path,
    entry_id: &str,
    username: &str,
    format: Option<&str>,
) -> Result<ExitCode> {
    let format = match format {
        Some(name) => match Format::parse(name) {
            Some(f) => f,
            None => bail!("unknown format {name}: use csv, jsonl or parquet"),
        },
        None => Format::from_name(&file.to_string_lossy())
            .context("cannot tell the format from the file name; pass --format csv|jsonl|parquet")?,
    };
    let total = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?.len();
    let state = shuyu_server::build_state(config).await?;
    let mut conn = state.store.acquire().await?;
    let user = users::find_by_username(&mut conn, username).await?.with_context(|| format!("no user {username}"))?;
    let entry = catalogue::get(&mut conn, entry_id).await?.with_context(|| format!("no catalogue entry {entry_id}"))?;
    drop(conn);
    if entry.holder_org != user.org_id || !user.roles.contains(&Role::SourceSteward) {
        bail!("only a data steward of the department that holds entry {entry_id} loads its data");
    }
    let ctx = AuditContext {
        actor: user.id.to_string(),
        organisation: user.org_id.to_string(),
        request_id: format!("cli:ingest:{}", uuid::Uuid::now_v7()),
        client_addr: "cli".into(),
    };
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} 汇聚 ingesting [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let progress = bar.clone();
    let result = shuyu_server::sandbox::ingest_file(&state, &ctx, &entry, &user, file, format, move |b| {
        progress.set_position(b)
    })
    .await;
    bar.finish_and_clear();
    match result {
        Ok((record, quality)) => {
            let mut shown = serde_json::to_value(&record)?;
            shown["quality"] = quality;
            println!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: {} ({})", e.body.code, e.body.message_zh, e.body.details);
            Ok(ExitCode::from(1))
        }
    }
}
