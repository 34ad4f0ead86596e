use anyhow::Result;

use super::context;
use crate::cli::{GlobalArgs, LogsArgs};
use crate::error::UsageError;
use crate::secrets::Secrets;
use crate::ui::{print_stdout, Ui};

pub async fn run(args: &LogsArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    if ui.json {
        return Err(UsageError::new("`logs` prints the app's own lines; it has no --json form").hint("drop --json").into());
    }
    let (cx, backend) = context(&args.target, g, ui, false)?;
    // Best effort: values known without asking are masked if the app prints them.
    let secrets = Secrets::available(&cx.loaded);
    let out = move |line: &str| print_stdout(&secrets.redact(line));
    backend.logs(&cx, args.lines, args.follow, &out).await?;
    Ok(0)
}
