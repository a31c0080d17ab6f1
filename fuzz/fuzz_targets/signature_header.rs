//! The HMAC `Authorization` header (`signature=<hex>, nonce=<nonce>, timestamp=<ISO 8601>`) and
//! its timestamp.
//!
//! A parsed header obeys the grammar and writes back to itself; a parsed timestamp is an ISO 8601
//! UTC date and time that exists (years 1 to 9999) and writes back to the same second.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voicegate::identity::signatures::{hex, is_signature_header, parse_header, parse_timestamp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(header) = parse_header(text) {
        assert!(!header.nonce.is_empty() && header.nonce.len() <= 128);
        assert!(header.timestamp.len() <= 40);
        for part in [&header.nonce, &header.timestamp] {
            assert!(!part.contains(','), "{part:?} holds a separator");
            assert_eq!(part.trim(), part.as_str(), "{part:?} is not trimmed");
            assert!(text.contains(part.as_str()));
        }
        assert!(text.contains("signature") && text.contains("nonce") && text.contains("timestamp"));
        let canonical = format!(
            "signature={}, nonce={}, timestamp={}",
            hex(&header.signature),
            header.nonce,
            header.timestamp
        );
        assert!(is_signature_header(&canonical));
        assert_eq!(
            parse_header(&canonical).as_ref(),
            Some(&header),
            "{canonical}"
        );
        // The nonce and timestamp may come first.
        let reordered = format!(
            "timestamp={}, nonce={}, signature={}",
            header.timestamp,
            header.nonce,
            hex(&header.signature).to_uppercase()
        );
        assert_eq!(
            parse_header(&reordered).as_ref(),
            Some(&header),
            "{reordered}"
        );
    }
    let parsed = parse_timestamp(text);
    assert_eq!(
        parsed.is_some(),
        is_iso_utc(text),
        "{text:?} gave {parsed:?}"
    );
    if let Some(at) = parsed {
        assert!(
            (-62_135_596_800..=253_402_300_800).contains(&at),
            "{text} gave {at}"
        );
        let written = iso(at);
        // (A leap second at the end of 9999 is the first second of 10000, which cannot be written.)
        if at < 253_402_300_800 {
            assert_eq!(
                parse_timestamp(&written),
                Some(at),
                "{text} → {at} → {written}"
            );
        }
        // The date and time of day as written are the ones parsed (a leap second is the next
        // minute's first).
        if !text[17..19].starts_with("60") {
            assert_eq!(&text[..19], &written[..19], "{text} → {written}");
        }
    }
});

/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of digits, then nothing, `Z` or `+00:00`; a date
/// that exists, years 1 to 9999, seconds up to 60 (a leap second).
fn is_iso_utc(text: &str) -> bool {
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))
        .unwrap_or(text);
    let bytes = text.as_bytes();
    if bytes.len() < 19 {
        return false;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &bytes[range];
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let separators = bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':';
    let fraction = match &bytes[19..] {
        [] => true,
        [b'.', rest @ ..] => !rest.is_empty() && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    separators
        && fraction
        && (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (Howard Hinnant's civil-from-days).
fn iso(at: i64) -> String {
    let (days, second_of_day) = (at.div_euclid(86_400), at.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}
