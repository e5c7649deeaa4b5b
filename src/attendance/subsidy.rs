//! The subsidy summary of a class (pure): certified trainees × the standard for the course
//! type, and the materials the application needs with which are present.

use serde::Serialize;

use super::config::SubsidyStandard;
use crate::store::classes::CourseType;

/// Facts about the class's files.
#[derive(Clone, Copy, Debug, Default)]
pub struct MaterialFacts {
    /// Enrolled trainees.
    pub enrolled: u32,
    /// Certified trainees (valid certificates).
    pub certified: u32,
    /// Certified trainees with both ID-card photos on file.
    pub certified_with_id_copies: u32,
    /// The attendance report was stored at class end.
    pub attendance_report: bool,
    /// The exam transcript was stored at class end.
    pub exam_transcript: bool,
    /// The bureau confirmed the number of valid trainees.
    pub results_confirmed: bool,
}

/// One required material.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Material {
    /// Name (Chinese, as on the application).
    pub name: &'static str,
    /// Whether it is present and complete.
    pub present: bool,
    /// What is there or missing.
    pub detail: String,
}

/// The summary.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SubsidySummary {
    /// GYB or SYB.
    pub course_type: CourseType,
    /// CNY per certified trainee.
    pub standard_cny: u32,
    /// Certified trainees.
    pub certified: u32,
    /// Total, CNY.
    pub amount_cny: u64,
    /// Materials needed.
    pub materials: Vec<Material>,
    /// All materials present.
    pub complete: bool,
}

/// Builds the summary.
pub fn summarise(course: CourseType, s: &SubsidyStandard, f: &MaterialFacts) -> SubsidySummary {
    let standard = match course {
        CourseType::Gyb => s.gyb_cny,
        CourseType::Syb => s.syb_cny,
    };
    let materials = vec![
        Material {
            name: "培训学员花名册",
            present: f.enrolled > 0,
            detail: format!("{} 名学员", f.enrolled),
        },
        Material {
            name: "学员身份证复印件",
            present: f.certified > 0 && f.certified_with_id_copies == f.certified,
            detail: format!(
                "{}/{} 名合格学员有身份证正反面",
                f.certified_with_id_copies, f.certified
            ),
        },
        Material {
            name: "结业证书复印件",
            present: f.certified > 0,
            detail: format!("{} 份有效证书", f.certified),
        },
        Material {
            name: "考勤报告",
            present: f.attendance_report,
            detail: if f.attendance_report {
                "结班时已生成"
            } else {
                "尚未生成（结班时自动生成）"
            }
            .into(),
        },
        Material {
            name: "考试成绩单",
            present: f.exam_transcript,
            detail: if f.exam_transcript {
                "结班时已生成"
            } else {
                "尚未生成（结班时自动生成）"
            }
            .into(),
        },
        Material {
            name: "人社部门审核确定有效培训人数",
            present: f.results_confirmed,
            detail: if f.results_confirmed {
                "已确认"
            } else {
                "未确认"
            }
            .into(),
        },
    ];
    SubsidySummary {
        course_type: course,
        standard_cny: standard,
        certified: f.certified,
        amount_cny: u64::from(standard) * u64::from(f.certified),
        complete: materials.iter().all(|m| m.present),
        materials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_follows_course_and_configuration() {
        let f = MaterialFacts {
            enrolled: 30,
            certified: 25,
            certified_with_id_copies: 25,
            attendance_report: true,
            exam_transcript: true,
            results_confirmed: true,
        };
        let d = SubsidyStandard::default();
        assert_eq!(summarise(CourseType::Gyb, &d, &f).amount_cny, 5_000);
        let s = summarise(CourseType::Syb, &d, &f);
        assert_eq!((s.amount_cny, s.complete), (25_000, true));
        let custom = SubsidyStandard {
            gyb_cny: 300,
            syb_cny: 1500,
        };
        assert_eq!(summarise(CourseType::Gyb, &custom, &f).amount_cny, 7_500);
    }

    #[test]
    fn missing_materials_are_named() {
        let f = MaterialFacts {
            enrolled: 30,
            certified: 2,
            certified_with_id_copies: 1,
            ..Default::default()
        };
        let s = summarise(CourseType::Gyb, &SubsidyStandard::default(), &f);
        assert!(!s.complete);
        let missing: Vec<_> = s
            .materials
            .iter()
            .filter(|m| !m.present)
            .map(|m| m.name)
            .collect();
        assert_eq!(
            missing,
            vec![
                "学员身份证复印件",
                "考勤报告",
                "考试成绩单",
                "人社部门审核确定有效培训人数"
            ]
        );
    }
}
