//! Seeded fuzzing of the parser: descriptors, ring indices and headers from a hostile guest.
//!
//! Every case is reproducible from [`SEED`]. The properties: nothing panics; every
//! accepted job's byte ranges lie inside the data area, have the sizes its shape
//! implies and keep C apart from A and B; a ring whose peer index is out of range is
//! reported corrupt, and an accepted entry is always read from inside the ring.

use tensor_ring::{
    COMPLETION_BYTES, CompletionProducer, DESCRIPTOR_BYTES, Descriptor, Element, Job, Layout,
    Limits, Op, Region, RingError, SubmissionConsumer, layout::field, read_header, validate,
    write_header,
};

/// The seed of every case.
const SEED: u64 = 0x7E50_4E55_1F2A_0013;

/// Random and bit-flipped descriptors per test.
const DESCRIPTOR_CASES: usize = 200_000;

/// Random ring states per test.
const RING_CASES: usize = 20_000;

/// Corrupted headers per test.
const HEADER_CASES: usize = 20_000;

/// SplitMix64: small, seeded, good enough to spread cases.
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

    /// Returns a value that is often at an edge: 0, small, near a power of two, max.
    fn edgy_u64(&mut self, scale: u64) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => u64::MAX - self.below(8),
            2 => 1u64 << self.below(64),
            3 => (1u64 << self.below(64)).wrapping_sub(self.below(4)),
            4 => self.below(64),
            5 => self.below(scale.max(1)) & !3,
            6 => scale.wrapping_sub(self.below(512)),
            _ => self.next(),
        }
    }

    fn edgy_u32(&mut self, scale: u32) -> u32 {
        match self.below(6) {
            0 => 0,
            1 => u32::MAX - self.below(4) as u32,
            2 => 1 << self.below(32),
            3 => self.below(u64::from(scale) + 2) as u32,
            4 => self.below(64) as u32,
            _ => self.next() as u32,
        }
    }
}

/// Returns a descriptor that is plausible more often than uniform noise would be.
fn random_descriptor(rng: &mut Rng, data_bytes: u64) -> Descriptor {
    let mut descriptor = Descriptor {
        sequence: rng.next(),
        op: if rng.below(4) == 0 {
            rng.next() as u32
        } else {
            rng.below(3) as u32
        },
        flags: match rng.below(8) {
            0 => rng.next() as u32,
            1 => tensor_ring::FLAG_NOTIFY,
            _ => 0,
        },
        m: rng.edgy_u32(300),
        k: rng.edgy_u32(300),
        n: rng.edgy_u32(300),
        reserved: if rng.below(16) == 0 { 1 } else { 0 },
        a_offset: rng.edgy_u64(data_bytes),
        b_offset: rng.edgy_u64(data_bytes),
        c_offset: rng.edgy_u64(data_bytes),
        reserved_tail: if rng.below(16) == 0 { rng.next() } else { 0 },
    };
    if rng.below(3) == 0 {
        // Start from a valid job and flip bits in its encoding.
        descriptor = Descriptor::matmul(
            if rng.below(2) == 0 {
                Op::MatmulF32
            } else {
                Op::MatmulI8
            },
            rng.next(),
            [
                1 + rng.below(64) as u32,
                1 + rng.below(64) as u32,
                1 + rng.below(64) as u32,
            ],
            [0, 64 << 10, 128 << 10],
        );
        let mut bytes = descriptor.to_bytes();
        for _ in 0..1 + rng.below(3) {
            let bit = rng.below(DESCRIPTOR_BYTES as u64 * 8) as usize;
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        descriptor = Descriptor::from_bytes(&bytes);
    }
    descriptor
}

/// Asserts everything an accepted job promises.
fn check_accepted(job: &Job, descriptor: &Descriptor, data_bytes: u64, limits: &Limits) {
    let Job::Matmul(matmul) = job else {
        assert_eq!(*descriptor, Descriptor::nop(descriptor.sequence));
        return;
    };
    let [m, k, n] = matmul.shape().map(u64::from);
    for dimension in [m, k, n] {
        assert!(dimension >= 1 && dimension <= u64::from(limits.max_dimension));
    }
    assert!(m * k * n <= limits.max_multiply_adds);
    let input = matmul.element().input_bytes();
    assert_eq!(matmul.a().len(), m * k * input);
    assert_eq!(matmul.b().len(), k * n * input);
    assert_eq!(matmul.c().len(), m * n * 4);
    let ranges = [
        (matmul.a(), descriptor.a_offset),
        (matmul.b(), descriptor.b_offset),
        (matmul.c(), descriptor.c_offset),
    ];
    for (range, offset) in ranges {
        assert_eq!(range.offset(), offset);
        assert!(range.len() <= limits.max_operand_bytes);
        assert!(range.offset().is_multiple_of(4));
        let end = range
            .offset()
            .checked_add(range.len())
            .expect("end overflows");
        assert!(end <= data_bytes, "{range:?} beyond {data_bytes}");
    }
    assert!(!matmul.c().overlaps(&matmul.a()));
    assert!(!matmul.c().overlaps(&matmul.b()));
    let op = match matmul.element() {
        Element::F32 => Op::MatmulF32,
        Element::I8 => Op::MatmulI8,
    };
    assert_eq!(descriptor.op, op.code());
    assert_eq!(
        (
            descriptor.flags & !tensor_ring::KNOWN_FLAGS,
            descriptor.reserved,
            descriptor.reserved_tail
        ),
        (0, 0, 0)
    );
}

#[test]
fn random_and_bit_flipped_descriptors() {
    let mut rng = Rng(SEED);
    let limits = Limits::DEFAULT;
    let small = Limits {
        max_dimension: 100,
        max_operand_bytes: 10_000,
        max_multiply_adds: 200_000,
    };
    let mut accepted = 0;
    for case in 0..DESCRIPTOR_CASES {
        let data_bytes = match case % 4 {
            0 => 1 << 20,
            1 => 0,
            2 => rng.edgy_u64(1 << 24),
            _ => u64::MAX,
        };
        let descriptor = random_descriptor(&mut rng, data_bytes);
        for limits in [&limits, &small] {
            if let Ok(job) = validate(&descriptor, data_bytes, limits) {
                check_accepted(&job, &descriptor, data_bytes, limits);
                accepted += 1;
            }
        }
    }
    // The generator must reach the accepting paths, not only the refusals.
    assert!(accepted > DESCRIPTOR_CASES / 50, "only {accepted} accepted");
}

#[test]
fn random_ring_indices_and_slot_contents() {
    let mut rng = Rng(SEED ^ 1);
    let layout = Layout::new(1 << 20, 8, 8).unwrap();
    let mut region = vec![0u8; 1 << 20];
    write_header(&mut region[..], &layout, &Limits::DEFAULT).unwrap();
    let ring = layout.submission();
    let mut accepted = 0;
    for _ in 0..RING_CASES {
        // A head the backend reached by consuming (up to a few laps of the ring), a
        // random (often nearby) tail from the guest, garbage in the slot.
        let head = rng.below(64) as u32;
        let consumer = consumer_at(&layout, head);
        let tail = match rng.below(3) {
            0 => head.wrapping_add(rng.below(12) as u32),
            1 => head.wrapping_sub(rng.below(4) as u32),
            _ => rng.next() as u32,
        };
        region.write_u32(field::SUBMISSION_TAIL, tail).unwrap();
        region
            .write_u32(field::SUBMISSION_HEAD, rng.next() as u32)
            .unwrap();
        let slot = ring.slot_offset(head);
        if rng.below(2) == 0 {
            for byte in &mut region[slot..slot + DESCRIPTOR_BYTES] {
                *byte = rng.next() as u8;
            }
        } else {
            let descriptor = random_descriptor(&mut rng, layout.data_bytes());
            region[slot..slot + DESCRIPTOR_BYTES].copy_from_slice(&descriptor.to_bytes());
        }
        let waiting = tail.wrapping_sub(head);
        match consumer.peek(&region[..]) {
            Ok(None) => assert_eq!(waiting, 0),
            Ok(Some(descriptor)) => {
                assert!(waiting >= 1 && waiting <= ring.slots());
                assert_eq!(
                    descriptor.to_bytes()[..],
                    region[slot..slot + DESCRIPTOR_BYTES]
                );
                if let Ok(job) = validate(&descriptor, layout.data_bytes(), &Limits::DEFAULT) {
                    check_accepted(&job, &descriptor, layout.data_bytes(), &Limits::DEFAULT);
                    accepted += 1;
                }
            }
            Err(RingError::Corrupt { head: h, tail: t }) => {
                assert_eq!((h, t), (head, tail));
                assert!(waiting > ring.slots());
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(accepted > 0, "no slot held a valid job");
}

/// Returns a submission consumer whose private head is `head`, reached the only way
/// a consumer's index moves: by taking `head` entries (through a scratch header).
fn consumer_at(layout: &Layout, head: u32) -> SubmissionConsumer {
    let mut scratch = vec![0u8; tensor_ring::layout::HEADER_BYTES];
    let mut consumer = SubmissionConsumer::new(layout);
    while consumer.head() != head {
        consumer.advance(&mut scratch[..]).unwrap();
    }
    consumer
}

#[test]
fn completion_ring_with_random_guest_heads() {
    let mut rng = Rng(SEED ^ 2);
    let layout = Layout::new(3 * 4096, 4, 4).unwrap();
    let mut region = vec![0u8; 3 * 4096];
    let mut producer = CompletionProducer::new(&layout);
    let ring = layout.completion();
    for _ in 0..RING_CASES {
        let guest_head = match rng.below(2) {
            0 => producer.tail().wrapping_sub(rng.below(6) as u32),
            _ => rng.next() as u32,
        };
        region
            .write_u32(field::COMPLETION_HEAD, guest_head)
            .unwrap();
        let before = region.clone();
        let used = producer.tail().wrapping_sub(guest_head);
        let result = producer.push(&mut region[..], &tensor_ring::Completion::default());
        match result {
            Ok(true) => {
                assert!(used < ring.slots());
                // Only the slot and the tail changed.
                let slot = ring.slot_offset(producer.tail().wrapping_sub(1));
                for (offset, (old, new)) in before.iter().zip(&region).enumerate() {
                    let in_slot = (slot..slot + COMPLETION_BYTES).contains(&offset);
                    let in_tail =
                        (field::COMPLETION_TAIL..field::COMPLETION_TAIL + 4).contains(&offset);
                    assert!(old == new || in_slot || in_tail, "wrote byte {offset:#x}");
                }
            }
            Ok(false) => assert_eq!(used, ring.slots()),
            Err(RingError::Corrupt { .. }) => {
                assert!(used > ring.slots());
                assert_eq!(before, region);
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn corrupted_headers_are_refused_or_describe_the_region() {
    let mut rng = Rng(SEED ^ 3);
    let region_bytes = 1 << 16;
    let layout = Layout::new(region_bytes, 16, 16).unwrap();
    let mut clean = vec![0u8; region_bytes as usize];
    write_header(&mut clean[..], &layout, &Limits::DEFAULT).unwrap();
    for _ in 0..HEADER_CASES {
        let mut region = clean.clone();
        for _ in 0..1 + rng.below(4) {
            let field_offset = (rng.below(0x40) as usize) & !3;
            let value = match rng.below(3) {
                0 => rng.next() as u32,
                1 => 1 << rng.below(32),
                _ => region.read_u32(field_offset).unwrap() ^ (1 << rng.below(32)),
            };
            region.write_u32(field_offset, value).unwrap();
        }
        let cut = match rng.below(4) {
            0 => rng.below(region_bytes) as usize,
            _ => region.len(),
        };
        if let Ok((read, limits)) = read_header(&region[..cut]) {
            assert!(read.region_bytes() <= cut as u64);
            assert!(read.data_offset() as u64 + read.data_bytes() == read.region_bytes());
            let submission_end = read.submission().offset() + read.submission().bytes();
            let completion_end = read.completion().offset() + read.completion().bytes();
            assert!(submission_end <= read.completion().offset());
            assert!(completion_end <= read.data_offset());
            assert!(limits.max_dimension > 0);
        }
    }
}
