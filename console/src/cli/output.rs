//! Writing results: lines and JSON to stdout, returning the `io::Result`
//! instead of panicking like `println!` when the reader has gone
//! (`daas-console … | head`), and notes to stderr. Everything written goes
//! through [`escape::controls`](daas_core::escape::controls): much of it comes
//! from the chain, where anyone can write.

use serde::Serialize;

/// Writes a line to stdout.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(
            std::io::stdout().lock(),
            "{}",
            daas_core::escape::controls(&format!($($arg)*))
        )
    }};
}
pub(crate) use out;

/// Writes a line to stderr (warnings, notes, progress), as `eprintln!`
/// does but without panicking when stderr has gone.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            daas_core::escape::controls(&format!($($arg)*))
        );
    }};
}
pub(crate) use note;

/// Writes `value` as pretty JSON.
///
/// # Errors
/// stdout is gone or the value does not serialize.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    out!("{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// Writes `rows` under `header` as [`table_lines`] lays them out.
///
/// # Errors
/// stdout is gone.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    for line in table_lines(header, rows) {
        out!("{line}")?;
    }
    Ok(())
}

/// `rows` under `header` in columns as wide as their widest cell, three
/// spaces apart (as kubectl prints); the last column is not padded. A cell
/// stays on its row ([`escape::single_line`](daas_core::escape::single_line)).
fn table_lines(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| daas_core::escape::single_line(cell).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}   "));
            }
        }
        text
    };
    std::iter::once(line(&mut header.iter().copied()))
        .chain(
            rows.iter()
                .map(|row| line(&mut row.iter().map(String::as_str))),
        )
        .collect()
}

/// The banner shown with anything from INSECURE development attestation.
pub const INSECURE_BANNER: &str = "!!! INSECURE DEVELOPMENT ATTESTATION: signed by a local dev root, \
     NO hardware guarantee; never trust this master with real stake !!!";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_fit_their_widest_cell() {
        let rows = vec![
            vec![
                "worker-a-long-name".to_owned(),
                "Ready".to_owned(),
                "0x1".to_owned(),
            ],
            vec!["b".to_owned(), "NotReady".to_owned(), "-".to_owned()],
        ];
        assert_eq!(
            table_lines(&["NAME", "STATUS", "OWNER"], &rows),
            [
                "NAME                 STATUS     OWNER",
                "worker-a-long-name   Ready      0x1",
                "b                    NotReady   -",
            ]
        );
        assert_eq!(table_lines(&["NAME"], &[]), ["NAME"]);
    }

    #[test]
    fn a_cell_from_outside_stays_on_its_row_with_its_controls_written_out() {
        let rows = vec![vec!["#0".to_owned(), "bad\x1b[2J\nfake row".to_owned()]];
        assert_eq!(
            table_lines(&["ID", "REASON"], &rows),
            ["ID   REASON", "#0   bad\\u001b[2J\\u000afake row"]
        );
    }
}
