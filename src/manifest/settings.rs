//! The one table of target settings: each key once, with the kinds it applies to, the
//! default aideploy picks for each kind (as the TOML the user would write), and its
//! documentation. The manifest's parser, `--set`, the JSON Schema, the resolved values a
//! target reads ([`Resolved`]) and the table in docs/manifest.md all come from it.

use std::ops::Range;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::target::VarName;
use super::values::*;
use super::Sp;

/// `None` when the setting takes no default for `kind`, else the macro's argument.
macro_rules! some_or_none {
    () => {
        None
    };
    ($e:expr) => {
        Some($e)
    };
}

macro_rules! target_settings {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty => [$($kind:ident $(= $default:literal)?),*] ),* $(,)?) => {
        /// Settings of one target. Which keys a target accepts depends on its kind.
        #[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(transform = super::schema::per_kind)]
        pub struct TargetSettings {
            $( $(#[doc = $doc])* pub $field: Option<Sp<$ty>>, )*
        }

        /// A target's settings as it runs with them: what the manifest (or `--set`) gives,
        /// else the kind's default from the table; `None` only for a setting with no
        /// default for the kind (left to the cloud, or not applying to it).
        #[derive(Debug, Clone, Default)]
        pub struct Resolved {
            $( pub $field: Option<$ty>, )*
        }

        impl TargetSettings {
            /// The keys that are set, with their spans.
            pub(super) fn present(&self) -> Vec<(&'static str, Range<usize>)> {
                let mut out = Vec::new();
                $( if let Some(v) = &self.$field { out.push((stringify!($field), v.span.clone())); } )*
                out
            }

            /// Settings from `over` replace those of `self`.
            pub(super) fn merge(&mut self, over: TargetSettings) {
                $( if over.$field.is_some() { self.$field = over.$field; } )*
            }

            /// The kinds a key applies to; empty for an unknown key.
            pub fn kinds_of(key: &str) -> &'static [Kind] {
                match key {
                    $( stringify!($field) => &[$(Kind::$kind),*], )*
                    _ => &[],
                }
            }

            /// The defaults of a key: (kind, the value as TOML), for the kinds that have one.
            pub fn defaults_of(key: &str) -> Vec<(Kind, &'static str)> {
                match key {
                    $( stringify!($field) => {
                        let all: Vec<(Kind, Option<&'static str>)> =
                            vec![$((Kind::$kind, some_or_none!($(stringify!($default))?))),*];
                        all.into_iter().filter_map(|(k, d)| d.map(|d| (k, d))).collect()
                    } )*
                    _ => Vec::new(),
                }
            }

            /// A key's documentation, one line per source line.
            pub fn doc_of(key: &str) -> &'static str {
                match key {
                    $( stringify!($field) => concat!($($doc, "\n"),*), )*
                    _ => "",
                }
            }

            /// A key's Rust type, for the documentation's words ([`type_words`]).
            fn type_of(key: &str) -> &'static str {
                match key {
                    $( stringify!($field) => stringify!($ty), )*
                    _ => "",
                }
            }

            /// Every setting with `kind`'s defaults filled in where the file gives none.
            pub fn resolve(&self, kind: Kind) -> Resolved {
                Resolved {
                    $( $field: match &self.$field {
                        Some(v) => Some(v.get().clone()),
                        None => default_for::<$ty>(stringify!($field), kind),
                    }, )*
                }
            }

            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

/// The default of `key` for `kind`, parsed as the file's own value would be.
fn default_for<T: DeserializeOwned>(key: &str, kind: Kind) -> Option<T> {
    let (_, literal) = TargetSettings::defaults_of(key).into_iter().find(|(k, _)| *k == kind)?;
    parse_literal(literal).ok()
}

fn parse_literal<T: DeserializeOwned>(literal: &str) -> Result<T, toml::de::Error> {
    #[derive(Deserialize)]
    struct One<T> {
        v: T,
    }
    toml::from_str::<One<T>>(&format!("v = {literal}")).map(|o| o.v)
}

target_settings! {
    /// The target's kind; implied when the table's name is a kind (`[targets.lambda]`).
    kind: Kind => [Lambda, Cloudrun, Appservice, Ec2, Sagemaker, Railway, Render, Local],
    /// Seconds (1–3600) a deploy waits for the new version to answer its health path with
    /// 2xx: about what a new version needs on each platform (ec2: an instance boots and
    /// pulls first; sagemaker: the endpoint reaching `InService`).
    health_timeout: Seconds => [Local = 60, Lambda = 60, Cloudrun = 240, Appservice = 300, Railway = 300, Render = 600, Ec2 = 900, Sagemaker = 3600],
    /// The local port to serve on (default `[app] port`). The local target serves on
    /// 127.0.0.1 only unless `public = true`: a wildcard address in `command` (`--bind
    /// 0.0.0.0:$PORT`, `--host ::`, or `GRADIO_SERVER_NAME=0.0.0.0` set in the command) is
    /// run as 127.0.0.1, and `HOST`, `STREAMLIT_SERVER_ADDRESS`, `GRADIO_SERVER_NAME` are
    /// set to 127.0.0.1 unless `[env]` sets them.
    port: Port => [Local],
    /// Cloud region (e.g. `us-east-1`, `europe-west1`, `westeurope`; render: `frankfurt`,
    /// `oregon`, `ohio`, `singapore`, `virginia`). AWS targets: the AWS configuration's
    /// region when not given; cloudrun: `CLOUDSDK_RUN_REGION`, else gcloud's `run/region`.
    region: Region => [Lambda, Ec2, Sagemaker, Cloudrun, Appservice = "eastus", Render = "oregon"],
    /// Memory in MiB, or a string with a unit (`"512Mi"`, `"2Gi"`); lambda: 128–10240;
    /// cloudrun: Cloud Run's default unless given (`gpu` implies 16 GiB).
    memory: Memory => [Lambda = 512, Cloudrun],
    /// Request timeout in seconds (lambda: at most 900; behind API Gateway a request ends
    /// at 30 s whatever this says); cloudrun: Cloud Run's default unless given.
    timeout: Seconds => [Lambda = 30, Cloudrun],
    /// CPU architecture, `x86_64` or `arm64` (default: `[build] platform`'s, else `x86_64`).
    arch: Arch => [Lambda],
    /// Lambda SnapStart: each published version is initialised once when it is published,
    /// and new instances resume from that snapshot instead of importing the app again
    /// (python3.12 and later, zip functions only, not with `warm_instances`; AWS bills a
    /// Python snapshot while it is cached and on each restore).
    snapstart: bool => [Lambda = false],
    /// Instances of the live version kept initialised (provisioned concurrency on alias
    /// `live`, billed while idle; none unless given; not with `snapstart`).
    warm_instances: u32 => [Lambda],
    /// Throttling of the HTTP API's stage, `{ rps = 10, burst = 20 }` (none unless given).
    rate_limit: RateLimit => [Lambda],
    /// CORS for the HTTP API: `{ allow_origins, allow_methods, allow_headers, max_age }`.
    cors: Cors => [Lambda],
    /// Instance type (e.g. `g4dn.xlarge`, `ml.g5.xlarge`).
    instance_type: String => [Ec2 = "g4dn.xlarge", Sagemaker = "ml.g5.xlarge"],
    /// Number of endpoint instances (not with `serverless`).
    instance_count: u32 => [Sagemaker = 1],
    /// Networks allowed to reach the app (default: no address, unless `public = true`).
    /// ec2: the app port (with `load_balancer = true`, the load balancer's 80 or 443); a
    /// private instance is reached through SSM port forwarding, which `plan` prints. appservice: one allow rule per network on the site and its staging
    /// slot, every other address denied (also with `public = true`).
    allow_cidrs: Vec<Cidr> => [Ec2, Appservice],
    /// Networks allowed SSH access (none unless given).
    ssh_cidrs: Vec<Cidr> => [Ec2],
    /// Root volume size in GB.
    volume_gb: u32 => [Ec2 = 100],
    /// An AMI id overriding the Deep Learning AMI lookup.
    ami: String => [Ec2],
    /// An open model to serve, by its Hugging Face id.
    model: String => [Ec2],
    /// The model server for `model`: `vllm` or `tgi`.
    server: ModelServer => [Ec2 = "vllm"],
    /// The model server's image (default: the vLLM or TGI release aideploy pins); a tag
    /// is resolved to a digest when planning, shown in the plan, and the instance runs that
    /// digest; `repo@sha256:...` is taken as it is.
    server_image: String => [Ec2],
    /// ec2: put the instances behind an Application Load Balancer (internet-facing, in
    /// the default VPC's subnets) instead of an Elastic IP: a new instance is registered in
    /// its target group and healthy there before the old one is deregistered and
    /// terminated. The URL is the load balancer's name in DNS, the same after every deploy.
    load_balancer: bool => [Ec2 = false],
    /// The ACM certificate (`arn:aws:acm:...`) of the load balancer's HTTPS listener on
    /// port 443; only with `load_balancer = true` (without it the listener is plain HTTP on
    /// port 80).
    certificate_arn: String => [Ec2],
    /// Seconds (1–4000) the load balancer keeps a connection open with no bytes moving
    /// (with `load_balancer = true`): long enough for a streamed answer's pauses.
    idle_timeout: Seconds => [Ec2 = 300],
    /// Serverless inference, `{ memory, max_concurrency }` (memory 1024–6144 in steps of
    /// 1024, concurrency 1–200), instead of `instance_type`/`instance_count`.
    serverless: Serverless => [Sagemaker],
    /// The local model folder (weights at its root, handler in `code/inference.py`);
    /// needed unless `image` is given.
    model_dir: String => [Sagemaker],
    /// An existing inference image URI (e.g. in ECR) to serve instead of the region's
    /// Hugging Face inference container.
    image: String => [Sagemaker],
    /// Cloud project: the GCP project id (default: `GOOGLE_CLOUD_PROJECT`,
    /// `CLOUDSDK_CORE_PROJECT`, else gcloud's `core/project`), or a Railway project id or
    /// name (default: one aideploy creates).
    project: String => [Cloudrun, Railway],
    /// vCPUs per instance (Cloud Run's default unless given; `gpu` implies 4).
    cpu: f64 => [Cloudrun],
    /// Minimum instances kept warm.
    min_instances: u32 => [Cloudrun],
    /// Startup CPU boost: Cloud Run gives a starting instance more CPU until it answers
    /// its startup probe (on unless `false`).
    startup_cpu_boost: bool => [Cloudrun = true],
    /// Maximum instances.
    max_instances: u32 => [Cloudrun],
    /// Concurrent requests per instance.
    concurrency: u32 => [Cloudrun],
    /// GPU type (e.g. `nvidia-l4`).
    gpu: String => [Cloudrun],
    /// Runtime service account, used as given (default: one of the service's own,
    /// `aideploy-{app}-{stage}`, which aideploy creates and deletes; the project's default
    /// compute account is never used).
    service_account: String => [Cloudrun],
    /// Whether anyone on the internet may call the app. Default private on every target.
    /// cloudrun: allow unauthenticated calls; lambda: the HTTP API's route takes unsigned
    /// calls (else only SigV4-signed ones with `execute-api:Invoke`); local: serve on every
    /// interface, not only 127.0.0.1, and run `command` as written; ec2: open the app port
    /// (or the load balancer) to every address unless `allow_cidrs` limits it; appservice: let every address reach
    /// the site unless `allow_cidrs` limits it; railway: give the service a Railway domain
    /// (else only the project's private network reaches it, at
    /// `http://{app}-{stage}.railway.internal:{port}`); render: a web service with an
    /// `onrender.com` URL (else a private service reached at `{slug}:{port}` inside the
    /// workspace; switching replaces the service).
    public: bool => [Cloudrun = false, Local = false, Ec2 = false, Lambda = false, Appservice = false, Railway = false, Render = false],
    /// Azure subscription id (default: `AZURE_SUBSCRIPTION_ID`, else the Azure CLI's).
    subscription: String => [Appservice],
    /// Azure resource group (default: `aideploy-{app}-{stage}`, created and deleted by
    /// aideploy).
    resource_group: String => [Appservice],
    /// App Service plan SKU (e.g. `B1`, `S1`, `P1v3`).
    sku: String => [Appservice = "B1"],
    /// Render workspace (owner) id (default: the only one the API key sees).
    owner: String => [Render],
    /// Render instance plan (`starter`, `standard`, `pro`, ...).
    plan: String => [Render = "starter"],
    /// Railway workspace id: where aideploy creates (and looks for) the app's project.
    workspace: String => [Railway],
    /// The username of a read-only registry credential the platform pulls the image with
    /// (with `pull_password_secret`). Without one the platform pulls anonymously (the
    /// image must be public), and a cloud registry (ECR, Artifact Registry, ACR) is
    /// refused. `AIDEPLOY_PULL_USERNAME`/`AIDEPLOY_PULL_PASSWORD` take the place of both.
    pull_username: String => [Railway, Render],
    /// The name of the variable (environment, then `.env`) holding that credential's
    /// password; never an app variable (a `[secrets]` entry reading it is refused), and
    /// redacted from output.
    pull_password_secret: VarName => [Railway, Render],
}

/// The words the documentation uses for a setting's type.
fn type_words(rust: &str) -> Option<&'static str> {
    Some(match rust.replace(' ', "").as_str() {
        "Kind" => "kind",
        "Seconds" => "seconds",
        "Port" => "1–65535",
        "Region" => "string",
        "Memory" => "MiB, or `\"512Mi\"`/`\"2Gi\"`",
        "Arch" => "`x86_64` \\| `arm64`",
        "RateLimit" => "`{ rps, burst }`",
        "Cors" => "table",
        "String" => "string",
        "u32" => "integer",
        "f64" => "number",
        "bool" => "bool",
        "Vec<Cidr>" => "array of CIDRs",
        "ModelServer" => "`vllm` \\| `tgi`",
        "Serverless" => "`{ memory, max_concurrency }`",
        "VarName" => "variable name",
        _ => return None,
    })
}

/// A key's defaults for the table: `60` when every kind that has one agrees and all kinds
/// have one, else `kind: value` groups in the order of the setting's kinds.
fn defaults_words(key: &str) -> String {
    let defaults = TargetSettings::defaults_of(key);
    if defaults.is_empty() {
        return "—".into();
    }
    let mut groups: Vec<(Vec<&str>, &str)> = Vec::new();
    for (kind, value) in &defaults {
        match groups.iter_mut().find(|(_, v)| v == value) {
            Some((kinds, _)) => kinds.push(kind.as_str()),
            None => groups.push((vec![kind.as_str()], value)),
        }
    }
    if groups.len() == 1 && defaults.len() == TargetSettings::kinds_of(key).len() {
        return format!("`{}`", groups[0].1);
    }
    groups.iter().map(|(kinds, v)| format!("{}: `{v}`", kinds.join(", "))).collect::<Vec<_>>().join("; ")
}

/// The target-settings table of docs/manifest.md, generated from [`target_settings!`].
pub fn markdown_table() -> String {
    let mut out = String::from("| key | type | kinds | default | meaning |\n|-----|------|-------|---------|---------|\n");
    for key in TargetSettings::KEYS {
        let kinds = TargetSettings::kinds_of(key);
        let kinds = if kinds.len() == Kind::ALL.len() {
            "all".to_string()
        } else {
            kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        };
        let doc = TargetSettings::doc_of(key).lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        let ty = type_words(TargetSettings::type_of(key)).unwrap_or("?");
        out.push_str(&format!("| `{key}` | {ty} | {kinds} | {} | {} |\n", defaults_words(key), doc.replace('|', "\\|")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_kinds_a_type_and_a_doc() {
        for key in TargetSettings::KEYS {
            assert!(!TargetSettings::kinds_of(key).is_empty(), "{key}");
            assert!(type_words(TargetSettings::type_of(key)).is_some(), "{key}: {}", TargetSettings::type_of(key));
            assert!(!TargetSettings::doc_of(key).trim().is_empty(), "{key}");
        }
    }

    /// Every default is a value the file itself could give: it parses as the setting's
    /// type and passes that kind's checks (a default out of range is caught here).
    #[test]
    fn every_default_is_a_valid_setting_of_its_kind() {
        let mut seen = 0;
        for key in TargetSettings::KEYS {
            for (kind, literal) in TargetSettings::defaults_of(key) {
                let text = format!("kind = \"{kind}\"\n{key} = {literal}\n");
                let parsed: TargetSettings = toml::from_str(&text).unwrap_or_else(|e| panic!("{key} for {kind}: {e}"));
                let errors = super::super::target::check_settings(kind, &parsed, "default", &text);
                assert!(errors.is_empty(), "{key} = {literal} for {kind}: {:?}", errors.iter().map(|e| &e.message).collect::<Vec<_>>());
                let resolved = TargetSettings::default().resolve(kind);
                assert!(resolved_has(&resolved, key), "{key} has no resolved value for {kind}");
                seen += 1;
            }
        }
        assert!(seen >= 20, "only {seen} defaults");
    }

    fn resolved_has(r: &Resolved, key: &str) -> bool {
        match key {
            "health_timeout" => r.health_timeout.is_some(),
            "region" => r.region.is_some(),
            "memory" => r.memory.is_some(),
            "timeout" => r.timeout.is_some(),
            "instance_type" => r.instance_type.is_some(),
            "instance_count" => r.instance_count.is_some(),
            "volume_gb" => r.volume_gb.is_some(),
            "server" => r.server.is_some(),
            "public" => r.public.is_some(),
            "sku" => r.sku.is_some(),
            "plan" => r.plan.is_some(),
            "snapstart" => r.snapstart.is_some(),
            "startup_cpu_boost" => r.startup_cpu_boost.is_some(),
            "load_balancer" => r.load_balancer.is_some(),
            "idle_timeout" => r.idle_timeout.is_some(),
            other => panic!("add `{other}` to resolved_has"),
        }
    }

    #[test]
    fn a_given_value_wins_over_the_default_and_kinds_differ() {
        let s: TargetSettings = toml::from_str("instance_type = \"g5.xlarge\"\n").unwrap();
        assert_eq!(s.resolve(Kind::Ec2).instance_type.as_deref(), Some("g5.xlarge"));
        let none = TargetSettings::default();
        assert_eq!(none.resolve(Kind::Ec2).instance_type.as_deref(), Some("g4dn.xlarge"));
        assert_eq!(none.resolve(Kind::Sagemaker).instance_type.as_deref(), Some("ml.g5.xlarge"));
        assert_eq!(none.resolve(Kind::Lambda).instance_type, None);
        assert_eq!(none.resolve(Kind::Render).health_timeout.map(|s| s.0), Some(600));
        assert_eq!(none.resolve(Kind::Lambda).memory.map(|m| m.mib), Some(512));
    }

    #[test]
    fn defaults_read_as_the_docs_show_them() {
        assert_eq!(defaults_words("public"), "`false`");
        assert_eq!(defaults_words("ami"), "—");
        assert_eq!(defaults_words("instance_type"), "ec2: `\"g4dn.xlarge\"`; sagemaker: `\"ml.g5.xlarge\"`");
        assert!(defaults_words("health_timeout").starts_with("local, lambda: `60`; cloudrun: `240`"));
    }

    /// docs/manifest.md holds the table this module generates, between its markers;
    /// `AIDEPLOY_BLESS=1` rewrites it.
    #[test]
    fn the_manifest_doc_holds_the_generated_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/manifest.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = ("<!-- target-settings: generated by src/manifest/settings.rs -->\n", "<!-- end target-settings -->");
        let start = doc.find(begin).expect("begin marker in docs/manifest.md") + begin.len();
        let stop = doc[start..].find(end).expect("end marker") + start;
        let want = markdown_table();
        if doc[start..stop] != want {
            if std::env::var_os("AIDEPLOY_BLESS").is_some() {
                std::fs::write(&path, format!("{}{want}{}", &doc[..start], &doc[stop..])).unwrap();
            } else {
                panic!("docs/manifest.md's settings table is stale: run AIDEPLOY_BLESS=1 cargo test --lib settings");
            }
        }
    }
}
