//! Every command-line definition, in one place.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use clap_complete::Shell;

use crate::envvars;

#[derive(Debug, Parser)]
#[command(
    name = "aideploy",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("AIDEPLOY_COMMIT"), ")"),
    about = "Deploy an AI app (FastAPI/ASGI, any HTTP server, a model) from one manifest, aideploy.toml",
    after_help = "Examples:
  aideploy up --target local             # run the app on this machine, no cloud account
  aideploy plan --target local           # show what a deploy would change
  aideploy deploy --target local --yes   # CI: never prompts
  aideploy status --json                 # machine-readable state

Exit codes: 0 ok, 1 failed, 2 usage or manifest error, 3 deployed but unhealthy
(the previous version keeps serving), 130 interrupted.",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]
    #[arg(short = 'C', long = "manifest", global = true, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Stage (environment) to act on; resource names carry it
    #[arg(long, global = true, env = envvars::AIDEPLOY_STAGE, default_value = DEFAULT_STAGE, value_name = "NAME")]
    pub stage: String,
    /// Print the result as one JSON object on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Print less on stderr (-q: warnings and errors only)
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Print more on stderr (-v, -vv)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// No spinners or progress bars: one line per step, and one with its duration when it ends
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Apply without asking (needed when stdin is not a terminal or CI is set)
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// How long deploy, rollback and destroy wait for another run of the same app, stage
    /// and target to finish (`90s`, `5m`)
    #[arg(long, global = true, default_value = "5m", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
}

/// The stage a run acts on when neither `--stage` nor `$AIDEPLOY_STAGE` names one: the
/// app's main stage, which `--ttl` refuses (so `gc` never removes it).
pub const DEFAULT_STAGE: &str = "dev";

/// `300`, `90s`, `5m`, `1h`, `1d`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map(|i| s.split_at(i)).unwrap_or((s, "s"));
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a duration: write it as 90s, 5m or 1h"))?;
    let per = match unit.trim() {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit `{other}` in `{s}`: write it as 90s, 5m or 1h")),
    };
    let secs = n.checked_mul(per).filter(|s| *s <= MAX_DURATION_SECS).ok_or_else(|| format!("`{s}` is too long: at most 3650d"))?;
    Ok(std::time::Duration::from_secs(secs))
}

/// Ten years: longer durations are typing mistakes, and would overflow a time.
const MAX_DURATION_SECS: u64 = 3650 * 86_400;

/// `--ttl`: a duration above zero (`90m`, `72h`, `3d`).
pub fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("`{s}` is no time to live: give a duration above zero, like 90m, 72h or 3d"));
    }
    Ok(d)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write an aideploy.toml for the app in this folder, or add a target to the one there
    #[command(after_help = "Examples:
  aideploy init                          # asks for the name and target at a terminal
  aideploy init --target local --yes     # no questions: detected defaults
  aideploy init --target lambda          # aideploy.toml exists: adds [targets.lambda] to it

It ends with the commands to run next (`next` in --json).")]
    Init(InitArgs),
    /// Write aideploy.toml if there is none, then deploy
    #[command(after_help = "Examples:
  aideploy up --target local             # from a fresh folder to a running app
  aideploy up --target local --set port=9000")]
    Up(DeployArgs),
    /// Build, plan, apply and health-check a deploy
    #[command(after_help = "Examples:
  aideploy deploy --target local
  aideploy deploy --target local --yes --json   # CI
  aideploy deploy --target local --stage prod --set health_timeout=120
  aideploy deploy --target lambda --refresh     # dependencies installed again, not from the cache
  aideploy deploy --target ec2 --over-budget    # even above [cost] budget_usd
  aideploy deploy --target lambda --stage pr-42 --ttl 72h   # gc removes it after 72h")]
    Deploy(DeployArgs),
    /// Show what a deploy would change, changing nothing
    #[command(after_help = "Examples:
  aideploy plan --target local
  aideploy plan --target local --json
  aideploy plan --target lambda --stage pr-42 --ttl 72h   # and the expiry the deploy would set")]
    Plan(PlanArgs),
    /// Build the target's artifact without deploying it
    #[command(after_help = "Examples:
  aideploy build --target lambda                 # the Lambda zip (deps for linux x86_64)
  aideploy build --package image --push          # OCI image to [build] registry / $AIDEPLOY_REGISTRY
  aideploy build --target local                  # the local Python environment and source set
  aideploy build --package zip --json
  aideploy build --target lambda --refresh       # install the dependencies again")]
    Build(BuildArgs),
    /// Show what is deployed: URL, version, health (every target without --target)
    #[command(after_help = "Examples:
  aideploy status                         # every target of the manifest, one row each
  aideploy status --json                  # {\"app\": ..., \"targets\": [...]}
  aideploy status --target local
  aideploy status --target local --json
  aideploy status --metrics               # requests, error rate, p50/p95 latency, last hour")]
    Status(StatusArgs),
    /// Put the previous version back, or any kept release (--to), health-gated like a deploy
    #[command(after_help = "Examples:
  aideploy rollback --target local
  aideploy rollback --target lambda --to 7        # an ID that `aideploy history` lists
  aideploy rollback --target local --json")]
    Rollback(RollbackArgs),
    /// List the releases aideploy made, newest first, and the ones the platform keeps
    #[command(after_help = "Examples:
  aideploy history --target lambda
  aideploy history --target cloudrun --json       # {\"releases\": [{id, digest, outcome, ...}]}

Each row: the ID `rollback --to` takes, the artifact's digest, when and by whom, the git
commit (+ when the working tree had changes), the aideploy version, the manifest's digest,
and the outcome: live, previous, failed or rolled back. The record is kept in the target's
cloud beside the deploy lease, so every clone and CI job sees the same one.")]
    History(TargetArgs),
    /// Print the deployed app's log (every target, from the platform's own log store)
    #[command(after_help = "Examples:
  aideploy logs --target local            # the last 100 lines
  aideploy logs --target local -f         # and follow, until Ctrl-C
  aideploy logs --target lambda -n 20 --since 10m
  aideploy logs --target lambda --json    # one JSON object per line: timestamp, message, stream")]
    Logs(LogsArgs),
    /// Remove everything a deploy of this app and stage created
    #[command(after_help = "Examples:
  aideploy destroy --target local
  aideploy destroy --target local --stage pr-42 --yes
  aideploy destroy --target appservice --purge   # also purge the soft-deleted Key Vault")]
    Destroy(DestroyArgs),
    /// Destroy every preview stage of this app whose time to live (deploy --ttl) has passed
    #[command(after_help = "Examples:
  aideploy gc --dry-run                   # list the expired stages and what destroy would remove
  aideploy gc --yes                       # CI, on a schedule: destroy them without asking
  aideploy gc --target lambda --json      # {\"expired\": [...], \"kept\": [...]}

The stages and their expiry are read from each target's cloud (the deploy lease record
that also keeps the release history), not from this machine, so any clone or CI job
finds them. A stage whose lease another run holds is skipped, and so is one deployed again
with a new --ttl since gc listed it. Exit 1 when a destroy fails or a target's stages cannot
be read; a target that cannot list stages yet is named and skipped.")]
    Gc(GcArgs),
    /// Store, list, read or remove the app's secrets in the target's secret store
    #[command(after_help = "Examples:
  aideploy secrets set OPENAI_API_KEY --target lambda            # hidden prompt, or $OPENAI_API_KEY
  printf %s \"$KEY\" | aideploy secrets set OPENAI_API_KEY --stdin -t lambda --yes
  aideploy secrets set OPENAI_API_KEY -t cloudrun --deploy       # and roll the app onto it
  aideploy secrets list --target lambda --json
  aideploy secrets get OPENAI_API_KEY --target lambda --reveal
  aideploy secrets rm OPENAI_API_KEY --target lambda --yes")]
    Secrets(SecretsArgs),
    /// Estimate each target's monthly cost from the manifest and a price table, side by side
    #[command(after_help = "Examples:
  aideploy cost                           # every target of the manifest, one row each
  aideploy cost -t lambda -t cloudrun     # these targets or kinds, declared or not
  aideploy cost --json                    # {\"targets\": [{\"target\", \"kind\", \"monthly_usd\", ...}]}

Traffic comes from [cost] in aideploy.toml (requests_per_day, avg_duration_ms,
hours_per_day); nothing is read from any cloud.")]
    Cost(CostArgs),
    /// Set up CI: the workflow file and keyless cloud login from the CI's OIDC token
    #[command(after_help = "Examples:
  aideploy ci init --provider github --target lambda    # the repository: git's `origin`
  aideploy ci init --provider gitlab --repo acme/rag --branch main --target lambda --yes
  aideploy ci destroy --yes                             # what ci init made

No long-lived secret is created: pushes to the branch deploy with a deploy identity,
pull requests plan with a read-only one, and (GitHub) preview stages deploy from the
`preview` environment. Cloud side: AWS (lambda, ec2, sagemaker targets), Google Cloud
(cloudrun) and Azure (appservice).")]
    Ci(CiArgs),
    /// Check the manifest and report every problem
    #[command(after_help = "Examples:
  aideploy validate
  aideploy validate -C services/rag/aideploy.toml --json")]
    Validate,
    /// Print the manifest's JSON Schema (for editors)
    #[command(after_help = "Examples:
  aideploy schema > aideploy.schema.json")]
    Schema,
    /// Print a shell completion script
    #[command(after_help = "Examples:
  aideploy completions bash > ~/.local/share/bash-completion/completions/aideploy
  aideploy completions zsh > ~/.zfunc/_aideploy
  aideploy completions fish > ~/.config/fish/completions/aideploy.fish")]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)
    #[arg(short, long, value_name = "NAME")]
    pub target: Option<String>,
    /// Override one target setting for this run (repeatable), checked like the file
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Cloud region for this run (the same as --set region=REGION)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else
    /// the default chain]
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// zip or image [default: the target's (lambda: zip, local: its environment, others:
    /// image), else `[build] package`, else image]
    #[arg(long, value_parser = ["zip", "image"], value_name = "KIND")]
    pub package: Option<String>,
    /// Push the image to `[build] registry` (or $AIDEPLOY_REGISTRY)
    #[arg(long)]
    pub push: bool,
    /// Also write the image to FILE as an archive for `docker load -i FILE` or `skopeo
    /// copy docker-archive:FILE ...`, to run it elsewhere
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Install the Python dependencies again instead of reusing the cached set (picks up
    /// new releases of requirements that are not pinned)
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also show requests, error rate and p50/p95 latency over the last hour, from the
    /// platform's metrics API (CloudWatch, Cloud Monitoring, Azure Monitor, Railway, Render)
    #[arg(long)]
    pub metrics: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Go to this kept release (an ID, or a prefix of one or of its digest, that
    /// `aideploy history` lists) instead of the one before the live one
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Keep printing what the app writes, until Ctrl-C (exit code 130, no error)
    #[arg(short, long)]
    pub follow: bool,
    /// How many of the last lines to print first
    #[arg(short = 'n', long, default_value_t = 100, value_name = "N")]
    pub lines: usize,
    /// Only lines written in this last while (`90s`, `10m`, `2h`, `1d`); cloud targets
    /// look back 1h unless told
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,
}

#[derive(Debug, Args, Clone)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Install the Python dependencies again instead of reusing the cached set (picks up
    /// new releases of requirements that are not pinned)
    #[arg(long)]
    pub refresh: bool,
    /// Deploy even when the estimated monthly cost is above `[cost] budget_usd`
    #[arg(long)]
    pub over_budget: bool,
    /// A preview stage's time to live (`90m`, `72h`, `3d`): once it has passed, `aideploy
    /// gc` destroys the stage. Needs --stage (not the default stage); a deploy without it
    /// keeps the expiry the stage has
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: Option<std::time::Duration>,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also show the expiry a `deploy --ttl DURATION` would set (see `deploy --help`)
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: Option<std::time::Duration>,
}

#[derive(Debug, Args, Clone)]
pub struct GcArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// List the expired stages and what destroying them would remove; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CostArgs {
    /// A target to estimate: a [targets.NAME] or a kind (repeatable) [default: every
    /// target of the manifest, else every kind]
    #[arg(short, long, value_name = "NAME")]
    pub target: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also purge soft-deleted stores (Azure Key Vault); irreversible. Without it a
    /// deleted vault stays recoverable for its retention period. Asked separately at a
    /// terminal; --yes answers both questions
    #[arg(long)]
    pub purge: bool,
}

#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// The target to write a section for, or to add when aideploy.toml exists (asked at a
    /// terminal when absent)
    #[arg(short, long, value_name = "KIND")]
    pub target: Option<String>,
    /// The app's name [default: the folder's name]
    #[arg(long)]
    pub name: Option<String>,
    /// Overwrite an existing aideploy.toml (without it, init adds a target to it)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(Debug, Subcommand, Clone)]
pub enum SecretsCommand {
    /// Store a secret's value: from --stdin, the local environment or .env, or a hidden prompt
    #[command(after_help = "Examples:
  aideploy secrets set OPENAI_API_KEY --target lambda
  printf %s \"$KEY\" | aideploy secrets set OPENAI_API_KEY --stdin --target lambda
  aideploy secrets set OPENAI_API_KEY --target cloudrun --deploy --yes")]
    Set {
        /// The secret's name, as in [secrets]
        name: String,
        /// Read the value from stdin (one trailing newline is dropped)
        #[arg(long)]
        stdin: bool,
        /// Then deploy, so the running app gets the new value (a normal, health-gated deploy)
        #[arg(long)]
        deploy: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Print a stored secret's value: at a terminal, or anywhere with --reveal
    #[command(after_help = "Examples:
  aideploy secrets get OPENAI_API_KEY --target lambda
  aideploy secrets get OPENAI_API_KEY --target lambda --reveal | pbcopy")]
    Get {
        /// The secret's name
        name: String,
        /// Print the value even when stdout is not a terminal (a pipe, a file, CI logs)
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List the secrets: names, versions and when they last changed, never values
    #[command(after_help = "Examples:
  aideploy secrets list --target lambda
  aideploy secrets list --target lambda --json")]
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Remove a stored secret (recoverable for 7 days on AWS)
    #[command(after_help = "Examples:
  aideploy secrets rm OPENAI_API_KEY --target lambda --yes")]
    Rm {
        /// The secret's name
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

#[derive(Debug, Args, Clone)]
pub struct CiArgs {
    #[command(subcommand)]
    pub command: CiCommand,
}

#[derive(Debug, Subcommand, Clone)]
pub enum CiCommand {
    /// Write the CI workflow and create the cloud identities it logs in as (shown as a plan,
    /// confirmed like a deploy)
    #[command(after_help = "Examples:
  aideploy ci init --provider github --target lambda
  aideploy ci init --provider github --repo acme/rag --target lambda --target gpu --yes
  aideploy ci init --provider gitlab --issuer https://gitlab.example.com --target lambda
  aideploy ci init --provider github --target cloudrun --target appservice")]
    Init(CiInitArgs),
    /// Remove what `ci init` created: its identities, roles and policies (the OIDC provider
    /// only when aideploy made it and nothing else uses it), and its workflow file
    #[command(after_help = "Examples:
  aideploy ci destroy
  aideploy ci destroy --target lambda --yes --json")]
    Destroy(CiDestroyArgs),
}

#[derive(Debug, Args, Clone)]
pub struct CiInitArgs {
    /// The CI that runs the workflow and issues its OIDC tokens
    #[arg(long, value_enum)]
    pub provider: crate::ci::CiProvider,
    /// The repository, OWNER/NAME [default: from the git remote `origin`]
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// The branch whose pushes deploy
    #[arg(long, default_value = "main", value_name = "NAME")]
    pub branch: String,
    /// A target the workflow deploys (repeatable): a [targets.NAME] or a kind
    #[arg(short, long = "target", value_name = "NAME", required = true)]
    pub targets: Vec<String>,
    /// The OIDC issuer of a self-managed GitLab (or GitHub Enterprise Server)
    /// [default: https://gitlab.com, https://token.actions.githubusercontent.com]
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// The shell command each job runs to install aideploy when its cache has none, e.g.
    /// `cargo install --locked --git URL aideploy` for a build from your own mirror
    /// [default: cargo install --locked aideploy --version VERSION]
    #[arg(long, value_name = "COMMAND")]
    pub install: Option<String>,
    /// Replace a workflow file that aideploy did not write
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CiDestroyArgs {
    /// Only the cloud side of these targets (repeatable) [default: every target of the
    /// manifest]
    #[arg(short, long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::{parse_duration, parse_ttl};
    use std::time::Duration;

    #[test]
    fn durations_and_times_to_live() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse_ttl("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_ttl("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse_ttl(" 1s "), Ok(Duration::from_secs(1)));
        // No time at all, a unit it does not know, no number, a number that overflows.
        assert!(parse_ttl("0h").unwrap_err().contains("above zero"));
        assert!(parse_ttl("3w").unwrap_err().contains("unknown unit `w`"));
        assert!(parse_ttl("h").unwrap_err().contains("not a duration"));
        assert!(parse_ttl("99999999999999999d").unwrap_err().contains("too long"));
        assert!(parse_ttl("3651d").unwrap_err().contains("too long"));
    }
}
