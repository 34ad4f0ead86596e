//! Every environment variable aideploy reads, by name.

/// Default for `--stage`.
pub const AIDEPLOY_STAGE: &str = "AIDEPLOY_STAGE";
/// Where built environments and other caches live (default: the user's cache dir).
pub const AIDEPLOY_CACHE_DIR: &str = "AIDEPLOY_CACHE_DIR";
/// Where the local target keeps its processes' state and logs (default: the user's
/// state dir).
pub const AIDEPLOY_STATE_DIR: &str = "AIDEPLOY_STATE_DIR";
/// The Python interpreter to build local environments with (default: `python3.X` for
/// the manifest's runtime, then `python3`).
pub const AIDEPLOY_PYTHON: &str = "AIDEPLOY_PYTHON";
/// `0` builds artifacts without bytecode (default: Lambda zips carry `.pyc` files for
/// the target's Python when a `python3.X` of that version is on this machine).
pub const AIDEPLOY_BYTECODE: &str = "AIDEPLOY_BYTECODE";
/// Set by CI systems: never prompt.
pub const CI: &str = "CI";
/// Disable colours.
pub const NO_COLOR: &str = "NO_COLOR";
/// Log filter for -v output (tracing's syntax).
pub const AIDEPLOY_LOG: &str = "AIDEPLOY_LOG";
/// Seconds since the epoch stamped on built artifacts (file mtimes, image `created`),
/// per reproducible-builds.org; default 0.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
/// The repository images are pushed to (overrides `[build] registry` and the
/// registry a target implies).
pub const AIDEPLOY_REGISTRY: &str = "AIDEPLOY_REGISTRY";
/// A login for the push registry, when it is not in the Docker configuration.
pub const AIDEPLOY_REGISTRY_USERNAME: &str = "AIDEPLOY_REGISTRY_USERNAME";
pub const AIDEPLOY_REGISTRY_PASSWORD: &str = "AIDEPLOY_REGISTRY_PASSWORD";
/// The read-only login railway and render pull the image with (both or neither; they
/// take the place of the target's `pull_username` and `pull_password_secret`). Never
/// the push login, never passed to the app.
pub const AIDEPLOY_PULL_USERNAME: &str = "AIDEPLOY_PULL_USERNAME";
pub const AIDEPLOY_PULL_PASSWORD: &str = "AIDEPLOY_PULL_PASSWORD";
/// Render API key (bearer).
pub const RENDER_API_KEY: &str = "RENDER_API_KEY";
/// Render API base URL including `/v1` (default `https://api.render.com/v1`).
pub const AIDEPLOY_RENDER_ENDPOINT: &str = "AIDEPLOY_RENDER_ENDPOINT";
/// Railway account or team token (sent as a bearer token).
pub const RAILWAY_API_TOKEN: &str = "RAILWAY_API_TOKEN";
/// Railway project token (sent in the `Project-Access-Token` header).
pub const RAILWAY_TOKEN: &str = "RAILWAY_TOKEN";
/// Railway GraphQL endpoint, full URL (default `https://backboard.railway.com/graphql/v2`).
pub const AIDEPLOY_RAILWAY_ENDPOINT: &str = "AIDEPLOY_RAILWAY_ENDPOINT";
/// Azure Resource Manager base URL (default `https://management.azure.com`; sovereign
/// clouds, emulators and tests override it). A loopback URL gets no credentials.
pub const AIDEPLOY_AZURE_ENDPOINT: &str = "AIDEPLOY_AZURE_ENDPOINT";
/// The URL an App Service site is reached at, `{host}` standing for its
/// `defaultHostName` (default `https://{host}`): for sites behind a proxy, a private
/// endpoint or an internal App Service Environment, where the health gate must go.
pub const AIDEPLOY_AZURE_SITE_URL_TEMPLATE: &str = "AIDEPLOY_AZURE_SITE_URL_TEMPLATE";
/// The URL a Key Vault's data plane is reached at, `{host}` standing for the host of
/// its `vaultUri` (default `https://{host}`): `aideploy secrets get` and `rm` on the
/// appservice target go there (a private endpoint, a test fake); a loopback URL is
/// sent no credentials.
pub const AIDEPLOY_AZURE_VAULT_URL_TEMPLATE: &str = "AIDEPLOY_AZURE_VAULT_URL_TEMPLATE";
/// One base URL for every Cloud Run, Secret Manager and Artifact Registry call (tests,
/// emulators); a loopback URL is sent no credentials.
pub const AIDEPLOY_GCP_ENDPOINT: &str = "AIDEPLOY_GCP_ENDPOINT";
/// The Google Cloud project, when the target has no `project` (gcloud's variables).
pub const GOOGLE_CLOUD_PROJECT: &str = "GOOGLE_CLOUD_PROJECT";
pub const CLOUDSDK_CORE_PROJECT: &str = "CLOUDSDK_CORE_PROJECT";
/// The Cloud Run region, when the target has no `region`.
pub const CLOUDSDK_RUN_REGION: &str = "CLOUDSDK_RUN_REGION";
/// gcloud's configuration folder (default `~/.config/gcloud`).
pub const CLOUDSDK_CONFIG: &str = "CLOUDSDK_CONFIG";
/// ec2: reach instances' app port through this `host:port` for health checks instead
/// of their public IP (an SSH tunnel or bastion; tests point it at a local server).
pub const AIDEPLOY_EC2_HEALTH_HOST: &str = "AIDEPLOY_EC2_HEALTH_HOST";
/// Milliseconds between polls of every long-running operation (a deploy's rollout, an
/// instance starting), instead of each wait's own schedule: tests set it low so waits
/// on emulators and fakes take no time.
pub const AIDEPLOY_POLL_INTERVAL_MS: &str = "AIDEPLOY_POLL_INTERVAL_MS";
/// The settle delay, in milliseconds, of a lease kept in a plain register (no
/// compare-and-swap in the cloud's API: appservice, render): how long a run waits after
/// writing its claim before it reads it back. 5000 unless set; tests may lower it.
pub const AIDEPLOY_LEASE_SETTLE_MS: &str = "AIDEPLOY_LEASE_SETTLE_MS";
/// How long, in seconds, the health gate accepts the same failing answer (a server
/// error from the app, or 404 on the health path) before it stops waiting: 15 unless
/// set; tests may lower it.
pub const AIDEPLOY_HEALTH_STEADY_SECS: &str = "AIDEPLOY_HEALTH_STEADY_SECS";
