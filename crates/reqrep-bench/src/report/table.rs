//! A Markdown table with aligned columns.

use std::fmt;

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A Markdown (GitHub) table whose source is aligned too.
pub(super) struct MarkdownTable {
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl MarkdownTable {
    /// A table with these columns.
    pub(super) fn new(headers: &[(&str, Align)]) -> Self {
        Self {
            headers: headers.iter().map(|(h, a)| ((*h).to_owned(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra ones dropped.
    pub(super) fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        let mut cells: Vec<String> = cells
            .into_iter()
            .map(|c| c.replace('|', "\\|"))
            .take(self.headers.len())
            .collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }
}

impl fmt::Display for MarkdownTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<usize> = self
            .headers
            .iter()
            .enumerate()
            .map(|(i, (h, _))| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([h.chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            write!(f, "|")?;
            for ((cell, (_, align)), width) in cells.iter().zip(&self.headers).zip(&widths) {
                match align {
                    Align::Left => write!(f, " {cell:<width$} |")?,
                    Align::Right => write!(f, " {cell:>width$} |")?,
                }
            }
            writeln!(f)
        };
        let headers: Vec<String> = self.headers.iter().map(|(h, _)| h.clone()).collect();
        line(f, &headers)?;
        write!(f, "|")?;
        for ((_, align), width) in self.headers.iter().zip(&widths) {
            match align {
                Align::Left => write!(f, " {} |", "-".repeat(*width))?,
                Align::Right => write!(f, " {}: |", "-".repeat(width - 1))?,
            }
        }
        writeln!(f)?;
        for row in &self.rows {
            line(f, row)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_and_numbers_right_aligned() {
        let mut t = MarkdownTable::new(&[("row", Align::Left), ("req/s", Align::Right)]);
        t.row(["direct".to_owned(), "12,345".to_owned()]);
        t.row(["a|b".to_owned()]);
        let text = t.to_string();
        assert_eq!(
            text,
            "| row    |  req/s |\n\
             | ------ | -----: |\n\
             | direct | 12,345 |\n\
             | a\\|b   |        |\n"
        );
    }
}
