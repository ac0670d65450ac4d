//! `cargo xtask bench sched`: every scheduling policy on every workload, in the simulator.
//!
//! For each policy × workload it prints latency (mean and p99 response time of
//! latency-sensitive agents), deadline miss rate, throughput, Jain fairness
//! and the longest wait of any runnable agent; then the host cost of one
//! decision at 4, 16 and 64 runnable agents; then the targets,
//! measured against the baselines of the same run. It writes `results.csv`,
//! `learning_curve.svg` and `response_cdf.svg` into the output directory.
//!
//! Workloads with learning objectives get a section of their own: per
//! policy, the requests served against latency objectives after warm-up, the
//! share within target, their p99 latency and throughput, with Q-learning
//! also run deaf to objective signals (`q-learning-blind`) to show what the
//! signals are worth; then the objective targets, and `objectives.csv`.

use sched_rl::policy::watchdog::DEFAULT_WAIT_BOUND_US;
use sched_rl::sim::srpt::RemainingBursts;
use sched_rl::sim::{
    ObjectiveBlind, SimReport, SrptOracle, Workload, builtin_workloads, parse_workload, simulate,
    simulate_srpt,
};
use sched_rl::{
    AgentId, AnyPolicy, BlockKind, ClassHint, PolicyKind, QLearningScheduler, Scheduler,
    StopReason, TICK_US, Watchdog,
};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

/// Seed of every simulation and of the learner's exploration.
const SEED: u64 = 42;
/// Runnable-agent counts at which the decision cost is measured.
const COST_POINTS: [usize; 3] = [4, 16, 64];
/// Decision cycles timed per point (and as many again to warm up).
const COST_ITERATIONS: u32 = 200_000;
/// Decision cycles per point with `--quick`.
const QUICK_COST_ITERATIONS: u32 = 20_000;
/// Width of a learning-curve window.
const CURVE_WINDOW_US: u64 = 100_000;
/// The workload the targets refer to.
const TARGET_WORKLOAD: &str = "mixed";
/// The contender's label.
const CONTENDER: &str = "q-learning";
/// The oracle's label.
const ORACLE: &str = "srpt-oracle";
/// The label of Q-learning with every objective signal dropped.
const BLIND: &str = "q-learning-blind";
/// The workload the objective targets refer to.
const OBJECTIVE_WORKLOAD: &str = "objectives";

/// Options of `cargo xtask bench sched`.
pub struct BenchSchedArgs {
    /// A workload file to run instead of the built-in workloads.
    pub workload: Option<PathBuf>,
    /// Where the CSV and SVG files go (`target/bench/sched`).
    pub out_dir: PathBuf,
    /// Shorter simulations and fewer timing iterations.
    pub quick: bool,
}

/// One policy's result on one workload.
struct Row {
    workload: String,
    policy: &'static str,
    report: SimReport,
}

/// Runs the benchmark and writes its files.
pub fn run(args: &BenchSchedArgs) -> Result<(), String> {
    let workloads = load_workloads(args)?;
    print_header(args);
    let mut rows = Vec::new();
    for workload in &workloads {
        for policy in policy_labels() {
            let report = simulate_policy(policy, workload);
            rows.push(Row {
                workload: workload.name.clone(),
                policy,
                report,
            });
        }
        print_workload_table(&workload.name, &rows);
    }
    let iterations = if args.quick {
        QUICK_COST_ITERATIONS
    } else {
        COST_ITERATIONS
    };
    let costs = measure_costs(iterations);
    print_costs(&costs);
    print_targets(&rows, &costs);
    let objective_rows = objective_rows(&workloads, &rows);
    print_objectives(&objective_rows);
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|error| format!("creating {}: {error}", args.out_dir.display()))?;
    write_file(args, "results.csv", &csv(&rows, &costs))?;
    if !objective_rows.is_empty() {
        write_file(args, "objectives.csv", &objectives_csv(&objective_rows))?;
    }
    let curve_workload = if rows.iter().any(|row| row.workload == "phase-change") {
        "phase-change"
    } else {
        &workloads[0].name
    };
    write_file(
        args,
        "learning_curve.svg",
        &learning_curve_svg(&rows, curve_workload),
    )?;
    let cdf_workload = if rows.iter().any(|row| row.workload == TARGET_WORKLOAD) {
        TARGET_WORKLOAD
    } else {
        &workloads[0].name
    };
    write_file(args, "response_cdf.svg", &cdf_svg(&rows, cdf_workload))?;
    Ok(())
}

fn load_workloads(args: &BenchSchedArgs) -> Result<Vec<Workload>, String> {
    let workloads = match &args.workload {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("reading {}: {error}", path.display()))?;
            vec![parse_workload(&text).map_err(|error| format!("{}: {error}", path.display()))?]
        }
        None => builtin_workloads(),
    };
    Ok(if args.quick {
        workloads
            .iter()
            .map(|workload| workload.shortened(1, 4))
            .collect()
    } else {
        workloads
    })
}

fn policy_labels() -> Vec<&'static str> {
    PolicyKind::ALL
        .iter()
        .map(|kind| kind.name())
        .chain([ORACLE])
        .collect()
}

/// Returns the policy the kernel would run for `label`: the learner guarded by its watchdog.
fn make_policy(label: &str) -> Box<dyn Scheduler> {
    match PolicyKind::from_name(label) {
        Some(PolicyKind::QLearning) => Box::new(Watchdog::new(QLearningScheduler::new(SEED))),
        None if label == BLIND => Box::new(Watchdog::new(ObjectiveBlind::new(
            QLearningScheduler::new(SEED),
        ))),
        Some(kind) => Box::new(AnyPolicy::new(kind, SEED)),
        None => Box::new(SrptOracle::new(Rc::new(RemainingBursts::default()))),
    }
}

fn simulate_policy(label: &'static str, workload: &Workload) -> SimReport {
    if label == ORACLE {
        return simulate_srpt(workload, SEED);
    }
    simulate(workload, make_policy(label).as_mut(), SEED)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "dev (unoptimised; decision costs are pessimistic)"
    } else {
        "release"
    }
}

fn print_header(args: &BenchSchedArgs) {
    println!("sched-rl benchmark: discrete-event simulation, 1 ms tick, seed {SEED}");
    println!(
        "host CPU: {}; build profile: {}; {} run",
        cpu_model(),
        profile(),
        if args.quick { "quick" } else { "full" }
    );
    println!(
        "q-learning runs inside its watchdog (bound {} ms), as in the kernel",
        DEFAULT_WAIT_BOUND_US / 1_000
    );
    println!(
        "response = runnable (arrival or wake-up) -> burst complete, latency-sensitive agents, after warm-up"
    );
    if cfg!(debug_assertions) {
        println!(
            "note: decision costs from an unoptimised build; for the figures the targets refer to run \
             `cargo run --release -p xtask -- bench sched`"
        );
    }
    if args.quick {
        println!(
            "note: quick run (simulations a quarter as long); the targets are defined on full runs"
        );
    }
}

fn milliseconds(microseconds: f64) -> String {
    format!("{:.2}", microseconds / 1_000.0)
}

fn print_workload_table(workload: &str, rows: &[Row]) {
    println!();
    println!("workload {workload}");
    println!(
        "  {:<12} {:>10} {:>10} {:>8} {:>12} {:>6} {:>12} {:>9}",
        "policy", "mean ms", "p99 ms", "miss %", "work ms/s", "jain", "max wait ms", "fallback"
    );
    for row in rows.iter().filter(|row| row.workload == workload) {
        let report = &row.report;
        println!(
            "  {:<12} {:>10} {:>10} {:>8.2} {:>12.1} {:>6.3} {:>12} {:>9}",
            row.policy,
            milliseconds(report.mean_response_us()),
            milliseconds(report.percentile_response_us(99) as f64),
            report.deadline_miss_rate() * 100.0,
            report.throughput_ms_per_second(),
            report.jain_index(),
            milliseconds(report.longest_wait_us as f64),
            report.stats.fallbacks,
        );
    }
}

/// Host nanoseconds per decision cycle, per policy and runnable count.
struct Cost {
    policy: &'static str,
    nanoseconds: [f64; COST_POINTS.len()],
}

/// Returns the mean time of one decision cycle (`next` + `result`, plus
/// `wake` for the half of the agents that block) with `runnable` agents.
fn time_decisions(policy: &mut dyn Scheduler, runnable: usize, iterations: u32) -> f64 {
    let mut now = 0;
    for slot in 0..runnable {
        let hint = if slot % 2 == 0 {
            ClassHint::Interactive
        } else {
            ClassHint::Batch
        };
        policy.arrive(
            AgentId::new(slot).expect("runnable <= MAX_AGENTS"),
            hint,
            now,
        );
    }
    let cycle = |policy: &mut dyn Scheduler, now: &mut u64| {
        *now += TICK_US;
        if let Some(agent) = policy.next(black_box(*now)) {
            if agent.index() % 2 == 0 {
                policy.result(agent, 300, StopReason::Blocked(BlockKind::Io), *now + 300);
                policy.wake(agent, *now + 300);
            } else {
                policy.result(agent, TICK_US, StopReason::Preempted, *now + TICK_US);
            }
        }
    };
    for _ in 0..iterations {
        cycle(policy, &mut now);
    }
    let start = Instant::now();
    for _ in 0..iterations {
        cycle(policy, &mut now);
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

fn measure_costs(iterations: u32) -> Vec<Cost> {
    let mut labels = policy_labels();
    labels.push("q-learning (no watchdog)");
    labels
        .into_iter()
        .map(|policy| {
            let mut nanoseconds = [0.0; COST_POINTS.len()];
            for (slot, &runnable) in COST_POINTS.iter().enumerate() {
                let mut scheduler: Box<dyn Scheduler> = if policy == "q-learning (no watchdog)" {
                    Box::new(QLearningScheduler::new(SEED))
                } else {
                    make_policy(policy)
                };
                nanoseconds[slot] = time_decisions(scheduler.as_mut(), runnable, iterations);
            }
            Cost {
                policy,
                nanoseconds,
            }
        })
        .collect()
}

fn print_costs(costs: &[Cost]) {
    println!();
    println!(
        "host decision cost, ns per decision (next + result, + wake for blocking agents), {}",
        profile()
    );
    println!("  {:<26} {:>8} {:>8} {:>8}", "policy", "4", "16", "64");
    for cost in costs {
        let [four, sixteen, sixty_four] = cost.nanoseconds;
        println!(
            "  {:<26} {four:>8.1} {sixteen:>8.1} {sixty_four:>8.1}",
            cost.policy
        );
    }
}

fn find<'a>(rows: &'a [Row], workload: &str, policy: &str) -> Option<&'a SimReport> {
    rows.iter()
        .find(|row| row.workload == workload && row.policy == policy)
        .map(|row| &row.report)
}

fn verdict(pass: bool) -> &'static str {
    if pass { "met" } else { "NOT met" }
}

fn print_targets(rows: &[Row], costs: &[Cost]) {
    println!();
    let (Some(learner), Some(round_robin), Some(oracle)) = (
        find(rows, TARGET_WORKLOAD, CONTENDER),
        find(rows, TARGET_WORKLOAD, "round-robin"),
        find(rows, TARGET_WORKLOAD, ORACLE),
    ) else {
        println!(
            "targets: the `{TARGET_WORKLOAD}` workload was not run, so the issue's targets are not evaluated"
        );
        return;
    };
    println!(
        "targets on `{TARGET_WORKLOAD}` (after warm-up), q-learning against baselines of this run:"
    );
    let p99 = learner.percentile_response_us(99) as f64;
    let rr_ratio = p99 / (round_robin.percentile_response_us(99) as f64).max(1.0);
    let oracle_ratio = p99 / (oracle.percentile_response_us(99) as f64).max(1.0);
    let throughput_ratio =
        learner.throughput_ms_per_second() / round_robin.throughput_ms_per_second().max(1e-9);
    println!(
        "  p99 response vs round robin: {rr_ratio:.3}x (target <= 0.5x): {}",
        verdict(rr_ratio <= 0.5)
    );
    println!(
        "  p99 response vs SRPT oracle: {oracle_ratio:.3}x (target <= 1.25x): {}",
        verdict(oracle_ratio <= 1.25)
    );
    println!(
        "  throughput vs round robin:   {throughput_ratio:.3}x (target >= 0.95x): {}",
        verdict(throughput_ratio >= 0.95)
    );
    let bound = DEFAULT_WAIT_BOUND_US;
    println!(
        "  longest wait: {} ms (bound {} ms; learner aging bound {} ms): {}",
        milliseconds(learner.longest_wait_us as f64),
        bound / 1_000,
        sched_rl::policy::q_learning::AGING_BOUND_US / 1_000,
        verdict(learner.longest_wait_us <= bound && learner.stats.fallbacks == 0)
    );
    if let Some(cost) = costs.iter().find(|cost| cost.policy == CONTENDER) {
        let at_sixteen = cost.nanoseconds[1];
        println!(
            "  decision cost at 16 runnable: {at_sixteen:.1} ns (target <= 200 ns, {}): {}",
            profile(),
            verdict(at_sixteen <= 200.0)
        );
    }
}

/// Returns every policy's row on every workload with objectives, in print
/// order: the rows already run, and `q-learning-blind` run now after `q-learning`.
fn objective_rows<'a>(workloads: &'a [Workload], rows: &'a [Row]) -> Vec<ObjectiveRow<'a>> {
    let mut labels = policy_labels();
    let after_learner = labels
        .iter()
        .position(|label| *label == CONTENDER)
        .map_or(labels.len(), |index| index + 1);
    labels.insert(after_learner, BLIND);
    let mut result = Vec::new();
    for workload in workloads
        .iter()
        .filter(|workload| workload.has_objectives())
    {
        for &policy in &labels {
            let report = match find(rows, &workload.name, policy) {
                Some(report) => std::borrow::Cow::Borrowed(report),
                None => std::borrow::Cow::Owned(simulate_policy(policy, workload)),
            };
            result.push(ObjectiveRow {
                workload: &workload.name,
                policy,
                report,
            });
        }
    }
    result
}

/// One policy's objective figures on one workload.
struct ObjectiveRow<'a> {
    workload: &'a str,
    policy: &'static str,
    report: std::borrow::Cow<'a, SimReport>,
}

/// Returns the share of objective requests that met their target, in
/// percent with two decimals, or `n/a` when none was served.
fn share_text(report: &SimReport) -> String {
    report.objective_met_share().map_or_else(
        || "n/a".to_string(),
        |share| format!("{:.2}", share * 100.0),
    )
}

fn print_objectives(rows: &[ObjectiveRow<'_>]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "learning objectives: requests = bursts of agents with a latency objective completed after warm-up; \
         met = answered within the agent's target"
    );
    let mut workloads: Vec<&str> = rows.iter().map(|row| row.workload).collect();
    workloads.dedup();
    for workload in workloads {
        println!("workload {workload}");
        println!(
            "  {:<17} {:>9} {:>9} {:>8} {:>10} {:>12}",
            "policy", "requests", "met", "met %", "p99 ms", "work ms/s"
        );
        for row in rows.iter().filter(|row| row.workload == workload) {
            let report = &row.report;
            println!(
                "  {:<17} {:>9} {:>9} {:>8} {:>10} {:>12.1}",
                row.policy,
                report.objective_requests,
                report.objective_requests_met,
                share_text(report),
                milliseconds(report.objective_percentile_us(99) as f64),
                report.throughput_ms_per_second(),
            );
        }
    }
    print_objective_targets(rows);
}

/// Returns true when `first` met at least as large a share of its objective
/// requests as `second` (exact, in integers); false when `first` served none.
fn share_at_least(first: &SimReport, second: &SimReport) -> bool {
    first.objective_requests > 0
        && u128::from(first.objective_requests_met) * u128::from(second.objective_requests)
            >= u128::from(second.objective_requests_met) * u128::from(first.objective_requests)
}

fn print_objective_targets(rows: &[ObjectiveRow<'_>]) {
    let report_of = |policy: &str| {
        rows.iter()
            .find(|row| row.workload == OBJECTIVE_WORKLOAD && row.policy == policy)
            .map(|row| row.report.as_ref())
    };
    println!();
    let (Some(learner), Some(blind)) = (report_of(CONTENDER), report_of(BLIND)) else {
        println!(
            "objective targets: the `{OBJECTIVE_WORKLOAD}` workload was not run, so they are not evaluated"
        );
        return;
    };
    println!(
        "objective targets on `{OBJECTIVE_WORKLOAD}` (after warm-up), share of latency targets met:"
    );
    let baselines: Vec<(&str, &SimReport)> = PolicyKind::ALL
        .iter()
        .map(|kind| kind.name())
        .filter(|name| *name != CONTENDER)
        .filter_map(|name| report_of(name).map(|report| (name, report)))
        .collect();
    let beside: Vec<String> = baselines
        .iter()
        .map(|(name, report)| format!("{name} {}%", share_text(report)))
        .collect();
    let every_baseline = baselines
        .iter()
        .all(|(_, baseline)| share_at_least(learner, baseline));
    println!(
        "  (a) q-learning {}% vs {} (target: at least every baseline's): {}",
        share_text(learner),
        beside.join(", "),
        verdict(every_baseline)
    );
    let not_fewer = learner.objective_requests_met >= blind.objective_requests_met;
    println!(
        "  (b) q-learning {}% ({} met) vs q-learning-blind {}% ({} met) (target: at least as large a share and as many): {}",
        share_text(learner),
        learner.objective_requests_met,
        share_text(blind),
        blind.objective_requests_met,
        verdict(share_at_least(learner, blind) && not_fewer)
    );
    if let Some(oracle) = report_of(ORACLE) {
        println!(
            "  for reference, not a target: {ORACLE} {}%",
            share_text(oracle)
        );
    }
}

fn objectives_csv(rows: &[ObjectiveRow<'_>]) -> String {
    let mut text = String::from(
        "workload,policy,objective_requests,objective_requests_met,met_share,p99_objective_latency_us,throughput_work_ms_per_s\n",
    );
    for row in rows {
        let report = &row.report;
        let share = report
            .objective_met_share()
            .map_or_else(String::new, |share| format!("{share:.4}"));
        let _ = writeln!(
            text,
            "{},{},{},{},{share},{},{:.2}",
            row.workload,
            row.policy,
            report.objective_requests,
            report.objective_requests_met,
            report.objective_percentile_us(99),
            report.throughput_ms_per_second(),
        );
    }
    text
}

fn csv(rows: &[Row], costs: &[Cost]) -> String {
    let mut text = String::from(
        "workload,policy,mean_response_us,p99_response_us,deadline_miss_rate,throughput_work_ms_per_s,jain_index,longest_wait_us,fallbacks,decision_ns_4,decision_ns_16,decision_ns_64\n",
    );
    for row in rows {
        let report = &row.report;
        let cost = costs
            .iter()
            .find(|cost| cost.policy == row.policy)
            .map_or([0.0; 3], |cost| cost.nanoseconds);
        let _ = writeln!(
            text,
            "{},{},{:.1},{},{:.4},{:.2},{:.4},{},{},{:.1},{:.1},{:.1}",
            row.workload,
            row.policy,
            report.mean_response_us(),
            report.percentile_response_us(99),
            report.deadline_miss_rate(),
            report.throughput_ms_per_second(),
            report.jain_index(),
            report.longest_wait_us,
            report.stats.fallbacks,
            cost[0],
            cost[1],
            cost[2],
        );
    }
    text
}

fn write_file(args: &BenchSchedArgs, name: &str, contents: &str) -> Result<(), String> {
    let path = args.out_dir.join(name);
    std::fs::write(&path, contents)
        .map_err(|error| format!("writing {}: {error}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Returns the mean response (ms) per window of completion time (s).
fn windows(report: &SimReport) -> Vec<(f64, f64)> {
    let count = report.duration_us.div_ceil(CURVE_WINDOW_US) as usize;
    let mut sums = vec![(0u64, 0u64); count];
    for &(at, response) in &report.responses {
        let window = ((at / CURVE_WINDOW_US) as usize).min(count.saturating_sub(1));
        sums[window].0 += response;
        sums[window].1 += 1;
    }
    sums.iter()
        .enumerate()
        .filter(|(_, (_, samples))| *samples > 0)
        .map(|(window, (sum, samples))| {
            let middle = (window as f64 + 0.5) * CURVE_WINDOW_US as f64 / 1e6;
            (middle, *sum as f64 / *samples as f64 / 1_000.0)
        })
        .collect()
}

fn learning_curve_svg(rows: &[Row], workload: &str) -> String {
    let series: Vec<(&str, Vec<(f64, f64)>)> = rows
        .iter()
        .filter(|row| {
            row.workload == workload
                && matches!(row.policy, CONTENDER | "round-robin" | ORACLE | "mlfq")
        })
        .map(|row| (row.policy, windows(&row.report)))
        .collect();
    let title = format!(
        "Learning curve on `{workload}`: mean response of latency-sensitive bursts per 100 ms"
    );
    svg_chart(
        &title,
        "simulated time (s)",
        "mean response (ms)",
        &series,
        false,
    )
}

fn cdf_svg(rows: &[Row], workload: &str) -> String {
    let series: Vec<(&str, Vec<(f64, f64)>)> = rows
        .iter()
        .filter(|row| row.workload == workload)
        .map(|row| {
            let responses = row.report.measured_responses();
            let total = responses.len().max(1) as f64;
            let points = responses
                .iter()
                .enumerate()
                .map(|(rank, &response)| {
                    (
                        (response.max(1) as f64 / 1_000.0).log10(),
                        (rank + 1) as f64 / total,
                    )
                })
                .collect();
            (row.policy, points)
        })
        .collect();
    let title = format!("Response-time CDF on `{workload}` (after warm-up)");
    svg_chart(
        &title,
        "response time (ms, log scale)",
        "fraction of bursts",
        &series,
        true,
    )
}

/// Colours of successive series.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
];
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 520.0;
const MARGIN: f64 = 70.0;

/// Returns a line chart; with `log_x` the x values are log10 and labelled as powers of ten.
pub(crate) fn svg_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    log_x: bool,
) -> String {
    let points = series.iter().flat_map(|(_, points)| points.iter());
    let (mut x_min, mut x_max, mut y_max) = (f64::MAX, f64::MIN, 0.0f64);
    for &(x, y) in points {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_max = y_max.max(y);
    }
    if x_min > x_max {
        (x_min, x_max) = (0.0, 1.0);
    }
    if log_x {
        x_min = x_min.floor();
        x_max = x_max.ceil().max(x_min + 1.0);
    } else {
        x_min = 0.0;
    }
    let y_max = if y_max > 0.0 { y_max * 1.05 } else { 1.0 };
    let plot_width = WIDTH - 2.0 * MARGIN;
    let plot_height = HEIGHT - 2.0 * MARGIN;
    let to_x = |x: f64| MARGIN + (x - x_min) / (x_max - x_min).max(1e-9) * plot_width;
    let to_y = |y: f64| HEIGHT - MARGIN - y / y_max * plot_height;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        WIDTH / 2.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        "<rect x=\"{MARGIN}\" y=\"{MARGIN}\" width=\"{plot_width}\" height=\"{plot_height}\" fill=\"none\" stroke=\"black\"/>"
    );
    for step in 0..=5 {
        let x = x_min + (x_max - x_min) * f64::from(step) / 5.0;
        let label = if log_x {
            format!("{:.3}", 10f64.powf(x))
        } else {
            format!("{x:.2}")
        };
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            to_x(x),
            HEIGHT - MARGIN + 18.0
        );
        let y = y_max * f64::from(step) / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{y:.2}</text>",
            MARGIN - 6.0,
            to_y(y) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        WIDTH / 2.0,
        HEIGHT - 20.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        "<text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">{}</text>",
        HEIGHT / 2.0,
        HEIGHT / 2.0,
        escape(y_label)
    );
    for (index, (name, points)) in series.iter().enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", to_x(x), to_y(y)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
        let legend_y = MARGIN + 16.0 + 16.0 * index as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"{0}\" y1=\"{legend_y}\" x2=\"{1}\" y2=\"{legend_y}\" stroke=\"{colour}\" stroke-width=\"3\"/><text x=\"{2}\" y=\"{3}\">{4}</text>",
            WIDTH - MARGIN - 150.0,
            WIDTH - MARGIN - 130.0,
            WIDTH - MARGIN - 124.0,
            legend_y + 4.0,
            escape(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
