//! What every workflow shares. A workflow object (registration, objection, …) is a state enum
//! plus the dates its deadlines count from; its transitions are pure functions
//! `(object, command, today, calendar, profile) -> Step`. The store persists the step's object,
//! its [`Timer`] and its audit event in one transaction; the scheduler fires timers that fall
//! due. Nothing here reads a clock: `today` is always passed in, so a test clock drives it all.

use chrono::NaiveDate;
use serde::Serialize;

/// What happens when a deadline passes with no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// The scheduler performs this transition itself (e.g. an unsupplemented application is
    /// withdrawn, a publicity period ends in approval).
    Transition(&'static str),
    /// The deadline is the platform's own (the registry must decide): the object is flagged
    /// overdue and escalated to the authority, and stays where it is.
    Escalate,
}

/// The current deadline of a workflow object: the last day on which the awaited answer is on
/// time. The scheduler acts on the first day after `due_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub due_on: NaiveDate,
    /// Who must answer, for screens and escalation: `applicant`, `registry`, …
    pub awaiting: &'static str,
    pub expiry: Expiry,
}

impl Timer {
    /// True on the first day the deadline has passed.
    pub fn is_due(&self, today: NaiveDate) -> bool {
        today > self.due_on
    }

    /// The name stored with the timer, which the scheduler dispatches on.
    pub fn action_name(&self) -> &'static str {
        match self.expiry {
            Expiry::Transition(name) => name,
            Expiry::Escalate => "escalate",
        }
    }
}

/// One transition's result: the new object, its deadline (none in a final state or while
/// paused), and the audit action naming what happened.
#[derive(Debug, Clone)]
pub struct Step<T> {
    pub object: T,
    pub timer: Option<Timer>,
    pub event: &'static str,
}

/// A refusal of a command by a workflow: the stable error code, what is wrong in both
/// languages' terms (the server adds the catalogue text), and the article behind it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The action exists but not in this state (e.g. withdrawing after publicity started).
    #[error("action {action} is not allowed in state {state}")]
    NotAllowed { action: String, state: &'static str, basis: Option<String> },
    /// The command's input is incomplete or wrong; `field` names it.
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    /// A date the calendar cannot count from.
    #[error("{0}")]
    Calendar(String),
}

impl From<crate::CoreError> for WorkflowError {
    fn from(e: crate::CoreError) -> Self {
        WorkflowError::Calendar(e.to_string())
    }
}
