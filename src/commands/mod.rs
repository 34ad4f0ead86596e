//! One file per command. Each `run` returns the exit code for a finished command, or an
//! error that `main` prints and maps to its exit code.

pub mod build;
pub mod ci;
pub mod completions;
pub mod cost;
pub mod deploy;
pub mod destroy;
pub mod gc;
pub mod history;
pub mod init;
pub mod logs;
pub mod plan;
pub mod rollback;
pub mod schema;
pub mod secrets;
pub mod status;
pub mod validate;

use std::sync::Arc;

use anyhow::Result;

use crate::backends;
use crate::cli::{Cli, Command, GlobalArgs, TargetArgs};
use crate::engine::{Backend, Cx, Provider};
use crate::manifest::{self, Stage};
use crate::secrets::Secrets;
use crate::ui::Ui;

pub async fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    let g = &cli.global;
    match cli.command {
        Command::Init(args) => {
            let written = init::run(&args, g, ui)?;
            init::show_next(ui, &written.next);
            if ui.json {
                ui.result_json(&serde_json::to_value(&written)?);
            }
            Ok(0)
        }
        Command::Up(args) => {
            crate::artifact::pydeps::settings::set_refresh(args.refresh);
            deploy::up(&args, g, ui).await
        }
        Command::Deploy(args) => {
            crate::artifact::pydeps::settings::set_refresh(args.refresh);
            deploy::run(&args, g, ui).await
        }
        Command::Plan(args) => plan::run(&args, g, ui).await,
        Command::Gc(args) => gc::run(&args, g, ui).await,
        Command::Build(args) => {
            crate::artifact::pydeps::settings::set_refresh(args.refresh);
            build::run(&args, g, ui).await
        }
        Command::Status(args) => status::run(&args, g, ui).await,
        Command::Rollback(args) => rollback::run(&args, g, ui).await,
        Command::History(args) => history::run(&args, g, ui).await,
        Command::Logs(args) => logs::run(&args, g, ui).await,
        Command::Destroy(args) => destroy::run(&args, g, ui).await,
        Command::Secrets(args) => secrets::run(&args, g, ui).await,
        Command::Cost(args) => cost::run(&args, g, ui),
        Command::Ci(args) => ci::run(&args, g, ui).await,
        Command::Validate => validate::run(g, ui),
        Command::Schema => schema::run(ui),
        Command::Completions { shell } => completions::run(shell),
    }
}

pub fn parse_stage(g: &GlobalArgs) -> Result<Stage> {
    g.stage.parse::<Stage>().map_err(|e| {
        let (msg, help) = e.split_once(manifest::values::HELP_SEP).unwrap_or((&e, ""));
        crate::error::UsageError::new(format!("--stage: {msg}")).hint(help.to_string()).into()
    })
}

/// `--ttl`, checked before anything else: refused on the default stage (the app's main
/// one, which `gc` must never remove), so a time to live needs an explicit `--stage`.
pub fn check_ttl(ttl: Option<std::time::Duration>, g: &GlobalArgs) -> Result<Option<std::time::Duration>> {
    let Some(ttl) = ttl else { return Ok(None) };
    if parse_stage(g)?.to_string() == crate::cli::DEFAULT_STAGE {
        return Err(crate::error::UsageError::new(format!(
            "--ttl needs a preview stage: `{}` is the default stage, and `aideploy gc` would destroy it once the time to live passed",
            crate::cli::DEFAULT_STAGE
        ))
        .hint("give the preview a stage of its own, e.g. `--stage pr-42 --ttl 72h`, or drop --ttl")
        .into());
    }
    Ok(Some(ttl))
}

pub fn load_manifest(g: &GlobalArgs) -> Result<manifest::Loaded> {
    let path = manifest::locate(g.manifest.as_deref());
    Ok(manifest::load(&path)?)
}

/// Loads the manifest, picks the target, resolves secrets when the command needs them.
pub fn context(args: &TargetArgs, g: &GlobalArgs, ui: &Ui, with_secrets: bool) -> Result<(Cx, Box<dyn Backend>)> {
    let stage = parse_stage(g)?;
    let loaded = load_manifest(g)?;
    let mut sets = args.set.clone();
    if let Some(region) = &args.region {
        sets.push(format!("region={region}"));
    }
    let target = loaded.manifest.target(args.target.as_deref(), &sets)?;
    let backend = backends::for_kind(target.kind);
    let caps = backend.capabilities();
    if let Some(profile) = &args.profile {
        if caps.provider != Provider::Aws {
            return Err(crate::error::UsageError::new(format!(
                "--profile names an AWS profile, and `{}` is not an AWS target",
                target.name
            ))
            .hint("drop --profile, or pick a lambda, ec2 or sagemaker target")
            .into());
        }
        crate::cloud::aws::use_profile(profile);
    }
    // Targets with a secret store of their own (Secrets Manager) take what the local env
    // and .env have and use the stored value for the rest (`secrets set`); the backend
    // says which required secret is in neither place.
    let secrets = match (with_secrets, caps.secret_store) {
        (false, _) => Secrets::default(),
        (true, true) => Secrets::available(&loaded),
        (true, false) => Secrets::resolve(&loaded, ui)?,
    };
    Ok((
        Cx {
            loaded: Arc::new(loaded),
            target,
            stage,
            secrets,
            poll: crate::engine::wait::PollPolicy::from_env(),
            purge: false,
            ttl: None,
            expired_only: false,
        },
        backend,
    ))
}
