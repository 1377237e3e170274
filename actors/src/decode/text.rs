//! Text encodings of csv files: detection and a streaming transcoder to UTF-8.
//!
//! Suppliers' csv exports come in UTF-8 (with or without a BOM), UTF-16 from Excel's
//! "Unicode text", and the legacy code pages of their locale: Windows-1251, KOI8-R, CP866,
//! Windows-1252. Invalid bytes become U+FFFD; they never stop the read.

use std::io::{self, Read};

use encoding_rs::{CoderResult, Decoder, Encoding, UTF_8};

/// How many bytes from the top are inspected to guess the encoding.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// The encoding of a file from its first bytes: a BOM wins, then valid UTF-8, then a guess.
pub fn detect_encoding(head: &[u8]) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(head) {
        return encoding;
    }
    match std::str::from_utf8(head) {
        Ok(_) => return UTF_8,
        // Only the last character is cut by the sample boundary: still UTF-8.
        Err(e) if e.error_len().is_none() => return UTF_8,
        Err(_) => {}
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(head, head.len() < SNIFF_BYTES);
    detector.guess(None, false)
}

/// The encoding an operator named (`windows-1251`, `cp1251`, `utf-8`, …).
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes())
}

/// Decodes any encoding into UTF-8 while reading, removing a BOM.
pub struct Utf8Reader<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    eof: bool,
    /// The decoder has seen the end of the input and flushed: it must not be called again.
    finished: bool,
    /// Decoded text not yet handed out; callers may ask for fewer bytes than a character.
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
}

impl<R: Read> Utf8Reader<R> {
    pub fn new(inner: R, encoding: &'static Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; 64 * 1024],
            in_start: 0,
            in_end: 0,
            eof: false,
            finished: false,
            output: vec![0; 64 * 1024 + 16],
            out_start: 0,
            out_end: 0,
        }
    }

    /// Decodes more input into `output`; false once everything has been decoded.
    fn refill(&mut self) -> io::Result<bool> {
        loop {
            if self.finished {
                return Ok(false);
            }
            if self.in_start == self.in_end && !self.eof {
                let n = self.inner.read(&mut self.input)?;
                self.in_start = 0;
                self.in_end = n;
                self.eof = n == 0;
            }
            let (result, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[self.in_start..self.in_end], &mut self.output, self.eof);
            self.in_start += read;
            self.out_start = 0;
            self.out_end = written;
            // With `last` set, InputEmpty means the decoder has also flushed what it held (a
            // cut-off character becomes U+FFFD): another call would panic inside encoding_rs.
            if self.eof && result == CoderResult::InputEmpty {
                self.finished = true;
            }
            if written > 0 {
                return Ok(true);
            }
        }
    }
}

impl<R: Read> Read for Utf8Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.out_start == self.out_end && !self.refill()? {
            return Ok(0);
        }
        let n = out.len().min(self.out_end - self.out_start);
        out[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], encoding: &'static Encoding) -> String {
        let mut s = String::new();
        Utf8Reader::new(bytes, encoding).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn windows_1251_is_detected_and_decoded() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251
            .encode("Артикул;Наименование;Цена\nA-1;Молоток слесарный;350,00\nA-2;Отвертка крестовая;120,50\n");
        let encoding = detect_encoding(&bytes);
        assert_eq!(encoding, encoding_rs::WINDOWS_1251);
        assert!(read_all(&bytes, encoding).starts_with("Артикул;Наименование"));
    }

    #[test]
    fn legacy_code_pages_are_detected_and_read_back_as_written() {
        let russian = "Артикул;Наименование товара;Цена оптовая, руб.\n\
            A-1;Молоток слесарный 500 г;350,00\nA-2;Отвертка крестовая PH2;120,50\n\
            A-3;Клещи переставные;480,00\nA-4;Набор шестигранников;215,00\n";
        let french = "Référence;Désignation;Prix unitaire €\n\
            CR-1;Crème brûlée à la vanille;12,50\nCR-2;Pâté de campagne façon grand-mère;8,90\n\
            CR-3;Bûche de Noël au café;24,00\n";
        for (encoding, text) in [
            (encoding_rs::KOI8_R, russian),
            (encoding_rs::IBM866, russian),
            (encoding_rs::WINDOWS_1251, russian),
            (encoding_rs::WINDOWS_1252, french),
        ] {
            let (bytes, _, unmappable) = encoding.encode(text);
            assert!(!unmappable, "{}", encoding.name());
            let detected = detect_encoding(&bytes);
            assert_eq!(
                read_all(&bytes, detected),
                text,
                "{} read as {}",
                encoding.name(),
                detected.name()
            );
        }
    }

    #[test]
    fn utf8_bom_is_removed() {
        let bytes = b"\xEF\xBB\xBFsku,name\n";
        assert_eq!(detect_encoding(bytes), UTF_8);
        assert_eq!(read_all(bytes, UTF_8), "sku,name\n");
    }

    #[test]
    fn utf16_with_bom_is_decoded() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "sku\tЦена\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let encoding = detect_encoding(&bytes);
        assert_eq!(read_all(&bytes, encoding), "sku\tЦена\n");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let bytes = b"ok\xFF\xFEok";
        assert_eq!(read_all(bytes, UTF_8), "ok\u{FFFD}\u{FFFD}ok");
    }

    #[test]
    fn tiny_output_buffers_still_make_progress() {
        let mut reader = Utf8Reader::new("Жж".as_bytes(), UTF_8);
        let mut out = Vec::new();
        let mut buf = [0u8; 1];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(String::from_utf8(out).unwrap(), "Жж");
    }

    /// Reads through `buf_len`-byte reads, as a caller with a tiny buffer would.
    fn read_in_steps(bytes: &[u8], encoding: &'static Encoding, buf_len: usize) -> String {
        let mut reader = Utf8Reader::new(bytes, encoding);
        let mut out = Vec::new();
        let mut buf = vec![0u8; buf_len];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        // The end stays the end: the finished decoder is not called again.
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_character_cut_off_at_the_end_does_not_panic() {
        // The decoder flushes the cut-off character as U+FFFD on the last call; reading on
        // used to call the finished decoder again ("Must not use a decoder that has finished").
        let cases: [(&[u8], &'static Encoding); 4] = [
            (b"\xFF\xFEa\x00,\x00b\x00\n\x00\x41", encoding_rs::UTF_16LE),
            (b"a,b\n\x81", encoding_rs::SHIFT_JIS),
            (b"a,b\n\x81", encoding_rs::GB18030),
            (b"a,b\n\xA4", encoding_rs::BIG5),
        ];
        for (bytes, encoding) in cases {
            for buf_len in [1, 2, 3, 7, 64] {
                let text = read_in_steps(bytes, encoding, buf_len);
                assert!(text.ends_with('\u{FFFD}'), "{} {text:?}", encoding.name());
            }
        }
    }

    const ENCODINGS: [&Encoding; 10] = [
        encoding_rs::UTF_8,
        encoding_rs::UTF_16LE,
        encoding_rs::UTF_16BE,
        encoding_rs::WINDOWS_1251,
        encoding_rs::KOI8_R,
        encoding_rs::IBM866,
        encoding_rs::SHIFT_JIS,
        encoding_rs::GB18030,
        encoding_rs::BIG5,
        encoding_rs::EUC_KR,
    ];

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        #[test]
        fn any_bytes_decode_like_the_whole_buffer_at_once(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            which in 0..ENCODINGS.len(),
            buf_len in 1usize..9,
        ) {
            let encoding = ENCODINGS[which];
            let streamed = read_in_steps(&bytes, encoding, buf_len);
            let (whole, _) = encoding.decode_with_bom_removal(&bytes);
            proptest::prop_assert_eq!(streamed, whole.into_owned());
        }

        #[test]
        fn detection_takes_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
            let encoding = detect_encoding(&bytes);
            let _ = read_in_steps(&bytes, encoding, 5);
        }
    }
}
