//! Times the Lambda zip build (deps for linux x86_64 / CPython 3.11 + zip) for one app:
//! cold (empty aideploy cache), warm (nothing changed), and after a one-file change.
//! Run through `scripts/bench/zip.sh`, which also runs the baselines and sets uv/pip up
//! to install offline from the test wheelhouse.
//!
//! Usage: cargo bench --bench lambda_zip -- APP_DIR WORK_DIR RUNS

use std::path::{Path, PathBuf};
use std::time::Instant;

use aideploy::artifact::pydeps::Arch;
use aideploy::artifact::zip::{lambda_zip_for, LambdaZip};
use aideploy::engine::Reporter;
use aideploy::manifest;

struct Quiet;
impl Reporter for Quiet {
    fn step(&self, _: &str) {}
    fn progress(&self, _: &str) {}
    fn warn(&self, _: &str) {}
    fn detail(&self, m: &str) {
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            eprintln!("  {m}");
        }
    }
    fn done(&self) {}
}

fn build(app: &Path) -> (f64, LambdaZip) {
    let started = Instant::now();
    let loaded = manifest::load(&app.join("aideploy.toml")).expect("the app's manifest loads");
    let zip = lambda_zip_for(&loaded, Arch::X86_64, &Quiet).unwrap_or_else(|e| panic!("build failed: {e:#}"));
    (started.elapsed().as_secs_f64(), zip)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [app, work, runs] = args.as_slice() else {
        eprintln!("usage: cargo bench --bench lambda_zip -- APP_DIR WORK_DIR RUNS");
        std::process::exit(2);
    };
    let app = PathBuf::from(app);
    let work = PathBuf::from(work);
    let runs: usize = runs.parse().expect("RUNS is a number");
    let main_py = app.join("app/main.py");
    let original = std::fs::read_to_string(&main_py).expect("app/main.py");

    let (mut cold, mut warm, mut edit) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for i in 0..runs {
        let cache = work.join(format!("cache-{i}"));
        let _ = std::fs::remove_dir_all(&cache);
        std::env::set_var("AIDEPLOY_CACHE_DIR", &cache);
        let (t, z) = build(&app);
        assert!(!z.cached);
        cold.push(t);
        let (t, z2) = build(&app);
        assert!(z2.cached && z2.sha256 == z.sha256);
        warm.push(t);
        std::fs::write(&main_py, format!("{original}\n# edit {i}\n")).unwrap();
        let (t, z3) = build(&app);
        std::fs::write(&main_py, &original).unwrap();
        assert!(!z3.cached && z3.sha256 != z.sha256);
        edit.push(t);
        last = Some(z);
        let _ = std::fs::remove_dir_all(&cache);
    }
    let z = last.expect("RUNS >= 1");
    println!(
        "{}",
        serde_json::json!({
            "cold_s": median(cold.clone()),
            "warm_s": median(warm.clone()),
            "one_file_change_s": median(edit.clone()),
            "cold_all": cold, "warm_all": warm, "one_file_change_all": edit,
            "zip_bytes": z.bytes, "unzipped_bytes": z.unzipped_bytes, "entries": z.entries,
        })
    );
}
