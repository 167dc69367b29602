//! The figures of one bench run and their plain-text rendering.
use std::fmt::Write as _;
use std::time::Duration;

use super::Plan;
use super::footprint::Footprint;
use super::load::{LoadStats, MODEL, STREAM_EVENTS};
use super::pick::PickRow;

/// The end-to-end figures for one pool size.
#[derive(Clone, Debug)]
pub struct PoolRun {
    pub credentials: usize,
    /// Active credentials the gateway's pool held after `build()`.
    pub loaded: usize,
    /// Simulator users plus the SQLite rows.
    pub seed_time: Duration,
    /// `build()` on the seeded data directory.
    pub load_time: Duration,
    pub warmup_errors: usize,
    pub direct: LoadStats,
    pub gateway: LoadStats,
    pub direct_stream: LoadStats,
    pub gateway_stream: LoadStats,
    pub direct_seq: LoadStats,
    pub gateway_seq: LoadStats,
    /// `Store::call` invocations while the measured gateway requests ran.
    pub store_reads: u64,
    pub gateway_requests: usize,
    /// Requests per second of the gateway at c=N, per round, in round order.
    pub gateway_round_rps: Vec<f64>,
    /// Per round, the gateway's CPU per request minus the simulator's alone (seconds), for
    /// non-streaming requests and for streams at c=N. Each pair ran moments apart.
    pub added_cpu_rounds: [Vec<f64>; 2],
}

impl PoolRun {
    fn all_stats(&self) -> [&LoadStats; 6] {
        [
            &self.direct,
            &self.gateway,
            &self.direct_stream,
            &self.gateway_stream,
            &self.direct_seq,
            &self.gateway_seq,
        ]
    }

    pub fn reads_per_request(&self) -> f64 {
        self.store_reads as f64 / self.gateway_requests.max(1) as f64
    }
}

#[derive(Clone, Debug)]
pub struct Report {
    pub plan: Plan,
    /// The first row is the baseline.
    pub picks: Vec<PickRow>,
    /// The first run is the baseline.
    pub pools: Vec<PoolRun>,
    /// The gateway process's memory; `None` when the plan skipped it.
    pub footprint: Option<Footprint>,
    pub cpus: usize,
    pub release: bool,
    pub took: Duration,
    /// One-minute load average when the run started and when it ended (Linux), to judge the
    /// noise.
    pub load_average: Option<(f64, f64)>,
}

/// How a budget line came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Short,
    NotMeasured,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Short => "short",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One line of the performance budget: what was measured in this run, against its limit.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetLine {
    pub what: String,
    /// In `unit`s; `None` when this run did not measure it.
    pub measured: Option<f64>,
    pub limit: f64,
    /// The figure must be at most the limit (otherwise at least).
    pub at_most: bool,
    pub unit: &'static str,
}

impl BudgetLine {
    pub fn verdict(&self) -> Verdict {
        match self.measured {
            Some(m) if m.is_finite() => {
                let ok = if self.at_most {
                    m <= self.limit
                } else {
                    m >= self.limit
                };
                if ok { Verdict::Ok } else { Verdict::Short }
            }
            _ => Verdict::NotMeasured,
        }
    }

    fn figure(&self, v: f64) -> String {
        let digits = if v.abs() >= 100.0 || self.unit == "%" || self.unit == "streams" {
            0
        } else if v.abs() >= 10.0 {
            1
        } else {
            2
        };
        match self.unit {
            "streams" => thousands(v.max(0.0) as usize),
            "%" => format!("{v:.digits$}%"),
            unit => format!("{v:.digits$} {unit}"),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(value: f64, base: f64) -> f64 {
    value / base
}

fn dur_ratio(value: Duration, base: Duration) -> f64 {
    ratio(value.as_secs_f64(), base.as_secs_f64())
}

/// The median over rounds of `large[i] / small[i]`: the two pools ran each round moments
/// apart, so a burst of other work on the machine moves one round's pair, not the figure.
fn round_ratio(large: &[f64], small: &[f64]) -> Option<f64> {
    median(
        large
            .iter()
            .zip(small)
            .map(|(l, s)| ratio(*l, *s))
            .collect(),
    )
}

/// The median of the finite values; `None` when there are none.
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// `10000` → `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn x(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}x")
    } else {
        "n/a".into()
    }
}

impl Report {
    /// Every ratio the report prints against a baseline, named; all must be finite and
    /// positive for the report to mean anything.
    pub fn ratios(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        if let Some(base) = self.picks.first() {
            for row in &self.picks {
                let name = format!("pick {} {}", row.case.credentials, row.case.describe());
                out.push((format!("{name}: index"), ratio(row.index_ns, base.index_ns)));
                out.push((format!("{name}: scan"), ratio(row.scan_ns, base.scan_ns)));
                out.push((
                    format!("{name}: scan/index"),
                    ratio(row.scan_ns, row.index_ns),
                ));
            }
        }
        let Some(base) = self.pools.first() else {
            return out;
        };
        for run in &self.pools {
            let n = run.credentials;
            let pairs: [(&str, &LoadStats, &LoadStats); 6] = [
                ("direct", &run.direct, &base.direct),
                ("gateway", &run.gateway, &base.gateway),
                ("direct c=1", &run.direct_seq, &base.direct_seq),
                ("gateway c=1", &run.gateway_seq, &base.gateway_seq),
                ("direct stream", &run.direct_stream, &base.direct_stream),
                ("gateway stream", &run.gateway_stream, &base.gateway_stream),
            ];
            for (what, s, b) in pairs {
                out.push((format!("{what} {n}: req/s"), ratio(s.rps(), b.rps())));
                out.push((
                    format!("{what} {n}: p50"),
                    dur_ratio(s.latency.p50, b.latency.p50),
                ));
                out.push((
                    format!("{what} {n}: p99"),
                    dur_ratio(s.latency.p99, b.latency.p99),
                ));
            }
            out.push((
                format!("gateway stream {n}: first byte p50"),
                dur_ratio(run.gateway_stream.ttfb.p50, base.gateway_stream.ttfb.p50),
            ));
            out.push((
                format!("gateway stream {n}: first byte p99"),
                dur_ratio(run.gateway_stream.ttfb.p99, base.gateway_stream.ttfb.p99),
            ));
        }
        out
    }

    /// Failed requests over every phase (warm-up included), and the first failure's message.
    pub fn failures(&self) -> (usize, Option<String>) {
        let mut failed = 0;
        let mut first = None;
        for run in &self.pools {
            failed += run.warmup_errors;
            for s in run.all_stats() {
                failed += s.errors;
                if first.is_none() {
                    first.clone_from(&s.first_error);
                }
            }
        }
        if failed > 0 && first.is_none() {
            first = Some("a warm-up request failed".into());
        }
        (failed, first)
    }

    /// The budget of issue #10, each line with its figure from this run.
    pub fn budget(&self) -> Vec<BudgetLine> {
        // The worse of the pool sizes: the budget holds for any pool.
        let worst = |f: &dyn Fn(&PoolRun) -> Option<f64>| {
            let all: Option<Vec<f64>> = self.pools.iter().map(f).collect();
            all.filter(|v| !v.is_empty())
                .map(|v| v.into_iter().fold(f64::NEG_INFINITY, f64::max))
        };
        // The median round: other work on the machine lands on single rounds, and a
        // round's two figures were taken moments apart.
        let added_cpu =
            |r: &PoolRun, i: usize| median(r.added_cpu_rounds[i].clone()).map(|s| s * 1e6);
        let c = self.plan.concurrency;
        let mut lines = vec![
            BudgetLine {
                what: format!("gateway CPU per non-stream chat (c={c}, median round)"),
                measured: worst(&|r| added_cpu(r, 0)),
                limit: 100.0,
                at_most: true,
                unit: "µs",
            },
            BudgetLine {
                what: format!("gateway CPU per {STREAM_EVENTS}-event stream (c={c}, median round)"),
                measured: worst(&|r| added_cpu(r, 1)),
                limit: 250.0,
                at_most: true,
                unit: "µs",
            },
        ];
        let f = self.footprint.as_ref();
        let held = f.map_or(self.plan.held_streams, |f| f.held_target);
        lines.push(BudgetLine {
            what: "idle RSS of the gateway process".into(),
            measured: f.map(|f| f.rss_idle as f64 / 1e6),
            limit: 25.0,
            at_most: true,
            unit: "MB",
        });
        lines.push(BudgetLine {
            what: format!("RSS per held stream, {} held", thousands(held)),
            measured: f.and_then(Footprint::per_stream).map(|b| b / 1e3),
            limit: 64.0,
            at_most: true,
            unit: "KB",
        });
        let limit = match f.and_then(|f| f.concurrency_limit) {
            Some((0, cap)) => format!("0 (default: {})", thousands(cap)),
            Some((n, _)) => thousands(n),
            None => "default".to_string(),
        };
        lines.push(BudgetLine {
            what: format!("held streams served at MAX_CONCURRENT_REQUESTS={limit}"),
            measured: f.map(|f| f.held as f64),
            limit: held as f64,
            at_most: false,
            unit: "streams",
        });
        lines.push(BudgetLine {
            what: "gateway added p99 at c=1".into(),
            measured: worst(&|r| {
                Some(ms(r.gateway_seq.latency.p99) - ms(r.direct_seq.latency.p99))
            }),
            limit: 1.0,
            at_most: true,
            unit: "ms",
        });
        let throughput = match (self.pools.first(), self.pools.last()) {
            (Some(small), Some(large)) if self.pools.len() > 1 => {
                round_ratio(&large.gateway_round_rps, &small.gateway_round_rps).map(|r| 100.0 * r)
            }
            _ => None,
        };
        lines.push(BudgetLine {
            what: format!(
                "throughput with {} credentials vs {} (c={c}, median round)",
                thousands(self.pools.last().map_or(0, |r| r.credentials)),
                thousands(self.pools.first().map_or(0, |r| r.credentials))
            ),
            measured: throughput,
            limit: 95.0,
            at_most: false,
            unit: "%",
        });
        lines
    }

    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = self.header(&mut o);
        let _ = self.budget_section(&mut o);
        let _ = self.pick_section(&mut o);
        let _ = self.e2e_section(&mut o);
        let _ = self.stream_section(&mut o);
        let _ = self.sqlite_section(&mut o);
        let _ = self.setup_section(&mut o);
        o
    }

    fn header(&self, o: &mut String) -> std::fmt::Result {
        writeln!(o, "gcli2api bench")?;
        writeln!(
            o,
            "Loopback only: simulator and gateway in this process on 127.0.0.1, throwaway data dir."
        )?;
        writeln!(
            o,
            "{} build, {} CPU(s) shared by the load generator, the gateway and the simulator; took {:.1} s.",
            if self.release {
                "release"
            } else {
                "DEBUG (figures not representative; use --release)"
            },
            self.cpus,
            self.took.as_secs_f64()
        )?;
        writeln!(
            o,
            "Ratios are against a baseline measured in this run: 1.00x = no change, above 1 = more."
        )?;
        if let Some((start, end)) = self.load_average {
            writeln!(
                o,
                "Load average {start:.2} at start, {end:.2} at the end, on {} CPU(s). Other work on the\n\
                 machine raises every figure: wall-clock ratios between 0.8x and 1.25x are within\n\
                 noise, tail latency takes the scheduler's delays, CPU per request is the steadiest.",
                self.cpus
            )?;
        }
        Ok(())
    }

    fn budget_section(&self, o: &mut String) -> std::fmt::Result {
        writeln!(o)?;
        writeln!(
            o,
            "Budget (issue #10). CPU and latency: the gateway's added cost, gateway minus the\n\
             simulator called directly, same pool, worse of the two pool sizes. Memory: a separate\n\
             gateway process with default settings."
        )?;
        writeln!(
            o,
            "   {:<66} {:>10}  {:>10}  verdict",
            "line", "measured", "limit"
        )?;
        for line in self.budget() {
            let measured = line
                .measured
                .filter(|m| m.is_finite())
                .map_or_else(|| "-".to_string(), |m| line.figure(m));
            let limit = format!(
                "{} {}",
                if line.at_most { "≤" } else { "≥" },
                line.figure(line.limit)
            );
            writeln!(
                o,
                "   {:<66} {:>10}  {:>10}  {}",
                line.what,
                measured,
                limit,
                line.verdict().as_str()
            )?;
        }
        if let Some(f) = &self.footprint {
            writeln!(
                o,
                "   Gateway process resident set: {:.1} MB after start, {:.1} MB idle after {} requests,\n   \
                 {:.1} MB with {} streams held open ({} asked for).",
                f.rss_started as f64 / 1e6,
                f.rss_idle as f64 / 1e6,
                super::footprint::WARM_TOTAL,
                f.rss_held as f64 / 1e6,
                thousands(f.held),
                thousands(f.held_target)
            )?;
            if let Some(note) = &f.note {
                writeln!(o, "   Note: {note}")?;
            }
        }
        Ok(())
    }

    fn pick_section(&self, o: &mut String) -> std::fmt::Result {
        let p = &self.plan.pick;
        writeln!(o)?;
        writeln!(
            o,
            "1. Pool::pick, ns per pick (median of {} runs of {} ms each; model {})",
            p.runs,
            p.run_time.as_millis(),
            super::pick::MODEL
        )?;
        let Some(base) = self.picks.first() else {
            return writeln!(o, "   (no cases)");
        };
        let b = thousands(base.case.credentials);
        writeln!(
            o,
            "   {:>11}  {:<22} {:>8}  {:>10} {:>8}  {:>12} {:>8}  {:>10}",
            "credentials",
            "shape",
            "eligible",
            "pick ns",
            format!("vs {b}"),
            "scan ns",
            format!("vs {b}"),
            "scan/pick"
        )?;
        for r in &self.picks {
            writeln!(
                o,
                "   {:>11}  {:<22} {:>8}  {:>10.1} {:>8}  {:>12.1} {:>8}  {:>10}",
                thousands(r.case.credentials),
                r.case.describe(),
                thousands(r.eligible),
                r.index_ns,
                x(ratio(r.index_ns, base.index_ns)),
                r.scan_ns,
                x(ratio(r.scan_ns, base.scan_ns)),
                format!("{:.0}x", r.scan_ns / r.index_ns),
            )?;
        }
        writeln!(
            o,
            "   pick = Pool::pick (per-model index). scan = the reference's method (read every row,\n   \
             skip cooling and banned ones, choose at random) done in Rust over memory, so a lower\n   \
             bound on what ORDER BY RANDOM() in SQLite plus a Python filter costs per request."
        )
    }

    fn e2e_section(&self, o: &mut String) -> std::fmt::Result {
        let plan = &self.plan;
        writeln!(o)?;
        writeln!(
            o,
            "2. End-to-end, non-streaming /v1/chat/completions, model {MODEL}\n   \
             ({} requests per row at concurrency c={}, {} at c=1; CALLS_PER_ROTATION=1, so every\n   \
             request moves to the next credential; the simulator alone is the no-gateway\n   \
             baseline: direct POST /v1internal:generateContent with the same tokens)",
            plan.requests, plan.concurrency, plan.sequential_requests
        )?;
        let Some(base) = self.pools.first() else {
            return writeln!(o, "   (no pools)");
        };
        let b = thousands(base.credentials);
        writeln!(
            o,
            "   {:>11}  {:<16} {:>9} {:>7}  {:>8} {:>7}  {:>8} {:>7}  {:>6}",
            "credentials",
            "target",
            "req/s",
            format!("vs {b}"),
            "p50 ms",
            format!("vs {b}"),
            "p99 ms",
            format!("vs {b}"),
            "errors"
        )?;
        let c = plan.concurrency;
        for run in &self.pools {
            for (what, s, bs) in [
                (format!("simulator, c={c}"), &run.direct, &base.direct),
                (format!("gateway, c={c}"), &run.gateway, &base.gateway),
                ("simulator, c=1".into(), &run.direct_seq, &base.direct_seq),
                ("gateway, c=1".into(), &run.gateway_seq, &base.gateway_seq),
            ] {
                writeln!(
                    o,
                    "   {:>11}  {:<16} {:>9.0} {:>7}  {:>8.2} {:>7}  {:>8.2} {:>7}  {:>6}",
                    thousands(run.credentials),
                    what,
                    s.rps(),
                    x(ratio(s.rps(), bs.rps())),
                    ms(s.latency.p50),
                    x(dur_ratio(s.latency.p50, bs.latency.p50)),
                    ms(s.latency.p99),
                    x(dur_ratio(s.latency.p99, bs.latency.p99)),
                    s.errors
                )?;
            }
        }
        writeln!(
            o,
            "   Gateway added latency per request (gateway minus simulator alone, same pool, p50):"
        )?;
        for (label, pick) in [
            (
                format!("c={}", plan.concurrency),
                (|r: &PoolRun| (&r.gateway, &r.direct)) as fn(&PoolRun) -> (&LoadStats, &LoadStats),
            ),
            ("c=1".into(), |r: &PoolRun| (&r.gateway_seq, &r.direct_seq)),
        ] {
            let added = |r: &PoolRun| {
                let (g, d) = pick(r);
                ms(g.latency.p50) - ms(d.latency.p50)
            };
            let cells: Vec<String> = self
                .pools
                .iter()
                .map(|r| format!("{}: {:+.3} ms", thousands(r.credentials), added(r)))
                .collect();
            let (first, last) = (added(base), self.pools.last().map_or(f64::NAN, added));
            // A ratio of two differences means nothing when the baseline difference is ~0.
            let r = if first > 0.005 {
                x(last / first)
            } else {
                "n/a".into()
            };
            writeln!(o, "     {label:<5} {}   ratio {r}", cells.join(", "))?;
        }
        if let Some(line) = self.cpu_line("request", |r| (&r.gateway, &r.direct)) {
            writeln!(o, "{line}")?;
        }
        writeln!(
            o,
            "   The simulator finds users by a linear scan, so its own cost may grow with the pool;\n   \
             the gateway-minus-simulator lines take that out."
        )
    }

    /// Process CPU per request at c=N: steadier than wall time when other processes compete
    /// for the CPUs. `None` where the platform gives no process CPU time.
    fn cpu_line(
        &self,
        what: &str,
        pick: fn(&PoolRun) -> (&LoadStats, &LoadStats),
    ) -> Option<String> {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let added = |r: &PoolRun| {
            let (g, d) = pick(r);
            Some(us(g.cpu_per_request?) - us(d.cpu_per_request?))
        };
        let cells: Vec<String> = self
            .pools
            .iter()
            .map(|r| {
                let (g, d) = pick(r);
                Some(format!(
                    "{}: {:.0} µs (gateway {:.0} − simulator {:.0})",
                    thousands(r.credentials),
                    added(r)?,
                    us(g.cpu_per_request?),
                    us(d.cpu_per_request?)
                ))
            })
            .collect::<Option<_>>()?;
        let first = added(self.pools.first()?)?;
        let last = self.pools.last().and_then(added)?;
        let r = if first > 1.0 {
            x(last / first)
        } else {
            "n/a".into()
        };
        Some(format!(
            "   Gateway added CPU per {what} (whole process, c={}):\n     {}   ratio {r}",
            self.plan.concurrency,
            cells.join(", ")
        ))
    }

    fn stream_section(&self, o: &mut String) -> std::fmt::Result {
        writeln!(o)?;
        writeln!(
            o,
            "3. Streaming /v1/chat/completions, {STREAM_EVENTS} upstream events per stream ({} requests per row,\n   \
             concurrency {})",
            self.plan.stream_requests, self.plan.concurrency
        )?;
        let Some(base) = self.pools.first() else {
            return writeln!(o, "   (no pools)");
        };
        let b = thousands(base.credentials);
        writeln!(
            o,
            "   {:>11}  {:<16} {:>13} {:>7} {:>13} {:>7}  {:>9} {:>7} {:>9} {:>7}  {:>6}",
            "credentials",
            "target",
            "1st byte p50",
            format!("vs {b}"),
            "1st byte p99",
            format!("vs {b}"),
            "total p50",
            format!("vs {b}"),
            "total p99",
            format!("vs {b}"),
            "errors"
        )?;
        for run in &self.pools {
            for (what, s, bs) in [
                ("simulator alone", &run.direct_stream, &base.direct_stream),
                ("gateway", &run.gateway_stream, &base.gateway_stream),
            ] {
                writeln!(
                    o,
                    "   {:>11}  {:<16} {:>10.2} ms {:>7} {:>10.2} ms {:>7}  {:>6.2} ms {:>7} {:>6.2} ms {:>7}  {:>6}",
                    thousands(run.credentials),
                    what,
                    ms(s.ttfb.p50),
                    x(dur_ratio(s.ttfb.p50, bs.ttfb.p50)),
                    ms(s.ttfb.p99),
                    x(dur_ratio(s.ttfb.p99, bs.ttfb.p99)),
                    ms(s.latency.p50),
                    x(dur_ratio(s.latency.p50, bs.latency.p50)),
                    ms(s.latency.p99),
                    x(dur_ratio(s.latency.p99, bs.latency.p99)),
                    s.errors
                )?;
            }
        }
        if let Some(line) = self.cpu_line("stream", |r| (&r.gateway_stream, &r.direct_stream)) {
            writeln!(o, "{line}")?;
        }
        Ok(())
    }

    fn sqlite_section(&self, o: &mut String) -> std::fmt::Result {
        writeln!(o)?;
        writeln!(
            o,
            "4. SQLite on the hot path (Store::call count while the measured gateway requests ran)"
        )?;
        for run in &self.pools {
            writeln!(
                o,
                "   {:>11} credentials: {} reads over {} requests = {:.3} per request{}",
                thousands(run.credentials),
                run.store_reads,
                run.gateway_requests,
                run.reads_per_request(),
                if run.store_reads == 0 {
                    " (expected 0)"
                } else {
                    " (expected 0: the hot path waited on SQLite)"
                }
            )?;
        }
        Ok(())
    }

    fn setup_section(&self, o: &mut String) -> std::fmt::Result {
        writeln!(o)?;
        writeln!(o, "Setup (not part of any figure above)")?;
        for run in &self.pools {
            writeln!(
                o,
                "   {:>11} credentials: seeded in {:.2} s (simulator users + one SQLite transaction); \
                 build() loaded {} active in {:.2} s",
                thousands(run.credentials),
                run.seed_time.as_secs_f64(),
                thousands(run.loaded),
                run.load_time.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(3), "3");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn throughput_is_the_median_round_ratio() {
        assert_eq!(
            round_ratio(&[90.0, 100.0, 50.0], &[100.0, 100.0, 100.0]),
            Some(0.9)
        );
        assert_eq!(round_ratio(&[1.0, 3.0], &[1.0, 1.0]), Some(2.0));
        assert_eq!(round_ratio(&[], &[]), None);
        assert_eq!(round_ratio(&[1.0], &[0.0]), None);
        assert_eq!(median(vec![3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn budget_verdicts_and_figures() {
        let line = |measured, at_most, unit| BudgetLine {
            what: "x".into(),
            measured,
            limit: 100.0,
            at_most,
            unit,
        };
        assert_eq!(line(Some(99.5), true, "µs").verdict(), Verdict::Ok);
        assert_eq!(line(Some(100.0), true, "µs").verdict(), Verdict::Ok);
        assert_eq!(line(Some(100.1), true, "µs").verdict(), Verdict::Short);
        assert_eq!(line(Some(99.0), false, "%").verdict(), Verdict::Short);
        assert_eq!(line(Some(101.0), false, "%").verdict(), Verdict::Ok);
        assert_eq!(line(None, true, "MB").verdict(), Verdict::NotMeasured);
        assert_eq!(
            line(Some(f64::NAN), true, "MB").verdict(),
            Verdict::NotMeasured
        );
        assert_eq!(line(None, true, "µs").figure(84.26), "84.3 µs");
        assert_eq!(line(None, true, "ms").figure(0.314), "0.31 ms");
        assert_eq!(line(None, true, "%").figure(99.14), "99%");
        assert_eq!(line(None, false, "streams").figure(1000.0), "1,000");
    }

    #[test]
    fn undefined_ratios_print_as_na() {
        assert_eq!(x(1.0 / 0.0), "n/a");
        assert_eq!(x(f64::NAN), "n/a");
        assert_eq!(x(1.234), "1.23x");
    }
}
