//! OpenAI chat completions as calls: a log line `{"request": <the request
//! body>, "response": <the response body>}` (what a proxy or the app logs),
//! a stored completion (`GET /v1/chat/completions` items, with the request's
//! `messages` attached, since the list leaves them out), or a
//! `{"object": "list", "data": [...]}` page of stored completions.
//!
//! A completion is the signature's call when the `select_key` (default
//! `prompt`) of its `metadata` is the signature's name.
//!
//! - thread: `metadata` `thread`, `thread_id`, `conversation_id` or
//!   `session_id`, else the request's `user`, else the completion id (each
//!   call its own thread; the split then cannot keep a conversation together);
//! - workspace: `metadata.<workspace_key>`; pack: `metadata.pack`;
//! - time: the response's `created`; error: an `error` object in the response;
//! - inputs: read back from the last user message of the request's `messages`;
//! - answer: `choices[0].message` (text, a tool call, or a `refusal`);
//! - meta: the response's `model`.

use serde_json::{Map, Value, json};

use super::{Answer, Call, Calls, Select, chat, text_of};

/// The signature's completions in one record.
pub fn calls(v: &Value, sel: &Select<'_>) -> Result<Calls, String> {
    let items: Vec<(&Value, &Value)> = if v.get("request").is_some() || v.get("response").is_some()
    {
        vec![(&v["request"], &v["response"])]
    } else if v["object"] == "list" {
        v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c, c))
            .collect()
    } else if v["object"] == "chat.completion" {
        vec![(v, v)]
    } else {
        return Err(
            "not an OpenAI chat completion: expected `{request, response}`, a `chat.completion` or a `list` of them"
                .into(),
        );
    };
    Ok(items
        .into_iter()
        .enumerate()
        .filter(|(_, (req, resp))| {
            [req, resp]
                .iter()
                .any(|x| text_of(x["metadata"].get(sel.key)).as_deref() == Some(sel.name))
        })
        .map(|(i, (req, resp))| (i, Ok(call_of(req, resp, sel))))
        .collect())
}

fn call_of(req: &Value, resp: &Value, sel: &Select<'_>) -> Call {
    let md = |k: &str| text_of(req["metadata"].get(k)).or_else(|| text_of(resp["metadata"].get(k)));
    let id = text_of(resp.get("id")).unwrap_or_default();
    let thread = ["thread", "thread_id", "conversation_id", "session_id"]
        .iter()
        .find_map(|k| md(k))
        .or_else(|| text_of(req.get("user")))
        .unwrap_or_else(|| id.clone());
    let msgs = chat::list(&req["messages"]);
    let inputs = sel.from_user(
        chat::last_with_role(&msgs, "user").and_then(chat::text),
        "the request's `messages`",
    );
    let error = resp.get("error").is_some_and(|e| !e.is_null());
    let answer = match resp["choices"].as_array() {
        Some(c) if !c.is_empty() => chat::answer(
            std::slice::from_ref(&c[0]["message"]),
            "`choices[0].message`",
        ),
        _ => Answer::Missing("`choices`"),
    };
    let ts = resp["created"]
        .as_i64()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
    let meta =
        json!({"model": resp.get("model").or_else(|| req.get("model")), "provider": "openai"});
    Call {
        id,
        thread,
        workspace: md(sel.workspace_key),
        ts,
        pack: md("pack"),
        inputs,
        answer,
        error,
        feedback: Map::new(),
        meta: meta.as_object().cloned().unwrap_or_default(),
    }
}
