//! `douyu.encode`: a Python mapping (or pairs) to a frame, by the core's
//! writer.
//!
//! The Python value is first copied into a small tree, so that a Python
//! error (a wrong type) is raised before any writing and the core's writer
//! runs on Rust data only; nested maps and lists are written by the core,
//! escaped once per level.

use douyu_core::frame::{Direction, FrameError, encode_with};
use douyu_core::stt::{ListWriter, MapWriter, SttError};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};

use crate::errors;
use crate::views::{List, Map, pair_of};

/// Deepest nesting accepted: far more than any message uses, and a bound on
/// the recursion whatever the value (a list that contains itself).
const MAX_DEPTH: usize = 32;

#[derive(Debug)]
enum Value {
    Text(String),
    Map(Vec<(String, Value)>),
    List(Vec<Value>),
}

fn too_deep() -> PyErr {
    PyValueError::new_err(format!("values nested more than {MAX_DEPTH} levels deep"))
}

/// A mapping, a `douyu.Map`, or an iterable of `(key, value)` pairs.
fn pairs_of(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Vec<(String, Value)>> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    if let Ok(map) = obj.cast::<Map>() {
        return Ok(map
            .get()
            .iter_pairs()
            .map(|(k, v)| (k.to_owned(), Value::Text(v.to_owned())))
            .collect());
    }
    let items = if obj.is_instance_of::<PyDict>() || is_mapping(obj)? {
        obj.call_method0("items")?
    } else if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "expected a mapping or (key, value) pairs, not a string",
        ));
    } else {
        obj.clone()
    };
    let mut pairs = Vec::new();
    for item in items.try_iter()? {
        let (key, value) = pair_of(&item?)?;
        pairs.push((key, value_of(&value, depth + 1)?));
    }
    Ok(pairs)
}

fn is_mapping(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let abc = obj.py().import("collections.abc")?.getattr("Mapping")?;
    obj.is_instance(&abc)
}

/// A value: `str`, `int`, a `douyu.List` or list/tuple (a list), a
/// `douyu.Map` or mapping (a map).
fn value_of(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Text(s.to_str()?.to_owned()));
    }
    // `True` would be written "True": almost surely not what was meant.
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "bool values are ambiguous; pass a str",
        ));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(Value::Text(obj.str()?.to_str()?.to_owned()));
    }
    if let Ok(list) = obj.cast::<List>() {
        let items = list.get().strings();
        return Ok(Value::List(
            items.map(|s| Value::Text(s.to_owned())).collect(),
        ));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let items = obj
            .try_iter()?
            .map(|item| value_of(&item?, depth + 1))
            .collect::<PyResult<_>>()?;
        return Ok(Value::List(items));
    }
    if obj.is_instance_of::<Map>() || obj.is_instance_of::<PyDict>() || is_mapping(obj)? {
        return Ok(Value::Map(pairs_of(obj, depth)?));
    }
    Err(PyTypeError::new_err(format!(
        "cannot encode a value of type {}",
        obj.get_type().name()?
    )))
}

fn write_map(m: &mut MapWriter<'_, '_>, pairs: &[(String, Value)]) -> Result<(), SttError> {
    for (key, value) in pairs {
        match value {
            Value::Text(text) => m.pair(key, text)?,
            Value::Map(pairs) => m.map(key, |m| write_map(m, pairs))?,
            Value::List(items) => m.list(key, |l| write_list(l, items))?,
        };
    }
    Ok(())
}

fn write_list(l: &mut ListWriter<'_, '_>, items: &[Value]) -> Result<(), SttError> {
    for item in items {
        match item {
            Value::Text(text) => l.item(text)?,
            Value::Map(pairs) => l.map(|m| write_map(m, pairs))?,
            Value::List(items) => l.list(|l| write_list(l, items))?,
        };
    }
    Ok(())
}

/// `"client"`, `"server"`, or a type field's number.
fn direction_of(obj: &Bound<'_, PyAny>) -> PyResult<Direction> {
    if let Ok(name) = obj.extract::<&str>() {
        return match name {
            "client" => Ok(Direction::ClientToServer),
            "server" => Ok(Direction::ServerToClient),
            _ => Err(PyValueError::new_err(format!(
                "direction must be \"client\" or \"server\", not {name:?}"
            ))),
        };
    }
    match obj.extract::<u16>() {
        Ok(value) => Ok(Direction::from_u16(value)),
        Err(_) => Err(PyTypeError::new_err(
            "direction must be \"client\", \"server\" or a 16-bit type field",
        )),
    }
}

/// Encodes a message as one frame.
///
/// `message` is a mapping (a `dict`, a `douyu.Map`) or an iterable of
/// `(key, value)` pairs, written in order; values are `str` or `int`, or
/// nested maps and lists (`dict`, `list`, `tuple`, `douyu.Map`, `douyu.List`).
/// `direction` is `"client"` (type 689), `"server"` (690), or a number.
#[pyfunction]
#[pyo3(signature = (message, direction = None))]
pub(crate) fn encode<'py>(
    py: Python<'py>,
    message: &Bound<'py, PyAny>,
    direction: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let direction = match direction {
        Some(d) => direction_of(d)?,
        None => Direction::ClientToServer,
    };
    let pairs = pairs_of(message, 0)?;
    // The writer reports how much room it needed when it ran out; grow to
    // that (at least doubling, as it may need more still) and write again.
    let mut out = vec![0u8; 256];
    loop {
        match encode_with(&mut out, direction, |m| write_map(m, &pairs)) {
            Ok(n) => return Ok(PyBytes::new(py, &out[..n])),
            // A need no larger than the buffer is a body too long for any
            // frame's length field: raised, not grown for.
            Err(FrameError::BufferFull { needed, .. }) if needed > out.len() => {
                let len = needed.max(out.len().saturating_mul(2));
                out.resize(len, 0);
            }
            Err(e) => return Err(errors::encode(e).into_err(py)),
        }
    }
}
