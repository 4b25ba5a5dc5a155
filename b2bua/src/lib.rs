//! The SIP back-to-back user agent.
