//! The physical limit of the real-time fan-out on this machine, the yardstick `realtime-bench`
//! is read against in the same run (scripts/bench.sh): SUBSCRIBERS WebSockets opened and read by
//! the very client code of `realtime-bench`, served by the least a hub can do: each change is
//! one text frame, encoded once, of the size and shape of a `task.updated` event, written
//! straight to every socket in one loop. No log, no queue, no task per connection, no
//! filtering. The server runs in this process on two threads of its own, as a host's runtime
//! does, beside the client's; latency is reported the same two ways.
//!
//! Usage: fanout-floor [SUBSCRIBERS, default 1000] [CHANGES, default 50]

use std::{
    io::ErrorKind,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::{
    Frame,
    coding::{Data, OpCode},
};
use tui_blackbox::bench::fanout;

/// The server's threads, each writing to its share of the sockets.
const WRITERS: usize = 2;

/// The frame of change `seq`, logged at `ts`: the fields and size of a real event.
fn event(seq: usize, ts: &str) -> Vec<u8> {
    let text = format!(
        r#"{{"type":"event","topic":"project:01a2198d-cddb-75a7-95e8-469ee0d407bf","id":"{seq}","event":"task.updated","data":{{"id":"01a2198d-cdf8-700f-986c-87d6cd86ae7a","project_id":"01a2198d-cddb-75a7-95e8-469ee0d407bf","title":"{seq}","status":"todo","priority":"medium","version":{seq}}},"actor":"01a2198d-cd79-73d0-b56e-000c5b98d299","ts":"{ts}"}}"#
    );
    let mut frame = Vec::new();
    Frame::message(text.into_bytes(), OpCode::Data(Data::Text), true).format(&mut frame).expect("a frame");
    frame
}

/// Writes `frame` whole to `socket`, waiting only when its buffer is full.
async fn write(socket: &TcpStream, frame: &[u8]) {
    let mut done = 0;
    while done < frame.len() {
        match socket.try_write(&frame[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => socket.writable().await.expect("writable"),
            Err(e) => panic!("a subscriber went away: {e}"),
        }
    }
}

fn main() {
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let subscribers = numbers.first().copied().unwrap_or(1000);
    let changes = numbers.get(1).copied().unwrap_or(50);
    let server = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let client = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");

    let listener = server.block_on(TcpListener::bind("127.0.0.1:0")).expect("a port");
    let url = format!("ws://{}/", listener.local_addr().expect("an address"));
    let accepting = server.spawn(async move {
        let mut sockets = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            let (stream, _) = listener.accept().await.expect("a connection");
            stream.set_nodelay(true).expect("no delay");
            // The handshake through tungstenite, then the bare stream: frames are written by hand.
            let socket = tokio_tungstenite::accept_async(stream).await.expect("a handshake");
            sockets.push(socket);
        }
        sockets
    });

    let start = Instant::now();
    let (arrivals, mut arrived) = tokio::sync::mpsc::unbounded_channel::<fanout::Arrival>();
    client.block_on(async {
        for _ in 0..subscribers {
            let socket = fanout::open(&url).await;
            tokio::spawn(fanout::read(socket, start, changes + 1, arrivals.clone()));
        }
    });
    drop(arrivals);
    let sockets = Arc::new(server.block_on(accepting).expect("accepted"));

    let mut sent = vec![Duration::ZERO; changes + 1];
    for (seq, sent_at) in sent.iter_mut().enumerate().skip(1) {
        *sent_at = start.elapsed();
        let ts = tui_shared::time::format(tui_shared::time::Timestamp::now_utc());
        let frame = Arc::new(event(seq, &ts));
        server.block_on(async {
            let halves: Vec<_> = (0..WRITERS)
                .map(|half| {
                    let (sockets, frame) = (sockets.clone(), frame.clone());
                    tokio::spawn(async move {
                        for socket in sockets.iter().skip(half).step_by(WRITERS) {
                            write(socket.get_ref(), &frame).await;
                        }
                    })
                })
                .collect();
            for half in halves {
                half.await.expect("written");
            }
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (mut from_send, mut from_log) = (Vec::new(), Vec::new());
    while let Ok((seq, at, since_logged)) = arrived.try_recv() {
        from_send.push(at.saturating_sub(sent[seq]));
        from_log.push(since_logged);
    }
    println!(
        "realtime floor: {subscribers} subscribers, {changes} changes, {} of {} frames arrived",
        from_send.len(),
        subscribers * changes
    );
    fanout::report("floor publish->receive", &mut from_log);
    fanout::report("floor write->receive", &mut from_send);
}
