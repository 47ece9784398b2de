//! Aggregation-only grants against the real engine: every group a query returns covers at least
//! k subjects, whatever wraps the aggregate; rows never come out un-aggregated.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::array_value_to_string;
use shuyu_core::catalogue::{FieldType, PiiType};
use shuyu_core::grants::{ColumnMode, GrantedColumn, GrantedTable, Privacy};

use crate::engine::{GovernedSource, Limits, Outcome, Workspace};
use crate::tests::write_parquet;
use crate::SandboxError;

fn column(name: &str, mode: ColumnMode, level: u8, t: FieldType) -> GrantedColumn {
    GrantedColumn { name: name.into(), mode, data_type: t, sensitivity: level, pii: None }
}

pub(crate) const K: u32 = 10;

/// Residents: 东城区 12, 西城区 5, 朝阳区 13 (one row each). Loans: 东城区 has 12 loans of 12
/// residents, 海淀区 has 12 loans of a single resident. Regions: a plain reference table.
pub(crate) struct Fixture {
    pub _tmp: tempfile::TempDir,
    pub ws: Workspace,
}

pub(crate) fn fixture(privacy: Privacy) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    let mut districts = Vec::new();
    let mut ages = Vec::new();
    let mut incomes = Vec::new();
    for (district, n) in [("东城区", 12), ("西城区", 5), ("朝阳区", 13)] {
        for i in 0..n {
            ids.push(format!("1101{:014}", ids.len()));
            districts.push(district.to_string());
            ages.push(20 + i as i64 * 3);
            incomes.push(1000 * (i as i64 + 1));
        }
    }
    let schema = Schema::new(vec![
        Field::new("resident_id", DataType::Utf8, false),
        Field::new("district", DataType::Utf8, false),
        Field::new("age", DataType::Int64, false),
        Field::new("income", DataType::Int64, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(ids.clone())),
            Arc::new(StringArray::from(districts)),
            Arc::new(Int64Array::from(ages)),
            Arc::new(Int64Array::from(incomes)),
        ],
    )
    .unwrap();
    write_parquet(&tmp.path().join("datasets/residents"), batch);
    let mut loan_ids = Vec::new();
    let mut loan_districts = Vec::new();
    for id in ids.iter().take(12) {
        loan_ids.push(id.clone());
        loan_districts.push("东城区".to_string());
    }
    for _ in 0..12 {
        loan_ids.push(ids[20].clone());
        loan_districts.push("海淀区".to_string());
    }
    let schema = Schema::new(vec![
        Field::new("resident_id", DataType::Utf8, false),
        Field::new("district", DataType::Utf8, false),
        Field::new("amount", DataType::Int64, false),
    ]);
    let n = loan_ids.len();
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(loan_ids)),
            Arc::new(StringArray::from(loan_districts)),
            Arc::new(Int64Array::from((0..n as i64).map(|i| 100 + i).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    write_parquet(&tmp.path().join("datasets/loans"), batch);
    let schema =
        Schema::new(vec![Field::new("district", DataType::Utf8, false), Field::new("region", DataType::Utf8, false)]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(vec!["东城区", "西城区", "朝阳区", "海淀区"])),
            Arc::new(StringArray::from(vec!["核心区", "核心区", "城六区", "城六区"])),
        ],
    )
    .unwrap();
    write_parquet(&tmp.path().join("datasets/regions"), batch);
    let mut id = column("resident_id", ColumnMode::Invisible, 4, FieldType::String);
    id.pii = Some(PiiType::ResidentId);
    let residents = GrantedTable {
        entry_id: "e-residents".into(),
        table: "residents".into(),
        columns: vec![
            id.clone(),
            column("district", ColumnMode::Plain, 1, FieldType::String),
            column("age", ColumnMode::Plain, 2, FieldType::Integer),
            column("income", ColumnMode::Plain, 2, FieldType::Integer),
        ],
        row_filter: None,
        subject_key: Some("resident_id".into()),
        privacy: privacy.clone(),
    };
    let loans = GrantedTable {
        entry_id: "e-loans".into(),
        table: "loans".into(),
        columns: vec![
            column("district", ColumnMode::Plain, 1, FieldType::String),
            column("amount", ColumnMode::Plain, 2, FieldType::Integer),
        ],
        row_filter: None,
        subject_key: Some("resident_id".into()),
        privacy,
    };
    let regions = GrantedTable {
        entry_id: "e-regions".into(),
        table: "regions".into(),
        columns: vec![
            column("district", ColumnMode::Plain, 1, FieldType::String),
            column("region", ColumnMode::Plain, 1, FieldType::String),
        ],
        row_filter: None,
        subject_key: None,
        privacy: Privacy::Standard,
    };
    let ws = Workspace {
        key: [7; 32],
        governed: vec![
            GovernedSource::local(residents, tmp.path().join("datasets/residents")),
            GovernedSource::local(loans, tmp.path().join("datasets/loans")),
            GovernedSource::local(regions, tmp.path().join("datasets/regions")),
        ],
        dir: tmp.path().join("workspaces/w"),
        approved_uploads: vec![],
        sealed: false,
        grades: vec![],
        earlier: vec![],
        cluster: None,
    };
    Fixture { ws, _tmp: tmp }
}

async fn run(ws: &Workspace, sql: &str) -> (Vec<Vec<String>>, Option<u64>) {
    let out = match ws.run(sql, &Limits::default()).await {
        Ok(o) => o,
        Err(e) => panic!("{sql}: {e}"),
    };
    let Outcome::Rows { batches, suppressed, .. } = out.outcome else { panic!("{sql}: not rows") };
    let mut all = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            all.push(b.columns().iter().map(|c| array_value_to_string(c, r).unwrap()).collect());
        }
    }
    all.sort();
    (all, suppressed)
}

async fn refused(ws: &Workspace, sql: &str) -> String {
    match ws.run(sql, &Limits::default()).await {
        Ok(o) => panic!("{sql} was allowed: {:?}", o.outcome),
        Err(SandboxError::Refused { reason, basis, .. }) => {
            assert_eq!(basis, "SPEC §4.5", "{sql}: {reason}");
            reason
        }
        Err(e) => panic!("{sql}: refused for the wrong reason: {e}"),
    }
}

fn agg_only() -> Privacy {
    Privacy::AggregationOnly { k: Some(K) }
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

#[tokio::test]
async fn small_groups_are_suppressed_and_counted() {
    let f = fixture(agg_only());
    let (rows, suppressed) = run(&f.ws, "SELECT district, count(*) AS n FROM residents GROUP BY district").await;
    assert_eq!(rows, vec![row(&["东城区", "12"]), row(&["朝阳区", "13"])]);
    assert_eq!(suppressed, Some(1));
    // A global aggregate over a small set is a group too.
    let (rows, suppressed) = run(&f.ws, "SELECT count(*) FROM residents WHERE district = '西城区'").await;
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(suppressed, Some(1));
    // The plain reference table is not aggregation-only.
    let (rows, suppressed) = run(&f.ws, "SELECT district FROM regions WHERE region = '核心区'").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(suppressed, None);
}

#[tokio::test]
async fn the_threshold_holds_whatever_wraps_the_aggregate() {
    let f = fixture(agg_only());
    let wrapped = [
        "SELECT * FROM (SELECT district, count(*) AS n FROM residents GROUP BY district) s WHERE n > 0",
        "WITH g AS (SELECT district, avg(income) AS a FROM residents GROUP BY district) \
         SELECT g.district, r.region FROM g JOIN regions r ON g.district = r.district",
        "SELECT district, count(*) FROM (SELECT district FROM residents WHERE age > 0 \
         UNION ALL SELECT district FROM residents WHERE age > 1000) u GROUP BY district",
        "SELECT x.district, count(*) FROM residents x JOIN regions r ON x.district = r.district \
         GROUP BY x.district",
        "SELECT DISTINCT district FROM residents",
        "SELECT district, n FROM (SELECT district, count(*) AS n FROM residents GROUP BY district) \
         UNION ALL SELECT district, 0 FROM regions WHERE district = '海淀区'",
    ];
    for sql in wrapped {
        let (rows, suppressed) = run(&f.ws, sql).await;
        assert!(rows.iter().all(|r| r[0] != "西城区"), "{sql}: {rows:?}");
        assert!(rows.iter().any(|r| r[0] == "东城区"), "{sql}: {rows:?}");
        assert_eq!(suppressed, Some(1), "{sql}");
    }
    // Grouping by the region merges 东城区 and 西城区: 17 subjects, enough.
    let (rows, _) = run(
        &f.ws,
        "SELECT r.region, count(*) FROM residents p JOIN regions r ON p.district = r.district GROUP BY r.region",
    )
    .await;
    assert_eq!(rows, vec![row(&["城六区", "13"]), row(&["核心区", "17"])]);
}

#[tokio::test]
async fn subjects_are_counted_on_the_key_not_the_rows() {
    let f = fixture(agg_only());
    // 海淀区 has 12 loans but all of one resident; the query never names the resident.
    let (rows, suppressed) = run(&f.ws, "SELECT district, count(*), sum(amount) FROM loans GROUP BY district").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "东城区");
    assert_eq!(suppressed, Some(1));
}

#[tokio::test]
async fn rows_never_leave_unaggregated() {
    let f = fixture(agg_only());
    for sql in [
        "SELECT district, age FROM residents",
        "SELECT district, income FROM residents LIMIT 1",
        "SELECT district, count(*) OVER () FROM residents",
        "SELECT r.region FROM regions r JOIN residents p ON p.district = r.district",
    ] {
        let reason = refused(&f.ws, sql).await;
        assert!(reason.contains("aggregates only"), "{sql}: {reason}");
    }
    // UNION is a DISTINCT: each value must cover k subjects; 海淀区 (none) and 西城区 (5) do not.
    let (rows, suppressed) = run(&f.ws, "SELECT district FROM residents UNION SELECT district FROM regions").await;
    assert_eq!(rows, vec![row(&["东城区"]), row(&["朝阳区"])]);
    assert_eq!(suppressed, Some(2));
    // One person's value, whatever the group size.
    let reason = refused(&f.ws, "SELECT district, max(income) FROM residents GROUP BY district").await;
    assert!(reason.contains("MAX"), "{reason}");
    // Membership through a filter.
    let reason = refused(
        &f.ws,
        "SELECT count(*) FROM regions WHERE district IN (SELECT district FROM residents WHERE age = 23)",
    )
    .await;
    assert!(reason.contains("IN, EXISTS"), "{reason}");
}

#[tokio::test]
async fn a_scratch_table_of_rows_stays_aggregation_only() {
    let f = fixture(agg_only());
    let out = f.ws.run("CREATE TABLE copy AS SELECT district, income FROM residents", &Limits::default()).await;
    assert!(matches!(out.map(|o| o.outcome), Ok(Outcome::Created { rows: 30, .. })));
    let reason = refused(&f.ws, "SELECT * FROM copy").await;
    assert!(reason.contains("aggregates only"), "{reason}");
    let (rows, suppressed) = run(&f.ws, "SELECT district, sum(income) FROM copy GROUP BY district").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(suppressed, Some(1));
    // An aggregated scratch table is free to use: its groups already passed.
    let out =
        f.ws.run(
            "CREATE TABLE by_district AS SELECT district, count(*) AS n FROM residents GROUP BY district",
            &Limits::default(),
        )
        .await;
    assert!(matches!(out.map(|o| o.outcome), Ok(Outcome::Created { rows: 2, .. })));
    let (rows, suppressed) = run(&f.ws, "SELECT * FROM by_district").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(suppressed, None);
    // Exports pass the same rule: aggregated groups go to review, rows do not.
    let grants: Vec<_> = f.ws.governed.iter().map(|g| (g.grant.clone(), !g.grant.privacy.reads_rows())).collect();
    let rules = crate::export::Rules { grants: &grants, sensitive_level: 3, max_rows: 1000, min_group_size: 10 };
    let group_check = |table: &str| {
        let (meta, batches) = crate::export::read_scratch(&f.ws.dir, table).unwrap();
        crate::export::check(&meta, &batches, None, &rules)
            .into_iter()
            .find(|c| c.check == "minimum_group_size")
            .unwrap()
    };
    assert!(group_check("by_district").passed);
    let rows_check = group_check("copy");
    assert!(!rows_check.passed && rows_check.detail.contains("not aggregated"), "{rows_check:?}");
}

// ---------------------------------------------------------------- differential privacy

fn dp(mechanism: shuyu_core::privacy::Mechanism) -> Privacy {
    use shuyu_core::privacy::{Delta, DpSettings, Epsilon};
    let gaussian = mechanism == shuyu_core::privacy::Mechanism::Gaussian;
    Privacy::DifferentialPrivacy(DpSettings {
        epsilon: Epsilon::from_f64(10.0).unwrap(),
        delta: Delta::from_f64(if gaussian { 1e-5 } else { 0.0 }).unwrap(),
        query_epsilon: Epsilon::from_f64(1.0).unwrap(),
        query_delta: Delta::from_f64(if gaussian { 1e-6 } else { 0.0 }).unwrap(),
        mechanism,
        bounds: [("income".to_string(), (0, 20_000))].into(),
        public_keys: [("district".to_string(), ["东城区", "西城区", "朝阳区", "海淀区"].map(String::from).to_vec())]
            .into(),
        max_rows_per_subject: 1,
    })
}

async fn pending(ws: &Workspace, sql: &str) -> crate::dp::Pending {
    match ws.run(sql, &Limits::default()).await {
        Ok(o) => match o.outcome {
            Outcome::Private(p) => *p,
            other => panic!("{sql}: not a private answer: {other:?}"),
        },
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Sample variance of `n` releases of the first count.
fn variance(p: &crate::dp::Pending, n: usize, seed: u64) -> f64 {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let xs: Vec<f64> = (0..n).map(|_| p.one(&mut rng) as f64).collect();
    let mean = xs.iter().sum::<f64>() / n as f64;
    xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)
}

#[tokio::test]
async fn ten_thousand_dp_counts_have_the_stated_variance() {
    use shuyu_core::privacy::Mechanism;
    let f = fixture(dp(Mechanism::Laplace));
    let p = pending(&f.ws, "SELECT count(*) FROM residents").await;
    assert_eq!(p.truths()[0].1, 30);
    assert_eq!(p.epsilon, 1_000_000);
    // Discrete Laplace with b = 1/ε = 1: variance 2e^{-1}/(1-e^{-1})² ≈ 1.8407; the sample
    // variance of 10,000 draws has a standard error of about 0.041 (kurtosis 6).
    let q = (-1.0f64).exp();
    let stated = 2.0 * q / (1.0 - q).powi(2);
    let v = variance(&p, 10_000, 1);
    assert!((v - stated).abs() < 0.2, "variance {v}, stated {stated}");
    // A continuous Laplace of the same scale would have variance 2; twice the scale, 7.0.
    assert!((v - 7.0).abs() > 1.0);

    let f = fixture(dp(Mechanism::Gaussian));
    let p = pending(&f.ws, "SELECT count(*) FROM residents").await;
    assert_eq!(p.delta, 1_000_000);
    let released = p.clone().release(&mut rand::rngs::OsRng).unwrap();
    let sigma = released.noise[0].scale;
    // A discrete Gaussian's variance is within 1% of σ² for σ this large; tolerance 5 standard errors.
    let v = variance(&p, 10_000, 2);
    let se = sigma * sigma * (2.0f64 / 10_000.0).sqrt();
    assert!((v - sigma * sigma).abs() < 5.0 * se, "variance {v}, σ² {}", sigma * sigma);
}

#[tokio::test]
async fn dp_histograms_cover_the_public_domain_and_bound_each_subject() {
    use shuyu_core::privacy::Mechanism;
    let f = fixture(dp(Mechanism::Laplace));
    let p =
        pending(&f.ws, "SELECT district, count(*) AS n, avg(income) AS mean_income FROM residents GROUP BY district")
            .await;
    let truths = p.truths();
    assert_eq!(
        truths,
        vec![
            (vec!["东城区".to_string()], 12),
            (vec!["西城区".to_string()], 5),
            (vec!["朝阳区".to_string()], 13),
            (vec!["海淀区".to_string()], 0),
        ]
    );
    let r = p.release(&mut rand::rngs::OsRng).unwrap();
    assert_eq!(r.columns, vec!["district", "n", "mean_income"]);
    assert_eq!(r.rows.len(), 4, "every value of the public domain, even an empty one");
    assert_eq!(r.epsilon, 1.0);
    // ε = 1 split over a count and an average (a sum and a count): 1/3 each.
    assert_eq!(r.noise.len(), 3);
    assert!(r.noise.iter().all(|n| (n.epsilon - 1.0 / 3.0).abs() < 1e-5), "{:?}", r.noise);
    let sum = r.noise.iter().find(|n| n.kind.starts_with("average (sum")).unwrap();
    assert_eq!(sum.sensitivity, 20_000);
    for row in &r.rows {
        let mean = row[2].as_f64().unwrap();
        assert!((0.0..=20_000.0).contains(&mean), "{row:?}");
    }
    // 海淀区 holds 12 loans of one resident: one row per subject counts 1.
    let p = pending(&f.ws, "SELECT district, count(*) FROM loans GROUP BY district").await;
    assert_eq!(p.truths()[3], (vec!["海淀区".to_string()], 1));
    assert_eq!(p.truths()[0], (vec!["东城区".to_string()], 12));
}

#[tokio::test]
async fn dp_tables_answer_nothing_but_noisy_aggregates() {
    use shuyu_core::privacy::Mechanism;
    let f = fixture(dp(Mechanism::Laplace));
    for sql in [
        "SELECT district FROM residents",
        "SELECT age, count(*) FROM residents GROUP BY age",
        "SELECT district, max(income) FROM residents GROUP BY district",
        "SELECT district, sum(age) FROM residents GROUP BY district",
        "SELECT r.region, count(*) FROM residents p JOIN regions r ON p.district = r.district GROUP BY r.region",
        "SELECT count(*) * 2 FROM residents",
        "CREATE TABLE c AS SELECT district FROM residents",
    ] {
        let reason = refused(&f.ws, sql).await;
        assert!(!reason.is_empty(), "{sql}");
    }
}

// ---------------------------------------------------------------- differencing

fn earlier(id: &str, sql: &str) -> crate::differencing::Earlier {
    crate::differencing::Earlier { query: id.into(), sql: sql.into(), params: None }
}

#[tokio::test]
async fn a_query_that_leaves_out_one_resident_is_refused_naming_the_earlier_one() {
    let mut f = fixture(agg_only());
    let first = "SELECT count(*) FROM residents WHERE district = '东城区'";
    assert_eq!(run(&f.ws, first).await.0, vec![row(&["12"])]);
    f.ws.earlier = vec![earlier("q-first", first)];
    // 11 residents: enough on its own, but 12 − 11 is the one aged 23.
    let reason = refused(&f.ws, "SELECT count(*) FROM residents WHERE district = '东城区' AND age <> 23").await;
    assert!(reason.contains("q-first") && reason.contains("except 1"), "{reason}");
    // The same subjects, another measure: nothing to subtract.
    assert_eq!(run(&f.ws, "SELECT avg(income) FROM residents WHERE district = '东城区'").await.0.len(), 1);
    // Another district altogether differs by 25 subjects.
    assert_eq!(run(&f.ws, "SELECT count(*) FROM residents WHERE district = '朝阳区'").await.0.len(), 1);
    // Per-group: leaving out the three residents with an income of 1000 across districts.
    let grouped = "SELECT district, count(*) FROM residents GROUP BY district";
    f.ws.earlier = vec![earlier("q-grouped", grouped), earlier("q-first", first)];
    let reason =
        refused(&f.ws, "SELECT district, count(*) FROM residents WHERE income <> 1000 GROUP BY district").await;
    assert!(reason.contains("q-grouped") && reason.contains("except 3"), "{reason}");
    // Wrapping the second query changes nothing.
    let reason = refused(
        &f.ws,
        "SELECT * FROM (SELECT count(*) AS n FROM residents WHERE district = '东城区' AND income > 1000) t",
    )
    .await;
    assert!(reason.contains("q-first"), "{reason}");
}

#[tokio::test]
async fn differencing_is_refused_on_dp_grants_too() {
    use shuyu_core::privacy::Mechanism;
    let mut f = fixture(dp(Mechanism::Laplace));
    f.ws.earlier = vec![earlier("q-all", "SELECT count(*) FROM residents")];
    let reason = refused(&f.ws, "SELECT count(*) FROM residents WHERE age <> 23").await;
    assert!(reason.contains("q-all"), "{reason}");
    let _ = pending(&f.ws, "SELECT count(*) FROM residents WHERE district = '朝阳区'").await;
}

// ---------------------------------------------------------------- in-domain modelling

fn spec(
    name: &str,
    kind: crate::modelling::ModelKind,
    sql: &str,
    features: &[&str],
    target: Option<&str>,
) -> crate::modelling::TrainingSpec {
    crate::modelling::TrainingSpec {
        name: name.into(),
        kind,
        sql: sql.into(),
        features: features.iter().map(|f| f.to_string()).collect(),
        target: target.map(String::from),
        test_fraction: None,
        clusters: None,
        max_depth: None,
    }
}

#[tokio::test]
async fn models_train_score_in_sql_and_keep_their_parameters_in_the_domain() {
    use crate::modelling::ModelKind;
    let mut f = fixture(Privacy::Standard);
    // income = 1000·((age − 20)/3 + 1): a line the regression must find.
    let (m, _) =
        f.ws.train(
            &spec("income", ModelKind::LinearRegression, "SELECT age, income FROM residents", &["age"], Some("income")),
            &Limits::default(),
        )
        .await
        .unwrap();
    assert!(m.metrics["r2"] > 0.999, "{:?}", m.metrics);
    assert_eq!((m.rows_train + m.rows_test, m.level), (30, 2));
    let (rows, _) = run(&f.ws, "SELECT round(model_income(age)) FROM residents WHERE age = 29 LIMIT 1").await;
    assert_eq!(rows, vec![row(&["4000.0"])]);
    for (name, kind, features, target) in [
        ("near_centre", ModelKind::LogisticRegression, vec!["age", "income"], Some("central")),
        ("district_tree", ModelKind::DecisionTree, vec!["age", "income"], Some("district")),
        ("segments", ModelKind::KMeans, vec!["age", "income"], None),
    ] {
        let sql = "SELECT age, income, district, district = '东城区' AS central FROM residents";
        let (m, _) = f.ws.train(&spec(name, kind, sql, &features, target), &Limits::default()).await.unwrap();
        let key = if kind == ModelKind::KMeans { "test_inertia_per_row" } else { "accuracy" };
        assert!(m.metrics.get(key).is_some_and(|v| v.is_finite()), "{name}: {:?}", m.metrics);
        let (rows, _) = run(&f.ws, &format!("SELECT model_{name}(age, income) FROM residents")).await;
        assert_eq!(rows.len(), 30);
    }
    // The parameters are a scratch table: they leave only through the export checks and review.
    let grants: Vec<_> = f.ws.governed.iter().map(|g| (g.grant.clone(), false)).collect();
    let rules = crate::export::Rules { grants: &grants, sensitive_level: 3, max_rows: 1000, min_group_size: 10 };
    let check = |table: &str| {
        let (meta, batches) = crate::export::read_scratch(&f.ws.dir, table).unwrap();
        crate::export::check(&meta, &batches, None, &rules).into_iter().find(|c| c.check == "model_parameters").unwrap()
    };
    assert!(check("income_parameters").passed);
    // A model of level-3 data stays in the domain: its parameters fail the check.
    f.ws.run("CREATE TABLE graded AS SELECT age, income FROM residents", &Limits::default()).await.unwrap();
    let meta = crate::engine::read_meta(&crate::engine::scratch_dir(&f.ws.dir).join("graded")).unwrap();
    f.ws.grades = vec![crate::engine::Grade { table: "graded".into(), version: meta.version, level: 3 }];
    let (m, _) =
        f.ws.train(
            &spec("sensitive", ModelKind::LinearRegression, "SELECT age, income FROM graded", &["age"], Some("income")),
            &Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(m.level, 3);
    let c = check("sensitive_parameters");
    assert!(!c.passed && c.detail.contains("scoring interface"), "{c:?}");
    // A prediction carries the model's level: a table of predictions is level 3 too.
    let out =
        f.ws.run("CREATE TABLE scored AS SELECT model_sensitive(age) AS p FROM residents", &Limits::default())
            .await
            .unwrap();
    assert!(matches!(out.outcome, Outcome::Created { level: 3, .. }), "{:?}", out.outcome);
}

#[tokio::test]
async fn invisible_and_aggregation_only_data_are_never_features() {
    use crate::modelling::ModelKind;
    let f = fixture(Privacy::Standard);
    let err =
        f.ws.train(
            &spec(
                "ids",
                ModelKind::LinearRegression,
                "SELECT resident_id, income FROM residents",
                &["resident_id"],
                Some("income"),
            ),
            &Limits::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Refused { basis: "JS §13", .. }), "{err}");
    let f = fixture(agg_only());
    let err =
        f.ws.train(
            &spec("agg", ModelKind::LinearRegression, "SELECT age, income FROM residents", &["age"], Some("income")),
            &Limits::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Refused { basis: "SPEC §4.5", .. }), "{err}");
}

mod interfaces {
    use std::collections::BTreeMap;

    use shuyu_core::products::ParamValue;

    use super::*;
    use crate::interface::values;

    fn one(name: &str, v: ParamValue) -> datafusion::common::ParamValues {
        values(&BTreeMap::from([(name.to_string(), v)]))
    }

    async fn rows(ws: &Workspace, sql: &str, p: &datafusion::common::ParamValues) -> (Vec<Vec<String>>, Option<u64>) {
        let out = ws.run_bound(sql, p, &Limits::default()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let Outcome::Rows { batches, suppressed, .. } = out.outcome else { panic!("{sql}: not rows") };
        let mut all = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                all.push(b.columns().iter().map(|c| array_value_to_string(c, r).unwrap()).collect());
            }
        }
        (all, suppressed)
    }

    const BY_DISTRICT: &str = "SELECT district, COUNT(*) AS n FROM residents WHERE age >= $min_age GROUP BY district";

    #[tokio::test]
    async fn a_bound_interface_keeps_the_threshold() {
        let f = fixture(Privacy::AggregationOnly { k: Some(K) });
        let (r, suppressed) = rows(&f.ws, BY_DISTRICT, &one("min_age", ParamValue::Integer(0))).await;
        let mut r = r;
        r.sort();
        assert_eq!(r, vec![vec!["东城区".to_string(), "12".into()], vec!["朝阳区".into(), "13".into()]]);
        assert_eq!(suppressed, Some(1), "西城区 (5 residents) is below k");
        // A parameter that narrows the group below k suppresses it too.
        let (r, _) = rows(&f.ws, BY_DISTRICT, &one("min_age", ParamValue::Integer(50))).await;
        assert!(r.is_empty(), "{r:?}");
    }

    #[tokio::test]
    async fn a_parameter_is_a_value_never_sql() {
        let f = fixture(Privacy::Standard);
        let sql = "SELECT COUNT(*) AS n FROM residents WHERE district = $district";
        let (r, _) = rows(&f.ws, sql, &one("district", ParamValue::String("东城区".into()))).await;
        assert_eq!(r, vec![vec!["12".to_string()]]);
        let (r, _) = rows(&f.ws, sql, &one("district", ParamValue::String("x' OR '1'='1".into()))).await;
        assert_eq!(r, vec![vec!["0".to_string()]], "the injection attempt matched nothing");
        // The invisible key stays invisible through an interface.
        let e =
            f.ws.run_bound(
                "SELECT resident_id FROM residents WHERE district = $district",
                &one("district", ParamValue::String("东城区".into())),
                &Limits::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, SandboxError::Refused { .. }), "{e}");
        let e = f
            .ws
            .run_bound("DROP TABLE IF EXISTS x", &one("district", ParamValue::String("a".into())), &Limits::default())
            .await
            .unwrap_err();
        assert!(matches!(e, SandboxError::Refused { .. }), "{e}");
    }

    #[tokio::test]
    async fn prepare_reports_columns_and_level_without_running() {
        let f = fixture(Privacy::Standard);
        let p =
            f.ws.prepare(
                "SELECT district, AVG(income) AS income FROM residents WHERE age > $a GROUP BY district",
                &one("a", ParamValue::Integer(1)),
                &Limits::default(),
            )
            .await
            .unwrap();
        assert_eq!(p.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["district", "income"]);
        assert_eq!(p.level, 2);
        assert!(!p.private);
    }
}
