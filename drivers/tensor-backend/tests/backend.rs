//! The backend's loop in a thread, driven by a client over the same memory.
//!
//! Each test starts [`Backend::run`] on a scoped thread over shared atomic words (or
//! a file mapped twice), connects a [`Client`] and checks results against the
//! scalar reference: `i8` bit-exact, `f32` within the stated tolerance.

use std::{
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use tensor_backend::{Backend, Client, ClientError, Config, SharedFile, Stats};
use tensor_ring::{
    Completion, Descriptor, Dimension, Limits, Op, Operand, Outcome, Refusal, Region, SharedWords,
    layout::field,
    reference::{self, Shape, first_f32_mismatch},
};

/// The timeout of every wait: generous, since debug builds are slow.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The region size of most tests.
const REGION_BYTES: usize = 4 << 20;

/// Returns zeroed shared words for `bytes`.
fn words(bytes: usize) -> Vec<AtomicU32> {
    (0..bytes / 4).map(|_| AtomicU32::new(0)).collect()
}

/// Sets the stop flag when dropped, so a failing test body stops the backend
/// instead of leaving the scope waiting for it forever.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs a backend with `config` over `region` on a thread while `body` drives a
/// client over `client_region`; returns the backend's stats.
fn serve<R: Region + Send, C: Region>(
    region: R,
    client_region: C,
    config: Config,
    body: impl FnOnce(&mut Client<C>),
) -> Stats {
    let stop = AtomicBool::new(false);
    let mut backend = Backend::start(region, config).expect("backend starts");
    thread::scope(|scope| {
        let server = scope.spawn(|| backend.run(&stop));
        let stopper = StopOnDrop(&stop);
        let mut client = Client::connect(client_region, TIMEOUT).expect("client connects");
        body(&mut client);
        drop(stopper);
        server
            .join()
            .expect("backend thread")
            .expect("backend runs")
    })
}

/// Runs `body` against a backend over in-memory words with `config`.
fn with_backend(config: Config, body: impl FnOnce(&mut Client<SharedWords<'_>>)) -> Stats {
    let memory = words(REGION_BYTES);
    serve(
        SharedWords::new(&memory),
        SharedWords::new(&memory),
        config,
        body,
    )
}

fn config(threads: usize, slots: u32) -> Config {
    Config {
        threads,
        limits: Limits::DEFAULT,
        submission_slots: slots,
        completion_slots: slots,
    }
}

/// Deterministic test values in a small range (exact in `f32` products).
fn values(count: usize, salt: usize) -> Vec<i8> {
    (0..count)
        .map(|i| (((i * 31 + salt * 17) ^ (i >> 3)) % 256) as u8 as i8)
        .collect()
}

/// Offsets (in the data area) for A, B, C of `shape` with `element` input bytes.
fn offsets(shape: Shape, element: usize) -> [u64; 3] {
    let a = 0u64;
    let b = ((shape.m * shape.k * element) as u64).next_multiple_of(64);
    let c = b + ((shape.k * shape.n * element) as u64).next_multiple_of(64);
    [a, b, c]
}

fn dims(shape: Shape) -> [u32; 3] {
    [shape.m as u32, shape.k as u32, shape.n as u32]
}

/// Runs one f32 matmul through the client and checks it against the reference.
fn check_f32(client: &mut Client<impl Region>, shape: Shape) -> Completion {
    let a: Vec<f32> = values(shape.m * shape.k, 1)
        .iter()
        .map(|&v| f32::from(v) * 0.125)
        .collect();
    let b: Vec<f32> = values(shape.k * shape.n, 2)
        .iter()
        .map(|&v| f32::from(v) / 3.0)
        .collect();
    let [a_at, b_at, c_at] = offsets(shape, 4);
    client.write_f32s(a_at, &a).unwrap();
    client.write_f32s(b_at, &b).unwrap();
    let descriptor = Descriptor::matmul(Op::MatmulF32, 0, dims(shape), [a_at, b_at, c_at]);
    let completion = client.call(descriptor, TIMEOUT).unwrap();
    assert_eq!(completion.outcome(), Outcome::Ok, "{shape:?}");
    let c = client.read_f32s(c_at, shape.m * shape.n).unwrap();
    assert_eq!(first_f32_mismatch(shape, &a, &b, &c), Ok(None), "{shape:?}");
    completion
}

/// Runs one i8 matmul through the client and checks it bit for bit.
fn check_i8(client: &mut Client<impl Region>, shape: Shape) {
    let a = values(shape.m * shape.k, 3);
    let b = values(shape.k * shape.n, 4);
    let [a_at, b_at, c_at] = offsets(shape, 1);
    client.write_i8s(a_at, &a).unwrap();
    client.write_i8s(b_at, &b).unwrap();
    let descriptor = Descriptor::matmul(Op::MatmulI8, 0, dims(shape), [a_at, b_at, c_at]);
    let completion = client.call(descriptor, TIMEOUT).unwrap();
    assert_eq!(completion.outcome(), Outcome::Ok, "{shape:?}");
    let mut expected = vec![0; shape.m * shape.n];
    reference::matmul_i8(shape, &a, &b, &mut expected).unwrap();
    assert_eq!(
        client.read_i32s(c_at, shape.m * shape.n).unwrap(),
        expected,
        "{shape:?}"
    );
}

const SHAPES: [Shape; 6] = [
    Shape { m: 1, k: 1, n: 1 },
    Shape { m: 3, k: 5, n: 7 },
    Shape { m: 17, k: 1, n: 33 },
    Shape { m: 31, k: 63, n: 9 },
    Shape {
        m: 64,
        k: 64,
        n: 64,
    },
    Shape {
        m: 256,
        k: 256,
        n: 256,
    },
];

#[test]
fn f32_and_i8_matmuls_of_several_shapes_match_the_reference() {
    for threads in [1, 3] {
        let stats = with_backend(config(threads, 8), |client| {
            for shape in SHAPES {
                check_f32(client, shape);
                check_i8(client, shape);
            }
        });
        assert_eq!(stats.completions, 2 * SHAPES.len() as u64);
        assert_eq!(stats.refusals, 0);
    }
}

#[test]
fn resident_weights_serve_several_calls() {
    with_backend(config(2, 8), |client| {
        // B stays in the data area; only A changes between calls.
        let shape = Shape { m: 4, k: 16, n: 8 };
        let [a_at, b_at, c_at] = offsets(shape, 1);
        let b = values(shape.k * shape.n, 9);
        client.write_i8s(b_at, &b).unwrap();
        for call in 0..5 {
            let a = values(shape.m * shape.k, 10 + call);
            client.write_i8s(a_at, &a).unwrap();
            let descriptor = Descriptor::matmul(Op::MatmulI8, 0, dims(shape), [a_at, b_at, c_at]);
            assert_eq!(
                client.call(descriptor, TIMEOUT).unwrap().outcome(),
                Outcome::Ok
            );
            let mut expected = vec![0; shape.m * shape.n];
            reference::matmul_i8(shape, &a, &b, &mut expected).unwrap();
            assert_eq!(client.read_i32s(c_at, expected.len()).unwrap(), expected);
        }
    });
}

#[test]
fn malformed_descriptors_get_error_completions_and_the_loop_keeps_serving() {
    let good = Descriptor::matmul(Op::MatmulF32, 0, [2, 2, 2], [0, 64, 128]);
    let data_bytes = 1 << 30; // Beyond any data area of these tests.
    let cases: Vec<(Descriptor, Refusal)> = vec![
        (Descriptor { op: 9, ..good }, Refusal::UnknownOp),
        (
            Descriptor {
                flags: 1 << 1,
                ..good
            },
            Refusal::UnknownFlags,
        ),
        (
            Descriptor {
                reserved: 5,
                ..good
            },
            Refusal::ReservedNotZero,
        ),
        (
            Descriptor {
                m: 1,
                ..Descriptor::nop(0)
            },
            Refusal::NopHasOperands,
        ),
        (
            Descriptor { n: 0, ..good },
            Refusal::ZeroDimension(Dimension::N),
        ),
        (
            Descriptor { k: 5000, ..good },
            Refusal::DimensionTooLarge(Dimension::K),
        ),
        (
            Descriptor {
                m: 4096,
                k: 4096,
                n: 4096,
                ..good
            },
            Refusal::TooMuchWork,
        ),
        (
            Descriptor {
                c_offset: 8,
                ..good
            },
            Refusal::OutputOverlapsInput(Operand::A),
        ),
        (
            Descriptor {
                b_offset: 66,
                ..good
            },
            Refusal::Misaligned(Operand::B),
        ),
        (
            Descriptor {
                c_offset: data_bytes,
                ..good
            },
            Refusal::OutOfBounds(Operand::C),
        ),
        (
            Descriptor {
                a_offset: u64::MAX - 3,
                ..good
            },
            Refusal::OutOfBounds(Operand::A),
        ),
        (
            Descriptor {
                c_offset: 60,
                ..good
            },
            Refusal::OutputOverlapsInput(Operand::B),
        ),
    ];
    // The default limits make the size refusals unreachable (no operand of at most
    // 4096 x 4096 elements passes 64 MiB or overflows), so a second backend with
    // other limits answers those.
    let narrow = Limits {
        max_dimension: u32::MAX,
        max_operand_bytes: 1 << 20,
        max_multiply_adds: 1 << 33,
    };
    let narrow_cases = vec![
        (
            Descriptor {
                m: 1024,
                k: 1024,
                ..good
            },
            Refusal::OperandTooLarge(Operand::A),
        ),
        (
            Descriptor {
                m: u32::MAX,
                k: u32::MAX,
                ..good
            },
            Refusal::SizeOverflow(Operand::A),
        ),
    ];
    let mut narrow_config = config(2, 4);
    narrow_config.limits = narrow;
    for (config, cases) in [(config(2, 4), &cases), (narrow_config, &narrow_cases)] {
        let stats = answer_each(config, good, cases);
        assert_eq!(stats.refusals, cases.len() as u64);
        assert_eq!(stats.completions, 2 * cases.len() as u64);
    }
}

/// Sends each bad descriptor of `cases` followed by `good` (a 2x2 f32 identity
/// product, A at 0, B at 64, C at 128) and checks both answers.
fn answer_each(config: Config, good: Descriptor, cases: &[(Descriptor, Refusal)]) -> Stats {
    with_backend(config, |client| {
        client.write_f32s(0, &[1.0, 2.0, 3.0, 4.0]).unwrap();
        client.write_f32s(64, &[1.0, 0.0, 0.0, 1.0]).unwrap();
        for (bad, refusal) in cases {
            // The sentinel in C must survive a refused job.
            client.write_f32s(128, &[-7.0; 4]).unwrap();
            let completion = client.call(*bad, TIMEOUT).unwrap();
            assert_eq!(completion.outcome(), Outcome::Refused(*refusal), "{bad:?}");
            assert_eq!(client.read_f32s(128, 4).unwrap(), [-7.0; 4]);
            // And the next good job is served.
            let completion = client.call(good, TIMEOUT).unwrap();
            assert_eq!(completion.outcome(), Outcome::Ok);
            assert_eq!(client.read_f32s(128, 4).unwrap(), [1.0, 2.0, 3.0, 4.0]);
        }
    })
}

#[test]
fn a_full_ring_makes_the_client_wait_and_loses_nothing() {
    // Two slots per ring, 200 jobs submitted before any is waited for.
    let stats = with_backend(config(1, 2), |client| {
        let shape = Shape { m: 3, k: 4, n: 5 };
        let a = values(12, 5);
        let b = values(20, 6);
        client.write_i8s(0, &a).unwrap();
        client.write_i8s(64, &b).unwrap();
        let mut sequences = Vec::new();
        for job in 0..200u64 {
            let descriptor = if job % 3 == 0 {
                Descriptor::nop(0)
            } else {
                // Each job writes its own C.
                Descriptor::matmul(Op::MatmulI8, 0, dims(shape), [0, 64, 128 + 64 * job])
            };
            sequences.push((job, client.submit(descriptor, TIMEOUT).unwrap()));
        }
        let mut expected = vec![0; 15];
        reference::matmul_i8(shape, &a, &b, &mut expected).unwrap();
        // Collect in reverse, so most completions wait in the client's table.
        for &(job, sequence) in sequences.iter().rev() {
            let completion = client.wait(sequence, TIMEOUT).unwrap();
            assert_eq!(completion.sequence, sequence);
            assert_eq!(completion.outcome(), Outcome::Ok);
            if job % 3 != 0 {
                assert_eq!(client.read_i32s(128 + 64 * job, 15).unwrap(), expected);
            }
        }
        let distinct: std::collections::HashSet<u64> = sequences.iter().map(|&(_, s)| s).collect();
        assert_eq!(distinct.len(), 200);
        assert!(matches!(
            client.wait(9999, Duration::from_millis(10)),
            Err(ClientError::Timeout(_))
        ));
    });
    assert_eq!(stats.completions, 200);
}

#[test]
fn sequence_numbers_are_echoed_as_given_in_order() {
    with_backend(config(1, 4), |client| {
        let sequences = [u64::MAX, 0, 7, 7, 1 << 63];
        for &sequence in &sequences {
            client
                .submit_as_is(Descriptor::nop(sequence), TIMEOUT)
                .unwrap();
            // A malformed entry keeps its sequence number too.
            client
                .submit_as_is(
                    Descriptor {
                        op: 77,
                        ..Descriptor::nop(sequence ^ 1)
                    },
                    TIMEOUT,
                )
                .unwrap();
            let ok = client.wait(sequence, TIMEOUT).unwrap();
            assert_eq!((ok.sequence, ok.outcome()), (sequence, Outcome::Ok));
            let refused = client.wait(sequence ^ 1, TIMEOUT).unwrap();
            assert_eq!(refused.outcome(), Outcome::Refused(Refusal::UnknownOp));
        }
    });
}

#[test]
fn a_corrupt_guest_index_is_counted_and_a_reset_recovers() {
    let memory = words(REGION_BYTES);
    let stats = serve(
        SharedWords::new(&memory),
        SharedWords::new(&memory),
        config(1, 4),
        |client| {
            let heartbeat = client.heartbeat().unwrap();
            assert_eq!(
                client.call(Descriptor::nop(0), TIMEOUT).unwrap().outcome(),
                Outcome::Ok
            );
            // The guest scribbles a submission tail 1000 entries ahead of the head.
            client
                .region_mut()
                .write_u32(field::SUBMISSION_TAIL, 1000)
                .unwrap();
            let deadline = Instant::now() + TIMEOUT;
            while client.ring_faults().unwrap() == 0 {
                assert!(Instant::now() < deadline, "fault never counted");
                thread::yield_now();
            }
            assert_ne!(client.heartbeat().unwrap(), heartbeat, "backend alive");
            // A guest attaching again (after a reboot, say) resets the rings through
            // the epoch handshake and is served from index 0.
            let mut again = Client::connect(SharedWords::new(&memory), TIMEOUT).unwrap();
            for _ in 0..10 {
                assert_eq!(
                    again.call(Descriptor::nop(0), TIMEOUT).unwrap().outcome(),
                    Outcome::Ok
                );
            }
            check_i8(&mut again, Shape { m: 2, k: 3, n: 4 });
        },
    );
    assert!(stats.ring_faults > 0);
    assert_eq!(stats.resets, 2, "one per connect");
    assert_eq!(stats.completions, 12);
}

#[test]
fn the_backend_serves_a_file_mapped_twice() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("tensor0");
    let backend_side = SharedFile::create(&path, 1 << 20).unwrap();
    let guest_side = SharedFile::create(&path, 1 << 20).unwrap();
    let stats = serve(
        backend_side.region(),
        guest_side.region(),
        config(2, 8),
        |client| {
            assert_eq!(client.layout().region_bytes(), 1 << 20);
            check_f32(
                client,
                Shape {
                    m: 64,
                    k: 64,
                    n: 64,
                },
            );
            check_i8(client, Shape { m: 5, k: 9, n: 3 });
        },
    );
    assert_eq!(stats.completions, 2);
    // The backend declared itself stopped, as the guest sees.
    assert_eq!(
        guest_side.region().read_u32(field::DEVICE_STATUS),
        Ok(tensor_ring::DeviceStatus::Stopped.code())
    );
}

/// Times 256x256x256 f32 matmuls (backend time and round trip). Not a benchmark:
/// run it with `--release -- --ignored --nocapture` to see rough numbers.
#[test]
#[ignore = "timing, not a check; run by hand"]
fn time_256_f32() {
    for threads in [1, 2] {
        with_backend(config(threads, 8), |client| {
            let shape = Shape {
                m: 256,
                k: 256,
                n: 256,
            };
            check_f32(client, shape);
            let mut backend_ns = Vec::new();
            let mut round_trip_ns = Vec::new();
            let [a_at, b_at, c_at] = offsets(shape, 4);
            let descriptor = Descriptor::matmul(Op::MatmulF32, 0, dims(shape), [a_at, b_at, c_at]);
            for _ in 0..50 {
                let start = Instant::now();
                let completion = client.call(descriptor, TIMEOUT).unwrap();
                round_trip_ns.push(start.elapsed().as_nanos() as u64);
                backend_ns.push(completion.backend_ns);
            }
            backend_ns.sort_unstable();
            round_trip_ns.sort_unstable();
            let median_backend = backend_ns[backend_ns.len() / 2];
            let flops = 2.0 * 256f64.powi(3);
            println!(
                "256x256x256 f32, {threads} threads: backend median {:.0} us ({:.1} GFLOP/s), round trip median {:.0} us",
                median_backend as f64 / 1e3,
                flops / median_backend as f64,
                round_trip_ns[round_trip_ns.len() / 2] as f64 / 1e3,
            );
            let mut nop_ns = Vec::new();
            for _ in 0..200 {
                let start = Instant::now();
                client.call(Descriptor::nop(0), TIMEOUT).unwrap();
                nop_ns.push(start.elapsed().as_nanos() as u64);
            }
            nop_ns.sort_unstable();
            println!(
                "nop round trip median {:.1} us",
                nop_ns[nop_ns.len() / 2] as f64 / 1e3
            );
        });
    }
}
