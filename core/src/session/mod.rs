//! Sessions (placeholder).
