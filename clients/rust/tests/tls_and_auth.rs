//! End-to-end tests of TLS, mTLS and API keys: the real `bedrock-client`
//! binary against the real gateway served in-process on 127.0.0.1 with
//! throwaway certificates made by rcgen.

mod common;

use bedrock_gateway::auth::ApiKeys;
use bedrock_gateway::grpc::edge::AuthPolicy;
use bedrock_gateway::server::ServerConfig;
use common::{client_env, start_gateway_with, Gateway, Run, POEM};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::PathBuf;
use std::sync::Arc;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

const KEY: &str = "ci-key-0123456789abcdef";
const WRONG_KEY: &str = "wrong-key-fedcba9876543210";

/// A certificate authority that can sign leaf certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// A leaf certificate for `names` (DNS names or IPs) and its key, as PEM.
    fn leaf(&self, common_name: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Pem {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }
}

/// A certificate and its private key, as PEM.
struct Pem {
    cert: String,
    key: String,
}

/// Two unrelated CAs and certificates from both, as PEM strings and as files
/// in a temporary directory.
struct Pki {
    ca: String,
    server: Pem,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let ca = Ca::new("bedrock-client test CA");
        let other_ca = Ca::new("an unrelated CA");
        let server = ca.leaf(
            "localhost",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = ca.leaf("ci-client", &[], ExtendedKeyUsagePurpose::ClientAuth);
        let other_client = other_ca.leaf("intruder", &[], ExtendedKeyUsagePurpose::ClientAuth);
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", &ca.pem());
        write("other-ca.pem", &other_ca.pem());
        write("client.pem", &client.cert);
        write("client.key", &client.key);
        write("other-client.pem", &other_client.cert);
        write("other-client.key", &other_client.key);
        Pki {
            ca: ca.pem(),
            server,
            dir,
        }
    }

    /// The path of one of the files, as a string for the command line.
    fn path(&self, name: &str) -> String {
        let path: PathBuf = self.dir.path().join(name);
        assert!(path.exists() || name.starts_with("missing"), "{path:?}");
        path.to_str().unwrap().to_owned()
    }

    /// TLS with the server certificate; mTLS against our CA when `mtls`.
    fn server_tls(&self, mtls: bool) -> ServerTlsConfig {
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.server.cert, &self.server.key));
        if mtls {
            tls.client_ca_root(Certificate::from_pem(&self.ca))
        } else {
            tls
        }
    }
}

fn https(gw: &Gateway) -> String {
    format!("https://127.0.0.1:{}", gw.port)
}

fn keys() -> AuthPolicy {
    AuthPolicy {
        keys: Some(Arc::new(
            ApiKeys::parse(&format!("ci:{KEY}"), "test").unwrap(),
        )),
        protect_health_and_reflection: false,
    }
}

/// Runs the client with `args`, no extra environment.
async fn client(args: &[&str]) -> Run {
    client_env(args, &[]).await
}

fn assert_failed(run: &Run, code: i32, starts_with: &str) {
    assert_eq!(run.code, Some(code), "{run:#?}");
    assert!(run.stderr.starts_with(starts_with), "{run:#?}");
    assert_eq!(run.stdout, "", "{run:#?}");
}

/// What a successful `generate --temperature 0 POEM` prints: a poem about sky.
fn assert_poem(run: &Run) {
    run.assert_success();
    assert!(run.stdout.contains("sky"), "{run:#?}");
    assert!(run.stdout.lines().count() >= 12, "not a poem: {run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_trusts_the_named_ca_and_nothing_else() {
    let pki = Pki::new();
    let gw = start_gateway_with(ServerConfig {
        tls: Some(pki.server_tls(false)),
        ..ServerConfig::default()
    })
    .await;
    let addr = https(&gw);
    let ca = pki.path("ca.pem");

    let run = client(&[
        "--addr",
        &addr,
        "--ca-cert",
        &ca,
        "--tls-server-name",
        "localhost",
        "generate",
        "--temperature",
        "0",
        POEM,
    ])
    .await;
    assert_poem(&run);

    // The same from the environment, with the flags after the subcommand.
    let env = client_env(
        &["health"],
        &[
            ("BEDROCK_CLIENT_ADDR", &addr),
            ("BEDROCK_CLIENT_CA_CERT", &ca),
            ("BEDROCK_CLIENT_TLS_SERVER_NAME", "localhost"),
        ],
    )
    .await;
    env.assert_success();
    assert_eq!(env.stdout, "SERVING\n");

    // --tls-server-name is what is verified: a name the certificate does not
    // carry is refused although the IP in the address is in it.
    let wrong_name = client(&[
        "--addr",
        &addr,
        "--ca-cert",
        &ca,
        "--tls-server-name",
        "not-the-gateway.example",
        "health",
    ])
    .await;
    assert_failed(
        &wrong_name,
        1,
        &format!("error: cannot connect to {addr}: "),
    );
    assert!(
        wrong_name.stderr.contains("certificate"),
        "the reason names the certificate: {wrong_name:#?}"
    );

    // Without a CA: refused before connecting, saying what is missing.
    let no_ca = client(&["--addr", &addr, "health"]).await;
    assert_failed(&no_ca, 2, "error: ");
    assert!(no_ca.stderr.contains("needs --ca-cert"), "{no_ca:#?}");

    // A CA that did not sign the gateway's certificate: the handshake fails.
    let wrong_ca = client(&[
        "--addr",
        &addr,
        "--ca-cert",
        &pki.path("other-ca.pem"),
        "--tls-server-name",
        "localhost",
        "generate",
        POEM,
    ])
    .await;
    assert_failed(&wrong_ca, 1, &format!("error: cannot connect to {addr}: "));
    assert!(
        wrong_ca.stderr.contains("UnknownIssuer"),
        "the reason is the issuer: {wrong_ca:#?}"
    );

    // Plaintext against the TLS port.
    let plaintext = client(&["--addr", &gw.addr, "generate", POEM]).await;
    assert_failed(&plaintext, 1, "error: ");
    assert!(
        plaintext
            .stderr
            .contains("\n  hint: the connection failed below gRPC; if the gateway serves TLS, use an https:// address"),
        "{plaintext:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_needs_a_client_certificate_from_the_trusted_ca() {
    let pki = Pki::new();
    let gw = start_gateway_with(ServerConfig {
        tls: Some(pki.server_tls(true)),
        ..ServerConfig::default()
    })
    .await;
    let addr = https(&gw);
    let ca = pki.path("ca.pem");
    let base = [
        "--addr",
        &addr,
        "--ca-cert",
        &ca,
        "--tls-server-name",
        "localhost",
    ];

    let run = client(
        &[
            &base[..],
            &[
                "--client-cert",
                &pki.path("client.pem"),
                "--client-key",
                &pki.path("client.key"),
                "generate",
                "--temperature",
                "0",
                POEM,
            ],
        ]
        .concat(),
    )
    .await;
    assert_poem(&run);

    // The identity can come from the environment too.
    let env = client_env(
        &[&base[..], &["health"]].concat(),
        &[
            ("BEDROCK_CLIENT_CLIENT_CERT", &pki.path("client.pem")),
            ("BEDROCK_CLIENT_CLIENT_KEY", &pki.path("client.key")),
        ],
    )
    .await;
    env.assert_success();
    assert_eq!(env.stdout, "SERVING\n");

    let anonymous = client(&[&base[..], &["generate", POEM]].concat()).await;
    assert_failed(&anonymous, 1, "error: ");
    // Refused during the handshake (CertificateRequired) or just after it,
    // depending on timing; the hint names the fix either way.
    assert!(
        anonymous.stderr.contains("CertificateRequired")
            || anonymous.stderr.contains(
                "requires client certificates (mTLS), pass --client-cert and --client-key"
            ),
        "{anonymous:#?}"
    );

    let intruder = client(
        &[
            &base[..],
            &[
                "--client-cert",
                &pki.path("other-client.pem"),
                "--client-key",
                &pki.path("other-client.key"),
                "generate",
                POEM,
            ],
        ]
        .concat(),
    )
    .await;
    assert_failed(&intruder, 1, "error: ");
    assert!(
        intruder.stderr.contains("UnknownCA")
            || intruder
                .stderr
                .contains("check that the gateway trusts the CA that signed --client-cert"),
        "{intruder:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_sent_as_bearer_tokens() {
    let gw = start_gateway_with(ServerConfig {
        auth: keys(),
        ..ServerConfig::default()
    })
    .await;
    let addr = gw.addr.as_str();

    let none = client(&["--addr", addr, "generate", POEM]).await;
    assert_failed(&none, 1, "error: UNAUTHENTICATED");

    let wrong = client(&["--addr", addr, "--api-key", WRONG_KEY, "generate", POEM]).await;
    assert_failed(&wrong, 1, "error: UNAUTHENTICATED");
    assert!(
        !wrong.stderr.contains(WRONG_KEY),
        "never printed: {wrong:#?}"
    );

    let right = client(&[
        "--addr",
        addr,
        "--api-key",
        KEY,
        "generate",
        "--temperature",
        "0",
        POEM,
    ])
    .await;
    assert_poem(&right);

    // From the environment, on a streaming call.
    let env = client_env(
        &["--addr", addr, "stream", "--temperature", "0", POEM],
        &[("BEDROCK_CLIENT_API_KEY", KEY)],
    )
    .await;
    assert_poem(&env);

    // Health is open to probes by default.
    let health = client(&["--addr", addr, "health"]).await;
    health.assert_success();
    assert_eq!(health.stdout, "SERVING\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_carries_the_key_when_the_gateway_protects_it() {
    let gw = start_gateway_with(ServerConfig {
        auth: AuthPolicy {
            protect_health_and_reflection: true,
            ..keys()
        },
        ..ServerConfig::default()
    })
    .await;
    let addr = gw.addr.as_str();

    let none = client(&["--addr", addr, "health"]).await;
    assert_failed(&none, 1, "error: UNAUTHENTICATED");

    let keyed = client(&["--addr", addr, "--api-key", KEY, "health"]).await;
    keyed.assert_success();
    assert_eq!(keyed.stdout, "SERVING\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_and_an_api_key_together() {
    let pki = Pki::new();
    let gw = start_gateway_with(ServerConfig {
        tls: Some(pki.server_tls(true)),
        auth: keys(),
        ..ServerConfig::default()
    })
    .await;
    let addr = https(&gw);
    let ca = pki.path("ca.pem");
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let base = [
        "--addr",
        &addr,
        "--ca-cert",
        &ca,
        "--client-cert",
        &cert,
        "--client-key",
        &key,
    ];

    // By IP, without --tls-server-name: the certificate names 127.0.0.1 too.
    let run = client(&[&base[..], &["--api-key", KEY, "models"]].concat()).await;
    run.assert_success();
    assert!(
        run.stdout.contains("amazon.titan-text-express-v1"),
        "{run:#?}"
    );

    let no_key = client(&[&base[..], &["models"]].concat()).await;
    assert_failed(&no_key, 1, "error: UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_tls_files_are_reported_by_flag_and_path() {
    let pki = Pki::new();
    let gw = start_gateway_with(ServerConfig {
        tls: Some(pki.server_tls(true)),
        ..ServerConfig::default()
    })
    .await;
    let addr = https(&gw);
    let ca = pki.path("ca.pem");
    let missing = pki.path("missing.pem");

    let run = client(&["--addr", &addr, "--ca-cert", &missing, "health"]).await;
    assert_failed(
        &run,
        1,
        &format!("error: cannot read --ca-cert {missing}: "),
    );

    // A key where the CA should be.
    let key = pki.path("client.key");
    let run = client(&["--addr", &addr, "--ca-cert", &key, "health"]).await;
    assert_failed(
        &run,
        1,
        &format!("error: --ca-cert {key} does not hold a PEM certificate"),
    );

    // A certificate where the key should be.
    let cert = pki.path("client.pem");
    let run = client(&[
        "--addr",
        &addr,
        "--ca-cert",
        &ca,
        "--client-cert",
        &cert,
        "--client-key",
        &cert,
        "health",
    ])
    .await;
    assert_failed(
        &run,
        1,
        &format!("error: --client-key {cert} does not hold a PEM private key"),
    );

    // Half an identity is a usage error.
    let run = client(&[
        "--addr",
        &addr,
        "--ca-cert",
        &ca,
        "--client-cert",
        &cert,
        "health",
    ])
    .await;
    assert_failed(&run, 2, "error: ");
    assert!(run.stderr.contains("--client-key"), "{run:#?}");

    // TLS flags with a plaintext address are a usage error, not ignored.
    let run = client(&["--addr", &gw.addr, "--ca-cert", &ca, "health"]).await;
    assert_failed(&run, 2, "error: --ca-cert ");
    assert!(run.stderr.contains("plaintext"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_never_shown() {
    let run = client_env(&["--help"], &[("BEDROCK_CLIENT_API_KEY", KEY)]).await;
    run.assert_success();
    assert!(run.stdout.contains("BEDROCK_CLIENT_API_KEY"), "{run:#?}");
    assert!(!run.stdout.contains(KEY), "{run:#?}");

    // A key that cannot be sent is refused without echoing it.
    let bad = "has spaces 0123456789abcdef";
    let run = client_env(&["health"], &[("BEDROCK_CLIENT_API_KEY", bad)]).await;
    assert_failed(&run, 2, "error: the API key");
    assert!(!run.stderr.contains(bad), "{run:#?}");
}
