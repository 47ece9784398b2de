//! Sharing between agencies (WH §18): unconditional entries are granted at once; conditional
//! ones are reviewed by the authority (1 working day) and then by the providing department
//! (2 working days); a refusal states its reason; "not allowed" entries are never shared.

use chrono::NaiveDate;

use crate::calendar::WorkingCalendar;
use crate::catalogue::AccessClass;
use crate::profile;
use crate::workflow::{Expiry, Step, Timer, WorkflowError};
use crate::CoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharingState {
    AuthorityReview,
    ProviderReview,
    Granted,
    Refused,
}

impl SharingState {
    pub fn as_str(&self) -> &'static str {
        match self {
            SharingState::AuthorityReview => "authority_review",
            SharingState::ProviderReview => "provider_review",
            SharingState::Granted => "granted",
            SharingState::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Ok(match s {
            "authority_review" => SharingState::AuthorityReview,
            "provider_review" => SharingState::ProviderReview,
            "granted" => SharingState::Granted,
            "refused" => SharingState::Refused,
            other => {
                return Err(CoreError::UnknownName { kind: "sharing state", value: other.chars().take(64).collect() })
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharingRequest {
    pub state: SharingState,
    /// The day the current review stage began.
    pub stage_started_on: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharingCommand {
    Approve,
    Refuse,
}

/// Where a new request starts, from the entry's share class.
pub fn open(class: AccessClass, today: NaiveDate) -> Result<SharingRequest, WorkflowError> {
    let state = match class {
        AccessClass::Unconditional => SharingState::Granted,
        AccessClass::Conditional => SharingState::AuthorityReview,
        AccessClass::NotAllowed => {
            return Err(WorkflowError::NotAllowed {
                action: "request".into(),
                state: "not_allowed",
                basis: Some("WH §17".into()),
            })
        }
    };
    Ok(SharingRequest { state, stage_started_on: today })
}

impl SharingRequest {
    pub fn timer(&self, cal: &WorkingCalendar, rules: &profile::Sharing) -> Result<Option<Timer>, CoreError> {
        let (days, awaiting) = match self.state {
            SharingState::AuthorityReview => (rules.authority_review_days, "authority"),
            SharingState::ProviderReview => (rules.provider_review_days, "provider"),
            _ => return Ok(None),
        };
        Ok(Some(Timer {
            due_on: cal.add_working_days(self.stage_started_on, days)?,
            awaiting,
            expiry: Expiry::Escalate,
        }))
    }

    /// `authority` / `provider`: which reviewer the caller is.
    pub fn allowed_actions(&self, authority: bool, provider: bool) -> Vec<&'static str> {
        match self.state {
            SharingState::AuthorityReview if authority => vec!["approve", "refuse"],
            SharingState::ProviderReview if provider => vec!["approve", "refuse"],
            _ => Vec::new(),
        }
    }

    pub fn apply(
        &self,
        command: SharingCommand,
        today: NaiveDate,
        cal: &WorkingCalendar,
        rules: &profile::Sharing,
    ) -> Result<Step<SharingRequest>, WorkflowError> {
        let mut next = self.clone();
        let event = match (command, self.state) {
            (SharingCommand::Approve, SharingState::AuthorityReview) => {
                next.state = SharingState::ProviderReview;
                next.stage_started_on = today;
                "sharing.authority_approved"
            }
            (SharingCommand::Approve, SharingState::ProviderReview) => {
                next.state = SharingState::Granted;
                "sharing.granted"
            }
            (SharingCommand::Refuse, SharingState::AuthorityReview | SharingState::ProviderReview) => {
                next.state = SharingState::Refused;
                "sharing.refused"
            }
            _ => {
                return Err(WorkflowError::NotAllowed {
                    action: match command {
                        SharingCommand::Approve => "approve".into(),
                        SharingCommand::Refuse => "refuse".into(),
                    },
                    state: self.state.as_str(),
                    basis: None,
                })
            }
        };
        let timer = next.timer(cal, rules)?;
        Ok(Step { object: next, timer, event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::PolicyProfile;

    #[test]
    fn conditional_sharing_goes_through_both_reviewers_on_time() {
        let cal = WorkingCalendar::shipped().unwrap();
        let rules = PolicyProfile::builtin("weihai").unwrap().sharing;
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(open(AccessClass::Unconditional, d("2026-10-09")).unwrap().state, SharingState::Granted);
        assert!(open(AccessClass::NotAllowed, d("2026-10-09")).is_err());
        let r = open(AccessClass::Conditional, d("2026-10-09")).unwrap();
        // Friday 9 October 2026: the next working day is the make-up Saturday.
        assert_eq!(r.timer(&cal, &rules).unwrap().unwrap().due_on, d("2026-10-10"));
        let r = r.apply(SharingCommand::Approve, d("2026-10-10"), &cal, &rules).unwrap();
        assert_eq!(r.object.state, SharingState::ProviderReview);
        assert_eq!(r.timer.unwrap().due_on, d("2026-10-13"));
        assert_eq!(r.object.allowed_actions(true, false), Vec::<&str>::new());
        let g = r.object.apply(SharingCommand::Approve, d("2026-10-12"), &cal, &rules).unwrap();
        assert_eq!(g.object.state, SharingState::Granted);
        assert!(g.object.apply(SharingCommand::Refuse, d("2026-10-12"), &cal, &rules).is_err());
    }
}
