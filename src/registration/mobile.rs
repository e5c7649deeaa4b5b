//! Mainland China mobile phone numbers.

use std::fmt;

use serde::{Serialize, Serializer};

/// Full-width forms (U+FF01–U+FF5E) sit this far above their ASCII twins.
const FULL_WIDTH_OFFSET: u32 = 0xFEE0;

/// Digits in a mainland mobile number without country code.
const MOBILE_LEN: usize = 11;

/// A validated mainland mobile number: 11 ASCII digits, `1[3-9]…`.
///
/// `Debug` prints the masked form so full numbers do not end up in logs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mobile(String);

/// Why a string is not a valid mainland mobile number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MobileError {
    /// Nothing was entered.
    #[error("the mobile number is empty")]
    Empty,
    /// A character other than digits, spaces, hyphens or the +86 prefix.
    #[error(
        "the mobile number contains {found:?}; only digits, spaces, hyphens and a +86 prefix \
         are allowed"
    )]
    BadCharacter {
        /// The offending character.
        found: char,
    },
    /// An international prefix other than +86.
    #[error("only mainland China mobile numbers (+86) are accepted")]
    NotMainland,
    /// Not 11 digits once the country code is removed.
    #[error("the mobile number has {len} digits; it must have exactly 11")]
    WrongLength {
        /// Number of digits found.
        len: usize,
    },
    /// 11 digits but not a mobile prefix (13x–19x), e.g. a landline.
    #[error(
        "a mobile number starts with 13 to 19, this one starts with {prefix}; \
         it may be a landline or mistyped"
    )]
    NotMobile {
        /// The first two digits.
        prefix: String,
    },
}

impl MobileError {
    /// Stable machine-readable code for this error, for APIs and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::BadCharacter { .. } => "bad_character",
            Self::NotMainland => "not_mainland",
            Self::WrongLength { .. } => "wrong_length",
            Self::NotMobile { .. } => "not_mobile",
        }
    }
}

/// Maps full-width digits and plus sign (Chinese IMEs in full-width mode)
/// to ASCII; other characters pass through unchanged.
fn to_ascii_form(c: char) -> char {
    match c {
        '０'..='９' | '＋' => char::from_u32(u32::from(c) - FULL_WIDTH_OFFSET).unwrap_or(c),
        _ => c,
    }
}

/// Separators people type inside phone numbers: whitespace and hyphens.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '－' | '‐' | '–')
}

/// Removes a +86 / 0086 / 86 country code from a separator-free number.
fn strip_country_code(number: &str) -> Result<&str, MobileError> {
    if let Some(rest) = number.strip_prefix("+86") {
        return Ok(rest);
    }
    if number.starts_with('+') {
        return Err(MobileError::NotMainland);
    }
    if let Some(rest) = number.strip_prefix("0086") {
        return Ok(rest);
    }
    // A bare "86" is only a country code when 11 digits follow it.
    match number.strip_prefix("86") {
        Some(rest) if rest.len() == MOBILE_LEN => Ok(rest),
        _ => Ok(number),
    }
}

impl Mobile {
    /// Validates and normalises a mobile number to 11 digits.
    pub fn parse(input: &str) -> Result<Self, MobileError> {
        let compact: String = input
            .chars()
            .map(to_ascii_form)
            .filter(|&c| !is_separator(c))
            .collect();
        if compact.is_empty() {
            return Err(MobileError::Empty);
        }
        if let Some(found) = compact.chars().find(|&c| !(c.is_ascii_digit() || c == '+')) {
            return Err(MobileError::BadCharacter { found });
        }
        let digits = strip_country_code(&compact)?;
        if digits.contains('+') {
            return Err(MobileError::BadCharacter { found: '+' });
        }
        if digits.len() != MOBILE_LEN {
            return Err(MobileError::WrongLength { len: digits.len() });
        }
        let bytes = digits.as_bytes();
        if bytes[0] != b'1' || !(b'3'..=b'9').contains(&bytes[1]) {
            return Err(MobileError::NotMobile {
                prefix: digits[..2].to_owned(),
            });
        }
        Ok(Self(digits.to_owned()))
    }

    /// The normalised 11-digit number.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Display form hiding the middle four digits: `138****5678`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Mobile").field(&self.masked()).finish()
    }
}

impl Serialize for Mobile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_ways_of_writing_a_number() {
        for input in [
            "13812345678",
            "  13812345678  ",
            "138 1234 5678",
            "138-1234-5678",
            "+86 138 1234 5678",
            "+86-13812345678",
            "8613812345678",
            "008613812345678",
            "0086 138-1234-5678",
            "１３８１２３４５６７８",
            "＋８６１３８１２３４５６７８",
        ] {
            let mobile = Mobile::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(mobile.as_str(), "13812345678", "{input}");
        }
    }

    #[test]
    fn every_second_digit_from_3_to_9_is_mobile() {
        for second in 3..=9 {
            let input = format!("1{second}012345678");
            assert_eq!(Mobile::parse(&input).unwrap().as_str(), input);
        }
    }

    #[test]
    fn landline_and_bad_prefixes_are_rejected() {
        let err = Mobile::parse("12012345678").unwrap_err();
        assert_eq!(
            err,
            MobileError::NotMobile {
                prefix: "12".into()
            }
        );
        assert_eq!(err.code(), "not_mobile");
        assert_eq!(
            Mobile::parse("01012345678").unwrap_err().code(),
            "not_mobile"
        );
    }

    #[test]
    fn wrong_length_states_the_length() {
        let err = Mobile::parse("1381234567").unwrap_err();
        assert_eq!(err, MobileError::WrongLength { len: 10 });
        assert!(err.to_string().contains("10 digits"));
        assert_eq!(
            Mobile::parse("138123456789").unwrap_err(),
            MobileError::WrongLength { len: 12 }
        );
        // "86" followed by 10 digits is not a country code, just too long.
        assert_eq!(
            Mobile::parse("861381234567").unwrap_err(),
            MobileError::WrongLength { len: 12 }
        );
    }

    #[test]
    fn letters_and_punctuation_are_rejected() {
        let err = Mobile::parse("138abcd5678").unwrap_err();
        assert_eq!(err, MobileError::BadCharacter { found: 'a' });
        assert_eq!(err.code(), "bad_character");
        assert_eq!(
            Mobile::parse("138.1234.5678").unwrap_err(),
            MobileError::BadCharacter { found: '.' }
        );
        assert_eq!(
            Mobile::parse("138+12345678").unwrap_err(),
            MobileError::BadCharacter { found: '+' }
        );
    }

    #[test]
    fn foreign_country_codes_are_rejected() {
        let err = Mobile::parse("+852 6123 4567").unwrap_err();
        assert_eq!(err, MobileError::NotMainland);
        assert_eq!(err.code(), "not_mainland");
    }

    #[test]
    fn empty_input_has_its_own_error() {
        assert_eq!(Mobile::parse(" - ").unwrap_err(), MobileError::Empty);
    }

    #[test]
    fn masked_hides_middle_four_digits() {
        let mobile = Mobile::parse("13812345678").unwrap();
        assert_eq!(mobile.masked(), "138****5678");
        assert_eq!(format!("{mobile:?}"), "Mobile(\"138****5678\")");
    }

    #[test]
    fn serializes_as_plain_string() {
        let mobile = Mobile::parse("+86 138 1234 5678").unwrap();
        assert_eq!(serde_json::to_string(&mobile).unwrap(), "\"13812345678\"");
    }
}
