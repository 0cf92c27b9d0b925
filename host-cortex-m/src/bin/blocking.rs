//! The blocking front: the session's [`Connection`] over the UART, whose
//! reads time out every few milliseconds so that the session's timers run.
#![no_std]
#![no_main]

use cortex_m::singleton;
use cortex_m_rt::entry;
use douyu_core::session::{Client, Connection};
use douyu_host_cortex_m::link::{Link, heartbeats_sent};
use douyu_host_cortex_m::report::Report;
use douyu_host_cortex_m::{RX, TX, boot, clock, driver_error, finish};

#[entry]
fn main() -> ! {
    let report = singleton!(: Report = Report::new()).unwrap();
    let (args, uart) = boot(report);
    // In static RAM, so the footprint shows in `.bss`, not on the stack.
    let rx = singleton!(: [u8; RX] = [0; RX]).unwrap();
    let tx = singleton!(: [u8; TX] = [0; TX]).unwrap();
    let start = clock::now();
    let end = args.end(start);
    let client = Client::new(args.config(), rx, start);
    let conn =
        singleton!(: Connection<'static, Link> = Connection::new(client, Link(uart), tx)).unwrap();
    let mut closing = false;
    loop {
        let now = clock::now();
        if now >= end && !closing {
            conn.client_mut().close();
            closing = true;
        }
        let polled = conn.poll(now, |event| {
            // Heartbeats written so far first, so that lines keep their order.
            report.heartbeats(heartbeats_sent(), now);
            report.event(event);
        });
        report.heartbeats(heartbeats_sent(), now);
        if let Err(e) = polled {
            report.failure(driver_error(&e));
            break;
        }
        if conn.client().is_closed() {
            break;
        }
    }
    finish(report)
}
