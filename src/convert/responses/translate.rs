//! Gemini response events → Responses output items and stream events, one state machine for
//! streamed and non-streamed answers alike.
//!
//! Event order follows OpenAI's: `response.created`, `response.in_progress`, then per output
//! item `response.output_item.added`, its content events (`content_part.added`,
//! `output_text.delta`* / `.done`, `content_part.done`; `reasoning_summary_part.added`,
//! `reasoning_summary_text.delta`* / `.done`, `reasoning_summary_part.done`;
//! `function_call_arguments.delta` / `.done`; `custom_tool_call_input.delta` / `.done`) and
//! `response.output_item.done`, and finally `response.completed`, `response.incomplete`
//! (MAX_TOKENS, safety) or `response.failed` (an upstream error mid-stream). Every event has
//! the next `sequence_number`.
//!
//! Items: thoughts (when a summary was asked for) are a reasoning item with one summary part;
//! text and rendered blocks are one message item until something else comes; each call is an
//! item of the client's own kind. A call's thought signature goes into the `encrypted_content`
//! of the reasoning item before it (the open one, or a new one holding only the signature).
//! Such items are always kept for stored responses; the client sees `encrypted_content` only
//! when it asked for it with `include`.
use serde_json::Value;

use super::signature;
use super::tools::{ClientTool, ClientTools, ToolKind};
use crate::convert::response::parts::{ContentAssembler, PartKind, ToolCall, classify_part};
use crate::convert::response::{ResponseOptions, usage_from_gemini};
use crate::wire::gemini::{FinishReason, GenerateContentResponse, SKIP_THOUGHT_SIGNATURE};
use crate::wire::openai_response::{TokenUsage, tool_call_id};
use crate::wire::responses::{
    CustomToolCallOut, FunctionCallOut, IncompleteDetails, ItemStatus, LocalShellAction,
    LocalShellCallOut, OutputItem, OutputMessage, OutputText, ReasoningOut, ResponseError,
    ResponseObject, ResponseShell, ResponseStatus, ResponseUsage, StreamEvent, SummaryText,
    WebSearchAction, WebSearchCallOut, WebSource, item_id, write_event,
};

/// The `error.code` of a failed response for an upstream status. Codex reads
/// `rate_limit_exceeded` as "retry later".
pub fn failure_code(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_exceeded",
        400 | 413 | 422 => "invalid_prompt",
        _ => "server_error",
    }
}

/// Writes events (or not, for a non-streamed answer) with running sequence numbers.
struct Writer {
    emit: bool,
    seq: u64,
}

impl Writer {
    fn write(&mut self, buf: &mut Vec<u8>, ev: StreamEvent<'_>) {
        if self.emit {
            write_event(buf, ev, self.seq);
            self.seq += 1;
        }
    }
}

enum OpenKind {
    /// Signatures of the calls that follow, by call id.
    Reasoning {
        signatures: Vec<(String, String)>,
    },
    Message {
        asm: ContentAssembler,
    },
}

/// The item being streamed.
struct Open {
    kind: OpenKind,
    id: String,
    text: String,
    output_index: usize,
}

/// How the response ended.
#[derive(Debug, Clone)]
struct Ending {
    status: ResponseStatus,
    incomplete: Option<&'static str>,
    error: Option<ResponseError>,
}

pub struct ResponsesTranslator {
    shell: ResponseShell,
    opts: ResponseOptions,
    tools: ClientTools,
    include_encrypted: bool,
    out: Writer,
    started: bool,
    /// Every finished item, signatures kept: what a follow-up continues from.
    items: Vec<OutputItem>,
    /// Finished items as the client sees them; an item's place here is its `output_index`.
    visible: Vec<OutputItem>,
    open: Option<Open>,
    /// Whitespace that arrived while no message was open: sent if real text follows.
    pending_ws: String,
    finish: Option<FinishReason>,
    blocked: bool,
    usage: Option<TokenUsage>,
    searches: Vec<String>,
    sources: Vec<String>,
    ending: Option<Ending>,
}

impl ResponsesTranslator {
    /// `emit: false` builds the items without writing events (a non-streamed answer).
    pub fn new(
        shell: ResponseShell,
        opts: ResponseOptions,
        tools: ClientTools,
        include_encrypted: bool,
        emit: bool,
    ) -> Self {
        Self {
            shell,
            opts,
            tools,
            include_encrypted,
            out: Writer { emit, seq: 0 },
            started: false,
            items: Vec::new(),
            visible: Vec::new(),
            open: None,
            pending_ws: String::new(),
            finish: None,
            blocked: false,
            usage: None,
            searches: Vec::new(),
            sources: Vec::new(),
            ending: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.shell.id
    }

    pub fn shell(&self) -> &ResponseShell {
        &self.shell
    }

    /// `response.created` and `response.in_progress`, once.
    pub fn start(&mut self, buf: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        for in_progress in [false, true] {
            let response = self.shell.object(ResponseStatus::InProgress, &[], None);
            let ev = if in_progress {
                StreamEvent::InProgress { response }
            } else {
                StreamEvent::Created { response }
            };
            self.out.write(buf, ev);
        }
    }

    /// The events for one upstream event.
    pub fn on_event(&mut self, r: &GenerateContentResponse, buf: &mut Vec<u8>) {
        if self.ending.is_some() {
            return;
        }
        self.start(buf);
        if let Some(err) = &r.error {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            let code = err
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(502);
            self.fail(message, code, buf);
            return;
        }
        if let Some(u) = usage_from_gemini(r) {
            self.usage = Some(u);
        }
        self.blocked |= r.block_reason().is_some();
        let Some(cand) = r.candidates.first() else {
            return;
        };
        for part in cand.parts() {
            let signature = part
                .thought_signature
                .as_deref()
                .filter(|s| !s.is_empty() && *s != SKIP_THOUGHT_SIGNATURE);
            match classify_part(part, &self.opts) {
                PartKind::Thought(t) if self.opts.return_thoughts => self.thought(t, buf),
                PartKind::Text(t) => self.text(t, false, buf),
                PartKind::Block(b) => self.text(&b, true, buf),
                PartKind::ToolCall(call) => self.call(call, signature, buf),
                PartKind::Thought(_) | PartKind::Skip => {}
            }
        }
        if let Some(f) = cand.finish() {
            self.finish = Some(f.clone());
        }
        if let Some(g) = cand.extra.get("groundingMetadata") {
            self.grounding(g);
        }
    }

    fn thought(&mut self, t: &str, buf: &mut Vec<u8>) {
        if !matches!(
            self.open,
            Some(Open {
                kind: OpenKind::Reasoning { .. },
                ..
            })
        ) {
            self.close(buf);
            self.open_reasoning(buf);
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.text.push_str(t);
        self.out.write(
            buf,
            StreamEvent::SummaryTextDelta {
                item_id: &open.id,
                output_index: open.output_index,
                summary_index: 0,
                delta: t,
            },
        );
    }

    fn open_reasoning(&mut self, buf: &mut Vec<u8>) {
        let id = item_id("rs_");
        let output_index = self.visible.len();
        let item = OutputItem::Reasoning(ReasoningOut {
            id: id.clone(),
            summary: Vec::new(),
            encrypted_content: None,
        });
        self.out.write(
            buf,
            StreamEvent::ItemAdded {
                output_index,
                item: &item,
            },
        );
        self.out.write(
            buf,
            StreamEvent::SummaryPartAdded {
                item_id: &id,
                output_index,
                summary_index: 0,
                part: &SummaryText::new(String::new()),
            },
        );
        self.open = Some(Open {
            kind: OpenKind::Reasoning {
                signatures: Vec::new(),
            },
            id,
            text: String::new(),
            output_index,
        });
    }

    /// Text (or a rendered block) for the open message, or a new one.
    fn text(&mut self, t: &str, block: bool, buf: &mut Vec<u8>) {
        let piece = |asm: &mut ContentAssembler| {
            if block { asm.block(t) } else { asm.text(t) }
        };
        if let Some(Open {
            kind: OpenKind::Message { asm },
            ..
        }) = self.open.as_mut()
        {
            let s = piece(asm);
            self.message_delta(s, buf);
            return;
        }
        let mut fresh = ContentAssembler::default();
        let s = piece(&mut fresh);
        if s.trim().is_empty() {
            self.pending_ws.push_str(&s);
            return;
        }
        self.close(buf);
        let mut text = std::mem::take(&mut self.pending_ws);
        text.push_str(&s);
        self.open_message(fresh, buf);
        self.message_delta(text, buf);
    }

    fn open_message(&mut self, asm: ContentAssembler, buf: &mut Vec<u8>) {
        let id = item_id("msg_");
        let output_index = self.visible.len();
        let item = OutputItem::Message(OutputMessage {
            id: id.clone(),
            status: ItemStatus::InProgress,
            role: "assistant".into(),
            content: Vec::new(),
        });
        self.out.write(
            buf,
            StreamEvent::ItemAdded {
                output_index,
                item: &item,
            },
        );
        self.out.write(
            buf,
            StreamEvent::ContentPartAdded {
                item_id: &id,
                output_index,
                content_index: 0,
                part: &OutputText::new(String::new()),
            },
        );
        self.open = Some(Open {
            kind: OpenKind::Message { asm },
            id,
            text: String::new(),
            output_index,
        });
    }

    fn message_delta(&mut self, s: String, buf: &mut Vec<u8>) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if s.is_empty() {
            return;
        }
        self.out.write(
            buf,
            StreamEvent::OutputTextDelta {
                item_id: &open.id,
                output_index: open.output_index,
                content_index: 0,
                delta: &s,
                logprobs: [],
            },
        );
        open.text.push_str(&s);
    }

    fn call(&mut self, call: ToolCall<'_>, signature: Option<&str>, buf: &mut Vec<u8>) {
        let call_id = call.id.map_or_else(tool_call_id, str::to_string);
        if let Some(sig) = signature {
            let pair = (call_id.clone(), sig.to_string());
            match self.open.as_mut() {
                Some(Open {
                    kind: OpenKind::Reasoning { signatures },
                    ..
                }) => signatures.push(pair),
                _ => {
                    self.close(buf);
                    self.signature_item(pair, buf);
                }
            }
        }
        self.close(buf);
        self.pending_ws.clear();
        let tool = self.tools.get(&call.name).cloned().unwrap_or(ClientTool {
            kind: ToolKind::Function,
            name: call.name.clone(),
            namespace: None,
        });
        let output_index = self.visible.len();
        let done = match tool.kind {
            ToolKind::Function => {
                let arguments = call.args.to_string();
                let mut item = FunctionCallOut {
                    id: item_id("fc_"),
                    call_id,
                    name: tool.name,
                    arguments: String::new(),
                    namespace: tool.namespace,
                    status: ItemStatus::InProgress,
                };
                if self.out.emit {
                    let added = OutputItem::FunctionCall(item.clone());
                    self.out.write(
                        buf,
                        StreamEvent::ItemAdded {
                            output_index,
                            item: &added,
                        },
                    );
                    self.out.write(
                        buf,
                        StreamEvent::FunctionArgumentsDelta {
                            item_id: &item.id,
                            output_index,
                            delta: &arguments,
                        },
                    );
                    self.out.write(
                        buf,
                        StreamEvent::FunctionArgumentsDone {
                            item_id: &item.id,
                            output_index,
                            name: &item.name,
                            arguments: &arguments,
                        },
                    );
                }
                item.arguments = arguments;
                item.status = ItemStatus::Completed;
                OutputItem::FunctionCall(item)
            }
            ToolKind::Custom => {
                let input = match call.args.get("input") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let mut item = CustomToolCallOut {
                    id: item_id("ctc_"),
                    call_id,
                    name: tool.name,
                    input: String::new(),
                    namespace: tool.namespace,
                    status: ItemStatus::InProgress,
                };
                if self.out.emit {
                    let added = OutputItem::CustomToolCall(item.clone());
                    self.out.write(
                        buf,
                        StreamEvent::ItemAdded {
                            output_index,
                            item: &added,
                        },
                    );
                    self.out.write(
                        buf,
                        StreamEvent::CustomInputDelta {
                            item_id: &item.id,
                            output_index,
                            delta: &input,
                        },
                    );
                    self.out.write(
                        buf,
                        StreamEvent::CustomInputDone {
                            item_id: &item.id,
                            output_index,
                            input: &input,
                        },
                    );
                }
                item.input = input;
                item.status = ItemStatus::Completed;
                OutputItem::CustomToolCall(item)
            }
            ToolKind::LocalShell => {
                let mut item = LocalShellCallOut {
                    id: item_id("lsh_"),
                    call_id,
                    status: ItemStatus::InProgress,
                    action: shell_action(&call.args),
                };
                if self.out.emit {
                    let added = OutputItem::LocalShellCall(item.clone());
                    self.out.write(
                        buf,
                        StreamEvent::ItemAdded {
                            output_index,
                            item: &added,
                        },
                    );
                }
                item.status = ItemStatus::Completed;
                OutputItem::LocalShellCall(item)
            }
        };
        self.out.write(
            buf,
            StreamEvent::ItemDone {
                output_index,
                item: &done,
            },
        );
        self.visible.push(done.clone());
        self.items.push(done);
    }

    /// A reasoning item holding only a call's signature: always kept for a stored response,
    /// shown when the client asked for encrypted content.
    fn signature_item(&mut self, pair: (String, String), buf: &mut Vec<u8>) {
        let item = OutputItem::Reasoning(ReasoningOut {
            id: item_id("rs_"),
            summary: Vec::new(),
            encrypted_content: Some(signature::encode(&[pair])),
        });
        if self.include_encrypted {
            self.show_whole(&item, buf);
        }
        self.items.push(item);
    }

    /// An item that arrives complete: added and done at once, at the next visible index.
    fn show_whole(&mut self, item: &OutputItem, buf: &mut Vec<u8>) {
        let output_index = self.visible.len();
        self.out
            .write(buf, StreamEvent::ItemAdded { output_index, item });
        self.out
            .write(buf, StreamEvent::ItemDone { output_index, item });
        self.visible.push(item.clone());
    }

    /// Finishes the open item.
    fn close(&mut self, buf: &mut Vec<u8>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let Open {
            kind,
            id,
            text,
            output_index,
        } = open;
        match kind {
            OpenKind::Reasoning { signatures } => {
                let summary = SummaryText::new(text);
                self.out.write(
                    buf,
                    StreamEvent::SummaryTextDone {
                        item_id: &id,
                        output_index,
                        summary_index: 0,
                        text: &summary.text,
                    },
                );
                self.out.write(
                    buf,
                    StreamEvent::SummaryPartDone {
                        item_id: &id,
                        output_index,
                        summary_index: 0,
                        part: &summary,
                    },
                );
                let encrypted = (!signatures.is_empty()).then(|| signature::encode(&signatures));
                let shown = ReasoningOut {
                    id,
                    summary: vec![summary],
                    encrypted_content: encrypted.clone().filter(|_| self.include_encrypted),
                };
                let kept = OutputItem::Reasoning(ReasoningOut {
                    encrypted_content: encrypted,
                    ..shown.clone()
                });
                let shown = OutputItem::Reasoning(shown);
                self.out.write(
                    buf,
                    StreamEvent::ItemDone {
                        output_index,
                        item: &shown,
                    },
                );
                self.visible.push(shown);
                self.items.push(kept);
            }
            OpenKind::Message { .. } => {
                let status = if self.finish == Some(FinishReason::MaxTokens) {
                    ItemStatus::Incomplete
                } else {
                    ItemStatus::Completed
                };
                let part = OutputText::new(text);
                self.out.write(
                    buf,
                    StreamEvent::OutputTextDone {
                        item_id: &id,
                        output_index,
                        content_index: 0,
                        text: &part.text,
                        logprobs: [],
                    },
                );
                self.out.write(
                    buf,
                    StreamEvent::ContentPartDone {
                        item_id: &id,
                        output_index,
                        content_index: 0,
                        part: &part,
                    },
                );
                let item = OutputItem::Message(OutputMessage {
                    id,
                    status,
                    role: "assistant".into(),
                    content: vec![part],
                });
                self.out.write(
                    buf,
                    StreamEvent::ItemDone {
                        output_index,
                        item: &item,
                    },
                );
                self.visible.push(item.clone());
                self.items.push(item);
            }
        }
    }

    /// Search queries and sources of Google Search grounding, reported as `web_search_call`
    /// items at the end.
    fn grounding(&mut self, g: &Value) {
        for q in g
            .get("webSearchQueries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|q| !q.trim().is_empty())
        {
            if !self.searches.iter().any(|s| s == q) {
                self.searches.push(q.to_string());
            }
        }
        for uri in g
            .get("groundingChunks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.pointer("/web/uri").and_then(Value::as_str))
        {
            if !self.sources.iter().any(|s| s == uri) {
                self.sources.push(uri.to_string());
            }
        }
    }

    fn search_items(&mut self, buf: &mut Vec<u8>) {
        let sources: Vec<WebSource> = self
            .sources
            .iter()
            .map(|u| WebSource {
                kind: "url".into(),
                url: u.clone(),
            })
            .collect();
        for query in std::mem::take(&mut self.searches) {
            let item = OutputItem::WebSearchCall(WebSearchCallOut {
                id: item_id("ws_"),
                status: ItemStatus::Completed,
                action: WebSearchAction {
                    kind: "search".into(),
                    query,
                    sources: sources.clone(),
                },
            });
            self.show_whole(&item, buf);
            self.items.push(item);
        }
    }

    /// Closes the last item and writes `response.completed` (or `response.incomplete`).
    /// Idempotent; does nothing after a failure.
    pub fn finish(&mut self, buf: &mut Vec<u8>) {
        if self.ending.is_some() {
            return;
        }
        self.start(buf);
        self.close(buf);
        self.search_items(buf);
        let incomplete = match &self.finish {
            _ if self.blocked && self.visible.is_empty() => Some("content_filter"),
            Some(FinishReason::MaxTokens) => Some("max_output_tokens"),
            Some(FinishReason::Filtered(_)) => Some("content_filter"),
            _ => None,
        };
        let ending = Ending {
            status: if incomplete.is_some() {
                ResponseStatus::Incomplete
            } else {
                ResponseStatus::Completed
            },
            incomplete,
            error: None,
        };
        self.ending = Some(ending);
        let response = snapshot(&self.shell, &self.visible, self.usage, self.ending.as_ref());
        let ev = if incomplete.is_some() {
            StreamEvent::Incomplete { response }
        } else {
            StreamEvent::Completed { response }
        };
        self.out.write(buf, ev);
    }

    /// Ends the stream with `response.failed`, carrying the error.
    pub fn fail(&mut self, message: &str, status: u16, buf: &mut Vec<u8>) {
        if self.ending.is_some() {
            return;
        }
        self.start(buf);
        self.ending = Some(Ending {
            status: ResponseStatus::Failed,
            incomplete: None,
            error: Some(ResponseError {
                code: failure_code(status).to_string(),
                message: message.to_string(),
            }),
        });
        let response = snapshot(&self.shell, &self.visible, self.usage, self.ending.as_ref());
        self.out.write(buf, StreamEvent::Failed { response });
    }

    /// The response as it stands: in progress until [`Self::finish`] or [`Self::fail`].
    pub fn object(&self) -> ResponseObject<'_> {
        snapshot(&self.shell, &self.visible, self.usage, self.ending.as_ref())
    }

    pub fn status(&self) -> ResponseStatus {
        self.ending
            .as_ref()
            .map_or(ResponseStatus::InProgress, |e| e.status)
    }

    /// Every output item with the signatures kept: what a follow-up continues from.
    pub fn kept_items(&self) -> &[OutputItem] {
        &self.items
    }
}

/// The response object for the items so far and how it ended (in progress when it has not).
fn snapshot<'a>(
    shell: &'a ResponseShell,
    visible: &'a [OutputItem],
    usage: Option<TokenUsage>,
    ending: Option<&Ending>,
) -> ResponseObject<'a> {
    let usage = usage.map(ResponseUsage::from);
    let Some(end) = ending else {
        return shell.object(ResponseStatus::InProgress, visible, usage);
    };
    let mut o = shell.object(end.status, visible, usage);
    o.incomplete_details = end.incomplete.map(|reason| IncompleteDetails { reason });
    o.error = end.error.clone();
    o
}

/// A `local_shell` call's arguments as the client's `exec` action. A command given as one
/// string runs through `bash -lc`.
fn shell_action(args: &Value) -> LocalShellAction {
    let command = match args.get("command") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        Some(Value::String(s)) => vec!["bash".into(), "-lc".into(), s.clone()],
        _ => Vec::new(),
    };
    LocalShellAction {
        kind: "exec".into(),
        command,
        timeout_ms: args.get("timeout_ms").and_then(Value::as_u64),
        working_directory: args
            .get("working_directory")
            .or_else(|| args.get("workdir"))
            .and_then(Value::as_str)
            .map(str::to_string),
        env: args
            .get("env")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        user: args.get("user").and_then(Value::as_str).map(str::to_string),
    }
}
