//! A throwaway GnuPG home for tests that need real OpenPGP signatures.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary GNUPGHOME; the agent it starts is stopped on drop.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        if Command::new("gpg").arg("--version").output().is_err() {
            panic!(
                "gpg is not installed: install the Debian package `gnupg` (apt-get install gnupg)"
            );
        }
        // Short path: the agent's socket path must fit in sun_path.
        let home = tempfile::Builder::new()
            .prefix("lcg")
            .tempdir_in("/tmp")
            .expect("temp GNUPGHOME");
        Gpg { home }
    }

    pub fn run(&self, args: &[&str]) -> Vec<u8> {
        self.run_with_passphrase("", args)
    }

    /// [`Gpg::run`] for keys protected by `passphrase`.
    pub fn run_with_passphrase(&self, passphrase: &str, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                passphrase,
            ])
            .args(args)
            .output()
            .expect("running gpg");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Generates a signing key and returns its primary fingerprint.
    pub fn gen_key(&self, uid: &str, expire: &str) -> String {
        self.run(&["--quick-gen-key", uid, "ed25519", "sign", expire]);
        self.fingerprints(uid)[0].clone()
    }

    /// Adds a signing subkey and returns its fingerprint.
    pub fn add_signing_subkey(&self, primary: &str) -> String {
        self.run(&["--quick-add-key", primary, "ed25519", "sign", "never"]);
        self.fingerprints(primary)
            .last()
            .cloned()
            .expect("subkey fingerprint")
    }

    /// Fingerprints of the key matching `who`: primary first, then subkeys.
    pub fn fingerprints(&self, who: &str) -> Vec<String> {
        let out = self.run(&["--with-colons", "--list-keys", who]);
        String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .filter_map(|l| l.split(':').nth(9).map(str::to_owned))
            .collect()
    }

    /// Exports public keys (binary unless `armor`) to `path`.
    pub fn export(&self, who: &[&str], armor: bool, path: &Path) {
        let mut args = vec!["--export"];
        if armor {
            args.push("--armor");
        }
        args.extend_from_slice(who);
        let bytes = self.run(&args);
        assert!(!bytes.is_empty(), "gpg exported nothing for {who:?}");
        std::fs::write(path, bytes).expect("write keyring");
    }

    /// Clearsigns `text` with `signer` (append `!` to force a subkey).
    pub fn clearsign(&self, signer: &str, text: &str) -> String {
        let input = self.home.path().join("in.txt");
        std::fs::write(&input, text).expect("write input");
        let out = self.run(&[
            "--local-user",
            signer,
            "--digest-algo",
            "SHA256",
            "--clearsign",
            "--output",
            "-",
            input.to_str().expect("utf-8 path"),
        ]);
        String::from_utf8(out).expect("clearsigned text is UTF-8")
    }

    /// A detached signature over `data`, armored or binary.
    pub fn detach_sign(&self, signer: &str, data: &[u8], armor: bool) -> Vec<u8> {
        let input = self.home.path().join("in.bin");
        std::fs::write(&input, data).expect("write input");
        let mut args = vec!["--local-user", signer, "--detach-sign", "--output", "-"];
        if armor {
            args.push("--armor");
        }
        args.push(input.to_str().expect("utf-8 path"));
        self.run(&args)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}
