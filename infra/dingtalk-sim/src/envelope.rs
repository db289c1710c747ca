//! DingTalk's two response envelopes (protocol §5.2) and the lenient request-parameter reader
//! shared by every `topapi` route (JSON or form bodies, lists as arrays or `"2,3,4"`, §3.1).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A legacy (`oapi`) failure: HTTP 200 with `errcode != 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DingError {
    pub errcode: i64,
    pub errmsg: String,
    /// Set when the failure is wrapped as errcode 88 ("鉴权异常", §5.2): the real code and text.
    pub sub_code: Option<(i64, String)>,
}

impl DingError {
    pub fn new(errcode: i64, errmsg: impl Into<String>) -> Self {
        Self {
            errcode,
            errmsg: errmsg.into(),
            sub_code: None,
        }
    }

    pub fn missing(field: &str) -> Self {
        Self::new(400002, format!("缺少参数 {field}"))
    }

    pub fn invalid(field: &str) -> Self {
        Self::new(40035, format!("不合法的参数 {field}"))
    }

    /// Wraps an auth or permission failure as errcode 88 with the real code in `sub_code`.
    pub fn wrapped_88(self) -> Self {
        Self {
            errcode: 88,
            errmsg: "鉴权异常".into(),
            sub_code: Some((self.errcode, self.errmsg)),
        }
    }

    /// The code a client should act on: the sub code when wrapped.
    pub fn effective_code(&self) -> i64 {
        self.sub_code
            .as_ref()
            .map_or(self.errcode, |(code, _)| *code)
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "errcode": self.errcode,
            "errmsg": self.errmsg,
            "request_id": request_id(),
        });
        if let Some((code, msg)) = &self.sub_code {
            body["sub_code"] = json!(code.to_string());
            body["sub_msg"] = json!(msg);
        }
        body
    }
}

impl IntoResponse for DingError {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, &self.body())
    }
}

/// A new-API (`api.dingtalk.com/v1.0`) failure: HTTP status + `code`/`message`/`requestid`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidAuthentication",
            "不合法的access_token",
        )
    }

    /// The new-API rendering of a legacy code that a gate produced.
    pub fn from_legacy(err: &DingError) -> Self {
        match err.effective_code() {
            40014 | 42001 | 40001 | 33001 => Self::invalid_token(),
            90018 => Self::new(
                StatusCode::FORBIDDEN,
                "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                "当前应用调用该接口的QPS超过限制",
            ),
            60020 => Self::new(
                StatusCode::FORBIDDEN,
                "Forbidden.AccessDenied.IpNotInWhiteList",
                err.errmsg.clone(),
            ),
            60011 => Self::new(
                StatusCode::FORBIDDEN,
                "Forbidden.AccessDenied.AccessTokenPermissionDenied",
                err.errmsg.clone(),
            ),
            -1 => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "系统繁忙",
            ),
            other => Self::new(
                StatusCode::BAD_REQUEST,
                &other.to_string(),
                err.errmsg.clone(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "code": self.code, "message": self.message, "requestid": request_id() });
        json_response(self.status, &body)
    }
}

/// A legacy success: `{"errcode":0,"errmsg":"ok", <fields>, "request_id":…}`.
pub fn legacy_ok(fields: Value) -> Response {
    let mut body = match fields {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("result".into(), other);
            map
        }
    };
    body.insert("errcode".into(), json!(0));
    body.insert("errmsg".into(), json!("ok"));
    body.insert("request_id".into(), json!(request_id()));
    json_response(StatusCode::OK, &Value::Object(body))
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let text = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        text,
    )
        .into_response()
}

/// A short base-36 id like DingTalk's `request_id` (`"15rx8h4mdjbkl"`).
pub fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0x1f3a_5c7e_9b2d);
    let mut n = NEXT.fetch_add(0x9e37_79b9, Ordering::Relaxed);
    let mut out = Vec::with_capacity(13);
    for _ in 0..13 {
        out.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Request parameters of a `topapi` call, from a JSON object or a form body.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Map<String, Value>);

impl Params {
    pub fn parse(body: &[u8]) -> Result<Self, DingError> {
        let trimmed = body.trim_ascii();
        if trimmed.is_empty() {
            return Ok(Self::default());
        }
        if trimmed.first() == Some(&b'{') {
            return match serde_json::from_slice::<Value>(trimmed) {
                Ok(Value::Object(map)) => Ok(Self(map)),
                _ => Err(DingError::new(43009, "post请求body参数不是合法的json格式")),
            };
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(trimmed)
            .map_err(|_| DingError::new(43004, "无效的HTTP HEADER Content-Type"))?;
        Ok(Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ))
    }

    pub fn from_value(value: Value) -> Self {
        match value {
            Value::Object(map) => Self(map),
            _ => Self::default(),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn require_str(&self, key: &str) -> Result<String, DingError> {
        self.str(key)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| DingError::missing(key))
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>, DingError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| DingError::invalid(key)),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| DingError::invalid(key)),
            Some(_) => Err(DingError::invalid(key)),
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.0.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(s == "true" || s == "1"),
            Value::Number(n) => Some(n.as_i64() == Some(1)),
            _ => None,
        }
    }

    /// A list given as a JSON array, a JSON-array string, or a comma-separated string.
    pub fn str_list(&self, key: &str) -> Option<Vec<String>> {
        let items = match self.0.get(key)? {
            Value::Array(items) => items.clone(),
            Value::String(s) if s.trim_start().starts_with('[') => {
                serde_json::from_str::<Vec<Value>>(s).ok()?
            }
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.into()))
                .collect(),
            Value::Number(n) => vec![Value::Number(n.clone())],
            _ => return None,
        };
        Some(
            items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
        )
    }

    pub fn i64_list(&self, key: &str) -> Result<Option<Vec<i64>>, DingError> {
        match self.str_list(key) {
            None if self.has(key) => Err(DingError::invalid(key)),
            None => Ok(None),
            Some(items) => items
                .iter()
                .map(|s| {
                    s.parse::<i64>()
                        .map_err(|_| DingError::new(40066, "不合法的部门列表"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_json_bodies_read_the_same() {
        let form = Params::parse(b"dept_id_list=2%2C3&name=a").unwrap();
        let json = Params::parse(br#"{"dept_id_list":[2,3],"name":"a"}"#).unwrap();
        assert_eq!(form.i64_list("dept_id_list").unwrap(), Some(vec![2, 3]));
        assert_eq!(json.i64_list("dept_id_list").unwrap(), Some(vec![2, 3]));
        assert_eq!(form.str("name"), json.str("name"));
    }

    #[test]
    fn wrapped_88_carries_the_real_code_as_sub_code() {
        let body = DingError::new(40014, "不合法的access_token")
            .wrapped_88()
            .body();
        assert_eq!(body["errcode"], 88);
        assert_eq!(body["sub_code"], "40014");
        assert_eq!(body["sub_msg"], "不合法的access_token");
    }
}
