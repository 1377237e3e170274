//! Layouts from publication text, delimited tables and tables in code; gaps, overlaps, refusals.

use super::*;

fn record<'a>(parsed: &'a Parsed, path: &str) -> &'a MetadataRecord {
    parsed.records.iter().find(|r| r.path == path).unwrap_or_else(|| {
        panic!(
            "no {path}: {:?}",
            parsed.records.iter().map(|r| &r.path).collect::<Vec<_>>()
        )
    })
}

fn place(parsed: &Parsed, path: &str) -> (u64, u64) {
    let r = record(parsed, path);
    (
        r.attributes["start"].as_u64().unwrap(),
        r.attributes["length"].as_u64().unwrap(),
    )
}

/// The opening rows of Publication 1220's T and A records, as `pdftotext -layout` prints them.
const PUBLICATION: &str = "\
Record Name: Transmitter \"T\" Record

Field Position    Field Title                     Length    General Field Description
1                 Record Type                     1         Required. Enter \"T.\"
2-5               Payment Year                    4         Required. Enter \"2025\" (four-digit tax year
                                                            for which the information return is reported).
6                 Prior Year Data Indicator       1         Required. Enter \"P\" only if reporting prior
                                                            year data; otherwise, enter a blank.
7-15              Transmitter's TIN               9         Required. Enter the transmitter's nine-digit TIN.
16-20             Transmitter Control Code        5         Required. Enter the five-character TCC.
21-27             Blank                           7         Enter blanks.

Record Name: Payer \"A\" Record
1                 Record Type                     1         Required. Enter \"A.\"
2-5               Payment Year                    4         Required. Enter \"2025\".
6                 Combined Federal/State Filer    1         Required for the CF/SF Program.
";

#[test]
fn a_publications_layout_text_gives_its_records_and_fields() {
    let parsed = parse(PUBLICATION).unwrap();
    assert_eq!(
        parsed.records.iter().filter(|r| r.kind == "irs.layout").count(),
        2,
        "a Record Name heading starts a layout"
    );
    let t = record(&parsed, "T");
    assert_eq!(t.attributes["fields"], 6);
    assert_eq!(t.attributes["record_length"], 27);
    assert_eq!(t.attributes["format"], "publication_text");
    assert_eq!(place(&parsed, "T/Transmitter Control Code"), (16, 5));
    assert_eq!(record(&parsed, "T/Transmitter Control Code").attributes["end"], 20);
    let year = record(&parsed, "T/Payment Year");
    assert_eq!(year.attributes["required"], true, "its description opens with Required");
    assert_eq!(
        year.attributes["description"],
        "Required. Enter \"2025\" (four-digit tax year\nfor which the information return is reported)."
    );
    assert_eq!(record(&parsed, "T/Blank").attributes["required"], false);
    assert_eq!(place(&parsed, "A/Combined Federal/State Filer"), (6, 1));
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

#[test]
fn a_delimited_table_with_positions_records_and_a_gap() {
    let csv = "\
record,field,position,length,type,required,description
T,Record Type,1,1,AN,Y,Enter T
T,Payment Year,2-5,4,N,Y,Tax year
T,TCC,16-20,5,AN,Y,Transmitter Control Code
A,Record Type,1,1,AN,Y,Enter A
A,Payer TIN,12-20,9,N,Y,
A,Payer Name,21-60,41,AN,N,
";
    let parsed = parse(csv).unwrap();
    assert_eq!(place(&parsed, "T/TCC"), (16, 5));
    assert_eq!(record(&parsed, "A/Payer TIN").attributes["required"], true);
    assert_eq!(record(&parsed, "A/Payer Name").attributes["required"], false);
    let messages: Vec<&str> = parsed.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("T: positions 6-15 belong to no field")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Payer Name") && m.contains("end at 61")),
        "length 41 from 21 does not end at 60: {messages:?}"
    );
}

#[test]
fn tables_in_code_are_read_in_any_language() {
    let go = r#"
var (
	// Transmitter "T" Record
	TRecordLayout = map[string]SpecField{
		"RecordType":  {0, 1, Alphanumeric, Required},
		"PaymentYear": {1, 4, DateYear, Required},
		"Blank1":      {5, 10, Alphanumeric, Nullable}, // a comment, not a field
		"TCC":         {15, 5, Alphanumeric, Required},
	}
)
"#;
    let parsed = parse(go).unwrap();
    assert_eq!(
        place(&parsed, "TRecordLayout/TCC"),
        (16, 5),
        "0-based starts are shifted"
    );
    assert_eq!(record(&parsed, "TRecordLayout").attributes["numbering"], "0-based");
    assert_eq!(
        record(&parsed, "TRecordLayout/TCC").attributes["requirement"],
        "Required"
    );
    assert_eq!(
        record(&parsed, "TRecordLayout/TCC").data_type.as_deref(),
        Some("Alphanumeric")
    );

    let python = r#"
"""Transmitter record: (default value, length, fill character, transform). Don't reorder."""
_ITEMS = [
    ("record_type", ("T", 1, "\x00", lambda x: x)),
    ("payment_year", ("0000", 4, "0", digits_only)),
    ("total_number_of_payees",
     ("00000000", 8, "0", lambda x: rjust_zero(x, 8))),
]
"#;
    let parsed = parse(python).unwrap();
    assert_eq!(
        place(&parsed, "_ITEMS/payment_year"),
        (2, 4),
        "lengths alone: fields follow one another"
    );
    assert_eq!(place(&parsed, "_ITEMS/total_number_of_payees"), (6, 8));

    let js = r#"
export const PAYER_RECORD = [
  { name: 'recordType', start: 1, length: 1, type: 'AN', required: true },
  { name: 'paymentYear', start: 2, length: 4, type: 'N', required: true },
];
const RUBY_STYLE = { 'tcc' => [16, 5], 'blank' => [21, 7] }
"#;
    let parsed = parse(js).unwrap();
    assert_eq!(place(&parsed, "PAYER_RECORD/paymentYear"), (2, 4));
    assert_eq!(record(&parsed, "PAYER_RECORD/paymentYear").attributes["required"], true);
    assert_eq!(place(&parsed, "RUBY_STYLE/tcc"), (16, 5));
}

#[test]
fn numbers_past_any_record_are_not_positions() {
    let csv = "field,start,length\nA,1,2\nB,18446744073709551615,18446744073709551615\nC,3,1\n";
    let parsed = parse(csv).unwrap();
    assert_eq!(
        parsed.records.iter().filter(|r| r.kind == "irs.field").count(),
        2,
        "B is not placed"
    );
    assert!(
        parsed.warnings.iter().any(|w| w.message.contains("B: no length")),
        "{:?}",
        parsed.warnings
    );
}

#[test]
fn what_holds_no_layout_is_refused() {
    assert_eq!(parse("").unwrap_err().class, "no_layout");
    assert_eq!(parse("just prose, no table\n").unwrap_err().class, "no_layout");
    assert_eq!(
        parse("x = {1, 2}\ny = [\"a\", \"b\"]\n").unwrap_err().class,
        "no_layout"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(256))]

    #[test]
    fn any_text_is_records_or_a_refusal_never_a_panic(text in "(\\PC|\\n){0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn code_shaped_noise_is_records_or_a_refusal(text in "([a-z]|[0-9]|[{}()\\[\\],:=\"'#/*-]| |\\n){0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn every_cut_of_a_publication_is_read_or_refused(cut in 0usize..PUBLICATION.len()) {
        if PUBLICATION.is_char_boundary(cut) {
            let _ = parse(&PUBLICATION[..cut]);
        }
    }
}

#[test]
fn crlf_tables_keep_every_row_and_its_line() {
    let csv = "field,start,length\r\nA,1,2\r\nB,3,4\r\n\r\nC,7,1\r\n";
    let parsed = parse(csv).unwrap();
    let lines: Vec<(&str, u32)> = parsed
        .records
        .iter()
        .filter(|r| r.kind == "irs.field")
        .map(|r| (r.name.as_str(), r.line_start))
        .collect();
    assert_eq!(lines, [("A", 2), ("B", 3), ("C", 5)]);
}
