//! Milestones as CloudWatch embedded metric format (EMF) lines on stdout:
//! Lambda ships them to the function's log group, where CloudWatch makes
//! them metrics. No PutMetricData call, so no permission and no latency.

use shopsphere_runtime::{ConfigError, env_var, now_ms};

use crate::domain::{Milestone, Milestones};

/// Counts each milestone under `namespace`, by function name.
pub struct EmfMilestones {
    namespace: String,
    function_name: String,
}

impl EmfMilestones {
    /// From `METRICS_NAMESPACE` and `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(EmfMilestones {
            namespace: env_var("METRICS_NAMESPACE")?,
            function_name: env_var("AWS_LAMBDA_FUNCTION_NAME")?,
        })
    }

    /// The EMF line counting one `milestone` at `timestamp_ms`.
    pub fn line(&self, milestone: Milestone, timestamp_ms: i64) -> String {
        let metric = milestone.metric();
        serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{ "Name": metric, "Unit": "Count" }],
                }],
            },
            "FunctionName": self.function_name,
            metric: 1,
        })
        .to_string()
    }
}

impl Milestones for EmfMilestones {
    fn record(&self, milestone: Milestone) {
        println!("{}", self.line(milestone, now_ms()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_milestone_is_one_count_of_its_metric_by_function_name() {
        let emf = EmfMilestones { namespace: "ShopSphere".into(), function_name: "shop-order-status".into() };
        let line: serde_json::Value = serde_json::from_str(&emf.line(Milestone::Finalised, 1_700_000_000_000)).unwrap();
        assert_eq!(line["OrdersFinalised"], 1);
        assert_eq!(line["FunctionName"], "shop-order-status");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ShopSphere");
        assert_eq!(directive["Dimensions"], serde_json::json!([["FunctionName"]]));
        assert_eq!(directive["Metrics"][0], serde_json::json!({"Name": "OrdersFinalised", "Unit": "Count"}));
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_i64);
    }
}
