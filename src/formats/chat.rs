//! Chat messages as the exports write them: OpenAI's `{role, content}` with
//! string or part-list content, OpenTelemetry GenAI's `{role, parts}`, and
//! LangChain's serialized messages (`{lc, id: [..., "HumanMessage"], kwargs}`).

use serde_json::Value;

/// A message's role: `user`, `assistant`, `system`, `tool`, or what it says.
pub fn role(m: &Value) -> String {
    // A LangChain-serialized message's own `type` is "constructor".
    let raw = if m.get("lc").is_some() {
        m["kwargs"]["type"]
            .as_str()
            .or_else(|| m["id"].as_array().and_then(|a| a.last()?.as_str()))
    } else {
        m["role"].as_str().or_else(|| m["type"].as_str())
    }
    .unwrap_or("");
    match raw {
        "human" | "HumanMessage" | "HumanMessageChunk" => "user",
        "ai" | "AIMessage" | "AIMessageChunk" => "assistant",
        "SystemMessage" => "system",
        "ToolMessage" => "tool",
        other => other,
    }
    .to_string()
}

/// The text of a message: its string content, or its text parts joined.
/// `None` when it has no text (a tool call, an image).
pub fn text(m: &Value) -> Option<String> {
    let content = if m.get("kwargs").is_some() {
        &m["kwargs"]["content"]
    } else if m.get("parts").is_some() {
        &m["parts"]
    } else {
        &m["content"]
    };
    let t = match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                _ if p["type"]
                    .as_str()
                    .is_none_or(|t| t == "text" || t == "output_text") =>
                {
                    p["text"].as_str().or_else(|| p["content"].as_str())
                }
                _ => None,
            })
            .collect(),
        _ => return None,
    };
    (!t.is_empty()).then_some(t)
}

/// Whether a message asks for a tool (OpenAI `tool_calls`, a GenAI
/// `tool_call` part, LangChain `tool_calls`).
pub fn has_tool_call(m: &Value) -> bool {
    let nonempty = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
    nonempty(&m["tool_calls"])
        || nonempty(&m["kwargs"]["tool_calls"])
        || m["parts"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["type"] == "tool_call"))
}

/// The last message with `role` in a list.
pub fn last_with_role<'a>(messages: &'a [Value], want: &str) -> Option<&'a Value> {
    messages.iter().rev().find(|m| role(m) == want)
}

/// A message list, also nested one level (LangChain logs `[[...]]`).
pub fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) if a.first().is_some_and(Value::is_array) => a
            .iter()
            .flat_map(|x| x.as_array().cloned().unwrap_or_default())
            .collect(),
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    }
}

/// The answer in a list of output messages: the last assistant message's
/// text, a tool call, or nothing.
pub fn answer(messages: &[Value], looked: &'static str) -> super::Answer {
    let Some(m) = messages
        .iter()
        .rev()
        .find(|m| matches!(role(m).as_str(), "assistant" | ""))
    else {
        return super::Answer::Missing(looked);
    };
    match text(m) {
        Some(t) => super::Answer::Text(t),
        None if has_tool_call(m) => super::Answer::ToolCall,
        None if m["refusal"].is_string() => super::Answer::Refused,
        None => super::Answer::Missing(looked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_three_message_shapes_give_role_and_text() {
        let openai = json!({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}, {"type": "text", "text": "b"}]});
        assert_eq!(
            (role(&openai), text(&openai)),
            ("user".into(), Some("ab".into()))
        );
        let genai = json!({"role": "assistant", "parts": [{"type": "text", "content": "hi"}]});
        assert_eq!(text(&genai), Some("hi".into()));
        let lc = json!({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "HumanMessage"], "kwargs": {"content": "q"}});
        assert_eq!((role(&lc), text(&lc)), ("user".into(), Some("q".into())));
        let tool = json!({"role": "assistant", "content": null, "tool_calls": [{"id": "1"}]});
        assert_eq!(answer(&[tool], "x"), crate::formats::Answer::ToolCall);
    }
}
