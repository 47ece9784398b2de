//! Start-up accounts: the bootstrap administrator of a real deployment, and the demo's
//! organisations with one person per role.

use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_core::ids::OrgId;
use shuyu_core::roles::{OrgKind, Role};
use shuyu_core::validators::{ResidentId, Uscc};
use shuyu_store::organisations::{self, Organisation};
use shuyu_store::users::{self, UserRecord};
use shuyu_store::{AuditContext, WriteTx};

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;

/// A person the demo created, printed for the user to sign in with.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub organisation: String,
}

const ORGS: &[(OrgKind, &str, &str)] = &[
    (OrgKind::Authority, "市数据局", "91320200MA1"),
    (OrgKind::SourceDepartment, "市公安局", "11320200MB0"),
    (OrgKind::IndustryDepartment, "市交通运输局", "11320200MB1"),
    (OrgKind::ImplementingAgency, "市大数据集团有限公司", "91320200MA2"),
    (OrgKind::Registry, "市数据资源登记中心", "12320200MB2"),
    (OrgKind::Operator, "数智城市运营有限公司", "91320200MA3"),
    (OrgKind::Processor, "星河数据科技有限公司", "91320200MA4"),
    (OrgKind::SecurityAuditor, "市委网信办", "11320200MB3"),
    (OrgKind::ExpertPanel, "公共数据授权运营专家委员会", "51320200MB4"),
    (OrgKind::Consumer, "普惠金融服务有限公司", "91320200MA5"),
];

const PEOPLE: &[(Role, &str, &str, &str)] = &[
    (Role::Admin, "admin", "系统管理员", "王建国"),
    (Role::AuthorityOfficer, "authority", "数据局审核员", "李明"),
    (Role::SourceSteward, "steward", "公安局数据管理员", "张伟"),
    (Role::IndustryOfficer, "industry", "交通局审核员", "刘洋"),
    (Role::ImplementingOfficer, "implementer", "实施机构经办人", "陈静"),
    (Role::Registrar, "registrar", "登记审核员", "杨帆"),
    (Role::OperatorAdmin, "operator", "运营机构管理员", "赵磊"),
    (Role::OperatorAnalyst, "analyst", "运营分析师", "黄敏"),
    (Role::ProcessorAnalyst, "processor", "加工分析师", "周杰"),
    (Role::SecurityAuditor, "auditor", "安全审计员", "吴刚"),
    (Role::Expert, "expert", "评审专家", "郑华"),
    (Role::Consumer, "consumer", "数据使用方开发者", "孙丽"),
];

/// Completes a 17-character body with the check character that makes it valid.
fn complete<T>(body: &str, parse: impl Fn(&str) -> Result<T, shuyu_core::CoreError>) -> Option<String> {
    "0123456789ABCDEFGHJKLMNPQRTUWXY".chars().map(|c| format!("{body}{c}")).find(|candidate| parse(candidate).is_ok())
}

fn uscc_for(prefix: &str, n: usize) -> Option<String> {
    complete(&format!("{prefix}{n:06}"), |s| Uscc::parse(s).map_err(Into::into))
}

fn resident_id_for(n: usize) -> Option<String> {
    // Wuxi (320200), born 1985-2-n.
    complete(&format!("32020219850{:03}{:03}", 200 + n, 100 + n), |s| ResidentId::parse(s).map_err(Into::into))
}

fn mobile_for(n: usize) -> String {
    format!("1380000{:04}", 1000 + n)
}

fn demo_password(username: &str) -> String {
    format!("{username}-demo-2026")
}

/// One account to create.
struct Person<'a> {
    role: Role,
    username: &'a str,
    display_name: &'a str,
    password: &'a str,
    /// Real name and an index that makes the person's generated identifiers unique.
    real_name: Option<(&'a str, usize)>,
}

async fn insert_user(tx: &mut WriteTx, ctx: &AuditContext, org: &Organisation, p: Person<'_>) -> Result<(), ApiError> {
    let now = tx.now();
    let Person { role, username, display_name, password, real_name } = p;
    let password_hash = auth::hash_password_blocking(password.to_string()).await?;
    let user = UserRecord {
        real_name: real_name.map(|(n, _)| n.to_string()),
        resident_id: real_name.and_then(|(_, i)| resident_id_for(i)),
        phone: real_name.map(|(_, i)| mobile_for(i)),
        ..UserRecord::new_account(org.id, username.into(), display_name.into(), password_hash, vec![role], now)
    };
    users::insert(tx.conn(), &user).await?;
    tx.audit(ctx, "user.create", &user.id.resource(), Outcome::Success, json!({"username": username, "roles": [role]}))
        .await?;
    Ok(())
}

/// Creates the first administrator when there are no accounts yet. Returns the password
/// when one was generated, for the operator's terminal only (never the log).
pub async fn bootstrap_admin(state: &AppState, password: Option<String>) -> Result<Option<String>, ApiError> {
    let mut tx = state.begin().await?;
    if users::count(tx.conn()).await? > 0 {
        return Ok(None);
    }
    let ctx = AuditContext::system("bootstrap");
    let org = Organisation {
        id: OrgId::new(),
        name: "数据主管部门".into(),
        kind: OrgKind::Authority,
        uscc: None,
        created_at: tx.now(),
    };
    organisations::insert(tx.conn(), &org).await?;
    tx.audit(&ctx, "organisation.create", &org.id.resource(), Outcome::Success, json!({"name": org.name})).await?;
    let generated = password.is_none();
    let password = password.unwrap_or_else(auth::new_token);
    let admin = Person {
        role: Role::Admin,
        username: "admin",
        display_name: "系统管理员",
        password: &password,
        real_name: None,
    };
    insert_user(&mut tx, &ctx, &org, admin).await?;
    tx.commit().await?;
    Ok(generated.then_some(password))
}

/// Seeds the demo organisations and one person per role; does nothing if accounts exist.
pub async fn seed(state: &AppState) -> Result<Vec<DemoAccount>, ApiError> {
    let mut tx = state.begin().await?;
    let ctx = AuditContext::system("demo-seed");
    let mut accounts = Vec::new();
    if users::count(tx.conn()).await? > 0 {
        return Ok(accounts);
    }
    let mut orgs = Vec::new();
    for (i, (kind, name, prefix)) in ORGS.iter().enumerate() {
        let org = Organisation {
            id: OrgId::new(),
            name: (*name).into(),
            kind: *kind,
            uscc: uscc_for(prefix, i + 1),
            created_at: tx.now(),
        };
        organisations::insert(tx.conn(), &org).await?;
        tx.audit(
            &ctx,
            "organisation.create",
            &org.id.resource(),
            Outcome::Success,
            json!({"name": org.name, "kind": kind}),
        )
        .await?;
        orgs.push(org);
    }
    for (i, (role, username, display, real)) in PEOPLE.iter().enumerate() {
        let Some(org) = orgs.iter().find(|o| o.kind == role.org_kind()) else { continue };
        let password = demo_password(username);
        let person = Person {
            role: *role,
            username,
            display_name: display,
            password: &password,
            real_name: Some((real, i + 1)),
        };
        insert_user(&mut tx, &ctx, org, person).await?;
        accounts.push(DemoAccount {
            username: (*username).into(),
            password,
            role: *role,
            organisation: org.name.clone(),
        });
    }
    tx.commit().await?;
    Ok(accounts)
}

/// A published catalogue entry for the demo: `(name, industry, share, open, frequency, fields)`.
type DemoEntry =
    (&'static str, &'static str, &'static str, &'static str, &'static str, &'static [(&'static str, &'static str, u8)]);

const DEMO_ENTRIES: &[DemoEntry] = &[
    (
        "市场主体登记信息",
        "S92",
        "unconditional",
        "conditional",
        "daily",
        &[
            ("uscc", "统一社会信用代码", 1),
            ("name", "企业名称", 1),
            ("legal_rep_id", "法定代表人身份证号", 4),
            ("industry", "国民经济行业分类代码", 1),
            ("registered_capital", "注册资本（元）", 1),
            ("status", "登记状态", 1),
        ],
    ),
    (
        "常住人口基本信息",
        "S92",
        "conditional",
        "conditional",
        "daily",
        &[
            ("resident_id", "公民身份号码", 4),
            ("name", "姓名", 3),
            ("gender", "性别", 2),
            ("birth_date", "出生日期", 3),
            ("mobile", "手机号码", 3),
            ("address", "居住地址", 3),
            ("household_id", "户号", 2),
        ],
    ),
    (
        "公交线路与站点",
        "G54",
        "unconditional",
        "unconditional",
        "monthly",
        &[("line", "线路编号", 1), ("stop", "站点名称", 1), ("lng", "经度", 1), ("lat", "纬度", 1)],
    ),
    (
        "不动产登记信息",
        "K70",
        "conditional",
        "not_allowed",
        "daily",
        &[("parcel", "不动产单元号", 2), ("owner_id", "权利人身份证号", 4)],
    ),
    (
        "医疗机构执业信息",
        "Q84",
        "unconditional",
        "unconditional",
        "quarterly",
        &[("licence", "执业许可证号", 1), ("name", "机构名称", 1), ("beds", "核定床位", 1)],
    ),
    (
        "企业用电量统计",
        "D44",
        "conditional",
        "conditional",
        "monthly",
        &[("uscc", "统一社会信用代码", 1), ("kwh", "月用电量", 2)],
    ),
    (
        "空气质量监测",
        "N77",
        "unconditional",
        "unconditional",
        "realtime",
        &[("station", "监测站点", 1), ("aqi", "空气质量指数", 1), ("pm25", "PM2.5浓度", 1)],
    ),
];

fn demo_metadata(entry: &DemoEntry, region: &str) -> Result<shuyu_core::catalogue::EntryMetadata, ApiError> {
    let (name, industry, share, open, frequency, fields) = entry;
    let fields: Vec<_> = fields
        .iter()
        .map(|(n, d, level)| {
            // The demo's fields match `shuyu gen`'s columns, so generated files load as they are.
            let pii = match (*n, *level) {
                (_, 4) => Some("resident_id"),
                ("name", 3) => Some("name"),
                ("mobile", _) => Some("mobile"),
                ("address", _) => Some("address"),
                _ => None,
            };
            let kind = match *n {
                "registered_capital" => "integer",
                "birth_date" => "date",
                _ => "string",
            };
            json!({"name": n, "type": kind, "description": d, "sensitivity": level, "pii": pii})
        })
        .collect();
    serde_json::from_value(json!({
        "name": name,
        "description": format!("{name}（演示数据）"),
        "tags": ["演示", "demo"],
        "industry": industry,
        "scenarios": ["城市治理"],
        "source": "数源部门业务系统",
        "fields": fields,
        "records": 100000,
        "region": region,
        "update_frequency": frequency,
        "share_class": share,
        "open_class": open,
        "acquisition_mode": "authorized_operation",
        "storage": "市政务云",
        "grade": "general"
    }))
    .map_err(|e| ApiError::bad_request(&e.to_string()))
}

/// Published catalogue entries (one with an open dataset) and two registrations, one in
/// publicity, so every screen has something to show. Only for `shuyu demo`; tests start empty.
pub async fn seed_showcase(state: &AppState) -> Result<(), ApiError> {
    use shuyu_core::catalogue::{Entry, EntryState};
    use shuyu_store::catalogue::{self as cat, EntryRecord};

    let ctx = AuditContext::system("demo-seed");
    let mut tx = state.begin().await?;
    let all = organisations::list(tx.conn()).await?;
    let Some(holder) = all.iter().find(|o| o.kind == OrgKind::SourceDepartment).cloned() else { return Ok(()) };
    let steward = users::find_by_username(tx.conn(), "steward").await?;
    let authority = users::find_by_username(tx.conn(), "authority").await?;
    let (Some(steward), Some(authority)) = (steward, authority) else { return Ok(()) };
    let region = state.profile.certificate.region_code.clone();
    let now = tx.now();
    let mut first_entry = None;
    for (i, entry) in DEMO_ENTRIES.iter().enumerate() {
        let meta = demo_metadata(entry, &region)?;
        let mut e = EntryRecord {
            id: uuid::Uuid::now_v7().to_string(),
            holder_org: holder.id,
            workflow: Entry { state: EntryState::Published, ..Entry::new() },
            published: Some(meta.clone()),
            pending: None,
            late_submission: false,
            decision_reason: None,
            overdue_since: None,
            open_data: None,
            published_version: 1,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        if i == 1 {
            let content = b"line,stop,lng,lat\n1,Central Station,120.30,31.57\n1,Xihu Road,120.31,31.58\n".to_vec();
            let a = shuyu_store::attachments::Attachment::for_content(
                holder.id,
                steward.id,
                "bus-stops.csv".into(),
                "text/csv".into(),
                &content,
                now,
            )?;
            let stored = crate::routes::attachments::keep(state, &a, content.into()).await?;
            shuyu_store::attachments::insert(tx.conn(), &a, &stored).await?;
            e.open_data = Some(a.id.to_string());
        }
        e.workflow.ever_published = true;
        cat::insert(tx.conn(), &e).await?;
        cat::add_version(tx.conn(), &e.id, 1, &meta, authority.id, now).await?;
        tx.audit(
            &ctx,
            "catalogue.published",
            &format!("catalogue_entry:{}", e.id),
            Outcome::Success,
            json!({"name": meta.name}),
        )
        .await?;
        first_entry.get_or_insert(e.id.clone());
    }
    tx.commit().await?;
    crate::catalogue::rebuild_index(state).await?;

    // A first registration of the first entry, accepted and in publicity, and one awaiting the
    // registry's acceptance decision.
    use shuyu_core::registration::{Command, Registration, RegistrationType};
    use shuyu_store::registrations::{self, RegistrationRecord};
    let today = state.clock.today();
    for (name, publicise) in [("市场主体登记信息", true), ("医疗机构执业信息", false)] {
        let rec = RegistrationRecord {
            id: shuyu_core::ids::RegistrationId::new(),
            query_code: crate::routes::registrations::new_query_code(),
            workflow: Registration::new(RegistrationType::First, today),
            subject_kind: shuyu_core::certificate::SubjectKind::DataResource,
            applicant_org: holder.id,
            applicant_user: steward.id,
            certificate_code: None,
            catalogue_entry_id: first_entry.clone(),
            product: None,
            subject_name: name.into(),
            summary: format!("{name}，覆盖全市，按规定更新（演示数据）"),
            industry: "S92".into(),
            region: region.clone(),
            facts: json!({"scenarios": "城市治理"}),
            materials: Vec::new(),
            operation_term_end: None,
            missing: Vec::new(),
            decision_ground: None,
            decision_reason: None,
            overdue_since: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = state.begin().await?;
        let timer = crate::registry::registration_timer(state, &rec)?;
        registrations::insert(tx.conn(), &rec).await?;
        shuyu_store::timers::set(tx.conn(), crate::registry::REGISTRATION, &rec.id.to_string(), timer.as_ref()).await?;
        tx.audit(&ctx, "registration.submitted", &rec.id.resource(), Outcome::Success, json!({"subject_name": name}))
            .await?;
        if publicise {
            for command in [Command::Accept, Command::StartPublicity] {
                crate::registry::transition(state, &mut tx, &ctx, rec.id, &command, json!({}), |_| {}).await?;
            }
        }
        tx.commit().await?;
    }

    // An approved programme over the first entry and an announcement open for a month, so an
    // operator can apply at once.
    let agency = all.iter().find(|o| o.kind == OrgKind::ImplementingAgency).cloned();
    if let (Some(agency), Some(entry)) = (agency, first_entry) {
        let content = json!({
            "name": "普惠金融公共数据授权运营实施方案（演示）",
            "operator_criteria": "符合授权运营单位条件，具备金融科技服务能力",
            "mode": "domain",
            "data_scope": [entry],
            "term_years": 2,
            "public_products": ["小微企业信用报告"],
            "industry_products": ["企业授信评分接口"],
            "cost_accounting": "按数据治理与平台运维成本核算",
            "revenue_split": {"owner": 30, "operator": 60, "processor": 10},
            "security_measures": "授权运营域内加工，原始数据不出域",
            "evaluation_rules": "年度第三方评估",
            "exit_arrangements": "到期关闭权限、删除数据、移交成果",
            "feasibility": {"lifecycle_services": "全流程服务", "social_demand": "小微企业融资需求",
                            "market_size": "全市十万户", "expected_outcomes": "授信效率提升",
                            "benefits": "降低融资成本", "risk_control": "分级分类管控"}
        });
        let programme = shuyu_store::operators::ProgrammeRecord {
            id: uuid::Uuid::now_v7().to_string(),
            version: 1,
            supersedes: None,
            owner_org: agency.id,
            state: shuyu_core::operators::ProgrammeState::Approved,
            content,
            decision_record: Some("演示：市政府常务会议纪要".into()),
            submitted_on: Some(today),
            approved_on: Some(today),
            created_at: now,
        };
        let announcement = shuyu_store::operators::Announcement {
            id: uuid::Uuid::now_v7().to_string(),
            programme_id: programme.id.clone(),
            title: "普惠金融领域公共数据授权运营单位征集（演示）".into(),
            opens_on: today,
            closes_on: today.checked_add_days(chrono::Days::new(30)).unwrap_or(today),
            results_from: None,
            results_until: None,
        };
        let mut tx = state.begin().await?;
        shuyu_store::operators::insert_programme(tx.conn(), &programme).await?;
        tx.audit(&ctx, "programme.approve", &format!("programme:{}", programme.id), Outcome::Success, json!({}))
            .await?;
        shuyu_store::operators::insert_announcement(tx.conn(), &announcement, now).await?;
        tx.audit(
            &ctx,
            "announcement.published",
            &format!("announcement:{}", announcement.id),
            Outcome::Success,
            json!({}),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The sandbox ready to use: a filed agreement under the showcase programme, the analyst cleared
/// (filed, reviewed, trained, a confidentiality agreement in force), a grant on the enterprise
/// register approved by every reviewer the profile names (the legal representative's ID
/// invisible, deregistered enterprises filtered out) and a workspace with that grant attached.
/// Each step is recorded as the workflow would record it. Only for `shuyu demo`.
pub async fn seed_workspace(state: &AppState) -> Result<(), ApiError> {
    use shuyu_core::grants::{
        ColumnDecision, ColumnMode, GrantRequest, GrantState, RequestedColumn, RequestedTable, Review,
    };
    use shuyu_core::personnel::{Confidentiality, PersonnelRecord, Training};
    use shuyu_store::sandbox::{self as sandbox_store, GrantRecord, WorkspaceRecord};

    const ENTRY: &str = "市场主体登记信息";
    let ctx = AuditContext::system("demo-seed");
    let mut tx = state.begin().await?;
    let all = organisations::list(tx.conn()).await?;
    let org = |kind: OrgKind| all.iter().find(|o| o.kind == kind).cloned();
    let (Some(operator), Some(agency)) = (org(OrgKind::Operator), org(OrgKind::ImplementingAgency)) else {
        return Ok(());
    };
    let Some(analyst) = users::find_by_username(tx.conn(), "analyst").await? else { return Ok(()) };
    let entries = shuyu_store::catalogue::list(tx.conn(), None, true).await?;
    let Some((entry_id, meta)) = entries
        .iter()
        .find_map(|e| e.published.as_ref().filter(|m| m.name == ENTRY).map(|m| (e.id.clone(), m.clone())))
    else {
        return Ok(());
    };
    let programmes = shuyu_store::operators::list_programmes(tx.conn()).await?;
    let Some(programme) = programmes.iter().find(|p| p.owner_org == agency.id) else { return Ok(()) };
    let today = state.clock.today();
    let now = tx.now();
    let in_years = |n: u32| today.checked_add_months(chrono::Months::new(12 * n)).unwrap_or(today);

    let agreement = shuyu_store::operators::AgreementRecord {
        id: uuid::Uuid::now_v7().to_string(),
        programme_id: programme.id.clone(),
        operator_org: operator.id,
        agency_org: agency.id,
        content: json!({
            "scope": "普惠金融领域（演示）", "catalogue_entries": [], "products": ["企业授信评分接口"],
            "product_review": "上线前经安全审查", "platform": "市授权运营平台",
            "revenue_split": {"owner": 30, "operator": 60, "processor": 10},
            "security_duties": "落实三级等保", "renewal_and_exit": "期满前三个月内申请续期"
        }),
        term_years: 2,
        valid_from: today,
        valid_until: in_years(2),
        state: "filed".into(),
        agency_signed_on: Some(today),
        operator_signed_on: Some(today),
        filed_on: Some(today),
    };
    shuyu_store::operators::insert_agreement(tx.conn(), &agreement, now).await?;
    tx.audit(&ctx, "agreement.filed", &format!("agreement:{}", agreement.id), Outcome::Success, json!({})).await?;

    let nda = b"%PDF demo confidentiality agreement".to_vec();
    let attachment = shuyu_store::attachments::Attachment::for_content(
        operator.id,
        analyst.id,
        "confidentiality.pdf".into(),
        "application/pdf".into(),
        &nda,
        now,
    )?;
    let stored = crate::routes::attachments::keep(state, &attachment, nda.into()).await?;
    shuyu_store::attachments::insert(tx.conn(), &attachment, &stored).await?;
    let record = PersonnelRecord {
        filed_on: Some(today),
        review_passed: Some(true),
        reviewed_on: Some(today),
        trainings: vec![Training { course: "数据安全与个人信息保护培训".into(), completed_on: today }],
        confidentiality: Some(Confidentiality {
            signed_on: today,
            valid_until: in_years(2),
            liability_clause: "违约泄露数据的，依法承担赔偿责任".into(),
            attachment_id: attachment.id.to_string(),
        }),
    };
    shuyu_store::personnel::put(tx.conn(), analyst.id, operator.id, &record, now).await?;
    tx.audit(&ctx, "personnel.cleared", &format!("user:{}", analyst.id), Outcome::Success, json!({})).await?;

    let column = |name: &str, mode: ColumnMode, necessity: &str| RequestedColumn {
        name: name.into(),
        mode,
        necessity: necessity.into(),
    };
    let request = GrantRequest {
        agreement_id: agreement.id.clone(),
        scenario: "普惠金融授信".into(),
        purpose: "评估小微企业经营状况与法定代表人关联风险（演示）".into(),
        tables: vec![RequestedTable {
            entry_id: entry_id.clone(),
            table: "enterprises".into(),
            columns: vec![
                column("uscc", ColumnMode::Plain, "关联企业"),
                column("name", ColumnMode::Masked, "展示企业（脱敏）"),
                column("legal_rep_id", ColumnMode::Invisible, "关联法定代表人名下企业"),
                column("industry", ColumnMode::Plain, "按行业统计"),
                column("registered_capital", ColumnMode::Plain, "评估经营规模"),
                column("status", ColumnMode::Plain, "排除非存续企业"),
            ],
            row_filter: Some("status <> '注销'".into()),
            subject_key: Some("uscc".into()),
        }],
        valid_from: today,
        valid_until: in_years(1),
        aggregation_only: false,
        privacy: None,
    };
    let mut reviews = Vec::new();
    for kind in &state.profile.sandbox.request_reviewers {
        let Some(reviewer) = org(*kind) else { continue };
        let username = match kind {
            OrgKind::Authority => "authority",
            OrgKind::IndustryDepartment => "industry",
            _ => "steward",
        };
        let person = users::find_by_username(tx.conn(), username).await?.filter(|u| u.org_id == reviewer.id);
        reviews.push(Review {
            reviewer: *kind,
            org: reviewer.id.to_string(),
            user: person.map(|u| u.id.to_string()).unwrap_or_default(),
            decided_on: today,
            decisions: request.tables[0]
                .columns
                .iter()
                .map(|c| ColumnDecision {
                    table: "enterprises".into(),
                    column: c.name.clone(),
                    approved: true,
                    mode: None,
                    reason: "用途明确，最小必要（演示）".into(),
                })
                .collect(),
            privacy: None,
        });
    }
    let granted = shuyu_core::grants::resolve(
        &request,
        &reviews,
        &std::collections::BTreeMap::from([(entry_id, meta)]),
        state.profile.sandbox.sensitive_level,
        state.profile.privacy.min_group_size,
    );
    let workspace = WorkspaceRecord {
        id: uuid::Uuid::now_v7().to_string(),
        operator_org: operator.id,
        agreement_id: agreement.id.clone(),
        name: "小微企业授信评估（演示）".into(),
        members: vec![analyst.id.to_string()],
        masking_key: {
            use rand::RngCore;
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            hex::encode(key)
        },
        state: "active".into(),
        created_at: shuyu_core::clock::format_instant(now),
    };
    sandbox_store::insert_workspace(tx.conn(), &workspace, now).await?;
    tx.audit(&ctx, "workspace.created", &format!("workspace:{}", workspace.id), Outcome::Success, json!({})).await?;
    let grant = GrantRecord {
        id: uuid::Uuid::now_v7().to_string(),
        operator_org: operator.id,
        agreement_id: agreement.id.clone(),
        workspace_id: Some(workspace.id.clone()),
        request,
        reviews,
        state: if granted.is_empty() { GrantState::Refused } else { GrantState::Provisioned },
        granted: Some(granted),
        sealed: false,
        reason: None,
        requested_by: analyst.id.to_string(),
        created_at: shuyu_core::clock::format_instant(now),
    };
    sandbox_store::insert_grant(tx.conn(), &grant, now).await?;
    tx.audit(
        &ctx,
        "grant.provisioned",
        &format!("grant:{}", grant.id),
        Outcome::Success,
        json!({ "workspace": workspace.id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The demo's industries, as the generator writes them.
pub const DEMO_INDUSTRIES: &[&str] =
    &["C39", "C38", "F51", "F52", "I64", "I65", "K70", "L72", "M74", "G54", "H62", "E48"];

/// A product on the market: an interface over the demo workspace's enterprise register (names
/// masked, the legal representative invisible), reviewed by the security auditor and the
/// authority, registered (its certificate issued at the end of a publicity that is already
/// over), published under a price cap, and a consumer's contract with one API key. Returns the
/// product id and the key, which is shown once. Only for `shuyu demo` and `shuyu bench interface`.
pub async fn seed_products(state: &AppState, quota_per_minute: u32) -> Result<Option<(String, String)>, ApiError> {
    use shuyu_core::pricing::{ChargingUnit, PriceCap, PricePlan, Tier};
    use shuyu_core::products::{self as rules, Definition, InterfaceSpec, ParamSpec, ParamType, ProductKind, Scenario};
    use shuyu_store::products::{self as store, ContractRecord, ProductRecord, Terms, VersionRecord};

    let ctx = AuditContext::system("demo-seed");
    let mut conn = state.store.acquire().await?;
    let all = organisations::list(&mut conn).await?;
    let org = |kind: OrgKind| all.iter().find(|o| o.kind == kind).cloned();
    let (Some(operator), Some(consumer_org)) = (org(OrgKind::Operator), org(OrgKind::Consumer)) else {
        return Ok(None);
    };
    let workspaces = shuyu_store::sandbox::list_workspaces(&mut conn, Some(operator.id)).await?;
    let Some(w) = workspaces.into_iter().find(|w| w.state == "active") else { return Ok(None) };
    let grants = shuyu_store::sandbox::workspace_grants(&mut conn, &w.id).await?;
    let Some(entry) = grants.iter().flat_map(|g| g.granted.iter().flatten()).map(|t| t.entry_id.clone()).next() else {
        return Ok(None);
    };
    let mut people = Vec::new();
    for name in ["operator", "auditor", "authority", "consumer"] {
        match users::find_by_username(&mut conn, name).await? {
            Some(u) => people.push(u),
            None => return Ok(None),
        }
    }
    drop(conn);
    let today = state.clock.today();
    let definition = Definition {
        description: "按行业查询存续企业名录（名称脱敏，法定代表人不可见）".into(),
        scenarios: vec![
            Scenario { name: "普惠金融授信".into(), category: rules::ScenarioCategory::Industry },
            Scenario { name: "营商环境监测".into(), category: rules::ScenarioCategory::PublicGovernance },
        ],
        usage_scope: "仅限授信前核验与行业统计，不得转售或用于营销".into(),
        sources: vec![rules::DataSource {
            entry_id: entry,
            name: String::new(),
            holder: String::new(),
            retrieved_on: today,
        }],
        pricing_basis: "成本加合理利润，按调用量阶梯计费".into(),
        interface: Some(InterfaceSpec {
            sql: "SELECT uscc, name, industry, registered_capital, status FROM enterprises \
                  WHERE industry = $industry ORDER BY uscc"
                .into(),
            parameters: vec![ParamSpec {
                name: "industry".into(),
                kind: ParamType::String,
                description: "国民经济行业代码（GB/T 4754 门类+大类）".into(),
                required: false,
                default: Some("I64".into()),
                min: None,
                max: None,
                max_length: Some(4),
                allowed: DEMO_INDUSTRIES.iter().map(|s| s.to_string()).collect(),
            }],
            max_rows: 1000,
            page_size: 50,
        }),
        export_id: None,
        model: None,
        processor_org: None,
    };
    let (definition, prepared, level) =
        crate::routes::products::checked(state, &w, ProductKind::DataInterface, definition).await?;
    let now = shuyu_core::clock::format_instant(state.clock.now());
    let id = uuid::Uuid::now_v7().to_string();
    let review = |kind: OrgKind, user: &UserRecord| rules::Review {
        reviewer_kind: kind,
        reviewer: user.id.to_string(),
        passed: true,
        compliance: "数据来源合法，授权范围内使用（演示）".into(),
        security: "名称脱敏，身份证号不可见（演示）".into(),
        scenario: "场景明确，最小必要（演示）".into(),
        grade: None,
        reviewed_on: today,
    };
    let product = ProductRecord {
        id: id.clone(),
        operator_org: operator.id,
        workspace_id: w.id.clone(),
        agreement_id: w.agreement_id.clone(),
        name: "企业名录查询接口（演示）".into(),
        kind: ProductKind::DataInterface,
        status: rules::ProductStatus::Active,
        status_reason: None,
        published_version: None,
        first_published_on: None,
        price_cap: Some(PriceCap { unit: ChargingUnit::CallVolume, unit_fen: 10, monthly_fen: 500_000 }),
        created_by: people[0].id.to_string(),
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let mut version = VersionRecord {
        product_id: id.clone(),
        version: 1,
        state: rules::VersionState::Approved,
        definition,
        prepared,
        input_level: level,
        reviews: vec![review(OrgKind::SecurityAuditor, &people[1]), review(OrgKind::Authority, &people[2])],
        certificate_code: None,
        submitted_on: Some(today),
        published_on: None,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let mut tx = state.begin().await?;
    store::insert_product(tx.conn(), &product).await?;
    store::insert_version(tx.conn(), &version).await?;
    tx.audit(&ctx, "product.created", &format!("product:{id}"), Outcome::Success, json!({"version": 1})).await?;
    tx.audit(&ctx, "product.reviewed", &format!("product:{id}"), Outcome::Success, json!({"state": "approved"}))
        .await?;
    tx.commit().await?;

    // Registration (YXO §25): a publicity that ended yesterday, so the certificate is issued now.
    use shuyu_core::registration::{Command, Registration, RegistrationState, RegistrationType};
    let days = |n: i64| today - chrono::Duration::days(n);
    let mut workflow = Registration::new(RegistrationType::First, days(30));
    workflow.state = RegistrationState::Publicity;
    workflow.accepted_on = Some(days(28));
    workflow.publicity_from = Some(days(20));
    workflow.publicity_until = Some(days(1));
    let reg = shuyu_store::registrations::RegistrationRecord {
        id: shuyu_core::ids::RegistrationId::new(),
        query_code: crate::routes::registrations::new_query_code(),
        workflow,
        subject_kind: shuyu_core::certificate::SubjectKind::Product,
        applicant_org: operator.id,
        applicant_user: people[0].id,
        certificate_code: None,
        catalogue_entry_id: None,
        product: Some((id.clone(), 1)),
        subject_name: product.name.clone(),
        summary: "按行业查询存续企业名录，名称脱敏（演示）".into(),
        industry: "L7212".into(),
        region: state.profile.certificate.region_code.clone(),
        facts: json!({"scenarios": "普惠金融授信；营商环境监测"}),
        materials: Vec::new(),
        operation_term_end: None,
        missing: Vec::new(),
        decision_ground: None,
        decision_reason: None,
        overdue_since: None,
        version: 1,
        created_at: state.clock.now(),
        updated_at: state.clock.now(),
    };
    let mut tx = state.begin().await?;
    shuyu_store::registrations::insert(tx.conn(), &reg).await?;
    tx.audit(&ctx, "registration.submitted", &reg.id.resource(), Outcome::Success, json!({"product": id})).await?;
    crate::registry::transition(state, &mut tx, &ctx, reg.id, &Command::EndPublicity, json!({}), |_| {}).await?;
    let certified = store::get_version(tx.conn(), &id, 1).await?.and_then(|v| v.certificate_code);
    version.certificate_code = certified;
    version.state =
        rules::publish(version.state, version.certificate_code.as_deref()).map_err(|_| ApiError::internal())?;
    version.published_on = Some(today);
    store::update_version(tx.conn(), &version).await?;
    let mut product = product;
    product.published_version = Some(1);
    product.first_published_on = Some(today);
    store::update_product(tx.conn(), &product).await?;
    tx.audit(&ctx, "product.published", &format!("product:{id}"), Outcome::Success, json!({"version": 1})).await?;

    // A consumer's contract under the cap, and its key.
    let terms = Terms {
        plan: PricePlan::PerUse {
            unit: ChargingUnit::CallVolume,
            tiers: vec![Tier { up_to: Some(10_000), unit_fen: 5 }, Tier { up_to: None, unit_fen: 3 }],
        },
        quota_per_day: quota_per_minute.saturating_mul(60).saturating_mul(24).max(10_000),
        quota_per_minute,
        valid_from: today,
        valid_until: today.checked_add_months(chrono::Months::new(12)).unwrap_or(today),
    };
    let application = store::ApplicationRecord {
        id: uuid::Uuid::now_v7().to_string(),
        product_id: id.clone(),
        version: 1,
        consumer_org: consumer_org.id,
        applicant_user: people[3].id.to_string(),
        scenario: "普惠金融授信".into(),
        purpose: "授信前核验企业存续状态（演示）".into(),
        terms: terms.clone(),
        approvals: vec![store::Approval {
            kind: OrgKind::Operator,
            user: people[0].id.to_string(),
            approved: true,
            reason: "用途与场景一致（演示）".into(),
            on: today,
        }],
        state: "approved".into(),
        reason: None,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    store::insert_application(tx.conn(), &application).await?;
    let contract = ContractRecord {
        id: uuid::Uuid::now_v7().to_string(),
        application_id: application.id.clone(),
        product_id: id.clone(),
        consumer_org: consumer_org.id,
        operator_org: operator.id,
        scenario: application.scenario.clone(),
        category: rules::ScenarioCategory::Industry,
        terms,
        state: "active".into(),
        created_at: now.clone(),
    };
    store::insert_contract(tx.conn(), &contract).await?;
    tx.audit(&ctx, "contract.made", &format!("contract:{}", contract.id), Outcome::Success, json!({})).await?;
    let (key, record) = crate::routes::consumers::new_key(&contract, &people[3].id.to_string(), now);
    store::insert_key(tx.conn(), &record).await?;
    tx.audit(
        &ctx,
        "api_key.issued",
        &format!("api_key:{}", record.id),
        Outcome::Success,
        json!({"prefix": record.prefix}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some((id, key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_identifiers_are_valid() {
        for (i, (_, _, prefix)) in ORGS.iter().enumerate() {
            assert!(uscc_for(prefix, i + 1).is_some(), "{prefix}");
        }
        for i in 1..=PEOPLE.len() {
            assert!(resident_id_for(i).is_some());
        }
        for (_, username, _, _) in PEOPLE {
            assert!(auth::password_is_strong(&demo_password(username)));
        }
    }
}
