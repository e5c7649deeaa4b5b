//! The lifecycle of a class, from draft through bureau filing to archive.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Where a class is in its lifecycle.
///
/// Serialised as the lower-case name (`"draft"`, `"submitted"`, …), the same
/// string as [`ClassStatus::as_str`] and [`FromStr`] use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClassStatus {
    /// Being prepared by the training institution; not yet sent to the bureau.
    Draft,
    /// Sent to the labour bureau for filing (开班备案), awaiting its decision.
    Submitted,
    /// Accepted by the bureau; the class may start.
    Filed,
    /// Sessions are running.
    Live,
    /// All sessions held.
    Finished,
    /// Closed and kept for audit; no further changes.
    Archived,
}

impl ClassStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [ClassStatus; 6] = [
        ClassStatus::Draft,
        ClassStatus::Submitted,
        ClassStatus::Filed,
        ClassStatus::Live,
        ClassStatus::Finished,
        ClassStatus::Archived,
    ];

    /// The lower-case name used in storage, APIs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ClassStatus::Draft => "draft",
            ClassStatus::Submitted => "submitted",
            ClassStatus::Filed => "filed",
            ClassStatus::Live => "live",
            ClassStatus::Finished => "finished",
            ClassStatus::Archived => "archived",
        }
    }
}

impl fmt::Display for ClassStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not the name of any [`ClassStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown class status {0:?}")]
pub struct ParseClassStatusError(pub String);

impl FromStr for ClassStatus {
    type Err = ParseClassStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClassStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseClassStatusError(s.to_owned()))
    }
}

// Hand-written so serde, `as_str` and `FromStr` cannot drift apart.
impl Serialize for ClassStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ClassStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Something done to a class that may move it to another status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClassAction {
    /// The institution sends the class to the bureau.
    Submit,
    /// The bureau accepts the filing.
    File,
    /// The bureau sends the class back with a reason, for correction.
    Return,
    /// The first session begins.
    Start,
    /// The last session has been held.
    Finish,
    /// The class is closed for good.
    Archive,
}

impl ClassAction {
    /// Every action.
    pub const ALL: [ClassAction; 6] = [
        ClassAction::Submit,
        ClassAction::File,
        ClassAction::Return,
        ClassAction::Start,
        ClassAction::Finish,
        ClassAction::Archive,
    ];

    /// The lower-case verb, as used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ClassAction::Submit => "submit",
            ClassAction::File => "file",
            ClassAction::Return => "return",
            ClassAction::Start => "start",
            ClassAction::Finish => "finish",
            ClassAction::Archive => "archive",
        }
    }

    /// The one status this action applies to, and where it leads.
    fn edge(self) -> (ClassStatus, ClassStatus) {
        use ClassStatus::*;
        match self {
            ClassAction::Submit => (Draft, Submitted),
            ClassAction::File => (Submitted, Filed),
            ClassAction::Return => (Submitted, Draft),
            ClassAction::Start => (Filed, Live),
            ClassAction::Finish => (Live, Finished),
            ClassAction::Archive => (Finished, Archived),
        }
    }

    /// Why the action was refused, for the error message.
    fn requirement(self) -> &'static str {
        match self {
            ClassAction::Submit => "only a draft class can be submitted",
            ClassAction::File => "only a submitted class can be filed",
            ClassAction::Return => "only a submitted class can be returned",
            ClassAction::Start => "only a filed class can go live",
            ClassAction::Finish => "only a live class can be finished",
            ClassAction::Archive => "only a finished class can be archived",
        }
    }
}

impl fmt::Display for ClassAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action that is not allowed from the class's current status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("cannot {action} a class that is {from}: {}", .action.requirement())]
pub struct TransitionError {
    /// The status the class was in.
    pub from: ClassStatus,
    /// The action that was refused.
    pub action: ClassAction,
}

/// The status a class reaches when `action` is applied in status `from`.
///
/// Each action is allowed from exactly one status: Draft –submit→ Submitted
/// –file→ Filed –start→ Live –finish→ Finished –archive→ Archived, plus
/// Submitted –return→ Draft when the bureau sends the filing back.
pub fn transition(from: ClassStatus, action: ClassAction) -> Result<ClassStatus, TransitionError> {
    match action.edge() {
        (source, target) if source == from => Ok(target),
        _ => Err(TransitionError { from, action }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as DeError, StrDeserializer};
    use serde::de::IntoDeserializer;
    use ClassAction::*;
    use ClassStatus::*;

    #[test]
    fn every_status_action_pair() {
        // (from, action, expected target); pairs not listed must be refused.
        let allowed = [
            (Draft, Submit, Submitted),
            (Submitted, File, Filed),
            (Submitted, Return, Draft),
            (Filed, Start, Live),
            (Live, Finish, Finished),
            (Finished, Archive, Archived),
        ];
        let mut checked = 0;
        for from in ClassStatus::ALL {
            for action in ClassAction::ALL {
                let expected = allowed
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|&(_, _, to)| to);
                match expected {
                    Some(to) => assert_eq!(transition(from, action), Ok(to)),
                    None => assert_eq!(
                        transition(from, action),
                        Err(TransitionError { from, action }),
                        "{from} + {action} should be refused"
                    ),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 36);
    }

    #[test]
    fn errors_name_status_action_and_reason() {
        let err = transition(Draft, Start).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot start a class that is draft: only a filed class can go live"
        );
        let err = transition(Live, Archive).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot archive a class that is live: only a finished class can be archived"
        );
    }

    #[test]
    fn status_strings_round_trip() {
        let names: Vec<&str> = ClassStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "draft",
                "submitted",
                "filed",
                "live",
                "finished",
                "archived"
            ]
        );
        for status in ClassStatus::ALL {
            assert_eq!(status.as_str().parse::<ClassStatus>(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        assert_eq!(
            "Draft".parse::<ClassStatus>(),
            Err(ParseClassStatusError("Draft".into()))
        );
    }

    #[test]
    fn serde_uses_the_lower_case_names() {
        for status in ClassStatus::ALL {
            let de: StrDeserializer<DeError> = status.as_str().into_deserializer();
            assert_eq!(ClassStatus::deserialize(de), Ok(status));
        }
        let de: StrDeserializer<DeError> = "LIVE".into_deserializer();
        let err = ClassStatus::deserialize(de).unwrap_err();
        assert_eq!(err.to_string(), "unknown class status \"LIVE\"");
    }
}
