//! The differencing defence (SPEC §4.5): two aggregates that each cover enough subjects can
//! still reveal a few people by subtraction — "all residents of 东城区" minus "all residents
//! of 东城区 except those aged 23". Before a query on an aggregation-only or
//! differential-privacy table runs, its populations (the subjects entering each thresholded
//! aggregate, per governed table) are compared with those of the workspace's earlier answered
//! queries. If some earlier population differs from the new one by at least one subject and
//! fewer than k, the query is refused and the earlier query is named.
//!
//! Limits, on purpose and documented in `docs/privacy.md`: the comparison is with the
//! workspace's most recent answered queries (the caller passes them), not with every query
//! ever run nor with other workspaces; two queries that run at the same moment are not
//! compared with each other; and chains of three or more queries whose pairwise differences are
//! each at least k are not detected. Differential privacy is the defence that composes; this
//! rule stops the plain subtraction attack on aggregation-only grants.

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::functions_aggregate::count::count;
use datafusion::logical_expr::{col, lit, DdlStatement, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;

use crate::aggregation::{self, Population, SubjectTables};
use crate::error::{Result, SandboxError};

/// An earlier answered query of the workspace.
#[derive(Debug, Clone)]
pub struct Earlier {
    pub query: String,
    pub sql: String,
    /// The values an interface call bound to the query's placeholders.
    pub params: Option<datafusion::common::ParamValues>,
}

/// Refuses `plan` if it differs from an earlier query by fewer than k subjects.
pub(crate) async fn check(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    earlier: &[Earlier],
    tables: &SubjectTables,
) -> Result<()> {
    if earlier.is_empty() {
        return Ok(());
    }
    let now = aggregation::populations(plan.clone(), tables)?;
    if now.is_empty() {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::new();
    for e in earlier {
        // The same text reads the same subjects: compared once (the newest is named).
        if e.params.is_none() && !seen.insert(e.sql.as_str()) {
            continue;
        }
        // Tables may have changed since: an earlier query that no longer plans is skipped.
        let Ok(before) = ctx.state().create_logical_plan(&e.sql).await else { continue };
        let before = match &e.params {
            Some(p) => match before.with_param_values(p.clone()) {
                Ok(b) => b,
                Err(_) => continue,
            },
            None => before,
        };
        let before = match before {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(c)) => c.input.as_ref().clone(),
            other => other,
        };
        let Ok(before) = aggregation::populations(before, tables) else { continue };
        for a in &now {
            for b in before.iter().filter(|b| b.space == a.space) {
                let n = difference(ctx, a, b).await?;
                if n > 0 && n < a.k {
                    return Err(SandboxError::refused_with(
                        format!(
                            "this query covers the same subjects of {} as earlier query {} except {n} (fewer than \
                             k = {}): subtracting one answer from the other would reveal them",
                            a.space, e.query, a.k
                        ),
                        None,
                        "SPEC §4.5",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// How many subjects are in one population and not the other.
async fn difference(ctx: &SessionContext, a: &Population, b: &Population) -> Result<u64> {
    let present = |p: &Population| -> Result<LogicalPlan> {
        Ok(LogicalPlanBuilder::from(p.plan.clone()).filter(col("s").is_not_null())?.build()?)
    };
    let (a, b) = (present(a)?, present(b)?);
    let ab = LogicalPlanBuilder::except(a.clone(), b.clone(), false)?;
    let ba = LogicalPlanBuilder::except(b, a, false)?;
    let plan = LogicalPlanBuilder::from(ab)
        .union(ba)?
        .aggregate(Vec::<datafusion::logical_expr::Expr>::new(), vec![count(lit(1i64)).alias("n")])?
        .build()?;
    let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
    let n = batches
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<Int64Array>().filter(|a| !a.is_empty()).map(|a| a.value(0)))
        .unwrap_or(0);
    Ok(n.max(0) as u64)
}
