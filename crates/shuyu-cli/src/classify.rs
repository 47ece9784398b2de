//! `shuyu classify FILE`: suggests each column's PII type and sensitivity level from a sample of
//! a CSV file and prints the result as JSON (issue 5 item 3).

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use shuyu_core::classification::classify_column;

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
fn split_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    out.push(field);
    out
}

pub fn run(file: &Path, sample: usize) -> Result<ExitCode> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut lines = std::io::BufReader::new(f).lines();
    let header = match lines.next() {
        Some(h) => split_line(h?.trim_start_matches('\u{feff}')),
        None => anyhow::bail!("{} is empty", file.display()),
    };
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    let mut rows = 0usize;
    for line in lines.take(sample) {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        for (i, v) in split_line(&line).into_iter().enumerate().take(header.len()) {
            columns[i].push(v);
        }
        rows += 1;
    }
    let guesses: Vec<_> = header
        .iter()
        .zip(&columns)
        .map(|(name, values)| {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            classify_column(name, &refs)
        })
        .collect();
    let out = serde_json::json!({ "file": file.display().to_string(), "rows_sampled": rows, "columns": guesses });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_their_commas_and_quotes() {
        assert_eq!(split_line(r#"a,"b,c","d""e",f"#), vec!["a", "b,c", "d\"e", "f"]);
        assert_eq!(split_line(""), vec![""]);
    }
}
