//! placeholder
pub mod auth;
pub mod channels;
pub mod codes;
pub(crate) mod json;
pub mod query;
