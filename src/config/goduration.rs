//! Go `time.Duration` text: `time.ParseDuration` and `Duration.String`.
//!
//! The kms `timeout` field is a `metav1.Duration`, parsed by Go's
//! `time.ParseDuration` and printed by `Duration.String` in error messages
//! (`Invalid value: "0s": timeout should be a positive value`). This module
//! reproduces both on signed nanoseconds; it has no other knowledge.

/// Parses Go duration text (`300ms`, `-1.5h`, `2h45m`, `0`) into nanoseconds.
/// The error text is Go's (`time: invalid duration "abc"`).
pub fn parse(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", super::diag::go_quote(s));
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
    // Accumulate in u128 nanoseconds; fractions kept exactly as (num, scale).
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let mut after = after;
        let mut frac_part = "";
        if let Some(a) = after.strip_prefix('.') {
            let n = a.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &a[..n];
            after = &a[n..];
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid());
            }
        } else if int_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, tail) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", super::diag::go_quote(s)));
        }
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    super::diag::go_quote(unit),
                    super::diag::go_quote(s)
                ));
            }
        };
        let int_value: u128 = if int_part.is_empty() {
            0
        } else {
            // More than 39 digits cannot fit; treat as overflow.
            int_part.parse::<u128>().map_err(|_| invalid())?
        };
        let mut v = int_value.checked_mul(scale).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            // Exact enough: Go truncates the fraction towards zero too.
            let mut f: u128 = 0;
            let mut div: u128 = 1;
            for d in frac_part.bytes().take(30) {
                f = f * 10 + u128::from(d - b'0');
                div *= 10;
            }
            v = v.checked_add(f * scale / div).ok_or_else(invalid)?;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return Err(invalid());
        }
        rest = tail;
    }
    let total = i128::try_from(total).map_err(|_| invalid())?;
    let signed = if neg { -total } else { total };
    i64::try_from(signed).map_err(|_| invalid())
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
