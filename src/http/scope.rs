//! Scope checks after the permission table: an institution sees only its own data, a
//! regulator what lies in their jurisdiction, lecturers/assistants/students their classes.
//! Out-of-scope records answer 404, so their existence does not leak.

use signaling::Role;

use super::error::{ApiError, ApiResult};
use crate::store::classes::{self, Class};
use crate::store::users::User;
use crate::store::{institutions, Conn};

/// Whether `user` may see data of institution `institution_id`.
pub async fn sees_institution(
    conn: &mut Conn,
    user: &User,
    institution_id: i64,
) -> ApiResult<bool> {
    Ok(match user.role {
        Role::Regulator => match jurisdiction(user) {
            Ok(j) => institutions::get(conn, institution_id)
                .await?
                .is_some_and(|i| i.region_code.starts_with(j)),
            Err(_) => false,
        },
        _ => user.institution_id == Some(institution_id),
    })
}

/// Loads a class the user may see, or 404.
pub async fn class_for(conn: &mut Conn, user: &User, class_id: i64) -> ApiResult<Class> {
    let not_found = || ApiError::not_found(format!("class {class_id}"));
    let class = classes::get(conn, class_id).await?.ok_or_else(not_found)?;
    let visible = match user.role {
        Role::Admin | Role::Regulator => sees_institution(conn, user, class.institution_id).await?,
        Role::Lecturer => class.lecturer_id == user.id,
        Role::Assistant => class.assistant_ids.contains(&user.id),
        Role::Student => classes::is_enrolled(conn, class_id, user.id).await?,
    };
    if visible {
        Ok(class)
    } else {
        Err(not_found())
    }
}

/// The caller's institution (admins), or 403.
pub fn own_institution(user: &User) -> ApiResult<i64> {
    user.institution_id
        .ok_or_else(|| ApiError::forbidden("this account belongs to no institution"))
}

/// A regulator's jurisdiction (region-code prefix); an account without one sees nothing.
pub fn jurisdiction(user: &User) -> ApiResult<&str> {
    match user.jurisdiction.as_deref() {
        Some(j) if !j.is_empty() => Ok(j),
        _ => Err(ApiError::forbidden(
            "this regulator account has no jurisdiction; ask the operator to set one",
        )),
    }
}
