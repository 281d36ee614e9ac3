#!/usr/bin/env python3
"""The README's first-use flow through server reflection only (no proto files), as grpcurl
would do it: create a loopwise tenant, list discoverable scopes, be refused deleting openid,
delete courses:read and see it gone from the tool map.

usage: reflection_smoke.py HOST:PORT ADMIN_KEY [TENANT]
needs: pip install grpcio grpcio-reflection
"""
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main():
    target, key = sys.argv[1], sys.argv[2]
    tenant = sys.argv[3] if len(sys.argv) > 3 else "school"
    channel = grpc.insecure_channel(target)
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    metadata = [("authorization", f"Bearer {key}")]

    def call(service, method, body):
        svc = pool.FindServiceByName(service)
        m = svc.FindMethodByName(method)
        req_cls = message_factory.GetMessageClass(m.input_type)
        resp_cls = message_factory.GetMessageClass(m.output_type)
        stub = channel.unary_unary(
            f"/{service}/{method}",
            request_serializer=req_cls.SerializeToString,
            response_deserializer=resp_cls.FromString,
        )
        return json_format.MessageToDict(
            stub(json_format.ParseDict(body, req_cls()), metadata=metadata)
        )

    admin = "scopegate.v1.ScopeAdmin"
    call(admin, "ManageTenant", {"create": {"id": tenant, "preset": "loopwise"}})
    listed = call(admin, "ManageScope", {"tenant": tenant, "list": {"discoverableOnly": True, "page": {"pageSize": 500}}})
    names = [s["name"] for s in listed["scopes"]["scopes"]]
    assert "courses:read" in names and not any(n.startswith("admin") for n in names), names
    print(f"discoverable scopes: {len(names)} (admin pair hidden)")
    try:
        call(admin, "ManageScope", {"tenant": tenant, "delete": {"scope": {"name": "openid"}}})
        raise SystemExit("deleting openid was not refused")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err
        print(f"delete openid refused: {err.code().name}: {err.details()}")
    call(admin, "ManageScope", {"tenant": tenant, "delete": {"scope": {"name": "courses:read"}}})
    for tool in ["list_courses", "get_course", "list_reviews"]:
        op = call(admin, "ManageOperation", {"tenant": tenant, "get": {"name": tool}})["operation"]
        alternatives = op.get("alternatives", [])
        assert all("courses:read" not in a.get("scopes", []) for a in alternatives), op
        print(f"{tool}: alternatives now {alternatives}")
    print("ok")


if __name__ == "__main__":
    main()
