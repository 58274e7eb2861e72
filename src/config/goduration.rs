//! Go `time.Duration` text: `time.ParseDuration` and `Duration.String`.
//!
//! The kms `timeout` field is a `metav1.Duration`, parsed by Go's
//! `time.ParseDuration` and printed by `Duration.String` in error messages
//! (`Invalid value: "0s": timeout should be a positive value`). This module
//! reproduces both on signed nanoseconds; it has no other knowledge.

/// Parses Go duration text (`300ms`, `-1.5h`, `2h45m`, `0`) into nanoseconds,
/// step for step as Go's `time.ParseDuration`: unsigned 64-bit arithmetic
/// with its overflow checks, and a fraction accumulated until it would
/// overflow and then applied through `float64`, so long fractions round
/// exactly as Go's do. The error text is Go's (`time: invalid duration "abc"`).
pub fn parse(s: &str) -> Result<i64, String> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || format!("time: invalid duration {}", quote(s));
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while let Some(first) = rest.bytes().next() {
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        let before = rest.len();
        let (mut v, after) = leading_int(rest).ok_or_else(invalid)?;
        rest = after;
        let pre = rest.len() != before;
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(after_dot) = rest.strip_prefix('.') {
            (f, scale, rest) = leading_fraction(after_dot);
            post = rest.len() != after_dot.len();
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_len = rest.bytes().position(|c| c == b'.' || c.is_ascii_digit());
        let (unit, tail) = rest.split_at(unit_len.unwrap_or(rest.len()));
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", quote(s)));
        }
        let unit: u64 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!("time: unknown unit {} in duration {}", quote(unit), quote(s)));
            }
        };
        rest = tail;
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            // Go: `v += uint64(float64(f) * (float64(unit) / scale))`; the
            // product is below one unit (f < scale), so the cast truncates
            // in range, as Go's conversion does.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        // Both are at most 2^63, so the sum can reach 2^64: Go's uint64
        // wraps there (to 0) and passes the check; so does this.
        d = d.wrapping_add(v);
        if d > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        // d <= 2^63: as i64 that is i64::MIN, which negates to itself, as in Go.
        return Ok((d as i64).wrapping_neg());
    }
    i64::try_from(d).map_err(|_| invalid())
}

/// Go's `time.quote`, which the parse errors use (not `%q`): every byte of
/// a non-ASCII or control character as `\xNN`, `"` and `\` escaped,
/// everything else as is.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c.is_ascii() && c >= ' ' {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        } else {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out.push('"');
    out
}

/// Go's `leadingInt`: the leading digits of `s` as a number of at most
/// 2^63, and the rest; `None` on overflow.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut x: u64 = 0;
    for c in s.bytes().take(n) {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
    }
    Some((x, &s[n..]))
}

/// Go's `leadingFraction`: the leading digits of `s` as a numerator and a
/// power-of-ten scale, accumulated until the numerator would pass 2^63
/// (the remaining digits are consumed and ignored), and the rest.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    let (mut x, mut scale) = (0u64, 1f64);
    for c in s.bytes().take(n) {
        if x > ((1 << 63) - 1) / 10 {
            break;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > 1 << 63 {
            break;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[n..])
}

/// Formats nanoseconds like Go's `Duration.String` (`0s`, `1.5s`, `1h0m0s`, `100ms`).
pub fn format(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        out.push_str(&with_fraction(u, prec));
        out.push_str(unit);
    } else {
        let secs_part = with_fraction(u % 60_000_000_000, 9);
        let whole_secs = u / 1_000_000_000;
        let minutes = whole_secs / 60;
        if minutes > 0 {
            let hours = minutes / 60;
            if hours > 0 {
                out.push_str(&format!("{hours}h"));
            }
            out.push_str(&format!("{}m", minutes % 60));
        }
        out.push_str(&secs_part);
        out.push('s');
    }
    if neg { format!("-{out}") } else { out }
}

/// `v / 10^prec` with the fractional digits, trailing zeros removed.
fn with_fraction(v: u64, prec: u32) -> String {
    let div = 10u64.pow(prec);
    let int = v / div;
    let frac = v % div;
    if frac == 0 {
        return int.to_string();
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("3s"), Ok(3_000_000_000));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("-1.5h"), Ok(-5_400_000_000_000));
        assert_eq!(parse("2h45m"), Ok(9_900_000_000_000));
        assert_eq!(parse("100ms"), Ok(100_000_000));
        assert_eq!(parse(".5s"), Ok(500_000_000));
        assert_eq!(parse("1µs"), Ok(1_000));
        assert_eq!(parse("abc"), Err("time: invalid duration \"abc\"".to_string()));
        assert_eq!(parse(""), Err("time: invalid duration \"\"".to_string()));
        assert_eq!(parse("3"), Err("time: missing unit in duration \"3\"".to_string()));
        assert_eq!(parse("3x"), Err("time: unknown unit \"x\" in duration \"3x\"".to_string()));
        assert!(parse("9999999999999h").is_err());
        assert!(parse("1.s").is_ok());
        assert!(parse(".s").is_err());
    }

    /// Every vector Go's own `time.ParseDuration` produced
    /// (`fixtures/goduration/generate.go`): the same nanoseconds and
    /// `Duration.String`, or the same error text.
    #[test]
    fn agrees_with_go_parse_duration_on_every_vector() {
        #[derive(serde::Deserialize)]
        struct Vector {
            #[serde(rename = "in")]
            input: String,
            ns: Option<i64>,
            str: Option<String>,
            err: Option<String>,
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/goduration/vectors.jsonl");
        let text = std::fs::read_to_string(path).unwrap();
        let mut checked = 0;
        for line in text.lines() {
            let v: Vector = serde_json::from_str(line).unwrap();
            let want = match (v.ns, v.err) {
                (Some(ns), None) => Ok(ns),
                (None, Some(e)) => Err(e),
                other => panic!("bad vector {line}: {other:?}"),
            };
            assert_eq!(parse(&v.input), want, "input {:?}", v.input);
            if let (Ok(ns), Some(text)) = (&want, &v.str) {
                assert_eq!(&format(*ns), text, "Duration.String of {ns}");
            }
            checked += 1;
        }
        assert!(checked > 4000, "{checked} vectors");
    }

    #[test]
    fn long_fractions_round_through_float64_without_overflow() {
        // 30 and 26 fraction digits: the multiplication that used to
        // overflow (a panic in debug builds, a wrapped 3m17s in release).
        assert_eq!(parse("0.999999999999999999999999999999s"), Ok(1_000_000_000));
        assert_eq!(parse("0.99999999999999999999999999h"), Ok(3_600_000_000_000));
        // Two components of 2^63 wrap Go's uint64 sum to 0, and Go accepts it.
        assert_eq!(parse("9223372036854775808ns9223372036854775808ns"), Ok(0));
        assert_eq!(parse("-9223372036854775808ns"), Ok(i64::MIN));
    }

    proptest::proptest! {
        /// Go's round trip, `ParseDuration(d.String()) == d`, for every
        /// duration; and any text at all parses or errs, never panics.
        #[test]
        fn string_parses_back_and_nothing_panics(ns in proptest::num::i64::ANY,
                                                 text in "[-+]?([0-9]{0,25}(\\.[0-9]{0,35})?(ns|us|µs|ms|s|m|h|x)?){1,3}") {
            proptest::prop_assert_eq!(parse(&format(ns)), Ok(ns));
            let _ = parse(&text);
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(0), "0s");
        assert_eq!(format(3_000_000_000), "3s");
        assert_eq!(format(1_500_000_000), "1.5s");
        assert_eq!(format(3_600_000_000_000), "1h0m0s");
        assert_eq!(format(90_000_000_000), "1m30s");
        assert_eq!(format(100_000_000), "100ms");
        assert_eq!(format(-1_000_000_000), "-1s");
        assert_eq!(format(1_500), "1.5µs");
        assert_eq!(format(7), "7ns");
        assert_eq!(format(i64::MIN), "-2562047h47m16.854775808s");
    }
}
