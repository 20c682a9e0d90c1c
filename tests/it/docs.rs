//! Man pages and completions are generated from the registry; the committed copies must be current,
//! and every example in man/examples.txt must print exactly what it shows.

use crate::harness::{oxcat_bin, Lab};
use std::path::Path;
use std::process::Command;

fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn committed_man_pages_and_completions_are_current() {
    let tmp = tempfile::tempdir().unwrap();
    let st = Command::new(oxcat_bin()).arg("--generate-docs").arg(tmp.path()).status().unwrap();
    assert!(st.success());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["man/man1", "man/man8", "share/completions"] {
        let want = tree(&tmp.path().join(sub));
        let have = tree(&repo.join(sub));
        let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&have), names(&want), "{sub}: run `cargo run -- --generate-docs .`");
        for ((n, a), (_, b)) in have.iter().zip(&want) {
            assert!(a == b, "{sub}/{n} is stale: run `cargo run -- --generate-docs .`");
        }
    }
    for a in oxcat::cmd::APPLETS {
        let page =
            std::fs::read_to_string(repo.join(format!("man/man{}/{}.{}", a.section, a.name, a.section))).unwrap();
        assert!(page.contains(".SH EXAMPLES"), "{} has no EXAMPLES", a.name);
        let synopsis = page.split(".SH SYNOPSIS\n").nth(1).and_then(|r| r.lines().next()).unwrap_or("");
        let mut command = oxcat::cmd::build(a);
        command.build();
        for arg in command.get_arguments() {
            // An option that takes a value shows it in the SYNOPSIS (`[-t TYPE]`, not `[-t ]`).
            let flag = match (arg.get_short(), arg.get_long()) {
                (_, Some(l)) => format!("\\-\\-{}\\fR", l.replace('-', "\\-")),
                (Some(s), None) => format!("\\-{s}\\fR"),
                (None, None) => String::new(),
            };
            if !flag.is_empty() && !arg.is_hide_set() && arg.get_num_args().is_some_and(|r| r.takes_values()) {
                assert!(
                    synopsis.contains(&format!("{flag} \\fI")) || synopsis.contains(&format!("{flag} [\\fI")),
                    "{}: the SYNOPSIS does not name the value of {flag}: {synopsis}",
                    a.name
                );
            }
            if let Some(l) = arg.get_long() {
                assert!(
                    page.contains(&format!("\\-\\-{}", l.replace('-', "\\-"))),
                    "{}: --{l} not in its man page",
                    a.name
                );
            }
        }
    }
}

/// The lab directory shows as /srv/lab in the examples, and the simulated BMCs as 10.1.0.1/2.
const LAB_IN_EXAMPLES: &str = "/srv/lab";

/// Runs man/examples.txt.in (`$ ` lines shown with their output; `% ` lines are hidden set-up that
/// must print nothing) in one fresh lab with two simulated BMCs, and checks man/examples.txt holds
/// exactly that. `OXCAT_BLESS=1` rewrites man/examples.txt instead (read it before committing).
#[test]
fn every_example_prints_what_its_man_page_shows() {
    if !crate::bmcsim::available() {
        return;
    }
    let lab = Lab::new();
    lab.write("vmlinuz", "kernel bytes");
    lab.write("initrd.img", "initrd bytes");
    lab.write("bmc.pw", "secret\n");
    lab.write("rack2.csv", "node,bmc,mac,ip\nnode101,10.1.1.1,52:54:00:00:01:01,10.0.1.101\nnode102,10.1.1.2,52:54:00:00:01:02,10.0.1.102\n");
    let bmcs = [crate::bmcsim::Bmc::start(lab.dir.path()), crate::bmcsim::Bmc::start(lab.dir.path())];
    let dir = lab.dir.path().display().to_string();
    let shown = |text: &str| {
        let mut t = text.replace(&dir, LAB_IN_EXAMPLES);
        for (i, b) in bmcs.iter().enumerate() {
            t = t.replace(&b.addr.to_string(), &format!("10.1.0.{}", i + 1));
        }
        // FRU serial numbers end in each simulator's index, which depends on how many other tests
        // started a BMC first: shown as the first and second simulator's (as the examples have them).
        let serials = regex::Regex::new(r"\b(SN|CHS|BRD|ASSET)0*(\d+)\b").unwrap();
        let t = serials.replace_all(&t, |c: &regex::Captures| {
            let index: u32 = c[2].parse().unwrap();
            let Some(i) = bmcs.iter().position(|b| b.index == index) else { return c[0].to_string() };
            let i = i as u32;
            match &c[1] {
                "SN" => format!("SN{i:06}"),
                "ASSET" => format!("ASSET{i}"),
                p => format!("{p}{i:04}"),
            }
        });
        // So does the end of each simulator's GUID, shown first in the UUID (little-endian).
        let mut t = t.into_owned();
        for (i, b) in bmcs.iter().enumerate() {
            let uuid = |n: u32| format!("{:02x}{:02x}ab89-6745-23a1-efcd-ab89674523a1", n & 0xff, (n >> 8) & 0xff);
            t = t.replace(&uuid(b.index), &uuid(i as u32));
        }
        t
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(repo.join("man/examples.txt.in")).unwrap();
    // The oxcatd examples bind fixed ports (as an admin's config would); they run in a network
    // namespace of their own, so whatever holds those ports here does not matter. Held here to
    // prove it.
    let _held = (std::net::TcpListener::bind("127.0.0.1:18080"), std::net::UdpSocket::bind("127.0.0.1:18069"));
    let netns = crate::harness::own_netns();
    let mut got = String::new();
    for line in source.lines() {
        let run = |cmd: &str| {
            let script = format!("{{ {}; }} 2>&1", cmd.replace(LAB_IN_EXAMPLES, &dir));
            let script = match &netns {
                Some(unshare) if cmd.contains("oxcatd ") => {
                    format!("{unshare} sh -c 'ip link set lo up && {}'", script.replace('\'', "'\\''"))
                }
                _ => script,
            };
            let o = lab
                .sh(&script)
                .env("BMC1", bmcs[0].addr.to_string())
                .env("BMC2", bmcs[1].addr.to_string())
                .output()
                .unwrap();
            shown(&String::from_utf8_lossy(&o.stdout))
        };
        if let Some(cmd) = line.strip_prefix("% ") {
            let out = run(cmd);
            assert_eq!(out, "", "set-up line '{cmd}' printed something");
            continue;
        }
        got.push_str(line);
        got.push('\n');
        if let Some(cmd) = line.strip_prefix("$ ") {
            got.push_str(&run(cmd));
        }
    }
    let path = repo.join("man/examples.txt");
    if std::env::var_os("OXCAT_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap();
    for (g, w) in got.lines().zip(want.lines()) {
        assert_eq!(g, w, "man/examples.txt differs from what the commands print (OXCAT_BLESS=1 rewrites it)");
    }
    assert_eq!(got, want, "man/examples.txt differs from what the commands print (OXCAT_BLESS=1 rewrites it)");
}

#[test]
fn man_pages_pass_mandoc_lint() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    if Command::new("mandoc").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "mandoc is missing: .ci/run must install it");
        eprintln!("skipped: mandoc not installed (apt-get install mandoc)");
        return;
    }
    let pages = oxcat::cmd::APPLETS
        .iter()
        .map(|a| repo.join(format!("man/man{}/{}.{}", a.section, a.name, a.section)))
        .chain(HAND_WRITTEN.iter().map(|p| repo.join(p)));
    for page in pages {
        let o = Command::new("mandoc").args(["-Tlint", "-W", "warning"]).arg(&page).output().unwrap();
        let report = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && report.trim().is_empty(), "{}: {report}", page.display());
    }
}

/// The README's quick start runs as written, in a fresh store, and prints what it shows. Its
/// files are the lab's (`/root/` is the lab directory, the image store shows as `/install`); a
/// line of output the README shortens with `…` is compared up to its first `(`.
#[test]
fn readme_quick_start_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("\n## Quick start\n").nth(1).expect("a Quick start section");
    let block = section.split("```console\n").nth(1).and_then(|b| b.split("\n```").next()).expect("a console block");
    // (command, the output the README shows)
    let mut steps: Vec<(String, Vec<&str>)> = Vec::new();
    let mut continued = false;
    for line in block.lines() {
        if continued {
            let (cmd, _) = steps.last_mut().unwrap();
            cmd.push_str(line.trim_start());
        } else if let Some(cmd) = line.strip_prefix("# ") {
            steps.push((cmd.to_string(), Vec::new()));
        } else {
            steps.last_mut().expect("output before any command").1.push(line);
        }
        continued = line.ends_with('\\');
        if continued {
            let (cmd, _) = steps.last_mut().unwrap();
            cmd.pop();
        }
    }
    assert!(steps.iter().any(|(c, _)| c.starts_with("nodeset ")), "the quick start goes as far as nodeset");
    let lab = Lab::new();
    lab.write("vmlinuz", "kernel bytes");
    lab.write("initrd.img", "initrd bytes");
    let dir = lab.dir.path().display().to_string();
    for (cmd, want) in steps {
        let o = lab.sh(&cmd.replace("/root/", &format!("{dir}/"))).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && err.is_empty(), "README quick start: '{cmd}' failed: {err}");
        let got = String::from_utf8_lossy(&o.stdout).replace(&format!("{dir}/install"), "/install");
        let got: Vec<&str> = got.lines().collect();
        assert_eq!(got.len(), want.len(), "README quick start: '{cmd}' printed:\n{}", got.join("\n"));
        for (g, w) in got.iter().zip(&want) {
            match w.split_once('…') {
                Some(_) => {
                    let head = &w[..w.find('(').unwrap_or(w.len())];
                    assert!(g.starts_with(head), "README quick start: '{cmd}' printed '{g}', not '{w}'");
                }
                None => assert_eq!(g, w, "README quick start: '{cmd}'"),
            }
        }
    }
}

/// The pages written by hand (the others are generated from the command registry).
const HAND_WRITTEN: &[&str] = &["man/man3/noderange.3", "man/man5/xcatstanzafile.5"];

/// The EXAMPLES of a roff page: `$ command` lines inside `.nf` blocks and the lines after each,
/// roff escapes undone.
fn roff_sessions(page: &str) -> Vec<(String, Vec<String>)> {
    let examples = page.split(".SH EXAMPLES\n").nth(1).expect("an EXAMPLES section");
    let examples = examples.split("\n.SH ").next().unwrap_or("");
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut literal = false;
    for line in examples.lines() {
        match line {
            ".nf" => literal = true,
            ".fi" => literal = false,
            _ if !literal || line.starts_with('.') => {}
            _ => {
                let text = line.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\");
                match text.strip_prefix("$ ") {
                    Some(cmd) => out.push((cmd.to_string(), Vec::new())),
                    None => out.last_mut().expect("output before any command").1.push(text),
                }
            }
        }
    }
    out
}

/// The examples of the hand-written pages print what the pages show (`$ cat FILE` shows a file
/// the page's example reads: the test writes it with the lines shown).
#[test]
fn hand_written_pages_examples_print_what_they_show() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in HAND_WRITTEN {
        let lab = Lab::new();
        if rel.ends_with("noderange.3") {
            for (range, groups) in [("node[1-6]", "rack1"), ("node[7-12]", "rack2"), ("user[1-2]", "users")] {
                lab.run("mkdef", &[range, &format!("groups={groups}")]).ok();
            }
            lab.run("chdef", &["node[1-8]", "mgt=ipmi"]).ok();
        }
        let page = std::fs::read_to_string(repo.join(rel)).unwrap();
        let sessions = roff_sessions(&page);
        assert!(!sessions.is_empty(), "{rel}: no examples");
        for (cmd, want) in sessions {
            if let Some(file) = cmd.strip_prefix("cat ") {
                lab.write(file, &(want.join("\n") + "\n"));
            }
            let o = lab.sh(&cmd).output().unwrap();
            let got = String::from_utf8_lossy(&o.stdout);
            assert_eq!(
                got.lines().collect::<Vec<_>>(),
                want,
                "{rel}: '{cmd}' (stderr: {})",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    // install.sh installs them with the generated pages.
    let install = std::fs::read_to_string(repo.join("install.sh")).unwrap();
    assert!(install.contains("for dir in man/man*"), "install.sh must install every man/manN directory");
}
