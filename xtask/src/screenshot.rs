//! `cargo xtask screenshot` and the dashboard check: boot headless, wait for the dashboard,
//! take a PNG through QMP `screendump`, and verify its pixels against the announced layout.
//!
//! The kernel prints its dashboard layout once (`dashboard: layout WxH title=x,y,w,h ...
//! title-colour=rrggbb ...`). [`check_dashboard`] decodes the PNG (`png` crate) and
//! checks, for the title bar and every panel, the colours of pixels the dashboard drew
//! (header strips, bodies), that text was drawn in every panel, and that the reward
//! chart has a line: a blank or foreign picture fails.

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use boot::Firmware;

use crate::{
    Result,
    cargo::Metadata,
    guest::{self, GPU_DEVICE_ID, Guest, Screen},
};

/// How long a screenshot run may take, boot included.
pub const SCREENSHOT_TIMEOUT: Duration = Duration::from_secs(150);
/// The line the kernel logs with its layout.
const LAYOUT_MARKER: &str = "dashboard: layout ";
/// The line the kernel logs once the dashboard has drawn a few frames.
const READY_MARKER: &str = "dashboard: ready";
/// Text pixels a panel must show at least (a few glyphs).
const MIN_TEXT_PIXELS: usize = 20;
/// Chart line pixels the reward chart must show at least.
const MIN_CHART_PIXELS: usize = 2;
/// Panels with a header strip and a body of text.
const PANELS: [&str; 7] = [
    "agents",
    "objectives",
    "scheduler",
    "syscalls",
    "accelerators",
    "memory",
    "shell",
];

/// Arguments of `cargo xtask screenshot`.
#[derive(Debug, clap::Args)]
pub struct ScreenshotArgs {
    /// Where to write the PNG [default: target/screenshots/dashboard-<firmware>.png].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Boot through UEFI (OVMF) instead of legacy BIOS.
    #[arg(long)]
    uefi: bool,
    /// Leave out the virtio-gpu device: the dashboard draws on the boot framebuffer.
    #[arg(long)]
    framebuffer: bool,
}

/// Runs `cargo xtask screenshot`.
pub fn screenshot(root: &Path, args: &ScreenshotArgs) -> Result<()> {
    let firmware = if args.uefi {
        Firmware::Uefi
    } else {
        Firmware::Bios
    };
    let screen = if args.framebuffer {
        Screen::FramebufferOnly
    } else {
        Screen::VirtioGpu
    };
    let out = match &args.out {
        Some(out) => out.clone(),
        None => Metadata::load(root)?
            .target_dir
            .join("screenshots")
            .join(format!("dashboard-{firmware}.png")),
    };
    let image = guest::build_image(root, firmware, "screenshot")?;
    let layout = take(&image, firmware, screen, &out)?;
    check_dashboard(&out, &layout)?;
    println!("{}", out.display());
    Ok(())
}

/// Boots `image`, waits for the dashboard, writes the screen to `out`; returns the
/// layout line the kernel printed.
pub fn take(image: &Path, firmware: Firmware, screen: Screen, out: &Path) -> Result<String> {
    let mut guest = Guest::start(image, firmware, screen, SCREENSHOT_TIMEOUT)?;
    let layout = (|| -> Result<String> {
        guest.wait_for(LAYOUT_MARKER)?;
        let line = guest.wait_for("\n")?;
        guest.wait_for(READY_MARKER)?;
        Ok(line.trim().to_owned())
    })()
    .map_err(|error| format!("{error}\n{}", crate::qemu::tail(&guest.output(), 30)))?;
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent)?;
    }
    let out = std::path::absolute(out)?;
    let device = (screen == Screen::VirtioGpu).then_some(GPU_DEVICE_ID);
    guest.qmp()?.screendump(&out, device)?;
    Ok(layout)
}

/// The decoded picture.
struct Picture {
    width: usize,
    height: usize,
    /// RGB triples, row by row.
    pixels: Vec<[u8; 3]>,
}

impl Picture {
    fn load(path: &Path) -> Result<Self> {
        let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(path)?));
        let mut reader = decoder.read_info()?;
        let mut buffer = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
        let info = reader.next_frame(&mut buffer)?;
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => return Err(format!("unexpected PNG colour type {other:?}").into()),
        };
        if info.bit_depth != png::BitDepth::Eight {
            return Err(format!("unexpected PNG bit depth {:?}", info.bit_depth).into());
        }
        let pixels = buffer[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|pixel| [pixel[0], pixel[1], pixel[2]])
            .collect();
        Ok(Self {
            width: info.width as usize,
            height: info.height as usize,
            pixels,
        })
    }

    fn at(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        (x < self.width && y < self.height).then(|| self.pixels[y * self.width + x])
    }

    fn count(&self, area: Area, colour: [u8; 3]) -> usize {
        (area.y..area.y + area.height)
            .flat_map(|y| (area.x..area.x + area.width).map(move |x| (x, y)))
            .filter(|(x, y)| self.at(*x, *y) == Some(colour))
            .count()
    }
}

/// A rectangle of the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Area {
    x: usize,
    y: usize,
    width: usize,
    height: usize,
}

/// The parsed layout line.
#[derive(Debug, Default)]
struct AnnouncedLayout {
    width: usize,
    height: usize,
    areas: HashMap<String, Area>,
    colours: HashMap<String, [u8; 3]>,
}

fn parse_layout(line: &str) -> Result<AnnouncedLayout> {
    let mut words = line.split_whitespace();
    let size = words.next().ok_or("empty layout line")?;
    let (width, height) = size.split_once('x').ok_or("layout without size")?;
    let mut layout = AnnouncedLayout {
        width: width.parse()?,
        height: height.parse()?,
        ..AnnouncedLayout::default()
    };
    for word in words {
        let Some((name, value)) = word.split_once('=') else {
            continue;
        };
        if let Some(colour) = name.strip_suffix("-colour") {
            let number = u32::from_str_radix(value, 16)?;
            let [_, red, green, blue] = number.to_be_bytes();
            layout.colours.insert(colour.to_owned(), [red, green, blue]);
        } else {
            let numbers: Vec<usize> = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
            let [x, y, width, height] = numbers[..] else {
                return Err(format!("bad area `{word}`").into());
            };
            layout.areas.insert(
                name.to_owned(),
                Area {
                    x,
                    y,
                    width,
                    height,
                },
            );
        }
    }
    Ok(layout)
}

/// Checks the PNG at `path` against the kernel's `layout` line (the text after
/// `dashboard: layout `). Returns a description of the first mismatch.
pub fn check_dashboard(path: &Path, layout: &str) -> Result<()> {
    let layout = parse_layout(layout)?;
    let picture = Picture::load(path)?;
    if (picture.width, picture.height) != (layout.width, layout.height) {
        return Err(format!(
            "screenshot is {}x{}, the dashboard drew {}x{}",
            picture.width, picture.height, layout.width, layout.height
        )
        .into());
    }
    let area = |name: &str| {
        layout
            .areas
            .get(name)
            .copied()
            .ok_or_else(|| format!("layout has no `{name}`"))
    };
    let colour = |name: &str| {
        layout
            .colours
            .get(name)
            .copied()
            .ok_or_else(|| format!("layout has no `{name}-colour`"))
    };
    let expect = |what: &str, x: usize, y: usize, wanted: [u8; 3]| -> Result<()> {
        match picture.at(x, y) {
            Some(found) if found == wanted => Ok(()),
            found => Err(format!("{what} at ({x}, {y}) is {found:?}, expected {wanted:?}").into()),
        }
    };
    let title = area("title")?;
    expect(
        "title bar",
        title.x + title.width - 2,
        title.y + title.height - 2,
        colour("title")?,
    )?;
    let title_text = picture.count(title, colour("text")?);
    if title_text < MIN_TEXT_PIXELS {
        return Err(format!("title bar has {title_text} text pixels").into());
    }
    for name in PANELS {
        let panel = area(name)?;
        let (body, text) = if name == "shell" {
            (colour("shell")?, colour("shell-text")?)
        } else {
            (colour("body")?, colour("text")?)
        };
        let right = panel.x + panel.width - 2;
        expect(
            &format!("{name} header"),
            right,
            panel.y + 1,
            colour("header")?,
        )?;
        expect(
            &format!("{name} body"),
            right,
            panel.y + panel.height - 2,
            body,
        )?;
        let text_pixels = picture.count(panel, text);
        if text_pixels < MIN_TEXT_PIXELS {
            return Err(format!("{name} panel has {text_pixels} text pixels").into());
        }
    }
    let chart_pixels = picture.count(area("chart")?, colour("chart")?);
    if chart_pixels < MIN_CHART_PIXELS {
        return Err(format!("reward chart has {chart_pixels} line pixels").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_lines_parse() {
        let layout =
            parse_layout("1280x800 title=0,0,1280,20 chart=646,180,626,112 title-colour=1f4e8c")
                .unwrap();
        assert_eq!((layout.width, layout.height), (1280, 800));
        assert_eq!(
            layout.areas["chart"],
            Area {
                x: 646,
                y: 180,
                width: 626,
                height: 112
            }
        );
        assert_eq!(layout.colours["title"], [0x1f, 0x4e, 0x8c]);
        assert!(parse_layout("").is_err());
        assert!(parse_layout("1280x800 title=1,2,3").is_err());
    }
}
