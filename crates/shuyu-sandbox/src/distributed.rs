//! Distributed execution on an Apache Ballista cluster (DESIGN "Real components", issue 9).
//!
//! A statement is governed here exactly as it is for the in-process engine: planned, its kind
//! checked, its lineage checked, refusals raised. Only the checked plan is sent, and before it is
//! sent each governed table is replaced by that table's own plan — the grant's row filter, its
//! columns and nothing else, masks and keyed hashes applied as they are read — so the scheduler
//! and the executors receive a plan that reaches the stored Parquet files only through the grant.
//! The masking functions travel inside the plan (their kind, and the workspace's hashing key),
//! decoded by [`ShuyuLogicalCodec`] and [`ShuyuPhysicalCodec`], which the scheduler and
//! executors started by `shuyu cluster` install.
//!
//! What stays in process: statements on aggregation-only and differential-privacy tables (their
//! suppression counters and noise live in this process), statements calling a workspace's
//! models, statements over dataset versions kept in object storage (executors are given no
//! bucket credentials), and the writes of scratch tables (the rows are computed on the cluster
//! and written here).

use std::any::Any;
use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result as DfResult, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::source_as_provider;
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, LogicalPlanBuilder, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::error::{Result, SandboxError};
use crate::governed::{unqualify, GovernedTable};
use crate::masking::{KeyedHashUdf, MaskKind, MaskUdf};
use crate::modelling::ModelUdf;

/// A Ballista scheduler that governed plans are sent to, configured as `df://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// `host:port`.
    addr: String,
}

impl Cluster {
    pub const DEFAULT_PORT: u16 = 50050;

    /// Parses `df://host[:port]`; anything else is a configuration error that names the form.
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("df://")
            .ok_or_else(|| SandboxError::Invalid(format!("cluster address {url:?}: write it as df://host:port")))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| SandboxError::Invalid(format!("cluster address {url:?}: {p:?} is not a port")))?;
                (h, port)
            }
            None => (rest, Self::DEFAULT_PORT),
        };
        if host.is_empty() || host.contains(['/', '@', '?', '#']) {
            return Err(SandboxError::Invalid(format!("cluster address {url:?}: write it as df://host:port")));
        }
        Ok(Cluster { addr: format!("{host}:{port}") })
    }

    /// The address as configured, `df://host:port`.
    pub fn url(&self) -> String {
        format!("df://{}", self.addr)
    }

    /// The scheduler's gRPC address, as Ballista's client dials it.
    pub fn scheduler(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Ballista's client reports an unreachable scheduler only as a transport error deep in
    /// the stream; a connection attempt first gives the caller an error it can act on.
    async fn reachable(&self) -> Result<()> {
        let connect = tokio::net::TcpStream::connect(self.addr.as_str());
        match tokio::time::timeout(std::time::Duration::from_secs(3), connect).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                Err(SandboxError::Unavailable(format!("the query cluster at {} does not answer: {e}", self.url())))
            }
            Err(_) => {
                Err(SandboxError::Unavailable(format!("the query cluster at {} did not answer within 3 s", self.url())))
            }
        }
    }

    /// A session that sends every plan it executes to the cluster, keeping `state`'s settings.
    pub(crate) fn session(&self, state: SessionState) -> Result<SessionContext> {
        let config =
            state.config().clone().with_ballista_logical_extension_codec(Arc::new(ShuyuLogicalCodec::default()));
        let state = SessionStateBuilder::new_from_existing(state).with_config(config).build();
        Ok(SessionContext::new_with_state(state.upgrade_for_ballista(self.scheduler())?))
    }
}

/// Whether a checked plan can run on the cluster: it names no model (models are held by this
/// process) and reads no table other than stored Parquet and governed tables.
pub(crate) fn distributable(plan: &LogicalPlan) -> Result<bool> {
    let mut ok = true;
    plan.apply_with_subqueries(|p| {
        let calls_model = p.expressions().iter().any(|e| {
            e.exists(|e| Ok(matches!(e, Expr::ScalarFunction(f) if f.func.inner().is::<ModelUdf>()))).unwrap_or(true)
        });
        if calls_model {
            ok = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(ok)
}

/// The plan with every governed table replaced by its own governed plan, under the table's name,
/// so that what is sent can be read without this process's table providers.
pub(crate) fn inline_governed(plan: LogicalPlan) -> Result<LogicalPlan> {
    let out = plan.transform_up_with_subqueries(|p| {
        let LogicalPlan::TableScan(scan) = &p else { return Ok(Transformed::no(p)) };
        let provider: Arc<dyn TableProvider> = source_as_provider(&scan.source)?;
        let Some(governed) = (provider.as_ref() as &dyn Any).downcast_ref::<GovernedTable>() else {
            return Ok(Transformed::no(p));
        };
        let mut b = LogicalPlanBuilder::from(governed.view().clone());
        let filters = scan.filters.iter().cloned().map(unqualify).collect::<DfResult<Vec<_>>>()?;
        if let Some(f) = conjunction(filters) {
            b = b.filter(f)?;
        }
        if let Some(projection) = &scan.projection {
            b = b.select(projection.iter().copied())?;
        }
        if let Some(n) = scan.fetch {
            b = b.limit(0, Some(n))?;
        }
        Ok(Transformed::yes(b.alias(scan.table_name.clone())?.build()?))
    })?;
    Ok(out.data)
}

/// Runs `plan` (already checked) on the cluster: the physical plan returned streams the answer
/// back from the executors.
pub(crate) async fn physical_plan(
    cluster: &Cluster,
    ctx: &SessionContext,
    plan: LogicalPlan,
) -> Result<(Arc<dyn ExecutionPlan>, Arc<TaskContext>)> {
    cluster.reachable().await?;
    let remote = cluster.session(ctx.state())?;
    let plan = inline_governed(plan)?;
    let physical = remote.execute_logical_plan(plan).await?.create_physical_plan().await?;
    Ok((physical, remote.task_ctx()))
}

// The masking functions as they travel in a plan: a tag byte, then what rebuilds them.
const TAG_MASK: u8 = 1;
const TAG_KEYED_HASH: u8 = 2;

fn encode_udf(udf: &ScalarUDF, buf: &mut Vec<u8>) -> bool {
    let inner = udf.inner();
    if inner.is::<MaskUdf>() {
        buf.push(TAG_MASK);
        return true;
    }
    if let Some(h) = inner.downcast_ref::<KeyedHashUdf>() {
        buf.push(TAG_KEYED_HASH);
        buf.extend_from_slice(h.key());
        return true;
    }
    false
}

fn decode_udf(name: &str, buf: &[u8]) -> Option<Arc<ScalarUDF>> {
    match buf.split_first() {
        Some((&TAG_MASK, [])) => MaskKind::from_name(name).map(MaskUdf::udf),
        Some((&TAG_KEYED_HASH, key)) if name == KeyedHashUdf::NAME => {
            let key: [u8; 32] = key.try_into().ok()?;
            Some(KeyedHashUdf::udf(key))
        }
        _ => None,
    }
}

/// The two codec methods that carry the masking functions, the same in both codecs; anything
/// else goes to Ballista's codec (`self.inner`).
macro_rules! masking_udf_codec {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
            match decode_udf(name, buf) {
                Some(udf) => Ok(udf),
                None => self.inner.try_decode_udf(name, buf),
            }
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
            if encode_udf(node, buf) {
                return Ok(());
            }
            self.inner.try_encode_udf(node, buf)
        }
    };
}

/// Ballista's logical codec, with Shuyu's masking functions.
#[derive(Debug, Default)]
pub struct ShuyuLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for ShuyuLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> DfResult<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: datafusion::arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        self.inner.try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> DfResult<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> DfResult<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    masking_udf_codec!();
}

/// Ballista's physical codec, with Shuyu's masking functions.
#[derive(Debug, Default)]
pub struct ShuyuPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for ShuyuPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        self.inner.try_encode(node, buf, converter)
    }

    masking_udf_codec!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_addresses_parse_or_say_how() {
        assert_eq!(Cluster::parse("df://10.0.0.5:50050").unwrap().url(), "df://10.0.0.5:50050");
        assert_eq!(Cluster::parse("df://scheduler").unwrap().scheduler(), "http://scheduler:50050");
        for bad in ["http://x:1", "df://", "df://x:port", "df://u@x:1"] {
            let e = Cluster::parse(bad).unwrap_err().to_string();
            assert!(e.contains("df://host:port") || e.contains("port"), "{bad}: {e}");
        }
    }

    #[test]
    fn masking_functions_travel_with_their_key() {
        let key = [9u8; 32];
        for udf in [MaskUdf::udf(MaskKind::Mobile), KeyedHashUdf::udf(key)] {
            let mut buf = Vec::new();
            assert!(encode_udf(&udf, &mut buf));
            let back = decode_udf(udf.name(), &buf).unwrap();
            assert_eq!(back.as_ref(), udf.as_ref());
        }
        // A hash under another key, or a truncated key, is not the same function.
        let mut buf = Vec::new();
        encode_udf(&KeyedHashUdf::udf(key), &mut buf);
        assert!(decode_udf(KeyedHashUdf::NAME, &buf[..10]).is_none());
        assert_ne!(decode_udf(KeyedHashUdf::NAME, &buf).unwrap().as_ref(), KeyedHashUdf::udf([1; 32]).as_ref());
        // Anything else is left to Ballista's codec.
        assert!(!encode_udf(&datafusion::functions::string::upper(), &mut Vec::new()));
    }
}
