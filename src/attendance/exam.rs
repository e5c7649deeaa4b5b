//! The online basic-knowledge exam (pure): question validation, automatic scoring and the
//! time limit. Questions are single choice, multiple choice (all and only the right options)
//! or true/false; the score is out of 100, rounded down.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Kind of question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// One right option.
    Single,
    /// One or more right options; only the exact set scores.
    Multiple,
    /// 对 / 错.
    TrueFalse,
}

impl QuestionKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Single => "single",
            QuestionKind::Multiple => "multiple",
            QuestionKind::TrueFalse => "true_false",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "single" => Some(QuestionKind::Single),
            "multiple" => Some(QuestionKind::Multiple),
            "true_false" => Some(QuestionKind::TrueFalse),
            _ => None,
        }
    }
}

/// Options of every true/false question.
pub const TRUE_FALSE_OPTIONS: [&str; 2] = ["对", "错"];

/// A question as written by staff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuestionSpec {
    /// Kind.
    pub kind: QuestionKind,
    /// The question.
    pub prompt: String,
    /// Options (true/false: empty, filled with 对/错).
    pub options: Vec<String>,
    /// Indices of the right options.
    pub answer: Vec<u32>,
    /// Weight.
    pub points: u32,
}

/// A field problem in a question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Field.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn err(field: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field,
        reason: reason.into(),
    }
}

/// Sorted, without duplicates.
pub fn normalise(answer: &[u32]) -> Vec<u32> {
    let mut a = answer.to_vec();
    a.sort_unstable();
    a.dedup();
    a
}

/// Checks a question and returns it normalised (true/false options filled in, answer
/// sorted), or every problem found.
pub fn validate(mut q: QuestionSpec) -> Result<QuestionSpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    q.prompt = q.prompt.trim().to_string();
    if q.prompt.is_empty() || q.prompt.chars().count() > 2000 {
        errors.push(err("prompt", "1–2000 characters"));
    }
    if !(1..=100).contains(&q.points) {
        errors.push(err("points", "1–100"));
    }
    if q.kind == QuestionKind::TrueFalse {
        if !q.options.is_empty() && q.options != TRUE_FALSE_OPTIONS {
            errors.push(err(
                "options",
                "a true/false question has the options 对, 错 (or none)",
            ));
        }
        q.options = TRUE_FALSE_OPTIONS.iter().map(|s| s.to_string()).collect();
    } else {
        if !(2..=8).contains(&q.options.len()) {
            errors.push(err("options", "2–8 options"));
        }
        for o in &mut q.options {
            *o = o.trim().to_string();
        }
        if q.options
            .iter()
            .any(|o| o.is_empty() || o.chars().count() > 500)
        {
            errors.push(err("options", "each option 1–500 characters"));
        }
    }
    let answer = normalise(&q.answer);
    if answer.len() != q.answer.len() {
        errors.push(err("answer", "an option is listed twice"));
    }
    if answer.iter().any(|&i| i as usize >= q.options.len()) {
        errors.push(err("answer", "names an option that does not exist"));
    }
    match q.kind {
        QuestionKind::Single | QuestionKind::TrueFalse if answer.len() != 1 => {
            errors.push(err("answer", "exactly one right option"))
        }
        QuestionKind::Multiple if answer.is_empty() => {
            errors.push(err("answer", "at least one right option"))
        }
        _ => {}
    }
    q.answer = answer;
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(errors)
    }
}

/// A question of an attempt with its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyed {
    /// Id.
    pub id: i64,
    /// Right options, normalised.
    pub answer: Vec<u32>,
    /// Weight.
    pub points: u32,
}

/// Result of scoring.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Scored {
    /// 0–100, rounded down.
    pub score: u32,
    /// Points earned.
    pub earned: u32,
    /// Points possible.
    pub possible: u32,
    /// Questions answered right.
    pub correct: u32,
}

/// Scores answers (question id → chosen options); unanswered questions earn nothing and
/// answers to questions not in the attempt are ignored.
pub fn score(questions: &[Keyed], answers: &HashMap<i64, Vec<u32>>) -> Scored {
    let possible: u32 = questions.iter().map(|q| q.points).sum();
    let mut earned = 0;
    let mut correct = 0;
    for q in questions {
        if let Some(a) = answers.get(&q.id) {
            if normalise(a) == q.answer {
                earned += q.points;
                correct += 1;
            }
        }
    }
    let score = if possible == 0 {
        0
    } else {
        (u64::from(earned) * 100 / u64::from(possible)) as u32
    };
    Scored {
        score,
        earned,
        possible,
        correct,
    }
}

/// Whether answers arriving at `now` are in time for an attempt due at `deadline`.
pub fn in_time(now: i64, deadline: i64, grace_ms: i64) -> bool {
    now <= deadline + grace_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: QuestionKind, options: &[&str], answer: &[u32]) -> QuestionSpec {
        QuestionSpec {
            kind,
            prompt: "问题".into(),
            options: options.iter().map(|s| s.to_string()).collect(),
            answer: answer.to_vec(),
            points: 10,
        }
    }

    #[test]
    fn valid_questions_are_normalised() {
        let q = validate(spec(QuestionKind::TrueFalse, &[], &[1])).unwrap();
        assert_eq!(q.options, vec!["对", "错"]);
        let q = validate(spec(QuestionKind::Multiple, &["A", "B", "C"], &[2, 0])).unwrap();
        assert_eq!(q.answer, vec![0, 2]);
    }

    #[test]
    fn invalid_questions_report_every_problem() {
        let e = validate(QuestionSpec {
            prompt: " ".into(),
            points: 0,
            ..spec(QuestionKind::Single, &["A"], &[0, 3])
        })
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field).collect();
        assert!(fields.contains(&"prompt") && fields.contains(&"points"));
        assert!(fields.contains(&"options") && fields.contains(&"answer"));
        assert!(validate(spec(QuestionKind::Multiple, &["A", "B"], &[])).is_err());
        assert!(validate(spec(QuestionKind::TrueFalse, &["是", "否"], &[0])).is_err());
        assert!(validate(spec(QuestionKind::Single, &["A", "B"], &[0, 1])).is_err());
    }

    #[test]
    fn scoring_needs_the_exact_set_and_rounds_down() {
        let qs = vec![
            Keyed {
                id: 1,
                answer: vec![0],
                points: 1,
            },
            Keyed {
                id: 2,
                answer: vec![0, 2],
                points: 1,
            },
            Keyed {
                id: 3,
                answer: vec![1],
                points: 1,
            },
        ];
        let answers = HashMap::from([(1, vec![0]), (2, vec![2, 0]), (3, vec![0]), (9, vec![0])]);
        let s = score(&qs, &answers);
        assert_eq!((s.score, s.earned, s.possible, s.correct), (66, 2, 3, 2));
        let partial = HashMap::from([(2, vec![0])]);
        assert_eq!(score(&qs, &partial).score, 0);
        assert_eq!(score(&[], &answers).score, 0);
    }

    #[test]
    fn time_limit_has_only_the_grace() {
        assert!(in_time(1000, 1000, 0));
        assert!(!in_time(1001, 1000, 0));
        assert!(in_time(5999, 1000, 5000));
    }
}
