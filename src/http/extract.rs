//! Request extractors whose rejections are problem+json: JSON bodies, raw upload bodies,
//! and the logged-in account.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::auth::{allowed, Action};
use crate::store::users::User;
use crate::store::{sessions, users};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "ketang_session";

/// A JSON body; malformed, mistyped, oversized or wrongly-typed bodies are 4xx problems.
pub struct ApiJson<T>(pub T);

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the request body is larger than this endpoint accepts",
    )
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(match rej {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as `Content-Type: application/json`",
                ),
                JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
                    "malformed_json",
                    format!("the body is not valid JSON: {}", e.body_text()),
                ),
                JsonRejection::JsonDataError(e) => ApiError::unprocessable(
                    "invalid_body",
                    format!(
                        "the JSON does not match what this endpoint takes: {}",
                        e.body_text()
                    ),
                ),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
                other => ApiError::bad_request("bad_body", other.body_text()),
            }),
        }
    }
}

/// A raw body with its declared content type (uploads).
pub struct Upload {
    /// `Content-Type` without parameters, lower-case ("" if missing).
    pub content_type: String,
    /// The bytes.
    pub bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rej: BytesRejection| {
                if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::bad_request("bad_body", rej.body_text())
                }
            })?;
        Ok(Upload {
            content_type,
            bytes,
        })
    }
}

/// The logged-in account, from the session cookie or a bearer token.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// The account.
    pub user: User,
    /// The token it presented (for logout).
    pub token: String,
}

impl CurrentUser {
    /// 403 unless the permission table lets this role do `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if allowed(self.user.role, action) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "a {} may not do this ({action:?})",
                self.user.role
            )))
        }
    }
}

/// The token presented with a request, if any.
pub fn presented_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_string());
        }
    }
    CookieJar::from_headers(&parts.headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = presented_token(parts).ok_or_else(ApiError::unauthenticated)?;
        let mut conn = state.store.conn().await?;
        let user_id = sessions::user_for(&mut conn, &token)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "session_expired",
                    "the session has expired or was ended; log in again",
                )
            })?;
        let user = users::get(&mut conn, user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if let Some(slot) = parts.extensions.get::<super::access_log::AccessSlot>() {
            slot.fill(&user);
        }
        // An account created with a one-time password must change it before anything else.
        const ALLOWED_BEFORE_CHANGE: [&str; 3] =
            ["/api/me", "/api/auth/password", "/api/auth/logout"];
        if user.must_change_password && !ALLOWED_BEFORE_CHANGE.contains(&parts.uri.path()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "this account has a one-time password: change it first (POST /api/auth/password)",
            ));
        }
        Ok(CurrentUser { user, token })
    }
}

/// The client's socket address, when the server was started with connect info.
pub struct ClientAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}
