//! Frames: the binary envelope around every message (PROTOCOL.md §2).
//!
//! ```text
//! offset size field
//! 0      4    length      = bytes after this field (8 + body + 1), little-endian
//! 4      4    length      again; the two must be equal
//! 8      2    type        689 client → server, 690 server → client
//! 10     1    encryption  0
//! 11     1    reserved    0
//! 12     n    body        STT text, UTF-8, no NUL
//! 12+n   1    0x00        terminator
//! ```
//!
//! Decoding borrows: a [`Frame`] is a view into the caller's bytes. Encoding
//! writes into a caller buffer ([`Frame::encode`], [`encode_with`]) or any
//! [`embedded_io::Write`] ([`Frame::write_to`]) in one pass.
//!
//! # No panics
//! [`Frame::decode`] and [`Header::parse`] accept any byte slice. Too few
//! bytes yield [`Status::Incomplete`]; every other violation of §2 is a
//! [`FrameError`] variant carrying the values involved.

use core::fmt;

use nom::Parser;

use crate::stt::{MapWriter, SttError, Writer};

/// Size of the fixed header that precedes the body: two lengths, type, two flag bytes.
pub const HEADER_LEN: usize = 12;

/// The smallest legal value of the length field: 8 header bytes after it plus the terminator.
pub const MIN_LENGTH: u32 = 9;

/// Bytes a frame adds around its body: the header and the terminating NUL.
pub const OVERHEAD: usize = HEADER_LEN + 1;

/// Which way a frame travels: the header's 16-bit type field (689 or 690).
///
/// PROTOCOL.md calls this field the message type; it is named for what it
/// means here so that it cannot be confused with the body's `type@=` key.
///
/// The protocol defines two values; anything else is still decoded and handed to
/// the caller as [`Direction::Other`], because a silently dropped frame is
/// harder to debug than one the caller can see and reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// 689: sent by a client to the server.
    ClientToServer,
    /// 690: sent by the server to a client.
    ServerToClient,
    /// Any other value of the type field.
    Other(u16),
}

impl Direction {
    /// Wire value of [`Direction::ClientToServer`].
    pub const CLIENT_TO_SERVER: u16 = 689;
    /// Wire value of [`Direction::ServerToClient`].
    pub const SERVER_TO_CLIENT: u16 = 690;

    /// Interprets the type field.
    #[must_use]
    pub const fn from_u16(value: u16) -> Self {
        match value {
            Self::CLIENT_TO_SERVER => Self::ClientToServer,
            Self::SERVER_TO_CLIENT => Self::ServerToClient,
            other => Self::Other(other),
        }
    }

    /// The value written in the type field.
    #[must_use]
    pub const fn to_u16(self) -> u16 {
        match self {
            Self::ClientToServer => Self::CLIENT_TO_SERVER,
            Self::ServerToClient => Self::SERVER_TO_CLIENT,
            Self::Other(other) => other,
        }
    }
}

/// Result of decoding input that may be cut short, after httparse's `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<T> {
    /// The input held a whole item.
    Complete(T),
    /// The input is a valid prefix; at least `needed` bytes in all are required.
    Incomplete {
        /// Total input length (from the start of the frame) needed to make progress.
        needed: usize,
    },
}

impl<T> Status<T> {
    /// Whether the input held a whole item.
    #[must_use]
    pub const fn is_complete(&self) -> bool {
        matches!(self, Self::Complete(_))
    }

    /// Whether more input is needed.
    #[must_use]
    pub const fn is_incomplete(&self) -> bool {
        matches!(self, Self::Incomplete { .. })
    }

    /// The complete item; for tests and for input known to be whole, where
    /// a short read is a bug rather than a condition to handle.
    ///
    /// # Panics
    /// If the status is [`Status::Incomplete`].
    #[track_caller]
    pub fn unwrap(self) -> T {
        match self {
            Self::Complete(item) => item,
            Self::Incomplete { needed } => {
                panic!("called `Status::unwrap()` on an incomplete input ({needed} bytes needed)")
            }
        }
    }
}

/// Everything that can be wrong with a frame, each rule of §2 its own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// The two length fields differ: the stream cannot be re-synchronised.
    LengthMismatch {
        /// The first length field.
        first: u32,
        /// The second length field.
        second: u32,
    },
    /// The length field is below [`MIN_LENGTH`].
    TooShort {
        /// The declared length.
        length: u32,
    },
    /// The frame (`4 + length` bytes) does not fit the decoder's buffer.
    TooLarge {
        /// The declared length.
        length: u32,
        /// The largest whole frame, in bytes, the decoder can hold.
        capacity: usize,
    },
    /// The last byte of the frame is not the NUL terminator.
    MissingTerminator {
        /// The byte found where NUL belongs.
        found: u8,
    },
    /// The body holds a NUL byte.
    NulInBody {
        /// Offset of the NUL within the body.
        offset: usize,
    },
    /// The body is not UTF-8.
    InvalidUtf8 {
        /// Length of the valid UTF-8 prefix of the body.
        valid_up_to: usize,
    },
    /// A body to encode is longer than the 32-bit length field can declare.
    BodyTooLong {
        /// The body's length in bytes.
        len: usize,
        /// The longest body a frame can carry: `u32::MAX - 9` bytes.
        max: usize,
    },
    /// An output buffer is too small for the encoded frame.
    BufferFull {
        /// Bytes the encoded frame needs (exact here; at least this many
        /// where the frame is built as it is written, as in
        /// [`SttError::BufferFull`]).
        needed: usize,
        /// Bytes the buffer has.
        capacity: usize,
    },
    /// The body given to [`encode_with`] could not be written: a NUL in a
    /// key or value ([`SttError::NulByte`]), or an error the caller's closure
    /// returned. (Running out of room is [`FrameError::BufferFull`].)
    Body(SttError),
}

impl FrameError {
    /// Whether the error leaves the byte stream without a trustworthy frame
    /// boundary, so that a stream decoder must stop (§5).
    ///
    /// Only disagreeing lengths and lengths too short to cover the header are
    /// fatal; a frame with a consistent length can be stepped over.
    #[must_use]
    pub const fn is_fatal(&self) -> bool {
        matches!(self, Self::LengthMismatch { .. } | Self::TooShort { .. })
    }

    /// The class name used by the conformance vectors (`length_mismatch`, …).
    #[must_use]
    pub const fn class(&self) -> &'static str {
        match self {
            Self::LengthMismatch { .. } => "length_mismatch",
            Self::TooShort { .. } => "too_short",
            Self::TooLarge { .. } => "too_large",
            Self::MissingTerminator { .. } => "missing_terminator",
            Self::NulInBody { .. } => "nul_in_body",
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::BodyTooLong { .. } => "body_too_long",
            Self::BufferFull { .. } => "buffer_full",
            Self::Body(e) => e.class(),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::LengthMismatch { first, second } => {
                write!(f, "length fields differ: {first} and {second}")
            }
            Self::TooShort { length } => {
                write!(f, "length {length} is below the minimum {MIN_LENGTH}")
            }
            Self::TooLarge { length, capacity } => write!(
                f,
                "frame of {} bytes exceeds the {capacity}-byte buffer",
                u64::from(length) + 4
            ),
            Self::MissingTerminator { found } => {
                write!(f, "frame ends with {found:#04x} instead of NUL")
            }
            Self::NulInBody { offset } => write!(f, "NUL byte at body offset {offset}"),
            Self::InvalidUtf8 { valid_up_to } => {
                write!(f, "body is not UTF-8 after byte {valid_up_to}")
            }
            Self::BodyTooLong { len, max } => {
                write!(f, "body of {len} bytes exceeds the {max}-byte maximum")
            }
            Self::BufferFull { needed, capacity } => {
                write!(f, "frame needs {needed} bytes, buffer has {capacity}")
            }
            Self::Body(e) => write!(f, "body not written: {e}"),
        }
    }
}

impl core::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Body(e) => Some(e),
            _ => None,
        }
    }
}

/// The fixed 12-byte header, checked for the rules that need no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// The (agreed) length field: bytes after the first length field.
    pub length: u32,
    /// The type field.
    pub direction: Direction,
    /// The encryption byte (0 in practice; passed up as found).
    pub encryption: u8,
    /// The reserved byte (0 in practice; passed up as found).
    pub reserved: u8,
}

impl Header {
    /// Parses and checks a header at the start of `input`.
    ///
    /// Fails with [`FrameError::LengthMismatch`] or [`FrameError::TooShort`];
    /// returns [`Status::Incomplete`] while fewer than [`HEADER_LEN`] bytes are
    /// present. The length mismatch is reported as soon as both length fields
    /// are in, without waiting for the rest.
    #[inline]
    pub fn parse(input: &[u8]) -> Result<Status<Self>, FrameError> {
        match grammar::header(input) {
            Ok((_, header)) => Ok(Status::Complete(header)),
            Err(nom::Err::Incomplete(needed)) => Ok(Status::Incomplete {
                needed: grammar::total(input, needed),
            }),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.0),
        }
    }

    /// Bytes the whole frame occupies on the wire: `4 + length`.
    #[must_use]
    pub const fn frame_len(&self) -> usize {
        // On a 32-bit target a length near `u32::MAX` has no room for the 4;
        // such a frame is larger than any buffer either way.
        (self.length as usize).saturating_add(4)
    }

    /// Bytes of the body: `length - 9`.
    #[must_use]
    pub const fn body_len(&self) -> usize {
        self.frame_len() - OVERHEAD
    }
}

/// A decoded frame, borrowing its body from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame<'a> {
    /// The type field.
    pub direction: Direction,
    /// The encryption byte.
    pub encryption: u8,
    /// The reserved byte.
    pub reserved: u8,
    /// The STT body, checked to be UTF-8 without NUL.
    pub body: &'a str,
}

impl<'a> Frame<'a> {
    /// A frame with zero flag bytes.
    #[must_use]
    pub const fn new(direction: Direction, body: &'a str) -> Self {
        Self {
            direction,
            encryption: 0,
            reserved: 0,
            body,
        }
    }

    /// Decodes the frame at the start of `input`.
    ///
    /// On success returns the frame and the number of bytes it occupied, so
    /// the caller can continue after it.
    ///
    /// ```
    /// use douyu_core::frame::{Frame, Direction};
    /// let wire = b"\x14\0\0\0\x14\0\0\0\xb2\x02\0\0type@=mrkl/\0";
    /// let (frame, used) = Frame::decode(wire)?.unwrap();
    /// assert_eq!((frame.direction, frame.body, used), (Direction::ServerToClient, "type@=mrkl/", 24));
    /// # Ok::<(), douyu_core::frame::FrameError>(())
    /// ```
    pub fn decode(input: &'a [u8]) -> Result<Status<(Self, usize)>, FrameError> {
        match grammar::frame(input) {
            Ok((rest, frame)) => Ok(Status::Complete((frame, input.len() - rest.len()))),
            Err(nom::Err::Incomplete(needed)) => Ok(Status::Incomplete {
                needed: grammar::total(input, needed),
            }),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.0),
        }
    }

    /// Checks the body of a frame whose header is already parsed.
    /// `bytes` is exactly the whole frame (`header.frame_len()` bytes).
    #[inline]
    pub(crate) fn from_parts(header: Header, bytes: &'a [u8]) -> Result<Self, FrameError> {
        let rest = bytes.get(HEADER_LEN..).unwrap_or_default();
        match grammar::after_header(header).parse(rest) {
            Ok((_, frame)) => Ok(frame),
            // `bytes` holds the whole frame, so no rule can run short; were
            // one to, the frame would be shorter than its header says.
            Err(nom::Err::Incomplete(_)) => Err(FrameError::TooShort {
                length: header.length,
            }),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.0),
        }
    }

    /// Bytes this frame occupies on the wire.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        self.body.len() + OVERHEAD
    }

    /// Encodes the frame into `out`, returning the number of bytes written.
    ///
    /// Fails with [`FrameError::BufferFull`] when `out` is too small, with
    /// [`FrameError::NulInBody`] when the body holds NUL (the receiver could
    /// not decode it), and with [`FrameError::BodyTooLong`] when the length
    /// does not fit the 32-bit field.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, FrameError> {
        let header = self.header()?;
        let len = self.encoded_len();
        let capacity = out.len();
        let out = out.get_mut(..len).ok_or(FrameError::BufferFull {
            needed: len,
            capacity,
        })?;
        let (head, rest) = out.split_at_mut(HEADER_LEN);
        head.copy_from_slice(&header);
        let (body, nul) = rest.split_at_mut(self.body.len());
        body.copy_from_slice(self.body.as_bytes());
        nul.fill(0);
        Ok(len)
    }

    /// Writes the frame to `writer` (header, body, terminator; no flush).
    ///
    /// An invalid body (see [`Frame::encode`]) is refused before anything is
    /// written, so the stream never carries half a frame because of it.
    pub fn write_to<W: embedded_io::Write>(
        &self,
        writer: &mut W,
    ) -> Result<(), WriteError<W::Error>> {
        let header = self.header().map_err(WriteError::Frame)?;
        writer.write_all(&header).map_err(WriteError::Io)?;
        writer
            .write_all(self.body.as_bytes())
            .map_err(WriteError::Io)?;
        writer.write_all(&[0]).map_err(WriteError::Io)
    }

    /// The 12 header bytes for this frame, after checking the body can be sent.
    fn header(&self) -> Result<[u8; HEADER_LEN], FrameError> {
        if let Some(offset) = memchr::memchr(0, self.body.as_bytes()) {
            return Err(FrameError::NulInBody { offset });
        }
        Ok(header_bytes(
            length_field(self.body.len())?,
            self.direction,
            self.encryption,
            self.reserved,
        ))
    }
}

/// The length field of a frame with a body of `body_len` bytes.
fn length_field(body_len: usize) -> Result<u32, FrameError> {
    // A body is a slice, at most `isize::MAX` bytes: the sum cannot wrap.
    u32::try_from(body_len + OVERHEAD - 4).map_err(|_| FrameError::BodyTooLong {
        len: body_len,
        max: (u32::MAX - MIN_LENGTH) as usize,
    })
}

fn header_bytes(length: u32, kind: Direction, encryption: u8, reserved: u8) -> [u8; HEADER_LEN] {
    let mut head = [0u8; HEADER_LEN];
    head[0..4].copy_from_slice(&length.to_le_bytes());
    head[4..8].copy_from_slice(&length.to_le_bytes());
    head[8..10].copy_from_slice(&kind.to_u16().to_le_bytes());
    head[10] = encryption;
    head[11] = reserved;
    head
}

/// Failure of [`Frame::write_to`]: the frame was refused, or the writer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WriteError<E> {
    /// The frame cannot be encoded (NUL in body, length overflow).
    Frame(FrameError),
    /// The underlying writer failed.
    Io(E),
}

impl<E: fmt::Display> fmt::Display for WriteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame(e) => write!(f, "frame refused: {e}"),
            Self::Io(e) => write!(f, "write failed: {e}"),
        }
    }
}

/// The frame or IO error is the source (`Display` includes it too).
/// Every [`embedded_io::Error`] is a [`core::error::Error`].
impl<E: core::error::Error + 'static> core::error::Error for WriteError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Frame(e) => Some(e),
            Self::Io(e) => Some(e),
        }
    }
}

/// Builds a frame in `out` by writing its STT body in place, then fills in the
/// header: one pass, no intermediate buffer. Returns the frame's length.
///
/// Errors are [`FrameError`]s, as from [`Frame::encode`]: running out of room
/// is [`FrameError::BufferFull`] with the sizes of the frame (not the body),
/// anything else the writer or `build` reports is [`FrameError::Body`].
///
/// ```
/// use douyu_core::frame::{encode_with, Frame, Direction};
/// let mut buf = [0u8; 64];
/// let n = encode_with(&mut buf, Direction::ClientToServer, |m| {
///     m.pair("type", "loginreq")?.pair("roomid", "288016")?;
///     Ok(())
/// })?;
/// let (frame, _) = Frame::decode(&buf[..n])?.unwrap();
/// assert_eq!(frame.body, "type@=loginreq/roomid@=288016/");
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
pub fn encode_with<F>(out: &mut [u8], direction: Direction, build: F) -> Result<usize, FrameError>
where
    F: FnOnce(&mut MapWriter<'_, '_>) -> Result<(), SttError>,
{
    let capacity = out.len();
    let full = |body: usize| FrameError::BufferFull {
        needed: body.saturating_add(OVERHEAD),
        capacity,
    };
    if capacity < OVERHEAD {
        return Err(full(0));
    }
    let (head, rest) = out.split_at_mut(HEADER_LEN);
    // Keep one byte back for the terminator.
    let body_room = rest.len() - 1;
    let mut writer = Writer::new(&mut rest[..body_room]);
    // Sizes of the body become sizes of the frame.
    build(&mut writer.map()).map_err(|e| match e {
        SttError::BufferFull { needed, .. } => full(needed),
        other => FrameError::Body(other),
    })?;
    let body_len = writer.len();
    let length = u32::try_from(body_len + OVERHEAD - 4).map_err(|_| full(body_len))?;
    rest[body_len] = 0;
    head.copy_from_slice(&header_bytes(length, direction, 0, 0));
    Ok(body_len + OVERHEAD)
}

/// Iterates the frames of a complete capture held in memory, applying the same
/// rules as the stream decoder ([`crate::stream::Decoder`]) with a frame size
/// limit of `capacity` bytes.
///
/// Each item is the frame's byte offset in `bytes` and the frame or the error
/// found there. A frame larger than `capacity` or with a bad body is reported
/// and stepped over; a fatal error ([`FrameError::is_fatal`]) is reported once
/// and ends the iteration, as do trailing bytes too few for a frame (see
/// [`Frames::remainder`]).
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    bytes: &'a [u8],
    offset: usize,
    capacity: usize,
    done: bool,
}

impl<'a> Frames<'a> {
    /// Frames of `bytes`, accepting whole frames of at most `capacity` bytes.
    #[must_use]
    pub const fn new(bytes: &'a [u8], capacity: usize) -> Self {
        Self {
            bytes,
            offset: 0,
            capacity,
            done: false,
        }
    }

    /// Bytes not consumed: after the iteration ends, a trailing partial frame
    /// (or everything from a fatal error on).
    #[must_use]
    pub fn remainder(&self) -> &'a [u8] {
        self.bytes.get(self.offset..).unwrap_or_default()
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = (usize, Result<Frame<'a>, FrameError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.offset;
        let input = self.remainder();
        let header = match Header::parse(input) {
            Ok(Status::Complete(header)) => header,
            Ok(Status::Incomplete { .. }) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some((at, Err(e)));
            }
        };
        let len = header.frame_len();
        if len > self.capacity {
            // Step over it like the stream decoder, even if it is cut short.
            self.offset = at.saturating_add(len).min(self.bytes.len());
            let e = FrameError::TooLarge {
                length: header.length,
                capacity: self.capacity,
            };
            return Some((at, Err(e)));
        }
        let Some(bytes) = input.get(..len) else {
            self.done = true;
            return None;
        };
        self.offset = at + len;
        Some((at, Frame::from_parts(header, bytes)))
    }
}

/// The grammar of §2 as nom streaming parsers.
///
/// ```text
/// frame  := header rest                   rest is `length - 8` bytes
/// header := length length type encryption reserved
///           (u32le  u32le  u16le u8       u8; the lengths equal, ≥ 9)
/// rest   := body 0x00                     body: UTF-8, no NUL
/// ```
///
/// A rule that runs out of input says `Incomplete(Needed)`, which the public
/// functions turn into [`Status::Incomplete`]; a rule that is broken fails
/// with the [`FrameError`] naming it.
mod grammar {
    use nom::error::{ErrorKind, ParseError};
    use nom::sequence::terminated;
    use nom::{Emit, IResult, Mode, Needed, OutputM, OutputMode, PResult, Parser};

    use super::{Direction, Frame, FrameError, HEADER_LEN, Header, MIN_LENGTH};

    /// A broken rule of §2.
    #[derive(Debug)]
    pub(super) struct Broken(pub(super) FrameError);

    impl ParseError<&[u8]> for Broken {
        /// nom's combinators used here add no failure of their own, and
        /// the parsers they combine fail with a [`FrameError`]; should one
        /// fail otherwise, the frame is
        /// shorter than its header says.
        fn from_error_kind(input: &[u8], _: ErrorKind) -> Self {
            let length = u32::try_from(input.len()).unwrap_or(u32::MAX);
            Self(FrameError::TooShort { length })
        }

        fn append(_: &[u8], _: ErrorKind, other: Self) -> Self {
            other
        }
    }

    type Result<'a, T> = IResult<&'a [u8], T, Broken>;

    /// `N` bytes as an array, in one load.
    ///
    /// nom's number parsers assemble a number byte by byte in a loop with
    /// calls: a quarter of the frame layer's instructions when they read
    /// the header (BENCHMARKS.md). Fixed-size fields from a fixed-size array
    /// are a few loads.
    struct Bytes<const N: usize>;

    impl<'a, const N: usize> Parser<&'a [u8]> for Bytes<N> {
        type Output = [u8; N];
        type Error = Broken;

        #[inline(always)]
        fn process<OM: OutputMode>(
            &mut self,
            input: &'a [u8],
        ) -> PResult<OM, &'a [u8], [u8; N], Broken> {
            match input.split_first_chunk::<N>() {
                Some((&bytes, rest)) => Ok((rest, OM::Output::bind(|| bytes))),
                None => Err(nom::Err::Incomplete(Needed::new(N - input.len()))),
            }
        }
    }

    /// `parser.map_res(check)`, inlined. nom's `MapRes` keeps a copy of the
    /// input for its error and stayed out of line in the frame loop, 60
    /// instructions a frame; the rules here carry their error in the
    /// [`FrameError`] and need no input position.
    struct Checked<P, F>(P, F);

    impl<'a, P, F, O> Parser<&'a [u8]> for Checked<P, F>
    where
        P: Parser<&'a [u8], Error = Broken>,
        F: FnMut(P::Output) -> core::result::Result<O, FrameError>,
    {
        type Output = O;
        type Error = Broken;

        #[inline(always)]
        fn process<OM: OutputMode>(&mut self, input: &'a [u8]) -> PResult<OM, &'a [u8], O, Broken> {
            let (rest, out) = self
                .0
                .process::<OutputM<Emit, OM::Error, OM::Incomplete>>(input)?;
            match (self.1)(out) {
                Ok(out) => Ok((rest, OM::Output::bind(|| out))),
                Err(e) => Err(nom::Err::Error(OM::Error::bind(|| Broken(e)))),
            }
        }
    }

    /// The next `n` bytes, as nom's streaming `take`; written here because
    /// nom's is a function whose `Parser` impl stayed out of line in the
    /// frame loop.
    struct Take(usize);

    impl<'a> Parser<&'a [u8]> for Take {
        type Output = &'a [u8];
        type Error = Broken;

        #[inline(always)]
        fn process<OM: OutputMode>(
            &mut self,
            input: &'a [u8],
        ) -> PResult<OM, &'a [u8], &'a [u8], Broken> {
            match input.split_at_checked(self.0) {
                Some((taken, rest)) => Ok((rest, OM::Output::bind(|| taken))),
                None => Err(nom::Err::Incomplete(Needed::new(self.0 - input.len()))),
            }
        }
    }

    /// A little-endian `u32`.
    fn le_u32<'a>() -> impl Parser<&'a [u8], Output = u32, Error = Broken> {
        Bytes::<4>.map(u32::from_le_bytes)
    }

    /// A little-endian `u16`.
    fn le_u16<'a>() -> impl Parser<&'a [u8], Output = u16, Error = Broken> {
        Bytes::<2>.map(u16::from_le_bytes)
    }

    /// One byte.
    fn byte<'a>() -> impl Parser<&'a [u8], Output = u8, Error = Broken> {
        Bytes::<1>.map(|[b]| b)
    }

    /// The two length fields, which must agree and cover the header. Checked
    /// as soon as both are in: a mismatch is fatal to a stream, and waiting
    /// for the type field would only delay saying so.
    fn lengths<'a>() -> impl Parser<&'a [u8], Output = u32, Error = Broken> {
        Checked((le_u32(), le_u32()), |(first, second)| {
            if first != second {
                Err(FrameError::LengthMismatch { first, second })
            } else if first < MIN_LENGTH {
                Err(FrameError::TooShort { length: first })
            } else {
                Ok(first)
            }
        })
    }

    /// `header := length length type encryption reserved`.
    #[inline(always)]
    pub(super) fn header(input: &[u8]) -> Result<'_, Header> {
        (lengths(), le_u16().map(Direction::from_u16), byte(), byte())
            .map(|(length, direction, encryption, reserved)| Header {
                length,
                direction,
                encryption,
                reserved,
            })
            .parse(input)
            // Whichever field is cut short, the header is wanted whole.
            .map_err(|e| match e {
                nom::Err::Incomplete(_) => {
                    nom::Err::Incomplete(Needed::new(HEADER_LEN.saturating_sub(input.len())))
                }
                e => e,
            })
    }

    /// The terminator: a NUL byte.
    fn nul<'a>() -> impl Parser<&'a [u8], Output = (), Error = Broken> {
        Checked(byte(), |found| match found {
            0 => Ok(()),
            found => Err(FrameError::MissingTerminator { found }),
        })
    }

    /// A body's bytes as text: no NUL, UTF-8.
    #[inline(always)]
    fn text(body: &[u8]) -> core::result::Result<&str, FrameError> {
        if let Some(offset) = memchr::memchr(0, body) {
            return Err(FrameError::NulInBody { offset });
        }
        // The fast check says only yes or no; the standard one finds where.
        simdutf8::basic::from_utf8(body).map_err(|_| FrameError::InvalidUtf8 {
            valid_up_to: core::str::from_utf8(body).map_or_else(|e| e.valid_up_to(), str::len),
        })
    }

    /// `rest := body 0x00`, the `length - 8` bytes after a `header`: the
    /// terminator is checked before the body, as a bad one means the
    /// length is wrong and the body is not worth reading.
    #[inline(always)]
    pub(super) fn after_header<'a>(
        header: Header,
    ) -> impl Parser<&'a [u8], Output = Frame<'a>, Error = Broken> {
        Checked(terminated(Take(header.body_len()), nul()), text).map(move |body| Frame {
            direction: header.direction,
            encryption: header.encryption,
            reserved: header.reserved,
            body,
        })
    }

    /// `frame := header rest`: the header says how many bytes the rest
    /// takes, so a frame cut short asks for all of them.
    pub(super) fn frame(input: &[u8]) -> Result<'_, Frame<'_>> {
        header
            .flat_map(|header: Header| Take(header.body_len() + 1).and_then(after_header(header)))
            .parse(input)
    }

    /// The total input length a rule that said `needed` asks for.
    pub(super) fn total(input: &[u8], needed: Needed) -> usize {
        match needed {
            Needed::Size(more) => input.len().saturating_add(more.get()),
            Needed::Unknown => input.len() + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const MRKL: &[u8] = b"\x14\0\0\0\x14\0\0\0\xb2\x02\0\0type@=mrkl/\0";

    fn decode_err(bytes: &[u8]) -> FrameError {
        Frame::decode(bytes).unwrap_err()
    }

    #[test]
    fn worked_example_round_trips() {
        let frame = Frame::new(Direction::ServerToClient, "type@=mrkl/");
        let mut out = [0u8; 32];
        let n = frame.encode(&mut out).unwrap();
        assert_eq!(&out[..n], MRKL);
        assert_eq!(Frame::decode(MRKL), Ok(Status::Complete((frame, 24))));
    }

    #[test]
    fn status_helpers() {
        let whole = Frame::decode(MRKL).unwrap();
        assert!(whole.is_complete() && !whole.is_incomplete());
        assert_eq!(whole.unwrap().1, 24);
        let short = Frame::decode(&MRKL[..3]).unwrap();
        assert!(short.is_incomplete() && !short.is_complete());
        let panic = std::panic::catch_unwind(|| short.unwrap()).unwrap_err();
        let message = panic.downcast_ref::<std::string::String>().unwrap();
        assert!(message.contains("12 bytes needed"), "{message}");
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for cut in 0..MRKL.len() {
            let status = Frame::decode(&MRKL[..cut]).unwrap();
            let Status::Incomplete { needed } = status else {
                panic!("cut {cut}")
            };
            assert!(needed > cut, "cut {cut} needs {needed}");
        }
    }

    #[test]
    fn length_mismatch_is_seen_before_the_type_arrives() {
        let e = decode_err(b"\x14\0\0\0\x15\0\0\0");
        assert_eq!(
            e,
            FrameError::LengthMismatch {
                first: 20,
                second: 21
            }
        );
        assert!(e.is_fatal());
    }

    #[test]
    fn too_short() {
        let e = decode_err(b"\x08\0\0\0\x08\0\0\0\xb2\x02\0\0");
        assert_eq!(e, FrameError::TooShort { length: 8 });
        assert!(e.is_fatal());
    }

    #[test]
    fn missing_terminator() {
        let mut bytes = MRKL.to_vec();
        *bytes.last_mut().unwrap() = b'X';
        assert_eq!(
            decode_err(&bytes),
            FrameError::MissingTerminator { found: b'X' }
        );
    }

    #[test]
    fn nul_in_body() {
        let bytes = b"\x0b\0\0\0\x0b\0\0\0\xb2\x02\0\0a\0\0";
        assert_eq!(decode_err(bytes), FrameError::NulInBody { offset: 1 });
    }

    #[test]
    fn invalid_utf8() {
        let bytes = b"\x0c\0\0\0\x0c\0\0\0\xb2\x02\0\0ab\xff\0";
        assert_eq!(
            decode_err(bytes),
            FrameError::InvalidUtf8 { valid_up_to: 2 }
        );
    }

    #[test]
    fn other_direction_is_reported() {
        let bytes = b"\x09\0\0\0\x09\0\0\0\xd2\x04\x01\x02\0";
        let Status::Complete((frame, 13)) = Frame::decode(bytes).unwrap() else {
            panic!()
        };
        assert_eq!(frame.direction, Direction::Other(1234));
        assert_eq!((frame.encryption, frame.reserved), (1, 2));
    }

    #[test]
    fn encode_refuses_small_buffer_and_nul() {
        let frame = Frame::new(Direction::ClientToServer, "type@=mrkl/");
        let mut out = [0u8; 23];
        assert_eq!(
            frame.encode(&mut out),
            Err(FrameError::BufferFull {
                needed: 24,
                capacity: 23
            })
        );
        let bad = Frame::new(Direction::ClientToServer, "a\0b");
        assert_eq!(
            bad.encode(&mut [0u8; 64]),
            Err(FrameError::NulInBody { offset: 1 })
        );
    }

    #[test]
    fn a_body_too_long_for_the_length_field_is_named_with_its_length() {
        let max = u32::MAX as usize - 9;
        assert_eq!(length_field(max), Ok(u32::MAX));
        if let Some(len) = max.checked_add(1) {
            assert_eq!(length_field(len), Err(FrameError::BodyTooLong { len, max }));
        }
    }

    #[test]
    fn write_to_matches_encode() {
        let frame = Frame::new(Direction::ClientToServer, "type@=logout/");
        let mut sink = [0u8; 64];
        let mut cursor: &mut [u8] = &mut sink;
        frame.write_to(&mut cursor).unwrap();
        let left = cursor.len();
        let mut expected = [0u8; 64];
        let n = frame.encode(&mut expected).unwrap();
        assert_eq!(64 - left, n);
        assert_eq!(&sink[..n], &expected[..n]);
    }

    #[test]
    fn write_to_refuses_a_bad_body_and_passes_io_errors() {
        let bad = Frame::new(Direction::ClientToServer, "a\0");
        let mut sink = [0u8; 64];
        let mut cursor: &mut [u8] = &mut sink;
        assert_eq!(
            bad.write_to(&mut cursor),
            Err(WriteError::Frame(FrameError::NulInBody { offset: 1 }))
        );
        assert_eq!(cursor.len(), 64, "nothing written");
        let good = Frame::new(Direction::ClientToServer, "type@=mrkl/");
        let mut small = [0u8; 10];
        let mut cursor: &mut [u8] = &mut small;
        assert!(matches!(good.write_to(&mut cursor), Err(WriteError::Io(_))));
    }

    #[test]
    fn encode_with_reports_full_buffer() {
        let mut out = [0u8; 20];
        let r = encode_with(&mut out, Direction::ClientToServer, |m| {
            m.pair("type", "loginreq")?;
            Ok(())
        });
        // At least the 13 bytes around the body, whose writing stopped at
        // `type@=loginreq` (14 bytes; the `/` after it was never tried).
        assert_eq!(
            r,
            Err(FrameError::BufferFull {
                needed: 13 + 14,
                capacity: 20
            })
        );
        assert_eq!(
            encode_with(&mut [0u8; 5], Direction::ClientToServer, |_| Ok(())),
            Err(FrameError::BufferFull {
                needed: 13,
                capacity: 5
            })
        );
    }

    #[test]
    fn frames_iterator_steps_over_bad_and_large_frames() {
        let mut bytes = MRKL.to_vec();
        bytes.extend_from_slice(b"\x0c\0\0\0\x0c\0\0\0\xb2\x02\0\0ab\xff\0");
        bytes.extend_from_slice(MRKL);
        bytes.extend_from_slice(&MRKL[..5]);
        let got: Vec<_> = Frames::new(&bytes, 20)
            .map(|(at, r)| (at, r.map(|f| f.body)))
            .collect();
        let large = FrameError::TooLarge {
            length: 20,
            capacity: 20,
        };
        assert_eq!(
            got,
            [
                (0, Err(large)),
                (24, Err(FrameError::InvalidUtf8 { valid_up_to: 2 })),
                (40, Err(large))
            ]
        );
        let mut frames = Frames::new(&bytes, 1024);
        assert_eq!(frames.by_ref().count(), 3);
        assert_eq!(frames.remainder(), &MRKL[..5]);
    }
}
