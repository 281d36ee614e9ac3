//! Printing: proto3 JSON or text, the latter as aligned tables and `key: value` blocks.

use std::io::Write;

use super::{error::CliError, json};

/// The output format of the admin subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    // Aligned tables and lines, for people.
    Text,
    // The response message in the proto3 JSON mapping, for programs.
    Json,
}

/// Where a subcommand writes, in the chosen format.
pub struct Printer<'a> {
    format: Output,
    out: &'a mut dyn Write,
}

impl<'a> Printer<'a> {
    /// Prints in `format` to `out`.
    pub fn new(format: Output, out: &'a mut dyn Write) -> Self {
        Self { format, out }
    }

    /// Whether JSON was asked for.
    pub fn is_json(&self) -> bool {
        self.format == Output::Json
    }

    /// Writes `message` as pretty-printed proto3 JSON, then a newline.
    pub fn json<M: prost::Name>(&mut self, message: &M) -> Result<(), CliError> {
        json::write(&mut *self.out, message)?;
        writeln!(self.out)?;
        Ok(())
    }

    /// Writes `text` as it is, adding a final newline if it lacks one.
    pub fn text(&mut self, text: &str) -> Result<(), CliError> {
        self.out.write_all(text.as_bytes())?;
        if !text.is_empty() && !text.ends_with('\n') {
            writeln!(self.out)?;
        }
        Ok(())
    }

    /// Writes one line.
    pub fn line(&mut self, line: impl std::fmt::Display) -> Result<(), CliError> {
        writeln!(self.out, "{line}")?;
        Ok(())
    }
}

/// A table whose columns are padded to their widest cell; the last column is never padded,
/// so free text there (descriptions) does not drag trailing spaces.
#[derive(Debug)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row; cells beyond the headers are ignored, missing ones are blank.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table.
    pub fn print(&self, printer: &mut Printer<'_>) -> Result<(), CliError> {
        let columns = self.rows.first().map_or(0, Vec::len);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in &self.rows {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  "));
                }
            }
            printer.line(line.trim_end())?;
        }
        Ok(())
    }
}

/// Prints `key: value` lines with the values aligned.
pub fn fields(printer: &mut Printer<'_>, pairs: &[(&str, String)]) -> Result<(), CliError> {
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    for (key, value) in pairs {
        printer.line(format!("{:<width$} {value}", format!("{key}:")).trim_end())?;
    }
    Ok(())
}

/// `yes` or `no`.
pub fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

/// The items joined by `, `, or `-` when there are none.
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(table: &Table) -> String {
        let mut out = Vec::new();
        table
            .print(&mut Printer::new(Output::Text, &mut out))
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_align_and_the_last_one_is_not_padded() {
        let mut table = Table::new(&["NAME", "DEFAULT", "DESCRIPTION"]);
        table.row(vec!["openid".into(), "yes".into(), "Sign in".into()]);
        table.row(vec!["x".into(), "no".into(), String::new()]);

        assert_eq!(
            printed(&table),
            "NAME    DEFAULT  DESCRIPTION\nopenid  yes      Sign in\nx       no\n"
        );
    }
}
