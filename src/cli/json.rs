//! Any `scopegate.v1` message in the proto3 JSON mapping, transcoded through the descriptor set
//! its Rust type was generated from (prost-reflect), so the output cannot drift from the proto:
//! lowerCamelCase names, int64 as strings, enums by name, RFC 3339 timestamps. Fields at their
//! default value are printed too (an option the mapping allows), so a script sees every field;
//! an unset message field or oneof is left out.

use std::{io::Write, sync::LazyLock};

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

use crate::pb;

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).expect(
        "build.rs encodes the descriptor set that protox compiled and `pb` is generated from",
    )
});

/// Writes `message` to `out` as pretty-printed proto3 JSON.
pub fn write<M: prost::Name>(out: &mut dyn Write, message: &M) -> std::io::Result<()> {
    let name = M::full_name();
    let descriptor = POOL
        .get_message_by_name(&name)
        .ok_or_else(|| std::io::Error::other(format!("no descriptor for {name}")))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(std::io::Error::other)?;
    let options = SerializeOptions::new().skip_default_fields(false);
    dynamic
        .serialize_with_options(&mut serde_json::Serializer::pretty(out), &options)
        .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;
    use serde_json::{Value, json};

    use super::*;
    use crate::pb::manage_scope_response::Result as ScopeResult;

    fn json_of<M: prost::Name>(message: &M) -> Value {
        let mut out = Vec::new();
        write(&mut out, message).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn scope_response_follows_the_proto3_json_mapping() {
        let response = pb::ManageScopeResponse {
            result: Some(ScopeResult::Scope(pb::Scope {
                id: 9_007_199_254_740_993,
                tenant: "acme".into(),
                name: "reports:read".into(),
                is_system: true,
                implies: vec!["courses:read".into()],
                created_at: Some(Timestamp {
                    seconds: 1_767_225_600,
                    nanos: 500_000_000,
                }),
                ..pb::Scope::default()
            })),
            catalog_revision: 7,
        };

        let value = json_of(&response);

        assert_eq!(
            value,
            json!({
                "scope": {
                    "id": "9007199254740993",
                    "tenant": "acme",
                    "name": "reports:read",
                    "description": "",
                    "isDefault": false,
                    "isSystem": true,
                    "isReserved": false,
                    "implies": ["courses:read"],
                    "createdAt": "2026-01-01T00:00:00.500Z",
                    "etag": "",
                },
                "catalogRevision": "7",
            })
        );
    }

    #[test]
    fn every_response_the_cli_prints_transcodes() {
        let printed = [
            json_of(&pb::ManageTenantResponse::default()),
            json_of(&pb::ManageClientResponse::default()),
            json_of(&pb::ManageOperationResponse::default()),
            json_of(&pb::ExportCatalogResponse::default()),
            json_of(&pb::ImportCatalogResponse::default()),
            json_of(&pb::ListAuditEventsResponse::default()),
            json_of(&pb::ManageIntrospectionCredentialResponse::default()),
            json_of(&pb::ManageCallerResponse::default()),
        ];

        assert_eq!(printed[0], json!({}), "an unset oneof is left out");
        assert_eq!(printed[1], json!({ "catalogRevision": "0" }));
        assert_eq!(printed[5], json!({ "events": [], "nextPageToken": "" }));
    }
}
