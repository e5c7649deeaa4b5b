//! Training institutions.

use axum::extract::State;
use axum::Json;
use signaling::Role;

use super::error::ApiResult;
use super::extract::CurrentUser;
use super::AppState;
use crate::auth::Action;
use crate::store::institutions::{self, Institution};

/// Institutions the caller may see: their own, or those in a regulator's jurisdiction.
#[utoipa::path(get, path = "/api/institutions", tag = "institutions",
    responses((status = 200, body = Vec<Institution>)))]
pub async fn list_institutions(
    State(st): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<Institution>>> {
    me.require(Action::ReadInstitutions)?;
    let mut conn = st.store.conn().await?;
    let list = if me.user.role == Role::Regulator {
        institutions::list_in_jurisdiction(&mut conn, super::scope::jurisdiction(&me.user)?).await?
    } else {
        match me.user.institution_id {
            Some(id) => institutions::get(&mut conn, id)
                .await?
                .into_iter()
                .collect(),
            None => vec![],
        }
    };
    Ok(Json(list))
}
