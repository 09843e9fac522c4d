//! The demo's own mail catcher: a minimal receive-only SMTP server on
//! 127.0.0.1 that keeps every message it is given as a file, `<n>.eml` in
//! its folder (numbered from 1 in the order received), so the customers'
//! emails can be read without installing anything.
//!
//! It speaks just enough SMTP for a mail client: EHLO or HELO, MAIL FROM,
//! RCPT TO, DATA (with the dots that start a line unstuffed), RSET, NOOP
//! and QUIT. It relays nothing, asks for no sign-in and offers no TLS: it
//! listens on this machine only. A file appears whole (written aside, then
//! renamed), so a reader never sees half a message.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Longest command line, and longest piece of a message line read at once.
const MAX_LINE: u64 = 64 * 1024;

/// Largest message kept (announced as SIZE); a larger one is refused.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// The running sink.
pub struct Sink {
    addr: SocketAddr,
    inbox: Arc<Inbox>,
}

/// Where messages go, and how many came.
struct Inbox {
    dir: PathBuf,
    /// The last number given to a file.
    next: AtomicU64,
    /// Messages kept by this sink.
    received: AtomicU64,
}

impl Sink {
    /// Starts the sink on a free port of 127.0.0.1, keeping messages in
    /// `dir` (made if missing; numbering goes on after the files already
    /// there). It runs until the runtime stops.
    pub async fn start(dir: &Path) -> std::io::Result<Self> {
        tokio::fs::create_dir_all(dir).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let next = AtomicU64::new(last_number(dir).await?);
        let inbox = Arc::new(Inbox { dir: dir.to_path_buf(), next, received: AtomicU64::new(0) });
        let serving = inbox.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let inbox = serving.clone();
                        tokio::spawn(async move {
                            if let Err(e) = session(stream, &inbox).await {
                                tracing::warn!(error = %e, "demo SMTP sink: a connection failed");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "demo SMTP sink: accepting a connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Self { addr, inbox })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its address for a mail client: `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The folder the messages are kept in.
    pub fn dir(&self) -> &Path {
        &self.inbox.dir
    }

    /// How many messages it has kept.
    pub fn received(&self) -> u64 {
        self.inbox.received.load(Ordering::SeqCst)
    }
}

impl Inbox {
    /// Keeps one message as the next `<n>.eml`, and says `n`.
    async fn keep(&self, message: &[u8]) -> std::io::Result<u64> {
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let part = self.dir.join(format!(".{n}.eml.part"));
        tokio::fs::write(&part, message).await?;
        tokio::fs::rename(&part, self.dir.join(format!("{n}.eml"))).await?;
        self.received.fetch_add(1, Ordering::SeqCst);
        Ok(n)
    }
}

/// The highest `<n>.eml` in `dir` (0 if none): numbering goes on from it.
async fn last_number(dir: &Path) -> std::io::Result<u64> {
    let mut last = 0;
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name();
        let n = name.to_str().and_then(|n| n.strip_suffix(".eml")).and_then(|n| n.parse::<u64>().ok());
        last = last.max(n.unwrap_or(0));
    }
    Ok(last)
}

/// The sender and recipients of the message being given.
#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

/// One client's conversation, until QUIT or the connection closes.
async fn session(stream: TcpStream, inbox: &Inbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 waybill-demo SMTP sink: receives only, relays nothing\r\n").await?;
    let mut envelope = Envelope::default();
    loop {
        let Some((line, whole)) = read_line(&mut read).await? else { return Ok(()) };
        if !whole {
            write.write_all(b"500 5.5.6 line too long\r\n").await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let arg = arg.trim();
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => format!("250-waybill-demo\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {MAX_MESSAGE}"),
            "HELO" => "250 waybill-demo".into(),
            "MAIL" => match address(arg, "FROM:") {
                Some(from) => {
                    envelope = Envelope { from: Some(from), to: Vec::new() };
                    "250 2.1.0 sender OK".into()
                }
                None => "501 5.5.4 write MAIL FROM:<address>".into(),
            },
            "RCPT" if envelope.from.is_none() => "503 5.5.1 MAIL FROM first".into(),
            "RCPT" => match address(arg, "TO:") {
                Some(to) if !to.is_empty() => {
                    envelope.to.push(to);
                    "250 2.1.5 recipient OK".into()
                }
                _ => "501 5.5.4 write RCPT TO:<address>".into(),
            },
            "DATA" if envelope.to.is_empty() => "503 5.5.1 RCPT TO first".into(),
            "DATA" => {
                write.write_all(b"354 send the message; end with <CRLF>.<CRLF>\r\n").await?;
                let Some(message) = read_data(&mut read).await? else { return Ok(()) };
                envelope = Envelope::default();
                match message {
                    Some(message) => {
                        let n = inbox.keep(&message).await?;
                        format!("250 2.0.0 kept as {n}.eml")
                    }
                    None => format!("552 5.3.4 the message is larger than {MAX_MESSAGE} bytes"),
                }
            }
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => {
                "500 5.5.2 not understood: this sink takes EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT"
                    .into()
            }
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// The address in `FROM:<a@b> PARAMS` (after `prefix`, any case); the
/// null sender `<>` is an empty address.
fn address(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?.split_once('>')?.0;
    Some(inner.to_owned())
}

/// One line with its line end, and whether it is whole (a longer line
/// comes in pieces of at most [`MAX_LINE`]); `None` at the end of input.
async fn read_line<R: AsyncBufRead + Unpin>(read: &mut R) -> std::io::Result<Option<(Vec<u8>, bool)>> {
    let mut line = Vec::new();
    let n = (&mut *read).take(MAX_LINE).read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    let whole = line.ends_with(b"\n");
    Ok(Some((line, whole)))
}

/// The message after DATA, up to the line that is a single dot, with the
/// dot that starts any other line taken off: `Some(None)` if it was too
/// large to keep; `None` if the connection closed first.
async fn read_data<R: AsyncBufRead + Unpin>(read: &mut R) -> std::io::Result<Option<Option<Vec<u8>>>> {
    let mut message = Vec::new();
    let mut too_large = false;
    // Whether the next piece starts a line (the last one ended with one).
    let mut line_start = true;
    loop {
        let Some((piece, whole)) = read_line(read).await? else { return Ok(None) };
        let mut body = piece.as_slice();
        if line_start {
            if body == b".\r\n" || body == b".\n" {
                return Ok(Some((!too_large).then_some(message)));
            }
            if let Some(rest) = body.strip_prefix(b".") {
                body = rest;
            }
        }
        line_start = whole;
        if message.len() + body.len() > MAX_MESSAGE {
            too_large = true;
            message = Vec::new();
        }
        if !too_large {
            message.extend_from_slice(body);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    use tokio::io::AsyncBufReadExt;

    use super::*;

    /// A raw client: sends a line, reads the reply's last line.
    struct Client {
        read: BufReader<tokio::net::tcp::OwnedReadHalf>,
        write: tokio::net::tcp::OwnedWriteHalf,
    }

    impl Client {
        async fn connect(addr: SocketAddr) -> (Self, String) {
            let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
            let mut client = Self { read: BufReader::new(read), write };
            let greeting = client.reply().await;
            (client, greeting)
        }

        async fn reply(&mut self) -> String {
            loop {
                let mut line = String::new();
                assert!(self.read.read_line(&mut line).await.unwrap() > 0, "the sink hung up");
                // "250-..." goes on; "250 ..." is the last line.
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line.trim_end().to_owned();
                }
            }
        }

        async fn say(&mut self, text: &str) -> String {
            self.write.write_all(format!("{text}\r\n").as_bytes()).await.unwrap();
            self.reply().await
        }
    }

    #[tokio::test]
    async fn a_raw_conversation_keeps_the_message_with_its_dots_unstuffed() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::start(&dir.path().join("mail")).await.unwrap();
        let (mut c, greeting) = Client::connect(sink.addr()).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        assert!(c.say("RCPT TO:<ada@example.com>").await.starts_with("503 "));
        assert!(c.say("DATA").await.starts_with("503 "));
        assert!(c.say("EHLO client.example").await.starts_with("250 SIZE"));
        assert!(c.say("MAIL FROM <no colon>").await.starts_with("501 "));
        assert!(c.say("mail from:<shop@example.com> BODY=8BITMIME").await.starts_with("250 "));
        assert!(c.say("DATA").await.starts_with("503 "), "no recipient yet");
        assert!(c.say("RCPT TO:<ada@example.com>").await.starts_with("250 "));
        assert!(c.say("NOOP").await.starts_with("250 "));
        assert!(c.say("DATA").await.starts_with("354 "));
        let body =
            "Subject: Hello\r\n\r\nfirst line\r\n..a line that starts with a dot\r\n...\r\nlast\r\n.\r\n";
        c.write.write_all(body.as_bytes()).await.unwrap();
        assert_eq!(c.reply().await, "250 2.0.0 kept as 1.eml");
        assert_eq!(
            std::fs::read_to_string(sink.dir().join("1.eml")).unwrap(),
            "Subject: Hello\r\n\r\nfirst line\r\n.a line that starts with a dot\r\n..\r\nlast\r\n"
        );
        // RSET forgets the envelope; HELO works too; an unknown verb is refused.
        assert!(c.say("MAIL FROM:<shop@example.com>").await.starts_with("250 "));
        assert!(c.say("RCPT TO:<bob@example.com>").await.starts_with("250 "));
        assert!(c.say("RSET").await.starts_with("250 "));
        assert!(c.say("DATA").await.starts_with("503 "));
        assert!(c.say("HELO client.example").await.starts_with("250 "));
        assert!(c.say("STARTTLS").await.starts_with("500 "));
        assert!(c.say("QUIT").await.starts_with("221 "));
        assert_eq!(sink.received(), 1);
        assert!(!sink.dir().join("2.eml").exists());
    }

    #[tokio::test]
    async fn a_mail_client_sends_through_it_and_numbering_goes_on_after_earlier_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("7.eml"), "an earlier message").unwrap();
        let sink = Sink::start(dir.path()).await.unwrap();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&sink.url()).unwrap().build();
        let message = Message::builder()
            .from("Depot <depot@example.com>".parse().unwrap())
            .to("ada.lovelace@example.com".parse().unwrap())
            .subject("Your order SO-1 is confirmed")
            .body(".a first line with a dot\nFollow it here: http://x/track/SO-1/k\n.\n".to_owned())
            .unwrap();
        transport.send(message).await.unwrap();
        let kept = std::fs::read_to_string(dir.path().join("8.eml")).unwrap();
        assert!(kept.contains("Subject: Your order SO-1 is confirmed\r\n"), "{kept}");
        assert!(kept.contains("To: ada.lovelace@example.com\r\n"), "{kept}");
        assert!(
            kept.contains(
                "\r\n\r\n.a first line with a dot\r\nFollow it here: http://x/track/SO-1/k\r\n.\r\n"
            ),
            "{kept}"
        );
        assert_eq!(sink.received(), 1);
        assert_eq!(std::fs::read_to_string(dir.path().join("7.eml")).unwrap(), "an earlier message");
    }
}
