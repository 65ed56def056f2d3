//! Name normalization: the variants, particles, prefixes and honorifics officers meet, as data.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations

use checkpost_watchlist::normalize::{Normalizer, STANDARD_TABLES};

fn tokens(name: &str) -> Vec<String> {
    Normalizer::standard().tokens(name)
}

#[test]
fn muhammad_spellings_fold_to_one_token() {
    for n in ["MUHAMMAD", "MOHAMMAD", "MOHAMMED", "MOHD", "MD", "Muhammed"] {
        assert_eq!(tokens(n), ["MUHAMMAD"], "{n}");
    }
}

#[test]
fn hussain_and_ahmad_variants_fold() {
    assert_eq!(tokens("HUSAIN"), tokens("HOSSAIN"));
    assert_eq!(tokens("HUSSAIN"), ["HUSSAIN"]);
    assert_eq!(tokens("AHMED"), ["AHMAD"]);
}

#[test]
fn abdul_compounds_split_into_the_same_tokens() {
    let want = tokens("ABDUL RAHMAN");
    assert_eq!(want, ["ABDUL", "RAHMAN"]);
    for n in ["ABDURRAHMAN", "ABDUR RAHMAN", "ABDUL REHMAN", "ABDULRAHMAN"] {
        assert_eq!(tokens(n), want, "{n}");
    }
    assert_eq!(tokens("ABDULLAH"), ["ABDULLAH"], "ABDULLAH is one name");
    assert_eq!(tokens("ABDULLA"), ["ABDULLAH"]);
}

#[test]
fn ud_din_and_ullah_particles_join_however_written() {
    let want = tokens("MOINUDDIN");
    for n in ["MOIN UD DIN", "MOIN-UD-DIN", "MOIN UDDIN", "MOINUDIN"] {
        assert_eq!(tokens(n), want, "{n}");
    }
    let want = tokens("SAMIULLAH KHAN");
    for n in [
        "SAMI ULLAH KHAN",
        "SAMIULA KHAN",
        "SAMI ULA KHAN",
        "SAMI-ULLAH KHAN",
    ] {
        assert_eq!(tokens(n), want, "{n}");
    }
}

#[test]
fn honorifics_are_dropped_unless_nothing_else_remains() {
    assert_eq!(tokens("SYED ALI SHAH"), ["ALI", "SHAH"]);
    assert_eq!(tokens("CH. MUHAMMAD ASLAM"), ["MUHAMMAD", "ASLAM"]);
    assert_eq!(tokens("CHAUDHARY ASLAM"), ["ASLAM"]);
    assert_eq!(tokens("HAJI MR AHMED"), ["AHMAD"]);
    assert_eq!(
        tokens("MALIK"),
        ["MALIK"],
        "a name that is only a title keeps it"
    );
}

#[test]
fn mrz_fillers_and_punctuation_separate_tokens() {
    assert_eq!(tokens("KHAN<<MUHAMMAD<ASIF"), ["KHAN", "MUHAMMAD", "ASIF"]);
    assert_eq!(tokens("d'souza"), ["DSOUZA"]);
}

#[test]
fn same_name_ignores_order_variants_truncation_and_one_typo() {
    let n = Normalizer::standard();
    assert!(n.same_name("MOHD ASIF KHAN", "KHAN MUHAMMAD ASIF"));
    assert!(n.same_name("SYED HUSSAIN SHAH", "HUSAIN SHAH"));
    assert!(n.same_name("MUHAMMAD ASIF KHAN", "MUHAMMAD ASIF KHNA"));
    assert!(n.same_name("KHAN MUHAMMAD ASIFULL", "KHAN MUHAMMAD ASIFULLAH"));
    assert!(!n.same_name("MUHAMMAD ASIF KHAN", "MUHAMMAD TARIQ KHAN"));
    assert!(
        !n.same_name("MUHAMMAD ASIF KHAN", "MUHAMMAD KHAN"),
        "a dropped name is not the same"
    );
    assert!(!n.same_name("", ""));
}

#[test]
fn ops_can_extend_the_tables() {
    let extended = format!("{STANDARD_TABLES}\n[variants.GHAFFAR]\n");
    // A new canonical form with its spellings, written as a sub-table is refused (wrong shape)…
    assert!(Normalizer::from_tables(&extended).is_err());
    // …while a plain line added to [variants] works.
    let text = STANDARD_TABLES.replace(
        "[variants]\n",
        "[variants]\nGHAFFAR = [\"GAFFAR\", \"GHAFAR\"]\n",
    );
    let n = Normalizer::from_tables(&text).unwrap();
    assert_eq!(n.tokens("ABDUL GAFFAR"), ["ABDUL", "GHAFFAR"]);
}

#[test]
fn bad_tables_name_line_and_column() {
    let err = Normalizer::from_tables("[variants]\nALI = [\"aly\"]\n").unwrap_err();
    assert_eq!((err.line, err.column), (2, 8), "{err}");
    assert!(err.message.contains("upper-case"), "{err}");

    let err =
        Normalizer::from_tables("[variants]\nALI = [\"ALY\"]\nALEE = [\"ALY\"]\n").unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(err.message.contains("already a spelling of 'ALI'"), "{err}");

    let err = Normalizer::from_tables("[variantz]\n").unwrap_err();
    assert_eq!(err.line, 1, "{err}");
    assert!(err.message.contains("variantz"), "{err}");
}
