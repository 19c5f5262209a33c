//! Per-client rate limiting for voters: a token bucket per client address (IPv4
//! address, or the /64 of an IPv6 one), refilled at `per_minute` tokens a minute up to
//! `burst`. Starting a battle and voting each take one token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Error, Result};

/// Rate limit settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Tokens per minute per client (default 60: a vote every two seconds, each with
    /// its battle). 0 turns the limit off.
    pub per_minute: f64,
    /// Bucket size: requests a client may make at once (default 20).
    pub burst: f64,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            per_minute: 60.0,
            burst: 20.0,
        }
    }
}

impl RateConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// A negative rate, or a burst below 1 with the limit on.
    pub fn validate(&self) -> Result<()> {
        if !(self.per_minute >= 0.0 && self.per_minute.is_finite())
            || (self.per_minute > 0.0 && !(self.burst >= 1.0 && self.burst.is_finite()))
        {
            return Err(Error::Config(format!(
                "rate limit needs per_minute >= 0 and burst >= 1 (got {} and {})",
                self.per_minute, self.burst
            )));
        }
        Ok(())
    }
}

/// Buckets past this many are pruned (full ones first) so memory stays bounded.
const MAX_CLIENTS: usize = 100_000;

/// Token buckets per client.
#[derive(Debug)]
pub struct RateLimiter {
    cfg: RateConfig,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// The client key of an address: IPv4 as is, IPv6 by its /64 (one host holds a /64).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl RateLimiter {
    /// A limiter.
    pub fn new(cfg: RateConfig) -> Self {
        Self {
            cfg,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip` at time `now`.
    ///
    /// # Errors
    /// 429 with the seconds to wait when the bucket is empty.
    pub fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), ApiError> {
        if self.cfg.per_minute <= 0.0 {
            return Ok(());
        }
        let rate = self.cfg.per_minute / 60.0;
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_CLIENTS {
            let burst = self.cfg.burst;
            map.retain(|_, (t, at)| *t + now.duration_since(*at).as_secs_f64() * rate < burst);
            if map.len() >= MAX_CLIENTS {
                map.clear();
            }
        }
        let (tokens, at) = map.entry(client_key(ip)).or_insert((self.cfg.burst, now));
        *tokens =
            (*tokens + now.saturating_duration_since(*at).as_secs_f64() * rate).min(self.cfg.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / rate).ceil().max(1.0) as u64;
            let mut e = ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from this client; try again in {wait} s"),
            );
            e.retry_after = Some(wait);
            Err(e)
        }
    }

    /// Takes one token for `ip` now.
    ///
    /// # Errors
    /// As [`RateLimiter::check_at`].
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.check_at(ip, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills_at_the_rate() {
        let l = RateLimiter::new(RateConfig {
            per_minute: 60.0,
            burst: 3.0,
        });
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            l.check_at(ip, t0).unwrap();
        }
        let e = l.check_at(ip, t0).unwrap_err();
        assert_eq!((e.status.as_u16(), e.retry_after), (429, Some(1)));
        // Another client is not affected; one second later one token is back.
        l.check_at("10.1.2.4".parse().unwrap(), t0).unwrap();
        l.check_at(ip, t0 + Duration::from_millis(1000)).unwrap();
        assert!(l.check_at(ip, t0 + Duration::from_millis(1000)).is_err());
        // Two addresses in one IPv6 /64 share a bucket.
        assert_eq!(
            client_key("2001:db8::1".parse().unwrap()),
            client_key("2001:db8::ffff".parse().unwrap())
        );
    }
}
