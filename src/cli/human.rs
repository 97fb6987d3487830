//! Sizes and ratios as people read them: `494.9 KiB`, `2.38`, `58.0%`
//! (used by info, stats and the progress line).

/// Bytes in binary units: `512 B`, `494.9 KiB`, `1.5 GiB`.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// original / stored, or None when nothing is stored.
pub fn ratio(original: u64, stored: u64) -> Option<f64> {
    (stored > 0).then(|| original as f64 / stored as f64)
}

/// Percent of the original saved (negative when the stored form is larger),
/// or None for an empty original.
pub fn saved(original: u64, stored: u64) -> Option<f64> {
    (original > 0).then(|| (1.0 - stored as f64 / original as f64) * 100.0)
}

/// The ratio as shown in tables: `2.38`, or `-`.
pub fn ratio_text(original: u64, stored: u64) -> String {
    ratio(original, stored).map_or("-".into(), |r| format!("{r:.2}"))
}

/// The saving as shown in tables: `58.0%`, or `-`.
pub fn saved_text(original: u64, stored: u64) -> String {
    saved(original, stored).map_or("-".into(), |s| format!("{s:.1}%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1.0 KiB");
        assert_eq!(human(506_777), "494.9 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
        assert_eq!(human(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio_text(506_777, 212_787), "2.38");
        assert_eq!(saved_text(506_777, 212_787), "58.0%");
        assert_eq!(ratio_text(5, 0), "-");
        assert_eq!(saved_text(0, 10), "-");
        assert_eq!(saved_text(100, 200), "-100.0%");
    }
}
