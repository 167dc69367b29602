//! The panel's charts: usage series grouped into a few stacked series (the largest ones, the
//! rest summed as "other"), rendered as SVG by [`svg`], each with a table of its numbers.
pub mod page;
pub mod svg;

use std::collections::HashMap;

use self::svg::Series;
use crate::usage::Point;

/// Series drawn at most; the rest are summed into one "other" series.
pub const TOP: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Model,
    Credential,
    Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Requests,
    Tokens,
    /// Failed requests (hourly) or failed upstream calls (daily), by code.
    Errors,
}

/// Whether a point counts toward `metric`. Hourly points are requests with their outcome;
/// daily points are `success` / `failure` request totals plus `call:<outcome>` failed calls.
fn counts(p: &Point, metric: Metric) -> Option<u64> {
    let call = p.outcome.strip_prefix("call:");
    match metric {
        Metric::Requests => call.is_none().then_some(p.requests),
        Metric::Tokens => call.is_none().then_some(p.tokens),
        Metric::Errors => {
            let daily = p.outcome == "failure" || call.is_some();
            let failed = p.outcome != "success" && p.outcome != "failure";
            // Daily request failures have no code; their calls do.
            (failed && (call.is_some() || !daily)).then_some(p.requests)
        }
    }
}

/// The error code shown for an outcome: `upstream_429` → `429`, `client_400` → `400`,
/// `transport` stays.
pub fn code_of(outcome: &str) -> String {
    let o = outcome.strip_prefix("call:").unwrap_or(outcome);
    o.strip_prefix("upstream_")
        .or_else(|| o.strip_prefix("client_"))
        .unwrap_or(o)
        .to_string()
}

/// Group `points` into at most [`TOP`] series plus `other`, largest total first, over
/// `buckets` buckets. `label` names a point's group.
pub fn group(
    points: &[Point],
    buckets: usize,
    metric: Metric,
    label: impl Fn(&Point) -> String,
    other: &str,
) -> Vec<Series> {
    let mut by: HashMap<String, Vec<u64>> = HashMap::new();
    for p in points {
        let Some(v) = counts(p, metric) else { continue };
        if v == 0 || p.bucket >= buckets {
            continue;
        }
        by.entry(label(p)).or_insert_with(|| vec![0; buckets])[p.bucket] += v;
    }
    let mut all: Vec<Series> = by
        .into_iter()
        .map(|(label, values)| Series { label, values })
        .collect();
    // Largest first; ties by name so the order (and colours) are stable.
    all.sort_by(|a, b| {
        let (ta, tb): (u64, u64) = (a.values.iter().sum(), b.values.iter().sum());
        tb.cmp(&ta).then_with(|| a.label.cmp(&b.label))
    });
    if all.len() > TOP + 1 {
        let rest = all.split_off(TOP);
        let mut values = vec![0; buckets];
        for s in rest {
            for (i, v) in s.values.into_iter().enumerate() {
                values[i] += v;
            }
        }
        all.push(Series {
            label: other.to_string(),
            values,
        });
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(bucket: usize, model: &str, outcome: &str, requests: u64, tokens: u64) -> Point {
        Point {
            bucket,
            credential_id: 1,
            kind: None,
            model: model.into(),
            outcome: outcome.into(),
            requests,
            tokens,
        }
    }

    #[test]
    fn groups_sum_per_bucket_largest_first() {
        let pts = vec![
            p(0, "a", "success", 2, 10),
            p(0, "a", "upstream_429", 1, 0),
            p(1, "b", "success", 5, 50),
            p(2, "a", "success", 1, 1),
        ];
        let s = group(&pts, 3, Metric::Requests, |p| p.model.clone(), "other");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].label, "b");
        assert_eq!(s[0].values, vec![0, 5, 0]);
        assert_eq!(s[1].values, vec![3, 0, 1]);
        let t = group(&pts, 3, Metric::Tokens, |p| p.model.clone(), "other");
        assert_eq!(t[0].values, vec![0, 50, 0]);
        assert_eq!(t[1].values, vec![10, 0, 1]);
        let e = group(&pts, 3, Metric::Errors, |p| code_of(&p.outcome), "other");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].label, "429");
        assert_eq!(e[0].values, vec![1, 0, 0]);
    }

    #[test]
    fn beyond_the_top_the_rest_is_summed_as_other() {
        let pts: Vec<Point> = (0..10)
            .map(|i| p(0, &format!("m{i}"), "success", 10 + i as u64, 0))
            .collect();
        let s = group(&pts, 1, Metric::Requests, |p| p.model.clone(), "other");
        assert_eq!(s.len(), TOP + 1);
        assert_eq!(s[0].label, "m9");
        assert_eq!(s[TOP].label, "other");
        // m0..m3 = 10 + 11 + 12 + 13.
        assert_eq!(s[TOP].values, vec![46]);
        let total: u64 = s.iter().map(|s| s.values[0]).sum();
        assert_eq!(total, (10..20).sum::<u64>(), "nothing is lost");
    }

    #[test]
    fn daily_points_split_requests_and_call_codes() {
        let pts = vec![
            p(0, "a", "success", 3, 30),
            p(0, "a", "failure", 2, 0),
            p(0, "a", "call:upstream_500", 4, 0),
        ];
        let r = group(&pts, 1, Metric::Requests, |p| p.model.clone(), "other");
        assert_eq!(r[0].values, vec![5], "requests: successes and failures");
        let e = group(&pts, 1, Metric::Errors, |p| code_of(&p.outcome), "other");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].label.as_str(), e[0].values[0]), ("500", 4));
        assert_eq!(code_of("client_400"), "400");
        assert_eq!(code_of("transport"), "transport");
    }
}
