//! The slice of Envoy's `CheckRequest` that a decision reads, as prost messages that are
//! wire-compatible with `envoy.service.auth.v3` (field numbers from
//! `proto/vendor/envoy/envoy/service/auth/v3/attribute_context.proto` and `external_auth.proto`).
//!
//! Decoding the whole request (peers, addresses, every string of the HTTP request, SipHash maps)
//! was a large part of a cached `Check`'s server cost; prost skips the fields not declared here.
//! A proto3 `map<string, string>` is on the wire a repeated message of `key = 1, value = 2`, so
//! the maps decode as [`Entry`] lists; [`last_value`] gives a map's meaning to a key that occurs
//! more than once (the last entry wins).

/// `envoy.service.auth.v3.CheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckRequest {
    /// `attributes = 1`.
    #[prost(message, optional, tag = "1")]
    pub attributes: Option<AttributeContext>,
}

/// `envoy.service.auth.v3.AttributeContext`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeContext {
    /// `source = 1`: the downstream peer.
    #[prost(message, optional, tag = "1")]
    pub source: Option<Peer>,
    /// `request = 4`.
    #[prost(message, optional, tag = "4")]
    pub request: Option<Request>,
    /// `map<string, string> context_extensions = 10`: the route's settings.
    #[prost(message, repeated, tag = "10")]
    pub context_extensions: Vec<Entry>,
}

/// `envoy.service.auth.v3.AttributeContext.Peer`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Peer {
    /// `certificate = 5`: the client certificate of the TLS connection, URL-encoded PEM.
    #[prost(string, tag = "5")]
    pub certificate: String,
}

/// `envoy.service.auth.v3.AttributeContext.Request`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// `http = 2`.
    #[prost(message, optional, tag = "2")]
    pub http: Option<HttpRequest>,
}

/// `envoy.service.auth.v3.AttributeContext.HttpRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpRequest {
    /// `map<string, string> headers = 3`: lower-cased names, repeated headers merged with `,`;
    /// the pseudo-headers `:method`, `:path` and `:authority` among them.
    #[prost(message, repeated, tag = "3")]
    pub headers: Vec<Entry>,
    /// `config.core.v3.HeaderMap header_map = 13`: set instead of `headers` when Envoy runs
    /// with `encode_raw_headers`.
    #[prost(message, optional, tag = "13")]
    pub header_map: Option<HeaderMap>,
    /// `scheme = 6`: the request's URI scheme (`http`, `https`), for a DPoP proof's `htu`.
    #[prost(string, tag = "6")]
    pub scheme: String,
}

/// One entry of a proto3 `map<string, string>`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    /// `key = 1`.
    #[prost(string, tag = "1")]
    pub key: String,
    /// `value = 2`.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `envoy.config.core.v3.HeaderMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderMap {
    /// `repeated HeaderValue headers = 1`: every header, repeated ones not merged.
    #[prost(message, repeated, tag = "1")]
    pub headers: Vec<HeaderValue>,
}

/// `envoy.config.core.v3.HeaderValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValue {
    /// `key = 1`.
    #[prost(string, tag = "1")]
    pub key: String,
    /// `value = 2`.
    #[prost(string, tag = "2")]
    pub value: String,
    /// `raw_value = 3`: what Envoy sets with `encode_raw_headers` (the bytes as received).
    #[prost(bytes = "vec", tag = "3")]
    pub raw_value: Vec<u8>,
}

/// The value of `key` in a decoded map: the last entry with that key, as a map decoder keeps.
pub fn last_value<'a>(entries: &'a [Entry], key: &str) -> Option<&'a str> {
    entries
        .iter()
        .rev()
        .find(|e| e.key == key)
        .map(|e| e.value.as_str())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use envoy_types::pb::{
        envoy::{
            config::core::v3::{
                Address, HeaderMap as FullHeaderMap, HeaderValue as FullHeaderValue, Metadata,
                SocketAddress, address, socket_address,
            },
            service::auth::v3::{
                AttributeContext as FullAttributeContext, CheckRequest as FullCheckRequest,
                attribute_context::{
                    HttpRequest as FullHttpRequest, Peer, Request as FullRequest, TlsSession,
                },
            },
        },
        google::protobuf::{Struct, Timestamp, Value, value::Kind},
    };
    use prost::Message;

    use super::*;

    fn strings(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn peer(ip: &str, port: u32, principal: &str) -> Peer {
        Peer {
            address: Some(Address {
                address: Some(address::Address::SocketAddress(SocketAddress {
                    address: ip.to_owned(),
                    port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                    ..Default::default()
                })),
            }),
            service: "frontend".to_owned(),
            labels: strings(&[("app", "web"), ("version", "v2")]),
            principal: principal.to_owned(),
            certificate: "-----BEGIN CERTIFICATE-----".to_owned(),
        }
    }

    fn metadata(namespace: &str) -> Metadata {
        let fields = [(
            "team".to_owned(),
            Value {
                kind: Some(Kind::StringValue("auth".to_owned())),
            },
        )];
        Metadata {
            filter_metadata: [(
                namespace.to_owned(),
                Struct {
                    fields: fields.into_iter().collect(),
                },
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        }
    }

    /// A request with every part of the attribute context Envoy fills in, `headers` and
    /// `header_map` both set (Envoy sends one of them; a decoder must read both).
    fn rich() -> FullCheckRequest {
        let header_map = FullHeaderMap {
            headers: vec![
                FullHeaderValue {
                    key: "authorization".to_owned(),
                    raw_value: b"Bearer raw-token".to_vec(),
                    ..Default::default()
                },
                FullHeaderValue {
                    key: "x-scopegate-role".to_owned(),
                    value: "root".to_owned(),
                    ..Default::default()
                },
                FullHeaderValue {
                    key: "x-binary".to_owned(),
                    raw_value: vec![0xff, 0x00, 0x80],
                    ..Default::default()
                },
                FullHeaderValue {
                    key: "authorization".to_owned(),
                    raw_value: b"Bearer second".to_vec(),
                    ..Default::default()
                },
            ],
        };
        let http = FullHttpRequest {
            id: "14386714470394165387".to_owned(),
            method: "POST".to_owned(),
            headers: strings(&[
                (":authority", "api.school.test"),
                (":method", "POST"),
                (":path", "/settings?lang=en"),
                ("authorization", "Bearer map-token"),
                ("Authorization", "Bearer other-case"),
                ("x-scopegate-subject", "admin"),
                ("content-type", "application/json"),
                ("", "empty name"),
                ("x-empty", ""),
            ]),
            header_map: Some(header_map),
            path: "/settings?lang=en".to_owned(),
            host: "api.school.test".to_owned(),
            scheme: "https".to_owned(),
            query: "lang=en".to_owned(),
            fragment: "top".to_owned(),
            size: 17,
            protocol: "HTTP/2".to_owned(),
            body: "{\"a\":1}".to_owned(),
            raw_body: vec![1, 2, 3],
        };
        FullCheckRequest {
            attributes: Some(FullAttributeContext {
                source: Some(peer("10.0.0.7", 53_124, "spiffe://client")),
                destination: Some(peer("10.0.0.8", 10_000, "spiffe://server")),
                request: Some(FullRequest {
                    time: Some(Timestamp {
                        seconds: 1_700_000_000,
                        nanos: 5,
                    }),
                    http: Some(http),
                }),
                context_extensions: strings(&[
                    ("tenant", "school"),
                    ("operation", "get_settings"),
                    ("strip_authorization", "true"),
                    ("", ""),
                ]),
                metadata_context: Some(metadata("envoy.filters.http.jwt_authn")),
                route_metadata_context: Some(metadata("route")),
                tls_session: Some(TlsSession {
                    sni: "api.school.test".to_owned(),
                }),
            }),
        }
    }

    fn as_map(entries: &[Entry]) -> HashMap<String, String> {
        entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    }

    #[test]
    fn the_slim_decode_reads_what_the_full_decode_reads_and_nothing_else() {
        let bytes = rich().encode_to_vec();

        let full = FullCheckRequest::decode(bytes.as_slice()).unwrap();
        let slim = CheckRequest::decode(bytes.as_slice()).unwrap();

        let (full, slim) = (full.attributes.unwrap(), slim.attributes.unwrap());
        assert_eq!(as_map(&slim.context_extensions), full.context_extensions);
        let full_http = full.request.unwrap().http.unwrap();
        let slim_http = slim.request.unwrap().http.unwrap();
        assert_eq!(slim_http.headers.len(), full_http.headers.len());
        assert_eq!(as_map(&slim_http.headers), full_http.headers);
        let full_raw: Vec<(String, String, Vec<u8>)> = full_http
            .header_map
            .unwrap()
            .headers
            .into_iter()
            .map(|h| (h.key, h.value, h.raw_value))
            .collect();
        let slim_raw: Vec<(String, String, Vec<u8>)> = slim_http
            .header_map
            .unwrap()
            .headers
            .into_iter()
            .map(|h| (h.key, h.value, h.raw_value))
            .collect();
        assert_eq!(slim_raw, full_raw);
        assert_eq!(slim_http.scheme, full_http.scheme);
        assert_eq!(slim_raw[0].2, b"Bearer raw-token");
    }

    #[test]
    fn a_key_sent_twice_means_what_a_map_decoder_makes_of_it_the_last_entry() {
        // Two encodings back to back decode as one merged message: the second's map entries
        // come later on the wire and replace the first's.
        let one = |tenant: &str| FullCheckRequest {
            attributes: Some(FullAttributeContext {
                context_extensions: strings(&[("tenant", tenant)]),
                ..Default::default()
            }),
        };
        let mut bytes = one("first").encode_to_vec();
        bytes.extend(one("second").encode_to_vec());

        let full = FullCheckRequest::decode(bytes.as_slice()).unwrap();
        let slim = CheckRequest::decode(bytes.as_slice()).unwrap();

        let full = full.attributes.unwrap().context_extensions;
        let slim = slim.attributes.unwrap().context_extensions;
        assert_eq!(slim.len(), 2);
        assert_eq!(last_value(&slim, "tenant"), Some("second"));
        assert_eq!(
            last_value(&slim, "tenant"),
            full.get("tenant").map(String::as_str)
        );
        assert_eq!(last_value(&slim, "operation"), None);
    }
}
