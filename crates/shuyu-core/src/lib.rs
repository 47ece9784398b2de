//! Shuyu's pure domain: identifiers, roles, working-day calendar, policy profiles,
//! validators for Chinese identifiers, the clock. Nothing here talks to a database or network.

#[macro_use]
mod named;

pub mod calendar;
pub mod catalogue;
pub mod certificate;
pub mod classification;
pub mod clock;
pub mod destruction;
pub mod error;
pub mod grants;
pub mod ids;
pub mod industry;
pub mod monitoring;
pub mod open_data;
pub mod operators;
pub mod personnel;
pub mod pricing;
pub mod privacy;
pub mod products;
pub mod profile;
pub mod quality;
pub mod registration;
pub mod revenue;
pub mod roles;
pub mod sharing;
pub mod validators;
pub mod workflow;

pub use error::CoreError;
