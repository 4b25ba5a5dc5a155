//! Operations: [`admin`] (the HTTP endpoint: health, readiness, Prometheus and the management
//! API), [`metrics`], [`cdr`] (call detail records and their writer thread), [`management`]
//! (the API's commands, run by the endpoint) and [`message_log`] (redacted, rate-limited SIP
//! message logging).

pub mod admin;
pub mod cdr;
pub mod management;
pub mod message_log;
pub mod metrics;
