//! The automatic reports: the attendance report and the exam transcript as tables with
//! Chinese column headers, rendered as CSV (UTF-8 with BOM, so Excel opens it right),
//! XLSX and an HTML page.

use std::collections::BTreeMap;

use super::summary::ClassSummary;
use crate::store::exams::{Attempt, AttemptStatus};

/// A report table.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Title (sheet name, page heading).
    pub title: String,
    /// Column headers.
    pub headers: Vec<&'static str>,
    /// Rows of cells.
    pub rows: Vec<Vec<Cell>>,
}

/// A cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// Number.
    Number(f64),
    /// Nothing.
    Empty,
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Number(n) if n.fract() == 0.0 => format!("{n:.0}"),
            Cell::Number(n) => format!("{n:.1}"),
            Cell::Empty => String::new(),
        }
    }
}

fn minutes(ms: i64) -> Cell {
    Cell::Number((ms as f64 / 60_000.0 * 10.0).floor() / 10.0)
}

fn opt_num(v: Option<f64>) -> Cell {
    v.map_or(Cell::Empty, Cell::Number)
}

/// Attendance report columns.
pub const ATTENDANCE_HEADERS: [&str; 14] = [
    "序号",
    "姓名",
    "身份证号",
    "直播总时长(分钟)",
    "观看时长(分钟)",
    "观看比例(%)",
    "应考勤次数",
    "人脸识别通过次数",
    "考勤率(%)",
    "考试成绩",
    "创业计划书",
    "是否合格",
    "不合格原因",
    "学员编号",
];

/// The attendance report of a class.
pub fn attendance_table(s: &ClassSummary) -> Table {
    let rows = s
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                Cell::Number((i + 1) as f64),
                Cell::Text(r.trainee.name.clone()),
                Cell::Text(r.trainee.id_number_masked.clone().unwrap_or_default()),
                minutes(s.live_ms),
                minutes(r.watch_ms),
                opt_num(r.watch_percent),
                Cell::Number(f64::from(r.checks_scheduled)),
                Cell::Number(f64::from(r.checks_matched)),
                opt_num(r.attendance_percent),
                r.exam_score
                    .map_or(Cell::Empty, |v| Cell::Number(f64::from(v))),
                Cell::Text(r.plan.label_zh().into()),
                Cell::Text(
                    if r.verdict.eligible {
                        "合格"
                    } else {
                        "不合格"
                    }
                    .into(),
                ),
                Cell::Text(r.verdict.reasons()),
                Cell::Number(r.trainee.student_id as f64),
            ]
        })
        .collect();
    Table {
        title: format!("{} 考勤报告", s.class_name),
        headers: ATTENDANCE_HEADERS.to_vec(),
        rows,
    }
}

/// Exam transcript columns.
pub const TRANSCRIPT_HEADERS: [&str; 8] = [
    "序号",
    "姓名",
    "身份证号",
    "考试次数",
    "各次成绩",
    "最高成绩",
    "及格线",
    "是否通过",
];

/// The exam transcript of a class.
pub fn transcript_table(s: &ClassSummary, attempts: &[Attempt]) -> Table {
    let mut by_student: BTreeMap<i64, Vec<&Attempt>> = BTreeMap::new();
    for a in attempts {
        by_student.entry(a.student_id).or_default().push(a);
    }
    let rows = s
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mine = by_student
                .get(&r.trainee.student_id)
                .cloned()
                .unwrap_or_default();
            let scores = mine
                .iter()
                .map(|a| match (a.status, a.score) {
                    (_, Some(s)) => s.to_string(),
                    (AttemptStatus::Open, None) => "进行中".into(),
                    _ => "超时".into(),
                })
                .collect::<Vec<_>>()
                .join(" / ");
            let passed = r.exam_score.is_some_and(|v| v >= s.pass_mark);
            vec![
                Cell::Number((i + 1) as f64),
                Cell::Text(r.trainee.name.clone()),
                Cell::Text(r.trainee.id_number_masked.clone().unwrap_or_default()),
                Cell::Number(mine.len() as f64),
                Cell::Text(scores),
                r.exam_score
                    .map_or(Cell::Empty, |v| Cell::Number(f64::from(v))),
                Cell::Number(f64::from(s.pass_mark)),
                Cell::Text(if passed { "通过" } else { "未通过" }.into()),
            ]
        })
        .collect();
    Table {
        title: format!("{} 考试成绩单", s.class_name),
        headers: TRANSCRIPT_HEADERS.to_vec(),
        rows,
    }
}

/// CSV with a UTF-8 byte-order mark.
pub fn to_csv(t: &Table) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(&t.headers).expect("in-memory csv");
    for r in &t.rows {
        w.write_record(r.iter().map(Cell::text))
            .expect("in-memory csv");
    }
    w.into_inner().expect("in-memory csv")
}

/// An XLSX workbook with one sheet.
pub fn to_xlsx(t: &Table) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    // Sheet names are at most 31 characters and may not contain some punctuation.
    let name: String = t
        .title
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect();
    ws.set_name(&name)?;
    let bold = Format::new().set_bold();
    for (c, h) in t.headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
        ws.set_column_width(c as u16, 14)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match cell {
                Cell::Text(s) => {
                    ws.write_string(r, c, s)?;
                }
                Cell::Number(n) => {
                    ws.write_number(r, c, *n)?;
                }
                Cell::Empty => {}
            }
        }
    }
    wb.save_to_buffer()
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A standalone HTML page with the table.
pub fn to_html(t: &Table) -> String {
    let mut h = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{0}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         th,td{{border:1px solid #999;padding:4px 8px}}th{{background:#eee}}</style></head>\
         <body><h1>{0}</h1><table><thead><tr>",
        escape(&t.title)
    );
    for hd in &t.headers {
        h.push_str(&format!("<th>{}</th>", escape(hd)));
    }
    h.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        h.push_str("<tr>");
        for c in r {
            h.push_str(&format!("<td>{}</td>", escape(&c.text())));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            title: "班级<1> 考勤报告".into(),
            headers: vec!["姓名", "观看比例(%)"],
            rows: vec![
                vec![Cell::Text("张小明".into()), Cell::Number(76.4)],
                vec![Cell::Text("a,\"b\"".into()), Cell::Empty],
            ],
        }
    }

    #[test]
    fn csv_has_bom_chinese_headers_and_quotes() {
        let csv = to_csv(&table());
        assert!(csv.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(csv[3..].to_vec()).unwrap();
        assert_eq!(text, "姓名,观看比例(%)\n张小明,76.4\n\"a,\"\"b\"\"\",\n");
    }

    #[test]
    fn html_escapes() {
        let h = to_html(&table());
        assert!(h.contains("班级&lt;1&gt;"));
        assert!(h.contains("<th>观看比例(%)</th>"));
        assert!(!h.contains("<1>"));
    }

    #[test]
    fn xlsx_reads_back_with_calamine() {
        use calamine::{Reader, Xlsx};
        let bytes = to_xlsx(&table()).unwrap();
        let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(wb.sheet_names(), vec!["班级<1> 考勤报告"]);
        let sheet = wb.worksheet_range("班级<1> 考勤报告").unwrap();
        let rows: Vec<Vec<String>> = sheet
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        assert_eq!(rows[0], vec!["姓名", "观看比例(%)"]);
        assert_eq!(rows[1], vec!["张小明", "76.4"]);
    }
}
