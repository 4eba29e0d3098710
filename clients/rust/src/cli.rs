//! The command line: global flags and one subcommand per RPC.
//!
//! Everything a user can get wrong in the syntax is checked here, by clap's
//! value parsers, so that it is reported as a usage error (exit code 2)
//! before any connection is made. Whether the values make sense (a
//! temperature of 1.5, an empty message) is the gateway's call: it answers
//! INVALID_ARGUMENT with field violations, and the client must not second-guess
//! rules that the server owns.

use crate::content::{self, FileArg, ToolResultArg};
use crate::conversation::{self, ConversationArg};
use crate::tools::{self, SchemaArg, ToolChoiceArg, ToolsArg};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// The gateway address used when neither `--addr` nor `BEDROCK_CLIENT_ADDR` is set.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";

/// The model used when `--model` is not given.
pub const DEFAULT_MODEL: &str = "amazon.titan-text-express-v1";

/// A command-line client for the bedrock-gateway gRPC service.
#[derive(Debug, Parser)]
#[command(name = "bedrock-client", version, about, propagate_version = true)]
pub struct Cli {
    /// The gateway's address: http://HOST:PORT for plaintext, or
    /// https://HOST:PORT for TLS (which needs --ca-cert; see below).
    #[arg(
        long,
        global = true,
        env = "BEDROCK_CLIENT_ADDR",
        default_value = DEFAULT_ADDR,
        value_name = "URL",
        value_parser = parse_addr
    )]
    pub addr: String,

    /// Deadline for the call, e.g. `30s`, `500ms`, `2m`; sent as the gRPC
    /// deadline (grpc-timeout). Without it the call may take as long as it needs.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// TLS and API key settings.
    #[command(flatten)]
    pub security: SecurityArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How the client proves who it is and checks who it talks to. These flags
/// are global, so they may come before or after the subcommand.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "TLS and authentication")]
pub struct SecurityArgs {
    /// TLS: the CA certificate (PEM) to trust for the gateway's certificate.
    /// Required for https:// addresses: this build has no built-in trust roots.
    #[arg(
        long,
        global = true,
        env = "BEDROCK_CLIENT_CA_CERT",
        value_name = "PATH"
    )]
    pub ca_cert: Option<PathBuf>,

    /// mTLS: the client certificate chain (PEM) to present; needs --client-key.
    #[arg(
        long,
        global = true,
        env = "BEDROCK_CLIENT_CLIENT_CERT",
        value_name = "PATH",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,

    /// mTLS: the private key (PEM) of --client-cert.
    #[arg(
        long,
        global = true,
        env = "BEDROCK_CLIENT_CLIENT_KEY",
        value_name = "PATH",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,

    /// TLS: the name to send as SNI and to verify the gateway's certificate
    /// against, instead of the host in --addr (e.g. when connecting by IP).
    #[arg(
        long,
        global = true,
        env = "BEDROCK_CLIENT_TLS_SERVER_NAME",
        value_name = "NAME"
    )]
    pub tls_server_name: Option<String>,

    /// An API key, sent as `authorization: Bearer KEY` on every call (health
    /// included). Prefer the environment variable: a flag shows in `ps`.
    #[arg(
        long,
        global = true,
        env = "BEDROCK_CLIENT_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<ApiKey>,
}

/// An API key. Its Debug output is redacted, so printing the parsed command
/// line never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

// Parsing never fails, so clap never echoes a key in an error message; the
// key is checked by [`Cli::check`], whose messages leave it out.
impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        ApiKey(key)
    }
}

impl Cli {
    /// Whether the address asks for TLS.
    pub fn is_tls(&self) -> bool {
        self.addr
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }

    /// The checks clap cannot express: TLS flags only with https://, a CA
    /// for https:// when there are no built-in roots, and a usable API key.
    /// The message is a usage error; it never contains the key.
    pub fn check(&self) -> Result<(), String> {
        let s = &self.security;
        if let Some(key) = &s.api_key {
            let key = key.expose();
            if key.is_empty() {
                return Err("the API key (--api-key or BEDROCK_CLIENT_API_KEY) is empty".into());
            }
            if !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err("the API key (--api-key or BEDROCK_CLIENT_API_KEY) must be \
                            printable ASCII without spaces"
                    .into());
            }
        }
        if self.is_tls() {
            if s.ca_cert.is_none() && !crate::tls::built_in_roots_available() {
                return Err(format!(
                    "the https:// address {} needs --ca-cert PATH (or BEDROCK_CLIENT_CA_CERT): \
                     this build of bedrock-client has no built-in trust roots (tonic is \
                     compiled without tls-native-roots or tls-webpki-roots), so name the CA \
                     that signed the gateway's certificate",
                    self.addr
                ));
            }
        } else {
            let given = [
                (s.ca_cert.is_some(), "--ca-cert (BEDROCK_CLIENT_CA_CERT)"),
                (
                    s.client_cert.is_some(),
                    "--client-cert (BEDROCK_CLIENT_CLIENT_CERT)",
                ),
                (
                    s.client_key.is_some(),
                    "--client-key (BEDROCK_CLIENT_CLIENT_KEY)",
                ),
                (
                    s.tls_server_name.is_some(),
                    "--tls-server-name (BEDROCK_CLIENT_TLS_SERVER_NAME)",
                ),
            ];
            if let Some((_, flag)) = given.iter().find(|(set, _)| *set) {
                return Err(format!(
                    "{flag} is a TLS setting, but {} is a plaintext address; \
                     use https:// to connect with TLS",
                    self.addr
                ));
            }
        }
        Ok(())
    }
}

/// The end of `generate --help` and `stream --help`: files, tool calls and
/// a tool round trip from the shell.
pub const CONTENT_HELP: &str = r#"Output: the answer's text, then each tool call on its own line as
  tool call NAME (ID): INPUT_JSON
(stream prints the text as it comes and the calls once assembled). --json
prints the response with its content blocks (stream: one event per line);
the bytes of images and documents are never printed.

Images and documents go into the last user turn before its text: images
first, then documents, each in the order given.

A tool round trip from the shell:
  1. Offer tools and save the conversation:
       bedrock-client generate --model anthropic.claude-3-haiku-20240307-v1:0 \
         --tools tools.json --save chat.json "What is the weather in Paris?"
     which prints, for example (--tool-choice any makes a call certain),
       tool call get_weather (tooluse_kZJMlvQmRJ6eAyJE5GIl7Q): {"city":"Paris"}
  2. Run the tool yourself; send its result with the saved conversation:
       bedrock-client generate --model anthropic.claude-3-haiku-20240307-v1:0 \
         --tools tools.json --messages chat.json \
         --tool-result 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q={"temperature_c": 21}'
     and the model answers in text. Add --save chat.json to keep going.
  tools.json holds, for example:
    [{"name": "get_weather", "description": "Current weather in a city",
      "input_schema": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}}]"#;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate text and print it when it is complete.
    #[command(after_help = CONTENT_HELP)]
    Generate(GenerateArgs),
    /// Generate text and print it as it is produced.
    #[command(after_help = CONTENT_HELP)]
    Stream(StreamArgs),
    /// Count the input tokens a generate call with the same input would be
    /// charged, without generating (models with token counting only).
    CountTokens(CountTokensArgs),
    /// List the models the gateway can see.
    Models(ModelsArgs),
    /// Show one model's details.
    Model(ModelArgs),
    /// Check the gateway's health (grpc.health.v1); exits 0 only if SERVING.
    Health(HealthArgs),
    /// Show an API key's limits, what it has used and what is left
    /// (AdminService.GetUsage; needs --api-key of a key marked `admin = true`
    /// in the gateway's keys file).
    #[command(after_help = USAGE_HELP)]
    Usage(UsageArgs),
}

/// The end of `usage --help`: what the lines mean.
pub const USAGE_HELP: &str = r#"Output, for example:
  key: search
  limits store: redis
  requests per minute: 598 of 600 available
  tokens per minute: 99120 of 100000 available
  tokens today (UTC): 1200 used of 5000000, 4998800 left; renews at 2026-11-27T00:00:00Z
  tokens this month (UTC): 86000 used of 100000000, 99914000 left; renews at 2026-12-01T00:00:00Z
A limit of 0 in the answer prints as "no limit" (token spend is still
counted). The limits store is `redis` (shared by the fleet), `local` (this
replica only) or `local (fallback)` while Redis is not answering. --json
prints the answer with its field names (period_start and renews_at as
RFC 3339)."#;

/// `generate`: one whole completion.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[command(flatten)]
    pub request: RequestArgs,

    /// Print the whole response as JSON instead of just the text.
    #[arg(long)]
    pub json: bool,
}

/// `stream`: a completion printed piece by piece.
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// What to generate.
    #[command(flatten)]
    pub request: RequestArgs,

    /// Print every stream event as one line of JSON instead of the text.
    #[arg(long)]
    pub json: bool,

    /// How the guardrail checks the stream: sync (each chunk before it is
    /// sent; Bedrock's default) or async (alongside, so some text may arrive
    /// before an intervention).
    #[arg(
        long,
        value_enum,
        requires = "guardrail",
        help_heading = "Reasoning, caching and routing"
    )]
    pub guardrail_stream_mode: Option<GuardrailStreamModeArg>,
}

/// What a model is asked about: the flags `generate`, `stream` and
/// `count-tokens` share (the input of GenerateRequest, GenerateStreamRequest
/// and CountTokensRequest).
#[derive(Debug, Clone, Args)]
#[command(group(
    ArgGroup::new("input")
        .required(true)
        .multiple(true)
        .args(["prompt", "prompt_flag", "messages", "conversation"])
))]
#[command(group(
    ArgGroup::new("history")
        .multiple(true)
        .args(["messages", "conversation"])
))]
pub struct InputArgs {
    /// The model, inference profile or ARN to invoke.
    #[arg(long, default_value = DEFAULT_MODEL, value_name = "MODEL_ID")]
    pub model: String,

    /// The prompt: one user turn (or use --prompt, --message or --messages).
    /// After --messages FILE it is the next user turn.
    #[arg(value_name = "PROMPT", conflicts_with_all = ["prompt_flag", "messages"])]
    pub prompt: Option<String>,

    /// The prompt, as a flag.
    #[arg(
        long = "prompt",
        id = "prompt_flag",
        value_name = "PROMPT",
        conflicts_with = "messages"
    )]
    pub prompt_flag: Option<String>,

    /// A conversation turn as ROLE:TEXT, ROLE being user or assistant;
    /// repeat in order, ending with a user turn. Replaces the prompt.
    #[arg(
        long = "message",
        value_name = "ROLE:TEXT",
        value_parser = parse_message,
        help_heading = "Conversation"
    )]
    pub messages: Vec<MessageArg>,

    /// A conversation from a JSON file (`-` reads stdin), as --save writes
    /// it: [{"role": "user", "content": "..."}, {"role": "assistant",
    /// "blocks": [...]}, ...]. A PROMPT, files and --tool-result values after
    /// it make the next user turn (or join its last turn if that is a user
    /// turn and there is no PROMPT).
    #[arg(
        long = "messages",
        id = "conversation",
        value_name = "FILE",
        value_parser = conversation::parse_conversation_file,
        conflicts_with = "messages",
        help_heading = "Conversation"
    )]
    pub conversation: Option<ConversationArg>,

    /// The result of a tool call, for the user turn after the model's call:
    /// ID is the call's id, JSON_OR_TEXT a JSON object (sent as JSON) or any
    /// other text (sent as text). Repeat for several calls. Needs the
    /// conversation holding the call (--messages FILE, see --save).
    #[arg(
        long = "tool-result",
        value_name = "ID=JSON_OR_TEXT",
        value_parser = content::parse_tool_result,
        requires = "history",
        help_heading = "Conversation"
    )]
    pub tool_results: Vec<ToolResultArg>,

    /// An image for the model, sent in the last user turn before its text;
    /// repeat for several. Format by extension: png, jpg, jpeg, gif, webp.
    /// Needs a model with IMAGE input (`bedrock-client models`).
    #[arg(
        long = "image",
        value_name = "PATH",
        value_parser = content::parse_image,
        help_heading = "Content"
    )]
    pub images: Vec<FileArg>,

    /// A document for the model, sent in the last user turn after the
    /// images; repeat for several. Format by extension: pdf, csv, doc, docx,
    /// xls, xlsx, html, htm, txt, md. Its name is the file stem, with
    /// characters Bedrock does not take replaced by `-`.
    #[arg(
        long = "document",
        value_name = "PATH",
        value_parser = content::parse_document,
        help_heading = "Content"
    )]
    pub documents: Vec<FileArg>,

    /// Tools the model may call: a JSON file holding an array of
    /// {"name": ..., "description": ..., "input_schema": {JSON Schema}}
    /// (Bedrock's {"toolSpec": {..., "inputSchema": {"json": ...}}} works too).
    #[arg(
        long,
        value_name = "FILE",
        value_parser = tools::parse_tools_file,
        help_heading = "Tools and structured output"
    )]
    pub tools: Option<ToolsArg>,

    /// How the model picks a tool: auto (it decides; the default), any (it
    /// must call one) or tool:NAME (it must call NAME).
    #[arg(
        long,
        value_name = "auto|any|tool:NAME",
        value_parser = tools::parse_tool_choice,
        requires = "tools",
        help_heading = "Tools and structured output"
    )]
    pub tool_choice: Option<ToolChoiceArg>,

    /// A system prompt framing the whole conversation.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
}

impl InputArgs {
    /// The prompt, from the positional argument or `--prompt`.
    pub fn prompt(&self) -> Option<&str> {
        self.prompt.as_deref().or(self.prompt_flag.as_deref())
    }
}

/// The request flags shared by `generate` and `stream`, which send the same
/// fields (GenerateRequest and GenerateStreamRequest are twins).
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// The model, the prompt or conversation, files, tools and system prompt.
    #[command(flatten)]
    pub input: InputArgs,

    /// After a successful call, write the conversation (the turns sent and
    /// the model's answer, tool calls included) to FILE as JSON, for
    /// --messages FILE. It may be the --messages file itself.
    #[arg(long, value_name = "FILE", help_heading = "Conversation")]
    pub save: Option<PathBuf>,

    /// Make the answer JSON that follows this JSON Schema (a file holding a
    /// JSON object). Needs a model with structured output.
    #[arg(
        long,
        value_name = "FILE",
        value_parser = tools::parse_schema_file,
        help_heading = "Tools and structured output"
    )]
    pub json_schema: Option<SchemaArg>,

    /// A name for --json-schema, shown to the model.
    #[arg(
        long,
        value_name = "NAME",
        requires = "json_schema",
        help_heading = "Tools and structured output"
    )]
    pub json_schema_name: Option<String>,

    /// Sampling temperature, in [0, 1]; 0 is (near-)deterministic.
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub temperature: Option<f32>,

    /// Nucleus sampling probability mass, in [0, 1].
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub top_p: Option<f32>,

    /// Most tokens to generate.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,

    /// A stop sequence; repeat for several.
    #[arg(long = "stop", value_name = "SEQUENCE")]
    pub stop: Vec<String>,

    /// A model-specific request field as KEY=JSON (a value that is not JSON is
    /// sent as a string); repeat for several. Builds
    /// additional_model_request_fields.
    #[arg(long = "field", value_name = "KEY=JSON", value_parser = parse_field)]
    pub fields: Vec<FieldArg>,

    /// Which Bedrock API carries the call (the gateway's default is converse).
    #[arg(long, value_enum)]
    pub api: Option<Api>,

    /// Let the model reason (extended thinking) with at most N tokens before
    /// it answers: at least 1024 and below --max-tokens (which it needs).
    /// Claude then takes no --top-p, and --temperature only 1. The reasoning
    /// prints before the answer (dimmed on a terminal, under a "Reasoning:"
    /// heading otherwise); --save keeps it, signature included, for replay.
    #[arg(
        long,
        value_name = "N",
        help_heading = "Reasoning, caching and routing"
    )]
    pub reasoning_budget: Option<u32>,

    /// Put a prompt-cache point after the system prompt (needs --system and a
    /// model with prompt caching): later calls with the same tools and system
    /// prompt read them from the cache.
    #[arg(
        long,
        requires = "system",
        help_heading = "Reasoning, caching and routing"
    )]
    pub cache_system: bool,

    /// Put a prompt-cache point after the tools (needs --tools).
    #[arg(
        long,
        requires = "tools",
        help_heading = "Reasoning, caching and routing"
    )]
    pub cache_tools: bool,

    /// The time to live of every cache point this command adds: 5m or 1h
    /// (1h only on models that offer it). Unset is Bedrock's default, 5 minutes.
    #[arg(
        long,
        value_enum,
        value_name = "5m|1h",
        help_heading = "Reasoning, caching and routing"
    )]
    pub cache_ttl: Option<CacheTtlArg>,

    /// Apply a Bedrock guardrail, as ID:VERSION (ID may be an ARN; VERSION is
    /// DRAFT or a number). An intervention ends the answer with
    /// STOP_REASON_GUARDRAIL_INTERVENED.
    #[arg(
        long,
        value_name = "ID:VERSION",
        value_parser = parse_guardrail,
        help_heading = "Reasoning, caching and routing"
    )]
    pub guardrail: Option<GuardrailArg>,

    /// Whether the answer carries the guardrail's trace (printed as JSON on
    /// stderr, or in --json): enabled, enabled-full or disabled.
    #[arg(
        long,
        value_enum,
        requires = "guardrail",
        help_heading = "Reasoning, caching and routing"
    )]
    pub guardrail_trace: Option<GuardrailTraceArg>,

    /// The service tier to ask for: default, priority, flex (or reserved,
    /// where offered). The tier served is shown with the usage.
    #[arg(long, value_enum, help_heading = "Reasoning, caching and routing")]
    pub service_tier: Option<ServiceTierArg>,

    /// The latency mode to ask for: standard or optimized (on models that
    /// offer it).
    #[arg(long, value_enum, help_heading = "Reasoning, caching and routing")]
    pub latency: Option<LatencyArg>,

    /// Request metadata recorded in Bedrock's invocation logs, as KEY=VALUE;
    /// repeat for several (at most 16).
    #[arg(
        long = "metadata",
        value_name = "KEY=VALUE",
        value_parser = parse_metadata,
        help_heading = "Reasoning, caching and routing"
    )]
    pub metadata: Vec<(String, String)>,
}

impl RequestArgs {
    /// The prompt, from the positional argument or `--prompt`.
    pub fn prompt(&self) -> Option<&str> {
        self.input.prompt()
    }
}

/// `count-tokens`: how many input tokens a request would be charged.
#[derive(Debug, Clone, Args)]
pub struct CountTokensArgs {
    /// What to count: the same input flags as `generate`.
    #[command(flatten)]
    pub input: InputArgs,

    /// Print `{"input_tokens": N}` instead of the number alone.
    #[arg(long)]
    pub json: bool,
}

/// The values of `--cache-ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheTtlArg {
    /// Five minutes, refreshed by each read.
    #[value(name = "5m")]
    FiveMinutes,
    /// One hour.
    #[value(name = "1h")]
    OneHour,
}

/// The values of `--guardrail-trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuardrailTraceArg {
    /// The trace of what the guardrail assessed and did.
    Enabled,
    /// The trace, including assessments that did not intervene.
    EnabledFull,
    /// No trace.
    Disabled,
}

/// The values of `--guardrail-stream-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuardrailStreamModeArg {
    /// Each chunk is checked before it is sent.
    Sync,
    /// Chunks are sent at once and checked alongside.
    Async,
}

/// The values of `--service-tier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceTierArg {
    /// The standard tier.
    Default,
    /// Served ahead of other traffic, at a higher price.
    Priority,
    /// Served when capacity allows, at a lower price.
    Flex,
    /// Served on capacity reserved for the account (models that offer it).
    Reserved,
}

/// The values of `--latency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatencyArg {
    /// Standard inference.
    Standard,
    /// Latency-optimized inference.
    Optimized,
}

/// One `--guardrail ID:VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailArg {
    /// The guardrail's ID or ARN.
    pub identifier: String,
    /// Its version: DRAFT or a number.
    pub version: String,
}

/// The Bedrock API choices of `--api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Api {
    /// Converse / ConverseStream.
    Converse,
    /// InvokeModel / InvokeModelWithResponseStream with the model's own body.
    InvokeModel,
}

/// A speaker of `--message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller's turn.
    User,
    /// The model's earlier turn.
    Assistant,
}

/// One `--message ROLE:TEXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageArg {
    /// Who spoke.
    pub role: Role,
    /// What was said; may itself contain colons.
    pub text: String,
}

/// One `--field KEY=JSON`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldArg {
    /// The top-level key in additional_model_request_fields.
    pub key: String,
    /// The value: parsed JSON, or the raw text as a JSON string.
    pub value: serde_json::Value,
}

/// `models`: the catalogue, filtered. Filters match ignoring case; unset
/// filters match everything.
#[derive(Debug, Clone, Args)]
pub struct ModelsArgs {
    /// Only this provider, e.g. Amazon, Anthropic, Meta, "Mistral AI".
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,

    /// Only models with this output modality: TEXT, IMAGE or EMBEDDING.
    #[arg(long, value_name = "MODALITY")]
    pub output_modality: Option<String>,

    /// Only models with this inference type: ON_DEMAND, PROVISIONED or INFERENCE_PROFILE.
    #[arg(long, value_name = "TYPE")]
    pub inference_type: Option<String>,

    /// Only models whose response streaming support is this.
    #[arg(long, value_name = "true|false")]
    pub streaming: Option<bool>,

    /// Only models supporting this customization: FINE_TUNING,
    /// CONTINUED_PRE_TRAINING or DISTILLATION.
    #[arg(long, value_name = "TYPE")]
    pub customization: Option<String>,

    /// Print the response as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `model <id>`: one model's details.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// The model ID (or ARN), e.g. amazon.titan-text-express-v1.
    #[arg(value_name = "MODEL_ID")]
    pub id: String,

    /// Print the response as JSON instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
}

/// `usage`: one key's limits and spend, from the admin service.
#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    /// The key's name, as in the gateway's keys file (not the key itself).
    #[arg(long = "key", value_name = "NAME")]
    pub key_name: String,

    /// Print the response as JSON instead of lines of text.
    #[arg(long)]
    pub json: bool,
}

/// `health`: one grpc.health.v1 Check.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// The service to check. Empty (the default) is the server as a whole
    /// (liveness); bedrock.gateway.v1.TextGenerationService is readiness.
    #[arg(long, value_name = "NAME", default_value = "")]
    pub service: String,
}

/// Accepts `http://HOST:PORT` (or https) and nothing else, so a typo is a
/// usage error rather than a confusing connection failure.
fn parse_addr(s: &str) -> Result<String, String> {
    let uri: tonic::transport::Uri = s
        .parse()
        .map_err(|e| format!("`{s}` is not a URL like http://HOST:PORT: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(s.to_owned()),
        _ => Err(format!("`{s}` is not a URL like http://HOST:PORT")),
    }
}

/// A humantime duration; zero is refused because a zero deadline can only fail.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (try 30s or 500ms)"))?;
    if d.is_zero() {
        return Err("the timeout must be longer than zero".to_owned());
    }
    Ok(d)
}

/// `user:text` or `assistant:text`; the role ignores case, the text is kept
/// as given after the first colon.
pub fn parse_message(s: &str) -> Result<MessageArg, String> {
    let (role, text) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not ROLE:TEXT (ROLE is user or assistant)"))?;
    let role = if role.eq_ignore_ascii_case("user") {
        Role::User
    } else if role.eq_ignore_ascii_case("assistant") {
        Role::Assistant
    } else {
        return Err(format!("unknown role `{role}`: use user or assistant"));
    };
    Ok(MessageArg {
        role,
        text: text.to_owned(),
    })
}

/// `key=json`. The value is parsed as JSON when it is JSON and kept as a
/// string otherwise, so `--field top_k=50` sends a number and
/// `--field mode=fast` a string without shell-quoting gymnastics.
pub fn parse_field(s: &str) -> Result<FieldArg, String> {
    let (key, raw) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=JSON"))?;
    if key.is_empty() {
        return Err(format!("`{s}` has an empty key"));
    }
    let value =
        serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_owned()));
    Ok(FieldArg {
        key: key.to_owned(),
        value,
    })
}

/// `ID:VERSION`, split at the last colon (an ARN holds colons itself).
pub fn parse_guardrail(s: &str) -> Result<GuardrailArg, String> {
    let (identifier, version) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}` is not ID:VERSION (e.g. gr-abc123:1 or gr-abc123:DRAFT)"))?;
    if identifier.is_empty() || version.is_empty() {
        return Err(format!(
            "`{s}` is not ID:VERSION (e.g. gr-abc123:1 or gr-abc123:DRAFT)"
        ));
    }
    Ok(GuardrailArg {
        identifier: identifier.to_owned(),
        version: version.to_owned(),
    })
}

/// `KEY=VALUE`, split at the first `=`; the value may be empty. Whether the
/// characters and lengths suit Bedrock is the gateway's call.
pub fn parse_metadata(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn messages_split_at_the_first_colon() {
        let m = parse_message("Assistant:a: b").unwrap();
        assert_eq!(m.role, Role::Assistant);
        assert_eq!(m.text, "a: b");
        assert!(parse_message("system:x").is_err());
        assert!(parse_message("no colon").is_err());
    }

    #[test]
    fn fields_are_json_or_strings() {
        let f = parse_field("top_k=50").unwrap();
        assert_eq!((f.key.as_str(), f.value), ("top_k", serde_json::json!(50)));
        let f = parse_field("mode=fast=yes").unwrap();
        assert_eq!(f.value, serde_json::json!("fast=yes"));
        let f = parse_field(r#"sim={"latency_ms": 5}"#).unwrap();
        assert_eq!(f.value, serde_json::json!({"latency_ms": 5}));
        assert!(parse_field("novalue").is_err());
        assert!(parse_field("=1").is_err());
    }

    #[test]
    fn addresses_and_timeouts_are_checked() {
        assert!(parse_addr("http://127.0.0.1:50051").is_ok());
        assert!(parse_addr("127.0.0.1:50051").is_err());
        assert!(parse_addr("ftp://host:1").is_err());
        assert_eq!(
            parse_timeout("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn tls_flags_need_an_https_address_and_https_needs_a_ca() {
        let check = |args: &[&str]| {
            Cli::try_parse_from(["c"].iter().chain(args).chain(&["health"]))
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.check())
        };
        assert!(check(&[]).is_ok());
        let https = ["--addr", "https://127.0.0.1:1"];
        assert!(check(&[&https[..], &["--ca-cert", "ca.pem"]].concat()).is_ok());
        assert!(check(&["--addr", "HTTPS://127.0.0.1:1", "--ca-cert", "ca.pem"]).is_ok());
        if !crate::tls::built_in_roots_available() {
            let err = check(&https).unwrap_err();
            assert!(err.contains("needs --ca-cert"), "{err}");
        }
        for flag in ["--ca-cert", "--tls-server-name"] {
            let err = check(&[flag, "x"]).unwrap_err();
            assert!(err.starts_with(flag) && err.contains("plaintext"), "{err}");
        }
        let identity = ["--client-cert", "c.pem", "--client-key", "k.pem"];
        let err = check(&identity).unwrap_err();
        assert!(err.starts_with("--client-cert"), "{err}");
        assert!(check(&[&https[..], &["--ca-cert", "ca.pem"], &identity].concat()).is_ok());
        assert!(check(
            &[
                &https[..],
                &["--ca-cert", "ca.pem", "--client-key", "k.pem"]
            ]
            .concat()
        )
        .is_err());
    }

    #[test]
    fn api_keys_are_checked_and_never_shown() {
        let parse = |key: &str| Cli::try_parse_from(["c", "--api-key", key, "health"]).unwrap();
        let cli = parse("0123456789abcdef");
        assert!(cli.check().is_ok());
        assert_eq!(
            cli.security.api_key.as_ref().map(ApiKey::expose),
            Some("0123456789abcdef")
        );
        assert!(!format!("{cli:?}").contains("0123456789abcdef"));
        for bad in ["", "with space", "tab\there", "caf\u{e9}"] {
            let err = parse(bad).check().unwrap_err();
            assert!(err.starts_with("the API key"), "{err}");
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn content_flags_are_checked_when_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, data: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, data).unwrap();
            p.to_str().unwrap().to_owned()
        };
        let png = file("a.png", "\u{89}PNG");
        let bmp = file("scan.bmp", "BM");
        let tools = file(
            "tools.json",
            r#"[{"name": "f", "input_schema": {"type": "object"}}]"#,
        );
        let bad_tools = file("bad.json", r#"[{"name": "f"}]"#);
        let schema = file("schema.json", r#"{"type": "object"}"#);
        let chat = file("chat.json", r#"[{"role": "user", "content": "hi"}]"#);
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["c", "generate"].iter().chain(args)).map_err(|e| e.to_string())
        };
        assert!(parse(&["--image", &png, "--image", &png, "hi"]).is_ok());
        let err = parse(&["--image", &bmp, "hi"]).unwrap_err();
        assert!(
            err.contains("scan.bmp") && err.contains("png, jpg, jpeg, gif, webp"),
            "{err}"
        );
        let err = parse(&["--document", &png, "hi"]).unwrap_err();
        assert!(err.contains("a.png") && err.contains("--image"), "{err}");
        let err = parse(&["--image", "/nonexistent/x.png", "hi"]).unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
        assert!(parse(&["--tools", &tools, "--tool-choice", "any", "hi"]).is_ok());
        let err = parse(&["--tools", &bad_tools, "hi"]).unwrap_err();
        assert!(
            err.contains("bad.json") && err.contains("input_schema"),
            "{err}"
        );
        // Each flag that depends on another needs it.
        assert!(parse(&["--tool-choice", "any", "hi"]).is_err());
        assert!(parse(&["--tools", &tools, "--tool-choice", "some", "hi"]).is_err());
        assert!(parse(&["--json-schema", &schema, "--json-schema-name", "n", "hi"]).is_ok());
        assert!(parse(&["--json-schema-name", "n", "hi"]).is_err());
        assert!(parse(&["--tool-result", "t=1", "hi"]).is_err());
        assert!(parse(&["--messages", &chat, "--tool-result", "t=1"]).is_ok());
        assert!(parse(&["--message", "user:x", "--tool-result", "t=1"]).is_ok());
        assert!(parse(&["--messages", &chat, "--tool-result", "t"]).is_err());
        assert!(parse(&["--save", "out.json", "hi"]).is_ok());
        // --messages FILE may take a prompt (the next turn), --message may not.
        assert!(parse(&["--messages", &chat]).is_ok());
        assert!(parse(&["--messages", &chat, "more"]).is_ok());
        assert!(parse(&["--messages", &chat, "--prompt", "more"]).is_ok());
        assert!(parse(&["--messages", &chat, "--message", "user:x"]).is_err());
        assert!(parse(&["--messages", "/nonexistent/chat.json"]).is_err());
        // Files alone are not a request.
        assert!(parse(&["--image", &png]).is_err());
        // The same flags exist on stream.
        assert!(
            Cli::try_parse_from(["c", "stream", "--tools", &tools, "--image", &png, "hi"]).is_ok()
        );
    }

    #[test]
    fn new_request_flags_are_checked_when_parsed() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied()).map(|_| ());
        assert!(parse(&["c", "generate", "--reasoning-budget", "1024", "hi"]).is_ok());
        assert!(parse(&["c", "generate", "--reasoning-budget", "many", "hi"]).is_err());
        assert!(parse(&["c", "generate", "--system", "s", "--cache-system", "hi"]).is_ok());
        assert!(parse(&["c", "generate", "--cache-system", "hi"]).is_err());
        assert!(parse(&["c", "generate", "--cache-tools", "hi"]).is_err());
        assert!(parse(&["c", "generate", "--cache-ttl", "1h", "hi"]).is_ok());
        assert!(parse(&["c", "generate", "--cache-ttl", "2h", "hi"]).is_err());
        assert!(parse(&["c", "generate", "--guardrail", "gr-1:DRAFT", "hi"]).is_ok());
        assert!(parse(&["c", "generate", "--guardrail", "gr-1", "hi"]).is_err());
        assert!(parse(&["c", "generate", "--guardrail-trace", "enabled", "hi"]).is_err());
        assert!(parse(&[
            "c",
            "stream",
            "--guardrail",
            "g:1",
            "--guardrail-trace",
            "enabled-full",
            "--guardrail-stream-mode",
            "async",
            "hi"
        ])
        .is_ok());
        assert!(parse(&[
            "c",
            "generate",
            "--guardrail",
            "g:1",
            "--guardrail-stream-mode",
            "async",
            "hi"
        ])
        .is_err());
        assert!(parse(&["c", "stream", "--guardrail-stream-mode", "sync", "hi"]).is_err());
        assert!(parse(&[
            "c",
            "generate",
            "--service-tier",
            "flex",
            "--latency",
            "optimized",
            "hi"
        ])
        .is_ok());
        assert!(parse(&["c", "generate", "--service-tier", "cheap", "hi"]).is_err());
        assert!(parse(&[
            "c",
            "generate",
            "--metadata",
            "team=search",
            "--metadata",
            "x=",
            "hi"
        ])
        .is_ok());
        assert!(parse(&["c", "generate", "--metadata", "=x", "hi"]).is_err());
        assert!(parse(&["c", "count-tokens", "--system", "s", "hi"]).is_ok());
        assert!(parse(&["c", "count-tokens", "--json", "--message", "user:hi"]).is_ok());
        assert!(parse(&["c", "count-tokens"]).is_err());
        assert!(parse(&["c", "count-tokens", "--temperature", "0", "hi"]).is_err());
    }

    #[test]
    fn guardrails_split_at_the_last_colon() {
        let g = parse_guardrail("arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-1:3").unwrap();
        assert_eq!(
            (g.identifier.as_str(), g.version.as_str()),
            ("arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-1", "3")
        );
        assert!(parse_guardrail("gr-1:").is_err());
        assert!(parse_guardrail(":1").is_err());
        assert_eq!(
            parse_metadata("a=b=c").unwrap(),
            ("a".to_owned(), "b=c".to_owned())
        );
    }

    #[test]
    fn prompt_and_messages_exclude_each_other() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
        assert!(parse(&["c", "generate", "hi"]).is_ok());
        assert!(parse(&["c", "generate", "--prompt", "hi"]).is_ok());
        assert!(parse(&["c", "generate", "--message", "user:hi"]).is_ok());
        assert!(parse(&["c", "generate"]).is_err());
        assert!(parse(&["c", "generate", "hi", "--prompt", "ho"]).is_err());
        assert!(parse(&["c", "generate", "hi", "--message", "user:ho"]).is_err());
    }
}
