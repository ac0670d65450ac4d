//! Where each dashboard panel sits for a given screen size, and the colours it uses.
//!
//! The layout is a pure function of the screen size, printed once at start
//! ([`Layout::describe`]) so a host-side check of a screenshot knows which
//! pixels must carry which colour.

use alloc::{format, string::String};

use embedded_graphics::{
    pixelcolor::Rgb888,
    prelude::{Point, Size},
    primitives::Rectangle,
};

/// Gaps between panels and around the screen.
pub const BACKGROUND: Rgb888 = Rgb888::new(0x10, 0x14, 0x1C);
/// The title bar.
pub const TITLE_BACKGROUND: Rgb888 = Rgb888::new(0x1F, 0x4E, 0x8C);
/// A panel's header strip.
pub const HEADER_BACKGROUND: Rgb888 = Rgb888::new(0x2D, 0x6A, 0x4F);
/// A panel's body.
pub const BODY_BACKGROUND: Rgb888 = Rgb888::new(0x1A, 0x1E, 0x28);
/// Text on headers and bodies.
pub const TEXT: Rgb888 = Rgb888::new(0xE0, 0xE0, 0xE0);
/// The reward chart's line.
pub const CHART_LINE: Rgb888 = Rgb888::new(0xFF, 0xB0, 0x20);
/// The reward chart's background.
pub const CHART_BACKGROUND: Rgb888 = Rgb888::new(0x0C, 0x0C, 0x10);
/// Usage bars.
pub const BAR: Rgb888 = Rgb888::new(0x4F, 0xA3, 0xFF);
/// The shell pane's background.
pub const SHELL_BACKGROUND: Rgb888 = Rgb888::new(0x00, 0x00, 0x00);
/// The shell pane's text.
pub const SHELL_TEXT: Rgb888 = Rgb888::new(0x9F, 0xFF, 0x9F);

/// Height of the title bar.
pub const TITLE_HEIGHT: u32 = 20;
/// Height of a panel's header strip.
pub const HEADER_HEIGHT: u32 = 14;
/// Pixels between panels.
pub const GAP: u32 = 4;
/// Pixels between a panel's edge and its text.
pub const PADDING: u32 = 4;
/// Height of one text line (the 6x10 font plus spacing).
pub const LINE_HEIGHT: u32 = 11;
/// Width of one character of the 6x10 font.
pub const CHARACTER_WIDTH: u32 = 6;
/// Lines the shell pane shows at least.
pub const MIN_SHELL_LINES: u32 = 6;
/// Percent of the panel area (below the title, above the shell) the top row takes.
pub const TOP_ROW_PERCENT: u32 = 50;
/// Percent of the screen height the shell pane takes.
pub const SHELL_PERCENT: u32 = 28;
/// Percent of the agents column's height (top row) the agents table takes;
/// the objectives panel takes the rest.
pub const AGENTS_PERCENT: u32 = 58;
/// Percent of the scheduler panel's body the reward chart takes.
pub const CHART_PERCENT: u32 = 45;

/// The panels' rectangles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Screen size.
    pub size: Size,
    /// Title bar.
    pub title: Rectangle,
    /// Agents table.
    pub agents: Rectangle,
    /// Learning objectives, progress, accuracy and loss per agent.
    pub objectives: Rectangle,
    /// Scheduling policy and the reward chart.
    pub scheduler: Rectangle,
    /// The reward chart, inside `scheduler`.
    pub chart: Rectangle,
    /// Adaptive syscall table.
    pub syscalls: Rectangle,
    /// Accelerator pool.
    pub accelerators: Rectangle,
    /// Heap and frames.
    pub memory: Rectangle,
    /// Shell transcript and input line.
    pub shell: Rectangle,
}

fn rectangle(x: u32, y: u32, width: u32, height: u32) -> Rectangle {
    Rectangle::new(Point::new(x as i32, y as i32), Size::new(width, height))
}

impl Layout {
    /// Returns the layout for a `width` x `height` screen.
    pub fn new(width: u32, height: u32) -> Self {
        let title = rectangle(0, 0, width, TITLE_HEIGHT);
        let shell_height = (height * SHELL_PERCENT / 100)
            .max(MIN_SHELL_LINES * LINE_HEIGHT + HEADER_HEIGHT + 2 * PADDING);
        let shell_top = height.saturating_sub(shell_height + GAP);
        let shell = rectangle(GAP, shell_top, width.saturating_sub(2 * GAP), shell_height);
        let panels_top = TITLE_HEIGHT + GAP;
        let panels_height = shell_top.saturating_sub(panels_top + GAP);
        let top_height = panels_height * TOP_ROW_PERCENT / 100;
        let bottom_top = panels_top + top_height + GAP;
        let bottom_height = panels_height.saturating_sub(top_height + GAP);
        let column = width.saturating_sub(3 * GAP) / 2;
        let right = 2 * GAP + column;
        let agents_height = top_height * AGENTS_PERCENT / 100;
        let agents = rectangle(GAP, panels_top, column, agents_height);
        let objectives = rectangle(
            GAP,
            panels_top + agents_height + GAP,
            column,
            top_height.saturating_sub(agents_height + GAP),
        );
        let scheduler = rectangle(right, panels_top, column, top_height);
        let body_height = top_height.saturating_sub(HEADER_HEIGHT + 2 * PADDING);
        let chart_height = body_height * CHART_PERCENT / 100;
        let chart = rectangle(
            right + PADDING,
            panels_top + top_height - PADDING - chart_height,
            column.saturating_sub(2 * PADDING),
            chart_height,
        );
        let syscalls = rectangle(GAP, bottom_top, column, bottom_height);
        let accelerator_height = bottom_height.saturating_sub(GAP) / 2;
        let accelerators = rectangle(right, bottom_top, column, accelerator_height);
        let memory = rectangle(
            right,
            bottom_top + accelerator_height + GAP,
            column,
            bottom_height.saturating_sub(accelerator_height + GAP),
        );
        Self {
            size: Size::new(width, height),
            title,
            agents,
            objectives,
            scheduler,
            chart,
            syscalls,
            accelerators,
            memory,
            shell,
        }
    }

    /// Returns the one-line description printed at start:
    /// `WxH name=x,y,w,h ... colours title=RRGGBB ...`.
    pub fn describe(&self) -> String {
        let mut text = format!("{}x{}", self.size.width, self.size.height);
        for (name, area) in [
            ("title", self.title),
            ("agents", self.agents),
            ("objectives", self.objectives),
            ("scheduler", self.scheduler),
            ("chart", self.chart),
            ("syscalls", self.syscalls),
            ("accelerators", self.accelerators),
            ("memory", self.memory),
            ("shell", self.shell),
        ] {
            text.push_str(&format!(
                " {name}={},{},{},{}",
                area.top_left.x, area.top_left.y, area.size.width, area.size.height
            ));
        }
        for (name, colour) in [
            ("title-colour", TITLE_BACKGROUND),
            ("header-colour", HEADER_BACKGROUND),
            ("body-colour", BODY_BACKGROUND),
            ("text-colour", TEXT),
            ("chart-colour", CHART_LINE),
            ("shell-colour", SHELL_BACKGROUND),
            ("shell-text-colour", SHELL_TEXT),
        ] {
            text.push_str(&format!(" {name}={}", hex(colour)));
        }
        text
    }

    /// Returns the panels with header strips (name, area).
    pub fn panels(&self) -> [(&'static str, Rectangle); 7] {
        [
            ("agents", self.agents),
            ("objectives", self.objectives),
            ("scheduler", self.scheduler),
            ("syscalls", self.syscalls),
            ("accelerators", self.accelerators),
            ("memory", self.memory),
            ("shell", self.shell),
        ]
    }
}

/// Returns `colour` as `rrggbb`.
pub fn hex(colour: Rgb888) -> String {
    use embedded_graphics::pixelcolor::RgbColor;
    format!("{:02x}{:02x}{:02x}", colour.r(), colour.g(), colour.b())
}
