//! Generated data interfaces (接口生成, WX §3): a call's parsed parameter values become typed
//! literals bound to the approved query's `$name` placeholders. Values never reach SQL text.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Datelike;
use datafusion::common::metadata::ScalarAndMetadata;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::{Expr, Value, Visit, Visitor};
use shuyu_core::products::ParamValue;

use crate::error::{Result, SandboxError};

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

fn scalar(v: &ParamValue) -> ScalarValue {
    match v {
        ParamValue::String(s) => ScalarValue::Utf8(Some(s.clone())),
        ParamValue::Integer(i) => ScalarValue::Int64(Some(*i)),
        ParamValue::Number(x) => ScalarValue::Float64(Some(*x)),
        ParamValue::Date(d) => ScalarValue::Date32(Some(d.num_days_from_ce() - UNIX_EPOCH_CE_DAYS)),
        ParamValue::Boolean(b) => ScalarValue::Boolean(Some(*b)),
    }
}

/// The values of one call, keyed as the plan names its placeholders.
pub fn values(params: &BTreeMap<String, ParamValue>) -> ParamValues {
    let map: HashMap<String, ScalarAndMetadata> = params.iter().map(|(k, v)| (k.clone(), scalar(v).into())).collect();
    ParamValues::Map(map)
}

struct Placeholders(BTreeSet<String>);

impl Visitor for Placeholders {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
        if let Expr::Value(v) = expr {
            if let Value::Placeholder(p) = &v.value {
                self.0.insert(p.clone());
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// The placeholders a statement names (`$name`, without the `$`), read from its syntax so that
/// the declared parameters can be compared with them before the query is ever planned.
pub fn placeholders(sql: &str) -> Result<BTreeSet<String>> {
    let statements = DFParser::parse_sql(sql).map_err(|e| SandboxError::Invalid(e.to_string()))?;
    if statements.len() != 1 {
        return Err(SandboxError::Invalid("an interface is exactly one query".into()));
    }
    let mut found = Placeholders(BTreeSet::new());
    for s in &statements {
        if let Statement::Statement(st) = s {
            let _ = st.visit(&mut found);
        }
    }
    let mut out = BTreeSet::new();
    for p in found.0 {
        match p.strip_prefix('$') {
            Some(name) if !name.is_empty() && !name.chars().all(|c| c.is_ascii_digit()) => {
                out.insert(name.to_string());
            }
            _ => {
                return Err(SandboxError::Invalid(format!(
                    "placeholder {p}: name parameters, e.g. $district, and declare each one"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_read_from_the_syntax() {
        let p = placeholders("SELECT district, COUNT(*) FROM t WHERE district = $district AND d >= $since GROUP BY 1")
            .unwrap();
        assert_eq!(p.into_iter().collect::<Vec<_>>(), ["district", "since"]);
        assert!(placeholders("SELECT * FROM t WHERE a = $1").is_err(), "positional placeholders are refused");
        assert!(placeholders("SELECT 1; SELECT 2").is_err());
        assert!(placeholders("SELECT '$x'").unwrap().is_empty(), "a string literal is not a placeholder");
    }

    #[test]
    fn dates_bind_as_days_since_the_epoch() {
        let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 2).unwrap();
        assert_eq!(scalar(&ParamValue::Date(d)), ScalarValue::Date32(Some(1)));
    }
}
