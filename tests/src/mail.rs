//! A real SMTP server for the end-to-end tests: Python's aiosmtpd (which
//! `scripts/test.sh` installs), keeping each message it receives as a file
//! in a maildir, read back as [`Email`]s.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_tcp_port;

/// How long an email may take to come.
const WAIT: Duration = Duration::from_secs(20);

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The `To` header.
    pub to: String,
    /// The `Subject` header.
    pub subject: String,
    /// The body, quoted-printable undone.
    pub body: String,
}

/// aiosmtpd on a free port of 127.0.0.1, keeping each message as a file in
/// `maildir/new`. Dropping it stops it.
pub struct Sink {
    child: Child,
    maildir: PathBuf,
    /// Its port.
    pub port: u16,
}

impl Sink {
    /// Starts aiosmtpd with its maildir in `maildir`, waiting until it listens.
    pub fn start(maildir: &Path) -> Self {
        let port = free_tcp_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sink = Self { child, maildir: maildir.to_path_buf(), port };
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start: run `bash scripts/test.sh`, which installs it (pip install aiosmtpd)"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        sink
    }

    /// `smtp://127.0.0.1:<port>`, for `waybill-server serve --smtp`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received, oldest first.
    pub fn messages(&self) -> Vec<Email> {
        let mut files: Vec<_> = std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        // Mailbox names files `<seconds>.<sequence>...`; the modification
        // time (nanoseconds here) orders them.
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files.iter().map(|f| parse(&std::fs::read_to_string(f).unwrap())).collect()
    }

    /// Waits until a message with `subject` came: it.
    pub fn wait_for(&self, subject: &str) -> Email {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.messages();
            if let Some(found) = got.iter().find(|m| m.subject == subject) {
                return found.clone();
            }
            let subjects: Vec<&String> = got.iter().map(|m| &m.subject).collect();
            assert!(Instant::now() < deadline, "no email {subject:?} came; these did: {subjects:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw message's `To`, `Subject` and body (quoted-printable undone).
fn parse(raw: &str) -> Email {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let body = if header("Content-Transfer-Encoding") == "quoted-printable" {
        unquote(body)
    } else {
        body.to_owned()
    };
    Email { to: header("To"), subject: header("Subject"), body }
}

/// Quoted-printable decoded: soft line breaks joined, `=XX` made bytes.
fn unquote(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'=')
            .then(|| joined.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
