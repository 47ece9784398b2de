//! A governed table: a granted catalogue entry as one workspace sees it. Only granted columns
//! exist; the grant's row filter is applied first; masked and hashed columns are rewritten as
//! they are read, so everything above the scan — filters, joins, functions — sees only the
//! masked values. The raw files are reachable only through this provider.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result as DfResult};
use datafusion::datasource::{provider_as_source, TableProvider, TableType};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{col, Expr, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use shuyu_core::catalogue::FieldType;
use shuyu_core::grants::{ColumnMode, GrantedTable};

use crate::error::Result;
use crate::lineage::ColumnLineage;
use crate::masking::{KeyedHashUdf, MaskKind, MaskUdf};

#[derive(Debug)]
pub struct GovernedTable {
    view: LogicalPlan,
    schema: SchemaRef,
}

impl GovernedTable {
    /// Builds the table over `raw` (the stored dataset) for one grant in one workspace.
    pub fn new(
        raw: Arc<dyn TableProvider>,
        grant: &GrantedTable,
        key: [u8; 32],
        row_filter: Option<Expr>,
        subject: Option<(&str, &str)>,
    ) -> Result<Self> {
        let mut b = LogicalPlanBuilder::scan(format!("__stored_{}", grant.table), provider_as_source(raw), None)?;
        if let Some(f) = row_filter {
            b = b.filter(f)?;
        }
        let hash = KeyedHashUdf::udf(key);
        let mut exprs: Vec<Expr> = grant
            .columns
            .iter()
            .map(|c| {
                let raw = col(Column::new_unqualified(&c.name));
                let e = match c.mode {
                    ColumnMode::Plain | ColumnMode::Invisible => raw,
                    ColumnMode::Masked => {
                        let is_date = matches!(c.data_type, FieldType::Date | FieldType::Datetime);
                        MaskUdf::udf(MaskKind::for_field(c.pii, is_date)).call(vec![raw])
                    }
                    ColumnMode::Hashed => hash.call(vec![raw]),
                };
                e.alias(&c.name)
            })
            .collect();
        // The subject key, unmasked, for the aggregation rewrite only: it is never in the table
        // a query names (see `aggregation`).
        if let Some((key_column, tag)) = subject {
            exprs.push(col(Column::new_unqualified(key_column)).alias(tag));
        }
        let view = b.project(exprs)?.build()?;
        let schema = Arc::new(view.schema().as_arrow().clone());
        Ok(GovernedTable { view, schema })
    }

    /// The table's own plan: the stored scan, the row filter, the granted columns as read.
    pub(crate) fn view(&self) -> &LogicalPlan {
        &self.view
    }

    /// The lineage of each column, in schema order.
    pub fn lineage(grant: &GrantedTable) -> Vec<ColumnLineage> {
        grant
            .columns
            .iter()
            .map(|c| ColumnLineage::stored(&grant.table, &c.name, c.sensitivity, c.mode == ColumnMode::Invisible))
            .collect()
    }
}

/// The expression with every column unqualified, as a table's own plan names them.
pub(crate) fn unqualify(e: Expr) -> DfResult<Expr> {
    e.transform(|e| {
        Ok(match e {
            Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
}

#[async_trait]
impl TableProvider for GovernedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // Filters are applied above the masking projection: they see what the workspace sees.
        let mut b = LogicalPlanBuilder::from(self.view.clone());
        let filters = filters.iter().cloned().map(unqualify).collect::<DfResult<Vec<_>>>()?;
        if let Some(f) = conjunction(filters) {
            b = b.filter(f)?;
        }
        if let Some(p) = projection {
            b = b.select(p.iter().copied())?;
        }
        if let Some(n) = limit {
            b = b.limit(0, Some(n))?;
        }
        let plan = b.build()?;
        state.create_physical_plan(&plan).await
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Exact; filters.len()])
    }
}

/// A stored scratch table without its hidden subject columns, which come after the visible ones:
/// what queries see of a table of aggregation-only rows (the rewrite reads the whole table).
#[derive(Debug)]
pub struct VisiblePart {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
}

impl VisiblePart {
    pub fn new(inner: Arc<dyn TableProvider>, visible: usize) -> Self {
        let all = inner.schema();
        let fields: Vec<_> = all.fields().iter().take(visible).cloned().collect();
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(fields, all.metadata().clone()));
        VisiblePart { inner, schema }
    }
}

#[async_trait]
impl TableProvider for VisiblePart {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let all: Vec<usize> = (0..self.schema.fields().len()).collect();
        self.inner.scan(state, Some(projection.unwrap_or(&all)), filters, limit).await
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
}
