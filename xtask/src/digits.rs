//! The scikit-learn 8x8 handwritten digits: 1797 samples of 64 features in
//! `0..=16`, 10 classes, loaded from the copy the `smartcore` crate embeds
//! (`smartcore::dataset::digits`, feature `datasets`), checked against known
//! facts of the real data, and split into train and test sets.
//!
//! The data set is the UCI "Optical Recognition of Handwritten Digits" test
//! set as scikit-learn ships it (`sklearn.datasets.load_digits`): 8x8 images,
//! each pixel the count of set pixels in a 4x4 block of a 32x32 bitmap.

/// The number of samples.
pub const SAMPLES: usize = 1797;
/// The features per sample: an 8x8 image, row by row.
pub const FEATURES: usize = 64;
/// The largest feature value.
pub const VALUE_MAX: u8 = 16;
/// The number of classes (digits 0 to 9).
pub const CLASSES: usize = 10;
/// The number of samples of each digit, 0 to 9, in the real data.
pub const CLASS_COUNTS: [usize; CLASSES] = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];
/// The first sample (a 0) of the real data.
const FIRST_SAMPLE: [u8; FEATURES] = [
    0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0,
    8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6,
    13, 10, 0, 0, 0,
];
/// The first sample's label.
const FIRST_LABEL: u8 = 0;

/// Samples of the digits data set (or a part of it): `features` holds
/// [`FEATURES`] values per sample, sample after sample; `labels` one digit per
/// sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digits {
    /// `len() * FEATURES` values in `0..=VALUE_MAX`.
    pub features: Vec<u8>,
    /// One label in `0..CLASSES` per sample.
    pub labels: Vec<u8>,
}

impl Digits {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The features of sample `i`.
    pub fn sample(&self, i: usize) -> &[u8] {
        &self.features[i * FEATURES..(i + 1) * FEATURES]
    }

    /// The number of samples of each class.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }
}

/// Converts one value of smartcore's `f32` data to a `u8` in `0..=max`.
fn small_integer(v: f32, max: u8) -> Option<u8> {
    (v.fract() == 0.0 && (0.0..=f32::from(max)).contains(&v)).then_some(v as u8)
}

/// Loads the digits from `smartcore` and checks that they are the real data:
/// [`SAMPLES`] samples of [`FEATURES`] integral features in `0..=VALUE_MAX`,
/// labels in `0..CLASSES` with the real per-class counts ([`CLASS_COUNTS`])
/// and the real first sample. An `Err` says what differs.
pub fn load() -> Result<Digits, String> {
    let d = smartcore::dataset::digits::load_dataset();
    from_raw(d.num_samples, d.num_features, &d.data, &d.target)
}

/// The checks and conversion of [`load`], on smartcore's raw fields.
fn from_raw(
    num_samples: usize,
    num_features: usize,
    data: &[f32],
    target: &[f32],
) -> Result<Digits, String> {
    let what = "digits from smartcore";
    if num_samples != SAMPLES || target.len() != SAMPLES {
        return Err(format!(
            "{what}: {num_samples} samples ({} labels), expected {SAMPLES}",
            target.len()
        ));
    }
    if num_features != FEATURES || data.len() != SAMPLES * FEATURES {
        return Err(format!(
            "{what}: {num_features} features per sample ({} values), expected {FEATURES} ({})",
            data.len(),
            SAMPLES * FEATURES
        ));
    }
    let mut features = Vec::with_capacity(data.len());
    for (i, &v) in data.iter().enumerate() {
        let Some(b) = small_integer(v, VALUE_MAX) else {
            return Err(format!(
                "{what}: sample {} feature {} is {v}, expected an integer in 0..={VALUE_MAX}",
                i / FEATURES,
                i % FEATURES
            ));
        };
        features.push(b);
    }
    let mut labels = Vec::with_capacity(target.len());
    for (i, &v) in target.iter().enumerate() {
        let Some(l) = small_integer(v, (CLASSES - 1) as u8) else {
            return Err(format!(
                "{what}: sample {i} label is {v}, expected an integer in 0..{CLASSES}"
            ));
        };
        labels.push(l);
    }
    let digits = Digits { features, labels };
    let counts = digits.class_counts();
    if counts != CLASS_COUNTS {
        return Err(format!(
            "{what}: samples per class {counts:?}, the real data has {CLASS_COUNTS:?}"
        ));
    }
    if digits.sample(0) != FIRST_SAMPLE || digits.labels[0] != FIRST_LABEL {
        return Err(format!(
            "{what}: the first sample is {:?} with label {}, the real data's is {FIRST_SAMPLE:?} with label {FIRST_LABEL}",
            digits.sample(0),
            digits.labels[0]
        ));
    }
    Ok(digits)
}

/// splitmix64: a small deterministic generator for the shuffle.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`); the modulo bias is negligible for the
    /// small `n` of a shuffle.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fisher-Yates shuffle.
fn shuffle<T>(items: &mut [T], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// Splits `d` into a train and a test set, stratified: of each class's
/// samples, `test_num / test_den` (rounded to the nearest sample, halves up)
/// go to the test set, chosen by a splitmix64 shuffle seeded from `seed` and
/// the class. The same `d` and arguments always give the same split. Both
/// sets keep the samples in their order in `d`; together they hold every
/// sample of `d` exactly once.
///
/// # Panics
///
/// If `test_den` is 0 or `test_num > test_den`, or a label is not below
/// [`CLASSES`].
pub fn split(d: &Digits, test_num: usize, test_den: usize, seed: u64) -> (Digits, Digits) {
    assert!(
        test_den > 0 && test_num <= test_den,
        "test fraction {test_num}/{test_den} is not in [0, 1]"
    );
    let mut in_test = vec![false; d.len()];
    for class in 0..CLASSES {
        let mut members: Vec<usize> = (0..d.len())
            .filter(|&i| usize::from(d.labels[i]) == class)
            .collect();
        let mut rng = SplitMix64(seed ^ (class as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        shuffle(&mut members, &mut rng);
        let test_count = (members.len() * test_num * 2 + test_den) / (2 * test_den);
        for &i in &members[..test_count] {
            in_test[i] = true;
        }
    }
    let mut train = Digits {
        features: Vec::new(),
        labels: Vec::new(),
    };
    let mut test = train.clone();
    for (i, &is_test) in in_test.iter().enumerate() {
        let part = if is_test { &mut test } else { &mut train };
        part.features.extend_from_slice(d.sample(i));
        part.labels.push(d.labels[i]);
    }
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn digits_load_is_the_real_data() {
        let d = load().expect("the real digits");
        assert_eq!(d.len(), SAMPLES);
        assert_eq!(d.features.len(), SAMPLES * FEATURES);
        assert_eq!(d.class_counts(), CLASS_COUNTS);
        assert_eq!(d.sample(0), FIRST_SAMPLE);
        assert_eq!(d.labels[0], 0);
        assert!(d.features.iter().all(|&v| v <= VALUE_MAX));
        // Every value 0..=16 occurs.
        let seen: HashSet<u8> = d.features.iter().copied().collect();
        assert_eq!(seen.len(), 17);
        // The real data is laid out roughly cyclically: 0, 1, 2, ... 9, 0, ...
        assert_eq!(&d.labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn digits_load_refuses_other_data() {
        let d = smartcore::dataset::digits::load_dataset();
        assert!(from_raw(d.num_samples, d.num_features, &d.data, &d.target).is_ok());
        // Too few samples.
        let err = from_raw(10, 64, &d.data[..640], &d.target[..10]).unwrap_err();
        assert!(err.contains("10 samples"), "{err}");
        // A value out of range.
        let mut data = d.data.clone();
        data[100] = 17.0;
        let err = from_raw(SAMPLES, FEATURES, &data, &d.target).unwrap_err();
        assert!(err.contains("sample 1 feature 36 is 17"), "{err}");
        // A fractional value.
        data[100] = 0.5;
        assert!(from_raw(SAMPLES, FEATURES, &data, &d.target).is_err());
        // Labels moved between classes.
        let mut target = d.target.clone();
        target[1] = 2.0;
        let err = from_raw(SAMPLES, FEATURES, &d.data, &target).unwrap_err();
        assert!(err.contains("samples per class"), "{err}");
        // A different first sample (class counts unchanged).
        let mut data = d.data.clone();
        data[2] = 6.0;
        let err = from_raw(SAMPLES, FEATURES, &data, &d.target).unwrap_err();
        assert!(err.contains("first sample"), "{err}");
    }

    #[test]
    fn digits_split_is_stratified_disjoint_and_complete() {
        let d = load().unwrap();
        let (train, test) = split(&d, 1, 4, 42);
        assert_eq!(train.len() + test.len(), SAMPLES);
        assert_eq!(train.features.len(), train.len() * FEATURES);
        assert_eq!(test.features.len(), test.len() * FEATURES);
        let test_counts = test.class_counts();
        let train_counts = train.class_counts();
        for c in 0..CLASSES {
            // A quarter of each class, rounded to nearest.
            let expected = (CLASS_COUNTS[c] * 2 + 4) / 8;
            assert_eq!(test_counts[c], expected, "class {c}");
            assert_eq!(train_counts[c] + test_counts[c], CLASS_COUNTS[c]);
        }
        assert_eq!(test.len(), 451);
        // Every sample lands in exactly one part: the multiset of (features,
        // label) rows is preserved.
        let mut all: Vec<(Vec<u8>, u8)> = (0..d.len())
            .map(|i| (d.sample(i).to_vec(), d.labels[i]))
            .collect();
        let mut parts: Vec<(Vec<u8>, u8)> = (0..train.len())
            .map(|i| (train.sample(i).to_vec(), train.labels[i]))
            .chain((0..test.len()).map(|i| (test.sample(i).to_vec(), test.labels[i])))
            .collect();
        all.sort();
        parts.sort();
        assert_eq!(all, parts);
    }

    #[test]
    fn digits_split_is_deterministic_and_seeded() {
        let d = load().unwrap();
        let a = split(&d, 1, 4, 7);
        let b = split(&d, 1, 4, 7);
        assert_eq!(a, b);
        let c = split(&d, 1, 4, 8);
        assert_ne!(a.1, c.1, "another seed picks other test samples");
        assert_eq!(a.1.class_counts(), c.1.class_counts());
    }

    #[test]
    fn digits_split_edge_fractions() {
        let d = load().unwrap();
        let (train, test) = split(&d, 0, 1, 1);
        assert_eq!((train.len(), test.len()), (SAMPLES, 0));
        assert_eq!(train, d);
        let (train, test) = split(&d, 1, 1, 1);
        assert_eq!((train.len(), test.len()), (0, SAMPLES));
        assert_eq!(test, d);
    }

    #[test]
    fn splitmix64_matches_the_reference() {
        // The reference sequence of splitmix64 seeded with 0.
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next(), 0x6E78_9E6A_A1B9_65F4);
    }
}
