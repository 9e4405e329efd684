//! [`ValidatedFile`]: a root-owned configuration file that a checker must accept before it
//! replaces the current one (`visudo -cf`, `sshd -t -f`, `nft -c -f`).
//!
//! A broken sudoers file takes sudo away; a broken sshd or firewall configuration can take the
//! whole server away. The new content is written to a temporary file next to the target, the
//! checker runs on that file, and only a file it accepts is renamed over the target: a rejected
//! one is removed and the old file stays as it was.

use std::sync::Arc;

use dm_core::operation::{
    Action, FactOptions, Input, OpError, Operation, Plan, Resource, Simulation, TemplateVars,
};
use dm_core::ops::{Fact, File};
use dm_core::shell_quote;

/// A file with exactly this content, mode 0`mode`, owned by root, written only when `checker`
/// accepts it.
pub struct ValidatedFile {
    /// Reads and compares like any file: the plan (create, content, mode) is File's.
    file: File,
    path: String,
    content: Arc<[u8]>,
    mode: u32,
    checker: String,
    needs: Vec<Resource>,
}

impl ValidatedFile {
    /// `content` at `path`, checked by the command line `checker` followed by the temporary
    /// file's path (e.g. `"visudo -cf"`).
    pub fn new(path: &str, content: impl Into<Vec<u8>>, checker: &str) -> ValidatedFile {
        let content: Arc<[u8]> = Arc::from(content.into());
        ValidatedFile {
            file: File::bytes(path, content.to_vec())
                .mode(0o644)
                .owner("root")
                .group("root"),
            path: path.to_string(),
            content,
            mode: 0o644,
            checker: checker.to_string(),
            needs: Vec::new(),
        }
    }

    /// Permission bits (default 0644).
    pub fn mode(mut self, mode: u32) -> ValidatedFile {
        self.file = self.file.mode(mode);
        self.mode = mode;
        self
    }

    /// The checker comes with this package: when an earlier operation of the step installs it,
    /// this file is planned on facts read after the install.
    pub fn needs_package(mut self, package: &str) -> ValidatedFile {
        self.needs.push(Resource::Package(package.to_string()));
        self
    }

    /// Triggers the step's reaction `name` when the file changes.
    pub fn notify(mut self, name: &str) -> ValidatedFile {
        self.file = self.file.notify(name);
        self
    }

    /// The shell fragment that writes the content (from standard input) to a temporary file,
    /// runs the checker on it, and renames it over the target only if the checker accepts it.
    fn checked_write(&self) -> String {
        let (dir, base) = self
            .path
            .rsplit_once('/')
            .map_or(("", self.path.as_str()), |(d, b)| (d, b));
        let dir = if dir.is_empty() { "/" } else { dir };
        let size = self.content.len();
        // The temporary name starts with a dot and does not end in the target's extension, so
        // sudo's `#includedir` and sshd's `Include *.conf` never read it.
        let tmp = shell_quote(&format!("{dir}/.{base}.dm-check."));
        let checker_words = shell_quote(&self.checker);
        format!(
            "d={d}; t={tmp}$$\n\
             [ -d {qdir} ] || mkdir -p -- {qdir}\n\
             trap 'rm -f \"$t\"' EXIT HUP INT TERM\n\
             umask 077\n\
             head -c {size} > \"$t\"\n\
             n=$(wc -c < \"$t\")\n\
             if [ \"$n\" -ne {size} ]; then echo \"incomplete upload: got $n of {size} bytes; $d left unchanged\" >&2; exit 1; fi\n\
             chmod {mode:o} \"$t\"\n\
             chown root:root \"$t\"\n\
             if ! out=$({checker} \"$t\" 2>&1); then\n\
             \x20 printf '%s\\n' \"$out\" >&2\n\
             \x20 echo \"the new content of $d was rejected by \"{checker_words}\"; $d was left unchanged\" >&2\n\
             \x20 exit 1\n\
             fi\n\
             mv -f \"$t\" \"$d\"\n\
             trap - EXIT HUP INT TERM",
            d = shell_quote(&self.path),
            qdir = shell_quote(dir),
            mode = self.mode,
            checker = self.checker,
        )
    }
}

impl Operation for ValidatedFile {
    fn name(&self) -> String {
        self.file.name()
    }

    fn prepare(&mut self, vars: &TemplateVars) -> Result<(), OpError> {
        self.file.prepare(vars)
    }

    fn fact_script(&self, options: &FactOptions) -> String {
        self.file.fact_script(options)
    }

    fn resources(&self) -> Vec<Resource> {
        let mut resources = self.file.resources();
        resources.extend(self.needs.iter().cloned());
        resources
    }

    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError> {
        match self.file.plan(fact, sim)? {
            Plan::Ok => Ok(Plan::Ok),
            // New content goes through the checker; a mode or owner fix alone does not.
            Plan::Change(mut change) if change.action.input.is_some() => {
                change.action =
                    Action::with_input(self.checked_write(), Input::Bytes(self.content.clone()));
                Ok(Plan::Change(change))
            }
            Plan::Change(change) => Ok(Plan::Change(change)),
        }
    }

    fn notifies(&self) -> &[String] {
        self.file.notifies()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(op: &mut ValidatedFile, fact: &str) -> Plan {
        op.prepare(&TemplateVars::default()).expect("prepares");
        op.plan(&Fact::parse(fact), &mut Simulation::new())
            .expect("plans")
    }

    #[test]
    fn new_content_is_checked_before_the_rename() {
        let mut op = ValidatedFile::new(
            "/etc/sudoers.d/admin",
            "admin ALL=(ALL) NOPASSWD: ALL\n",
            "visudo -cf",
        )
        .mode(0o440);
        let Plan::Change(change) = planned(&mut op, "f.type=absent\n") else {
            panic!("expected a change");
        };
        let script = change.action.script;
        let check = script.find("visudo -cf \"$t\"").expect("runs the checker");
        let rename = script.find("mv -f \"$t\" \"$d\"").expect("renames");
        assert!(check < rename, "{script}");
        assert!(script.contains("chmod 440"), "{script}");
        assert!(
            script.contains("/etc/sudoers.d/.admin.dm-check."),
            "{script}"
        );
        assert_eq!(change.action.input.map(|i| i.len()), Some(30));
    }

    #[test]
    fn the_same_content_is_left_alone() {
        let content = "PermitRootLogin no\n";
        let mut op = ValidatedFile::new("/etc/ssh/sshd_config.d/x.conf", content, "sshd -t -f");
        let sha = sha256_hex(content.as_bytes());
        let fact = format!(
            "f.type=file\nf.mode=644\nf.uid=0\nf.user=root\nf.gid=0\nf.group=root\nf.size={}\nf.sha256={sha}\n",
            content.len()
        );
        assert!(matches!(planned(&mut op, &fact), Plan::Ok));
    }

    /// Hex SHA-256 by the system's own tool, so the test needs no hashing crate.
    fn sha256_hex(bytes: &[u8]) -> String {
        use std::io::Write as _;
        let mut child = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha256sum runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("writes");
        let out = child.wait_with_output().expect("sha256sum ends");
        String::from_utf8_lossy(&out.stdout)[..64].to_string()
    }
}
