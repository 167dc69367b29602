//! Duration strings in Google error bodies.
use std::time::Duration;

/// Parse a Go `time.Duration` string (`"13h19m1.20964964s"`, `"539.477544ms"`) or a protobuf
/// Duration (`"0.5s"`, `"56s"`), which is a subset of it. Negative, empty or malformed input
/// gives `None`, so a garbled delay never turns into a zero or endless cooldown.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds_per_unit = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * seconds_per_unit;
        rest = next;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The duration written after `needle` in a human message, e.g. "Your quota will reset after
/// 13h19m1s." or "Please retry in 12.5s.". Case-insensitive on the needle.
pub(super) fn duration_after(message: &str, needle: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let start = lower.find(&needle.to_ascii_lowercase())? + needle.len();
    let token = message[start..].split_whitespace().next()?;
    parse_go_duration(token.trim_end_matches(['.', ',', ';', ')']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_and_protobuf_forms() {
        let d = parse_go_duration("13h19m1.20964964s").expect("parses");
        assert_eq!(d.as_secs(), 13 * 3600 + 19 * 60 + 1);
        assert!((d.as_secs_f64() - 47941.20964964).abs() < 1e-6);
        let ms = parse_go_duration("539.477544ms").expect("parses");
        assert!((ms.as_secs_f64() - 0.539477544).abs() < 1e-9);
        assert_eq!(parse_go_duration("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("56s"), Some(Duration::from_secs(56)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250us"), Some(Duration::from_micros(250)));
    }

    #[test]
    fn malformed_is_none() {
        for bad in ["", "s", "5", "-5s", "5x", "1h-2m", ".s", "abc", "1..2s"] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn duration_in_message() {
        let m =
            "You have exhausted your capacity on this model. Your quota will reset after 13h19m1s.";
        assert_eq!(
            duration_after(m, "reset after"),
            Some(Duration::from_secs(13 * 3600 + 19 * 60 + 1))
        );
        assert_eq!(
            duration_after("Please retry in 12.5s.", "please retry in"),
            Some(Duration::from_millis(12500))
        );
        assert_eq!(duration_after("no number here", "retry in"), None);
    }
}
