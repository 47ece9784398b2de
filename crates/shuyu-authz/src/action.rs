//! Every action a handler can ask about. The names are the Cedar action ids in `policies/`.

macro_rules! actions {
    ($($variant:ident => $name:literal,)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action { $($variant,)+ }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)+];

            pub fn as_str(&self) -> &'static str {
                match self { $(Action::$variant => $name,)+ }
            }
        }
    };
}

actions! {
    SessionMe => "session.me",
    SessionLogout => "session.logout",
    ProfileRead => "profile.read",
    ClockRead => "clock.read",
    CalendarRead => "calendar.read",
    OrganisationList => "organisation.list",
    OrganisationRead => "organisation.read",
    OrganisationCreate => "organisation.create",
    UserList => "user.list",
    UserRead => "user.read",
    UserCreate => "user.create",
    UserUnlock => "user.unlock",
    UserChangePassword => "user.change_password",
    AuditQuery => "audit.query",
    AuditInclusionProof => "audit.inclusion_proof",
    AuditConsistency => "audit.consistency",
    AuditTreeHeadRead => "audit.tree_head.read",
    AuditTreeHeadIssue => "audit.tree_head.issue",
    AuditPublicKey => "audit.public_key",
    AdminTestClock => "admin.test_clock",
    AttachmentUpload => "attachment.upload",
    AttachmentRead => "attachment.read",
    RegistrationApply => "registration.apply",
    RegistrationList => "registration.list",
    RegistrationListAll => "registration.list_all",
    RegistrationRead => "registration.read",
    RegistrationReview => "registration.review",
    RegistrationApplicantAct => "registration.applicant_act",
    RegistrationObject => "registration.object",
    RegistrationStatistics => "registration.statistics",
    RegistrationExport => "registration.export",
    RegistrationPublicity => "registration.publicity",
    RegistrationStatusQuery => "registration.status_query",
    CertificateVerify => "certificate.verify",
    CertificateRead => "certificate.read",
    CertificateList => "certificate.list",
    CertificateRenew => "certificate.renew",
    CertificateRevoke => "certificate.revoke",
    AnnouncementRead => "announcement.read",
    CatalogueCreate => "catalogue.create",
    CatalogueList => "catalogue.list",
    CatalogueListAll => "catalogue.list_all",
    CatalogueRead => "catalogue.read",
    CatalogueHolderAct => "catalogue.holder_act",
    CatalogueReview => "catalogue.review",
    CatalogueSearch => "catalogue.search",
    CatalogueDownload => "catalogue.download",
    SharingRequest => "sharing.request",
    SharingList => "sharing.list",
    SharingListAll => "sharing.list_all",
    SharingRead => "sharing.read",
    SharingAuthorityReview => "sharing.authority_review",
    SharingProviderReview => "sharing.provider_review",
    OpenDataApply => "open_data.apply",
    OpenDataList => "open_data.list",
    OpenDataListAll => "open_data.list_all",
    OpenDataRead => "open_data.read",
    OpenDataDecide => "open_data.decide",
    OpenDataDownload => "open_data.download",
    ProgrammeCreate => "programme.create",
    ProgrammeRead => "programme.read",
    ProgrammeEdit => "programme.edit",
    ProgrammeAgencyReview => "programme.agency_review",
    ProgrammeAuthorityReview => "programme.authority_review",
    AnnouncementCreate => "operator_announcement.create",
    OperatorAnnouncementRead => "operator_announcement.read",
    OperatorApply => "operator.apply",
    OperatorListImport => "operator.list_import",
    OperatorSupervise => "operator.supervise",
    OperatorRectify => "operator.rectify",
    AgreementCreate => "agreement.create",
    AgreementRead => "agreement.read",
    AgreementList => "agreement.list",
    AgreementSignAgency => "agreement.sign_agency",
    AgreementSignOperator => "agreement.sign_operator",
    AgreementFile => "agreement.file",
    AgreementRenew => "agreement.renew",
    PersonnelRead => "personnel.read",
    PersonnelList => "personnel.list",
    OperatorScore => "operator.score",
    OperatorObject => "operator.object",
    OperatorReport => "operator.report",
    OperatorStatusRead => "operator.status_read",
    OperatorReviewRead => "operator.review_read",
    PersonnelManage => "personnel.manage",
    PersonnelReview => "personnel.review",
    DatasetIngest => "dataset.ingest",
    DatasetList => "dataset.list",
    GrantRequest => "grant.request",
    GrantRead => "grant.read",
    GrantList => "grant.list",
    GrantReview => "grant.review",
    GrantRevoke => "grant.revoke",
    GrantAllotBudget => "grant.allot_budget",
    WorkspaceCreate => "workspace.create",
    WorkspaceManage => "workspace.manage",
    WorkspaceRead => "workspace.read",
    WorkspaceList => "workspace.list",
    WorkspaceQuery => "workspace.query",
    WorkspaceReportRisk => "workspace.report_risk",
    WorkspaceSeal => "workspace.seal",
    WorkspaceUnseal => "workspace.unseal",
    WorkspaceDestroy => "workspace.destroy",
    ExportRequest => "export.request",
    ExportRead => "export.read",
    ExportList => "export.list",
    ExportReview => "export.review",
    ExportDownload => "export.download",
    ExportTrace => "export.trace",
    UploadReview => "upload.review",
    TableGrade => "table.grade",
    ProductCreate => "product.create",
    ProductRead => "product.read",
    ProductList => "product.list",
    ProductListAll => "product.list_all",
    ProductEdit => "product.edit",
    ProductReview => "product.review",
    ProductSuspend => "product.suspend",
    ProductSetPriceCap => "product.set_price_cap",
    ProductListing => "product.listing",
    ConsumerApplicationCreate => "consumer_application.create",
    ConsumerApplicationList => "consumer_application.list",
    ConsumerApplicationListAll => "consumer_application.list_all",
    ConsumerApplicationRead => "consumer_application.read",
    ConsumerApplicationDecide => "consumer_application.decide",
    ContractList => "contract.list",
    ContractListAll => "contract.list_all",
    ContractRead => "contract.read",
    ContractSuspend => "contract.suspend",
    ApiKeyCreate => "api_key.create",
    ApiKeyRevoke => "api_key.revoke",
    StatementIssue => "statement.issue",
    StatementRead => "statement.read",
    StatementPay => "statement.pay",
    RevenueSetAllowed => "revenue.set_allowed",
    LedgerRead => "ledger.read",
    LedgerReadAll => "ledger.read_all",
    MarketRead => "market.read",
    DisclosureRead => "disclosure.read",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_named_in_a_policy_or_denied_by_default() {
        // Names must be unique: two variants sharing one Cedar name would share permissions.
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
