//! `--expect-pcr INDEX=HEX` arguments of the attest commands and the
//! `--pcr`/`--pcrs` arguments of `enclave config`.

use anyhow::{Context as _, bail};
use daas_core::attestation::{ExpectedPcrs, Pcr, PcrPolicy};

use super::args::ImagePcrsArgs;
use crate::ops::enclave_config::ImagePcrs;

/// A master image's PCRs for an EnclaveConfig: `--pcrs FILE`, or `--pcr`
/// given for exactly PCR0, PCR1 and PCR2.
pub fn image(args: &ImagePcrsArgs) -> anyhow::Result<ImagePcrs> {
    if let Some(path) = &args.pcrs {
        return Ok(ImagePcrs::from_file(path)?);
    }
    let given = parse_flag("--pcr", &args.pcr)?;
    if let Some((index, _)) = given.iter().find(|(i, _)| *i > 2) {
        bail!("--pcr: an EnclaveConfig pins PCR0, PCR1 and PCR2, not PCR{index}");
    }
    let required = |index| required("--pcr", &given, index);
    Ok(ImagePcrs([required(0)?, required(1)?, required(2)?]))
}

/// Parses every `--expect-pcr` value; an index may appear once.
pub fn parse(specs: &[String]) -> anyhow::Result<Vec<(u8, Pcr)>> {
    parse_flag("--expect-pcr", specs)
}

/// Parses every `FLAG INDEX=HEX` value; an index may appear once.
fn parse_flag(flag: &str, specs: &[String]) -> anyhow::Result<Vec<(u8, Pcr)>> {
    let mut expected: Vec<(u8, Pcr)> = Vec::with_capacity(specs.len());
    for spec in specs {
        let (index, value) = spec
            .split_once('=')
            .with_context(|| format!("{flag} `{spec}` must be INDEX=HEX"))?;
        let index: u8 = index
            .trim()
            .parse()
            .ok()
            .filter(|i| *i < 32)
            .with_context(|| format!("{flag} `{spec}`: `{index}` is not a PCR index (0..=31)"))?;
        let pcr = Pcr::from_hex(value.trim().trim_start_matches("0x"))
            .with_context(|| format!("{flag} `{spec}`: the value is not 96 hex digits"))?;
        if expected.iter().any(|(i, _)| *i == index) {
            bail!("{flag} gives PCR{index} twice");
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
    let required = |index| required("--expect-pcr", &expected, index);
    Ok(PcrPolicy::Expect(ExpectedPcrs {
        pcr0: required(0)?,
        pcr1: required(1)?,
        pcr2: required(2)?,
        pcr8: find(&expected, 8),
    }))
}

/// PCR `index` among `pcrs`, if there.
fn find(pcrs: &[(u8, Pcr)], index: u8) -> Option<Pcr> {
    pcrs.iter().find(|(i, _)| *i == index).map(|(_, pcr)| *pcr)
}

/// PCR `index` among `pcrs`, or the error naming `flag`.
fn required(flag: &str, pcrs: &[(u8, Pcr)], index: u8) -> anyhow::Result<Pcr> {
    find(pcrs, index)
        .with_context(|| format!("{flag} must give PCR0, PCR1 and PCR2; PCR{index} is missing"))
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

    #[test]
    fn image_pcrs_are_exactly_pcr0_pcr1_and_pcr2() {
        let args = |specs: &[&str]| ImagePcrsArgs {
            pcrs: None,
            pcr: specs.iter().map(|s| (*s).to_owned()).collect(),
        };
        let pcr = |i: u8| format!("{i}={}", hex::encode([i; 48]));
        let three = image(&args(&[&pcr(2), &pcr(0), &pcr(1)])).unwrap();
        assert_eq!(three.0[2], Pcr::new([2; 48]));
        for (specs, needle) in [
            (
                vec![pcr(0), pcr(1)],
                "--pcr must give PCR0, PCR1 and PCR2; PCR2 is missing",
            ),
            (
                vec![pcr(0), pcr(1), pcr(2), pcr(8)],
                "pins PCR0, PCR1 and PCR2, not PCR8",
            ),
            (
                vec!["1=zz".to_owned()],
                "--pcr `1=zz`: the value is not 96 hex digits",
            ),
        ] {
            let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
            let error = format!("{:#}", image(&args(&specs)).unwrap_err());
            assert!(error.contains(needle), "{error}");
        }
    }
}
