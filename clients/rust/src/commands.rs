//! Running a parsed command line: connect, make one call, print, and choose
//! the exit code (0 success, 1 any failure after parsing; clap owns 2).

use crate::cli::{
    Cli, Command, CountTokensArgs, GenerateArgs, HealthArgs, ModelArgs, ModelsArgs, StreamArgs,
    UsageArgs,
};
use crate::error::Error;
use crate::pb::{
    self, admin_service_client::AdminServiceClient,
    text_generation_service_client::TextGenerationServiceClient,
};
use crate::{conversation, error, render, request, tls};
use std::future::Future;
use std::io::{self, IsTerminal as _, Write};
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
        Command::CountTokens(args) => within(timeout, count_tokens(channel, call, args)).await,
        Command::Models(args) => within(timeout, models(channel, call, args)).await,
        Command::Model(args) => within(timeout, model(channel, call, args)).await,
        Command::Health(args) => within(timeout, health(channel, call, args)).await,
        Command::Usage(args) => within(timeout, usage(channel, call, args)).await,
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
    let sent = request::sent_turns(&message.prompt, &message.messages);
    let response = TextGenerationServiceClient::new(channel)
        .generate(call.request(message))
        .await?
        .into_inner();
    let terminal = io::stdout().is_terminal();
    let mut out = io::stdout().lock();
    if args.json {
        print_json(&mut out, &render::generate_response_json(&response))?;
    } else {
        // Reasoning first, as the model produced it.
        out.write_all(render::reasoning_section(&response.content, terminal).as_bytes())?;
        let calls = render::tool_call_lines(&response.content);
        // An answer that is only tool calls prints no empty line before them.
        if !response.text.is_empty() || calls.is_empty() {
            out.write_all(render::text_line(&response.text).as_bytes())?;
        }
        out.write_all(calls.as_bytes())?;
        out.flush()?;
        if let Some(line) = render::response_summary(&response) {
            eprintln!("{line}");
        }
        if let Some(trace) = &response.guardrail_trace {
            eprintln!("{}", render::guardrail_trace_text(trace));
        }
    }
    if let Some(path) = &args.request.save {
        let answer = if response.content.is_empty() {
            pb::Message {
                role: pb::Role::Assistant as i32,
                content: response.text,
                blocks: Vec::new(),
            }
        } else {
            pb::Message {
                role: pb::Role::Assistant as i32,
                content: String::new(),
                blocks: response.content,
            }
        };
        save(path, sent, answer)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the conversation of `--save`: the turns sent, then the answer.
fn save(
    path: &std::path::Path,
    mut turns: Vec<pb::Message>,
    answer: pb::Message,
) -> Result<(), Error> {
    turns.push(answer);
    conversation::save(path, &turns).map_err(|e| {
        Error::Config(format!(
            "the answer came, but --save cannot write `{}`: {e}",
            path.display()
        ))
    })
}

/// What a stream said, block by block, for printing tool calls and `--save`.
#[derive(Debug, Default)]
struct Answer {
    /// Text blocks: (index, text so far).
    texts: Vec<(u32, String)>,
    /// Tool calls: (index, id, name, input fragments so far).
    calls: Vec<(u32, String, String, String)>,
    /// Reasoning blocks, as their deltas built them: the text so far, the
    /// signature (which may arrive alone, in its own delta) and redacted bytes.
    reasonings: Vec<(u32, pb::Reasoning)>,
}

impl Answer {
    /// Adds a reasoning delta to its block: text is appended; a signature
    /// or redacted bytes are kept as they came (a signature-only delta is
    /// never dropped).
    fn reasoning(&mut self, delta: &pb::ReasoningDelta) {
        let index = delta.index;
        let block = match self.reasonings.iter_mut().rev().find(|(i, _)| *i == index) {
            Some((_, r)) => r,
            None => {
                self.reasonings.push((index, pb::Reasoning::default()));
                &mut self.reasonings.last_mut().expect("just pushed").1
            }
        };
        block.text.push_str(&delta.text);
        block.signature.push_str(&delta.signature);
        block.redacted.extend_from_slice(&delta.redacted);
    }

    fn text(&mut self, index: u32, text: &str) {
        match self.texts.iter_mut().rev().find(|(i, _)| *i == index) {
            Some((_, t)) => t.push_str(text),
            None => self.texts.push((index, text.to_owned())),
        }
    }

    fn start(&mut self, start: pb::ToolUseStart) {
        self.calls
            .push((start.index, start.id, start.name, String::new()));
    }

    fn fragment(&mut self, delta: &pb::ToolUseDelta) {
        if let Some(call) = self.calls.iter_mut().rev().find(|c| c.0 == delta.index) {
            call.3.push_str(&delta.input_json);
        }
    }

    /// Adds the complete event's calls that no start event announced.
    fn complete(&mut self, complete: &pb::GenerationComplete) {
        for t in &complete.tool_uses {
            if !self.calls.iter().any(|c| c.1 == t.id) {
                let input = render::tool_input(t).to_string();
                self.calls
                    .push((u32::MAX, t.id.clone(), t.name.clone(), input));
            }
        }
    }

    /// The tool calls as lines, input as compact JSON.
    fn call_lines(&self) -> String {
        self.calls
            .iter()
            .map(|(_, id, name, fragments)| {
                render::tool_call_line(name, id, &render::assembled_input(fragments))
            })
            .collect()
    }

    /// The answer as an assistant turn, blocks in index order; a call's input
    /// is the complete event's parsed one when it has it.
    fn turn(self, complete: &pb::GenerationComplete) -> pb::Message {
        use pb::content_block::Block;
        let mut blocks: Vec<(u32, Block)> = self
            .reasonings
            .into_iter()
            .map(|(i, r)| (i, Block::Reasoning(r)))
            .collect();
        blocks.extend(
            self.texts
                .into_iter()
                .filter(|(_, t)| !t.is_empty())
                .map(|(i, t)| (i, Block::Text(t))),
        );
        for (index, id, name, fragments) in self.calls {
            let input = complete
                .tool_uses
                .iter()
                .find(|t| t.id == id)
                .and_then(|t| t.input.clone())
                .or_else(|| match serde_json::from_str(&fragments) {
                    Ok(serde_json::Value::Object(map)) => {
                        Some(request::json_object_to_struct(&map))
                    }
                    _ => None,
                });
            blocks.push((index, Block::ToolUse(pb::ToolUse { id, name, input })));
        }
        blocks.sort_by_key(|(i, _)| *i);
        pb::Message {
            role: pb::Role::Assistant as i32,
            content: String::new(),
            blocks: blocks
                .into_iter()
                .map(|(_, b)| pb::ContentBlock { block: Some(b) })
                .collect(),
        }
    }
}

async fn stream(channel: Channel, call: CallOptions, args: StreamArgs) -> Result<ExitCode, Error> {
    use pb::generate_stream_response::Event;
    let message = request::generate_stream_request(&args.request, args.guardrail_stream_mode);
    let sent = request::sent_turns(&message.prompt, &message.messages);
    let mut events = TextGenerationServiceClient::new(channel)
        .generate_stream(call.request(message))
        .await?
        .into_inner();
    let mut out = io::stdout().lock();
    // Whether the text printed so far ends a line, so that the output ends
    // exactly as `generate`'s does, also when the stream fails midway.
    let mut at_line_start = true;
    let mut complete = None;
    let mut answer = Answer::default();
    let terminal = io::stdout().is_terminal();
    // The reasoning block being printed, if the last text printed was reasoning.
    let mut reasoning_shown: Option<u32> = None;
    let mut any_reasoning_shown = false;
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
                    Some(Event::ReasoningDelta(delta)) => {
                        answer.reasoning(&delta);
                        // A signature-only delta is kept (above), not printed.
                        let shown = if !delta.text.is_empty() {
                            delta.text.clone()
                        } else if !delta.redacted.is_empty() {
                            render::redacted_reasoning_line(delta.redacted.len()) + "\n"
                        } else {
                            String::new()
                        };
                        if !args.json && !shown.is_empty() {
                            let mut piece = String::new();
                            if !any_reasoning_shown && !terminal {
                                piece.push_str("Reasoning:\n");
                            } else if reasoning_shown.is_some_and(|i| i != delta.index) {
                                // The next reasoning block: a blank line between.
                                piece.push_str(if at_line_start { "\n" } else { "\n\n" });
                            }
                            if terminal {
                                piece.push_str(render::DIM);
                                piece.push_str(&shown);
                                piece.push_str(render::RESET);
                            } else {
                                piece.push_str(&shown);
                            }
                            out.write_all(piece.as_bytes())?;
                            out.flush()?;
                            at_line_start = shown.ends_with('\n');
                            reasoning_shown = Some(delta.index);
                            any_reasoning_shown = true;
                        }
                    }
                    Some(Event::Delta(delta)) => {
                        answer.text(delta.index, &delta.text);
                        if !args.json && !delta.text.is_empty() {
                            if reasoning_shown.take().is_some() {
                                // The reasoning ends: as `generate` prints it.
                                let mut gap =
                                    String::from(if at_line_start { "\n" } else { "\n\n" });
                                if !terminal {
                                    gap.push_str("Answer:\n");
                                }
                                out.write_all(gap.as_bytes())?;
                            }
                            out.write_all(delta.text.as_bytes())?;
                            // Flushed per delta: the point of streaming is to see it arrive.
                            out.flush()?;
                            at_line_start = delta.text.ends_with('\n');
                        }
                    }
                    Some(Event::ToolUseStart(start)) => answer.start(start),
                    Some(Event::ToolUseDelta(delta)) => answer.fragment(&delta),
                    Some(Event::Complete(c)) => complete = Some(c),
                    // An event this client does not know needs nothing more.
                    None => {}
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
    answer.complete(&complete);
    if !args.json {
        // The calls, once each is whole.
        out.write_all(answer.call_lines().as_bytes())?;
        out.flush()?;
        eprintln!("{}", render::completion_summary(&complete));
        if let Some(trace) = &complete.guardrail_trace {
            eprintln!("{}", render::guardrail_trace_text(trace));
        }
    }
    if let Some(path) = &args.request.save {
        save(path, sent, answer.turn(&complete))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn count_tokens(
    channel: Channel,
    call: CallOptions,
    args: CountTokensArgs,
) -> Result<ExitCode, Error> {
    let message = request::count_tokens_request(&args.input);
    let response = TextGenerationServiceClient::new(channel)
        .count_tokens(call.request(message))
        .await?
        .into_inner();
    let mut out = io::stdout().lock();
    if args.json {
        print_json(&mut out, &render::count_tokens_json(&response))?;
    } else {
        writeln!(out, "{}", response.input_tokens)?;
        out.flush()?;
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

async fn usage(channel: Channel, call: CallOptions, args: UsageArgs) -> Result<ExitCode, Error> {
    let message = pb::GetUsageRequest {
        key_name: args.key_name,
    };
    let response = AdminServiceClient::new(channel)
        .get_usage(call.request(message))
        .await?
        .into_inner();
    let mut out = io::stdout().lock();
    if args.json {
        print_json(&mut out, &render::get_usage_json(&response))?;
    } else {
        out.write_all(render::get_usage_text(&response).as_bytes())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use pb::content_block::Block;

    fn start(index: u32, id: &str, name: &str) -> pb::ToolUseStart {
        pb::ToolUseStart {
            index,
            id: id.into(),
            name: name.into(),
        }
    }

    fn fragment(index: u32, json: &str) -> pb::ToolUseDelta {
        pb::ToolUseDelta {
            index,
            input_json: json.into(),
        }
    }

    #[test]
    fn a_streamed_answer_is_assembled_block_by_block() {
        let mut a = Answer::default();
        a.text(0, "I will call ");
        a.text(0, "get_weather.");
        a.start(start(1, "t1", "get_weather"));
        a.fragment(&fragment(1, r#"{"city": "#));
        a.fragment(&fragment(1, r#""Paris"}"#));
        a.start(start(2, "t2", "now"));
        let complete = pb::GenerationComplete {
            tool_uses: vec![pb::ToolUse {
                id: "t1".into(),
                name: "get_weather".into(),
                input: Some(request::json_object_to_struct(
                    serde_json::json!({"city": "Paris"}).as_object().unwrap(),
                )),
            }],
            ..Default::default()
        };
        a.complete(&complete);
        assert_eq!(
            a.call_lines(),
            "tool call get_weather (t1): {\"city\":\"Paris\"}\ntool call now (t2): {}\n"
        );
        let turn = a.turn(&complete);
        assert_eq!(turn.role, pb::Role::Assistant as i32);
        assert_eq!(turn.blocks.len(), 3);
        assert_eq!(
            turn.blocks[0].block,
            Some(Block::Text("I will call get_weather.".into()))
        );
        match (&turn.blocks[1].block, &turn.blocks[2].block) {
            (Some(Block::ToolUse(a)), Some(Block::ToolUse(b))) => {
                assert_eq!(a.input, complete.tool_uses[0].input);
                assert_eq!((b.id.as_str(), b.input.is_none()), ("t2", true));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn streamed_reasoning_keeps_a_signature_that_arrives_alone() {
        let delta = |index, text: &str, signature: &str, redacted: &[u8]| pb::ReasoningDelta {
            index,
            text: text.into(),
            signature: signature.into(),
            redacted: redacted.to_vec(),
        };
        let mut a = Answer::default();
        a.reasoning(&delta(0, "Let me ", "", b""));
        a.reasoning(&delta(0, "think.", "", b""));
        a.reasoning(&delta(0, "", "sig-0", b""));
        a.reasoning(&delta(1, "", "", b"\x00opaque"));
        a.text(2, "Answer.");
        let turn = a.turn(&pb::GenerationComplete::default());
        assert_eq!(
            turn.blocks,
            [
                pb::ContentBlock {
                    block: Some(Block::Reasoning(pb::Reasoning {
                        text: "Let me think.".into(),
                        signature: "sig-0".into(),
                        redacted: vec![],
                    })),
                },
                pb::ContentBlock {
                    block: Some(Block::Reasoning(pb::Reasoning {
                        redacted: b"\x00opaque".to_vec(),
                        ..Default::default()
                    })),
                },
                pb::ContentBlock {
                    block: Some(Block::Text("Answer.".into())),
                },
            ]
        );
    }

    #[test]
    fn calls_only_the_complete_event_names_are_still_shown() {
        let mut a = Answer::default();
        a.start(start(0, "t1", "f"));
        a.fragment(&fragment(0, "not json"));
        let complete = pb::GenerationComplete {
            tool_uses: vec![pb::ToolUse {
                id: "t9".into(),
                name: "g".into(),
                input: None,
            }],
            ..Default::default()
        };
        a.complete(&complete);
        assert_eq!(
            a.call_lines(),
            "tool call f (t1): not json\ntool call g (t9): {}\n"
        );
        let turn = a.turn(&complete);
        assert_eq!(turn.blocks.len(), 2);
    }
}
