//! The capture format of `douyu watch --record`: every frame received, with
//! its receive time, written as it arrives.
//!
//! `douyu decode` reads it (and raw frame captures: see [`detect`]),
//! `douyu serve --replay` plays it back. Other tools may read and write it;
//! this is its definition.
//!
//! # Layout
//!
//! All integers are little-endian, as in the protocol's own frame header.
//!
//! A file header of [`FILE_HEADER_LEN`] (16) bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | [`MAGIC`]: `89 44 59 43 41 50 0d 0a` (`\x89DYCAP\r\n`) |
//! | 8..10 | version, `u16`: [`VERSION`] (1) |
//! | 10..12 | header length, `u16`: 16 (a reader skips what it does not know) |
//! | 12..16 | reserved, zero |
//!
//! then records, each a [`RECORD_HEADER_LEN`] (24) byte header and its
//! payload:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | payload length, `u32` (at most [`MAX_PAYLOAD`]) |
//! | 4 | kind, `u8`: see [`Kind`] |
//! | 5..8 | reserved, zero |
//! | 8..16 | time, `i64`: when it was received, milliseconds since the Unix epoch (UTC) |
//! | 16..24 | room, `u64`: the room whose connection it came from |
//! | 24.. | payload |
//!
//! A [`Kind::Frame`] record holds exactly one whole frame as it came off the
//! wire (its 12-byte header included), so each can be decoded, and replayed,
//! on its own whatever was recorded before it. Bytes that form no whole
//! frame (a frame cut off by a disconnect, one larger than [`MAX_PAYLOAD`],
//! anything after a broken header) are kept as [`Kind::Bytes`] records, so
//! nothing received is lost. [`Kind::Connected`] and [`Kind::Closed`] mark
//! where each connection began and ended: between a `Closed` and the next
//! `Connected` of a room, messages may have been missed.
//!
//! Records are written one `write` each, unbuffered: a process that is
//! killed loses nothing it received before its last whole record. A reader
//! treats a record cut off at the end of the file as the end of the capture
//! ([`CaptureError::Truncated`]), after everything before it.
//!
//! The magic is not the start of any frame (its two length fields differ),
//! and its `\r\n` catches a file mangled by a text-mode transfer, as PNG's
//! does.

use std::io::{self, Read, Write};

use douyu_core::frame::{HEADER_LEN, Header, Status};

/// The first 8 bytes of a capture.
pub const MAGIC: [u8; 8] = *b"\x89DYCAP\r\n";

/// The format version this module writes, and the newest it reads.
pub const VERSION: u16 = 1;

/// Bytes of the file header.
pub const FILE_HEADER_LEN: usize = 16;

/// Bytes of each record's header.
pub const RECORD_HEADER_LEN: usize = 24;

/// Largest payload of one record: 1 MiB, far past any real frame (the live
/// service's are a few KiB; `watch` accepts 64 KiB). A reader refuses a
/// larger length as a corrupt capture instead of allocating it.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// One whole frame as received.
    Frame = 1,
    /// Received bytes that form no whole frame.
    Bytes = 2,
    /// A connection to the server opened; the payload is its URL (UTF-8).
    Connected = 3,
    /// The connection ended; the payload says why (UTF-8).
    Closed = 4,
}

impl Kind {
    fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => Self::Frame,
            2 => Self::Bytes,
            3 => Self::Connected,
            4 => Self::Closed,
            _ => return None,
        })
    }
}

/// One record, borrowing its payload from the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// What it holds.
    pub kind: Kind,
    /// Receive time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The room.
    pub room: u64,
    /// The payload.
    pub payload: &'a [u8],
}

/// What is wrong with a capture.
#[derive(Debug)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file does not start with [`MAGIC`].
    NotACapture,
    /// A version newer than this reader knows.
    Version(u16),
    /// A record's header is malformed (unknown kind, length over
    /// [`MAX_PAYLOAD`]); nothing after it can be trusted.
    BadRecord {
        /// File offset of the record.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The file ends inside a record (the writer was killed mid-write).
    Truncated {
        /// File offset of the cut-off record.
        offset: u64,
    },
    /// Reading or writing failed.
    Io(io::Error),
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotACapture => f.write_str("not a douyu capture (no capture header)"),
            Self::Version(v) => write!(
                f,
                "capture format version {v} is newer than this douyu reads ({VERSION})"
            ),
            Self::BadRecord { offset, detail } => {
                write!(f, "bad capture record at byte {offset}: {detail}")
            }
            Self::Truncated { offset } => {
                write!(f, "capture cut off inside the record at byte {offset}")
            }
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for CaptureError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// What the first bytes of an input say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A capture in this module's format.
    Capture,
    /// Hex text (digits and whitespace only): the user wants `--hex`.
    HexText,
    /// Anything else is taken for raw frames back to back.
    RawFrames,
}

/// Tells a capture from hex text and raw frames by its first bytes (up to
/// 64 are enough; fewer when the input is that short).
#[must_use]
pub fn detect(start: &[u8]) -> Detected {
    if start.starts_with(&MAGIC) {
        return Detected::Capture;
    }
    // A raw frame starts with a little-endian length whose high bytes are
    // zero: no frame starts with two hex digits.
    let hex = start.len() >= 2
        && start
            .iter()
            .all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace())
        && start.iter().any(u8::is_ascii_hexdigit);
    if hex {
        Detected::HexText
    } else {
        Detected::RawFrames
    }
}

/// Writes a capture, one unbuffered `write` per record.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    record: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Writes the file header to `out` and returns the writer.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = [0u8; FILE_HEADER_LEN];
        header[..8].copy_from_slice(&MAGIC);
        header[8..10].copy_from_slice(&VERSION.to_le_bytes());
        header[10..12].copy_from_slice(&(FILE_HEADER_LEN as u16).to_le_bytes());
        out.write_all(&header)?;
        out.flush()?;
        Ok(Self {
            out,
            record: Vec::new(),
        })
    }

    /// Appends one record. Payloads over [`MAX_PAYLOAD`] are split into
    /// several records of the same kind (only [`Kind::Bytes`] can be that
    /// long: see [`Framer`]).
    pub fn write(&mut self, kind: Kind, time_ms: i64, room: u64, payload: &[u8]) -> io::Result<()> {
        let mut pieces = payload.chunks(MAX_PAYLOAD);
        let first = pieces.next().unwrap_or(&[]);
        for piece in std::iter::once(first).chain(pieces) {
            self.record.clear();
            // At most MAX_PAYLOAD: fits a u32.
            self.record
                .extend_from_slice(&(piece.len() as u32).to_le_bytes());
            self.record.extend_from_slice(&[kind as u8, 0, 0, 0]);
            self.record.extend_from_slice(&time_ms.to_le_bytes());
            self.record.extend_from_slice(&room.to_le_bytes());
            self.record.extend_from_slice(piece);
            self.out.write_all(&self.record)?;
            self.out.flush()?;
        }
        // A large buffer is not kept around for one odd record.
        self.record.shrink_to(64 * 1024);
        Ok(())
    }
}

/// Reads a capture record by record through one buffer (at most
/// [`MAX_PAYLOAD`] bytes), so a capture of any size costs little memory.
#[derive(Debug)]
pub struct Reader<R: Read> {
    input: R,
    buf: Vec<u8>,
    offset: u64,
}

/// Fills `buf` from `input`; how many bytes came before the end.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl<R: Read> Reader<R> {
    /// Reads and checks the file header.
    pub fn new(mut input: R) -> Result<Self, CaptureError> {
        let mut header = [0u8; FILE_HEADER_LEN];
        let got = read_full(&mut input, &mut header)?;
        if got < MAGIC.len() || header[..8] != MAGIC {
            return Err(CaptureError::NotACapture);
        }
        if got < FILE_HEADER_LEN {
            return Err(CaptureError::Truncated { offset: 0 });
        }
        let version = u16::from_le_bytes([header[8], header[9]]);
        if version > VERSION || version == 0 {
            return Err(CaptureError::Version(version));
        }
        let header_len = usize::from(u16::from_le_bytes([header[10], header[11]]));
        // A later version's longer header: skip what this one does not know.
        let extra = header_len.saturating_sub(FILE_HEADER_LEN);
        let mut skip = vec![0u8; extra];
        if read_full(&mut input, &mut skip)? < extra {
            return Err(CaptureError::Truncated { offset: 0 });
        }
        Ok(Self {
            input,
            buf: Vec::new(),
            offset: FILE_HEADER_LEN.max(header_len) as u64,
        })
    }

    /// The file offset of the next record.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record and its file offset, or `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<(u64, Record<'_>)>, CaptureError> {
        let at = self.offset;
        let mut header = [0u8; RECORD_HEADER_LEN];
        match read_full(&mut self.input, &mut header)? {
            0 => return Ok(None),
            RECORD_HEADER_LEN => {}
            _ => return Err(CaptureError::Truncated { offset: at }),
        }
        let field = |range: std::ops::Range<usize>| -> [u8; 8] {
            let mut out = [0u8; 8];
            out[..range.len()].copy_from_slice(&header[range]);
            out
        };
        let len = u64::from_le_bytes(field(0..4)) as usize;
        let bad = |detail: String| CaptureError::BadRecord { offset: at, detail };
        let kind = Kind::from_u8(header[4])
            .ok_or_else(|| bad(format!("unknown record kind {}", header[4])))?;
        if len > MAX_PAYLOAD {
            return Err(bad(format!(
                "payload of {len} bytes is over the {MAX_PAYLOAD} allowed"
            )));
        }
        let time_ms = i64::from_le_bytes(field(8..16));
        let room = u64::from_le_bytes(field(16..24));
        self.buf.resize(len, 0);
        if read_full(&mut self.input, &mut self.buf)? < len {
            return Err(CaptureError::Truncated { offset: at });
        }
        self.offset += (RECORD_HEADER_LEN + len) as u64;
        Ok(Some((
            at,
            Record {
                kind,
                time_ms,
                room,
                payload: &self.buf,
            },
        )))
    }
}

/// Cuts one connection's received bytes into whole frames for
/// [`Kind::Frame`] records, using the frame header's rules from
/// `douyu-core`; what forms no whole frame comes out as [`Kind::Bytes`].
///
/// It holds at most one frame of [`MAX_PAYLOAD`] bytes: a frame announced
/// larger passes through as `Bytes` pieces as it comes, and after a header
/// that breaks the rules (which ends the session anyway) everything does.
#[derive(Debug, Default)]
pub struct Framer {
    pending: Vec<u8>,
    /// Bytes of a too-large frame still to pass through as they come.
    passing: usize,
    /// A broken header was seen: everything else passes through.
    broken: bool,
}

impl Framer {
    /// A framer for a new connection.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `bytes` as received and calls `emit` with each whole frame, or
    /// run of bytes that forms none, that they complete.
    pub fn push<E>(
        &mut self,
        mut bytes: &[u8],
        mut emit: impl FnMut(Kind, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        while !bytes.is_empty() {
            if self.broken {
                return emit(Kind::Bytes, bytes);
            }
            if self.passing > 0 {
                let n = self.passing.min(bytes.len());
                emit(Kind::Bytes, &bytes[..n])?;
                self.passing -= n;
                bytes = &bytes[n..];
                continue;
            }
            // Complete the header first, then the frame it announces.
            let want = if self.pending.len() < HEADER_LEN {
                HEADER_LEN
            } else {
                match Header::parse(&self.pending) {
                    Ok(Status::Complete(header)) => header.frame_len(),
                    _ => HEADER_LEN,
                }
            };
            let n = want.saturating_sub(self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            match Header::parse(&self.pending) {
                Ok(Status::Incomplete { .. }) => {}
                Err(_) => {
                    self.broken = true;
                    emit(Kind::Bytes, &std::mem::take(&mut self.pending))?;
                }
                Ok(Status::Complete(header)) if header.frame_len() > MAX_PAYLOAD => {
                    self.passing = header.frame_len() - self.pending.len();
                    emit(Kind::Bytes, &std::mem::take(&mut self.pending))?;
                }
                Ok(Status::Complete(header)) => {
                    if self.pending.len() == header.frame_len() {
                        emit(Kind::Frame, &self.pending)?;
                        self.pending.clear();
                    }
                }
            }
        }
        Ok(())
    }

    /// The connection ended: calls `emit` with a frame it cut off, if any.
    pub fn finish<E>(&mut self, emit: impl FnOnce(Kind, &[u8]) -> Result<(), E>) -> Result<(), E> {
        let rest = std::mem::take(&mut self.pending);
        *self = Self::default();
        if rest.is_empty() {
            Ok(())
        } else {
            emit(Kind::Bytes, &rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use douyu_core::frame::{Direction, Frame};

    fn frame(body: &str) -> Vec<u8> {
        let frame = Frame::new(Direction::ServerToClient, body);
        let mut out = vec![0u8; frame.encoded_len()];
        frame.encode(&mut out).unwrap();
        out
    }

    fn framed(pieces: &[&[u8]]) -> Vec<(Kind, Vec<u8>)> {
        let mut framer = Framer::new();
        let mut out = Vec::new();
        for piece in pieces {
            framer
                .push::<()>(piece, |kind, bytes| {
                    out.push((kind, bytes.to_vec()));
                    Ok(())
                })
                .unwrap();
        }
        framer
            .finish::<()>(|kind, bytes| {
                out.push((kind, bytes.to_vec()));
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn frames_come_out_whole_however_the_bytes_arrive() {
        let (a, b) = (frame("type@=chatmsg/txt@=a/"), frame("type@=mrkl/"));
        let stream = [a.clone(), b.clone()].concat();
        let want = vec![(Kind::Frame, a.clone()), (Kind::Frame, b.clone())];
        assert_eq!(framed(&[&stream]), want);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(framed(&bytes), want);
        // Cut off: the piece is kept as bytes.
        assert_eq!(
            framed(&[&stream[..a.len() + 5]]),
            vec![(Kind::Frame, a.clone()), (Kind::Bytes, b[..5].to_vec())]
        );
        // A broken header: it and all after are bytes.
        let mut broken = a.clone();
        broken.extend_from_slice(b"\x10\0\0\0\x11\0\0\0\xb2\x02\0\0rest");
        let out = framed(&[&broken]);
        assert_eq!(out[0], (Kind::Frame, a));
        assert!(out[1..].iter().all(|(kind, _)| *kind == Kind::Bytes));
        let tail: Vec<u8> = out[1..].iter().flat_map(|(_, b)| b.clone()).collect();
        assert_eq!(tail.len(), 16);
    }

    #[test]
    fn a_frame_too_large_passes_through_as_bytes() {
        let len = (MAX_PAYLOAD + 100) as u32;
        let mut big = Vec::new();
        big.extend_from_slice(&len.to_le_bytes());
        big.extend_from_slice(&len.to_le_bytes());
        big.extend_from_slice(b"\xb2\x02\0\0");
        big.resize(len as usize + 4, b'a');
        let after = frame("type@=mrkl/");
        let stream = [big.clone(), after.clone()].concat();
        let out = framed(&stream.chunks(4096).collect::<Vec<_>>());
        let passed: usize = out
            .iter()
            .filter(|(k, _)| *k == Kind::Bytes)
            .map(|(_, b)| b.len())
            .sum();
        assert_eq!(passed, big.len());
        assert_eq!(out.last().unwrap(), &(Kind::Frame, after));
    }

    #[test]
    fn written_records_read_back_and_a_cut_off_one_is_reported() {
        let mut file = Vec::new();
        let mut writer = Writer::new(&mut file).unwrap();
        writer.write(Kind::Connected, 5, 42, b"tcp://x:1").unwrap();
        writer
            .write(Kind::Frame, 7, 42, &frame("type@=mrkl/"))
            .unwrap();
        assert_eq!(detect(&file), Detected::Capture);
        let mut reader = Reader::new(&file[..]).unwrap();
        let (at, first) = reader.next_record().unwrap().unwrap();
        assert_eq!(
            (at, first.kind, first.time_ms, first.room),
            (16, Kind::Connected, 5, 42)
        );
        assert_eq!(first.payload, b"tcp://x:1");
        let (_, second) = reader.next_record().unwrap().unwrap();
        assert_eq!(second.kind, Kind::Frame);
        assert!(reader.next_record().unwrap().is_none());
        let cut = &file[..file.len() - 3];
        let mut reader = Reader::new(cut).unwrap();
        reader.next_record().unwrap();
        assert!(matches!(
            reader.next_record(),
            Err(CaptureError::Truncated { offset: 49 })
        ));
        assert!(matches!(
            Reader::new(&b"\x14\0\0\0\x14\0\0\0"[..]),
            Err(CaptureError::NotACapture)
        ));
    }

    #[test]
    fn detection() {
        assert_eq!(detect(&frame("type@=mrkl/")), Detected::RawFrames);
        assert_eq!(detect(b"1400 0000\n1400"), Detected::HexText);
        assert_eq!(detect(b""), Detected::RawFrames);
    }
}
