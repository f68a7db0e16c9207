//! template.yaml on LocalStack: deploy it with the functions off, read what
//! it created, and resolve each function's definition against it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use shopsphere_template::{Template, Value, ref_target, with_code_uri};

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

/// Create the stack from `template_text` with `DeployFunctions=false`, or
/// reuse it when it is already complete.
pub async fn ensure(cfn: &Client, name: &str, template_text: &str, stage: &str) -> anyhow::Result<Stack> {
    let existing = cfn.describe_stacks().stack_name(name).send().await.ok().and_then(|o| o.stacks?.into_iter().next());
    if existing.as_ref().and_then(|s| s.stack_status()) != Some(&StackStatus::CreateComplete) {
        if existing.is_some() {
            cfn.delete_stack().stack_name(name).send().await.context("deleting a failed stack")?;
        }
        let param = |k: &str, v: &str| Parameter::builder().parameter_key(k).parameter_value(v).build();
        cfn.create_stack()
            .stack_name(name)
            .template_body(with_code_uri(template_text, CODE_URI))
            .parameters(param("Stage", stage))
            .parameters(param("DeployFunctions", "false"))
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityAutoExpand)
            .send()
            .await
            .context("creating the stack")?;
    }
    let start = Instant::now();
    let stack = loop {
        let stack = cfn.describe_stacks().stack_name(name).send().await?.stacks.unwrap_or_default().remove(0);
        match stack.stack_status() {
            Some(StackStatus::CreateComplete) => break stack,
            Some(StackStatus::CreateInProgress) if start.elapsed() < Duration::from_secs(120) => {
                tokio::time::sleep(Duration::from_millis(300)).await
            }
            other => bail!("stack {name} is {other:?}: {:?}", stack.stack_status_reason()),
        }
    };
    let resources = cfn.describe_stack_resources().stack_name(name).send().await?.stack_resources.unwrap_or_default();
    Ok(Stack {
        name: name.to_owned(),
        parameters: stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value()?.to_owned())))
            .collect(),
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

/// What the host needs to run one function, read from the template.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub logical_id: String,
    pub binary: String,
    pub timeout: Duration,
    pub memory_mb: u64,
    /// Globals' variables overlaid with the function's own, unresolved.
    pub environment: BTreeMap<String, Value>,
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
    })
}

impl Stack {
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
