//! The backend's end of a doorbell server that outlives it ([`DoorbellPeer`]).
//!
//! [`DoorbellServer::listen_with_backend_socket`](crate::DoorbellServer::listen_with_backend_socket)
//! (the `tensor-doorbell` binary) holds the eventfds QEMU got at its handshake. The
//! backend process connects to the server's backend socket and is handed the same
//! two eventfds each time it starts: its own (the guest rings it) and the guest's
//! vector 0 (it rings that). The messages are those an ivshmem client gets
//! (`docs/specs/ivshmem-spec`, version 0), with the backend as client
//! [`BACKEND_PEER_ID`]; see the [`doorbell`](crate::doorbell) module documentation.
//!
//! After the handshake a thread of the peer reads the server's later messages: a
//! guest that connects (its ID with an eventfd) or goes (its ID alone). A server that
//! goes away leaves the peer without a guest: [`Doorbell::has_guest`] turns false and
//! the backend's header says no doorbells, so a guest attached later polls. Nothing the
//! server sends stops the backend: a message the peer does not expect is logged once
//! and dropped.

use std::{
    io::{self, ErrorKind, IoSliceMut},
    mem::MaybeUninit,
    os::{fd::OwnedFd, unix::net::UnixStream},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    thread::{self, JoinHandle},
    time::Duration,
};

use rustix::{
    event::{PollFd, PollFlags, poll},
    io::Errno,
    net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, recvmsg},
};

use crate::doorbell::{
    BACKEND_PEER_ID, Doorbell, Guest, MESSAGE_BYTES, PROTOCOL_VERSION, REFUSED_VERSION,
    SEND_TIMEOUT, SHARED_MEMORY_MESSAGE, new_eventfd, ring, wait_for_ring,
};

/// Descriptors one message may carry: one is expected, room for more so that
/// extra ones are received (and closed) instead of cutting the message.
const MAX_FDS: usize = 4;

/// Messages the handshake may take before the peer's own eventfd arrives: the
/// version, the ID, the shared memory, a guest, its own (and slack).
const MAX_HANDSHAKE_MESSAGES: usize = 16;

/// One message of the ivshmem server protocol: its value and the descriptors with it.
type Message = (i64, Vec<OwnedFd>);

/// What the peer and its reader thread share.
#[derive(Debug)]
struct Shared {
    /// The backend's vector 0, kept by the server: the guest rings it.
    backend_vector: OwnedFd,
    /// Rung when the peer is dropped, to end the reader thread.
    stop: OwnedFd,
    guest: Mutex<Option<Guest>>,
}

impl Shared {
    /// Returns the guest slot; a panic elsewhere while it was held changes nothing in it.
    fn guest(&self) -> MutexGuard<'_, Option<Guest>> {
        self.guest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A backend connected to a doorbell server that outlives it. Dropping it closes the
/// connection (the server then takes the next backend) and stops its thread.
#[derive(Debug)]
pub struct DoorbellPeer {
    shared: Arc<Shared>,
    path: PathBuf,
    thread: Option<JoinHandle<()>>,
}

impl DoorbellPeer {
    /// Connects to the server's backend socket at `path` and takes the handshake.
    ///
    /// Returns an error if nobody listens there, if another backend is connected
    /// (the server refused this one: [`ErrorKind::AddrInUse`]), or if the handshake
    /// is not what the server sends (within 1 s per message).
    pub fn connect(path: &Path) -> io::Result<Self> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(SEND_TIMEOUT))?;
        match expect(&stream, "the version")? {
            (PROTOCOL_VERSION, fds) if fds.is_empty() => {}
            (REFUSED_VERSION, _) => {
                return Err(io::Error::new(
                    ErrorKind::AddrInUse,
                    "the doorbell server serves another backend",
                ));
            }
            (version, _) => return Err(invalid(format!("protocol version {version}"))),
        }
        match expect(&stream, "the ID")? {
            (id, fds) if id == i64::from(BACKEND_PEER_ID) && fds.is_empty() => {}
            (id, _) => return Err(invalid(format!("ID {id}, not the backend's"))),
        }
        // The shared file: the backend maps it by its path, so the descriptor closes.
        match expect(&stream, "the shared memory")? {
            (SHARED_MEMORY_MESSAGE, fds) if fds.len() == 1 => {}
            (value, _) => return Err(invalid(format!("{value} instead of the shared memory"))),
        }
        let mut guest = None;
        let mut backend_vector = None;
        for _ in 0..MAX_HANDSHAKE_MESSAGES {
            let (value, mut fds) = expect(&stream, "the peers' vectors")?;
            if value == i64::from(BACKEND_PEER_ID) && fds.len() == 1 {
                backend_vector = fds.pop();
                break;
            }
            apply(&mut guest, value, fds).map_err(invalid)?;
        }
        let backend_vector =
            backend_vector.ok_or_else(|| invalid("no eventfd of its own".to_string()))?;
        let shared = Arc::new(Shared {
            backend_vector,
            stop: new_eventfd()?,
            guest: Mutex::new(guest),
        });
        let reader = Reader {
            stream,
            shared: Arc::clone(&shared),
            last_said: None,
        };
        let thread = thread::Builder::new()
            .name("doorbell-peer".into())
            .spawn(move || reader.run())?;
        Ok(Self {
            shared,
            path: path.to_path_buf(),
            thread: Some(thread),
        })
    }

    /// Returns the server's backend socket.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the connected guest's peer ID, if the server has a guest.
    pub fn guest(&self) -> Option<u16> {
        self.shared.guest().as_ref().map(|guest| guest.id)
    }
}

impl Doorbell for DoorbellPeer {
    fn peer_id(&self) -> u16 {
        BACKEND_PEER_ID
    }

    fn ring_guest(&self) -> bool {
        self.shared
            .guest()
            .as_ref()
            .is_some_and(|guest| ring(&guest.vector))
    }

    fn wait_for_doorbell(&self, timeout: Duration) -> bool {
        wait_for_ring(&self.shared.backend_vector, timeout)
    }

    fn has_guest(&self) -> bool {
        self.guest().is_some()
    }
}

impl Drop for DoorbellPeer {
    fn drop(&mut self) {
        ring(&self.shared.stop);
        if let Some(thread) = self.thread.take() {
            // The thread does not panic; if it did, there is nothing left to stop.
            let _ = thread.join();
        }
    }
}

/// The peer's thread: reads the server's messages after the handshake.
#[derive(Debug)]
struct Reader {
    stream: UnixStream,
    shared: Arc<Shared>,
    /// The last thing said to stderr, so a repeat is not said again.
    last_said: Option<String>,
}

impl Reader {
    /// Reads messages until the peer is dropped or the server goes away.
    fn run(mut self) {
        loop {
            let mut fds = [
                PollFd::new(&self.shared.stop, PollFlags::IN),
                PollFd::new(&self.stream, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(error) => {
                    self.say(format!("poll failed: {error}"));
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
            if !fds[0].revents().is_empty() {
                return;
            }
            if fds[1].revents().is_empty() {
                continue;
            }
            match receive(&self.stream) {
                Ok(Some((value, fds))) => {
                    let mut guest = self.shared.guest();
                    let applied = apply(&mut guest, value, fds);
                    drop(guest);
                    if let Err(why) = applied {
                        self.say(format!("ignored a message: {why}"));
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                gone => {
                    let why = match gone {
                        Err(error) => format!("read failed: {error}"),
                        _ => "end of file".to_string(),
                    };
                    *self.shared.guest() = None;
                    self.say(format!(
                        "the doorbell server is gone ({why}): no doorbells until the backend restarts"
                    ));
                    return;
                }
            }
        }
    }

    fn say(&mut self, message: String) {
        if self.last_said.as_ref() != Some(&message) {
            eprintln!("tensor-backend: doorbell peer: {message}");
            self.last_said = Some(message);
        }
    }
}

/// Applies a message about the guest: its ID with one eventfd (it came), or alone
/// (it went). Returns what is wrong with any other message.
fn apply(guest: &mut Option<Guest>, value: i64, mut fds: Vec<OwnedFd>) -> Result<(), String> {
    let id = u16::try_from(value)
        .ok()
        .filter(|id| *id != BACKEND_PEER_ID)
        .ok_or_else(|| format!("{value} is no guest's ID"))?;
    match fds.len() {
        0 => {
            if guest.as_ref().is_some_and(|guest| guest.id == id) {
                *guest = None;
            }
            Ok(())
        }
        1 => {
            let vector = fds.pop().expect("one descriptor");
            *guest = Some(Guest { id, vector });
            Ok(())
        }
        count => Err(format!(
            "{count} eventfds for guest {id}: it has one vector"
        )),
    }
}

/// Returns the next message, or an error naming `what` was expected at end of file.
fn expect(stream: &UnixStream, what: &str) -> io::Result<Message> {
    receive(stream)?.ok_or_else(|| {
        io::Error::new(
            ErrorKind::UnexpectedEof,
            format!("the server closed the connection before {what}"),
        )
    })
}

/// Returns the next message (8 little-endian bytes and the descriptors passed with
/// them), or `None` at end of file.
///
/// Returns an error if the read fails or times out, if the descriptors were cut off,
/// or at end of file inside a message.
pub(crate) fn receive(stream: &UnixStream) -> io::Result<Option<Message>> {
    let mut bytes = [0; MESSAGE_BYTES];
    let mut fds = Vec::new();
    let mut filled = 0;
    while filled < bytes.len() {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = match recvmsg(
            stream,
            &mut [IoSliceMut::new(&mut bytes[filled..])],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(received) => received,
            Err(Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        };
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        if received.flags.contains(ReturnFlags::CTRUNC) {
            return Err(invalid("descriptors cut off".to_string()));
        }
        if received.bytes == 0 {
            if filled == 0 && fds.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "end of file inside a message",
            ));
        }
        filled += received.bytes;
    }
    Ok(Some((i64::from_le_bytes(bytes), fds)))
}

/// Returns an error for a message the protocol does not have.
fn invalid(why: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_messages_come_and_go_and_others_are_refused() {
        let mut guest = None;
        let vector = new_eventfd().unwrap();
        apply(&mut guest, 3, vec![vector]).unwrap();
        assert_eq!(guest.as_ref().map(|guest| guest.id), Some(3));
        apply(&mut guest, 4, Vec::new()).unwrap();
        assert!(guest.is_some(), "another guest's leaving changes nothing");
        apply(&mut guest, 3, Vec::new()).unwrap();
        assert!(guest.is_none());
        for value in [-1, 0, 65536, i64::MAX] {
            assert!(apply(&mut guest, value, Vec::new()).is_err(), "{value}");
        }
        let two = vec![new_eventfd().unwrap(), new_eventfd().unwrap()];
        assert!(apply(&mut guest, 5, two).is_err());
        assert!(guest.is_none());
    }

    #[test]
    fn a_message_cut_by_end_of_file_is_an_error() {
        use std::io::Write;
        let (mut server_end, client_end) = UnixStream::pair().unwrap();
        server_end.write_all(&[1, 2, 3]).unwrap();
        drop(server_end);
        assert_eq!(
            receive(&client_end).unwrap_err().kind(),
            ErrorKind::UnexpectedEof
        );
        let (server_end, client_end) = UnixStream::pair().unwrap();
        drop(server_end);
        assert!(receive(&client_end).unwrap().is_none());
    }

    #[test]
    fn extra_descriptors_are_received_and_closed() {
        let (server_end, client_end) = UnixStream::pair().unwrap();
        let fds = [new_eventfd().unwrap(), new_eventfd().unwrap()];
        let borrowed = [
            std::os::fd::AsFd::as_fd(&fds[0]),
            std::os::fd::AsFd::as_fd(&fds[1]),
        ];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
        assert!(control.push(rustix::net::SendAncillaryMessage::ScmRights(&borrowed)));
        rustix::net::sendmsg(
            &server_end,
            &[std::io::IoSlice::new(&7i64.to_le_bytes())],
            &mut control,
            rustix::net::SendFlags::empty(),
        )
        .unwrap();
        let (value, received) = receive(&client_end).unwrap().unwrap();
        assert_eq!((value, received.len()), (7, 2));
    }
}
