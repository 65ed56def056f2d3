//! The post's SOP rules: data that ops edit (a TOML file), validated at load, evaluated on every
//! screening. The engine holds no SOP of its own; everything a rule can look at is listed in
//! [`KEYS`] and documented in `fixtures/rules/README.md`.
//!
//! A rule fires when every condition it states holds (conditions it does not state are not
//! looked at). What is unknown does not satisfy a condition on it — a rule about destinations
//! does not fire when the destination was not given — with two fail-closed exceptions: an age
//! band holds when the date of birth is partial or unknown and the possible ages overlap the band
//! (a human looks rather than the machine assuming an age), and a validity condition holds when
//! the expiry date is unreadable.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use checkpost_document::{PartialDate, Sex};
use checkpost_watchlist::{Decision, Direction};
use chrono::{Months, NaiveDate};
use toml::Spanned;

use crate::error::{EngineError, RuleRef};
use crate::input::TravelDetails;
use crate::reason::{Reason, ReasonCode};

/// Every key a `[[rule]]` table may hold, in the order the documentation lists them.
pub const KEYS: &[&str] = &[
    "id",
    "description",
    "direction",
    "destinations",
    "nationalities",
    "min_age",
    "max_age",
    "sex",
    "visa_types",
    "purposes",
    "travelling_alone",
    "guardian_present",
    "protector_stamp",
    "validity_days_below",
    "decision",
    "protection_referral",
    "code",
];

/// The most rules a file may hold (a limit on input like every other; a real post has dozens).
const MAX_RULES: usize = 10_000;
/// Ages are whole years; nobody screened is older.
const MAX_AGE: i64 = 150;
/// Validity conditions beyond ten years are a typo.
const MAX_VALIDITY_DAYS: i64 = 3_650;

/// The post's SOP rules, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    rules: Vec<Rule>,
    version: Option<String>,
    source: String,
}

/// One SOP rule: conditions and an outcome (a decision level and/or a protection referral).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    id: String,
    description: String,
    line: usize,
    when: Conditions,
    decision: Decision,
    protection_referral: bool,
    code: ReasonCode,
}

/// The conditions of a rule; `None` = not looked at. Text lists are stored upper case.
#[derive(Debug, Clone, Default, PartialEq)]
struct Conditions {
    direction: Option<Direction>,
    destinations: Option<Vec<String>>,
    nationalities: Option<Vec<String>>,
    min_age: Option<u32>,
    max_age: Option<u32>,
    sex: Option<Sex>,
    visa_types: Option<Vec<String>>,
    purposes: Option<Vec<String>>,
    travelling_alone: Option<bool>,
    guardian_present: Option<bool>,
    protector_stamp: Option<bool>,
    validity_days_below: Option<i64>,
}

/// The possible ages, in whole years, of a person whose date of birth may be partial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AgeRange {
    pub(crate) min: u32,
    pub(crate) max: u32,
}

impl AgeRange {
    /// Ages consistent with `dob` on `today`: exact for a full date, a range for a year or
    /// year-month, anything for an unknown (or future) date.
    pub(crate) fn of(dob: Option<PartialDate>, today: NaiveDate) -> Self {
        const UNKNOWN: AgeRange = AgeRange {
            min: 0,
            max: u32::MAX,
        };
        let Some(dob) = dob else { return UNKNOWN };
        let year = i32::from(dob.year);
        let (earliest, latest) = match (dob.month, dob.day) {
            (Some(m), Some(d)) => {
                let date = NaiveDate::from_ymd_opt(year, m.into(), d.into());
                (date, date)
            }
            (Some(m), None) => {
                let first = NaiveDate::from_ymd_opt(year, m.into(), 1);
                let last = first
                    .and_then(|f| f.checked_add_months(Months::new(1)))
                    .and_then(|n| n.pred_opt());
                (first, last)
            }
            _ => (
                NaiveDate::from_ymd_opt(year, 1, 1),
                NaiveDate::from_ymd_opt(year, 12, 31),
            ),
        };
        match (earliest, latest) {
            (Some(earliest), Some(latest)) => match today.years_since(earliest) {
                Some(max) => Self {
                    // Born late in the window: maybe not yet a year older.
                    min: today.years_since(latest).unwrap_or(0),
                    max,
                },
                None => UNKNOWN,
            },
            _ => UNKNOWN,
        }
    }

    fn overlaps(self, min: Option<u32>, max: Option<u32>) -> bool {
        self.max >= min.unwrap_or(0) && self.min <= max.unwrap_or(u32::MAX)
    }
}

/// What the rules look at, computed once per screening.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub(crate) direction: Direction,
    pub(crate) nationality: &'a str,
    pub(crate) age: AgeRange,
    pub(crate) sex: Sex,
    pub(crate) travel: &'a TravelDetails,
    /// Days of validity left; `None` when the expiry is unreadable.
    pub(crate) validity_left: Option<i64>,
}

impl Rules {
    /// No rules: only the engine's own checks apply.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Reads and validates a rules file. `source` names it in errors (a path or `"<stdin>"`).
    ///
    /// Refused, with the file, line, column, rule and key named: invalid TOML, an unknown key
    /// (top level or in a rule), a value of the wrong type or outside what is accepted, a rule
    /// without `id` or `description`, a rule with no condition (it would fire for everyone) or
    /// no outcome, `min_age` above `max_age`, a protection referral with OFFLOAD or DETAIN
    /// (victims are not suspects), and an id used twice.
    pub fn from_toml(text: &str, source: &str) -> Result<Self, EngineError> {
        let doc: RawDoc = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |span| position(text, span.start));
            EngineError::Toml {
                file: source.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        if doc.rule.len() > MAX_RULES {
            let (line, column) = doc
                .rule
                .get(MAX_RULES)
                .map_or((1, 1), |r| position(text, r.span().start));
            return Err(EngineError::Toml {
                file: source.to_string(),
                line,
                column,
                message: format!("more than {MAX_RULES} rules"),
            });
        }
        let mut rules = Vec::with_capacity(doc.rule.len());
        let mut first_line_of: HashMap<String, usize> = HashMap::new();
        for (i, raw) in doc.rule.iter().enumerate() {
            let parser = RuleParser {
                text,
                file: source,
                rule: RuleRef::Index(i + 1),
                table: raw.span(),
            };
            let (rule, id_span) = parser.parse(raw.get_ref())?;
            let (line, column) = position(text, id_span.start);
            if let Some(&first_line) = first_line_of.get(&rule.id) {
                return Err(EngineError::DuplicateId {
                    file: source.to_string(),
                    line,
                    column,
                    id: rule.id,
                    first_line,
                });
            }
            first_line_of.insert(rule.id.clone(), line);
            rules.push(rule);
        }
        Ok(Self {
            rules,
            version: doc.version,
            source: source.to_string(),
        })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// The rule with this id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The file's optional top-level `version` label (shown by the server and in audit records).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The name the rules were loaded from (empty for [`Rules::empty`]).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The rules that fire for these facts, in file order.
    pub(crate) fn fired<'r>(&'r self, facts: &'r Facts<'_>) -> impl Iterator<Item = &'r Rule> {
        self.rules.iter().filter(move |r| r.when.hold(facts))
    }
}

impl Rule {
    /// The rule's id (unique in its file).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the rule is for, in the officer's words; it is the message of the rule's reason.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// 1-based line of the rule's `id` in its file.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The decision level the rule asks for (CLEAR for a referral-only rule).
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// True when the rule raises a protection referral.
    pub fn protection_referral(&self) -> bool {
        self.protection_referral
    }

    /// The code of the reason the rule produces.
    pub fn code(&self) -> ReasonCode {
        self.code
    }

    /// The reason this rule adds when it fires.
    pub(crate) fn reason(&self) -> Reason {
        let mut r = Reason::new(self.code, self.decision, self.description.clone());
        r.rule_id = Some(self.id.clone());
        r.protection_referral = self.protection_referral;
        r
    }
}

/// True when `value` (trimmed, any case) is one of `list` (stored upper case).
fn listed(list: &[String], value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        list.iter().any(|item| item.eq_ignore_ascii_case(v))
    })
}

impl Conditions {
    fn hold(&self, f: &Facts<'_>) -> bool {
        let t = f.travel;
        self.direction.is_none_or(|d| d == f.direction)
            && self
                .destinations
                .as_ref()
                .is_none_or(|l| listed(l, t.destination.as_deref()))
            && self
                .nationalities
                .as_ref()
                .is_none_or(|l| listed(l, Some(f.nationality)))
            && ((self.min_age.is_none() && self.max_age.is_none())
                || f.age.overlaps(self.min_age, self.max_age))
            && self.sex.is_none_or(|s| s == f.sex)
            && self
                .visa_types
                .as_ref()
                .is_none_or(|l| listed(l, t.visa_type.as_deref()))
            && self
                .purposes
                .as_ref()
                .is_none_or(|l| listed(l, t.purpose.as_deref()))
            && self
                .travelling_alone
                .is_none_or(|b| b == t.travelling_alone)
            && self
                .guardian_present
                .is_none_or(|b| b == t.guardian_present)
            && self.protector_stamp.is_none_or(|b| b == t.protector_stamp)
            && self
                .validity_days_below
                .is_none_or(|min| f.validity_left.is_none_or(|left| left < min))
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The file as TOML sees it; each rule stays a table of spanned keys and values so that every
/// error can name its line and column.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDoc {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

type RawRule = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

fn type_name(v: &toml::Value) -> &'static str {
    v.type_str()
}

/// Validates one `[[rule]]` table.
struct RuleParser<'a> {
    text: &'a str,
    file: &'a str,
    rule: RuleRef,
    table: Range<usize>,
}

impl RuleParser<'_> {
    fn err(&self, span: &Range<usize>, key: &str, message: impl Into<String>) -> EngineError {
        let (line, column) = position(self.text, span.start);
        EngineError::Rule {
            file: self.file.to_string(),
            line,
            column,
            rule: self.rule.clone(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn string(&self, key: &str, v: &Spanned<toml::Value>) -> Result<String, EngineError> {
        match v.get_ref() {
            toml::Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            toml::Value::String(_) => Err(self.err(&v.span(), key, "must not be empty")),
            other => Err(self.err(
                &v.span(),
                key,
                format!("expected a string, found {}", type_name(other)),
            )),
        }
    }

    fn boolean(&self, key: &str, v: &Spanned<toml::Value>) -> Result<bool, EngineError> {
        match v.get_ref() {
            toml::Value::Boolean(b) => Ok(*b),
            other => Err(self.err(
                &v.span(),
                key,
                format!("expected true or false, found {}", type_name(other)),
            )),
        }
    }

    fn integer(
        &self,
        key: &str,
        v: &Spanned<toml::Value>,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, EngineError> {
        match v.get_ref() {
            toml::Value::Integer(i) if range.contains(i) => Ok(*i),
            toml::Value::Integer(i) => Err(self.err(
                &v.span(),
                key,
                format!(
                    "{i} is out of range; expected {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
            other => Err(self.err(
                &v.span(),
                key,
                format!("expected an integer, found {}", type_name(other)),
            )),
        }
    }

    /// A non-empty list of non-empty strings, upper-cased; `country` also requires ICAO
    /// 3-letter codes.
    fn list(
        &self,
        key: &str,
        v: &Spanned<toml::Value>,
        country: bool,
    ) -> Result<Vec<String>, EngineError> {
        let shape = || {
            self.err(
                &v.span(),
                key,
                if country {
                    "expected a non-empty list of ICAO 3-letter codes, e.g. [\"SAU\", \"ARE\"]"
                } else {
                    "expected a non-empty list of strings, e.g. [\"WORK\"]"
                },
            )
        };
        let toml::Value::Array(items) = v.get_ref() else {
            return Err(shape());
        };
        if items.is_empty() {
            return Err(shape());
        }
        items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) if !s.trim().is_empty() => {
                    let s = s.trim().to_ascii_uppercase();
                    if country && !(s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())) {
                        Err(self.err(
                            &v.span(),
                            key,
                            format!("'{s}' is not an ICAO 3-letter country code"),
                        ))
                    } else {
                        Ok(s)
                    }
                }
                _ => Err(shape()),
            })
            .collect()
    }

    fn parse(mut self, raw: &RawRule) -> Result<(Rule, Range<usize>), EngineError> {
        // Name the rule by its id as early as possible, so that every later error says which.
        let id_entry = raw.iter().find(|(k, _)| k.get_ref() == "id");
        let Some((id_key, id_value)) = id_entry else {
            return Err(self.err(&self.table, "id", "missing; every rule needs an id"));
        };
        let id = self.string("id", id_value)?;
        if id.len() > 64 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self.err(
                &id_value.span(),
                "id",
                "must be at most 64 characters without spaces",
            ));
        }
        self.rule = RuleRef::Id(id.clone());
        let id_span = id_key.span();

        let mut entries: Vec<_> = raw.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);

        let mut description = None;
        let mut when = Conditions::default();
        let mut decision = None;
        let mut protection_referral = false;
        let mut code = None;
        let mut spans: HashMap<&str, Range<usize>> = HashMap::new();
        for (k, v) in entries {
            let key = k.get_ref().as_str();
            spans.insert(key, k.span());
            match key {
                "id" => {}
                "description" => description = Some(self.string(key, v)?),
                "direction" => {
                    let s = self.string(key, v)?;
                    when.direction = Some(
                        s.parse::<Direction>()
                            .map_err(|e| self.err(&v.span(), key, e.to_string()))?,
                    );
                }
                "destinations" => when.destinations = Some(self.list(key, v, true)?),
                "nationalities" => when.nationalities = Some(self.list(key, v, true)?),
                "min_age" => when.min_age = Some(self.integer(key, v, 0..=MAX_AGE)? as u32),
                "max_age" => when.max_age = Some(self.integer(key, v, 0..=MAX_AGE)? as u32),
                "sex" => {
                    let s = self.string(key, v)?;
                    when.sex = Some(match Sex::parse(&s) {
                        Some(sex) => sex,
                        None => {
                            return Err(self.err(
                                &v.span(),
                                key,
                                format!("'{s}' is not a sex; expected M, F or X"),
                            ));
                        }
                    });
                }
                "visa_types" => when.visa_types = Some(self.list(key, v, false)?),
                "purposes" => when.purposes = Some(self.list(key, v, false)?),
                "travelling_alone" => when.travelling_alone = Some(self.boolean(key, v)?),
                "guardian_present" => when.guardian_present = Some(self.boolean(key, v)?),
                "protector_stamp" => when.protector_stamp = Some(self.boolean(key, v)?),
                "validity_days_below" => {
                    when.validity_days_below = Some(self.integer(key, v, 1..=MAX_VALIDITY_DAYS)?);
                }
                "decision" => {
                    let s = self.string(key, v)?;
                    decision = Some(
                        s.parse::<Decision>()
                            .map_err(|e| self.err(&v.span(), key, e.to_string()))?,
                    );
                }
                "protection_referral" => protection_referral = self.boolean(key, v)?,
                "code" => {
                    let s = self.string(key, v)?;
                    code = Some(
                        [
                            ReasonCode::Rule,
                            ReasonCode::ValidityTooShort,
                            ReasonCode::ProtectionReferral,
                        ]
                        .into_iter()
                        .find(|c| c.as_str().eq_ignore_ascii_case(&s))
                        .ok_or_else(|| {
                            self.err(
                                &v.span(),
                                key,
                                format!(
                                    "'{s}' is not a rule code; expected RULE, VALIDITY_TOO_SHORT or PROTECTION_REFERRAL"
                                ),
                            )
                        })?,
                    );
                }
                other => {
                    return Err(self.err(
                        &k.span(),
                        other,
                        format!("unknown key; expected one of {}", KEYS.join(", ")),
                    ));
                }
            }
        }

        let span_of = |key: &str| spans.get(key).cloned().unwrap_or(id_span.clone());
        let Some(description) = description else {
            return Err(self.err(
                &id_span,
                "description",
                "missing; the officer sees it as the reason's message",
            ));
        };
        if when.is_empty() {
            return Err(self.err(
                &id_span,
                "id",
                format!(
                    "the rule has no condition and would fire for every passenger; add one of {}",
                    KEYS[2..14].join(", ")
                ),
            ));
        }
        if let (Some(min), Some(max)) = (when.min_age, when.max_age) {
            if min > max {
                return Err(self.err(
                    &span_of("max_age"),
                    "max_age",
                    format!("max_age {max} is below min_age {min}"),
                ));
            }
        }
        let decision = decision.unwrap_or(Decision::Clear);
        if decision == Decision::Clear && !protection_referral {
            return Err(self.err(
                &span_of("decision"),
                "decision",
                "the rule has no outcome; set decision (SECOND_CHECK, OFFLOAD, DETAIN) and/or protection_referral = true",
            ));
        }
        if protection_referral && decision > Decision::SecondCheck {
            return Err(self.err(
                &span_of("decision"),
                "decision",
                format!(
                    "a protection referral is for a possible victim, who is not a suspect: {} is not allowed with it (at most SECOND_CHECK)",
                    decision.as_str()
                ),
            ));
        }
        let code = code.unwrap_or(if protection_referral && decision == Decision::Clear {
            ReasonCode::ProtectionReferral
        } else {
            ReasonCode::Rule
        });
        let (line, _) = position(self.text, id_span.start);
        Ok((
            Rule {
                id,
                description,
                line,
                when,
                decision,
                protection_referral,
                code,
            },
            id_span,
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn age_is_exact_for_a_full_date_of_birth() {
        let dob = PartialDate::parse("2008-11-24").ok();
        assert_eq!(
            AgeRange::of(dob, date("2026-11-23")),
            AgeRange { min: 17, max: 17 }
        );
        assert_eq!(
            AgeRange::of(dob, date("2026-11-24")),
            AgeRange { min: 18, max: 18 }
        );
    }

    #[test]
    fn age_is_a_range_for_a_partial_date_of_birth() {
        let today = date("2026-06-15");
        let ym = PartialDate::parse("2008-06").ok();
        assert_eq!(AgeRange::of(ym, today), AgeRange { min: 17, max: 18 });
        let y = PartialDate::parse("2008").ok();
        assert_eq!(AgeRange::of(y, today), AgeRange { min: 17, max: 18 });
        let unknown = AgeRange::of(None, today);
        assert!(unknown.overlaps(None, Some(17)) && unknown.overlaps(Some(60), None));
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 6), (2, 1));
        assert_eq!(position(text, 11), (2, 6));
    }
}
