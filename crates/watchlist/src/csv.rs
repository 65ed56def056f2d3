//! HQ's CSV export (schema in DESIGN.md, section Watchlists), strictly validated: every refused
//! row names its file, line, column and why. The parsing itself is the `csv` crate's; this module
//! owns the schema: which columns exist, what each may hold, and the rules across them.
//!
//! Rules beyond each field's shape:
//! - `entry_id` is unique across every file of one import.
//! - Person lists (BLACKLIST, ECL, PCL, PO) need a `full_name`; an SLTD row needs a document
//!   number; a CNIC_BLOCK row needs a `national_id`.
//! - The ECL applies to departures only; an ECL row naming ARRIVAL is refused.
//! - `action` is OFFLOAD, SECOND_CHECK or DETAIN (CLEAR is not an action).
//! - An empty `directions` means the list's default ([`ListKind::default_directions`]).
//! - A leading `S/O` or `D/O` ("son/daughter of") in `father_name` is dropped: it is a relation,
//!   not part of the name.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::io::Write;

use checkpost_document::{Cnic, PartialDate, Sex};

use crate::{Decision, Direction, Entry, EntryId, ListKind, WatchlistError};

/// The columns of HQ's export, in the order [`write()`] writes them. A file may order them
/// differently and may leave out any but [`REQUIRED_COLUMNS`]; an unknown column is refused.
pub const COLUMNS: [&str; 16] = [
    "list",
    "entry_id",
    "full_name",
    "aliases",
    "father_name",
    "dob",
    "gender",
    "nationality",
    "document_numbers",
    "national_id",
    "action",
    "directions",
    "reason",
    "reference",
    "valid_from",
    "valid_until",
];

/// Columns every file must have.
pub const REQUIRED_COLUMNS: [&str; 4] = ["list", "entry_id", "full_name", "action"];

/// Longest accepted row, in bytes (DESIGN: every input has a limit).
pub const MAX_ROW_BYTES: usize = 16 * 1024;

/// Longest accepted entry id or document number.
pub const MAX_ID_LEN: usize = 64;

/// A strict import stops collecting after this many bad rows (a wholly wrong file would
/// otherwise produce one error per row).
pub const MAX_REPORTED_ROWS: usize = 100;

/// How [`import`] treats bad rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Skip bad rows and report them in [`Import::rejected`] instead of refusing the import.
    pub lenient: bool,
}

/// What an import produced.
#[derive(Debug, Default)]
pub struct Import {
    /// The valid entries, in file then row order.
    pub entries: Vec<Entry>,
    /// Rows skipped by a lenient import (always empty for a strict one, which fails instead).
    pub rejected: Vec<RowError>,
}

/// One refused row: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: column {column} ({field}): {reason}")]
pub struct RowError {
    /// The file name as given to the import.
    pub file: String,
    /// 1-based line where the row starts.
    pub line: u64,
    /// 1-based column (field position in that file's header); 0 when the row as a whole is bad.
    pub column: usize,
    /// The column's name, or `row` when the row as a whole is bad.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

/// Reads and validates every source (`(file name, bytes)`, the name only used in errors). With
/// `lenient: false`, any bad row refuses the whole import with [`WatchlistError::RejectedRows`]
/// listing every bad row (up to [`MAX_REPORTED_ROWS`]); with `lenient: true`, bad rows are
/// skipped and listed in [`Import::rejected`]. A bad header refuses the import either way.
pub fn import(sources: &[(&str, &[u8])], opts: ImportOptions) -> Result<Import, WatchlistError> {
    import_with_progress(sources, opts, &mut |_| {})
}

/// [`import`], calling `progress` with the number of bytes consumed so far (summed over all
/// sources) every few thousand rows and once at the end, for a progress bar.
pub fn import_with_progress(
    sources: &[(&str, &[u8])],
    opts: ImportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Import, WatchlistError> {
    // Rows of HQ's export average well over 64 bytes; reserving up front avoids rehashing and
    // re-copying a million entries as the collections grow.
    let estimate = sources.iter().map(|(_, b)| b.len()).sum::<usize>() / 128;
    let mut out = Import {
        entries: Vec::with_capacity(estimate),
        rejected: Vec::new(),
    };
    // entry id -> (file, line) of its first row, for duplicate reports.
    let mut seen: HashMap<String, (usize, u64)> = HashMap::with_capacity(estimate);
    let mut done_bytes = 0u64;
    for (file_idx, (file, bytes)) in sources.iter().enumerate() {
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(::csv::Trim::All)
            .from_reader(*bytes);
        let columns = Columns::from_header(file, &mut reader)?;
        let mut record = ::csv::StringRecord::new();
        let mut rows = 0u64;
        loop {
            let result = reader.read_record(&mut record);
            let row = match result {
                Ok(false) => break,
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line());
                    columns.entry(file, line, &record).and_then(|entry| {
                        match seen.entry(entry.entry_id.0.clone()) {
                            MapEntry::Vacant(v) => {
                                v.insert((file_idx, line));
                                Ok(entry)
                            }
                            MapEntry::Occupied(o) => {
                                let (first_file, first_line) = *o.get();
                                Err(columns.error(
                                    file,
                                    line,
                                    "entry_id",
                                    format!(
                                        "duplicate entry id '{}' (first at {}:{first_line})",
                                        entry.entry_id, sources[first_file].0
                                    ),
                                ))
                            }
                        }
                    })
                }
                Err(err) => Err(csv_error(file, &err)),
            };
            match row {
                Ok(entry) => out.entries.push(entry),
                Err(row_error) => {
                    out.rejected.push(row_error);
                    if !opts.lenient && out.rejected.len() >= MAX_REPORTED_ROWS {
                        return Err(WatchlistError::RejectedRows { rows: out.rejected });
                    }
                }
            }
            rows += 1;
            if rows % 8192 == 0 {
                progress(done_bytes + reader.position().byte());
            }
        }
        done_bytes += bytes.len() as u64;
        progress(done_bytes);
    }
    if !opts.lenient && !out.rejected.is_empty() {
        return Err(WatchlistError::RejectedRows { rows: out.rejected });
    }
    Ok(out)
}

/// Writes `entries` as CSV with the [`COLUMNS`] header; [`import`] reads the result back to the
/// same entries.
pub fn write<W: Write>(entries: &[Entry], w: W) -> Result<(), WatchlistError> {
    let mut writer = ::csv::Writer::from_writer(w);
    let map = |e: ::csv::Error| match e.into_kind() {
        ::csv::ErrorKind::Io(io) => WatchlistError::Write(io),
        other => WatchlistError::Write(std::io::Error::other(format!("{other:?}"))),
    };
    writer.write_record(COLUMNS).map_err(map)?;
    let date = |d: &Option<PartialDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let join = |v: &[String]| v.join(";");
    for e in entries {
        let directions: Vec<&str> = e.directions.iter().map(|d| d.as_str()).collect();
        let record: [String; 16] = [
            e.list.as_str().to_string(),
            e.entry_id.0.clone(),
            e.full_name.clone(),
            join(&e.aliases),
            e.father_name.clone().unwrap_or_default(),
            date(&e.dob),
            sex_str(e.sex).to_string(),
            e.nationality.clone().unwrap_or_default(),
            join(&e.document_numbers),
            e.national_id.as_ref().map(Cnic::dashed).unwrap_or_default(),
            e.action.as_str().to_string(),
            directions.join(";"),
            e.reason.clone(),
            e.reference.clone(),
            date(&e.valid_from),
            date(&e.valid_until),
        ];
        writer.write_record(&record).map_err(map)?;
    }
    writer.flush().map_err(WatchlistError::Write).map(|_| ())
}

fn sex_str(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "M",
        Sex::Female => "F",
        Sex::Unspecified => "",
    }
}

fn csv_error(file: &str, err: &::csv::Error) -> RowError {
    let line = err.position().map_or(0, |p| p.line());
    let reason = match err.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("row has {len} fields, the header has {expected_len}"),
        ::csv::ErrorKind::Utf8 { err, .. } => format!(
            "field {} is not valid UTF-8 (byte {})",
            err.field() + 1,
            err.valid_up_to()
        ),
        other => format!("{other:?}"),
    };
    RowError {
        file: file.to_string(),
        line,
        column: 0,
        field: "row".to_string(),
        reason,
    }
}

/// Where each known column sits in one file.
struct Columns {
    /// For each of [`COLUMNS`], its index in the file's records, if present.
    at: [Option<usize>; 16],
}

/// Index of a column name in [`COLUMNS`].
fn col(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).unwrap_or(0)
}

impl Columns {
    fn from_header(file: &str, reader: &mut ::csv::Reader<&[u8]>) -> Result<Self, WatchlistError> {
        let header = |reason: String| WatchlistError::CsvHeader {
            file: file.to_string(),
            reason,
        };
        let headers = reader
            .headers()
            .map_err(|e| header(format!("unreadable header row: {e}")))?
            .clone();
        if headers.is_empty() || headers.iter().all(str::is_empty) {
            return Err(header("the file is empty or has no header row".to_string()));
        }
        let mut at = [None; 16];
        for (i, name) in headers.iter().enumerate() {
            let lower = name.trim_start_matches('\u{feff}').to_ascii_lowercase();
            let Some(k) = COLUMNS.iter().position(|c| *c == lower) else {
                return Err(header(format!(
                    "unknown column '{name}' (column {}); expected {}",
                    i + 1,
                    COLUMNS.join(", ")
                )));
            };
            if at[k].is_some() {
                return Err(header(format!("column '{name}' appears twice")));
            }
            at[k] = Some(i);
        }
        if let Some(missing) = REQUIRED_COLUMNS.iter().find(|c| at[col(c)].is_none()) {
            return Err(header(format!("required column '{missing}' is missing")));
        }
        Ok(Self { at })
    }

    fn get<'r>(&self, record: &'r ::csv::StringRecord, name: &str) -> &'r str {
        self.at[col(name)].and_then(|i| record.get(i)).unwrap_or("")
    }

    fn error(&self, file: &str, line: u64, field: &str, reason: String) -> RowError {
        RowError {
            file: file.to_string(),
            line,
            column: self.at[col(field)].map_or(0, |i| i + 1),
            field: field.to_string(),
            reason,
        }
    }

    /// Validates one row into an entry, or names its first bad field.
    fn entry(
        &self,
        file: &str,
        line: u64,
        record: &::csv::StringRecord,
    ) -> Result<Entry, RowError> {
        let err = |field: &str, reason: String| self.error(file, line, field, reason);
        if record.as_slice().len() > MAX_ROW_BYTES {
            return Err(RowError {
                file: file.to_string(),
                line,
                column: 0,
                field: "row".to_string(),
                reason: format!("row is longer than {MAX_ROW_BYTES} bytes"),
            });
        }
        let get = |name: &str| self.get(record, name);

        let list: ListKind = get("list")
            .parse()
            .map_err(|e: crate::vocab::UnknownValue| err("list", e.to_string()))?;

        let entry_id = get("entry_id");
        if entry_id.is_empty() {
            return Err(err("entry_id", "entry id is empty".to_string()));
        }
        if entry_id.len() > MAX_ID_LEN
            || entry_id
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(err(
                "entry_id",
                format!("entry id '{entry_id}' must be 1-{MAX_ID_LEN} characters without spaces"),
            ));
        }

        let full_name = clean_name(get("full_name"));
        let aliases: Vec<String> = split_multi(get("aliases")).map(clean_name).collect();
        let father_name =
            Some(strip_relation(&clean_name(get("father_name")))).filter(|f| !f.is_empty());

        let date = |field: &str| -> Result<Option<PartialDate>, RowError> {
            let v = get(field);
            if v.is_empty() {
                Ok(None)
            } else {
                PartialDate::parse(v)
                    .map(Some)
                    .map_err(|e| err(field, e.to_string()))
            }
        };
        let dob = date("dob")?;

        let gender = get("gender");
        let sex = Sex::parse(gender).ok_or_else(|| {
            err(
                "gender",
                format!("'{gender}' is not a sex; expected M, F or X"),
            )
        })?;

        let nationality_raw = get("nationality");
        let nationality = if nationality_raw.is_empty() {
            None
        } else if nationality_raw.len() == 3
            && nationality_raw.bytes().all(|b| b.is_ascii_alphabetic())
        {
            Some(nationality_raw.to_ascii_uppercase())
        } else {
            return Err(err(
                "nationality",
                format!("'{nationality_raw}' is not an ICAO 3-letter code"),
            ));
        };

        let mut document_numbers = Vec::new();
        for raw in split_multi(get("document_numbers")) {
            let number: String = raw
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '<')
                .map(|c| c.to_ascii_uppercase())
                .collect();
            if number.is_empty()
                || number.len() > MAX_ID_LEN
                || !number.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(err(
                    "document_numbers",
                    format!("'{raw}' is not a document number (letters and digits only)"),
                ));
            }
            document_numbers.push(number);
        }

        let national_id_raw = get("national_id");
        let national_id = if national_id_raw.is_empty() {
            None
        } else {
            Some(Cnic::parse(national_id_raw).map_err(|e| err("national_id", e.to_string()))?)
        };

        let action: Decision = get("action")
            .parse()
            .map_err(|e: crate::vocab::UnknownValue| err("action", e.to_string()))?;
        if action == Decision::Clear {
            return Err(err(
                "action",
                "CLEAR is not an action; expected OFFLOAD, SECOND_CHECK or DETAIN".to_string(),
            ));
        }

        let mut directions = Vec::new();
        for raw in split_multi(get("directions")) {
            let d: Direction = raw
                .parse()
                .map_err(|e: crate::vocab::UnknownValue| err("directions", e.to_string()))?;
            if !directions.contains(&d) {
                directions.push(d);
            }
        }
        if directions.is_empty() {
            directions = list.default_directions().to_vec();
        }
        if list == ListKind::Ecl && directions.contains(&Direction::Arrival) {
            return Err(err(
                "directions",
                "the Exit Control List applies to departures only".to_string(),
            ));
        }

        let valid_from = date("valid_from")?;
        let valid_until = date("valid_until")?;
        if let (Some(from), Some(until)) = (valid_from, valid_until)
            && from > until
        {
            return Err(err(
                "valid_until",
                format!("valid_until {until} is before valid_from {from}"),
            ));
        }

        match list {
            ListKind::Sltd if document_numbers.is_empty() => {
                return Err(err(
                    "document_numbers",
                    "an SLTD entry needs a document number".to_string(),
                ));
            }
            ListKind::CnicBlock if national_id.is_none() => {
                return Err(err(
                    "national_id",
                    "a CNIC_BLOCK entry needs a national_id".to_string(),
                ));
            }
            ListKind::Blacklist | ListKind::Ecl | ListKind::Pcl | ListKind::Po
                if full_name.is_empty() =>
            {
                return Err(err(
                    "full_name",
                    format!("full name is empty (required on the {list} list)"),
                ));
            }
            _ => {}
        }

        Ok(Entry {
            list,
            entry_id: EntryId(entry_id.to_string()),
            full_name,
            aliases,
            father_name,
            dob,
            sex,
            nationality,
            document_numbers,
            national_id,
            action,
            directions,
            reason: get("reason").to_string(),
            reference: get("reference").to_string(),
            valid_from,
            valid_until,
        })
    }
}

/// Values of a multi-valued field (joined by `;`), trimmed, empties dropped.
fn split_multi(v: &str) -> impl Iterator<Item = &str> {
    v.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// Upper case, single spaces.
fn clean_name(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for word in v.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_uppercase));
    }
    out
}

/// Drops a leading "S/O" or "D/O" (son / daughter of) from an upper-case father's name.
fn strip_relation(name: &str) -> String {
    for prefix in ["S/O", "D/O", "S/O.", "D/O.", "S/O:", "D/O:"] {
        if let Some(rest) = name.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with(' '))
        {
            return rest.trim_start().to_string();
        }
    }
    name.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_upper_cased_and_single_spaced_and_relation_prefixes_dropped() {
        assert_eq!(clean_name("  muhammad   asif  khan "), "MUHAMMAD ASIF KHAN");
        assert_eq!(strip_relation("S/O TARIQ MAHMOOD"), "TARIQ MAHMOOD");
        assert_eq!(strip_relation("D/O. ALI"), "ALI");
        assert_eq!(strip_relation("SOHAIL"), "SOHAIL");
    }

    #[test]
    fn synthetic_entries_round_trip_through_csv() {
        let entries = crate::synth::generate(2_000, 5);
        let mut bytes = Vec::new();
        write(&entries, &mut bytes).unwrap();
        let back = import(&[("synth.csv", &bytes)], ImportOptions::default()).unwrap();
        assert_eq!(back.entries, entries);
    }
}
