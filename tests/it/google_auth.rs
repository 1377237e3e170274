//! Google's OAuth token endpoint, for the local stand-ins of Google's APIs: it hands out a
//! token only for a JWT bearer grant signed with the service account's key, for the right
//! issuer, audience and scope; and the service-account key that points at it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// JWT segments are base64url; Google accepts them padded or not, and so does this fake.
const JWT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub const SERVICE_ACCOUNT: &str = "intake@project.iam.gserviceaccount.com";

/// The token endpoint of one fake, and the tokens it gave.
pub struct TokenEndpoint {
    public_key: Vec<u8>,
    token_uri: String,
    scope: &'static str,
    pub tokens: AtomicUsize,
}

impl TokenEndpoint {
    /// A new key for `SERVICE_ACCOUNT`, its token endpoint at `http://{addr}/token` (serve
    /// [`router`] there), and the key file written into `dir`.
    pub fn start(addr: SocketAddr, dir: &std::path::Path, scope: &'static str) -> (Arc<Self>, std::path::PathBuf) {
        let key = KeyPair::generate(KeySize::Rsa2048).expect("an RSA key");
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).expect("pkcs8");
        let pem_body = STANDARD.encode(pkcs8.as_ref());
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            pem_body
                .as_bytes()
                .chunks(64)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\n")
        );
        let token_uri = format!("http://{addr}/token");
        let endpoint = Arc::new(Self {
            public_key: key.public_key().as_ref().to_vec(),
            token_uri: token_uri.clone(),
            scope,
            tokens: AtomicUsize::new(0),
        });
        let key_file = dir.join("service-account.json");
        std::fs::write(
            &key_file,
            serde_json::json!({
                "type": "service_account",
                "project_id": "project",
                "private_key_id": "0123456789abcdef",
                "private_key": pem,
                "client_email": SERVICE_ACCOUNT,
                "client_id": "100000000000000000000",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": token_uri,
            })
            .to_string(),
        )
        .unwrap();
        (endpoint, key_file)
    }
}

/// `/token`, to merge into the fake API's router.
pub fn router(endpoint: Arc<TokenEndpoint>) -> Router {
    Router::new().route("/token", post(token)).with_state(endpoint)
}

/// Whether a request carries a token this endpoint gave.
pub fn bearer_ok(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ya29.fake-"))
}

pub fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

pub fn error(status: StatusCode, code: u16, message: &str, name: &str) -> Response {
    json(
        status,
        serde_json::json!({"error": {"code": code, "message": message, "status": name}}),
    )
}

/// The OAuth token endpoint: a JWT bearer grant signed with the service account's key.
async fn token(State(google): State<Arc<TokenEndpoint>>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url_pairs(&String::from_utf8_lossy(&body));
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return error(
            StatusCode::BAD_REQUEST,
            400,
            "unsupported_grant_type",
            "INVALID_ARGUMENT",
        );
    }
    let Some(jwt) = form.get("assertion") else {
        return error(StatusCode::BAD_REQUEST, 400, "missing assertion", "INVALID_ARGUMENT");
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    let verified = parts.len() == 3
        && JWT_BASE64.decode(parts[2]).is_ok_and(|signature| {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &google.public_key)
                .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
                .is_ok()
        });
    let claims: serde_json::Value = JWT_BASE64
        .decode(parts.get(1).copied().unwrap_or(""))
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .unwrap_or_default();
    let valid = verified
        && claims["iss"] == SERVICE_ACCOUNT
        && claims["aud"] == google.token_uri.as_str()
        && claims["scope"] == google.scope;
    if !valid {
        eprintln!("fake google rejected a token request: signature verified {verified}, claims {claims}");
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
        );
    }
    let n = google.tokens.fetch_add(1, Ordering::SeqCst);
    json(
        StatusCode::OK,
        serde_json::json!({"access_token": format!("ya29.fake-{n}"), "expires_in": 3599, "token_type": "Bearer"}),
    )
}

fn url_pairs(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}
