//! The live dashboard: agents, the learning scheduler, syscalls, accelerators, memory and the shell.
//!
//! A low-cost agent ([`run`]) refreshes it: every [`STATS_PERIOD_US`] it
//! copies the numbers out ([`task::inspect`] and the other short
//! snapshots: no lock is held while drawing) and redraws only the text
//! lines that changed, plus the reward chart; the shell pane is redrawn
//! whenever the shell printed, checked every [`SHELL_PERIOD_US`]. Only
//! damaged rectangles reach the device. Drawing never runs in interrupt
//! context.

pub mod layout;

use alloc::{collections::VecDeque, format, string::String, vec, vec::Vec};

use embedded_graphics::{
    mono_font::{MonoTextStyle, ascii::FONT_6X10},
    pixelcolor::Rgb888,
    prelude::{DrawTarget, Drawable, Point, Primitive, Size},
    primitives::{Line, PrimitiveStyle, Rectangle},
    text::{Baseline, Text},
};

use crate::{
    display::Display,
    memory::{frame, heap},
    task, time,
};
pub use layout::Layout;
use layout::{
    BAR, BODY_BACKGROUND, CHARACTER_WIDTH, CHART_BACKGROUND, CHART_LINE, HEADER_BACKGROUND,
    HEADER_HEIGHT, LINE_HEIGHT, PADDING, SHELL_BACKGROUND, SHELL_TEXT, TEXT, TITLE_BACKGROUND,
};

/// Microseconds between two statistics refreshes.
pub const STATS_PERIOD_US: u64 = 250_000;
/// Microseconds between two checks of the shell pane.
pub const SHELL_PERIOD_US: u64 = 50_000;
/// Reward samples the chart shows.
pub const CHART_SAMPLES: usize = 120;
/// Refreshes after which the dashboard logs that it is ready (the reward
/// chart has a line by then); screenshot checks wait for that line.
pub const READY_REFRESHES: u64 = 3;
/// Height of a usage bar.
const BAR_HEIGHT: u32 = 6;

/// One panel's text, as last drawn.
#[derive(Default)]
struct PanelText {
    lines: Vec<String>,
}

/// The dashboard's state between refreshes.
pub struct Dashboard {
    display: Display,
    layout: Layout,
    agents: PanelText,
    objectives: PanelText,
    scheduler: PanelText,
    syscalls: PanelText,
    accelerators: PanelText,
    memory: PanelText,
    shell: PanelText,
    title: String,
    /// Reward gained per refresh (Q16.16 integer part).
    rewards: VecDeque<i64>,
    last_total_reward: Option<i64>,
    /// CPU time per agent id at the last refresh, for the CPU share.
    last_cpu: Vec<(u64, u64)>,
    last_refresh_us: u64,
    shell_generation: u64,
    refreshes: u64,
}

/// One agent's row, copied out of the task manager.
struct AgentRow {
    pid: u64,
    name: String,
    state: &'static str,
    cpu_time_us: u64,
    runs: u64,
    p99_us: u64,
}

/// Everything the scheduler panel shows, copied out of the task manager.
struct SchedulerSnapshot {
    policy: &'static str,
    exploration: i64,
    decisions: u64,
    total_reward: i64,
    fallbacks: u32,
    decision_cycles_p50: u64,
    decision_cycles_p99: u64,
    switches: u64,
}

impl Dashboard {
    /// Returns a dashboard on `display`, with every panel drawn empty.
    pub fn new(display: Display) -> Self {
        let (width, height) = display.dimensions();
        let layout = Layout::new(width as u32, height as u32);
        let mut dashboard = Self {
            display,
            layout,
            agents: PanelText::default(),
            objectives: PanelText::default(),
            scheduler: PanelText::default(),
            syscalls: PanelText::default(),
            accelerators: PanelText::default(),
            memory: PanelText::default(),
            shell: PanelText::default(),
            title: String::new(),
            rewards: VecDeque::with_capacity(CHART_SAMPLES),
            last_total_reward: None,
            last_cpu: Vec::new(),
            last_refresh_us: time::now_us(),
            shell_generation: u64::MAX,
            refreshes: 0,
        };
        dashboard.draw_frames();
        dashboard
    }

    /// Returns the layout in use.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Returns the display (for checks).
    pub fn display_mut(&mut self) -> &mut Display {
        &mut self.display
    }

    /// Returns how many statistics refreshes were drawn.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }

    fn draw_frames(&mut self) {
        let size = self.display.size_pixels();
        let screen = Rectangle::new(Point::zero(), size);
        let _ = self.display.fill_solid(&screen, layout::BACKGROUND);
        let _ = self
            .display
            .fill_solid(&self.layout.title, TITLE_BACKGROUND);
        for (name, area) in self.layout.panels() {
            let body = if name == "shell" {
                SHELL_BACKGROUND
            } else {
                BODY_BACKGROUND
            };
            let _ = self.display.fill_solid(&area, body);
            let header = Rectangle::new(area.top_left, Size::new(area.size.width, HEADER_HEIGHT));
            let _ = self.display.fill_solid(&header, HEADER_BACKGROUND);
            let _ = Text::with_baseline(
                name,
                header.top_left + Point::new(PADDING as i32, 2),
                MonoTextStyle::new(&FONT_6X10, TEXT),
                Baseline::Top,
            )
            .draw(&mut self.display);
        }
        let _ = self
            .display
            .fill_solid(&self.layout.chart, CHART_BACKGROUND);
        self.display.damage(screen);
        self.display.present();
    }

    /// Copies the statistics out and redraws what changed; returns the
    /// number of rectangles sent to the screen.
    pub fn refresh(&mut self) -> usize {
        let now = time::now_us();
        let interval = now.saturating_sub(self.last_refresh_us).max(1);
        self.last_refresh_us = now;
        let (rows, scheduler) = snapshot();

        let title = format!(
            " AI-native microkernel | policy {} | uptime {}.{} s | {} agents | display {}",
            scheduler.as_ref().map_or("-", |snapshot| snapshot.policy),
            now / 1_000_000,
            now / 100_000 % 10,
            rows.len(),
            match self.display.backend() {
                crate::display::BackendKind::VirtioGpu => "virtio-gpu",
                crate::display::BackendKind::Framebuffer => "framebuffer",
            }
        );
        if title != self.title {
            let _ = self
                .display
                .fill_solid(&self.layout.title, TITLE_BACKGROUND);
            let _ = Text::with_baseline(
                &title,
                self.layout.title.top_left + Point::new(0, 5),
                MonoTextStyle::new(&FONT_6X10, TEXT),
                Baseline::Top,
            )
            .draw(&mut self.display);
            self.display.damage(self.layout.title);
            self.title = title;
        }

        let agent_lines = self.agent_lines(&rows, interval);
        let area = self.layout.agents;
        draw_lines(
            &mut self.display,
            area,
            &mut self.agents,
            agent_lines,
            TEXT,
            BODY_BACKGROUND,
        );

        let area = self.layout.objectives;
        draw_lines(
            &mut self.display,
            area,
            &mut self.objectives,
            task::status::objective_lines(),
            TEXT,
            BODY_BACKGROUND,
        );

        if let Some(snapshot) = scheduler {
            let reward = snapshot.total_reward;
            let gained = reward - self.last_total_reward.unwrap_or(reward);
            self.last_total_reward = Some(reward);
            if self.rewards.len() == CHART_SAMPLES {
                self.rewards.pop_front();
            }
            self.rewards.push_back(gained);
            let lines = vec![
                format!("policy      {}", snapshot.policy),
                format!(
                    "exploration {}.{:03}",
                    snapshot.exploration >> 16,
                    ((snapshot.exploration & 0xFFFF) * 1000) >> 16
                ),
                format!("decisions   {}", snapshot.decisions),
                format!(
                    "cycles/decision p50 {} p99 {}",
                    snapshot.decision_cycles_p50, snapshot.decision_cycles_p99
                ),
                format!(
                    "switches    {}  fallbacks {}",
                    snapshot.switches, snapshot.fallbacks
                ),
                format!("reward      {} total, {} last interval:", reward, gained),
            ];
            let area = self.layout.scheduler;
            draw_lines(
                &mut self.display,
                area,
                &mut self.scheduler,
                lines,
                TEXT,
                BODY_BACKGROUND,
            );
            self.draw_chart();
        }

        let syscall_lines = crate::syscall::compact_lines();
        let area = self.layout.syscalls;
        draw_lines(
            &mut self.display,
            area,
            &mut self.syscalls,
            syscall_lines,
            TEXT,
            BODY_BACKGROUND,
        );

        let accelerator_lines = accelerator_lines();
        let area = self.layout.accelerators;
        draw_lines(
            &mut self.display,
            area,
            &mut self.accelerators,
            accelerator_lines,
            TEXT,
            BODY_BACKGROUND,
        );

        self.draw_memory();
        self.draw_shell();
        self.refreshes += 1;
        self.display.present()
    }

    /// Redraws the shell pane if the shell printed since the last call;
    /// returns the number of rectangles sent.
    pub fn refresh_shell(&mut self) -> usize {
        self.draw_shell();
        self.display.present()
    }

    fn draw_shell(&mut self) {
        let generation = crate::shell::transcript_generation();
        if generation == self.shell_generation {
            return;
        }
        self.shell_generation = generation;
        let area = self.layout.shell;
        let visible = visible_lines(area);
        let lines = crate::shell::transcript_tail(visible);
        draw_lines(
            &mut self.display,
            area,
            &mut self.shell,
            lines,
            SHELL_TEXT,
            SHELL_BACKGROUND,
        );
    }

    fn agent_lines(&mut self, rows: &[AgentRow], interval_us: u64) -> Vec<String> {
        let mut lines = Vec::with_capacity(rows.len() + 1);
        lines.push(format!(
            "{:>4} {:<16} {:<5} {:>6} {:>8} {:>9}",
            "id", "agent", "state", "cpu%", "runs", "p99-rsp"
        ));
        let mut current = Vec::with_capacity(rows.len());
        for row in rows {
            let before = self
                .last_cpu
                .iter()
                .find(|(pid, _)| *pid == row.pid)
                .map_or(row.cpu_time_us, |(_, cpu)| *cpu);
            let used = row.cpu_time_us.saturating_sub(before);
            let permille = (used * 1000 / interval_us).min(1000);
            current.push((row.pid, row.cpu_time_us));
            lines.push(format!(
                "{:>4} {:<16} {:<5} {:>4}.{} {:>8} {:>7}us",
                row.pid,
                row.name,
                row.state,
                permille / 10,
                permille % 10,
                row.runs,
                row.p99_us
            ));
        }
        self.last_cpu = current;
        lines
    }

    fn draw_chart(&mut self) {
        let area = self.layout.chart;
        let _ = self.display.fill_solid(&area, CHART_BACKGROUND);
        let samples: Vec<i64> = self.rewards.iter().copied().collect();
        if samples.len() >= 2 && area.size.width > 2 && area.size.height > 2 {
            let low = samples.iter().copied().min().unwrap_or(0).min(0);
            let high = samples.iter().copied().max().unwrap_or(0).max(low + 1);
            let span = (high - low).max(1);
            let height = i64::from(area.size.height - 1);
            let step = i64::from(area.size.width - 1) / (CHART_SAMPLES as i64 - 1).max(1);
            let point = |index: usize, value: i64| {
                area.top_left
                    + Point::new(
                        (index as i64 * step.max(1)) as i32,
                        (height - (value - low) * height / span) as i32,
                    )
            };
            let style = PrimitiveStyle::with_stroke(CHART_LINE, 1);
            for (index, pair) in samples.windows(2).enumerate() {
                let _ = Line::new(point(index, pair[0]), point(index + 1, pair[1]))
                    .into_styled(style)
                    .draw(&mut self.display);
            }
        }
        self.display.damage(area);
    }

    fn draw_memory(&mut self) {
        let heap = heap::stats();
        let frames = frame::stats();
        let total_frames = frames.free_frames + frames.allocated_frames;
        let lines = vec![
            format!(
                "heap   {} / {} KiB used, {} failed allocations",
                heap.used / 1024,
                heap.size / 1024,
                heap.failed_allocations
            ),
            String::new(),
            format!(
                "frames {} / {} allocated ({} MiB usable)",
                frames.allocated_frames,
                total_frames,
                frames.usable_bytes / (1024 * 1024)
            ),
            String::new(),
        ];
        let area = self.layout.memory;
        let changed = draw_lines(
            &mut self.display,
            area,
            &mut self.memory,
            lines,
            TEXT,
            BODY_BACKGROUND,
        );
        if changed {
            let width = area.size.width.saturating_sub(2 * PADDING);
            for (line, used, total) in [
                (1, heap.used as u64, heap.size as u64),
                (3, frames.allocated_frames, total_frames),
            ] {
                let top = line_top(area, line) + 2;
                let track = Rectangle::new(
                    Point::new(area.top_left.x + PADDING as i32, top),
                    Size::new(width, BAR_HEIGHT),
                );
                let filled = (u64::from(width) * used / total.max(1)) as u32;
                let _ = self.display.fill_solid(&track, CHART_BACKGROUND);
                let _ = self.display.fill_solid(
                    &Rectangle::new(track.top_left, Size::new(filled, BAR_HEIGHT)),
                    BAR,
                );
                self.display.damage(track);
            }
        }
    }
}

fn snapshot() -> (Vec<AgentRow>, Option<SchedulerSnapshot>) {
    let rows = task::agents()
        .into_iter()
        .map(|agent| AgentRow {
            pid: agent.pid,
            name: agent.name,
            state: agent.state,
            cpu_time_us: agent.cpu_time_us,
            runs: agent.runs,
            p99_us: agent.p99_response_us,
        })
        .collect();
    let scheduler = task::scheduler().map(|scheduler| SchedulerSnapshot {
        policy: scheduler.stats.policy,
        exploration: scheduler.stats.exploration_rate.raw(),
        decisions: scheduler.stats.decisions,
        total_reward: scheduler.stats.total_reward.raw() >> 16,
        fallbacks: scheduler.stats.fallbacks,
        decision_cycles_p50: scheduler.decision_cycles.percentile(50),
        decision_cycles_p99: scheduler.decision_cycles.percentile(99),
        switches: scheduler.counters.switches,
    });
    (rows, scheduler)
}

fn accelerator_lines() -> Vec<String> {
    let devices = crate::accel::devices();
    let total_jobs: u64 = devices.iter().map(|device| device.jobs).sum::<u64>().max(1);
    let mut lines = Vec::with_capacity(devices.len() + 1);
    if devices.is_empty() && crate::accel::tensor::count() == 0 {
        lines.push(String::from("no accelerator in the pool"));
    }
    for device in &devices {
        let share = device.jobs * 100 / total_jobs;
        let bar_cells = (share / 5) as usize;
        lines.push(format!(
            "#{} {} {:?} jobs {} timeouts {} irqs {} [{:<20}] {}%",
            device.index,
            device.address,
            device.state,
            device.jobs,
            device.timeouts,
            device.interrupts,
            "#".repeat(bar_cells),
            share
        ));
    }
    lines.extend(crate::accel::tensor::status_lines());
    lines
}

/// Returns the top of text line `index` in `area` (below the header).
fn line_top(area: Rectangle, index: usize) -> i32 {
    area.top_left.y + (HEADER_HEIGHT + PADDING) as i32 + index as i32 * LINE_HEIGHT as i32
}

/// Returns how many text lines fit in `area`'s body.
fn visible_lines(area: Rectangle) -> usize {
    (area.size.height.saturating_sub(HEADER_HEIGHT + 2 * PADDING) / LINE_HEIGHT) as usize
}

/// Draws `lines` in `area`'s body, redrawing only the lines that differ
/// from `previous` (and clearing lines that went away); returns whether
/// anything changed.
fn draw_lines(
    display: &mut Display,
    area: Rectangle,
    previous: &mut PanelText,
    lines: Vec<String>,
    colour: Rgb888,
    background: Rgb888,
) -> bool {
    let capacity = visible_lines(area);
    let columns = (area.size.width.saturating_sub(2 * PADDING) / CHARACTER_WIDTH) as usize;
    let style = MonoTextStyle::new(&FONT_6X10, colour);
    let count = lines.len().max(previous.lines.len()).min(capacity);
    let mut changed = false;
    for index in 0..count {
        let new = lines.get(index).map_or("", String::as_str);
        let old = previous.lines.get(index).map_or("", String::as_str);
        if new == old {
            continue;
        }
        changed = true;
        let row = Rectangle::new(
            Point::new(area.top_left.x + PADDING as i32, line_top(area, index)),
            Size::new(area.size.width.saturating_sub(2 * PADDING), LINE_HEIGHT),
        );
        let _ = display.fill_solid(&row, background);
        let shown: String = new.chars().take(columns).collect();
        let _ = Text::with_baseline(&shown, row.top_left, style, Baseline::Top).draw(display);
        display.damage(row);
    }
    previous.lines = lines;
    changed
}

/// The dashboard agent: draws on `display` until the kernel stops.
pub fn run(display: Display) -> ! {
    let mut dashboard = Dashboard::new(display);
    log::info!("dashboard: layout {}", dashboard.layout().describe());
    let mut next_stats = time::now_us();
    loop {
        let now = time::now_us();
        if now >= next_stats {
            dashboard.refresh();
            match dashboard.refreshes() {
                1 => log::info!("dashboard: first frame drawn"),
                READY_REFRESHES => log::info!("dashboard: ready ({READY_REFRESHES} frames drawn)"),
                _ => {}
            }
            next_stats = now + STATS_PERIOD_US;
        } else {
            dashboard.refresh_shell();
        }
        task::sleep_us(SHELL_PERIOD_US);
    }
}
