//! template.yaml deployed into MiniStack the way users ship it, by the real
//! `sam deploy` of the `sam build` output (x86_64 bootstraps in
//! `.aws-sam/local`), and its functions driven through AWS's own APIs: event
//! source mappings switched off and on, reserved concurrency, CloudWatch Logs,
//! IAM. MiniStack runs each bootstrap as a process and polls the queues and
//! the orders stream itself, so nothing of the project's host is involved.
//! docs/ministack.md has what the engine does and what it gets wrong.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_lambda::types::EventSourceMappingConfiguration;
use tokio::process::Command;
use tokio::sync::OnceCell;

/// Where `sam deploy` uploads the bootstraps and the template (which is past
/// CloudFormation's 51,200-byte inline limit). Created once per engine run.
const ARTIFACTS_BUCKET: &str = "shopsphere-sam-artifacts";
static BUCKET: OnceCell<()> = OnceCell::const_new();

/// The repository (this crate is ministack/stack).
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).expect("ministack/stack sits two levels down").to_path_buf()
}

/// The `sam build --config-env local` output that is deployed.
pub fn built_template() -> PathBuf {
    root().join(".aws-sam/local/template.yaml")
}

/// A deployed stack: its outputs, its functions by logical id, and the
/// clients that drive it.
pub struct Deployment {
    pub stack: String,
    pub endpoint: String,
    pub outputs: HashMap<String, String>,
    /// Logical id (`PaymentFunction`) to function name.
    pub functions: HashMap<String, String>,
    /// Resources in the stack, as CloudFormation lists them.
    pub resources: usize,
    cfn: aws_sdk_cloudformation::Client,
    lambda: aws_sdk_lambda::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    iam: aws_sdk_iam::Client,
    /// Logical id to the function's role name.
    roles: HashMap<String, String>,
}

impl Deployment {
    /// `sam deploy` of the built template as stack `stack`, with template
    /// `parameters` (Architecture is x86_64: the bootstraps run on this
    /// machine). Its output goes to `target/ministack/<stack>.deploy.log`;
    /// one line on stderr says how it went.
    pub async fn deploy(
        config: &SdkConfig,
        endpoint: &str,
        stack: &str,
        parameters: &[(String, String)],
    ) -> anyhow::Result<Deployment> {
        let template = built_template();
        anyhow::ensure!(
            template.exists(),
            "{} is missing: `make e2e-ministack` runs `sam build --config-env local` first",
            template.display()
        );
        BUCKET.get_or_try_init(|| create_bucket(config)).await?;
        let log_dir = root().join("target/ministack");
        std::fs::create_dir_all(&log_dir)?;
        let log_path = log_dir.join(format!("{stack}.deploy.log"));
        let log = std::fs::File::create(&log_path)?;
        let overrides: Vec<String> = [("Architecture".to_owned(), "x86_64".to_owned())]
            .iter()
            .chain(parameters)
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        let started = Instant::now();
        let status = Command::new(sam_cli().await?)
            .current_dir(root())
            .arg("deploy")
            .arg("--template-file")
            .arg(&template)
            .args(["--stack-name", stack, "--s3-bucket", ARTIFACTS_BUCKET, "--region", "us-east-1"])
            .args(["--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
            .args(["--no-confirm-changeset", "--no-fail-on-empty-changeset", "--parameter-overrides"])
            .args(&overrides)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("SAM_CLI_TELEMETRY", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()
            .await
            .context("running sam deploy")?;
        let deployment = Self::connect(config, endpoint, stack).await;
        // Straight to stderr: the test harness captures print macros, not this.
        let line = match &deployment {
            Ok(d) => format!(
                "sam deploy: stack {stack} created: {} resources, {} functions, in {:.1} s (log: {})\n",
                d.resources,
                d.functions.len(),
                started.elapsed().as_secs_f64(),
                log_path.display()
            ),
            Err(e) => format!("sam deploy: stack {stack} failed ({status}): {e:#}; see {}\n", log_path.display()),
        };
        std::io::stderr().write_all(line.as_bytes()).ok();
        anyhow::ensure!(status.success(), "sam deploy of {stack} exited with {status}; see {}", log_path.display());
        deployment
    }

    /// An existing stack.
    pub async fn connect(config: &SdkConfig, endpoint: &str, stack: &str) -> anyhow::Result<Deployment> {
        let cfn = aws_sdk_cloudformation::Client::new(config);
        let described = cfn.describe_stacks().stack_name(stack).send().await?;
        let found = described.stacks().first().with_context(|| format!("no stack {stack}"))?;
        let outputs = found
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        let mut functions = HashMap::new();
        let mut roles = HashMap::new();
        let mut resources = 0;
        let mut pages = cfn.list_stack_resources().stack_name(stack).into_paginator().send();
        while let Some(page) = pages.next().await {
            for resource in page?.stack_resource_summaries() {
                resources += 1;
                let (Some(logical), Some(physical)) = (resource.logical_resource_id(), resource.physical_resource_id())
                else {
                    continue;
                };
                match resource.resource_type() {
                    Some("AWS::Lambda::Function") => functions.insert(logical.to_owned(), physical.to_owned()),
                    // SAM names each function's role `<Function>Role`.
                    Some("AWS::IAM::Role") => roles.insert(logical.to_owned(), physical.to_owned()),
                    _ => None,
                };
            }
        }
        Ok(Deployment {
            stack: stack.to_owned(),
            endpoint: endpoint.to_owned(),
            outputs,
            functions,
            resources,
            cfn,
            lambda: aws_sdk_lambda::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            roles,
        })
    }

    /// The HTTP API's base URL: MiniStack serves every API under its own
    /// endpoint at `/_aws/execute-api/{ApiId}`.
    pub fn api(&self) -> anyhow::Result<String> {
        let id = self.outputs.get("HttpApiId").context("the stack has no HttpApiId output")?;
        Ok(format!("{}/_aws/execute-api/{id}", self.endpoint.trim_end_matches('/')))
    }

    pub fn function_name(&self, function: &str) -> anyhow::Result<&str> {
        self.functions.get(function).map(String::as_str).with_context(|| format!("the stack has no {function}"))
    }

    async fn mappings(&self, function: &str) -> anyhow::Result<Vec<EventSourceMappingConfiguration>> {
        let listed =
            self.lambda.list_event_source_mappings().function_name(self.function_name(function)?).send().await?;
        let mappings = listed.event_source_mappings().to_vec();
        anyhow::ensure!(!mappings.is_empty(), "{function} has no event source mapping");
        Ok(mappings)
    }

    /// Switch the function's event source mappings off (`false`: its queue or
    /// stream backs up, as when a consumer is down) or on, and wait until
    /// Lambda reports them so.
    pub async fn set_consuming(&self, function: &str, enabled: bool) -> anyhow::Result<()> {
        let wanted = if enabled { "Enabled" } else { "Disabled" };
        for mapping in self.mappings(function).await? {
            let uuid = mapping.uuid().context("a mapping has a UUID")?;
            self.lambda.update_event_source_mapping().uuid(uuid).enabled(enabled).send().await?;
            let started = Instant::now();
            loop {
                let state = self.lambda.get_event_source_mapping().uuid(uuid).send().await?.state;
                if state.as_deref() == Some(wanted) {
                    break;
                }
                anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "{function}: mapping {uuid} is {state:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Reserved concurrency: at most `instances` at once.
    pub async fn set_concurrency(&self, function: &str, instances: i32) -> anyhow::Result<()> {
        self.lambda
            .put_function_concurrency()
            .function_name(self.function_name(function)?)
            .reserved_concurrent_executions(instances)
            .send()
            .await?;
        Ok(())
    }

    /// Every line the function wrote to its log group so far.
    pub async fn log_lines(&self, function: &str) -> anyhow::Result<Vec<String>> {
        let group = format!("/aws/lambda/{}", self.function_name(function)?);
        let mut lines = Vec::new();
        let mut pages = self.logs.filter_log_events().log_group_name(&group).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => lines.extend(page.events().iter().filter_map(|e| e.message()).map(str::to_owned)),
                // No group yet: the function has not been invoked.
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(lines)
    }

    /// The function's role name (SAM names it `<Function>Role`).
    fn role(&self, function: &str) -> anyhow::Result<&str> {
        self.roles
            .get(&format!("{function}Role"))
            .map(String::as_str)
            .with_context(|| format!("{function} has no role"))
    }

    /// Remove every statement of the function's role that grants `action`
    /// (the role keeps everything else). Returns what was removed, for
    /// [`Deployment::restore_statements`].
    pub async fn revoke(&self, function: &str, action: &str) -> anyhow::Result<Vec<(String, String)>> {
        let role = self.role(function)?;
        let mut originals = Vec::new();
        for name in self.iam.list_role_policies().role_name(role).send().await?.policy_names() {
            let policy = self.iam.get_role_policy().role_name(role).policy_name(name).send().await?;
            // IAM answers with the document URL-encoded (RFC 3986).
            let text = percent_encoding::percent_decode_str(policy.policy_document()).decode_utf8()?.into_owned();
            let mut document: serde_json::Value = serde_json::from_str(&text)?;
            let statements = document["Statement"].as_array_mut().context("a policy has statements")?;
            let before = statements.len();
            statements.retain(|s| !grants(s, action));
            if statements.len() == before {
                continue;
            }
            originals.push((name.to_owned(), text));
            self.iam
                .put_role_policy()
                .role_name(role)
                .policy_name(name)
                .policy_document(document.to_string())
                .send()
                .await?;
        }
        anyhow::ensure!(!originals.is_empty(), "no statement of {role} grants {action}");
        Ok(originals)
    }

    pub async fn restore_statements(&self, function: &str, originals: Vec<(String, String)>) -> anyhow::Result<()> {
        let role = self.role(function)?;
        for (name, document) in originals {
            self.iam.put_role_policy().role_name(role).policy_name(name).policy_document(document).send().await?;
        }
        Ok(())
    }

    /// DeleteStack (the stack's function processes stay up in MiniStack until
    /// it stops: ms.sh stops its whole process group).
    pub async fn delete(&self) -> anyhow::Result<()> {
        self.cfn.delete_stack().stack_name(&self.stack).send().await?;
        Ok(())
    }
}

/// Whether an IAM statement allows `action` (exactly, not by wildcard).
fn grants(statement: &serde_json::Value, action: &str) -> bool {
    let actions = &statement["Action"];
    statement["Effect"] == "Allow"
        && (actions == action || actions.as_array().is_some_and(|a| a.iter().any(|x| x == action)))
}

async fn create_bucket(config: &SdkConfig) -> anyhow::Result<()> {
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build());
    match s3.create_bucket().bucket(ARTIFACTS_BUCKET).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => Ok(()),
        Err(e) => Err(e).context("creating the artifacts bucket"),
    }
}

/// The pinned SAM CLI (.ci/tools.sh installs it the first time), looked up
/// once per process.
async fn sam_cli() -> anyhow::Result<&'static Path> {
    static SAM: OnceCell<PathBuf> = OnceCell::const_new();
    let sam = SAM
        .get_or_try_init(|| async {
            let out = Command::new(root().join(".ci/tools.sh")).stderr(Stdio::inherit()).output().await?;
            anyhow::ensure!(out.status.success(), ".ci/tools.sh failed");
            anyhow::Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()).join("sam"))
        })
        .await?;
    Ok(sam)
}

#[cfg(test)]
mod tests {
    use super::grants;
    use serde_json::json;

    #[test]
    fn a_statement_grants_an_action_it_names_alone_or_in_a_list() {
        assert!(grants(&json!({"Effect": "Allow", "Action": "sns:Publish"}), "sns:Publish"));
        assert!(grants(&json!({"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"]}), "sns:Publish"));
        assert!(!grants(&json!({"Effect": "Deny", "Action": "sns:Publish"}), "sns:Publish"));
        assert!(!grants(&json!({"Effect": "Allow", "Action": ["sns:*"]}), "sns:Publish"));
    }
}
