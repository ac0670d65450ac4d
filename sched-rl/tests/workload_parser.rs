//! The workload-file parser accepts the documented format and names the line of every fault.

use sched_rl::sim::workload::{AfterBurst, Behaviour};
use sched_rl::sim::{builtin_workloads, parse_workload};
use sched_rl::{BlockKind, ClassHint};

#[test]
fn builtin_workloads_parse() {
    let names: Vec<String> = builtin_workloads()
        .into_iter()
        .map(|workload| workload.name)
        .collect();
    assert_eq!(
        names,
        [
            "mixed",
            "periodic",
            "bursty",
            "gaming",
            "phase-change",
            "objectives"
        ]
    );
}

#[test]
fn parses_every_form() {
    let text = "\
# comment line
workload demo   # trailing comment
duration 2s
warmup 100ms
agent web count=2 arrive=1ms..2ms hint=interactive sensitive burst=100..600us block=io:3ms..12ms
agent clock hint=periodic:5ms bursts=9 burst=1ms period=10ms deadline=5ms
agent gamer yield-before-tick=50
agent spin hint=batch burst=5ms yield
phase web at=1s burst=20ms block=accelerator:1ms
";
    let workload = parse_workload(text).unwrap();
    assert_eq!(workload.duration_us, 2_000_000);
    assert_eq!(workload.warmup_us, 100_000);
    assert_eq!(workload.agents.len(), 5);
    let web = &workload.agents[1];
    assert_eq!(web.name, "web.1");
    assert_eq!(web.hint, ClassHint::Interactive);
    assert!(web.first.latency_sensitive);
    assert_eq!((web.arrival.minimum, web.arrival.maximum), (1_000, 2_000));
    let (at, phase) = web.change.unwrap();
    assert_eq!(at, 1_000_000);
    assert!(!phase.latency_sensitive);
    assert!(matches!(
        phase.behaviour,
        Behaviour::Bursts {
            after: AfterBurst::Block {
                kind: BlockKind::Accelerator,
                ..
            },
            ..
        }
    ));
    let clock = &workload.agents[2];
    assert_eq!(clock.bursts, Some(9));
    assert_eq!(clock.hint, ClassHint::Periodic { deadline_us: 5_000 });
    assert_eq!(
        workload.agents[3].first.behaviour,
        Behaviour::YieldBeforeTick { margin_us: 50 }
    );
}

/// Returns the error message for `body` placed after a valid header.
fn error_of(body: &str) -> String {
    let text = format!("workload bad\nduration 1s\n{body}");
    parse_workload(&text)
        .expect_err("the file is malformed")
        .to_string()
}

#[test]
fn rejects_malformed_files_naming_the_line() {
    let cases = [
        ("agnt x burst=1 yield", "line 3: unknown directive `agnt`"),
        (
            "agent x burst=1ms..oops yield",
            "line 3: `oops` is not a time",
        ),
        (
            "agent x count=two burst=1 yield",
            "line 3: `two` is not a whole number (in count)",
        ),
        (
            "agent x burst=5..2 yield",
            "line 3: range `5..2` has its minimum above its maximum",
        ),
        (
            "agent x hint=fast burst=1 yield",
            "line 3: unknown hint `fast`",
        ),
        ("agent x block=io:1ms", "line 3: missing burst="),
        (
            "agent x burst=1 yield block=io:1ms",
            "line 3: give exactly one of",
        ),
        (
            "agent x burst=1 block=disk:1ms",
            "line 3: unknown block kind `disk`",
        ),
        (
            "agent x burst=1 period=10ms",
            "line 3: period needs deadline=",
        ),
        (
            "agent x burst=1 yield colour=red",
            "line 3: unknown or repeated key `colour`",
        ),
        (
            "agent x burst=1 burst=2 yield",
            "line 3: `burst` is given twice",
        ),
        (
            "agent x burst=0 yield",
            "line 3: burst must be at least 1us",
        ),
        (
            "agent x count=65 burst=1 yield",
            "line 3: too many agents: 65",
        ),
        (
            "agent x burst=1 yield\nagent x burst=1 yield",
            "line 4: agent `x` is defined twice",
        ),
        (
            "agent x burst=1 yield\n\nphase y at=1s burst=1 yield",
            "line 5: phase for unknown agent `y`",
        ),
        (
            "agent x burst=1 yield\nduration 2s",
            "line 4: `duration` is given twice",
        ),
        (
            "agent burst=1 yield",
            "line 3: `agent` needs a name before `burst=1`",
        ),
        (
            "warmup 1s\nagent x burst=1 yield",
            "workload file: warmup must be shorter than duration",
        ),
        ("", "workload file: no `agent` lines"),
    ];
    for (body, expected) in cases {
        let message = error_of(body);
        assert!(
            message.starts_with(expected),
            "for {body:?}: got {message:?}, expected {expected:?}"
        );
    }
}

#[test]
fn missing_header_lines_are_reported() {
    let error = parse_workload("agent x burst=1 yield\n").unwrap_err();
    assert_eq!(error.line, 0);
    assert!(error.to_string().contains("missing `workload NAME` line"));
    let error = parse_workload("workload w\nagent x burst=1 yield\n").unwrap_err();
    assert!(error.to_string().contains("missing `duration TIME` line"));
}
