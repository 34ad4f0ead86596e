//! A fake of the parts of four Google Cloud REST APIs that the cloudrun target uses,
//! written from their discovery documents: Cloud Run Admin API v2 (services,
//! revisions, operations, IAM), Secret Manager v1 (secrets, versions, IAM), Artifact
//! Registry v1 (repositories, operations) and IAM v1 (service accounts: create, get,
//! patch, delete; account ids of 6-30 `[a-z][a-z0-9-]*[a-z0-9]`, 409 on a duplicate). Same paths and custom verbs
//! (`:setIamPolicy`, `:getIamPolicy`, `:addVersion`, `:access`), Google's error body
//! `{"error": {"code", "message", "status"}}`, request bodies checked against the
//! schemas' fields (an unknown field is a 400, as Google's JSON parser does), long
//! running operations that are not done on the first poll. It rejects a bad
//! `serviceId`, a duplicate create, a `secretKeyRef` to a secret that does not exist
//! and an env var named `PORT`, a service whose `template.serviceAccount` or a secret
//! policy whose `serviceAccount:` member is an account of the project that does not
//! exist (a new account can be made to stay unknown to policies for a while: `iam_lag`). A revision whose image digest is in `bad` fails its
//! startup probe; one whose service account may not read a referenced secret fails
//! with Cloud Run's permission message. Traffic goes to the latest *ready* revision.
//! Cloud Logging v2's `entries:list` reads the entries tests write with `add_log_entry`:
//! `resourceNames` required, the filter terms aideploy sends (`field="value"` and
//! `timestamp>=`/`<=`/`>`/`<` joined by `AND`; any other is a 400 naming it),
//! `orderBy` `timestamp asc|desc` only, `pageSize` 0-1000 (default 50) with
//! `nextPageToken`; `log_page_limit` makes pages shorter than asked, as the API may.
//! Cloud Monitoring v3's `timeSeries.list` is in gcp_monitoring.rs.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{json, Value};

use crate::common;

pub const PROJECT: &str = "aideploy-test";
pub const PROJECT_NUMBER: &str = "123456789012";
/// The one billing account the caller may use (Cloud Billing Budget API).
pub const BILLING_ACCOUNT: &str = "01A2B3-C4D5E6-F7A8B9";
/// Who the fake says every caller is: Cloud Run records it as a service's `creator` and
/// `lastModifier`.
pub const CALLER: &str = "deployer@aideploy-test.iam.gserviceaccount.com";
const POLLS: u32 = 2;

#[derive(Debug, Clone)]
pub struct Secret {
    pub labels: BTreeMap<String, String>,
    /// Free-form metadata (Secret Manager's `annotations`).
    pub annotations: BTreeMap<String, String>,
    /// Changed by every create, update and no-op update of the secret (not by its versions).
    pub etag: u64,
    pub versions: Vec<Vec<u8>>,
    /// Each version's `createTime`, in the order of `versions`.
    pub version_times: Vec<String>,
    pub policy: Value,
}

#[derive(Debug, Default)]
pub struct State {
    /// By full name `projects/P/locations/L/services/S`.
    pub services: BTreeMap<String, Value>,
    pub service_policies: BTreeMap<String, Value>,
    /// By full name; in creation order.
    pub revisions: Vec<Value>,
    /// By secret id.
    pub secrets: BTreeMap<String, Secret>,
    pub repositories: BTreeMap<String, Value>,
    /// IAM service accounts of the project, by email (the default compute account is
    /// always there besides these).
    pub service_accounts: BTreeMap<String, Value>,
    /// How many policy writes naming a newly created account are refused as naming an
    /// unknown one (IAM's propagation delay).
    pub iam_lag: u32,
    /// Refusals left per new account.
    lagging: BTreeMap<String, u32>,
    operations: BTreeMap<String, Operation>,
    /// Image digests whose revisions fail their startup probe.
    pub bad: BTreeSet<String>,
    pub mutations: usize,
    pub rejected: Vec<String>,
    /// Cloud Logging's entries, in the order written.
    pub log_entries: Vec<Value>,
    /// The most entries an `entries:list` page holds whatever `pageSize` asks (0: no
    /// limit): the API may answer fewer with a `nextPageToken`.
    pub log_page_limit: usize,
    /// The most secrets a `secrets.list` page holds whatever `pageSize` asks (0: the
    /// API's own cap, 25000): it may answer fewer with a `nextPageToken`.
    pub secret_page_limit: usize,
    /// Cloud Monitoring's time series (`gcp_monitoring.rs`).
    pub monitoring: super::gcp_monitoring::Monitoring,
    /// Revisions whose startup has not been decided yet.
    pending: BTreeSet<String>,
    /// Faults by call (`CreateService`, `UpdateService`, `GetOperation`): the next so
    /// many such calls are answered 503 UNAVAILABLE without being carried out.
    pub unavailable: BTreeMap<&'static str, u32>,
    /// The next so many such calls are carried out, then answered 503 UNAVAILABLE (the
    /// answer lost on the way back).
    pub lost: BTreeMap<&'static str, u32>,
    /// Cloud Billing budgets, by full name `billingAccounts/A/budgets/ID`.
    pub budgets: BTreeMap<String, Value>,
    pub wif: super::gcp_wif::Wif,
    next: u64,
}

/// Polls left, the service/repository to answer with (or an error), and the service
/// whose new revision starts when the operation ends.
type Operation = (u32, Result<Value, (u16, String)>, Option<String>);

#[derive(Clone, Copy)]
enum F {
    S,
    I,
    /// A number (a JSON double).
    D,
    B,
    Any,
    E(&'static [&'static str]),
    M(&'static str),
    A(&'static F),
    Mp(&'static F),
}
use F::*;

/// The fields of each schema the fake checks, from the discovery documents.
fn schema(name: &str) -> &'static [(&'static str, F)] {
    match name {
        "RunService" => &[
            ("annotations", Mp(&S)),
            ("binaryAuthorization", M("RunBinaryAuthorization")),
            ("client", S),
            ("clientVersion", S),
            ("conditions", A(&M("RunCondition"))),
            ("createTime", S),
            ("creator", S),
            ("customAudiences", A(&S)),
            ("defaultUriDisabled", B),
            ("deleteTime", S),
            ("description", S),
            ("etag", S),
            ("expireTime", S),
            ("generation", I),
            (
                "ingress",
                E(&[
                    "INGRESS_TRAFFIC_UNSPECIFIED",
                    "INGRESS_TRAFFIC_ALL",
                    "INGRESS_TRAFFIC_INTERNAL_ONLY",
                    "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
                ]),
            ),
            ("labels", Mp(&S)),
            ("lastModifier", S),
            ("latestCreatedRevision", S),
            ("latestReadyRevision", S),
            (
                "launchStage",
                E(&["LAUNCH_STAGE_UNSPECIFIED", "UNIMPLEMENTED", "PRELAUNCH", "EARLY_ACCESS", "ALPHA", "BETA", "GA", "DEPRECATED"]),
            ),
            ("name", S),
            ("observedGeneration", I),
            ("reconciling", B),
            ("satisfiesPzs", B),
            ("scaling", M("RunServiceScaling")),
            ("template", M("RunRevisionTemplate")),
            ("terminalCondition", M("RunCondition")),
            ("traffic", A(&M("RunTrafficTarget"))),
            ("trafficStatuses", A(&M("RunTrafficTargetStatus"))),
            ("uid", S),
            ("updateTime", S),
            ("uri", S),
        ],
        "IamSetIamPolicyRequest" => &[("policy", M("IamPolicy")), ("updateMask", S)],
        "RunBinaryAuthorization" => &[("breakglassJustification", S), ("useDefault", B)],
        "RunCondition" => &[
            (
                "executionReason",
                E(&[
                    "EXECUTION_REASON_UNDEFINED",
                    "JOB_STATUS_SERVICE_POLLING_ERROR",
                    "NON_ZERO_EXIT_CODE",
                    "CANCELLED",
                    "CANCELLING",
                    "DELETED",
                ]),
            ),
            ("lastTransitionTime", S),
            ("message", S),
            (
                "reason",
                E(&[
                    "COMMON_REASON_UNDEFINED",
                    "UNKNOWN",
                    "REVISION_FAILED",
                    "PROGRESS_DEADLINE_EXCEEDED",
                    "CONTAINER_MISSING",
                    "CONTAINER_PERMISSION_DENIED",
                    "CONTAINER_IMAGE_UNAUTHORIZED",
                    "CONTAINER_IMAGE_AUTHORIZATION_CHECK_FAILED",
                    "ENCRYPTION_KEY_PERMISSION_DENIED",
                    "ENCRYPTION_KEY_CHECK_FAILED",
                    "SECRETS_ACCESS_CHECK_FAILED",
                    "WAITING_FOR_OPERATION",
                    "IMMEDIATE_RETRY",
                    "POSTPONED_RETRY",
                    "INTERNAL",
                ]),
            ),
            (
                "revisionReason",
                E(&[
                    "REVISION_REASON_UNDEFINED",
                    "PENDING",
                    "RESERVE",
                    "RETIRED",
                    "RETIRING",
                    "RECREATING",
                    "HEALTH_CHECK_CONTAINER_ERROR",
                    "CUSTOMIZED_PATH_RESPONSE_PENDING",
                    "MIN_INSTANCES_NOT_PROVISIONED",
                    "ACTIVE_REVISION_LIMIT_REACHED",
                    "NO_DEPLOYMENT",
                    "HEALTH_CHECK_SKIPPED",
                    "MIN_INSTANCES_WARMING",
                ]),
            ),
            ("severity", E(&["SEVERITY_UNSPECIFIED", "ERROR", "WARNING", "INFO"])),
            ("state", E(&["STATE_UNSPECIFIED", "CONDITION_PENDING", "CONDITION_RECONCILING", "CONDITION_FAILED", "CONDITION_SUCCEEDED"])),
            ("type", S),
        ],
        "RunServiceScaling" => &[("minInstanceCount", I)],
        "RunRevisionTemplate" => &[
            ("annotations", Mp(&S)),
            ("containers", A(&M("RunContainer"))),
            ("encryptionKey", S),
            ("executionEnvironment", E(&["EXECUTION_ENVIRONMENT_UNSPECIFIED", "EXECUTION_ENVIRONMENT_GEN1", "EXECUTION_ENVIRONMENT_GEN2"])),
            ("healthCheckDisabled", B),
            ("labels", Mp(&S)),
            ("maxInstanceRequestConcurrency", I),
            ("nodeSelector", M("RunNodeSelector")),
            ("revision", S),
            ("scaling", M("RunRevisionScaling")),
            ("serviceAccount", S),
            ("sessionAffinity", B),
            ("timeout", S),
            ("volumes", A(&Any)),
            ("vpcAccess", Any),
        ],
        "RunTrafficTarget" => &[
            ("percent", I),
            ("revision", S),
            ("tag", S),
            (
                "type",
                E(&[
                    "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED",
                    "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
                    "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                ]),
            ),
        ],
        "RunTrafficTargetStatus" => &[
            ("percent", I),
            ("revision", S),
            ("tag", S),
            (
                "type",
                E(&[
                    "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED",
                    "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
                    "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                ]),
            ),
            ("uri", S),
        ],
        "IamPolicy" => &[("auditConfigs", A(&Any)), ("bindings", A(&M("IamBinding"))), ("etag", S), ("version", I)],
        "RunContainer" => &[
            ("args", A(&S)),
            ("command", A(&S)),
            ("dependsOn", A(&S)),
            ("env", A(&M("RunEnvVar"))),
            ("image", S),
            ("livenessProbe", M("RunProbe")),
            ("name", S),
            ("ports", A(&M("RunContainerPort"))),
            ("resources", M("RunResourceRequirements")),
            ("startupProbe", M("RunProbe")),
            ("volumeMounts", A(&M("RunVolumeMount"))),
            ("workingDir", S),
        ],
        "RunRevisionScaling" => &[("maxInstanceCount", I), ("minInstanceCount", I)],
        "IamBinding" => &[("condition", M("Expr")), ("members", A(&S)), ("role", S)],
        "RunEnvVar" => &[("name", S), ("value", S), ("valueSource", M("RunEnvVarSource"))],
        "RunProbe" => &[
            ("failureThreshold", I),
            ("grpc", M("RunGRPCAction")),
            ("httpGet", M("RunHTTPGetAction")),
            ("initialDelaySeconds", I),
            ("periodSeconds", I),
            ("tcpSocket", M("RunTCPSocketAction")),
            ("timeoutSeconds", I),
        ],
        "RunContainerPort" => &[("containerPort", I), ("name", S)],
        "RunResourceRequirements" => &[("cpuIdle", B), ("limits", Mp(&S)), ("startupCpuBoost", B)],
        "RunVolumeMount" => &[("mountPath", S), ("name", S)],
        "Expr" => &[("description", S), ("expression", S), ("location", S), ("title", S)],
        "RunEnvVarSource" => &[("secretKeyRef", M("RunSecretKeySelector"))],
        "RunGRPCAction" => &[("port", I), ("service", S)],
        "RunHTTPGetAction" => &[("httpHeaders", A(&M("RunHTTPHeader"))), ("path", S), ("port", I)],
        "RunTCPSocketAction" => &[("port", I)],
        "RunSecretKeySelector" => &[("secret", S), ("version", S)],
        "RunHTTPHeader" => &[("name", S), ("value", S)],
        "SmSecret" => &[
            ("annotations", Mp(&S)),
            ("createTime", S),
            ("etag", S),
            ("expireTime", S),
            ("labels", Mp(&S)),
            ("name", S),
            ("replication", M("SmReplication")),
            ("ttl", S),
        ],
        "SmAddSecretVersionRequest" => &[("payload", M("SmSecretPayload"))],
        "SmReplication" => &[("automatic", M("SmAutomatic")), ("userManaged", M("SmUserManaged"))],
        "SmSecretPayload" => &[("data", S)],
        "SmAutomatic" => &[("customerManagedEncryption", M("SmCustomerManagedEncryption"))],
        "SmUserManaged" => &[("replicas", A(&M("SmReplica")))],
        "SmCustomerManagedEncryption" => &[("kmsKeyName", S)],
        "SmReplica" => &[("customerManagedEncryption", M("SmCustomerManagedEncryption")), ("location", S)],
        "ArRepository" => &[
            ("cleanupPolicies", Mp(&Any)),
            ("cleanupPolicyDryRun", B),
            ("createTime", S),
            ("description", S),
            ("disallowUnspecifiedMode", B),
            ("dockerConfig", M("ArDockerRepositoryConfig")),
            ("format", E(&["FORMAT_UNSPECIFIED", "DOCKER", "MAVEN", "NPM", "APT", "YUM", "GOOGET", "PYTHON", "KFP", "GO"])),
            ("kmsKeyName", S),
            ("labels", Mp(&S)),
            ("mavenConfig", Any),
            ("mode", E(&["MODE_UNSPECIFIED", "STANDARD_REPOSITORY", "VIRTUAL_REPOSITORY", "REMOTE_REPOSITORY"])),
            ("name", S),
            ("remoteRepositoryConfig", Any),
            ("satisfiesPzs", B),
            ("sizeBytes", I),
            ("updateTime", S),
            ("virtualRepositoryConfig", Any),
        ],
        "ArDockerRepositoryConfig" => &[("immutableTags", B)],
        "IamCreateServiceAccountRequest" => &[("accountId", S), ("serviceAccount", M("IamServiceAccount"))],
        "IamPatchServiceAccountRequest" => &[("serviceAccount", M("IamServiceAccount")), ("updateMask", S)],
        "IamServiceAccount" => &[
            ("description", S),
            ("disabled", B),
            ("displayName", S),
            ("email", S),
            ("etag", S),
            ("name", S),
            ("oauth2ClientId", S),
            ("projectId", S),
            ("uniqueId", S),
        ],
        // Added to the API after the discovery revision in specs (GPUs): the client model has it.
        "RunNodeSelector" => &[("accelerator", S)],
        // Cloud Billing Budget API v1 (billingbudgets).
        "BbBudget" => &[
            ("amount", M("BbBudgetAmount")),
            ("budgetFilter", M("BbFilter")),
            ("displayName", S),
            ("etag", S),
            ("name", S),
            ("notificationsRule", M("BbNotificationsRule")),
            ("ownershipScope", E(&["OWNERSHIP_SCOPE_UNSPECIFIED", "ALL_USERS", "BILLING_ACCOUNT"])),
            ("thresholdRules", A(&M("BbThresholdRule"))),
        ],
        "BbBudgetAmount" => &[("lastPeriodAmount", M("BbLastPeriodAmount")), ("specifiedAmount", M("BbMoney"))],
        "BbLastPeriodAmount" => &[],
        "BbMoney" => &[("currencyCode", S), ("nanos", I), ("units", I)],
        "BbFilter" => &[
            ("calendarPeriod", E(&["CALENDAR_PERIOD_UNSPECIFIED", "MONTH", "QUARTER", "YEAR"])),
            ("creditTypes", A(&S)),
            (
                "creditTypesTreatment",
                E(&["CREDIT_TYPES_TREATMENT_UNSPECIFIED", "INCLUDE_ALL_CREDITS", "EXCLUDE_ALL_CREDITS", "INCLUDE_SPECIFIED_CREDITS"]),
            ),
            ("customPeriod", Any),
            ("labels", Mp(&Any)),
            ("projects", A(&S)),
            ("resourceAncestors", A(&S)),
            ("services", A(&S)),
            ("subaccounts", A(&S)),
        ],
        "BbThresholdRule" => &[("spendBasis", E(&["BASIS_UNSPECIFIED", "CURRENT_SPEND", "FORECASTED_SPEND"])), ("thresholdPercent", D)],
        "BbNotificationsRule" => &[
            ("disableDefaultIamRecipients", B),
            ("enableProjectLevelRecipients", B),
            ("monitoringNotificationChannels", A(&S)),
            ("pubsubTopic", S),
            ("schemaVersion", S),
        ],
        "LoggingListLogEntriesRequest" => {
            &[("filter", S), ("orderBy", S), ("pageSize", I), ("pageToken", S), ("projectIds", A(&S)), ("resourceNames", A(&S))]
        }
        _ => &[],
    }
}

fn check(v: &Value, f: F, at: &str) -> Result<(), String> {
    match f {
        Any => Ok(()),
        S if v.is_string() => Ok(()),
        I if v.is_i64() || v.is_u64() || v.as_str().is_some_and(|s| s.parse::<i64>().is_ok()) => Ok(()),
        B if v.is_boolean() => Ok(()),
        D if v.is_number() => Ok(()),
        E(values) => match v {
            Value::String(s) if values.contains(&s.as_str()) => Ok(()),
            Value::Number(n) if n.as_u64().is_some_and(|n| (n as usize) < values.len()) => Ok(()),
            _ => Err(format!("Invalid value at '{at}' ({v}): not one of {values:?}")),
        },
        M(name) => {
            let Some(obj) = v.as_object() else { return Err(format!("Invalid value at '{at}': expected an object")) };
            let fields = schema(name);
            for (k, sub) in obj {
                let Some((_, kind)) = fields.iter().find(|(n, _)| n == k) else {
                    return Err(format!("Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."));
                };
                check(sub, *kind, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        A(item) => {
            let Some(items) = v.as_array() else { return Err(format!("Invalid value at '{at}': expected a list")) };
            items.iter().enumerate().try_for_each(|(i, x)| check(x, *item, &format!("{at}[{i}]")))
        }
        Mp(item) => {
            let Some(obj) = v.as_object() else { return Err(format!("Invalid value at '{at}': expected a map")) };
            obj.iter().try_for_each(|(k, x)| check(x, *item, &format!("{at}[{k}]")))
        }
        _ => Err(format!("Invalid value at '{at}' ({v})")),
    }
}

/// A budget as CreateBudget and UpdateBudget take it: the schema's fields only; an amount
/// (required); a display name of at most 60 characters; thresholds non-negative; a
/// forecast threshold only with a calendar period; USD (the fake account's currency).
fn check_budget(b: &Value) -> Result<(), String> {
    check(b, M("BbBudget"), "budget")?;
    let amount = &b["amount"];
    if amount["specifiedAmount"].is_null() && amount["lastPeriodAmount"].is_null() {
        return Err("budget.amount is required: a specifiedAmount or lastPeriodAmount".into());
    }
    if amount["specifiedAmount"]["currencyCode"].as_str().is_some_and(|c| c != "USD") {
        return Err("budget.amount.specifiedAmount.currencyCode must be the billing account's currency (USD)".into());
    }
    if b["displayName"].as_str().is_some_and(|d| d.chars().count() > 60) {
        return Err("budget.displayName is longer than 60 characters".into());
    }
    for r in b["thresholdRules"].as_array().into_iter().flatten() {
        if r["thresholdPercent"].as_f64().is_none_or(|p| p < 0.0) {
            return Err("thresholdRules.thresholdPercent is required and must not be negative".into());
        }
        if r["spendBasis"] == "FORECASTED_SPEND" && !b["budgetFilter"]["customPeriod"].is_null() {
            return Err("FORECASTED_SPEND can only be set with a calendar period".into());
        }
    }
    for p in b["budgetFilter"]["projects"].as_array().into_iter().flatten() {
        if p.as_str().is_none_or(|p| p != format!("projects/{PROJECT}") && p != format!("projects/{PROJECT_NUMBER}")) {
            return Err(format!("budgetFilter.projects: {p} is not a project the caller can see"));
        }
    }
    Ok(())
}

fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

fn error(code: u16, message: impl Into<String>) -> (u16, String) {
    (code, json!({"error": {"code": code, "message": message.into(), "status": status_name(code)}}).to_string())
}

/// Secret Manager's answer to an etag that no longer matches: FAILED_PRECONDITION with
/// HTTP 400 (its ETag documentation).
fn etag_mismatch(id: &str) -> (u16, String) {
    let message = format!("The etag provided does not match the current etag of secret [projects/{PROJECT_NUMBER}/secrets/{id}].");
    (400, json!({"error": {"code": 400, "message": message, "status": "FAILED_PRECONDITION"}}).to_string())
}

/// Cloud Run's rules for labels: keys of 1-63 characters starting with a lowercase
/// letter, values of at most 63; both lowercase letters, digits, `-` and `_` only.
fn check_labels(v: &Value) -> Result<(), String> {
    let ok = |s: &str| s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_');
    for (k, v) in v.as_object().into_iter().flatten() {
        let v = v.as_str().unwrap_or_default();
        if k.is_empty() || k.len() > 63 || !k.as_bytes()[0].is_ascii_lowercase() || !ok(k) {
            return Err(format!("label key [{k}] is invalid"));
        }
        if v.len() > 63 || !ok(v) {
            return Err(format!("label value [{v}] of [{k}] is invalid: at most 63 lowercase letters, digits, `-` and `_`"));
        }
    }
    Ok(())
}

/// Secret Manager's rules for annotations: keys of 1-63 characters, letters, digits,
/// `-`, `_` and `.`, starting and ending with a letter or digit; at most 16 KiB in all.
fn check_annotations(v: &Value) -> Result<BTreeMap<String, String>, String> {
    let map: BTreeMap<String, String> =
        v.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()).unwrap_or_default();
    for k in map.keys() {
        let b = k.as_bytes();
        let edge = |c: &u8| c.is_ascii_alphanumeric();
        if b.is_empty()
            || b.len() > 63
            || !b.first().is_some_and(edge)
            || !b.last().is_some_and(edge)
            || !b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        {
            return Err(format!("Annotation key [{k}] is invalid"));
        }
    }
    if map.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > 16 * 1024 {
        return Err("The total size of annotations must be less than 16KiB".into());
    }
    Ok(map)
}

fn ok(v: Value) -> (u16, String) {
    (200, v.to_string())
}

fn now(st: &mut State) -> String {
    st.next += 1;
    stamp(st)
}

/// The fake's time now, without moving its clock (which ids also count on).
fn stamp(st: &State) -> String {
    format!("2026-01-01T00:{:02}:{:02}.000000Z", st.next / 60 % 60, st.next % 60)
}

/// Cloud Run's rule for a service id.
fn valid_service_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 49
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !id.ends_with('-')
}

fn query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('=').or(Some((p, ""))))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// IAM's rule for a service account id: 6-30 characters, `[a-z][a-z0-9-]*[a-z0-9]`.
fn valid_account_id(id: &str) -> bool {
    let b = id.as_bytes();
    (6..=30).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// The default compute account, which every project has.
pub fn compute_account() -> String {
    format!("{PROJECT_NUMBER}-compute@developer.gserviceaccount.com")
}

/// The email of account `id` of the project.
pub fn account_email(id: &str) -> String {
    format!("{id}@{PROJECT}.iam.gserviceaccount.com")
}

/// The secret id a `projects/{id or number}/secrets/{secret}` name points at.
fn secret_of(project: &str) -> bool {
    project == PROJECT || project == PROJECT_NUMBER
}

fn enum_name(v: &Value, values: &[&str]) -> String {
    match v {
        Value::Number(n) => values.get(n.as_u64().unwrap_or(0) as usize).unwrap_or(&"").to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

const TRAFFIC_TYPES: &[&str] =
    &["TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED", "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"];

impl State {
    pub fn service(&self, id: &str) -> Option<&Value> {
        self.services.get(&format!("projects/{PROJECT}/locations/{REGION}/services/{id}"))
    }
    pub fn revision(&self, short: &str) -> Option<&Value> {
        self.revisions.iter().find(|r| r["name"].as_str().is_some_and(|n| n.ends_with(&format!("/revisions/{short}"))))
    }
    pub fn service_policy(&self, id: &str) -> Option<&Value> {
        self.service_policies.get(&format!("projects/{PROJECT}/locations/{REGION}/services/{id}"))
    }
    /// Whether `email` names an account that exists, as far as this project can tell:
    /// one of its own (made here, or the default compute account), or one of another
    /// project (not this fake's to know).
    pub fn account_exists(&self, email: &str) -> bool {
        let ours = email.ends_with(&format!("@{PROJECT}.iam.gserviceaccount.com")) || email.ends_with("@developer.gserviceaccount.com");
        !ours || email == compute_account() || self.service_accounts.contains_key(email)
    }

    /// Adds a service account aideploy did not make (it must be left alone).
    pub fn add_foreign_account(&mut self, id: &str) {
        let email = account_email(id);
        let v = account_json(id, &json!({"displayName": "the search team's runner", "description": "runs the search service"}));
        self.service_accounts.insert(email, v);
    }

    /// The `serviceAccount:` members of `policy` that name no account (the first one).
    fn unknown_member(&mut self, policy: &Value) -> Option<String> {
        for b in policy["bindings"].as_array().into_iter().flatten() {
            for m in b["members"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                let Some(email) = m.strip_prefix("serviceAccount:") else { continue };
                if !self.account_exists(email) {
                    return Some(email.to_string());
                }
                if let Some(n) = self.lagging.get_mut(email).filter(|n| **n > 0) {
                    *n -= 1;
                    return Some(email.to_string());
                }
            }
        }
        None
    }

    /// Adds a secret aideploy did not make (it must be left alone).
    /// Writes a log entry of `service`'s revision `revision` in the test region at
    /// `timestamp` (UTC RFC 3339), as Cloud Run does: `payload` holds its
    /// `textPayload`, `jsonPayload` or `httpRequest` (a request log).
    pub fn add_log_entry(&mut self, service: &str, revision: &str, timestamp: &str, payload: Value) {
        self.next += 1;
        let log = if payload.get("httpRequest").is_some() { "requests" } else { "stdout" };
        let mut entry = json!({
            "logName": format!("projects/{PROJECT}/logs/run.googleapis.com%2F{log}"),
            "resource": {"type": "cloud_run_revision", "labels": {
                "project_id": PROJECT, "location": REGION, "service_name": service,
                "revision_name": revision, "configuration_name": service,
            }},
            "timestamp": timestamp,
            "receiveTimestamp": timestamp,
            "insertId": format!("{:016x}", self.next),
        });
        for (k, v) in payload.as_object().into_iter().flatten() {
            entry[k] = v.clone();
        }
        self.log_entries.push(entry);
    }

    pub fn add_foreign_secret(&mut self, id: &str) {
        self.next += 1;
        let etag = self.next;
        self.secrets.insert(
            id.into(),
            Secret {
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                etag,
                versions: vec![b"theirs".to_vec()],
                version_times: vec!["2025-12-01T00:00:00Z".into()],
                policy: json!({}),
            },
        );
    }

    fn op(&mut self, prefix: &str, result: Result<Value, (u16, String)>, resolve: Option<String>) -> Value {
        self.next += 1;
        let name = format!("{prefix}/operations/op-{:06}", self.next);
        self.operations.insert(name.clone(), (POLLS, result, resolve));
        json!({"name": name, "done": false})
    }

    /// Why a revision of this template cannot start, if it cannot.
    fn revision_failure(&self, template: &Value) -> Option<String> {
        let container = &template["containers"][0];
        let image = container["image"].as_str().unwrap_or_default();
        let digest = image.split_once('@').map(|(_, d)| d).unwrap_or_default();
        let sa = template["serviceAccount"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{PROJECT_NUMBER}-compute@developer.gserviceaccount.com"));
        for e in container["env"].as_array().into_iter().flatten() {
            if let Some(id) = e["valueSource"]["secretKeyRef"]["secret"].as_str() {
                let id = id.rsplit('/').next().unwrap_or(id);
                let allowed = self.secrets.get(id).is_some_and(|s| {
                    s.policy["bindings"].as_array().into_iter().flatten().any(|b| {
                        b["role"] == "roles/secretmanager.secretAccessor"
                            && b["members"].as_array().is_some_and(|m| m.iter().any(|m| m == &json!(format!("serviceAccount:{sa}"))))
                    })
                });
                if !allowed {
                    return Some(format!("spec.template.spec.containers[0].env.valueFrom.secretKeyRef.name: Permission denied on secret: projects/{PROJECT_NUMBER}/secrets/{id}/versions/latest for Revision service account {sa}. The service account used must be granted the 'Secret Manager Secret Accessor' role (roles/secretmanager.secretAccessor) at the secret, project or higher level."));
                }
            }
        }
        if self.bad.contains(digest) {
            let port = container["ports"][0]["containerPort"].as_u64().unwrap_or(8080);
            let path = container["startupProbe"]["httpGet"]["path"].as_str().unwrap_or("/");
            return Some(format!("The user-provided container failed the configured startup probe checks (HTTP probe on path {path}, port {port}). Logs for this revision might contain more information."));
        }
        None
    }

    /// Checks a service body; `Err` is the 400 to answer.
    fn check_service(&self, body: &Value) -> Result<(), (u16, String)> {
        check(body, M("RunService"), "service").map_err(|m| error(400, m))?;
        let t = &body["template"];
        for (at, labels) in [("service.labels", &body["labels"]), ("service.template.labels", &t["labels"])] {
            check_labels(labels).map_err(|m| error(400, format!("{at}: {m}")))?;
        }
        if t.is_null() || t["containers"].as_array().is_none_or(|c| c.is_empty()) {
            return Err(error(400, "service.template.containers: at least one container is required"));
        }
        if let Some(sa) = t["serviceAccount"].as_str().filter(|a| !a.is_empty() && !self.account_exists(a)) {
            return Err(error(
                400,
                format!("spec.template.spec.service_account_name: service account {sa} does not exist in project {PROJECT}"),
            ));
        }
        // With resources set, an absent `cpuIdle` means CPU always allocated.
        if let Some(gpu) = t["nodeSelector"]["accelerator"].as_str() {
            let r = &t["containers"][0]["resources"];
            let cpu = r["limits"]["cpu"].as_str().and_then(|c| c.parse::<f64>().ok()).unwrap_or(0.0);
            let mem_gi = r["limits"]["memory"]
                .as_str()
                .and_then(|m| {
                    m.strip_suffix("Mi")
                        .and_then(|n| n.parse::<f64>().ok())
                        .map(|n| n / 1024.0)
                        .or_else(|| m.strip_suffix("Gi").and_then(|n| n.parse().ok()))
                })
                .unwrap_or(0.0);
            if r["limits"]["nvidia.com/gpu"] != "1" || cpu < 4.0 || mem_gi < 16.0 || r["cpuIdle"] == true {
                return Err(error(400, format!("template: the accelerator {gpu} needs the limit nvidia.com/gpu = 1, at least 4 CPU and 16Gi of memory, and CPU always allocated (cpuIdle = false)")));
            }
        }
        for e in t["containers"][0]["env"].as_array().into_iter().flatten() {
            if e["name"] == "PORT" {
                return Err(error(400, "template.containers[0].env: The following reserved env names were provided: PORT. These values are automatically set by the system."));
            }
            if let Some(id) = e["valueSource"]["secretKeyRef"]["secret"].as_str() {
                let short = id.rsplit('/').next().unwrap_or(id);
                let version = e["valueSource"]["secretKeyRef"]["version"].as_str().unwrap_or("latest");
                let secret = self.secrets.get(short);
                let exists = secret.is_some_and(|s| {
                    version == "latest" && !s.versions.is_empty() || version.parse::<usize>().is_ok_and(|v| v >= 1 && v <= s.versions.len())
                });
                if !exists {
                    return Err(error(400, format!("spec.template.spec.containers[0].env[{}].value_from.secret_key_ref.name: Secret projects/{PROJECT_NUMBER}/secrets/{short}/versions/{version} was not found", e["name"].as_str().unwrap_or("?"))));
                }
            }
        }
        Ok(())
    }

    /// A new revision of `service`, pending until its operation is polled to the end.
    fn new_revision(&mut self, name: &str, service: &mut Value) -> String {
        let count = self.revisions.iter().filter(|r| r["service"] == json!(name)).count() + 1;
        let short = name.rsplit('/').next().unwrap_or_default();
        let rev = format!("{name}/revisions/{short}-{count:05}-x{}", self.next % 97);
        let t = service["template"].clone();
        let created = now(self);
        self.revisions.push(json!({
            "name": rev, "uid": format!("rev-{}", self.next), "generation": "1", "service": name, "createTime": created,
            "labels": t["labels"], "containers": t["containers"], "scaling": t["scaling"], "serviceAccount": t["serviceAccount"],
            "executionEnvironment": t["executionEnvironment"], "maxInstanceRequestConcurrency": t["maxInstanceRequestConcurrency"],
            "timeout": t["timeout"], "conditions": [{"type": "Ready", "state": "CONDITION_PENDING"}], "reconciling": true,
        }));
        service["latestCreatedRevision"] = json!(rev);
        self.pending.insert(rev.clone());
        service["reconciling"] = json!(true);
        rev
    }

    /// Ends a pending revision: Ready, or failed with its reason; traffic follows.
    fn resolve(&mut self, service_name: &str) -> Result<(), String> {
        let Some(mut service) = self.services.get(service_name).cloned() else { return Ok(()) };
        service["reconciling"] = json!(false);
        let latest = service["latestCreatedRevision"].as_str().unwrap_or_default().to_string();
        // Only a revision this operation created starts now; a traffic-only update
        // leaves the revisions as they are.
        let starting = self.pending.remove(&latest);
        let failure = self.revisions.iter().find(|r| starting && r["name"] == json!(latest)).and_then(|r| {
            let t = json!({"containers": r["containers"], "serviceAccount": r["serviceAccount"]});
            self.revision_failure(&t)
        });
        for t in service["traffic"].as_array().cloned().unwrap_or_default() {
            if let Some(rev) = t["revision"].as_str().filter(|r| !r.is_empty()) {
                let ready = self.revision(rev).is_some_and(|r| r["conditions"][0]["state"] == "CONDITION_SUCCEEDED");
                if !ready {
                    return Err(format!("Revision '{rev}' is not ready and cannot serve traffic."));
                }
            }
        }
        if let Some(r) = self.revisions.iter_mut().find(|r| starting && r["name"] == json!(latest)) {
            r["reconciling"] = json!(false);
            r["conditions"] = match &failure {
                None => json!([{"type": "Ready", "state": "CONDITION_SUCCEEDED"}]),
                Some(m) => json!([{"type": "Ready", "state": "CONDITION_FAILED", "message": m, "reason": "HEALTH_CHECK_CONTAINER_ERROR"}]),
            };
        }
        if failure.is_none() && starting {
            service["latestReadyRevision"] = json!(latest);
        }
        let traffic = service["traffic"].as_array().cloned().unwrap_or_default();
        let statuses: Vec<Value> = traffic
            .iter()
            .map(|t| {
                let kind = enum_name(&t["type"], TRAFFIC_TYPES);
                let rev = if kind == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" {
                    service["latestReadyRevision"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string()
                } else {
                    t["revision"].as_str().unwrap_or_default().to_string()
                };
                json!({"type": kind, "revision": rev, "percent": t["percent"]})
            })
            .collect();
        service["trafficStatuses"] = json!(statuses);
        if !starting && failure.is_none() {
            self.services.insert(service_name.to_string(), service);
            return Ok(());
        }
        service["terminalCondition"] = match &failure {
            None => json!({"type": "Ready", "state": "CONDITION_SUCCEEDED"}),
            Some(m) => {
                json!({"type": "Ready", "state": "CONDITION_FAILED", "message": format!("Revision '{}' is not ready and cannot serve traffic. {m}", latest.rsplit('/').next().unwrap_or_default())})
            }
        };
        self.services.insert(service_name.to_string(), service);
        match failure {
            None => Ok(()),
            Some(m) => {
                Err(format!("Revision '{}' is not ready and cannot serve traffic. {m}", latest.rsplit('/').next().unwrap_or_default()))
            }
        }
    }
}

pub const REGION: &str = "europe-west1";

fn answer(st: &mut State, method: &str, full_path: &str, body: &str) -> (u16, String) {
    let (path, q) = full_path.split_once('?').unwrap_or((full_path, ""));
    let q = query(q);
    let body: Value = if body.trim().is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => return error(400, format!("Invalid JSON payload received. {e}")),
        }
    };
    let (path, verb) = match path.rsplit_once(':') {
        Some((p, v)) if !v.contains('/') => (p, Some(v)),
        _ => (path, None),
    };
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // Reads that are POSTs (`:getIamPolicy`, `:testIamPermissions`) change nothing.
    let mutating = method != "GET" && !matches!(verb, Some("list" | "getIamPolicy" | "testIamPermissions"));
    let result = route(st, method, &seg, verb, &q, &body);
    if mutating && (200..300).contains(&result.0) {
        st.mutations += 1;
    }
    result
}

fn route(st: &mut State, method: &str, seg: &[&str], verb: Option<&str>, q: &BTreeMap<String, String>, body: &Value) -> (u16, String) {
    match (method, seg, verb) {
        // --- Cloud Logging v2
        ("POST", ["v2", "entries"], Some("list")) => list_entries(st, body),
        // --- Cloud Monitoring v3
        ("GET", ["v3", "projects", p, "timeSeries"], None) => super::gcp_monitoring::list(&mut st.monitoring, PROJECT, p, q),
        // --- operations (Run v2 and Artifact Registry v1)
        ("GET", [v, "projects", _, "locations", _, "operations", _], None) if *v == "v2" || *v == "v1" => {
            let name = seg[1..].join("/");
            let Some((left, result, resolve)) = st.operations.get(&name).cloned() else {
                return error(404, format!("Operation {name} not found"));
            };
            if left > 1 {
                st.operations.insert(name.clone(), (left - 1, result, resolve));
                return ok(json!({"name": name, "done": false}));
            }
            let mut result = result;
            if let Some(service) = &resolve {
                if let Err(m) = st.resolve(service) {
                    result = Err((412, m));
                } else if let Some(s) = st.services.get(service) {
                    result = Ok(s.clone());
                }
            }
            st.operations.insert(name.clone(), (0, result.clone(), None));
            match result {
                Ok(mut v) => {
                    let ty = if seg[0] == "v2" {
                        "type.googleapis.com/google.cloud.run.v2.Service"
                    } else {
                        "type.googleapis.com/google.devtools.artifactregistry.v1.Repository"
                    };
                    v.as_object_mut().map(|o| o.insert("@type".into(), json!(ty)));
                    ok(json!({"name": name, "done": true, "response": v}))
                }
                Err((code, m)) => ok(json!({"name": name, "done": true, "error": {"code": if code == 412 { 9 } else { 3 }, "message": m}})),
            }
        }
        // --- Cloud Billing Budget API v1: budgets of a billing account.
        (_, ["v1", "billingAccounts", acct, "budgets", ..], None) if *acct != BILLING_ACCOUNT => {
            error(403, format!("The caller does not have permission on billing account {acct}."))
        }
        ("GET", ["v1", "billingAccounts", _, "budgets"], None) => ok(json!({"budgets": st.budgets.values().cloned().collect::<Vec<_>>()})),
        ("POST", ["v1", "billingAccounts", acct, "budgets"], None) => {
            if let Err(m) = check_budget(body) {
                return error(400, m);
            }
            st.next += 1;
            let name = format!("billingAccounts/{acct}/budgets/{:08x}-0000-4000-8000-000000000000", st.next);
            let mut b = body.clone();
            b["name"] = json!(name);
            b["etag"] = json!(format!("{:x}", st.next));
            if b["budgetFilter"]["calendarPeriod"].is_null() && b["budgetFilter"]["customPeriod"].is_null() {
                b["budgetFilter"]["calendarPeriod"] = json!("MONTH");
            }
            st.budgets.insert(name, b.clone());
            ok(b)
        }
        ("GET", ["v1", "billingAccounts", acct, "budgets", id], None) => {
            let name = format!("billingAccounts/{acct}/budgets/{id}");
            st.budgets.get(&name).cloned().map(ok).unwrap_or_else(|| error(404, format!("Budget {name} not found.")))
        }
        ("PATCH", ["v1", "billingAccounts", acct, "budgets", id], None) => {
            let name = format!("billingAccounts/{acct}/budgets/{id}");
            let Some(old) = st.budgets.get(&name).cloned() else { return error(404, format!("Budget {name} not found.")) };
            if let Err(m) = check_budget(body) {
                return error(400, m);
            }
            if body["etag"].as_str().is_some_and(|e| !e.is_empty() && old["etag"] != e) {
                return error(409, "The budget was changed since it was read (etag mismatch).");
            }
            let mut b = old.clone();
            let mask: Vec<String> = q.get("updateMask").map(|m| m.split(',').map(str::to_string).collect()).unwrap_or_else(|| {
                ["displayName", "budgetFilter", "amount", "thresholdRules", "notificationsRule"].map(String::from).to_vec()
            });
            for field in &mask {
                b[field.as_str()] = body[field.as_str()].clone();
            }
            st.next += 1;
            b["etag"] = json!(format!("{:x}", st.next));
            st.budgets.insert(name, b.clone());
            ok(b)
        }
        ("DELETE", ["v1", "billingAccounts", acct, "budgets", id], None) => {
            let name = format!("billingAccounts/{acct}/budgets/{id}");
            match st.budgets.remove(&name) {
                Some(_) => ok(json!({})),
                None => error(404, format!("Budget {name} not found.")),
            }
        }
        // --- Cloud Run services
        ("POST", ["v2", "projects", p, "locations", l, "services"], None) => {
            if *p != PROJECT || *l != REGION {
                return error(404, format!("Location {l} of project {p} not found"));
            }
            let id = q.get("serviceId").cloned().unwrap_or_default();
            if !valid_service_id(&id) {
                return error(400, format!("service_id: `{id}` is invalid: it must use only lowercase letters, digits and hyphens, begin with a letter, not end with a hyphen, and be at most 49 characters"));
            }
            if let Err(e) = st.check_service(body) {
                return e;
            }
            let name = format!("projects/{p}/locations/{l}/services/{id}");
            if st.services.contains_key(&name) {
                return error(409, format!("Resource '{id}' already exists."));
            }
            let mut s = body.clone();
            let obj = s.as_object_mut().unwrap();
            for k in [
                "uid",
                "generation",
                "createTime",
                "updateTime",
                "creator",
                "lastModifier",
                "uri",
                "latestReadyRevision",
                "latestCreatedRevision",
                "trafficStatuses",
                "conditions",
                "terminalCondition",
                "etag",
                "reconciling",
                "observedGeneration",
            ] {
                obj.remove(k);
            }
            obj.insert("name".into(), json!(name));
            obj.insert("uid".into(), json!(format!("uid-{id}")));
            obj.insert("generation".into(), json!("1"));
            obj.insert("uri".into(), json!(format!("https://{id}-{}.{}.run.app", &PROJECT_NUMBER[..6], "ew")));
            obj.insert("etag".into(), json!("\"g1\""));
            let created = stamp(st);
            obj.insert("createTime".into(), json!(created));
            obj.insert("updateTime".into(), json!(created));
            obj.insert("creator".into(), json!(CALLER));
            obj.insert("lastModifier".into(), json!(CALLER));
            if obj.get("traffic").is_none_or(|t| t.as_array().is_none_or(|a| a.is_empty())) {
                obj.insert("traffic".into(), json!([{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]));
            }
            st.new_revision(&name, &mut s);
            st.services.insert(name.clone(), s.clone());
            st.service_policies.insert(name.clone(), json!({"version": 1, "etag": "BwAAAA=="}));
            ok(st.op(&format!("projects/{p}/locations/{l}"), Ok(Value::Null), Some(name)))
        }
        ("GET", ["v2", "projects", p, "locations", l, "services", id], None) => {
            let name = format!("projects/{p}/locations/{l}/services/{id}");
            match st.services.get(&name) {
                Some(s) => ok(s.clone()),
                None => error(404, format!("Resource '{id}' of kind 'SERVICE' in region '{l}' in project '{p}' does not exist.")),
            }
        }
        ("PATCH", ["v2", "projects", p, "locations", l, "services", id], None) => {
            let name = format!("projects/{p}/locations/{l}/services/{id}");
            if let Err(e) = st.check_service(body) {
                return e;
            }
            let Some(mut current) = st.services.get(&name).cloned() else {
                return error(404, format!("Resource '{id}' of kind 'SERVICE' in region '{l}' in project '{p}' does not exist."));
            };
            if let Some(etag) = body["etag"].as_str().filter(|e| !e.is_empty()) {
                if current["etag"].as_str() != Some(etag) {
                    return error(409, "The etag does not match: the service was changed since it was read.");
                }
            }
            if body["name"].as_str().is_some_and(|n| !n.is_empty() && n != name) {
                return error(400, "service.name does not match the URL");
            }
            let template_changed = body["template"] != current["template"];
            for k in ["labels", "annotations", "template", "traffic", "ingress", "launchStage", "scaling", "description"] {
                if let Some(v) = body.get(k) {
                    current[k] = v.clone();
                }
            }
            if current["traffic"].as_array().is_none_or(|a| a.is_empty()) {
                current["traffic"] = json!([{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]);
            }
            let generation = current["generation"].as_str().and_then(|g| g.parse::<u64>().ok()).unwrap_or(1) + 1;
            current["generation"] = json!(generation.to_string());
            current["etag"] = json!(format!("\"g{generation}\""));
            current["updateTime"] = json!(stamp(st));
            current["lastModifier"] = json!(CALLER);
            if template_changed {
                st.new_revision(&name, &mut current);
            }
            st.services.insert(name.clone(), current);
            ok(st.op(&format!("projects/{p}/locations/{l}"), Ok(Value::Null), Some(name)))
        }
        ("DELETE", ["v2", "projects", p, "locations", l, "services", id], None) => {
            let name = format!("projects/{p}/locations/{l}/services/{id}");
            let Some(s) = st.services.remove(&name) else { return error(404, format!("Resource '{id}' does not exist.")) };
            st.service_policies.remove(&name);
            st.revisions.retain(|r| r["service"] != json!(name));
            ok(st.op(&format!("projects/{p}/locations/{l}"), Ok(s), None))
        }
        ("GET", ["v2", "projects", p, "locations", l, "services", id], Some("getIamPolicy")) => {
            let name = format!("projects/{p}/locations/{l}/services/{id}");
            match st.service_policies.get(&name) {
                Some(pol) => ok(pol.clone()),
                None => error(404, format!("Resource '{id}' does not exist.")),
            }
        }
        ("POST", ["v2", "projects", p, "locations", l, "services", id], Some("setIamPolicy")) => {
            if let Err(m) = check(body, M("IamSetIamPolicyRequest"), "request") {
                return error(400, m);
            }
            let name = format!("projects/{p}/locations/{l}/services/{id}");
            if !st.service_policies.contains_key(&name) {
                return error(404, format!("Resource '{id}' does not exist."));
            }
            set_policy(st.service_policies.get_mut(&name).unwrap(), &body["policy"])
        }
        ("GET", ["v2", "projects", p, "locations", l, "services", id, "revisions"], None) => {
            let name = format!("projects/{p}/locations/{l}/services/{id}");
            let revs: Vec<Value> = st.revisions.iter().filter(|r| r["service"] == json!(name)).cloned().collect();
            ok(json!({"revisions": revs}))
        }
        ("GET", ["v2", "projects", _, "locations", _, "services", _, "revisions", r], None) => match st.revision(r) {
            Some(r) => ok(r.clone()),
            None => error(404, format!("Revision {r} not found")),
        },
        // --- Secret Manager
        ("POST", ["v1", "projects", p, "secrets"], None) if secret_of(p) => {
            let id = q.get("secretId").cloned().unwrap_or_default();
            if id.is_empty() || id.len() > 255 || !id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
                return error(400, format!("Secret id [{id}] is invalid: use only letters, digits, `-` and `_`"));
            }
            if let Err(m) = check(body, M("SmSecret"), "secret") {
                return error(400, m);
            }
            if body["replication"].is_null() {
                return error(400, "Secret.replication is required");
            }
            if st.secrets.contains_key(&id) {
                return error(409, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] already exists."));
            }
            let labels = body["labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default();
            let annotations = match check_annotations(&body["annotations"]) {
                Ok(a) => a,
                Err(m) => return error(400, m),
            };
            st.next += 1;
            let etag = st.next;
            st.secrets.insert(
                id.clone(),
                Secret {
                    labels,
                    annotations,
                    etag,
                    versions: Vec::new(),
                    version_times: Vec::new(),
                    policy: json!({"version": 1, "etag": "BwAAAA=="}),
                },
            );
            ok(secret_json(&id, &st.secrets[&id]))
        }
        ("PATCH", ["v1", "projects", p, "secrets", id], None) if secret_of(p) => {
            if let Err(m) = check(body, M("SmSecret"), "secret") {
                return error(400, m);
            }
            let mask = q.get("updateMask").cloned().unwrap_or_default();
            if mask.is_empty() {
                return error(400, "update_mask is required");
            }
            let annotations = match check_annotations(&body["annotations"]) {
                Ok(a) => a,
                Err(m) => return error(400, m),
            };
            st.next += 1;
            let next = st.next;
            let Some(s) = st.secrets.get_mut(*id) else {
                return error(404, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] not found."));
            };
            if let Some(etag) = body["etag"].as_str().filter(|e| !e.is_empty()) {
                if etag != format!("\"{:x}\"", s.etag) {
                    return etag_mismatch(id);
                }
            }
            for path in mask.split(',') {
                match path.trim() {
                    "labels" => {
                        s.labels = body["labels"]
                            .as_object()
                            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                            .unwrap_or_default()
                    }
                    "annotations" => s.annotations = annotations.clone(),
                    other => return error(400, format!("update_mask path [{other}] is not supported by this fake")),
                }
            }
            s.etag = next;
            ok(secret_json(id, s))
        }
        ("GET", ["v1", "projects", p, "secrets"], None) if secret_of(p) => {
            let wanted = match secret_filter(q.get("filter").map(String::as_str).unwrap_or_default()) {
                Ok(w) => w,
                Err(m) => return error(400, m),
            };
            // pageSize: 0 (or none) lets the server choose; above 25000 it is capped.
            let size = match q.get("pageSize").filter(|v| !v.is_empty()).map(|v| v.parse::<i64>()) {
                None => 25000,
                Some(Ok(n)) if n < 0 => return error(400, format!("page_size must not be negative, got {n}")),
                Some(Ok(0)) => 25000,
                Some(Ok(n)) => (n as usize).min(25000),
                Some(Err(_)) => return error(400, "Invalid value at 'page_size' (TYPE_INT32)"),
            };
            let size = if st.secret_page_limit > 0 { size.min(st.secret_page_limit) } else { size };
            let from = match q.get("pageToken").filter(|t| !t.is_empty()) {
                None => 0,
                Some(t) => match t.strip_prefix("secrets-").and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) => n,
                    None => return error(400, format!("Invalid page token: {t}")),
                },
            };
            // In name order, as the API lists them.
            let matching: Vec<Value> = st
                .secrets
                .iter()
                .filter(|(_, s)| wanted.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
                .map(|(id, s)| secret_json(id, s))
                .collect();
            let total = matching.len();
            let page: Vec<Value> = matching.into_iter().skip(from).take(size).collect();
            let mut answer = json!({"secrets": page, "totalSize": total});
            if from + size < total {
                answer["nextPageToken"] = json!(format!("secrets-{}", from + size));
            }
            ok(answer)
        }
        ("GET", ["v1", "projects", p, "secrets", id], None) if secret_of(p) => match st.secrets.get(*id) {
            Some(s) => ok(secret_json(id, s)),
            None => error(404, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] not found.")),
        },
        ("DELETE", ["v1", "projects", p, "secrets", id], None) if secret_of(p) => {
            let Some(s) = st.secrets.get(*id) else {
                return error(404, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] not found."));
            };
            if q.get("etag").is_some_and(|e| !e.is_empty() && *e != format!("\"{:x}\"", s.etag)) {
                return etag_mismatch(id);
            }
            st.secrets.remove(*id);
            ok(json!({}))
        }
        ("POST", ["v1", "projects", p, "secrets", id], Some("addVersion")) if secret_of(p) => {
            if let Err(m) = check(body, M("SmAddSecretVersionRequest"), "request") {
                return error(400, m);
            }
            let Some(data) = body["payload"]["data"].as_str().and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok()) else {
                return error(400, "payload.data must be base64");
            };
            if !st.secrets.contains_key(*id) {
                return error(404, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] not found."));
            }
            let created = now(st);
            let s = st.secrets.get_mut(*id).expect("checked above");
            s.versions.push(data);
            s.version_times.push(created.clone());
            let n = s.versions.len();
            ok(json!({"name": format!("projects/{PROJECT_NUMBER}/secrets/{id}/versions/{n}"), "state": "ENABLED", "createTime": created}))
        }
        // A version's metadata (never its payload); `latest` is the newest version.
        ("GET", ["v1", "projects", p, "secrets", id, "versions", v], None) if secret_of(p) => {
            let Some(s) = st.secrets.get(*id) else {
                return error(404, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] not found."));
            };
            let n = if *v == "latest" { s.versions.len() } else { v.parse().unwrap_or(0) };
            if n == 0 || n > s.versions.len() {
                return error(404, format!("Secret Version [projects/{PROJECT_NUMBER}/secrets/{id}/versions/{v}] not found."));
            }
            let created = s.version_times.get(n - 1).cloned().unwrap_or_default();
            ok(json!({"name": format!("projects/{PROJECT_NUMBER}/secrets/{id}/versions/{n}"), "state": "ENABLED", "createTime": created}))
        }
        ("GET", ["v1", "projects", p, "secrets", id, "versions", v], Some("access")) if secret_of(p) => {
            let Some(s) = st.secrets.get(*id) else {
                return error(404, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] not found."));
            };
            let n = if *v == "latest" { s.versions.len() } else { v.parse().unwrap_or(0) };
            if n == 0 || n > s.versions.len() {
                return error(404, format!("Secret Version [projects/{PROJECT_NUMBER}/secrets/{id}/versions/{v}] not found."));
            }
            let data = &s.versions[n - 1];
            ok(
                json!({"name": format!("projects/{PROJECT_NUMBER}/secrets/{id}/versions/{n}"), "payload": {"data": base64::engine::general_purpose::STANDARD.encode(data)}}),
            )
        }
        ("GET", ["v1", "projects", p, "secrets", id], Some("getIamPolicy")) if secret_of(p) => match st.secrets.get(*id) {
            Some(s) => ok(s.policy.clone()),
            None => error(404, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] not found.")),
        },
        ("POST", ["v1", "projects", p, "secrets", id], Some("setIamPolicy")) if secret_of(p) => {
            if let Err(m) = check(body, M("IamSetIamPolicyRequest"), "request") {
                return error(400, m);
            }
            if !st.secrets.contains_key(*id) {
                return error(404, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] not found."));
            }
            if let Some(email) = st.unknown_member(&body["policy"]) {
                return error(400, format!("Service account {email} does not exist."));
            }
            match st.secrets.get_mut(*id) {
                Some(s) => set_policy(&mut s.policy, &body["policy"]),
                None => error(404, format!("Secret [projects/{PROJECT_NUMBER}/secrets/{id}] not found.")),
            }
        }
        // --- IAM v1 workload identity pools and providers (gcp_wif.rs)
        (_, ["v1", "projects", p, "locations", "global", "workloadIdentityPools", ..], _) if *p != PROJECT && *p != PROJECT_NUMBER => {
            error(404, format!("Project {p} not found."))
        }
        ("GET", ["v1", "projects", _, "locations", "global", "workloadIdentityPools", rest @ ..], None)
            if rest.len() >= 3 && rest[rest.len() - 2] == "operations" =>
        {
            let name = seg[1..].join("/");
            let Some((left, result, _)) = st.operations.get(&name).cloned() else {
                return error(404, format!("Operation {name} not found"));
            };
            if left > 1 {
                st.operations.insert(name.clone(), (left - 1, result, None));
                return ok(json!({"name": name, "done": false}));
            }
            match result {
                Ok(v) => ok(json!({"name": name, "done": true, "response": v})),
                Err((_, m)) => ok(json!({"name": name, "done": true, "error": {"code": 3, "message": m}})),
            }
        }
        ("POST", ["v1", "projects", _, "locations", "global", "workloadIdentityPools"], None) => {
            let id = q.get("workloadIdentityPoolId").cloned().unwrap_or_default();
            match st.wif.create_pool(PROJECT_NUMBER, &id, body) {
                Ok(v) => {
                    let prefix = super::gcp_wif::pool_name(PROJECT_NUMBER, &id);
                    ok(st.op(&prefix, Ok(v), None))
                }
                Err((code, m)) => error(code, m),
            }
        }
        ("GET", ["v1", "projects", _, "locations", "global", "workloadIdentityPools", id], None) => match st.wif.pool(PROJECT_NUMBER, id) {
            Some(v) => ok(v.clone()),
            None => error(404, format!("Requested entity was not found: {}", super::gcp_wif::pool_name(PROJECT_NUMBER, id))),
        },
        ("DELETE", ["v1", "projects", _, "locations", "global", "workloadIdentityPools", id], None) => {
            let r = st.wif.delete_pool(PROJECT_NUMBER, id);
            wif_op(st, super::gcp_wif::pool_name(PROJECT_NUMBER, id), r)
        }
        ("POST", ["v1", "projects", _, "locations", "global", "workloadIdentityPools", id], Some("undelete")) => {
            if !body.is_null() && body != &json!({}) {
                return error(400, "Invalid JSON payload received: an undelete request has no fields");
            }
            let r = st.wif.undelete_pool(PROJECT_NUMBER, id);
            wif_op(st, super::gcp_wif::pool_name(PROJECT_NUMBER, id), r)
        }
        ("POST", ["v1", "projects", _, "locations", "global", "workloadIdentityPools", pool, "providers"], None) => {
            let id = q.get("workloadIdentityPoolProviderId").cloned().unwrap_or_default();
            let r = st.wif.create_provider(PROJECT_NUMBER, pool, &id, body);
            wif_op(st, format!("{}/providers/{id}", super::gcp_wif::pool_name(PROJECT_NUMBER, pool)), r)
        }
        (m, ["v1", "projects", _, "locations", "global", "workloadIdentityPools", pool, "providers", id], verb) => {
            let name = format!("{}/providers/{id}", super::gcp_wif::pool_name(PROJECT_NUMBER, pool));
            match (m, verb) {
                ("GET", None) => match st.wif.providers.get(&name) {
                    Some(v) => ok(v.clone()),
                    None => error(404, format!("Requested entity was not found: {name}")),
                },
                ("PATCH", None) => {
                    let mask = q.get("updateMask").cloned().unwrap_or_default();
                    let r = st.wif.patch_provider(&name, &mask, body);
                    wif_op(st, name, r)
                }
                ("DELETE", None) => {
                    let r = st.wif.set_provider_state(&name, "ACTIVE", "DELETED");
                    wif_op(st, name, r)
                }
                ("POST", Some("undelete")) => {
                    let r = st.wif.set_provider_state(&name, "DELETED", "ACTIVE");
                    wif_op(st, name, r)
                }
                _ => error(404, format!("no such method on {name}")),
            }
        }
        // --- IAM v1: a service account's own IAM policy
        ("POST", ["v1", "projects", p, "serviceAccounts", email], Some(v))
            if (*p == PROJECT || *p == "-") && (v == "getIamPolicy" || v == "setIamPolicy") =>
        {
            let email = decode(email);
            if !st.service_accounts.contains_key(&email) {
                return error(404, format!("Unknown service account {email}"));
            }
            if v == "getIamPolicy" {
                return ok(st.wif.account_policies.get(&email).cloned().unwrap_or_else(|| json!({"etag": "ACAB"})));
            }
            if let Err(m) = check(body, M("IamSetIamPolicyRequest"), "request") {
                return error(400, m);
            }
            if let Some(m) = bad_principal(&body["policy"]) {
                return error(400, m);
            }
            let current = st.wif.account_policies.entry(email).or_insert_with(|| json!({"etag": "ACAB"}));
            set_policy(current, &body["policy"])
        }
        // --- Cloud Resource Manager v1: the project and its IAM policy
        ("GET", ["v1", "projects", p], None) if *p == PROJECT => {
            ok(json!({"projectId": PROJECT, "projectNumber": PROJECT_NUMBER, "name": PROJECT, "lifecycleState": "ACTIVE"}))
        }
        ("POST", ["v1", "projects", p], Some("getIamPolicy")) if *p == PROJECT => {
            if st.wif.project_policy.is_null() {
                st.wif.project_policy = json!({"etag": "BwA00000", "version": 1, "bindings": [{"role": "roles/owner", "members": [format!("user:owner@example.com")]}]});
            }
            ok(st.wif.project_policy.clone())
        }
        ("POST", ["v1", "projects", p], Some("setIamPolicy")) if *p == PROJECT => {
            if let Err(m) = check(body, M("IamSetIamPolicyRequest"), "request") {
                return error(400, m);
            }
            if body["policy"]["etag"].as_str().unwrap_or("").is_empty() {
                return error(400, "a project policy write needs the etag it read (read-modify-write)");
            }
            if let Some(email) = st.unknown_member(&body["policy"]) {
                return error(400, format!("Service account {email} does not exist."));
            }
            if let Some(m) = bad_principal(&body["policy"]) {
                return error(400, m);
            }
            if st.wif.project_policy.is_null() {
                return error(
                    409,
                    "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
                );
            }
            let mut current = std::mem::take(&mut st.wif.project_policy);
            let r = set_policy(&mut current, &body["policy"]);
            st.wif.project_policy = current;
            r
        }
        // --- IAM service accounts
        ("POST", ["v1", "projects", p, "serviceAccounts"], None) => {
            if *p != PROJECT {
                return error(404, format!("Project {p} not found."));
            }
            if let Err(m) = check(body, M("IamCreateServiceAccountRequest"), "request") {
                return error(400, m);
            }
            let id = body["accountId"].as_str().unwrap_or_default();
            if !valid_account_id(id) {
                return error(400, format!("accountId `{id}` is invalid: it must be 6-30 lowercase letters, digits and hyphens, start with a letter and end with a letter or digit"));
            }
            let sa = &body["serviceAccount"];
            if sa["displayName"].as_str().is_some_and(|d| d.chars().count() > 100) {
                return error(400, "serviceAccount.displayName: at most 100 characters");
            }
            if sa["description"].as_str().is_some_and(|d| d.chars().count() > 256) {
                return error(400, "serviceAccount.description: at most 256 characters");
            }
            let email = account_email(id);
            if st.service_accounts.contains_key(&email) {
                return error(409, format!("Service account {id} already exists within project projects/{PROJECT}."));
            }
            let v = account_json(id, sa);
            st.service_accounts.insert(email.clone(), v.clone());
            let lag = st.iam_lag;
            st.lagging.insert(email, lag);
            ok(v)
        }
        ("GET", ["v1", "projects", p, "serviceAccounts", email], None) if *p == PROJECT || *p == "-" => {
            let email = decode(email);
            match st.service_accounts.get(&email) {
                Some(v) => ok(v.clone()),
                // The compute account, or another project's: there as far as this fake knows.
                None if st.account_exists(&email) => ok(json!({"name": format!("projects/-/serviceAccounts/{email}"), "email": email})),
                None => error(404, format!("Unknown service account {email}")),
            }
        }
        ("PATCH", ["v1", "projects", p, "serviceAccounts", email], None) if *p == PROJECT || *p == "-" => {
            if let Err(m) = check(body, M("IamPatchServiceAccountRequest"), "request") {
                return error(400, m);
            }
            let Some(current) = st.service_accounts.get_mut(&decode(email)) else {
                return error(404, format!("Unknown service account {}", decode(email)));
            };
            let mask = body["updateMask"].as_str().unwrap_or_default();
            if mask.is_empty() {
                return error(400, "update_mask is required");
            }
            for field in mask.split(',').map(str::trim) {
                match field {
                    "description" | "displayName" => current[field] = body["serviceAccount"][field].clone(),
                    other => return error(400, format!("update_mask path [{other}] cannot be updated")),
                }
            }
            ok(current.clone())
        }
        ("DELETE", ["v1", "projects", p, "serviceAccounts", email], None) if *p == PROJECT || *p == "-" => {
            match st.service_accounts.remove(&decode(email)) {
                Some(_) => ok(json!({})),
                None => error(404, format!("Unknown service account {}", decode(email))),
            }
        }
        // --- Artifact Registry
        ("GET", ["v1", "projects", p, "locations", l, "repositories", id], None) => {
            let name = format!("projects/{p}/locations/{l}/repositories/{id}");
            match st.repositories.get(&name) {
                Some(r) => ok(r.clone()),
                None => error(404, "Requested entity was not found."),
            }
        }
        ("POST", ["v1", "projects", p, "locations", l, "repositories"], None) => {
            let id = q.get("repositoryId").cloned().unwrap_or_default();
            if id.is_empty()
                || !id.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                || !id.as_bytes()[0].is_ascii_lowercase()
            {
                return error(400, format!("repository_id `{id}` is invalid"));
            }
            if let Err(m) = check(body, M("ArRepository"), "repository") {
                return error(400, m);
            }
            if enum_name(&body["format"], &["FORMAT_UNSPECIFIED", "DOCKER"]) != "DOCKER" && body["format"] != json!("DOCKER") {
                return error(400, "repository.format is required");
            }
            let name = format!("projects/{p}/locations/{l}/repositories/{id}");
            if st.repositories.contains_key(&name) {
                return error(409, "the repository already exists");
            }
            let mut r = body.clone();
            r["name"] = json!(name);
            st.repositories.insert(name, r.clone());
            ok(st.op(&format!("projects/{p}/locations/{l}"), Ok(r), None))
        }
        _ => error(404, format!("{method} {}{}: no such method", seg.join("/"), verb.map(|v| format!(":{v}")).unwrap_or_default())),
    }
}

/// Cloud Logging's entries.list: the named projects' entries that match the filter,
/// by time (then `insertId`), a page at a time.
fn list_entries(st: &State, body: &Value) -> (u16, String) {
    if let Err(m) = check(body, M("LoggingListLogEntriesRequest"), "request") {
        return error(400, m);
    }
    let mut projects = Vec::new();
    for name in body["resourceNames"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let Some(p) = name.strip_prefix("projects/").filter(|p| !p.is_empty() && !p.contains('/')) else {
            return error(400, format!("Invalid resource name: {name}"));
        };
        projects.push(p.to_string());
    }
    projects.extend(body["projectIds"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
    if projects.is_empty() {
        return error(400, "resourceNames: Required field not set.");
    }
    let size = match body["pageSize"].as_i64().or_else(|| body["pageSize"].as_str().and_then(|s| s.parse().ok())).unwrap_or(0) {
        0 => 50,
        n if (1..=1000).contains(&n) => n as usize,
        n => return error(400, format!("Invalid page_size {n}: must be between 0 and 1000")),
    };
    let size = if st.log_page_limit > 0 { size.min(st.log_page_limit) } else { size };
    let desc = match body["orderBy"].as_str().unwrap_or("timestamp asc").trim() {
        "" | "timestamp asc" => false,
        "timestamp desc" => true,
        o => return error(400, format!("Invalid order_by \"{o}\": only \"timestamp asc\" and \"timestamp desc\" are supported")),
    };
    let terms = match filter_terms(body["filter"].as_str().unwrap_or_default()) {
        Ok(t) => t,
        Err(m) => return error(400, m),
    };
    let mut found: Vec<&Value> = st
        .log_entries
        .iter()
        .filter(|e| projects.iter().any(|p| e["logName"].as_str().is_some_and(|n| n.starts_with(&format!("projects/{p}/")))))
        .filter(|e| terms.iter().all(|t| t.matches(e)))
        .collect();
    found.sort_by_key(|e| {
        (time_key(e["timestamp"].as_str().unwrap_or_default()).unwrap_or_default(), e["insertId"].as_str().unwrap_or_default().to_string())
    });
    if desc {
        found.reverse();
    }
    let from = match body["pageToken"].as_str().filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match t.strip_prefix("page-").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return error(400, format!("Invalid page token: {t}")),
        },
    };
    let page: Vec<&Value> = found.iter().skip(from).take(size).copied().collect();
    let mut answer = json!({});
    if !page.is_empty() {
        answer["entries"] = json!(page);
    }
    if from + size < found.len() {
        answer["nextPageToken"] = json!(format!("page-{}", from + size));
    }
    ok(answer)
}

/// One `field OP "value"` term of a logging filter.
struct Term {
    field: String,
    op: &'static str,
    value: String,
}

impl Term {
    fn matches(&self, e: &Value) -> bool {
        if self.field == "timestamp" {
            let (Some(have), Some(want)) = (e["timestamp"].as_str().and_then(time_key), time_key(&self.value)) else { return false };
            return match self.op {
                ">=" => have >= want,
                "<=" => have <= want,
                ">" => have > want,
                "<" => have < want,
                _ => have == want,
            };
        }
        let mut v = e;
        for part in self.field.split('.') {
            v = &v[part];
        }
        self.op == "=" && v.as_str() == Some(self.value.as_str())
    }
}

/// The terms of a filter of `AND`-joined comparisons with quoted values.
fn filter_terms(filter: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    for t in filter.split(" AND ").map(str::trim).filter(|t| !t.is_empty()) {
        let at = t.find(['<', '>', '=']).ok_or(format!("Unparseable filter: {t}"))?;
        let op = [">=", "<=", ">", "<", "="].into_iter().find(|op| t[at..].starts_with(op)).unwrap_or("=");
        let (field, value) = (&t[..at], &t[at + op.len()..]);
        let value = value.trim().strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or(format!("Unparseable filter: {t}"))?;
        let field = field.trim();
        let known = field == "timestamp" || field == "logName" || field == "resource.type" || field.starts_with("resource.labels.");
        if !known || (field != "timestamp" && op != "=") {
            return Err(format!("the fake does not read the filter term {t}"));
        }
        if field == "timestamp" && time_key(value).is_none() {
            return Err(format!("Invalid timestamp in filter: {value}"));
        }
        terms.push(Term { field: field.into(), op, value: value.into() });
    }
    Ok(terms)
}

/// A UTC RFC 3339 time (`...T07:00:00Z`, `...T07:00:00.5Z`) as text that sorts as the
/// time does.
fn time_key(t: &str) -> Option<String> {
    let t = t.strip_suffix('Z')?;
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let b = whole.as_bytes();
    let shape = b.len() == 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':';
    if !shape || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("{whole}.{frac:0<9}"))
}

fn set_policy(target: &mut Value, policy: &Value) -> (u16, String) {
    let etag = policy["etag"].as_str().unwrap_or("");
    if !etag.is_empty() && target["etag"].as_str() != Some(etag) {
        return error(409, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.");
    }
    let mut p = policy.clone();
    let n = target["etag"].as_str().map(|e| e.len()).unwrap_or(0) + 1;
    p["etag"] = json!(format!("BwA{n:05}"));
    *target = p.clone();
    ok(p)
}

/// An IAM operation on a pool or provider: done on the second poll.
fn wif_op(st: &mut State, prefix: String, r: Result<Value, (u16, String)>) -> (u16, String) {
    match r {
        Ok(v) => {
            let op = st.op(&prefix, Ok(v), None);
            ok(op)
        }
        Err((code, m)) => error(code, m),
    }
}

/// A `principal://` or `principalSet://` member that does not name a pool of this
/// project in IAM's forms.
fn bad_principal(policy: &Value) -> Option<String> {
    for b in policy["bindings"].as_array().into_iter().flatten() {
        for m in b["members"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let rest =
                match m.strip_prefix("principal://iam.googleapis.com/").or_else(|| m.strip_prefix("principalSet://iam.googleapis.com/")) {
                    Some(r) => r,
                    None if m.starts_with("principal") => return Some(format!("Invalid principal: {m}")),
                    None => continue,
                };
            let parts: Vec<&str> = rest.splitn(7, '/').collect();
            let ok = parts.len() == 7
                && parts[0] == "projects"
                && parts[1].chars().all(|c| c.is_ascii_digit())
                && parts[2] == "locations"
                && parts[3] == "global"
                && parts[4] == "workloadIdentityPools"
                && parts[6].split_once('/').is_some_and(|(kind, value)| {
                    !value.is_empty()
                        && if m.starts_with("principalSet") {
                            kind.starts_with("attribute.") || kind == "group" || kind == "*"
                        } else {
                            kind == "subject"
                        }
                });
            if !ok {
                return Some(format!("Invalid principal: {m}"));
            }
        }
    }
    None
}

/// A service account as IAM answers it.
fn account_json(id: &str, given: &Value) -> Value {
    let email = account_email(id);
    let unique = format!("10{:019}", email.bytes().enumerate().map(|(i, b)| (i as u64 + 1) * u64::from(b)).sum::<u64>());
    let mut v = json!({
        "name": format!("projects/{PROJECT}/serviceAccounts/{email}"),
        "projectId": PROJECT,
        "uniqueId": unique.clone(),
        "email": email,
        "etag": base64::engine::general_purpose::STANDARD.encode(b"etag-1"),
        "oauth2ClientId": unique,
    });
    for k in ["displayName", "description"] {
        if let Some(x) = given[k].as_str() {
            v[k] = json!(x);
        }
    }
    v
}

/// A `secrets.list` filter of `AND`-joined `labels.KEY=VALUE` (or `labels.KEY:VALUE`)
/// terms (Secret Manager's list filter syntax; values may be quoted). Any other term,
/// or `OR`, is a 400 naming it: the fake reads only these.
fn secret_filter(filter: &str) -> Result<Vec<(String, String)>, String> {
    let mut wanted = Vec::new();
    for term in filter.split(" AND ").map(str::trim).filter(|t| !t.is_empty()) {
        let parsed = term
            .strip_prefix("labels.")
            .and_then(|t| t.split_once(['=', ':']))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !k.contains(char::is_whitespace) && !v.contains(char::is_whitespace));
        let Some((k, v)) = parsed else {
            return Err(format!("Invalid filter: the fake does not read the term `{term}`"));
        };
        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
        wanted.push((k.to_string(), v.to_string()));
    }
    Ok(wanted)
}

fn secret_json(id: &str, s: &Secret) -> Value {
    let mut v = json!({"name": format!("projects/{PROJECT_NUMBER}/secrets/{id}"), "labels": s.labels, "replication": {"automatic": {}}, "createTime": "2026-01-01T00:00:00Z", "etag": format!("\"{:x}\"", s.etag)});
    if !s.annotations.is_empty() {
        v["annotations"] = json!(s.annotations);
    }
    v
}

/// The API method a request calls, for the faults that name one.
fn call_name(method: &str, full_path: &str) -> Option<&'static str> {
    let path = full_path.split('?').next().unwrap_or_default();
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, seg.as_slice()) {
        ("POST", ["v2", "projects", _, "locations", _, "services"]) => Some("CreateService"),
        ("PATCH", ["v2", "projects", _, "locations", _, "services", id]) if !id.contains(':') => Some("UpdateService"),
        ("GET", [_, "projects", _, "locations", _, "operations", _]) => Some("GetOperation"),
        _ => None,
    }
}

pub struct FakeGcp {
    pub base: String,
    pub state: Arc<Mutex<State>>,
    /// Every request, in order.
    pub log: Arc<Mutex<Vec<common::Seen>>>,
}

impl FakeGcp {
    pub fn start() -> FakeGcp {
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let (port, log) = common::fake_http(move |req| {
            let mut st = s.lock().unwrap();
            if req.headers.iter().any(|(k, v)| k == "authorization" && !v.is_empty()) {
                return error(401, "a loopback endpoint must be sent no credentials");
            }
            let call = call_name(&req.method, &req.path);
            if let Some(n) = call.and_then(|c| st.unavailable.get_mut(c)).filter(|n| **n > 0) {
                *n -= 1;
                return error(503, "The service is currently unavailable.");
            }
            let (status, body) = answer(&mut st, &req.method, &req.path, &req.body);
            if let Some(n) = call.and_then(|c| st.lost.get_mut(c)).filter(|n| **n > 0) {
                *n -= 1;
                return error(503, "The service is currently unavailable.");
            }
            if status == 400 {
                st.rejected.push(format!("{} {}: {body}", req.method, req.path));
            }
            (status, body)
        });
        FakeGcp { base: format!("http://127.0.0.1:{port}"), state, log }
    }
}

#[cfg(test)]
mod rules {
    use super::*;

    fn create_service(st: &mut State, id: &str, body: Value) -> (u16, String) {
        create(st, id, body)
    }

    fn create(st: &mut State, id: &str, body: Value) -> (u16, String) {
        answer(
            st,
            "POST",
            &format!("/v2/projects/{PROJECT}/locations/{REGION}/services?serviceId={id}&%24alt=json%3Benum-encoding%3Dint"),
            &body.to_string(),
        )
    }

    fn done(st: &mut State, op: &str) -> Value {
        let name: Value = serde_json::from_str(op).unwrap();
        let name = name["name"].as_str().unwrap().to_string();
        loop {
            let (code, body) = answer(st, "GET", &format!("/v1/{name}"), "");
            assert_eq!(code, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            if v["done"] == true {
                return v;
            }
        }
    }

    #[test]
    fn workload_identity_pools_as_iam_answers() {
        let mut st = State::default();
        let pools = format!("/v1/projects/{PROJECT}/locations/global/workloadIdentityPools");
        for bad in ["abc", "gcp-pool", "Pool-1", "a-pool-", &"p".repeat(33)] {
            let (code, body) = answer(&mut st, "POST", &format!("{pools}?workloadIdentityPoolId={bad}"), "{}");
            assert_eq!(code, 400, "{bad}: {body}");
        }
        let (code, body) =
            answer(&mut st, "POST", &format!("{pools}?workloadIdentityPoolId=ci-pool"), r#"{"displayName": "x", "labels": {}}"#);
        assert!(code == 400 && body.contains("labels"), "{body}");
        let (code, op) =
            answer(&mut st, "POST", &format!("{pools}?workloadIdentityPoolId=ci-pool"), r#"{"displayName": "x", "description": "d"}"#);
        assert_eq!(code, 200, "{op}");
        assert_eq!(done(&mut st, &op)["response"]["state"], "ACTIVE");
        let (code, _) = answer(&mut st, "POST", &format!("{pools}?workloadIdentityPoolId=ci-pool"), "{}");
        assert_eq!(code, 409);
        let providers = format!("{pools}/ci-pool/providers");
        let good = json!({"attributeMapping": {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"},
            "attributeCondition": "assertion.repository == 'o/n'", "oidc": {"issuerUri": "https://token.actions.githubusercontent.com"}});
        for bad in [
            json!({"oidc": {"issuerUri": "https://x"}}),
            json!({"attributeMapping": {"google.subject": "assertion.sub"}, "oidc": {"issuerUri": "http://x"}}),
            json!({"attributeMapping": {"google.subject": "assertion.sub"}, "oidc": {"issuerUri": "https://x", "audience": "a"}}),
        ] {
            let (code, body) = answer(&mut st, "POST", &format!("{providers}?workloadIdentityPoolProviderId=github"), &bad.to_string());
            assert_eq!(code, 400, "{bad}: {body}");
        }
        let (code, op) = answer(&mut st, "POST", &format!("{providers}?workloadIdentityPoolProviderId=github"), &good.to_string());
        assert_eq!(code, 200, "{op}");
        done(&mut st, &op);
        let (code, _) = answer(&mut st, "PATCH", &format!("{providers}/github"), &good.to_string());
        assert_eq!(code, 400, "a patch needs updateMask");
        // Deleting the pool is a soft delete: the id stays taken until undeleted.
        let (_, op) = answer(&mut st, "DELETE", &format!("{pools}/ci-pool"), "");
        done(&mut st, &op);
        let (code, body) = answer(&mut st, "GET", &format!("{pools}/ci-pool"), "");
        assert!(code == 200 && body.contains("DELETED"), "{body}");
        let (code, _) = answer(&mut st, "POST", &format!("{pools}?workloadIdentityPoolId=ci-pool"), "{}");
        assert_eq!(code, 409);
        let (_, op) = answer(&mut st, "POST", &format!("{pools}/ci-pool:undelete"), "{}");
        assert_eq!(done(&mut st, &op)["response"]["state"], "ACTIVE");
    }

    #[test]
    fn project_and_account_policies_take_principals_and_etags() {
        let mut st = State::default();
        let (code, body) = answer(&mut st, "GET", &format!("/v1/projects/{PROJECT}"), "");
        assert!(code == 200 && body.contains(PROJECT_NUMBER), "{body}");
        let (_, policy) = answer(&mut st, "POST", &format!("/v1/projects/{PROJECT}:getIamPolicy"), "{}");
        let policy: Value = serde_json::from_str(&policy).unwrap();
        let set = format!("/v1/projects/{PROJECT}:setIamPolicy");
        let mut stale = policy.clone();
        stale["etag"] = json!("old");
        assert_eq!(answer(&mut st, "POST", &set, &json!({"policy": stale}).to_string()).0, 409);
        let mut bad = policy.clone();
        bad["bindings"] = json!([{"role": "roles/run.admin", "members": ["serviceAccount:nobody@aideploy-test.iam.gserviceaccount.com"]}]);
        assert_eq!(answer(&mut st, "POST", &set, &json!({"policy": bad}).to_string()).0, 400);
        let (code, body) = answer(&mut st, "POST", &set, &json!({"policy": policy}).to_string());
        assert_eq!(code, 200, "{body}");
        let accounts = format!("/v1/projects/{PROJECT}/serviceAccounts");
        answer(&mut st, "POST", &accounts, r#"{"accountId": "ci-deploy", "serviceAccount": {"description": "d"}}"#);
        let email = account_email("ci-deploy");
        let (code, p) = answer(&mut st, "POST", &format!("{accounts}/{email}:getIamPolicy"), "{}");
        assert_eq!(code, 200, "{p}");
        let pool = format!("projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/ci-pool");
        for (member, want) in [
            (format!("principal://iam.googleapis.com/{pool}/subject/repo:o/n:ref:refs/heads/main"), 200),
            (format!("principalSet://iam.googleapis.com/{pool}/attribute.repository/o/n"), 200),
            (format!("principal://iam.googleapis.com/{pool}/attribute.repository/o/n"), 400),
            ("principalSet://iam.googleapis.com/projects/p/o/n".to_string(), 400),
        ] {
            let (_, p) = answer(&mut st, "POST", &format!("{accounts}/{email}:getIamPolicy"), "{}");
            let mut p: Value = serde_json::from_str(&p).unwrap();
            p["bindings"] = json!([{"role": "roles/iam.workloadIdentityUser", "members": [member]}]);
            let (code, body) = answer(&mut st, "POST", &format!("{accounts}/{email}:setIamPolicy"), &json!({"policy": p}).to_string());
            assert_eq!(code, want, "{member}: {body}");
        }
    }

    #[test]
    fn rejects_what_cloud_run_rejects() {
        let mut st = State::default();
        let good = json!({"template": {"containers": [{"image": "r/a@sha256:00"}]}});
        // Unknown field, bad id, missing secret, reserved env name.
        let (code, body) = create(&mut st, "api", json!({"template": {"containers": [{"image": "x", "imagePullPolicy": "Always"}]}}));
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("imagePullPolicy") && body.contains("Cannot find field") && body.contains("INVALID_ARGUMENT"), "{body}");
        assert_eq!(create(&mut st, "Bad_Id", good.clone()).0, 400);
        assert_eq!(create(&mut st, "api-", good.clone()).0, 400);
        let with_secret = json!({"template": {"containers": [{"image": "x", "env": [{"name": "K", "valueSource": {"secretKeyRef": {"secret": "nope", "version": "1"}}}]}]}});
        let (code, body) = create(&mut st, "api", with_secret);
        assert_eq!(code, 400);
        assert!(body.contains("was not found"), "{body}");
        assert_eq!(
            create(&mut st, "api", json!({"template": {"containers": [{"image": "x", "env": [{"name": "PORT", "value": "1"}]}]}})).0,
            400
        );
        assert_eq!(create(&mut st, "api", json!({"template": {"executionEnvironment": 7, "containers": [{"image": "x"}]}})).0, 400);
        assert_eq!(st.mutations, 0);
        // A good create, then the same again: a duplicate.
        let (code, op) = create(&mut st, "api", good.clone());
        assert_eq!(code, 200, "{op}");
        let op: Value = serde_json::from_str(&op).unwrap();
        assert_eq!(op["done"], false);
        let (code, body) = create(&mut st, "api", good);
        assert_eq!(code, 409);
        assert!(body.contains("ALREADY_EXISTS"));
        // The operation is not done on the first poll, then is, with the service.
        let path = format!("/v2/{}", op["name"].as_str().unwrap());
        let (_, first) = answer(&mut st, "GET", &path, "");
        assert!(first.contains("\"done\":false"), "{first}");
        let (_, second) = answer(&mut st, "GET", &path, "");
        let second: Value = serde_json::from_str(&second).unwrap();
        assert_eq!(second["done"], true);
        assert_eq!(second["response"]["latestReadyRevision"], second["response"]["latestCreatedRevision"]);
        assert_eq!(st.mutations, 1);
    }

    /// `secrets.list`: label filters (`=` or `:`, quoted or not) joined by AND, anything
    /// else refused; pages of `pageSize` (capped by `secret_page_limit`) in name order,
    /// followed with `nextPageToken`; a token the fake never gave is refused.
    #[test]
    fn secrets_list_filters_by_label_a_page_at_a_time() {
        let mut st = State::default();
        for (id, app) in [("s-a", "x"), ("s-b", "y"), ("s-c", "x"), ("s-d", "x")] {
            let labels =
                BTreeMap::from([("aideploy-app".to_string(), app.to_string()), ("aideploy-lease".to_string(), "true".to_string())]);
            let secret = Secret {
                labels,
                annotations: BTreeMap::new(),
                etag: 1,
                versions: Vec::new(),
                version_times: Vec::new(),
                policy: Value::Null,
            };
            st.secrets.insert(id.into(), secret);
        }
        let list = |st: &mut State, query: &str| {
            let (code, body) = answer(st, "GET", &format!("/v1/projects/{PROJECT}/secrets?{query}"), "");
            (code, serde_json::from_str::<Value>(&body).unwrap())
        };
        let names = |v: &Value| -> Vec<String> {
            v["secrets"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().rsplit('/').next().unwrap().to_string()).collect()
        };
        let (code, v) = list(&mut st, "filter=labels.aideploy-app%3Dx%20AND%20labels.aideploy-lease%3D%22true%22&pageSize=2");
        assert_eq!(code, 200, "{v}");
        assert_eq!(names(&v), ["s-a", "s-c"]);
        let token = v["nextPageToken"].as_str().unwrap().to_string();
        let (_, v) =
            list(&mut st, &format!("filter=labels.aideploy-app%3Ax%20AND%20labels.aideploy-lease%3Dtrue&pageSize=2&pageToken={token}"));
        assert_eq!(names(&v), ["s-d"]);
        assert!(v.get("nextPageToken").is_none(), "{v}");
        st.secret_page_limit = 1;
        let (_, v) = list(&mut st, "filter=labels.aideploy-app%3Dy");
        assert_eq!((names(&v), v.get("nextPageToken").is_none()), (vec!["s-b".to_string()], true));
        let (_, v) = list(&mut st, "");
        assert_eq!(names(&v), ["s-a"], "a page no longer than the limit");
        for bad in ["filter=labels.aideploy-app%3Dx%20OR%20labels.aideploy-app%3Dy", "filter=name%3As-a", "pageSize=-1", "pageToken=nope"] {
            assert_eq!(list(&mut st, bad).0, 400, "{bad}");
        }
    }

    #[test]
    fn service_accounts_as_iam_answers() {
        let mut st = State::default();
        let accounts = format!("/v1/projects/{PROJECT}/serviceAccounts");
        let create =
            |st: &mut State, body: Value| answer(st, "POST", &format!("{accounts}?%24alt=json%3Benum-encoding%3Dint"), &body.to_string());
        // Bad ids (too short, too long, a leading digit, a trailing dash), unknown fields.
        for id in ["abc", &"a".repeat(31), "1runner", "runner-"] {
            let (code, body) = create(&mut st, json!({"accountId": id, "serviceAccount": {}}));
            assert_eq!(code, 400, "{id}: {body}");
        }
        assert_eq!(create(&mut st, json!({"accountId": "runner", "serviceAccount": {"labels": {}}})).0, 400);
        assert_eq!(st.mutations, 0);
        let (code, made) = create(&mut st, json!({"accountId": "runner", "serviceAccount": {"description": "d", "displayName": "n"}}));
        assert_eq!(code, 200, "{made}");
        let made: Value = serde_json::from_str(&made).unwrap();
        let email = account_email("runner");
        assert_eq!((made["email"].as_str(), made["description"].as_str()), (Some(email.as_str()), Some("d")));
        let (code, body) = create(&mut st, json!({"accountId": "runner", "serviceAccount": {}}));
        assert_eq!(code, 409, "{body}");
        assert!(body.contains("ALREADY_EXISTS"));
        let one = format!("{accounts}/{}", email.replace('@', "%40"));
        assert_eq!(answer(&mut st, "GET", &one, "").0, 200);
        let patch = json!({"serviceAccount": {"description": "e"}, "updateMask": "description"});
        assert_eq!(answer(&mut st, "PATCH", &one, &patch.to_string()).0, 200);
        assert_eq!(st.service_accounts[&email]["description"], "e");
        // A policy or a Cloud Run service naming an account of the project that does not exist.
        st.add_foreign_secret("s");
        let policy = |who: &str| {
            json!({"policy": {"bindings": [{"role": "roles/secretmanager.secretAccessor", "members": [format!("serviceAccount:{who}")]}]}})
                .to_string()
        };
        let set = format!("/v1/projects/{PROJECT}/secrets/s:setIamPolicy");
        let (code, body) = answer(&mut st, "POST", &set, &policy(&account_email("ghost")));
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("does not exist"), "{body}");
        assert_eq!(answer(&mut st, "POST", &set, &policy(&email)).0, 200);
        assert_eq!(answer(&mut st, "POST", &set, &policy(&compute_account())).0, 200);
        let ghost = json!({"template": {"serviceAccount": account_email("ghost"), "containers": [{"image": "r/a@sha256:00"}]}});
        let (code, body) = create_service(&mut st, "api", ghost);
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("does not exist"), "{body}");
        let runner = json!({"template": {"serviceAccount": email, "containers": [{"image": "r/a@sha256:00"}]}});
        assert_eq!(create_service(&mut st, "api", runner).0, 200);
        // Deleted: gone, and a second delete is a 404.
        assert_eq!(answer(&mut st, "DELETE", &one, "").0, 200);
        assert_eq!(answer(&mut st, "GET", &one, "").0, 404);
        assert_eq!(answer(&mut st, "DELETE", &one, "").0, 404);
    }

    #[test]
    fn secret_etags_are_preconditions() {
        let mut st = State::default();
        let secrets = format!("/v1/projects/{PROJECT}/secrets");
        let body = json!({"replication": {"automatic": {}}, "annotations": {"aideploy-lease": "{}"}});
        let (code, made) = answer(&mut st, "POST", &format!("{secrets}?secretId=lease"), &body.to_string());
        assert_eq!(code, 200, "{made}");
        // Create-only: a second create of the id is refused.
        assert_eq!(answer(&mut st, "POST", &format!("{secrets}?secretId=lease"), &body.to_string()).0, 409);
        let etag = serde_json::from_str::<Value>(&made).unwrap()["etag"].as_str().unwrap().to_string();
        // A bad annotation key, and an update without a mask, are refused.
        let bad = json!({"replication": {"automatic": {}}, "annotations": {"-x": "1"}});
        assert_eq!(answer(&mut st, "POST", &format!("{secrets}?secretId=other"), &bad.to_string()).0, 400);
        let update = |etag: &str, value: &str| json!({"etag": etag, "annotations": {"aideploy-lease": value}}).to_string();
        assert_eq!(answer(&mut st, "PATCH", &format!("{secrets}/lease"), &update(&etag, "a")).0, 400);
        // The current etag: applied, and the etag moves on.
        let (code, after) = answer(&mut st, "PATCH", &format!("{secrets}/lease?updateMask=annotations"), &update(&etag, "a"));
        assert_eq!(code, 200, "{after}");
        let newer = serde_json::from_str::<Value>(&after).unwrap()["etag"].as_str().unwrap().to_string();
        assert_ne!(newer, etag);
        // The old one: FAILED_PRECONDITION, HTTP 400, nothing changed; the same for delete.
        let (code, refused) = answer(&mut st, "PATCH", &format!("{secrets}/lease?updateMask=annotations"), &update(&etag, "b"));
        assert_eq!(code, 400);
        assert!(refused.contains("FAILED_PRECONDITION"), "{refused}");
        assert_eq!(st.secrets["lease"].annotations["aideploy-lease"], "a");
        let q = |e: &str| e.replace('"', "%22");
        assert_eq!(answer(&mut st, "DELETE", &format!("{secrets}/lease?etag={}", q(&etag)), "").0, 400);
        assert!(st.secrets.contains_key("lease"));
        assert_eq!(answer(&mut st, "DELETE", &format!("{secrets}/lease?etag={}", q(&newer)), "").0, 200);
        assert!(st.secrets.is_empty());
    }

    #[test]
    fn entries_list_as_cloud_logging_answers() {
        let mut st = State::default();
        for (i, t) in ["2026-01-01T00:00:03Z", "2026-01-01T00:00:01.5Z", "2026-01-01T00:00:02Z"].iter().enumerate() {
            st.add_log_entry("svc", "svc-00001-abc", t, json!({"textPayload": format!("line {i}")}));
        }
        st.add_log_entry("other", "other-00001-abc", "2026-01-01T00:00:04Z", json!({"textPayload": "other"}));
        let list = |st: &mut State, body: Value| {
            let (code, text) = answer(st, "POST", "/v2/entries:list", &body.to_string());
            (code, serde_json::from_str::<Value>(&text).unwrap())
        };
        let texts = |v: &Value| -> Vec<String> {
            v["entries"].as_array().into_iter().flatten().map(|e| e["textPayload"].as_str().unwrap().to_string()).collect()
        };
        let filter = r#"resource.type="cloud_run_revision" AND resource.labels.service_name="svc" AND timestamp>="2026-01-01T00:00:01.6Z""#;
        let base = json!({"resourceNames": [format!("projects/{PROJECT}")], "filter": filter, "orderBy": "timestamp desc", "pageSize": 1});
        let (code, first) = list(&mut st, base.clone());
        assert_eq!(code, 200, "{first}");
        assert_eq!(texts(&first), ["line 0"]);
        let mut next = base.clone();
        next["pageToken"] = first["nextPageToken"].clone();
        let (_, second) = list(&mut st, next);
        assert_eq!(texts(&second), ["line 2"]);
        assert!(second.get("nextPageToken").is_none(), "{second}");
        let mut asc = base.clone();
        asc["orderBy"] = json!("timestamp asc");
        asc["pageSize"] = json!(10);
        assert_eq!(texts(&list(&mut st, asc).1), ["line 2", "line 0"]);
        // What the API refuses.
        for bad in [
            json!({"filter": filter}),
            json!({"resourceNames": ["projects/p"], "orderBy": "severity"}),
            json!({"resourceNames": ["projects/p"], "pageSize": 1001}),
            json!({"resourceNames": ["projects/p"], "limit": 1}),
        ] {
            assert_eq!(list(&mut st, bad.clone()).0, 400, "{bad}");
        }
        assert_eq!(st.mutations, 0);
    }
}
