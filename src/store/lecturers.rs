//! Lecturers' SYB lecturer certificates (SYB创业培训讲师证).

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;

use super::{now_ms, Conn, StoreError, StoreResult};
use crate::filing::rules::SybCertificate;

/// A stored certificate.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Certificate {
    /// Id.
    pub id: i64,
    /// Lecturer's account id.
    pub lecturer_id: i64,
    /// Certificate number.
    pub number: String,
    /// Issuing authority.
    pub issuer: String,
    /// First valid day.
    pub valid_from: NaiveDate,
    /// Last valid day; none = no expiry.
    pub valid_until: Option<NaiveDate>,
}

impl Certificate {
    /// The part the filing rules look at.
    pub fn for_rules(&self) -> SybCertificate {
        SybCertificate {
            number: self.number.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
        }
    }
}

fn date(s: &str) -> StoreResult<NaiveDate> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad date {s:?}")))
}

/// Adds a certificate; returns its id.
pub async fn insert(
    conn: &mut Conn,
    lecturer_id: i64,
    number: &str,
    issuer: &str,
    valid_from: NaiveDate,
    valid_until: Option<NaiveDate>,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO syb_certificates (lecturer_id, number, issuer, valid_from, valid_until, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(lecturer_id)
    .bind(number)
    .bind(issuer)
    .bind(valid_from.to_string())
    .bind(valid_until.map(|d| d.to_string()))
    .bind(now_ms())
    .fetch_one(&mut *conn)
    .await?)
}

/// A lecturer's certificates.
pub async fn list(conn: &mut Conn, lecturer_id: i64) -> StoreResult<Vec<Certificate>> {
    let rows = sqlx::query(
        "SELECT id, lecturer_id, number, issuer, valid_from, valid_until FROM syb_certificates \
         WHERE lecturer_id = $1 ORDER BY valid_from",
    )
    .bind(lecturer_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let from: String = r.try_get("valid_from")?;
            let until: Option<String> = r.try_get("valid_until")?;
            Ok(Certificate {
                id: r.try_get("id")?,
                lecturer_id: r.try_get("lecturer_id")?,
                number: r.try_get("number")?,
                issuer: r.try_get("issuer")?,
                valid_from: date(&from)?,
                valid_until: until.as_deref().map(date).transpose()?,
            })
        })
        .collect()
}
