//! xCAT's table CSV format (tabdump / tabrestore), byte-compatible so tables move between the two:
//! a header `#col,col,...` in schema order, then one line per row with every set value in double
//! quotes (embedded quotes doubled) and unset values empty. Quoted values may span lines.

use super::Row;

pub fn header(columns: &[&str]) -> String {
    format!("#{}", columns.join(","))
}

pub fn encode_row(row: &[Option<&str>]) -> String {
    let fields: Vec<String> = row
        .iter()
        .map(|v| match v {
            Some(v) => format!("\"{}\"", v.replace('"', "\"\"")),
            None => String::new(),
        })
        .collect();
    fields.join(",")
}

/// A parsed CSV file: the header's column names and the records, each with one value per header
/// column (None where empty). Errors carry the line number.
pub struct Parsed {
    pub columns: Vec<String>,
    pub rows: Vec<(usize, Row)>,
}

pub fn parse(text: &str) -> Result<Parsed, String> {
    let mut records = Records { chars: text.chars().peekable(), line: 1 };
    let (_, header) = loop {
        match records.next_record()? {
            None => return Err("Data missing header line starting with #".to_string()),
            Some((_, r)) if r.iter().all(|v| v.is_none()) => continue,
            Some(r) => break r,
        }
    };
    let mut columns: Vec<String> = header.into_iter().map(|v| v.unwrap_or_default()).collect();
    match columns.first_mut() {
        Some(first) if first.starts_with('#') => {
            *first = first.trim_start_matches('#').trim_matches('"').to_string();
        }
        _ => return Err("Data missing header line starting with #".to_string()),
    }
    let mut rows = Vec::new();
    while let Some((line, mut r)) = records.next_record()? {
        if r.iter().all(|v| v.is_none()) {
            continue;
        }
        if r.len() > columns.len() {
            return Err(format!("line {line}: {} values for {} columns in the header", r.len(), columns.len()));
        }
        r.resize(columns.len(), None);
        rows.push((line, r));
    }
    Ok(Parsed { columns, rows })
}

struct Records<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Records<'_> {
    /// The next record and the line it starts on; None at end of input.
    fn next_record(&mut self) -> Result<Option<(usize, Row)>, String> {
        if self.chars.peek().is_none() {
            return Ok(None);
        }
        let start = self.line;
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        loop {
            match self.chars.next() {
                None => {
                    row.push(finish(&mut field, &mut quoted));
                    return Ok(Some((start, row)));
                }
                Some('\n') => {
                    self.line += 1;
                    row.push(finish(&mut field, &mut quoted));
                    return Ok(Some((start, row)));
                }
                Some('\r') if self.chars.peek() == Some(&'\n') => {}
                Some(',') => row.push(finish(&mut field, &mut quoted)),
                Some('"') if field.is_empty() && !quoted => {
                    quoted = true;
                    loop {
                        match self.chars.next() {
                            None => return Err(format!("line {start}: a quoted value is not closed")),
                            Some('"') if self.chars.peek() == Some(&'"') => {
                                self.chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    self.line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                }
                Some(c) => field.push(c),
            }
        }
    }
}

fn finish(field: &mut String, quoted: &mut bool) -> Option<String> {
    let v = std::mem::take(field);
    let was_quoted = std::mem::replace(quoted, false);
    // xCAT writes unset values as nothing and set ones in quotes; an empty value is unset either way.
    let _ = was_quoted;
    Some(v).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_xcat() {
        assert_eq!(header(&["node", "bmc", "comments"]), "#node,bmc,comments");
        assert_eq!(encode_row(&[Some("compute"), Some("/\\z/-bmc/"), None, None]), "\"compute\",\"/\\z/-bmc/\",,");
        assert_eq!(encode_row(&[Some("a \"b\"")]), "\"a \"\"b\"\"\"");
    }

    #[test]
    fn parses_quotes_multiline_and_unquoted() {
        let p =
            parse("#key,value,comments,disable\n\"domain\",\"x.org\",,\n\"motd\",\"a\nb, \"\"c\"\"\",,\nplain,v,,\n")
                .unwrap();
        assert_eq!(p.columns, vec!["key", "value", "comments", "disable"]);
        assert_eq!(p.rows.len(), 3);
        assert_eq!(p.rows[1].1[1].as_deref(), Some("a\nb, \"c\""));
        assert_eq!(p.rows[2].0, 5);
        assert_eq!(p.rows[2].1, vec![Some("plain".into()), Some("v".into()), None, None]);
    }

    #[test]
    fn round_trips() {
        let row = [Some("n1"), Some("x,\"y\"\nz"), None];
        let text = format!("{}\n{}\n", header(&["a", "b", "c"]), encode_row(&row));
        let p = parse(&text).unwrap();
        let back: Vec<Option<&str>> = p.rows[0].1.iter().map(|v| v.as_deref()).collect();
        assert_eq!(back, row);
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(parse("\"n1\",\"x\"\n").err().unwrap(), "Data missing header line starting with #");
        assert_eq!(parse("").err().unwrap(), "Data missing header line starting with #");
        assert!(parse("#a,b\n\"x,y\n").err().unwrap().contains("not closed"));
        assert!(parse("#a\n\"x\",\"y\"\n").err().unwrap().contains("line 2"));
    }
}
