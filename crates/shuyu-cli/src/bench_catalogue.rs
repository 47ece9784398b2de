//! `shuyu bench catalogue`: publishes many synthetic entries, builds the search index from the
//! database as the server does at start, and times public searches through the API handler
//! (authorization, query building, tantivy, reading the hits from the database) against
//! tantivy alone running the same prebuilt queries.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use axum::extract::State;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_authz::Principal;
use shuyu_core::catalogue::{
    AccessClass, AcquisitionMode, Entry, EntryMetadata, EntryState, FieldSpec, FieldType, SecurityGrade,
    UpdateFrequency,
};
use shuyu_core::industry;
use shuyu_search::SearchQuery;
use shuyu_server::auth::Caller;
use shuyu_server::extract::ApiQuery;
use shuyu_server::i18n::Lang;
use shuyu_server::routes::catalogue::SearchParams;
use shuyu_server::ServerConfig;
use shuyu_store::catalogue::{self, EntryRecord};
use shuyu_store::AuditContext;

use crate::bench::{bar, render, write_report, Row};

const TOPICS: &[&str] = &[
    "企业",
    "个人",
    "车辆",
    "公交",
    "医疗",
    "教育",
    "气象",
    "环境",
    "人口",
    "社保",
    "税务",
    "不动产",
    "水务",
    "电力",
    "交通",
    "旅游",
    "农业",
    "市场",
    "信用",
    "住房",
    "养老",
    "就业",
    "食品",
    "药品",
    "消防",
    "应急",
    "物流",
    "港口",
];
const SUBJECTS: &[&str] =
    &["登记", "许可", "监测", "统计", "缴费", "备案", "处罚", "检验", "运行", "服务", "投诉", "补贴", "评价", "审批"];
const SUFFIXES: &[&str] = &["信息", "数据", "记录", "明细", "目录", "台账"];
const REGIONS: &[&str] = &["320200", "320205", "320206", "320211", "320213", "320214", "320281", "320282"];

fn synthetic(rng: &mut impl Rng, n: u64, divisions: &[String]) -> EntryMetadata {
    let topic = TOPICS.choose(rng).copied().unwrap_or("企业");
    let subject = SUBJECTS.choose(rng).copied().unwrap_or("登记");
    let suffix = SUFFIXES.choose(rng).copied().unwrap_or("信息");
    let classes = [AccessClass::Unconditional, AccessClass::Conditional, AccessClass::NotAllowed];
    let frequencies =
        [UpdateFrequency::Realtime, UpdateFrequency::Daily, UpdateFrequency::Monthly, UpdateFrequency::Yearly];
    let sensitivity = rng.gen_range(1..=4u8);
    EntryMetadata {
        name: format!("{topic}{subject}{suffix}（第{n}号）"),
        description: format!(
            "全市{topic}{subject}业务形成的{suffix}，用于{}等场景",
            SUBJECTS.choose(rng).unwrap_or(&"")
        ),
        tags: vec![topic.to_string(), subject.to_string(), format!("dataset-{}", n % 97)],
        industry: divisions.choose(rng).cloned().unwrap_or_else(|| "S92".into()),
        scenarios: vec![format!("{topic}治理")],
        source: "业务系统".into(),
        compliance_proof: None,
        fields: vec![
            FieldSpec {
                name: "record_id".into(),
                data_type: FieldType::String,
                format: String::new(),
                description: format!("{topic}记录编号"),
                sensitivity: 1,
                pii: None,
            },
            FieldSpec {
                name: "detail".into(),
                data_type: FieldType::String,
                format: String::new(),
                description: format!("{subject}明细"),
                sensitivity,
                pii: None,
            },
        ],
        records: rng.gen_range(1_000..10_000_000),
        bytes: 0,
        region: REGIONS.choose(rng).copied().unwrap_or("320200").into(),
        co_owners: vec![],
        update_frequency: *frequencies.choose(rng).unwrap_or(&UpdateFrequency::Daily),
        share_class: *classes.choose(rng).unwrap_or(&AccessClass::Conditional),
        open_class: *classes.choose(rng).unwrap_or(&AccessClass::Conditional),
        acquisition_mode: AcquisitionMode::AuthorizedOperation,
        storage: "政务云".into(),
        grade: SecurityGrade::General,
        restriction_reason: None,
        opening_basis: None,
    }
}

fn query(rng: &mut impl Rng, i: u64) -> SearchQuery {
    let topic = TOPICS.choose(rng).copied().unwrap_or("企业").to_string();
    let subject = SUBJECTS.choose(rng).copied().unwrap_or("登记").to_string();
    let mut q = SearchQuery { limit: 20, ..Default::default() };
    match i % 4 {
        0 => q.text = topic,
        1 => q.text = format!("{topic}{subject}"),
        2 => {
            q.text = subject;
            q.open_class = Some("unconditional".into());
        }
        _ => {
            q.industry = Some(["S", "G", "Q", "N"].choose(rng).copied().unwrap_or("S").into());
            q.region = REGIONS.choose(rng).map(|r| r.to_string());
        }
    }
    q
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub async fn run(entries: u64, queries: u64, report: &Path) -> Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let config = ServerConfig {
        data_dir: tmp.path().to_path_buf(),
        profile: "wuxi".into(),
        // A benchmark is a rehearsal: its deadlines may fall in a year without a notice.
        provisional_calendar_years: true,
        ..ServerConfig::default()
    };
    let app = shuyu_server::build_state(config).await?;
    shuyu_server::demo::seed(&app).await.map_err(|e| anyhow!("{}", e.body.message))?;
    let holders: Vec<_> = {
        let mut conn = app.store.pool().acquire().await?;
        shuyu_store::organisations::list(&mut conn).await?.into_iter().map(|o| o.id).collect()
    };
    let divisions: Vec<String> = industry::divisions().into_iter().map(|(code, _)| code).collect();
    let mut rng = rand::thread_rng();

    // Publish the entries (one transaction per 5,000, each audited as one bulk event).
    let pb = bar(entries, "publishing entries");
    let now = app.clock.now();
    let ctx = AuditContext::system("bench");
    let mut n = 0u64;
    while n < entries {
        let mut tx = app.begin().await.map_err(|e| anyhow!("{}", e.body.message))?;
        let batch = (entries - n).min(5_000);
        for _ in 0..batch {
            n += 1;
            let e = EntryRecord {
                id: format!("bench-{n:07}"),
                holder_org: *holders.choose(&mut rng).ok_or_else(|| anyhow!("no organisations"))?,
                workflow: Entry {
                    state: EntryState::Published,
                    ever_published: true,
                    has_pending: false,
                    ..Entry::new()
                },
                published: Some(synthetic(&mut rng, n, &divisions)),
                pending: None,
                late_submission: false,
                decision_reason: None,
                overdue_since: None,
                open_data: None,
                published_version: 1,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            catalogue::insert(tx.conn(), &e).await?;
        }
        tx.audit(&ctx, "bench.catalogue_seeded", "platform:shuyu", Outcome::Success, json!({ "entries": batch }))
            .await?;
        tx.commit().await?;
        pb.inc(batch);
    }
    pb.finish();

    let started = Instant::now();
    let indexed = shuyu_server::catalogue::rebuild_index(&app).await.map_err(|e| anyhow!("{}", e.body.message))?;
    let build = started.elapsed();
    println!("indexed {indexed} entries in {:.1} s", build.as_secs_f64());

    let anonymous = Caller {
        principal: Principal::Anonymous,
        user: None,
        ctx: AuditContext { actor: "anonymous".into(), ..AuditContext::default() },
        token_hash: None,
        lang: Lang::Zh,
    };
    let pb = bar(queries, "searching");
    let mut api = Vec::with_capacity(queries as usize);
    let mut raw = Vec::with_capacity(queries as usize);
    let mut hits_total = 0usize;
    for i in 0..queries {
        let q = query(&mut rng, i);
        let params = SearchParams {
            q: Some(q.text.clone()).filter(|t| !t.is_empty()),
            department: None,
            industry: q.industry.clone(),
            region: q.region.clone(),
            share_class: None,
            open_class: q.open_class.clone(),
            level: None,
            update_frequency: None,
            limit: Some(20),
            offset: None,
        };
        let started = Instant::now();
        let result = shuyu_server::routes::catalogue::search(State(app.clone()), anonymous.clone(), ApiQuery(params))
            .await
            .map_err(|e| anyhow!("{}", e.body.message))?;
        api.push(started.elapsed());
        hits_total += result.0.entries.len();
        let prebuilt = app.catalogue_index.query(&q)?;
        let started = Instant::now();
        app.catalogue_index.raw(prebuilt.as_ref(), 20)?;
        raw.push(started.elapsed());
        pb.inc(1);
    }
    pb.finish();
    api.sort_unstable();
    raw.sort_unstable();
    let rows = vec![
        Row {
            what: "public search, p95 (API handler: policy, query, tantivy, 20 hits read from the database)".into(),
            shuyu: format!(
                "{:.2} ms (p50 {:.2}, p99 {:.2}; {:.1} hits/query)",
                ms(percentile(&api, 0.95)),
                ms(percentile(&api, 0.50)),
                ms(percentile(&api, 0.99)),
                hits_total as f64 / queries.max(1) as f64
            ),
            raw: format!(
                "{:.2} ms (p50 {:.2}, p99 {:.2}) tantivy top-20 + count, same queries",
                ms(percentile(&raw, 0.95)),
                ms(percentile(&raw, 0.50)),
                ms(percentile(&raw, 0.99))
            ),
            ratio: percentile(&api, 0.95).as_secs_f64() / percentile(&raw, 0.95).as_secs_f64().max(1e-9),
            goal: "p95 < 20 ms at 100,000 entries",
        },
        Row {
            what: "index build from the database at start".into(),
            shuyu: format!("{:.1} s for {indexed} entries", build.as_secs_f64()),
            raw: "—".into(),
            ratio: 1.0,
            goal: "—",
        },
    ];
    let command = format!("cargo run --release -- bench catalogue --entries {entries} --queries {queries}");
    let table = render("catalogue", &rows, &command, "SQLite; tantivy in memory with the jieba tokenizer");
    println!("{table}");
    write_report(report, "catalogue", &table)?;
    println!("written to {}", report.display());
    Ok(ExitCode::SUCCESS)
}
