//! Prometheus metrics in the text exposition format, kept in process.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route, status) → count.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// (method, route) → (count, total seconds).
    durations: Mutex<BTreeMap<(String, String), (u64, f64)>>,
    denied: AtomicU64,
    logins_failed: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((method.to_string(), route.to_string(), status)).or_default() += 1;
        }
        if let Ok(mut map) = self.durations.lock() {
            let entry = map.entry((method.to_string(), route.to_string())).or_default();
            entry.0 += 1;
            entry.1 += seconds;
        }
    }

    pub fn denied(&self) {
        self.denied.fetch_add(1, Ordering::Relaxed);
    }

    pub fn login_failed(&self) {
        self.logins_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders every metric; `audit_size` is read from the ledger by the caller.
    pub fn render(&self, audit_size: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP shuyu_http_requests_total HTTP requests by route and status.");
        let _ = writeln!(out, "# TYPE shuyu_http_requests_total counter");
        if let Ok(map) = self.requests.lock() {
            for ((method, route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "shuyu_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        let _ = writeln!(out, "# HELP shuyu_http_request_duration_seconds Time spent answering requests.");
        let _ = writeln!(out, "# TYPE shuyu_http_request_duration_seconds summary");
        if let Ok(map) = self.durations.lock() {
            for ((method, route), (n, sum)) in map.iter() {
                let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
                let _ = writeln!(out, "shuyu_http_request_duration_seconds_sum{{{labels}}} {sum}");
                let _ = writeln!(out, "shuyu_http_request_duration_seconds_count{{{labels}}} {n}");
            }
        }
        let _ = writeln!(out, "# HELP shuyu_authz_denied_total Requests refused by the authorization policies.");
        let _ = writeln!(out, "# TYPE shuyu_authz_denied_total counter");
        let _ = writeln!(out, "shuyu_authz_denied_total {}", self.denied.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP shuyu_login_failures_total Failed sign-in attempts.");
        let _ = writeln!(out, "# TYPE shuyu_login_failures_total counter");
        let _ = writeln!(out, "shuyu_login_failures_total {}", self.logins_failed.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP shuyu_audit_events Events in the audit log's Merkle tree.");
        let _ = writeln!(out, "# TYPE shuyu_audit_events gauge");
        let _ = writeln!(out, "shuyu_audit_events {audit_size}");
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.observe("GET", "/api/v1/me", 200, 0.01);
        m.observe("GET", "/api/v1/me", 200, 0.01);
        let text = m.render(7);
        assert!(text.contains("shuyu_http_requests_total{method=\"GET\",route=\"/api/v1/me\",status=\"200\"} 2"));
        assert!(text.contains("shuyu_audit_events 7"));
    }
}
