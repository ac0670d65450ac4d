//! The swarm fuzzer: one of several cooperating agents that issue random
//! syscalls with every capability (spawn, wait, IPC, map at chosen
//! addresses, the accelerator) and random RSP and RFLAGS at `syscall`.
//!
//! It first asks the kernel's configuration server (a `call` on endpoint
//! [`CONFIG_ENDPOINT`], served by the test kernel) for its calls, seed,
//! index and the swarm's size. Agents of the swarm pair up: agent `2j`
//! calls and sends to endpoint `2j + 1`, which agent `2j + 1` serves (a
//! last unpaired agent talks to the configuration server), every
//! [`EXCHANGE_EVERY`] calls, checking every message and reply, so
//! messages really flow and nobody blocks forever. The random calls never
//! block forever either: valid endpoints of random sends go to the
//! configuration server, valid random receives are turned invalid, valid
//! sleeps are short, and waits name only children, which end.
//!
//! Children (copies of this program, or short programs) run a short random
//! stream in "child mode", with the trap flag among their random flags
//! (which ends them with a debug exception: the kernel must survive it).
//! Most calls are cheap; spawn, big maps and device jobs are rare. A
//! top-level agent ends by logging its answers by error code and exits 0
//! (1 if a message or reply came back wrong).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Error, abi, println, raw};
use agent_programs::Random;

agent_lib::agent_main!(main);

/// Endpoint of the kernel's configuration server.
const CONFIG_ENDPOINT: u64 = abi::MAX_ENDPOINTS - 1;
/// One message exchange with the partner every this many calls.
const EXCHANGE_EVERY: u64 = 64;
/// Children a top-level agent keeps alive at most.
const MAX_CHILDREN: usize = 4;
/// Mappings an agent keeps at most (older ones are unmapped).
const MAX_MAPPINGS: usize = 8;
/// Calls of a child in child mode when the configuration says nothing.
const DEFAULT_CHILD_CALLS: u64 = 500;
/// Bytes of the scratch area that "valid" pointers point into.
const SCRATCH_BYTES: usize = 16 * 1024;
/// Where chosen `map` addresses start (inside the map window).
const CHOSEN_BASE: u64 = 0x0000_2000_0000_0000;
/// Page size.
const PAGE: u64 = 4096;
/// RFLAGS bits a top-level agent randomises (not TF): CF, PF, AF, ZF, SF,
/// DF, OF, NT, AC, ID and the IOPL bits (ignored in ring 3).
const FLAGS_MASK: u64 = 0x0025_7ED5;
/// The trap flag.
const TRAP_FLAG: u64 = 0x100;
/// Keeps an address in the user half (below 2^47).
const USER_HALF_MASK: u64 = 0x0000_7FFF_FFFF_FFFF;
/// RFLAGS bit 1, always set.
const FLAGS_RESERVED: u64 = 0x2;
/// Short programs a child may be (plus copies of this one).
const PROGRAMS: [&str; 7] = [
    "hello",
    "hello",
    "fault_divide",
    "fault_page",
    "fault_gp",
    "fault_ud",
    "no_such_program",
];
/// Slots for counts: ok, unknown code, then one per `abi::Error::ALL`.
const SLOTS: usize = 2 + abi::Error::ALL.len();

/// Writable memory for the kernel to scribble on.
static mut SCRATCH: [u8; SCRATCH_BYTES] = [0; SCRATCH_BYTES];

/// What the configuration server told this agent.
#[derive(Clone, Copy)]
struct Config {
    calls: u64,
    seed: u64,
    index: u64,
    agents: u64,
    child: bool,
}

impl Config {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let word = |index: usize| -> Option<u64> {
            let chunk = bytes.get(index * 8..index * 8 + 8)?;
            Some(u64::from_le_bytes(chunk.try_into().ok()?))
        };
        Some(Self {
            calls: word(0)?,
            seed: word(1)?,
            index: word(2)?,
            agents: word(3)?.max(1),
            child: word(4)? != 0,
        })
    }
}

/// One agent's state.
struct Swarm {
    random: Random,
    config: Config,
    scratch: u64,
    code: u64,
    counts: [u64; SLOTS],
    unknown: [(i64, u64); 4],
    children: [u64; MAX_CHILDREN],
    mappings: [(u64, u64); MAX_MAPPINGS],
    spawned: u64,
    reaped: u64,
    exchanges: u64,
    bad_messages: u64,
    calls: u64,
}

impl Swarm {
    fn below(&mut self, bound: u64) -> u64 {
        self.random.next_u64() % bound
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    /// A pointer-ish argument: null, kernel, non-canonical, scratch, code,
    /// a mapping, or random.
    fn pointer(&mut self) -> u64 {
        match self.below(9) {
            0 => 0,
            1 => 0xFFFF_8000_0000_0000 | self.random.next_u64(),
            2 => 0x0000_8000_0000_0000 | (self.random.next_u64() >> 17),
            3 | 4 => self.scratch + self.below(SCRATCH_BYTES as u64),
            5 => self.code.wrapping_add(self.below(PAGE)),
            6 => {
                let (address, length) = self.mappings[self.below(MAX_MAPPINGS as u64) as usize];
                address.wrapping_add(self.below(length.max(1) + PAGE))
            }
            7 => self.random.next_u64() & 0x0000_7FFF_FFFF_FFFF,
            _ => self.random.next_u64(),
        }
    }

    /// A length: small, around a limit, page multiples, or huge.
    fn length(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1..=3 => self.below(256),
            4 => self.below(8) * PAGE,
            5 => abi::MAX_MESSAGE_BYTES + self.below(3) - 1,
            6 => 1 << self.below(64),
            _ => self.random.next_u64(),
        }
    }

    /// A stack pointer for `syscall`: the real one is never used.
    ///
    /// A kernel-half or non-canonical one is no stack to return to, so the
    /// kernel ends the agent there (FAULT_STATUS_BASE - 13): only children
    /// get those, top-level agents keep to the user half.
    fn stack_pointer(&mut self) -> u64 {
        let stack_pointer = match self.below(4) {
            0 => self.pointer(),
            1 => self.scratch + self.below(SCRATCH_BYTES as u64),
            _ => self.random.next_u64(),
        };
        if self.config.child {
            stack_pointer
        } else {
            stack_pointer & USER_HALF_MASK
        }
    }

    fn flags(&mut self) -> u64 {
        let mask = if self.config.child {
            FLAGS_MASK | TRAP_FLAG
        } else {
            FLAGS_MASK
        };
        (self.random.next_u64() & mask) | FLAGS_RESERVED
    }

    fn record(&mut self, result: i64) {
        self.calls += 1;
        let slot = if result >= 0 {
            0
        } else {
            Error::from_code(result)
                .and_then(|error| abi::Error::ALL.iter().position(|known| *known == error))
                .map_or(1, |index| index + 2)
        };
        if slot == 1 {
            if let Some(entry) = self.unknown.iter_mut().find(|(code, _)| *code == result) {
                entry.1 += 1;
            } else if let Some(entry) = self.unknown.iter_mut().find(|(_, count)| *count == 0) {
                *entry = (result, 1);
            }
        }
        self.counts[slot] += 1;
    }

    /// Issues one call, with random RSP and RFLAGS half of the time.
    fn issue(&mut self, number: u64, arguments: [u64; 6]) -> i64 {
        let result = if self.chance(2) {
            let stack_pointer = self.stack_pointer();
            let flags = self.flags();
            raw::raw6_with_frame(number, arguments, stack_pointer, flags)
        } else {
            let [a, b, c, d, e, f] = arguments;
            raw::raw6(number, a, b, c, d, e, f)
        };
        self.record(result);
        result
    }

    /// A random argument biased towards half-valid values.
    fn argument(&mut self) -> u64 {
        match self.below(4) {
            0 => self.pointer(),
            1 => self.below(256),
            2 => self.length(),
            _ => self.random.next_u64(),
        }
    }

    /// One random call: the syscall number is picked with cheap calls
    /// likely, then its arguments are made half-valid for that call.
    fn random_call(&mut self) {
        let roll = self.below(1000);
        let number = match roll {
            0..=199 => self.random.next_u64(),
            200..=299 => abi::SYSCALL_COUNT + self.below(3),
            _ => 1 + self.below(abi::SYSCALL_COUNT + 2),
        };
        let mut arguments = [0u64; 6];
        for argument in &mut arguments {
            *argument = self.argument();
        }
        match abi::Syscall::from_number(number) {
            Some(abi::Syscall::Exit) => {
                if !self.config.child || !self.chance(500) {
                    return self.random_call();
                }
            }
            Some(abi::Syscall::Sleep) => {
                // A real sleep lasts until a timer tick: valid sleeps are
                // mostly zero-length, rarely short.
                if arguments[0] <= abi::MAX_SLEEP_US {
                    arguments[0] = if self.chance(64) { self.below(200) } else { 0 };
                }
            }
            Some(abi::Syscall::Log) => {
                // Valid text is slow (the serial line) and rate limited:
                // rarely a short line, else text too long or unmapped.
                let text = "swarm: a valid log line";
                match self.below(64) {
                    0 => {
                        arguments[0] = text.as_ptr() as u64;
                        arguments[1] = text.len() as u64;
                    }
                    1..=15 => {
                        arguments[0] = self.code;
                        arguments[1] = abi::MAX_LOG_BYTES + 1 + self.below(1 << 20);
                    }
                    _ if arguments[1] <= abi::MAX_LOG_BYTES => {
                        arguments[0] = match self.below(3) {
                            0 => 0,
                            1 => 0xFFFF_8000_0000_0000 | self.random.next_u64(),
                            _ => 0x0000_8000_0000_0000 | (self.random.next_u64() >> 17),
                        };
                        arguments[1] = arguments[1].max(1);
                    }
                    _ => {}
                }
            }
            Some(abi::Syscall::Spawn) => return self.spawn(arguments),
            Some(abi::Syscall::Wait) => return self.wait(arguments),
            Some(abi::Syscall::Send | abi::Syscall::Call | abi::Syscall::Receive) => {
                return self.ipc(number, arguments);
            }
            Some(abi::Syscall::Reply) => {
                if self.chance(2) {
                    arguments[2] = self.below(abi::MAX_MESSAGE_BYTES + 2);
                }
            }
            Some(abi::Syscall::Map) => return self.map(arguments),
            Some(abi::Syscall::Unmap) => return self.unmap(arguments),
            Some(abi::Syscall::Stats) => {
                if self.chance(2) {
                    arguments[0] = self.below(5);
                    arguments[1] = self.scratch + 8 * self.below(64);
                    arguments[2] = self.below(2048);
                }
            }
            Some(abi::Syscall::AccelFactorial) => {
                if !self.chance(8) {
                    return self.random_call();
                }
                // Large inputs are only cheap once the kernel answers them in
                // O(1): keep the CPU route's work bounded here.
                arguments[0] = match self.below(16) {
                    0 => self.below(100_000),
                    1 => 66 + self.below(1000),
                    _ => self.below(40),
                };
                arguments[1] = match self.below(8) {
                    0 => self.random.next_u64(),
                    1 => abi::ACCEL_POLL | abi::ACCEL_ALLOW_CPU,
                    2 => abi::ACCEL_INTERRUPT | abi::ACCEL_ALLOW_CPU,
                    3 => abi::ACCEL_POLL,
                    _ => abi::ACCEL_ALLOW_CPU,
                };
            }
            Some(abi::Syscall::AccelCopy) => {
                if !self.chance(8) {
                    return self.random_call();
                }
                arguments[0] = self.pointer();
                arguments[1] = match self.below(4) {
                    0 => self.length(),
                    _ => self.below(abi::MAX_ACCEL_COPY_BYTES + 2),
                };
                arguments[2] = self.scratch + self.below(SCRATCH_BYTES as u64 / 2);
                arguments[3] = match self.below(4) {
                    0 => self.random.next_u64() & 0xF,
                    _ => abi::ACCEL_ALLOW_CPU,
                };
            }
            // Calls that would block forever if a new syscall above
            // SYSCALL_COUNT takes an endpoint and a timeout: keep an
            // endpoint argument invalid.
            None if number < abi::SYSCALL_COUNT + 3 => {
                arguments[0] = abi::MAX_ENDPOINTS + self.below(1 << 20);
            }
            _ => {}
        }
        self.issue(number, arguments);
    }

    fn spawn(&mut self, mut arguments: [u64; 6]) {
        let free = self.children.iter().position(|pid| *pid == 0);
        let valid = self.chance(32) && free.is_some();
        if valid {
            let copy = !self.config.child && self.chance(3);
            let name = if copy {
                "fuzzer_swarm"
            } else {
                PROGRAMS[self.below(PROGRAMS.len() as u64) as usize]
            };
            arguments[0] = name.as_ptr() as u64;
            arguments[1] = name.len() as u64;
            // Inherit, or a random set (cut down to ours by the kernel).
            arguments[2] = if self.chance(2) { 0 } else { self.pointer() };
        } else {
            // Never a valid name: a child that could block forever must not
            // start behind our back.
            arguments[1] = match self.below(3) {
                0 => 0,
                1 => abi::MAX_NAME_BYTES + 1 + self.below(1000),
                _ => arguments[1],
            };
            if arguments[1] != 0 && arguments[1] <= abi::MAX_NAME_BYTES {
                arguments[0] = 0;
            }
        }
        let result = self.issue(abi::Syscall::Spawn as u64, arguments);
        if result > 0 {
            self.spawned += 1;
            match free {
                Some(slot) if valid => self.children[slot] = result as u64,
                // Not expected (an invalid spawn succeeded); wait at once.
                _ => {
                    let _ = agent_lib::wait(result as u64);
                    self.reaped += 1;
                }
            }
        }
    }

    fn wait(&mut self, mut arguments: [u64; 6]) {
        let live = self.children.iter().position(|pid| *pid != 0);
        let valid = live.is_some() && self.chance(4);
        if valid {
            arguments[0] = self.children[live.unwrap_or(0)];
            arguments[1] = match self.below(3) {
                0 => self.pointer(),
                _ => self.scratch + 8 * self.below(64),
            };
        } else {
            // Not one of our children (agent ids are never reused; ours are
            // above our own id, random ones are far away or ended).
            arguments[0] = match self.below(3) {
                0 => 0,
                1 => 1 << 40 | self.random.next_u64() >> 24,
                _ => u64::MAX - self.below(16),
            };
        }
        let result = self.issue(abi::Syscall::Wait as u64, arguments);
        if valid && result >= 0 {
            if let Some(slot) = live {
                self.children[slot] = 0;
                self.reaped += 1;
            }
        } else if valid && result == Error::NotFound as i64 {
            // Gone already (or never ours): forget it.
            if let Some(slot) = live {
                self.children[slot] = 0;
            }
        }
    }

    fn ipc(&mut self, number: u64, mut arguments: [u64; 6]) {
        let receive = number == abi::Syscall::Receive as u64;
        if arguments[0] < abi::MAX_ENDPOINTS || self.chance(4) {
            arguments[0] = if receive {
                // A receive on a live endpoint could wait forever.
                abi::MAX_ENDPOINTS + self.below(1 << 12)
            } else {
                CONFIG_ENDPOINT
            };
        }
        if self.chance(2) {
            arguments[1] = self.scratch + self.below(SCRATCH_BYTES as u64 - 128);
            arguments[2] = self.below(abi::MAX_MESSAGE_BYTES + 2);
        }
        if number == abi::Syscall::Call as u64 && self.chance(2) {
            arguments[3] = self.scratch + self.below(SCRATCH_BYTES as u64 - 128);
            arguments[4] = self.below(128);
        }
        self.issue(number, arguments);
    }

    fn map(&mut self, mut arguments: [u64; 6]) {
        arguments[0] = match self.below(6) {
            0 => 0,
            1 | 2 => CHOSEN_BASE + PAGE * self.below(1 << 16),
            3 => {
                let (address, _) = self.mappings[self.below(MAX_MAPPINGS as u64) as usize];
                address
            }
            4 => self.pointer(),
            _ => arguments[0],
        };
        // Big lengths are rare: until `map` works in chunks with interrupts
        // on, 16 MiB of zeroing delays every other agent.
        arguments[1] = match self.below(64) {
            0 if self.chance(8) => abi::MAX_MAP_BYTES,
            0 => 1 + self.below(64 * PAGE),
            1 => abi::MAX_MAP_BYTES + PAGE,
            2..=4 => self.random.next_u64(),
            5..=7 => self.length() | (abi::MAX_MAP_BYTES << 1),
            8..=15 => 1 + self.below(8 * PAGE),
            _ => PAGE * (1 + self.below(4)),
        };
        arguments[2] = match self.below(4) {
            0 => self.random.next_u64() & 7,
            _ => abi::MAP_WRITE,
        };
        let result = self.issue(abi::Syscall::Map as u64, arguments);
        if result > 0 {
            let slot = self
                .mappings
                .iter()
                .position(|(address, _)| *address == 0)
                .unwrap_or_else(|| {
                    let slot = self.below(MAX_MAPPINGS as u64) as usize;
                    let (address, length) = self.mappings[slot];
                    let unmapped = raw::syscall2(abi::Syscall::Unmap, address, length);
                    self.record(unmapped);
                    slot
                });
            self.mappings[slot] = (result as u64, arguments[1]);
        }
    }

    fn unmap(&mut self, mut arguments: [u64; 6]) {
        let slot = self.below(MAX_MAPPINGS as u64) as usize;
        let (address, length) = self.mappings[slot];
        let valid = address != 0 && self.chance(3);
        if valid {
            arguments[0] = address;
            arguments[1] = length;
        } else if self.chance(2) {
            arguments[0] = address.wrapping_add(PAGE * self.below(3));
            arguments[1] = match self.below(3) {
                0 => length.wrapping_add(PAGE),
                1 => PAGE,
                _ => self.length(),
            };
        }
        let result = self.issue(abi::Syscall::Unmap as u64, arguments);
        if valid && result >= 0 {
            self.mappings[slot] = (0, 0);
        } else if result >= 0 {
            // Part of or more than one mapping went: forget the touched ones.
            for mapping in &mut self.mappings {
                if mapping.0 >= arguments[0] && mapping.0 < arguments[0].wrapping_add(arguments[1])
                {
                    *mapping = (0, 0);
                }
            }
        }
    }

    /// One exchange with the partner (see the module documentation).
    fn exchange(&mut self) {
        let config = self.config;
        let sequence = self.exchanges;
        self.exchanges += 1;
        let server = config.index % 2 == 1;
        if server {
            let mut buffer = [0u8; abi::MAX_MESSAGE_BYTES as usize];
            match agent_lib::receive(config.index, &mut buffer) {
                Ok((sender, length)) => {
                    let message = &buffer[..length];
                    if length != 16 || message[..8] != sequence.to_le_bytes() {
                        self.bad_messages += 1;
                    }
                    if message.get(8) == Some(&1) {
                        let mut answer = [0u8; 8];
                        answer.copy_from_slice(&(!sequence).to_le_bytes());
                        if agent_lib::reply(sender, &answer).is_err() {
                            self.bad_messages += 1;
                        }
                    }
                }
                Err(_) => self.bad_messages += 1,
            }
            return;
        }
        let endpoint = if config.index + 1 < config.agents {
            config.index + 1
        } else {
            CONFIG_ENDPOINT
        };
        let mut message = [0u8; 16];
        message[..8].copy_from_slice(&sequence.to_le_bytes());
        let call = sequence.is_multiple_of(2);
        message[8] = u8::from(call);
        if call {
            let mut reply = [0u8; abi::MAX_MESSAGE_BYTES as usize];
            match agent_lib::call(endpoint, &message, &mut reply) {
                Ok(length) if endpoint == CONFIG_ENDPOINT => {
                    if length < 40 {
                        self.bad_messages += 1;
                    }
                }
                Ok(8) if reply[..8] == (!sequence).to_le_bytes() => {}
                _ => self.bad_messages += 1,
            }
        } else if agent_lib::send(endpoint, &message).is_err() {
            self.bad_messages += 1;
        }
    }

    fn run(&mut self) {
        let config = self.config;
        for call in 0..config.calls {
            if !config.child && config.agents > 1 && call % EXCHANGE_EVERY == EXCHANGE_EVERY - 1 {
                self.exchange();
            }
            self.random_call();
        }
        for pid in &mut self.children {
            if *pid != 0 {
                if agent_lib::wait(*pid).is_ok() {
                    self.reaped += 1;
                }
                *pid = 0;
            }
        }
        for (address, length) in &mut self.mappings {
            if *address != 0 {
                let _ = raw::syscall2(abi::Syscall::Unmap, *address, *length);
                *address = 0;
            }
        }
    }

    fn report(&self) {
        let config = self.config;
        let name = "swarm";
        let index = config.index;
        println!(
            "{name} {index}: {} calls, seed {:#x}, ok {}, exchanges {}, bad messages {}, children {} spawned {} waited",
            self.calls,
            config.seed,
            self.counts[0],
            self.exchanges,
            self.bad_messages,
            self.spawned,
            self.reaped
        );
        let mut line = agent_lib::LineBuffer::new();
        let mut written = 0;
        for (slot, error) in abi::Error::ALL.iter().enumerate() {
            let count = self.counts[slot + 2];
            if count == 0 {
                continue;
            }
            if written == 6 {
                let _ = agent_lib::log(line.as_str());
                line = agent_lib::LineBuffer::new();
                written = 0;
            }
            if written == 0 {
                let _ =
                    core::fmt::Write::write_fmt(&mut line, format_args!("{name} {index}: codes"));
            }
            let _ =
                core::fmt::Write::write_fmt(&mut line, format_args!(" {}={count}", error.name()));
            written += 1;
        }
        for (code, count) in self.unknown {
            if count != 0 {
                let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" code{code}={count}"));
            }
        }
        let _ = agent_lib::log(line.as_str());
    }
}

/// Asks the configuration server; a child without one runs a short stream.
fn configuration() -> Config {
    let mut reply = [0u8; abi::MAX_MESSAGE_BYTES as usize];
    match agent_lib::call(CONFIG_ENDPOINT, b"swarm-config", &mut reply) {
        Ok(length) => Config::parse(&reply[..length]),
        Err(_) => None,
    }
    .unwrap_or(Config {
        calls: DEFAULT_CHILD_CALLS,
        seed: agent_lib::clock_us(),
        index: 0,
        agents: 1,
        child: true,
    })
}

fn main() -> i64 {
    let config = configuration();
    let mut swarm = Swarm {
        random: Random::new(config.seed ^ config.index.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        config,
        scratch: (&raw mut SCRATCH) as u64,
        code: main as *const () as u64,
        counts: [0; SLOTS],
        unknown: [(0, 0); 4],
        children: [0; MAX_CHILDREN],
        mappings: [(0, 0); MAX_MAPPINGS],
        spawned: 0,
        reaped: 0,
        exchanges: 0,
        bad_messages: 0,
        calls: 0,
    };
    let start = agent_lib::clock_us();
    swarm.run();
    if config.child {
        return 0;
    }
    let elapsed = agent_lib::clock_us().saturating_sub(start).max(1);
    // Let the log rate limit refill before reporting.
    let _ = agent_lib::sleep_us(1_100_000);
    println!(
        "swarm {}: {} calls in {} ms ({} calls/s)",
        config.index,
        swarm.calls,
        elapsed / 1000,
        swarm.calls * 1_000_000 / elapsed
    );
    swarm.report();
    i64::from(swarm.bad_messages != 0)
}
