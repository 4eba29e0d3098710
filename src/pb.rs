//! The one door to the generated protobuf code and the descriptor set.
//!
//! Only `crate::grpc`, `crate::validation` and `crate::server` use these types
//! (`crate::http` reads the descriptor set, never the types);
//! everything behind the backend trait speaks `crate::domain`.

#[allow(missing_docs, unreachable_pub, clippy::all)]
mod generated {
    tonic::include_proto!("bedrock.gateway.v1");
}

pub use generated::*;

/// The encoded `FileDescriptorSet` of `proto/` and its imports (with the
/// `google.api.http` options), served by reflection and read by the HTTP
/// layer for its JSON mapping.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/gateway_descriptor.bin"));

/// The encoded descriptor set of google/rpc/error_details.proto, served by
/// reflection so that grpcurl can decode error details.
pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/error_details_descriptor.bin"));

/// The fully-qualified service name, as health checks and reflection know it.
pub const SERVICE_NAME: &str = "bedrock.gateway.v1.TextGenerationService";

#[cfg(test)]
mod tests {
    use prost::Message as _;

    #[test]
    fn descriptor_set_decodes_and_holds_the_service() {
        let fds = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET).unwrap();
        let service = fds
            .file
            .iter()
            .flat_map(|f| {
                f.service
                    .iter()
                    .map(move |s| format!("{}.{}", f.package(), s.name()))
            })
            .find(|name| name == super::SERVICE_NAME);
        assert!(service.is_some(), "service missing from descriptor set");
    }
}
