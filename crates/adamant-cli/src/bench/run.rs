//! Running the scenarios and printing the table or the JSON.

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use super::scenarios::{self, Scenario};
use super::timing::{median, paired};
use crate::output::outln;
use crate::progress;

/// Options of `adamant bench`.
#[derive(Args, Debug)]
#[command(after_help = "Each step is paired with a streaming pass over the very arrays it reads and \
writes (weights, gradients, every state array), on the same threads; fraction_of_roofline is the median \
of the paired time ratios, so the figure holds even while the machine's bandwidth drifts.")]
pub struct BenchArgs {
    /// Print one JSON array (one object per scenario) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Scale every element count by this factor (0.25 runs a quick check; the scenario names
    /// keep the full sizes).
    #[arg(long, default_value_t = 1.0)]
    pub size: f64,
    /// Threads for the fused step and the roofline, 1 to the CPUs of this machine (default:
    /// all of them).
    #[arg(long, value_parser = crate::machine::parse_threads)]
    pub threads: Option<usize>,
    /// Run only scenarios whose name contains one of these (comma-separated), e.g. `lazy,dense-f32-64M`.
    #[arg(long, value_delimiter = ',')]
    pub scenario: Vec<String>,
    /// Seconds of measurement per scenario (at least 5 pairs of a step and a streaming pass,
    /// however long they take).
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Hide the progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
}

/// One scenario's figures (the JSON schema).
#[derive(Serialize, Debug)]
struct Row {
    scenario: String,
    optimizer: String,
    rule: String,
    dtype: String,
    elements: usize,
    tensors: usize,
    threads: usize,
    median_ms: f64,
    /// The fastest and slowest step of the run.
    min_ms: f64,
    max_ms: f64,
    gbps: f64,
    roofline_gbps: f64,
    fraction_of_roofline: f64,
    /// The same step's throughput on cache-resident arrays (dense scenarios): what the
    /// arithmetic allows on these threads.
    #[serde(skip_serializing_if = "Option::is_none")]
    compute_ceiling_gbps: Option<f64>,
    /// Throughput over min(roofline, compute ceiling).
    #[serde(skip_serializing_if = "Option::is_none")]
    fraction_of_limit: Option<f64>,
    /// For many tensors: throughput relative to one tensor of the same elements (median of
    /// paired time ratios).
    #[serde(skip_serializing_if = "Option::is_none")]
    fraction_of_one_tensor: Option<f64>,
    /// For clipping by the global norm: throughput relative to the same step without it
    /// (median of paired time ratios).
    #[serde(skip_serializing_if = "Option::is_none")]
    fraction_of_unclipped: Option<f64>,
    /// For subnormal moments: throughput relative to the same step from normal moments (median
    /// of paired time ratios).
    #[serde(skip_serializing_if = "Option::is_none")]
    fraction_of_normal_moments: Option<f64>,
    /// For clipping by the global norm: what it adds to the step, in plain reads of the
    /// gradients timed in the same pairs (median of paired ratios; 1 is one extra read).
    #[serde(skip_serializing_if = "Option::is_none")]
    clip_cost_in_gradient_reads: Option<f64>,
    /// The process's peak resident memory while the scenario was built and measured, in MiB
    /// (Linux; the peak restarts before each scenario, after the previous one's arrays are
    /// freed, but what the allocator kept of them still counts: run the scenario alone, with
    /// `--scenario`, for its own figure).
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_rss_mb: Option<f64>,
    /// Of the process's memory once the scenario's arrays were built, how much the system
    /// backs with transparent huge pages, in MiB (Linux): adamant asks for them for optimizer
    /// state ([`adamant::advise_huge_pages`]); 0 means none were granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    huge_pages_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    table_rows: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows_touched: Option<usize>,
}

/// `adamant bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if !(args.size > 0.0 && args.size.is_finite()) {
        bail!("--size must be a positive number, not {}", args.size);
    }
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a positive number, not {}", args.seconds);
    }
    if args.scenario.iter().any(|p| p.trim().is_empty()) {
        bail!(
            "--scenario {:?}: an empty pattern matches every scenario; leave --scenario out to run them all",
            args.scenario.join(",")
        );
    }
    let threads = args.threads.unwrap_or_else(crate::machine::cpus);
    let chosen: Vec<Scenario> = scenarios::all(args.size)
        .into_iter()
        .filter(|s| {
            let name = s.name.to_ascii_lowercase();
            args.scenario.is_empty() || args.scenario.iter().any(|p| name.contains(&p.to_ascii_lowercase()))
        })
        .collect();
    if chosen.is_empty() {
        let names: Vec<String> = scenarios::all(1.0).into_iter().map(|s| s.name).collect();
        bail!("no scenario matches {:?}; the scenarios are: {}", args.scenario, names.join(", "));
    }
    if args.list {
        for s in &chosen {
            outln!("{}", s.name)?;
        }
        return Ok(());
    }
    // Scenarios run one at a time, so the largest must fit.
    for s in &chosen {
        crate::machine::check_memory(
            &format!("scenario {} at --size {:?}", s.name, args.size),
            s.memory(),
            "give a smaller --size",
        )?;
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let bar = progress::bar(chosen.len() as u64, "bench", args.quiet);
    let mut rows = Vec::with_capacity(chosen.len());
    for scenario in &chosen {
        bar.set_message(scenario.name.clone());
        let mut failure = None;
        let peak_known = crate::machine::reset_peak_memory();
        let mut huge_pages = None;
        let measured = pool.install(|| -> Result<_> {
            let work = std::cell::RefCell::new(scenario.build()?);
            huge_pages = crate::machine::huge_page_bytes();
            let twin = std::cell::RefCell::new(scenario.twin().map(|t| t.build()).transpose()?);
            let failure = std::cell::RefCell::new(&mut failure);
            let mut step = || {
                if let Err(e) = work.borrow_mut().step() {
                    failure.borrow_mut().get_or_insert(e);
                }
            };
            let mut twin_step = || {
                if let Some(Err(e)) = twin.borrow_mut().as_mut().map(|t| t.step()) {
                    failure.borrow_mut().get_or_insert(e);
                }
            };
            let has_twin = twin.borrow().is_some();
            let twin_step: Option<&mut dyn FnMut()> = has_twin.then_some(&mut twin_step as &mut dyn FnMut());
            let mut read = || work.borrow_mut().read_gradients();
            let gradient_read: Option<&mut dyn FnMut()> =
                scenario.clip().is_some().then_some(&mut read as &mut dyn FnMut());
            let mut stream = || work.borrow_mut().stream();
            let reps = (5, scenario.max_reps());
            Ok(paired(&mut step, twin_step, gradient_read, &mut stream, args.seconds, reps, &mut || {
                bar.tick()
            }))
        })?;
        if let Some(e) = failure {
            return Err(e.context(format!("scenario {}", scenario.name)));
        }
        let peak_rss_mb =
            crate::machine::peak_memory_bytes().filter(|_| peak_known).map(|b| b as f64 / 1048576.0);
        let step_s = median(&measured.step);
        let bytes = scenario.bytes();
        let ceiling = match scenario.cache_resident() {
            Some(small) => Some(pool.install(|| ceiling_gbps(&small, args.seconds))?),
            None => None,
        };
        let roofline_gbps = bytes / median(&measured.stream) / 1e9;
        let sparse = scenario.sparse_rows();
        rows.push(Row {
            scenario: scenario.name.clone(),
            optimizer: scenario.optimizer.to_string(),
            rule: scenario.rule().to_string(),
            dtype: scenario.dtype(),
            elements: scenario.elements(),
            tensors: scenario.tensors,
            threads: scenario.threads(threads),
            median_ms: step_s * 1e3,
            min_ms: measured.step.iter().copied().fold(f64::INFINITY, f64::min) * 1e3,
            max_ms: measured.step.iter().copied().fold(0.0, f64::max) * 1e3,
            gbps: bytes / step_s / 1e9,
            roofline_gbps,
            fraction_of_roofline: measured.fraction_of_roofline(),
            compute_ceiling_gbps: ceiling,
            fraction_of_limit: ceiling.map(|c| bytes / step_s / 1e9 / c.min(roofline_gbps)),
            fraction_of_one_tensor: measured
                .fraction_of_twin()
                .filter(|_| scenario.clip().is_none() && !scenario.aged()),
            fraction_of_normal_moments: measured.fraction_of_twin().filter(|_| scenario.aged()),
            fraction_of_unclipped: measured.fraction_of_twin().filter(|_| scenario.clip().is_some()),
            clip_cost_in_gradient_reads: measured
                .extra_in_gradient_reads()
                .filter(|_| scenario.elements() > 0),
            peak_rss_mb,
            huge_pages_mb: huge_pages.map(|b| b as f64 / 1048576.0),
            table_rows: sparse.map(|(rows, _)| rows),
            rows_touched: sparse.map(|(_, touched)| touched),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        if args.size != 1.0 {
            outln!("(every element count scaled by {}: the scenario names give the full sizes)", args.size)?;
        }
        print_table(&rows)?;
    }
    Ok(())
}

fn print_table(rows: &[Row]) -> Result<()> {
    outln!(
        "{:<36} {:<20} {:>11} {:>7} {:>3} {:>10} {:>17} {:>7} {:>9} {:>7} {:>9} {:>8}",
        "scenario",
        "dtype",
        "elements",
        "tensors",
        "thr",
        "median ms",
        "min-max ms",
        "GB/s",
        "roof GB/s",
        "of roof",
        "ceil GB/s",
        "of limit"
    )?;
    let optional =
        |x: Option<f64>, precision: usize| x.map_or_else(|| "-".to_string(), |x| format!("{x:.precision$}"));
    for r in rows {
        outln!(
            "{:<36} {:<20} {:>11} {:>7} {:>3} {:>10.3} {:>17} {:>7.1} {:>9.1} {:>7.3} {:>9} {:>8}",
            r.scenario,
            r.dtype,
            r.elements,
            r.tensors,
            r.threads,
            r.median_ms,
            format!("{:.3}-{:.3}", r.min_ms, r.max_ms),
            r.gbps,
            r.roofline_gbps,
            r.fraction_of_roofline,
            optional(r.compute_ceiling_gbps, 1),
            optional(r.fraction_of_limit, 3)
        )?;
    }
    let time = |name: &str| rows.iter().find(|r| r.scenario == name).map(|r| r.median_ms);
    let mut notes = Vec::new();
    for r in rows {
        if let Some(f) = r.fraction_of_one_tensor {
            notes.push(format!(
                "{} runs at {f:.2} of the throughput of one tensor of the same elements",
                r.scenario
            ));
        }
    }
    for r in rows {
        if let Some(f) = r.fraction_of_normal_moments {
            notes.push(format!(
                "{}: the step takes {:.2}x the same step from normal moments",
                r.scenario,
                1.0 / f
            ));
        }
    }
    for r in rows {
        if let (Some(f), Some(reads)) = (r.fraction_of_unclipped, r.clip_cost_in_gradient_reads) {
            notes.push(format!(
                "{}: the step takes {:.3}x the same step without clipping; clipping adds {reads:.2} times \
                 a plain read of the gradients (paired)",
                r.scenario,
                1.0 / f,
            ));
        }
    }
    if let (Some(lazy), Some(dense)) = (time("lazy-f32-1Mx64"), time("dense-f32-64Mx1")) {
        notes.push(format!("lazy step on 1M x 64 = {:.4} of the dense step on the same table", lazy / dense));
    }
    if let (Some(small), Some(large)) = (time("lazy-f32-1Mx64"), time("lazy-f32-8Mx64")) {
        notes.push(format!("lazy step on 8M x 64 = {:.2} x the step on 1M x 64", large / small));
    }
    if let Some(fused) = time("dense-f32-16Mx1") {
        for (name, what) in
            [("reference-f32-16Mx1", "scalar reference"), ("op-by-op-f32-16Mx1", "op-by-op Adam")]
        {
            if let Some(other) = time(name) {
                notes.push(format!("fused step is {:.1} x faster than the {what}", other / fused));
            }
        }
    }
    for note in notes {
        outln!("  {note}")?;
    }
    Ok(())
}

/// The throughput of `small`'s step with its arrays warm in the cache: the median of steps run
/// back to back for a tenth of `seconds` (at least 20).
fn ceiling_gbps(small: &Scenario, seconds: f64) -> Result<f64> {
    let mut work = small.build()?;
    for _ in 0..3 {
        work.step()?;
    }
    let mut times = Vec::new();
    let start = std::time::Instant::now();
    while times.len() < 20 || start.elapsed().as_secs_f64() < seconds / 10.0 {
        let t = std::time::Instant::now();
        work.step()?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(small.bytes() / median(&times) / 1e9)
}
