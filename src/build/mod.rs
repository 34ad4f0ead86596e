//! Building what a target runs: the app's source set, its Python environment, OCI
//! images (layers, registry client) and model archives.

pub mod model_archive;
pub mod oci;
pub mod python;
pub mod registry;
pub mod source;
