//! Sign-in limits (SPEC §14), counted by `governor`'s keyed rate limiters, each try taking its
//! cell atomically *before* the password is checked, so parallel tries count like sequential
//! ones, and a try over a limit is refused without a password check:
//!
//! - per e-mail address: at most 10 password checks a minute (a burst of 10, then one every 6 s);
//! - per e-mail address *and* client address: at most 5 a minute, so one address alone never
//!   takes more than half of an e-mail's checks, and its owner signing in from elsewhere is at
//!   worst slowed down, never locked out;
//! - per client address: at most 30 a minute, whatever e-mail addresses it tries.
//!
//! The e-mail is keyed as typed (known or not, so the answer does not tell which addresses
//! exist). Kept in memory; `forget_idle` drops the keys whose limits are back to full.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Password checks a minute for one e-mail address, from anywhere.
pub const PER_EMAIL: u32 = 10;
/// For one e-mail address from one client address.
pub const PER_EMAIL_AND_ADDRESS: u32 = 5;
/// For one client address, whatever the e-mail.
pub const PER_ADDRESS: u32 = 30;

pub struct SigninThrottle {
    by_email: DefaultKeyedRateLimiter<String>,
    by_email_and_address: DefaultKeyedRateLimiter<(String, IpAddr)>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn per_minute(count: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(count).expect("a limit above zero"))
}

impl Default for SigninThrottle {
    fn default() -> SigninThrottle {
        SigninThrottle {
            by_email: RateLimiter::keyed(per_minute(PER_EMAIL)),
            by_email_and_address: RateLimiter::keyed(per_minute(PER_EMAIL_AND_ADDRESS)),
            by_address: RateLimiter::keyed(per_minute(PER_ADDRESS)),
            clock: DefaultClock::default(),
        }
    }
}

impl SigninThrottle {
    /// Takes one try of this e-mail from this address; `Err(wait)` when a limit is reached: the
    /// password must not be checked, and the next try may come after `wait`. The client address
    /// is checked first, so a client over its limit takes nothing from anyone's e-mail.
    pub fn try_sign_in(&self, email: &str, address: IpAddr) -> Result<(), Duration> {
        let address = address.to_canonical();
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(self.clock.now());
        self.by_address.check_key(&address).map_err(wait)?;
        self.by_email_and_address.check_key(&(email.to_owned(), address)).map_err(wait)?;
        self.by_email.check_key(&email.to_owned()).map_err(wait)?;
        Ok(())
    }

    /// Forgets the keys whose limits are full again: memory does not grow with old tries.
    pub fn forget_idle(&self) {
        self.by_email.retain_recent();
        self.by_email_and_address.retain_recent();
        self.by_address.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn one_address_takes_five_tries_of_an_email_and_its_owner_still_gets_in() {
        let throttle = SigninThrottle::default();
        for _ in 0..PER_EMAIL_AND_ADDRESS {
            assert!(throttle.try_sign_in("ann@example.com", address(1)).is_ok());
        }
        let wait = throttle.try_sign_in("ann@example.com", address(1)).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(12), "{wait:?}");
        // Ann, from her own address: not refused because someone else failed.
        assert!(throttle.try_sign_in("ann@example.com", address(2)).is_ok());
        // Another e-mail from the first address: its own limits.
        assert!(throttle.try_sign_in("bob@example.com", address(1)).is_ok());
    }

    #[test]
    fn an_email_gets_ten_checks_a_minute_from_everywhere_and_an_address_thirty() {
        let throttle = SigninThrottle::default();
        let allowed = (1..=20).filter(|&last| throttle.try_sign_in("ann@example.com", address(last)).is_ok()).count();
        assert_eq!(allowed, PER_EMAIL as usize);
        let allowed =
            (0..60).filter(|n| throttle.try_sign_in(&format!("user{n}@example.com"), address(100)).is_ok()).count();
        assert_eq!(allowed, PER_ADDRESS as usize);
        // IPv4 mapped into IPv6 is the same client.
        let mapped: IpAddr = "::ffff:127.0.0.100".parse().unwrap();
        assert!(throttle.try_sign_in("zed@example.com", mapped).is_err());
    }
}
