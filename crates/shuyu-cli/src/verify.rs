//! `shuyu audit verify`: recompute the whole log from the database and name the first problem.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use ed25519_dalek::VerifyingKey;
use indicatif::{ProgressBar, ProgressStyle};
use shuyu_audit::{TreeSigner, Verifier, VerifyReport};
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

/// Streams every event through the verifier.
pub async fn verify_store(store: &Store, key: &VerifyingKey, progress: bool) -> Result<VerifyReport, VerifyFailure> {
    // One snapshot: the head counter and the rows agree, so events committed while verifying
    // are not mistaken for insertions.
    let mut snap = store.audit_snapshot().await.context("database connection")?;
    let expected = snap.head_size().await.context("reading the audit head")?;
    let heads = snap.tree_heads().await.map_err(|e| match e {
        StoreError::Corrupt(msg) => VerifyFailure::Tampered(msg),
        other => VerifyFailure::Other(other.into()),
    })?;
    let pb = if progress { ProgressBar::new(expected) } else { ProgressBar::hidden() };
    pb.set_style(
        ProgressStyle::with_template("verifying [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut verifier = Verifier::new(*key, heads, Some(expected));
    let mut from = 0u64;
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
    verifier.finish().map_err(|e| VerifyFailure::Tampered(e.to_string()))
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

pub async fn run(data_dir: PathBuf, database_url: Option<String>, key: Option<PathBuf>) -> Result<ExitCode> {
    let url = match database_url.filter(|u| !u.is_empty()) {
        Some(url) => url,
        None => {
            let file = data_dir.join("shuyu.db");
            anyhow::ensure!(file.exists(), "no database at {}", file.display());
            format!("sqlite://{}", file.display())
        }
    };
    let key = public_key(&data_dir, key)?;
    let store = Store::connect(&url).await?;
    let result = verify_store(&store, &key, true).await;
    store.close().await;
    match result {
        Ok(report) => {
            println!(
                "audit log intact: {} events, {} signed tree heads checked, root {}",
                report.events, report.tree_heads_checked, report.root
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(VerifyFailure::Tampered(reason)) => {
            println!("AUDIT LOG NOT INTACT: {reason}");
            Ok(ExitCode::from(1))
        }
        Err(VerifyFailure::Other(e)) => Err(e),
    }
}
