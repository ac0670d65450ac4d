//! Without virtio-gpu the same dashboard draws on the bootloader's framebuffer.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use embedded_graphics::prelude::Point;
use kernel::{
    dashboard::{Dashboard, layout},
    display::{BackendKind, Display, gpu::GpuScreen},
    task, testing,
};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "display_framebuffer");
    if GpuScreen::find().is_some() {
        testing::fail("this scenario must run without a virtio-gpu device");
    }
    let policy = task::policy_by_name("round-robin").expect("built-in policy");
    task::init(policy);
    let Some(display) = Display::open() else {
        testing::fail("the framebuffer could not be opened as a display");
    };
    if display.backend() != BackendKind::Framebuffer {
        testing::fail("the display did not fall back to the framebuffer");
    }
    if kernel::console::framebuffer_size().is_some() {
        testing::fail("the text console still draws on the screen the dashboard owns");
    }
    let mut dashboard = Dashboard::new(display);
    dashboard.refresh();
    dashboard.refresh();
    let layout = *dashboard.layout();
    let right = |area: embedded_graphics::primitives::Rectangle| {
        area.top_left + Point::new(area.size.width as i32 - 2, 1)
    };
    let bottom_right = |area: embedded_graphics::primitives::Rectangle| {
        area.top_left + Point::new(area.size.width as i32 - 2, area.size.height as i32 - 2)
    };
    let checks = [
        ("title", right(layout.title), layout::TITLE_BACKGROUND),
        (
            "agents header",
            right(layout.agents),
            layout::HEADER_BACKGROUND,
        ),
        (
            "scheduler header",
            right(layout.scheduler),
            layout::HEADER_BACKGROUND,
        ),
        (
            "syscalls body",
            bottom_right(layout.syscalls),
            layout::BODY_BACKGROUND,
        ),
        (
            "shell body",
            bottom_right(layout.shell),
            layout::SHELL_BACKGROUND,
        ),
    ];
    for (what, point, colour) in checks {
        let found = dashboard
            .display_mut()
            .pixel(point.x as usize, point.y as usize);
        if found != Some(colour) {
            log::error!("{what} at {point:?}: {found:?}, expected {colour:?}");
            testing::fail("a dashboard pixel has the wrong colour in the framebuffer");
        }
    }
    let area = layout.agents;
    let mut text_pixels = 0;
    for y in area.top_left.y..area.top_left.y + area.size.height as i32 {
        for x in area.top_left.x..area.top_left.x + area.size.width as i32 {
            if dashboard.display_mut().pixel(x as usize, y as usize) == Some(layout::TEXT) {
                text_pixels += 1;
            }
        }
    }
    if text_pixels == 0 {
        testing::fail("the agents panel shows no text");
    }
    log::info!(
        "framebuffer dashboard {}: {text_pixels} text pixels in the agents panel",
        layout.describe()
    );
    testing::pass()
}
