//! `CheckResponse`s as bytes. An allow is the hot path: it is written straight onto the wire
//! (field numbers from `proto/vendor/envoy/envoy/service/auth/v3/external_auth.proto`,
//! `config/core/v3/base.proto` and `google/protobuf/struct.proto`) instead of building
//! `envoy-types`' message tree (a `HeaderValueOption` with its `HeaderValue` per header, a
//! `Struct` map for the metadata, a `String` for every name) only to encode it. Denials are
//! built with `envoy-types` and encoded by prost ([`Encoded::of`]). The tests decode both with
//! `envoy-types`, as Envoy does.

use envoy_types::ext_authz::v3::pb::HeaderAppendAction;
use prost::{
    DecodeError,
    bytes::{Buf, BufMut},
    encoding::{
        DecodeContext, WireType, encode_key, encode_varint, encoded_len_varint, skip_field,
    },
};

/// An encoded `envoy.service.auth.v3.CheckResponse`, as tonic's codec sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded(Vec<u8>);

impl Encoded {
    /// `message` encoded by prost.
    pub fn of(message: &impl prost::Message) -> Self {
        Self(message.encode_to_vec())
    }

    /// The encoded message.
    #[cfg(test)]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    /// Never decoded here (the server only sends it); a decode keeps nothing.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

// Field numbers (every one below 16, so every key is one byte).
/// `CheckResponse.status` (`google.rpc.Status`).
const RESPONSE_STATUS: u32 = 1;
/// `CheckResponse.ok_response` (`OkHttpResponse`).
const RESPONSE_OK: u32 = 3;
/// `CheckResponse.dynamic_metadata` (`google.protobuf.Struct`).
const RESPONSE_METADATA: u32 = 4;
/// `OkHttpResponse.headers` (`repeated HeaderValueOption`).
const OK_HEADERS: u32 = 2;
/// `OkHttpResponse.headers_to_remove` (`repeated string`).
const OK_HEADERS_TO_REMOVE: u32 = 5;
/// `HeaderValueOption.header` (`HeaderValue`).
const OPTION_HEADER: u32 = 1;
/// `HeaderValueOption.append_action` (`HeaderAppendAction`).
const OPTION_APPEND_ACTION: u32 = 3;
/// `HeaderValue.key`, `HeaderValue.value`.
const HEADER_KEY: u32 = 1;
const HEADER_VALUE: u32 = 2;
/// `Struct.fields` (`map<string, Value>`: entries of `key = 1`, `value = 2`).
const STRUCT_FIELDS: u32 = 1;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;
/// `Value.string_value`.
const VALUE_STRING: u32 = 3;

/// The one append action we set.
const OVERWRITE_IF_EXISTS_OR_ADD: u64 = HeaderAppendAction::OverwriteIfExistsOrAdd as u64;

/// A length-delimited field of `body` bytes: its key, its length, then the body.
fn field_len(body: usize) -> usize {
    1 + encoded_len_varint(body as u64) + body
}

fn put_field_head(out: &mut Vec<u8>, tag: u32, body: usize) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body as u64, out);
}

/// A proto3 `string` field (left out when empty, as prost leaves out a default).
fn string_len(value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        field_len(value.len())
    }
}

fn put_string(out: &mut Vec<u8>, tag: u32, value: &str) {
    if !value.is_empty() {
        put_field_head(out, tag, value.len());
        out.extend_from_slice(value.as_bytes());
    }
}

/// A `HeaderValue { key, value }`'s body.
fn header_len(name: &str, value: &str) -> usize {
    string_len(name) + string_len(value)
}

/// A `HeaderValueOption { header, append_action }`'s body.
fn option_len(name: &str, value: &str) -> usize {
    field_len(header_len(name, value)) + 1 + encoded_len_varint(OVERWRITE_IF_EXISTS_OR_ADD)
}

/// A `Value { string_value }`'s body: a `oneof` member, written even when empty (that is what
/// makes the value a string rather than unset).
fn value_len(value: &str) -> usize {
    field_len(value.len())
}

/// A `Struct.fields` entry's body.
fn entry_len(key: &str, value: &str) -> usize {
    string_len(key) + field_len(value_len(value))
}

/// An allow: status OK, an `OkHttpResponse` that sets `set` (name, value) on the upstream
/// request (overwriting) and removes `remove`, and `metadata` (key, string value) as the
/// dynamic metadata.
pub fn allowed(set: &[(&str, &str)], remove: &[String], metadata: &[(&str, &str)]) -> Encoded {
    let ok_len: usize = set
        .iter()
        .map(|(name, value)| field_len(option_len(name, value)))
        .chain(remove.iter().map(|name| field_len(name.len())))
        .sum();
    let metadata_len: usize = metadata
        .iter()
        .map(|(key, value)| field_len(entry_len(key, value)))
        .sum();
    let mut out = Vec::with_capacity(
        field_len(0)
            + field_len(ok_len)
            + if metadata.is_empty() {
                0
            } else {
                field_len(metadata_len)
            },
    );
    // `status { code: OK }`: code 0 is proto3's default, so the status is present and empty.
    put_field_head(&mut out, RESPONSE_STATUS, 0);
    put_field_head(&mut out, RESPONSE_OK, ok_len);
    for (name, value) in set {
        put_field_head(&mut out, OK_HEADERS, option_len(name, value));
        put_field_head(&mut out, OPTION_HEADER, header_len(name, value));
        put_string(&mut out, HEADER_KEY, name);
        put_string(&mut out, HEADER_VALUE, value);
        encode_key(OPTION_APPEND_ACTION, WireType::Varint, &mut out);
        encode_varint(OVERWRITE_IF_EXISTS_OR_ADD, &mut out);
    }
    for name in remove {
        // A repeated string keeps its empty elements.
        put_field_head(&mut out, OK_HEADERS_TO_REMOVE, name.len());
        out.extend_from_slice(name.as_bytes());
    }
    if !metadata.is_empty() {
        put_field_head(&mut out, RESPONSE_METADATA, metadata_len);
        for (key, value) in metadata {
            put_field_head(&mut out, STRUCT_FIELDS, entry_len(key, value));
            put_string(&mut out, ENTRY_KEY, key);
            put_field_head(&mut out, ENTRY_VALUE, value_len(value));
            put_field_head(&mut out, VALUE_STRING, value.len());
            out.extend_from_slice(value.as_bytes());
        }
    }
    Encoded(out)
}

#[cfg(test)]
mod tests {
    use envoy_types::{
        ext_authz::v3::pb::{
            CheckResponse, HeaderValue, HeaderValueOption, HttpResponse, OkHttpResponse,
        },
        pb::google::{
            protobuf::{Struct, Value, value::Kind},
            rpc,
        },
    };
    use prost::Message;

    use super::*;

    /// What the allow meant, built as `envoy-types` builds it.
    fn expected(
        set: &[(&str, &str)],
        remove: &[String],
        metadata: &[(&str, &str)],
    ) -> CheckResponse {
        CheckResponse {
            status: Some(rpc::Status::default()),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers: set
                    .iter()
                    .map(|(name, value)| HeaderValueOption {
                        header: Some(HeaderValue {
                            key: (*name).to_owned(),
                            value: (*value).to_owned(),
                            ..Default::default()
                        }),
                        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
                        ..Default::default()
                    })
                    .collect(),
                headers_to_remove: remove.to_vec(),
                ..Default::default()
            })),
            dynamic_metadata: (!metadata.is_empty()).then(|| Struct {
                fields: metadata
                    .iter()
                    .map(|(key, value)| {
                        let value = Value {
                            kind: Some(Kind::StringValue((*value).to_owned())),
                        };
                        ((*key).to_owned(), value)
                    })
                    .collect(),
            }),
        }
    }

    fn decoded(encoded: &Encoded) -> CheckResponse {
        CheckResponse::decode(encoded.as_bytes()).unwrap_or_default()
    }

    #[test]
    fn an_allow_decodes_as_envoy_decodes_it() {
        let long = "s".repeat(300);
        let set = [
            ("x-scopegate-tenant", "school"),
            ("x-scopegate-scopes", long.as_str()),
        ];
        let remove = ["x-scopegate-subject".to_owned(), "authorization".to_owned()];
        let metadata = [("tenant", "school"), ("scopes", long.as_str())];

        let encoded = allowed(&set, &remove, &metadata);

        assert_eq!(decoded(&encoded), expected(&set, &remove, &metadata));
        // With one metadata entry (a `HashMap` has no order to match), byte for byte what
        // prost writes.
        let one = &metadata[..1];
        assert_eq!(
            allowed(&set, &remove, one).as_bytes(),
            expected(&set, &remove, one).encode_to_vec().as_slice()
        );
    }

    #[test]
    fn an_allow_with_nothing_to_set_remove_or_report_is_still_an_ok_response() {
        let encoded = allowed(&[], &[], &[]);

        assert_eq!(decoded(&encoded), expected(&[], &[], &[]));
        assert!(matches!(
            decoded(&encoded).http_response,
            Some(HttpResponse::OkResponse(_))
        ));
    }

    #[test]
    fn empty_strings_are_left_out_as_proto3_leaves_them_out_but_removals_and_oneof_values_are_kept()
    {
        let remove = [String::new()];
        let encoded = allowed(&[("x-a", "")], &remove, &[("k", "")]);

        assert_eq!(
            decoded(&encoded),
            expected(&[("x-a", "")], &remove, &[("k", "")])
        );
    }

    #[test]
    fn an_encoded_message_is_sent_as_it_is() {
        let response = expected(&[("x-a", "b")], &[], &[]);
        let encoded = Encoded::of(&response);

        assert_eq!(encoded.encoded_len(), response.encoded_len());
        assert_eq!(encoded.encode_to_vec(), response.encode_to_vec());
    }
}
