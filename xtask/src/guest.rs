//! A running kernel under QEMU that the host drives: serial in and out, QMP, a deadline.
//!
//! Used by `cargo xtask screenshot` and by the host-driven steps of `cargo xtask test`
//! (screenshots, the scripted shell). The guest's COM1 is QEMU's stdio: bytes written
//! to QEMU's stdin reach the kernel's serial port, and everything the kernel prints is
//! collected from QEMU's stdout. Dropping a [`Guest`] kills QEMU.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use boot::Firmware;

use crate::{
    Result, boot_options,
    cargo::{self, Metadata, Profile},
    prereq,
    qemu::{Accel, Display, Outcome, QemuConfig},
    qmp::Qmp,
};

/// QEMU device id given to the virtio-gpu device, for `screendump`.
pub const GPU_DEVICE_ID: &str = "gpu0";
/// How often output is checked while waiting for a pattern.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What display hardware the guest gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// The default VGA plus a `virtio-gpu-pci` device (id [`GPU_DEVICE_ID`]).
    VirtioGpu,
    /// Only the default VGA: the kernel draws on the bootloader's framebuffer.
    FramebufferOnly,
}

/// Builds the main kernel (and agent programs) and its disk image for `firmware`;
/// returns the image path.
pub fn build_image(root: &Path, firmware: Firmware, directory: &str) -> Result<PathBuf> {
    let metadata = Metadata::load(root)?;
    let profile = Profile::from_release_flag(false);
    let kernel = cargo::build_kernel(root, &metadata, profile)?;
    let agents = cargo::build_agents(root, &metadata, profile)?;
    let out = metadata.target_dir.join(directory).join(profile.dir_name());
    let image = out.join(firmware.image_name());
    boot_options::image_builder(&kernel, &[], &agents, &out.join("ramdisk.tar"))?
        .build(firmware, &image)?;
    Ok(image)
}

/// A QEMU process with its serial output being collected.
pub struct Guest {
    child: Child,
    stdin: ChildStdin,
    output: Arc<Mutex<Vec<u8>>>,
    /// Where in the output the next [`Guest::wait_for`] starts looking.
    cursor: usize,
    qmp_socket: PathBuf,
    deadline: Instant,
}

impl Guest {
    /// Boots `image` under `firmware` headless, with `screen`, a QMP socket, and a
    /// deadline `timeout` from now for everything this guest does.
    pub fn start(
        image: &Path,
        firmware: Firmware,
        screen: Screen,
        timeout: Duration,
    ) -> Result<Self> {
        let qemu = prereq::require_qemu()?;
        let ovmf = match firmware {
            Firmware::Uefi => Some(prereq::require_ovmf()?),
            Firmware::Bios => None,
        };
        let qmp_socket = image.with_extension(format!("{firmware}.qmp"));
        let _ = std::fs::remove_file(&qmp_socket);
        let mut extra_args = vec![
            "-qmp".to_owned(),
            format!("unix:{},server=on,wait=off", qmp_socket.display()),
        ];
        if screen == Screen::VirtioGpu {
            extra_args.extend([
                "-device".to_owned(),
                format!("virtio-gpu-pci,id={GPU_DEVICE_ID}"),
            ]);
        }
        let config = QemuConfig {
            qemu,
            image: image.to_path_buf(),
            firmware,
            ovmf,
            memory: crate::qemu::TEST_MEMORY.to_owned(),
            accel: Accel::Tcg,
            display: Display::None,
            gdb: false,
            extra_args,
        };
        let mut command: Command =
            config.command(&image.with_extension(format!("{firmware}.vars.fd")))?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start QEMU: {error}"))?;
        let stdin = child.stdin.take().ok_or("QEMU has no stdin")?;
        let output = Arc::new(Mutex::new(Vec::new()));
        // The readers' end-of-pipe signals are not needed here: the session
        // ends by its own deadline or by `shutdown`.
        let (finished, _) = mpsc::channel();
        crate::qemu::spawn_readers(&mut child, &output, &finished);
        Ok(Self {
            child,
            stdin,
            output,
            cursor: 0,
            qmp_socket,
            deadline: Instant::now() + timeout,
        })
    }

    /// Returns everything the guest printed so far.
    pub fn output(&self) -> String {
        let bytes = self
            .output
            .lock()
            .map(|bytes| bytes.clone())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits until `pattern` appears after the cursor; returns the text from the cursor
    /// to the end of the match and moves the cursor past it. Fails at the deadline or
    /// when QEMU exits first.
    pub fn wait_for(&mut self, pattern: &str) -> Result<String> {
        loop {
            let output = self.output();
            let start = self.cursor.min(output.len());
            if let Some(position) = output.get(start..).and_then(|rest| rest.find(pattern)) {
                let end = start + position + pattern.len();
                self.cursor = end;
                return Ok(output[start..end].to_owned());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "QEMU ended ({}) before `{pattern}` appeared",
                    Outcome::from_status(status).describe()
                )
                .into());
            }
            if Instant::now() >= self.deadline {
                return Err(format!("timed out waiting for `{pattern}`").into());
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Types `text` on the guest's serial port.
    pub fn send(&mut self, text: &str) -> Result<()> {
        self.stdin.write_all(text.as_bytes())?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Waits for QEMU to exit (until the deadline); returns how it ended.
    pub fn wait_exit(&mut self) -> Result<Outcome> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Outcome::from_status(status));
            }
            if Instant::now() >= self.deadline {
                return Err("timed out waiting for QEMU to exit".into());
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Connects to the guest's QMP socket.
    pub fn qmp(&self) -> Result<Qmp> {
        Qmp::connect(&self.qmp_socket)
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        // QEMU may have exited already; either way it is gone afterwards.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.qmp_socket);
    }
}
