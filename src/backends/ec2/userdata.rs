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
    /// An open model behind an OpenAI-compatible server.
    Model { server: Server, model: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Vllm,
    Tgi,
}

impl Server {
    /// The server's image, pinned to a release.
    pub fn image(self) -> &'static str {
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
}

/// Single-quoted for the shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub const CONTAINER: &str = "aideploy-app";

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
        for (name, arn) in self.secrets {
            s.push_str(&format!(
                "printf '%s=%s\\n' {} \"$(aws secretsmanager get-secret-value --secret-id {} --query SecretString --output text)\" >>\"$ENVFILE\"\n",
                sh_quote(name),
                sh_quote(arn)
            ));
        }
        let (image, inner_port, args) = match self.workload {
            Workload::App { image, ecr_host, container_port } => {
                if let Some(host) = ecr_host {
                    s.push_str(&format!("aws ecr get-login-password | docker login --username AWS --password-stdin {}\n", sh_quote(host)));
                }
                s.push_str(&format!("printf 'PORT=%s\\n' {container_port} >>\"$ENVFILE\"\n"));
                (image.clone(), *container_port, String::new())
            }
            Workload::Model { server, model } => {
                s.push_str("mkdir -p /opt/aideploy/models\n");
                let args = match server {
                    Server::Vllm => format!(
                        " --ipc=host -v /opt/aideploy/models:/root/.cache/huggingface {} --model {}",
                        server.image(),
                        sh_quote(model)
                    ),
                    Server::Tgi => {
                        format!(" --shm-size 1g -v /opt/aideploy/models:/data {} --model-id {}", server.image(), sh_quote(model))
                    }
                };
                (String::new(), server.port(), args)
            }
        };
        let image_arg = if image.is_empty() { String::new() } else { format!(" {}", sh_quote(&image)) };
        if !image.is_empty() {
            s.push_str(&format!("for i in 1 2 3 4 5; do docker pull {} && break; sleep 10; done\n", sh_quote(&image)));
        }
        s.push_str(&format!("docker rm -f {CONTAINER} >/dev/null 2>&1 || true\n"));
        s.push_str(&format!(
            "docker run -d --name {CONTAINER} --restart unless-stopped --gpus all -p {}:{inner_port} --env-file \"$ENVFILE\"{image_arg}{args}\n",
            self.port
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
        let s = Script { label: "a (dev)", region: "us-east-1", workload: &w, port: 8080, env: &env, secrets: &secrets }.render();
        assert!(s.contains("docker pull '1.dkr.ecr.us-east-1.amazonaws.com/aideploy/a-dev@sha256:ab'"), "{s}");
        assert!(s.contains("docker login --username AWS --password-stdin '1.dkr.ecr.us-east-1.amazonaws.com'"));
        assert!(s.contains("--secret-id 'arn:aws:secretsmanager:us-east-1:1:secret:aideploy/a/dev/API_KEY-x'"));
        assert!(s.contains("--restart unless-stopped --gpus all -p 8080:8000"));
        assert!(s.contains(r"'GREETING' 'it'\''s'"));
    }

    #[test]
    fn model_script_runs_the_server_image() {
        let w = Workload::Model { server: Server::Vllm, model: "TheBloke/Llama-2-7B-Chat-AWQ".into() };
        let s =
            Script { label: "l", region: "us-east-1", workload: &w, port: 8000, env: &BTreeMap::new(), secrets: &BTreeMap::new() }.render();
        assert!(s.contains("-p 8000:8000 --env-file \"$ENVFILE\" --ipc=host"), "{s}");
        assert!(s.contains("vllm/vllm-openai:v0.6.3 --model 'TheBloke/Llama-2-7B-Chat-AWQ'"));
        assert!(!s.contains("docker login"));
        let w = Workload::Model { server: Server::Tgi, model: "m/x".into() };
        let s = Script { label: "l", region: "r", workload: &w, port: 9000, env: &BTreeMap::new(), secrets: &BTreeMap::new() }.render();
        assert!(s.contains("-p 9000:80") && s.contains("--model-id 'm/x'"));
    }
}
