//! JSON-RPC 2.0 wire types for talking to downstream servers: ids,
//! messages, and errors, with the method names and params left as JSON.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// One message, classified by the fields it has.
#[derive(Debug, Clone, PartialEq)]
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
        result: Result<Value, ResponseError>,
    },
}

impl Message {
    /// Classifies a parsed JSON value, or says why it is not JSON-RPC.
    pub fn from_value(mut value: Value) -> Result<Message, String> {
        let object = value.as_object_mut().ok_or("not a JSON object")?;
        let id = match object.remove("id") {
            None | Some(Value::Null) => None,
            Some(id) => Some(
                serde_json::from_value(id)
                    .map_err(|_| "an id that is neither a number nor a string")?,
            ),
        };
        let params = object.remove("params").unwrap_or(Value::Null);
        match (object.remove("method"), id) {
            (Some(Value::String(method)), Some(id)) => Ok(Message::Request { id, method, params }),
            (Some(Value::String(method)), None) => Ok(Message::Notification { method, params }),
            (Some(_), _) => Err("a method that is not a string".to_owned()),
            (None, id) => {
                let result = match (object.remove("result"), object.remove("error")) {
                    (_, Some(error)) => Err(serde_json::from_value(error)
                        .map_err(|_| "an error object without code and message")?),
                    (Some(result), None) => Ok(result),
                    (None, None) => Err("neither a method nor a result nor an error")?,
                };
                Ok(Message::Response { id, result })
            }
        }
    }

    pub fn to_value(&self) -> Value {
        let mut object = serde_json::Map::new();
        object.insert("jsonrpc".to_owned(), "2.0".into());
        match self {
            Message::Request { id, method, params } => {
                object.insert(
                    "id".to_owned(),
                    serde_json::to_value(id).unwrap_or_default(),
                );
                object.insert("method".to_owned(), method.clone().into());
                if !params.is_null() {
                    object.insert("params".to_owned(), params.clone());
                }
            }
            Message::Notification { method, params } => {
                object.insert("method".to_owned(), method.clone().into());
                if !params.is_null() {
                    object.insert("params".to_owned(), params.clone());
                }
            }
            Message::Response { id, result } => {
                object.insert(
                    "id".to_owned(),
                    serde_json::to_value(id).unwrap_or_default(),
                );
                match result {
                    Ok(result) => object.insert("result".to_owned(), result.clone()),
                    Err(error) => object.insert(
                        "error".to_owned(),
                        serde_json::to_value(error).unwrap_or_default(),
                    ),
                };
            }
        }
        Value::Object(object)
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
            json!({"jsonrpc": "2.0", "id": 4, "error": {"code": -32601, "message": "no"}}),
        ];
        for case in cases {
            let message = Message::from_value(case.clone()).unwrap();
            assert_eq!(message.to_value(), case);
        }
        assert_eq!(
            Message::from_value(json!([1])),
            Err("not a JSON object".to_owned())
        );
        assert_eq!(
            Message::from_value(json!({"id": 1, "error": {"oops": 1}})),
            Err("an error object without code and message".to_owned())
        );
    }
}
