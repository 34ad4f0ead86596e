//! The `appservice` target end to end through the binary, against the in-repo fake of
//! Azure Resource Manager (tests/fakes/arm.rs) and the loopback Distribution registry
//! that scripts/test starts (the fake's registries report it as their login server):
//! deploy, unchanged redeploy, a failing in-place deploy on B1, a slot deploy + swap on
//! S1, a failing slot that is never swapped, status, rollback and destroy, asserting on
//! the fake's state after each step.

use crate::common;
use crate::fakes::arm as fake;

use serde_json::Value;
use sha2::Digest;

const SECRET: &str = "sk-azure-test-secret-value";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `scripts/test` (it starts the registry and builds the base image)")
    })
}

struct Project {
    home: tempfile::TempDir,
    dir: std::path::PathBuf,
    fake: fake::FakeArm,
}

impl Project {
    fn new(extra: &str) -> Project {
        let registry = env("AIDEPLOY_TEST_REGISTRY");
        let fake = fake::FakeArm::start(registry.split('/').next().unwrap());
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("rag");
        common::copy_tree(&common::root().join("examples/fastapi-rag"), &dir);
        let manifest = std::fs::read_to_string(dir.join("aideploy.toml"))
            .unwrap()
            .replace("[build]\n", &format!("[build]\nbase_image = \"{}\"\n", env("AIDEPLOY_TEST_BASE_IMAGE")))
            + &format!("\n[targets.appservice]\nsubscription = \"{}\"\nregion = \"westeurope\"\nhealth_timeout = 2\n{extra}", fake::SUB);
        std::fs::write(dir.join("aideploy.toml"), manifest).unwrap();
        Project { home, dir, fake }
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = common::aideploy(self.home.path());
        common::offline(&mut cmd);
        cmd.env("AIDEPLOY_AZURE_ENDPOINT", &self.fake.base)
            .env("AIDEPLOY_AZURE_SITE_URL_TEMPLATE", format!("{}/sites/{{host}}", self.fake.base))
            .env("OPENAI_API_KEY", SECRET)
            .env("AIDEPLOY_POLL_INTERVAL_MS", "20")
            // The settled lease's delay: far above a call to the fake, below the default.
            .env("AIDEPLOY_LEASE_SETTLE_MS", "300")
            .current_dir(&self.dir);
        cmd
    }

    fn run(&self, args: &[&str]) -> (i32, Value, String) {
        let out = self.cmd().args(args).args(["--target", "appservice", "--json", "--yes"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET), "the secret value in the output of {args:?}:\n{stdout}\n{stderr}");
        let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap(), v, stderr)
    }

    fn edit(&self, from: &str, to: &str) {
        let docs = self.dir.join("app/docs.py");
        let text = std::fs::read_to_string(&docs).unwrap();
        assert!(text.contains(from));
        std::fs::write(&docs, text.replacen(from, to, 1)).unwrap();
    }

    fn st(&self) -> std::sync::MutexGuard<'_, fake::State> {
        self.fake.state.lock().unwrap()
    }

    fn build(&self) -> String {
        let (code, built, stderr) = self.run(&["build", "--package", "image"]);
        assert_eq!(code, 0, "{stderr}");
        built["artifact"]["digest"].as_str().unwrap().to_string()
    }
}

fn one<'a>(st: &'a fake::State, ty: &str) -> &'a Value {
    let all = st.by_type(ty);
    assert_eq!(all.len(), 1, "{ty}: {all:?}");
    all[0]
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn digest_of(config: &Value) -> String {
    config["linuxFxVersion"].as_str().unwrap_or("").rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default()
}

fn tagged_ok(v: &Value) {
    assert_eq!(v["tags"]["aideploy-app"], "fastapi-rag", "{v}");
    assert_eq!(v["tags"]["aideploy-stage"], "dev", "{v}");
    assert_eq!(v["tags"]["aideploy-target"], "appservice", "{v}");
}

#[test]
fn appservice_deploy_redeploy_fail_swap_rollback_destroy() {
    // Public, so the health gate (this machine) may reach it: see appservice_is_private_unless_public.
    let p = Project::new("public = true\n");
    p.st().add_foreign_group("data-team");
    let registry = env("AIDEPLOY_TEST_REGISTRY");
    let registry_host = registry.split('/').next().unwrap().to_string();

    // First deploy, on B1: group, plan, registry, vault, secret, site, role assignments.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    {
        let st = p.st();
        eprintln!("measure: first deploy: {} ARM requests, {} writes, {} ms", st.requests, st.mutations, v["duration_ms"]);
    }
    let first = v["artifact"]["digest"].as_str().unwrap().to_string();
    assert!(stderr.contains("230 s") && stderr.contains("no deployment slots") && stderr.contains("no autoscale"), "{stderr}");
    let site_id;
    {
        let st = p.st();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let group = &st.groups["aideploy-fastapi-rag-dev"];
        tagged_ok(group);
        assert_eq!(group["tags"]["aideploy-created-group"], "true");
        assert_eq!(group["location"], "westeurope");
        let plan = st.by_type("Microsoft.Web/serverfarms").into_iter().find(|x| x["name"] != "their-plan").expect("plan");
        tagged_ok(plan);
        assert_eq!(
            (plan["kind"].as_str(), plan["sku"]["name"].as_str(), plan["properties"]["reserved"].as_bool()),
            (Some("linux"), Some("B1"), Some(true))
        );
        let acr = one(&st, "Microsoft.ContainerRegistry/registries");
        tagged_ok(acr);
        assert_eq!(acr["sku"]["name"], "Basic");
        assert_eq!(acr["properties"]["adminUserEnabled"], false);
        let vault = one(&st, "Microsoft.KeyVault/vaults");
        tagged_ok(vault);
        assert_eq!(vault["properties"]["enableRbacAuthorization"], true);
        let site = one(&st, "Microsoft.Web/sites");
        tagged_ok(site);
        site_id = id(site);
        assert_eq!(site["tags"]["aideploy-digest"], first.as_str());
        assert_eq!(site["properties"]["httpsOnly"], true);
        assert_eq!(v["url"], format!("https://{}", site["properties"]["defaultHostName"].as_str().unwrap()));
        let config = st.site_config(&site_id);
        assert_eq!(config["linuxFxVersion"], format!("DOCKER|{registry_host}/fastapi-rag@{first}"));
        assert_eq!(config["acrUseManagedIdentityCreds"], true);
        assert_eq!(config["alwaysOn"], true);
        assert_eq!(config["healthCheckPath"], "/health");
        assert_eq!(config["minTlsVersion"], "1.2");
        assert_eq!(config["ftpsState"], "Disabled");
        assert_eq!(config["ipSecurityRestrictionsDefaultAction"], "Allow", "public = true: no restriction");
        // App settings: port, [env], and a Key Vault reference, never the value.
        let settings = st.site_settings(&site_id);
        assert_eq!(settings["WEBSITES_PORT"], "8000");
        assert_eq!(settings["LOG_LEVEL"], "info");
        let vault_name = vault["name"].as_str().unwrap();
        let reference = &settings["OPENAI_API_KEY"];
        assert!(
            reference.starts_with(&format!("@Microsoft.KeyVault(SecretUri=https://{vault_name}.vault.azure.net/secrets/OPENAI-API-KEY/")),
            "{reference}"
        );
        assert!(settings.values().all(|v| !v.contains(SECRET)));
        let secret_key = format!("{}/secrets/openai-api-key", id(vault).to_ascii_lowercase());
        assert_eq!(st.secret_values[&secret_key], SECRET);
        // Role assignments: the site's identity, each on its one resource.
        let principal = site["identity"]["principalId"].as_str().unwrap();
        let roles = st.by_type("Microsoft.Authorization/roleAssignments");
        assert_eq!(roles.len(), 2, "{roles:?}");
        let scope_of = |role: &str| {
            roles.iter().find(|r| r["properties"]["roleDefinitionId"].as_str().unwrap().ends_with(role)).map(|r| {
                (r["properties"]["scope"].as_str().unwrap().to_string(), r["properties"]["principalId"].as_str().unwrap().to_string())
            })
        };
        assert_eq!(scope_of("7f951dda-4ed3-4680-a7ca-43fe172d538d"), Some((id(acr), principal.to_string())));
        assert_eq!(scope_of("4633458b-17de-408a-b874-0445c86b69e6"), Some((id(vault), principal.to_string())));
    }
    // The image is in the registry the site pulls from, by that digest.
    let (code, tags) = common::http("GET", &format!("http://{registry_host}/v2/fastapi-rag/tags/list"), None).unwrap();
    assert_eq!(code, 200, "{tags}");
    assert!(tags.contains(&format!("dev-{}", &first[7..19])), "{tags}");

    // Unchanged: reads only.
    let (before, requests) = {
        let st = p.st();
        (st.mutations, st.requests)
    };
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["changed"], false, "{v}");
    assert_eq!(p.st().mutations, before);
    let after = p.st().requests;
    eprintln!("measure: unchanged redeploy: {} ARM requests, 0 writes, {} ms", after - requests, v["duration_ms"]);

    // B1, a version that never gets healthy: updated in place, then put back. Exit 3.
    p.edit("Secrets", "Secret values");
    let bad_b1 = p.build();
    p.st().bad.insert(bad_b1.clone());
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 3, "{v}\n{stderr}");
    assert_eq!(v["health"], "failed");
    assert!(v["failure"].as_str().unwrap().contains("rolled back"), "{v}");
    assert_eq!(digest_of(&p.st().site_config(&site_id)), first);
    assert_eq!(one(&p.st(), "Microsoft.Web/sites")["tags"]["aideploy-digest"], first.as_str());

    // S1 and a code change: plan scaled up, the new version through slot `staging`,
    // swapped in after its health check.
    p.edit("Secret values", "Secret things");
    let (before, requests) = {
        let st = p.st();
        (st.mutations, st.requests)
    };
    let (code, v, stderr) = p.run(&["deploy", "--set", "sku=S1"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let (writes, after) = {
        let st = p.st();
        (st.mutations - before, st.requests - requests)
    };
    eprintln!("measure: code change + B1->S1, slot + swap: {after} ARM requests, {writes} writes, {} ms", v["duration_ms"]);
    let second = v["artifact"]["digest"].as_str().unwrap().to_string();
    assert!(v["actions"].as_array().unwrap().iter().any(|a| a["resource"] == "swap"), "{v}");
    let slot_id = format!("{site_id}/slots/staging");
    {
        let st = p.st();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        assert!(st.by_type("Microsoft.Web/serverfarms").iter().any(|p| p["sku"]["name"] == "S1"));
        assert_eq!(digest_of(&st.site_config(&site_id)), second);
        assert_eq!(digest_of(&st.site_config(&slot_id)), first, "the slot holds the swapped-out version");
        let site = one(&st, "Microsoft.Web/sites");
        assert_eq!(site["tags"]["aideploy-digest"], second.as_str());
        assert_eq!(site["tags"]["aideploy-previous-digest"], first.as_str());
        // The slot's identity got the same two roles, on the same two resources.
        let slot_principal = one(&st, "Microsoft.Web/sites/slots")["identity"]["principalId"].as_str().unwrap().to_string();
        let slot_roles: Vec<&Value> = st
            .by_type("Microsoft.Authorization/roleAssignments")
            .into_iter()
            .filter(|r| r["properties"]["principalId"] == slot_principal.as_str())
            .collect();
        assert_eq!(slot_roles.len(), 2);
        // Public on both sides of the swap (restrictions stay with each).
        assert_eq!(st.site_config(&site_id)["ipSecurityRestrictionsDefaultAction"], "Allow");
        assert_eq!(st.site_config(&slot_id)["ipSecurityRestrictionsDefaultAction"], "Allow");
        assert!(st.site_settings(&site_id).values().all(|v| !v.contains(SECRET)));
    }

    // S1, a failing version: deployed to the slot, never swapped. Exit 3.
    p.edit("Secret things", "Secret stuff");
    let third = p.build();
    p.st().bad.insert(third.clone());
    let before = p.st().mutations;
    let (code, v, stderr) = p.run(&["deploy", "--set", "sku=S1"]);
    assert_eq!(code, 3, "{v}\n{stderr}");
    assert!(v["failure"].as_str().unwrap().contains("not swapped"), "{v}");
    {
        let st = p.st();
        assert!(st.mutations > before);
        assert_eq!(digest_of(&st.site_config(&site_id)), second, "production kept the healthy version");
        assert_eq!(digest_of(&st.site_config(&slot_id)), third);
    }
    let (code, v, _) = p.run(&["status", "--set", "sku=S1"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["digest"], second.as_str());
    assert_eq!(v["health"], "passed");
    assert!(v["url"].as_str().unwrap().starts_with("https://fastapi-rag-dev-"), "{v}");

    // Rollback: the version before `second`, through the slot and a swap.
    let (code, v, stderr) = p.run(&["rollback", "--set", "sku=S1"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["digest"], first.as_str(), "{v}");
    assert_eq!(digest_of(&p.st().site_config(&site_id)), first);

    // Destroy --purge: the group aideploy made, with everything in it; the vault purged;
    // the unrelated group untouched.
    let (code, v, stderr) = p.run(&["destroy", "--purge", "--set", "sku=S1"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = p.st();
        assert!(st.tagged("fastapi-rag").is_empty(), "{:?}", st.tagged("fastapi-rag"));
        assert!(!st.groups.contains_key("aideploy-fastapi-rag-dev"));
        assert!(st.deleted_vaults.is_empty(), "the vault was not purged");
        assert!(st.groups.contains_key("data-team"));
        assert_eq!(st.by_type("Microsoft.Web/serverfarms").len(), 1, "their plan stays");
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 0);
    assert_eq!(v["deployed"], false);
    // A loopback endpoint never gets real credentials: only the placeholder.
    assert_eq!(p.st().tokens.iter().collect::<Vec<_>>(), ["Bearer aideploy-placeholder-token"]);
}

/// In a resource group aideploy did not make: a taken site name is a clear error, a
/// re-run converges, and destroy removes aideploy's resources but keeps the group.
#[test]
fn appservice_in_a_group_it_did_not_create() {
    // With a budget: its alert lives in the group, which destroy keeps, so it goes alone.
    let p = Project::new("resource_group = \"shared-rg\"\n\n[cost]\nbudget_usd = 40\nalert_email = \"ops@example.com\"\n");
    p.st().add_group("shared-rg", "northeurope");
    let h = hex::encode(sha2::Sha256::digest(format!("{}/shared-rg", fake::SUB).as_bytes()));
    let site = format!("fastapi-rag-dev-{}", &h[..6]);
    p.st().taken_names.insert(site.clone());
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 1, "{v}\n{stderr}");
    assert!(stderr.contains(&format!("Website with given name {site} already exists")), "{stderr}");
    assert!(stderr.contains("resource_group"), "the fix is named: {stderr}");

    p.st().taken_names.clear();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = p.st();
        assert_eq!(one(&st, "Microsoft.Web/sites")["name"], site.as_str());
        assert_eq!(one(&st, "Microsoft.Web/sites")["location"], "northeurope");
        assert!(st.groups["shared-rg"]["tags"].as_object().unwrap().is_empty(), "the group's tags were changed");
        let budget = one(&st, "Microsoft.Consumption/budgets");
        assert_eq!(
            budget["id"],
            format!(
                "/subscriptions/{}/resourceGroups/shared-rg/providers/Microsoft.Consumption/budgets/aideploy-fastapi-rag-dev-appservice",
                fake::SUB
            )
        );
        let b = &budget["properties"];
        assert_eq!((b["category"].as_str(), b["amount"].as_f64(), b["timeGrain"].as_str()), (Some("Cost"), Some(40.0), Some("Monthly")));
        assert!(b["timePeriod"]["startDate"].as_str().unwrap().ends_with("-01T00:00:00Z"), "{b}");
        let tags: Vec<(&str, &str)> = b["filter"]["and"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["tags"]["name"].as_str().unwrap(), e["tags"]["values"][0].as_str().unwrap()))
            .collect();
        assert_eq!(tags, [("aideploy-app", "fastapi-rag"), ("aideploy-stage", "dev"), ("aideploy-target", "appservice")]);
        let notes: Vec<(&str, f64, &str)> = b["notifications"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| (n["thresholdType"].as_str().unwrap(), n["threshold"].as_f64().unwrap(), n["contactEmails"][0].as_str().unwrap()))
            .collect();
        assert_eq!(notes, [("Actual", 80.0, "ops@example.com"), ("Forecasted", 100.0, "ops@example.com")]);
    }
    // Unchanged: no step for the budget either.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["changed"], false, "{v}");
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = p.st();
    assert!(st.groups.contains_key("shared-rg"), "a group aideploy did not create was deleted");
    assert!(st.by_type("Microsoft.Consumption/budgets").is_empty(), "destroy left the budget alert");
    assert!(st.tagged("fastapi-rag").is_empty(), "{:?}", st.tagged("fastapi-rag"));
    assert!(st.by_type("Microsoft.Authorization/roleAssignments").is_empty());
    // Deleted one by one, the vault too, which Key Vault keeps soft-deleted (no --purge).
    assert_eq!(st.deleted_vaults.len(), 1, "the vault was purged without --purge");
    assert_eq!(st.deleted_vaults.values().next().unwrap().tags()["aideploy-app"], "fastapi-rag");
}

/// The vault's soft delete: destroy without --purge leaves it soft-deleted and says so;
/// a destroy with nothing else left keeps it; a redeploy recovers it with its secret;
/// `destroy --purge` after a plain destroy purges the leftover; and `destroy --purge`
/// from a deployed app leaves nothing. Each step read back from the fake's state.
#[test]
fn appservice_destroy_keeps_the_vault_soft_deleted_unless_purge() {
    let p = Project::new("");
    let deploy = || {
        let (code, v, stderr) = p.run(&["deploy"]);
        assert_eq!(code, 0, "{v}\n{stderr}");
        v
    };
    let vault_row = |v: &Value| -> Value {
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["resource"] == "key-vault")
            .cloned()
            .unwrap_or_else(|| panic!("no key-vault row: {v}"))
    };
    deploy();
    let (vault_id, secret_id) = {
        let st = p.st();
        let vault = one(&st, "Microsoft.KeyVault/vaults");
        let secret = one(&st, "Microsoft.KeyVault/vaults/secrets");
        (id(vault), id(secret).to_ascii_lowercase())
    };
    let name = vault_id.rsplit('/').next().unwrap().to_string();

    // Destroy without --purge: the vault is deleted and kept soft-deleted; the plan row
    // and the report say so, and how to purge it.
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let row = vault_row(&v);
    assert_eq!((row["op"].as_str(), row["id"].as_str()), (Some("delete"), Some(name.as_str())), "{row}");
    assert!(row["reason"].as_str().unwrap().contains("kept soft-deleted"), "{row}");
    assert!(stderr.contains(&format!("az keyvault purge --name {name}")), "the plan shown does not say how to purge:\n{stderr}");
    let leaves = v["leaves"].as_array().unwrap();
    assert_eq!(leaves.len(), 1, "{v}");
    let kept = leaves[0].as_str().unwrap();
    assert!(kept.contains(&format!("Key Vault {name} is deleted but soft-deleted")) && kept.contains("aideploy destroy --purge"), "{kept}");
    {
        let st = p.st();
        assert!(st.tagged("fastapi-rag").is_empty(), "{:?}", st.tagged("fastapi-rag"));
        let d = st.deleted_vaults.get(&name.to_ascii_lowercase()).expect("the vault is soft-deleted, not purged");
        assert_eq!(d.tags()["aideploy-app"], "fastapi-rag");
        assert_eq!(d.values.get(&secret_id).map(String::as_str), Some(SECRET), "its secret is kept with it");
    }

    // Nothing else left: a plain destroy keeps it, and says so (in the human output too).
    let out = p.cmd().args(["destroy", "--target", "appservice", "--yes"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("Nothing to destroy"), "{stdout}");
    assert!(stdout.contains(&format!("Kept: Key Vault {name} is deleted but soft-deleted")), "{stdout}");
    assert_eq!(p.st().deleted_vaults.len(), 1);

    // A redeploy recovers it (createMode recover), secret and all, instead of failing.
    let plan = p.run(&["plan"]).1;
    assert_eq!(vault_row(&plan)["reason"], "recovered from soft delete, with its secrets", "{plan}");
    let v = deploy();
    assert_eq!(vault_row(&v)["op"], "create", "{v}");
    {
        let st = p.st();
        assert!(st.deleted_vaults.is_empty(), "not recovered");
        assert_eq!(id(one(&st, "Microsoft.KeyVault/vaults")), vault_id);
        assert_eq!(st.secret_values.get(&secret_id).map(String::as_str), Some(SECRET));
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }
    let (code, v, _) = p.run(&["deploy"]);
    assert_eq!((code, &v["changed"]), (0, &Value::Bool(false)), "{v}");

    // Destroy, then `destroy --purge`: the leftover soft-deleted vault is purged.
    assert_eq!(p.run(&["destroy"]).0, 0);
    assert_eq!(p.st().deleted_vaults.len(), 1);
    let (code, v, stderr) = p.run(&["destroy", "--purge"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(vault_row(&v)["id"], format!("{name} (soft-deleted)"));
    assert_eq!(vault_row(&v)["reason"], "purged: irreversible");
    assert!(v.get("leaves").is_none(), "{v}");
    assert!(p.st().deleted_vaults.is_empty(), "the leftover vault was not purged");

    // From a deployed app, `destroy --purge --yes`: nothing left, not even soft-deleted.
    deploy();
    let (code, v, stderr) = p.run(&["destroy", "--purge"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(vault_row(&v)["id"], format!("{name} (and purged: irreversible)"));
    let st = p.st();
    assert!(st.tagged("fastapi-rag").is_empty(), "{:?}", st.tagged("fastapi-rag"));
    assert!(st.deleted_vaults.is_empty());
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

#[test]
fn appservice_subscription_comes_from_the_cli_profile_or_is_named_in_the_error() {
    let p = Project::new("");
    let manifest = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(&format!("subscription = \"{}\"\n", fake::SUB), "");
    std::fs::write(&manifest, text).unwrap();
    let out = p.cmd().args(["plan", "--target", "appservice"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("subscription") && stderr.contains("AZURE_SUBSCRIPTION_ID"), "{stderr}");

    // The Azure CLI's default subscription (its profile starts with a BOM).
    let azure = p.home.path().join(".azure");
    std::fs::create_dir_all(&azure).unwrap();
    let profile = format!(
        "\u{feff}{{\"subscriptions\": [{{\"id\": \"other\", \"isDefault\": false}}, {{\"id\": \"{}\", \"isDefault\": true}}]}}",
        fake::SUB
    );
    std::fs::write(azure.join("azureProfile.json"), profile).unwrap();
    let out = p.cmd().args(["plan", "--target", "appservice", "--json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["actions"].as_array().unwrap().iter().any(|a| a["resource"] == "web-app" && a["op"] == "create"), "{v}");
    assert!(v["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("230 s")), "{v}");
    assert_eq!(p.st().mutations, 0);
}

/// `AIDEPLOY_REGISTRY` names where the image goes: no registry is made, the site pulls
/// from there (no registry identity, no AcrPull).
#[test]
fn appservice_with_a_registry_override() {
    let p = Project::new("");
    let repo = format!("{}/elsewhere/rag", env("AIDEPLOY_TEST_REGISTRY"));
    let out = p.cmd().env("AIDEPLOY_REGISTRY", &repo).args(["deploy", "--target", "appservice", "--json", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = v["artifact"]["digest"].as_str().unwrap();
    let st = p.st();
    assert!(st.by_type("Microsoft.ContainerRegistry/registries").is_empty());
    let site = id(one(&st, "Microsoft.Web/sites"));
    let config = st.site_config(&site);
    assert_eq!(config["linuxFxVersion"], format!("DOCKER|{repo}@{digest}"));
    assert_eq!(config["acrUseManagedIdentityCreds"], false);
    let roles = st.by_type("Microsoft.Authorization/roleAssignments");
    assert_eq!(roles.len(), 1, "only Key Vault Secrets User: {roles:?}");
    assert!(roles[0]["properties"]["roleDefinitionId"].as_str().unwrap().ends_with("4633458b-17de-408a-b874-0445c86b69e6"));
}

/// `plan` and the plan phase change nothing: no ARM write, no registry upload; the push
/// is an apply step shown with its size.
#[test]
fn appservice_plan_is_read_only() {
    let p = Project::new("");
    let registry = env("AIDEPLOY_TEST_REGISTRY");
    let unique: String =
        p.home.path().file_name().unwrap().to_string_lossy().chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
    let repo = format!("{registry}/plan{unique}/rag");
    let (host, path) = repo.split_once('/').unwrap();
    let tags = || common::http("GET", &format!("http://{host}/v2/{path}/tags/list"), None).unwrap();
    let plan = || {
        let out = p.cmd().env("AIDEPLOY_REGISTRY", &repo).args(["plan", "--target", "appservice", "--json"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let push = v["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "push image").cloned();
        (v, push)
    };

    // From nothing: every row a create, the push with its size; nothing made anywhere.
    let (v, push) = plan();
    let push = push.unwrap_or_else(|| panic!("no push row: {v}"));
    assert_eq!(push["op"], "create");
    assert!(push["id"].as_str().unwrap().starts_with(&format!("{repo}@sha256:")), "{push}");
    assert!(push["reason"].as_str().unwrap().ends_with("to upload"), "{push}");
    {
        let st = p.st();
        assert_eq!(st.mutations, 0);
        assert!(st.groups.is_empty() && st.resources.is_empty(), "{:?}", st.groups);
    }
    assert_eq!(tags().0, 404, "plan pushed to the registry: {:?}", tags());

    // Deployed, then the code changes: the plan shows a push and changes nothing.
    let out = p.cmd().env("AIDEPLOY_REGISTRY", &repo).args(["deploy", "--target", "appservice", "--json", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let deployed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(deployed["artifact"]["uploaded_bytes"].as_u64().unwrap() > 0, "{deployed}");
    let (writes, listed) = (p.st().mutations, tags());
    assert_eq!(listed.0, 200);
    let (v, push) = plan();
    assert!(push.is_none(), "nothing to push when the site runs the image: {v}");
    assert!(v["actions"].as_array().unwrap().iter().any(|a| a["resource"] == "image" && a["op"] == "noop"), "{v}");
    p.edit("Secrets", "Secret plans");
    let (v, push) = plan();
    assert_eq!(push.map(|p| p["op"].clone()), Some("create".into()), "{v}");
    assert_eq!(p.st().mutations, writes, "plan wrote to ARM");
    assert_eq!(tags(), listed, "plan pushed to the registry");
}

/// Same-named resources without aideploy's tags are refused before anything changes,
/// and destroy leaves them.
#[test]
fn appservice_refuses_what_is_not_its_own() {
    // A hand-made web app with the site's name, in the group the target names.
    let p = Project::new("resource_group = \"shared-rg\"\n");
    p.st().add_group("shared-rg", "northeurope");
    let h = hex::encode(sha2::Sha256::digest(format!("{}/shared-rg", fake::SUB).as_bytes()));
    let site = format!("fastapi-rag-dev-{}", &h[..6]);
    let site_id = p.st().add_site("shared-rg", &site);
    let before = p.st().resources.clone();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert!(code == 1 || code == 2, "{code} {v}\n{stderr}");
    assert!(stderr.contains(&format!("web-app {site}")) && stderr.contains("without aideploy's tags"), "{stderr}");
    assert!(stderr.contains("rename the app or stage"), "the fix is named: {stderr}");
    {
        let st = p.st();
        assert_eq!(st.mutations, 0, "something was changed before the refusal");
        assert_eq!(st.resources, before, "the hand-made site was changed");
    }
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = p.st();
    assert_eq!(st.resources.get(&site_id.to_ascii_lowercase()), before.get(&site_id.to_ascii_lowercase()), "destroy touched their site");
    assert!(st.groups.contains_key("shared-rg"));
    drop(st);

    // A hand-made group with the default name.
    let p = Project::new("");
    p.st().add_group("aideploy-fastapi-rag-dev", "westeurope");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert!(code == 1 || code == 2, "{code} {v}\n{stderr}");
    assert!(stderr.contains("resource group aideploy-fastapi-rag-dev exists without aideploy's tags"), "{stderr}");
    assert_eq!(p.st().mutations, 0);
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = p.st();
    assert!(st.groups.contains_key("aideploy-fastapi-rag-dev"), "destroy deleted a group aideploy did not make");
    assert!(st.groups["aideploy-fastapi-rag-dev"]["tags"].as_object().unwrap().is_empty(), "its tags were changed");
    assert_eq!(st.mutations, 0);
}

/// The deploy lease: ARM has no conditional write, so it is a settled register, the
/// tags of a resource group of its own. A run that finds it held gives up after
/// `--lock-timeout` with exit 1, naming the holder and changing nothing; an expired one
/// is taken over (and said so); destroy deletes the lease group last.
#[test]
fn appservice_lease_waits_for_the_holder_and_takes_over_a_stale_one() {
    let p = Project::new("");
    let lease = "aideploy-lease-fastapi-rag-dev-appservice";
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let record = |expires: u64| {
        serde_json::json!({"id": "other-run", "holder": "ci@elsewhere", "host": "elsewhere", "pid": 4242, "command": "deploy", "since": now, "expires": expires})
            .to_string()
    };
    let group = |expires: u64| {
        serde_json::json!({"id": format!("/subscriptions/{}/resourceGroups/{lease}", fake::SUB), "name": lease, "location": "westeurope",
            "tags": {"aideploy-app": "fastapi-rag", "aideploy-stage": "dev", "aideploy-target": "appservice", "aideploy-lease": "true", "aideploy-lease-0": record(expires)},
            "properties": {"provisioningState": "Succeeded"}})
    };
    p.st().groups.insert(lease.into(), group(now + 600));

    let (code, v, stderr) = p.run(&["deploy", "--lock-timeout", "1s"]);
    assert_eq!(code, 1, "{v}\n{stderr}");
    assert!(stderr.contains("another run holds the lease") && stderr.contains("deploy by ci@elsewhere (pid 4242)"), "{stderr}");
    assert!(stderr.contains(&format!("resource group {lease}")), "{stderr}");
    assert_eq!(p.st().mutations, 0, "the run that did not get the lease changed something");

    // Expired: taken over, said so; the deploy goes on and gives the lease back.
    p.st().groups.insert(lease.into(), group(now - 1));
    let (code, v, stderr) = p.run(&["deploy", "--lock-timeout", "1s"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(stderr.contains("took over a stale lease") && stderr.contains("ci@elsewhere"), "{stderr}");
    {
        let st = p.st();
        assert!(st.groups.contains_key("aideploy-fastapi-rag-dev"));
        let tags = &st.groups[lease]["tags"];
        let text: String = (0..).map_while(|i| tags[format!("aideploy-lease-{i}")].as_str()).collect();
        let rec: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {tags}"));
        assert_eq!(rec["released"], true, "{rec}");
        assert_ne!(rec["id"], "other-run");
        assert!(tags.as_object().unwrap().values().all(|v| v.as_str().unwrap().chars().count() <= 256), "{tags}");
    }

    // Destroy removes everything, the lease group last.
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = p.st();
    assert!(!st.groups.contains_key(lease), "{:?}", st.groups.keys());
    assert!(st.tagged("fastapi-rag").is_empty(), "{:?}", st.tagged("fastapi-rag"));
}

/// A group of the lease's name that is not aideploy's lease is refused, named, and left
/// as it is.
#[test]
fn appservice_lease_refuses_a_group_that_is_not_its_own() {
    let p = Project::new("");
    let lease = "aideploy-lease-fastapi-rag-dev-appservice";
    p.st().add_group(lease, "westeurope");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 1, "{v}\n{stderr}");
    assert!(stderr.contains(&format!("resource group {lease} exists and is not aideploy's deploy lease")), "{stderr}");
    let st = p.st();
    assert_eq!(st.mutations, 0);
    assert!(st.groups[lease]["tags"].as_object().unwrap().is_empty(), "its tags were changed");
}

/// The rules a site's configuration holds besides ARM's implicit last one, as
/// (address, action), and its default action.
fn access_of(st: &fake::State, site: &str) -> (Vec<(String, String)>, String) {
    let config = st.site_config(site);
    let rules = config["ipSecurityRestrictions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["priority"] != 2147483647)
        .map(|r| (r["ipAddress"].as_str().unwrap().to_string(), r["action"].as_str().unwrap().to_string()))
        .collect();
    (rules, config["ipSecurityRestrictionsDefaultAction"].as_str().unwrap().to_string())
}

fn access_row(v: &Value) -> (String, String) {
    let a = v["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "access").unwrap_or_else(|| panic!("no access row: {v}"));
    (a["op"].as_str().unwrap().to_string(), a["reason"].as_str().unwrap_or("").to_string())
}

/// Private unless `public = true`: by default the site denies every address (the fake's
/// front end answers this machine 403, so the health gate says why it skips);
/// `allow_cidrs` lets only those networks in (this machine's loopback here, so the gate
/// passes); `public = true` opens it; each switch is an update of its own and converges.
#[test]
fn appservice_is_private_unless_public() {
    let p = Project::new("");
    let manifest = p.dir.join("aideploy.toml");
    let base = std::fs::read_to_string(&manifest).unwrap();
    let set = |extra: &str| std::fs::write(&manifest, format!("{base}{extra}")).unwrap();

    // Default: private. Deny, no allow rule; the health check cannot get in: skipped.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(access_row(&v), ("create".into(), "private".into()));
    assert_eq!(v["health"], "skipped", "{v}");
    assert!(stderr.contains("the site is private") && stderr.contains("private endpoint"), "the plan says so: {stderr}");
    assert!(stderr.contains("health: skipped (private") && stderr.contains("allow_cidrs"), "{stderr}");
    let site = id(one(&p.st(), "Microsoft.Web/sites"));
    assert_eq!(access_of(&p.st(), &site), (vec![], "Deny".into()));
    assert!(p.st().rejected.is_empty(), "{:?}", p.st().rejected);
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!((v["health"].as_str(), v["details"]["access"].as_str()), (Some("skipped"), Some("private")), "{v}");
    assert!(v["details"]["health_skipped"].as_str().unwrap().contains("403"), "{v}");

    // allow_cidrs: only that network (this machine's, here): the gate gets in.
    set("allow_cidrs = [\"127.0.0.0/8\"]\n");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(access_row(&v), ("update".into(), "private -> allowed: 127.0.0.0/8".into()));
    assert_eq!(v["health"], "passed", "{v}\n{stderr}");
    assert_eq!(access_of(&p.st(), &site), (vec![("127.0.0.0/8".into(), "Allow".into())], "Deny".into()));

    // Another network only: this machine is kept out, and the gate says so.
    set("allow_cidrs = [\"203.0.113.0/24\"]\npublic = true\n");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(access_row(&v).1, "allowed: 127.0.0.0/8 -> allowed: 203.0.113.0/24");
    assert_eq!(v["health"], "skipped", "{v}");
    assert!(stderr.contains("403 Forbidden") && stderr.contains("allowed: 203.0.113.0/24"), "{stderr}");
    assert_eq!(access_of(&p.st(), &site), (vec![("203.0.113.0/24".into(), "Allow".into())], "Deny".into()));

    // public = true: no restriction; the gate passes; status says public.
    set("public = true\n");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(access_row(&v), ("update".into(), "allowed: 203.0.113.0/24 -> public".into()));
    assert_eq!(v["health"], "passed", "{v}");
    assert_eq!(access_of(&p.st(), &site), (vec![], "Allow".into()));
    let (_, v, _) = p.run(&["status"]);
    assert_eq!((v["health"].as_str(), v["details"]["access"].as_str()), (Some("passed"), Some("public")), "{v}");
    // Unchanged: nothing written.
    let before = p.st().mutations;
    let (code, v, _) = p.run(&["deploy"]);
    assert_eq!((code, v["changed"].as_bool()), (0, Some(false)), "{v}");
    assert_eq!(p.st().mutations, before);

    // Back to private.
    set("");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(access_row(&v), ("update".into(), "public -> private".into()));
    assert_eq!(access_of(&p.st(), &site), (vec![], "Deny".into()));
    assert!(p.st().rejected.is_empty(), "{:?}", p.st().rejected);
}

/// A time `ago` before now as the Docker log writes it (nanoseconds, UTC).
fn log_time(ago: &str) -> String {
    let out = std::process::Command::new("date").args(["-u", "-d", ago, "+%Y-%m-%dT%H:%M:%S.123456789Z"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `logs` reads the site's Docker log through ARM's containerlogs: the last lines of the
/// past hour (an untimed line stays with the one before it), `--since`, `--json`, secret
/// values masked, and `-f` printing only what is new.
#[test]
fn appservice_logs_come_from_the_container_log() {
    let p = Project::new("");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let site = id(one(&p.st(), "Microsoft.Web/sites")).to_ascii_lowercase();
    let log = format!(
        "{} INFO  - Pulling image\n{} INFO:     Started server process\n{} ERROR: key {SECRET} refused\nTraceback (most recent call last):\n{} INFO:     GET /health 200\n",
        log_time("2 hours ago"),
        log_time("3 minutes ago"),
        log_time("2 minutes ago"),
        log_time("1 minute ago"),
    );
    p.st().container_logs.insert(site.clone(), log.clone());
    let logs = |args: &[&str]| {
        let out = p.cmd().args(["logs", "--target", "appservice"]).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(!stdout.contains(SECRET), "a secret value was printed: {stdout}");
        stdout
    };
    let shown = logs(&["-n", "3"]);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    assert!(lines[0].contains("ERROR: key ") && lines[0].ends_with(" refused"), "{shown}");
    assert_eq!(lines[1], "Traceback (most recent call last):");
    assert!(lines[2].ends_with("Z  INFO:     GET /health 200") && lines[2].as_bytes()[10] == b'T', "{shown}");
    assert!(!logs(&[]).contains("Pulling image"), "a line older than an hour was shown");
    assert!(logs(&["--since", "3h"]).lines().next().unwrap_or_default().ends_with("INFO  - Pulling image"));
    let json: Vec<Value> = logs(&["--json", "-n", "1"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["message"], "INFO:     GET /health 200");
    assert!(json[0]["timestamp"].as_str().is_some_and(|t| t.len() == 20 && t.ends_with('Z')), "{json:?}");

    // -f: only what is written after it started.
    let mut follow = common::aideploy_process(p.home.path());
    follow
        .env("AIDEPLOY_AZURE_ENDPOINT", &p.fake.base)
        .env("OPENAI_API_KEY", SECRET)
        .env("AIDEPLOY_POLL_INTERVAL_MS", "100")
        .current_dir(&p.dir)
        .args(["logs", "--target", "appservice", "-f", "-n", "1"]);
    let (mut child, rx) = common::spawn_lines(follow);
    let first = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the last line first");
    assert!(first.ends_with("GET /health 200"), "{first}");
    let more = format!("{log}{} INFO:     GET /query 200\n", log_time("now"));
    p.st().container_logs.insert(site, more);
    let next = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the new line while following");
    assert!(next.ends_with("GET /query 200"), "{next}");
    let _ = child.kill();
    let _ = child.wait();
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
}

const SECRET_2: &str = "sk-azure-rotated-secret-value";

impl Project {
    /// A run with no local value for the secret (made required in the manifest), with
    /// `stdin` piped in, the vault's data plane at the fake: exit code, stdout, stderr.
    fn bare(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let path = self.dir.join("aideploy.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("OPENAI_API_KEY = { optional = true }", "OPENAI_API_KEY = {}")).unwrap();
        let out = self
            .cmd()
            .env_remove("OPENAI_API_KEY")
            .env("AIDEPLOY_AZURE_VAULT_URL_TEMPLATE", format!("{}/vaults/{{host}}", self.fake.base))
            .args(args)
            .args(["--target", "appservice"])
            .write_stdin(stdin)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code().unwrap(), stdout, stderr)
    }

    /// The app's secret in the fake: its ARM resource and value.
    fn stored(&self) -> Option<(Value, String)> {
        let st = self.st();
        let (key, r) = st.resources.iter().find(|(k, _)| k.ends_with("/secrets/openai-api-key"))?;
        Some((r.clone(), st.secret_values[key].clone()))
    }
}

/// `aideploy secrets` on Key Vault: the first `set` makes the group and vault a deploy
/// would (tagged, so destroy removes them); set (created, unchanged, updated: a new
/// version only for a new value), list (versions, no values), get (only with --reveal
/// off a terminal, read from the vault's data plane), a deploy with no local value that
/// references the stored version, rm (soft delete; a later set recovers the name), a
/// deploy with the value nowhere refused before any change, destroy.
#[test]
fn appservice_secrets_set_list_get_rm() {
    let p = Project::new("public = true\n");
    let set = |value: &str| {
        let (code, out, err) = p.bare(&["secrets", "set", "OPENAI_API_KEY", "--stdin", "--json"], &format!("{value}\n"));
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(!out.contains(value) && !err.contains(value), "{out}\n{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let first = set(SECRET);
    assert_eq!(first["op"], "created", "{first}");
    {
        let st = p.st();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let group = &st.groups["aideploy-fastapi-rag-dev"];
        tagged_ok(group);
        assert_eq!(group["tags"]["aideploy-created-group"], "true");
        let vault = one(&st, "Microsoft.KeyVault/vaults");
        tagged_ok(vault);
        assert_eq!(vault["properties"]["enableRbacAuthorization"], true);
    }
    let (r, value) = p.stored().expect("secret written");
    tagged_ok(&r);
    assert_eq!(value, SECRET);
    let v1 = r["properties"]["secretUriWithVersion"].as_str().unwrap().to_string();
    assert!(v1.ends_with(first["version"].as_str().unwrap()), "{v1} {first}");
    assert_eq!(set(SECRET)["op"], "unchanged");
    assert_eq!(p.stored().unwrap().0["properties"]["secretUriWithVersion"], v1.as_str(), "no new version for the same value");
    let updated = set(SECRET_2);
    assert_eq!(updated["op"], "updated");
    let (r, value) = p.stored().unwrap();
    let v2 = r["properties"]["secretUriWithVersion"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);
    assert_eq!(value, SECRET_2);

    let (code, out, err) = p.bare(&["secrets", "list", "--json"], "");
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(SECRET) && !out.contains(SECRET_2), "{out}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let rows = listed["secrets"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(rows[0]["name"], "OPENAI_API_KEY");
    assert_eq!(rows[0]["stored"], true);
    assert!(v2.ends_with(rows[0]["version"].as_str().unwrap()), "{listed}");
    assert!(rows[0]["last_changed"].as_str().is_some_and(|t| t.ends_with('Z')), "{listed}");

    let (code, out, err) = p.bare(&["secrets", "get", "OPENAI_API_KEY"], "");
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("--reveal") && !out.contains(SECRET_2), "{err}");
    let (code, out, err) = p.bare(&["secrets", "get", "OPENAI_API_KEY", "--reveal", "--json"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["value"], SECRET_2);

    // A deploy with no local value references the stored version; plan first writes nothing.
    let before = p.st().mutations;
    let (code, out, err) = p.bare(&["plan", "--json"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(p.st().mutations, before, "plan wrote something");
    let (code, out, err) = p.bare(&["deploy", "--yes", "--json"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains(SECRET_2) && !err.contains(SECRET_2));
    {
        let st = p.st();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let site = one(&st, "Microsoft.Web/sites");
        let settings = st.site_settings(&id(site));
        assert_eq!(settings["OPENAI_API_KEY"], format!("@Microsoft.KeyVault(SecretUri={v2})"));
        let roles = st.by_type("Microsoft.Authorization/roleAssignments");
        assert!(roles
            .iter()
            .any(|r| r["properties"]["roleDefinitionId"].as_str().unwrap().ends_with("4633458b-17de-408a-b874-0445c86b69e6")));
    }
    assert_eq!(p.stored().unwrap().0["properties"]["secretUriWithVersion"], v2.as_str(), "the deploy wrote no version");

    // rm: soft-deleted in the vault; list says not stored; a later set recovers the name.
    let (code, _, err) = p.bare(&["secrets", "rm", "OPENAI_API_KEY"], "");
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = p.bare(&["secrets", "rm", "OPENAI_API_KEY", "--yes"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("soft-deleted"), "{out}");
    assert!(p.stored().is_none());
    assert_eq!(p.st().deleted_secrets.len(), 1);
    let (_, out, _) = p.bare(&["secrets", "list", "--json"], "");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["secrets"][0]["stored"], false, "{out}");

    // Neither here nor stored: exit 2 naming both ways, before any change.
    let before = p.st().mutations;
    let (code, out, err) = p.bare(&["deploy", "--yes"], "");
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("$OPENAI_API_KEY") && err.contains("aideploy secrets set OPENAI_API_KEY --target appservice"), "{err}");
    assert_eq!(p.st().mutations, before, "the refused deploy changed something");

    // Not stored as far as `list` goes: created again (the soft-deleted name recovered,
    // then given the new value).
    assert_eq!(set(SECRET)["op"], "created");
    assert_eq!(p.stored().unwrap().1, SECRET);
    assert!(p.st().deleted_secrets.is_empty());

    // Destroy removes what `set` made with the rest: the vault (soft-deleted), the group.
    let (code, out, err) = p.bare(&["destroy", "--yes", "--json"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    let st = p.st();
    assert!(st.by_type("Microsoft.KeyVault/vaults").is_empty());
    assert!(!st.groups.contains_key("aideploy-fastapi-rag-dev"));
    assert!(st.resources.keys().all(|k| !k.contains("/secrets/")), "{:?}", st.resources.keys());
}

/// A secret in the app's vault that aideploy did not write is refused by `secrets set`
/// and `get`, named, and left as it is.
#[test]
fn appservice_secrets_refuse_someone_elses_secret() {
    let p = Project::new("");
    let (code, _, err) = p.bare(&["secrets", "set", "OPENAI_API_KEY", "--stdin"], SECRET);
    assert_eq!(code, 0, "{err}");
    // Someone rewrites it in the vault (the portal, az) without aideploy's tags.
    {
        let mut st = p.st();
        let key = st.resources.keys().find(|k| k.ends_with("/secrets/openai-api-key")).unwrap().clone();
        st.resources.get_mut(&key).unwrap()["tags"] = serde_json::json!({"owner": "data-team"});
        st.secret_values.insert(key, "theirs".into());
    }
    for args in [&["secrets", "set", "OPENAI_API_KEY", "--stdin"][..], &["secrets", "get", "OPENAI_API_KEY", "--reveal"]] {
        let (code, out, err) = p.bare(args, SECRET_2);
        assert_ne!(code, 0, "{args:?}: {out}\n{err}");
        assert!(err.contains("OPENAI-API-KEY") && err.contains("without aideploy's tags"), "{err}");
        assert!(!out.contains("theirs"), "{out}");
    }
    assert_eq!(p.stored().unwrap().1, "theirs");
}

/// `status --metrics`: Azure Monitor's `Requests` and `Http5xx` totals and
/// `HttpResponseTime` average of the site over the last hour, from per-minute samples the
/// test puts into the fake; samples older than the hour are not counted. Azure keeps no
/// percentiles of the response time: the average is shown, labelled, and p50/p95 are
/// null. Without the Monitoring Reader role the status still shows, with the reason.
#[test]
fn appservice_status_metrics_come_from_azure_monitor() {
    let p = Project::new("public = true\n");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    {
        let mut st = p.st();
        let site = id(one(&st, "Microsoft.Web/sites"));
        let m = &mut st.metrics;
        m.add(&site, "Requests", now - 30 * 60, &[120.0]);
        m.add(&site, "Requests", now - 10 * 60, &[80.0]);
        m.add(&site, "Http5xx", now - 10 * 60, &[4.0]);
        // Four requests' response times in seconds: 0.1 + 0.2 + 0.3 + 0.4 = 1.0, average 0.25.
        m.add(&site, "HttpResponseTime", now - 30 * 60, &[0.1, 0.2, 0.3]);
        m.add(&site, "HttpResponseTime", now - 10 * 60, &[0.4]);
        m.add(&site, "Requests", now - 2 * 3600, &[999.0]);
        m.add(&site, "HttpResponseTime", now - 2 * 3600, &[30.0]);
    }
    let (code, v, stderr) = p.run(&["status", "--metrics"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let m = &v["metrics"];
    assert_eq!((m["requests"].as_u64(), m["errors"].as_u64()), (Some(200), Some(4)), "{m}");
    assert_eq!(m["error_rate"], 0.02, "{m}");
    assert!((m["avg_ms"].as_f64().unwrap() - 250.0).abs() < 1e-6, "{m}");
    assert!(m["p50_ms"].is_null() && m["p95_ms"].is_null(), "Azure Monitor has no percentiles: {m}");
    assert!(m["note"].as_str().unwrap().contains("average"), "{m}");
    assert!(m["source"].as_str().unwrap().starts_with("Azure Monitor Microsoft.Web/sites"), "{m}");
    assert_eq!(p.st().metrics.calls, 1);
    assert!(p.st().rejected.is_empty(), "{:?}", p.st().rejected);

    // Every target, for people: a second table with the numbers (the example's other
    // targets left out, so that nothing reaches a real cloud).
    let path = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (start, end) = (text.find("[targets.local]").unwrap(), text.find("[targets.appservice]").unwrap());
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let out = p.cmd().args(["status", "--metrics"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let header = text.lines().find(|l| l.starts_with("TARGET") && l.contains("REQUESTS")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(header.split_whitespace().collect::<Vec<_>>(), ["TARGET", "REQUESTS", "ERRORS", "P50", "P95", "SOURCE"]);
    let row = text.lines().find(|l| l.starts_with("appservice ") && l.contains("Azure Monitor")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(row.split_whitespace().take(6).collect::<Vec<_>>(), ["appservice", "200", "2.00%", "250", "ms", "avg"], "{text}");

    // No permission: the status shows, the metrics say why.
    p.st().metrics.denied = true;
    let (code, v, stderr) = p.run(&["status", "--metrics"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["deployed"], true);
    let why = v["metrics"]["error"].as_str().unwrap_or_default();
    assert!(why.contains("403 AuthorizationFailed") && why.contains("Monitoring Reader"), "{v}");
    p.st().metrics.denied = false;

    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
}
