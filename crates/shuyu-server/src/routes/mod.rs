//! The JSON API under `/api/v1`, one module per part of the platform.

pub mod analytics;
pub mod attachments;
pub mod audit;
pub mod catalogue;
pub mod certificates;
pub mod consumers;
pub mod dcat;
pub mod health;
pub mod inspections;
pub mod operators;
pub mod organisations;
pub mod oversight;
pub mod personnel;
pub mod platform;
pub mod products;
pub mod quality;
pub mod registrations;
pub mod sandbox;
pub mod session;
pub mod supervision;
pub mod sync;
pub mod transparency;
pub mod users;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

pub fn api(test_clock: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/api/v1/auth/login", post(session::login))
        .route("/api/v1/auth/logout", post(session::logout))
        .route("/api/v1/auth/password", post(session::change_password))
        .route("/api/v1/me", get(session::me))
        .route("/api/v1/organisations", get(organisations::list).post(organisations::create))
        .route("/api/v1/organisations/{id}", get(organisations::get))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{id}", get(users::get))
        .route("/api/v1/users/{id}/unlock", post(users::unlock))
        .route("/api/v1/audit/events", get(audit::query))
        .route("/api/v1/audit/events/{seq}/proof", get(audit::inclusion_proof))
        .route("/api/v1/audit/consistency", get(audit::consistency))
        .route("/api/v1/audit/tree-head", get(audit::latest_tree_head).post(audit::issue_tree_head))
        .route("/api/v1/audit/public-key", get(audit::public_key))
        .route("/api/v1/audit/archives", get(audit::archives))
        .route("/api/v1/calendar/add", get(platform::calendar_add))
        .route("/api/v1/calendar/is-workday", get(platform::calendar_is_workday))
        .route("/api/v1/profile", get(platform::profile))
        .route("/api/v1/clock", get(platform::clock))
        .route("/api/v1/attachments", post(attachments::upload))
        .route("/api/v1/registrations", get(registrations::list).post(registrations::apply))
        .route("/api/v1/registrations/statistics", get(registrations::statistics))
        .route("/api/v1/registrations/export", get(sync::export))
        .route("/api/v1/registrations/{id}", get(registrations::get))
        .route("/api/v1/registrations/{id}/actions/{action}", post(registrations::act))
        .route("/api/v1/certificates", get(certificates::list))
        .route("/api/v1/certificates/{code}", get(certificates::get))
        .route("/api/v1/certificates/{code}/actions/{action}", post(certificates::act))
        .route("/api/v1/public/publicity", get(registrations::publicity))
        .route("/api/v1/public/registrations/status", get(registrations::status))
        .route("/api/v1/public/certificates/{code}", get(certificates::verify))
        .route("/api/v1/public/certificate-key", get(certificates::public_key))
        .route("/api/v1/public/announcements", get(certificates::announcements))
        .route("/api/v1/catalogue", get(catalogue::list).post(catalogue::create))
        .route("/api/v1/catalogue/{id}", get(catalogue::get))
        .route("/api/v1/catalogue/{id}/actions/{action}", post(catalogue::act))
        .route("/api/v1/sharing-requests", get(catalogue::list_sharing).post(catalogue::request_sharing))
        .route("/api/v1/sharing-requests/{id}", get(catalogue::get_sharing))
        .route("/api/v1/sharing-requests/{id}/actions/{action}", post(catalogue::act_sharing))
        .route("/api/v1/public/catalogue", get(catalogue::search))
        .route("/api/v1/public/catalogue/{id}", get(catalogue::public_get))
        .route("/api/v1/public/catalogue/{id}/download", get(catalogue::download))
        .route("/api/v1/public/catalogue/{id}/authorizable", get(catalogue::authorizable))
        .route("/api/v1/public/catalogue/{id}/dcat", get(dcat::entry))
        .route("/api/v1/public/catalogue/{id}/applications", post(catalogue::apply_open_data))
        .route("/api/v1/open-data-applications", get(catalogue::list_open_data))
        .route("/api/v1/open-data-applications/{id}", get(catalogue::get_open_data))
        .route("/api/v1/open-data-applications/{id}/actions/{action}", post(catalogue::act_open_data))
        .route("/api/v1/open-data-applications/{id}/download", get(catalogue::download_granted))
        .route("/api/v1/public/dcat", get(dcat::catalog))
        .route("/api/v1/programmes", get(operators::list_programmes).post(operators::create_programme))
        .route("/api/v1/programmes/{id}", get(operators::get_programme))
        .route("/api/v1/programmes/{id}/actions/{action}", post(operators::act_programme))
        .route("/api/v1/announcements", post(operators::create_announcement))
        .route("/api/v1/public/announcements/operators", get(operators::list_announcements))
        .route("/api/v1/announcements/{id}/applications", get(operators::list_applications).post(operators::apply))
        .route("/api/v1/announcements/{id}/results", post(operators::publish_results))
        .route(
            "/api/v1/announcements/{id}/objections",
            get(operators::list_objections).post(operators::object_to_selection),
        )
        .route("/api/v1/selection-objections/{id}/decide", post(operators::decide_objection))
        .route("/api/v1/operator-applications/{id}/scores", post(operators::score))
        .route("/api/v1/operator-lists", post(operators::import_list))
        .route("/api/v1/organisations/{id}/revocations", post(operators::record_revocation))
        .route("/api/v1/organisations/{id}/actions/{action}", post(operators::supervise))
        .route("/api/v1/agreements", get(operators::list_agreements).post(operators::create_agreement))
        .route("/api/v1/agreements/{id}", get(operators::get_agreement))
        .route("/api/v1/agreements/{id}/actions/{action}", post(operators::act_agreement))
        .route("/api/v1/personnel", get(personnel::list))
        .route("/api/v1/personnel/{user_id}", get(personnel::get))
        .route("/api/v1/personnel/{user_id}/actions/{action}", post(personnel::act))
        .route("/api/v1/organisations/{id}/operation-reports/draft", get(oversight::report_draft))
        .route("/api/v1/organisations/{id}/operation-reports", post(oversight::submit_report))
        .route("/api/v1/organisations/{id}/evaluations", post(oversight::record_evaluation))
        .route("/api/v1/organisations/{id}/emergency-plan", post(oversight::submit_plan))
        .route("/api/v1/organisations/{id}/emergency-plan/approve", post(oversight::approve_plan))
        .route("/api/v1/organisations/{id}/operating-status", get(oversight::operating_status))
        .route("/api/v1/agreements/{id}/processors", get(oversight::list_processors).post(oversight::bind_processor))
        .route("/api/v1/catalogue/{id}/datasets", get(sandbox::list_datasets).post(sandbox::ingest_dataset))
        .route("/api/v1/grants", get(sandbox::list_grants).post(sandbox::request_grant))
        .route("/api/v1/grants/{id}", get(sandbox::get_grant))
        .route("/api/v1/grants/{id}/reviews", post(sandbox::review_grant))
        .route("/api/v1/grants/{id}/revoke", post(sandbox::revoke_grant))
        .route("/api/v1/grants/{id}/privacy-budget", get(sandbox::get_budget).post(sandbox::allot_budget))
        .route("/api/v1/workspaces", get(sandbox::list_workspaces).post(sandbox::create_workspace))
        .route("/api/v1/workspaces/{id}", get(sandbox::get_workspace))
        .route("/api/v1/workspaces/{id}/grants", post(sandbox::attach_grant))
        .route("/api/v1/workspaces/{id}/queries", post(sandbox::run_query))
        .route("/api/v1/workspaces/{id}/queries/{query_id}/cancel", post(sandbox::cancel_query))
        .route("/api/v1/workspaces/{id}/seal", post(sandbox::seal_workspace))
        .route("/api/v1/workspaces/{id}/unseal", post(sandbox::unseal_workspace))
        .route("/api/v1/workspaces/{id}/risk-reports", post(sandbox::report_risk))
        .route("/api/v1/workspaces/{id}/destroy", post(sandbox::destroy_workspace))
        .route("/api/v1/workspaces/{id}/exports", post(sandbox::request_export))
        .route("/api/v1/workspaces/{id}/uploads", post(sandbox::upload_data))
        .route("/api/v1/workspaces/{id}/tables/{table}/grade", post(sandbox::grade_table))
        .route("/api/v1/workspaces/{id}/models", post(sandbox::train_model))
        .route("/api/v1/uploads/{id}/review", post(sandbox::review_upload))
        .route("/api/v1/exports", get(sandbox::list_exports))
        .route("/api/v1/exports/trace", post(sandbox::trace_export))
        .route("/api/v1/exports/{id}", get(sandbox::get_export))
        .route("/api/v1/exports/{id}/review", post(sandbox::review_export))
        .route("/api/v1/exports/{id}/download", get(sandbox::download_export))
        .route("/api/v1/public/destruction-certificates/{id}", get(sandbox::get_destruction_certificate))
        .route("/api/v1/products", get(products::list).post(products::create))
        .route("/api/v1/products/{id}", get(products::get))
        .route("/api/v1/products/{id}/versions", post(products::new_version))
        .route("/api/v1/products/{id}/versions/{version}/reviews", post(products::review))
        .route("/api/v1/products/{id}/versions/{version}/actions/{action}", post(products::act))
        .route("/api/v1/products/{id}/suspend", post(products::suspend))
        .route("/api/v1/products/{id}/reinstate", post(products::reinstate))
        .route("/api/v1/products/{id}/price-cap", post(products::set_price_cap))
        .route("/api/v1/products/{id}/listing", get(products::listing))
        .route("/api/v1/market/products", get(products::market))
        .route("/api/v1/market/products/{id}", get(products::market_product))
        .route("/api/v1/public/disclosure", get(products::disclosure))
        .route("/api/v1/consumer-applications", get(consumers::list_applications).post(consumers::apply))
        .route("/api/v1/consumer-applications/{id}", get(consumers::get_application))
        .route("/api/v1/consumer-applications/{id}/decision", post(consumers::decide))
        .route("/api/v1/contracts", get(consumers::list_contracts))
        .route("/api/v1/contracts/{id}", get(consumers::get_contract))
        .route("/api/v1/contracts/{id}/suspend", post(consumers::suspend_contract))
        .route("/api/v1/contracts/{id}/resume", post(consumers::resume_contract))
        .route("/api/v1/contracts/{id}/keys", post(consumers::create_key))
        .route("/api/v1/contracts/{id}/statements", post(consumers::issue_statement))
        .route("/api/v1/api-keys/{id}/revoke", post(consumers::revoke_key))
        .route("/api/v1/statements/{id}/pay", post(consumers::pay_statement))
        .route("/api/v1/ledger", get(consumers::ledger))
        .route("/api/v1/organisations/{id}/allowed-revenue", post(consumers::set_allowed_revenue))
        .route("/api/v1/audit/events/{seq}", delete(supervision::delete_event))
        .route("/api/v1/alerts", get(supervision::list))
        .route("/api/v1/alerts/{id}", get(supervision::get))
        .route("/api/v1/alerts/{id}/actions/{action}", post(supervision::act))
        .route("/api/v1/monitoring", get(supervision::status))
        .route("/api/v1/analytics", get(analytics::overview))
        .route("/api/v1/analytics/{table}", get(analytics::csv))
        .route("/api/v1/annual-report", get(transparency::annual))
        .route("/api/v1/inspections", get(inspections::list).post(inspections::plan))
        .route("/api/v1/inspections/{id}", get(inspections::get))
        .route("/api/v1/inspections/{id}/findings", post(inspections::add_finding))
        .route("/api/v1/inspection-findings/{id}/rectification", post(inspections::rectify))
        .route("/api/v1/inspection-findings/{id}/decision", post(inspections::decide))
        .route("/api/v1/organisations/{id}/security-reports/draft", get(inspections::report_draft))
        .route(
            "/api/v1/organisations/{id}/security-reports",
            get(inspections::list_reports).post(inspections::submit_report),
        )
        .route("/api/v1/public/data-requests", post(transparency::submit))
        .route("/api/v1/public/data-requests/{id}", get(transparency::status))
        .route("/api/v1/public/access-statistics", get(transparency::statistics))
        .route("/api/v1/data-requests", get(transparency::list))
        .route("/api/v1/data-requests/{id}/assign", post(transparency::assign))
        .route("/api/v1/data-requests/{id}/answer", post(transparency::answer))
        .route("/api/v1/public/quality", get(quality::scores))
        .route("/api/v1/public/catalogue/{id}/quality", get(quality::entry_quality))
        .route("/api/v1/public/catalogue/{id}/quality-issues", post(quality::file_public_issue))
        .route("/api/v1/catalogue/{id}/quality-issues", post(quality::file_issue))
        .route("/api/v1/quality-issues", get(quality::list))
        .route("/api/v1/quality-issues/{id}", get(quality::get))
        .route("/api/v1/quality-issues/{id}/answer", post(quality::answer))
        .route("/api/v1/quality-issues/{id}/close", post(quality::close))
        .route("/data-api/v1/{product}/{version}", get(crate::interface::call))
        .route("/data-api/v1/{product}/{version}/openapi.json", get(crate::interface::openapi))
        .route("/data-api/v1/{product}/{version}/file", get(crate::interface::file))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/openapi.json", get(health::openapi));
    // Without the flag the route does not exist at all, so no production server can move time.
    if test_clock {
        router.route("/api/v1/admin/test-clock", post(platform::move_test_clock))
    } else {
        router
    }
}
