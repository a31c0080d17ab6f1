//! Decoding a user's bytes into text, and splitting text into tokens.

/// Decodes UTF-8, also accepting CESU-8 surrogate pairs (a character outside the Basic
/// Multilingual Plane written as two 3-byte halves, as some JSON writers do: the benchmark's
/// `train_PlayMusic_full.json` holds one). Any other invalid byte sequence is an error giving
/// the byte offset where it starts.
pub(crate) fn decode_text(bytes: &[u8]) -> Result<String, usize> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    let mut offset = 0usize;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                break;
            }
            Err(error) => {
                let valid = error.valid_up_to();
                // Checked by from_utf8 just above.
                out.push_str(std::str::from_utf8(&rest[..valid]).unwrap_or_default());
                let bad = &rest[valid..];
                match cesu8_pair(bad) {
                    Some(character) => {
                        out.push(character);
                        rest = &bad[6..];
                        offset += valid + 6;
                    }
                    None => return Err(offset + valid),
                }
            }
        }
    }
    Ok(out)
}

/// A surrogate pair encoded as two 3-byte sequences (ED A0..AF xx, ED B0..BF xx).
fn cesu8_pair(bytes: &[u8]) -> Option<char> {
    if bytes.len() < 6 {
        return None;
    }
    let (high, low) = (&bytes[..3], &bytes[3..6]);
    let is_cont = |b: u8| b & 0xC0 == 0x80;
    if high[0] != 0xED || !(0xA0..=0xAF).contains(&high[1]) || !is_cont(high[2]) {
        return None;
    }
    if low[0] != 0xED || !(0xB0..=0xBF).contains(&low[1]) || !is_cont(low[2]) {
        return None;
    }
    let high_unit = 0xD000 | (u32::from(high[1] & 0x3F) << 6) | u32::from(high[2] & 0x3F);
    let low_unit = 0xD000 | (u32::from(low[1] & 0x3F) << 6) | u32::from(low[2] & 0x3F);
    let code = 0x10000 + ((high_unit - 0xD800) << 10) + (low_unit - 0xDC00);
    char::from_u32(code)
}

/// A token of an input text: a run of letters and digits (with inner apostrophes), or one
/// other non-space character. Offsets are in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) lower: String,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Splits text into tokens (see [`Token`]).
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, character)) = chars.next() {
        if character.is_whitespace() {
            continue;
        }
        let mut end = start + character.len_utf8();
        if (character == '\'' || character == '’') && possessive(&text[start..]) {
            end += 1;
            chars.next();
        } else if character.is_alphanumeric() {
            while let Some(&(index, next)) = chars.peek() {
                let after = text[index + next.len_utf8()..].chars().next();
                let in_number = (next == '.' || next == ',')
                    && text[..index].ends_with(|c: char| c.is_ascii_digit())
                    && after.is_some_and(|c| c.is_ascii_digit());
                if next.is_alphanumeric() || in_number {
                    // "3.5" and "1,000" stay one token.
                    end = index + next.len_utf8();
                    chars.next();
                } else if next == '\'' || next == '’' {
                    // An apostrophe inside a word ("don't") keeps the word whole, except the
                    // possessive "'s" ("Dave Seaman's"), a token of its own: a name's slot
                    // value ends before it.
                    if after.is_some_and(char::is_alphanumeric) && !possessive(&text[index..]) {
                        end = index + next.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                } else {
                    break;
                }
            }
        }
        let token_text = &text[start..end];
        tokens.push(Token {
            text: token_text.to_owned(),
            lower: token_text.to_lowercase(),
            start,
            end,
        });
    }
    tokens
}

/// Whether `text` starts with a possessive "'s" (or "’s"): an apostrophe, an `s`, then no letter
/// or digit.
fn possessive(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some('\'' | '’'))
        && matches!(chars.next(), Some('s' | 'S'))
        && !chars.next().is_some_and(char::is_alphanumeric)
}

/// The text's tokens, lowercased and joined by single spaces: the key of the exact-match lookup.
pub(crate) fn normalized(text: &str) -> String {
    let tokens = tokenize(text);
    let mut out = String::with_capacity(text.len());
    for (index, token) in tokens.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(&token.lower);
    }
    out
}

/// Converts a byte offset of `text` into a character offset (Snips' ranges count characters).
pub(crate) fn char_offset(text: &str, byte_offset: usize) -> usize {
    text.get(..byte_offset)
        .map_or(0, |prefix| prefix.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cesu8_pairs_are_decoded_and_other_bad_bytes_named() {
        let pizza = [b'a', 0xED, 0xA0, 0xBC, 0xED, 0xBD, 0x95, b'b'];
        assert_eq!(decode_text(&pizza).as_deref(), Ok("a\u{1F355}b"));
        assert_eq!(decode_text(&[b'a', b'b', 0xFF, b'c']), Err(2));
        assert_eq!(decode_text(&[0xED, 0xA0, 0xBC]), Err(0));
    }

    #[test]
    fn tokens_keep_inner_apostrophes() {
        let tokens: Vec<String> = tokenize("Don't play 'Hey Jude', 3.5 ok")
            .into_iter()
            .map(|token| token.text)
            .collect();
        assert_eq!(
            tokens,
            ["Don't", "play", "'", "Hey", "Jude", "'", ",", "3.5", "ok"]
        );
        let tokens: Vec<String> = tokenize("Dave Seaman's ep, Jones’s and it's")
            .into_iter()
            .map(|token| token.text)
            .collect();
        assert_eq!(
            tokens,
            [
                "Dave", "Seaman", "'s", "ep", ",", "Jones", "’s", "and", "it", "'s"
            ]
        );
        assert_eq!(normalized("  Play   THE song "), "play the song");
    }
}
