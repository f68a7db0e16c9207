//! The HTTP API on a local port: each request matched against the routes
//! the template gives the functions (`Type: HttpApi` events), passed to the
//! function in API Gateway's payload format 2.0, its answer mapped back as
//! API Gateway maps it. A route its template guards with a JWT authorizer
//! gets the request only with a token the authorizer accepts (else 401
//! `{"message":"Unauthorized"}`, as API Gateway answers), and the token's
//! claims in `requestContext.authorizer.jwt`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_smithy_types::base64;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::function::{ACCOUNT, Function};
use crate::jwt::{JwtAuthorizer, Verified};
use crate::stack::Route;

/// A request's route: its function, authorizer and path parameters.
type Matched<'a> = (&'a Route, &'a Arc<Function>, Option<&'a Arc<JwtAuthorizer>>, BTreeMap<String, String>);

pub struct HttpApi {
    /// Each route, its function, and the authorizer that guards it.
    pub routes: Vec<(Route, Arc<Function>, Option<Arc<JwtAuthorizer>>)>,
    pub region: String,
}

impl HttpApi {
    /// Serve on `addr` until the host stops; returns the bound address.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(Arc::new(self));
        tokio::spawn(
            async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await },
        );
        Ok(bound)
    }

    /// The route for a request, and its path parameters. Exact segments win
    /// over `{param}` ones, as in API Gateway.
    fn route(&self, method: &Method, path: &str) -> Option<Matched<'_>> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.routes
            .iter()
            .filter(|(r, _, _)| r.method == "ANY" || r.method == method.as_str())
            .filter_map(|(r, f, a)| {
                let pattern: Vec<&str> = r.path.trim_matches('/').split('/').collect();
                if pattern.len() != segments.len() {
                    return None;
                }
                let mut params = BTreeMap::new();
                for (p, s) in pattern.iter().zip(&segments) {
                    match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                        Some(name) if !s.is_empty() => {
                            params.insert(name.to_owned(), percent_decode(s));
                        }
                        _ if p == s => {}
                        _ => return None,
                    }
                }
                Some((r, f, a.as_ref(), params))
            })
            .min_by_key(|(_, _, _, params)| params.len())
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, [("content-type", "application/json")], json!({"message": text}).to_string()).into_response()
}

async fn handle(
    State(api): State<Arc<HttpApi>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((route, function, authorizer, params)) = api.route(&method, uri.path()) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let verified = match authorizer {
        None => None,
        Some(authorizer) => match authorizer.authorize(&headers).await {
            Ok(verified) => Some(verified),
            Err(rejection) => {
                tracing::info!(authorizer = %authorizer.name, reason = %rejection, "request refused");
                let mut refused = message(StatusCode::UNAUTHORIZED, "Unauthorized");
                let challenge = format!(r#"Bearer error="invalid_token" error_description="{rejection}""#);
                if let Ok(value) = HeaderValue::try_from(challenge.replace(['\r', '\n'], " ")) {
                    refused.headers_mut().insert("www-authenticate", value);
                }
                return refused;
            }
        },
    };
    if !function.current_switch().running {
        return message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    let route_key = format!("{} {}", route.method, route.path);
    let mut event = request_event(&route_key, &method, &uri, &headers, &body, &params, peer);
    if let Some(Verified { claims, scopes }) = verified {
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": scopes}});
    }
    let payload = serde_json::to_vec(&event).expect("a request event serializes");
    match function.answer(payload.into(), 1, &api.region).await {
        Some(answer) => response(&answer),
        None => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

/// The payload format 2.0 event for one request.
fn request_event(
    route_key: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    params: &BTreeMap<String, String>,
    peer: SocketAddr,
) -> Value {
    let mut joined: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()));
        } else {
            joined.entry(name.as_str().to_owned()).or_default().push(value);
        }
    }
    let headers: Map<String, Value> = joined.into_iter().map(|(k, v)| (k, Value::String(v.join(",")))).collect();
    let raw_query = uri.query().unwrap_or_default();
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        query.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    let now = Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": headers.get("host").and_then(Value::as_str).unwrap_or("localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": headers.get("user-agent").and_then(Value::as_str).unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = query.into_iter().map(|(k, v)| (k, Value::String(v.join(",")))).collect();
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(base64::encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// API Gateway's mapping of a payload 2.0 answer: an object with
/// `statusCode` is a full response; anything else is a 200 JSON body.
fn response(answer: &[u8]) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(answer) else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        return (StatusCode::OK, [("content-type", "application/json")], answer.to_vec()).into_response();
    };
    let mut builder = Response::builder().status(StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK));
    for (name, value) in value.get("headers").and_then(Value::as_object).into_iter().flatten() {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(text)) {
            builder = builder.header(name, value);
        }
    }
    for cookie in value.get("cookies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        builder = builder.header("set-cookie", cookie);
    }
    let body = value.get("body").and_then(Value::as_str).unwrap_or_default();
    let body = if value.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
        match base64::decode(body) {
            Ok(bytes) => Body::from(bytes),
            Err(_) => return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    } else {
        Body::from(body.to_owned())
    };
    builder.body(body).unwrap_or_else(|_| message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_answer_keeps_status_headers_and_body_and_a_bare_one_is_a_200_json() {
        let full = response(br#"{"statusCode":202,"headers":{"location":"/orders/1"},"body":"{\"id\":1}"}"#);
        assert_eq!(full.status(), StatusCode::ACCEPTED);
        assert_eq!(full.headers()["location"], "/orders/1");
        let bare = response(br#"{"ok":true}"#);
        assert_eq!(bare.status(), StatusCode::OK);
        assert_eq!(bare.headers()["content-type"], "application/json");
    }
}
