//! Building what a target runs: the app's source set, its Python environment, the
//! target's dependencies, the Lambda zip, OCI images (layers, registry client) and model
//! archives.

pub mod bytecode;
pub mod image;
pub mod imports;
pub mod model_archive;
pub mod oci;
pub mod pydeps;
pub mod python;
pub mod registry;
pub mod reqfiles;
pub mod source;
pub mod source_rules;
pub mod zip;
