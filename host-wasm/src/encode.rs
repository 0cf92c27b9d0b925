//! `encode`: one frame from a JavaScript object, array of pairs, or `Map`.
//!
//! The value is first copied into a small tree ([`Value`]) so that a value
//! of no STT shape is refused before anything is written; the core's writer
//! then escapes every level. Which JavaScript shapes become STT maps (objects,
//! `Map`s) and lists (arrays) is the only thing decided here.

use douyu_core::frame::{Direction, FrameError, encode_with};
use douyu_core::stt::{ListWriter, MapWriter, SttError};
use js_sys::{Array, BigInt, Number, Object};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::errors::{self, Family};

/// Nesting deeper than this is refused: no message nests more than a few
/// levels, and a cycle would otherwise recurse without end.
pub const MAX_DEPTH: u32 = 32;

/// A message to encode, as the STT shapes it will take.
enum Value {
    Text(String),
    Map(Vec<(String, Value)>),
    List(Vec<Value>),
}

fn type_error(what: &str) -> JsValue {
    js_sys::TypeError::new(&format!(
        "cannot encode {what}: values are strings, numbers, bigints, objects, Maps and arrays"
    ))
    .into()
}

fn text(value: &JsValue) -> Result<String, JsValue> {
    if let Some(s) = value.as_string() {
        return Ok(s);
    }
    if let Some(n) = value.as_f64() {
        if !n.is_finite() {
            return Err(type_error("a number that is not finite"));
        }
        return Ok(String::from(Number::from(n).to_string_with_radix(10)?));
    }
    if value.is_bigint() {
        let n: &BigInt = value.unchecked_ref();
        return Ok(String::from(n.to_string(10)?));
    }
    Err(type_error(&format!(
        "a value of type {}",
        value.js_typeof().as_string().unwrap_or_default()
    )))
}

fn value(v: &JsValue, depth: u32) -> Result<Value, JsValue> {
    if depth > MAX_DEPTH {
        return Err(type_error(&format!("values nested over {MAX_DEPTH} deep")));
    }
    if Array::is_array(v) {
        let items = Array::from(v);
        let mut out = Vec::with_capacity(items.length() as usize);
        for item in items.iter() {
            out.push(value(&item, depth + 1)?);
        }
        return Ok(Value::List(out));
    }
    if v.is_object() && !v.is_function() {
        return map_entries(&entries(v), depth).map(Value::Map);
    }
    text(v).map(Value::Text)
}

/// `[key, value]` entries of an object (own enumerable string keys, in
/// order) or of a `Map`.
fn entries(v: &JsValue) -> Array {
    if let Some(map) = v.dyn_ref::<js_sys::Map>() {
        return Array::from(map.as_ref());
    }
    Object::entries(v.unchecked_ref())
}

fn map_entries(entries: &Array, depth: u32) -> Result<Vec<(String, Value)>, JsValue> {
    let mut out = Vec::with_capacity(entries.length() as usize);
    for entry in entries.iter() {
        if !Array::is_array(&entry) {
            return Err(type_error("a pair that is not a [key, value] array"));
        }
        let entry = Array::from(&entry);
        if entry.length() != 2 {
            return Err(type_error("a pair that is not a [key, value] array"));
        }
        out.push((text(&entry.get(0))?, value(&entry.get(1), depth + 1)?));
    }
    Ok(out)
}

fn write_map(m: &mut MapWriter<'_, '_>, pairs: &[(String, Value)]) -> Result<(), SttError> {
    for (key, v) in pairs {
        match v {
            Value::Text(s) => m.pair(key, s)?,
            Value::Map(inner) => m.map(key, |m| write_map(m, inner))?,
            Value::List(items) => m.list(key, |l| write_list(l, items))?,
        };
    }
    Ok(())
}

fn write_list(l: &mut ListWriter<'_, '_>, items: &[Value]) -> Result<(), SttError> {
    for v in items {
        match v {
            Value::Text(s) => l.item(s)?,
            Value::Map(inner) => l.map(|m| write_map(m, inner))?,
            Value::List(items) => l.list(|l| write_list(l, items))?,
        };
    }
    Ok(())
}

fn direction(v: &JsValue) -> Result<Direction, JsValue> {
    match v.as_string().as_deref() {
        Some("client") => return Ok(Direction::ClientToServer),
        Some("server") => return Ok(Direction::ServerToClient),
        _ => {}
    }
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&n) => {
            // Checked to be an integer in range.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(Direction::from_u16(n as u16))
        }
        _ if v.is_undefined() => Ok(Direction::ClientToServer),
        _ => Err(js_sys::RangeError::new(
            "direction is 'client' (689), 'server' (690) or a 16-bit type field",
        )
        .into()),
    }
}

/// One frame carrying `message`: an object (own enumerable keys in order),
/// a `Map`, or an array of `[key, value]` pairs (duplicates kept). Nested
/// objects and `Map`s become STT maps, arrays lists, numbers and bigints
/// their decimal text. `direction`: `'client'` (the default), `'server'`, or
/// the type field as a number.
///
/// # Errors
/// A `TypeError` for a value of no STT shape, a `RangeError` for a bad
/// direction, an `EncodeError` (`nul_byte`, with `bodyOffset` in the text
/// that holds it) for a NUL, which no frame can carry.
#[wasm_bindgen]
pub fn encode(message: &JsValue, direction_: &JsValue) -> Result<Vec<u8>, JsValue> {
    let direction = direction(direction_)?;
    let pairs = if Array::is_array(message) {
        map_entries(&Array::from(message), 0)?
    } else if message.is_object() && !message.is_function() {
        map_entries(&entries(message), 0)?
    } else {
        return Err(type_error(
            "a message that is not an object, Map or array of pairs",
        ));
    };
    let mut size = 256usize;
    loop {
        let mut out = vec![0u8; size];
        match encode_with(&mut out, direction, |m| write_map(m, &pairs)) {
            Ok(n) => {
                out.truncate(n);
                return Ok(out);
            }
            // `needed` is where the write that did not fit would have ended;
            // the whole frame may need more, so grow at least twofold.
            Err(FrameError::BufferFull { needed, .. }) if size < MAX_FRAME_BYTES => {
                size = needed.max(size * 2).min(MAX_FRAME_BYTES);
            }
            Err(e) => return Err(errors::frame(&e, Family::Encode)),
        }
    }
}

/// The largest frame `encode` builds: the length field is 32 bits, but an
/// allocation is bounded well below that.
const MAX_FRAME_BYTES: usize = 1 << 30;
