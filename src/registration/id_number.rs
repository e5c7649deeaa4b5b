//! Chinese 18-digit resident identity numbers (GB 11643-1999).
//!
//! Layout: 6-digit region code, 8-digit birth date (YYYYMMDD), 3-digit
//! sequence number, then a check character computed with ISO 7064 MOD 11-2.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Serialize, Serializer};

/// Number of characters in a resident ID number.
const ID_LEN: usize = 18;

/// ISO 7064 MOD 11-2 weights for the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Check character indexed by the weighted sum modulo 11.
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// Province-level codes allowed as the first two digits (GB/T 2260).
const PROVINCE_CODES: &[u8] = &[
    11, 12, 13, 14, 15, // North China
    21, 22, 23, // North-east
    31, 32, 33, 34, 35, 36, 37, // East
    41, 42, 43, 44, 45, 46, // Central and South
    50, 51, 52, 53, 54, // South-west
    61, 62, 63, 64, 65, // North-west
    71, 81, 82, // Taiwan, Hong Kong, Macao
];

/// Earliest birth date accepted; older dates are data-entry mistakes.
fn earliest_birth_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).expect("1900-01-01 is a valid date")
}

/// A validated, normalised 18-character resident ID number.
///
/// Normalised means surrounding whitespace removed, full-width digits turned
/// into ASCII and the check character `X` in upper case. `Debug` prints the
/// masked form so full numbers do not end up in logs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResidentId(String);

/// Why a string is not a valid resident ID number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    /// Nothing was entered.
    #[error("the ID number is empty")]
    Empty,
    /// Not exactly 18 characters.
    #[error("the ID number has {len} characters; it must have exactly 18")]
    WrongLength {
        /// Number of characters found.
        len: usize,
    },
    /// A character that is not allowed at its position.
    #[error(
        "character {position} of the ID number is {found:?}; the first 17 characters must be \
         digits and the last one a digit or X"
    )]
    BadCharacter {
        /// 1-based character position.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// The first two digits are not a province code.
    #[error("the ID number starts with {prefix}, which is not a Chinese province code")]
    BadRegion {
        /// The first two digits.
        prefix: String,
    },
    /// Digits 7–14 are not a calendar date.
    #[error("characters 7-14 of the ID number ({digits}) are not a real date (YYYYMMDD)")]
    BadBirthDate {
        /// The eight date digits as entered.
        digits: String,
    },
    /// The birth date lies after the reference day.
    #[error("the birth date in the ID number ({date}) is in the future")]
    BirthDateInFuture {
        /// The decoded birth date.
        date: NaiveDate,
    },
    /// The birth date is before 1900-01-01.
    #[error("the birth date in the ID number ({date}) is before 1900")]
    BirthDateTooEarly {
        /// The decoded birth date.
        date: NaiveDate,
    },
    /// The check character does not match the other 17 digits.
    #[error(
        "the last character of the ID number should be {expected} but is {found}; \
         a digit is probably mistyped"
    )]
    BadCheckDigit {
        /// Check character computed from the first 17 digits.
        expected: char,
        /// Check character entered.
        found: char,
    },
}

impl IdNumberError {
    /// Stable machine-readable code for this error, for APIs and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::WrongLength { .. } => "wrong_length",
            Self::BadCharacter { .. } => "bad_character",
            Self::BadRegion { .. } => "bad_region",
            Self::BadBirthDate { .. } => "bad_birth_date",
            Self::BirthDateInFuture { .. } => "birth_date_in_future",
            Self::BirthDateTooEarly { .. } => "birth_date_too_early",
            Self::BadCheckDigit { .. } => "bad_check_digit",
        }
    }
}

/// Full-width forms (U+FF01–U+FF5E) sit this far above their ASCII twins.
const FULL_WIDTH_OFFSET: u32 = 0xFEE0;

/// Maps full-width digits and X (typed by Chinese IMEs in full-width mode)
/// to ASCII and `x` to `X`; other characters pass through unchanged.
fn to_ascii_form(c: char) -> char {
    match c {
        '０'..='９' | 'Ｘ' | 'ｘ' => char::from_u32(u32::from(c) - FULL_WIDTH_OFFSET)
            .map_or(c, |ascii| ascii.to_ascii_uppercase()),
        'x' => 'X',
        _ => c,
    }
}

impl ResidentId {
    /// Validates and normalises an ID number; `today` bounds the birth date.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, IdNumberError> {
        let id: String = input.trim().chars().map(to_ascii_form).collect();
        if id.is_empty() {
            return Err(IdNumberError::Empty);
        }
        let len = id.chars().count();
        if len != ID_LEN {
            return Err(IdNumberError::WrongLength { len });
        }
        for (i, c) in id.chars().enumerate() {
            let ok = c.is_ascii_digit() || (i == ID_LEN - 1 && c == 'X');
            if !ok {
                return Err(IdNumberError::BadCharacter {
                    position: i + 1,
                    found: c,
                });
            }
        }
        // From here on every character is ASCII, so byte slicing is safe.
        let province: u8 = id[..2].parse().expect("two ASCII digits");
        if !PROVINCE_CODES.contains(&province) {
            return Err(IdNumberError::BadRegion {
                prefix: id[..2].to_owned(),
            });
        }
        let date = date_from_digits(&id[6..14]).ok_or_else(|| IdNumberError::BadBirthDate {
            digits: id[6..14].to_owned(),
        })?;
        if date < earliest_birth_date() {
            return Err(IdNumberError::BirthDateTooEarly { date });
        }
        if date > today {
            return Err(IdNumberError::BirthDateInFuture { date });
        }
        let expected = check_char(&id[..17]);
        let found = char::from(id.as_bytes()[17]);
        if expected != found {
            return Err(IdNumberError::BadCheckDigit { expected, found });
        }
        Ok(Self(id))
    }

    /// The normalised 18-character number.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Birth date encoded in characters 7–14.
    pub fn birth_date(&self) -> NaiveDate {
        date_from_digits(&self.0[6..14]).expect("birth date validated on construction")
    }

    /// Six-digit administrative region code (first six characters).
    pub fn region_code(&self) -> &str {
        &self.0[..6]
    }

    /// Display form hiding the birth date: first 6, eight `*`, last 4.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResidentId").field(&self.masked()).finish()
    }
}

impl Serialize for ResidentId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Parses eight ASCII digits `YYYYMMDD`; `None` if not a calendar date.
fn date_from_digits(digits: &str) -> Option<NaiveDate> {
    let year = digits.get(..4)?.parse().ok()?;
    let month = digits.get(4..6)?.parse().ok()?;
    let day = digits.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Computes the check character for the first 17 digits of an ID number.
///
/// # Panics
///
/// Panics if `first17` is not exactly 17 ASCII digits.
pub fn check_char(first17: &str) -> char {
    assert!(
        first17.len() == 17 && first17.bytes().all(|b| b.is_ascii_digit()),
        "check_char needs exactly 17 ASCII digits"
    );
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    char::from(CHECK_CHARS[(sum % 11) as usize])
}

/// Builds a well-formed ID number (demo data and tests); the result is not
/// checked against a reference day or the province list.
///
/// # Panics
///
/// Panics if `region6` is not six ASCII digits, `seq3` exceeds 999 or the
/// birth year is outside 0000–9999.
pub fn make(region6: &str, birth: NaiveDate, seq3: u16) -> ResidentId {
    assert!(
        region6.len() == 6 && region6.bytes().all(|b| b.is_ascii_digit()),
        "region code must be six ASCII digits"
    );
    assert!(seq3 <= 999, "sequence number must be at most 999");
    assert!(
        (0..=9999).contains(&birth.year()),
        "birth year must have four digits"
    );
    let first17 = format!(
        "{region6}{:04}{:02}{:02}{seq3:03}",
        birth.year(),
        birth.month(),
        birth.day()
    );
    let check = check_char(&first17);
    ResidentId(format!("{first17}{check}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        date(2024, 6, 1)
    }

    /// Builds an ID from 17 digits plus the correct check character.
    fn with_check(first17: &str) -> String {
        format!("{first17}{}", check_char(first17))
    }

    #[test]
    fn well_known_sample_is_valid() {
        let id = ResidentId::parse("11010519491231002X", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), date(1949, 12, 31));
        assert_eq!(id.region_code(), "110105");
        assert_eq!(check_char("11010519491231002"), 'X');
    }

    #[test]
    fn computed_check_digits_are_accepted() {
        for first17 in [
            "41010219900307123",
            "44030420001231004",
            "65010219850101999",
        ] {
            let input = with_check(first17);
            let id = ResidentId::parse(&input, today()).unwrap();
            assert_eq!(id.as_str(), input);
        }
    }

    #[test]
    fn lower_case_x_and_spaces_are_normalised() {
        let id = ResidentId::parse("  11010519491231002x \t", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn full_width_digits_are_normalised() {
        let id = ResidentId::parse("１１０１０５１９４９１２３１００２Ｘ", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn bad_check_digit_reports_expected_and_found() {
        let err = ResidentId::parse("110105194912310021", today()).unwrap_err();
        assert_eq!(
            err,
            IdNumberError::BadCheckDigit {
                expected: 'X',
                found: '1'
            }
        );
        assert_eq!(err.code(), "bad_check_digit");
        assert!(err.to_string().contains("should be X but is 1"));
    }

    #[test]
    fn impossible_dates_are_rejected() {
        for first17 in [
            "41010219990230123",
            "41010219991301123",
            "41010219990000123",
        ] {
            let err = ResidentId::parse(&with_check(first17), today()).unwrap_err();
            assert_eq!(err.code(), "bad_birth_date", "{first17}");
        }
        let err = ResidentId::parse(&with_check("41010219990230123"), today()).unwrap_err();
        assert!(err.to_string().contains("19990230"));
    }

    #[test]
    fn leap_day_is_a_real_date() {
        let id = ResidentId::parse(&with_check("41010220000229123"), today()).unwrap();
        assert_eq!(id.birth_date(), date(2000, 2, 29));
    }

    #[test]
    fn wrong_length_states_the_length() {
        let err = ResidentId::parse("11010519491231002", today()).unwrap_err();
        assert_eq!(err, IdNumberError::WrongLength { len: 17 });
        assert!(err.to_string().contains("17 characters"));
        let err = ResidentId::parse("11010519491231002X1", today()).unwrap_err();
        assert_eq!(err, IdNumberError::WrongLength { len: 19 });
        assert_eq!(err.code(), "wrong_length");
    }

    #[test]
    fn empty_input_has_its_own_error() {
        assert_eq!(ResidentId::parse("   ", today()), Err(IdNumberError::Empty));
    }

    #[test]
    fn non_digit_reports_position() {
        let err = ResidentId::parse("1101051949123100AX", today()).unwrap_err();
        assert_eq!(
            err,
            IdNumberError::BadCharacter {
                position: 17,
                found: 'A'
            }
        );
        assert_eq!(err.code(), "bad_character");
        // X is only allowed as the check character.
        let err = ResidentId::parse("X1010519491231002X", today()).unwrap_err();
        assert_eq!(err.code(), "bad_character");
        // Multi-byte characters count as one position each.
        let err = ResidentId::parse("11010519491231002中", today()).unwrap_err();
        assert_eq!(
            err,
            IdNumberError::BadCharacter {
                position: 18,
                found: '中'
            }
        );
    }

    #[test]
    fn future_birth_date_is_rejected() {
        let err = ResidentId::parse(&with_check("41010220240602123"), today()).unwrap_err();
        assert_eq!(
            err,
            IdNumberError::BirthDateInFuture {
                date: date(2024, 6, 2)
            }
        );
        assert_eq!(err.code(), "birth_date_in_future");
        // Born today is fine.
        assert!(ResidentId::parse(&with_check("41010220240601123"), today()).is_ok());
    }

    #[test]
    fn birth_before_1900_is_rejected() {
        let err = ResidentId::parse(&with_check("41010218991231123"), today()).unwrap_err();
        assert_eq!(err.code(), "birth_date_too_early");
        assert!(ResidentId::parse(&with_check("41010219000101123"), today()).is_ok());
    }

    #[test]
    fn unknown_province_is_rejected() {
        for prefix in [
            "00", "10", "16", "20", "24", "38", "47", "55", "66", "72", "83", "99",
        ] {
            let first17 = format!("{prefix}010219900307123");
            let err = ResidentId::parse(&with_check(&first17), today()).unwrap_err();
            assert_eq!(
                err,
                IdNumberError::BadRegion {
                    prefix: prefix.to_owned()
                }
            );
        }
        for prefix in ["11", "15", "23", "37", "46", "54", "65", "71", "81", "82"] {
            let first17 = format!("{prefix}010219900307123");
            assert!(
                ResidentId::parse(&with_check(&first17), today()).is_ok(),
                "{prefix}"
            );
        }
    }

    #[test]
    fn masked_hides_birth_date_and_sequence_start() {
        let id = make("410102", date(1990, 3, 7), 123);
        let full = id.as_str().to_owned();
        assert_eq!(id.masked(), format!("410102********{}", &full[14..]));
        assert_eq!(format!("{id:?}"), format!("ResidentId({:?})", id.masked()));
    }

    #[test]
    fn make_builds_parseable_ids() {
        let id = make("110105", date(1949, 12, 31), 2);
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn serializes_as_plain_string() {
        let id = make("110105", date(1949, 12, 31), 2);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"11010519491231002X\""
        );
    }

    const VALID_PROVINCES: [&str; 34] = [
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82",
    ];

    proptest! {
        #[test]
        fn make_then_parse_round_trips(
            province in proptest::sample::select(VALID_PROVINCES.as_slice()),
            rest in 0u32..10_000,
            // 45_000 days after 1900-01-01 is in 2023, so always before today().
            day_offset in 0i64..=45_000,
            seq in 0u16..=999,
        ) {
            let region = format!("{province}{rest:04}");
            let birth = earliest_birth_date() + chrono::Duration::days(day_offset);
            let id = make(&region, birth, seq);
            let parsed = ResidentId::parse(id.as_str(), today()).unwrap();
            prop_assert_eq!(&parsed, &id);
            prop_assert_eq!(parsed.birth_date(), birth);
            prop_assert_eq!(parsed.region_code(), region.as_str());
            let masked = parsed.masked();
            prop_assert!(!masked.contains(&id.as_str()[6..14]));
            prop_assert_eq!(&masked[6..14], "********");
            prop_assert_eq!(masked.chars().count(), 18);
        }
    }
}
