//! Copybooks into records: offsets, lengths, OCCURS, REDEFINES, conditions, errors.

use super::*;

fn field<'a>(book: &'a Copybook, path: &str) -> &'a MetadataRecord {
    book.records.iter().find(|r| r.path == path).unwrap_or_else(|| {
        panic!(
            "no {path}: {:?}",
            book.records.iter().map(|r| &r.path).collect::<Vec<_>>()
        )
    })
}

fn at(book: &Copybook, path: &str) -> (u64, u64) {
    let r = field(book, path);
    (
        r.attributes["offset"].as_u64().unwrap(),
        r.attributes["storage_length"].as_u64().unwrap(),
    )
}

const CUSTOMER: &str = "\
      * A customer record.
       01  CUSTOMER-REC.
           05  CUST-ID             PIC 9(8)      COMP.
           05  CUST-NAME           PIC X(30).
           05  CUST-TYPE           PIC X.
               88  RETAIL          VALUE 'R'.
               88  WHOLESALE       VALUES 'W' 'D'.
               88  NUMBERED        VALUE '1' THRU '9'.
           05  BALANCE             PIC S9(7)V99  COMP-3.
           05  PHONES              OCCURS 3 TIMES.
               10  PHONE-KIND      PIC X.
               10  PHONE-NUMBER    PIC X(15).
           05  FILLER              PIC X(4).
           05  ADDRESS-LINES.
               10  LINE-1          PIC X(40).
               10  LINE-2          PIC X(40).
           05  PO-BOX  REDEFINES ADDRESS-LINES.
               10  BOX-NUMBER      PIC 9(6).
           05  ORDER-COUNT         PIC 9(3).
           05  ORDERS              OCCURS 0 TO 50 TIMES DEPENDING ON ORDER-COUNT.
               10  ORDER-ID        PIC X(10).
               10  ORDER-TOTAL     PIC +ZZZ,ZZZ,ZZZ.99.
";

#[test]
fn offsets_and_lengths_follow_the_storage_rules() {
    let book = parse(CUSTOMER).unwrap();
    assert_eq!(at(&book, "CUSTOMER-REC/CUST-ID"), (0, 4));
    assert_eq!(at(&book, "CUSTOMER-REC/CUST-NAME"), (4, 30));
    assert_eq!(at(&book, "CUSTOMER-REC/CUST-TYPE"), (34, 1));
    assert_eq!(at(&book, "CUSTOMER-REC/BALANCE"), (35, 5));
    assert_eq!(at(&book, "CUSTOMER-REC/PHONES"), (40, 48), "3 × 16 bytes");
    assert_eq!(
        at(&book, "CUSTOMER-REC/PHONES/PHONE-NUMBER"),
        (41, 15),
        "in the first occurrence"
    );
    assert_eq!(at(&book, "CUSTOMER-REC/FILLER#1"), (88, 4));
    assert_eq!(at(&book, "CUSTOMER-REC/ADDRESS-LINES"), (92, 80));
    assert_eq!(
        at(&book, "CUSTOMER-REC/PO-BOX"),
        (92, 80),
        "as long as what it redefines"
    );
    assert_eq!(field(&book, "CUSTOMER-REC/PO-BOX").attributes["own_length"], 6);
    assert_eq!(at(&book, "CUSTOMER-REC/ORDER-COUNT"), (172, 3));
    assert_eq!(at(&book, "CUSTOMER-REC/ORDERS"), (175, 50 * 25), "the OCCURS maximum");
    assert_eq!(at(&book, "CUSTOMER-REC"), (0, 175 + 1250));
    let orders = field(&book, "CUSTOMER-REC/ORDERS");
    assert_eq!(orders.attributes["depending_on"], "ORDER-COUNT");
    assert_eq!(orders.attributes["occurs_min"], 0);
    assert_eq!(
        field(&book, "CUSTOMER-REC/ORDERS/ORDER-TOTAL").data_type.as_deref(),
        Some("numeric_edited")
    );
    assert_eq!(
        field(&book, "CUSTOMER-REC/BALANCE").data_type.as_deref(),
        Some("packed_decimal")
    );
    assert_eq!(field(&book, "CUSTOMER-REC/BALANCE").attributes["scale"], 2);
    assert_eq!(field(&book, "CUSTOMER-REC").kind, "cobol.record");
    assert_eq!(
        field(&book, "CUSTOMER-REC").line_end,
        22,
        "the record spans all its fields"
    );
}

#[test]
fn conditions_keep_every_value_and_range() {
    let book = parse(CUSTOMER).unwrap();
    let wholesale = field(&book, "CUSTOMER-REC/CUST-TYPE/WHOLESALE");
    assert_eq!(wholesale.kind, "cobol.condition");
    assert_eq!(wholesale.attributes["values"], json!(["W", "D"]));
    let numbered = field(&book, "CUSTOMER-REC/CUST-TYPE/NUMBERED");
    assert_eq!(numbered.attributes["values"], json!([{"from": "1", "thru": "9"}]));
    assert_eq!(book.records.iter().filter(|r| r.kind == "cobol.condition").count(), 3);
}

#[test]
fn usage_on_a_group_applies_to_its_fields() {
    let book = parse("01 R.\n   05 G COMP-3.\n      10 A PIC S9(5).\n      10 B PIC S9(3).\n   05 C PIC X.\n").unwrap();
    assert_eq!(at(&book, "R/G/A"), (0, 3));
    assert_eq!(at(&book, "R/G/B"), (3, 2));
    assert_eq!(at(&book, "R/C"), (5, 1));
}

#[test]
fn broken_copybooks_are_refused_with_their_line() {
    let err = parse("       01  REC.\n           05  A  PIC X(3) WHATEVER.\n").unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.message.contains("WHATEVER"), "{err}");
    assert!(parse("just some text\n").is_err());
    assert!(parse("").is_err());
    let nested = parse("01 R.\n 05 A PIC X.\n  10 B PIC X.\n").unwrap_err();
    assert!(nested.message.contains("has a PIC"), "{nested}");
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(256))]

    #[test]
    fn any_text_is_records_or_an_error_never_a_panic(text in "(\\PC|\\n){0,400}") {
        let _ = parse(&text);
    }

    #[test]
    fn every_cut_of_a_copybook_is_read_or_refused(cut in 0usize..CUSTOMER.len()) {
        if CUSTOMER.is_char_boundary(cut) {
            let _ = parse(&CUSTOMER[..cut]);
        }
    }
}

#[test]
fn a_record_length_the_copybook_states_is_checked() {
    let good = "      * RECORD LENGTH = 13\n       01  R.\n           05  A  PIC X(3).\n           05  B  PIC X(10).\n";
    assert!(parse(good).unwrap().warnings.is_empty());
    let bad = good.replace("= 13", "= 80");
    let warnings = parse(&bad).unwrap().warnings;
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, 1);
    assert!(
        warnings[0].message.contains("80") && warnings[0].message.contains("13"),
        "{:?}",
        warnings
    );
}
