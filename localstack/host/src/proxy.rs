//! A proxy in front of the emulator, for the benchmarks and the fault
//! tests: every AWS request the host and the functions make passes through
//! it. It counts them by service, action and table, with DynamoDB capacity
//! units estimated from the items it sees; and it can answer chosen requests
//! with an error instead of forwarding them (a brownout of one table).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

/// Counts since the proxy started (take two snapshots and subtract).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// "service:Action" → requests.
    pub requests: BTreeMap<String, u64>,
    /// DynamoDB requests per table they name (a transaction counts under each of its tables).
    pub table_requests: BTreeMap<String, u64>,
    /// SNS messages published (a PublishBatch of 10 is 10, as SNS bills it).
    pub sns_messages: u64,
    /// ReceiveMessage calls that returned no message.
    pub empty_receives: u64,
    /// Table → DynamoDB capacity units (estimated: see `units`).
    pub tables: BTreeMap<String, TableUnits>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TableUnits {
    pub write_units: f64,
    /// Of `write_units`, those written inside TransactWriteItems (2 per KB).
    pub transactional_write_units: f64,
    pub read_units: f64,
}

impl Counts {
    pub fn since(&self, earlier: &Counts) -> Counts {
        let mut d = self.clone();
        for (k, v) in &earlier.requests {
            *d.requests.entry(k.clone()).or_default() -= v;
        }
        d.requests.retain(|_, v| *v > 0);
        for (k, v) in &earlier.table_requests {
            *d.table_requests.entry(k.clone()).or_default() -= v;
        }
        d.table_requests.retain(|_, v| *v > 0);
        d.sns_messages -= earlier.sns_messages;
        d.empty_receives -= earlier.empty_receives;
        for (t, u) in &earlier.tables {
            let e = d.tables.entry(t.clone()).or_default();
            e.write_units -= u.write_units;
            e.transactional_write_units -= u.transactional_write_units;
            e.read_units -= u.read_units;
        }
        d
    }

    pub fn service(&self, service: &str) -> u64 {
        self.requests.iter().filter(|(k, _)| k.starts_with(&format!("{service}:"))).map(|(_, v)| v).sum()
    }

    pub fn total(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// What an injected fault answers in place of the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAnswer {
    /// 500 InternalServerError: the SDK retries it, then gives up.
    ServerError,
    /// Forwarded, so it takes effect, then answered with a 500 as if its
    /// answer had been lost (as after an attempt timeout): the SDK retries a
    /// request that was applied.
    LostAnswer,
    /// 400 ThrottlingException.
    Throttle,
    /// 400: the request refused as invalid (SNS `InvalidParameter`,
    /// DynamoDB `ValidationException`): no retry makes it pass.
    Invalid,
    /// No answer for [`STALL`] (longer than a function's 5 s SDK attempt
    /// timeout, so the caller gives up first), then 504; not forwarded.
    Timeout,
}

/// How long a [`FaultAnswer::Timeout`] holds its request.
pub const STALL: std::time::Duration = std::time::Duration::from_secs(6);

/// Answer the next `times` requests that match (all given parts) with `answer`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub service: String,
    pub action: String,
    /// DynamoDB: the table the request names.
    pub table: Option<String>,
    /// A text the request body must contain.
    pub body_contains: Option<String>,
    pub times: u32,
    pub answer: FaultAnswer,
}

#[derive(Default)]
struct State_ {
    counts: Counts,
    faults: Vec<Fault>,
    /// Requests answered by a fault, by "service:Action".
    injected: BTreeMap<String, u64>,
    /// Last known size of each DynamoDB item (table, key JSON), for the units of updates.
    item_sizes: HashMap<(String, String), usize>,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    state: Arc<Mutex<State_>>,
}

pub struct Proxy {
    pub endpoint: String,
    state: Arc<Mutex<State_>>,
}

impl Proxy {
    /// Listen on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: &str) -> anyhow::Result<Proxy> {
        let state = Arc::new(Mutex::new(State_::default()));
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
            state: state.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Proxy { endpoint, state })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn counts(&self) -> Counts {
        self.lock().counts.clone()
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// End every injected fault: requests pass again.
    pub fn clear(&self) {
        self.lock().faults.clear();
    }

    /// Requests a fault answered so far, for "service:Action".
    pub fn injected(&self, request: &str) -> u64 {
        self.lock().injected.get(request).copied().unwrap_or_default()
    }
}

/// The service a SigV4-signed request is for (its credential scope).
fn service_of(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_owned()
}

/// The fault's answer in the protocol of `service`: XML for the query
/// protocol (SNS), JSON for DynamoDB and SQS.
fn fault_response(answer: FaultAnswer, service: &str) -> Response {
    let (status, kind) = match (answer, service) {
        (FaultAnswer::ServerError | FaultAnswer::LostAnswer, _) => (500, "InternalServerError"),
        (FaultAnswer::Throttle, "sns") => (400, "Throttling"),
        (FaultAnswer::Throttle, _) => (400, "ThrottlingException"),
        (FaultAnswer::Invalid, "sns") => (400, "InvalidParameter"),
        (FaultAnswer::Invalid, _) => (400, "ValidationException"),
        (FaultAnswer::Timeout, _) => (504, "GatewayTimeout"),
    };
    let (content_type, body) = match service {
        "sns" => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{kind}</Code><Message>injected by the test proxy</Message></Error><RequestId>proxy</RequestId></ErrorResponse>",
                if status >= 500 { "Receiver" } else { "Sender" }
            ),
        ),
        _ => (
            "application/x-amz-json-1.0",
            json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": "injected by the test proxy"})
                .to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-errortype", kind)
        .body(Body::from(body))
        .expect("a response")
}

/// The tables a DynamoDB request names.
fn tables_of(action: &str, request: &Value) -> Vec<String> {
    match action {
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i.as_object()?.values().next()?["TableName"].as_str().map(str::to_owned))
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => {
            request["RequestItems"].as_object().into_iter().flat_map(|o| o.keys().cloned()).collect()
        }
        _ => request["TableName"].as_str().map(str::to_owned).into_iter().collect(),
    }
}

/// What an AWS request is: its service, action, and for DynamoDB its JSON
/// body and the tables it names (the query protocol's form for the others).
pub(crate) struct AwsRequest {
    pub service: String,
    pub action: String,
    pub form: BTreeMap<String, String>,
    pub json: Value,
    pub tables: Vec<String>,
}

impl AwsRequest {
    pub(crate) fn of(headers: &axum::http::HeaderMap, method: &axum::http::Method, body: &[u8]) -> AwsRequest {
        let service = service_of(headers);
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let form: BTreeMap<String, String> =
            if target.is_none() { form_urlencoded::parse(body).into_owned().collect() } else { BTreeMap::new() };
        let action = match &target {
            Some(t) => t.rsplit('.').next().unwrap_or(t).to_owned(),
            None => form.get("Action").cloned().unwrap_or_else(|| method.to_string()),
        };
        let json: Value =
            if service == "dynamodb" { serde_json::from_slice(body).unwrap_or_default() } else { Value::Null };
        let tables = tables_of(&action, &json);
        AwsRequest { service, action, form, json, tables }
    }

    /// A DynamoDB request that writes.
    pub(crate) fn is_dynamodb_write(&self) -> bool {
        self.service == "dynamodb"
            && matches!(
                self.action.as_str(),
                "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
            )
    }

    pub(crate) fn is_sns_publish(&self) -> bool {
        self.service == "sns" && matches!(self.action.as_str(), "Publish" | "PublishBatch")
    }
}

/// An emulator's answer, whole.
pub(crate) struct Answer {
    pub status: axum::http::StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub(crate) fn into_response(self) -> Response {
        let mut response = Response::builder().status(self.status);
        for (name, value) in &self.headers {
            if name != "content-length" && name != "transfer-encoding" {
                response = response.header(name, value);
            }
        }
        response.body(Body::from(self.body)).expect("a response")
    }
}

/// Send the request on to `upstream` as it came; its answer, or a 502 to
/// return in its place.
pub(crate) async fn send_upstream(
    http: &reqwest::Client,
    upstream: &str,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> Result<Answer, Response> {
    let url = format!("{upstream}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut request = http.request(parts.method.clone(), url).body(body);
    // Host goes as the client sent it: the request's SigV4 signature covers
    // it, and an emulator that checks signatures (MiniStack with AUTH=true)
    // refuses a request whose Host was changed on the way.
    for (name, value) in &parts.headers {
        if name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = request
        .send()
        .await
        .map_err(|e| Response::builder().status(502).body(Body::from(e.to_string())).expect("a response"))?;
    let (status, headers) = (answer.status(), answer.headers().clone());
    let body = answer.bytes().await.unwrap_or_default();
    Ok(Answer { status, headers, body })
}

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 64 << 20).await.unwrap_or_default();
    let AwsRequest { service, action, form, json, tables } = AwsRequest::of(&parts.headers, &parts.method, &body);
    if let Some(answer) = take_fault(&shared, &service, &action, &tables, &body) {
        match answer {
            FaultAnswer::Timeout => tokio::time::sleep(STALL).await,
            FaultAnswer::LostAnswer => drop(send_upstream(&shared.http, &shared.upstream, &parts, body).await),
            _ => {}
        }
        return fault_response(answer, &service);
    }
    let answer = match send_upstream(&shared.http, &shared.upstream, &parts, body.clone()).await {
        Ok(answer) => answer,
        Err(response) => return response,
    };
    let (status, bytes) = (answer.status, &answer.body);
    let updated_sizes = if service == "dynamodb" && status.is_success() {
        sizes_after_update(&shared, &parts.headers, &action, &json).await
    } else {
        Vec::new()
    };
    {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let State_ { counts, item_sizes, .. } = &mut *state;
        *counts.requests.entry(format!("{service}:{action}")).or_default() += 1;
        match (service.as_str(), action.as_str()) {
            ("sns", "Publish") => counts.sns_messages += 1,
            ("sns", "PublishBatch") => {
                counts.sns_messages += form.keys().filter(|k| k.ends_with(".Id")).count() as u64;
            }
            ("sqs", "ReceiveMessage") if status.is_success() => {
                let received: Value = serde_json::from_slice(bytes).unwrap_or_default();
                if received["Messages"].as_array().is_none_or(|m| m.is_empty()) {
                    counts.empty_receives += 1;
                }
            }
            ("dynamodb", _) => {
                for table in &tables {
                    *counts.table_requests.entry(table.clone()).or_default() += 1;
                }
                if status.is_success() {
                    units(&mut counts.tables, item_sizes, &action, &json, bytes, &updated_sizes);
                }
            }
            _ => {}
        }
    }
    answer.into_response()
}

fn take_fault(shared: &Shared, service: &str, action: &str, tables: &[String], body: &Bytes) -> Option<FaultAnswer> {
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let text = std::str::from_utf8(body).unwrap_or_default();
    let fault = state.faults.iter_mut().find(|f| {
        f.times > 0
            && f.service == service
            && f.action == action
            && f.table.as_ref().is_none_or(|t| tables.contains(t))
            && f.body_contains.as_ref().is_none_or(|needle| text.contains(needle.as_str()))
    })?;
    fault.times -= 1;
    let answer = fault.answer;
    *state.injected.entry(format!("{service}:{action}")).or_default() += 1;
    Some(answer)
}

/// An update's write units depend on the item's size before and after, which
/// the request does not show: read each updated item back (straight from
/// the emulator, not counted) and return `(table, key, size)`.
async fn sizes_after_update(
    shared: &Shared,
    headers: &axum::http::HeaderMap,
    action: &str,
    request: &Value,
) -> Vec<(String, String, usize)> {
    let updates: Vec<&Value> = match action {
        "UpdateItem" => vec![request],
        "TransactWriteItems" => {
            request["TransactItems"].as_array().into_iter().flatten().filter_map(|i| i.get("Update")).collect()
        }
        _ => return Vec::new(),
    };
    let mut sizes = Vec::new();
    for update in updates {
        let (table, key) = (update["TableName"].clone(), update["Key"].clone());
        let get = json!({"TableName": table, "Key": key, "ConsistentRead": true});
        let mut read = shared.http.post(format!("{}/", shared.upstream)).body(get.to_string());
        for name in ["authorization", "x-amz-date"] {
            if let Some(value) = headers.get(name) {
                read = read.header(name, value);
            }
        }
        let item = match read
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .header("content-type", "application/x-amz-json-1.0")
            .send()
            .await
        {
            Ok(answer) => answer.json::<Value>().await.unwrap_or_default()["Item"].clone(),
            Err(_) => continue,
        };
        sizes.push((table.as_str().unwrap_or("?").to_owned(), key.to_string(), item_size(&item)));
    }
    sizes
}

/// The size DynamoDB bills an attribute value by (its documented rule):
/// strings and binaries by their bytes, numbers by about one byte per two
/// significant digits plus one, maps and lists 3 bytes plus their entries.
fn value_size(value: &Value) -> usize {
    let Some((kind, v)) = value.as_object().and_then(|o| o.iter().next()) else { return 0 };
    let number =
        |n: &str| n.trim_start_matches(['-', '0']).replace('.', "").trim_end_matches('0').len().div_ceil(2) + 1;
    let text = |t: &Value| t.as_str().map_or(0, str::len);
    let items = || v.as_array().into_iter().flatten();
    match kind.as_str() {
        "S" => text(v),
        "N" => number(v.as_str().unwrap_or_default()),
        "B" => text(v) * 3 / 4,
        "BOOL" | "NULL" => 1,
        "SS" => items().map(text).sum(),
        "NS" => items().map(|n| number(n.as_str().unwrap_or_default())).sum(),
        "BS" => items().map(|b| text(b) * 3 / 4).sum(),
        "M" => 3 + v.as_object().map_or(0, |m| m.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum()),
        "L" => 3 + items().map(|v| value_size(v) + 1).sum::<usize>(),
        _ => 0,
    }
}

fn item_size(item: &Value) -> usize {
    item.as_object().map_or(0, |attributes| attributes.iter().map(|(name, v)| name.len() + value_size(v)).sum())
}

/// DynamoDB on-demand units, estimated: a write is 1 unit per KB of the item
/// (sized by DynamoDB's rule): a put by its item, an update by the larger of
/// the item before (as last read back) and after it, a delete 1; 2 per KB
/// inside a transaction. A read is 1 unit per 4 KB of the answer (half for
/// eventually consistent reads).
fn units(
    tables: &mut BTreeMap<String, TableUnits>,
    item_sizes: &mut HashMap<(String, String), usize>,
    action: &str,
    request: &Value,
    response: &[u8],
    updated: &[(String, String, usize)],
) {
    let kb = |size: usize| (size as f64 / 1024.0).ceil().max(1.0);
    let table = |v: &Value| v["TableName"].as_str().unwrap_or("?").to_owned();
    let read = |consistent: bool| (response.len() as f64 / 4096.0).ceil().max(1.0) * if consistent { 1.0 } else { 0.5 };
    let write = |item_sizes: &mut HashMap<(String, String), usize>, op: &str, body: &Value| -> f64 {
        match op {
            "Put" | "PutItem" => kb(item_size(&body["Item"])),
            "Update" | "UpdateItem" => {
                let (name, key) = (table(body), body["Key"].to_string());
                let after = updated.iter().find(|(t, k, _)| *t == name && *k == key).map_or(0, |(_, _, s)| *s);
                let before = item_sizes.insert((name, key), after).unwrap_or(after);
                kb(before.max(after))
            }
            _ => 1.0,
        }
    };
    match action {
        "PutItem" | "UpdateItem" | "DeleteItem" => {
            let units = write(item_sizes, action, request);
            tables.entry(table(request)).or_default().write_units += units;
        }
        "GetItem" | "Query" | "Scan" => {
            tables.entry(table(request)).or_default().read_units += read(request["ConsistentRead"] == true)
        }
        "BatchGetItem" => {
            for name in request["RequestItems"].as_object().into_iter().flat_map(|o| o.keys()) {
                tables.entry(name.clone()).or_default().read_units += read(false);
            }
        }
        "TransactWriteItems" => {
            for item in request["TransactItems"].as_array().into_iter().flatten() {
                let Some((op, body)) = item.as_object().and_then(|o| o.iter().next()) else { continue };
                let units = 2.0 * write(item_sizes, op, body);
                let entry = tables.entry(table(body)).or_default();
                entry.write_units += units;
                entry.transactional_write_units += units;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn items_are_sized_by_dynamodbs_rule() {
        let item = json!({"id": {"S": "abc"}, "n": {"N": "-1200"}, "m": {"M": {"ok": {"BOOL": true}}}, "l": {"L": [{"S": "x"}]}});
        // id 2+3, n 1+(2 digits: 1+1), m 1+(3+2+1+1), l 1+(3+1+1)
        assert_eq!(item_size(&item), 5 + 3 + 8 + 6);
        let big = json!({"body": {"S": "x".repeat(2000)}});
        let (mut tables, mut sizes) = (BTreeMap::new(), HashMap::new());
        let transact = json!({"TransactItems": [{"Put": {"TableName": "t", "Item": big}}, {"ConditionCheck": {"TableName": "u"}}]});
        units(&mut tables, &mut sizes, "TransactWriteItems", &transact, b"", &[]);
        assert_eq!(tables["t"].transactional_write_units, 4.0, "2 KB, doubled in a transaction");
        assert_eq!(tables["u"].write_units, 2.0);
    }

    #[test]
    fn an_update_is_billed_by_the_larger_of_the_item_before_and_after() {
        let (mut tables, mut sizes) = (BTreeMap::new(), HashMap::new());
        let key = json!({"id": {"S": "o-1"}});
        let update = json!({"TableName": "orders", "Key": key});
        let after = |size| vec![("orders".to_owned(), key.to_string(), size)];
        units(&mut tables, &mut sizes, "UpdateItem", &update, b"", &after(1500));
        assert_eq!(tables["orders"].write_units, 2.0, "1.5 KB after");
        units(&mut tables, &mut sizes, "UpdateItem", &update, b"", &after(900));
        assert_eq!(tables["orders"].write_units, 4.0, "1.5 KB before");
    }
}
