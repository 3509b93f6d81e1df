//! JSON-RPC 2.0 wire types for talking to downstream servers: ids,
//! messages, and errors, with the method names and params left as JSON.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{value::RawValue, Value};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Number(i64),
    String(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// The error object of a JSON-RPC response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// One message, classified by the fields it has. A response's result stays
/// the JSON text the server sent: most go on to the editor unchanged, and
/// a large one (a completion list) is never built into a tree for nothing.
#[derive(Debug, Clone)]
pub enum Message {
    Request {
        id: RequestId,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
    Response {
        id: Option<RequestId>,
        result: Result<Box<RawValue>, ResponseError>,
    },
}

impl Message {
    /// Reads one message from a frame's body, or says why it is not
    /// JSON-RPC.
    pub fn parse(body: &[u8]) -> Result<Message, String> {
        // Checked whole first: serde_json does not look inside the strings
        // of fields it skips, and a raw result goes on to the editor as it
        // came (found by fuzzing: `"jsonrpc": "2\xFF0"` parsed).
        let body = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_owned())?;
        // serde reads a struct from an array too, field by field (found by
        // fuzzing: `[3260, "=messa", ...]` parsed as a message).
        if !body.trim_start().starts_with('{') {
            return Err("not a JSON object".to_owned());
        }
        let envelope: Envelope<'_> = serde_json::from_str(body).map_err(|err| {
            if err.is_data() {
                "not a JSON object".to_owned()
            } else {
                err.to_string()
            }
        })?;
        let id = match envelope.id {
            None | Some(Value::Null) => None,
            Some(id) => Some(
                serde_json::from_value(id)
                    .map_err(|_| "an id that is neither a number nor a string")?,
            ),
        };
        let params = envelope.params.unwrap_or(Value::Null);
        match (envelope.method, id) {
            (Some(Value::String(method)), Some(id)) => Ok(Message::Request { id, method, params }),
            (Some(Value::String(method)), None) => Ok(Message::Notification { method, params }),
            (Some(_), _) => Err("a method that is not a string".to_owned()),
            (None, id) => {
                let result = match (envelope.result, envelope.error) {
                    (_, Some(error)) => Err(serde_json::from_value(error)
                        .map_err(|_| "an error object without code and message")?),
                    (Some(result), None) => Ok(result.to_owned()),
                    (None, None) => Err("neither a method nor a result nor an error")?,
                };
                Ok(Message::Response { id, result })
            }
        }
    }
}

/// The fields of a message, the result left unparsed.
#[derive(Deserialize)]
struct Envelope<'a> {
    id: Option<Value>,
    method: Option<Value>,
    params: Option<Value>,
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    error: Option<Value>,
}

/// A field that is there, even as `null` (which a plain `Option` reads as
/// missing): `"result": null` is an answer.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("jsonrpc", "2.0")?;
        match self {
            Message::Request { id, method, params } => {
                map.serialize_entry("id", id)?;
                map.serialize_entry("method", method)?;
                if !params.is_null() {
                    map.serialize_entry("params", params)?;
                }
            }
            Message::Notification { method, params } => {
                map.serialize_entry("method", method)?;
                if !params.is_null() {
                    map.serialize_entry("params", params)?;
                }
            }
            Message::Response { id, result } => {
                map.serialize_entry("id", id)?;
                match result {
                    Ok(result) => map.serialize_entry("result", result)?,
                    Err(error) => map.serialize_entry("error", error)?,
                }
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_round_trip_and_bad_ones_say_why() {
        let cases = [
            json!({"jsonrpc": "2.0", "id": 3, "method": "workspace/configuration", "params": {"items": []}}),
            json!({"jsonrpc": "2.0", "method": "$/progress", "params": {"token": "t"}}),
            json!({"jsonrpc": "2.0", "id": "a", "result": null}),
            json!({"jsonrpc": "2.0", "id": 5, "result": {"contents": "x", "range": [1, 2.5]}}),
            json!({"jsonrpc": "2.0", "id": 4, "error": {"code": -32601, "message": "no"}}),
        ];
        for case in cases {
            let message = Message::parse(case.to_string().as_bytes()).unwrap();
            assert_eq!(serde_json::to_value(&message).unwrap(), case);
        }
        let parse = |value: Value| Message::parse(value.to_string().as_bytes()).unwrap_err();
        assert_eq!(parse(json!([1])), "not a JSON object");
        assert_eq!(
            parse(json!({"id": 1, "error": {"oops": 1}})),
            "an error object without code and message"
        );
        assert_eq!(
            parse(json!({"id": 1})),
            "neither a method nor a result nor an error"
        );
        assert_eq!(
            parse(json!({"id": [1], "method": "m"})),
            "an id that is neither a number nor a string"
        );
        assert!(Message::parse(b"{\"id\": 1, \"result\": ").is_err());
    }

    #[test]
    fn a_result_keeps_the_text_it_came_as() {
        let body = br#"{"jsonrpc":"2.0","id":1,"result":{"b":1,  "a":[1.50,"\u00e9"]}}"#;
        let Ok(Message::Response {
            result: Ok(result), ..
        }) = Message::parse(body)
        else {
            panic!("not a response");
        };
        assert_eq!(result.get(), r#"{"b":1,  "a":[1.50,"\u00e9"]}"#);
    }
}
