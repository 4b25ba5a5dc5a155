//! Results: ratios, JSON lines and the table.

use super::*;

/// Ratios against the baseline: (pps_ratio, cpu_ratio, baseline_ratio).
pub(super) fn ratios(
    r: &RunResult,
    base: &RunResult,
    rate: Rate,
) -> (Option<f64>, Option<f64>, Option<f64>) {
    let pps = (base.forwarded_pps > 0.0).then(|| r.forwarded_pps / base.forwarded_pps);
    let cpu = match (base.cpu_ns_per_packet, r.cpu_ns_per_packet) {
        (Some(b), Some(t)) if t > 0.0 => Some(b / t),
        _ => None,
    };
    let headline = match rate {
        Rate::Max => pps,
        Rate::PerStream(_) => cpu,
    };
    (pps, cpu, headline)
}

pub(super) fn json_num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => "null".to_owned(),
    }
}

pub(super) fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

pub(super) fn rate_label(rate: Rate) -> String {
    match rate {
        Rate::Max => "max".to_owned(),
        Rate::PerStream(p) => p.to_string(),
    }
}

pub(super) fn json_line(opts: &Options, r: &RunResult, base: &RunResult) -> String {
    let (pps, cpu, headline) = ratios(r, base, opts.rate);
    let rate = match opts.rate {
        Rate::Max => "\"max\"".to_owned(),
        Rate::PerStream(p) => p.to_string(),
    };
    format!(
        "{{\"backend\":{},\"streams\":{},\"rate\":{},\"payload\":{},\"workers\":{},\"duration_s\":{},\
\"offered_pps\":{},\"forwarded_pps\":{},\"loss_pct\":{},\
\"latency_us\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"over_1ms_pct\":{}}},\"relay_cpu_ns_per_packet\":{},\
\"baseline_ratio\":{},\"pps_ratio\":{},\"cpu_ratio\":{},\"syscalls_per_packet\":{},\
\"unstamped\":{},\"generator_late_us\":{{\"p50\":{},\"p99\":{}}},\"sink\":{},\"foreign_cpu_pct\":{},\"sent\":{},\"forwarder_received\":{},\"forwarded\":{},\"delivered\":{},\"streams_flowing\":{},\"stream_delivered_min\":{},\"stream_delivered_max\":{},\
\"forwarder_pinned\":{},\"rt_priority\":{},\"connected_twins\":{}}}",
        json_str(&r.backend),
        r.streams,
        rate,
        opts.payload,
        if r.backend == "baseline" { 1 } else { opts.workers },
        json_num(Some(opts.duration.as_secs_f64()), 3),
        json_num(Some(r.offered_pps), 1),
        json_num(Some(r.forwarded_pps), 1),
        json_num(Some(r.loss_pct), 4),
        json_num(r.p50_us, 1),
        json_num(r.p90_us, 1),
        json_num(r.p99_us, 1),
        json_num(r.p999_us, 1),
        json_num(r.over_1ms_pct, 3),
        json_num(r.cpu_ns_per_packet, 1),
        json_num(headline, 3),
        json_num(pps, 3),
        json_num(cpu, 3),
        json_num(r.syscalls_per_packet, 4),
        r.unstamped,
        json_num(r.gen_late_us.0, 1),
        json_num(r.gen_late_us.1, 1),
        json_str(match (opts.rate, opts.sink) {
            (Rate::Max, _) => "epoll",
            (_, SinkMode::Poll) => "poll",
            (_, SinkMode::Epoll) => "epoll",
        }),
        json_num(r.foreign_cpu_pct, 1),
        r.sent,
        r.forwarder_received,
        r.forwarded,
        r.delivered,
        r.streams_flowing,
        r.stream_min_max.0,
        r.stream_min_max.1,
        json_str(&r.pinned),
        opts.rt_priority.map_or_else(|| "null".to_owned(), |p| p.to_string()),
        r.twins.map_or_else(|| "null".to_owned(), |t| t.to_string()),
    )
}

pub(super) fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.decimals$}"))
}

pub(super) fn print_table(opts: &Options, results: &[RunResult]) {
    let Some(base) = results.first() else { return };
    println!(
        "{:<13} {:>7} {:>11} {:>11} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9}",
        "backend",
        "streams",
        "offered_pps",
        "fwd_pps",
        "loss%",
        "p50_us",
        "p99_us",
        "p999_us",
        "cpu_ns/pk",
        "sys/pk",
        "pps_ratio",
        "cpu_ratio",
        "baseline_ratio"
    );
    for r in results {
        let (pps, cpu, headline) = ratios(r, base, opts.rate);
        println!(
            "{:<13} {:>7} {:>11.0} {:>11.0} {:>7.3} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9}",
            r.backend,
            r.streams,
            r.offered_pps,
            r.forwarded_pps,
            r.loss_pct,
            fmt_opt(r.p50_us, 1),
            fmt_opt(r.p99_us, 1),
            fmt_opt(r.p999_us, 1),
            fmt_opt(r.cpu_ns_per_packet, 0),
            fmt_opt(r.syscalls_per_packet, 3),
            fmt_opt(pps, 2),
            fmt_opt(cpu, 2),
            fmt_opt(headline, 2),
        );
    }
    for r in results {
        let Some(plain) = r.backend.strip_suffix("+srtp") else {
            continue;
        };
        let Some(p) = results.iter().find(|p| p.backend == plain) else {
            continue;
        };
        if let (Some(s), Some(c)) = (r.cpu_ns_per_packet, p.cpu_ns_per_packet) {
            println!(
                "{}: SRTP terminated on leg A adds {:.0} ns of relay CPU per packet over {plain} ({:.0} -> {s:.0}, same invocation)",
                r.backend,
                s - c,
                c
            );
        }
    }
    println!();
    println!(
        "baseline_ratio = {} (> 1: better than the naive one-packet-per-syscall forwarder)",
        match opts.rate {
            Rate::Max => "pps_ratio = forwarded_pps / baseline forwarded_pps",
            Rate::PerStream(_) => {
                "cpu_ratio = baseline cpu_ns_per_packet / this cpu_ns_per_packet"
            }
        }
    );
    match opts.rt_priority {
        Some(p) => println!(
            "forwarder threads{} under SCHED_FIFO at priority {p}",
            if opts.rate == Rate::Max {
                ""
            } else {
                " and generator"
            }
        ),
        None => println!("normal scheduler (no --rt-priority)"),
    }
    for r in results {
        println!(
            "{:<13} pinned: {}; sent {} forwarder rx {} forwarded {} delivered {}; streams flowing {}/{}",
            r.backend,
            r.pinned,
            r.sent,
            r.forwarder_received,
            r.forwarded,
            r.delivered,
            r.streams_flowing,
            r.streams
        );
    }
    if !opts.overload.is_zero() {
        println!(
            "overload: {:.1} s flat out before the warm-up; streams forwarding again in the window:",
            opts.overload.as_secs_f64()
        );
        for r in results {
            println!(
                "{:<13} offered {:.0} pps in the overload ({:.1}x what it forwarded in the window); recovered {}/{} streams ({:.1} %), min {} max {} packets per stream",
                r.backend,
                r.overload_pps.unwrap_or(0.0),
                r.overload_pps.unwrap_or(0.0) / r.forwarded_pps.max(1.0),
                r.streams_flowing,
                r.streams,
                100.0 * r.streams_flowing as f64 / r.streams.max(1) as f64,
                r.stream_min_max.0,
                r.stream_min_max.1
            );
        }
    }
}
