//! The instance's user data: a shell script cloud-init runs once at first boot. It holds
//! names, ARNs and the image reference, never a secret value: the values are read from
//! Secrets Manager with the instance profile at boot, into a root-only file that exists
//! only until the container has been created.

use std::collections::BTreeMap;

/// What the script starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// The app's own image, by digest; `ecr_host` when it is pulled from ECR.
    App { image: String, ecr_host: Option<String>, container_port: u16 },
    /// An open model behind an OpenAI-compatible server: `image` is the server's image
    /// pinned by digest (`repo@sha256:...`).
    Model { server: Server, model: String, image: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Vllm,
    Tgi,
}

impl Server {
    /// The server's image by release tag: resolved to a digest when planning, so what
    /// runs is fixed by the plan (`server_image` names another).
    pub fn default_image(self) -> &'static str {
        match self {
            Server::Vllm => "vllm/vllm-openai:v0.6.3",
            Server::Tgi => "ghcr.io/huggingface/text-generation-inference:2.4.0",
        }
    }
    /// The port the server listens on inside its container.
    pub fn port(self) -> u16 {
        match self {
            Server::Vllm => 8000,
            Server::Tgi => 80,
        }
    }
}

pub struct Script<'a> {
    pub label: &'a str,
    pub region: &'a str,
    pub workload: &'a Workload,
    /// The host port the security group opens.
    pub port: u16,
    /// `[env]`: plain values.
    pub env: &'a BTreeMap<String, String>,
    /// Secret name -> ARN.
    pub secrets: &'a BTreeMap<String, String>,
    /// The CloudWatch log group the container's output goes to.
    pub log_group: &'a str,
}

/// Docker's `awslogs` driver options: the container's output to `group` (made by
/// aideploy, so the driver never creates one), a stream per container.
fn log_opts(region: &str, group: &str) -> String {
    format!(" --log-driver awslogs --log-opt awslogs-region={} --log-opt awslogs-group={}", sh_quote(region), sh_quote(group))
}

/// Single-quoted for the shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub const CONTAINER: &str = "aideploy-app";

/// Reads one secret into the env file, or stops the script: an app started with an
/// empty value would pass for healthy while it cannot work, so a secret that cannot be
/// read (no permission, no such secret, no value) leaves the app unstarted and the
/// health gate reports the failure. A `v=$(...)` inside an `if` keeps `set -e` from
/// hiding the status, which `printf ... "$(aws ...)"` did (the substitution's failure
/// is not the command's). Tried five times: the instance profile can take a moment to
/// become usable at first boot.
const READ_SECRET: &str = r#"read_secret() {
  local v i
  for i in 1 2 3 4 5; do
    if v=$(aws secretsmanager get-secret-value --secret-id "$2" --query SecretString --output text) && [ -n "$v" ] && [ "$v" != None ]; then
      printf '%s=%s\n' "$1" "$v" >>"$ENVFILE"
      return 0
    fi
    sleep 10
  done
  echo "aideploy: cannot read secret $1 from Secrets Manager ($2): the app is not started" >&2
  rm -f "$ENVFILE"
  exit 1
}
"#;

impl Script<'_> {
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("#!/bin/bash\n");
        s.push_str(&format!("# aideploy: {}. Written by aideploy; holds no secret values.\n", self.label.replace('\n', " ")));
        s.push_str("set -euo pipefail\nexec >>/var/log/aideploy.log 2>&1\n");
        s.push_str(&format!("export AWS_DEFAULT_REGION={}\n", sh_quote(self.region)));
        s.push_str("mkdir -p /run/aideploy && chmod 700 /run/aideploy\numask 077\nENVFILE=/run/aideploy/env\n: >\"$ENVFILE\"\n");
        for (k, v) in self.env {
            s.push_str(&format!("printf '%s=%s\\n' {} {} >>\"$ENVFILE\"\n", sh_quote(k), sh_quote(&v.replace('\n', " "))));
        }
        if !self.secrets.is_empty() {
            s.push_str(READ_SECRET);
        }
        for (name, arn) in self.secrets {
            s.push_str(&format!("read_secret {} {}\n", sh_quote(name), sh_quote(arn)));
        }
        // `docker run [opts] IMAGE [args]`: options before the image, the server's
        // arguments after it.
        let (image, inner_port, opts, args) = match self.workload {
            Workload::App { image, ecr_host, container_port } => {
                if let Some(host) = ecr_host {
                    s.push_str(&format!("aws ecr get-login-password | docker login --username AWS --password-stdin {}\n", sh_quote(host)));
                }
                s.push_str(&format!("printf 'PORT=%s\\n' {container_port} >>\"$ENVFILE\"\n"));
                (image, *container_port, String::new(), String::new())
            }
            Workload::Model { server, model, image } => {
                s.push_str("mkdir -p /opt/aideploy/models\n");
                let (opts, args) = match server {
                    Server::Vllm => (
                        " --ipc=host -v /opt/aideploy/models:/root/.cache/huggingface".to_string(),
                        format!(" --model {}", sh_quote(model)),
                    ),
                    Server::Tgi => (" --shm-size 1g -v /opt/aideploy/models:/data".to_string(), format!(" --model-id {}", sh_quote(model))),
                };
                (image, server.port(), opts, args)
            }
        };
        s.push_str(&format!("for i in 1 2 3 4 5; do docker pull {} && break; sleep 10; done\n", sh_quote(image)));
        s.push_str(&format!("docker rm -f {CONTAINER} >/dev/null 2>&1 || true\n"));
        s.push_str(&format!(
            "docker run -d --name {CONTAINER} --restart unless-stopped --gpus all -p {}:{inner_port} --env-file \"$ENVFILE\"{opts}{} {}{args}\n",
            self.port,
            log_opts(self.region, self.log_group),
            sh_quote(image)
        ));
        s.push_str("rm -f \"$ENVFILE\"\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_script_pulls_by_digest_and_reads_secrets_by_arn() {
        let env = BTreeMap::from([("GREETING".to_string(), "it's".to_string())]);
        let secrets =
            BTreeMap::from([("API_KEY".to_string(), "arn:aws:secretsmanager:us-east-1:1:secret:aideploy/a/dev/API_KEY-x".to_string())]);
        let w = Workload::App {
            image: "1.dkr.ecr.us-east-1.amazonaws.com/aideploy/a-dev@sha256:ab".into(),
            ecr_host: Some("1.dkr.ecr.us-east-1.amazonaws.com".into()),
            container_port: 8000,
        };
        let s = Script {
            label: "a (dev)",
            region: "us-east-1",
            workload: &w,
            port: 8080,
            env: &env,
            secrets: &secrets,
            log_group: "/aideploy/a-dev",
        }
        .render();
        assert!(s.contains("docker pull '1.dkr.ecr.us-east-1.amazonaws.com/aideploy/a-dev@sha256:ab'"), "{s}");
        assert!(s.contains("docker login --username AWS --password-stdin '1.dkr.ecr.us-east-1.amazonaws.com'"));
        assert!(s.contains("read_secret 'API_KEY' 'arn:aws:secretsmanager:us-east-1:1:secret:aideploy/a/dev/API_KEY-x'"), "{s}");
        assert!(s.contains("--secret-id \"$2\""), "{s}");
        assert!(s.contains("--restart unless-stopped --gpus all -p 8080:8000"));
        assert!(
            s.contains("--log-driver awslogs --log-opt awslogs-region='us-east-1' --log-opt awslogs-group='/aideploy/a-dev' '1.dkr"),
            "{s}"
        );
        assert!(s.contains(r"'GREETING' 'it'\''s'"));
    }

    /// Runs the script under bash with stub `aws`, `docker` and `sleep` commands first
    /// on PATH and the root-only paths moved into a temp dir; returns (exit code, the
    /// docker commands run, what the env file held when `docker run` read it).
    fn boot(script: &str, aws_works: bool) -> (Option<i32>, String, String) {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let bin = root.join("bin");
        fs_err::create_dir_all(&bin).unwrap();
        let stub = |name: &str, body: &str| {
            let p = bin.join(name);
            fs_err::write(&p, format!("#!/bin/bash\n{body}\n")).unwrap();
            fs_err::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        if aws_works {
            stub("aws", "case \"$*\" in *get-secret-value*) echo sk-from-store-123456789;; *) echo token;; esac");
        } else {
            stub("aws", "echo 'An error occurred (AccessDeniedException) when calling the GetSecretValue operation' >&2; exit 254");
        }
        let log = root.join("docker.log");
        let env_seen = root.join("env-seen");
        stub(
            "docker",
            &format!(
                "echo \"$*\" >>{log}\nif [ \"$1\" = run ]; then while [ $# -gt 0 ]; do [ \"$1\" = --env-file ] && cp \"$2\" {seen}; shift; done; fi",
                log = log.display(),
                seen = env_seen.display()
            ),
        );
        stub("sleep", "exit 0");
        let script = script
            .replace("/var/log/aideploy.log", &root.join("boot.log").display().to_string())
            .replace("/run/aideploy", &root.join("run").display().to_string());
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let out = std::process::Command::new("bash").arg("-c").arg(&script).env("PATH", path).output().unwrap();
        let read = |p: &std::path::Path| fs_err::read_to_string(p).unwrap_or_default();
        (out.status.code(), read(&log), read(&env_seen))
    }

    #[test]
    fn boot_stops_before_the_app_when_a_secret_cannot_be_read() {
        let secrets = BTreeMap::from([("API_KEY".to_string(), "arn:aws:secretsmanager:us-east-1:1:secret:k".to_string())]);
        let w = Workload::App { image: "127.0.0.1:5000/a@sha256:ab".into(), ecr_host: None, container_port: 8000 };
        let script = Script {
            label: "a",
            region: "us-east-1",
            workload: &w,
            port: 8000,
            env: &BTreeMap::new(),
            secrets: &secrets,
            log_group: "/aideploy/a-dev",
        }
        .render();
        // The same script starts the app when the store answers, with the value in its env file...
        let (code, docker, env) = boot(&script, true);
        assert_eq!(code, Some(0), "{docker}");
        assert!(docker.contains("run -d --name aideploy-app"), "{docker}");
        assert!(env.contains("API_KEY=sk-from-store-123456789\n"), "{env}");
        // ...and stops, the app never run, when it does not.
        let (code, docker, _) = boot(&script, false);
        assert_ne!(code, Some(0));
        assert!(!docker.contains("run "), "the app was started without its secret: {docker}");
        assert!(!docker.contains("pull "), "{docker}");
    }

    #[test]
    fn model_script_runs_the_server_image() {
        let w = Workload::Model {
            server: Server::Vllm,
            model: "TheBloke/Llama-2-7B-Chat-AWQ".into(),
            image: format!("docker.io/vllm/vllm-openai@sha256:{}", "a".repeat(64)),
        };
        let s = Script {
            label: "l",
            region: "us-east-1",
            workload: &w,
            port: 8000,
            env: &BTreeMap::new(),
            secrets: &BTreeMap::new(),
            log_group: "/aideploy/a-dev",
        }
        .render();
        assert!(s.contains("-p 8000:8000 --env-file \"$ENVFILE\" --ipc=host"), "{s}");
        // The server runs by digest, pulled with retries like the app's image.
        let pinned = format!("'docker.io/vllm/vllm-openai@sha256:{}' --model 'TheBloke/Llama-2-7B-Chat-AWQ'", "a".repeat(64));
        assert!(s.contains(&pinned), "{s}");
        assert!(s.contains(&format!("docker pull 'docker.io/vllm/vllm-openai@sha256:{}'", "a".repeat(64))), "{s}");
        assert!(!s.contains("docker login"));
        let w = Workload::Model { server: Server::Tgi, model: "m/x".into(), image: "r/tgi@sha256:00".into() };
        let s = Script {
            label: "l",
            region: "r",
            workload: &w,
            port: 9000,
            env: &BTreeMap::new(),
            secrets: &BTreeMap::new(),
            log_group: "/aideploy/a-dev",
        }
        .render();
        assert!(s.contains("-p 9000:80") && s.contains("--model-id 'm/x'"));
    }
}
