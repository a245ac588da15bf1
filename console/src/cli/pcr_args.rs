//! `--expect-pcr INDEX=HEX` arguments, shared by the attest commands.

use anyhow::{Context as _, bail};
use daas_core::attestation::{ExpectedPcrs, Pcr, PcrPolicy};

/// Parses every `--expect-pcr` value; an index may appear once.
pub fn parse(specs: &[String]) -> anyhow::Result<Vec<(u8, Pcr)>> {
    let mut expected: Vec<(u8, Pcr)> = Vec::with_capacity(specs.len());
    for spec in specs {
        let (index, value) = spec
            .split_once('=')
            .with_context(|| format!("--expect-pcr `{spec}` must be INDEX=HEX"))?;
        let index: u8 = index
            .trim()
            .parse()
            .ok()
            .filter(|i| *i < 32)
            .with_context(|| {
                format!("--expect-pcr `{spec}`: `{index}` is not a PCR index (0..=31)")
            })?;
        let pcr = Pcr::from_hex(value.trim().trim_start_matches("0x"))
            .with_context(|| format!("--expect-pcr `{spec}`: the value is not 96 hex digits"))?;
        if expected.iter().any(|(i, _)| *i == index) {
            bail!("--expect-pcr gives PCR{index} twice");
        }
        expected.push((index, pcr));
    }
    Ok(expected)
}

/// The policy a live client enforces: PCR0, PCR1 and PCR2 (optionally PCR8),
/// or, with no `--expect-pcr` at all, any measurement (shown, not compared).
pub fn policy(specs: &[String]) -> anyhow::Result<PcrPolicy> {
    let expected = parse(specs)?;
    if expected.is_empty() {
        return Ok(PcrPolicy::AnyMeasurement);
    }
    if let Some((index, _)) = expected.iter().find(|(i, _)| !matches!(i, 0 | 1 | 2 | 8)) {
        bail!("--expect-pcr: a master is pinned by PCR0, PCR1, PCR2 and PCR8, not PCR{index}");
    }
    let get = |index: u8| {
        expected
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, pcr)| *pcr)
    };
    let required = |index: u8| {
        get(index).with_context(|| {
            format!("--expect-pcr must give PCR0, PCR1 and PCR2; PCR{index} is missing")
        })
    };
    Ok(PcrPolicy::Expect(ExpectedPcrs {
        pcr0: required(0)?,
        pcr1: required(1)?,
        pcr2: required(2)?,
        pcr8: get(8),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcr_specs() {
        assert!(matches!(policy(&[]).unwrap(), PcrPolicy::AnyMeasurement));
        let full: Vec<String> = [0, 1, 2, 8]
            .iter()
            .map(|i| format!("{i}={}", "ab".repeat(48)))
            .collect();
        match policy(&full).unwrap() {
            PcrPolicy::Expect(expected) => assert!(expected.pcr8.is_some()),
            other => panic!("{other:?}"),
        }
        for (specs, needle) in [
            (vec![format!("0={}", "ab".repeat(48))], "PCR1 is missing"),
            (vec!["0=abcd".to_owned()], "96 hex digits"),
            (vec![format!("3={}", "ab".repeat(48))], "pinned by PCR0"),
            (vec!["zero".to_owned()], "INDEX=HEX"),
            (
                vec![
                    format!("0={}", "ab".repeat(48)),
                    format!("0={}", "cd".repeat(48)),
                ],
                "twice",
            ),
        ] {
            let error = format!("{:#}", policy(&specs).unwrap_err());
            assert!(error.contains(needle), "{error}");
        }
    }
}
