//! espeak-ng's phoneme mnemonics (as `Espeak::phonemes` gives them for English) mapped to the
//! CMU phone set the PocketSphinx en-us acoustic model uses: a pronunciation for words its
//! dictionary lacks.

use crate::SpeechError;
use crate::espeak::Espeak;

/// Mnemonics (longest first) and the CMU phones they become.
const TABLE: &[(&str, &[&str])] = &[
    ("aI@", &["AY", "ER"]),
    ("aU@", &["AW", "ER"]),
    ("tS", &["CH"]),
    ("dZ", &["JH"]),
    ("aI", &["AY"]),
    ("aU", &["AW"]),
    ("eI", &["EY"]),
    ("oU", &["OW"]),
    ("OI", &["OY"]),
    ("e@", &["EH", "R"]),
    ("i@", &["IH", "R"]),
    ("U@", &["UH", "R"]),
    ("A@", &["AA", "R"]),
    ("O@", &["AO", "R"]),
    ("o@", &["AO", "R"]),
    ("3:", &["ER"]),
    ("A:", &["AA"]),
    ("i:", &["IY"]),
    ("u:", &["UW"]),
    ("O:", &["AO"]),
    ("a#", &["AH"]),
    ("@L", &["AH", "L"]),
    ("t#", &["T"]),
    ("d#", &["D"]),
    ("@", &["AH"]),
    ("3", &["ER"]),
    ("a", &["AE"]),
    ("A", &["AA"]),
    ("E", &["EH"]),
    ("I", &["IH"]),
    ("i", &["IY"]),
    ("O", &["AO"]),
    ("V", &["AH"]),
    ("U", &["UH"]),
    ("u", &["UW"]),
    ("0", &["AA"]),
    ("e", &["EH"]),
    ("o", &["OW"]),
    ("b", &["B"]),
    ("d", &["D"]),
    ("D", &["DH"]),
    ("f", &["F"]),
    ("g", &["G"]),
    ("h", &["HH"]),
    ("j", &["Y"]),
    ("k", &["K"]),
    ("x", &["K"]),
    ("l", &["L"]),
    ("m", &["M"]),
    ("n", &["N"]),
    ("N", &["NG"]),
    ("p", &["P"]),
    ("r", &["R"]),
    ("R", &["R"]),
    ("*", &["T"]),
    ("s", &["S"]),
    ("S", &["SH"]),
    ("t", &["T"]),
    ("T", &["TH"]),
    ("v", &["V"]),
    ("w", &["W"]),
    ("z", &["Z"]),
    ("Z", &["ZH"]),
];

/// Marks that carry no phone: stress, length, syllable and word boundaries, variants.
const SKIPPED: &str = "',%=_:;|-!#?^2456789 ";

/// The CMU phones of espeak-ng mnemonics, or `None` when a mnemonic is not in the table.
pub fn mnemonics_to_cmu(mnemonics: &str) -> Option<Vec<String>> {
    let mut phones = Vec::new();
    let mut rest = mnemonics;
    'outer: while let Some(first) = rest.chars().next() {
        for (mnemonic, cmu) in TABLE {
            if let Some(after) = rest.strip_prefix(mnemonic) {
                phones.extend(cmu.iter().map(|p| (*p).to_owned()));
                rest = after;
                continue 'outer;
            }
        }
        if SKIPPED.contains(first) {
            rest = &rest[first.len_utf8()..];
            continue;
        }
        return None;
    }
    (!phones.is_empty()).then_some(phones)
}

/// A word's CMU phones as espeak-ng's `voice` says it (`Ok(None)` when it cannot be mapped).
pub fn pronounce(
    espeak: &Espeak,
    voice: &str,
    word: &str,
) -> Result<Option<Vec<String>>, SpeechError> {
    Ok(mnemonics_to_cmu(&espeak.phonemes(voice, word)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_map_to_cmu_phones() {
        let cases = [
            ("l'aUndZ", "L AW N JH"),
            ("T'3:m@st,at", "TH ER M AH S T AE T"),
            ("tw'Ent2i w'Vn", "T W EH N T IY W AH N"),
            ("t'ElI#v,IZ@n", "T EH L IH V IH ZH AH N"),
        ];
        for (mnemonics, cmu) in cases {
            assert_eq!(
                mnemonics_to_cmu(mnemonics).map(|p| p.join(" ")).as_deref(),
                Some(cmu)
            );
        }
        assert_eq!(mnemonics_to_cmu("k'\u{e9}"), None);
        assert_eq!(mnemonics_to_cmu("''"), None);
    }

    #[test]
    fn espeak_pronounces_words_it_knows() {
        let espeak = Espeak::new().unwrap();
        let phones = pronounce(&espeak, "en-us", "lounge").unwrap().unwrap();
        assert_eq!(phones.join(" "), "L AW N JH");
    }
}
