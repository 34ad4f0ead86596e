use anyhow::Result;

use crate::manifest;
use crate::ui::Ui;

pub fn run(ui: &Ui) -> Result<u8> {
    ui.result_json(&manifest::json_schema());
    Ok(0)
}
