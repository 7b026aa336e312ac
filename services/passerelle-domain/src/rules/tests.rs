//! Unit and property tests of the consent and legal rules.

use std::collections::BTreeSet;

use proptest::prelude::*;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

use super::*;

const NOW: OffsetDateTime = datetime!(2026-11-29 10:00 UTC);

fn slug(s: &str) -> OrgSlug {
    OrgSlug::parse(s).unwrap()
}

fn consent_filing() -> FilingRequest {
    FilingRequest {
        to_org: slug("avec63"),
        purpose: Purpose::PsychologicalSupport,
        urgency: Urgency::Normal,
        danger_grid: Some(DangerGrid {
            yes_answers: 14,
            red_answers: 2,
        }),
        consent: Consent {
            basis: ConsentBasis::Consent,
            method: ConsentMethod::Written,
            obtained_at: datetime!(2026-11-29 09:00 UTC),
            recipients: vec![slug("avec63"), slug("chambre-vif")],
            purposes: vec![Purpose::PsychologicalSupport, Purpose::CourtProceedings],
            data_categories: vec![
                DataCategory::Identity,
                DataCategory::Contact,
                DataCategory::Narrative,
                DataCategory::Risk,
            ],
            expires_at: datetime!(2027-11-29 00:00 UTC),
            legal_exception: None,
        },
        subject: Subject {
            name: Some("X".into()),
            birth_date: Some(date!(1990 - 04 - 02)),
            phone: Some("0".into()),
        },
        safety: Safety::default(),
        notes: Notes {
            narrative: Some("n".into()),
            risk: Some("r".into()),
            medical: None,
        },
    }
}

fn legal_filing() -> FilingRequest {
    let mut r = consent_filing();
    r.to_org = slug("parquet63");
    r.purpose = Purpose::ReportToProsecutor;
    r.consent.basis = ConsentBasis::LegalException22614;
    r.consent.recipients = vec![slug("parquet63")];
    r.consent.purposes = vec![Purpose::ReportToProsecutor];
    r.consent.legal_exception = Some(LegalException {
        immediate_danger: true,
        emprise: true,
        agreement_sought: "asked twice".into(),
        justification: "life at risk".into(),
    });
    r
}

const REFERRER: Filer = Filer {
    role: Role::Referrer,
    health_professional: false,
};
const PHYSICIAN: Filer = Filer {
    role: Role::Referrer,
    health_professional: true,
};

fn avec() -> Party {
    Party {
        slug: slug("avec63"),
        kind: OrgKind::Association,
    }
}

fn parquet() -> Party {
    Party {
        slug: slug("parquet63"),
        kind: OrgKind::Prosecutor,
    }
}

fn rule_of<T>(r: Result<T, RuleViolation>) -> Option<Rule> {
    r.err().map(|v| v.rule)
}

#[test]
fn rule_spellings() {
    let s: Vec<_> = Rule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        s,
        [
            "consent-recipient",
            "consent-purpose",
            "consent-category",
            "consent-expired",
            "consent-withdrawn",
            "legal-exception",
            "urgency-lowered"
        ]
    );
}

#[test]
fn consent_filing_ok_and_grid_raises_urgency() {
    assert_eq!(
        check_filing(&consent_filing(), &REFERRER, &avec(), NOW),
        Ok(Urgency::High)
    );
    let mut r = consent_filing();
    r.urgency = Urgency::Immediate;
    assert_eq!(
        check_filing(&r, &REFERRER, &avec(), NOW),
        Ok(Urgency::Immediate)
    );
}

#[test]
fn consent_filing_refusals() {
    let check = |r: &FilingRequest| rule_of(check_filing(r, &REFERRER, &avec(), NOW));
    let mut r = consent_filing();
    r.consent.expires_at = NOW;
    assert_eq!(check(&r), Some(Rule::ConsentExpired));
    let mut r = consent_filing();
    r.consent.recipients = vec![slug("chambre-vif")];
    assert_eq!(check(&r), Some(Rule::ConsentRecipient));
    let mut r = consent_filing();
    r.consent.purposes = vec![Purpose::Shelter];
    assert_eq!(check(&r), Some(Rule::ConsentPurpose));
    let mut r = consent_filing();
    r.notes.medical = Some(String::new());
    assert_eq!(check(&r), Some(Rule::ConsentCategory));
    let mut r = consent_filing();
    r.notes.risk = None;
    r.consent
        .data_categories
        .retain(|c| *c != DataCategory::Risk);
    assert_eq!(
        check(&r),
        Some(Rule::ConsentCategory),
        "the danger grid is risk"
    );
    r.danger_grid = None;
    assert_eq!(check(&r), None);
    let mut r = consent_filing();
    r.consent.legal_exception = legal_filing().consent.legal_exception;
    assert_eq!(check(&r), Some(Rule::LegalException));
    // Expiry answers before the recipient.
    let mut r = consent_filing();
    r.consent.expires_at = NOW;
    r.consent.recipients.clear();
    assert_eq!(check(&r), Some(Rule::ConsentExpired));
}

#[test]
fn legal_exception_filing() {
    assert_eq!(
        check_filing(&legal_filing(), &PHYSICIAN, &parquet(), NOW),
        Ok(Urgency::High)
    );
    let le = |r: &FilingRequest, f: &Filer, p: &Party| rule_of(check_filing(r, f, p, NOW));
    let l = Some(Rule::LegalException);
    assert_eq!(
        le(&legal_filing(), &REFERRER, &parquet()),
        l,
        "not a health professional"
    );
    let mut court = parquet();
    court.kind = OrgKind::Court;
    assert_eq!(
        le(&legal_filing(), &PHYSICIAN, &court),
        l,
        "not a prosecutor"
    );
    let mutations: Vec<fn(&mut FilingRequest)> = vec![
        |r| r.purpose = Purpose::CourtProceedings,
        |r| r.subject.birth_date = None,
        |r| r.subject.birth_date = Some(date!(2008 - 11 - 30)), // 18 tomorrow
        |r| r.consent.legal_exception = None,
        |r| r.consent.legal_exception.as_mut().unwrap().immediate_danger = false,
        |r| r.consent.legal_exception.as_mut().unwrap().emprise = false,
        |r| r.consent.legal_exception.as_mut().unwrap().agreement_sought = " \n".into(),
        |r| r.consent.legal_exception.as_mut().unwrap().justification = String::new(),
        |r| r.consent.recipients.push(slug("avec63")),
        |r| r.consent.recipients.push(slug("parquet63")),
        |r| r.consent.purposes.push(Purpose::CourtProceedings),
        |r| r.notes.medical = Some("m".into()),
    ];
    for (i, m) in mutations.iter().enumerate() {
        let mut r = legal_filing();
        m(&mut r);
        assert_eq!(le(&r, &PHYSICIAN, &parquet()), l, "mutation {i}");
    }
    // 18 today is adult.
    let mut r = legal_filing();
    r.subject.birth_date = Some(date!(2008 - 11 - 29));
    assert!(check_filing(&r, &PHYSICIAN, &parquet(), NOW).is_ok());
    // An expired date on the consent fields does not matter under the legal basis.
    let mut r = legal_filing();
    r.consent.expires_at = NOW;
    assert!(check_filing(&r, &PHYSICIAN, &parquet(), NOW).is_ok());
}

#[test]
fn adulthood_and_leap_days() {
    assert!(is_adult(date!(2000 - 01 - 01), date!(2018 - 01 - 01)));
    assert!(!is_adult(date!(2000 - 01 - 02), date!(2018 - 01 - 01)));
    assert!(!is_adult(date!(2008 - 02 - 29), date!(2026 - 02 - 28)));
    assert!(is_adult(date!(2008 - 02 - 29), date!(2026 - 03 - 01)));
    assert!(is_adult(date!(2000 - 02 - 29), date!(2018 - 03 - 01)));
    assert!(!is_adult(date!(1998 - 02 - 28), date!(2016 - 02 - 27)));
    assert!(is_adult(date!(1998 - 02 - 28), date!(2016 - 02 - 28)));
    assert!(!is_adult(Date::MAX, Date::MAX));
}

fn terms() -> ConsentTerms {
    ConsentTerms::from(&consent_filing().consent)
}

fn fwd() -> ForwardRequest {
    ForwardRequest {
        to_org: slug("chambre-vif"),
        purpose: Purpose::CourtProceedings,
        data_categories: vec![DataCategory::Identity, DataCategory::Narrative],
        note: "for the hearing".into(),
        urgency: None,
    }
}

fn court() -> Party {
    Party {
        slug: slug("chambre-vif"),
        kind: OrgKind::Court,
    }
}

#[test]
fn forwards() {
    let f = |t: &ConsentTerms, w, p, r: &ForwardRequest| check_forward(t, w, p, r, &court(), NOW);
    assert_eq!(f(&terms(), false, Urgency::High, &fwd()), Ok(Urgency::High));
    let mut r = fwd();
    r.urgency = Some(Urgency::Immediate);
    assert_eq!(
        f(&terms(), false, Urgency::High, &r),
        Ok(Urgency::Immediate)
    );
    r.urgency = Some(Urgency::Normal);
    assert_eq!(
        rule_of(f(&terms(), false, Urgency::High, &r)),
        Some(Rule::UrgencyLowered)
    );
    assert_eq!(
        rule_of(f(&terms(), true, Urgency::High, &fwd())),
        Some(Rule::ConsentWithdrawn)
    );
    let mut t = terms();
    t.expires_at = NOW;
    assert_eq!(
        rule_of(f(&t, false, Urgency::High, &fwd())),
        Some(Rule::ConsentExpired)
    );
    assert_eq!(
        rule_of(f(&t, true, Urgency::High, &fwd())),
        Some(Rule::ConsentWithdrawn)
    );
    let mut r = fwd();
    r.to_org = slug("cidff63");
    assert_eq!(
        rule_of(f(&terms(), false, Urgency::High, &r)),
        Some(Rule::ConsentRecipient)
    );
    let mut r = fwd();
    r.purpose = Purpose::Shelter;
    assert_eq!(
        rule_of(f(&terms(), false, Urgency::High, &r)),
        Some(Rule::ConsentPurpose)
    );
    let mut r = fwd();
    r.data_categories.push(DataCategory::Medical);
    assert_eq!(
        rule_of(f(&terms(), false, Urgency::High, &r)),
        Some(Rule::ConsentCategory)
    );
    let t = ConsentTerms::from(&legal_filing().consent);
    assert_eq!(
        rule_of(f(&t, false, Urgency::High, &fwd())),
        Some(Rule::LegalException)
    );
}

#[test]
fn forward_request_json() {
    let r: ForwardRequest = serde_json::from_str(
        r#"{"to_org":"chambre-vif","purpose":"court_proceedings","data_categories":["identity"],"note":"x"}"#,
    )
    .unwrap();
    assert_eq!(r.urgency, None);
    assert!(serde_json::from_str::<ForwardRequest>(
        r#"{"to_org":"chambre-vif","purpose":"court_proceedings","data_categories":[],"note":"x","extra":1}"#
    )
    .is_err());
}

#[test]
fn additions_and_withdrawal() {
    assert_eq!(
        check_addition(&terms(), false, Some(DataCategory::Narrative)),
        Ok(())
    );
    assert_eq!(
        rule_of(check_addition(&terms(), true, None)),
        Some(Rule::ConsentWithdrawn)
    );
    assert_eq!(
        rule_of(check_addition(&terms(), false, Some(DataCategory::Medical))),
        Some(Rule::ConsentCategory)
    );
    let legal = ConsentTerms::from(&legal_filing().consent);
    assert_eq!(check_addition(&legal, true, None), Ok(()));
    assert_eq!(check_withdrawal(&terms()), Ok(()));
    assert_eq!(
        rule_of(check_withdrawal(&legal)),
        Some(Rule::LegalException)
    );
}

#[test]
fn restrict_keeps_only_categories() {
    let mut content = ReferralContent {
        subject: consent_filing().subject,
        notes: Notes {
            medical: Some("m".into()),
            ..consent_filing().notes
        },
        safety: Safety {
            code_word: Some("c".into()),
            ..Safety::default()
        },
        danger_grid: Some(DangerGrid {
            yes_answers: 1,
            red_answers: 0,
        }),
        legal_exception: Some(LegalException::default()),
        forward_note: Some("f".into()),
    };
    let cats: BTreeSet<_> = [DataCategory::Contact, DataCategory::Risk].into();
    let r = restrict_content(&content, &cats);
    assert_eq!(
        r.subject,
        Subject {
            phone: Some("0".into()),
            ..Subject::default()
        }
    );
    assert_eq!(
        r.notes,
        Notes {
            risk: Some("r".into()),
            ..Notes::default()
        }
    );
    assert_eq!(r.safety, content.safety);
    assert!(r.danger_grid.is_some() && r.legal_exception.is_none() && r.forward_note.is_none());
    content.legal_exception = None;
    content.forward_note = None;
    assert_eq!(
        restrict_content(&content, &DataCategory::ALL.iter().copied().collect()),
        content
    );
}

// ---- properties ----

fn urgency() -> impl Strategy<Value = Urgency> {
    prop::sample::select(Urgency::ALL)
}

fn cats() -> impl Strategy<Value = Vec<DataCategory>> {
    prop::sample::subsequence(DataCategory::ALL.to_vec(), 0..=DataCategory::ALL.len())
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[a-z ]{0,4}")
}

fn grid() -> impl Strategy<Value = Option<DangerGrid>> {
    prop::option::of((0u8..30, 0u8..6).prop_map(|(y, r)| DangerGrid {
        yes_answers: y,
        red_answers: r,
    }))
}

fn org() -> impl Strategy<Value = OrgSlug> {
    prop::sample::select(vec!["avec63", "chambre-vif", "cidff63", "parquet63"]).prop_map(slug)
}

fn date() -> impl Strategy<Value = Date> {
    (1900i32..2100, 1u8..=12, 1u8..=31).prop_filter_map("valid date", |(y, m, d)| {
        Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
    })
}

prop_compose! {
    fn content()(name in opt_text(), birth in prop::option::of(date()), phone in opt_text(),
                 narrative in opt_text(), risk in opt_text(), medical in opt_text(), grid in grid())
                -> ReferralContent {
        ReferralContent {
            subject: Subject { name, birth_date: birth, phone },
            notes: Notes { narrative, risk, medical },
            safety: Safety { hours: Some("9h".into()), ..Safety::default() },
            danger_grid: grid,
            legal_exception: Some(LegalException::default()),
            forward_note: Some("n".into()),
        }
    }
}

prop_compose! {
    fn filing()(c in content(), to in org(), purpose in prop::sample::select(Purpose::ALL),
                asked in urgency(), recipients in prop::collection::vec(org(), 0..3),
                purposes in prop::sample::subsequence(Purpose::ALL.to_vec(), 0..4),
                data_categories in cats(), expires_in in -5i64..5) -> FilingRequest {
        FilingRequest {
            to_org: to,
            purpose,
            urgency: asked,
            danger_grid: c.danger_grid,
            consent: Consent {
                basis: ConsentBasis::Consent,
                method: ConsentMethod::Oral,
                obtained_at: NOW,
                recipients,
                purposes,
                data_categories,
                expires_at: NOW + time::Duration::days(expires_in),
                legal_exception: None,
            },
            subject: c.subject,
            safety: c.safety,
            notes: c.notes,
        }
    }
}

proptest! {
    #[test]
    fn effective_is_max(asked in urgency(), g in grid()) {
        let e = effective_urgency(asked, g.as_ref());
        prop_assert_eq!(e, asked.max(urgency_floor(g.as_ref())));
        let raised = g.is_some_and(|g| g.red_answers >= 2 || g.yes_answers >= 12);
        prop_assert_eq!(urgency_floor(g.as_ref()) == Urgency::High, raised);
    }

    #[test]
    fn restrict_is_within_and_idempotent(c in content(), cs in cats()) {
        let set: BTreeSet<_> = cs.into_iter().collect();
        let r = restrict_content(&c, &set);
        let got = categories_of(&r.subject, &r.notes, r.danger_grid.as_ref());
        prop_assert!(got.is_subset(&set));
        let orig = categories_of(&c.subject, &c.notes, c.danger_grid.as_ref());
        prop_assert_eq!(got, orig.intersection(&set).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(&r.safety, &c.safety);
        prop_assert!(r.legal_exception.is_none() && r.forward_note.is_none());
        prop_assert_eq!(restrict_content(&r, &set), r);
    }

    #[test]
    fn consent_filing_matches_oracle(req in filing()) {
        let to = Party { slug: req.to_org.clone(), kind: OrgKind::Association };
        let got = check_filing(&req, &REFERRER, &to, NOW);
        let c = &req.consent;
        let present = categories_of(&req.subject, &req.notes, req.danger_grid.as_ref());
        let expected = if c.expires_at <= NOW {
            Err(Rule::ConsentExpired)
        } else if !c.recipients.contains(&req.to_org) {
            Err(Rule::ConsentRecipient)
        } else if !c.purposes.contains(&req.purpose) {
            Err(Rule::ConsentPurpose)
        } else if !present.iter().all(|p| c.data_categories.contains(p)) {
            Err(Rule::ConsentCategory)
        } else {
            Ok(effective_urgency(req.urgency, req.danger_grid.as_ref()))
        };
        prop_assert_eq!(got.map_err(|v| v.rule), expected);
    }

    #[test]
    fn legal_basis_only_ever_says_legal_exception(req in filing(), hp in any::<bool>(),
                                                  kind in prop::sample::select(OrgKind::ALL)) {
        let mut req = req;
        req.consent.basis = ConsentBasis::LegalException22614;
        let to = Party { slug: req.to_org.clone(), kind };
        let filer = Filer { role: Role::Referrer, health_professional: hp };
        if let Err(v) = check_filing(&req, &filer, &to, NOW) {
            prop_assert_eq!(v.rule, Rule::LegalException);
        } else {
            // Accepted: every condition of the contract holds.
            prop_assert!(hp && kind == OrgKind::Prosecutor);
            prop_assert_eq!(req.purpose, Purpose::ReportToProsecutor);
            prop_assert!(is_adult(req.subject.birth_date.unwrap(), NOW.date()));
        }
    }

    #[test]
    fn forward_never_lowers_nor_widens(req_cats in cats(), consented in cats(), parent in urgency(),
                                       asked in prop::option::of(urgency()), withdrawn in any::<bool>()) {
        let mut t = terms();
        t.data_categories = consented.clone();
        let mut r = fwd();
        r.data_categories = req_cats.clone();
        r.urgency = asked;
        match check_forward(&t, withdrawn, parent, &r, &court(), NOW) {
            Ok(u) => {
                prop_assert!(!withdrawn);
                prop_assert!(u >= parent);
                prop_assert_eq!(u, asked.unwrap_or(parent));
                prop_assert!(req_cats.iter().all(|c| consented.contains(c)));
            }
            Err(v) => prop_assert!(withdrawn || v.rule == Rule::ConsentCategory || v.rule == Rule::UrgencyLowered),
        }
    }

    #[test]
    fn adult_matches_age_formula(birth in date(), on in date()) {
        let before_birthday = (on.month() as u8, on.day()) < (birth.month() as u8, birth.day());
        let age = on.year() - birth.year() - i32::from(before_birthday);
        prop_assert_eq!(is_adult(birth, on), age >= 18);
    }
}
