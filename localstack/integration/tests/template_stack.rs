//! template.yaml deployed to LocalStack through CloudFormation (functions off):
//! the real topology, checked by sending an event through it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, Parameter, StackStatus};
use aws_sdk_sqs::types::QueueAttributeName;
use shopsphere_events::{EventType, decode_sqs_body, samples};
use shopsphere_localstack_tests::{Queue, emulator, unique};
use shopsphere_messaging::{Publisher, SnsPublisher, TopicMap};
use shopsphere_template::{Template, template_path, with_code_uri};

fn param(key: &str, value: &str) -> Parameter {
    Parameter::builder().parameter_key(key).parameter_value(value).build()
}

#[tokio::test]
async fn the_template_deploys_and_fans_each_event_out_to_exactly_its_consumers() {
    let emu = emulator().await;
    let cfn = aws_sdk_cloudformation::Client::new(&emu.config);
    let stage = unique("t").replace('-', "")[..12].to_owned();
    let stack = format!("shopsphere-{stage}");
    let body = with_code_uri(&std::fs::read_to_string(template_path()).unwrap(), "s3://shopsphere-local/functions.zip");
    cfn.create_stack()
        .stack_name(&stack)
        .template_url(shopsphere_local::stack::upload(&emu.config, &stack, &body).await.expect("upload the template"))
        .parameters(param("DeployFunctions", "false"))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityAutoExpand)
        .send()
        .await
        .expect("create stack");
    let start = Instant::now();
    let described = loop {
        let s = cfn.describe_stacks().stack_name(&stack).send().await.unwrap().stacks.unwrap().remove(0);
        match s.stack_status() {
            Some(StackStatus::CreateInProgress) if start.elapsed() < Duration::from_secs(90) => {
                tokio::time::sleep(Duration::from_millis(300)).await
            }
            _ => break s,
        }
    };
    assert_eq!(described.stack_status(), Some(&StackStatus::CreateComplete), "{:?}", described.stack_status_reason());
    let outputs: HashMap<String, String> = described
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect();

    let queue = |name: &str| Queue { url: outputs[&format!("{name}QueueUrl")].clone(), arn: String::new() };
    let redrive = emu
        .sqs
        .get_queue_attributes()
        .queue_url(&queue("Payment").url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    let redrive: serde_json::Value =
        serde_json::from_str(&redrive.attributes().unwrap()[&QueueAttributeName::RedrivePolicy]).unwrap();
    let template = Template::load(&template_path()).unwrap();
    let default = template.raw["Parameters"]["MaxReceiveCount"]["Default"].as_u64().expect("a default");
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), default.to_string(), "{redrive}");

    let topics = TopicMap::new(EventType::ALL.map(|t| (t, outputs[&format!("{}TopicArn", t.name())].clone())));
    let order = samples::order_created("o-stack-1");
    SnsPublisher::new(emu.sns.clone(), topics).publish(&order).await.unwrap();

    for consumer in ["Payment", "Notification", "OrderStatus", "Analytics"] {
        let got = emu.receive(&queue(consumer), 1, Duration::from_secs(10)).await;
        assert_eq!(got.len(), 1, "{consumer} did not get OrderCreated");
        assert_eq!(decode_sqs_body(got[0].body().unwrap()).unwrap().id, order.id, "raw delivery of the envelope");
    }
    for not_subscribed in ["Inventory", "Shipping"] {
        assert!(emu.receive(&queue(not_subscribed), 1, Duration::from_secs(1)).await.is_empty(), "{not_subscribed}");
    }
    cfn.delete_stack().stack_name(&stack).send().await.unwrap();
}

/// LocalStack's SAM transform sets and then removes AWS_DEFAULT_REGION in its
/// process environment; transforms at once raced on it and a stack failed
/// "AWS Region cannot be found". The provider plugin runs one at a time; its
/// own test shows the race deterministically (localstack/providers/tests).
/// Here, on the emulator as `make test` runs it: six change sets of the
/// template created at once all pass the transform.
#[tokio::test]
async fn six_stacks_of_the_template_created_at_once_all_pass_the_sam_transform() {
    let emu = emulator().await;
    let cfn = aws_sdk_cloudformation::Client::new(&emu.config);
    let body = with_code_uri(&std::fs::read_to_string(template_path()).unwrap(), "s3://shopsphere-local/functions.zip");
    let url = shopsphere_local::stack::upload(&emu.config, "concurrent-transforms", &body).await.expect("upload");
    let stages: Vec<String> = (0..6).map(|_| unique("c").replace('-', "")[..12].to_owned()).collect();
    let created = futures::future::join_all(stages.iter().map(|stage| {
        cfn.create_change_set()
            .stack_name(format!("shopsphere-{stage}"))
            .change_set_name("transform")
            .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
            .template_url(&url)
            .parameters(param("DeployFunctions", "false"))
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityAutoExpand)
            .send()
    }))
    .await;
    for (stage, result) in stages.iter().zip(created) {
        let change_set = result.unwrap_or_else(|e| panic!("{stage}: {}", shopsphere_runtime::error_chain(&e)));
        let start = Instant::now();
        let status = loop {
            let described = cfn.describe_change_set().change_set_name(change_set.id().unwrap()).send().await.unwrap();
            match described.status() {
                Some(ChangeSetStatus::CreatePending | ChangeSetStatus::CreateInProgress)
                    if start.elapsed() < Duration::from_secs(60) =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                status => break (status.cloned(), described.status_reason().map(str::to_owned)),
            }
        };
        assert_eq!(status.0, Some(ChangeSetStatus::CreateComplete), "{stage}: {:?}", status.1);
        cfn.delete_stack().stack_name(format!("shopsphere-{stage}")).send().await.unwrap();
    }
}
