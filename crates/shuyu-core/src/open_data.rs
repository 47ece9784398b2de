//! Applications for conditional open data (WH §24): the holder decides within the profile's
//! `catalogue.open_application_days`; a refusal states its reason; unconditional open data needs
//! no application and "not allowed" data can never be applied for.

use chrono::NaiveDate;

use crate::calendar::WorkingCalendar;
use crate::catalogue::AccessClass;
use crate::profile;
use crate::workflow::{Expiry, Step, Timer, WorkflowError};
use crate::CoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationState {
    Submitted,
    Granted,
    Refused,
}

impl ApplicationState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ApplicationState::Submitted => "submitted",
            ApplicationState::Granted => "granted",
            ApplicationState::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Ok(match s {
            "submitted" => ApplicationState::Submitted,
            "granted" => ApplicationState::Granted,
            "refused" => ApplicationState::Refused,
            other => {
                return Err(CoreError::UnknownName {
                    kind: "open data application state",
                    value: other.chars().take(64).collect(),
                })
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub state: ApplicationState,
    pub submitted_on: NaiveDate,
}

/// A new application for an entry with `open_class`.
pub fn apply(open_class: AccessClass, today: NaiveDate) -> Result<Application, WorkflowError> {
    match open_class {
        AccessClass::Conditional => Ok(Application { state: ApplicationState::Submitted, submitted_on: today }),
        AccessClass::Unconditional => Err(WorkflowError::NotAllowed {
            action: "apply".into(),
            state: "unconditional",
            basis: Some("WH §24".into()),
        }),
        AccessClass::NotAllowed => Err(WorkflowError::NotAllowed {
            action: "apply".into(),
            state: "not_allowed",
            basis: Some("WH §23".into()),
        }),
    }
}

impl Application {
    pub fn timer(&self, cal: &WorkingCalendar, rules: &profile::Catalogue) -> Result<Option<Timer>, CoreError> {
        match self.state {
            ApplicationState::Submitted => Ok(Some(Timer {
                due_on: cal.add_working_days(self.submitted_on, rules.open_application_days)?,
                awaiting: "provider",
                expiry: Expiry::Escalate,
            })),
            _ => Ok(None),
        }
    }

    pub fn decide(
        &self,
        grant: bool,
        cal: &WorkingCalendar,
        rules: &profile::Catalogue,
    ) -> Result<Step<Application>, WorkflowError> {
        if self.state != ApplicationState::Submitted {
            return Err(WorkflowError::NotAllowed {
                action: if grant { "approve".into() } else { "refuse".into() },
                state: self.state.as_str(),
                basis: None,
            });
        }
        let mut next = self.clone();
        next.state = if grant { ApplicationState::Granted } else { ApplicationState::Refused };
        let timer = next.timer(cal, rules)?;
        Ok(Step { object: next, timer, event: if grant { "open_data.granted" } else { "open_data.refused" } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::PolicyProfile;

    #[test]
    fn only_conditional_data_is_applied_for_and_decided_once() {
        let cal = WorkingCalendar::shipped().unwrap();
        let rules = PolicyProfile::builtin("weihai").unwrap().catalogue;
        let d: NaiveDate = "2026-09-28".parse().unwrap();
        assert!(apply(AccessClass::Unconditional, d).is_err());
        assert!(apply(AccessClass::NotAllowed, d).is_err());
        let a = apply(AccessClass::Conditional, d).unwrap();
        assert_eq!(
            a.timer(&cal, &rules).unwrap().unwrap().due_on,
            "2026-10-30".parse().unwrap(),
            "20 working days, 10 October among them"
        );
        let g = a.decide(true, &cal, &rules).unwrap();
        assert_eq!(g.object.state, ApplicationState::Granted);
        assert!(g.object.decide(false, &cal, &rules).is_err());
    }
}
