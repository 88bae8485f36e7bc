//! Aligned text tables for terminal output.
//!
//! Two looks: [`Style::Plain`] (upper-case headers, columns separated by two
//! spaces, easy to `grep` and `awk`) and [`Style::Boxed`] (ASCII borders, for
//! reports read by people).

use std::fmt;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// How the table is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// No borders; a header line, then one line per row.
    Plain,
    /// ASCII borders around every column, a rule under the header.
    Boxed,
}

/// A table of text cells with a header row.
///
/// ```
/// use reqrep_cli::table::{Align, Style, Table};
///
/// let mut table = Table::new(Style::Plain, &[("name", Align::Left), ("workers", Align::Right)]);
/// table.row(["echo".to_owned(), "4".to_owned()]);
/// assert_eq!(table.to_string(), "NAME  WORKERS\necho        4\n");
/// ```
#[derive(Debug, Clone)]
pub struct Table {
    style: Style,
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns: header text and alignment. Plain tables
    /// show headers in upper case.
    pub fn new(style: Style, columns: &[(&str, Align)]) -> Self {
        let headers = columns
            .iter()
            .map(|(h, _)| match style {
                Style::Plain => h.to_uppercase(),
                Style::Boxed => (*h).to_owned(),
            })
            .collect();
        Self {
            style,
            headers,
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row. Missing cells are empty; cells beyond the header's
    /// columns are dropped.
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) -> &mut Self {
        let mut cells: Vec<String> = cells.into_iter().take(self.headers.len()).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
        self
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn widths(&self) -> Vec<usize> {
        self.headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain(std::iter::once(h.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    fn write_cells(
        &self,
        f: &mut fmt::Formatter<'_>,
        cells: &[String],
        widths: &[usize],
        header: bool,
    ) -> fmt::Result {
        let boxed = self.style == Style::Boxed;
        let mut line = String::new();
        if boxed {
            line.push_str("| ");
        }
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str(if boxed { " | " } else { "  " });
            }
            // Plain headers line up like their column's values; boxed
            // headers sit on the left.
            let align = if header && boxed {
                Align::Left
            } else {
                self.align[i]
            };
            let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
            match align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        if boxed {
            line.push_str(" |");
        }
        // A plain table's lines end at their last character.
        f.write_str(line.trim_end())?;
        f.write_str("\n")
    }

    fn write_rule(f: &mut fmt::Formatter<'_>, widths: &[usize]) -> fmt::Result {
        for width in widths {
            write!(f, "+{:-<w$}", "", w = width + 2)?;
        }
        f.write_str("+\n")
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths = self.widths();
        let boxed = self.style == Style::Boxed;
        if boxed {
            Self::write_rule(f, &widths)?;
        }
        self.write_cells(f, &self.headers, &widths, true)?;
        if boxed {
            Self::write_rule(f, &widths)?;
        }
        for row in &self.rows {
            self.write_cells(f, row, &widths, false)?;
        }
        if boxed {
            Self::write_rule(f, &widths)?;
        }
        Ok(())
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn plain_tables_align_text_left_and_numbers_right() {
        let mut table = Table::new(
            Style::Plain,
            &[
                ("name", Align::Left),
                ("workers", Align::Right),
                ("queue depth", Align::Right),
            ],
        );
        table.row(cells(&["echo", "4", "0"]));
        table.row(cells(&["reqrep.services", "0", "12345"]));
        assert_eq!(
            table.to_string(),
            "NAME             WORKERS  QUEUE DEPTH\n\
             echo                   4            0\n\
             reqrep.services        0        12345\n"
        );
    }

    #[test]
    fn boxed_tables_draw_borders() {
        let mut table = Table::new(
            Style::Boxed,
            &[("metric", Align::Left), ("value", Align::Right)],
        );
        table.row(cells(&["requests", "20,000"]));
        table.row(cells(&["p50", "1.2 ms"]));
        assert_eq!(
            table.to_string(),
            "+----------+--------+\n\
             | metric   | value  |\n\
             +----------+--------+\n\
             | requests | 20,000 |\n\
             | p50      | 1.2 ms |\n\
             +----------+--------+\n"
        );
    }

    #[test]
    fn rows_are_padded_or_cut_to_the_header() {
        let mut table = Table::new(Style::Plain, &[("a", Align::Left), ("b", Align::Left)]);
        table.row(cells(&["x"]));
        table.row(cells(&["1", "2", "3"]));
        assert_eq!(table.to_string(), "A  B\nx\n1  2\n");
        assert!(!table.is_empty());
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut table = Table::new(
            Style::Plain,
            &[("latency", Align::Right), ("x", Align::Left)],
        );
        table.row(cells(&["1.5 µs", "y"]));
        table.row(cells(&["12.25 µs", "z"]));
        assert_eq!(table.to_string(), " LATENCY  X\n  1.5 µs  y\n12.25 µs  z\n");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(20_000), "20,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
