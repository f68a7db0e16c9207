//! samconfig.toml against template.yaml: `sam build` and `sam deploy` of one
//! environment read the same parameter overrides, so the architecture a
//! build compiles for is the one its deploy declares.

use std::collections::BTreeMap;

use shopsphere_template::{Template, template_path};

/// `parameter_overrides` of each `[env.command.parameters]` section of samconfig.toml.
fn overrides() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(template_path().with_file_name("samconfig.toml")).expect("samconfig.toml");
    let mut section = String::new();
    let mut found = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some(value) = line.strip_prefix("parameter_overrides") {
            let value = value.trim_start().trim_start_matches('=').trim().trim_matches('"');
            found.insert(section.clone(), value.to_owned());
        }
    }
    found
}

#[test]
fn parameter_overrides_are_set_per_environment_for_every_command_at_once() {
    let found = overrides();
    assert!(!found.is_empty(), "samconfig.toml sets no parameter_overrides");
    for (section, value) in &found {
        assert!(
            section.ends_with(".global.parameters"),
            "[{section}] sets parameter_overrides for one command: build and deploy could then differ ({value})"
        );
        assert!(value.contains("Architecture="), "[{section}]: no Architecture ({value})");
    }
}

#[test]
fn every_override_names_a_template_parameter() {
    let template = Template::load(&template_path()).expect("template.yaml parses");
    let parameters = template.raw["Parameters"].as_mapping().expect("Parameters");
    for (section, value) in overrides() {
        for pair in value.split_whitespace() {
            let (key, _) = pair.split_once('=').unwrap_or_else(|| panic!("[{section}]: {pair} is not KEY=VALUE"));
            assert!(parameters.contains_key(key), "[{section}]: {key} is not a parameter of template.yaml");
        }
    }
}
