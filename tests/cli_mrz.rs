//! `checkpost mrz parse`: fields and verdicts per block, JSON per document, exit codes
//! (0 all valid, 1 any invalid, 2 I/O error), structural errors located in the input.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

const PAK_MALE: &str =
    "P<PAKKHAN<<MUHAMMAD<ASIF<<<<<<<<<<<<<<<<<<<<\nAB12345671PAK8503149M30091293520212345671<94";
const TD2: &str = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6";

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_checkpost"))
        .args(["mrz", "parse"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let text = stdin.to_string();
    let writer = std::thread::spawn(move || {
        // The child may exit before reading everything; a broken pipe is then expected.
        let _ = input.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn valid_documents_print_fields_and_verdicts_and_exit_zero() {
    let o = run(&[], &format!("{PAK_MALE}\n\n{TD2}\n"));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let s = stdout(&o);
    assert!(s.contains("input line 1: TD3 P — valid"), "{s}");
    assert!(s.contains("input line 4: TD2 I — valid"), "{s}");
    assert!(s.contains("national_id      35202-1234567-1"), "{s}");
    assert!(
        s.contains("check composite        verified (input line 2, column 44)"),
        "{s}"
    );
}

#[test]
fn json_prints_one_object_per_document_with_checks_and_input_line() {
    let o = run(
        &["--json"],
        &format!("\r\n{PAK_MALE}\r\n\r\n\r\n  {TD2}  \r\n"),
    );
    assert_eq!(o.status.code(), Some(0));
    let docs = json_lines(&o);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["input_line"], 2);
    assert_eq!(docs[0]["format"], "TD3");
    assert_eq!(docs[0]["national_id"], "3520212345671");
    assert_eq!(docs[0]["valid"], true);
    assert_eq!(docs[0]["checks"][4]["field"], "composite");
    assert_eq!(docs[0]["checks"][4]["verdict"], "verified");
    assert_eq!(docs[1]["input_line"], 6);
    assert_eq!(docs[1]["surname"], "ERIKSSON");
}

#[test]
fn a_failed_check_digit_exits_one_and_names_the_field() {
    let bad = PAK_MALE.replacen("8503149", "8503159", 1);
    let o = run(&["--json"], &format!("{TD2}\n\n{bad}\n"));
    assert_eq!(o.status.code(), Some(1));
    let docs = json_lines(&o);
    assert_eq!(docs[0]["valid"], true);
    assert_eq!(docs[1]["valid"], false);
    assert_eq!(docs[1]["problems"][0]["kind"], "check_digit_failed");
    assert_eq!(docs[1]["problems"][0]["field"], "date_of_birth");
    assert_eq!(docs[1]["problems"][0]["line"], 2);
    assert_eq!(docs[1]["problems"][0]["column"], 20);
}

#[test]
fn repair_fixes_a_proven_misread_and_reports_it() {
    let misread = PAK_MALE.replacen("8503149", "85O3149", 1);
    assert_eq!(run(&[], &misread).status.code(), Some(1));
    let o = run(&["--json", "--repair"], &misread);
    assert_eq!(o.status.code(), Some(0));
    let doc = &json_lines(&o)[0];
    assert_eq!(doc["repairs"][0]["field"], "date_of_birth");
    assert_eq!(doc["repairs"][0]["from"], "O");
    assert_eq!(doc["repairs"][0]["to"], "0");
    assert_eq!(doc["repairs"][0]["column"], 16);
}

#[test]
fn a_structural_error_is_located_in_the_input_and_exits_one() {
    let short = format!("{TD2}\n\n{}", &PAK_MALE[..PAK_MALE.len() - 3]);
    let o = run(&[], &short);
    assert_eq!(o.status.code(), Some(1));
    let s = stdout(&o);
    assert!(
        s.contains("input line 5: INVALID: line 2 has 41 characters; TD3 lines have 44"),
        "{s}"
    );
    let o = run(&["--json"], &short);
    let docs = json_lines(&o);
    assert_eq!(docs[1]["error"]["code"], "line_length");
    assert_eq!(docs[1]["error"]["input_line"], 5);
}

#[test]
fn lowercase_illegal_characters_and_empty_input_exit_one() {
    assert_eq!(run(&[], &PAK_MALE.to_lowercase()).status.code(), Some(1));
    assert_eq!(
        run(&[], &PAK_MALE.replacen('<', "«", 1)).status.code(),
        Some(1)
    );
    let o = run(&[], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no MRZ"));
}

#[test]
fn ten_megabytes_of_junk_exits_one_with_a_clear_error() {
    let mut state: u64 = 42;
    let junk: String = (0..10 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    let o = run(&["--json"], &junk);
    assert_eq!(o.status.code(), Some(1));
    let docs = json_lines(&o);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["error"]["code"], "too_long");
}

#[test]
fn a_missing_file_is_an_io_error_exit_two() {
    let o = run(&["/nonexistent/checkpost/mrz.txt"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/checkpost/mrz.txt"));
}

#[test]
fn every_fixture_file_parses_from_a_path() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mrz");
    let o = Command::new(env!("CARGO_BIN_EXE_checkpost"))
        .args(["mrz", "parse", "--json"])
        .arg(dir.join("icao-td1-specimen.mrz"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json_lines(&o)[0]["format"], "TD1");
}
