//! [`Mist`]: an amount of SUI in its smallest unit.

use std::fmt;
use std::str::FromStr;

/// An amount of SUI in MIST (1 SUI = 1_000_000_000 MIST).
///
/// On chain it is a plain `u64` (`Balance<SUI>`, `Coin<SUI>` value, event
/// amounts); BCS and serde encode it as that `u64`. Arithmetic is checked:
/// it never wraps.
///
/// Text form: [`Display`](fmt::Display) prints SUI with up to nine
/// decimals and a ` SUI` suffix (`0.5 SUI`); [`FromStr`] reads a decimal SUI
/// amount with or without that suffix (`0.5`, `10 SUI`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Mist(u64);

/// Why a text amount of SUI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MistParseError {
    /// Nothing but whitespace.
    #[error("empty SUI amount")]
    Empty,
    /// Not a plain non-negative decimal number.
    #[error("`{0}` is not a decimal SUI amount such as 0.5 or 10")]
    NotDecimal(String),
    /// More than nine decimals: finer than one MIST.
    #[error("`{0}` has more than 9 decimals (1 MIST = 0.000000001 SUI)")]
    TooPrecise(String),
    /// More than `u64::MAX` MIST.
    #[error("`{0}` SUI does not fit in a u64 of MIST")]
    Overflow(String),
}

impl Mist {
    /// MIST in one SUI.
    pub const PER_SUI: u64 = 1_000_000_000;
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// The largest amount.
    pub const MAX: Self = Self(u64::MAX);

    /// This many MIST.
    pub const fn new(mist: u64) -> Self {
        Self(mist)
    }

    /// The amount in MIST.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `sui` whole SUI, or `None` on overflow.
    pub const fn from_sui(sui: u64) -> Option<Self> {
        match sui.checked_mul(Self::PER_SUI) {
            Some(mist) => Some(Self(mist)),
            None => None,
        }
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` if `other` is larger.
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self * bps / 10_000`, rounded down, computed without overflow, as
    /// Move computes a slash. Rates above 100 % are capped at 100 %.
    pub fn basis_points(self, bps: u64) -> Self {
        let bps = u128::from(bps.min(10_000));
        let part = u128::from(self.0) * bps / 10_000;
        // part <= self.0 because bps <= 10_000.
        Self(u64::try_from(part).unwrap_or(self.0))
    }
}

impl From<u64> for Mist {
    fn from(mist: u64) -> Self {
        Self(mist)
    }
}

impl From<Mist> for u64 {
    fn from(mist: Mist) -> Self {
        mist.0
    }
}

impl fmt::Display for Mist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / Self::PER_SUI;
        let frac = self.0 % Self::PER_SUI;
        if frac == 0 {
            write!(f, "{whole} SUI")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{whole}.{} SUI", digits.trim_end_matches('0'))
        }
    }
}

impl FromStr for Mist {
    type Err = MistParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let number = trimmed.strip_suffix("SUI").unwrap_or(trimmed).trim_end();
        if number.is_empty() {
            return Err(MistParseError::Empty);
        }
        let not_decimal = || MistParseError::NotDecimal(s.to_owned());
        let (whole, frac) = match number.split_once('.') {
            Some((w, f)) => (w, f),
            None => (number, ""),
        };
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty())
            || !all_digits(whole)
            || !all_digits(frac)
            || (number.contains('.') && frac.is_empty())
        {
            return Err(not_decimal());
        }
        if frac.len() > 9 {
            return Err(MistParseError::TooPrecise(s.to_owned()));
        }
        let overflow = || MistParseError::Overflow(s.to_owned());
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let frac_mist: u64 = if frac.is_empty() {
            0
        } else {
            // At most 9 digits: fits, and scales to MIST by padding zeros.
            format!("{frac:0<9}").parse().map_err(|_| not_decimal())?
        };
        whole
            .checked_mul(Self::PER_SUI)
            .and_then(|m| m.checked_add(frac_mist))
            .map(Self)
            .ok_or_else(overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sui_decimals() {
        assert_eq!("0.5".parse::<Mist>().unwrap(), Mist::new(500_000_000));
        assert_eq!("5".parse::<Mist>().unwrap(), Mist::new(5_000_000_000));
        assert_eq!("10 SUI".parse::<Mist>().unwrap(), Mist::new(10_000_000_000));
        assert_eq!(
            " 2.25SUI ".parse::<Mist>().unwrap(),
            Mist::new(2_250_000_000)
        );
        assert_eq!(".000000001".parse::<Mist>().unwrap(), Mist::new(1));
        assert_eq!("0".parse::<Mist>().unwrap(), Mist::ZERO);
    }

    #[test]
    fn refuses_bad_amounts() {
        assert_eq!("".parse::<Mist>(), Err(MistParseError::Empty));
        assert_eq!("SUI".parse::<Mist>(), Err(MistParseError::Empty));
        for bad in ["-1", "1.", ".", "1e9", "0x10", "1,5", "one", "1.2.3", "+1"] {
            assert!(
                matches!(bad.parse::<Mist>(), Err(MistParseError::NotDecimal(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "0.0000000001".parse::<Mist>(),
            Err(MistParseError::TooPrecise(_))
        ));
        assert!(matches!(
            "18446744074".parse::<Mist>(),
            Err(MistParseError::Overflow(_))
        ));
        assert!(matches!(
            "99999999999999999999999".parse::<Mist>(),
            Err(MistParseError::Overflow(_))
        ));
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(Mist::new(500_000_000).to_string(), "0.5 SUI");
        assert_eq!(Mist::new(10_000_000_000).to_string(), "10 SUI");
        assert_eq!(Mist::new(1).to_string(), "0.000000001 SUI");
        assert_eq!(Mist::ZERO.to_string(), "0 SUI");
        for v in [0, 1, 499_999_999, 500_000_000, 1_234_567_890, u64::MAX] {
            let m = Mist::new(v);
            assert_eq!(m.to_string().parse::<Mist>().unwrap(), m);
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Mist::MAX.checked_add(Mist::new(1)), None);
        assert_eq!(Mist::ZERO.checked_sub(Mist::new(1)), None);
        assert_eq!(Mist::new(3).checked_add(Mist::new(4)), Some(Mist::new(7)));
        assert_eq!(Mist::from_sui(2), Some(Mist::new(2_000_000_000)));
        assert_eq!(Mist::from_sui(u64::MAX), None);
    }

    #[test]
    fn basis_points_round_down_without_overflow() {
        assert_eq!(
            Mist::new(5_000_000_000).basis_points(1000),
            Mist::new(500_000_000)
        );
        assert_eq!(Mist::new(9).basis_points(1000), Mist::ZERO);
        assert_eq!(Mist::MAX.basis_points(10_000), Mist::MAX);
        assert_eq!(Mist::MAX.basis_points(20_000), Mist::MAX);
        assert_eq!(Mist::new(123).basis_points(0), Mist::ZERO);
    }

    #[test]
    fn encodes_as_u64() {
        let bytes = bcs::to_bytes(&Mist::new(500_000_000)).unwrap();
        assert_eq!(hex::encode(&bytes), "0065cd1d00000000");
        assert_eq!(
            bcs::from_bytes::<Mist>(&bytes).unwrap(),
            Mist::new(500_000_000)
        );
    }
}
