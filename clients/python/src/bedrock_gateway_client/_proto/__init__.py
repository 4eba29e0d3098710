"""Stubs generated from proto/bedrock/gateway/v1/gateway.proto by generate.sh. Do not edit."""
