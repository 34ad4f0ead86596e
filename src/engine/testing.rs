//! What the unit tests of every target's pure `plan` share: a run's context built from a
//! manifest's text, with no file, no cloud and no secret values unless a test adds them.

use std::path::PathBuf;
use std::sync::Arc;

use super::wait::PollPolicy;
use super::Cx;
use crate::manifest::Loaded;

/// The context of a run of `target` in stage `dev`, from the manifest `text` and `--set`
/// pairs (`key=value`).
pub fn cx(text: &str, target: &str, sets: &[&str]) -> Cx {
    let manifest = crate::manifest::parse(text, "aideploy.toml").unwrap_or_else(|e| panic!("the test manifest: {e:?}"));
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let target = manifest.target(Some(target), &sets).unwrap_or_else(|e| panic!("the test target `{target}`: {e:?}"));
    let loaded = Loaded {
        path: PathBuf::from("/nowhere/aideploy.toml"),
        dir: PathBuf::from("/nowhere"),
        display_name: "aideploy.toml".into(),
        text: text.into(),
        manifest,
    };
    Cx {
        loaded: Arc::new(loaded),
        target,
        stage: "dev".parse().expect("a stage"),
        secrets: Default::default(),
        poll: PollPolicy { fixed: Some(std::time::Duration::from_millis(1)) },
        purge: false,
        ttl: None,
        expired_only: false,
    }
}

/// [`cx`] with the secret `name` set to `value`, as if read from the environment.
pub fn cx_with_secret(text: &str, target: &str, sets: &[&str], name: &str, value: &str) -> Cx {
    let mut cx = cx(text, target, sets);
    cx.secrets.values.insert(name.into(), crate::secrets::SecretValue::new(value.into()));
    cx
}
