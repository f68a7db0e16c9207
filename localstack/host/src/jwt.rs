//! JWT authorizers as API Gateway runs them for an HTTP API, and a local
//! OIDC issuer to sign tokens they accept.
//!
//! The authorizer ([`JwtAuthorizer`]) is the template's (`Auth.Authorizers`
//! of the `AWS::Serverless::HttpApi`), its issuer and audience resolved
//! against the stack. Like API Gateway it reads the token from its identity
//! source (a `Bearer ` prefix is dropped), finds the signing key by `kid` in
//! the JWKS that the issuer's OIDC discovery document names (cached; fetched
//! again for a `kid` it does not know), checks the RS256 signature, `iss`,
//! `aud` or `client_id`, `exp`, `nbf` and `iat`, and hands the claims to the
//! function as strings (`requestContext.authorizer.jwt`).
//!
//! The issuer ([`LocalIssuer`]) stands in for Cognito, which LocalStack's
//! community edition lacks: an RSA key pair made at start, the discovery
//! document and JWKS served under its URL, tokens signed with the private key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::RwLock;

/// Why a request was refused: API Gateway answers each of these with 401
/// `{"message":"Unauthorized"}`; the reason goes to `www-authenticate`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no token in {0}")]
    Missing(String),
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("the token's signing key is not in the issuer's JWKS")]
    UnknownKey,
    #[error("the issuer's keys could not be read: {0}")]
    Keys(String),
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token's issuer is not {0}")]
    Issuer(String),
    #[error("the token does not have a valid audience")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
}

/// What a verified token passes on, as API Gateway's payload 2.0 has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Every claim, as a string.
    pub claims: BTreeMap<String, String>,
    /// `scope` (space-separated) and `scp`.
    pub scopes: Vec<String>,
}

/// One JWT authorizer of the HTTP API, resolved against the stack.
pub struct JwtAuthorizer {
    pub name: String,
    pub issuer: String,
    pub audience: Vec<String>,
    /// The header named by `IdentitySource: $request.header.<name>`, lowercase.
    pub header: String,
    keys: RwLock<Option<JwkSet>>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl JwtAuthorizer {
    pub fn new(name: &str, issuer: &str, audience: Vec<String>, identity_source: &str) -> anyhow::Result<Self> {
        let header = identity_source
            .strip_prefix("$request.header.")
            .with_context(|| format!("authorizer {name}: IdentitySource {identity_source} is not a request header"))?
            .to_ascii_lowercase();
        anyhow::ensure!(!issuer.is_empty(), "authorizer {name} has no issuer");
        anyhow::ensure!(audience.iter().any(|a| !a.is_empty()), "authorizer {name} has no audience");
        Ok(JwtAuthorizer {
            name: name.to_owned(),
            issuer: issuer.to_owned(),
            audience,
            header,
            keys: RwLock::new(None),
            http: reqwest::Client::new(),
        })
    }

    /// The token of a request, as the identity source holds it.
    pub fn token<'a>(&self, headers: &'a HeaderMap) -> Result<&'a str, Rejection> {
        let value = headers.get(&self.header).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or_default();
        let token = match value.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim(),
            _ if value.eq_ignore_ascii_case("bearer") => "",
            _ => value,
        };
        if token.is_empty() { Err(Rejection::Missing(format!("the {} header", self.header))) } else { Ok(token) }
    }

    /// Check the request's token: the claims it passes on, or why not.
    pub async fn authorize(&self, headers: &HeaderMap) -> Result<Verified, Rejection> {
        let token = self.token(headers)?;
        let kid = jsonwebtoken::decode_header(token).map_err(|e| Rejection::Malformed(e.to_string()))?.kid;
        let known = |keys: &Option<JwkSet>| {
            keys.as_ref().is_some_and(|k| kid.as_deref().is_some_and(|id| k.find(id).is_some()))
        };
        if !known(&*self.keys.read().await) {
            // A key rotated in since the last fetch: read the JWKS again.
            let fetched = self.fetch_keys().await.map_err(|e| Rejection::Keys(format!("{e:#}")))?;
            *self.keys.write().await = Some(fetched);
        }
        let keys = self.keys.read().await;
        self.verify(token, keys.as_ref().expect("fetched above"), now())
    }

    /// The issuer's JWKS, through its OIDC discovery document.
    async fn fetch_keys(&self) -> anyhow::Result<JwkSet> {
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let found: Discovery = self.http.get(&discovery).send().await?.error_for_status()?.json().await?;
        Ok(self.http.get(&found.jwks_uri).send().await?.error_for_status()?.json().await?)
    }

    /// Check `token` against `keys` at `now` (seconds since the epoch).
    pub fn verify(&self, token: &str, keys: &JwkSet, now: i64) -> Result<Verified, Rejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| Rejection::Malformed(e.to_string()))?;
        let jwk = header.kid.as_deref().and_then(|kid| keys.find(kid)).ok_or(Rejection::UnknownKey)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| Rejection::UnknownKey)?;
        // API Gateway takes RSA keys only; times, issuer and audience are
        // checked below, at `now`, as API Gateway checks them.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => Rejection::Signature,
                    _ => Rejection::Malformed(e.to_string()),
                }
            })?;
        let claims = data.claims;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Rejection::Issuer(self.issuer.clone()));
        }
        let audiences: Vec<&str> = match claims.get("aud").or_else(|| claims.get("client_id")) {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !audiences.iter().any(|a| self.audience.iter().any(|wanted| wanted == a)) {
            return Err(Rejection::Audience);
        }
        let time = |name: &str| claims.get(name).and_then(Value::as_i64);
        match time("exp") {
            Some(exp) if exp > now => {}
            _ => return Err(Rejection::Expired),
        }
        if time("nbf").is_some_and(|nbf| nbf > now) || time("iat").is_some_and(|iat| iat > now) {
            return Err(Rejection::NotYetValid);
        }
        let mut scopes: Vec<String> = Vec::new();
        if let Some(Value::String(scope)) = claims.get("scope") {
            scopes.extend(scope.split_whitespace().map(str::to_owned));
        }
        match claims.get("scp") {
            Some(Value::String(scp)) => scopes.extend(scp.split_whitespace().map(str::to_owned)),
            Some(Value::Array(scp)) => scopes.extend(scp.iter().filter_map(Value::as_str).map(str::to_owned)),
            _ => {}
        }
        Ok(Verified { claims: claims.into_iter().map(|(k, v)| (k, claim_text(&v))).collect(), scopes })
    }
}

/// A claim as API Gateway passes it to the function: strings as they are,
/// an array as its items in brackets (`[a b]`), anything else as JSON.
fn claim_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(claim_text).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An RSA key pair to sign tokens with, and its public half as a JWK.
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    /// PKCS#1 PEM of the private key.
    pem: String,
    jwk: Value,
}

impl SigningKey {
    /// A new 2048-bit key (a few hundred ms in a release build).
    pub fn generate() -> anyhow::Result<SigningKey> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).context("generating an RSA key")?;
        let pem = private.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).context("encoding the key")?.to_string();
        Self::from_pem(&pem)
    }

    /// The key of a PKCS#1 or PKCS#8 PEM.
    pub fn from_pem(pem: &str) -> anyhow::Result<SigningKey> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(pem))
            .context("not an RSA private key PEM")?;
        let (n, e) =
            (URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()), URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()));
        // The key's own id: the same key always has the same kid.
        let kid = hex_digest(&format!("{n}.{e}"));
        Ok(SigningKey {
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).context("the key as a signing key")?,
            pem: pem.to_owned(),
            jwk: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e}),
            kid,
        })
    }

    /// `claims` signed with this key (RS256, its `kid` in the header).
    pub fn sign(&self, claims: &Value) -> String {
        let header = Header { kid: Some(self.kid.clone()), ..Header::new(Algorithm::RS256) };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("an RSA key signs any JSON claims")
    }

    /// The public key set: `{"keys": [its JWK]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }
}

fn hex_digest(text: &str) -> String {
    use std::fmt::Write;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
    digest[..8].iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What a client needs to sign tokens the API accepts: the issuer, the
/// audience and the private key. The host writes it as `issuer.json` in its
/// log folder; tests, the demo and `shopsphere-local token` read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerFile {
    pub issuer: String,
    pub audience: String,
    pub private_key_pem: String,
}

/// An OIDC issuer on a local port: discovery document and JWKS under its
/// URL, tokens signed with its key.
pub struct LocalIssuer {
    /// `iss` of its tokens; discovery at `{url}/.well-known/openid-configuration`.
    pub url: String,
    pub audience: String,
    pub key: Arc<SigningKey>,
}

/// How long the tokens [`LocalIssuer::token`] signs are valid, like Cognito's.
pub const TOKEN_SECONDS: i64 = 3600;

impl LocalIssuer {
    /// Serve an issuer for `audience` with `key` on `addr`, under `path`
    /// (e.g. `""`, or a unique segment per issuer so that a verifier's cache
    /// keyed by URL never mixes two keys). Runs until the runtime stops.
    pub async fn serve(
        addr: SocketAddr,
        path: &str,
        audience: &str,
        key: Arc<SigningKey>,
    ) -> anyhow::Result<Arc<LocalIssuer>> {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let bound = listener.local_addr()?;
        let path = path.trim_matches('/');
        let url = if path.is_empty() { format!("http://{bound}") } else { format!("http://{bound}/{path}") };
        let issuer = Arc::new(LocalIssuer { url, audience: audience.to_owned(), key });
        let app = Router::new().fallback(documents).with_state(issuer.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(issuer)
    }

    /// A token for `subject`, valid for [`TOKEN_SECONDS`].
    pub fn token(&self, subject: &str) -> String {
        let now = now();
        self.key.sign(&json!({
            "iss": self.url, "aud": self.audience, "sub": subject,
            "iat": now, "exp": now + TOKEN_SECONDS, "token_use": "id",
        }))
    }

    pub fn file(&self) -> IssuerFile {
        IssuerFile { issuer: self.url.clone(), audience: self.audience.clone(), private_key_pem: self.key.pem.clone() }
    }

    /// Write [`IssuerFile`] to `path`, readable by its owner alone.
    pub fn write_file(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        file.write_all(serde_json::to_string_pretty(&self.file())?.as_bytes())?;
        Ok(())
    }
}

/// A token for `subject` from an issuer file: what a client of the local
/// stack signs in with.
pub fn token_from_file(path: &Path, subject: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: IssuerFile =
        serde_json::from_str(&text).with_context(|| format!("{} is not an issuer file", path.display()))?;
    let issuer = LocalIssuer {
        url: file.issuer,
        audience: file.audience,
        key: Arc::new(SigningKey::from_pem(&file.private_key_pem)?),
    };
    Ok(issuer.token(subject))
}

async fn documents(State(issuer): State<Arc<LocalIssuer>>, uri: Uri) -> Response {
    let path = uri.path().trim_end_matches('/');
    let base = issuer.url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
    match path.strip_prefix(&base) {
        Some("/.well-known/openid-configuration") => axum::Json(json!({
            "issuer": issuer.url,
            "jwks_uri": format!("{}/.well-known/jwks.json", issuer.url),
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }))
        .into_response(),
        Some("/.well-known/jwks.json") => axum::Json(issuer.key.jwks()).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;

    static KEY: LazyLock<Arc<SigningKey>> = LazyLock::new(|| Arc::new(SigningKey::generate().unwrap()));
    static OTHER_KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::generate().unwrap());
    const ISSUER: &str = "http://127.0.0.1:9/issuer";
    const NOW: i64 = 1_800_000_000;

    fn authorizer() -> JwtAuthorizer {
        JwtAuthorizer::new("CustomerJwt", ISSUER, vec!["shopsphere".into()], "$request.header.Authorization").unwrap()
    }

    fn keys() -> JwkSet {
        serde_json::from_value(KEY.jwks()).unwrap()
    }

    fn claims(overrides: Value) -> Value {
        let mut claims =
            json!({"iss": ISSUER, "aud": "shopsphere", "sub": "cus-ada", "iat": NOW - 10, "exp": NOW + 600});
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn verify(token: &str) -> Result<Verified, Rejection> {
        authorizer().verify(token, &keys(), NOW)
    }

    #[test]
    fn a_good_token_passes_its_claims_as_strings_and_its_scopes() {
        let token = KEY.sign(&claims(json!({"scope": "orders/read orders/write", "groups": ["a", "b"]})));
        let verified = verify(&token).unwrap();
        assert_eq!(verified.claims["sub"], "cus-ada");
        assert_eq!(verified.claims["exp"], (NOW + 600).to_string());
        assert_eq!(verified.claims["groups"], "[a b]");
        assert_eq!(verified.scopes, ["orders/read", "orders/write"]);
    }

    #[test]
    fn a_token_signed_by_another_key_is_refused() {
        // Same kid as the issuer's key, other private key: a forged signature.
        let forged = {
            let header = Header { kid: Some(KEY.kid.clone()), ..Header::new(Algorithm::RS256) };
            jsonwebtoken::encode(&header, &claims(json!({})), &OTHER_KEY.encoding).unwrap()
        };
        assert_eq!(verify(&forged), Err(Rejection::Signature));
        assert_eq!(verify(&OTHER_KEY.sign(&claims(json!({})))), Err(Rejection::UnknownKey));
    }

    #[test]
    fn issuer_audience_and_times_are_checked() {
        let refused = |overrides: Value| verify(&KEY.sign(&claims(overrides))).unwrap_err();
        assert_eq!(refused(json!({"iss": "http://elsewhere"})), Rejection::Issuer(ISSUER.into()));
        assert_eq!(refused(json!({"aud": "another-app"})), Rejection::Audience);
        assert_eq!(refused(json!({"aud": null})), Rejection::Audience);
        assert_eq!(refused(json!({"exp": NOW})), Rejection::Expired);
        assert_eq!(refused(json!({"exp": null})), Rejection::Expired);
        assert_eq!(refused(json!({"nbf": NOW + 60})), Rejection::NotYetValid);
        assert_eq!(refused(json!({"iat": NOW + 60})), Rejection::NotYetValid);
        // Cognito's access tokens carry client_id instead of aud.
        assert!(verify(&KEY.sign(&claims(json!({"aud": null, "client_id": "shopsphere"})))).is_ok());
        assert!(verify(&KEY.sign(&claims(json!({"aud": ["other", "shopsphere"]})))).is_ok());
    }

    #[test]
    fn the_token_comes_from_the_identity_source_with_or_without_bearer() {
        let a = authorizer();
        let mut headers = HeaderMap::new();
        assert!(matches!(a.token(&headers), Err(Rejection::Missing(_))));
        headers.insert("authorization", "Bearer abc.def.ghi".parse().unwrap());
        assert_eq!(a.token(&headers), Ok("abc.def.ghi"));
        headers.insert("authorization", "abc.def.ghi".parse().unwrap());
        assert_eq!(a.token(&headers), Ok("abc.def.ghi"));
        headers.insert("authorization", "Bearer ".parse().unwrap());
        assert!(matches!(a.token(&headers), Err(Rejection::Missing(_))));
        assert!(matches!(verify("not-a-jwt"), Err(Rejection::Malformed(_))));
    }

    #[test]
    fn a_key_read_back_from_its_pem_is_the_same_key() {
        let again = SigningKey::from_pem(&KEY.pem).unwrap();
        assert_eq!(again.kid, KEY.kid);
        assert!(verify(&again.sign(&claims(json!({})))).is_ok());
    }

    #[tokio::test]
    async fn the_issuer_serves_discovery_and_keys_the_authorizer_fetches() {
        let issuer =
            LocalIssuer::serve("127.0.0.1:0".parse().unwrap(), "unique-1", "shopsphere", KEY.clone()).await.unwrap();
        let a =
            JwtAuthorizer::new("CustomerJwt", &issuer.url, vec!["shopsphere".into()], "$request.header.Authorization")
                .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("Bearer {}", issuer.token("cus-ada")).parse().unwrap());
        let verified = a.authorize(&headers).await.unwrap();
        assert_eq!(verified.claims["sub"], "cus-ada");
        assert_eq!(verified.claims["iss"], issuer.url);
    }
}
