//! Packages a model directory into model.tar.gz: what scripts/bench/model_archive.sh
//! runs under `/usr/bin/time -v` to measure peak RSS.
//! Usage: model_archive MODEL_DIR OUT_FILE

use std::path::PathBuf;
use std::time::Instant;

use aideploy::artifact::model_archive::{build_model_archive, ModelArchiveSpec};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [model, out] = args.as_slice() else {
        anyhow::bail!("usage: model_archive MODEL_DIR OUT_FILE");
    };
    let started = Instant::now();
    let spec = ModelArchiveSpec { model_dir: PathBuf::from(model), code_dir: None, epoch: 0 };
    let archive = build_model_archive(&spec, &PathBuf::from(out))?;
    println!(
        "{}",
        serde_json::json!({
            "digest": archive.digest,
            "bytes": archive.bytes,
            "files": archive.files,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
