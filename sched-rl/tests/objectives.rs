//! Learning objectives in the simulator: workload options, the signals a policy hears, the report.

use sched_rl::objective::MAX_LATENCY_TARGET_US;
use sched_rl::sim::{
    ObjectiveBlind, SimReport, builtin, builtin_workloads, parse_workload, simulate, simulate_srpt,
};
use sched_rl::{
    AgentId, ClassHint, Microseconds, Objective, ObjectiveSignal, QLearningScheduler, RoundRobin,
    Scheduler, SchedulerStats, StopReason, Watchdog,
};

const SEED: u64 = 42;

#[test]
fn parses_objective_options() {
    let text = "\
workload objectives
duration 1s
agent web count=2 hint=interactive objective=latency:2ms burst=200..800 block=io:2ms..10ms
agent slow objective=latency:10s burst=1ms yield
agent trainer hint=batch claims-behind burst=20ms block=accelerator:1ms
agent plain burst=1ms yield
phase web at=500ms burst=5ms yield
";
    let workload = parse_workload(text).unwrap();
    assert!(workload.has_objectives());
    let objectives: Vec<(Option<Objective>, bool)> = workload
        .agents
        .iter()
        .map(|agent| (agent.objective, agent.claims_behind))
        .collect();
    let two_ms = Some(Objective::Latency { target_us: 2_000 });
    let ten_s = Some(Objective::Latency {
        target_us: MAX_LATENCY_TARGET_US,
    });
    assert_eq!(
        objectives,
        [
            (two_ms, false),
            (two_ms, false),
            (ten_s, false),
            (None, true),
            (None, false)
        ]
    );
    // The phase changes the behaviour, not the objective.
    assert!(workload.agents[0].change.is_some());
    let plain = parse_workload(builtin::MIXED).unwrap();
    assert!(!plain.has_objectives());
}

#[test]
fn rejects_bad_objectives_naming_the_line() {
    let cases = [
        (
            "agent x objective=latency:0 burst=1 yield",
            "line 3: latency target must be at least 1us",
        ),
        (
            "agent x objective=latency:11s burst=1 yield",
            "line 3: latency target `11s` is above the maximum, 10000000us",
        ),
        (
            "agent x objective=loss:1 burst=1 yield",
            "line 3: unknown objective kind `loss`",
        ),
        (
            "agent x objective=2ms burst=1 yield",
            "line 3: objective `2ms` needs KIND:VALUE",
        ),
        (
            "agent x objective=latency:soon burst=1 yield",
            "line 3: `soon` is not a time",
        ),
        (
            "agent x objective=latency:1ms objective=latency:2ms burst=1 yield",
            "line 3: `objective` is given twice",
        ),
        (
            "agent x claims-behind objective=latency:1ms burst=1 yield",
            "line 3: an agent declares one objective",
        ),
        (
            "agent x burst=1 yield\nphase x at=1ms objective=latency:1ms burst=2 yield",
            "line 4: `objective` belongs on the `agent` line",
        ),
        (
            "agent x burst=1 yield\nphase x at=1ms claims-behind burst=2 yield",
            "line 4: `claims-behind` belongs on the `agent` line",
        ),
    ];
    for (body, expected) in cases {
        let text = format!("workload bad\nduration 1s\n{body}");
        let message = parse_workload(&text)
            .expect_err("the file is malformed")
            .to_string();
        assert!(
            message.starts_with(expected),
            "for {body:?}: got {message:?}, expected {expected:?}"
        );
    }
}

/// One call a policy received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Arrive(usize, Microseconds),
    Wake(usize, Microseconds),
    Objective(usize, ObjectiveSignal, Microseconds),
    Result(usize, StopReason, Microseconds),
}

/// Round robin, writing down every call it receives.
#[derive(Default)]
struct Recorder {
    inner: RoundRobin,
    calls: Vec<Call>,
}

impl Scheduler for Recorder {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        self.calls.push(Call::Arrive(agent.index(), now));
        self.inner.arrive(agent, hint, now);
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.calls.push(Call::Wake(agent.index(), now));
        self.inner.wake(agent, now);
    }

    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        self.inner.next(now)
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        self.calls.push(Call::Result(agent.index(), reason, now));
        self.inner.result(agent, ran_for, reason, now);
    }

    fn remove(&mut self, agent: AgentId) {
        self.inner.remove(agent);
    }

    fn objective(&mut self, agent: AgentId, signal: ObjectiveSignal, now: Microseconds) {
        self.calls.push(Call::Objective(agent.index(), signal, now));
    }

    fn stats(&self) -> SchedulerStats {
        self.inner.stats()
    }
}

/// Servers (slots 0, 1) with a 1 ms target, a short-lived one (2) with
/// 3 ms, a trainer that claims to be behind (3) and a hog (4), arriving late
/// enough that nothing can be signalled before an arrival by accident.
const RECORDED: &str = "\
workload recorded
duration 1s
warmup 100ms
agent server count=2 arrive=5ms..20ms hint=interactive objective=latency:1ms burst=200..800 block=io:1ms..4ms
agent brief arrive=7ms objective=latency:3ms bursts=5 burst=100 block=sleep:2ms
agent trainer arrive=3ms hint=batch claims-behind burst=5ms..20ms block=accelerator:500..1ms
agent hog hint=batch burst=30ms block=sleep:1ms
";

/// Per objective agent, its target.
const TARGETS: [(usize, Microseconds); 3] = [(0, 1_000), (1, 1_000), (2, 3_000)];

#[test]
fn the_policy_hears_every_request_and_the_claim_once() {
    let workload = parse_workload(RECORDED).unwrap();
    let mut recorder = Recorder::default();
    let report = simulate(&workload, &mut recorder, SEED);
    let calls = &recorder.calls;
    let mut served = (0, 0, 0);
    for (agent, target) in TARGETS {
        let arrival = calls
            .iter()
            .position(|call| matches!(call, Call::Arrive(who, _) if *who == agent))
            .expect("every agent arrives");
        let mut released = arrival_of(calls, agent);
        let mut behind = false;
        let mut bursts = 0;
        for (position, call) in calls.iter().enumerate() {
            match *call {
                Call::Objective(who, _, _) if who == agent => {
                    assert!(position > arrival, "agent {agent}: a signal before arrival")
                }
                Call::Wake(who, at) if who == agent => released = at,
                Call::Result(who, reason, at) if who == agent && reason.ends_burst() => {
                    bursts += 1;
                    // RequestServed, then a Behind only if the status changed,
                    // both just before the result.
                    let mut before = calls[..position].iter().rev();
                    let mut signal = before.next();
                    if let Some(Call::Objective(
                        who,
                        ObjectiveSignal::Behind {
                            behind: now_behind,
                            observed,
                        },
                        when,
                    )) = signal.copied()
                    {
                        assert_eq!((who, when), (agent, at));
                        assert!(observed, "a latency objective is observed");
                        assert_ne!(now_behind, behind, "Behind without a change");
                        behind = now_behind;
                        signal = before.next();
                    }
                    let Some(&Call::Objective(who, ObjectiveSignal::RequestServed { met }, when)) =
                        signal
                    else {
                        panic!("agent {agent}: burst at {at} without RequestServed: {signal:?}");
                    };
                    assert_eq!((who, when), (agent, at));
                    assert_eq!(met, at - released <= target, "agent {agent} at {at}");
                    if at >= report.warmup_us {
                        served.0 += 1;
                        served.1 += u64::from(met);
                    }
                    served.2 += 1;
                }
                _ => {}
            }
        }
        let requests = calls
            .iter()
            .filter(|call| {
                matches!(call, Call::Objective(who, ObjectiveSignal::RequestServed { .. }, _) if *who == agent)
            })
            .count();
        assert_eq!(requests, bursts, "agent {agent}: one request per burst");
        assert!(bursts > 0);
    }
    assert_eq!(
        calls
            .iter()
            .filter(|call| matches!(call, Call::Result(2, StopReason::Exited, _)))
            .count(),
        1,
        "the brief server exits after its fifth request"
    );
    assert_eq!(
        (report.objective_requests, report.objective_requests_met),
        (served.0, served.1)
    );
    assert_eq!(report.objective_responses.len(), served.2);
    assert!(
        0 < report.objective_requests_met
            && report.objective_requests_met < report.objective_requests,
        "the test workload should both meet and miss: {} of {}",
        report.objective_requests_met,
        report.objective_requests
    );
    assert!(
        calls.iter().any(|call| matches!(
            call,
            Call::Objective(
                _,
                ObjectiveSignal::Behind {
                    behind: true,
                    observed: true
                },
                _
            )
        )),
        "the test workload should put a server behind"
    );
    // The trainer's claim: once, right after its arrival. The hog: nothing.
    let trainer_signals: Vec<(usize, &Call)> = calls
        .iter()
        .enumerate()
        .filter(|(_, call)| matches!(call, Call::Objective(3, ..)))
        .collect();
    let claim = ObjectiveSignal::Behind {
        behind: true,
        observed: false,
    };
    let arrival = arrival_of(calls, 3);
    assert_eq!(trainer_signals.len(), 1, "{trainer_signals:?}");
    let (position, signal) = trainer_signals[0];
    assert_eq!(*signal, Call::Objective(3, claim, arrival));
    assert_eq!(calls[position - 1], Call::Arrive(3, arrival));
    assert!(
        !calls
            .iter()
            .any(|call| matches!(call, Call::Objective(4, ..)))
    );
}

/// Returns when `agent` arrived.
fn arrival_of(calls: &[Call], agent: usize) -> Microseconds {
    calls
        .iter()
        .find_map(|call| match *call {
            Call::Arrive(who, at) if who == agent => Some(at),
            _ => None,
        })
        .expect("every agent arrives")
}

fn run_learner(workload: &sched_rl::sim::Workload) -> SimReport {
    simulate(
        workload,
        &mut Watchdog::new(QLearningScheduler::new(SEED)),
        SEED,
    )
}

#[test]
fn same_seed_same_report() {
    let workload = parse_workload(builtin::OBJECTIVES).unwrap();
    let first = run_learner(&workload);
    assert_eq!(first, run_learner(&workload));
    assert!(first.objective_requests > 0);
    let oracle = simulate_srpt(&workload, SEED);
    assert_eq!(oracle, simulate_srpt(&workload, SEED));
    assert!(oracle.objective_requests > 0);
}

#[test]
fn without_objectives_the_signals_change_nothing() {
    for workload in builtin_workloads() {
        if workload.name == "objectives" {
            assert!(workload.has_objectives());
            continue;
        }
        assert!(!workload.has_objectives(), "{}", workload.name);
        let heard = run_learner(&workload);
        let deaf = simulate(
            &workload,
            &mut Watchdog::new(ObjectiveBlind::new(QLearningScheduler::new(SEED))),
            SEED,
        );
        assert_eq!(heard, deaf, "{}", workload.name);
        assert_eq!(heard.objective_requests, 0);
        assert!(heard.objective_responses.is_empty());
    }
}
