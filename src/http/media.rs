//! Media endpoints: SDP offer in, SDP answer out (non-trickle). The lecturer of a live
//! class publishes the lecture; enrolled students watch it and publish their camera; the
//! class's assistants and regulators of its jurisdiction may watch one student's camera.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use signaling::Role;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, CurrentUser};
use super::scope::class_for;
use super::AppState;
use crate::auth::Action;
use crate::filing::status::ClassStatus;
use crate::store::classes::{self, Class};
use media::offer::OfferError;
use media::{MediaError, PublishKind, SubscribeTarget};

/// What to publish.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublishWhat {
    /// The lecture (lecturer only).
    Lecture,
    /// One's own camera (students).
    Camera,
}

/// An SDP offer to publish.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The offer (all candidates included).
    pub sdp: String,
    /// What is published; `lecture` for the lecturer, `camera` for a student.
    pub what: PublishWhat,
}

/// An SDP offer to receive.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    /// The offer (all candidates included).
    pub sdp: String,
    /// Watch this student's camera instead of the lecture (assistants, regulators, lecturer).
    #[serde(default)]
    pub student_id: Option<i64>,
}

/// The SFU's answer.
#[derive(Serialize, ToSchema)]
pub struct MediaAnswer {
    /// Media session id (to leave).
    pub session: u64,
    /// SDP answer with all candidates.
    pub sdp: String,
}

fn media_error(e: MediaError) -> ApiError {
    match e {
        MediaError::Offer(OfferError::Malformed(d)) => {
            ApiError::bad_request("malformed_sdp", format!("the offer is not valid SDP: {d}"))
        }
        MediaError::Offer(o @ OfferError::NoUsableCodec { .. }) => {
            ApiError::unprocessable("no_usable_codec", o.to_string())
        }
        MediaError::Offer(o @ OfferError::TooManyTracks { .. }) => {
            ApiError::unprocessable("too_many_tracks", o.to_string())
        }
        MediaError::Offer(o @ OfferError::NoMedia) => {
            ApiError::unprocessable("no_media", o.to_string())
        }
        MediaError::Refused(r) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "media_node_full",
            r.to_string(),
        ),
        MediaError::NoSuchSession(s) => ApiError::not_found(format!("media session {s}")),
        other => {
            tracing::error!(error = %other, "media error");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "media_failed",
                "the media server could not set up the connection; it has been logged",
            )
        }
    }
}

async fn live_class(st: &AppState, me: &CurrentUser, class_id: i64) -> ApiResult<Class> {
    let mut conn = st.store.conn().await?;
    let class = class_for(&mut conn, &me.user, class_id).await?;
    if class.status != ClassStatus::Live {
        return Err(ApiError::conflict(
            "class_not_live",
            format!("class {class_id} is {}, not live", class.status.as_str()),
        ));
    }
    Ok(class)
}

/// Publishes the lecture (the class's lecturer) or one's camera (an enrolled student).
#[utoipa::path(post, path = "/api/rooms/{class_id}/publish", tag = "media",
    params(("class_id" = i64, Path, description = "class id")),
    request_body = PublishRequest, responses((status = 200, body = MediaAnswer)))]
pub async fn publish(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(class_id): Path<i64>,
    ApiJson(req): ApiJson<PublishRequest>,
) -> ApiResult<Json<MediaAnswer>> {
    me.require(Action::PublishMedia)?;
    let class = live_class(&st, &me, class_id).await?;
    let kind = match (req.what, me.user.role) {
        (PublishWhat::Lecture, Role::Lecturer) if class.lecturer_id == me.user.id => {
            PublishKind::Lecture
        }
        (PublishWhat::Camera, Role::Student) => PublishKind::StudentCamera,
        (PublishWhat::Lecture, _) => {
            return Err(ApiError::forbidden(
                "only the class's lecturer publishes the lecture",
            ))
        }
        (PublishWhat::Camera, _) => {
            return Err(ApiError::forbidden("only students publish a camera"))
        }
    };
    let a = st
        .sfu
        .publish(class_id, me.user.id, kind, &req.sdp)
        .await
        .map_err(media_error)?;
    Ok(Json(MediaAnswer {
        session: a.session,
        sdp: a.sdp,
    }))
}

/// Receives the lecture (enrolled students, the lecturer, assistants, regulators), or one
/// student's camera (the class's assistants and lecturer, regulators; never students).
#[utoipa::path(post, path = "/api/rooms/{class_id}/subscribe", tag = "media",
    params(("class_id" = i64, Path, description = "class id")),
    request_body = SubscribeRequest, responses((status = 200, body = MediaAnswer)))]
pub async fn subscribe(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(class_id): Path<i64>,
    ApiJson(req): ApiJson<SubscribeRequest>,
) -> ApiResult<Json<MediaAnswer>> {
    me.require(Action::WatchLecture)?;
    live_class(&st, &me, class_id).await?;
    let target = match req.student_id {
        None => SubscribeTarget::Lecture,
        Some(student) => {
            me.require(Action::WatchStudentCamera)?;
            let mut conn = st.store.conn().await?;
            if !classes::is_enrolled(&mut conn, class_id, student).await? {
                return Err(ApiError::not_found(format!(
                    "student {student} in class {class_id}"
                )));
            }
            // A student's microphone is heard only through the room, which knows who holds
            // the floor or is in a call (GET /ws, `media_offer`).
            if ::media::offer::inspect(&req.sdp, usize::MAX, usize::MAX).is_ok_and(|o| o.audio > 0)
            {
                return Err(ApiError::forbidden(
                    "a student's microphone is heard only through the class room (floor or \
                     private call): offer video only",
                ));
            }
            SubscribeTarget::StudentCamera(student)
        }
    };
    let a = st
        .sfu
        .subscribe(class_id, me.user.id, target, &req.sdp)
        .await
        .map_err(media_error)?;
    Ok(Json(MediaAnswer {
        session: a.session,
        sdp: a.sdp,
    }))
}
