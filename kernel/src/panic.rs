//! The panic handler: print the message and location, then stop.

use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    crate::console::emergency_print(format_args!("\nKERNEL PANIC: {info}\n"));
    crate::testing::fatal_stop()
}
