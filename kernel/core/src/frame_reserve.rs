//! The kernel's reserve of physical frames: the part of RAM user memory
//! (pages agents map, their page tables and images of programs that user
//! agents start) can never take, so the kernel and the shell can still run
//! and spawn when user memory is exhausted.

/// Most frames the reserve holds: 4 MiB of 4 KiB frames.
pub const MAX_RESERVE_FRAMES: u64 = 1024;
/// The reserve is at most this fraction (1 / N) of all usable frames.
pub const RESERVE_FRACTION: u64 = 16;
/// Frames one user page may need at most: the page and three page tables.
pub const FRAMES_PER_USER_PAGE: u64 = 4;

/// Returns the reserve for `usable_frames` usable frames:
/// min([`MAX_RESERVE_FRAMES`], `usable_frames` / [`RESERVE_FRACTION`]).
pub const fn reserve_frames(usable_frames: u64) -> u64 {
    let fraction = usable_frames / RESERVE_FRACTION;
    if fraction < MAX_RESERVE_FRAMES {
        fraction
    } else {
        MAX_RESERVE_FRAMES
    }
}

/// Returns whether a user page may be mapped with `free_frames` free of
/// `usable_frames`: the page and its tables must leave the reserve intact.
pub const fn user_page_allowed(free_frames: u64, usable_frames: u64) -> bool {
    free_frames >= reserve_frames(usable_frames) + FRAMES_PER_USER_PAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_a_sixteenth_of_small_memory() {
        assert_eq!(reserve_frames(0), 0);
        assert_eq!(reserve_frames(1600), 100);
    }

    #[test]
    fn reserve_is_capped_at_four_mebibytes() {
        // 256 MiB guest: 65 536 frames, a sixteenth is 4096 > 1024.
        assert_eq!(reserve_frames(65_536), MAX_RESERVE_FRAMES);
        assert_eq!(reserve_frames(u64::MAX), MAX_RESERVE_FRAMES);
    }

    #[test]
    fn user_pages_stop_at_the_reserve() {
        let usable = 65_536;
        assert!(user_page_allowed(1024 + 4, usable));
        assert!(!user_page_allowed(1024 + 3, usable));
        assert!(!user_page_allowed(0, usable));
        assert!(user_page_allowed(u64::MAX - 8, usable));
    }
}
