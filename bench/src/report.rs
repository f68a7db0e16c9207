//! bench/results/<date>.{md,json,png}: every figure with how it was measured.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use plotters::prelude::*;
use serde::Serialize;

use crate::Cli;
use crate::cost::CostModel;
use crate::measure::{Ceiling, ColdStarts, Consumers, EndToEnd, Micro};

#[derive(Serialize)]
pub struct Results {
    pub started: DateTime<Utc>,
    /// The run's parameters.
    pub parameters: Cli,
    pub cold: ColdStarts,
    pub ceiling: Ceiling,
    pub consumers: Consumers,
    pub load: EndToEnd,
    pub cost: CostModel,
    pub micro: Vec<Micro>,
    /// The results file of the run shown beside this one (`--baseline`), as it was written.
    #[serde(skip)]
    pub baseline: Option<serde_json::Value>,
}

/// A figure of the baseline run, by JSON pointer.
fn before(r: &Results, pointer: &str) -> Option<f64> {
    r.baseline.as_ref()?.pointer(pointer)?.as_f64()
}

fn or_dash(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".to_owned(), |v| format!("{v:.digits$}"))
}

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn histogram(latencies_ms: &[f64], path: &Path) -> anyhow::Result<()> {
    let font = std::fs::read(FONT).with_context(|| format!("{FONT} (Debian's fonts-dejavu-core)"))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into_boxed_slice()))
        .map_err(|_| anyhow::anyhow!("{FONT} is not a font"))?;
    let max = latencies_ms.iter().copied().fold(0.0, f64::max).max(1.0);
    let bins = 30;
    let width = max / bins as f64;
    let mut counts = vec![0u32; bins];
    for l in latencies_ms {
        counts[((l / width) as usize).min(bins - 1)] += 1;
    }
    let root = BitMapBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("POST → SHIPPED, {} orders", latencies_ms.len()), ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max, 0u32..counts.iter().copied().max().unwrap_or(1) + 1)?;
    chart.configure_mesh().x_desc("milliseconds").y_desc("orders").label_style(("sans-serif", 16)).draw()?;
    chart.draw_series(counts.iter().enumerate().map(|(i, &n)| {
        let x = i as f64 * width;
        Rectangle::new([(x, 0), (x + width, n)], BLUE.mix(0.7).filled())
    }))?;
    root.present()?;
    Ok(())
}

fn markdown(r: &Results, png: &str) -> String {
    let mut md = String::new();
    let c = &r.cold;
    let _ = writeln!(md, "# ShopSphere benchmarks, {}\n", r.started.format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(
        md,
        "Written by `make bench` (`bench/src`); every figure below was measured in this one run on this machine \
         ({} cores). These machines are noisy: read the ratios, not the absolute times. Raw figures: the JSON beside \
         this file.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(md, "## 1. Cold start\n\n{}; {} starts each.\n", c.method, c.starts);
    let _ = writeln!(md, "| function | median | p90 | median ÷ /bin/true | binary (x86_64 host) | arm64 bootstrap |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    let _ = writeln!(md, "| `/bin/true` | {:.2} ms | {:.2} ms | 1.0 | | |", c.true_median_ms, c.true_p90_ms);
    for f in &c.functions {
        let arm =
            f.arm64.as_ref().map_or("not built here".to_owned(), |(p, s)| format!("{:.1} MB (`{p}`)", *s as f64 / 1e6));
        let _ = writeln!(
            md,
            "| {} | {:.2} ms | {:.2} ms | {:.1} | {:.1} MB | {arm} |",
            f.function,
            f.median_ms,
            f.p90_ms,
            f.ratio_to_true,
            f.size_bytes as f64 / 1e6
        );
    }
    let e = &r.ceiling;
    let k = &r.consumers;
    let base = r.baseline.as_ref().and_then(|b| b["started"].as_str()).unwrap_or("the baseline");
    let _ = writeln!(md, "\n## 2. Each consumer alone\n\n{}.\n", k.method);
    let _ = writeln!(
        md,
        "| function | build | fed | records/s | batch p50 / p99 | DynamoDB requests / record | write units / record | \
         simulated-provider requests / record | SNS requests / record | CPU / record (stat; schedstat) | \
         exec → first `next` | exec → first batch answered |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for c in &k.runs {
        let _ = writeln!(
            md,
            "| {} | {} | {} {} | {:.1} | {:.0} / {:.0} ms | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} ms; {:.3} ms | {:.1} ms | {:.1} ms |",
            c.function,
            c.build,
            c.records,
            c.fed,
            c.records_per_second,
            c.batch_p50_ms,
            c.batch_p99_ms,
            c.dynamodb_requests_per_record,
            c.write_units_per_record,
            c.provider_requests_per_record,
            c.sns_requests_per_record,
            c.cpu_ms_per_record,
            c.cpu_ms_per_record_schedstat,
            c.exec_to_first_next_ms,
            c.exec_to_first_batch_ms,
        );
    }
    let _ = writeln!(
        md,
        "\nBeside {base}: inventory then made {} DynamoDB requests and {} SNS requests per record \
         ({} records/s, batch p50 {} ms; its CPU per record was not measured by that run).",
        or_dash(before(r, "/consumer/dynamodb_requests_per_record"), 2),
        or_dash(before(r, "/consumer/sns_requests_per_record"), 2),
        or_dash(before(r, "/consumer/records_per_second"), 1),
        or_dash(before(r, "/consumer/batch_p50_ms"), 0),
    );
    let _ = writeln!(
        md,
        "\nEmulator ceiling: {:.0} bare conditional puts/s ({}: {} puts in {:.1} s).",
        e.puts_per_second, e.method, e.puts, e.seconds
    );
    let _ = writeln!(md, "\n## 3. Platform micro-benchmarks (criterion)\n");
    let _ =
        writeln!(md, "`cargo bench -p shopsphere-bench` (bench/benches/platform.rs), mean with its 95% interval.\n");
    let _ = writeln!(md, "| benchmark | mean | 95% interval | per record |\n|---|---|---|---|");
    for m in &r.micro {
        let _ = writeln!(
            md,
            "| {} | {:.0} ns | {:.0}–{:.0} ns | {:.0} ns |",
            m.name,
            m.mean_ns,
            m.low_ns,
            m.high_ns,
            m.mean_ns / m.per as f64
        );
    }
    let l = &r.load;
    let _ = writeln!(md, "\n## 4. End to end\n\n{}.\n", l.method);
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    let _ = writeln!(md, "| offered | {:.1} orders/s for {} s |", l.offered_orders_per_second, l.seconds);
    let _ = writeln!(md, "| placed / refused / shipped | {} / {} / {} |", l.placed, l.refused, l.shipped);
    let _ = writeln!(
        md,
        "| achieved | {:.2} orders/s (shipped ÷ first POST to last SHIPPED, {:.1} s) |",
        l.achieved_orders_per_second, l.window_seconds
    );
    let _ = writeln!(md, "| POST → SHIPPED p50 / p99 | {:.0} ms / {:.0} ms |", l.p50_ms, l.p99_ms);
    let _ = writeln!(md, "| AWS requests/s (all services) | {:.0} |", l.requests_per_second);
    let _ = writeln!(
        md,
        "| DynamoDB requests/s ÷ emulator ceiling | {:.2} |",
        l.dynamodb_requests_per_second / e.puts_per_second
    );
    let _ = writeln!(md, "\n## 5. Cost model\n");
    let m = &r.cost;
    let _ = writeln!(
        md,
        "Per order, from the requests counted in 4 ({} orders) and billed Lambda time (each invocation rounded up \
         to 1 ms, at the template's memory); prices: {}.\n",
        m.orders, m.prices.as_of
    );
    let _ = writeln!(md, "| item | per order | USD per million orders |\n|---|---|---|");
    for line in &m.lines {
        let _ = writeln!(
            md,
            "| {} | {:.3} {} | {:.2} |",
            line.item, line.per_order, line.unit, line.usd_per_million_orders
        );
    }
    let _ = writeln!(
        md,
        "| **total** | | **{:.2}** (beside {base}: {}) |",
        m.usd_per_million_orders,
        or_dash(before(r, "/cost/usd_per_million_orders"), 2)
    );
    let write_units = m.lines.iter().find(|l| l.unit == "write units").map_or(0.0, |l| l.per_order);
    let _ = writeln!(
        md,
        "\nDynamoDB write units per order: {write_units:.1} (beside {base}: {}).",
        or_dash(
            r.baseline.as_ref().and_then(|b| b["cost"]["lines"]
                .as_array()?
                .iter()
                .find(|l| l["unit"] == "write units")?["per_order"]
                .as_f64()),
            1
        )
    );
    let _ = writeln!(md, "\nWhat the design choices cost, per million orders:\n");
    let mut levers: Vec<_> = m.levers.iter().collect();
    levers.sort_by(|a, b| b.usd_per_million_orders.total_cmp(&a.usd_per_million_orders));
    for lever in levers {
        let _ = writeln!(md, "- **{}**: {:.2} USD. {}", lever.choice, lever.usd_per_million_orders, lever.how);
    }
    let _ = writeln!(md, "\nNot counted: {}.", m.not_counted.join("; "));
    let _ = writeln!(md, "\nPrice table (USD): {}", serde_json::to_string(&m.prices).unwrap_or_default());
    let _ = writeln!(md, "\n## 6. Latency histogram\n\n![POST to SHIPPED]({png})");
    md
}

/// Write the three files; their paths.
pub fn write(results: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let stem = results.started.format("%Y-%m-%d").to_string();
    let (md, json, png) =
        (dir.join(format!("{stem}.md")), dir.join(format!("{stem}.json")), dir.join(format!("{stem}.png")));
    histogram(&results.load.latencies_ms, &png)?;
    std::fs::write(&json, serde_json::to_string_pretty(results)?)?;
    std::fs::write(&md, markdown(results, &format!("{stem}.png")))?;
    Ok(vec![md, json, png])
}
