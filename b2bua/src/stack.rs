//! The SIP stack (RFC 3261 §17, §18, §12): [`transport`] (flows, stream framing, the
//! §18.1.1 switch to TCP, Via edits), [`transaction`] (the four transaction state machines and
//! their layer), [`ids`] (Call-ID, tag and branch types), [`dialog`] (route sets, in-dialog requests, 2xx retransmission), and
//! [`stateless`], the answers given without any state. Sans-IO throughout.

pub mod dialog;
pub(crate) mod hostport;
pub mod ids;
pub mod stateless;
pub mod transaction;
pub mod transport;
