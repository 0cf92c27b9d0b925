//! Room lists as people write them: `1-200,288016`, for `collect --rooms`
//! and `serve --simulate … --rooms`.

use std::collections::BTreeSet;
use std::fmt;

/// Most rooms one list may name: a typo such as `1-10000000000` must be
/// refused, not turned into billions of sessions (or one huge allocation).
pub const MAX_ROOMS: usize = 100_000;

/// Why a room list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomListError {
    /// An item is neither a room id nor `first-last`.
    BadItem(String),
    /// A range whose first room is past its last.
    Backwards {
        /// The first room.
        first: u64,
        /// The last room.
        last: u64,
    },
    /// More rooms than [`MAX_ROOMS`].
    TooMany {
        /// How many the list would name, at least.
        rooms: u64,
    },
    /// The list names no room.
    Empty,
}

impl fmt::Display for RoomListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadItem(item) => write!(f, "{item:?} is not a room id nor a range FIRST-LAST"),
            Self::Backwards { first, last } => write!(f, "range {first}-{last} runs backwards"),
            Self::TooMany { rooms } => {
                write!(f, "{rooms} rooms named: at most {MAX_ROOMS}")
            }
            Self::Empty => write!(f, "no room named"),
        }
    }
}

impl std::error::Error for RoomListError {}

/// Parses a room list: ids and inclusive ranges `first-last`, separated by
/// commas or whitespace (so a file of one id a line reads too); `#` starts
/// a comment that runs to the end of its line. The rooms come back sorted,
/// each once.
pub fn parse(list: &str) -> Result<Vec<u64>, RoomListError> {
    let mut rooms = BTreeSet::new();
    let items = list
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .flat_map(|line| line.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|item| !item.is_empty());
    for item in items {
        let bad = || RoomListError::BadItem(item.to_string());
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (
                a.parse::<u64>().map_err(|_| bad())?,
                b.parse::<u64>().map_err(|_| bad())?,
            ),
            None => {
                let id = item.parse::<u64>().map_err(|_| bad())?;
                (id, id)
            }
        };
        if first > last {
            return Err(RoomListError::Backwards { first, last });
        }
        // Checked before the range is walked: the bound is on the work too.
        let span = last - first;
        if span >= MAX_ROOMS as u64 || rooms.len() + span as usize >= MAX_ROOMS {
            return Err(RoomListError::TooMany {
                rooms: (rooms.len() as u64).saturating_add(span).saturating_add(1),
            });
        }
        rooms.extend(first..=last);
    }
    if rooms.is_empty() {
        return Err(RoomListError::Empty);
    }
    Ok(rooms.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_ranges_sorted_once() {
        assert_eq!(parse("5,1-3, 288016\n2").unwrap(), [1, 2, 3, 5, 288016]);
        assert_eq!(
            parse("# rooms\n7 # seven\n\n9-9\n").unwrap(),
            [7, 9],
            "a file, one a line, with comments"
        );
    }

    #[test]
    fn bad_lists_are_refused() {
        assert_eq!(parse(""), Err(RoomListError::Empty));
        assert_eq!(parse(" , # x"), Err(RoomListError::Empty));
        assert!(matches!(parse("1,x"), Err(RoomListError::BadItem(i)) if i == "x"));
        assert!(matches!(parse("1-"), Err(RoomListError::BadItem(_))));
        assert!(matches!(parse("-5"), Err(RoomListError::BadItem(_))));
        assert_eq!(
            parse("9-3"),
            Err(RoomListError::Backwards { first: 9, last: 3 })
        );
        assert!(matches!(
            parse("0-18446744073709551615"),
            Err(RoomListError::TooMany { .. })
        ));
        assert!(matches!(
            parse("1-60000,100000-160000"),
            Err(RoomListError::TooMany { .. })
        ));
        assert_eq!(parse("1-100000").unwrap().len(), MAX_ROOMS);
    }
}
