//! Monitoring and early warning (JS §24, WH §33, SPEC §6.2): rules over the audit stream that
//! notice inflated interface calls, idle runs, bulk or off-hours extraction, export bursts,
//! repeated near-identical queries, access from a new network and failed-login storms.
//!
//! The [`Detector`] is fed the events in log order and keeps only sliding windows in memory,
//! so it keeps pace with the log (see `shuyu bench monitoring`). Each [`Finding`] names its
//! rule, its subject and the events that are its evidence; a subject raises one finding per rule
//! within the profile's cooldown.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use serde_json::{json, Value};

use crate::calendar::WorkingCalendar;
use crate::clock::china_offset;
use crate::profile::Monitoring;

named_enum!(
    /// What a finding is about; each has its threshold in the profile's `[monitoring]`.
    Rule, "monitoring rule" {
        InflatedCalls => "inflated_calls",
        RepeatedCalls => "repeated_calls",
        IdleRuns => "idle_runs",
        BulkExtraction => "bulk_extraction",
        OffHoursAccess => "off_hours_access",
        ExportBurst => "export_burst",
        NearIdenticalQueries => "near_identical_queries",
        NewNetwork => "new_network",
        FailedLogins => "failed_logins",
    }
);

/// One audit event as the detector reads it.
#[derive(Debug, Clone, Copy)]
pub struct Signal<'a> {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub actor: &'a str,
    pub organisation: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    /// `success`, `denied` or `failure`.
    pub outcome: &'a str,
    pub client_addr: &'a str,
    pub details: &'a Value,
}

/// Something worth the authority's attention.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: Rule,
    /// What the rule counted by, e.g. `contract:…`, `workspace:…`, `organisation:…`, `address:…`.
    pub subject: String,
    /// Objects the authority may act on: (`contract` | `product` | `operator` | `workspace` |
    /// `user`, id).
    pub related: Vec<(String, String)>,
    /// Sequence numbers of the events that triggered it, oldest first (at most [`MAX_EVIDENCE`]).
    pub evidence: Vec<u64>,
    /// The measured values and the thresholds they crossed.
    pub observed: Value,
    pub at: DateTime<Utc>,
}

/// The most evidence events one finding carries; the count is in `observed`.
pub const MAX_EVIDENCE: usize = 500;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Forget idle windows this often (event time).
const SWEEP_MS: i64 = 10 * MINUTE_MS;

/// Events within a sliding span, each with a weight (1, or rows).
#[derive(Debug, Default)]
struct Window {
    events: VecDeque<(i64, u64, u64)>,
    total: u64,
}

impl Window {
    fn push(&mut self, ms: i64, seq: u64, weight: u64, span_ms: i64) {
        self.events.push_back((ms, seq, weight));
        self.total += weight;
        self.prune(ms, span_ms);
    }

    fn prune(&mut self, now_ms: i64, span_ms: i64) {
        while let Some(&(t, _, w)) = self.events.front() {
            if t > now_ms - span_ms {
                break;
            }
            self.events.pop_front();
            self.total -= w;
        }
    }

    fn evidence(&self) -> Vec<u64> {
        let skip = self.events.len().saturating_sub(MAX_EVIDENCE);
        self.events.iter().skip(skip).map(|e| e.1).collect()
    }

    fn count(&self) -> u64 {
        self.events.len() as u64
    }
}

/// A contract's calls per hour over the baseline days.
#[derive(Debug, Default)]
struct CallHistory {
    first_ms: i64,
    hours: VecDeque<(i64, u64)>,
}

impl CallHistory {
    fn add(&mut self, ms: i64, keep_ms: i64) {
        if self.hours.is_empty() && self.first_ms == 0 {
            self.first_ms = ms;
        }
        let hour = ms.div_euclid(HOUR_MS);
        match self.hours.back_mut() {
            Some((h, n)) if *h == hour => *n += 1,
            _ => self.hours.push_back((hour, 1)),
        }
        while self.hours.front().is_some_and(|(h, _)| (h + 1) * HOUR_MS <= ms - keep_ms) {
            self.hours.pop_front();
        }
    }

    fn total(&self) -> u64 {
        self.hours.iter().map(|(_, n)| n).sum()
    }
}

#[derive(Debug, Default)]
struct Networks {
    seen: HashSet<String>,
    accesses: u32,
}

/// The rules' state; feed it every event in order with [`Detector::observe`].
pub struct Detector {
    rules: Monitoring,
    sensitive_level: u8,
    calendar: WorkingCalendar,
    windows: HashMap<(Rule, String), Window>,
    calls: HashMap<String, CallHistory>,
    networks: HashMap<String, Networks>,
    raised: HashMap<(Rule, String), i64>,
    last_sweep: i64,
}

fn minutes(m: u32) -> i64 {
    i64::from(m) * MINUTE_MS
}

/// A statement with its literals replaced, so that queries differing only in a constant match:
/// the shape of a differencing attack (SPEC §4.5).
pub fn query_shape(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut last_space = true;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                while let Some(n) = chars.next() {
                    if n == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push('?');
                last_space = false;
            }
            c if c.is_ascii_digit() && !out.ends_with(|p: char| p.is_alphanumeric() || p == '_') => {
                while chars.peek().is_some_and(|n| n.is_ascii_digit() || *n == '.') {
                    chars.next();
                }
                out.push('?');
                last_space = false;
            }
            c if c.is_whitespace() => {
                if !last_space {
                    out.push(' ');
                    last_space = true;
                }
            }
            c => {
                out.extend(c.to_lowercase());
                last_space = false;
            }
        }
    }
    out.trim().to_string()
}

/// The network an address belongs to: IPv4 /24, IPv6 /48. A port, if any, is ignored.
pub fn network_of(addr: &str) -> Option<String> {
    let ip: IpAddr = addr.parse().ok().or_else(|| addr.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))?;
    Some(match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn id_of<'a>(resource: &'a str, kind: &str) -> Option<&'a str> {
    resource.strip_prefix(kind).and_then(|r| r.strip_prefix(':')).filter(|s| !s.is_empty())
}

impl Detector {
    pub fn new(rules: Monitoring, sensitive_level: u8, calendar: WorkingCalendar) -> Self {
        Self {
            rules,
            sensitive_level,
            calendar,
            windows: HashMap::new(),
            calls: HashMap::new(),
            networks: HashMap::new(),
            raised: HashMap::new(),
            last_sweep: 0,
        }
    }

    /// True outside working hours or on a non-working day (China time).
    pub fn off_hours(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&china_offset());
        let hour = local.hour();
        if hour < self.rules.working_hours_start || hour >= self.rules.working_hours_end {
            return true;
        }
        !self.workday(local.date_naive())
    }

    fn workday(&self, d: NaiveDate) -> bool {
        // A year the calendar lacks falls back to Monday to Friday.
        self.calendar.is_workday(d).unwrap_or(!matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
    }

    /// Counts `weight` for `key` and returns the window when it now holds at least `threshold`
    /// (by weight) and the rule has not fired for the key within the cooldown.
    fn count(
        &mut self,
        rule: Rule,
        key: &str,
        s: &Signal<'_>,
        weight: u64,
        span_ms: i64,
        threshold: u64,
    ) -> Option<(u64, u64, Vec<u64>)> {
        let ms = s.time.timestamp_millis();
        let w = self.windows.entry((rule, key.to_string())).or_default();
        w.push(ms, s.seq, weight, span_ms);
        if w.total < threshold {
            return None;
        }
        let (total, count, evidence) = (w.total, w.count(), w.evidence());
        self.fire(rule, key, ms).then_some((total, count, evidence))
    }

    /// Claims the cooldown for (rule, key); false while an earlier finding covers it.
    fn fire(&mut self, rule: Rule, key: &str, ms: i64) -> bool {
        let cooldown = minutes(self.rules.cooldown_minutes);
        match self.raised.get(&(rule, key.to_string())) {
            Some(&at) if ms - at < cooldown => false,
            _ => {
                self.raised.insert((rule, key.to_string()), ms);
                true
            }
        }
    }

    /// Feeds one event; returns what it completed.
    pub fn observe(&mut self, s: &Signal<'_>) -> Vec<Finding> {
        let ms = s.time.timestamp_millis();
        if ms - self.last_sweep > SWEEP_MS {
            self.sweep(ms);
        }
        let mut out = Vec::new();
        match s.action {
            "interface.call" => self.interface_call(s, &mut out),
            "workspace.query" => self.workspace_query(s, &mut out),
            "export.requested" => self.export_requested(s, &mut out),
            "session.login" if s.outcome != "success" => self.failed_login(s, &mut out),
            _ => {}
        }
        out
    }

    fn finding(
        &self,
        rule: Rule,
        subject: String,
        related: Vec<(String, String)>,
        evidence: Vec<u64>,
        observed: Value,
        s: &Signal<'_>,
    ) -> Finding {
        Finding { rule, subject, related, evidence, observed, at: s.time }
    }

    fn interface_call(&mut self, s: &Signal<'_>, out: &mut Vec<Finding>) {
        let Some(contract) = str_of(s.details, "contract").map(str::to_string) else { return };
        let ms = s.time.timestamp_millis();
        let mut related = vec![("contract".to_string(), contract.clone())];
        if let Some(p) = id_of(s.resource, "product") {
            related.push(("product".into(), p.to_string()));
        }
        let subject = format!("contract:{contract}");
        let r = self.rules.clone();

        // Inflated calls: this minute against the contract's usual rate per minute.
        let keep = i64::from(r.baseline_days) * 24 * HOUR_MS;
        let history = self.calls.entry(contract.clone()).or_default();
        let before = history.total();
        let first = if before == 0 { ms } else { history.first_ms };
        history.add(ms, keep);
        let w = self.windows.entry((Rule::InflatedCalls, subject.clone())).or_default();
        w.push(ms, s.seq, 1, MINUTE_MS);
        let current = w.count();
        let history_ms = (ms - MINUTE_MS).min(ms) - first.max(ms - keep);
        if history_ms >= minutes(r.min_history_minutes) && current >= u64::from(r.inflated_min_calls_per_minute) {
            let earlier = before.saturating_sub(current.saturating_sub(1));
            let usual = earlier as f64 * MINUTE_MS as f64 / history_ms as f64;
            if current as f64 >= f64::from(r.inflated_rate_factor) * usual {
                let evidence = w.evidence();
                if self.fire(Rule::InflatedCalls, &subject, ms) {
                    let observed = json!({
                        "calls_last_minute": current,
                        "usual_per_minute": (usual * 1000.0).round() / 1000.0,
                        "history_minutes": history_ms / MINUTE_MS,
                        "factor": r.inflated_rate_factor,
                        "min_calls_per_minute": r.inflated_min_calls_per_minute,
                    });
                    out.push(self.finding(
                        Rule::InflatedCalls,
                        subject.clone(),
                        related.clone(),
                        evidence,
                        observed,
                        s,
                    ));
                }
            }
        }

        // The same parameters again and again.
        let params = s.details.get("params").map(|p| p.to_string()).unwrap_or_default();
        let key = format!("{subject}|{params}");
        if let Some((_, n, evidence)) =
            self.count(Rule::RepeatedCalls, &key, s, 1, minutes(r.repeated_window_minutes), u64::from(r.repeated_calls))
        {
            let observed = json!({ "identical_calls": n, "params": s.details.get("params"),
                                   "window_minutes": r.repeated_window_minutes, "threshold": r.repeated_calls });
            out.push(self.finding(Rule::RepeatedCalls, subject.clone(), related.clone(), evidence, observed, s));
        }

        let rows = s.details.get("rows").and_then(Value::as_u64).unwrap_or(0);
        let answered = s.details.get("status").and_then(Value::as_u64) == Some(200);
        if answered && rows == 0 {
            self.idle(s, &subject, related.clone(), out);
        }
        if rows > 0 && !s.organisation.is_empty() {
            self.bulk(s, s.organisation, rows, related, out);
        }
    }

    fn idle(&mut self, s: &Signal<'_>, subject: &str, related: Vec<(String, String)>, out: &mut Vec<Finding>) {
        let t = u64::from(self.rules.idle_runs_per_hour);
        if let Some((_, n, evidence)) = self.count(Rule::IdleRuns, subject, s, 1, HOUR_MS, t) {
            let observed = json!({ "empty_results_last_hour": n, "threshold": t });
            out.push(self.finding(Rule::IdleRuns, subject.to_string(), related, evidence, observed, s));
        }
    }

    fn bulk(
        &mut self,
        s: &Signal<'_>,
        org: &str,
        rows: u64,
        mut related: Vec<(String, String)>,
        out: &mut Vec<Finding>,
    ) {
        let t = self.rules.bulk_rows_per_hour;
        let subject = format!("organisation:{org}");
        if let Some((total, n, evidence)) = self.count(Rule::BulkExtraction, &subject, s, rows, HOUR_MS, t) {
            related.push(("organisation".into(), org.to_string()));
            let observed = json!({ "rows_last_hour": total, "accesses": n, "threshold": t });
            out.push(self.finding(Rule::BulkExtraction, subject, related, evidence, observed, s));
        }
    }

    /// The sensitivity of what an access touched, as the sandbox records it.
    fn sensitive(&self, s: &Signal<'_>) -> bool {
        s.details.get("level").and_then(Value::as_u64).is_some_and(|l| l >= u64::from(self.sensitive_level))
    }

    fn workspace_query(&mut self, s: &Signal<'_>, out: &mut Vec<Finding>) {
        let Some(ws) = id_of(s.resource, "workspace").map(str::to_string) else { return };
        let subject = format!("workspace:{ws}");
        let mut related = vec![("workspace".to_string(), ws)];
        if !s.organisation.is_empty() {
            related.push(("operator".into(), s.organisation.to_string()));
        }
        let r = self.rules.clone();
        if let Some(sql) = str_of(s.details, "sql") {
            let key = format!("{subject}|{}", query_shape(sql));
            if let Some((_, n, evidence)) = self.count(
                Rule::NearIdenticalQueries,
                &key,
                s,
                1,
                minutes(r.near_identical_window_minutes),
                u64::from(r.near_identical_queries),
            ) {
                let observed = json!({ "same_shape_queries": n, "shape": query_shape(sql),
                                       "window_minutes": r.near_identical_window_minutes, "threshold": r.near_identical_queries });
                out.push(self.finding(
                    Rule::NearIdenticalQueries,
                    subject.clone(),
                    related.clone(),
                    evidence,
                    observed,
                    s,
                ));
            }
        }
        let rows = s.details.get("rows").and_then(Value::as_u64).unwrap_or(0);
        // Only answers count: a DROP or CREATE has no rows to show by nature.
        let answer = str_of(s.details, "outcome").is_none_or(|o| o == "rows");
        if s.outcome == "success" && answer && rows == 0 {
            self.idle(s, &subject, related.clone(), out);
        }
        if rows > 0 && !s.organisation.is_empty() {
            self.bulk(s, s.organisation, rows, related.clone(), out);
        }
        self.sensitive_access(s, related, out);
    }

    fn export_requested(&mut self, s: &Signal<'_>, out: &mut Vec<Finding>) {
        if s.organisation.is_empty() {
            return;
        }
        let subject = format!("organisation:{}", s.organisation);
        let mut related = vec![("operator".to_string(), s.organisation.to_string())];
        if let Some(ws) = id_of(s.resource, "workspace") {
            related.push(("workspace".into(), ws.to_string()));
        }
        let t = u64::from(self.rules.exports_per_hour);
        if let Some((_, n, evidence)) = self.count(Rule::ExportBurst, &subject, s, 1, HOUR_MS, t) {
            let observed = json!({ "exports_last_hour": n, "threshold": t });
            out.push(self.finding(Rule::ExportBurst, subject, related.clone(), evidence, observed, s));
        }
        self.sensitive_access(s, related, out);
    }

    /// Off-hours access to sensitive data, and sensitive access from a network the person has
    /// not used before.
    fn sensitive_access(&mut self, s: &Signal<'_>, mut related: Vec<(String, String)>, out: &mut Vec<Finding>) {
        if s.outcome != "success" || !s.actor.starts_with("user:") {
            return;
        }
        related.push(("user".into(), s.actor.trim_start_matches("user:").to_string()));
        let network = network_of(s.client_addr);
        let sensitive = self.sensitive(s);
        if sensitive && self.off_hours(s.time) {
            let subject = s.actor.to_string();
            if self.fire(Rule::OffHoursAccess, &subject, s.time.timestamp_millis()) {
                let local = s.time.with_timezone(&china_offset());
                let observed = json!({ "local_time": local.format("%Y-%m-%d %H:%M").to_string(),
                                       "level": s.details.get("level"),
                                       "working_hours": [self.rules.working_hours_start, self.rules.working_hours_end] });
                out.push(self.finding(Rule::OffHoursAccess, subject, related.clone(), vec![s.seq], observed, s));
            }
        }
        let Some(network) = network else { return };
        let min_history = self.rules.new_network_min_history;
        let n = self.networks.entry(s.actor.to_string()).or_default();
        let known = n.seen.contains(&network);
        let experienced = n.accesses >= min_history;
        n.accesses = n.accesses.saturating_add(1);
        if known {
            return;
        }
        n.seen.insert(network.clone());
        if experienced && sensitive {
            let subject = s.actor.to_string();
            if self.fire(Rule::NewNetwork, &format!("{subject}|{network}"), s.time.timestamp_millis()) {
                let observed = json!({ "network": network, "known_networks": self.networks.get(s.actor).map(|n| n.seen.len() - 1),
                                       "level": s.details.get("level") });
                out.push(self.finding(Rule::NewNetwork, subject, related, vec![s.seq], observed, s));
            }
        }
    }

    fn failed_login(&mut self, s: &Signal<'_>, out: &mut Vec<Finding>) {
        let addr = network_of(s.client_addr).unwrap_or_else(|| "unknown".into());
        let subject = format!("address:{addr}");
        let r = &self.rules;
        let (t, window) = (u64::from(r.failed_logins), r.failed_login_window_minutes);
        if let Some((_, n, evidence)) = self.count(Rule::FailedLogins, &subject, s, 1, minutes(window), t) {
            let observed = json!({ "failed_sign_ins": n, "window_minutes": window, "threshold": t });
            out.push(self.finding(Rule::FailedLogins, subject, Vec::new(), evidence, observed, s));
        }
    }

    /// Drops windows that have emptied and histories past the baseline, so memory follows the
    /// active subjects, not every subject ever seen.
    fn sweep(&mut self, ms: i64) {
        self.last_sweep = ms;
        let r = &self.rules;
        let longest = [
            HOUR_MS,
            minutes(r.repeated_window_minutes),
            minutes(r.near_identical_window_minutes),
            minutes(r.failed_login_window_minutes),
        ]
        .into_iter()
        .max()
        .unwrap_or(HOUR_MS);
        self.windows.retain(|_, w| {
            w.prune(ms, longest);
            !w.events.is_empty()
        });
        let keep = i64::from(r.baseline_days) * 24 * HOUR_MS;
        self.calls.retain(|_, h| h.hours.back().is_some_and(|(hour, _)| (hour + 1) * HOUR_MS > ms - keep));
        let cooldown = minutes(r.cooldown_minutes);
        self.raised.retain(|_, at| ms - *at < cooldown);
    }

    /// Subjects currently tracked, for the status screen.
    pub fn tracked(&self) -> usize {
        self.windows.len() + self.calls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn detector() -> Detector {
        Detector::new(Monitoring::default(), 3, WorkingCalendar::shipped().unwrap())
    }

    struct Feed {
        d: Detector,
        seq: u64,
        found: Vec<Finding>,
    }

    impl Feed {
        fn new() -> Self {
            Self { d: detector(), seq: 0, found: Vec::new() }
        }
        #[allow(clippy::too_many_arguments)]
        fn push(
            &mut self,
            t: DateTime<Utc>,
            actor: &str,
            org: &str,
            action: &str,
            resource: &str,
            outcome: &str,
            addr: &str,
            details: Value,
        ) -> Vec<Finding> {
            self.seq += 1;
            let s = Signal {
                seq: self.seq,
                time: t,
                actor,
                organisation: org,
                action,
                resource,
                outcome,
                client_addr: addr,
                details: &details,
            };
            let f = self.d.observe(&s);
            self.found.extend(f.clone());
            f
        }
        fn call(&mut self, t: DateTime<Utc>, contract: &str, params: Value) -> Vec<Finding> {
            self.push(
                t,
                "consumer",
                "org:c",
                "interface.call",
                "product:p1",
                "success",
                "10.0.0.1",
                json!({ "contract": contract, "params": params, "status": 200, "rows": 3 }),
            )
        }
    }

    /// A Tuesday, 10:00 China time.
    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
    }

    #[test]
    fn fifty_times_the_usual_rate_is_inflated_and_the_usual_rate_is_not() {
        let mut f = Feed::new();
        // Two hours at one call a minute.
        for m in 0..120 {
            assert!(f.call(t0() + Duration::minutes(m), "k1", json!({ "m": m })).is_empty());
        }
        // Then fifty in the next minute.
        let start = t0() + Duration::minutes(121);
        let mut raised = Vec::new();
        for i in 0..50 {
            raised.extend(f.call(start + Duration::milliseconds(i * 100), "k1", json!({ "i": i })));
        }
        assert_eq!(raised.len(), 1, "{raised:?}");
        let a = &raised[0];
        assert_eq!(a.rule, Rule::InflatedCalls);
        assert_eq!(a.subject, "contract:k1");
        assert!(a.related.contains(&("product".into(), "p1".into())));
        // The evidence is the burst (and the minute's one usual call at most).
        assert!(a.evidence.len() >= 10 && a.evidence.len() <= 11, "{}", a.evidence.len());
        assert!(a.evidence.iter().all(|s| *s > 120));
        // The cooldown: the rest of the burst adds no second alert.
        for i in 0..100 {
            assert!(f
                .call(start + Duration::seconds(10) + Duration::milliseconds(i * 10), "k1", json!({ "i": i }))
                .is_empty());
        }
    }

    #[test]
    fn a_steady_heavy_consumer_is_not_inflated_nor_a_new_one() {
        let mut f = Feed::new();
        for m in 0..180 {
            for i in 0..30 {
                f.call(t0() + Duration::minutes(m) + Duration::seconds(i), "steady", json!({ "m": m, "i": i }));
            }
        }
        // A brand-new contract calling hard has no history to be compared with.
        for i in 0..200 {
            f.call(t0() + Duration::minutes(200) + Duration::milliseconds(i * 50), "new", json!({ "i": i }));
        }
        assert!(f.found.iter().all(|a| a.rule != Rule::InflatedCalls), "{:?}", f.found);
    }

    #[test]
    fn identical_calls_repeat() {
        let mut f = Feed::new();
        let mut raised = Vec::new();
        for i in 0..100 {
            raised.extend(f.call(t0() + Duration::seconds(i), "k", json!({ "district": "梁溪" })));
        }
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].rule, Rule::RepeatedCalls);
        assert_eq!(raised[0].evidence.len(), 100);
    }

    #[test]
    fn near_identical_queries_and_their_shape() {
        assert_eq!(
            query_shape("SELECT  count(*) FROM t WHERE age > 30 AND name = 'O''Brien'"),
            "select count(*) from t where age > ? and name = ?"
        );
        assert_eq!(query_shape("select c1 from t2"), "select c1 from t2");
        let mut f = Feed::new();
        let mut raised = Vec::new();
        for i in 0..20 {
            raised.extend(f.push(
                t0() + Duration::seconds(i),
                "user:u1",
                "org:op",
                "workspace.query",
                "workspace:w1",
                "success",
                "10.0.0.1",
                json!({ "sql": format!("SELECT avg(income) FROM p WHERE id <> {i}"), "rows": 1 }),
            ));
        }
        assert_eq!(raised.iter().filter(|a| a.rule == Rule::NearIdenticalQueries).count(), 1);
        assert!(raised[0].related.contains(&("operator".into(), "org:op".into())));
    }

    #[test]
    fn off_hours_and_new_networks_only_matter_for_sensitive_data() {
        let mut f = Feed::new();
        let night = Utc.with_ymd_and_hms(2026, 3, 10, 15, 0, 0).unwrap(); // 23:00 China time
        let q = |level: u8| json!({ "sql": "select 1", "rows": 1, "level": level });
        assert!(f
            .push(night, "user:u1", "org:op", "workspace.query", "workspace:w1", "success", "10.0.0.1", q(2))
            .is_empty());
        let r = f.push(night, "user:u1", "org:op", "workspace.query", "workspace:w1", "success", "10.0.0.1", q(3));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].rule, Rule::OffHoursAccess);
        // A Saturday afternoon is off hours too.
        let saturday = Utc.with_ymd_and_hms(2026, 3, 14, 6, 0, 0).unwrap();
        assert!(f.d.off_hours(saturday));
        assert!(!f.d.off_hours(t0()));

        let mut f = Feed::new();
        for i in 0..20 {
            let details = json!({ "sql": format!("select c{i} from t"), "rows": 1, "level": 3 });
            f.push(
                t0() + Duration::seconds(i),
                "user:u2",
                "org:op",
                "workspace.query",
                "workspace:w1",
                "success",
                "10.0.0.7",
                details,
            );
        }
        assert!(f.found.is_empty());
        let r = f.push(
            t0() + Duration::seconds(30),
            "user:u2",
            "org:op",
            "workspace.query",
            "workspace:w1",
            "success",
            "203.0.113.9",
            q(3),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].rule, Rule::NewNetwork);
        assert_eq!(r[0].observed["network"], "203.0.113.0/24");
    }

    #[test]
    fn exports_idle_runs_bulk_rows_and_failed_logins() {
        let mut f = Feed::new();
        for i in 0..10 {
            f.push(
                t0() + Duration::minutes(i),
                "user:u1",
                "org:op",
                "export.requested",
                "workspace:w1",
                "success",
                "10.0.0.1",
                json!({ "rows": 10 }),
            );
        }
        for i in 0..100 {
            f.push(
                t0() + Duration::seconds(i),
                "user:u1",
                "org:op",
                "workspace.query",
                "workspace:w9",
                "success",
                "10.0.0.1",
                json!({ "sql": format!("select {i} from t{i}"), "rows": 0 }),
            );
        }
        for i in 0..2 {
            f.push(
                t0() + Duration::seconds(i),
                "user:u1",
                "org:op",
                "workspace.query",
                "workspace:w8",
                "success",
                "10.0.0.1",
                json!({ "sql": format!("select * from t{i}"), "rows": 50_000 }),
            );
        }
        for i in 0..20 {
            f.push(
                t0() + Duration::seconds(i),
                "anonymous",
                "",
                "session.login",
                "user:unknown",
                "failure",
                "198.51.100.4",
                json!({}),
            );
        }
        let rules: Vec<Rule> = f.found.iter().map(|a| a.rule).collect();
        assert_eq!(
            rules,
            vec![Rule::ExportBurst, Rule::IdleRuns, Rule::BulkExtraction, Rule::FailedLogins],
            "{:?}",
            f.found
        );
    }

    #[test]
    fn memory_follows_active_subjects() {
        let mut f = Feed::new();
        for i in 0..1000 {
            f.call(t0() + Duration::seconds(i), &format!("c{i}"), json!({}));
        }
        assert!(f.d.tracked() > 1000);
        f.call(t0() + Duration::days(9), "late", json!({}));
        assert!(f.d.tracked() < 10, "{}", f.d.tracked());
    }
}
