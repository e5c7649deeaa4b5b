//! The public roster notice (公示) of certified trainees (pure): every personal value is
//! masked here, from the stored values, so no caller can put an unmasked one on the page.

use super::reports::{Cell, Table};
use crate::registration::masking::mask_name;
use crate::registration::mobile::Mobile;

/// A certified trainee as stored (unmasked name and mobile; the ID number is stored masked).
#[derive(Clone, Debug)]
pub struct Certified {
    /// Legal name.
    pub name: String,
    /// Masked ID number as stored (`410102********1234`).
    pub id_number_masked: String,
    /// Mobile as stored.
    pub mobile: String,
    /// Certificate number.
    pub certificate: String,
}

/// Masks an ID number again defensively: anything not already in the 6 + 8 stars + 4
/// shape is shown as stars only.
fn id_masked(s: &str) -> String {
    let ok =
        s.len() == 18 && s.is_char_boundary(6) && s.is_char_boundary(14) && &s[6..14] == "********";
    if ok {
        s.to_string()
    } else {
        "*".repeat(18)
    }
}

fn mobile_masked(s: &str) -> String {
    Mobile::parse(s)
        .map(|m| m.masked())
        .unwrap_or_else(|_| "***********".into())
}

/// The notice table.
pub fn table(class_title: &str, people: &[Certified]) -> Table {
    Table {
        title: format!("{class_title} 合格学员公示"),
        headers: vec!["序号", "姓名", "身份证号", "手机号", "证书编号"],
        rows: people
            .iter()
            .enumerate()
            .map(|(i, p)| {
                vec![
                    Cell::Number((i + 1) as f64),
                    Cell::Text(mask_name(&p.name)),
                    Cell::Text(id_masked(&p.id_number_masked)),
                    Cell::Text(mobile_masked(&p.mobile)),
                    Cell::Text(p.certificate.clone()),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attendance::reports::{to_csv, to_html};

    #[test]
    fn nothing_unmasked_reaches_the_notice() {
        let people = vec![
            Certified {
                name: "张小明".into(),
                id_number_masked: "410102********1234".into(),
                mobile: "13812345678".into(),
                certificate: "GYB1".into(),
            },
            Certified {
                name: "欧阳振华".into(),
                // A full number stored by mistake must not leak.
                id_number_masked: "410102199003071234".into(),
                mobile: "not a mobile 13912345678x".into(),
                certificate: "GYB2".into(),
            },
        ];
        let t = table("第1期", &people);
        let html = to_html(&t);
        let csv = String::from_utf8(to_csv(&t)).unwrap();
        for out in [&html, &csv] {
            for secret in [
                "张小明",
                "欧阳振华",
                "13812345678",
                "199003071234",
                "13912345678",
            ] {
                assert!(!out.contains(secret), "{secret} leaked");
            }
            assert!(out.contains("张*明") && out.contains("欧阳*华"));
            assert!(out.contains("410102********1234") && out.contains("138****5678"));
        }
    }
}
