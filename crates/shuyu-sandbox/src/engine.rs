//! Governed SQL on DataFusion (SPEC §4.4): one session per query holding only what the
//! workspace may read — its governed tables, its scratch tables, its approved uploads — with
//! the profile's limits. The statement is planned, its kind checked (queries, and `CREATE TABLE
//! … AS SELECT` / `DROP TABLE` on scratch tables; nothing else), its lineage checked, and the
//! checked plan is what runs.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{Column, DFSchema, ParamValues};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::TableProvider;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionStateBuilder, TaskContext};
use datafusion::logical_expr::{DdlStatement, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use shuyu_core::grants::{is_identifier, GrantedTable};
use shuyu_core::privacy::{Epsilon, Privacy};

use crate::aggregation::{self, KeptTag, SubjectTables, SubjectTag, Subjects, TAG_PREFIX};
use crate::differencing::{self, Earlier};
use crate::distributed::{self, Cluster};
use crate::dp;
use crate::error::{Result, SandboxError};
use crate::governed::{GovernedTable, VisiblePart};
use crate::lineage::{self, ColumnLineage, TableLineage};
use crate::modelling::{self, Model, ModelUdf, TrainingSpec, MAX_TRAINING_ROWS};
use crate::row_filter;

/// What [`Workspace::prepare`] learns of a parameterised query.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Output columns with their Arrow types.
    pub columns: Vec<(String, String)>,
    pub level: u8,
    pub touched: BTreeSet<String>,
    /// Answered under differential privacy.
    pub private: bool,
}

/// Binds a parameterised query's values. A statement that is not a query cannot take them, and
/// a placeholder left unbound is an error before anything runs.
fn bind(plan: LogicalPlan, params: Option<&ParamValues>) -> Result<LogicalPlan> {
    let Some(params) = params else { return Ok(plan) };
    if matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Extension(_)
    ) {
        return Err(not_allowed("anything but a query in an interface"));
    }
    Ok(plan.with_param_values(params.clone())?)
}

/// A granted catalogue entry and where its stored dataset version lives.
#[derive(Debug, Clone)]
pub struct GovernedSource {
    pub grant: GrantedTable,
    pub location: DatasetLocation,
}

impl GovernedSource {
    /// A source whose files are in a directory on this machine.
    pub fn local(grant: GrantedTable, dir: PathBuf) -> Self {
        GovernedSource { grant, location: DatasetLocation::Dir(dir) }
    }
}

/// Where a stored dataset version's Parquet files are.
#[derive(Debug, Clone)]
pub enum DatasetLocation {
    /// A directory on this machine (or a volume every node mounts at the same path).
    Dir(PathBuf),
    /// A prefix in object storage (S3-compatible), read through the store.
    Objects(ObjectDataset),
}

/// A dataset version in object storage: `url` names its directory (`s3://bucket/…/v3/`).
#[derive(Clone)]
pub struct ObjectDataset {
    pub url: String,
    pub store: Arc<dyn datafusion::object_store::ObjectStore>,
}

impl std::fmt::Debug for ObjectDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl DatasetLocation {
    /// Names the version for the caches of schemas and proofs; versions never change once written.
    fn id(&self) -> String {
        match self {
            DatasetLocation::Dir(d) => d.display().to_string(),
            DatasetLocation::Objects(o) => o.url.clone(),
        }
    }
}

/// What a scratch table or an upload records beside its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableMeta {
    pub columns: Vec<(String, ColumnLineage)>,
    /// Highest level of anything it was computed from (就高从严); a reviewer may re-grade.
    pub level: u8,
    pub rows: u64,
    /// Changes whenever the table is written, so that a grading made for one version does not
    /// carry over to a replacement computed from other data.
    #[serde(default)]
    pub version: String,
    /// Hidden subject columns, stored after the visible ones: the table holds rows of an
    /// aggregation-only grant not yet aggregated, and stays aggregation-only.
    #[serde(default)]
    pub subjects: Vec<SubjectTag>,
    /// Set on a model's parameters table: the model it describes.
    #[serde(default)]
    pub model: Option<String>,
}

impl TableMeta {
    /// Whether `version` names this write of the table; tables written before versions existed
    /// match none, so no grading applies to them.
    pub fn is_version(&self, version: &str) -> bool {
        !self.version.is_empty() && self.version == version
    }

    /// A column's level as queries see it: the reviewer's grade if the table was re-graded,
    /// else the highest of its own lineage and the table's (就高从严).
    pub fn column_level(&self, lineage: &ColumnLineage, grade: Option<u8>) -> u8 {
        grade.unwrap_or(lineage.level.max(self.level))
    }
}

/// A reviewer's level for one version of a scratch table (derived data graded again, GB/T 43697
/// annex I); it replaces the computed level of every column.
#[derive(Debug, Clone)]
pub struct Grade {
    pub table: String,
    pub version: String,
    pub level: u8,
}

/// The profile's limits for one query.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: usize,
    /// Rows returned for display; the query still runs to completion of what it shows.
    pub display_rows: usize,
    pub partitions: usize,
    /// The most ε a query on a differential-privacy grant may spend (at most the grant's
    /// per-query cost); `None` spends that cost.
    pub epsilon: Option<Epsilon>,
    /// The profile's minimum group size: what the differencing defence uses on
    /// differential-privacy tables, which have no k of their own.
    pub min_group_size: u64,
}

impl Limits {
    /// No time, memory or display limit to speak of: for benchmarks and batch jobs.
    pub fn unbounded(partitions: usize) -> Self {
        Limits {
            timeout: Duration::from_secs(3600),
            memory_bytes: 16 << 30,
            display_rows: usize::MAX,
            partitions,
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60),
            memory_bytes: 2 << 30,
            display_rows: 1000,
            partitions: 2,
            epsilon: None,
            min_group_size: 10,
        }
    }
}

/// CPU and I/O a query used, for cost accounting (WX §16, CS §15).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metering {
    pub cpu_ms: u64,
    pub bytes_scanned: u64,
    pub elapsed_ms: u64,
}

#[derive(Debug)]
pub enum Outcome {
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        rows: usize,
        truncated: bool,
        lineage: Vec<ColumnLineage>,
        /// Groups dropped for covering fewer than k subjects, when an aggregation-only table was read.
        suppressed: Option<u64>,
    },
    Created {
        table: String,
        rows: u64,
        level: u8,
    },
    Dropped {
        table: String,
    },
    /// A differentially private answer, released only after its cost is spent.
    Private(Box<dp::Pending>),
}

#[derive(Debug)]
pub struct QueryOutput {
    pub outcome: Outcome,
    pub touched: BTreeSet<String>,
    /// Highest sensitivity level of what the statement read (0 when it read nothing); the
    /// monitoring rules for sensitive data use it.
    pub level: u8,
    pub metering: Metering,
}

/// One workspace's readable data.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub key: [u8; 32],
    pub governed: Vec<GovernedSource>,
    /// `scratch/` and `uploads/` live here.
    pub dir: PathBuf,
    /// Approved operator uploads by table name (WX §16.3); others in `uploads/` are not read.
    pub approved_uploads: Vec<String>,
    /// Set when the workspace or a grant is sealed: queries stop (WX §19).
    pub sealed: bool,
    /// Reviewers' gradings of scratch tables, oldest first.
    pub grades: Vec<Grade>,
    /// The workspace's recent answered queries, newest first, for the differencing defence.
    pub earlier: Vec<Earlier>,
    /// Where checked plans run: a Ballista cluster, or this process when `None`.
    pub cluster: Option<Cluster>,
}

const DATA_FILE: &str = "data.parquet";
const META_FILE: &str = "meta.json";

pub fn scratch_dir(dir: &Path) -> PathBuf {
    dir.join("scratch")
}

pub fn uploads_dir(dir: &Path) -> PathBuf {
    dir.join("uploads")
}

/// Reads a stored table's metadata.
pub fn read_meta(table_dir: &Path) -> Result<TableMeta> {
    let text = std::fs::read_to_string(table_dir.join(META_FILE))?;
    serde_json::from_str(&text).map_err(|e| SandboxError::Engine(format!("table metadata: {e}")))
}

/// Writes a table's metadata next to its data.
pub fn write_meta(table_dir: &Path, meta: &TableMeta) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta).map_err(|e| SandboxError::Engine(e.to_string()))?;
    std::fs::write(table_dir.join(META_FILE), json)?;
    Ok(())
}

/// What a table written to a workspace was derived from: recorded in its metadata.
#[derive(Debug, Default)]
pub struct Derivation {
    /// The lineage of each visible column, in order.
    pub columns: Vec<ColumnLineage>,
    pub level: u8,
    pub subjects: Vec<SubjectTag>,
    pub model: Option<String>,
}

/// Writes a table (data and metadata) into `dir/name`, replacing it atomically.
pub async fn write_table(
    parent: &Path,
    name: &str,
    schema: SchemaRef,
    mut stream: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
    from: Derivation,
) -> Result<u64> {
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let file = std::fs::File::create(tmp.join(DATA_FILE))?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut writer =
        ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| SandboxError::Engine(e.to_string()))?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(|e| SandboxError::Engine(e.to_string()))?;
    }
    writer.close().map_err(|e| SandboxError::Engine(e.to_string()))?;
    let meta = TableMeta {
        columns: schema.fields().iter().map(|f| f.name().clone()).zip(from.columns).collect(),
        level: from.level,
        rows,
        version: uuid::Uuid::new_v4().simple().to_string(),
        subjects: from.subjects,
        model: from.model,
    };
    write_meta(&tmp, &meta)?;
    let dest = parent.join(name);
    if dest.exists() {
        std::fs::remove_dir_all(&dest)?;
    }
    std::fs::rename(&tmp, &dest)?;
    Ok(rows)
}

/// What one query's session holds.
struct Context {
    ctx: SessionContext,
    lineage: TableLineage,
    /// Tables of aggregation-only and differential-privacy grants, and scratch tables of their rows.
    subjects: SubjectTables,
    /// Tables of differential-privacy grants: answered only by [`crate::dp`].
    private: HashMap<String, dp::PrivateTable>,
}

/// The first differential-privacy table the plan reads, anywhere (subqueries included), even
/// when no column of it is named (`COUNT(*)`).
fn reads_private(plan: &LogicalPlan, private: &HashMap<String, dp::PrivateTable>) -> Result<Option<String>> {
    let mut found = None;
    plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(scan) = p {
            if private.contains_key(scan.table_name.table()) {
                found = Some(scan.table_name.table().to_string());
                return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    Ok(found)
}

/// Differential-privacy tables answer only noisy aggregates, never tables of their rows.
fn refuse_private(plan: &LogicalPlan, private: &HashMap<String, dp::PrivateTable>) -> Result<()> {
    match reads_private(plan, private)? {
        None => Ok(()),
        Some(t) => Err(SandboxError::refused_with(
            format!("{t} is under differential privacy: it answers only noisy aggregates, not tables of its rows"),
            None,
            "SPEC §4.5",
        )),
    }
}

/// The plan of a scratch table that keeps rows not yet aggregated: the visible columns, then
/// the tags under stored names.
fn store_tags(plan: LogicalPlan, kept: &[KeptTag]) -> Result<(LogicalPlan, Vec<SubjectTag>)> {
    if kept.is_empty() {
        return Ok((plan, Vec::new()));
    }
    let schema = plan.schema().clone();
    let mut exprs = Vec::new();
    for i in 0..schema.fields().len() {
        if !kept.iter().any(|t| t.at == i) {
            exprs.push(Expr::Column(Column::from(schema.qualified_field(i))));
        }
    }
    let mut tags = Vec::new();
    for (n, t) in kept.iter().enumerate() {
        let name = format!("{TAG_PREFIX}_{n}");
        exprs.push(Expr::Column(Column::from(schema.qualified_field(t.at))).alias(&name));
        tags.push(SubjectTag { name, k: t.k, unique: false, space: t.space.clone() });
    }
    Ok((LogicalPlanBuilder::from(plan).project(exprs)?.build()?, tags))
}

fn not_allowed(what: &str) -> SandboxError {
    SandboxError::refused_with(
        format!("{what} is not allowed in a workspace: raw data stays in the domain and leaves only through a reviewed export"),
        None,
        "WX §16",
    )
}

/// Stored dataset versions never change once written (a new load is a new directory), so their
/// table providers — schema read from the Parquet footers once — are shared across queries.
fn dataset_cache() -> &'static std::sync::Mutex<std::collections::HashMap<String, Arc<dyn TableProvider>>> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, Arc<dyn TableProvider>>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

async fn stored_dataset(ctx: &SessionContext, location: &DatasetLocation) -> Result<Arc<dyn TableProvider>> {
    let url = match location {
        DatasetLocation::Dir(dir) => ListingTableUrl::parse(format!("{}/", dir.display()))?,
        DatasetLocation::Objects(o) => {
            // Each query's session has its own runtime: the store is registered in every one.
            let url = ListingTableUrl::parse(&o.url)?;
            ctx.runtime_env().register_object_store(url.object_store().as_ref(), o.store.clone());
            url
        }
    };
    let id = location.id();
    if let Some(hit) = dataset_cache().lock().ok().and_then(|c| c.get(&id).cloned()) {
        return Ok(hit);
    }
    let provider = listing_url(ctx, url).await?;
    if let Ok(mut c) = dataset_cache().lock() {
        // Bounded: a long-running server sees few distinct dataset versions, but never grow without end.
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(id, provider.clone());
    }
    Ok(provider)
}

async fn listing(ctx: &SessionContext, dir: &Path) -> Result<Arc<dyn TableProvider>> {
    listing_url(ctx, ListingTableUrl::parse(format!("{}/", dir.display()))?).await
}

async fn listing_url(ctx: &SessionContext, url: ListingTableUrl) -> Result<Arc<dyn TableProvider>> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(url).with_listing_options(options).infer_schema(&ctx.state()).await?;
    Ok(Arc::new(ListingTable::try_new(config)?))
}

fn sum_metrics(plan: &Arc<dyn ExecutionPlan>, m: &mut Metering) {
    if let Some(set) = plan.metrics() {
        m.cpu_ms += set.elapsed_compute().unwrap_or(0) as u64 / 1_000_000;
        m.bytes_scanned += set.sum_by_name("bytes_scanned").map(|v| v.as_usize() as u64).unwrap_or(0);
    }
    for child in plan.children() {
        sum_metrics(child, m);
    }
}

/// The tables stored under `sub` (each a directory with a data file), by name.
fn table_names(sub: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(sub) else { return Vec::new() };
    let mut names: Vec<String> = read
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(DATA_FILE).exists())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| is_identifier(n))
        .collect();
    names.sort();
    names
}

/// The scratch tables of the workspace whose directory is `dir`, by name.
pub fn scratch_tables(dir: &Path) -> Vec<String> {
    table_names(&scratch_dir(dir))
}

impl Workspace {
    /// The scratch tables, by name.
    pub fn scratch_tables(&self) -> Vec<String> {
        scratch_tables(&self.dir)
    }

    /// The reviewer's level in force for this version of a table, if it was re-graded: the last
    /// grading made for it (a rewritten table has a new version).
    pub fn grade_of(&self, table: &str, meta: &TableMeta) -> Option<u8> {
        self.grades.iter().rev().find(|g| g.table == table && meta.is_version(&g.version)).map(|g| g.level)
    }

    async fn context(&self, limits: &Limits) -> Result<Context> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            // No spill files: raw data would reach disk outside the workspace.
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            .build_arc()?;
        let config =
            SessionConfig::new().with_information_schema(false).with_target_partitions(limits.partitions.max(1));
        let state =
            SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
        let ctx = SessionContext::new_with_state(state);
        let mut lineage = TableLineage::new();
        let mut subjects = SubjectTables::new();
        let mut private = HashMap::new();
        for g in &self.governed {
            let raw = stored_dataset(&ctx, &g.location).await?;
            // Only local files' footers are read for the proof; elsewhere the filter always runs.
            let proved = |sql: &str| match &g.location {
                DatasetLocation::Dir(dir) => row_filter::holds_everywhere(dir, sql),
                DatasetLocation::Objects(_) => false,
            };
            let filter = match &g.grant.row_filter {
                Some(sql) if !proved(sql) => {
                    let schema = DFSchema::try_from(raw.schema().as_ref().clone())?;
                    Some(ctx.state().create_logical_expr(sql, &schema)?)
                }
                _ => None,
            };
            let name = g.grant.table.as_str();
            if !g.grant.privacy.reads_rows() {
                let Some(key) = &g.grant.subject_key else {
                    return Err(SandboxError::refused_with(
                        format!("{name} has no subject key, so its groups cannot be counted: ask the authority to fix the grant"),
                        None,
                        "SPEC §4.5",
                    ));
                };
                let tag = format!("{TAG_PREFIX}_{name}");
                let unique = aggregation::subject_unique(&ctx, raw.clone(), &g.location.id(), key).await?;
                let tagged = GovernedTable::new(raw.clone(), &g.grant, self.key, filter.clone(), Some((key, &tag)))?;
                match &g.grant.privacy {
                    Privacy::DifferentialPrivacy(dp) => {
                        let k = limits.min_group_size.max(2);
                        let tags = vec![SubjectTag { name: tag, k, unique, space: name.to_string() }];
                        let table = dp::PrivateTable {
                            subjects: Subjects { tagged: Arc::new(tagged), tags },
                            settings: dp.clone(),
                            subject_key: key.clone(),
                        };
                        private.insert(name.to_string(), table);
                    }
                    Privacy::AggregationOnly { k } => {
                        let k = u64::from(k.unwrap_or(2).max(2));
                        let tags = vec![SubjectTag { name: tag, k, unique, space: name.to_string() }];
                        subjects.insert(name.to_string(), Subjects { tagged: Arc::new(tagged), tags });
                    }
                    Privacy::Standard => {}
                }
            }
            let table = GovernedTable::new(raw, &g.grant, self.key, filter, None)?;
            ctx.register_table(name, Arc::new(table))?;
            lineage.insert(g.grant.table.clone(), GovernedTable::lineage(&g.grant));
        }
        let uploads = uploads_dir(&self.dir);
        let approved: Vec<String> =
            table_names(&uploads).into_iter().filter(|n| self.approved_uploads.contains(n)).collect();
        for (sub, names) in [(scratch_dir(&self.dir), self.scratch_tables()), (uploads, approved)] {
            for name in names {
                if lineage.contains_key(&name) {
                    continue;
                }
                let dir = sub.join(&name);
                let meta = read_meta(&dir)?;
                let stored = listing(&ctx, &dir).await?;
                if meta.subjects.is_empty() {
                    ctx.register_table(name.as_str(), stored)?;
                } else {
                    // Rows not yet aggregated: queries see the visible columns, the rewrite the tags.
                    let visible = stored.schema().fields().len().saturating_sub(meta.subjects.len());
                    ctx.register_table(name.as_str(), Arc::new(VisiblePart::new(stored.clone(), visible)))?;
                    subjects.insert(name.clone(), Subjects { tagged: stored, tags: meta.subjects.clone() });
                }
                // A derived table's columns all carry its level until a reviewer re-grades it.
                let graded = self.grade_of(&name, &meta);
                let cols = meta
                    .columns
                    .iter()
                    .map(|(_, l)| ColumnLineage { level: meta.column_level(l, graded), ..l.clone() })
                    .collect();
                lineage.insert(name, cols);
            }
        }
        // Models score in SQL as `model_<name>(…)`; their level follows their predictions.
        for m in modelling::list(&self.dir) {
            let l = ColumnLineage { level: m.level, sources: m.sources.clone(), ..Default::default() };
            lineage.insert(format!("{}{}", lineage::MODEL_PREFIX, m.function_name()), vec![l]);
            ctx.register_udf(ModelUdf::udf(m));
        }
        Ok(Context { ctx, lineage, subjects, private })
    }

    /// The tables a statement here can name, each with its columns exactly as queries see them
    /// (masked columns with their masked values' type, hidden columns absent): what a client's
    /// catalogue browser shows. Schemas only; no row is read.
    pub async fn tables(&self, limits: &Limits) -> Result<Vec<(String, SchemaRef)>> {
        let c = self.context(limits).await?;
        let mut names: Vec<&String> = c.lineage.keys().collect();
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            // Lineage also names model functions; only registered tables are listed.
            if !c.ctx.table_exist(name.as_str())? {
                continue;
            }
            let provider = c.ctx.table_provider(name.as_str()).await?;
            out.push((name.clone(), provider.schema()));
        }
        Ok(out)
    }

    /// Trains a model on the rows of a governed query and stores it with its parameters table
    /// (`<name>_parameters`), which is how the parameters may leave: through an export review.
    /// Returns the model and what its training set touched.
    pub async fn train(&self, spec: &TrainingSpec, limits: &Limits) -> Result<(Model, BTreeSet<String>)> {
        modelling::check_spec(spec)?;
        let limits = Limits { display_rows: MAX_TRAINING_ROWS + 1, ..limits.clone() };
        let out = self.run(&spec.sql, &limits).await?;
        let Outcome::Rows { schema, batches, truncated, lineage, .. } = out.outcome else {
            return Err(SandboxError::Invalid("the training set must be a query (SELECT …)".into()));
        };
        if truncated {
            return Err(SandboxError::Limit(format!(
                "the training set has more than {MAX_TRAINING_ROWS} rows: sample it in the query"
            )));
        }
        let named: Vec<(String, ColumnLineage)> =
            schema.fields().iter().map(|f| f.name().clone()).zip(lineage).collect();
        let spec2 = spec.clone();
        let model = tokio::task::spawn_blocking(move || modelling::train(&spec2, &batches, &named))
            .await
            .map_err(|_| SandboxError::Engine("the training task failed".into()))??;
        model.save(&self.dir)?;
        let params = model.parameters()?;
        let from = Derivation {
            columns: (0..params.num_columns())
                .map(|_| ColumnLineage { level: model.level, sources: model.sources.clone(), ..Default::default() })
                .collect(),
            level: model.level,
            subjects: Vec::new(),
            // Marked in the same write: the export check that keeps level 3+ parameters in
            // the domain must never see the table without it.
            model: Some(model.name.clone()),
        };
        let (name, schema) = (format!("{}_parameters", model.name), params.schema());
        write_table(&scratch_dir(&self.dir), &name, schema, futures::stream::iter(vec![Ok(params)]), from).await?;
        Ok((model, out.touched))
    }

    /// The physical plan of a checked plan, and the context to run it in: on the cluster when
    /// one is configured and the plan may go there (see [`distributed`]), else here.
    async fn physical(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        may_distribute: bool,
    ) -> Result<(Arc<dyn ExecutionPlan>, Arc<TaskContext>)> {
        // Executors are given no object-storage credentials: datasets there are read here.
        let local = self.governed.iter().all(|g| matches!(g.location, DatasetLocation::Dir(_)));
        match &self.cluster {
            Some(cluster) if may_distribute && local && distributed::distributable(&plan)? => {
                distributed::physical_plan(cluster, ctx, plan).await
            }
            _ => Ok((ctx.execute_logical_plan(plan).await?.create_physical_plan().await?, ctx.task_ctx())),
        }
    }

    /// A statement planned against this workspace's tables, and the session it was planned in.
    #[cfg(test)]
    pub(crate) async fn planned(&self, sql: &str) -> Result<(SessionContext, LogicalPlan)> {
        let c = self.context(&Limits::default()).await?;
        let plan = c.ctx.state().create_logical_plan(sql).await?;
        Ok((c.ctx, plan))
    }

    /// Runs one statement under the limits.
    pub async fn run(&self, sql: &str, limits: &Limits) -> Result<QueryOutput> {
        self.run_with(sql, None, limits).await
    }

    /// Runs an approved parameterised query (a generated interface): the values are bound to
    /// the plan's `$name` placeholders as typed literals, then the query is governed like any
    /// other. Only queries are accepted.
    pub async fn run_bound(&self, sql: &str, params: &ParamValues, limits: &Limits) -> Result<QueryOutput> {
        self.run_with(sql, Some(params), limits).await
    }

    /// Plans and checks a parameterised query without running it: its output columns and their
    /// types, the level of what it reads (for the derived grade) and the columns it touches.
    pub async fn prepare(&self, sql: &str, params: &ParamValues, limits: &Limits) -> Result<Prepared> {
        let Context { ctx, lineage: tables, subjects, private } = self.context(limits).await?;
        let plan = bind(ctx.state().create_logical_plan(sql).await?, Some(params))?;
        let checked = lineage::check(&plan, &tables)?;
        let private = reads_private(&plan, &private)?.is_some();
        if !private && !subjects.is_empty() {
            aggregation::rewrite(plan.clone(), &subjects, false)?;
        }
        let columns = plan.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().to_string())).collect();
        Ok(Prepared { columns, level: checked.level, touched: checked.touched, private })
    }

    async fn run_with(&self, sql: &str, params: Option<&ParamValues>, limits: &Limits) -> Result<QueryOutput> {
        if self.sealed {
            return Err(SandboxError::refused_with(
                "the workspace is sealed: queries are stopped until the authority unseals it",
                None,
                "WX §19",
            ));
        }
        let started = Instant::now();
        let work = self.run_inner(sql, params, limits);
        let mut out = match tokio::time::timeout(limits.timeout, work).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(SandboxError::Limit(format!(
                    "the query ran longer than {} s and was stopped",
                    limits.timeout.as_secs()
                )))
            }
        };
        out.metering.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(out)
    }

    async fn run_inner(&self, sql: &str, params: Option<&ParamValues>, limits: &Limits) -> Result<QueryOutput> {
        let Context { ctx, lineage: tables, subjects, private } = self.context(limits).await?;
        // Every table whose subjects are counted, for the differencing defence.
        let mut counted = subjects.clone();
        counted.extend(private.iter().map(|(n, p)| (n.clone(), p.subjects.clone())));
        let plan = bind(ctx.state().create_logical_plan(sql).await?, params)?;
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(c)) => {
                let name = c.name.table().to_string();
                if !is_identifier(&name) || c.name.schema().is_some() {
                    return Err(SandboxError::Invalid(format!(
                        "scratch table name {name:?}: use lower-case letters, digits and _"
                    )));
                }
                let governed: HashSet<&str> = self.governed.iter().map(|g| g.grant.table.as_str()).collect();
                if governed.contains(name.as_str()) || self.approved_uploads.contains(&name) {
                    return Err(not_allowed("writing to a governed table or an upload"));
                }
                let exists = self.scratch_tables().contains(&name);
                if exists && c.if_not_exists {
                    return Ok(QueryOutput {
                        outcome: Outcome::Created { table: name, rows: 0, level: 0 },
                        touched: BTreeSet::new(),
                        level: 0,
                        metering: Metering::default(),
                    });
                }
                if exists && !c.or_replace {
                    return Err(SandboxError::Invalid(format!("scratch table {name} exists: use CREATE OR REPLACE")));
                }
                let checked = lineage::check_keeping_invisible(&c.input, &tables)?;
                refuse_private(&c.input, &private)?;
                if !counted.is_empty() {
                    differencing::check(&ctx, &c.input, &self.earlier, &counted).await?;
                }
                let (input, tags) = if subjects.is_empty() {
                    (c.input.as_ref().clone(), Vec::new())
                } else {
                    let r = aggregation::rewrite(c.input.as_ref().clone(), &subjects, true)?;
                    store_tags(r.plan, &r.kept)?
                };
                let (physical, task) = self.physical(&ctx, input, subjects.is_empty()).await?;
                let schema = physical.schema();
                let stream = execute_stream(physical.clone(), task)?.map(|b| b.map_err(SandboxError::from));
                let from = Derivation { columns: checked.output, level: checked.level, subjects: tags, model: None };
                let rows = write_table(&scratch_dir(&self.dir), &name, schema, stream, from).await?;
                let mut metering = Metering::default();
                sum_metrics(&physical, &mut metering);
                Ok(QueryOutput {
                    outcome: Outcome::Created { table: name, rows, level: checked.level },
                    level: checked.level,
                    touched: checked.touched,
                    metering,
                })
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(d)) => {
                let name = d.name.table().to_string();
                if !self.scratch_tables().contains(&name) {
                    if d.if_exists {
                        return Ok(QueryOutput {
                            outcome: Outcome::Dropped { table: name },
                            touched: BTreeSet::new(),
                            level: 0,
                            metering: Metering::default(),
                        });
                    }
                    return Err(SandboxError::NotFound(format!("no scratch table named {name}")));
                }
                std::fs::remove_dir_all(scratch_dir(&self.dir).join(&name))?;
                Ok(QueryOutput {
                    outcome: Outcome::Dropped { table: name },
                    touched: BTreeSet::new(),
                    level: 0,
                    metering: Metering::default(),
                })
            }
            LogicalPlan::Ddl(d) => Err(not_allowed(d.name())),
            LogicalPlan::Dml(_) => Err(not_allowed("writing to a table")),
            LogicalPlan::Copy(_) => Err(not_allowed("COPY")),
            LogicalPlan::Statement(_) => Err(not_allowed("changing settings or transactions")),
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) => Err(not_allowed("EXPLAIN")),
            LogicalPlan::DescribeTable(_) => Err(not_allowed("DESCRIBE")),
            LogicalPlan::Extension(_) => Err(not_allowed("this statement")),
            query => {
                let checked = lineage::check(&query, &tables)?;
                if !counted.is_empty() {
                    differencing::check(&ctx, &query, &self.earlier, &counted).await?;
                }
                if reads_private(&query, &private)?.is_some() {
                    let pending = dp::answer(&ctx, &query, &private, limits.epsilon).await?;
                    return Ok(QueryOutput {
                        outcome: Outcome::Private(Box::new(pending)),
                        level: checked.level,
                        touched: checked.touched,
                        metering: Metering::default(),
                    });
                }
                let (query, suppressed) = if subjects.is_empty() {
                    (query, None)
                } else {
                    let r = aggregation::rewrite(query, &subjects, false)?;
                    let counter = r.thresholded.then_some(r.suppressed);
                    (r.plan, counter)
                };
                let (physical, task) = self.physical(&ctx, query, subjects.is_empty()).await?;
                let schema = physical.schema();
                let mut stream = execute_stream(physical.clone(), task)?;
                let mut batches = Vec::new();
                let mut rows = 0usize;
                let mut truncated = false;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    let room = limits.display_rows.saturating_sub(rows);
                    if batch.num_rows() > room {
                        batches.push(batch.slice(0, room));
                        rows += room;
                        truncated = true;
                        break;
                    }
                    rows += batch.num_rows();
                    batches.push(batch);
                }
                drop(stream);
                let mut metering = Metering::default();
                sum_metrics(&physical, &mut metering);
                let suppressed = suppressed.map(|c| c.load(std::sync::atomic::Ordering::Relaxed));
                Ok(QueryOutput {
                    outcome: Outcome::Rows { schema, batches, rows, truncated, lineage: checked.output, suppressed },
                    level: checked.level,
                    touched: checked.touched,
                    metering,
                })
            }
        }
    }
}
