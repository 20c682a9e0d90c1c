//! The multicall entry point: `rpower n01 stat` and `oxcat rpower n01 stat` run the same code.
//! Dispatch is on the basename of argv[0]; under any other name the first argument names the command.

use oxcat::cmd::{self, Applet, Ctx, Status};
use oxcat::docs;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "\
Usage: oxcat COMMAND [ARGS...]     (or run COMMAND through a link named after it)
       oxcat --list                list the commands
       oxcat --install-links DIR   create a link DIR/COMMAND -> this binary for each command
       oxcat --generate-docs DIR   write man pages and shell completions under DIR
       oxcat --version";

fn main() -> ExitCode {
    let args = match utf8_args(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(line) => {
            eprintln!("{line}");
            return ExitCode::from(2);
        }
    };
    let prog = args.first().map(|a| basename(a)).unwrap_or("oxcat");
    if let Some(applet) = cmd::find(prog) {
        return run(applet, args);
    }
    let first = args.get(1).map(String::as_str);
    let code = match first {
        None => {
            eprintln!("{USAGE}");
            2
        }
        Some("-h" | "--help") => print(|o| writeln!(o, "{USAGE}\n\nCommands:\n{}", list())),
        Some("--list") => print(|o| cmd::APPLETS.iter().try_for_each(|a| writeln!(o, "{}", a.name))),
        Some("-V" | "--version") => print(|o| writeln!(o, "oxcat {}", env!("CARGO_PKG_VERSION"))),
        Some(flag @ ("--install-links" | "--generate-docs")) => match args.get(2) {
            None => {
                eprintln!("oxcat: {flag} needs a directory");
                2
            }
            Some(dir) => {
                let r = if flag == "--install-links" {
                    docs::install_links(Path::new(dir))
                } else {
                    docs::generate(Path::new(dir))
                };
                match r {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("oxcat: {e}");
                        1
                    }
                }
            }
        },
        Some(name) => match cmd::find(name) {
            Some(applet) => return run(applet, args[1..].to_vec()),
            None => {
                eprintln!("oxcat: unknown command '{name}' (oxcat --list shows the commands)");
                2
            }
        },
    };
    ExitCode::from(code)
}

/// The arguments as text. Values are stored as UTF-8, so an argument that is not is refused (named,
/// its bytes escaped, a password masked) rather than stored with replacement characters; argv[0]
/// is only a name.
fn utf8_args(args: Vec<OsString>) -> Result<Vec<String>, String> {
    let lossy: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let Some(bad) = (1..args.len()).find(|&i| args[i].to_str().is_none()) else { return Ok(lossy) };
    let redacted = cmd::redact(&lossy[1..]);
    let shown =
        if redacted[bad - 1] == lossy[bad] { format!("{:?}", args[bad]) } else { format!("{:?}", redacted[bad - 1]) };
    Err(format!("Error: argument {bad} ({shown}) is not UTF-8 text (attribute names and values must be UTF-8)"))
}

fn list() -> String {
    cmd::APPLETS.iter().map(|a| format!("  {:<12} {}", a.name, a.about)).collect::<Vec<_>>().join("\n")
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn print(f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> u8 {
    let mut out = std::io::stdout().lock();
    match f(&mut out).and_then(|_| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("oxcat: stdout: {e}");
            1
        }
    }
}

fn run(applet: &'static Applet, argv: Vec<String>) -> ExitCode {
    let matches = match cmd::build(applet).try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let mut ctx = Ctx::new(applet, argv, &matches);
    let result = (applet.run)(&mut ctx, &matches);
    let flushed = ctx.out.flush().map_err(|e| oxcat::error::Error::io("stdout", e));
    let result = result.and_then(|s| flushed.map(|_| s));
    let code = match result {
        Ok(Status::Ok) => 0,
        Ok(Status::SomeFailed) => 1,
        Err(e) => {
            let mut err = std::io::stderr().lock();
            for line in e.lines() {
                let _ = writeln!(err, "{line}");
            }
            e.exit_code()
        }
    };
    ExitCode::from(code)
}
