//! Text that is not a machine-readable zone gets a clear structural error naming the line and
//! column, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use checkpost_document::{MAX_MRZ_BYTES, MrzError, ParseOptions, parse, split_blocks};

const L1: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<";
const L2: &str = "L898902C36UTO7408122F1204159ZE184226B<<<<<10";

fn err(text: &str) -> MrzError {
    parse(text, ParseOptions::default()).unwrap_err()
}

#[test]
fn empty_and_blank_text_is_refused_as_empty() {
    assert_eq!(err(""), MrzError::Empty);
    assert_eq!(err("  \r\n\n\t"), MrzError::Empty);
}

#[test]
fn one_or_four_lines_is_a_wrong_line_count() {
    assert!(matches!(err(L1), MrzError::LineCount { found: 1, .. }));
    let four = format!("{L1}\n{L2}\n{L2}\n{L2}");
    assert!(matches!(err(&four), MrzError::LineCount { found: 4, .. }));
}

#[test]
fn a_td3_with_a_third_line_says_two_lines_are_expected() {
    let e = err(&format!("{L1}\n{L2}\n{L2}"));
    assert!(matches!(e, MrzError::LineCount { found: 3, .. }));
    assert!(e.to_string().contains("2 for lines of 44"), "{e}");
}

#[test]
fn a_short_second_line_names_the_line_and_both_lengths() {
    let e = err(&format!("{L1}\n{}", &L2[..40]));
    assert_eq!(
        e,
        MrzError::LineLength {
            line: 2,
            found: 40,
            expected: 44,
            format: "TD3"
        }
    );
    assert_eq!(e.to_string(), "line 2 has 40 characters; TD3 lines have 44");
}

#[test]
fn a_first_line_of_no_mrz_width_is_refused() {
    assert_eq!(
        err(&format!("{}\n{L2}", &L1[..40])),
        MrzError::UnknownWidth { line: 1, found: 40 }
    );
}

#[test]
fn lowercase_is_refused_with_its_position() {
    let e = err(&format!("{L1}\n{}", L2.replace("UTO", "Uto")));
    assert_eq!(
        e,
        MrzError::Lowercase {
            line: 2,
            column: 12,
            character: 't'
        }
    );
    assert!(e.to_string().starts_with("line 2, column 12"), "{e}");
}

#[test]
fn illegal_characters_are_refused_with_their_position() {
    for (bad, ch) in [(" ", ' '), ("-", '-'), ("É", 'É'), ("\u{0}", '\u{0}')] {
        let line2 = format!("L898902C36UTO{bad}408122F1204159ZE184226B<<<<<10");
        let e = err(&format!("{L1}\n{line2}"));
        assert_eq!(
            e,
            MrzError::IllegalCharacter {
                line: 2,
                column: 14,
                character: ch
            },
            "{bad:?}"
        );
    }
}

#[test]
fn a_document_code_the_layout_does_not_admit_is_refused() {
    let e = err(&format!("X{}\n{L2}", &L1[1..]));
    assert!(matches!(e, MrzError::DocumentCode { .. }), "{e}");
    assert_eq!(e.line(), Some(1));
}

#[test]
fn ten_megabytes_of_junk_is_too_long_not_a_panic() {
    // Fixed-seed xorshift: the same 10 MB every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let junk: String = (0..10 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b' ' + (state % 95) as u8)
        })
        .collect();
    assert_eq!(
        err(&junk),
        MrzError::TooLong {
            len: junk.len(),
            max: MAX_MRZ_BYTES
        }
    );
    // The same junk cut into lines and blocks: every block is refused, none panics.
    let lined: String = junk
        .as_bytes()
        .chunks(37)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let blocks = split_blocks(&lined);
    assert!(!blocks.is_empty());
    for block in blocks.iter().take(20_000) {
        assert!(parse(&block.text, ParseOptions { repair: true }).is_err());
    }
}

#[test]
fn crlf_and_surrounding_spaces_are_tolerated() {
    let doc = parse(
        &format!("\r\n  {L1}  \r\n\t{L2}\r\n\r\n"),
        ParseOptions::default(),
    )
    .unwrap();
    assert!(doc.is_valid());
    assert_eq!(doc.surname, "ERIKSSON");
}

#[test]
fn every_error_message_names_its_line_when_it_has_one() {
    let cases = [
        format!("{L1}\n{}", &L2[..40]),
        format!("{L1}\n{}", L2.replace('L', "l")),
        format!("{L1}\n{}", L2.replace('<', "#")),
    ];
    for text in cases {
        let e = err(&text);
        let line = e.line().unwrap();
        assert!(e.to_string().contains(&format!("line {line}")), "{e}");
    }
}
