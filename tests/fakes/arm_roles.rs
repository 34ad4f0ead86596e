//! Role definitions in the ARM fake (arm.rs), from the Authorization REST reference
//! (api-version 2022-04-01): `GET`/`PUT`/`DELETE
//! /subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}` and the
//! list with `$filter=roleName eq '{name}'`. The built-in roles aideploy names are
//! always there (`BuiltInRole`, assignable everywhere); custom ones are made by PUT.
//!
//! What ARM refuses, refused here: a name that is not a GUID, a body without
//! `roleName`, `permissions` or `assignableScopes` (400), an assignable scope that is the
//! root or outside the subscription (400), a `type` other than `CustomRole` (400), a
//! role name another definition in the tenant has, built-in ones included (409
//! `RoleDefinitionWithSameNameExists`), deleting a definition that is still assigned
//! (400 `RoleDefinitionHasAssignments`). Role assignments (arm.rs) name a definition
//! that exists and is assignable at their scope, else 400 `RoleDefinitionDoesNotExist`.

use serde_json::{json, Value};

use super::arm::{check, err, Reply, State, ACR_PULL, CONTRIBUTOR, KV_SECRETS_USER, RBAC_ADMIN, READER, SUB};

/// The built-in roles the fake knows: id and name.
pub const BUILT_IN: [(&str, &str); 5] = [
    (READER, "Reader"),
    (CONTRIBUTOR, "Contributor"),
    (RBAC_ADMIN, "Role Based Access Control Administrator"),
    (ACR_PULL, "AcrPull"),
    (KV_SECRETS_USER, "Key Vault Secrets User"),
];

fn path_of(guid: &str) -> String {
    format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
}

fn built_in(guid: &str, name: &str) -> Value {
    json!({"id": path_of(guid), "name": guid, "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {"roleName": name, "description": format!("the built-in role {name}"), "type": "BuiltInRole",
            "permissions": [{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}], "assignableScopes": ["/"]}})
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn shape() -> Value {
    let list = json!(["string"]);
    json!({"id": "string", "name": "string", "type": "string", "!properties": {
        "!roleName": "string", "description": "string", "type": "string",
        "permissions": [{"actions": list, "notActions": list, "dataActions": list, "notDataActions": list, "conditionVersion": "string", "condition": "string"}],
        "assignableScopes": list}})
}

/// Every definition visible in the subscription: the built-in ones, then the custom.
fn all(st: &State) -> Vec<Value> {
    BUILT_IN.iter().map(|(g, n)| built_in(g, n)).chain(st.role_definitions.values().cloned()).collect()
}

/// `path` (a roleDefinitionId) names a definition that may be assigned at `scope`.
pub fn assignable(st: &State, path: &str, scope: &str) -> bool {
    let prefix = format!("/subscriptions/{SUB}/providers/microsoft.authorization/roledefinitions/");
    let lower = path.to_ascii_lowercase();
    let Some(guid) = lower.strip_prefix(&prefix) else { return false };
    if BUILT_IN.iter().any(|(g, _)| *g == guid) {
        return true;
    }
    let scope = scope.to_ascii_lowercase();
    st.role_definitions.get(&lower).is_some_and(|d| {
        d["properties"]["assignableScopes"].as_array().into_iter().flatten().filter_map(Value::as_str).any(|s| {
            let s = s.to_ascii_lowercase();
            scope == s || scope.starts_with(&format!("{s}/"))
        })
    })
}

/// `/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions[/{guid}]`.
pub fn role_definition(
    st: &mut State,
    method: &str,
    segs: &[&str],
    parsed: &Value,
    params: &std::collections::BTreeMap<String, String>,
) -> Reply {
    if segs.len() == 5 {
        if method != "GET" {
            return err(405, "MethodNotAllowed", "method not allowed");
        }
        let filter = params.get("$filter").cloned().unwrap_or_default();
        let name = match filter.trim() {
            "" => None,
            f => match f.strip_prefix("roleName eq '").and_then(|r| r.strip_suffix('\'')) {
                Some(n) => Some(n.to_string()),
                None => return err(400, "InvalidFilterInQueryString", format!("The filter '{f}' is not supported.")),
            },
        };
        let list: Vec<Value> = all(st)
            .into_iter()
            .filter(|d| name.as_ref().is_none_or(|n| d["properties"]["roleName"].as_str().is_some_and(|r| r.eq_ignore_ascii_case(n))))
            .collect();
        return Reply::json(200, json!({"value": list}));
    }
    let guid = segs[5];
    let id = path_of(guid);
    let key = id.to_ascii_lowercase();
    let builtin = BUILT_IN.iter().find(|(g, _)| g.eq_ignore_ascii_case(guid));
    match method {
        "GET" => match (builtin, st.role_definitions.get(&key)) {
            (Some((g, n)), _) => Reply::json(200, built_in(g, n)),
            (None, Some(d)) => Reply::json(200, d.clone()),
            (None, None) => {
                err(404, "RoleDefinitionDoesNotExist", format!("The specified role definition with ID '{guid}' does not exist."))
            }
        },
        "DELETE" => {
            if builtin.is_some() {
                return err(403, "AuthorizationFailed", "Built-in role definitions cannot be deleted.");
            }
            if !st.role_definitions.contains_key(&key) {
                return Reply::json(204, Value::Null);
            }
            let assigned = st.resources.values().any(|r| {
                r["type"] == "Microsoft.Authorization/roleAssignments"
                    && r["properties"]["roleDefinitionId"].as_str().is_some_and(|d| d.eq_ignore_ascii_case(&id))
            });
            if assigned {
                return err(
                    400,
                    "RoleDefinitionHasAssignments",
                    "There are existing role assignments referencing role (code: RoleDefinitionHasAssignments).",
                );
            }
            st.mutations += 1;
            Reply::json(200, st.role_definitions.remove(&key).unwrap_or_default())
        }
        "PUT" => {
            if !is_guid(guid) {
                return err(400, "InvalidRoleDefinitionId", format!("The role definition ID '{guid}' is not valid: it must be a GUID."));
            }
            if builtin.is_some() {
                return err(403, "AuthorizationFailed", "Built-in role definitions cannot be changed.");
            }
            if let Err(why) = check(parsed, &shape(), "body") {
                return err(400, "InvalidRequestContent", why);
            }
            let p = &parsed["properties"];
            let name = p["roleName"].as_str().unwrap_or_default();
            if name.trim().is_empty() {
                return err(400, "InvalidRoleDefinition", "The role definition needs a roleName.");
            }
            let perms = p["permissions"].as_array().cloned().unwrap_or_default();
            if perms.is_empty() {
                return err(400, "InvalidRoleDefinition", "The role definition needs permissions.");
            }
            let scopes: Vec<&str> = p["assignableScopes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if scopes.is_empty() {
                return err(400, "InvalidRoleDefinition", "The role definition needs at least one assignable scope.");
            }
            let sub = format!("/subscriptions/{SUB}");
            if let Some(s) =
                scopes.iter().find(|s| !(s.eq_ignore_ascii_case(&sub) || s.to_ascii_lowercase().starts_with(&format!("{sub}/"))))
            {
                return err(
                    400,
                    "InvalidAssignableScope",
                    format!("The assignable scope '{s}' is not valid for a custom role in this subscription."),
                );
            }
            if p.get("type").is_some_and(|t| t != "CustomRole") {
                return err(400, "InvalidRoleDefinition", "A role definition made by PUT is a CustomRole.");
            }
            let taken = all(st).into_iter().any(|d| {
                !d["id"].as_str().unwrap_or_default().eq_ignore_ascii_case(&id)
                    && d["properties"]["roleName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
            if taken {
                return err(
                    409,
                    "RoleDefinitionWithSameNameExists",
                    format!("A custom role with the same name '{name}' already exists in this directory."),
                );
            }
            let list = |v: &Value| json!(v.as_array().cloned().unwrap_or_default());
            let perms: Vec<Value> = perms
                .iter()
                .map(|x| {
                    json!({"actions": list(&x["actions"]), "notActions": list(&x["notActions"]),
                        "dataActions": list(&x["dataActions"]), "notDataActions": list(&x["notDataActions"])})
                })
                .collect();
            let d = json!({"id": id, "name": guid, "type": "Microsoft.Authorization/roleDefinitions",
                "properties": {"roleName": name, "description": p["description"].as_str().unwrap_or_default(), "type": "CustomRole",
                    "permissions": perms, "assignableScopes": scopes}});
            let existed = st.role_definitions.insert(key, d.clone()).is_some();
            st.mutations += 1;
            Reply::json(if existed { 200 } else { 201 }, d)
        }
        _ => err(405, "MethodNotAllowed", "method not allowed"),
    }
}

#[cfg(test)]
mod rules {
    use super::*;

    fn call(st: &mut State, method: &str, path: &str, body: Value) -> Reply {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        super::super::arm::answer(st, "http://fake", method, path, &[("authorization".into(), "Bearer t".into())], &body)
    }

    fn code(r: &Reply) -> String {
        serde_json::from_str::<Value>(&r.body).map(|v| v["error"]["code"].as_str().unwrap_or("").to_string()).unwrap_or_default()
    }

    const GUID: &str = "0a1b2c3d-0000-5000-8000-000000000001";

    fn url(guid: &str) -> String {
        format!("{}?api-version=2022-04-01", path_of(guid))
    }

    fn role(name: &str) -> Value {
        json!({"properties": {"roleName": name, "description": "d", "type": "CustomRole",
            "permissions": [{"actions": ["Microsoft.Web/sites/config/list/action"], "notActions": [], "dataActions": [], "notDataActions": []}],
            "assignableScopes": [format!("/subscriptions/{SUB}")]}})
    }

    #[test]
    fn custom_roles_are_checked_unique_by_name_and_kept_while_assigned() {
        let mut st = State::default();
        // What ARM refuses on PUT.
        let mut missing = role("r1");
        missing["properties"].as_object_mut().unwrap().remove("assignableScopes");
        assert_eq!(call(&mut st, "PUT", &url(GUID), missing).status, 400);
        let mut missing = role("r1");
        missing["properties"].as_object_mut().unwrap().remove("permissions");
        assert_eq!(call(&mut st, "PUT", &url(GUID), missing).status, 400);
        let mut root = role("r1");
        root["properties"]["assignableScopes"] = json!(["/"]);
        assert_eq!(code(&call(&mut st, "PUT", &url(GUID), root)), "InvalidAssignableScope");
        assert_eq!(code(&call(&mut st, "PUT", &url("not-a-guid"), role("r1"))), "InvalidRoleDefinitionId");
        assert_eq!(code(&call(&mut st, "PUT", &url(GUID), role("Reader"))), "RoleDefinitionWithSameNameExists");
        assert!(st.role_definitions.is_empty() && st.mutations == 0);

        let made = call(&mut st, "PUT", &url(GUID), role("r1"));
        assert_eq!(made.status, 201, "{}", made.body);
        assert_eq!(call(&mut st, "PUT", &url(GUID), role("r1")).status, 200, "a PUT of the same id updates it");
        let other = "0a1b2c3d-0000-5000-8000-000000000002";
        let dup = call(&mut st, "PUT", &url(other), role("R1"));
        assert_eq!((dup.status, code(&dup)), (409, "RoleDefinitionWithSameNameExists".to_string()));
        let got: Value = serde_json::from_str(&call(&mut st, "GET", &url(GUID), Value::Null).body).unwrap();
        assert_eq!(got["properties"]["type"], "CustomRole");
        assert_eq!(got["properties"]["permissions"][0]["actions"], json!(["Microsoft.Web/sites/config/list/action"]));
        let list = format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20%27r1%27&api-version=2022-04-01");
        let listed: Value = serde_json::from_str(&call(&mut st, "GET", &list, Value::Null).body).unwrap();
        assert_eq!(listed["value"].as_array().unwrap().len(), 1);
        assert_eq!(code(&call(&mut st, "GET", &url(other), Value::Null)), "RoleDefinitionDoesNotExist");

        // Assignments name a definition that exists.
        let principal = "p-1";
        st.resources.insert(
            "/x/identity".into(),
            json!({"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "properties": {"principalId": principal}}),
        );
        let assignment = |guid: &str| json!({"properties": {"roleDefinitionId": path_of(guid), "principalId": principal, "principalType": "ServicePrincipal"}});
        let at = |n: u8| {
            format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/00000000-0000-4000-8000-00000000000{n}?api-version=2022-04-01")
        };
        assert_eq!(code(&call(&mut st, "PUT", &at(1), assignment(other))), "RoleDefinitionDoesNotExist");
        assert_eq!(call(&mut st, "PUT", &at(1), assignment(GUID)).status, 201);
        assert_eq!(call(&mut st, "PUT", &at(2), assignment(READER)).status, 201);

        // Not deleted while assigned; deleted after.
        assert_eq!(code(&call(&mut st, "DELETE", &url(GUID), Value::Null)), "RoleDefinitionHasAssignments");
        assert!(!st.role_definitions.is_empty());
        assert_eq!(call(&mut st, "DELETE", &at(1), Value::Null).status, 200);
        assert_eq!(call(&mut st, "DELETE", &url(GUID), Value::Null).status, 200);
        assert!(st.role_definitions.is_empty());
        assert_eq!(call(&mut st, "DELETE", &url(GUID), Value::Null).status, 204);
        assert_eq!(call(&mut st, "DELETE", &url(READER), Value::Null).status, 403);
    }
}
