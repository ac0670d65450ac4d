//! The host-driven QEMU steps of `cargo xtask test`: screenshots checked pixel by pixel
//! and the scripted shell session, each counted in the same tally as the test kernels.
//!
//! They boot the real kernel binary (not a test kernel) and talk to it from the host:
//! through QMP for screenshots, through the serial port for the shell. Each step has its
//! own deadline and fails with the reason and the tail of the guest's output.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use boot::Firmware;

use crate::{
    Result, guest,
    guest::Screen,
    screenshot::{check_dashboard, take},
    shell_test,
};

/// One host-driven step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Screenshot of the dashboard on virtio-gpu.
    ScreenshotVirtioGpu,
    /// Screenshot of the dashboard on the boot framebuffer (no virtio-gpu device).
    ScreenshotFramebuffer,
    /// The scripted shell session over serial.
    Shell,
}

impl Step {
    const ALL: [Self; 3] = [
        Self::ScreenshotVirtioGpu,
        Self::ScreenshotFramebuffer,
        Self::Shell,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::ScreenshotVirtioGpu => "screenshot-virtio-gpu",
            Self::ScreenshotFramebuffer => "screenshot-framebuffer",
            Self::Shell => "shell",
        }
    }
}

/// Runs every selected step under every firmware in `firmwares`; calls `record` with
/// each item's name and verdict.
pub fn run_all(
    root: &Path,
    firmwares: &[Firmware],
    wanted: &dyn Fn(&str) -> bool,
    record: &mut dyn FnMut(&str, bool),
) {
    for firmware in firmwares {
        let steps: Vec<(Step, String)> = Step::ALL
            .into_iter()
            .map(|step| (step, format!("qemu-host::{} [{firmware}]", step.name())))
            .filter(|(_, name)| wanted(name))
            .collect();
        if steps.is_empty() {
            continue;
        }
        let image = match guest::build_image(root, *firmware, "xtask-host-test") {
            Ok(image) => image,
            Err(error) => {
                for (_, name) in &steps {
                    println!("test {name} ... FAILED (cannot build the kernel image: {error})");
                    record(name, false);
                }
                continue;
            }
        };
        let out_dir = image.parent().unwrap_or(Path::new(".")).to_path_buf();
        for (step, name) in steps {
            let start = Instant::now();
            let result = run_step(step, &image, *firmware, &out_dir);
            let elapsed = seconds(start.elapsed());
            match &result {
                Ok(note) => println!("test {name} ... ok ({note}{elapsed})"),
                Err(error) => {
                    println!("test {name} ... FAILED ({elapsed})\n---- {name} ----\n{error}\n----")
                }
            }
            record(&name, result.is_ok());
        }
    }
}

fn run_step(step: Step, image: &Path, firmware: Firmware, out_dir: &Path) -> Result<String> {
    match step {
        Step::ScreenshotVirtioGpu | Step::ScreenshotFramebuffer => {
            let screen = if step == Step::ScreenshotVirtioGpu {
                Screen::VirtioGpu
            } else {
                Screen::FramebufferOnly
            };
            let png = out_dir.join(format!("{}-{firmware}.png", step.name()));
            let layout = take(image, firmware, screen, &png)?;
            check_dashboard(&png, &layout)?;
            Ok(format!("{}, ", png.display()))
        }
        Step::Shell => shell_test::session(image, firmware).map(|()| String::new()),
    }
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}
