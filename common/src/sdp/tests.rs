//! Tests over whole SDP bodies.
