//! The backend's ivshmem server against a fake QEMU: the handshake, both doorbells, one guest at a time.
//!
//! The fake QEMU connects to the server's socket and takes its messages with
//! recvmsg and `SCM_RIGHTS`, as QEMU's `ivshmem-doorbell` does; then, as the guest,
//! it maps the shared file it was given, drives the backend through a [`Client`] over
//! that mapping, rings the backend's eventfd and polls its own. A stand-in
//! [`Doorbell`] checks by hand-stepping when the backend rings. Every wait has a
//! generous timeout and nothing asserts on latency; a vector that must stay quiet is
//! watched for [`QUIET`] (too short a watch can only miss a failure, never invent one).

use std::{
    fs::{self, File},
    io::{IoSliceMut, Write},
    mem::MaybeUninit,
    os::{
        fd::{AsFd, OwnedFd},
        unix::net::{UnixListener, UnixStream},
    },
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use rustix::{
    event::{PollFd, PollFlags, Timespec, poll},
    net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, recvmsg},
};
use tensor_backend::{
    Backend, Client, Config, Doorbell, DoorbellPeer, DoorbellServer, SharedFile, Step,
    doorbell::REFUSED_VERSION,
};
use tensor_ring::{
    CompletionConsumer, Descriptor, FLAG_NOTIFY, Limits, Op, Outcome, Refusal, Region, SharedWords,
    SubmissionProducer,
    layout::{MAGIC, field},
    reference::{self, Shape},
};

/// The timeout of every wait that should end: generous, since debug builds are slow.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How long a vector that must not be rung is watched.
const QUIET: Duration = Duration::from_millis(200);

/// The region's size (a power of two, as QEMU maps it as a BAR).
const REGION_BYTES: u64 = 1 << 20;

/// Descriptors one message may carry in these tests: more than the one expected,
/// so an extra one would be seen rather than cut off.
const MAX_FDS: usize = 4;

/// The backend's configuration in these tests.
fn config() -> Config {
    Config {
        threads: 1,
        limits: Limits::DEFAULT,
        submission_slots: 8,
        completion_slots: 8,
    }
}

/// Sets the stop flag when dropped, so a failing test body stops the backend.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs a backend with a doorbell server on a socket in a temporary directory while
/// `body` plays QEMU and the guest against it (given the socket's path and the server).
fn with_backend(body: impl FnOnce(&Path, &DoorbellServer)) {
    let directory = tempfile::tempdir().unwrap();
    let socket = directory.path().join("tensor0.sock");
    let file = SharedFile::create(&directory.path().join("tensor0"), REGION_BYTES).unwrap();
    let server = Arc::new(DoorbellServer::listen(&socket, &file).expect("server listens"));
    let mut backend = Backend::start_with_doorbell(file.region(), config(), server.clone())
        .expect("backend starts");
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let running = scope.spawn(|| backend.run(&stop));
        let stopper = StopOnDrop(&stop);
        body(&socket, &server);
        drop(stopper);
        running
            .join()
            .expect("backend thread")
            .expect("backend runs");
    });
}

/// Connects to the server at `socket` like QEMU's chardev, with a read timeout.
fn connect(socket: &Path) -> UnixStream {
    let stream = UnixStream::connect(socket).expect("connects");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Returns the next message (its value and the descriptors with it), or `None` at
/// end of file.
fn receive(stream: &UnixStream) -> Option<(i64, Vec<OwnedFd>)> {
    let mut bytes = [0; 8];
    let mut fds = Vec::new();
    let mut filled = 0;
    while filled < bytes.len() {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = recvmsg(
            stream,
            &mut [IoSliceMut::new(&mut bytes[filled..])],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .expect("a message within the timeout");
        assert!(
            !received.flags.contains(ReturnFlags::CTRUNC),
            "descriptors cut off"
        );
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        if received.bytes == 0 {
            assert_eq!(filled, 0, "end of file inside a message");
            assert!(fds.is_empty());
            return None;
        }
        filled += received.bytes;
    }
    Some((i64::from_le_bytes(bytes), fds))
}

/// Returns the one descriptor of a message, checking there is exactly one.
fn one(mut fds: Vec<OwnedFd>, what: &str) -> OwnedFd {
    assert_eq!(fds.len(), 1, "{what}: one vector, one descriptor");
    fds.pop().unwrap()
}

/// What a fake QEMU holds after the handshake.
struct Qemu {
    stream: UnixStream,
    id: i64,
    /// The region as the guest sees it, mapped from the descriptor received.
    memory: SharedFile,
    /// Writing 1 rings the backend (peer 0, vector 0).
    backend_vector: OwnedFd,
    /// Readable when the backend rings the guest (vector 0).
    own_vector: OwnedFd,
}

/// Connects to `socket` and checks the whole handshake of protocol version 0.
fn handshake(socket: &Path) -> Qemu {
    let stream = connect(socket);
    let (version, fds) = receive(&stream).expect("a version message");
    assert_eq!((version, fds.len()), (0, 0), "version 0, no descriptor");
    let (id, fds) = receive(&stream).expect("an ID message");
    assert!(fds.is_empty(), "no descriptor with the ID");
    assert!(
        (1..=65535).contains(&id),
        "ID {id}: not the backend's 0, 16 bits"
    );
    let (message, fds) = receive(&stream).expect("the shared memory");
    assert_eq!(message, -1);
    let shared_memory = one(fds, "shared memory");
    let stat = rustix::fs::fstat(&shared_memory).unwrap();
    assert_eq!(stat.st_size as u64, REGION_BYTES, "the whole region");
    let memory = SharedFile::map(File::from(shared_memory)).expect("maps");
    assert_eq!(memory.region().read_u32(field::MAGIC), Ok(MAGIC));
    let (peer, fds) = receive(&stream).expect("the backend's vector");
    assert_eq!(peer, 0, "the backend is peer 0");
    let backend_vector = one(fds, "peer 0");
    let (own, fds) = receive(&stream).expect("the client's own vector");
    assert_eq!(own, id, "interrupt setup names the client itself");
    let own_vector = one(fds, "own vector");
    Qemu {
        stream,
        id,
        memory,
        backend_vector,
        own_vector,
    }
}

/// Rings eventfd `fd` as the ivshmem device does (writes 1).
fn ring(fd: &impl AsFd) {
    assert_eq!(rustix::io::write(fd, &1u64.to_ne_bytes()), Ok(8));
}

/// Waits up to `timeout` for eventfd `fd` to be rung; returns whether it was, and
/// clears it if so.
fn rung(fd: &impl AsFd, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&Timespec::try_from(left).unwrap())) {
            Ok(0) => return false,
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => panic!("poll: {error}"),
        }
    }
    let mut count = [0; 8];
    assert_eq!(rustix::io::read(fd, &mut count), Ok(8));
    assert!(u64::from_ne_bytes(count) >= 1);
    true
}

/// Checks that the server refuses the client on `stream`: a version that is none,
/// no descriptor, then end of file.
fn refused(stream: &UnixStream) {
    let (version, fds) = receive(stream).expect("a refusal");
    assert_eq!((version, fds.len()), (REFUSED_VERSION, 0));
    assert!(receive(stream).is_none(), "closed after the refusal");
}

/// Waits until `check` holds, failing after [`TIMEOUT`].
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The 2x3 by 3x2 f32 product of these tests, A at 0, B at 64, C at 128.
const SHAPE: Shape = Shape { m: 2, k: 3, n: 2 };
const A: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
const B: [f32; 6] = [0.5, -1.0, 2.0, 0.25, -3.0, 1.0];

/// Returns the product's descriptor with `flags`.
fn matmul(flags: u32) -> Descriptor {
    Descriptor {
        flags,
        ..Descriptor::matmul(Op::MatmulF32, 0, [2, 3, 2], [0, 64, 128])
    }
}

/// Submits the product with `FLAG_NOTIFY`, rings the backend, waits to be rung and
/// checks the answer.
fn notified_matmul(client: &mut Client<SharedWords<'_>>, qemu: &Qemu) {
    client.write_f32s(0, &A).unwrap();
    client.write_f32s(64, &B).unwrap();
    client.write_f32s(128, &[f32::NAN; 4]).unwrap();
    let sequence = client.submit(matmul(FLAG_NOTIFY), TIMEOUT).unwrap();
    ring(&qemu.backend_vector);
    assert!(rung(&qemu.own_vector, TIMEOUT), "the guest was not rung");
    let completion = client.wait(sequence, TIMEOUT).unwrap();
    assert_eq!(completion.outcome(), Outcome::Ok);
    let mut expected = vec![0.0; 4];
    reference::matmul_f32(SHAPE, &A, &B, &mut expected).unwrap();
    assert_eq!(
        client.read_f32s(128, 4).unwrap(),
        expected,
        "exact: small integers and halves"
    );
}

#[test]
fn a_guest_gets_the_handshake_and_is_rung_after_notify_jobs_only() {
    with_backend(|socket, server| {
        let qemu = handshake(socket);
        assert_eq!(qemu.id, 1, "the first client");
        let mut client = Client::connect(qemu.memory.region(), TIMEOUT).unwrap();
        assert_eq!(client.doorbell(), Ok(1), "peer 0, plus 1");
        notified_matmul(&mut client, &qemu);
        // A refused descriptor that asked to be rung is rung too.
        let refused = client.call(matmul(FLAG_NOTIFY | 1 << 1), TIMEOUT).unwrap();
        assert_eq!(refused.outcome(), Outcome::Refused(Refusal::UnknownFlags));
        assert!(
            rung(&qemu.own_vector, TIMEOUT),
            "a refusal with NOTIFY rings"
        );
        // Without the flag: answered, never rung.
        for descriptor in [matmul(0), Descriptor::nop(0)] {
            let completion = client.call(descriptor, TIMEOUT).unwrap();
            assert_eq!(completion.outcome(), Outcome::Ok);
            assert!(!rung(&qemu.own_vector, QUIET), "rung without NOTIFY");
        }
        assert_eq!(server.guest(), Some(1));
        assert_eq!(server.stats().served, 1);
    });
}

#[test]
fn the_server_alone_rings_its_guest_and_wakes_on_the_guests_ring() {
    let directory = tempfile::tempdir().unwrap();
    let socket = directory.path().join("tensor0.sock");
    let file = SharedFile::create(&directory.path().join("tensor0"), REGION_BYTES).unwrap();
    let server = DoorbellServer::listen(&socket, &file).unwrap();
    // A header for the handshake's check, from a backend that is never stepped.
    let _backend = Backend::start(file.region(), config()).unwrap();
    assert_eq!(server.peer_id(), 0);
    assert!(!server.ring_guest(), "no guest, nobody rung");
    assert!(!server.wait_for_doorbell(Duration::from_millis(10)));
    let qemu = handshake(&socket);
    // The guest is recorded once its handshake is sent: the client may read it first.
    eventually("the guest recorded", || server.guest() == Some(1));
    assert!(server.ring_guest());
    assert!(rung(&qemu.own_vector, TIMEOUT));
    ring(&qemu.backend_vector);
    ring(&qemu.backend_vector);
    assert!(server.wait_for_doorbell(TIMEOUT), "rung by the guest");
    assert!(
        !server.wait_for_doorbell(Duration::from_millis(10)),
        "two rings were drained as one"
    );
}

#[test]
fn a_second_client_is_refused_while_the_first_is_served() {
    with_backend(|socket, server| {
        let first = handshake(socket);
        let mut client = Client::connect(first.memory.region(), TIMEOUT).unwrap();
        refused(&connect(socket));
        assert_eq!(server.stats().refused, 1);
        notified_matmul(&mut client, &first);
        assert_eq!(server.guest(), Some(1));
    });
}

#[test]
fn a_guest_that_goes_away_is_forgotten_and_the_next_one_gets_id_2() {
    with_backend(|socket, server| {
        let file = {
            let first = handshake(socket);
            let mut client = Client::connect(first.memory.region(), TIMEOUT).unwrap();
            notified_matmul(&mut client, &first);
            std::fs::File::from(first.memory.as_fd().try_clone_to_owned().unwrap())
            // QEMU exits: its socket, mapping and eventfds close.
        };
        // Without a guest the header says no doorbells (a restarted server would have
        // none either: QEMU reads a server's handshake once).
        let watcher = SharedFile::map(file).unwrap();
        eventually("DOORBELL 0 without a guest", || {
            watcher.region().read_u32(field::DOORBELL) == Ok(0)
        });
        let second = handshake(socket);
        assert_eq!(second.id, 2);
        let stats = server.stats();
        assert_eq!((stats.served, stats.disconnected, stats.refused), (2, 1, 0));
        // A rebooted guest resets the rings and is served in full.
        let mut client = Client::connect(second.memory.region(), TIMEOUT).unwrap();
        notified_matmul(&mut client, &second);
        assert_eq!(server.guest(), Some(2));
    });
}

#[test]
fn clients_that_leave_mid_handshake_or_send_garbage_do_not_stop_the_server() {
    with_backend(|socket, server| {
        // One reads the version and leaves; one leaves without reading anything.
        let early = connect(socket);
        assert_eq!(receive(&early).map(|(value, _)| value), Some(0));
        drop(early);
        drop(connect(socket));
        // One talks although the protocol is one-way.
        let mut chatty = handshake(socket);
        assert_eq!(chatty.id, 3, "each accepted client took an ID");
        chatty.stream.write_all(&[0xAB; 10_000]).unwrap();
        chatty.stream.write_all(b"\0\0\0\0\0\0\0\0").unwrap();
        {
            let mut client = Client::connect(chatty.memory.region(), TIMEOUT).unwrap();
            notified_matmul(&mut client, &chatty);
        }
        // Still the guest: a newcomer is refused, so the accept thread runs.
        refused(&connect(socket));
        assert_eq!(server.guest(), Some(3));
        drop(chatty);
        let last = handshake(socket);
        assert_eq!(last.id, 4);
        let mut client = Client::connect(last.memory.region(), TIMEOUT).unwrap();
        notified_matmul(&mut client, &last);
        let stats = server.stats();
        assert_eq!(stats.served + stats.failed, 4, "{stats:?}");
        assert_eq!(stats.refused, 1);
    });
}

#[test]
fn listen_replaces_a_stale_socket_refuses_other_files_and_drop_removes_its_socket() {
    let directory = tempfile::tempdir().unwrap();
    let file = SharedFile::create(&directory.path().join("tensor0"), REGION_BYTES).unwrap();
    let socket = directory.path().join("tensor0.sock");
    // A socket file left behind by a server that died.
    drop(UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let server = DoorbellServer::listen(&socket, &file).expect("a stale socket is replaced");
    let error = DoorbellServer::listen(&socket, &file).expect_err("a live server is not");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    drop(server);
    assert!(!socket.exists(), "the socket file goes with the server");
    let regular = directory.path().join("notes.txt");
    fs::write(&regular, "keep me").unwrap();
    let error = DoorbellServer::listen(&regular, &file).expect_err("not a socket");
    assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(fs::read_to_string(&regular).unwrap(), "keep me");
}

/// A doorbell that counts the backend's rings.
#[derive(Debug, Default)]
struct Counting {
    rings: AtomicU32,
}

impl Doorbell for Counting {
    fn peer_id(&self) -> u16 {
        5
    }

    fn ring_guest(&self) -> bool {
        self.rings.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn wait_for_doorbell(&self, _: Duration) -> bool {
        false
    }
}

#[test]
fn stepped_by_hand_the_backend_rings_after_each_notify_completion() {
    let memory: Vec<AtomicU32> = (0..REGION_BYTES / 4).map(|_| AtomicU32::new(0)).collect();
    let doorbell = Arc::new(Counting::default());
    let mut backend =
        Backend::start_with_doorbell(SharedWords::new(&memory), config(), doorbell.clone())
            .unwrap();
    let mut guest = SharedWords::new(&memory);
    assert_eq!(guest.read_u32(field::DOORBELL), Ok(6), "peer 5, plus 1");
    let layout = *backend.layout();
    let mut submissions = SubmissionProducer::new(&layout);
    let mut completions = CompletionConsumer::new(&layout);
    let cases = [
        (
            Descriptor {
                flags: FLAG_NOTIFY,
                ..Descriptor::nop(1)
            },
            Outcome::Ok,
            1,
        ),
        (Descriptor::nop(2), Outcome::Ok, 1),
        (
            Descriptor {
                flags: FLAG_NOTIFY | 1 << 3,
                ..Descriptor::nop(3)
            },
            Outcome::Refused(Refusal::UnknownFlags),
            2,
        ),
        (
            Descriptor {
                op: 99,
                ..Descriptor::nop(4)
            },
            Outcome::Refused(Refusal::UnknownOp),
            2,
        ),
        (
            Descriptor {
                sequence: 5,
                ..matmul(FLAG_NOTIFY)
            },
            Outcome::Ok,
            3,
        ),
    ];
    for (descriptor, outcome, rings) in cases {
        assert!(submissions.push(&mut guest, &descriptor).unwrap());
        let Step::Served(completion) = backend.step().unwrap() else {
            panic!("{descriptor:?} not served");
        };
        assert_eq!(
            (completion.sequence, completion.outcome()),
            (descriptor.sequence, outcome)
        );
        assert_eq!(
            doorbell.rings.load(Ordering::Relaxed),
            rings,
            "{descriptor:?}"
        );
        assert_eq!(completions.pop(&mut guest).unwrap(), Some(completion));
    }
    assert_eq!(backend.step(), Ok(Step::Idle));
    assert_eq!(
        doorbell.rings.load(Ordering::Relaxed),
        3,
        "idle steps ring nobody"
    );
}

#[test]
fn without_a_doorbell_the_header_says_none() {
    let memory: Vec<AtomicU32> = (0..REGION_BYTES / 4).map(|_| AtomicU32::new(0)).collect();
    // Left over from an earlier backend with doorbells.
    memory[field::DOORBELL / 4].store(1, Ordering::Relaxed);
    let _backend = Backend::start(SharedWords::new(&memory), config()).unwrap();
    assert_eq!(SharedWords::new(&memory).read_u32(field::DOORBELL), Ok(0));
}

/// Runs a backend on the file at `path` with the doorbells of `peer` while `body`
/// plays the guest; stops it (and drops the peer, closing its connection) after.
fn serve_with_peer(path: &Path, peer: DoorbellPeer, body: impl FnOnce()) {
    let file = SharedFile::create(path, REGION_BYTES).unwrap();
    let mut backend = Backend::start_with_doorbell(file.region(), config(), Arc::new(peer))
        .expect("backend starts");
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let running = scope.spawn(|| backend.run(&stop));
        let stopper = StopOnDrop(&stop);
        body();
        drop(stopper);
        running
            .join()
            .expect("backend thread")
            .expect("backend runs");
    });
}

#[test]
fn a_backend_restarted_behind_a_standalone_server_gets_the_same_doorbells() {
    let directory = tempfile::tempdir().unwrap();
    let socket = directory.path().join("tensor0.sock");
    let backend_socket = directory.path().join("tensor0.backend.sock");
    let path = directory.path().join("tensor0");
    let file = SharedFile::create(&path, REGION_BYTES).unwrap();
    let server =
        DoorbellServer::listen_with_backend_socket(&socket, &backend_socket, &file).unwrap();
    assert_eq!(server.backend_path(), Some(backend_socket.as_path()));
    // The first backend starts before QEMU: no guest to ring yet.
    let first = DoorbellPeer::connect(&backend_socket).expect("the first backend connects");
    assert!(!first.has_guest());
    let error = DoorbellPeer::connect(&backend_socket).expect_err("one backend at a time");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    let mut qemu = None;
    serve_with_peer(&path, first, || {
        let guest = handshake(&socket);
        let mut client = Client::connect(guest.memory.region(), TIMEOUT).unwrap();
        // The backend learns of the guest from the server and says doorbells.
        eventually("DOORBELL 1 once the guest is there", || {
            client.doorbell() == Ok(1)
        });
        notified_matmul(&mut client, &guest);
        qemu = Some(guest);
    });
    let qemu = qemu.expect("the guest stays connected");
    // The backend died; QEMU is still connected with the eventfds of its handshake.
    let second = DoorbellPeer::connect(&backend_socket).expect("the restarted backend connects");
    assert_eq!(
        second.guest().map(i64::from),
        Some(qemu.id),
        "the guest, in the handshake"
    );
    serve_with_peer(&path, second, || {
        let mut client = Client::connect(qemu.memory.region(), TIMEOUT).unwrap();
        assert_eq!(
            client.doorbell(),
            Ok(1),
            "doorbells at once after the restart"
        );
        notified_matmul(&mut client, &qemu);
    });
    let stats = server.stats();
    assert_eq!((stats.backends_served, stats.backends_refused), (2, 1));
    assert_eq!((stats.served, stats.refused), (1, 0));
    // QEMU exits: a backend connected now has no guest.
    drop(qemu);
    eventually("the guest forgotten", || server.guest().is_none());
    let third = DoorbellPeer::connect(&backend_socket).unwrap();
    assert!(!third.has_guest());
    drop(third);
    drop(server);
    assert!(
        !socket.exists() && !backend_socket.exists(),
        "both sockets removed"
    );
}

#[test]
fn a_peer_is_told_when_the_guest_comes_and_goes_and_survives_its_server() {
    let directory = tempfile::tempdir().unwrap();
    let socket = directory.path().join("tensor0.sock");
    let backend_socket = directory.path().join("tensor0.backend.sock");
    let file = SharedFile::create(&directory.path().join("tensor0"), REGION_BYTES).unwrap();
    let server =
        DoorbellServer::listen_with_backend_socket(&socket, &backend_socket, &file).unwrap();
    let _backend = Backend::start(file.region(), config()).unwrap();
    let peer = DoorbellPeer::connect(&backend_socket).unwrap();
    for expected_id in [1, 2] {
        let qemu = handshake(&socket);
        assert_eq!(qemu.id, expected_id);
        eventually("the peer told of the guest", || {
            peer.guest().map(i64::from) == Some(qemu.id)
        });
        assert!(peer.ring_guest());
        assert!(rung(&qemu.own_vector, TIMEOUT), "the peer rings the guest");
        ring(&qemu.backend_vector);
        assert!(peer.wait_for_doorbell(TIMEOUT), "the guest rings the peer");
        drop(qemu);
        eventually("the peer told the guest left", || peer.guest().is_none());
        assert!(!peer.ring_guest());
    }
    drop(server);
    assert!(!peer.has_guest());
    assert!(!peer.wait_for_doorbell(Duration::from_millis(10)));
}
