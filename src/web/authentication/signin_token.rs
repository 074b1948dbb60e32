//! The sign-in form's CSRF token (SPEC §14): issued by the server, so a cookie set by anyone
//! else (a sibling subdomain, a script) is refused. It is `time.nonce.mac`, the mac an
//! HMAC-SHA256 under a key kept in the database, so every server on one database issues and
//! accepts the same tokens, and nothing is stored per visitor.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A token is good for this long after it was issued (the cookie's Max-Age).
pub const SIGNIN_TOKEN_SECONDS: i64 = 3600;

pub struct SigninTokens {
    key: Vec<u8>,
}

impl SigninTokens {
    pub fn new(key: &str) -> SigninTokens {
        SigninTokens { key: key.as_bytes().to_vec() }
    }

    fn mac(&self, message: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(message.as_bytes());
        mac
    }

    /// A new token, issued at `now_ms`.
    pub fn issue(&self, now_ms: i64) -> String {
        let message = format!("{now_ms:x}.{}", &crate::db::random_secret()[..32]);
        let mac = hex::encode(self.mac(&message).finalize().into_bytes());
        format!("{message}.{mac}")
    }

    /// Whether this server (or another on its database) issued `token` within the last
    /// `SIGNIN_TOKEN_SECONDS` before `now_ms`, and `min_left_ms` of that is still ahead.
    pub fn is_ours(&self, token: &str, now_ms: i64, min_left_ms: i64) -> bool {
        let Some((message, mac)) = token.rsplit_once('.') else { return false };
        let Some((issued, _nonce)) = message.split_once('.') else { return false };
        let Ok(issued) = i64::from_str_radix(issued, 16) else { return false };
        let age = now_ms - issued;
        if age < 0 || age + min_left_ms > SIGNIN_TOKEN_SECONDS * 1000 {
            return false;
        }
        let Ok(mac) = hex::decode(mac) else { return false };
        self.mac(message).verify_slice(&mac).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokens_issued_with_the_key_and_in_time_are_ours() {
        let tokens = SigninTokens::new("key one");
        let token = tokens.issue(1_000_000);
        assert!(tokens.is_ours(&token, 1_000_000, 0));
        assert!(tokens.is_ours(&token, 1_000_000 + 3_599_000, 0));
        assert!(!tokens.is_ours(&token, 1_000_000 + 3_601_000, 0), "too old");
        assert!(!tokens.is_ours(&token, 1_000_000 + 3_000_000, 700_000), "too little time left");
        assert!(!tokens.is_ours(&token, 999_000, 0), "from the future");
        assert!(!SigninTokens::new("key two").is_ours(&token, 1_000_000, 0), "another key");
        let mut forged = token.clone();
        forged.replace_range(0..1, "9");
        assert!(!tokens.is_ours(&forged, 1_000_000, 0));
        for junk in ["", "abc", "0.0.0", &"a".repeat(64)] {
            assert!(!tokens.is_ours(junk, 1_000_000, 0), "{junk}");
        }
    }
}
