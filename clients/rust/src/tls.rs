//! TLS for https:// addresses: the CA to trust, the mTLS identity to present
//! and the name to verify, read from the files the flags name.
//!
//! The files are read and given a first look here, so that a wrong path or a
//! file of the wrong kind is reported by name, before any connection; whether
//! the certificates actually fit the gateway is found out by the handshake.

use crate::cli::SecurityArgs;
use crate::error::Error;
use std::path::Path;
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// Whether tonic was compiled with trust roots of its own (its
/// `tls-native-roots` or `tls-webpki-roots` features), so that an https://
/// address works without `--ca-cert`.
///
/// The workspace builds tonic with `tls-aws-lc` only, and whether a feature
/// is on is not visible to this crate's `cfg`. `ClientTlsConfig` has one
/// field per roots feature, and `with_enabled_roots` sets exactly those, so
/// the two configurations print differently exactly when some roots feature
/// is on. (Were a roots feature added to the workspace, the client would then
/// use those roots without further changes.)
pub fn built_in_roots_available() -> bool {
    format!("{:?}", ClientTlsConfig::new().with_enabled_roots())
        != format!("{:?}", ClientTlsConfig::new())
}

/// The TLS configuration for the flags: `--ca-cert` (or the built-in roots),
/// the `--client-cert`/`--client-key` identity and `--tls-server-name`.
/// `handshake_timeout` bounds the TLS handshake.
pub fn client_config(
    args: &SecurityArgs,
    handshake_timeout: Duration,
) -> Result<ClientTlsConfig, Error> {
    let mut config = ClientTlsConfig::new().timeout(handshake_timeout);
    config = match &args.ca_cert {
        // A private CA replaces the built-in roots rather than adding to them:
        // naming it says which issuer to accept.
        Some(path) => config.ca_certificate(Certificate::from_pem(read_pem(
            path,
            "--ca-cert",
            Kind::Certificate,
        )?)),
        None => config.with_enabled_roots(),
    };
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        config = config.identity(Identity::from_pem(
            read_pem(cert, "--client-cert", Kind::Certificate)?,
            read_pem(key, "--client-key", Kind::PrivateKey)?,
        ));
    }
    if let Some(name) = &args.tls_server_name {
        config = config.domain_name(name.clone());
    }
    Ok(config)
}

/// What a PEM file should hold.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Certificate,
    PrivateKey,
}

/// Reads a PEM file and checks that it holds at least one block of the
/// expected kind. rustls skips what it cannot parse, so without this check a
/// CA file of the wrong kind would only show up as an unknown issuer later.
fn read_pem(path: &Path, flag: &str, kind: Kind) -> Result<Vec<u8>, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read {flag} {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let found = match kind {
        Kind::Certificate => text.contains("-----BEGIN CERTIFICATE-----"),
        Kind::PrivateKey => text.lines().any(|line| {
            let line = line.trim();
            line.starts_with("-----BEGIN ") && line.ends_with("PRIVATE KEY-----")
        }),
    };
    if !found {
        let expected = match kind {
            Kind::Certificate => "a PEM certificate (-----BEGIN CERTIFICATE-----)",
            Kind::PrivateKey => "a PEM private key (-----BEGIN ... PRIVATE KEY-----)",
        };
        return Err(Error::Config(format!(
            "{flag} {} does not hold {expected}",
            path.display()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_checked_for_the_expected_pem_block() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();

        assert!(read_pem(&cert, "--ca-cert", Kind::Certificate).is_ok());
        assert!(read_pem(&key, "--client-key", Kind::PrivateKey).is_ok());
        let wrong = read_pem(&key, "--ca-cert", Kind::Certificate).unwrap_err();
        assert!(
            wrong.report().starts_with("error: --ca-cert ")
                && wrong.report().contains("does not hold a PEM certificate"),
            "{}",
            wrong.report()
        );
        let wrong = read_pem(&cert, "--client-key", Kind::PrivateKey).unwrap_err();
        assert!(wrong.report().contains("does not hold a PEM private key"));
        let missing = read_pem(&dir.join("nope.pem"), "--ca-cert", Kind::Certificate).unwrap_err();
        assert!(
            missing
                .report()
                .starts_with("error: cannot read --ca-cert ")
                && missing.report().contains("nope.pem"),
            "{}",
            missing.report()
        );
    }
}
