//! Realistic synthetic watchlists for tests, benches and load tests: mostly Pakistani names with
//! fathers' names, CNICs with the right sex parity, passport numbers, partial dates of birth,
//! aliases, and every list in roughly the proportions HQ exports. The same `(n, seed)` always
//! gives the same entries, on every platform (ChaCha8, no floating point in the choices).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::LazyLock;

use checkpost_document::{Cnic, PartialDate, Sex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::matcher::Query;
use crate::{Decision, Direction, Entry, EntryId, ListKind, WatchlistError};

/// Male given names, most common first (the sampler favours the front of each table, so common
/// names collide the way they do in real lists: hard negatives come for free).
const MALE_GIVEN: &[&str] = &[
    "MUHAMMAD",
    "ALI",
    "AHMED",
    "HASSAN",
    "USMAN",
    "BILAL",
    "IMRAN",
    "ASIF",
    "TARIQ",
    "KHALID",
    "FAISAL",
    "ZAHID",
    "NADEEM",
    "SAJID",
    "WAQAS",
    "HAMZA",
    "UMAR",
    "ABDUL RAHMAN",
    "ABDULLAH",
    "SHAHID",
    "RASHID",
    "AMJAD",
    "ARSHAD",
    "JAVED",
    "NAVEED",
    "SHAHZAD",
    "KAMRAN",
    "ADNAN",
    "IRFAN",
    "RIZWAN",
    "SALMAN",
    "FAHAD",
    "ZUBAIR",
    "YASIR",
    "AAMIR",
    "ATIF",
    "NASIR",
    "SAEED",
    "IQBAL",
    "AKRAM",
    "ASLAM",
    "ANWAR",
    "ASHRAF",
    "AFZAL",
    "AZHAR",
    "BABAR",
    "DANISH",
    "EHSAN",
    "FARHAN",
    "GHULAM",
    "HAMID",
    "HUSSAIN",
    "IJAZ",
    "ILYAS",
    "ISHAQ",
    "JAMIL",
    "JUNAID",
    "KASHIF",
    "KHURRAM",
    "MAQSOOD",
    "MASOOD",
    "MOHSIN",
    "MUBASHIR",
    "MUDASSAR",
    "MUNIR",
    "MUSHTAQ",
    "NAEEM",
    "NAWAZ",
    "NOMAN",
    "OWAIS",
    "PERVAIZ",
    "QASIM",
    "RAFIQ",
    "RAHEEL",
    "RAZA",
    "SADIQ",
    "SAFDAR",
    "SAMI",
    "SARFRAZ",
    "SHAFIQ",
    "SHAKEEL",
    "SHOAIB",
    "SOHAIL",
    "SULTAN",
    "TAHIR",
    "TANVEER",
    "TAUSEEF",
    "WAHEED",
    "WASEEM",
    "YOUSAF",
    "ZAFAR",
    "ZEESHAN",
    "ZIA UD DIN",
    "NIZAM UD DIN",
    "SAIF ULLAH",
    "HABIB ULLAH",
    "INAYAT ULLAH",
    "ATTA ULLAH",
    "ABDUL GHAFFAR",
    "ABDUL QADIR",
    "ABDUL WAHAB",
    "ABDUL MAJEED",
    "ABDUL HAMEED",
    "ABDUL KARIM",
    "GUL",
    "NOOR",
    "SHER",
    "WAZIR",
    "AURANGZEB",
    "JAHANGIR",
    "MEHBOOB",
    "MUKHTAR",
    "NAZIR",
    "RIAZ",
    "SAJJAD",
];

/// Female given names.
const FEMALE_GIVEN: &[&str] = &[
    "FATIMA",
    "AYESHA",
    "SANA",
    "SADIA",
    "SAIMA",
    "NADIA",
    "RABIA",
    "SAMINA",
    "SHAZIA",
    "KIRAN",
    "MARIA",
    "HINA",
    "FARAH",
    "NAZIA",
    "UZMA",
    "BUSHRA",
    "AMNA",
    "ZAINAB",
    "MARYAM",
    "KHADIJA",
    "ASMA",
    "SUMAIRA",
    "TAHIRA",
    "NASREEN",
    "PARVEEN",
    "SHAHEEN",
    "RUBINA",
    "RIFFAT",
    "GHAZALA",
    "IRAM",
    "MEHWISH",
    "MADIHA",
    "NOREEN",
    "SOBIA",
    "TEHMINA",
    "YASMIN",
    "ZUBAIDA",
    "ANEELA",
    "BEENISH",
    "FOZIA",
    "HUMAIRA",
    "JAVERIA",
    "LUBNA",
    "MISBAH",
    "NIDA",
    "QURAT UL AIN",
    "RAHILA",
    "SAMREEN",
    "SHABANA",
    "UME KULSOOM",
    "NOOR",
    "ALIA",
    "SABA",
    "IQRA",
    "ANUM",
    "HAFSA",
    "ZARA",
];

/// Family names, tribe and caste names that end Pakistani names.
const SURNAMES: &[&str] = &[
    "KHAN",
    "AHMED",
    "ALI",
    "HUSSAIN",
    "SHAH",
    "MALIK",
    "IQBAL",
    "ASLAM",
    "AKHTAR",
    "QURESHI",
    "BUTT",
    "CHAUDHRY",
    "RAJPUT",
    "AWAN",
    "JUTT",
    "ARAIN",
    "SHEIKH",
    "MIRZA",
    "BAIG",
    "ABBASI",
    "SIDDIQUI",
    "HASHMI",
    "GILANI",
    "BOKHARI",
    "NAQVI",
    "RIZVI",
    "JAFRI",
    "ZAIDI",
    "KAZMI",
    "KHATTAK",
    "YOUSAFZAI",
    "AFRIDI",
    "MEHSUD",
    "WAZIR",
    "DURRANI",
    "TAREEN",
    "NIAZI",
    "LODHI",
    "BALOCH",
    "MARRI",
    "BUGTI",
    "MENGAL",
    "MAGSI",
    "JAMALI",
    "SOOMRO",
    "MEMON",
    "BHUTTO",
    "TALPUR",
    "LEGHARI",
    "MAZARI",
    "GONDAL",
    "WARRAICH",
    "CHEEMA",
    "BAJWA",
    "VIRK",
    "SANDHU",
    "GHUMMAN",
    "TARAR",
    "KHOKHAR",
    "MUGHAL",
    "ANSARI",
    "FAROOQI",
    "USMANI",
    "RANA",
    "BHATTI",
    "DOGAR",
    "SIAL",
    "KHOSA",
    "DASTI",
    "NOON",
    "TIWANA",
    "KALHORO",
    "SHAIKH",
    "PATHAN",
    "RAZA",
    "ANWAR",
    "JAVED",
    "MAHMOOD",
    "RASHEED",
    "SALEEM",
    "YOUNAS",
    "HAIDER",
    "ABBAS",
    "ASHRAF",
];

/// Prefixes some listed names carry; the matcher drops them as honorifics.
const HONORIFICS: &[&str] = &["SYED", "CH", "MALIK", "RANA", "HAJI", "MIAN", "SARDAR"];

/// Spelling variants officers meet, used to make aliases.
const VARIANTS: &[(&str, &str)] = &[
    ("MUHAMMAD", "MOHAMMAD"),
    ("MUHAMMAD", "MOHAMMED"),
    ("MUHAMMAD", "MOHD"),
    ("MUHAMMAD", "MD"),
    ("HUSSAIN", "HUSAIN"),
    ("HUSSAIN", "HOSSAIN"),
    ("AHMED", "AHMAD"),
    ("ABDUL RAHMAN", "ABDURRAHMAN"),
    ("ULLAH", "ULA"),
    ("UD DIN", "UDDIN"),
    ("CHAUDHRY", "CH"),
    ("YOUSAF", "YUSUF"),
    ("QURESHI", "QURAISHI"),
    ("SIDDIQUI", "SIDDIQI"),
];

/// Nationalities of foreign entries and how their passport numbers look.
const FOREIGN: &[(&str, DocShape)] = &[
    ("AFG", DocShape::LetterDigits(1, 7)),
    ("IND", DocShape::LetterDigits(1, 7)),
    ("BGD", DocShape::LetterDigits(2, 7)),
    ("IRN", DocShape::LetterDigits(1, 8)),
    ("CHN", DocShape::LetterDigits(1, 8)),
    ("GBR", DocShape::Digits(9)),
    ("USA", DocShape::Digits(9)),
    ("NGA", DocShape::LetterDigits(1, 8)),
    ("SAU", DocShape::LetterDigits(1, 8)),
    ("ARE", DocShape::LetterDigits(1, 8)),
    ("LKA", DocShape::LetterDigits(1, 7)),
    ("NPL", DocShape::Digits(8)),
];

const REASONS: &[&str] = &[
    "Court order",
    "FIA investigation",
    "Tax default (FBR)",
    "NAB reference",
    "Deported; re-entry barred",
    "Proclaimed offender (CrPC 87)",
    "Human smuggling",
    "Reported stolen",
    "Reported lost",
    "NADRA: CNIC blocked (duplicate identity)",
    "Ministry of Interior order",
];

const AGENCIES: &[&str] = &[
    "MOI", "FIA", "NAB", "FBR", "NADRA", "ANF", "CTD", "HC", "SC",
];

/// The long tails of the name tables (`data/synth_names.toml`), compiled in.
const NAME_TABLES: &str = include_str!("../data/synth_names.toml");

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NameTables {
    male: Vec<String>,
    abdul: Vec<String>,
    ullah: Vec<String>,
    uddin: Vec<String>,
    ghulam: Vec<String>,
    female: Vec<String>,
    surnames: Vec<String>,
    places: Vec<String>,
    foreign: BTreeMap<String, ForeignNames>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ForeignNames {
    given: Vec<String>,
    family: Vec<String>,
}

/// Every table the generator draws from: the common heads in this file, then the tails.
struct Pools {
    male: Vec<String>,
    female: Vec<String>,
    surnames: Vec<String>,
    places: Vec<String>,
    foreign: BTreeMap<String, ForeignNames>,
}

/// `head` then `tail`, without repeats, in that order (the order sets how common a name is).
fn pool<'a>(head: &[&'a str], tail: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in head.iter().copied().chain(tail) {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out
}

/// The pools, built once. The tables are a compile-time constant checked by the test
/// `name_tables_parse`; should they ever be broken the heads alone are used rather than a panic.
static POOLS: LazyLock<Pools> = LazyLock::new(|| {
    let t: NameTables = toml::from_str(NAME_TABLES).unwrap_or_default();
    let compounds: Vec<String> = t
        .abdul
        .iter()
        .map(|x| format!("ABDUL {x}"))
        .chain(t.ullah.iter().map(|x| format!("{x} ULLAH")))
        .chain(t.uddin.iter().map(|x| format!("{x} UD DIN")))
        .chain(t.ghulam.iter().map(|x| format!("GHULAM {x}")))
        .collect();
    Pools {
        male: pool(
            MALE_GIVEN,
            t.male.iter().chain(&compounds).map(String::as_str),
        ),
        female: pool(FEMALE_GIVEN, t.female.iter().map(String::as_str)),
        surnames: pool(SURNAMES, t.surnames.iter().map(String::as_str)),
        places: pool(&[], t.places.iter().map(String::as_str)),
        foreign: t.foreign,
    }
});

/// How a country's passport numbers look.
#[derive(Clone, Copy)]
enum DocShape {
    /// `n` upper-case letters, then `m` digits.
    LetterDigits(usize, usize),
    /// `n` digits.
    Digits(usize),
}

/// Generates `n` entries deterministically from `seed`. Ids are `{LIST}-{seed-free serial}`,
/// unique within the result. About: BLACKLIST 15%, ECL 20%, PCL 10%, PO 20%, SLTD 25% (document
/// only: number and issuing state, no person), CNIC_BLOCK 10% (CNIC only).
pub fn generate(n: usize, seed: u64) -> Vec<Entry> {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
    };
    (0..n).map(|i| g.entry(i)).collect()
}

/// Identity queries as passports of listed people would give them, for benches and tail
/// probes: every 37th entry of `entries` with a name, up to `n`; always a full date of birth
/// (a listed partial date completed with June / the 15th, none: 1980-06-15); every fourth a
/// transliteration (MUHAMMAD → MOHD, AHMED → AHMAD), every fourth with its first token moved to
/// the end, the rest as listed.
pub fn passport_queries(entries: &[Entry], n: usize) -> Vec<Query> {
    let mut out = Vec::with_capacity(n);
    for (k, e) in entries.iter().enumerate().step_by(37) {
        if out.len() == n {
            break;
        }
        if e.full_name.is_empty() {
            continue;
        }
        let name = match k % 4 {
            0 => e
                .full_name
                .replacen("MUHAMMAD", "MOHD", 1)
                .replacen("AHMED", "AHMAD", 1),
            1 => e
                .full_name
                .split_once(' ')
                .map_or(e.full_name.clone(), |(a, b)| format!("{b} {a}")),
            _ => e.full_name.clone(),
        };
        let (given, surname) = name.rsplit_once(' ').unwrap_or(("", name.as_str()));
        // A passport always carries a date of birth.
        let d = e.dob.unwrap_or(PartialDate {
            year: 1980,
            month: None,
            day: None,
        });
        let dob = Some(PartialDate {
            year: d.year,
            month: Some(d.month.unwrap_or(6)),
            day: Some(d.day.unwrap_or(15)),
        });
        out.push(Query {
            surname: surname.to_string(),
            given_names: given.to_string(),
            dob,
            sex: e.sex,
            nationality: e.nationality.clone(),
            issuing_state: e.nationality.clone(),
            ..Query::default()
        });
    }
    out
}

/// Writes `entries` as HQ's CSV (the header and column order of [`crate::csv::COLUMNS`]), the
/// format [`crate::csv::import`] reads back to the same entries.
pub fn write_csv<W: Write>(entries: &[Entry], w: W) -> Result<(), WatchlistError> {
    crate::csv::write(entries, w)
}

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    /// An index into a table of `len`, skewed towards the front (the square of a uniform draw),
    /// so that the first names of a table are many times more common than the last.
    fn skewed(&mut self, len: usize) -> usize {
        let u: u64 = self.rng.gen_range(0..1_000_000);
        ((u * u) as u128 * len as u128 / 1_000_000_000_000u128) as usize
    }

    fn pick<'a>(&mut self, table: &[&'a str]) -> &'a str {
        table[self.skewed(table.len())]
    }

    /// [`Gen::pick`] for the pools (`""` for an empty one).
    fn pick_from<'a>(&mut self, table: &'a [String]) -> &'a str {
        table
            .get(self.skewed(table.len()))
            .map_or("", String::as_str)
    }

    fn percent(&mut self, p: u32) -> bool {
        self.rng.gen_range(0..100) < p
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.rng.gen_range(0..10u8)))
            .collect()
    }

    fn letters(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'A' + self.rng.gen_range(0..26u8)))
            .collect()
    }

    fn entry(&mut self, i: usize) -> Entry {
        let list = match self.rng.gen_range(0..100) {
            0..15 => ListKind::Blacklist,
            15..35 => ListKind::Ecl,
            35..45 => ListKind::Pcl,
            45..65 => ListKind::Po,
            65..90 => ListKind::Sltd,
            _ => ListKind::CnicBlock,
        };
        let entry_id = EntryId(format!("{}-{:07}", list.as_str(), i + 1));
        let e = match list {
            ListKind::Sltd => self.sltd(entry_id),
            ListKind::CnicBlock => self.cnic_block(entry_id),
            _ => self.person(list, entry_id),
        };
        exact_capacity(e)
    }

    fn passport(&mut self, shape: DocShape) -> String {
        match shape {
            DocShape::LetterDigits(l, d) => format!("{}{}", self.letters(l), self.digits(d)),
            DocShape::Digits(d) => self.digits(d),
        }
    }

    /// A Pakistani passport number: two letters and seven digits.
    fn pak_passport(&mut self) -> String {
        self.passport(DocShape::LetterDigits(2, 7))
    }

    /// A CNIC whose first digit is a real province code and whose last digit has the parity of
    /// `sex` (odd for men, even for women).
    fn cnic(&mut self, sex: Sex) -> Option<Cnic> {
        let province = char::from(b'1' + self.rng.gen_range(0..7u8));
        let body = self.digits(11);
        let last: u8 = match sex {
            Sex::Male => 2 * self.rng.gen_range(0..5u8) + 1,
            Sex::Female => 2 * self.rng.gen_range(0..5u8),
            Sex::Unspecified => self.rng.gen_range(0..10u8),
        };
        Cnic::parse(&format!("{province}{body}{}", char::from(b'0' + last))).ok()
    }

    fn dob(&mut self) -> Option<PartialDate> {
        let year = self.rng.gen_range(1945..=2008u16);
        let month = self.rng.gen_range(1..=12u8);
        let day = self.rng.gen_range(1..=28u8);
        match self.rng.gen_range(0..100) {
            0..70 => PartialDate::full(year, month, day).ok(),
            70..85 => Some(PartialDate {
                year,
                month: Some(month),
                day: None,
            }),
            85..95 => Some(PartialDate {
                year,
                month: None,
                day: None,
            }),
            _ => None,
        }
    }

    fn given(&mut self, sex: Sex) -> String {
        let pools = &*POOLS;
        if sex == Sex::Female {
            let first = self.pick_from(&pools.female);
            if self.percent(20) {
                let second = self.pick_from(&pools.female);
                if second != first {
                    return format!("{first} {second}");
                }
            }
            first.to_string()
        } else {
            // About a third of Pakistani men carry MUHAMMAD as the first given name.
            let first = if self.percent(30) {
                "MUHAMMAD"
            } else {
                self.pick_from(&pools.male)
            };
            let second = self.pick_from(&pools.male);
            if second != first && (first == "MUHAMMAD" || self.percent(40)) {
                return format!("{first} {second}");
            }
            first.to_string()
        }
    }

    fn pak_name(&mut self, sex: Sex) -> String {
        let given = self.given(sex);
        // A few names end in a place (a nisba: LAHORI, MULTANI) rather than a family name.
        let surname = if self.percent(4) {
            self.pick_from(&POOLS.places)
        } else {
            self.pick_from(&POOLS.surnames)
        };
        let honorific = if sex == Sex::Male && self.percent(8) {
            Some(self.pick(HONORIFICS))
        } else {
            None
        };
        match honorific {
            Some(h) if h != surname => format!("{h} {given} {surname}"),
            _ => format!("{given} {surname}"),
        }
    }

    /// Aliases: a transliteration variant of the listed name, the name without its first given
    /// name, or an unrelated nickname-style name.
    fn aliases(&mut self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !self.percent(25) {
            return out;
        }
        let count = if self.percent(80) { 1 } else { 2 };
        for _ in 0..count {
            let alias = match self.rng.gen_range(0..3) {
                0 => VARIANTS
                    .iter()
                    .find(|(from, _)| name.contains(from))
                    .map(|(from, to)| name.replacen(from, to, 1)),
                1 => name
                    .split_once(' ')
                    .map(|(_, rest)| rest.to_string())
                    .filter(|rest| rest.contains(' ')),
                _ => Some(format!("ABU {}", self.pick_from(&POOLS.male))),
            };
            if let Some(a) = alias
                && a != name
                && !out.contains(&a)
            {
                out.push(a);
            }
        }
        out
    }

    /// A name as `nat`'s passports print it: one given name (sometimes two), then the family
    /// name. A nationality without tables gets a Pakistani name.
    fn foreign_name(&mut self, nat: &str, sex: Sex) -> String {
        let Some(t) = POOLS.foreign.get(nat) else {
            return self.pak_name(sex);
        };
        let first = self.pick_from(&t.given);
        let family = self.pick_from(&t.family);
        if self.percent(25) {
            let second = self.pick_from(&t.given);
            if second != first {
                return format!("{first} {second} {family}");
            }
        }
        format!("{first} {family}")
    }

    fn reference(&mut self) -> String {
        let agency = self.pick(AGENCIES);
        let year = self.rng.gen_range(2005..=2026u16);
        format!("{agency}/{year}/{}", self.rng.gen_range(1..100_000u32))
    }

    fn person(&mut self, list: ListKind, entry_id: EntryId) -> Entry {
        let sex = if self.percent(88) {
            Sex::Male
        } else {
            Sex::Female
        };
        let pakistani = self.percent(if list == ListKind::Blacklist { 60 } else { 92 });
        let (full_name, nationality, doc) = if pakistani {
            let doc = if self.percent(65) {
                vec![self.pak_passport()]
            } else {
                Vec::new()
            };
            (self.pak_name(sex), "PAK".to_string(), doc)
        } else {
            let (nat, shape) = FOREIGN[self.skewed(FOREIGN.len())];
            let doc = if self.percent(75) {
                vec![self.passport(shape)]
            } else {
                Vec::new()
            };
            (self.foreign_name(nat, sex), nat.to_string(), doc)
        };
        let mut document_numbers = doc;
        if pakistani && !document_numbers.is_empty() && self.percent(10) {
            let older = self.pak_passport();
            document_numbers.push(older);
        }
        let father_name = if pakistani && self.percent(85) {
            let father_given = self.given(Sex::Male);
            let family = full_name.rsplit(' ').next().unwrap_or("KHAN");
            Some(format!("{father_given} {family}"))
        } else {
            None
        };
        let national_id = if pakistani && self.percent(80) {
            self.cnic(sex)
        } else {
            None
        };
        let aliases = self.aliases(&full_name);
        let (action, directions, reason) = match list {
            ListKind::Ecl => (
                Decision::Offload,
                vec![Direction::Departure],
                if self.percent(50) {
                    REASONS[3]
                } else {
                    REASONS[0]
                },
            ),
            ListKind::Blacklist => {
                if pakistani {
                    (Decision::Offload, both(), REASONS[6])
                } else {
                    (Decision::Offload, vec![Direction::Arrival], REASONS[4])
                }
            }
            ListKind::Po => (Decision::Detain, both(), REASONS[5]),
            _ => (Decision::SecondCheck, both(), REASONS[1]),
        };
        let valid_until = if list == ListKind::Ecl && self.percent(15) {
            PartialDate::full(
                self.rng.gen_range(2026..=2029u16),
                self.rng.gen_range(1..=12u8),
                self.rng.gen_range(1..=28u8),
            )
            .ok()
        } else {
            None
        };
        Entry {
            list,
            entry_id,
            full_name,
            aliases,
            father_name,
            dob: self.dob(),
            sex,
            nationality: Some(nationality),
            document_numbers,
            national_id,
            action,
            directions,
            reason: reason.to_string(),
            reference: self.reference(),
            valid_from: None,
            valid_until,
        }
    }

    /// A lost or stolen document: its number and issuing state, no person (as in Interpol's
    /// SLTD, which does not carry holders' names).
    fn sltd(&mut self, entry_id: EntryId) -> Entry {
        let (nat, number) = if self.percent(85) {
            ("PAK", self.pak_passport())
        } else {
            let (nat, shape) = FOREIGN[self.skewed(FOREIGN.len())];
            (nat, self.passport(shape))
        };
        let stolen = self.percent(40);
        Entry {
            list: ListKind::Sltd,
            entry_id,
            full_name: String::new(),
            aliases: Vec::new(),
            father_name: None,
            dob: None,
            sex: Sex::Unspecified,
            nationality: Some(nat.to_string()),
            document_numbers: vec![number],
            national_id: None,
            action: if stolen {
                Decision::Offload
            } else {
                Decision::SecondCheck
            },
            directions: both(),
            reason: if stolen { REASONS[7] } else { REASONS[8] }.to_string(),
            reference: self.reference(),
            valid_from: None,
            valid_until: None,
        }
    }

    /// A blocked CNIC: the number only.
    fn cnic_block(&mut self, entry_id: EntryId) -> Entry {
        let sex = if self.percent(70) {
            Sex::Male
        } else {
            Sex::Female
        };
        Entry {
            list: ListKind::CnicBlock,
            entry_id,
            full_name: String::new(),
            aliases: Vec::new(),
            father_name: None,
            dob: None,
            sex: Sex::Unspecified,
            nationality: Some("PAK".to_string()),
            document_numbers: Vec::new(),
            national_id: self.cnic(sex),
            action: if self.percent(30) {
                Decision::Offload
            } else {
                Decision::SecondCheck
            },
            directions: both(),
            reason: REASONS[9].to_string(),
            reference: self.reference(),
            valid_from: None,
            valid_until: None,
        }
    }
}

/// `e` with every string and list at its exact length, as an entry decoded from a snapshot is
/// (`format!` leaves spare capacity, which would make the synthetic list look larger in memory
/// than the loaded one).
fn exact_capacity(mut e: Entry) -> Entry {
    let shrink = |s: &mut String| s.shrink_to_fit();
    shrink(&mut e.entry_id.0);
    shrink(&mut e.full_name);
    e.aliases.iter_mut().for_each(shrink);
    e.aliases.shrink_to_fit();
    e.father_name.iter_mut().for_each(shrink);
    e.nationality.iter_mut().for_each(shrink);
    e.document_numbers.iter_mut().for_each(shrink);
    e.document_numbers.shrink_to_fit();
    e.directions.shrink_to_fit();
    shrink(&mut e.reason);
    shrink(&mut e.reference);
    e
}

fn both() -> Vec<Direction> {
    vec![Direction::Departure, Direction::Arrival]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn passport_queries_carry_a_full_date_of_birth_and_find_their_listed_person() {
        let entries = generate(3_000, 9);
        let queries = passport_queries(&entries, 40);
        assert_eq!(queries.len(), 40);
        let index = crate::index::Index::build(&entries);
        let stored = crate::Entries::encode(&entries);
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let named: Vec<_> = entries
            .iter()
            .step_by(37)
            .filter(|e| !e.full_name.is_empty())
            .collect();
        for (q, e) in queries.iter().zip(named) {
            assert!(q.dob.is_some_and(|d| d.is_full()), "{q:?}");
            if !crate::index::applies(e, None, today) {
                continue; // listed for a window that is not today's
            }
            let found = index.find(&stored, q, None, today);
            assert!(
                found.iter().any(|m| m.entry_id == e.entry_id),
                "{} not found by {q:?}",
                e.entry_id
            );
        }
    }

    #[test]
    fn name_tables_parse() {
        let t: NameTables = toml::from_str(NAME_TABLES).unwrap();
        assert!(t.male.len() > 200 && t.surnames.len() > 100 && !t.places.is_empty());
        for (nat, _) in FOREIGN {
            let f = t.foreign.get(*nat).unwrap();
            assert!(!f.given.is_empty() && !f.family.is_empty(), "{nat}");
        }
        let names = t
            .male
            .iter()
            .chain(&t.female)
            .chain(&t.surnames)
            .chain(&t.places);
        for n in names {
            assert!(
                n.bytes().all(|b| b.is_ascii_uppercase() || b == b' '),
                "{n}"
            );
        }
    }

    #[test]
    fn a_large_list_carries_thousands_of_distinct_name_tokens() {
        let entries = generate(200_000, 5);
        let tokens: std::collections::HashSet<&str> = entries
            .iter()
            .flat_map(|e| e.full_name.split_whitespace())
            .collect();
        assert!(tokens.len() > 1_000, "{} distinct tokens", tokens.len());
    }

    #[test]
    fn the_same_seed_gives_the_same_entries_and_another_seed_does_not() {
        assert_eq!(generate(500, 7), generate(500, 7));
        assert_ne!(generate(500, 7), generate(500, 8));
    }

    #[test]
    fn every_list_appears_and_each_entry_has_what_its_list_matches_on() {
        let entries = generate(5_000, 1);
        for list in ListKind::ALL {
            let share = entries.iter().filter(|e| e.list == list).count();
            assert!(share > 250, "{list}: {share}");
        }
        for e in &entries {
            match e.list {
                ListKind::Sltd => {
                    assert!(
                        e.full_name.is_empty() && e.document_numbers.len() == 1,
                        "{e:?}"
                    )
                }
                ListKind::CnicBlock => {
                    assert!(e.full_name.is_empty() && e.national_id.is_some(), "{e:?}")
                }
                _ => assert!(!e.full_name.is_empty(), "{e:?}"),
            }
            if let Some(cnic) = &e.national_id
                && e.sex != Sex::Unspecified
            {
                assert_eq!(cnic.sex(), e.sex, "{e:?}");
            }
        }
    }

    #[test]
    fn entry_ids_are_unique() {
        let entries = generate(20_000, 3);
        let ids: std::collections::HashSet<_> = entries.iter().map(|e| &e.entry_id).collect();
        assert_eq!(ids.len(), entries.len());
    }

    #[test]
    fn names_look_pakistani_with_fathers_partial_dobs_and_aliases() {
        let entries = generate(5_000, 11);
        let persons: Vec<_> = entries.iter().filter(|e| !e.full_name.is_empty()).collect();
        let share = |f: &dyn Fn(&&Entry) -> bool| persons.iter().filter(|e| f(e)).count();
        assert!(share(&|e| e.full_name.starts_with("MUHAMMAD ")) > persons.len() / 10);
        assert!(share(&|e| e.father_name.is_some()) > persons.len() / 2);
        assert!(share(&|e| !e.aliases.is_empty()) > persons.len() / 10);
        assert!(share(&|e| e.dob.is_some_and(|d| d.month.is_none())) > 0);
        assert!(share(&|e| e.dob.is_some_and(|d| d.month.is_some() && d.day.is_none())) > 0);
        assert!(share(&|e| e.nationality.as_deref() != Some("PAK")) > 0);
        let pak_passport = |d: &str| {
            d.len() == 9
                && d[..2].bytes().all(|b| b.is_ascii_uppercase())
                && d[2..].bytes().all(|b| b.is_ascii_digit())
        };
        assert!(
            persons
                .iter()
                .filter(|e| e.nationality.as_deref() == Some("PAK"))
                .flat_map(|e| &e.document_numbers)
                .all(|d| pak_passport(d))
        );
    }
}
