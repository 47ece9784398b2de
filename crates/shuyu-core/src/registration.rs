//! Registration (登记), YXR §14–§23: the states of an application and of an objection raised
//! against it, and the pure transitions between them. Deadlines are working days from the
//! policy profile, counted with the working-day calendar; the day of the event itself is not
//! counted (see [`WorkingCalendar::add_working_days`]).
//!
//! ```text
//! submitted ──accept──▶ accepted ──start_publicity──▶ publicity ──(period ends)──▶ approved
//!   │  ▲  │                │  └──complete_cancellation (cancellation type)──────▶ approved
//!   │  │  └request_supplement▶ supplement_requested ─(10 days, silence)─▶ withdrawn
//!   │  └────supplement───────┘                       publicity ◀─rejected─┐
//!   ├─not_accept─▶ not_accepted    accepted ─refuse─▶ refused   object ─▶ suspended ─upheld─▶ terminated
//!   └─withdraw (until publicity starts) ─▶ withdrawn
//! ```

use chrono::NaiveDate;

use crate::calendar::WorkingCalendar;
use crate::profile;
use crate::workflow::{Expiry, Step, Timer, WorkflowError};
use crate::CoreError;

named_enum!(
    /// YXR §14: the four registration types.
    RegistrationType, "registration type" {
        First => "first",
        Change => "change",
        Correction => "correction",
        Cancellation => "cancellation",
    }
);

named_enum!(
    /// Where an application stands.
    RegistrationState, "registration state" {
        Submitted => "submitted",
        SupplementRequested => "supplement_requested",
        Accepted => "accepted",
        Publicity => "publicity",
        Suspended => "suspended",
        Approved => "approved",
        NotAccepted => "not_accepted",
        Refused => "refused",
        Withdrawn => "withdrawn",
        Terminated => "terminated",
    }
);

named_enum!(
    /// YXR §17: the only grounds on which a registration is refused.
    RefusalGround, "refusal ground" {
        CoreDataOrSecrets => "core_data_or_secrets",
        PublicOrder => "public_order",
        UnlawfulAcquisition => "unlawful_acquisition",
        InterestedPartiesDisagree => "interested_parties_disagree",
        OwnershipDispute => "ownership_dispute",
        ObjectionUpheld => "objection_upheld",
        OtherLegalGrounds => "other_legal_grounds",
    }
);

named_enum!(
    /// YXR §21: why a registration is cancelled.
    CancellationReason, "cancellation reason" {
        LostOrIrrecoverable => "lost_or_irrecoverable",
        RightsWaivedOrExpired => "rights_waived_or_expired",
        HolderDissolved => "holder_dissolved",
        OtherLegalGrounds => "other_legal_grounds",
    }
);

named_enum!(
    /// An objection's progress (YXR §22).
    ObjectionState, "objection state" {
        Filed => "filed",
        Forwarded => "forwarded",
        AwaitingDecision => "awaiting_decision",
        Upheld => "upheld",
        Rejected => "rejected",
        Moot => "moot",
    }
);

impl RegistrationState {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            RegistrationState::Approved
                | RegistrationState::NotAccepted
                | RegistrationState::Refused
                | RegistrationState::Withdrawn
                | RegistrationState::Terminated
        )
    }
}

impl ObjectionState {
    pub fn is_open(&self) -> bool {
        matches!(self, ObjectionState::Filed | ObjectionState::Forwarded | ObjectionState::AwaitingDecision)
    }
}

/// The materials YXR §18–§21 require for each type, by stable key. Each is an attachment
/// (stored with its SHA-256); the registry sees which are missing before deciding.
pub fn required_materials(kind: RegistrationType) -> &'static [&'static str] {
    match kind {
        RegistrationType::First => &[
            "application_form",
            "basic_information",
            "source_compliance_proof",
            "products_scenarios_risk_assessment",
            "no_dispute_commitment",
            "identity_proof",
        ],
        RegistrationType::Change => &["change_application", "identity_proof"],
        RegistrationType::Correction => {
            &["correction_application", "correction_evidence", "truthfulness_commitment", "identity_proof"]
        }
        RegistrationType::Cancellation => &["cancellation_application", "identity_proof"],
    }
}

/// Materials any type may carry besides the required ones.
pub const OPTIONAL_MATERIALS: &[&str] = &["power_of_attorney", "other"];

/// Who is acting on a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The registering organisation (登记主体).
    Applicant,
    /// The registry (登记机构).
    Registry,
    /// Anyone signed in under their real name, during publicity.
    RealNamePerson,
}

/// A command to a registration. System commands (`withdraw_unsupplemented`, `end_publicity`)
/// come from the scheduler when a timer falls due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Accept,
    NotAccept,
    RequestSupplement {
        missing: Vec<String>,
    },
    Supplement,
    Withdraw,
    Refuse {
        ground: RefusalGround,
    },
    StartPublicity,
    CompleteCancellation,
    /// An objection was filed (the objection itself is a separate object).
    ObjectionFiled,
    /// The last open objection was decided.
    ObjectionsSettled {
        upheld: bool,
    },
    WithdrawUnsupplemented,
    EndPublicity,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Accept => "accept",
            Command::NotAccept => "not_accept",
            Command::RequestSupplement { .. } => "request_supplement",
            Command::Supplement => "supplement",
            Command::Withdraw => "withdraw",
            Command::Refuse { .. } => "refuse",
            Command::StartPublicity => "start_publicity",
            Command::CompleteCancellation => "complete_cancellation",
            Command::ObjectionFiled => "object",
            Command::ObjectionsSettled { .. } => "decide_objection",
            Command::WithdrawUnsupplemented => "withdraw_unsupplemented",
            Command::EndPublicity => "end_publicity",
        }
    }
}

/// The workflow-relevant facts of one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub kind: RegistrationType,
    pub state: RegistrationState,
    /// When the application was (last) received: the acceptance clock counts from here and
    /// restarts on a supplement (YXR §16).
    pub received_on: NaiveDate,
    pub accepted_on: Option<NaiveDate>,
    pub supplement_requested_on: Option<NaiveDate>,
    /// A single supplement notice lists everything missing (一次性告知).
    pub supplement_notices: u32,
    pub publicity_from: Option<NaiveDate>,
    pub publicity_until: Option<NaiveDate>,
}

impl Registration {
    pub fn new(kind: RegistrationType, received_on: NaiveDate) -> Self {
        Self {
            kind,
            state: RegistrationState::Submitted,
            received_on,
            accepted_on: None,
            supplement_requested_on: None,
            supplement_notices: 0,
            publicity_from: None,
            publicity_until: None,
        }
    }

    /// The current deadline, from the state and the dates it counts from.
    pub fn timer(&self, cal: &WorkingCalendar, rules: &profile::Registration) -> Result<Option<Timer>, CoreError> {
        let timer = |from: NaiveDate, days: u32, awaiting, expiry| -> Result<Option<Timer>, CoreError> {
            Ok(Some(Timer { due_on: cal.add_working_days(from, days)?, awaiting, expiry }))
        };
        match self.state {
            RegistrationState::Submitted => {
                timer(self.received_on, rules.acceptance_days, "registry", Expiry::Escalate)
            }
            RegistrationState::SupplementRequested => match self.supplement_requested_on {
                Some(on) => {
                    timer(on, rules.supplement_days, "applicant", Expiry::Transition("withdraw_unsupplemented"))
                }
                None => Ok(None),
            },
            RegistrationState::Accepted => match self.accepted_on {
                Some(on) if self.kind == RegistrationType::Cancellation => {
                    timer(on, rules.cancellation_days, "registry", Expiry::Escalate)
                }
                Some(on) => timer(on, rules.review_days, "registry", Expiry::Escalate),
                None => Ok(None),
            },
            RegistrationState::Publicity => Ok(self.publicity_until.map(|due_on| Timer {
                due_on,
                awaiting: "public",
                expiry: Expiry::Transition("end_publicity"),
            })),
            _ => Ok(None),
        }
    }

    /// True while objections may be filed: publicity (or its suspension) up to its last day.
    pub fn open_for_objections(&self, today: NaiveDate) -> bool {
        matches!(self.state, RegistrationState::Publicity | RegistrationState::Suspended)
            && self.publicity_until.is_some_and(|until| today <= until)
    }

    /// The actions `party` may take now. Objection actions are listed by [`Objection`].
    pub fn allowed_actions(&self, party: Party, today: NaiveDate) -> Vec<&'static str> {
        use RegistrationState as S;
        match (party, self.state) {
            (Party::Registry, S::Submitted) if self.supplement_notices == 0 => {
                vec!["accept", "not_accept", "request_supplement"]
            }
            (Party::Registry, S::Submitted) => vec!["accept", "not_accept"],
            (Party::Registry, S::Accepted) if self.kind == RegistrationType::Cancellation => {
                vec!["complete_cancellation", "refuse"]
            }
            (Party::Registry, S::Accepted) => vec!["start_publicity", "refuse"],
            (Party::Applicant, S::Submitted | S::Accepted) => vec!["withdraw"],
            (Party::Applicant, S::SupplementRequested) => vec!["supplement", "withdraw"],
            (Party::RealNamePerson, S::Publicity | S::Suspended) if self.open_for_objections(today) => vec!["object"],
            _ => Vec::new(),
        }
    }

    /// Applies `command` on `today`; the caller has already checked the party may issue it.
    pub fn apply(
        &self,
        command: &Command,
        today: NaiveDate,
        cal: &WorkingCalendar,
        rules: &profile::Registration,
    ) -> Result<Step<Registration>, WorkflowError> {
        use RegistrationState as S;
        let mut next = self.clone();
        let not_allowed = |basis: Option<&str>| WorkflowError::NotAllowed {
            action: command.name().to_string(),
            state: self.state.as_str(),
            basis: basis.map(str::to_string),
        };
        let event = match (command, self.state) {
            (Command::Accept, S::Submitted) => {
                next.state = S::Accepted;
                next.accepted_on = Some(today);
                "registration.accepted"
            }
            (Command::NotAccept, S::Submitted) => {
                next.state = S::NotAccepted;
                "registration.not_accepted"
            }
            (Command::RequestSupplement { missing }, S::Submitted) => {
                if self.supplement_notices > 0 {
                    // YXR §16: one notice must list everything; a second notice is refused.
                    return Err(not_allowed(Some("YXR §16")));
                }
                if missing.iter().all(|m| m.trim().is_empty()) {
                    return Err(WorkflowError::Invalid {
                        field: "missing",
                        problem: "list every missing or non-conforming item in the one notice".into(),
                    });
                }
                next.state = S::SupplementRequested;
                next.supplement_requested_on = Some(today);
                next.supplement_notices += 1;
                "registration.supplement_requested"
            }
            (Command::Supplement, S::SupplementRequested) => {
                next.state = S::Submitted;
                next.received_on = today;
                "registration.supplemented"
            }
            (Command::Withdraw, S::Submitted | S::SupplementRequested | S::Accepted) => {
                next.state = S::Withdrawn;
                "registration.withdrawn"
            }
            (Command::Withdraw, _) => return Err(not_allowed(Some("YXR §18"))),
            (Command::Refuse { .. }, S::Accepted) => {
                next.state = S::Refused;
                "registration.refused"
            }
            (Command::StartPublicity, S::Accepted) if self.kind != RegistrationType::Cancellation => {
                next.state = S::Publicity;
                next.publicity_from = Some(today);
                next.publicity_until = Some(cal.add_working_days(today, rules.publicity_days)?);
                "registration.publicity_started"
            }
            (Command::CompleteCancellation, S::Accepted) if self.kind == RegistrationType::Cancellation => {
                next.state = S::Approved;
                "registration.cancellation_completed"
            }
            (Command::ObjectionFiled, S::Publicity | S::Suspended) => {
                if !self.open_for_objections(today) {
                    return Err(not_allowed(Some("YXR §22")));
                }
                next.state = S::Suspended;
                "registration.suspended"
            }
            (Command::ObjectionsSettled { upheld: true }, S::Suspended) => {
                next.state = S::Terminated;
                "registration.terminated"
            }
            (Command::ObjectionsSettled { upheld: false }, S::Suspended) => {
                // The period runs on while an objection is examined; only approval waits.
                match self.publicity_until {
                    Some(until) if today <= until => {
                        next.state = S::Publicity;
                        "registration.resumed"
                    }
                    _ => {
                        next.state = S::Approved;
                        "registration.approved"
                    }
                }
            }
            (Command::WithdrawUnsupplemented, S::SupplementRequested) => {
                let timer = self.timer(cal, rules)?;
                if !timer.is_some_and(|t| t.is_due(today)) {
                    return Err(not_allowed(Some("YXR §16")));
                }
                next.state = S::Withdrawn;
                "registration.withdrawn_unsupplemented"
            }
            (Command::EndPublicity, S::Publicity) => {
                if self.publicity_until.is_none_or(|until| today <= until) {
                    return Err(not_allowed(Some("YXR §22")));
                }
                next.state = S::Approved;
                "registration.approved"
            }
            _ => return Err(not_allowed(None)),
        };
        let timer = next.timer(cal, rules)?;
        Ok(Step { object: next, timer, event })
    }
}

/// An objection's workflow facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objection {
    pub state: ObjectionState,
    pub filed_on: NaiveDate,
    pub forwarded_on: Option<NaiveDate>,
}

/// A command to an objection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectionCommand {
    /// The registry forwards it to the applicant (within 3 working days).
    Forward,
    /// The applicant answers with its evidence (within 10 working days of receiving it).
    Answer,
    /// The answer period passed in silence: the registry decides on what it has.
    AnswerLapsed,
    Decide {
        upheld: bool,
    },
    /// Another objection was upheld and ended the registration.
    Moot,
}

impl ObjectionCommand {
    pub fn name(&self) -> &'static str {
        match self {
            ObjectionCommand::Forward => "forward_objection",
            ObjectionCommand::Answer => "answer_objection",
            ObjectionCommand::AnswerLapsed => "answer_lapsed",
            ObjectionCommand::Decide { .. } => "decide_objection",
            ObjectionCommand::Moot => "moot",
        }
    }
}

impl Objection {
    pub fn new(filed_on: NaiveDate) -> Self {
        Self { state: ObjectionState::Filed, filed_on, forwarded_on: None }
    }

    pub fn timer(&self, cal: &WorkingCalendar, rules: &profile::Registration) -> Result<Option<Timer>, CoreError> {
        Ok(match (self.state, self.forwarded_on) {
            (ObjectionState::Filed, _) => Some(Timer {
                due_on: cal.add_working_days(self.filed_on, rules.objection_forward_days)?,
                awaiting: "registry",
                expiry: Expiry::Escalate,
            }),
            (ObjectionState::Forwarded, Some(on)) => Some(Timer {
                due_on: cal.add_working_days(on, rules.objection_answer_days)?,
                awaiting: "applicant",
                expiry: Expiry::Transition("answer_lapsed"),
            }),
            _ => None,
        })
    }

    pub fn allowed_actions(&self, party: Party) -> Vec<&'static str> {
        match (party, self.state) {
            (Party::Registry, ObjectionState::Filed) => vec!["forward_objection"],
            (Party::Registry, ObjectionState::AwaitingDecision) => vec!["decide_objection"],
            (Party::Applicant, ObjectionState::Forwarded) => vec!["answer_objection"],
            _ => Vec::new(),
        }
    }

    pub fn apply(
        &self,
        command: ObjectionCommand,
        today: NaiveDate,
        cal: &WorkingCalendar,
        rules: &profile::Registration,
    ) -> Result<Step<Objection>, WorkflowError> {
        use ObjectionState as S;
        let mut next = self.clone();
        let event = match (command, self.state) {
            (ObjectionCommand::Forward, S::Filed) => {
                next.state = S::Forwarded;
                next.forwarded_on = Some(today);
                "objection.forwarded"
            }
            (ObjectionCommand::Answer, S::Forwarded) => {
                next.state = S::AwaitingDecision;
                "objection.answered"
            }
            (ObjectionCommand::AnswerLapsed, S::Forwarded) => {
                if !self.timer(cal, rules)?.is_some_and(|t| t.is_due(today)) {
                    return Err(WorkflowError::NotAllowed {
                        action: command.name().into(),
                        state: self.state.as_str(),
                        basis: Some("YXR §22".into()),
                    });
                }
                next.state = S::AwaitingDecision;
                "objection.answer_lapsed"
            }
            (ObjectionCommand::Decide { upheld }, S::AwaitingDecision) => {
                next.state = if upheld { S::Upheld } else { S::Rejected };
                if upheld {
                    "objection.upheld"
                } else {
                    "objection.rejected"
                }
            }
            (ObjectionCommand::Moot, s) if s.is_open() => {
                next.state = S::Moot;
                "objection.moot"
            }
            _ => {
                return Err(WorkflowError::NotAllowed {
                    action: command.name().into(),
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

    fn setup() -> (WorkingCalendar, profile::Registration) {
        let cal = WorkingCalendar::shipped().unwrap();
        let profile = PolicyProfile::builtin("yuxi").unwrap();
        (cal, profile.registration)
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn acceptance_deadline_skips_the_national_day_holiday() {
        let (cal, rules) = setup();
        // Received Tuesday 2025-09-30; 1–8 October 2025 are holidays and Saturday 11 October
        // a make-up working day, which is the third working day.
        let r = Registration::new(RegistrationType::First, d("2025-09-30"));
        let t = r.timer(&cal, &rules).unwrap().unwrap();
        assert_eq!(t.due_on, d("2025-10-11"));
        assert_eq!(t.expiry, Expiry::Escalate);
        assert!(!t.is_due(d("2025-10-11")) && t.is_due(d("2025-10-12")));
    }

    #[test]
    fn one_supplement_notice_then_silence_withdraws() {
        let (cal, rules) = setup();
        let r = Registration::new(RegistrationType::First, d("2026-03-02"));
        let s = r
            .apply(
                &Command::RequestSupplement { missing: vec!["identity_proof".into()] },
                d("2026-03-04"),
                &cal,
                &rules,
            )
            .unwrap();
        assert_eq!(s.object.state, RegistrationState::SupplementRequested);
        let due = s.timer.unwrap();
        assert_eq!(due.due_on, d("2026-03-18"));
        assert_eq!(due.action_name(), "withdraw_unsupplemented");
        // Too early: refused.
        assert!(s.object.apply(&Command::WithdrawUnsupplemented, d("2026-03-18"), &cal, &rules).is_err());
        let w = s.object.apply(&Command::WithdrawUnsupplemented, d("2026-03-19"), &cal, &rules).unwrap();
        assert_eq!(w.object.state, RegistrationState::Withdrawn);
        assert!(w.timer.is_none());
    }

    #[test]
    fn a_supplement_restarts_the_acceptance_clock_and_only_one_notice_is_sent() {
        let (cal, rules) = setup();
        let r = Registration::new(RegistrationType::First, d("2026-03-02"));
        let s = r.apply(&Command::RequestSupplement { missing: vec!["x".into()] }, d("2026-03-03"), &cal, &rules);
        let s = s.unwrap().object.apply(&Command::Supplement, d("2026-03-10"), &cal, &rules).unwrap();
        assert_eq!(s.object.state, RegistrationState::Submitted);
        assert_eq!(s.timer.unwrap().due_on, d("2026-03-13"));
        assert_eq!(s.object.allowed_actions(Party::Registry, d("2026-03-10")), vec!["accept", "not_accept"]);
        let again =
            s.object.apply(&Command::RequestSupplement { missing: vec!["y".into()] }, d("2026-03-11"), &cal, &rules);
        assert!(matches!(again, Err(WorkflowError::NotAllowed { basis: Some(b), .. }) if b == "YXR §16"));
        let empty = r.apply(&Command::RequestSupplement { missing: vec![" ".into()] }, d("2026-03-03"), &cal, &rules);
        assert!(matches!(empty, Err(WorkflowError::Invalid { field: "missing", .. })));
    }

    #[test]
    fn publicity_objection_and_approval() {
        let (cal, rules) = setup();
        let r = Registration::new(RegistrationType::First, d("2026-04-01"));
        let r = r.apply(&Command::Accept, d("2026-04-02"), &cal, &rules).unwrap().object;
        assert_eq!(r.timer(&cal, &rules).unwrap().unwrap().due_on, cal.add_working_days(d("2026-04-02"), 20).unwrap());
        let p = r.apply(&Command::StartPublicity, d("2026-04-20"), &cal, &rules).unwrap();
        assert_eq!(p.object.publicity_until, Some(d("2026-05-07")), "1–5 May 2026 are holidays");
        // No withdrawal once publicity starts.
        let w = p.object.apply(&Command::Withdraw, d("2026-04-21"), &cal, &rules);
        assert!(matches!(w, Err(WorkflowError::NotAllowed { basis: Some(b), .. }) if b == "YXR §18"));
        let s = p.object.apply(&Command::ObjectionFiled, d("2026-04-22"), &cal, &rules).unwrap();
        assert_eq!(s.object.state, RegistrationState::Suspended);
        assert!(s.timer.is_none(), "paused: no approval while an objection is open");
        // Rejected after the period ended: approval at once.
        let a = s.object.apply(&Command::ObjectionsSettled { upheld: false }, d("2026-05-20"), &cal, &rules).unwrap();
        assert_eq!(a.object.state, RegistrationState::Approved);
        // Rejected within the period: publicity resumes until its original end.
        let b = s.object.apply(&Command::ObjectionsSettled { upheld: false }, d("2026-04-24"), &cal, &rules).unwrap();
        assert_eq!(b.object.state, RegistrationState::Publicity);
        assert!(b.object.apply(&Command::EndPublicity, d("2026-05-07"), &cal, &rules).is_err());
        let e = b.object.apply(&Command::EndPublicity, d("2026-05-08"), &cal, &rules).unwrap();
        assert_eq!(e.object.state, RegistrationState::Approved);
        let t = s.object.apply(&Command::ObjectionsSettled { upheld: true }, d("2026-04-24"), &cal, &rules).unwrap();
        assert_eq!(t.object.state, RegistrationState::Terminated);
        assert!(b.object.open_for_objections(d("2026-05-07")));
        assert!(!b.object.open_for_objections(d("2026-05-08")));
    }

    #[test]
    fn objections_are_forwarded_answered_and_decided() {
        let (cal, rules) = setup();
        let o = Objection::new(d("2026-06-01"));
        assert_eq!(o.timer(&cal, &rules).unwrap().unwrap().due_on, d("2026-06-04"));
        assert_eq!(o.allowed_actions(Party::Registry), vec!["forward_objection"]);
        let f = o.apply(ObjectionCommand::Forward, d("2026-06-02"), &cal, &rules).unwrap();
        // 19 June 2026 (Dragon Boat Festival) is a holiday.
        assert_eq!(f.timer.unwrap().due_on, cal.add_working_days(d("2026-06-02"), 10).unwrap());
        assert!(f.object.apply(ObjectionCommand::Decide { upheld: true }, d("2026-06-03"), &cal, &rules).is_err());
        let due = f.timer.unwrap().due_on;
        assert!(f.object.apply(ObjectionCommand::AnswerLapsed, due, &cal, &rules).is_err());
        let l = f.object.apply(ObjectionCommand::AnswerLapsed, due.succ_opt().unwrap(), &cal, &rules).unwrap();
        assert_eq!(l.object.state, ObjectionState::AwaitingDecision);
        let up = l.object.apply(ObjectionCommand::Decide { upheld: true }, due, &cal, &rules).unwrap();
        assert_eq!(up.object.state, ObjectionState::Upheld);
    }

    #[test]
    fn cancellation_skips_publicity() {
        let (cal, rules) = setup();
        let r = Registration::new(RegistrationType::Cancellation, d("2026-07-01"));
        let a = r.apply(&Command::Accept, d("2026-07-01"), &cal, &rules).unwrap();
        assert_eq!(a.timer.unwrap().due_on, d("2026-07-15"));
        assert_eq!(a.object.allowed_actions(Party::Registry, d("2026-07-02")), vec!["complete_cancellation", "refuse"]);
        assert!(a.object.apply(&Command::StartPublicity, d("2026-07-02"), &cal, &rules).is_err());
        let c = a.object.apply(&Command::CompleteCancellation, d("2026-07-02"), &cal, &rules).unwrap();
        assert_eq!(c.object.state, RegistrationState::Approved);
    }

    #[test]
    fn names_round_trip() {
        for g in RefusalGround::ALL {
            assert_eq!(g.as_str().parse::<RefusalGround>().unwrap(), *g);
        }
        for s in RegistrationState::ALL {
            assert_eq!(s.as_str().parse::<RegistrationState>().unwrap(), *s);
        }
        assert!("maybe".parse::<RegistrationType>().is_err());
    }
}
