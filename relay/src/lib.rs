//! The media relay data plane.
