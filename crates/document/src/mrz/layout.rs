//! Where each field sits in each ICAO 9303 layout (Doc 9303 Parts 4-7), 0-based. The `mrz` crate
//! keeps its own position tables private, so the map from a cell to its field (for repairs) and
//! the check digits' positions (for reporting) are stated here once.

use super::types::{Field, MrzFormat};

/// A field's cells on one line: `[start, end)` in 0-based columns.
struct Span {
    line: u8,
    start: u8,
    end: u8,
    field: Field,
}

const fn span(line: u8, start: u8, end: u8, field: Field) -> Span {
    Span {
        line,
        start,
        end,
        field,
    }
}

/// Line 1 of every two-line format: code, issuing state, name to the end of the line.
const TWO_LINE_HEAD: [Span; 3] = [
    span(0, 0, 2, Field::DocumentCode),
    span(0, 2, 5, Field::IssuingState),
    span(0, 5, 44, Field::Name),
];

/// Line 2 of every two-line format up to the expiry check digit (identical in TD2, TD3, MRV-A
/// and MRV-B).
const TWO_LINE_DATA: [Span; 6] = [
    span(1, 0, 10, Field::DocumentNumber),
    span(1, 10, 13, Field::Nationality),
    span(1, 13, 20, Field::DateOfBirth),
    span(1, 20, 21, Field::Sex),
    span(1, 21, 28, Field::DateOfExpiry),
    span(1, 28, 43, Field::PersonalNumber),
];

const TD1: [Span; 11] = [
    span(0, 0, 2, Field::DocumentCode),
    span(0, 2, 5, Field::IssuingState),
    span(0, 5, 15, Field::DocumentNumber),
    span(0, 15, 30, Field::PersonalNumber),
    span(1, 0, 7, Field::DateOfBirth),
    span(1, 7, 8, Field::Sex),
    span(1, 8, 15, Field::DateOfExpiry),
    span(1, 15, 18, Field::Nationality),
    span(1, 18, 29, Field::OptionalData),
    span(1, 29, 30, Field::Composite),
    span(2, 0, 30, Field::Name),
];

/// The field that owns the cell at 0-based `line`, `column`.
pub(crate) fn field_at(format: MrzFormat, line: usize, column: usize) -> Field {
    let width = format.width();
    // TD2 and TD3 end line 2 with the composite; checked first because the two-line data spans
    // below run to TD3's width.
    if line == 1 && column + 1 == width && matches!(format, MrzFormat::Td2 | MrzFormat::Td3) {
        return Field::Composite;
    }
    let hit = |s: &&Span| {
        usize::from(s.line) == line && (usize::from(s.start)..usize::from(s.end)).contains(&column)
    };
    let found = match format {
        MrzFormat::Td1 => TD1.iter().find(hit),
        _ => TWO_LINE_HEAD.iter().chain(TWO_LINE_DATA.iter()).find(hit),
    };
    match found {
        Some(s) => s.field,
        // Only the last cell of an MRV-A line 2 is left: optional data to the end of the line.
        None => Field::PersonalNumber,
    }
}

/// The 1-based (line, column) of each check digit the format prints, in the `mrz` crate's
/// `Checks` order: document number, date of birth, date of expiry, personal number, composite.
/// `None` where the format prints none. The document-number position is for a number that fits
/// its field; [`overflow_check_position`] gives it for a long one.
pub(crate) fn check_positions(format: MrzFormat) -> [Option<(u8, u8)>; 5] {
    match format {
        MrzFormat::Td1 => [
            Some((1, 15)),
            Some((2, 7)),
            Some((2, 15)),
            None,
            Some((2, 30)),
        ],
        MrzFormat::Td2 => [
            Some((2, 10)),
            Some((2, 20)),
            Some((2, 28)),
            None,
            Some((2, 36)),
        ],
        MrzFormat::Td3 => [
            Some((2, 10)),
            Some((2, 20)),
            Some((2, 28)),
            Some((2, 43)),
            Some((2, 44)),
        ],
        MrzFormat::MrvA | MrzFormat::MrvB => {
            [Some((2, 10)), Some((2, 20)), Some((2, 28)), None, None]
        }
    }
}

/// Where the document-number check digit sits when a long number overflows into the optional
/// data (Doc 9303 Part 5/6 note j; TD3 by the `mrz` crate's policy): the filler in the usual
/// check position, then the remainder, then the check digit.
pub(crate) fn overflow_check_position(
    format: MrzFormat,
    full_number_len: usize,
) -> Option<(u8, u8)> {
    let remainder = full_number_len.checked_sub(9)?;
    let (line, optional_start) = match format {
        MrzFormat::Td1 => (1u8, 15usize),
        MrzFormat::Td2 | MrzFormat::Td3 => (2u8, 28usize),
        MrzFormat::MrvA | MrzFormat::MrvB => return None,
    };
    // 0-based index of the check digit is optional_start + remainder; 1-based adds one.
    let column = u8::try_from(optional_start + remainder + 1).ok()?;
    Some((line, column))
}

/// The 1-based (line, column) where `field`'s data starts.
pub(crate) fn field_start(format: MrzFormat, field: Field) -> (u8, u8) {
    let found = match format {
        MrzFormat::Td1 => TD1.iter().find(|s| s.field == field),
        _ => TWO_LINE_HEAD
            .iter()
            .chain(TWO_LINE_DATA.iter())
            .find(|s| s.field == field),
    };
    found.map_or((0, 0), |s| (s.line + 1, s.start + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_map_to_their_fields_in_td3_and_td1() {
        assert_eq!(field_at(MrzFormat::Td3, 0, 1), Field::DocumentCode);
        assert_eq!(field_at(MrzFormat::Td3, 0, 43), Field::Name);
        assert_eq!(field_at(MrzFormat::Td3, 1, 9), Field::DocumentNumber);
        assert_eq!(field_at(MrzFormat::Td3, 1, 42), Field::PersonalNumber);
        assert_eq!(field_at(MrzFormat::Td3, 1, 43), Field::Composite);
        assert_eq!(field_at(MrzFormat::MrvA, 1, 43), Field::PersonalNumber);
        assert_eq!(field_at(MrzFormat::Td2, 1, 35), Field::Composite);
        assert_eq!(field_at(MrzFormat::Td2, 0, 35), Field::Name);
        assert_eq!(field_at(MrzFormat::Td1, 0, 14), Field::DocumentNumber);
        assert_eq!(field_at(MrzFormat::Td1, 1, 29), Field::Composite);
        assert_eq!(field_at(MrzFormat::Td1, 2, 0), Field::Name);
    }

    #[test]
    fn field_starts_are_one_based() {
        assert_eq!(field_start(MrzFormat::Td3, Field::Sex), (2, 21));
        assert_eq!(field_start(MrzFormat::Td1, Field::PersonalNumber), (1, 16));
    }
}
