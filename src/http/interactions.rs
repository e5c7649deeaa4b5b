//! The class's interaction record (teaching data for the archive): chat, questions and
//! answers, hand-raises, floor grants, mutes, removals, entries and exits, as the live rooms
//! wrote them. Read by the class's lecturer, its institution's administrators and
//! regulators of its jurisdiction; out of scope answers 404. Private assistant–student
//! messages and calls are for the archive (administrators, regulators), not the lecturer,
//! who never received them in the room either.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use signaling::Role;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::extract::CurrentUser;
use super::scope::class_for;
use super::AppState;
use crate::auth::Action;
use crate::store::interactions::{self, Interaction, PageQuery};

/// Largest page.
const MAX_LIMIT: i64 = 1000;

/// Paging and filters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InteractionsQuery {
    /// Entries after this id (the previous page's `next_after`); default 0, the start.
    pub after: Option<i64>,
    /// Page size (default 200, at most 1000).
    pub limit: Option<i64>,
    /// Only this kind (`chat`, `question`, `hand_raised`, …).
    pub kind: Option<String>,
    /// Only this live session.
    pub session_id: Option<i64>,
}

/// One page of a class's interactions.
#[derive(Serialize, ToSchema)]
pub struct InteractionPage {
    /// Oldest first.
    pub items: Vec<Interaction>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// A class's interactions, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/classes/{id}/interactions", tag = "classes",
    params(("id" = i64, Path, description = "class id"), InteractionsQuery),
    responses((status = 200, body = InteractionPage)))]
pub async fn list_interactions(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    q: Result<Query<InteractionsQuery>, QueryRejection>,
) -> ApiResult<Json<InteractionPage>> {
    me.require(Action::ReadInteractions)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(200);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_limit",
            format!("limit must be 1–{MAX_LIMIT}, not {limit}"),
        ));
    }
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_request(
            "bad_after",
            "after must be an id from an earlier page (≥ 0)",
        ));
    }
    let mut conn = st.store.conn().await?;
    class_for(&mut conn, &me.user, id).await?;
    let query = PageQuery {
        after_id: after,
        // One more than asked tells whether another page follows.
        limit: limit + 1,
        kind: q.kind.as_deref(),
        session_id: q.session_id,
        include_private: me.user.role != Role::Lecturer,
    };
    let mut items = interactions::page(&mut conn, id, &query).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_after = more.then(|| items.last().map(|i| i.id)).flatten();
    Ok(Json(InteractionPage { items, next_after }))
}
