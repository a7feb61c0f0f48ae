//! The root key's backup code: what a person reads off a screen and types back to restore
//! their identity. Crockford base32 of the key plus a checksum; tolerant of case, `O`/`0`,
//! `I`/`L`/`1`, spaces and dashes. Owns only the text form; never stores anything.

use std::fmt;

use thiserror::Error;

use crate::crypto::{ROOT_KEY_LEN, RootKey};

const CHECKSUM_CONTEXT: &str = "mapeo 2026-11 backup code checksum v1";
/// Bytes of checksum appended to the key: a random typo passes with odds of 1 in 2^32.
const CHECKSUM_LEN: usize = 4;
/// Characters in a code, without separators: (16 + 4) bytes × 8 / 5.
pub const BACKUP_CODE_CHARS: usize = (ROOT_KEY_LEN + CHECKSUM_LEN) * 8 / 5;
/// Characters per group in the displayed code.
const GROUP: usize = 4;

/// A backup code that cannot be turned back into a root key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackupCodeError {
    /// Too few or too many characters (separators not counted).
    #[error("a backup code has {expected} characters, this one has {found}")]
    WrongLength {
        /// Characters found.
        found: usize,
        /// Characters expected.
        expected: usize,
    },
    /// A character that is not part of the code's alphabet.
    #[error("character {position} is not a letter or digit of a backup code")]
    BadCharacter {
        /// 1-based position among the code's characters.
        position: usize,
    },
    /// Every character is valid but the checksum does not match: a typo.
    #[error("the backup code has a typo")]
    Mistyped,
}

/// A root key's backup code, shown as groups of four characters separated by dashes.
#[derive(Clone, PartialEq, Eq)]
pub struct BackupCode(String);

impl fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupCode(..)")
    }
}

impl Drop for BackupCode {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

fn checksum(key: &[u8; ROOT_KEY_LEN]) -> [u8; CHECKSUM_LEN] {
    let full = blake3::derive_key(CHECKSUM_CONTEXT, key);
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&full[..CHECKSUM_LEN]);
    out
}

impl BackupCode {
    /// The code for a root key.
    pub fn from_root_key(key: &RootKey) -> Self {
        let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(ROOT_KEY_LEN + CHECKSUM_LEN));
        bytes.extend_from_slice(key.expose_bytes());
        bytes.extend_from_slice(&checksum(key.expose_bytes()));
        let plain = zeroize::Zeroizing::new(base32::encode(base32::Alphabet::Crockford, &bytes));
        let mut shown = String::with_capacity(BACKUP_CODE_CHARS + BACKUP_CODE_CHARS / GROUP);
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % GROUP == 0 {
                shown.push('-');
            }
            shown.push(c);
        }
        BackupCode(shown)
    }

    /// The code as a person should see it. Secret: show it only when asked.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a typed code back into the root key it encodes.
    pub fn parse(typed: &str) -> Result<RootKey, BackupCodeError> {
        let mut clean = zeroize::Zeroizing::new(String::with_capacity(BACKUP_CODE_CHARS));
        for c in typed.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            let position = clean.chars().count() + 1;
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c @ ('0'..='9' | 'A'..='Z') if c != 'U' => c,
                _ => return Err(BackupCodeError::BadCharacter { position }),
            };
            clean.push(c);
        }
        if clean.len() != BACKUP_CODE_CHARS {
            return Err(BackupCodeError::WrongLength {
                found: clean.len(),
                expected: BACKUP_CODE_CHARS,
            });
        }
        let bytes = zeroize::Zeroizing::new(
            base32::decode(base32::Alphabet::Crockford, &clean).ok_or(BackupCodeError::Mistyped)?,
        );
        if bytes.len() != ROOT_KEY_LEN + CHECKSUM_LEN {
            return Err(BackupCodeError::Mistyped);
        }
        let mut key = [0u8; ROOT_KEY_LEN];
        key.copy_from_slice(&bytes[..ROOT_KEY_LEN]);
        if checksum(&key)[..] != bytes[ROOT_KEY_LEN..] {
            zeroize::Zeroize::zeroize(&mut key);
            return Err(BackupCodeError::Mistyped);
        }
        Ok(RootKey::from_bytes(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    #[test]
    fn code_is_grouped_and_round_trips() {
        let key = RootKey::from_bytes([0x5A; 16]);
        let code = BackupCode::from_root_key(&key);
        let shown = code.expose();
        assert_eq!(shown.len(), BACKUP_CODE_CHARS + BACKUP_CODE_CHARS / 4 - 1);
        assert!(shown.split('-').all(|g| g.len() == 4));
        assert_eq!(BackupCode::parse(shown), Ok(key));
        assert_eq!(format!("{code:?}"), "BackupCode(..)");
    }

    #[test]
    fn typing_is_forgiving_about_case_lookalikes_and_separators() {
        let key = RootKey::from_bytes([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD,
            0xEE, 0xFF,
        ]);
        let code = BackupCode::from_root_key(&key).expose().to_owned();
        let relaxed: String = code
            .chars()
            .map(|c| match c {
                '0' => 'o',
                '1' => 'l',
                '-' => ' ',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        assert_eq!(BackupCode::parse(&format!("  {relaxed} ")), Ok(key.clone()));
        let ones_as_i = code.replace('1', "I").replace('-', "");
        assert_eq!(BackupCode::parse(&ones_as_i), Ok(key));
    }

    #[test]
    fn malformed_codes_are_typed_errors() {
        let code = BackupCode::from_root_key(&RootKey::from_bytes([9; 16]))
            .expose()
            .to_owned();
        assert_eq!(
            BackupCode::parse(&code[..code.len() - 2]),
            Err(BackupCodeError::WrongLength {
                found: BACKUP_CODE_CHARS - 2,
                expected: BACKUP_CODE_CHARS
            })
        );
        assert_eq!(
            BackupCode::parse(&format!("U{}", &code[1..])),
            Err(BackupCodeError::BadCharacter { position: 1 })
        );
        assert_eq!(
            BackupCode::parse("ab*"),
            Err(BackupCodeError::BadCharacter { position: 3 })
        );
        assert!(BackupCode::parse("").is_err());
    }

    proptest! {
        #[test]
        fn any_key_round_trips(bytes in any::<[u8; 16]>()) {
            let key = RootKey::from_bytes(bytes);
            let code = BackupCode::from_root_key(&key);
            prop_assert_eq!(BackupCode::parse(code.expose()), Ok(key));
        }

        #[test]
        fn a_single_wrong_character_is_never_a_different_key(
            bytes in any::<[u8; 16]>(),
            pos in 0usize..BACKUP_CODE_CHARS,
            replacement in 0usize..32,
        ) {
            let key = RootKey::from_bytes(bytes);
            let mut chars: Vec<u8> = BackupCode::from_root_key(&key).expose().bytes().filter(|b| *b != b'-').collect();
            prop_assume!(chars[pos] != ALPHABET[replacement]);
            chars[pos] = ALPHABET[replacement];
            let typed = String::from_utf8(chars).unwrap();
            match BackupCode::parse(&typed) {
                Err(BackupCodeError::Mistyped) => {}
                other => prop_assert!(false, "typo accepted or wrong error: {:?}", other.map(|_| ())),
            }
        }

        #[test]
        fn swapping_two_neighbours_is_detected(bytes in any::<[u8; 16]>(), pos in 0usize..BACKUP_CODE_CHARS - 1) {
            let key = RootKey::from_bytes(bytes);
            let mut chars: Vec<u8> = BackupCode::from_root_key(&key).expose().bytes().filter(|b| *b != b'-').collect();
            prop_assume!(chars[pos] != chars[pos + 1]);
            chars.swap(pos, pos + 1);
            let typed = String::from_utf8(chars).unwrap();
            prop_assert!(BackupCode::parse(&typed).is_err());
        }
    }
}
