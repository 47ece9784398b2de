//! Aggregation-only grants (SPEC §4.5, the analysis-rule model of commercial clean rooms):
//! a query on such a grant's tables must aggregate, and every group it returns must cover at
//! least k distinct subjects, counted on the grant's subject key even where the query never
//! names it.
//!
//! Enforced by rewriting the checked logical plan, not by inspecting the SQL text:
//! - every scan of such a table also reads its subject key as a hidden column (a *tag*), which
//!   SQL cannot name: it is not in the table's schema as the query sees it;
//! - projections, aliases, filters, sorts, limits, windows and joins carry the tags up; unions
//!   line them up branch by branch;
//! - every aggregate over tagged rows (and every `DISTINCT`, which is one) counts the distinct
//!   subjects of each group and keeps a group only if each tagged table contributes at least
//!   k of them; the tags end there, so aggregated results are free to use further up;
//! - a result that still carries tags at the top did not aggregate, and is refused; so is a
//!   subquery in an expression (`IN`, `EXISTS`, scalar) that returns tagged rows, because using
//!   rows of the table as a filter would test one person's membership.
//!
//! Only aggregates that blend a group's values are allowed on tagged rows (COUNT, SUM, AVG,
//! variance and standard deviation): MIN, MAX, MEDIAN and the like return one person's value
//! whatever the group's size.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{exec_err, Column, Result as DfResult, TableReference};
use datafusion::datasource::{provider_as_source, TableProvider};
use datafusion::functions_aggregate::count::{count, count_distinct};
use datafusion::logical_expr::expr::{AggregateFunction, Exists, InSubquery};
use datafusion::logical_expr::logical_plan::{Aggregate, Distinct, Filter, Projection, SubqueryAlias, Union};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    cast, lit, ColumnarValue, Expr, JoinType, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use crate::error::{Result, SandboxError};

const BASIS: &str = "SPEC §4.5";

/// Aggregates that blend a group's values; anything else may return one subject's own value.
const BLENDING: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "var",
    "var_pop",
    "var_samp",
    "var_population",
    "var_sample",
    "variance",
    "variance_pop",
    "variance_samp",
];

/// The prefix of hidden subject columns; a user-chosen name with it is refused.
pub const TAG_PREFIX: &str = "__subject";

/// One hidden subject column of a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubjectTag {
    /// The column's name in the tagged table.
    pub name: String,
    pub k: u64,
    /// Every row is a different subject and none is empty (checked on the stored data), so a
    /// group's subjects are its rows.
    #[serde(default)]
    pub unique: bool,
    /// The governed table whose subjects these are: tags of one space count the same people.
    #[serde(default)]
    pub space: String,
}

/// A table whose rows belong to subjects and may leave only aggregated.
#[derive(Debug, Clone)]
pub struct Subjects {
    /// The table as the rewrite reads it: the visible columns, then the tags.
    pub tagged: Arc<dyn TableProvider>,
    pub tags: Vec<SubjectTag>,
}

/// Aggregation-only tables of a workspace, by the name queries use.
pub type SubjectTables = HashMap<String, Subjects>;

#[derive(Debug, Clone)]
struct Tag {
    col: Column,
    k: u64,
    unique: bool,
    space: String,
}

/// A tag left in a rewritten plan's output.
#[derive(Debug, Clone)]
pub struct KeptTag {
    /// Position in the plan's schema.
    pub at: usize,
    pub k: u64,
    pub space: String,
}

/// The subjects that entered the thresholded aggregates of a query, one subject space at a
/// time: a plan of one column, `s`.
#[derive(Debug, Clone)]
pub struct Population {
    pub space: String,
    pub k: u64,
    pub plan: LogicalPlan,
}

/// A plan rewritten to enforce the thresholds.
#[derive(Debug)]
pub struct Rewritten {
    pub plan: LogicalPlan,
    /// Tags still in the output (by position in the plan's schema, with their k), when the
    /// caller asked to keep them: a scratch table computed from rows not yet aggregated.
    pub kept: Vec<KeptTag>,
    /// Whether any aggregate was thresholded.
    pub thresholded: bool,
    /// Groups dropped for covering fewer than k subjects, counted as the plan runs.
    pub suppressed: Arc<AtomicU64>,
}

/// Rewrites `plan`. With `keep_tags`, rows that were not aggregated keep their tags instead of
/// being refused (for `CREATE TABLE … AS`, whose table stays aggregation-only).
pub fn rewrite(plan: LogicalPlan, tables: &SubjectTables, keep_tags: bool) -> Result<Rewritten> {
    let mut r = Rewriter::new(tables);
    let (plan, tags) = r.plan(plan)?;
    if !tags.is_empty() && !keep_tags {
        return Err(not_aggregated(&tags));
    }
    let kept = tags
        .iter()
        .map(|t| {
            let at = plan.schema().index_of_column(&t.col)?;
            Ok(KeptTag { at, k: t.k, space: t.space.clone() })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Rewritten { plan, kept, thresholded: r.thresholded, suppressed: r.suppressed })
}

/// The populations of a query's thresholded aggregates (for the differencing defence).
pub fn populations(plan: LogicalPlan, tables: &SubjectTables) -> Result<Vec<Population>> {
    let mut r = Rewriter::new(tables);
    r.plan(plan)?;
    Ok(r.populations)
}

fn tables_of(tags: &[Tag]) -> String {
    let mut names: Vec<String> = tags
        .iter()
        .map(|t| t.col.relation.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "the tables".into()))
        .collect();
    names.sort();
    names.dedup();
    names.join(", ")
}

fn not_aggregated(tags: &[Tag]) -> SandboxError {
    SandboxError::refused_with(
        format!(
            "{} allow aggregates only: group the rows (GROUP BY … with COUNT, SUM or AVG); every group must cover \
             enough distinct subjects",
            tables_of(tags)
        ),
        None,
        BASIS,
    )
}

struct Rewriter<'a> {
    tables: &'a SubjectTables,
    suppressed: Arc<AtomicU64>,
    next: usize,
    thresholded: bool,
    populations: Vec<Population>,
}

fn requalify(tags: Vec<Tag>, alias: &TableReference) -> Vec<Tag> {
    tags.into_iter().map(|t| Tag { col: Column::new(Some(alias.clone()), t.col.name), ..t }).collect()
}

fn refuse_tags_in_subquery(tags: &[Tag]) -> SandboxError {
    SandboxError::refused_with(
        format!(
            "rows of {} may not be used in IN, EXISTS or a scalar subquery: that would test whether one subject is \
             there; join the tables and aggregate instead",
            tables_of(tags)
        ),
        None,
        BASIS,
    )
}

impl<'a> Rewriter<'a> {
    fn new(tables: &'a SubjectTables) -> Self {
        Rewriter {
            tables,
            suppressed: Arc::new(AtomicU64::new(0)),
            next: 0,
            thresholded: false,
            populations: Vec::new(),
        }
    }

    fn exprs(&mut self, exprs: Vec<Expr>) -> Result<Vec<Expr>> {
        exprs.into_iter().map(|e| self.expr(e)).collect()
    }

    /// Rewrites the subqueries inside an expression; one returning tagged rows is refused.
    fn expr(&mut self, e: Expr) -> Result<Expr> {
        let mut failure = None;
        let out = e
            .transform_up(|e| {
                let sub = match &e {
                    Expr::ScalarSubquery(s) => s,
                    Expr::Exists(x) => &x.subquery,
                    Expr::InSubquery(i) => &i.subquery,
                    Expr::SetComparison(c) => &c.subquery,
                    _ => return Ok(Transformed::no(e)),
                };
                let rewritten = match self.plan(sub.subquery.as_ref().clone()) {
                    Ok((p, tags)) if tags.is_empty() => sub.with_plan(Arc::new(p)),
                    Ok((_, tags)) => {
                        failure = Some(refuse_tags_in_subquery(&tags));
                        return Ok(Transformed::new(e, false, TreeNodeRecursion::Stop));
                    }
                    Err(err) => {
                        failure = Some(err);
                        return Ok(Transformed::new(e, false, TreeNodeRecursion::Stop));
                    }
                };
                Ok(Transformed::yes(match e {
                    Expr::Exists(x) => Expr::Exists(Exists::new(rewritten, x.negated)),
                    Expr::InSubquery(i) => Expr::InSubquery(InSubquery::new(i.expr, rewritten, i.negated)),
                    Expr::SetComparison(mut c) => {
                        c.subquery = rewritten;
                        Expr::SetComparison(c)
                    }
                    _ => Expr::ScalarSubquery(rewritten),
                }))
            })
            .map_err(SandboxError::from)?
            .data;
        match failure {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn plan(&mut self, plan: LogicalPlan) -> Result<(LogicalPlan, Vec<Tag>)> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let Some(s) = self.tables.get(scan.table_name.table()) else {
                    return Ok((LogicalPlan::TableScan(scan), Vec::new()));
                };
                let width = s.tagged.schema().fields().len();
                let visible = width.saturating_sub(s.tags.len());
                let mut projection = scan.projection.clone().unwrap_or_else(|| (0..visible).collect());
                projection.extend(visible..width);
                let mut b = LogicalPlanBuilder::scan(
                    scan.table_name.clone(),
                    provider_as_source(s.tagged.clone()),
                    Some(projection),
                )?;
                if let Some(f) = conjunction(scan.filters.clone()) {
                    b = b.filter(f)?;
                }
                if let Some(n) = scan.fetch {
                    b = b.limit(0, Some(n))?;
                }
                let tags = s
                    .tags
                    .iter()
                    .map(|t| Tag {
                        col: Column::new(Some(scan.table_name.clone()), &t.name),
                        k: t.k,
                        unique: t.unique,
                        space: t.space.clone(),
                    })
                    .collect();
                Ok((b.build()?, tags))
            }
            LogicalPlan::Projection(p) => {
                let (input, tags) = self.plan(p.input.as_ref().clone())?;
                let mut exprs = self.exprs(p.expr)?;
                for e in &exprs {
                    if e.schema_name().to_string().starts_with(TAG_PREFIX) {
                        return Err(SandboxError::Invalid(format!("names starting with {TAG_PREFIX} are reserved")));
                    }
                }
                exprs.extend(tags.iter().map(|t| Expr::Column(t.col.clone())));
                Ok((LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(input))?), tags))
            }
            LogicalPlan::SubqueryAlias(a) => {
                let (input, tags) = self.plan(a.input.as_ref().clone())?;
                let tags = requalify(tags, &a.alias);
                Ok((LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(input), a.alias)?), tags))
            }
            LogicalPlan::Filter(f) => {
                let (input, tags) = self.plan(f.input.as_ref().clone())?;
                let predicate = self.expr(f.predicate)?;
                Ok((LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?), tags))
            }
            LogicalPlan::Sort(_) | LogicalPlan::Limit(_) | LogicalPlan::Repartition(_) | LogicalPlan::Window(_) => {
                let exprs = self.exprs(plan.expressions())?;
                let input = plan.inputs().first().map(|i| (*i).clone());
                let Some(input) = input else { return Err(SandboxError::Engine("a node without input".into())) };
                let (input, tags) = self.plan(input)?;
                Ok((plan.with_new_exprs(exprs, vec![input])?, tags))
            }
            LogicalPlan::Join(ref j) => {
                let join_type = j.join_type;
                let (left, lt) = self.plan(j.left.as_ref().clone())?;
                let (right, rt) = self.plan(j.right.as_ref().clone())?;
                let dropped = match join_type {
                    JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => &rt,
                    JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => &lt,
                    _ => &Vec::new(),
                };
                if !dropped.is_empty() {
                    return Err(refuse_tags_in_subquery(dropped));
                }
                let exprs = self.exprs(plan.expressions())?;
                // A join may repeat a row: subjects are no longer one per row.
                let tags: Vec<Tag> = match join_type {
                    JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => lt,
                    JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => rt,
                    _ => lt.into_iter().chain(rt).collect(),
                }
                .into_iter()
                .map(|t| Tag { unique: false, ..t })
                .collect();
                Ok((plan.with_new_exprs(exprs, vec![left, right])?, tags))
            }
            LogicalPlan::Aggregate(a) => {
                let (input, tags) = self.plan(a.input.as_ref().clone())?;
                let group = self.exprs(a.group_expr)?;
                let aggr = self.exprs(a.aggr_expr)?;
                if tags.is_empty() {
                    return Ok((LogicalPlan::Aggregate(Aggregate::try_new(Arc::new(input), group, aggr)?), Vec::new()));
                }
                for e in &aggr {
                    if let Expr::AggregateFunction(AggregateFunction { func, .. }) = unalias(e) {
                        if !BLENDING.contains(&func.name()) {
                            return Err(SandboxError::refused_with(
                                format!(
                                    "{} is not allowed on {}: it can return one subject's own value; use COUNT, SUM \
                                     or AVG",
                                    func.name().to_uppercase(),
                                    tables_of(&tags)
                                ),
                                None,
                                BASIS,
                            ));
                        }
                    }
                }
                Ok((self.threshold(input, group, aggr, &tags)?, Vec::new()))
            }
            LogicalPlan::Distinct(Distinct::All(input)) => {
                let (input, tags) = self.plan(input.as_ref().clone())?;
                if tags.is_empty() {
                    return Ok((LogicalPlan::Distinct(Distinct::All(Arc::new(input))), Vec::new()));
                }
                // DISTINCT groups by every column: each distinct row must cover k subjects.
                let group = untagged(&input, &tags);
                Ok((self.threshold(input, group, Vec::new(), &tags)?, Vec::new()))
            }
            LogicalPlan::Union(u) => {
                let mut branches = Vec::new();
                for i in u.inputs {
                    branches.push(self.plan(i.as_ref().clone())?);
                }
                if branches.iter().all(|(_, t)| t.is_empty()) {
                    let inputs = branches.into_iter().map(|(p, _)| Arc::new(p)).collect();
                    return Ok((LogicalPlan::Union(Union::try_new_with_loose_types(inputs)?), Vec::new()));
                }
                self.union(branches)
            }
            LogicalPlan::Distinct(Distinct::On(_)) | LogicalPlan::Unnest(_) | LogicalPlan::RecursiveQuery(_) => {
                let inputs: Vec<LogicalPlan> = plan.inputs().into_iter().cloned().collect();
                let mut new_inputs = Vec::new();
                for i in inputs {
                    let (p, tags) = self.plan(i)?;
                    if !tags.is_empty() {
                        return Err(not_aggregated(&tags));
                    }
                    new_inputs.push(p);
                }
                let exprs = self.exprs(plan.expressions())?;
                Ok((plan.with_new_exprs(exprs, new_inputs)?, Vec::new()))
            }
            LogicalPlan::Subquery(s) => {
                let (p, tags) = self.plan(s.subquery.as_ref().clone())?;
                Ok((LogicalPlan::Subquery(s.with_plan(Arc::new(p))), tags))
            }
            LogicalPlan::Values(_) | LogicalPlan::EmptyRelation(_) => Ok((plan, Vec::new())),
            other => Err(SandboxError::refused_with(
                format!("a {} cannot be checked on aggregation-only data", other.display()),
                None,
                BASIS,
            )),
        }
    }

    /// The aggregate with a subject count per tagged table and a filter keeping groups that
    /// reach every table's k; the counts are projected away.
    fn threshold(
        &mut self,
        input: LogicalPlan,
        group: Vec<Expr>,
        mut aggr: Vec<Expr>,
        tags: &[Tag],
    ) -> Result<LogicalPlan> {
        self.thresholded = true;
        let n = self.next;
        self.next += 1;
        let original = aggr.len();
        // Tags of the same table under one alias count together.
        let mut seen = BTreeSet::new();
        let mut ks = Vec::new();
        for (i, t) in tags.iter().enumerate() {
            if !seen.insert(t.col.flat_name()) {
                continue;
            }
            let counted = if tags.len() == 1 && t.unique {
                count(lit(1i64))
            } else {
                count_distinct(Expr::Column(t.col.clone()))
            };
            aggr.push(counted.alias(format!("{TAG_PREFIX}_k{n}_{i}")));
            ks.push(t.k);
        }
        let mut spaces: BTreeMap<&str, (u64, Vec<Expr>)> = BTreeMap::new();
        for t in tags {
            let e = spaces.entry(t.space.as_str()).or_insert((t.k, Vec::new()));
            e.0 = e.0.max(t.k);
            e.1.push(Expr::Column(t.col.clone()));
        }
        for (space, (k, cols)) in spaces {
            let mut plan: Option<LogicalPlan> = None;
            for c in cols {
                let one = LogicalPlanBuilder::from(input.clone()).project(vec![c.alias("s")])?.build()?;
                plan = Some(match plan {
                    None => one,
                    Some(p) => LogicalPlanBuilder::from(p).union(one)?.build()?,
                });
            }
            if let Some(plan) = plan {
                self.populations.push(Population { space: space.to_string(), k, plan });
            }
        }
        let agg = Aggregate::try_new(Arc::new(input), group, aggr)?;
        let fields = agg.schema.fields().len();
        let visible = fields - (agg.aggr_expr.len() - original);
        let columns: Vec<Column> = (0..fields).map(|i| Column::from(agg.schema.qualified_field(i))).collect();
        let keep = Arc::new(ScalarUDF::from(Keep::new(ks, self.suppressed.clone())));
        let counts: Vec<Expr> = columns[visible..].iter().cloned().map(Expr::Column).collect();
        let filtered = Filter::try_new(keep.call(counts), Arc::new(LogicalPlan::Aggregate(agg)))?;
        let shown: Vec<Expr> = columns[..visible].iter().cloned().map(Expr::Column).collect();
        Ok(LogicalPlan::Projection(Projection::try_new(shown, Arc::new(LogicalPlan::Filter(filtered)))?))
    }

    /// Lines up each branch's tags in shared slots, by table: a branch without a table's tag
    /// fills its slot with nulls.
    fn union(&mut self, branches: Vec<(LogicalPlan, Vec<Tag>)>) -> Result<(LogicalPlan, Vec<Tag>)> {
        // Slot names: the tag name and its occurrence within a branch (a self-join has two).
        let mut slots: BTreeMap<(String, usize), (DataType, u64, String)> = BTreeMap::new();
        for (p, tags) in &branches {
            let mut occurrences: HashMap<&str, usize> = HashMap::new();
            for t in tags {
                let o = occurrences.entry(t.col.name.as_str()).or_default();
                let dt = p.schema().qualified_field_from_column(&t.col)?.1.data_type().clone();
                let slot = slots.entry((t.col.name.clone(), *o)).or_insert((dt, t.k, t.space.clone()));
                slot.1 = slot.1.max(t.k);
                *o += 1;
            }
        }
        let mut inputs = Vec::new();
        for (p, tags) in branches {
            let mut exprs = untagged(&p, &tags);
            for ((name, o), (dt, _, _)) in &slots {
                let mine = tags.iter().filter(|t| &t.col.name == name).nth(*o);
                let e = match mine {
                    Some(t) => Expr::Column(t.col.clone()),
                    None => cast(lit(datafusion::common::ScalarValue::Null), dt.clone()),
                };
                exprs.push(e.alias(format!("{name}_{o}")));
            }
            inputs.push(Arc::new(LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(p))?)));
        }
        let union = Union::try_new_with_loose_types(inputs)?;
        let width = union.schema.fields().len();
        let tags = slots
            .values()
            .enumerate()
            .map(|(i, (_, k, space))| {
                let at = width - slots.len() + i;
                Tag { col: Column::from(union.schema.qualified_field(at)), k: *k, unique: false, space: space.clone() }
            })
            .collect();
        Ok((LogicalPlan::Union(union), tags))
    }
}

/// The plan's columns other than its tags, in order.
fn untagged(plan: &LogicalPlan, tags: &[Tag]) -> Vec<Expr> {
    plan.schema().columns().into_iter().filter(|c| !tags.iter().any(|t| &t.col == c)).map(Expr::Column).collect()
}

/// The expression under any aliases.
pub(crate) fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

/// The threshold filter: true when every subject count reaches its k; counts what it drops.
/// Volatile, so the optimizer neither moves nor duplicates it.
#[derive(Debug)]
struct Keep {
    ks: Vec<u64>,
    suppressed: Arc<AtomicU64>,
    signature: Signature,
}

impl Keep {
    fn new(ks: Vec<u64>, suppressed: Arc<AtomicU64>) -> Self {
        Keep { ks, suppressed, signature: Signature::variadic_any(Volatility::Volatile) }
    }
}

impl PartialEq for Keep {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.suppressed, &other.suppressed) && self.ks == other.ks
    }
}

impl Eq for Keep {}

impl std::hash::Hash for Keep {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ks.hash(state);
    }
}

impl ScalarUDFImpl for Keep {
    fn name(&self) -> &str {
        "shuyu_min_subjects"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if args.args.len() != self.ks.len() {
            return exec_err!("shuyu: the subject counts do not match the thresholds");
        }
        let rows = args.number_rows;
        let mut keep = vec![true; rows];
        for (arg, k) in args.args.iter().zip(&self.ks) {
            let array = arg.to_array(rows)?;
            let counts = datafusion::arrow::compute::cast(&array, &DataType::Int64)?;
            let Some(counts) = counts.as_any().downcast_ref::<Int64Array>() else {
                return exec_err!("shuyu: a subject count is not a number");
            };
            for (i, kept) in keep.iter_mut().enumerate() {
                let c = if counts.is_null(i) { 0 } else { counts.value(i).max(0) as u64 };
                *kept &= c >= *k;
            }
        }
        let dropped = keep.iter().filter(|k| !**k).count() as u64;
        self.suppressed.fetch_add(dropped, Ordering::Relaxed);
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(keep))))
    }
}

/// Whether every row of a stored dataset has its own, non-empty subject key. Checked once per
/// dataset version (versions never change) and remembered.
pub async fn subject_unique(
    ctx: &datafusion::prelude::SessionContext,
    raw: Arc<dyn TableProvider>,
    dataset: &str,
    key: &str,
) -> Result<bool> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<HashMap<(String, String), bool>>> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = (dataset.to_string(), key.to_string());
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&id).copied()) {
        return Ok(hit);
    }
    let column = Expr::Column(Column::new_unqualified(key));
    let batches = ctx
        .read_table(raw)?
        .aggregate(vec![], vec![count(lit(1i64)).alias("rows"), count_distinct(column).alias("subjects")])?
        .collect()
        .await?;
    let mut unique = false;
    if let Some(b) = batches.first() {
        let value = |i: usize| {
            datafusion::arrow::compute::cast(b.column(i), &DataType::Int64)
                .ok()
                .and_then(|a| a.as_any().downcast_ref::<Int64Array>().filter(|a| !a.is_empty()).map(|a| a.value(0)))
        };
        unique = matches!((value(0), value(1)), (Some(r), Some(s)) if r == s);
    }
    if let Ok(mut c) = cache.lock() {
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(id, unique);
    }
    Ok(unique)
}
