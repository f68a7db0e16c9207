//! Least privilege on what is deployed: the template as the SAM transform
//! turns it into CloudFormation ([`processed`]), where the roles, managed
//! policies and event-source grants SAM adds are visible. [`check`] reports
//! every Allow on `Resource: "*"` beyond the actions IAM only grants that
//! way, every AWS managed policy attached, service statements of the key
//! policy without their confused-deputy conditions, and every queue without
//! a policy that refuses plain-HTTP access.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Template, TemplateError, Value, one_or_many, ref_target};

/// Actions with no resource type in IAM's service authorization reference:
/// `"*"` is the only resource they can be granted on. The only wildcard grants allowed.
pub const WILDCARD_ACTIONS: &[&str] = &[
    // Tracing: Active.
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    // Lambda checks it when it creates the orders stream's mapping.
    "dynamodb:ListStreams",
];

/// AWS managed policies a role may have (each one a reason in ADR 0004): none.
pub const NEEDED_MANAGED_POLICIES: &[&str] = &[];

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("running {0}: {1}")]
    Spawn(PathBuf, std::io::Error),
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("the processed template: {0}")]
    Template(#[from] TemplateError),
}

/// The repository's root (where .ci/tools.sh is).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(command: &mut Command) -> Result<String, ProcessError> {
    let program = PathBuf::from(command.get_program());
    let output = command.output().map_err(|e| ProcessError::Spawn(program.clone(), e))?;
    if !output.status.success() {
        return Err(ProcessError::Failed {
            command: format!("{command:?}"),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `template` (a SAM template) as CloudFormation deploys it: the pinned SAM
/// translator of .ci/tools.sh's venv (installed there once, by `make lint`
/// or this call; offline after) run by `transform.py`.
pub fn processed(template: &Path) -> Result<Template, ProcessError> {
    let tools = run(&mut Command::new(root().join(".ci/tools.sh")))?;
    let python = Path::new(tools.trim()).join("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("transform.py");
    let json = run(Command::new(python).arg(script).arg(template))?;
    Ok(Template::parse(&json)?)
}

fn strs(v: &Value) -> Vec<&str> {
    one_or_many(v).into_iter().filter_map(Value::as_str).collect()
}

fn allows(statement: &Value) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
}

fn on_every_resource(statement: &Value) -> bool {
    statement.get("Resource").map(strs).unwrap_or_default().contains(&"*")
}

/// What is wrong with an identity statement that allows on `"*"` (or on
/// everything but something), unless every action is one IAM grants only so.
pub fn wildcard_grant(statement: &Value) -> Option<String> {
    if !allows(statement) {
        return None;
    }
    let actions = statement.get("Action").map(strs).unwrap_or_default();
    if statement.get("NotResource").is_some() {
        return Some(format!("Allow {actions:?} with NotResource"));
    }
    (on_every_resource(statement) && !actions.iter().all(|a| WILDCARD_ACTIONS.contains(a)))
        .then(|| format!("Allow {actions:?} on Resource \"*\""))
}

/// The statements of a policy document.
fn statements(document: Option<&Value>) -> Vec<&Value> {
    document.and_then(|d| d.get("Statement")).map(one_or_many).unwrap_or_default()
}

/// Whether a condition block tests `key` (with any operator).
fn conditions_on(statement: &Value, key: &str) -> bool {
    let Some(Value::Mapping(operators)) = statement.get("Condition") else { return false };
    operators
        .values()
        .filter_map(Value::as_mapping)
        .flat_map(|m| m.keys())
        .any(|k| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(key)))
}

/// Every least-privilege rule over a processed template; empty when it keeps them.
pub fn check(processed: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let mut tls_only = Vec::new();
    for (id, r) in &processed.resources {
        let identity: Vec<&Value> = match r.kind.as_str() {
            "AWS::IAM::Role" => {
                for arn in r.prop("ManagedPolicyArns").map(one_or_many).unwrap_or_default() {
                    let named = arn.as_str().unwrap_or("(an intrinsic)");
                    if !NEEDED_MANAGED_POLICIES.contains(&named) {
                        problems.push(format!("{id}: managed policy {named} attached"));
                    }
                }
                r.prop("Policies")
                    .map(one_or_many)
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|p| statements(p.get("PolicyDocument")))
                    .collect()
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
                statements(r.prop("PolicyDocument"))
            }
            "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" => {
                let document = r.prop("PolicyDocument");
                if r.kind == "AWS::SQS::QueuePolicy"
                    && statements(document).iter().any(|s| {
                        s.get("Effect").and_then(Value::as_str) == Some("Deny")
                            && s.get("Condition")
                                .and_then(|c| c.get("Bool"))
                                .and_then(|b| b.get("aws:SecureTransport"))
                                .and_then(Value::as_str)
                                == Some("false")
                    })
                {
                    tls_only.extend(
                        r.prop("Queues").map(one_or_many).unwrap_or_default().into_iter().filter_map(ref_target),
                    );
                }
                statements(document)
            }
            "AWS::KMS::Key" => {
                // In a key policy "*" is the key itself; a service principal
                // must be held to this account and this stack's resources.
                for s in statements(r.prop("KeyPolicy")) {
                    let service = s.get("Principal").and_then(|p| p.get("Service")).is_some();
                    if allows(s)
                        && service
                        && !(conditions_on(s, "aws:SourceAccount") && conditions_on(s, "aws:SourceArn"))
                    {
                        let sid = s.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)");
                        problems.push(format!(
                            "{id}: {sid} lets a service use the key without aws:SourceAccount and aws:SourceArn"
                        ));
                    }
                }
                vec![]
            }
            _ => vec![],
        };
        problems.extend(identity.into_iter().filter_map(wildcard_grant).map(|w| format!("{id}: {w}")));
        if r.kind == "AWS::Lambda::Function"
            && r.prop("Role")
                .and_then(crate::getatt_target)
                .is_none_or(|(role, _)| !processed.resources.contains_key(role))
        {
            problems.push(format!("{id}: its role is not a role of this template"));
        }
    }
    for (id, _) in processed.of_kind("AWS::SQS::Queue") {
        if !tls_only.contains(&id) {
            problems.push(format!("{id}: no queue policy denies access without TLS (aws:SecureTransport false)"));
        }
    }
    problems
}
