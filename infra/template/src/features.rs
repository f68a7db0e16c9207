//! Whether the function binaries `make test` runs are the binaries `sam build`
//! ships: the same dependencies with the same features. `sam build`
//! (cargo-lambda) builds each function alone; `make test` builds the function
//! packages together, in a cargo invocation of their own (dev-dependencies
//! would add test-only features, such as serde_json's `preserve_order`).
//! Features one function's dependencies turn on for all then differ from what
//! that function gets alone.

use std::collections::{BTreeMap, BTreeSet};

/// Features per package (`name vX.Y.Z`), as `cargo tree -f '{p}|{f}' --prefix none` prints them.
pub type Features = BTreeMap<String, BTreeSet<String>>;

/// Parse `cargo tree -e normal,build -f '{p}|{f}' --prefix none`.
pub fn parse_tree(text: &str) -> Features {
    let mut features = Features::new();
    for line in text.lines() {
        let Some((package, list)) = line.trim().split_once('|') else { continue };
        // `name v1.2.3 (/path)` or a repeat `(*)`: the name and version identify it.
        let id = package.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let list = list.trim_end_matches(" (*)");
        features.entry(id).or_default().extend(list.split(',').filter(|f| !f.is_empty()).map(str::to_owned));
    }
    features
}

/// Each package of `alone` whose features `together` makes different, with both sets.
pub fn drift(function: &str, alone: &Features, together: &Features) -> Vec<String> {
    alone
        .iter()
        .filter_map(|(package, features)| {
            let joint = together.get(package)?;
            (joint != features).then(|| {
                let extra: Vec<&String> = joint.difference(features).collect();
                let missing: Vec<&String> = features.difference(joint).collect();
                format!("{function}: {package} built with the other functions gains {extra:?}, loses {missing:?}")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALONE: &str = "serde_json v1.0.154|alloc,default,std\nshopsphere-inventory v0.1.0 (/x)|default\n";
    const TOGETHER: &str = "serde_json v1.0.154|alloc,default,raw_value,std\nserde_json v1.0.154|alloc (*)\nshopsphere-inventory v0.1.0 (/x)|default\n";

    #[test]
    fn a_feature_another_function_turns_on_is_drift() {
        let problems = drift("inventory", &parse_tree(ALONE), &parse_tree(TOGETHER));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("serde_json v1.0.154") && problems[0].contains("raw_value"), "{}", problems[0]);
    }

    #[test]
    fn the_same_features_are_no_drift() {
        assert!(drift("inventory", &parse_tree(TOGETHER), &parse_tree(TOGETHER)).is_empty());
    }
}
