//! `build`: the model server's spec, or the app's image built on this machine. Nothing is
//! created or pushed: where the image goes and what pushing it would upload are read
//! (ECR DescribeRepositories and GetAuthorizationToken, registry HEAD requests).

use super::*;
use crate::artifact::image;
use crate::artifact::registry::Reference;
use crate::engine::ArtifactInfo;

pub(super) async fn build(cx: &Cx, r: &dyn Reporter) -> Result<BuiltOf<Artifact>> {
    let server_setting =
        if cx.target.settings.server.is_some() { Some("server") } else { cx.target.settings.server_image.as_ref().map(|_| "server_image") };
    if let (Some(setting), None) = (server_setting, &cx.target.settings.model) {
        return Err(UsageError::new(format!("`{setting}` is set but `model` is not"))
            .hint(format!("add `model = \"org/name\"` (a Hugging Face id) to [targets.{}], or drop `{setting}`", cx.target.name))
            .into());
    }
    if let Some((server, model)) = model_of(cx) {
        if model.split('/').count() != 2 || model.contains(char::is_whitespace) || model.starts_with('/') || model.ends_with('/') {
            return Err(UsageError::new(format!("`model = \"{model}\"` is not a Hugging Face model id"))
                .hint("give it as `org/name`, e.g. \"TheBloke/Llama-2-7B-Chat-AWQ\"")
                .into());
        }
        let image = pin_server_image(cx, r).await?;
        let workload = Workload::Model { server, model, image };
        let mut info = ArtifactInfo::plain("model-server", workload_digest(&workload), 0);
        info.reference = Some(workload_image(&workload));
        return Ok(BuiltOf { info, data: Artifact { workload, repository: None, image: None } });
    }
    let local = image::build_local(&cx.loaded, Some(&cx.target), image::Flavor::Server, r).await?;
    let (repo, ecr_repo, upload) = match image::push_repository(&cx.loaded)? {
        Some(repo) => {
            r.step(&format!("checking what {} already has", repo.name()));
            let (bytes, present) = image::upload_needed(&local.image, &repo).await?;
            r.done();
            (repo, None, (!present).then_some(bytes))
        }
        None => {
            let c = Clients::for_target(cx).await?;
            let name = repo_name(cx);
            r.step(&format!("checking ECR repository {name}"));
            let (repo, exists) = match ecr::read(&c.ecr, &name, &tags(cx)).await? {
                Some(found) if !found.ours => return Err(foreign_repo(&name)),
                Some(found) => (Reference::parse(&found.uri)?, true),
                None => (Reference::parse(&format!("{}/{name}", ecr_host(&c).await?))?, false),
            };
            // A repository made now holds nothing, and an ECR API with no registry behind
            // it has nothing to ask.
            let upload = if exists && c.plane.ecr_registry {
                let (bytes, present) = image::upload_needed(&local.image, &repo).await?;
                (!present).then_some(bytes)
            } else {
                Some(local.image.bytes())
            };
            r.done();
            (repo, Some(name), upload)
        }
    };
    let digest = local.image.digest.clone();
    let name = repo.name();
    let ecr_host = crate::cloud::registry_logins::ecr_region(&repo.registry).map(|_| repo.registry.clone());
    let reference = format!("{name}@{digest}");
    let info = ArtifactInfo {
        kind: "image".into(),
        digest,
        bytes: local.image.bytes(),
        uploaded_bytes: 0,
        reference: Some(reference.clone()),
        layers: local.layers.clone(),
        path: None,
        inputs: local.inputs.clone(),
    };
    let workload = Workload::App { image: reference, ecr_host, container_port: port(cx) };
    Ok(BuiltOf { info, data: Artifact { workload, repository: Some(name), image: Some(ImagePush { local, repo, ecr_repo, upload }) } })
}

/// The model server's image by digest: `server_image` or the pinned release for
/// `server`. A tag is resolved now (a registry read), so the plan shows, and the instance
/// runs, exactly that digest; a reference with a digest is taken as it is.
async fn pin_server_image(cx: &Cx, r: &dyn Reporter) -> Result<String> {
    let wanted = server_image_setting(cx);
    let reference = Reference::parse(&wanted).map_err(|e| {
        UsageError::new(format!("`server_image = \"{wanted}\"` is not an image reference ({e:#})"))
            .hint("give it as `registry/repository:tag` or `registry/repository@sha256:...`")
    })?;
    if let Some(digest) = &reference.digest {
        return Ok(format!("{}@{digest}", reference.name()));
    }
    r.step(&format!("resolving {wanted} to a digest"));
    let digest = image::resolve_digest(&reference).await.map_err(|e| {
        Hinted::new(
            format!("cannot resolve the model server image {wanted} to a digest: {e:#}"),
            format!(
                "check the network and the name, or pin it yourself: `server_image = \"{}@sha256:...\"` in [targets.{}] (`skopeo inspect docker://{wanted}` prints the digest)",
                reference.name(),
                cx.target.name
            ),
        )
    })?;
    r.done();
    r.detail(&format!("{wanted} is {digest}"));
    Ok(format!("{}@{digest}", reference.name()))
}

/// The model server's image as the manifest (or the default for `server`) names it.
pub(super) fn server_image_setting(cx: &Cx) -> String {
    let server = model_of(cx).map(|(s, _)| s).unwrap_or(Server::Vllm);
    cx.target.settings.server_image.as_ref().map(|s| s.get().clone()).unwrap_or_else(|| server.default_image().to_string())
}

pub(super) fn foreign_repo(name: &str) -> anyhow::Error {
    Hinted::new(
        format!("an ECR repository named {name} exists but was not created by aideploy for this app, stage and target"),
        format!("rename the app or stage, or delete the repository {name}"),
    )
    .into()
}

/// The account's ECR registry host, from GetAuthorizationToken's endpoint (a read).
async fn ecr_host(c: &Clients) -> Result<String> {
    let out = c.ecr.get_authorization_token().send().await.map_err(|e| failed("ECR GetAuthorizationToken", e))?;
    let endpoint = out.authorization_data().first().and_then(|d| d.proxy_endpoint()).unwrap_or_default();
    let host = endpoint.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string();
    if host.is_empty() {
        return Err(Hinted::new(
            "ECR GetAuthorizationToken answered without a registry endpoint",
            "retry; if it persists, check the region",
        )
        .into());
    }
    Ok(host)
}
