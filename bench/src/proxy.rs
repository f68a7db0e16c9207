//! A counting proxy in front of the emulator: every AWS request the host and
//! the functions make passes through it and is counted by service and action,
//! with DynamoDB capacity units estimated from the JSON it carries. Requests
//! are counted, not estimated from code.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

/// Counts since the proxy started (take two snapshots and subtract).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// "service:Action" → requests.
    pub requests: BTreeMap<String, u64>,
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

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    counts: Arc<Mutex<Counts>>,
}

pub struct Proxy {
    pub endpoint: String,
    counts: Arc<Mutex<Counts>>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> anyhow::Result<Proxy> {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
            counts: counts.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Proxy { endpoint, counts })
    }

    pub fn counts(&self) -> Counts {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone()
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

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 64 << 20).await.unwrap_or_default();
    let service = service_of(&parts.headers);
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let form: BTreeMap<String, String> =
        if target.is_none() { form_urlencoded::parse(&body).into_owned().collect() } else { BTreeMap::new() };
    let action = match &target {
        Some(t) => t.rsplit('.').next().unwrap_or(t).to_owned(),
        None => form.get("Action").cloned().unwrap_or_else(|| parts.method.to_string()),
    };
    let url = format!("{}{}", shared.upstream, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut upstream = shared.http.request(parts.method.clone(), url).body(body.clone());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(e) => return Response::builder().status(502).body(Body::from(e.to_string())).expect("a response"),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    {
        let mut counts = shared.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.requests.entry(format!("{service}:{action}")).or_default() += 1;
        match (service.as_str(), action.as_str()) {
            ("sns", "Publish") => counts.sns_messages += 1,
            ("sns", "PublishBatch") => {
                counts.sns_messages += form.keys().filter(|k| k.ends_with(".Id")).count() as u64;
            }
            ("sqs", "ReceiveMessage") if status.is_success() => {
                let received: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                if received["Messages"].as_array().is_none_or(|m| m.is_empty()) {
                    counts.empty_receives += 1;
                }
            }
            ("dynamodb", _) if status.is_success() => units(&mut counts.tables, &action, &body, bytes.len()),
            _ => {}
        }
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(bytes)).expect("a response")
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
/// (sized by DynamoDB's rule; 1 for updates and deletes, whose stored item
/// the proxy does not see; 2 per KB inside a transaction), a read 1 unit per
/// 4 KB of the answer (half for eventually consistent reads).
fn units(tables: &mut BTreeMap<String, TableUnits>, action: &str, request: &[u8], response_len: usize) {
    let request: Value = serde_json::from_slice(request).unwrap_or_default();
    let kb = |item: &Value| (item_size(item) as f64 / 1024.0).ceil().max(1.0);
    let table = |v: &Value| v["TableName"].as_str().unwrap_or("?").to_owned();
    let read = |consistent: bool| (response_len as f64 / 4096.0).ceil().max(1.0) * if consistent { 1.0 } else { 0.5 };
    match action {
        "PutItem" => tables.entry(table(&request)).or_default().write_units += kb(&request["Item"]),
        "UpdateItem" | "DeleteItem" => tables.entry(table(&request)).or_default().write_units += 1.0,
        "GetItem" | "Query" | "Scan" => {
            tables.entry(table(&request)).or_default().read_units += read(request["ConsistentRead"] == true)
        }
        "BatchGetItem" => {
            for name in request["RequestItems"].as_object().into_iter().flat_map(|o| o.keys()) {
                tables.entry(name.clone()).or_default().read_units += read(false);
            }
        }
        "TransactWriteItems" => {
            for item in request["TransactItems"].as_array().into_iter().flatten() {
                let Some((_, op)) = item.as_object().and_then(|o| o.iter().next()) else { continue };
                let units = 2.0 * if op.get("Item").is_some() { kb(&op["Item"]) } else { 1.0 };
                let entry = tables.entry(table(op)).or_default();
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
        let mut tables = BTreeMap::new();
        let transact = json!({"TransactItems": [{"Put": {"TableName": "t", "Item": big}}, {"ConditionCheck": {"TableName": "u"}}]});
        units(&mut tables, "TransactWriteItems", transact.to_string().as_bytes(), 0);
        assert_eq!(tables["t"].transactional_write_units, 4.0, "2 KB, doubled in a transaction");
        assert_eq!(tables["u"].write_units, 2.0);
    }
}
