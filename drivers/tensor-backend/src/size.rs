//! Parsing region sizes from the command line: `16M`, `1G`, `65536`.

/// Why a size was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// Not a number with an optional `K`, `M` or `G` suffix.
    Malformed(String),
    /// Larger than `u64` bytes.
    TooLarge(String),
    /// Not a power of two (QEMU maps the region as a PCI BAR, whose size must be one).
    NotPowerOfTwo(u64),
}

impl std::fmt::Display for SizeError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(text) => {
                write!(formatter, "`{text}` is not a size like 16M, 1G or 65536")
            }
            Self::TooLarge(text) => write!(formatter, "`{text}` is too large"),
            Self::NotPowerOfTwo(bytes) => write!(
                formatter,
                "{bytes} bytes is not a power of two (a PCI BAR's size must be one)"
            ),
        }
    }
}

impl std::error::Error for SizeError {}

/// Returns the bytes `text` names: a decimal number with an optional binary suffix
/// `K`, `M` or `G` (case-insensitive, an optional `iB`/`B` after it), which must be a
/// power of two.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let malformed = || SizeError::Malformed(text.to_string());
    let trimmed = text.trim();
    let upper = trimmed.to_ascii_uppercase();
    let without_unit = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match without_unit.chars().last() {
        Some('K') => (&without_unit[..without_unit.len() - 1], 10),
        Some('M') => (&without_unit[..without_unit.len() - 1], 20),
        Some('G') => (&without_unit[..without_unit.len() - 1], 30),
        _ => (without_unit, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(malformed());
    }
    let number: u64 = digits
        .parse()
        .map_err(|_| SizeError::TooLarge(text.to_string()))?;
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| SizeError::TooLarge(text.to_string()))?;
    if !bytes.is_power_of_two() {
        return Err(SizeError::NotPowerOfTwo(bytes));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("64KB"), Ok(64 << 10));
        assert_eq!(parse_size("65536"), Ok(65536));
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert_eq!(parse_size("12M"), Err(SizeError::NotPowerOfTwo(12 << 20)));
        assert_eq!(parse_size("0"), Err(SizeError::NotPowerOfTwo(0)));
        for text in ["", "M", "-1M", "1.5M", "16T", "16 M", "0x10"] {
            assert!(
                matches!(parse_size(text), Err(SizeError::Malformed(_))),
                "{text}"
            );
        }
        assert!(matches!(
            parse_size("99999999999999999999"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(
            parse_size("17179869184G"),
            Err(SizeError::TooLarge(_))
        ));
    }
}
