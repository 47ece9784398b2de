//! The sandbox (授权运营域, SPEC §4): raw data never leaves the domain; sensitive data is usable
//! but invisible. Ingestion, governed tables with masking, the invisible-column lineage check,
//! and governed SQL on DataFusion.

pub mod aggregation;
pub mod differencing;
pub mod distributed;
pub mod dp;
pub mod engine;
pub mod error;
pub mod export;
pub mod governed;
pub mod ingest;
pub mod interface;
pub mod lineage;
pub mod masking;
pub mod modelling;
pub mod noise;
pub mod quality;
pub mod row_filter;
pub mod watermark;

pub use error::{Result, SandboxError};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_privacy;
