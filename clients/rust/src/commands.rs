//! Running a parsed command line: connect, make one call, print, and choose
//! the exit code (0 success, 1 any failure after parsing; clap owns 2).

use crate::cli::{Cli, Command, GenerateArgs, HealthArgs, ModelArgs, ModelsArgs, StreamArgs};
use crate::error::Error;
use crate::pb::{self, text_generation_service_client::TextGenerationServiceClient};
use crate::{error, render, request, tls};
use std::future::Future;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// How long connecting may take when `--timeout` is not given. Without a
/// bound, an address that drops packets would hang for the OS's TCP timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Extra time the client waits past `--timeout` before giving up itself.
/// The gateway enforces the deadline and answers DEADLINE_EXCEEDED with
/// details; this grace lets that answer arrive, and the client's own cut-off
/// only catches a gateway or network that has stopped answering.
pub const CLIENT_DEADLINE_GRACE: Duration = Duration::from_millis(500);

/// Runs the command on a fresh runtime, prints any error on stderr and
/// returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    // One call at a time needs no worker threads.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.report());
            ExitCode::FAILURE
        }
    }
}

/// Connects to `cli.addr` and runs the subcommand.
pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    // main.rs reports these as usage errors first; checked again for callers
    // of the library that skip it.
    cli.check().map_err(Error::Config)?;
    let call = CallOptions::new(&cli)?;
    let channel = connect(&cli).await?;
    let timeout = cli.timeout;
    let hint = transport_hint(&cli);
    match cli.command {
        Command::Generate(args) => within(timeout, generate(channel, call, args)).await,
        Command::Stream(args) => within(timeout, stream(channel, call, args)).await,
        Command::Models(args) => within(timeout, models(channel, call, args)).await,
        Command::Model(args) => within(timeout, model(channel, call, args)).await,
        Command::Health(args) => within(timeout, health(channel, call, args)).await,
    }
    .map_err(|e| e.with_transport_hint(hint))
}

/// What most likely broke a connection that opened but then failed, given
/// how the client connected. The transport's own words (a closed connection,
/// a broken pipe) rarely say.
fn transport_hint(cli: &Cli) -> &'static str {
    if !cli.is_tls() {
        "the connection failed below gRPC; if the gateway serves TLS, \
         use an https:// address (with --ca-cert)"
    } else if cli.security.client_cert.is_none() {
        "the connection failed below gRPC; if the gateway requires client \
         certificates (mTLS), pass --client-cert and --client-key"
    } else {
        "the connection failed below gRPC; check that the gateway trusts the CA \
         that signed --client-cert, and that --client-key is its key"
    }
}

/// Opens the connection eagerly (for https://, including the TLS
/// handshake), so an unreachable gateway or a certificate it refuses is
/// reported as such rather than as the first call's UNAVAILABLE.
async fn connect(cli: &Cli) -> Result<Channel, Error> {
    let addr = &cli.addr;
    let failed = |source| Error::Connect {
        addr: addr.to_owned(),
        source,
    };
    let connect_timeout = cli.timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let mut endpoint = Endpoint::from_shared(addr.to_owned())
        .map_err(failed)?
        .connect_timeout(connect_timeout);
    if cli.is_tls() {
        let tls = tls::client_config(&cli.security, connect_timeout)?;
        // Building the TLS connector parses the certificates and the key.
        endpoint = endpoint.tls_config(tls).map_err(|e| {
            Error::Config(format!(
                "the TLS settings were refused: {}",
                error::chain(&e)
            ))
        })?;
    }
    endpoint.connect().await.map_err(failed)
}

/// What every call carries besides its message: the deadline and the API key.
#[derive(Debug, Clone)]
struct CallOptions {
    timeout: Option<Duration>,
    authorization: Option<MetadataValue<Ascii>>,
}

impl CallOptions {
    fn new(cli: &Cli) -> Result<Self, Error> {
        let authorization = match &cli.security.api_key {
            None => None,
            Some(key) => {
                let mut value = MetadataValue::try_from(format!("Bearer {}", key.expose()))
                    .map_err(|_| {
                        Error::Config(
                            "the API key cannot be sent as gRPC metadata; \
                             use printable ASCII without spaces"
                                .to_owned(),
                        )
                    })?;
                // Kept out of HPACK's dynamic table and printed as "Sensitive".
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(CallOptions {
            timeout: cli.timeout,
            authorization,
        })
    }

    /// A request carrying the deadline, which tonic sends as `grpc-timeout`,
    /// and `authorization: Bearer KEY` when there is a key.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(d) = self.timeout {
            request.set_timeout(d);
        }
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }
}

/// Runs `call`, giving up [`CLIENT_DEADLINE_GRACE`] after the deadline.
async fn within<T>(
    timeout: Option<Duration>,
    call: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match timeout {
        None => call.await,
        Some(d) => tokio::time::timeout(d + CLIENT_DEADLINE_GRACE, call)
            .await
            .unwrap_or(Err(Error::ClientDeadline(d))),
    }
}

fn print_json(out: &mut impl Write, value: &render::Json) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    out.flush()
}

async fn generate(
    channel: Channel,
    call: CallOptions,
    args: GenerateArgs,
) -> Result<ExitCode, Error> {
    let message = request::generate_request(&args.request);
    let response = TextGenerationServiceClient::new(channel)
        .generate(call.request(message))
        .await?
        .into_inner();
    let mut out = io::stdout().lock();
    if args.json {
        print_json(&mut out, &render::generate_response_json(&response))?;
    } else {
        out.write_all(render::text_line(&response.text).as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn stream(channel: Channel, call: CallOptions, args: StreamArgs) -> Result<ExitCode, Error> {
    use pb::generate_stream_response::Event;
    let message = request::generate_stream_request(&args.request);
    let mut events = TextGenerationServiceClient::new(channel)
        .generate_stream(call.request(message))
        .await?
        .into_inner();
    let mut out = io::stdout().lock();
    // Whether the text printed so far ends a line, so that the output ends
    // exactly as `generate`'s does, also when the stream fails midway.
    let mut at_line_start = true;
    let mut complete = None;
    // Read to the end rather than stopping at `complete`, so the call's
    // final status (in the trailers) is seen too.
    let outcome = loop {
        match events.message().await {
            Ok(Some(event)) => {
                if args.json {
                    serde_json::to_writer(&mut out, &render::stream_event_json(&event))
                        .map_err(io::Error::from)?;
                    writeln!(out)?;
                    out.flush()?;
                }
                match event.event {
                    Some(Event::Delta(delta)) if !args.json && !delta.text.is_empty() => {
                        out.write_all(delta.text.as_bytes())?;
                        // Flushed per delta: the point of streaming is to see it arrive.
                        out.flush()?;
                        at_line_start = delta.text.ends_with('\n');
                    }
                    Some(Event::Complete(c)) => complete = Some(c),
                    // Deltas in --json mode, empty deltas and events this
                    // client does not know need nothing more.
                    _ => {}
                }
            }
            Ok(None) => break Ok(()),
            Err(status) => break Err(Error::Status(status)),
        }
    };
    if !at_line_start {
        out.write_all(b"\n")?;
        out.flush()?;
    }
    outcome?;
    let complete = complete.ok_or_else(|| {
        Error::Protocol("the stream ended without its final `complete` event".to_owned())
    })?;
    if !args.json {
        eprintln!("{}", render::completion_summary(&complete));
    }
    Ok(ExitCode::SUCCESS)
}

async fn models(channel: Channel, call: CallOptions, args: ModelsArgs) -> Result<ExitCode, Error> {
    let message = request::list_models_request(&args);
    let response = TextGenerationServiceClient::new(channel)
        .list_models(call.request(message))
        .await?
        .into_inner();
    let mut out = io::stdout().lock();
    if args.json {
        print_json(&mut out, &render::list_models_json(&response))?;
    } else {
        out.write_all(render::models_table(&response.models).as_bytes())?;
        out.flush()?;
        if response.models.is_empty() {
            eprintln!("no models match the filters");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn model(channel: Channel, call: CallOptions, args: ModelArgs) -> Result<ExitCode, Error> {
    let message = pb::GetModelRequest { model_id: args.id };
    let response = TextGenerationServiceClient::new(channel)
        .get_model(call.request(message))
        .await?
        .into_inner();
    let mut out = io::stdout().lock();
    if args.json {
        print_json(&mut out, &render::get_model_json(&response))?;
    } else {
        let model = response
            .model
            .ok_or_else(|| Error::Protocol("GetModel answered without a model".to_owned()))?;
        out.write_all(render::model_details(&model).as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn health(channel: Channel, call: CallOptions, args: HealthArgs) -> Result<ExitCode, Error> {
    let message = HealthCheckRequest {
        service: args.service,
    };
    let response = HealthClient::new(channel)
        .check(call.request(message))
        .await?
        .into_inner();
    let status = ServingStatus::try_from(response.status);
    let name = match status {
        Ok(s) => s.as_str_name().to_owned(),
        Err(_) => format!("UNKNOWN_STATUS({})", response.status),
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{name}")?;
    out.flush()?;
    Ok(if status == Ok(ServingStatus::Serving) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
