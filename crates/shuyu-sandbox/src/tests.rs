//! The red-team attempts from issue 5, against real Parquet files and the real engine.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::array_value_to_string;
use shuyu_core::catalogue::{FieldType, PiiType};
use shuyu_core::grants::{ColumnMode, GrantedColumn, GrantedTable};

use crate::engine::{GovernedSource, Limits, Outcome, Workspace};
use crate::SandboxError;

const IDS: [&str; 4] = ["110101199003071234", "110101198512122345", "320102197705053456", "320102200101014567"];

pub(crate) fn write_parquet(dir: &std::path::Path, batch: RecordBatch) {
    std::fs::create_dir_all(dir).unwrap();
    let file = std::fs::File::create(dir.join("part-0.parquet")).unwrap();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn column(name: &str, mode: ColumnMode, level: u8, pii: Option<PiiType>, t: FieldType) -> GrantedColumn {
    GrantedColumn { name: name.into(), mode, data_type: t, sensitivity: level, pii }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    ws: Workspace,
    other: Workspace,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let people = Schema::new(vec![
        Field::new("resident_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("mobile", DataType::Utf8, false),
        Field::new("district", DataType::Utf8, false),
        Field::new("age", DataType::Int64, false),
        Field::new("secret_note", DataType::Utf8, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(people),
        vec![
            Arc::new(StringArray::from(IDS.to_vec())),
            Arc::new(StringArray::from(vec!["张三", "李四", "王五", "欧阳娜娜"])),
            Arc::new(StringArray::from(vec!["13812345678", "13912345678", "13712345678", "13612345678"])),
            Arc::new(StringArray::from(vec!["东城区", "东城区", "玄武区", "玄武区"])),
            Arc::new(Int64Array::from(vec![36, 40, 49, 25])),
            Arc::new(StringArray::from(vec!["a", "b", "c", "d"])),
        ],
    )
    .unwrap();
    write_parquet(&tmp.path().join("datasets/people"), batch);
    let social =
        Schema::new(vec![Field::new("resident_id", DataType::Utf8, false), Field::new("paid", DataType::Int64, false)]);
    let batch = RecordBatch::try_new(
        Arc::new(social),
        vec![
            Arc::new(StringArray::from(vec![IDS[0], IDS[1], IDS[2]])),
            Arc::new(Int64Array::from(vec![100, 200, 300])),
        ],
    )
    .unwrap();
    write_parquet(&tmp.path().join("datasets/social"), batch);
    let grant_people = GrantedTable {
        entry_id: "e-people".into(),
        table: "people".into(),
        columns: vec![
            column("resident_id", ColumnMode::Invisible, 4, Some(PiiType::ResidentId), FieldType::String),
            column("name", ColumnMode::Masked, 3, Some(PiiType::Name), FieldType::String),
            column("mobile", ColumnMode::Hashed, 3, Some(PiiType::Mobile), FieldType::String),
            column("district", ColumnMode::Plain, 1, None, FieldType::String),
            column("age", ColumnMode::Plain, 2, None, FieldType::Integer),
        ],
        row_filter: Some("age < 45".into()),
        subject_key: Some("resident_id".into()),
        privacy: Default::default(),
    };
    let grant_social = GrantedTable {
        entry_id: "e-social".into(),
        table: "social".into(),
        columns: vec![
            column("resident_id", ColumnMode::Invisible, 4, Some(PiiType::ResidentId), FieldType::String),
            column("paid", ColumnMode::Plain, 2, None, FieldType::Integer),
        ],
        row_filter: None,
        subject_key: Some("resident_id".into()),
        privacy: Default::default(),
    };
    let ws = |key: u8, name: &str| Workspace {
        key: [key; 32],
        governed: vec![
            GovernedSource::local(grant_people.clone(), tmp.path().join("datasets/people")),
            GovernedSource::local(grant_social.clone(), tmp.path().join("datasets/social")),
        ],
        dir: tmp.path().join("workspaces").join(name),
        approved_uploads: vec![],
        sealed: false,
        grades: vec![],
        earlier: vec![],
        cluster: None,
    };
    Fixture { ws: ws(1, "w1"), other: ws(2, "w2"), _tmp: tmp }
}

async fn rows(ws: &Workspace, sql: &str) -> Vec<Vec<String>> {
    let out = match ws.run(sql, &Limits::default()).await {
        Ok(o) => o,
        Err(e) => panic!("{sql}: {e}"),
    };
    let Outcome::Rows { batches, .. } = out.outcome else { panic!("{sql}: not rows") };
    let mut all = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            all.push(b.columns().iter().map(|c| array_value_to_string(c, r).unwrap()).collect());
        }
    }
    all
}

async fn refused(ws: &Workspace, sql: &str) -> SandboxError {
    match ws.run(sql, &Limits::default()).await {
        Ok(o) => panic!("{sql} was allowed: {:?}", o.outcome),
        Err(e) => e,
    }
}

fn names_column(e: &SandboxError, col: &str) {
    match e {
        SandboxError::Refused { column: Some(c), .. } => assert!(c.contains(col), "{e}"),
        other => panic!("expected a refusal naming {col}, got {other:?}"),
    }
}

#[tokio::test]
async fn masked_values_and_row_filter() {
    let f = fixture();
    let r = rows(&f.ws, "SELECT name, district, age FROM people ORDER BY age").await;
    // The row filter keeps age < 45: 王五 (49) is not granted.
    assert_eq!(r, vec![vec!["欧阳**", "玄武区", "25"], vec!["张*", "东城区", "36"], vec!["李*", "东城区", "40"]]);
    // A filter on the raw value finds nothing: filters only ever see masked values.
    assert!(rows(&f.ws, "SELECT district FROM people WHERE name = '张三'").await.is_empty());
    assert_eq!(rows(&f.ws, "SELECT count(*) FROM people WHERE name = '张*'").await, vec![vec!["1"]]);
    // Hashed keys join within a workspace, not across.
    let h1 = rows(&f.ws, "SELECT mobile FROM people ORDER BY age").await;
    let h2 = rows(&f.other, "SELECT mobile FROM people ORDER BY age").await;
    assert_eq!(h1[0][0].len(), 24);
    assert_ne!(h1, h2);
    assert!(!h1.iter().any(|r| r[0].contains("138")));
}

#[tokio::test]
async fn invisible_columns_link_and_count_only() {
    let f = fixture();
    let joined = rows(
        &f.ws,
        "SELECT p.district, sum(s.paid) AS paid, count(DISTINCT p.resident_id) AS people \
         FROM people p JOIN social s ON p.resident_id = s.resident_id GROUP BY p.district ORDER BY p.district",
    )
    .await;
    assert_eq!(joined, vec![vec!["东城区", "300", "2"]]);
    let in_where = rows(&f.ws, "SELECT count(*) FROM people p, social s WHERE p.resident_id = s.resident_id").await;
    assert_eq!(in_where, vec![vec!["2"]]);
    let semi = rows(&f.ws, "SELECT count(*) FROM people WHERE resident_id IN (SELECT resident_id FROM social)").await;
    assert_eq!(semi, vec![vec!["2"]]);
    let cte = rows(
        &f.ws,
        "WITH k AS (SELECT resident_id AS rid FROM people) SELECT count(*) FROM k JOIN social s ON k.rid = s.resident_id",
    )
    .await;
    assert_eq!(cte, vec![vec!["2"]]);
}

#[tokio::test]
async fn every_way_of_reading_an_invisible_value_is_refused() {
    let f = fixture();
    let attempts = [
        "SELECT resident_id FROM people",
        "SELECT * FROM people",
        "SELECT p.* FROM people p",
        "SELECT resident_id AS x FROM people",
        "SELECT x FROM (SELECT resident_id AS x FROM people) t",
        "WITH t AS (SELECT resident_id FROM people) SELECT * FROM t",
        "SELECT district FROM people UNION ALL SELECT resident_id FROM people",
        "SELECT count(*) FROM people WHERE resident_id = '110101199003071234'",
        "SELECT count(*) FROM people WHERE resident_id > '2'",
        "SELECT count(*) FROM people WHERE resident_id BETWEEN '1' AND '2'",
        "SELECT count(*) FROM people WHERE resident_id LIKE '1101%'",
        "SELECT count(*) FROM people WHERE resident_id IN ('110101199003071234')",
        "SELECT count(*) FROM people WHERE substr(resident_id, 7, 4) = '1990'",
        "SELECT district FROM people ORDER BY resident_id LIMIT 1",
        "SELECT resident_id, count(*) FROM people GROUP BY resident_id",
        "SELECT count(*) FROM people GROUP BY resident_id",
        "SELECT min(resident_id) FROM people",
        "SELECT max(resident_id) FROM people",
        "SELECT array_agg(resident_id) FROM people",
        "SELECT string_agg(resident_id, ',') FROM people",
        "SELECT first_value(resident_id) OVER (ORDER BY age) FROM people",
        "SELECT row_number() OVER (ORDER BY resident_id) FROM people",
        "SELECT count(*) OVER (PARTITION BY resident_id) FROM people",
        "SELECT lag(resident_id) OVER (ORDER BY age) FROM people",
        "SELECT md5(resident_id) FROM people",
        "SELECT sha256(resident_id) FROM people",
        "SELECT digest(resident_id, 'sha256') FROM people",
        "SELECT reverse(resident_id) FROM people",
        "SELECT length(resident_id) FROM people",
        "SELECT CAST(resident_id AS BIGINT) FROM people",
        "SELECT CASE WHEN resident_id > '2' THEN 1 ELSE 0 END FROM people",
        "SELECT named_struct('a', resident_id) FROM people",
        "SELECT make_array(resident_id) FROM people",
        "SELECT resident_id || '' FROM people",
        "SELECT count(*) FROM people p JOIN social s ON p.resident_id = '110101199003071234'",
        "SELECT count(*) FROM people p JOIN (SELECT '110101199003071234' AS k) t ON p.resident_id = t.k",
        "SELECT count(*) FROM people p JOIN (VALUES ('110101199003071234')) t(k) ON p.resident_id = t.k",
        "SELECT count(*) FROM people p JOIN social s ON upper(p.resident_id) = s.resident_id",
        "SELECT count(*) FROM people p JOIN social s ON p.resident_id < s.resident_id",
        "SELECT count(*) FROM people WHERE resident_id IN (SELECT '110101199003071234')",
        "SELECT (SELECT max(resident_id) FROM social) FROM people",
        "SELECT count(upper(resident_id)) FROM people",
        "SELECT sum(length(resident_id)) FROM people",
        "SELECT count(*) FILTER (WHERE resident_id > '2') FROM people",
        "SELECT DISTINCT ON (resident_id) district FROM people",
        "SELECT district FROM people WHERE EXISTS (SELECT 1 FROM social s WHERE s.resident_id > people.resident_id)",
    ];
    for sql in attempts {
        let e = refused(&f.ws, sql).await;
        names_column(&e, "resident_id");
    }
}

#[tokio::test]
async fn ungranted_columns_other_workspaces_files_and_writes_are_refused() {
    let f = fixture();
    // A column the grant leaves out, and a table the workspace has no grant for: "not found".
    for sql in ["SELECT secret_note FROM people", "SELECT * FROM enterprises", "SELECT * FROM __stored_people"] {
        assert!(matches!(f.ws.run(sql, &Limits::default()).await, Err(SandboxError::NotFound(_))), "{sql}");
    }
    // Rows outside the row filter do not exist.
    assert_eq!(rows(&f.ws, "SELECT count(*) FROM people WHERE age >= 45").await, vec![vec!["0"]]);
    // Another workspace's scratch table is not visible.
    rows(&f.other, "SELECT 1").await;
    f.other.run("CREATE TABLE theirs AS SELECT district FROM people", &Limits::default()).await.unwrap();
    assert!(matches!(f.ws.run("SELECT * FROM theirs", &Limits::default()).await, Err(SandboxError::NotFound(_))));
    let attempts = [
        "SELECT * FROM '/etc/passwd'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "COPY people TO '/tmp/out.csv'",
        "COPY (SELECT district FROM people) TO '/tmp/out.parquet'",
        "INSERT INTO people VALUES ('1','2','3','4',5)",
        "DELETE FROM people",
        "DROP TABLE people",
        "SET datafusion.execution.batch_size = 1",
        "EXPLAIN SELECT district FROM people",
        "CREATE VIEW v AS SELECT district FROM people",
        "SHOW TABLES",
        "SELECT * FROM information_schema.tables",
        "CREATE TABLE people AS SELECT 1",
    ];
    for sql in attempts {
        assert!(f.ws.run(sql, &Limits::default()).await.is_err(), "{sql} was allowed");
    }
    assert!(!std::path::Path::new("/tmp/out.csv").exists());
}

#[tokio::test]
async fn scratch_tables_keep_lineage() {
    let f = fixture();
    let out = f
        .ws
        .run("CREATE TABLE linked AS SELECT p.resident_id, p.district, s.paid FROM people p JOIN social s ON p.resident_id = s.resident_id", &Limits::default())
        .await
        .unwrap();
    assert!(matches!(out.outcome, Outcome::Created { rows: 2, level: 4, .. }), "{:?}", out.outcome);
    // The copied key stays invisible, and still links.
    names_column(&refused(&f.ws, "SELECT resident_id FROM linked").await, "people.resident_id");
    assert_eq!(
        rows(&f.ws, "SELECT count(*) FROM linked l JOIN social s ON l.resident_id = s.resident_id").await,
        vec![vec!["2"]]
    );
    // A computed column is not a stored one: no joining an invisible key to it.
    f.ws.run("CREATE TABLE guess AS SELECT '110101199003071234' AS k", &Limits::default()).await.unwrap();
    names_column(
        &refused(&f.ws, "SELECT count(*) FROM people p JOIN guess g ON p.resident_id = g.k").await,
        "resident_id",
    );
    f.ws.run("DROP TABLE guess", &Limits::default()).await.unwrap();
    assert!(f.ws.run("SELECT * FROM guess", &Limits::default()).await.is_err());
}

#[tokio::test]
async fn limits_stop_runaway_queries() {
    let f = fixture();
    let tight = Limits { timeout: std::time::Duration::from_millis(300), ..Limits::default() };
    let e = f.ws.run("SELECT count(*) FROM generate_series(1, 10000000000) a", &tight).await.unwrap_err();
    assert!(matches!(e, SandboxError::Limit(_) | SandboxError::Refused { .. }), "{e:?}");
    let small = Limits { display_rows: 2, ..Limits::default() };
    let out = f.ws.run("SELECT district FROM people", &small).await.unwrap();
    assert!(matches!(out.outcome, Outcome::Rows { rows: 2, truncated: true, .. }));
    let sealed = Workspace { sealed: true, ..f.ws.clone() };
    assert!(matches!(
        sealed.run("SELECT 1", &Limits::default()).await,
        Err(SandboxError::Refused { basis: "WX §19", .. })
    ));
}

/// What a Ballista scheduler receives: the checked plan with the governed tables inlined, as
/// bytes. A node that knows no table and no Shuyu function decodes it and computes exactly the
/// governed answer — filtered rows, masked names, keyed-hash tokens — and nothing in the plan's
/// printed form shows the workspace key.
#[tokio::test]
async fn a_governed_plan_sent_to_a_cluster_carries_its_grant() {
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
    };

    use crate::distributed::{inline_governed, ShuyuLogicalCodec};

    let f = fixture();
    let sql = "SELECT name, mobile, district, age FROM people WHERE district = '东城区' OR age < 30 ORDER BY age";
    let expected = rows(&f.ws, sql).await;
    assert_eq!(expected.len(), 3, "the row filter (age < 45) holds: {expected:?}");
    let (_, plan) = f.ws.planned(sql).await.unwrap();
    let sent = inline_governed(plan).unwrap();
    let printed = format!("{sent:?}{sent}");
    assert!(!printed.contains("1, 1, 1, 1") && !printed.contains("0101010101"), "{printed}");
    let codec = ShuyuLogicalCodec::default();
    let bytes = logical_plan_to_bytes_with_extension_codec(&sent, &codec).unwrap();
    let node = SessionContext::new();
    let received = logical_plan_from_bytes_with_extension_codec(&bytes, &node.task_ctx(), &codec).unwrap();
    let batches = node.execute_logical_plan(received).await.unwrap().collect().await.unwrap();
    let mut got = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            got.push(b.columns().iter().map(|c| array_value_to_string(c, r).unwrap()).collect::<Vec<_>>());
        }
    }
    assert_eq!(got, expected);
    assert!(got.iter().all(|r| r[0].ends_with('*') && r[1].len() == 24), "{got:?}");
    // Columns outside the grant cannot be named in the first place, so they never reach a plan.
    assert!(matches!(f.ws.planned("SELECT secret_note FROM people").await, Err(SandboxError::NotFound(_))));
}
