//! Server-side SVG charts, no framework: stacked bars over time and horizontal quota bars.
//! Every chart scales with its `viewBox` (it fills the width of a phone or a desktop alike),
//! carries `role="img"` with a text summary, and is shown next to a table with the same
//! numbers, for screen readers and for anyone who wants the exact figures.
use std::fmt::Write;

/// One stacked series: a label and one value per bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub values: Vec<u64>,
}

/// Colours for series in order, chosen to stay apart for common colour-vision deficiencies
/// (Okabe–Ito) and to contrast with both the light and the dark background.
pub const PALETTE: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#8a7a00", "#7f7f7f",
];

pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
// Room above the top tick for its label at the larger phone font size.
const TOP: f64 = 14.0;
const BOTTOM: f64 = 28.0;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The smallest "nice" step (1, 2 or 5 times a power of ten) that splits `max` into at most
/// `ticks` intervals; at least 1.
pub fn nice_step(max: u64, ticks: u64) -> u64 {
    let ticks = ticks.max(1);
    let raw = max.div_ceil(ticks).max(1);
    let mut pow = 1u64;
    while pow.saturating_mul(10) <= raw {
        pow = pow.saturating_mul(10);
    }
    for m in [1u64, 2, 5, 10] {
        let step = pow.saturating_mul(m);
        if step >= raw {
            return step;
        }
    }
    pow.saturating_mul(10)
}

/// Short axis labels: 950, 1.2k, 3.4M.
pub fn compact(n: u64) -> String {
    fn one(v: f64, suffix: &str) -> String {
        let s = format!("{v:.1}");
        format!("{}{suffix}", s.trim_end_matches(".0"))
    }
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => one(n as f64 / 1e3, "k"),
        1_000_000..1_000_000_000 => one(n as f64 / 1e6, "M"),
        _ => one(n as f64 / 1e9, "G"),
    }
}

/// Per-bucket sums of all series.
pub fn stack_totals(series: &[Series], buckets: usize) -> Vec<u64> {
    (0..buckets)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect()
}

/// A stacked bar chart: one bar per bucket (`x_labels`), one colour per series. `label_every`
/// thins the x labels so they never overlap (every 6th hour, every 5th day). `summary` is
/// the text alternative.
pub fn stacked_bars(
    x_labels: &[String],
    series: &[Series],
    label_every: usize,
    summary: &str,
) -> String {
    let n = x_labels.len().max(1);
    let totals = stack_totals(series, n);
    let max = totals.iter().copied().max().unwrap_or(0);
    let step = nice_step(max, 4);
    let top = (max.div_ceil(step).max(1)) * step;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.8).max(1.0);
    let y = |v: u64| TOP + plot_h - plot_h * (v as f64 / top as f64);
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">"#,
        escape(summary)
    );
    // Grid lines and y labels.
    let mut v = 0;
    while v <= top {
        let yy = y(v);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 4.0,
            yy + 4.0,
            compact(v)
        );
        v += step;
    }
    // Bars, bottom series first.
    for i in 0..n {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut base = 0u64;
        for (si, s) in series.iter().enumerate() {
            let val = s.values.get(i).copied().unwrap_or(0);
            if val == 0 {
                continue;
            }
            let y_top = y(base + val);
            let h = y(base) - y_top;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y_top:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{}"><title>{} · {}: {val}</title></rect>"#,
                colour(si),
                escape(x_labels.get(i).map_or("", String::as_str)),
                escape(&s.label)
            );
            base += val;
        }
    }
    // X labels.
    let every = label_every.max(1);
    for (i, l) in x_labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = LEFT + slot * i as f64 + slot / 2.0;
        let _ = write!(
            out,
            r#"<text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            H - 8.0,
            escape(l)
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/></svg>"#,
        W - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    );
    out
}

/// A horizontal bar showing `used` of `limit` (no limit: an empty track and the count).
pub fn quota_bar(used: u64, limit: Option<u64>, summary: &str) -> String {
    const BW: f64 = 200.0;
    const BH: f64 = 12.0;
    let frac = match limit {
        Some(l) if l > 0 => (used as f64 / l as f64).min(1.0),
        _ => 0.0,
    };
    let class = if frac >= 0.9 {
        "bar-high"
    } else if frac >= 0.7 {
        "bar-mid"
    } else {
        "bar-low"
    };
    format!(
        r#"<svg class="quota-bar" viewBox="0 0 {BW} {BH}" role="img" aria-label="{}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg"><rect class="track" x="0" y="0" width="{BW}" height="{BH}" rx="3"/><rect class="{class}" x="0" y="0" width="{:.1}" height="{BH}" rx="3"/></svg>"#,
        escape(summary),
        BW * frac
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:02}")).collect()
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0, 4), 1);
        assert_eq!(nice_step(3, 4), 1);
        assert_eq!(nice_step(10, 4), 5);
        assert_eq!(nice_step(100, 4), 50);
        assert_eq!(nice_step(1234, 4), 500);
        assert_eq!(nice_step(7_000_000, 4), 2_000_000);
        assert_eq!(nice_step(u64::MAX, 4), 5_000_000_000_000_000_000);
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(0), "0");
        assert_eq!(compact(999), "999");
        assert_eq!(compact(1_000), "1k");
        assert_eq!(compact(1_250), "1.2k");
        assert_eq!(compact(3_400_000), "3.4M");
        assert_eq!(compact(2_000_000_000), "2G");
    }

    #[test]
    fn bars_stack_to_the_bucket_total_and_scale_to_the_top_tick() {
        let s = vec![
            Series {
                label: "a".into(),
                values: vec![1, 0, 3],
            },
            Series {
                label: "b".into(),
                values: vec![1, 2],
            },
        ];
        assert_eq!(stack_totals(&s, 3), vec![2, 2, 3]);
        let svg = stacked_bars(&labels(3), &s, 1, "summary");
        assert!(svg.starts_with("<svg class=\"chart\" viewBox=\"0 0 640 240\""));
        assert!(svg.ends_with("</svg>"));
        // One rect per non-zero value: a(0), a(2), b(0), b(1).
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("<title>02 · a: 3</title>"));
        // Top tick is 3 (step 1): the tallest bar reaches the top of the plot (y = 14).
        assert!(svg.contains(">3</text>"));
        assert!(svg.contains(r#"y="14.0" width"#), "{svg}");
        // Heights are proportional: 1 of 3 is a third of the 198-unit plot.
        assert!(svg.contains(r#"height="66.0""#), "{svg}");
    }

    #[test]
    fn labels_thin_out_and_everything_is_escaped() {
        let s = vec![Series {
            label: "<model & co>".into(),
            values: vec![5; 48],
        }];
        let svg = stacked_bars(&labels(48), &s, 6, "a \"quoted\" summary");
        assert_eq!(svg.matches("text-anchor=\"middle\"").count(), 8);
        assert!(svg.contains("&lt;model &amp; co&gt;"));
        assert!(svg.contains("aria-label=\"a &quot;quoted&quot; summary\""));
        assert!(!svg.contains("<model"));
    }

    #[test]
    fn empty_data_draws_an_axis_and_no_bars() {
        let svg = stacked_bars(&labels(4), &[], 1, "nothing");
        assert_eq!(svg.matches("<rect").count(), 0);
        assert!(svg.contains("class=\"axis\""));
    }

    #[test]
    fn quota_bars_fill_by_fraction_and_flag_high_use() {
        let half = quota_bar(50, Some(100), "50 of 100");
        assert!(
            half.contains(r#"class="bar-low" x="0" y="0" width="100.0""#),
            "{half}"
        );
        let high = quota_bar(95, Some(100), "95 of 100");
        assert!(high.contains("bar-high"));
        let over = quota_bar(150, Some(100), "150 of 100");
        assert!(over.contains(r#"width="200.0""#));
        let unlimited = quota_bar(7, None, "7, no limit");
        assert!(unlimited.contains(r#"width="0.0""#));
    }
}
