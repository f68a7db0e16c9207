//! template.yaml on LocalStack: deploy it with the functions off, read what
//! it created, and resolve each function's definition against it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use shopsphere_template::{Template, Value, getatt_target, intrinsic, one_or_many, ref_target, with_code_uri};

/// Functions are off, so CloudFormation never reads this object; the SAM
/// transform only insists on an S3 URI (as after `sam package`).
const CODE_URI: &str = "s3://shopsphere-local-artifacts/functions.zip";

/// A deployed stack: its parameters and the physical id of every resource.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub parameters: HashMap<String, String>,
    pub physical: HashMap<String, String>,
    pub outputs: HashMap<String, String>,
}

/// Where the template goes for CloudFormation to read it (TemplateURL):
/// inline it may not pass 51,200 bytes, so it goes through S3 as `sam deploy`
/// sends it.
const TEMPLATE_BUCKET: &str = "shopsphere-local-templates";

/// Put `body` in S3 for `stack`; its URL for CloudFormation.
pub async fn upload(config: &aws_config::SdkConfig, stack: &str, body: &str) -> anyhow::Result<String> {
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build());
    if let Err(e) = s3.create_bucket().bucket(TEMPLATE_BUCKET).send().await {
        let owned =
            e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists());
        anyhow::ensure!(owned, "creating bucket {TEMPLATE_BUCKET}: {}", shopsphere_runtime::error_chain(&e));
    }
    let key = format!("{stack}.template.yaml");
    s3.put_object()
        .bucket(TEMPLATE_BUCKET)
        .key(&key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .context("uploading the template")?;
    let endpoint = config.endpoint_url().context("an emulator endpoint")?.trim_end_matches('/');
    Ok(format!("{endpoint}/{TEMPLATE_BUCKET}/{key}"))
}

/// Create the stack from `template_text` with `DeployFunctions=false` and
/// `parameters`, or reuse it when it is complete with the same template and
/// parameters. A changed template or parameter set recreates it: local state
/// is disposable, and recreating is faster and surer than an update.
pub async fn ensure(
    config: &aws_config::SdkConfig,
    name: &str,
    template_text: &str,
    parameters: &BTreeMap<String, String>,
) -> anyhow::Result<Stack> {
    let cfn = &Client::new(config);
    let body = with_code_uri(template_text, CODE_URI);
    let mut wanted = parameters.clone();
    wanted.insert("DeployFunctions".into(), "false".into());
    let existing = cfn.describe_stacks().stack_name(name).send().await.ok().and_then(|o| o.stacks?.into_iter().next());
    let reusable = match &existing {
        Some(stack) if stack.stack_status() == Some(&StackStatus::CreateComplete) => {
            let deployed = cfn.get_template().stack_name(name).send().await?.template_body.unwrap_or_default();
            let given: BTreeMap<String, String> = stack
                .parameters()
                .iter()
                .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value()?.to_owned())))
                .filter(|(k, _)| wanted.contains_key(k))
                .collect();
            deployed == body && given == wanted
        }
        _ => false,
    };
    if !reusable {
        if existing.is_some() {
            delete(config, name).await?;
        }
        let mut create = cfn
            .create_stack()
            .stack_name(name)
            .template_url(upload(config, name, &body).await?)
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityAutoExpand);
        for (key, value) in &wanted {
            create = create.parameters(Parameter::builder().parameter_key(key).parameter_value(value).build());
        }
        create.send().await.context("creating the stack")?;
    }
    let start = Instant::now();
    let stack = loop {
        let stack = cfn.describe_stacks().stack_name(name).send().await?.stacks.unwrap_or_default().remove(0);
        match stack.stack_status() {
            Some(StackStatus::CreateComplete) => break stack,
            Some(StackStatus::CreateInProgress) if start.elapsed() < STACK_WAIT => {
                tokio::time::sleep(Duration::from_millis(300)).await
            }
            other => bail!("stack {name} is {other:?}: {:?}", stack.stack_status_reason()),
        }
    };
    let resources = cfn.describe_stack_resources().stack_name(name).send().await?.stack_resources.unwrap_or_default();
    // LocalStack does not always list parameters left at their default; the
    // template says what those are.
    let mut effective = defaults(template_text)?;
    effective.extend(
        stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value()?.to_owned()))),
    );
    Ok(Stack {
        name: name.to_owned(),
        parameters: effective,
        physical: resources
            .into_iter()
            .filter_map(|r| Some((r.logical_resource_id?, r.physical_resource_id?)))
            .collect(),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect(),
    })
}

const STACK_WAIT: Duration = Duration::from_secs(120);

/// Each template parameter's `Default`, as text.
pub fn defaults(template_text: &str) -> anyhow::Result<HashMap<String, String>> {
    let template = Template::parse(template_text)?;
    let parameters = template.raw.get("Parameters").and_then(Value::as_mapping).into_iter().flatten();
    Ok(parameters
        .filter_map(|(name, p)| {
            let default = match p.get("Default")? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((name.as_str()?.to_owned(), default))
        })
        .collect())
}

/// Delete the stack and wait until it is gone.
/// Delete stack `name`, wait until it is gone, then delete the tables it
/// retained: `DeletionPolicy: Retain` keeps them on AWS, but local state is
/// disposable, and a stack of the same name could not be created over them.
pub async fn delete(config: &aws_config::SdkConfig, name: &str) -> anyhow::Result<()> {
    let cfn = &Client::new(config);
    let tables: Vec<String> = match cfn.describe_stack_resources().stack_name(name).send().await {
        Ok(out) => out
            .stack_resources
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.resource_type() == Some("AWS::DynamoDB::Table"))
            .filter_map(|r| r.physical_resource_id)
            .collect(),
        Err(_) => vec![], // no such stack
    };
    cfn.delete_stack().stack_name(name).send().await.context("deleting the stack")?;
    wait_deleted(cfn, name).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    for table in tables {
        if let Err(e) = dynamodb.delete_table().table_name(&table).send().await {
            let gone = e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception());
            anyhow::ensure!(gone, "deleting the retained table {table}: {}", shopsphere_runtime::error_chain(&e));
        }
    }
    Ok(())
}

async fn wait_deleted(cfn: &Client, name: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let status = match cfn.describe_stacks().stack_name(name).send().await {
            Ok(out) => out.stacks.unwrap_or_default().into_iter().next().and_then(|s| s.stack_status),
            Err(_) => None, // "does not exist"
        };
        match status {
            None | Some(StackStatus::DeleteComplete) => return Ok(()),
            Some(_) if start.elapsed() < STACK_WAIT => tokio::time::sleep(Duration::from_millis(300)).await,
            Some(other) => bail!("stack {name} is still {other:?}"),
        }
    }
}

/// What the host needs to run one function, read from the template.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub logical_id: String,
    pub binary: String,
    pub timeout: Duration,
    pub memory_mb: u64,
    /// Globals' variables overlaid with the function's own, unresolved.
    pub environment: BTreeMap<String, Value>,
    /// What invokes it (its `Events`), in template order.
    pub events: Vec<EventSource>,
}

/// One of a function's `Events`, with the settings the host honours.
#[derive(Debug, Clone, PartialEq)]
pub enum EventSource {
    Sqs(SqsSource),
    Stream(StreamSource),
    Http(Route),
}

/// An SQS event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct SqsSource {
    /// Logical id of the queue.
    pub queue: String,
    pub batch_size: usize,
    pub batching_window: Duration,
    /// `ScalingConfig.MaximumConcurrency`; Lambda's default cap otherwise.
    pub maximum_concurrency: usize,
    pub report_batch_item_failures: bool,
    pub enabled: bool,
}

/// A DynamoDB stream event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSource {
    /// Logical id of the table whose stream is read.
    pub table: String,
    pub from_trim_horizon: bool,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub bisect_on_error: bool,
    /// `None`: retry until the record expires (`-1`, Lambda's default).
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_record_age: Option<Duration>,
    pub report_batch_item_failures: bool,
    /// `FilterCriteria.Filters[].Pattern`, parsed.
    pub filters: Vec<serde_json::Value>,
    /// Logical id of the on-failure queue.
    pub on_failure: Option<String>,
    pub enabled: bool,
}

/// An HTTP API route (`Type: HttpApi`).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub method: String,
    pub path: String,
    /// The JWT authorizer that guards it: the event's `Auth.Authorizer`, else
    /// its API's `DefaultAuthorizer`; `None` for an open route (`NONE`).
    pub authorizer: Option<AuthorizerSpec>,
}

/// A JWT authorizer of an `AWS::Serverless::HttpApi` (`Auth.Authorizers`),
/// its issuer and audience as the template writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizerSpec {
    pub name: String,
    pub identity_source: String,
    pub issuer: Value,
    pub audience: Vec<Value>,
    /// The template's `Conditions`, which `!If`s in issuer and audience test.
    pub conditions: Value,
}

fn route(t: &Template, function: &str, name: &str, props: &Value) -> anyhow::Result<Route> {
    let api = props.get("ApiId").and_then(ref_target).and_then(|id| t.resources.get(id));
    let auth = api.and_then(|a| a.prop("Auth"));
    let chosen = props
        .get("Auth")
        .and_then(|a| a.get("Authorizer"))
        .or_else(|| auth.and_then(|a| a.get("DefaultAuthorizer")))
        .and_then(Value::as_str)
        .filter(|n| *n != "NONE");
    let authorizer = match chosen {
        None => None,
        Some(chosen) => {
            let spec = auth
                .and_then(|a| a.get("Authorizers"))
                .and_then(|a| a.get(chosen))
                .with_context(|| format!("{function}.Events.{name}: its API has no authorizer {chosen}"))?;
            let jwt = spec.get("JwtConfiguration").with_context(|| {
                format!("{function}.Events.{name}: authorizer {chosen} is not a JWT one (the local host runs JWT authorizers)")
            })?;
            Some(AuthorizerSpec {
                name: chosen.to_owned(),
                identity_source: spec
                    .get("IdentitySource")
                    .and_then(Value::as_str)
                    .unwrap_or("$request.header.Authorization")
                    .to_owned(),
                issuer: jwt.get("issuer").cloned().unwrap_or(Value::Null),
                audience: jwt.get("audience").map(one_or_many).unwrap_or_default().into_iter().cloned().collect(),
                conditions: t.raw.get("Conditions").cloned().unwrap_or(Value::Null),
            })
        }
    };
    Ok(Route {
        method: props.get("Method").and_then(Value::as_str).unwrap_or("ANY").to_uppercase(),
        path: props.get("Path").and_then(Value::as_str).unwrap_or("/{proxy+}").to_owned(),
        authorizer,
    })
}

/// Lambda's concurrency cap for an SQS mapping without `ScalingConfig`
/// stands in for "unreserved account concurrency" locally.
const DEFAULT_SQS_CONCURRENCY: usize = 5;

fn event_source(t: &Template, function: &str, name: &str, event: &Value) -> anyhow::Result<EventSource> {
    let props = event.get("Properties").cloned().unwrap_or(Value::Null);
    let int = |key: &str| props.get(key).and_then(Value::as_i64);
    let secs = |key: &str| int(key).map(|s| Duration::from_secs(s.max(0) as u64));
    let target = |key: &str| {
        props
            .get(key)
            .and_then(getatt_target)
            .map(|(id, _)| id.to_owned())
            .with_context(|| format!("{function}.Events.{name}: {key} must be a !GetAtt"))
    };
    let reports = props
        .get("FunctionResponseTypes")
        .map(one_or_many)
        .unwrap_or_default()
        .iter()
        .any(|t| t.as_str() == Some("ReportBatchItemFailures"));
    let enabled = props.get("Enabled").and_then(Value::as_bool).unwrap_or(true);
    Ok(match event.get("Type").and_then(Value::as_str) {
        Some("SQS") => EventSource::Sqs(SqsSource {
            queue: target("Queue")?,
            batch_size: int("BatchSize").unwrap_or(10) as usize,
            batching_window: secs("MaximumBatchingWindowInSeconds").unwrap_or_default(),
            maximum_concurrency: props
                .get("ScalingConfig")
                .and_then(|s| s.get("MaximumConcurrency"))
                .and_then(Value::as_u64)
                .map_or(DEFAULT_SQS_CONCURRENCY, |n| n as usize),
            report_batch_item_failures: reports,
            enabled,
        }),
        Some("DynamoDB") => EventSource::Stream(StreamSource {
            table: target("Stream")?,
            from_trim_horizon: props.get("StartingPosition").and_then(Value::as_str) == Some("TRIM_HORIZON"),
            batch_size: int("BatchSize").unwrap_or(100) as usize,
            batching_window: secs("MaximumBatchingWindowInSeconds").unwrap_or_default(),
            bisect_on_error: props.get("BisectBatchOnFunctionError").and_then(Value::as_bool).unwrap_or(false),
            maximum_retry_attempts: int("MaximumRetryAttempts").filter(|n| *n >= 0).map(|n| n as u32),
            maximum_record_age: secs("MaximumRecordAgeInSeconds").filter(|d| !d.is_zero()),
            report_batch_item_failures: reports,
            filters: props
                .get("FilterCriteria")
                .and_then(|f| f.get("Filters"))
                .map(one_or_many)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.get("Pattern")?.as_str())
                .map(|p| serde_json::from_str(p).with_context(|| format!("{function}.Events.{name}: filter {p}")))
                .collect::<anyhow::Result<_>>()?,
            on_failure: props
                .get("DestinationConfig")
                .and_then(|d| d.get("OnFailure"))
                .and_then(|o| o.get("Destination"))
                .and_then(getatt_target)
                .map(|(id, _)| id.to_owned()),
            enabled,
        }),
        Some("HttpApi") => EventSource::Http(route(t, function, name, &props)?),
        other => bail!("{function}.Events.{name}: the local host does not run {other:?} event sources"),
    })
}

fn variables(v: Option<&Value>) -> BTreeMap<String, Value> {
    v.and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone()))).collect())
        .unwrap_or_default()
}

/// The function `logical_id` of the template.
pub fn function(t: &Template, logical_id: &str) -> anyhow::Result<FunctionSpec> {
    let f = t
        .resources
        .get(logical_id)
        .filter(|r| r.kind == "AWS::Serverless::Function")
        .with_context(|| format!("template.yaml has no function {logical_id}"))?;
    let globals = t.raw.get("Globals").and_then(|g| g.get("Function"));
    let setting = |name: &str| f.prop(name).or_else(|| globals.and_then(|g| g.get(name))).and_then(Value::as_u64);
    let mut environment = variables(globals.and_then(|g| g.get("Environment")));
    environment.extend(variables(f.prop("Environment")));
    Ok(FunctionSpec {
        logical_id: logical_id.to_owned(),
        binary: f
            .metadata
            .get("BuildProperties")
            .and_then(|b| b.get("Binary"))
            .and_then(Value::as_str)
            .with_context(|| format!("{logical_id} has no Metadata.BuildProperties.Binary"))?
            .to_owned(),
        timeout: Duration::from_secs(setting("Timeout").unwrap_or(3)),
        memory_mb: setting("MemorySize").unwrap_or(128),
        environment,
        events: f
            .prop("Events")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .map(|(name, event)| event_source(t, logical_id, name.as_str().unwrap_or_default(), event))
            .collect::<anyhow::Result<_>>()?,
    })
}

/// Every function of the template, by logical id.
pub fn functions(t: &Template) -> anyhow::Result<Vec<FunctionSpec>> {
    t.of_kind("AWS::Serverless::Function").map(|(id, _)| function(t, id)).collect()
}

/// Set by whoever runs a function locally, never from the template: the host
/// serves the endpoint itself, and the template's entry (its `EndpointUrl`
/// parameter) exists for `sam local` containers.
pub const ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL";

impl FunctionSpec {
    /// The function's template environment with every `!Ref` resolved against
    /// the deployed `stack`: table names, queue URLs, topic ARNs, parameters.
    pub fn resolved_environment(&self, stack: &Stack) -> anyhow::Result<Vec<(String, String)>> {
        self.environment
            .iter()
            .filter(|(key, _)| key.as_str() != ENDPOINT_VARIABLE)
            .map(|(key, value)| {
                let value = stack.resolve(value).with_context(|| format!("{}: {key}", self.logical_id))?;
                Ok((key.clone(), value))
            })
            .collect()
    }
}

/// A `sam local --env-vars` file for `functions` against the deployed
/// `stack`: each function's variables by logical id, and under `Parameters`
/// the endpoint its containers reach LocalStack at.
pub fn sam_env_vars(
    functions: &[FunctionSpec],
    stack: &Stack,
    container_endpoint: &str,
) -> anyhow::Result<serde_json::Value> {
    let mut file = serde_json::Map::new();
    file.insert("Parameters".into(), serde_json::json!({ ENDPOINT_VARIABLE: container_endpoint }));
    for function in functions {
        let variables: serde_json::Map<String, serde_json::Value> = function
            .resolved_environment(stack)?
            .into_iter()
            .map(|(key, value)| (key, serde_json::Value::String(value)))
            .collect();
        file.insert(function.logical_id.clone(), variables.into());
    }
    Ok(file.into())
}

impl Stack {
    /// A value that may be `!If [Condition, a, b]` (nested or not), the
    /// branch chosen by `conditions` evaluated against this stack's
    /// parameters, then [`Stack::resolve`]d.
    pub fn resolve_if(&self, conditions: &Value, value: &Value) -> anyhow::Result<String> {
        match intrinsic(value, "If").and_then(Value::as_sequence).map(Vec::as_slice) {
            Some([condition, yes, no]) => {
                let name = condition.as_str().context("!If names a condition")?;
                let chosen = if self.condition(conditions, name)? { yes } else { no };
                self.resolve_if(conditions, chosen)
            }
            Some(_) => bail!("!If takes [condition, value if true, value if false]"),
            None => self.resolve(value),
        }
    }

    /// Condition `name` of `conditions` on this stack's parameters.
    fn condition(&self, conditions: &Value, name: &str) -> anyhow::Result<bool> {
        let body = conditions.get(name).with_context(|| format!("the template has no condition {name}"))?;
        self.holds(conditions, body).with_context(|| format!("condition {name}"))
    }

    fn holds(&self, conditions: &Value, body: &Value) -> anyhow::Result<bool> {
        let operands = |f: &str| intrinsic(body, f).and_then(Value::as_sequence);
        if let Some(name) = intrinsic(body, "Condition").and_then(Value::as_str) {
            return self.condition(conditions, name);
        }
        if let Some([a, b]) = operands("Equals").map(Vec::as_slice) {
            return Ok(self.resolve(a)? == self.resolve(b)?);
        }
        if let Some([inner]) = operands("Not").map(Vec::as_slice) {
            return Ok(!self.holds(conditions, inner)?);
        }
        if let Some(all) = operands("And") {
            return all.iter().try_fold(true, |acc, c| Ok(acc && self.holds(conditions, c)?));
        }
        if let Some(any) = operands("Or") {
            return any.iter().try_fold(false, |acc, c| Ok(acc || self.holds(conditions, c)?));
        }
        bail!("cannot evaluate {body:?} locally")
    }

    /// A template value as the deployed stack gives it: `!Ref` of a resource
    /// is its physical id (queue URL, topic ARN, table name), of a parameter
    /// its value; scalars are themselves.
    pub fn resolve(&self, value: &Value) -> anyhow::Result<String> {
        if let Some(target) = ref_target(value) {
            return self
                .physical
                .get(target)
                .or_else(|| self.parameters.get(target))
                .cloned()
                .with_context(|| format!("!Ref {target}: no such resource or parameter in stack {}", self.name));
        }
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => bail!("cannot resolve {other:?} locally"),
        }
    }
}
