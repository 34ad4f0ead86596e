//! The instance role's documents: who may assume it, and what it may do.

use super::*;

pub(super) fn trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// The role's only permissions: write the container's log group (`logs`: region and
/// group), pull from its ECR repository, read this app's secrets, and (`ssm`: a private
/// instance) take SSM sessions. `None` when it needs none.
pub(super) fn role_policy(
    logs: Option<(&str, &str)>,
    repo_arn: Option<&str>,
    secret_arns: &BTreeMap<String, String>,
    ssm: bool,
) -> Option<serde_json::Value> {
    let mut statements = Vec::new();
    if let Some((region, group)) = logs {
        let arn = format!("arn:aws:logs:{region}:*:log-group:{group}");
        statements.push(json!({
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [arn.clone(), format!("{arn}:*")]
        }));
    }
    if let Some(arn) = repo_arn {
        statements.push(json!({"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}));
        statements.push(json!({
            "Sid": "EcrPull",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": [arn]
        }));
    }
    if !secret_arns.is_empty() {
        statements.push(json!({"Sid": "OwnSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arns.values().collect::<Vec<_>>()}));
    }
    if ssm {
        statements.push(access::ssm_statement());
    }
    (!statements.is_empty()).then(|| json!({"Version": "2012-10-17", "Statement": statements}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_scopes_to_the_repository_and_secrets() {
        assert_eq!(role_policy(None, None, &BTreeMap::new(), false), None);
        // A private instance takes SSM sessions: that statement and nothing more.
        let ssm = role_policy(None, None, &BTreeMap::new(), true).unwrap();
        assert_eq!(ssm["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(ssm["Statement"][0]["Sid"], "SsmSessions");
        // The container writes its own log group, nothing else of CloudWatch.
        let logs = role_policy(Some(("eu-west-1", "/aideploy/app-dev")), None, &BTreeMap::new(), false).unwrap();
        assert_eq!(logs["Statement"][0]["Action"], json!(["logs:CreateLogStream", "logs:PutLogEvents"]));
        assert_eq!(
            logs["Statement"][0]["Resource"],
            json!(["arn:aws:logs:eu-west-1:*:log-group:/aideploy/app-dev", "arn:aws:logs:eu-west-1:*:log-group:/aideploy/app-dev:*"])
        );
        let arn = ecr::repo_arn("123456789012.dkr.ecr.eu-west-1.amazonaws.com/aideploy/app-dev").unwrap();
        assert_eq!(arn, "arn:aws:ecr:eu-west-1:123456789012:repository/aideploy/app-dev");
        assert_eq!(ecr::repo_arn("ghcr.io/a/b"), None);
        let secrets = BTreeMap::from([("K".to_string(), "arn:aws:secretsmanager:eu-west-1:1:secret:aideploy/app/dev/K-x".to_string())]);
        let p = role_policy(None, Some(&arn), &secrets, false).unwrap();
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(st[1]["Resource"], json!([arn]));
        assert_eq!(st[2]["Resource"], json!(["arn:aws:secretsmanager:eu-west-1:1:secret:aideploy/app/dev/K-x"]));
    }
}
