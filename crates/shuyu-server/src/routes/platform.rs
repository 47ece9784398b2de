//! Platform-wide facts: the working-day calendar, the policy profile, the clock, and the test
//! clock for rehearsing deadlines.

use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::clock::{format_instant, parse_instant};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

fn parse_date(field: &str, s: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        ApiError::validation(vec![FieldProblem::new(field, "use YYYY-MM-DD", "请使用 YYYY-MM-DD 日期格式")])
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AddQuery {
    /// Start date, YYYY-MM-DD.
    pub date: String,
    /// Working days to add (0–3650).
    pub n: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddResult {
    pub date: String,
    pub n: u32,
    /// The date `n` working days after `date`.
    pub result: String,
}

/// The date N working days after a date (weekends, statutory holidays and 调休 observed).
#[utoipa::path(get, path = "/api/v1/calendar/add", tag = "calendar", params(AddQuery),
    responses((status = 200, body = AddResult), (status = 422, body = ErrorBody)))]
pub async fn calendar_add(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AddQuery>,
) -> ApiResult<Json<AddResult>> {
    app.authorize(&caller, Action::CalendarRead, &Resource::platform()).await?;
    let date = parse_date("date", &q.date)?;
    if q.n > 3650 {
        return Err(ApiError::validation(vec![FieldProblem::new("n", "at most 3650", "不超过 3650")]));
    }
    let result = app.calendar.add_working_days(date, q.n)?;
    Ok(Json(AddResult { date: q.date, n: q.n, result: result.to_string() }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DateQuery {
    pub date: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkdayResult {
    pub date: String,
    pub workday: bool,
}

/// Whether a date is a working day.
#[utoipa::path(get, path = "/api/v1/calendar/is-workday", tag = "calendar", params(DateQuery),
    responses((status = 200, body = WorkdayResult), (status = 422, body = ErrorBody)))]
pub async fn calendar_is_workday(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DateQuery>,
) -> ApiResult<Json<WorkdayResult>> {
    app.authorize(&caller, Action::CalendarRead, &Resource::platform()).await?;
    let date = parse_date("date", &q.date)?;
    Ok(Json(WorkdayResult { date: q.date, workday: app.calendar.is_workday(date)? }))
}

/// The policy profile in force: every deadline, term and threshold the workflows use.
#[utoipa::path(get, path = "/api/v1/profile", tag = "platform",
    responses((status = 200, description = "the policy profile"), (status = 401, body = ErrorBody)))]
pub async fn profile(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<serde_json::Value>> {
    app.authorize(&caller, Action::ProfileRead, &Resource::platform()).await?;
    Ok(Json(serde_json::to_value(&app.profile).map_err(|_| ApiError::internal())?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    pub now: String,
    /// Today in China Standard Time, the date deadlines count from.
    pub today: String,
    pub test_clock: bool,
}

fn clock_view(app: &AppState) -> ClockView {
    ClockView {
        now: format_instant(app.clock.now()),
        today: app.clock.today().to_string(),
        test_clock: app.test_clock.is_some(),
    }
}

/// The platform's current time.
#[utoipa::path(get, path = "/api/v1/clock", tag = "platform", responses((status = 200, body = ClockView)))]
pub async fn clock(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<ClockView>> {
    app.authorize(&caller, Action::ClockRead, &Resource::platform()).await?;
    Ok(Json(clock_view(&app)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestClockMove {
    /// Move forward this many calendar days.
    pub advance_days: Option<i64>,
    /// Or set the time (RFC 3339).
    pub set: Option<String>,
}

/// Moves the test clock (only with `shuyu serve --test-clock`), then runs every transition
/// that has fallen due.
#[utoipa::path(post, path = "/api/v1/admin/test-clock", tag = "platform", request_body = TestClockMove,
    responses((status = 200, body = ClockView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn move_test_clock(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TestClockMove>,
) -> ApiResult<Json<ClockView>> {
    app.authorize(&caller, Action::AdminTestClock, &Resource::platform()).await?;
    let Some(test_clock) = app.test_clock.clone() else {
        return Err(ApiError::new(axum::http::StatusCode::NOT_FOUND, "test_clock_disabled"));
    };
    let before = app.clock.now();
    match (req.advance_days, req.set.as_deref()) {
        (Some(days), None) if (0..=3650).contains(&days) => test_clock.advance_days(days),
        (None, Some(s)) => match parse_instant(s) {
            Some(t) => test_clock.set(t),
            None => {
                return Err(ApiError::validation(vec![FieldProblem::new(
                    "set",
                    "use an RFC 3339 instant",
                    "请使用 RFC 3339 时间格式",
                )]))
            }
        },
        _ => {
            return Err(ApiError::validation(vec![FieldProblem::new(
                "advance_days",
                "give either advance_days (0–3650) or set",
                "请给出 advance_days（0–3650）或 set 之一",
            )]))
        }
    }
    app.store
        .record(
            app.clock.now(),
            &caller.ctx,
            Action::AdminTestClock.as_str(),
            "platform:shuyu",
            Outcome::Success,
            json!({"from": format_instant(before), "to": format_instant(app.clock.now())}),
        )
        .await?;
    crate::scheduler::run_due(&app).await;
    Ok(Json(clock_view(&app)))
}
