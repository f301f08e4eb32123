//! How a node's JSON object becomes a typed reply without losing what chainx has no column for.
//!
//! serde's derive ignores unknown fields, and `#[serde(flatten)]` would keep them only by
//! buffering every field of every object first (about twice the parse time at mainnet volume).
//! [`rpc_object!`] writes the visitor a derive would write, with one difference: a key it does
//! not know is kept, as the node sent it, in the object's `extra` (a JSON object whose keys are
//! snake_case). Keys that only repeat what another object says (a receipt's `blockHash`) are
//! read past, named in the macro's `repeats` list.

use std::borrow::Cow;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::value::RawValue;

/// A map key, borrowed from the reply when it has no escapes (every real node's keys).
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
}

/// The fields of one object that no column holds, as the text of a JSON object.
#[derive(Default)]
pub(crate) struct Extra {
    text: String,
}

impl Extra {
    /// Adds `key` (camelCase, as nodes name fields) as `prefix` + snake_case, with its value
    /// exactly as the node sent it.
    pub fn push(&mut self, prefix: &str, key: &str, value: &RawValue) {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            // Every real node's names: written in place, nothing to escape.
            self.text.push('"');
            self.text.push_str(prefix);
            push_snake_case(&mut self.text, key);
            self.text.push('"');
        } else {
            let name = format!("{prefix}{}", snake_case(key));
            self.text
                .push_str(&serde_json::to_string(&name).unwrap_or_else(|_| "\"?\"".to_string()));
        }
        self.text.push(':');
        self.text.push_str(value.get());
    }

    pub fn finish(mut self) -> Option<String> {
        if self.text.is_empty() {
            return None;
        }
        self.text.push('}');
        Some(self.text)
    }
}

/// `gasUsedForL1` → `gas_used_for_l1`: a capital starts a word; digits stay in theirs.
pub fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    push_snake_case(&mut out, camel);
    out
}

fn push_snake_case(out: &mut String, camel: &str) {
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
}

/// Two `extra` objects as one (the transaction's and its receipt's); keys never collide, as
/// the receipt's are prefixed.
pub fn merge_extra(a: Option<&str>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (None, None) => None,
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (Some(a), Some(b)) => {
            let mut out = String::with_capacity(a.len() + b.len());
            out.push_str(a.strip_suffix('}').unwrap_or(a));
            out.push(',');
            out.push_str(b.strip_prefix('{').unwrap_or(b));
            Some(out)
        }
    }
}

/// What a field read zero or one time becomes: `req` is required, `opt` (an `Option`) may be
/// absent or null, `vec` (a `Vec`) may be absent, read as empty.
macro_rules! rpc_field_finish {
    (req $v:expr, $key:literal) => {
        $v.ok_or_else(|| <A::Error as serde::de::Error>::missing_field($key))?
    };
    (opt $v:expr, $key:literal) => {
        $v.flatten()
    };
    (vec $v:expr, $key:literal) => {
        $v.unwrap_or_default()
    };
}

/// A reply object: a struct with the given fields and `extra`, and its `Deserialize`.
/// `prefix` is put before the snake_case name of each kept unknown key.
macro_rules! rpc_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident $(< $g:ident = $gdef:ty >)? {
            $( $(#[$fmeta:meta])* $kind:ident $field:ident : $t:ty = $key:literal, )*
        }
        repeats: [$($repeat:literal),*],
        prefix: $prefix:literal,
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name $(< $g = $gdef >)? {
            $( $(#[$fmeta])* pub $field: $t, )*
            /// What the node sent that no field above holds: a JSON object, `None` when empty.
            pub extra: Option<String>,
        }

        impl<'de $(, $g: serde::Deserialize<'de>)?> serde::Deserialize<'de> for $name $(< $g >)? {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct ObjectVisitor $(< $g >)? (std::marker::PhantomData<($($g,)?)>);

                impl<'de $(, $g: serde::Deserialize<'de>)?> serde::de::Visitor<'de> for ObjectVisitor $(< $g >)? {
                    type Value = $name $(< $g >)?;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }

                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                        $( let mut $field: Option<$t> = None; )*
                        let mut extra = $crate::raw::object::Extra::default();
                        while let Some(key) = map.next_key::<$crate::raw::object::Key<'de>>()? {
                            match key.0.as_ref() {
                                $( $key => $field = Some(map.next_value()?), )*
                                $( $repeat => { map.next_value::<serde::de::IgnoredAny>()?; } )*
                                other => {
                                    // Borrowed from the reply's text, as every reply is parsed
                                    // (`raw::parse`): no copy but the one into `extra`.
                                    let value = map.next_value::<&'de serde_json::value::RawValue>()?;
                                    extra.push($prefix, other, value);
                                }
                            }
                        }
                        Ok($name {
                            $( $field: $crate::raw::object::rpc_field_finish!($kind $field, $key), )*
                            extra: extra.finish(),
                        })
                    }
                }

                d.deserialize_map(ObjectVisitor(std::marker::PhantomData))
            }
        }
    };
}

pub(crate) use {rpc_field_finish, rpc_object};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_become_column_names() {
        for (camel, snake) in [
            ("gasUsedForL1", "gas_used_for_l1"),
            ("l1BlobBaseFeeScalar", "l1_blob_base_fee_scalar"),
            ("yParity", "y_parity"),
            ("v", "v"),
            ("isSystemTx", "is_system_tx"),
        ] {
            assert_eq!(snake_case(camel), snake);
        }
    }

    #[test]
    fn unknown_fields_are_kept_as_sent() {
        let mut extra = Extra::default();
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        extra.push("receipt_", "gasUsedForL1", &raw(r#""0x0""#));
        extra.push("receipt_", "odd\"Name", &raw("[1, {\"a\": null}]"));
        let text = extra.finish().unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"receipt_gas_used_for_l1": "0x0", "receipt_odd\"_name": [1, {"a": null}]})
        );
        assert_eq!(Extra::default().finish(), None);
    }

    #[test]
    fn extras_merge_into_one_object() {
        let merged = merge_extra(Some(r#"{"v":"0x1"}"#), Some(r#"{"receipt_x":[1,2]}"#)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&merged).unwrap();
        assert_eq!(v, serde_json::json!({"v": "0x1", "receipt_x": [1, 2]}));
        assert_eq!(merge_extra(None, Some("{}")).as_deref(), Some("{}"));
        assert_eq!(merge_extra(None, None), None);
    }
}
