//! Free-text registration fields: trainee name and household registration place.

use std::fmt;

/// Shortest accepted name, in characters.
pub const NAME_MIN_CHARS: usize = 2;
/// Longest accepted name, in characters.
pub const NAME_MAX_CHARS: usize = 30;
/// Shortest accepted household registration place, in characters.
pub const PLACE_MIN_CHARS: usize = 2;
/// Longest accepted household registration place, in characters.
pub const PLACE_MAX_CHARS: usize = 100;

/// Middle dots separating parts of minority and transliterated names
/// (e.g. 阿卜杜·热合曼); both appear in real ID-card data entry.
const NAME_DOTS: [char; 2] = ['·', '•'];

/// Which field a [`FieldError`] is about, so messages read naturally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// The trainee's name.
    Name,
    /// The household registration place (户籍所在地).
    HouseholdPlace,
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Name => "the name",
            Self::HouseholdPlace => "the household registration place",
        })
    }
}

/// Why a name or household place was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Nothing was entered.
    #[error("{field} is empty")]
    Empty {
        /// Field concerned.
        field: FieldKind,
    },
    /// Fewer characters than allowed.
    #[error("{field} is too short: {len} character(s), at least {min} needed")]
    TooShort {
        /// Field concerned.
        field: FieldKind,
        /// Characters found.
        len: usize,
        /// Minimum allowed.
        min: usize,
    },
    /// More characters than allowed.
    #[error("{field} is too long: {len} characters, at most {max} allowed")]
    TooLong {
        /// Field concerned.
        field: FieldKind,
        /// Characters found.
        len: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// A character a name may not contain (digit, punctuation, emoji…).
    #[error(
        "{field} contains {found:?}; only Chinese characters, Latin letters, spaces and \
         the middle dot · are allowed"
    )]
    BadCharacter {
        /// Field concerned.
        field: FieldKind,
        /// The offending character.
        found: char,
    },
    /// A middle dot at the start or end, or two in a row.
    #[error("{field} has a misplaced ·; it may only separate parts of the name")]
    MisplacedSeparator {
        /// Field concerned.
        field: FieldKind,
    },
    /// An invisible control character such as a line break or tab.
    #[error("{field} contains an invisible control character at position {position}")]
    ControlCharacter {
        /// Field concerned.
        field: FieldKind,
        /// 1-based character position.
        position: usize,
    },
}

impl FieldError {
    /// Stable machine-readable code for this error, for APIs and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty { .. } => "empty",
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::BadCharacter { .. } => "bad_character",
            Self::MisplacedSeparator { .. } => "misplaced_separator",
            Self::ControlCharacter { .. } => "control_character",
        }
    }
}

/// True for CJK ideographs, including the extension blocks where rare
/// characters in personal names live.
fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}'     // Extension A
        | '\u{4E00}'..='\u{9FFF}'   // Unified Ideographs
        | '\u{F900}'..='\u{FAFF}'   // Compatibility Ideographs
        | '\u{20000}'..='\u{2EE5F}' // Extensions B–F, I
        | '\u{30000}'..='\u{323AF}' // Extensions G–H
    )
}

/// True for letters of the Latin script (basic, Latin-1 and extended blocks).
fn is_latin_letter(c: char) -> bool {
    c.is_alphabetic()
        && matches!(c,
            'A'..='Z' | 'a'..='z' | '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}')
}

/// Checks length bounds in characters (not bytes).
fn check_len(field: FieldKind, value: &str, min: usize, max: usize) -> Result<(), FieldError> {
    let len = value.chars().count();
    if len < min {
        return Err(FieldError::TooShort { field, len, min });
    }
    if len > max {
        return Err(FieldError::TooLong { field, len, max });
    }
    Ok(())
}

/// Removes single spaces next to a middle dot; callers collapse whitespace first.
fn drop_spaces_around_dots(mut name: String) -> String {
    for dot in NAME_DOTS {
        name = name
            .replace(&format!(" {dot}"), &dot.to_string())
            .replace(&format!("{dot} "), &dot.to_string());
    }
    name
}

/// Validates a trainee name and returns it normalised.
///
/// Normalisation trims, collapses runs of whitespace (including the
/// full-width space) to one ASCII space and drops spaces around middle
/// dots, so "阿卜杜 · 热合曼" matches the ID-card spelling "阿卜杜·热合曼".
pub fn parse_name(input: &str) -> Result<String, FieldError> {
    let field = FieldKind::Name;
    let collapsed = input.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return Err(FieldError::Empty { field });
    }
    if let Some(found) = collapsed
        .chars()
        .find(|&c| !(is_han(c) || is_latin_letter(c) || c == ' ' || NAME_DOTS.contains(&c)))
    {
        return Err(FieldError::BadCharacter { field, found });
    }
    let name = drop_spaces_around_dots(collapsed);
    let starts_or_ends_with_dot = name.starts_with(NAME_DOTS) || name.ends_with(NAME_DOTS);
    let has_double_dot = name
        .chars()
        .zip(name.chars().skip(1))
        .any(|(a, b)| NAME_DOTS.contains(&a) && NAME_DOTS.contains(&b));
    if starts_or_ends_with_dot || has_double_dot {
        return Err(FieldError::MisplacedSeparator { field });
    }
    check_len(field, &name, NAME_MIN_CHARS, NAME_MAX_CHARS)?;
    Ok(name)
}

/// Validates a household registration place (户籍所在地) and returns it trimmed.
pub fn parse_household_place(input: &str) -> Result<String, FieldError> {
    let field = FieldKind::HouseholdPlace;
    let place = input.trim();
    if place.is_empty() {
        return Err(FieldError::Empty { field });
    }
    if let Some(i) = place.chars().position(char::is_control) {
        return Err(FieldError::ControlCharacter {
            field,
            position: i + 1,
        });
    }
    check_len(field, place, PLACE_MIN_CHARS, PLACE_MAX_CHARS)?;
    Ok(place.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_chinese_latin_and_dotted_names() {
        for name in [
            "张三",
            "欧阳振华",
            "阿卜杜·热合曼",
            "买买提•艾力",
            "John Smith",
            "Zoë Müller",
            "李𬌗", // Extension-B character, four UTF-8 bytes
        ] {
            assert_eq!(parse_name(name).as_deref(), Ok(name), "{name}");
        }
    }

    #[test]
    fn name_whitespace_is_normalised() {
        assert_eq!(parse_name("  张三  ").unwrap(), "张三");
        assert_eq!(
            parse_name("John\u{3000}\u{3000}Smith").unwrap(),
            "John Smith"
        );
        assert_eq!(parse_name("阿卜杜 · 热合曼").unwrap(), "阿卜杜·热合曼");
    }

    #[test]
    fn name_with_digits_or_punctuation_is_rejected() {
        for (input, found) in [
            ("张三1", '1'),
            ("张,三", ','),
            ("O'Brien", '\''),
            ("王😀", '😀'),
        ] {
            let err = parse_name(input).unwrap_err();
            assert_eq!(
                err,
                FieldError::BadCharacter {
                    field: FieldKind::Name,
                    found
                },
                "{input}"
            );
            assert_eq!(err.code(), "bad_character");
        }
    }

    #[test]
    fn name_length_counts_characters_not_bytes() {
        let err = parse_name("张").unwrap_err();
        assert_eq!(
            err,
            FieldError::TooShort {
                field: FieldKind::Name,
                len: 1,
                min: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "the name is too short: 1 character(s), at least 2 needed"
        );
        // 30 Chinese characters are 90 bytes but still allowed.
        assert!(parse_name(&"张".repeat(30)).is_ok());
        let err = parse_name(&"张".repeat(31)).unwrap_err();
        assert_eq!(err.code(), "too_long");
    }

    #[test]
    fn misplaced_dots_are_rejected() {
        for input in ["·热合曼", "阿卜杜·", "阿卜杜··热合曼", "阿卜杜· •热合曼"]
        {
            let err = parse_name(input).unwrap_err();
            assert_eq!(err.code(), "misplaced_separator", "{input}");
        }
    }

    #[test]
    fn empty_name_is_reported_as_empty() {
        let err = parse_name(" \u{3000} ").unwrap_err();
        assert_eq!(err.code(), "empty");
        assert_eq!(err.to_string(), "the name is empty");
    }

    #[test]
    fn household_place_is_trimmed_and_bounded() {
        assert_eq!(
            parse_household_place("  河南省郑州市中原区  ").unwrap(),
            "河南省郑州市中原区"
        );
        // Punctuation and digits are normal in addresses.
        assert!(parse_household_place("北京市朝阳区(2号院)").is_ok());
        assert_eq!(parse_household_place("豫").unwrap_err().code(), "too_short");
        assert_eq!(
            parse_household_place(&"路".repeat(101)).unwrap_err().code(),
            "too_long"
        );
        assert!(parse_household_place(&"路".repeat(100)).is_ok());
        assert_eq!(parse_household_place("").unwrap_err().code(), "empty");
    }

    #[test]
    fn household_place_rejects_control_characters() {
        let err = parse_household_place("河南省\n郑州市").unwrap_err();
        assert_eq!(
            err,
            FieldError::ControlCharacter {
                field: FieldKind::HouseholdPlace,
                position: 4
            }
        );
        assert!(err.to_string().contains("household registration place"));
    }
}
