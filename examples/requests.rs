//! Fetching many URLs: naive (one after another) versus `#[lox::thread]`.
//!
//! A port of the "requests" example of the Python lox docs. There is no
//! internet here, so the example starts its own HTTP server on 127.0.0.1 that
//! answers each request after 100 ms, like a slow remote site.
//!
//! `cargo run --release --example requests`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(100);
const PAGES: usize = 20;

// ANCHOR: server
/// A tiny HTTP/1.0 server: every connection gets its own thread, which waits
/// `DELAY` and answers with the requested path in the body.
fn start_slow_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    format!("http://{addr}")
}
// ANCHOR_END: server

fn serve(mut stream: TcpStream) {
    // Read the whole request head (up to the blank line): closing a socket
    // with unread data makes the kernel reset the connection.
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 0) && header.trim() != "" {
        header.clear();
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    std::thread::sleep(DELAY);
    let body = format!("you asked for {path}");
    let _ = write!(
        stream,
        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
        body.len()
    );
}

// ANCHOR: get
/// GET `url` (plain `http://host:port/path`) and return the response body.
fn get(url: String) -> String {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

#[lox::thread(PAGES)]
fn get_parallel(url: String) -> String {
    get(url)
}
// ANCHOR_END: get

// ANCHOR: urls
fn main() {
    let base = start_slow_server();
    let urls: Vec<String> = (0..PAGES).map(|i| format!("{base}/page/{i}")).collect();
    // ANCHOR_END: urls

    // ANCHOR: naive
    let start = Instant::now();
    let naive: Vec<String> = urls.iter().cloned().map(get).collect();
    let naive_time = start.elapsed();
    // ANCHOR_END: naive

    // ANCHOR: lox
    let start = Instant::now();
    for url in &urls {
        get_parallel::scatter(url.clone());
    }
    let parallel = get_parallel::gather();
    let lox_time = start.elapsed();
    // ANCHOR_END: lox

    // ANCHOR: report
    assert_eq!(naive, parallel, "same pages, same order");
    assert_eq!(parallel[7], "you asked for /page/7");
    println!("first page: {:?}", parallel[0]);
    println!(
        "{PAGES} pages, {} ms each: naive {:.0} ms, #[lox::thread({PAGES})] {:.0} ms ({:.1}x faster)",
        DELAY.as_millis(),
        naive_time.as_secs_f64() * 1e3,
        lox_time.as_secs_f64() * 1e3,
        naive_time.as_secs_f64() / lox_time.as_secs_f64()
    );
}
// ANCHOR_END: report
