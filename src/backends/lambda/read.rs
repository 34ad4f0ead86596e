//! `observe`'s reads: everything this target may have created, found by deterministic
//! names and checked by tags. Independent reads go out together.

use std::collections::BTreeMap;

use anyhow::Result;

use super::*;
use crate::cloud::ecr;
use crate::secrets::aws as store;

/// Reads everything this target may have created: by deterministic names, checked by
/// tags. Independent reads go out together.
pub(super) async fn read(cx: &Cx, c: &Clients) -> Result<Now> {
    let fname = function_name(cx);
    let rname = role_name(cx, &c.region);
    let app = cx.app_name().to_string();
    let stage = cx.stage.to_string();
    let repo_name = repo_name(cx);
    let owner = tags(cx);
    let (function, versions, alias, role, api, secrets, repo) = tokio::join!(
        read_function(c, &fname),
        read_versions(c, &fname),
        async {
            match c.lambda.get_alias().function_name(&fname).name(ALIAS).send().await {
                Ok(a) => Ok(a.function_version().and_then(|v| v.parse::<u64>().ok())),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
                Err(e) => Err(failed("Lambda GetAlias", e, PERMS_HINT)),
            }
        },
        crate::cloud::aws::observe_role(&c.iam, &rname, Some(POLICY_NAME), PERMS_HINT),
        find_api(cx, c, &fname),
        store::list(&c.secrets, &app, &stage),
        ecr::read(&c.ecr, &repo_name, &owner),
    );
    let function = function?;
    if let Some(f) = &function {
        if !ours(cx, Some(&f.tags)) {
            return Err(Hinted::new(
                format!("a Lambda function named {fname} exists but was not created by aideploy for this app, stage and target"),
                "delete or rename it, or deploy with another --stage",
            )
            .into());
        }
    }
    let versions = versions?;
    let alias = alias?;
    // A same-named role without this target's tags (another app's, or one a person made)
    // is never adopted, rewritten or deleted.
    let role = match role? {
        Some(r) if !r.is_ours(cx) => return Err(crate::cloud::aws::foreign_role(&rname)),
        other => other.map(|r| (r.arn, r.policy)),
    };
    let api_id = api?;
    let secrets = secrets?;
    let repo = repo?;
    let (api, permission, warm) = tokio::join!(
        async {
            match &api_id {
                Some((id, cors)) => read_api(c, id, cors.clone()).await.map(Some),
                None => Ok(None),
            }
        },
        read_permission(c, &fname, alias.is_some()),
        async {
            match alias {
                Some(_) => super::ops::read_warm(c, &fname).await,
                None => Ok(None),
            }
        },
    );
    for (name, spec) in &cx.loaded.manifest.secrets {
        let (name, spec) = (name.get(), spec.get());
        // `absent`: looked for (deploy, plan) and not found locally.
        if !spec.optional && cx.secrets.absent.contains(name) && !secrets.contains_key(name) {
            let var = spec.env.as_ref().map(|e| e.get().clone()).unwrap_or_else(|| name.clone());
            return Err(UsageError::new(format!("secret `{name}` has no value here and none is stored in Secrets Manager"))
                .hint(format!(
                    "set ${var} (or `{var}=...` in .env) for this deploy, or store it once: aideploy secrets set {name} --target {}",
                    cx.target.name
                ))
                .into());
        }
    }
    let mut secret_same = BTreeMap::new();
    for (name, value) in &cx.secrets.values {
        if let Some(s) = secrets.get(name) {
            secret_same.insert(name.clone(), store::same_value(&c.secrets, &s.arn, value).await?);
        }
    }
    let mut now = Now {
        region: c.region.clone(),
        role,
        function,
        versions,
        alias,
        api: api?,
        permission: permission?,
        warm: warm?,
        secrets,
        secret_same,
        repo,
        health: Health::Skipped,
    };
    // The live version's health, when it can be reached from here (an emulator serves
    // no execute-api host and invokes no function): a public API through its URL; a
    // private one refuses unsigned calls, so its alias is invoked with the same event.
    if let (Some(api), Some(_)) = (&now.api, now.alias.and_then(|a| now.version(a))) {
        if c.plane.runs_workloads {
            let health = cx.loaded.manifest.app().health.to_string();
            let public = api.route.as_ref().is_some_and(|r| Access::of(&r.authorization) == Access::Public);
            let ok = if public {
                crate::engine::health::probe(&format!("{}{health}", url(&api.id, &c.region))).await
            } else {
                super::invoke::once(c, &fname, ALIAS, &health).await.is_ok()
            };
            now.health = if ok { Health::Passed } else { Health::Failed };
        }
    }
    Ok(now)
}

async fn read_function(c: &Clients, fname: &str) -> Result<Option<FnNow>> {
    match c.lambda.get_function().function_name(fname).send().await {
        Ok(out) => {
            let Some(conf) = out.configuration() else { return Ok(None) };
            // An image function's code is the digest its ImageUri pins.
            let image = out.code().and_then(|c| c.image_uri()).map(str::to_string);
            let sha = match &image {
                Some(uri) => sha_of_uri(uri).unwrap_or_default(),
                None => hex_of_b64(conf.code_sha256().unwrap_or_default()),
            };
            Ok(Some(FnNow {
                arn: conf.function_arn().unwrap_or_default().to_string(),
                sha,
                image,
                conf: FnConf::of(conf),
                tags: out.tags().cloned().unwrap_or_default(),
                last_modified: conf.last_modified().unwrap_or_default().to_string(),
            }))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
        Err(e) => Err(failed("Lambda GetFunction", e, PERMS_HINT)),
    }
}

async fn read_versions(c: &Clients, fname: &str) -> Result<Vec<Version>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = match c.lambda.list_versions_by_function().function_name(fname).set_marker(marker).send().await {
            Ok(p) => p,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => return Ok(out),
            Err(e) => return Err(failed("Lambda ListVersionsByFunction", e, PERMS_HINT)),
        };
        for v in page.versions() {
            if let Some(n) = v.version().and_then(|s| s.parse::<u64>().ok()) {
                out.push(Version {
                    number: n,
                    sha: version_sha(v),
                    conf: FnConf::of(v),
                    published: v.last_modified().unwrap_or_default().to_string(),
                });
            }
        }
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(out);
        }
    }
}

/// The HTTP API named like the function and tagged for this app, stage and target.
async fn find_api(cx: &Cx, c: &Clients, fname: &str) -> Result<Option<(String, Option<CorsConf>)>> {
    let mut token = None;
    loop {
        let page = c.apigw.get_apis().set_next_token(token).send().await.map_err(|e| failed("API Gateway GetApis", e, PERMS_HINT))?;
        for a in page.items() {
            if a.name() == Some(fname) && ours(cx, a.tags()) {
                let cors = a.cors_configuration().map(|c| CorsConf {
                    origins: c.allow_origins().to_vec(),
                    methods: c.allow_methods().to_vec(),
                    headers: c.allow_headers().to_vec(),
                    max_age: c.max_age(),
                });
                return Ok(Some((a.api_id().unwrap_or_default().to_string(), cors)));
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
    }
}

async fn read_api(c: &Clients, id: &str, cors: Option<CorsConf>) -> Result<ApiNow> {
    let gw = &c.apigw;
    let (integrations, routes, stage) = tokio::join!(
        gw.get_integrations().api_id(id).send(),
        gw.get_routes().api_id(id).send(),
        gw.get_stage().api_id(id).stage_name("$default").send()
    );
    let integrations = integrations.map_err(|e| failed("API Gateway GetIntegrations", e, PERMS_HINT))?;
    let integration = integrations.items().iter().find(|i| i.integration_type().is_some_and(|t| t.as_str() == "AWS_PROXY")).map(|i| {
        (
            i.integration_id().unwrap_or_default().to_string(),
            i.integration_uri().unwrap_or_default().to_string(),
            i.payload_format_version().unwrap_or_default().to_string(),
        )
    });
    let routes = routes.map_err(|e| failed("API Gateway GetRoutes", e, PERMS_HINT))?;
    // A route with no authorization type is open (the API's default is NONE).
    let route = routes.items().iter().find(|r| r.route_key() == Some("$default")).map(|r| RouteNow {
        id: r.route_id().unwrap_or_default().to_string(),
        target: r.target().unwrap_or_default().to_string(),
        authorization: r.authorization_type().map(|a| a.as_str().to_string()).unwrap_or_else(|| AUTH_NONE.to_string()),
    });
    let stage = match stage {
        Ok(s) => Some((
            s.auto_deploy().unwrap_or(false),
            s.default_route_settings().and_then(|r| match (r.throttling_rate_limit(), r.throttling_burst_limit()) {
                (Some(rps), Some(burst)) => Some(Throttle { rps, burst }),
                _ => None,
            }),
        )),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found_exception()) => None,
        Err(e) => return Err(failed("API Gateway GetStage", e, PERMS_HINT)),
    };
    Ok(ApiNow { id: id.to_string(), cors, integration, route, stage })
}

/// The source ARN of our permission statement on the alias, if it exists.
async fn read_permission(c: &Clients, fname: &str, alias_exists: bool) -> Result<Option<String>> {
    if !alias_exists {
        return Ok(None);
    }
    let policy = match c.lambda.get_policy().function_name(fname).qualifier(ALIAS).send().await {
        Ok(out) => out.policy().unwrap_or_default().to_string(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => return Ok(None),
        Err(e) => return Err(failed("Lambda GetPolicy", e, PERMS_HINT)),
    };
    let doc: serde_json::Value = serde_json::from_str(&policy).unwrap_or_default();
    let statements = doc.get("Statement").and_then(|s| s.as_array()).cloned().unwrap_or_default();
    Ok(statements
        .iter()
        .find(|s| s.get("Sid").and_then(|v| v.as_str()) == Some(PERMISSION_SID))
        .and_then(|s| s.pointer("/Condition/ArnLike/AWS:SourceArn").and_then(|v| v.as_str()).map(str::to_string)))
}
