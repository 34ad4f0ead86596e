//! One test binary for the suites that share nothing process-wide: each file below is a
//! module, so `scripts/test lambda_target` selects one of them by name. Linking one
//! binary instead of one per file keeps a clean build within small CI disks (every test
//! binary links the AWS, Google and Azure clients). cloud_logins.rs and lambda_zip.rs set
//! process environment variables, so they stay binaries of their own (Cargo.toml).

mod common;
mod fakes {
    pub mod arm;
    pub mod arm_metrics;
    pub mod arm_roles;
    pub mod gcp;
    pub mod gcp_monitoring;
    pub mod gcp_wif;
    pub mod railway;
    pub mod railway_metrics;
    pub mod render;
    pub mod render_metrics;
}

mod app_pass;
mod appservice_target;
mod budget_alerts;
mod build_cli;
mod checks;
mod checks_lambda;
mod ci_init;
mod cli;
mod cloudrun_target;
mod completions;
mod conformance;
mod cost_cli;
mod credential_hops;
mod ec2_address;
mod ec2_alb;
mod ec2_target;
mod first_contact;
mod lambda_target;
mod local_target;
mod login_checks;
mod manifest_errors;
mod manifest_schema;
mod oci_image;
mod permissions_doc;
mod railway_target;
mod render_target;
mod sagemaker_target;
mod source_set;
mod terminal;
