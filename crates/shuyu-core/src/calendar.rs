//! The working-day calendar. Deadlines in the regulations count working days (工作日):
//! weekends and statutory holidays are off, make-up working days (调休) are on.
//!
//! The data is one TOML file per year transcribed from the State Council's notice
//! (`calendar/YYYY.toml`, format in `calendar/README.md`); the shipped years are compiled into
//! the binary and a deployment can add years, replace them and override single days. A date in
//! a year without data is an error, never a guess from weekends alone: a deadline computed
//! from a calendar nobody published would be wrong around every holiday.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Deserializer};

use crate::CoreError;

/// The years compiled in, so the binary needs no data directory.
const SHIPPED: [(&str, &str); 3] = [
    ("calendar/2024.toml", include_str!("../../../calendar/2024.toml")),
    ("calendar/2025.toml", include_str!("../../../calendar/2025.toml")),
    ("calendar/2026.toml", include_str!("../../../calendar/2026.toml")),
];

/// The name of the file in a deployment's calendar directory that holds single-day overrides.
pub const OVERRIDES_FILE: &str = "overrides.toml";

// --- File formats ----------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    source: String,
    holidays: Vec<Day>,
    #[serde(default)]
    makeup_workdays: Vec<Day>,
    #[serde(default, rename = "period")]
    periods: Vec<PeriodEntry>,
}

/// A named holiday period: for display, and as a second record of the same days that the
/// loader checks against `holidays`/`makeup_workdays`, so a slip in either list is caught.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodEntry {
    name: String,
    from: Day,
    to: Day,
    #[serde(default)]
    makeup_workdays: Vec<Day>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverridesFile {
    #[serde(rename = "override", default)]
    overrides: Vec<OverrideEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideEntry {
    date: Day,
    workday: bool,
    reason: String,
}

/// A date written either as a string (`"2025-01-01"`) or as a bare TOML date (`2025-01-01`).
#[derive(Debug, Clone, Copy)]
struct Day(NaiveDate);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let not_a_date = |shown: &str| D::Error::custom(format!("{shown} is not a date like \"2025-01-01\""));
        match toml::Value::deserialize(deserializer)? {
            toml::Value::String(s) => {
                NaiveDate::parse_from_str(&s, "%Y-%m-%d").map(Day).map_err(|_| not_a_date(&format!("{s:?}")))
            }
            toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => {
                    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                        .map(Day)
                        .ok_or_else(|| not_a_date(&dt.to_string()))
                }
                _ => Err(not_a_date(&dt.to_string())),
            },
            other => Err(not_a_date(&other.to_string())),
        }
    }
}

// --- The calendar ----------------------------------------------------------------------------

/// What a day is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    /// Monday to Friday, no holiday.
    Workday,
    /// Saturday or Sunday, no make-up day.
    Weekend,
    /// A day off in a holiday period; `name` when the year file names the period.
    Holiday { name: Option<String> },
    /// A Saturday or Sunday that is a working day (调休); `name` of the holiday it pays for.
    MakeupWorkday { name: Option<String> },
    /// The deployment's own decision for this day, which wins over the year file.
    Override { workday: bool, reason: String },
}

impl DayKind {
    pub fn is_workday(&self) -> bool {
        match self {
            DayKind::Workday | DayKind::MakeupWorkday { .. } => true,
            DayKind::Weekend | DayKind::Holiday { .. } => false,
            DayKind::Override { workday, .. } => *workday,
        }
    }
}

#[derive(Debug, Clone)]
struct YearData {
    source: String,
    /// Added by [`WorkingCalendar::add_provisional_year`], not from a notice.
    provisional: bool,
    /// Day off → name of its period, if the file names periods.
    holidays: BTreeMap<NaiveDate, Option<String>>,
    makeup: BTreeMap<NaiveDate, Option<String>>,
}

#[derive(Debug, Clone)]
struct DayOverride {
    workday: bool,
    reason: String,
}

/// Working days for the years it has data for. Cheap to clone; build it once at start-up.
#[derive(Debug, Clone, Default)]
pub struct WorkingCalendar {
    years: BTreeMap<i32, YearData>,
    overrides: BTreeMap<NaiveDate, DayOverride>,
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn file_err(file: &str, problem: impl Into<String>) -> CoreError {
    CoreError::CalendarFile { file: file.to_string(), problem: problem.into() }
}

/// toml's message plus the line it points at.
fn parse_err(file: &str, text: &str, e: &toml::de::Error) -> CoreError {
    let problem = match e.span() {
        Some(span) => {
            let line = text.get(..span.start).map_or(1, |before| before.matches('\n').count() + 1);
            format!("line {line}: {}", e.message())
        }
        None => e.message().to_string(),
    };
    file_err(file, problem)
}

impl WorkingCalendar {
    /// A calendar with no years: every question is an error until years are added.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds `year`, when the calendar has no data for it, as a provisional year for rehearsals
    /// (the demo): weekends off plus the statutory holidays whose dates the law fixes by the
    /// solar calendar (元旦 1 January, 劳动节 1–2 May, 国庆节 1–3 October). Spring Festival,
    /// 清明, 端午, 中秋 and every 调休 are unknown until the State Council's notice, so a
    /// deployment never uses this: there a year without its notice stays an error. Returns
    /// whether it was added.
    pub fn add_provisional_year(&mut self, year: i32) -> bool {
        if self.years.contains_key(&year) {
            return false;
        }
        let fixed = [
            (1, 1, "元旦"),
            (5, 1, "劳动节"),
            (5, 2, "劳动节"),
            (10, 1, "国庆节"),
            (10, 2, "国庆节"),
            (10, 3, "国庆节"),
        ];
        let holidays = fixed
            .iter()
            .filter_map(|&(m, d, name)| NaiveDate::from_ymd_opt(year, m, d).map(|day| (day, Some(name.to_string()))))
            .collect();
        let source = format!("provisional {year}: weekends and fixed-date statutory holidays only (rehearsal, not the State Council notice)");
        self.years.insert(year, YearData { source, provisional: true, holidays, makeup: BTreeMap::new() });
        true
    }

    /// The years added provisionally, in order: what a rehearsal tells its user.
    pub fn provisional_years(&self) -> Vec<i32> {
        self.years.iter().filter(|(_, y)| y.provisional).map(|(&year, _)| year).collect()
    }

    /// The years shipped with Shuyu (2024–2026), compiled into the binary.
    pub fn shipped() -> Result<Self, CoreError> {
        let mut calendar = Self::empty();
        for (origin, text) in SHIPPED {
            calendar.add_year_toml(text, origin)?;
        }
        Ok(calendar)
    }

    /// A calendar holding the one year in `text`; `origin` names the file in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, CoreError> {
        let mut calendar = Self::empty();
        calendar.add_year_toml(text, origin)?;
        Ok(calendar)
    }

    /// Adds the year in `text`, replacing any data already held for that year. Returns the
    /// year. Checks: every date lies in the file's year, no date is listed twice or in both
    /// lists, make-up days are Saturdays or Sundays, and named periods agree with the lists.
    pub fn add_year_toml(&mut self, text: &str, origin: &str) -> Result<i32, CoreError> {
        let file: YearFile = toml::from_str(text).map_err(|e| parse_err(origin, text, &e))?;
        let year = file.year;
        let err = |problem: String| file_err(origin, problem);
        if file.source.trim().is_empty() {
            return Err(err("source must name the notice the dates come from".into()));
        }
        let in_year = |d: NaiveDate, list: &str| {
            if d.year() == year {
                Ok(())
            } else {
                Err(err(format!("{list}: {d} is not in {year}")))
            }
        };
        let mut data =
            YearData { source: file.source, provisional: false, holidays: BTreeMap::new(), makeup: BTreeMap::new() };
        for Day(d) in file.holidays {
            in_year(d, "holidays")?;
            if data.holidays.insert(d, None).is_some() {
                return Err(err(format!("holidays: {d} is listed twice")));
            }
        }
        for Day(d) in file.makeup_workdays {
            in_year(d, "makeup_workdays")?;
            if !is_weekend(d) {
                return Err(err(format!(
                    "makeup_workdays: {d} is a {}, but a make-up working day is a Saturday or Sunday",
                    d.weekday()
                )));
            }
            if data.makeup.insert(d, None).is_some() {
                return Err(err(format!("makeup_workdays: {d} is listed twice")));
            }
            if data.holidays.contains_key(&d) {
                return Err(err(format!("{d} is listed both in holidays and in makeup_workdays")));
            }
        }
        if !file.periods.is_empty() {
            Self::name_periods(&mut data, &file.periods, year).map_err(err)?;
        }
        self.years.insert(year, data);
        Ok(year)
    }

    /// Puts the period names on the days, requiring the periods and the lists to describe
    /// exactly the same days.
    fn name_periods(data: &mut YearData, periods: &[PeriodEntry], year: i32) -> Result<(), String> {
        for p in periods {
            let (from, to) = (p.from.0, p.to.0);
            if from > to {
                return Err(format!("period {}: from {from} is after to {to}", p.name));
            }
            if from.year() != year || to.year() != year {
                return Err(format!("period {}: {from}..{to} is not inside {year}", p.name));
            }
            for d in from.iter_days().take_while(|d| *d <= to) {
                match data.holidays.get_mut(&d) {
                    None => return Err(format!("period {} covers {d}, which is missing from holidays", p.name)),
                    Some(Some(other)) => return Err(format!("{d} is in two periods, {other} and {}", p.name)),
                    Some(name) => *name = Some(p.name.clone()),
                }
            }
            for &Day(d) in &p.makeup_workdays {
                match data.makeup.get_mut(&d) {
                    None => {
                        return Err(format!(
                            "period {} lists make-up day {d}, which is missing from makeup_workdays",
                            p.name
                        ))
                    }
                    Some(Some(other)) => {
                        return Err(format!("make-up day {d} is in two periods, {other} and {}", p.name))
                    }
                    Some(name) => *name = Some(p.name.clone()),
                }
            }
        }
        if let Some((d, _)) = data.holidays.iter().find(|(_, name)| name.is_none()) {
            return Err(format!("holidays: {d} is in no [[period]]"));
        }
        if let Some((d, _)) = data.makeup.iter().find(|(_, name)| name.is_none()) {
            return Err(format!("makeup_workdays: {d} is in no [[period]]"));
        }
        Ok(())
    }

    /// Adds single-day overrides (`[[override]]` entries with `date`, `workday`, `reason`).
    /// An override replaces an earlier one for the same date. Its year must already have data:
    /// an override does not make a year known. Returns how many entries the text held.
    pub fn add_overrides_toml(&mut self, text: &str, origin: &str) -> Result<usize, CoreError> {
        let file: OverridesFile = toml::from_str(text).map_err(|e| parse_err(origin, text, &e))?;
        let mut seen = BTreeMap::new();
        for o in &file.overrides {
            let d = o.date.0;
            if o.reason.trim().is_empty() {
                return Err(file_err(origin, format!("override for {d}: give a reason")));
            }
            if !self.years.contains_key(&d.year()) {
                return Err(file_err(
                    origin,
                    format!("override for {d}: the calendar has no data for {}; add {}.toml first", d.year(), d.year()),
                ));
            }
            if seen.insert(d, DayOverride { workday: o.workday, reason: o.reason.clone() }).is_some() {
                return Err(file_err(origin, format!("override for {d} is listed twice")));
            }
        }
        self.overrides.extend(seen);
        Ok(file.overrides.len())
    }

    /// Loads a deployment's calendar directory over what the calendar already holds:
    /// `YYYY.toml` year files (adding a year or replacing it) and `overrides.toml`. Files are
    /// read in name order, so years come before the overrides. Other `.toml` names are an
    /// error (a misnamed year file would otherwise be ignored silently); files with other
    /// extensions, such as a README, are skipped. On any error the calendar is unchanged.
    pub fn load_dir(&mut self, dir: &Path) -> Result<(), CoreError> {
        let shown = dir.display().to_string();
        let entries =
            std::fs::read_dir(dir).map_err(|e| file_err(&shown, format!("cannot read the directory: {e}")))?;
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| file_err(&shown, e.to_string()))?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut next = self.clone();
        for path in paths {
            let name = path.display().to_string();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let text = std::fs::read_to_string(&path).map_err(|e| file_err(&name, e.to_string()))?;
            if path.file_name().is_some_and(|f| f == OVERRIDES_FILE) {
                next.add_overrides_toml(&text, &name)?;
            } else if stem.len() == 4 && stem.bytes().all(|b| b.is_ascii_digit()) {
                let year = next.add_year_toml(&text, &name)?;
                if stem != year.to_string() {
                    return Err(file_err(&name, format!("the file says year = {year}; name it {year}.toml")));
                }
            } else {
                return Err(file_err(&name, format!("expected a year file YYYY.toml or {OVERRIDES_FILE}")));
            }
        }
        *self = next;
        Ok(())
    }

    /// The years with data, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    /// The notice a year's data comes from.
    pub fn source(&self, year: i32) -> Option<&str> {
        self.years.get(&year).map(|y| y.source.as_str())
    }

    /// What `date` is. Precedence: the deployment's override, then the year file's make-up
    /// days and holidays, then the day of the week.
    pub fn day_kind(&self, date: NaiveDate) -> Result<DayKind, CoreError> {
        let year = self.years.get(&date.year()).ok_or(CoreError::CalendarYearMissing { year: date.year() })?;
        if let Some(o) = self.overrides.get(&date) {
            return Ok(DayKind::Override { workday: o.workday, reason: o.reason.clone() });
        }
        if let Some(name) = year.makeup.get(&date) {
            return Ok(DayKind::MakeupWorkday { name: name.clone() });
        }
        if let Some(name) = year.holidays.get(&date) {
            return Ok(DayKind::Holiday { name: name.clone() });
        }
        Ok(if is_weekend(date) { DayKind::Weekend } else { DayKind::Workday })
    }

    pub fn is_workday(&self, date: NaiveDate) -> Result<bool, CoreError> {
        let year = self.years.get(&date.year()).ok_or(CoreError::CalendarYearMissing { year: date.year() })?;
        Ok(match self.overrides.get(&date) {
            Some(o) => o.workday,
            None if year.makeup.contains_key(&date) => true,
            None if year.holidays.contains_key(&date) => false,
            None => !is_weekend(date),
        })
    }

    /// The date `n` working days after `date`, as in "within n working days of receipt":
    /// the day of the event itself is not counted (民法典 §201: a period counted in days
    /// starts the next day), so counting starts the day after `date`, and the result is always
    /// a working day. `n = 0` returns `date` itself. Example: a Friday application with a
    /// 3-working-day acceptance deadline is due the next Wednesday in an ordinary week.
    ///
    /// Errors with [`CoreError::CalendarYearMissing`] when `date`, or any day the count walks
    /// through, lies in a year without data.
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Result<NaiveDate, CoreError> {
        // The start's year must be known too: a deadline from an unknown year is not computed.
        self.is_workday(date)?;
        let mut day = date;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().ok_or(CoreError::CalendarYearMissing { year: day.year().saturating_add(1) })?;
            if self.is_workday(day)? {
                left -= 1;
            }
        }
        Ok(day)
    }

    /// The number of working days in (a, b]: how many working days have passed on `b` since
    /// an event on `a`. Negative when `b` is before `a` (then it counts (b, a]); 0 when equal.
    /// So `working_days_between(d, add_working_days(d, n)) == n`.
    pub fn working_days_between(&self, a: NaiveDate, b: NaiveDate) -> Result<i64, CoreError> {
        let (from, to, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
        self.is_workday(from)?;
        let mut count = 0i64;
        for day in from.iter_days().skip(1).take_while(|d| *d <= to) {
            if self.is_workday(day)? {
                count += 1;
            }
        }
        Ok(sign * count)
    }

    /// The number of days in `year`'s data that are working days; `None` without data.
    pub fn working_days_in_year(&self, year: i32) -> Option<u32> {
        self.years.get(&year)?;
        let first = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let days = first.iter_days().take_while(|d| d.year() == year);
        Some(days.map(|d| u32::from(self.is_workday(d).unwrap_or(false))).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn shipped() -> WorkingCalendar {
        WorkingCalendar::shipped().unwrap()
    }

    /// Working days per month, worked out by hand from the notices' text (not from the data
    /// files): each month's Monday–Friday count, minus holiday days on weekdays, plus make-up
    /// Saturdays and Sundays.
    const MONTHS: [(i32, [u32; 12]); 3] = [
        (2024, [22, 18, 21, 22, 21, 19, 23, 22, 21, 19, 21, 22]),
        (2025, [19, 19, 21, 22, 19, 20, 23, 21, 23, 18, 20, 23]),
        (2026, [21, 16, 22, 21, 19, 21, 23, 21, 22, 18, 21, 23]),
    ];

    /// Statutory holidays per year (全国年节及纪念日放假办法: 11 days until 2024, 13 from 2025
    /// when 除夕 and 5月2日 were added). Make-up days exactly pay for the extra days off, so
    /// a year's working days are its weekdays minus its statutory holidays.
    const STATUTORY_DAYS: [(i32, u32); 3] = [(2024, 11), (2025, 13), (2026, 13)];

    #[test]
    fn every_day_of_the_shipped_years_matches_the_notices() {
        let cal = shipped();
        for (year, months) in MONTHS {
            let mut counts = [0u32; 12];
            for day in d(&format!("{year}-01-01")).iter_days().take_while(|x| x.year() == year) {
                if cal.is_workday(day).unwrap() {
                    counts[day.month0() as usize] += 1;
                }
            }
            assert_eq!(counts, months, "{year}");
        }
        for (year, statutory) in STATUTORY_DAYS {
            let weekdays = d(&format!("{year}-01-01"))
                .iter_days()
                .take_while(|x| x.year() == year)
                .filter(|x| !is_weekend(*x))
                .count() as u32;
            assert_eq!(cal.working_days_in_year(year), Some(weekdays - statutory), "{year}");
        }
        assert_eq!(cal.working_days_in_year(2024), Some(251));
        assert_eq!(cal.working_days_in_year(2025), Some(248));
        assert_eq!(cal.working_days_in_year(2026), Some(248));
    }

    #[test]
    fn spot_checks() {
        let cal = shipped();
        // National Day and Mid-Autumn 2025: Oct 1–8 off, Sat Oct 11 worked.
        assert_eq!(cal.add_working_days(d("2025-09-30"), 1).unwrap(), d("2025-10-09"));
        assert_eq!(cal.add_working_days(d("2025-10-10"), 1).unwrap(), d("2025-10-11"));
        // Saturday 2026-02-14 is a make-up day before the Spring Festival (Feb 15–23).
        assert_eq!(cal.add_working_days(d("2026-02-13"), 1).unwrap(), d("2026-02-14"));
        assert_eq!(cal.add_working_days(d("2026-02-14"), 1).unwrap(), d("2026-02-24"));
        assert_eq!(cal.add_working_days(d("2024-12-31"), 1).unwrap(), d("2025-01-02"));
        assert_eq!(cal.add_working_days(d("2025-03-07"), 0).unwrap(), d("2025-03-07"));
        assert_eq!(cal.add_working_days(d("2025-03-08"), 0).unwrap(), d("2025-03-08"));
        // A Friday application, 3 working days: the next Wednesday.
        assert_eq!(cal.add_working_days(d("2025-03-07"), 3).unwrap(), d("2025-03-12"));
        // YXR §16 review: 20 working days from acceptance on 2025-09-26 spans the October break.
        assert_eq!(cal.add_working_days(d("2025-09-26"), 20).unwrap(), d("2025-10-30"));
        assert!(cal.is_workday(d("2024-02-04")).unwrap());
        assert!(cal.is_workday(d("2024-02-09")).unwrap(), "除夕 2024 was only encouraged as a day off");
        assert!(!cal.is_workday(d("2025-01-28")).unwrap(), "除夕 is statutory from 2025");
        assert!(!cal.is_workday(d("2024-06-08")).unwrap());
        assert_eq!(cal.day_kind(d("2026-02-14")).unwrap(), DayKind::MakeupWorkday { name: Some("春节".into()) });
        assert_eq!(cal.day_kind(d("2025-10-06")).unwrap(), DayKind::Holiday { name: Some("国庆节、中秋节".into()) });
        assert_eq!(cal.day_kind(d("2025-03-08")).unwrap(), DayKind::Weekend);
        assert_eq!(cal.day_kind(d("2025-03-07")).unwrap(), DayKind::Workday);
        assert_eq!(cal.working_days_between(d("2025-09-30"), d("2025-10-09")).unwrap(), 1);
        assert_eq!(cal.working_days_between(d("2025-10-09"), d("2025-09-30")).unwrap(), -1);
        assert_eq!(cal.working_days_between(d("2025-10-09"), d("2025-10-09")).unwrap(), 0);
        assert_eq!(cal.working_days_between(d("2024-01-01"), d("2026-12-31")).unwrap(), 251 + 248 + 248);
        assert_eq!(cal.years(), vec![2024, 2025, 2026]);
        assert!(cal.source(2025).unwrap().contains("国办发明电〔2024〕12号"));
    }

    #[test]
    fn counting_forward_and_back_agree() {
        let cal = shipped();
        let mut start = d("2024-01-01");
        while start < d("2026-11-01") {
            for n in [0, 1, 3, 10, 20] {
                let due = cal.add_working_days(start, n).unwrap();
                assert_eq!(cal.working_days_between(start, due).unwrap(), i64::from(n), "{start} + {n}");
                assert!(n == 0 || cal.is_workday(due).unwrap());
            }
            start += Duration::days(5);
        }
    }

    #[test]
    fn unknown_years_are_errors_never_guesses() {
        let cal = shipped();
        let missing = |r: Result<_, CoreError>| match r {
            Err(CoreError::CalendarYearMissing { year }) => year,
            other => panic!("expected a missing year, got {other:?}"),
        };
        assert_eq!(missing(cal.is_workday(d("2023-12-29")).map(drop)), 2023);
        assert_eq!(missing(cal.is_workday(d("2027-01-04")).map(drop)), 2027);
        assert_eq!(missing(cal.add_working_days(d("2023-12-29"), 0).map(drop)), 2023);
        assert_eq!(missing(cal.add_working_days(d("2026-12-30"), 5).map(drop)), 2027);
        assert_eq!(missing(cal.working_days_between(d("2026-12-01"), d("2027-01-10")).map(drop)), 2027);
        assert_eq!(missing(cal.day_kind(d("2027-06-01")).map(drop)), 2027);
        assert_eq!(cal.working_days_in_year(2027), None);
        // A rehearsal may add the year provisionally; shipped years are never replaced.
        let mut rehearsal = cal.clone();
        assert!(!rehearsal.add_provisional_year(2026));
        assert!(rehearsal.add_provisional_year(2027));
        assert_eq!((cal.provisional_years(), rehearsal.provisional_years()), (vec![], vec![2027]));
        assert!(!rehearsal.is_workday(d("2027-01-01")).unwrap(), "元旦");
        assert!(!rehearsal.is_workday(d("2027-10-01")).unwrap(), "国庆节");
        assert!(rehearsal.is_workday(d("2027-01-04")).unwrap());
        assert_eq!(rehearsal.add_working_days(d("2026-12-30"), 2).unwrap(), d("2027-01-04"));
        let e = cal.is_workday(d("2027-01-04")).unwrap_err().to_string();
        assert!(e.contains("2027") && e.contains("calendar"), "{e}");
        assert!(WorkingCalendar::empty().is_workday(d("2025-01-02")).is_err());
    }

    fn year_file(body: &str) -> String {
        format!("year = 2027\nsource = \"test notice\"\n{body}")
    }

    fn load_err(body: &str) -> String {
        WorkingCalendar::from_toml_str(&year_file(body), "2027.toml").unwrap_err().to_string()
    }

    #[test]
    fn bad_files_name_the_file_and_the_date() {
        let cases = [
            ("holidays = [\"2027-01-01\"]\nmakeup_workdays = [\"2027-01-05\"]", "2027-01-05 is a Tue"),
            ("holidays = [\"2028-01-01\"]", "holidays: 2028-01-01 is not in 2027"),
            ("holidays = [\"2027-01-01\"]\nmakeup_workdays = [\"2026-12-26\"]", "2026-12-26 is not in 2027"),
            ("holidays = [\"2027-01-01\", \"2027-01-01\"]", "holidays: 2027-01-01 is listed twice"),
            (
                "holidays = [\"2027-01-02\"]\nmakeup_workdays = [\"2027-01-09\", \"2027-01-09\"]",
                "makeup_workdays: 2027-01-09 is listed twice",
            ),
            (
                "holidays = [\"2027-01-02\"]\nmakeup_workdays = [\"2027-01-02\"]",
                "2027-01-02 is listed both in holidays and in makeup_workdays",
            ),
            ("holidays = [\"2027-02-30\"]", "\"2027-02-30\" is not a date"),
            ("holidays = [\"2027-01-01\"]\nextra = 1", "unknown field `extra`"),
            ("holidays = [\"2027-01-01\", \"2027-01-02\"]\n[[period]]\nname = \"元旦\"\nfrom = \"2027-01-01\"\nto = \"2027-01-01\"", "2027-01-02 is in no [[period]]"),
            ("holidays = [\"2027-01-01\"]\n[[period]]\nname = \"元旦\"\nfrom = \"2027-01-01\"\nto = \"2027-01-03\"", "period 元旦 covers 2027-01-02, which is missing from holidays"),
            ("holidays = [\"2027-01-01\"]\nmakeup_workdays = [\"2027-01-09\"]\n[[period]]\nname = \"元旦\"\nfrom = \"2027-01-01\"\nto = \"2027-01-01\"", "makeup_workdays: 2027-01-09 is in no [[period]]"),
        ];
        for (body, expected) in cases {
            let e = load_err(body);
            assert!(e.starts_with("calendar file 2027.toml: "), "{e}");
            assert!(e.contains(expected), "{e} should contain {expected}");
        }
        // toml places an element's error at its list; the message names the bad value.
        let e = load_err("holidays = [\n\"2027-01-01\",\n\"x\"]");
        assert!(e.contains("line 3: \"x\" is not a date"), "{e}");
        assert!(
            load_err("holidays = [\"2027-01-01\"]\nyear = 2027").contains("line 4"),
            "{}",
            load_err("holidays = []\nyear = 2027")
        );
        let e = WorkingCalendar::from_toml_str("year = 2027\nsource = \" \"\nholidays = []", "y.toml").unwrap_err();
        assert!(e.to_string().contains("source"));
    }

    #[test]
    fn bare_toml_dates_are_accepted() {
        let cal =
            WorkingCalendar::from_toml_str(&year_file("holidays = [2027-01-01]\nmakeup_workdays = []"), "t").unwrap();
        assert!(!cal.is_workday(d("2027-01-01")).unwrap());
        assert!(load_err("holidays = [2027-01-01T10:00:00]").contains("is not a date"));
    }

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("shuyu-cal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_deployment_adds_years_replaces_years_and_overrides_days() {
        let dir = temp_dir("ok");
        std::fs::write(dir.join("2027.toml"), year_file("holidays = [\"2027-01-01\", \"2027-01-02\", \"2027-01-03\"]"))
            .unwrap();
        // A replacement 2025 that (for the test) drops the 2025-04-27 make-up day.
        let replaced = SHIPPED[1].1.replace(", \"2025-04-27\"", "").replace("makeup_workdays = [\"2025-04-27\"]", "");
        std::fs::write(dir.join("2025.toml"), replaced).unwrap();
        std::fs::write(
            dir.join(OVERRIDES_FILE),
            "[[override]]\ndate = \"2026-07-01\"\nworkday = false\nreason = \"台风停工\"\n\n\
             [[override]]\ndate = 2026-07-04\nworkday = true\nreason = \"补班\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("README.md"), "not a calendar file").unwrap();
        let mut cal = shipped();
        cal.load_dir(&dir).unwrap();
        assert_eq!(cal.years(), vec![2024, 2025, 2026, 2027]);
        assert!(!cal.is_workday(d("2027-01-01")).unwrap());
        assert!(cal.is_workday(d("2027-01-04")).unwrap());
        assert!(!cal.is_workday(d("2025-04-27")).unwrap());
        assert!(!cal.is_workday(d("2026-07-01")).unwrap());
        assert!(cal.is_workday(d("2026-07-04")).unwrap());
        assert_eq!(
            cal.day_kind(d("2026-07-01")).unwrap(),
            DayKind::Override { workday: false, reason: "台风停工".into() }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_directory_leaves_the_calendar_unchanged() {
        let cases: [(&str, &str, &str); 5] = [
            ("2027.toml", "year = 2028\nsource = \"x\"\nholidays = []", "the file says year = 2028"),
            ("holidays.toml", "", "expected a year file"),
            (OVERRIDES_FILE, "[[override]]\ndate = \"2030-01-02\"\nworkday = false\nreason = \"x\"", "no data for 2030"),
            (OVERRIDES_FILE, "[[override]]\ndate = \"2026-01-05\"\nworkday = false\nreason = \"\"", "give a reason"),
            (
                OVERRIDES_FILE,
                "[[override]]\ndate = \"2026-01-05\"\nworkday = false\nreason = \"a\"\n[[override]]\ndate = \"2026-01-05\"\nworkday = true\nreason = \"b\"",
                "listed twice",
            ),
        ];
        for (i, (name, text, expected)) in cases.into_iter().enumerate() {
            let dir = temp_dir(&format!("bad{i}"));
            // A good year first, to show that it is not half-applied.
            std::fs::write(dir.join("2029.toml"), "year = 2029\nsource = \"x\"\nholidays = []").unwrap();
            std::fs::write(dir.join(name), text).unwrap();
            let mut cal = shipped();
            let e = cal.load_dir(&dir).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(expected), "{e}");
            assert_eq!(cal.years(), vec![2024, 2025, 2026]);
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let e = shipped().load_dir(Path::new("/nonexistent/shuyu-calendar")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/shuyu-calendar"), "{e}");
    }
}
