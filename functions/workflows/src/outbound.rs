//! The `http` step's calls to the outside, and the guard they pass first: a workflow's author
//! chooses the URL, so without the guard a step could reach the deployment's own network (cloud
//! metadata at 169.254.169.254, a database on localhost, a neighbour on 10.0.0.0/8).
//!
//! URLs are read as browsers and `fetch` read them (the WHATWG rules of the `url` crate), so
//! `http://2130706433/` is the loopback address it means, and the URL sent is the one checked.
//! Redirects are never followed (the Outbound port returns them as they are), so a public host
//! cannot bounce a call inward. A public name that resolves to a private address is not caught
//! here: natively the client steps call through resolves names itself and refuses such
//! addresses (`native::outbound`); Workers cannot reach private networks; on Spin, list the hosts
//! steps may call (`WORKFLOWS_HTTP_HOSTS`, and the component's `allowed_outbound_hosts`).

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use ipnet::IpNet;
use serde_json::Value as Json;
use url::{Host, Url};

use crate::model::InputError;

/// Which targets `http` steps may call: hosts by name (`*`: any public host), and private
/// networks allowed by CIDR (none by default; tests allow their own sink on loopback).
#[derive(Debug, Clone)]
pub struct Guard {
    pub hosts: Option<Vec<String>>,
    pub private: Vec<IpNet>,
    /// Whether the runtime keeps a name from reaching a private address (natively, the client
    /// checks what names resolve to; Workers reach no private network). Where it cannot (Spin),
    /// a step may call a name only if the hosts are listed.
    pub names_checked: bool,
}

/// A URL an `http` step may be given: absolute, http or https, with a host and no credentials.
pub fn parse(text: &str) -> Result<Url, InputError> {
    let url = Url::parse(text).map_err(|e| format!("url is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url must be http or https".into());
    }
    if url.host().is_none() {
        return Err("url has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not carry credentials; use headers".into());
    }
    Ok(url)
}

pub fn method(text: &str) -> Result<http::Method, InputError> {
    match text.to_ascii_uppercase().as_str() {
        "GET" => Ok(http::Method::GET),
        "POST" => Ok(http::Method::POST),
        "PUT" => Ok(http::Method::PUT),
        "PATCH" => Ok(http::Method::PATCH),
        "DELETE" => Ok(http::Method::DELETE),
        _ => Err("method must be GET, POST, PUT, PATCH or DELETE".into()),
    }
}

/// Headers a step may set: up to 20 of them, by valid names and values, but none that the call
/// itself decides (its target, length and idempotency key).
pub fn headers(value: &Json) -> Result<http::HeaderMap, InputError> {
    let object = value.as_object().ok_or("headers must be an object of strings")?;
    if object.len() > 20 {
        return Err("at most 20 headers".into());
    }
    let mut headers = http::HeaderMap::new();
    for (name, value) in object {
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name} is not a header name"))?;
        if ["host", "content-length", "transfer-encoding", "connection", "idempotency-key"].contains(&name.as_str()) {
            return Err(format!("the {name} header is set by the step itself").into());
        }
        let value = value.as_str().ok_or("headers must be an object of strings")?;
        let value = http::HeaderValue::from_str(value).map_err(|_| format!("the value of {name} is not a header value"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The call an `http` step's input asks for, checked.
#[derive(Debug)]
pub struct Call {
    pub url: Url,
    pub method: http::Method,
    pub headers: http::HeaderMap,
    /// Sent as JSON, if not null.
    pub body: Json,
}

impl Call {
    /// The call `input` asks for, if `guard` lets steps make it; why not, if not. The method is
    /// GET without a body and POST with one, unless the input names it.
    pub fn read(input: &Json, guard: &Guard) -> Result<Self, InputError> {
        let url = parse(input["url"].as_str().ok_or("url must be a string")?)?;
        guard.allows(&url)?;
        let body = input["body"].clone();
        let method = match input["method"].as_str() {
            Some(m) => method(m)?,
            None if body.is_null() => http::Method::GET,
            None => http::Method::POST,
        };
        let headers = match &input["headers"] {
            Json::Null => http::HeaderMap::new(),
            given => headers(given)?,
        };
        Ok(Self { url, method, headers, body })
    }

    /// The request of the attempt whose idempotency key is `key`: a body goes as JSON unless
    /// the step's headers say what it is.
    pub fn request(&self, key: &str) -> Result<http::Request<Bytes>, http::Error> {
        let mut request = http::Request::builder().method(self.method.clone()).uri(self.url.as_str());
        if let Some(all) = request.headers_mut() {
            all.extend(self.headers.clone());
            all.insert("idempotency-key", http::HeaderValue::from_str(key)?);
            if !self.body.is_null() && !all.contains_key(http::header::CONTENT_TYPE) {
                all.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            }
        }
        request.body(if self.body.is_null() { Bytes::new() } else { Bytes::from(self.body.to_string()) })
    }
}

impl Guard {
    /// Whether a step may connect to `ip`: a public address, or one in a configured network.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.private.iter().any(|net| net.contains(&ip))
    }

    /// Whether a step may call `url`; why not, if it may not.
    pub fn allows(&self, url: &Url) -> Result<(), InputError> {
        let address = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                match &self.hosts {
                    Some(hosts) if !hosts.contains(&name) => return Err(format!("{name} is not among the hosts workflows may call").into()),
                    None if !self.names_checked => {
                        return Err(format!("{name}: http steps call host names here only if WORKFLOWS_HTTP_HOSTS lists them").into());
                    }
                    _ => {}
                }
                // Names that mean this machine whatever DNS says.
                (name == "localhost" || name.ends_with(".localhost")).then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
            None => return Err("url has no host".into()),
        };
        match address {
            Some(ip) if !self.allows_ip(ip) => {
                Err(format!("{ip} is a private, loopback or link-local address, which workflows may not call").into())
            }
            Some(ip) if self.hosts.is_some() && is_public(ip) => Err(format!("{ip} is not among the hosts workflows may call").into()),
            _ => Ok(()),
        }
    }
}

/// Whether `ip` is on the public internet: not loopback, private, link-local, shared (CGNAT),
/// unspecified, multicast, broadcast, reserved, documentation or benchmarking space, nor an
/// IPv6 form of one of those.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped and IPv4-compatible forms are the IPv4 address they carry.
            if let Some(v4) = v6.to_ipv4() {
                return is_public_v4(v4);
            }
            let [a, b, ..] = v6.segments();
            !(v6.is_multicast()
                // Unique local (fc00::/7), link-local (fe80::/10) and the old site-local (fec0::/10).
                || (a & 0xfe00) == 0xfc00
                || (a & 0xffc0) == 0xfe80
                || (a & 0xffc0) == 0xfec0
                // Translation and tunnels that reach IPv4 addresses, private ones included: NAT64
                // (64:ff9b::/32, local use 64:ff9b:1::/48 within it), 6to4 (2002::/16), Teredo
                // (2001::/32); and documentation (2001:db8::/32) and discard (100::/64).
                || (a == 0x64 && b == 0xff9b)
                || a == 0x2002
                || (a == 0x2001 && (b == 0 || b == 0x0db8))
                || (a == 0x100 && v6.segments()[1..4] == [0, 0, 0]))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(private: &[&str]) -> Guard {
        Guard { hosts: None, private: private.iter().map(|n| n.parse().unwrap()).collect(), names_checked: true }
    }

    fn allowed(guard: &Guard, url: &str) -> bool {
        guard.allows(&parse(url).unwrap()).is_ok()
    }

    #[test]
    fn private_loopback_and_link_local_targets_are_refused() {
        let guard = guard(&[]);
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://localhost:8080/",
            "http://api.localhost/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[2001::1]/",
            "http://[fec0::1]/",
        ] {
            assert!(!allowed(&guard, url), "{url} was allowed");
        }
        assert!(allowed(&guard, "https://example.com/hook"));
        assert!(allowed(&guard, "http://93.184.215.14/"));
        assert!(allowed(&guard, "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/"));
    }

    #[test]
    fn configured_networks_and_hosts_are_the_exceptions() {
        let guard = guard(&["127.0.0.1/32"]);
        assert!(allowed(&guard, "http://127.0.0.1:9000/sink"));
        assert!(!allowed(&guard, "http://127.0.0.2/"));
        assert!(!allowed(&guard, "http://10.0.0.1/"));
        let listed = Guard { hosts: Some(vec!["hooks.example.com".into()]), private: Vec::new(), names_checked: false };
        assert!(allowed(&listed, "https://hooks.example.com/x"));
        assert!(!allowed(&listed, "https://example.com/x"));
        assert!(!allowed(&listed, "http://93.184.215.14/"));
        let unlisted = Guard { hosts: None, private: Vec::new(), names_checked: false };
        assert!(!allowed(&unlisted, "https://example.com/x"));
        assert!(allowed(&unlisted, "http://93.184.215.14/"));
    }

    #[test]
    fn a_calls_method_follows_its_body_unless_named() {
        let guard = guard(&[]);
        let read = |input: Json| Call::read(&input, &guard);
        assert_eq!(read(serde_json::json!({"url": "https://example.com/"})).unwrap().method, http::Method::GET);
        assert_eq!(read(serde_json::json!({"url": "https://example.com/", "body": {"a": 1}})).unwrap().method, http::Method::POST);
        assert_eq!(read(serde_json::json!({"url": "https://example.com/", "method": "put"})).unwrap().method, http::Method::PUT);
        assert_eq!(read(serde_json::json!({"url": 7})).unwrap_err().to_string(), "url must be a string");
        assert_eq!(
            read(serde_json::json!({"url": "http://10.0.0.1/"})).unwrap_err().to_string(),
            "10.0.0.1 is a private, loopback or link-local address, which workflows may not call"
        );
        assert_eq!(
            read(serde_json::json!({"url": "https://example.com/", "method": "TRACE"})).unwrap_err().to_string(),
            "method must be GET, POST, PUT, PATCH or DELETE"
        );
        assert!(read(serde_json::json!({"url": "https://example.com/", "headers": {"Host": "x"}})).is_err());
    }

    #[test]
    fn a_request_carries_the_attempts_key_and_says_its_body_is_json_unless_told() {
        let guard = guard(&[]);
        let call = Call::read(&serde_json::json!({"url": "https://example.com/hook", "body": {"a": 1}}), &guard).unwrap();
        let request = call.request("run/step/2").unwrap();
        assert_eq!((request.method(), request.uri().to_string()), (&http::Method::POST, "https://example.com/hook".to_owned()));
        assert_eq!(request.headers()["idempotency-key"], "run/step/2");
        assert_eq!(request.headers()[http::header::CONTENT_TYPE], "application/json");
        assert_eq!(request.body().as_ref(), br#"{"a":1}"#);
        let typed = serde_json::json!({"url": "https://example.com/", "body": "x", "headers": {"content-type": "text/plain"}});
        let request = Call::read(&typed, &guard).unwrap().request("k").unwrap();
        assert_eq!(request.headers()[http::header::CONTENT_TYPE], "text/plain");
        let bare = Call::read(&serde_json::json!({"url": "https://example.com/"}), &guard).unwrap().request("k").unwrap();
        assert!(bare.body().is_empty() && !bare.headers().contains_key(http::header::CONTENT_TYPE));
    }

    #[test]
    fn urls_are_absolute_http_without_credentials() {
        assert!(parse("ftp://example.com/").is_err());
        assert!(parse("/relative").is_err());
        assert!(parse("https://user:pw@example.com/").is_err());
        assert!(headers(&serde_json::json!({"Host": "x"})).is_err());
        assert!(headers(&serde_json::json!({"x-token": "abc"})).is_ok());
    }
}

#[cfg(test)]
mod address_properties {
    use std::net::Ipv6Addr;

    use proptest::prelude::*;

    use super::*;

    /// An address within `prefix/len`, the rest of its bits drawn at random.
    fn within(prefix: u128, len: u32, bits: u128) -> u128 {
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        (prefix & mask) | (bits & !mask)
    }

    /// IPv4 addresses, most of them in the ranges the guard is about, the rest anywhere.
    fn v4s() -> impl Strategy<Value = Ipv4Addr> {
        let ranges = prop::sample::select(vec![
            ([0, 0, 0, 0], 8),
            ([10, 0, 0, 0], 8),
            ([100, 64, 0, 0], 10),
            ([127, 0, 0, 0], 8),
            ([169, 254, 0, 0], 16),
            ([172, 16, 0, 0], 12),
            ([192, 168, 0, 0], 16),
            ([224, 0, 0, 0], 4),
            ([255, 255, 255, 255], 32),
            ([0, 0, 0, 0], 0),
        ]);
        (ranges, any::<u32>()).prop_map(|((prefix, len), bits)| {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            Ipv4Addr::from((u32::from(Ipv4Addr::from(prefix)) & mask) | (bits & !mask))
        })
    }

    /// IPv6 addresses: native ones in the ranges the guard is about, the forms that carry an
    /// IPv4 address (mapped, compatible, NAT64, 6to4), global unicast, and anything.
    fn v6s() -> impl Strategy<Value = Ipv6Addr> {
        let native = prop::sample::select(vec![
            (0u128, 128u32),
            (1, 128),
            (0xfc00 << 112, 7),
            (0xfe80 << 112, 10),
            (0xff00 << 112, 8),
            (0x2400 << 112, 4),
            (0, 0),
        ]);
        let native = (native, any::<u128>()).prop_map(|((prefix, len), bits)| Ipv6Addr::from(within(prefix, len, bits)));
        let carrying = (v4s(), 0..4u8).prop_map(|(v4, form)| match form {
            0 => v4.to_ipv6_mapped(),
            1 => Ipv6Addr::from(u128::from(u32::from(v4))),
            2 => Ipv6Addr::from((0x64_ff9b_u128 << 96) | u128::from(u32::from(v4))),
            _ => Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(u32::from(v4)) << 80)),
        });
        prop_oneof![native, carrying]
    }

    /// The ways a URL may write an IPv4 address that the WHATWG host parser reads as one: dotted
    /// decimal, one number in decimal, hex or octal, the short forms `a.b.c` and `a.b`, each part
    /// in its own radix, a trailing dot, percent-encoded dots, and full-width digits with
    /// ideographic full stops.
    fn v4_text(ip: Ipv4Addr, form: u8, radixes: [u8; 4]) -> String {
        let n = u32::from(ip);
        let [a, b, c, d] = ip.octets();
        let part = |value: u32, radix: u8| match radix % 3 {
            0 => value.to_string(),
            1 => format!("0x{value:x}"),
            _ => format!("0{value:o}"),
        };
        let dotted = || [a, b, c, d].iter().zip(radixes).map(|(&o, r)| part(o.into(), r)).collect::<Vec<_>>().join(".");
        match form {
            0 => ip.to_string(),
            1 => part(n, radixes[0]),
            2 => format!("{}.{}.{}", part(a.into(), radixes[0]), part(b.into(), radixes[1]), part(n & 0xffff, radixes[2])),
            3 => format!("{}.{}", part(a.into(), radixes[0]), part(n & 0xff_ffff, radixes[1])),
            4 => dotted(),
            5 => format!("{}.", dotted()),
            6 => dotted().replace('.', "%2e"),
            _ => ip
                .to_string()
                .chars()
                .map(|c| if c == '.' { '\u{3002}' } else { char::from_u32(c as u32 - 0x30 + 0xff10).unwrap() })
                .collect(),
        }
    }

    /// An IPv6 literal as a URL brackets it: canonical, every group written out in upper case,
    /// or with the last 32 bits as dotted decimal.
    fn v6_text(ip: Ipv6Addr, form: u8) -> String {
        let s = ip.segments();
        match form % 3 {
            0 => format!("[{ip}]"),
            1 => format!("[{}]", s.iter().map(|g| format!("{g:04X}")).collect::<Vec<_>>().join(":")),
            _ => {
                let head = s[..6].iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":");
                format!("[{head}:{}]", Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7])))
            }
        }
    }

    /// The reference: what std says is private, loopback, link-local, unspecified, broadcast,
    /// multicast or documentation, and "this network" (0.0.0.0/8).
    fn restricted_v4(ip: Ipv4Addr) -> bool {
        ip.is_private()
            || ip.is_loopback()
            || ip.is_link_local()
            || ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || ip.is_documentation()
            || ip.octets()[0] == 0
    }

    /// The reference for IPv6: its own restricted kinds, and any IPv4 address it carries.
    fn restricted_v6(ip: Ipv6Addr) -> bool {
        let n = u128::from(ip);
        let carried = [
            ip.to_ipv4_mapped(),
            ip.to_ipv4(),
            (n >> 32 == 0x64_ff9b_u128 << 64).then(|| Ipv4Addr::from(n as u32)),
            (n >> 112 == 0x2002).then(|| Ipv4Addr::from((n >> 80) as u32)),
        ];
        ip.is_loopback()
            || ip.is_unspecified()
            || ip.is_unique_local()
            || ip.is_unicast_link_local()
            || ip.is_multicast()
            || carried.into_iter().flatten().any(restricted_v4)
    }

    /// Unicast addresses no registry sets aside: IPv4 outside every special block, IPv6 in
    /// 2400::/6, and IPv4-mapped forms of the former.
    fn plainly_public(ip: IpAddr) -> bool {
        let v4 = |ip: Ipv4Addr| {
            let first = ip.octets()[0];
            matches!(first, 1..=9 | 11..=99 | 101..=126 | 128..=168 | 170 | 171 | 173..=191 | 193..=197 | 199..=202 | 204..=223)
        };
        match ip {
            IpAddr::V4(ip) => v4(ip),
            IpAddr::V6(ip) => ip.segments()[0] >> 10 == 0x2400 >> 10 || ip.to_ipv4_mapped().is_some_and(v4),
        }
    }

    fn ips() -> impl Strategy<Value = IpAddr> {
        prop_oneof![v4s().prop_map(IpAddr::V4), v6s().prop_map(IpAddr::V6)]
    }

    fn open() -> Guard {
        Guard { hosts: None, private: Vec::new(), names_checked: true }
    }

    /// The address a URL's host is, if the parser took it for one.
    fn address(url: &Url) -> Option<IpAddr> {
        match url.host()? {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        }
    }

    proptest! {
        #[test]
        fn every_way_of_writing_an_ipv4_address_is_that_address(ip in v4s(), form in 0..8u8, radixes in any::<[u8; 4]>()) {
            let text = format!("http://{}/", v4_text(ip, form, radixes));
            let url = parse(&text).unwrap();
            prop_assert_eq!(address(&url), Some(IpAddr::V4(ip)), "{}", text);
            let allowed = open().allows(&url).is_ok();
            prop_assert!(!(restricted_v4(ip) && allowed), "{} was allowed", text);
            prop_assert!(!plainly_public(IpAddr::V4(ip)) || allowed, "{} was refused", text);
        }

        #[test]
        fn every_ipv6_literal_is_judged_by_what_it_reaches(ip in v6s(), form in 0..3u8) {
            let text = format!("http://{}/", v6_text(ip, form));
            let url = parse(&text).unwrap();
            prop_assert_eq!(address(&url), Some(IpAddr::V6(ip)), "{}", text);
            let allowed = open().allows(&url).is_ok();
            prop_assert!(!(restricted_v6(ip) && allowed), "{} was allowed", text);
            prop_assert!(!plainly_public(IpAddr::V6(ip)) || allowed, "{} was refused", text);
        }

        /// A configured network opens exactly itself: its own addresses are allowed, and every
        /// other restricted address stays refused.
        #[test]
        fn a_configured_network_is_the_only_exception(net in ips(), len in 0..=128u8, other in ips()) {
            let net = IpNet::new(net, len.min(if net.is_ipv4() { 32 } else { 128 })).unwrap().trunc();
            let guard = Guard { private: vec![net], ..open() };
            prop_assert!(guard.allows_ip(net.network()) && guard.allows_ip(net.broadcast()), "{} is configured", net);
            let restricted = match other {
                IpAddr::V4(ip) => restricted_v4(ip),
                IpAddr::V6(ip) => restricted_v6(ip),
            };
            if restricted && !net.contains(&other) {
                prop_assert!(!guard.allows_ip(other), "{} was allowed with only {} configured", other, net);
            }
        }
    }
}
