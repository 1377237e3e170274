//! Data dictionaries into records: files, subfiles, type codes, both text forms, bad input.

use super::*;

fn record<'a>(parsed: &'a Parsed, path: &str) -> &'a MetadataRecord {
    parsed.records.iter().find(|r| r.path == path).unwrap_or_else(|| {
        panic!(
            "no {path}: {:?}",
            parsed.records.iter().map(|r| &r.path).collect::<Vec<_>>()
        )
    })
}

const ZWR: &str = r#"OSEHRA ZGO Export: DD
^DIC(9000,0)="WIDGET^9000"
^DIC(9000,0,"GL")="^WID(9000,"
^DD(9000,0)="FIELD^^4^5"
^DD(9000,0,"NM","WIDGET")=""
^DD(9000,.01,0)="NAME^RFX^^0;1^K:$L(X)>30!($L(X)<3) X"
^DD(9000,.01,3)="Answer must be 3-30 characters in length."
^DD(9000,.01,21,0)="^^2^2^3200101^"
^DD(9000,.01,21,1,0)="The widget's name,"
^DD(9000,.01,21,2,0)="as printed on its box."
^DD(9000,1,0)="COLOR^S^R:RED;G:GREEN;B:BLUE;^0;2^Q"
^DD(9000,2,0)="MAKER^P200'^VA(200,^0;3^Q"
^DD(9000,3,0)="WEIGHT^NJ8,2^^0;4^K:+X'=X!(X>99999)!(X<0) X"
^DD(9000,4,0)="NOTES^9000.01^^1;0"
^DD(9000,5,0)="PARTS^9000.02P^^2;0"
^DD(9000,"B","NAME",.01)=""
^DD(9000.01,0)="NOTES SUB-FIELD^^.01^1"
^DD(9000.01,0,"UP")=9000
^DD(9000.01,.01,0)="NOTES^W^^0;1^Q"
^DD(9000.02,0)="PARTS SUB-FIELD^^.01^1"
^DD(9000.02,0,"UP")=9000
^DD(9000.02,.01,0)="PART^MP9000'^WID(9000,^0;1^Q"
^DD(9000.02,.02,0)="ADDED^D^^0;2^S %DT=""EX"" D ^%DT S X=Y K:Y<1 X"
^DD(9000.02,.03,0)="LABEL^F^^0;3^K:$L(X)>10 X"_$C(9)_"Q"
"#;

#[test]
fn a_zwr_export_gives_files_subfiles_and_decoded_fields() {
    let parsed = parse(ZWR).unwrap();
    let kinds: Vec<(&str, &str)> = parsed.records.iter().map(|r| (r.kind, r.path.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("mumps.file", "9000"),
            ("mumps.field", "9000/.01"),
            ("mumps.field", "9000/1"),
            ("mumps.field", "9000/2"),
            ("mumps.field", "9000/3"),
            ("mumps.field", "9000/4"),
            ("mumps.field", "9000/5"),
            ("mumps.subfile", "9000.01"),
            ("mumps.field", "9000.01/.01"),
            ("mumps.subfile", "9000.02"),
            ("mumps.field", "9000.02/.01"),
            ("mumps.field", "9000.02/.02"),
            ("mumps.field", "9000.02/.03"),
        ],
        "numbers in FileMan order (.01 before 1), cross-references not fields"
    );
    let file = record(&parsed, "9000");
    assert_eq!(file.name, "WIDGET");
    assert_eq!(file.attributes["global_root"], "^WID(9000,");
    assert_eq!(file.attributes["field_count"], 5);

    let name = record(&parsed, "9000/.01");
    assert_eq!(name.name, "NAME");
    assert_eq!(name.data_type.as_deref(), Some("free_text"));
    assert_eq!(name.attributes["required"], true);
    assert_eq!(name.attributes["input_transform"], true);
    assert_eq!(name.attributes["help"], "Answer must be 3-30 characters in length.");
    assert_eq!(
        name.attributes["description"],
        "The widget's name,\nas printed on its box."
    );
    assert_eq!(name.attributes["storage_node"], "0");
    assert_eq!(name.attributes["storage_piece"], "1");
    assert_eq!((name.line_start, name.line_end), (6, 10));

    let color = record(&parsed, "9000/1");
    assert_eq!(color.attributes["type"], "set_of_codes");
    assert_eq!(
        color.attributes["codes"],
        json!({"R": "RED", "G": "GREEN", "B": "BLUE"})
    );
    let maker = record(&parsed, "9000/2");
    assert_eq!(maker.attributes["type"], "pointer");
    assert_eq!(maker.attributes["pointer_file"], "200");
    assert_eq!(maker.attributes["pointer_global"], "VA(200,");
    let weight = record(&parsed, "9000/3");
    assert_eq!(
        (
            weight.attributes["width"].clone(),
            weight.attributes["decimals"].clone()
        ),
        (json!(8), json!(2))
    );
    assert_eq!(record(&parsed, "9000/4").attributes["type"], "word_processing");
    assert_eq!(record(&parsed, "9000/5").attributes["type"], "multiple");
    assert_eq!(record(&parsed, "9000/5").attributes["subfile"], "9000.02");

    let notes = record(&parsed, "9000.01");
    assert_eq!(notes.parent.as_deref(), Some("9000"));
    assert_eq!(notes.name, "NOTES");
    assert_eq!(notes.attributes["field"], "4");
    assert_eq!(notes.attributes["word_processing"], true);
    let part = record(&parsed, "9000.02/.01");
    assert_eq!(
        part.attributes["pointer_file"], "9000",
        "MP9000': a pointer asked again"
    );
    assert_eq!(record(&parsed, "9000.02/.02").attributes["type"], "date");
    assert_eq!(record(&parsed, "9000.02/.03").attributes["type"], "free_text");
}

#[test]
fn type_codes_decode_as_fileman_reads_them() {
    let never = |_: &str| false;
    let cases = [
        ("RFX", "free_text"),
        ("NJ3,0", "numeric"),
        ("DX", "date"),
        ("RD", "date"),
        ("DC", "computed"),
        ("Cm", "computed"),
        ("BC", "computed"),
        ("MS", "set_of_codes"),
        ("R*P200'X", "pointer"),
        ("V", "variable_pointer"),
        ("K", "mumps"),
        ("WL", "word_processing"),
        ("2048.01P", "multiple"),
        ("", "unknown"),
    ];
    for (code, name) in cases {
        assert_eq!(FieldType::decode(code, never).name(), name, "{code}");
    }
    assert_eq!(
        FieldType::decode("850.01", |s| s == "850.01"),
        FieldType::WordProcessing {
            subfile: Some("850.01".into())
        }
    );
}

#[test]
fn a_kids_build_is_read_as_pairs_of_lines() {
    let kids = "Released TST*1*1\r\n**KIDS**:TST*1.0*1^\r\n\r\n**INSTALL NAME**\r\nTST*1.0*1\r\n\
\"BLD\",1,0)\r\nTST*1.0*1^Test^0^3000101^y\r\n\
\"^DD\",9001,9001,0)\r\nFIELD^^.01^1\r\n\
\"^DD\",9001,9001,0,\"NM\",\"THING\")\r\n\r\n\
\"^DD\",9001,9001,.01,0)\r\nNAME^RF^^0;1^K:$L(X)>30 X\r\n\
\"^DD\",9001,9001,.01,3)\r\nA name, please.\r\n\
\"^DIC\",9001,9001,0)\r\nTHING^9001\r\n\
\"^DIC\",9001,9001,0,\"GL\")\r\n^TST(9001,\r\n\
**END**\r\n**END**\r\n";
    let parsed = parse(kids).unwrap();
    assert_eq!(parsed.records.len(), 2);
    let file = record(&parsed, "9001");
    assert_eq!(file.name, "THING");
    assert_eq!(file.attributes["global_root"], "^TST(9001,");
    assert_eq!((file.line_start, file.line_end), (8, 15));
    let field = record(&parsed, "9001/.01");
    assert_eq!(field.attributes["help"], "A name, please.");
    assert_eq!((field.line_start, field.line_end), (12, 15));
}

#[test]
fn what_is_not_a_dictionary_is_refused() {
    assert_eq!(parse("").unwrap_err().class, "no_data_dictionary");
    assert_eq!(parse("^XTMP(1)=\"a\"\n").unwrap_err().class, "no_data_dictionary");
    let broken = parse("^DD(9000,.01,0)=\"NAME^F\n").unwrap_err();
    assert_eq!((broken.class, broken.line), ("parse_error", Some(1)));
    let bad_subscript = parse("^DD(9000,X,0)=\"NAME^F\"\n").unwrap_err();
    assert_eq!(bad_subscript.class, "parse_error");
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(256))]

    #[test]
    fn any_text_is_records_or_a_refusal_never_a_panic(text in "(\\PC|\\n){0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn global_shaped_noise_is_records_or_a_refusal(text in "(\\^DD\\(|\\^DIC\\(|[0-9.,\"^;:=()$C_]|[A-Z]|\\n){0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn every_cut_of_an_export_is_read_or_refused(cut in 0usize..ZWR.len()) {
        if ZWR.is_char_boundary(cut) {
            let _ = parse(&ZWR[..cut]);
        }
    }
}
