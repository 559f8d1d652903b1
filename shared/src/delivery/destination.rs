//! Where deliveries may go. Webhook URLs are chosen by users, so by default no request goes
//! to an address that is not globally routable (REFERENCE.md lists the ranges, after
//! Svix). The check applies to the address actually connected to: the HTTP client resolves
//! names through [`GuardedResolver`], which drops refused addresses, so the connection is
//! pinned to a checked address and DNS rebinding cannot get through.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, LazyLock},
};

use ipnet::IpNet;

/// The setting that allows ranges, named in every refusal.
pub const ALLOWED_CIDRS: &str = "ALLOWED_CIDRS";

const REFUSED_V4: [&str; 16] = [
    "0.0.0.0/8",          // this network, unspecified
    "10.0.0.0/8",         // private
    "100.64.0.0/10",      // carrier-grade NAT
    "127.0.0.0/8",        // loopback
    "169.254.0.0/16",     // link-local, cloud metadata (169.254.169.254)
    "172.16.0.0/12",      // private
    "192.0.0.0/24",       // IETF protocol assignments
    "192.0.2.0/24",       // documentation
    "192.88.99.0/24",     // 6to4 relay
    "192.168.0.0/16",     // private
    "198.18.0.0/15",      // benchmarking
    "198.51.100.0/24",    // documentation
    "203.0.113.0/24",     // documentation
    "224.0.0.0/4",        // multicast
    "240.0.0.0/4",        // reserved, broadcast
    "255.255.255.255/32", // broadcast
];

const REFUSED_V6: [&str; 9] = [
    "::/128",        // unspecified
    "::1/128",       // loopback
    "fe80::/10",     // link-local
    "fc00::/7",      // unique local
    "ff00::/8",      // multicast
    "64:ff9b::/96",  // NAT64, embeds IPv4
    "2002::/16",     // 6to4, embeds IPv4
    "2001:db8::/32", // documentation
    "100::/64",      // discard
];

/// The destination rules: the refused ranges, less what `ALLOWED_CIDRS` allows (read
/// by [`crate::settings`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub allowed: Vec<IpNet>,
    /// Refuse plain `http://` URLs (for production).
    pub https_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{ip} is not a public address; to allow it (for development) add its range to the {ALLOWED_CIDRS} setting")]
    NotPublic { ip: IpAddr },
    #[error("{host} resolves to {ip}, which is not a public address; to allow it (for development) add its range to the {ALLOWED_CIDRS} setting")]
    Address { host: String, ip: IpAddr },
    #[error("{0} cannot be resolved")]
    Unresolvable(String),
    #[error("only https URLs are allowed (the HTTPS_ONLY setting)")]
    NotHttps,
}

impl Policy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allowed.iter().any(|net| net.contains(&ip)) || is_global(ip)
    }

    /// Checks a URL's scheme and, if its host is an IP literal, the address.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refusal> {
        if self.https_only && url.scheme() != "https" {
            return Err(Refusal::NotHttps);
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        match literal {
            Some(ip) if !self.permits(ip) => Err(Refusal::NotPublic { ip: canonical(ip) }),
            _ => Ok(()),
        }
    }

    /// Resolves `host` and keeps the permitted addresses; refuses if none is.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| Refusal::Unresolvable(host.to_string()))?
            .collect();
        if found.is_empty() {
            return Err(Refusal::Unresolvable(host.to_string()));
        }
        // Any refused address refuses the name: a name that also points inward is not
        // trusted to be served from its public addresses.
        if let Some(bad) = found.iter().find(|a| !self.permits(a.ip())) {
            return Err(Refusal::Address {
                host: host.to_string(),
                ip: canonical(bad.ip()),
            });
        }
        Ok(found)
    }

    /// Checks a URL completely: scheme, literal address, or every address its name has.
    pub async fn check(&self, url: &url::Url) -> Result<(), Refusal> {
        self.check_url(url)?;
        match url.host() {
            Some(url::Host::Domain(name)) => self
                .resolve(name, url.port_or_known_default().unwrap_or(443))
                .await
                .map(|_| ()),
            _ => Ok(()),
        }
    }
}

/// IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible addresses are judged as the IPv4
/// address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The refused ranges, parsed once.
static REFUSED: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    REFUSED_V4
        .iter()
        .chain(REFUSED_V6.iter())
        .map(|net| net.parse().expect("the refused ranges are valid CIDRs"))
        .collect()
});

fn is_global(ip: IpAddr) -> bool {
    let inside = REFUSED.iter().any(|net| net.contains(&ip));
    // IPv4-compatible (::a.b.c.d, deprecated) embeds an IPv4 address too.
    let embedded_v4 = match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            s[..6] == [0, 0, 0, 0, 0, 0] && v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST
        }
        IpAddr::V4(_) => false,
    };
    !inside && !embedded_v4 && ip != IpAddr::V4(Ipv4Addr::BROADCAST)
}

/// The HTTP client's resolver: every name resolves only to permitted addresses.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    pub policy: Arc<Policy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            let addrs = policy
                .resolve(&host, 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Policy {
        Policy {
            allowed: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            https_only: false,
        }
    }

    fn refused(url: &str) -> bool {
        Policy::default()
            .check_url(&url::Url::parse(url).unwrap())
            .is_err()
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/", // decimal 127.0.0.1
            "http://0x7f.1/",     // hex, shortened
            "http://0177.0.0.1/", // octal
            "http://127.1/",      // shortened
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://192.0.2.10/",
            "http://198.51.100.7/",
            "http://203.0.113.9/",
            "http://224.0.0.1/",
            "http://0.0.0.0/",
            "http://255.255.255.255/",
            "http://240.0.0.1/",
            "http://198.18.0.1/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[ff02::1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[::]/",
            "http://[2001:db8::1]/",
            "http://[::127.0.0.1]/",
        ] {
            assert!(refused(url), "{url} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for url in [
            "https://93.184.215.14/",
            "http://[2606:4700::6810:84e5]/",
            "https://example.com/",
        ] {
            assert!(!refused(url), "{url}");
        }
    }

    #[test]
    fn allowed_cidrs_open_a_range_and_https_only_refuses_http() {
        let policy = loopback();
        assert!(policy.permits("127.0.0.1".parse().unwrap()));
        assert!(policy.permits("::1".parse().unwrap()));
        assert!(policy.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!policy.permits("10.0.0.1".parse().unwrap()));
        let strict = Policy {
            https_only: true,
            ..Policy::default()
        };
        assert_eq!(
            strict.check_url(&url::Url::parse("http://example.com/").unwrap()),
            Err(Refusal::NotHttps)
        );
        let message = Policy::default()
            .check_url(&url::Url::parse("http://10.0.0.1/").unwrap())
            .unwrap_err()
            .to_string();
        assert!(message.contains(ALLOWED_CIDRS), "{message}");
    }

    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let policy = Policy::default();
        let err = policy
            .check(&url::Url::parse("http://localhost:8080/").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, Refusal::Address { .. }), "{err}");
        assert!(loopback()
            .check(&url::Url::parse("http://localhost:8080/").unwrap())
            .await
            .is_ok());
    }
}
