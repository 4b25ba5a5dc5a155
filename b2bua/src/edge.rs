//! The customer edge, for customers behind NAT (sans-IO, composed by the endpoint's front door):
//! [`registrar`], the RFC 3261 §10.3 location service with RFC 5626 flows and keepalives, and
//! the forward-mode registration cache; [`auth`], digest challenges and verification;
//! [`throttle`], per-source rate limits and failed-authentication back-off; [`nat`], NAT
//! detection and Contact fix-up; [`customers`], the front door composing them per
//! `[[realm]]`; and [`admission`], call admission caps per source, user and route.

pub mod admission;
pub mod auth;
pub mod customers;
pub mod nat;
pub mod registrar;
pub mod throttle;
