//! The async front: the session's [`AsyncConnection`] over the UART, under
//! the one-future executor, each round raced against the session's next
//! timeout.
#![no_std]
#![no_main]

use core::pin::pin;
use core::time::Duration;

use cortex_m::singleton;
use cortex_m_rt::entry;
use douyu_core::session::{AsyncConnection, Client};
use douyu_host_cortex_m::executor::{before, block_on};
use douyu_host_cortex_m::link::{Link, heartbeats_sent};
use douyu_host_cortex_m::report::Report;
use douyu_host_cortex_m::{READ_SLICE_MS, RX, TX, boot, clock, driver_error, finish};

#[entry]
fn main() -> ! {
    let report = singleton!(: Report = Report::new()).unwrap();
    let (args, uart) = boot(report);
    let rx = singleton!(: [u8; RX] = [0; RX]).unwrap();
    let tx = singleton!(: [u8; TX] = [0; TX]).unwrap();
    let start = clock::now();
    let end = args.end(start);
    let client = Client::new(args.config(), rx, start);
    let conn = singleton!(
        : AsyncConnection<'static, Link> = AsyncConnection::new(client, Link(uart), tx)
    )
    .unwrap();
    block_on(async {
        let mut closing = false;
        loop {
            let now = clock::now();
            if now >= end && !closing {
                conn.client_mut().close();
                closing = true;
            }
            // Wake for the session's timeout, the logout, or a fresh stamp
            // (see READ_SLICE_MS), whichever is first. Only the read can be
            // pending (the UART's writes never are), and it is cancel-safe.
            let mut wake = now + Duration::from_millis(READ_SLICE_MS);
            if let Some(due) = conn.client().poll_timeout() {
                wake = wake.min(due);
            }
            if !closing {
                wake = wake.min(end);
            }
            let polled = {
                let round = pin!(conn.poll(now, |event| {
                    // Heartbeats written so far first, so that lines keep their order.
                    report.heartbeats(heartbeats_sent(), now);
                    report.event(event);
                }));
                before(wake, round).await
            };
            report.heartbeats(heartbeats_sent(), now);
            match polled {
                None | Some(Ok(())) => {}
                Some(Err(e)) => {
                    report.failure(driver_error(&e));
                    break;
                }
            }
            if conn.client().is_closed() {
                break;
            }
        }
    });
    finish(report)
}
