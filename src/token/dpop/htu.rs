//! The `htu` comparison of RFC 9449 §4.3: the proof's URI and the request's target URI, both
//! without query and fragment, compared after syntax- and scheme-based normalisation
//! (RFC 3986 §6.2.2, §6.2.3).
//!
//! Normalised: scheme and host to lower case, an empty or default port (`http` 80, `https` 443)
//! dropped, an empty path to `/`, percent-encoding hex digits to upper case and percent-encoded
//! unreserved characters decoded. Compared exactly: everything else in the path, including dot
//! segments (a false negative is a refused proof; a looser rule could be a bypass). Refused:
//! schemes other than `http`/`https`, userinfo (RFC 9110 §4.2.4 forbids sending it), an empty
//! host, a bad port, a broken `%` escape, and any byte outside visible ASCII.

/// What of a target URI the comparison looks at.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

/// Whether the proof's `htu` names the request's target URI, query and fragment of both ignored.
/// Either one being unreadable is a mismatch.
pub(crate) fn same_target(htu: &str, request_uri: &str) -> bool {
    match (normalize(htu), normalize(request_uri)) {
        (Some(proof), Some(request)) => proof == request,
        _ => false,
    }
}

fn normalize(uri: &str) -> Option<Target> {
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let uri = uri.split('#').next().unwrap_or_default();
    let uri = uri.split('?').next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_port(authority)?;
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None | Some("") => default_port,
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok()?,
        Some(_) => return None,
    };
    Some(Target {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
        path: normalize_percent(path)?,
    })
}

/// The host (an IPv6 literal keeps its brackets) and the text after its `:`, if any.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, rest) = authority.split_at(close + 1);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    Some(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// `%xx` with upper-case hex, and decoded when it encodes an unreserved character
/// (RFC 3986 §6.2.2.1, §6.2.2.2); `None` for a `%` not followed by two hex digits.
fn normalize_percent(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(char::from(bytes[i]));
            i += 1;
            continue;
        }
        let hex = path.get(i + 1..i + 3)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = u8::from_str_radix(hex, 16).ok()?;
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push_str(&hex.to_ascii_uppercase());
        }
        i += 3;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::same_target;

    const REQUEST: &str = "https://api.example.com/orders/42";

    #[test]
    fn dpop_htu_equivalent_spellings_of_the_target_match() {
        for htu in [
            REQUEST,
            "HTTPS://API.Example.COM/orders/42",
            "https://api.example.com:443/orders/42",
            "https://api.example.com:/orders/42",
            "https://api.example.com/%6Frders/42",
            "https://api.example.com/orders/42?page=2",
            "https://api.example.com/orders/42#frag",
        ] {
            assert!(same_target(htu, REQUEST), "{htu}");
        }
        assert!(same_target("http://h.example", "http://h.example:80/"));
        assert!(same_target("https://[::1]:443/a", "https://[::1]/a"));
        assert!(same_target(
            "https://h.example/a%2fb",
            "https://h.example/a%2Fb"
        ));
    }

    #[test]
    fn dpop_htu_other_targets_do_not_match() {
        for htu in [
            "http://api.example.com/orders/42",
            "https://api.example.com:8443/orders/42",
            "https://other.example.com/orders/42",
            "https://api.example.com/orders/43",
            "https://api.example.com/Orders/42",
            "https://api.example.com/orders/42/",
            "https://api.example.com/orders/x/../42",
            "https://api.example.com/orders%2F42",
            "https://user@api.example.com/orders/42",
            "ftp://api.example.com/orders/42",
            "https:///orders/42",
            "https://api.example.com:99999/orders/42",
            "https://api.example.com:4a3/orders/42",
            "https://api.example.com/orders/42%",
            "https://api.example.com/orders/ 42",
            "/orders/42",
            "",
        ] {
            assert!(!same_target(htu, REQUEST), "{htu}");
        }
        assert!(!same_target(REQUEST, "not a uri"));
    }
}
