//! The Amazon Bedrock backend.

pub mod errors;
