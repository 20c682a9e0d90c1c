//! Man pages, shell completions and the command links, all generated from the command registry, so
//! help, pages and completions cannot drift apart. EXAMPLES come from `man/examples.txt`, whose
//! commands and output the integration tests run and compare, so every example is real output.

use crate::cmd::{self, Applet};
use crate::error::{Error, Result};
use std::fs;
use std::path::Path;

/// `== CMD: title` blocks of `$ command` lines and their exact output.
pub const EXAMPLES: &str = include_str!("../man/examples.txt");

/// One example: a title and its session text (commands with `$ ` and their output).
pub struct Example<'a> {
    pub command: &'a str,
    pub title: &'a str,
    pub session: Vec<&'a str>,
}

pub fn examples() -> Vec<Example<'static>> {
    let mut out: Vec<Example> = Vec::new();
    for line in EXAMPLES.lines() {
        if let Some(head) = line.strip_prefix("== ") {
            let (command, title) = head.split_once(": ").unwrap_or((head, ""));
            out.push(Example { command, title, session: Vec::new() });
        } else if let Some(e) = out.last_mut() {
            e.session.push(line);
        }
    }
    for e in &mut out {
        while e.session.last().is_some_and(|l| l.is_empty()) {
            e.session.pop();
        }
    }
    out
}

fn roff_escape(line: &str) -> String {
    let mut s = line.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        s.insert_str(0, "\\&");
    }
    // Keep a trailing space visible to roff (and quiet for mandoc -Tlint).
    if s.ends_with(' ') {
        s.push_str("\\&");
    }
    s
}

/// The SYNOPSIS section: clap_mangen's drops the value an option takes (`[-t ]`); this one names
/// it, as xCAT's pages do (`[\-t TYPE]`), and shows the optional values and repeated arguments.
fn synopsis(applet: &Applet) -> String {
    let mut command = cmd::build(applet);
    command.build();
    let value = |a: &clap::Arg| -> String {
        let names: Vec<String> = match a.get_value_names() {
            Some(v) => v.iter().map(|n| n.to_string()).collect(),
            None => vec![a.get_id().as_str().to_uppercase()],
        };
        roff_escape(&names.join(" "))
    };
    let mut line = format!("\\fB{}\\fR", applet.name);
    let (opts, positionals): (Vec<&clap::Arg>, Vec<&clap::Arg>) =
        command.get_arguments().filter(|a| !a.is_hide_set()).partition(|a| !a.is_positional());
    for a in opts {
        let flag = match (a.get_short(), a.get_long()) {
            (Some(s), Some(l)) => format!("\\fB\\-{s}\\fR|\\fB\\-\\-{}\\fR", roff_escape(l)),
            (Some(s), None) => format!("\\fB\\-{s}\\fR"),
            (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", roff_escape(l)),
            (None, None) => continue,
        };
        let range = a.get_num_args().unwrap_or_default();
        let arg = if !range.takes_values() {
            flag
        } else if range.min_values() == 0 {
            format!("{flag} [\\fI{}\\fR]", value(a))
        } else {
            format!("{flag} \\fI{}\\fR", value(a))
        };
        let (l, r) = if a.is_required_set() { ("", "") } else { ("[", "]") };
        line.push_str(&format!(" {l}{arg}{r}"));
    }
    for a in positionals {
        let many = a.get_num_args().is_some_and(|r| r.max_values() > 1);
        let (l, r) = if a.is_required_set() { ("", "") } else { ("[", "]") };
        line.push_str(&format!(" {l}\\fI{}\\fR{}{r}", value(a), if many { " ..." } else { "" }));
    }
    format!(".SH SYNOPSIS\n{line}\n")
}

/// The date on the man pages (fixed, so generating them twice gives the same bytes).
const MAN_DATE: &str = "2026-11-24";

/// The man page of one command, in roff.
pub fn man_page(applet: &Applet) -> Result<String> {
    let command = cmd::build(applet);
    let man = clap_mangen::Man::new(command)
        .section(applet.section.to_string())
        .date(MAN_DATE)
        .source(concat!("oxcat ", env!("CARGO_PKG_VERSION")))
        .manual("oxcat Manual");
    let mut buf: Vec<u8> = Vec::new();
    let render = |r: std::io::Result<()>| r.map_err(|e| Error::Io(format!("man page: {e}")));
    render(man.render_title(&mut buf))?;
    render(man.render_name_section(&mut buf))?;
    buf.extend_from_slice(synopsis(applet).as_bytes());
    render(man.render_description_section(&mut buf))?;
    render(man.render_options_section(&mut buf))?;
    let mut page = String::from_utf8(buf).map_err(|e| Error::Io(e.to_string()))?;
    page.push_str(
        ".SH \"EXIT STATUS\"\n.TP\n0\nEvery node or object succeeded.\n.TP\n1\nSome node failed (its error is on standard error), or the store could not be written.\n.TP\n2\nUsage or input error; nothing was changed.\n",
    );
    let mine: Vec<Example> = examples().into_iter().filter(|e| e.command == applet.name).collect();
    if !mine.is_empty() {
        page.push_str(".SH EXAMPLES\n");
        for (i, e) in mine.into_iter().enumerate() {
            if i > 0 {
                page.push_str(".PP\n");
            }
            page.push_str(&format!("{}\n.PP\n.nf\n.RS 4\n", roff_escape(e.title)));
            for line in e.session {
                page.push_str(&roff_escape(line));
                page.push('\n');
            }
            page.push_str(".RE\n.fi\n");
        }
    }
    // The commands, then the hand-written pages (man/man3, man/man5) of the syntax they share.
    let see: Vec<String> = cmd::APPLETS
        .iter()
        .filter(|a| a.name != applet.name)
        .map(|a| (a.name, a.section))
        .chain([("noderange", 3), ("xcatstanzafile", 5)])
        .map(|(name, section)| format!("\\fB{name}\\fR({section})"))
        .collect();
    page.push_str(&format!(".SH \"SEE ALSO\"\n{}\n", see.join(", ")));
    Ok(page)
}

/// Writes `DIR/man/man1/*.1`, `DIR/man/man8/*.8` and `DIR/share/completions/{bash,zsh,fish}/...`
/// (the repository keeps these generated files; a test checks they are current).
pub fn generate(dir: &Path) -> Result<()> {
    use clap_complete::{generate as complete, Shell};
    let write = |path: &Path, text: &[u8]| -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
        }
        fs::write(path, text).map_err(|e| Error::io(path.display(), e))
    };
    for a in cmd::APPLETS {
        let page = man_page(a)?;
        write(&dir.join(format!("man/man{}/{}.{}", a.section, a.name, a.section)), page.as_bytes())?;
        for (shell, file) in [
            (Shell::Bash, a.name.to_string()),
            (Shell::Zsh, format!("_{}", a.name)),
            (Shell::Fish, format!("{}.fish", a.name)),
        ] {
            let mut buf = Vec::new();
            complete(shell, &mut cmd::build(a), a.name, &mut buf);
            write(&dir.join(format!("share/completions/{shell}/{file}")), &buf)?;
        }
    }
    Ok(())
}

/// Creates `DIR/CMD -> this executable` for every command (replacing old links).
pub fn install_links(dir: &Path) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
    fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    for a in cmd::APPLETS {
        let link = dir.join(a.name);
        if link.symlink_metadata().is_ok() {
            fs::remove_file(&link).map_err(|e| Error::io(link.display(), e))?;
        }
        std::os::unix::fs::symlink(&exe, &link).map_err(|e| Error::io(link.display(), e))?;
    }
    Ok(())
}
