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
