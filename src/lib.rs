//! aideploy: deploy an AI app from one manifest. The binary's `main` parses arguments
//! and maps errors to exit codes; everything else lives here.

pub mod artifact;
pub mod backends;
pub mod ci;
pub mod cli;
pub mod cloud;
pub mod commands;
pub mod cost;
pub mod engine;
pub mod envvars;
pub mod error;
pub mod manifest;
pub mod report;
pub mod secrets;
pub mod ui;
pub mod util;
