//! HTTP responses of the local server: what a resolved resource looks like, its body (bytes in
//! memory, or a sealed media blob decrypted and streamed in chunks as the client takes them),
//! and the conditional and partial answers (`ETag` with `If-None-Match` → 304, one `Range` →
//! 206, 416 when unsatisfiable). Knows nothing of routes.

use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::task::JoinHandle;

use crate::blobs::BlobReader;

/// Bytes read from a media blob per chunk of a streamed body: one sealed chunk, so that each
/// read after the first decrypts exactly one.
pub const STREAM_CHUNK: usize = crate::sealed_file::CHUNK_LEN;

/// Body of every answer not found, wrong secret included: the two must not differ.
pub(super) const NOT_FOUND_BODY: &str = "not found";

/// Maps are named by their content and blobs are named by their hash: what a URL returns
/// never changes while the server runs.
pub(super) const CACHE_IMMUTABLE: &str = "private, max-age=31536000, immutable";
/// Styles (the default map may change) and icons (a new version keeps its id): ask again,
/// with the ETag.
pub(super) const CACHE_REVALIDATE: &str = "private, no-cache";

/// What a resource's bytes are.
pub(super) enum Content {
    /// Small things read whole: tiles, glyphs, sprites, styles, icons.
    Bytes(Bytes),
    /// A media blob, decrypted as it is streamed.
    Blob(BlobReader),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Blob(r) => r.len(),
        }
    }
}

/// A resource found, with what its headers say about it.
pub(super) struct Resource {
    pub(super) content: Content,
    pub(super) content_type: String,
    pub(super) content_encoding: Option<&'static str>,
    /// The strong validator, already quoted.
    pub(super) etag: String,
    pub(super) cache_control: &'static str,
}

/// A response body: nothing, bytes, or a media blob read chunk by chunk as the client takes
/// it.
pub enum Body {
    /// No body (304, HEAD).
    Empty,
    /// Bytes in memory, sent as one frame.
    Bytes(Option<Bytes>),
    /// A media blob positioned at its first byte to send, with the count still to send.
    Blob(BlobBody),
}

/// A media blob streamed as a body: each chunk is read and decrypted on the blocking pool,
/// so that a slow disk never holds up the server's other connections.
pub struct BlobBody {
    /// The reader and its buffer while no read is under way.
    idle: Option<(BlobReader, Box<[u8]>)>,
    /// The read under way: it hands back the reader, the buffer and what it read.
    reading: Option<JoinHandle<ChunkRead>>,
    /// Bytes still to send.
    remaining: u64,
}

/// What one read of a streamed blob gives back.
type ChunkRead = (BlobReader, Box<[u8]>, io::Result<usize>);

impl BlobBody {
    fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        if self.reading.is_none() {
            let Some((mut reader, mut buf)) = self.idle.take() else {
                // A failed read ended the body already.
                return Poll::Ready(None);
            };
            let want = usize::try_from(self.remaining)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            self.reading = Some(tokio::task::spawn_blocking(move || {
                let n = reader.read(&mut buf[..want]);
                (reader, buf, n)
            }));
        }
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(None);
        };
        let done = match Pin::new(reading).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(done) => done,
        };
        self.reading = None;
        let (reader, buf, read) = done.map_err(io::Error::other)?;
        match read {
            // A damaged chunk or a failing disk: the response ends as broken, never with
            // other bytes.
            Err(e) => Poll::Ready(Some(Err(e))),
            // The file shrank under us: end the response as broken, not short.
            Ok(0) => Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into()))),
            Ok(n) => {
                self.remaining -= n as u64;
                let frame = Frame::data(Bytes::copy_from_slice(&buf[..n]));
                self.idle = Some((reader, buf));
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Blob(blob) => blob.poll_chunk(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Bytes(b) => b.is_none(),
            Body::Blob(blob) => blob.remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Blob(blob) => SizeHint::with_exact(blob.remaining),
        }
    }
}

/// A bare answer with a short text body: 404 (anything not found, wrong secret included),
/// 400, 405, 500.
pub(super) fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::Bytes(Some(Bytes::from_static(text.as_bytes()))));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The answer 404.
pub(super) fn not_found() -> Response<Body> {
    plain(StatusCode::NOT_FOUND, NOT_FOUND_BODY)
}

/// What a `Range` header asks of a resource of a given length.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    /// The whole resource (no range, a range in another unit, several ranges, or one that
    /// cannot be read: RFC 9110 lets a server ignore those).
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// A range past the end.
    Unsatisfiable,
}

/// Reads a single `bytes=` range: `a-b`, `a-` or the suffix `-n`.
pub(super) fn wanted(range: Option<&HeaderValue>, len: u64) -> Wanted {
    let Some(spec) = range
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.is_empty() {
        let Some(suffix) = number(last) else {
            return Wanted::Whole;
        };
        if suffix == 0 || len == 0 {
            return Wanted::Unsatisfiable;
        }
        return Wanted::Part {
            start: len.saturating_sub(suffix),
            end: len - 1,
        };
    }
    let Some(start) = number(first) else {
        return Wanted::Whole;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) if end >= start => end,
            _ => return Wanted::Whole,
        }
    };
    if start >= len {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part {
        start,
        end: end.min(len - 1),
    }
}

/// Whether `If-None-Match` names this ETag (or `*`); weak comparison, as RFC 9110 asks.
fn none_match(header: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The answer for a found resource, following the request's conditional and range headers.
/// Reads nothing yet: a file body is read as the client takes it.
pub(super) fn respond(
    resource: Resource,
    request: &HeaderMap,
    head_only: bool,
) -> io::Result<Response<Body>> {
    let len = resource.content.len();
    let mut response = Response::new(Body::Empty);
    {
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&resource.etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(resource.cache_control),
        );
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // Web views load the map from their own origin; the secret in the URL is the access.
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    if none_match(request.get(header::IF_NONE_MATCH), &resource.etag) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    {
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&resource.content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        if let Some(enc) = resource.content_encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
    }
    let (start, count) = match wanted(request.get(header::RANGE), len) {
        Wanted::Whole => (0, len),
        Wanted::Part { start, end } => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let range = format!("bytes {start}-{end}/{len}");
            if let Ok(v) = HeaderValue::from_str(&range) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            (start, end - start + 1)
        }
        Wanted::Unsatisfiable => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let h = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            h.remove(header::CONTENT_ENCODING);
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            return Ok(response);
        }
    };
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if head_only {
        return Ok(response);
    }
    *response.body_mut() = match resource.content {
        Content::Bytes(b) => {
            // `start + count <= len` by construction of `wanted`.
            let start = start as usize;
            Body::Bytes(Some(b.slice(start..start + count as usize)))
        }
        Content::Blob(mut reader) => {
            // Free: the reader decrypts only when read.
            reader.seek(SeekFrom::Start(start))?;
            Body::Blob(BlobBody {
                idle: Some((reader, vec![0u8; STREAM_CHUNK].into_boxed_slice())),
                reading: None,
                remaining: count,
            })
        }
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, len: u64) -> Wanted {
        wanted(Some(&HeaderValue::from_str(v).expect("header")), len)
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(range("bytes=0-9", 100), Wanted::Part { start: 0, end: 9 });
        assert_eq!(range("bytes=90-", 100), Wanted::Part { start: 90, end: 99 });
        assert_eq!(range("bytes=-10", 100), Wanted::Part { start: 90, end: 99 });
        assert_eq!(range("bytes=-500", 100), Wanted::Part { start: 0, end: 99 });
        assert_eq!(
            range("bytes=50-500", 100),
            Wanted::Part { start: 50, end: 99 }
        );
        assert_eq!(range("bytes=100-", 100), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=-0", 100), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=9-0", 100), Wanted::Whole);
        assert_eq!(range("bytes=0-1,5-6", 100), Wanted::Whole);
        assert_eq!(range("items=0-1", 100), Wanted::Whole);
        assert_eq!(range("bytes=x-1", 100), Wanted::Whole);
        assert_eq!(range("bytes=99999999999999999999-", 100), Wanted::Whole);
        assert_eq!(wanted(None, 100), Wanted::Whole);
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let h = |v: &str| HeaderValue::from_str(v).expect("header");
        assert!(none_match(Some(&h("\"a\"")), "\"a\""));
        assert!(none_match(Some(&h("\"b\", W/\"a\"")), "\"a\""));
        assert!(none_match(Some(&h("*")), "\"a\""));
        assert!(!none_match(Some(&h("\"b\"")), "\"a\""));
        assert!(!none_match(None, "\"a\""));
    }
}
