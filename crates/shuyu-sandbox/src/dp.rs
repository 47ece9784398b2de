//! Differential-privacy grants (SPEC §4.5): a query on such a grant's table is answered only
//! with calibrated noise, charged to the grant's budget before the answer is released.
//!
//! What a query may ask (the shape is read off the checked logical plan):
//! `SELECT [k1, …,] m1, … FROM t [WHERE …] [GROUP BY k1, …]` where each measure is
//! `COUNT(*)`, `COUNT(DISTINCT <subject key>)`, `SUM(c)` or `AVG(c)` of a column with bounds
//! in the grant, and each group key is one of the grant's public keys.
//!
//! How it is answered:
//! 1. the filter runs, then each subject keeps at most `max_rows_per_subject` rows
//!    (contribution bounding; nothing to do when every row is a different subject);
//! 2. summed values are rounded to whole units and clamped to the grant's bounds;
//! 3. true aggregates are computed for every group of the public domain (a group with no rows
//!    is a zero), so that which groups appear depends on nothing private;
//! 4. the caller spends the cost in its transaction; only then [`Pending::release`] draws the
//!    noise (exact discrete Laplace or Gaussian, [`crate::noise`]) and returns the answer with
//!    its ε, δ and noise scale per measure.
//!
//! The budget of one query is split evenly over its measurements (an average is two: a sum
//! and a count). Sensitivity of a count or histogram is `max_rows_per_subject`; of a sum, that
//! times the larger absolute bound.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::Column;
use datafusion::datasource::provider_as_source;
use datafusion::functions::math::expr_fn::round;
use datafusion::functions_aggregate::count::count;
use datafusion::functions_aggregate::sum::sum;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{col, lit, when, Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use rand::{CryptoRng, RngCore};
use serde::Serialize;
use shuyu_core::privacy::{DpSettings, Epsilon, Mechanism};

use crate::aggregation::{unalias, Subjects};
use crate::error::{Result, SandboxError};
use crate::governed::unqualify;
use crate::noise::{self, MAX_PARAMETER};

const BASIS: &str = "SPEC §4.5";

fn refuse(reason: impl Into<String>) -> SandboxError {
    SandboxError::refused_with(reason, None, BASIS)
}

#[derive(Debug, Clone, PartialEq)]
enum Measure {
    Count,
    Sum { column: String, lo: i64, hi: i64 },
    Avg { column: String, lo: i64, hi: i64 },
}

/// What one released number was computed with.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseInfo {
    pub column: String,
    pub kind: &'static str,
    /// How far one subject can move the true value.
    pub sensitivity: u64,
    /// ε spent on this column.
    pub epsilon: f64,
    /// Laplace scale b, or the Gaussian σ.
    pub scale: f64,
}

/// A noise distribution as exact rationals.
#[derive(Debug, Clone, Copy)]
enum Noise {
    /// Discrete Laplace with scale num/den.
    Laplace(u64, u64),
    /// Discrete Gaussian with σ² = num/den.
    Gaussian(u64, u64),
}

impl Noise {
    fn draw<R: RngCore + CryptoRng>(self, rng: &mut R) -> Result<i64> {
        match self {
            Noise::Laplace(n, d) => noise::discrete_laplace(rng, n, d),
            Noise::Gaussian(n, d) => noise::discrete_gaussian(rng, n, d),
        }
    }

    fn scale(self) -> f64 {
        match self {
            Noise::Laplace(n, d) => n as f64 / d as f64,
            Noise::Gaussian(n, d) => (n as f64 / d as f64).sqrt(),
        }
    }
}

/// `num/den` in lowest terms, within what the samplers take.
fn fraction(num: u128, den: u128, what: &str) -> Result<(u64, u64)> {
    let (mut a, mut b) = (num, den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let (mut n, mut d) = (num / a.max(1), den / a.max(1));
    let max = u128::from(MAX_PARAMETER);
    if n > max || d > max {
        // Round the scale up onto a denominator small enough to sample: more noise, never less.
        let whole = n / d + 1;
        let smaller = (max / whole).max(1);
        (n, d) = ((n * smaller).div_ceil(d), smaller);
    }
    match (u64::try_from(n), u64::try_from(d)) {
        (Ok(n), Ok(d)) if n <= MAX_PARAMETER && d <= MAX_PARAMETER && n > 0 && d > 0 => Ok((n, d)),
        _ => {
            Err(refuse(format!("the noise for {what} cannot be drawn exactly: narrow the bounds or spend a rounder ε")))
        }
    }
}

/// The noise for one measurement of sensitivity `sensitivity` with `eps` (millionths) and
/// `delta` (trillionths).
fn calibrate(mechanism: Mechanism, sensitivity: u64, eps: u64, delta: u64, what: &str) -> Result<Noise> {
    match mechanism {
        // b = Δ/ε = Δ·10⁶/eps.
        Mechanism::Laplace => {
            let (n, d) = fraction(u128::from(sensitivity) * 1_000_000, u128::from(eps), what)?;
            Ok(Noise::Laplace(n, d))
        }
        // ρ-zCDP of the discrete Gaussian (ρ = Δ²/2σ²) gives (ρ + 2√(ρ·ln 1/δ), δ)-DP; solve for
        // the largest ρ within ε, and round σ² up (more noise, never less).
        Mechanism::Gaussian => {
            let e = eps as f64 / 1e6;
            let l = (1e12 / delta.max(1) as f64).ln();
            let root = (l + e).sqrt() - l.sqrt();
            let rho = root * root;
            if !(rho.is_finite() && rho > 0.0) {
                return Err(refuse(format!("ε and δ leave no room for noise on {what}")));
            }
            let sigma2 = (sensitivity as f64).powi(2) / (2.0 * rho);
            let num = (sigma2 * 1e3).ceil();
            if !(num.is_finite() && num >= 1.0 && num <= MAX_PARAMETER as f64) {
                return Err(refuse(format!("the noise for {what} is out of range: narrow the bounds")));
            }
            Ok(Noise::Gaussian(num as u64, 1000))
        }
    }
}

/// One group of the public domain: its key values, and per measure the true (sum, count).
type Group = (Vec<String>, Vec<(i64, i64)>);

/// A DP answer computed but not released: what the caller must spend first.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The table (of one grant) the budget is charged to.
    pub table: String,
    pub epsilon: u64,
    pub delta: u64,
    columns: Vec<String>,
    /// Per output column: a group key (index into `keys`) or a measure (index into `measures`).
    layout: Vec<Slot>,
    measures: Vec<(Measure, Noise, Option<Noise>)>,
    /// Each group of the public domain: its key values and its true sums and counts per measure.
    groups: Vec<Group>,
    info: Vec<NoiseInfo>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Key(usize),
    Measure(usize),
}

/// A released answer.
#[derive(Debug, Clone, Serialize)]
pub struct Released {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    pub epsilon: f64,
    pub delta: f64,
    pub mechanism: &'static str,
    pub noise: Vec<NoiseInfo>,
}

impl Pending {
    /// Draws the noise. Consumes the pending answer: one spend, one release.
    pub fn release<R: RngCore + CryptoRng>(self, rng: &mut R) -> Result<Released> {
        let mut rows = Vec::with_capacity(self.groups.len());
        for (keys, truths) in &self.groups {
            let mut noisy = Vec::with_capacity(self.measures.len());
            for ((m, first, second), (s, c)) in self.measures.iter().zip(truths) {
                let v = match m {
                    Measure::Count => serde_json::json!((c + first.draw(rng)?).max(0)),
                    Measure::Sum { .. } => serde_json::json!(s + first.draw(rng)?),
                    Measure::Avg { lo, hi, .. } => {
                        let sum = (s + first.draw(rng)?) as f64;
                        let n = (c + second.map(|n| n.draw(rng)).transpose()?.unwrap_or(0)).max(1) as f64;
                        serde_json::json!((sum / n).clamp(*lo as f64, *hi as f64))
                    }
                };
                noisy.push(v);
            }
            rows.push(
                self.layout
                    .iter()
                    .map(|s| match s {
                        Slot::Key(i) => serde_json::json!(keys.get(*i)),
                        Slot::Measure(i) => noisy.get(*i).cloned().unwrap_or(serde_json::Value::Null),
                    })
                    .collect(),
            );
        }
        let mechanism = match self.measures.first().map(|m| m.1) {
            Some(Noise::Gaussian(..)) => "gaussian",
            _ => "laplace",
        };
        Ok(Released {
            columns: self.columns,
            rows,
            epsilon: self.epsilon as f64 / 1e6,
            delta: self.delta as f64 / 1e12,
            mechanism,
            noise: self.info,
        })
    }

    /// Each group's key and the true count of its first measure, for tests.
    #[cfg(test)]
    pub(crate) fn truths(&self) -> Vec<(Vec<String>, i64)> {
        self.groups.iter().map(|(k, v)| (k.clone(), v.first().map(|t| t.1).unwrap_or(0))).collect()
    }

    /// Releases only the first measure of the first group (for statistical tests).
    #[cfg(test)]
    pub(crate) fn one<R: RngCore + CryptoRng>(&self, rng: &mut R) -> i64 {
        let (_, c) = self.groups[0].1[0];
        c + self.measures[0].1.draw(rng).unwrap()
    }
}

/// A differential-privacy grant's table as a query session holds it.
#[derive(Debug, Clone)]
pub struct PrivateTable {
    /// The table with its subject key as the tag, for contribution bounding.
    pub subjects: Subjects,
    pub settings: DpSettings,
    /// The key's name as queries see it (for `COUNT(DISTINCT key)`).
    pub subject_key: String,
}

fn bare_column(e: &Expr) -> Option<&str> {
    match unalias(e) {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(c) => bare_column(&c.expr),
        Expr::TryCast(c) => bare_column(&c.expr),
        _ => None,
    }
}

const SHAPE: &str = "a query under differential privacy is SELECT [keys,] COUNT(*) | COUNT(DISTINCT <subject key>) | \
                     SUM(c) | AVG(c) FROM one table [WHERE …] [GROUP BY public keys]";

/// Answers a query on a DP table, up to the release.
pub(crate) async fn answer(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    private: &HashMap<String, PrivateTable>,
    asked: Option<Epsilon>,
) -> Result<Pending> {
    // Peel the shape: [Projection] → Aggregate → [Filter] → [SubqueryAlias] → TableScan.
    let (output, agg) = match plan {
        LogicalPlan::Projection(p) => match p.input.as_ref() {
            LogicalPlan::Aggregate(a) => (Some(&p.expr), a),
            _ => return Err(refuse(SHAPE)),
        },
        LogicalPlan::Aggregate(a) => (None, a),
        _ => return Err(refuse(SHAPE)),
    };
    let mut input = agg.input.as_ref();
    let mut filter = None;
    loop {
        match input {
            LogicalPlan::Filter(f) if filter.is_none() => {
                if f.predicate.exists(|e| {
                    Ok(matches!(
                        e,
                        Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_)
                    ))
                })? {
                    return Err(refuse("a subquery in the filter of a differentially private query"));
                }
                filter = Some(unqualify(f.predicate.clone())?);
                input = f.input.as_ref();
            }
            LogicalPlan::SubqueryAlias(a) => input = a.input.as_ref(),
            LogicalPlan::TableScan(_) => break,
            _ => return Err(refuse(SHAPE)),
        }
    }
    let LogicalPlan::TableScan(scan) = input else { return Err(refuse(SHAPE)) };
    let table = scan.table_name.table().to_string();
    let Some(PrivateTable { subjects, settings: dp, subject_key }) = private.get(&table) else {
        return Err(refuse(SHAPE));
    };
    let Some(tag) = subjects.tags.first() else { return Err(refuse("the table has no subject key")) };

    // Group keys: public keys only.
    let mut keys = Vec::new();
    for g in &agg.group_expr {
        let Some(name) = bare_column(g) else {
            return Err(refuse("group by a public key column itself, not an expression of it"));
        };
        if !dp.public_keys.contains_key(name) {
            let public: Vec<&String> = dp.public_keys.keys().collect();
            return Err(refuse(format!(
                "{name} is not a public key of the grant, so which groups exist would leak; group by one of: {public:?}"
            )));
        }
        keys.push(name.to_string());
    }
    let domain_size: usize = keys.iter().map(|k| dp.public_keys.get(k).map_or(1, Vec::len)).product();
    if domain_size > 10_000 {
        return Err(refuse("more than 10000 groups: group by fewer keys"));
    }

    // Measures.
    let mut measures = Vec::new();
    for e in &agg.aggr_expr {
        let Expr::AggregateFunction(AggregateFunction { func, params }) = unalias(e) else { return Err(refuse(SHAPE)) };
        if params.filter.is_some() || !params.order_by.is_empty() {
            return Err(refuse("FILTER and ORDER BY inside an aggregate are not supported under differential privacy"));
        }
        let arg = params.args.first();
        let column = arg.and_then(bare_column);
        let bounded = |c: &str| {
            dp.bounds.get(c).copied().ok_or_else(|| {
                refuse(format!("{c} has no bounds in the grant, so one subject's effect on its sum is unbounded"))
            })
        };
        let m = match (func.name(), params.distinct, arg, column) {
            ("count", false, None | Some(Expr::Literal(..)), _) => Measure::Count,
            ("count", true, _, Some(c)) if c == subject_key => Measure::Count,
            ("sum", false, _, Some(c)) => {
                let (lo, hi) = bounded(c)?;
                Measure::Sum { column: c.to_string(), lo, hi }
            }
            ("avg", false, _, Some(c)) => {
                let (lo, hi) = bounded(c)?;
                Measure::Avg { column: c.to_string(), lo, hi }
            }
            (name, ..) => {
                return Err(refuse(format!(
                    "{} is not available under differential privacy: use COUNT(*), COUNT(DISTINCT subject key), SUM \
                     or AVG",
                    name.to_uppercase()
                )))
            }
        };
        measures.push(m);
    }
    if measures.is_empty() {
        return Err(refuse(SHAPE));
    }

    // Output columns, named as the query names them: each must be a key or a measure.
    let agg_fields: Vec<String> = agg.schema.fields().iter().map(|f| f.name().clone()).collect();
    let columns: Vec<String> = plan.schema().fields().iter().map(|f| f.name().clone()).collect();
    let slot_of = |i: usize| if i < keys.len() { Slot::Key(i) } else { Slot::Measure(i - keys.len()) };
    let layout = match output {
        None => (0..agg_fields.len()).map(slot_of).collect(),
        Some(exprs) => exprs
            .iter()
            .map(|e| match unalias(e) {
                Expr::Column(c) => Ok(slot_of(agg.schema.index_of_column(c)?)),
                _ => Err(refuse("select the keys and measures as they are; compute on the released answer")),
            })
            .collect::<Result<Vec<Slot>>>()?,
    };

    // Budget split.
    let eps = asked.map_or(dp.query_epsilon.units(), |e| e.units().min(dp.query_epsilon.units()));
    if eps == 0 {
        return Err(refuse("ε must be above 0"));
    }
    let delta = if dp.mechanism == Mechanism::Gaussian { dp.query_delta.units() } else { 0 };
    let parts: u64 = measures.iter().map(|m| if matches!(m, Measure::Avg { .. }) { 2 } else { 1 }).sum();
    let (eps_each, delta_each) = (eps / parts, delta / parts);
    if eps_each == 0 {
        return Err(refuse("ε is too small to split over the measures"));
    }
    let l = u64::from(dp.max_rows_per_subject.max(1));
    let mut calibrated = Vec::new();
    let mut info = Vec::new();
    let measure_names: Vec<String> = agg_fields[keys.len()..].to_vec();
    for (m, name) in measures.iter().zip(&measure_names) {
        let count_noise = calibrate(dp.mechanism, l, eps_each, delta_each, name)?;
        let entry = match m {
            Measure::Count => {
                info.push(NoiseInfo {
                    column: name.clone(),
                    kind: "count",
                    sensitivity: l,
                    epsilon: eps_each as f64 / 1e6,
                    scale: count_noise.scale(),
                });
                (m.clone(), count_noise, None)
            }
            Measure::Sum { lo, hi, .. } | Measure::Avg { lo, hi, .. } => {
                let sens = l.saturating_mul(lo.unsigned_abs().max(hi.unsigned_abs()).max(1));
                let sum_noise = calibrate(dp.mechanism, sens, eps_each, delta_each, name)?;
                let is_avg = matches!(m, Measure::Avg { .. });
                info.push(NoiseInfo {
                    column: name.clone(),
                    kind: if is_avg { "average (sum part)" } else { "sum" },
                    sensitivity: sens,
                    epsilon: eps_each as f64 / 1e6,
                    scale: sum_noise.scale(),
                });
                if is_avg {
                    info.push(NoiseInfo {
                        column: name.clone(),
                        kind: "average (count part)",
                        sensitivity: l,
                        epsilon: eps_each as f64 / 1e6,
                        scale: count_noise.scale(),
                    });
                }
                (m.clone(), sum_noise, is_avg.then_some(count_noise))
            }
        };
        calibrated.push(entry);
    }

    // The true values: filter, bound each subject's rows, clamp, aggregate.
    let mut b = LogicalPlanBuilder::scan(table.as_str(), provider_as_source(subjects.tagged.clone()), None)?;
    if let Some(f) = filter {
        b = b.filter(f)?;
    }
    let schema = subjects.tagged.schema();
    let subject = col(Column::new_unqualified(&tag.name));
    if !tag.unique {
        let rn = row_number().partition_by(vec![subject.clone()]).build()?.alias("__dp_row");
        b = b.window(vec![rn])?.filter(col("__dp_row").lt_eq(lit(l as i64)))?;
    }
    let mut aggs = vec![count(lit(1i64)).alias("__dp_n")];
    for (i, m) in measures.iter().enumerate() {
        if let Measure::Sum { column, lo, hi } | Measure::Avg { column, lo, hi } = m {
            let raw = col(Column::new_unqualified(column));
            // Whole units: integers as they are, anything else rounded.
            let integer = schema.field_with_name(column).map(|f| f.data_type().is_integer()).unwrap_or(false);
            let v = if integer {
                datafusion::logical_expr::cast(raw.clone(), DataType::Int64)
            } else {
                datafusion::logical_expr::cast(
                    round(vec![datafusion::logical_expr::cast(raw.clone(), DataType::Float64)]),
                    DataType::Int64,
                )
            };
            let clamped = when(v.clone().lt(lit(*lo)), lit(*lo)).when(v.clone().gt(lit(*hi)), lit(*hi)).otherwise(v)?;
            aggs.push(sum(clamped).alias(format!("__dp_s{i}")));
            aggs.push(count(raw).alias(format!("__dp_c{i}")));
        }
    }
    let groups: Vec<Expr> = keys.iter().map(|k| col(Column::new_unqualified(k))).collect();
    let plan = b.aggregate(groups, aggs)?.build()?;
    let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
    let mut truth: BTreeMap<Vec<String>, Vec<(i64, i64)>> = BTreeMap::new();
    for batch in &batches {
        let ints = |name: &str| -> Result<Int64Array> {
            let i = batch.schema().index_of(name).map_err(|e| SandboxError::Engine(e.to_string()))?;
            let a = cast(batch.column(i), &DataType::Int64).map_err(|e| SandboxError::Engine(e.to_string()))?;
            a.as_any()
                .downcast_ref::<Int64Array>()
                .cloned()
                .ok_or_else(|| SandboxError::Engine("not an integer".into()))
        };
        let n = ints("__dp_n")?;
        let mut per = Vec::new();
        for (i, m) in measures.iter().enumerate() {
            per.push(match m {
                Measure::Count => None,
                _ => Some((ints(&format!("__dp_s{i}"))?, ints(&format!("__dp_c{i}"))?)),
            });
        }
        for r in 0..batch.num_rows() {
            let key: Vec<String> = (0..keys.len())
                .map(|k| array_value_to_string(batch.column(k), r).map_err(|e| SandboxError::Engine(e.to_string())))
                .collect::<Result<_>>()?;
            let values = per
                .iter()
                .map(|p| match p {
                    None => (0, n.value(r)),
                    Some((s, c)) => (if s.is_null(r) { 0 } else { s.value(r) }, c.value(r)),
                })
                .collect();
            truth.insert(key, values);
        }
    }
    // Every group of the public domain, in the order the grant lists the values.
    let mut domain: Vec<Vec<String>> = vec![Vec::new()];
    for k in &keys {
        let values = dp.public_keys.get(k).cloned().unwrap_or_default();
        domain = domain
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(v.clone());
                    p
                })
            })
            .collect();
    }
    let zero = vec![(0, 0); measures.len()];
    let groups = domain
        .into_iter()
        .map(|key| {
            let t = truth.get(&key).cloned().unwrap_or_else(|| zero.clone());
            (key, t)
        })
        .collect();
    Ok(Pending { table, epsilon: eps, delta, columns, layout, measures: calibrated, groups, info })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laplace_scale_is_sensitivity_over_epsilon() {
        let Noise::Laplace(n, d) = calibrate(Mechanism::Laplace, 1, 1_000_000, 0, "c").unwrap() else { panic!() };
        assert_eq!((n, d), (1, 1));
        let Noise::Laplace(n, d) = calibrate(Mechanism::Laplace, 50_000, 250_000, 0, "s").unwrap() else { panic!() };
        assert_eq!(n as f64 / d as f64, 200_000.0);
        // σ for ε = 1, δ = 1e-6, Δ = 1: ρ = (√(ln 10⁶ + 1) − √(ln 10⁶))² ≈ 0.017469, σ² = 1/2ρ ≈ 28.62.
        let g = calibrate(Mechanism::Gaussian, 1, 1_000_000, 1_000_000, "c").unwrap();
        assert!((g.scale() - 28.62f64.sqrt()).abs() < 0.01, "{}", g.scale());
    }
}
