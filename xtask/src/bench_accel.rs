//! `cargo xtask bench accel`: every static accelerator route beside the adaptive dispatch table, in one QEMU boot.
//!
//! The benchmark kernel (`bench=accel`, two `edu` devices and two tensor
//! accelerators with their `tensor-backend`s) runs two mixed workloads from
//! several agents, each under every static route (pinned with `JobOptions`)
//! and under the adaptive table, and prints every call: `tensor` (matmuls
//! from 8x8x8 to 256x256x256 and a batched inference layer, on the CPU or a
//! tensor device) and `edu` (factorials and copy round trips). For each
//! workload this file computes mean and p99 latency per size class and
//! configuration, the class-weighted mean of the mix, the adaptive table's
//! regret (extra latency against the best static route of each class, as a
//! share of its total), its learning curve and convergence, the backends'
//! own time beside the guest-measured latency, checks the targets, and
//! writes `results.csv`, `calls.csv`, `learning_curve.csv`,
//! `learning_curve.svg` and `latency_curve.svg` under `<workload>/`.

use std::{collections::BTreeMap, fmt::Write as _, path::PathBuf, time::Duration};

use crate::{
    Result,
    bench_qemu::{self, BenchBoot, number, tagged, text},
    bench_sched::svg_chart,
    qemu::Accel,
    tensor_backend,
};

/// Kill the benchmark kernel after this long.
const TIMEOUT: Duration = Duration::from_secs(600);
/// QEMU devices: two `edu` accelerators (the tensor accelerators come
/// with their backends).
const DEVICES: [&str; 4] = ["-device", "edu", "-device", "edu"];
/// Tensor accelerators (ivshmem + backend).
const TENSOR_BACKENDS: usize = 2;
/// Target on the tensor mix: adaptive at most this factor of the best single static route.
const TARGET_TENSOR_MIX_FACTOR: f64 = 0.8;
/// Target on the edu mix (issue 6): adaptive below the best single static route.
const TARGET_EDU_MIX_FACTOR: f64 = 1.0;
/// The adaptive configuration's name.
const ADAPTIVE: &str = "adaptive";
/// Calls per learning-curve window.
const WINDOW: usize = 25;
/// A window counts as converged when this share of its calls took the
/// route that is fastest for their class (by the static runs).
const CONVERGED_SHARE: f64 = 0.9;
// A call counts as on its class's fastest route when it took that route's
// kind on either device (`route_kind`): the twin devices are identical. The
// target counts a route kind whose static mean lies within
// `TARGET_CLASS_FACTOR` of the fastest as fastest too (polling and interrupt
// tie within the noise of a few dozen calls on large jobs, and which of two
// tied routes a run calls fastest is chance); the strict share, on the one
// fastest kind, is printed beside it.
/// Target: adaptive within this factor of the best static route per class.
const TARGET_CLASS_FACTOR: f64 = 1.10;
/// Target: converged within this many calls.
const TARGET_CONVERGENCE_CALLS: usize = 300;

/// Options of `cargo xtask bench accel`.
pub struct BenchAccelArgs {
    /// QEMU accelerator.
    pub accel: Accel,
    /// Fewer calls.
    pub quick: bool,
    /// Boots to run (at least 1); with more than one, each target is
    /// summarised over the runs.
    pub runs: usize,
    /// Where the CSV and SVG go (`target/bench/accel`).
    pub out_dir: PathBuf,
}

/// One target of one run: its measured value (a ratio, a call count; NaN
/// when there is none) and whether it was met (`None`: reported, no target).
struct Verdict {
    target: String,
    value: f64,
    met: Option<bool>,
}

/// One timed call.
#[derive(Clone, Debug)]
struct Call {
    config: String,
    sequence: usize,
    class: String,
    route: String,
    microseconds: f64,
    /// The backend's own time on the job (tensor devices; 0 elsewhere).
    backend_us: f64,
    ok: bool,
}

/// Mean and p99 of a set of latencies.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    mean: f64,
    p99: f64,
    count: usize,
}

fn stats(values: &mut [f64]) -> Stats {
    if values.is_empty() {
        return Stats::default();
    }
    values.sort_by(f64::total_cmp);
    let count = values.len();
    let rank = (count * 99).div_ceil(100).clamp(1, count) - 1;
    Stats {
        mean: values.iter().sum::<f64>() / count as f64,
        p99: values[rank],
        count,
    }
}

/// Runs the benchmark: `args.runs` boots, each reported in full, then (for
/// more than one) every target over the runs.
pub fn run(root: &std::path::Path, args: &BenchAccelArgs) -> Result<()> {
    let runs = args.runs.max(1);
    let mut verdicts: Vec<(String, Vec<Verdict>)> = Vec::new();
    for run in 1..=runs {
        if runs > 1 {
            println!();
            println!("==== run {run} of {runs} ====");
        }
        for (workload, found) in run_once(root, args)? {
            match verdicts.iter_mut().find(|(name, _)| *name == workload) {
                Some((_, all)) => all.extend(found),
                None => verdicts.push((workload, found)),
            }
        }
    }
    if runs > 1 {
        summarise(&verdicts, runs, &args.out_dir)?;
    }
    Ok(())
}

/// Prints each target over `runs` runs (met in how many, the median and
/// range of its value) and writes `<workload>/runs.csv`.
fn summarise(
    verdicts: &[(String, Vec<Verdict>)],
    runs: usize,
    out_dir: &std::path::Path,
) -> Result<()> {
    println!();
    println!("targets over {runs} runs (one boot each; each run's full report is above):");
    for (workload, all) in verdicts {
        println!("  workload {workload}:");
        let mut csv = String::from("run,target,value,met\n");
        let mut targets: Vec<&str> = Vec::new();
        for verdict in all {
            if !targets.contains(&verdict.target.as_str()) {
                targets.push(&verdict.target);
            }
        }
        for target in targets {
            let of_target: Vec<&Verdict> = all.iter().filter(|v| v.target == target).collect();
            for (run, verdict) in of_target.iter().enumerate() {
                let _ = writeln!(
                    csv,
                    "{},{target},{:.4},{}",
                    run + 1,
                    verdict.value,
                    verdict.met.map_or("", |met| if met { "1" } else { "0" })
                );
            }
            let mut values: Vec<f64> = of_target
                .iter()
                .map(|v| v.value)
                .filter(|v| v.is_finite())
                .collect();
            values.sort_by(f64::total_cmp);
            let missing = of_target.len() - values.len();
            let range = match (values.first(), values.last()) {
                (Some(low), Some(high)) => format!(
                    "median {:.2} [{low:.2}, {high:.2}]{}",
                    values[values.len() / 2],
                    if missing > 0 {
                        format!(" (none in {missing} runs)")
                    } else {
                        String::new()
                    }
                ),
                _ => "no value".to_owned(),
            };
            let met = of_target.iter().filter(|v| v.met == Some(true)).count();
            let judged = of_target.iter().filter(|v| v.met.is_some()).count();
            if judged == 0 {
                println!("    {target:<34} {range} (reported, no target)");
            } else {
                println!("    {target:<34} {range}: met in {met} of {judged} runs");
            }
        }
        let dir = out_dir.join(workload);
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("creating {}: {error}", dir.display()))?;
        let path = dir.join("runs.csv");
        std::fs::write(&path, csv)
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
        println!("    wrote {}", path.display());
    }
    Ok(())
}

/// Runs one boot and reports it; returns each workload's verdicts.
fn run_once(root: &std::path::Path, args: &BenchAccelArgs) -> Result<Vec<(String, Vec<Verdict>)>> {
    let output = bench_qemu::boot(
        root,
        &BenchBoot {
            bench: "accel",
            quick: args.quick,
            accel: args.accel,
            devices: &DEVICES,
            timeout: TIMEOUT,
            tensor_backends: TENSOR_BACKENDS,
            tensor_threads: tensor_backend::default_threads(),
            tensor_doorbells: true,
        },
    )?;
    let tsc_hz = number(&output.context, "tsc_hz").max(1.0);
    let mut workloads: Vec<String> = Vec::new();
    for words in tagged(&output.records, "BENCHCLASS") {
        let workload = text(words, "workload").to_owned();
        if !workloads.contains(&workload) {
            workloads.push(workload);
        }
    }
    if workloads.is_empty() {
        return Err("the benchmark kernel printed no workload".into());
    }
    println!();
    println!(
        "accelerator benchmark: one boot, two edu devices and {TENSOR_BACKENDS} tensor accelerators \
         (ivshmem-doorbell + tensor-backend as its ivshmem server, {} thread(s) each), the same call sequences under every configuration",
        tensor_backend::default_threads()
    );
    println!("{}", output.setup.describe(tsc_hz));
    if args.quick {
        println!("note: quick run (fewer calls per configuration)");
    }
    for words in tagged(&output.records, "BENCHDEV") {
        let jobs = number(words, "jobs").max(1.0);
        println!(
            "  tensor#{}: {:.0} jobs, {:.0} failed; backend time {:.1} us per job, guest time holding the device {:.1} us per job",
            text(words, "tensor"),
            number(words, "jobs"),
            number(words, "failures"),
            number(words, "backend_us") / jobs,
            number(words, "guest_us") / jobs,
        );
    }
    let mut verdicts = Vec::new();
    for workload in &workloads {
        verdicts.push((workload.clone(), report(workload, &output, args)?));
    }
    Ok(verdicts)
}

/// Prints and writes the report of one workload.
fn report(
    workload: &str,
    output: &bench_qemu::BenchOutput,
    args: &BenchAccelArgs,
) -> Result<Vec<Verdict>> {
    let mut verdicts = Vec::new();
    let of_workload =
        |words: &&std::collections::BTreeMap<String, String>| text(words, "workload") == workload;
    let classes: Vec<(String, f64)> = tagged(&output.records, "BENCHCLASS")
        .filter(of_workload)
        .map(|words| (text(words, "name").to_owned(), number(words, "weight")))
        .collect();
    let calls: Vec<Call> = tagged(&output.records, "BENCHCALL")
        .filter(of_workload)
        .map(|words| Call {
            config: text(words, "config").to_owned(),
            sequence: number(words, "seq") as usize,
            class: text(words, "class").to_owned(),
            route: text(words, "route").to_owned(),
            microseconds: number(words, "us"),
            backend_us: number(words, "backend_us"),
            ok: text(words, "ok") == "1",
        })
        .collect();
    let runs: Vec<(String, f64, f64)> = tagged(&output.records, "BENCHRUN")
        .filter(of_workload)
        .map(|words| {
            (
                text(words, "config").to_owned(),
                number(words, "calls"),
                number(words, "elapsed_ms"),
            )
        })
        .collect();
    if classes.is_empty() || calls.is_empty() {
        return Err(format!("the benchmark kernel printed no {workload} calls").into());
    }
    let configs: Vec<String> = runs.iter().map(|(config, _, _)| config.clone()).collect();
    let statics: Vec<&String> = configs.iter().filter(|name| *name != ADAPTIVE).collect();
    let adaptive_calls: Vec<&Call> = calls
        .iter()
        .filter(|call| call.config == ADAPTIVE)
        .collect();
    let warm_from = adaptive_calls.len() / 2;
    let out_dir = args.out_dir.join(workload);
    let mix_factor = if workload == "edu" {
        TARGET_EDU_MIX_FACTOR
    } else {
        TARGET_TENSOR_MIX_FACTOR
    };

    println!();
    println!("== workload {workload} ==");
    println!(
        "latency = rdtsc around the whole call from a kernel agent (waiting for a busy or leased device \
         included), in us; copies are a round trip to a device buffer and back"
    );
    if workload == "edu" {
        println!(
            "note: under QEMU the edu factorial runs on a device thread whose wake-up takes tens to hundreds \
             of us, and edu DMA completes 100 ms (virtual clock) after it starts; device latencies are noisy"
        );
    } else {
        println!(
            "note: a tensor device call copies A and B into the shared memory and C back with 8-byte \
             volatile copies (emulated by TCG; infer-batch's B is a resident tensor, copied once per device), then \
             polls the completion (pollN) or blocks until its interrupt (irqN: ivshmem-doorbell, MSI-X); \
             `backend` is the backend's own time per job"
        );
    }
    println!(
        "note: every figure is from the mixed workload of {} agents: a static route's latency in a size class \
         includes waiting behind the other agents' jobs on the same route (a 100 ms DMA holds its device)",
        text(&output.context, "agents")
            .parse::<usize>()
            .unwrap_or(0)
    );
    for (config, count, elapsed) in &runs {
        println!(
            "  run {config:<8}: {count:.0} calls in {:.1} s",
            elapsed / 1e3
        );
    }
    let failed = calls.iter().filter(|call| !call.ok).count();
    if failed > 0 {
        println!(
            "  WARNING: {failed} calls failed or returned wrong data (counted in the latencies)"
        );
    }

    // Per configuration and class.
    let mut table: BTreeMap<(String, String), Stats> = BTreeMap::new();
    let mut rows: Vec<String> = statics.iter().map(|name| (*name).clone()).collect();
    rows.push(format!("{ADAPTIVE} (all)"));
    rows.push(format!("{ADAPTIVE} (warm)"));
    for row in &rows {
        for (class, _) in &classes {
            let mut values: Vec<f64> = select(&calls, &adaptive_calls, warm_from, row)
                .into_iter()
                .filter(|call| &call.class == class)
                .map(|call| call.microseconds)
                .collect();
            table.insert((row.clone(), class.clone()), stats(&mut values));
        }
    }
    let weight_total: f64 = classes
        .iter()
        .map(|(_, weight)| weight)
        .sum::<f64>()
        .max(1.0);
    let mixed = |row: &str| -> f64 {
        classes
            .iter()
            .map(|(class, weight)| {
                table
                    .get(&(row.to_owned(), class.clone()))
                    .map_or(0.0, |stats| stats.mean)
                    * weight
            })
            .sum::<f64>()
            / weight_total
    };

    println!();
    println!(
        "latency per size class, us: mean / p99 (n); `adaptive (warm)` = the second half of its calls; mix = \
         class-weighted mean ({})",
        classes
            .iter()
            .map(|(class, weight)| format!("{class} {weight:.0}%"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut header = format!("  {:<16}", "route");
    for (class, _) in &classes {
        let _ = write!(header, " {class:>24}");
    }
    let _ = write!(header, " {:>10}", "mix mean");
    println!("{header}");
    for row in &rows {
        let mut line = format!("  {row:<16}");
        for (class, _) in &classes {
            let cell = table[&(row.clone(), class.clone())];
            let _ = write!(
                line,
                " {:>24}",
                format!("{:.1} / {:.1} ({})", cell.mean, cell.p99, cell.count)
            );
        }
        let _ = write!(line, " {:>10.1}", mixed(row));
        println!("{line}");
    }

    // Routes the adaptive table took.
    println!();
    println!("routes the adaptive table took (warm half), calls per route:");
    for (class, _) in &classes {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for call in adaptive_calls[warm_from..]
            .iter()
            .filter(|call| &call.class == class)
        {
            *counts.entry(call.route.as_str()).or_default() += 1;
        }
        println!(
            "  {class:<12} {}",
            counts
                .iter()
                .map(|(route, count)| format!("{route} {count}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // Best static route per class, learning curve, convergence.
    let best_static: BTreeMap<&str, (&str, f64)> = classes
        .iter()
        .filter_map(|(class, _)| {
            statics
                .iter()
                .map(|row| (row.as_str(), table[&((*row).clone(), class.clone())]))
                // A route with calls counts even at a mean of 0 us (the CPU
                // answers a wrapping factorial at once); one without does not.
                .filter(|(_, cell)| cell.count > 0)
                .map(|(row, cell)| (row, cell.mean))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|best| (class.as_str(), best))
        })
        .collect();
    // Per class, the route kinds counted as fastest: strictly the best's, and
    // every kind whose best device's static mean is within the class target.
    let strict: BTreeMap<&str, Vec<&str>> = best_static
        .iter()
        .map(|(class, (route, _))| (*class, vec![route_kind(route)]))
        .collect();
    let tied: BTreeMap<&str, Vec<&str>> = best_static
        .iter()
        .map(|(class, (_, best_mean))| {
            let mut kinds: Vec<&str> = statics
                .iter()
                .filter(|row| {
                    let cell = table[&((**row).clone(), (*class).to_owned())];
                    cell.count > 0 && cell.mean <= best_mean * TARGET_CLASS_FACTOR
                })
                .map(|row| route_kind(row))
                .collect();
            kinds.sort_unstable();
            kinds.dedup();
            (*class, kinds)
        })
        .collect();
    let curve = learning_curve(&adaptive_calls, &strict, &tied);
    let converged = |share: fn(&CurvePoint) -> f64| {
        curve
            .iter()
            .rposition(|point| share(point) < CONVERGED_SHARE)
            .map_or(Some(0), |last_bad| {
                (last_bad + 1 < curve.len()).then_some((last_bad + 1) * WINDOW)
            })
    };
    let converged_at = converged(|point| point.share_tied);
    let converged_strictly_at = converged(|point| point.share_best);

    println!();
    // What the backends spent of the guest-measured time, per class (device routes, every run).
    if calls.iter().any(|call| call.backend_us > 0.0) {
        println!();
        println!(
            "device calls: guest-measured latency beside the backend's own time per job, us (mean):"
        );
        for (class, _) in &classes {
            let on_device: Vec<&Call> = calls
                .iter()
                .filter(|call| &call.class == class && call.route != "cpu" && call.ok)
                .collect();
            if on_device.is_empty() {
                continue;
            }
            let count = on_device.len() as f64;
            let guest = on_device.iter().map(|call| call.microseconds).sum::<f64>() / count;
            let backend = on_device.iter().map(|call| call.backend_us).sum::<f64>() / count;
            println!(
                "  {class:<12} guest {guest:>10.1}  backend {backend:>10.1}  transport and waiting {:>10.1} ({} calls)",
                guest - backend,
                on_device.len()
            );
        }
    }

    // Regret: what learning cost against knowing each class's best static route.
    let total_us: f64 = adaptive_calls.iter().map(|call| call.microseconds).sum();
    let extra_us: f64 = adaptive_calls
        .iter()
        .map(|call| {
            best_static
                .get(call.class.as_str())
                .map_or(0.0, |(_, best)| (call.microseconds - best).max(0.0))
        })
        .sum();
    let regret_share = extra_us / total_us.max(1e-9);

    println!();
    println!("targets (issue 13; reported, not tuned for):");
    let warm = format!("{ADAPTIVE} (warm)");
    let mut all_classes = true;
    for (class, _) in &classes {
        let Some((best_route, best_mean)) = best_static.get(class.as_str()) else {
            continue;
        };
        let adaptive_mean = table[&(warm.clone(), class.clone())].mean;
        let ratio = adaptive_mean / best_mean.max(1e-9);
        let met = ratio <= TARGET_CLASS_FACTOR;
        all_classes &= met;
        verdicts.push(Verdict {
            target: format!("{class} (x best static)"),
            value: ratio,
            met: Some(met),
        });
        println!(
            "  {class:<12} adaptive (warm) {adaptive_mean:.1} us vs best static {best_route} {best_mean:.1} us: {ratio:.2}x (target <= {TARGET_CLASS_FACTOR:.2}x): {}",
            verdict(met)
        );
    }
    println!(
        "  within {:.0}% of the best static route in every size class: {}",
        (TARGET_CLASS_FACTOR - 1.0) * 100.0,
        verdict(all_classes)
    );
    verdicts.push(Verdict {
        target: "every class within 10%".to_owned(),
        value: f64::NAN,
        met: Some(all_classes),
    });
    let best_static_mix = statics
        .iter()
        .map(|row| (row.as_str(), mixed(row)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((route, static_mix)) = best_static_mix {
        let warm_mix = mixed(&warm);
        let all_mix = mixed(&format!("{ADAPTIVE} (all)"));
        let ratio = warm_mix / static_mix.max(1e-9);
        verdicts.push(Verdict {
            target: "mix (x best static route)".to_owned(),
            value: ratio,
            met: Some(ratio <= mix_factor),
        });
        println!(
            "  mixed workload: adaptive {warm_mix:.1} us (warm), {all_mix:.1} us (all calls, learning included) vs best single static route {route} {static_mix:.1} us: {ratio:.2}x (target <= {mix_factor:.2}x): {}",
            verdict(ratio <= mix_factor)
        );
    }
    println!(
        "  regret: the adaptive run paid {extra_us:.0} us over each class's best static route, {:.1}% of its {total_us:.0} us (reported, no target)",
        regret_share * 100.0
    );
    verdicts.push(Verdict {
        target: "regret (share of time)".to_owned(),
        value: regret_share,
        met: None,
    });
    verdicts.push(Verdict {
        target: "converged at call".to_owned(),
        value: converged_at.map_or(f64::NAN, |call| call as f64),
        met: Some(converged_at.is_some_and(|call| call <= TARGET_CONVERGENCE_CALLS)),
    });
    let ties: Vec<String> = tied
        .iter()
        .filter(|(_, kinds)| kinds.len() > 1)
        .map(|(class, kinds)| format!("{class}: {}", kinds.join(" = ")))
        .collect();
    match converged_at {
        Some(call) => println!(
            "  convergence: from call {call} on, every window of {WINDOW} calls took a route within {:.0}% of its class's fastest static route (either device of that kind) in >= {:.0}% of calls (target <= {TARGET_CONVERGENCE_CALLS} calls): {}",
            (TARGET_CLASS_FACTOR - 1.0) * 100.0,
            CONVERGED_SHARE * 100.0,
            verdict(call <= TARGET_CONVERGENCE_CALLS)
        ),
        None => println!(
            "  convergence: the last window of {WINDOW} calls still took a route within {:.0}% of the fastest static route in < {:.0}% of calls: NOT met",
            (TARGET_CLASS_FACTOR - 1.0) * 100.0,
            CONVERGED_SHARE * 100.0
        ),
    }
    println!(
        "    tied within {:.0}% in this run: {}; on the one fastest route kind only, converged {}",
        (TARGET_CLASS_FACTOR - 1.0) * 100.0,
        if ties.is_empty() {
            "none".to_owned()
        } else {
            ties.join(", ")
        },
        converged_strictly_at.map_or("never".to_owned(), |call| format!("from call {call}"))
    );
    verdicts.push(Verdict {
        target: "converged strictly at call".to_owned(),
        value: converged_strictly_at.map_or(f64::NAN, |call| call as f64),
        met: None,
    });

    std::fs::create_dir_all(&out_dir)
        .map_err(|error| format!("creating {}: {error}", out_dir.display()))?;
    let mut results = String::from("route,class,mean_us,p99_us,n,accel,qemu,host_cpu\n");
    for ((row, class), cell) in &table {
        let _ = writeln!(
            results,
            "{row},{class},{:.2},{:.2},{},{},\"{}\",\"{}\"",
            cell.mean,
            cell.p99,
            cell.count,
            output.setup.accel,
            output.setup.qemu_version,
            output.setup.host_cpu
        );
    }
    for row in &rows {
        let _ = writeln!(
            results,
            "{row},mix,{:.2},,,{},\"{}\",\"{}\"",
            mixed(row),
            output.setup.accel,
            output.setup.qemu_version,
            output.setup.host_cpu
        );
    }
    let mut calls_csv = String::from("config,seq,class,route,us,backend_us,ok\n");
    for call in &calls {
        let _ = writeln!(
            calls_csv,
            "{},{},{},{},{},{},{}",
            call.config,
            call.sequence,
            call.class,
            call.route,
            call.microseconds,
            call.backend_us,
            u8::from(call.ok)
        );
    }
    let mut curve_csv = String::from(
        "window_start_call,mean_us,share_on_best_static_route,share_within_target_of_best\n",
    );
    for (index, point) in curve.iter().enumerate() {
        let _ = writeln!(
            curve_csv,
            "{},{:.2},{:.3},{:.3}",
            index * WINDOW,
            point.mean_us,
            point.share_best,
            point.share_tied
        );
    }
    // One curve value per window, at the window's first call.
    let series = |value: fn(&CurvePoint) -> f64| -> Vec<(f64, f64)> {
        curve
            .iter()
            .enumerate()
            .map(|(index, point)| ((index * WINDOW) as f64, value(point)))
            .collect()
    };
    let share_series = vec![
        (
            "adaptive: share of calls on the fastest static route",
            series(|point| point.share_best),
        ),
        (
            "adaptive: share on a route within 10% of it",
            series(|point| point.share_tied),
        ),
    ];
    let latency_series = vec![(
        "adaptive: mean latency per window (us)",
        series(|point| point.mean_us),
    )];
    for (name, contents) in [
        ("results.csv", results),
        ("calls.csv", calls_csv),
        ("learning_curve.csv", curve_csv),
        (
            "learning_curve.svg",
            svg_chart(
                &format!(
                    "Adaptive table: share of calls on the fastest static route, per {WINDOW} calls"
                ),
                "call",
                "share",
                &share_series,
                false,
            ),
        ),
        (
            "latency_curve.svg",
            svg_chart(
                &format!("Adaptive table: mean call latency per {WINDOW} calls (mixed workload)"),
                "call",
                "mean latency (us)",
                &latency_series,
                false,
            ),
        ),
    ] {
        let path = out_dir.join(name);
        std::fs::write(&path, contents)
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(verdicts)
}

/// Returns the calls of table row `row`.
fn select<'a>(
    calls: &'a [Call],
    adaptive: &[&'a Call],
    warm_from: usize,
    row: &str,
) -> Vec<&'a Call> {
    if row == format!("{ADAPTIVE} (all)") {
        adaptive.to_vec()
    } else if row == format!("{ADAPTIVE} (warm)") {
        adaptive[warm_from..].to_vec()
    } else {
        calls.iter().filter(|call| call.config == row).collect()
    }
}

/// One window of the learning curve.
struct CurvePoint {
    mean_us: f64,
    /// Share of calls on their class's fastest static route kind.
    share_best: f64,
    /// Share on a route kind within the class target of it.
    share_tied: f64,
}

fn learning_curve(
    adaptive: &[&Call],
    strict: &BTreeMap<&str, Vec<&str>>,
    tied: &BTreeMap<&str, Vec<&str>>,
) -> Vec<CurvePoint> {
    let mut ordered: Vec<&Call> = adaptive.to_vec();
    ordered.sort_by_key(|call| call.sequence);
    let share = |window: &[&Call], fast: &BTreeMap<&str, Vec<&str>>| {
        let on_fast = window
            .iter()
            .filter(|call| {
                fast.get(call.class.as_str())
                    .is_some_and(|kinds| kinds.contains(&route_kind(&call.route)))
            })
            .count();
        on_fast as f64 / window.len() as f64
    };
    ordered
        .chunks(WINDOW)
        .map(|window| CurvePoint {
            mean_us: window.iter().map(|call| call.microseconds).sum::<f64>() / window.len() as f64,
            share_best: share(window, strict),
            share_tied: share(window, tied),
        })
        .collect()
}

/// Returns the kind of a route without its device number: the two devices
/// of a kind are identical, so the convergence share counts a call on
/// either as a call on the fastest route when one of them is.
fn route_kind(route: &str) -> &str {
    route.trim_end_matches(|character: char| character.is_ascii_digit())
}

fn verdict(pass: bool) -> &'static str {
    if pass { "met" } else { "NOT met" }
}
