//! Real copybooks with the layouts Cobrix prints for them (`generateRecordLayoutPositions`):
//! every field's level, name, start and length must agree. The files are Cobrix's test data
//! (Apache-2.0), kept in the corpus directory beside the price lists; `tests/corpus/SOURCES.md`
//! says where each comes from.

use intake_actors::metadata::cobol;

/// (level, NAME, 1-based start, length) of each line of a Cobrix layout.
fn layout(text: &str) -> Vec<(u64, String, u64, u64)> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let n = words.len();
            let number = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
            match number(0) {
                Some(level) if n >= 6 => Some((level, words[1].to_owned(), number(n - 3)?, number(n - 1)?)),
                // Some layouts print the record without its level.
                None if n >= 4 => Some((1, words[0].to_owned(), number(n - 3)?, number(n - 1)?)),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn copybooks_lay_out_as_cobrix_lays_them_out() {
    let dir = crate::helpers::corpus_dir("cobol");
    let pairs = [
        ("test6_copybook.cob", "test6_expected/test6_layout.txt"),
        ("test7_fillers.cob", "test7_expected/test7_layout.txt"),
        ("test11_copybook.cob", "test11_expected/test11_layout.txt"),
        ("test13a_file_header_footer.cob", "test13_expected/test13a_layout.txt"),
        ("test13b_vrl_file_headers.cob", "test13_expected/test13b_layout.txt"),
        ("test16_fix_len_segments.cob", "test16_expected/test16_layout.txt"),
        ("test17_hierarchical.cob", "test17_expected/test17a_layout.txt"),
        (
            "test19_display_num.cob",
            "test19_display_num_expected/test19_layout.txt",
        ),
        ("test24_copybook.cob", "test24_expected/test24_layout.txt"),
    ];
    let mut fields = 0;
    for (copybook, expected) in pairs {
        // Cobrix reads copybooks as ISO-8859-1.
        let bytes = std::fs::read(dir.join(copybook)).unwrap();
        let text: String = bytes.iter().map(|&b| b as char).collect();
        let book = cobol::parse(&text).unwrap_or_else(|e| panic!("{copybook}: {e}"));
        let ours: Vec<(u64, String, u64, u64)> = book
            .records
            .iter()
            .filter(|r| r.kind != "cobol.condition")
            .map(|r| {
                let a = &r.attributes;
                (
                    a["level"].as_u64().unwrap(),
                    r.name.replace('-', "_"),
                    a["offset"].as_u64().unwrap() + 1,
                    a["storage_length"].as_u64().unwrap(),
                )
            })
            .collect();
        // Cobrix's optional `_debug` twins of each field are not in the copybook.
        let theirs: Vec<_> = layout(&std::fs::read_to_string(dir.join(expected)).unwrap())
            .into_iter()
            .filter(|(_, name, _, _)| !name.ends_with("_debug"))
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{copybook}: fields");
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!(o, t, "{copybook}: (level, name, start, length)");
        }
        fields += ours.len();
    }
    println!("{fields} fields laid out as Cobrix lays them out");
    assert!(fields > 300);
}
