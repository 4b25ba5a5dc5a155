//! Virtual-time tests of the endpoint.
