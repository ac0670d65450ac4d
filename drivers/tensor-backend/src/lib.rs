//! The host backend of the paravirtual tensor accelerator, and a client to drive it.
//!
//! The guest sees QEMU's `ivshmem-plain` device; its BAR2 is a file on the host
//! (`/dev/shm/tensor0`, say) which this process maps too ([`mapping`]). The backend
//! ([`server`]) polls the submission ring of the `tensor-ring` protocol, validates
//! every descriptor (the guest is untrusted: a malformed entry gets an error
//! completion, never a crash), runs the jobs natively and multi-threaded
//! ([`compute`]: `matrixmultiply`'s GEMM for `f32`, a widening loop for `i8`), and
//! posts completions with its time per job. [`client`] is the guest's side in host
//! Rust, for tests and tools.
//!
//! With doorbells the guest sees QEMU's `ivshmem-doorbell` device instead, which gets
//! the file and its interrupt eventfds from an ivshmem server over a UNIX socket: the
//! backend is that server ([`doorbell`]: the backend is peer 0 with one vector, one
//! guest at a time). An idle backend then sleeps on its eventfd until the guest rings
//! it, and rings the guest after a descriptor flagged `NOTIFY` completes. Doorbells
//! only wake: the rings stay the truth. A backend that is its own server cannot give a
//! running QEMU new eventfds after a restart; the `tensor-doorbell` binary is a server
//! that outlives the backend ([`DoorbellServer::listen_with_backend_socket`]), and a
//! backend connected to it ([`peer`]) gets the same eventfds each time it starts.
//!
//! `unsafe` is denied in the crate and allowed in two small modules only: the
//! mapping's view as atomic words ([`mapping`]) and the call into the GEMM's pointer
//! API ([`sgemm`]), each with its `SAFETY` argument. The doorbell server's eventfds,
//! poll(2) and descriptor passing go through `rustix`'s safe calls.

#![deny(unsafe_code)]

pub mod client;
pub mod compute;
pub mod doorbell;
pub mod mapping;
pub mod peer;
pub mod server;
pub mod sgemm;
pub mod size;

pub use client::{Client, ClientError};
pub use doorbell::{Doorbell, DoorbellServer, DoorbellStats};
pub use mapping::SharedFile;
pub use peer::DoorbellPeer;
pub use server::{Backend, BackendError, Config, Stats, Step};
