//! Upload throughput of the sagemaker target's model archive path: one PUT, a multipart
//! upload one part at a time, and the multipart upload with parts in parallel (what a
//! deploy uses), the same file to the same S3 endpoint in the same run. Run by
//! scripts/bench/sagemaker_upload.sh against moto (AWS_ENDPOINT_URL and credentials
//! from the environment). Usage: sagemaker_upload SIZE_MIB

use std::time::Instant;

use aideploy::backends::sagemaker::{upload, Clients};
use aideploy::engine::Silent;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mib: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(256);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).region(aws_config::Region::new("us-east-1")).load().await;
    let c = Clients::new(&config);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("model.tar.gz");
    // Incompressible bytes, like weights.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut data = Vec::with_capacity((mib << 20) as usize);
    while data.len() < (mib << 20) as usize {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&path, &data)?;
    drop(data);
    let bytes = mib << 20;
    // A bucket of its own, configured as the artifact bucket is (cloud::aws_bucket).
    let account = c.account().await?;
    let bucket =
        aideploy::cloud::aws_bucket::Bucket { name: format!("aideploy-bench-{}", std::process::id()), account, region: c.region.clone() };
    aideploy::cloud::aws_bucket::ensure(&c.s3, &bucket, &aideploy::cloud::aws_bucket::Seen::Missing).await?;
    let mut results = serde_json::Map::new();
    let mut time = |name: &str, secs: f64| {
        results.insert(
            name.to_string(),
            serde_json::json!({"seconds": (secs * 1000.0).round() / 1000.0, "mib_per_s": ((mib as f64 / secs) * 10.0).round() / 10.0}),
        );
    };
    let t = Instant::now();
    aideploy::cloud::aws_bucket::put_object(&c.s3, &bucket, "single", &path, "application/gzip", &[]).await?;
    time("single_put", t.elapsed().as_secs_f64());
    let t = Instant::now();
    upload::put_multipart(&c.s3, &bucket, "sequential", &path, bytes, upload::PART_SIZE, 1, "", &Silent).await?;
    time("multipart_1_at_a_time", t.elapsed().as_secs_f64());
    let t = Instant::now();
    upload::put_multipart(&c.s3, &bucket, "parallel", &path, bytes, upload::PART_SIZE, upload::PARALLEL_PARTS, "", &Silent).await?;
    time(&format!("multipart_{}_in_parallel", upload::PARALLEL_PARTS), t.elapsed().as_secs_f64());
    println!("{}", serde_json::json!({"mib": mib, "part_mib": upload::PART_SIZE >> 20, "results": results}));
    Ok(())
}
