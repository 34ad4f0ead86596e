//! Build + push of one app image, timed: what scripts/bench/oci_image.sh runs.
//! Usage: oci_image APP_DIR DEPS_DIR BASE_REF TARGET_REF BLOB_STORE_DIR
//! Prints one JSON object: digest, image bytes, uploaded bytes, build and push seconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aideploy::artifact::oci::blobs::BlobStore;
use aideploy::artifact::oci::{build_image, Entrypoint, ImageSpec, LayerRole};
use aideploy::artifact::registry::{Anonymous, Client, Options, Reference};
use aideploy::artifact::source;

use aideploy::engine::Silent as Quiet;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [app, deps, base, target, store] = args.as_slice() else {
        anyhow::bail!("usage: oci_image APP_DIR DEPS_DIR BASE_REF TARGET_REF BLOB_STORE_DIR");
    };
    let started = Instant::now();
    let client = Client::new(Arc::new(Anonymous), BlobStore::new(store), Options::default())?;
    let source = source::collect(&PathBuf::from(app), &[])?;
    let mut spec = ImageSpec::new(Reference::parse(base)?, source, Entrypoint::Asgi("app.main:app".into()), 8000);
    spec.deps = Some(PathBuf::from(deps));
    let image = build_image(&spec, &client, &Quiet).await?;
    let built = started.elapsed().as_secs_f64();
    let report = client.push(&image, &Reference::parse(target)?, &Quiet).await?;
    let total = started.elapsed().as_secs_f64();
    let app_layer = image.layer(LayerRole::App).map(|l| l.size).unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "digest": image.digest,
            "image_bytes": image.bytes(),
            "app_layer_bytes": app_layer,
            "uploaded_bytes": report.uploaded_bytes,
            "build_s": built,
            "push_s": total - built,
            "total_s": total,
            "cached_layers": image.layers.iter().filter(|l| l.role != LayerRole::Base && l.cached).count(),
        })
    );
    Ok(())
}
