//! docs/permissions.md stays true for AWS: every AWS SDK call in src/ (a fluent call
//! `client.operation()` whose builder reaches `.send()`) is mapped to the IAM action it
//! needs, and that action must be in the policy document of every target that makes the
//! call. A call found in no document fails with its file:line and the action to add.
//!
//! The scan reads the source as text: comments and string literals are blanked first, a
//! receiver (`c.lambda`, `gw`, `self.s3`, `client`) is resolved to its SDK crate through
//! the nearest declaration (`lambda: aws_sdk_lambda::Client`, `client: &Client` with
//! `use aws_sdk_secretsmanager::Client`, `let gw = &c.apigw`), and what the request
//! carries adds the actions AWS checks besides the operation's own: tags on create, a
//! role passed to a service.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common;

const AWS_TARGETS: [&str; 3] = ["lambda", "ec2", "sagemaker"];
const ALL: &[&str] = &AWS_TARGETS;
/// The documents besides the targets': `ci` is what `aideploy ci init` and `ci destroy`
/// call (every file of src/ci/), checked the same way.
const OTHER_DOCUMENTS: [(&str, &str); 1] = [("ci", "src/ci/")];

/// Files outside a target's folder that call AWS, and the targets that reach them: the
/// role helpers, the shared artifact bucket and the lease in it (every AWS target holds
/// a lease), the Secrets Manager store, the ECR repository helpers (the image targets),
/// the CloudWatch Logs reader (`logs` of lambda, sagemaker and ec2; ec2 also owns its
/// log group), the CloudWatch metrics reader (`status --metrics` of lambda and sagemaker).
/// Each row's `uses` are the names by which a target's folder reaches the file (checked
/// below: a target is listed exactly when its folder names one of them).
const SHARED: &[(&str, &[&str], &[&str])] = &[
    ("src/cloud/aws.rs", &["cloud::aws::"], ALL),
    ("src/cloud/aws_bucket.rs", &["aws_bucket", "s3_lease"], ALL),
    ("src/cloud/s3_lease.rs", &["s3_lease"], ALL),
    ("src/cloud/ecr.rs", &["cloud::ecr"], &["lambda", "ec2"]),
    ("src/secrets/aws.rs", &["secrets::aws"], ALL),
    ("src/cloud/aws_logs.rs", &["aws_logs"], &["lambda", "sagemaker", "ec2"]),
    ("src/cloud/aws_metrics.rs", &["aws_metrics"], &["lambda", "sagemaker"]),
    // The budget alert of `[cost] budget_usd`: src/backends/budget.rs wraps every target
    // and reaches it for each whose provider is AWS, so every AWS target's folder, which
    // names `cloud::aws::`, reaches it.
    ("src/cloud/aws_budget.rs", &["cloud::aws::"], ALL),
];

/// Functions of a shared file that fewer targets reach, with the name a target's folder
/// calls them by (checked below), if any: `ecr_login` is the ECR registry login, asked
/// for only when an image is pushed or read (lambda, ec2); of the artifact bucket, every
/// AWS target creates and reads the bucket (the lease lives there), but only lambda and
/// sagemaker store, list and delete objects in it.
const NARROWER: &[(&str, &str, Option<&str>, &[&str])] = &[
    ("src/cloud/aws_logs.rs", "read_group", Some("aws_logs::read_group"), &["ec2"]),
    ("src/cloud/aws_logs.rs", "ensure_group", Some("aws_logs::ensure_group"), &["ec2"]),
    ("src/cloud/aws_logs.rs", "delete_group", Some("aws_logs::delete_group"), &["ec2"]),
    ("src/cloud/aws.rs", "ecr_login", None, &["lambda", "ec2"]),
    ("src/cloud/aws_bucket.rs", "has_object", Some("aws_bucket::has_object"), &["lambda"]),
    ("src/cloud/aws_bucket.rs", "put_object", Some("aws_bucket::put_object"), &["lambda", "sagemaker"]),
    ("src/cloud/aws_bucket.rs", "list_prefix", Some("aws_bucket::list_prefix"), &["sagemaker"]),
    ("src/cloud/aws_bucket.rs", "delete_prefix", Some("aws_bucket::delete_prefix"), &["lambda", "sagemaker"]),
];

/// Operations whose IAM action is not `prefix:OperationName`.
const RENAMED: &[(&str, &str, &[&str])] = &[
    ("lambda", "Invoke", &["lambda:InvokeFunction"]),
    ("s3", "HeadBucket", &["s3:ListBucket"]),
    ("s3", "HeadObject", &["s3:GetObject"]),
    ("s3", "ListObjectsV2", &["s3:ListBucket"]),
    ("s3", "ListObjectVersions", &["s3:ListBucketVersions"]),
    ("s3", "GetBucketEncryption", &["s3:GetEncryptionConfiguration"]),
    ("s3", "PutBucketEncryption", &["s3:PutEncryptionConfiguration"]),
    ("s3", "GetBucketLifecycleConfiguration", &["s3:GetLifecycleConfiguration"]),
    ("s3", "PutBucketLifecycleConfiguration", &["s3:PutLifecycleConfiguration"]),
    ("s3", "GetPublicAccessBlock", &["s3:GetBucketPublicAccessBlock"]),
    ("s3", "PutPublicAccessBlock", &["s3:PutBucketPublicAccessBlock"]),
    ("s3", "DeleteObjects", &["s3:DeleteObject", "s3:DeleteObjectVersion"]),
    ("s3", "CreateMultipartUpload", &["s3:PutObject"]),
    ("s3", "UploadPart", &["s3:PutObject"]),
    ("s3", "CompleteMultipartUpload", &["s3:PutObject"]),
    // AWS Budgets authorizes by two actions for all of its budget operations.
    ("budgets", "DescribeBudget", &["budgets:ViewBudget"]),
    ("budgets", "DescribeNotificationsForBudget", &["budgets:ViewBudget"]),
    ("budgets", "DescribeSubscribersForNotification", &["budgets:ViewBudget"]),
    ("budgets", "CreateBudget", &["budgets:ModifyBudget"]),
    ("budgets", "UpdateBudget", &["budgets:ModifyBudget"]),
    ("budgets", "DeleteBudget", &["budgets:ModifyBudget"]),
    ("budgets", "CreateNotification", &["budgets:ModifyBudget"]),
    ("budgets", "DeleteNotification", &["budgets:ModifyBudget"]),
];

/// A call found in the source.
#[derive(Debug)]
pub struct Call {
    pub file: String,
    pub line: usize,
    /// `lambda` for aws_sdk_lambda.
    pub krate: String,
    pub op: String,
    /// The builder's methods (`function_name`, `tags`, `role`...).
    pub methods: BTreeSet<String>,
    /// The function the call is in.
    pub func: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
}

/// Blanks comments, string and char literals (newlines kept), so only code is scanned.
fn mask(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in out.iter_mut().take(to.min(b.len())).skip(from) {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            let end = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let end = src[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) && (i == 0 || !is_ident(b[i - 1])) {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = src[start..].find(&close).map_or(b.len(), |p| start + p + close.len());
            blank(&mut out, start, end - close.len());
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1, j);
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('a', '\n', '\u{1F600}'), not a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..].iter().position(|&c| c == b'\'').map(|p| i + 2 + p)
            } else {
                src[i + 1..].chars().next().map(|c| i + 1 + c.len_utf8()).filter(|&e| b.get(e) == Some(&b'\''))
            };
            match end {
                Some(e) => {
                    blank(&mut out, i + 1, e);
                    i = e + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Identifiers and punctuation with their lines.
fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let b = code.as_bytes();
    let (mut out, mut line, mut i) = (Vec::new(), 1, 0);
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if is_ident(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            out.push((Tok::Ident(code[start..i].to_string()), line));
        } else if c.is_ascii_whitespace() || !c.is_ascii() {
            i += 1;
        } else {
            out.push((Tok::Punct(c as char), line));
            i += 1;
        }
    }
    out
}

fn ident(t: &[(Tok, usize)], i: usize) -> Option<&str> {
    match t.get(i) {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn punct(t: &[(Tok, usize)], i: usize, c: char) -> bool {
    matches!(t.get(i), Some((Tok::Punct(p), _)) if *p == c)
}

/// The index after the group opened at `i` (`(`, `[` or `{`).
fn skip_group(t: &[(Tok, usize)], mut i: usize) -> usize {
    let mut depth = 0i32;
    while i < t.len() {
        match t[i].0 {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Walks the method chain starting at `i` (a `.`): its method names, and whether it
/// reaches `.send()`.
fn chain(t: &[(Tok, usize)], mut i: usize, methods: &mut BTreeSet<String>) -> bool {
    while punct(t, i, '.') {
        let Some(m) = ident(t, i + 1) else { return false };
        if m == "send" && punct(t, i + 2, '(') && punct(t, i + 3, ')') {
            return true;
        }
        methods.insert(m.to_string());
        i += 2;
        if punct(t, i, '(') {
            i = skip_group(t, i);
        }
    }
    false
}

/// Where a name is declared as an SDK client: (name, crate, token index).
type Bindings = Vec<(String, String, usize)>;

fn bindings(t: &[(Tok, usize)]) -> Bindings {
    let mut out: Bindings = Vec::new();
    // `use aws_sdk_X::Client;` makes a bare `Client` that crate's.
    let mut bare = None;
    for i in 0..t.len() {
        if ident(t, i) == Some("use") && ident(t, i + 4) == Some("Client") && punct(t, i + 2, ':') {
            bare = ident(t, i + 1).and_then(|k| k.strip_prefix("aws_sdk_")).map(str::to_string).or(bare);
        }
    }
    for i in 0..t.len() {
        let Some(name) = ident(t, i) else { continue };
        // `name: &?(mut)? path::to::Client`
        if punct(t, i + 1, ':') && !punct(t, i + 2, ':') && !(i > 0 && punct(t, i - 1, ':')) {
            let mut j = i + 2;
            while punct(t, j, '&') || ident(t, j) == Some("mut") {
                j += 1;
            }
            let mut path = vec![];
            while let Some(seg) = ident(t, j) {
                path.push(seg);
                if punct(t, j + 1, ':') && punct(t, j + 2, ':') {
                    j += 3;
                } else {
                    break;
                }
            }
            if path.last() == Some(&"Client") {
                let krate = path.iter().find_map(|s| s.strip_prefix("aws_sdk_")).map(str::to_string);
                if let Some(k) = krate.or_else(|| (path.len() == 1).then(|| bare.clone()).flatten()) {
                    out.push((name.to_string(), k, i));
                }
            }
        }
        // `let (mut)? name = <initializer>;`
        if name == "let" {
            let mut j = i + 1;
            if ident(t, j) == Some("mut") {
                j += 1;
            }
            let (Some(var), true) = (ident(t, j), punct(t, j + 1, '=')) else { continue };
            let mut end = j + 2;
            while end < t.len() && !punct(t, end, ';') {
                end = if matches!(t[end].0, Tok::Punct('(' | '[' | '{')) { skip_group(t, end) } else { end + 1 };
            }
            let init = &t[j + 2..end];
            let id = |k: usize| ident(init, k);
            let mut krate = None;
            for k in 0..init.len() {
                if id(k) == Some("aws_client") && punct(init, k + 1, '!') {
                    krate = id(k + 3).and_then(|s| s.strip_prefix("aws_sdk_")).map(str::to_string);
                } else if let Some(s) = id(k).and_then(|s| s.strip_prefix("aws_sdk_")).filter(|_| id(k + 3) == Some("Client")) {
                    krate = Some(s.to_string());
                } else if id(k) == Some("aws_bucket") && id(k + 3) == Some("client") {
                    krate = Some("s3".into());
                }
            }
            // An alias: `let gw = &c.apigw;`
            let simple = init.iter().all(|(tok, _)| matches!(tok, Tok::Ident(_) | Tok::Punct('.' | '&')));
            if krate.is_none() && simple {
                if let Some(last) = init.iter().rev().find_map(|(tok, _)| if let Tok::Ident(s) = tok { Some(s.clone()) } else { None }) {
                    krate = resolve(&out, &last, i).or_else(|| Some(format!("={last}")));
                }
            }
            if let Some(k) = krate {
                out.push((var.to_string(), k, i));
            }
        }
    }
    out
}

/// The crate `name` is, by its nearest declaration before `at`, else any in `b`.
fn resolve(b: &Bindings, name: &str, at: usize) -> Option<String> {
    let mine = b.iter().filter(|(n, _, _)| n == name);
    mine.clone().rfind(|(_, _, i)| *i < at).or_else(|| mine.clone().next()).map(|(_, k, _)| k.clone())
}

/// The name of the function declared last before token `at`.
fn func_at(t: &[(Tok, usize)], at: usize) -> String {
    (0..at).rev().find(|&i| ident(t, i) == Some("fn")).and_then(|i| ident(t, i + 1)).unwrap_or("").to_string()
}

/// Every AWS SDK call in `files` (path, text). `Err` lists what the scan cannot place.
pub fn scan(files: &[(String, String)]) -> Result<Vec<Call>, Vec<String>> {
    let scanned: Vec<(String, Vec<(Tok, usize)>)> = files.iter().map(|(p, s)| (p.clone(), tokens(&mask(s)))).collect();
    let own: Vec<Bindings> = scanned.iter().map(|(_, t)| bindings(t)).collect();
    let dir = |p: &str| Path::new(p).parent().map(|d| d.to_path_buf());
    let (mut calls, mut errors) = (Vec::new(), Vec::new());
    for (n, (path, t)) in scanned.iter().enumerate() {
        // Fields and parameters of the other files of the folder, then of every file.
        let near: Bindings =
            scanned.iter().enumerate().filter(|(m, (p, _))| *m != n && dir(p) == dir(path)).flat_map(|(m, _)| own[m].clone()).collect();
        let all: Bindings = own.iter().flatten().cloned().collect();
        let lookup = |name: &str, at: usize| -> Option<String> {
            let mut k = resolve(&own[n], name, at).or_else(|| resolve(&near, name, usize::MAX));
            if k.is_none() {
                let found: BTreeSet<String> = all.iter().filter(|(b, _, _)| b == name).map(|(_, k, _)| k.clone()).collect();
                k = (found.len() == 1).then(|| found.into_iter().next()).flatten();
            }
            // An alias of a field declared elsewhere: `=apigw`.
            match k {
                Some(alias) if alias.starts_with('=') => {
                    let field = &alias[1..];
                    resolve(&near, field, usize::MAX).or_else(|| resolve(&all, field, usize::MAX))
                }
                other => other,
            }
        };
        for i in 0..t.len() {
            let (Some(recv), true, Some(op), true, true) =
                (ident(t, i), punct(t, i + 1, '.'), ident(t, i + 2), punct(t, i + 3, '('), punct(t, i + 4, ')'))
            else {
                continue;
            };
            if !op.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') || recv == "self" {
                continue;
            }
            let mut methods = BTreeSet::new();
            let mut sends = chain(t, i + 5, &mut methods);
            if !sends {
                // `let mut req = iam.create_role()...; ... req.tags(..); req.send()`
                let mut s = i;
                while s >= 2 && punct(t, s - 1, '.') && ident(t, s - 2).is_some() {
                    s -= 2;
                }
                let var = if punct(t, s.wrapping_sub(1), '=') { ident(t, s.wrapping_sub(2)) } else { None };
                if let Some(var) = var {
                    // Up to the next function: the variable is this function's.
                    let end = (i + 5..t.len()).find(|&j| ident(t, j) == Some("fn")).unwrap_or(t.len());
                    for j in i + 5..end {
                        if ident(t, j) == Some(var) && !punct(t, j - 1, '.') && chain(t, j + 1, &mut methods) {
                            sends = true;
                        }
                    }
                }
            }
            if !sends {
                continue;
            }
            let line = t[i + 2].1;
            match lookup(recv, i) {
                Some(krate) => calls.push(Call { file: path.clone(), line, krate, op: op.to_string(), methods, func: func_at(t, i) }),
                None => errors.push(format!(
                    "{path}:{line}: `{recv}.{op}()` is sent, but which AWS SDK client `{recv}` is cannot be told \
                     (declare it as `{recv}: aws_sdk_NAME::Client` or bind it with `let {recv} = &clients.FIELD`)"
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(calls)
    } else {
        Err(errors)
    }
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The IAM actions a call needs: its operation's, plus tagging on create and
/// `iam:PassRole` for a role handed to a service.
pub fn actions(c: &Call) -> Result<Vec<String>, String> {
    let op = pascal(&c.op);
    let prefix = match c.krate.as_str() {
        "lambda" | "iam" | "s3" | "secretsmanager" | "ec2" | "ecr" | "sagemaker" | "sts" | "budgets" => c.krate.clone(),
        // API Gateway's IAM actions are HTTP verbs on resource paths.
        "apigatewayv2" => "apigateway".into(),
        "cloudwatchlogs" => "logs".into(),
        "cloudwatch" => "cloudwatch".into(),
        "elasticloadbalancingv2" => "elasticloadbalancing".into(),
        other => return Err(format!("{}:{}: aws_sdk_{other} has no IAM prefix in tests/permissions_doc.rs: add it", c.file, c.line)),
    };
    let mut out = match RENAMED.iter().find(|(k, o, _)| *k == prefix && *o == op) {
        Some((_, _, a)) => a.iter().map(|s| s.to_string()).collect(),
        None if prefix == "apigateway" => {
            let verb = match c.op.split('_').next().unwrap_or("") {
                "get" => "GET",
                "create" => "POST",
                "update" => "PATCH",
                "delete" => "DELETE",
                "put" | "import" | "reimport" => "PUT",
                "tag" => "POST",
                "untag" => "DELETE",
                _ => return Err(format!("{}:{}: no HTTP verb known for API Gateway {op}", c.file, c.line)),
            };
            vec![format!("apigateway:{verb}")]
        }
        None => vec![format!("{prefix}:{op}")],
    };
    let has = |m: &str| c.methods.contains(m);
    // A `Tag*` operation is the tagging action itself.
    if (has("tags") || has("set_tags") || has("tag_specifications") || has("set_resource_tags") || has("resource_tags"))
        && !op.starts_with("Tag")
    {
        out.push(match prefix.as_str() {
            "iam" => format!("iam:Tag{}", op.trim_start_matches("Create")),
            "ec2" => "ec2:CreateTags".into(),
            "sagemaker" => "sagemaker:AddTags".into(),
            "elasticloadbalancing" => "elasticloadbalancing:AddTags".into(),
            "apigateway" => "apigateway:POST".into(),
            other => format!("{other}:TagResource"),
        });
    }
    if (c.op == "put_object" || c.op == "create_multipart_upload") && has("tagging") {
        out.push("s3:PutObjectTagging".into());
    }
    if has("role") || has("execution_role_arn") || has("iam_instance_profile") {
        out.push("iam:PassRole".into());
    }
    Ok(out)
}

/// The targets whose document must allow `c`.
fn targets_of(c: &Call) -> Vec<&'static str> {
    if let Some((doc, _)) = OTHER_DOCUMENTS.iter().find(|(_, dir)| c.file.starts_with(dir)) {
        return vec![*doc];
    }
    if let Some(t) = AWS_TARGETS.iter().find(|t| c.file.starts_with(&format!("src/backends/{t}/"))) {
        return vec![*t];
    }
    if let Some((_, _, _, ts)) = NARROWER.iter().find(|(f, func, _, _)| *f == c.file && *func == c.func) {
        return ts.to_vec();
    }
    SHARED.iter().find(|(f, _, _)| *f == c.file).map(|(_, _, ts)| ts.to_vec()).unwrap_or_default()
}

/// Each target's policy: the actions in the first ```json fence after its `## target`
/// heading, by statement id.
pub fn documents(md: &str) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    let mut out = BTreeMap::new();
    let mut lines = md.lines();
    let mut current: Option<String> = None;
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("## ") {
            let first = h.split_whitespace().next().unwrap_or("").trim_matches('`');
            current = (AWS_TARGETS.contains(&first) || OTHER_DOCUMENTS.iter().any(|(d, _)| *d == first)).then(|| first.to_string());
        } else if line.trim() == "```json" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            let Some(target) = current.take() else { continue };
            let doc: serde_json::Value =
                serde_json::from_str(&body.join("\n")).unwrap_or_else(|e| panic!("the {target} policy is not JSON: {e}"));
            let mut statements = Vec::new();
            for s in doc["Statement"].as_array().into_iter().flatten() {
                let list = match &s["Action"] {
                    serde_json::Value::String(a) => vec![a.clone()],
                    v => v.as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)).collect(),
                };
                statements.push((s["Sid"].as_str().unwrap_or("").to_string(), list));
            }
            out.insert(target, statements);
        }
    }
    out
}

fn allows(listed: &str, action: &str) -> bool {
    let (l, a) = (listed.to_ascii_lowercase(), action.to_ascii_lowercase());
    match l.strip_suffix('*') {
        Some(head) => a.starts_with(head),
        None => l == a,
    }
}

/// What the documents lack: one line per call and target.
pub fn missing(calls: &[Call], docs: &BTreeMap<String, Vec<(String, Vec<String>)>>) -> Vec<String> {
    let mut out = Vec::new();
    for c in calls {
        let needed = match actions(c) {
            Ok(a) => a,
            Err(e) => {
                out.push(e);
                continue;
            }
        };
        let targets = targets_of(c);
        if targets.is_empty() {
            out.push(format!(
                "{}: calls AWS but is in no target's folder nor in SHARED (tests/permissions_doc.rs): say which targets reach it",
                c.file
            ));
        }
        for t in targets {
            let listed: Vec<&String> = docs.get(t).into_iter().flatten().flat_map(|(_, a)| a).collect();
            for a in &needed {
                if !listed.iter().any(|l| allows(l, a)) {
                    out.push(format!("{}:{}: `{}()` needs {a}: add it to the {t} policy in docs/permissions.md", c.file, c.line, c.op));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The source files that may call AWS: the AWS targets' folders and any file naming an
/// AWS SDK crate.
fn aws_sources() -> Vec<(String, String)> {
    let root = common::root();
    let mut out = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
                let text = std::fs::read_to_string(&p).unwrap();
                if text.contains("aws_sdk_") || AWS_TARGETS.iter().any(|t| rel.starts_with(&format!("src/backends/{t}/"))) {
                    out.push((rel, text));
                }
            }
        }
    }
    out.sort();
    out
}

fn is_read_action(a: &str) -> bool {
    let name = a.split(':').nth(1).unwrap_or("");
    // `budgets:ViewBudget` is AWS Budgets' one read action.
    ["Get", "List", "Describe", "Head", "BatchGet", "BatchCheck", "Filter", "View"].iter().any(|p| name.starts_with(p))
        || a == "apigateway:GET"
}

#[test]
fn every_aws_call_is_in_its_targets_policy() {
    let files = aws_sources();
    let calls = scan(&files).unwrap_or_else(|e| panic!("the scan cannot place these calls:\n{}", e.join("\n")));
    let md = std::fs::read_to_string(common::root().join("docs/permissions.md")).unwrap();
    let docs = documents(&md);
    assert_eq!(
        docs.keys().map(String::as_str).collect::<Vec<_>>(),
        ["ci", "ec2", "lambda", "sagemaker"],
        "a policy per AWS target, and ci's"
    );
    let lacking = missing(&calls, &docs);
    assert!(lacking.is_empty(), "docs/permissions.md lacks what the code calls:\n{}", lacking.join("\n"));

    // A scanner that finds little proves nothing: each target's calls, counted.
    let mut per_target: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for c in &calls {
        for t in targets_of(c) {
            per_target.entry(t).or_default().extend(actions(c).unwrap());
        }
    }
    for (t, least) in [("lambda", 60), ("ec2", 55), ("sagemaker", 48), ("ci", 25)] {
        let n = per_target.get(t).map_or(0, BTreeSet::len);
        assert!(n >= least, "only {n} distinct actions found for {t} (at least {least} expected): is the scan broken?");
    }
    for krate in ["lambda", "apigatewayv2", "iam", "s3", "secretsmanager", "ec2", "ecr", "sagemaker", "sts", "cloudwatchlogs", "cloudwatch"]
    {
        assert!(calls.iter().any(|c| c.krate == krate), "no call of aws_sdk_{krate} found");
    }

    // A plan-only role takes the read statements alone: they must not write.
    for (t, statements) in &docs {
        for (sid, list) in statements.iter().filter(|(sid, _)| sid.starts_with("Read")) {
            let writes: Vec<&String> = list.iter().filter(|a| !is_read_action(a)).collect();
            assert!(writes.is_empty(), "the {t} statement {sid} is read-only but lists {writes:?}");
        }
        assert!(statements.iter().any(|(sid, _)| sid.starts_with("Read")), "the {t} policy has no Read statement");
    }
}

#[test]
fn shared_files_are_placed_and_their_targets_true() {
    let files = aws_sources();
    let backends: BTreeMap<&str, String> = AWS_TARGETS
        .iter()
        .map(|t| (*t, files.iter().filter(|(p, _)| p.starts_with(&format!("src/backends/{t}/"))).map(|(_, s)| s.as_str()).collect()))
        .collect();
    for (file, uses, targets) in SHARED {
        assert!(files.iter().any(|(p, _)| p == file), "{file} no longer calls AWS: drop it from SHARED");
        for t in AWS_TARGETS {
            let reaches = uses.iter().any(|u| backends[t].contains(u));
            assert_eq!(reaches, targets.contains(&t), "SHARED says {file} is reached by {targets:?}; src/backends/{t} says otherwise");
        }
    }
    for (file, func, uses, targets) in NARROWER {
        assert!(std::fs::read_to_string(common::root().join(file)).unwrap().contains(&format!("fn {func}(")), "{file} has no fn {func}");
        for t in uses.iter().flat_map(|u| AWS_TARGETS.map(|t| (u, t))).map(|(u, t)| (t, backends[t].contains(u))) {
            assert_eq!(
                t.1,
                targets.contains(&t.0),
                "NARROWER says {file}'s {func} is reached by {targets:?}; src/backends/{} says otherwise",
                t.0
            );
        }
    }
    // Every other folder naming an AWS SDK crate is a target's, and that target has a policy.
    let root = common::root();
    for e in std::fs::read_dir(root.join("src/backends")).unwrap().map(Result::unwrap) {
        let name = e.file_name().to_string_lossy().to_string();
        if files.iter().any(|(p, s)| p.starts_with(&format!("src/backends/{name}/")) && s.contains("aws_sdk_")) {
            assert!(AWS_TARGETS.contains(&name.as_str()), "src/backends/{name} calls AWS: give it a policy in docs/permissions.md");
        }
    }
    for c in scan(&files).unwrap_or_default() {
        assert!(!targets_of(&c).is_empty(), "{} makes AWS calls but is in no target's folder nor in SHARED", c.file);
    }
}

#[test]
fn a_call_the_document_lacks_is_named_with_its_line() {
    let src = r#"
use aws_sdk_secretsmanager::Client;
pub struct Clients { pub lambda: aws_sdk_lambda::Client, pub iam: aws_sdk_iam::Client }
// c.lambda.delete_function().send() in a comment is no call
async fn go(c: &Clients, client: &Client) {
    let s = "c.lambda.get_alias().send()";
    c.lambda.get_function().function_name("f").send().await;
    let mut req = c.iam.create_role().role_name("r");
    req = req.tags(tag);
    req.send().await;
    client.get_secret_value().secret_id(x).send().await;
    c.lambda
        .delete_alias()
        .function_name("f")
        .send()
        .await;
    let keys = n.secrets.keys();
}
"#;
    let calls = scan(&[("src/backends/lambda/x.rs".to_string(), src.to_string())]).unwrap();
    let found: Vec<String> = calls.iter().map(|c| format!("{}:{}", c.krate, c.op)).collect();
    assert_eq!(found, ["lambda:get_function", "iam:create_role", "secretsmanager:get_secret_value", "lambda:delete_alias"]);
    let md = "## lambda\n\n```json\n{\"Statement\": [{\"Sid\": \"Read\", \"Action\": [\"lambda:GetFunction\", \"secretsmanager:Get*\"]},\
              {\"Sid\": \"Write\", \"Action\": [\"iam:CreateRole\"]}]}\n```\n";
    let lacking = missing(&calls, &documents(md));
    assert_eq!(
        lacking,
        [
            "src/backends/lambda/x.rs:13: `delete_alias()` needs lambda:DeleteAlias: add it to the lambda policy in docs/permissions.md",
            "src/backends/lambda/x.rs:8: `create_role()` needs iam:TagRole: add it to the lambda policy in docs/permissions.md",
        ]
    );
    // A receiver the scan cannot place fails it, rather than being skipped.
    let unknown = scan(&[("src/backends/lambda/y.rs".to_string(), "fn f() { thing.put_item().send(); }".to_string())]);
    assert!(unknown.is_err_and(|e| e[0].contains("y.rs:1") && e[0].contains("thing")));
}
