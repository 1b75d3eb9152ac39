//! `multipart/form-data` bodies: text fields become strings, files a small object.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::{NormalizeError, clip, push_repeated};

/// Upper bound on polls of the multipart future. The whole body is one ready chunk, so the
/// parser never has to wait; a `Pending` could only be spurious, and re-polling makes
/// progress. The bound turns a hypothetical stall into a 400 instead of a hang.
const MAX_POLLS: usize = 64;

pub(super) fn body(body: &[u8], boundary: &str) -> Result<Map<String, Value>, NormalizeError> {
    // multer skips whatever precedes the first `--boundary` (a preamble): with the boundary
    // named by the unsigned Content-Type, it would pick parts out of any signed text holding
    // such a line. The body must open with it, so the body alone decides the parts.
    let opens = body
        .strip_prefix(b"--")
        .and_then(|rest| rest.strip_prefix(boundary.as_bytes()))
        .is_some_and(|rest| rest.starts_with(b"\r\n"));
    if !opens {
        return Err(NormalizeError::MalformedMultipart(
            "the body does not open with the boundary its Content-Type names".to_owned(),
        ));
    }
    let chunk = Bytes::copy_from_slice(body);
    let stream =
        futures_util::stream::once(futures_util::future::ready(Ok::<_, Infallible>(chunk)));
    let mut multipart = multer::Multipart::new(stream, boundary.to_owned());
    let parse = async move {
        let mut fields = Map::new();
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            let (name, value) = read_part(field).await?;
            push_repeated(&mut fields, name, value);
        }
        Ok(fields)
    };
    poll_ready(parse).unwrap_or_else(|| {
        Err(NormalizeError::MalformedMultipart(
            "parser did not finish".to_owned(),
        ))
    })
}

async fn read_part(field: multer::Field<'_>) -> Result<(String, Value), NormalizeError> {
    let name = field.name().map(str::to_owned).ok_or_else(|| {
        NormalizeError::MalformedMultipart(
            "a part has no name in its Content-Disposition".to_owned(),
        )
    })?;
    let file_name = field.file_name().map(str::to_owned);
    let content_type = field.content_type().map(ToString::to_string);
    let data = field.bytes().await.map_err(multipart_error)?;
    let value = match file_name {
        Some(file_name) => file_value(file_name, content_type, &data),
        None => text_value(&name, data)?,
    };
    Ok((name, value))
}

fn text_value(name: &str, data: Bytes) -> Result<Value, NormalizeError> {
    String::from_utf8(data.to_vec())
        .map(Value::String)
        .map_err(|_| {
            NormalizeError::MalformedMultipart(format!("field `{}` is not valid UTF-8", clip(name)))
        })
}

fn file_value(file_name: String, content_type: Option<String>, data: &[u8]) -> Value {
    let mut file = Map::new();
    file.insert("filename".to_owned(), Value::String(file_name));
    file.insert(
        "content_type".to_owned(),
        content_type.map_or(Value::Null, Value::String),
    );
    file.insert("size".to_owned(), Value::from(data.len()));
    file.insert(
        "content_base64".to_owned(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(data)),
    );
    Value::Object(file)
}

fn multipart_error(err: multer::Error) -> NormalizeError {
    // multer's messages can quote field names, which the client chose: clip them.
    NormalizeError::MalformedMultipart(clip(&err.to_string()))
}

/// Polls a future that has everything it needs in memory, without a runtime.
fn poll_ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
    }
    None
}
