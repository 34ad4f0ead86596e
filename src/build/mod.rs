//! Building what a target runs: the app's source set, its Python environment.

pub mod python;
pub mod source;
