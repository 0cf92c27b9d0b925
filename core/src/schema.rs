//! The protocol's messages as data: every type of each direction, its fields
//! with their doc text, and which fields nest (PROTOCOL.md §6).
//!
//! The tables are generated from the same source as the typed views of
//! [`crate::message`], so what a host learns here (which fields of a
//! `chatmsg` are lists of maps, say) is what the views read. A host that
//! shows every field of a message — JSON output, a log — asks
//! [`server_field`] how to show each one instead of keeping a list of its
//! own.
//!
//! ```
//! use douyu_core::schema::{self, FieldShape};
//! assert_eq!(schema::server_field("chatmsg", "el"), Some(FieldShape::ListOfMaps));
//! assert_eq!(schema::server_field("chatmsg", "nn"), Some(FieldShape::Text));
//! assert_eq!(schema::server_field("chatmsg", "zz"), None);
//! ```

/// How a field's value is to be read. On the wire every value is a string;
/// a nested one is STT again, escaped one level deeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FieldShape {
    /// A plain string.
    Text,
    /// A list whose items are maps: read it with
    /// [`Text::as_list`](crate::stt::Text::as_list), each item with
    /// [`Text::as_map`](crate::stt::Text::as_map).
    ListOfMaps,
    /// A map: read it with [`Text::as_map`](crate::stt::Text::as_map).
    Map,
}

/// One field of a message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FieldSchema {
    /// Its key on the wire, which is also the name of the view's field.
    pub key: &'static str,
    /// How its value nests.
    pub shape: FieldShape,
    /// What it means (Markdown, as in the view's doc comment).
    pub doc: &'static str,
}

/// One message type (or several that share a view, as `anbc` and `rnewbc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MessageSchema {
    /// The `type` values it is read for.
    pub types: &'static [&'static str],
    /// What it means (Markdown, as in the view's doc comment).
    pub doc: &'static str,
    /// The fields its view reads, in the view's order; empty for types
    /// read as a bare map (`mrkl`).
    pub fields: &'static [FieldSchema],
}

impl MessageSchema {
    /// The field with this key, if the type has one.
    #[must_use]
    pub fn field(&self, key: &str) -> Option<&'static FieldSchema> {
        self.fields.iter().find(|field| field.key == key)
    }
}

/// Every server message type (frame type 690) the views know.
pub const SERVER: &[MessageSchema] = crate::message::SERVER;

/// Every client message type (frame type 689) this project's server reads.
pub const CLIENT: &[MessageSchema] = crate::message::CLIENT;

/// The entry of `table` ([`SERVER`] or [`CLIENT`]) for the message type
/// `kind`.
#[must_use]
pub fn message(table: &'static [MessageSchema], kind: &str) -> Option<&'static MessageSchema> {
    table.iter().find(|message| message.types.contains(&kind))
}

/// The shape of field `key` of the server message type `kind`, or `None`
/// when the table does not know that field (a host shows it as text).
#[must_use]
pub fn server_field(kind: &str, key: &str) -> Option<FieldShape> {
    Some(message(SERVER, kind)?.field(key)?.shape)
}

/// The shape of field `key` of the client message type `kind`, as
/// [`server_field`] for the other direction.
#[must_use]
pub fn client_field(kind: &str, key: &str) -> Option<FieldShape> {
    Some(message(CLIENT, kind)?.field(key)?.shape)
}
