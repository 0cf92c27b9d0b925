//! `douyu.Map`, `douyu.Message` and `douyu.List`: STT read by the core and
//! held by Python.
//!
//! A frame's body lives in the decoder's buffer only until the next frame,
//! so a message owns a copy of it. The core's pair iterator checks every
//! pair once, when the message is made; what Python reads later are
//! positions in that copy (or, for the rare key or value that holds an
//! escape, its unescaped text). A nested value is unescaped once more when
//! asked for and read as a map or list of its own: the same reading the
//! core does in place at any depth.

use douyu_core::stt::{List as SttList, Map as SttMap, SttError, Text};
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors;

/// A key or value of a map: a range of the owned text, or its own unescaped
/// copy when the text holds escapes.
#[derive(Debug)]
enum Piece {
    Span(usize, usize),
    Owned(Box<str>),
}

/// Unescapes `text` into a new string.
fn unescape(text: &Text<'_>) -> String {
    let mut out = String::with_capacity(text.unescaped_len());
    text.pieces().for_each(|piece| out.push_str(piece));
    out
}

/// An STT map's text and the positions of its pairs, each checked.
#[derive(Debug)]
pub(crate) struct Parsed {
    text: Box<str>,
    pairs: Vec<(Piece, Piece)>,
}

impl Parsed {
    /// Reads `text` (a frame body, or a nested map's text unescaped once).
    pub(crate) fn new(text: Box<str>) -> Result<Self, SttError> {
        let mut pairs = Vec::new();
        let map = SttMap::new(&text);
        let piece = |t: &Text<'_>| match t.as_plain() {
            Some(plain) => Piece::Span(t.offset(), t.offset() + plain.len()),
            None => Piece::Owned(unescape(t).into()),
        };
        for pair in map.pairs() {
            let (key, value) = pair?;
            pairs.push((piece(&key), piece(&value)));
        }
        Ok(Self { text, pairs })
    }

    fn get<'s>(&'s self, piece: &'s Piece) -> &'s str {
        match piece {
            // The ranges come from the core's scanner over this very text;
            // `get` keeps a wrong one from panicking all the same.
            Piece::Span(start, end) => self.text.get(*start..*end).unwrap_or_default(),
            Piece::Owned(text) => text,
        }
    }

    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (self.get(k), self.get(v)))
    }

    /// The first value of `key`.
    fn find(&self, key: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Pairs whose key has not been seen before: the mapping's view.
    fn first_pairs(&self) -> Vec<(&str, &str)> {
        let all: Vec<(&str, &str)> = self.pairs().collect();
        // A message has a few dozen pairs: comparing with those before is
        // quicker than hashing. A frame can hold thousands, which would make
        // that quadratic: past a few dozen, a set.
        if all.len() <= 48 {
            return all
                .iter()
                .enumerate()
                .filter(|(i, (key, _))| !all[..*i].iter().any(|(k, _)| k == key))
                .map(|(_, pair)| *pair)
                .collect();
        }
        let mut seen = std::collections::HashSet::with_capacity(all.len());
        all.into_iter()
            .filter(|(key, _)| seen.insert(*key))
            .collect()
    }
}

fn key_error(key: &str) -> PyErr {
    PyKeyError::new_err(key.to_owned())
}

/// A read-only mapping over an STT map: each key's first value; every pair,
/// duplicates included, in order through `pairs()`; nested values through
/// `list(key)` and `map(key)`.
#[pyclass(module = "douyu", name = "Map", frozen, subclass, mapping)]
#[derive(Debug)]
pub(crate) struct Map {
    parsed: Parsed,
}

impl Map {
    pub(crate) fn parse(text: &str, offset: Option<u64>) -> Result<Self, errors::Raise> {
        Parsed::new(text.into())
            .map(|parsed| Self { parsed })
            .map_err(|e| errors::stt(e, offset))
    }

    pub(crate) fn from_parsed(parsed: Parsed) -> Self {
        Self { parsed }
    }

    /// Every pair, in order.
    pub(crate) fn iter_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.parsed.pairs()
    }

    fn value(&self, key: &str) -> PyResult<&str> {
        self.parsed.find(key).ok_or_else(|| key_error(key))
    }
}

#[pymethods]
impl Map {
    /// Reads an STT map from its text (unescaped as many times as it is
    /// nested: a frame body as it is).
    #[new]
    fn py_new(py: Python<'_>, text: &str) -> PyResult<Self> {
        Self::parse(text, None).map_err(|e| e.into_err(py))
    }

    fn __getitem__(&self, key: &str) -> PyResult<&str> {
        self.value(key)
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        key.extract::<&str>()
            .is_ok_and(|key| self.parsed.find(key).is_some())
    }

    fn __len__(&self) -> usize {
        self.parsed.first_pairs().len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.keys(py)?.as_any().try_iter()?.into_any())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Map>()
            .is_ok_and(|other| self.iter_pairs().eq(other.get().iter_pairs()))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("douyu.Map({})", self.pairs(py)?.repr()?))
    }

    /// The first value of `key`, or `default`.
    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> Bound<'py, PyAny> {
        match self.parsed.find(key) {
            Some(value) => PyString::new(py, value).into_any(),
            None => default.unwrap_or_else(|| py.None().into_bound(py)),
        }
    }

    /// The keys, each once, in the order they first appear.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.parsed.first_pairs().into_iter().map(|(k, _)| k))
    }

    /// The first value of each key, in the order of `keys()`.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.parsed.first_pairs().into_iter().map(|(_, v)| v))
    }

    /// `(key, first value)` for each key, in the order of `keys()`.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.parsed.first_pairs())
    }

    /// A new `dict` of each key's first value, in the order of `keys()`:
    /// quicker than `dict(map)`, which looks each key up again.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (key, value) in self.parsed.first_pairs() {
            dict.set_item(key, value)?;
        }
        Ok(dict)
    }

    /// Every `(key, value)` pair in order, duplicate keys included.
    fn pairs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.parsed.pairs().collect::<Vec<_>>())
    }

    /// The value of `key` read as an STT list.
    fn list(&self, py: Python<'_>, key: &str) -> PyResult<List> {
        List::parse(self.value(key)?).map_err(|e| e.into_err(py))
    }

    /// The value of `key` read as an STT map.
    fn map(&self, py: Python<'_>, key: &str) -> PyResult<Map> {
        Map::parse(self.value(key)?, None).map_err(|e| e.into_err(py))
    }

    /// The STT text the map was read from (escapes included).
    #[getter]
    fn text(&self) -> &str {
        &self.parsed.text
    }
}

/// A message decoded from a frame: a [`Map`] of its body, with the frame's
/// type field (689 client to server, 690 server to client).
#[pyclass(module = "douyu", name = "Message", extends = Map, frozen, mapping)]
#[derive(Debug)]
pub(crate) struct Message {
    direction: u16,
}

impl Message {
    /// A message of a frame at `offset` in its stream, with type field
    /// `direction` and body `body`.
    pub(crate) fn new<'py>(
        py: Python<'py>,
        direction: u16,
        body: Box<str>,
        offset: Option<u64>,
    ) -> PyResult<Bound<'py, Message>> {
        let parsed = Parsed::new(body).map_err(|e| errors::stt(e, offset).into_err(py))?;
        let init =
            PyClassInitializer::from(Map::from_parsed(parsed)).add_subclass(Message { direction });
        Bound::new(py, init)
    }
}

#[pymethods]
impl Message {
    /// The frame's type field: 689 (client to server), 690 (server to
    /// client), or whatever else a peer sent.
    #[getter]
    fn direction(&self) -> u16 {
        self.direction
    }

    /// The body's `type` (the first one), `""` for a body without one.
    #[getter]
    fn r#type(slf: PyRef<'_, Self>) -> String {
        slf.as_super()
            .parsed
            .find("type")
            .unwrap_or_default()
            .to_owned()
    }

    /// The frame body (STT, escapes included).
    #[getter]
    fn body(slf: PyRef<'_, Self>) -> String {
        slf.as_super().parsed.text.to_string()
    }

    fn __repr__(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<String> {
        let pairs = slf.as_super().pairs(py)?;
        Ok(format!(
            "douyu.Message({}, direction={})",
            pairs.repr()?,
            slf.direction
        ))
    }
}

/// An STT list: a sequence of strings, each item also readable as a map or
/// a list.
#[pyclass(module = "douyu", name = "List", frozen, sequence)]
#[derive(Debug)]
pub(crate) struct List {
    text: Box<str>,
    items: Vec<Box<str>>,
}

impl List {
    pub(crate) fn parse(text: &str) -> Result<Self, errors::Raise> {
        let items = SttList::new(text)
            .items()
            .map(|item| item.map(|t| unescape(&t).into_boxed_str()))
            .collect::<Result<_, _>>()
            .map_err(|e| errors::stt(e, None))?;
        Ok(Self {
            text: text.into(),
            items,
        })
    }

    fn item(&self, index: isize) -> PyResult<&str> {
        let len = self.items.len() as isize;
        let at = if index < 0 { index + len } else { index };
        usize::try_from(at)
            .ok()
            .and_then(|at| self.items.get(at))
            .map(|s| &**s)
            .ok_or_else(|| pyo3::exceptions::PyIndexError::new_err("list index out of range"))
    }

    /// The items as strings.
    pub(crate) fn strings(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|s| &**s)
    }
}

#[pymethods]
impl List {
    /// Reads an STT list from its text (unescaped as many times as it is
    /// nested).
    #[new]
    fn py_new(py: Python<'_>, text: &str) -> PyResult<Self> {
        Self::parse(text).map_err(|e| e.into_err(py))
    }

    fn __len__(&self) -> usize {
        self.items.len()
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(i) = index.extract::<isize>() {
            return Ok(PyString::new(py, self.item(i)?).into_any());
        }
        // Slices (and anything else) as a Python list would take them.
        self.tolist(py)?.as_any().get_item(index)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.tolist(py)?.as_any().try_iter()?.into_any())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        if let Ok(other) = other.cast::<List>() {
            return self.items == other.get().items;
        }
        other
            .extract::<Vec<String>>()
            .is_ok_and(|other| self.strings().eq(other.iter().map(String::as_str)))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("douyu.List({})", self.tolist(py)?.repr()?))
    }

    /// The items as a Python list of strings.
    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.items.iter().map(|s| &**s))
    }

    /// Item `index` read as an STT list.
    fn list(&self, py: Python<'_>, index: isize) -> PyResult<List> {
        List::parse(self.item(index)?).map_err(|e| e.into_err(py))
    }

    /// Item `index` read as an STT map.
    fn map(&self, py: Python<'_>, index: isize) -> PyResult<Map> {
        Map::parse(self.item(index)?, None).map_err(|e| e.into_err(py))
    }

    /// The STT text the list was read from (escapes included).
    #[getter]
    fn text(&self) -> &str {
        &self.text
    }
}

/// Refuses a tuple that is not a `(key, value)` pair.
pub(crate) fn pair_of<'py>(item: &Bound<'py, PyAny>) -> PyResult<(String, Bound<'py, PyAny>)> {
    let tuple = item
        .cast::<PyTuple>()
        .map_err(|_| PyTypeError::new_err("pairs must be (key, value) tuples"))?;
    if tuple.len() != 2 {
        return Err(PyTypeError::new_err("pairs must be (key, value) tuples"));
    }
    let key = tuple
        .get_item(0)?
        .extract::<String>()
        .map_err(|_| PyTypeError::new_err("keys must be str"))?;
    Ok((key, tuple.get_item(1)?))
}
