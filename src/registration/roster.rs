//! Roster import: turns an uploaded CSV or XLSX file into validated trainee
//! rows, or into a list of every problem a clerk has to fix.
//!
//! Only parsing lives here; the caller stores the rows in one transaction.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;

use calamine::{DataRef, Reader, SheetType, SheetVisible, Xlsx, XlsxError};
use chrono::NaiveDate;
use serde::Serialize;

use super::fields::{parse_household_place, parse_name};
use super::id_number::ResidentId;
use super::mobile::Mobile;

/// Uploaded file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterFormat {
    /// Comma-separated text, UTF-8 (BOM optional) or GB18030/GBK.
    Csv,
    /// Office Open XML workbook (.xlsx).
    Xlsx,
}

/// One valid trainee row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRow {
    /// Spreadsheet row number as the clerk sees it (header is row 1).
    pub row: usize,
    /// Normalised name.
    pub name: String,
    /// Validated resident ID number.
    pub id_number: ResidentId,
    /// Validated mobile number.
    pub mobile: Mobile,
    /// Trimmed household registration place.
    pub household_place: String,
}

/// One problem in an uploaded roster, ready to show to the clerk.
///
/// `row` is 0 and `field` is `"file"` for problems with the whole file;
/// header problems carry the header's row number. `code` values: the
/// field parsers' codes (`wrong_length`, `bad_check_digit`, `empty`, …)
/// plus `missing_column`, `duplicate_column`, `stored_as_number`,
/// `duplicate`, `too_many_rows`, `no_rows`, `empty_file`,
/// `unreadable_file`, `no_worksheet` and `undecodable_text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Spreadsheet row number, 0 for the whole file.
    pub row: usize,
    /// Canonical field name (`name`, `id_number`, `mobile`,
    /// `household_place`) or `file`.
    pub field: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Explanation in plain English for the clerk.
    pub reason: String,
}

/// Local-file-header signature that starts every ZIP (and so XLSX) file.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Byte-order mark that Excel's "CSV UTF-8" writes.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Field name used in [`RowError`] for whole-file problems.
const FILE_FIELD: &str = "file";

/// Guesses the format of an upload from its bytes, `None` for binary junk.
pub fn sniff_format(bytes: &[u8]) -> Option<RosterFormat> {
    if bytes.starts_with(ZIP_MAGIC) {
        return Some(RosterFormat::Xlsx);
    }
    decode_text(bytes).map(|_| RosterFormat::Csv)
}

/// Decodes UTF-8 (with or without BOM), falling back to GB18030, which is
/// what Excel on Chinese Windows writes for plain "CSV". `None` when the
/// bytes are neither, or contain control characters no spreadsheet writes.
fn decode_text(bytes: &[u8]) -> Option<Cow<'_, str>> {
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let text = match std::str::from_utf8(body) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(body)?,
    };
    let binary = text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
    (!binary).then_some(text)
}

/// Parses and validates a whole roster.
///
/// The header is the first non-blank row (row 1 in a normal file); columns
/// are matched by Chinese or English name in any order and extra columns
/// are ignored. Fully blank rows are skipped. Returns `Ok` only when there
/// is not a single problem; otherwise every problem found is returned.
///
/// Reading stops after `max_rows + 1` data rows and the first 256 columns,
/// so memory stays bounded by `max_rows`; the caller must still cap the
/// upload size, since the XLSX shared-string table is read whole.
pub fn parse_roster(
    bytes: &[u8],
    format: RosterFormat,
    today: NaiveDate,
    max_rows: usize,
) -> Result<Vec<RosterRow>, Vec<RowError>> {
    // Header, max_rows data rows, and one more to detect an oversized file.
    let row_limit = max_rows.saturating_add(2);
    let rows = match format {
        RosterFormat::Csv => read_csv(bytes, row_limit),
        RosterFormat::Xlsx => read_xlsx(bytes, row_limit),
    }
    .map_err(|problem| vec![problem.at(0, FILE_FIELD)])?;
    validate(rows, today, max_rows)
}

/// The four columns a roster must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    IdNumber,
    Mobile,
    HouseholdPlace,
}

impl Field {
    const ALL: [Field; 4] = [
        Field::Name,
        Field::IdNumber,
        Field::Mobile,
        Field::HouseholdPlace,
    ];

    /// Canonical name used in [`RowError::field`].
    fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::IdNumber => "id_number",
            Field::Mobile => "mobile",
            Field::HouseholdPlace => "household_place",
        }
    }

    /// Accepted header spellings, lower-case, most specific first: when two
    /// columns match (手机号 and 联系电话) the earlier alias wins.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Name => &["姓名", "name"],
            Field::IdNumber => &["身份证号", "身份证号码", "公民身份号码", "id_number", "id"],
            Field::Mobile => &["手机号", "手机", "手机号码", "联系电话", "mobile", "phone"],
            Field::HouseholdPlace => &["户籍所在地", "户籍地", "户籍", "household_place"],
        }
    }
}

/// Roster-level problems; field values use their own parsers' errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Problem {
    #[error(
        "the file is not a readable Excel .xlsx workbook ({0}); open it in Excel and save it \
         again as .xlsx or as \"CSV UTF-8\""
    )]
    UnreadableFile(String),
    #[error("the workbook has no worksheet")]
    NoWorksheet,
    #[error(
        "the file is not readable text (UTF-8 or GBK); in Excel choose Save As \"CSV UTF-8\" \
         or upload the .xlsx file"
    )]
    UndecodableText,
    #[error("the file is empty; the first row must name the columns")]
    EmptyFile,
    #[error("the file has no trainee rows below the header")]
    NoRows,
    #[error("there is no {field} column; the header row needs one named {aliases}")]
    MissingColumn {
        field: &'static str,
        aliases: String,
    },
    #[error("columns \"{first}\" and \"{second}\" both look like {field}; rename or remove one")]
    DuplicateColumn {
        field: &'static str,
        first: String,
        second: String,
    },
    #[error(
        "the file has more than {max} trainee rows, the most that can be imported at once; \
         split it into smaller files"
    )]
    TooManyRows { max: usize },
    #[error(
        "Excel stored this {what} as a number, which drops digits; format the whole column as \
         Text, re-enter the numbers and upload again"
    )]
    StoredAsNumber { what: &'static str },
    #[error("duplicate of row {0}")]
    Duplicate(usize),
}

impl Problem {
    fn code(&self) -> &'static str {
        match self {
            Problem::UnreadableFile(_) => "unreadable_file",
            Problem::NoWorksheet => "no_worksheet",
            Problem::UndecodableText => "undecodable_text",
            Problem::EmptyFile => "empty_file",
            Problem::NoRows => "no_rows",
            Problem::MissingColumn { .. } => "missing_column",
            Problem::DuplicateColumn { .. } => "duplicate_column",
            Problem::TooManyRows { .. } => "too_many_rows",
            Problem::StoredAsNumber { .. } => "stored_as_number",
            Problem::Duplicate(_) => "duplicate",
        }
    }

    fn at(&self, row: usize, field: &str) -> RowError {
        row_error(row, field, self.code(), self.to_string())
    }
}

fn row_error(row: usize, field: &str, code: &str, reason: String) -> RowError {
    RowError {
        row,
        field: field.to_owned(),
        code: code.to_owned(),
        reason,
    }
}

/// Widest sheet considered. Rosters have a handful of columns; the cap keeps
/// a hostile file from making us hold millions of cells.
const MAX_COLUMNS: usize = 256;

/// A cell as read from the file. Numbers are kept apart from text because
/// a numeric ID cell means Excel has already destroyed digits.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Text(String),
    /// Exact decimal rendering of a numeric cell.
    Number(String),
}

impl Cell {
    fn text(&self) -> &str {
        match self {
            Cell::Text(s) | Cell::Number(s) => s,
        }
    }

    fn is_blank(&self) -> bool {
        self.text().trim().is_empty()
    }
}

/// A non-blank row: its spreadsheet row number and its non-blank cells,
/// ordered by column index. Stored sparsely because a stray cell far to
/// the right must not cost memory for every column in between.
#[derive(Debug)]
struct RawRow {
    row: usize,
    cells: Vec<(usize, Cell)>,
}

impl RawRow {
    /// Text of the cell in column `col`, empty if there is none.
    fn cell(&self, col: usize) -> Cow<'_, Cell> {
        match self.cells.binary_search_by_key(&col, |(c, _)| *c) {
            Ok(i) => Cow::Borrowed(&self.cells[i].1),
            Err(_) => Cow::Owned(Cell::Text(String::new())),
        }
    }
}

/// Only non-blank cells of the first [`MAX_COLUMNS`] columns are kept.
fn is_kept(col: usize, cell: &Cell) -> bool {
    col < MAX_COLUMNS && !cell.is_blank()
}

/// Filters cells with [`is_kept`] and sorts them by column.
fn non_blank_cells(cells: impl IntoIterator<Item = (usize, Cell)>) -> Vec<(usize, Cell)> {
    let mut kept: Vec<(usize, Cell)> = cells
        .into_iter()
        .filter(|(col, cell)| is_kept(*col, cell))
        .collect();
    kept.sort_by_key(|(col, _)| *col);
    kept
}

/// Reads non-blank CSV rows, stopping once `row_limit` rows are collected.
fn read_csv(bytes: &[u8], row_limit: usize) -> Result<Vec<RawRow>, Problem> {
    let text = decode_text(bytes).ok_or(Problem::UndecodableText)?;
    let text = text.as_bytes();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    // Row numbers must match what Excel shows: every line break outside
    // quotes starts a row (blank lines too), but a quoted cell with line
    // breaks is one row. The csv crate's own line counter does not follow
    // that, so count line breaks up to each record's first byte and
    // subtract those that were inside earlier records' cells.
    let mut counted_up_to = 0;
    let mut line_breaks = 0;
    let mut line_breaks_in_cells = 0;
    while rows.len() < row_limit {
        // The reader can stop just before a terminator or blank lines.
        let mut start = reader.position().byte() as usize;
        while matches!(text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let more = reader
            .read_record(&mut record)
            .map_err(|e| Problem::UnreadableFile(e.to_string()))?;
        if !more {
            break;
        }
        line_breaks += count_line_breaks(&text[counted_up_to..start]);
        counted_up_to = start;
        let row = line_breaks - line_breaks_in_cells + 1;
        line_breaks_in_cells += record
            .iter()
            .map(|s| count_line_breaks(s.as_bytes()))
            .sum::<usize>();
        let cells = non_blank_cells(
            record
                .iter()
                .enumerate()
                .map(|(col, s)| (col, Cell::Text(unwrap_excel_text(s)))),
        );
        if !cells.is_empty() {
            rows.push(RawRow { row, cells });
        }
    }
    Ok(rows)
}

fn count_line_breaks(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Undoes the `="0123"` trick that CSV exports use to keep Excel from
/// turning long digit strings into numbers.
fn unwrap_excel_text(cell: &str) -> String {
    let trimmed = cell.trim();
    trimmed
        .strip_prefix("=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(cell)
        .to_owned()
}

/// Reads non-blank rows of the first visible worksheet, stopping once
/// `row_limit` rows are collected. Cells are streamed rather than loaded
/// as a dense range, which a single far-away cell could make enormous.
fn read_xlsx(bytes: &[u8], row_limit: usize) -> Result<Vec<RawRow>, Problem> {
    let unreadable = |e: XlsxError| Problem::UnreadableFile(e.to_string());
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    // Hidden sheets often hold templates or lookup lists, not the roster.
    let sheet = workbook
        .sheets_metadata()
        .iter()
        .find(|s| {
            matches!(s.typ, SheetType::WorkSheet) && matches!(s.visible, SheetVisible::Visible)
        })
        .map(|s| s.name.clone())
        .ok_or(Problem::NoWorksheet)?;
    let mut reader = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(unreadable)?;
    let mut rows: BTreeMap<u32, Vec<(usize, Cell)>> = BTreeMap::new();
    while rows.len() < row_limit {
        let Some(cell) = reader.next_cell().map_err(unreadable)? else {
            break;
        };
        let (row, col) = cell.get_position();
        let (col, value) = (col as usize, cell_from_data(cell.get_value()));
        if is_kept(col, &value) {
            rows.entry(row).or_default().push((col, value));
        }
    }
    Ok(rows
        .into_iter()
        .map(|(row, cells)| RawRow {
            row: row as usize + 1,
            cells: non_blank_cells(cells),
        })
        .collect())
}

fn cell_from_data(data: &DataRef<'_>) -> Cell {
    match data {
        DataRef::Empty => Cell::Text(String::new()),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
            Cell::Text(s.clone())
        }
        DataRef::SharedString(s) => Cell::Text((*s).to_owned()),
        DataRef::Bool(b) => Cell::Text(if *b { "TRUE" } else { "FALSE" }.to_owned()),
        DataRef::Error(e) => Cell::Text(e.to_string()),
        DataRef::Int(i) => Cell::Number(i.to_string()),
        DataRef::Float(f) => Cell::Number(number_text(*f)),
        DataRef::DateTime(dt) => Cell::Number(number_text(dt.as_f64())),
    }
}

/// Renders a numeric cell; whole numbers below 2^53 are exact in f64,
/// which covers every 11-digit mobile number.
fn number_text(f: f64) -> String {
    const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && f.abs() < EXACT_LIMIT {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// True for text such as `4.10102E+17` that a spreadsheet wrote for a
/// number too long to show, after which the real digits are gone.
fn is_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.trim().split_once(['E', 'e']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !exponent.is_empty()
        && exponent.chars().all(|c| c.is_ascii_digit())
}

/// Column index of each required field.
struct Columns([usize; 4]);

impl Columns {
    fn of(&self, field: Field) -> usize {
        self.0[field as usize]
    }
}

/// Finds each required column in the header row.
fn map_columns(header: &RawRow) -> Result<Columns, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut columns = [0; 4];
    for field in Field::ALL {
        // (alias rank, column index, header text) of every matching column.
        let mut matches: Vec<(usize, usize, &str)> = header
            .cells
            .iter()
            .filter_map(|(col, cell)| {
                let text = cell.text().trim().trim_start_matches('\u{feff}');
                let lower = text.to_lowercase();
                let rank = field.aliases().iter().position(|alias| lower == *alias)?;
                Some((rank, *col, text))
            })
            .collect();
        matches.sort_unstable();
        match matches.as_slice() {
            [] => errors.push(
                Problem::MissingColumn {
                    field: field.key(),
                    aliases: field.aliases().join(" / "),
                }
                .at(header.row, field.key()),
            ),
            [(rank, _, first), (second_rank, _, second), ..] if rank == second_rank => errors.push(
                Problem::DuplicateColumn {
                    field: field.key(),
                    first: (*first).to_owned(),
                    second: (*second).to_owned(),
                }
                .at(header.row, field.key()),
            ),
            [(_, col, _), ..] => columns[field as usize] = *col,
        }
    }
    if errors.is_empty() {
        Ok(Columns(columns))
    } else {
        Err(errors)
    }
}

fn validate(
    rows: Vec<RawRow>,
    today: NaiveDate,
    max_rows: usize,
) -> Result<Vec<RosterRow>, Vec<RowError>> {
    let mut rows = rows.into_iter();
    let header = rows
        .next()
        .ok_or_else(|| vec![Problem::EmptyFile.at(0, FILE_FIELD)])?;
    let columns = map_columns(&header)?;
    let data: Vec<RawRow> = rows.collect();
    if data.len() > max_rows {
        let problem = Problem::TooManyRows { max: max_rows };
        return Err(vec![problem.at(0, FILE_FIELD)]);
    }
    if data.is_empty() {
        return Err(vec![Problem::NoRows.at(0, FILE_FIELD)]);
    }

    let mut valid = Vec::with_capacity(data.len());
    let mut errors = Vec::new();
    let mut first_row_of_id: HashMap<String, usize> = HashMap::new();
    for raw in &data {
        let row = raw.row;
        let mut fail = |field: Field, code: &str, reason: String| {
            errors.push(row_error(row, field.key(), code, reason));
        };
        let name = parse_name(raw.cell(columns.of(Field::Name)).text())
            .map_err(|e| fail(Field::Name, e.code(), e.to_string()))
            .ok();
        let id_number = parse_id_cell(&raw.cell(columns.of(Field::IdNumber)), today)
            .map_err(|(code, reason)| fail(Field::IdNumber, code, reason))
            .ok();
        if let Some(id) = &id_number {
            if let Some(&first) = first_row_of_id.get(id.as_str()) {
                let problem = Problem::Duplicate(first);
                fail(Field::IdNumber, problem.code(), problem.to_string());
            } else {
                first_row_of_id.insert(id.as_str().to_owned(), row);
            }
        }
        let mobile = parse_mobile_cell(&raw.cell(columns.of(Field::Mobile)))
            .map_err(|(code, reason)| fail(Field::Mobile, code, reason))
            .ok();
        let household_place =
            parse_household_place(raw.cell(columns.of(Field::HouseholdPlace)).text())
                .map_err(|e| fail(Field::HouseholdPlace, e.code(), e.to_string()))
                .ok();
        if let (Some(name), Some(id_number), Some(mobile), Some(household_place)) =
            (name, id_number, mobile, household_place)
        {
            valid.push(RosterRow {
                row,
                name,
                id_number,
                mobile,
                household_place,
            });
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(errors)
    }
}

/// Error code and reason for one cell.
type CellError = (&'static str, String);

fn stored_as_number(what: &'static str) -> CellError {
    let problem = Problem::StoredAsNumber { what };
    (problem.code(), problem.to_string())
}

fn parse_id_cell(cell: &Cell, today: NaiveDate) -> Result<ResidentId, CellError> {
    match cell {
        Cell::Number(_) => Err(stored_as_number("ID number")),
        Cell::Text(text) if is_scientific(text) => Err(stored_as_number("ID number")),
        Cell::Text(text) => ResidentId::parse(text, today).map_err(|e| (e.code(), e.to_string())),
    }
}

fn parse_mobile_cell(cell: &Cell) -> Result<Mobile, CellError> {
    match cell {
        // Numeric mobile cells are exact (see `number_text`); only text in
        // scientific notation has lost digits.
        Cell::Text(text) if is_scientific(text) => Err(stored_as_number("mobile number")),
        Cell::Text(text) | Cell::Number(text) => {
            Mobile::parse(text).map_err(|e| (e.code(), e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registration::id_number::make;
    use rust_xlsxwriter::Workbook;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()
    }

    fn id(seq: u16) -> String {
        let birth = NaiveDate::from_ymd_opt(1990, 3, 7).unwrap();
        make("410102", birth, seq).as_str().to_owned()
    }

    fn parse_csv(text: &str) -> Result<Vec<RosterRow>, Vec<RowError>> {
        parse_roster(text.as_bytes(), RosterFormat::Csv, today(), 100)
    }

    /// (row, field, code) of each error, for compact assertions.
    fn summary(errors: &[RowError]) -> Vec<(usize, &str, &str)> {
        errors
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.code.as_str()))
            .collect()
    }

    fn xlsx(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut workbook = Workbook::new();
        build(workbook.add_worksheet());
        workbook.save_to_buffer().unwrap()
    }

    #[test]
    fn good_utf8_csv_with_bom_and_extra_columns() {
        let csv = format!(
            "\u{feff}No,name,ID_Number,Mobile,household_place,remark\r\n\
             1,张三,{},138 1234 5678,河南省郑州市,\r\n\
             2,欧阳振华,{},+86 139-0000-1111,\"北京市, 朝阳区\",VIP\r\n",
            id(1),
            id(2).to_lowercase()
        );
        let rows = parse_csv(&csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].row, 2);
        assert_eq!(rows[0].name, "张三");
        assert_eq!(rows[0].id_number.as_str(), id(1));
        assert_eq!(rows[0].mobile.as_str(), "13812345678");
        assert_eq!(rows[0].household_place, "河南省郑州市");
        assert_eq!(rows[1].row, 3);
        assert_eq!(rows[1].id_number.as_str(), id(2));
        assert_eq!(rows[1].mobile.as_str(), "13900001111");
        assert_eq!(rows[1].household_place, "北京市, 朝阳区");
    }

    #[test]
    fn chinese_headers_in_any_order_and_blank_rows_skipped() {
        let csv = format!(
            " 户籍所在地 ,联系电话,公民身份号码,姓名\n\
             河南省郑州市,13812345678,{},张三\n\
             ,,,\n\
             \n\
             湖北省武汉市,15900001111,{},李四\n",
            id(1),
            id(2)
        );
        let rows = parse_csv(&csv).unwrap();
        let got: Vec<(usize, &str)> = rows.iter().map(|r| (r.row, r.name.as_str())).collect();
        // Row numbers count the blank rows, as Excel would show them.
        assert_eq!(got, [(2, "张三"), (5, "李四")]);
        assert_eq!(rows[1].household_place, "湖北省武汉市");
    }

    #[test]
    fn quoted_line_breaks_do_not_shift_row_numbers() {
        let csv = format!(
            "姓名,身份证号,手机号,户籍地\n\
             张三,{},13812345678,\"河南省\n郑州市\"\n\
             李四,{},1381234,湖北省\n",
            id(1),
            id(2)
        );
        let errors = parse_csv(&csv).unwrap_err();
        assert_eq!(
            summary(&errors),
            [
                (2, "household_place", "control_character"),
                (3, "mobile", "wrong_length")
            ]
        );
    }

    #[test]
    fn crlf_blank_lines_and_quoted_breaks_keep_excel_row_numbers() {
        let csv = format!(
            "姓名,身份证号,手机号,户籍地\r\n\
             张三,{},13812345678,\"河南省\r\n郑州市\"\r\n\
             \r\n\
             李四,{},13812345678,\"湖\n\n北省\"\r\n\
             王五,{},1381234,湖北省",
            id(1),
            id(2),
            id(3)
        );
        let errors = parse_csv(&csv).unwrap_err();
        assert_eq!(
            summary(&errors),
            [
                (2, "household_place", "control_character"),
                (4, "household_place", "control_character"),
                (5, "mobile", "wrong_length")
            ]
        );
    }

    #[test]
    fn gbk_encoded_csv_is_decoded() {
        let text = format!(
            "姓名,身份证号码,手机,户籍\r\n王小明,{},13812345678,广东省深圳市\r\n",
            id(3)
        );
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
        assert!(!unmappable);
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "test data must not be UTF-8"
        );
        assert_eq!(sniff_format(&bytes), Some(RosterFormat::Csv));
        let rows = parse_roster(&bytes, RosterFormat::Csv, today(), 10).unwrap();
        assert_eq!(rows[0].name, "王小明");
        assert_eq!(rows[0].household_place, "广东省深圳市");
    }

    #[test]
    fn excel_text_formula_cells_are_unwrapped() {
        let csv = format!(
            "姓名,身份证号,手机号,户籍地\n张三,=\"{}\",=\"13812345678\",河南省\n",
            id(1)
        );
        let rows = parse_csv(&csv).unwrap();
        assert_eq!(rows[0].id_number.as_str(), id(1));
        assert_eq!(rows[0].mobile.as_str(), "13812345678");
    }

    #[test]
    fn scientific_notation_in_csv_is_stored_as_number() {
        let csv = "姓名,身份证号,手机号,户籍地\n张三,4.10102E+17,1.38123E+10,河南省\n";
        let errors = parse_csv(csv).unwrap_err();
        assert_eq!(
            summary(&errors),
            [
                (2, "id_number", "stored_as_number"),
                (2, "mobile", "stored_as_number")
            ]
        );
        assert!(errors[0].reason.contains("format the whole column as Text"));
    }

    #[test]
    fn every_error_of_every_bad_row_is_reported() {
        let csv = format!(
            "姓名,身份证号,手机号,户籍地\n\
             张三,{good1},13812345678,河南省郑州市\n\
             张3,110105194912310021,12345,河南省\n\
             李四,{good2},13812345678,河南省郑州市\n\
             王,41010219990230123X,,豫\n\
             赵六,4101021990030712,+852 61234567,河南省郑州市\n",
            good1 = id(1),
            good2 = id(2)
        );
        let errors = parse_csv(&csv).unwrap_err();
        assert_eq!(
            summary(&errors),
            [
                (3, "name", "bad_character"),
                (3, "id_number", "bad_check_digit"),
                (3, "mobile", "wrong_length"),
                (5, "name", "too_short"),
                (5, "id_number", "bad_birth_date"),
                (5, "mobile", "empty"),
                (5, "household_place", "too_short"),
                (6, "id_number", "wrong_length"),
                (6, "mobile", "not_mainland"),
            ]
        );
        assert!(errors[1].reason.contains("should be X but is 1"));
        assert!(errors[7].reason.contains("16 characters"));
    }

    #[test]
    fn duplicate_id_is_reported_on_the_later_row() {
        let csv = format!(
            "姓名,身份证号,手机号,户籍地\n\
             张三,{a},13812345678,河南省\n\
             李四,{b},13812345679,河南省\n\
             王五,{a_lower},13812345670,河南省\n",
            a = "11010519491231002X",
            b = id(2),
            a_lower = "11010519491231002x"
        );
        let errors = parse_csv(&csv).unwrap_err();
        assert_eq!(summary(&errors), [(4, "id_number", "duplicate")]);
        assert_eq!(errors[0].reason, "duplicate of row 2");
    }

    #[test]
    fn missing_columns_are_each_reported_on_the_header_row() {
        let errors = parse_csv("姓名,电话号,备注\n张三,13812345678,\n").unwrap_err();
        assert_eq!(
            summary(&errors),
            [
                (1, "id_number", "missing_column"),
                (1, "mobile", "missing_column"),
                (1, "household_place", "missing_column"),
            ]
        );
        assert!(errors[0].reason.contains("身份证号"));
    }

    #[test]
    fn preferred_alias_wins_and_equal_aliases_clash() {
        let csv = format!(
            "姓名,联系电话,身份证号,手机号,户籍\n张三,010-12345678,{},13812345678,河南省\n",
            id(1)
        );
        assert_eq!(parse_csv(&csv).unwrap()[0].mobile.as_str(), "13812345678");

        let errors = parse_csv("姓名,Mobile,姓名 ,身份证号,手机号,户籍\n").unwrap_err();
        assert_eq!(summary(&errors), [(1, "name", "duplicate_column")]);
    }

    #[test]
    fn too_many_rows_is_one_error() {
        let mut csv = String::from("name,id,phone,household_place\n");
        for seq in 1..=4 {
            csv.push_str(&format!("张三,{},13812345678,河南省\n", id(seq)));
        }
        let errors = parse_roster(csv.as_bytes(), RosterFormat::Csv, today(), 3).unwrap_err();
        assert_eq!(summary(&errors), [(0, "file", "too_many_rows")]);
        assert!(errors[0].reason.contains("more than 3 trainee rows"));
        assert!(parse_roster(csv.as_bytes(), RosterFormat::Csv, today(), 4).is_ok());
    }

    #[test]
    fn empty_files_and_header_only_files_are_errors() {
        assert_eq!(
            summary(&parse_csv("").unwrap_err()),
            [(0, "file", "empty_file")]
        );
        assert_eq!(
            summary(&parse_csv("姓名,身份证号,手机号,户籍\n,,,\n").unwrap_err()),
            [(0, "file", "no_rows")]
        );
    }

    #[test]
    fn garbage_bytes_are_a_file_error() {
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe";
        assert_eq!(sniff_format(png), None);
        let errors = parse_roster(png, RosterFormat::Csv, today(), 10).unwrap_err();
        assert_eq!(summary(&errors), [(0, "file", "undecodable_text")]);

        let fake_zip = b"PK\x03\x04 definitely not a workbook";
        assert_eq!(sniff_format(fake_zip), Some(RosterFormat::Xlsx));
        let errors = parse_roster(fake_zip, RosterFormat::Xlsx, today(), 10).unwrap_err();
        assert_eq!(summary(&errors), [(0, "file", "unreadable_file")]);

        let csv_bytes = "姓名,身份证号,手机号,户籍\n".as_bytes();
        let errors = parse_roster(csv_bytes, RosterFormat::Xlsx, today(), 10).unwrap_err();
        assert_eq!(summary(&errors), [(0, "file", "unreadable_file")]);
    }

    #[test]
    fn random_binary_is_not_text() {
        // Deterministic pseudo-random bytes (64-bit LCG), like a photo or
        // an encrypted archive uploaded by mistake.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20 {
            let junk: Vec<u8> = (0..4096)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (state >> 56) as u8
                })
                .collect();
            assert_eq!(sniff_format(&junk), None);
            let errors = parse_roster(&junk, RosterFormat::Csv, today(), 10).unwrap_err();
            assert_eq!(summary(&errors), [(0, "file", "undecodable_text")]);
        }
    }

    #[test]
    fn sniffs_utf8_with_and_without_bom() {
        assert_eq!(
            sniff_format("姓名,手机\n".as_bytes()),
            Some(RosterFormat::Csv)
        );
        assert_eq!(sniff_format(b"\xEF\xBB\xBFname\n"), Some(RosterFormat::Csv));
        // Old binary .xls (OLE2) is not accepted.
        assert_eq!(
            sniff_format(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00"),
            None
        );
    }

    #[test]
    fn xlsx_with_numeric_mobile_is_accepted() {
        let bytes = xlsx(|sheet| {
            for (col, header) in ["序号", "姓名", "身份证号", "手机号码", "户籍所在地"]
                .into_iter()
                .enumerate()
            {
                sheet.write_string(0, col as u16, header).unwrap();
            }
            sheet.write_number(1, 0, 1).unwrap();
            sheet.write_string(1, 1, "欧阳振华").unwrap();
            sheet.write_string(1, 2, id(7)).unwrap();
            sheet.write_number(1, 3, 13812345678.0).unwrap();
            sheet.write_string(1, 4, "湖南省长沙市").unwrap();
        });
        assert_eq!(sniff_format(&bytes), Some(RosterFormat::Xlsx));
        let rows = parse_roster(&bytes, RosterFormat::Xlsx, today(), 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row, 2);
        assert_eq!(rows[0].name, "欧阳振华");
        assert_eq!(rows[0].id_number.as_str(), id(7));
        assert_eq!(rows[0].mobile.as_str(), "13812345678");
    }

    #[test]
    fn xlsx_numeric_id_is_stored_as_number() {
        let bytes = xlsx(|sheet| {
            for (col, header) in ["name", "id_number", "mobile", "household_place"]
                .into_iter()
                .enumerate()
            {
                sheet.write_string(0, col as u16, header).unwrap();
            }
            sheet.write_string(1, 0, "张三").unwrap();
            // What Excel keeps of 410102199003071234 typed into a General cell.
            sheet.write_number(1, 1, 4.10102199003071e17).unwrap();
            sheet.write_number(1, 2, 13812345678.0).unwrap();
            sheet.write_string(1, 3, "河南省").unwrap();
        });
        let errors = parse_roster(&bytes, RosterFormat::Xlsx, today(), 10).unwrap_err();
        assert_eq!(summary(&errors), [(2, "id_number", "stored_as_number")]);
        assert!(errors[0].reason.contains("Text"));
    }

    #[test]
    fn xlsx_row_numbers_match_excel_when_sheet_starts_lower() {
        let bytes = xlsx(|sheet| {
            for (col, header) in ["姓名", "身份证号", "手机号", "户籍"]
                .into_iter()
                .enumerate()
            {
                sheet.write_string(2, col as u16, header).unwrap();
            }
            sheet.write_string(3, 0, "张三").unwrap();
            sheet.write_string(3, 1, id(1)).unwrap();
            sheet.write_string(3, 2, "13812345678").unwrap();
            sheet.write_string(3, 3, "河南省").unwrap();
            sheet.write_string(5, 0, "李四").unwrap();
        });
        let errors = parse_roster(&bytes, RosterFormat::Xlsx, today(), 10).unwrap_err();
        assert_eq!(
            summary(&errors),
            [
                (6, "id_number", "empty"),
                (6, "mobile", "empty"),
                (6, "household_place", "empty"),
            ]
        );
    }

    #[test]
    fn xlsx_without_required_columns_reports_them() {
        let bytes = xlsx(|sheet| {
            sheet.write_string(0, 0, "姓名").unwrap();
            sheet.write_string(0, 1, "身份证号").unwrap();
        });
        let errors = parse_roster(&bytes, RosterFormat::Xlsx, today(), 10).unwrap_err();
        assert_eq!(
            summary(&errors),
            [
                (1, "mobile", "missing_column"),
                (1, "household_place", "missing_column")
            ]
        );
    }

    fn write_header(sheet: &mut rust_xlsxwriter::Worksheet, row: u32) {
        for (col, header) in ["姓名", "身份证号", "手机号", "户籍"]
            .into_iter()
            .enumerate()
        {
            sheet.write_string(row, col as u16, header).unwrap();
        }
    }

    fn write_trainee(sheet: &mut rust_xlsxwriter::Worksheet, row: u32, seq: u16) {
        sheet.write_string(row, 0, "张三").unwrap();
        sheet.write_string(row, 1, id(seq)).unwrap();
        sheet.write_string(row, 2, "13812345678").unwrap();
        sheet.write_string(row, 3, "河南省").unwrap();
    }

    #[test]
    fn xlsx_uses_first_visible_worksheet() {
        let mut workbook = Workbook::new();
        let hidden = workbook.add_worksheet();
        hidden.write_string(0, 0, "下拉选项").unwrap();
        hidden.set_hidden(true);
        let roster = workbook.add_worksheet();
        write_header(roster, 0);
        write_trainee(roster, 1, 1);
        roster.set_active(true);
        let bytes = workbook.save_to_buffer().unwrap();
        let rows = parse_roster(&bytes, RosterFormat::Xlsx, today(), 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id_number.as_str(), id(1));
    }

    #[test]
    fn xlsx_stray_far_away_cell_is_cheap_and_ignored() {
        let bytes = xlsx(|sheet| {
            write_header(sheet, 0);
            write_trainee(sheet, 1, 1);
            // XFD1048576: a dense range here would be 17 billion cells.
            sheet.write_string(1_048_575, 16_383, "x").unwrap();
        });
        // The stray cell is beyond MAX_COLUMNS, so its row counts as blank.
        let rows = parse_roster(&bytes, RosterFormat::Xlsx, today(), 10).unwrap();
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn xlsx_too_many_rows() {
        let bytes = xlsx(|sheet| {
            write_header(sheet, 0);
            for seq in 1..=5 {
                write_trainee(sheet, u32::from(seq), seq);
            }
        });
        let errors = parse_roster(&bytes, RosterFormat::Xlsx, today(), 2).unwrap_err();
        assert_eq!(summary(&errors), [(0, "file", "too_many_rows")]);
        assert_eq!(
            parse_roster(&bytes, RosterFormat::Xlsx, today(), 5)
                .unwrap()
                .len(),
            5
        );
    }

    #[test]
    fn row_error_serializes_for_the_api() {
        let error = Problem::Duplicate(2).at(5, Field::IdNumber.key());
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({
                "row": 5,
                "field": "id_number",
                "code": "duplicate",
                "reason": "duplicate of row 2"
            })
        );
    }

    #[test]
    fn number_text_is_exact_for_whole_numbers() {
        assert_eq!(number_text(13812345678.0), "13812345678");
        assert_eq!(number_text(1.5), "1.5");
        assert!(is_scientific("4.10102E+17"));
        assert!(is_scientific("1e10"));
        assert!(!is_scientific("13812345678"));
        assert!(!is_scientific("Eva"));
    }
}
