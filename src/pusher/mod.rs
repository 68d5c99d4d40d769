//! placeholder
pub mod apps;
pub mod auth;
pub mod channels;
pub mod codes;
pub mod engine;
pub mod http_api;
pub(crate) mod json;
pub mod messages;
pub mod query;
pub mod state;
pub mod webhooks;
