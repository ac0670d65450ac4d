//! virtio-gpu: the device comes up, the dashboard draws on it and only damaged rectangles are flushed.
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
    kernel_tests::start(boot_info, "display_virtio_gpu");
    if GpuScreen::find().is_none() {
        testing::fail("no virtio-gpu function in the PCI list");
    }
    let policy = task::policy_by_name("round-robin").expect("built-in policy");
    task::init(policy);
    let Some(display) = Display::open() else {
        testing::fail("no display opened");
    };
    if display.backend() != BackendKind::VirtioGpu {
        testing::fail("the display did not choose virtio-gpu");
    }
    let (width, height) = display.dimensions();
    if width == 0 || height == 0 {
        testing::fail("virtio-gpu reported an empty scanout");
    }
    let mut dashboard = Dashboard::new(display);
    let first = dashboard.display_mut().stats();
    if first.rectangles == 0 || first.errors != 0 {
        testing::fail("the first frame was not flushed cleanly");
    }
    dashboard.refresh();
    let before = dashboard.display_mut().stats();
    let sent = dashboard.refresh();
    let after = dashboard.display_mut().stats();
    if after.errors != 0 {
        testing::fail("the device refused a flush");
    }
    let screen_pixels = (width * height) as u64;
    let refreshed_pixels = after.pixels - before.pixels;
    if sent == 0 || refreshed_pixels == 0 || refreshed_pixels >= screen_pixels {
        testing::fail("a refresh should flush some, not all, of the screen");
    }
    let layout = *dashboard.layout();
    let checks = [
        (
            "title",
            layout.title.top_left + Point::new(layout.title.size.width as i32 - 2, 1),
            layout::TITLE_BACKGROUND,
        ),
        (
            "agents header",
            layout.agents.top_left + Point::new(layout.agents.size.width as i32 - 2, 1),
            layout::HEADER_BACKGROUND,
        ),
        (
            "memory header",
            layout.memory.top_left + Point::new(layout.memory.size.width as i32 - 2, 1),
            layout::HEADER_BACKGROUND,
        ),
    ];
    for (what, point, colour) in checks {
        let found = dashboard
            .display_mut()
            .pixel(point.x as usize, point.y as usize);
        if found != Some(colour) {
            log::error!("{what} at {point:?}: {found:?}, expected {colour:?}");
            testing::fail("a dashboard pixel has the wrong colour in the backing memory");
        }
    }
    log::info!(
        "virtio-gpu {width}x{height}: {sent} rectangles, {refreshed_pixels} of {screen_pixels} pixels in a refresh"
    );
    testing::pass()
}
