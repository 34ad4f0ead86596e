//! Building what a target runs: the app's source set, its Python environment, the
//! target's dependencies and the Lambda zip.

pub mod pydeps;
pub mod python;
pub mod source;
pub mod zip;
