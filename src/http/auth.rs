//! Login, logout, the current account, password change.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ClientAddr, CurrentUser, SESSION_COOKIE};
use super::AppState;
use crate::auth::password;
use crate::auth::Action;
use crate::store::users::User;
use crate::store::{audit, sessions, users};

/// Credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A new session.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token (also set as an HTTP-only cookie).
    pub token: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The account.
    pub user: User,
}

fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn locked(retry: std::time::Duration) -> ApiError {
    let secs = retry.as_secs().max(1);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "login_locked",
        format!("too many failed logins; try again in {secs} s"),
    );
    e.retry_after = Some(secs);
    e
}

/// Logs in; returns a token and sets the session cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong username or password"),
              (status = 429, description = "locked after repeated failures")))]
pub async fn login(
    State(st): State<AppState>,
    ClientAddr(client): ClientAddr,
    jar: CookieJar,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<(CookieJar, Json<LoginResponse>)> {
    let now = Instant::now();
    let account_key = req.username.trim().to_lowercase();
    let address_key = client
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    for (throttle, key) in [
        (&st.account_throttle, &account_key),
        (&st.address_throttle, &address_key),
    ] {
        if let Err(retry) = throttle.check(key, now) {
            st.metrics
                .login_failures
                .with_label_values(&["locked"])
                .inc();
            return Err(locked(retry));
        }
    }
    let mut conn = st.store.conn().await?;
    let found = users::get_with_hash(&mut conn, req.username.trim()).await?;
    let hash = found
        .as_ref()
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| password::dummy_hash().to_string());
    let pw = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .unwrap_or(false);
    let user = match (ok, found) {
        (true, Some((user, _))) => user,
        _ => {
            st.metrics
                .login_failures
                .with_label_values(&["bad_credentials"])
                .inc();
            let a = st.account_throttle.record_failure(&account_key, now);
            let b = st.address_throttle.record_failure(&address_key, now);
            if let Some(retry) = a.or(b) {
                return Err(locked(retry));
            }
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong username or password",
            ));
        }
    };
    st.account_throttle.record_success(&account_key);
    st.account_throttle.prune(now);
    st.address_throttle.prune(now);
    let token = new_token();
    let ttl = st.config.auth.session_ttl_hours * 3600;
    sessions::insert(&mut conn, &token, user.id, (ttl * 1000) as i64).await?;
    if user.role == signaling::Role::Regulator {
        audit::record(
            &mut conn,
            &audit::NewEntry {
                actor_id: Some(user.id),
                actor_role: Some(user.role.as_str()),
                action: "auth.login",
                target_kind: "user",
                target_id: Some(user.id.to_string()),
                institution_id: None,
                detail: serde_json::json!({ "address": address_key }),
            },
        )
        .await?;
    }
    tracing::info!(user_id = user.id, role = %user.role, "login");
    let cookie = Cookie::build((SESSION_COOKIE, token.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(st.config.auth.cookie_secure)
        .path("/")
        .build();
    Ok((
        jar.add(cookie),
        Json(LoginResponse {
            token,
            expires_in: ttl,
            user,
        }),
    ))
}

/// Ends the current session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(
    State(st): State<AppState>,
    me: CurrentUser,
    jar: CookieJar,
) -> ApiResult<(CookieJar, StatusCode)> {
    let mut conn = st.store.conn().await?;
    sessions::delete(&mut conn, &me.token).await?;
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        StatusCode::NO_CONTENT,
    ))
}

/// The logged-in account.
#[utoipa::path(get, path = "/api/me", tag = "auth", responses((status = 200, body = User)))]
pub async fn me(me: CurrentUser) -> ApiResult<Json<User>> {
    me.require(Action::UseOwnAccount)?;
    Ok(Json(me.user))
}

/// Password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Current password.
    pub current_password: String,
    /// New password (at least 8 characters).
    pub new_password: String,
}

/// Changes the caller's password and ends their other sessions.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 422, description = "wrong current password or weak new one")))]
pub async fn change_password(
    State(st): State<AppState>,
    me: CurrentUser,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    me.require(Action::UseOwnAccount)?;
    if let Some(why) = password::policy_violation(&req.new_password) {
        return Err(ApiError::unprocessable(
            "weak_password",
            format!("new password {why}"),
        ));
    }
    let mut conn = st.store.conn().await?;
    let hash = users::password_hash(&mut conn, me.user.id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let (cur, new) = (req.current_password, req.new_password);
    let new_hash = tokio::task::spawn_blocking(move || {
        password::verify(&cur, &hash).then(|| password::hash(&new))
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| {
        ApiError::unprocessable("invalid_credentials", "the current password is wrong")
    })?;
    let mut tx = st.store.begin().await?;
    users::set_password(&mut tx, me.user.id, &new_hash).await?;
    sessions::delete_for_user(&mut tx, me.user.id).await?;
    sessions::insert(
        &mut tx,
        &me.token,
        me.user.id,
        (st.config.auth.session_ttl_hours * 3600 * 1000) as i64,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
