//! Sizes as people write them: the one parser of `65536`, `64K`, `64M`,
//! `1G`, `64KiB` (powers of 1024), used by every option that takes a size.
//! A leaf: it uses no other module of the crate.

/// Parses a size: digits, then an optional suffix `b`, `k`/`kb`/`kib`, `m`,
/// `g` or `t` (any case, powers of 1024, spaces around ignored).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits_end);
    if num.is_empty() {
        return Err(format!(
            "'{s}' is not a size (expected e.g. 65536, 64K, 64M, 1G)"
        ));
    }
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is too large"))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "'{s}': unknown size suffix '{suffix}' (use K, M or G)"
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        for (s, v) in [
            ("4096", 4096),
            ("64K", 65536),
            ("64k", 65536),
            ("64KiB", 65536),
            ("64 K", 65536),
            ("1M", 1 << 20),
            ("2g", 2 << 30),
            ("1T", 1 << 40),
            ("7b", 7),
        ] {
            assert_eq!(parse_size(s), Ok(v), "{s}");
        }
        for s in ["", "x", "K", "12Q", "99999999999999999999", "20000000T"] {
            assert!(parse_size(s).is_err(), "{s}");
        }
    }
}
