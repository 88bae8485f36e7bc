//! Number formatting for tables.

/// `123,456` (rounded), `n/a` when missing.
pub(super) fn rate(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => thousands(v.round() as u64),
        _ => "n/a".into(),
    }
}

/// Microseconds: `9.87`, `45.6`, `1,234`; `n/a` when missing.
pub(super) fn micros(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() && v < 10.0 => format!("{v:.2}"),
        Some(v) if v.is_finite() && v < 1000.0 => format!("{v:.1}"),
        Some(v) if v.is_finite() => thousands(v.round() as u64),
        _ => "n/a".into(),
    }
}

/// `1.07x`, `n/a` when missing.
pub(super) fn ratio(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.2}x"),
        _ => "n/a".into(),
    }
}

/// `12.3 MiB` for byte counts (signed).
pub(super) fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(rate(Some(12_345.6)), "12,346");
        assert_eq!(rate(None), "n/a");
        assert_eq!(micros(Some(9.876)), "9.88");
        assert_eq!(micros(Some(45.62)), "45.6");
        assert_eq!(micros(Some(12_345.4)), "12,345");
        assert_eq!(micros(Some(f64::NAN)), "n/a");
        assert_eq!(ratio(Some(1.0749)), "1.07x");
        assert_eq!(ratio(None), "n/a");
        assert_eq!(mib(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(mib(-1024 * 1024), "-1.0 MiB");
    }
}
