//! The one error type of the pure domain. Every message names what is wrong and where, so that
//! an operator reading a start-up failure can fix the file without reading code.

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// An identifier that is not well-formed (ids.rs).
    #[error("{kind} is not a valid identifier: {value:?}")]
    InvalidId { kind: &'static str, value: String },

    /// A name that is not one of a closed set, e.g. a role or an identifier kind.
    #[error("{value:?} is not a known {kind}")]
    UnknownName { kind: &'static str, value: String },

    /// A Chinese identifier (resident ID, USCC, …) that fails its standard's rules
    /// (validators.rs). `reason` is the short sentence shown to a data steward.
    #[error("invalid {kind}: {reason}")]
    InvalidIdentifier { kind: &'static str, reason: String },

    /// A date in a year the working-day calendar has no data for (calendar.rs). Deadlines are
    /// never guessed from weekends alone.
    #[error(
        "the working-day calendar has no data for {year}; \
         add calendar/{year}.toml from the State Council notice"
    )]
    CalendarYearMissing { year: i32 },

    /// A calendar data file that cannot be read or is inconsistent (calendar.rs).
    #[error("calendar file {file}: {problem}")]
    CalendarFile { file: String, problem: String },

    /// A policy profile that does not load or validate (profile.rs). `key` is the dotted path
    /// of the offending entry, e.g. `registration.acceptance_days`.
    #[error("policy profile {file}: {key}: {problem}")]
    Profile { file: String, key: String, problem: String },
}
