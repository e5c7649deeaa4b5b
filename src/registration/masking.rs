//! Masking of personal names for display to people who need not see them in
//! full. ID numbers and mobiles mask themselves (`ResidentId::masked`,
//! `Mobile::masked`).

/// Masks a name, counting characters (not bytes):
///
/// | chars | result        | example              |
/// |-------|---------------|----------------------|
/// | 0     | empty         | `""`                 |
/// | 1     | `*`           | `张` → `*`           |
/// | 2     | first + `*`   | `张三` → `张*`       |
/// | 3     | first `*` last| `张小明` → `张*明`   |
/// | 4+    | first two `*` last | `欧阳振华` → `欧阳*华` |
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.as_slice() {
        [] => String::new(),
        [_] => "*".to_owned(),
        [first, _] => format!("{first}*"),
        [first, _, last] => format!("{first}*{last}"),
        [first, second, .., last] => format!("{first}{second}*{last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_by_length() {
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("张"), "*");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张小明"), "张*明");
        assert_eq!(mask_name("欧阳振华"), "欧阳*华");
        assert_eq!(mask_name("阿卜杜·热合曼"), "阿卜*曼");
    }

    #[test]
    fn counts_characters_not_bytes() {
        // Four-byte Extension-B character must not be split.
        assert_eq!(mask_name("𬌗𬌗"), "𬌗*");
        assert_eq!(mask_name("John Smith"), "Jo*h");
    }

    #[test]
    fn ignores_surrounding_whitespace() {
        assert_eq!(mask_name("  张小明 "), "张*明");
    }
}
