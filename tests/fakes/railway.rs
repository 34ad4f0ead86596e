//! A fake of Railway's public GraphQL API v2 (the part aideploy uses), written from
//! Railway's published schema: one POST endpoint taking `{"query","variables"}`.
//!
//! Every operation is parsed and validated against a subset of the schema written out
//! below (SCHEMA) before it runs, the way a GraphQL server does: an unknown field,
//! argument or input field, a missing required argument or input field, a variable of
//! the wrong type or an undeclared one is rejected with GraphQL's error shape
//! `{"errors":[{"message"}]}` and recorded in `rejected`. Lookups of things that do not
//! exist fail as Railway's do ("Project not found"). Deployments move
//! `INITIALIZING -> BUILDING -> DEPLOYING -> SUCCESS` over several polls; a deployment of
//! an image digest in `bad` ends `FAILED` with health-check logs, and the deployment that
//! was serving keeps serving. A deployment that succeeds moves the one before it to
//! `REMOVED`; a rollback to one of those (`canRollback`) restores its image and its
//! variables in a new deployment. `mutations` counts accepted mutations.
//! `deploymentLogs` answers the newest `limit` lines of a deployment within
//! `startDate`..`endDate`, oldest first; tests add lines with `add_log`. A variable written without `skipDeploys`, or deleted (which has
//! no such flag), redeploys its service, as on Railway. The HTTP metrics queries are in
//! railway_metrics.rs.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

use crate::common;

// ---------------------------------------------------------------- the schema subset

/// The types, fields, arguments and input fields aideploy's operations touch, as in
/// Railway's schema (types and nullability included). Anything not listed is unknown.
const SCHEMA: &str = r#"
scalar String
scalar Int
scalar Float
scalar Boolean
scalar ID
scalar JSON
scalar DateTime
scalar EnvironmentVariables
scalar DeploymentMeta
enum DeploymentStatus { BUILDING CRASHED DEPLOYING FAILED INITIALIZING NEEDS_APPROVAL QUEUED REMOVED REMOVING SKIPPED SLEEPING SUCCESS WAITING }
enum RestartPolicyType { ALWAYS NEVER ON_FAILURE }
type Query {
  project(id: String!): Project!
  projects(after: String, before: String, first: Int, includeDeleted: Boolean, last: Int, userId: String, workspaceId: String): QueryProjectsConnection!
  projectToken: ProjectToken!
  environment(id: String!, projectId: String): Environment!
  serviceInstance(environmentId: String!, serviceId: String!): ServiceInstance!
  variables(environmentId: String!, projectId: String!, serviceId: String, unrendered: Boolean): EnvironmentVariables!
  deployments(after: String, before: String, first: Int, input: DeploymentListInput!, last: Int): QueryDeploymentsConnection!
  deployment(id: String!): Deployment!
  deploymentLogs(deploymentId: String!, endDate: DateTime, filter: String, limit: Int, startDate: DateTime): [Log!]!
  domains(environmentId: String!, projectId: String!, serviceId: String!): AllDomains!
  httpMetricsGroupedByStatus(endDate: DateTime!, environmentId: String!, method: String, path: String, serviceId: String!, startDate: DateTime!, stepSeconds: Int): [HttpMetricsByStatusResult!]!
  httpDurationMetrics(endDate: DateTime!, environmentId: String!, method: String, path: String, serviceId: String!, startDate: DateTime!, statusCode: Int, stepSeconds: Int): HttpDurationMetricsResult!
}
type Mutation {
  projectCreate(input: ProjectCreateInput!): Project!
  projectDelete(id: String!): Boolean!
  environmentCreate(input: EnvironmentCreateInput!): Environment!
  environmentDelete(id: String!): Boolean!
  serviceCreate(input: ServiceCreateInput!): Service!
  serviceDelete(environmentId: String, id: String!): Boolean!
  serviceInstanceUpdate(environmentId: String, input: ServiceInstanceUpdateInput!, serviceId: String!): Boolean!
  serviceInstanceDeployV2(commitSha: String, environmentId: String!, serviceId: String!): String!
  variableCollectionUpsert(input: VariableCollectionUpsertInput!): Boolean!
  variableDelete(input: VariableDeleteInput!): Boolean!
  serviceDomainCreate(input: ServiceDomainCreateInput!): ServiceDomain!
  serviceDomainDelete(id: String!): Boolean!
  deploymentRollback(id: String!): Boolean!
}
type Project {
  id: ID!
  name: String!
  description: String
  createdAt: DateTime!
  workspaceId: String
  environments(after: String, before: String, first: Int, isEphemeral: Boolean, last: Int): ProjectEnvironmentsConnection!
  services(after: String, before: String, first: Int, last: Int): ProjectServicesConnection!
}
type QueryProjectsConnection { edges: [QueryProjectsConnectionEdge!]! }
type QueryProjectsConnectionEdge { cursor: String! node: Project! }
type ProjectEnvironmentsConnection { edges: [ProjectEnvironmentsConnectionEdge!]! }
type ProjectEnvironmentsConnectionEdge { cursor: String! node: Environment! }
type ProjectServicesConnection { edges: [ProjectServicesConnectionEdge!]! }
type ProjectServicesConnectionEdge { cursor: String! node: Service! }
type ProjectToken { environmentId: String! projectId: String! }
type Environment {
  id: ID!
  name: String!
  projectId: String!
  serviceInstances(after: String, before: String, first: Int, last: Int): EnvironmentServiceInstancesConnection!
}
type EnvironmentServiceInstancesConnection { edges: [EnvironmentServiceInstancesConnectionEdge!]! }
type EnvironmentServiceInstancesConnectionEdge { cursor: String! node: ServiceInstance! }
type Service { id: ID! name: String! projectId: String! }
type ServiceInstance {
  id: ID!
  serviceId: String!
  serviceName: String!
  environmentId: String!
  healthcheckPath: String
  healthcheckTimeout: Int
  source: ServiceSource
}
type ServiceSource { image: String repo: String }
type QueryDeploymentsConnection { edges: [QueryDeploymentsConnectionEdge!]! }
type QueryDeploymentsConnectionEdge { cursor: String! node: Deployment! }
type Deployment {
  id: ID!
  status: DeploymentStatus!
  createdAt: DateTime!
  meta: DeploymentMeta
  canRollback: Boolean!
  creator: DeploymentCreator
  projectId: String!
  environmentId: String!
  serviceId: String
  staticUrl: String
}
type DeploymentCreator { avatar: String email: String! id: String! name: String }
type HttpMetricsByStatusResult { samples: [HttpMetricsSample!]! statusCode: Int! }
type HttpMetricsSample { ts: Int! value: Float! }
type HttpDurationMetricsResult { samples: [HttpDurationMetricsSample!]! }
type HttpDurationMetricsSample { p50: Float! p90: Float! p95: Float! p99: Float! ts: Int! }
type Log { attributes: [LogAttribute!]! message: String! severity: String timestamp: String! }
type LogAttribute { key: String! value: String! }
type AllDomains { customDomains: [CustomDomain!]! serviceDomains: [ServiceDomain!]! }
type ServiceDomain { id: ID! domain: String! environmentId: String! serviceId: String! targetPort: Int }
type CustomDomain { id: ID! domain: String! }
input ProjectCreateInput { defaultEnvironmentName: String description: String isMonorepo: Boolean isPublic: Boolean name: String prDeploys: Boolean workspaceId: String }
input EnvironmentCreateInput { applyChangesInBackground: Boolean ephemeral: Boolean name: String! projectId: String! skipInitialDeploys: Boolean sourceEnvironmentId: String stageInitialChanges: Boolean }
input ServiceCreateInput { branch: String environmentId: String icon: String name: String projectId: String! registryCredentials: RegistryCredentialsInput source: ServiceSourceInput templateId: String templateServiceId: String variables: EnvironmentVariables }
input ServiceSourceInput { image: String repo: String }
input RegistryCredentialsInput { password: String! username: String! }
input ServiceInstanceUpdateInput { buildCommand: String dockerfilePath: String drainingSeconds: Int healthcheckPath: String healthcheckTimeout: Int numReplicas: Int overlapSeconds: Int region: String registryCredentials: RegistryCredentialsInput restartPolicyMaxRetries: Int restartPolicyType: RestartPolicyType rootDirectory: String sleepApplication: Boolean source: ServiceSourceInput startCommand: String }
input VariableCollectionUpsertInput { environmentId: String! projectId: String! replace: Boolean = false serviceId: String skipDeploys: Boolean = false variables: EnvironmentVariables! }
input VariableDeleteInput { environmentId: String! name: String! projectId: String! serviceId: String }
input ServiceDomainCreateInput { environmentId: String! serviceId: String! targetPort: Int }
input DeploymentListInput { environmentId: String includeDeleted: Boolean projectId: String serviceId: String status: DeploymentStatusInput }
input DeploymentStatusInput { in: [DeploymentStatus!] notIn: [DeploymentStatus!] }
"#;

// ---------------------------------------------------------------- a small GraphQL lexer and parser

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Punct(char),
    Str(String),
    Num(String),
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '-' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-')) {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("Syntax Error: Unterminated string.".into()),
                    Some('"') => break,
                    Some('\\') => {
                        i += 1;
                        match chars.get(i) {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(other) => s.push(*other),
                            None => return Err("Syntax Error: Unterminated string.".into()),
                        }
                    }
                    Some(ch) => s.push(*ch),
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if "{}()[]:!$=@".contains(c) {
            out.push(Tok::Punct(c));
            i += 1;
        } else if c == '.' {
            return Err("Syntax Error: fragments are not supported by this fake.".into());
        } else {
            return Err(format!("Syntax Error: Unexpected character: \"{c}\"."));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Named(String),
    List(Box<Ty>),
    NonNull(Box<Ty>),
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Named(n) => write!(f, "{n}"),
            Ty::List(t) => write!(f, "[{t}]"),
            Ty::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

impl Ty {
    fn named(&self) -> &str {
        match self {
            Ty::Named(n) => n,
            Ty::List(t) | Ty::NonNull(t) => t.named(),
        }
    }
}

#[derive(Debug, Clone)]
enum Val {
    Var(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Enum(String),
    List(Vec<Val>),
    Obj(Vec<(String, Val)>),
}

#[derive(Debug, Clone)]
struct Sel {
    alias: Option<String>,
    name: String,
    args: Vec<(String, Val)>,
    sels: Vec<Sel>,
}

#[derive(Debug)]
struct Operation {
    kind: String,
    vars: Vec<(String, Ty, Option<Val>)>,
    sels: Vec<Sel>,
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Result<Tok, String> {
        let t = self.toks.get(self.at).cloned().ok_or("Syntax Error: Unexpected <EOF>.")?;
        self.at += 1;
        Ok(t)
    }
    fn is(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next()? {
            Tok::Punct(p) if p == c => Ok(()),
            other => Err(format!("Syntax Error: Expected \"{c}\", found {other:?}.")),
        }
    }
    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Name(n) => Ok(n),
            other => Err(format!("Syntax Error: Expected Name, found {other:?}.")),
        }
    }
    fn ty(&mut self) -> Result<Ty, String> {
        let t = if self.is('[') {
            self.next()?;
            let inner = self.ty()?;
            self.expect(']')?;
            Ty::List(Box::new(inner))
        } else {
            Ty::Named(self.name()?)
        };
        if self.is('!') {
            self.next()?;
            return Ok(Ty::NonNull(Box::new(t)));
        }
        Ok(t)
    }
    fn value(&mut self) -> Result<Val, String> {
        match self.next()? {
            Tok::Punct('$') => Ok(Val::Var(self.name()?)),
            Tok::Str(s) => Ok(Val::Str(s)),
            Tok::Num(n) => match n.parse::<i64>() {
                Ok(i) => Ok(Val::Int(i)),
                Err(_) => n.parse::<f64>().map(Val::Float).map_err(|_| format!("Syntax Error: Invalid number {n}.")),
            },
            Tok::Name(n) => Ok(match n.as_str() {
                "true" => Val::Bool(true),
                "false" => Val::Bool(false),
                "null" => Val::Null,
                _ => Val::Enum(n),
            }),
            Tok::Punct('[') => {
                let mut items = Vec::new();
                while !self.is(']') {
                    items.push(self.value()?);
                }
                self.next()?;
                Ok(Val::List(items))
            }
            Tok::Punct('{') => {
                let mut fields = Vec::new();
                while !self.is('}') {
                    let k = self.name()?;
                    self.expect(':')?;
                    fields.push((k, self.value()?));
                }
                self.next()?;
                Ok(Val::Obj(fields))
            }
            other => Err(format!("Syntax Error: Unexpected {other:?}.")),
        }
    }
    fn selections(&mut self) -> Result<Vec<Sel>, String> {
        self.expect('{')?;
        let mut out = Vec::new();
        while !self.is('}') {
            let mut name = self.name()?;
            let mut alias = None;
            if self.is(':') {
                self.next()?;
                alias = Some(name);
                name = self.name()?;
            }
            let mut args = Vec::new();
            if self.is('(') {
                self.next()?;
                while !self.is(')') {
                    let k = self.name()?;
                    self.expect(':')?;
                    args.push((k, self.value()?));
                }
                self.next()?;
            }
            let sels = if self.is('{') { self.selections()? } else { Vec::new() };
            out.push(Sel { alias, name, args, sels });
        }
        self.next()?;
        if out.is_empty() {
            return Err("Syntax Error: Expected Name, found \"}\".".into());
        }
        Ok(out)
    }
    fn operation(&mut self) -> Result<Operation, String> {
        let mut kind = "query".to_string();
        let mut vars = Vec::new();
        if let Some(Tok::Name(k)) = self.peek().cloned() {
            if k != "query" && k != "mutation" {
                return Err(format!("Syntax Error: Unexpected Name \"{k}\"."));
            }
            kind = k;
            self.next()?;
            if let Some(Tok::Name(_)) = self.peek() {
                self.next()?;
            }
            if self.is('(') {
                self.next()?;
                while !self.is(')') {
                    self.expect('$')?;
                    let n = self.name()?;
                    self.expect(':')?;
                    let t = self.ty()?;
                    let default = if self.is('=') {
                        self.next()?;
                        Some(self.value()?)
                    } else {
                        None
                    };
                    vars.push((n, t, default));
                }
                self.next()?;
            }
        }
        let sels = self.selections()?;
        if self.peek().is_some() {
            return Err("this fake takes one operation per request".into());
        }
        Ok(Operation { kind, vars, sels })
    }
}

// ---------------------------------------------------------------- the schema, parsed

#[derive(Debug, Clone)]
struct InputDef {
    name: String,
    ty: Ty,
    has_default: bool,
}

#[derive(Debug, Clone)]
struct FieldDef {
    name: String,
    args: Vec<InputDef>,
    ty: Ty,
}

#[derive(Debug, Clone)]
enum TypeDef {
    Scalar,
    Enum(Vec<String>),
    Object(Vec<FieldDef>),
    Input(Vec<InputDef>),
}

struct Schema {
    types: BTreeMap<String, TypeDef>,
}

fn input_defs(p: &mut Parser, close: char) -> Result<Vec<InputDef>, String> {
    let mut out = Vec::new();
    while !p.is(close) {
        let name = p.name()?;
        p.expect(':')?;
        let ty = p.ty()?;
        let has_default = if p.is('=') {
            p.next()?;
            p.value()?;
            true
        } else {
            false
        };
        out.push(InputDef { name, ty, has_default });
    }
    p.next()?;
    Ok(out)
}

fn parse_schema() -> Schema {
    let mut p = Parser { toks: lex(SCHEMA).expect("schema lexes"), at: 0 };
    let mut types = BTreeMap::new();
    while p.peek().is_some() {
        let kw = p.name().unwrap();
        let name = p.name().unwrap();
        let def = match kw.as_str() {
            "scalar" => TypeDef::Scalar,
            "enum" => {
                p.expect('{').unwrap();
                let mut values = Vec::new();
                while !p.is('}') {
                    values.push(p.name().unwrap());
                }
                p.next().unwrap();
                TypeDef::Enum(values)
            }
            "input" => {
                p.expect('{').unwrap();
                TypeDef::Input(input_defs(&mut p, '}').unwrap())
            }
            "type" => {
                p.expect('{').unwrap();
                let mut fields = Vec::new();
                while !p.is('}') {
                    let fname = p.name().unwrap();
                    let args = if p.is('(') {
                        p.next().unwrap();
                        input_defs(&mut p, ')').unwrap()
                    } else {
                        Vec::new()
                    };
                    p.expect(':').unwrap();
                    fields.push(FieldDef { name: fname, args, ty: p.ty().unwrap() });
                }
                p.next().unwrap();
                TypeDef::Object(fields)
            }
            other => panic!("schema: unknown definition {other}"),
        };
        types.insert(name, def);
    }
    Schema { types }
}

// ---------------------------------------------------------------- validation

struct Check<'a> {
    schema: &'a Schema,
    vars: &'a [(String, Ty, Option<Val>)],
    used: BTreeSet<String>,
}

/// Whether a variable of type `var` may be used where `want` is expected.
fn fits(var: &Ty, want: &Ty, has_default: bool) -> bool {
    match (var, want) {
        (Ty::NonNull(v), Ty::NonNull(w)) => fits(v, w, false),
        (Ty::NonNull(v), w) => fits(v, w, false),
        (v, Ty::NonNull(w)) => has_default && fits(v, w, false),
        (Ty::List(v), Ty::List(w)) => fits(v, w, false),
        (Ty::Named(a), Ty::Named(b)) => a == b,
        _ => false,
    }
}

impl Check<'_> {
    fn json_value(&self, v: &Value, ty: &Ty, at: &str) -> Result<(), String> {
        match ty {
            Ty::NonNull(inner) => {
                if v.is_null() {
                    return Err(format!("{at}: Expected non-nullable type \"{ty}\" not to be null."));
                }
                self.json_value(v, inner, at)
            }
            _ if v.is_null() => Ok(()),
            Ty::List(inner) => match v.as_array() {
                Some(items) => items.iter().enumerate().try_for_each(|(i, x)| self.json_value(x, inner, &format!("{at}[{i}]"))),
                None => self.json_value(v, inner, at),
            },
            Ty::Named(n) => {
                let bad = || format!("{at}: {} cannot represent {v}", n);
                match (n.as_str(), self.schema.types.get(n)) {
                    ("String" | "DateTime", _) => {
                        v.as_str().map(|_| ()).ok_or_else(|| format!("{at}: String cannot represent a non string value: {v}"))
                    }
                    ("ID", _) => (v.is_string() || v.is_i64()).then_some(()).ok_or_else(bad),
                    ("Int", _) => v
                        .as_i64()
                        .filter(|i| i32::try_from(*i).is_ok())
                        .map(|_| ())
                        .ok_or_else(|| format!("{at}: Int cannot represent non-integer value: {v}")),
                    ("Boolean", _) => {
                        v.as_bool().map(|_| ()).ok_or_else(|| format!("{at}: Boolean cannot represent a non boolean value: {v}"))
                    }
                    ("JSON" | "DeploymentMeta", _) => Ok(()),
                    ("EnvironmentVariables", _) => match v.as_object() {
                        Some(o) if o.values().all(Value::is_string) => Ok(()),
                        _ => Err(format!("{at}: EnvironmentVariables must be an object of string values: {v}")),
                    },
                    (_, Some(TypeDef::Enum(values))) => match v.as_str() {
                        Some(s) if values.iter().any(|x| x == s) => Ok(()),
                        _ => Err(format!("{at}: Value {v} does not exist in \"{n}\" enum.")),
                    },
                    (_, Some(TypeDef::Input(fields))) => {
                        let obj = v.as_object().ok_or_else(|| format!("{at}: Expected type \"{n}\" to be an object."))?;
                        for k in obj.keys() {
                            if !fields.iter().any(|f| f.name == *k) {
                                return Err(format!("{at}: Field \"{k}\" is not defined by type \"{n}\"."));
                            }
                        }
                        for f in fields {
                            match obj.get(&f.name) {
                                None if matches!(f.ty, Ty::NonNull(_)) && !f.has_default => {
                                    return Err(format!("{at}: Field \"{n}.{}\" of required type \"{}\" was not provided.", f.name, f.ty))
                                }
                                None => {}
                                Some(x) => self.json_value(x, &f.ty, &format!("{at}.{}", f.name))?,
                            }
                        }
                        Ok(())
                    }
                    _ => Err(format!("{at}: Unknown type \"{n}\".")),
                }
            }
        }
    }

    fn literal(&mut self, v: &Val, ty: &Ty, has_default: bool, at: &str) -> Result<(), String> {
        match v {
            Val::Var(name) => {
                self.used.insert(name.clone());
                let Some((_, vty, vdefault)) = self.vars.iter().find(|(n, _, _)| n == name) else {
                    return Err(format!("Variable \"${name}\" is not defined."));
                };
                if !fits(vty, ty, has_default || vdefault.is_some()) {
                    return Err(format!("Variable \"${name}\" of type \"{vty}\" used in position expecting type \"{ty}\"."));
                }
                Ok(())
            }
            _ => {
                let json = self.literal_json(v)?;
                self.json_value(&json, ty, at)
            }
        }
    }

    /// A literal as JSON (its variables checked where they are used).
    fn literal_json(&mut self, v: &Val) -> Result<Value, String> {
        Ok(match v {
            Val::Var(_) => return Err("variables inside literal lists and objects are not supported by this fake".into()),
            Val::Str(s) | Val::Enum(s) => json!(s),
            Val::Int(i) => json!(i),
            Val::Float(f) => json!(f),
            Val::Bool(b) => json!(b),
            Val::Null => Value::Null,
            Val::List(items) => Value::Array(items.iter().map(|i| self.literal_json(i)).collect::<Result<_, _>>()?),
            Val::Obj(fields) => {
                Value::Object(fields.iter().map(|(k, v)| Ok((k.clone(), self.literal_json(v)?))).collect::<Result<_, String>>()?)
            }
        })
    }

    fn selections(&mut self, sels: &[Sel], parent: &str) -> Result<(), String> {
        let Some(TypeDef::Object(fields)) = self.schema.types.get(parent) else { return Err(format!("Unknown type \"{parent}\".")) };
        let fields = fields.clone();
        for s in sels {
            if s.name == "__typename" {
                continue;
            }
            let Some(f) = fields.iter().find(|f| f.name == s.name) else {
                return Err(format!("Cannot query field \"{}\" on type \"{parent}\".", s.name));
            };
            for (k, v) in &s.args {
                let Some(a) = f.args.iter().find(|a| a.name == *k) else {
                    return Err(format!("Unknown argument \"{k}\" on field \"{parent}.{}\".", s.name));
                };
                self.literal(v, &a.ty, a.has_default, &format!("{parent}.{}({k}:)", s.name))?;
            }
            for a in &f.args {
                if matches!(a.ty, Ty::NonNull(_)) && !a.has_default && !s.args.iter().any(|(k, _)| *k == a.name) {
                    return Err(format!(
                        "Field \"{}\" argument \"{}\" of type \"{}\" is required, but it was not provided.",
                        s.name, a.name, a.ty
                    ));
                }
            }
            let leaf = !matches!(self.schema.types.get(f.ty.named()), Some(TypeDef::Object(_)));
            match (leaf, s.sels.is_empty()) {
                (true, false) => {
                    return Err(format!("Field \"{}\" must not have a selection since type \"{}\" has no subfields.", s.name, f.ty))
                }
                (false, true) => return Err(format!("Field \"{}\" of type \"{}\" must have a selection of subfields.", s.name, f.ty)),
                (false, false) => self.selections(&s.sels, f.ty.named())?,
                (true, true) => {}
            }
        }
        Ok(())
    }
}

fn validate(schema: &Schema, op: &Operation, variables: &Value) -> Result<(), String> {
    let mut c = Check { schema, vars: &op.vars, used: BTreeSet::new() };
    for (name, ty, default) in &op.vars {
        if !matches!(schema.types.get(ty.named()), Some(TypeDef::Scalar | TypeDef::Enum(_) | TypeDef::Input(_))) {
            return Err(format!("Variable \"${name}\" cannot be non-input type \"{ty}\"."));
        }
        match variables.get(name) {
            None if default.is_none() && matches!(ty, Ty::NonNull(_)) => {
                return Err(format!("Variable \"${name}\" of required type \"{ty}\" was not provided."));
            }
            None => {}
            Some(v) => c.json_value(v, ty, &format!("Variable \"${name}\" got invalid value"))?,
        }
    }
    let root = if op.kind == "mutation" { "Mutation" } else { "Query" };
    c.selections(&op.sels, root)?;
    for (name, _, _) in &op.vars {
        if !c.used.contains(name) {
            return Err(format!("Variable \"${name}\" is never used."));
        }
    }
    Ok(())
}

/// Arguments of a field as JSON, variables substituted.
fn args_json(sel: &Sel, variables: &Value) -> Map<String, Value> {
    fn to_json(v: &Val, variables: &Value) -> Value {
        match v {
            Val::Var(n) => variables.get(n).cloned().unwrap_or(Value::Null),
            Val::Str(s) | Val::Enum(s) => json!(s),
            Val::Int(i) => json!(i),
            Val::Float(f) => json!(f),
            Val::Bool(b) => json!(b),
            Val::Null => Value::Null,
            Val::List(items) => Value::Array(items.iter().map(|i| to_json(i, variables)).collect()),
            Val::Obj(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), to_json(v, variables))).collect()),
        }
    }
    sel.args.iter().map(|(k, v)| (k.clone(), to_json(v, variables))).collect()
}

/// Only the selected fields, as GraphQL answers.
fn project_sel(v: &Value, sels: &[Sel]) -> Value {
    if sels.is_empty() {
        return v.clone();
    }
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|i| project_sel(i, sels)).collect()),
        Value::Object(o) => Value::Object(
            sels.iter()
                .map(|s| (s.alias.clone().unwrap_or_else(|| s.name.clone()), project_sel(o.get(&s.name).unwrap_or(&Value::Null), &s.sels)))
                .collect(),
        ),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------- the state

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub workspace: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub id: String,
    pub project: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub project: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub service: String,
    pub env: String,
    pub image: Option<String>,
    pub health_path: Option<String>,
    pub health_timeout: Option<i64>,
    /// (username, password)
    pub registry: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub project: String,
    pub env: String,
    pub service: String,
    pub image: String,
    pub status: String,
    pub rollback: bool,
    /// The variables it runs with.
    pub vars: BTreeMap<String, String>,
    /// (timestamp, message), in the order written.
    pub logs: Vec<(String, String)>,
    was_success: bool,
    polls: u32,
    seq: u64,
}

#[derive(Debug, Clone)]
pub struct Domain {
    pub id: String,
    pub env: String,
    pub service: String,
    pub domain: String,
    pub port: Option<i64>,
}

/// (project, environment, service or None for shared variables)
pub type VarScope = (String, String, Option<String>);

#[derive(Debug, Default)]
pub struct State {
    pub projects: Vec<Project>,
    pub environments: Vec<Environment>,
    pub services: Vec<Service>,
    pub instances: Vec<Instance>,
    pub deployments: Vec<Deployment>,
    pub domains: Vec<Domain>,
    pub variables: BTreeMap<VarScope, BTreeMap<String, String>>,
    /// Image digests whose deployments fail their health check.
    pub bad: BTreeSet<String>,
    /// Accepted mutations.
    pub mutations: usize,
    /// Rejected operations, with the reason (a test fails on any).
    pub rejected: Vec<String>,
    /// Requests answered (reads and mutations).
    pub requests: usize,
    /// The next mutation of this name fails with an internal error (then it works again).
    pub fail_next: Option<String>,
    /// The names of the accepted mutations, in order.
    pub mutation_log: Vec<String>,
    /// The scope of each accepted `variableCollectionUpsert`, in order (a service's
    /// variables, or the environment's shared ones: `None` as the service).
    pub upserts: Vec<VarScope>,
    /// The project a project token belongs to.
    pub token_project: Option<String>,
    /// The requests the services answered, for the HTTP metrics (`railway_metrics.rs`).
    pub http: super::railway_metrics::HttpRequests,
    next: u64,
}

const STEPS: &[&str] = &["INITIALIZING", "BUILDING", "DEPLOYING"];

impl State {
    fn id(&mut self) -> String {
        self.next += 1;
        format!("00000000-0000-4000-8000-{:012}", self.next)
    }
    pub fn project(&self, name: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.name == name)
    }
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
    pub fn environment(&self, project: &str, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.project == project && e.name == name)
    }
    pub fn instance(&self, service: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.service == service)
    }
    /// The deployments of a service, newest first.
    pub fn deployments_of(&self, service: &str) -> Vec<&Deployment> {
        let mut d: Vec<&Deployment> = self.deployments.iter().filter(|d| d.service == service).collect();
        d.sort_by_key(|x| std::cmp::Reverse(x.seq));
        d
    }
    pub fn vars_of(&self, service: &Service, env: &str) -> BTreeMap<String, String> {
        self.variables.get(&(service.project.clone(), env.to_string(), Some(service.id.clone()))).cloned().unwrap_or_default()
    }

    /// Adds a project somebody made by hand, with one environment (aideploy may deploy
    /// into it, and must leave it standing).
    pub fn add_project(&mut self, name: &str, env: &str) -> String {
        let id = self.id();
        self.projects.push(Project { id: id.clone(), name: name.into(), description: Some("our team's project".into()), workspace: None });
        let eid = self.id();
        self.environments.push(Environment { id: eid, project: id.clone(), name: env.into() });
        id
    }

    /// Adds a service somebody made by hand in a project's environment, running an image
    /// of theirs with a variable of theirs (aideploy must neither adopt nor delete it).
    pub fn add_service(&mut self, project: &str, env: &str, name: &str) -> String {
        let id = self.id();
        let env = self.environment(project, env).expect("the environment exists").id.clone();
        self.services.push(Service { id: id.clone(), project: project.into(), name: name.into() });
        self.instances.push(Instance {
            service: id.clone(),
            env: env.clone(),
            image: Some("docker.io/library/nginx@sha256:0000".into()),
            health_path: None,
            health_timeout: None,
            registry: None,
        });
        self.variables.insert((project.into(), env, Some(id.clone())), BTreeMap::from([("THEIRS".to_string(), "1".to_string())]));
        id
    }

    /// The app writes a line to a deployment's log at `timestamp` (RFC 3339).
    pub fn add_log(&mut self, deployment: &str, timestamp: &str, message: &str) {
        let d = self.deployments.iter_mut().find(|d| d.id == deployment).expect("the deployment exists");
        d.logs.push((timestamp.into(), message.into()));
    }

    fn new_deployment(&mut self, inst: usize, rollback: bool) -> String {
        let id = self.id();
        self.next += 1;
        let i = &self.instances[inst];
        let project = self.services.iter().find(|s| s.id == i.service).map(|s| s.project.clone()).unwrap_or_default();
        let vars = self.variables.get(&(project.clone(), i.env.clone(), Some(i.service.clone()))).cloned().unwrap_or_default();
        self.deployments.push(Deployment {
            id: id.clone(),
            project,
            env: i.env.clone(),
            service: i.service.clone(),
            image: i.image.clone().unwrap_or_default(),
            status: STEPS[0].into(),
            rollback,
            vars,
            logs: vec![(TIME.into(), "Starting Container".into())],
            was_success: false,
            polls: 0,
            seq: self.next,
        });
        id
    }

    /// A changed variable's redeploy: a new deployment of the service's instance in
    /// `env`, when it has been deployed before (Railway's staged changes deploy).
    fn redeploy(&mut self, service: &str, env: &str) {
        let Some(at) = self.instances.iter().position(|i| i.service == service && i.env == env && i.image.is_some()) else { return };
        if self.deployments.iter().any(|d| d.service == service && d.env == env) {
            self.new_deployment(at, false);
        }
    }

    /// One poll's worth of progress for a deployment.
    fn advance(&mut self, id: &str) {
        let Some(at) = self.deployments.iter().position(|d| d.id == id) else { return };
        let d = &mut self.deployments[at];
        if !STEPS.contains(&d.status.as_str()) {
            return;
        }
        d.polls += 1;
        if (d.polls as usize) < STEPS.len() {
            d.status = STEPS[d.polls as usize].into();
            return;
        }
        let digest = d.image.split_once('@').map(|(_, dg)| dg.to_string()).unwrap_or_default();
        let health = self.instances.iter().find(|i| i.service == d.service && i.env == d.env).and_then(|i| i.health_path.clone());
        let d = &mut self.deployments[at];
        if self.bad.contains(&digest) {
            d.status = "FAILED".into();
            d.logs.push((TIME.into(), format!("Healthcheck failed: {} did not answer 200", health.as_deref().unwrap_or("/"))));
            d.logs.push((TIME.into(), "1/1 replicas never became healthy!".into()));
            return;
        }
        d.status = "SUCCESS".into();
        d.was_success = true;
        d.logs.push((TIME.into(), "Healthcheck succeeded!".into()));
        let (service, env) = (d.service.clone(), d.env.clone());
        for other in self.deployments.iter_mut() {
            if other.id != id && other.service == service && other.env == env && other.status == "SUCCESS" {
                other.status = "REMOVED".into();
            }
        }
    }

    fn remove_service_in(&mut self, service: &str, env: Option<&str>) {
        let here = |s: &str, e: &str| s == service && env.is_none_or(|x| x == e);
        self.instances.retain(|i| !here(&i.service, &i.env));
        self.deployments.retain(|d| !here(&d.service, &d.env));
        self.domains.retain(|d| !here(&d.service, &d.env));
        self.variables.retain(|(_, e, s), _| !s.as_deref().is_some_and(|s| here(s, e)));
        if env.is_none() || !self.instances.iter().any(|i| i.service == service) {
            self.services.retain(|s| s.id != service);
        }
    }
}

const TIME: &str = "2026-11-22T05:00:00.000Z";

/// When a project was created: its ids are handed out in order (the id's number), so
/// an older project has an earlier `createdAt`, as on Railway.
fn project_created(p: &Project) -> String {
    created_at(p.id.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// The email of the user the tests' token belongs to: Railway records it as the creator
/// of the deployments made with it.
pub const CREATOR_EMAIL: &str = "dana@example.com";

fn created_at(seq: u64) -> String {
    format!("2026-11-22T05:{:02}:{:02}.{:03}Z", (seq / 3600) % 60, (seq / 60) % 60, seq % 60)
}

fn nf(what: &str) -> String {
    format!("{what} not found")
}

fn conn(items: Vec<Value>) -> Value {
    json!({"edges": items.into_iter().map(|n| json!({"cursor": n["id"].clone(), "node": n})).collect::<Vec<_>>()})
}

fn instance_json(st: &State, i: &Instance) -> Value {
    let name = st.services.iter().find(|s| s.id == i.service).map(|s| s.name.clone()).unwrap_or_default();
    json!({
        "id": format!("{}:{}", i.service, i.env), "serviceId": i.service, "serviceName": name, "environmentId": i.env,
        "healthcheckPath": i.health_path, "healthcheckTimeout": i.health_timeout,
        "source": i.image.as_ref().map(|img| json!({"image": img, "repo": null})),
    })
}

fn env_json(st: &State, e: &Environment) -> Value {
    let instances = st.instances.iter().filter(|i| i.env == e.id).map(|i| instance_json(st, i)).collect();
    json!({"id": e.id, "name": e.name, "projectId": e.project, "serviceInstances": conn(instances)})
}

fn project_json(st: &State, p: &Project) -> Value {
    let envs = st.environments.iter().filter(|e| e.project == p.id).map(|e| env_json(st, e)).collect();
    let services =
        st.services.iter().filter(|s| s.project == p.id).map(|s| json!({"id": s.id, "name": s.name, "projectId": s.project})).collect();
    json!({"id": p.id, "name": p.name, "description": p.description, "createdAt": project_created(p), "workspaceId": p.workspace, "environments": conn(envs), "services": conn(services)})
}

fn deployment_json(d: &Deployment) -> Value {
    json!({
        "id": d.id, "status": d.status, "createdAt": created_at(d.seq), "projectId": d.project, "environmentId": d.env, "serviceId": d.service,
        "canRollback": d.was_success && d.status != "SUCCESS", "staticUrl": null,
        // Every call comes with the one account token the tests use: its user made it.
        "creator": {"id": "user-1", "name": "Dana Deployer", "email": CREATOR_EMAIL, "avatar": null},
        "meta": {"image": d.image, "imageDigest": d.image.split_once('@').map(|(_, dg)| dg), "reason": if d.rollback { "rollback" } else { "deploy" }},
    })
}

fn s<'a>(a: &'a Map<String, Value>, k: &str) -> &'a str {
    a.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// `deploymentLogs`: the lines within `startDate`..=`endDate` (either optional), the
/// newest `limit` of them, oldest first, as Railway answers.
fn log_window(logs: &[(String, String)], a: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let bound = |k: &str| -> Result<Option<i64>, String> {
        match a.get(k).and_then(Value::as_str) {
            None => Ok(None),
            Some(t) => common::rfc3339_millis(t)
                .map(Some)
                .ok_or_else(|| format!("Variable \"${k}\" got invalid value \"{t}\"; DateTime cannot represent it")),
        }
    };
    let (start, end) = (bound("startDate")?, bound("endDate")?);
    let mut within: Vec<(i64, &(String, String))> = logs
        .iter()
        .filter_map(|l| Some((common::rfc3339_millis(&l.0)?, l)))
        .filter(|(t, _)| start.is_none_or(|s| *t >= s) && end.is_none_or(|e| *t <= e))
        .collect();
    within.sort_by_key(|(t, _)| *t);
    let limit = a.get("limit").and_then(Value::as_u64).map_or(within.len(), |l| l as usize);
    let skip = within.len().saturating_sub(limit);
    Ok(within[skip..].iter().map(|(_, (t, m))| json!({"attributes": [], "message": m, "severity": "info", "timestamp": t})).collect())
}

fn resolve(st: &mut State, field: &str, a: &Map<String, Value>, project_token: Option<&str>) -> Result<Value, String> {
    let input = a.get("input").cloned().unwrap_or(Value::Null);
    let inp = |k: &str| input[k].as_str().map(str::to_string);
    // A project token reaches its own project only.
    let foreign = |id: &str| project_token.is_some_and(|t| t != id);
    match field {
        "project" => {
            if foreign(s(a, "id")) {
                return Err("Not Authorized".into());
            }
            let p = st.projects.iter().find(|p| p.id == s(a, "id")).ok_or_else(|| nf("Project"))?;
            Ok(project_json(st, p))
        }
        "projects" if project_token.is_some() => Err("Not Authorized".into()),
        "projects" => {
            let workspace = a.get("workspaceId").and_then(Value::as_str);
            Ok(conn(
                st.projects
                    .iter()
                    .filter(|p| workspace.is_none_or(|w| p.workspace.as_deref() == Some(w)))
                    .map(|p| project_json(st, p))
                    .collect(),
            ))
        }
        "projectToken" => {
            let token = project_token.ok_or("Project token not found")?;
            let p = st.projects.iter().find(|p| p.id == token).ok_or("Project token not found")?;
            let env = st.environments.iter().find(|e| e.project == p.id).ok_or("Project token not found")?;
            Ok(json!({"projectId": p.id, "environmentId": env.id}))
        }
        "environment" => {
            let e = st.environments.iter().find(|e| e.id == s(a, "id")).ok_or_else(|| nf("Environment"))?;
            Ok(env_json(st, e))
        }
        "serviceInstance" => {
            let i = st
                .instances
                .iter()
                .find(|i| i.service == s(a, "serviceId") && i.env == s(a, "environmentId"))
                .ok_or_else(|| nf("ServiceInstance"))?;
            Ok(instance_json(st, i))
        }
        "variables" => {
            let (p, e) = (s(a, "projectId").to_string(), s(a, "environmentId").to_string());
            if !st.environments.iter().any(|x| x.id == e && x.project == p) {
                return Err(nf("Environment"));
            }
            let svc = a.get("serviceId").and_then(Value::as_str).map(str::to_string);
            let mut vars = st.variables.get(&(p, e.clone(), svc.clone())).cloned().unwrap_or_default();
            if let Some(svc) = svc {
                let service = st.services.iter().find(|x| x.id == svc).ok_or_else(|| nf("Service"))?;
                // Railway adds its own variables to every service's.
                vars.insert("RAILWAY_SERVICE_NAME".into(), service.name.clone());
                vars.insert("RAILWAY_ENVIRONMENT_ID".into(), e.clone());
                // Its name on the environment's private network.
                vars.insert("RAILWAY_PRIVATE_DOMAIN".into(), format!("{}.railway.internal", service.name));
            }
            Ok(json!(vars))
        }
        "deployments" => {
            let mut list: Vec<&Deployment> = st
                .deployments
                .iter()
                .filter(|d| inp("projectId").is_none_or(|p| p == d.project))
                .filter(|d| inp("environmentId").is_none_or(|e| e == d.env))
                .filter(|d| inp("serviceId").is_none_or(|x| x == d.service))
                .collect();
            list.sort_by_key(|x| std::cmp::Reverse(x.seq));
            let first = a.get("first").and_then(Value::as_u64).unwrap_or(100) as usize;
            Ok(conn(list.into_iter().take(first).map(deployment_json).collect()))
        }
        "deployment" => {
            let id = s(a, "id").to_string();
            if !st.deployments.iter().any(|d| d.id == id) {
                return Err(nf("Deployment"));
            }
            st.advance(&id);
            Ok(deployment_json(st.deployments.iter().find(|d| d.id == id).unwrap()))
        }
        "deploymentLogs" => {
            let d = st.deployments.iter().find(|d| d.id == s(a, "deploymentId")).ok_or_else(|| nf("Deployment"))?;
            Ok(Value::Array(log_window(&d.logs, a)?))
        }
        "httpMetricsGroupedByStatus" => super::railway_metrics::by_status(&mut st.http, a),
        "httpDurationMetrics" => super::railway_metrics::durations(&mut st.http, a),
        "domains" => {
            let list: Vec<Value> = st
                .domains
                .iter()
                .filter(|d| d.env == s(a, "environmentId") && d.service == s(a, "serviceId"))
                .map(|d| json!({"id": d.id, "domain": d.domain, "environmentId": d.env, "serviceId": d.service, "targetPort": d.port}))
                .collect();
            Ok(json!({"serviceDomains": list, "customDomains": []}))
        }
        // ---- mutations
        "projectCreate" => {
            let id = st.id();
            let name = inp("name").unwrap_or_else(|| "fake-project".into());
            st.projects.push(Project { id: id.clone(), name, description: inp("description"), workspace: inp("workspaceId") });
            let eid = st.id();
            st.environments.push(Environment {
                id: eid,
                project: id.clone(),
                name: inp("defaultEnvironmentName").unwrap_or_else(|| "production".into()),
            });
            let p = st.projects.last().unwrap();
            Ok(project_json(st, p))
        }
        "projectDelete" => {
            let id = s(a, "id").to_string();
            if !st.projects.iter().any(|p| p.id == id) {
                return Err(nf("Project"));
            }
            let services: Vec<String> = st.services.iter().filter(|x| x.project == id).map(|x| x.id.clone()).collect();
            for svc in services {
                st.remove_service_in(&svc, None);
            }
            st.environments.retain(|e| e.project != id);
            st.variables.retain(|(p, _, _), _| *p != id);
            st.projects.retain(|p| p.id != id);
            Ok(json!(true))
        }
        "environmentCreate" => {
            let project = inp("projectId").unwrap_or_default();
            let name = inp("name").unwrap_or_default();
            if !st.projects.iter().any(|p| p.id == project) {
                return Err(nf("Project"));
            }
            if st.environment(&project, &name).is_some() {
                return Err(format!("Environment with name {name} already exists"));
            }
            let id = st.id();
            st.environments.push(Environment { id: id.clone(), project, name });
            let e = st.environments.last().unwrap();
            Ok(env_json(st, e))
        }
        "environmentDelete" => {
            let id = s(a, "id").to_string();
            let Some(e) = st.environments.iter().find(|e| e.id == id).cloned() else { return Err(nf("Environment")) };
            if st.environments.iter().filter(|x| x.project == e.project).count() == 1 {
                return Err("Cannot delete the last environment of a project".into());
            }
            let services: Vec<String> = st.instances.iter().filter(|i| i.env == id).map(|i| i.service.clone()).collect();
            for svc in services {
                st.remove_service_in(&svc, Some(&id));
            }
            st.variables.retain(|(_, env, _), _| *env != id);
            st.environments.retain(|x| x.id != id);
            Ok(json!(true))
        }
        "serviceCreate" => {
            let project = inp("projectId").unwrap_or_default();
            if !st.projects.iter().any(|p| p.id == project) {
                return Err(nf("Project"));
            }
            let name = inp("name").unwrap_or_else(|| "service".into());
            if st.services.iter().any(|x| x.project == project && x.name == name) {
                return Err(format!("Service with name {name} already exists in this project"));
            }
            let envs: Vec<String> = match inp("environmentId") {
                Some(e) if st.environments.iter().any(|x| x.id == e && x.project == project) => vec![e],
                Some(_) => return Err(nf("Environment")),
                None => st.environments.iter().filter(|x| x.project == project).map(|x| x.id.clone()).collect(),
            };
            let id = st.id();
            st.services.push(Service { id: id.clone(), project: project.clone(), name: name.clone() });
            let registry = input["registryCredentials"].as_object().map(|c| (s(c, "username").to_string(), s(c, "password").to_string()));
            for e in envs {
                if let Some(vars) = input["variables"].as_object() {
                    let vars = vars.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
                    st.variables.insert((project.clone(), e.clone(), Some(id.clone())), vars);
                }
                st.instances.push(Instance {
                    service: id.clone(),
                    env: e,
                    image: input["source"]["image"].as_str().map(str::to_string),
                    health_path: None,
                    health_timeout: None,
                    registry: registry.clone(),
                });
                // A service created with an image deploys it at once, as on Railway.
                if input["source"]["image"].is_string() {
                    let at = st.instances.len() - 1;
                    st.new_deployment(at, false);
                }
            }
            Ok(json!({"id": id, "name": name, "projectId": project}))
        }
        "serviceDelete" => {
            let id = s(a, "id").to_string();
            if !st.services.iter().any(|x| x.id == id) {
                return Err(nf("Service"));
            }
            let env = a.get("environmentId").and_then(Value::as_str).map(str::to_string);
            st.remove_service_in(&id, env.as_deref());
            Ok(json!(true))
        }
        "serviceInstanceUpdate" => {
            let svc = s(a, "serviceId");
            let env = a.get("environmentId").and_then(Value::as_str);
            let i = st
                .instances
                .iter_mut()
                .find(|i| i.service == svc && env.is_none_or(|e| e == i.env))
                .ok_or_else(|| nf("ServiceInstance"))?;
            if let Some(img) = input["source"]["image"].as_str() {
                i.image = Some(img.into());
            }
            if let Some(p) = input["healthcheckPath"].as_str() {
                i.health_path = Some(p.into());
            }
            if let Some(t) = input["healthcheckTimeout"].as_i64() {
                i.health_timeout = Some(t);
            }
            // A field sent as null clears the setting.
            match input.get("registryCredentials") {
                Some(Value::Object(c)) => i.registry = Some((s(c, "username").into(), s(c, "password").into())),
                Some(Value::Null) => i.registry = None,
                _ => {}
            }
            Ok(json!(true))
        }
        "serviceInstanceDeployV2" => {
            let at = st
                .instances
                .iter()
                .position(|i| i.service == s(a, "serviceId") && i.env == s(a, "environmentId"))
                .ok_or_else(|| nf("ServiceInstance"))?;
            if st.instances[at].image.is_none() {
                return Err("Service instance has no source to deploy".into());
            }
            Ok(json!(st.new_deployment(at, false)))
        }
        "variableCollectionUpsert" => {
            let (p, e) = (inp("projectId").unwrap_or_default(), inp("environmentId").unwrap_or_default());
            if !st.environments.iter().any(|x| x.id == e && x.project == p) {
                return Err(nf("Environment"));
            }
            let svc = inp("serviceId");
            if let Some(svc) = &svc {
                if !st.instances.iter().any(|i| i.service == *svc && i.env == e) {
                    return Err(nf("ServiceInstance"));
                }
            }
            st.upserts.push((p.clone(), e.clone(), svc.clone()));
            let entry = st.variables.entry((p, e.clone(), svc.clone())).or_default();
            if input["replace"] == true {
                entry.clear();
            }
            for (k, v) in input["variables"].as_object().into_iter().flatten() {
                entry.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
            // Without `skipDeploys`, Railway redeploys the affected service.
            if input["skipDeploys"] != true {
                if let Some(svc) = svc {
                    st.redeploy(&svc, &e);
                }
            }
            Ok(json!(true))
        }
        "variableDelete" => {
            let (p, e) = (inp("projectId").unwrap_or_default(), inp("environmentId").unwrap_or_default());
            if !st.environments.iter().any(|x| x.id == e && x.project == p) {
                return Err(nf("Environment"));
            }
            let name = inp("name").unwrap_or_default();
            let svc = inp("serviceId");
            let scope = st.variables.get_mut(&(p, e.clone(), svc.clone())).ok_or_else(|| nf("Variable"))?;
            scope.remove(&name).ok_or_else(|| nf("Variable"))?;
            // It has no `skipDeploys`: Railway redeploys the affected service.
            if let Some(svc) = svc {
                st.redeploy(&svc, &e);
            }
            Ok(json!(true))
        }
        "serviceDomainCreate" => {
            let (svc, env) = (inp("serviceId").unwrap_or_default(), inp("environmentId").unwrap_or_default());
            if !st.instances.iter().any(|i| i.service == svc && i.env == env) {
                return Err(nf("ServiceInstance"));
            }
            if st.domains.iter().any(|d| d.service == svc && d.env == env) {
                return Err("This service already has a Railway-provided domain".into());
            }
            let sname = st.services.iter().find(|x| x.id == svc).map(|x| x.name.clone()).unwrap_or_default();
            let ename = st.environments.iter().find(|x| x.id == env).map(|x| x.name.clone()).unwrap_or_default();
            let d = Domain {
                id: st.id(),
                env: env.clone(),
                service: svc.clone(),
                domain: format!("{sname}-{ename}.up.railway.app"),
                port: input["targetPort"].as_i64(),
            };
            let out = json!({"id": d.id, "domain": d.domain, "environmentId": env, "serviceId": svc, "targetPort": d.port});
            st.domains.push(d);
            Ok(out)
        }
        "serviceDomainDelete" => {
            let at = st.domains.iter().position(|d| d.id == s(a, "id")).ok_or_else(|| nf("ServiceDomain"))?;
            st.domains.remove(at);
            Ok(json!(true))
        }
        "deploymentRollback" => {
            let old = st.deployments.iter().find(|d| d.id == s(a, "id")).cloned().ok_or_else(|| nf("Deployment"))?;
            if !old.was_success || old.status == "SUCCESS" {
                return Err("This deployment cannot be rolled back to".into());
            }
            let at = st.instances.iter().position(|i| i.service == old.service && i.env == old.env).ok_or_else(|| nf("ServiceInstance"))?;
            st.instances[at].image = Some(old.image.clone());
            // Railway restores the deployment's image and its variables.
            st.variables.insert((old.project.clone(), old.env.clone(), Some(old.service.clone())), old.vars.clone());
            st.new_deployment(at, true);
            Ok(json!(true))
        }
        other => Err(format!("this fake has no resolver for {other}")),
    }
}

/// One GraphQL request: (HTTP status, JSON body).
fn answer(st: &mut State, schema: &Schema, body: &str, project_token: Option<&str>) -> (u16, String) {
    let err = |status: u16, m: String| (status, json!({"errors": [{"message": m}], "data": null}).to_string());
    let Ok(req) = serde_json::from_str::<Value>(body) else { return err(400, "POST body must be JSON".into()) };
    let Some(query) = req["query"].as_str() else { return err(400, "Must provide query string.".into()) };
    let variables = if req["variables"].is_null() { json!({}) } else { req["variables"].clone() };
    let op = match lex(query).and_then(|toks| Parser { toks, at: 0 }.operation()) {
        Ok(op) => op,
        Err(e) => return err(400, e),
    };
    if let Err(e) = validate(schema, &op, &variables) {
        return err(400, e);
    }
    st.requests += 1;
    let mut data = Map::new();
    for sel in &op.sels {
        if op.kind == "mutation" && st.fail_next.as_deref() == Some(sel.name.as_str()) {
            st.fail_next = None;
            return (200, json!({"errors": [{"message": "Problem processing request", "path": [sel.name]}], "data": null}).to_string());
        }
        let args = args_json(sel, &variables);
        match resolve(st, &sel.name, &args, project_token) {
            Ok(v) => {
                if op.kind == "mutation" {
                    st.mutations += 1;
                    st.mutation_log.push(sel.name.clone());
                }
                data.insert(sel.alias.clone().unwrap_or_else(|| sel.name.clone()), project_sel(&v, &sel.sels));
            }
            Err(m) => return (200, json!({"errors": [{"message": m, "path": [sel.name]}], "data": null}).to_string()),
        }
    }
    (200, json!({"data": data}).to_string())
}

pub struct FakeRailway {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeRailway {
    /// Serves on a loopback port at `/graphql/v2`. A bearer token or a
    /// `Project-Access-Token` is required; a project token belongs to the project
    /// `token_project` names (aideploy sends loopback endpoints a placeholder).
    pub fn start() -> FakeRailway {
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let schema = parse_schema();
        let (port, _log) = common::fake_http(move |req| {
            let mut st = s.lock().unwrap();
            let header = |name: &str| req.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            if req.method != "POST" || req.path != "/graphql/v2" {
                return (404, json!({"errors": [{"message": format!("no route {} {}", req.method, req.path)}]}).to_string());
            }
            let bearer = header("authorization").filter(|a| a.starts_with("Bearer ") && a.len() > "Bearer ".len());
            let project = header("project-access-token").filter(|t| !t.is_empty());
            if bearer.is_none() && project.is_none() {
                return (200, json!({"errors": [{"message": "Not Authorized"}], "data": null}).to_string());
            }
            let token_project = project.map(|_| st.token_project.clone().unwrap_or_default());
            let (status, body) = answer(&mut st, &schema, &req.body, token_project.as_deref());
            if status == 400 {
                st.rejected.push(format!("{}: {body}", req.body.chars().take(200).collect::<String>()));
            }
            (status, body)
        });
        FakeRailway { url: format!("http://127.0.0.1:{port}/graphql/v2"), state }
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    fn run(st: &mut State, query: &str, variables: Value) -> (u16, Value) {
        let (code, body) = answer(st, &parse_schema(), &json!({"query": query, "variables": variables}).to_string(), None);
        (code, serde_json::from_str(&body).unwrap())
    }

    fn message(v: &Value) -> &str {
        v["errors"][0]["message"].as_str().unwrap_or("")
    }

    #[test]
    fn rejects_what_the_schema_does_not_have() {
        let mut st = State::default();
        let (code, v) = run(&mut st, "query { projects { edges { node { id colour } } } }", json!({}));
        assert_eq!(code, 400);
        assert_eq!(message(&v), "Cannot query field \"colour\" on type \"Project\".");
        let (code, v) = run(&mut st, "query P($id: Int!) { project(id: $id) { id } }", json!({"id": 1}));
        assert_eq!(code, 400);
        assert!(message(&v).contains("of type \"Int!\" used in position expecting type \"String!\""), "{v}");
        let (code, v) = run(&mut st, "query { project { id } }", json!({}));
        assert_eq!(code, 400);
        assert!(message(&v).contains("argument \"id\" of type \"String!\" is required"), "{v}");
        let (code, v) = run(&mut st, "query { project(id: \"x\", name: \"y\") { id } }", json!({}));
        assert_eq!(code, 400);
        assert!(message(&v).contains("Unknown argument \"name\""), "{v}");
        let (code, v) = run(&mut st, "query { project(id: \"x\") }", json!({}));
        assert_eq!(code, 400);
        assert!(message(&v).contains("must have a selection of subfields"), "{v}");
        let (code, v) = run(
            &mut st,
            "mutation M($input: ProjectCreateInput!) { projectCreate(input: $input) { id } }",
            json!({"input": {"name": "a", "colour": "red"}}),
        );
        assert_eq!(code, 400);
        assert!(message(&v).contains("Field \"colour\" is not defined by type \"ProjectCreateInput\""), "{v}");
        let (code, v) = run(
            &mut st,
            "mutation M($input: EnvironmentCreateInput!) { environmentCreate(input: $input) { id } }",
            json!({"input": {"name": "dev"}}),
        );
        assert_eq!(code, 400);
        assert!(message(&v).contains("EnvironmentCreateInput.projectId\" of required type \"String!\" was not provided"), "{v}");
        let (code, v) = run(
            &mut st,
            "mutation M($input: ServiceDomainCreateInput!) { serviceDomainCreate(input: $input) { id } }",
            json!({"input": {"environmentId": "e", "serviceId": "s", "targetPort": "8000"}}),
        );
        assert_eq!(code, 400);
        assert!(message(&v).contains("Int cannot represent"), "{v}");
        let (code, v) = run(&mut st, "query Q($x: String) { projects { edges { cursor } } }", json!({}));
        assert_eq!(code, 400);
        assert!(message(&v).contains("never used"), "{v}");
        let (code, v) = run(&mut st, "query { project(id: $id) { id } }", json!({}));
        assert_eq!(code, 400);
        assert!(message(&v).contains("\"$id\" is not defined"), "{v}");
        assert_eq!(st.mutations, 0);

        // A valid mutation runs, is counted, and answers only what was selected.
        let (code, v) = run(
            &mut st,
            "mutation M($input: ProjectCreateInput!) { projectCreate(input: $input) { id name } }",
            json!({"input": {"name": "a", "defaultEnvironmentName": "dev"}}),
        );
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["data"]["projectCreate"]["name"], "a");
        assert!(v["data"]["projectCreate"].get("description").is_none());
        assert_eq!(st.mutations, 1);
        // Looking up what does not exist is an error, as on Railway.
        let (code, v) = run(&mut st, "query P($id: String!) { project(id: $id) { id } }", json!({"id": "nope"}));
        assert_eq!(code, 200);
        assert_eq!(message(&v), "Project not found");
    }
}
