//! A simulated busy room: deterministic server traffic for demos, tests and
//! benchmarks, written straight into frames with no allocator.
//!
//! The mix follows what a popular room sends: about 70 % `chatmsg` with the
//! full field set (badges, avatar paths, nested `el` effects), 15 % `uenter`,
//! 10 % `dgb` gifts and 5 % other broadcasts. Nicknames and text carry
//! Chinese, emoji, `/` and `@`, so every escape path is exercised. The same
//! seed always gives the same bytes.
//!
//! ```
//! use douyu_core::sim::Room;
//! use douyu_core::frame::Frame;
//! let mut room = Room::new(288016, 7);
//! let mut buf = [0u8; 1024];
//! let n = room.next_frame(1_700_000_000_000, &mut buf)?;
//! let (frame, used) = Frame::decode(&buf[..n])?.unwrap();
//! assert_eq!(used, n);
//! assert!(frame.body.starts_with("type@="));
//! # Ok::<(), douyu_core::frame::FrameError>(())
//! ```

use crate::frame::{Direction, FrameError, encode_with};
use crate::stt::{MapWriter, SttError};

const NICKNAMES: &[&str] = &[
    "鱼丸大王",
    "小老弟233",
    "拒绝R",
    "套你个猴碎碎宝宝",
    "AyoM",
    "🐟摸鱼🐟",
    "a/b@c",
    "夜猫子",
    "弹幕护卫队",
    "@我干嘛",
    "路人甲/乙",
    "momo酱",
    "✨星星✨",
    "老王",
];

const CHAT: &[&str] = &[
    "主播好厉害 🐟🐟",
    "666666",
    "这波操作可以的",
    "哈哈哈哈哈哈",
    "注意保暖",
    "前方高能!!!",
    "@主播 看这里 / look here",
    "感觉你家里里有人[宝宝][宝宝]",
    "1/2/3 上车",
    "email me: fish@douyu",
    "晚上好 👋 everyone",
    "这个游戏叫什么名字?",
    "@A is not an at, @S is not a slash",
    "🎉🎉🎉 恭喜恭喜",
];

const BADGES: &[&str] = &["拒绝R", "鱼吧", "小僵尸", "老铁", ""];
const GIFTS: &[(&str, &str)] = &[
    ("824", "荧光棒"),
    ("192", "赞"),
    ("20000", "飞机"),
    ("20003", "火箭"),
];

/// A small, fast generator (xorshift64*); statistical quality is ample for
/// picking words, and it keeps the output identical across platforms.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A room that makes up plausible server messages.
#[derive(Debug, Clone)]
pub struct Room {
    room: u64,
    rng: Rng,
    /// Chat lines made so far: the low half of each `cid`, so that every
    /// line of a room has its own id and a consumer can tell, from the ids
    /// alone, whether it missed one (line `n` ends its `cid` with `n` in hex).
    chats: u64,
}

impl Room {
    /// A room with id `room`; equal seeds give equal traffic.
    #[must_use]
    pub const fn new(room: u64, seed: u64) -> Self {
        // xorshift must not start at zero.
        Self {
            room,
            rng: Rng(seed | 1),
            chats: 0,
        }
    }

    /// Writes the next server frame into `out`, returning its length. `now_ms`
    /// (Unix time in milliseconds) goes into the time fields.
    pub fn next_frame(&mut self, now_ms: u64, out: &mut [u8]) -> Result<usize, FrameError> {
        let roll = self.rng.below(100);
        encode_with(out, Direction::ServerToClient, |m| match roll {
            0..70 => self.chat(m, now_ms, None),
            70..85 => self.enter(m),
            85..95 => self.gift(m),
            _ => self.other(m, now_ms),
        })
    }

    /// Writes a `chatmsg` with the full field set and the given text.
    pub fn chat_frame(
        &mut self,
        now_ms: u64,
        text: &str,
        out: &mut [u8],
    ) -> Result<usize, FrameError> {
        encode_with(out, Direction::ServerToClient, |m| {
            self.chat(m, now_ms, Some(text))
        })
    }

    fn user(&mut self, m: &mut MapWriter<'_, '_>) -> Result<(), SttError> {
        let uid = 10_000_000 + self.rng.below(300_000_000);
        let nn = self.rng.pick(NICKNAMES);
        m.pair_display("rid", &self.room)?
            .pair_display("uid", &uid)?
            .pair("nn", nn)?;
        Ok(())
    }

    fn avatar(&mut self, m: &mut MapWriter<'_, '_>) -> Result<(), SttError> {
        let (a, b) = (self.rng.next(), self.rng.next());
        m.pair_display(
            "ic",
            &format_args!("avatar_v3/2020{:02}/{a:016x}{b:016x}", 1 + a % 12),
        )?;
        Ok(())
    }

    fn chat(
        &mut self,
        m: &mut MapWriter<'_, '_>,
        now_ms: u64,
        text: Option<&str>,
    ) -> Result<(), SttError> {
        self.chats += 1;
        m.pair("type", "chatmsg")?;
        self.user(m)?;
        m.pair_display("ct", &self.rng.below(15))?;
        let txt = match text {
            Some(text) => text,
            None => self.rng.pick(CHAT),
        };
        m.pair("txt", txt)?;
        m.pair_display(
            "cid",
            &format_args!("{:016x}{:016x}", self.rng.next(), self.chats),
        )?;
        self.avatar(m)?;
        let level = 1 + self.rng.below(60);
        m.pair_display("level", &level)?
            .pair("sahf", "0")?
            .pair_display("nl", &self.rng.below(7))?
            .pair_display("col", &self.rng.below(7))?
            .pair("rg", "4")?
            .pair_display("cst", &now_ms)?
            .pair("bnn", self.rng.pick(BADGES))?
            .pair_display("bl", &self.rng.below(30))?
            .pair_display("brid", &self.room)?
            .pair_display("hc", &format_args!("{:08x}", self.rng.next() as u32))?
            .pair("ifs", "1")?;
        let effects = self.rng.below(4);
        m.list("el", |l| {
            for i in 0..effects {
                l.map(|e| {
                    e.pair_display("eid", &(1_500_000_000 + i))?
                        .pair_display("etp", &(1 + i % 2))?
                        .pair("sc", "1")?
                        .pair("ef", "0")?;
                    Ok(())
                })?;
            }
            Ok(())
        })?;
        m.pair("lk", "")?
            .pair_display("fl", &self.rng.below(30))?
            .pair_display("urlev", &self.rng.below(40))?
            .pair("dms", "5")?
            .pair_display("pdg", &self.rng.below(100))?
            .pair_display("pdk", &self.rng.below(100))?
            .pair("ext", "")?;
        Ok(())
    }

    fn enter(&mut self, m: &mut MapWriter<'_, '_>) -> Result<(), SttError> {
        m.pair("type", "uenter")?;
        self.user(m)?;
        m.pair_display("level", &(1 + self.rng.below(60)))?;
        self.avatar(m)?;
        m.pair_display("nl", &self.rng.below(7))?
            .pair("rni", "0")?
            .pair("el", "")?
            .pair("sahf", "0")?;
        Ok(())
    }

    fn gift(&mut self, m: &mut MapWriter<'_, '_>) -> Result<(), SttError> {
        let (gfid, _) = GIFTS[self.rng.below(GIFTS.len() as u64) as usize];
        m.pair("type", "dgb")?
            .pair_display("rid", &self.room)?
            .pair("gfid", gfid)?
            .pair("gs", "1")?;
        let uid = 10_000_000 + self.rng.below(300_000_000);
        m.pair_display("uid", &uid)?
            .pair("nn", self.rng.pick(NICKNAMES))?;
        self.avatar(m)?;
        m.pair_display("level", &(1 + self.rng.below(60)))?
            .pair_display("gfcnt", &(1 + self.rng.below(10)))?
            .pair_display("hits", &(1 + self.rng.below(99)))?
            .pair("bnn", self.rng.pick(BADGES))?
            .pair_display("bl", &self.rng.below(30))?
            .pair_display("brid", &self.room)?;
        Ok(())
    }

    fn other(&mut self, m: &mut MapWriter<'_, '_>, now_ms: u64) -> Result<(), SttError> {
        match self.rng.below(4) {
            0 => {
                let (_, name) = GIFTS[self.rng.below(GIFTS.len() as u64) as usize];
                m.pair("type", "spbc")?
                    .pair("sn", self.rng.pick(NICKNAMES))?
                    .pair("dn", self.rng.pick(NICKNAMES))?
                    .pair("gn", name)?
                    .pair_display("gc", &(1 + self.rng.below(5)))?
                    .pair_display("drid", &self.room)?;
            }
            1 => {
                let kind = if self.rng.below(2) == 0 {
                    "anbc"
                } else {
                    "rnewbc"
                };
                m.pair("type", kind)?;
                m.pair_display("uid", &(10_000_000 + self.rng.below(300_000_000)))?
                    .pair("unk", self.rng.pick(NICKNAMES))?
                    .pair_display("drid", &self.room)?
                    .pair("donk", "主播")?
                    .pair_display("nl", &(1 + self.rng.below(7)))?;
            }
            2 => {
                m.pair("type", "frank")?.pair_display("rid", &self.room)?;
                m.pair_display("fc", &(1000 + self.rng.below(9000)))?;
                let entries = 1 + self.rng.below(3);
                m.list("list", |l| {
                    for rank in 0..entries {
                        l.map(|e| {
                            e.pair_display("uid", &(10_000_000 + rank))?
                                .pair("nn", self.rng.pick(NICKNAMES))?
                                .pair_display("fs", &(10_000 - rank * 100))?;
                            Ok(())
                        })?;
                    }
                    Ok(())
                })?;
            }
            _ => {
                m.pair("type", "pingreq")?.pair_display("tick", &now_ms)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Frame, Status};
    use crate::message::ServerMessage;

    #[test]
    fn traffic_decodes_and_has_the_advertised_mix() {
        let mut room = Room::new(9999, 42);
        let mut buf = [0u8; 2048];
        let (mut chats, mut total, mut bytes) = (0, 0, 0);
        for i in 0..2000 {
            let n = room.next_frame(1_700_000_000_000 + i, &mut buf).unwrap();
            let Status::Complete((frame, _)) = Frame::decode(&buf[..n]).unwrap() else {
                panic!("incomplete")
            };
            let message = ServerMessage::parse(frame.body).unwrap();
            message.map().validate().unwrap();
            if let ServerMessage::Chat(chat) = message {
                chats += 1;
                for effect in chat.effects().items() {
                    effect.unwrap().as_map().validate().unwrap();
                }
            }
            total += 1;
            bytes += n;
        }
        assert!((1300..1500).contains(&chats), "{chats} chats");
        let mean = bytes / total;
        assert!((220..380).contains(&mean), "mean frame {mean} bytes");
    }

    #[test]
    fn chat_ids_count_the_chat_lines() {
        let mut room = Room::new(7, 3);
        let mut buf = [0u8; 2048];
        let mut seen = 0u64;
        for _ in 0..500 {
            let n = room.next_frame(0, &mut buf).unwrap();
            let Status::Complete((frame, _)) = Frame::decode(&buf[..n]).unwrap() else {
                panic!("incomplete")
            };
            if let ServerMessage::Chat(chat) = ServerMessage::parse(frame.body).unwrap() {
                seen += 1;
                let cid = chat.cid.unwrap().as_plain().unwrap();
                assert_eq!(u64::from_str_radix(&cid[16..], 16).unwrap(), seen, "{cid}");
            }
        }
        assert!(seen > 300, "{seen} chat lines");
    }

    #[test]
    fn same_seed_same_bytes() {
        let (mut a, mut b) = (Room::new(1, 5), Room::new(1, 5));
        let (mut x, mut y) = ([0u8; 1024], [0u8; 1024]);
        for _ in 0..50 {
            let n = a.next_frame(0, &mut x).unwrap();
            assert_eq!(b.next_frame(0, &mut y).unwrap(), n);
            assert_eq!(x[..n], y[..n]);
        }
    }
}
