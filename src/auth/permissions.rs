//! The one role × action table. Every HTTP handler names its action; scope (own institution,
//! own jurisdiction, own record) is checked by the handler after this table allows the role.

use signaling::Role;

/// Something an account can ask to do through the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read one's own account; change one's own password.
    UseOwnAccount,
    /// List institutions (own, or in the jurisdiction).
    ReadInstitutions,
    /// Create lecturer and assistant accounts in one's institution.
    ManageStaff,
    /// List staff accounts.
    ReadStaff,
    /// Record a lecturer's SYB certificate.
    ManageCertificates,
    /// Read lecturers' certificates.
    ReadCertificates,
    /// Create a class.
    CreateClass,
    /// Change a draft class: schedule, assistants, enrollments, roster import.
    EditClass,
    /// Read classes (scoped by role).
    ReadClasses,
    /// Read a class's student list.
    ReadClassStudents,
    /// Submit a class for filing (开班备案).
    SubmitFiling,
    /// The bureau's act: file or return a submitted class.
    DecideFiling,
    /// Start or finish a filed class's live teaching.
    RunClass,
    /// Read a student's real-name record.
    ReadStudent,
    /// Upload a student's ID-card or one-inch photo.
    UploadStudentPhoto,
    /// Read the audit log.
    ReadAudit,
    /// Supervision reads: class dossiers, lecturers, live rooms (regulators).
    Supervise,
    /// List and download the signed backups and get the public keys (regulators).
    ReadBackups,
    /// Read a class's attendance, eligibility and reports (students: their own row).
    ReadAttendance,
    /// Read whole-class results: reports, results review, the class's certificates.
    ReadClassResults,
    /// Write exam questions and a class's exam settings.
    ManageExam,
    /// Read exam questions with answers and every attempt.
    ReadExam,
    /// Take a class's exam.
    TakeExam,
    /// Upload one's business plan.
    SubmitPlan,
    /// Read business plans (students: their own).
    ReadPlans,
    /// Approve or reject business plans (the class's lecturer).
    ReviewPlan,
    /// Submit a finished class's results to the bureau.
    SubmitResults,
    /// The bureau's review of a class's results (审核确定有效培训人数).
    ReviewResults,
    /// Stamp a class's certificates with the institution's seal.
    StampCertificates,
    /// The bureau's verification of certificates (验印).
    VerifyCertificates,
    /// Claim one's e-certificate.
    ClaimCertificate,
    /// Revoke a certificate, with a reason.
    RevokeCertificate,
    /// Publish a class's roster notice (公示).
    PublishNotice,
    /// Read a class's subsidy summary.
    ReadSubsidy,
    /// Publish media into a live room (the lecture, or a student's own camera).
    PublishMedia,
    /// Receive the lecture of a live room.
    WatchLecture,
    /// Receive one student's camera (assistants, lecturers, regulators; never students).
    WatchStudentCamera,
    /// Read a class's interaction record (chat, Q&A, hand-raises, floor, mutes, removals).
    ReadInteractions,
}

impl Action {
    /// Every action (for the authorisation-matrix tests).
    pub const ALL: [Action; 38] = [
        Action::UseOwnAccount,
        Action::ReadInstitutions,
        Action::ManageStaff,
        Action::ReadStaff,
        Action::ManageCertificates,
        Action::ReadCertificates,
        Action::CreateClass,
        Action::EditClass,
        Action::ReadClasses,
        Action::ReadClassStudents,
        Action::SubmitFiling,
        Action::DecideFiling,
        Action::RunClass,
        Action::ReadStudent,
        Action::UploadStudentPhoto,
        Action::ReadAudit,
        Action::Supervise,
        Action::ReadBackups,
        Action::ReadAttendance,
        Action::ReadClassResults,
        Action::ManageExam,
        Action::ReadExam,
        Action::TakeExam,
        Action::SubmitPlan,
        Action::ReadPlans,
        Action::ReviewPlan,
        Action::SubmitResults,
        Action::ReviewResults,
        Action::StampCertificates,
        Action::VerifyCertificates,
        Action::ClaimCertificate,
        Action::RevokeCertificate,
        Action::PublishNotice,
        Action::ReadSubsidy,
        Action::PublishMedia,
        Action::WatchLecture,
        Action::WatchStudentCamera,
        Action::ReadInteractions,
    ];
}

/// Whether `role` may perform `action` at all.
pub fn allowed(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match action {
        UseOwnAccount | ReadClasses => true,
        ReadInstitutions | ReadStaff => matches!(role, Admin | Regulator),
        ManageStaff | ManageCertificates | CreateClass | EditClass | SubmitFiling => role == Admin,
        ReadCertificates => matches!(role, Admin | Lecturer | Regulator),
        ReadClassStudents => matches!(role, Admin | Lecturer | Assistant | Regulator),
        // Regulators write only the bureau's own acts.
        DecideFiling | ReadAudit | Supervise | ReadBackups => role == Regulator,
        RunClass => matches!(role, Admin | Lecturer),
        ReadStudent => matches!(role, Admin | Student | Regulator),
        UploadStudentPhoto => matches!(role, Admin | Student),
        ReadAttendance => matches!(role, Admin | Lecturer | Assistant | Regulator | Student),
        ReadClassResults => matches!(role, Admin | Lecturer | Assistant | Regulator),
        ManageExam => matches!(role, Admin | Lecturer),
        ReadExam => matches!(role, Admin | Lecturer | Regulator),
        TakeExam | SubmitPlan | ClaimCertificate => role == Student,
        ReadPlans => matches!(role, Admin | Lecturer | Regulator | Student),
        ReviewPlan => role == Lecturer,
        SubmitResults | StampCertificates => role == Admin,
        ReviewResults | VerifyCertificates | PublishNotice => role == Regulator,
        RevokeCertificate | ReadSubsidy => matches!(role, Admin | Regulator),
        PublishMedia => matches!(role, Lecturer | Student),
        WatchLecture => matches!(role, Lecturer | Assistant | Student | Regulator),
        WatchStudentCamera => matches!(role, Lecturer | Assistant | Regulator),
        ReadInteractions => matches!(role, Admin | Lecturer | Regulator),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regulator_writes_only_bureau_acts() {
        let writes = [
            Action::ManageStaff,
            Action::ManageCertificates,
            Action::CreateClass,
            Action::EditClass,
            Action::SubmitFiling,
            Action::RunClass,
            Action::UploadStudentPhoto,
            Action::ManageExam,
            Action::TakeExam,
            Action::SubmitPlan,
            Action::ReviewPlan,
            Action::SubmitResults,
            Action::StampCertificates,
            Action::ClaimCertificate,
        ];
        for a in writes {
            assert!(!allowed(Role::Regulator, a), "{a:?}");
        }
        assert!(allowed(Role::Regulator, Action::DecideFiling));
        for r in Role::ALL {
            assert_eq!(allowed(r, Action::DecideFiling), r == Role::Regulator);
            assert_eq!(allowed(r, Action::ReadAudit), r == Role::Regulator);
            assert_eq!(allowed(r, Action::Supervise), r == Role::Regulator);
            assert_eq!(allowed(r, Action::ReadBackups), r == Role::Regulator);
        }
    }

    #[test]
    fn students_see_little() {
        let ok: Vec<Action> = Action::ALL
            .into_iter()
            .filter(|a| allowed(Role::Student, *a))
            .collect();
        assert_eq!(
            ok,
            vec![
                Action::UseOwnAccount,
                Action::ReadClasses,
                Action::ReadStudent,
                Action::UploadStudentPhoto,
                Action::ReadAttendance,
                Action::TakeExam,
                Action::SubmitPlan,
                Action::ReadPlans,
                Action::ClaimCertificate,
                Action::PublishMedia,
                Action::WatchLecture,
            ]
        );
    }

    #[test]
    fn bureau_acts_on_results_and_certificates_are_the_regulators_alone() {
        for r in Role::ALL {
            for a in [
                Action::ReviewResults,
                Action::VerifyCertificates,
                Action::PublishNotice,
            ] {
                assert_eq!(allowed(r, a), r == Role::Regulator, "{r:?} {a:?}");
            }
            assert_eq!(allowed(r, Action::StampCertificates), r == Role::Admin);
            assert_eq!(allowed(r, Action::ReviewPlan), r == Role::Lecturer);
        }
    }

    #[test]
    fn only_staff_and_regulators_see_a_students_camera() {
        for r in Role::ALL {
            assert_eq!(
                allowed(r, Action::WatchStudentCamera),
                matches!(r, Role::Lecturer | Role::Assistant | Role::Regulator),
                "{r:?}"
            );
        }
        assert!(
            !allowed(Role::Regulator, Action::PublishMedia),
            "regulators are silent"
        );
        assert!(!allowed(Role::Admin, Action::PublishMedia));
    }

    #[test]
    fn the_interaction_record_is_for_lecturer_institution_and_bureau() {
        for r in Role::ALL {
            assert_eq!(
                allowed(r, Action::ReadInteractions),
                matches!(r, Role::Admin | Role::Lecturer | Role::Regulator),
                "{r:?}"
            );
        }
    }
}
