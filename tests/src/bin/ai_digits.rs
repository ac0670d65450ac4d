//! Real AI in ring 3: `digits_infer` serves the int8 digits model from the
//! ramdisk, `digits_client` sends it every held-out test image and checks
//! the logits bit for bit against the host's reference and the accuracy
//! against the host's (at least 95%), then evaluates the split itself in
//! batches of 1, 16 and 451 with the model's matmuls through the `tensor`
//! syscall (two tensor accelerators attached; every logit again the
//! host's), and `digits_train` runs SGD epochs
//! on the training split whose losses must match the host's run; all at
//! once, beside `ai_probe`, which feeds the model path bad files and
//! images (and the `objective` syscall bad arguments), and
//! `objective_liar`, a hog that reports itself far behind a training
//! objective.
//!
//! Learning objectives: the server declared a latency target and the
//! kernel must have measured every request it served (451 images and the
//! stop); the trainer declared a loss target it must have reached; the
//! client's reported accuracy must be what it printed; the liar must end
//! reported behind, with no request served.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::{ClassHint, Objective, ObjectiveStatus};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "ai_digits");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let parent = task::current_pid();
        let mut server_caps = CapabilitySet::ALL;
        server_caps.send_endpoints = 0;
        server_caps.receive_endpoints = 1 << agent_abi::DIGITS_ENDPOINT;
        let mut client_caps = CapabilitySet::ALL;
        client_caps.send_endpoints = 1 << agent_abi::DIGITS_ENDPOINT;
        client_caps.receive_endpoints = 0;
        let spawn = |name, caps| match kernel::user::spawn(name, caps, parent) {
            Ok(pid) => pid,
            Err(error) => {
                kernel::println!("cannot start {name}: {error:?}");
                testing::fail("spawn failed")
            }
        };
        let server = spawn("digits_infer", server_caps);
        let trainer = spawn("digits_train", CapabilitySet::ALL);
        let client = spawn("digits_client", client_caps);
        let probe = spawn("ai_probe", CapabilitySet::ALL);
        let liar = spawn("objective_liar", CapabilitySet::ALL);
        let mut ok = true;
        for (name, pid) in [
            ("objective_liar", liar),
            ("ai_probe", probe),
            ("digits_client", client),
            ("digits_infer", server),
            ("digits_train", trainer),
        ] {
            let status = task::wait_child(pid);
            kernel::println!("{name}: exit status {status:?}");
            ok &= status == Some(0);
            if name == "digits_client" && status != Some(0) {
                // Nobody will stop the server.
                let _ = task::kill(server);
            }
        }
        if !ok {
            testing::fail("an AI agent did not do its work as the host did");
        }
        check_objectives(server, trainer, client, liar);
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}

/// Requests the client makes: every test image, then the stop request.
const CLIENT_REQUESTS: u64 = 451 + 1;

/// Checks what the task manager reported about each agent's objective.
fn check_objectives(server: u64, trainer: u64, client: u64, liar: u64) {
    for line in task::status::objective_lines() {
        kernel::println!("{line}");
    }
    let finished = task::finished_progress();
    let progress = |pid: u64, name: &str| match finished.iter().find(|agent| agent.pid == pid) {
        Some(agent) => agent.progress,
        None => {
            kernel::println!("{name}: no progress recorded");
            testing::fail("an agent's objective was not reported")
        }
    };
    let check = |what: &str, good: bool| {
        kernel::println!("objectives: {what}: {}", if good { "ok" } else { "WRONG" });
        good
    };
    let mut ok = true;

    let served = progress(server, "digits_infer");
    let (requests, met) = served.requests;
    kernel::println!(
        "objectives: digits_infer {:?}, {met}/{requests} requests within target, last {} us, worst {} us",
        served.status,
        served.latencies_us.0,
        served.latencies_us.1
    );
    ok &= check(
        "the server's latency objective",
        matches!(served.objective, Some((Objective::Latency { target_us }, _)) if target_us == agent_abi::DIGITS_LATENCY_TARGET_US),
    );
    ok &= check(
        "every request measured by the kernel",
        requests == CLIENT_REQUESTS && met <= requests && served.latencies_us.1 > 0,
    );
    ok &= check(
        "the server's status follows its requests",
        matches!(
            served.status,
            Some(ObjectiveStatus::OnTrack | ObjectiveStatus::Behind)
        ),
    );

    let trained = progress(trainer, "digits_train");
    kernel::println!(
        "objectives: digits_train {:?}, loss {:?}, {} permille",
        trained.status,
        trained.loss,
        trained.progress_permille
    );
    ok &= check(
        "the trainer reached its loss target",
        matches!(trained.objective, Some((Objective::Loss { .. }, _)))
            && trained.status == Some(ObjectiveStatus::Met)
            && trained.progress_permille == 1000,
    );

    let asked = progress(client, "digits_client");
    kernel::println!("objectives: digits_client accuracy {:?}", asked.accuracy);
    ok &= check(
        "the client's accuracy (at least 95%)",
        asked.objective.is_none()
            && asked
                .accuracy
                .is_some_and(|(correct, total)| total == 451 && correct * 100 >= 95 * total),
    );

    let lied = progress(liar, "objective_liar");
    kernel::println!(
        "objectives: objective_liar {:?}, loss {:?}",
        lied.status,
        lied.loss
    );
    ok &= check(
        "the liar is reported behind, serving nothing",
        lied.status == Some(ObjectiveStatus::Behind) && lied.requests == (0, 0),
    );
    if !ok {
        testing::fail("the task manager misreported an objective");
    }
}
