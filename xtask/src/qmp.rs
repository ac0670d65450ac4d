//! A minimal QEMU Machine Protocol client: connect, negotiate, `screendump`.
//!
//! QMP is line-delimited JSON over a Unix socket (`-qmp unix:PATH,server=on,wait=off`).
//! After the greeting the client must send `qmp_capabilities`; then each command gets
//! one `return` or `error` answer, possibly after asynchronous `event` lines, which are
//! skipped.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::Result;

/// How long to wait for QEMU to create the socket and for each answer.
const QMP_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two connection attempts.
const RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// A negotiated QMP connection.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to the socket at `path` (retrying while QEMU starts) and negotiates.
    pub fn connect(path: &Path) -> Result<Self> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(error) if start.elapsed() >= QMP_TIMEOUT => {
                    return Err(
                        format!("cannot connect to QMP at {}: {error}", path.display()).into(),
                    );
                }
                Err(_) => thread::sleep(RETRY_INTERVAL),
            }
        };
        stream.set_read_timeout(Some(QMP_TIMEOUT))?;
        let mut qmp = Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            return Err(format!("unexpected QMP greeting: {greeting}").into());
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err("QMP connection closed".into());
        }
        Ok(serde_json::from_str(&line)?)
    }

    /// Runs `command` with `arguments`; returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let request = json!({ "execute": command, "arguments": arguments });
        writeln!(self.writer, "{request}")?;
        loop {
            let message = self.read_message()?;
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                return Err(format!("QMP {command} failed: {error}").into());
            }
            // An asynchronous event: not our answer.
        }
    }

    /// Writes the screen of `device` (QEMU's first console when `None`) to `file` as PNG.
    pub fn screendump(&mut self, file: &Path, device: Option<&str>) -> Result<()> {
        let mut arguments = json!({ "filename": file, "format": "png" });
        if let Some(device) = device {
            arguments["device"] = json!(device);
        }
        self.execute("screendump", arguments).map(|_| ())
    }
}
