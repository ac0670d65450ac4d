//! The backend's ivshmem server: QEMU's `ivshmem-doorbell` gets the region and its eventfds here.
//!
//! QEMU's `ivshmem-doorbell` device does not open the shared file itself. It connects
//! to an *ivshmem server* over a UNIX socket (`-chardev socket,path=SOCKET`) and
//! receives the file and the interrupt eventfds as messages: QEMU's
//! `docs/specs/ivshmem-spec`, protocol version 0, each message an 8-byte
//! little-endian `i64` with at most one descriptor passed by `SCM_RIGHTS`.
//! [`DoorbellServer`] is that server. The backend is peer [`BACKEND_PEER_ID`] with one
//! vector; on connect a client gets, in order:
//!
//! 1. the version, [`PROTOCOL_VERSION`];
//! 2. its ID: 1 for the first client, then 2, 3, ..., never 0, wrapping within
//!    `1..=65535` (the Doorbell register has 16 bits for it);
//! 3. -1 with the shared file;
//! 4. [`BACKEND_PEER_ID`] with the backend's eventfd: the client's doorbell writes to
//!    peer 0, vector 0 land there, and [`DoorbellServer::wait_for_doorbell`] sleeps on it;
//! 5. its own ID with a fresh eventfd for its vector 0, on which the client takes
//!    interrupts; the server keeps it to ring the guest ([`DoorbellServer::ring_guest`]).
//!
//! One descriptor per peer: the device is meant to run with `vectors=1`, and QEMU
//! refuses more descriptors for a peer than it has vectors. QEMU reads the first three
//! messages synchronously while it realizes the device, so the server answers from
//! its own thread at once.
//!
//! One guest at a time (each ring has one producer and one consumer): a client that
//! connects while another is connected is sent [`REFUSED_VERSION`] instead of a
//! version, closed at once and counted. (Closing alone is not enough: QEMU reads the
//! first messages in a loop that spins forever at an end of file, while a version it
//! does not know makes the device fail to realize, and QEMU exit with
//! "server sent version -1, expecting 0".) The protocol is
//! one-way, so whatever a client sends is read and dropped; end of file (QEMU exited)
//! forgets the client and its eventfd, so a later client (a rebooted QEMU) is served,
//! with the next ID. Nothing a client does stops the server or the process: a failed
//! handshake or read is logged to stderr once and the server keeps accepting.
//!
//! [`Doorbell`] is what the backend's loop needs of the server (ring the guest, wait
//! for the guest's ring), so a test can stand in for it.
//!
//! # A server that outlives its backend
//!
//! QEMU reads the handshake once, while it realizes the device: a backend that is its
//! own server and restarts cannot hand QEMU new eventfds, so it serves polling only.
//! [`DoorbellServer::listen_with_backend_socket`] is a server without a backend loop
//! (the `tensor-doorbell` binary), which also listens on a second socket for the
//! backend process. It keeps the backend's eventfd and the guest's for as long as it
//! runs, so a backend that dies and starts again gets the same two eventfds and
//! doorbells work again without QEMU noticing. [`DoorbellPeer`] is the backend's end.
//! What the backend gets there is the handshake of an ivshmem client with ID
//! [`BACKEND_PEER_ID`]: the version; its ID; -1 with the shared file; the guest's ID
//! with the eventfd of the guest's vector 0, if a guest is connected; its own ID with
//! its eventfd. Later, the guest's ID with an eventfd when a guest connects, and
//! without one when it goes (the ivshmem messages for a peer that joins or leaves).
//! One backend at a time: another one is sent [`REFUSED_VERSION`].

use std::{
    fmt, fs,
    io::{self, ErrorKind, IoSlice, Read},
    mem::MaybeUninit,
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::{
            fs::{FileTypeExt, MetadataExt},
            net::{UnixListener, UnixStream},
        },
    },
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use rustix::{
    event::{EventfdFlags, PollFd, PollFlags, Timespec, eventfd, poll},
    io::Errno,
    net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg},
};

/// The ivshmem server protocol version spoken (QEMU's `IVSHMEM_PROTOCOL_VERSION`).
pub const PROTOCOL_VERSION: i64 = 0;

/// The backend's ivshmem peer ID; the header's `DOORBELL` word is this plus 1.
pub const BACKEND_PEER_ID: u16 = 0;

/// What a refused client gets instead of [`PROTOCOL_VERSION`]: no version at all, so
/// QEMU stops with an error instead of waiting for a handshake that will not come.
pub const REFUSED_VERSION: i64 = -1;

/// The message that carries the shared memory's descriptor.
pub(crate) const SHARED_MEMORY_MESSAGE: i64 = -1;

/// The first ID given to a client, and where IDs wrap back to after [`u16::MAX`].
const FIRST_CLIENT_ID: u16 = 1;

/// The value written to an eventfd to ring it (the client-client protocol's 1).
const RING: u64 = 1;

/// Bytes of one message, and of one eventfd read or write.
pub(crate) const MESSAGE_BYTES: usize = 8;

/// How long one handshake message may wait for room in the client's socket.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Reads of a client's bytes per wake-up, so a client that floods cannot hold the thread.
const READS_PER_WAKE: usize = 16;

/// Connections accepted per wake-up, so a storm of clients cannot hold the thread.
const ACCEPTS_PER_WAKE: usize = 64;

/// Bytes of the buffer a client's (ignored) bytes are read into.
const READ_BUFFER_BYTES: usize = 4096;

/// The pause after a failed accept or poll, so a lasting failure (no descriptors
/// left, say) does not spin.
const FAILURE_BACKOFF: Duration = Duration::from_millis(100);

/// What the backend's loop needs of a doorbell: [`DoorbellServer`], or a stand-in in tests.
pub trait Doorbell: fmt::Debug + Send + Sync {
    /// Returns the backend's ivshmem peer ID (the header's `DOORBELL` word is this plus 1).
    fn peer_id(&self) -> u16;

    /// Rings the guest's vector 0; returns whether a guest was there to ring.
    fn ring_guest(&self) -> bool;

    /// Waits up to `timeout` for the guest to ring the backend, then clears the ring;
    /// returns whether it was rung.
    fn wait_for_doorbell(&self, timeout: Duration) -> bool;

    /// Returns whether a guest is connected, so that doorbells reach it. The header's
    /// `DOORBELL` word says doorbells only while this holds: QEMU reads its server's
    /// handshake once, so a restarted backend that is its own server has no guest and
    /// serves polling only ([`crate::DoorbellPeer`] behind a server that outlives it
    /// has the guest again).
    fn has_guest(&self) -> bool {
        true
    }
}

/// Counts of a [`DoorbellServer`]'s clients since it started listening.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DoorbellStats {
    /// Clients that got the whole handshake.
    pub served: u64,
    /// Clients closed at once because another was connected.
    pub refused: u64,
    /// Clients lost during the handshake (a message could not be sent).
    pub failed: u64,
    /// Served clients that went away (end of file or a read error).
    pub disconnected: u64,
    /// Backend processes that got the whole handshake on the backend socket.
    pub backends_served: u64,
    /// Backend processes refused because another one was connected.
    pub backends_refused: u64,
}

/// The connected guest, as the backend's loop rings it.
#[derive(Debug)]
pub(crate) struct Guest {
    pub(crate) id: u16,
    /// The eventfd of the guest's vector 0 (QEMU holds the other end).
    pub(crate) vector: OwnedFd,
}

/// What the server's handle and its accept thread share.
#[derive(Debug)]
struct Shared {
    /// The backend's vector 0: clients ring it, `wait_for_doorbell` sleeps on it.
    backend_vector: OwnedFd,
    /// Rung when the server is dropped, to end the accept thread.
    stop: OwnedFd,
    guest: Mutex<Option<Guest>>,
    served: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    disconnected: AtomicU64,
    backends_served: AtomicU64,
    backends_refused: AtomicU64,
}

impl Shared {
    /// Returns the shared state of a server without clients, with new eventfds.
    fn new() -> io::Result<Self> {
        Ok(Self {
            backend_vector: new_eventfd()?,
            stop: new_eventfd()?,
            guest: Mutex::new(None),
            served: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            disconnected: AtomicU64::new(0),
            backends_served: AtomicU64::new(0),
            backends_refused: AtomicU64::new(0),
        })
    }

    /// Returns the guest slot; a panic elsewhere while it was held changes nothing in it.
    fn guest(&self) -> MutexGuard<'_, Option<Guest>> {
        self.guest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An ivshmem server for one guest, answering from its own thread (see the module
/// documentation). Dropping it stops the thread, closes the guest's connection and
/// removes the socket file.
#[derive(Debug)]
pub struct DoorbellServer {
    shared: Arc<Shared>,
    /// The guests' socket, and the backends' socket if any, each with its file's
    /// device and inode, so dropping removes this server's socket files only.
    sockets: Vec<(PathBuf, (u64, u64))>,
    thread: Option<JoinHandle<()>>,
}

impl DoorbellServer {
    /// Listens on a UNIX socket at `socket_path` and serves `shared_memory` (the
    /// region's file, open read-write; the server keeps a duplicate) to each client.
    ///
    /// A stale socket file at `socket_path` (nobody listening) is removed first.
    /// Returns an error if `socket_path` is another kind of file, if a server is
    /// listening there already, or if the socket, the eventfds or the thread cannot be
    /// made.
    pub fn listen(socket_path: &Path, shared_memory: impl AsFd) -> io::Result<Self> {
        Self::start(socket_path, None, shared_memory.as_fd())
    }

    /// Listens like [`listen`](Self::listen) for guests, and on `backend_path` for
    /// the backend process ([`DoorbellPeer`]), which rings the guest and waits for
    /// its rings itself; the server keeps both eventfds across backend restarts (see
    /// the module documentation).
    ///
    /// Returns an error as [`listen`](Self::listen) does, for either socket.
    pub fn listen_with_backend_socket(
        socket_path: &Path,
        backend_path: &Path,
        shared_memory: impl AsFd,
    ) -> io::Result<Self> {
        Self::start(socket_path, Some(backend_path), shared_memory.as_fd())
    }

    /// Binds the sockets and starts the accept thread.
    fn start(
        socket_path: &Path,
        backend_path: Option<&Path>,
        shared_memory: BorrowedFd<'_>,
    ) -> io::Result<Self> {
        let shared_memory = shared_memory.try_clone_to_owned()?;
        let shared = Arc::new(Shared::new()?);
        let mut sockets = Vec::with_capacity(2);
        let bound = (|| {
            let listener = bind(socket_path, &mut sockets)?;
            let backend = match backend_path {
                Some(path) => Some(BackendSeat {
                    listener: bind(path, &mut sockets)?,
                    stream: None,
                }),
                None => None,
            };
            let acceptor = Acceptor {
                listener,
                backend,
                shared_memory,
                shared: Arc::clone(&shared),
                connection: None,
                next_id: FIRST_CLIENT_ID,
                log: Log::default(),
            };
            thread::Builder::new()
                .name("doorbell".into())
                .spawn(move || acceptor.run())
        })();
        match bound {
            Ok(thread) => Ok(Self {
                shared,
                sockets,
                thread: Some(thread),
            }),
            Err(error) => {
                // Best effort: the sockets are useless without their thread.
                for (path, _) in &sockets {
                    let _ = fs::remove_file(path);
                }
                Err(error)
            }
        }
    }

    /// Returns the guests' socket's path.
    pub fn path(&self) -> &Path {
        &self.sockets[0].0
    }

    /// Returns the backends' socket's path, if the server has one.
    pub fn backend_path(&self) -> Option<&Path> {
        self.sockets.get(1).map(|(path, _)| path.as_path())
    }

    /// Returns the connected guest's peer ID, if a guest is connected.
    pub fn guest(&self) -> Option<u16> {
        self.shared.guest().as_ref().map(|guest| guest.id)
    }

    /// Returns the counts of clients since the server started listening.
    pub fn stats(&self) -> DoorbellStats {
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        DoorbellStats {
            served: count(&self.shared.served),
            refused: count(&self.shared.refused),
            failed: count(&self.shared.failed),
            disconnected: count(&self.shared.disconnected),
            backends_served: count(&self.shared.backends_served),
            backends_refused: count(&self.shared.backends_refused),
        }
    }

    /// Rings the connected guest's vector 0 (writes 1 to its eventfd); returns whether
    /// a guest was connected and rung. Without a guest it does nothing.
    pub fn ring_guest(&self) -> bool {
        self.shared
            .guest()
            .as_ref()
            .is_some_and(|guest| ring(&guest.vector))
    }

    /// Blocks in poll(2) on the backend's eventfd for at most `timeout`, then drains
    /// it; returns whether it was rung. An interrupted wait returns early, unrung: the
    /// caller re-checks its ring either way.
    pub fn wait_for_doorbell(&self, timeout: Duration) -> bool {
        wait_for_ring(&self.shared.backend_vector, timeout)
    }
}

impl Doorbell for DoorbellServer {
    fn peer_id(&self) -> u16 {
        BACKEND_PEER_ID
    }

    fn ring_guest(&self) -> bool {
        DoorbellServer::ring_guest(self)
    }

    fn wait_for_doorbell(&self, timeout: Duration) -> bool {
        DoorbellServer::wait_for_doorbell(self, timeout)
    }

    fn has_guest(&self) -> bool {
        self.guest().is_some()
    }
}

impl Drop for DoorbellServer {
    fn drop(&mut self) {
        ring(&self.shared.stop);
        if let Some(thread) = self.thread.take() {
            // The thread does not panic; if it did, there is nothing left to stop.
            let _ = thread.join();
        }
        for (path, file) in &self.sockets {
            let ours = fs::symlink_metadata(path)
                .is_ok_and(|metadata| (metadata.dev(), metadata.ino()) == *file);
            if ours {
                // Best effort: a socket file left behind is removed by the next `listen`.
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// The connected guest's socket, as the accept thread watches it.
#[derive(Debug)]
struct Connection {
    id: u16,
    stream: UnixStream,
    /// Whether the guest's (ignored) bytes were logged already.
    sent_bytes: bool,
}

/// The backends' socket of a server that outlives its backend, and the backend
/// connected there.
#[derive(Debug)]
struct BackendSeat {
    listener: UnixListener,
    stream: Option<UnixStream>,
}

/// What one poll found ready.
#[derive(Clone, Copy, Debug, Default)]
struct Ready {
    stop: bool,
    listener: bool,
    connection: bool,
    backend_listener: bool,
    backend: bool,
}

/// Why a guest's connection ended.
#[derive(Debug)]
enum Gone {
    EndOfFile,
    Error(io::Error),
}

/// The accept thread: answers new clients, watches the guest's socket.
#[derive(Debug)]
struct Acceptor {
    listener: UnixListener,
    /// The backends' socket, for a server without a backend loop of its own.
    backend: Option<BackendSeat>,
    shared_memory: OwnedFd,
    shared: Arc<Shared>,
    connection: Option<Connection>,
    next_id: u16,
    log: Log,
}

impl Acceptor {
    /// Serves until the server is dropped.
    fn run(mut self) {
        loop {
            let ready = self.wait();
            if ready.stop {
                return;
            }
            if ready.connection {
                self.check_connection();
            }
            if ready.backend {
                self.check_backend();
            }
            if ready.listener {
                self.accept_all();
            }
            if ready.backend_listener {
                self.accept_backends();
            }
        }
    }

    /// Returns what is ready, after waiting for something (or a failure) in poll(2).
    fn wait(&mut self) -> Ready {
        let mut fds = Vec::with_capacity(5);
        let mut setters: Vec<fn(&mut Ready)> = Vec::with_capacity(5);
        fds.push(PollFd::new(&self.shared.stop, PollFlags::IN));
        setters.push(|ready| ready.stop = true);
        fds.push(PollFd::new(&self.listener, PollFlags::IN));
        setters.push(|ready| ready.listener = true);
        if let Some(connection) = &self.connection {
            fds.push(PollFd::new(&connection.stream, PollFlags::IN));
            setters.push(|ready| ready.connection = true);
        }
        if let Some(seat) = &self.backend {
            fds.push(PollFd::new(&seat.listener, PollFlags::IN));
            setters.push(|ready| ready.backend_listener = true);
            if let Some(stream) = &seat.stream {
                fds.push(PollFd::new(stream, PollFlags::IN));
                setters.push(|ready| ready.backend = true);
            }
        }
        let result = poll(&mut fds, None);
        let mut found = Ready::default();
        for (fd, set) in fds.iter().zip(&setters) {
            if !fd.revents().is_empty() {
                set(&mut found);
            }
        }
        match result {
            Ok(_) | Err(Errno::INTR) => {}
            Err(error) => {
                self.log.say(format!("poll failed: {error}"));
                thread::sleep(FAILURE_BACKOFF);
            }
        }
        found
    }

    /// Accepts every waiting client (up to [`ACCEPTS_PER_WAKE`]).
    fn accept_all(&mut self) {
        for _ in 0..ACCEPTS_PER_WAKE {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream),
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(error) => {
                    self.log.say(format!("accept failed: {error}"));
                    thread::sleep(FAILURE_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Serves `stream` if no guest is connected, else closes it.
    fn admit(&mut self, stream: UnixStream) {
        // A guest that is gone already (its end of file waits unread) is forgotten
        // first, so a rebooted QEMU is not refused for its own predecessor.
        self.check_connection();
        if let Some(connection) = &self.connection {
            self.shared.refused.fetch_add(1, Ordering::Relaxed);
            let id = connection.id;
            self.log.say(format!(
                "refused a client: guest {id} is connected (one guest per region)"
            ));
            // Best effort, and never blocking: 8 bytes fit in any socket's buffer, and
            // a client that is gone already needs no answer.
            let _ = stream
                .set_nonblocking(true)
                .and_then(|()| send(&stream, REFUSED_VERSION, None));
            return;
        }
        let id = self.next_id;
        self.next_id = next_peer_id(id);
        match self.handshake(&stream, id) {
            Ok(vector) => {
                self.tell_backend(id, Some(vector.as_fd()));
                *self.shared.guest() = Some(Guest { id, vector });
                self.connection = Some(Connection {
                    id,
                    stream,
                    sent_bytes: false,
                });
                self.shared.served.fetch_add(1, Ordering::Relaxed);
                self.log.say(format!("guest {id} connected"));
            }
            Err(error) => {
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                self.log
                    .say(format!("handshake with client {id} failed: {error}"));
            }
        }
    }

    /// Sends the handshake to client `id`; returns the eventfd of its vector 0.
    fn handshake(&self, stream: &UnixStream, id: u16) -> io::Result<OwnedFd> {
        stream.set_write_timeout(Some(SEND_TIMEOUT))?;
        let vector = new_eventfd()?;
        send(stream, PROTOCOL_VERSION, None)?;
        send(stream, i64::from(id), None)?;
        send(
            stream,
            SHARED_MEMORY_MESSAGE,
            Some(self.shared_memory.as_fd()),
        )?;
        send(
            stream,
            i64::from(BACKEND_PEER_ID),
            Some(self.shared.backend_vector.as_fd()),
        )?;
        send(stream, i64::from(id), Some(vector.as_fd()))?;
        // From now on the socket is only read, and a read must never block the thread.
        stream.set_nonblocking(true)?;
        Ok(vector)
    }

    /// Reads and drops what the guest sent; forgets the guest at end of file or on a
    /// read error.
    fn check_connection(&mut self) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let mut buffer = [0; READ_BUFFER_BYTES];
        let mut received = 0;
        let mut gone = None;
        for _ in 0..READS_PER_WAKE {
            match connection.stream.read(&mut buffer) {
                Ok(0) => {
                    gone = Some(Gone::EndOfFile);
                    break;
                }
                Ok(bytes) => received += bytes,
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => {
                    gone = Some(Gone::Error(error));
                    break;
                }
            }
        }
        let id = connection.id;
        if received > 0 && !connection.sent_bytes {
            connection.sent_bytes = true;
            self.log.say(format!(
                "guest {id} sent {received} bytes; the protocol is one-way, they are ignored"
            ));
        }
        let Some(gone) = gone else {
            return;
        };
        self.connection = None;
        *self.shared.guest() = None;
        self.tell_backend(id, None);
        self.shared.disconnected.fetch_add(1, Ordering::Relaxed);
        match gone {
            Gone::EndOfFile => self.log.say(format!("guest {id} disconnected")),
            Gone::Error(error) => self
                .log
                .say(format!("guest {id} disconnected: read failed: {error}")),
        }
    }

    /// Accepts every backend waiting on the backends' socket (up to
    /// [`ACCEPTS_PER_WAKE`]).
    fn accept_backends(&mut self) {
        for _ in 0..ACCEPTS_PER_WAKE {
            let Some(seat) = &self.backend else {
                return;
            };
            match seat.listener.accept() {
                Ok((stream, _)) => self.admit_backend(stream),
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(error) => {
                    self.log.say(format!("accept of a backend failed: {error}"));
                    thread::sleep(FAILURE_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Serves backend `stream` if no backend is connected, else refuses it.
    fn admit_backend(&mut self, stream: UnixStream) {
        // A backend that died (its end of file waits unread) is forgotten first, so
        // its restart is not refused for it.
        self.check_backend();
        let connected = self
            .backend
            .as_ref()
            .is_some_and(|seat| seat.stream.is_some());
        if connected {
            self.shared.backends_refused.fetch_add(1, Ordering::Relaxed);
            self.log
                .say("refused a backend: one is connected (one backend per region)".into());
            let _ = stream
                .set_nonblocking(true)
                .and_then(|()| send(&stream, REFUSED_VERSION, None));
            return;
        }
        match self.backend_handshake(&stream) {
            Ok(()) => {
                if let Some(seat) = &mut self.backend {
                    seat.stream = Some(stream);
                }
                self.shared.backends_served.fetch_add(1, Ordering::Relaxed);
                self.log.say("backend connected".into());
            }
            Err(error) => {
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                self.log
                    .say(format!("handshake with a backend failed: {error}"));
            }
        }
    }

    /// Sends a backend its handshake: that of an ivshmem client with ID
    /// [`BACKEND_PEER_ID`], the connected guest its one other peer.
    fn backend_handshake(&self, stream: &UnixStream) -> io::Result<()> {
        stream.set_write_timeout(Some(SEND_TIMEOUT))?;
        send(stream, PROTOCOL_VERSION, None)?;
        send(stream, i64::from(BACKEND_PEER_ID), None)?;
        send(
            stream,
            SHARED_MEMORY_MESSAGE,
            Some(self.shared_memory.as_fd()),
        )?;
        if let Some(guest) = self.shared.guest().as_ref() {
            send(stream, i64::from(guest.id), Some(guest.vector.as_fd()))?;
        }
        send(
            stream,
            i64::from(BACKEND_PEER_ID),
            Some(self.shared.backend_vector.as_fd()),
        )?;
        stream.set_nonblocking(true)
    }

    /// Tells the connected backend that guest `id` came (with the eventfd of its
    /// vector 0) or went (`None`); forgets a backend the message cannot reach.
    fn tell_backend(&mut self, id: u16, vector: Option<BorrowedFd<'_>>) {
        let Some(seat) = &mut self.backend else {
            return;
        };
        let Some(stream) = &seat.stream else {
            return;
        };
        if let Err(error) = send(stream, i64::from(id), vector) {
            seat.stream = None;
            self.log.say(format!(
                "backend dropped: cannot tell it of guest {id}: {error}"
            ));
        }
    }

    /// Reads and drops what the backend sent; forgets it at end of file (it exited)
    /// or on a read error.
    fn check_backend(&mut self) {
        let Some(seat) = &mut self.backend else {
            return;
        };
        let Some(stream) = &mut seat.stream else {
            return;
        };
        let mut buffer = [0; READ_BUFFER_BYTES];
        for _ in 0..READS_PER_WAKE {
            match stream.read(&mut buffer) {
                Ok(0) => {
                    seat.stream = None;
                    self.log.say("backend disconnected".into());
                    return;
                }
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => {
                    seat.stream = None;
                    self.log
                        .say(format!("backend disconnected: read failed: {error}"));
                    return;
                }
            }
        }
    }
}

/// Messages to stderr, each said once: a repeat of the last one is dropped, so a
/// client that keeps failing the same way does not flood the log.
#[derive(Debug, Default)]
struct Log {
    last: Option<String>,
}

impl Log {
    fn say(&mut self, message: String) {
        if self.last.as_ref() != Some(&message) {
            eprintln!("tensor-backend: doorbell: {message}");
            self.last = Some(message);
        }
    }
}

/// Returns the peer ID after `id`: 1, 2, ..., 65535, then 1 again (never 0, the backend's).
fn next_peer_id(id: u16) -> u16 {
    match id.checked_add(1) {
        Some(next) => next,
        None => FIRST_CLIENT_ID,
    }
}

/// Binds a non-blocking listener at `path` (a stale socket there is removed first)
/// and records the socket file in `sockets`.
fn bind(path: &Path, sockets: &mut Vec<(PathBuf, (u64, u64))>) -> io::Result<UnixListener> {
    remove_stale_socket(path)?;
    let listener = UnixListener::bind(path)?;
    let metadata = fs::symlink_metadata(path);
    let file = metadata
        .as_ref()
        .map_or((0, 0), |metadata| (metadata.dev(), metadata.ino()));
    sockets.push((path.to_path_buf(), file));
    metadata?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Blocks in poll(2) on eventfd `fd` for at most `timeout`, then drains it; returns
/// whether it was rung. An interrupted wait returns early, unrung.
pub(crate) fn wait_for_ring(fd: &OwnedFd, timeout: Duration) -> bool {
    let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let readable = poll(&mut fds, Some(&timeout)).is_ok_and(|ready| ready > 0);
    readable && drain(fd)
}

/// Returns a new non-blocking eventfd, closed on exec.
pub(crate) fn new_eventfd() -> io::Result<OwnedFd> {
    Ok(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?)
}

/// Rings eventfd `fd` (adds 1); returns whether the write went through.
pub(crate) fn ring(fd: &OwnedFd) -> bool {
    matches!(
        rustix::io::write(fd, &RING.to_ne_bytes()),
        Ok(MESSAGE_BYTES)
    )
}

/// Reads and discards the count of non-blocking eventfd `fd`; returns whether it was rung.
fn drain(fd: &OwnedFd) -> bool {
    let mut count = [0; MESSAGE_BYTES];
    matches!(rustix::io::read(fd, &mut count), Ok(MESSAGE_BYTES))
}

/// Sends one message: `value` as 8 little-endian bytes, with `fd` by `SCM_RIGHTS`.
fn send(stream: &UnixStream, value: i64, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let bytes = value.to_le_bytes();
    let fds = fd.as_slice();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("no room for a descriptor in the message"));
    }
    loop {
        // NOSIGNAL: a client gone already is an EPIPE error, not a SIGPIPE.
        match sendmsg(
            stream,
            &[IoSlice::new(&bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(sent) if sent == bytes.len() => return Ok(()),
            Ok(sent) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    format!("sent {sent} of a message's {MESSAGE_BYTES} bytes"),
                ));
            }
            Err(Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

/// Removes a socket file at `path` that nobody listens on any more.
///
/// Returns an error if `path` is another kind of file, or if a server answers there.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            ErrorKind::AddrInUse,
            format!("a server is listening on {} already", path.display()),
        )),
        Err(_) => fs::remove_file(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_run_from_1_to_65535_and_wrap_past_0() {
        assert_eq!(next_peer_id(FIRST_CLIENT_ID), 2);
        assert_eq!(next_peer_id(65534), 65535);
        assert_eq!(next_peer_id(u16::MAX), FIRST_CLIENT_ID);
        assert_ne!(next_peer_id(u16::MAX), BACKEND_PEER_ID);
    }

    #[test]
    fn an_eventfd_rings_once_and_drains() {
        let fd = new_eventfd().unwrap();
        assert!(!drain(&fd), "a fresh eventfd is not rung");
        assert!(ring(&fd) && ring(&fd));
        assert!(drain(&fd), "two rings read as one count");
        assert!(!drain(&fd));
    }

    #[test]
    fn a_message_to_a_client_gone_is_an_error_not_a_signal() {
        let (server_end, client_end) = UnixStream::pair().unwrap();
        drop(client_end);
        let error = send(&server_end, PROTOCOL_VERSION, None).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BrokenPipe);
        let fd = new_eventfd().unwrap();
        assert!(send(&server_end, 0, Some(fd.as_fd())).is_err());
    }

    #[test]
    fn a_failed_handshake_is_counted_and_the_next_client_is_served() {
        let directory = tempfile::tempdir().unwrap();
        let memory = tempfile::tempfile().unwrap();
        let shared = Arc::new(Shared::new().unwrap());
        let mut acceptor = Acceptor {
            listener: UnixListener::bind(directory.path().join("socket")).unwrap(),
            backend: None,
            shared_memory: OwnedFd::from(memory),
            shared: Arc::clone(&shared),
            connection: None,
            next_id: FIRST_CLIENT_ID,
            log: Log::default(),
        };
        let (gone, client_end) = UnixStream::pair().unwrap();
        drop(client_end);
        acceptor.admit(gone);
        assert_eq!(shared.failed.load(Ordering::Relaxed), 1);
        assert!(acceptor.connection.is_none() && shared.guest().is_none());
        let (server_end, client_end) = UnixStream::pair().unwrap();
        acceptor.admit(server_end);
        assert_eq!(shared.guest().as_ref().map(|guest| guest.id), Some(2));
        drop(client_end);
        acceptor.check_connection();
        assert!(shared.guest().is_none(), "forgotten at end of file");
        assert_eq!(shared.disconnected.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_log_says_a_repeated_message_once() {
        let mut log = Log::default();
        log.say("a".into());
        log.say("a".into());
        assert_eq!(log.last.as_deref(), Some("a"));
        log.say("b".into());
        assert_eq!(log.last.as_deref(), Some("b"));
    }
}
