//! template.yaml as data: its resources, with CloudFormation's short tags
//! (`!Ref`, `!GetAtt`, `!Sub`...) and long forms (`Ref`, `Fn::GetAtt`) read
//! alike, and the wiring checks (`check`) that keep it consistent with the
//! event types each function's crate declares, (`least_privilege`) that
//! what SAM deploys grants no more than the functions need, and (`features`)
//! that the function binaries tested are the ones shipped.

pub mod check;
pub mod features;
pub mod least_privilege;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use serde_yaml_ng::Value;
use serde_yaml_ng::value::TaggedValue;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("reading {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template has no Resources map")]
    NoResources,
}

/// One resource of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub kind: String,
    pub condition: Option<String>,
    pub properties: Value,
    pub metadata: Value,
}

impl Resource {
    pub fn prop(&self, name: &str) -> Option<&Value> {
        self.properties.get(name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub resources: BTreeMap<String, Resource>,
    pub raw: Value,
}

/// The binaries the template's functions are built from (`BuildProperties.Binary`).
pub fn function_binaries(template: &Template) -> Vec<String> {
    template
        .of_kind("AWS::Serverless::Function")
        .filter_map(|(_, f)| f.metadata.get("BuildProperties")?.get("Binary")?.as_str().map(str::to_owned))
        .collect()
}

/// The repository's template.yaml.
pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

impl Template {
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Io(path.to_owned(), e))?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let raw: Value = serde_yaml_ng::from_str(text)?;
        let resources = raw
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or(TemplateError::NoResources)?
            .iter()
            .filter_map(|(id, r)| {
                Some((
                    id.as_str()?.to_owned(),
                    Resource {
                        kind: r.get("Type")?.as_str()?.to_owned(),
                        condition: r.get("Condition").and_then(Value::as_str).map(str::to_owned),
                        properties: r.get("Properties").cloned().unwrap_or(Value::Null),
                        metadata: r.get("Metadata").cloned().unwrap_or(Value::Null),
                    },
                ))
            })
            .collect();
        Ok(Template { resources, raw })
    }

    /// Resources of one type, by logical id.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Resource)> + 'a {
        self.resources.iter().filter(move |(_, r)| r.kind == kind).map(|(id, r)| (id.as_str(), r))
    }
}

/// The template with every function's local `CodeUri` replaced by `uri`, as
/// `sam package` does: CloudFormation's SAM transform accepts only S3 URIs.
pub fn with_code_uri(text: &str, uri: &str) -> String {
    text.lines()
        .map(|line| match line.trim_start().strip_prefix("CodeUri:") {
            Some(value) if !value.trim().starts_with("s3://") => {
                format!("{}CodeUri: {uri}", &line[..line.len() - line.trim_start().len()])
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) => {
            let TaggedValue { tag: t_tag, value } = t.as_ref();
            (t_tag == tag).then_some(value)
        }
        _ => None,
    }
}

/// The argument of intrinsic `name` (`If`, `Equals`, `Sub`...) in either form:
/// `!If [...]` or `{Fn::If: [...]}` (`Condition` and `Ref` have no `Fn::`).
pub fn intrinsic<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let long = match name {
        "Ref" | "Condition" => name.to_owned(),
        other => format!("Fn::{other}"),
    };
    tagged(v, name).or_else(|| v.as_mapping().filter(|m| m.len() == 1).and_then(|_| v.get(long.as_str())))
}

/// The logical id a value refers to with `!Ref X` / `{Ref: X}`.
pub fn ref_target(v: &Value) -> Option<&str> {
    tagged(v, "Ref").or_else(|| v.get("Ref")).and_then(Value::as_str)
}

/// `(logical id, attribute)` of `!GetAtt X.Attr` / `{Fn::GetAtt: [X, Attr]}`.
pub fn getatt_target(v: &Value) -> Option<(&str, &str)> {
    if let Some(s) = tagged(v, "GetAtt").and_then(Value::as_str) {
        return s.split_once('.');
    }
    let parts = v.get("Fn::GetAtt").or_else(|| tagged(v, "GetAtt"))?.as_sequence()?;
    Some((parts.first()?.as_str()?, parts.get(1)?.as_str()?))
}

/// A value that is one item or a list of items, as a list.
pub fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_code_uris_become_s3_uris() {
        let text = "A:\n    CodeUri: .\nB:\n  CodeUri: s3://b/k.zip\n";
        assert_eq!(with_code_uri(text, "s3://x/y.zip"), "A:\n    CodeUri: s3://x/y.zip\nB:\n  CodeUri: s3://b/k.zip\n");
    }

    #[test]
    fn short_and_long_forms_read_alike() {
        let t = Template::parse(
            "Resources:\n  A:\n    Type: X\n    Properties:\n      S: !Ref B\n      L: {Ref: B}\n      G: !GetAtt B.Arn\n      H: {Fn::GetAtt: [B, Arn]}\n",
        )
        .unwrap();
        let a = &t.resources["A"];
        assert_eq!(ref_target(a.prop("S").unwrap()), Some("B"));
        assert_eq!(ref_target(a.prop("L").unwrap()), Some("B"));
        assert_eq!(getatt_target(a.prop("G").unwrap()), Some(("B", "Arn")));
        assert_eq!(getatt_target(a.prop("H").unwrap()), Some(("B", "Arn")));
    }

    #[test]
    fn intrinsics_read_alike_in_both_forms() {
        let t = Template::parse(
            "Resources:\n  A:\n    Type: X\n    Properties:\n      S: !If [C, a, b]\n      L: {Fn::If: [C, a, b]}\n      N: !Condition C\n",
        )
        .unwrap();
        let a = &t.resources["A"];
        assert_eq!(intrinsic(a.prop("S").unwrap(), "If"), intrinsic(a.prop("L").unwrap(), "If"));
        assert_eq!(intrinsic(a.prop("S").unwrap(), "If").and_then(Value::as_sequence).map(Vec::len), Some(3));
        assert_eq!(intrinsic(a.prop("N").unwrap(), "Condition").and_then(Value::as_str), Some("C"));
        assert_eq!(intrinsic(a.prop("S").unwrap(), "Sub"), None);
    }
}
