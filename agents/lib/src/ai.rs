//! Models and data from the ramdisk, ready for the tensor runtime.
//!
//! [`load_model`] reads an AIMG model image, checks it (`model_image::parse`:
//! shapes, scales, SHA-256) and builds an `agent_tensor::QuantMlp` from it,
//! checked again by the runtime; [`dataset`] parses a DSET image that
//! [`read`] brought.
//! Every refusal is an [`AiError`] with a printable cause: a bad image
//! never stops the agent by itself.

use alloc::vec::Vec;
use core::fmt;

use agent_tensor::{QuantDense, QuantMlp, Requant, TensorError};
use model_image::{Dataset, ImageError, LayerKind};

pub use agent_tensor;
pub use model_image;

/// Why a model or data set could not be loaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AiError {
    /// `read_file` failed (no such file, bad buffer).
    Read(crate::Error),
    /// The image is malformed.
    Image(ImageError),
    /// The model's layers do not make a valid runtime model.
    Model(TensorError),
    /// The image holds a layer kind the runtime does not run.
    UnsupportedLayer(usize),
}

impl fmt::Display for AiError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(error) => write!(formatter, "cannot read the file: {error:?}"),
            Self::Image(error) => write!(formatter, "{error}"),
            Self::Model(error) => write!(formatter, "the model is not valid: {error}"),
            Self::UnsupportedLayer(index) => {
                write!(
                    formatter,
                    "layer {index} is of a kind the runtime does not run"
                )
            }
        }
    }
}

/// A model's matrix products through the kernel's `tensor` syscall: the
/// adaptive table puts each on the CPU or a tensor accelerator (the agent
/// allows both), so small layers stay on the CPU and large batches go to a
/// device as the table learns. Each weight matrix is uploaded once as a
/// resident tensor ([`crate::ResidentTensor`]), transposed to the syscall's
/// `k x n`, and named in later products, which then move only the
/// activations; a matrix is known by its address, length and a hash of its
/// contents, so a changed or moved matrix is uploaded anew. A whole layer
/// ([`agent_tensor::MatmulI8::dense`]) goes to the kernel's fused layer call
/// (`TensorOp::LayerI8`): the weights, bias and requantization uploaded once,
/// one call per layer, `i8` codes back (the last layer's accumulators). A call the
/// kernel refuses (no capability, a shape over its limits, no room for
/// another resident tensor) runs on the agent's own kernels instead. Counts
/// where the products ran.
#[derive(Debug, Default)]
pub struct KernelMatmul {
    /// Products the kernel ran on the CPU.
    pub on_cpu: u64,
    /// Products a tensor device ran.
    pub on_device: u64,
    /// Products the agent ran itself after the kernel refused.
    pub local: u64,
    /// Weight matrices uploaded as resident tensors.
    pub uploads: u64,
    /// Whole layers run by the kernel's fused layer call (counted in
    /// `on_cpu` / `on_device` too).
    pub fused: u64,
    weights: Cache,
    layers: Cache,
}

/// Uploaded tensors by the address and length of the model's matrix, with
/// a hash of what was uploaded.
#[derive(Debug, Default)]
struct Cache(Vec<(usize, usize, u64, crate::ResidentTensor)>);

impl Cache {
    /// Returns the index of the tensor of matrix `key` uploaded with `hash`;
    /// drops (releases) one uploaded with another hash.
    fn find(&mut self, key: (usize, usize), hash: u64) -> Option<usize> {
        let index = self
            .0
            .iter()
            .position(|(address, length, _, _)| (*address, *length) == key)?;
        if self.0[index].2 == hash {
            return Some(index);
        }
        self.0.swap_remove(index);
        None
    }

    /// Returns the tensor at `index`.
    fn get(&self, index: usize) -> Option<&crate::ResidentTensor> {
        self.0.get(index).map(|(_, _, _, tensor)| tensor)
    }

    /// Keeps `tensor` for matrix `key` uploaded with `hash`; returns it.
    fn insert(
        &mut self,
        key: (usize, usize),
        hash: u64,
        tensor: crate::ResidentTensor,
    ) -> Option<&crate::ResidentTensor> {
        self.0.push((key.0, key.1, hash, tensor));
        self.get(self.0.len() - 1)
    }
}

/// Returns `bt` (`n x k`, the model's layout) as `k x n` (the syscall's B).
fn transposed(bt: &[i8], k: usize, n: usize) -> Vec<i8> {
    let mut b = alloc::vec![0i8; k * n];
    for (row, weights) in bt.chunks_exact(k).enumerate().take(n) {
        for (p, weight) in weights.iter().enumerate() {
            b[p * n + row] = *weight;
        }
    }
    b
}

/// FNV-1a over `bytes`: tells a changed weight matrix from the cached one.
fn fnv1a(bytes: &[i8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte as u8)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

impl KernelMatmul {
    /// Returns the resident tensor of `bt` (`n x k`, transposed), uploading it
    /// first if it is not cached; `None` when the kernel refuses the upload.
    fn resident(&mut self, bt: &[i8], k: usize, n: usize) -> Option<&crate::ResidentTensor> {
        let hash = fnv1a(bt);
        let key = (bt.as_ptr() as usize, bt.len());
        if let Some(index) = self.weights.find(key, hash) {
            return self.weights.get(index);
        }
        let b = transposed(bt, k, n);
        let tensor = crate::ResidentTensor::upload_i8(k as u64, n as u64, &b).ok()?;
        self.uploads += 1;
        self.weights.insert(key, hash, tensor)
    }
}

impl KernelMatmul {
    /// Returns the fused layer of `layer` (the last one gives accumulators),
    /// uploading it first if it is not cached; `None` when the kernel refuses.
    fn fused_layer(&mut self, layer: &QuantDense, last: bool) -> Option<&crate::ResidentTensor> {
        let mut hash = fnv1a(&layer.w);
        for bias in &layer.bias {
            hash = (hash ^ u64::from(*bias as u32)).wrapping_mul(0x0000_0100_0000_01B3);
        }
        hash ^= u64::from(layer.requant.multiplier as u32) << 32
            | u64::from(layer.requant.shift as u32 & 0xFF) << 8
            | u64::from(layer.relu) << 1
            | u64::from(last);
        let key = (layer.w.as_ptr() as usize, layer.w.len());
        if let Some(index) = self.layers.find(key, hash) {
            return self.layers.get(index);
        }
        let (k, n) = (layer.in_dim, layer.out_dim);
        let weights = transposed(&layer.w, k, n);
        let mut flags = 0;
        if layer.relu {
            flags |= crate::abi::LAYER_RELU;
        }
        if last {
            flags |= crate::abi::LAYER_ACCUMULATORS;
        }
        let tensor = crate::ResidentTensor::upload_layer_i8(
            (k as u64, n as u64),
            &weights,
            &layer.bias,
            (layer.requant.multiplier, layer.requant.shift),
            flags,
        )
        .ok()?;
        self.uploads += 1;
        self.layers.insert(key, hash, tensor)
    }

    fn count(&mut self, route: crate::TensorRoute) {
        match route {
            crate::TensorRoute::Cpu => self.on_cpu += 1,
            crate::TensorRoute::Device(_) => self.on_device += 1,
        }
    }
}

impl agent_tensor::MatmulI8 for KernelMatmul {
    fn dense(
        &mut self,
        layer: &QuantDense,
        h: &[i8],
        rows: usize,
        last: bool,
    ) -> agent_tensor::DenseOutput {
        use agent_tensor::DenseOutput;
        let flags = crate::abi::ACCEL_ALLOW_CPU;
        let out = rows * layer.out_dim;
        let result = match self.fused_layer(layer, last) {
            None => None,
            Some(tensor) if last => {
                let mut acc = alloc::vec![0i32; out];
                crate::layer_i8_accumulators(rows as u64, h, tensor, &mut acc, flags)
                    .ok()
                    .map(|route| (route, DenseOutput::Accumulators(acc)))
            }
            Some(tensor) => {
                let mut codes = alloc::vec![0i8; out];
                crate::layer_i8_codes(rows as u64, h, tensor, &mut codes, flags)
                    .ok()
                    .map(|route| (route, DenseOutput::Codes(codes)))
            }
        };
        match result {
            Some((route, output)) => {
                self.count(route);
                self.fused += 1;
                output
            }
            // Refused (no capability, over the limits, no room): the agent's
            // own kernels, the same bits.
            None => {
                let mut local = agent_tensor::Local;
                let output = local.dense(layer, h, rows, last);
                self.local += 1;
                output
            }
        }
    }

    fn matmul_i8(&mut self, a: &[i8], bt: &[i8], out: &mut [i32], m: usize, k: usize, n: usize) {
        let result = match self.resident(bt, k, n) {
            Some(b) => crate::matmul_i8_resident(m as u64, a, b, out, crate::abi::ACCEL_ALLOW_CPU),
            None => Err(crate::abi::Error::Exhausted),
        };
        match result {
            Ok(crate::TensorRoute::Cpu) => self.on_cpu += 1,
            Ok(crate::TensorRoute::Device(_)) => self.on_device += 1,
            Err(_) => {
                self.local += 1;
                agent_tensor::matmul_i8_i32(a, bt, out, m, k, n);
            }
        }
    }
}

/// Builds a runtime model from the model image `bytes`.
pub fn model_from_image(bytes: &[u8]) -> Result<QuantMlp, AiError> {
    let image = model_image::parse(bytes).map_err(AiError::Image)?;
    let mut layers = Vec::with_capacity(image.layer_count());
    for (index, layer) in image.layers().enumerate() {
        if layer.kind != LayerKind::Dense {
            return Err(AiError::UnsupportedLayer(index));
        }
        layers.push(QuantDense {
            in_dim: layer.in_dim as usize,
            out_dim: layer.out_dim as usize,
            w: layer.weights().collect(),
            w_scale: layer.w_scale,
            bias: layer.bias_iter().collect(),
            in_scale: layer.in_scale,
            out_scale: layer.out_scale,
            requant: Requant {
                multiplier: layer.requant_multiplier,
                shift: layer.requant_shift,
            },
            relu: layer.relu,
        });
    }
    let model = QuantMlp {
        input_scale: image.input_scale(),
        layers,
    };
    model.validate().map_err(AiError::Model)?;
    Ok(model)
}

/// Reads the model image `name` from the ramdisk and builds its model.
pub fn load_model(name: &str) -> Result<QuantMlp, AiError> {
    model_from_image(&read(name)?)
}

/// Reads ramdisk file `name` (a data set image, say, which [`dataset`]
/// then parses in place).
pub fn read(name: &str) -> Result<Vec<u8>, AiError> {
    crate::load_file(name).map_err(AiError::Read)
}

/// Parses (and checks) the data set image `bytes`.
pub fn dataset(bytes: &[u8]) -> Result<Dataset<'_>, AiError> {
    model_image::parse_dataset(bytes).map_err(AiError::Image)
}

/// Returns the samples of `data` as floats in `[0, 1]` (feature / value
/// max), the inputs the models are trained on.
pub fn inputs(data: &Dataset<'_>) -> Vec<f32> {
    let scale = f32::from(data.value_max().max(1));
    let mut out = Vec::with_capacity(data.len() * data.feature_dim());
    for index in 0..data.len() {
        out.extend(
            data.features(index)
                .iter()
                .map(|&value| f32::from(value) / scale),
        );
    }
    out
}

/// The digits service: the files `cargo xtask` puts into the ramdisk and
/// the request/reply format `digits_infer` speaks with its clients.
///
/// Request: the [`PIXELS`] pixels of an 8x8 image (values 0..=[`VALUE_MAX`]),
/// one byte each; a one-byte request [`STOP`] ends the server. Reply
/// ([`REPLY_BYTES`], little-endian): the class (u8), three zero bytes, the
/// model's [`CLASSES`] i32 logits, then the cycles the inference took
/// (u64); a malformed request gets the one byte [`BAD_REQUEST`].
pub mod digits {
    /// The int8 model image.
    pub const MODEL_FILE: &str = "models/digits.aimg";
    /// The training split.
    pub const TRAIN_FILE: &str = "models/digits-train.dset";
    /// The held-out test split.
    pub const TEST_FILE: &str = "models/digits-test.dset";
    /// The host's int8 logits of every test image.
    pub const REFERENCE_FILE: &str = "models/digits.ref";
    /// The host's training run (seeds and losses).
    pub const TRAIN_REFERENCE_FILE: &str = "models/digits-train.ref";
    /// Endpoint the server receives on.
    pub const ENDPOINT: u64 = agent_abi::DIGITS_ENDPOINT;
    /// Pixels per image.
    pub const PIXELS: usize = 64;
    /// Largest pixel value.
    pub const VALUE_MAX: u8 = 16;
    /// Classes.
    pub const CLASSES: usize = 10;
    /// Bytes of a reply.
    pub const REPLY_BYTES: usize = 4 + CLASSES * 4 + 8;
    /// The stop request (and its answer).
    pub const STOP: u8 = 0xFF;
    /// The answer to a malformed request.
    pub const BAD_REQUEST: u8 = 0xEE;
    /// How long a client waits for the server to start serving (it loads
    /// its model first), µs.
    pub const STARTUP_US: u64 = 5_000_000;
    /// The server's learning objective: each request answered within this
    /// (from the client's `call` to the server's `reply`), µs. Five timer
    /// ticks: a request that waits behind a training burst for more than a
    /// few ticks misses it.
    pub const LATENCY_TARGET_US: u64 = agent_abi::DIGITS_LATENCY_TARGET_US;
    /// The trainer's learning objective: its loss at or below the host's
    /// final loss times this factor...
    pub const LOSS_TARGET_FACTOR: f32 = 1.05;
    /// ...within this time from its start, µs.
    pub const LOSS_DEADLINE_US: u64 = 120_000_000;

    /// One answer of the server.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Reply {
        /// The class the model chose.
        pub class: u8,
        /// The model's logits.
        pub logits: [i32; CLASSES],
        /// Cycles the inference took inside the server.
        pub cycles: u64,
    }

    impl Reply {
        /// Returns the reply's wire form.
        pub fn to_bytes(&self) -> [u8; REPLY_BYTES] {
            let mut bytes = [0u8; REPLY_BYTES];
            bytes[0] = self.class;
            for (chunk, logit) in bytes[4..4 + CLASSES * 4]
                .as_chunks_mut::<4>()
                .0
                .iter_mut()
                .zip(self.logits)
            {
                *chunk = logit.to_le_bytes();
            }
            bytes[4 + CLASSES * 4..].copy_from_slice(&self.cycles.to_le_bytes());
            bytes
        }

        /// Returns the reply in `bytes`, if they are one.
        pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
            let bytes: &[u8; REPLY_BYTES] = bytes.try_into().ok()?;
            let mut logits = [0i32; CLASSES];
            for (logit, chunk) in logits
                .iter_mut()
                .zip(bytes[4..4 + CLASSES * 4].as_chunks::<4>().0)
            {
                *logit = i32::from_le_bytes(*chunk);
            }
            let cycles = u64::from_le_bytes(bytes[4 + CLASSES * 4..].try_into().ok()?);
            Some(Self {
                class: bytes[0],
                logits,
                cycles,
            })
        }
    }
}
