//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::routes::{
    analytics, attachments, audit, catalogue, certificates, consumers, dcat, inspections, operators, organisations,
    oversight, personnel, platform, products, quality, registrations, sandbox, session, supervision, sync,
    transparency, users,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Shuyu API", description = "数域：公共数据授权运营平台 / Public data authorized operation platform"),
    paths(
        session::login, session::logout, session::me, session::change_password,
        users::list, users::get, users::create, users::unlock,
        organisations::list, organisations::get, organisations::create,
        audit::query, audit::inclusion_proof, audit::consistency, audit::latest_tree_head,
        audit::issue_tree_head, audit::public_key, audit::archives,
        platform::calendar_add, platform::calendar_is_workday, platform::profile, platform::clock,
        platform::move_test_clock,
        attachments::upload,
        registrations::apply, registrations::list, registrations::get, registrations::act,
        registrations::statistics, registrations::publicity, registrations::status,
        certificates::verify, certificates::public_key, certificates::announcements,
        certificates::list, certificates::get, certificates::act,
        catalogue::create, catalogue::list, catalogue::get, catalogue::act,
        catalogue::request_sharing, catalogue::list_sharing, catalogue::get_sharing, catalogue::act_sharing,
        catalogue::search, catalogue::public_get, catalogue::download, catalogue::authorizable,
        dcat::catalog, dcat::entry, sync::export,
        catalogue::apply_open_data, catalogue::list_open_data, catalogue::get_open_data, catalogue::act_open_data,
        catalogue::download_granted,
        operators::create_programme, operators::list_programmes, operators::get_programme, operators::act_programme,
        operators::create_announcement, operators::list_announcements, operators::apply, operators::import_list,
        operators::record_revocation, operators::supervise, operators::create_agreement, operators::get_agreement,
        operators::act_agreement, personnel::get, personnel::act, personnel::list, operators::list_applications, operators::score,
        operators::publish_results, operators::list_agreements, operators::object_to_selection,
        operators::list_objections, operators::decide_objection,
        oversight::report_draft, oversight::submit_report, oversight::record_evaluation, oversight::bind_processor,
        oversight::list_processors, oversight::submit_plan, oversight::approve_plan, oversight::operating_status,
        sandbox::ingest_dataset, sandbox::list_datasets, sandbox::request_grant, sandbox::list_grants,
        sandbox::get_grant, sandbox::review_grant, sandbox::revoke_grant, sandbox::get_budget, sandbox::allot_budget, sandbox::train_model, sandbox::create_workspace,
        sandbox::list_workspaces, sandbox::get_workspace, sandbox::attach_grant, sandbox::run_query,
        sandbox::seal_workspace, sandbox::unseal_workspace, sandbox::report_risk, sandbox::destroy_workspace,
        sandbox::get_destruction_certificate, sandbox::request_export, sandbox::list_exports, sandbox::get_export,
        sandbox::review_export, sandbox::download_export, sandbox::trace_export, sandbox::upload_data,
        sandbox::review_upload, sandbox::cancel_query, sandbox::grade_table,
        products::create, products::list, products::get, products::new_version, products::act, products::review,
        products::suspend, products::reinstate, products::set_price_cap, products::market, products::market_product,
        products::listing, products::disclosure,
        consumers::apply, consumers::list_applications, consumers::get_application, consumers::decide,
        consumers::list_contracts, consumers::get_contract, consumers::suspend_contract, consumers::resume_contract,
        consumers::create_key, consumers::revoke_key, consumers::issue_statement, consumers::pay_statement,
        consumers::ledger, consumers::set_allowed_revenue,
        analytics::overview, analytics::csv, transparency::annual, transparency::submit, transparency::status,
        transparency::statistics, transparency::list, transparency::assign, transparency::answer,
        inspections::plan, inspections::list, inspections::get, inspections::add_finding, inspections::rectify,
        inspections::decide, inspections::report_draft, inspections::submit_report, inspections::list_reports,
        supervision::list, supervision::get, supervision::act, supervision::status, supervision::delete_event,
        quality::entry_quality, quality::scores, quality::file_issue, quality::file_public_issue, quality::list,
        quality::get, quality::answer, quality::close,
    ),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "session", description = "Sign-in and the caller's account"),
        (name = "users", description = "Accounts, roles and real-name records"),
        (name = "organisations", description = "Organisations"),
        (name = "audit", description = "Tamper-evident audit log"),
        (name = "calendar", description = "Working-day calendar"),
        (name = "platform", description = "Profile, clock"),
        (name = "catalogue", description = "Data resource catalogue, sharing between agencies, open data (WH §10–§26)"),
        (name = "operators", description = "Programmes, announcements, applications, agreements, supervision of operators (SPEC §3)"),
        (name = "registration", description = "Registration applications, objections, publicity (YXR §14–§22)"),
        (name = "certificate", description = "Registration certificates: verification, renewal, revocation (YXR §23, §27)"),
        (name = "sandbox", description = "The sandbox: datasets, grants, workspaces, governed SQL, sealing (SPEC §4)"),
        (name = "products", description = "Products, review, marketplace, consumers, contracts, keys, statements, the revenue ledger (SPEC §5); each published interface documents itself at /data-api/v1/{product}/{version}/openapi.json"),
    )
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
