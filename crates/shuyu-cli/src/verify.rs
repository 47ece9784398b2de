//! `shuyu audit verify`: recompute the whole log from the database (and its archives) and name
//! the first problem; `shuyu audit archive` and `verify-archive` for events past retention.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Months, NaiveDate, Utc};
use ed25519_dalek::VerifyingKey;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use shuyu_audit::{ArchiveReader, Hash, TreeSigner, Verifier, VerifyReport};
use shuyu_core::clock::format_instant;
use shuyu_store::audit_archive::ArchiveRecord;
use shuyu_store::{Store, StoreError};

/// Why the log is not intact, as opposed to failing to read it at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    #[error("{0}")]
    Tampered(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

const BATCH: u32 = 20_000;

/// What a verification covered beyond the tree: the archives.
#[derive(Debug, Default)]
pub struct ArchiveCheck {
    /// Events in archives (their leaves come from the database).
    pub archived: u64,
    /// Archive files read and checked event by event.
    pub files_checked: usize,
    /// Archives whose file was not found: their events were checked by the kept leaf alone.
    pub files_missing: Vec<String>,
}

/// Streams every event through the verifier: the archived events' kept leaves, then the rows.
/// With `archive_dir`, every archive file found there is read back and each event checked
/// against its contents and against the leaf the database kept.
pub async fn verify_store(
    store: &Store,
    key: &VerifyingKey,
    archive_dir: Option<&Path>,
    progress: bool,
) -> Result<(VerifyReport, ArchiveCheck), VerifyFailure> {
    // One snapshot: the head counter and the rows agree, so events committed while verifying
    // are not mistaken for insertions.
    let mut snap = store.audit_snapshot().await.context("database connection")?;
    let expected = snap.head_size().await.context("reading the audit head")?;
    let heads = snap.tree_heads().await.map_err(tampered)?;
    let archives = snap.archives().await.map_err(tampered)?;
    let pb = events_bar(if progress { ProgressBar::new(expected) } else { ProgressBar::hidden() }, "verifying");
    let mut verifier = Verifier::new(*key, heads, Some(expected));

    let archived_end = archives.last().map_or(0, |a| a.end_seq);
    let mut kept: Vec<Hash> = Vec::new();
    let mut from = 0u64;
    while from < archived_end {
        let leaves = snap.archived_leaves(from, BATCH).await.map_err(tampered)?;
        let Some(&(last, _)) = leaves.last() else { break };
        for (seq, leaf) in leaves {
            verifier.push_leaf(seq, leaf).map_err(|e| VerifyFailure::Tampered(e.to_string()))?;
            kept.push(leaf);
        }
        pb.set_position(last + 1);
        from = last + 1;
    }
    if verifier.size() != archived_end {
        return Err(VerifyFailure::Tampered(format!(
            "the leaves of archived events {}..{archived_end} are missing",
            verifier.size()
        )));
    }

    let mut from = archived_end;
    loop {
        let batch = snap.batch(from, BATCH).await.context("reading audit events")?;
        let Some(last) = batch.last() else { break };
        let next = match last {
            Ok(stored) => stored.event.seq + 1,
            Err(_) => from + batch.len() as u64,
        };
        for row in batch {
            let stored = row.map_err(|e| match e {
                // A row whose fields no longer parse was altered by hand.
                StoreError::Corrupt(msg) => VerifyFailure::Tampered(format!("{msg}: the row was altered")),
                other => VerifyFailure::Other(other.into()),
            })?;
            verifier.push(&stored).map_err(|e| VerifyFailure::Tampered(e.to_string()))?;
        }
        pb.set_position(next.min(expected));
        from = next.max(from + 1);
    }
    pb.finish_and_clear();
    let report = verifier.finish().map_err(|e| VerifyFailure::Tampered(e.to_string()))?;

    let mut check = ArchiveCheck { archived: archived_end, ..ArchiveCheck::default() };
    for archive in &archives {
        let path = archive_dir.map(|d| d.join(&archive.file));
        match path.filter(|p| p.exists()) {
            Some(path) => {
                check_archive(key, &path, archive, &kept)?;
                check.files_checked += 1;
            }
            None => check.files_missing.push(archive.file.clone()),
        }
    }
    Ok((report, check))
}

/// A bar counting audit events, labelled with what is being done to them.
fn events_bar(pb: ProgressBar, doing: &str) -> ProgressBar {
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{doing} [{{bar:40}}] {{pos}}/{{len}} events ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}

fn tampered(e: StoreError) -> VerifyFailure {
    match e {
        StoreError::Corrupt(msg) => VerifyFailure::Tampered(msg),
        other => VerifyFailure::Other(other.into()),
    }
}

/// One archive file against the database's record of it: the file's digest, its signed tree
/// head, and every event's contents against the leaf the database kept for it.
fn check_archive(key: &VerifyingKey, path: &Path, record: &ArchiveRecord, kept: &[Hash]) -> Result<(), VerifyFailure> {
    let name = &record.file;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if hex::encode(Sha256::digest(&bytes)) != record.sha256 {
        return Err(VerifyFailure::Tampered(format!(
            "archive {name} was altered (its SHA-256 differs from the recorded one)"
        )));
    }
    let bad = |e: shuyu_audit::AuditError| VerifyFailure::Tampered(format!("archive {name}: {e}"));
    let mut reader = ArchiveReader::open(bytes.as_slice()).map_err(bad)?;
    let header = reader.header().clone();
    if header.first != record.first_seq || header.end != record.end_seq {
        return Err(VerifyFailure::Tampered(format!("archive {name} does not hold the range the database records")));
    }
    shuyu_audit::verify_tree_head(key, &header.tree_head).map_err(bad)?;
    while let Some(stored) = reader.next_event().map_err(bad)? {
        let seq = stored.event.seq;
        if stored.event.leaf_hash() != stored.leaf_hash {
            return Err(bad(shuyu_audit::AuditError::EventAltered { seq }));
        }
        let db_leaf = usize::try_from(seq).ok().and_then(|i| kept.get(i));
        if db_leaf != Some(&stored.leaf_hash) {
            return Err(VerifyFailure::Tampered(format!(
                "archive {name}: event {seq} is not the event the log committed to"
            )));
        }
    }
    Ok(())
}

fn public_key(data_dir: &Path, explicit: Option<PathBuf>) -> Result<VerifyingKey> {
    match explicit {
        Some(path) => {
            let pem = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok(shuyu_audit::verifying_key_from_pem(&pem)
                .with_context(|| format!("{}: not an Ed25519 public key", path.display()))?)
        }
        None => {
            let path = data_dir.join("audit-signing-key.pem");
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {} (or pass --public-key)", path.display()))?;
            Ok(TreeSigner::from_pkcs8_pem(&pem)
                .with_context(|| format!("{}: not a signing key", path.display()))?
                .verifying_key())
        }
    }
}

fn database_url(data_dir: &Path, database_url: Option<String>) -> Result<String> {
    match database_url.filter(|u| !u.is_empty()) {
        Some(url) => Ok(url),
        None => {
            let file = data_dir.join("shuyu.db");
            anyhow::ensure!(file.exists(), "no database at {}", file.display());
            Ok(format!("sqlite://{}", file.display()))
        }
    }
}

pub async fn run(
    data_dir: PathBuf,
    database_url: Option<String>,
    key: Option<PathBuf>,
    archive_dir: Option<PathBuf>,
) -> Result<ExitCode> {
    let url = self::database_url(&data_dir, database_url)?;
    let key = public_key(&data_dir, key)?;
    let archive_dir = archive_dir.unwrap_or_else(|| shuyu_store::audit_archive::default_dir(&data_dir));
    let store = Store::connect(&url).await?;
    let result = verify_store(&store, &key, Some(&archive_dir), true).await;
    store.close().await;
    match result {
        Ok((report, archives)) => {
            println!(
                "audit log intact: {} events, {} signed tree heads checked, root {}",
                report.events, report.tree_heads_checked, report.root
            );
            if archives.archived > 0 {
                println!(
                    "{} archived events; {} archive files read and checked against their contents",
                    archives.archived, archives.files_checked
                );
            }
            for file in &archives.files_missing {
                println!(
                    "warning: archive {file} is not in {} (its events were checked by their kept leaf hashes only; \
                     pass --archive-dir)",
                    archive_dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(VerifyFailure::Tampered(reason)) => {
            println!("AUDIT LOG NOT INTACT: {reason}");
            Ok(ExitCode::from(1))
        }
        Err(VerifyFailure::Other(e)) => Err(e),
    }
}

/// `shuyu audit archive`: moves events past the retention period (and before `before`, if
/// given) into a compressed archive file that ends at a signed tree head.
pub async fn archive(
    data_dir: PathBuf,
    database_url: Option<String>,
    out: Option<PathBuf>,
    before: Option<NaiveDate>,
) -> Result<ExitCode> {
    let url = self::database_url(&data_dir, database_url)?;
    let dir = out.unwrap_or_else(|| shuyu_store::audit_archive::default_dir(&data_dir));
    let store = Store::connect(&url).await?;
    let result = archive_store(&store, &dir, before).await;
    store.close().await;
    let (cutoff, record) = result?;
    match record {
        Some(r) => println!(
            "archived events {}..{} ({} events) to {} ({} bytes, sha256 {})",
            r.first_seq,
            r.end_seq,
            r.end_seq - r.first_seq,
            dir.join(&r.file).display(),
            r.bytes,
            r.sha256
        ),
        None => println!(
            "nothing to archive: no event before {} is covered by a signed tree head yet",
            format_instant(cutoff)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn archive_store(
    store: &Store,
    dir: &Path,
    before: Option<NaiveDate>,
) -> Result<(DateTime<Utc>, Option<ArchiveRecord>)> {
    let now = Utc::now();
    let years = shuyu_store::supervision::retention_years(&mut *store.acquire().await?).await?;
    // YXO §19: nothing younger than the retention period leaves the database.
    let retained = now.checked_sub_months(Months::new(years.saturating_mul(12))).context("retention period")?;
    let cutoff = match before.and_then(|d| d.and_hms_opt(0, 0, 0)) {
        Some(b) => retained.min(b.and_utc() - chrono::Duration::hours(8)),
        None => retained,
    };
    let pb = events_bar(ProgressBar::new(0), "archiving");
    let ctx = shuyu_store::AuditContext::system("cli-audit-archive");
    let record = shuyu_store::audit_archive::archive(store, dir, cutoff, now, &ctx, |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })
    .await?;
    pb.finish_and_clear();
    Ok((cutoff, record))
}

/// `shuyu audit verify-archive DIR`: checks a directory of archives from event 0 with the public
/// key alone, without the database (for an auditor holding only the files).
pub fn verify_archives(dir: &Path, key_file: &Path) -> Result<ExitCode> {
    let pem = std::fs::read_to_string(key_file).with_context(|| format!("reading {}", key_file.display()))?;
    let key = shuyu_audit::verifying_key_from_pem(&pem)
        .with_context(|| format!("{}: not an Ed25519 public key", key_file.display()))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl.gz"))
        })
        .collect();
    // The names carry zero-padded positions, so they sort in log order.
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no archive files in {}", dir.display());
    let mut inputs = Vec::new();
    for f in &files {
        inputs.push(std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?);
    }
    match shuyu_audit::verify_chain(&key, inputs, |_| Ok(())) {
        Ok(report) => {
            println!(
                "archives intact: {} files, {} events, {} signed tree heads checked, root {}",
                files.len(),
                report.events,
                report.tree_heads_checked,
                report.root
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("ARCHIVES NOT INTACT: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
