//! Handing a response body to a runtime's output stream as it is produced, chunk by chunk, so
//! that a streaming response (Server-Sent Events, a long answer) reaches the client while it is
//! still being written, on a runtime whose handler writes to a sink (Spin's `wasi:http`).

use axum::body::Body;
use futures_util::{Sink, SinkExt};
use http_body_util::BodyExt;

/// Writes every data frame of `body` to `sink` as it comes, and says why it stopped early: the
/// body failed, or the client went away (the sink refused a chunk).
pub async fn pump<S: Sink<Vec<u8>> + Unpin>(mut body: Body, sink: &mut S) -> Result<(), &'static str> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| "the response body failed")?;
        if let Ok(data) = frame.into_data()
            && !data.is_empty()
        {
            sink.send(data.to_vec()).await.map_err(|_| "the client went away")?;
        }
    }
    sink.close().await.map_err(|_| "the client went away")
}

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, time::Duration};

    use super::*;

    async fn next(written: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) -> Option<Vec<u8>> {
        tokio::time::timeout(Duration::from_secs(5), written.recv()).await.expect("a chunk arrives before the body ends")
    }

    #[tokio::test]
    async fn each_chunk_reaches_the_sink_while_the_body_is_still_being_written() {
        let (feed, source) = tokio::sync::mpsc::channel::<&'static str>(1);
        let body = Body::from_stream(futures_util::stream::unfold(source, |mut rx| async move {
            rx.recv().await.map(|chunk| (Ok::<_, Infallible>(bytes::Bytes::from_static(chunk.as_bytes())), rx))
        }));
        let (out, mut written) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let mut sink = Box::pin(futures_util::sink::unfold(out, |out, chunk: Vec<u8>| async move {
            out.send(chunk).map_err(|_| ())?;
            Ok::<_, ()>(out)
        }));
        let pumping = tokio::spawn(async move { pump(body, &mut sink).await });
        feed.send("data: one\n\n").await.unwrap();
        assert_eq!(next(&mut written).await.unwrap(), b"data: one\n\n");
        feed.send("data: two\n\n").await.unwrap();
        assert_eq!(next(&mut written).await.unwrap(), b"data: two\n\n");
        drop(feed);
        pumping.await.unwrap().unwrap();
        assert_eq!(written.recv().await, None);
    }
}
