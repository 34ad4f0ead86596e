//! The railway target's deploy lease: a shared variable of the stage's environment,
//! `AIDEPLOY_LEASE_{APP}_{STAGE}_{TARGET}` (upper case, `_` for anything else), holding
//! the lease record.
//!
//! Why a shared variable: the lease must exist before the service does (a first deploy
//! creates the service, and two first deploys must not both create one), and it must
//! never become one of the app's variables. Railway injects a service's own variables
//! into it, never the environment's shared ones unless a service references them
//! (`${{shared.NAME}}`), which aideploy never writes; the service's deploys never rewrite
//! them either. Railway's API has no write with a precondition, so the variable is a
//! plain register under the engine's settled lease (`engine::settled`).
//!
//! The environment (and the project) must exist to hold it: when they do not, the first
//! claim creates them as a deploy would (the project with aideploy's marker in its
//! description, the environment marked `AIDEPLOY_ENVIRONMENT`), so `destroy` removes them.
//! Railway does not keep project names unique: when two first runs both create the
//! project, the oldest (by `createdAt`, then id) is the register's for everyone, and each
//! run deletes the newer one it created itself once its claim has settled. Destroy
//! deletes the variable last (or the project or environment goes with it).

use anyhow::Result;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::api::{field, Api, Connection, GraphqlError, TokenKind};
use super::ops::*;
use super::{looks_like_id, marker, project_name, workspace, ENV_MARKER};
use crate::engine::lease::{LeaseRecord, StageRecord};
use crate::engine::settled::{Register, Settled};
use crate::engine::Cx;

pub struct SharedVarRegister {
    api: Api,
    /// The project's name (the target's `project`, else the app's).
    project: String,
    /// Only projects whose description carries it count (the target names no project).
    require_marker: Option<String>,
    /// The description of a project the lease creates.
    description: String,
    /// The marker of an environment the lease creates.
    env_marker: String,
    workspace: Option<String>,
    stage: String,
    /// The variable's name.
    key: String,
    /// Projects this run created (a concurrent first run may have created the register's).
    created: Mutex<Vec<String>>,
}

/// The variable holding the lease of `cx`'s app, stage and target.
pub fn key(cx: &Cx) -> String {
    let raw = format!("{}_{}", cx.resource_base(), cx.target.name);
    let clean: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("AIDEPLOY_LEASE_{clean}")
}

/// What a project aideploy creates says of itself (apply's `create project` too).
pub fn project_description(cx: &Cx) -> String {
    format!("Created by aideploy for the app {}; `aideploy destroy` deletes it with its last service. {}", cx.app_name(), marker(cx))
}

/// The lease of `cx`'s app, stage and target.
pub fn store(cx: &Cx, api: Api) -> Settled<SharedVarRegister> {
    Settled::new(SharedVarRegister {
        api,
        project: project_name(cx),
        require_marker: cx.target.settings.project.is_none().then(|| marker(cx)),
        description: project_description(cx),
        env_marker: format!("created by aideploy; {}", marker(cx)),
        workspace: workspace(cx),
        stage: cx.stage.to_string(),
        key: key(cx),
        created: Mutex::new(Vec::new()),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectMeta {
    id: String,
    #[serde(default)]
    name: String,
    description: Option<String>,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    environments: Connection<IdName>,
}

#[derive(Debug, Deserialize)]
struct IdName {
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectToken {
    project_id: String,
}

/// (project id, the stage's environment id when it exists)
type Place = (String, Option<String>);

impl SharedVarRegister {
    fn env_of(&self, p: ProjectMeta) -> Place {
        let env = p.environments.nodes().into_iter().find(|e| e.name == self.stage).map(|e| e.id);
        (p.id, env)
    }

    /// The project (and environment) the register lives in, when it exists.
    async fn place(&self) -> Result<Option<Place>> {
        Ok(self.project().await?.map(|p| self.env_of(p)))
    }

    /// The project the register lives in, with its environments, when it exists: the
    /// token's project, the one the target names by id, else the oldest of the name
    /// (aideploy's).
    async fn project(&self) -> Result<Option<ProjectMeta>> {
        let id = if self.api.kind == TokenKind::Project {
            Some(field::<ProjectToken>(self.api.run(Q_PROJECT_TOKEN, json!({})).await?, "projectToken")?.project_id)
        } else {
            Some(self.project.clone()).filter(|p| looks_like_id(p))
        };
        if let Some(id) = id {
            let Some(data) = self.api.lookup(Q_PROJECT, json!({"id": id})).await? else { return Ok(None) };
            return Ok(Some(field(data, "project")?));
        }
        let list: Connection<ProjectMeta> =
            field(self.api.run(Q_LEASE_PROJECTS, json!({"workspaceId": self.workspace})).await?, "projects")?;
        let mut found: Vec<ProjectMeta> = list
            .nodes()
            .into_iter()
            .filter(|p| p.name == self.project)
            .filter(|p| self.require_marker.as_ref().is_none_or(|m| p.description.as_deref().is_some_and(|d| d.contains(m.as_str()))))
            .collect();
        found.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(found.into_iter().next())
    }

    async fn shared(&self, project: &str, env: &str) -> Result<Value> {
        Ok(self.api.run(Q_VARIABLES, json!({"projectId": project, "environmentId": env, "serviceId": null})).await?["variables"].take())
    }

    async fn upsert(&self, project: &str, env: &str, key: &str, value: &str) -> Result<()> {
        let input = json!({"projectId": project, "environmentId": env, "variables": {key: value}, "skipDeploys": true});
        self.api.run(M_VARIABLES, json!({"input": input})).await?;
        Ok(())
    }

    /// Creates the project (with the stage's environment) the way a deploy does.
    async fn create_project(&self) -> Result<Place> {
        let mut input = json!({"name": self.project, "description": self.description, "defaultEnvironmentName": self.stage});
        if let Some(w) = &self.workspace {
            input["workspaceId"] = json!(w);
        }
        let made: ProjectMeta = field(self.api.run(M_PROJECT_CREATE, json!({"input": input})).await?, "projectCreate")?;
        self.created.lock().await.push(made.id.clone());
        let (project, env) = self.env_of(made);
        let Some(env) = env else {
            anyhow::bail!("Railway created project {} ({project}) without the environment `{}`", self.project, self.stage)
        };
        self.upsert(&project, &env, ENV_MARKER, &self.env_marker).await?;
        Ok((project, Some(env)))
    }

    /// Creates the stage's environment in `project`, marked as aideploy's.
    async fn create_environment(&self, project: &str) -> Result<String> {
        if self.api.kind == TokenKind::Project {
            return Err(super::apply::no_environment(&self.project, &self.stage).into());
        }
        let made = self
            .api
            .run(M_ENVIRONMENT_CREATE, json!({"input": {"projectId": project, "name": self.stage, "skipInitialDeploys": true}}))
            .await;
        let id = match made {
            Ok(e) => e["environmentCreate"]["id"].as_str().unwrap_or_default().to_string(),
            // A concurrent first run created it just now.
            Err(e) if e.downcast_ref::<GraphqlError>().is_some_and(|g| g.messages.iter().any(|m| m.contains("already exists"))) => {
                match self.place().await? {
                    Some((_, Some(env))) => return Ok(env),
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        if id.is_empty() {
            anyhow::bail!("Railway created the environment `{}` but answered without its id; run again", self.stage);
        }
        self.upsert(project, &id, ENV_MARKER, &self.env_marker).await?;
        Ok(id)
    }
}

/// The stage an environment of the app's project holds the lease of: the environment's
/// name, when it is a stage name. The variable's name alone cannot tell app `a-b` stage
/// `c` from app `a` stage `b-c` (both `A_B_C`); the environment is the stage.
fn stage_of(env: &str) -> Option<crate::manifest::Stage> {
    env.parse().ok()
}

/// Every stage of `cx`'s app and target with a lease variable, with its record: each
/// environment of the app's project (found as the lease finds it) whose shared variables
/// hold the lease variable of that stage. Reads only; no project, no stages.
pub async fn stages(cx: &Cx, api: Api) -> Result<Vec<StageRecord>> {
    let register = store(cx, api).register;
    let Some(project) = register.project().await? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for env in project.environments.nodes() {
        let Some(stage) = stage_of(&env.name) else { continue };
        let mut other = cx.clone();
        other.stage = stage;
        let Some(text) = register.shared(&project.id, &env.id).await?[key(&other)].as_str().map(str::to_string) else { continue };
        let record = serde_json::from_str(&text).unwrap_or_else(|_| LeaseRecord::unreadable());
        out.push(StageRecord { stage: other.stage.to_string(), record });
    }
    out.sort_by(|a, b| a.stage.cmp(&b.stage));
    Ok(out)
}

#[async_trait]
impl Register for SharedVarRegister {
    fn location(&self) -> String {
        format!("Railway shared variable {} of project {}, environment {}", self.key, self.project, self.stage)
    }

    async fn load(&self) -> Result<Option<String>> {
        let Some((project, Some(env))) = self.place().await? else { return Ok(None) };
        Ok(self.shared(&project, &env).await?[&self.key].as_str().map(str::to_string))
    }

    async fn store(&self, text: &str) -> Result<()> {
        let (project, env) = match self.place().await? {
            Some(place) => place,
            None => self.create_project().await?,
        };
        let env = match env {
            Some(env) => env,
            None => self.create_environment(&project).await?,
        };
        self.upsert(&project, &env, &self.key, text).await
    }

    async fn delete(&self) -> Result<()> {
        let Some((project, Some(env))) = self.place().await? else { return Ok(()) };
        let input = json!({"projectId": project, "environmentId": env, "name": self.key});
        match self.api.run(M_VARIABLE_DELETE, json!({"input": input})).await {
            Ok(_) => Ok(()),
            Err(e) if e.downcast_ref::<GraphqlError>().is_some_and(GraphqlError::is_not_found) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn tidy(&self) -> Result<()> {
        let mine = std::mem::take(&mut *self.created.lock().await);
        if mine.is_empty() {
            return Ok(());
        }
        let oldest = self.place().await?.map(|(p, _)| p);
        for id in mine.into_iter().filter(|id| Some(id) != oldest.as_ref()) {
            self.api.run(M_PROJECT_DELETE, json!({"id": id})).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(app: &str, stage: &str) -> Cx {
        let text = format!(
            "version = 1\n[app]\nname = \"{app}\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\n[targets.railway]\n"
        );
        let mut cx = crate::engine::testing::cx(&text, "railway", &[]);
        cx.stage = stage.parse().unwrap();
        cx
    }

    /// App `a-b` stage `c` and app `a` stage `b-c` have the same lease variable name: the
    /// listing takes the stage from the environment holding it (each app has its own
    /// project), never from the name. An environment whose name is no stage name (made
    /// by someone in Railway's dashboard) holds no lease of aideploy's.
    #[test]
    fn a_listed_lease_is_the_stage_of_its_environment() {
        assert_eq!(key(&cx("a-b", "c")), key(&cx("a", "b-c")));
        assert_eq!(key(&cx("a-b", "c")), "AIDEPLOY_LEASE_A_B_C_RAILWAY");
        assert_eq!(stage_of("b-c").map(|s| s.to_string()), Some("b-c".into()));
        assert_eq!(stage_of("production").map(|s| s.to_string()), Some("production".into()));
        assert!(stage_of("Production").is_none() && stage_of("pr 7").is_none() && stage_of("").is_none());
    }
}
