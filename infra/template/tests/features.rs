//! The function binaries `make test` runs have the dependency features of the
//! ones `sam build` ships (see `shopsphere_template::features`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use shopsphere_template::features::{drift, parse_tree};
use shopsphere_template::{Template, function_binaries, template_path};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo).args(args).current_dir(root()).output().expect("run cargo");
    assert!(out.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The function packages, as the Makefile builds them: every crate under functions/.
fn function_packages() -> Vec<String> {
    let mut packages: Vec<String> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| format!("shopsphere-{}", e.file_name().to_string_lossy()))
        .collect();
    packages.sort();
    packages
}

fn tree(packages: &[String]) -> shopsphere_template::features::Features {
    let mut args = vec!["tree", "--offline", "-e", "normal,build", "-f", "{p}|{f}", "--prefix", "none"];
    for p in packages {
        args.extend(["-p", p.as_str()]);
    }
    parse_tree(&cargo(&args))
}

#[test]
fn every_template_function_is_built_from_a_function_package() {
    let metadata: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&cargo(&["metadata", "--offline", "--no-deps", "--format-version", "1"]))
            .expect("cargo metadata is JSON");
    let packages: BTreeSet<String> = function_packages().into_iter().collect();
    let mut bins_of_function_packages = BTreeSet::new();
    for package in metadata["packages"].as_sequence().expect("packages") {
        if !packages.contains(package["name"].as_str().unwrap_or_default()) {
            continue;
        }
        for target in package["targets"].as_sequence().expect("targets") {
            if target["kind"].as_sequence().is_some_and(|k| k.iter().any(|k| k.as_str() == Some("bin"))) {
                bins_of_function_packages.insert(target["name"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    let template = Template::load(&template_path()).expect("template.yaml");
    for binary in function_binaries(&template) {
        assert!(bins_of_function_packages.contains(&binary), "{binary} is no bin of a crate under functions/");
    }
}

#[test]
fn each_function_alone_has_the_features_the_functions_get_together() {
    let packages = function_packages();
    let together = tree(&packages);
    let problems: Vec<String> =
        packages.iter().flat_map(|p| drift(p, &tree(std::slice::from_ref(p)), &together)).collect();
    assert!(problems.is_empty(), "declare these features in the workspace's dependencies:\n{}", problems.join("\n"));
}

#[test]
fn the_makefile_builds_the_functions_in_an_invocation_of_their_own() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).expect("Makefile");
    let line = makefile.lines().find(|l| l.starts_with("FUNCTION_BUILD :=")).expect("a FUNCTION_BUILD line");
    assert!(line.contains("$(FUNCTION_PACKAGES)") && line.contains("--bins"), "{line}");
    for widening in ["--tests", "--workspace", "--all-targets"] {
        assert!(!line.contains(widening), "{widening} would build the functions with test features: {line}");
    }
}
