//! Boot templates: a strict `{{name}}` renderer (an unknown name is an error naming template and
//! line) and the most-specific-first lookup: for loader L, kind K (netboot, install, deploy,
//! shell, boot) and a node's profile P, os O and arch A, the first of `L/P.O.A.K.tmpl`, `L/P.O.K.tmpl`,
//! `L/P.A.K.tmpl`, `L/P.K.tmpl`, `L/K.tmpl` (and for install, deploy and shell, `L/netboot.tmpl`) found in
//! site.templatedir, else in the templates shipped inside oxcat (share/boot).

use std::collections::HashMap;
use std::path::Path;

/// The templates shipped with oxcat, by relative path.
const SHIPPED: &[(&str, &str)] = &[
    ("pxelinux/netboot.tmpl", include_str!("../../share/boot/pxelinux/netboot.tmpl")),
    ("pxelinux/boot.tmpl", include_str!("../../share/boot/pxelinux/boot.tmpl")),
    ("ipxe/netboot.tmpl", include_str!("../../share/boot/ipxe/netboot.tmpl")),
    ("ipxe/boot.tmpl", include_str!("../../share/boot/ipxe/boot.tmpl")),
    ("grub2/netboot.tmpl", include_str!("../../share/boot/grub2/netboot.tmpl")),
    ("grub2/boot.tmpl", include_str!("../../share/boot/grub2/boot.tmpl")),
    // Genesis, the node ramdisk: deploying a disk image, or a shell (and runcmd/runimage tasks).
    ("pxelinux/deploy.tmpl", include_str!("../../share/boot/pxelinux/deploy.tmpl")),
    ("pxelinux/shell.tmpl", include_str!("../../share/boot/pxelinux/shell.tmpl")),
    ("ipxe/deploy.tmpl", include_str!("../../share/boot/ipxe/deploy.tmpl")),
    ("ipxe/shell.tmpl", include_str!("../../share/boot/ipxe/shell.tmpl")),
    ("grub2/deploy.tmpl", include_str!("../../share/boot/grub2/deploy.tmpl")),
    ("grub2/shell.tmpl", include_str!("../../share/boot/grub2/shell.tmpl")),
];

/// A template found by [`lookup`]: where it came from and its text.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub text: String,
}

/// The candidate names, most specific first.
pub fn candidates(
    loader: &str,
    kind: &str,
    profile: Option<&str>,
    os: Option<&str>,
    arch: Option<&str>,
) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(p) = profile {
        if let (Some(o), Some(a)) = (os, arch) {
            v.push(format!("{loader}/{p}.{o}.{a}.{kind}.tmpl"));
        }
        if let Some(o) = os {
            v.push(format!("{loader}/{p}.{o}.{kind}.tmpl"));
        }
        if let Some(a) = arch {
            v.push(format!("{loader}/{p}.{a}.{kind}.tmpl"));
        }
        v.push(format!("{loader}/{p}.{kind}.tmpl"));
    }
    v.push(format!("{loader}/{kind}.tmpl"));
    if kind != "boot" && kind != "netboot" {
        v.push(format!("{loader}/netboot.tmpl"));
    }
    v
}

/// Finds the template; `dir` (site.templatedir) wins over the shipped ones name by name.
pub fn lookup(dir: Option<&Path>, names: &[String], cache: &mut HashMap<String, Option<Template>>) -> Option<Template> {
    for n in names {
        let found = cache
            .entry(n.clone())
            .or_insert_with(|| {
                if let Some(text) = dir.and_then(|d| std::fs::read_to_string(d.join(n)).ok()) {
                    return Some(Template {
                        name: dir.map(|d| d.join(n).display().to_string()).unwrap_or_default(),
                        text,
                    });
                }
                SHIPPED
                    .iter()
                    .find(|(p, _)| p == n)
                    .map(|(p, t)| Template { name: format!("(shipped) {p}"), text: t.to_string() })
            })
            .clone();
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Replaces every `{{name}}`; an unknown or unclosed placeholder is an error naming template:line.
pub fn render(t: &Template, vars: &HashMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(t.text.len() + 128);
    for (i, line) in t.text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| format!("{}:{}: '{{{{' without '}}}}'", t.name, i + 1))?;
            let key = after[..end].trim();
            let value = vars.get(key).ok_or_else(|| format!("{}:{}: unknown variable '{key}'", t.name, i + 1))?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_first() {
        assert_eq!(
            candidates("ipxe", "install", Some("compute"), Some("rocky9"), Some("x86_64")),
            vec![
                "ipxe/compute.rocky9.x86_64.install.tmpl",
                "ipxe/compute.rocky9.install.tmpl",
                "ipxe/compute.x86_64.install.tmpl",
                "ipxe/compute.install.tmpl",
                "ipxe/install.tmpl",
                "ipxe/netboot.tmpl",
            ]
        );
        assert_eq!(candidates("grub2", "boot", None, None, None), vec!["grub2/boot.tmpl"]);
    }

    #[test]
    fn site_templates_win_and_shipped_ones_fill_in() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ipxe")).unwrap();
        std::fs::write(dir.path().join("ipxe/compute.boot.tmpl"), "#!ipxe custom\n").unwrap();
        let mut cache = HashMap::new();
        let t = lookup(Some(dir.path()), &candidates("ipxe", "boot", Some("compute"), None, None), &mut cache).unwrap();
        assert_eq!(t.text, "#!ipxe custom\n");
        let t = lookup(Some(dir.path()), &candidates("ipxe", "boot", Some("gpu"), None, None), &mut cache).unwrap();
        assert_eq!(t.name, "(shipped) ipxe/boot.tmpl");
        assert!(lookup(None, &["nope/x.tmpl".to_string()], &mut cache).is_none());
    }

    #[test]
    fn strict_rendering() {
        let t = Template { name: "t".into(), text: "a {{x}} b\n{{ y }}{{x}}\n".into() };
        let vars: HashMap<&str, String> = [("x", "1".to_string()), ("y", "2".to_string())].into();
        assert_eq!(render(&t, &vars).unwrap(), "a 1 b\n21\n");
        let t = Template { name: "t".into(), text: "ok\n{{nope}}\n".into() };
        assert_eq!(render(&t, &vars).unwrap_err(), "t:2: unknown variable 'nope'");
        let t = Template { name: "t".into(), text: "{{x\n".into() };
        assert_eq!(render(&t, &vars).unwrap_err(), "t:1: '{{' without '}}'");
    }
}
