//! The five roles of the notice. One word each, used everywhere: code, API, logs, metrics.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who a participant or account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Training-institution administrator (定点培训机构): files classes, imports rosters.
    Admin,
    /// Lecturer (讲师) holding an SYB certificate: broadcasts the class.
    Lecturer,
    /// Assistant (助教): looks after a group of 20–30 students.
    Assistant,
    /// Student (学员): watches, is face-checked, takes the exam.
    Student,
    /// Labour-bureau regulator (人社部门监管账号): reads everything, enters rooms silently.
    Regulator,
}

impl Role {
    /// Every role, in a fixed order (for permission tables and tests).
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Lecturer,
        Role::Assistant,
        Role::Student,
        Role::Regulator,
    ];

    /// The lower-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Lecturer => "lecturer",
            Role::Assistant => "assistant",
            Role::Student => "student",
            Role::Regulator => "regulator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of the five.
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}: expected admin, lecturer, assistant, student or regulator")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert!("teacher".parse::<Role>().is_err());
    }
}
