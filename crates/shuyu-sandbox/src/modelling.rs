//! In-domain modelling (算法建模; WX §3, YXO §3; SPEC §4.5): models trained inside a workspace
//! on a SQL-defined training set, stored in the workspace, and scoring workspace tables inside
//! the sandbox.
//!
//! - The training set is an ordinary governed query: the lineage check, masking, row filters
//!   and the privacy modes all apply. An invisible column can never be a feature, because it
//!   cannot be a query's output. Aggregation-only and DP grants cannot be trained on either,
//!   because their rows never come out un-aggregated.
//! - Rows are shuffled with a fixed seed and split into training and test sets. Metrics are
//!   computed on the test set.
//! - A model is a file in the workspace (`models/<name>/model.json`) with its level: the highest
//!   level of its features and target (就高从严). It scores in SQL as `model_<name>(f1, …)`.
//! - Its parameters are also a scratch table, `<name>_parameters`. That table is the only way
//!   they leave: through the export checks and review. A model of level 3 or above fails the
//!   `model_parameters` check: it can leave only as an in-domain scoring interface.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::{exec_err, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use linfa::prelude::*;
use linfa_clustering::KMeans;
use linfa_linear::{FittedLinearRegression, LinearRegression};
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use shuyu_core::grants::is_identifier;

use crate::error::{Result, SandboxError};
use crate::lineage::ColumnLineage;

/// What kind of model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    LinearRegression,
    LogisticRegression,
    #[serde(rename = "kmeans")]
    KMeans,
    DecisionTree,
}

/// What to train: the kind, the training set, the columns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    pub name: String,
    pub kind: ModelKind,
    /// A query over the workspace's tables; its output columns are the features and target.
    pub sql: String,
    pub features: Vec<String>,
    /// The column to predict; none for k-means.
    #[serde(default)]
    pub target: Option<String>,
    /// The share of rows held out for testing (default 0.2).
    #[serde(default)]
    pub test_fraction: Option<f64>,
    /// k-means: how many clusters (default 3).
    #[serde(default)]
    pub clusters: Option<usize>,
    /// Decision tree: the deepest a path may go (default 5).
    #[serde(default)]
    pub max_depth: Option<usize>,
}

/// The most rows a training set may have: it is held in memory.
pub const MAX_TRAINING_ROWS: usize = 2_000_000;
const SEED: u64 = 2026_1123;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Fitted {
    Linear(FittedLinearRegression<f64>),
    Logistic(FittedLogisticRegression<f64, usize>),
    KMeans(KMeans<f64, linfa_nn::distance::L2Dist>),
    Tree(DecisionTree<f64, usize>),
}

/// A trained model as stored in the workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    pub kind: ModelKind,
    pub sql: String,
    pub features: Vec<String>,
    pub target: Option<String>,
    /// Class labels, by index, for classifiers.
    pub classes: Vec<String>,
    pub metrics: BTreeMap<String, f64>,
    pub rows_train: usize,
    pub rows_test: usize,
    /// Rows left out for an empty feature or target.
    pub rows_dropped: usize,
    /// The highest level of the features and the target (就高从严).
    pub level: u8,
    /// The stored columns it was trained from.
    pub sources: BTreeSet<String>,
    pub fitted: Fitted,
}

fn invalid(m: impl Into<String>) -> SandboxError {
    SandboxError::Invalid(m.into())
}

pub fn models_dir(workspace: &Path) -> PathBuf {
    workspace.join("models")
}

/// The models of a workspace, by name.
pub fn list(workspace: &Path) -> Vec<Model> {
    let Ok(read) = std::fs::read_dir(models_dir(workspace)) else { return Vec::new() };
    let mut out: Vec<Model> = read.filter_map(|e| e.ok()).filter_map(|e| load(&e.path()).ok()).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn load(dir: &Path) -> Result<Model> {
    let text = std::fs::read_to_string(dir.join("model.json"))?;
    serde_json::from_str(&text).map_err(|e| SandboxError::Engine(format!("model file: {e}")))
}

fn write_model(workspace: &Path, model: &Model) -> Result<()> {
    let dir = models_dir(workspace).join(&model.name);
    std::fs::create_dir_all(&dir)?;
    let json = serde_json::to_vec(model).map_err(|e| SandboxError::Engine(e.to_string()))?;
    let tmp = dir.join(".model.json.partial");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, dir.join("model.json"))?;
    Ok(())
}

fn column_f64(batch: &RecordBatch, name: &str) -> Result<Float64Array> {
    let i = batch.schema().index_of(name).map_err(|_| invalid(format!("the training set has no column {name}")))?;
    let array = cast(batch.column(i), &DataType::Float64)
        .map_err(|_| invalid(format!("{name} is not numeric: cast it in the training query")))?;
    array.as_any().downcast_ref::<Float64Array>().cloned().ok_or_else(|| invalid(format!("{name} is not numeric")))
}

/// Checks a spec before any data is read.
pub fn check_spec(spec: &TrainingSpec) -> Result<()> {
    if !is_identifier(&spec.name) || spec.name.len() > 40 {
        return Err(invalid("model name: lower-case letters, digits and _, at most 40"));
    }
    if spec.features.is_empty() {
        return Err(invalid("list at least one feature column"));
    }
    let needs_target = spec.kind != ModelKind::KMeans;
    if needs_target != spec.target.is_some() {
        return Err(invalid(if needs_target { "name the target column" } else { "k-means takes no target" }));
    }
    if let Some(t) = &spec.target {
        if spec.features.contains(t) {
            return Err(invalid("the target cannot also be a feature"));
        }
    }
    let f = spec.test_fraction.unwrap_or(0.2);
    if !(0.05..=0.5).contains(&f) {
        return Err(invalid("the test share must be from 0.05 to 0.5"));
    }
    if spec.clusters.is_some_and(|k| !(2..=50).contains(&k)) {
        return Err(invalid("clusters must be from 2 to 50"));
    }
    if spec.max_depth.is_some_and(|d| !(1..=20).contains(&d)) {
        return Err(invalid("the depth must be from 1 to 20"));
    }
    Ok(())
}

/// Trains a model on the training set's rows; `lineage` is the lineage of its columns.
pub fn train(spec: &TrainingSpec, batches: &[RecordBatch], lineage: &[(String, ColumnLineage)]) -> Result<Model> {
    check_spec(spec)?;
    let mut level = 0;
    let mut sources = BTreeSet::new();
    for c in spec.features.iter().chain(spec.target.iter()) {
        let Some((_, l)) = lineage.iter().find(|(n, _)| n == c) else {
            return Err(invalid(format!("the training set has no column {c}")));
        };
        level = level.max(l.level);
        sources.extend(l.sources.iter().cloned());
    }
    // Rows with every feature and the target present.
    let mut xs: Vec<f64> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    let mut dropped = 0;
    let classify = matches!(spec.kind, ModelKind::LogisticRegression | ModelKind::DecisionTree);
    for b in batches {
        let cols: Vec<Float64Array> = spec.features.iter().map(|f| column_f64(b, f)).collect::<Result<_>>()?;
        let target = match &spec.target {
            Some(t) => {
                let i = b.schema().index_of(t).map_err(|_| invalid(format!("the training set has no column {t}")))?;
                Some(b.column(i).clone())
            }
            None => None,
        };
        let numeric_target = match (&target, classify) {
            (Some(_), false) => spec.target.as_ref().map(|t| column_f64(b, t)).transpose()?,
            _ => None,
        };
        for r in 0..b.num_rows() {
            let missing = cols.iter().any(|c| c.is_null(r))
                || target.as_ref().is_some_and(|t| t.is_null(r))
                || numeric_target.as_ref().is_some_and(|t| t.is_null(r));
            if missing {
                dropped += 1;
                continue;
            }
            xs.extend(cols.iter().map(|c| c.value(r)));
            if let Some(t) = &numeric_target {
                ys.push(t.value(r));
            } else if let Some(t) = &target {
                labels.push(array_value_to_string(t, r).map_err(|e| SandboxError::Engine(e.to_string()))?);
            }
        }
    }
    let n = xs.len() / spec.features.len();
    if n < 10 {
        return Err(invalid(format!("{n} complete rows: a model needs at least 10")));
    }
    let x = Array2::from_shape_vec((n, spec.features.len()), xs).map_err(|e| SandboxError::Engine(e.to_string()))?;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(SEED));
    let test_n = ((n as f64) * spec.test_fraction.unwrap_or(0.2)).ceil() as usize;
    let (test_idx, train_idx) = order.split_at(test_n.clamp(1, n - 1));
    let x_train = x.select(Axis(0), train_idx);
    let x_test = x.select(Axis(0), test_idx);
    let mut metrics = BTreeMap::new();
    let mut classes = Vec::new();
    let fail = |e: &dyn std::fmt::Display| invalid(format!("training failed: {e}"));
    let fitted = match spec.kind {
        ModelKind::LinearRegression => {
            let y = Array1::from(ys);
            let (y_train, y_test) = (y.select(Axis(0), train_idx), y.select(Axis(0), test_idx));
            let m = LinearRegression::default().fit(&Dataset::new(x_train, y_train)).map_err(|e| fail(&e))?;
            let p = m.predict(&x_test);
            regression_metrics(&p, &y_test, &mut metrics);
            Fitted::Linear(m)
        }
        ModelKind::LogisticRegression | ModelKind::DecisionTree => {
            let set: BTreeSet<&String> = labels.iter().collect();
            classes = set.into_iter().cloned().collect();
            if classes.len() < 2 {
                return Err(invalid("the target has one value only: nothing to learn"));
            }
            if spec.kind == ModelKind::LogisticRegression && classes.len() != 2 {
                return Err(invalid(format!(
                    "logistic regression here is binary and the target has {} values: use a decision tree",
                    classes.len()
                )));
            }
            if classes.len() > 100 {
                return Err(invalid("more than 100 classes: group the target first"));
            }
            let y: Array1<usize> = labels.iter().map(|l| classes.iter().position(|c| c == l).unwrap_or(0)).collect();
            let (y_train, y_test) = (y.select(Axis(0), train_idx), y.select(Axis(0), test_idx));
            let train = Dataset::new(x_train, y_train);
            let (fitted, p) = if spec.kind == ModelKind::LogisticRegression {
                let m = LogisticRegression::default().max_iterations(200).fit(&train).map_err(|e| fail(&e))?;
                let p = m.predict(&x_test);
                (Fitted::Logistic(m), p)
            } else {
                let m = DecisionTree::params()
                    .max_depth(Some(spec.max_depth.unwrap_or(5)))
                    .fit(&train)
                    .map_err(|e| fail(&e))?;
                let p = m.predict(&x_test);
                (Fitted::Tree(m), p)
            };
            classification_metrics(&p, &y_test, &mut metrics);
            fitted
        }
        ModelKind::KMeans => {
            let k = spec.clusters.unwrap_or(3);
            let m = KMeans::params_with_rng(k, rand::rngs::StdRng::seed_from_u64(SEED))
                .max_n_iterations(200)
                .tolerance(1e-6)
                .fit(&DatasetBase::from(x_train.clone()))
                .map_err(|e| fail(&e))?;
            let assigned = m.predict(&x_test);
            let mut inertia = 0.0;
            for (row, c) in x_test.rows().into_iter().zip(assigned.iter()) {
                let centre = m.centroids().row(*c);
                inertia += row.iter().zip(centre.iter()).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
            }
            metrics.insert("test_inertia_per_row".into(), inertia / x_test.nrows().max(1) as f64);
            for c in 0..k {
                metrics.insert(
                    format!("cluster_{c}_share"),
                    assigned.iter().filter(|a| **a == c).count() as f64 / assigned.len().max(1) as f64,
                );
            }
            Fitted::KMeans(m)
        }
    };
    Ok(Model {
        name: spec.name.clone(),
        kind: spec.kind,
        sql: spec.sql.clone(),
        features: spec.features.clone(),
        target: spec.target.clone(),
        classes,
        metrics,
        rows_train: train_idx.len(),
        rows_test: test_idx.len(),
        rows_dropped: dropped,
        level,
        sources,
        fitted,
    })
}

fn regression_metrics(p: &Array1<f64>, y: &Array1<f64>, m: &mut BTreeMap<String, f64>) {
    let n = y.len().max(1) as f64;
    let mean = y.sum() / n;
    let ss_res: f64 = p.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum();
    let ss_tot: f64 = y.iter().map(|b| (b - mean).powi(2)).sum();
    m.insert("r2".into(), if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { 0.0 });
    m.insert("rmse".into(), (ss_res / n).sqrt());
    m.insert("mae".into(), p.iter().zip(y).map(|(a, b)| (a - b).abs()).sum::<f64>() / n);
}

fn classification_metrics(p: &Array1<usize>, y: &Array1<usize>, m: &mut BTreeMap<String, f64>) {
    let n = y.len().max(1) as f64;
    m.insert("accuracy".into(), p.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / n);
    // For two classes, precision and recall of the second (e.g. "1", "是").
    let tp = p.iter().zip(y).filter(|(a, b)| **a == 1 && **b == 1).count() as f64;
    let fp = p.iter().zip(y).filter(|(a, b)| **a == 1 && **b != 1).count() as f64;
    let fne = p.iter().zip(y).filter(|(a, b)| **a != 1 && **b == 1).count() as f64;
    if tp + fp > 0.0 {
        m.insert("precision".into(), tp / (tp + fp));
    }
    if tp + fne > 0.0 {
        m.insert("recall".into(), tp / (tp + fne));
    }
}

impl Model {
    /// Stores the model in the workspace, replacing one of the same name.
    pub fn save(&self, workspace: &Path) -> Result<()> {
        write_model(workspace, self)
    }

    /// The model's parameters as rows: (parameter, value, detail).
    pub fn parameters(&self) -> Result<RecordBatch> {
        let mut name = StringBuilder::new();
        let mut value = Float64Builder::new();
        let mut detail = StringBuilder::new();
        let mut push = |n: String, v: Option<f64>, d: String| {
            name.append_value(n);
            value.append_option(v);
            detail.append_value(d);
        };
        match &self.fitted {
            Fitted::Linear(m) => {
                push("intercept".into(), Some(m.intercept()), String::new());
                for (f, c) in self.features.iter().zip(m.params()) {
                    push(format!("coefficient.{f}"), Some(*c), String::new());
                }
            }
            Fitted::Logistic(m) => {
                push(
                    "intercept".into(),
                    Some(m.intercept()),
                    format!("P({}) rises with the score", self.classes.get(1).cloned().unwrap_or_default()),
                );
                for (f, c) in self.features.iter().zip(m.params()) {
                    push(format!("coefficient.{f}"), Some(*c), String::new());
                }
            }
            Fitted::KMeans(m) => {
                for (i, row) in m.centroids().rows().into_iter().enumerate() {
                    for (f, v) in self.features.iter().zip(row) {
                        push(format!("centroid.{i}.{f}"), Some(*v), String::new());
                    }
                }
            }
            Fitted::Tree(m) => {
                for (i, node) in m.iter_nodes().enumerate() {
                    if node.is_leaf() {
                        let class = node.prediction().and_then(|c| self.classes.get(c).cloned()).unwrap_or_default();
                        push(format!("node.{i}"), None, format!("leaf → {class}"));
                    } else {
                        let (f, threshold, _) = node.split();
                        let feature = self.features.get(f).cloned().unwrap_or_default();
                        push(format!("node.{i}"), Some(threshold), format!("split on {feature} ≤ threshold"));
                    }
                }
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("parameter", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
            Field::new("detail", DataType::Utf8, false),
        ]));
        let columns: Vec<ArrayRef> = vec![Arc::new(name.finish()), Arc::new(value.finish()), Arc::new(detail.finish())];
        RecordBatch::try_new(schema, columns).map_err(|e| SandboxError::Engine(e.to_string()))
    }

    /// The scoring function's SQL name.
    pub fn function_name(&self) -> String {
        format!("model_{}", self.name)
    }

    /// Predictions for rows of features.
    fn score(&self, x: &Array2<f64>) -> ColumnarValue {
        let label = |c: usize| self.classes.get(c).cloned().unwrap_or_default();
        let array: ArrayRef = match &self.fitted {
            Fitted::Linear(m) => Arc::new(Float64Array::from(m.predict(x).to_vec())),
            Fitted::Logistic(m) => Arc::new(datafusion::arrow::array::StringArray::from(
                m.predict(x).iter().map(|c| label(*c)).collect::<Vec<_>>(),
            )),
            Fitted::Tree(m) => Arc::new(datafusion::arrow::array::StringArray::from(
                m.predict(x).iter().map(|c| label(*c)).collect::<Vec<_>>(),
            )),
            Fitted::KMeans(m) => {
                let mut b = Int64Builder::new();
                for c in m.predict(x).iter() {
                    b.append_value(*c as i64);
                }
                Arc::new(b.finish())
            }
        };
        ColumnarValue::Array(array)
    }

    fn output_type(&self) -> DataType {
        match self.kind {
            ModelKind::LinearRegression => DataType::Float64,
            ModelKind::KMeans => DataType::Int64,
            ModelKind::LogisticRegression | ModelKind::DecisionTree => DataType::Utf8,
        }
    }
}

/// A model as a SQL function of its features, registered in the workspace's sessions only.
#[derive(Debug)]
pub struct ModelUdf {
    model: Arc<Model>,
    name: String,
    signature: Signature,
}

impl PartialEq for ModelUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.model, &other.model)
    }
}

impl Eq for ModelUdf {}

impl std::hash::Hash for ModelUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ModelUdf {
    pub fn udf(model: Model) -> ScalarUDF {
        let n = model.features.len();
        let name = model.function_name();
        ScalarUDF::from(ModelUdf {
            model: Arc::new(model),
            name,
            signature: Signature::uniform(n, vec![DataType::Float64], Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for ModelUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(self.model.output_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let width = self.model.features.len();
        if args.args.len() != width {
            return exec_err!("shuyu: {} takes {width} features", self.name);
        }
        let mut cols = Vec::with_capacity(width);
        for a in &args.args {
            let array = cast(&a.to_array(n)?, &DataType::Float64)?;
            let Some(f) = array.as_any().downcast_ref::<Float64Array>().cloned() else {
                return exec_err!("shuyu: a feature of {} is not numeric", self.name);
            };
            cols.push(f);
        }
        // Rows with an empty feature get an empty prediction.
        let complete: Vec<usize> = (0..n).filter(|r| cols.iter().all(|c| !c.is_null(*r))).collect();
        let mut x = Array2::<f64>::zeros((complete.len(), width));
        for (i, r) in complete.iter().enumerate() {
            for (j, c) in cols.iter().enumerate() {
                x[[i, j]] = c.value(*r);
            }
        }
        let ColumnarValue::Array(scored) = self.model.score(&x) else {
            return exec_err!("shuyu: scoring failed");
        };
        if complete.len() == n {
            return Ok(ColumnarValue::Array(scored));
        }
        // Spread the scores back over all rows, nulls where a feature was missing.
        let mut idx = datafusion::arrow::array::UInt32Builder::new();
        let mut next = 0u32;
        for r in 0..n {
            if complete.binary_search(&r).is_ok() {
                idx.append_value(next);
                next += 1;
            } else {
                idx.append_null();
            }
        }
        let taken = datafusion::arrow::compute::take(&scored, &idx.finish(), None)?;
        Ok(ColumnarValue::Array(taken))
    }
}
