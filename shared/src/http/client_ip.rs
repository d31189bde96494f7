//! The client's address behind proxies the operator trusts (`TRUSTED_PROXIES`). Without that
//! setting the peer's address is the client's: a header is only believed when it comes from a
//! proxy that is known to set it, or anyone could pick the address that rate limits and the
//! audit log see.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The address the request came from: the peer's, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` (or `Forwarded: for=`) that is not itself a trusted
/// proxy, read from the right, where the proxies nearest to us appended theirs.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut chain = forwarded_for(headers);
    chain.reverse();
    let mut client = peer;
    for hop in chain {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// The addresses the proxies recorded, nearest to the client first.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let xff: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.trim().parse().ok())
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .flat_map(|element| element.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| key.eq_ignore_ascii_case("for"))
        .filter_map(|(_, value)| {
            let value = value.trim().trim_matches('"');
            let host = match value.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or_default(),
                None => value.split(':').next().unwrap_or_default(),
            };
            host.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let forged = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_ip(peer, &forged, &[]), peer);
        assert_eq!(client_ip(peer, &forged, &["10.0.0.0/8".parse().unwrap()]), peer);
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        // The client forged the first entry; our proxies appended the real one after it.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.1")]);
        assert_eq!(client_ip(peer, &chain, &trusted), "198.51.100.7".parse::<IpAddr>().unwrap());
        let forwarded = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.1")]);
        assert_eq!(client_ip(peer, &forwarded, &trusted), "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer, "no header: the proxy itself");
    }
}
