use anyhow::Result;

use super::context;
use crate::cli::{GlobalArgs, LogsArgs};
use crate::engine::{LogLine, LogQuery};
use crate::secrets::Secrets;
use crate::ui::{print_stdout, Ui};

pub async fn run(args: &LogsArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, backend) = context(&args.target, g, ui, false)?;
    // Best effort: values known without asking are masked if the app prints them.
    let secrets = Secrets::available(&cx.loaded);
    let json = ui.json;
    let out = move |line: &LogLine| print_stdout(&render(line, &secrets.redact(&line.message), json));
    let query = LogQuery { lines: args.lines, follow: args.follow, since: args.since };
    backend.logs(&cx, &query, &out).await?;
    Ok(0)
}

/// One line for people (`timestamp  message`, or the message alone when the platform
/// gives no time), or one JSON object (`--json`).
fn render(line: &LogLine, message: &str, json: bool) -> String {
    if json {
        return serde_json::json!({"timestamp": line.timestamp, "message": message, "stream": line.source}).to_string();
    }
    match &line.timestamp {
        Some(t) => format!("{t}  {message}"),
        None => message.to_string(),
    }
}
