//! The GraphQL operations aideploy sends to Railway, one `.graphql` file each (ops/).

pub const Q_PROJECT: &str = include_str!("ops/project.graphql");
pub const Q_PROJECTS: &str = include_str!("ops/projects.graphql");
pub const Q_PROJECT_TOKEN: &str = include_str!("ops/project_token.graphql");
pub const Q_INSTANCE: &str = include_str!("ops/service_instance.graphql");
pub const Q_VARIABLES: &str = include_str!("ops/variables.graphql");
pub const Q_DEPLOYMENTS: &str = include_str!("ops/deployments.graphql");
pub const Q_DEPLOYMENT: &str = include_str!("ops/deployment.graphql");
pub const Q_LOGS: &str = include_str!("ops/deployment_logs.graphql");
pub const Q_LOG_WINDOW: &str = include_str!("ops/deployment_log_window.graphql");
pub const Q_DOMAINS: &str = include_str!("ops/domains.graphql");
pub const Q_HTTP_METRICS: &str = include_str!("ops/http_metrics.graphql");
pub const Q_ENVIRONMENT: &str = include_str!("ops/environment.graphql");
pub const M_PROJECT_CREATE: &str = include_str!("ops/project_create.graphql");
pub const M_ENVIRONMENT_CREATE: &str = include_str!("ops/environment_create.graphql");
pub const M_VARIABLES: &str = include_str!("ops/variable_collection_upsert.graphql");
pub const M_SERVICE_CREATE: &str = include_str!("ops/service_create.graphql");
pub const M_INSTANCE_UPDATE: &str = include_str!("ops/service_instance_update.graphql");
pub const M_DEPLOY: &str = include_str!("ops/service_instance_deploy_v2.graphql");
pub const M_DOMAIN_CREATE: &str = include_str!("ops/service_domain_create.graphql");
pub const M_ROLLBACK: &str = include_str!("ops/deployment_rollback.graphql");
pub const M_SERVICE_DELETE: &str = include_str!("ops/service_delete.graphql");
pub const M_ENVIRONMENT_DELETE: &str = include_str!("ops/environment_delete.graphql");
pub const M_PROJECT_DELETE: &str = include_str!("ops/project_delete.graphql");
pub const Q_LEASE_PROJECTS: &str = include_str!("ops/lease_projects.graphql");
pub const M_VARIABLE_DELETE: &str = include_str!("ops/variable_delete.graphql");
pub const M_DOMAIN_DELETE: &str = include_str!("ops/service_domain_delete.graphql");
