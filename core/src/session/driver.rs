//! Drivers: the loop every host of a [`Client`] writes, over `embedded-io`.
//!
//! The session stays sans-IO; [`Connection`] (blocking, over
//! [`embedded_io::Read`] + [`embedded_io::Write`]) and [`AsyncConnection`]
//! (over the [`embedded_io_async`] traits) are thin front ends that move its
//! bytes, as [`FrameReader`](crate::stream::FrameReader) and
//! [`AsyncFrameReader`](crate::stream::AsyncFrameReader) do for frames. Both
//! take the time from the caller: there is no clock in this crate.
//!
//! One `poll` does, in this order: the timeout if it is due
//! ([`Client::handle_timeout`]), every queued transmit, one read into the
//! session's receive buffer, and every event that results. The read is the
//! last step, so a message that needs an answer (the `loginres` that
//! queues the `joingroup`) is answered at the start of the next `poll`,
//! which a host calls in a loop.

use core::fmt;

use embedded_io::ErrorKind;

use super::{Client, ClientEvent, Instant, SessionError};

/// Failure of a [`Connection`] or [`AsyncConnection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DriverError<E> {
    /// The transport failed. A failed read leaves the connection as it was;
    /// a failed write may have cut a frame, so the connection is lost.
    Io(E),
    /// A message did not fit the transmit buffer (see [`Connection::new`]
    /// for its size); it stays queued, so this repeats until the host
    /// gives up.
    Session(SessionError),
    /// The peer ended the stream (a read returned no bytes) while the
    /// session was still open. An error rather than an event because the
    /// session itself did not decide it, and the host must drop the
    /// connection either way.
    Disconnected,
    /// `poll` was called after the session closed (its
    /// [`ClientEvent::Closed`] was already handed out).
    Closed,
}

impl<E: fmt::Display> fmt::Display for DriverError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "transport failed: {e}"),
            Self::Session(e) => e.fmt(f),
            Self::Disconnected => f.write_str("peer ended the stream"),
            Self::Closed => f.write_str("session closed"),
        }
    }
}

/// The transport or session error is the source (`Display` includes it
/// too, as [`SessionError`] explains).
impl<E: core::error::Error + 'static> core::error::Error for DriverError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Session(e) => Some(e),
            Self::Disconnected | Self::Closed => None,
        }
    }
}

impl<E> From<SessionError> for DriverError<E> {
    fn from(e: SessionError) -> Self {
        Self::Session(e)
    }
}

/// A [`Client`] driven over a blocking transport.
///
/// `poll` blocks in the transport's read. A host that also needs its timers
/// (heartbeats every 45 s, dead-link detection) while nothing arrives must
/// give the transport a read timeout that fails with
/// [`ErrorKind::TimedOut`] (or [`ErrorKind::Interrupted`]): `poll` takes that
/// as "nothing arrived" and returns `Ok`. A read that blocks stamps its bytes
/// with the `now` it was given, so the timeout also bounds how early a dead
/// link can be declared. Hosts with an executor use [`AsyncConnection`].
///
/// ```
/// use douyu_core::session::{
///     Client, ClientConfig, ClientEvent, Connection, Instant, TRANSMIT_MAX,
/// };
/// # struct Loopback { rx: &'static [u8], tx: [u8; 256], sent: usize }
/// # impl embedded_io::ErrorType for Loopback { type Error = embedded_io::ErrorKind; }
/// # impl embedded_io::Read for Loopback {
/// #     fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
/// #         let n = self.rx.len().min(buf.len());
/// #         buf[..n].copy_from_slice(&self.rx[..n]);
/// #         self.rx = &self.rx[n..];
/// #         Ok(n)
/// #     }
/// # }
/// # impl embedded_io::Write for Loopback {
/// #     fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
/// #         let n = buf.len().min(self.tx.len() - self.sent);
/// #         self.tx[self.sent..self.sent + n].copy_from_slice(&buf[..n]);
/// #         self.sent += n;
/// #         Ok(n)
/// #     }
/// #     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # let socket = Loopback {
/// #     rx: b"\x22\0\0\0\x22\0\0\0\xb2\x02\0\0type@=loginres/userid@=1/\0",
/// #     tx: [0; 256],
/// #     sent: 0,
/// # };
/// let now = Instant::from_millis(0); // the host's clock
/// let (mut rx, mut tx) = ([0u8; 4096], [0u8; TRANSMIT_MAX]);
/// let client = Client::new(ClientConfig::new(288_016), &mut rx, now);
/// let mut conn = Connection::new(client, socket, &mut tx);
/// let mut logged_in = false;
/// // Sends the `loginreq`, reads the `loginres`.
/// conn.poll(now, |event| logged_in |= matches!(event, ClientEvent::LoggedIn(_)))?;
/// assert!(logged_in);
/// # Ok::<(), douyu_core::session::DriverError<embedded_io::ErrorKind>>(())
/// ```
#[derive(Debug)]
pub struct Connection<'b, T> {
    client: Client<'b>,
    transport: T,
    tx: &'b mut [u8],
}

impl<'b, T: embedded_io::Read + embedded_io::Write> Connection<'b, T> {
    /// Drives `client` over `transport`, encoding into `tx`, which must hold
    /// the largest frame the client writes: [`TRANSMIT_MAX`](super::TRANSMIT_MAX)
    /// bytes, or [`REPLY_MAX`](super::REPLY_MAX) for a host that queues no
    /// chat.
    pub fn new(client: Client<'b>, transport: T, tx: &'b mut [u8]) -> Self {
        Self {
            client,
            transport,
            tx,
        }
    }

    /// One round at `now`: the due timeout, every transmit, one read, and
    /// every event, each handed to `on_event` as it comes.
    ///
    /// Returns `Ok` without reading once the session closes (the poll that
    /// hands out [`ClientEvent::Closed`]), and [`DriverError::Closed`] if
    /// called again.
    pub fn poll(
        &mut self,
        now: Instant,
        mut on_event: impl FnMut(ClientEvent<'_>),
    ) -> Result<(), DriverError<T::Error>> {
        tick(&mut self.client, now)?;
        while let Some(n) = next_transmit(&mut self.client, self.tx, &mut on_event)? {
            self.transport
                .write_all(&self.tx[..n])
                .map_err(DriverError::Io)?;
        }
        self.transport.flush().map_err(DriverError::Io)?;
        if self.client.is_closed() {
            return Ok(());
        }
        let read = self.transport.read(self.client.receive_window());
        received(&mut self.client, now, read, on_event)
    }

    /// The session, to ask what it knows ([`Client::poll_timeout`]).
    pub const fn client(&self) -> &Client<'b> {
        &self.client
    }

    /// The session, to queue chat lines and requests or [`Client::close`]
    /// it; the next `poll` sends what was queued.
    pub const fn client_mut(&mut self) -> &mut Client<'b> {
        &mut self.client
    }

    /// The session, the transport and the transmit buffer, to close the
    /// transport or reuse the buffer.
    pub fn into_inner(self) -> (Client<'b>, T, &'b mut [u8]) {
        (self.client, self.transport, self.tx)
    }
}

/// A [`Client`] driven over an async transport; see [`Connection`], which
/// this mirrors.
///
/// The time is still the caller's: it passes a fresh `now` to every `poll`,
/// and bounds the wait for input by racing `poll` against its own timer set
/// to [`Client::poll_timeout`]. The read is the last step of `poll`, so a
/// `poll` dropped there loses nothing (if the transport's read is
/// cancel-safe); one dropped while it writes may have cut a frame.
#[derive(Debug)]
pub struct AsyncConnection<'b, T> {
    client: Client<'b>,
    transport: T,
    tx: &'b mut [u8],
}

impl<'b, T: embedded_io_async::Read + embedded_io_async::Write> AsyncConnection<'b, T> {
    /// Drives `client` over `transport`, encoding into `tx` (sized as for
    /// [`Connection::new`]).
    pub fn new(client: Client<'b>, transport: T, tx: &'b mut [u8]) -> Self {
        Self {
            client,
            transport,
            tx,
        }
    }

    /// One round at `now`, as [`Connection::poll`].
    pub async fn poll(
        &mut self,
        now: Instant,
        mut on_event: impl FnMut(ClientEvent<'_>),
    ) -> Result<(), DriverError<T::Error>> {
        tick(&mut self.client, now)?;
        while let Some(n) = next_transmit(&mut self.client, self.tx, &mut on_event)? {
            self.transport
                .write_all(&self.tx[..n])
                .await
                .map_err(DriverError::Io)?;
        }
        self.transport.flush().await.map_err(DriverError::Io)?;
        if self.client.is_closed() {
            return Ok(());
        }
        let read = self.transport.read(self.client.receive_window()).await;
        received(&mut self.client, now, read, on_event)
    }

    /// The session, to ask what it knows ([`Client::poll_timeout`]).
    pub const fn client(&self) -> &Client<'b> {
        &self.client
    }

    /// The session, to queue chat lines and requests or [`Client::close`]
    /// it; the next `poll` sends what was queued.
    pub const fn client_mut(&mut self) -> &mut Client<'b> {
        &mut self.client
    }

    /// The session, the transport and the transmit buffer.
    pub fn into_inner(self) -> (Client<'b>, T, &'b mut [u8]) {
        (self.client, self.transport, self.tx)
    }
}

/// Refuses a closed session, and handles the timeout if it is due.
fn tick<E>(client: &mut Client<'_>, now: Instant) -> Result<(), DriverError<E>> {
    if client.is_closed() {
        return Err(DriverError::Closed);
    }
    if client.poll_timeout().is_some_and(|due| now >= due) {
        client.handle_timeout(now);
    }
    Ok(())
}

/// Hands out pending events, then encodes the next frame to send.
fn next_transmit<E>(
    client: &mut Client<'_>,
    tx: &mut [u8],
    on_event: &mut impl FnMut(ClientEvent<'_>),
) -> Result<Option<usize>, DriverError<E>> {
    // Before each frame, so the events sending raises (`Joined`, `Closed`)
    // are out by the call that finds nothing left to send.
    drain(client, on_event);
    Ok(client.poll_transmit(tx)?)
}

/// Commits what a read brought and hands out the events.
fn received<E: embedded_io::Error>(
    client: &mut Client<'_>,
    now: Instant,
    read: Result<usize, E>,
    mut on_event: impl FnMut(ClientEvent<'_>),
) -> Result<(), DriverError<E>> {
    let n = match read {
        // The window is never empty here: every complete frame was taken.
        Ok(0) => return Err(DriverError::Disconnected),
        Ok(n) => n,
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => 0,
        Err(e) => return Err(DriverError::Io(e)),
    };
    client.commit_input(now, n);
    drain(client, &mut on_event);
    Ok(())
}

fn drain(client: &mut Client<'_>, on_event: &mut impl FnMut(ClientEvent<'_>)) {
    while let Some(event) = client.poll_event() {
        on_event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Direction, Frame, Status};
    use crate::message::ServerMessage;
    use crate::session::ClientConfig;
    use core::cell::RefCell;
    use core::task::{Context, Poll, Waker};
    use std::collections::VecDeque;
    use std::format;
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    /// Both directions of an in-memory link, shared with the test.
    #[derive(Default)]
    struct Wire {
        /// Bytes from the server not yet read.
        inbound: VecDeque<u8>,
        /// Bytes the client wrote.
        outbound: Vec<u8>,
        /// Whether the server ended the stream (reads then return 0).
        eof: bool,
        /// What a read fails with, once `inbound` is empty.
        fail: Option<ErrorKind>,
    }

    impl Wire {
        fn push(&mut self, body: &str) {
            let mut out = vec![0u8; body.len() + 13];
            let n = Frame::new(Direction::ServerToClient, body)
                .encode(&mut out)
                .unwrap();
            self.inbound.extend(&out[..n]);
        }

        /// The bodies written since the last call.
        fn sent(&mut self) -> Vec<String> {
            let mut bodies = Vec::new();
            let mut rest = &self.outbound[..];
            while let Status::Complete((frame, used)) = Frame::decode(rest).unwrap() {
                assert_eq!(frame.direction, Direction::ClientToServer);
                bodies.push(frame.body.to_string());
                rest = &rest[used..];
            }
            assert!(rest.is_empty(), "a frame was cut");
            self.outbound.clear();
            bodies
        }
    }

    /// The test's transport; reads time out when nothing is there.
    struct Pipe<'a>(&'a RefCell<Wire>);

    impl Pipe<'_> {
        fn read_now(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
            let mut wire = self.0.borrow_mut();
            if wire.inbound.is_empty() {
                return match (wire.eof, wire.fail) {
                    (true, _) => Ok(0),
                    (false, fail) => Err(fail.unwrap_or(ErrorKind::TimedOut)),
                };
            }
            let n = wire.inbound.len().min(buf.len());
            for (slot, byte) in buf.iter_mut().zip(wire.inbound.drain(..n)) {
                *slot = byte;
            }
            Ok(n)
        }

        fn write_now(&mut self, buf: &[u8]) -> usize {
            // A few bytes at a time, so that `write_all` must loop.
            let n = buf.len().min(7);
            self.0.borrow_mut().outbound.extend_from_slice(&buf[..n]);
            n
        }
    }

    impl embedded_io::ErrorType for Pipe<'_> {
        type Error = ErrorKind;
    }

    impl embedded_io::Read for Pipe<'_> {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
            self.read_now(buf)
        }
    }

    impl embedded_io::Write for Pipe<'_> {
        fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
            Ok(self.write_now(buf))
        }

        fn flush(&mut self) -> Result<(), ErrorKind> {
            Ok(())
        }
    }

    impl embedded_io_async::Read for Pipe<'_> {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
            self.read_now(buf)
        }
    }

    impl embedded_io_async::Write for Pipe<'_> {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
            Ok(self.write_now(buf))
        }

        async fn flush(&mut self) -> Result<(), ErrorKind> {
            Ok(())
        }
    }

    /// Runs a future whose transport never waits.
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = core::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the in-memory transport never waits"),
        }
    }

    fn tag(event: ClientEvent<'_>) -> String {
        match event {
            ClientEvent::LoggedIn(_) => "logged in".into(),
            ClientEvent::Joined { room } => format!("joined {room}"),
            ClientEvent::Message(ServerMessage::Chat(chat)) => {
                format!("chat {}", chat.txt.unwrap())
            }
            ClientEvent::Closed(reason) => format!("closed: {reason}"),
            other => format!("{other:?}"),
        }
    }

    type Round = Result<Vec<String>, DriverError<ErrorKind>>;

    const ROOM: u64 = 288_016;

    /// The scripted server's side of a whole session; `poll(now, close)`
    /// closes the session first if asked, polls once and returns the events.
    fn script(wire: &RefCell<Wire>, mut poll: impl FnMut(u64, bool) -> Round) {
        let sent = |wire: &RefCell<Wire>| wire.borrow_mut().sent();
        assert_eq!(poll(0, false), Ok(vec![]));
        assert_eq!(sent(wire), ["type@=loginreq/roomid@=288016/"]);

        wire.borrow_mut().push("type@=loginres/userid@=1/");
        assert_eq!(poll(10, false), Ok(vec!["logged in".into()]));
        assert_eq!(sent(wire), Vec::<String>::new());
        assert_eq!(poll(20, false), Ok(vec![format!("joined {ROOM}")]));
        assert_eq!(sent(wire), ["type@=joingroup/rid@=288016/gid@=-9999/"]);

        wire.borrow_mut().push("type@=chatmsg/nn@=fish/txt@=hi/");
        assert_eq!(poll(30, false), Ok(vec!["chat hi".into()]));

        assert_eq!(poll(44_999, false), Ok(vec![]));
        assert_eq!(sent(wire), Vec::<String>::new());
        assert_eq!(poll(45_000, false), Ok(vec![]));
        assert_eq!(sent(wire), ["type@=mrkl/"]);

        assert_eq!(poll(45_001, true), Ok(vec!["closed: logged out".into()]));
        assert_eq!(sent(wire), ["type@=logout/"]);
        assert_eq!(poll(45_002, false), Err(DriverError::Closed));
    }

    #[test]
    fn blocking_connection_runs_a_whole_session() {
        let wire = RefCell::new(Wire::default());
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 512]);
        let client = Client::new(ClientConfig::new(ROOM), &mut rx, Instant::from_millis(0));
        let mut conn = Connection::new(client, Pipe(&wire), &mut tx);
        script(&wire, |now, close| {
            if close {
                conn.client_mut().close();
            }
            let mut events = Vec::new();
            conn.poll(Instant::from_millis(now), |e| events.push(tag(e)))?;
            Ok(events)
        });
        let (client, _, _) = conn.into_inner();
        assert!(client.is_closed());
    }

    #[test]
    fn async_connection_runs_a_whole_session() {
        let wire = RefCell::new(Wire::default());
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 512]);
        let client = Client::new(ClientConfig::new(ROOM), &mut rx, Instant::from_millis(0));
        let mut conn = AsyncConnection::new(client, Pipe(&wire), &mut tx);
        script(&wire, |now, close| {
            if close {
                conn.client_mut().close();
            }
            let mut events = Vec::new();
            block_on(conn.poll(Instant::from_millis(now), |e| events.push(tag(e))))?;
            Ok(events)
        });
        assert!(conn.client().is_closed());
    }

    #[test]
    fn end_of_stream_is_an_error_and_leaves_the_session_open() {
        let wire = RefCell::new(Wire {
            eof: true,
            ..Wire::default()
        });
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 512]);
        let client = Client::new(ClientConfig::new(ROOM), &mut rx, Instant::from_millis(0));
        let mut conn = Connection::new(client, Pipe(&wire), &mut tx);
        let now = Instant::from_millis(0);
        assert_eq!(conn.poll(now, |_| {}), Err(DriverError::Disconnected));
        assert!(!conn.client().is_closed());
        assert_eq!(wire.borrow_mut().sent().len(), 1, "the loginreq went out");
    }

    #[test]
    fn a_dead_link_closes_without_reading() {
        // A read would report the end of the stream.
        let wire = RefCell::new(Wire {
            eof: true,
            ..Wire::default()
        });
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 512]);
        let client = Client::new(ClientConfig::new(ROOM), &mut rx, Instant::from_millis(0));
        let mut conn = AsyncConnection::new(client, Pipe(&wire), &mut tx);
        let mut events = Vec::new();
        let dead = Instant::from_millis(90_000);
        block_on(conn.poll(dead, |e| events.push(tag(e)))).unwrap();
        assert_eq!(
            events,
            ["Dead { silent_for: 90s }", "closed: silent for 90000 ms"]
        );
    }

    #[test]
    fn transport_and_session_errors_pass_up_with_their_source() {
        use core::error::Error;
        let wire = RefCell::new(Wire {
            fail: Some(ErrorKind::ConnectionReset),
            ..Wire::default()
        });
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 512]);
        let client = Client::new(ClientConfig::new(ROOM), &mut rx, Instant::from_millis(0));
        let mut conn = Connection::new(client, Pipe(&wire), &mut tx);
        let e = conn.poll(Instant::from_millis(0), |_| {}).unwrap_err();
        assert_eq!(e, DriverError::Io(ErrorKind::ConnectionReset));
        assert_eq!(
            e.to_string(),
            format!("transport failed: {}", ErrorKind::ConnectionReset)
        );
        assert_eq!(
            e.source().unwrap().downcast_ref::<ErrorKind>(),
            Some(&ErrorKind::ConnectionReset)
        );

        // A transmit buffer too small for the `logout`.
        let mut small = [0u8; 16];
        let (client, pipe, _) = conn.into_inner();
        let mut conn = Connection::new(client, pipe, &mut small);
        conn.client_mut().close();
        let e = conn.poll(Instant::from_millis(1), |_| {}).unwrap_err();
        let DriverError::Session(session) = e else {
            panic!("expected a session error, got {e:?}")
        };
        assert!(matches!(session, SessionError::BufferFull { .. }));
        assert_eq!(e.to_string(), session.to_string());
        assert_eq!(
            e.source().unwrap().downcast_ref::<SessionError>(),
            Some(&session)
        );
        assert!(DriverError::<ErrorKind>::Closed.source().is_none());
        assert!(DriverError::<ErrorKind>::Disconnected.source().is_none());
    }
}
