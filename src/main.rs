use std::process::ExitCode;

use clap::Parser;

use aideploy::cli::Cli;
use aideploy::error::Interrupted;
use aideploy::{commands, envvars, report, ui::Ui};

fn main() -> ExitCode {
    // The local target's proxy runs as `aideploy __local-proxy LISTEN UPSTREAM_FILE`: an
    // internal entry point, kept out of clap so it is in no help or completion.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == aideploy::backends::local::PROXY_ARG) {
        return local_proxy(&args[2..]);
    }
    // Shell completion scripts ask `aideploy __complete WHAT WORDS...` for values that
    // depend on the folder (the manifest's target names); also kept out of clap.
    if args.get(1).is_some_and(|a| a == commands::completions::VALUES_ARG) {
        commands::completions::print_values(&args[2..]);
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return usage_error(err, &args),
    };
    let filter = match cli.global.verbose {
        0 => "off",
        1 => "aideploy=info",
        _ => "aideploy=debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env(envvars::AIDEPLOY_LOG).unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
    let ui = Ui::new(&cli.global);
    let json = cli.global.json;
    // Ctrl-C is how one leaves `logs -f`: not worth a line.
    let silent_interrupt = matches!(&cli.command, aideploy::cli::Command::Logs(a) if a.follow);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        // `biased`: the Ctrl-C handler is installed before the command's first poll, so a
        // prompt that meets Ctrl-C (dialoguer raises SIGINT) never kills the process with
        // the terminal half set up; the prompt itself returns `Interrupted`.
        tokio::select! {
            biased;
            Ok(()) = tokio::signal::ctrl_c() => Err(Interrupted.into()),
            r = commands::run(cli, &ui) => r,
        }
    });
    // Work interrupted mid-way runs its clean-up guards here, as the futures drop.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let interrupted = report::exit_code(&err) == aideploy::error::exit::INTERRUPTED;
            if !(interrupted && silent_interrupt) {
                report::print(&err, json);
            }
            ExitCode::from(report::exit_code(&err))
        }
    }
}

/// clap's own errors (an unknown flag, a repeated option) keep clap's text on stderr; with
/// `--json` stdout still gets its one JSON object, as every other error does.
fn usage_error(err: clap::Error, args: &[std::ffi::OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    let is_output = matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    let json = !is_output && args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json");
    if json {
        let message = err.kind().as_str().map_or_else(|| err.to_string(), str::to_string);
        let detail = err.render().to_string();
        let detail = detail.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
        let body = serde_json::json!({ "error": {
            "message": if detail.is_empty() { message } else { detail },
            "causes": [],
            "help": "run `aideploy --help` (or `aideploy COMMAND --help`) for the accepted arguments",
            "exit_code": aideploy::error::exit::USAGE,
        } });
        aideploy::ui::print_stdout(&serde_json::to_string_pretty(&body).expect("json"));
    }
    let _ = err.print();
    ExitCode::from(if is_output { 0 } else { aideploy::error::exit::USAGE })
}

fn local_proxy(args: &[std::ffi::OsString]) -> ExitCode {
    let [listen, upstream] = args else {
        eprintln!("usage: aideploy {} LISTEN UPSTREAM_FILE", aideploy::backends::local::PROXY_ARG);
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let result = runtime
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(aideploy::backends::local::proxy::serve(&listen.to_string_lossy(), std::path::Path::new(upstream))));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
