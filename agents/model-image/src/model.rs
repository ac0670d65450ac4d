//! The AIMG model image: parser and (with `alloc`) writer.

use crate::error::{ImageError, ImageFormat, ScaleField};
use crate::{f32_at, i32_at, image_digest, in_bounds, split_header, u16_at, u32_at};

/// The magic an AIMG image starts with.
pub const MAGIC: [u8; 4] = *b"AIMG";
/// The AIMG version this crate reads and writes.
pub const VERSION: u16 = 1;
/// The length of the AIMG header, before the layer descriptors.
pub const HEADER_LEN: usize = 48;
/// The offset of the 32-byte digest in the AIMG header.
pub const DIGEST_OFFSET: usize = 16;
/// The length of one layer descriptor.
pub const DESCRIPTOR_LEN: usize = 48;
/// The most layers an image may have.
pub const MAX_LAYERS: u16 = 16;
/// The largest `in_dim` or `out_dim` of a layer.
pub const MAX_DIM: u32 = 4096;
/// The most weights (`in_dim * out_dim`) a layer may have.
pub const MAX_WEIGHTS: u32 = 1 << 22;
/// The largest `requant_shift` magnitude.
pub const MAX_SHIFT: i32 = 31;
/// Layer flag bit: apply ReLU to the layer's output.
pub const FLAG_RELU: u16 = 1;

const KIND_DENSE: u16 = 1;
const KIND_CONV2D: u16 = 2;

/// The kind of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerKind {
    /// A fully connected layer: `out[o] = bias[o] + sum_i w[o][i] * in[i]`.
    Dense,
    /// A 2-D convolution: the format reserves kind 2 for it, but neither the
    /// parser nor the descriptor supports it yet, so [`parse`] refuses it
    /// ([`ImageError::UnsupportedLayerKind`]). The writer writes it, for tests.
    Conv2d,
}

impl LayerKind {
    /// The kind's code in a descriptor.
    pub fn code(self) -> u16 {
        match self {
            LayerKind::Dense => KIND_DENSE,
            LayerKind::Conv2d => KIND_CONV2D,
        }
    }
}

/// One layer of a parsed [`ModelImage`], borrowing its weights and biases from
/// the image's bytes. Every field has been checked by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layer<'a> {
    /// The layer's kind (always [`LayerKind::Dense`] in version 1).
    pub kind: LayerKind,
    /// Whether ReLU follows the layer (flag bit 0).
    pub relu: bool,
    /// The input dimension, `1..=MAX_DIM`.
    pub in_dim: u32,
    /// The output dimension, `1..=MAX_DIM`.
    pub out_dim: u32,
    /// The real value of one weight step (finite, > 0).
    pub w_scale: f32,
    /// The real value of one input step (finite, > 0).
    pub in_scale: f32,
    /// The real value of one output step (finite, > 0).
    pub out_scale: f32,
    /// The fixed-point multiplier taking the `i32` accumulator to the output
    /// scale.
    pub requant_multiplier: i32,
    /// The shift that goes with `requant_multiplier`, `-31..=31`.
    pub requant_shift: i32,
    weights: &'a [u8],
    bias: &'a [u8],
}

impl<'a> Layer<'a> {
    /// The `in_dim * out_dim` weights, row-major by output: weight `(o, i)` is
    /// the `o * in_dim + i`-th.
    pub fn weights(&self) -> impl ExactSizeIterator<Item = i8> + Clone + 'a {
        self.weights.iter().map(|&b| b as i8)
    }

    /// The weights as stored: one two's-complement byte per `i8` weight
    /// (`b as i8` is the weight), row-major by output. The crate has no
    /// `unsafe` (the project confines it to the kernel's foundation), so it
    /// cannot hand out the bytes as an `&[i8]`.
    pub fn weight_bytes(&self) -> &'a [u8] {
        self.weights
    }

    /// The `in_dim` weights of output `o`, or `None` if `o >= out_dim`.
    pub fn row(&self, o: usize) -> Option<impl ExactSizeIterator<Item = i8> + Clone + 'a> {
        self.row_bytes(o).map(|r| r.iter().map(|&b| b as i8))
    }

    /// The stored bytes of the `in_dim` weights of output `o` (see
    /// [`weight_bytes`](Self::weight_bytes)), or `None` if `o >= out_dim`.
    pub fn row_bytes(&self, o: usize) -> Option<&'a [u8]> {
        let in_dim = self.in_dim as usize;
        let start = o.checked_mul(in_dim)?;
        self.weights.get(start..start.checked_add(in_dim)?)
    }

    /// Weight `(o, i)`, or `None` if `o >= out_dim` or `i >= in_dim`.
    pub fn weight(&self, o: usize, i: usize) -> Option<i8> {
        self.row_bytes(o)?.get(i).map(|&b| b as i8)
    }

    /// The bias of output `o`.
    ///
    /// # Panics
    ///
    /// If `o >= out_dim`, like indexing a slice.
    pub fn bias(&self, o: usize) -> i32 {
        match self
            .bias
            .get(o.saturating_mul(4)..)
            .and_then(|s| s.first_chunk::<4>())
        {
            Some(b) => i32::from_le_bytes(*b),
            None => panic!("bias index {o} out of range for {} outputs", self.out_dim),
        }
    }

    /// The `out_dim` biases in output order.
    pub fn bias_iter(&self) -> impl ExactSizeIterator<Item = i32> + 'a {
        self.bias
            .as_chunks::<4>()
            .0
            .iter()
            .map(|&b| i32::from_le_bytes(b))
    }
}

/// A parsed, checked AIMG model image borrowing the bytes it came from.
#[derive(Debug, Clone, Copy)]
pub struct ModelImage<'a> {
    input_scale: f32,
    digest: [u8; 32],
    descriptors: &'a [[u8; DESCRIPTOR_LEN]],
    payload: &'a [u8],
}

impl<'a> ModelImage<'a> {
    /// The number of layers, `1..=MAX_LAYERS`.
    pub fn layer_count(&self) -> usize {
        self.descriptors.len()
    }

    /// Layer `i`, or `None` if `i >= layer_count()`.
    pub fn layer(&self, i: usize) -> Option<Layer<'a>> {
        let desc = self.descriptors.get(i)?;
        let index = u16::try_from(i).ok()?;
        decode_layer(index, desc, self.payload).ok()
    }

    /// The layers in order, input to output.
    pub fn layers(&self) -> impl Iterator<Item = Layer<'a>> + 'a {
        let payload = self.payload;
        // `parse` decoded every descriptor successfully, so none is skipped.
        self.descriptors
            .iter()
            .zip(0u16..)
            .filter_map(move |(desc, i)| decode_layer(i, desc, payload).ok())
    }

    /// The real value of one input step (finite, > 0).
    pub fn input_scale(&self) -> f32 {
        self.input_scale
    }

    /// The model's input dimension: layer 0's `in_dim`.
    pub fn input_dim(&self) -> u32 {
        self.descriptors.first().map_or(0, |d| u32_at(d, 4))
    }

    /// The model's output dimension: the last layer's `out_dim`.
    pub fn output_dim(&self) -> u32 {
        self.descriptors.last().map_or(0, |d| u32_at(d, 8))
    }

    /// The image's SHA-256 digest (checked): of the whole image but the digest
    /// field, so it identifies the model, scales and all.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The payload: every layer's weights and biases.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

fn check_scale(layer: Option<u16>, field: ScaleField, value: f32) -> Result<(), ImageError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ImageError::BadScale {
            layer,
            field,
            bits: value.to_bits(),
        })
    }
}

/// Decodes and checks one descriptor against the payload (everything but the
/// chaining of dimensions, which needs the neighbours).
fn decode_layer<'a>(
    layer: u16,
    d: &[u8; DESCRIPTOR_LEN],
    payload: &'a [u8],
) -> Result<Layer<'a>, ImageError> {
    let kind = match u16_at(d, 0) {
        KIND_DENSE => LayerKind::Dense,
        KIND_CONV2D => {
            return Err(ImageError::UnsupportedLayerKind {
                layer,
                kind: KIND_CONV2D,
            });
        }
        kind => return Err(ImageError::UnknownLayerKind { layer, kind }),
    };
    let flags = u16_at(d, 2);
    if flags & !FLAG_RELU != 0 {
        return Err(ImageError::UnknownFlags { layer, flags });
    }
    let in_dim = u32_at(d, 4);
    let out_dim = u32_at(d, 8);
    if in_dim == 0 || out_dim == 0 {
        return Err(ImageError::ZeroDim {
            layer,
            in_dim,
            out_dim,
        });
    }
    let weight_count = u64::from(in_dim) * u64::from(out_dim);
    if in_dim > MAX_DIM || out_dim > MAX_DIM || weight_count > u64::from(MAX_WEIGHTS) {
        return Err(ImageError::DimTooLarge {
            layer,
            in_dim,
            out_dim,
        });
    }
    let w_scale = f32_at(d, 12);
    let in_scale = f32_at(d, 16);
    let out_scale = f32_at(d, 20);
    check_scale(Some(layer), ScaleField::Weights, w_scale)?;
    check_scale(Some(layer), ScaleField::LayerInput, in_scale)?;
    check_scale(Some(layer), ScaleField::LayerOutput, out_scale)?;
    let requant_multiplier = i32_at(d, 24);
    let requant_shift = i32_at(d, 28);
    if !(-MAX_SHIFT..=MAX_SHIFT).contains(&requant_shift) {
        return Err(ImageError::BadShift {
            layer,
            shift: requant_shift,
        });
    }
    let w_off = u32_at(d, 32);
    let w_len = u32_at(d, 36);
    let b_off = u32_at(d, 40);
    let b_len = u32_at(d, 44);
    if u64::from(w_len) != weight_count {
        return Err(ImageError::WeightCountMismatch {
            layer,
            count: w_len,
            in_dim,
            out_dim,
        });
    }
    if b_len != out_dim {
        return Err(ImageError::BiasCountMismatch {
            layer,
            count: b_len,
            out_dim,
        });
    }
    // The payload's length came from a u32 field.
    let payload_len = payload.len() as u32;
    if !in_bounds(w_off, u64::from(w_len), payload.len()) {
        return Err(ImageError::WeightsOutOfBounds {
            layer,
            offset: w_off,
            len: w_len,
            payload_len,
        });
    }
    if !b_off.is_multiple_of(4) {
        return Err(ImageError::BiasMisaligned {
            layer,
            offset: b_off,
        });
    }
    let bias_bytes = u64::from(b_len) * 4;
    if !in_bounds(b_off, bias_bytes, payload.len()) {
        return Err(ImageError::BiasOutOfBounds {
            layer,
            offset: b_off,
            count: b_len,
            payload_len,
        });
    }
    // In bounds (checked just above), so these slices exist; the fallbacks
    // are unreachable but keep the code panic-free.
    let w_start = w_off as usize;
    let weights = payload
        .get(w_start..w_start + w_len as usize)
        .unwrap_or_default();
    let b_start = b_off as usize;
    let bias = payload
        .get(b_start..b_start + bias_bytes as usize)
        .unwrap_or_default();
    Ok(Layer {
        kind,
        relu: flags & FLAG_RELU != 0,
        in_dim,
        out_dim,
        w_scale,
        in_scale,
        out_scale,
        requant_multiplier,
        requant_shift,
        weights,
        bias,
    })
}

/// Parses and checks an AIMG model image without copying it.
///
/// The checks, in order: the magic, the header's length, the version, the
/// layer count (`1..=MAX_LAYERS`), the descriptors' length, the payload's
/// length (exactly the rest of the image: neither short nor followed by
/// trailing bytes), the input scale, each layer (kind, flags, dimensions and
/// their bounds, scales, shift, weight and bias counts, ranges inside the
/// payload, bias alignment), the chaining of dimensions, and last the digest.
/// See the crate docs for the format.
pub fn parse(bytes: &[u8]) -> Result<ModelImage<'_>, ImageError> {
    const F: ImageFormat = ImageFormat::Model;
    let (header, rest) = split_header::<HEADER_LEN>(bytes, F, &MAGIC, VERSION)?;
    let count = u16_at(header, 6);
    if count == 0 {
        return Err(ImageError::NoLayers);
    }
    if count > MAX_LAYERS {
        return Err(ImageError::TooManyLayers { count });
    }
    let desc_len = usize::from(count) * DESCRIPTOR_LEN;
    let Some((desc_bytes, payload)) = rest.split_at_checked(desc_len) else {
        return Err(ImageError::TruncatedDescriptors {
            len: bytes.len(),
            need: HEADER_LEN + desc_len,
        });
    };
    let (descriptors, _) = desc_bytes.as_chunks::<DESCRIPTOR_LEN>();
    let payload_len = u32_at(header, 12);
    let declared = payload_len as usize;
    if payload.len() < declared {
        return Err(ImageError::TruncatedPayload {
            format: F,
            expected: payload_len,
            available: payload.len(),
        });
    }
    if payload.len() > declared {
        return Err(ImageError::TrailingBytes {
            format: F,
            extra: payload.len() - declared,
        });
    }
    let input_scale = f32_at(header, 8);
    check_scale(None, ScaleField::Input, input_scale)?;
    let mut prev_out: Option<u32> = None;
    for (i, desc) in descriptors.iter().enumerate() {
        // At most MAX_LAYERS descriptors.
        let index = i as u16;
        let layer = decode_layer(index, desc, payload)?;
        if let Some(prev_out_dim) = prev_out
            && layer.in_dim != prev_out_dim
        {
            return Err(ImageError::DimChainMismatch {
                layer: index,
                in_dim: layer.in_dim,
                prev_out_dim,
            });
        }
        prev_out = Some(layer.out_dim);
    }
    let digest = crate::bytes_at::<32>(header, DIGEST_OFFSET);
    if image_digest(bytes, DIGEST_OFFSET) != Some(digest) {
        return Err(ImageError::ChecksumMismatch { format: F });
    }
    Ok(ModelImage {
        input_scale,
        digest,
        descriptors,
        payload,
    })
}

#[cfg(feature = "alloc")]
pub use writer::{LayerSpec, write};

#[cfg(feature = "alloc")]
mod writer {
    use super::{DESCRIPTOR_LEN, DIGEST_OFFSET, FLAG_RELU, HEADER_LEN, LayerKind, MAGIC, VERSION};
    use crate::image_digest;
    use alloc::vec::Vec;

    /// One layer to write with [`write`](write()). The writer writes what it is given:
    /// it checks nothing, so a spec [`parse`](super::parse) would refuse (wrong
    /// counts, a bad scale, a reserved kind) makes an image it refuses — which
    /// is how the tests build bad images.
    #[derive(Debug, Clone, PartialEq)]
    pub struct LayerSpec {
        /// The layer's kind.
        pub kind: LayerKind,
        /// Whether ReLU follows the layer.
        pub relu: bool,
        /// The input dimension.
        pub in_dim: u32,
        /// The output dimension.
        pub out_dim: u32,
        /// The real value of one weight step.
        pub w_scale: f32,
        /// The real value of one input step.
        pub in_scale: f32,
        /// The real value of one output step.
        pub out_scale: f32,
        /// The requantisation multiplier.
        pub requant_multiplier: i32,
        /// The requantisation shift.
        pub requant_shift: i32,
        /// The weights, row-major by output (`in_dim * out_dim` of them).
        pub weights: Vec<i8>,
        /// The biases (`out_dim` of them).
        pub bias: Vec<i32>,
    }

    fn u32_of(n: usize, what: &str) -> u32 {
        u32::try_from(n).unwrap_or_else(|_| panic!("model image: {what} ({n}) over u32::MAX"))
    }

    /// Writes an AIMG image: the header, one descriptor per layer, then the
    /// payload, in which each layer's weights are followed by its biases at
    /// the next multiple of 4 (zero padding between). `weights_len` and
    /// `bias_len` are the lengths of the spec's vectors.
    ///
    /// # Panics
    ///
    /// If there are more than `u16::MAX` layers or the payload would be over
    /// `u32::MAX` bytes: neither can be written in the format at all.
    pub fn write(input_scale: f32, layers: &[LayerSpec]) -> Vec<u8> {
        let count = u16::try_from(layers.len())
            .unwrap_or_else(|_| panic!("model image: {} layers over u16::MAX", layers.len()));
        let mut payload = Vec::new();
        let mut descriptors = Vec::with_capacity(layers.len() * DESCRIPTOR_LEN);
        for l in layers {
            let w_off = u32_of(payload.len(), "payload length");
            payload.extend(l.weights.iter().map(|&w| w as u8));
            while !payload.len().is_multiple_of(4) {
                payload.push(0);
            }
            let b_off = u32_of(payload.len(), "payload length");
            for b in &l.bias {
                payload.extend_from_slice(&b.to_le_bytes());
            }
            let flags = if l.relu { FLAG_RELU } else { 0 };
            descriptors.extend_from_slice(&l.kind.code().to_le_bytes());
            descriptors.extend_from_slice(&flags.to_le_bytes());
            descriptors.extend_from_slice(&l.in_dim.to_le_bytes());
            descriptors.extend_from_slice(&l.out_dim.to_le_bytes());
            descriptors.extend_from_slice(&l.w_scale.to_le_bytes());
            descriptors.extend_from_slice(&l.in_scale.to_le_bytes());
            descriptors.extend_from_slice(&l.out_scale.to_le_bytes());
            descriptors.extend_from_slice(&l.requant_multiplier.to_le_bytes());
            descriptors.extend_from_slice(&l.requant_shift.to_le_bytes());
            descriptors.extend_from_slice(&w_off.to_le_bytes());
            descriptors.extend_from_slice(&u32_of(l.weights.len(), "weight count").to_le_bytes());
            descriptors.extend_from_slice(&b_off.to_le_bytes());
            descriptors.extend_from_slice(&u32_of(l.bias.len(), "bias count").to_le_bytes());
        }
        let payload_len = u32_of(payload.len(), "payload length");
        let mut out = Vec::with_capacity(HEADER_LEN + descriptors.len() + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&input_scale.to_le_bytes());
        out.extend_from_slice(&payload_len.to_le_bytes());
        out.extend_from_slice(&[0; 32]);
        out.extend_from_slice(&descriptors);
        out.extend_from_slice(&payload);
        let digest = image_digest(&out, DIGEST_OFFSET).expect("the header is written");
        out[DIGEST_OFFSET..DIGEST_OFFSET + 32].copy_from_slice(&digest);
        out
    }
}
