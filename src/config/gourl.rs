//! The part of Go's `net/url.Parse` that decides a kms `endpoint`'s fate:
//! the error text of a failed parse and the (lower-cased) scheme.
//!
//! `ValidateEncryptionConfiguration` prints
//! `invalid endpoint for kms provider, error: <url error>` on a parse failure
//! and `unsupported scheme %q ...` otherwise. This module reproduces the
//! parse failures kube-apiserver users actually meet (control characters,
//! missing scheme, bad `%` escapes, bad ports, bad host characters); it is
//! not a general URL parser.

use super::diag::go_quote;

/// Returns the lower-cased scheme (`""` when there is none), or Go's error
/// text (`parse "unix://%zz": invalid URL escape "%zz"`).
pub fn scheme(raw: &str) -> Result<String, String> {
    let wrap = |e: String| format!("parse {}: {e}", go_quote(raw));
    let (u, frag) = raw.split_once('#').map_or((raw, None), |(a, b)| (a, Some(b)));
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(wrap("net/url: invalid control character in URL".into()));
    }
    let (scheme, rest) = split_scheme(u).map_err(wrap)?;
    let rest = rest.split_once('?').map_or(rest, |(a, _)| a);
    if !rest.starts_with('/') {
        if scheme.is_empty() {
            let seg = rest.split('/').next().unwrap_or("");
            if seg.contains(':') {
                return Err(wrap("first path segment in URL cannot contain colon".into()));
            }
        } else {
            // Opaque URL such as `unix:foo`.
            if let Some(f) = frag {
                check_escapes(f).map_err(wrap)?;
            }
            return Ok(scheme);
        }
    }
    let mut path = rest;
    if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, p) = after.find('/').map_or((after, ""), |i| after.split_at(i));
        path = p;
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        check_host(host).map_err(wrap)?;
    }
    check_escapes(path).map_err(wrap)?;
    if let Some(f) = frag {
        check_escapes(f).map_err(wrap)?;
    }
    Ok(scheme)
}

fn split_scheme(u: &str) -> Result<(String, &str), String> {
    for (i, c) in u.char_indices() {
        if c.is_ascii_alphabetic() {
            continue;
        }
        if c.is_ascii_digit() || c == '+' || c == '-' || c == '.' {
            if i == 0 {
                return Ok((String::new(), u));
            }
            continue;
        }
        if c == ':' {
            if i == 0 {
                return Err("missing protocol scheme".into());
            }
            return Ok((u[..i].to_ascii_lowercase(), &u[i + 1..]));
        }
        return Ok((String::new(), u));
    }
    Ok((String::new(), u))
}

fn check_escapes(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() >= i + 3 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                let end = (i + 3).min(b.len());
                let esc = String::from_utf8_lossy(&b[i..end]);
                return Err(format!("invalid URL escape {}", go_quote(&esc)));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
    let name = if host.starts_with('[') {
        // IPv6 literal: `[...]` optionally followed by `:port`.
        let Some(end) = host.find(']') else {
            return Err("missing ']' in host".into());
        };
        let port = &host[end + 1..];
        if !port.is_empty() && !valid_port(port) {
            return Err(format!("invalid port {} after host", go_quote(port)));
        }
        return Ok(());
    } else if let Some(i) = host.rfind(':') {
        let port = &host[i..];
        if !valid_port(port) {
            return Err(format!("invalid port {} after host", go_quote(port)));
        }
        &host[..i]
    } else {
        host
    };
    check_escapes(name)?;
    for c in name.bytes() {
        let allowed =
            c >= 0x80 || c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"%".contains(&c);
        if !allowed {
            return Err(format!(
                "invalid character {} in host name",
                go_quote(&(c as char).to_string())
            ));
        }
    }
    Ok(())
}

fn valid_port(p: &str) -> bool {
    match p.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_errors_match_go() {
        assert_eq!(scheme("unix:///var/run/kms.sock"), Ok("unix".into()));
        assert_eq!(scheme("unix:///@abstract"), Ok("unix".into()));
        assert_eq!(scheme("UNIX:///x"), Ok("unix".into()));
        assert_eq!(scheme("tcp://127.0.0.1:8080"), Ok("tcp".into()));
        assert_eq!(scheme("/var/run/kms.sock"), Ok("".into()));
        assert_eq!(scheme(":foo"), Err("parse \":foo\": missing protocol scheme".into()));
        assert_eq!(
            scheme("unix://%zz"),
            Err("parse \"unix://%zz\": invalid URL escape \"%zz\"".into())
        );
        assert_eq!(
            scheme("unix://h:p/x"),
            Err("parse \"unix://h:p/x\": invalid port \":p\" after host".into())
        );
        assert_eq!(
            scheme("unix:///a\nb"),
            Err("parse \"unix:///a\\nb\": net/url: invalid control character in URL".into())
        );
        assert_eq!(
            scheme("unix://a b/"),
            Err("parse \"unix://a b/\": invalid character \" \" in host name".into())
        );
    }
}
