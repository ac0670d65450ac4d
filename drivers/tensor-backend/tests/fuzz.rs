//! Seeded fuzzing of the backend's ring parser: a hostile guest against the real loop.
//!
//! The test steps [`Backend::step`] by hand (no thread, so every case is reproducible
//! from [`SEED`]) while a "guest" writes random, bit-flipped and plausible
//! descriptors, random ring indices, random completion heads and reset requests.
//! After every step it checks: the step did not fail; a served entry's completion
//! has the slot's sequence number and the outcome [`validate`] gives for the slot's
//! bytes; the data area changed only inside an accepted job's C range (and a
//! refused or faulted entry changed nothing); accepted `i8` jobs equal the reference.

use std::sync::atomic::AtomicU32;

use tensor_backend::{Backend, Config, Step};
use tensor_ring::{
    DESCRIPTOR_BYTES, Descriptor, Element, Job, Layout, Limits, Op, Outcome, Region, SharedWords,
    layout::field,
    reference::{self, Shape},
    validate,
};

/// The seed of the whole run.
const SEED: u64 = 0xFA22_0013_BAC4_E0D5;

/// Steps of the hostile guest against the backend.
const STEPS: usize = 6_000;

/// The region: 32 KiB with 8-slot rings, so a data area of 24 KiB.
const REGION_BYTES: usize = 32 << 10;

/// Ring slots.
const SLOTS: u32 = 8;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Returns a descriptor that is often valid: small shapes, aligned offsets inside
/// the data area; sometimes with a flipped bit or a wild field.
fn plausible(rng: &mut Rng, data_bytes: u64) -> Descriptor {
    let op = match rng.below(3) {
        0 => Op::Nop,
        1 => Op::MatmulF32,
        _ => Op::MatmulI8,
    };
    let mut descriptor = if op == Op::Nop {
        Descriptor::nop(rng.next())
    } else {
        let dimension = |rng: &mut Rng| 1 + rng.below(24) as u32;
        let offset = |rng: &mut Rng| rng.below(data_bytes) & !3;
        Descriptor::matmul(
            op,
            rng.next(),
            [dimension(rng), dimension(rng), dimension(rng)],
            [offset(rng), offset(rng), offset(rng)],
        )
    };
    match rng.below(6) {
        0 => {
            let mut bytes = descriptor.to_bytes();
            let bit = rng.below(DESCRIPTOR_BYTES as u64 * 8) as usize;
            bytes[bit / 8] ^= 1 << (bit % 8);
            descriptor = Descriptor::from_bytes(&bytes);
        }
        1 => descriptor.m = rng.next() as u32,
        2 => descriptor.c_offset = rng.next(),
        _ => {}
    }
    descriptor
}

fn words(bytes: usize) -> Vec<AtomicU32> {
    (0..bytes / 4).map(|_| AtomicU32::new(0)).collect()
}

fn snapshot(region: &SharedWords<'_>, layout: &Layout) -> Vec<u8> {
    let mut bytes = vec![0; layout.data_bytes() as usize];
    region.read_bytes(layout.data_offset(), &mut bytes).unwrap();
    bytes
}

/// Checks an accepted `i8` job's output against the reference over `before`.
fn check_i8_result(job: &tensor_ring::Matmul, before: &[u8], after: &[u8]) {
    let [m, k, n] = job.shape().map(|d| d as usize);
    let shape = Shape { m, k, n };
    let slice = |range: tensor_ring::ByteRange, bytes: &[u8]| -> Vec<u8> {
        bytes[range.offset() as usize..range.end() as usize].to_vec()
    };
    let a: Vec<i8> = slice(job.a(), before).iter().map(|&b| b as i8).collect();
    let b: Vec<i8> = slice(job.b(), before).iter().map(|&b| b as i8).collect();
    let mut expected = vec![0i32; m * n];
    reference::matmul_i8(shape, &a, &b, &mut expected).unwrap();
    let got: Vec<i32> = slice(job.c(), after)
        .as_chunks::<4>()
        .0
        .iter()
        .map(|word| i32::from_le_bytes(*word))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_hostile_guest_never_breaks_the_backend() {
    let mut rng = Rng(SEED);
    let memory = words(REGION_BYTES);
    let mut guest = SharedWords::new(&memory);
    let config = Config {
        threads: 2,
        limits: Limits::DEFAULT,
        submission_slots: SLOTS,
        completion_slots: SLOTS,
    };
    let mut backend = Backend::start(SharedWords::new(&memory), config).unwrap();
    let layout = *backend.layout();
    let ring = layout.submission();
    let mut tail: u32 = 0;
    let mut epoch: u32 = 0;
    let mut served = [0usize; 3]; // ok, refused, accepted i8 checked
    let mut faults = 0;
    for _ in 0..STEPS {
        match rng.below(20) {
            // Mostly: submit a descriptor the proper way.
            0..=11 => {
                let descriptor = if rng.below(8) == 0 {
                    let mut bytes = [0u8; DESCRIPTOR_BYTES];
                    bytes.iter_mut().for_each(|byte| *byte = rng.next() as u8);
                    Descriptor::from_bytes(&bytes)
                } else {
                    plausible(&mut rng, layout.data_bytes())
                };
                guest
                    .write_bytes(ring.slot_offset(tail), &descriptor.to_bytes())
                    .unwrap();
                tail = tail.wrapping_add(1);
                guest.write_u32(field::SUBMISSION_TAIL, tail).unwrap();
            }
            // Collect completions (the guest's head catches up with the tail).
            12..=14 => {
                let completion_tail = guest.read_u32(field::COMPLETION_TAIL).unwrap();
                guest
                    .write_u32(field::COMPLETION_HEAD, completion_tail)
                    .unwrap();
            }
            // A wild submission tail.
            15 => {
                tail = rng.next() as u32;
                guest.write_u32(field::SUBMISSION_TAIL, tail).unwrap();
            }
            // A wild completion head.
            16 => guest
                .write_u32(field::COMPLETION_HEAD, rng.next() as u32)
                .unwrap(),
            // Garbage in the data area.
            17 => {
                let at = layout.data_offset() + (rng.below(layout.data_bytes() / 4) * 4) as usize;
                guest.write_u32(at, rng.next() as u32).unwrap();
            }
            // A ring reset, done properly most of the time.
            _ => {
                if rng.below(4) != 0 {
                    tail = 0;
                    guest.write_u32(field::SUBMISSION_TAIL, 0).unwrap();
                    guest.write_u32(field::COMPLETION_HEAD, 0).unwrap();
                }
                epoch = epoch.wrapping_add(1);
                guest.write_u32(field::GUEST_EPOCH, epoch).unwrap();
            }
        }
        let before = snapshot(&guest, &layout);
        let step = backend.step().expect("a step never fails on guest content");
        let after = snapshot(&guest, &layout);
        match step {
            Step::Served(completion) => {
                // The backend advanced its head just now: the served slot is head - 1.
                let head = guest.read_u32(field::SUBMISSION_HEAD).unwrap();
                let mut bytes = [0u8; DESCRIPTOR_BYTES];
                guest
                    .read_bytes(ring.slot_offset(head.wrapping_sub(1)), &mut bytes)
                    .unwrap();
                let descriptor = Descriptor::from_bytes(&bytes);
                assert_eq!(completion.sequence, descriptor.sequence);
                let verdict = validate(&descriptor, layout.data_bytes(), &Limits::DEFAULT);
                match verdict {
                    Err(refusal) => {
                        assert_eq!(completion.outcome(), Outcome::Refused(refusal));
                        assert!(before == after, "a refused job wrote the data area");
                        served[1] += 1;
                    }
                    Ok(job) => {
                        assert_eq!(completion.outcome(), Outcome::Ok);
                        served[0] += 1;
                        let c = match job {
                            Job::Nop => None,
                            Job::Matmul(matmul) => Some(matmul),
                        };
                        let changed = before.iter().zip(&after).enumerate();
                        for (offset, (old, new)) in changed.filter(|(_, (old, new))| old != new) {
                            let in_c = c.is_some_and(|matmul| {
                                (matmul.c().offset()..matmul.c().end()).contains(&(offset as u64))
                            });
                            assert!(old == new || in_c, "wrote data byte {offset:#x} outside C");
                        }
                        if let Some(matmul) = c
                            && matmul.element() == Element::I8
                        {
                            check_i8_result(&matmul, &before, &after);
                            served[2] += 1;
                        }
                    }
                }
            }
            Step::RingFault => {
                faults += 1;
                assert!(before == after);
            }
            Step::Idle | Step::CompletionRingFull | Step::Reset(_) => assert!(before == after),
        }
    }
    let stats = backend.stats();
    assert_eq!(stats.ring_faults, faults);
    assert_eq!(stats.completions as usize, served[0] + served[1]);
    // The generator reaches every path: accepted jobs (i8 ones checked), refusals,
    // ring faults.
    assert!(
        served[0] > 100 && served[1] > 100 && served[2] > 20,
        "{served:?}"
    );
    assert!(faults > 0);
    println!(
        "served {served:?}, {faults} ring faults, {} resets",
        stats.resets
    );
}
