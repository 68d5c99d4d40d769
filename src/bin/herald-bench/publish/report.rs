//! The report of a publish run: the human table (stderr), the JSON object (stdout) and the
//! `--fail-if` verdict. Reads what the phases measured; measures nothing.

use super::{Measured, Run};
use crate::latency::report_latency;
use crate::output::{Json, Table, group, human_ns, rate};
use crate::thresholds::{self, Metrics};

/// Print the table and the JSON object; false when a `--fail-if` threshold held.
pub(super) fn report(run: &Run, api: &Measured, ws: Option<&Measured>) -> bool {
    let o = &run.opts;
    let mut json = Json::new("publish");
    json.str("url", &o.target.url());
    json.str("api", &o.api.to_string());
    json.str(
        "route",
        if o.raw {
            "/api/rooms/R/publish"
        } else {
            "/api/publish"
        },
    );
    json.int("members", o.members as u64);
    json.int("connections", o.connections as u64);
    json.int("pipeline", o.pipeline as u64);
    json.int("size", o.size as u64);
    json.raw("deflate", if o.target.deflate { "true" } else { "false" });
    json.num("duration_s", o.duration.as_secs_f64(), 3);
    json.int("publishes", api.messages);
    json.num("publishes_per_s", rate(api.messages, o.duration), 0);
    json.int("deliveries", api.deliveries);
    json.num("deliveries_per_s", rate(api.deliveries, o.duration), 0);
    json.int("lost", api.lost);
    json.int("unexpected", run.members.unexpected);
    json.int("errors", run.errors);
    let mut table = Table::new(format!(
        "herald-bench publish  {}  API {}  members {}  connections {} x {} in flight  size {} B{}",
        o.target.url(),
        o.api,
        o.members,
        o.connections,
        o.pipeline,
        o.size,
        if o.target.deflate { " deflate" } else { "" },
    ));
    table.row(
        "API publishes",
        format!(
            "{}/s  ({} in {:.1} s, POST {}), {} deliveries/s",
            group(rate(api.messages, o.duration).round() as u64),
            group(api.messages),
            o.duration.as_secs_f64(),
            if o.raw {
                "/api/rooms/R/publish"
            } else {
                "/api/publish"
            },
            group(rate(api.deliveries, o.duration).round() as u64)
        ),
    );
    report_latency(
        &mut json,
        &mut table,
        "latency",
        "publish → member",
        &api.latency,
    );
    report_latency(&mut json, &mut table, "answer", "API answer", &api.answer);
    api.cpu
        .report(&mut json, &mut table, Some(("publish", api.messages)));
    if let Some(ws) = ws {
        compare(&mut json, &mut table, o.window, o.duration, api, ws);
    }
    table.row("lost", group(api.lost));
    if run.members.unexpected > 0 {
        table.row(
            "unexpected",
            format!(
                "{} messages that were not herald-bench's",
                group(run.members.unexpected)
            ),
        );
    }
    table.row("errors", group(run.errors));
    for e in &run.error_samples {
        table.row("", format!("- {e}"));
    }
    let mut metrics = Metrics::default();
    let secs = o.duration.as_secs_f64();
    metrics.latency(&api.latency);
    metrics.count("publishes", api.messages, secs);
    metrics.count("deliveries", api.deliveries, secs);
    metrics.count("lost", api.lost, secs);
    metrics.count("errors", run.errors, secs);
    metrics.cpu(&api.cpu);
    let passed = thresholds::judge(&o.thresholds, &metrics, &mut json, &mut table);
    table.print();
    crate::output::outln!("{}", json.finish());
    passed
}

/// The WebSocket sender's figures beside the API's (`websocket` in the JSON).
fn compare(
    json: &mut Json,
    table: &mut Table,
    window: usize,
    duration: std::time::Duration,
    api: &Measured,
    ws: &Measured,
) {
    let mut inner = Json::empty();
    inner.int("messages", ws.messages);
    inner.num("messages_per_s", rate(ws.messages, duration), 0);
    inner.num("deliveries_per_s", rate(ws.deliveries, duration), 0);
    inner.int("lost", ws.lost);
    let mut scratch = Table::new(String::new());
    report_latency(&mut inner, &mut scratch, "latency", "", &ws.latency);
    inner.opt_num("server_cpu_ns_per_message", ws.server_ns_per_message(), 0);
    inner.opt_num("server_cpu_pct", ws.cpu.server_pct(), 1);
    inner.opt_num("others_cpu_pct", ws.cpu.others_pct(), 1);
    json.raw("websocket", &inner.finish());
    table.row(
        "WebSocket sender",
        format!(
            "{}/s  (window {window}), {} deliveries/s, {} lost",
            group(rate(ws.messages, duration).round() as u64),
            group(rate(ws.deliveries, duration).round() as u64),
            group(ws.lost)
        ),
    );
    report_latency(
        &mut Json::empty(),
        table,
        "latency",
        "  send → member",
        &ws.latency,
    );
    match ws.server_ns_per_message() {
        Some(ns) => table.row(
            "  server CPU",
            format!(
                "{:.1}% of a core, {} per message",
                ws.cpu.server_pct().unwrap_or(0.0),
                human_ns(ns as u64)
            ),
        ),
        None => table.row("  server CPU", "(no --server-pid)"),
    }
    if let (Some(a), Some(w)) = (api.server_ns_per_message(), ws.server_ns_per_message()) {
        json.num("cpu_ratio_api_to_websocket", a / w, 2);
        table.row(
            "API / WebSocket",
            format!("{:.2}x the server CPU per message", a / w),
        );
    }
}
