//! Column lineage through a logical plan, and the rule for invisible columns (SPEC §4.3, JS §13
//! "usable but invisible").
//!
//! An invisible column exists only to link records. It may appear
//! - as an equality join key whose other side is a stored column (of a governed table, a
//!   scratch table column that passes one through unchanged, or an approved operator upload),
//!   never a literal or a computed value — in `JOIN … ON`, in a `WHERE a = b` between two
//!   columns, or in `x IN (SELECT y …)`;
//! - as the argument of `COUNT` or `COUNT(DISTINCT …)`;
//! - passed through unchanged by projections, aliases, subqueries, CTEs and unions, so that it
//!   can reach a join further up.
//!
//! Anything else — in the output, in a filter or comparison, in ORDER BY, GROUP BY, PARTITION
//! BY, inside any function, cast, CASE, constructor or other aggregate — is refused with an
//! error naming the column. The check runs on the plan as the SQL planner produced it, before
//! any optimisation, and that checked plan is the one that runs. A node or expression the
//! checker does not know fails the query: nothing falls back to raw data.

use std::collections::{BTreeSet, HashMap};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, JoinType};
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Distinct, Expr, LogicalPlan, Operator, Subquery, WindowFunctionDefinition};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SandboxError};

const BASIS: &str = "JS §13";

/// A model's lineage is kept in the table lineage under this prefix and its function's name:
/// what a prediction is computed from, beyond the arguments it is given.
pub const MODEL_PREFIX: &str = "model:";

/// Where a value came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnLineage {
    /// Invisible governed columns this value is, passed through unchanged ("table.column").
    #[serde(default)]
    pub invisible: BTreeSet<String>,
    /// A stored column passed through unchanged: fit to be the other side of a join on an
    /// invisible key. Literals and computed values are not.
    #[serde(default)]
    pub stored: bool,
    /// Highest sensitivity level among the sources (就高从严).
    #[serde(default)]
    pub level: u8,
    /// The governed, scratch or uploaded columns the value was computed from.
    #[serde(default)]
    pub sources: BTreeSet<String>,
}

impl ColumnLineage {
    /// A column stored in a table, as the workspace sees it.
    pub fn stored(table: &str, column: &str, level: u8, invisible: bool) -> Self {
        let name = format!("{table}.{column}");
        ColumnLineage {
            invisible: if invisible { BTreeSet::from([name.clone()]) } else { BTreeSet::new() },
            stored: true,
            level,
            sources: BTreeSet::from([name]),
        }
    }

    pub fn is_invisible(&self) -> bool {
        !self.invisible.is_empty()
    }

    fn absorb(&mut self, other: &ColumnLineage) {
        self.level = self.level.max(other.level);
        self.sources.extend(other.sources.iter().cloned());
    }

    /// A value computed from this one: no longer stored, no longer a pass-through.
    fn computed(mut self) -> Self {
        self.invisible.clear();
        self.stored = false;
        self
    }

    fn name(&self) -> String {
        self.invisible.iter().next().cloned().unwrap_or_default()
    }
}

/// The lineage of every column of every table the workspace can read, in schema order.
pub type TableLineage = HashMap<String, Vec<ColumnLineage>>;

/// What a checked query reads and returns.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Lineage of each output column.
    pub output: Vec<ColumnLineage>,
    /// Every column the query touched anywhere ("table.column").
    pub touched: BTreeSet<String>,
    /// Highest level among the columns touched.
    pub level: u8,
}

struct Scope<'s> {
    schema: &'s DFSchema,
    lineage: &'s [ColumnLineage],
}

struct Checker<'a> {
    tables: &'a TableLineage,
    outer: Vec<(DFSchema, Vec<ColumnLineage>)>,
    touched: BTreeSet<String>,
    level: u8,
}

fn refuse(l: &ColumnLineage, context: &str) -> SandboxError {
    SandboxError::refused_with(
        format!(
            "column {} is usable but invisible: it may only link records (an equality join key with a stored column) \
             or be counted; it cannot be used {context}",
            l.name()
        ),
        Some(l.name()),
        BASIS,
    )
}

fn unknown(what: &str) -> SandboxError {
    SandboxError::refused_with(format!("{what} cannot be checked in the sandbox and is not allowed"), None, BASIS)
}

/// Checks a query plan and returns its lineage.
pub fn check(plan: &LogicalPlan, tables: &TableLineage) -> Result<Checked> {
    let mut c = Checker { tables, outer: Vec::new(), touched: BTreeSet::new(), level: 0 };
    let output = c.plan(plan)?;
    if let Some(l) = output.iter().find(|l| l.is_invisible()) {
        return Err(refuse(l, "in the query's output"));
    }
    Ok(Checked { output, touched: c.touched, level: c.level })
}

/// Checks a plan whose invisible output columns are kept (a scratch table being created: its
/// invisible columns stay invisible there).
pub fn check_keeping_invisible(plan: &LogicalPlan, tables: &TableLineage) -> Result<Checked> {
    let mut c = Checker { tables, outer: Vec::new(), touched: BTreeSet::new(), level: 0 };
    let output = c.plan(plan)?;
    Ok(Checked { output, touched: c.touched, level: c.level })
}

fn is_bare_column(e: &Expr) -> bool {
    matches!(e, Expr::Column(_) | Expr::OuterReferenceColumn(..))
}

fn expr_kind(e: &Expr) -> String {
    match e {
        Expr::ScalarFunction(f) => format!("in the function {}", f.name()),
        Expr::AggregateFunction(f) => format!("in the aggregate {}", f.func.name()),
        Expr::WindowFunction(_) => "in a window function".into(),
        Expr::Cast(_) | Expr::TryCast(_) => "in a cast".into(),
        Expr::Case(_) => "in CASE".into(),
        Expr::BinaryExpr(_) | Expr::Between(_) | Expr::InList(_) | Expr::Like(_) | Expr::SimilarTo(_) => {
            "in a comparison or arithmetic".into()
        }
        other => format!("in {}", other.variant_name()),
    }
}

impl Checker<'_> {
    fn plan(&mut self, plan: &LogicalPlan) -> Result<Vec<ColumnLineage>> {
        let out = match plan {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table();
                let Some(full) = self.tables.get(name) else {
                    return Err(unknown(&format!("table {name}")));
                };
                let cols: Vec<ColumnLineage> = match &scan.projection {
                    Some(p) => p.iter().filter_map(|i| full.get(*i).cloned()).collect(),
                    None => full.clone(),
                };
                for f in &scan.filters {
                    self.predicate(f, &Scope { schema: &scan.projected_schema, lineage: &cols })?;
                }
                cols
            }
            LogicalPlan::Projection(p) => {
                let input = self.plan(&p.input)?;
                let scope = Scope { schema: p.input.schema(), lineage: &input };
                p.expr.iter().map(|e| self.expr(e, &scope)).collect::<Result<Vec<_>>>()?
            }
            LogicalPlan::Filter(f) => {
                let input = self.plan(&f.input)?;
                self.predicate(&f.predicate, &Scope { schema: f.input.schema(), lineage: &input })?;
                input
            }
            LogicalPlan::Window(w) => {
                let mut out = self.plan(&w.input)?;
                let scope_lineage = out.clone();
                let scope = Scope { schema: w.input.schema(), lineage: &scope_lineage };
                for e in &w.window_expr {
                    out.push(self.window(e, &scope)?);
                }
                out
            }
            LogicalPlan::Aggregate(a) => {
                let input = self.plan(&a.input)?;
                let scope = Scope { schema: a.input.schema(), lineage: &input };
                let mut out = Vec::new();
                for g in &a.group_expr {
                    let l = self.expr(g, &scope)?;
                    if l.is_invisible() {
                        return Err(refuse(&l, "in GROUP BY"));
                    }
                    out.push(l);
                }
                for e in &a.aggr_expr {
                    out.push(self.aggregate(e, &scope)?);
                }
                // Grouping sets add an internal grouping id.
                while out.len() < a.schema.fields().len() {
                    out.push(ColumnLineage::default());
                }
                out
            }
            LogicalPlan::Sort(s) => {
                let input = self.plan(&s.input)?;
                let scope = Scope { schema: s.input.schema(), lineage: &input };
                for e in &s.expr {
                    let l = self.expr(&e.expr, &scope)?;
                    if l.is_invisible() {
                        return Err(refuse(&l, "in ORDER BY"));
                    }
                }
                input
            }
            LogicalPlan::Join(j) => {
                let left = self.plan(&j.left)?;
                let right = self.plan(&j.right)?;
                for (l, r) in &j.on {
                    let ll = self.expr(l, &Scope { schema: j.left.schema(), lineage: &left })?;
                    let rl = self.expr(r, &Scope { schema: j.right.schema(), lineage: &right })?;
                    self.join_key(l, &ll, r, &rl)?;
                }
                let out = match j.join_type {
                    JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                        left.iter().chain(right.iter()).cloned().collect::<Vec<_>>()
                    }
                    JoinType::LeftSemi | JoinType::LeftAnti => left.clone(),
                    JoinType::RightSemi | JoinType::RightAnti => right.clone(),
                    JoinType::LeftMark => left.iter().cloned().chain([ColumnLineage::default()]).collect(),
                    JoinType::RightMark => right.iter().cloned().chain([ColumnLineage::default()]).collect(),
                };
                if let Some(filter) = &j.filter {
                    // A join filter sees both sides, whatever the join type keeps.
                    let both: Vec<ColumnLineage> = left.iter().chain(right.iter()).cloned().collect();
                    let schema = j.left.schema().join(j.right.schema()).map_err(SandboxError::from)?;
                    self.predicate(filter, &Scope { schema: &schema, lineage: &both })?;
                }
                out
            }
            LogicalPlan::Repartition(r) => self.plan(&r.input)?,
            LogicalPlan::Union(u) => {
                let mut merged: Option<Vec<ColumnLineage>> = None;
                for input in &u.inputs {
                    let cols = self.plan(input)?;
                    merged = Some(match merged {
                        None => cols,
                        Some(acc) => acc
                            .into_iter()
                            .zip(cols)
                            .map(|(mut a, b)| {
                                a.invisible.extend(b.invisible.iter().cloned());
                                a.stored &= b.stored;
                                a.absorb(&b);
                                a
                            })
                            .collect(),
                    });
                }
                merged.unwrap_or_default()
            }
            LogicalPlan::SubqueryAlias(a) => self.plan(&a.input)?,
            LogicalPlan::Subquery(s) => self.plan(&s.subquery)?,
            LogicalPlan::Limit(l) => {
                let input = self.plan(&l.input)?;
                let scope = Scope { schema: l.input.schema(), lineage: &input };
                for e in l.skip.iter().chain(l.fetch.iter()) {
                    let v = self.expr(e, &scope)?;
                    if v.is_invisible() {
                        return Err(refuse(&v, "in LIMIT"));
                    }
                }
                input
            }
            LogicalPlan::Distinct(Distinct::All(input)) => self.plan(input)?,
            LogicalPlan::Distinct(Distinct::On(d)) => {
                let input = self.plan(&d.input)?;
                let scope = Scope { schema: d.input.schema(), lineage: &input };
                for e in &d.on_expr {
                    let l = self.expr(e, &scope)?;
                    if l.is_invisible() {
                        return Err(refuse(&l, "in DISTINCT ON"));
                    }
                }
                for s in d.sort_expr.iter().flatten() {
                    let l = self.expr(&s.expr, &scope)?;
                    if l.is_invisible() {
                        return Err(refuse(&l, "in ORDER BY"));
                    }
                }
                d.select_expr.iter().map(|e| self.expr(e, &scope)).collect::<Result<Vec<_>>>()?
            }
            LogicalPlan::Values(v) => {
                let empty = DFSchema::empty();
                let scope = Scope { schema: &empty, lineage: &[] };
                for row in &v.values {
                    for e in row {
                        self.expr(e, &scope)?;
                    }
                }
                vec![ColumnLineage::default(); v.schema.fields().len()]
            }
            LogicalPlan::EmptyRelation(e) => vec![ColumnLineage::default(); e.schema.fields().len()],
            LogicalPlan::Unnest(u) => {
                let input = self.plan(&u.input)?;
                if let Some(l) = input.iter().find(|l| l.is_invisible()) {
                    return Err(refuse(l, "next to UNNEST"));
                }
                let mut acc = ColumnLineage::default();
                input.iter().for_each(|l| acc.absorb(l));
                vec![acc.computed(); u.schema.fields().len()]
            }
            LogicalPlan::RecursiveQuery(_) => return Err(unknown("a recursive query")),
            other => return Err(unknown(&format!("a {} statement", other.display()))),
        };
        if out.len() != plan.schema().fields().len() {
            return Err(SandboxError::Engine(format!(
                "lineage of {} has {} columns, the plan has {}",
                plan.display(),
                out.len(),
                plan.schema().fields().len()
            )));
        }
        Ok(out)
    }

    fn resolve(&mut self, col: &Column, scope: &Scope<'_>, outer_only: bool) -> Result<ColumnLineage> {
        let found = if outer_only {
            None
        } else {
            scope.schema.maybe_index_of_column(col).and_then(|i| scope.lineage.get(i)).cloned()
        };
        let found = found.or_else(|| {
            self.outer
                .iter()
                .rev()
                .find_map(|(schema, lineage)| schema.maybe_index_of_column(col).and_then(|i| lineage.get(i)).cloned())
        });
        match found {
            Some(l) => {
                self.touched.extend(l.sources.iter().cloned());
                self.level = self.level.max(l.level);
                Ok(l)
            }
            None => Err(SandboxError::Engine(format!("lineage: cannot resolve column {}", col.flat_name()))),
        }
    }

    fn subquery(&mut self, s: &Subquery, scope: &Scope<'_>) -> Result<Vec<ColumnLineage>> {
        self.outer.push((scope.schema.clone(), scope.lineage.to_vec()));
        let out = self.plan(&s.subquery);
        self.outer.pop();
        out
    }

    /// The lineage of a value expression. A bare column keeps its lineage (and invisibility);
    /// any operation on an invisible column is refused.
    fn expr(&mut self, e: &Expr, scope: &Scope<'_>) -> Result<ColumnLineage> {
        match e {
            Expr::Column(c) => self.resolve(c, scope, false),
            Expr::OuterReferenceColumn(_, c) => self.resolve(c, scope, true),
            Expr::Alias(a) => self.expr(&a.expr, scope),
            Expr::Literal(..) | Expr::Placeholder(_) | Expr::ScalarVariable(..) => Ok(ColumnLineage::default()),
            #[allow(deprecated)]
            Expr::Wildcard { .. } => Err(unknown("an unexpanded wildcard")),
            Expr::ScalarSubquery(s) => {
                let out = self.subquery(s, scope)?;
                let mut acc = ColumnLineage::default();
                for l in &out {
                    if l.is_invisible() {
                        return Err(refuse(l, "as the value of a scalar subquery"));
                    }
                    acc.absorb(l);
                }
                Ok(acc.computed())
            }
            Expr::Exists(x) => {
                // The subquery's select list never reaches the outer query.
                let out = self.subquery(&x.subquery, scope)?;
                let mut acc = ColumnLineage::default();
                out.iter().for_each(|l| acc.absorb(l));
                Ok(acc.computed())
            }
            Expr::InSubquery(i) => {
                let left = self.expr(&i.expr, scope)?;
                let out = self.subquery(&i.subquery, scope)?;
                let right = out.first().cloned().unwrap_or_default();
                if left.is_invisible() || right.is_invisible() {
                    let culprit = if left.is_invisible() { &left } else { &right };
                    if !(is_bare_column(&i.expr) && left.stored && right.stored) {
                        return Err(refuse(culprit, "in IN (subquery) except between two stored columns"));
                    }
                }
                let mut acc = left;
                acc.absorb(&right);
                Ok(acc.computed())
            }
            Expr::SetComparison(s) => {
                let left = self.expr(&s.expr, scope)?;
                let out = self.subquery(&s.subquery, scope)?;
                for l in std::iter::once(&left).chain(out.iter()) {
                    if l.is_invisible() {
                        return Err(refuse(l, "in ANY or ALL"));
                    }
                }
                Ok(left.computed())
            }
            Expr::AggregateFunction(_) | Expr::WindowFunction(_) => {
                // Aggregates and window functions belong to their plan nodes; met elsewhere
                // (which the planner does not produce), they get the strictest reading.
                self.generic(e, scope)
            }
            _ => self.generic(e, scope),
        }
    }

    fn generic(&mut self, e: &Expr, scope: &Scope<'_>) -> Result<ColumnLineage> {
        let mut children = Vec::new();
        e.apply_children(|c| {
            children.push(c);
            Ok(TreeNodeRecursion::Continue)
        })
        .map_err(SandboxError::from)?;
        let mut acc = ColumnLineage::default();
        for c in children {
            let l = self.expr(c, scope)?;
            if l.is_invisible() {
                return Err(refuse(&l, &expr_kind(e)));
            }
            acc.absorb(&l);
        }
        if let Expr::ScalarFunction(f) = e {
            if let Some(model) = self.tables.get(&format!("{MODEL_PREFIX}{}", f.name())).and_then(|m| m.first()) {
                acc.absorb(model);
                self.touched.extend(model.sources.iter().cloned());
                self.level = self.level.max(model.level);
            }
        }
        Ok(acc.computed())
    }

    /// A filter: each conjunct is either an equality between two stored columns (a join
    /// written in WHERE, or a correlated subquery's link) or must not touch an invisible column.
    fn predicate(&mut self, p: &Expr, scope: &Scope<'_>) -> Result<()> {
        for conjunct in split_conjunction(p) {
            if let Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) = conjunct {
                if is_bare_column(left) && is_bare_column(right) {
                    let l = self.expr(left, scope)?;
                    let r = self.expr(right, scope)?;
                    self.join_key(left, &l, right, &r)?;
                    continue;
                }
            }
            let l = self.expr(conjunct, scope)?;
            if l.is_invisible() {
                return Err(refuse(&l, "as a filter"));
            }
        }
        Ok(())
    }

    fn join_key(&self, le: &Expr, l: &ColumnLineage, re: &Expr, r: &ColumnLineage) -> Result<()> {
        if !(l.is_invisible() || r.is_invisible()) {
            return Ok(());
        }
        let culprit = if l.is_invisible() { l } else { r };
        if !(is_bare_column(le) && is_bare_column(re)) {
            return Err(refuse(culprit, "in a join key computed from it"));
        }
        if !(l.stored && r.stored) {
            return Err(refuse(culprit, "in a join with a literal or computed value"));
        }
        Ok(())
    }

    fn aggregate(&mut self, e: &Expr, scope: &Scope<'_>) -> Result<ColumnLineage> {
        let Expr::AggregateFunction(AggregateFunction { func, params }) = e else {
            return match e {
                Expr::Alias(a) => self.aggregate(&a.expr, scope),
                other => self.expr(other, scope),
            };
        };
        let counting = func.name() == "count";
        let mut acc = ColumnLineage::default();
        for arg in &params.args {
            let l = self.expr(arg, scope)?;
            if l.is_invisible() && !(counting && is_bare_column(arg)) {
                return Err(refuse(&l, &format!("in the aggregate {} (only COUNT may take it)", func.name())));
            }
            acc.absorb(&l);
        }
        if let Some(f) = &params.filter {
            self.predicate(f, scope)?;
        }
        for s in &params.order_by {
            let l = self.expr(&s.expr, scope)?;
            if l.is_invisible() {
                return Err(refuse(&l, "in an aggregate's ORDER BY"));
            }
        }
        Ok(acc.computed())
    }

    fn window(&mut self, e: &Expr, scope: &Scope<'_>) -> Result<ColumnLineage> {
        let Expr::WindowFunction(w) = e else {
            return match e {
                Expr::Alias(a) => self.window(&a.expr, scope),
                other => self.expr(other, scope),
            };
        };
        let WindowFunction { fun, params } = w.as_ref();
        let counting = matches!(fun, WindowFunctionDefinition::AggregateUDF(f) if f.name() == "count");
        let mut acc = ColumnLineage::default();
        for arg in &params.args {
            let l = self.expr(arg, scope)?;
            if l.is_invisible() && !(counting && is_bare_column(arg)) {
                return Err(refuse(&l, &format!("in the window function {}", fun.name())));
            }
            acc.absorb(&l);
        }
        for p in &params.partition_by {
            let l = self.expr(p, scope)?;
            if l.is_invisible() {
                return Err(refuse(&l, "in PARTITION BY"));
            }
        }
        for s in &params.order_by {
            let l = self.expr(&s.expr, scope)?;
            if l.is_invisible() {
                return Err(refuse(&l, "in a window's ORDER BY"));
            }
        }
        if let Some(f) = &params.filter {
            self.predicate(f, scope)?;
        }
        Ok(acc.computed())
    }
}
