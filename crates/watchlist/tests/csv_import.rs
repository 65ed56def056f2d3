//! CSV import: the sample fixture, every bad fixture with its expected error, lenient mode and
//! rules across files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};

use checkpost_document::{PartialDate, Sex};
use checkpost_watchlist::csv::{ImportOptions, import};
use checkpost_watchlist::{Decision, Direction, ListKind, WatchlistError};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/watchlists")
}

fn strict() -> ImportOptions {
    ImportOptions { lenient: false }
}

fn lenient() -> ImportOptions {
    ImportOptions { lenient: true }
}

#[test]
fn sample_fixture_imports_all_six_lists_with_names_aliases_and_partial_dates() {
    let bytes = std::fs::read(fixtures().join("sample.csv")).unwrap();
    let import = import(&[("sample.csv", &bytes)], strict()).unwrap();
    assert!(import.rejected.is_empty());
    assert_eq!(import.entries.len(), 20);
    for list in ListKind::ALL {
        assert!(
            import.entries.iter().any(|e| e.list == list),
            "no {list} entry"
        );
    }
    let by_id = |id: &str| {
        import
            .entries
            .iter()
            .find(|e| e.entry_id.0 == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };

    let asif = by_id("ECL-0001");
    assert_eq!(asif.full_name, "MUHAMMAD ASIF KHAN");
    assert_eq!(asif.aliases, ["MOHAMMAD ASIF", "ASIF KHAN NIAZI"]);
    assert_eq!(asif.father_name.as_deref(), Some("TARIQ MAHMOOD KHAN"));
    assert_eq!(asif.dob, Some(PartialDate::full(1979, 3, 14).unwrap()));
    assert_eq!(asif.national_id.as_ref().unwrap().as_str(), "3520212345671");
    assert_eq!(asif.directions, [Direction::Departure]);
    assert_eq!(asif.action, Decision::Offload);

    let ayesha = by_id("ECL-0002");
    assert_eq!(ayesha.sex, Sex::Female);
    assert_eq!(
        ayesha.father_name.as_deref(),
        Some("GHULAM RASOOL"),
        "D/O is a relation, not a name"
    );
    assert_eq!(ayesha.dob.unwrap().to_string(), "1985-07");
    assert_eq!(
        ayesha.directions,
        [Direction::Departure],
        "ECL defaults to departures"
    );
    assert_eq!(ayesha.valid_until.unwrap().to_string(), "2027-06-30");

    assert_eq!(by_id("ECL-0003").dob.unwrap().to_string(), "1968");
    assert_eq!(
        by_id("PO-0001").directions,
        [Direction::Departure, Direction::Arrival],
        "other lists default to both directions"
    );
    let sltd = by_id("SLTD-0003");
    assert!(sltd.full_name.is_empty());
    assert_eq!(sltd.document_numbers, ["123456789"]);
    assert_eq!(sltd.nationality.as_deref(), Some("GBR"));
    assert!(by_id("CNIC-0001").national_id.is_some());
}

/// Reads `NAME.expected` beside a bad fixture: `key: value` lines.
fn expected(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path.with_extension("expected"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_bad_fixture_is_refused_with_its_expected_error() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "{} bad fixtures", files.len());
    for path in files {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let want = expected(&path);
        let get = |k: &str| {
            want.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let err = import(&[(name.as_str(), &bytes)], strict())
            .expect_err(&format!("{name} was accepted"));
        if let Some(header) = get("header") {
            match &err {
                WatchlistError::CsvHeader { file, reason } => {
                    assert_eq!(file, &name);
                    assert!(reason.contains(header), "{name}: {reason}");
                }
                other => panic!("{name}: expected a header error, got {other}"),
            }
            continue;
        }
        let WatchlistError::RejectedRows { rows } = &err else {
            panic!("{name}: expected rejected rows, got {err}");
        };
        assert_eq!(rows.len(), 1, "{name}: one error per fixture: {rows:?}");
        let row = &rows[0];
        assert_eq!(row.file, name);
        assert_eq!(row.line.to_string(), get("line").unwrap(), "{name}: {row}");
        assert_eq!(
            row.column.to_string(),
            get("column").unwrap(),
            "{name}: {row}"
        );
        assert_eq!(row.field, get("field").unwrap(), "{name}: {row}");
        assert!(row.reason.contains(get("reason").unwrap()), "{name}: {row}");
        // The message an operator reads names all of it.
        let shown = err.to_string();
        assert!(shown.contains(&format!("{name}:{}", row.line)), "{shown}");

        // Lenient mode keeps the two good rows and reports the bad one.
        let kept = import(&[(name.as_str(), &bytes)], lenient()).unwrap();
        assert_eq!(kept.entries.len(), 2, "{name}");
        assert_eq!(kept.rejected, *rows, "{name}");
    }
}

const HEADER: &str = "list,entry_id,full_name,aliases,father_name,dob,gender,nationality,document_numbers,national_id,action,directions,reason,reference,valid_from,valid_until";

#[test]
fn duplicate_entry_id_across_files_is_refused_naming_both_places() {
    let a = format!("{HEADER}\nECL,E-1,ALI KHAN,,,1980,M,PAK,,,OFFLOAD,,r,ref,,\n");
    let b = format!(
        "{HEADER}\nPO,P-1,ASIF ALI,,,1981,M,PAK,,,DETAIN,,r,ref,,\nPO,E-1,ZAHID ALI,,,1982,M,PAK,,,DETAIN,,r,ref,,\n"
    );
    let err = import(
        &[("ecl.csv", a.as_bytes()), ("po.csv", b.as_bytes())],
        strict(),
    )
    .unwrap_err();
    let WatchlistError::RejectedRows { rows } = err else {
        panic!("{err}")
    };
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].file.as_str(), rows[0].line), ("po.csv", 3));
    assert_eq!(rows[0].field, "entry_id");
    assert!(rows[0].reason.contains("first at ecl.csv:2"), "{}", rows[0]);

    let kept = import(
        &[("ecl.csv", a.as_bytes()), ("po.csv", b.as_bytes())],
        lenient(),
    )
    .unwrap();
    let ids: Vec<_> = kept.entries.iter().map(|e| e.entry_id.0.as_str()).collect();
    assert_eq!(ids, ["E-1", "P-1"], "the first occurrence wins");
}

#[test]
fn strict_import_lists_every_bad_row_not_just_the_first() {
    let csv = format!(
        "{HEADER}\nEXIT,A,ALI,,,1980,M,PAK,,,OFFLOAD,,r,ref,,\nECL,B,ALI,,,1980-13,M,PAK,,,OFFLOAD,,r,ref,,\nECL,C,ALI,,,1980,M,PAK,,123,OFFLOAD,,r,ref,,\n"
    );
    let err = import(&[("three.csv", csv.as_bytes())], strict()).unwrap_err();
    let WatchlistError::RejectedRows { rows } = err else {
        panic!("{err}")
    };
    let fields: Vec<_> = rows.iter().map(|r| (r.line, r.field.as_str())).collect();
    assert_eq!(fields, [(2, "list"), (3, "dob"), (4, "national_id")]);
}

#[test]
fn columns_may_come_in_any_order_and_optional_ones_may_be_absent() {
    let csv = "entry_id,action,full_name,list,national_id\n\
               X-1,detain,  muhammad   ali ,po,35202-1234567-1\n";
    let import = import(&[("short.csv", csv.as_bytes())], strict()).unwrap();
    let e = &import.entries[0];
    assert_eq!(e.list, ListKind::Po);
    assert_eq!(e.full_name, "MUHAMMAD ALI");
    assert_eq!(e.action, Decision::Detain);
    assert_eq!(e.dob, None);
    assert_eq!(e.national_id.as_ref().unwrap().as_str(), "3520212345671");
}

#[test]
fn multi_valued_fields_split_on_semicolons_and_document_numbers_lose_fillers() {
    let csv = format!(
        "{HEADER}\nBLACKLIST,B-1,ali raza,ali raza shah; ; syed ali,,1980,M,pak, ab 123<4567 ;CD7654321,,OFFLOAD,arrival;departure;arrival,r,ref,,\n"
    );
    let import = import(&[("multi.csv", csv.as_bytes())], strict()).unwrap();
    let e = &import.entries[0];
    assert_eq!(e.aliases, ["ALI RAZA SHAH", "SYED ALI"]);
    assert_eq!(e.nationality.as_deref(), Some("PAK"));
    assert_eq!(e.document_numbers, ["AB1234567", "CD7654321"]);
    assert_eq!(e.directions, [Direction::Arrival, Direction::Departure]);
}

#[test]
fn an_oversized_row_is_refused_as_a_whole() {
    let huge = "A".repeat(checkpost_watchlist::csv::MAX_ROW_BYTES);
    let csv = format!("{HEADER}\nECL,E-1,ALI,,,1980,M,PAK,,,OFFLOAD,,{huge},ref,,\n");
    let err = import(&[("big.csv", csv.as_bytes())], strict()).unwrap_err();
    let WatchlistError::RejectedRows { rows } = err else {
        panic!("{err}")
    };
    assert_eq!((rows[0].line, rows[0].field.as_str()), (2, "row"));
    assert!(rows[0].reason.contains("longer than"), "{}", rows[0]);
}

#[test]
fn synthetic_csv_from_write_csv_imports_back_to_the_same_entries() {
    let entries = checkpost_watchlist::synth::generate(3_000, 42);
    let mut bytes = Vec::new();
    checkpost_watchlist::synth::write_csv(&entries, &mut bytes).unwrap();
    let back = import(&[("synth.csv", &bytes)], strict()).unwrap();
    assert_eq!(back.entries, entries);
    // Same seed, same file, byte for byte.
    let mut again = Vec::new();
    checkpost_watchlist::synth::write_csv(
        &checkpost_watchlist::synth::generate(3_000, 42),
        &mut again,
    )
    .unwrap();
    assert_eq!(bytes, again);
}
