//! The HTTP API in front of the alias: create or update the API (CORS), its AWS_PROXY
//! integration on the alias, the `$default` route (AWS_IAM unless `public = true`) and
//! the `$default` stage (auto-deploy, throttling).

use anyhow::Result;

use super::*;

/// Creates or updates the HTTP API, its integration on the alias, the `$default` route
/// and stage. Returns the API id.
pub(super) async fn ensure_api(
    cx: &Cx,
    c: &Clients,
    api: Option<&ApiNow>,
    fname: &str,
    alias_arn: &str,
    r: &dyn Reporter,
) -> Result<String> {
    use aws_sdk_apigatewayv2::types::{AuthorizationType, Cors, IntegrationType, ProtocolType, RouteSettings};
    let gw = &c.apigw;
    let cors = desired_cors(cx).map(|c| {
        Cors::builder()
            .set_allow_origins(Some(c.origins))
            .set_allow_methods((!c.methods.is_empty()).then_some(c.methods))
            .set_allow_headers((!c.headers.is_empty()).then_some(c.headers))
            .set_max_age(c.max_age)
            .build()
    });
    let id = match api {
        Some(a) => {
            if a.cors != desired_cors(cx) {
                r.step("updating the HTTP API's CORS");
                match &cors {
                    Some(cors) => {
                        gw.update_api()
                            .api_id(&a.id)
                            .cors_configuration(cors.clone())
                            .send()
                            .await
                            .map_err(|e| failed("API Gateway UpdateApi", e, PERMS_HINT))?;
                    }
                    None => {
                        gw.delete_cors_configuration()
                            .api_id(&a.id)
                            .send()
                            .await
                            .map_err(|e| failed("API Gateway DeleteCorsConfiguration", e, PERMS_HINT))?;
                    }
                }
            }
            a.id.clone()
        }
        None => {
            r.step("creating the HTTP API");
            let mut req = gw
                .create_api()
                .name(fname)
                .protocol_type(ProtocolType::Http)
                .description(format!("{} ({}), deployed by aideploy", cx.app_name(), cx.stage))
                .set_cors_configuration(cors);
            for (k, v) in tags(cx) {
                req = req.tags(k, v);
            }
            let out = req.send().await.map_err(|e| failed("API Gateway CreateApi", e, PERMS_HINT))?;
            out.api_id().unwrap_or_default().to_string()
        }
    };
    let integration = match api.and_then(|a| a.integration.as_ref()) {
        Some((iid, uri, payload)) => {
            if uri != alias_arn || payload != "2.0" {
                gw.update_integration()
                    .api_id(&id)
                    .integration_id(iid)
                    .integration_uri(alias_arn)
                    .payload_format_version("2.0")
                    .send()
                    .await
                    .map_err(|e| failed("API Gateway UpdateIntegration", e, PERMS_HINT))?;
            }
            iid.clone()
        }
        None => {
            let out = gw
                .create_integration()
                .api_id(&id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(alias_arn)
                .payload_format_version("2.0")
                .send()
                .await
                .map_err(|e| failed("API Gateway CreateIntegration", e, PERMS_HINT))?;
            out.integration_id().unwrap_or_default().to_string()
        }
    };
    let target = format!("integrations/{integration}");
    // Private unless the manifest says `public = true`: AWS_IAM admits only SigV4-signed
    // calls by an identity holding execute-api:Invoke on this API.
    let access = desired_access(cx);
    let auth = AuthorizationType::from(access.authorization());
    match api.and_then(|a| a.route.as_ref()) {
        Some(route) if route.target == target && route.authorization == access.authorization() => {}
        Some(route) => {
            if route.authorization != access.authorization() {
                r.step(&format!("making the HTTP API {}", access.label()));
            }
            gw.update_route()
                .api_id(&id)
                .route_id(&route.id)
                .target(&target)
                .authorization_type(auth)
                .send()
                .await
                .map_err(|e| failed("API Gateway UpdateRoute", e, PERMS_HINT))?;
        }
        None => {
            gw.create_route()
                .api_id(&id)
                .route_key("$default")
                .target(&target)
                .authorization_type(auth)
                .send()
                .await
                .map_err(|e| failed("API Gateway CreateRoute", e, PERMS_HINT))?;
        }
    }
    let throttle = desired_throttle(cx);
    let settings = RouteSettings::builder()
        .set_throttling_rate_limit(throttle.as_ref().map(|t| t.rps))
        .set_throttling_burst_limit(throttle.as_ref().map(|t| t.burst))
        .build();
    match api.and_then(|a| a.stage.as_ref()) {
        Some((true, t)) if *t == throttle => {}
        Some(_) => {
            gw.update_stage()
                .api_id(&id)
                .stage_name("$default")
                .auto_deploy(true)
                .default_route_settings(settings)
                .send()
                .await
                .map_err(|e| failed("API Gateway UpdateStage", e, PERMS_HINT))?;
        }
        None => {
            let mut req = gw.create_stage().api_id(&id).stage_name("$default").auto_deploy(true).default_route_settings(settings);
            for (k, v) in tags(cx) {
                req = req.tags(k, v);
            }
            req.send().await.map_err(|e| failed("API Gateway CreateStage", e, PERMS_HINT))?;
        }
    }
    Ok(id)
}
